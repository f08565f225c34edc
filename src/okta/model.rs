//! Okta's API token object, decoded tolerantly.
//!
//! Okta adds fields over time and marks most of them optional, so a page is read as a list of JSON
//! values and each token is decoded on its own: unknown fields are ignored, unknown enum values are
//! kept as strings, and a token that lacks what we need (an id, a valid `expiresAt` and
//! `tokenWindow`) is skipped and reported, without losing the rest of the page.

use chrono::{DateTime, TimeDelta, Utc};
use serde::Deserialize;

use crate::duration::parse_iso8601_seconds;

/// The metadata of one API token (never the token's secret: Okta does not return it).
#[derive(Debug, Clone, PartialEq)]
pub struct ApiToken {
    pub id: String,
    pub name: String,
    /// The owner; empty when Okta omitted it.
    pub user_id: String,
    /// The client the token was created for (e.g. "Okta API"); empty when omitted.
    pub client_name: String,
    /// `network.connection` (`ANYWHERE`, `ZONE`, or whatever Okta adds); empty when omitted.
    pub network_connection: String,
    pub window: TimeDelta,
    pub created: Option<DateTime<Utc>>,
    pub expires_at: DateTime<Utc>,
}

/// A token object that could not be decoded, with the reason and (when readable) its id.
#[derive(Debug, Clone, PartialEq)]
pub struct SkippedToken {
    pub id: Option<String>,
    pub reason: String,
}

/// The wire shape. Every field is optional here; `ApiToken::from_json` decides what is required.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireToken {
    id: Option<String>,
    name: Option<String>,
    user_id: Option<String>,
    client_name: Option<String>,
    token_window: Option<String>,
    network: Option<WireNetwork>,
    created: Option<String>,
    expires_at: Option<String>,
}

#[derive(Deserialize)]
struct WireNetwork {
    connection: Option<String>,
}

impl ApiToken {
    /// Decodes one element of the token list.
    pub fn from_json(value: serde_json::Value) -> Result<ApiToken, SkippedToken> {
        let id_hint = value.get("id").and_then(|v| v.as_str()).map(str::to_owned);
        let skip = |reason: String| SkippedToken {
            id: id_hint.clone(),
            reason,
        };
        let wire: WireToken = serde_json::from_value(value).map_err(|e| skip(e.to_string()))?;
        let id = wire
            .id
            .filter(|id| !id.is_empty())
            .ok_or_else(|| skip("missing field `id`".into()))?;
        let expires_at = wire
            .expires_at
            .ok_or_else(|| skip("missing field `expiresAt`".into()))
            .and_then(|s| parse_timestamp(&s).map_err(|e| skip(format!("`expiresAt`: {e}"))))?;
        let window = wire
            .token_window
            .ok_or_else(|| skip("missing field `tokenWindow`".into()))
            .and_then(|s| {
                parse_iso8601_seconds(&s).map_err(|e| skip(format!("`tokenWindow`: {e}")))
            })?;
        let window = i64::try_from(window)
            .ok()
            .and_then(TimeDelta::try_seconds)
            .ok_or_else(|| skip("`tokenWindow` is too large".into()))?;
        // `created` only feeds its own metric: a bad value drops that metric, not the token.
        let created = wire
            .created
            .as_deref()
            .and_then(|s| parse_timestamp(s).ok());
        Ok(ApiToken {
            id,
            name: wire.name.unwrap_or_default(),
            user_id: wire.user_id.unwrap_or_default(),
            client_name: wire.client_name.unwrap_or_default(),
            network_connection: wire.network.and_then(|n| n.connection).unwrap_or_default(),
            window,
            created,
            expires_at,
        })
    }

    /// The last use implied by Okta's sliding expiry.
    pub fn last_used(&self) -> DateTime<Utc> {
        crate::status::last_used(self.expires_at, self.window)
    }
}

