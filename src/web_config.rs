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
//! [`WebConfigFile::current`] re-reads the file, and the certificate, key and CA files it names,
//! whenever one of them changed, so certificates rotate without a restart. A change that does not
//! load keeps the last good settings and is logged once.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

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
#[derive(Debug)]
pub struct WebConfigFile {
    path: PathBuf,
    loaded: Mutex<Loaded>,
}

#[derive(Debug)]
struct Loaded {
    /// The state of the config file and every file it names, when `settings` were read.
    fingerprint: Fingerprint,
    settings: Arc<WebSettings>,
    /// The state that last failed to load, so that one bad change is logged once.
    failed: Option<Fingerprint>,
}

impl WebConfigFile {
    /// Loads the file; any problem is an error naming the file, line and key.
    pub fn load(path: &Path) -> Result<WebConfigFile, ConfigError> {
        let (settings, fingerprint) = load_settings(path).map_err(|(e, _)| e)?;
        Ok(WebConfigFile {
            path: path.to_owned(),
            loaded: Mutex::new(Loaded {
                fingerprint,
                settings: Arc::new(settings),
                failed: None,
            }),
        })
    }

    /// The settings in force, re-read first if the file or one it names changed since.
    pub fn current(&self) -> Arc<WebSettings> {
        let mut loaded = self.loaded.lock().unwrap_or_else(|e| e.into_inner());
        // After a failed reload, what matters is whether the files that reload read changed.
        let unchanged = match &loaded.failed {
            Some(failed) => !failed.changed(),
            None => !loaded.fingerprint.changed(),
        };
        if unchanged {
            return Arc::clone(&loaded.settings);
        }
        match load_settings(&self.path) {
            Ok((settings, fingerprint))
                if settings.tls.is_some() != loaded.settings.tls.is_some() =>
            {
                tracing::error!(
                    file = %self.path.display(),
                    "the web config switches between HTTP and HTTPS; that needs a restart, so the previous settings stay in force"
                );
                loaded.failed = Some(fingerprint);
            }
            Ok((settings, fingerprint)) => {
                tracing::info!(file = %self.path.display(), tls = settings.tls.is_some(), basic_auth = settings.basic_auth.is_some(), "reloaded the web config");
                *loaded = Loaded {
                    fingerprint,
                    settings: Arc::new(settings),
                    failed: None,
                };
            }
            Err((e, fingerprint)) => {
                tracing::error!(error = %e, "cannot reload the web config; the previous settings stay in force");
                loaded.failed = Some(fingerprint);
            }
        }
        Arc::clone(&loaded.settings)
    }
}

/// Size and modification time of a set of files; a change in any means a reload.
#[derive(Debug, Clone)]
struct Fingerprint(Vec<(PathBuf, Option<(SystemTime, u64)>)>);

impl Fingerprint {
    /// Notes a file's state, then reads it: a write that lands after the read shows as a change.
    fn read(&mut self, path: &Path) -> std::io::Result<Vec<u8>> {
        self.0.push((path.to_owned(), stamp(path)));
        std::fs::read(path)
    }

    /// Whether any of the files changed (or appeared, or vanished) since.
    fn changed(&self) -> bool {
        self.0.iter().any(|(path, seen)| stamp(path) != *seen)
    }
}

