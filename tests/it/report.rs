//! `okta-token-exporter report` as a cron job or CI step runs it: one poll of each org, the
//! tokens printed as a table, JSON or CSV, and an exit code that says what to do.

use crate::common;

use std::path::Path;
use std::process::{Command, Output};

use chrono::TimeDelta;
use common::*;
use okta_simulator::{SimToken, Simulator};
use serde_json::Value;

const API_TOKEN: &str = "00report-test-token-canary";

fn green() -> SimToken {
    sim_token(
        "00Tgreen000000000001",
        "SCIM provisioning",
        TimeDelta::days(30) - TimeDelta::hours(1),
        "P30D",
    )
}

fn gray() -> SimToken {
    sim_token(
        "00Tgray0000000000002",
        "Quarterly review",
        TimeDelta::days(20),
        "P30D",
    )
}

fn red() -> SimToken {
    sim_token(
        "00Tred00000000000003",
        "Nightly export",
        TimeDelta::days(2),
        "P30D",
    )
}

/// A config file for these orgs (`name`, `url`), all with the same token, no retries.
fn config(dir: &Path, orgs: &[(&str, &str)]) -> String {
    let token = dir.join("okta.token");
    std::fs::write(&token, format!("{API_TOKEN}\n")).unwrap();
    set_private(&token);
    let mut yaml = String::from("http:\n  retries: 0\n  connect_timeout: 2s\norgs:\n");
    for (name, url) in orgs {
        yaml.push_str(&format!(
            "  - name: {name}\n    url: {url}\n    auth:\n      ssws:\n        token_file: {}\n",
            token.display()
        ));
    }
    let path = dir.join("config.yml");
    std::fs::write(&path, yaml).unwrap();
    path.display().to_string()
}

fn report(args: &[&str]) -> Output {
    Command::new(BIN)
        .arg("report")
        .args(args)
        .env_remove("NO_COLOR")
        .output()
        .expect("run report")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).unwrap()
}

