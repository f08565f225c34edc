//! A simulated Okta org speaking real HTTP on loopback, for the exporter's `demo` command and its
//! tests.
//!
//! It serves `GET /api/v1/api-tokens` the way Okta does: cursor pagination with one `Link` header
//! per relation, `X-Rate-Limit-*` headers and a `Date` header on every answer, Okta's JSON error
//! bodies, 401 for a wrong `SSWS` token; users, and the System Log with Okta's bounded and polling
//! queries ([`system_log`]: ingestion order, late events, opaque `after` cursors). Tokens that
//! have a `use_every` are "used" as time passes, so values move; tokens whose expiry passed
//! disappear, as Okta revokes them; deactivating a user ([`Simulator::deactivate_user`]) deletes
//! all of that user's tokens at once and logs `user.lifecycle.deactivate`. A token given a secret
//! ([`Simulator::set_token_secret`]) is used, as in Okta, by every call authenticated with that
//! secret: its expiry slides a window forward, and `GET /api/v1/users/me` answers its owner.
//!
//! The org has its own clock: system time plus an offset (zero unless a test skews it), read for
//! `Date`, `X-Rate-Limit-Reset`, rate-limit windows, token use and expiry, and the System Log.
//!
//! Two layers. The core, always compiled, is what `demo` runs: the org model, the demo data and a
//! plain HTTP server; it keeps no per-request memory, so a demo that runs for days holds flat
//! memory. The `testing` feature adds what only tests need: one-shot [`Fault`]s (errors, rate
//! limits, HTML pages, broken JSON, bad `next` links, delays) for the token listing and for the
//! users, `users/me` and logs endpoints, the log of every request received, HTTPS, withdrawn
//! permissions, a skewed org clock, and an OAuth 2.0 authorization server with its JOSE
//! verification ([`jose`]). The exporter depends on the core; its tests enable `testing`.

#[cfg(feature = "testing")]
pub mod jose;
#[cfg(feature = "testing")]
mod oauth;
pub mod system_log;
mod window;

#[cfg(feature = "testing")]
pub use oauth::{SimDpop, SimOAuthApp};
pub use system_log::{SimLogEvent, SimTarget};

/// A clock the simulated org reads instead of the system's, so tests can move time. The same
/// type as the exporter's `okta::oauth::Clock`, so one value can drive both.
pub type Clock = Arc<dyn Fn() -> SystemTime + Send + Sync>;

#[cfg(feature = "testing")]
use std::collections::VecDeque;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use rand::distr::{Alphanumeric, SampleString};
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::sync::watch;

/// One token as the simulated org holds it.
#[derive(Clone, Debug)]
pub struct SimToken {
    pub id: String,
    pub name: String,
    pub user_id: String,
    pub client_name: String,
    /// ISO 8601, as Okta sends it (`P30D`, `PT5M`).
    pub token_window: String,
    /// `network.connection`; `None` leaves the `network` object out.
    pub network_connection: Option<String>,
    pub created: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    /// When set, the token is used every this much wall time: its expiry slides to `now + window`.
    pub use_every: Option<Duration>,
}

/// A user of the simulated org (the owner of tokens).
#[derive(Clone, Debug)]
pub struct SimUser {
    pub id: String,
    pub login: String,
    /// `ACTIVE`, `SUSPENDED`, `DEPROVISIONED`, … as Okta spells it.
    pub status: String,
}

/// Endpoints besides the token listing: their permission can be withdrawn (403 `E0000006`),
/// their rate limit set, and (feature `testing`) one-shot faults queued for them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SimEndpoint {
    /// `GET /api/v1/users/{id}`.
    Users,
    /// `GET /api/v1/logs`.
    Logs,
    /// `GET /api/v1/users/me`. It counts against the users endpoint's rate limit, as it is one
    /// of `/api/v1/users/{id}`: setting its limit sets that one.
    Me,
    /// `GET /api/v1/users/{id}/roles` (scope `okta.roles.read`). Okta does not publish which
    /// rate-limit bucket it falls in; the simulator counts it against the users endpoint's, and
    /// setting its limit sets that one.
    Roles,
}

/// One admin role assignment of a user, as `GET /api/v1/users/{id}/roles` lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimRole {
    /// `type`: `SUPER_ADMIN`, `READ_ONLY_ADMIN`, … or `CUSTOM`.
    pub role_type: String,
    /// `label`: a custom role's name, or the standard role's display name.
    pub label: String,
    /// `assignmentType`: `USER` or `GROUP`.
    pub assignment_type: String,
    /// `status`: `ACTIVE` or `INACTIVE`.
    pub status: String,
}

impl SimRole {
    /// An active standard role assigned to the user directly, labelled as Okta labels it.
    pub fn standard(role_type: &str) -> SimRole {
        let label = match role_type {
            "SUPER_ADMIN" => "Super Administrator",
            "ORG_ADMIN" => "Organizational Administrator",
            "READ_ONLY_ADMIN" => "Read-only Administrator",
            "APP_ADMIN" => "Application Administrator",
            "HELP_DESK_ADMIN" => "Help Desk Administrator",
            _ => role_type,
        };
        SimRole {
            role_type: role_type.to_owned(),
            label: label.to_owned(),
            assignment_type: "USER".to_owned(),
            status: "ACTIVE".to_owned(),
        }
    }

    /// An active custom role (with its resource set) assigned to the user directly.
    pub fn custom(label: &str) -> SimRole {
        SimRole {
            role_type: "CUSTOM".to_owned(),
            ..SimRole::standard(label)
        }
    }

    /// The same role, assigned through a group.
    pub fn through_group(self) -> SimRole {
        SimRole {
            assignment_type: "GROUP".to_owned(),
            ..self
        }
    }
}

/// The demo owner whose roles the demo's credential may not read (the backup operator).
pub const DEMO_ROLES_FORBIDDEN: &str = "00udemo0000000000005";

/// The admin who deactivates users ([`Simulator::deactivate_user`]): the System Log's actor.
pub const SIM_ADMIN_LOGIN: &str = "security.admin@simulated.example";

#[cfg(feature = "testing")]
/// A one-shot misbehaviour, consumed by the request it applies to: a listing request
/// ([`Simulator::push_fault`]) or a request to another endpoint ([`Simulator::push_endpoint_fault`]).
#[derive(Clone, Debug)]
pub enum Fault {
    /// This status with Okta's JSON error body.
    OktaError {
        status: u16,
        error_code: String,
        summary: String,
    },
    /// 429 `E0000047` with `X-Rate-Limit-Reset` `reset_after` from the org's now (whole seconds,
    /// rounded up). A concurrency limit reports `X-Rate-Limit-Limit` and `-Remaining` as 0 (not
    /// the endpoint's limit); the next answer brings the real figures again.
    RateLimited {
        reset_after: Duration,
        concurrency: bool,
    },
    /// This status with an HTML maintenance page.
    Html { status: u16 },
    /// 200 with JSON cut off in the middle.
    TruncatedJson,
    /// 200 with a JSON body but `Content-Type: text/plain`.
    WrongContentType,
    /// Answer normally after this long.
    Delay(Duration),
    /// The `next` link points back at this page.
    NextLinkToSelf,
    /// The `next` link points at another host (127.0.0.2).
    NextLinkToOtherHost,
    /// A valid JSON page padded with whitespace to at least this many bytes.
    Oversized { bytes: usize },
    /// This status with Okta's JSON error body whose summary repeats the request's
    /// `Authorization` header, as a careless proxy or a debugging backend might.
    EchoAuthorization { status: u16 },
}

/// Where an [`Fault::EchoAuthorization`] answer puts the request's `Authorization` header.
#[cfg(feature = "testing")]
const ECHO_AUTHORIZATION: &str = "{echo:authorization}";

#[cfg(feature = "testing")]
/// A request as the simulator saw it. Its `Debug` shows only the `Authorization` scheme, so a
/// failing test's message never carries a credential.
#[derive(Clone)]
pub struct RecordedRequest {
    pub method: String,
    pub path_and_query: String,
    /// The raw `Authorization` header, for tests to check; never logged.
    pub authorization: Option<String>,
    pub user_agent: Option<String>,
    pub accept: Option<String>,
    pub received_at: SystemTime,
    /// The status answered.
    pub status: u16,
}

#[cfg(feature = "testing")]
impl std::fmt::Debug for RecordedRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let scheme = self
            .authorization
            .as_deref()
            .map(|a| format!("{} (redacted)", a.split(' ').next().unwrap_or_default()));
        f.debug_struct("RecordedRequest")
            .field("method", &self.method)
            .field("path_and_query", &self.path_and_query)
            .field("authorization", &scheme)
            .field("user_agent", &self.user_agent)
            .field("accept", &self.accept)
            .field("received_at", &self.received_at)
            .field("status", &self.status)
            .finish()
    }
}

const TOKENS_PATH: &str = "/api/v1/api-tokens";
#[cfg(feature = "testing")]
const TOKEN_PATH: &str = "/oauth2/v1/token";
const LOGS_PATH: &str = "/api/v1/logs";
const ME_PATH: &str = "/api/v1/users/me";
/// The user `GET /api/v1/users/me` answers for the org's own API token (or an OAuth 2.0 app).
const ADMIN_USER_ID: &str = "00usimulatedadmin001";

/// Who a call authenticated as.
enum Caller {
    /// The org's API token (or an OAuth 2.0 app's access token).
    Admin,
    /// A listed token, by its secret: its owner's user id.
    Token(String),
}

