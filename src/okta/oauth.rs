//! OAuth 2.0 for an API Services app: access tokens from the client-credentials grant with a
//! signed client assertion (`private_key_jwt`), bound to a per-process key with DPoP when the org
//! wants it.
//!
//! [`OAuthSession::authorize`] hands out the headers of one API call: `Authorization: DPoP …` and
//! a fresh `DPoP` proof (or `Authorization: Bearer …` when Okta issued a bearer token). The access
//! token is cached and renewed shortly before it expires, and at once after a 401; renewals hold
//! a lock, so they never overlap. Token requests answer `use_dpop_nonce` at first: the request is
//! repeated once with the nonce. Every failure names its cause: a wrong key or `kid`, a scope the
//! app was not granted, a clock out of step.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use reqwest::header::HeaderValue;
use serde::Deserialize;
use url::Url;

use super::error::PollError;
use super::settings::OAuth2Settings;
use crate::jose::{self, SigningKey};
use crate::secret::Secret;

/// The clock the session reads; tests pass one they move by hand, to cover hours in a second.
pub type Clock = Arc<dyn Fn() -> SystemTime + Send + Sync>;

/// The machine's clock.
pub fn system_clock() -> Clock {
    Arc::new(SystemTime::now)
}

/// Renew this long before the access token expires (or at half its life, if that is sooner).
const RENEW_BEFORE: Duration = Duration::from_secs(300);
/// The longest access-token lifetime believed, whatever `expires_in` says.
const MAX_TOKEN_LIFETIME: Duration = Duration::from_secs(24 * 3600);
/// The largest token endpoint answer read.
const MAX_TOKEN_ANSWER_BYTES: usize = 64 * 1024;
/// The `endpoint` label of the token endpoint.
pub const TOKEN_ENDPOINT: &str = "/oauth2/v1/token";

/// What the token endpoint answered, as the `result` label of `okta_oauth_token_requests_total`.
pub const RESULTS: [&str; 6] = [
    "success",
    "use_dpop_nonce",
    "invalid_client",
    "invalid_scope",
    "error",
    "unreachable",
];

/// Counters and the current token's expiry, read by the metrics at scrape time.
#[derive(Debug, Default)]
pub struct OAuthStats {
    inner: Mutex<OAuthStatsInner>,
}

#[derive(Debug, Default, Clone)]
struct OAuthStatsInner {
    requests: BTreeMap<&'static str, u64>,
    expiry: Option<SystemTime>,
}

impl OAuthStats {
    fn count(&self, result: &'static str) {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        *inner.requests.entry(result).or_default() += 1;
    }

    fn set_expiry(&self, expiry: SystemTime) {
        self.inner.lock().unwrap_or_else(|e| e.into_inner()).expiry = Some(expiry);
    }

    /// Token requests per result, every result listed (zero when it never happened).
    pub fn requests(&self) -> Vec<(&'static str, u64)> {
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        RESULTS
            .iter()
            .map(|r| (*r, inner.requests.get(r).copied().unwrap_or(0)))
            .collect()
    }

    /// When the access token in use expires; `None` before the first one.
    pub fn access_token_expiry(&self) -> Option<SystemTime> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner()).expiry
    }
}

/// The headers of one API call.
pub struct Authorized {
    pub authorization: HeaderValue,
    pub dpop: Option<HeaderValue>,
    /// Which access token these came from, so that a 401 discards that one and no newer.
    generation: u64,
}

struct AccessToken {
    value: Secret,
    /// DPoP-bound (`token_type: DPoP`) rather than a bearer token.
    dpop: bool,
    renew_at: SystemTime,
    generation: u64,
}

/// An app's access to one org.
pub struct OAuthSession {
    http: reqwest::Client,
    token_url: Url,
    client_id: String,
    key: Arc<SigningKey>,
    key_id: Option<String>,
    scopes: Vec<String>,
    /// The DPoP key: made at start, never the assertion key, never stored.
    dpop_key: SigningKey,
    clock: Clock,
    token: tokio::sync::Mutex<Option<AccessToken>>,
    generations: std::sync::atomic::AtomicU64,
    /// The last `DPoP-Nonce` of the authorization server and of the API.
    token_nonce: Mutex<Option<String>>,
    api_nonce: Mutex<Option<String>>,
    pub stats: Arc<OAuthStats>,
}

impl std::fmt::Debug for OAuthSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuthSession")
            .field("token_url", &self.token_url.as_str())
            .field("client_id", &self.client_id)
            .field("key", &self.key)
            .field("scopes", &self.scopes)
            .finish_non_exhaustive()
    }
}

/// The token endpoint's answers.
#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    token_type: String,
    expires_in: u64,
}

#[derive(Deserialize, Default)]
struct TokenError {
    #[serde(default)]
    error: String,
    #[serde(default)]
    error_description: String,
}

