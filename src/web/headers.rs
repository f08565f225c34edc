//! `http_server_config.headers`: the response headers exporter-toolkit lets a web config set,
//! with the values it accepts.

use std::collections::BTreeMap;

use hyper::header::{HeaderName, HeaderValue};
use serde_saphyr::Spanned;

use super::raw::locate;
use crate::yaml::{ConfigError, Locator};

/// What is wrong with a header; [`locate`] adds the file, line, column and key.
#[derive(Debug, thiserror::Error)]
enum Problem {
    #[error("this header cannot be set; allowed: {}", ALLOWED_HEADERS.join(", "))]
    HeaderNotAllowed,
    #[error("invalid value {value:?} for {header}")]
    InvalidHeaderValue { header: &'static str, value: String },
}

/// The headers exporter-toolkit lets a web config set.
const ALLOWED_HEADERS: [&str; 5] = [
    "Content-Security-Policy",
    "Strict-Transport-Security",
    "X-Content-Type-Options",
    "X-Frame-Options",
    "X-XSS-Protection",
];

/// The headers a web config sets, with the values exporter-toolkit accepts.
pub(super) fn response_headers(
    headers: &BTreeMap<String, Spanned<String>>,
    at: &Locator,
) -> Result<Vec<(HeaderName, HeaderValue)>, ConfigError> {
    let mut out = Vec::with_capacity(headers.len());
    for (name, value) in headers {
        let key = format!("http_server_config.headers.{name}");
        let Some(known) = ALLOWED_HEADERS
            .iter()
            .find(|a| a.eq_ignore_ascii_case(name))
        else {
            return Err(locate(at, value, key, Problem::HeaderNotAllowed));
        };
        let text = value.value.trim();
        let valid = match *known {
            "X-Content-Type-Options" => text.eq_ignore_ascii_case("nosniff"),
            "X-Frame-Options" => {
                text.eq_ignore_ascii_case("deny") || text.eq_ignore_ascii_case("sameorigin")
            }
            _ => !text.is_empty(),
        };
        let header_value = HeaderValue::from_str(text).ok().filter(|_| valid);
        let Some(header_value) = header_value else {
            let problem = Problem::InvalidHeaderValue {
                header: known,
                value: text.to_owned(),
            };
            return Err(locate(at, value, key, problem));
        };
        let name = HeaderName::from_bytes(known.to_ascii_lowercase().as_bytes())
            .expect("the allowed names are valid");
        out.push((name, header_value));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use crate::web::testing::write;
    use crate::web::WebConfigFile;

    #[test]
    fn allowed_headers_are_sent_in_their_canonical_form() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            dir.path(),
            "web.yml",
            "http_server_config:\n  headers:\n    x-frame-options: DENY\n    Strict-Transport-Security: max-age=31536000\n",
        );
        let settings = WebConfigFile::load(&path).unwrap().current();
        let names: Vec<_> = settings
            .headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.to_str().unwrap()))
            .collect();
        assert_eq!(
            names,
            [
                ("strict-transport-security", "max-age=31536000"),
                ("x-frame-options", "DENY")
            ]
        );
    }
}
