//! Client certificates: the check rustls runs on each (the chain, then `client_allowed_sans`),
//! and the subject alternative names of a certificate as exporter-toolkit compares them, read
//! with the crate's small DER reader ([`crate::der`]).
//!
//! A client certificate that is itself one of the configured client CA certificates, byte for
//! byte, is accepted as Go's `crypto/x509` accepts it (a certificate found in the roots is its
//! own chain): `openssl req -x509` makes self-signed certificates with `CA:TRUE`, which webpki
//! refuses as end-entity certificates, and node_exporter users name such a certificate as its
//! own CA. As in Go, it must then be within its validity period, and its extended key usage,
//! when it has one, must allow client authentication; `client_allowed_sans` applies as to any
//! other certificate. Everything else goes through webpki's verification unchanged.

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
    /// The configured client CA certificates (not the system's): a client certificate equal to
    /// one of them is trusted as it is.
    pub(super) configured_cas: Vec<CertificateDer<'static>>,
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
        let verified = match chain.verify_client_cert(end_entity, intermediates, now) {
            Ok(verified) => verified,
            Err(refused) => {
                if !self
                    .configured_cas
                    .iter()
                    .any(|ca| ca.as_ref() == end_entity.as_ref())
                {
                    return Err(refused);
                }
                trusted_as_configured(end_entity, now)?
            }
        };
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

/// A client certificate that is one of the configured CA certificates, checked as Go checks a
/// chain of that certificate alone: within its validity period at `now`, and with an extended
/// key usage (if any) that allows client authentication.
fn trusted_as_configured(
    cert: &CertificateDer<'_>,
    now: UnixTime,
) -> Result<ClientCertVerified, rustls::Error> {
    let bad = || rustls::Error::InvalidCertificate(CertificateError::BadEncoding);
    let facts = read_certificate(cert).ok_or_else(bad)?;
    let now = i64::try_from(now.as_secs()).unwrap_or(i64::MAX);
    if now < facts.not_before {
        return Err(rustls::Error::InvalidCertificate(
            CertificateError::NotValidYet,
        ));
    }
    if now > facts.not_after {
        return Err(rustls::Error::InvalidCertificate(CertificateError::Expired));
    }
    if !facts.client_auth_allowed {
        return Err(rustls::Error::InvalidCertificate(
            CertificateError::InvalidPurpose,
        ));
    }
    Ok(ClientCertVerified::assertion())
}

/// What [`trusted_as_configured`] reads of a certificate.
#[derive(Debug, PartialEq, Eq)]
struct CertificateFacts {
    /// The validity period, in seconds since the epoch.
    not_before: i64,
    not_after: i64,
    /// No extended key usage, or one that lists client authentication or any purpose.
    client_auth_allowed: bool,
}

/// The validity period and extended key usage of a DER certificate; `None` when malformed.
fn read_certificate(cert: &[u8]) -> Option<CertificateFacts> {
    use der::{OID, SEQUENCE};
    const VERSION: u8 = 0xa0; // [0] EXPLICIT
    const EXTENSIONS: u8 = 0xa3; // [3] EXPLICIT
    const EXTENDED_KEY_USAGE: [u8; 3] = [0x55, 0x1d, 0x25]; // 2.5.29.37
    const ANY_PURPOSE: [u8; 4] = [0x55, 0x1d, 0x25, 0x00]; // 2.5.29.37.0
    const CLIENT_AUTH: [u8; 8] = [0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x02]; // 1.3.6.1.5.5.7.3.2
    let (certificate, _) = der::expect(cert, SEQUENCE)?;
    let (tbs, _) = der::expect(certificate, SEQUENCE)?;
    let (mut tag, _, mut rest) = der::element(tbs)?;
    if tag == VERSION {
        (tag, _, rest) = der::element(rest)?; // the serial number
    }
    if tag != der::INTEGER {
        return None;
    }
    let (_signature, rest) = der::expect(rest, SEQUENCE)?;
    let (_issuer, rest) = der::expect(rest, SEQUENCE)?;
    let (validity, mut rest) = der::expect(rest, SEQUENCE)?;
    let (not_before, after) = asn1_time(validity)?;
    let (not_after, _) = asn1_time(after)?;
    let mut client_auth_allowed = true;
    while !rest.is_empty() {
        let (tag, content, after) = der::element(rest)?;
        rest = after;
        if tag != EXTENSIONS {
            continue;
        }
        let (mut extensions, _) = der::expect(content, SEQUENCE)?;
        while !extensions.is_empty() {
            let (extension, after) = der::expect(extensions, SEQUENCE)?;
            extensions = after;
            let (oid, value) = der::expect(extension, OID)?;
            if oid != EXTENDED_KEY_USAGE {
                continue;
            }
            let (mut tag, mut value, rest) = der::element(value)?;
            if tag == der::BOOLEAN {
                (tag, value, _) = der::element(rest)?;
            }
            if tag != der::OCTET_STRING {
                return None;
            }
            let (mut purposes, _) = der::expect(value, SEQUENCE)?;
            let mut allowed = false;
            while !purposes.is_empty() {
                let (purpose, after) = der::expect(purposes, OID)?;
                purposes = after;
                allowed |= purpose == CLIENT_AUTH || purpose == ANY_PURPOSE;
            }
            client_auth_allowed = allowed;
        }
    }
    Some(CertificateFacts {
        not_before,
        not_after,
        client_auth_allowed,
    })
}

