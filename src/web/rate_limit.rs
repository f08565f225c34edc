//! `rate_limit`: exporter-toolkit's request rate limiter. This server has none, so the section
//! is accepted only when it is off (`interval: 0`), and Go's durations are read just far enough
//! to tell.

use super::raw::{locate, RawRateLimit};
use crate::yaml::{ConfigError, Locator};

/// What is wrong with `rate_limit`; [`locate`] adds the file, line, column and key.
#[derive(Debug, thiserror::Error)]
enum Problem {
    #[error("not a Go duration such as 0, 1s or 500ms")]
    BadDuration,
    #[error(
        "this exporter has no rate limiter, so rate_limit is accepted only when off; remove \
         rate_limit or set interval: 0"
    )]
    RateLimitUnsupported,
}

/// Refuses a `rate_limit` that is on, or whose interval is not a Go duration.
pub(super) fn check(rate_limit: Option<&RawRateLimit>, at: &Locator) -> Result<(), ConfigError> {
    if let Some(interval) = rate_limit.and_then(|r| r.interval.as_ref()) {
        let key = "rate_limit.interval";
        match go_duration_is_zero(&interval.value.0) {
            Some(true) => {}
            Some(false) => return Err(locate(at, interval, key, Problem::RateLimitUnsupported)),
            None => return Err(locate(at, interval, key, Problem::BadDuration)),
        }
    }
    Ok(())
}

/// Whether a Go duration is zero; `None` when it is not one. Go's grammar: a whole number of
/// nanoseconds (as YAML reads an integer), `0`, or a signed sequence of decimal numbers with
/// units `ns`, `us`, `µs`, `μs`, `ms`, `s`, `m` or `h` (`1h30m`, `1.5s`).
fn go_duration_is_zero(text: &str) -> Option<bool> {
    if let Ok(nanoseconds) = text.parse::<i64>() {
        return Some(nanoseconds == 0);
    }
    let mut rest = text.strip_prefix(['-', '+']).unwrap_or(text);
    if rest.is_empty() {
        return None;
    }
    let mut zero = true;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (number, after) = rest.split_at(digits);
        if number.is_empty() || number == "." || number.matches('.').count() > 1 {
            return None;
        }
        let unit = after
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(after.len());
        let (unit, after) = after.split_at(unit);
        if !["ns", "us", "µs", "μs", "ms", "s", "m", "h"].contains(&unit) {
            return None;
        }
        zero &= number.chars().all(|c| c == '0' || c == '.');
        rest = after;
    }
    Some(zero)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations_are_read_for_whether_they_are_zero() {
        let cases: &[(&str, Option<bool>)] = &[
            ("0", Some(true)),
            ("0s", Some(true)),
            ("0ms", Some(true)),
            ("0h0m0.0s", Some(true)),
            ("-0s", Some(true)),
            ("1s", Some(false)),
            ("1000000000", Some(false)),
            ("1.5h", Some(false)),
            ("1m30s", Some(false)),
            ("500µs", Some(false)),
            ("3ns", Some(false)),
            ("", None),
            ("s", None),
            ("1", Some(false)),
            ("1 s", None),
            ("1d", None),
            ("1..5s", None),
            ("1second", None),
        ];
        for (text, expected) in cases {
            assert_eq!(go_duration_is_zero(text), *expected, "{text:?}");
        }
    }
}
