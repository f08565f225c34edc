//! The token table: every token of every org as one row of facts at one instant, with the console
//! colour and the times a person reads (time to expiry, age of the last use).
//!
//! The landing page, `/api/v1/tokens` and `report` all show this table, so they always agree.
//! Pure functions of published snapshots and `now`; the JSON form is [`to_json`].

use std::sync::Arc;

use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use serde::Serialize;

use crate::model::posture::FindingId;
use crate::model::status::{status, TokenStatus, RED_WITHIN};
use crate::model::{ApiToken, KeptAlive, Owner};
use crate::posture::TokenPosture;
use crate::snapshot::OrgSnapshot;

/// One token at one instant.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenRow<'a> {
    pub token: &'a ApiToken,
    pub status: TokenStatus,
    /// `expires_at - now`: negative once the expiry has passed.
    pub time_to_expiry: TimeDelta,
    /// The last use Okta's sliding expiry implies (`expiresAt - tokenWindow`).
    pub last_used_at: DateTime<Utc>,
    pub last_used_age: TimeDelta,
    /// The owner as last looked up; `None` while unknown or when owners are not looked up.
    pub owner: Option<&'a Owner>,
    /// Marked suspicious by the System Log (the colour is then yellow, whatever the expiry).
    pub suspicious: bool,
    /// The token's keep-alive, when the org's `keepalive:` list holds it.
    pub keepalive: Option<&'a KeptAlive>,
    /// What the token can do, and the posture findings about it.
    pub posture: TokenPosture<'a>,
}

impl TokenRow<'_> {
    /// Whether the expiry is within the red threshold (7 days), even when suspicion shows yellow.
    pub fn expires_within_red(&self) -> bool {
        self.time_to_expiry <= RED_WITHIN
    }
}

/// One org's part of the table.
#[derive(Debug, Clone)]
pub struct OrgTable<'a> {
    pub org: &'a OrgSnapshot,
    /// The org's tokens per colour, in [`TokenStatus::ALL`] order, before any status filter.
    pub counts: [usize; 4],
    /// The tokens the filter lets through, soonest expiry first.
    pub rows: Vec<TokenRow<'a>>,
}

/// Which tokens to show: `?status=red&org=acme&finding=idle_admin_token`. Empty lists let
/// everything through; a token passes the findings filter with any of the findings listed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Filter {
    pub statuses: Vec<TokenStatus>,
    pub orgs: Vec<String>,
    pub findings: Vec<FindingId>,
}

/// A query string the filter cannot use.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FilterError {
    #[error("unknown status {0:?}: use green, gray, red or yellow")]
    UnknownStatus(String),
    #[error("unknown finding {0:?}: use admin_token_any_network, idle_admin_token, person_owned_token, token_too_old or ssws_for_new_integration")]
    UnknownFinding(String),
}

impl Filter {
    /// Reads `status` and `org` from a URL query string; each may repeat or hold a
    /// comma-separated list. Other parameters are ignored.
    pub fn from_query(query: &str) -> Result<Filter, FilterError> {
        let mut filter = Filter::default();
        for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
            let values = value.split(',').map(str::trim).filter(|v| !v.is_empty());
            match key.as_ref() {
                "status" => {
                    for v in values {
                        let status = parse_status(v)
                            .ok_or_else(|| FilterError::UnknownStatus(v.to_owned()))?;
                        if !filter.statuses.contains(&status) {
                            filter.statuses.push(status);
                        }
                    }
                }
                "org" => filter.orgs.extend(values.map(str::to_owned)),
                "finding" => {
                    for v in values {
                        let finding = FindingId::parse(v)
                            .ok_or_else(|| FilterError::UnknownFinding(v.to_owned()))?;
                        if !filter.findings.contains(&finding) {
                            filter.findings.push(finding);
                        }
                    }
                }
                _ => {}
            }
        }
        Ok(filter)
    }

    /// The query string that gives this filter back (empty when it lets everything through).
    pub fn to_query(&self) -> String {
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        for status in &self.statuses {
            query.append_pair("status", status.as_str());
        }
        for org in &self.orgs {
            query.append_pair("org", org);
        }
        for finding in &self.findings {
            query.append_pair("finding", finding.as_str());
        }
        query.finish()
    }

    pub fn is_empty(&self) -> bool {
        self.statuses.is_empty() && self.orgs.is_empty() && self.findings.is_empty()
    }

    fn takes_posture(&self, posture: &TokenPosture) -> bool {
        self.findings.is_empty()
            || posture
                .findings
                .iter()
                .any(|f| self.findings.contains(&f.id))
    }

    fn takes_org(&self, name: &str) -> bool {
        self.orgs.is_empty() || self.orgs.iter().any(|o| o == name)
    }

    fn takes_status(&self, status: TokenStatus) -> bool {
        self.statuses.is_empty() || self.statuses.contains(&status)
    }
}

