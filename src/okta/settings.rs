//! What the Okta client takes: how to authenticate and the HTTP tunables. The configuration
//! module builds these from flags and the config file; the client knows nothing of either.

use std::time::Duration;

use crate::secret::Secret;

/// How the exporter authenticates to an org.
#[derive(Debug, Clone)]
pub enum Auth {
    /// An API token sent as `Authorization: SSWS <token>`.
    Ssws { token: Secret },
    /// An OAuth 2.0 service app: client credentials with a signed client assertion.
    OAuth2(OAuth2Settings),
}

/// An API Services app's credentials: its client id and the private key registered with it.
#[derive(Debug, Clone)]
pub struct OAuth2Settings {
    pub client_id: String,
    /// The key that signs client assertions; its `Debug` shows no key material.
    pub private_key: std::sync::Arc<crate::jose::SigningKey>,
    /// The `kid` registered on the app, sent in the assertion's header.
    pub key_id: Option<String>,
    pub scopes: Vec<String>,
}

/// The scopes asked for when none are configured.
pub const DEFAULT_SCOPES: [&str; 1] = ["okta.apiTokens.read"];

impl OAuth2Settings {
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope)
    }
}

/// Tunables of the Okta HTTP client (`http:` in the config file). The defaults suit a real Okta org.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpSettings {
    pub connect_timeout: Duration,
    /// For one whole request, body included.
    pub request_timeout: Duration,
    /// Retries after the first attempt, for connection errors, timeouts and 5xx.
    pub max_retries: u32,
    /// The first retry's backoff ceiling; it doubles on each retry (with full jitter).
    pub retry_backoff: Duration,
    /// The longest wait for a rate-limit reset within one poll; a later reset fails the poll.
    pub max_rate_limit_wait: Duration,
    /// The `limit` query parameter of the first page.
    pub page_size: u32,
    pub max_pages: usize,
    pub max_body_bytes: usize,
}

impl Default for HttpSettings {
    fn default() -> Self {
        HttpSettings {
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            max_retries: 3,
            retry_backoff: Duration::from_secs(1),
            max_rate_limit_wait: Duration::from_secs(120),
            page_size: 200,
            max_pages: 1000,
            max_body_bytes: 16 << 20,
        }
    }
}
