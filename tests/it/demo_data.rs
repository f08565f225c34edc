//! The demo org's data covers what the exporter must show: every token state by the exporter's own
//! rules, and the tricky cases (a 5-minute window, a name needing escapes, no `network` object).

use chrono::{TimeDelta, Utc};
use okta_simulator::Simulator;
use okta_token_exporter::duration::parse_iso8601_seconds;
use okta_token_exporter::model::status::{status, TokenStatus};

#[test]
fn demo_tokens_cover_every_state_and_the_tricky_cases() {
    let now = Utc::now();
    let tokens = Simulator::demo_tokens(now);
    assert_eq!(tokens.len(), 12);
    let states: Vec<TokenStatus> = tokens
        .iter()
        .map(|t| {
            let window = parse_iso8601_seconds(&t.token_window).expect("demo windows parse");
            let last_use = t.expires_at - TimeDelta::seconds(window as i64);
            status(now, t.expires_at, last_use, false)
        })
        .collect();
    for wanted in [TokenStatus::Green, TokenStatus::Gray, TokenStatus::Red] {
        assert!(
            states.iter().filter(|s| **s == wanted).count() >= 2,
            "{wanted:?}: {states:?}"
        );
    }
    assert!(
        tokens.iter().all(|t| t.expires_at > now),
        "none already expired"
    );
    assert!(tokens.iter().any(|t| t.token_window == "PT5M"));
    assert!(tokens
        .iter()
        .any(|t| t.name.contains('"') && t.name.contains('\\') && t.name.contains('\n')));
    assert!(tokens.iter().any(|t| t.network_connection.is_none()));
    let mut ids: Vec<&str> = tokens.iter().map(|t| t.id.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 12);
    assert!(ids.iter().all(|id| id.len() == 20));
}
