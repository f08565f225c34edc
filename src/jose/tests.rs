//! JOSE's unit tests: keys, signatures and JWKs checked against what verifiers accept.

use super::*;
// The simulator's independent verifier checks what this module signs.
use okta_simulator::jose::{
    decode_unverified_header, jwk_thumbprint, verify_jwt, JwtError, VerifyingKey,
};

/// The verifier for a signing key, read from its public JWK as the simulator reads it.
fn verifier(key: &SigningKey) -> VerifyingKey {
    VerifyingKey::from_public_jwk(&key.public_jwk()).expect("own JWK is valid")
}

// Test-only keys, not secrets: generated for these tests with `openssl genrsa` / `openssl
// ecparam` and used nowhere else.

/// Test-only key, not a secret: RSA 2048, PKCS#1.
const RSA_2048_PKCS1: &str = "-----BEGIN RSA PRIVATE KEY-----
MIIEowIBAAKCAQEAsJbJ13E/T7+7EkHlXy33ZTvNx2DeDTzFLQXB5B5iFZQtNigg
AhvOgPBfDFGR2aAAoTZN8AjSa1iOWSr0B92I1PGCO+jSdUviI93c2Lb/mTWjv1TW
jqJM/cMsbhSm/PzDuIunaJzauwtNFckLQ3+NTke9H2w+nBiahsiVHBki0lpq1NrB
UVrnYIdQV2l1xO08ORmOFVF+tXl7shIyw6+coGOylvcq8lq70tKFZAvXSIOby7TZ
J/n6Z6g7heBvnWY9UNuk4NSqRsgNvBt4b3R9Xa0Ju1pqAeKsMZmlTYrcUoDFOWEg
Rk6flP4r/IJs7CIToNPof635qFPM1bLbde4dWwIDAQABAoIBAAe1JS0yo7VK5JLo
7maHnpc8E4DC0R5Zyy9qY2qeCuDvPUPyX2dIKGzHURa8DrYlfjGLKb6y2+BUlq38
qncXa8wDmJAd2uXEwKOZIPUSk7hvt2x3+v9xxROEa9GINDuxmqdY7R8rTX7BgQVU
55l0HUpP5kjTVC5DAqekZKG71SHCPvm2chyQCYY26VgCH99va4L91xM+I/RPgTAF
4miouLaAZT/QAQsSjO7AzeYLK5KsjPSYOWd1bQTxS3OxXE7J+dB9hVOp/UE51RZe
DxX0LWm+RpZC3ziRmMkeAIj1gbfXR9sMGa2BQexzeleD+uyHE0dNXH7/bccPuP9x
VFEe9uECgYEA3JjVnC2wij8wuItYohuhd+kfoHlsNZhBsMlKZ09W4Zee3Pgkdc4C
3p+iefB72AcAzIYv0iworQUSi6tNISu+nXgtblklQfdUOmyM//X6agcpSm/QahRz
TqHoDy6L6ThqGrVbQ02suW0/arUbQeBI29Zfc4o6I+nfBaj5gfB/U2ECgYEAzO3l
7VaqCvORQGmfzjJgOJ5uiLI0j3YifjWx3+Zw3GVXcwXxdkPWRmsws84JHjC4Ofst
l0cZFEEhWmMpTLrs+UE5qY8hNRmdDfTuDidMCtfRWr6LKiyieuV+VkUd8ZgY7jvk
3Tr0MimWrgnByX8HR8bRXt2+Oap0PFp4qpulpjsCgYAJ5/cXt1mJK8NFVkSZqwH6
P4bDDxDT601v4eosb3yoTsW8iIwimii41JRYQ3tcPRxFEvWMy5zcADFQAlZJWgyK
R75KiUhKCRBIO12tlN806bNp+1Fxog93hX/FRsLTq0vgfSpnAFL0VLqXUSCzOZ4r
+Rl6N8famwL/3xGtSx58oQKBgBLm+qdasBKUhthXJctiMCfozS9EqL522hWkJEUP
v2dE3b0ZVj1fYntaVcKwBX1IZyXJ+lmS0Ehi/Y2VyfBu6X7QOl5eemSoeSkZZ3/c
thHl+ESTgMiiF1aYpn+Unn9zVRFcau7RCkc6ONDSy5Inamd/ej5y26H8C/6pJaou
8yeTAoGBAKPCEDTWP+3SOJmxVNo9JOW8Xf5e2lLFdiUKZZxhg6V7rXYc7WLWbQYf
pbvRDwCSR9MJxL18kKaahhXp9je47nXfAYl9JGy83qzSW3nGVIH2tG/lK3QVIE2D
KlYIfuanpemkhPAF6gap93aim7Qey44QDMEobhdbx8G/In1wkkHC
-----END RSA PRIVATE KEY-----
";

