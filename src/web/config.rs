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
//!   prometheus: $2y$10$…              # bcrypt hash (okta-token-exporter hash-password)
//! ```
//!
//! Where Go's TLS and rustls (with *ring*) differ, a file keeps its meaning as far as rustls can
//! give it and says so: cipher suites and curves rustls lacks (CBC suites, P-521) are dropped with
//! one warning, and refused only when nothing listed is left; TLS 1.3 suites are always on, as in
//! Go; TLS 1.0 and 1.1 and the client auth types that verify nothing are refused. Without a CA,
//! `VerifyClientCertIfGiven` verifies a given certificate against the system's CAs, as Go does.
//! `client_allowed_sans` applies to the certificates clients give: with `VerifyClientCertIfGiven`,
//! a client without one still gets in. `rate_limit` (`interval`, `burst`) is exporter-toolkit's
//! token bucket for the whole server ([`super::rate_limit`]).
//!
//! The settings in force are an [`Arc<WebSettings>`] that connections and requests load without
//! a lock ([`WebConfigFile::current`]). A watcher task ([`WebConfigFile::watch`]) looks at the
//! file, and the certificate, key and CA files it names, once a second on a blocking thread, and
//! when one changed re-reads them all and publishes new settings, so certificates rotate without
//! a restart (inline ones with the file itself). A change that does not load keeps the last good
//! settings and is logged once.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use hyper::header::{HeaderName, HeaderValue};
use tokio_rustls::TlsAcceptor;

use super::basic_auth::BasicAuth;
use super::headers::response_headers;
use super::rate_limit::{self, RateLimiter};
use super::raw::RawWebConfig;
use super::tls::tls_acceptor;
use super::watcher::{self, Fingerprint, Refresh, Watcher};
use crate::yaml::{ConfigError, Locator};

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

/// The settings in force: what the server applies to each connection and request.
pub struct WebSettings {
    /// Present when the server speaks HTTPS.
    pub tls: Option<TlsAcceptor>,
    /// Present when requests must carry a user and password.
    pub basic_auth: Option<Arc<BasicAuth>>,
    /// Added to every response.
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// Present when requests are rate limited (`rate_limit`).
    pub rate_limit: Option<Arc<RateLimiter>>,
}

impl fmt::Debug for WebSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebSettings")
            .field("tls", &self.tls.is_some())
            .field("basic_auth", &self.basic_auth)
            .field("headers", &self.headers)
            .field("rate_limit", &self.rate_limit.as_ref().map(|l| l.limit()))
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
            Ok((mut settings, fingerprint)) => {
                // The same rate limit keeps its bucket: a reload is not a reset.
                let previous = self.settings.load();
                if let (Some(new), Some(old)) = (&settings.rate_limit, &previous.rate_limit) {
                    if new.limit() == old.limit() {
                        settings.rate_limit = Some(Arc::clone(old));
                    }
                }
                tracing::info!(file = %self.path.display(), tls = settings.tls.is_some(), basic_auth = settings.basic_auth.is_some(), rate_limit = settings.rate_limit.is_some(), "reloaded the web config");
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

    /// Starts the task that calls [`WebConfigFile::refresh`] every
    /// [`CHECK_INTERVAL`](super::CHECK_INTERVAL), off the
    /// threads that serve requests. It stops when the returned guard is dropped, or when the
    /// file is dropped. Call within a Tokio runtime.
    pub fn watch(self: &Arc<Self>) -> Watcher {
        watcher::spawn(self, WebConfigFile::refresh)
    }
}

/// Reads the file and everything it names. Either way, returns the state of every file it read
/// (taken before reading each), so that a change to any of them, or to a file that was missing,
/// is seen at the next look.
fn load_settings(path: &Path) -> Result<(WebSettings, Fingerprint), (WebConfigError, Fingerprint)> {
    let mut files = Fingerprint::default();
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
    let raw: RawWebConfig = crate::yaml::parse_yaml(&source, &text)?;
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
    let rate_limit = rate_limit::rate_limit(raw.rate_limit.as_ref(), &at, &mut warnings)?
        .map(|limit| Arc::new(RateLimiter::new(limit)));
    for warning in warnings {
        tracing::warn!(file = %path.display(), "{warning}");
    }
    Ok(WebSettings {
        tls,
        basic_auth,
        headers,
        rate_limit,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::web::testing::{auth_with, basic, inline_certificate, write, write_certificate};

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

    #[tokio::test(start_paused = true)]
    async fn a_reload_keeps_the_rate_limit_bucket_unless_the_limit_changed() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            dir.path(),
            "web.yml",
            "rate_limit:\n  interval: 1m\n  burst: 1\n",
        );
        let file = WebConfigFile::load(&path).unwrap();
        let limiter = file.current().rate_limit.clone().unwrap();
        assert_eq!(limiter.try_acquire(), Ok(()));
        write(
            dir.path(),
            "web.yml",
            "rate_limit:\n  interval: 1m\n  burst: 1\n# touched\n",
        );
        assert_eq!(file.refresh(), Refresh::Reloaded);
        let kept = file.current().rate_limit.clone().unwrap();
        assert!(Arc::ptr_eq(&limiter, &kept), "the same bucket");
        assert!(kept.try_acquire().is_err(), "still empty");
        write(
            dir.path(),
            "web.yml",
            "rate_limit:\n  interval: 1m\n  burst: 5\n",
        );
        assert_eq!(file.refresh(), Refresh::Reloaded);
        let changed = file.current().rate_limit.clone().unwrap();
        assert!(changed.try_acquire().is_ok(), "a new, full bucket");
        write(dir.path(), "web.yml", "rate_limit:\n  interval: 0\n");
        assert_eq!(file.refresh(), Refresh::Reloaded);
        assert!(file.current().rate_limit.is_none(), "off");
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
                "rate_limit:\n  interval: 1s\n  burst: -1\n",
                "3:10: rate_limit.burst",
                "a negative burst refuses every request",
            ),
            (
                "rate_limit:\n  interval: 1 second\n",
                "2:13: rate_limit.interval",
                "not a Go duration",
            ),
            (
                "basic_auth_users:\n  prometheus: plain-text\n",
                "2:15: basic_auth_users.prometheus",
                "not a bcrypt hash; make one with `okta-token-exporter hash-password`",
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
            (
                "rate limiter on",
                "rate_limit:\n  interval: 1s\n  burst: 10\n".into(),
                false,
            ),
            (
                "rate limiter that refuses everything, as in Go",
                "rate_limit:\n  interval: \"1s\"\n  burst: 0\n".into(),
                false,
            ),
        ];
        for (what, yaml, tls) in cases {
            let path = write(dir.path(), "web.yml", yaml);
            let file = WebConfigFile::load(&path).unwrap_or_else(|e| panic!("{what}: {e}"));
            assert_eq!(file.current().tls.is_some(), *tls, "{what}");
        }
    }
}
