//! Property tests of the pure rules, on generated inputs rather than hand-picked cases.
//!
//! They prove that: the `tokenWindow` parser accepts every well-formed ISO 8601 duration
//! (`PnYnMnWnDTnHnMnS`, any subset of components in order) with the exact number of seconds, and
//! refuses out-of-order or repeated components and arbitrary text without panicking; the `Link`
//! parser finds exactly the `next` target among any number of relations, in any order, one header
//! per relation or folded, and finds none when there is none; a page of token objects, some of them
//! corrupted, decodes to exactly the good tokens, in order, with every bad one counted as skipped,
//! both decoded alone and through the real client against the simulated org; and the console
//! colour is Red exactly when expiry is at most 7 days away, Green exactly when otherwise used
//! within 3 days, Yellow whenever suspicious, and never moves back as time passes. And every
//! input of the fuzz corpora passes its fuzz target's checks (`fuzz/checks/`).

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use okta_simulator::{SimToken, Simulator};
use okta_token_exporter::config::HttpSettings;
use okta_token_exporter::duration::parse_iso8601_seconds;
use okta_token_exporter::model::status::{
    last_used, status, TokenStatus, GREEN_WITHIN, RED_WITHIN,
};
use okta_token_exporter::okta::link::next_link;
use okta_token_exporter::okta::model::ApiToken;
use okta_token_exporter::okta::{OktaClient, PollStats};
use okta_token_exporter::secret::Secret;
use proptest::prelude::*;
use proptest::sample::select;
use serde_json::{json, Value};

const MINUTE: u64 = 60;
const HOUR: u64 = 60 * MINUTE;
const DAY: u64 = 24 * HOUR;

/// The designators in grammar order: date part, then time part, with their length in seconds.
const UNITS: [(char, bool, u64); 7] = [
    ('Y', false, 365 * DAY),
    ('M', false, 30 * DAY),
    ('W', false, 7 * DAY),
    ('D', false, DAY),
    ('H', true, HOUR),
    ('M', true, MINUTE),
    ('S', true, 1),
];

/// A duration as components (value per unit of `UNITS`, `None` when absent), at least one set.
fn components() -> impl Strategy<Value = [Option<u32>; 7]> {
    proptest::array::uniform7(proptest::option::of(0u32..100_000))
        .prop_filter("at least one component", |c| c.iter().any(Option::is_some))
}

/// The ISO 8601 text of `components`, each number padded with `zeros` leading zeros.
fn render_duration(components: &[Option<u32>; 7], zeros: usize) -> String {
    let mut text = String::from("P");
    let mut in_time = false;
    for (value, (designator, time, _)) in components.iter().zip(UNITS) {
        let Some(value) = value else { continue };
        if time && !in_time {
            text.push('T');
            in_time = true;
        }
        text += &format!("{}{value}{designator}", "0".repeat(zeros));
    }
    text
}

fn seconds_of(components: &[Option<u32>; 7]) -> u64 {
    components
        .iter()
        .zip(UNITS)
        .map(|(value, (_, _, seconds))| u64::from(value.unwrap_or(0)) * seconds)
        .sum()
}

