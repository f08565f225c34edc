//! okta-token-exporter: a Prometheus exporter that warns before Okta API tokens lapse.
//!
//! Data flows one way: each org's `poller` owns its working `state`, polls Okta through `okta`,
//! enriches with `enrich`, and publishes an immutable `snapshot`; `metrics` renders snapshots
//! into the text format (`exposition`), and `server` serves it over HTTP (`compression`,
//! `web_config`). `config` turns flags and YAML into a validated configuration; `duration` and
//! `status` are the pure rules; `storage` keeps the state file; `app` wires it all, `cli` parses.
//! The simulated Okta org of the demo and the tests is its own crate, `okta-simulator`.

pub mod allocator;
pub mod app;
pub mod cli;
pub mod compression;
pub mod config;
pub mod duration;
pub mod enrich;
pub mod exposition;
pub mod jose;
pub mod keepalive;
pub mod landing_page;
pub mod logging;
pub mod metrics;
pub mod okta;
pub mod password;
pub mod poller;
pub mod removal;
pub mod report;
pub mod secret;
pub mod server;
pub mod snapshot;
pub mod state;
pub mod status;
pub mod storage;
pub mod token_table;
pub mod web_config;
