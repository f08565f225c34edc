//! The exporter's configuration: which orgs to poll, how to authenticate, how often.
//!
//! It comes from a YAML file (`--config.file`) or, for one org, from flags. Everything is checked
//! before anything is served: unknown keys, duplicate org names, bad URLs, bad durations, missing or
//! empty token files. Each problem is reported with the file, line and key it concerns.
//!
//! ```yaml
//! poll_interval: 5m            # optional, default 5m
//! http:                        # optional; the defaults suit a real Okta org
//!   connect_timeout: 10s
//!   request_timeout: 30s
//!   retries: 3
//!   retry_backoff: 1s
//!   max_response_bytes: 16777216   # one page of Okta's answer, at most
//! orgs:
//!   - name: acme-prod          # the `org` label; unique
//!     url: https://acme.okta.com
//!     auth:
//!       ssws:
//!         token_file: /etc/okta-token-exporter/acme-prod.token   # or token_env: NAME
//!     enrich:                  # optional; everything on by default
//!       owners: true           # GET /api/v1/users/{id} for each token's owner
//!       roles: true            # GET /api/v1/users/{id}/roles: the owner's admin roles
//!       system_log: true       # GET /api/v1/logs for API token events (yellow, revocations)
//!       suspicious_lookback: 24h
//!       rate_limit_share: 0.5  # of an endpoint's remaining rate limit, per poll
//!     posture:                 # optional: the rules of the posture findings
//!       person_login_pattern: '^[a-z]+\.[a-z]+@acme\.com$'   # default: first.last@ without service words
//!       max_token_age: 365d    # the rotation policy; default 365d
//!     keepalive:               # optional: tokens idle by design that the exporter uses
//!       - token_id: 00T1a2b3c4d5e6f7g8h9
//!         token_file: /etc/okta-token-exporter/breakglass.token   # or token_env: NAME
//!         when_expires_within: 10d   # default 10d, before the token turns red at 7 days
//! ```

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use serde_saphyr::Spanned;
use url::Url;

use crate::secret::Secret;
pub use crate::yaml::{parse_yaml, ConfigError, Locator};

mod credentials;
pub use credentials::{read_private_key_file, read_token_env, read_token_file, CredentialError};
use credentials::{resolve_keepalive, resolve_oauth2, resolve_ssws};

// The settings each part takes live with the part; the config file is turned into them here.
pub use crate::enrich::EnrichSettings;
pub use crate::keepalive::KeepAliveToken;
pub use crate::model::posture::{LoginPattern, PostureSettings};
pub use crate::okta::settings::{Auth, HttpSettings, OAuth2Settings, DEFAULT_SCOPES};

/// The environment variable read for the API token when `--okta.token-file` is not given.
pub const TOKEN_ENV: &str = "OKTA_API_TOKEN";

/// The default `poll_interval`.
pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_secs(300);

/// The default `when_expires_within` of a kept-alive token: 10 days, before it turns red at 7.
pub const DEFAULT_KEEPALIVE_WITHIN: Duration = Duration::from_secs(10 * 24 * 3600);

/// A validated configuration, secrets read.
#[derive(Debug, Clone)]
pub struct Config {
    pub poll_interval: Duration,
    pub client: HttpSettings,
    pub orgs: Vec<OrgConfig>,
    /// Where each org's state file lives (`--storage.path`, `storage_path:`); `None`: nowhere.
    pub storage_path: Option<PathBuf>,
}

/// One Okta org to poll.
#[derive(Debug, Clone)]
pub struct OrgConfig {
    /// The `org` label.
    pub name: String,
    /// The org's origin, e.g. `https://acme.okta.com/`.
    pub url: Url,
    pub auth: Auth,
    pub enrich: EnrichSettings,
    /// Tokens the exporter keeps alive by using them (`keepalive:`), in the file's order.
    pub keepalive: Vec<KeepAliveToken>,
    /// What the state file knows the org by when it is not its URL: the demo's simulated org
    /// listens on a new port at each start, and is the same org each time.
    pub stored_as: Option<String>,
}

