//! The monitoring assets shipped with the exporter: Prometheus rules (`alerts/`), their unit
//! tests (`alerts/tests/`), the Alertmanager example and the Grafana dashboard (`dashboards/`),
//! checked against what the real binary exports, against the README and against the runbooks
//! (`docs/runbooks.md`). The rules and the dashboard are rendered from the mixin (`mixin/`;
//! `mixin` checks that they are as rendered): these tests check the rendered default.
//!
//! The metric names and label sets the rules, their unit tests and the dashboard may use come
//! from the real binary: `okta-token-exporter demo` (every token, owner and System Log series),
//! an exporter whose org answers every call with 401 (okta_up 0, errors, a last success of 0),
//! the keep-alive series of an exporter that keeps a token of a simulated org alive, and the
//! removal and 429 series of an exporter whose simulated org deletes a deactivated user's
//! tokens, revokes one and answers a listing with 429, all scraped over loopback. So a unit test cannot feed an input the exporter cannot produce, and
//! a renamed metric breaks the rules' tests here, not in production.
//!
//! The rule and Alertmanager checks run Debian's `promtool` and `amtool` (packages `prometheus`
//! and `prometheus-alertmanager`). Without them those tests print a loud SKIPPED line and pass,
//! except on CI (`CI=true`), where a missing tool fails the test.

use crate::common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use common::{find, parse_metrics, set_private, sim_token, value, Exporter, Sample, Setup};
use serde_json::Value;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const RULES: &str = "alerts/okta-api-tokens.rules.yml";
const RULE_TESTS: &str = "alerts/tests";
const ALERTMANAGER: &str = "alerts/alertmanager.yml";
const DASHBOARD: &str = "dashboards/okta-api-tokens.json";
const DASHBOARD_UID: &str = "okta-api-tokens";
/// Every runbook_url of the default rules: the runbooks' page, then the alert's anchor there
/// (its name in lower case).
const RUNBOOK_PREFIX: &str = "docs/runbooks.md#";
const RUNBOOKS: &str = "docs/runbooks.md";
/// Where the alerts are documented, with a table of every rule.
const ALERTS_DOC: &str = "docs/alerts.md";
/// The unit tests of the rules rendered with `mixin/tests/config.libsonnet`, and the target
/// labels their inputs carry besides `job` and `instance` (a namespace, the cluster label).
const MIXIN_RULE_TESTS: &str = "mixin/tests";
const MIXIN_TARGET_LABELS: &[&str] = &["namespace", "k8s_cluster"];
/// Labels Prometheus adds to every scraped series (target labels): allowed in unit-test inputs.
const TARGET_LABELS: &[&str] = &["job", "instance"];
/// Series Prometheus makes itself, with the labels it gives them.
const PROMETHEUS_SERIES: &[(&str, &[&str])] = &[("up", &["instance", "job"])];
/// The org name `Setup` gives the failing exporter's org.
const FAILING_ORG: &str = "test-org";
/// The demo's kept-alive token ("Quarterly access review", 18 days from expiry: never called
/// within a test).
const DEMO_KEPT_ALIVE: &str = "00Tdemo0000000000006";
/// The deactivated owner of the removals exporter's deleted token, and that token.
const LEAVER: &str = "00uleaver00000000001";
const LEAVER_TOKEN: &str = "00Tleaver00000000001";
/// The token an admin revokes in the removals exporter's org.
const REVOKED_TOKEN: &str = "00Trevoked0000000002";
/// The token the keep-alive exporter keeps alive, and its secret.
const KEPT_ALIVE: &str = "00Tkeepalive00000001";
const KEPT_ALIVE_SECRET: &str = "00kept-alive-secret-4f2a";

// ---------------------------------------------------------------------------------------------
// What the real binary exports
// ---------------------------------------------------------------------------------------------

/// Everything the two scraped exporters exported.
struct Emitted {
    samples: Vec<Sample>,
    /// Series name -> every set of label names it was exported with, leaving out labels with an
    /// empty value (Prometheus stores `owner_login=""` as no label at all).
    label_sets: BTreeMap<String, BTreeSet<BTreeSet<String>>>,
}

impl Emitted {
    fn names(&self) -> BTreeSet<String> {
        self.label_sets.keys().cloned().collect()
    }
}

fn stored_label_names(labels: &BTreeMap<String, String>) -> BTreeSet<String> {
    labels
        .iter()
        .filter(|(_, value)| !value.is_empty())
        .map(|(name, _)| name.clone())
        .collect()
}

/// Scraped once per test process; the exporters are stopped as soon as the scrapes are in.
fn emitted() -> &'static Emitted {
    static EMITTED: OnceLock<Emitted> = OnceLock::new();
    EMITTED.get_or_init(scrape_the_real_binary)
}

