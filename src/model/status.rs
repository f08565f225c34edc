//! The Okta admin console's token colours, as pure functions of time.
//!
//! Okta shows each API token Green (used within 3 days), Gray (unused for 3 days, expiry at least 7
//! days away), Red (expires within 7 days) or Yellow (suspicious). We compute the same at scrape
//! time, from the token's expiry, its window and `now`, so the state is exact even between polls.

use chrono::{DateTime, TimeDelta, Utc};

/// A token's colour in the Okta admin console (in the state file as its label value).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum TokenStatus {
    Green,
    Gray,
    Red,
    Yellow,
}

impl TokenStatus {
    /// Every state, in the order the state set is exported.
    pub const ALL: [TokenStatus; 4] = [Self::Green, Self::Gray, Self::Red, Self::Yellow];

    /// The `status` label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Green => "green",
            Self::Gray => "gray",
            Self::Red => "red",
            Self::Yellow => "yellow",
        }
    }

    /// The word Okta's console shows: `Green`, `Gray`, `Red`, `Yellow`.
    pub fn word(self) -> &'static str {
        match self {
            Self::Green => "Green",
            Self::Gray => "Gray",
            Self::Red => "Red",
            Self::Yellow => "Yellow",
        }
    }
}

/// A token turns Red when its expiry is at most this far away (or past).
pub const RED_WITHIN: TimeDelta = TimeDelta::days(7);
/// A token is Green when its last use is at most this long ago.
pub const GREEN_WITHIN: TimeDelta = TimeDelta::days(3);

/// The last use Okta's sliding expiry implies: `expiresAt - tokenWindow`. For a token never used
/// this equals its creation time. Its precision is Okta's refresh granularity of `expiresAt`.
pub fn last_used(expires_at: DateTime<Utc>, window: TimeDelta) -> DateTime<Utc> {
    expires_at - window
}

/// The console colour at `now`. Expiry risk wins over recent use (they overlap only for windows
/// shorter than 10 days, like `PT5M`), and suspicion wins over everything.
pub fn status(
    now: DateTime<Utc>,
    expires_at: DateTime<Utc>,
    last_used: DateTime<Utc>,
    suspicious: bool,
) -> TokenStatus {
    if suspicious {
        TokenStatus::Yellow
    } else if expires_at - now <= RED_WITHIN {
        TokenStatus::Red
    } else if now - last_used <= GREEN_WITHIN {
        TokenStatus::Green
    } else {
        TokenStatus::Gray
    }
}

#[cfg(test)]
mod tests {
    use super::TokenStatus::*;
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().to_utc()
    }

    #[test]
    fn status_at_every_boundary() {
        let now = at("2026-11-22T12:00:00Z");
        let d = TimeDelta::days;
        let s = TimeDelta::seconds;
        let window = d(30);
        // (expires in, suspicious, expected) with last use = expiry - window.
        let cases: &[(&str, TimeDelta, bool, TokenStatus)] = &[
            ("used just now", d(30), false, Green),
            ("last use exactly 3 days ago", d(27), false, Green),
            ("last use 3 days and 1 s ago", d(27) - s(1), false, Gray),
            ("mid-window", d(15), false, Gray),
            ("expiry 7 days and 1 s away", d(7) + s(1), false, Gray),
            ("expiry exactly 7 days away", d(7), false, Red),
            ("expiry in 1 s", s(1), false, Red),
            ("expiry exactly now", d(0), false, Red),
            ("expiry past", -d(1), false, Red),
            ("suspicious and fresh", d(30), true, Yellow),
            ("suspicious and about to expire", s(1), true, Yellow),
        ];
        for (name, expires_in, suspicious, want) in cases {
            let expires_at = now + *expires_in;
            let got = status(now, expires_at, last_used(expires_at, window), *suspicious);
            assert_eq!(got, *want, "{name}");
        }
    }

    #[test]
    fn short_windows_are_red_even_when_just_used() {
        let now = at("2026-11-22T12:00:00Z");
        let window = TimeDelta::minutes(5);
        let expires_at = now + window;
        assert_eq!(last_used(expires_at, window), now);
        assert_eq!(status(now, expires_at, now, false), Red);
    }

    #[test]
    fn last_use_of_a_never_used_token_is_its_creation() {
        let created = at("2026-11-01T00:00:00Z");
        let expires_at = created + TimeDelta::days(30);
        assert_eq!(last_used(expires_at, TimeDelta::days(30)), created);
    }
}
