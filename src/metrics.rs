//! The scrape-time collector: every `/metrics` request builds fresh metrics from one snapshot of
//! every org, following the collector pattern of node_exporter: nothing is stored in metric
//! objects between scrapes.
//!
//! Time-dependent values (time to expiry, last-use age, status) are computed from the scrape's own
//! `now`, so they are exact even when Okta has been unreachable for a while, and a token that left
//! Okta's list leaves the output with the next successful poll. Nothing here talks to Okta.

use std::sync::Arc;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use prometheus::proto::{Counter, Gauge, LabelPair, Metric, MetricFamily, MetricType};
use prometheus::{Encoder, Registry, TextEncoder};

use crate::exposition::{
    escape_into, write_info_labels, write_info_labels_of, write_millis_as_seconds,
    write_series_start, write_token_labels, write_token_labels_of,
};
use crate::model::status::{status, TokenStatus};
use crate::model::{ApiToken, KeepAliveResult, RemovalReason, UntimedToken};
use crate::okta::error::PollErrorReason;
use crate::snapshot::OrgSnapshot;

const TOKEN_LABELS: &[&str] = &["org", "token_id", "token_name", "user_id"];

/// A metric family: name, help, type and variable labels; the single source of truth for both
/// `Collector::desc` and rendering.
pub struct Spec {
    pub name: &'static str,
    pub help: &'static str,
    pub kind: MetricType,
    pub labels: &'static [&'static str],
}

/// Every family this collector can produce, in output order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    Expiry,
    TimeToExpiry,
    LastUsed,
    LastUsedAge,
    Created,
    Window,
    Status,
    Info,
    Tokens,
    Up,
    LastSuccess,
    PollInterval,
    PollDuration,
    PollErrors,
    Requests,
    RateLimit,
    RateRemaining,
    RateReset,
    Removed,
    Undecodable,
    OwnerActive,
    SuspiciousEvents,
    TokenEvents,
    EnrichmentEnabled,
    OAuthTokenRequests,
    OAuthTokenExpiry,
    StorageWriteFailures,
    KeepAlives,
    KeepAliveLast,
    RemovedToken,
    ConsecutiveFailures,
    RateLimitExceeded,
    EnrichmentErrors,
    UnattributedEvents,
}

impl Family {
    pub const ALL: [Family; 34] = [
        Family::Expiry,
        Family::TimeToExpiry,
        Family::LastUsed,
        Family::LastUsedAge,
        Family::Created,
        Family::Window,
        Family::Status,
        Family::Info,
        Family::Tokens,
        Family::Up,
        Family::LastSuccess,
        Family::PollInterval,
        Family::PollDuration,
        Family::PollErrors,
        Family::Requests,
        Family::RateLimit,
        Family::RateRemaining,
        Family::RateReset,
        Family::Removed,
        Family::Undecodable,
        Family::OwnerActive,
        Family::SuspiciousEvents,
        Family::TokenEvents,
        Family::EnrichmentEnabled,
        Family::OAuthTokenRequests,
        Family::OAuthTokenExpiry,
        Family::StorageWriteFailures,
        Family::KeepAlives,
        Family::KeepAliveLast,
        Family::RemovedToken,
        Family::ConsecutiveFailures,
        Family::RateLimitExceeded,
        Family::EnrichmentErrors,
        Family::UnattributedEvents,
    ];