/// Test-only key, not a secret: the same RSA 2048 key as PKCS#8.
const RSA_2048_PKCS8: &str = "-----BEGIN PRIVATE KEY-----
MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQCwlsnXcT9Pv7sS
QeVfLfdlO83HYN4NPMUtBcHkHmIVlC02KCACG86A8F8MUZHZoAChNk3wCNJrWI5Z
KvQH3YjU8YI76NJ1S+Ij3dzYtv+ZNaO/VNaOokz9wyxuFKb8/MO4i6donNq7C00V
yQtDf41OR70fbD6cGJqGyJUcGSLSWmrU2sFRWudgh1BXaXXE7Tw5GY4VUX61eXuy
EjLDr5ygY7KW9yryWrvS0oVkC9dIg5vLtNkn+fpnqDuF4G+dZj1Q26Tg1KpGyA28
G3hvdH1drQm7WmoB4qwxmaVNitxSgMU5YSBGTp+U/iv8gmzsIhOg0+h/rfmoU8zV
stt17h1bAgMBAAECggEAB7UlLTKjtUrkkujuZoeelzwTgMLRHlnLL2pjap4K4O89
Q/JfZ0gobMdRFrwOtiV+MYspvrLb4FSWrfyqdxdrzAOYkB3a5cTAo5kg9RKTuG+3
bHf6/3HFE4Rr0Yg0O7Gap1jtHytNfsGBBVTnmXQdSk/mSNNULkMCp6RkobvVIcI+
+bZyHJAJhjbpWAIf329rgv3XEz4j9E+BMAXiaKi4toBlP9ABCxKM7sDN5gsrkqyM
9Jg5Z3VtBPFLc7FcTsn50H2FU6n9QTnVFl4PFfQtab5GlkLfOJGYyR4AiPWBt9dH
2wwZrYFB7HN6V4P67IcTR01cfv9txw+4/3FUUR724QKBgQDcmNWcLbCKPzC4i1ii
G6F36R+geWw1mEGwyUpnT1bhl57c+CR1zgLen6J58HvYBwDMhi/SLCitBRKLq00h
K76deC1uWSVB91Q6bIz/9fpqBylKb9BqFHNOoegPLovpOGoatVtDTay5bT9qtRtB
4Ejb1l9zijoj6d8FqPmB8H9TYQKBgQDM7eXtVqoK85FAaZ/OMmA4nm6IsjSPdiJ+
NbHf5nDcZVdzBfF2Q9ZGazCzzgkeMLg5+y2XRxkUQSFaYylMuuz5QTmpjyE1GZ0N
9O4OJ0wK19FavosqLKJ65X5WRR3xmBjuO+TdOvQyKZauCcHJfwdHxtFe3b45qnQ8
Wniqm6WmOwKBgAnn9xe3WYkrw0VWRJmrAfo/hsMPENPrTW/h6ixvfKhOxbyIjCKa
KLjUlFhDe1w9HEUS9YzLnNwAMVACVklaDIpHvkqJSEoJEEg7Xa2U3zTps2n7UXGi
D3eFf8VGwtOrS+B9KmcAUvRUupdRILM5niv5GXo3x9qbAv/fEa1LHnyhAoGAEub6
p1qwEpSG2Fcly2IwJ+jNL0SovnbaFaQkRQ+/Z0TdvRlWPV9ie1pVwrAFfUhnJcn6
WZLQSGL9jZXJ8G7pftA6Xl56ZKh5KRlnf9y2EeX4RJOAyKIXVpimf5Sef3NVEVxq
7tEKRzo40NLLkidqZ396PnLbofwL/qklqi7zJ5MCgYEAo8IQNNY/7dI4mbFU2j0k
5bxd/l7aUsV2JQplnGGDpXutdhztYtZtBh+lu9EPAJJH0wnEvXyQppqGFen2N7ju
dd8BiX0kbLzerNJbecZUgfa0b+UrdBUgTYMqVgh+5qel6aSE8AXqBqn3dqKbtB7L
jhAMwShuF1vHwb8ifXCSQcI=
-----END PRIVATE KEY-----
";

