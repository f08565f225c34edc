//! The HTTP client for one Okta org: lists every API token, page by page.
//!
//! It follows `Link: rel="next"` exactly as given, but only to the org's own origin, never twice to
//! the same URL and never past a page cap. It retries connection errors, timeouts and 5xx a bounded
//! number of times with exponential backoff and full jitter. On 429 it waits until
//! `X-Rate-Limit-Reset` plus jitter, and sends nothing to the org before then, across polls too.
//! Responses are read up to a size cap. The credential is sent only to the org's origin, never
//! follows a redirect, and is marked sensitive so that no `Debug` output shows it.

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use chrono::{DateTime, SecondsFormat, Utc};
use rand::Rng;
use reqwest::header::{self, HeaderMap, HeaderValue};
use reqwest::{Response, StatusCode};
use url::Url;

use super::error::{transport_error, PollError};
use super::link::next_link;
use super::model::{ApiToken, ListedToken, LogEvent, SkippedToken, UntimedToken, User};
use super::oauth::{system_clock, Clock, OAuthSession, OAuthStats};
use super::settings::{Auth, HttpSettings};
use crate::secret::Secret;

/// The `endpoint` label of the token list.
pub const API_TOKENS: &str = "/api/v1/api-tokens";
/// The `endpoint` label of a user lookup (a path template: never an id).
pub const USER: &str = "/api/v1/users/{id}";
/// The `endpoint` label of the System Log.
pub const SYSTEM_LOG: &str = "/api/v1/logs";
/// The `endpoint` label (and path) of the caller's own user: the keep-alive call.
pub const USER_ME: &str = "/api/v1/users/me";

mod roles;
pub use roles::ROLES;

pub use crate::model::rate_limit::RateLimit;

impl RateLimit {
    /// The window an answer describes, with its reset on this host's clock (see [`reset_at`]).
    /// `None` without the headers, and for a concurrency 429: Okta then reports limit and
    /// remaining as 0, which means "too many calls at once", not "no call allowed"; the next
    /// answer brings the real figures, so the last real ones are kept instead.
    fn from_headers(headers: &HeaderMap, now: SystemTime) -> Option<RateLimit> {
        let limit = read_number(headers, "x-rate-limit-limit")?;
        let remaining = read_number(headers, "x-rate-limit-remaining")?;
        let reset = reset_at(headers, now)?;
        (limit > 0).then(|| RateLimit {
            limit,
            remaining,
            reset: reset
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs() + u64::from(d.subsec_nanos() > 0)),
        })
    }
}

/// What one poll observed, kept whether the poll succeeded or not.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct PollStats {
    /// `(endpoint, HTTP status)` of every answer received.
    pub responses: Vec<(&'static str, u16)>,
    /// The rate-limit headers per endpoint: the latest window, its lowest `remaining`.
    pub rate_limits: Vec<(&'static str, RateLimit)>,
    /// When an endpoint last answered 429.
    pub rate_limited: Vec<(&'static str, DateTime<Utc>)>,
}

impl PollStats {
    fn record(&mut self, endpoint: &'static str, response: &Response) {
        self.responses.push((endpoint, response.status().as_u16()));
        if response.status() == StatusCode::TOO_MANY_REQUESTS {
            self.rate_limited.push((endpoint, Utc::now()));
        }
        if let Some(limit) = RateLimit::from_headers(response.headers(), SystemTime::now()) {
            self.record_rate_limit(endpoint, limit);
        }
    }

    fn record_rate_limit(&mut self, endpoint: &'static str, limit: RateLimit) {
        match self.rate_limits.iter_mut().find(|(e, _)| *e == endpoint) {
            Some(slot) => slot.1 = slot.1.combine(limit),
            None => self.rate_limits.push((endpoint, limit)),
        }
    }

    /// Adds what another request (e.g. a concurrent lookup) observed.
    pub fn merge(&mut self, other: PollStats) {
        self.responses.extend(other.responses);
        self.rate_limited.extend(other.rate_limited);
        for (endpoint, limit) in other.rate_limits {
            self.record_rate_limit(endpoint, limit);
        }
    }
}

/// Events per System Log page, the most Okta serves.
pub const LOG_PAGE_SIZE: usize = 1000;

/// One page of a System Log polling query.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct LogPage {
    pub events: Vec<LogEvent>,
    /// Where the query goes on: a polling query always has one, even after an empty page.
    pub next: Option<String>,
    /// Whether the page was full, so that more may be waiting right now.
    pub full: bool,
}

/// Every token of an org, from a poll in which every page arrived.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct TokenList {
    pub tokens: Vec<ApiToken>,
    /// Tokens listed without `expiresAt` or `tokenWindow`.
    pub untimed: Vec<UntimedToken>,
    /// Token objects that could not be decoded.
    pub skipped: Vec<SkippedToken>,
    pub pages: usize,
}

