//! The length of a token's `tokenWindow` (an ISO 8601 duration such as `P30D` or `PT5M`), as the
//! simulated org needs it to slide expiries.
//!
//! Deliberately lenient and separate from the exporter's strict parser: the simulator serves
//! whatever window a test gives it, and the exporter's parser is what the tests check.

/// Whole seconds of `PnYnMnWnDTnHnMnS` (years 365 days, months 30); `None` if it is not one.
pub fn seconds(window: &str) -> Option<u64> {
    const DAY: u64 = 86_400;
    let rest = window.strip_prefix('P')?;
    let (date, time) = rest.split_once('T').unwrap_or((rest, ""));
    let mut total: u64 = 0;
    for (part, units) in [
        (
            date,
            &[
                ('Y', 365 * DAY),
                ('M', 30 * DAY),
                ('W', 7 * DAY),
                ('D', DAY),
            ][..],
        ),
        (time, &[('H', 3600), ('M', 60), ('S', 1)][..]),
    ] {
        let mut number = String::new();
        for c in part.chars() {
            if c.is_ascii_digit() {
                number.push(c);
                continue;
            }
            let &(_, unit) = units.iter().find(|(designator, _)| *designator == c)?;
            total = total.checked_add(number.parse::<u64>().ok()?.checked_mul(unit)?)?;
            number.clear();
        }
        if !number.is_empty() {
            return None;
        }
    }
    Some(total)
}

#[cfg(test)]
mod tests {
    use super::seconds;

    #[test]
    fn reads_the_windows_okta_sends_and_refuses_the_rest() {
        for (window, want) in [
            ("P30D", Some(30 * 86_400)),
            ("PT5M", Some(300)),
            ("P1DT12H", Some(86_400 + 12 * 3600)),
            ("P2W", Some(14 * 86_400)),
            ("P1M", Some(30 * 86_400)),
            ("PT1H1M1S", Some(3661)),
            ("30D", None),
            ("P30", None),
            ("P30X", None),
            ("PT5D", None),
        ] {
            assert_eq!(seconds(window), want, "{window}");
        }
    }
}
