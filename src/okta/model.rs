//! Okta's API token object, decoded tolerantly.
//!
//! Okta adds fields over time and marks most of them optional, so a page is read as a list of JSON
//! values and each token is decoded on its own: unknown fields are ignored, unknown enum values are
//! kept as strings, and a token that lacks what we need (an id, a valid `expiresAt` and
//! `tokenWindow`) is skipped and reported, without losing the rest of the page.

use chrono::{DateTime, TimeDelta, Utc};
use serde::Deserialize;

use crate::duration::parse_iso8601_seconds;
pub use crate::model::token::{ApiToken, UntimedToken};

/// One element of the token list, decoded.
#[derive(Debug, Clone, PartialEq)]
pub enum ListedToken {
    /// With an expiry: what the exporter watches.
    Timed(ApiToken),
    /// Without one.
    Untimed(UntimedToken),
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

impl ListedToken {
    /// Decodes one element of the token list: a token with an id and both expiry fields is
    /// timed, one that lacks `expiresAt` or `tokenWindow` altogether is untimed, and anything
    /// else (no id, a field Okta sent but that cannot be read) is skipped with the reason.
    pub fn from_json(value: serde_json::Value) -> Result<ListedToken, SkippedToken> {
        let missing = match (value.get("expiresAt"), value.get("tokenWindow")) {
            (None | Some(serde_json::Value::Null), _) => Some("expiresAt"),
            (_, None | Some(serde_json::Value::Null)) => Some("tokenWindow"),
            _ => None,
        };
        match missing {
            None => ApiToken::from_json(value).map(ListedToken::Timed),
            Some(missing) => {
                let (wire, id) = decode_wire(value)?;
                Ok(ListedToken::Untimed(UntimedToken {
                    id,
                    name: wire.name.unwrap_or_default(),
                    user_id: wire.user_id.unwrap_or_default(),
                    client_name: wire.client_name.unwrap_or_default(),
                    network_connection: wire.network.and_then(|n| n.connection).unwrap_or_default(),
                    created: wire
                        .created
                        .as_deref()
                        .and_then(|s| parse_timestamp(s).ok()),
                    missing,
                }))
            }
        }
    }
}

/// The wire shape and the token's id, or why the object is no token at all.
fn decode_wire(value: serde_json::Value) -> Result<(WireToken, String), SkippedToken> {
    let id_hint = value.get("id").and_then(|v| v.as_str()).map(str::to_owned);
    let skip = |reason: String| SkippedToken {
        id: id_hint.clone(),
        reason,
    };
    let wire: WireToken = serde_json::from_value(value).map_err(|e| skip(e.to_string()))?;
    let id = wire
        .id
        .clone()
        .filter(|id| !id.is_empty())
        .ok_or_else(|| skip("missing field `id`".into()))?;
    Ok((wire, id))
}

impl ApiToken {
    /// Decodes one element of the token list that must have an expiry.
    pub fn from_json(value: serde_json::Value) -> Result<ApiToken, SkippedToken> {
        let (wire, id) = decode_wire(value)?;
        let skip = |reason: String| SkippedToken {
            id: Some(id.clone()),
            reason,
        };
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
        // The metrics subtract the window from the expiry (the last use): that must not overflow.
        let window = i64::try_from(window)
            .ok()
            .and_then(TimeDelta::try_seconds)
            .filter(|window| expires_at.checked_sub_signed(*window).is_some())
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
}

fn parse_timestamp(s: &str) -> Result<DateTime<Utc>, chrono::ParseError> {
    DateTime::parse_from_rfc3339(s).map(|t| t.to_utc())
}

/// An Okta user, as far as a token's owner matters: whether the owner's tokens still work.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: String,
    /// `ACTIVE`, `SUSPENDED`, `DEPROVISIONED`, … kept as Okta spells it, unknown values too.
    pub status: String,
    /// `profile.login`; empty when absent.
    pub login: String,
}

/// Why an answer of `/api/v1/users/{id}` is not a user Okta could have sent.
#[derive(Debug, thiserror::Error)]
pub enum UserError {
    #[error("not a user object: {0}")]
    NotJson(#[from] serde_json::Error),
    #[error("missing field `{0}`")]
    Missing(&'static str),
}

impl User {
    pub fn from_json(body: &[u8]) -> Result<User, UserError> {
        #[derive(Deserialize)]
        struct WireUser {
            id: Option<String>,
            status: Option<String>,
            profile: Option<WireProfile>,
        }
        #[derive(Deserialize)]
        struct WireProfile {
            login: Option<String>,
        }
        let wire: WireUser = serde_json::from_slice(body)?;
        Ok(User {
            id: wire
                .id
                .filter(|id| !id.is_empty())
                .ok_or(UserError::Missing("id"))?,
            status: wire
                .status
                .filter(|s| !s.is_empty())
                .ok_or(UserError::Missing("status"))?,
            login: wire.profile.and_then(|p| p.login).unwrap_or_default(),
        })
    }

    /// Whether the owner's status keeps its API tokens usable: `Some(false)` for `SUSPENDED`
    /// (Okta rejects the tokens until reactivation) and `DEPROVISIONED` (Okta revokes them);
    /// `Some(true)` for the statuses that leave tokens alone (password expiry, lock-out, recovery
    /// and the pre-activation states do not touch tokens); `None` for a status Okta adds later.
    pub fn keeps_tokens_usable(&self) -> Option<bool> {
        status_keeps_tokens_usable(&self.status)
    }
}

/// Whether a user status (as Okta spells it) leaves the user's API tokens usable; `None` for a
/// status Okta adds later.
pub fn status_keeps_tokens_usable(status: &str) -> Option<bool> {
    match status {
        "SUSPENDED" | "DEPROVISIONED" => Some(false),
        "ACTIVE" | "RECOVERY" | "PASSWORD_EXPIRED" | "LOCKED_OUT" | "STAGED" | "PROVISIONED"
        | "ACTIVATING" => Some(true),
        _ => None,
    }
}

/// A System Log event the exporter reads: about API tokens, or a user's deactivation.
#[derive(Debug, Clone, PartialEq)]
pub struct LogEvent {
    /// Okta's unique id of the event.
    pub uuid: String,
    pub published: DateTime<Utc>,
    pub event_type: String,
    /// API token ids (`00T…`) among its targets: the token a revocation is about.
    pub target_tokens: Vec<String>,
    /// Users among its targets: the user a deactivation is about.
    pub target_users: Vec<String>,
    /// The token the request was made with (`transaction.detail.requestApiTokenId`): the token
    /// a call from outside its network zones is about, and the token that made any other call.
    pub requesting_token: Option<String>,
    /// Who acted (`actor.alternateId`, usually a login); empty when absent.
    pub actor: String,
}

impl LogEvent {
    /// Decodes one element of a System Log page; `None` for an event without a time or type.
    /// `target` may be absent or `null` (Okta's catalog lists `targets: null` for some types).
    pub fn from_json(value: &serde_json::Value) -> Option<LogEvent> {
        let published = parse_timestamp(value.get("published")?.as_str()?).ok()?;
        let event_type = value.get("eventType")?.as_str()?.to_owned();
        let targets: Vec<&serde_json::Value> = value
            .get("target")
            .and_then(|t| t.as_array())
            .into_iter()
            .flatten()
            .collect();
        let target_ids = |keep: &dyn Fn(&str, &str) -> bool| -> Vec<String> {
            targets
                .iter()
                .filter_map(|t| {
                    let id = t.get("id")?.as_str()?;
                    let kind = t.get("type").and_then(|k| k.as_str()).unwrap_or_default();
                    keep(id, kind).then(|| id.to_owned())
                })
                .collect()
        };
        let target_tokens = target_ids(&|id, _| id.starts_with("00T"));
        let target_users = target_ids(&|id, kind| kind == "User" && !id.is_empty());
        let requesting_token = value
            .pointer("/transaction/detail/requestApiTokenId")
            .and_then(|v| v.as_str())
            .filter(|id| !id.is_empty())
            .map(str::to_owned);
        let text = |pointer: &str| {
            value
                .pointer(pointer)
                .and_then(|v| v.as_str())
                .unwrap_or_default()
                .to_owned()
        };
        Some(LogEvent {
            uuid: text("/uuid"),
            published,
            event_type,
            target_tokens,
            target_users,
            requesting_token,
            actor: text("/actor/alternateId"),
        })
    }
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
    fn owner_statuses_that_break_tokens() {
        let cases = [
            ("ACTIVE", Some(true)),
            ("LOCKED_OUT", Some(true)),
            ("PASSWORD_EXPIRED", Some(true)),
            ("RECOVERY", Some(true)),
            ("STAGED", Some(true)),
            ("PROVISIONED", Some(true)),
            ("ACTIVATING", Some(true)),
            ("SUSPENDED", Some(false)),
            ("DEPROVISIONED", Some(false)),
            ("SOMETHING_NEW", None),
        ];
        for (status, usable) in cases {
            let body = format!(
                r#"{{"id":"00u1","status":"{status}","profile":{{"login":"a@b.c"}},"extra":1}}"#
            );
            let user = User::from_json(body.as_bytes()).unwrap();
            assert_eq!(user.login, "a@b.c");
            assert_eq!(user.keeps_tokens_usable(), usable, "{status}");
        }
        assert!(matches!(
            User::from_json(br#"{"id":"00u1"}"#),
            Err(UserError::Missing("status"))
        ));
        assert!(User::from_json(b"<html>").is_err());
    }

    #[test]
    fn log_events_keep_targets_apart_from_the_requesting_token() {
        let event = json!({
            "uuid": "b1a2", "published": "2026-11-22T10:00:00.000Z", "eventType": "system.api_token.revoke",
            "actor": {"alternateId": "svc@acme.com"},
            "target": [{"id": "00Ttarget", "type": "Token"}, {"id": "00uSomeUser", "type": "User"}],
            "transaction": {"detail": {"requestApiTokenId": "00Trequest"}}
        });
        let decoded = LogEvent::from_json(&event).unwrap();
        assert_eq!(decoded.uuid, "b1a2");
        assert_eq!(decoded.target_tokens, ["00Ttarget"]);
        assert_eq!(decoded.target_users, ["00uSomeUser"]);
        assert_eq!(decoded.requesting_token.as_deref(), Some("00Trequest"));
        assert_eq!(decoded.actor, "svc@acme.com");
        assert_eq!(
            decoded.published,
            parse_timestamp("2026-11-22T10:00:00Z").unwrap()
        );
        // Okta's catalog: `targets: null` for a call from outside the allowed zones.
        let outside = json!({
            "published": "2026-11-22T10:00:00.000Z",
            "eventType": "system.api_token.request_outside_allowed_range",
            "target": null,
            "transaction": {"detail": {"requestApiTokenId": "00Tcaller"}}
        });
        let decoded = LogEvent::from_json(&outside).unwrap();
        assert!(decoded.target_tokens.is_empty() && decoded.target_users.is_empty());
        assert_eq!(decoded.requesting_token.as_deref(), Some("00Tcaller"));
        assert!(
            LogEvent::from_json(&json!({"eventType": "x"})).is_none(),
            "no time"
        );
        assert!(
            LogEvent::from_json(&json!({"published": "2026-11-22T10:00:00Z"})).is_none(),
            "no type"
        );
    }

    #[test]
    fn skips_a_window_reaching_before_the_earliest_time_instead_of_panicking_later() {
        // Found by `cargo fuzz run token_list`: last_used() panicked ("`DateTime - TimeDelta`
        // overflowed") for a window of millions of years, which parses and fits a TimeDelta.
        let huge = with(full(), "tokenWindow", json!("P229219249W"));
        let skipped = ApiToken::from_json(huge).expect_err("a window of 4 million years");
        assert!(skipped.reason.contains("too large"), "{}", skipped.reason);
        let long = ApiToken::from_json(with(full(), "tokenWindow", json!("P2000Y"))).unwrap();
        assert_eq!(long.last_used() + long.window, long.expires_at);
    }

    #[test]
    fn a_token_without_expiry_fields_is_listed_untimed_and_a_broken_one_skipped() {
        let untimed = |value| match ListedToken::from_json(value) {
            Ok(ListedToken::Untimed(token)) => token,
            other => panic!("not untimed: {other:?}"),
        };
        let agent = untimed(with(
            with(full(), "expiresAt", json!(null)),
            "tokenWindow",
            json!(null),
        ));
        assert_eq!(agent.id, "00Tabcdefg1234567890");
        assert_eq!(agent.name, "My API Token");
        assert_eq!(agent.network_connection, "ANYWHERE");
        assert_eq!(agent.missing, "expiresAt");
        assert_eq!(
            untimed(with(full(), "tokenWindow", json!(null))).missing,
            "tokenWindow"
        );
        assert!(matches!(
            ListedToken::from_json(full()),
            Ok(ListedToken::Timed(_))
        ));
        let cases = [
            (
                "no id",
                with(with(full(), "expiresAt", json!(null)), "id", json!(null)),
            ),
            ("bad expiresAt", with(full(), "expiresAt", json!("soon"))),
            (
                "bad tokenWindow",
                with(full(), "tokenWindow", json!("30 days")),
            ),
        ];
        for (name, value) in cases {
            assert!(ListedToken::from_json(value).is_err(), "{name}");
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
