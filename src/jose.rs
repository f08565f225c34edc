//! JOSE building blocks for Okta OAuth 2.0 service apps: signing the `private_key_jwt` client
//! assertion and DPoP proofs (RFC 9449). Verification lives in the simulator crate
//! (`okta_simulator::jose`, feature `testing`), the only thing that checks them.
//!
//! Everything here is pure and synchronous, and built on `ring` alone (no OpenSSL, no JWT crate):
//!
//! - [`SigningKey`] loads the app's private key from PEM (RSA as PKCS#1 or PKCS#8, EC P-256 as
//!   PKCS#8) or generates the per-process P-256 DPoP key, and signs compact JWS (RS256 / ES256).
//!   Its `Debug` shows the algorithm and the JWK thumbprint, never key material, and no
//!   [`KeyError`] carries key bytes.
//! - [`client_assertion`] and [`dpop_proof`] build the two JWTs Okta expects; [`ath`] and [`htu`]
//!   are the exact hash and URL rules a DPoP verifier must reproduce.

use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use ring::rand::{SecureRandom, SystemRandom};
use ring::signature::{self, EcdsaKeyPair, KeyPair as _, RsaKeyPair, RsaPublicKeyComponents};
use rustls::pki_types::pem::{PemObject, SectionKind};
use serde_json::{json, Map, Value};

/// The `client_assertion_type` form value that goes with a [`client_assertion`].
pub const CLIENT_ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// How long a [`client_assertion`] is valid: `exp` = `iat` + this many seconds.
pub const CLIENT_ASSERTION_LIFETIME_SECS: i64 = 300;

/// The JOSE `typ` of a DPoP proof.
pub const DPOP_JWT_TYPE: &str = "dpop+jwt";

const RNG_FAILED: &str = "the operating system's random number generator failed";

/// The smallest and largest RSA moduli accepted for signing (ring signs with up to 4096 bits).
const RSA_MIN_BITS: usize = 2048;
const RSA_MAX_SIGNING_BITS: usize = 4096;

/// The command that turns a SEC1 ("EC PRIVATE KEY") file into PKCS#8.
const SEC1_TO_PKCS8: &str = "openssl pkcs8 -topk8 -nocrypt -in key.pem -out key.pkcs8.pem";

