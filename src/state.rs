//! A poller's working state: everything it carries from one poll to the next, and the rules
//! that turn a poll's result into the next [`OrgSnapshot`].
//!
//! Only the poller of an org holds its [`OrgState`], so nothing here is locked. A failed poll
//! never touches the token set: only a poll in which every page arrived replaces it, and it
//! settles the keep-alive calls made after the poll before.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::enrich::{EnrichSettings, LogCursor};
use crate::keepalive::Tracked;
use crate::model::removal::{self, Evidence, RemovalReason, RemovedToken};
use crate::model::{Enrichment, Owner, Suspicion};
use crate::okta::client::{TokenList, API_TOKENS, ROLES, SYSTEM_LOG, USER, USER_ME};
use crate::okta::model::status_keeps_tokens_usable;
use crate::okta::{ApiToken, PollError, PollStats};
use crate::snapshot::{OAuthFacts, OrgSnapshot};
use crate::storage::{
    Counters, DeactivationRecord, OrgRecord, OwnerRecord, RateLimitedRecord, RemovedTokenRecord,
    RevocationRecord, SuspicionRecord, TokenRecord,
};

/// The endpoints whose last 429 is kept, by their `endpoint` label.
const ENDPOINTS: [&str; 5] = [API_TOKENS, USER, SYSTEM_LOG, USER_ME, ROLES];

/// One org as its poller knows it.
#[derive(Debug, Clone, Default)]
pub struct OrgState {
    /// What the next publication shows; changed only by the rules below.
    facts: OrgSnapshot,
    /// What the state file knows the org by, with its name: its URL, unless
    /// [`OrgState::shown_at`] said otherwise (the demo's simulated org).
    stored_url: String,
    /// The poller's place in the System Log; never published.
    pub log: LogCursor,
    /// The tokens kept alive, with their secrets; only their facts are published.
    pub keepalive: Vec<Tracked>,
    /// What was said about a token, by id and what (it cannot be decoded, has no expiry, has a
    /// window shorter than two polls): a token Okta keeps listing that way is said once, not at
    /// every poll.
    pub said_once: HashSet<(Option<String>, String)>,
}

/// What changed for the log: the poller logs transitions, not every failure.
#[derive(Debug, Clone, PartialEq)]
pub enum Transition {
    /// Nothing a human needs to hear about again.
    Unchanged,
    /// The first successful poll, or the first after failures.
    Recovered,
    /// The first failure, or a failure of another kind than the last.
    Failing,
}

impl OrgState {
    pub fn new(name: impl Into<String>, url: impl Into<String>) -> OrgState {
        let url = url.into();
        OrgState {
            stored_url: url.clone(),
            facts: OrgSnapshot::new(name, url),
            log: LogCursor::default(),
            keepalive: Vec::new(),
            said_once: HashSet::new(),
        }
    }

    /// Shows the org at `url` while the state file keeps knowing it by the URL it was made or
    /// restored with: the demo's simulated org is at a new port at each start.
    pub fn shown_at(&mut self, url: &str) {
        self.facts.url = url.to_owned();
    }

    /// What the next publication shows.
    pub fn facts(&self) -> &OrgSnapshot {
        &self.facts
    }

    /// How the org is polled, as configured, which every publication shows: the interval, the
    /// enrichment (what is configured off is off; what was learnt before, restored, stays), and
    /// whether there is a state file to count failed writes of.
    pub fn configure(&mut self, interval: Duration, enrich: &EnrichSettings, storage: bool) {
        self.facts.poll_interval = interval;
        self.facts.enrichment.configure(enrich);
        self.facts.storage_write_failures = storage.then_some(0);
    }

    /// What the org's OAuth 2.0 client has done so far (token requests, the access token's
    /// expiry); `None` for an SSWS token.
    pub fn observe_oauth(&mut self, oauth: Option<OAuthFacts>) {
        self.facts.oauth = oauth;
    }

    /// Counts a failed write of the state file.
    pub fn count_storage_failure(&mut self) {
        *self.facts.storage_write_failures.get_or_insert(0) += 1;
    }

    /// Keeps these tokens alive from now on (sorted by id, as they are published).
    pub fn keep_alive(&mut self, mut tracked: Vec<Tracked>) {
        tracked.sort_by(|a, b| a.token.token_id.cmp(&b.token.token_id));
        self.keepalive = tracked;
    }