proptest! {
    #[test]
    fn every_valid_duration_parses_to_its_seconds(c in components(), zeros in 0usize..3) {
        let text = render_duration(&c, zeros);
        prop_assert_eq!(parse_iso8601_seconds(&text), Ok(seconds_of(&c)), "{}", text);
    }

    #[test]
    fn the_forms_okta_sends_parse_to_their_seconds(
        d in 0u64..100_000, w in 0u64..10_000, h in 0u64..1_000, m in 0u64..1_000, s in 0u64..1_000,
    ) {
        prop_assert_eq!(parse_iso8601_seconds(&format!("P{d}D")), Ok(d * DAY));
        prop_assert_eq!(parse_iso8601_seconds(&format!("P{w}W")), Ok(w * 7 * DAY));
        prop_assert_eq!(
            parse_iso8601_seconds(&format!("PT{h}H{m}M{s}S")),
            Ok(h * HOUR + m * MINUTE + s)
        );
        prop_assert_eq!(
            parse_iso8601_seconds(&format!("P{w}W{d}DT{h}H{m}M{s}S")),
            Ok(w * 7 * DAY + d * DAY + h * HOUR + m * MINUTE + s)
        );
    }

    #[test]
    fn a_repeated_or_out_of_order_component_is_refused(c in components(), extra in 1u32..100) {
        // Repeating the last component present breaks "each at most once, in order".
        let last = c.iter().rposition(Option::is_some).expect("one component");
        let text = format!("{}{extra}{}", render_duration(&c, 0), UNITS[last].0);
        prop_assert!(parse_iso8601_seconds(&text).is_err(), "{}", text);
    }

    #[test]
    fn a_foreign_character_anywhere_or_a_missing_last_designator_is_refused(
        c in components(),
        at in any::<prop::sample::Index>(),
        foreign in any::<char>().prop_filter("not of the grammar", |c| !"0123456789PYMWDTHS".contains(*c)),
    ) {
        let text = render_duration(&c, 0);
        let mut spoiled = text.clone();
        spoiled.insert(at.index(text.len() + 1), foreign);
        prop_assert!(parse_iso8601_seconds(&spoiled).is_err(), "{:?}", spoiled);
        let cut = &text[..text.len() - 1];
        prop_assert!(parse_iso8601_seconds(cut).is_err(), "{:?}", cut);
    }

    #[test]
    fn arbitrary_text_is_refused_with_the_input_quoted_or_parsed_consistently(
        text in prop_oneof![any::<String>(), "P?T?[0-9YMWDTHS]{0,16}", "[ -~]{0,24}"],
    ) {
        match parse_iso8601_seconds(&text) {
            Ok(seconds) => {
                // Accepted text is grammar text only, and says the same as its parts summed.
                prop_assert!(text.starts_with('P'), "{}", text);
                prop_assert!(
                    text[1..].chars().all(|c| c.is_ascii_digit() || "YMWDTHS".contains(c)),
                    "{}", text
                );
                let (date, time) = text[1..].split_once('T').unwrap_or((&text[1..], ""));
                let part = |p: &str, prefix: &str| {
                    if p.is_empty() { Ok(0) } else { parse_iso8601_seconds(&format!("{prefix}{p}")) }
                };
                prop_assert_eq!(Ok(seconds), part(date, "P").and_then(|d| Ok(d + part(time, "PT")?)));
            }
            Err(e) => prop_assert!(e.to_string().contains(&format!("{text:?}")), "{}", e),
        }
    }
}

/// A URL that may hold `,`, `;` and `=`: inside `<…>` they must not split anything.
fn link_target() -> impl Strategy<Value = String> {
    "https://[a-z]{1,8}\\.okta\\.com/api/v1/api-tokens\\?after=[A-Za-z0-9,;=&]{0,12}&limit=[0-9]{1,3}"
}

/// One relation rendered as a link-value, in one of the spellings Okta or a proxy may use.
fn render_link(target: &str, rel: &str, style: u8) -> String {
    match style % 5 {
        0 => format!("<{target}>; rel=\"{rel}\""),
        1 => format!("<{target}>;rel={rel}"),
        2 => format!("  <{target}> ; REL = \"{}\" ", rel.to_ascii_uppercase()),
        3 => format!("<{target}>; title=\"a, b; rel=next\"; rel=\"{rel}\""),
        _ => format!("<{target}>; rel=\"alternate {rel}\""),
    }
}

/// A piece of a `Link` header as found in the wild: junk of the characters that matter to the
/// grammar, or a well-formed `next` link-value (so that a random header holds one often).
fn link_fragment() -> impl Strategy<Value = String> {
    prop_oneof![
        "[<>;,=\" a-z0-9]{0,30}",
        link_target().prop_map(|t| format!("<{t}>; rel=\"next\"")),
    ]
}

/// Relations other than `next`, including ones that merely contain the word.
const OTHER_RELATIONS: [&str; 6] = ["self", "prev", "first", "last", "nextpage", "next-archive"];