fn b64(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn sha256(bytes: &[u8]) -> ring::digest::Digest {
    ring::digest::digest(&ring::digest::SHA256, bytes)
}

/// At most 40 characters of an untrusted string, for error messages.
fn shorten(text: &str) -> String {
    let mut short: String = text.chars().take(40).collect();
    if short.len() < text.len() {
        short.push('…');
    }
    short
}

// ---------------------------------------------------------------------------------------------
// Keys
// ---------------------------------------------------------------------------------------------

/// A private key that signs JWTs: RSA (RS256) or EC P-256 (ES256).
///
/// Formatting it with `{:?}` shows only the algorithm and the RFC 7638 thumbprint of the public
/// key. Share one between tasks with `Arc`.
pub struct SigningKey {
    inner: KeyPair,
}

enum KeyPair {
    Rsa(RsaKeyPair),
    EcP256(EcdsaKeyPair),
}

/// A new P-256 private key as a PKCS#8 PEM document, for `okta-token-exporter keygen`.
pub fn generate_p256_pem() -> String {
    let rng = SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
        .expect(RNG_FAILED);
    let body = base64::engine::general_purpose::STANDARD.encode(pkcs8.as_ref());
    let mut pem = String::from("-----BEGIN PRIVATE KEY-----\n");
    for line in body.as_bytes().chunks(64) {
        pem.push_str(std::str::from_utf8(line).expect("base64 is ASCII"));
        pem.push('\n');
    }
    pem.push_str("-----END PRIVATE KEY-----\n");
    pem
}

impl SigningKey {
    /// Loads a private key from PEM text: RSA as PKCS#1 (`RSA PRIVATE KEY`) or PKCS#8
    /// (`PRIVATE KEY`), EC P-256 as PKCS#8. Certificates next to the key are ignored; exactly one
    /// private key must be present. The errors name what was found and how to fix it, and never
    /// contain key bytes.
    pub fn from_pem(pem: &str) -> Result<SigningKey, KeyError> {
        let labels = pem_labels(pem);
        if labels.is_empty() {
            return Err(KeyError::NoPem);
        }
        if pem.contains("Proc-Type: 4,ENCRYPTED") {
            return Err(KeyError::Encrypted);
        }
        let mut keys = Vec::new();
        for section in <(SectionKind, Vec<u8>)>::pem_slice_iter(pem.as_bytes()) {
            let (kind, der) = section.map_err(|_| KeyError::BadPem)?;
            if matches!(
                kind,
                SectionKind::RsaPrivateKey | SectionKind::PrivateKey | SectionKind::EcPrivateKey
            ) {
                keys.push((kind, der));
            }
        }
        let (kind, der) = match keys.len() {
            1 => keys.remove(0),
            0 if labels.iter().any(|l| l == "ENCRYPTED PRIVATE KEY") => {
                return Err(KeyError::Encrypted)
            }
            0 if labels.iter().any(|l| l == "OPENSSH PRIVATE KEY") => {
                return Err(KeyError::OpenSsh)
            }
            0 => return Err(KeyError::NoPrivateKey { found: labels }),
            count => return Err(KeyError::SeveralPrivateKeys { count }),
        };
        match kind {
            SectionKind::RsaPrivateKey => {
                check_rsa_size(der::rsa_modulus_bits(&der))?;
                RsaKeyPair::from_der(&der)
                    .map(KeyPair::Rsa)
                    .map_err(KeyError::rejected)
            }
            SectionKind::EcPrivateKey => Err(match der::sec1_curve(&der) {
                Some(curve) if curve != der::OID_P256 => KeyError::UnsupportedCurve {
                    curve: der::curve_name(curve),
                },
                _ => KeyError::Sec1,
            }),
            _ => match der::inspect_pkcs8(&der) {
                None => Err(KeyError::Rejected {
                    reason: "not a valid PKCS#8 structure".into(),
                }),
                Some(der::Pkcs8::Rsa { private_key }) => {
                    check_rsa_size(der::rsa_modulus_bits(private_key))?;
                    RsaKeyPair::from_pkcs8(&der)
                        .map(KeyPair::Rsa)
                        .map_err(KeyError::rejected)
                }
                Some(der::Pkcs8::Ec { curve }) if curve == Some(der::OID_P256) => {
                    EcdsaKeyPair::from_pkcs8(
                        &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
                        &der,
                        &SystemRandom::new(),
                    )
                    .map(KeyPair::EcP256)
                    .map_err(KeyError::rejected)
                }
                Some(der::Pkcs8::Ec { curve }) => Err(KeyError::UnsupportedCurve {
                    curve: curve.map_or_else(|| "an unnamed curve".into(), der::curve_name),
                }),
                Some(der::Pkcs8::Other { algorithm }) => Err(KeyError::UnsupportedKeyType {
                    kind: der::algorithm_name(algorithm),
                }),
            },
        }
        .map(|inner| SigningKey { inner })
    }

    /// A fresh EC P-256 key, for the per-process DPoP key.
    ///
    /// # Panics
    ///
    /// Only if the operating system's random number generator fails.
    pub fn generate_p256() -> SigningKey {
        let rng = SystemRandom::new();
        let alg = &signature::ECDSA_P256_SHA256_FIXED_SIGNING;
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(alg, &rng).expect(RNG_FAILED);
        let pair = EcdsaKeyPair::from_pkcs8(alg, pkcs8.as_ref(), &rng)
            .expect("ring reads back the PKCS#8 document it has just generated");
        SigningKey {
            inner: KeyPair::EcP256(pair),
        }
    }

    /// The JWS algorithm this key signs with: `"RS256"` or `"ES256"`.
    pub fn alg(&self) -> &'static str {
        match self.inner {
            KeyPair::Rsa(_) => "RS256",
            KeyPair::EcP256(_) => "ES256",
        }
    }

    /// The public half.
    fn public_key(&self) -> PublicKey {
        match &self.inner {
            KeyPair::Rsa(pair) => {
                let components = RsaPublicKeyComponents::<Vec<u8>>::from(pair.public());
                PublicKey::Rsa {
                    n: components.n,
                    e: components.e,
                }
            }
            KeyPair::EcP256(pair) => PublicKey::EcP256 {
                point: pair.public_key().as_ref().to_vec(),
            },
        }
    }

    /// The public key as a JWK: `{kty: "RSA", n, e}` or `{kty: "EC", crv: "P-256", x, y}`.
    pub fn public_jwk(&self) -> Value {
        self.public_key().jwk()
    }

    /// The RFC 7638 thumbprint of [`SigningKey::public_jwk`] (base64url SHA-256).
    pub fn jwk_thumbprint(&self) -> String {
        self.public_key().thumbprint()
    }

    /// Signs a compact JWS: `b64url(header).b64url(claims).b64url(signature)`, where the header
    /// is `header` with `"alg"` set to [`SigningKey::alg`] (replacing any given value). RS256 is
    /// RSASSA-PKCS1-v1_5 with SHA-256; ES256 is the 64-byte `r || s` form.
    ///
    /// # Panics
    ///
    /// Only if the operating system's random number generator fails.
    pub fn sign_jwt(&self, header: &Map<String, Value>, claims: &Value) -> String {
        let mut header = header.clone();
        header.insert("alg".into(), Value::from(self.alg()));
        let signing_input = format!(
            "{}.{}",
            b64(Value::Object(header).to_string()),
            b64(claims.to_string())
        );
        let signature = self.sign(signing_input.as_bytes());
        format!("{signing_input}.{}", b64(signature))
    }

    fn sign(&self, message: &[u8]) -> Vec<u8> {
        let rng = SystemRandom::new();
        match &self.inner {
            KeyPair::Rsa(pair) => {
                let mut signature = vec![0; pair.public().modulus_len()];
                pair.sign(&signature::RSA_PKCS1_SHA256, &rng, message, &mut signature)
                    .expect(RNG_FAILED);
                signature
            }
            KeyPair::EcP256(pair) => pair
                .sign(&rng, message)
                .expect(RNG_FAILED)
                .as_ref()
                .to_vec(),
        }
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("alg", &self.alg())
            .field("jwk_thumbprint", &self.jwk_thumbprint())
            .finish()
    }
}