/// A loopback "Okta" that refuses every call like Okta refuses a bad token (401, E0000011).
fn start_refusing_okta() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    let url = format!("http://{}", listener.local_addr().expect("local address"));
    std::thread::spawn(move || {
        for mut stream in listener.incoming().map_while(Result::ok) {
            let mut reader = BufReader::new(stream.try_clone().expect("clone the stream"));
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
            }
            let body = r#"{"errorCode":"E0000011","errorSummary":"Invalid token provided","errorLink":"E0000011","errorId":"test","errorCauses":[]}"#;
            let _ = write!(
                stream,
                "HTTP/1.1 401 Unauthorized\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    url
}

fn scrape_the_real_binary() -> Emitted {
    let demo = Exporter::spawn(
        vec![
            "demo".into(),
            "--web.listen-address=127.0.0.1:0".into(),
            "--okta.poll-interval=1s".into(),
        ],
        tempfile::tempdir().expect("temporary directory"),
    );
    let refused = Exporter::start(Setup::new(start_refusing_okta(), "not-a-valid-token"));
    // The demo org polled, its owners looked up (so owner labels are filled) and its System
    // Log read; the refused org's poll failed at least once.
    let mut samples = demo.wait_for(
        "the demo org's tokens with their owners",
        Duration::from_secs(60),
        |s| {
            find(s, "okta_up", &[("org", "demo")])
                .iter()
                .any(|x| x.value == 1.0)
                && find(s, "okta_api_token_info", &[])
                    .iter()
                    .any(|x| !x.label("owner_status").is_empty())
                && !find(s, "okta_api_token_owner_active", &[]).is_empty()
                && !find(s, "okta_api_requests_total", &[]).is_empty()
        },
    );
    samples.extend(refused.wait_for(
        "a failed poll of the refused org",
        Duration::from_secs(30),
        |s| {
            find(s, "okta_poll_errors_total", &[("reason", "unauthorized")])
                .iter()
                .any(|x| x.value >= 1.0)
        },
    ));
    samples.extend(scrape_a_keepalive());
    samples.extend(scrape_removals_and_a_429());
    let mut label_sets: BTreeMap<String, BTreeSet<BTreeSet<String>>> = BTreeMap::new();
    for sample in &samples {
        label_sets
            .entry(sample.name.clone())
            .or_default()
            .insert(stored_label_names(&sample.labels));
    }
    Emitted {
        samples,
        label_sets,
    }
}

/// The keep-alive series of an exporter that keeps a token of a simulated org alive. The demo
/// exports the keep-alive counters but never calls (its kept-alive token is 18 days from expiry),
/// so only this shows okta_api_token_keepalive_last_timestamp_seconds, which is absent until
/// Okta accepts a call. Only the keep-alive series are kept: the rest repeats the demo's, and
/// would add a third process to what the other checks count.
fn scrape_a_keepalive() -> Vec<Sample> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("a runtime for the simulated org");
    // Expires in 5 days: within the default `when_expires_within` (10 days), so it is called
    // after the first poll.
    let token = sim_token(
        KEPT_ALIVE,
        "Break-glass",
        chrono::TimeDelta::days(5),
        "P30D",
    );
    let simulator = runtime
        .block_on(okta_simulator::Simulator::start(
            "00kept-alive-exporter-token",
            vec![token],
        ))
        .expect("start the simulated org");
    simulator.set_token_secret(KEPT_ALIVE, KEPT_ALIVE_SECRET);
    let dir = tempfile::tempdir().expect("temporary directory");
    let own = dir.path().join("okta.token");
    let kept = dir.path().join("kept-alive.token");
    std::fs::write(&own, "00kept-alive-exporter-token\n").expect("write the token file");
    std::fs::write(&kept, format!("{KEPT_ALIVE_SECRET}\n")).expect("write the secret file");
    set_private(&own);
    set_private(&kept);
    let config = dir.path().join("config.yml");
    std::fs::write(
        &config,
        format!(
            "poll_interval: 300ms\norgs:\n  - name: kept-alive\n    url: {}\n    auth:\n      ssws:\n        token_file: {}\n    keepalive:\n      - token_id: {KEPT_ALIVE}\n        token_file: {}\n",
            simulator.url(),
            own.display(),
            kept.display()
        ),
    )
    .expect("write the config");
    let exporter = Exporter::spawn(
        vec![
            format!("--config.file={}", config.display()),
            "--web.listen-address=127.0.0.1:0".into(),
        ],
        dir,
    );
    let samples = exporter.wait_for(
        "a keep-alive call that Okta accepted",
        Duration::from_secs(30),
        |s| !find(s, "okta_api_token_keepalive_last_timestamp_seconds", &[]).is_empty(),
    );
    drop(exporter);
    simulator.shutdown();
    samples
        .into_iter()
        .filter(|s| s.name.starts_with("okta_api_token_keepalive_"))
        .collect()
}

/// The removal and 429 series, which the demo never shows: an exporter whose simulated org
/// answers its first listing with 429, then deletes the tokens of a deactivated user (whose
/// login the exporter knows) and has one token revoked. Only those two series are kept, as for
/// the keep-alive exporter.
fn scrape_removals_and_a_429() -> Vec<Sample> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("a runtime for the simulated org");
    let mut leavers = sim_token(
        LEAVER_TOKEN,
        "SCIM sync (leaver's)",
        chrono::TimeDelta::days(29),
        "P30D",
    );
    leavers.user_id = LEAVER.to_owned();
    let tokens = vec![
        leavers,
        sim_token(
            REVOKED_TOKEN,
            "Old report",
            chrono::TimeDelta::days(20),
            "P30D",
        ),
    ];
    let api_token = "00removals-exporter-token";
    let simulator = runtime
        .block_on(okta_simulator::Simulator::start(api_token, tokens))
        .expect("start the simulated org");
    simulator.set_user(okta_simulator::SimUser {
        id: LEAVER.to_owned(),
        login: "leaver@acme.example".to_owned(),
        status: "ACTIVE".to_owned(),
    });
    simulator.push_fault(
        None,
        okta_simulator::Fault::RateLimited {
            reset_after: Duration::from_secs(1),
            concurrency: false,
        },
    );
    let mut setup = Setup::new(simulator.url(), api_token);
    setup.poll_interval = "300ms";
    let exporter = Exporter::start(setup);
    exporter.wait_for(
        "the tokens with the leaver's login, after a 429",
        Duration::from_secs(30),
        |s| {
            find(s, "okta_api_token_info", &[("user_id", LEAVER)])
                .iter()
                .any(|x| !x.label("owner_login").is_empty())
                && !find(s, "okta_rate_limit_exceeded_last_timestamp_seconds", &[]).is_empty()
        },
    );
    assert_eq!(simulator.deactivate_user(LEAVER).len(), 1);
    assert!(simulator.remove_token(REVOKED_TOKEN));
    let samples = exporter.wait_for(
        "both removals, the deleted token with its owner's login",
        Duration::from_secs(30),
        |s| {
            let removed = find(s, "okta_api_token_removed_timestamp_seconds", &[]);
            removed.len() == 2
                && removed.iter().any(|x| {
                    x.label("token_id") == LEAVER_TOKEN && !x.label("owner_login").is_empty()
                })
        },
    );
    drop(exporter);
    simulator.shutdown();
    samples
        .into_iter()
        .filter(|s| {
            s.name == "okta_api_token_removed_timestamp_seconds"
                || s.name == "okta_rate_limit_exceeded_last_timestamp_seconds"
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

fn path(relative: &str) -> PathBuf {
    Path::new(ROOT).join(relative)
}

fn read(relative: &str) -> String {
    std::fs::read_to_string(path(relative))
        .unwrap_or_else(|e| panic!("cannot read {relative}: {e}"))
}

/// The tool's path on `PATH`, or `None` after saying loudly that the test is skipped. On CI
/// (`CI=true`) a missing tool is a failure, so a broken CI image cannot pass silently.
fn tool(name: &str, debian_package: &str) -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(name))
            .find(|candidate| candidate.is_file())
    });
    if found.is_none() {
        let message =
            format!("SKIPPED: {name} not found; install Debian's {debian_package} package");
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("{message} (a missing tool fails the test when CI=true)");
        }
        // Straight to the stderr handle: libtest captures `eprintln!` of passing tests, and a
        // skip nobody sees would look like a pass.
        let banner = "*".repeat(72);
        let _ = writeln!(std::io::stderr(), "\n{banner}\n{message}\n{banner}\n");
    }
    found
}

fn promtool() -> Option<PathBuf> {
    tool("promtool", "prometheus")
}

fn amtool() -> Option<PathBuf> {
    tool("amtool", "prometheus-alertmanager")
}

/// Runs a command in the crate root and returns its stdout; fails the test with the full
/// output when the command fails.
fn run(program: &Path, args: &[&str]) -> String {
    let output = Command::new(program)
        .args(args)
        .current_dir(ROOT)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", program.display()));
    stdout_of_success(program, args, output)
}

/// The standard output of `program args`, which must have succeeded.
fn stdout_of_success(program: &Path, args: &[&str], output: std::process::Output) -> String {
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "`{} {}` failed ({}):\n{stdout}\n{stderr}",
        program.display(),
        args.join(" "),
        output.status
    );
    stdout
}

/// The rule unit-test files of the default rules, relative to the crate root, sorted.
fn rule_test_files() -> Vec<String> {
    test_files_in(RULE_TESTS)
}

