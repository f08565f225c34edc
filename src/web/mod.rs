//! The exporter's web plumbing, in the manner of Prometheus' exporter-toolkit: where to listen
//! ([`listen()`]), and the web configuration file (`--web.config.file`, [`WebConfigFile`]) with
//! TLS, client certificates, basic authentication, response headers, and the watcher that
//! reloads it when a file changes. Floor-level: it knows nothing of Okta, polling, snapshots or
//! metrics; the `server` uses it.
//!
//! One room per concept:
//! - `listen`: Prometheus-style listen addresses, dual-stack `:PORT`.
//! - `config`: the file as a whole (the format, load and reload, the settings in force).
//! - `raw`: the YAML as written, and how a problem is pinned to its line and key.
//! - `tls`: the rustls acceptor; `pem`: the certificate, key and CA values; `go_names`: Go's
//!   names of cipher suites, curves and TLS versions; `system_roots`: the system's CAs;
//!   `client_cert`: the client certificate check and `client_allowed_sans` (its DER reading is
//!   `der`, shared with `jose`).
//! - `basic_auth`, `headers`, `rate_limit`: the other sections of the file.
//! - `hosts`: the names requests may be addressed to (`--web.allowed-hosts`).
//! - `connections`: the places connections hold, per peer and in all, and which one gives way.
//! - `watcher`: file fingerprints and the task that looks at them.

mod basic_auth;
mod client_cert;
mod config;
mod connections;
mod go_names;
mod headers;
mod hosts;
mod listen;
mod pem;
mod rate_limit;
mod raw;
mod system_roots;
#[cfg(test)]
mod testing;
mod tls;
mod watcher;

pub use basic_auth::{credentials as basic_credentials, BasicAuth, Denied, MAX_PASSWORD_BYTES};
pub use config::{WebConfigError, WebConfigFile, WebSettings};
pub use connections::{
    peer_key, Connection, ConnectionCounts, ConnectionLimits, ConnectionMetrics, Connections,
    Refusal, RequestOpen,
};
pub use hosts::{host_of, AllowedHosts};
pub use listen::{listen, ListenAddress};
pub use rate_limit::RateLimiter;
pub use watcher::{Refresh, Watcher, CHECK_INTERVAL};