fn check_rsa_size(bits: Option<usize>) -> Result<(), KeyError> {
    match bits {
        Some(bits) if bits < RSA_MIN_BITS => Err(KeyError::RsaTooSmall { bits }),
        Some(bits) if bits > RSA_MAX_SIGNING_BITS => Err(KeyError::RsaTooLarge { bits }),
        // An unreadable modulus is left to ring, which says what is wrong.
        _ => Ok(()),
    }
}

/// The labels of the `-----BEGIN <label>-----` lines (header text only, never key bytes).
fn pem_labels(pem: &str) -> Vec<String> {
    pem.lines()
        .filter_map(|line| {
            line.trim()
                .strip_prefix("-----BEGIN ")?
                .strip_suffix("-----")
        })
        .map(shorten)
        .collect()
}

/// The public half of a [`SigningKey`], for its JWK and thumbprint.
enum PublicKey {
    /// Big-endian modulus and exponent.
    Rsa { n: Vec<u8>, e: Vec<u8> },
    /// The uncompressed point `04 || x || y` (65 bytes).
    EcP256 { point: Vec<u8> },
}

impl PublicKey {
    /// The key as a public JWK (the members RFC 7638 hashes, nothing else).
    fn jwk(&self) -> Value {
        match self {
            PublicKey::Rsa { n, e } => json!({ "kty": "RSA", "n": b64(n), "e": b64(e) }),
            PublicKey::EcP256 { point } => json!({
                "kty": "EC",
                "crv": "P-256",
                "x": b64(&point[1..33]),
                "y": b64(&point[33..65]),
            }),
        }
    }

    /// The RFC 7638 thumbprint of [`PublicKey::jwk`] (base64url SHA-256).
    fn thumbprint(&self) -> String {
        match self {
            PublicKey::Rsa { n, e } => {
                canonical_thumbprint(&[("e", &b64(e)), ("kty", "RSA"), ("n", &b64(n))])
            }
            PublicKey::EcP256 { point } => canonical_thumbprint(&[
                ("crv", "P-256"),
                ("kty", "EC"),
                ("x", &b64(&point[1..33])),
                ("y", &b64(&point[33..65])),
            ]),
        }
    }
}

/// Hashes `{"name":"value",...}`; `members` must already be in lexicographic order.
fn canonical_thumbprint(members: &[(&str, &str)]) -> String {
    let body: Vec<String> = members
        .iter()
        .map(|(name, value)| format!("{}:{}", Value::from(*name), Value::from(*value)))
        .collect();
    b64(sha256(format!("{{{}}}", body.join(",")).as_bytes()))
}

// ---------------------------------------------------------------------------------------------
// The two JWTs Okta expects
// ---------------------------------------------------------------------------------------------