/// Test-only key, not a secret: RSA 1024 (too small), PKCS#1.
const RSA_1024_PKCS1: &str = "-----BEGIN RSA PRIVATE KEY-----
MIICXAIBAAKBgQDGwdSUsGmj4PeS5Ud4ROPyTMoG/lk0EMvCgrOu+/LtO7Pe0XAn
evkFwC4Gg+C0Lo7Nmf1j0Q1e/oGeyLLyCQlBn/Rfm2/+ka5es6awmHt9DlfCMIUz
atAE83laFrLdpcZfGUwIRThIbZrPoOUxdRNk+LzqKvBaUKpG/wT/I2nsfwIDAQAB
AoGADUY6xWd21rwarNPlTxICy1b3kzn/iSuqACasi35GPjPjknkYbXqYERtBt6ut
ITuOzAqB0t3Ob869p3YuBV43IO2hOiGnc2mRF83ssMVvdS7FHKF1NMmTnL8yY99B
aH5Y8QqDnx6t2bGBI20B9pexVH+ZczMnq6suqMOdEZQQBLECQQD4htSF3YGhgBym
l9h0+yXro0z+/z2IFj1DUvgZxxR+e4+k2HP5rTu6Vzfp1D5a7lOPyYx36dqt8P4Z
P9CP1ekJAkEAzLvfQTp13DT2XfnOexovWchv5XDGDjeRXUPbQN3/U8abFPYHJaUc
/129m0MJ0L9Y0893ZgE+uRr2TBMidj2zRwJAN5+VuVBWTxspTm/11ljPp+motfnS
f77af1L2jG5uO9DT2YVIj70h/RbAQOlr+1YUBb6KXdxNQVkKxgPuXgL2YQJBAKSo
8Sz//KzHt+HrOOMPM0gNidlJszDaBkKxgZSRN3pEgJQCL8taGZFU7lsCNtG6I5Hv
CUNz+uNbSP30YcIha58CQFybNrDq7HOACWAu8VPDavhVp42v9lgL89SrUW8CuU/1
whhIYqT16h5wDWyQH0+1i65IOc8hkG6BfDm9l1kGlH0=
-----END RSA PRIVATE KEY-----
";

/// Test-only key, not a secret: EC P-256 in SEC1 form.
const EC_P256_SEC1: &str = "-----BEGIN EC PRIVATE KEY-----
MHcCAQEEIL21osd4q9PLluMWsFJlYL8EZnpAphoQ9tObQuQjGqSNoAoGCCqGSM49
AwEHoUQDQgAE3fsMigCITTaq+s/TtyLf9bE9F1RWlDe3f2dLdPWmyvjpaAmASdnN
Slf78zkrUbLPI3I1QilUYkxKP5BdFTBpjA==
-----END EC PRIVATE KEY-----
";

/// Test-only key, not a secret: EC P-384 in SEC1 form.
const EC_P384_SEC1: &str = "-----BEGIN EC PRIVATE KEY-----
MIGkAgEBBDDUwLXZh8b2EBAhWzI78rLjM74SIFWtpDzwphkkGW7/ki5eyCnZuWqy
VmhiLvnTg6+gBwYFK4EEACKhZANiAAQJB26w3GzM8nbAl8xLk5vLO01jQwwdv2wz
NjVUql/0053hOrtJtKoF4qh81fh1H7NtOjuSXQemXTzbfh4tyx7/dSaPX1tJ+wDU
bSTnJXvv4dD8WQFqiqyFa9rV36MBji8=
-----END EC PRIVATE KEY-----
";