struct State {
    api_token: String,
    /// Secrets of listed tokens (secret -> token id): a call with one uses that token.
    token_secrets: std::collections::HashMap<String, String>,
    tokens: Vec<(SimToken, DateTime<Utc>)>,
    page_size: usize,
    /// Faults for a given page number (1-based), or for any listing request (`None`).
    #[cfg(feature = "testing")]
    faults: VecDeque<(Option<usize>, Fault)>,
    /// Faults for the next request to another endpoint.
    #[cfg(feature = "testing")]
    endpoint_faults: VecDeque<(SimEndpoint, Fault)>,
    /// The org's clock is system time plus this.
    clock_offset: TimeDelta,
    rate_limit: u32,
    /// Per-minute limits of the users and logs endpoints.
    endpoint_limits: std::collections::HashMap<SimEndpoint, u32>,
    /// Per rate-limit bucket: the window's start and requests used.
    windows: std::collections::HashMap<Bucket, (SystemTime, u32)>,
    #[cfg(feature = "testing")]
    requests: Vec<RecordedRequest>,
    users: std::collections::BTreeMap<String, SimUser>,
    /// Each user's admin role assignments; a user not here holds none.
    roles: std::collections::HashMap<String, Vec<SimRole>>,
    /// Users whose roles the caller may not read (403 `E0000006`), as with a credential whose
    /// admin role does not reach them.
    roles_forbidden: std::collections::HashSet<String>,
    log: system_log::SystemLog,
    #[cfg(feature = "testing")]
    forbidden: std::collections::HashSet<SimEndpoint>,
    /// The OAuth 2.0 authorization server, once an app is registered.
    #[cfg(feature = "testing")]
    oauth: Option<oauth::OAuthServer>,
}

/// Okta's rate limits are per endpoint; the simulator keeps one window per bucket.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Bucket {
    Tokens,
    Users,
    Logs,
}

impl Bucket {
    /// The OAuth 2.0 scope an app needs for the bucket's endpoint.
    #[cfg(feature = "testing")]
    fn scope(self) -> &'static str {
        match self {
            Bucket::Tokens => "okta.apiTokens.read",
            Bucket::Users => "okta.users.read",
            Bucket::Logs => "okta.logs.read",
        }
    }

    fn of(path: &str) -> Bucket {
        if path.starts_with("/api/v1/users/") {
            Bucket::Users
        } else if path == LOGS_PATH {
            Bucket::Logs
        } else {
            Bucket::Tokens
        }
    }
}

/// The published per-minute limits for users and logs (okta-api.md); tokens use `rate_limit`.
const USERS_LIMIT: u32 = 2000;
const LOGS_LIMIT: u32 = 120;

/// A running simulated org. Clones share it.
#[derive(Clone)]
pub struct Simulator {
    state: Arc<Mutex<State>>,
    addr: SocketAddr,
    stop: Arc<watch::Sender<bool>>,
    tls: bool,
}

impl Simulator {
    /// Starts on 127.0.0.1 with a free port.
    pub async fn start(api_token: &str, tokens: Vec<SimToken>) -> std::io::Result<Simulator> {
        Self::start_on(SocketAddr::from(([127, 0, 0, 1], 0)), api_token, tokens).await
    }

    pub async fn start_on(
        addr: SocketAddr,
        api_token: &str,
        tokens: Vec<SimToken>,
    ) -> std::io::Result<Simulator> {
        Self::serve(addr, api_token, tokens, None).await
    }

