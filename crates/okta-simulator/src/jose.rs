//! JOSE verification for the simulated org's authorization server: checks the exporter's
//! `private_key_jwt` client assertions and DPoP proofs (RFC 7515, 7638, 9449) with `ring` alone.
//!
//! [`VerifyingKey`], [`verify_jwt`] and [`decode_unverified_header`] check a token's algorithm
//! and signature (refusing `alg: none` and algorithm/key mismatches); claim checks such as `exp`,
//! `aud` or `htu` are the caller's job. [`jwk_thumbprint`] is RFC 7638, [`ath`] RFC 9449's hash.
//!
//! The exporter signs with its own code (`okta_token_exporter::jose`); this side is written
//! separately on purpose, so the round-trip tests check two implementations of the RFCs against
//! each other and against the RFCs' examples rather than one implementation against itself.

use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use ring::signature::{self, RsaPublicKeyComponents, UnparsedPublicKey};
use serde_json::{json, Map, Value};

/// The `client_assertion_type` form value of a `private_key_jwt` token request.
pub const CLIENT_ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// The JOSE `typ` of a DPoP proof.
pub const DPOP_JWT_TYPE: &str = "dpop+jwt";

/// The RSA moduli accepted (`RSA_PKCS1_2048_8192_SHA256`).
const RSA_MIN_BITS: usize = 2048;
const RSA_MAX_VERIFYING_BITS: usize = 8192;

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

/// The bit length of a big-endian unsigned integer.
fn bit_len(bytes: &[u8]) -> usize {
    match bytes.iter().position(|&b| b != 0) {
        Some(i) => (bytes.len() - i) * 8 - bytes[i].leading_zeros() as usize,
        None => 0,
    }
}

/// A public key that checks JWT signatures: RSA (RS256) or EC P-256 (ES256).
#[derive(Clone, PartialEq, Eq)]
pub struct VerifyingKey(Public);

#[derive(Clone, PartialEq, Eq)]
enum Public {
    /// Big-endian modulus and exponent without leading zeros.
    Rsa { n: Vec<u8>, e: Vec<u8> },
    /// The uncompressed point `04 || x || y` (65 bytes).
    EcP256 { point: Vec<u8> },
}

impl VerifyingKey {
    /// Reads a public JWK: `kty: "RSA"` with `n` and `e` (2048 to 8192 bits), or `kty: "EC"`
    /// with `crv: "P-256"`, `x` and `y`. A JWK that carries private members (`d`, ...) is refused,
    /// as RFC 9449 requires of a DPoP proof's `jwk`.
    pub fn from_public_jwk(jwk: &Value) -> Result<VerifyingKey, KeyError> {
        let invalid = |reason: String| KeyError { reason };
        let object = jwk
            .as_object()
            .ok_or_else(|| invalid("it is not a JSON object".into()))?;
        if let Some(private) = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"]
            .into_iter()
            .find(|name| object.contains_key(*name))
        {
            return Err(invalid(format!(
                "it holds the private member \"{private}\"; send only the public key"
            )));
        }
        let text = |name: &str| -> Result<&str, KeyError> {
            object
                .get(name)
                .and_then(Value::as_str)
                .ok_or_else(|| invalid(format!("the \"{name}\" member is missing or not a string")))
        };
        let bytes = |name: &str| -> Result<Vec<u8>, KeyError> {
            URL_SAFE_NO_PAD
                .decode(text(name)?)
                .map_err(|_| invalid(format!("the \"{name}\" member is not unpadded base64url")))
        };
        match text("kty")? {
            "RSA" => {
                let n = strip_leading_zeros(bytes("n")?);
                let e = strip_leading_zeros(bytes("e")?);
                let bits = bit_len(&n);
                if !(RSA_MIN_BITS..=RSA_MAX_VERIFYING_BITS).contains(&bits) {
                    return Err(invalid(format!(
                        "the RSA modulus has {bits} bits; 2048 to 8192 are accepted"
                    )));
                }
                if e.is_empty() {
                    return Err(invalid("the RSA exponent is zero".into()));
                }
                Ok(VerifyingKey(Public::Rsa { n, e }))
            }
            "EC" => {
                let crv = text("crv")?;
                if crv != "P-256" {
                    return Err(invalid(format!(
                        "the curve \"{}\" is not supported; only \"P-256\" (ES256) is",
                        shorten(crv)
                    )));
                }
                let (x, y) = (bytes("x")?, bytes("y")?);
                if x.len() != 32 || y.len() != 32 {
                    return Err(invalid(
                        "\"x\" and \"y\" of a P-256 key must be 32 bytes each".into(),
                    ));
                }
                let mut point = Vec::with_capacity(65);
                point.push(0x04);
                point.extend_from_slice(&x);
                point.extend_from_slice(&y);
                Ok(VerifyingKey(Public::EcP256 { point }))
            }
            other => Err(invalid(format!(
                "the key type \"{}\" is not supported; expected \"RSA\" or \"EC\"",
                shorten(other)
            ))),
        }
    }

