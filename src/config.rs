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
//!       system_log: true       # GET /api/v1/logs for API token events (yellow, revocations)
//!       suspicious_lookback: 24h
//!       rate_limit_share: 0.5  # of an endpoint's remaining rate limit, per poll
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

// The settings each part takes live with the part; the config file is turned into them here.
pub use crate::enrich::EnrichSettings;
pub use crate::keepalive::KeepAliveToken;
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
}

impl OrgConfig {
    /// The org's URL as pages and logs show it: `https://acme.okta.com`.
    pub fn origin(&self) -> &str {
        self.url.as_str().trim_end_matches('/')
    }
}

/// A configuration problem, located as precisely as we can:
/// `source[:line:column][: key]: message`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{origin}{}{}: {message}", location(*line, *column), key_part(key))]
pub struct ConfigError {
    /// Where the setting came from: a file path, or `command line`.
    pub origin: String,
    /// 1-based line and column in the file; 0 when unknown (e.g. for flags).
    pub line: u64,
    pub column: u64,
    /// The key, as a path (`orgs[1].auth.ssws.token_file`) or a flag (`--okta.org-url`).
    pub key: String,
    pub message: String,
}

fn location(line: u64, column: u64) -> String {
    if line > 0 {
        format!(":{line}:{column}")
    } else {
        String::new()
    }
}

fn key_part(key: &str) -> String {
    if key.is_empty() {
        String::new()
    } else {
        format!(": {key}")
    }
}

impl ConfigError {
    /// A problem with a whole file (it cannot be read), rather than with a line of it.
    pub(crate) fn of_file(source: &str, message: String) -> ConfigError {
        ConfigError {
            origin: source.to_owned(),
            line: 0,
            column: 0,
            key: String::new(),
            message,
        }
    }
}

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
    system_log: Option<bool>,
    suspicious_lookback: Option<Spanned<String>>,
    rate_limit_share: Option<Spanned<f64>>,
}

