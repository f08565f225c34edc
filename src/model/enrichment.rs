//! What the enrichment knows about an org's tokens, as published: owners, suspicious use, and
//! the health of the lookups. Filled by the enrich module; read by the renderers.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};

use super::posture::PostureSettings;
use super::roles::OwnerRoles;

/// A token's owner as last looked up.
#[derive(Debug, Clone, PartialEq)]
pub struct Owner {
    pub login: String,
    pub status: String,
    /// Whether this status keeps the owner's tokens usable; `None` for a status we do not know.
    pub usable: Option<bool>,
    pub fetched_at: DateTime<Utc>,
}

/// Suspicious use of one token, from the System Log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Suspicion {
    pub last: DateTime<Utc>,
    /// `request_outside_allowed_range` events seen since the exporter started.
    pub count: u64,
}

/// A token's creation, from the System Log (`system.api_token.create`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Creation {
    /// Who made it (`actor.alternateId`, usually a login).
    pub actor: String,
    pub at: DateTime<Utc>,
}

/// How long a token's creation is remembered (and exported) after its event.
pub const CREATION_MEMORY: TimeDelta = TimeDelta::hours(24);

/// Why a part of the enrichment is off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Off {
    /// Not configured.
    Configured,
    /// The credential may not read it (403).
    Forbidden,
}

/// What the enrichment knows about one org; published with its tokens.
#[derive(Debug, Clone)]
pub struct Enrichment {
    pub owners: Arc<HashMap<String, Owner>>,
    pub owners_off: Option<Off>,
    pub suspicious: Arc<HashMap<String, Suspicion>>,
    pub suspicious_lookback: TimeDelta,
    pub system_log_off: Option<Off>,
    /// System Log events read, by type, since the exporter started.
    pub events: BTreeMap<&'static str, u64>,
    /// Events of the types in `revoke` and `request_outside_allowed_range` events that named no token, by type, since start.
    pub unattributed: BTreeMap<&'static str, u64>,
    /// Owner lookups that failed (not counting 404), since start.
    pub owner_errors: u64,
    /// System Log reads that failed, since start.
    pub system_log_errors: u64,
    /// Owners' admin roles as last looked up, by user id.
    pub roles: Arc<HashMap<String, OwnerRoles>>,
    pub roles_off: Option<Off>,
    /// Roles lookups that failed (not counting 403 and 404), since start.
    pub role_errors: u64,
    /// The org's posture rules.
    pub posture: Arc<PostureSettings>,
    /// Tokens made within [`CREATION_MEMORY`], by token id, from the System Log.
    pub created: Arc<HashMap<String, Creation>>,
}

impl Enrichment {
    /// Whether the token counts as suspicious (yellow) at `now`.
    pub fn is_suspicious(&self, token_id: &str, now: DateTime<Utc>) -> bool {
        !self.suspicious.is_empty()
            && self
                .suspicious
                .get(token_id)
                .is_some_and(|s| now - s.last <= self.suspicious_lookback)
    }
}