/// The rule unit-test files in `dir`, relative to the crate root, sorted.
fn test_files_in(dir: &str) -> Vec<String> {
    let mut files: Vec<String> = std::fs::read_dir(path(dir))
        .unwrap_or_else(|e| panic!("cannot list {dir}: {e}"))
        .map(|entry| {
            entry
                .expect("directory entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|name| name.ends_with(".test.yml") || (dir == RULE_TESTS && name.ends_with(".yml")))
        .map(|name| format!("{dir}/{name}"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no rule unit tests in {dir}");
    files
}

/// The value of every `key: value` line of a YAML file, for the few plain scalars we look at.
fn yaml_values(text: &str, key: &str) -> Vec<String> {
    let prefixes = [format!("- {key}:"), format!("{key}:")];
    text.lines()
        .map(str::trim_start)
        .filter_map(|line| prefixes.iter().find_map(|p| line.strip_prefix(p.as_str())))
        .map(|value| {
            value
                .trim()
                .trim_matches(|c| c == '"' || c == '\'')
                .to_owned()
        })
        .collect()
}

/// Every PromQL identifier (metric names, recording-rule names with colons, label names,
/// functions) in `text` that mentions `okta_`.
fn okta_identifiers(text: &str) -> BTreeSet<String> {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
        .filter(|word| word.contains("okta_"))
        .map(str::to_owned)
        .collect()
}

/// The identifiers in `text` that are not in `exported` (nor one of `allowed`).
fn unknown_metric_names(
    text: &str,
    exported: &BTreeSet<String>,
    allowed: &BTreeSet<String>,
) -> Vec<String> {
    okta_identifiers(text)
        .into_iter()
        .filter(|name| !exported.contains(name) && !allowed.contains(name))
        .collect()
}

fn dashboard() -> Value {
    serde_json::from_str(&read(DASHBOARD))
        .unwrap_or_else(|e| panic!("{DASHBOARD} is not valid JSON: {e}"))
}

/// Every panel of the dashboard, including panels nested in collapsed rows.
pub(crate) fn all_panels(dashboard: &Value) -> Vec<&Value> {
    fn walk<'a>(panels: &'a Value, out: &mut Vec<&'a Value>) {
        for panel in panels.as_array().into_iter().flatten() {
            out.push(panel);
            if let Some(nested) = panel.get("panels") {
                walk(nested, out);
            }
        }
    }
    let mut out = Vec::new();
    walk(&dashboard["panels"], &mut out);
    out
}

fn panel_name(panel: &Value) -> String {
    format!(
        "panel {} {:?}",
        panel["id"],
        panel["title"].as_str().unwrap_or("")
    )
}

/// (where, expression) for every query of every panel.
pub(crate) fn dashboard_exprs(dashboard: &Value) -> Vec<(String, String)> {
    let mut exprs = Vec::new();
    for panel in all_panels(dashboard) {
        for target in panel["targets"].as_array().into_iter().flatten() {
            let expr = target["expr"].as_str().unwrap_or_else(|| {
                panic!(
                    "{} target {} has no expr",
                    panel_name(panel),
                    target["refId"]
                )
            });
            exprs.push((
                format!("{} target {}", panel_name(panel), target["refId"]),
                expr.to_owned(),
            ));
        }
    }
    assert!(!exprs.is_empty(), "the dashboard has no queries");
    exprs
}

fn datasource_is_variable(datasource: &Value) -> bool {
    datasource["uid"] == "${datasource}" || *datasource == "${datasource}"
}

/// GitHub's anchor for a Markdown heading: lower case, punctuation dropped, spaces to dashes.
fn github_anchor(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

/// The anchors of all headings of a Markdown text, code blocks excluded.
fn markdown_anchors(markdown: &str) -> BTreeSet<String> {
    let mut in_code = false;
    let mut anchors = BTreeSet::new();
    for line in markdown.lines() {
        if line.trim_start().starts_with("```") {
            in_code = !in_code;
        } else if !in_code && line.starts_with('#') {
            anchors.insert(github_anchor(line.trim_start_matches('#')));
        }
    }
    anchors
}

// ---------------------------------------------------------------------------------------------
// Prometheus rules
// ---------------------------------------------------------------------------------------------

#[test]
#[cfg_attr(
    not(tool_promtool),
    ignore = "needs `promtool`: apt-get install prometheus"
)]
fn alert_rules_pass_promtool_check() {
    let Some(promtool) = promtool() else { return };
    run(&promtool, &["check", "rules", RULES]);
}

#[test]
#[cfg_attr(
    not(tool_promtool),
    ignore = "needs `promtool`: apt-get install prometheus"
)]
fn alert_rules_pass_promtool_unit_tests() {
    let Some(promtool) = promtool() else { return };
    let files = rule_test_files();
    let mut args = vec!["test", "rules"];
    args.extend(files.iter().map(String::as_str));
    // The very command docs/alerts.md shows, which `readme` runs too: once for both.
    let output = common::output_once(&promtool, &args, Path::new(ROOT));
    stdout_of_success(&promtool, &args, output);
}

#[test]
fn every_alert_has_a_unit_test() {
    let rules = read(RULES);
    let alerts = yaml_values(&rules, "alert");
    assert!(
        alerts.len() >= 5,
        "expected at least five alerts, found {alerts:?}"
    );
    let tests: String = rule_test_files().iter().map(|file| read(file)).collect();
    let tested: BTreeSet<String> = yaml_values(&tests, "alertname").into_iter().collect();
    let untested: Vec<&String> = alerts.iter().filter(|a| !tested.contains(*a)).collect();
    assert!(
        untested.is_empty(),
        "alerts without a unit test: {untested:?}"
    );
}

#[test]
fn every_alert_is_named_consistently_and_has_severity_and_runbook() {
    let rules = read(RULES);
    let alerts = yaml_values(&rules, "alert");
    for alert in &alerts {
        assert!(
            alert.starts_with("OktaApiToken") || alert.starts_with("OktaExporter"),
            "alert {alert} must be named OktaApiToken* or OktaExporter*"
        );
        assert!(
            alert.chars().all(|c| c.is_ascii_alphanumeric()),
            "alert {alert} must be CamelCase"
        );
    }
    let severities = yaml_values(&rules, "severity");
    assert_eq!(
        severities.len(),
        alerts.len(),
        "every alert needs exactly one severity label"
    );
    for severity in &severities {
        assert!(
            matches!(severity.as_str(), "critical" | "warning"),
            "unknown severity {severity}"
        );
    }
    for annotation in ["summary", "description", "runbook_url"] {
        assert_eq!(
            yaml_values(&rules, annotation).len(),
            alerts.len(),
            "every alert needs a {annotation} annotation"
        );
    }
    // Rules are rendered with their fields in order: each alert's runbook_url follows its name.
    for (alert, url) in alerts.iter().zip(yaml_values(&rules, "runbook_url")) {
        assert_eq!(
            url,
            format!("{RUNBOOK_PREFIX}{}", alert.to_lowercase()),
            "the runbook_url of {alert}"
        );
    }
}

#[test]
fn alert_rules_use_only_exported_metric_names() {
    let rules = read(RULES);
    let recorded: BTreeSet<String> = yaml_values(&rules, "record").into_iter().collect();
    assert!(!recorded.is_empty(), "expected recording rules in {RULES}");
    let allowed = recorded;
    let unknown = unknown_metric_names(&rules, &emitted().names(), &allowed);
    assert!(
        unknown.is_empty(),
        "{RULES} mentions metrics the exporter does not expose: {unknown:?}"
    );
}

#[test]
fn runbook_urls_point_at_runbook_headings() {
    let rules = read(RULES);
    let wanted: BTreeSet<String> = yaml_values(&rules, "runbook_url")
        .iter()
        .filter_map(|url| url.strip_prefix(RUNBOOK_PREFIX))
        .map(str::to_owned)
        .collect();
    assert!(wanted.len() >= 16, "one anchor per alert: {wanted:?}");
    // No runbooks: that is a failure, not a skip.
    let anchors = markdown_anchors(&read(RUNBOOKS));
    let missing: Vec<&String> = wanted.iter().filter(|a| !anchors.contains(*a)).collect();
    assert!(
        missing.is_empty(),
        "runbook anchors without a heading in {RUNBOOKS}: {missing:?}"
    );
}

/// The targets of the Markdown links `[text](target)` of a text, code blocks excluded.
fn markdown_links(markdown: &str) -> Vec<String> {
    let mut in_code = false;
    let mut links = Vec::new();
    for line in markdown.lines() {
        if line.trim_start().starts_with("```") {
            in_code = !in_code;
            continue;
        }
        if in_code {
            continue;
        }
        for (i, _) in line.match_indices("](") {
            let rest = &line[i + 2..];
            if let Some(end) = rest.find(')') {
                links.push(rest[..end].to_owned());
            }
        }
    }
    links
}

/// Every relative link of the README, the documents of `docs/` and the mixin's and dashboards'
/// READMEs leads to a file that exists, and into a Markdown file, to one of its headings.
#[test]
fn links_between_the_readme_and_the_docs_resolve() {
    let mut documents: Vec<String> = vec![
        "README.md".into(),
        "mixin/README.md".into(),
        "dashboards/README.md".into(),
    ];
    for entry in std::fs::read_dir(path("docs")).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        if name.ends_with(".md") {
            documents.push(format!("docs/{name}"));
        }
    }
    assert!(documents.len() >= 9, "{documents:?}");
    let mut checked = 0;
    let mut broken = Vec::new();
    for document in &documents {
        let dir = Path::new(document).parent().unwrap();
        for link in markdown_links(&read(document)) {
            if link.contains("://") || link.starts_with("mailto:") {
                continue;
            }
            let (file, anchor) = link.split_once('#').unwrap_or((link.as_str(), ""));
            let target = if file.is_empty() {
                PathBuf::from(document)
            } else {
                dir.join(file)
            };
            checked += 1;
            let target = path(&target.to_string_lossy());
            let resolves = target.exists()
                && (anchor.is_empty()
                    || target.extension().is_none_or(|e| e != "md")
                    || markdown_anchors(&std::fs::read_to_string(&target).unwrap())
                        .contains(anchor));
            if !resolves {
                broken.push(format!("{document}: {link}"));
            }
        }
    }
    assert!(checked >= 60, "only {checked} links read");
    assert!(broken.is_empty(), "broken links: {broken:?}");
}

