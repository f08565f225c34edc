//! The web config file as written: the YAML of Prometheus' exporter-toolkit, key by key, read
//! with serde (unknown keys refused), and how a problem is pinned to the line and key it is
//! about ([`locate`]).

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use serde::Deserialize;
use serde_saphyr::Spanned;

use crate::secret::Secret;
use crate::yaml::{ConfigError, Locator};

/// A problem at a place in the file.
pub(super) fn locate<T>(
    at: &Locator,
    spanned: &Spanned<T>,
    key: impl Into<String>,
    problem: impl fmt::Display,
) -> ConfigError {
    at.at(spanned, key, problem.to_string())
}

/// Where a setting is written, whatever its type: for errors.
pub(super) fn place<T>(spanned: &Spanned<T>) -> Spanned<()> {
    Spanned::new((), spanned.referenced, spanned.defined)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawWebConfig {
    pub(super) tls_server_config: Option<Spanned<RawTls>>,
    pub(super) http_server_config: Option<RawHttpServer>,
    pub(super) basic_auth_users: Option<BTreeMap<String, Spanned<String>>>,
    pub(super) rate_limit: Option<RawRateLimit>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTls {
    pub(super) cert: Option<Spanned<String>>,
    pub(super) key: Option<Spanned<InlineKey>>,
    pub(super) client_ca: Option<Spanned<String>>,
    pub(super) cert_file: Option<Spanned<PathBuf>>,
    pub(super) key_file: Option<Spanned<PathBuf>>,
    pub(super) client_auth_type: Option<Spanned<String>>,
    pub(super) client_ca_file: Option<Spanned<PathBuf>>,
    pub(super) client_allowed_sans: Option<Spanned<Vec<String>>>,
    pub(super) min_version: Option<Spanned<String>>,
    pub(super) max_version: Option<Spanned<String>>,
    pub(super) cipher_suites: Option<Spanned<Vec<Spanned<String>>>>,
    pub(super) prefer_server_cipher_suites: Option<bool>,
    pub(super) curve_preferences: Option<Spanned<Vec<Spanned<String>>>>,
}

/// The inline `key`: a private key, so held as a [`Secret`] that no formatting shows.
pub(super) struct InlineKey(pub(super) Secret);

impl<'de> Deserialize<'de> for InlineKey {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(|pem| InlineKey(Secret::new(pem)))
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawHttpServer {
    pub(super) http2: Option<bool>,
    pub(super) headers: Option<BTreeMap<String, Spanned<String>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRateLimit {
    pub(super) interval: Option<Spanned<GoDuration>>,
    pub(super) burst: Option<Spanned<i64>>,
}

/// A duration as Go's YAML reads one: a string for `time.ParseDuration` (`1s`, `1m30s`) or a
/// whole number of nanoseconds. Kept as written; `rate_limit` reads it.
pub(super) struct GoDuration(pub(super) String);

impl<'de> Deserialize<'de> for GoDuration {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = GoDuration;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration such as 0, 1s or 500ms")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<GoDuration, E> {
                Ok(GoDuration(v.to_owned()))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<GoDuration, E> {
                Ok(GoDuration(v.to_string()))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<GoDuration, E> {
                Ok(GoDuration(v.to_string()))
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}
