//! The web configuration file (`--web.config.file`): TLS, client certificates, basic
//! authentication and extra response headers for the exporter's own HTTP server.
//!
//! The format is the one of the Prometheus exporter-toolkit, so a file written for node_exporter
//! works here as is:
//!
//! ```yaml
//! tls_server_config:
//!   cert_file: server.crt            # PEM; relative paths are relative to this file
//!   key_file: server.key             # or cert: | and key: | with the PEM inline
//!   client_auth_type: RequireAndVerifyClientCert   # or NoClientCert, VerifyClientCertIfGiven
//!   client_ca_file: clients-ca.crt    # or client_ca: | inline
//!   client_allowed_sans: [prometheus] # DNS, IP, e-mail or URI SAN of the client certificate
//!   min_version: TLS12                # or TLS13; max_version as well
//!   cipher_suites: [TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256]   # Go's names; TLS 1.2 only
//!   prefer_server_cipher_suites: true
//!   curve_preferences: [X25519, CurveP256]
//! http_server_config:
//!   http2: true                       # over TLS (ALPN h2); HTTP/1.1 only when false
//!   headers:
//!     Strict-Transport-Security: max-age=31536000
//! basic_auth_users:
//!   prometheus: $2y$10$…              # bcrypt hash (htpasswd -nBC 10 "" | tr -d ':\n')
//! ```
//!
//! Where Go's TLS and rustls (with *ring*) differ, a file keeps its meaning as far as rustls can
//! give it and says so: cipher suites and curves rustls lacks (CBC suites, P-521) are dropped with
//! one warning, and refused only when nothing listed is left; TLS 1.3 suites are always on, as in
//! Go; TLS 1.0 and 1.1 and the client auth types that verify nothing are refused. Without a CA,
//! `VerifyClientCertIfGiven` verifies a given certificate against the system's CAs, as Go does.
//! `client_allowed_sans` applies to the certificates clients give: with `VerifyClientCertIfGiven`,
//! a client without one still gets in. `rate_limit` is accepted only when off (`interval: 0`):
//! this server has no rate limiter.
//!
//! The settings in force are an [`Arc<WebSettings>`] that connections and requests load without
//! a lock ([`WebConfigFile::current`]). A watcher task ([`WebConfigFile::watch`]) looks at the
//! file, and the certificate, key and CA files it names, once a second on a blocking thread, and
//! when one changed re-reads them all and publishes new settings, so certificates rotate without
//! a restart (inline ones with the file itself). A change that does not load keeps the last good
//! settings and is logged once.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;
use base64::Engine as _;
use hyper::header::{HeaderName, HeaderValue};
use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::WebPkiClientVerifier;
use rustls::{
    CertificateError, DigitallySignedStruct, DistinguishedName, RootCertStore, ServerConfig,
    SignatureScheme, SupportedCipherSuite,
};
use serde::Deserialize;
use serde_saphyr::Spanned;
use sha2::{Digest, Sha256};
use tokio_rustls::TlsAcceptor;

use crate::config::{ConfigError, Locator};
use crate::secret::Secret;

/// The `WWW-Authenticate` answer of a 401.
const CHALLENGE: &str = "Basic realm=\"okta-token-exporter\", charset=\"UTF-8\"";
/// Good password checks remembered, so that scrapes do not pay for bcrypt each time.
const VERIFIED_CACHE_CAPACITY: usize = 1024;
/// How often the watcher looks for changed files.
pub const CHECK_INTERVAL: Duration = Duration::from_secs(1);

/// Why a web config file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum WebConfigError {
    #[error("{}: cannot read the web config file: {source}", file.display())]
    Unreadable {
        file: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: the web config file is not UTF-8", file.display())]
    NotUtf8 { file: PathBuf },
    /// A setting that does not hold, with the file, line, column and key.
    #[error(transparent)]
    Invalid(#[from] ConfigError),
}

/// What is wrong with one setting; [`locate`] adds the file, line, column and key.
#[derive(Debug, thiserror::Error)]
enum Problem {
    #[error("missing; TLS needs {what}: set {file} (a PEM file) or {inline} (the PEM inline)")]
    MissingPem {
        what: &'static str,
        file: &'static str,
        inline: &'static str,
    },
    #[error("set either {inline} (the PEM inline) or {file}, not both")]
    InlineAndFile {
        inline: &'static str,
        file: &'static str,
    },
    #[error(
        "{0} accepts client certificates without verifying them, which proves nothing; \
         use RequireAndVerifyClientCert with client_ca_file (or client_ca)"
    )]
    UnverifiedClientCertificates(String),
    #[error(
        "unknown client_auth_type {0:?}; expected NoClientCert, VerifyClientCertIfGiven or \
         RequireAndVerifyClientCert"
    )]
    UnknownClientAuth(String),
    #[error(
        "{0} is refused: the TLS library here (rustls) speaks TLS12 and TLS13 only, so this \
         setting would not mean what it says; use TLS12 or TLS13"
    )]
    UnsupportedTlsVersion(String),
    #[error("unknown TLS version {0:?}; expected TLS12 or TLS13")]
    UnknownTlsVersion(String),
    #[error("lower than min_version")]
    MaxBelowMin,
    #[error("cannot use these TLS versions: {0}")]
    TlsVersions(rustls::Error),
    #[error(
        "unknown cipher suite {0:?}; expected a name of Go's crypto/tls, such as \
         {GO_EXAMPLE_SUITE}"
    )]
    UnknownCipherSuite(String),
    #[error(
        "none of these cipher suites is available here: the TLS library (rustls with ring) lacks \
         {lacking}; it has {}",
        available_cipher_suites()
    )]
    NoCipherSuiteAvailable { lacking: String },
    #[error(
        "no TLS 1.2 cipher suite listed is available here, and max_version rules out TLS 1.3 \
         (whose suites Go does not let a config choose); list one of {}",
        available_cipher_suites()
    )]
    NoTls12CipherSuite,
    #[error("unknown curve {0:?}; expected CurveP256, CurveP384, CurveP521 or X25519")]
    UnknownCurve(String),
    #[error(
        "none of these curves is available here: the TLS library (rustls with ring) lacks \
         {lacking}; it has X25519, CurveP256 and CurveP384"
    )]
    NoCurveAvailable { lacking: String },
    #[error("cannot read {what} from {}: {source}", path.display())]
    Unreadable {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot read {what} from {}: {reason}", path.display())]
    BadPem {
        what: &'static str,
        path: PathBuf,
        reason: PemProblem,
    },
    #[error("cannot read {what} from this value: {reason}")]
    BadInlinePem {
        what: &'static str,
        reason: PemProblem,
    },
    #[error(
        "a client CA is set but client_auth_type is NoClientCert, so no client certificate \
         would be checked; set client_auth_type: RequireAndVerifyClientCert"
    )]
    CaWithoutClientAuth,
    #[error(
        "missing; RequireAndVerifyClientCert needs the CA that signs the client certificates \
         (client_ca_file, or client_ca inline): with the system's CAs instead, anyone with a \
         certificate of a public CA would get in"
    )]
    MissingClientCa,
    #[error(
        "client_auth_type is NoClientCert, so no client certificate (and no SAN) would be \
         checked; set client_auth_type: RequireAndVerifyClientCert"
    )]
    SansWithoutClientAuth,
    #[error(
        "empty, so no client certificate could match; list the allowed SANs or remove the key"
    )]
    NoSans,
    #[error("not a usable CA certificate: {0}")]
    UnusableCa(rustls::Error),
    #[error("cannot verify clients with these CAs: {0}")]
    ClientVerifier(rustls::server::VerifierBuilderError),
    #[error("the key does not fit the certificate: {0}")]
    KeyMismatch(rustls::Error),
    #[error("this header cannot be set; allowed: {}", ALLOWED_HEADERS.join(", "))]
    HeaderNotAllowed,
    #[error("invalid value {value:?} for {header}")]
    InvalidHeaderValue { header: &'static str, value: String },
    #[error("a user name must be non-empty and without ':'")]
    BadUserName,
    #[error("not a bcrypt hash; make one with `htpasswd -nBC 10 \"\" | tr -d ':\\n'`")]
    NotBcrypt,
    #[error("not a Go duration such as 0, 1s or 500ms")]
    BadDuration,
    #[error(
        "this exporter has no rate limiter, so rate_limit is accepted only when off; remove \
         rate_limit or set interval: 0"
    )]
    RateLimitUnsupported,
}

/// A PEM file that does not hold what it should, in words that never echo the file's content.
#[derive(Debug, thiserror::Error)]
enum PemProblem {
    #[error("{0}")]
    Io(std::io::Error),
    #[error("no PEM section of the expected kind")]
    NothingFound,
    #[error("malformed PEM")]
    Malformed,
}

impl From<rustls::pki_types::pem::Error> for PemProblem {
    fn from(e: rustls::pki_types::pem::Error) -> PemProblem {
        use rustls::pki_types::pem::Error;
        match e {
            Error::Io(io) => PemProblem::Io(io),
            Error::NoItemsFound => PemProblem::NothingFound,
            _ => PemProblem::Malformed,
        }
    }
}

/// A problem at a place in the file.
fn locate<T>(
    at: &Locator,
    spanned: &Spanned<T>,
    key: impl Into<String>,
    problem: Problem,
) -> ConfigError {
    at.at(spanned, key, problem.to_string())
}

/// The settings in force: what the server applies to each connection and request.
pub struct WebSettings {
    /// Present when the server speaks HTTPS.
    pub tls: Option<TlsAcceptor>,
    /// Present when requests must carry a user and password.
    pub basic_auth: Option<Arc<BasicAuth>>,
    /// Added to every response.
    pub headers: Vec<(HeaderName, HeaderValue)>,
}

impl fmt::Debug for WebSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebSettings")
            .field("tls", &self.tls.is_some())
            .field("basic_auth", &self.basic_auth)
            .field("headers", &self.headers)
            .finish()
    }
}

/// A web configuration file and the settings last loaded from it.
pub struct WebConfigFile {
    path: PathBuf,
    /// What connections and requests read: swapped whole, loaded without a lock.
    settings: ArcSwap<WebSettings>,
    /// What the watcher knows of the files; only [`WebConfigFile::refresh`] takes this lock.
    files: Mutex<Files>,
}

impl fmt::Debug for WebConfigFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Not the digests of the files read: one of them is the private key.
        f.debug_struct("WebConfigFile")
            .field("path", &self.path)
            .field("settings", &self.current())
            .finish_non_exhaustive()
    }
}

struct Files {
    /// The state of the config file and every file it names, when the settings were read.
    loaded: Fingerprint,
    /// The state that last failed to load, so that one bad change is logged once.
    failed: Option<Fingerprint>,
}

/// What one look at the files found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refresh {
    /// Nothing changed since the last look.
    Unchanged,
    /// A change loaded; new settings are in force.
    Reloaded,
    /// A change did not load (logged); the previous settings stay in force.
    Refused,
}

