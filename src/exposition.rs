//! The Prometheus text exposition format at the byte level: escaping, a token's label set, and
//! numbers written as Go's and Rust's shortest float form.
//!
//! `metrics` escapes each token's labels once per snapshot with [`token_labels`] and
//! [`info_labels`] and copies them into every series. Pure functions, no state.

use crate::model::ApiToken;

/// A token's labels as the text format writes them, escaped: `metrics` escapes them once per
/// snapshot so that scrapes only copy bytes.
pub fn token_labels(org: &str, token: &ApiToken) -> Box<[u8]> {
    let mut out = Vec::with_capacity(64 + token.name.len());
    write_token_labels(&mut out, org, token);
    out.into_boxed_slice()
}

/// `org="…",token_id="…",token_name="…",user_id="…"`, escaped.
pub fn write_token_labels(out: &mut Vec<u8>, org: &str, token: &ApiToken) {
    write_token_labels_of(out, [org, &token.id, &token.name, &token.user_id]);
}

/// The token labels from their values: org, token id, token name, owner's user id.
pub fn write_token_labels_of(out: &mut Vec<u8>, [org, id, name, user_id]: [&str; 4]) {
    for (i, (name, value)) in [
        ("org", org),
        ("token_id", id),
        ("token_name", name),
        ("user_id", user_id),
    ]
    .into_iter()
    .enumerate()
    {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b"=\"");
        escape_into(out, value, true);
        out.push(b'"');
    }
}

/// The labels only `okta_api_token_info` has, after the token's own:
/// `,client_name="…",network_connection="…",owner_login="…",owner_status="…"`, escaped; the
/// owner's are empty while unknown. Prepared once per poll, like [`token_labels`].
pub fn info_labels(token: &ApiToken, owner_login: &str, owner_status: &str) -> Box<[u8]> {
    let mut out = Vec::with_capacity(96);
    write_info_labels(&mut out, token, owner_login, owner_status);
    out.into_boxed_slice()
}

/// Writes what [`info_labels`] returns.
pub fn write_info_labels(
    out: &mut Vec<u8>,
    token: &ApiToken,
    owner_login: &str,
    owner_status: &str,
) {
    write_info_labels_of(
        out,
        [
            &token.client_name,
            &token.network_connection,
            owner_login,
            owner_status,
        ],
    );
}

/// The labels only `okta_api_token_info` has, from their values: client, network, owner's
/// login and status.
pub fn write_info_labels_of(
    out: &mut Vec<u8>,
    [client_name, network_connection, owner_login, owner_status]: [&str; 4],
) {
    write_label(out, "client_name", client_name);
    write_label(out, "network_connection", network_connection);
    write_label(out, "owner_login", owner_login);
    write_label(out, "owner_status", owner_status);
}

/// `name{` and the token's labels; the caller adds more labels and the closing `} value`.
pub fn write_series_start(out: &mut Vec<u8>, name: &str, labels: &[u8]) {
    out.extend_from_slice(name.as_bytes());
    out.push(b'{');
    out.extend_from_slice(labels);
}

pub fn write_label(out: &mut Vec<u8>, name: &str, value: &str) {
    out.push(b',');
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b"=\"");
    escape_into(out, value, true);
    out.push(b'"');
}

/// Escapes as the text format wants: `\` and newline always, `"` in label values.
pub fn escape_into(out: &mut Vec<u8>, text: &str, quotes: bool) {
    let needs = |b: u8| b == b'\\' || b == b'\n' || (quotes && b == b'"');
    if !text.bytes().any(needs) {
        out.extend_from_slice(text.as_bytes());
        return;
    }
    for b in text.bytes() {
        match b {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'"' if quotes => out.extend_from_slice(b"\\\""),
            b => out.push(b),
        }
    }
}

/// Below this many milliseconds (about 35,000 years), `ms / 1000` as an `f64` is exact to the
/// millisecond, so its shortest decimal is the integer part and the millisecond digits without
/// trailing zeros.
const EXACT_MILLIS: u64 = 1 << 50;