    pub const fn spec(self) -> Spec {
        let (name, kind, labels, help): (&str, MetricType, &[&str], &str) = match self {
            Family::Expiry => (
                "okta_api_token_expiry_timestamp_seconds",
                MetricType::GAUGE,
                TOKEN_LABELS,
                "When the API token expires unless used again (Okta's expiresAt), in Unix seconds. Cached from the last successful poll of Okta's GET /api/v1/api-tokens.",
            ),
            Family::TimeToExpiry => (
                "okta_api_token_time_to_expiry_seconds",
                MetricType::GAUGE,
                TOKEN_LABELS,
                "Seconds from this scrape until the API token expires (expiresAt - now; negative once past). expiresAt is cached from the last successful poll.",
            ),
            Family::LastUsed => (
                "okta_api_token_last_used_timestamp_seconds",
                MetricType::GAUGE,
                TOKEN_LABELS,
                "When the API token was last used, derived as expiresAt - tokenWindow (Okta has no lastUsed field; precision is Okta's refresh of expiresAt), in Unix seconds. Cached from the last successful poll.",
            ),
            Family::LastUsedAge => (
                "okta_api_token_last_used_age_seconds",
                MetricType::GAUGE,
                TOKEN_LABELS,
                "Seconds from the API token's derived last use (expiresAt - tokenWindow) until this scrape. Cached inputs from the last successful poll.",
            ),
            Family::Created => (
                "okta_api_token_created_timestamp_seconds",
                MetricType::GAUGE,
                TOKEN_LABELS,
                "When the API token was created (Okta's created), in Unix seconds. Cached from the last successful poll of Okta's GET /api/v1/api-tokens.",
            ),
            Family::Window => (
                "okta_api_token_window_seconds",
                MetricType::GAUGE,
                TOKEN_LABELS,
                "How long the API token stays valid after its last use (Okta's tokenWindow), in seconds. Cached from the last successful poll of Okta's GET /api/v1/api-tokens.",
            ),
            Family::Status => (
                "okta_api_token_status",
                MetricType::GAUGE,
                &["org", "token_id", "token_name", "user_id", "status"],
                "The API token's colour in the Okta admin console, computed at scrape time: red when expiry is at most 7 days away, else green when last used at most 3 days ago, else gray; yellow when marked suspicious. One series per state, the current one is 1. Inputs cached from the last successful poll.",
            ),
            Family::Info => (
                "okta_api_token_info",
                MetricType::GAUGE,
                &["org", "token_id", "token_name", "user_id", "client_name", "network_connection", "owner_login", "owner_status"],
                "Metadata of the API token (Okta's clientName and network.connection) and its owner (profile.login and status from GET /api/v1/users/{id}; empty until looked up); always 1. Cached from the last successful poll.",
            ),
            Family::Tokens => (
                "okta_api_tokens",
                MetricType::GAUGE,
                &["org", "status"],
                "Number of the org's API tokens per console colour, computed at scrape time from the tokens cached by the last successful poll.",
            ),
            Family::Up => (
                "okta_up",
                MetricType::GAUGE,
                &["org"],
                "1 when the last poll of the org's Okta API succeeded, else 0 (the token metrics then show the last known tokens).",
            ),
            Family::LastSuccess => (
                "okta_last_successful_poll_timestamp_seconds",
                MetricType::GAUGE,
                &["org"],
                "When the last successful poll of the org finished, in Unix seconds; 0 when no poll has succeeded since start (or, with --storage.path, ever).",
            ),
            Family::PollInterval => (
                "okta_poll_interval_seconds",
                MetricType::GAUGE,
                &["org"],
                "How often the exporter polls the org (before jitter), in seconds; staleness alerts are multiples of it.",
            ),
            Family::PollDuration => (
                "okta_poll_duration_seconds",
                MetricType::GAUGE,
                &["org"],
                "How long the last poll of the org took, all pages, retries and rate-limit waits included, in seconds.",
            ),
            Family::PollErrors => (
                "okta_poll_errors_total",
                MetricType::COUNTER,
                &["org", "reason"],
                "Polls of the org that failed, by reason, since the exporter started.",
            ),
            Family::Requests => (
                "okta_api_requests_total",
                MetricType::COUNTER,
                &["org", "endpoint", "code"],
                "HTTP answers received from the org's Okta API, by endpoint path template and status code, since the exporter started.",
            ),
            Family::RateLimit => (
                "okta_rate_limit_limit",
                MetricType::GAUGE,
                &["org", "endpoint"],
                "Okta's X-Rate-Limit-Limit from the last answer of the endpoint: requests allowed per window.",
            ),
            Family::RateRemaining => (
                "okta_rate_limit_remaining",
                MetricType::GAUGE,
                &["org", "endpoint"],
                "Okta's X-Rate-Limit-Remaining from the last answer of the endpoint: requests left in the window.",
            ),
            Family::RateReset => (
                "okta_rate_limit_reset_timestamp_seconds",
                MetricType::GAUGE,
                &["org", "endpoint"],
                "Okta's X-Rate-Limit-Reset from the last answer of the endpoint: when the window resets, in Unix seconds.",
            ),
            Family::Removed => (
                "okta_api_tokens_removed_total",
                MetricType::COUNTER,
                &["org", "reason"],
                "API tokens that left the org's list, by reason as known when they left: expired (their last known expiry had passed), revoked (gone before expiry), owner_deactivated (Okta deleted them with their deactivated owner). Carried across restarts with --storage.path; each replica counts what it saw.",
            ),
            Family::Undecodable => (
                "okta_api_tokens_undecodable_total",
                MetricType::COUNTER,
                &["org"],
                "Token objects in Okta's answers that could not be decoded and were skipped, since the exporter started.",
            ),
            Family::OwnerActive => (
                "okta_api_token_owner_active",
                MetricType::GAUGE,
                &["org", "token_id", "token_name", "user_id"],
                "1 when the token's owner has a status that keeps the token usable, 0 when SUSPENDED (Okta rejects the token) or DEPROVISIONED (Okta revokes it). From GET /api/v1/users/{id}, cached between polls; absent while the owner is unknown.",
            ),
            Family::SuspiciousEvents => (
                "okta_api_token_suspicious_events_total",
                MetricType::COUNTER,
                &["org", "token_id", "token_name", "user_id"],
                "System Log events system.api_token.request_outside_allowed_range (a call with the token from outside its allowed network zones) seen since the exporter started.",
            ),
            Family::TokenEvents => (
                "okta_api_token_events_total",
                MetricType::COUNTER,
                &["org", "event_type"],
                "System Log events read since the exporter started, by type: API token events (create, enable, update, revoke, request_outside_allowed_range) and user deactivations (user.lifecycle.deactivate, which delete the user's tokens).",
            ),
            Family::EnrichmentEnabled => (
                "okta_enrichment_enabled",
                MetricType::GAUGE,
                &["org", "kind"],
                "1 when the exporter looks up this kind of enrichment (owners: GET /api/v1/users/{id}; system_log: GET /api/v1/logs) for the org, 0 when it is configured off or the credential may not read it (403).",
            ),
            Family::OAuthTokenRequests => (
                "okta_oauth_token_requests_total",
                MetricType::COUNTER,
                &["org", "result"],
                "Requests to the org's OAuth 2.0 token endpoint (client credentials, private_key_jwt) since the exporter started, by result: success, use_dpop_nonce (asked for a DPoP nonce; repeated with it), invalid_client, invalid_scope, error, unreachable. Only for orgs that use an OAuth 2.0 app.",
            ),
            Family::OAuthTokenExpiry => (
                "okta_oauth_access_token_expiry_timestamp_seconds",
                MetricType::GAUGE,
                &["org"],
                "When the OAuth 2.0 access token in use expires, in Unix seconds; the exporter renews it shortly before. Only for orgs that use an OAuth 2.0 app.",
            ),
            Family::StorageWriteFailures => (
                "okta_storage_write_failures_total",
                MetricType::COUNTER,
                &["org"],
                "Failed writes of the org's state file in --storage.path since start; while it fails, a restart starts without the last known tokens.",
            ),
            Family::KeepAlives => (
                "okta_api_token_keepalive_total",
                MetricType::COUNTER,
                &["org", "token_id", "result"],
                "Keep-alives of the tokens of the org's keepalive list since start, by result: refreshed (a call with the token's own secret, GET /api/v1/users/me, and the next poll listed a later expiry), not_refreshed (the call was accepted but the expiry did not move: the secret is another token's), rejected (401: revoked, expired, owner suspended, or a wrong secret; 403: e.g. a call from outside the token's network zones), skipped_owner_inactive (due, but the owner is suspended or deactivated), error (any other failure: timeout, 5xx, 429, an answer that cannot be read).",
            ),
            Family::KeepAliveLast => (
                "okta_api_token_keepalive_last_timestamp_seconds",
                MetricType::GAUGE,
                &["org", "token_id"],
                "When the exporter last kept the token alive: the time of its last call with the token that the next poll confirmed (the expiry moved), in Unix seconds; absent until the first since start.",
            ),
            Family::RemovedToken => (
                "okta_api_token_removed_timestamp_seconds",
                MetricType::GAUGE,
                &["org", "token_id", "token_name", "user_id", "reason", "owner_login", "last_status"],
                "When this exporter saw the API token leave the org's list (the successful poll that no longer listed it), in Unix seconds; exported for 24 hours, kept across restarts with --storage.path. reason: expired, revoked or owner_deactivated; last_status: its console colour at the last poll that listed it (green: it was in use).",
            ),
            Family::ConsecutiveFailures => (
                "okta_poll_consecutive_failures",
                MetricType::GAUGE,
                &["org"],
                "Polls of the org that failed in a row since the last successful one; 0 after a success.",
            ),
            Family::RateLimitExceeded => (
                "okta_rate_limit_exceeded_last_timestamp_seconds",
                MetricType::GAUGE,
                &["org", "endpoint"],
                "When Okta last answered the exporter's call to the endpoint with HTTP 429 (rate limit exceeded), in Unix seconds; absent until the first. Kept across restarts with --storage.path.",
            ),
            Family::EnrichmentErrors => (
                "okta_enrichment_errors_total",
                MetricType::COUNTER,
                &["org", "kind"],
                "Enrichment reads that failed since the exporter started, by kind: owners (a GET /api/v1/users/{id} other than 404) and system_log (a read of GET /api/v1/logs; the next poll reads on from where it stopped).",
            ),
            Family::UnattributedEvents => (
                "okta_system_log_events_unattributed_total",
                MetricType::COUNTER,
                &["org", "event_type"],
                "System Log events that should name an API token (revoke, request_outside_allowed_range) but named none, since the exporter started: above 0, Okta's event shape may have changed and tokens it concerns are not marked.",
            ),
        };
        Spec {
            name,
            help,
            kind,
            labels,
        }
    }
}

