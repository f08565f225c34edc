//! An endpoint's rate-limit window as Okta last described it. Read from Okta's
//! `X-Rate-Limit-*` headers by the Okta client.

/// The `X-Rate-Limit-*` headers of the last answer from an endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    pub limit: u64,
    pub remaining: u64,
    /// Epoch seconds when the window resets.
    pub reset: u64,
}

impl RateLimit {
    /// What two answers of one endpoint say together. Concurrent answers arrive in any order, so
    /// within one window the lowest `remaining` is the truth; a later window replaces an earlier.
    pub fn combine(self, other: RateLimit) -> RateLimit {
        match self.reset.cmp(&other.reset) {
            std::cmp::Ordering::Less => other,
            std::cmp::Ordering::Greater => self,
            std::cmp::Ordering::Equal if other.remaining < self.remaining => other,
            std::cmp::Ordering::Equal => self,
        }
    }
}