/// Test-only key, not a secret: the P-256 key above, PKCS#8 encrypted with password "x".
const EC_P256_ENCRYPTED_PKCS8: &str = "-----BEGIN ENCRYPTED PRIVATE KEY-----
MIHsMFcGCSqGSIb3DQEFDTBKMCkGCSqGSIb3DQEFDDAcBAj81JNyLYUIWAICCAAw
DAYIKoZIhvcNAgkFADAdBglghkgBZQMEASoEED9z2C1tSNz18g+yWSpj01wEgZBj
XtL194Q3IXFWbaeZdr9E7iH1umVoVFy4isciXdasdWfMQvJHpt3BS8stjnST8d+l
S+BCS4cNuE70ZDxxaTyDkYpL8H0EHspIzpZ5E4nchELLCG42nMR/w1k5sv+2Rqv4
L6VA5KQPDpVJq/+xmK8889TzaThf/5ZHI3277/wFgYSc5yW7c/2RzUTVQ6COZw4=
-----END ENCRYPTED PRIVATE KEY-----
";

/// Test-only key, not a secret: the P-256 key above, legacy OpenSSL encryption ("x").
const EC_P256_LEGACY_ENCRYPTED: &str = "-----BEGIN EC PRIVATE KEY-----
Proc-Type: 4,ENCRYPTED
DEK-Info: AES-128-CBC,4AE3D70588CE5A15379102E92FE6C0BA

8SGlmedsNWzWxmVXO7soBsx6/fPmmrWh3nqeAV9j8psNSwfPymlwU5sq74qHfsSf
kVh/Qtq/++Dj6evCy0sb10DTeOQYncks+BMYGZVYizajIGHSXiIUAsBmEmuy36JK
oedXk1mFe/Z8dIeVz1S4q6scsF5gVgbHOnYdMlG7x4g=
-----END EC PRIVATE KEY-----
";

/// RFC 7515 appendix A.2: the modulus of its RS256 key.
const RFC7515_A2_N: &str = concat!(
    "ofgWCuLjybRlzo0tZWJjNiuSfb4p4fAkd_wWJcyQoTbji9k0l8W26mPddxHmfHQp-Vaw-4qPCJrcS2mJPMEzP1Pt0Bm4d4QlL-yRT-SFd2lZS-pCgNMsD1W_YpRPEwOWvG6b32690r2jZ47soMZo9wGzjb_7OMg0LOL-bSf63kpaSHSXndS5z5rexMdb",
    "BYUsLA9e-KXBdQOS-UTo7WTBEMa2R2CapHg665xsmtdVMTBQY4uDZlxvb3qCo5ZwKh9kG4LT6_I5IhlJH7aGhyxXFvUK-DWNmoudF8NAco9_h9iaGNj8q2ethFkMLs91kzk2PAcDTW9gb54h4FRWyuXpoQ",
);

fn rcgen_pem(alg: &'static rcgen::SignatureAlgorithm) -> String {
    rcgen::KeyPair::generate_for(alg)
        .expect("rcgen generates the key")
        .serialize_pem()
}

fn header(members: Value) -> Map<String, Value> {
    members.as_object().expect("a JSON object").clone()
}

fn decode_part(token: &str, index: usize) -> Value {
    let part = token.split('.').nth(index).expect("three parts");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).expect("base64url")).expect("JSON")
}

/// Replaces one character in the middle of part `index` of a compact JWS.
fn flip_char_in_part(token: &str, index: usize) -> String {
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    let part = &mut parts[index];
    let middle = part.len() / 2;
    let replacement = if &part[middle..=middle] == "A" {
        "B"
    } else {
        "A"
    };
    part.replace_range(middle..=middle, replacement);
    parts.join(".")
}

/// The keys every round-trip test runs on, by name.
fn signing_keys() -> Vec<(&'static str, SigningKey)> {
    let load = |pem: &str| SigningKey::from_pem(pem).expect("the test key loads");
    vec![
        ("generated P-256", SigningKey::generate_p256()),
        (
            "rcgen P-256 PKCS#8",
            load(&rcgen_pem(&rcgen::PKCS_ECDSA_P256_SHA256)),
        ),
        ("RSA 2048 PKCS#1", load(RSA_2048_PKCS1)),
        ("RSA 2048 PKCS#8", load(RSA_2048_PKCS8)),
    ]
}