/// `(target, relation, style)` for up to 6 relations other than `next`.
fn other_links() -> impl Strategy<Value = Vec<(String, &'static str, u8)>> {
    prop::collection::vec((link_target(), select(&OTHER_RELATIONS[..]), 0u8..5), 0..6)
}

/// Renders links as `headers` headers (1 = all folded into one; more = spread, in order).
fn render_headers(links: &[String], headers: usize) -> Vec<String> {
    let per_header = links.len().div_ceil(headers.max(1)).max(1);
    links
        .chunks(per_header)
        .map(|chunk| chunk.join(", "))
        .collect()
}

proptest! {
    #[test]
    fn the_next_link_is_found_among_any_relations_in_any_order(
        next in link_target(),
        next_style in 0u8..5,
        others in other_links(),
        position in any::<prop::sample::Index>(),
        headers in 1usize..8,
    ) {
        let mut links: Vec<String> =
            others.iter().map(|(t, rel, style)| render_link(t, rel, *style)).collect();
        links.insert(position.index(links.len() + 1), render_link(&next, "next", next_style));
        let rendered = render_headers(&links, headers);
        let found = next_link(rendered.iter().map(String::as_str));
        prop_assert_eq!(found, Some(next), "{:?}", rendered);
    }

    #[test]
    fn no_next_link_is_found_when_none_is_given(others in other_links(), headers in 1usize..8) {
        let links: Vec<String> =
            others.iter().map(|(t, rel, style)| render_link(t, rel, *style)).collect();
        let rendered = render_headers(&links, headers);
        prop_assert_eq!(next_link(rendered.iter().map(String::as_str)), None, "{:?}", rendered);
    }

    #[test]
    fn arbitrary_link_headers_never_panic_and_the_target_comes_from_them(
        headers in prop::collection::vec(
            prop::collection::vec(link_fragment(), 0..4).prop_map(|f| f.join(", ")),
            0..4,
        ),
    ) {
        let found = next_link(headers.iter().map(String::as_str));
        if let Some(target) = &found {
            prop_assert!(headers.iter().any(|h| h.contains(target.as_str())), "{:?}", headers);
            prop_assert_eq!(target, target.trim());
        }
        // A first header that is one well-formed `next` link-value and nothing else decides.
        if let Some(first) = headers.first() {
            if let Some(target) = first
                .strip_prefix('<')
                .and_then(|rest| rest.strip_suffix(">; rel=\"next\""))
                .filter(|t| !t.contains(['<', '>', '"']))
            {
                prop_assert_eq!(found.as_deref(), Some(target), "{:?}", headers);
            }
        }
    }
}

/// What can be wrong with a token object; `None` is a good one.
#[derive(Debug, Clone, Copy)]
enum Corruption {
    NoId,
    EmptyId,
    NoExpiry,
    BadExpiry,
    NoWindow,
    BadWindow,
    WrongType,
    NotAnObject,
}

const CORRUPTIONS: [Corruption; 8] = [
    Corruption::NoId,
    Corruption::EmptyId,
    Corruption::NoExpiry,
    Corruption::BadExpiry,
    Corruption::NoWindow,
    Corruption::BadWindow,
    Corruption::WrongType,
    Corruption::NotAnObject,
];

/// Valid windows and their length.
const WINDOWS: [(&str, i64); 5] = [
    ("P30D", 30 * 86_400),
    ("PT5M", 300),
    ("P1DT12H", 129_600),
    ("P2W", 14 * 86_400),
    ("P1Y", 365 * 86_400),
];

/// One generated token object: (window index, expiry in epoch seconds, corruption).
type TokenSpec = (usize, i64, Option<Corruption>);

fn token_specs() -> impl Strategy<Value = Vec<TokenSpec>> {
    prop::collection::vec(
        (
            0..WINDOWS.len(),
            0i64..4_000_000_000,
            proptest::option::weighted(0.3, select(&CORRUPTIONS[..])),
        ),
        0..40,
    )
}