impl OrgConfig {
    /// The org's URL as pages and logs show it: `https://acme.okta.com`.
    pub fn origin(&self) -> &str {
        self.url.as_str().trim_end_matches('/')
    }

    /// What the org's state file is keyed by, with its name: its URL, or [`OrgConfig::stored_as`].
    pub fn state_url(&self) -> &str {
        self.stored_as.as_deref().unwrap_or(self.origin())
    }
}

/// What the demo's state file knows the simulated org by, whatever port it listens on.
pub const DEMO_STATE_URL: &str = "demo:simulated-org";

/// The shortest poll interval for an org on Okta: a poll lists every token (a request per 200),
/// and the org's rate limits are shared with every other integration; the console's colours
/// move by days. A simulated org on loopback (the demo, tests) may be polled faster.
pub const MIN_POLL_INTERVAL: Duration = Duration::from_secs(60);

// The file as written. Every field the user sets is `Spanned`, so that a value that parses but
// does not validate can still be reported with its line.

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    poll_interval: Option<Spanned<String>>,
    storage_path: Option<Spanned<String>>,
    http: Option<RawHttp>,
    orgs: Option<Spanned<Vec<RawOrg>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHttp {
    connect_timeout: Option<Spanned<String>>,
    request_timeout: Option<Spanned<String>>,
    retries: Option<u32>,
    retry_backoff: Option<Spanned<String>>,
    max_response_bytes: Option<Spanned<usize>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOrg {
    name: Spanned<String>,
    url: Spanned<String>,
    auth: Spanned<RawAuth>,
    enrich: Option<RawEnrich>,
    keepalive: Option<Vec<Spanned<RawKeepAlive>>>,
    posture: Option<RawPosture>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawKeepAlive {
    token_id: Spanned<String>,
    token_file: Option<Spanned<PathBuf>>,
    token_env: Option<Spanned<String>>,
    when_expires_within: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEnrich {
    owners: Option<bool>,
    roles: Option<bool>,
    system_log: Option<bool>,
    suspicious_lookback: Option<Spanned<String>>,
    rate_limit_share: Option<Spanned<f64>>,
}

impl RawEnrich {
    fn resolve(&self, at: &Locator, key: &str) -> Result<EnrichSettings, ConfigError> {
        let mut settings = EnrichSettings::default();
        settings.owners = self.owners.unwrap_or(settings.owners);
        settings.roles = self.roles.unwrap_or(settings.roles);
        settings.system_log = self.system_log.unwrap_or(settings.system_log);
        if let Some(v) = &self.suspicious_lookback {
            settings.suspicious_lookback = parse_interval(&v.value)
                .map_err(|m| at.at(v, format!("{key}.suspicious_lookback"), m))?;
        }
        if let Some(v) = &self.rate_limit_share {
            if !(v.value > 0.0 && v.value <= 1.0) {
                return Err(at.at(
                    v,
                    format!("{key}.rate_limit_share"),
                    format!(
                        "{} is not a share: write a number above 0 and at most 1, e.g. 0.5",
                        v.value
                    ),
                ));
            }
            settings.rate_limit_share = v.value;
        }
        Ok(settings)
    }
}

/// An org's `posture:` settings: the rules of the posture findings.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPosture {
    person_login_pattern: Option<Spanned<String>>,
    max_token_age: Option<Spanned<String>>,
}

impl RawPosture {
    fn resolve(&self, at: &Locator, key: &str) -> Result<PostureSettings, ConfigError> {
        let mut settings = PostureSettings::default();
        if let Some(v) = &self.person_login_pattern {
            let pattern = LoginPattern::new(&v.value).map_err(|m| {
                at.at(
                    v,
                    format!("{key}.person_login_pattern"),
                    format!(
                        "not a regular expression: {}",
                        m.to_string().replace('\n', " ")
                    ),
                )
            })?;
            settings.person_login = Some(pattern);
        }
        if let Some(v) = &self.max_token_age {
            let age = parse_interval(&v.value)
                .map_err(|m| at.at(v, format!("{key}.max_token_age"), m))?;
            settings.max_token_age = chrono::TimeDelta::from_std(age)
                .ok()
                .filter(|age| *age <= chrono::TimeDelta::days(100 * 365))
                .ok_or_else(|| {
                    at.at(
                        v,
                        format!("{key}.max_token_age"),
                        format!("{:?} is longer than a century; write e.g. 365d", v.value),
                    )
                })?;
        }
        Ok(settings)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
enum RawAuth {
    Ssws(RawSsws),
    Oauth2(RawOAuth2),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOAuth2 {
    client_id: Spanned<String>,
    private_key_file: Spanned<PathBuf>,
    key_id: Option<Spanned<String>>,
    scopes: Option<Spanned<Vec<String>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSsws {
    token_file: Option<Spanned<PathBuf>>,
    token_env: Option<Spanned<String>>,
}

impl Config {
    /// Reads, validates and resolves a YAML config file, secrets included.
    pub fn from_file(path: &Path) -> Result<Config, ConfigError> {
        let source = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| {
            ConfigError::of_file(&source, format!("cannot read the config file: {e}"))
        })?;
        Self::from_yaml(&source, &text)
    }

    /// Validates a YAML document; `source` names it in errors.
    pub fn from_yaml(source: &str, text: &str) -> Result<Config, ConfigError> {
        let at = Locator { source };
        let raw: RawConfig = parse_yaml(source, text)?;
        let poll_interval = match &raw.poll_interval {
            Some(v) => parse_interval(&v.value).map_err(|m| at.at(v, "poll_interval", m))?,
            None => DEFAULT_POLL_INTERVAL,
        };
        let client = raw
            .http
            .as_ref()
            .map_or(Ok(HttpSettings::default()), |h| h.resolve(&at))?;
        let storage_path = match &raw.storage_path {
            Some(v) => Some(
                check_storage_path(Path::new(&v.value)).map_err(|m| at.at(v, "storage_path", m))?,
            ),
            None => None,
        };
        let orgs = raw.orgs.ok_or_else(|| ConfigError {
            origin: source.to_owned(),
            line: 1,
            column: 1,
            key: "orgs".into(),
            message: "no orgs configured; add a list of orgs with name, url and auth".into(),
        })?;
        if orgs.value.is_empty() {
            return Err(at.at(&orgs, "orgs", "the list is empty; add at least one org"));
        }
        let mut resolved: Vec<OrgConfig> = Vec::with_capacity(orgs.value.len());
        for (i, org) in orgs.value.iter().enumerate() {
            let key = |field: &str| format!("orgs[{i}].{field}");
            let name = org.name.value.trim();
            if name.is_empty() {
                return Err(at.at(&org.name, key("name"), "must not be empty"));
            }
            if let Some(first) = resolved.iter().position(|o| o.name == name) {
                return Err(at.at(
                    &org.name,
                    key("name"),
                    format!("duplicate org name {name:?}, already used by orgs[{first}]"),
                ));
            }
            let url = parse_org_url(&org.url.value).map_err(|m| at.at(&org.url, key("url"), m))?;
            let auth = match &org.auth.value {
                RawAuth::Ssws(ssws) => resolve_ssws(ssws, &at, &org.auth, &key("auth.ssws"))?,
                RawAuth::Oauth2(oauth2) => resolve_oauth2(oauth2, &at, &key("auth.oauth2"))?,
            };
            let mut enrich = match &org.enrich {
                Some(raw) => raw.resolve(&at, &key("enrich"))?,
                None => EnrichSettings::default(),
            };
            if let Some(raw) = &org.posture {
                enrich.posture = raw.resolve(&at, &key("posture"))?;
            }
            let keepalive = match &org.keepalive {
                Some(list) => resolve_keepalive(list, &at, &key("keepalive"), &auth)?,
                None => Vec::new(),
            };
            resolved.push(OrgConfig {
                name: name.to_owned(),
                url,
                auth,
                enrich,
                keepalive,
                stored_as: None,
            });
        }
        if let (Some(v), Some(org)) = (&raw.poll_interval, on_okta(&resolved)) {
            if let Some(problem) = too_often(poll_interval, org) {
                return Err(at.at(v, "poll_interval", problem));
            }
        }
        Ok(Config {
            poll_interval,
            client,
            orgs: resolved,
            storage_path,
        })
    }
}

/// How the single org of the command line authenticates.
#[derive(Debug, Clone, Copy)]
pub enum SingleOrgCredential<'a> {
    /// `--okta.token-file`, or the `OKTA_API_TOKEN` environment variable when `None`.
    Ssws { token_file: Option<&'a Path> },
    /// `--okta.client-id`, `--okta.private-key-file`, `--okta.key-id`, `--okta.scope` (none
    /// given: [`DEFAULT_SCOPES`], as for the config file).
    OAuth2 {
        client_id: &'a str,
        private_key_file: Option<&'a Path>,
        key_id: Option<&'a str>,
        scopes: &'a [String],
    },
}

impl Config {
    /// One org from flags: `--okta.org-url`, `--okta.token-file` (or the `OKTA_API_TOKEN`
    /// environment variable) and `--okta.org-name` (default: the URL's host).
    pub fn single_org(
        url: &str,
        credential: SingleOrgCredential<'_>,
        name: Option<&str>,
    ) -> Result<Config, ConfigError> {
        let flag = |key: &str, message: String| ConfigError {
            origin: "command line".into(),
            line: 0,
            column: 0,
            key: key.into(),
            message,
        };
        let url = parse_org_url(url).map_err(|e| flag("--okta.org-url", e.to_string()))?;
        let auth = match credential {
            SingleOrgCredential::Ssws {
                token_file: Some(path),
            } => Auth::Ssws {
                token: read_token_file(path).map_err(|e| flag("--okta.token-file", e.to_string()))?,
            },
            SingleOrgCredential::Ssws { token_file: None } => Auth::Ssws {
                token: read_token_env(TOKEN_ENV).map_err(|e| {
                    flag(
                        "--okta.token-file",
                        format!(
                            "not given, and {e}; pass --okta.token-file PATH or set {TOKEN_ENV}, \
                             or use an OAuth 2.0 service app with --okta.client-id and --okta.private-key-file"
                        ),
                    )
                })?,
            },
            SingleOrgCredential::OAuth2 {
                client_id,
                private_key_file,
                key_id,
                scopes,
            } => {
                if client_id.trim().is_empty() {
                    return Err(flag("--okta.client-id", "must not be empty".into()));
                }
                if let Some(bad) = scopes
                    .iter()
                    .find(|s| s.is_empty() || s.contains(char::is_whitespace))
                {
                    return Err(flag(
                        "--okta.scope",
                        format!("{bad:?} is not a scope; give one scope per flag, or separate them with commas"),
                    ));
                }
                let Some(path) = private_key_file else {
                    return Err(flag("--okta.private-key-file", "missing: an OAuth 2.0 service app signs in with the private key registered on it".into()));
                };
                Auth::OAuth2(OAuth2Settings {
                    client_id: client_id.trim().to_owned(),
                    private_key: std::sync::Arc::new(
                        read_private_key_file(path)
                            .map_err(|e| flag("--okta.private-key-file", e.to_string()))?,
                    ),
                    key_id: key_id.map(str::to_owned),
                    scopes: if scopes.is_empty() {
                        DEFAULT_SCOPES.iter().map(|s| (*s).to_owned()).collect()
                    } else {
                        scopes.to_vec()
                    },
                })
            }
        };
        let name = match name {
            Some(name) if name.trim().is_empty() => {
                return Err(flag("--okta.org-name", "must not be empty".into()))
            }
            Some(name) => name.trim().to_owned(),
            None => url.host_str().unwrap_or_default().to_owned(),
        };
        Ok(Config {
            poll_interval: DEFAULT_POLL_INTERVAL,
            client: HttpSettings::default(),
            storage_path: None,
            orgs: vec![OrgConfig {
                name,
                url,
                auth,
                enrich: EnrichSettings::default(),
                keepalive: Vec::new(),
                stored_as: None,
            }],
        })
    }
}

impl RawHttp {
    fn resolve(&self, at: &Locator) -> Result<HttpSettings, ConfigError> {
        let mut settings = HttpSettings::default();
        let fields = [
            (
                &self.connect_timeout,
                "http.connect_timeout",
                &mut settings.connect_timeout,
            ),
            (
                &self.request_timeout,
                "http.request_timeout",
                &mut settings.request_timeout,
            ),
            (
                &self.retry_backoff,
                "http.retry_backoff",
                &mut settings.retry_backoff,
            ),
        ];
        for (value, key, slot) in fields {
            if let Some(v) = value {
                *slot = parse_interval(&v.value).map_err(|m| at.at(v, key, m))?;
            }
        }
        if let Some(retries) = self.retries {
            settings.max_retries = retries;
        }
        if let Some(cap) = &self.max_response_bytes {
            if cap.value < 1024 {
                return Err(at.at(
                    cap,
                    "http.max_response_bytes",
                    "must be at least 1024: one page of tokens needs room",
                ));
            }
            settings.max_body_bytes = cap.value;
        }
        Ok(settings)
    }
}

/// Why a duration or an org URL of the configuration is refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ValueError {
    #[error("invalid duration {text:?}: {source} (write e.g. 30s, 5m, 1h)")]
    Duration {
        text: String,
        source: humantime::DurationError,
    },
    #[error("invalid duration {text:?}: it must be longer than zero")]
    ZeroDuration { text: String },
    #[error("invalid URL {text:?}: {source} (write e.g. https://acme.okta.com)")]
    Url {
        text: String,
        source: url::ParseError,
    },
    #[error("{text:?} uses http://; Okta orgs need https:// (plain http is allowed only for 127.0.0.1, ::1 and localhost)")]
    PlainHttp { text: String },
    #[error("{text:?} has scheme {scheme:?}; write https://your-org.okta.com")]
    Scheme { text: String, scheme: String },
    #[error("{text:?} has no host")]
    NoHost { text: String },
    /// Only the origin is named: the credentials are not repeated.
    #[error("{origin:?} must not hold credentials; put the token in a token file")]
    Credentials { origin: String },
    #[error("{text:?} must be the org's address only, without a path or query (write e.g. https://acme.okta.com)")]
    NotAnOrigin { text: String },
}

/// Parses a humantime duration (`5m`, `30s`, `1h30m`) that must be positive.
pub fn parse_interval(text: &str) -> Result<Duration, ValueError> {
    let duration =
        humantime::parse_duration(text.trim()).map_err(|source| ValueError::Duration {
            text: text.into(),
            source,
        })?;
    if duration.is_zero() {
        return Err(ValueError::ZeroDuration { text: text.into() });
    }
    Ok(duration)
}

/// An org URL: `https://` and only an origin; `http://` only for loopback simulators and tests.
pub fn parse_org_url(text: &str) -> Result<Url, ValueError> {
    let url = Url::parse(text.trim()).map_err(|source| ValueError::Url {
        text: text.into(),
        source,
    })?;
    match url.scheme() {
        "https" => {}
        "http" if is_loopback(&url) => {}
        "http" => return Err(ValueError::PlainHttp { text: text.into() }),
        other => {
            return Err(ValueError::Scheme {
                text: text.into(),
                scheme: other.into(),
            })
        }
    }
    if url.host().is_none() {
        return Err(ValueError::NoHost { text: text.into() });
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(ValueError::Credentials {
            origin: url.origin().ascii_serialization(),
        });
    }
    if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
        return Err(ValueError::NotAnOrigin { text: text.into() });
    }
    Ok(url)
}

/// Whether an org URL names this machine (a simulated org: the demo's, the tests').
fn is_loopback(url: &Url) -> bool {
    matches!(
        url.host(),
        Some(url::Host::Domain("localhost"))
            | Some(url::Host::Ipv4(std::net::Ipv4Addr::LOCALHOST))
            | Some(url::Host::Ipv6(std::net::Ipv6Addr::LOCALHOST))
    )
}

/// Everything the command line says about the configuration: the one input of [`load`].
#[derive(Debug, Clone, Copy, Default)]
pub struct Sources<'a> {
    /// `--config.file`.
    pub file: Option<&'a Path>,
    /// `--okta.org-url`, with its credential and `--okta.org-name`.
    pub single_org: Option<(&'a str, SingleOrgCredential<'a>, Option<&'a str>)>,
    /// `--okta.poll-interval`; wins over the file's `poll_interval`.
    pub poll_interval: Option<Duration>,
    /// `--storage.path`; wins over the file's `storage_path`.
    pub storage_path: Option<&'a Path>,
}

/// A validated configuration, and what a person should hear about it (settings that were
/// turned off, and why).
#[derive(Debug, Clone)]
pub struct Loaded {
    pub config: Config,
    pub notes: Vec<String>,
}

/// The one place that turns the command line into a validated [`Config`]: the file or the
/// single-org flags, the flags that override the file, and what the OAuth 2.0 scopes allow. A
/// start and `--config.check` both go through it, so the check reports everything a start would.
pub fn load(sources: &Sources<'_>) -> Result<Loaded, ConfigError> {
    let config = match (sources.file, sources.single_org) {
        (Some(path), _) => Config::from_file(path)?,
        (None, Some((url, credential, name))) => Config::single_org(url, credential, name)?,
        (None, None) => {
            return Err(ConfigError {
                origin: "command line".into(),
                line: 0,
                column: 0,
                key: String::new(),
                message: "no org to poll: pass --config.file PATH, or --okta.org-url URL with --okta.token-file PATH \
                          (or OKTA_API_TOKEN); to try the exporter without Okta, run `okta-token-exporter demo`"
                    .into(),
            })
        }
    };
    finish(config, sources)
}

/// The configuration of `demo`: its simulated org, with the same overrides as any start.
pub fn demo(
    url: &str,
    token: Secret,
    keepalive: Vec<KeepAliveToken>,
    poll_interval: Duration,
    sources: &Sources<'_>,
) -> Result<Loaded, ConfigError> {
    let url = parse_org_url(url).map_err(|message| ConfigError {
        origin: "demo".into(),
        line: 0,
        column: 0,
        key: "url".into(),
        message: message.to_string(),
    })?;
    let config = Config {
        poll_interval,
        client: HttpSettings::default(),
        storage_path: None,
        orgs: vec![OrgConfig {
            name: "demo".into(),
            url,
            auth: Auth::Ssws { token },
            enrich: EnrichSettings::default(),
            keepalive,
            stored_as: Some(DEMO_STATE_URL.into()),
        }],
    };
    finish(config, sources)
}

/// The flags over the file, then what each org's credential may read.
fn finish(mut config: Config, sources: &Sources<'_>) -> Result<Loaded, ConfigError> {
    if let Some(interval) = sources.poll_interval {
        if let Some(problem) = on_okta(&config.orgs).and_then(|org| too_often(interval, org)) {
            return Err(ConfigError {
                origin: "command line".into(),
                line: 0,
                column: 0,
                key: "--okta.poll-interval".into(),
                message: problem,
            });
        }
        config.poll_interval = interval;
    }
    if let Some(path) = sources.storage_path {
        config.storage_path = Some(check_storage_path(path).map_err(|message| ConfigError {
            origin: "command line".into(),
            line: 0,
            column: 0,
            key: "--storage.path".into(),
            message: message.to_string(),
        })?);
    }
    let mut notes: Vec<String> = config.orgs.iter_mut().flat_map(limit_to_scopes).collect();
    notes.extend(config.orgs.iter_mut().filter_map(limit_roles_to_scopes));
    notes.extend(config.orgs.iter().flat_map(keepalive_notes));
    Ok(Loaded { config, notes })
}

/// The first org that is on Okta rather than a simulator on loopback.
fn on_okta(orgs: &[OrgConfig]) -> Option<&OrgConfig> {
    orgs.iter().find(|o| !is_loopback(&o.url))
}

/// Why polling `org` every `interval` is refused, when it is.
fn too_often(interval: Duration, org: &OrgConfig) -> Option<String> {
    (interval < MIN_POLL_INTERVAL).then(|| {
        format!(
            "{} is shorter than the minimum of {} for an org on Okta ({} at {}): each poll lists \
             every token, and the org's rate limits are shared with every other integration; \
             the console's colours change by days, so polling every 1m to 15m loses nothing",
            humantime::format_duration(interval),
            humantime::format_duration(MIN_POLL_INTERVAL),
            org.name,
            org.origin()
        )
    })
}

/// What a person should know about an org's keep-alive thresholds: one that is reached only
/// after the token turns red (and pages), or one so long that a fresh token is used at once.
pub fn keepalive_notes(org: &OrgConfig) -> Vec<String> {
    const RED: Duration = Duration::from_secs(7 * 24 * 3600);
    const OKTA_DEFAULT_WINDOW: Duration = Duration::from_secs(30 * 24 * 3600);
    let mut notes = Vec::new();
    for k in &org.keepalive {
        let within = match k.when_expires_within.as_secs() {
            86_400 => "1 day".to_owned(),
            s if s % 86_400 == 0 => format!("{} days", s / 86_400),
            _ => humantime::format_duration(k.when_expires_within).to_string(),
        };
        if k.when_expires_within <= RED {
            notes.push(format!("org {}: token {} is kept alive only when it expires within {within}: it turns red, and the expiry alert pages, at 7 days; 10d (the default) uses it before that", org.name, k.token_id));
        } else if k.when_expires_within >= OKTA_DEFAULT_WINDOW {
            notes.push(format!("org {}: token {} is kept alive when it expires within {within}: with Okta's default 30-day window that is at every poll; 10d (the default) uses it about once every 20 days", org.name, k.token_id));
        }
    }
    notes
}

/// Turns off the enrichment an org's OAuth 2.0 scopes do not cover; says what it turned off.
pub fn limit_to_scopes(org: &mut OrgConfig) -> Vec<String> {
    let Auth::OAuth2(oauth) = &org.auth else {
        return Vec::new();
    };
    let mut notes = Vec::new();
    if org.enrich.owners && !oauth.has_scope("okta.users.read") {
        org.enrich.owners = false;
        notes.push(format!("org {}: owner lookups are off: add okta.users.read to the org's oauth2 scopes (and grant it to the app) to turn them on", org.name));
    }
    if org.enrich.system_log && !oauth.has_scope("okta.logs.read") {
        org.enrich.system_log = false;
        notes.push(format!("org {}: System Log queries are off: add okta.logs.read to the org's oauth2 scopes (and grant it to the app) to turn them on", org.name));
    }
    notes
}

/// Turns off the roles lookup of an org whose OAuth 2.0 scopes lack `okta.roles.read` (asking a
/// scope the app was not granted would fail every token request); says so.
pub fn limit_roles_to_scopes(org: &mut OrgConfig) -> Option<String> {
    let Auth::OAuth2(oauth) = &org.auth else {
        return None;
    };
    (org.enrich.roles && !oauth.has_scope("okta.roles.read")).then(|| {
        org.enrich.roles = false;
        format!("org {}: owner admin roles are not looked up (token posture reads \"unknown\"): add okta.roles.read to the org's oauth2 scopes (and grant it to the app) to turn them on", org.name)
    })
}

/// Why a state directory cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum StoragePathError {
    #[error("{} is not a directory", path.display())]
    NotADirectory { path: PathBuf },
    #[error("cannot use {} as the state directory: {source}; create it, writable by the exporter's user", path.display())]
    Unusable {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Checks a state directory: it must exist and be a directory (the exporter writes a file per
/// org in it, and does not create it, so that a typo does not scatter state around).
pub fn check_storage_path(path: &Path) -> Result<PathBuf, StoragePathError> {
    match std::fs::metadata(path) {
        Ok(meta) if meta.is_dir() => Ok(path.to_owned()),
        Ok(_) => Err(StoragePathError::NotADirectory {
            path: path.to_owned(),
        }),
        Err(source) => Err(StoragePathError::Unusable {
            path: path.to_owned(),
            source,
        }),
    }
}

#[cfg(test)]
mod tests;