    /// The JWS algorithm this key checks: `"RS256"` or `"ES256"`.
    pub fn alg(&self) -> &'static str {
        match self.0 {
            Public::Rsa { .. } => "RS256",
            Public::EcP256 { .. } => "ES256",
        }
    }

    /// The key as a public JWK (the members RFC 7638 hashes, nothing else).
    pub fn public_jwk(&self) -> Value {
        match &self.0 {
            Public::Rsa { n, e } => json!({ "kty": "RSA", "n": b64(n), "e": b64(e) }),
            Public::EcP256 { point } => json!({
                "kty": "EC",
                "crv": "P-256",
                "x": b64(&point[1..33]),
                "y": b64(&point[33..65]),
            }),
        }
    }

    /// The RFC 7638 thumbprint of [`VerifyingKey::public_jwk`] (base64url SHA-256).
    pub fn jwk_thumbprint(&self) -> String {
        match &self.0 {
            Public::Rsa { n, e } => {
                canonical_thumbprint(&[("e", &b64(e)), ("kty", "RSA"), ("n", &b64(n))])
            }
            Public::EcP256 { point } => canonical_thumbprint(&[
                ("crv", "P-256"),
                ("kty", "EC"),
                ("x", &b64(&point[1..33])),
                ("y", &b64(&point[33..65])),
            ]),
        }
    }

    fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        match &self.0 {
            Public::Rsa { n, e } => RsaPublicKeyComponents { n, e }
                .verify(&signature::RSA_PKCS1_2048_8192_SHA256, message, signature)
                .is_ok(),
            Public::EcP256 { point } => {
                UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, point)
                    .verify(message, signature)
                    .is_ok()
            }
        }
    }
}

impl fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifyingKey")
            .field("alg", &self.alg())
            .field("jwk_thumbprint", &self.jwk_thumbprint())
            .finish()
    }
}

fn strip_leading_zeros(mut bytes: Vec<u8>) -> Vec<u8> {
    let zeros = bytes.iter().take_while(|&&b| b == 0).count();
    bytes.drain(..zeros);
    bytes
}

/// The RFC 7638 thumbprint of a JWK: base64url SHA-256 of its required members (`e`, `kty`, `n`
/// for RSA; `crv`, `kty`, `x`, `y` for EC; `crv`, `kty`, `x` for OKP) as JSON without
/// whitespace, in lexicographic order. Other members are ignored.
pub fn jwk_thumbprint(jwk: &Value) -> Result<String, KeyError> {
    let member = |name: &str| -> Result<&str, KeyError> {
        jwk.get(name)
            .and_then(Value::as_str)
            .ok_or_else(|| KeyError {
                reason: format!("the \"{name}\" member is missing or not a string"),
            })
    };
    let required: &[&str] = match member("kty")? {
        "RSA" => &["e", "kty", "n"],
        "EC" => &["crv", "kty", "x", "y"],
        "OKP" => &["crv", "kty", "x"],
        other => {
            return Err(KeyError {
                reason: format!(
                    "no thumbprint for key type \"{}\"; expected \"RSA\", \"EC\" or \"OKP\"",
                    shorten(other)
                ),
            })
        }
    };
    let members = required
        .iter()
        .map(|&name| Ok((name, member(name)?)))
        .collect::<Result<Vec<_>, KeyError>>()?;
    Ok(canonical_thumbprint(&members))
}

