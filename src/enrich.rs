//! Enrichment: what the token list alone does not say.
//!
//! Okta revokes every token of a deactivated user and rejects those of a suspended one, and its
//! console marks tokens yellow when they look suspicious. After each complete token poll, the
//! poller looks up each token's owner (`GET /api/v1/users/{id}`) and queries the System Log for
//! API token events since the last query. Both stay within a share of the endpoint's rate limit,
//! and each part turns itself off, with one warning, when the credential may not read it: the
//! token metrics never depend on them.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use chrono::{DateTime, TimeDelta, Utc};
use tokio::task::JoinSet;

pub use crate::model::enrichment::{Creation, Enrichment, Off, Owner, Suspicion, CREATION_MEMORY};
pub use crate::model::posture::PostureSettings;
use crate::okta::client::{SYSTEM_LOG, USER};
use crate::okta::model::User;
use crate::okta::{ApiToken, OktaClient, PollError, PollErrorReason, PollStats, RateLimit};

pub mod roles;

/// The System Log event types the exporter reads.
pub const TOKEN_EVENTS: [&str; 5] = [
    "system.api_token.create",
    "system.api_token.enable",
    "system.api_token.update",
    "system.api_token.revoke",
    OUTSIDE_ALLOWED_RANGE,
];

/// A call made with a token from outside its allowed network zones: what makes a token yellow.
pub const OUTSIDE_ALLOWED_RANGE: &str = "system.api_token.request_outside_allowed_range";
const REVOKE: &str = "system.api_token.revoke";
/// A token made: its creator and owner are told by the new-token alert.
const CREATE: &str = "system.api_token.create";
/// A user's deactivation: Okta deletes every API token of the user at once.
pub const USER_DEACTIVATE: &str = "user.lifecycle.deactivate";

/// Every System Log event type the exporter reads.
pub const READ_EVENTS: [&str; 6] = [
    TOKEN_EVENTS[0],
    TOKEN_EVENTS[1],
    TOKEN_EVENTS[2],
    TOKEN_EVENTS[3],
    TOKEN_EVENTS[4],
    USER_DEACTIVATE,
];

/// The event types that are about one token, and so must name it.
pub const ATTRIBUTED_EVENTS: [&str; 2] = [REVOKE, OUTSIDE_ALLOWED_RANGE];

/// User lookups in flight at once.
const CONCURRENT_LOOKUPS: usize = 4;
/// System Log pages (of 1,000 events) read per poll at most; the next poll reads on from there.
const MAX_LOG_PAGES: usize = 5;
/// How long a revocation or a deactivation seen in the log is remembered to explain a token's
/// disappearance.
const REVOCATION_MEMORY: TimeDelta = TimeDelta::days(7);
/// Okta refuses a `since` older than 180 days (400, E0000053); a query starts a little later.
const OLDEST_QUERYABLE: TimeDelta = TimeDelta::days(180);

/// What the exporter looks up beside the token list; each part degrades alone when its
/// permission is missing.
#[derive(Debug, Clone, PartialEq)]
pub struct EnrichSettings {
    /// Look up each token's owner (`GET /api/v1/users/{id}`).
    pub owners: bool,
    /// Look up each owner's admin roles (`GET /api/v1/users/{id}/roles`), for the posture.
    pub roles: bool,
    /// The rules of the posture findings.
    pub posture: PostureSettings,
    /// Query the System Log for API token events (`GET /api/v1/logs`).
    pub system_log: bool,
    /// A token with a `request_outside_allowed_range` event this recent is yellow.
    pub suspicious_lookback: Duration,
    /// The share of an endpoint's remaining rate limit one poll may use for lookups.
    pub rate_limit_share: f64,
}

impl Default for EnrichSettings {
    fn default() -> Self {
        EnrichSettings {
            owners: true,
            roles: true,
            posture: PostureSettings::default(),
            system_log: true,
            suspicious_lookback: Duration::from_secs(24 * 3600),
            rate_limit_share: 0.5,
        }
    }
}