/// A client for one org. Cheap to share behind an `Arc`; one poll at a time per org is the
/// poller's job.
pub struct OktaClient {
    http: reqwest::Client,
    base: Url,
    credential: Credential,
    /// The SSWS token, for [`OktaClient::redact`]; empty with OAuth.
    secret: Secret,
    settings: HttpSettings,
    /// No request is sent before this instant: the last rate-limit reset we were told to respect.
    not_before: Mutex<Option<SystemTime>>,
    /// Counts token objects as their pages arrive, for a progress line; `None` when nobody asks.
    listed: Option<Arc<AtomicUsize>>,
}

/// How requests are authenticated.
enum Credential {
    /// `Authorization: SSWS …`, marked sensitive.
    Ssws(HeaderValue),
    /// An OAuth 2.0 access token (and DPoP proof) per request.
    OAuth(Arc<OAuthSession>),
}

impl std::fmt::Debug for OktaClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OktaClient")
            .field("base", &self.base.as_str())
            .field("credential", &self.secret)
            .finish_non_exhaustive()
    }
}

/// Why no client could be made for an org.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot build the HTTP client: {0}")]
    Http(#[from] reqwest::Error),
    #[error("the API token holds characters that cannot be sent in an HTTP header; check the token file for stray characters")]
    TokenNotAHeader,
}

impl OktaClient {
    /// A client for the org at `base` (scheme, host and port; any path is ignored) that
    /// authenticates with an SSWS API token.
    pub fn new(
        base: Url,
        api_token: Secret,
        settings: HttpSettings,
    ) -> Result<OktaClient, ClientError> {
        Self::for_org(
            base,
            &Auth::Ssws { token: api_token },
            settings,
            system_clock(),
        )
    }

