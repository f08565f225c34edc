//! The tokens themselves: per token, its expiry, last use, window, colour, metadata, owner and
//! suspicion, written straight into the exposition text (the bulk of a scrape), and per org the
//! number of tokens of each colour.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use prometheus::proto::MetricType;

use super::labels::TokenLabels;
use super::{posture, write_header, Families, Spec};
use crate::exposition::{
    write_info_labels_of, write_millis_as_seconds, write_series_start, write_token_labels_of,
};
use crate::model::status::{status, TokenStatus};
use crate::model::{ApiToken, UntimedToken};
use crate::snapshot::OrgSnapshot;

const TOKEN_LABELS: &[&str] = &["org", "token_id", "token_name", "user_id"];

pub static TOKENS: Spec = Spec {
    name: "okta_api_tokens",
    help: "Number of the org's API tokens per console colour, computed at scrape time from the tokens cached by the last successful poll.",
    kind: MetricType::GAUGE,
    labels: &["org", "status"],
};

pub static EXPIRY: Spec = Spec {
    name: "okta_api_token_expiry_timestamp_seconds",
    help: "When the API token expires unless used again (Okta's expiresAt), in Unix seconds. Cached from the last successful poll of Okta's GET /api/v1/api-tokens.",
    kind: MetricType::GAUGE,
    labels: TOKEN_LABELS,
};

pub static TIME_TO_EXPIRY: Spec = Spec {
    name: "okta_api_token_time_to_expiry_seconds",
    help: "Seconds from this scrape until the API token expires (expiresAt - now; negative once past). expiresAt is cached from the last successful poll.",
    kind: MetricType::GAUGE,
    labels: TOKEN_LABELS,
};

pub static LAST_USED: Spec = Spec {
    name: "okta_api_token_last_used_timestamp_seconds",
    help: "When the API token was last used, derived as expiresAt - tokenWindow (Okta has no lastUsed field; precision is Okta's refresh of expiresAt), in Unix seconds. Cached from the last successful poll.",
    kind: MetricType::GAUGE,
    labels: TOKEN_LABELS,
};

pub static LAST_USED_AGE: Spec = Spec {
    name: "okta_api_token_last_used_age_seconds",
    help: "Seconds from the API token's derived last use (expiresAt - tokenWindow) until this scrape. Cached inputs from the last successful poll.",
    kind: MetricType::GAUGE,
    labels: TOKEN_LABELS,
};

pub static CREATED: Spec = Spec {
    name: "okta_api_token_created_timestamp_seconds",
    help: "When the API token was created (Okta's created), in Unix seconds. Cached from the last successful poll of Okta's GET /api/v1/api-tokens.",
    kind: MetricType::GAUGE,
    labels: TOKEN_LABELS,
};

pub static WINDOW: Spec = Spec {
    name: "okta_api_token_window_seconds",
    help: "How long the API token stays valid after its last use (Okta's tokenWindow), in seconds. Cached from the last successful poll of Okta's GET /api/v1/api-tokens.",
    kind: MetricType::GAUGE,
    labels: TOKEN_LABELS,
};

pub static STATUS: Spec = Spec {
    name: "okta_api_token_status",
    help: "The API token's colour in the Okta admin console, computed at scrape time: red when expiry is at most 7 days away, else green when last used at most 3 days ago, else gray; yellow when marked suspicious. One series per state, the current one is 1. Inputs cached from the last successful poll.",
    kind: MetricType::GAUGE,
    labels: &["org", "token_id", "token_name", "user_id", "status"],
};

pub static INFO: Spec = Spec {
    name: "okta_api_token_info",
    help: "Metadata of the API token (Okta's clientName and network.connection) and its owner (profile.login and status from GET /api/v1/users/{id}; empty until looked up); always 1. Cached from the last successful poll.",
    kind: MetricType::GAUGE,
    labels: &["org", "token_id", "token_name", "user_id", "client_name", "network_connection", "owner_login", "owner_status"],
};

pub static OWNER_ACTIVE: Spec = Spec {
    name: "okta_api_token_owner_active",
    help: "1 when the token's owner has a status that keeps the token usable, 0 when SUSPENDED (Okta rejects the token) or DEPROVISIONED (Okta revokes it). From GET /api/v1/users/{id}, cached between polls; absent while the owner is unknown.",
    kind: MetricType::GAUGE,
    labels: &["org", "token_id", "token_name", "user_id"],
};