/// An X.509 time (UTCTime, or GeneralizedTime), in seconds since the epoch, and what follows.
fn asn1_time(input: &[u8]) -> Option<(i64, &[u8])> {
    const UTC_TIME: u8 = 0x17;
    const GENERALIZED_TIME: u8 = 0x18;
    let (tag, content, rest) = der::element(input)?;
    let text = std::str::from_utf8(content).ok()?.strip_suffix('Z')?;
    let (year, rest_of_text) = match tag {
        // RFC 5280: YY of 50 and above is 19YY, below 50 is 20YY.
        UTC_TIME if text.len() == 12 => {
            let yy: i32 = text.get(..2)?.parse().ok()?;
            (if yy >= 50 { 1900 + yy } else { 2000 + yy }, &text[2..])
        }
        GENERALIZED_TIME if text.len() == 14 => (text.get(..4)?.parse().ok()?, &text[4..]),
        _ => return None,
    };
    if !rest_of_text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let field = |at: usize| rest_of_text[at..at + 2].parse::<u32>().ok();
    let time = chrono::NaiveDate::from_ymd_opt(year, field(0)?, field(2)?)?.and_hms_opt(
        field(4)?,
        field(6)?,
        field(8)?,
    )?;
    Some((time.and_utc().timestamp(), rest))
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

    /// A fixture of `tests/fixtures/client-certs/` (made with `openssl req -x509`), as DER.
    fn fixture(name: &str) -> CertificateDer<'static> {
        use rustls::pki_types::pem::PemObject;
        let path = format!(
            "{}/tests/fixtures/client-certs/{name}.pem",
            env!("CARGO_MANIFEST_DIR")
        );
        CertificateDer::from_pem_file(path).unwrap()
    }

    fn check_with_ca(ca: &CertificateDer<'static>, allowed: &[&str]) -> ClientCertCheck {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = RootCertStore::empty();
        roots.add(ca.clone()).unwrap();
        let chain = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
            .build()
            .unwrap();
        ClientCertCheck {
            chain: Some(chain),
            mandatory: true,
            allowed_sans: allowed.iter().map(|a| a.to_string()).collect(),
            algorithms: provider.signature_verification_algorithms,
            configured_cas: vec![ca.clone()],
        }
    }

    #[test]
    fn validity_and_extended_key_usage_are_read_from_der() {
        // selfsigned-test3: `-days 36500`, EKU clientAuth; openssl-defaults: no EKU at all.
        let test3 = read_certificate(&fixture("selfsigned-test3")).unwrap();
        assert!(test3.client_auth_allowed);
        assert_eq!(
            test3.not_after - test3.not_before,
            36_500 * 86_400,
            "UTCTime to GeneralizedTime (after 2049): {test3:?}"
        );
        assert!(
            read_certificate(&fixture("openssl-defaults"))
                .unwrap()
                .client_auth_allowed
        );

        use rcgen::{CertificateParams, ExtendedKeyUsagePurpose, KeyPair};
        let mut params = CertificateParams::new(vec!["a".to_owned()]).unwrap();
        params.not_before = rcgen::date_time_ymd(1999, 12, 31);
        params.not_after = rcgen::date_time_ymd(2050, 1, 1);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let cert = params.self_signed(&KeyPair::generate().unwrap()).unwrap();
        let facts = read_certificate(cert.der()).unwrap();
        assert_eq!(
            facts,
            CertificateFacts {
                not_before: 946_598_400,
                not_after: 2_524_608_000,
                client_auth_allowed: false,
            }
        );
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::Any];
        let any = params.self_signed(&KeyPair::generate().unwrap()).unwrap();
        assert!(read_certificate(any.der()).unwrap().client_auth_allowed);
        for malformed in [&[][..], &[0x30, 0x03, 0x30, 0x01, 0x02]] {
            assert_eq!(read_certificate(malformed), None, "{malformed:?}");
        }
    }

    /// exporter-toolkit's `client2_selfsigned` made again: self-signed, `CA:TRUE`, SAN `test3`,
    /// named as its own CA, with `client_allowed_sans: [one, test3, two]`.
    #[test]
    fn a_client_certificate_that_is_a_configured_ca_is_accepted_as_go_accepts_it() {
        let test3 = fixture("selfsigned-test3");
        let now = UnixTime::now();
        let check = check_with_ca(&test3, &["one", "test3", "two"]);
        assert!(check.verify_client_cert(&test3, &[], now).is_ok());
        // webpki alone refuses it: that is what this accepts.
        assert!(check
            .chain
            .as_ref()
            .unwrap()
            .verify_client_cert(&test3, &[], now)
            .is_err());

        let refused = |check: &ClientCertCheck, cert: &CertificateDer<'_>, now| {
            check
                .verify_client_cert(cert, &[], now)
                .unwrap_err()
                .to_string()
        };
        let other_sans = check_with_ca(&test3, &["prometheus"]);
        assert!(refused(&other_sans, &test3, now).contains("client_allowed_sans"));
        // Same subject and SAN, another key: not byte-equal, and not signed by the CA.
        let impostor = fixture("impostor-test3");
        let message = refused(&check, &impostor, now);
        assert!(!message.contains("client_allowed_sans"), "{message}");
        // Outside its validity period.
        let invalid = |now| match check.verify_client_cert(&test3, &[], now) {
            Err(rustls::Error::InvalidCertificate(e)) => e,
            other => panic!("{other:?}"),
        };
        let before = UnixTime::since_unix_epoch(std::time::Duration::from_secs(1_000_000));
        assert_eq!(invalid(before), CertificateError::NotValidYet);
        let after = UnixTime::since_unix_epoch(std::time::Duration::from_secs(5_000_000_000));
        assert_eq!(invalid(after), CertificateError::Expired);

        // `openssl req -x509` with every default: RSA, `CA:TRUE`, no SAN, no key usage.
        let defaults = fixture("openssl-defaults");
        assert!(check_with_ca(&defaults, &[])
            .verify_client_cert(&defaults, &[], now)
            .is_ok());
        // A configured CA whose key usage excludes clients is not a client certificate.
        use rcgen::{BasicConstraints, CertificateParams, ExtendedKeyUsagePurpose, IsCa, KeyPair};
        let mut params = CertificateParams::new(vec!["test3".to_owned()]).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let server_only = params.self_signed(&KeyPair::generate().unwrap()).unwrap();
        let server_only = server_only.der().clone();
        assert!(matches!(
            check_with_ca(&server_only, &[]).verify_client_cert(&server_only, &[], now),
            Err(rustls::Error::InvalidCertificate(
                CertificateError::InvalidPurpose
            ))
        ));
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
                configured_cas: Vec::new(),
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
            configured_cas: Vec::new(),
        };
        assert!(!no_roots.client_auth_mandatory());
        assert!(no_roots
            .verify_client_cert(&client(&["prometheus"]), &[], UnixTime::now())
            .is_err());
    }
}