impl WebConfigFile {
    /// Loads the file; any problem is an error naming the file, line and key.
    pub fn load(path: &Path) -> Result<WebConfigFile, WebConfigError> {
        let (settings, loaded) = load_settings(path).map_err(|(e, _)| e)?;
        Ok(WebConfigFile {
            path: path.to_owned(),
            settings: ArcSwap::from_pointee(settings),
            files: Mutex::new(Files {
                loaded,
                failed: None,
            }),
        })
    }

    /// The settings in force. Lock-free and without I/O: cheap enough for every request.
    pub fn current(&self) -> Arc<WebSettings> {
        self.settings.load_full()
    }

    /// Looks at the files and, if one changed since the last look, re-reads them and publishes
    /// the new settings. Blocking (file metadata, and on a change YAML and rustls): the watcher
    /// runs it on a blocking thread.
    pub fn refresh(&self) -> Refresh {
        let mut files = self.files.lock().unwrap_or_else(|e| e.into_inner());
        let files = &mut *files;
        // After a failed reload, what matters is whether the files that reload read changed.
        let unchanged = match &mut files.failed {
            Some(failed) => !failed.changed(),
            None => !files.loaded.changed(),
        };
        if unchanged {
            return Refresh::Unchanged;
        }
        let https_now = self.settings.load().tls.is_some();
        match load_settings(&self.path) {
            Ok((settings, fingerprint)) if settings.tls.is_some() != https_now => {
                tracing::error!(
                    file = %self.path.display(),
                    "the web config switches between HTTP and HTTPS; that needs a restart, so the previous settings stay in force"
                );
                files.failed = Some(fingerprint);
                Refresh::Refused
            }
            Ok((settings, fingerprint)) => {
                tracing::info!(file = %self.path.display(), tls = settings.tls.is_some(), basic_auth = settings.basic_auth.is_some(), "reloaded the web config");
                self.settings.store(Arc::new(settings));
                *files = Files {
                    loaded: fingerprint,
                    failed: None,
                };
                Refresh::Reloaded
            }
            Err((e, fingerprint)) => {
                tracing::error!(error = %e, "cannot reload the web config; the previous settings stay in force");
                files.failed = Some(fingerprint);
                Refresh::Refused
            }
        }
    }

    /// Starts the task that calls [`WebConfigFile::refresh`] every [`CHECK_INTERVAL`], off the
    /// threads that serve requests. It stops when the returned guard is dropped, or when the
    /// file is dropped. Call within a Tokio runtime.
    pub fn watch(self: &Arc<Self>) -> Watcher {
        let file: Weak<WebConfigFile> = Arc::downgrade(self);
        let task = tokio::spawn(async move {
            let start = tokio::time::Instant::now() + CHECK_INTERVAL;
            let mut ticks = tokio::time::interval_at(start, CHECK_INTERVAL);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                let Some(file) = file.upgrade() else { return };
                match tokio::task::spawn_blocking(move || file.refresh()).await {
                    Ok(outcome) => tracing::trace!(?outcome, "looked at the web config files"),
                    Err(e) => tracing::error!(error = %e, "looking at the web config files failed"),
                }
            }
        });
        Watcher(task)
    }
}

/// Keeps the watcher task of [`WebConfigFile::watch`] running; dropping it stops the task.
#[derive(Debug)]
pub struct Watcher(tokio::task::JoinHandle<()>);

impl Drop for Watcher {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The state of a set of files when they were read; a change in any means a reload.
struct Fingerprint(Vec<Seen>);

/// One file as it was read.
struct Seen {
    path: PathBuf,
    /// `None` when the file did not exist (or could not be looked at).
    stamp: Option<Stamp>,
    /// SHA-256 of the content read; `None` when it could not be read.
    digest: Option<[u8; 32]>,
    /// File times have a coarse granularity (a kernel tick; seconds on some file systems), so a
    /// write in the same tick as the read may leave the stamp unchanged. While the stamp is that
    /// recent, the content is compared too.
    racy: bool,
}

/// Size, modification time and inode: what a `stat` tells of a change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    modified: SystemTime,
    len: u64,
    inode: u64,
}

/// Modification times closer than this to the moment of looking may hide a later write.
const RACY_WINDOW: Duration = Duration::from_secs(2);

impl Fingerprint {
    /// Notes a file's state, then reads it: a write that lands after the read shows as a change.
    fn read(&mut self, path: &Path) -> std::io::Result<Vec<u8>> {
        let stamp = stamp(path);
        let racy = stamp.is_some_and(|s| recent(s.modified));
        let content = std::fs::read(path);
        self.0.push(Seen {
            path: path.to_owned(),
            stamp,
            digest: content.as_ref().ok().map(|c| Sha256::digest(c).into()),
            racy,
        });
        content
    }

    /// Whether any of the files changed (or appeared, or vanished) since. Costs a `stat` per
    /// file, and a read of the files modified within the last [`RACY_WINDOW`] of their reading.
    fn changed(&mut self) -> bool {
        for seen in &mut self.0 {
            let now = stamp(&seen.path);
            if now != seen.stamp {
                return true;
            }
            if seen.racy {
                let digest = std::fs::read(&seen.path)
                    .ok()
                    .map(|c| Sha256::digest(c).into());
                if digest != seen.digest {
                    return true;
                }
                // Read after the stamp's tick ended: any write in that tick is in what was read.
                seen.racy = now.is_some_and(|s| recent(s.modified));
            }
        }
        false
    }
}

fn stamp(path: &Path) -> Option<Stamp> {
    let metadata = std::fs::metadata(path).ok()?;
    #[cfg(unix)]
    let inode = std::os::unix::fs::MetadataExt::ino(&metadata);
    #[cfg(not(unix))]
    let inode = 0;
    Some(Stamp {
        modified: metadata.modified().unwrap_or(SystemTime::UNIX_EPOCH),
        len: metadata.len(),
        inode,
    })
}

/// Whether a modification time is within [`RACY_WINDOW`] of now (or in the future).
fn recent(modified: SystemTime) -> bool {
    SystemTime::now()
        .duration_since(modified)
        .map_or(true, |age| age < RACY_WINDOW)
}

// The file as written.

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWebConfig {
    tls_server_config: Option<Spanned<RawTls>>,
    http_server_config: Option<RawHttpServer>,
    basic_auth_users: Option<BTreeMap<String, Spanned<String>>>,
    rate_limit: Option<RawRateLimit>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTls {
    cert: Option<Spanned<String>>,
    key: Option<Spanned<InlineKey>>,
    client_ca: Option<Spanned<String>>,
    cert_file: Option<Spanned<PathBuf>>,
    key_file: Option<Spanned<PathBuf>>,
    client_auth_type: Option<Spanned<String>>,
    client_ca_file: Option<Spanned<PathBuf>>,
    client_allowed_sans: Option<Spanned<Vec<String>>>,
    min_version: Option<Spanned<String>>,
    max_version: Option<Spanned<String>>,
    cipher_suites: Option<Spanned<Vec<Spanned<String>>>>,
    prefer_server_cipher_suites: Option<bool>,
    curve_preferences: Option<Spanned<Vec<Spanned<String>>>>,
}

/// The inline `key`: a private key, so held as a [`Secret`] that no formatting shows.
struct InlineKey(Secret);

impl<'de> Deserialize<'de> for InlineKey {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(|pem| InlineKey(Secret::new(pem)))
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHttpServer {
    http2: Option<bool>,
    headers: Option<BTreeMap<String, Spanned<String>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRateLimit {
    interval: Option<Spanned<GoDuration>>,
    /// Read so that a file with it loads; without a limiter it means nothing.
    #[serde(rename = "burst")]
    _burst: Option<i64>,
}

/// A duration as Go's YAML reads one: a string for `time.ParseDuration` (`1s`, `1m30s`) or a
/// whole number of nanoseconds. Kept as written; [`go_duration_is_zero`] reads it.
struct GoDuration(String);

impl<'de> Deserialize<'de> for GoDuration {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = GoDuration;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration such as 0, 1s or 500ms")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<GoDuration, E> {
                Ok(GoDuration(v.to_owned()))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<GoDuration, E> {
                Ok(GoDuration(v.to_string()))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<GoDuration, E> {
                Ok(GoDuration(v.to_string()))
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

/// Whether a Go duration is zero; `None` when it is not one. Go's grammar: a whole number of
/// nanoseconds (as YAML reads an integer), `0`, or a signed sequence of decimal numbers with
/// units `ns`, `us`, `µs`, `μs`, `ms`, `s`, `m` or `h` (`1h30m`, `1.5s`).
fn go_duration_is_zero(text: &str) -> Option<bool> {
    if let Ok(nanoseconds) = text.parse::<i64>() {
        return Some(nanoseconds == 0);
    }
    let mut rest = text.strip_prefix(['-', '+']).unwrap_or(text);
    if rest.is_empty() {
        return None;
    }
    let mut zero = true;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (number, after) = rest.split_at(digits);
        if number.is_empty() || number == "." || number.matches('.').count() > 1 {
            return None;
        }
        let unit = after
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(after.len());
        let (unit, after) = after.split_at(unit);
        if !["ns", "us", "µs", "μs", "ms", "s", "m", "h"].contains(&unit) {
            return None;
        }
        zero &= number.chars().all(|c| c == '0' || c == '.');
        rest = after;
    }
    Some(zero)
}

/// Reads the file and everything it names. Either way, returns the state of every file it read
/// (taken before reading each), so that a change to any of them, or to a file that was missing,
/// is seen at the next look.
fn load_settings(path: &Path) -> Result<(WebSettings, Fingerprint), (WebConfigError, Fingerprint)> {
    let mut files = Fingerprint(Vec::new());
    match read_settings(path, &mut files) {
        Ok(settings) => Ok((settings, files)),
        Err(e) => Err((e, files)),
    }
}

fn read_settings(path: &Path, files: &mut Fingerprint) -> Result<WebSettings, WebConfigError> {
    let source = path.display().to_string();
    let text = files
        .read(path)
        .map_err(|source| WebConfigError::Unreadable {
            file: path.to_owned(),
            source,
        })?;
    let text = String::from_utf8(text).map_err(|_| WebConfigError::NotUtf8 {
        file: path.to_owned(),
    })?;
    let raw: RawWebConfig = crate::config::parse_yaml(&source, &text)?;
    let at = Locator { source: &source };
    let dir = path.parent().unwrap_or(Path::new("."));
    // exporter-toolkit's default; it matters only over TLS (ALPN), as in Go.
    let http2 = raw
        .http_server_config
        .as_ref()
        .and_then(|h| h.http2)
        .unwrap_or(true);
    let mut warnings = Vec::new();
    let tls = match &raw.tls_server_config {
        Some(tls) => tls_acceptor(tls, http2, dir, &at, files, &mut warnings)?,
        None => None,
    };
    let basic_auth = match &raw.basic_auth_users {
        Some(users) if !users.is_empty() => Some(Arc::new(BasicAuth::new(users, &at)?)),
        _ => None,
    };
    let headers = match raw
        .http_server_config
        .as_ref()
        .and_then(|h| h.headers.as_ref())
    {
        Some(headers) => response_headers(headers, &at)?,
        None => Vec::new(),
    };
    if let Some(interval) = raw.rate_limit.as_ref().and_then(|r| r.interval.as_ref()) {
        let key = "rate_limit.interval";
        match go_duration_is_zero(&interval.value.0) {
            Some(true) => {}
            Some(false) => Err(locate(&at, interval, key, Problem::RateLimitUnsupported))?,
            None => Err(locate(&at, interval, key, Problem::BadDuration))?,
        }
    }
    for warning in warnings {
        tracing::warn!(file = %path.display(), "{warning}");
    }
    Ok(WebSettings {
        tls,
        basic_auth,
        headers,
    })
}

/// How the server asks for client certificates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ClientAuth {
    None,
    VerifyIfGiven,
    RequireAndVerify,
}

/// Where a setting is written, whatever its type: for errors.
fn place<T>(spanned: &Spanned<T>) -> Spanned<()> {
    Spanned::new((), spanned.referenced, spanned.defined)
}

/// A PEM value of `tls_server_config`: inline in the web config, or in a file it names.
struct PemSetting<'a> {
    /// The key as written (`tls_server_config.cert_file`), for errors.
    key: String,
    place: Spanned<()>,
    source: PemSource<'a>,
}

enum PemSource<'a> {
    Inline(&'a str),
    File(PathBuf),
}

impl PemSetting<'_> {
    /// The PEM text; a file read is noted in `files`.
    fn read(&self, what: &'static str, files: &mut Fingerprint) -> Result<Vec<u8>, Problem> {
        match &self.source {
            PemSource::Inline(text) => Ok(text.as_bytes().to_vec()),
            PemSource::File(path) => files.read(path).map_err(|source| Problem::Unreadable {
                what,
                path: path.clone(),
                source,
            }),
        }
    }

    /// Why the PEM read does not hold `what`, in words that never echo it.
    fn bad(&self, what: &'static str, reason: PemProblem) -> Problem {
        match &self.source {
            PemSource::Inline(_) => Problem::BadInlinePem { what, reason },
            PemSource::File(path) => Problem::BadPem {
                what,
                path: path.clone(),
                reason,
            },
        }
    }

    fn certificates(
        &self,
        files: &mut Fingerprint,
    ) -> Result<Vec<CertificateDer<'static>>, Problem> {
        const WHAT: &str = "PEM certificates";
        let pem = self.read(WHAT, files)?;
        let certs = CertificateDer::pem_slice_iter(&pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| self.bad(WHAT, e.into()))?;
        if certs.is_empty() {
            return Err(self.bad(WHAT, PemProblem::NothingFound));
        }
        Ok(certs.into_iter().map(|c| c.into_owned()).collect())
    }

    fn private_key(&self, files: &mut Fingerprint) -> Result<PrivateKeyDer<'static>, Problem> {
        const WHAT: &str = "a PEM private key";
        let pem = self.read(WHAT, files)?;
        PrivateKeyDer::from_pem_slice(&pem).map_err(|e| self.bad(WHAT, e.into()))
    }

    fn locate(&self, at: &Locator, problem: Problem) -> ConfigError {
        locate(at, &self.place, self.key.clone(), problem)
    }
}