/// The `private_key_jwt` client assertion for `POST {org}/oauth2/v1/token`.
///
/// Header `{alg, typ: "JWT", kid}` (`kid` only if given); claims `iss` = `sub` = `client_id`,
/// `aud` = `token_url`, `iat` = `now`, `exp` = `now` + [`CLIENT_ASSERTION_LIFETIME_SECS`], `jti`.
/// `now` is in seconds since the Unix epoch; `jti` must be fresh for each request (see
/// [`new_jti`]).
pub fn client_assertion(
    key: &SigningKey,
    kid: Option<&str>,
    client_id: &str,
    token_url: &str,
    now: i64,
    jti: &str,
) -> String {
    let mut header = Map::new();
    header.insert("typ".into(), Value::from("JWT"));
    if let Some(kid) = kid {
        header.insert("kid".into(), Value::from(kid));
    }
    let claims = json!({
        "iss": client_id,
        "sub": client_id,
        "aud": token_url,
        "iat": now,
        "exp": now.saturating_add(CLIENT_ASSERTION_LIFETIME_SECS),
        "jti": jti,
    });
    key.sign_jwt(&header, &claims)
}

/// A DPoP proof (RFC 9449) for one HTTP request.
///
/// Header `{typ: "dpop+jwt", alg, jwk}` with the key's public JWK; claims `htm` = `method` (as
/// sent, e.g. `"POST"`), `htu` = [`htu`]`(url)`, `iat` = `now`, `jti`, then `nonce` if the server
/// gave one and `ath` = [`ath`]`(access_token)` on resource requests.
pub fn dpop_proof(
    key: &SigningKey,
    method: &str,
    url: &str,
    now: i64,
    jti: &str,
    nonce: Option<&str>,
    access_token: Option<&str>,
) -> String {
    let mut header = Map::new();
    header.insert("typ".into(), Value::from(DPOP_JWT_TYPE));
    header.insert("jwk".into(), key.public_jwk());
    let mut claims = Map::new();
    claims.insert("htm".into(), Value::from(method));
    claims.insert("htu".into(), Value::from(htu(url)));
    claims.insert("iat".into(), Value::from(now));
    claims.insert("jti".into(), Value::from(jti));
    if let Some(nonce) = nonce {
        claims.insert("nonce".into(), Value::from(nonce));
    }
    if let Some(token) = access_token {
        claims.insert("ath".into(), Value::from(ath(token)));
    }
    key.sign_jwt(&header, &Value::Object(claims))
}

/// The DPoP `htu` of a request URL: the URL without its query and fragment.
pub fn htu(url: &str) -> &str {
    url.split(['?', '#']).next().unwrap_or(url)
}

/// The DPoP `ath` of an access token: base64url(SHA-256(token)).
pub fn ath(access_token: &str) -> String {
    b64(sha256(access_token.as_bytes()))
}

/// Seconds since the Unix epoch, as JWT times (`iat`, `exp`) count them; 0 before 1970.
pub fn unix_seconds(t: std::time::SystemTime) -> i64 {
    t.duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// A fresh random JWT ID: 128 bits, base64url (22 characters).
///
/// # Panics
///
/// Only if the operating system's random number generator fails.
pub fn new_jti() -> String {
    let mut bytes = [0u8; 16];
    SystemRandom::new().fill(&mut bytes).expect(RNG_FAILED);
    b64(bytes)
}

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

/// Why a private key (PEM) cannot be used. Never holds key bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyError {
    /// No `-----BEGIN ...-----` line at all.
    NoPem,
    /// A PEM block is damaged (no END line, or invalid base64).
    BadPem,
    /// PEM blocks, but none is a private key; `found` lists their labels.
    NoPrivateKey { found: Vec<String> },
    /// More than one private key.
    SeveralPrivateKeys { count: usize },
    /// A password-protected key.
    Encrypted,
    /// An `OPENSSH PRIVATE KEY`.
    OpenSsh,
    /// An EC key in SEC1 form (`EC PRIVATE KEY`), which must be converted to PKCS#8.
    Sec1,
    /// An EC key on a curve other than P-256.
    UnsupportedCurve { curve: String },
    /// A key that is neither RSA nor EC (Ed25519, DSA, ...).
    UnsupportedKeyType { kind: String },
    /// An RSA key under 2048 bits.
    RsaTooSmall { bits: usize },
    /// An RSA key over 4096 bits.
    RsaTooLarge { bits: usize },
    /// ring refused the key; `reason` is ring's name for the failed check.
    Rejected { reason: String },
}

