//! The exporter, run as a binary, against the simulated Okta org over loopback HTTP: what it
//! exports, how it paginates, and how it behaves when Okta fails.

use crate::common;

use std::time::{Duration, SystemTime};

use chrono::{TimeDelta, Utc};
use common::*;
use okta_simulator::{Fault, Simulator};

const API_TOKEN: &str = "00canaryT0k3n-do-not-leak-8f2c";
const WAIT: Duration = Duration::from_secs(20);

fn up(samples: &[Sample]) -> Option<f64> {
    find(samples, "okta_up", &[("org", "test-org")])
        .first()
        .map(|s| s.value)
}

fn token_ids(samples: &[Sample]) -> Vec<String> {
    let mut ids: Vec<String> = find(samples, "okta_api_token_info", &[])
        .iter()
        .map(|s| s.label("token_id").to_owned())
        .collect();
    ids.sort();
    ids
}

fn seven_tokens() -> Vec<okta_simulator::SimToken> {
    vec![
        sim_token(
            "00T0000000000000001a",
            "green: used now",
            TimeDelta::days(30),
            "P30D",
        ),
        sim_token(
            "00T0000000000000002b",
            "gray: unused for 10 days",
            TimeDelta::days(20),
            "P30D",
        ),
        sim_token(
            "00T0000000000000003c",
            "red: expires in 2 days",
            TimeDelta::days(2),
            "P30D",
        ),
        sim_token(
            "00T0000000000000004d",
            "red: five-minute window",
            TimeDelta::minutes(4),
            "PT5M",
        ),
        sim_token(
            "00T0000000000000005e",
            "green: used two days ago",
            TimeDelta::days(28),
            "P30D",
        ),
        sim_token(
            "00T0000000000000006f",
            "gray: two-week window",
            TimeDelta::days(8),
            "P2W",
        ),
        sim_token(
            "00T0000000000000007g",
            "red: a minute inside the seven days",
            TimeDelta::days(7) - TimeDelta::minutes(1),
            "P30D",
        ),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_token_of_a_three_page_list_is_exported_with_values_from_okta() {
    let sim = Simulator::start(API_TOKEN, seven_tokens()).await.unwrap();
    sim.set_page_size(3);
    let exporter = Exporter::start(Setup::new(sim.url(), API_TOKEN));
    let samples = exporter.wait_for("all seven tokens", WAIT, |s| token_ids(s).len() == 7);
    let scraped_at = Utc::now();

    // The poll used exactly ceil(7 / 3) = 3 requests per poll, with Okta's headers.
    let requests = sim.requests();
    let listing: Vec<_> = requests
        .iter()
        .filter(|r| r.path_and_query.starts_with("/api/v1/api-tokens"))
        .collect();
    // Split into polls (each starts with a first page, without `after=`): every complete poll
    // took exactly 3 requests, and the one in flight no more.
    let mut polls: Vec<Vec<&&_>> = Vec::new();
    for request in &listing {
        if !request.path_and_query.contains("after=") {
            polls.push(Vec::new());
        }
        polls
            .last_mut()
            .expect("a poll starts with its first page")
            .push(request);
    }
    let (in_flight, complete) = polls.split_last().expect("at least one poll");
    assert!(
        !complete.is_empty() || in_flight.len() == 3,
        "a whole poll was seen"
    );
    for poll in complete {
        assert_eq!(
            poll.len(),
            3,
            "one poll of 7 tokens in pages of 3: {poll:?}"
        );
    }
    assert!(in_flight.len() <= 3, "{in_flight:?}");
    assert!(
        listing[0].path_and_query.contains("limit=200"),
        "{:?}",
        listing[0]
    );
    assert!(
        listing[1].path_and_query.contains("after="),
        "follows the next link: {:?}",
        listing[1]
    );
    let first_poll: Vec<_> = listing.iter().take(3).collect();
    assert_eq!(
        first_poll
            .iter()
            .filter(|r| !r.path_and_query.contains("after="))
            .count(),
        1,
        "one first page per poll"
    );
    for request in &listing {
        assert_eq!(
            request.authorization.as_deref(),
            Some(format!("SSWS {API_TOKEN}").as_str())
        );
        assert_eq!(request.accept.as_deref(), Some("application/json"));
        assert!(request
            .user_agent
            .as_deref()
            .unwrap_or("")
            .starts_with("okta-token-exporter/"));
    }

    for token in sim.tokens() {
        let labels = [("org", "test-org"), ("token_id", token.id.as_str())];
        let expiry = epoch(token.expires_at);
        assert_eq!(
            value(&samples, "okta_api_token_expiry_timestamp_seconds", &labels),
            expiry,
            "{}",
            token.name
        );
        let window = okta_token_exporter::duration::parse_iso8601_seconds(&token.token_window)
            .unwrap() as f64;
        assert_eq!(
            value(&samples, "okta_api_token_window_seconds", &labels),
            window
        );
        assert_eq!(
            value(
                &samples,
                "okta_api_token_last_used_timestamp_seconds",
                &labels
            ),
            expiry - window
        );
        assert_eq!(
            value(
                &samples,
                "okta_api_token_created_timestamp_seconds",
                &labels
            ),
            epoch(token.created)
        );
        let to_expiry = value(&samples, "okta_api_token_time_to_expiry_seconds", &labels);
        assert!(
            (to_expiry - (expiry - epoch(scraped_at))).abs() < 5.0,
            "{}: {to_expiry}",
            token.name
        );
        let age = value(&samples, "okta_api_token_last_used_age_seconds", &labels);
        assert!(
            (age - (epoch(scraped_at) - (expiry - window))).abs() < 5.0,
            "{}: {age}",
            token.name
        );

        let info = find(&samples, "okta_api_token_info", &labels);
        assert_eq!(info.len(), 1);
        assert_eq!(info[0].value, 1.0);
        assert_eq!(info[0].label("token_name"), token.name);
        assert_eq!(info[0].label("user_id"), token.user_id);
        assert_eq!(info[0].label("client_name"), token.client_name);
        assert_eq!(info[0].label("network_connection"), "ANYWHERE");

        let states = find(&samples, "okta_api_token_status", &labels);
        assert_eq!(states.len(), 4, "one series per state");
        assert_eq!(
            states.iter().map(|s| s.value).sum::<f64>(),
            1.0,
            "exactly one state is 1"
        );
        let current = states
            .iter()
            .find(|s| s.value == 1.0)
            .unwrap()
            .label("status");
        let expected = token.name.split(':').next().unwrap();
        assert_eq!(current, expected, "{}", token.name);
    }

    for (status, count) in [("green", 2.0), ("gray", 2.0), ("red", 3.0), ("yellow", 0.0)] {
        assert_eq!(
            value(
                &samples,
                "okta_api_tokens",
                &[("org", "test-org"), ("status", status)]
            ),
            count,
            "{status}"
        );
    }
    assert_eq!(up(&samples), Some(1.0));
    assert!(value(&samples, "okta_last_successful_poll_timestamp_seconds", &[]) > 0.0);
    assert!(
        value(
            &samples,
            "okta_api_requests_total",
            &[("endpoint", "/api/v1/api-tokens"), ("code", "200")]
        ) >= 3.0
    );
    assert!(
        value(
            &samples,
            "okta_rate_limit_limit",
            &[("endpoint", "/api/v1/api-tokens")]
        ) > 0.0
    );
    assert_eq!(find(&samples, "okta_exporter_build_info", &[]).len(), 1);
    assert!(!find(&samples, "process_resident_memory_bytes", &[]).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_with_quotes_backslashes_newlines_and_emoji_survive_the_text_format() {
    let tricky = "Legacy \"backup\" C:\\scripts\nnightly 🚀";
    let sim = Simulator::start(
        API_TOKEN,
        vec![sim_token(
            "00T0000000000000001a",
            tricky,
            TimeDelta::days(20),
            "P30D",
        )],
    )
    .await
    .unwrap();
    let exporter = Exporter::start(Setup::new(sim.url(), API_TOKEN));
    let samples = exporter.wait_for("the token", WAIT, |s| token_ids(s).len() == 1);
    let info = find(&samples, "okta_api_token_info", &[]);
    assert_eq!(info[0].label("token_name"), tricky);
    let (_, _, raw) = exporter.get("/metrics");
    assert!(
        raw.contains(r#"token_name="Legacy \"backup\" C:\\scripts\nnightly 🚀""#),
        "escaped once, as the text format wants"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejected_token_says_why_and_reports_down() {
    let sim = Simulator::start("the-right-token", seven_tokens())
        .await
        .unwrap();
    let exporter = Exporter::start(Setup::new(sim.url(), API_TOKEN));
    let samples = exporter.wait_for("an unauthorized poll", WAIT, |s| {
        value(s, "okta_poll_errors_total", &[("reason", "unauthorized")]) >= 1.0
    });
    assert_eq!(up(&samples), Some(0.0));
    assert!(find(&samples, "okta_api_token_info", &[]).is_empty());
    // Logged once when the org went down, not on every poll: four failed polls, one line.
    exporter.wait_for("four failed polls", WAIT, |s| {
        value(s, "okta_poll_errors_total", &[("reason", "unauthorized")]) >= 4.0
    });
    let errors = exporter.wait_for_log(
        "the failure's error line",
        |l| l.contains("level=error"),
        |lines| !lines.is_empty(),
    );
    assert_eq!(errors.len(), 1, "{}", exporter.logs().join("\n"));
    assert!(errors[0].contains("E0000011"), "{}", errors[0]);
    assert!(
        errors[0].contains("invalid, expired or revoked"),
        "{}",
        errors[0]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forbidden_list_names_the_missing_permission() {
    let sim = Simulator::start(API_TOKEN, seven_tokens()).await.unwrap();
    for _ in 0..50 {
        sim.push_fault(
            Some(1),
            Fault::OktaError {
                status: 403,
                error_code: "E0000006".into(),
                summary: "You do not have permission to perform the requested action".into(),
            },
        );
    }
    let exporter = Exporter::start(Setup::new(sim.url(), API_TOKEN));
    let samples = exporter.wait_for("a forbidden poll", WAIT, |s| {
        value(s, "okta_poll_errors_total", &[("reason", "forbidden")]) >= 1.0
    });
    assert_eq!(up(&samples), Some(0.0));
    exporter.wait_for_log(
        "the error naming the permission",
        |l| l.contains("E0000006") && l.contains("okta.apiTokens.read"),
        |lines| !lines.is_empty(),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_limited_poll_waits_for_the_reset_before_asking_again() {
    let sim = Simulator::start(API_TOKEN, seven_tokens()).await.unwrap();
    sim.push_fault(
        Some(1),
        Fault::RateLimited {
            reset_after: Duration::from_secs(2),
            concurrency: false,
        },
    );
    let mut setup = Setup::new(sim.url(), API_TOKEN);
    setup.retries = 3;
    let exporter = Exporter::start(setup);
    exporter.wait_for("the tokens after the reset", WAIT, |s| {
        token_ids(s).len() == 7
    });
    let requests = sim.requests();
    let limited = requests
        .iter()
        .position(|r| r.status == 429)
        .expect("a 429 was answered");
    let seconds = |t: SystemTime| {
        t.duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64()
    };
    // The reset was announced as the answer's time + 2 s, rounded up to a whole second; the
    // answer came after the request arrived, so this is the earliest reset it can have named.
    let reset = (seconds(requests[limited].received_at) + 2.0).ceil();
    let next = seconds(requests[limited + 1].received_at);
    assert!(
        next >= reset,
        "asked again {:.3}s before the reset",
        reset - next
    );
    let samples = exporter.metrics();
    assert!(value(&samples, "okta_api_requests_total", &[("code", "429")]) >= 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_error_on_page_two_keeps_the_previous_tokens_whole() {
    let sim = Simulator::start(API_TOKEN, seven_tokens()).await.unwrap();
    sim.set_page_size(3);
    let exporter = Exporter::start(Setup::new(sim.url(), API_TOKEN));
    let before = exporter.wait_for("all seven tokens", WAIT, |s| token_ids(s).len() == 7);
    for _ in 0..3 {
        sim.push_fault(
            Some(2),
            Fault::OktaError {
                status: 500,
                error_code: "E0000009".into(),
                summary: "Internal Server Error".into(),
            },
        );
    }
    sim.remove_token("00T0000000000000001a");
    let after = exporter.wait_for("okta_up 0", WAIT, |s| up(s) == Some(0.0));
    assert_eq!(
        token_ids(&after),
        token_ids(&before),
        "the failed poll must not publish a partial list"
    );
    assert!(
        value(
            &after,
            "okta_poll_errors_total",
            &[("reason", "server_error")]
        ) >= 1.0
    );
    assert_eq!(
        value(
            &after,
            "okta_api_tokens_removed_total",
            &[("reason", "revoked")]
        ),
        0.0
    );
    // Recovery: the next complete poll publishes the change.
    let recovered = exporter.wait_for("recovery", WAIT, |s| {
        up(s) == Some(1.0) && token_ids(s).len() == 6
    });
    assert_eq!(
        value(
            &recovered,
            "okta_api_tokens_removed_total",
            &[("reason", "revoked")]
        ),
        1.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_html_maintenance_page_is_an_error_not_an_empty_list() {
    let sim = Simulator::start(API_TOKEN, seven_tokens()).await.unwrap();
    let exporter = Exporter::start(Setup::new(sim.url(), API_TOKEN));
    exporter.wait_for("all seven tokens", WAIT, |s| token_ids(s).len() == 7);
    for _ in 0..3 {
        sim.push_fault(None, Fault::Html { status: 200 });
    }
    let after = exporter.wait_for("okta_up 0", WAIT, |s| up(s) == Some(0.0));
    assert_eq!(token_ids(&after).len(), 7);
    assert!(value(&after, "okta_poll_errors_total", &[("reason", "decode")]) >= 1.0);
    sim.clear_faults();
    for _ in 0..3 {
        sim.push_fault(None, Fault::Html { status: 503 });
    }
    exporter.wait_for("a server error", WAIT, |s| {
        value(s, "okta_poll_errors_total", &[("reason", "server_error")]) >= 1.0
    });
    exporter.wait_for_log(
        "the HTML page named in the error",
        |l| l.contains("HTML page"),
        |lines| !lines.is_empty(),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_that_vanish_are_counted_as_expired_or_revoked() {
    let sim = Simulator::start(API_TOKEN, seven_tokens()).await.unwrap();
    let exporter = Exporter::start(Setup::new(sim.url(), API_TOKEN));
    exporter.wait_for("all seven tokens", WAIT, |s| token_ids(s).len() == 7);
    // Added once the exporter polls (every 300 ms), so that a slow start cannot make it lapse
    // before it is ever seen: ten polls of margin.
    let mut tokens = seven_tokens();
    tokens.push(sim_token(
        "00T0000000000000008h",
        "red: lapses in three seconds",
        TimeDelta::seconds(3),
        "PT5M",
    ));
    sim.set_tokens(tokens);
    exporter.wait_for("all eight tokens", WAIT, |s| token_ids(s).len() == 8);
    sim.remove_token("00T0000000000000002b");
    let samples = exporter.wait_for("both removals", WAIT, |s| token_ids(s).len() == 6);
    assert_eq!(
        value(
            &samples,
            "okta_api_tokens_removed_total",
            &[("reason", "revoked")]
        ),
        1.0
    );
    assert_eq!(
        value(
            &samples,
            "okta_api_tokens_removed_total",
            &[("reason", "expired")]
        ),
        1.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_canary_secret_appears_in_no_log_line_metric_or_page() {
    let sim = Simulator::start(API_TOKEN, seven_tokens()).await.unwrap();
    sim.set_page_size(2);
    let exporter = Exporter::start(Setup::new(sim.url(), API_TOKEN));
    exporter.wait_for("all seven tokens", WAIT, |s| token_ids(s).len() == 7);
    // Failures of every kind, logged at trace.
    sim.push_fault(
        Some(2),
        Fault::OktaError {
            status: 401,
            error_code: "E0000011".into(),
            summary: "Invalid token provided".into(),
        },
    );
    sim.push_fault(Some(1), Fault::Html { status: 502 });
    sim.push_fault(Some(1), Fault::TruncatedJson);
    sim.push_fault(Some(1), Fault::NextLinkToOtherHost);
    exporter.wait_for("a failure", WAIT, |s| up(s) == Some(0.0));
    exporter.wait_for("recovery", WAIT, |s| up(s) == Some(1.0));
    let logs = exporter.logs();
    assert!(logs.len() > 5, "trace logging is on");
    let (_, _, metrics) = exporter.get("/metrics");
    let (_, _, landing) = exporter.get("/");
    for (what, text) in [
        ("logs", logs.join("\n")),
        ("metrics", metrics),
        ("landing page", landing),
    ] {
        assert!(
            !text.contains(API_TOKEN),
            "the API token leaked into the {what}"
        );
        assert!(
            !text.contains("canaryT0k3n"),
            "part of the API token leaked into the {what}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(tool_promtool),
    ignore = "needs `promtool`: apt-get install prometheus"
)]
async fn promtool_accepts_the_metrics() {
    let Some(promtool) = require_tool("promtool", "prometheus") else {
        return;
    };
    let sim = Simulator::start(API_TOKEN, Simulator::demo_tokens(Utc::now()))
        .await
        .unwrap();
    let exporter = Exporter::start(Setup::new(sim.url(), API_TOKEN));
    exporter.wait_for("the demo tokens", WAIT, |s| {
        !find(s, "okta_api_token_info", &[]).is_empty()
    });
    let (_, _, body) = exporter.get("/metrics");
    let mut child = std::process::Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(body.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "promtool check metrics failed:\n{report}"
    );
    assert!(
        report.trim().is_empty(),
        "promtool has remarks about the metrics:\n{report}"
    );
}