/// The PEM value of `inline` or of `file`, whichever is set (an empty one counts as unset, as
/// in Go); both set is an error, since which one would count is anyone's guess.
fn pem_setting<'a>(
    inline: Option<(&'a str, Spanned<()>)>,
    inline_name: &'static str,
    file: Option<&Spanned<PathBuf>>,
    file_name: &'static str,
    dir: &Path,
    at: &Locator,
) -> Result<Option<PemSetting<'a>>, ConfigError> {
    const KEY: &str = "tls_server_config";
    let file = file.filter(|f| !f.value.as_os_str().is_empty());
    let inline = inline.filter(|(text, _)| !text.is_empty());
    match (inline, file) {
        (Some((_, written)), Some(_)) => Err(locate(
            at,
            &written,
            format!("{KEY}.{inline_name}"),
            Problem::InlineAndFile {
                inline: inline_name,
                file: file_name,
            },
        )),
        (Some((text, written)), None) => Ok(Some(PemSetting {
            key: format!("{KEY}.{inline_name}"),
            place: written,
            source: PemSource::Inline(text),
        })),
        (None, Some(file)) => Ok(Some(PemSetting {
            key: format!("{KEY}.{file_name}"),
            place: place(file),
            source: PemSource::File(dir.join(&file.value)),
        })),
        (None, None) => Ok(None),
    }
}

/// The TLS side of the server, or `None` when `tls_server_config` names no certificate, key, CA
/// or client auth type: exporter-toolkit serves plain HTTP then, and so does this server.
/// `http2` chooses the protocols offered by ALPN. Cipher suites and curves that rustls lacks are
/// named in one of the `warnings`.
fn tls_acceptor(
    tls: &Spanned<RawTls>,
    http2: bool,
    dir: &Path,
    at: &Locator,
    files: &mut Fingerprint,
    warnings: &mut Vec<String>,
) -> Result<Option<TlsAcceptor>, ConfigError> {
    const KEY: &str = "tls_server_config";
    let raw = &tls.value;
    fn inline(value: &Option<Spanned<String>>) -> Option<(&str, Spanned<()>)> {
        value.as_ref().map(|v| (v.value.as_str(), place(v)))
    }
    let inline_key = raw.key.as_ref().map(|k| (k.value.0.expose(), place(k)));
    let cert = pem_setting(
        inline(&raw.cert),
        "cert",
        raw.cert_file.as_ref(),
        "cert_file",
        dir,
        at,
    )?;
    let key = pem_setting(
        inline_key,
        "key",
        raw.key_file.as_ref(),
        "key_file",
        dir,
        at,
    )?;
    let ca = pem_setting(
        inline(&raw.client_ca),
        "client_ca",
        raw.client_ca_file.as_ref(),
        "client_ca_file",
        dir,
        at,
    )?;
    let client_auth_type = raw
        .client_auth_type
        .as_ref()
        .filter(|t| !t.value.is_empty());
    if cert.is_none() && key.is_none() && ca.is_none() && client_auth_type.is_none() {
        if let Some(sans) = &raw.client_allowed_sans {
            let key = format!("{KEY}.client_allowed_sans");
            return Err(locate(at, sans, key, Problem::SansWithoutClientAuth));
        }
        let ignored = raw.min_version.is_some()
            || raw.max_version.is_some()
            || raw.cipher_suites.is_some()
            || raw.curve_preferences.is_some()
            || raw.prefer_server_cipher_suites.is_some();
        if ignored {
            warnings.push(
                "tls_server_config names no certificate, so the server speaks plain HTTP (as \
                 exporter-toolkit does) and its TLS settings do nothing"
                    .to_owned(),
            );
        }
        return Ok(None);
    }
    let cert = cert.ok_or_else(|| {
        let problem = Problem::MissingPem {
            what: "a certificate",
            file: "cert_file",
            inline: "cert",
        };
        locate(at, tls, format!("{KEY}.cert_file"), problem)
    })?;
    let key = key.ok_or_else(|| {
        let problem = Problem::MissingPem {
            what: "the certificate's private key",
            file: "key_file",
            inline: "key",
        };
        locate(at, tls, format!("{KEY}.key_file"), problem)
    })?;
    let client_auth = match client_auth_type {
        None => ClientAuth::None,
        Some(kind) => {
            let key = format!("{KEY}.client_auth_type");
            match kind.value.as_str() {
                "NoClientCert" => ClientAuth::None,
                "VerifyClientCertIfGiven" => ClientAuth::VerifyIfGiven,
                "RequireAndVerifyClientCert" => ClientAuth::RequireAndVerify,
                "RequestClientCert" | "RequireAnyClientCert" | "RequireClientCert" => {
                    let problem = Problem::UnverifiedClientCertificates(kind.value.clone());
                    return Err(locate(at, kind, key, problem));
                }
                other => {
                    let problem = Problem::UnknownClientAuth(other.to_owned());
                    return Err(locate(at, kind, key, problem));
                }
            }
        }
    };
    let versions = protocol_versions(raw, at)?;
    let mut lacking = Vec::new();
    let mut provider = rustls::crypto::ring::default_provider();
    if let Some(list) = raw.cipher_suites.as_ref().filter(|l| !l.value.is_empty()) {
        let tls12 = cipher_suites(list, at, &mut lacking)?;
        if tls12.is_empty() && !versions.contains(&&rustls::version::TLS13) {
            let key = format!("{KEY}.cipher_suites");
            return Err(locate(at, list, key, Problem::NoTls12CipherSuite));
        }
        // TLS 1.3's suites are not configurable in Go, and stay on here as there.
        provider
            .cipher_suites
            .retain(|s| matches!(s, SupportedCipherSuite::Tls13(_)));
        provider.cipher_suites.extend(tls12);
    }
    if let Some(list) = raw
        .curve_preferences
        .as_ref()
        .filter(|l| !l.value.is_empty())
    {
        provider.kx_groups = curves(list, at, &mut lacking)?;
    }
    if !lacking.is_empty() {
        warnings.push(format!(
            "the TLS library here (rustls with ring) lacks these cipher suites or curves, so the \
             server goes without them: {}",
            lacking.join(", ")
        ));
    }
    let provider = Arc::new(provider);
    let builder = ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_protocol_versions(&versions)
        .map_err(|e| locate(at, tls, KEY, Problem::TlsVersions(e)))?;
    let allowed_sans = match &raw.client_allowed_sans {
        Some(sans) if sans.value.is_empty() => {
            let key = format!("{KEY}.client_allowed_sans");
            return Err(locate(at, sans, key, Problem::NoSans));
        }
        Some(sans) if client_auth == ClientAuth::None => {
            let key = format!("{KEY}.client_allowed_sans");
            return Err(locate(at, sans, key, Problem::SansWithoutClientAuth));
        }
        Some(sans) => sans.value.clone(),
        None => Vec::new(),
    };
    let builder = match (client_auth, ca) {
        (ClientAuth::None, None) => builder.with_no_client_auth(),
        (ClientAuth::None, Some(ca)) => return Err(ca.locate(at, Problem::CaWithoutClientAuth)),
        (ClientAuth::RequireAndVerify, None) => {
            let key = format!("{KEY}.client_ca_file");
            return Err(locate(at, tls, key, Problem::MissingClientCa));
        }
        (kind, ca) => {
            let chain = match ca {
                Some(ca) => {
                    let mut roots = RootCertStore::empty();
                    for cert in ca.certificates(files).map_err(|p| ca.locate(at, p))? {
                        roots
                            .add(cert)
                            .map_err(|e| ca.locate(at, Problem::UnusableCa(e)))?;
                    }
                    let verifier = WebPkiClientVerifier::builder_with_provider(
                        Arc::new(roots),
                        Arc::clone(&provider),
                    )
                    .build()
                    .map_err(|e| ca.locate(at, Problem::ClientVerifier(e)))?;
                    Some(verifier)
                }
                None => system_client_verifier(&provider, files, warnings),
            };
            builder.with_client_cert_verifier(Arc::new(ClientCertCheck {
                chain,
                mandatory: kind == ClientAuth::RequireAndVerify,
                allowed_sans,
                algorithms: provider.signature_verification_algorithms,
            }))
        }
    };
    let certs = cert.certificates(files).map_err(|p| cert.locate(at, p))?;
    let private_key = key.private_key(files).map_err(|p| key.locate(at, p))?;
    let mut config = builder
        .with_single_cert(certs, private_key)
        .map_err(|e| key.locate(at, Problem::KeyMismatch(e)))?;
    // Go has ignored PreferServerCipherSuites since Go 1.17 and picks by its own rules; rustls
    // follows the client's order unless told to pick the first of its own list that the client
    // offers, which is what the setting (true by default) asks for.
    config.ignore_client_order = raw.prefer_server_cipher_suites.unwrap_or(true);
    config.alpn_protocols = if http2 {
        vec![b"h2".to_vec(), b"http/1.1".to_vec()]
    } else {
        vec![b"http/1.1".to_vec()]
    };
    Ok(Some(TlsAcceptor::from(Arc::new(config))))
}

