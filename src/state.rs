//! What the exporter knows about each org: the last complete token set and the poller's health.
//!
//! The poller writes an [`OrgState`] after each poll; the metrics collector reads a copy at scrape
//! time. A failed poll never touches the token set: only a poll in which every page arrived
//! replaces it. Locks are held only to copy or to apply a poll's result (the token set itself sits
//! behind an `Arc`, so a copy is cheap).

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::enrich::Enrichment;
use crate::okta::client::TokenList;
use crate::okta::{ApiToken, PollError, PollErrorReason, PollStats, RateLimit};

/// Why a known token left the list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RemovalReason {
    /// Its last known expiry has passed: Okta revoked it for lack of use.
    Expired,
    /// It vanished before its expiry: revoked by an admin, or its owner was deactivated.
    Revoked,
}

impl RemovalReason {
    pub const ALL: [RemovalReason; 2] = [Self::Expired, Self::Revoked];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Expired => "expired",
            Self::Revoked => "revoked",
        }
    }
}

/// One org as last seen.
#[derive(Debug, Clone, Default)]
pub struct OrgState {
    pub name: String,
    /// The org's origin, for the landing page.
    pub url: String,
    /// The last complete token set, sorted by id.
    pub tokens: Arc<Vec<ApiToken>>,
    /// Each token's labels in the text format, escaped, in the order of `tokens`: prepared once
    /// per poll so that scrapes only copy them.
    pub token_labels: Arc<Vec<Box<[u8]>>>,
    /// The OAuth 2.0 token requests and access token, when the org uses an app.
    pub oauth: Option<Arc<crate::okta::oauth::OAuthStats>>,
    /// Whether a poll has finished (successfully or not) since start.
    pub first_poll_done: bool,
    /// Whether the last poll succeeded.
    pub up: bool,
    pub last_poll: Option<DateTime<Utc>>,
    pub last_success: Option<DateTime<Utc>>,
    pub last_poll_duration: Option<Duration>,
    /// The last poll's error, when it failed.
    pub last_error: Option<PollError>,
    pub poll_errors: BTreeMap<PollErrorReason, u64>,
    /// Answers received, by endpoint and HTTP status.
    pub responses: BTreeMap<(&'static str, u16), u64>,
    pub rate_limits: BTreeMap<&'static str, RateLimit>,
    pub removed: BTreeMap<RemovalReason, u64>,
    /// Token objects that could not be decoded, over all polls.
    pub undecodable_tokens: u64,
    /// Owners and System Log findings.
    pub enrichment: Enrichment,
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
            name: name.into(),
            url: url.into(),
            ..OrgState::default()
        }
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
            .tokens
            .iter()
            .filter(|p| !listed.contains(p.id.as_str()))
        {
            if undecodable.contains(previous.id.as_str()) {
                kept.push(previous.clone());
            } else {
                let reason = match enrichment.revoked_by.get(&previous.id) {
                    Some((actor, at)) => {
                        tracing::info!(org = %self.name, token_id = %previous.id, token_name = %previous.name, revoked_by = %actor, at = %at, "token revoked");
                        RemovalReason::Revoked
                    }
                    None if previous.expires_at <= now => {
                        tracing::info!(org = %self.name, token_id = %previous.id, token_name = %previous.name, expired_at = %previous.expires_at, "token expired");
                        RemovalReason::Expired
                    }
                    None => {
                        tracing::info!(org = %self.name, token_id = %previous.id, token_name = %previous.name, "token gone before its expiry: revoked, or its owner deactivated");
                        RemovalReason::Revoked
                    }
                };
                *self.removed.entry(reason).or_default() += 1;
            }
        }
        tokens.extend(kept);
        tokens.sort_unstable_by(|a, b| a.id.cmp(&b.id));
        tokens.dedup_by(|a, b| a.id == b.id);
        self.undecodable_tokens += list.skipped.len() as u64;
        self.token_labels = Arc::new(
            tokens
                .iter()
                .map(|t| crate::metrics::token_labels(&self.name, t))
                .collect(),
        );
        self.tokens = Arc::new(tokens);
        self.enrichment = enrichment;
        let transition = if self.up && self.first_poll_done {
            Transition::Unchanged
        } else {
            Transition::Recovered
        };
        self.up = true;
        self.last_success = Some(now);
        self.last_error = None;
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
        *self.poll_errors.entry(error.reason()).or_default() += 1;
        let same_as_before = !self.up
            && self.first_poll_done
            && self.last_error.as_ref().map(PollError::reason) == Some(error.reason());
        self.up = false;
        self.last_error = Some(error);
        self.finish(now, duration, stats);
        if same_as_before {
            Transition::Unchanged
        } else {
            Transition::Failing
        }
    }

    fn finish(&mut self, now: DateTime<Utc>, duration: Duration, stats: PollStats) {
        self.first_poll_done = true;
        self.last_poll = Some(now);
        self.last_poll_duration = Some(duration);
        for key in stats.responses {
            *self.responses.entry(key).or_default() += 1;
        }
        self.rate_limits.extend(stats.rate_limits);
    }
}

/// Every org's state, shared by the pollers (writers) and the HTTP server (reader).
#[derive(Debug, Clone, Default)]
pub struct Store {
    orgs: Arc<Vec<Arc<RwLock<OrgState>>>>,
}

impl Store {
    pub fn new(orgs: impl IntoIterator<Item = OrgState>) -> Store {
        Store {
            orgs: Arc::new(orgs.into_iter().map(|o| Arc::new(RwLock::new(o))).collect()),
        }
    }

    /// The handle a poller writes through.
    pub fn org(&self, index: usize) -> Arc<RwLock<OrgState>> {
        Arc::clone(&self.orgs[index])
    }

    pub fn len(&self) -> usize {
        self.orgs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.orgs.is_empty()
    }

    /// A consistent copy of every org, for one scrape or page.
    pub fn snapshot(&self) -> Vec<OrgState> {
        self.orgs
            .iter()
            .map(|o| o.read().unwrap_or_else(|e| e.into_inner()).clone())
            .collect()
    }

    /// Ready once every org finished its first poll attempt.
    pub fn ready(&self) -> bool {
        self.orgs
            .iter()
            .all(|o| o.read().unwrap_or_else(|e| e.into_inner()).first_poll_done)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::okta::model::SkippedToken;
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
        state.tokens.iter().map(|t| t.id.as_str()).collect()
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
        assert!(!state.up);
        assert_eq!(state.poll_errors[&PollErrorReason::ServerError], 1);
        assert_eq!(state.last_success, Some(now()));
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
        assert_eq!(state.removed.get(&RemovalReason::Expired), Some(&2));
        assert_eq!(state.removed.get(&RemovalReason::Revoked), Some(&1));
        assert!(state.tokens.is_empty());
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
        let mut enrichment = Enrichment::default();
        enrichment.revoked_by.insert(
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
        assert_eq!(state.removed.get(&RemovalReason::Revoked), Some(&1));
        assert_eq!(state.removed.get(&RemovalReason::Expired), None);
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
        assert!(state.removed.is_empty());
        assert_eq!(state.undecodable_tokens, 1);
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
        assert_eq!(state.responses[&("/api/v1/api-tokens", 200)], 4);
        assert_eq!(state.rate_limits["/api/v1/api-tokens"], limit);
    }
}