/// Families under construction with the `prometheus` crate's types, indexed by `Family as usize`.
struct Families(Vec<MetricFamily>);

impl Families {
    fn new() -> Families {
        Families(
            Family::ALL
                .iter()
                .map(|f| {
                    let s = f.spec();
                    let mut mf = MetricFamily::default();
                    mf.set_name(s.name.into());
                    mf.set_help(s.help.into());
                    mf.set_field_type(s.kind);
                    mf
                })
                .collect(),
        )
    }

    fn push(&mut self, family: Family, label_values: &[&str], value: f64) {
        let spec = family.spec();
        debug_assert_eq!(spec.labels.len(), label_values.len(), "{}", spec.name);
        let labels = spec
            .labels
            .iter()
            .zip(label_values)
            .map(|(name, value)| {
                let mut pair = LabelPair::default();
                pair.set_name((*name).into());
                pair.set_value((*value).into());
                pair
            })
            .collect();
        let mut metric = Metric::from_label(labels);
        if spec.kind == MetricType::COUNTER {
            let mut counter = Counter::default();
            counter.set_value(value);
            metric.set_counter(counter);
        } else {
            let mut gauge = Gauge::default();
            gauge.set_value(value);
            metric.set_gauge(gauge);
        }
        self.0[family as usize].mut_metric().push(metric);
    }