impl OAuthSession {
    /// A session for the org at `base`, sending requests with `http`.
    pub fn new(
        http: reqwest::Client,
        base: &Url,
        settings: &OAuth2Settings,
        clock: Clock,
    ) -> OAuthSession {
        OAuthSession {
            http,
            token_url: base
                .join("/oauth2/v1/token")
                .expect("a fixed path joins any base"),
            client_id: settings.client_id.clone(),
            key: Arc::clone(&settings.private_key),
            key_id: settings.key_id.clone(),
            scopes: settings.scopes.clone(),
            dpop_key: SigningKey::generate_p256(),
            clock,
            token: tokio::sync::Mutex::new(None),
            generations: Default::default(),
            token_nonce: Mutex::new(None),
            api_nonce: Mutex::new(None),
            stats: Arc::default(),
        }
    }

    /// The headers for `method url`, with an access token that is not about to expire.
    pub async fn authorize(&self, method: &str, url: &Url) -> Result<Authorized, PollError> {
        let mut slot = self.token.lock().await;
        let now = (self.clock)();
        if slot.as_ref().is_none_or(|t| now >= t.renew_at) {
            *slot = Some(self.request_token().await?);
        }
        let token = slot.as_ref().expect("just filled");
        let (scheme, dpop) = if token.dpop {
            let nonce = latest(&self.api_nonce);
            let proof = jose::dpop_proof(
                &self.dpop_key,
                method,
                url.as_str(),
                jose::unix_seconds(now),
                &jose::new_jti(),
                nonce.as_deref(),
                Some(token.value.expose()),
            );
            ("DPoP", Some(header_value(&proof)?))
        } else {
            ("Bearer", None)
        };
        let mut authorization = header_value(&format!("{scheme} {}", token.value.expose()))?;
        authorization.set_sensitive(true);
        Ok(Authorized {
            authorization,
            dpop,
            generation: token.generation,
        })
    }

    /// After a 401 for a call made with `rejected`: keep the nonce the API sent, if any. Unless
    /// the 401 only asked for that nonce (`use_dpop_nonce`), forget that access token (unless a
    /// newer one replaced it already), so that the next call renews it.
    pub async fn rejected(&self, rejected: &Authorized, nonce: Option<&str>, asks_for_nonce: bool) {
        if let Some(nonce) = nonce {
            *self.api_nonce.lock().unwrap_or_else(|e| e.into_inner()) = Some(nonce.to_owned());
        }
        if asks_for_nonce && nonce.is_some() {
            return;
        }
        let mut slot = self.token.lock().await;
        if slot
            .as_ref()
            .is_some_and(|t| t.generation == rejected.generation)
        {
            *slot = None;
        }
    }

    /// One client-credentials grant, repeated once with a nonce when asked for one.
    async fn request_token(&self) -> Result<AccessToken, PollError> {
        let mut nonce_retry = false;
        loop {
            let now = (self.clock)();
            let assertion = jose::client_assertion(
                &self.key,
                self.key_id.as_deref(),
                &self.client_id,
                self.token_url.as_str(),
                jose::unix_seconds(now),
                &jose::new_jti(),
            );
            let nonce = latest(&self.token_nonce);
            let proof = jose::dpop_proof(
                &self.dpop_key,
                "POST",
                self.token_url.as_str(),
                jose::unix_seconds(now),
                &jose::new_jti(),
                nonce.as_deref(),
                None,
            );
            let scope = self.scopes.join(" ");
            let form = [
                ("grant_type", "client_credentials"),
                ("scope", scope.as_str()),
                ("client_assertion_type", jose::CLIENT_ASSERTION_TYPE),
                ("client_assertion", assertion.as_str()),
            ];
            let response = self
                .http
                .post(self.token_url.clone())
                .header("DPoP", proof)
                .header(reqwest::header::ACCEPT, "application/json")
                .form(&form)
                .send()
                .await;
            let response = match response {
                Ok(response) => response,
                Err(e) => {
                    self.stats.count("unreachable");
                    // A timeout or a refused connection: retried like any other, never blamed on
                    // the credential.
                    return Err(super::error::transport_error(&e));
                }
            };
            let status = response.status();
            let server_nonce = response
                .headers()
                .get("dpop-nonce")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let body = match read_capped(response).await {
                Ok(body) => body,
                Err(e) => {
                    self.stats.count("unreachable");
                    return Err(e);
                }
            };
            if status.is_server_error() || status == reqwest::StatusCode::TOO_MANY_REQUESTS {
                self.stats.count("error");
                return Err(PollError::from_status(
                    TOKEN_ENDPOINT,
                    status.as_u16(),
                    &body,
                ));
            }
            if status.is_success() {
                let answer: TokenAnswer = serde_json::from_slice(&body).map_err(|e| {
                    self.stats.count("error");
                    PollError::OAuth {
                        detail: format!("the token endpoint answered {status} with a body that is not a token: {e}"),
                    }
                })?;
                let dpop = match answer.token_type.as_str() {
                    t if t.eq_ignore_ascii_case("DPoP") => true,
                    t if t.eq_ignore_ascii_case("Bearer") => false,
                    other => {
                        self.stats.count("error");
                        return Err(PollError::OAuth {
                            detail: format!(
                                "the token endpoint issued a token of unknown type {other:?}"
                            ),
                        });
                    }
                };
                self.stats.count("success");
                // Okta's tokens live an hour; never trust more than a day, nor overflow the clock.
                let lifetime = Duration::from_secs(answer.expires_in).min(MAX_TOKEN_LIFETIME);
                let expires_at = now.checked_add(lifetime).unwrap_or(now);
                self.stats.set_expiry(expires_at);
                tracing::debug!(token_url = %self.token_url, dpop, expires_in = answer.expires_in, "got an access token");
                return Ok(AccessToken {
                    value: Secret::new(answer.access_token),
                    dpop,
                    renew_at: expires_at - RENEW_BEFORE.min(lifetime / 2),
                    generation: self
                        .generations
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed),
                });
            }
            let error: TokenError = serde_json::from_slice(&body).unwrap_or_default();
            if error.error == "use_dpop_nonce" && server_nonce.is_some() && !nonce_retry {
                self.stats.count("use_dpop_nonce");
                *self.token_nonce.lock().unwrap_or_else(|e| e.into_inner()) = server_nonce;
                nonce_retry = true;
                continue;
            }
            let result = match error.error.as_str() {
                "invalid_client" => "invalid_client",
                "invalid_scope" => "invalid_scope",
                _ => "error",
            };
            self.stats.count(result);
            return Err(PollError::OAuth {
                detail: token_error_message(
                    status.as_u16(),
                    &error.error,
                    &error.error_description,
                    &self.scopes,
                ),
            });
        }
    }
}

