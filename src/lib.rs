//! okta-token-exporter: a Prometheus exporter that warns before Okta API tokens lapse.
pub mod simulator;