    /// A client for the org at `base` with either kind of credential; OAuth 2.0 reads `clock`.
    pub fn for_org(
        base: Url,
        auth: &Auth,
        settings: HttpSettings,
        clock: Clock,
    ) -> Result<OktaClient, ClientError> {
        let http = reqwest::Client::builder()
            .user_agent(concat!("okta-token-exporter/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(settings.connect_timeout)
            .timeout(settings.request_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .https_only(base.scheme() == "https")
            .build()?;
        let (credential, secret) = match auth {
            Auth::Ssws { token } => {
                let mut authorization = HeaderValue::from_str(&format!("SSWS {}", token.expose()))
                    .map_err(|_| ClientError::TokenNotAHeader)?;
                authorization.set_sensitive(true);
                (Credential::Ssws(authorization), token.clone())
            }
            Auth::OAuth2(oauth) => (
                Credential::OAuth(Arc::new(OAuthSession::new(
                    http.clone(),
                    &base,
                    oauth,
                    clock,
                ))),
                Secret::new(""),
            ),
        };
        Ok(OktaClient {
            http,
            base,
            credential,
            secret,
            settings,
            not_before: Mutex::new(None),
            listed: None,
        })
    }

    /// Adds each token object listed from now on to `counter`, as its page arrives.
    pub fn count_listed_tokens(mut self, counter: Arc<AtomicUsize>) -> OktaClient {
        self.listed = Some(counter);
        self
    }

    /// The OAuth 2.0 counters, when the client uses an app.
    pub fn oauth_stats(&self) -> Option<Arc<OAuthStats>> {
        match &self.credential {
            Credential::OAuth(session) => Some(Arc::clone(&session.stats)),
            Credential::Ssws(_) => None,
        }
    }

    /// Lists every API token of the org. Succeeds only when every page arrived.
    pub async fn list_api_tokens(&self, stats: &mut PollStats) -> Result<TokenList, PollError> {
        let mut url = self
            .base
            .join(API_TOKENS)
            .expect("a fixed path joins any base");
        url.query_pairs_mut()
            .append_pair("limit", &self.settings.page_size.to_string());
        let mut list = TokenList::default();
        list.pages = self
            .paginate(url, API_TOKENS, self.settings.max_pages, stats, |value| {
                if let Some(listed) = &self.listed {
                    listed.fetch_add(1, Ordering::Relaxed);
                }
                match ListedToken::from_json(value) {
                    Ok(ListedToken::Timed(token)) => list.tokens.push(token),
                    Ok(ListedToken::Untimed(token)) => list.untimed.push(token),
                    Err(skipped) => list.skipped.push(skipped),
                }
            })
            .await?;
        Ok(list)
    }

    /// One user, for the owner of tokens.
    pub async fn get_user(&self, id: &str, stats: &mut PollStats) -> Result<User, PollError> {
        let mut url = self
            .base
            .join("/api/v1/users/")
            .expect("a fixed path joins any base");
        url.path_segments_mut()
            .expect("an http(s) URL has segments")
            .pop_if_empty()
            .push(id);
        let (_, body) = self.get(&url, USER, stats).await?;
        User::from_json(&body).map_err(|detail| PollError::Decode {
            detail: format!("{USER} for {id}: {detail}"),
        })
    }

    /// One `GET /api/v1/users/me` authenticated with another API token, `token`, rather than the
    /// client's credential: Okta counts it as a use of that token and slides its expiry. Sent
    /// once, never retried (the next poll decides whether to call again), and not sent at all
    /// while the org's rate-limit reset is pending. Returns the token's owner.
    pub async fn use_token(
        &self,
        token: &Secret,
        stats: &mut PollStats,
    ) -> Result<User, PollError> {
        let pending_reset = self
            .not_before
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_some_and(|t| t > SystemTime::now());
        if pending_reset {
            return Err(PollError::RateLimited {
                detail: "waiting for the org's rate-limit reset".into(),
            });
        }
        let mut authorization = HeaderValue::from_str(&format!("SSWS {}", token.expose()))
            .map_err(|_| PollError::Decode {
                detail: "the token holds characters that cannot be sent in an HTTP header".into(),
            })?;
        authorization.set_sensitive(true);
        let url = self
            .base
            .join(USER_ME)
            .expect("a fixed path joins any base");
        let result = async {
            let response = self
                .http
                .get(url)
                .header(header::ACCEPT, "application/json")
                .header(header::AUTHORIZATION, authorization)
                .send()
                .await
                .map_err(|e| transport_error(&e))?;
            stats.record(USER_ME, &response);
            let status = response.status();
            let reset = reset_header(response.headers());
            let body = self.read_body(response).await?;
            if status == StatusCode::TOO_MANY_REQUESTS {
                self.respect_reset(reset);
            }
            if !status.is_success() {
                return Err(PollError::from_status(USER_ME, status.as_u16(), &body));
            }
            User::from_json(&body).map_err(|detail| PollError::Decode {
                detail: format!("{USER_ME}: {detail}"),
            })
        }
        .await;
        result.map_err(|e| redact(self.redact(e), token))
    }

    /// The first URL of a System Log *polling* query, as Okta's System Log guide recommends
    /// for reading it continuously: events of these types published since `since`, oldest
    /// first, without `until`. Its pages always carry a `next` link; following them never
    /// misses an event published late, where a reader that moves its own `[since, until)`
    /// window does.
    pub fn system_log_query(&self, event_types: &[&str], since: DateTime<Utc>) -> String {
        let filter = event_types
            .iter()
            .map(|t| format!("eventType eq \"{t}\""))
            .collect::<Vec<_>>()
            .join(" or ");
        let mut url = self
            .base
            .join(SYSTEM_LOG)
            .expect("a fixed path joins any base");
        url.query_pairs_mut()
            .append_pair("since", &since.to_rfc3339_opts(SecondsFormat::Millis, true))
            .append_pair("filter", &filter)
            .append_pair("sortOrder", "ASCENDING")
            .append_pair("limit", &LOG_PAGE_SIZE.to_string());
        url.into()
    }

    /// One page of the System Log at `url`: a [`OktaClient::system_log_query`], or the `next`
    /// link of an earlier page (only ever to the org's own origin).
    pub async fn system_log_page(
        &self,
        url: &str,
        stats: &mut PollStats,
    ) -> Result<LogPage, PollError> {
        let url = self.same_origin(url)?;
        let (headers, body) = self.get(&url, SYSTEM_LOG, stats).await?;
        let values: Vec<serde_json::Value> =
            serde_json::from_slice(&body).map_err(|e| PollError::Decode {
                detail: format!("a page of {SYSTEM_LOG} is not a JSON list: {e}"),
            })?;
        let full = values.len() >= LOG_PAGE_SIZE;
        let events = values.iter().filter_map(LogEvent::from_json).collect();
        let links = headers
            .get_all(header::LINK)
            .iter()
            .filter_map(|v| v.to_str().ok());
        let next = match next_link(links) {
            Some(next) => Some(self.same_origin(&next)?.into()),
            None => None,
        };
        Ok(LogPage { events, next, full })
    }

    /// GETs `url` and every `next` page after it, handing each element of each page's JSON list
    /// to `each`. Returns the number of pages.
    async fn paginate(
        &self,
        mut url: Url,
        endpoint: &'static str,
        max_pages: usize,
        stats: &mut PollStats,
        mut each: impl FnMut(serde_json::Value),
    ) -> Result<usize, PollError> {
        let mut visited = HashSet::new();
        let mut pages = 0;
        loop {
            if pages >= max_pages {
                return Err(PollError::Pagination {
                    detail: format!(
                        "more than {max_pages} pages of {endpoint}; is the `next` link advancing?"
                    ),
                });
            }
            if !visited.insert(url.clone()) {
                return Err(PollError::Pagination {
                    detail: format!("the `next` link points back to {url}, a page already read"),
                });
            }
            let (headers, body) = self.get(&url, endpoint, stats).await?;
            let values: Vec<serde_json::Value> =
                serde_json::from_slice(&body).map_err(|e| PollError::Decode {
                    detail: format!("page {} of {endpoint} is not a JSON list: {e}", pages + 1),
                })?;
            values.into_iter().for_each(&mut each);
            pages += 1;
            let links = headers
                .get_all(header::LINK)
                .iter()
                .filter_map(|v| v.to_str().ok());
            match next_link(links) {
                None => return Ok(pages),
                Some(next) => url = self.same_origin(&next)?,
            }
        }
    }

    /// Parses a `next` link and refuses one outside the org's origin, so that the credential is
    /// never sent anywhere else. A user and password in the link are dropped: the HTTP client
    /// would send them as a second `Authorization` header next to the credential.
    fn same_origin(&self, link: &str) -> Result<Url, PollError> {
        let mut url = self.base.join(link).map_err(|e| PollError::Pagination {
            detail: format!("the `next` link {link:?} is not a URL: {e}"),
        })?;
        if !url.username().is_empty() || url.password().is_some() {
            // Cannot fail for an http(s) URL, which has a host.
            let _ = url.set_username("");
            let _ = url.set_password(None);
        }
        if url.origin() != self.base.origin() {
            return Err(PollError::Pagination {
                detail: format!(
                    "refusing to follow the `next` link to {}, which is not the org's origin {}",
                    url.origin().ascii_serialization(),
                    self.base.origin().ascii_serialization()
                ),
            });
        }
        Ok(url)
    }

    /// One GET with retries; returns the headers and body of a 2xx JSON answer.
    async fn get(
        &self,
        url: &Url,
        endpoint: &'static str,
        stats: &mut PollStats,
    ) -> Result<(HeaderMap, Vec<u8>), PollError> {
        let mut failures = 0;
        let mut rate_limited = 0;
        let mut auth_retries = 0;
        loop {
            self.wait_for_rate_limit_reset().await?;
            let error = match self.get_once(url, endpoint, stats).await {
                Ok(answer) => return Ok(answer),
                Err((PollError::Unauthorized { detail }, _))
                    if matches!(self.credential, Credential::OAuth(_)) =>
                {
                    // The API asked for a DPoP nonce, or the access token was revoked or expired
                    // early: retry, at most twice (a nonce, then a renewal).
                    if auth_retries < 2 {
                        auth_retries += 1;
                        continue;
                    }
                    return Err(PollError::OAuth {
                        detail: format!(
                            "Okta refused a fresh access token on GET {endpoint} ({detail}); \
                             check that the app is active and that this machine's clock is right"
                        ),
                    });
                }
                Err((error, reset)) => {
                    if let PollError::RateLimited { .. } = error {
                        self.respect_reset(reset);
                        rate_limited += 1;
                        if rate_limited <= self.settings.max_retries {
                            continue;
                        }
                    }
                    error
                }
            };
            // Before any log line, at any level: a body may echo the credential.
            let error = self.redact(error);
            if !error.is_transient() || failures >= self.settings.max_retries {
                return Err(error);
            }
            failures += 1;
            let backoff = backoff_ceiling(self.settings.retry_backoff, failures)
                .mul_f64(rand::rng().random_range(0.5..=1.0));
            tracing::debug!(%url, %error, attempt = failures, ?backoff, "retrying");
            tokio::time::sleep(backoff).await;
        }
    }

    /// One GET, no retries. A failure comes with the rate-limit reset the answer carried, if any.
    async fn get_once(
        &self,
        url: &Url,
        endpoint: &'static str,
        stats: &mut PollStats,
    ) -> Result<(HeaderMap, Vec<u8>), (PollError, Option<SystemTime>)> {
        let mut request = self
            .http
            .get(url.clone())
            .header(header::ACCEPT, "application/json");
        let oauth = match &self.credential {
            Credential::Ssws(authorization) => {
                request = request.header(header::AUTHORIZATION, authorization.clone());
                None
            }
            Credential::OAuth(session) => {
                let authorized = session.authorize("GET", url).await.map_err(|e| (e, None))?;
                request = request.header(header::AUTHORIZATION, authorized.authorization.clone());
                if let Some(proof) = &authorized.dpop {
                    request = request.header("DPoP", proof.clone());
                }
                Some((session, authorized))
            }
        };
        let response = request
            .send()
            .await
            .map_err(|e| (transport_error(&e), None))?;
        stats.record(endpoint, &response);
        let status = response.status();
        if let (Some((session, authorized)), StatusCode::UNAUTHORIZED) = (&oauth, status) {
            let nonce = response
                .headers()
                .get("dpop-nonce")
                .and_then(|v| v.to_str().ok());
            let asks_for_nonce = response
                .headers()
                .get(header::WWW_AUTHENTICATE)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.contains("use_dpop_nonce"));
            session.rejected(authorized, nonce, asks_for_nonce).await;
        }
        let forbidden_advice = match (&oauth, status) {
            (Some(_), StatusCode::FORBIDDEN) => Some(forbidden_for_app(response.headers())),
            _ => None,
        };
        let reset = reset_header(response.headers());
        let headers = response.headers().clone();
        let body = self.read_body(response).await.map_err(|e| (e, reset))?;
        if !status.is_success() {
            let mut error = PollError::from_status(endpoint, status.as_u16(), &body);
            if let (PollError::Forbidden { detail, .. }, Some(advice)) =
                (&mut error, forbidden_advice)
            {
                detail.push_str("; ");
                detail.push_str(&advice);
            }
            // An OAuth access token lives only in the header it was sent in: an answer that
            // echoes it is cleaned here, where it is known.
            if let Some((_, authorized)) = &oauth {
                error = redact(error, &credential_of(&authorized.authorization));
            }
            return Err((error, reset));
        }
        if status != StatusCode::OK || !is_json(&headers) {
            let content_type = headers
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("none");
            return Err((
                PollError::Decode {
                    detail: format!("HTTP {status} with content type {content_type:?}, expected application/json"),
                },
                reset,
            ));
        }
        Ok((headers, body))
    }

    /// Reads the body, refusing more than the size cap.
    async fn read_body(&self, mut response: Response) -> Result<Vec<u8>, PollError> {
        let cap = self.settings.max_body_bytes;
        let too_large = || PollError::Decode {
            detail: format!("the response is larger than the cap of {cap} bytes"),
        };
        if response.content_length().is_some_and(|n| n > cap as u64) {
            return Err(too_large());
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| transport_error(&e))? {
            if body.len() + chunk.len() > cap {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }

    fn respect_reset(&self, reset: Option<SystemTime>) {
        // Without a reset header, assume Okta's one-minute window; a reset hours away is a broken
        // header, not a reason to stop polling for good.
        let now = SystemTime::now();
        let reset = reset
            .unwrap_or_else(|| now + Duration::from_secs(60))
            .min(now + LONGEST_BELIEVED_RESET);
        let mut not_before = self.not_before.lock().unwrap_or_else(|e| e.into_inner());
        *not_before = Some(not_before.map_or(reset, |t| t.max(reset)));
    }

    /// Sleeps until the last rate-limit reset (plus jitter), or fails the poll when that is
    /// further away than we are willing to wait within one poll.
    async fn wait_for_rate_limit_reset(&self) -> Result<(), PollError> {
        let not_before = *self.not_before.lock().unwrap_or_else(|e| e.into_inner());
        let Some(wait) = not_before.and_then(|t| t.duration_since(SystemTime::now()).ok()) else {
            return Ok(());
        };
        if wait > self.settings.max_rate_limit_wait {
            return Err(PollError::RateLimited {
                detail: format!(
                    "the rate-limit window resets in {}s, later than this poll waits",
                    wait.as_secs()
                ),
            });
        }
        let jitter = Duration::from_millis(rand::rng().random_range(100..=1000));
        tracing::debug!(wait = ?(wait + jitter), "waiting for the rate-limit reset");
        tokio::time::sleep(wait + jitter).await;
        Ok(())
    }

    /// Belt and braces: no message leaves this client with the credential in it.
    fn redact(&self, error: PollError) -> PollError {
        redact(error, &self.secret)
    }
}

/// The credential an `Authorization` value carries: what follows its scheme.
fn credential_of(authorization: &HeaderValue) -> Secret {
    let text = authorization.to_str().unwrap_or_default();
    Secret::new(
        text.split_once(' ')
            .map_or(text, |(_, credential)| credential.trim()),
    )
}

/// `error` with every occurrence of `secret` replaced by a marker.
fn redact(error: PollError, secret: &Secret) -> PollError {
    let secret = secret.expose();
    if secret.is_empty() || !format!("{error:?}").contains(secret) {
        return error;
    }
    let clean = |s: &str| s.replace(secret, Secret::REDACTED);
    match error {
        PollError::Unauthorized { detail } => PollError::Unauthorized {
            detail: clean(&detail),
        },
        PollError::OAuth { detail } => PollError::OAuth {
            detail: clean(&detail),
        },
        PollError::Forbidden { endpoint, detail } => PollError::Forbidden {
            endpoint,
            detail: clean(&detail),
        },
        PollError::RateLimited { detail } => PollError::RateLimited {
            detail: clean(&detail),
        },
        PollError::ServerError { status, detail } => PollError::ServerError {
            status,
            detail: clean(&detail),
        },
        PollError::ClientError { status, detail } => PollError::ClientError {
            status,
            detail: clean(&detail),
        },
        PollError::Timeout { detail } => PollError::Timeout {
            detail: clean(&detail),
        },
        PollError::Connect { detail } => PollError::Connect {
            detail: clean(&detail),
        },
        PollError::Decode { detail } => PollError::Decode {
            detail: clean(&detail),
        },
        PollError::Pagination { detail } => PollError::Pagination {
            detail: clean(&detail),
        },
    }
}

/// Why Okta refused an app's call: a scope missing from the access token, or no admin role.
fn forbidden_for_app(headers: &HeaderMap) -> String {
    let challenge = headers
        .get(header::WWW_AUTHENTICATE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if challenge.contains("insufficient_scope") {
        "the access token lacks the scope for this call: add it to the org's oauth2 scopes and grant it to the app".into()
    } else {
        "the app holds the scope but no admin role that allows this call: assign the app a read-only admin role".into()
    }
}

/// The longest backoff before retry number `failures` (1-based): the base, doubled per retry.
fn backoff_ceiling(base: Duration, failures: u32) -> Duration {
    base.saturating_mul(1 << failures.saturating_sub(1).min(16))
}

/// When the answer's rate-limit window resets, on this host's clock, also on answers without
/// the other rate-limit headers (a concurrency 429).
fn reset_header(headers: &HeaderMap) -> Option<SystemTime> {
    reset_at(headers, SystemTime::now())
}

fn read_number(headers: &HeaderMap, name: &str) -> Option<u64> {
    headers.get(name)?.to_str().ok()?.trim().parse().ok()
}

/// When the window of an answer received at `now` resets, on this host's clock. Okta's
/// `X-Rate-Limit-Reset` is an instant on Okta's clock; like Okta's own SDKs, the wait is that
/// instant minus the answer's `Date` (Okta's clock at the answer), so a skewed local clock
/// neither retries early nor waits too long. Without a readable `Date` the reset is taken as
/// it is.
pub fn reset_at(headers: &HeaderMap, now: SystemTime) -> Option<SystemTime> {
    let reset = epoch_seconds(read_number(headers, "x-rate-limit-reset")?);
    let okta_now = headers
        .get(header::DATE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| DateTime::parse_from_rfc2822(v.trim()).ok())
        .and_then(|date| u64::try_from(date.timestamp()).ok())
        .map(epoch_seconds);
    Some(match okta_now {
        Some(date) => now + reset.duration_since(date).unwrap_or_default(),
        None => reset,
    })
}

/// Epoch seconds from a header as a time. A value past what the clock holds (no real answer has
/// one) is read as far in the future, never as a panic.
pub fn epoch_seconds(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs.min(1 << 40))
}

/// The longest wait a rate-limit answer is believed for: Okta's windows last about a minute.
const LONGEST_BELIEVED_RESET: Duration = Duration::from_secs(3600);

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|mime| {
            let mime = mime.trim().to_ascii_lowercase();
            mime == "application/json" || mime.ends_with("+json")
        })
}

#[cfg(test)]
mod tests;
