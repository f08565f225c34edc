//! The monitoring mixin, `mixin/`: the Prometheus rules, the Grafana dashboard and their
//! Kubernetes copies are rendered from it by `mixin/render.sh` and committed; these tests fail
//! when a committed file is not what a fresh render writes, when a jsonnet file is not as
//! `jsonnetfmt` formats it, and when a knob of `_config` is not proven: `mixin/tests/config.libsonnet`
//! must turn every one, the rules it renders must pass the promtool tests written for them
//! (`mixin/tests/*.test.yml`), and the dashboard it renders must follow it.
//!
//! The rendered default's promtool tests and the dashboard checks are in `alerting_rules`.
//! Needs Debian's `jsonnet` (jsonnet and jsonnetfmt) and `prometheus` (promtool).

use crate::alerting_rules::{all_panels, check_dashboard_promql, dashboard_exprs};
use crate::common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
/// Every file `mixin/render.sh` writes, relative to the repository.
const RENDERED: &[&str] = &[
    "alerts/okta-api-tokens.rules.yml",
    "dashboards/okta-api-tokens.json",
    "deploy/kubernetes/grafana-dashboard.yaml",
    "deploy/kubernetes/prometheusrule.yaml",
    "mixin/tests/okta-api-tokens.rules.yml",
];
const TEST_CONFIG: &str = "mixin/tests/config.libsonnet";
const DASHBOARD: &str = "okta-api-tokens.json";

fn path(relative: &str) -> PathBuf {
    Path::new(ROOT).join(relative)
}

fn read(relative: &str) -> String {
    std::fs::read_to_string(path(relative))
        .unwrap_or_else(|e| panic!("cannot read {relative}: {e}"))
}

/// Runs a command in the repository and returns its stdout; fails the test with the output
/// when it fails.
fn run(program: &Path, args: &[&str]) -> String {
    let output = Command::new(program)
        .args(args)
        .current_dir(ROOT)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", program.display()));
    assert!(
        output.status.success(),
        "`{} {}` failed ({}):\n{}\n{}",
        program.display(),
        args.join(" "),
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("UTF-8 output")
}

/// The value of a jsonnet expression, with `mixin/` on the library path.
fn eval(jsonnet: &Path, expr: &str) -> Value {
    let json = run(jsonnet, &["-J", "mixin", "-e", expr]);
    serde_json::from_str(&json).unwrap_or_else(|e| panic!("`{expr}` is not JSON: {e}"))
}

/// The mixin with the test config's overrides.
fn custom_mixin() -> String {
    format!("((import 'mixin.libsonnet') + (import '{TEST_CONFIG}'))")
}

/// Every file under `dir`, relative to it, sorted.
fn files_under(dir: &Path) -> BTreeSet<String> {
    fn walk(base: &Path, dir: &Path, out: &mut BTreeSet<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(base, &path, out);
            } else {
                let relative = path.strip_prefix(base).unwrap();
                out.insert(relative.to_string_lossy().into_owned());
            }
        }
    }
    let mut out = BTreeSet::new();
    walk(dir, dir, &mut out);
    out
}

#[test]
#[cfg_attr(not(tool_jsonnet), ignore = "needs `jsonnet`: apt-get install jsonnet")]
fn the_committed_files_are_what_the_mixin_renders() {
    if common::require_tool("jsonnet", "jsonnet").is_none() {
        return;
    }
    let out = tempfile::tempdir().unwrap();
    let status = Command::new("sh")
        .arg(path("mixin/render.sh"))
        .arg(out.path())
        .status()
        .expect("run mixin/render.sh");
    assert!(status.success(), "mixin/render.sh failed");
    let written = files_under(out.path());
    let expected: BTreeSet<String> = RENDERED.iter().map(|f| f.to_string()).collect();
    assert_eq!(
        written, expected,
        "mixin/render.sh writes other files than this test compares: update RENDERED"
    );
    let stale: Vec<&str> = RENDERED
        .iter()
        .copied()
        .filter(|file| {
            std::fs::read(out.path().join(file)).unwrap() != std::fs::read(path(file)).unwrap()
        })
        .collect();
    assert!(
        stale.is_empty(),
        "{stale:?} differ from a fresh render of the mixin: run mixin/render.sh (and edit mixin/, \
         not the rendered files)"
    );
}