    /// The state a state file describes: tokens, owners, System Log findings and cursor, the
    /// last success and the counters, as they were. Not up until a poll succeeds.
    pub fn restore(record: OrgRecord) -> OrgState {
        let mut state = OrgState::new(record.org, record.url);
        let tokens: Vec<_> = record.tokens.iter().map(TokenRecord::to_token).collect();
        state.facts.tokens = Arc::new(tokens);
        state.facts.last_success = Some(record.last_successful_poll);
        state.facts.enrichment.owners = Arc::new(
            record
                .owners
                .into_iter()
                .map(|o| {
                    let owner = Owner {
                        usable: status_keeps_tokens_usable(&o.status),
                        login: o.login,
                        status: o.status,
                        fetched_at: o.fetched_at,
                    };
                    (o.user_id, owner)
                })
                .collect(),
        );
        state.facts.enrichment.roles = posture::restore(&record.posture.owner_roles);
        state.facts.enrichment.created = posture::restore_creations(&record.posture.creations);
        state.facts.enrichment.suspicious = Arc::new(
            record
                .suspicious
                .into_iter()
                .map(|s| {
                    let suspicion = Suspicion {
                        last: s.last,
                        count: s.count,
                    };
                    (s.token_id, suspicion)
                })
                .collect(),
        );
        state.log.until = record.system_log_until;
        state.log.next = record.system_log_next;
        state.log.revoked_by = record
            .revocations
            .into_iter()
            .map(|r| (r.token_id, (r.actor, r.at)))
            .collect();
        state.log.deactivated = record
            .deactivations
            .into_iter()
            .map(|d| (d.user_id, (d.actor, d.at)))
            .collect();
        let counters = &record.counters;
        state.facts.removed = BTreeMap::from([
            (RemovalReason::Expired, counters.tokens_removed_expired),
            (RemovalReason::Revoked, counters.tokens_removed_revoked),
            (
                RemovalReason::OwnerDeactivated,
                counters.tokens_removed_owner_deactivated,
            ),
        ]);
        state.facts.removed_tokens = Arc::new(
            record
                .removed_tokens
                .into_iter()
                .map(|r| RemovedToken {
                    token_id: r.token_id,
                    token_name: r.token_name,
                    user_id: r.user_id,
                    owner_login: r.owner_login,
                    reason: r.reason,
                    removed_at: r.removed_at,
                    last_status: r.last_status,
                })
                .collect(),
        );
        state.facts.rate_limited_at = record
            .rate_limited
            .into_iter()
            .filter_map(|r| {
                let endpoint = ENDPOINTS.into_iter().find(|e| *e == r.endpoint)?;
                Some((endpoint, r.at))
            })
            .collect();
        state
    }

    /// What the state file keeps of this state (nothing secret: Okta never returns a token's
    /// secret, and credentials are not part of the state).
    pub fn to_record(&self, now: DateTime<Utc>) -> OrgRecord {
        let facts = &self.facts;
        let mut record = OrgRecord::new(&facts.name, &self.stored_url, now);
        record.last_successful_poll = facts.last_success.unwrap_or(now);
        record.tokens = facts.tokens.iter().map(TokenRecord::from_token).collect();
        let mut owners: Vec<_> = facts
            .enrichment
            .owners
            .iter()
            .map(|(user_id, o)| OwnerRecord {
                user_id: user_id.clone(),
                login: o.login.clone(),
                status: o.status.clone(),
                fetched_at: o.fetched_at,
            })
            .collect();
        owners.sort_by(|a, b| a.user_id.cmp(&b.user_id));
        record.owners = owners;
        let mut suspicious: Vec<_> = facts
            .enrichment
            .suspicious
            .iter()
            .map(|(token_id, s)| SuspicionRecord {
                token_id: token_id.clone(),
                last: s.last,
                count: s.count,
            })
            .collect();
        suspicious.sort_by(|a, b| a.token_id.cmp(&b.token_id));
        record.suspicious = suspicious;
        record.posture.owner_roles = posture::records(&facts.enrichment.roles);
        record.posture.creations = posture::creation_records(&facts.enrichment.created);
        record.system_log_until = self.log.until;
        record.revocations = by_id(&self.log.revoked_by, |id, actor, at| RevocationRecord {
            token_id: id.to_owned(),
            actor: actor.to_owned(),
            at,
        });
        record.system_log_next = self.log.next.clone();
        record.deactivations = by_id(&self.log.deactivated, |id, actor, at| DeactivationRecord {
            user_id: id.to_owned(),
            actor: actor.to_owned(),
            at,
        });
        let removed = |reason| facts.removed.get(&reason).copied().unwrap_or(0);
        record.counters = Counters {
            tokens_removed_expired: removed(RemovalReason::Expired),
            tokens_removed_revoked: removed(RemovalReason::Revoked),
            tokens_removed_owner_deactivated: removed(RemovalReason::OwnerDeactivated),
        };
        record.removed_tokens = facts
            .removed_tokens
            .iter()
            .map(|r| RemovedTokenRecord {
                token_id: r.token_id.clone(),
                token_name: r.token_name.clone(),
                user_id: r.user_id.clone(),
                owner_login: r.owner_login.clone(),
                reason: r.reason,
                removed_at: r.removed_at,
                last_status: r.last_status,
            })
            .collect();
        record.rate_limited = facts
            .rate_limited_at
            .iter()
            .map(|(endpoint, at)| RateLimitedRecord {
                endpoint: (*endpoint).to_owned(),
                at: *at,
            })
            .collect();
        record
    }

