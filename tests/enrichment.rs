//! Owners and the System Log, against the real binary and the simulated org: the exporter sees
//! each token as Okta's console does (deactivated owners, yellow tokens), stays within its
//! rate-limit budget, and keeps full token metrics when it may not read users or logs.

mod common;

use std::time::Duration;

use chrono::{TimeDelta, Utc};
use common::*;
use okta_simulator::{SimEndpoint, SimLogEvent, SimToken, SimUser, Simulator};

const API_TOKEN: &str = "enrichment-test-token";
const WAIT: Duration = Duration::from_secs(30);
const OWNER: &str = "00uowner000000000001";

fn owned_tokens(n: usize, users: usize) -> Vec<SimToken> {
    (0..n)
        .map(|i| {
            let mut token = sim_token(
                &format!("00T{i:017}"),
                &format!("token {i}"),
                TimeDelta::days(10 + (i % 15) as i64),
                "P30D",
            );
            token.user_id = format!("00u{:017}", i % users);
            token
        })
        .collect()
}

fn user(id: &str, status: &str) -> SimUser {
    SimUser {
        id: id.to_owned(),
        login: format!("{id}@acme.example"),
        status: status.to_owned(),
    }
}

fn status_of(samples: &[Sample], token_id: &str) -> String {
    find(samples, "okta_api_token_status", &[("token_id", token_id)])
        .iter()
        .find(|s| s.value == 1.0)
        .map(|s| s.label("status").to_owned())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_owner_deactivated_between_two_polls_flips_owner_active_to_zero() {
    let mut token = sim_token(
        "00T0000000000000001a",
        "SCIM sync",
        TimeDelta::days(20),
        "P30D",
    );
    token.user_id = OWNER.to_owned();
    let sim = Simulator::start(API_TOKEN, vec![token]).await.unwrap();
    sim.set_user(user(OWNER, "ACTIVE"));
    let exporter = Exporter::start(Setup::new(sim.url(), API_TOKEN));
    let labels = [("token_id", "00T0000000000000001a")];
    let before = exporter.wait_for("the owner", WAIT, |s| {
        !find(s, "okta_api_token_owner_active", &labels).is_empty()
    });
    assert_eq!(value(&before, "okta_api_token_owner_active", &labels), 1.0);
    let info = find(&before, "okta_api_token_info", &labels);
    assert_eq!(
        info[0].label("owner_login"),
        format!("{OWNER}@acme.example")
    );
    assert_eq!(info[0].label("owner_status"), "ACTIVE");

    sim.set_user_status(OWNER, "DEPROVISIONED");
    let after = exporter.wait_for("owner_active 0", WAIT, |s| {
        value(s, "okta_api_token_owner_active", &labels) == 0.0
    });
    assert_eq!(
        find(&after, "okta_api_token_info", &labels)[0].label("owner_status"),
        "DEPROVISIONED"
    );
    sim.set_user_status(OWNER, "SUSPENDED");
    exporter.wait_for("suspended", WAIT, |s| {
        find(s, "okta_api_token_info", &labels)[0].label("owner_status") == "SUSPENDED"
    });
    assert_eq!(
        value(&exporter.metrics(), "okta_api_token_owner_active", &labels),
        0.0
    );
    sim.set_user_status(OWNER, "LOCKED_OUT");
    exporter.wait_for("a locked-out owner keeps the token", WAIT, |s| {
        value(s, "okta_api_token_owner_active", &labels) == 1.0
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_from_outside_the_allowed_range_turns_a_token_yellow_until_the_lookback_passes() {
    let sim = Simulator::start(API_TOKEN, owned_tokens(3, 1))
        .await
        .unwrap();
    let mut setup = Setup::new(sim.url(), API_TOKEN);
    setup.org_yaml = "    enrich:\n      suspicious_lookback: 3s\n".to_owned();
    let exporter = Exporter::start(setup);
    let suspect = "00T00000000000000001";
    let before = exporter.wait_for("the tokens", WAIT, |s| {
        find(s, "okta_api_token_info", &[]).len() == 3
    });
    let was = status_of(&before, suspect);
    assert_ne!(was, "yellow");
    assert_eq!(
        value(
            &before,
            "okta_api_token_suspicious_events_total",
            &[("token_id", suspect)]
        ),
        0.0
    );

    sim.push_log_event(SimLogEvent::outside_allowed_range(
        Utc::now(),
        suspect,
        "intruder@elsewhere.example",
    ));
    let yellow = exporter.wait_for("yellow", WAIT, |s| status_of(s, suspect) == "yellow");
    assert_eq!(
        value(&yellow, "okta_api_tokens", &[("status", "yellow")]),
        1.0
    );
    assert_eq!(
        value(
            &yellow,
            "okta_api_token_suspicious_events_total",
            &[("token_id", suspect)]
        ),
        1.0
    );
    assert_eq!(
        value(
            &yellow,
            "okta_api_token_events_total",
            &[(
                "event_type",
                "system.api_token.request_outside_allowed_range"
            )]
        ),
        1.0
    );
    assert_ne!(
        status_of(&yellow, "00T00000000000000002"),
        "yellow",
        "only the token the event names"
    );

    let back = exporter.wait_for("the lookback to pass", WAIT, |s| {
        status_of(s, suspect) != "yellow"
    });
    assert_eq!(status_of(&back, suspect), was);
    assert_eq!(
        value(&back, "okta_api_tokens", &[("status", "yellow")]),
        0.0
    );
    assert_eq!(
        value(
            &back,
            "okta_api_token_suspicious_events_total",
            &[("token_id", suspect)]
        ),
        1.0,
        "a counter never goes back"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revocation_in_the_system_log_names_who_revoked_the_vanished_token() {
    let sim = Simulator::start(API_TOKEN, owned_tokens(3, 1))
        .await
        .unwrap();
    let exporter = Exporter::start(Setup::new(sim.url(), API_TOKEN));
    exporter.wait_for("the tokens", WAIT, |s| {
        find(s, "okta_api_token_info", &[]).len() == 3
    });
    sim.remove_token("00T00000000000000002");
    sim.push_log_event(SimLogEvent::revoke(
        Utc::now(),
        "00T00000000000000002",
        None,
        "security.admin@acme.example",
    ));
    let samples = exporter.wait_for("the removal", WAIT, |s| {
        find(s, "okta_api_token_info", &[]).len() == 2
    });
    assert_eq!(
        value(
            &samples,
            "okta_api_tokens_removed_total",
            &[("reason", "revoked")]
        ),
        1.0
    );
    let logs = exporter.logs().join("\n");
    assert!(
        logs.contains("revoked_by=security.admin@acme.example"),
        "{logs}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_permission_for_users_or_logs_the_token_metrics_stay_whole() {
    let sim = Simulator::start(API_TOKEN, owned_tokens(5, 2))
        .await
        .unwrap();
    sim.forbid(SimEndpoint::Users, true);
    sim.forbid(SimEndpoint::Logs, true);
    let exporter = Exporter::start(Setup::new(sim.url(), API_TOKEN));
    let samples = exporter.wait_for("both parts off", WAIT, |s| {
        value(s, "okta_enrichment_enabled", &[("kind", "owners")]) == 0.0
            && value(s, "okta_enrichment_enabled", &[("kind", "system_log")]) == 0.0
    });
    assert_eq!(
        value(&samples, "okta_up", &[]),
        1.0,
        "the token poll is not failed by enrichment"
    );
    assert_eq!(find(&samples, "okta_api_token_info", &[]).len(), 5);
    assert_eq!(
        find(&samples, "okta_api_token_expiry_timestamp_seconds", &[]).len(),
        5
    );
    assert!(find(&samples, "okta_api_token_owner_active", &[]).is_empty());
    assert!(find(&samples, "okta_api_token_suspicious_events_total", &[]).is_empty());
    // Several more polls: one warning per part, and no more lookups after the 403.
    let requests_then = sim.requests().len();
    exporter.wait_for("more polls", WAIT, |_| {
        sim.requests().len() >= requests_then + 3
    });
    let warnings: Vec<String> = exporter
        .logs()
        .into_iter()
        .filter(|l| l.contains("level=warn") && l.contains("are off"))
        .collect();
    assert_eq!(warnings.len(), 2, "{warnings:#?}");
    assert!(
        warnings.iter().any(|w| w.contains("okta.users.read")),
        "{warnings:#?}"
    );
    assert!(
        warnings.iter().any(|w| w.contains("okta.logs.read")),
        "{warnings:#?}"
    );
    let users = sim
        .requests()
        .iter()
        .filter(|r| r.path_and_query.starts_with("/api/v1/users/"))
        .count();
    let logs = sim
        .requests()
        .iter()
        .filter(|r| r.path_and_query.starts_with("/api/v1/logs"))
        .count();
    assert_eq!(
        (users, logs),
        (1, 1),
        "one refused request each, then no more"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn owner_lookups_for_1000_tokens_of_100_users_stay_within_the_rate_limit_budget() {
    const LIMIT: u32 = 60;
    let sim = Simulator::start(API_TOKEN, owned_tokens(1000, 100))
        .await
        .unwrap();
    sim.set_endpoint_rate_limit(SimEndpoint::Users, LIMIT);
    for i in 0..100 {
        sim.set_user(user(&format!("00u{i:017}"), "ACTIVE"));
    }
    let mut setup = Setup::new(sim.url(), API_TOKEN);
    setup.poll_interval = "200ms";
    let exporter = Exporter::start(setup);
    // Polls start with the first page of the token list (no `after`).
    let polls = |requests: &[okta_simulator::RecordedRequest]| {
        requests
            .iter()
            .filter(|r| r.path_and_query.starts_with("/api/v1/api-tokens?limit="))
            .count()
    };
    exporter.wait_for("five polls", Duration::from_secs(60), |_| {
        polls(&sim.requests()) >= 6
    });
    let requests = sim.requests();
    let mut per_poll: Vec<(usize, usize)> = Vec::new(); // (token pages, user lookups)
    for request in &requests {
        if request
            .path_and_query
            .starts_with("/api/v1/api-tokens?limit=")
        {
            per_poll.push((0, 0));
        }
        let Some(current) = per_poll.last_mut() else {
            continue;
        };
        if request.path_and_query.starts_with("/api/v1/api-tokens") {
            current.0 += 1;
        } else if request.path_and_query.starts_with("/api/v1/users/") {
            current.1 += 1;
        }
    }
    per_poll.pop(); // the poll still running
    assert!(per_poll.len() >= 5, "{per_poll:?}");
    let share = 0.5;
    let mut used = 0usize;
    for (i, (pages, lookups)) in per_poll.iter().enumerate() {
        assert_eq!(
            *pages, 5,
            "poll {i}: 1,000 tokens cost ceil(1000 / 200) pages"
        );
        // The first poll probes with one lookup to learn the limit, then budgets from it.
        let remaining = LIMIT as usize - used - usize::from(i == 0);
        let budget = (remaining as f64 * share).floor() as usize + usize::from(i == 0);
        assert!(
            *lookups <= budget,
            "poll {i}: {lookups} lookups, budget {budget}: {per_poll:?}"
        );
        used += lookups;
    }
    assert!(
        per_poll[0].1 > 10,
        "the budget is used, not ignored: {per_poll:?}"
    );
    assert!(
        requests.iter().all(|r| r.status != 429),
        "never rate limited"
    );
    // Never-looked-up owners come first: no owner twice while others are still unknown.
    let looked_up: Vec<&str> = requests
        .iter()
        .filter_map(|r| r.path_and_query.strip_prefix("/api/v1/users/"))
        .collect();
    let distinct: std::collections::HashSet<&&str> = looked_up.iter().collect();
    assert_eq!(distinct.len(), looked_up.len().min(100), "{looked_up:?}");
}
