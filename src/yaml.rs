//! Reading YAML files (the configuration, the web configuration) with errors that name the
//! file, line, column and key: `source[:line:column][: key]: message`. At the bottom: it knows
//! nothing of what the files mean.

use serde_saphyr::Spanned;

/// A configuration problem, located as precisely as we can:
/// `source[:line:column][: key]: message`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{origin}{}{}: {message}", location(*line, *column), key_part(key))]
pub struct ConfigError {
    /// Where the setting came from: a file path, or `command line`.
    pub origin: String,
    /// 1-based line and column in the file; 0 when unknown (e.g. for flags).
    pub line: u64,
    pub column: u64,
    /// The key, as a path (`orgs[1].auth.ssws.token_file`) or a flag (`--okta.org-url`).
    pub key: String,
    pub message: String,
}

fn location(line: u64, column: u64) -> String {
    if line > 0 {
        format!(":{line}:{column}")
    } else {
        String::new()
    }
}

fn key_part(key: &str) -> String {
    if key.is_empty() {
        String::new()
    } else {
        format!(": {key}")
    }
}

impl ConfigError {
    /// A problem with a whole file (it cannot be read), rather than with a line of it.
    pub fn of_file(source: &str, message: String) -> ConfigError {
        ConfigError {
            origin: source.to_owned(),
            line: 0,
            column: 0,
            key: String::new(),
            message,
        }
    }
}

/// Builds errors for one source.
pub struct Locator<'a> {
    pub source: &'a str,
}

impl Locator<'_> {
    pub fn at<T>(
        &self,
        spanned: &Spanned<T>,
        key: impl Into<String>,
        message: impl std::fmt::Display,
    ) -> ConfigError {
        ConfigError {
            origin: self.source.to_owned(),
            line: spanned.referenced.line(),
            column: spanned.referenced.column(),
            key: key.into(),
            message: message.to_string(),
        }
    }
}

/// Parses a YAML document into `T`; a syntax error or an unknown key names `source`, line and
/// column.
pub fn parse_yaml<T: serde::de::DeserializeOwned>(
    source: &str,
    text: &str,
) -> Result<T, ConfigError> {
    // serde_path_to_error tracks where in the document an error happened (`orgs[0].url`);
    // the YAML parser knows the line and column. Together they name the setting exactly.
    let path = std::cell::RefCell::new(String::new());
    serde_saphyr::with_deserializer_from_str_with_options(text, yaml_options(), |deserializer| {
        serde_path_to_error::deserialize(deserializer).map_err(|e| {
            *path.borrow_mut() = key_path(e.path());
            e.into_inner()
        })
    })
    .map_err(|e| {
        let location = e.location();
        ConfigError {
            origin: source.to_owned(),
            line: location.map_or(0, |l| l.line()),
            column: location.map_or(0, |l| l.column()),
            key: path.take(),
            message: strip_location(&e.to_string()).to_owned(),
        }
    })
}

/// `orgs[0].auth.ssws`, from serde_path_to_error's path; empty at the top of the document.
fn key_path(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut out = String::new();
    for segment in path.iter() {
        match segment {
            Segment::Seq { index } => out.push_str(&format!("[{index}]")),
            // `Spanned` (which keeps a setting's line for later checks) adds a `value` level of
            // its own; no setting of ours is called `value`.
            Segment::Map { key } if key == "value" => {}
            Segment::Map { key } | Segment::Enum { variant: key } => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(key);
            }
            Segment::Unknown => {}
        }
    }
    out
}

/// The YAML parser ends its messages with `at line L, column C`; we print the location up front.
fn strip_location(message: &str) -> &str {
    match message.rfind(" at line ") {
        Some(i) if message[i..].contains(", column ") => &message[..i],
        _ => message,
    }
}

fn yaml_options() -> serde_saphyr::Options {
    // A compact one-line message: the caller adds file, line and column.
    let mut options = serde_saphyr::Options::default();
    options.with_snippet = false;
    options
}