#[test]
fn every_supported_key_signs_tokens_its_verifying_key_accepts() {
    let claims = json!({ "sub": "0oa1", "n": 1, "nested": { "a": [1, 2] } });
    for (name, key) in signing_keys() {
        let token = key.sign_jwt(&header(json!({ "typ": "JWT", "alg": "HS256" })), &claims);
        let (got_header, got_claims) =
            verify_jwt(&token, &verifier(&key)).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(got_header["alg"], key.alg(), "{name}: alg is overwritten");
        assert_eq!(got_header["typ"], "JWT", "{name}");
        assert_eq!(got_claims, claims, "{name}");
    }
}

#[test]
fn algorithms_follow_the_key_kind_and_es256_signatures_are_64_bytes() {
    for (name, key) in signing_keys() {
        let token = key.sign_jwt(&Map::new(), &json!({}));
        let signature = URL_SAFE_NO_PAD
            .decode(token.split('.').nth(2).expect("three parts"))
            .expect("base64url");
        let (alg, len) = if name.starts_with("RSA") {
            ("RS256", 256)
        } else {
            ("ES256", 64)
        };
        assert_eq!((key.alg(), verifier(&key).alg()), (alg, alg), "{name}");
        assert_eq!(signature.len(), len, "{name}");
    }
}

#[test]
fn pkcs1_and_pkcs8_encodings_of_one_rsa_key_load_to_the_same_public_key() {
    let pkcs1 = SigningKey::from_pem(RSA_2048_PKCS1).expect("PKCS#1 loads");
    let pkcs8 = SigningKey::from_pem(RSA_2048_PKCS8).expect("PKCS#8 loads");
    assert_eq!(pkcs1.public_jwk(), pkcs8.public_jwk());
    let token = pkcs1.sign_jwt(&Map::new(), &json!({ "a": 1 }));
    assert!(verify_jwt(&token, &verifier(&pkcs8)).is_ok());
}

#[test]
fn the_public_jwk_of_a_p256_key_is_the_key_rcgen_generated() {
    let generated = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
        .expect("rcgen generates the key");
    let key = SigningKey::from_pem(&generated.serialize_pem()).expect("PKCS#8 loads");
    let raw = generated.public_key_raw();
    assert_eq!(
        key.public_jwk(),
        json!({ "kty": "EC", "crv": "P-256", "x": b64(&raw[1..33]), "y": b64(&raw[33..65]) })
    );
}

#[test]
fn public_jwks_hold_only_public_members() {
    for (name, key) in signing_keys() {
        let jwk = key.public_jwk();
        let mut members: Vec<&str> = jwk
            .as_object()
            .expect("an object")
            .keys()
            .map(String::as_str)
            .collect();
        members.sort_unstable();
        let expected: &[&str] = if key.alg() == "RS256" {
            &["e", "kty", "n"]
        } else {
            &["crv", "kty", "x", "y"]
        };
        assert_eq!(members, expected, "{name}");
    }
}

#[test]
fn altered_tokens_fail_with_bad_signature() {
    for (name, key) in signing_keys() {
        let token = key.sign_jwt(
            &header(json!({ "typ": "JWT" })),
            &json!({ "sub": "alice", "admin": false }),
        );
        let forged_claims = b64(json!({ "sub": "alice", "admin": true }).to_string());
        let mut parts: Vec<&str> = token.split('.').collect();
        parts[1] = &forged_claims;
        let cases = [
            ("claims replaced", parts.join(".")),
            ("claims character changed", flip_char_in_part(&token, 1)),
            ("signature character changed", flip_char_in_part(&token, 2)),
            (
                "signature removed",
                format!("{}.", token.rsplit_once('.').unwrap().0),
            ),
        ];
        for (case, altered) in cases {
            assert_eq!(
                verify_jwt(&altered, &verifier(&key)),
                Err(JwtError::BadSignature),
                "{name}: {case}"
            );
        }
    }
}