fn token_object(i: usize, (window, expiry, corruption): TokenSpec) -> Value {
    let expires_at = DateTime::from_timestamp(expiry, 0).expect("in range");
    let mut object = json!({
        "id": format!("00T{i:017}"), "name": format!("token {i}"), "userId": "00u1",
        "clientName": "Okta API", "tokenWindow": WINDOWS[window].0,
        "network": {"connection": "ANYWHERE"}, "created": "2021-11-09T20:38:10.000Z",
        "expiresAt": expires_at.to_rfc3339(), "futureField": [1, 2, 3],
    });
    let fields = object.as_object_mut().expect("an object");
    match corruption {
        None => {}
        Some(Corruption::NoId) => {
            fields.remove("id");
        }
        Some(Corruption::EmptyId) => {
            fields.insert("id".into(), json!(""));
        }
        Some(Corruption::NoExpiry) => {
            fields.remove("expiresAt");
        }
        Some(Corruption::BadExpiry) => {
            fields.insert("expiresAt".into(), json!("soon"));
        }
        Some(Corruption::NoWindow) => {
            fields.remove("tokenWindow");
        }
        Some(Corruption::BadWindow) => {
            fields.insert("tokenWindow".into(), json!("30 days"));
        }
        Some(Corruption::WrongType) => {
            fields.insert("name".into(), json!(42));
        }
        Some(Corruption::NotAnObject) => return json!(format!("00T{i:017}")),
    }
    object
}

proptest! {
    #[test]
    fn a_page_decodes_to_exactly_its_good_tokens_and_counts_the_bad(specs in token_specs()) {
        let page: Vec<Value> =
            specs.iter().enumerate().map(|(i, spec)| token_object(i, *spec)).collect();
        let body = serde_json::to_vec(&page).expect("serialisable");
        // The client's own steps: the page as a JSON list, then each element on its own.
        let values: Vec<Value> = serde_json::from_slice(&body).expect("a JSON list");
        let (mut tokens, mut skipped) = (Vec::new(), Vec::new());
        for value in values {
            match ApiToken::from_json(value) {
                Ok(token) => tokens.push(token),
                Err(skip) => skipped.push(skip),
            }
        }
        let good: Vec<(usize, &TokenSpec)> =
            specs.iter().enumerate().filter(|(_, s)| s.2.is_none()).collect();
        prop_assert_eq!(tokens.len(), good.len());
        prop_assert_eq!(skipped.len(), specs.len() - good.len());
        for (token, (i, (window, expiry, _))) in tokens.iter().zip(&good) {
            prop_assert_eq!(&token.id, &format!("00T{i:017}"));
            prop_assert_eq!(token.window, TimeDelta::seconds(WINDOWS[*window].1));
            prop_assert_eq!(token.expires_at.timestamp(), *expiry);
            prop_assert_eq!(token.last_used() + token.window, token.expires_at);
        }
        let bad = specs.iter().enumerate().filter(|(_, s)| s.2.is_some());
        for (skip, (i, (_, _, corruption))) in skipped.iter().zip(bad) {
            let id = match corruption {
                Some(Corruption::NoId | Corruption::NotAnObject) => None,
                Some(Corruption::EmptyId) => Some(String::new()),
                _ => Some(format!("00T{i:017}")),
            };
            prop_assert_eq!(&skip.id, &id, "{:?}", corruption);
            prop_assert!(!skip.reason.is_empty());
        }
    }
}