/// What a token endpoint error means and what to do about it.
pub fn token_error_message(
    status: u16,
    error: &str,
    description: &str,
    scopes: &[String],
) -> String {
    let said = if error.is_empty() {
        format!("HTTP {status}")
    } else if description.is_empty() {
        format!("HTTP {status}, {error}")
    } else {
        format!("HTTP {status}, {error}: {description}")
    };
    let lower = description.to_ascii_lowercase();
    let advice = match error {
        _ if lower.contains("expir") || lower.contains("iat") || lower.contains("not yet valid") || lower.contains("future") => {
            "the assertion's times were refused: check that this machine's clock is right (NTP)".to_owned()
        }
        "invalid_client" => "Okta did not accept the client assertion: check client_id, that the public key registered on the app \
             matches private_key_file, and key_id (the kid registered with that key)"
            .to_owned(),
        "invalid_scope" => {
            let named: Vec<&str> = scopes.iter().map(String::as_str).filter(|s| description.contains(*s)).collect();
            let which = if named.is_empty() { scopes.join(", ") } else { named.join(", ") };
            format!("the app is not granted {which}: grant it on the app's Okta API Scopes tab, or remove it from scopes")
        }
        "invalid_dpop_proof" => "Okta refused the DPoP proof: check this machine's clock, and that nothing between the exporter and Okta rewrites the request".to_owned(),
        "unauthorized_client" => "the app may not use the client-credentials grant: make it an API Services app".to_owned(),
        _ => "see the Okta System Log for the token request".to_owned(),
    };
    format!("cannot get an access token ({said}): {advice}")
}

/// The nonce a server sent last, if any.
fn latest(nonce: &Mutex<Option<String>>) -> Option<String> {
    nonce.lock().unwrap_or_else(|e| e.into_inner()).clone()
}

/// Reads a token endpoint answer, refusing more than [`MAX_TOKEN_ANSWER_BYTES`].
async fn read_capped(mut response: reqwest::Response) -> Result<Vec<u8>, PollError> {
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| super::error::transport_error(&e))?
    {
        if body.len() + chunk.len() > MAX_TOKEN_ANSWER_BYTES {
            return Err(PollError::Decode {
                detail: format!(
                    "the token endpoint's answer is larger than {MAX_TOKEN_ANSWER_BYTES} bytes"
                ),
            });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

fn header_value(text: &str) -> Result<HeaderValue, PollError> {
    HeaderValue::from_str(text).map_err(|_| PollError::OAuth {
        detail: "the access token holds characters that cannot be sent in an HTTP header".into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_errors_say_what_to_fix() {
        let scopes = vec![
            "okta.apiTokens.read".to_owned(),
            "okta.logs.read".to_owned(),
        ];
        let cases: &[(&str, &str, &[&str])] = &[
            (
                "invalid_client",
                "The parsing of the client_assertion failed.",
                &[
                    "invalid_client",
                    "public key registered on the app",
                    "key_id",
                ],
            ),
            (
                "invalid_scope",
                "The following scopes are not allowed: okta.logs.read",
                &["not granted okta.logs.read:", "Okta API Scopes tab"],
            ),
            (
                "invalid_client",
                "The client_assertion token has an expiration too far into the future.",
                &["clock"],
            ),
            (
                "invalid_dpop_proof",
                "The DPoP proof JWT is not valid.",
                &["DPoP proof"],
            ),
            ("", "", &["HTTP 400", "System Log"]),
        ];
        for (error, description, wanted) in cases {
            let message = token_error_message(400, error, description, &scopes);
            for w in *wanted {
                assert!(message.contains(w), "{error}/{description}: {message}");
            }
        }
    }
}