fn stamp(path: &Path) -> Option<(SystemTime, u64)> {
    std::fs::metadata(path)
        .ok()
        .map(|m| (m.modified().unwrap_or(SystemTime::UNIX_EPOCH), m.len()))
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
fn load_settings(path: &Path) -> Result<(WebSettings, Fingerprint), (ConfigError, Fingerprint)> {
    let mut files = Fingerprint(Vec::new());
    match read_settings(path, &mut files) {
        Ok(settings) => Ok((settings, files)),
        Err(e) => Err((e, files)),
    }
}

fn read_settings(path: &Path, files: &mut Fingerprint) -> Result<WebSettings, ConfigError> {
    let source = path.display().to_string();
    let text = files.read(path).map_err(|e| {
        ConfigError::of_file(&source, format!("cannot read the web config file: {e}"))
    })?;
    let text = String::from_utf8(text)
        .map_err(|_| ConfigError::of_file(&source, "the web config file is not UTF-8".into()))?;
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
    let missing = |name: &str| {
        at.at(
            tls,
            format!("{KEY}.{name}"),
            "missing; TLS needs cert_file and key_file (PEM)",
        )
    };
    let cert_file = raw.cert_file.as_ref().ok_or_else(|| missing("cert_file"))?;
    let key_file = raw.key_file.as_ref().ok_or_else(|| missing("key_file"))?;
    let client_auth = match &raw.client_auth_type {
        None => ClientAuth::None,
        Some(kind) => match kind.value.as_str() {
            "NoClientCert" => ClientAuth::None,
            "VerifyClientCertIfGiven" => ClientAuth::VerifyIfGiven,
            "RequireAndVerifyClientCert" => ClientAuth::RequireAndVerify,
            "RequestClientCert" | "RequireAnyClientCert" => {
                return Err(at.at(
                    kind,
                    format!("{KEY}.client_auth_type"),
                    format!(
                    "{} accepts client certificates without verifying them, which proves nothing; \
                         use RequireAndVerifyClientCert with client_ca_file",
                    kind.value
                ),
                ))
            }
            other => {
                return Err(at.at(
                    kind,
                    format!("{KEY}.client_auth_type"),
                    format!(
                        "unknown client_auth_type {other:?}; expected NoClientCert, \
                         VerifyClientCertIfGiven or RequireAndVerifyClientCert"
                    ),
                ))
            }
        },
    };
    let versions = protocol_versions(raw, at)?;
    let cert_path = dir.join(&cert_file.value);
    let key_path = dir.join(&key_file.value);
    let certs = read_certificates(&cert_path, files)
        .map_err(|m| at.at(cert_file, format!("{KEY}.cert_file"), m))?;
    let key_pem = files.read(&key_path).map_err(|e| {
        at.at(
            key_file,
            format!("{KEY}.key_file"),
            format!(
                "cannot read the private key file {}: {e}",
                key_path.display()
            ),
        )
    })?;
    let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| {
        at.at(
            key_file,
            format!("{KEY}.key_file"),
            format!(
                "cannot read a PEM private key from {}: {}",
                key_path.display(),
                pem_error(&e)
            ),
        )
    })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_protocol_versions(&versions)
        .map_err(|e| at.at(tls, KEY, format!("cannot use these TLS versions: {e}")))?;
    let builder = match (client_auth, &raw.client_ca_file) {
        (ClientAuth::None, None) => builder.with_no_client_auth(),
        (ClientAuth::None, Some(ca)) => {
            return Err(at.at(
                ca,
                format!("{KEY}.client_ca_file"),
                "client_ca_file is set but client_auth_type is NoClientCert, so no client \
                 certificate would be checked; set client_auth_type: RequireAndVerifyClientCert",
            ))
        }
        (_, None) => {
            return Err(at.at(
                tls,
                format!("{KEY}.client_ca_file"),
                "missing; verifying client certificates needs the CA that signs them",
            ))
        }
        (kind, Some(ca)) => {
            let ca_path = dir.join(&ca.value);
            let mut roots = RootCertStore::empty();
            for cert in read_certificates(&ca_path, files)
                .map_err(|m| at.at(ca, format!("{KEY}.client_ca_file"), m))?
            {
                roots.add(cert).map_err(|e| {
                    at.at(
                        ca,
                        format!("{KEY}.client_ca_file"),
                        format!("not a usable CA certificate: {e}"),
                    )
                })?;
            }
            let verifier =
                WebPkiClientVerifier::builder_with_provider(Arc::new(roots), Arc::clone(&provider));
            let verifier = match kind {
                ClientAuth::VerifyIfGiven => verifier.allow_unauthenticated(),
                _ => verifier,
            };
            let verifier = verifier.build().map_err(|e| {
                at.at(
                    ca,
                    format!("{KEY}.client_ca_file"),
                    format!("cannot verify clients with these CAs: {e}"),
                )
            })?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut config = builder.with_single_cert(certs, key).map_err(|e| {
        at.at(
            key_file,
            format!("{KEY}.key_file"),
            format!("the key does not fit the certificate in cert_file: {e}"),
        )
    })?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

fn read_certificates(
    path: &Path,
    files: &mut Fingerprint,
) -> Result<Vec<CertificateDer<'static>>, String> {
    let pem = files
        .read(path)
        .map_err(|e| format!("cannot read PEM certificates from {}: {e}", path.display()))?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| {
            format!(
                "cannot read PEM certificates from {}: {}",
                path.display(),
                pem_error(&e)
            )
        })?;
    if certs.is_empty() {
        return Err(format!("no PEM certificate in {}", path.display()));
    }
    Ok(certs.into_iter().map(|c| c.into_owned()).collect())
}

/// A PEM error in words, without echoing the file's content.
fn pem_error(e: &rustls::pki_types::pem::Error) -> String {
    use rustls::pki_types::pem::Error;
    match e {
        Error::Io(io) => io.to_string(),
        Error::NoItemsFound => "no PEM section of the expected kind".into(),
        _ => "malformed PEM".into(),
    }
}

fn protocol_versions(
    raw: &RawTls,
    at: &Locator,
) -> Result<Vec<&'static rustls::SupportedProtocolVersion>, ConfigError> {
    // rustls speaks TLS 1.2 and 1.3 only; older minimums mean 1.2.
    let rank = |field: &Option<Spanned<String>>, name: &str, default: u8| match field {
        None => Ok(default),
        Some(v) => match v.value.as_str() {
            "TLS10" | "TLS11" | "TLS12" => Ok(12),
            "TLS13" => Ok(13),
            other => Err(at.at(
                v,
                format!("tls_server_config.{name}"),
                format!("unknown TLS version {other:?}; expected TLS12 or TLS13"),
            )),
        },
    };
    let min = rank(&raw.min_version, "min_version", 12)?;
    let max = rank(&raw.max_version, "max_version", 13)?;
    if min > max {
        let field = raw.max_version.as_ref().expect("max below the default");
        return Err(at.at(
            field,
            "tls_server_config.max_version",
            "lower than min_version",
        ));
    }
    Ok(
        [(12, &rustls::version::TLS12), (13, &rustls::version::TLS13)]
            .into_iter()
            .filter(|(v, _)| (min..=max).contains(v))
            .map(|(_, version)| version)
            .collect(),
    )
}

