//! The web configuration file (`--web.config.file`): TLS, client certificates, basic
//! authentication and extra response headers for the exporter's own HTTP server.
//!
//! The format is the one of the Prometheus exporter-toolkit, so a file written for node_exporter
//! works here as is:
//!
//! ```yaml
//! tls_server_config:
//!   cert_file: server.crt            # PEM; relative paths are relative to this file
//!   key_file: server.key
//!   client_auth_type: RequireAndVerifyClientCert   # or NoClientCert, VerifyClientCertIfGiven
//!   client_ca_file: clients-ca.crt
//!   min_version: TLS12                # or TLS13; max_version as well
//! http_server_config:
//!   headers:
//!     Strict-Transport-Security: max-age=31536000
//! basic_auth_users:
//!   prometheus: $2y$10$…              # bcrypt hash (htpasswd -nBC 10 "" | tr -d ':\n')
//! ```
//!
//! The settings in force are an [`Arc<WebSettings>`] that connections and requests load without
//! a lock ([`WebConfigFile::current`]). A watcher task ([`WebConfigFile::watch`]) looks at the
//! file, and the certificate, key and CA files it names, once a second on a blocking thread, and
//! when one changed re-reads them all and publishes new settings, so certificates rotate without
//! a restart. A change that does not load keeps the last good settings and is logged once.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;
use base64::Engine as _;
use hyper::header::{HeaderName, HeaderValue};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
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
    #[error("missing; TLS needs cert_file and key_file (PEM)")]
    MissingTlsFile,
    #[error(
        "{0} accepts client certificates without verifying them, which proves nothing; \
         use RequireAndVerifyClientCert with client_ca_file"
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
    #[error(
        "client_ca_file is set but client_auth_type is NoClientCert, so no client certificate \
         would be checked; set client_auth_type: RequireAndVerifyClientCert"
    )]
    CaWithoutClientAuth,
    #[error("missing; verifying client certificates needs the CA that signs them")]
    MissingClientCa,
    #[error("not a usable CA certificate: {0}")]
    UnusableCa(rustls::Error),
    #[error("cannot verify clients with these CAs: {0}")]
    ClientVerifier(rustls::server::VerifierBuilderError),
    #[error("the key does not fit the certificate in cert_file: {0}")]
    KeyMismatch(rustls::Error),
    #[error("this header cannot be set; allowed: {}", ALLOWED_HEADERS.join(", "))]
    HeaderNotAllowed,
    #[error("invalid value {value:?} for {header}")]
    InvalidHeaderValue { header: &'static str, value: String },
    #[error("a user name must be non-empty and without ':'")]
    BadUserName,
    #[error("not a bcrypt hash; make one with `htpasswd -nBC 10 \"\" | tr -d ':\\n'`")]
    NotBcrypt,
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
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTls {
    cert_file: Option<Spanned<PathBuf>>,
    key_file: Option<Spanned<PathBuf>>,
    client_auth_type: Option<Spanned<String>>,
    client_ca_file: Option<Spanned<PathBuf>>,
    min_version: Option<Spanned<String>>,
    max_version: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHttpServer {
    headers: Option<BTreeMap<String, Spanned<String>>>,
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
    let tls = match &raw.tls_server_config {
        Some(tls) => Some(tls_acceptor(tls, dir, &at, files)?),
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

fn tls_acceptor(
    tls: &Spanned<RawTls>,
    dir: &Path,
    at: &Locator,
    files: &mut Fingerprint,
) -> Result<TlsAcceptor, ConfigError> {
    const KEY: &str = "tls_server_config";
    let raw = &tls.value;
    let missing = |name: &str| locate(at, tls, format!("{KEY}.{name}"), Problem::MissingTlsFile);
    let cert_file = raw.cert_file.as_ref().ok_or_else(|| missing("cert_file"))?;
    let key_file = raw.key_file.as_ref().ok_or_else(|| missing("key_file"))?;
    let client_auth = match &raw.client_auth_type {
        None => ClientAuth::None,
        Some(kind) => {
            let key = format!("{KEY}.client_auth_type");
            match kind.value.as_str() {
                "NoClientCert" => ClientAuth::None,
                "VerifyClientCertIfGiven" => ClientAuth::VerifyIfGiven,
                "RequireAndVerifyClientCert" => ClientAuth::RequireAndVerify,
                "RequestClientCert" | "RequireAnyClientCert" => {
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
    let cert_path = dir.join(&cert_file.value);
    let key_path = dir.join(&key_file.value);
    let certs = read_certificates(&cert_path, files)
        .map_err(|p| locate(at, cert_file, format!("{KEY}.cert_file"), p))?;
    let key = read_private_key(&key_path, files)
        .map_err(|p| locate(at, key_file, format!("{KEY}.key_file"), p))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_protocol_versions(&versions)
        .map_err(|e| locate(at, tls, KEY, Problem::TlsVersions(e)))?;
    let builder = match (client_auth, &raw.client_ca_file) {
        (ClientAuth::None, None) => builder.with_no_client_auth(),
        (ClientAuth::None, Some(ca)) => {
            let key = format!("{KEY}.client_ca_file");
            return Err(locate(at, ca, key, Problem::CaWithoutClientAuth));
        }
        (_, None) => {
            let key = format!("{KEY}.client_ca_file");
            return Err(locate(at, tls, key, Problem::MissingClientCa));
        }
        (kind, Some(ca)) => {
            let key = format!("{KEY}.client_ca_file");
            let ca_path = dir.join(&ca.value);
            let mut roots = RootCertStore::empty();
            for cert in
                read_certificates(&ca_path, files).map_err(|p| locate(at, ca, key.clone(), p))?
            {
                roots
                    .add(cert)
                    .map_err(|e| locate(at, ca, key.clone(), Problem::UnusableCa(e)))?;
            }
            let verifier =
                WebPkiClientVerifier::builder_with_provider(Arc::new(roots), Arc::clone(&provider));
            let verifier = match kind {
                ClientAuth::VerifyIfGiven => verifier.allow_unauthenticated(),
                _ => verifier,
            };
            let verifier = verifier
                .build()
                .map_err(|e| locate(at, ca, key.clone(), Problem::ClientVerifier(e)))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut config = builder.with_single_cert(certs, key).map_err(|e| {
        locate(
            at,
            key_file,
            format!("{KEY}.key_file"),
            Problem::KeyMismatch(e),
        )
    })?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

fn read_certificates(
    path: &Path,
    files: &mut Fingerprint,
) -> Result<Vec<CertificateDer<'static>>, Problem> {
    const WHAT: &str = "PEM certificates";
    let pem = files.read(path).map_err(|source| Problem::Unreadable {
        what: WHAT,
        path: path.to_owned(),
        source,
    })?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| Problem::BadPem {
            what: WHAT,
            path: path.to_owned(),
            reason: e.into(),
        })?;
    if certs.is_empty() {
        return Err(Problem::BadPem {
            what: WHAT,
            path: path.to_owned(),
            reason: PemProblem::NothingFound,
        });
    }
    Ok(certs.into_iter().map(|c| c.into_owned()).collect())
}

fn read_private_key(
    path: &Path,
    files: &mut Fingerprint,
) -> Result<PrivateKeyDer<'static>, Problem> {
    const WHAT: &str = "a PEM private key";
    let pem = files.read(path).map_err(|source| Problem::Unreadable {
        what: WHAT,
        path: path.to_owned(),
        source,
    })?;
    PrivateKeyDer::from_pem_slice(&pem).map_err(|e| Problem::BadPem {
        what: WHAT,
        path: path.to_owned(),
        reason: e.into(),
    })
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
                "4:3",
                "unknown field `cipher_suites`",
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
}
