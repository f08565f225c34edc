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
mod oauth;
mod polling;
mod properties;
mod readme;
mod report;
mod scrape_encoding;
mod secrets;
mod storage;
mod token_table;
mod web_config;