#[test]
#[cfg_attr(not(tool_jsonnet), ignore = "needs `jsonnet`: apt-get install jsonnet")]
fn render_with_a_config_file_writes_the_plain_files_with_it() {
    if common::require_tool("jsonnet", "jsonnet").is_none() {
        return;
    }
    let out = tempfile::tempdir().unwrap();
    let status = Command::new("sh")
        .arg(path("mixin/render.sh"))
        .args(["--config", TEST_CONFIG])
        .arg(out.path())
        .current_dir(ROOT)
        .status()
        .expect("run mixin/render.sh --config");
    assert!(status.success(), "mixin/render.sh --config failed");
    let written = files_under(out.path());
    assert_eq!(
        written,
        RENDERED[..4].iter().map(|f| f.to_string()).collect(),
        "the plain files, not the test rules"
    );
    // The same rules as the committed render of the test config, but for the header.
    let body = |text: &str| -> String {
        text.lines()
            .skip_while(|line| line.starts_with('#'))
            .collect::<Vec<_>>()
            .join("\n")
    };
    let rules = std::fs::read_to_string(out.path().join(RENDERED[0])).unwrap();
    assert_eq!(body(&rules), body(&read(RENDERED[4])));
    assert!(rules.starts_with(
        "# GENERATED by mixin/render.sh from the okta-token-exporter mixin (with the _config of config.libsonnet)"
    ));
    let dashboard: Value =
        serde_json::from_str(&std::fs::read_to_string(out.path().join(RENDERED[1])).unwrap())
            .unwrap();
    assert_eq!(dashboard["uid"], "okta-tokens-eu");
}

#[test]
#[cfg_attr(
    not(tool_jsonnetfmt),
    ignore = "needs `jsonnetfmt`: apt-get install jsonnet"
)]
fn the_mixin_is_formatted_as_jsonnetfmt_formats_it() {
    let Some(jsonnetfmt) = common::require_tool("jsonnetfmt", "jsonnet") else {
        return;
    };
    let files: Vec<String> = files_under(&path("mixin"))
        .into_iter()
        .filter(|f| f.ends_with(".libsonnet") || f.ends_with(".jsonnet"))
        .map(|f| format!("mixin/{f}"))
        .collect();
    assert!(files.len() >= 6, "the mixin's jsonnet files: {files:?}");
    let unformatted: Vec<&String> = files
        .iter()
        .filter(|file| {
            !Command::new(&jsonnetfmt)
                .args(["--test", file.as_str()])
                .current_dir(ROOT)
                .status()
                .expect("run jsonnetfmt")
                .success()
        })
        .collect();
    assert!(
        unformatted.is_empty(),
        "not formatted (run `jsonnetfmt -i` on them): {unformatted:?}"
    );
}

#[test]
#[cfg_attr(not(tool_jsonnet), ignore = "needs `jsonnet`: apt-get install jsonnet")]
fn the_mixin_has_what_kube_prometheus_imports() {
    let Some(jsonnet) = common::require_tool("jsonnet", "jsonnet") else {
        return;
    };
    let mixin = eval(
        &jsonnet,
        "local m = import 'mixin.libsonnet'; {
           alerts: m.prometheusAlerts.groups, rules: m.prometheusRules.groups,
           dashboards: std.objectFields(m.grafanaDashboards),
           hidden: !std.objectHas(m, 'prometheusAlerts') && !std.objectHas(m, '_config') }",
    );
    let groups = |key: &str| -> Vec<String> {
        mixin[key]
            .as_array()
            .unwrap_or_else(|| panic!("{key}: no groups"))
            .iter()
            .map(|g| g["name"].as_str().expect("group name").to_owned())
            .collect()
    };
    let (alerts, rules) = (groups("alerts"), groups("rules"));
    assert!(!alerts.is_empty() && !rules.is_empty(), "{mixin}");
    // kube-prometheus puts both into one PrometheusRule: a repeated group name is refused.
    let names: BTreeSet<&String> = alerts.iter().chain(&rules).collect();
    assert_eq!(
        names.len(),
        alerts.len() + rules.len(),
        "{alerts:?} {rules:?}"
    );
    assert_eq!(mixin["dashboards"], serde_json::json!([DASHBOARD]));
    // Hidden fields: importing the mixin outputs nothing by itself.
    assert_eq!(mixin["hidden"], true);
}