/// What one of Go's cipher suite names is here.
#[derive(Debug, Clone, Copy)]
enum GoCipherSuite {
    /// A TLS 1.2 suite of rustls (ring).
    Tls12(SupportedCipherSuite),
    /// A TLS 1.3 suite: Go lets no config choose these, and rustls's are always on, as in Go.
    Tls13,
    /// One Go knows that rustls lacks (CBC, RSA key exchange, 3DES, RC4).
    Unavailable,
}

/// A suite to name in errors as an example.
const GO_EXAMPLE_SUITE: &str = "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256";

/// The TLS 1.2 suites of rustls (ring) by Go's names: those a config can choose.
fn tls12_cipher_suites() -> [(&'static str, SupportedCipherSuite); 6] {
    use rustls::crypto::ring::cipher_suite as ring;
    [
        (
            "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
            ring::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
        ),
        (
            "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
            ring::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
        ),
        (
            "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
            ring::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
        ),
        (
            "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
            ring::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
        ),
        (
            "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
            ring::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
        ),
        (
            "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
            ring::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
        ),
    ]
}

fn available_cipher_suites() -> String {
    tls12_cipher_suites().map(|(name, _)| name).join(", ")
}

/// Go's cipher suite names (crypto/tls `CipherSuites` and `InsecureCipherSuites`, of every Go
/// release since 1.14) that rustls lacks.
const UNAVAILABLE_CIPHER_SUITES: [&str; 16] = [
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",
    "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA",
    "TLS_RSA_WITH_AES_128_CBC_SHA",
    "TLS_RSA_WITH_AES_256_CBC_SHA",
    "TLS_RSA_WITH_AES_128_GCM_SHA256",
    "TLS_RSA_WITH_AES_256_GCM_SHA384",
    "TLS_RSA_WITH_AES_128_CBC_SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256",
    "TLS_RSA_WITH_3DES_EDE_CBC_SHA",
    "TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA",
    "TLS_RSA_WITH_RC4_128_SHA",
    "TLS_ECDHE_ECDSA_WITH_RC4_128_SHA",
    "TLS_ECDHE_RSA_WITH_RC4_128_SHA",
];

/// What a Go cipher suite name is here; `None` when Go does not know it either.
fn go_cipher_suite(name: &str) -> Option<GoCipherSuite> {
    if let Some((_, suite)) = tls12_cipher_suites().into_iter().find(|(n, _)| *n == name) {
        return Some(GoCipherSuite::Tls12(suite));
    }
    match name {
        "TLS_AES_128_GCM_SHA256" | "TLS_AES_256_GCM_SHA384" | "TLS_CHACHA20_POLY1305_SHA256" => {
            Some(GoCipherSuite::Tls13)
        }
        _ if UNAVAILABLE_CIPHER_SUITES.contains(&name) => Some(GoCipherSuite::Unavailable),
        _ => None,
    }
}

/// The TLS 1.2 suites of `cipher_suites`, in its order; names rustls lacks go to `lacking`. An
/// error when a name is unknown, or when nothing listed is available.
fn cipher_suites(
    list: &Spanned<Vec<Spanned<String>>>,
    at: &Locator,
    lacking: &mut Vec<String>,
) -> Result<Vec<SupportedCipherSuite>, ConfigError> {
    const KEY: &str = "tls_server_config.cipher_suites";
    let mut chosen: Vec<SupportedCipherSuite> = Vec::new();
    let mut available = false;
    let mut missing = Vec::new();
    for (i, name) in list.value.iter().enumerate() {
        match go_cipher_suite(&name.value) {
            Some(GoCipherSuite::Tls12(suite)) => {
                available = true;
                if !chosen.iter().any(|c| c.suite() == suite.suite()) {
                    chosen.push(suite);
                }
            }
            Some(GoCipherSuite::Tls13) => available = true,
            Some(GoCipherSuite::Unavailable) => missing.push(name.value.clone()),
            None => {
                let problem = Problem::UnknownCipherSuite(name.value.clone());
                return Err(locate(at, name, format!("{KEY}[{i}]"), problem));
            }
        }
    }
    if !available {
        let problem = Problem::NoCipherSuiteAvailable {
            lacking: missing.join(", "),
        };
        return Err(locate(at, list, KEY, problem));
    }
    lacking.extend(missing);
    Ok(chosen)
}

/// What one of Go's curve names is here: a key exchange group of rustls (ring), `Some(None)`
/// for one rustls lacks (P-521), `None` for a name Go does not know either.
fn go_curve(name: &str) -> Option<Option<&'static dyn rustls::crypto::SupportedKxGroup>> {
    use rustls::crypto::ring::kx_group;
    match name {
        "X25519" => Some(Some(kx_group::X25519)),
        "CurveP256" => Some(Some(kx_group::SECP256R1)),
        "CurveP384" => Some(Some(kx_group::SECP384R1)),
        "CurveP521" => Some(None),
        _ => None,
    }
}

/// The key exchange groups of `curve_preferences`, in its order; names rustls lacks go to
/// `lacking`. An error when a name is unknown, or when nothing listed is available.
fn curves(
    list: &Spanned<Vec<Spanned<String>>>,
    at: &Locator,
    lacking: &mut Vec<String>,
) -> Result<Vec<&'static dyn rustls::crypto::SupportedKxGroup>, ConfigError> {
    const KEY: &str = "tls_server_config.curve_preferences";
    let mut chosen: Vec<&'static dyn rustls::crypto::SupportedKxGroup> = Vec::new();
    let mut missing = Vec::new();
    for (i, name) in list.value.iter().enumerate() {
        match go_curve(&name.value) {
            Some(Some(group)) => {
                if !chosen.iter().any(|c| c.name() == group.name()) {
                    chosen.push(group);
                }
            }
            Some(None) => missing.push(name.value.clone()),
            None => {
                let problem = Problem::UnknownCurve(name.value.clone());
                return Err(locate(at, name, format!("{KEY}[{i}]"), problem));
            }
        }
    }
    if chosen.is_empty() {
        let problem = Problem::NoCurveAvailable {
            lacking: missing.join(", "),
        };
        return Err(locate(at, list, KEY, problem));
    }
    lacking.extend(missing);
    Ok(chosen)
}

/// Where Go's crypto/x509 looks for the system's CA bundle on Linux, in order.
const SYSTEM_CA_FILES: [&str; 6] = [
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/ca-bundle.pem",
    "/etc/pki/tls/cacert.pem",
    "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",
    "/etc/ssl/cert.pem",
];
/// Where Go looks for CA certificates one per file.
const SYSTEM_CA_DIRS: [&str; 2] = ["/etc/ssl/certs", "/etc/pki/tls/certs"];

/// The system's CA certificates, found as Go finds them: `$SSL_CERT_FILE`, or else the first
/// bundle of [`SYSTEM_CA_FILES`] that can be read (noted in `files`, so that an update of the
/// bundle reloads); when that holds none, every file of `$SSL_CERT_DIR` (colon-separated) or
/// else of [`SYSTEM_CA_DIRS`].
fn system_roots(files: &mut Fingerprint) -> RootCertStore {
    fn add(roots: &mut RootCertStore, pem: &[u8]) {
        roots.add_parsable_certificates(CertificateDer::pem_slice_iter(pem).map_while(Result::ok));
    }
    let mut roots = RootCertStore::empty();
    let bundles: Vec<PathBuf> = match std::env::var_os("SSL_CERT_FILE").filter(|f| !f.is_empty()) {
        Some(file) => vec![file.into()],
        None => SYSTEM_CA_FILES.iter().map(PathBuf::from).collect(),
    };
    for bundle in bundles {
        if let Ok(pem) = files.read(&bundle) {
            add(&mut roots, &pem);
            break;
        }
    }
    if roots.is_empty() {
        let dirs: Vec<PathBuf> = match std::env::var_os("SSL_CERT_DIR").filter(|d| !d.is_empty()) {
            Some(dirs) => std::env::split_paths(&dirs).collect(),
            None => SYSTEM_CA_DIRS.iter().map(PathBuf::from).collect(),
        };
        for dir in dirs {
            for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
                if let Ok(pem) = std::fs::read(entry.path()) {
                    add(&mut roots, &pem);
                }
            }
        }
    }
    roots
}

/// Verifies given client certificates against the system's CAs (`VerifyClientCertIfGiven`
/// without a CA of its own, as Go does). `None`, with a warning, when the system has no CA:
/// then every client certificate is refused, as in Go, and clients without one get in.
fn system_client_verifier(
    provider: &Arc<CryptoProvider>,
    files: &mut Fingerprint,
    warnings: &mut Vec<String>,
) -> Option<Arc<dyn ClientCertVerifier>> {
    let roots = system_roots(files);
    let verifier = if roots.is_empty() {
        None
    } else {
        // No hints: the subjects of a hundred public CAs tell clients nothing (Go sends none).
        WebPkiClientVerifier::builder_with_provider(Arc::new(roots), Arc::clone(provider))
            .clear_root_hint_subjects()
            .build()
            .ok()
    };
    if verifier.is_none() {
        warnings.push(
            "VerifyClientCertIfGiven without client_ca_file verifies client certificates against \
             the system's CAs, but none were found (SSL_CERT_FILE, /etc/ssl/certs); every client \
             certificate will be refused. Set client_ca_file or client_ca."
                .to_owned(),
        );
    }
    verifier
}

/// The client certificate check: the chain (against the CAs of the config, or the system's),
/// then, with `client_allowed_sans`, the certificate's subject alternative names.
#[derive(Debug)]
struct ClientCertCheck {
    /// `None`: no CA to verify against, so every certificate is refused.
    chain: Option<Arc<dyn ClientCertVerifier>>,
    /// Whether a client must present a certificate (`RequireAndVerifyClientCert`).
    mandatory: bool,
    /// Empty: any name will do.
    allowed_sans: Vec<String>,
    algorithms: WebPkiSupportedAlgorithms,
}