proptest! {
    #[test]
    fn a_token_decodes_exactly_when_its_last_use_is_a_representable_time(
        window in prop_oneof![
            components().prop_map(|c| render_duration(&c, 0)),
            (0u64..1 << 30).prop_map(|years| format!("P{years}Y")),
            (0u64..1 << 54).prop_map(|seconds| format!("PT{seconds}S")),
            any::<u64>().prop_map(|seconds| format!("PT{seconds}S")),
        ],
        // Years 0000 to 9999, the span RFC 3339 can write.
        expiry in -62_167_219_200i64..253_402_300_800,
    ) {
        let expires_at = DateTime::from_timestamp(expiry, 0).expect("in range");
        let object = json!({"id": "00T1", "tokenWindow": window, "expiresAt": expires_at.to_rfc3339()});
        let earliest = i128::from(DateTime::<Utc>::MIN_UTC.timestamp());
        let fits = parse_iso8601_seconds(&window)
            .is_ok_and(|seconds| i128::from(expiry) - i128::from(seconds) >= earliest);
        match ApiToken::from_json(object) {
            Ok(token) => {
                prop_assert!(fits, "{} before {}", window, expires_at);
                prop_assert_eq!(token.last_used() + token.window, expires_at);
            }
            Err(skip) => {
                prop_assert!(!fits, "{} before {}: {}", window, expires_at, skip.reason);
                prop_assert!(skip.reason.contains("tokenWindow"), "{}", skip.reason);
            }
        }
    }
}

/// The same through the real client and pagination, against the simulated org: every page of
/// every size is read, good tokens come back in the org's order, bad ones are counted.
#[test]
fn a_poll_through_the_simulator_returns_exactly_the_good_tokens() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    let simulator = runtime
        .block_on(Simulator::start("property-token", Vec::new()))
        .expect("a simulator");
    let client = OktaClient::new(
        simulator.url().parse().expect("a URL"),
        Secret::new("property-token"),
        HttpSettings {
            max_retries: 0,
            retry_backoff: Duration::from_millis(1),
            ..HttpSettings::default()
        },
    )
    .expect("a client");
    simulator.set_rate_limit(u32::MAX);
    let config = ProptestConfig::with_cases(48);
    let specs = prop::collection::vec((0..WINDOWS.len(), any::<bool>()), 0..25);
    proptest!(config, |(tokens in specs, page_size in 1usize..6)| {
        let now = Utc::now();
        let sim_tokens: Vec<SimToken> = tokens
            .iter()
            .enumerate()
            .map(|(i, (window, good))| SimToken {
                id: format!("00T{i:017}"),
                name: format!("token {i}"),
                user_id: "00u1".into(),
                client_name: "Okta API".into(),
                token_window: if *good { WINDOWS[*window].0.into() } else { "30 days".into() },
                network_connection: None,
                created: now - TimeDelta::days(40),
                expires_at: now + TimeDelta::days(10),
                use_every: None,
            })
            .collect();
        simulator.set_tokens(sim_tokens);
        simulator.set_page_size(page_size);
        let mut stats = PollStats::default();
        let list = runtime
            .block_on(client.list_api_tokens(&mut stats))
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        let want: Vec<String> = tokens
            .iter()
            .enumerate()
            .filter(|(_, (_, good))| *good)
            .map(|(i, _)| format!("00T{i:017}"))
            .collect();
        let got: Vec<String> = list.tokens.iter().map(|t| t.id.clone()).collect();
        prop_assert_eq!(got, want);
        prop_assert_eq!(list.skipped.len(), tokens.iter().filter(|(_, good)| !good).count());
        prop_assert_eq!(list.pages, tokens.len().div_ceil(page_size).max(1));
    });
    simulator.shutdown();
}

/// Any instant within a few hundred years of 2000, to the millisecond.
fn instant() -> impl Strategy<Value = DateTime<Utc>> {
    (-5_000_000_000_000i64..5_000_000_000_000)
        .prop_map(|ms| DateTime::from_timestamp_millis(ms).expect("in range"))
}

/// A span of up to ±60 days, to the millisecond, often right at a boundary.
fn span() -> impl Strategy<Value = TimeDelta> {
    prop_oneof![
        (-5_184_000_000i64..5_184_000_000).prop_map(TimeDelta::milliseconds),
        (select(vec![RED_WITHIN, GREEN_WITHIN]), -1i64..=1)
            .prop_map(|(boundary, ms)| boundary + TimeDelta::milliseconds(ms)),
    ]
}