    #[cfg(feature = "testing")]
    /// Starts on 127.0.0.1 speaking HTTPS with this certificate chain and key (PEM), for tests
    /// of certificate checking.
    pub async fn start_tls(
        api_token: &str,
        tokens: Vec<SimToken>,
        cert_chain_pem: &str,
        key_pem: &str,
    ) -> std::io::Result<Simulator> {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let invalid = |e: &dyn std::fmt::Display| {
            std::io::Error::new(std::io::ErrorKind::InvalidInput, e.to_string())
        };
        let chain = CertificateDer::pem_slice_iter(cert_chain_pem.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| invalid(&e))?;
        let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).map_err(|e| invalid(&e))?;
        let config = rustls::ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .map_err(|e| invalid(&e))?;
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        Self::serve(
            SocketAddr::from(([127, 0, 0, 1], 0)),
            api_token,
            tokens,
            Some(acceptor),
        )
        .await
    }

    async fn serve(
        addr: SocketAddr,
        api_token: &str,
        tokens: Vec<SimToken>,
        tls: Option<TlsAcceptor>,
    ) -> std::io::Result<Simulator> {
        let listener = TcpListener::bind(addr).await?;
        let (stop, stopped) = watch::channel(false);
        let simulator = Simulator {
            state: Arc::new(Mutex::new(State {
                api_token: api_token.to_owned(),
                token_secrets: Default::default(),
                tokens: Vec::new(),
                page_size: 200,
                #[cfg(feature = "testing")]
                faults: VecDeque::new(),
                #[cfg(feature = "testing")]
                endpoint_faults: VecDeque::new(),
                clock_offset: TimeDelta::zero(),
                rate_limit: 600,
                endpoint_limits: std::collections::HashMap::from([
                    (SimEndpoint::Users, USERS_LIMIT),
                    (SimEndpoint::Logs, LOGS_LIMIT),
                ]),
                windows: Default::default(),
                #[cfg(feature = "testing")]
                requests: Vec::new(),
                users: Default::default(),
                roles: Default::default(),
                roles_forbidden: Default::default(),
                log: system_log::SystemLog::new(),
                #[cfg(feature = "testing")]
                forbidden: Default::default(),
                #[cfg(feature = "testing")]
                oauth: None,
            })),
            addr: listener.local_addr()?,
            stop: Arc::new(stop),
            tls: tls.is_some(),
        };
        simulator.set_tokens(tokens);
        tokio::spawn(accept_loop(listener, simulator.clone(), stopped, tls));
        Ok(simulator)
    }

    /// `http://127.0.0.1:PORT` (`https://` when started with TLS).
    pub fn url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn set_tokens(&self, tokens: Vec<SimToken>) {
        let mut tokens: Vec<_> = tokens
            .into_iter()
            .map(|t| {
                let last_use = t.expires_at - window_of(&t);
                (t, last_use)
            })
            .collect();
        tokens.sort_by(|a, b| a.0.id.cmp(&b.0.id));
        self.lock().tokens = tokens;
    }

    /// The tokens as they stand now (after simulated use and expiry).
    pub fn tokens(&self) -> Vec<SimToken> {
        let mut state = self.lock();
        let now = state.now_utc();
        state.advance(now);
        state.tokens.iter().map(|(t, _)| t.clone()).collect()
    }

    /// Revokes a token; false when there was none with that id.
    pub fn remove_token(&self, id: &str) -> bool {
        let mut state = self.lock();
        let before = state.tokens.len();
        state.tokens.retain(|(t, _)| t.id != id);
        state.tokens.len() != before
    }

    /// Gives a listed token its secret: a call authenticated with `SSWS <secret>` is that token's
    /// use, which slides its expiry to now plus its window, as Okta does. Okta refuses the secret
    /// (401) once the token is gone or while its owner is suspended or deactivated.
    pub fn set_token_secret(&self, token_id: &str, secret: &str) {
        self.lock()
            .token_secrets
            .insert(secret.to_owned(), token_id.to_owned());
    }

    /// The largest page the simulator serves, whatever `limit` asks (default 200).
    pub fn set_page_size(&self, n: usize) {
        self.lock().page_size = n.max(1);
    }

    #[cfg(feature = "testing")]
    /// Queues a fault for page `page` (1-based) of a listing, or for the next listing request.
    pub fn push_fault(&self, page: Option<usize>, fault: Fault) {
        self.lock().faults.push_back((page, fault));
    }

    #[cfg(feature = "testing")]
    /// Queues a fault for the next request to `endpoint` (any page of the System Log), e.g.
    /// `Fault::RateLimited { concurrency: true, .. }`: 429 `E0000047` with
    /// `X-Rate-Limit-Limit: 0` and `X-Rate-Limit-Remaining: 0`. It applies once the caller is
    /// authenticated, before the permission check.
    pub fn push_endpoint_fault(&self, endpoint: SimEndpoint, fault: Fault) {
        self.lock().endpoint_faults.push_back((endpoint, fault));
    }

    #[cfg(feature = "testing")]
    /// Drops every queued fault, of the listing and of the other endpoints.
    pub fn clear_faults(&self) {
        let mut state = self.lock();
        state.faults.clear();
        state.endpoint_faults.clear();
    }

    #[cfg(feature = "testing")]
    /// Skews the org's clock: its now is system time plus `offset`, for the `Date` header,
    /// `X-Rate-Limit-Reset`, rate-limit windows, token use and expiry and the System Log. Tests
    /// of an exporter whose local clock is wrong set it.
    pub fn set_clock_offset(&self, offset: TimeDelta) {
        self.lock().clock_offset = offset;
    }

    /// Adds or replaces a user.
    pub fn set_user(&self, user: SimUser) {
        self.lock().users.insert(user.id.clone(), user);
    }

    /// Sets a user's admin role assignments (empty: none).
    pub fn set_user_roles(&self, user_id: &str, roles: Vec<SimRole>) {
        self.lock().roles.insert(user_id.to_owned(), roles);
    }

    /// Makes reading one user's roles answer 403 `E0000006` (or answer again), as Okta does
    /// when the caller's admin role does not reach that user.
    pub fn forbid_user_roles(&self, user_id: &str, forbidden: bool) {
        let mut state = self.lock();
        if forbidden {
            state.roles_forbidden.insert(user_id.to_owned());
        } else {
            state.roles_forbidden.remove(user_id);
        }
    }

    /// Changes a user's status (e.g. to `DEPROVISIONED`); false when there is no such user.
    pub fn set_user_status(&self, id: &str, status: &str) -> bool {
        match self.lock().users.get_mut(id) {
            Some(user) => {
                user.status = status.to_owned();
                true
            }
            None => false,
        }
    }

    /// Records a System Log event, on time: the org persisted it at its `published` time. It
    /// takes the next ingestion sequence number. Returns its `uuid`.
    pub fn push_log_event(&self, event: SimLogEvent) -> String {
        let persisted = event.published;
        self.lock().log.push(event, persisted)
    }

    /// Records a System Log event late: received now (the org's clock), whatever its
    /// `published`, which may be minutes in the past, as Okta's System Log guide warns. A
    /// polling reader gets it from its next `next` link; a reader that moves its own bounded
    /// window past its `published` misses it. Returns its `uuid`.
    pub fn push_late_log_event(&self, event: SimLogEvent) -> String {
        let mut state = self.lock();
        let now = state.now_utc();
        state.log.push(event, now)
    }

    /// Deactivates a user, as an admin does in Okta: the user's status becomes `DEPROVISIONED`,
    /// every token of the user is deleted at once, and the System Log gets a
    /// `user.lifecycle.deactivate` event (target: the user; actor: [`SIM_ADMIN_LOGIN`]; no token)
    /// published now. A user never set is made up (`{id}@simulated.example`). Returns the ids of
    /// the deleted tokens.
    pub fn deactivate_user(&self, user_id: &str) -> Vec<String> {
        self.deactivate_user_late(user_id, TimeDelta::zero())
    }

    /// [`Simulator::deactivate_user`], its event published `published_ago` before now but
    /// received only now (a late event; see [`Simulator::push_late_log_event`]). The tokens are
    /// gone now.
    pub fn deactivate_user_late(&self, user_id: &str, published_ago: TimeDelta) -> Vec<String> {
        let mut state = self.lock();
        let now = state.now_utc();
        let user = state
            .users
            .entry(user_id.to_owned())
            .or_insert_with(|| SimUser {
                id: user_id.to_owned(),
                login: format!("{user_id}@simulated.example"),
                status: "ACTIVE".to_owned(),
            });
        user.status = "DEPROVISIONED".to_owned();
        let login = user.login.clone();
        let mut deleted = Vec::new();
        state.tokens.retain(|(t, _)| {
            let owned = t.user_id == user_id;
            if owned {
                deleted.push(t.id.clone());
            }
            !owned
        });
        let event =
            SimLogEvent::user_deactivated(now - published_ago, user_id, &login, SIM_ADMIN_LOGIN);
        state.log.push(event, now);
        deleted
    }

    #[cfg(feature = "testing")]
    /// Withdraws (or restores) the permission for an endpoint: requests answer 403 `E0000006`.
    pub fn forbid(&self, endpoint: SimEndpoint, forbidden: bool) {
        let mut state = self.lock();
        if forbidden {
            state.forbidden.insert(endpoint);
        } else {
            state.forbidden.remove(&endpoint);
        }
    }

    /// Requests allowed per one-minute window on the users or logs endpoint (default 2,000 and
    /// 120, Okta's published limits). `Me` and `Roles` share the users endpoint's window.
    pub fn set_endpoint_rate_limit(&self, endpoint: SimEndpoint, limit: u32) {
        let endpoint = match endpoint {
            SimEndpoint::Me | SimEndpoint::Roles => SimEndpoint::Users,
            other => other,
        };
        self.lock().endpoint_limits.insert(endpoint, limit);
    }

    /// Requests allowed per one-minute window on the token list (default 600).
    pub fn set_rate_limit(&self, limit: u32) {
        self.lock().rate_limit = limit;
    }

    #[cfg(feature = "testing")]
    /// Registers an OAuth 2.0 API Services app: `POST /oauth2/v1/token` issues access tokens to
    /// it, and API calls accept them (beside the SSWS token).
    pub fn enable_oauth(&self, app: SimOAuthApp) -> Result<(), String> {
        self.lock().oauth = Some(oauth::OAuthServer::new(app)?);
        Ok(())
    }

    #[cfg(feature = "testing")]
    /// Each token request's outcome: `success` or the OAuth error code answered.
    pub fn oauth_outcomes(&self) -> Vec<String> {
        self.lock()
            .oauth
            .as_ref()
            .map(|o| o.outcomes.clone())
            .unwrap_or_default()
    }

    #[cfg(feature = "testing")]
    /// Revokes every access token issued so far: the next API call with one gets 401.
    pub fn revoke_access_tokens(&self) {
        if let Some(oauth) = self.lock().oauth.as_mut() {
            oauth.revoke_access_tokens();
        }
    }

    #[cfg(feature = "testing")]
    /// Makes the authorization server expect a new DPoP nonce.
    pub fn rotate_dpop_nonce(&self) {
        if let Some(oauth) = self.lock().oauth.as_mut() {
            oauth.rotate_nonce();
        }
    }

    #[cfg(feature = "testing")]
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.lock().requests.clone()
    }

    /// Stops accepting connections and closes the open ones, as a crashed server would.
    pub fn shutdown(&self) {
        let _ = self.stop.send(true);
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The demo org's dozen tokens, relative to `now`:
    ///
    /// | token | state | why it is there |
    /// |---|---|---|
    /// | SCIM provisioning (Workday) | green | used every minute |
    /// | CI deploy pipeline | green | used every 5 minutes |
    /// | SIEM feed (Splunk) | green (yellow with the demo log) | used every 2 minutes, network zone restricted; called from outside its zones 2 hours ago |
    /// | HR sync (BambooHR) | green | last used 2 days ago, no `network` object |
    /// | Terraform Okta provider | gray | last used 4 days ago |
    /// | Quarterly access review | gray | last used 12 days ago |
    /// | Backup export | gray | last used 20 days ago; its owner is SUSPENDED |
    /// | Legacy "backup" … 🚀 | gray | a name with a quote, a backslash, a newline and emoji |
    /// | Old Jira integration | red | expires in 2 days; its owner was deactivated |
    /// | Staging smoke tests | red | expires in 5 hours |
    /// | Monitoring probe (5 min window) | red | a `PT5M` window, used every minute |
    /// | Abandoned POC | red | expires in 6 days 23 hours: just inside Red |
    /// A simulated org with the demo tokens, their owners (one deactivated, one suspended) and a
    /// System Log in which one token was used from outside its allowed network zones.
    ///
    /// For the posture, the owners hold admin roles ([`Simulator::demo_roles`]; one owner's
    /// roles cannot be read: 403) and two tokens are dated ([`Simulator::demo_posture_dates`]),
    /// so that the demo shows every posture finding.
    pub async fn start_demo(api_token: &str, now: DateTime<Utc>) -> std::io::Result<Simulator> {
        let simulator = Simulator::start(
            api_token,
            Simulator::demo_posture_dates(Simulator::demo_tokens(now), now),
        )
        .await?;
        for user in Simulator::demo_users() {
            simulator.set_user(user);
        }
        for (user_id, roles) in Simulator::demo_roles() {
            simulator.set_user_roles(&user_id, roles);
        }
        simulator.forbid_user_roles(DEMO_ROLES_FORBIDDEN, true);
        for event in Simulator::demo_log(now) {
            simulator.push_log_event(event);
        }
        Ok(simulator)
    }

    /// The owners of the demo tokens.
    pub fn demo_users() -> Vec<SimUser> {
        [
            (1, "scim.service@acme.example", "ACTIVE"),
            (2, "ci.bot@acme.example", "ACTIVE"),
            (3, "siem.reader@acme.example", "LOCKED_OUT"),
            (4, "former.admin@acme.example", "DEPROVISIONED"),
            (5, "backup.operator@acme.example", "SUSPENDED"),
        ]
        .into_iter()
        .map(|(n, login, status)| SimUser {
            id: format!("00udemo{n:013}"),
            login: login.to_owned(),
            status: status.to_owned(),
        })
        .collect()
    }

    /// The demo owners' admin roles: the SCIM service account is a super admin (through a
    /// group), the CI bot holds a custom role, the SIEM reader is a read-only admin, the former
    /// admin (a person's account) an org admin. The backup operator's roles cannot be read
    /// ([`DEMO_ROLES_FORBIDDEN`]).
    pub fn demo_roles() -> Vec<(String, Vec<SimRole>)> {
        let user = |n: u32| format!("00udemo{n:013}");
        vec![
            (
                user(1),
                vec![SimRole::standard("SUPER_ADMIN").through_group()],
            ),
            (user(2), vec![SimRole::custom("Terraform deployer")]),
            (user(3), vec![SimRole::standard("READ_ONLY_ADMIN")]),
            (user(4), vec![SimRole::standard("ORG_ADMIN")]),
        ]
    }

    /// The demo tokens with two creation dates moved for the posture: the legacy backup token
    /// (8) was made 400 days ago, past the default rotation policy of 365 days, and the Terraform
    /// token (5) 10 days ago, a new integration made with an SSWS token. `demo_tokens` keeps
    /// every token 120 days old (and the golden exposition with it).
    pub fn demo_posture_dates(mut tokens: Vec<SimToken>, now: DateTime<Utc>) -> Vec<SimToken> {
        for token in &mut tokens {
            match token.id.as_str() {
                "00Tdemo0000000000008" => token.created = now - TimeDelta::days(400),
                "00Tdemo0000000000005" => token.created = now - TimeDelta::days(10),
                _ => {}
            }
        }
        tokens
    }

    /// The demo System Log: creations, an update, a revocation in the admin console of a token no
    /// longer listed, and a call with the SIEM token from outside its allowed zones two hours ago.
    pub fn demo_log(now: DateTime<Utc>) -> Vec<SimLogEvent> {
        let token = |n: u32| format!("00Tdemo{n:013}");
        let admin = "admin@acme.example";
        vec![
            SimLogEvent::token_event(
                now - TimeDelta::hours(20),
                "system.api_token.create",
                &token(1),
                admin,
            ),
            SimLogEvent::token_event(
                now - TimeDelta::hours(12),
                "system.api_token.update",
                &token(3),
                admin,
            ),
            SimLogEvent::revoke(now - TimeDelta::hours(6), &token(99), None, admin),
            SimLogEvent::outside_allowed_range(
                now - TimeDelta::hours(2),
                &token(3),
                "siem.reader@acme.example",
            ),
        ]
    }

    pub fn demo_tokens(now: DateTime<Utc>) -> Vec<SimToken> {
        let days = TimeDelta::days;
        let minute = Duration::from_secs(60);
        let token = |n: u32,
                     name: &str,
                     user: u32,
                     window: &str,
                     last_use: TimeDelta,
                     use_every: Option<Duration>| {
            let window_delta = TimeDelta::seconds(
                crate::window::seconds(window).expect("demo windows are valid") as i64,
            );
            SimToken {
                id: format!("00Tdemo{n:013}"),
                name: name.to_owned(),
                user_id: format!("00udemo{user:013}"),
                client_name: "Okta API".to_owned(),
                token_window: window.to_owned(),
                network_connection: Some("ANYWHERE".to_owned()),
                created: now - days(120) - TimeDelta::hours(n as i64),
                expires_at: now - last_use + window_delta,
                use_every,
            }
        };
        let mut tokens = vec![
            token(
                1,
                "SCIM provisioning (Workday)",
                1,
                "P30D",
                TimeDelta::zero(),
                Some(minute),
            ),
            token(
                2,
                "CI deploy pipeline",
                2,
                "P30D",
                TimeDelta::minutes(3),
                Some(5 * minute),
            ),
            token(
                3,
                "SIEM feed (Splunk)",
                3,
                "P30D",
                TimeDelta::minutes(1),
                Some(2 * minute),
            ),
            token(4, "HR sync (BambooHR)", 1, "P30D", days(2), None),
            token(5, "Terraform Okta provider", 2, "P30D", days(4), None),
            token(6, "Quarterly access review", 3, "P30D", days(12), None),
            token(7, "Backup export", 5, "P30D", days(20), None),
            token(
                8,
                "Legacy \"backup\" C:\\scripts\nnightly 🚀",
                2,
                "P30D",
                days(10),
                None,
            ),
            token(9, "Old Jira integration", 4, "P30D", days(28), None),
            token(
                10,
                "Staging smoke tests",
                1,
                "P30D",
                days(30) - TimeDelta::hours(5),
                None,
            ),
            token(
                11,
                "Monitoring probe (5 min window)",
                2,
                "PT5M",
                TimeDelta::zero(),
                Some(minute),
            ),
            token(
                12,
                "Abandoned POC",
                3,
                "P30D",
                days(23) + TimeDelta::hours(1),
                None,
            ),
        ];
        tokens[2].network_connection = Some("ZONE".to_owned());
        tokens[3].network_connection = None;
        tokens[3].client_name = "Okta Workflows".to_owned();
        tokens
    }
}