    /// The snapshot to publish: a copy of the facts (the token set and owners are shared `Arc`s)
    /// and of what the kept-alive tokens publish.
    pub fn snapshot(&self) -> OrgSnapshot {
        let mut snapshot = self.facts.clone();
        snapshot.keepalive = self.keepalive.iter().map(|t| t.facts.clone()).collect();
        snapshot
    }

    /// The owners of known tokens that `list` no longer lists (and that are not merely
    /// undecodable this time): looked up before [`OrgState::apply_success`] decides why they left.
    pub fn vanished_owners<'a>(&'a self, list: &TokenList) -> Vec<&'a str> {
        let gone = self.vanished(list);
        let mut owners: Vec<&str> = gone.iter().map(|t| t.user_id.as_str()).collect();
        owners.sort_unstable();
        owners.dedup();
        owners
    }

    fn vanished(&self, list: &TokenList) -> Vec<&ApiToken> {
        let listed: HashSet<&str> = list
            .tokens
            .iter()
            .map(|t| t.id.as_str())
            .chain(list.untimed.iter().map(|t| t.id.as_str()))
            .collect();
        let undecodable: HashSet<&str> = list
            .skipped
            .iter()
            .filter_map(|s| s.id.as_deref())
            .collect();
        self.facts
            .tokens
            .iter()
            .filter(|p| !listed.contains(p.id.as_str()) && !undecodable.contains(p.id.as_str()))
            .collect()
    }

    /// Publishes a complete token list with its enrichment. Tokens that left it are counted as
    /// removed and remembered for a day, with why ([`removal::reason`]): a revocation or an
    /// owner's deactivation in the System Log, their last known expiry, their owner's status.
    /// A token that Okta still lists but we could not decode this time keeps its last record.
    pub fn apply_success(
        &mut self,
        list: TokenList,
        enrichment: Enrichment,
        now: DateTime<Utc>,
        duration: Duration,
        stats: PollStats,
    ) -> Transition {
        let org = self.facts.name.clone();
        let last_look = self.facts.last_success.unwrap_or(now);
        let mut removed_tokens: Vec<RemovedToken> = self
            .facts
            .removed_tokens
            .iter()
            .filter(|r| r.remembered_at(now))
            .cloned()
            .collect();
        let vanished: Vec<ApiToken> = self.vanished(&list).into_iter().cloned().collect();
        for previous in &vanished {
            let owner = enrichment
                .owners
                .get(&previous.user_id)
                .or_else(|| self.facts.enrichment.owners.get(&previous.user_id));
            let revoked = self.log.revoked_by.get(&previous.id);
            let deactivated = self.log.deactivated.get(&previous.user_id);
            let evidence = Evidence {
                expires_at: Some(previous.expires_at),
                revoked_at: revoked.map(|(_, at)| *at),
                owner_deactivated_at: deactivated.map(|(_, at)| *at),
                owner_status: owner.map(|o| o.status.as_str()),
            };
            let reason = removal::reason(evidence, now);
            let (id, name) = (&previous.id, &previous.name);
            match reason {
                RemovalReason::Revoked => match revoked {
                    Some((actor, at)) => {
                        tracing::info!(org, token_id = %id, token_name = %name, revoked_by = %actor, at = %at, "token revoked")
                    }
                    None => {
                        tracing::info!(org, token_id = %id, token_name = %name, "token gone before its expiry: revoked")
                    }
                },
                RemovalReason::Expired => {
                    tracing::info!(org, token_id = %id, token_name = %name, expired_at = %previous.expires_at, "token expired")
                }
                RemovalReason::OwnerDeactivated => {
                    let by = deactivated.map_or("", |(actor, _)| actor.as_str());
                    tracing::warn!(org, token_id = %id, token_name = %name, user_id = %previous.user_id, deactivated_by = by, "token deleted: its owner was deactivated")
                }
            }
            *self.facts.removed.entry(reason).or_default() += 1;
            let suspicious = self.facts.enrichment.is_suspicious(id, last_look);
            removed_tokens.push(RemovedToken {
                token_id: id.clone(),
                token_name: name.clone(),
                user_id: previous.user_id.clone(),
                owner_login: owner.map(|o| o.login.clone()).unwrap_or_default(),
                reason,
                removed_at: now,
                last_status: crate::model::status::status(
                    last_look,
                    previous.expires_at,
                    previous.last_used(),
                    suspicious,
                ),
            });
        }
        let log = &self.log;
        let late = removal::explain_late(
            &mut removed_tokens,
            |user| log.deactivated.get(user).map(|(_, at)| *at),
            |token| log.revoked_by.contains_key(token),
        );
        if late > 0 {
            tracing::warn!(org, tokens = late, "tokens counted revoked were deleted because their owner was deactivated (the System Log published it late)");
        }
        let mut tokens = list.tokens;
        let mut untimed = list.untimed;
        untimed.sort_unstable_by(|a, b| a.id.cmp(&b.id));
        untimed.dedup_by(|a, b| a.id == b.id);
        let listed: HashSet<String> = tokens
            .iter()
            .map(|t| t.id.clone())
            .chain(untimed.iter().map(|t| t.id.clone()))
            .collect();
        let gone: HashSet<&str> = vanished.iter().map(|t| t.id.as_str()).collect();
        tokens.extend(
            self.facts
                .tokens
                .iter()
                .filter(|p| !listed.contains(&p.id) && !gone.contains(p.id.as_str()))
                .cloned(),
        );
        tokens.sort_unstable_by(|a, b| a.id.cmp(&b.id));
        tokens.dedup_by(|a, b| a.id == b.id);
        // A token listed again (an id Okta reuses never, but a restored state may hold one).
        removed_tokens.retain(|r| !listed.contains(&r.token_id));
        // The System Log reports every user's deactivation; only those of token owners (listed,
        // or removed within the day) can explain anything, so only those are kept.
        let owners: HashSet<&str> = tokens
            .iter()
            .map(|t| t.user_id.as_str())
            .chain(untimed.iter().map(|t| t.user_id.as_str()))
            .chain(removed_tokens.iter().map(|t| t.user_id.as_str()))
            .collect();
        self.log
            .deactivated
            .retain(|user, _| owners.contains(user.as_str()));
        self.facts.removed_tokens = Arc::new(removed_tokens);
        self.facts.untimed_tokens = Arc::new(untimed);
        self.facts.undecodable_tokens += list.skipped.len() as u64;
        crate::keepalive::check_pending(&self.facts.name, &mut self.keepalive, &tokens, now);
        self.facts.tokens = Arc::new(tokens);
        self.facts.enrichment = enrichment;
        let transition = if self.facts.up && self.facts.first_poll_done {
            Transition::Unchanged
        } else {
            Transition::Recovered
        };
        self.facts.up = true;
        self.facts.consecutive_failures = 0;
        self.facts.last_success = Some(now);
        self.facts.last_error = None;
        self.finish(now, duration, stats);
        transition
    }

    /// Records a failed poll; the token set stays as it was.
    pub fn apply_failure(
        &mut self,
        error: PollError,
        now: DateTime<Utc>,
        duration: Duration,
        stats: PollStats,
    ) -> Transition {
        *self.facts.poll_errors.entry(error.reason()).or_default() += 1;
        self.facts.consecutive_failures += 1;
        let same_as_before = !self.facts.up
            && self.facts.first_poll_done
            && self.facts.last_error.as_ref().map(PollError::reason) == Some(error.reason());
        self.facts.up = false;
        self.facts.last_error = Some(error);
        self.finish(now, duration, stats);
        if same_as_before {
            Transition::Unchanged
        } else {
            Transition::Failing
        }
    }

    fn finish(&mut self, now: DateTime<Utc>, duration: Duration, stats: PollStats) {
        self.facts.first_poll_done = true;
        self.facts.last_poll = Some(now);
        self.facts.last_poll_duration = Some(duration);
        self.count_requests(stats);
    }

    /// Counts the answers and keeps the rate limits that requests outside a poll observed
    /// (keep-alive calls).
    pub fn count_requests(&mut self, stats: PollStats) {
        for key in stats.responses {
            *self.facts.responses.entry(key).or_default() += 1;
        }
        self.facts.rate_limits.extend(stats.rate_limits);
        for (endpoint, at) in stats.rate_limited {
            let last = self.facts.rate_limited_at.entry(endpoint).or_insert(at);
            *last = (*last).max(at);
        }
    }
}

/// A System Log memory (an id to who and when) as records, sorted by id.
fn by_id<R>(
    memory: &std::collections::HashMap<String, (String, DateTime<Utc>)>,
    record: impl Fn(&str, &str, DateTime<Utc>) -> R,
) -> Vec<R> {
    let mut ids: Vec<&String> = memory.keys().collect();
    ids.sort();
    ids.into_iter()
        .map(|id| {
            let (actor, at) = &memory[id];
            record(id, actor, *at)
        })
        .collect()
}

mod posture;

#[cfg(test)]
mod tests;