/// Writes `ms / 1000` as the shortest decimal, as `f64`'s `Display` does, with integer digits
/// only: this runs for every series of a scrape, and `fmt` is the slow part of it.
pub fn write_millis_as_seconds(out: &mut Vec<u8>, ms: i64) {
    let magnitude = ms.unsigned_abs();
    if magnitude >= EXACT_MILLIS {
        use std::io::Write as _;
        let _ = write!(out, "{}", ms as f64 / 1000.0);
        return;
    }
    if ms < 0 {
        out.push(b'-');
    }
    write_decimal(out, magnitude / 1000);
    let millis = magnitude % 1000;
    if millis != 0 {
        let digits = [
            b'.',
            b'0' + (millis / 100) as u8,
            b'0' + (millis / 10 % 10) as u8,
            b'0' + (millis % 10) as u8,
        ];
        let significant = match (millis % 100, millis % 10) {
            (0, _) => 2,
            (_, 0) => 3,
            _ => 4,
        };
        out.extend_from_slice(&digits[..significant]);
    }
}

/// Writes `n` in decimal.
fn write_decimal(out: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut start = digits.len();
    loop {
        start -= 1;
        digits[start] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[start..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_are_written_like_f64_display() {
        for ms in [
            0,
            1,
            999,
            1000,
            1500,
            -1500,
            -1000,
            1_764_547_200_000,
            1_764_547_200_123,
            -86_400_001,
            -500,
            10,
            -20,
            100,
            1_764_547_200_010,
            1_764_547_200_100,
            (1 << 50) - 1,
            1 << 50,
            -(1 << 50),
            i64::MAX,
            i64::MIN,
        ]
        .into_iter()
        // And a spread of values across every magnitude, fractions included.
        .chain((0..4000).map(|i: i64| {
            let magnitude = 10_i64.pow((i % 16) as u32);
            (magnitude + i * 7919) * if i % 3 == 0 { -1 } else { 1 }
        })) {
            let mut out = Vec::new();
            write_millis_as_seconds(&mut out, ms);
            assert_eq!(
                String::from_utf8(out).unwrap(),
                (ms as f64 / 1000.0).to_string(),
                "{ms}"
            );
        }
    }

    #[test]
    fn escaping_follows_the_text_format() {
        let cases = [
            ("plain", true, "plain"),
            ("\\", true, "\\\\"),
            ("\n", true, "\\n"),
            ("\"", true, "\\\""),
            ("a\\b", true, "a\\\\b"),
            ("line\nbreak", true, "line\\nbreak"),
            ("say \"hi\"", true, "say \\\"hi\\\""),
            ("say \"hi\"", false, "say \"hi\""),
            ("\"hi\" \\ there", false, "\"hi\" \\\\ there"),
            ("tab\tstays", true, "tab\tstays"),
            ("🚀", true, "🚀"),
            ("", true, ""),
        ];
        for (text, quotes, expected) in cases {
            let mut out = Vec::new();
            escape_into(&mut out, text, quotes);
            assert_eq!(String::from_utf8(out).unwrap(), expected, "{text:?}");
        }
    }

    #[test]
    fn a_token_label_set_is_escaped_and_in_order() {
        let token = ApiToken {
            id: "00T1".into(),
            name: "C:\\ci \"nightly\"\n".into(),
            user_id: "00u1".into(),
            client_name: String::new(),
            network_connection: String::new(),
            window: chrono::TimeDelta::days(30),
            created: None,
            expires_at: chrono::DateTime::UNIX_EPOCH,
        };
        assert_eq!(
            &*token_labels("acme", &token),
            br#"org="acme",token_id="00T1",token_name="C:\\ci \"nightly\"\n",user_id="00u1""#
        );
        let mut out = Vec::new();
        write_series_start(&mut out, "m", b"a=\"1\"");
        write_label(&mut out, "b", "x\"y");
        assert_eq!(out, br#"m{a="1",b="x\"y""#);
    }
}