impl KeyError {
    fn rejected(error: ring::error::KeyRejected) -> KeyError {
        KeyError::Rejected {
            reason: error.to_string(),
        }
    }
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const FORMATS: &str =
            "an RSA key (PKCS#1 \"RSA PRIVATE KEY\" or PKCS#8 \"PRIVATE KEY\") or \
                               an EC P-256 key (PKCS#8 \"PRIVATE KEY\")";
        match self {
            KeyError::NoPem => write!(
                f,
                "no PEM block found: expected {FORMATS}, starting with a \"-----BEGIN ...-----\" line"
            ),
            KeyError::BadPem => f.write_str(
                "the PEM text is damaged (a BEGIN line without its END line, or invalid base64 \
                 between them); export the key again",
            ),
            KeyError::NoPrivateKey { found } => write!(
                f,
                "no private key in the PEM text (found: {}); expected {FORMATS}",
                found.join(", ")
            ),
            KeyError::SeveralPrivateKeys { count } => write!(
                f,
                "the PEM text holds {count} private keys; give a file with exactly one"
            ),
            KeyError::Encrypted => f.write_str(
                "the private key is encrypted with a password, which is not supported; store it \
                 decrypted in a file only the exporter can read: \
                 openssl pkey -in key.pem -out key.pkcs8.pem",
            ),
            KeyError::OpenSsh => f.write_str(
                "the key is in OpenSSH format (\"OPENSSH PRIVATE KEY\"), which is not supported; \
                 convert a copy of it to PKCS#8 in place: ssh-keygen -p -m PKCS8 -f key-copy",
            ),
            KeyError::Sec1 => write!(
                f,
                "the EC key is in SEC1 form (\"EC PRIVATE KEY\"), which is not supported; convert \
                 it to PKCS#8 with: {SEC1_TO_PKCS8}"
            ),
            KeyError::UnsupportedCurve { curve } => write!(
                f,
                "the EC key is on curve {curve}; only P-256 (ES256) is supported. Create a P-256 \
                 key with: openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
                 -out key.pem (and register its public key with the Okta app)"
            ),
            KeyError::UnsupportedKeyType { kind } => write!(
                f,
                "the private key is {kind}; supported are RSA (RS256, 2048 to 4096 bits) and EC \
                 P-256 (ES256)"
            ),
            KeyError::RsaTooSmall { bits } => write!(
                f,
                "the RSA key has {bits} bits; at least 2048 are required. Create a new one with: \
                 openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out key.pem"
            ),
            KeyError::RsaTooLarge { bits } => write!(
                f,
                "the RSA key has {bits} bits; at most 4096 are supported for signing. Use a 2048- \
                 or 3072-bit key"
            ),
            KeyError::Rejected { reason } => write!(
                f,
                "the private key was rejected ({reason}); expected an unencrypted {FORMATS}"
            ),
        }
    }
}

impl std::error::Error for KeyError {}

// ---------------------------------------------------------------------------------------------
// Just enough DER to tell key kinds apart before ring sees them, read with `crate::der`
// ---------------------------------------------------------------------------------------------

mod der {
    use crate::der::{expect, INTEGER, OCTET_STRING, OID, SEQUENCE};

    const CONTEXT_0: u8 = 0xa0;

