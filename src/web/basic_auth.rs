//! `basic_auth_users`: users and their bcrypt hashes, checked against `Authorization: Basic`,
//! with good checks cached so that scrapes do not pay for bcrypt each time, and a wrong user
//! costing as much as a wrong password.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use base64::Engine as _;
use hyper::header::HeaderValue;
use serde_saphyr::Spanned;
use sha2::{Digest, Sha256};

use super::raw::locate;
use crate::secret::Secret;
use crate::yaml::{ConfigError, Locator};

/// The `WWW-Authenticate` answer of a 401.
const CHALLENGE: &str = "Basic realm=\"okta-token-exporter\", charset=\"UTF-8\"";
/// The longest password bcrypt reads whole.
pub const MAX_PASSWORD_BYTES: usize = 72;
/// Good password checks remembered, so that scrapes do not pay for bcrypt each time.
const VERIFIED_CACHE_CAPACITY: usize = 1024;

/// What is wrong with a user; [`locate`] adds the file, line, column and key.
#[derive(Debug, thiserror::Error)]
enum Problem {
    #[error("a user name must be non-empty and without ':'")]
    BadUserName,
    #[error("not a bcrypt hash; make one with `okta-token-exporter hash-password`")]
    NotBcrypt,
}

/// Users and their bcrypt hashes, checked against `Authorization: Basic`.
pub struct BasicAuth {
    users: BTreeMap<String, String>,
    /// A configured hash of the highest cost: an unknown user is checked against it, so that a
    /// wrong user costs as much as a wrong password.
    decoy: String,
    /// Digests of (user, password, hash) that verified; bounded.
    verified: Mutex<std::collections::HashSet<[u8; 32]>>,
    bcrypt_checks: AtomicU64,
}

impl fmt::Debug for BasicAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BasicAuth")
            .field("users", &self.users.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// Why a request was not let in, for the log (never with the password).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denied {
    NoCredentials,
    Malformed,
    WrongCredentials,
}

impl BasicAuth {
    pub(super) fn new(
        users: &BTreeMap<String, Spanned<String>>,
        at: &Locator,
    ) -> Result<BasicAuth, ConfigError> {
        let mut hashes = BTreeMap::new();
        let mut decoy: Option<(u32, String)> = None;
        for (user, hash) in users {
            let key = format!("basic_auth_users.{user}");
            if user.is_empty() || user.contains(':') {
                return Err(locate(at, hash, key, Problem::BadUserName));
            }
            let parts: bcrypt::HashParts = hash
                .value
                .trim()
                .parse()
                .map_err(|_| locate(at, hash, key.clone(), Problem::NotBcrypt))?;
            let cost = parts.get_cost();
            if decoy.as_ref().is_none_or(|(c, _)| cost > *c) {
                decoy = Some((cost, hash.value.trim().to_owned()));
            }
            hashes.insert(user.clone(), hash.value.trim().to_owned());
        }
        Ok(BasicAuth {
            users: hashes,
            decoy: decoy.map(|(_, hash)| hash).unwrap_or_default(),
            verified: Mutex::new(Default::default()),
            bcrypt_checks: AtomicU64::new(0),
        })
    }

    /// Checks an `Authorization` header. Costs one bcrypt verification unless this user and
    /// password verified before, whether or not the user exists. Blocking: call it off the
    /// async threads when it may run bcrypt ([`BasicAuth::is_cached`] tells).
    pub fn check(&self, header: Option<&HeaderValue>) -> Result<(), Denied> {
        let (user, password) = credentials(header)?;
        let digest = self.digest(&user, &password);
        if self.verified_before(&digest) {
            return Ok(());
        }
        self.bcrypt_checks.fetch_add(1, Ordering::Relaxed);
        let (hash, known) = match self.users.get(&user) {
            Some(hash) => (hash.as_str(), true),
            None => (self.decoy.as_str(), false),
        };
        // bcrypt reads only a password's first 72 bytes: a longer one would get in on its
        // first 72 alone. Refused as Go's bcrypt refuses it; the check still costs bcrypt's time.
        let fits = password.expose().len() <= MAX_PASSWORD_BYTES;
        let matches = bcrypt::verify(password.expose(), hash).unwrap_or(false) && fits;
        if !(known && matches) {
            return Err(Denied::WrongCredentials);
        }
        let mut verified = self.verified.lock().unwrap_or_else(|e| e.into_inner());
        if verified.len() >= VERIFIED_CACHE_CAPACITY {
            verified.clear();
        }
        verified.insert(digest);
        Ok(())
    }

    /// Whether [`BasicAuth::check`] would answer from its cache (or without bcrypt at all).
    pub fn is_cached(&self, header: Option<&HeaderValue>) -> bool {
        match credentials(header) {
            Ok((user, password)) => self.verified_before(&self.digest(&user, &password)),
            Err(_) => true,
        }
    }