/// The poller's own place in the System Log: never published, only carried from poll to poll.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LogCursor {
    /// The `next` link of the polling query: where the next read goes on.
    pub next: Option<String>,
    /// Where a new polling query starts when there is no `next` link (a state file of an
    /// earlier version, or a link Okta no longer accepts): the time of the last read.
    pub until: Option<DateTime<Utc>>,
    /// Revocations seen in the log: token id to (who, when).
    pub revoked_by: HashMap<String, (String, DateTime<Utc>)>,
    /// Deactivations seen in the log: user id to (who, when).
    pub deactivated: HashMap<String, (String, DateTime<Utc>)>,
    /// Whether the last read failed (to warn when it starts failing, not at every poll).
    pub failing: bool,
    /// Event types that named no token, warned about once.
    pub unattributed_warned: HashSet<&'static str>,
}

impl Enrichment {
    /// The state before the first poll, as configured.
    pub fn new(settings: &EnrichSettings) -> Enrichment {
        Enrichment {
            owners: Arc::default(),
            owners_off: (!settings.owners).then_some(Off::Configured),
            suspicious: Arc::default(),
            suspicious_lookback: TimeDelta::from_std(settings.suspicious_lookback)
                .unwrap_or(TimeDelta::days(1)),
            system_log_off: (!settings.system_log).then_some(Off::Configured),
            events: if settings.system_log {
                READ_EVENTS.iter().map(|t| (*t, 0)).collect()
            } else {
                BTreeMap::new()
            },
            unattributed: if settings.system_log {
                ATTRIBUTED_EVENTS.iter().map(|t| (*t, 0)).collect()
            } else {
                BTreeMap::new()
            },
            owner_errors: 0,
            system_log_errors: 0,
            roles: Arc::default(),
            roles_off: (!settings.roles).then_some(Off::Configured),
            role_errors: 0,
            posture: Arc::new(settings.posture.clone()),
            created: Arc::default(),
        }
    }

    /// Applies the settings to an enrichment restored from a state file: what is configured off
    /// is off, and what was learnt before stays.
    pub fn configure(&mut self, settings: &EnrichSettings) {
        let fresh = Enrichment::new(settings);
        self.owners_off = fresh.owners_off;
        self.system_log_off = fresh.system_log_off;
        self.suspicious_lookback = fresh.suspicious_lookback;
        self.events = fresh.events;
        self.unattributed = fresh.unattributed;
        self.roles_off = fresh.roles_off;
        self.posture = fresh.posture;
    }
}

impl Default for Enrichment {
    /// As with the default settings: everything on, nothing known yet.
    fn default() -> Enrichment {
        Enrichment::new(&EnrichSettings::default())
    }
}

/// Refreshes owners and System Log findings after a complete token poll. Never fails: what
/// cannot be read this time keeps its last known value. `vanished_owners` are the owners of
/// tokens that left the list in this poll: looked up first, so that a deactivated owner explains
/// the disappearance.
#[allow(clippy::too_many_arguments)] // each is one thing the refresh reads or updates
pub async fn refresh(
    client: &Arc<OktaClient>,
    org: &str,
    settings: &EnrichSettings,
    tokens: &[ApiToken],
    vanished_owners: &[&str],
    mut enrichment: Enrichment,
    cursor: &mut LogCursor,
    rate_limits: &BTreeMap<&'static str, RateLimit>,
    stats: &mut PollStats,
) -> Enrichment {
    let now = Utc::now();
    if enrichment.owners_off.is_none() {
        refresh_owners(
            client,
            org,
            settings,
            tokens,
            vanished_owners,
            &mut enrichment,
            rate_limits.get(USER).copied(),
            stats,
        )
        .await;
    }
    if enrichment.system_log_off.is_none() {
        let budget = lookups_allowed(
            rate_limits.get(SYSTEM_LOG).copied(),
            settings.rate_limit_share,
            SystemTime::now(),
        );
        if budget.is_none_or(|n| n >= 1) {
            read_system_log(client, org, &mut enrichment, cursor, now, stats).await;
        } else {
            tracing::debug!(
                org,
                "skipping the System Log this poll: its rate-limit budget is used up"
            );
        }
    }
    enrichment
}

