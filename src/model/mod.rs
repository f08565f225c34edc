//! The published model: what the exporter knows and publishes about an org's tokens, at the
//! bottom of the house. Plain data and the pure rules on it (the console's colours, why a token
//! vanished, what a token could do: `roles`, `posture`); it imports nothing of the crate outside itself, and every other layer (the Okta
//! client, the poller, the snapshot, the renderers) builds on it.

pub mod enrichment;
pub mod kept_alive;
pub mod posture;
pub mod rate_limit;
pub mod removal;
pub mod roles;
pub mod status;
pub mod token;

pub use enrichment::{Enrichment, Off, Owner, Suspicion};
pub use kept_alive::{KeepAliveResult, KeptAlive};
pub use rate_limit::RateLimit;
pub use removal::{RemovalReason, RemovedToken};
pub use status::TokenStatus;
pub use token::{ApiToken, UntimedToken};
