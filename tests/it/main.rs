//! The integration tests, in one binary (one link of the crate, not one per file): each module
//! drives the real exporter binary, over loopback HTTP where it serves, against the simulated
//! Okta org, or checks a shipped file against what the binary does. `cargo test --test it
//! <module>::` runs one module. The packaging tests (container image, Debian package, systemd
//! unit, Kubernetes manifests) are their own binary, `tests/packaging/`.

#[path = "../common/mod.rs"]
mod common;

mod alerting_rules;
mod architecture;
mod browser;
mod cli;
mod client;
mod demo_data;
mod end_to_end;
mod enrichment;
mod faults;
mod keepalive;
mod mixin;
mod oauth;
mod polling;
mod posture;
mod properties;
mod readme;
mod report;
mod request_surface;
mod response_headers;
mod scrape_encoding;
mod secrets;
mod slow_clients;
mod state_file;
mod storage;
mod token_table;
mod web_config;

/// A test whose tool is missing is marked ignored, with the tool's name, in cargo's summary
/// (build.rs sets `tool_<name>` for each tool on `PATH`). Under `CI=true` an ignored test would
/// pass unseen: this fails instead, naming every tool the machine lacks.
#[test]
fn every_tool_the_tests_need_is_here_under_ci() {
    if std::env::var("CI").as_deref() != Ok("true") {
        return;
    }
    let tools = [
        (cfg!(tool_promtool), "promtool (apt-get install prometheus)"),
        (
            cfg!(tool_amtool),
            "amtool (apt-get install prometheus-alertmanager)",
        ),
        (
            cfg!(tool_prometheus),
            "prometheus (apt-get install prometheus)",
        ),
        (
            cfg!(tool_alertmanager),
            "prometheus-alertmanager (apt-get install prometheus-alertmanager)",
        ),
        (cfg!(tool_chromium), "chromium (apt-get install chromium)"),
        (cfg!(tool_script), "script (apt-get install bsdutils)"),
        (
            cfg!(tool_systemd_analyze),
            "systemd-analyze (apt-get install systemd)",
        ),
        (cfg!(tool_buildah), "buildah (apt-get install buildah)"),
        (
            cfg!(tool_kubectl),
            "kubectl (apt-get install kubernetes-client)",
        ),
        (
            cfg!(tool_cargo_deb),
            "cargo-deb (cargo install cargo-deb --locked)",
        ),
        (cfg!(tool_jsonnet), "jsonnet (apt-get install jsonnet)"),
        (
            cfg!(tool_jsonnetfmt),
            "jsonnetfmt (apt-get install jsonnet)",
        ),
        (cfg!(root), "root (the container and package tests)"),
    ];
    let missing: Vec<&str> = tools
        .iter()
        .filter(|(here, _)| !here)
        .map(|(_, what)| *what)
        .collect();
    assert!(
        missing.is_empty(),
        "CI=true, but the tests that need these would be ignored: {missing:?}"
    );
}
