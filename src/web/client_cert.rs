//! Client certificates: the check rustls runs on each (the chain, then `client_allowed_sans`),
//! and the subject alternative names of a certificate as exporter-toolkit compares them, read
//! with the crate's small DER reader ([`crate::der`]).

use std::fmt;
use std::sync::Arc;

use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::{CertificateDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{CertificateError, DigitallySignedStruct, DistinguishedName, SignatureScheme};

use crate::der;

/// The client certificate check: the chain (against the CAs of the config, or the system's),
/// then, with `client_allowed_sans`, the certificate's subject alternative names.
#[derive(Debug)]
pub(super) struct ClientCertCheck {
    /// `None`: no CA to verify against, so every certificate is refused.
    pub(super) chain: Option<Arc<dyn ClientCertVerifier>>,
    /// Whether a client must present a certificate (`RequireAndVerifyClientCert`).
    pub(super) mandatory: bool,
    /// Empty: any name will do.
    pub(super) allowed_sans: Vec<String>,
    pub(super) algorithms: WebPkiSupportedAlgorithms,
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

/// The subject alternative names of a DER certificate, as exporter-toolkit compares them (with
/// Go's crypto/x509): DNS names, e-mail addresses, IP addresses (as Go writes them) and URIs.
/// Other kinds of name are skipped. `None` when the certificate is malformed.
fn subject_alt_names(cert: &[u8]) -> Option<Vec<String>> {
    use der::{BOOLEAN, OCTET_STRING, OID, SEQUENCE};
    const EXTENSIONS: u8 = 0xa3; // [3] EXPLICIT, in TBSCertificate
    const SUBJECT_ALT_NAME: [u8; 3] = [0x55, 0x1d, 0x11]; // 2.5.29.17
    let sequence = |input| der::expect(input, SEQUENCE);
    let (certificate, _) = sequence(cert)?;
    let (mut tbs, _) = sequence(certificate)?;
    let mut names = Vec::new();
    while !tbs.is_empty() {
        let (tag, content, rest) = der::element(tbs)?;
        tbs = rest;
        if tag != EXTENSIONS {
            continue;
        }
        let (mut extensions, _) = sequence(content)?;
        while !extensions.is_empty() {
            let (extension, rest) = sequence(extensions)?;
            extensions = rest;
            let (tag, oid, rest) = der::element(extension)?;
            if tag != OID || oid != SUBJECT_ALT_NAME {
                continue;
            }
            // critical BOOLEAN DEFAULT FALSE, then the value in an OCTET STRING.
            let (mut tag, mut value, rest) = der::element(rest)?;
            if tag == BOOLEAN {
                (tag, value, _) = der::element(rest)?;
            }
            if tag != OCTET_STRING {
                return None;
            }
            let (mut general_names, _) = sequence(value)?;
            while !general_names.is_empty() {
                let (tag, name, rest) = der::element(general_names)?;
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

#[cfg(test)]
mod tests {
    use rustls::server::WebPkiClientVerifier;
    use rustls::RootCertStore;

    use super::*;

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
}