proptest! {
    #[test]
    fn red_exactly_when_expiry_is_at_most_7_days_away(
        now in instant(), expires_in in span(), used_ago in span(),
    ) {
        let colour = status(now, now + expires_in, now - used_ago, false);
        prop_assert_eq!(colour == TokenStatus::Red, expires_in <= TimeDelta::days(7));
    }

    #[test]
    fn green_exactly_when_not_red_and_used_within_3_days(
        now in instant(), expires_in in span(), used_ago in span(),
    ) {
        let colour = status(now, now + expires_in, now - used_ago, false);
        let red = expires_in <= RED_WITHIN;
        prop_assert_eq!(colour == TokenStatus::Green, !red && used_ago <= TimeDelta::days(3));
        prop_assert_eq!(colour == TokenStatus::Gray, !red && used_ago > TimeDelta::days(3));
    }

    #[test]
    fn suspicious_is_always_yellow_and_only_suspicious_is(
        now in instant(), expires_in in span(), used_ago in span(), suspicious in any::<bool>(),
    ) {
        let colour = status(now, now + expires_in, now - used_ago, suspicious);
        prop_assert_eq!(colour == TokenStatus::Yellow, suspicious);
    }

    #[test]
    fn a_token_never_goes_back_as_time_passes(
        used in instant(),
        window_s in 60i64..90 * 86_400,
        mut steps in prop::collection::vec(0i64..120 * 86_400_000, 1..20),
    ) {
        // Used once at `used`, never again: watch it from then on.
        let window = TimeDelta::seconds(window_s);
        let expires_at = used + window;
        prop_assert_eq!(last_used(expires_at, window), used);
        steps.sort_unstable();
        let colours: Vec<TokenStatus> = steps
            .iter()
            .map(|ms| status(used + TimeDelta::milliseconds(*ms), expires_at, used, false))
            .collect();
        // Green, then Gray, then Red: never back.
        prop_assert!(colours.windows(2).all(|w| w[0] <= w[1]), "{:?}", colours);
        prop_assert!(!colours.contains(&TokenStatus::Yellow));
    }

    #[test]
    fn a_later_expiry_or_a_later_use_never_makes_a_token_worse(
        now in instant(), expires_in in span(), used_ago in span(),
        later in 0i64..30 * 86_400_000,
    ) {
        let later = TimeDelta::milliseconds(later);
        let base = status(now, now + expires_in, now - used_ago, false);
        prop_assert!(status(now, now + expires_in + later, now - used_ago, false) <= base);
        prop_assert!(status(now, now + expires_in, now - used_ago + later, false) <= base);
    }
}

#[path = "../../fuzz/checks/config.rs"]
mod config_check;
#[path = "../../fuzz/checks/iso8601_duration.rs"]
mod iso8601_duration_check;
#[path = "../../fuzz/checks/link_header.rs"]
mod link_header_check;
#[path = "../../fuzz/checks/token_list.rs"]
mod token_list_check;

/// The fuzz corpora (`fuzz/corpus/<target>/`, the seeds and every `regression_*` input of a bug
/// found) replayed through the fuzz targets' own checks, here on the stable compiler with the
/// rest of the suite: a fuzzer is not needed to keep what the fuzzer found fixed.
#[test]
fn the_fuzz_corpora_pass_the_fuzz_targets_checks() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus");
    type Check = fn(&[u8]);
    let targets: [(&str, Check); 4] = [
        ("config", config_check::check),
        ("iso8601_duration", iso8601_duration_check::check),
        ("link_header", link_header_check::check),
        ("token_list", token_list_check::check),
    ];
    for (target, check) in targets {
        let mut inputs: Vec<_> = std::fs::read_dir(root.join(target))
            .unwrap_or_else(|e| panic!("fuzz/corpus/{target}: {e}"))
            .map(|entry| entry.unwrap().path())
            .collect();
        inputs.sort();
        assert!(
            inputs.len() >= 10,
            "fuzz/corpus/{target} holds {} inputs",
            inputs.len()
        );
        for input in &inputs {
            let data = std::fs::read(input).unwrap();
            if let Err(panic) = std::panic::catch_unwind(|| check(&data)) {
                let message = panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default();
                panic!("{target}: {} fails the check: {message}", input.display());
            }
        }
    }
}