impl RawEnrich {
    fn resolve(&self, at: &Locator, key: &str) -> Result<EnrichSettings, ConfigError> {
        let mut settings = EnrichSettings::default();
        settings.owners = self.owners.unwrap_or(settings.owners);
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

/// Builds errors for one source.
pub(crate) struct Locator<'a> {
    pub(crate) source: &'a str,
}

impl Locator<'_> {
    pub(crate) fn at<T>(
        &self,
        spanned: &Spanned<T>,
        key: impl Into<String>,
        message: impl Into<String>,
    ) -> ConfigError {
        ConfigError {
            origin: self.source.to_owned(),
            line: spanned.referenced.line(),
            column: spanned.referenced.column(),
            key: key.into(),
            message: message.into(),
        }
    }
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
            let enrich = match &org.enrich {
                Some(raw) => raw.resolve(&at, &key("enrich"))?,
                None => EnrichSettings::default(),
            };
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
            });
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
    /// `--okta.client-id`, `--okta.private-key-file`, `--okta.key-id`.
    OAuth2 {
        client_id: &'a str,
        private_key_file: Option<&'a Path>,
        key_id: Option<&'a str>,
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
        let url = parse_org_url(url).map_err(|m| flag("--okta.org-url", m))?;
        let auth = match credential {
            SingleOrgCredential::Ssws {
                token_file: Some(path),
            } => Auth::Ssws {
                token: read_token_file(path).map_err(|m| flag("--okta.token-file", m))?,
            },
            SingleOrgCredential::Ssws { token_file: None } => Auth::Ssws {
                token: read_token_env(TOKEN_ENV).map_err(|m| {
                    flag(
                        "--okta.token-file",
                        format!(
                            "not given, and {m}; pass --okta.token-file PATH or set {TOKEN_ENV}, \
                             or use an OAuth 2.0 service app with --okta.client-id and --okta.private-key-file"
                        ),
                    )
                })?,
            },
            SingleOrgCredential::OAuth2 {
                client_id,
                private_key_file,
                key_id,
            } => {
                if client_id.trim().is_empty() {
                    return Err(flag("--okta.client-id", "must not be empty".into()));
                }
                let Some(path) = private_key_file else {
                    return Err(flag("--okta.private-key-file", "missing: an OAuth 2.0 service app signs in with the private key registered on it".into()));
                };
                Auth::OAuth2(OAuth2Settings {
                    client_id: client_id.trim().to_owned(),
                    private_key: std::sync::Arc::new(
                        read_private_key_file(path)
                            .map_err(|m| flag("--okta.private-key-file", m))?,
                    ),
                    key_id: key_id.map(str::to_owned),
                    scopes: DEFAULT_SCOPES.iter().map(|s| (*s).to_owned()).collect(),
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

/// Parses a YAML document into `T`; a syntax error or an unknown key names `source`, line and
/// column.
pub(crate) fn parse_yaml<T: serde::de::DeserializeOwned>(
    source: &str,
    text: &str,
) -> Result<T, ConfigError> {
    // serde_path_to_error tracks where in the document an error happened (`orgs[0].url`);
    // the YAML parser knows the line and column. Together they name the setting exactly.
    let path = std::cell::RefCell::new(String::new());
    serde_saphyr::with_deserializer_from_str_with_options(text, yaml_options(), |deserializer| {
        serde_path_to_error::deserialize(deserializer).map_err(|e| {
            *path.borrow_mut() = key_path(e.path());
            e.into_inner()
        })
    })
    .map_err(|e| {
        let location = e.location();
        ConfigError {
            origin: source.to_owned(),
            line: location.map_or(0, |l| l.line()),
            column: location.map_or(0, |l| l.column()),
            key: path.take(),
            message: strip_location(&e.to_string()).to_owned(),
        }
    })
}

/// `orgs[0].auth.ssws`, from serde_path_to_error's path; empty at the top of the document.
fn key_path(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut out = String::new();
    for segment in path.iter() {
        match segment {
            Segment::Seq { index } => out.push_str(&format!("[{index}]")),
            // `Spanned` (which keeps a setting's line for later checks) adds a `value` level of
            // its own; no setting of ours is called `value`.
            Segment::Map { key } if key == "value" => {}
            Segment::Map { key } | Segment::Enum { variant: key } => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(key);
            }
            Segment::Unknown => {}
        }
    }
    out
}

/// The YAML parser ends its messages with `at line L, column C`; we print the location up front.
fn strip_location(message: &str) -> &str {
    match message.rfind(" at line ") {
        Some(i) if message[i..].contains(", column ") => &message[..i],
        _ => message,
    }
}

fn yaml_options() -> serde_saphyr::Options {
    // A compact one-line message: the caller adds file, line and column.
    let mut options = serde_saphyr::Options::default();
    options.with_snippet = false;
    options
}

fn resolve_ssws(
    ssws: &RawSsws,
    at: &Locator,
    auth: &Spanned<RawAuth>,
    key: &str,
) -> Result<Auth, ConfigError> {
    let token = read_token_source(&ssws.token_file, &ssws.token_env, at, auth, key)?;
    Ok(Auth::Ssws { token })
}

/// The API token named by exactly one of `token_file` and `token_env` of the setting at `key`.
fn read_token_source<T>(
    file: &Option<Spanned<PathBuf>>,
    env: &Option<Spanned<String>>,
    at: &Locator,
    setting: &Spanned<T>,
    key: &str,
) -> Result<Secret, ConfigError> {
    match (file, env) {
        (Some(file), None) => {
            read_token_file(&file.value).map_err(|m| at.at(file, format!("{key}.token_file"), m))
        }
        (None, Some(env)) => read_token_env(&env.value).map_err(|m| at.at(env, format!("{key}.token_env"), m)),
        (Some(file), Some(_)) => Err(at.at(file, key, "set either token_file or token_env, not both")),
        (None, None) => Err(at.at(setting, key, "set token_file (a file holding the API token) or token_env (an environment variable holding it)")),
    }
}

/// The `keepalive:` list of an org: each token id once, each with its own token, none of them
/// the exporter's own. Ids are not checked against Okta here: an unknown id is reported once the
/// org is polled.
fn resolve_keepalive(
    list: &[Spanned<RawKeepAlive>],
    at: &Locator,
    key: &str,
    auth: &Auth,
) -> Result<Vec<KeepAliveToken>, ConfigError> {
    let mut resolved: Vec<KeepAliveToken> = Vec::with_capacity(list.len());
    for (i, entry) in list.iter().enumerate() {
        let key = format!("{key}[{i}]");
        let raw = &entry.value;
        let token_id = raw.token_id.value.trim();
        if token_id.is_empty() || !token_id.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(at.at(
                &raw.token_id,
                format!("{key}.token_id"),
                format!("{token_id:?} is not an Okta token id; copy the id from the token's row in the admin console or from /api/v1/tokens (e.g. 00T1a2b3c4d5e6f7g8h9)"),
            ));
        }
        if let Some(first) = resolved.iter().position(|k| k.token_id == token_id) {
            return Err(at.at(
                &raw.token_id,
                format!("{key}.token_id"),
                format!("token {token_id} is listed twice, already as keepalive[{first}]"),
            ));
        }
        let secret = read_token_source(&raw.token_file, &raw.token_env, at, entry, &key)?;
        let at_source = |message: String| match (&raw.token_file, &raw.token_env) {
            (Some(file), _) => at.at(file, format!("{key}.token_file"), message),
            (None, Some(env)) => at.at(env, format!("{key}.token_env"), message),
            (None, None) => at.at(entry, key.clone(), message),
        };
        if let Some(first) = resolved.iter().position(|k| k.secret == secret) {
            return Err(at_source(format!("holds the same token as keepalive[{first}]; each entry needs the secret of its own token")));
        }
        if matches!(auth, Auth::Ssws { token } if *token == secret) {
            return Err(at_source("holds the exporter's own API token for this org, which every poll uses already; list only other tokens".into()));
        }
        let when_expires_within = match &raw.when_expires_within {
            Some(v) => parse_interval(&v.value)
                .map_err(|m| at.at(v, format!("{key}.when_expires_within"), m))?,
            None => DEFAULT_KEEPALIVE_WITHIN,
        };
        let source = match (&raw.token_file, &raw.token_env) {
            (Some(file), _) => file.value.display().to_string(),
            (None, Some(env)) => format!("${}", env.value),
            (None, None) => String::new(),
        };
        resolved.push(KeepAliveToken {
            token_id: token_id.to_owned(),
            secret,
            when_expires_within,
            source,
        });
    }
    Ok(resolved)
}

fn resolve_oauth2(raw: &RawOAuth2, at: &Locator, key: &str) -> Result<Auth, ConfigError> {
    let client_id = raw.client_id.value.trim();
    if client_id.is_empty() {
        return Err(at.at(
            &raw.client_id,
            format!("{key}.client_id"),
            "must not be empty; copy the app's Client ID from the Okta admin console",
        ));
    }
    let private_key = read_private_key_file(&raw.private_key_file.value)
        .map_err(|m| at.at(&raw.private_key_file, format!("{key}.private_key_file"), m))?;
    let key_id = match &raw.key_id {
        Some(kid) if kid.value.trim().is_empty() => {
            return Err(at.at(
                kid,
                format!("{key}.key_id"),
                "must not be empty; leave it out when the app has one key",
            ))
        }
        Some(kid) => Some(kid.value.trim().to_owned()),
        None => None,
    };
    let scopes = match &raw.scopes {
        Some(scopes) => {
            if scopes.value.is_empty() {
                return Err(at.at(
                    scopes,
                    format!("{key}.scopes"),
                    "the list is empty; the exporter needs at least okta.apiTokens.read",
                ));
            }
            if let Some(bad) = scopes
                .value
                .iter()
                .find(|s| s.is_empty() || s.contains(char::is_whitespace))
            {
                return Err(at.at(
                    scopes,
                    format!("{key}.scopes"),
                    format!("{bad:?} is not a scope; write one scope per list item"),
                ));
            }
            scopes.value.clone()
        }
        None => DEFAULT_SCOPES.iter().map(|s| (*s).to_owned()).collect(),
    };
    Ok(Auth::OAuth2(OAuth2Settings {
        client_id: client_id.to_owned(),
        private_key: std::sync::Arc::new(private_key),
        key_id,
        scopes,
    }))
}

/// Reads the PEM private key of an OAuth 2.0 service app (RSA, or EC P-256 in PKCS#8).
pub fn read_private_key_file(path: &Path) -> Result<crate::jose::SigningKey, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read the private key file {}: {e}", path.display()))?;
    warn_if_readable_by_others(path);
    let pem = Secret::new(text);
    crate::jose::SigningKey::from_pem(pem.expose()).map_err(|e| format!("{}: {e}", path.display()))
}

/// Parses a humantime duration (`5m`, `30s`, `1h30m`) that must be positive.
pub fn parse_interval(text: &str) -> Result<Duration, String> {
    let duration = humantime::parse_duration(text.trim())
        .map_err(|e| format!("invalid duration {text:?}: {e} (write e.g. 30s, 5m, 1h)"))?;
    if duration.is_zero() {
        return Err(format!(
            "invalid duration {text:?}: it must be longer than zero"
        ));
    }
    Ok(duration)
}

/// An org URL: `https://` and only an origin; `http://` only for loopback simulators and tests.
pub fn parse_org_url(text: &str) -> Result<Url, String> {
    let url = Url::parse(text.trim())
        .map_err(|e| format!("invalid URL {text:?}: {e} (write e.g. https://acme.okta.com)"))?;
    let loopback = matches!(
        url.host(),
        Some(url::Host::Domain("localhost"))
            | Some(url::Host::Ipv4(std::net::Ipv4Addr::LOCALHOST))
            | Some(url::Host::Ipv6(std::net::Ipv6Addr::LOCALHOST))
    );
    match url.scheme() {
        "https" => {}
        "http" if loopback => {}
        "http" => return Err(format!("{text:?} uses http://; Okta orgs need https:// (plain http is allowed only for 127.0.0.1, ::1 and localhost)")),
        other => return Err(format!("{text:?} has scheme {other:?}; write https://your-org.okta.com")),
    }
    if url.host().is_none() {
        return Err(format!("{text:?} has no host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(format!(
            "{:?} must not hold credentials; put the token in a token file",
            url.origin().ascii_serialization()
        ));
    }
    if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
        return Err(format!("{text:?} must be the org's address only, without a path or query (write e.g. https://acme.okta.com)"));
    }
    Ok(url)
}

/// Reads an API token from a file: the trailing newline is trimmed, an empty file is an error,
/// and a file that others may read gets a warning.
pub fn read_token_file(path: &Path) -> Result<Secret, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read the token file {}: {e}", path.display()))?;
    warn_if_readable_by_others(path);
    let token = text.trim_end_matches(['\n', '\r']);
    if token.trim().is_empty() {
        return Err(format!("the token file {} is empty", path.display()));
    }
    if token.chars().any(char::is_whitespace) {
        return Err(format!(
            "the token file {} holds whitespace inside the token; it must hold the token alone",
            path.display()
        ));
    }
    Ok(Secret::new(token))
}