fn window_of(token: &SimToken) -> TimeDelta {
    crate::window::seconds(&token.token_window)
        .and_then(|s| TimeDelta::try_seconds(s as i64))
        .unwrap_or(TimeDelta::days(30))
}

impl State {
    /// The org's clock: system time plus the offset a test set.
    fn now(&self) -> SystemTime {
        let now = SystemTime::now();
        let offset = self.clock_offset;
        let shifted = match offset.to_std() {
            Ok(ahead) => now.checked_add(ahead),
            Err(_) => (-offset)
                .to_std()
                .ok()
                .and_then(|behind| now.checked_sub(behind)),
        };
        shifted.unwrap_or(now)
    }

    fn now_utc(&self) -> DateTime<Utc> {
        self.now().into()
    }

    /// Applies simulated use, then revokes what expired.
    fn advance(&mut self, now: DateTime<Utc>) {
        for (token, last_use) in &mut self.tokens {
            if let Some(every) = token.use_every.and_then(|d| TimeDelta::from_std(d).ok()) {
                if now - *last_use >= every && token.expires_at > now {
                    *last_use = now;
                    token.expires_at = now + window_of(token);
                }
            }
        }
        self.tokens.retain(|(t, _)| t.expires_at > now);
    }

    /// A call with token `id`'s secret: refused (`None`) when the token is gone or its owner is
    /// suspended or deactivated; otherwise the token is used (its expiry slides to `now` plus
    /// its window) and its owner's id returned.
    fn use_token(&mut self, id: &str, now: DateTime<Utc>) -> Option<String> {
        self.advance(now);
        let (token, last_use) = self.tokens.iter_mut().find(|(t, _)| t.id == id)?;
        let owner_inactive = self
            .users
            .get(&token.user_id)
            .is_some_and(|u| u.status == "SUSPENDED" || u.status == "DEPROVISIONED");
        if owner_inactive {
            return None;
        }
        *last_use = now;
        token.expires_at = now + window_of(token);
        Some(token.user_id.clone())
    }

    /// The per-minute limit of a bucket.
    fn limit(&self, bucket: Bucket) -> u32 {
        match bucket {
            Bucket::Tokens => self.rate_limit,
            Bucket::Users => self.endpoint_limits[&SimEndpoint::Users],
            Bucket::Logs => self.endpoint_limits[&SimEndpoint::Logs],
        }
    }

    /// Counts the request against its bucket's window; returns (limit, remaining, reset epoch s)
    /// and whether it is over the limit. A window starts on a whole second of the org's clock, so
    /// `X-Rate-Limit-Reset` minus the `Date` header is the whole seconds left in it.
    fn rate_limit(&mut self, bucket: Bucket, now: SystemTime) -> ((u32, u32, u64), bool) {
        let limit = self.limit(bucket);
        let (start, used) = match self.windows.get(&bucket) {
            Some(&(start, used)) if start <= now && now < start + Duration::from_secs(60) => {
                (start, used)
            }
            _ => (whole_second(now), 0),
        };
        let over = used >= limit;
        let used = if over { used } else { used + 1 };
        self.windows.insert(bucket, (start, used));
        let reset = epoch_seconds_ceil(start + Duration::from_secs(60));
        ((limit, limit - used, reset), over)
    }

    #[cfg(feature = "testing")]
    /// The first fault queued for this endpoint, removed from the queue.
    fn take_endpoint_fault(&mut self, endpoint: SimEndpoint) -> Option<Fault> {
        let index = self
            .endpoint_faults
            .iter()
            .position(|(e, _)| *e == endpoint)?;
        self.endpoint_faults.remove(index).map(|(_, fault)| fault)
    }

    #[cfg(feature = "testing")]
    /// The first queued fault for this page, removed from the queue.
    fn take_fault(&mut self, page: usize) -> Option<Fault> {
        let index = self
            .faults
            .iter()
            .position(|(p, _)| p.is_none_or(|p| p == page))?;
        self.faults.remove(index).map(|(_, fault)| fault)
    }

    /// Whether a test withdrew the permission for this endpoint.
    fn is_forbidden(&self, endpoint: SimEndpoint) -> bool {
        #[cfg(feature = "testing")]
        return self.forbidden.contains(&endpoint);
        #[cfg(not(feature = "testing"))]
        {
            let _ = endpoint;
            false
        }
    }
}

/// The user id of a `GET /api/v1/users/{id}/roles` path.
fn roles_path(path: &str) -> Option<&str> {
    path.strip_prefix("/api/v1/users/")?
        .strip_suffix("/roles")
        .filter(|id| !id.is_empty() && !id.contains('/'))
}

/// `t` without its fraction of a second.
fn whole_second(t: SystemTime) -> SystemTime {
    let since_epoch = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    UNIX_EPOCH + Duration::from_secs(since_epoch.as_secs())
}

/// An HTTP date (RFC 7231 IMF-fixdate): `Sun, 06 Nov 1994 08:49:37 GMT`.
fn http_date(t: SystemTime) -> String {
    DateTime::<Utc>::from(t)
        .format("%a, %d %b %Y %H:%M:%S GMT")
        .to_string()
}

fn epoch_seconds_ceil(t: SystemTime) -> u64 {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

/// What wraps a connection in TLS; without the `testing` feature there is none (the type has no
/// values), so the demo carries no TLS server.
#[cfg(feature = "testing")]
type TlsAcceptor = tokio_rustls::TlsAcceptor;
#[cfg(not(feature = "testing"))]
#[derive(Clone)]
enum TlsAcceptor {}

async fn accept_loop(
    listener: TcpListener,
    simulator: Simulator,
    mut stopped: watch::Receiver<bool>,
    tls: Option<TlsAcceptor>,
) {
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(_) => continue,
            },
            _ = stopped.wait_for(|stop| *stop) => return,
        };
        let simulator = simulator.clone();
        let mut stopped = stopped.clone();
        let tls = tls.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request| {
                let simulator = simulator.clone();
                async move { Ok::<_, Infallible>(simulator.handle(request).await) }
            });
            let serve = async move {
                match tls {
                    None => {
                        let _ = http1::Builder::new()
                            .serve_connection(TokioIo::new(stream), service)
                            .await;
                    }
                    #[cfg(feature = "testing")]
                    Some(acceptor) => {
                        // A client that refuses our certificate ends the handshake: nothing to serve.
                        if let Ok(stream) = acceptor.accept(stream).await {
                            let _ = http1::Builder::new()
                                .serve_connection(TokioIo::new(stream), service)
                                .await;
                        }
                    }
                    #[cfg(not(feature = "testing"))]
                    Some(never) => match never {},
                }
            };
            tokio::select! {
                _ = serve => {}
                _ = stopped.wait_for(|stop| *stop) => {}
            }
        });
    }
}

/// What to send, decided under the lock and sent after it.
struct Answer {
    status: u16,
    content_type: &'static str,
    body: Vec<u8>,
    links: Vec<String>,
    rate: (u32, u32, u64),
    delay: Option<Duration>,
    /// More headers (`DPoP-Nonce`, `WWW-Authenticate`).
    headers: Vec<(&'static str, String)>,
}

impl Simulator {
    async fn handle(&self, request: Request<Incoming>) -> Response<Full<Bytes>> {
        #[cfg(feature = "testing")]
        let answer = if request.uri().path() == TOKEN_PATH {
            self.token_endpoint(request).await
        } else {
            self.answer(&request)
        };
        #[cfg(not(feature = "testing"))]
        let answer = self.answer(&request);
        if let Some(delay) = answer.delay {
            tokio::time::sleep(delay).await;
        }
        let date = http_date(self.lock().now());
        let mut response = Response::new(Full::new(Bytes::from(answer.body)));
        *response.status_mut() =
            StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(answer.content_type),
        );
        if let Ok(date) = HeaderValue::from_str(&date) {
            headers.insert(header::DATE, date);
        }
        for (name, value) in answer.headers {
            if let Ok(value) = HeaderValue::from_str(&value) {
                headers.insert(name, value);
            }
        }
        for link in answer.links {
            if let Ok(value) = HeaderValue::from_str(&link) {
                headers.append(header::LINK, value);
            }
        }
        let (limit, remaining, reset) = answer.rate;
        headers.insert("x-rate-limit-limit", HeaderValue::from(limit));
        headers.insert("x-rate-limit-remaining", HeaderValue::from(remaining));
        headers.insert("x-rate-limit-reset", HeaderValue::from(reset));
        response
    }

