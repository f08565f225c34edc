//! The tokens an org lists, as the exporter knows them: with an expiry to watch, or (agent
//! tokens) without one. Decoded from Okta's JSON by the Okta client.

use chrono::{DateTime, TimeDelta, Utc};

/// The metadata of one API token (never the token's secret: Okta does not return it).
#[derive(Debug, Clone, PartialEq)]
pub struct ApiToken {
    pub id: String,
    pub name: String,
    /// The owner; empty when Okta omitted it.
    pub user_id: String,
    /// The client the token was created for (e.g. "Okta API"); empty when omitted.
    pub client_name: String,
    /// `network.connection` (`ANYWHERE`, `ZONE`, or whatever Okta adds); empty when omitted.
    pub network_connection: String,
    pub window: TimeDelta,
    pub created: Option<DateTime<Utc>>,
    pub expires_at: DateTime<Utc>,
}

/// A token Okta lists without `expiresAt` or `tokenWindow`. The spec requires only `name`, and
/// Okta-managed agent tokens are listed on the same console page: such a token is still listed
/// (its metadata, and Yellow when suspicious), with no expiry to watch.
#[derive(Debug, Clone, PartialEq)]
pub struct UntimedToken {
    pub id: String,
    pub name: String,
    pub user_id: String,
    pub client_name: String,
    pub network_connection: String,
    pub created: Option<DateTime<Utc>>,
    /// Which field was missing, for the log.
    pub missing: &'static str,
}

impl ApiToken {
    /// The last use implied by Okta's sliding expiry.
    pub fn last_used(&self) -> DateTime<Utc> {
        crate::model::status::last_used(self.expires_at, self.window)
    }
}
