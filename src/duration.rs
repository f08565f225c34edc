//! ISO 8601 durations as Okta writes them in `tokenWindow` (`P30D`, `PT5M`, `P1DT12H`, `P2W`).
//!
//! Okta's schema allows the whole `PnYnMnWnDTnHnMnS` grammar, but its published regex for it is
//! broken, so we parse it ourselves, strictly: components in that order, each at most once, whole
//! non-negative numbers only, at least one component, and a `T` only when a time component follows.
//! Years and months have no fixed length; we count them as 365 and 30 days, the lengths Okta's own
//! 30-day window implies. The result is whole seconds.

/// Why a duration string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid ISO 8601 duration {input:?}: {reason}")]
pub struct DurationError {
    input: String,
    reason: &'static str,
}

const MINUTE: u64 = 60;
const HOUR: u64 = 60 * MINUTE;
const DAY: u64 = 24 * HOUR;

/// Designators in the order the grammar requires, with their length in seconds.
const DATE_UNITS: [(u8, u64); 4] = [
    (b'Y', 365 * DAY),
    (b'M', 30 * DAY),
    (b'W', 7 * DAY),
    (b'D', DAY),
];
const TIME_UNITS: [(u8, u64); 3] = [(b'H', HOUR), (b'M', MINUTE), (b'S', 1)];

/// Parses an ISO 8601 duration into whole seconds.
pub fn parse_iso8601_seconds(input: &str) -> Result<u64, DurationError> {
    let fail = |reason| DurationError {
        input: input.to_owned(),
        reason,
    };
    let rest = input
        .strip_prefix('P')
        .ok_or_else(|| fail("it must start with 'P'"))?;
    let (date, time) = match rest.split_once('T') {
        Some((date, time)) => {
            if time.is_empty() {
                return Err(fail("'T' must be followed by hours, minutes or seconds"));
            }
            (date, Some(time))
        }
        None => (rest, None),
    };
    let mut total = sum_components(date, &DATE_UNITS).map_err(fail)?;
    if let Some(time) = time {
        total = total
            .checked_add(sum_components(time, &TIME_UNITS).map_err(fail)?)
            .ok_or_else(|| fail("it is too large"))?;
    }
    if date.is_empty() && time.is_none() {
        return Err(fail("it has no components"));
    }
    Ok(total)
}

/// Sums `<digits><designator>` pairs whose designators appear in `units` order, each at most once.
fn sum_components(mut text: &str, units: &[(u8, u64)]) -> Result<u64, &'static str> {
    let mut total: u64 = 0;
    let mut next_unit = 0;
    while !text.is_empty() {
        let digits = text.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err("each component must be a whole number followed by a designator");
        }
        let designator = *text
            .as_bytes()
            .get(digits)
            .ok_or("a number is missing its designator")?;
        let offset = units[next_unit..]
            .iter()
            .position(|(d, _)| *d == designator)
            .ok_or("designators must be known, in PnYnMnWnDTnHnMnS order, each at most once")?;
        let (_, seconds) = units[next_unit + offset];
        next_unit += offset + 1;
        let value: u64 = text[..digits].parse().map_err(|_| "it is too large")?;
        total = value
            .checked_mul(seconds)
            .and_then(|s| total.checked_add(s))
            .ok_or("it is too large")?;
        text = &text[digits + 1..];
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_what_okta_sends_and_the_whole_grammar() {
        let cases: &[(&str, u64)] = &[
            ("P30D", 30 * DAY),
            ("PT5M", 5 * MINUTE),
            ("P1DT12H", DAY + 12 * HOUR),
            ("P2W", 14 * DAY),
            ("PT0S", 0),
            ("P0D", 0),
            ("PT1H30M15S", HOUR + 30 * MINUTE + 15),
            ("P1Y", 365 * DAY),
            ("P1M", 30 * DAY),
            ("P1MT1M", 30 * DAY + MINUTE),
            (
                "P1Y2M3W4DT5H6M7S",
                365 * DAY + 60 * DAY + 21 * DAY + 4 * DAY + 5 * HOUR + 6 * MINUTE + 7,
            ),
            ("P007D", 7 * DAY),
        ];
        for (input, want) in cases {
            assert_eq!(parse_iso8601_seconds(input), Ok(*want), "{input}");
        }
    }

    #[test]
    fn refuses_everything_else_with_the_reason() {
        let cases: &[(&str, &str)] = &[
            ("", "start with 'P'"),
            ("30D", "start with 'P'"),
            ("p30d", "start with 'P'"),
            ("P", "no components"),
            ("PT", "'T' must be followed"),
            ("P1DT", "'T' must be followed"),
            ("P30", "missing its designator"),
            ("P1.5D", "designator"),
            ("P1,5D", "designator"),
            ("P-1D", "whole number"),
            ("P+1D", "whole number"),
            ("PD", "whole number"),
            ("P1D1Y", "order"),
            ("P1D2D", "order"),
            ("P5H", "order"),
            ("PT5D", "order"),
            ("PT1S2M", "order"),
            (" P30D", "start with 'P'"),
            ("P30D ", "whole number"),
            ("P1DT1H1", "missing its designator"),
            ("P99999999999999999999D", "too large"),
            ("P999999999999999Y", "too large"),
        ];
        for (input, reason) in cases {
            let err = parse_iso8601_seconds(input).expect_err(input).to_string();
            assert!(err.contains(reason), "{input:?}: {err}");
            assert!(
                err.contains(&format!("{input:?}")),
                "{err} should quote the input"
            );
        }
    }
}