    /// How many bcrypt verifications ran; for tests.
    pub fn bcrypt_checks(&self) -> u64 {
        self.bcrypt_checks.load(Ordering::Relaxed)
    }

    /// The `WWW-Authenticate` value of a 401.
    pub fn challenge() -> HeaderValue {
        HeaderValue::from_static(CHALLENGE)
    }

    fn digest(&self, user: &str, password: &Secret) -> [u8; 32] {
        let hash = self.users.get(user).map_or("", String::as_str);
        let mut digest = Sha256::new();
        for part in [user, password.expose(), hash] {
            digest.update((part.len() as u64).to_le_bytes());
            digest.update(part.as_bytes());
        }
        digest.finalize().into()
    }

    fn verified_before(&self, digest: &[u8; 32]) -> bool {
        self.verified
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(digest)
    }
}

/// User and password of an `Authorization: Basic` header: the scheme in any case, then the
/// base64 of `user:password` in UTF-8 (the user ends at the first `:`).
pub fn credentials(header: Option<&HeaderValue>) -> Result<(String, Secret), Denied> {
    let header = header.ok_or(Denied::NoCredentials)?;
    let text = header.to_str().map_err(|_| Denied::Malformed)?;
    let (scheme, encoded) = text.trim().split_once(' ').ok_or(Denied::Malformed)?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(Denied::Malformed);
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .map_err(|_| Denied::Malformed)?;
    let decoded = String::from_utf8(decoded).map_err(|_| Denied::Malformed)?;
    let (user, password) = decoded.split_once(':').ok_or(Denied::Malformed)?;
    Ok((user.to_owned(), Secret::new(password)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::web::testing::{auth_with, basic};

    #[test]
    fn the_right_password_is_let_in_and_checked_with_bcrypt_once() {
        let (_dir, file) = auth_with(&[("prometheus", "s3cret")]);
        let auth = file.current().basic_auth.clone().unwrap();
        let good = basic("prometheus", "s3cret");
        assert_eq!(auth.check(Some(&good)), Ok(()));
        assert!(auth.is_cached(Some(&good)));
        assert_eq!(auth.check(Some(&good)), Ok(()));
        assert_eq!(
            auth.bcrypt_checks(),
            1,
            "the second check is served from the cache"
        );
    }

    #[test]
    fn wrong_users_and_passwords_cost_one_bcrypt_check_each() {
        let (_dir, file) = auth_with(&[("prometheus", "s3cret"), ("grafana", "other")]);
        let auth = file.current().basic_auth.clone().unwrap();
        let cases = [
            (basic("prometheus", "wrong"), Denied::WrongCredentials),
            (basic("nobody", "s3cret"), Denied::WrongCredentials),
            (basic("grafana", "s3cret"), Denied::WrongCredentials),
            (basic("", ""), Denied::WrongCredentials),
        ];
        for (i, (header, denied)) in cases.iter().enumerate() {
            assert_eq!(auth.check(Some(header)), Err(*denied), "case {i}");
            assert_eq!(
                auth.bcrypt_checks(),
                i as u64 + 1,
                "case {i} ran bcrypt once"
            );
            assert!(!auth.is_cached(Some(header)), "failures are never cached");
        }
    }

    #[test]
    fn a_password_past_bcrypts_72_bytes_is_refused_not_truncated() {
        let password = "p".repeat(MAX_PASSWORD_BYTES);
        let (_dir, file) = auth_with(&[("prometheus", &password)]);
        let auth = file.current().basic_auth.clone().unwrap();
        assert_eq!(auth.check(Some(&basic("prometheus", &password))), Ok(()));
        let longer = format!("{password}and-then-anything");
        assert!(
            bcrypt::verify(&longer, &bcrypt::hash(&password, 4).unwrap()).unwrap(),
            "bcrypt alone lets it in"
        );
        assert_eq!(
            auth.check(Some(&basic("prometheus", &longer))),
            Err(Denied::WrongCredentials)
        );
    }

    #[test]
    fn malformed_headers_are_refused_without_bcrypt() {
        let (_dir, file) = auth_with(&[("prometheus", "s3cret")]);
        let auth = file.current().basic_auth.clone().unwrap();
        assert_eq!(auth.check(None), Err(Denied::NoCredentials));
        for header in [
            "Bearer abc",
            "Basic",
            "Basic !!!notbase64",
            "Basic bm9jb2xvbg==", // "nocolon"
        ] {
            let header = HeaderValue::from_static(header);
            assert_eq!(
                auth.check(Some(&header)),
                Err(Denied::Malformed),
                "{header:?}"
            );
        }
        assert_eq!(auth.bcrypt_checks(), 0);
    }

    #[test]
    fn debug_output_names_users_but_never_hashes() {
        let (_dir, file) = auth_with(&[("prometheus", "s3cret")]);
        let shown = format!("{:?}", file.current());
        assert!(shown.contains("prometheus"), "{shown}");
        assert!(!shown.contains("$2"), "{shown}");
    }
}
