//! A poller's working state: everything it carries from one poll to the next, and the rules
//! that turn a poll's result into the next [`OrgSnapshot`].
//!
//! Only the poller of an org holds its [`OrgState`], so nothing here is locked. A failed poll
//! never touches the token set: only a poll in which every page arrived replaces it, and it
//! settles the keep-alive calls made after the poll before. The token labels are escaped here,
//! once per poll, so that scrapes only copy them.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::enrich::{Enrichment, LogCursor, Owner, Suspicion};
use crate::keepalive::Tracked;
use crate::okta::client::TokenList;
use crate::okta::model::status_keeps_tokens_usable;
use crate::okta::{PollError, PollStats};
use crate::snapshot::{OrgSnapshot, RemovalReason};
use crate::storage::{
    Counters, OrgRecord, OwnerRecord, RevocationRecord, SuspicionRecord, TokenRecord,
};

/// One org as its poller knows it.
#[derive(Debug, Clone, Default)]
pub struct OrgState {
    /// What the next publication shows.
    pub facts: OrgSnapshot,
    /// The poller's place in the System Log; never published.
    pub log: LogCursor,
    /// The tokens kept alive, with their secrets; only their facts are published.
    pub keepalive: Vec<Tracked>,
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
        OrgState {
            facts: OrgSnapshot::new(name, url),
            log: LogCursor::default(),
            keepalive: Vec::new(),
        }
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
        state.facts.prepare_labels();
        state.log.until = record.system_log_until;
        state.log.revoked_by = record
            .revocations
            .into_iter()
            .map(|r| (r.token_id, (r.actor, r.at)))
            .collect();
        state.facts.removed = BTreeMap::from([
            (
                RemovalReason::Expired,
                record.counters.tokens_removed_expired,
            ),
            (
                RemovalReason::Revoked,
                record.counters.tokens_removed_revoked,
            ),
        ]);
        state
    }

    /// What the state file keeps of this state (nothing secret: Okta never returns a token's
    /// secret, and credentials are not part of the state).
    pub fn to_record(&self, now: DateTime<Utc>) -> OrgRecord {
        let facts = &self.facts;
        let mut record = OrgRecord::new(&facts.name, &facts.url, now);
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
        record.system_log_until = self.log.until;
        let mut revocations: Vec<_> = self
            .log
            .revoked_by
            .iter()
            .map(|(token_id, (actor, at))| RevocationRecord {
                token_id: token_id.clone(),
                actor: actor.clone(),
                at: *at,
            })
            .collect();
        revocations.sort_by(|a, b| a.token_id.cmp(&b.token_id));
        record.revocations = revocations;
        let removed = |reason| facts.removed.get(&reason).copied().unwrap_or(0);
        record.counters = Counters {
            tokens_removed_expired: removed(RemovalReason::Expired),
            tokens_removed_revoked: removed(RemovalReason::Revoked),
        };
        record
    }

    /// The snapshot to publish: a copy of the facts (the token set and owners are shared `Arc`s)
    /// and of what the kept-alive tokens publish.
    pub fn snapshot(&self) -> OrgSnapshot {
        let mut snapshot = self.facts.clone();
        snapshot.keepalive = self.keepalive.iter().map(|t| t.facts.clone()).collect();
        snapshot
    }

    /// Publishes a complete token list with its enrichment. Tokens that left it are counted as
    /// removed (revoked when the System Log says so, else by their last known expiry); a token
    /// that Okta still lists but we could not decode this time keeps its last known record.
    pub fn apply_success(
        &mut self,
        list: TokenList,
        enrichment: Enrichment,
        now: DateTime<Utc>,
        duration: Duration,
        stats: PollStats,
    ) -> Transition {
        let mut tokens = list.tokens;
        let listed: HashSet<&str> = tokens.iter().map(|t| t.id.as_str()).collect();
        let undecodable: HashSet<&str> = list
            .skipped
            .iter()
            .filter_map(|s| s.id.as_deref())
            .collect();
        let mut kept = Vec::new();
        for previous in self
            .facts
            .tokens
            .iter()
            .filter(|p| !listed.contains(p.id.as_str()))
        {
            if undecodable.contains(previous.id.as_str()) {
                kept.push(previous.clone());
            } else {
                let reason = match self.log.revoked_by.get(&previous.id) {
                    Some((actor, at)) => {
                        tracing::info!(org = %self.facts.name, token_id = %previous.id, token_name = %previous.name, revoked_by = %actor, at = %at, "token revoked");
                        RemovalReason::Revoked
                    }
                    None if previous.expires_at <= now => {
                        tracing::info!(org = %self.facts.name, token_id = %previous.id, token_name = %previous.name, expired_at = %previous.expires_at, "token expired");
                        RemovalReason::Expired
                    }
                    None => {
                        tracing::info!(org = %self.facts.name, token_id = %previous.id, token_name = %previous.name, "token gone before its expiry: revoked, or its owner deactivated");
                        RemovalReason::Revoked
                    }
                };
                *self.facts.removed.entry(reason).or_default() += 1;
            }
        }
        tokens.extend(kept);
        tokens.sort_unstable_by(|a, b| a.id.cmp(&b.id));
        tokens.dedup_by(|a, b| a.id == b.id);
        self.facts.undecodable_tokens += list.skipped.len() as u64;
        crate::keepalive::check_pending(&self.facts.name, &mut self.keepalive, &tokens, now);
        self.facts.tokens = Arc::new(tokens);
        self.facts.enrichment = enrichment;
        self.facts.prepare_labels();
        let transition = if self.facts.up && self.facts.first_poll_done {
            Transition::Unchanged
        } else {
            Transition::Recovered
        };
        self.facts.up = true;
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
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::okta::model::SkippedToken;
    use crate::okta::{ApiToken, PollErrorReason, RateLimit};
    use chrono::TimeDelta;

    fn token(id: &str, expires_at: DateTime<Utc>) -> ApiToken {
        ApiToken {
            id: id.into(),
            name: format!("token {id}"),
            user_id: "00u1".into(),
            client_name: "Okta API".into(),
            network_connection: "ANYWHERE".into(),
            window: TimeDelta::days(30),
            created: None,
            expires_at,
        }
    }

    fn list(tokens: Vec<ApiToken>, skipped: Vec<SkippedToken>) -> TokenList {
        TokenList {
            tokens,
            skipped,
            pages: 1,
        }
    }

    impl OrgState {
        fn apply_success_plain(
            &mut self,
            list: TokenList,
            now: DateTime<Utc>,
            duration: Duration,
            stats: PollStats,
        ) -> Transition {
            self.apply_success(list, Enrichment::default(), now, duration, stats)
        }
    }

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-22T12:00:00Z")
            .unwrap()
            .to_utc()
    }

    fn ids(state: &OrgState) -> Vec<&str> {
        state.facts.tokens.iter().map(|t| t.id.as_str()).collect()
    }

    #[test]
    fn a_failed_poll_keeps_the_token_set_whole() {
        let mut state = OrgState::new("acme", "https://acme.okta.com");
        let later = now() + TimeDelta::days(10);
        state.apply_success_plain(
            list(vec![token("00T2", later), token("00T1", later)], vec![]),
            now(),
            Duration::ZERO,
            PollStats::default(),
        );
        assert_eq!(ids(&state), ["00T1", "00T2"], "sorted by id");
        let error = PollError::ServerError {
            status: 503,
            detail: "down".into(),
        };
        state.apply_failure(error, now(), Duration::ZERO, PollStats::default());
        assert_eq!(ids(&state), ["00T1", "00T2"]);
        assert!(!state.facts.up);
        assert_eq!(state.facts.poll_errors[&PollErrorReason::ServerError], 1);
        assert_eq!(state.facts.last_success, Some(now()));
    }

    #[test]
    fn vanished_tokens_are_counted_expired_or_revoked_by_their_last_expiry() {
        let mut state = OrgState::new("acme", "");
        let cases = [
            (
                "00T1",
                now() - TimeDelta::seconds(1),
                RemovalReason::Expired,
            ),
            ("00T2", now(), RemovalReason::Expired),
            (
                "00T3",
                now() + TimeDelta::seconds(1),
                RemovalReason::Revoked,
            ),
        ];
        let known: Vec<_> = cases.iter().map(|(id, exp, _)| token(id, *exp)).collect();
        state.apply_success_plain(
            list(known, vec![]),
            now() - TimeDelta::days(1),
            Duration::ZERO,
            PollStats::default(),
        );
        state.apply_success_plain(
            list(vec![], vec![]),
            now(),
            Duration::ZERO,
            PollStats::default(),
        );
        assert_eq!(state.facts.removed.get(&RemovalReason::Expired), Some(&2));
        assert_eq!(state.facts.removed.get(&RemovalReason::Revoked), Some(&1));
        assert!(state.facts.tokens.is_empty());
    }

    #[test]
    fn a_revocation_in_the_system_log_wins_over_the_expiry_guess() {
        let mut state = OrgState::new("acme", "");
        let past = now() - TimeDelta::seconds(5);
        state.apply_success_plain(
            list(vec![token("00T1", past)], vec![]),
            now() - TimeDelta::days(1),
            Duration::ZERO,
            PollStats::default(),
        );
        let enrichment = Enrichment::default();
        state.log.revoked_by.insert(
            "00T1".into(),
            ("admin@acme.com".into(), now() - TimeDelta::seconds(10)),
        );
        state.apply_success(
            list(vec![], vec![]),
            enrichment,
            now(),
            Duration::ZERO,
            PollStats::default(),
        );
        assert_eq!(state.facts.removed.get(&RemovalReason::Revoked), Some(&1));
        assert_eq!(state.facts.removed.get(&RemovalReason::Expired), None);
    }

    #[test]
    fn a_known_token_that_turns_undecodable_keeps_its_last_record() {
        let mut state = OrgState::new("acme", "");
        let later = now() + TimeDelta::days(10);
        state.apply_success_plain(
            list(vec![token("00T1", later), token("00T2", later)], vec![]),
            now(),
            Duration::ZERO,
            PollStats::default(),
        );
        let skipped = SkippedToken {
            id: Some("00T2".into()),
            reason: "bad tokenWindow".into(),
        };
        state.apply_success_plain(
            list(vec![token("00T1", later)], vec![skipped]),
            now(),
            Duration::ZERO,
            PollStats::default(),
        );
        assert_eq!(ids(&state), ["00T1", "00T2"]);
        assert!(state.facts.removed.is_empty());
        assert_eq!(state.facts.undecodable_tokens, 1);
    }

    #[test]
    fn transitions_are_reported_once() {
        let mut state = OrgState::new("acme", "");
        let fail = |s: &mut OrgState, status| {
            let e = PollError::from_status("/api/v1/api-tokens", status, b"");
            s.apply_failure(e, now(), Duration::ZERO, PollStats::default())
        };
        let ok = |s: &mut OrgState| {
            s.apply_success_plain(
                list(vec![], vec![]),
                now(),
                Duration::ZERO,
                PollStats::default(),
            )
        };
        assert_eq!(fail(&mut state, 503), Transition::Failing);
        assert_eq!(fail(&mut state, 503), Transition::Unchanged);
        assert_eq!(
            fail(&mut state, 401),
            Transition::Failing,
            "another kind of failure"
        );
        assert_eq!(ok(&mut state), Transition::Recovered);
        assert_eq!(ok(&mut state), Transition::Unchanged);
        let mut fresh = OrgState::new("acme", "");
        assert_eq!(
            ok(&mut fresh),
            Transition::Recovered,
            "the first success is worth a line"
        );
    }

    #[test]
    fn stats_accumulate_across_polls() {
        let mut state = OrgState::new("acme", "");
        let limit = RateLimit {
            limit: 600,
            remaining: 598,
            reset: 1,
        };
        let stats = PollStats {
            responses: vec![("/api/v1/api-tokens", 200), ("/api/v1/api-tokens", 200)],
            rate_limits: vec![("/api/v1/api-tokens", limit)],
        };
        state.apply_success_plain(list(vec![], vec![]), now(), Duration::ZERO, stats.clone());
        state.apply_success_plain(list(vec![], vec![]), now(), Duration::ZERO, stats);
        assert_eq!(state.facts.responses[&("/api/v1/api-tokens", 200)], 4);
        assert_eq!(state.facts.rate_limits["/api/v1/api-tokens"], limit);
    }

    /// A state with something in every part the state file keeps.
    fn a_known_state() -> OrgState {
        let mut state = OrgState::new("acme", "https://acme.okta.com");
        let later = now() + TimeDelta::days(10);
        state.apply_success_plain(
            list(vec![token("00T1", later), token("00T2", later)], vec![]),
            now() - TimeDelta::days(1),
            Duration::ZERO,
            PollStats::default(),
        );
        let owner = Owner {
            login: "ci@acme.com".into(),
            status: "ACTIVE".into(),
            usable: Some(true),
            fetched_at: now() - TimeDelta::hours(1),
        };
        let suspicion = Suspicion {
            last: now() - TimeDelta::hours(2),
            count: 3,
        };
        let enrichment = Enrichment {
            owners: Arc::new([("00u1".to_string(), owner)].into()),
            suspicious: Arc::new([("00T1".to_string(), suspicion)].into()),
            ..Enrichment::default()
        };
        state.log.until = Some(now() - TimeDelta::minutes(5));
        state.log.revoked_by.insert(
            "00T9".into(),
            ("admin@acme.com".into(), now() - TimeDelta::days(2)),
        );
        state.apply_success(
            list(vec![token("00T1", later), token("00T2", later)], vec![]),
            enrichment,
            now(),
            Duration::ZERO,
            PollStats::default(),
        );
        state.facts.removed.insert(RemovalReason::Expired, 4);
        state.facts.removed.insert(RemovalReason::Revoked, 2);
        state
    }

    #[test]
    fn a_restored_state_is_the_one_that_was_saved_but_not_up() {
        let saved = a_known_state();
        let record = saved.to_record(now());
        let restored = OrgState::restore(record.clone());
        assert_eq!(restored.to_record(now()), record, "nothing lost on the way");
        assert_eq!(ids(&restored), ["00T1", "00T2"]);
        assert_eq!(restored.facts.token_labels, saved.facts.token_labels);
        assert_eq!(restored.facts.info_labels, saved.facts.info_labels);
        assert_eq!(restored.facts.last_success, Some(now()));
        assert_eq!(restored.facts.enrichment.owners["00u1"].usable, Some(true));
        assert_eq!(restored.facts.removed[&RemovalReason::Expired], 4);
        assert_eq!(restored.log, saved.log);
        assert!(!restored.facts.up, "up only after a poll of this run");
        assert!(!restored.facts.first_poll_done);
    }

    #[test]
    fn the_snapshot_is_what_the_poller_knows() {
        let state = a_known_state();
        let snapshot = state.snapshot();
        assert_eq!(snapshot.name, "acme");
        assert_eq!(snapshot.tokens, state.facts.tokens);
        assert_eq!(snapshot.last_success, Some(now()));
        assert!(snapshot.up);
        assert_eq!(snapshot.enrichment.suspicious["00T1"].count, 3);
    }
}