    fn answer(&self, request: &Request<Incoming>) -> Answer {
        #[cfg(feature = "testing")]
        let received_at = SystemTime::now();
        #[cfg(feature = "testing")]
        let header = |name: header::HeaderName| {
            request
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let mut state = self.lock();
        let now = state.now();
        let (rate, over_limit) = state.rate_limit(Bucket::of(request.uri().path()), now);
        let presented = request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("SSWS "));
        let caller = match presented {
            Some(secret) if secret == state.api_token => Some(Caller::Admin),
            Some(secret) => state
                .token_secrets
                .get(secret)
                .cloned()
                .and_then(|id| state.use_token(&id, now.into()))
                .map(Caller::Token),
            None => None,
        };
        let app = if caller.is_some() {
            None
        } else {
            self.check_oauth(&mut state, request)
        };
        let mut answer = if over_limit {
            error(
                429,
                "E0000047",
                "API call exceeded rate limit due to too many requests.",
            )
        } else if let Some(Err(refused)) = app {
            refused
        } else if caller.is_none() && app.is_none() {
            error(401, "E0000011", "Invalid token provided")
        } else {
            self.route(
                &mut state,
                caller.unwrap_or(Caller::Admin),
                request.method(),
                request.uri().path(),
                request.uri().query().unwrap_or(""),
            )
        };
        if answer.status == 429 && answer.rate == (0, 0, 0) {
            answer.rate = (0, 0, rate.2);
        } else if answer.rate == (0, 0, 0) {
            answer.rate = rate;
        }
        #[cfg(feature = "testing")]
        if let Some(at) = answer
            .body
            .windows(ECHO_AUTHORIZATION.len())
            .position(|w| w == ECHO_AUTHORIZATION.as_bytes())
        {
            let sent = header(header::AUTHORIZATION).unwrap_or_default();
            // As JSON string content: the body is Okta's JSON error.
            let quoted = Value::String(sent).to_string();
            let echoed = quoted.trim_matches('"').as_bytes().to_vec();
            answer
                .body
                .splice(at..at + ECHO_AUTHORIZATION.len(), echoed);
        }
        #[cfg(feature = "testing")]
        state.requests.push(RecordedRequest {
            method: request.method().to_string(),
            path_and_query: request
                .uri()
                .path_and_query()
                .map(|p| p.as_str().to_owned())
                .unwrap_or_default(),
            authorization: header(header::AUTHORIZATION),
            user_agent: header(header::USER_AGENT),
            accept: header(header::ACCEPT),
            received_at,
            status: answer.status,
        });
        answer
    }

    /// An API call that is not the SSWS token: checked by the OAuth 2.0 server if there is one
    /// (`Some(Ok)` authorized, `Some(Err)` the refusal), `None` otherwise.
    #[cfg(feature = "testing")]
    fn check_oauth(
        &self,
        state: &mut State,
        request: &Request<Incoming>,
    ) -> Option<Result<(), Answer>> {
        let server = state.oauth.as_mut()?;
        let url = format!("{}{}", self.url(), request.uri().path());
        let scope = match roles_path(request.uri().path()) {
            Some(_) => "okta.roles.read",
            None => Bucket::of(request.uri().path()).scope(),
        };
        Some(
            server
                .check_api_call(request.headers(), request.method().as_str(), &url, scope)
                .map_err(oauth_answer),
        )
    }

    /// Without the `testing` feature there is no OAuth 2.0 server: only the SSWS token works.
    #[cfg(not(feature = "testing"))]
    fn check_oauth(&self, _: &mut State, _: &Request<Incoming>) -> Option<Result<(), Answer>> {
        None
    }

    fn route(
        &self,
        state: &mut State,
        caller: Caller,
        method: &Method,
        path: &str,
        query: &str,
    ) -> Answer {
        let known = path == TOKENS_PATH
            || path.starts_with("/api/v1/api-tokens/")
            || path.starts_with("/api/v1/users/")
            || path == LOGS_PATH;
        if !known {
            return error(
                404,
                "E0000007",
                &format!("Not found: Resource not found: {path} (GET)"),
            );
        }
        if method != Method::GET {
            return error(
                405,
                "E0000022",
                "The endpoint does not support the provided HTTP method",
            );
        }
        let now = state.now_utc();
        state.advance(now);
        let (endpoint, answer, next) = if path == ME_PATH {
            (SimEndpoint::Me, self.me(state, &caller), None)
        } else if let Some(id) = roles_path(path) {
            (SimEndpoint::Roles, self.roles(state, id), None)
        } else if let Some(id) = path.strip_prefix("/api/v1/users/") {
            (SimEndpoint::Users, self.user(state, id), None)
        } else if path == LOGS_PATH {
            let (answer, next) = self.logs(state, query, now);
            (SimEndpoint::Logs, answer, next)
        } else {
            return self.token_route(state, path, query);
        };
        let self_url = format!("{}{path}?{query}", self.url());
        #[cfg(feature = "testing")]
        let (mut answer, next) = {
            let fault = state.take_endpoint_fault(endpoint);
            let limit = state.limit(Bucket::of(path));
            let mut answer = answer;
            match Self::apply_fault(fault, limit, state.now(), &self_url, next, &mut answer) {
                Ok(next) => (answer, next),
                Err(instead) => return *instead,
            }
        };
        #[cfg(not(feature = "testing"))]
        let mut answer = answer;
        // Only the System Log's pages (and a fault asking for a `next` link) carry links.
        if (endpoint == SimEndpoint::Logs && answer.status == 200) || next.is_some() {
            answer.links.push(format!("<{self_url}>; rel=\"self\""));
        }
        if let Some(next) = next {
            answer.links.push(format!("<{next}>; rel=\"next\""));
        }
        answer
    }

    /// `GET /api/v1/api-tokens/{id}` and the listing.
    fn token_route(&self, state: &mut State, path: &str, query: &str) -> Answer {
        if let Some(id) = path.strip_prefix("/api/v1/api-tokens/") {
            return match state.tokens.iter().find(|(t, _)| t.id == id) {
                Some((token, _)) => ok_json(
                    json!(self.token_json(token)).to_string().into_bytes(),
                    Vec::new(),
                ),
                None => error(
                    404,
                    "E0000007",
                    &format!("Not found: Resource not found: {id} (ApiToken)"),
                ),
            };
        }
        self.list(state, query)
    }