/// Hashes `{"name":"value",...}`; `members` must already be in lexicographic order.
fn canonical_thumbprint(members: &[(&str, &str)]) -> String {
    let body: Vec<String> = members
        .iter()
        .map(|(name, value)| format!("{}:{}", Value::from(*name), Value::from(*value)))
        .collect();
    b64(sha256(format!("{{{}}}", body.join(",")).as_bytes()))
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

// ---------------------------------------------------------------------------------------------
// Verification
// ---------------------------------------------------------------------------------------------

/// Checks a compact JWS against `key` and returns its header and claims.
///
/// Refuses `alg: "none"`, an `alg` other than the key's ([`VerifyingKey::alg`]), a `crit`
/// header, and a bad signature; the claims are decoded only after the signature holds, and must
/// be a JSON object. Times, audience and the like are not checked here.
pub fn verify_jwt(
    token: &str,
    key: &VerifyingKey,
) -> Result<(Map<String, Value>, Value), JwtError> {
    let (header_b64, claims_b64, signature_b64) = split_compact(token)?;
    let header = decode_json_object(header_b64, "header")?;
    let alg = header
        .get("alg")
        .and_then(Value::as_str)
        .ok_or(JwtError::MissingAlg)?;
    if alg.eq_ignore_ascii_case("none") {
        return Err(JwtError::Unsigned);
    }
    if alg != key.alg() {
        return Err(JwtError::AlgMismatch {
            alg: shorten(alg),
            key_alg: key.alg(),
        });
    }
    if header.contains_key("crit") {
        return Err(JwtError::CriticalHeader);
    }
    let signature = URL_SAFE_NO_PAD
        .decode(signature_b64)
        .map_err(|_| JwtError::Malformed {
            reason: "the signature is not unpadded base64url",
        })?;
    let signing_input = &token[..header_b64.len() + 1 + claims_b64.len()];
    if !key.verify(signing_input.as_bytes(), &signature) {
        return Err(JwtError::BadSignature);
    }
    let claims = decode_json_object(claims_b64, "claims")?;
    Ok((header, Value::Object(claims)))
}

/// The header of a compact JWS, without checking anything else. Only for finding the key to
/// verify with (a DPoP proof carries it as `jwk`); trust nothing in it until [`verify_jwt`]
/// has passed.
pub fn decode_unverified_header(token: &str) -> Result<Map<String, Value>, JwtError> {
    let (header_b64, _, _) = split_compact(token)?;
    decode_json_object(header_b64, "header")
}

fn split_compact(token: &str) -> Result<(&str, &str, &str), JwtError> {
    let mut parts = token.split('.');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(header), Some(claims), Some(signature), None) => Ok((header, claims, signature)),
        _ => Err(JwtError::Malformed {
            reason: "a compact JWS is three base64url parts joined by two dots",
        }),
    }
}

fn decode_json_object(part: &str, which: &'static str) -> Result<Map<String, Value>, JwtError> {
    let malformed = |reason| JwtError::Malformed { reason };
    let (not_base64, not_object) = match which {
        "header" => (
            "the header is not unpadded base64url",
            "the header is not a JSON object",
        ),
        _ => (
            "the claims are not unpadded base64url",
            "the claims are not a JSON object",
        ),
    };
    let bytes = URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| malformed(not_base64))?;
    match serde_json::from_slice(&bytes) {
        Ok(Value::Object(object)) => Ok(object),
        _ => Err(malformed(not_object)),
    }
}

/// Why a JWK cannot be used as a public key. Never holds key bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyError {
    reason: String,
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid JWK: {}", self.reason)
    }
}

impl std::error::Error for KeyError {}

