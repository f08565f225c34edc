//! okta-token-exporter: a Prometheus exporter that warns before Okta API tokens lapse.
//!
//! The modules, one concept each: `config` (YAML and flags), `okta` (the API client), `duration`
//! and `status` (the pure rules), `state` and `poller` (what we know of each org and how it is
//! refreshed), `metrics` (the scrape-time collector), `server` (HTTP), `secret`, `logging` and `cli`. The
//! simulated Okta org of the demo and the tests is its own crate, `okta-simulator`.

pub mod allocator;
pub mod app;
pub mod cli;
pub mod config;
pub mod duration;
pub mod enrich;
pub mod jose;
pub mod logging;
pub mod metrics;
pub mod okta;
pub mod poller;
pub mod secret;
pub mod server;
pub mod state;
pub mod status;
pub mod web_config;
