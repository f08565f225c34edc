//! Owners and the System Log, against the real binary and the simulated org: the exporter sees
//! each token as Okta's console does (deactivated owners, yellow tokens), stays within its
//! rate-limit budget, and keeps full token metrics when it may not read users or logs.

use crate::common;

use std::time::Duration;

use chrono::{TimeDelta, Utc};
use common::*;
use okta_simulator::{Fault, SimEndpoint, SimLogEvent, SimToken, SimUser, Simulator};

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

/// A simulated org with one token, owned by the active user `OWNER`.
async fn org_of_an_active_owner(token_id: &str) -> Simulator {
    let mut token = sim_token(token_id, "SCIM sync", TimeDelta::days(20), "P30D");
    token.user_id = OWNER.to_owned();
    let sim = Simulator::start(API_TOKEN, vec![token]).await.unwrap();
    sim.set_user(user(OWNER, "ACTIVE"));
    sim
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
    let sim = org_of_an_active_owner("00T0000000000000001a").await;
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
    // The simulator's window on the users endpoint opens with its first request and lasts a
    // minute, as Okta's; on a loaded machine six polls can outlast it, and after a reset the
    // budget starts afresh. Only polls that ended inside the first window are accounted here.
    let window_end = requests
        .iter()
        .find(|r| r.path_and_query.starts_with("/api/v1/users/"))
        .map(|r| r.received_at + Duration::from_secs(60))
        .expect("owners were looked up");
    // (token pages, user lookups, whether every request fell inside the first window)
    let mut per_poll: Vec<(usize, usize, bool)> = Vec::new();
    for request in &requests {
        if request
            .path_and_query
            .starts_with("/api/v1/api-tokens?limit=")
        {
            per_poll.push((0, 0, true));
        }
        let Some(current) = per_poll.last_mut() else {
            continue;
        };
        current.2 &= request.received_at < window_end;
        if request.path_and_query.starts_with("/api/v1/api-tokens") {
            current.0 += 1;
        } else if request.path_and_query.starts_with("/api/v1/users/") {
            current.1 += 1;
        }
    }
    per_poll.pop(); // the poll still running
    let per_poll: Vec<(usize, usize)> = per_poll
        .into_iter()
        .take_while(|(_, _, inside)| *inside)
        .map(|(pages, lookups, _)| (pages, lookups))
        .collect();
    assert!(per_poll.len() >= 3, "{per_poll:?}");
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

/// Okta's concurrency 429 reports limit and remaining as 0. That zero is no budget: owner
/// lookups resume once the reset passes, and the last 429 is exported with its time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_concurrency_429_on_owner_lookups_delays_them_and_stops_nothing() {
    let sim = org_of_an_active_owner("00T0000000000000429a").await;
    sim.push_endpoint_fault(
        SimEndpoint::Users,
        Fault::RateLimited {
            reset_after: Duration::from_secs(1),
            concurrency: true,
        },
    );
    sim.push_endpoint_fault(
        SimEndpoint::Logs,
        Fault::RateLimited {
            reset_after: Duration::from_secs(1),
            concurrency: true,
        },
    );
    let started = epoch(Utc::now()) - 1.0;
    let exporter = Exporter::start(Setup::new(sim.url(), API_TOKEN));
    let users = [("endpoint", "/api/v1/users/{id}")];
    let logs = [("endpoint", "/api/v1/logs")];
    let samples = exporter.wait_for("the owner after the 429", WAIT, |s| {
        !find(s, "okta_api_token_owner_active", &[]).is_empty()
            && value(
                s,
                "okta_api_requests_total",
                &[("endpoint", "/api/v1/logs"), ("code", "200")],
            ) >= 1.0
    });
    for endpoint in [&users, &logs] {
        let at = value(
            &samples,
            "okta_rate_limit_exceeded_last_timestamp_seconds",
            endpoint,
        );
        assert!(
            at >= started && at <= epoch(Utc::now()),
            "{endpoint:?}: {at}"
        );
        assert!(
            value(&samples, "okta_rate_limit_limit", endpoint) > 0.0,
            "{endpoint:?}: a concurrency 429's zero is no limit"
        );
    }
    assert_eq!(value(&samples, "okta_api_token_owner_active", &[]), 1.0);
    assert_eq!(
        value(&samples, "okta_enrichment_enabled", &[("kind", "owners")]),
        1.0
    );
}