fn parse_timestamp(s: &str) -> Result<DateTime<Utc>, chrono::ParseError> {
    DateTime::parse_from_rfc3339(s).map(|t| t.to_utc())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn full() -> serde_json::Value {
        json!({
            "id": "00Tabcdefg1234567890", "name": "My API Token", "userId": "00uabcdefg1234567890",
            "clientName": "Okta API", "tokenWindow": "P30D",
            "network": { "connection": "ANYWHERE" },
            "created": "2021-11-09T20:38:10.000Z", "lastUpdated": "2021-11-11T20:38:10.000Z",
            "expiresAt": "2021-12-11T20:38:10.000Z",
            "_links": { "self": { "href": "https://x/api/v1/api-tokens/00T" } }
        })
    }

    fn with(mut v: serde_json::Value, key: &str, new: serde_json::Value) -> serde_json::Value {
        if new.is_null() {
            v.as_object_mut().unwrap().remove(key);
        } else {
            v[key] = new;
        }
        v
    }

    #[test]
    fn decodes_okta_documented_example() {
        let t = ApiToken::from_json(full()).unwrap();
        assert_eq!(t.id, "00Tabcdefg1234567890");
        assert_eq!(t.name, "My API Token");
        assert_eq!(t.user_id, "00uabcdefg1234567890");
        assert_eq!(t.client_name, "Okta API");
        assert_eq!(t.network_connection, "ANYWHERE");
        assert_eq!(t.window, TimeDelta::days(30));
        assert_eq!(
            t.created,
            Some(parse_timestamp("2021-11-09T20:38:10Z").unwrap())
        );
        assert_eq!(
            t.expires_at,
            parse_timestamp("2021-12-11T20:38:10Z").unwrap()
        );
        assert_eq!(
            t.last_used(),
            parse_timestamp("2021-11-11T20:38:10Z").unwrap()
        );
    }

    #[test]
    fn tolerates_what_okta_may_change() {
        let cases = [
            ("unknown field", with(full(), "newField", json!({"a": 1}))),
            (
                "`_link` instead of `_links`",
                with(with(full(), "_links", json!(null)), "_link", json!({})),
            ),
            ("no network", with(full(), "network", json!(null))),
            (
                "unknown connection",
                with(full(), "network", json!({"connection": "SOMEWHERE_NEW"})),
            ),
            ("no name", with(full(), "name", json!(null))),
            ("no userId", with(full(), "userId", json!(null))),
            ("no created", with(full(), "created", json!(null))),
            ("bad created", with(full(), "created", json!("yesterday"))),
            (
                "offset timestamp",
                with(full(), "expiresAt", json!("2021-12-11T21:38:10.000+01:00")),
            ),
        ];
        for (name, value) in cases {
            let t = ApiToken::from_json(value).unwrap_or_else(|e| panic!("{name}: {e:?}"));
            assert_eq!(
                t.expires_at,
                parse_timestamp("2021-12-11T20:38:10Z").unwrap(),
                "{name}"
            );
        }
    }

    #[test]
    fn skips_tokens_without_what_the_metrics_need() {
        let cases = [
            ("no id", with(full(), "id", json!(null)), None, "`id`"),
            ("empty id", with(full(), "id", json!("")), Some(""), "`id`"),
            (
                "no expiresAt",
                with(full(), "expiresAt", json!(null)),
                Some("00Tabcdefg1234567890"),
                "`expiresAt`",
            ),
            (
                "bad expiresAt",
                with(full(), "expiresAt", json!("soon")),
                Some("00Tabcdefg1234567890"),
                "`expiresAt`",
            ),
            (
                "no tokenWindow",
                with(full(), "tokenWindow", json!(null)),
                Some("00Tabcdefg1234567890"),
                "`tokenWindow`",
            ),
            (
                "bad tokenWindow",
                with(full(), "tokenWindow", json!("30 days")),
                Some("00Tabcdefg1234567890"),
                "`tokenWindow`",
            ),
            (
                "wrong type",
                with(full(), "name", json!(42)),
                Some("00Tabcdefg1234567890"),
                "invalid type",
            ),
            ("not an object", json!("00T"), None, "invalid type"),
        ];
        for (name, value, id, reason) in cases {
            let skipped = ApiToken::from_json(value).expect_err(name);
            assert_eq!(skipped.id.as_deref(), id, "{name}");
            assert!(
                skipped.reason.contains(reason),
                "{name}: {}",
                skipped.reason
            );
        }
    }
}