    fn finish(mut self) -> Vec<MetricFamily> {
        self.0.retain(|mf| !mf.get_metric().is_empty());
        self.0
    }
}

/// The whole `/metrics` body for one scrape, in one buffer (for tests and benchmarks; the
/// server streams the same bytes with [`ScrapeChunks`]).
pub fn encode(
    registry: &Registry,
    orgs: &[Arc<OrgSnapshot>],
    now: DateTime<Utc>,
) -> prometheus::Result<Vec<u8>> {
    let mut out = encode_head(registry, orgs, now)?;
    write_token_families(&mut out, orgs, now);
    Ok(out)
}

/// The registry's own metrics (build info, process) and every org's families.
fn encode_head(
    registry: &Registry,
    orgs: &[Arc<OrgSnapshot>],
    now: DateTime<Utc>,
) -> prometheus::Result<Vec<u8>> {
    let mut families = registry.gather();
    families.extend(org_families(orgs, now));
    let mut out = Vec::with_capacity(16 * 1024);
    TextEncoder::new().encode(&families, &mut out)?;
    Ok(out)
}

/// How much text the streaming body renders at a time.
const CHUNK_BYTES: usize = 64 * 1024;

/// One scrape's exposition text, rendered chunk by chunk as the reader asks for it: a scrape of
/// 10,000 tokens (about 20 MB of text) never holds more than one chunk, so scrapes do not grow
/// the exporter's memory. The server turns the chunks into a response body, compressed or not.
pub struct ScrapeChunks {
    head: Option<Bytes>,
    orgs: Vec<Arc<OrgSnapshot>>,
    now: DateTime<Utc>,
    cursor: Cursor,
}

impl ScrapeChunks {
    /// `orgs` is the scrape's snapshot, `now` its time.
    pub fn new(
        registry: &Registry,
        orgs: Vec<Arc<OrgSnapshot>>,
        now: DateTime<Utc>,
    ) -> prometheus::Result<ScrapeChunks> {
        let head = encode_head(registry, &orgs, now)?;
        Ok(ScrapeChunks {
            head: Some(Bytes::from(head)),
            orgs,
            now,
            cursor: Cursor::default(),
        })
    }

    /// Whether every chunk was handed out.
    pub fn is_done(&self) -> bool {
        self.head.is_none() && self.cursor.family >= TOKEN_FAMILIES.len()
    }
}

impl Iterator for ScrapeChunks {
    type Item = Bytes;

    fn next(&mut self) -> Option<Bytes> {
        if let Some(head) = self.head.take() {
            return Some(head);
        }
        let mut chunk = Vec::with_capacity(CHUNK_BYTES + 4096);
        write_token_series(
            &mut chunk,
            &self.orgs,
            self.now,
            &mut self.cursor,
            CHUNK_BYTES,
        );
        (!chunk.is_empty()).then(|| Bytes::from(chunk))
    }
}