/// How many requests this poll may send to an endpoint: `share` of what remains of its window;
/// `None` when its limit is not known yet (the caller probes with one request).
pub fn lookups_allowed(last: Option<RateLimit>, share: f64, now: SystemTime) -> Option<u64> {
    let last = last?;
    let reset = crate::okta::client::epoch_seconds(last.reset);
    let remaining = if now >= reset {
        last.limit
    } else {
        last.remaining
    };
    Some((remaining as f64 * share).floor() as u64)
}

#[allow(clippy::too_many_arguments)] // as `refresh`: each is one thing the lookups read or update
async fn refresh_owners(
    client: &Arc<OktaClient>,
    org: &str,
    settings: &EnrichSettings,
    tokens: &[ApiToken],
    vanished_owners: &[&str],
    enrichment: &mut Enrichment,
    last_limit: Option<RateLimit>,
    stats: &mut PollStats,
) {
    let mut owners: HashMap<String, Owner> = (*enrichment.owners).clone();
    let vanished: HashSet<&str> = vanished_owners
        .iter()
        .copied()
        .filter(|id| !id.is_empty())
        .collect();
    let wanted: HashSet<&str> = tokens
        .iter()
        .map(|t| t.user_id.as_str())
        .filter(|id| !id.is_empty())
        .chain(vanished.iter().copied())
        .collect();
    owners.retain(|id, _| wanted.contains(id.as_str()));
    // The owners of vanished tokens first, then those never looked up, then the stalest.
    let mut queue: Vec<&str> = wanted.into_iter().collect();
    queue.sort_by_key(|id| {
        (
            !vanished.contains(id),
            owners.get(*id).map(|o| o.fetched_at),
            *id,
        )
    });

    let mut budget = lookups_allowed(last_limit, settings.rate_limit_share, SystemTime::now());
    let mut queue = queue.into_iter().peekable();
    while queue.peek().is_some() {
        // Unknown limit: probe with one lookup, then budget from its headers.
        let batch_size = match budget {
            None => 1,
            Some(0) => break,
            Some(n) => n.min(CONCURRENT_LOOKUPS as u64) as usize,
        };
        let mut batch = JoinSet::new();
        for id in queue.by_ref().take(batch_size) {
            let (client, id) = (Arc::clone(client), id.to_owned());
            batch.spawn(async move {
                let mut stats = PollStats::default();
                let result = client.get_user(&id, &mut stats).await;
                (id, result, stats)
            });
        }
        let mut stop = false;
        while let Some(joined) = batch.join_next().await {
            let Ok((id, result, lookup_stats)) = joined else {
                continue;
            };
            let sent = lookup_stats.responses.len() as u64;
            let limit = lookup_stats.rate_limits.last().map(|(_, l)| *l);
            stats.merge(lookup_stats);
            budget = match (budget, limit) {
                (None, Some(limit)) => {
                    lookups_allowed(Some(limit), settings.rate_limit_share, SystemTime::now())
                }
                (Some(n), _) => Some(n.saturating_sub(sent.max(1))),
                (None, None) => Some(0),
            };
            match result {
                Ok(user) => {
                    owners.insert(id, owner(user));
                }
                Err(error) if error.reason() == PollErrorReason::Forbidden => {
                    tracing::warn!(org, error = %error, "owner lookups are off for this org: the credential may not read users; token metrics are unaffected");
                    enrichment.owners_off = Some(Off::Forbidden);
                    stop = true;
                }
                Err(PollError::ClientError { status: 404, .. }) => {
                    owners.remove(&id);
                }
                Err(error) => {
                    enrichment.owner_errors += 1;
                    tracing::debug!(org, user_id = %id, error = %error, "owner lookup failed; keeping the last known owner");
                    stop |= error.reason() == PollErrorReason::RateLimited;
                }
            }
        }
        if stop {
            break;
        }
    }
    enrichment.owners = Arc::new(owners);
}

fn owner(user: User) -> Owner {
    Owner {
        usable: user.keeps_tokens_usable(),
        login: user.login,
        status: user.status,
        fetched_at: Utc::now(),
    }
}

