//! okta-token-exporter: a Prometheus exporter that warns before Okta API tokens lapse.
//!
//! Data flows one way: each org's `poller` owns its working `state`, polls Okta through `okta`,
//! enriches with `enrich`, and publishes an immutable `snapshot`; `metrics` renders snapshots
//! into the text format (`exposition`), and `server` serves it over HTTP (`compression`, and
//! `web`: listening, TLS, client certificates, basic auth, headers; `der` is the small DER
//! reader `web` shares with `jose`). `model` is the published model at the bottom: tokens,
//! owners, kept-alive facts, removals, the colour rules (`model::status`), admin roles and the
//! posture findings (`model::roles`, `model::posture`); `posture` reads a token's posture off a
//! snapshot for every renderer. `config` turns
//! flags and YAML into the settings each part takes; `duration` is a pure parser; `storage`
//! keeps the state file; `app` wires it all, `cli` parses, `stdout` prints a command's output. The simulated Okta org of the demo
//! and the tests is its own crate, `okta-simulator`.

pub mod allocator;
pub mod app;
pub mod cli;
pub mod compression;
pub mod config;
pub mod der;
pub mod duration;
pub mod enrich;
pub mod exposition;
pub mod jose;
pub mod keepalive;
pub mod landing_page;
pub mod logging;
pub mod metrics;
pub mod model;
pub mod okta;
pub mod password;
pub mod poller;
pub mod posture;
pub mod report;
pub mod secret;
pub mod server;
pub mod snapshot;
pub mod state;
pub mod stdout;
pub mod storage;
pub mod token_table;
pub mod web;
pub mod yaml;

/// The web plumbing's former name, so that code written against it keeps compiling.
pub use web as web_config;