/// Reads an API token from an environment variable.
pub fn read_token_env(name: &str) -> Result<Secret, String> {
    match std::env::var(name) {
        Ok(value) if !value.trim().is_empty() => Ok(Secret::new(value.trim())),
        Ok(_) => Err(format!("the environment variable {name} is empty")),
        Err(_) => Err(format!("the environment variable {name} is not set")),
    }
}

#[cfg(unix)]
fn warn_if_readable_by_others(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(meta) = std::fs::metadata(path) {
        let mode = meta.permissions().mode();
        if mode & 0o077 != 0 {
            tracing::warn!(file = %path.display(), mode = format!("{:o}", mode & 0o777), "the file holds a secret and is readable by group or others; chmod 600 it");
        }
    }
}

#[cfg(not(unix))]
fn warn_if_readable_by_others(_: &Path) {}

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
        message,
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
        }],
    };
    finish(config, sources)
}

/// The flags over the file, then what each org's credential may read.
fn finish(mut config: Config, sources: &Sources<'_>) -> Result<Loaded, ConfigError> {
    if let Some(interval) = sources.poll_interval {
        config.poll_interval = interval;
    }
    if let Some(path) = sources.storage_path {
        config.storage_path = Some(check_storage_path(path).map_err(|message| ConfigError {
            origin: "command line".into(),
            line: 0,
            column: 0,
            key: "--storage.path".into(),
            message,
        })?);
    }
    let mut notes: Vec<String> = config.orgs.iter_mut().flat_map(limit_to_scopes).collect();
    notes.extend(config.orgs.iter().flat_map(keepalive_notes));
    Ok(Loaded { config, notes })
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

/// Checks a state directory: it must exist and be a directory (the exporter writes a file per
/// org in it, and does not create it, so that a typo does not scatter state around).
pub fn check_storage_path(path: &Path) -> Result<PathBuf, String> {
    match std::fs::metadata(path) {
        Ok(meta) if meta.is_dir() => Ok(path.to_owned()),
        Ok(_) => Err(format!("{} is not a directory", path.display())),
        Err(e) => Err(format!(
            "cannot use {} as the state directory: {e}; create it, writable by the exporter's user",
            path.display()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn token_file(content: &str) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(content.as_bytes()).unwrap();
        f
    }

    fn org_yaml(token_path: &Path) -> String {
        format!(
            "orgs:\n  - name: acme-prod\n    url: https://acme.okta.com\n    auth:\n      ssws:\n        token_file: {}\n",
            token_path.display()
        )
    }

    #[test]
    fn reads_a_full_config() {
        let token = token_file("00abc-secret\n");
        let yaml = format!(
            "poll_interval: 2m\nhttp:\n  request_timeout: 5s\n  retries: 1\n{}",
            org_yaml(token.path())
        );
        let config = Config::from_yaml("test.yml", &yaml).unwrap();
        assert_eq!(config.poll_interval, Duration::from_secs(120));
        assert_eq!(config.client.request_timeout, Duration::from_secs(5));
        assert_eq!(config.client.max_retries, 1);
        assert_eq!(config.orgs.len(), 1);
        assert_eq!(config.orgs[0].name, "acme-prod");
        assert_eq!(config.orgs[0].url.as_str(), "https://acme.okta.com/");
        let Auth::Ssws { token } = &config.orgs[0].auth else {
            panic!("an SSWS org")
        };
        assert_eq!(token.expose(), "00abc-secret", "trailing newline trimmed");
        assert!(
            !format!("{config:?}").contains("00abc-secret"),
            "Debug must redact"
        );
    }

    #[test]
    fn defaults_apply_when_omitted() {
        let token = token_file("t");
        let config = Config::from_yaml("x.yml", &org_yaml(token.path())).unwrap();
        assert_eq!(config.poll_interval, DEFAULT_POLL_INTERVAL);
        assert_eq!(config.client, HttpSettings::default());
    }

    /// Each bad config names the file, the line, the key and the problem.
    #[test]
    fn every_bad_config_gets_an_error_naming_file_line_and_key() {
        let token = token_file("t");
        let empty = token_file("\n");
        let tp = token.path().display().to_string();
        let ep = empty.path().display().to_string();
        let org = |name: &str, url: &str, auth: &str| {
            format!("  - name: {name}\n    url: {url}\n    auth:\n{auth}")
        };
        let ssws = format!("      ssws:\n        token_file: {tp}\n");
        let cases: Vec<(&str, String, u64, &str, &str)> = vec![
            (
                "unknown top-level key",
                format!(
                    "poll_intervall: 5m\norgs:\n{}",
                    org("a", "https://a.okta.com", &ssws)
                ),
                1,
                "poll_intervall",
                "unknown field `poll_intervall`",
            ),
            (
                "unknown org key",
                format!(
                    "orgs:\n{}    region: eu\n",
                    org("a", "https://a.okta.com", &ssws)
                ),
                7,
                "orgs[0].region",
                "unknown field `region`",
            ),
            (
                "unknown auth kind",
                format!(
                    "orgs:\n{}",
                    org("a", "https://a.okta.com", "      kerberos: {}\n")
                ),
                5,
                "orgs[0].auth",
                "kerberos",
            ),
            (
                "duplicate org name",
                format!(
                    "orgs:\n{}{}",
                    org("a", "https://a.okta.com", &ssws),
                    org("a", "https://b.okta.com", &ssws)
                ),
                7,
                "orgs[1].name",
                "duplicate org name \"a\"",
            ),
            (
                "http url",
                format!("orgs:\n{}", org("a", "http://a.okta.com", &ssws)),
                3,
                "orgs[0].url",
                "https://",
            ),
            (
                "not a url",
                format!("orgs:\n{}", org("a", "acme.okta.com", &ssws)),
                3,
                "orgs[0].url",
                "invalid URL",
            ),
            (
                "url with a path",
                format!("orgs:\n{}", org("a", "https://a.okta.com/api/v1", &ssws)),
                3,
                "orgs[0].url",
                "without a path",
            ),
            (
                "bad poll interval",
                format!(
                    "poll_interval: 5 minutes please\norgs:\n{}",
                    org("a", "https://a.okta.com", &ssws)
                ),
                1,
                "poll_interval",
                "invalid duration",
            ),
            (
                "zero poll interval",
                format!(
                    "poll_interval: 0s\norgs:\n{}",
                    org("a", "https://a.okta.com", &ssws)
                ),
                1,
                "poll_interval",
                "longer than zero",
            ),
            (
                "bad timeout",
                format!(
                    "http:\n  request_timeout: soon\norgs:\n{}",
                    org("a", "https://a.okta.com", &ssws)
                ),
                2,
                "http.request_timeout",
                "invalid duration",
            ),
            (
                "missing token file",
                format!(
                    "orgs:\n{}",
                    org(
                        "a",
                        "https://a.okta.com",
                        "      ssws:\n        token_file: /nonexistent/okta.token\n"
                    )
                ),
                6,
                "orgs[0].auth.ssws.token_file",
                "cannot read the token file /nonexistent/okta.token",
            ),
            (
                "empty token file",
                format!(
                    "orgs:\n{}",
                    org(
                        "a",
                        "https://a.okta.com",
                        &format!("      ssws:\n        token_file: {ep}\n")
                    )
                ),
                6,
                "orgs[0].auth.ssws.token_file",
                "is empty",
            ),
            (
                "unset token env",
                format!(
                    "orgs:\n{}",
                    org(
                        "a",
                        "https://a.okta.com",
                        "      ssws:\n        token_env: OKTA_TEST_SURELY_UNSET_VARIABLE\n"
                    )
                ),
                6,
                "orgs[0].auth.ssws.token_env",
                "is not set",
            ),
            (
                "no token source",
                format!(
                    "orgs:\n{}",
                    org("a", "https://a.okta.com", "      ssws: {}\n")
                ),
                5,
                "orgs[0].auth.ssws",
                "set token_file",
            ),
            (
                "empty org name",
                format!("orgs:\n{}", org("\"\"", "https://a.okta.com", &ssws)),
                2,
                "orgs[0].name",
                "must not be empty",
            ),
            (
                "no orgs",
                "poll_interval: 5m\n".to_owned(),
                1,
                "orgs",
                "no orgs configured",
            ),
            (
                "empty orgs",
                "orgs: []\n".to_owned(),
                1,
                "orgs",
                "the list is empty",
            ),
            (
                "not yaml",
                "orgs: [\n".to_owned(),
                1,
                "orgs",
                "unclosed bracket",
            ),
        ];
        for (name, yaml, line, key, needle) in cases {
            let err = Config::from_yaml("/etc/okta.yml", &yaml).expect_err(name);
            assert_eq!(err.origin, "/etc/okta.yml", "{name}");
            assert_eq!(err.line, line, "{name}: {err}");
            assert_eq!(err.key, key, "{name}: {err}");
            assert!(err.message.contains(needle), "{name}: {err}");
            assert!(
                !err.message.contains(" at line "),
                "{name}: location said twice: {err}"
            );
            assert!(
                err.to_string()
                    .starts_with(&format!("/etc/okta.yml:{line}:")),
                "{name}: {err}"
            );
        }
    }

    /// The keepalive list: each entry names a token once, with its own secret, never the
    /// exporter's; every mistake names its line and key.
    #[test]
    fn keepalive_entries_are_checked_before_anything_runs() {
        let own = token_file("00own-token\n");
        let kept = token_file("00kept-token\n");
        let other = token_file("00other-token\n");
        let empty = token_file("\n");
        let yaml = |entries: &str| {
            format!(
                "orgs:\n  - name: acme\n    url: https://acme.okta.com\n    auth:\n      ssws:\n        token_file: {}\n    keepalive:\n{entries}",
                own.path().display()
            )
        };
        let entry = |id: &str, file: &Path| {
            format!(
                "      - token_id: {id}\n        token_file: {}\n",
                file.display()
            )
        };

        let good = format!(
            "{}{}        when_expires_within: 14d\n",
            entry("00Tkept", kept.path()),
            entry("00Tother", other.path())
        );
        let config = Config::from_yaml("c.yml", &yaml(&good)).unwrap();
        let list = &config.orgs[0].keepalive;
        assert_eq!(list.len(), 2);
        assert_eq!(list[0].token_id, "00Tkept");
        assert_eq!(list[0].secret.expose(), "00kept-token");
        assert_eq!(list[0].when_expires_within, DEFAULT_KEEPALIVE_WITHIN);
        assert_eq!(
            list[1].when_expires_within,
            Duration::from_secs(14 * 86_400)
        );
        assert_eq!(list[1].source, other.path().display().to_string());
        assert!(
            !format!("{config:?}").contains("kept-token"),
            "Debug shows no secret"
        );

        // (case, entries, line, key, message)
        let cases = [
            (
                "the same id twice",
                format!(
                    "{}{}",
                    entry("00Tkept", kept.path()),
                    entry("00Tkept", other.path())
                ),
                10,
                "orgs[0].keepalive[1].token_id",
                "listed twice, already as keepalive[0]",
            ),
            (
                "the same secret twice",
                format!(
                    "{}{}",
                    entry("00Tkept", kept.path()),
                    entry("00Tother", kept.path())
                ),
                11,
                "orgs[0].keepalive[1].token_file",
                "the same token as keepalive[0]",
            ),
            (
                "the exporter's own token",
                entry("00Town", own.path()),
                9,
                "orgs[0].keepalive[0].token_file",
                "the exporter's own API token",
            ),
            (
                "a missing file",
                entry("00Tkept", Path::new("/nonexistent/kept.token")),
                9,
                "orgs[0].keepalive[0].token_file",
                "cannot read the token file /nonexistent/kept.token",
            ),
            (
                "an empty file",
                entry("00Tkept", empty.path()),
                9,
                "orgs[0].keepalive[0].token_file",
                "is empty",
            ),
            (
                "no secret",
                "      - token_id: 00Tkept\n".to_owned(),
                8,
                "orgs[0].keepalive[0]",
                "set token_file",
            ),
            (
                "not a token id",
                entry("\"00T kept\"", kept.path()),
                8,
                "orgs[0].keepalive[0].token_id",
                "is not an Okta token id",
            ),
            (
                "a bad threshold",
                format!(
                    "{}        when_expires_within: soon\n",
                    entry("00Tkept", kept.path())
                ),
                10,
                "orgs[0].keepalive[0].when_expires_within",
                "invalid duration",
            ),
            (
                "an unknown key",
                format!("{}        when: 10d\n", entry("00Tkept", kept.path())),
                10,
                "orgs[0].keepalive[0].when",
                "unknown field `when`",
            ),
        ];
        for (case, entries, line, key, needle) in cases {
            let error = Config::from_yaml("c.yml", &yaml(&entries)).expect_err(case);
            assert_eq!(
                (error.line, error.key.as_str()),
                (line, key),
                "{case}: {error}"
            );
            assert!(error.message.contains(needle), "{case}: {error}");
            for secret in ["own-token", "kept-token", "other-token"] {
                assert!(!error.to_string().contains(secret), "{case}: {error}");
            }
        }
    }

    #[test]
    fn a_keepalive_threshold_past_red_or_past_the_window_gets_a_note() {
        let org = |days: u64| OrgConfig {
            name: "acme".into(),
            url: parse_org_url("https://acme.okta.com").unwrap(),
            auth: Auth::Ssws {
                token: Secret::new("t"),
            },
            enrich: EnrichSettings::default(),
            keepalive: vec![KeepAliveToken {
                token_id: "00T1".into(),
                secret: Secret::new("k"),
                when_expires_within: Duration::from_secs(days * 86_400),
                source: "k.token".into(),
            }],
        };
        let cases = [
            (1, "turns red"),
            (7, "turns red"),
            (8, ""),
            (10, ""),
            (29, ""),
            (30, "at every poll"),
        ];
        for (days, needle) in cases {
            let notes = keepalive_notes(&org(days));
            match needle {
                "" => assert!(notes.is_empty(), "{days}d: {notes:?}"),
                _ => assert!(
                    notes.len() == 1 && notes[0].contains(needle),
                    "{days}d: {notes:?}"
                ),
            }
        }
    }

    #[test]
    fn org_urls_must_be_https_except_on_loopback() {
        let cases = [
            ("https://acme.okta.com", true),
            ("https://acme.okta.com/", true),
            ("https://acme.oktapreview.com:8443", true),
            ("http://127.0.0.1:8080", true),
            ("http://localhost:8080", true),
            ("http://[::1]:8080", true),
            ("http://acme.okta.com", false),
            ("http://127.0.0.2", false),
            ("http://10.0.0.1", false),
            ("ftp://acme.okta.com", false),
            ("https://user:pw@acme.okta.com", false),
            ("https://acme.okta.com/?x=1", false),
            ("https://acme.okta.com/#x", false),
            ("", false),
        ];
        for (url, ok) in cases {
            assert_eq!(
                parse_org_url(url).is_ok(),
                ok,
                "{url}: {:?}",
                parse_org_url(url)
            );
        }
    }

    #[test]
    fn an_oauth2_app_is_configured_with_its_key_and_scopes() {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("app.pem");
        std::fs::write(&key, rcgen::KeyPair::generate().unwrap().serialize_pem()).unwrap();
        let org = |auth: &str| {
            format!(
                "orgs:\n  - name: a\n    url: https://a.okta.com\n    auth:\n      oauth2:\n{auth}"
            )
        };
        let yaml = org(&format!(
            "        client_id: 0oa1\n        private_key_file: {}\n        key_id: k1\n        scopes: [okta.apiTokens.read, okta.users.read]\n",
            key.display()
        ));
        let config = Config::from_yaml("c.yml", &yaml).unwrap();
        let Auth::OAuth2(app) = &config.orgs[0].auth else {
            panic!("an OAuth 2.0 org")
        };
        assert_eq!(app.client_id, "0oa1");
        assert_eq!(app.key_id.as_deref(), Some("k1"));
        assert!(app.has_scope("okta.users.read") && !app.has_scope("okta.logs.read"));
        assert_eq!(app.private_key.alg(), "ES256");

        let sec1 = dir.path().join("sec1.pem");
        std::fs::write(
            &sec1,
            "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIBYp\n-----END EC PRIVATE KEY-----\n",
        )
        .unwrap();
        let cases = [
            (
                format!(
                    "        client_id: 0oa1\n        private_key_file: {}\n",
                    dir.path().join("none.pem").display()
                ),
                "7:27: orgs[0].auth.oauth2.private_key_file: cannot read the private key file",
            ),
            (
                format!(
                    "        client_id: 0oa1\n        private_key_file: {}\n",
                    sec1.display()
                ),
                "orgs[0].auth.oauth2.private_key_file",
            ),
            (
                format!(
                    "        client_id: \"  \"\n        private_key_file: {}\n",
                    key.display()
                ),
                "6:20: orgs[0].auth.oauth2.client_id: must not be empty",
            ),
            (
                format!(
                    "        client_id: 0oa1\n        private_key_file: {}\n        scopes: []\n",
                    key.display()
                ),
                "orgs[0].auth.oauth2.scopes: the list is empty",
            ),
            (
                format!(
                    "        client_id: 0oa1\n        private_key_file: {}\n        scope: x\n",
                    key.display()
                ),
                "unknown field `scope`",
            ),
        ];
        for (auth, wanted) in cases {
            let error = Config::from_yaml("c.yml", &org(&auth))
                .unwrap_err()
                .to_string();
            assert!(error.contains(wanted), "{auth:?}: {error}");
        }
        let sec1_auth = format!(
            "        client_id: 0oa1\n        private_key_file: {}\n",
            sec1.display()
        );
        let error = Config::from_yaml("c.yml", &org(&sec1_auth))
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("openssl pkcs8 -topk8"),
            "SEC1 keys get the conversion command: {error}"
        );
    }

    #[test]
    fn token_files_are_trimmed_and_checked() {
        let cases = [
            ("c4n\n", Ok("c4n")),
            ("c4n\r\n", Ok("c4n")),
            ("c4n", Ok("c4n")),
            ("c4n\n\n", Ok("c4n")),
            ("", Err("is empty")),
            ("\n", Err("is empty")),
            ("  \n", Err("is empty")),
            ("c4n\nother\n", Err("whitespace")),
        ];
        for (content, want) in cases {
            let file = token_file(content);
            let got = read_token_file(file.path());
            match (got, want) {
                (Ok(secret), Ok(want)) => assert_eq!(secret.expose(), want, "{content:?}"),
                (Err(e), Err(needle)) => {
                    assert!(e.contains(needle), "{content:?}: {e}");
                    assert!(!e.contains("c4n"), "errors never show the token: {e}");
                }
                (got, want) => panic!("{content:?}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn one_function_applies_the_flags_over_the_file() {
        let token = token_file("00abc\n");
        let dir = tempfile::tempdir().unwrap();
        let mut file = tempfile::NamedTempFile::new().unwrap();
        write!(
            file,
            "poll_interval: 2m\norgs:\n  - name: acme\n    url: https://acme.okta.com\n    auth:\n      ssws:\n        token_file: {}\n",
            token.path().display()
        )
        .unwrap();
        let sources = Sources {
            file: Some(file.path()),
            poll_interval: Some(Duration::from_secs(30)),
            storage_path: Some(dir.path()),
            ..Sources::default()
        };
        let loaded = load(&sources).unwrap();
        assert_eq!(loaded.config.poll_interval, Duration::from_secs(30));
        assert_eq!(loaded.config.storage_path.as_deref(), Some(dir.path()));
        assert!(loaded.notes.is_empty());

        let missing = Sources {
            storage_path: Some(Path::new("/nonexistent/state")),
            ..sources
        };
        let error = load(&missing).unwrap_err();
        assert_eq!(error.key, "--storage.path");
        assert!(error.to_string().contains("/nonexistent/state"), "{error}");
        let nothing = load(&Sources::default()).unwrap_err();
        assert!(
            nothing.message.contains("okta-token-exporter demo"),
            "{nothing}"
        );
    }

    #[test]
    fn enrichment_follows_the_oauth_scopes() {
        let key = std::sync::Arc::new(
            crate::jose::SigningKey::from_pem(&crate::jose::generate_p256_pem()).unwrap(),
        );
        let cases: [(&[&str], bool, bool, usize); 4] = [
            (&["okta.apiTokens.read"], false, false, 2),
            (&["okta.apiTokens.read", "okta.users.read"], true, false, 1),
            (&["okta.apiTokens.read", "okta.logs.read"], false, true, 1),
            (
                &["okta.apiTokens.read", "okta.users.read", "okta.logs.read"],
                true,
                true,
                0,
            ),
        ];
        for (scopes, owners, system_log, notes) in cases {
            let mut org = OrgConfig {
                name: "acme".into(),
                url: parse_org_url("https://acme.okta.com").unwrap(),
                auth: Auth::OAuth2(OAuth2Settings {
                    client_id: "0oa1".into(),
                    private_key: std::sync::Arc::clone(&key),
                    key_id: None,
                    scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
                }),
                enrich: EnrichSettings::default(),
                keepalive: Vec::new(),
            };
            let said = limit_to_scopes(&mut org);
            assert_eq!(
                (org.enrich.owners, org.enrich.system_log),
                (owners, system_log),
                "{scopes:?}"
            );
            assert_eq!(said.len(), notes, "{scopes:?}: {said:?}");
        }
    }

    /// Every kind of problem in the file names file, line, column and the full key path.
    #[test]
    fn every_kind_of_error_names_its_line_column_and_key_path() {
        let org = "orgs:\n  - name: a\n    url: https://a.okta.com\n    auth:\n      ssws:\n        token_env: OKTA_TEST_TOKEN_THAT_IS_NOT_SET\n";
        let cases = [
            // A value of the wrong type.
            (
                format!("http:\n  retries: many\n{org}"),
                "/etc/okta.yml:2:12: http.retries: invalid u32",
            ),
            // An unknown key, nested.
            (
                "orgs:\n  - name: a\n    url: https://a.okta.com\n    colour: red\n".to_owned(),
                "/etc/okta.yml:4:5: orgs[0].colour: unknown field `colour`",
            ),
            (
                format!("{org}    enrich:\n      owners: maybe\n"),
                "/etc/okta.yml:8:15: orgs[0].enrich.owners: invalid boolean",
            ),
            // YAML syntax.
            (
                "orgs: [\n  {name: a\n".to_owned(),
                "/etc/okta.yml:2:3: orgs: unclosed bracket",
            ),
            (
                "poll_interval: 5m\n\tbad: tab\n".to_owned(),
                "/etc/okta.yml:1:16: ",
            ),
        ];
        for (yaml, expected) in cases {
            let error = Config::from_yaml("/etc/okta.yml", &yaml)
                .unwrap_err()
                .to_string();
            assert!(
                error.starts_with(expected),
                "{yaml:?}\n got: {error}\nwant: {expected}"
            );
        }
    }
}
