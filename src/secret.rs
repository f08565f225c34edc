//! A wrapper for credentials (API tokens, keys, passwords) that cannot leak by accident.
//!
//! `Secret` has no `Deref` and no `Serialize`; its `Debug` and `Display` print a fixed marker, so a
//! secret that ends up in a log line, an error or a panic message shows as `[REDACTED]`. The value is
//! reachable only through [`Secret::expose`], which makes every use easy to find in review.

use std::fmt;

/// A secret string. Formatting it never shows the value.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// The marker printed in place of every secret.
    pub const REDACTED: &'static str = "[REDACTED]";

    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The secret value. Call this only where the value is sent to its one legitimate receiver.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(Self::REDACTED)
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(Self::REDACTED)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formatting_never_shows_the_value() {
        let canary = Secret::new("00canary-secret-7f3a");
        for shown in [
            format!("{canary}"),
            format!("{canary:?}"),
            format!("{canary:#?}"),
            format!("{:?}", Some(&canary)),
            format!("{:?}", vec![canary.clone()]),
        ] {
            assert!(!shown.contains("canary-secret"), "leaked in {shown:?}");
            assert!(shown.contains(Secret::REDACTED));
        }
        assert_eq!(canary.expose(), "00canary-secret-7f3a");
    }
}