/// Why a JWT was refused by [`verify_jwt`] or [`decode_unverified_header`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum JwtError {
    /// Not a compact JWS with a JSON object header (and claims).
    Malformed { reason: &'static str },
    /// The header has no string `alg`.
    MissingAlg,
    /// `alg: "none"`: an unsigned token.
    Unsigned,
    /// The header's `alg` is not the one the key verifies.
    AlgMismatch { alg: String, key_alg: &'static str },
    /// The header has `crit`, naming extensions this verifier does not implement.
    CriticalHeader,
    /// The signature does not match the key and the signed content.
    BadSignature,
}

impl fmt::Display for JwtError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JwtError::Malformed { reason } => write!(f, "malformed JWT: {reason}"),
            JwtError::MissingAlg => {
                f.write_str("the JWT header has no \"alg\"; sign the token with RS256 or ES256")
            }
            JwtError::Unsigned => {
                f.write_str("the JWT is unsigned (alg \"none\"); sign it with RS256 or ES256")
            }
            JwtError::AlgMismatch { alg, key_alg } => write!(
                f,
                "the JWT says alg \"{alg}\" but the key verifies only {key_alg}; sign with the \
                 key registered for this client, using {key_alg}"
            ),
            JwtError::CriticalHeader => f.write_str(
                "the JWT header lists critical extensions (\"crit\") that are not supported; \
                 leave \"crit\" out",
            ),
            JwtError::BadSignature => f.write_str(
                "the JWT signature does not match: it was signed by another key, or altered \
                 after signing",
            ),
        }
    }
}