    const OID_RSA_ENCRYPTION: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
    const OID_EC_PUBLIC_KEY: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
    pub const OID_P256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];

    const CURVES: &[(&[u8], &str)] = &[
        (OID_P256, "P-256"),
        (&[0x2b, 0x81, 0x04, 0x00, 0x22], "P-384"),
        (&[0x2b, 0x81, 0x04, 0x00, 0x23], "P-521"),
        (&[0x2b, 0x81, 0x04, 0x00, 0x0a], "secp256k1"),
    ];
    const ALGORITHMS: &[(&[u8], &str)] = &[
        (&[0x2b, 0x65, 0x70], "an Ed25519 key"),
        (&[0x2b, 0x65, 0x71], "an Ed448 key"),
        (&[0x2b, 0x65, 0x6e], "an X25519 key"),
        (&[0x2b, 0x65, 0x6f], "an X448 key"),
        (
            &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0a],
            "an RSASSA-PSS key (use a plain rsaEncryption RSA key)",
        ),
        (&[0x2a, 0x86, 0x48, 0xce, 0x38, 0x04, 0x01], "a DSA key"),
    ];

    /// What a PKCS#8 `PrivateKeyInfo` holds.
    pub enum Pkcs8<'a> {
        Rsa { private_key: &'a [u8] },
        Ec { curve: Option<&'a [u8]> },
        Other { algorithm: &'a [u8] },
    }

    pub fn inspect_pkcs8(der: &[u8]) -> Option<Pkcs8<'_>> {
        let (info, _) = expect(der, SEQUENCE)?;
        let (_version, rest) = expect(info, INTEGER)?;
        let (algorithm_id, rest) = expect(rest, SEQUENCE)?;
        let (algorithm, parameters) = expect(algorithm_id, OID)?;
        let (private_key, _) = expect(rest, OCTET_STRING)?;
        Some(match algorithm {
            OID_RSA_ENCRYPTION => Pkcs8::Rsa { private_key },
            OID_EC_PUBLIC_KEY => Pkcs8::Ec {
                curve: expect(parameters, OID).map(|(curve, _)| curve),
            },
            _ => Pkcs8::Other { algorithm },
        })
    }

    /// The curve named in a SEC1 `ECPrivateKey`, if any.
    pub fn sec1_curve(der: &[u8]) -> Option<&[u8]> {
        let (key, _) = expect(der, SEQUENCE)?;
        let (_version, rest) = expect(key, INTEGER)?;
        let (_private_key, rest) = expect(rest, OCTET_STRING)?;
        let (parameters, _) = expect(rest, CONTEXT_0)?;
        expect(parameters, OID).map(|(curve, _)| curve)
    }

    /// The modulus size of a PKCS#1 `RSAPrivateKey`.
    pub fn rsa_modulus_bits(der: &[u8]) -> Option<usize> {
        let (key, _) = expect(der, SEQUENCE)?;
        let (_version, rest) = expect(key, INTEGER)?;
        let (modulus, _) = expect(rest, INTEGER)?;
        Some(bit_len(modulus))
    }

    /// The bit length of a big-endian unsigned integer.
    pub fn bit_len(bytes: &[u8]) -> usize {
        match bytes.iter().position(|&b| b != 0) {
            Some(i) => (bytes.len() - i) * 8 - bytes[i].leading_zeros() as usize,
            None => 0,
        }
    }

    pub fn curve_name(oid: &[u8]) -> String {
        match CURVES.iter().find(|(known, _)| *known == oid) {
            Some((_, name)) => (*name).to_string(),
            None => format!("OID {}", dotted(oid)),
        }
    }

    pub fn algorithm_name(oid: &[u8]) -> String {
        match ALGORITHMS.iter().find(|(known, _)| *known == oid) {
            Some((_, name)) => (*name).to_string(),
            None => format!("of an unknown algorithm (OID {})", dotted(oid)),
        }
    }

    /// An OID in dotted form, e.g. `1.3.132.0.34`.
    fn dotted(oid: &[u8]) -> String {
        let mut arcs = Vec::new();
        let mut arc: u64 = 0;
        for &b in oid {
            arc = (arc << 7) | u64::from(b & 0x7f);
            if b & 0x80 == 0 {
                arcs.push(arc);
                arc = 0;
            }
        }
        let Some((&first, rest)) = arcs.split_first() else {
            return "(empty)".into();
        };
        let (a, b) = if first < 80 {
            (first / 40, first % 40)
        } else {
            (2, first - 80)
        };
        [a, b]
            .iter()
            .chain(rest)
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join(".")
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn oids_print_in_dotted_form() {
            assert_eq!(dotted(&[0x2b, 0x81, 0x04, 0x00, 0x22]), "1.3.132.0.34");
            assert_eq!(dotted(OID_P256), "1.2.840.10045.3.1.7");
            assert_eq!(
                curve_name(&[0x2b, 0x81, 0x04, 0x00, 0x07]),
                "OID 1.3.132.0.7"
            );
        }

        #[test]
        fn truncated_der_is_read_as_nothing_rather_than_panicking() {
            for der in [
                &[][..],
                &[0x30],
                &[0x30, 0x05, 0x02],
                &[0x30, 0x84, 0xff, 0xff],
            ] {
                assert!(inspect_pkcs8(der).is_none());
                assert!(sec1_curve(der).is_none());
                assert!(rsa_modulus_bits(der).is_none());
            }
        }
    }
}

#[cfg(test)]
mod tests;