/// Runs report against one simulated org holding `tokens`.
async fn report_on(tokens: Vec<SimToken>, args: &[&str]) -> Output {
    let sim = Simulator::start(API_TOKEN, tokens).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), &[("acme", &sim.url())]);
    let mut all = vec![format!("--config.file={config}")];
    all.extend(args.iter().map(|a| a.to_string()));
    // Blocking for the child process keeps one runtime worker; the simulator has the other.
    tokio::task::spawn_blocking(move || report(&all.iter().map(String::as_str).collect::<Vec<_>>()))
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exit_0_when_no_token_is_at_the_threshold() {
    let out = report_on(vec![green(), gray()], &[]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let table = text(&out.stdout);
    assert!(table.contains("SCIM provisioning") && table.contains("Quarterly review"));
    assert!(
        table.contains("acme: 2 tokens (Green 1, Gray 1, Red 0, Yellow 0)"),
        "{table}"
    );
    assert!(!table.contains('\x1b'), "no colour when piped:\n{table}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exit_1_when_a_token_is_at_or_beyond_the_threshold() {
    let out = report_on(vec![green(), red()], &[]).await;
    assert_eq!(
        out.status.code(),
        Some(1),
        "red fails the default --fail-on red"
    );
    let out = report_on(vec![green(), red()], &["--fail-on=none"]).await;
    assert_eq!(out.status.code(), Some(0));
    let out = report_on(vec![green(), gray()], &["--fail-on=gray"]).await;
    assert_eq!(out.status.code(), Some(1), "gray is at --fail-on gray");
    let out = report_on(vec![green(), gray()], &["--fail-on=yellow"]).await;
    assert_eq!(out.status.code(), Some(0), "gray is below yellow");
}

#[test]
fn exit_2_for_usage_and_configuration_errors() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.yml");
    let cases: &[&[&str]] = &[
        &["--format=xml"],
        &["--fail-on=purple"],
        &["--demo", "--okta.org-url=https://acme.okta.com"],
        &[&format!("--config.file={}", missing.display())],
    ];
    for args in cases {
        let out = report(args);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: {}",
            text(&out.stderr)
        );
        assert!(out.stdout.is_empty(), "{args:?}");
    }
    let out = report(&[&format!("--config.file={}", missing.display())]);
    assert!(
        text(&out.stderr).contains("missing.yml"),
        "names the file: {}",
        text(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_org_down_exits_3_and_the_others_are_still_printed() {
    let sim = Simulator::start(API_TOKEN, vec![green()]).await.unwrap();
    // A port nobody listens on: bind one, note it, close it.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let down = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), &[("acme", &sim.url()), ("beta", &down)]);
    let out = tokio::task::spawn_blocking(move || {
        report(&[&format!("--config.file={config}"), "--format=json"])
    })
    .await
    .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    let orgs: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(orgs[0]["org"], "acme");
    assert_eq!(orgs[0]["up"], true);
    assert_eq!(orgs[0]["tokens"][0]["id"], "00Tgreen000000000001");
    assert_eq!(orgs[1]["org"], "beta");
    assert_eq!(orgs[1]["up"], false);
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("org beta") && stderr.contains("could not be polled"),
        "{stderr}"
    );
    assert!(!stderr.contains("org acme"), "{stderr}");
    assert!(
        !stderr.contains(API_TOKEN) && !text(&out.stdout).contains(API_TOKEN),
        "the token never shows"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_and_csv_carry_the_same_rows() {
    let json = report_on(vec![red(), green()], &["--format=json"]).await;
    let orgs: Value = serde_json::from_slice(&json.stdout).unwrap();
    let tokens = orgs[0]["tokens"].as_array().unwrap();
    let ids: Vec<_> = tokens.iter().map(|t| t["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["00Tred00000000000003", "00Tgreen000000000001"]);
    assert_eq!(tokens[0]["status"], "red");

    let csv = report_on(vec![red(), green()], &["--format=csv"]).await;
    let csv = text(&csv.stdout);
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 3, "a header and one line per token:\n{csv}");
    let header: Vec<&str> = lines[0].split(',').collect();
    assert_eq!(header[0], "org");
    // The one nested JSON field, `keepalive`, is flattened into `keepalive_…` columns.
    let json_fields: Vec<&str> = tokens[0]
        .as_object()
        .unwrap()
        .keys()
        .flat_map(|key| match key.as_str() {
            "keepalive" => vec![
                "keepalive_when_expires_within_seconds",
                "keepalive_last_refreshed_at",
                "keepalive_last_result",
            ],
            key => vec![key],
        })
        .collect();
    let mut sorted_header = header[1..].to_vec();
    sorted_header.sort_unstable();
    let mut sorted_json = json_fields.clone();
    sorted_json.sort_unstable();
    assert_eq!(
        sorted_header, sorted_json,
        "CSV columns are the JSON fields"
    );
    let first: Vec<&str> = lines[1].split(',').collect();
    assert_eq!(first[0], "acme");
    assert_eq!(
        first[header.iter().position(|h| *h == "id").unwrap()],
        "00Tred00000000000003"
    );
    assert_eq!(
        first[header.iter().position(|h| *h == "status").unwrap()],
        "red"
    );
}

/// At a terminal the status words are coloured; NO_COLOR turns that off. `script` (util-linux)
/// gives report a pseudo-terminal.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(not(tool_script), ignore = "needs `script`: apt-get install bsdutils")]
async fn colours_only_on_a_terminal_and_never_with_no_color() {
    let Some(script) = require_tool("script", "bsdutils") else {
        return;
    };
    let sim = Simulator::start(API_TOKEN, vec![red(), green()])
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), &[("acme", &sim.url())]);
    let at_terminal = move |no_color: Option<&str>| {
        let command = format!("{BIN} report --config.file={config}");
        let mut run = Command::new(&script);
        run.args(["-qec", &command, "/dev/null"])
            .env_remove("NO_COLOR");
        if let Some(value) = no_color {
            run.env("NO_COLOR", value);
        }
        run.output().unwrap()
    };
    let (coloured, plain) =
        tokio::task::spawn_blocking(move || (at_terminal(None), at_terminal(Some("1"))))
            .await
            .unwrap();
    assert_eq!(
        coloured.status.code(),
        Some(1),
        "script passes the exit code on"
    );
    let coloured = text(&coloured.stdout);
    assert!(coloured.contains("\x1b[1;31mRed\x1b[0m"), "{coloured:?}");
    assert!(coloured.contains("\x1b[32mGreen\x1b[0m"), "{coloured:?}");
    let plain = text(&plain.stdout);
    assert!(plain.contains("Red"), "{plain}");
    assert!(
        !plain.contains("\x1b["),
        "NO_COLOR: no escape sequence at all, not even the progress line: {plain:?}"
    );
}

#[test]
fn the_demo_org_reports_without_okta() {
    let out = report(&["--demo", "--format=json"]);
    assert_eq!(out.status.code(), Some(1), "the demo org has red tokens");
    let orgs: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(orgs[0]["org"], "demo");
    assert_eq!(orgs[0]["up"], true);
    assert!(orgs[0]["tokens"].as_array().unwrap().len() >= 10);
    assert!(
        orgs[0]["tokens"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["owner_login"].is_string()),
        "owners are looked up as configured"
    );
}