/// A client certificate refused for its names; the handshake fails with this.
#[derive(thiserror::Error)]
#[error(
    "no subject alternative name of the client certificate is in client_allowed_sans; it has [{}]",
    .0.join(", ")
)]
struct SanNotAllowed(Vec<String>);

/// As `Display`: rustls shows this error with `Debug` in its own message.
impl fmt::Debug for SanNotAllowed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl ClientCertVerifier for ClientCertCheck {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        self.mandatory
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.chain.as_ref().map_or(&[], |c| c.root_hint_subjects())
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        let Some(chain) = &self.chain else {
            return Err(rustls::Error::InvalidCertificate(
                CertificateError::UnknownIssuer,
            ));
        };
        let verified = chain.verify_client_cert(end_entity, intermediates, now)?;
        if self.allowed_sans.is_empty() {
            return Ok(verified);
        }
        let names = subject_alt_names(end_entity).ok_or(rustls::Error::InvalidCertificate(
            CertificateError::BadEncoding,
        ))?;
        // An exact match of any kind of name, as exporter-toolkit checks.
        if names.iter().any(|n| self.allowed_sans.contains(n)) {
            Ok(verified)
        } else {
            let refused = rustls::OtherError(Arc::new(SanNotAllowed(names)));
            Err(rustls::Error::InvalidCertificate(CertificateError::Other(
                refused,
            )))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// One DER element: its tag, its content, and what follows it. `None` when malformed.
fn der_element(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    if tag & 0x1f == 0x1f {
        return None; // a multi-byte tag: none in a certificate's names
    }
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let octets = usize::from(first & 0x7f);
        if octets == 0 || octets > 4 || rest.len() < octets {
            return None;
        }
        let (len, rest) = rest.split_at(octets);
        (len.iter().fold(0, |n, b| n << 8 | usize::from(*b)), rest)
    };
    (rest.len() >= len).then(|| (tag, &rest[..len], &rest[len..]))
}

/// The subject alternative names of a DER certificate, as exporter-toolkit compares them (with
/// Go's crypto/x509): DNS names, e-mail addresses, IP addresses (as Go writes them) and URIs.
/// Other kinds of name are skipped. `None` when the certificate is malformed.
fn subject_alt_names(cert: &[u8]) -> Option<Vec<String>> {
    const SEQUENCE: u8 = 0x30;
    const EXTENSIONS: u8 = 0xa3; // [3] EXPLICIT, in TBSCertificate
    const SUBJECT_ALT_NAME: [u8; 3] = [0x55, 0x1d, 0x11]; // 2.5.29.17
    let sequence = |input| match der_element(input)? {
        (SEQUENCE, content, rest) => Some((content, rest)),
        _ => None,
    };
    let (certificate, _) = sequence(cert)?;
    let (mut tbs, _) = sequence(certificate)?;
    let mut names = Vec::new();
    while !tbs.is_empty() {
        let (tag, content, rest) = der_element(tbs)?;
        tbs = rest;
        if tag != EXTENSIONS {
            continue;
        }
        let (mut extensions, _) = sequence(content)?;
        while !extensions.is_empty() {
            let (extension, rest) = sequence(extensions)?;
            extensions = rest;
            let (tag, oid, rest) = der_element(extension)?;
            if tag != 0x06 || oid != SUBJECT_ALT_NAME {
                continue;
            }
            // critical BOOLEAN DEFAULT FALSE, then the value in an OCTET STRING.
            let (mut tag, mut value, rest) = der_element(rest)?;
            if tag == 0x01 {
                (tag, value, _) = der_element(rest)?;
            }
            if tag != 0x04 {
                return None;
            }
            let (mut general_names, _) = sequence(value)?;
            while !general_names.is_empty() {
                let (tag, name, rest) = der_element(general_names)?;
                general_names = rest;
                match tag {
                    // rfc822Name, dNSName, uniformResourceIdentifier: IA5String
                    0x81 | 0x82 | 0x86 => names.push(
                        std::str::from_utf8(name)
                            .ok()
                            .filter(|n| n.is_ascii())?
                            .to_owned(),
                    ),
                    0x87 => names.push(ip_address(name)?),
                    _ => {}
                }
            }
        }
    }
    Some(names)
}

/// An iPAddress name as Go's `net.IP.String` writes it: IPv4 dotted, IPv4-mapped IPv6 too.
fn ip_address(octets: &[u8]) -> Option<String> {
    use std::net::{Ipv4Addr, Ipv6Addr};
    match octets.len() {
        4 => Some(Ipv4Addr::from(<[u8; 4]>::try_from(octets).ok()?).to_string()),
        16 => {
            let ip = Ipv6Addr::from(<[u8; 16]>::try_from(octets).ok()?);
            Some(
                ip.to_ipv4_mapped()
                    .map_or(ip.to_string(), |v4| v4.to_string()),
            )
        }
        _ => None,
    }
}

/// A TLS version as the exporter-toolkit spells it, as a minor version of TLS 1.x. rustls speaks
/// TLS 1.2 and 1.3 only: older versions are refused rather than quietly meaning 1.2.
fn tls_version(name: &str) -> Result<u8, Problem> {
    match name {
        "TLS12" => Ok(2),
        "TLS13" => Ok(3),
        "TLS10" | "TLS11" => Err(Problem::UnsupportedTlsVersion(name.to_owned())),
        other => Err(Problem::UnknownTlsVersion(other.to_owned())),
    }
}

fn protocol_versions(
    raw: &RawTls,
    at: &Locator,
) -> Result<Vec<&'static rustls::SupportedProtocolVersion>, ConfigError> {
    let version = |field: &Option<Spanned<String>>, name: &str, default: u8| match field {
        None => Ok(default),
        Some(v) => {
            tls_version(&v.value).map_err(|p| locate(at, v, format!("tls_server_config.{name}"), p))
        }
    };
    let min = version(&raw.min_version, "min_version", 2)?;
    let max = version(&raw.max_version, "max_version", 3)?;
    if min > max {
        let field = raw.max_version.as_ref().expect("max below the default");
        return Err(locate(
            at,
            field,
            "tls_server_config.max_version",
            Problem::MaxBelowMin,
        ));
    }
    Ok([(2, &rustls::version::TLS12), (3, &rustls::version::TLS13)]
        .into_iter()
        .filter(|(v, _)| (min..=max).contains(v))
        .map(|(_, version)| version)
        .collect())
}

/// The headers exporter-toolkit lets a web config set.
const ALLOWED_HEADERS: [&str; 5] = [
    "Content-Security-Policy",
    "Strict-Transport-Security",
    "X-Content-Type-Options",
    "X-Frame-Options",
    "X-XSS-Protection",
];

/// The headers a web config sets, with the values exporter-toolkit accepts.
fn response_headers(
    headers: &BTreeMap<String, Spanned<String>>,
    at: &Locator,
) -> Result<Vec<(HeaderName, HeaderValue)>, ConfigError> {
    let mut out = Vec::with_capacity(headers.len());
    for (name, value) in headers {
        let key = format!("http_server_config.headers.{name}");
        let Some(known) = ALLOWED_HEADERS
            .iter()
            .find(|a| a.eq_ignore_ascii_case(name))
        else {
            return Err(locate(at, value, key, Problem::HeaderNotAllowed));
        };
        let text = value.value.trim();
        let valid = match *known {
            "X-Content-Type-Options" => text.eq_ignore_ascii_case("nosniff"),
            "X-Frame-Options" => {
                text.eq_ignore_ascii_case("deny") || text.eq_ignore_ascii_case("sameorigin")
            }
            _ => !text.is_empty(),
        };
        let header_value = HeaderValue::from_str(text).ok().filter(|_| valid);
        let Some(header_value) = header_value else {
            let problem = Problem::InvalidHeaderValue {
                header: known,
                value: text.to_owned(),
            };
            return Err(locate(at, value, key, problem));
        };
        let name = HeaderName::from_bytes(known.to_ascii_lowercase().as_bytes())
            .expect("the allowed names are valid");
        out.push((name, header_value));
    }
    Ok(out)
}

/// Users and their bcrypt hashes, checked against `Authorization: Basic`.
pub struct BasicAuth {
    users: BTreeMap<String, String>,
    /// A configured hash of the highest cost: an unknown user is checked against it, so that a
    /// wrong user costs as much as a wrong password.
    decoy: String,
    /// Digests of (user, password, hash) that verified; bounded.
    verified: Mutex<std::collections::HashSet<[u8; 32]>>,
    bcrypt_checks: AtomicU64,
}

impl fmt::Debug for BasicAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BasicAuth")
            .field("users", &self.users.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// Why a request was not let in, for the log (never with the password).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denied {
    NoCredentials,
    Malformed,
    WrongCredentials,
}

impl BasicAuth {
    fn new(
        users: &BTreeMap<String, Spanned<String>>,
        at: &Locator,
    ) -> Result<BasicAuth, ConfigError> {
        let mut hashes = BTreeMap::new();
        let mut decoy: Option<(u32, String)> = None;
        for (user, hash) in users {
            let key = format!("basic_auth_users.{user}");
            if user.is_empty() || user.contains(':') {
                return Err(locate(at, hash, key, Problem::BadUserName));
            }
            let parts: bcrypt::HashParts = hash
                .value
                .trim()
                .parse()
                .map_err(|_| locate(at, hash, key.clone(), Problem::NotBcrypt))?;
            let cost = parts.get_cost();
            if decoy.as_ref().is_none_or(|(c, _)| cost > *c) {
                decoy = Some((cost, hash.value.trim().to_owned()));
            }
            hashes.insert(user.clone(), hash.value.trim().to_owned());
        }
        Ok(BasicAuth {
            users: hashes,
            decoy: decoy.map(|(_, hash)| hash).unwrap_or_default(),
            verified: Mutex::new(Default::default()),
            bcrypt_checks: AtomicU64::new(0),
        })
    }

    /// Checks an `Authorization` header. Costs one bcrypt verification unless this user and
    /// password verified before, whether or not the user exists. Blocking: call it off the
    /// async threads when it may run bcrypt ([`BasicAuth::is_cached`] tells).
    pub fn check(&self, header: Option<&HeaderValue>) -> Result<(), Denied> {
        let (user, password) = credentials(header)?;
        let digest = self.digest(&user, &password);
        if self.verified_before(&digest) {
            return Ok(());
        }
        self.bcrypt_checks.fetch_add(1, Ordering::Relaxed);
        let (hash, known) = match self.users.get(&user) {
            Some(hash) => (hash.as_str(), true),
            None => (self.decoy.as_str(), false),
        };
        let matches = bcrypt::verify(password.expose(), hash).unwrap_or(false);
        if !(known && matches) {
            return Err(Denied::WrongCredentials);
        }
        let mut verified = self.verified.lock().unwrap_or_else(|e| e.into_inner());
        if verified.len() >= VERIFIED_CACHE_CAPACITY {
            verified.clear();
        }
        verified.insert(digest);
        Ok(())
    }

    /// Whether [`BasicAuth::check`] would answer from its cache (or without bcrypt at all).
    pub fn is_cached(&self, header: Option<&HeaderValue>) -> bool {
        match credentials(header) {
            Ok((user, password)) => self.verified_before(&self.digest(&user, &password)),
            Err(_) => true,
        }
    }