/// A status word as the query string and `--fail-on` spell it, in any case.
pub fn parse_status(word: &str) -> Option<TokenStatus> {
    TokenStatus::ALL
        .into_iter()
        .find(|s| s.as_str().eq_ignore_ascii_case(word))
}

/// The table of every org the filter takes, at `now`.
pub fn table<'a>(
    orgs: &'a [Arc<OrgSnapshot>],
    filter: &Filter,
    now: DateTime<Utc>,
) -> Vec<OrgTable<'a>> {
    orgs.iter()
        .filter(|org| filter.takes_org(&org.name))
        .map(|org| org_table(org, filter, now))
        .collect()
}

fn org_table<'a>(org: &'a OrgSnapshot, filter: &Filter, now: DateTime<Utc>) -> OrgTable<'a> {
    let mut counts = [0; 4];
    let mut rows = Vec::new();
    for token in org.tokens.iter() {
        let row = row(org, token, now);
        counts[row.status as usize] += 1;
        if filter.takes_status(row.status) && filter.takes_posture(&row.posture) {
            rows.push(row);
        }
    }
    rows.sort_by(|a, b| (a.token.expires_at, &a.token.id).cmp(&(b.token.expires_at, &b.token.id)));
    OrgTable { org, counts, rows }
}

fn row<'a>(org: &'a OrgSnapshot, token: &'a ApiToken, now: DateTime<Utc>) -> TokenRow<'a> {
    let suspicious = org.enrichment.is_suspicious(&token.id, now);
    let last_used_at = token.last_used();
    TokenRow {
        token,
        status: status(now, token.expires_at, last_used_at, suspicious),
        time_to_expiry: token.expires_at - now,
        last_used_at,
        last_used_age: now - last_used_at,
        owner: org.enrichment.owners.get(&token.user_id),
        suspicious,
        keepalive: org.kept_alive(&token.id),
        posture: crate::posture::of_token(org, token, now),
    }
}

/// "in 6 days", "2 hours ago": the largest whole unit, rounded toward zero, as a person says it.
pub fn relative(delta: TimeDelta) -> String {
    let seconds = delta.num_seconds();
    let magnitude = seconds.unsigned_abs();
    let (count, unit) = match magnitude {
        0..60 => return "now".to_owned(),
        60..3_600 => (magnitude / 60, "minute"),
        3_600..172_800 => (magnitude / 3_600, "hour"),
        _ => (magnitude / 86_400, "day"),
    };
    let plural = if count == 1 { "" } else { "s" };
    if seconds > 0 {
        format!("in {count} {unit}{plural}")
    } else {
        format!("{count} {unit}{plural} ago")
    }
}

/// An instant as RFC 3339 in UTC, to the millisecond as Okta writes them, always three digits
/// (`2026-12-03T12:00:00.000Z`): one width for every value a reader parses.
pub fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// One org in the JSON form (`/api/v1/tokens` and `report --format json`).
#[derive(Debug, Serialize)]
pub struct JsonOrg<'a> {
    pub org: &'a str,
    pub up: bool,
    pub last_successful_poll: Option<String>,
    pub tokens: Vec<JsonToken<'a>>,
}