/// Reads the System Log on from where the last read stopped, as Okta recommends for polling:
/// one polling query (no `until`) whose `next` links are followed from poll to poll, so that an
/// event published late is still read. Each page moves the cursor, so a failure or the page cap
/// loses nothing: the next poll reads on from the last page that arrived.
async fn read_system_log(
    client: &OktaClient,
    org: &str,
    enrichment: &mut Enrichment,
    cursor: &mut LogCursor,
    now: DateTime<Utc>,
    stats: &mut PollStats,
) {
    let mut suspicious = (*enrichment.suspicious).clone();
    let mut result = Ok(());
    for _ in 0..MAX_LOG_PAGES {
        let url = match &cursor.next {
            Some(next) => next.clone(),
            None => {
                client.system_log_query(&READ_EVENTS, query_start(org, cursor, enrichment, now))
            }
        };
        match client.system_log_page(&url, stats).await {
            Ok(page) => {
                for event in &page.events {
                    apply_event(org, event, enrichment, &mut suspicious, cursor);
                }
                // Where a new query would start: now once caught up; inside a backlog, the
                // newest event read, so that a refused link later loses nothing after it.
                cursor.until = Some(if page.full {
                    let newest = page.events.iter().map(|e| e.published).max();
                    newest.max(cursor.until).unwrap_or(now).min(now)
                } else {
                    now
                });
                cursor.next = page.next;
                if !page.full || cursor.next.is_none() {
                    break;
                }
            }
            Err(error) => {
                result = Err(error);
                break;
            }
        }
    }
    cursor
        .revoked_by
        .retain(|_, (_, at)| now - *at <= REVOCATION_MEMORY);
    cursor
        .deactivated
        .retain(|_, (_, at)| now - *at <= REVOCATION_MEMORY);
    if enrichment
        .created
        .values()
        .any(|c| now - c.at > CREATION_MEMORY)
    {
        Arc::make_mut(&mut enrichment.created).retain(|_, c| now - c.at <= CREATION_MEMORY);
    }
    enrichment.suspicious = Arc::new(suspicious);
    match result {
        Ok(()) => {
            if std::mem::take(&mut cursor.failing) {
                tracing::info!(org, "reading the System Log works again");
            }
        }
        Err(error) if error.reason() == PollErrorReason::Forbidden => {
            tracing::warn!(org, error = %error, "System Log queries are off for this org: the credential may not read it; no yellow tokens, token metrics are unaffected");
            enrichment.system_log_off = Some(Off::Forbidden);
        }
        Err(error) => {
            enrichment.system_log_errors += 1;
            // Okta refuses a cursor it no longer serves (400): start a new query next time
            // rather than asking for the same refused page for ever.
            let refused = matches!(error, PollError::ClientError { status: 400, .. });
            if refused {
                cursor.next = None;
            }
            let first = !std::mem::replace(&mut cursor.failing, true);
            if first || refused {
                tracing::warn!(org, error = %error, restart = refused, "reading the System Log failed; yellow tokens and revocations may be missed until it works again (the next poll reads on from where it stopped)");
            } else {
                tracing::debug!(org, error = %error, "reading the System Log failed again");
            }
        }
    }
}

/// Where a new polling query starts: where the last read ended (the lookback before it on a
/// first start), never further back than Okta serves nor in the future.
fn query_start(
    org: &str,
    cursor: &LogCursor,
    enrichment: &Enrichment,
    now: DateTime<Utc>,
) -> DateTime<Utc> {
    let wanted = cursor
        .until
        .unwrap_or(now - enrichment.suspicious_lookback)
        .min(now);
    let oldest = now - OLDEST_QUERYABLE + TimeDelta::hours(1);
    if wanted < oldest {
        tracing::warn!(org, since = %wanted, "the System Log is read from {oldest} on: Okta serves no query further back than 180 days, so older events are skipped");
        oldest
    } else {
        wanted
    }
}