    fn list(&self, state: &mut State, query: &str) -> Answer {
        let mut limit = 20;
        let mut after = None;
        for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
            match key.as_ref() {
                "limit" => match value.parse::<usize>() {
                    Ok(n) if (1..=200).contains(&n) => limit = n,
                    _ => return error(400, "E0000001", "Api validation failed: limit"),
                },
                "after" => after = Some(value.into_owned()),
                _ => {}
            }
        }
        let start = after.as_deref().map_or(0, |a| {
            state
                .tokens
                .iter()
                .take_while(|(t, _)| t.id.as_str() <= a)
                .count()
        });
        let page_size = limit.min(state.page_size);
        let page_number = start / page_size + 1;
        let page: Vec<Value> = state.tokens[start..]
            .iter()
            .take(page_size)
            .map(|(t, _)| self.token_json(t))
            .collect();
        let end = start + page.len();
        let self_url = format!("{}{TOKENS_PATH}?{query}", self.url());
        let mut links = vec![format!("<{self_url}>; rel=\"self\"")];
        let next = (end < state.tokens.len()).then(|| {
            format!(
                "{}{TOKENS_PATH}?after={}&limit={limit}",
                self.url(),
                state.tokens[end - 1].0.id
            )
        });
        let mut answer = ok_json(Value::Array(page).to_string().into_bytes(), Vec::new());
        #[cfg(feature = "testing")]
        let next = match Self::apply_fault(
            state.take_fault(page_number),
            state.rate_limit,
            state.now(),
            &self_url,
            next,
            &mut answer,
        ) {
            Ok(next) => next,
            Err(instead) => return *instead,
        };
        #[cfg(not(feature = "testing"))]
        let _ = page_number;
        if let Some(next) = next {
            links.push(format!("<{next}>; rel=\"next\""));
        }
        answer.links = links;
        answer
    }

    /// Applies a fault taken from a queue, if any, to the answer about to be sent (`limit` is the
    /// endpoint's, `now` the org's): returns the `next` link to send, or the answer to send
    /// instead.
    #[cfg(feature = "testing")]
    fn apply_fault(
        fault: Option<Fault>,
        limit: u32,
        now: SystemTime,
        self_url: &str,
        next: Option<String>,
        answer: &mut Answer,
    ) -> Result<Option<String>, Box<Answer>> {
        let mut next = next;
        match fault {
            None => {}
            Some(Fault::OktaError { status, error_code, summary }) => return Err(Box::new(error(status, &error_code, &summary))),
            Some(Fault::RateLimited { reset_after, concurrency }) => {
                let mut limited = error(429, "E0000047", "API call exceeded rate limit due to too many requests.");
                let reset = epoch_seconds_ceil(now + reset_after);
                limited.rate = if concurrency { (0, 0, reset) } else { (limit, 0, reset) };
                return Err(Box::new(limited));
            }
            Some(Fault::Html { status }) => {
                return Err(Box::new(Answer {
                    status,
                    content_type: "text/html; charset=utf-8",
                    body: b"<!DOCTYPE html><html><head><title>Service unavailable</title></head><body><h1>Okta is down for maintenance</h1></body></html>".to_vec(),
                    links: Vec::new(),
                    rate: (0, 0, 0),
                    delay: None,
                    headers: Vec::new(),
                }))
            }
            Some(Fault::TruncatedJson) => {
                let cut = answer.body.len() / 2;
                answer.body.truncate(cut.max(1));
            }
            Some(Fault::WrongContentType) => answer.content_type = "text/plain",
            Some(Fault::Delay(delay)) => answer.delay = Some(delay),
            Some(Fault::NextLinkToSelf) => next = Some(self_url.to_owned()),
            Some(Fault::Oversized { bytes }) => {
                let padding = bytes.saturating_sub(answer.body.len());
                answer.body.splice(1..1, std::iter::repeat_n(b' ', padding));
            }
            Some(Fault::EchoAuthorization { status }) => {
                let summary = format!("Internal error; the request was: GET {self_url} Authorization: {ECHO_AUTHORIZATION}");
                return Err(Box::new(error(status, "E0000009", &summary)));
            }
            Some(Fault::NextLinkToOtherHost) => {
                let cursor = next.clone().unwrap_or_else(|| self_url.to_owned());
                next = Some(cursor.replacen("127.0.0.1", "127.0.0.2", 1));
            }
        }
        Ok(next)
    }

    fn user(&self, state: &State, id: &str) -> Answer {
        if state.is_forbidden(SimEndpoint::Users) {
            return error(
                403,
                "E0000006",
                "You do not have permission to perform the requested action",
            );
        }
        match state.users.get(id) {
            Some(user) => self.user_json(user),
            None => error(
                404,
                "E0000007",
                &format!("Not found: Resource not found: {id} (User)"),
            ),
        }
    }

    /// `GET /api/v1/users/{id}/roles`: the user's role assignments, as Okta's API reference shows
    /// them (a custom role with its role and resource set ids).
    fn roles(&self, state: &State, id: &str) -> Answer {
        if state.is_forbidden(SimEndpoint::Roles) || state.roles_forbidden.contains(id) {
            return error(
                403,
                "E0000006",
                "You do not have permission to perform the requested action",
            );
        }
        if !state.users.contains_key(id) {
            return error(
                404,
                "E0000007",
                &format!("Not found: Resource not found: {id} (User)"),
            );
        }
        let roles: Vec<Value> = state
            .roles
            .get(id)
            .into_iter()
            .flatten()
            .enumerate()
            .map(|(n, role)| {
                let assignee = if role.assignment_type == "GROUP" {
                    format!("{}/api/v1/groups/00gsimulatedadmins01", self.url())
                } else {
                    format!("{}/api/v1/users/{id}", self.url())
                };
                let mut value = json!({
                    "id": format!("ra{n:02}{}", id.trim_start_matches("00u")),
                    "label": role.label,
                    "type": role.role_type,
                    "status": role.status,
                    "created": "2024-01-01T00:00:00.000Z",
                    "lastUpdated": "2024-01-01T00:00:00.000Z",
                    "assignmentType": role.assignment_type,
                    "_links": { "assignee": { "href": assignee } },
                });
                if role.role_type == "CUSTOM" {
                    value["role"] = json!("cr0simulatedrole0001");
                    value["resource-set"] = json!("iamsimulatedresourceset1");
                }
                value
            })
            .collect();
        ok_json(Value::Array(roles).to_string().into_bytes(), Vec::new())
    }

    /// `GET /api/v1/users/me`: the caller. Any authenticated caller may read itself (unless a
    /// test withdrew it); a token's caller is its owner (made up as an active user when the test
    /// did not set one).
    fn me(&self, state: &State, caller: &Caller) -> Answer {
        if state.is_forbidden(SimEndpoint::Me) {
            return error(
                403,
                "E0000006",
                "You do not have permission to perform the requested action",
            );
        }
        let user = match caller {
            Caller::Admin => SimUser {
                id: ADMIN_USER_ID.to_owned(),
                login: "exporter.admin@simulated.example".to_owned(),
                status: "ACTIVE".to_owned(),
            },
            Caller::Token(user_id) => state.users.get(user_id).cloned().unwrap_or(SimUser {
                id: user_id.clone(),
                login: format!("{user_id}@simulated.example"),
                status: "ACTIVE".to_owned(),
            }),
        };
        self.user_json(&user)
    }

    fn user_json(&self, user: &SimUser) -> Answer {
        ok_json(
            json!({
                "id": user.id,
                "status": user.status,
                "created": "2024-01-01T00:00:00.000Z",
                "profile": { "login": user.login, "email": user.login, "displayName": user.login },
                "_links": { "self": { "href": format!("{}/api/v1/users/{}", self.url(), user.id) } },
            })
            .to_string()
            .into_bytes(),
            Vec::new(),
        )
    }

    /// `GET /api/v1/logs` at the org's time `now`: the page ([`system_log`] has the rules) and
    /// the URL of its `next` link, which keeps the query's parameters with a new `after`.
    fn logs(&self, state: &State, query: &str, now: DateTime<Utc>) -> (Answer, Option<String>) {
        if state.is_forbidden(SimEndpoint::Logs) {
            let refused = error(
                403,
                "E0000006",
                "You do not have permission to perform the requested action",
            );
            return (refused, None);
        }
        match state.log.query(query, now) {
            Err(refused) => (error(refused.status, refused.code, &refused.summary), None),
            Ok(page) => {
                let next = page.next_after.map(|after| {
                    let rest: String = url::form_urlencoded::Serializer::new(String::new())
                        .extend_pairs(
                            url::form_urlencoded::parse(query.as_bytes())
                                .filter(|(k, _)| k != "after"),
                        )
                        .append_pair("after", &after)
                        .finish();
                    format!("{}{LOGS_PATH}?{rest}", self.url())
                });
                let body = Value::Array(page.events).to_string().into_bytes();
                (ok_json(body, Vec::new()), next)
            }
        }
    }

    fn token_json(&self, token: &SimToken) -> Value {
        let timestamp = |t: DateTime<Utc>| t.to_rfc3339_opts(SecondsFormat::Millis, true);
        let mut value = json!({
            "id": token.id,
            "name": token.name,
            "userId": token.user_id,
            "clientName": token.client_name,
            "tokenWindow": token.token_window,
            "created": timestamp(token.created),
            "lastUpdated": timestamp(token.expires_at - window_of(token)),
            "expiresAt": timestamp(token.expires_at),
            "_links": {
                "self": { "href": format!("{}{TOKENS_PATH}/{}", self.url(), token.id) },
                "user": { "href": format!("{}/api/v1/users/{}", self.url(), token.user_id) },
            },
        });
        if let Some(connection) = &token.network_connection {
            value["network"] = json!({ "connection": connection });
        }
        value
    }
}

#[cfg(feature = "testing")]
impl Simulator {
    /// `POST /oauth2/v1/token`: the authorization server, when an app is registered.
    async fn token_endpoint(&self, request: Request<Incoming>) -> Answer {
        use http_body_util::BodyExt;
        let (parts, body) = request.into_parts();
        let form = match http_body_util::Limited::new(body, 64 * 1024)
            .collect()
            .await
        {
            Ok(collected) => collected.to_bytes(),
            Err(_) => return error(400, "E0000003", "The request body was not well-formed."),
        };
        let token_url = format!("{}{TOKEN_PATH}", self.url());
        let mut state = self.lock();
        let answer = match (&mut state.oauth, &parts.method) {
            (None, _) => error(
                404,
                "E0000007",
                "Not found: Resource not found: /oauth2/v1/token (POST)",
            ),
            (Some(_), method) if method != Method::POST => error(
                405,
                "E0000022",
                "The endpoint does not support the provided HTTP method",
            ),
            (Some(server), _) => {
                oauth_answer(server.token_request(&parts.headers, &form, &token_url))
            }
        };
        state.requests.push(RecordedRequest {
            method: parts.method.to_string(),
            path_and_query: TOKEN_PATH.to_owned(),
            authorization: None,
            user_agent: parts
                .headers
                .get(header::USER_AGENT)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
            accept: parts
                .headers
                .get(header::ACCEPT)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
            received_at: SystemTime::now(),
            status: answer.status,
        });
        answer
    }
}

#[cfg(feature = "testing")]
fn oauth_answer(answer: oauth::OAuthAnswer) -> Answer {
    Answer {
        status: answer.status,
        content_type: "application/json",
        body: answer.body.to_string().into_bytes(),
        links: Vec::new(),
        rate: (0, 0, 0),
        delay: None,
        headers: answer.headers,
    }
}

fn ok_json(body: Vec<u8>, links: Vec<String>) -> Answer {
    Answer {
        status: 200,
        content_type: "application/json",
        body,
        links,
        rate: (0, 0, 0),
        delay: None,
        headers: Vec::new(),
    }
}

fn error(status: u16, code: &str, summary: &str) -> Answer {
    let body = json!({
        "errorCode": code,
        "errorSummary": summary,
        "errorLink": code,
        "errorId": format!("oae{}", Alphanumeric.sample_string(&mut rand::rng(), 20)),
        "errorCauses": [],
    });
    Answer {
        status,
        content_type: "application/json",
        body: body.to_string().into_bytes(),
        links: Vec::new(),
        rate: (0, 0, 0),
        delay: None,
        headers: Vec::new(),
    }
}

#[cfg(all(test, feature = "testing"))]
mod tests {
    use super::*;

    async fn get(url: &str, token: &str) -> reqwest::Response {
        reqwest::Client::new()
            .get(url)
            .header("Authorization", format!("SSWS {token}"))
            .send()
            .await
            .unwrap()
    }