/// The headers exporter-toolkit lets a web config set, with the values it accepts.
fn response_headers(
    headers: &BTreeMap<String, Spanned<String>>,
    at: &Locator,
) -> Result<Vec<(HeaderName, HeaderValue)>, ConfigError> {
    const ALLOWED: [&str; 5] = [
        "Content-Security-Policy",
        "Strict-Transport-Security",
        "X-Content-Type-Options",
        "X-Frame-Options",
        "X-XSS-Protection",
    ];
    let mut out = Vec::with_capacity(headers.len());
    for (name, value) in headers {
        let key = format!("http_server_config.headers.{name}");
        let Some(known) = ALLOWED.iter().find(|a| a.eq_ignore_ascii_case(name)) else {
            return Err(at.at(
                value,
                key,
                format!("this header cannot be set; allowed: {}", ALLOWED.join(", ")),
            ));
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
            return Err(at.at(value, key, format!("invalid value {text:?} for {known}")));
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
                return Err(at.at(hash, key, "a user name must be non-empty and without ':'"));
            }
            let parts: bcrypt::HashParts = hash.value.trim().parse().map_err(|_| {
                at.at(
                    hash,
                    key.clone(),
                    "not a bcrypt hash; make one with `htpasswd -nBC 10 \"\" | tr -d ':\\n'`",
                )
            })?;
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
        assert!(
            Arc::ptr_eq(&first, &file.current()),
            "unchanged: not re-read"
        );

        let yaml = format!(
            "basic_auth_users:\n  prometheus: {}\n  # changed\n",
            bcrypt::hash("two", 4).unwrap()
        );
        std::fs::write(&path, yaml).unwrap();
        let second = file.current();
        assert!(!Arc::ptr_eq(&first, &second));
        let auth = second.basic_auth.clone().unwrap();
        assert_eq!(auth.check(Some(&basic("prometheus", "two"))), Ok(()));

        std::fs::write(&path, "basic_auth_users: [oops\n").unwrap();
        let third = file.current();
        assert!(
            Arc::ptr_eq(&second, &third),
            "a broken file keeps the settings in force"
        );
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