impl std::error::Error for JwtError {}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7515 appendix A.2: an RS256 JWS and the public half of its key.
    const RFC7515_A2_TOKEN: &str = concat!(
        "eyJhbGciOiJSUzI1NiJ9",
        ".eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ",
        ".cC4hiUPoj9Eetdgtv3hF80EGrhuB__dzERat0XF9g2VtQgr9PJbu3XOiZj5RZmh7AAuHIm4Bh-0Qc_lF5YKt_O8W2Fp5jujGbds9uJdbF9CUAr7t1dnZcAcQjbKBYNX4BAynRFdiuB--f_nZLgrnbyTyWzO75vRK5h6xBArLIARNPvkSjtQBMHlb1L07Qe7K0GarZRmB_eSN9383LcOLn6_dO--xi12jzDwusC-eOkHWEsqtFZESc6BfI7noOPqvhJ1phCnvWh6IeYI2w9QOYEUipUTI8np6LbgGY9Fs98rqVt5AXLIhWkWywlVmtVrBp0igcN_IoypGlUPQGe77Rw",
    );
    const RFC7515_A2_N: &str = concat!(
        "ofgWCuLjybRlzo0tZWJjNiuSfb4p4fAkd_wWJcyQoTbji9k0l8W26mPddxHmfHQp-Vaw-4qPCJrcS2mJPMEzP1Pt0Bm4d4QlL-yRT-SFd2lZS-pCgNMsD1W_YpRPEwOWvG6b32690r2jZ47soMZo9wGzjb_7OMg0LOL-bSf63kpaSHSXndS5z5rexMdb",
        "BYUsLA9e-KXBdQOS-UTo7WTBEMa2R2CapHg665xsmtdVMTBQY4uDZlxvb3qCo5ZwKh9kG4LT6_I5IhlJH7aGhyxXFvUK-DWNmoudF8NAco9_h9iaGNj8q2ethFkMLs91kzk2PAcDTW9gb54h4FRWyuXpoQ",
    );
    /// RFC 9449 section 4.1 (figure 3): a DPoP proof for a token request, and its key's thumbprint.
    const RFC9449_PROOF: &str = concat!(
        "eyJ0eXAiOiJkcG9wK2p3dCIsImFsZyI6IkVTMjU2IiwiandrIjp7Imt0eSI6IkVDIiwieCI6Imw4dEZyaHgtMzR0VjNoUklDUkRZOXpDa0RscEJoRjQyVVFVZldWQVdCRnMiLCJ5IjoiOVZFNGpmX09rX282NHpiVFRsY3VOSmFqSG10NnY5VERWclUwQ2R2R1JEQSIsImNydiI6IlAtMjU2In19",
        ".eyJqdGkiOiItQndDM0VTYzZhY2MybFRjIiwiaHRtIjoiUE9TVCIsImh0dSI6Imh0dHBzOi8vc2VydmVyLmV4YW1wbGUuY29tL3Rva2VuIiwiaWF0IjoxNTYyMjYyNjE2fQ",
        ".2-GxA6T8lP4vfrg8v-FdWP0A0zdrj8igiMLvqRMUvwnQg4PtFLbdLXiOSsX0x7NVY-FNyJK70nfbV37xRZT3Lg",
    );
    const RFC9449_THUMBPRINT: &str = "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I";

    #[test]
    fn verifies_the_rfc7515_rs256_example() {
        let key = VerifyingKey::from_public_jwk(&json!({
            "kty": "RSA", "n": RFC7515_A2_N, "e": "AQAB"
        }))
        .expect("RFC 7515 key");
        let (header, claims) =
            verify_jwt(RFC7515_A2_TOKEN, &key).expect("the RFC example verifies");
        assert_eq!(Value::Object(header), json!({ "alg": "RS256" }));
        assert_eq!(
            claims,
            json!({ "iss": "joe", "exp": 1300819380, "http://example.com/is_root": true })
        );
    }

    #[test]
    fn verifies_the_rfc9449_dpop_proof_through_its_embedded_jwk() {
        let header = decode_unverified_header(RFC9449_PROOF).expect("header decodes");
        assert_eq!(header["typ"], DPOP_JWT_TYPE);
        let key = VerifyingKey::from_public_jwk(&header["jwk"]).expect("embedded JWK");
        assert_eq!(key.jwk_thumbprint(), RFC9449_THUMBPRINT);
        assert_eq!(jwk_thumbprint(&header["jwk"]).unwrap(), RFC9449_THUMBPRINT);
        let (_, claims) = verify_jwt(RFC9449_PROOF, &key).expect("the RFC example verifies");
        assert_eq!(
            claims,
            json!({
                "jti": "-BwC3ESc6acc2lTc",
                "htm": "POST",
                "htu": "https://server.example.com/token",
                "iat": 1562262616,
            })
        );
    }

    #[test]
    fn jwk_thumbprint_matches_the_rfc7638_example() {
        // RFC 7638 section 3.1; "alg" and "kid" are not part of the thumbprint.
        let jwk = json!({
            "kty": "RSA",
            "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
            "e": "AQAB",
            "alg": "RS256",
            "kid": "2011-04-29",
        });
        let expected = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs";
        assert_eq!(jwk_thumbprint(&jwk).unwrap(), expected);
        let key = VerifyingKey::from_public_jwk(&jwk).expect("RFC 7638 key");
        assert_eq!(key.jwk_thumbprint(), expected);
    }

    #[test]
    fn jwk_thumbprint_needs_the_required_members() {
        for jwk in [
            json!({ "kty": "RSA", "n": "AQAB" }),
            json!({ "kty": "EC", "crv": "P-256", "x": "AA" }),
            json!({ "kty": "oct", "k": "AA" }),
            json!({ "n": "AA", "e": "AQAB" }),
            json!("RSA"),
        ] {
            assert!(jwk_thumbprint(&jwk).is_err(), "{jwk}");
        }
    }

    #[test]
    fn bad_public_jwks_are_refused_with_the_reason() {
        let p256 = decode_unverified_header(RFC9449_PROOF).expect("header")["jwk"].clone();
        let with = |name: &str, value: Value| {
            let mut jwk = p256.clone();
            jwk[name] = value;
            jwk
        };
        let cases = [
            (with("d", json!("AAAA")), "private member \"d\""),
            (with("crv", json!("P-384")), "\"P-384\" is not supported"),
            (with("x", json!("AAAA")), "32 bytes each"),
            (
                with("y", json!("not base64!")),
                "\"y\" member is not unpadded base64url",
            ),
            (
                with("kty", json!("OKP")),
                "key type \"OKP\" is not supported",
            ),
            (
                with("x", json!(7)),
                "\"x\" member is missing or not a string",
            ),
            (
                json!({ "kty": "RSA", "n": b64([0xc5; 128]), "e": "AQAB" }),
                "1024 bits; 2048 to 8192",
            ),
            (
                json!({ "kty": "RSA", "n": RFC7515_A2_N, "e": "AA" }),
                "exponent is zero",
            ),
            (json!([]), "not a JSON object"),
        ];
        for (jwk, reason) in cases {
            let error = VerifyingKey::from_public_jwk(&jwk).expect_err(reason);
            assert!(error.to_string().contains(reason), "{error}");
        }
    }
}