    fn tokens(n: usize) -> Vec<SimToken> {
        let now = Utc::now();
        (0..n)
            .map(|i| SimToken {
                id: format!("00T{i:017}"),
                name: format!("token {i}"),
                user_id: "00u1".into(),
                client_name: "Okta API".into(),
                token_window: "P30D".into(),
                network_connection: Some("ANYWHERE".into()),
                created: now - TimeDelta::days(40),
                expires_at: now + TimeDelta::days(10),
                use_every: None,
            })
            .collect()
    }

    /// A token's own secret uses it, as in Okta: its expiry slides a window forward, and
    /// `/api/v1/users/me` answers its owner; once the token is gone or its owner suspended, 401.
    #[tokio::test]
    async fn a_call_with_a_tokens_own_secret_slides_its_expiry() {
        let sim = Simulator::start("admin", tokens(3)).await.unwrap();
        sim.set_token_secret("00T00000000000000001", "own-secret-1");
        sim.set_token_secret("00T00000000000000002", "own-secret-2");
        let me = format!("{}/api/v1/users/me", sim.url());
        let expiry = |id: &str| {
            sim.tokens()
                .into_iter()
                .find(|t| t.id == id)
                .map(|t| t.expires_at)
        };
        let before = expiry("00T00000000000000001").unwrap();

        let response = get(&me, "own-secret-1").await;
        assert_eq!(response.status(), 200);
        let user: Value = serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
        assert_eq!(user["id"], "00u1", "the token's owner");
        let after = expiry("00T00000000000000001").unwrap();
        assert!(after - before > TimeDelta::days(19), "{before} -> {after}");
        assert_eq!(
            expiry("00T00000000000000000").unwrap(),
            before,
            "other tokens are not used"
        );

        let admin = get(&me, "admin").await.bytes().await.unwrap();
        let admin: Value = serde_json::from_slice(&admin).unwrap();
        assert_eq!(admin["id"], ADMIN_USER_ID);
        assert_eq!(get(&me, "not-a-secret").await.status(), 401);

        sim.set_user(SimUser {
            id: "00u1".into(),
            login: "svc@acme.example".into(),
            status: "SUSPENDED".into(),
        });
        let held = expiry("00T00000000000000002").unwrap();
        assert_eq!(get(&me, "own-secret-2").await.status(), 401);
        assert_eq!(
            expiry("00T00000000000000002").unwrap(),
            held,
            "a refused call uses nothing"
        );

        sim.set_user_status("00u1", "ACTIVE");
        assert!(sim.remove_token("00T00000000000000002"));
        assert_eq!(get(&me, "own-secret-2").await.status(), 401, "revoked");
    }

    fn next_link(response: &reqwest::Response) -> Option<String> {
        response
            .headers()
            .get_all("link")
            .iter()
            .map(|v| v.to_str().unwrap())
            .find(|l| l.ends_with("rel=\"next\""))
            .map(|l| l[1..l.find('>').unwrap()].to_owned())
    }

    fn header_number(response: &reqwest::Response, name: &str) -> i64 {
        response.headers()[name].to_str().unwrap().parse().unwrap()
    }

    fn epoch(t: SystemTime) -> i64 {
        t.duration_since(UNIX_EPOCH).unwrap().as_secs() as i64
    }

    async fn json(response: reqwest::Response) -> Value {
        serde_json::from_slice(&response.bytes().await.unwrap()).unwrap()
    }

    /// Every answer, refusals included, has an IMF-fixdate `Date` from the org's clock, and
    /// `X-Rate-Limit-Reset` minus `Date` is what is left of the window, however skewed the clock.
    #[tokio::test]
    async fn every_answer_dates_itself_by_the_orgs_clock_consistently_with_the_reset() {
        let sim = Simulator::start("t", tokens(1)).await.unwrap();
        let skew = TimeDelta::hours(3);
        sim.set_clock_offset(skew);
        let since = (Utc::now() + skew - TimeDelta::minutes(1))
            .to_rfc3339_opts(SecondsFormat::Millis, true);
        for (path, token, status) in [
            ("/api/v1/api-tokens".to_owned(), "t", 200),
            ("/api/v1/users/me".to_owned(), "t", 200),
            (format!("/api/v1/logs?since={since}"), "t", 200),
            ("/api/v1/api-tokens".to_owned(), "wrong", 401),
            ("/api/v1/nowhere".to_owned(), "t", 404),
        ] {
            let before = epoch(SystemTime::now());
            let response = get(&format!("{}{path}", sim.url()), token).await;
            let after = epoch(SystemTime::now());
            assert_eq!(response.status(), status, "{path}");
            let date = response.headers()["date"].to_str().unwrap().to_owned();
            assert!(date.ends_with(" GMT") && date.len() == 29, "{date}");
            let date = DateTime::parse_from_rfc2822(&date).unwrap().timestamp();
            let skew = skew.num_seconds();
            assert!(
                (before + skew..=after + skew).contains(&date),
                "{path}: {date}"
            );
            let reset = header_number(&response, "x-rate-limit-reset");
            assert!(
                (1..=60).contains(&(reset - date)),
                "{path}: {reset} - {date}"
            );
        }
        // A window opened under one clock does not outlive a clock set back.
        sim.set_clock_offset(TimeDelta::zero());
        let response = get(&format!("{}/api/v1/api-tokens", sim.url()), "t").await;
        let date = DateTime::parse_from_rfc2822(response.headers()["date"].to_str().unwrap())
            .unwrap()
            .timestamp();
        assert!((date - epoch(SystemTime::now())).abs() <= 1);
        let reset = header_number(&response, "x-rate-limit-reset");
        assert!((1..=60).contains(&(reset - date)), "{reset} - {date}");
        assert_eq!(
            header_number(&response, "x-rate-limit-remaining"),
            599,
            "a new window"
        );
    }

