//! Keeping chosen tokens alive, end to end: the exporter binary, configured with a `keepalive:`
//! list, against the simulated org, which slides a token's expiry when a call authenticates with
//! that token's own secret, as Okta does.

use crate::common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{TimeDelta, Utc};
use common::*;
use okta_simulator::{SimUser, Simulator};

const API_TOKEN: &str = "00exporter-own-token-5a1c";
const WAIT: Duration = Duration::from_secs(20);
const OWNER: &str = "00utestuser000000001";

/// A red token (expires in 5 days, last used 25 days ago), idle by design.
const BREAK_GLASS: &str = "00Tbreakglass0000001";
const BREAK_GLASS_SECRET: &str = "00canary-break-glass-9d3e";
/// A gray token 20 days from expiry: outside the 10-day threshold.
const REVIEW: &str = "00Treview00000000002";
const REVIEW_SECRET: &str = "00canary-review-71b0";

fn tokens() -> Vec<okta_simulator::SimToken> {
    vec![
        sim_token(BREAK_GLASS, "Break-glass admin", TimeDelta::days(5), "P30D"),
        sim_token(REVIEW, "Quarterly review", TimeDelta::days(20), "P30D"),
    ]
}

/// Writes each `(name, secret)` to a private file in `dir`.
fn secret_files(dir: &Path, secrets: &[(&str, &str)]) -> Vec<PathBuf> {
    secrets
        .iter()
        .map(|(name, secret)| {
            let path = dir.join(name);
            std::fs::write(&path, format!("{secret}\n")).unwrap();
            set_private(&path);
            path
        })
        .collect()
}

/// The org's `keepalive:` block (indented under the org) for `(token id, file)` pairs.
fn keepalive_yaml(entries: &[(&str, &Path)]) -> String {
    let mut yaml = "    keepalive:\n".to_owned();
    for (id, file) in entries {
        yaml.push_str(&format!(
            "      - token_id: {id}\n        token_file: {}\n",
            file.display()
        ));
    }
    yaml
}

/// Keep-alive calls the simulator received with this secret.
fn calls_with(sim: &Simulator, secret: &str) -> usize {
    let authorization = format!("SSWS {secret}");
    sim.requests()
        .iter()
        .filter(|r| r.authorization.as_deref() == Some(authorization.as_str()))
        .count()
}

/// Token listings the simulator answered: one per poll.
fn polls(sim: &Simulator) -> usize {
    sim.requests()
        .iter()
        .filter(|r| r.path_and_query.starts_with("/api/v1/api-tokens"))
        .count()
}

/// Waits until the exporter polled `more` more times, so that a call that should not happen
/// had every chance to.
fn wait_for_more_polls(sim: &Simulator, exporter: &Exporter, more: usize) {
    let target = polls(sim) + more;
    exporter.wait_for(&format!("{more} more polls"), WAIT, |_| {
        polls(sim) >= target
    });
}

fn keepalives(samples: &[Sample], token_id: &str, result: &str) -> f64 {
    value(
        samples,
        "okta_api_token_keepalive_total",
        &[("token_id", token_id), ("result", result)],
    )
}

fn status_is(samples: &[Sample], token_id: &str, status: &str) -> bool {
    find(
        samples,
        "okta_api_token_status",
        &[("token_id", token_id), ("status", status)],
    )
    .iter()
    .any(|s| s.value == 1.0)
}

