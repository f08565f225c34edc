//! The working state's unit tests: what a poll's result does to what the poller knows and publishes.

use super::*;
use crate::model::status::TokenStatus;
use crate::okta::model::SkippedToken;
use crate::okta::{PollErrorReason, RateLimit};
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
        untimed: Vec::new(),
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
fn a_vanished_token_is_remembered_with_why_its_colour_and_its_owner_for_a_day() {
    let mut state = OrgState::new("acme", "");
    let polled = now() - TimeDelta::minutes(5);
    // 00T1 in use (green), its owner deactivated in the log; 00T2 idle and past expiry;
    // 00T3 idle (gray), its owner looked up DEPROVISIONED; 00T4 revoked by an admin.
    let mut in_use = token("00T1", now() + TimeDelta::days(30));
    in_use.user_id = "00uleaver".into();
    let mut idle = token("00T3", now() + TimeDelta::days(20));
    idle.user_id = "00ugone".into();
    state.apply_success_plain(
        list(
            vec![
                in_use,
                token("00T2", now() - TimeDelta::seconds(1)),
                idle,
                token("00T4", now() + TimeDelta::days(20)),
            ],
            vec![],
        ),
        polled,
        Duration::ZERO,
        PollStats::default(),
    );
    state.log.deactivated.insert(
        "00uleaver".into(),
        ("it@acme.com".into(), now() - TimeDelta::minutes(2)),
    );
    state.log.revoked_by.insert(
        "00T4".into(),
        ("it@acme.com".into(), now() - TimeDelta::minutes(1)),
    );
    let owner = Owner {
        login: "gone@acme.com".into(),
        status: "DEPROVISIONED".into(),
        usable: Some(false),
        fetched_at: now(),
    };
    let enrichment = Enrichment {
        owners: Arc::new([("00ugone".to_string(), owner)].into()),
        ..Enrichment::default()
    };
    assert_eq!(
        state.vanished_owners(&list(vec![], vec![])),
        ["00u1", "00ugone", "00uleaver"]
    );
    state.apply_success(
        list(vec![], vec![]),
        enrichment,
        now(),
        Duration::ZERO,
        PollStats::default(),
    );
    let removed: Vec<_> = state
        .facts
        .removed_tokens
        .iter()
        .map(|r| {
            (
                r.token_id.as_str(),
                r.reason,
                r.last_status,
                r.owner_login.as_str(),
                r.removed_at,
            )
        })
        .collect();
    assert_eq!(
        removed,
        [
            (
                "00T1",
                RemovalReason::OwnerDeactivated,
                TokenStatus::Green,
                "",
                now()
            ),
            ("00T2", RemovalReason::Expired, TokenStatus::Red, "", now()),
            (
                "00T3",
                RemovalReason::OwnerDeactivated,
                TokenStatus::Gray,
                "gone@acme.com",
                now()
            ),
            ("00T4", RemovalReason::Revoked, TokenStatus::Gray, "", now()),
        ]
    );
    assert_eq!(state.facts.removed[&RemovalReason::OwnerDeactivated], 2);
    // Deactivations of users who own no token are not kept; the leaver's is, for a day.
    state.log.deactivated.insert(
        "00unobody".into(),
        ("it@acme.com".into(), now() - TimeDelta::minutes(1)),
    );
    state.apply_success_plain(
        list(vec![], vec![]),
        now() + TimeDelta::minutes(5),
        Duration::ZERO,
        PollStats::default(),
    );
    assert!(state.log.deactivated.contains_key("00uleaver"));
    assert!(!state.log.deactivated.contains_key("00unobody"));
    // A day later, the next poll forgets them; the counters stay.
    state.apply_success_plain(
        list(vec![], vec![]),
        now() + TimeDelta::hours(24) + TimeDelta::seconds(1),
        Duration::ZERO,
        PollStats::default(),
    );
    assert!(state.facts.removed_tokens.is_empty());
    assert_eq!(state.facts.removed[&RemovalReason::Expired], 1);
}

#[test]
fn failures_in_a_row_are_counted_until_a_success() {
    let mut state = OrgState::new("acme", "");
    let fail = |s: &mut OrgState| {
        let e = PollError::from_status("/api/v1/api-tokens", 503, b"");
        s.apply_failure(e, now(), Duration::ZERO, PollStats::default());
        s.facts.consecutive_failures
    };
    assert_eq!(state.facts.consecutive_failures, 0);
    assert_eq!(fail(&mut state), 1);
    assert_eq!(fail(&mut state), 2);
    state.apply_success_plain(
        list(vec![], vec![]),
        now(),
        Duration::ZERO,
        PollStats::default(),
    );
    assert_eq!(state.facts.consecutive_failures, 0);
    assert_eq!(fail(&mut state), 1);
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
        rate_limited: vec![("/api/v1/api-tokens", now())],
    };
    state.apply_success_plain(list(vec![], vec![]), now(), Duration::ZERO, stats.clone());
    state.apply_success_plain(list(vec![], vec![]), now(), Duration::ZERO, stats);
    assert_eq!(state.facts.responses[&("/api/v1/api-tokens", 200)], 4);
    assert_eq!(state.facts.rate_limits["/api/v1/api-tokens"], limit);
    assert_eq!(state.facts.rate_limited_at["/api/v1/api-tokens"], now());
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
    state.log.next = Some("https://acme.okta.com/api/v1/logs?after=abc".into());
    state.log.revoked_by.insert(
        "00T9".into(),
        ("admin@acme.com".into(), now() - TimeDelta::days(2)),
    );
    state.log.deactivated.insert(
        "00u7".into(),
        ("admin@acme.com".into(), now() - TimeDelta::days(1)),
    );
    state
        .facts
        .rate_limited_at
        .insert(USER, now() - TimeDelta::minutes(3));
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
        .facts
        .removed
        .insert(RemovalReason::OwnerDeactivated, 1);
    state.facts.removed_tokens = Arc::new(vec![RemovedToken {
        token_id: "00T8".into(),
        token_name: "gone".into(),
        user_id: "00u7".into(),
        owner_login: "leaver@acme.com".into(),
        reason: RemovalReason::OwnerDeactivated,
        removed_at: now() - TimeDelta::hours(3),
        last_status: TokenStatus::Green,
    }]);
    state
}

#[test]
fn a_restored_state_is_the_one_that_was_saved_but_not_up() {
    let saved = a_known_state();
    let record = saved.to_record(now());
    let restored = OrgState::restore(record.clone());
    assert_eq!(restored.to_record(now()), record, "nothing lost on the way");
    assert_eq!(ids(&restored), ["00T1", "00T2"]);
    assert_eq!(restored.facts.last_success, Some(now()));
    assert_eq!(restored.facts.enrichment.owners["00u1"].usable, Some(true));
    assert_eq!(restored.facts.removed[&RemovalReason::Expired], 4);
    assert_eq!(restored.facts.removed[&RemovalReason::OwnerDeactivated], 1);
    assert_eq!(restored.facts.removed_tokens, saved.facts.removed_tokens);
    assert_eq!(restored.facts.rate_limited_at, saved.facts.rate_limited_at);
    assert_eq!(restored.facts.consecutive_failures, 0);
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