    /// How many bcrypt verifications ran; for tests.
    pub fn bcrypt_checks(&self) -> u64 {
        self.bcrypt_checks.load(Ordering::Relaxed)
    }

    /// The `WWW-Authenticate` value of a 401.
    pub fn challenge() -> HeaderValue {
        HeaderValue::from_static(CHALLENGE)
    }

    fn digest(&self, user: &str, password: &Secret) -> [u8; 32] {
        let hash = self.users.get(user).map_or("", String::as_str);
        let mut digest = Sha256::new();
        for part in [user, password.expose(), hash] {
            digest.update((part.len() as u64).to_le_bytes());
            digest.update(part.as_bytes());
        }
        digest.finalize().into()
    }

    fn verified_before(&self, digest: &[u8; 32]) -> bool {
        self.verified
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(digest)
    }
}

/// User and password of an `Authorization: Basic` header.
fn credentials(header: Option<&HeaderValue>) -> Result<(String, Secret), Denied> {
    let header = header.ok_or(Denied::NoCredentials)?;
    let text = header.to_str().map_err(|_| Denied::Malformed)?;
    let (scheme, encoded) = text.trim().split_once(' ').ok_or(Denied::Malformed)?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(Denied::Malformed);
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .map_err(|_| Denied::Malformed)?;
    let decoded = String::from_utf8(decoded).map_err(|_| Denied::Malformed)?;
    let (user, password) = decoded.split_once(':').ok_or(Denied::Malformed)?;
    Ok((user.to_owned(), Secret::new(password)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    fn basic(user: &str, password: &str) -> HeaderValue {
        let encoded =
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        HeaderValue::from_str(&format!("Basic {encoded}")).unwrap()
    }

    fn auth_with(users: &[(&str, &str)]) -> (tempfile::TempDir, WebConfigFile) {
        let dir = tempfile::tempdir().unwrap();
        let mut yaml = String::from("basic_auth_users:\n");
        for (user, password) in users {
            yaml.push_str(&format!(
                "  {user}: {}\n",
                bcrypt::hash(password, 4).unwrap()
            ));
        }
        let path = write(dir.path(), "web.yml", &yaml);
        let file = WebConfigFile::load(&path).unwrap();
        (dir, file)
    }

    #[test]
    fn the_right_password_is_let_in_and_checked_with_bcrypt_once() {
        let (_dir, file) = auth_with(&[("prometheus", "s3cret")]);
        let auth = file.current().basic_auth.clone().unwrap();
        let good = basic("prometheus", "s3cret");
        assert_eq!(auth.check(Some(&good)), Ok(()));
        assert!(auth.is_cached(Some(&good)));
        assert_eq!(auth.check(Some(&good)), Ok(()));
        assert_eq!(
            auth.bcrypt_checks(),
            1,
            "the second check is served from the cache"
        );
    }

    #[test]
    fn wrong_users_and_passwords_cost_one_bcrypt_check_each() {
        let (_dir, file) = auth_with(&[("prometheus", "s3cret"), ("grafana", "other")]);
        let auth = file.current().basic_auth.clone().unwrap();
        let cases = [
            (basic("prometheus", "wrong"), Denied::WrongCredentials),
            (basic("nobody", "s3cret"), Denied::WrongCredentials),
            (basic("grafana", "s3cret"), Denied::WrongCredentials),
            (basic("", ""), Denied::WrongCredentials),
        ];
        for (i, (header, denied)) in cases.iter().enumerate() {
            assert_eq!(auth.check(Some(header)), Err(*denied), "case {i}");
            assert_eq!(
                auth.bcrypt_checks(),
                i as u64 + 1,
                "case {i} ran bcrypt once"
            );
            assert!(!auth.is_cached(Some(header)), "failures are never cached");
        }
    }

    #[test]
    fn malformed_headers_are_refused_without_bcrypt() {
        let (_dir, file) = auth_with(&[("prometheus", "s3cret")]);
        let auth = file.current().basic_auth.clone().unwrap();
        assert_eq!(auth.check(None), Err(Denied::NoCredentials));
        for header in [
            "Bearer abc",
            "Basic",
            "Basic !!!notbase64",
            "Basic bm9jb2xvbg==", // "nocolon"
        ] {
            let header = HeaderValue::from_static(header);
            assert_eq!(
                auth.check(Some(&header)),
                Err(Denied::Malformed),
                "{header:?}"
            );
        }
        assert_eq!(auth.bcrypt_checks(), 0);
    }

    #[test]
    fn debug_output_names_users_but_never_hashes() {
        let (_dir, file) = auth_with(&[("prometheus", "s3cret")]);
        let shown = format!("{:?}", file.current());
        assert!(shown.contains("prometheus"), "{shown}");
        assert!(!shown.contains("$2"), "{shown}");
    }

    #[test]
    fn a_changed_file_is_reloaded_and_a_broken_change_keeps_the_last_good_settings() {
        let (dir, file) = auth_with(&[("prometheus", "one")]);
        let path = dir.path().join("web.yml");
        let first = file.current();
        assert_eq!(file.refresh(), Refresh::Unchanged);
        assert!(
            Arc::ptr_eq(&first, &file.current()),
            "unchanged: the same settings"
        );

        let yaml = format!(
            "basic_auth_users:\n  prometheus: {}\n  # changed\n",
            bcrypt::hash("two", 4).unwrap()
        );
        std::fs::write(&path, yaml).unwrap();
        assert!(
            Arc::ptr_eq(&first, &file.current()),
            "reading the settings never looks at the files"
        );
        assert_eq!(file.refresh(), Refresh::Reloaded);
        let second = file.current();
        assert!(!Arc::ptr_eq(&first, &second));
        let auth = second.basic_auth.clone().unwrap();
        assert_eq!(auth.check(Some(&basic("prometheus", "two"))), Ok(()));
        assert_eq!(file.refresh(), Refresh::Unchanged);

        std::fs::write(&path, "basic_auth_users: [oops\n").unwrap();
        assert_eq!(file.refresh(), Refresh::Refused, "refused, and logged");
        assert_eq!(
            file.refresh(),
            Refresh::Unchanged,
            "the same broken file is not tried (nor logged) again"
        );
        assert!(
            Arc::ptr_eq(&second, &file.current()),
            "a broken file keeps the settings in force"
        );
    }

    /// Writes a self-signed certificate and its key as `{name}.crt` and `{name}.key`.
    fn write_certificate(dir: &Path, name: &str) {
        let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        write(dir, &format!("{name}.crt"), &certified.cert.pem());
        write(
            dir,
            &format!("{name}.key"),
            &certified.signing_key.serialize_pem(),
        );
    }

    #[test]
    fn files_named_before_they_exist_are_picked_up_when_they_appear() {
        let dir = tempfile::tempdir().unwrap();
        write_certificate(dir.path(), "a");
        let tls = |name: &str| {
            format!("tls_server_config:\n  cert_file: {name}.crt\n  key_file: {name}.key\n")
        };
        let path = write(dir.path(), "web.yml", &tls("a"));
        let file = WebConfigFile::load(&path).unwrap();
        let first = file.current();
        assert!(first.tls.is_some());

        write(dir.path(), "web.yml", &tls("b"));
        assert_eq!(file.refresh(), Refresh::Refused, "b.crt does not exist yet");
        assert_eq!(
            file.refresh(),
            Refresh::Unchanged,
            "nothing it read changed"
        );
        let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        write(dir.path(), "b.crt", &certified.cert.pem());
        assert_eq!(file.refresh(), Refresh::Refused, "b.key does not exist yet");
        assert!(
            Arc::ptr_eq(&first, &file.current()),
            "the last good settings stay"
        );
        write(dir.path(), "b.key", &certified.signing_key.serialize_pem());
        assert_eq!(file.refresh(), Refresh::Reloaded, "both files appeared");
        assert!(!Arc::ptr_eq(&first, &file.current()));
    }

    /// Rewrites a file with content of the same length, then puts its modification time back:
    /// what a write within one tick of the file system's clock looks like to `stat`.
    fn rewrite_keeping_the_stamp(path: &Path, text: &str) {
        let modified = std::fs::metadata(path).unwrap().modified().unwrap();
        assert_eq!(std::fs::metadata(path).unwrap().len(), text.len() as u64);
        std::fs::write(path, text).unwrap();
        let file = std::fs::File::options().write(true).open(path).unwrap();
        file.set_modified(modified).unwrap();
    }

    #[test]
    fn a_write_the_file_times_cannot_show_is_seen_while_the_file_is_recent() {
        let yaml = |password: &str| {
            format!(
                "basic_auth_users:\n  prometheus: {}\n",
                bcrypt::hash(password, 4).unwrap()
            )
        };
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), "web.yml", &yaml("one"));
        let file = WebConfigFile::load(&path).unwrap();
        rewrite_keeping_the_stamp(&path, &yaml("two"));
        assert_eq!(file.refresh(), Refresh::Reloaded, "the content differs");
        let auth = file.current().basic_auth.clone().unwrap();
        assert_eq!(auth.check(Some(&basic("prometheus", "two"))), Ok(()));

        // A file last written long before it was read is trusted by its stamp alone, so the
        // watcher does not read it every second.
        let old = SystemTime::now() - Duration::from_secs(3600);
        let path = write(dir.path(), "old.yml", &yaml("one"));
        std::fs::File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(old)
            .unwrap();
        let file = WebConfigFile::load(&path).unwrap();
        rewrite_keeping_the_stamp(&path, &yaml("two"));
        assert_eq!(file.refresh(), Refresh::Unchanged);
    }

    #[test]
    fn switching_between_http_and_https_is_refused_until_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        write_certificate(dir.path(), "a");
        let path = write(dir.path(), "web.yml", "basic_auth_users: {}\n");
        let file = WebConfigFile::load(&path).unwrap();
        write(
            dir.path(),
            "web.yml",
            "tls_server_config:\n  cert_file: a.crt\n  key_file: a.key\n",
        );
        assert_eq!(file.refresh(), Refresh::Refused);
        assert!(file.current().tls.is_none());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_watcher_publishes_changes_within_seconds_and_stops_with_its_guard() {
        let (dir, file) = auth_with(&[("prometheus", "one")]);
        let file = Arc::new(file);
        let first = file.current();
        let watcher = file.watch();
        let yaml = format!(
            "basic_auth_users:\n  prometheus: {}\n  # changed\n",
            bcrypt::hash("two", 4).unwrap()
        );
        std::fs::write(dir.path().join("web.yml"), yaml).unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while Arc::ptr_eq(&first, &file.current()) {
            assert!(
                std::time::Instant::now() < deadline,
                "the watcher did not publish the change"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let auth = file.current().basic_auth.clone().unwrap();
        assert_eq!(auth.check(Some(&basic("prometheus", "two"))), Ok(()));

        let task = watcher.0.abort_handle();
        drop(watcher);
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while !task.is_finished() {
            assert!(
                std::time::Instant::now() < deadline,
                "the watcher did not stop"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    #[test]
    fn tls_versions_rustls_cannot_speak_are_refused() {
        let cases: &[(&str, Option<u8>)] = &[
            ("TLS12", Some(2)),
            ("TLS13", Some(3)),
            ("TLS10", None),
            ("TLS11", None),
            ("TLS14", None),
            ("tls12", None),
            ("", None),
        ];
        for (name, expected) in cases {
            assert_eq!(tls_version(name).ok(), *expected, "{name:?}");
        }
        for old in ["TLS10", "TLS11"] {
            let message = tls_version(old).unwrap_err().to_string();
            assert!(
                message.contains(old)
                    && message.contains("rustls")
                    && message.contains("TLS12 and TLS13"),
                "{message}"
            );
        }
    }

    #[test]
    fn bad_files_get_errors_naming_line_and_key() {
        let dir = tempfile::tempdir().unwrap();
        let cases: &[(&str, &str, &str)] = &[
            (
                "tls_server_config:\n  cert_file: missing.crt\n  key_file: missing.key\n",
                "2:14: tls_server_config.cert_file",
                "cannot read PEM certificates",
            ),
            (
                "tls_server_config:\n  cert_file: a.crt\n",
                "2:3: tls_server_config.key_file",
                "missing",
            ),
            (
                "tls_server_config:\n  cert_file: a.crt\n  key_file: a.key\n  cipher_suites: [x]\n",
                "4:19: tls_server_config.cipher_suites[0]",
                "unknown cipher suite \"x\"",
            ),
            (
                "tls_server_config:\n  cert_file: a.crt\n  key_file: a.key\n  cipher_suites: \
                 [TLS_RSA_WITH_AES_128_CBC_SHA, TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA]\n",
                "4:18: tls_server_config.cipher_suites",
                "none of these cipher suites is available here: the TLS library (rustls with ring) \
                 lacks TLS_RSA_WITH_AES_128_CBC_SHA, TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",
            ),
            (
                "tls_server_config:\n  cert_file: a.crt\n  key_file: a.key\n  max_version: TLS12\n  \
                 cipher_suites: [TLS_AES_128_GCM_SHA256]\n",
                "5:18: tls_server_config.cipher_suites",
                "no TLS 1.2 cipher suite listed is available here",
            ),
            (
                "tls_server_config:\n  cert_file: a.crt\n  key_file: a.key\n  curve_preferences: [CurveP521]\n",
                "4:22: tls_server_config.curve_preferences",
                "none of these curves is available here: the TLS library (rustls with ring) lacks CurveP521",
            ),
            (
                "tls_server_config:\n  cert_file: a.crt\n  key_file: a.key\n  curve_preferences: [X25519, P-256]\n",
                "4:31: tls_server_config.curve_preferences[1]",
                "unknown curve \"P-256\"",
            ),
            (
                "tls_server_config:\n  cert: x\n  cert_file: a.crt\n  key_file: a.key\n",
                "2:9: tls_server_config.cert",
                "set either cert (the PEM inline) or cert_file, not both",
            ),
            (
                "tls_server_config:\n  cert: not a certificate\n  key_file: a.key\n",
                "2:9: tls_server_config.cert",
                "cannot read PEM certificates from this value: no PEM section of the expected kind",
            ),
            (
                "tls_server_config:\n  cert_file: a.crt\n  key_file: a.key\n  client_ca: x\n",
                "4:14: tls_server_config.client_ca",
                "a client CA is set but client_auth_type is NoClientCert",
            ),
            (
                "tls_server_config:\n  cert_file: a.crt\n  key_file: a.key\n  \
                 client_auth_type: RequireAndVerifyClientCert\n",
                "2:3: tls_server_config.client_ca_file",
                "missing; RequireAndVerifyClientCert needs the CA",
            ),
            (
                "tls_server_config:\n  cert_file: a.crt\n  key_file: a.key\n  client_allowed_sans: [prometheus]\n",
                "4:24: tls_server_config.client_allowed_sans",
                "client_auth_type is NoClientCert, so no client certificate (and no SAN) would be checked",
            ),
            (
                "tls_server_config:\n  client_allowed_sans: [prometheus]\n",
                "2:24: tls_server_config.client_allowed_sans",
                "no SAN",
            ),
            (
                "tls_server_config:\n  cert_file: a.crt\n  key_file: a.key\n  \
                 client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ca.crt\n  client_allowed_sans: []\n",
                "6:24: tls_server_config.client_allowed_sans",
                "empty, so no client certificate could match",
            ),
            (
                "tls_server_config:\n  cert_file: a.crt\n  key_file: a.key\n  client_auth_type: RequireClientCert\n",
                "4:21: tls_server_config.client_auth_type",
                "RequireClientCert accepts client certificates without verifying them",
            ),
            (
                "rate_limit:\n  interval: 1s\n  burst: 10\n",
                "2:13: rate_limit.interval",
                "this exporter has no rate limiter",
            ),
            (
                "rate_limit:\n  interval: 1 second\n",
                "2:13: rate_limit.interval",
                "not a Go duration",
            ),
            (
                "basic_auth_users:\n  prometheus: plain-text\n",
                "2:15: basic_auth_users.prometheus",
                "not a bcrypt hash",
            ),
            (
                "http_server_config:\n  headers:\n    Server: me\n",
                "3:13: http_server_config.headers.Server",
                "cannot be set",
            ),
            (
                "http_server_config:\n  headers:\n    X-Frame-Options: allow-all\n",
                "3:22: http_server_config.headers.X-Frame-Options",
                "invalid value",
            ),
            (
                "tls_server_config:\n  cert_file: a.crt\n  key_file: a.key\n  min_version: TLS10\n",
                "4:16: tls_server_config.min_version",
                "TLS10 is refused: the TLS library here (rustls) speaks TLS12 and TLS13 only",
            ),
            (
                "tls_server_config:\n  cert_file: a.crt\n  key_file: a.key\n  max_version: TLS11\n",
                "4:16: tls_server_config.max_version",
                "TLS11 is refused",
            ),
            (
                "tls_server_config:\n  cert_file: a.crt\n  key_file: a.key\n  min_version: TLS13\n  max_version: TLS12\n",
                "5:16: tls_server_config.max_version",
                "lower than min_version",
            ),
            ("bogus: 1\n", "1:1", "unknown field `bogus`"),
        ];
        for (yaml, location, message) in cases {
            let path = write(dir.path(), "web.yml", yaml);
            let error = WebConfigFile::load(&path).unwrap_err().to_string();
            assert!(error.starts_with(&path.display().to_string()), "{error}");
            assert!(error.contains(location), "{yaml:?}: {error}");
            assert!(error.contains(message), "{yaml:?}: {error}");
        }
    }

    #[test]
    fn allowed_headers_are_sent_in_their_canonical_form() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            dir.path(),
            "web.yml",
            "http_server_config:\n  headers:\n    x-frame-options: DENY\n    Strict-Transport-Security: max-age=31536000\n",
        );
        let settings = WebConfigFile::load(&path).unwrap().current();
        let names: Vec<_> = settings
            .headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.to_str().unwrap()))
            .collect();
        assert_eq!(
            names,
            [
                ("strict-transport-security", "max-age=31536000"),
                ("x-frame-options", "DENY")
            ]
        );
    }

    #[test]
    fn go_cipher_suite_names_map_to_rustls_or_are_dropped() {
        use GoCipherSuite::*;
        // (Go's name, what it is here)
        let cases: &[(&str, Option<&str>)] = &[
            ("TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", Some("TLS12")),
            ("TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384", Some("TLS12")),
            (
                "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
                Some("TLS12"),
            ),
            ("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", Some("TLS12")),
            ("TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", Some("TLS12")),
            ("TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256", Some("TLS12")),
            ("TLS_AES_128_GCM_SHA256", Some("TLS13")),
            ("TLS_AES_256_GCM_SHA384", Some("TLS13")),
            ("TLS_CHACHA20_POLY1305_SHA256", Some("TLS13")),
            ("TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA", Some("unavailable")),
            ("TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA", Some("unavailable")),
            ("TLS_RSA_WITH_AES_128_GCM_SHA256", Some("unavailable")),
            ("TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA", Some("unavailable")),
            ("TLS_RSA_WITH_RC4_128_SHA", Some("unavailable")),
            // Go's short aliases are constants, not names CipherSuites() gives.
            ("TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305", None),
            ("TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA2048", None),
            ("tls_ecdhe_ecdsa_with_aes_128_gcm_sha256", None),
            ("TLS13_AES_128_GCM_SHA256", None),
            ("", None),
        ];
        for (name, expected) in cases {
            let found = go_cipher_suite(name);
            let kind = found.map(|f| match f {
                Tls12(suite) => {
                    // The rustls suite is the one of the same IANA name.
                    assert_eq!(format!("{:?}", suite.suite()), *name);
                    assert!(matches!(suite, SupportedCipherSuite::Tls12(_)), "{name}");
                    "TLS12"
                }
                Tls13 => "TLS13",
                Unavailable => "unavailable",
            });
            assert_eq!(kind, *expected, "{name}");
        }
        // Every TLS 1.2 suite of rustls can be chosen by its Go name.
        for suite in rustls::crypto::ring::ALL_CIPHER_SUITES {
            if let SupportedCipherSuite::Tls12(_) = suite {
                let name = format!("{:?}", suite.suite());
                assert!(
                    matches!(go_cipher_suite(&name), Some(Tls12(s)) if s.suite() == suite.suite()),
                    "{name}"
                );
            }
        }
    }

    #[test]
    fn go_curve_names_map_to_rustls_key_exchange_groups() {
        use rustls::NamedGroup;
        let cases: &[(&str, Option<Option<NamedGroup>>)] = &[
            ("X25519", Some(Some(NamedGroup::X25519))),
            ("CurveP256", Some(Some(NamedGroup::secp256r1))),
            ("CurveP384", Some(Some(NamedGroup::secp384r1))),
            ("CurveP521", Some(None)), // ring has no P-521
            ("P256", None),
            ("x25519", None),
            ("X25519MLKEM768", None),
            ("", None),
        ];
        for (name, expected) in cases {
            let found = go_curve(name).map(|group| group.map(|g| g.name()));
            assert_eq!(found, *expected, "{name}");
        }
    }

    #[test]
    fn cipher_suites_and_curves_keep_their_order_and_name_what_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            dir.path(),
            "web.yml",
            "cipher_suites:\n  - TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA\n  - TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384\n  \
             - TLS_AES_128_GCM_SHA256\n  - TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256\n  \
             - TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384\ncurves: [CurveP521, CurveP384, X25519]\n",
        );
        #[derive(Deserialize)]
        struct Lists {
            cipher_suites: Spanned<Vec<Spanned<String>>>,
            curves: Spanned<Vec<Spanned<String>>>,
        }
        let source = path.display().to_string();
        let text = std::fs::read_to_string(&path).unwrap();
        let lists: Lists = crate::config::parse_yaml(&source, &text).unwrap();
        let at = Locator { source: &source };
        let mut lacking = Vec::new();
        let suites = cipher_suites(&lists.cipher_suites, &at, &mut lacking).unwrap();
        let names: Vec<_> = suites.iter().map(|s| format!("{:?}", s.suite())).collect();
        assert_eq!(
            names,
            [
                "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
                "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"
            ]
        );
        let groups = curves(&lists.curves, &at, &mut lacking).unwrap();
        let groups: Vec<_> = groups.iter().map(|g| g.name()).collect();
        assert_eq!(
            groups,
            [rustls::NamedGroup::secp384r1, rustls::NamedGroup::X25519]
        );
        assert_eq!(lacking, ["TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA", "CurveP521"]);
    }

    #[test]
    fn go_durations_are_read_for_whether_they_are_zero() {
        let cases: &[(&str, Option<bool>)] = &[
            ("0", Some(true)),
            ("0s", Some(true)),
            ("0ms", Some(true)),
            ("0h0m0.0s", Some(true)),
            ("-0s", Some(true)),
            ("1s", Some(false)),
            ("1000000000", Some(false)),
            ("1.5h", Some(false)),
            ("1m30s", Some(false)),
            ("500µs", Some(false)),
            ("3ns", Some(false)),
            ("", None),
            ("s", None),
            ("1", Some(false)),
            ("1 s", None),
            ("1d", None),
            ("1..5s", None),
            ("1second", None),
        ];
        for (text, expected) in cases {
            assert_eq!(go_duration_is_zero(text), *expected, "{text:?}");
        }
    }

    /// Certificates with names of every kind, and the names exporter-toolkit compares.
    #[test]
    fn subject_alt_names_are_read_as_go_writes_them() {
        use rcgen::{CertificateParams, KeyPair, SanType};
        let ia5 = |s: &str| s.try_into().unwrap();
        let cases: Vec<(Vec<SanType>, Vec<&str>)> = vec![
            (
                vec![SanType::DnsName(ia5("prometheus.example"))],
                vec!["prometheus.example"],
            ),
            (
                vec![
                    SanType::DnsName(ia5("a.example")),
                    SanType::Rfc822Name(ia5("ops@example.org")),
                    SanType::URI(ia5("spiffe://example.org/prometheus")),
                    SanType::IpAddress("192.0.2.7".parse().unwrap()),
                    SanType::IpAddress("2001:db8::1".parse().unwrap()),
                    SanType::IpAddress("::ffff:192.0.2.8".parse().unwrap()),
                ],
                vec![
                    "a.example",
                    "ops@example.org",
                    "spiffe://example.org/prometheus",
                    "192.0.2.7",
                    "2001:db8::1",
                    "192.0.2.8",
                ],
            ),
            (vec![], vec![]),
        ];
        for (sans, expected) in cases {
            let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
            params.subject_alt_names = sans;
            let cert = params.self_signed(&KeyPair::generate().unwrap()).unwrap();
            assert_eq!(subject_alt_names(cert.der()).unwrap(), expected);
        }
        for malformed in [&[][..], &[0x30], &[0x30, 0x05, 0x30], &[0x04, 0x00]] {
            assert_eq!(subject_alt_names(malformed), None, "{malformed:?}");
        }
    }

    #[test]
    fn client_allowed_sans_let_in_only_certificates_with_a_listed_name() {
        use rcgen::{
            BasicConstraints, CertificateParams, CertifiedIssuer, ExtendedKeyUsagePurpose, IsCa,
            KeyPair,
        };
        let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca = CertifiedIssuer::self_signed(ca, KeyPair::generate().unwrap()).unwrap();
        let client = |names: &[&str]| {
            let names = names.iter().map(|n| n.to_string()).collect::<Vec<_>>();
            let mut params = CertificateParams::new(names).unwrap();
            params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
            let key = KeyPair::generate().unwrap();
            params.signed_by(&key, &ca).unwrap().der().clone()
        };
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = RootCertStore::empty();
        roots.add(ca.der().clone()).unwrap();
        let chain = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
            .build()
            .unwrap();
        let check = |allowed: &[&str], names: &[&str]| {
            let verifier = ClientCertCheck {
                chain: Some(chain.clone()),
                mandatory: true,
                allowed_sans: allowed.iter().map(|a| a.to_string()).collect(),
                algorithms: provider.signature_verification_algorithms,
            };
            verifier.verify_client_cert(&client(names), &[], UnixTime::now())
        };
        let cases: &[(&[&str], &[&str], bool)] = &[
            (&["prometheus"], &["prometheus"], true),
            (&["one", "prometheus"], &["grafana", "prometheus"], true),
            (&["10.0.0.1"], &["10.0.0.1"], true),
            (&["prometheus"], &["grafana"], false),
            (&["prometheus"], &["Prometheus"], false),
            (&["*.example.org"], &["a.example.org"], false),
            (&[], &["anything"], true), // no list: the CA decides alone
        ];
        for (allowed, names, accepted) in cases {
            let verdict = check(allowed, names);
            assert_eq!(
                verdict.is_ok(),
                *accepted,
                "{allowed:?} {names:?}: {verdict:?}"
            );
        }
        let refused = check(&["prometheus"], &["grafana"])
            .unwrap_err()
            .to_string();
        assert!(
            refused.contains("client_allowed_sans") && refused.contains("grafana"),
            "{refused}"
        );

        let no_roots = ClientCertCheck {
            chain: None,
            mandatory: false,
            allowed_sans: Vec::new(),
            algorithms: provider.signature_verification_algorithms,
        };
        assert!(!no_roots.client_auth_mandatory());
        assert!(no_roots
            .verify_client_cert(&client(&["prometheus"]), &[], UnixTime::now())
            .is_err());
    }

    /// A self-signed certificate and its key, as PEM indented to sit in a YAML block scalar.
    fn inline_certificate() -> (String, String) {
        let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        let indent = |pem: String| {
            pem.lines()
                .map(|l| format!("    {l}\n"))
                .collect::<String>()
        };
        (
            indent(certified.cert.pem()),
            indent(certified.signing_key.serialize_pem()),
        )
    }

    #[test]
    fn valid_files_of_the_exporter_toolkit_format_load() {
        let dir = tempfile::tempdir().unwrap();
        write_certificate(dir.path(), "server");
        write_certificate(dir.path(), "ca");
        let (cert, key) = inline_certificate();
        let tls = "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n";
        // (what, YAML, speaks TLS)
        let cases: &[(&str, String, bool)] = &[
            ("empty TLS section", "tls_server_config: {}\n".into(), false),
            (
                "TLS settings without a certificate",
                "tls_server_config:\n  min_version: TLS12\n".into(),
                false,
            ),
            (
                "all of Go's secure suites",
                format!(
                    "{tls}  client_auth_type: VerifyClientCertIfGiven\n  cipher_suites:\n{}",
                    [
                        "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
                        "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
                        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
                        "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
                        "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
                        "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
                        "TLS_AES_128_GCM_SHA256",
                        "TLS_AES_256_GCM_SHA384",
                        "TLS_CHACHA20_POLY1305_SHA256",
                        "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA",
                        "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA",
                        "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",
                        "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA",
                    ]
                    .map(|s| format!("  - {s}\n"))
                    .concat()
                ),
                true,
            ),
            (
                "all curves",
                format!("{tls}  curve_preferences: [CurveP256, CurveP384, CurveP521, X25519]\n"),
                true,
            ),
            (
                "client's order, TLS 1.2 only",
                format!(
                    "{tls}  cipher_suites: [TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384, \
                     TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256]\n  prefer_server_cipher_suites: false\n  \
                     min_version: TLS12\n  max_version: TLS12\n"
                ),
                true,
            ),
            (
                "no HTTP/2",
                format!("{tls}http_server_config:\n  http2: false\n"),
                true,
            ),
            (
                "inline certificate, key and CA",
                format!(
                    "tls_server_config:\n  cert: |\n{cert}  key: |\n{key}  client_ca: |\n{cert}  \
                     client_auth_type: RequireAndVerifyClientCert\n"
                ),
                true,
            ),
            (
                "inline key, certificate file",
                format!("tls_server_config:\n  cert_file: server.crt\n  key: |\n{}", {
                    let key = std::fs::read_to_string(dir.path().join("server.key")).unwrap();
                    key.lines().map(|l| format!("    {l}\n")).collect::<String>()
                }),
                true,
            ),
            (
                "allowed SANs",
                format!(
                    "{tls}  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ca.crt\n  \
                     client_allowed_sans: [one, test3, two]\n"
                ),
                true,
            ),
            (
                "VerifyClientCertIfGiven without a CA",
                format!("{tls}  client_auth_type: VerifyClientCertIfGiven\n"),
                true,
            ),
            (
                "rate limiter off",
                "rate_limit:\n  interval: 0s\n  burst: 0\n".into(),
                false,
            ),
            (
                "rate limiter off, as an integer",
                "rate_limit:\n  interval: 0\n".into(),
                false,
            ),
        ];
        for (what, yaml, tls) in cases {
            let path = write(dir.path(), "web.yml", yaml);
            let file = WebConfigFile::load(&path).unwrap_or_else(|e| panic!("{what}: {e}"));
            assert_eq!(file.current().tls.is_some(), *tls, "{what}");
        }
    }

    #[test]
    fn inline_certificates_rotate_with_the_file_and_never_show() {
        let dir = tempfile::tempdir().unwrap();
        let yaml = |(cert, key): &(String, String)| {
            format!("tls_server_config:\n  cert: |\n{cert}  key: |\n{key}")
        };
        let first = inline_certificate();
        let path = write(dir.path(), "web.yml", &yaml(&first));
        let file = WebConfigFile::load(&path).unwrap();
        let before = file.current();
        assert_eq!(file.refresh(), Refresh::Unchanged);
        write(dir.path(), "web.yml", &yaml(&inline_certificate()));
        assert_eq!(file.refresh(), Refresh::Reloaded);
        assert!(!Arc::ptr_eq(&before, &file.current()));

        let key_lines: Vec<&str> = first
            .1
            .lines()
            .map(str::trim)
            .filter(|l| !l.starts_with("-----"))
            .collect();
        let shown = format!("{file:?} {:#?}", file.current());
        for line in &key_lines {
            assert!(!shown.contains(line), "key material in {shown}");
        }
        // A key that does not fit, or is broken, is refused without being echoed.
        let (cert, _) = inline_certificate();
        let broken_key = first.1.replacen("MI", "M!", 1);
        for yaml in [
            format!("tls_server_config:\n  cert: |\n{cert}  key: |\n{}", first.1),
            format!("tls_server_config:\n  cert: |\n{cert}  key: |\n{broken_key}"),
            format!(
                "tls_server_config:\n  cert: |\n{cert}  key: |\n{}  bogus: [",
                first.1
            ),
        ] {
            let path = write(dir.path(), "bad.yml", &yaml);
            let error = WebConfigFile::load(&path).unwrap_err().to_string();
            assert!(error.contains("bad.yml"), "{error}");
            for line in &key_lines {
                assert!(!error.contains(line), "key material in {error}");
            }
        }
    }
}
