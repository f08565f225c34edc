//! Structured logs on stderr, as logfmt (the Prometheus ecosystem's default) or JSON.
//!
//! `--log.level` applies to the exporter's own events; other crates log at `warn` and above only,
//! so that a `trace` run stays readable and no library's debug output can carry a request header.

use clap::ValueEnum;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogLevel {
    Error,
    Warn,
    Info,
    Debug,
    Trace,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Logfmt,
    Json,
}

impl LogLevel {
    fn as_str(self) -> &'static str {
        match self {
            Self::Error => "error",
            Self::Warn => "warn",
            Self::Info => "info",
            Self::Debug => "debug",
            Self::Trace => "trace",
        }
    }
}

/// Installs the global subscriber. Call once, first thing in `main`.
pub fn init(level: LogLevel, format: LogFormat) {
    let others = if level == LogLevel::Error {
        "error"
    } else {
        "warn"
    };
    let filter = EnvFilter::new(format!("{others},okta_token_exporter={}", level.as_str()));
    let layer = match format {
        LogFormat::Logfmt => tracing_logfmt::builder()
            .with_span_path(false)
            .layer()
            .with_writer(std::io::stderr)
            .boxed(),
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .flatten_event(true)
            .with_writer(std::io::stderr)
            .boxed(),
    };
    tracing_subscriber::registry()
        .with(filter)
        .with(layer)
        .init();
}