pub static SUSPICIOUS_EVENTS: Spec = Spec {
    name: "okta_api_token_suspicious_events_total",
    help: "System Log events system.api_token.request_outside_allowed_range (a call with the token from outside its allowed network zones) seen since the exporter started.",
    kind: MetricType::COUNTER,
    labels: &["org", "token_id", "token_name", "user_id"],
};

/// The org-level family of this collector (the per-token ones are written by
/// [`write_token_families`]).
pub static SPECS: [&Spec; 1] = [&TOKENS];

/// Tokens per colour, all four always present.
pub fn collect(org: &OrgSnapshot, now: DateTime<Utc>, families: &mut Families) {
    let mut counts = [0u64; TokenStatus::ALL.len()];
    for token in org.tokens.iter() {
        counts[token_status(org, token, now) as usize] += 1;
    }
    for token in org.untimed_tokens.iter() {
        if org.enrichment.is_suspicious(&token.id, now) {
            counts[TokenStatus::Yellow as usize] += 1;
        }
    }
    for (state, count) in TokenStatus::ALL.iter().zip(counts) {
        families.push(&TOKENS, &[&org.name, state.as_str()], count as f64);
    }
}

/// The per-token families' specs, in output order.
pub(super) static TOKEN_SPECS: [&Spec; 15] = [
    &EXPIRY,
    &TIME_TO_EXPIRY,
    &LAST_USED,
    &LAST_USED_AGE,
    &CREATED,
    &WINDOW,
    &STATUS,
    &INFO,
    &OWNER_ACTIVE,
    &SUSPICIOUS_EVENTS,
    posture::TOKEN_SPECS[0],
    posture::TOKEN_SPECS[1],
    posture::TOKEN_SPECS[2],
    posture::TOKEN_SPECS[3],
    posture::TOKEN_SPECS[4],
];

/// The per-token families, in the order of [`TOKEN_SPECS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum TokenFamily {
    Expiry,
    TimeToExpiry,
    LastUsed,
    LastUsedAge,
    Created,
    Window,
    Status,
    Info,
    OwnerActive,
    SuspiciousEvents,
    // The posture's (`super::posture`), labelled by org and token id only.
    OwnerAdminRole,
    OwnerHighestAdminRole,
    Agent,
    Age,
    Finding,
}

impl TokenFamily {
    pub(super) fn spec(self) -> &'static Spec {
        TOKEN_SPECS[self as usize]
    }

    /// The posture family it is, if it is one; untimed (agent) tokens have these too.
    fn posture(self) -> Option<posture::Family> {
        match self {
            TokenFamily::OwnerAdminRole => Some(posture::Family::AdminRole),
            TokenFamily::OwnerHighestAdminRole => Some(posture::Family::HighestAdminRole),
            TokenFamily::Agent => Some(posture::Family::Agent),
            TokenFamily::Age => Some(posture::Family::Age),
            TokenFamily::Finding => Some(posture::Family::Finding),
            _ => None,
        }
    }
}

pub(super) fn token_status(org: &OrgSnapshot, token: &ApiToken, now: DateTime<Utc>) -> TokenStatus {
    let suspicious = org.enrichment.is_suspicious(&token.id, now);
    status(now, token.expires_at, token.last_used(), suspicious)
}

/// The per-token families, written straight into the exposition text.
///
/// This is the bulk of a scrape (12 series per token), so it skips the `prometheus` crate's
/// intermediate `MetricFamily` values: for 10,000 tokens those cost more than the 20 ms a scrape
/// may take. The output is byte for byte what the crate's `TextEncoder` writes for the same
/// families, which the tests check.
pub fn write_token_families(out: &mut Vec<u8>, orgs: &[Arc<OrgSnapshot>], now: DateTime<Utc>) {
    let labels: Vec<Arc<TokenLabels>> = orgs
        .iter()
        .map(|org| Arc::new(TokenLabels::of(org)))
        .collect();
    let scrape = Scrape {
        orgs,
        labels: &labels,
        now,
    };
    write_token_series(out, scrape, &mut Cursor::default(), usize::MAX);
}

