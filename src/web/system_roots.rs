//! The system's CA certificates, found where Go's crypto/x509 finds them, for
//! `VerifyClientCertIfGiven` without a CA of the config's own.

use std::path::PathBuf;
use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use rustls::server::danger::ClientCertVerifier;
use rustls::server::WebPkiClientVerifier;
use rustls::RootCertStore;

use super::watcher::Fingerprint;

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
pub(super) fn system_client_verifier(
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
