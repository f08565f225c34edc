//! Go's names in a web config, as rustls (with *ring*) has them: cipher suites, curves and TLS
//! versions. Where rustls lacks one (CBC suites, P-521), it is dropped and named in a warning, and
//! refused only when nothing listed is left; TLS 1.0 and 1.1 are refused.

use rustls::SupportedCipherSuite;
use serde_saphyr::Spanned;

use super::raw::{locate, RawTls};
use crate::yaml::{ConfigError, Locator};

/// What is wrong with a name of Go's; [`locate`] adds the file, line, column and key.
#[derive(Debug, thiserror::Error)]
pub(super) enum Problem {
    #[error(
        "{0} is refused: the TLS library here (rustls) speaks TLS12 and TLS13 only, so this \
         setting would not mean what it says; use TLS12 or TLS13"
    )]
    UnsupportedTlsVersion(String),
    #[error("unknown TLS version {0:?}; expected TLS12 or TLS13")]
    UnknownTlsVersion(String),
    #[error("lower than min_version")]
    MaxBelowMin,
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
pub(super) fn cipher_suites(
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
pub(super) fn curves(
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

pub(super) fn protocol_versions(
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

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;
    use crate::web::testing::write;

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
        let lists: Lists = crate::yaml::parse_yaml(&source, &text).unwrap();
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
}
