//! `--storage.path`: what the exporter knew survives a restart, so that alerts neither resolve
//! while Okta is unreachable nor miss a token that lapsed while the exporter was down.

use crate::common;

use std::time::Duration;

use chrono::{TimeDelta, Utc};
use common::*;
use okta_simulator::Simulator;

const API_TOKEN: &str = "00storageCanaryT0k3n-71c9";
const WAIT: Duration = Duration::from_secs(20);

fn with_storage(org_url: String, api_token: &str, dir: &std::path::Path) -> Setup {
    let mut setup = Setup::new(org_url, api_token);
    setup
        .extra_args
        .push(format!("--storage.path={}", dir.display()));
    setup
}

/// A simulated org with one token, 20 days from expiry.
async fn one_token_org() -> Simulator {
    let token = sim_token("00T00000000000000001", "scim", TimeDelta::days(20), "P30D");
    Simulator::start(API_TOKEN, vec![token]).await.unwrap()
}

fn tokens(samples: &[Sample]) -> Vec<String> {
    let mut ids: Vec<String> = find(samples, "okta_api_token_info", &[])
        .iter()
        .map(|s| s.label("token_id").to_owned())
        .collect();
    ids.sort();
    ids
}

fn up(samples: &[Sample]) -> f64 {
    value(samples, "okta_up", &[("org", "test-org")])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_while_okta_fails_serves_the_last_known_tokens_at_once() {
    let sim = Simulator::start(
        API_TOKEN,
        vec![
            sim_token("00T00000000000000001", "scim", TimeDelta::days(20), "P30D"),
            sim_token("00T00000000000000002", "siem", TimeDelta::days(2), "P30D"),
        ],
    )
    .await
    .unwrap();
    let storage = tempfile::tempdir().unwrap();
    let first = Exporter::start(with_storage(sim.url(), API_TOKEN, storage.path()));
    let samples = first.wait_for("both tokens", WAIT, |s| tokens(s).len() == 2);
    let last_success = value(&samples, "okta_last_successful_poll_timestamp_seconds", &[]);
    assert!(last_success > 0.0);
    assert!(first.terminate().success());

    let file = storage.path().join("test-org.json");
    let written = std::fs::read_to_string(&file).expect("a state file per org");
    assert!(
        !written.contains(API_TOKEN),
        "the state file holds no secret"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }

    // Okta now refuses every poll (here: a wrong token, a 401 on each).
    let second = Exporter::start(with_storage(sim.url(), "a-wrong-token", storage.path()));
    let samples = second.metrics();
    assert_eq!(
        tokens(&samples),
        ["00T00000000000000001", "00T00000000000000002"],
        "served from the state file before any poll answered"
    );
    assert_eq!(up(&samples), 0.0, "not up until a poll succeeds");
    let samples = second.wait_for("a failed poll", WAIT, |s| {
        value(s, "okta_poll_errors_total", &[("reason", "unauthorized")]) >= 1.0
    });
    assert_eq!(tokens(&samples).len(), 2, "a failed poll keeps them");
    assert_eq!(up(&samples), 0.0);
    let restored = value(&samples, "okta_last_successful_poll_timestamp_seconds", &[]);
    assert!(
        (restored - last_success).abs() < 0.001,
        "the original last success ({last_success}), not the restart ({restored})"
    );
    let red = value(
        &samples,
        "okta_api_token_status",
        &[("token_id", "00T00000000000000002"), ("status", "red")],
    );
    assert_eq!(red, 1.0, "the red token keeps paging");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_that_lapsed_while_the_exporter_was_down_counts_as_expired() {
    let lapsing = sim_token("00T00000000000000009", "ci", TimeDelta::seconds(2), "PT5M");
    let lapses_at = lapsing.expires_at;
    let sim = Simulator::start(
        API_TOKEN,
        vec![
            sim_token("00T00000000000000001", "scim", TimeDelta::days(20), "P30D"),
            lapsing,
        ],
    )
    .await
    .unwrap();
    let storage = tempfile::tempdir().unwrap();
    let first = Exporter::start(with_storage(sim.url(), API_TOKEN, storage.path()));
    first.wait_for("both tokens", WAIT, |s| tokens(s).len() == 2);
    assert!(first.terminate().success());

    // Down while the token lapses: Okta revokes it for lack of use.
    assert!(sim.remove_token("00T00000000000000009"));
    let deadline = std::time::Instant::now() + WAIT;
    while Utc::now() <= lapses_at {
        assert!(std::time::Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(50));
    }

    let second = Exporter::start(with_storage(sim.url(), API_TOKEN, storage.path()));
    let samples = second.wait_for("the lapse to be counted", WAIT, |s| {
        value(s, "okta_api_tokens_removed_total", &[("reason", "expired")]) == 1.0
    });
    assert_eq!(tokens(&samples), ["00T00000000000000001"]);
    assert_eq!(
        value(
            &samples,
            "okta_api_tokens_removed_total",
            &[("reason", "revoked")]
        ),
        0.0
    );
    assert!(second.terminate().success());

    let lapsed = [("token_id", "00T00000000000000009")];
    let removed = find(
        &samples,
        "okta_api_token_removed_timestamp_seconds",
        &lapsed,
    )[0]
    .clone();
    assert_eq!(removed.label("reason"), "expired");
    assert_eq!(removed.label("token_name"), "ci");
    assert!(
        removed.value > epoch(lapses_at),
        "seen gone after it lapsed"
    );

    // The count itself survives the next restart, and so does the lapsed token, so that its
    // alert names it for a day whichever replica is scraped.
    let third = Exporter::start(with_storage(sim.url(), "a-wrong-token", storage.path()));
    let samples = third.metrics();
    assert_eq!(
        value(
            &samples,
            "okta_api_tokens_removed_total",
            &[("reason", "expired")]
        ),
        1.0
    );
    let restored = find(
        &samples,
        "okta_api_token_removed_timestamp_seconds",
        &lapsed,
    );
    assert_eq!(restored.len(), 1, "{samples:?}");
    assert!((restored[0].value - removed.value).abs() < 0.001);
    assert_eq!(
        restored[0].label("last_status"),
        removed.label("last_status")
    );
}

/// A state file keeps the System Log's `next` link. One Okta no longer serves (a cursor that
/// aged out, a file restored from an old backup) is refused with 400: the exporter says so once,
/// starts a new polling query no further back than Okta serves (180 days), and reads on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_system_log_cursor_okta_refuses_starts_a_new_query_instead_of_wedging() {
    let sim = one_token_org().await;
    let storage = tempfile::tempdir().unwrap();
    let first = Exporter::start(with_storage(sim.url(), API_TOKEN, storage.path()));
    first.wait_for("a poll", WAIT, |s| tokens(s).len() == 1);
    assert!(first.terminate().success());
    let file = storage.path().join("test-org.json");
    let mut state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    let next = state["system_log_next"]
        .as_str()
        .expect("the next link is kept")
        .to_owned();
    assert!(
        next.starts_with(&sim.url()) && next.contains("after="),
        "{next}"
    );
    state["system_log_next"] =
        format!("{}/api/v1/logs?after=not-a-cursor-of-this-org", sim.url()).into();
    state["system_log_until"] = (Utc::now() - TimeDelta::days(200)).to_rfc3339().into();
    std::fs::write(&file, state.to_string()).unwrap();

    let second = Exporter::start(with_storage(sim.url(), API_TOKEN, storage.path()));
    let reads = || {
        sim.requests()
            .into_iter()
            .filter(|r| r.path_and_query.starts_with("/api/v1/logs"))
            .collect::<Vec<_>>()
    };
    let samples = second.wait_for("a read after the refused cursor", WAIT, |_| {
        let reads = reads();
        let refused = reads.iter().position(|r| r.status == 400);
        refused.is_some_and(|i| reads[i..].iter().filter(|r| r.status == 200).count() >= 2)
    });
    let refused = reads().into_iter().filter(|r| r.status == 400).count();
    assert_eq!(
        refused,
        1,
        "the refused cursor is asked for once: {:#?}",
        reads()
    );
    assert_eq!(
        value(
            &samples,
            "okta_enrichment_errors_total",
            &[("kind", "system_log")]
        ),
        1.0
    );
    let warnings: Vec<String> = second
        .logs()
        .into_iter()
        .filter(|l| l.contains("level=warn") && l.contains("System Log"))
        .collect();
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("reading the System Log failed")),
        "{warnings:#?}"
    );
    assert!(
        warnings.iter().any(|w| w.contains("180 days")),
        "{warnings:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupt_state_file_is_set_aside_and_the_org_starts_empty() {
    let sim = one_token_org().await;
    let storage = tempfile::tempdir().unwrap();
    let file = storage.path().join("test-org.json");
    std::fs::write(
        &file,
        "{\"format\":\"okta-token-exporter/org-state\",\"vers",
    )
    .unwrap();
    let exporter = Exporter::start(with_storage(sim.url(), "a-wrong-token", storage.path()));
    let samples = exporter.wait_for("a failed poll", WAIT, |s| {
        value(s, "okta_poll_errors_total", &[("reason", "unauthorized")]) >= 1.0
    });
    assert!(
        tokens(&samples).is_empty(),
        "no token from a file we cannot trust"
    );
    assert_eq!(
        value(&samples, "okta_last_successful_poll_timestamp_seconds", &[]),
        0.0
    );
    let warnings: Vec<String> = exporter
        .logs()
        .into_iter()
        .filter(|l| l.contains("level=warn") && l.contains("cannot be trusted"))
        .collect();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].contains("test-org.json"), "{}", warnings[0]);
    let kept: Vec<_> = std::fs::read_dir(storage.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("test-org.json.refused-"))
        .collect();
    assert_eq!(kept.len(), 1, "the bad file is kept for a human to read");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_state_file_that_cannot_be_written_does_not_stop_the_polls() {
    let sim = one_token_org().await;
    let storage = tempfile::tempdir().unwrap();
    // The temporary file's path is taken (a read-only directory does not stop root).
    std::fs::create_dir(storage.path().join(".test-org.json.tmp")).unwrap();
    let exporter = Exporter::start(with_storage(sim.url(), API_TOKEN, storage.path()));
    let samples = exporter.wait_for("two failed writes", WAIT, |s| {
        value(s, "okta_storage_write_failures_total", &[]) >= 2.0
    });
    assert_eq!(up(&samples), 1.0, "polls succeed");
    assert_eq!(tokens(&samples).len(), 1);
    let warnings = exporter
        .logs()
        .iter()
        .filter(|l| l.contains("level=warn") && l.contains("cannot write the state file"))
        .count();
    assert_eq!(warnings, 1, "one warning, not one per poll");
}