/// What one scrape renders: every org's snapshot, each with its escaped labels, at one time.
#[derive(Clone, Copy)]
pub(super) struct Scrape<'a> {
    pub(super) orgs: &'a [Arc<OrgSnapshot>],
    /// The labels of each of `orgs`, in the same order.
    pub(super) labels: &'a [Arc<TokenLabels>],
    pub(super) now: DateTime<Utc>,
}

/// Where the token series stand: the next family, org and token to write.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct Cursor {
    pub(super) family: usize,
    /// Whether the current family's `# HELP` and `# TYPE` lines are out.
    header_written: bool,
    org: usize,
    token: usize,
}

/// Writes token series from `cursor` on until `out` holds at least `limit` bytes or all is
/// written (then `cursor.family` is past the last family).
pub(super) fn write_token_series(
    out: &mut Vec<u8>,
    Scrape { orgs, labels, now }: Scrape<'_>,
    cursor: &mut Cursor,
    limit: usize,
) {
    while let Some(&family) = TOKEN_FAMILIES.get(cursor.family) {
        if !cursor.header_written && !has_series(family, orgs, now) {
            cursor.family += 1;
            continue;
        }
        if !cursor.header_written {
            write_header(out, family.spec());
            cursor.header_written = true;
        }
        while let Some(org) = orgs.get(cursor.org) {
            let org_labels = &labels[cursor.org];
            while let Some(token) = org.tokens.get(cursor.token) {
                if out.len() >= limit {
                    return;
                }
                let labels = org_labels.get(cursor.token);
                write_token_series_of(out, family, org, token, labels, now);
                cursor.token += 1;
            }
            if matches!(family, TokenFamily::Status | TokenFamily::Info)
                || family.posture().is_some()
            {
                while let Some(token) = org.untimed_tokens.get(cursor.token - org.tokens.len()) {
                    if out.len() >= limit {
                        return;
                    }
                    write_untimed_series(out, family, org, token, now);
                    cursor.token += 1;
                }
            }
            cursor.org += 1;
            cursor.token = 0;
        }
        *cursor = Cursor {
            family: cursor.family + 1,
            ..Cursor::default()
        };
    }
}

/// One token's series of one family; `labels` are its escaped token labels and the escaped
/// labels only `okta_api_token_info` has.
fn write_token_series_of(
    out: &mut Vec<u8>,
    family: TokenFamily,
    org: &OrgSnapshot,
    token: &ApiToken,
    (labels, info): (&[u8], &[u8]),
    now: DateTime<Utc>,
) {
    if let Some(family) = family.posture() {
        let facts = crate::posture::facts_of_token(org, token);
        posture::write_series(out, family, org, &token.id, &facts, now);
        return;
    }
    let name = family.spec().name;
    let expires_ms = token.expires_at.timestamp_millis();
    let last_used_ms = expires_ms - token.window.num_milliseconds();
    let value_ms = match family {
        TokenFamily::Expiry => expires_ms,
        TokenFamily::TimeToExpiry => expires_ms - now.timestamp_millis(),
        TokenFamily::LastUsed => last_used_ms,
        TokenFamily::LastUsedAge => now.timestamp_millis() - last_used_ms,
        TokenFamily::Created => match token.created {
            Some(created) => created.timestamp_millis(),
            None => return,
        },
        TokenFamily::Window => token.window.num_milliseconds(),
        TokenFamily::Status => {
            let current = token_status(org, token, now);
            for state in TokenStatus::ALL {
                write_series_start(out, name, labels);
                out.extend_from_slice(b",status=\"");
                out.extend_from_slice(state.as_str().as_bytes());
                out.extend_from_slice(if state == current {
                    b"\"} 1\n"
                } else {
                    b"\"} 0\n"
                });
            }
            return;
        }
        TokenFamily::Info => {
            write_series_start(out, name, labels);
            out.extend_from_slice(info);
            out.extend_from_slice(b"} 1\n");
            return;
        }
        TokenFamily::OwnerActive => {
            let Some(usable) = owner_usable(org, token) else {
                return;
            };
            write_series_start(out, name, labels);
            out.extend_from_slice(if usable { b"} 1\n" } else { b"} 0\n" });
            return;
        }
        TokenFamily::OwnerAdminRole
        | TokenFamily::OwnerHighestAdminRole
        | TokenFamily::Agent
        | TokenFamily::Age
        | TokenFamily::Finding => return,
        TokenFamily::SuspiciousEvents => {
            if org.enrichment.system_log_off.is_some() {
                return;
            }
            let count = org
                .enrichment
                .suspicious
                .get(&token.id)
                .map_or(0, |s| s.count);
            write_series_start(out, name, labels);
            out.extend_from_slice(b"} ");
            out.extend_from_slice(count.to_string().as_bytes());
            out.push(b'\n');
            return;
        }
    };
    write_series_start(out, name, labels);
    out.extend_from_slice(b"} ");
    write_millis_as_seconds(out, value_ms);
    out.push(b'\n');
}