#[test]
fn every_alert_has_a_runbook_section_and_only_alerts_do() {
    let alerts: BTreeSet<String> = yaml_values(&read(RULES), "alert").into_iter().collect();
    let sections: BTreeSet<String> = read(RUNBOOKS)
        .lines()
        .filter_map(|l| l.strip_prefix("## "))
        .map(str::to_owned)
        .collect();
    assert_eq!(
        sections, alerts,
        "{RUNBOOKS} has one `## <alert>` section per alert"
    );
}

#[test]
fn runbook_urls_name_no_host() {
    let rules = read(RULES);
    for url in yaml_values(&rules, "runbook_url") {
        let rest = url
            .strip_prefix(RUNBOOK_PREFIX)
            .unwrap_or_else(|| panic!("runbook_url {url} must start with {RUNBOOK_PREFIX}"));
        assert!(
            !rest.contains("://") && !rest.contains('/'),
            "runbook_url {url}: only an anchor may follow the base"
        );
    }
    assert!(
        !rules.contains("https://github.com/"),
        "no invented repository URL in {RULES}"
    );
    let dashboard = read(DASHBOARD);
    assert!(
        !dashboard.contains("github.com"),
        "no invented repository URL in {DASHBOARD}"
    );
}

/// The names in the first column of the Markdown tables of the README section under `heading`
/// (up to the next heading of the same or a higher level).
fn readme_table_names(readme: &str, heading: &str) -> BTreeSet<String> {
    let start = readme
        .lines()
        .position(|l| l.trim() == heading)
        .unwrap_or_else(|| panic!("no heading {heading:?}"));
    let level = heading.chars().take_while(|&c| c == '#').count();
    readme
        .lines()
        .skip(start + 1)
        .take_while(|l| {
            let hashes = l.chars().take_while(|&c| c == '#').count();
            hashes == 0 || hashes > level
        })
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| l.split_once('`').map(|(name, _)| name.to_owned()))
        .collect()
}

#[test]
fn every_rule_is_in_the_readme_tables_and_back() {
    let rules = read(RULES);
    let readme = read(ALERTS_DOC);
    let listed = readme_table_names(&readme, "## Alert rules");
    let mut defined: BTreeSet<String> = yaml_values(&rules, "alert").into_iter().collect();
    defined.extend(yaml_values(&rules, "record"));
    let missing: Vec<&String> = defined.difference(&listed).collect();
    let stale: Vec<&String> = listed.difference(&defined).collect();
    assert!(
        missing.is_empty() && stale.is_empty(),
        "{ALERTS_DOC}'s alert and recording-rule tables must list exactly the rules of {RULES}: \
         missing {missing:?}, not in the rules {stale:?}"
    );
}

#[test]
fn readme_table_names_reads_only_its_section() {
    let readme = "## A\n| `x` | 1 |\n### Alert rules\n| Alert |\n| `Okta1` | w |\ntext\n| `rec:a` | m |\n#### Sub\n| `Okta2` | c |\n### Next\n| `after` | 2 |\n";
    let names = readme_table_names(readme, "### Alert rules");
    assert_eq!(names, ["Okta1", "Okta2", "rec:a"].map(String::from).into());
}

// ---------------------------------------------------------------------------------------------
// Unit-test inputs against the real binary
// ---------------------------------------------------------------------------------------------

/// Every `series:` of the unit tests' `input_series` in `dir`: (file, series name, labels).
fn rule_test_inputs(dir: &str) -> Vec<(String, String, BTreeMap<String, String>)> {
    let mut inputs = Vec::new();
    for file in test_files_in(dir) {
        for selector in yaml_values(&read(&file), "series") {
            let sample = parse_metrics(&format!("{selector} 0"))
                .pop()
                .unwrap_or_else(|| panic!("{file}: cannot read series {selector:?}"));
            inputs.push((file.clone(), sample.name, sample.labels));
        }
    }
    assert!(inputs.len() > 20, "too few unit-test inputs: {inputs:?}");
    inputs
}

/// Why `name{labels}` is not a series the exporter (or Prometheus) produces, if it is not.
/// `more_target_labels`: target labels the inputs may carry besides `job` and `instance`.
fn impossible_input(
    emitted: &Emitted,
    name: &str,
    labels: &BTreeMap<String, String>,
    more_target_labels: &[&str],
) -> Option<String> {
    let names: BTreeSet<String> = stored_label_names(labels)
        .into_iter()
        .filter(|l| !more_target_labels.contains(&l.as_str()))
        .collect();
    if let Some((_, made)) = PROMETHEUS_SERIES.iter().find(|(n, _)| *n == name) {
        let made: BTreeSet<String> = made.iter().map(|l| l.to_string()).collect();
        return (names != made).then(|| format!("Prometheus makes {name} with labels {made:?}"));
    }
    let missing_target: Vec<&&str> = TARGET_LABELS
        .iter()
        .filter(|l| !names.contains(**l))
        .collect();
    if !missing_target.is_empty() {
        return Some(format!(
            "a scraped series always has the target labels {TARGET_LABELS:?}; missing {missing_target:?}"
        ));
    }
    let own: BTreeSet<String> = names
        .into_iter()
        .filter(|l| !TARGET_LABELS.contains(&l.as_str()))
        .collect();
    match emitted.label_sets.get(name) {
        None => Some("the exporter exports no series of this name".to_owned()),
        Some(sets) if !sets.contains(&own) => Some(format!(
            "the exporter exports it with the labels {sets:?}, not {own:?}"
        )),
        Some(_) => None,
    }
}

#[test]
fn rule_test_inputs_are_series_the_exporter_emits() {
    let emitted = emitted();
    let inputs = rule_test_inputs(RULE_TESTS)
        .into_iter()
        .map(|input| (input, &[][..]))
        .chain(
            rule_test_inputs(MIXIN_RULE_TESTS)
                .into_iter()
                .map(|input| (input, MIXIN_TARGET_LABELS)),
        );
    let problems: Vec<String> = inputs
        .filter_map(|((file, name, labels), more)| {
            impossible_input(emitted, &name, &labels, more)
                .map(|why| format!("{file}: {name}{labels:?}: {why}"))
        })
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    assert!(
        problems.is_empty(),
        "unit-test inputs the exporter cannot produce:\n{}",
        problems.join("\n")
    );
}

