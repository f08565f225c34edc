//! The monitoring assets shipped with the exporter: Prometheus rules (`alerts/`), their unit
//! tests (`alerts/tests/`), the Alertmanager example and the Grafana dashboard (`dashboards/`).
//!
//! The rule and Alertmanager checks run Debian's `promtool` and `amtool` (packages `prometheus`
//! and `prometheus-alertmanager`). Without them those tests print a loud SKIPPED line and pass,
//! except on CI (`CI=true`), where a missing tool fails the test.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const RULES: &str = "alerts/okta-api-tokens.rules.yml";
const RULE_TESTS: &str = "alerts/tests";
const ALERTMANAGER: &str = "alerts/alertmanager.yml";
const DASHBOARD: &str = "dashboards/okta-api-tokens.json";
const DASHBOARD_UID: &str = "okta-api-tokens";
/// Every runbook URL: the README's runbook section under the base the user sets as the external
/// label `okta_runbook_base`, or relative to the README without it (no invented host).
const RUNBOOK_PREFIX: &str =
    "{{ with $externalLabels.okta_runbook_base }}{{ . }}{{ else }}README.md{{ end }}#runbook-";

/// Every metric the exporter exposes with an `okta_` prefix, the contract the rules and the
/// dashboard are written against: taken from the exporter's own list of families, so a family
/// added or renamed in the code is seen here without anyone keeping a copy.
fn exported_metrics() -> Vec<&'static str> {
    let mut names: Vec<&'static str> = okta_token_exporter::metrics::Family::ALL
        .iter()
        .map(|family| family.spec().name)
        .collect();
    names.push("okta_exporter_build_info");
    names
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