/// The status and info series of a token listed without an expiry: no colour but Yellow (when
/// suspicious), since green, gray and red are all read from the expiry.
fn write_untimed_series(
    out: &mut Vec<u8>,
    family: TokenFamily,
    org: &OrgSnapshot,
    token: &UntimedToken,
    now: DateTime<Utc>,
) {
    if let Some(family) = family.posture() {
        let facts = crate::posture::facts_of_untimed(org, token);
        posture::write_series(out, family, org, &token.id, &facts, now);
        return;
    }
    let name = family.spec().name;
    let mut labels = Vec::with_capacity(128);
    write_token_labels_of(
        &mut labels,
        [&org.name, &token.id, &token.name, &token.user_id],
    );
    if family == TokenFamily::Info {
        let owner = org.enrichment.owners.get(&token.user_id);
        let login = owner.map_or("", |o| o.login.as_str());
        let status = owner.map_or("", |o| o.status.as_str());
        write_series_start(out, name, &labels);
        write_info_labels_of(
            out,
            [&token.client_name, &token.network_connection, login, status],
        );
        out.extend_from_slice(b"} 1\n");
        return;
    }
    let suspicious = org.enrichment.is_suspicious(&token.id, now);
    for state in TokenStatus::ALL {
        write_series_start(out, name, &labels);
        out.extend_from_slice(b",status=\"");
        out.extend_from_slice(state.as_str().as_bytes());
        let on = state == TokenStatus::Yellow && suspicious;
        out.extend_from_slice(if on { b"\"} 1\n" } else { b"\"} 0\n" });
    }
}

/// The per-token families, in output order.
pub(super) const TOKEN_FAMILIES: [TokenFamily; 15] = [
    TokenFamily::Expiry,
    TokenFamily::TimeToExpiry,
    TokenFamily::LastUsed,
    TokenFamily::LastUsedAge,
    TokenFamily::Created,
    TokenFamily::Window,
    TokenFamily::Status,
    TokenFamily::Info,
    TokenFamily::OwnerActive,
    TokenFamily::SuspiciousEvents,
    TokenFamily::OwnerAdminRole,
    TokenFamily::OwnerHighestAdminRole,
    TokenFamily::Agent,
    TokenFamily::Age,
    TokenFamily::Finding,
];

fn owner_usable(org: &OrgSnapshot, token: &ApiToken) -> Option<bool> {
    org.enrichment.owners.get(&token.user_id)?.usable
}

/// Whether any token of any org has a series in this family (an empty family is left out
/// whole, as the `prometheus` crate's encoder does).
fn has_series(family: TokenFamily, orgs: &[Arc<OrgSnapshot>], now: DateTime<Utc>) -> bool {
    if let Some(family) = family.posture() {
        return posture::has_series(family, orgs, now);
    }
    orgs.iter().any(|org| match family {
        TokenFamily::Created => org.tokens.iter().any(|t| t.created.is_some()),
        TokenFamily::OwnerActive => org.tokens.iter().any(|t| owner_usable(org, t).is_some()),
        TokenFamily::SuspiciousEvents => {
            org.enrichment.system_log_off.is_none() && !org.tokens.is_empty()
        }
        TokenFamily::Status | TokenFamily::Info => {
            !org.tokens.is_empty() || !org.untimed_tokens.is_empty()
        }
        _ => !org.tokens.is_empty(),
    })
}