/// The knobs of a `_config`, by name.
fn config_of(jsonnet: &Path, mixin: &str) -> serde_json::Map<String, Value> {
    match eval(jsonnet, &format!("{mixin}._config")) {
        Value::Object(config) => config,
        other => panic!("_config is not an object: {other}"),
    }
}

#[test]
#[cfg_attr(not(tool_jsonnet), ignore = "needs `jsonnet`: apt-get install jsonnet")]
fn the_test_config_turns_every_knob_and_each_is_documented() {
    let Some(jsonnet) = common::require_tool("jsonnet", "jsonnet") else {
        return;
    };
    let defaults = config_of(&jsonnet, "(import 'mixin.libsonnet')");
    let custom = config_of(&jsonnet, &custom_mixin());
    assert!(defaults.len() >= 15, "{defaults:?}");
    assert_eq!(
        defaults.keys().collect::<Vec<_>>(),
        custom.keys().collect::<Vec<_>>(),
        "{TEST_CONFIG} sets a knob the mixin does not have"
    );
    let unturned: Vec<&String> = defaults
        .iter()
        .filter(|(knob, value)| custom[knob.as_str()] == **value)
        .map(|(knob, _)| knob)
        .collect();
    assert!(
        unturned.is_empty(),
        "{TEST_CONFIG} leaves {unturned:?} at the default: no test proves them"
    );
    // Each knob has a comment in config.libsonnet (above it, or above the knobs it shares one
    // with) and is listed in mixin/README.md.
    let config = read("mixin/config.libsonnet");
    let lines: Vec<&str> = config.lines().map(str::trim).collect();
    let readme = read("mixin/README.md");
    for knob in defaults.keys() {
        let at = lines
            .iter()
            .position(|l| l.starts_with(&format!("{knob}:")))
            .unwrap_or_else(|| panic!("{knob} is not set in mixin/config.libsonnet"));
        let commented = lines[..at]
            .iter()
            .rev()
            .take_while(|l| !l.is_empty())
            .any(|l| l.starts_with("//"));
        assert!(commented, "{knob} has no comment in mixin/config.libsonnet");
        assert!(
            readme.contains(&format!("`{knob}`")),
            "mixin/README.md does not list {knob}"
        );
    }
}

#[test]
#[cfg_attr(
    not(tool_promtool),
    ignore = "needs `promtool`: apt-get install prometheus"
)]
fn the_rules_of_the_test_config_pass_their_promtool_tests() {
    let Some(promtool) = common::require_tool("promtool", "prometheus") else {
        return;
    };
    run(
        &promtool,
        &["check", "rules", "mixin/tests/okta-api-tokens.rules.yml"],
    );
    let tests: Vec<String> = files_under(&path("mixin/tests"))
        .into_iter()
        .filter(|f| f.ends_with(".test.yml"))
        .map(|f| format!("mixin/tests/{f}"))
        .collect();
    assert!(tests.len() >= 2, "{tests:?}");
    let mut args = vec!["test", "rules"];
    args.extend(tests.iter().map(String::as_str));
    run(&promtool, &args);
}

/// The rendered dashboard of a mixin.
fn dashboard_of(jsonnet: &Path, mixin: &str) -> Value {
    eval(
        jsonnet,
        &format!("{mixin}.grafanaDashboards['{DASHBOARD}']"),
    )
}