/// The per-org families (health, counts per status, counters), with the `prometheus` crate.
pub fn org_families(orgs: &[Arc<OrgSnapshot>], now: DateTime<Utc>) -> Vec<MetricFamily> {
    let mut families = Families::new();
    for org in orgs {
        let name = org.name.as_str();
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
            families.push(Family::Tokens, &[name, state.as_str()], count as f64);
        }
        families.push(Family::Up, &[name], if org.up { 1.0 } else { 0.0 });
        // 0 until the first success, so that staleness rules see an org Okta never accepted.
        families.push(
            Family::LastSuccess,
            &[name],
            org.last_success.map_or(0.0, seconds),
        );
        families.push(
            Family::PollInterval,
            &[name],
            org.poll_interval.as_secs_f64(),
        );
        if let Some(d) = org.last_poll_duration {
            families.push(Family::PollDuration, &[name], d.as_secs_f64());
        }
        for reason in PollErrorReason::ALL {
            let count = org.poll_errors.get(&reason).copied().unwrap_or(0);
            families.push(Family::PollErrors, &[name, reason.as_str()], count as f64);
        }
        for ((endpoint, code), count) in &org.responses {
            families.push(
                Family::Requests,
                &[name, endpoint, &code.to_string()],
                *count as f64,
            );
        }
        families.push(
            Family::ConsecutiveFailures,
            &[name],
            org.consecutive_failures as f64,
        );
        for (endpoint, at) in &org.rate_limited_at {
            families.push(Family::RateLimitExceeded, &[name, endpoint], seconds(*at));
        }
        for (endpoint, limit) in &org.rate_limits {
            families.push(Family::RateLimit, &[name, endpoint], limit.limit as f64);
            families.push(
                Family::RateRemaining,
                &[name, endpoint],
                limit.remaining as f64,
            );
            families.push(Family::RateReset, &[name, endpoint], limit.reset as f64);
        }
        for reason in RemovalReason::ALL {
            let count = org.removed.get(&reason).copied().unwrap_or(0);
            families.push(Family::Removed, &[name, reason.as_str()], count as f64);
        }
        for removed in org.removed_tokens.iter().filter(|r| r.remembered_at(now)) {
            families.push(
                Family::RemovedToken,
                &[
                    name,
                    &removed.token_id,
                    &removed.token_name,
                    &removed.user_id,
                    removed.reason.as_str(),
                    &removed.owner_login,
                    removed.last_status.as_str(),
                ],
                seconds(removed.removed_at),
            );
        }
        families.push(Family::Undecodable, &[name], org.undecodable_tokens as f64);
        for (event_type, count) in &org.enrichment.unattributed {
            families.push(
                Family::UnattributedEvents,
                &[name, event_type],
                *count as f64,
            );
        }
        let enrichment = &org.enrichment;
        families.push(
            Family::EnrichmentErrors,
            &[name, "owners"],
            enrichment.owner_errors as f64,
        );
        families.push(
            Family::EnrichmentErrors,
            &[name, "system_log"],
            enrichment.system_log_errors as f64,
        );
        for (event_type, count) in &org.enrichment.events {
            families.push(Family::TokenEvents, &[name, event_type], *count as f64);
        }
        let enabled = |off: Option<crate::model::Off>| if off.is_none() { 1.0 } else { 0.0 };
        families.push(
            Family::EnrichmentEnabled,
            &[name, "owners"],
            enabled(org.enrichment.owners_off),
        );
        families.push(
            Family::EnrichmentEnabled,
            &[name, "system_log"],
            enabled(org.enrichment.system_log_off),
        );
        if let Some(failures) = org.storage_write_failures {
            families.push(Family::StorageWriteFailures, &[name], failures as f64);
        }
        for kept in &org.keepalive {
            for result in KeepAliveResult::ALL {
                let count = kept.count(result) as f64;
                families.push(
                    Family::KeepAlives,
                    &[name, &kept.token_id, result.as_str()],
                    count,
                );
            }
            if let Some(at) = kept.last_refreshed {
                families.push(Family::KeepAliveLast, &[name, &kept.token_id], seconds(at));
            }
        }
        if let Some(oauth) = &org.oauth {
            for (result, count) in &oauth.requests {
                families.push(Family::OAuthTokenRequests, &[name, result], *count as f64);
            }
            if let Some(expiry) = oauth.access_token_expiry {
                let at = expiry
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0.0, |d| d.as_secs_f64());
                families.push(Family::OAuthTokenExpiry, &[name], at);
            }
        }
    }
    families.finish()
}

fn token_status(org: &OrgSnapshot, token: &ApiToken, now: DateTime<Utc>) -> TokenStatus {
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
    write_token_series(out, orgs, now, &mut Cursor::default(), usize::MAX);
}

/// Where the token series stand: the next family, org and token to write.
#[derive(Debug, Default, Clone, Copy)]
struct Cursor {
    family: usize,
    /// Whether the current family's `# HELP` and `# TYPE` lines are out.
    header_written: bool,
    org: usize,
    token: usize,
}

