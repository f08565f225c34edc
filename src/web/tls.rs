//! The TLS side of the server: `tls_server_config` turned into a rustls acceptor (certificate
//! and key, protocol versions, cipher suites and curves, ALPN, client certificates).

use std::path::Path;
use std::sync::Arc;

use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig, SupportedCipherSuite};
use serde_saphyr::Spanned;
use tokio_rustls::TlsAcceptor;

use super::client_cert::ClientCertCheck;
use super::go_names::{self, cipher_suites, curves, protocol_versions};
use super::pem::{self, pem_setting};
use super::raw::{locate, place, RawTls};
use super::system_roots::system_client_verifier;
use super::watcher::Fingerprint;
use crate::yaml::{ConfigError, Locator};

/// What is wrong with a TLS setting; [`locate`] adds the file, line, column and key.
#[derive(Debug, thiserror::Error)]
enum Problem {
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
    #[error("cannot use these TLS versions: {0}")]
    TlsVersions(rustls::Error),
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
}

/// How the server asks for client certificates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ClientAuth {
    None,
    VerifyIfGiven,
    RequireAndVerify,
}

/// The TLS side of the server, or `None` when `tls_server_config` names no certificate, key, CA
/// or client auth type: exporter-toolkit serves plain HTTP then, and so does this server.
/// `http2` chooses the protocols offered by ALPN. Cipher suites and curves that rustls lacks are
/// named in one of the `warnings`.
pub(super) fn tls_acceptor(
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
        let problem = pem::Problem::MissingPem {
            what: "a certificate",
            file: "cert_file",
            inline: "cert",
        };
        locate(at, tls, format!("{KEY}.cert_file"), problem)
    })?;
    let key = key.ok_or_else(|| {
        let problem = pem::Problem::MissingPem {
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
            return Err(locate(at, list, key, go_names::Problem::NoTls12CipherSuite));
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
            let mut configured_cas = Vec::new();
            let chain = match ca {
                Some(ca) => {
                    let mut roots = RootCertStore::empty();
                    for cert in ca.certificates(files).map_err(|p| ca.locate(at, p))? {
                        configured_cas.push(cert.clone());
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
                configured_cas,
            }))
        }
    };
    let certs = cert.certificates(files).map_err(|p| cert.locate(at, p))?;
    let private_key = key.private_key(files).map_err(|p| key.locate(at, p))?;
    warnings.extend(key.readable_by_others());
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