/// Okta's System Log guide: events can be published late, and a reader that moves its own
/// `[since, until)` window misses them. The exporter follows the polling query's `next` links.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_published_late_still_turns_its_token_yellow() {
    let sim = Simulator::start(API_TOKEN, owned_tokens(2, 1))
        .await
        .unwrap();
    let exporter = Exporter::start(Setup::new(sim.url(), API_TOKEN));
    let suspect = "00T00000000000000001";
    let log_reads = || {
        sim.requests()
            .iter()
            .filter(|r| r.path_and_query.starts_with("/api/v1/logs") && r.status == 200)
            .count()
    };
    exporter.wait_for("three System Log reads", WAIT, |_| log_reads() >= 3);
    // Published a minute ago, inside a window every read so far has covered, received now.
    sim.push_late_log_event(SimLogEvent::outside_allowed_range(
        Utc::now() - TimeDelta::minutes(1),
        suspect,
        "intruder@elsewhere.example",
    ));
    let samples = exporter.wait_for("yellow", WAIT, |s| status_of(s, suspect) == "yellow");
    assert_eq!(
        value(
            &samples,
            "okta_api_token_suspicious_events_total",
            &[("token_id", suspect)]
        ),
        1.0
    );
    let requests = sim.requests();
    let reads: Vec<&str> = requests
        .iter()
        .filter(|r| r.path_and_query.starts_with("/api/v1/logs"))
        .map(|r| r.path_and_query.as_str())
        .collect();
    assert!(reads.iter().all(|r| !r.contains("until=")), "{reads:#?}");
    assert_eq!(
        reads.iter().filter(|r| !r.contains("after=")).count(),
        1,
        "one polling query, then its next links: {reads:#?}"
    );
    assert_eq!(
        value(
            &samples,
            "okta_enrichment_errors_total",
            &[("kind", "system_log")]
        ),
        0.0
    );
}

/// Okta deletes every token of a deactivated user at once. The exporter tells that from a lapse
/// or a revocation, from either source it may read: the owner looked up after the tokens vanish
/// (System Log forbidden here), or the System Log's `user.lifecycle.deactivate`, published late
/// (owner lookups forbidden here). The removal names the token, its owner and its colour.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_deleted_with_their_deactivated_owner_are_named_with_their_last_colour() {
    for forbidden in [SimEndpoint::Logs, SimEndpoint::Users] {
        let mut in_use = sim_token(
            "00T00000000000inuse1",
            "SCIM sync",
            TimeDelta::days(30),
            "P30D",
        );
        in_use.use_every = Some(Duration::from_secs(1));
        let mut idle = sim_token(
            "00T0000000000000idle",
            "old report",
            TimeDelta::days(20),
            "P30D",
        );
        let mut other = sim_token("00T0000000000000other", "CI", TimeDelta::days(25), "P30D");
        in_use.user_id = OWNER.to_owned();
        idle.user_id = OWNER.to_owned();
        other.user_id = "00uothers00000000001".to_owned();
        let sim = Simulator::start(API_TOKEN, vec![in_use, idle, other])
            .await
            .unwrap();
        sim.set_user(user(OWNER, "ACTIVE"));
        sim.forbid(forbidden, true);
        let exporter = Exporter::start(Setup::new(sim.url(), API_TOKEN));
        exporter.wait_for("the tokens", WAIT, |s| {
            find(s, "okta_api_token_info", &[]).len() == 3
        });
        let deleted = if forbidden == SimEndpoint::Users {
            sim.deactivate_user_late(OWNER, TimeDelta::seconds(20))
        } else {
            sim.deactivate_user(OWNER)
        };
        assert_eq!(deleted.len(), 2);
        let samples = exporter.wait_for("both removals", WAIT, |s| {
            find(s, "okta_api_token_removed_timestamp_seconds", &[]).len() == 2
        });
        let removed = |id| {
            find(
                &samples,
                "okta_api_token_removed_timestamp_seconds",
                &[("token_id", id)],
            )[0]
            .clone()
        };
        let (used, unused) = (
            removed("00T00000000000inuse1"),
            removed("00T0000000000000idle"),
        );
        for (sample, status) in [(&used, "green"), (&unused, "gray")] {
            assert_eq!(
                sample.label("reason"),
                "owner_deactivated",
                "{forbidden:?}: {sample:?}"
            );
            assert_eq!(sample.label("last_status"), status, "{forbidden:?}");
            assert_eq!(sample.label("user_id"), OWNER);
            assert!(
                (sample.value - epoch(Utc::now())).abs() < 30.0,
                "{sample:?}"
            );
        }
        if forbidden == SimEndpoint::Logs {
            assert_eq!(used.label("owner_login"), format!("{OWNER}@acme.example"));
        }
        assert_eq!(used.label("token_name"), "SCIM sync");
        assert_eq!(
            value(
                &samples,
                "okta_api_tokens_removed_total",
                &[("reason", "owner_deactivated")]
            ),
            2.0,
            "{forbidden:?}"
        );
        assert_eq!(
            value(
                &samples,
                "okta_api_tokens_removed_total",
                &[("reason", "revoked")]
            ),
            0.0
        );
        assert_eq!(find(&samples, "okta_api_token_info", &[]).len(), 1);
    }
}
