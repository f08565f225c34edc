//! The `tokenWindow` parser against an independent implementation of the same grammar.
//!
//! Asserts, for any UTF-8 input: the parser never panics; it accepts exactly what the oracle below
//! accepts, with the same number of seconds; every accepted value re-formatted canonically
//! (`PnDTnHnMnS`, and with weeks) parses back to itself; every error quotes the input.
//!
//! Shared by the fuzz target `fuzz_targets/iso8601_duration.rs` and `tests/it/properties.rs`, which replays
//! `corpus/iso8601_duration/` with it in the ordinary test suite.
use okta_token_exporter::duration::parse_iso8601_seconds;

const MINUTE: u128 = 60;
const HOUR: u128 = 60 * MINUTE;
const DAY: u128 = 24 * HOUR;

/// `PnYnMnWnDTnHnMnS`, written as a single left-to-right scan with a rank per designator, in
/// 128-bit arithmetic (so that overflow is judged once, at the end).
fn oracle(input: &str) -> Option<u64> {
    let bytes = input.as_bytes();
    if bytes.first() != Some(&b'P') {
        return None;
    }
    let (mut i, mut rank, mut total) = (1, 0, 0u128);
    let (mut saw_t, mut date_parts, mut time_parts) = (false, 0, 0);
    while i < bytes.len() {
        if bytes[i] == b'T' && !saw_t {
            saw_t = true;
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            i += 1;
        }
        if i == start || i == bytes.len() {
            return None;
        }
        let value: u128 = input[start..i].parse().ok()?;
        let (unit_rank, seconds) = match (saw_t, bytes[i]) {
            (false, b'Y') => (0, 365 * DAY),
            (false, b'M') => (1, 30 * DAY),
            (false, b'W') => (2, 7 * DAY),
            (false, b'D') => (3, DAY),
            (true, b'H') => (4, HOUR),
            (true, b'M') => (5, MINUTE),
            (true, b'S') => (6, 1),
            _ => return None,
        };
        if unit_rank < rank {
            return None;
        }
        rank = unit_rank + 1;
        total = total.checked_add(value.checked_mul(seconds)?)?;
        if saw_t {
            time_parts += 1;
        } else {
            date_parts += 1;
        }
        i += 1;
    }
    if (saw_t && time_parts == 0) || date_parts + time_parts == 0 {
        return None;
    }
    u64::try_from(total).ok()
}

/// `n` seconds as `PnDTnHnMnS` (zero parts left out), or with weeks when `weeks` is set.
fn canonical(n: u64, weeks: bool) -> String {
    let day = DAY as u64;
    let (mut date, mut days) = (String::from("P"), n / day);
    if weeks && days >= 7 {
        date += &format!("{}W", days / 7);
        days %= 7;
    }
    if days > 0 {
        date += &format!("{days}D");
    }
    let rest = n % day;
    let (h, m, s) = (rest / 3600, rest / 60 % 60, rest % 60);
    let mut time = String::new();
    for (value, designator) in [(h, 'H'), (m, 'M'), (s, 'S')] {
        if value > 0 {
            time += &format!("{value}{designator}");
        }
    }
    if time.is_empty() && date == "P" {
        time = "0S".into();
    }
    if time.is_empty() {
        date
    } else {
        format!("{date}T{time}")
    }
}

/// Checks one input; panics when a property fails.
pub fn check(data: &[u8]) {
    let Ok(input) = std::str::from_utf8(data) else {
        return;
    };
    let parsed = parse_iso8601_seconds(input);
    assert_eq!(parsed.as_ref().ok().copied(), oracle(input), "{input:?}");
    match parsed {
        Ok(seconds) => {
            for weeks in [false, true] {
                let again = canonical(seconds, weeks);
                assert_eq!(
                    parse_iso8601_seconds(&again),
                    Ok(seconds),
                    "{input:?} -> {again:?}"
                );
            }
        }
        Err(e) => {
            let message = e.to_string();
            assert!(message.contains(&format!("{input:?}")), "{message}");
        }
    }
}
