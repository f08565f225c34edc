//! What the exporter publishes about a kept-alive token (nothing secret), and the outcomes of
//! keeping one alive. Made by the keepalive module; read by the renderers.

use std::time::Duration;

use chrono::{DateTime, Utc};

/// What became of keeping a token alive once: the `result` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeepAliveResult {
    /// Okta accepted the call, and the next poll listed a later expiry.
    Refreshed,
    /// Okta accepted the call, but the expiry did not move: the secret is another token's.
    NotRefreshed,
    /// Okta refused the call: 401 (the token is revoked or expired, its owner suspended, or the
    /// secret wrong) or 403 (e.g. a call from outside the token's allowed network zones).
    Rejected,
    /// Due, but its owner is suspended or deactivated: Okta would refuse the call.
    SkippedOwnerInactive,
    /// The call failed otherwise (timeout, 5xx, 429, an answer we cannot read).
    Error,
}

impl KeepAliveResult {
    pub const ALL: [KeepAliveResult; 5] = [
        Self::Refreshed,
        Self::NotRefreshed,
        Self::Rejected,
        Self::SkippedOwnerInactive,
        Self::Error,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Refreshed => "refreshed",
            Self::NotRefreshed => "not_refreshed",
            Self::Rejected => "rejected",
            Self::SkippedOwnerInactive => "skipped_owner_inactive",
            Self::Error => "error",
        }
    }
}

/// What the exporter publishes about a kept-alive token: nothing secret.
#[derive(Debug, Clone, PartialEq)]
pub struct KeptAlive {
    pub token_id: String,
    pub when_expires_within: Duration,
    /// Keep-alives by result since start, in [`KeepAliveResult::ALL`] order.
    pub results: [u64; 5],
    /// When the last call that refreshed the token was made.
    pub last_refreshed: Option<DateTime<Utc>>,
    pub last_result: Option<KeepAliveResult>,
}

impl KeptAlive {
    pub fn count(&self, result: KeepAliveResult) -> u64 {
        self.results[result as usize]
    }
}