fn start(sim: &Simulator, keepalive: String) -> Exporter {
    let mut setup = Setup::new(sim.url(), API_TOKEN);
    setup.org_yaml = keepalive;
    Exporter::start(setup)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_due_token_is_used_once_and_green_at_the_next_poll_and_one_far_from_expiry_is_left_alone()
{
    let sim = Simulator::start(API_TOKEN, tokens()).await.unwrap();
    sim.set_token_secret(BREAK_GLASS, BREAK_GLASS_SECRET);
    sim.set_token_secret(REVIEW, REVIEW_SECRET);
    let dir = tempfile::tempdir().unwrap();
    let files = secret_files(
        dir.path(),
        &[
            ("break-glass", BREAK_GLASS_SECRET),
            ("review", REVIEW_SECRET),
        ],
    );
    let before = Utc::now();
    let exporter = start(
        &sim,
        keepalive_yaml(&[(BREAK_GLASS, &files[0]), (REVIEW, &files[1])]),
    );

    let samples = exporter.wait_for("the break-glass token refreshed", WAIT, |s| {
        !find(s, "okta_api_token_keepalive_total", &[]).is_empty()
            && keepalives(s, BREAK_GLASS, "refreshed") == 1.0
    });
    assert!(
        status_is(&samples, BREAK_GLASS, "green"),
        "green once Okta moved its expiry"
    );
    let expires_in = value(
        &samples,
        "okta_api_token_time_to_expiry_seconds",
        &[("token_id", BREAK_GLASS)],
    );
    assert!(
        expires_in > (29 * 86_400) as f64,
        "a fresh 30-day window: {expires_in}"
    );
    let last = value(
        &samples,
        "okta_api_token_keepalive_last_timestamp_seconds",
        &[("token_id", BREAK_GLASS)],
    );
    assert!(last >= epoch(before) && last <= epoch(Utc::now()), "{last}");

    wait_for_more_polls(&sim, &exporter, 3);
    assert_eq!(
        calls_with(&sim, BREAK_GLASS_SECRET),
        1,
        "one call, then nothing while the token is far from expiry"
    );
    assert_eq!(calls_with(&sim, REVIEW_SECRET), 0, "20 days away: not due");
    let samples = exporter.metrics();
    for result in [
        "refreshed",
        "not_refreshed",
        "rejected",
        "skipped_owner_inactive",
        "error",
    ] {
        assert_eq!(keepalives(&samples, REVIEW, result), 0.0, "{result}");
    }
    assert!(
        find(
            &samples,
            "okta_api_token_keepalive_last_timestamp_seconds",
            &[("token_id", REVIEW)]
        )
        .is_empty(),
        "no last keep-alive before the first"
    );
    let calls = value(
        &samples,
        "okta_api_requests_total",
        &[("endpoint", "/api/v1/users/me"), ("code", "200")],
    );
    assert_eq!(calls, 1.0, "the call is counted as a request of the org");

    // Both tokens are marked on the page and in the JSON; the secrets are nowhere.
    let (_, _, page) = exporter.get("/");
    assert_eq!(page.matches("kept alive</span>").count(), 2, "{page}");
    assert!(page.contains(" · refreshed <time"), "{page}");
    assert!(
        page.contains("title=\"The exporter uses this token when it expires within 10 days\""),
        "{page}"
    );
    let (_, _, json) = exporter.get("/api/v1/tokens");
    let json: serde_json::Value = serde_json::from_str(&json).unwrap();
    let token = |id: &str| {
        json[0]["tokens"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["id"] == id)
            .unwrap()
            .clone()
    };
    assert_eq!(token(BREAK_GLASS)["keepalive"]["last_result"], "refreshed");
    assert_eq!(
        token(REVIEW)["keepalive"]["when_expires_within_seconds"],
        10 * 86_400
    );
    assert!(token(REVIEW)["keepalive"]["last_refreshed_at"].is_null());
    let (_, _, metrics) = exporter.get("/metrics");
    let logs = exporter.logs().join("\n");
    for (what, text) in [
        ("logs", &logs),
        ("metrics", &metrics),
        ("page", &page),
        ("JSON", &json.to_string()),
    ] {
        for secret in [BREAK_GLASS_SECRET, REVIEW_SECRET] {
            assert!(!text.contains(secret), "a kept-alive secret in the {what}");
        }
        assert!(!text.contains("canary"), "part of a secret in the {what}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_holding_another_token_gives_not_refreshed_a_warning_and_no_retry_loop() {
    let sim = Simulator::start(API_TOKEN, tokens()).await.unwrap();
    // The review token's secret sits in the break-glass token's file: same owner, so Okta
    // accepts the call, but it uses the review token, not the break-glass one.
    sim.set_token_secret(REVIEW, REVIEW_SECRET);
    let dir = tempfile::tempdir().unwrap();
    let files = secret_files(dir.path(), &[("break-glass", REVIEW_SECRET)]);
    let exporter = start(&sim, keepalive_yaml(&[(BREAK_GLASS, &files[0])]));

    let samples = exporter.wait_for("not_refreshed", WAIT, |s| {
        !find(s, "okta_api_token_keepalive_total", &[]).is_empty()
            && keepalives(s, BREAK_GLASS, "not_refreshed") == 1.0
    });
    assert_eq!(keepalives(&samples, BREAK_GLASS, "refreshed"), 0.0);
    assert!(
        status_is(&samples, BREAK_GLASS, "red"),
        "still red: nothing used it"
    );
    let warnings = exporter.wait_for_log(
        "the warning",
        |l| l.contains("level=warn") && l.contains(BREAK_GLASS),
        |lines| !lines.is_empty(),
    );
    assert!(
        warnings[0].contains("did not move") && warnings[0].contains("break-glass"),
        "names the token and its file: {}",
        warnings[0]
    );
    wait_for_more_polls(&sim, &exporter, 3);
    assert_eq!(
        calls_with(&sim, REVIEW_SECRET),
        1,
        "held back a day: no retry loop"
    );
    assert_eq!(
        keepalives(&exporter.metrics(), BREAK_GLASS, "not_refreshed"),
        1.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_whose_owner_is_suspended_is_skipped_without_a_call() {
    let sim = Simulator::start(API_TOKEN, tokens()).await.unwrap();
    sim.set_token_secret(BREAK_GLASS, BREAK_GLASS_SECRET);
    sim.set_user(SimUser {
        id: OWNER.into(),
        login: "break.glass@acme.example".into(),
        status: "SUSPENDED".into(),
    });
    let dir = tempfile::tempdir().unwrap();
    let files = secret_files(dir.path(), &[("break-glass", BREAK_GLASS_SECRET)]);
    let exporter = start(&sim, keepalive_yaml(&[(BREAK_GLASS, &files[0])]));

    exporter.wait_for("skipped_owner_inactive", WAIT, |s| {
        !find(s, "okta_api_token_keepalive_total", &[]).is_empty()
            && keepalives(s, BREAK_GLASS, "skipped_owner_inactive") >= 1.0
    });
    exporter.wait_for_log(
        "the warning",
        |l| l.contains("level=warn") && l.contains(BREAK_GLASS) && l.contains("SUSPENDED"),
        |lines| !lines.is_empty(),
    );
    wait_for_more_polls(&sim, &exporter, 2);
    assert_eq!(calls_with(&sim, BREAK_GLASS_SECRET), 0);
    let samples = exporter.metrics();
    assert_eq!(keepalives(&samples, BREAK_GLASS, "rejected"), 0.0);
    assert_eq!(keepalives(&samples, BREAK_GLASS, "refreshed"), 0.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_secret_of_a_revoked_token_gives_rejected_and_a_warning_once() {
    let sim = Simulator::start(API_TOKEN, tokens()).await.unwrap();
    // The file holds the secret of a token that was revoked (a predecessor of this one).
    let revoked = "00Trevoked0000000003";
    let mut listed = tokens();
    listed.push(sim_token(revoked, "revoked", TimeDelta::days(9), "P30D"));
    sim.set_tokens(listed);
    sim.set_token_secret(revoked, BREAK_GLASS_SECRET);
    assert!(sim.remove_token(revoked));
    let dir = tempfile::tempdir().unwrap();
    let files = secret_files(dir.path(), &[("break-glass", BREAK_GLASS_SECRET)]);
    let exporter = start(&sim, keepalive_yaml(&[(BREAK_GLASS, &files[0])]));

    exporter.wait_for("rejected", WAIT, |s| {
        !find(s, "okta_api_token_keepalive_total", &[]).is_empty()
            && keepalives(s, BREAK_GLASS, "rejected") == 1.0
    });
    let warnings = exporter.wait_for_log(
        "the warning",
        |l| l.contains("level=warn") && l.contains(BREAK_GLASS),
        |lines| !lines.is_empty(),
    );
    assert!(warnings[0].contains("401"), "{}", warnings[0]);
    wait_for_more_polls(&sim, &exporter, 3);
    assert_eq!(calls_with(&sim, BREAK_GLASS_SECRET), 1, "no retry loop");
    let warned: Vec<String> = exporter
        .logs()
        .into_iter()
        .filter(|l| l.contains("level=warn") && l.contains(BREAK_GLASS))
        .collect();
    assert_eq!(warned.len(), 1, "said once: {warned:#?}");
    let logs = exporter.logs().join("\n");
    assert!(!logs.contains(BREAK_GLASS_SECRET) && !logs.contains("canary"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listed_id_okta_does_not_know_is_reported_once_and_never_called() {
    let sim = Simulator::start(API_TOKEN, tokens()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let files = secret_files(dir.path(), &[("typo", BREAK_GLASS_SECRET)]);
    let exporter = start(&sim, keepalive_yaml(&[("00Tnosuchtoken000009", &files[0])]));
    exporter.wait_for_log(
        "the warning",
        |l| l.contains("level=warn") && l.contains("00Tnosuchtoken000009"),
        |lines| !lines.is_empty(),
    );
    wait_for_more_polls(&sim, &exporter, 3);
    let warned = exporter
        .logs()
        .into_iter()
        .filter(|l| l.contains("level=warn") && l.contains("00Tnosuchtoken000009"))
        .count();
    assert_eq!(warned, 1, "said once");
    assert_eq!(calls_with(&sim, BREAK_GLASS_SECRET), 0);
}

/// `--config.check` refuses a list a start would refuse, and says nothing about ids it cannot
/// know before a poll.
#[test]
fn config_check_validates_the_list() {
    let dir = tempfile::tempdir().unwrap();
    let files = secret_files(
        dir.path(),
        &[
            ("own", API_TOKEN),
            ("break-glass", BREAK_GLASS_SECRET),
            ("review", REVIEW_SECRET),
        ],
    );
    let config = |keepalive: &str| {
        let path = dir.path().join("config.yml");
        std::fs::write(
            &path,
            format!(
                "orgs:\n  - name: acme\n    url: https://acme.okta.com\n    auth:\n      ssws:\n        token_file: {}\n{keepalive}",
                files[0].display()
            ),
        )
        .unwrap();
        let output = std::process::Command::new(BIN)
            .arg(format!("--config.file={}", path.display()))
            .arg("--config.check")
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        (output.status.code(), text)
    };
    let missing = dir.path().join("missing.token");
    let cases = [
        (
            "unknown ids are fine until polled",
            keepalive_yaml(&[("00Tnotyetpolled00001", &files[1])]),
            Some(0),
            "1 token kept alive",
        ),
        (
            "a duplicate id",
            keepalive_yaml(&[(BREAK_GLASS, &files[1]), (BREAK_GLASS, &files[2])]),
            Some(2),
            "keepalive[1].token_id: token 00Tbreakglass0000001 is listed twice",
        ),
        (
            "a missing file",
            keepalive_yaml(&[(BREAK_GLASS, &missing)]),
            Some(2),
            "keepalive[0].token_file: cannot read the token file",
        ),
        (
            "the exporter's own token",
            keepalive_yaml(&[(BREAK_GLASS, &files[0])]),
            Some(2),
            "the exporter's own API token",
        ),
        (
            "a threshold past red",
            format!(
                "{}        when_expires_within: 3d\n",
                keepalive_yaml(&[(BREAK_GLASS, &files[1])])
            ),
            Some(0),
            "note: org acme: token 00Tbreakglass0000001 is kept alive only when it expires within 3 days",
        ),
    ];
    for (case, keepalive, code, needle) in cases {
        let (got, text) = config(&keepalive);
        assert_eq!(got, code, "{case}: {text}");
        assert!(text.contains(needle), "{case}: {text}");
        for secret in [API_TOKEN, BREAK_GLASS_SECRET, REVIEW_SECRET] {
            assert!(!text.contains(secret), "{case}: a secret in {text}");
        }
    }

    // A secret others may read is said, as for the exporter's own token.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let open = dir.path().join("open.token");
        std::fs::write(&open, "00open-token\n").unwrap();
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o644)).unwrap();
        let (code, text) = config(&keepalive_yaml(&[(BREAK_GLASS, &open)]));
        assert_eq!(code, Some(0), "{text}");
        let warning = text
            .lines()
            .find(|l| l.contains("readable by others"))
            .unwrap_or_else(|| panic!("no permission warning: {text}"));
        assert!(warning.contains("open.token"), "{warning}");
        // Readable by its group only, as Kubernetes mounts a Secret for a non-root user: quiet.
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o640)).unwrap();
        let (code, text) = config(&keepalive_yaml(&[(BREAK_GLASS, &open)]));
        assert_eq!(code, Some(0), "{text}");
        assert!(!text.contains("readable by"), "{text}");
    }
}

/// `report` marks the tokens the configuration keeps alive, and never uses them.
#[test]
fn report_marks_kept_alive_tokens_and_uses_none() {
    let run = |format: &str| {
        let output = std::process::Command::new(BIN)
            .args(["report", "--demo", "--fail-on=none", "--format", format])
            .env("NO_COLOR", "1")
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(0), "{output:?}");
        String::from_utf8(output.stdout).unwrap()
    };
    let table = run("table");
    let marked: Vec<&str> = table
        .lines()
        .filter(|l| l.contains("(kept alive)"))
        .collect();
    assert_eq!(marked.len(), 1, "{table}");
    assert!(marked[0].contains("Quarterly access review"), "{table}");
    let json: serde_json::Value = serde_json::from_str(&run("json")).unwrap();
    let kept: Vec<&serde_json::Value> = json[0]["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| !t["keepalive"].is_null())
        .collect();
    assert_eq!(kept.len(), 1);
    assert_eq!(kept[0]["id"], "00Tdemo0000000000006");
    assert!(
        kept[0]["keepalive"]["last_result"].is_null(),
        "a report makes no call"
    );
    let csv = run("csv");
    let header: Vec<&str> = csv.lines().next().unwrap().split(',').collect();
    let column = header
        .iter()
        .position(|h| *h == "keepalive_when_expires_within_seconds")
        .expect("the CSV has the column");
    let review = csv
        .lines()
        .find(|l| l.contains("00Tdemo0000000000006"))
        .unwrap();
    assert_eq!(review.split(',').nth(column), Some("864000"), "{review}");
}

/// Okta's concurrency 429 answers `X-Rate-Limit-Limit: 0`: "too many at once", not "no calls".
/// Taken as a budget, that zero would stop every keep-alive until a restart, and the tokens
/// would lapse. After one such answer (the calls of that poll wait for its reset), the due
/// token Okta did not count as used is still kept alive at the next poll.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_concurrency_429_on_a_keep_alive_call_does_not_stop_the_others() {
    const SECOND: &str = "00Tsecond00000000003";
    const SECOND_SECRET: &str = "00canary-second-4b7d";
    let mut listed = tokens();
    listed.push(sim_token(
        SECOND,
        "Nightly export",
        TimeDelta::days(6),
        "P30D",
    ));
    let sim = Simulator::start(API_TOKEN, listed).await.unwrap();
    sim.set_token_secret(BREAK_GLASS, BREAK_GLASS_SECRET);
    sim.set_token_secret(SECOND, SECOND_SECRET);
    sim.push_endpoint_fault(
        okta_simulator::SimEndpoint::Me,
        okta_simulator::Fault::RateLimited {
            reset_after: Duration::from_secs(1),
            concurrency: true,
        },
    );
    let dir = tempfile::tempdir().unwrap();
    let files = secret_files(
        dir.path(),
        &[
            ("break-glass", BREAK_GLASS_SECRET),
            ("second", SECOND_SECRET),
        ],
    );
    let exporter = start(
        &sim,
        keepalive_yaml(&[(BREAK_GLASS, &files[0]), (SECOND, &files[1])]),
    );
    let samples = exporter.wait_for("one 429, and the other token refreshed", WAIT, |s| {
        let errors = keepalives(s, BREAK_GLASS, "error") + keepalives(s, SECOND, "error");
        let refreshed =
            keepalives(s, BREAK_GLASS, "refreshed") + keepalives(s, SECOND, "refreshed");
        errors >= 1.0 && refreshed >= 1.0
    });
    let me = [("endpoint", "/api/v1/users/me")];
    assert!(value(&samples, "okta_rate_limit_limit", &me) > 0.0);
    assert!(!find(
        &samples,
        "okta_rate_limit_exceeded_last_timestamp_seconds",
        &me
    )
    .is_empty());
    assert_eq!(
        value(
            &samples,
            "okta_api_requests_total",
            &[("endpoint", "/api/v1/users/me"), ("code", "429")]
        ),
        1.0
    );
}