/// The rule unit-test files, relative to the crate root, sorted.
fn rule_test_files() -> Vec<String> {
    let mut files: Vec<String> = std::fs::read_dir(path(RULE_TESTS))
        .unwrap_or_else(|e| panic!("cannot list {RULE_TESTS}: {e}"))
        .map(|entry| {
            entry
                .expect("directory entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|name| name.ends_with(".yml") || name.ends_with(".yaml"))
        .map(|name| format!("{RULE_TESTS}/{name}"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no rule unit tests in {RULE_TESTS}");
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

/// The identifiers in `text` that are not exported metric names (nor one of `allowed`).
fn unknown_metric_names(text: &str, allowed: &BTreeSet<String>) -> Vec<String> {
    okta_identifiers(text)
        .into_iter()
        .filter(|name| !exported_metrics().contains(&name.as_str()) && !allowed.contains(name))
        .collect()
}

fn dashboard() -> Value {
    serde_json::from_str(&read(DASHBOARD))
        .unwrap_or_else(|e| panic!("{DASHBOARD} is not valid JSON: {e}"))
}

/// Every panel of the dashboard, including panels nested in collapsed rows.
fn all_panels(dashboard: &Value) -> Vec<&Value> {
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
fn dashboard_exprs(dashboard: &Value) -> Vec<(String, String)> {
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
fn alert_rules_pass_promtool_check() {
    let Some(promtool) = promtool() else { return };
    run(&promtool, &["check", "rules", RULES]);
}

#[test]
fn alert_rules_pass_promtool_unit_tests() {
    let Some(promtool) = promtool() else { return };
    let files = rule_test_files();
    let mut args = vec!["test", "rules"];
    args.extend(files.iter().map(String::as_str));
    run(&promtool, &args);
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
    for url in yaml_values(&rules, "runbook_url") {
        assert!(
            url.starts_with(RUNBOOK_PREFIX),
            "runbook_url {url} must start with {RUNBOOK_PREFIX}"
        );
    }
}

#[test]
fn alert_rules_use_only_exported_metric_names() {
    let rules = read(RULES);
    let mut allowed: BTreeSet<String> = yaml_values(&rules, "record").into_iter().collect();
    assert!(!allowed.is_empty(), "expected recording rules in {RULES}");
    // The external label that sets the runbook base, not a metric.
    allowed.insert("okta_runbook_base".into());
    let unknown = unknown_metric_names(&rules, &allowed);
    assert!(
        unknown.is_empty(),
        "{RULES} mentions metrics the exporter does not expose: {unknown:?}"
    );
}

#[test]
fn runbook_urls_point_at_readme_headings() {
    let rules = read(RULES);
    let wanted: BTreeSet<String> = yaml_values(&rules, "runbook_url")
        .iter()
        .filter_map(|url| url.split_once('#').map(|(_, anchor)| anchor.to_owned()))
        .collect();
    assert!(!wanted.is_empty());
    let anchors = markdown_anchors(&read("README.md"));
    let missing: Vec<&String> = wanted.iter().filter(|a| !anchors.contains(*a)).collect();
    assert!(
        missing.is_empty(),
        "runbook anchors without a README.md heading: {missing:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// Alertmanager
// ---------------------------------------------------------------------------------------------

#[test]
fn alertmanager_config_passes_amtool_check() {
    let Some(amtool) = amtool() else { return };
    run(&amtool, &["check-config", ALERTMANAGER]);
}

#[test]
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
fn dashboard_has_datasource_and_org_variables() {
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

    let org = variable("org");
    assert!(
        datasource_is_variable(&org["datasource"]),
        "the org variable must query ${{datasource}}"
    );
    let query = org["query"].get("query").unwrap_or(&org["query"]);
    assert_eq!(query, "label_values(okta_up, org)");
    assert_eq!(org["multi"], true);
    assert_eq!(org["includeAll"], true);
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
    for (place, expr) in queries {
        let unknown = unknown_metric_names(&expr, &nothing);
        assert!(
            unknown.is_empty(),
            "{place}: unknown metric names {unknown:?} in `{expr}`"
        );
    }
}

#[test]
fn metric_name_check_catches_typos_and_recording_rules() {
    let nothing = BTreeSet::new();
    assert!(unknown_metric_names("max by (org) (okta_up{org=~\"$org\"})", &nothing).is_empty());
    assert_eq!(
        unknown_metric_names("okta_api_token_expiry_timestmp_seconds - time()", &nothing),
        ["okta_api_token_expiry_timestmp_seconds"]
    );
    assert_eq!(
        unknown_metric_names("org:okta_up:min == 0", &nothing),
        ["org:okta_up:min"]
    );
    assert_eq!(unknown_metric_names("okta_upp", &nothing), ["okta_upp"]);
}

#[test]
fn dashboard_queries_are_valid_promql() {
    let Some(promtool) = promtool() else { return };
    let exprs = dashboard_exprs(&dashboard());
    // promtool parses PromQL when it checks rules: wrap every query in a recording rule, with
    // Grafana's variables replaced by what Grafana would send.
    let mut rules = String::from("groups:\n  - name: dashboard\n    rules:\n");
    for (i, (_, expr)) in exprs.iter().enumerate() {
        let expr = expr
            .replace("$__rate_interval", "5m")
            .replace("$__interval", "1m")
            .replace("$__range", "1h")
            .replace("$org", ".*");
        // A JSON string is a valid YAML double-quoted scalar.
        let quoted = serde_json::to_string(&expr).expect("string");
        rules.push_str(&format!(
            "      - record: dashboard_query_{i}\n        expr: {quoted}\n"
        ));
    }
    let file = std::env::temp_dir().join(format!(
        "okta-token-exporter-dashboard-{}.rules.yml",
        std::process::id()
    ));
    std::fs::write(&file, rules).expect("write temporary rules file");
    let result = std::panic::catch_unwind(|| {
        run(
            &promtool,
            &["check", "rules", file.to_str().expect("UTF-8 temp path")],
        )
    });
    let _ = std::fs::remove_file(&file);
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
    for status in ["green", "gray", "red", "yellow"] {
        let selector = format!("status=\"{status}\"");
        let stat = panels
            .iter()
            .find(|p| {
                p["type"] == "stat"
                    && p["targets"][0]["expr"]
                        .as_str()
                        .is_some_and(|e| e.contains(&selector))
            })
            .unwrap_or_else(|| panic!("no stat panel counting {status} tokens"));
        let color = &stat["fieldConfig"]["defaults"]["color"];
        assert_eq!(
            color["mode"], "fixed",
            "the {status} stat panel needs a fixed colour"
        );
        assert!(
            color["fixedColor"].is_string(),
            "the {status} stat panel needs a fixed colour"
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

// ---------------------------------------------------------------------------------------------
// Rule test inputs the exporter can produce
// ---------------------------------------------------------------------------------------------

mod common;

/// `name{a="x",b="y"}` as written in a rule test's `series:`: the name and the label names.
fn parse_selector(selector: &str) -> (String, BTreeSet<String>) {
    let (name, rest) = selector.split_once('{').unwrap_or((selector, "}"));
    let mut labels = BTreeSet::new();
    let mut rest = rest.trim_end_matches('}');
    while let Some((key, after)) = rest.split_once("=\"") {
        labels.insert(key.trim_start_matches(',').trim().to_owned());
        // The value runs to the next unescaped quote; values such as "/api/v1/users/{id}" hold braces.
        let mut end = 0;
        let bytes = after.as_bytes();
        while end < bytes.len() && !(bytes[end] == b'"' && (end == 0 || bytes[end - 1] != b'\\')) {
            end += 1;
        }
        rest = &after[(end + 1).min(after.len())..];
    }
    (name.to_owned(), labels)
}

/// Every `okta_` series of every rule test input, as (file, name, label names without the
/// labels Prometheus adds).
fn rule_test_inputs() -> Vec<(String, String, BTreeSet<String>)> {
    let mut inputs = Vec::new();
    let mut files: Vec<_> = std::fs::read_dir(path(RULE_TESTS))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        for selector in yaml_values(&text, "series") {
            let (name, mut labels) = parse_selector(&selector);
            if !name.starts_with("okta_") {
                continue;
            }
            labels.remove("job");
            labels.remove("instance");
            inputs.push((file.display().to_string(), name, labels));
        }
    }
    inputs
}

#[test]
fn rule_test_inputs_are_series_the_exporter_emits() {
    assert_eq!(
        parse_selector(r#"m{org="a",endpoint="/api/v1/users/{id}",code="429"}"#),
        (
            "m".to_owned(),
            ["code", "endpoint", "org"].map(String::from).into()
        )
    );
    // The demo org has a token of every kind, owners, the System Log and rate limits.
    let dir = tempfile::tempdir().unwrap();
    let exporter = common::Exporter::spawn(
        vec![
            "demo".into(),
            "--web.listen-address=127.0.0.1:0".into(),
            format!("--storage.path={}", dir.path().display()),
        ],
        dir,
    );
    let samples = exporter.wait_for(
        "the demo's first poll",
        std::time::Duration::from_secs(30),
        |s| common::value(s, "okta_up", &[]) == 1.0,
    );
    let mut emitted: std::collections::BTreeMap<String, BTreeSet<BTreeSet<String>>> =
        Default::default();
    for sample in &samples {
        emitted
            .entry(sample.name.clone())
            .or_default()
            .insert(sample.labels.keys().cloned().collect());
    }
    let inputs = rule_test_inputs();
    assert!(inputs.len() > 50, "found only {} inputs", inputs.len());
    let impossible: Vec<String> = inputs
        .iter()
        .filter(|(_, name, labels)| !emitted.get(name).is_some_and(|sets| sets.contains(labels)))
        .map(|(file, name, labels)| format!("{file}: {name} with labels {labels:?}"))
        .collect();
    assert!(
        impossible.is_empty(),
        "rule tests feed series the exporter never emits:\n{}",
        impossible.join("\n")
    );
}
