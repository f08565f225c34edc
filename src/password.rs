//! `hash-password`: a bcrypt hash for `basic_auth_users` in the web config file, without a
//! second tool. The password is read from the terminal without echo, or from standard input
//! when it is piped, and is never printed.

use std::io::{IsTerminal, Read};

use crate::secret::Secret;

/// Why no hash was made.
#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("cannot read the password: {0}")]
    Read(#[from] std::io::Error),
    #[error("the password is empty; type one, or pipe it in: printf '%s' \"$PASSWORD\" | okta-token-exporter hash-password")]
    Empty,
    #[error("the passwords do not match; nothing was hashed")]
    Mismatch,
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
}