/// What one event says: a token used from outside its zones (the requesting token, or the
/// targeted one when Okta names no requester), a token revoked (its target only: the
/// requesting token is the one that made the call), an owner deactivated.
fn apply_event(
    org: &str,
    event: &crate::okta::model::LogEvent,
    enrichment: &mut Enrichment,
    suspicious: &mut HashMap<String, Suspicion>,
    cursor: &mut LogCursor,
) {
    let Some(&event_type) = READ_EVENTS.iter().find(|t| **t == event.event_type) else {
        return;
    };
    *enrichment.events.entry(event_type).or_default() += 1;
    let tokens: Vec<&String> = match event_type {
        OUTSIDE_ALLOWED_RANGE => match &event.requesting_token {
            Some(token) => vec![token],
            None => event.target_tokens.iter().collect(),
        },
        REVOKE => event.target_tokens.iter().collect(),
        CREATE => {
            for token in &event.target_tokens {
                let creation = Creation {
                    actor: event.actor.clone(),
                    at: event.published,
                };
                Arc::make_mut(&mut enrichment.created).insert(token.clone(), creation);
            }
            return;
        }
        USER_DEACTIVATE => {
            for user in &event.target_users {
                cursor
                    .deactivated
                    .insert(user.clone(), (event.actor.clone(), event.published));
            }
            return;
        }
        _ => return,
    };
    if tokens.is_empty() {
        *enrichment.unattributed.entry(event_type).or_default() += 1;
        if cursor.unattributed_warned.insert(event_type) {
            tracing::warn!(org, event_type, uuid = %event.uuid, "a System Log event names no API token where Okta's event catalog says it does; has the event's shape changed? Tokens it concerns are not marked");
        }
        return;
    }
    for token_id in tokens {
        if event_type == OUTSIDE_ALLOWED_RANGE {
            let entry = suspicious.entry(token_id.clone()).or_insert(Suspicion {
                last: event.published,
                count: 0,
            });
            entry.last = entry.last.max(event.published);
            entry.count += 1;
        } else {
            cursor
                .revoked_by
                .insert(token_id.clone(), (event.actor.clone(), event.published));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn a_poll_may_use_its_share_of_what_remains_of_the_window() {
        let now = UNIX_EPOCH + Duration::from_secs(1_000);
        let limit = |remaining, reset| {
            Some(RateLimit {
                limit: 2000,
                remaining,
                reset,
            })
        };
        let cases = [
            (None, 0.5, None),
            (limit(2000, 1_030), 0.5, Some(1000)),
            (limit(100, 1_030), 0.5, Some(50)),
            (limit(1, 1_030), 0.5, Some(0)),
            (limit(0, 1_030), 1.0, Some(0)),
            (limit(10, 999), 0.5, Some(1000)), // the window reset: the whole limit is back
            (limit(120, 1_030), 0.25, Some(30)),
        ];
        for (last, share, want) in cases {
            assert_eq!(
                lookups_allowed(last, share, now),
                want,
                "{last:?} share {share}"
            );
        }
    }

    #[test]
    fn yellow_lasts_for_the_lookback_after_the_last_suspicious_event() {
        let now = Utc::now();
        let mut enrichment = Enrichment::new(&EnrichSettings::default());
        enrichment.suspicious = Arc::new(HashMap::from([
            (
                "00Tfresh".to_owned(),
                Suspicion {
                    last: now - TimeDelta::hours(23),
                    count: 1,
                },
            ),
            (
                "00Tedge".to_owned(),
                Suspicion {
                    last: now - TimeDelta::hours(24),
                    count: 2,
                },
            ),
            (
                "00Told".to_owned(),
                Suspicion {
                    last: now - TimeDelta::hours(24) - TimeDelta::seconds(1),
                    count: 1,
                },
            ),
        ]));
        assert!(enrichment.is_suspicious("00Tfresh", now));
        assert!(
            enrichment.is_suspicious("00Tedge", now),
            "exactly the lookback ago still counts"
        );
        assert!(!enrichment.is_suspicious("00Told", now));
        assert!(!enrichment.is_suspicious("00Tnever", now));
    }

    #[test]
    fn a_new_query_starts_where_reading_stopped_within_what_okta_serves() {
        let now = Utc::now();
        let enrichment = Enrichment::default(); // a lookback of 24 hours
        let start = |until: Option<DateTime<Utc>>| {
            let cursor = LogCursor {
                until,
                ..LogCursor::default()
            };
            query_start("acme", &cursor, &enrichment, now)
        };
        let oldest = now - OLDEST_QUERYABLE + TimeDelta::hours(1);
        // (where the last read stopped, where the new query starts)
        let cases = [
            (None, now - TimeDelta::days(1)),
            (
                Some(now - TimeDelta::minutes(5)),
                now - TimeDelta::minutes(5),
            ),
            (Some(now - TimeDelta::days(179)), now - TimeDelta::days(179)),
            (Some(now - TimeDelta::days(200)), oldest), // Okta refuses 180+ days (E0000053)
            (Some(now + TimeDelta::days(3)), now),      // a clock that ran ahead
        ];
        for (until, want) in cases {
            assert_eq!(start(until), want, "{until:?}");
        }
    }

    #[test]
    fn each_event_is_about_the_token_or_user_okta_says_it_is_about() {
        use crate::okta::model::LogEvent;
        let now = Utc::now();
        let event =
            |event_type: &str, targets: &[&str], users: &[&str], requester: Option<&str>| {
                LogEvent {
                    uuid: "u".into(),
                    published: now,
                    event_type: event_type.into(),
                    target_tokens: targets.iter().map(|t| t.to_string()).collect(),
                    target_users: users.iter().map(|t| t.to_string()).collect(),
                    requesting_token: requester.map(str::to_owned),
                    actor: "admin@acme.com".into(),
                }
            };
        let mut enrichment = Enrichment::default();
        let mut suspicious = HashMap::new();
        let mut cursor = LogCursor::default();
        let events = [
            // A token revoked through the API with another token: only the target is revoked.
            event(REVOKE, &["00Trevoked"], &[], Some("00Tcaller")),
            // Okta's catalog: `targets: null`, the token is the requesting one.
            event(OUTSIDE_ALLOWED_RANGE, &[], &[], Some("00Toutside")),
            event(OUTSIDE_ALLOWED_RANGE, &["00Ttargeted"], &[], None),
            event(USER_DEACTIVATE, &[], &["00uleaver"], None),
            // Naming no token: counted, not guessed at.
            event(OUTSIDE_ALLOWED_RANGE, &[], &[], None),
            event(OUTSIDE_ALLOWED_RANGE, &[], &[], None),
            event(REVOKE, &[], &[], Some("00Tcaller")),
            event("system.api_token.create", &["00Tnew"], &[], None),
            event("user.session.start", &[], &["00uother"], None),
        ];
        for e in &events {
            apply_event("acme", e, &mut enrichment, &mut suspicious, &mut cursor);
        }
        let revoked: Vec<&String> = cursor.revoked_by.keys().collect();
        assert_eq!(revoked, ["00Trevoked"]);
        let mut marked: Vec<&String> = suspicious.keys().collect();
        marked.sort();
        assert_eq!(marked, ["00Toutside", "00Ttargeted"]);
        assert_eq!(cursor.deactivated["00uleaver"].1, now);
        assert_eq!(cursor.deactivated.len(), 1);
        assert_eq!(enrichment.unattributed[OUTSIDE_ALLOWED_RANGE], 2);
        assert_eq!(enrichment.unattributed[REVOKE], 1);
        assert_eq!(cursor.unattributed_warned.len(), 2, "each type warned once");
        assert_eq!(enrichment.events[OUTSIDE_ALLOWED_RANGE], 4);
        assert_eq!(enrichment.events[USER_DEACTIVATE], 1);
        assert!(!enrichment.events.contains_key("user.session.start"));
    }

    #[test]
    fn disabled_parts_say_so_from_the_start() {
        let settings = EnrichSettings {
            owners: false,
            system_log: true,
            ..EnrichSettings::default()
        };
        let enrichment = Enrichment::new(&settings);
        assert_eq!(enrichment.owners_off, Some(Off::Configured));
        assert_eq!(enrichment.system_log_off, None);
        assert_eq!(
            enrichment.events.len(),
            READ_EVENTS.len(),
            "event counters start at zero"
        );
        assert_eq!(enrichment.unattributed.len(), ATTRIBUTED_EVENTS.len());
    }
}
