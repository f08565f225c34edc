//! The Okta management API, as far as the exporter needs it: listing API token metadata.
//!
//! `model` decodes Okta's JSON tolerantly, `link` reads pagination headers, `error` turns Okta's
//! answers into messages that tell the user what to fix, and `client` does the HTTP: pagination,
//! timeouts, retries and rate limits.

pub mod client;
pub mod error;
pub mod link;
pub mod model;
pub mod oauth;
pub mod settings;

pub use client::{OktaClient, PollStats, RateLimit};
pub use error::{PollError, PollErrorReason};
pub use model::ApiToken;