/// One token in the JSON form; times are RFC 3339, durations whole seconds, values at `now`.
#[derive(Debug, Serialize)]
pub struct JsonToken<'a> {
    pub id: &'a str,
    pub name: &'a str,
    pub user_id: &'a str,
    pub status: &'static str,
    pub expires_at: String,
    pub time_to_expiry_seconds: i64,
    pub last_used_at: String,
    pub last_used_age_seconds: i64,
    pub created_at: Option<String>,
    pub window_seconds: i64,
    pub client_name: &'a str,
    pub network_connection: &'a str,
    pub owner_login: Option<&'a str>,
    pub owner_status: Option<&'a str>,
    /// Null unless the exporter keeps the token alive.
    pub keepalive: Option<JsonKeepAlive>,
    /// Who made it: `person`, `agent` (Okta-managed) or `unknown`.
    pub kind: &'static str,
    /// The owner's admin role assignments; null while they cannot be read.
    pub owner_roles: Option<Vec<JsonRole<'a>>>,
    /// The most privileged of them: a role type, `NONE`, or `UNKNOWN`.
    pub owner_highest_role: &'static str,
    /// The posture findings, in their fixed order.
    pub findings: Vec<JsonFinding>,
}

/// An admin role assignment in the JSON form, as Okta spelled it.
#[derive(Debug, Serialize)]
pub struct JsonRole<'a> {
    #[serde(rename = "type")]
    pub role_type: &'a str,
    pub label: &'a str,
    pub assignment_type: &'a str,
    pub status: &'a str,
}

/// A posture finding in the JSON form.
#[derive(Debug, Serialize)]
pub struct JsonFinding {
    pub id: &'static str,
    pub severity: &'static str,
    pub reason: String,
}

/// A kept-alive token's keep-alive in the JSON form.
#[derive(Debug, Serialize)]
pub struct JsonKeepAlive {
    pub when_expires_within_seconds: u64,
    /// When the last call that refreshed the token was made, since start.
    pub last_refreshed_at: Option<String>,
    /// The last result since start: `refreshed`, `not_refreshed`, `rejected`,
    /// `skipped_owner_inactive` or `error`.
    pub last_result: Option<&'static str>,
}