#[test]
fn a_token_signed_by_one_key_fails_against_another_of_the_same_kind() {
    let rfc_rsa = VerifyingKey::from_public_jwk(&json!({
        "kty": "RSA", "n": RFC7515_A2_N, "e": "AQAB"
    }))
    .expect("RFC 7515 key");
    let cases = [
        (
            SigningKey::generate_p256(),
            verifier(&SigningKey::generate_p256()),
        ),
        (SigningKey::from_pem(RSA_2048_PKCS1).unwrap(), rfc_rsa),
    ];
    for (signer, other) in cases {
        let proof = dpop_proof(&signer, "GET", "https://a.okta.com/x", 1, "j", None, None);
        assert_eq!(verify_jwt(&proof, &other), Err(JwtError::BadSignature));
    }
}

#[test]
fn unsigned_missing_mismatched_and_critical_algorithms_are_refused() {
    let ec = SigningKey::generate_p256();
    let rsa = SigningKey::from_pem(RSA_2048_PKCS1).unwrap();
    let claims = b64(r#"{"sub":"x"}"#);
    let unsigned = |alg: &str| format!("{}.{claims}.", b64(json!({ "alg": alg }).to_string()));
    let mismatch = |alg: &str, key_alg| JwtError::AlgMismatch {
        alg: alg.into(),
        key_alg,
    };
    let cases = [
        (
            "alg none",
            unsigned("none"),
            verifier(&ec),
            JwtError::Unsigned,
        ),
        (
            "alg NONE",
            unsigned("NONE"),
            verifier(&rsa),
            JwtError::Unsigned,
        ),
        (
            "no alg",
            format!("{}.{claims}.AAAA", b64("{}")),
            verifier(&ec),
            JwtError::MissingAlg,
        ),
        (
            "RS256 token, EC key",
            rsa.sign_jwt(&Map::new(), &json!({})),
            verifier(&ec),
            mismatch("RS256", "ES256"),
        ),
        (
            "ES256 token, RSA key",
            ec.sign_jwt(&Map::new(), &json!({})),
            verifier(&rsa),
            mismatch("ES256", "RS256"),
        ),
        (
            "HS256 token, RSA key",
            unsigned("HS256"),
            verifier(&rsa),
            mismatch("HS256", "RS256"),
        ),
        (
            "crit header",
            ec.sign_jwt(&header(json!({ "crit": ["exp"] })), &json!({})),
            verifier(&ec),
            JwtError::CriticalHeader,
        ),
    ];
    for (case, token, key, expected) in cases {
        assert_eq!(verify_jwt(&token, &key), Err(expected), "{case}");
    }
}

#[test]
fn malformed_tokens_are_refused_with_the_reason() {
    let key = SigningKey::generate_p256();
    let good = key.sign_jwt(&Map::new(), &json!({}));
    let (h, rest) = good.split_once('.').unwrap();
    let cases = [
        ("", "three base64url parts"),
        ("a.b", "three base64url parts"),
        (&format!("{good}.extra") as &str, "three base64url parts"),
        (&format!("!!.{rest}"), "header is not unpadded base64url"),
        (
            &format!("{}.{rest}", b64("[1]")),
            "header is not a JSON object",
        ),
        (
            &format!("{}.{rest}", b64("not json")),
            "header is not a JSON object",
        ),
        (
            &format!("{h}.e30.!!"),
            "signature is not unpadded base64url",
        ),
        (
            &key.sign_jwt(&Map::new(), &json!(["not", "an", "object"])),
            "claims are not a JSON object",
        ),
    ];
    for (token, reason) in cases {
        let error = verify_jwt(token, &verifier(&key)).expect_err(token);
        assert!(
            matches!(error, JwtError::Malformed { .. }),
            "{token}: {error:?}"
        );
        assert!(error.to_string().contains(reason), "{token}: {error}");
    }
}

#[test]
fn a_signing_key_thumbprint_is_the_thumbprint_of_its_public_jwk() {
    for (name, key) in signing_keys() {
        assert_eq!(
            Ok(key.jwk_thumbprint()),
            jwk_thumbprint(&key.public_jwk()),
            "{name}"
        );
    }
}

#[test]
fn client_assertion_has_exactly_the_specified_header_and_claims() {
    let key = SigningKey::from_pem(RSA_2048_PKCS1).unwrap();
    let token_url = "https://acme.okta.com/oauth2/v1/token";
    for (kid, expected_header) in [
        (
            Some("key-1"),
            json!({ "alg": "RS256", "typ": "JWT", "kid": "key-1" }),
        ),
        (None, json!({ "alg": "RS256", "typ": "JWT" })),
    ] {
        let token = client_assertion(&key, kid, "0oa1client", token_url, 1_700_000_000, "j-1");
        let (header, claims) = verify_jwt(&token, &verifier(&key)).expect("verifies");
        assert_eq!(Value::Object(header), expected_header);
        assert_eq!(
            claims,
            json!({
                "iss": "0oa1client",
                "sub": "0oa1client",
                "aud": token_url,
                "iat": 1_700_000_000,
                "exp": 1_700_000_300,
                "jti": "j-1",
            })
        );
        assert_eq!(
            claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
            300
        );
    }
}

#[test]
fn dpop_proofs_carry_the_specified_header_and_claims() {
    let key = SigningKey::generate_p256();
    let url = "https://a.okta.com/api/v1/api-tokens?limit=200&after=x";
    let htu = "https://a.okta.com/api/v1/api-tokens";
    let cases = [
        (
            None,
            None,
            json!({ "htm": "GET", "htu": htu, "iat": 42, "jti": "j" }),
        ),
        (
            Some("nonce-1"),
            None,
            json!({ "htm": "GET", "htu": htu, "iat": 42, "jti": "j", "nonce": "nonce-1" }),
        ),
        (
            Some("nonce-1"),
            Some("token-1"),
            json!({
                "htm": "GET", "htu": htu, "iat": 42, "jti": "j",
                "nonce": "nonce-1", "ath": ath("token-1"),
            }),
        ),
    ];
    for (nonce, access_token, expected_claims) in cases {
        let proof = dpop_proof(&key, "GET", url, 42, "j", nonce, access_token);
        // The simulator's path: key from the embedded JWK, then verify.
        let embedded = decode_unverified_header(&proof).expect("header")["jwk"].clone();
        let verifier = VerifyingKey::from_public_jwk(&embedded).expect("embedded JWK");
        let (header, claims) = verify_jwt(&proof, &verifier).expect("verifies");
        assert_eq!(
            Value::Object(header),
            json!({ "typ": "dpop+jwt", "alg": "ES256", "jwk": key.public_jwk() })
        );
        assert_eq!(claims, expected_claims);
        assert_eq!(decode_part(&proof, 1), expected_claims);
    }
}

#[test]
fn htu_is_the_url_without_query_and_fragment() {
    for (url, expected) in [
        (
            "https://a.okta.com/api/v1/api-tokens?limit=200&after=x",
            "https://a.okta.com/api/v1/api-tokens",
        ),
        (
            "https://a.okta.com/oauth2/v1/token",
            "https://a.okta.com/oauth2/v1/token",
        ),
        ("https://a.okta.com/x#frag", "https://a.okta.com/x"),
        ("https://a.okta.com/x?q#frag", "https://a.okta.com/x"),
        ("https://a.okta.com/x#frag?q", "https://a.okta.com/x"),
    ] {
        assert_eq!(htu(url), expected, "{url}");
    }
}

#[test]
fn ath_matches_the_rfc9449_example() {
    assert_eq!(
        ath("Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU"),
        "fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo"
    );
}

#[test]
fn new_jti_is_22_url_safe_characters_and_fresh_each_time() {
    let (a, b) = (new_jti(), new_jti());
    assert_ne!(a, b);
    assert_eq!(a.len(), 22);
    assert!(a
        .bytes()
        .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_'));
}

#[test]
fn decode_unverified_header_reads_the_header_without_checking_the_signature() {
    let token = SigningKey::generate_p256().sign_jwt(&header(json!({ "kid": "k" })), &json!({}));
    let unsigned = format!("{}.", token.rsplit_once('.').unwrap().0);
    let header = decode_unverified_header(&unsigned).expect("decodes");
    assert_eq!(Value::Object(header), json!({ "alg": "ES256", "kid": "k" }));
}

/// Every 12-character run of the base64 between the BEGIN and END lines.
fn key_body_chunks(pem: &str) -> Vec<String> {
    let body: String = pem
        .lines()
        .filter(|line| !line.starts_with("-----") && !line.contains(':'))
        .collect();
    body.as_bytes()
        .chunks(12)
        .filter(|chunk| chunk.len() == 12)
        .map(|chunk| String::from_utf8_lossy(chunk).into_owned())
        .collect()
}

fn assert_shows_no_key_bytes(shown: &str, pem: &str) {
    for chunk in key_body_chunks(pem) {
        assert!(
            !shown.contains(&chunk),
            "{shown:?} contains key bytes {chunk:?}"
        );
    }
}

#[test]
fn pem_problems_are_named_with_the_fix_and_never_show_key_bytes() {
    let p384_pkcs8 = rcgen_pem(&rcgen::PKCS_ECDSA_P384_SHA384);
    let ed25519_pkcs8 = rcgen_pem(&rcgen::PKCS_ED25519);
    let certificate = rcgen::generate_simple_self_signed(vec!["a.example".into()])
        .expect("rcgen certificate")
        .cert
        .pem();
    let two_keys = format!("{RSA_2048_PKCS8}{RSA_2048_PKCS1}");
    let truncated = RSA_2048_PKCS8.replace("-----END PRIVATE KEY-----", "");
    let openssh = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n\
                   -----END OPENSSH PRIVATE KEY-----\n";
    let cases: &[(&str, &str, &[&str])] = &[
        ("SEC1 P-256", EC_P256_SEC1, &[SEC1_TO_PKCS8, "SEC1"]),
        ("SEC1 P-384", EC_P384_SEC1, &["curve P-384", "only P-256"]),
        (
            "PKCS#8 P-384",
            &p384_pkcs8,
            &["curve P-384", "ec_paramgen_curve:P-256"],
        ),
        (
            "PKCS#8 Ed25519",
            &ed25519_pkcs8,
            &["an Ed25519 key", "RSA (RS256"],
        ),
        ("RSA 1024", RSA_1024_PKCS1, &["1024 bits", "at least 2048"]),
        (
            "encrypted PKCS#8",
            EC_P256_ENCRYPTED_PKCS8,
            &["encrypted", "openssl pkey"],
        ),
        (
            "legacy encrypted",
            EC_P256_LEGACY_ENCRYPTED,
            &["encrypted", "openssl pkey"],
        ),
        ("OpenSSH", openssh, &["OpenSSH", "ssh-keygen -p -m PKCS8"]),
        (
            "certificate only",
            &certificate,
            &["no private key", "found: CERTIFICATE"],
        ),
        ("two keys", &two_keys, &["2 private keys"]),
        ("no END line", &truncated, &["damaged"]),
        ("not PEM", "just some text", &["no PEM block", "BEGIN"]),
        ("empty", "", &["no PEM block"]),
    ];
    for (case, pem, phrases) in cases {
        let error = SigningKey::from_pem(pem).expect_err(case);
        let (shown, debug) = (error.to_string(), format!("{error:?}"));
        for phrase in *phrases {
            assert!(shown.contains(phrase), "{case}: {shown:?} lacks {phrase:?}");
        }
        assert_shows_no_key_bytes(&shown, pem);
        assert_shows_no_key_bytes(&debug, pem);
    }
}

#[test]
fn debug_of_a_signing_key_shows_alg_and_thumbprint_but_no_key_bytes() {
    let rcgen_p256 = rcgen_pem(&rcgen::PKCS_ECDSA_P256_SHA256);
    for (pem, alg) in [
        (RSA_2048_PKCS1, "RS256"),
        (RSA_2048_PKCS8, "RS256"),
        (rcgen_p256.as_str(), "ES256"),
    ] {
        let key = SigningKey::from_pem(pem).expect("loads");
        for shown in [format!("{key:?}"), format!("{key:#?}")] {
            assert!(shown.contains(alg), "{shown}");
            assert!(shown.contains(&key.jwk_thumbprint()), "{shown}");
            assert_shows_no_key_bytes(&shown, pem);
        }
    }
    let generated = format!("{:?}", SigningKey::generate_p256());
    assert!(generated.starts_with("SigningKey { alg: \"ES256\", jwk_thumbprint: "));
}
