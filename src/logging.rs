//! Structured logs on stderr, as logfmt (the Prometheus ecosystem's default) or JSON.
//!
//! `--log.level` applies to the exporter's own events; other crates log at `warn` and above only,
//! so that a `trace` run stays readable and no library's debug output can carry a request header.
//! Characters that would change how a line reads without being seen (controls, bidirectional
//! overrides, line separators; a token name may hold them) are written as escapes.

use clap::ValueEnum;
use std::io::Write;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use tracing_subscriber::fmt::MakeWriter;
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
    tracing_subscriber::registry()
        .with(filter)
        .with(layer(format, std::io::stderr))
        .init();
}

/// The formatting layer, writing each event to `writer` with [`escape_deceptive`] applied.
fn layer<S, M>(format: LogFormat, writer: M) -> Box<dyn Layer<S> + Send + Sync>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
    M: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let json = format == LogFormat::Json;
    let writer = Escaping {
        inner: writer,
        json,
    };
    match format {
        LogFormat::Logfmt => tracing_logfmt::builder()
            .with_span_path(false)
            .layer()
            .with_writer(writer)
            .boxed(),
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .flatten_event(true)
            .with_writer(writer)
            .boxed(),
    }
}

/// Characters that change how the text around them reads, on a terminal or in a log viewer,
/// without being seen: C0 and C1 controls and DEL (escape sequences, line breaks), the
/// bidirectional controls (U+061C, U+200E, U+200F, U+202A to U+202E, U+2066 to U+2069: "txt.exe"
/// shown as "exe.txt"), and the line and paragraph separators U+2028 and U+2029. A token name,
/// which anyone who may create a token chooses, may hold them.
pub fn is_deceptive(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061c}'
                | '\u{200e}'
                | '\u{200f}'
                | '\u{202a}'..='\u{202e}'
                | '\u{2066}'..='\u{2069}'
                | '\u{2028}'
                | '\u{2029}'
        )
}

/// A log line with every deceptive character ([`is_deceptive`]) above U+001F written as an
/// escape: `\u{202e}` in logfmt (as logfmt writes the controls it escapes), `\u202e` in JSON
/// (a JSON escape, so the value reads back unchanged; these characters only occur inside JSON
/// strings). The C0 controls are escaped by both formats already.
pub fn escape_deceptive(line: &str, json: bool) -> std::borrow::Cow<'_, str> {
    if !line.chars().any(|c| c > '\u{1f}' && is_deceptive(c)) {
        return std::borrow::Cow::Borrowed(line);
    }
    let mut out = String::with_capacity(line.len() + 16);
    for c in line.chars() {
        if c > '\u{1f}' && is_deceptive(c) {
            if json {
                out.push_str(&format!("\\u{:04x}", c as u32));
            } else {
                out.push_str(&format!("\\u{{{:x}}}", c as u32));
            }
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

/// A `MakeWriter` whose writers hold an event's line and write it escaped ([`escape_deceptive`])
/// when dropped: both layers write one event per writer.
struct Escaping<M> {
    inner: M,
    json: bool,
}

impl<'a, M: MakeWriter<'a>> MakeWriter<'a> for Escaping<M> {
    type Writer = Escaped<M::Writer>;

    fn make_writer(&'a self) -> Self::Writer {
        Escaped {
            inner: self.inner.make_writer(),
            line: Vec::new(),
            json: self.json,
        }
    }
}

struct Escaped<W: Write> {
    inner: W,
    line: Vec<u8>,
    json: bool,
}

impl<W: Write> Write for Escaped<W> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.line.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<W: Write> Drop for Escaped<W> {
    fn drop(&mut self) {
        let line = String::from_utf8_lossy(&self.line);
        let line = escape_deceptive(&line, self.json);
        let _ = self.inner.write_all(line.as_bytes());
        let _ = self.inner.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Sink(Arc<Mutex<Vec<u8>>>);

    impl Write for Sink {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// What one event with this token name logs in `format`.
    fn logged(format: LogFormat, name: &str) -> String {
        use tracing_subscriber::layer::SubscriberExt;
        let sink = Sink::default();
        let writer = {
            let sink = sink.clone();
            move || sink.clone()
        };
        let subscriber = tracing_subscriber::registry().with(layer(format, writer));
        tracing::subscriber::with_default(
            subscriber,
            || tracing::warn!(token_name = %name, "a token"),
        );
        let bytes = sink.0.lock().unwrap().clone();
        String::from_utf8(bytes).unwrap()
    }

    #[test]
    fn deceptive_characters_in_a_value_are_escaped_in_both_formats() {
        // Nothing logfmt quotes (no space, `=` or quote): it would write the value as it is.
        let name = "invoice\u{202e}fdp.exe\u{2028}x\u{85}\u{7f}\u{2066}";
        let line = logged(LogFormat::Logfmt, name);
        assert_eq!(line.lines().count(), 1, "{line:?}");
        for c in ['\u{202e}', '\u{2028}', '\u{85}', '\u{7f}', '\u{2066}'] {
            assert!(!line.contains(c), "{c:?} in {line:?}");
        }
        assert!(line.contains(r"invoice\u{202e}fdp.exe\u{2028}"), "{line}");

        let line = logged(LogFormat::Json, name);
        assert!(!line.chars().any(|c| c > '\u{7e}'), "{line:?}");
        let value: serde_json::Value = serde_json::from_str(line.trim()).unwrap();
        assert_eq!(
            value["token_name"], name,
            "JSON escapes read back unchanged"
        );

        let plain = "ci-bot µ åäö 🙂";
        assert!(logged(LogFormat::Logfmt, plain).contains(plain));
        assert!(matches!(
            escape_deceptive("no escapes here", false),
            std::borrow::Cow::Borrowed(_)
        ));
    }
}
