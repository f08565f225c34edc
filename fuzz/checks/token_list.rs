//! One page of `GET /api/v1/api-tokens`, decoded as the client decodes it: a JSON list, each
//! element on its own with `ApiToken::from_json`.
//!
//! Asserts: nothing panics, including the derived values the metrics compute from a token (last
//! use, status at any time); a token's id is the element's non-empty `id` and its window is its
//! `tokenWindow` parsed; the optional text fields (`name`, `userId`, `clientName`,
//! `network.connection`) are carried over exactly, empty only when absent or not text, and a
//! `created` appears only when the element had one; a skip carries the element's `id` when it
//! had one and says why.
//!
//! Shared by the fuzz target `fuzz_targets/token_list.rs` and `tests/it/properties.rs`, which replays
//! `corpus/token_list/` with it in the ordinary test suite.
use chrono::{DateTime, TimeDelta, Utc};
use okta_token_exporter::duration::parse_iso8601_seconds;
use okta_token_exporter::model::status::{status, TokenStatus};
use okta_token_exporter::okta::model::ApiToken;
use serde_json::Value;

/// Checks one input; panics when a property fails.
pub fn check(data: &[u8]) {
    let Ok(values) = serde_json::from_slice::<Vec<Value>>(data) else {
        return;
    };
    for value in values {
        let id = value.get("id").and_then(Value::as_str).map(str::to_owned);
        let window = value
            .get("tokenWindow")
            .and_then(Value::as_str)
            .map(str::to_owned);
        let text = |path: &[&str]| -> String {
            let mut at = &value;
            for key in path {
                match at.get(key) {
                    Some(next) => at = next,
                    None => return String::new(),
                }
            }
            at.as_str().unwrap_or_default().to_owned()
        };
        let carried = [
            text(&["name"]),
            text(&["userId"]),
            text(&["clientName"]),
            text(&["network", "connection"]),
        ];
        let had_created = value.get("created").is_some_and(Value::is_string);
        match ApiToken::from_json(value) {
            Ok(token) => {
                assert!(!token.id.is_empty());
                assert_eq!(
                    [
                        &token.name,
                        &token.user_id,
                        &token.client_name,
                        &token.network_connection
                    ],
                    carried.each_ref(),
                    "optional fields carried over exactly"
                );
                assert!(
                    had_created || token.created.is_none(),
                    "no invented `created`"
                );
                assert_eq!(Some(&token.id), id.as_ref());
                let seconds = parse_iso8601_seconds(window.as_deref().expect("a window"))
                    .expect("a valid window");
                assert_eq!(token.window, TimeDelta::seconds(seconds as i64));
                let last_used = token.last_used();
                // RFC 3339 allows a leap second (`:60`), which chrono's arithmetic counts one second
                // short; Okta writes none, so that second is tolerated rather than normalised.
                let gap = token.expires_at - last_used;
                let leap = token.expires_at.timestamp_subsec_nanos() >= 1_000_000_000;
                assert!(
                    gap == token.window
                        || (leap && (gap - token.window).abs() <= TimeDelta::seconds(1)),
                    "{gap:?} {:?}",
                    token.window
                );
                for now in [
                    DateTime::<Utc>::MIN_UTC,
                    DateTime::<Utc>::UNIX_EPOCH,
                    token.expires_at,
                    last_used,
                    DateTime::<Utc>::MAX_UTC,
                ] {
                    let colour = status(now, token.expires_at, last_used, false);
                    assert_ne!(colour, TokenStatus::Yellow);
                    assert_eq!(
                        colour == TokenStatus::Red,
                        token.expires_at - now <= TimeDelta::days(7)
                    );
                }
            }
            Err(skip) => {
                assert_eq!(skip.id, id);
                assert!(!skip.reason.is_empty());
            }
        }
    }
}