#[test]
fn impossible_inputs_are_caught() {
    let emitted = emitted();
    let labels = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    let target = [("job", "okta-token-exporter"), ("instance", "a:9871")];
    let with_org = |extra: &[(&str, &str)]| {
        let mut all = labels(&target);
        all.extend(labels(extra));
        all
    };
    assert_eq!(
        impossible_input(emitted, "okta_up", &with_org(&[("org", "acme")]), &[]),
        None
    );
    assert!(impossible_input(emitted, "okta_upp", &with_org(&[("org", "acme")]), &[]).is_some());
    assert!(
        impossible_input(
            emitted,
            "okta_up",
            &with_org(&[("org", "acme"), ("reason", "timeout")]),
            &[]
        )
        .is_some(),
        "a label the exporter never puts on okta_up"
    );
    assert!(
        impossible_input(emitted, "okta_up", &labels(&[("org", "acme")]), &[]).is_some(),
        "no target labels"
    );
    assert_eq!(
        impossible_input(emitted, "up", &labels(&target), &[]),
        None,
        "Prometheus' own up series"
    );
    // A target label the mixin's test config adds: allowed there only.
    let in_cluster = with_org(&[("org", "acme"), ("k8s_cluster", "eu")]);
    assert!(impossible_input(emitted, "okta_up", &in_cluster, &[]).is_some());
    assert_eq!(
        impossible_input(emitted, "okta_up", &in_cluster, MIXIN_TARGET_LABELS),
        None
    );
    let mut up = labels(&target);
    up.insert("k8s_cluster".into(), "eu".into());
    assert_eq!(
        impossible_input(emitted, "up", &up, MIXIN_TARGET_LABELS),
        None
    );
}