/// The JSON form of a table.
pub fn to_json<'a>(tables: &'a [OrgTable<'a>]) -> Vec<JsonOrg<'a>> {
    tables
        .iter()
        .map(|t| JsonOrg {
            org: &t.org.name,
            up: t.org.up,
            last_successful_poll: t.org.last_success.map(rfc3339),
            tokens: t.rows.iter().map(json_token).collect(),
        })
        .collect()
}

fn json_token<'a>(row: &TokenRow<'a>) -> JsonToken<'a> {
    let token = row.token;
    JsonToken {
        id: &token.id,
        name: &token.name,
        user_id: &token.user_id,
        status: row.status.as_str(),
        expires_at: rfc3339(token.expires_at),
        time_to_expiry_seconds: row.time_to_expiry.num_seconds(),
        last_used_at: rfc3339(row.last_used_at),
        last_used_age_seconds: row.last_used_age.num_seconds(),
        created_at: token.created.map(rfc3339),
        window_seconds: token.window.num_seconds(),
        client_name: &token.client_name,
        network_connection: &token.network_connection,
        owner_login: row.owner.map(|o| o.login.as_str()),
        owner_status: row.owner.map(|o| o.status.as_str()),
        keepalive: row.keepalive.map(|k| JsonKeepAlive {
            when_expires_within_seconds: k.when_expires_within.as_secs(),
            last_refreshed_at: k.last_refreshed.map(rfc3339),
            last_result: k.last_result.map(|r| r.as_str()),
        }),
        kind: row.posture.kind.as_str(),
        owner_roles: match row.posture.privilege {
            crate::model::roles::Privilege::Known(roles) => Some(
                roles
                    .iter()
                    .map(|r| JsonRole {
                        role_type: &r.type_name,
                        label: &r.label,
                        assignment_type: &r.assignment_type,
                        status: &r.status,
                    })
                    .collect(),
            ),
            crate::model::roles::Privilege::Unknown => None,
        },
        owner_highest_role: row.posture.privilege.highest_label(),
        findings: row
            .posture
            .findings
            .iter()
            .map(|f| JsonFinding {
                id: f.id.as_str(),
                severity: f.severity.as_str(),
                reason: f.reason.clone(),
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Suspicion;
    use std::collections::HashMap;

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-12-03T12:00:00Z")
            .unwrap()
            .to_utc()
    }

    fn token(id: &str, expires_in: TimeDelta) -> ApiToken {
        ApiToken {
            id: id.into(),
            name: format!("token {id}"),
            user_id: format!("00u{id}"),
            client_name: "Okta API".into(),
            network_connection: "ANYWHERE".into(),
            window: TimeDelta::days(30),
            created: None,
            expires_at: now() + expires_in,
        }
    }

    fn org(name: &str, tokens: Vec<ApiToken>) -> Arc<OrgSnapshot> {
        let mut org = OrgSnapshot::new(name, format!("https://{name}.okta.com"));
        org.tokens = Arc::new(tokens);
        org.up = true;
        Arc::new(org)
    }

    #[test]
    fn relative_times_read_as_a_person_says_them() {
        let cases = [
            (TimeDelta::zero(), "now"),
            (TimeDelta::seconds(59), "now"),
            (TimeDelta::seconds(-59), "now"),
            (TimeDelta::seconds(60), "in 1 minute"),
            (TimeDelta::seconds(-119), "1 minute ago"),
            (TimeDelta::minutes(59), "in 59 minutes"),
            (TimeDelta::minutes(60), "in 1 hour"),
            (TimeDelta::hours(-2), "2 hours ago"),
            (TimeDelta::hours(47), "in 47 hours"),
            (TimeDelta::hours(48), "in 2 days"),
            (TimeDelta::days(7) - TimeDelta::seconds(1), "in 6 days"),
            (TimeDelta::days(-30), "30 days ago"),
        ];
        for (delta, words) in cases {
            assert_eq!(relative(delta), words, "{delta:?}");
        }
    }

    #[test]
    fn instants_are_written_to_the_millisecond_always_with_three_digits() {
        let at = |text: &str| DateTime::parse_from_rfc3339(text).unwrap().to_utc();
        let cases = [
            ("2026-12-03T12:00:00Z", "2026-12-03T12:00:00.000Z"),
            ("2026-12-03T12:00:00.5Z", "2026-12-03T12:00:00.500Z"),
            ("2026-12-03T12:00:00.123456Z", "2026-12-03T12:00:00.123Z"),
            ("2026-12-03T13:00:00+01:00", "2026-12-03T12:00:00.000Z"),
        ];
        for (given, written) in cases {
            assert_eq!(rfc3339(at(given)), written, "{given}");
        }
    }

    #[test]
    fn filters_come_from_the_query_string() {
        let cases = [
            ("", Ok(Filter::default())),
            (
                "status=red",
                Ok(Filter {
                    statuses: vec![TokenStatus::Red],
                    ..Filter::default()
                }),
            ),
            (
                "status=Red,gray&status=red&org=acme&org=beta%20corp&page=2",
                Ok(Filter {
                    statuses: vec![TokenStatus::Red, TokenStatus::Gray],
                    orgs: vec!["acme".into(), "beta corp".into()],
                    ..Filter::default()
                }),
            ),
            ("status=", Ok(Filter::default())),
            (
                "status=purple",
                Err(FilterError::UnknownStatus("purple".into())),
            ),
        ];
        for (query, expected) in cases {
            assert_eq!(Filter::from_query(query), expected, "{query}");
        }
        let filter = Filter::from_query("status=red&org=beta%20corp").unwrap();
        assert_eq!(Filter::from_query(&filter.to_query()), Ok(filter));
    }

    #[test]
    fn rows_are_sorted_by_expiry_and_counted_before_the_status_filter() {
        let orgs = [
            org(
                "acme",
                vec![
                    token("00T1", TimeDelta::days(29)),
                    token("00T2", TimeDelta::days(2)),
                    token("00T3", TimeDelta::days(10)),
                ],
            ),
            org("beta", vec![token("00T4", TimeDelta::days(1))]),
        ];
        let all = table(&orgs, &Filter::default(), now());
        assert_eq!(all.len(), 2);
        let ids: Vec<_> = all[0].rows.iter().map(|r| r.token.id.as_str()).collect();
        assert_eq!(ids, ["00T2", "00T3", "00T1"]);
        // 00T1 used a day ago: green; 00T3 unused for 20 days: gray; 00T2 red.
        assert_eq!(all[0].counts, [1, 1, 1, 0]);

        let red_in_acme = Filter::from_query("status=red&org=acme").unwrap();
        let some = table(&orgs, &red_in_acme, now());
        assert_eq!(some.len(), 1, "beta is filtered out");
        assert_eq!(some[0].rows.len(), 1);
        assert_eq!(some[0].rows[0].token.id, "00T2");
        assert_eq!(some[0].counts, [1, 1, 1, 0], "counts show the whole org");
    }

    #[test]
    fn a_suspicious_token_is_yellow_but_still_known_to_expire_soon() {
        let mut snapshot = OrgSnapshot::new("acme", "");
        snapshot.tokens = Arc::new(vec![token("00T1", TimeDelta::days(2))]);
        snapshot.enrichment.suspicious = Arc::new(HashMap::from([(
            "00T1".to_string(),
            Suspicion {
                last: now() - TimeDelta::hours(1),
                count: 1,
            },
        )]));
        let orgs = [Arc::new(snapshot)];
        let tables = table(&orgs, &Filter::default(), now());
        let row = &tables[0].rows[0];
        assert_eq!(row.status, TokenStatus::Yellow);
        assert!(row.suspicious);
        assert!(row.expires_within_red());
    }

    #[test]
    fn the_json_form_has_the_documented_fields_at_request_time() {
        let mut expiring = token("00T1", TimeDelta::days(2) + TimeDelta::milliseconds(500));
        expiring.created = Some(now() - TimeDelta::days(100));
        let mut snapshot = OrgSnapshot::new("acme", "");
        snapshot.tokens = Arc::new(vec![expiring]);
        snapshot.up = true;
        snapshot.last_success = Some(now() - TimeDelta::minutes(5));
        snapshot.enrichment.owners = Arc::new(HashMap::from([(
            "00u00T1".to_string(),
            Owner {
                login: "ci@acme.com".into(),
                status: "ACTIVE".into(),
                usable: Some(true),
                fetched_at: now(),
            },
        )]));
        snapshot.keepalive = vec![KeptAlive {
            token_id: "00T1".into(),
            when_expires_within: std::time::Duration::from_secs(864_000),
            results: [1, 0, 0, 0, 0],
            last_refreshed: Some(now() - TimeDelta::hours(1)),
            last_result: Some(crate::model::KeepAliveResult::Refreshed),
        }];
        let orgs = [Arc::new(snapshot)];
        let tables = table(&orgs, &Filter::default(), now());
        let json = serde_json::to_value(to_json(&tables)).unwrap();
        assert_eq!(
            json,
            serde_json::json!([{
                "org": "acme",
                "up": true,
                "last_successful_poll": "2026-12-03T11:55:00.000Z",
                "tokens": [{
                    "id": "00T1",
                    "name": "token 00T1",
                    "user_id": "00u00T1",
                    "status": "red",
                    "expires_at": "2026-12-05T12:00:00.500Z",
                    "time_to_expiry_seconds": 172_800,
                    "last_used_at": "2026-11-05T12:00:00.500Z",
                    "last_used_age_seconds": 2_419_199,
                    "created_at": "2026-08-25T12:00:00.000Z",
                    "window_seconds": 2_592_000,
                    "client_name": "Okta API",
                    "network_connection": "ANYWHERE",
                    "owner_login": "ci@acme.com",
                    "owner_status": "ACTIVE",
                    "keepalive": {
                        "when_expires_within_seconds": 864_000,
                        "last_refreshed_at": "2026-12-03T11:00:00.000Z",
                        "last_result": "refreshed",
                    },
                    "kind": "person",
                    "owner_roles": null,
                    "owner_highest_role": "UNKNOWN",
                    "findings": [],
                }],
            }])
        );
    }
}