fn variable<'a>(dashboard: &'a Value, name: &str) -> &'a Value {
    dashboard["templating"]["list"]
        .as_array()
        .expect("templating.list")
        .iter()
        .find(|v| v["name"] == name)
        .unwrap_or_else(|| panic!("no {name} variable"))
}

fn panel(dashboard: &Value, id: u64) -> &Value {
    all_panels(dashboard)
        .into_iter()
        .find(|p| p["id"] == id)
        .unwrap_or_else(|| panic!("no panel {id}"))
}

#[test]
#[cfg_attr(not(tool_jsonnet), ignore = "needs `jsonnet`: apt-get install jsonnet")]
fn the_dashboard_follows_the_config() {
    let Some(jsonnet) = common::require_tool("jsonnet", "jsonnet") else {
        return;
    };
    let dashboard = dashboard_of(&jsonnet, &custom_mixin());
    assert_eq!(dashboard["uid"], "okta-tokens-eu");
    assert_eq!(dashboard["title"], "Okta API tokens (EU)");
    assert_eq!(dashboard["tags"], serde_json::json!(["identity", "okta"]));
    assert_eq!(dashboard["refresh"], "5m");
    assert_eq!(dashboard["timezone"], "utc");
    // An absolute runbook pattern becomes the dashboard's link to the runbooks.
    assert_eq!(
        dashboard["links"][0]["url"],
        "https://runbooks.example.com/okta/"
    );
    // The cluster is shown: a visible variable, and the first word of every legend.
    let cluster = variable(&dashboard, "cluster");
    assert_eq!(cluster["hide"], 0);
    assert_eq!(
        cluster["definition"],
        r#"label_values(okta_up{job="identity/okta", namespace="identity"}, k8s_cluster)"#
    );
    for (place, expr) in dashboard_exprs(&dashboard) {
        assert!(
            expr.contains(r#"job="identity/okta", namespace="identity", k8s_cluster=~"$cluster", job=~"$job", instance=~"$instance""#),
            "{place}: the exporter selector and the variables: {expr}"
        );
    }
    for panel in all_panels(&dashboard) {
        if panel["type"] != "timeseries" && panel["type"] != "state-timeline" {
            continue;
        }
        for target in panel["targets"].as_array().unwrap() {
            let legend = target["legendFormat"].as_str().unwrap();
            assert!(
                legend.starts_with("{{k8s_cluster}} "),
                "panel {}: {legend}",
                panel["id"]
            );
            let expr = target["expr"].as_str().unwrap();
            if expr.contains(" by (") {
                assert!(
                    expr.contains(" by (k8s_cluster, "),
                    "panel {}: {expr}",
                    panel["id"]
                );
            }
        }
    }
    // The thresholds: the expiry graph's and the token table's at 14 days and 48 hours...
    let expiry = panel(&dashboard, 7);
    assert!(
        expiry["targets"][0]["expr"]
            .as_str()
            .unwrap()
            .ends_with("<= 14 * 24 * 3600)"),
        "{}",
        expiry["targets"][0]["expr"]
    );
    let steps: Vec<&Value> = expiry["fieldConfig"]["defaults"]["thresholds"]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| &s["value"])
        .collect();
    assert_eq!(
        steps,
        [
            &Value::Null,
            &serde_json::json!(172800),
            &serde_json::json!(1209600)
        ]
    );
    // ...and the poll age's at 5 and 8 poll intervals.
    let age: Vec<&str> = panel(&dashboard, 11)["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["expr"].as_str().unwrap())
        .collect();
    assert!(
        age[1].starts_with("5 * ") && age[2].starts_with("8 * "),
        "{age:?}"
    );
    if let Some(promtool) = common::require_tool("promtool", "prometheus") {
        check_dashboard_promql(&promtool, &dashboard);
    }

    // The default: no link (the pattern is a path in this repository), the cluster hidden and
    // kept out of the legends.
    let default = dashboard_of(&jsonnet, "(import 'mixin.libsonnet')");
    assert_eq!(default["links"], serde_json::json!([]));
    assert_eq!(variable(&default, "cluster")["hide"], 2);
    assert!(!default.to_string().contains("{{cluster}}"));
}
