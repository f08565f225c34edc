//! The PEM values of `tls_server_config` (certificate, key, client CA): inline in the web config
//! or in a file it names, read into rustls' types, with errors that never echo what was read.

use std::fmt;
use std::path::{Path, PathBuf};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde_saphyr::Spanned;

use super::raw::{locate, place};
use super::watcher::Fingerprint;
use crate::yaml::{ConfigError, Locator};

/// What is wrong with a PEM setting; [`locate`] adds the file, line, column and key.
#[derive(Debug, thiserror::Error)]
pub(super) enum Problem {
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
}

/// A PEM file that does not hold what it should, in words that never echo the file's content.
#[derive(Debug, thiserror::Error)]
pub(super) enum PemProblem {
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

/// A PEM value of `tls_server_config`: inline in the web config, or in a file it names.
pub(super) struct PemSetting<'a> {
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

    pub(super) fn certificates(
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

    pub(super) fn private_key(
        &self,
        files: &mut Fingerprint,
    ) -> Result<PrivateKeyDer<'static>, Problem> {
        const WHAT: &str = "a PEM private key";
        let pem = self.read(WHAT, files)?;
        PrivateKeyDer::from_pem_slice(&pem).map_err(|e| self.bad(WHAT, e.into()))
    }

    /// A warning when the value is a file that every user of the machine may read, as the
    /// token files get: for the private key.
    pub(super) fn readable_by_others(&self) -> Option<String> {
        match &self.source {
            PemSource::File(path) => readable_by_others(path),
            PemSource::Inline(_) => None,
        }
    }

    pub(super) fn locate(&self, at: &Locator, problem: impl fmt::Display) -> ConfigError {
        locate(at, &self.place, self.key.clone(), problem)
    }
}

/// Why a private key file is too open: readable by others, any user of the machine. Group
/// read is how Kubernetes hands a Secret to a non-root user (fsGroup), and is left alone, as
/// for the token files.
fn readable_by_others(path: &Path) -> Option<String> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path).ok()?.permissions().mode() & 0o777;
        (mode & 0o004 != 0).then(|| {
            format!(
                "the TLS private key {} is readable by every user of this machine (mode {mode:04o}); \
                 chmod 600 it (or 640 with a group of the exporter's user alone; on Kubernetes, \
                 defaultMode: 0440 on the Secret's volume)",
                path.display()
            )
        })
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        None
    }
}

/// The PEM value of `inline` or of `file`, whichever is set (an empty one counts as unset, as
/// in Go); both set is an error, since which one would count is anyone's guess.
pub(super) fn pem_setting<'a>(
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    #[cfg(unix)]
    #[test]
    fn a_private_key_file_every_user_can_read_is_warned_about() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let key = write(dir.path(), "server.key", "-----BEGIN PRIVATE KEY-----\n");
        for (mode, warned) in [(0o644, true), (0o604, true), (0o640, false), (0o600, false)] {
            std::fs::set_permissions(&key, std::fs::Permissions::from_mode(mode)).unwrap();
            let warning = super::readable_by_others(&key);
            assert_eq!(warning.is_some(), warned, "{mode:o}: {warning:?}");
            if let Some(warning) = warning {
                assert!(warning.contains("server.key"), "{warning}");
                assert!(warning.contains(&format!("{mode:04o}")), "{warning}");
            }
        }
    }

    use crate::web::testing::{inline_certificate, write};
    use crate::web::{Refresh, WebConfigFile};

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