    /// A one-shot concurrency 429 on users, `users/me` or the logs: limit and remaining 0,
    /// `E0000047`, a reset; only that endpoint, once; the next answer has the real figures.
    #[tokio::test]
    async fn a_concurrency_limit_hits_the_endpoint_it_was_queued_for_once() {
        let sim = Simulator::start("t", tokens(1)).await.unwrap();
        sim.set_user(SimUser {
            id: "00u1".into(),
            login: "svc@acme.example".into(),
            status: "ACTIVE".into(),
        });
        let since =
            (Utc::now() - TimeDelta::minutes(5)).to_rfc3339_opts(SecondsFormat::Millis, true);
        let paths = [
            (SimEndpoint::Users, "/api/v1/users/00u1".to_owned(), 2000),
            (SimEndpoint::Me, "/api/v1/users/me".to_owned(), 2000),
            (
                SimEndpoint::Logs,
                format!("/api/v1/logs?since={since}"),
                120,
            ),
        ];
        for (endpoint, path, limit) in &paths {
            sim.push_endpoint_fault(
                *endpoint,
                Fault::RateLimited {
                    reset_after: Duration::from_secs(5),
                    concurrency: true,
                },
            );
            for (other, other_path, _) in &paths {
                if other != endpoint {
                    let response = get(&format!("{}{other_path}", sim.url()), "t").await;
                    assert_eq!(
                        response.status(),
                        200,
                        "{other:?} while {endpoint:?} is faulted"
                    );
                }
            }
            assert_eq!(
                get(&format!("{}/api/v1/api-tokens", sim.url()), "t")
                    .await
                    .status(),
                200
            );

            let limited = get(&format!("{}{path}", sim.url()), "t").await;
            assert_eq!(limited.status(), 429, "{endpoint:?}");
            assert_eq!(limited.headers()["x-rate-limit-limit"], "0");
            assert_eq!(limited.headers()["x-rate-limit-remaining"], "0");
            let date = DateTime::parse_from_rfc2822(limited.headers()["date"].to_str().unwrap())
                .unwrap()
                .timestamp();
            let reset = header_number(&limited, "x-rate-limit-reset");
            assert!((5..=6).contains(&(reset - date)), "{reset} - {date}");
            assert_eq!(json(limited).await["errorCode"], "E0000047");

            let again = get(&format!("{}{path}", sim.url()), "t").await;
            assert_eq!(again.status(), 200, "{endpoint:?}: once");
            assert_eq!(header_number(&again, "x-rate-limit-limit"), *limit);
            let remaining = header_number(&again, "x-rate-limit-remaining");
            assert!(remaining > 0 && remaining < *limit, "{remaining}");
        }
        // Not a concurrency limit: the endpoint's own limit, none remaining.
        sim.push_endpoint_fault(
            SimEndpoint::Logs,
            Fault::RateLimited {
                reset_after: Duration::from_secs(30),
                concurrency: false,
            },
        );
        let limited = get(&format!("{}/api/v1/logs", sim.url()), "t").await;
        assert_eq!(limited.status(), 429);
        assert_eq!(limited.headers()["x-rate-limit-limit"], "120");
        assert_eq!(limited.headers()["x-rate-limit-remaining"], "0");

        // Other faults apply to these endpoints too.
        sim.push_endpoint_fault(SimEndpoint::Me, Fault::Html { status: 503 });
        let html = get(&format!("{}/api/v1/users/me", sim.url()), "t").await;
        assert_eq!(html.status(), 503);
        assert!(html.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html"));
        sim.push_endpoint_fault(SimEndpoint::Users, Fault::Html { status: 502 });
        sim.clear_faults();
        assert_eq!(
            get(&format!("{}/api/v1/users/00u1", sim.url()), "t")
                .await
                .status(),
            200
        );
        sim.forbid(SimEndpoint::Me, true);
        assert_eq!(
            get(&format!("{}/api/v1/users/me", sim.url()), "t")
                .await
                .status(),
            403
        );
    }

    /// Deactivating a user deletes all of the user's tokens at once and logs
    /// `user.lifecycle.deactivate` with the user as target; late, when asked.
    #[tokio::test]
    async fn deactivating_a_user_deletes_all_their_tokens_at_once() {
        let mut all = tokens(4);
        all[3].user_id = "00u2".into();
        let sim = Simulator::start("t", all).await.unwrap();
        sim.set_user(SimUser {
            id: "00u1".into(),
            login: "svc@acme.example".into(),
            status: "ACTIVE".into(),
        });
        sim.set_token_secret("00T00000000000000000", "own-secret");
        let started = Utc::now();
        let since = (started - TimeDelta::minutes(1)).to_rfc3339_opts(SecondsFormat::Millis, true);
        let filter = "eventType eq \"user.lifecycle.deactivate\"";
        let poll = format!(
            "{}/api/v1/logs?since={since}&filter={}",
            sim.url(),
            url::form_urlencoded::byte_serialize(filter.as_bytes()).collect::<String>()
        );
        let first = get(&poll, "t").await;
        let next = next_link(&first).expect("a polling query always has a next link");
        assert_eq!(json(first).await, json!([]));

        let deleted = sim.deactivate_user("00u1");
        assert_eq!(
            deleted,
            [
                "00T00000000000000000",
                "00T00000000000000001",
                "00T00000000000000002"
            ]
        );
        let listed = json(get(&format!("{}/api/v1/api-tokens", sim.url()), "t").await).await;
        let ids: Vec<&str> = listed
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, ["00T00000000000000003"]);
        let user = json(get(&format!("{}/api/v1/users/00u1", sim.url()), "t").await).await;
        assert_eq!(user["status"], "DEPROVISIONED");
        let me = get(&format!("{}/api/v1/users/me", sim.url()), "own-secret").await;
        assert_eq!(me.status(), 401, "the token is gone");

        let response = get(&next, "t").await;
        let next = next_link(&response).unwrap();
        let events = json(response).await;
        assert_eq!(events.as_array().unwrap().len(), 1, "{events}");
        let event = &events[0];
        assert_eq!(event["eventType"], "user.lifecycle.deactivate");
        assert_eq!(
            event["target"],
            json!([{"id": "00u1", "type": "User", "alternateId": "svc@acme.example",
                    "displayName": "svc@acme.example", "detailEntry": null}])
        );
        assert_eq!(event["actor"]["alternateId"], SIM_ADMIN_LOGIN);
        assert_eq!(event["transaction"]["detail"], json!({}));

        // Late: published ten minutes ago, received now. A reader moving its own window from now
        // on misses it; the polling reader's next link has it.
        let window_start = Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true);
        assert_eq!(
            sim.deactivate_user_late("00u2", TimeDelta::minutes(10)),
            ["00T00000000000000003"]
        );
        let window_end =
            (Utc::now() + TimeDelta::seconds(1)).to_rfc3339_opts(SecondsFormat::Millis, true);
        let bounded = format!(
            "{}/api/v1/logs?since={window_start}&until={window_end}",
            sim.url()
        );
        let bounded = get(&bounded, "t").await;
        assert_eq!(next_link(&bounded), None, "a bounded query ends");
        assert_eq!(json(bounded).await, json!([]));
        let response = get(&next, "t").await;
        assert!(next_link(&response).is_some());
        let events = json(response).await;
        assert_eq!(events[0]["target"][0]["id"], "00u2", "{events}");
        let published =
            DateTime::parse_from_rfc3339(events[0]["published"].as_str().unwrap()).unwrap();
        assert!(published < started - TimeDelta::minutes(9), "{published}");
        let unknown = sim.deactivate_user("00u9");
        assert!(unknown.is_empty());
        let user = json(get(&format!("{}/api/v1/users/00u9", sim.url()), "t").await).await;
        assert_eq!(user["status"], "DEPROVISIONED");
    }

    /// Through HTTP: the `next` link of a polling query keeps `since`, `filter` and `limit`, and
    /// carries an opaque cursor; a late event comes through it; a forged cursor is refused.
    #[tokio::test]
    async fn the_system_log_next_link_keeps_the_query_and_carries_an_opaque_cursor() {
        let sim = Simulator::start("t", tokens(1)).await.unwrap();
        let now = Utc::now();
        let first_uuid = sim.push_log_event(SimLogEvent::token_event(
            now - TimeDelta::minutes(3),
            "system.api_token.create",
            "00T1",
            "admin@acme.example",
        ));
        let since = (now - TimeDelta::minutes(5)).to_rfc3339_opts(SecondsFormat::Millis, true);
        let filter = "eventType sw \"system.api_token.\"";
        let mut url = url::Url::parse(&format!("{}/api/v1/logs", sim.url())).unwrap();
        url.query_pairs_mut()
            .append_pair("since", &since)
            .append_pair("filter", filter)
            .append_pair("limit", "1");
        let response = get(url.as_str(), "t").await;
        let next = url::Url::parse(&next_link(&response).unwrap()).unwrap();
        let events = json(response).await;
        assert_eq!(events[0]["uuid"], first_uuid.as_str());
        let pairs: std::collections::HashMap<String, String> =
            next.query_pairs().into_owned().collect();
        assert_eq!(pairs["since"], since);
        assert_eq!(pairs["filter"], filter);
        assert_eq!(pairs["limit"], "1");
        assert!(
            pairs["after"].parse::<u64>().is_err(),
            "not a bare index: {}",
            pairs["after"]
        );

        sim.push_late_log_event(SimLogEvent::revoke(
            now - TimeDelta::minutes(4),
            "00T2",
            Some("00T1"),
            "admin@acme.example",
        ));
        sim.push_log_event(SimLogEvent::user_deactivated(now, "00u1", "x", "admin"));
        let response = get(next.as_str(), "t").await;
        let after_late = next_link(&response).unwrap();
        let events = json(response).await;
        assert_eq!(events[0]["eventType"], "system.api_token.revoke");
        assert_eq!(
            events[0]["transaction"]["detail"]["requestApiTokenId"],
            "00T1"
        );
        let response = get(&after_late, "t").await;
        assert!(next_link(&response).is_some());
        assert_eq!(
            json(response).await,
            json!([]),
            "the user event does not match the filter"
        );

        let forged = next.as_str().replace("after=", "after=0");
        let refused = get(&forged, "t").await;
        assert_eq!(refused.status(), 400);
        assert_eq!(json(refused).await["errorCode"], "E0000001");
        let old = (now - TimeDelta::days(181)).to_rfc3339_opts(SecondsFormat::Millis, true);
        let mut url = url::Url::parse(&format!("{}/api/v1/logs", sim.url())).unwrap();
        url.query_pairs_mut().append_pair("since", &old);
        let refused = get(url.as_str(), "t").await;
        assert_eq!(refused.status(), 400);
        assert_eq!(json(refused).await["errorCode"], "E0000053");
    }

    #[tokio::test]
    async fn paginates_with_one_link_header_per_relation() {
        let sim = Simulator::start("t", tokens(7)).await.unwrap();
        sim.set_page_size(3);
        let mut url = format!("{}/api/v1/api-tokens?limit=200", sim.url());
        let mut pages = Vec::new();
        loop {
            let response = get(&url, "t").await;
            assert_eq!(response.status(), 200);
            let links: Vec<String> = response
                .headers()
                .get_all("link")
                .iter()
                .map(|v| v.to_str().unwrap().to_owned())
                .collect();
            assert!(links[0].ends_with("rel=\"self\""), "{links:?}");
            assert!(response.headers().contains_key("x-rate-limit-remaining"));
            let body: Vec<Value> =
                serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
            pages.push(body.len());
            match links.iter().find(|l| l.ends_with("rel=\"next\"")) {
                Some(next) => url = next[1..next.find('>').unwrap()].to_owned(),
                None => break,
            }
        }
        assert_eq!(pages, [3, 3, 1]);
    }

    #[tokio::test]
    async fn the_request_log_debug_shows_the_scheme_but_no_credential() {
        let sim = Simulator::start("s3cr3t-token", tokens(1)).await.unwrap();
        get(&format!("{}/api/v1/api-tokens", sim.url()), "s3cr3t-token").await;
        let requests = sim.requests();
        assert_eq!(
            requests[0].authorization.as_deref(),
            Some("SSWS s3cr3t-token")
        );
        let shown = format!("{requests:?}");
        assert!(shown.contains("SSWS (redacted)"), "{shown}");
        assert!(!shown.contains("s3cr3t"), "{shown}");
    }

    #[tokio::test]
    async fn refuses_a_wrong_token_with_okta_error_body() {
        let sim = Simulator::start("right", tokens(1)).await.unwrap();
        let response = get(&format!("{}/api/v1/api-tokens", sim.url()), "wrong").await;
        assert_eq!(response.status(), 401);
        let body: Value = serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
        assert_eq!(body["errorCode"], "E0000011");
        assert!(body["errorId"].as_str().unwrap().starts_with("oae"));
        assert_eq!(sim.requests()[0].status, 401);
    }

    #[tokio::test]
    async fn a_fault_for_page_two_is_consumed_once() {
        let sim = Simulator::start("t", tokens(4)).await.unwrap();
        sim.set_page_size(2);
        sim.push_fault(Some(2), Fault::Html { status: 503 });
        let page2 = format!(
            "{}/api/v1/api-tokens?after=00T00000000000000001&limit=2",
            sim.url()
        );
        assert_eq!(
            get(&format!("{}/api/v1/api-tokens?limit=2", sim.url()), "t")
                .await
                .status(),
            200
        );
        assert_eq!(get(&page2, "t").await.status(), 503);
        assert_eq!(get(&page2, "t").await.status(), 200);
    }

    #[tokio::test]
    async fn rate_limit_faults_announce_the_reset() {
        let sim = Simulator::start("t", tokens(1)).await.unwrap();
        sim.push_fault(
            None,
            Fault::RateLimited {
                reset_after: Duration::from_secs(2),
                concurrency: true,
            },
        );
        let response = get(&format!("{}/api/v1/api-tokens", sim.url()), "t").await;
        assert_eq!(response.status(), 429);
        let reset: u64 = response.headers()["x-rate-limit-reset"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        assert!((now + 1..=now + 3).contains(&reset), "{reset} vs {now}");
        assert_eq!(response.headers()["x-rate-limit-limit"], "0");
    }
}
