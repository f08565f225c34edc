//! `hash-password`: a bcrypt hash for `basic_auth_users` in the web config file, without a
//! second tool. The password is read from the terminal without echo, or from standard input
//! when it is piped, and is never printed.

use std::io::{IsTerminal, Read};

use crate::secret::Secret;
use crate::web::MAX_PASSWORD_BYTES;

/// Why no hash was made.
#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("cannot read the password: {0}")]
    Read(#[from] std::io::Error),
    #[error("the password is empty; type one, or pipe it in: printf '%s' \"$PASSWORD\" | okta-token-exporter hash-password")]
    Empty,
    #[error("the passwords do not match; nothing was hashed")]
    Mismatch,
    #[error(
        "the password is {0} bytes long, but bcrypt reads only the first {max}: the rest would \
         never be checked, so the exporter refuses it at login; use at most {max} bytes",
        max = MAX_PASSWORD_BYTES
    )]
    TooLong(usize),
    #[error("cannot hash the password: {0}")]
    Hash(#[from] bcrypt::BcryptError),
}

/// Reads the password (asking twice at a terminal) and returns its bcrypt hash at `cost`.
pub fn hash_from_terminal_or_stdin(cost: u32) -> Result<String, PasswordError> {
    let password = if std::io::stdin().is_terminal() {
        let first = Secret::new(rpassword::prompt_password("Password: ")?);
        let again = Secret::new(rpassword::prompt_password("Again: ")?);
        if first != again {
            return Err(PasswordError::Mismatch);
        }
        first
    } else {
        let mut text = String::new();
        std::io::stdin().read_to_string(&mut text)?;
        Secret::new(strip_one_line_end(&text))
    };
    hash(&password, cost)
}

/// A piped password ends where its line does: `echo secret |` and `printf secret |` agree.
fn strip_one_line_end(text: &str) -> &str {
    text.strip_suffix("\r\n")
        .or_else(|| text.strip_suffix('\n'))
        .unwrap_or(text)
}

/// The bcrypt hash of `password`.
pub fn hash(password: &Secret, cost: u32) -> Result<String, PasswordError> {
    if password.is_empty() {
        return Err(PasswordError::Empty);
    }
    let length = password.expose().len();
    if length > MAX_PASSWORD_BYTES {
        return Err(PasswordError::TooLong(length));
    }
    Ok(bcrypt::hash(password.expose(), cost)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_piped_password_loses_one_line_end_only() {
        let cases = [
            ("secret\n", "secret"),
            ("secret\r\n", "secret"),
            ("secret", "secret"),
            ("secret\n\n", "secret\n"),
            (" spaced \n", " spaced "),
            ("\n", ""),
        ];
        for (input, expected) in cases {
            assert_eq!(strip_one_line_end(input), expected, "{input:?}");
        }
    }

    #[test]
    fn the_hash_verifies_and_an_empty_password_is_refused() {
        let hash = hash(&Secret::new("correct horse"), 4).unwrap();
        assert!(hash.starts_with("$2b$04$"), "{hash}");
        assert!(bcrypt::verify("correct horse", &hash).unwrap());
        assert!(!bcrypt::verify("wrong horse", &hash).unwrap());
        assert!(matches!(
            super::hash(&Secret::new(""), 4),
            Err(PasswordError::Empty)
        ));
    }

    #[test]
    fn a_password_bcrypt_would_truncate_is_refused_with_its_length() {
        let longest = "x".repeat(MAX_PASSWORD_BYTES);
        assert!(bcrypt::verify(&longest, &hash(&Secret::new(&longest), 4).unwrap()).unwrap());
        // 37 two-byte characters: 74 bytes, though 37 characters.
        let long = "é".repeat(37);
        let error = hash(&Secret::new(&long), 4).unwrap_err();
        assert!(matches!(error, PasswordError::TooLong(74)), "{error}");
        let message = error.to_string();
        assert!(
            message.contains("74 bytes") && message.contains("72"),
            "{message}"
        );
        assert!(!message.contains(&long), "the password is never shown");
    }
}