#[test]
fn the_exporter_exports_what_the_rules_assume() {
    let samples = &emitted().samples;
    let failing = |name: &str| -> Vec<f64> {
        find(samples, name, &[("org", FAILING_ORG)])
            .iter()
            .map(|s| s.value)
            .collect()
    };
    // OktaExporterOrgNeverPolled: an org never polled successfully exports 0, not nothing.
    assert_eq!(
        failing("okta_last_successful_poll_timestamp_seconds"),
        [0.0],
        "the refused org's last success"
    );
    assert_eq!(failing("okta_up"), [0.0]);
    // The staleness thresholds are multiples of the poll interval (300ms in Setup).
    assert_eq!(failing("okta_poll_interval_seconds"), [0.3]);
    // OktaExporterOrgPollFailing and the pages: failed polls in a row, 0 after a success.
    assert!(
        failing("okta_poll_consecutive_failures")
            .iter()
            .all(|&n| n >= 1.0),
        "the refused org's failed polls in a row"
    );
    assert_eq!(
        value(
            samples,
            "okta_poll_consecutive_failures",
            &[("org", "demo")]
        ),
        0.0
    );
    // OktaExporterOrgNeverPolled waits for a hung first poll from the process start.
    assert_eq!(find(samples, "process_start_time_seconds", &[]).len(), 2);
    // OktaExporterSystemLogFailing and OktaExporterSystemLogEventsUnattributed: increase()
    // sees the first failure, or the first unattributed event, only when the counters are
    // exported from the start.
    for kind in ["owners", "system_log"] {
        assert_eq!(
            find(
                samples,
                "okta_enrichment_errors_total",
                &[("org", "demo"), ("kind", kind)]
            )
            .len(),
            1,
            "okta_enrichment_errors_total{{kind={kind:?}}} from the start"
        );
    }
    for event_type in [
        "system.api_token.revoke",
        "system.api_token.request_outside_allowed_range",
    ] {
        assert_eq!(
            find(
                samples,
                "okta_system_log_events_unattributed_total",
                &[("org", "demo"), ("event_type", event_type)]
            )
            .len(),
            1,
            "okta_system_log_events_unattributed_total{{event_type={event_type:?}}} from the start"
        );
    }
    // OktaApiTokenLapsed and OktaApiTokenDeletedWithOwner: one series per removed token, with
    // its reason, its owner's login and its last colour, at the time the poll saw it gone.
    let removed = |token: &str| {
        find(
            samples,
            "okta_api_token_removed_timestamp_seconds",
            &[("token_id", token)],
        )
    };
    let leaver = removed(LEAVER_TOKEN);
    assert_eq!(leaver.len(), 1, "{leaver:?}");
    assert_eq!(leaver[0].label("reason"), "owner_deactivated");
    assert_eq!(leaver[0].label("owner_login"), "leaver@acme.example");
    assert_eq!(leaver[0].label("last_status"), "green");
    let revoked = removed(REVOKED_TOKEN);
    assert_eq!(revoked.len(), 1, "{revoked:?}");
    assert_eq!(revoked[0].label("reason"), "revoked");
    let now = chrono::Utc::now().timestamp_millis() as f64 / 1000.0;
    for sample in leaver.iter().chain(&revoked) {
        assert!(
            (now - 120.0..=now).contains(&sample.value),
            "a removal time in Unix seconds, just now: {sample:?}"
        );
    }
    // OktaExporterRateLimited: the time of the last 429, per endpoint.
    let limited = find(
        samples,
        "okta_rate_limit_exceeded_last_timestamp_seconds",
        &[],
    );
    assert_eq!(limited.len(), 1, "{limited:?}");
    assert_eq!(limited[0].label("endpoint"), "/api/v1/api-tokens");
    assert!(
        (now - 120.0..=now).contains(&limited[0].value),
        "{limited:?}"
    );
    // OktaApiTokenKeepAliveFailing: increase() sees a token's first failure only when every
    // result is exported from the start. The demo keeps one token alive and never calls it.
    for result in [
        "refreshed",
        "not_refreshed",
        "rejected",
        "skipped_owner_inactive",
        "error",
    ] {
        assert_eq!(
            find(
                samples,
                "okta_api_token_keepalive_total",
                &[
                    ("org", "demo"),
                    ("token_id", DEMO_KEPT_ALIVE),
                    ("result", result)
                ]
            )
            .len(),
            1,
            "okta_api_token_keepalive_total{{result={result:?}}} of the demo's kept-alive token from the start"
        );
    }
    // The dashboard's increase() sees the first removal only when every reason is exported
    // from the start.
    for reason in ["expired", "revoked", "owner_deactivated"] {
        assert_eq!(
            find(
                samples,
                "okta_api_tokens_removed_total",
                &[("org", FAILING_ORG), ("reason", reason)]
            )
            .len(),
            1,
            "okta_api_tokens_removed_total{{reason={reason:?}}} from the start"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Alertmanager
// ---------------------------------------------------------------------------------------------

/// Whether one Alertmanager matcher (`name="value"`, `name!="value"` or `name=~"regex"`) may match
/// these labels. Regexes are understood as far as `literal`, `literal.+` and `literal.*`; any other
/// regex is assumed to match, so the check errs on the side of "muted".
fn matcher_may_match(matcher: &str, labels: &BTreeMap<&str, &str>) -> bool {
    let (name, op, value) = ["=~", "!=", "="]
        .iter()
        .find_map(|op| {
            matcher
                .split_once(op)
                .map(|(n, v)| (n.trim(), *op, v.trim().trim_matches('"')))
        })
        .unwrap_or_else(|| panic!("cannot read matcher {matcher:?}"));
    let actual = labels.get(name).copied().unwrap_or("");
    match op {
        "=" => actual == value,
        "!=" => actual != value,
        // `!literal ||`: a regex this check does not understand is assumed to match.
        _ => {
            if let Some(prefix) = value.strip_suffix(".+") {
                !is_literal(prefix) || (actual.starts_with(prefix) && actual.len() > prefix.len())
            } else if let Some(prefix) = value.strip_suffix(".*") {
                !is_literal(prefix) || actual.starts_with(prefix)
            } else {
                !is_literal(value) || actual == value
            }
        }
    }
}

fn is_literal(regex: &str) -> bool {
    !regex.contains(|c: char| "\\.+*?()[]{}|^$".contains(c))
}

#[test]
fn matcher_check_understands_the_forms_used() {
    let labels: BTreeMap<&str, &str> = [
        ("alertname", "OktaApiTokenSuspicious"),
        ("severity", "warning"),
    ]
    .into();
    assert!(matcher_may_match("severity=\"warning\"", &labels));
    assert!(!matcher_may_match("severity=\"critical\"", &labels));
    assert!(matcher_may_match("alertname=~\"OktaApiToken.+\"", &labels));
    assert!(!matcher_may_match("alertname=~\"OktaExporter.+\"", &labels));
    assert!(matcher_may_match(
        "token_id=~\".+\"",
        &[("token_id", "00T1")].into()
    ));
    assert!(!matcher_may_match("token_id=~\".+\"", &labels));
    assert!(
        matcher_may_match("alertname=~\"A|B\"", &labels),
        "unknown regex: assume a match"
    );
}

#[test]
fn no_inhibit_rule_mutes_suspicious_token_use() {
    let config: Value = serde_saphyr::from_str(&read(ALERTMANAGER))
        .unwrap_or_else(|e| panic!("{ALERTMANAGER}: {e}"));
    let suspicious: BTreeMap<&str, &str> = [
        ("alertname", "OktaApiTokenSuspicious"),
        ("severity", "warning"),
        ("org", "acme"),
        ("token_id", "00Tsuspect"),
        ("token_name", "Terraform"),
        ("user_id", "00uowner"),
    ]
    .into();
    let rules = config["inhibit_rules"].as_array().expect("inhibit_rules");
    assert!(
        !rules.is_empty(),
        "expected inhibit rules in {ALERTMANAGER}"
    );
    for rule in rules {
        let matchers = rule["target_matchers"]
            .as_array()
            .expect("target_matchers (the older target_match is not used here)");
        let mutes = matchers
            .iter()
            .all(|m| matcher_may_match(m.as_str().expect("matcher string"), &suspicious));
        assert!(
            !mutes,
            "inhibit rule {rule} can mute OktaApiTokenSuspicious, a security signal"
        );
    }
}
// ---------------------------------------------------------------------------------------------
// Alertmanager
// ---------------------------------------------------------------------------------------------

#[test]
#[cfg_attr(
    not(tool_amtool),
    ignore = "needs `amtool`: apt-get install prometheus-alertmanager"
)]
fn alertmanager_config_passes_amtool_check() {
    let Some(amtool) = amtool() else { return };
    run(&amtool, &["check-config", ALERTMANAGER]);
}

/// A running Alertmanager with the example configuration; killed on drop.
struct Alertmanager {
    child: std::process::Child,
    base: String,
    _dir: tempfile::TempDir,
}

impl Alertmanager {
    fn start(program: &Path) -> Alertmanager {
        let dir = tempfile::tempdir().expect("temporary directory");
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let child = Command::new(program)
            .arg(format!("--config.file={}", path(ALERTMANAGER).display()))
            .arg(format!("--storage.path={}", dir.path().display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--cluster.listen-address=")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start prometheus-alertmanager");
        let alertmanager = Alertmanager {
            child,
            base: format!("http://127.0.0.1:{port}"),
            _dir: dir,
        };
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while !(std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
            && common::http_get(&format!("{}/-/ready", alertmanager.base)).0 == 200)
        {
            assert!(
                std::time::Instant::now() < deadline,
                "Alertmanager did not get ready"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        alertmanager
    }

    /// Alertmanager's aggregation groups: (the group's labels, its receiver, its alerts' labels).
    fn groups(&self) -> Vec<(Value, String, Vec<Value>)> {
        let (status, _, body) = common::http_get(&format!("{}/api/v2/alerts/groups", self.base));
        assert_eq!(status, 200, "{body}");
        let groups: Value = serde_json::from_str(&body).expect("JSON groups");
        groups
            .as_array()
            .expect("an array of groups")
            .iter()
            .map(|g| {
                (
                    g["labels"].clone(),
                    g["receiver"]["name"].as_str().expect("receiver").to_owned(),
                    g["alerts"]
                        .as_array()
                        .expect("alerts")
                        .iter()
                        .map(|a| a["labels"].clone())
                        .collect(),
                )
            })
            .collect()
    }
}

impl Drop for Alertmanager {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
#[cfg_attr(
    not(all(tool_alertmanager, tool_amtool)),
    ignore = "needs `prometheus-alertmanager` and `amtool`: apt-get install prometheus-alertmanager"
)]
fn an_okta_wide_outage_pages_once_and_token_alerts_stay_per_org() {
    let Some(amtool) = amtool() else { return };
    let Some(program) = tool("prometheus-alertmanager", "prometheus-alertmanager") else {
        return;
    };
    let alertmanager = Alertmanager::start(&program);
    let url = format!("--alertmanager.url={}", alertmanager.base);
    // Okta down: every org stale at once, and their warnings; two orgs' tokens paging too.
    for org in ["acme", "globex", "initech"] {
        for (alertname, severity) in [
            ("OktaExporterOrgDataStale", "critical"),
            ("OktaExporterOrgPollFailing", "warning"),
            ("OktaApiTokenExpiresWithin24Hours", "critical"),
        ] {
            let labels = [
                format!("alertname={alertname}"),
                format!("severity={severity}"),
                format!("org={org}"),
                format!("token_id=00T{org}"),
            ];
            let labels = if alertname.starts_with("OktaExporter") {
                &labels[..3]
            } else {
                &labels[..]
            };
            let mut args = vec!["alert", "add", url.as_str()];
            args.extend(labels.iter().map(String::as_str));
            run(&amtool, &args);
        }
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let groups = loop {
        let groups = alertmanager.groups();
        if groups
            .iter()
            .map(|(_, _, alerts)| alerts.len())
            .sum::<usize>()
            == 9
        {
            break groups;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "Alertmanager did not take the 9 alerts: {groups:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let group_of = |alertname: &str, org: &str| {
        groups
            .iter()
            .filter(|(_, _, alerts)| {
                alerts
                    .iter()
                    .any(|a| a["alertname"] == alertname && a["org"] == org)
            })
            .collect::<Vec<_>>()
    };
    // One page for the outage, listing the three orgs; the warnings, inhibited by it anyway,
    // in one group too.
    for (alertname, receiver) in [
        ("OktaExporterOrgDataStale", "okta-pager"),
        ("OktaExporterOrgPollFailing", "okta-tickets"),
    ] {
        let found = group_of(alertname, "acme");
        assert_eq!(found.len(), 1, "{alertname}: {groups:?}");
        let (labels, to, alerts) = found[0];
        assert_eq!(labels, &serde_json::json!({ "alertname": alertname }));
        assert_eq!(to, receiver);
        assert_eq!(alerts.len(), 3, "every org in one notification: {alerts:?}");
    }
    // Token alerts: one notification per org.
    for org in ["acme", "globex", "initech"] {
        let found = group_of("OktaApiTokenExpiresWithin24Hours", org);
        assert_eq!(found.len(), 1, "{groups:?}");
        let (labels, to, alerts) = found[0];
        assert_eq!(
            labels,
            &serde_json::json!({ "alertname": "OktaApiTokenExpiresWithin24Hours", "org": org })
        );
        assert_eq!(to, "okta-pager");
        assert_eq!(alerts.len(), 1);
    }
}

#[test]
#[cfg_attr(
    not(tool_amtool),
    ignore = "needs `amtool`: apt-get install prometheus-alertmanager"
)]
fn alertmanager_pages_on_critical_and_tickets_warnings() {
    let Some(amtool) = amtool() else { return };
    let config = format!("--config.file={ALERTMANAGER}");
    let receiver = |labels: &[&str]| {
        let mut args = vec!["config", "routes", "test", config.as_str()];
        args.extend_from_slice(labels);
        run(&amtool, &args).trim().to_owned()
    };
    let critical = [
        "alertname=OktaApiTokenExpiresWithin24Hours",
        "severity=critical",
        "org=acme",
    ];
    let warning = [
        "alertname=OktaApiTokenExpiresWithin7Days",
        "severity=warning",
        "org=acme",
    ];
    assert_eq!(receiver(&critical), "okta-pager");
    assert_eq!(receiver(&warning), "okta-tickets");
}

// ---------------------------------------------------------------------------------------------
// Grafana dashboard
// ---------------------------------------------------------------------------------------------

#[test]
fn dashboard_is_valid_json_with_a_stable_uid_and_no_import_placeholders() {
    let raw = read(DASHBOARD);
    let dashboard = dashboard();
    assert_eq!(dashboard["uid"], DASHBOARD_UID);
    assert!(
        dashboard["id"].is_null(),
        "id must be null so Grafana assigns its own"
    );
    assert!(
        dashboard["schemaVersion"].as_u64().unwrap_or(0) >= 39,
        "schemaVersion must be 39 or later"
    );
    assert!(
        dashboard.get("__inputs").is_none(),
        "no __inputs: the datasource is a variable"
    );
    assert!(
        !raw.contains("${DS_"),
        "no ${{DS_...}} placeholders: use ${{datasource}}"
    );
}

#[test]
fn dashboard_has_datasource_cluster_job_instance_and_org_variables() {
    let dashboard = dashboard();
    let variables = dashboard["templating"]["list"]
        .as_array()
        .expect("templating.list");
    let variable = |name: &str| {
        variables
            .iter()
            .find(|v| v["name"] == name)
            .unwrap_or_else(|| panic!("no {name} variable"))
    };
    let datasource = variable("datasource");
    assert_eq!(datasource["type"], "datasource");
    assert_eq!(datasource["query"], "prometheus");

    // Each narrows the next: cluster, job, instance, org; "All" selects every value, also one
    // that appears after the dashboard was loaded.
    let selector = r#"job="okta-token-exporter""#;
    for (name, filters) in [
        ("cluster", ""),
        ("job", r#", cluster=~"$cluster""#),
        ("instance", r#", cluster=~"$cluster", job=~"$job""#),
        (
            "org",
            r#", cluster=~"$cluster", job=~"$job", instance=~"$instance""#,
        ),
    ] {
        let v = variable(name);
        assert!(
            datasource_is_variable(&v["datasource"]),
            "the {name} variable must query ${{datasource}}"
        );
        let query = v["query"].get("query").unwrap_or(&v["query"]);
        assert_eq!(
            query,
            &Value::String(format!(
                "label_values(okta_up{{{selector}{filters}}}, {name})"
            ))
        );
        assert_eq!(v["multi"], true, "{name}");
        assert_eq!(v["includeAll"], true, "{name}");
        assert_eq!(
            v["allValue"], ".*",
            "{name}: All must not be a list of the known values"
        );
    }
    // One cluster by default: its variable is hidden (and selects everything).
    assert_eq!(variable("cluster")["hide"], 2);
    assert_eq!(variable("org")["hide"], 0);
}

#[test]
fn every_dashboard_panel_uses_the_datasource_variable() {
    let dashboard = dashboard();
    let panels = all_panels(&dashboard);
    assert!(
        panels.iter().any(|p| p["type"] == "row"),
        "expected rows in the dashboard"
    );
    for panel in panels {
        // A row only groups panels; it queries nothing.
        if panel["type"] == "row" {
            continue;
        }
        assert!(
            datasource_is_variable(&panel["datasource"]),
            "{} must use the ${{datasource}} variable, has {}",
            panel_name(panel),
            panel["datasource"]
        );
        let targets = panel["targets"].as_array();
        assert!(
            targets.is_some_and(|t| !t.is_empty()),
            "{} has no queries",
            panel_name(panel)
        );
        for target in targets.into_iter().flatten() {
            assert!(
                datasource_is_variable(&target["datasource"]),
                "{} target {} must use the ${{datasource}} variable",
                panel_name(panel),
                target["refId"]
            );
        }
    }
}

#[test]
fn dashboard_queries_use_only_exported_metric_names() {
    let dashboard = dashboard();
    let mut queries = dashboard_exprs(&dashboard);
    for variable in dashboard["templating"]["list"]
        .as_array()
        .into_iter()
        .flatten()
    {
        if let Some(definition) = variable["definition"].as_str() {
            queries.push((
                format!("variable {}", variable["name"]),
                definition.to_owned(),
            ));
        }
    }
    // No recording rules either: the dashboard must work without the rules file.
    let nothing = BTreeSet::new();
    let exported = emitted().names();
    for (place, expr) in queries {
        let unknown = unknown_metric_names(&expr, &exported, &nothing);
        assert!(
            unknown.is_empty(),
            "{place}: unknown metric names {unknown:?} in `{expr}`"
        );
    }
}

#[test]
fn metric_name_check_catches_typos_and_recording_rules() {
    let nothing = BTreeSet::new();
    let exported = emitted().names();
    assert!(
        unknown_metric_names("max by (org) (okta_up{org=~\"$org\"})", &exported, &nothing)
            .is_empty()
    );
    assert_eq!(
        unknown_metric_names(
            "okta_api_token_expiry_timestmp_seconds - time()",
            &exported,
            &nothing
        ),
        ["okta_api_token_expiry_timestmp_seconds"]
    );
    assert_eq!(
        unknown_metric_names("org:okta_up:min == 0", &exported, &nothing),
        ["org:okta_up:min"]
    );
    assert_eq!(
        unknown_metric_names("okta_upp", &exported, &nothing),
        ["okta_upp"]
    );
}

#[test]
#[cfg_attr(
    not(tool_promtool),
    ignore = "needs `promtool`: apt-get install prometheus"
)]
fn dashboard_queries_are_valid_promql() {
    let Some(promtool) = promtool() else { return };
    check_dashboard_promql(&promtool, &dashboard());
}

/// Fails unless promtool parses every query of the dashboard.
pub(crate) fn check_dashboard_promql(promtool: &Path, dashboard: &Value) {
    let exprs = dashboard_exprs(dashboard);
    // promtool parses PromQL when it checks rules: wrap every query in a recording rule, with
    // Grafana's variables replaced by what Grafana would send.
    let mut rules = String::from("groups:\n  - name: dashboard\n    rules:\n");
    for (i, (_, expr)) in exprs.iter().enumerate() {
        let expr = expr
            .replace("$__rate_interval", "5m")
            .replace("$__interval", "1m")
            .replace("$__range", "1h")
            .replace("$cluster", ".*")
            .replace("$job", ".*")
            .replace("$instance", ".*")
            .replace("$org", ".*");
        assert!(!expr.contains('$'), "an unknown variable in {expr}");
        // A JSON string is a valid YAML double-quoted scalar.
        let quoted = serde_json::to_string(&expr).expect("string");
        rules.push_str(&format!(
            "      - record: dashboard_query_{i}\n        expr: {quoted}\n"
        ));
    }
    let file = tempfile::Builder::new()
        .suffix(".rules.yml")
        .tempfile()
        .expect("temporary rules file");
    std::fs::write(file.path(), rules).expect("write temporary rules file");
    let result = std::panic::catch_unwind(|| {
        run(
            promtool,
            &[
                "check",
                "rules",
                file.path().to_str().expect("UTF-8 temp path"),
            ],
        )
    });
    if let Err(panic) = result {
        let places: Vec<String> = exprs
            .iter()
            .enumerate()
            .map(|(i, (place, _))| format!("dashboard_query_{i} = {place}"))
            .collect();
        eprintln!("{}", places.join("\n"));
        std::panic::resume_unwind(panic);
    }
}

#[test]
fn dashboard_shows_token_states_in_okta_colours() {
    let dashboard = dashboard();
    let panels = all_panels(&dashboard);
    let stat = |status: &str| {
        let selector = format!("status=\"{status}\"");
        *panels
            .iter()
            .find(|p| {
                p["type"] == "stat"
                    && p["targets"][0]["expr"]
                        .as_str()
                        .is_some_and(|e| e.contains(&selector))
            })
            .unwrap_or_else(|| panic!("no stat panel counting {status} tokens"))
    };
    // Green tokens are good news at any count: always green.
    let green = &stat("green")["fieldConfig"]["defaults"];
    assert_eq!(green["color"]["mode"], "fixed");
    assert_eq!(green["color"]["fixedColor"], "green");
    // The others are "all good" (green) at 0, and in their Okta colour from 1 up: a 0 is not red.
    for (status, colour) in [("gray", "#8e8e8e"), ("red", "red"), ("yellow", "yellow")] {
        let defaults = &stat(status)["fieldConfig"]["defaults"];
        assert_eq!(defaults["color"]["mode"], "thresholds", "{status}");
        let steps = defaults["thresholds"]["steps"].as_array().expect("steps");
        assert_eq!(steps.len(), 2, "{status}: {steps:?}");
        assert_eq!(steps[0]["color"], "green", "{status}: 0 is all good");
        assert!(steps[0]["value"].is_null());
        assert_eq!(steps[1]["color"], colour, "{status}");
        assert_eq!(steps[1]["value"], 1, "{status}");
        let zero = &defaults["mappings"][0]["options"]["0"];
        assert_eq!(zero["color"], "green", "{status}");
        assert!(
            zero["text"]
                .as_str()
                .is_some_and(|t| t.contains("all good")),
            "{status}: {zero}"
        );
    }
    assert!(
        panels.iter().any(|p| p["type"] == "table"),
        "expected a token table"
    );
    assert!(
        panels.iter().any(|p| p["type"] == "timeseries"
            && p["fieldConfig"]["defaults"]["unit"] == "s"
            && p["targets"][0]["expr"]
                .as_str()
                .is_some_and(|e| e.contains("okta_api_token_time_to_expiry_seconds"))),
        "expected a time-to-expiry time series in seconds"
    );
}

#[test]
fn dashboard_poll_age_thresholds_follow_each_orgs_poll_interval() {
    let dashboard = dashboard();
    let age = all_panels(&dashboard)
        .into_iter()
        .find(|p| p["title"] == "Age of last successful poll")
        .expect("the poll age panel");
    let exprs: Vec<&str> = age["targets"]
        .as_array()
        .expect("targets")
        .iter()
        .map(|t| t["expr"].as_str().expect("expr"))
        .collect();
    assert!(
        exprs[1].starts_with("3 * max by (org) (okta_poll_interval_seconds{")
            && exprs[2].starts_with("4 * max by (org) (okta_poll_interval_seconds{"),
        "the paging thresholds as multiples of the poll interval: {exprs:?}"
    );
    // No fixed line beside them: a fixed 900 s is right only for a 5-minute interval.
    let defaults = &age["fieldConfig"]["defaults"];
    assert_eq!(defaults["custom"]["thresholdsStyle"]["mode"], "off");
    assert!(
        defaults["thresholds"]["steps"]
            .as_array()
            .expect("steps")
            .iter()
            .all(|step| step["value"].is_null()),
        "no fixed threshold: {defaults}"
    );
}

#[test]
fn dashboard_stays_usable_with_replicas_and_many_tokens() {
    let dashboard = dashboard();
    let panels = all_panels(&dashboard);
    let expr_of = |panel: &Value| -> Vec<String> {
        panel["targets"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|t| t["expr"].as_str().map(str::to_owned))
            .collect()
    };
    // A dead exporter or a wrong data source must not read as "0 Red".
    for panel in panels.iter().filter(|p| p["type"] == "stat") {
        assert_eq!(
            panel["fieldConfig"]["defaults"]["noValue"],
            "No data",
            "{} must show No data, not 0, without data",
            panel_name(panel)
        );
        let description = panel["description"].as_str().unwrap_or("");
        assert!(
            !description.contains("not reported"),
            "{}: the exporter reports yellow now: {description}",
            panel_name(panel)
        );
    }
    // Rates follow Grafana's interval, so they work at any scrape interval and zoom.
    for (place, expr) in dashboard_exprs(&dashboard) {
        for (i, _) in expr.match_indices("rate(") {
            let rest = &expr[i..];
            let range = rest
                .find('[')
                .map(|start| &rest[start..=start + rest[start..].find(']').unwrap_or(0)]);
            assert_eq!(
                range,
                Some("[$__rate_interval]"),
                "{place}: rate() must use $__rate_interval: {expr}"
            );
        }
    }
    // Tables: one row per token even when two replicas disagree on owner or status labels.
    for panel in panels.iter().filter(|p| p["type"] == "table") {
        for expr in expr_of(panel) {
            if expr.contains("okta_api_token_info") || expr.contains("okta_api_token_status") {
                assert!(
                    expr.starts_with("topk by (org, token_id, token_name, user_id) (1,"),
                    "{}: one row per token: {expr}",
                    panel_name(panel)
                );
            }
        }
    }
    // The expiry series draws a bounded number of tokens, not all 1,000.
    let expiry = panels
        .iter()
        .find(|p| {
            p["type"] == "timeseries"
                && expr_of(p)
                    .iter()
                    .any(|e| e.contains("okta_api_token_time_to_expiry_seconds"))
        })
        .expect("a time-to-expiry time series");
    assert!(
        expr_of(expiry).iter().all(|e| e.starts_with("bottomk(")),
        "{} must bound the number of tokens drawn",
        panel_name(expiry)
    );
    // A status timeline per token, in Okta's colours.
    let timeline = panels
        .iter()
        .find(|p| {
            p["type"] == "state-timeline"
                && expr_of(p)
                    .iter()
                    .any(|e| e.contains("okta_api_token_status"))
        })
        .expect("a per-token status timeline");
    let mappings = timeline["fieldConfig"]["defaults"]["mappings"].to_string();
    for colour in ["Green", "Gray", "Red", "Yellow"] {
        assert!(mappings.contains(colour), "timeline mapping for {colour}");
    }
    // It draws a bounded number of tokens too: the worst colours first.
    assert!(
        expr_of(timeline).iter().all(|e| e.starts_with("topk(20, ")),
        "{} must bound the number of tokens drawn",
        panel_name(timeline)
    );
    // The rate-limit share with the alert's 10% line.
    let ratio = panels
        .iter()
        .find(|p| {
            expr_of(p).iter().any(|e| {
                e.contains("okta_rate_limit_remaining") && e.contains("/ (okta_rate_limit_limit")
            })
        })
        .expect("a rate-limit share panel");
    let defaults = &ratio["fieldConfig"]["defaults"];
    assert_eq!(defaults["unit"], "percentunit");
    assert!(
        defaults["thresholds"]["steps"]
            .as_array()
            .is_some_and(|steps| steps.iter().any(|s| s["value"] == 0.1)),
        "a threshold step at 10%"
    );
    assert_ne!(defaults["custom"]["thresholdsStyle"]["mode"], "off");
}

/// The poll-failing runbook explains every reason `okta_poll_errors_total` can carry: the
/// reasons are read from the golden exposition file, which the binary's output is checked
/// against byte for byte.
#[test]
fn the_poll_failing_runbook_explains_every_error_reason() {
    let golden = read("tests/fixtures/exposition.txt");
    let reasons: BTreeSet<&str> = golden
        .lines()
        .filter(|l| l.starts_with("okta_poll_errors_total{"))
        .filter_map(|l| l.split("reason=\"").nth(1)?.split('"').next())
        .collect();
    assert!(reasons.len() >= 9, "{reasons:?}");
    let runbooks = read(RUNBOOKS);
    let section = runbooks
        .split("\n## ")
        .find(|s| s.starts_with("OktaExporterOrgPollFailing\n"))
        .expect("a section for OktaExporterOrgPollFailing");
    let table_rows: Vec<&str> = section.lines().filter(|l| l.starts_with("| `")).collect();
    let missing: Vec<&&str> = reasons
        .iter()
        .filter(|r| !table_rows.iter().any(|row| row.contains(&format!("`{r}`"))))
        .collect();
    assert!(
        missing.is_empty(),
        "reasons the runbook's table lacks: {missing:?}"
    );
}