/// Writes token series from `cursor` on until `out` holds at least `limit` bytes or all is
/// written (then `cursor.family` is past the last family).
fn write_token_series(
    out: &mut Vec<u8>,
    orgs: &[Arc<OrgSnapshot>],
    now: DateTime<Utc>,
    cursor: &mut Cursor,
    limit: usize,
) {
    let mut scratch = Vec::with_capacity(256);
    while let Some(&family) = TOKEN_FAMILIES.get(cursor.family) {
        if !cursor.header_written && !has_series(family, orgs) {
            cursor.family += 1;
            continue;
        }
        if !cursor.header_written {
            write_header(out, &family.spec());
            cursor.header_written = true;
        }
        while let Some(org) = orgs.get(cursor.org) {
            while let Some(token) = org.tokens.get(cursor.token) {
                if out.len() >= limit {
                    return;
                }
                let labels = match org.token_labels.get(cursor.token) {
                    Some(prepared) if org.token_labels.len() == org.tokens.len() => {
                        prepared.as_ref()
                    }
                    _ => {
                        scratch.clear();
                        write_token_labels(&mut scratch, &org.name, token);
                        scratch.as_slice()
                    }
                };
                let info = match org.info_labels.get(cursor.token) {
                    Some(prepared) if org.info_labels.len() == org.tokens.len() => {
                        Some(prepared.as_ref())
                    }
                    _ => None,
                };
                write_token_series_of(out, family, org, token, (labels, info), now);
                cursor.token += 1;
            }
            if matches!(family, Family::Status | Family::Info) {
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

/// One token's series of one family; `labels` are its escaped token labels and, when prepared,
/// the escaped labels of `okta_api_token_info`.
fn write_token_series_of(
    out: &mut Vec<u8>,
    family: Family,
    org: &OrgSnapshot,
    token: &ApiToken,
    (labels, info): (&[u8], Option<&[u8]>),
    now: DateTime<Utc>,
) {
    let name = family.spec().name;
    let expires_ms = token.expires_at.timestamp_millis();
    let last_used_ms = expires_ms - token.window.num_milliseconds();
    let value_ms = match family {
        Family::Expiry => expires_ms,
        Family::TimeToExpiry => expires_ms - now.timestamp_millis(),
        Family::LastUsed => last_used_ms,
        Family::LastUsedAge => now.timestamp_millis() - last_used_ms,
        Family::Created => match token.created {
            Some(created) => created.timestamp_millis(),
            None => return,
        },
        Family::Window => token.window.num_milliseconds(),
        Family::Status => {
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
        Family::Info => {
            write_series_start(out, name, labels);
            match info {
                Some(prepared) => out.extend_from_slice(prepared),
                None => {
                    let owner = org.enrichment.owners.get(&token.user_id);
                    let login = owner.map_or("", |o| o.login.as_str());
                    let status = owner.map_or("", |o| o.status.as_str());
                    write_info_labels(out, token, login, status);
                }
            }
            out.extend_from_slice(b"} 1\n");
            return;
        }
        Family::OwnerActive => {
            let Some(usable) = owner_usable(org, token) else {
                return;
            };
            write_series_start(out, name, labels);
            out.extend_from_slice(if usable { b"} 1\n" } else { b"} 0\n" });
            return;
        }
        Family::SuspiciousEvents => {
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
        _ => unreachable!("{name} is not a per-token family"),
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
    family: Family,
    org: &OrgSnapshot,
    token: &UntimedToken,
    now: DateTime<Utc>,
) {
    let name = family.spec().name;
    let mut labels = Vec::with_capacity(128);
    write_token_labels_of(
        &mut labels,
        [&org.name, &token.id, &token.name, &token.user_id],
    );
    if family == Family::Info {
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
const TOKEN_FAMILIES: [Family; 10] = [
    Family::Expiry,
    Family::TimeToExpiry,
    Family::LastUsed,
    Family::LastUsedAge,
    Family::Created,
    Family::Window,
    Family::Status,
    Family::Info,
    Family::OwnerActive,
    Family::SuspiciousEvents,
];

fn owner_usable(org: &OrgSnapshot, token: &ApiToken) -> Option<bool> {
    org.enrichment.owners.get(&token.user_id)?.usable
}

/// Whether any token of any org has a series in this family (an empty family is left out
/// whole, as the `prometheus` crate's encoder does).
fn has_series(family: Family, orgs: &[Arc<OrgSnapshot>]) -> bool {
    orgs.iter().any(|org| match family {
        Family::Created => org.tokens.iter().any(|t| t.created.is_some()),
        Family::OwnerActive => org.tokens.iter().any(|t| owner_usable(org, t).is_some()),
        Family::SuspiciousEvents => {
            org.enrichment.system_log_off.is_none() && !org.tokens.is_empty()
        }
        Family::Status | Family::Info => !org.tokens.is_empty() || !org.untimed_tokens.is_empty(),
        _ => !org.tokens.is_empty(),
    })
}

fn write_header(out: &mut Vec<u8>, spec: &Spec) {
    out.extend_from_slice(b"# HELP ");
    out.extend_from_slice(spec.name.as_bytes());
    out.push(b' ');
    escape_into(out, spec.help, false);
    out.extend_from_slice(b"\n# TYPE ");
    out.extend_from_slice(spec.name.as_bytes());
    out.extend_from_slice(if spec.kind == MetricType::COUNTER {
        b" counter\n"
    } else {
        b" gauge\n"
    });
}

fn seconds(t: DateTime<Utc>) -> f64 {
    t.timestamp_millis() as f64 / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Off, Owner, Suspicion};
    use chrono::TimeDelta;
    use std::collections::HashMap;
    use std::sync::Arc;

    fn token(
        id: &str,
        name: &str,
        expires_in: TimeDelta,
        window: TimeDelta,
        now: DateTime<Utc>,
    ) -> ApiToken {
        ApiToken {
            id: id.into(),
            name: name.into(),
            user_id: "00u1".into(),
            client_name: "Okta \"API\"".into(),
            network_connection: "ANYWHERE".into(),
            window,
            created: Some(now - TimeDelta::days(40) + TimeDelta::milliseconds(250)),
            expires_at: now + expires_in,
        }
    }

    fn shared(orgs: Vec<OrgSnapshot>) -> Vec<Arc<OrgSnapshot>> {
        orgs.into_iter().map(Arc::new).collect()
    }

    fn orgs(now: DateTime<Utc>) -> Vec<Arc<OrgSnapshot>> {
        shared(snapshots(now))
    }

    fn snapshots(now: DateTime<Utc>) -> Vec<OrgSnapshot> {
        let mut a = OrgSnapshot::new("acme", "https://acme.okta.com");
        a.tokens = Arc::new(vec![
            token(
                "00T1",
                "Legacy \"backup\" C:\\scripts\nnightly 🚀",
                TimeDelta::days(20),
                TimeDelta::days(30),
                now,
            ),
            token(
                "00T2",
                "ci",
                TimeDelta::milliseconds(1500),
                TimeDelta::minutes(5),
                now,
            ),
            token(
                "00T3",
                "expired",
                -TimeDelta::hours(1),
                TimeDelta::days(30),
                now,
            ),
        ]);
        let mut b = OrgSnapshot::new("beta", "https://beta.okta.com");
        let mut never_created = token(
            "00T9",
            "no created",
            TimeDelta::days(29),
            TimeDelta::days(30),
            now,
        );
        never_created.created = None;
        b.tokens = Arc::new(vec![never_created]);
        // An agent token Okta lists without an expiry, in each org; acme's is suspicious.
        let agent = |id: &str| UntimedToken {
            id: id.into(),
            name: "AD agent".into(),
            user_id: "00u1".into(),
            client_name: "Okta AD Agent".into(),
            network_connection: String::new(),
            created: None,
            missing: "expiresAt",
        };
        a.untimed_tokens = Arc::new(vec![agent("00Tagent1")]);
        b.untimed_tokens = Arc::new(vec![agent("00Tagent2")]);
        // acme: an owner with a quote in its login, and 00T1 used from outside its network zones.
        a.enrichment.owners = Arc::new(HashMap::from([(
            "00u1".to_owned(),
            Owner {
                login: "svc\"ci@acme.com".into(),
                status: "SUSPENDED".into(),
                usable: Some(false),
                fetched_at: now,
            },
        )]));
        a.enrichment.suspicious = Arc::new(HashMap::from([
            (
                "00T1".to_owned(),
                Suspicion {
                    last: now - TimeDelta::hours(1),
                    count: 3,
                },
            ),
            (
                "00Tagent1".to_owned(),
                Suspicion {
                    last: now - TimeDelta::hours(2),
                    count: 1,
                },
            ),
        ]));
        // beta: the credential may not read the System Log, and no owner is known.
        b.enrichment.system_log_off = Some(Off::Forbidden);
        vec![a, b]
    }

    /// The slow, obviously right rendering with the `prometheus` crate's own types and encoder.
    fn oracle(orgs: &[Arc<OrgSnapshot>], now: DateTime<Utc>) -> Vec<u8> {
        let mut families = Families::new();
        for org in orgs {
            for t in org.tokens.iter() {
                let labels = [org.name.as_str(), &t.id, &t.name, &t.user_id];
                let last_used = t.last_used();
                families.push(Family::Expiry, &labels, seconds(t.expires_at));
                families.push(
                    Family::TimeToExpiry,
                    &labels,
                    (t.expires_at - now).num_milliseconds() as f64 / 1000.0,
                );
                families.push(Family::LastUsed, &labels, seconds(last_used));
                families.push(
                    Family::LastUsedAge,
                    &labels,
                    (now - last_used).num_milliseconds() as f64 / 1000.0,
                );
                if let Some(created) = t.created {
                    families.push(Family::Created, &labels, seconds(created));
                }
                families.push(Family::Window, &labels, t.window.num_seconds() as f64);
                let current = token_status(org, t, now);
                for state in TokenStatus::ALL {
                    let [o, i, n, u] = labels;
                    families.push(
                        Family::Status,
                        &[o, i, n, u, state.as_str()],
                        if state == current { 1.0 } else { 0.0 },
                    );
                }
                let [o, i, n, u] = labels;
                let owner = org.enrichment.owners.get(&t.user_id);
                let (login, status) =
                    owner.map_or(("", ""), |o| (o.login.as_str(), o.status.as_str()));
                families.push(
                    Family::Info,
                    &[
                        o,
                        i,
                        n,
                        u,
                        &t.client_name,
                        &t.network_connection,
                        login,
                        status,
                    ],
                    1.0,
                );
                if let Some(usable) = owner.and_then(|o| o.usable) {
                    families.push(Family::OwnerActive, &labels, if usable { 1.0 } else { 0.0 });
                }
                if org.enrichment.system_log_off.is_none() {
                    let count = org.enrichment.suspicious.get(&t.id).map_or(0, |s| s.count);
                    families.push(Family::SuspiciousEvents, &labels, count as f64);
                }
            }
            for t in org.untimed_tokens.iter() {
                let [o, i, n, u] = [org.name.as_str(), &t.id, &t.name, &t.user_id];
                let yellow = org.enrichment.is_suspicious(&t.id, now);
                for state in TokenStatus::ALL {
                    let on = state == TokenStatus::Yellow && yellow;
                    families.push(
                        Family::Status,
                        &[o, i, n, u, state.as_str()],
                        if on { 1.0 } else { 0.0 },
                    );
                }
                let owner = org.enrichment.owners.get(&t.user_id);
                let (login, status) =
                    owner.map_or(("", ""), |o| (o.login.as_str(), o.status.as_str()));
                let info = [
                    o,
                    i,
                    n,
                    u,
                    &t.client_name,
                    &t.network_connection,
                    login,
                    status,
                ];
                families.push(Family::Info, &info, 1.0);
            }
        }
        let mut out = Vec::new();
        TextEncoder::new()
            .encode(&families.finish(), &mut out)
            .unwrap();
        out
    }

    #[test]
    fn token_families_match_the_prometheus_crate_encoder_byte_for_byte() {
        let now = DateTime::parse_from_rfc3339("2026-11-22T12:00:00.123Z")
            .unwrap()
            .to_utc();
        let orgs = orgs(now);
        let mut fast = Vec::new();
        write_token_families(&mut fast, &orgs, now);
        let expected = oracle(&orgs, now);
        assert_eq!(
            String::from_utf8(fast).unwrap(),
            String::from_utf8(expected).unwrap()
        );
    }

    #[test]
    fn the_streamed_body_is_the_same_text_in_small_chunks() {
        let now = Utc::now();
        let many: Vec<ApiToken> = (0..2000)
            .map(|i| {
                token(
                    &format!("00T{i:05}"),
                    &format!("token {i}"),
                    TimeDelta::days(i % 40),
                    TimeDelta::days(30),
                    now,
                )
            })
            .collect();
        let mut org = OrgSnapshot::new("big", "");
        org.tokens = Arc::new(many);
        let orgs = vec![Arc::new(org), orgs(now).remove(0)];
        let registry = Registry::new();
        let whole = encode(&registry, &orgs, now).unwrap();
        let mut body = ScrapeChunks::new(&registry, orgs, now).unwrap();
        let mut streamed = Vec::new();
        let mut chunks = 0;
        for data in body.by_ref() {
            assert!(
                data.len() < CHUNK_BYTES + 4096,
                "a chunk of {} bytes",
                data.len()
            );
            streamed.extend_from_slice(&data);
            chunks += 1;
        }
        assert!(body.is_done());
        assert!(chunks > 10, "{chunks} chunks");
        let first_difference = streamed.iter().zip(&whole).position(|(a, b)| a != b);
        assert_eq!(first_difference, None, "streamed and whole differ");
        assert_eq!(streamed.len(), whole.len());
    }

    /// Resuming at every possible chunk boundary gives the same text as writing it at once.
    #[test]
    fn token_series_resume_exactly_where_a_chunk_ended() {
        let now = Utc::now();
        let orgs = orgs(now);
        let mut whole = Vec::new();
        write_token_families(&mut whole, &orgs, now);
        for limit in [1, 2, 100, 333, 1000, 4096] {
            let mut cursor = Cursor::default();
            let mut pieced = Vec::new();
            while cursor.family < TOKEN_FAMILIES.len() {
                let mut chunk = Vec::new();
                write_token_series(&mut chunk, &orgs, now, &mut cursor, limit);
                pieced.extend_from_slice(&chunk);
            }
            assert!(
                pieced == whole,
                "chunks of {limit} bytes put together differ from the whole"
            );
        }
    }

    #[test]
    fn labels_prepared_by_the_poller_give_the_same_text() {
        let now = Utc::now();
        let plain = orgs(now);
        let mut prepared = snapshots(now);
        for org in &mut prepared {
            crate::exposition::prepare_labels(org);
            assert_eq!(org.info_labels.len(), org.tokens.len());
        }
        let (mut a, mut b) = (Vec::new(), Vec::new());
        write_token_families(&mut a, &plain, now);
        write_token_families(&mut b, &shared(prepared), now);
        assert!(a == b);
    }

    #[test]
    fn no_tokens_no_token_families() {
        let mut out = Vec::new();
        write_token_families(
            &mut out,
            &[Arc::new(OrgSnapshot::new("empty", ""))],
            Utc::now(),
        );
        assert!(out.is_empty());
    }

    #[test]
    fn counts_per_status_always_list_all_four_states() {
        let now = Utc::now();
        let families = org_families(&orgs(now), now);
        let tokens = families
            .iter()
            .find(|f| f.name() == "okta_api_tokens")
            .unwrap();
        let acme: Vec<(String, f64)> = tokens
            .get_metric()
            .iter()
            .filter(|m| m.get_label()[0].value() == "acme")
            .map(|m| {
                (
                    m.get_label()[1].value().to_owned(),
                    m.get_gauge().get_value(),
                )
            })
            .collect();
        assert_eq!(
            acme,
            [
                ("green".into(), 0.0),
                ("gray".into(), 0.0),
                ("red".into(), 2.0),
                ("yellow".into(), 2.0)
            ]
        );
    }

    #[test]
    fn a_token_without_an_expiry_has_info_and_status_and_nothing_timed() {
        let now = Utc::now();
        let mut out = Vec::new();
        write_token_families(&mut out, &orgs(now), now);
        let text = String::from_utf8(out).unwrap();
        let agent: Vec<&str> = text
            .lines()
            .filter(|l| l.contains("token_id=\"00Tagent1\""))
            .collect();
        let names: std::collections::BTreeSet<&str> =
            agent.iter().map(|l| l.split('{').next().unwrap()).collect();
        assert_eq!(
            names.into_iter().collect::<Vec<_>>(),
            ["okta_api_token_info", "okta_api_token_status"]
        );
        assert!(
            agent.iter().any(|l| l.contains("status=\"yellow\"} 1")),
            "{agent:?}"
        );
        assert!(
            agent.iter().any(|l| l.contains("status=\"red\"} 0")),
            "{agent:?}"
        );
    }
}
