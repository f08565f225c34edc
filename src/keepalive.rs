//! Keeping chosen tokens alive: the opt-in `keepalive:` list of an org.
//!
//! Okta revokes a token nobody used for its whole window; any authenticated call slides its
//! expiry a window forward. For each listed token that comes within `when_expires_within` of its
//! expiry, the poller makes one read-only call with the token's own secret (`GET
//! /api/v1/users/me`) after a successful poll, and the next poll checks that Okta moved the expiry.
//!
//! The rules are pure functions of what the last poll listed: [`next_step`] decides whether a
//! token is due, [`check`] reads the effect of a call. A refusal or an expiry that did not move
//! is said once, with the token id, and the token is not tried again for [`RETRY_AFTER_FAILURE`]:
//! never a retry loop. [`keep_alive`] makes the calls; each secret is sent only to its org and
//! appears in no log line, metric, page or error.

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use chrono::{DateTime, TimeDelta, Utc};

use crate::enrich::{lookups_allowed, Owner};
pub use crate::model::kept_alive::{KeepAliveResult, KeptAlive};
use crate::okta::client::USER_ME;
use crate::okta::{ApiToken, OktaClient, PollError, PollStats, RateLimit};
use crate::secret::Secret;

/// How long a token whose call was refused, or whose expiry did not move, is left alone.
pub const RETRY_AFTER_FAILURE: TimeDelta = TimeDelta::hours(24);

/// A call Okta accepted, whose effect the next poll checks.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Pending {
    /// The expiry Okta listed before the call.
    expires_before: DateTime<Utc>,
    called_at: DateTime<Utc>,
}

/// A token the exporter keeps alive: when its expiry comes within `when_expires_within`, the
/// exporter makes one read-only call with the token's own secret, which slides its expiry.
#[derive(Debug, Clone)]
pub struct KeepAliveToken {
    /// The token's id as Okta lists it (`00T…`).
    pub token_id: String,
    /// The token itself; its `Debug` shows no secret.
    pub secret: Secret,
    pub when_expires_within: Duration,
    /// Where the secret comes from, for messages: the file's path or the variable's name.
    pub source: String,
}

/// The poller's memory of one kept-alive token: its secret, what it publishes, and what it waits
/// for. Never published whole.
#[derive(Debug, Clone)]
pub struct Tracked {
    pub token: KeepAliveToken,
    pub facts: KeptAlive,
    pending: Option<Pending>,
    /// No call before this instant: set after a refusal or an expiry that did not move.
    retry_at: Option<DateTime<Utc>>,
    /// What was last said about the token, so that a state is logged when it starts.
    said: Option<Step>,
}

impl Tracked {
    pub fn new(token: KeepAliveToken) -> Tracked {
        let facts = KeptAlive {
            token_id: token.token_id.clone(),
            when_expires_within: token.when_expires_within,
            results: [0; 5],
            last_refreshed: None,
            last_result: None,
        };
        Tracked {
            token,
            facts,
            pending: None,
            retry_at: None,
            said: None,
        }
    }

    fn count(&mut self, result: KeepAliveResult) {
        self.facts.results[result as usize] += 1;
        self.facts.last_result = Some(result);
    }

    /// Whether a state is new since it was last said, remembering it.
    fn first_time(&mut self, step: Step) -> bool {
        self.said.replace(step) != Some(step)
    }
}

/// The tracked tokens of an org's `keepalive:` list.
pub fn track(tokens: &[KeepAliveToken]) -> Vec<Tracked> {
    tokens.iter().cloned().map(Tracked::new).collect()
}

/// What to do about a kept-alive token after a poll.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Make the call.
    Call,
    /// Its expiry is further away than `when_expires_within`.
    NotDue,
    /// Okta does not list it: revoked, expired, or a wrong id.
    NotListed,
    /// Due, but its owner is suspended or deactivated.
    OwnerInactive,
    /// Due, but a recent failure holds it back until this instant.
    Waiting,
    /// A call was accepted and the poll that shows its effect has not come yet.
    Checking,
}

/// Whether `tracked` is due for a call at `now`, given the token as the last poll listed it and
/// whether its owner's status keeps tokens usable (`None`: unknown).
pub fn next_step(
    tracked: &Tracked,
    listed: Option<&ApiToken>,
    owner_usable: Option<bool>,
    now: DateTime<Utc>,
) -> Step {
    let Some(token) = listed else {
        return Step::NotListed;
    };
    if tracked.pending.is_some() {
        return Step::Checking;
    }
    let within = TimeDelta::from_std(tracked.token.when_expires_within).unwrap_or(TimeDelta::MAX);
    if token.expires_at - now > within {
        return Step::NotDue;
    }
    if owner_usable == Some(false) {
        return Step::OwnerInactive;
    }
    if tracked.retry_at.is_some_and(|at| now < at) {
        return Step::Waiting;
    }
    Step::Call
}

/// The effect of an accepted call, from the expiry the next poll lists: refreshed when it moved
/// later than before the call.
pub fn check(expires_before: DateTime<Utc>, expires_now: DateTime<Utc>) -> KeepAliveResult {
    if expires_now > expires_before {
        KeepAliveResult::Refreshed
    } else {
        KeepAliveResult::NotRefreshed
    }
}

/// Reads the effect of the calls made after the previous poll from the tokens this poll listed
/// (sorted by id), and logs what it found.
pub fn check_pending(org: &str, tracked: &mut [Tracked], tokens: &[ApiToken], now: DateTime<Utc>) {
    for t in tracked.iter_mut() {
        let Some(pending) = t.pending.take() else {
            continue;
        };
        // A token that left the list is reported by the next step, once.
        let Some(token) = find(tokens, &t.token.token_id) else {
            continue;
        };
        let result = check(pending.expires_before, token.expires_at);
        t.count(result);
        let token_id = t.token.token_id.as_str();
        if result == KeepAliveResult::Refreshed {
            t.facts.last_refreshed = Some(pending.called_at);
            t.retry_at = None;
            t.said = None;
            tracing::info!(org, token_id, expires_at = %token.expires_at, "kept the token alive: Okta moved its expiry");
        } else {
            t.retry_at = Some(now + RETRY_AFTER_FAILURE);
            tracing::warn!(org, token_id, source = %t.token.source, expires_at = %token.expires_at, "Okta accepted the keep-alive call but the expiry of the token did not move: the secret in source belongs to another token; put the secret of this token there; trying again in 24 hours");
        }
    }
}

/// The listed token with this id, from tokens sorted by id.
fn find<'a>(tokens: &'a [ApiToken], id: &str) -> Option<&'a ApiToken> {
    tokens
        .binary_search_by(|t| t.id.as_str().cmp(id))
        .ok()
        .map(|i| &tokens[i])
}

/// How much of the keep-alive endpoint's rate limit the calls may use.
#[derive(Debug, Clone, Copy)]
pub struct RateShare {
    /// The endpoint's last known limit; `None` before its first answer.
    pub last_limit: Option<RateLimit>,
    /// The share of what remains of the window (the org's `enrich.rate_limit_share`).
    pub share: f64,
}

/// After a successful poll: one call with each due token's own secret, within the rate-limit
/// share. Returns what the calls observed, for the org's request and rate-limit metrics.
pub async fn keep_alive(
    client: &OktaClient,
    org: &str,
    tracked: &mut [Tracked],
    tokens: &[ApiToken],
    owners: &HashMap<String, Owner>,
    rate: RateShare,
    now: DateTime<Utc>,
) -> PollStats {
    let mut stats = PollStats::default();
    let share = rate.share;
    let mut budget = lookups_allowed(rate.last_limit, share, SystemTime::now());
    for t in tracked.iter_mut() {
        let listed = find(tokens, &t.token.token_id);
        let owner = listed.and_then(|token| owners.get(&token.user_id));
        let step = next_step(t, listed, owner.and_then(|o| o.usable), now);
        let token_id = t.token.token_id.clone();
        let token_id = token_id.as_str();
        match (step, listed) {
            (Step::NotDue | Step::Checking, _) => {}
            (Step::Waiting, _) => {
                tracing::debug!(org, token_id, "keep-alive held back after a failure")
            }
            (Step::NotListed, _) | (Step::Call, None) => {
                if t.first_time(step) {
                    tracing::warn!(org, token_id, "Okta does not list this token of the keepalive list: it is revoked or expired, or the token_id is wrong; nothing to keep alive");
                }
            }
            (Step::OwnerInactive, _) => {
                t.count(KeepAliveResult::SkippedOwnerInactive);
                if t.first_time(step) {
                    let status = owner.map_or("", |o| o.status.as_str());
                    tracing::warn!(org, token_id, owner_status = status, "not keeping the token alive: its owner is suspended or deactivated, so Okta would refuse it");
                }
            }
            (Step::Call, Some(_)) if budget == Some(0) => {
                tracing::debug!(org, token_id, endpoint = USER_ME, "keep-alive postponed to the next poll: the rate-limit share of the endpoint is used up");
            }
            (Step::Call, Some(token)) => {
                let mut call = PollStats::default();
                let answer = client.use_token(&t.token.secret, &mut call).await;
                // The share is set once per poll, from the first limit known, and each call
                // spends one of it (as the owner lookups do).
                let limit = call.rate_limits.iter().find(|(e, _)| *e == USER_ME);
                budget = match (budget, limit) {
                    (Some(n), _) => Some(n.saturating_sub(1)),
                    (None, Some((_, limit))) => {
                        lookups_allowed(Some(*limit), share, SystemTime::now())
                    }
                    (None, None) => None,
                };
                stats.merge(call);
                record_call(org, t, answer, token, now);
            }
        }
    }
    stats
}

/// Applies the answer to a call with `listed`'s secret to the token's memory, and logs a failure.
fn record_call(
    org: &str,
    t: &mut Tracked,
    answer: Result<crate::okta::model::User, PollError>,
    listed: &ApiToken,
    now: DateTime<Utc>,
) {
    let owner_id = listed.user_id.as_str();
    let token_id = t.token.token_id.clone();
    let token_id = token_id.as_str();
    let source = t.token.source.clone();
    match answer {
        Ok(user) if user.id == owner_id => {
            tracing::debug!(
                org,
                token_id,
                "used the token to keep it alive; the next poll checks its expiry"
            );
            t.pending = Some(Pending {
                expires_before: listed.expires_at,
                called_at: now,
            });
            t.said = None;
        }
        Ok(user) => {
            t.count(KeepAliveResult::NotRefreshed);
            t.retry_at = Some(now + RETRY_AFTER_FAILURE);
            tracing::warn!(org, token_id, %source, answered_for = %user.id, owner = owner_id, "Okta answered the keep-alive call for another user: the secret in source belongs to a token of answered_for, not to this token; put the secret of this token there; trying again in 24 hours");
        }
        Err(PollError::Unauthorized { .. }) => {
            t.count(KeepAliveResult::Rejected);
            t.retry_at = Some(now + RETRY_AFTER_FAILURE);
            tracing::warn!(org, token_id, %source, "Okta refused the secret in source (401): the token is revoked or expired, its owner is suspended, or the secret is wrong; trying again in 24 hours");
        }
        Err(PollError::Forbidden { .. }) => {
            // Trying at every poll would add a System Log event (and a yellow token) each time.
            t.count(KeepAliveResult::Rejected);
            t.retry_at = Some(now + RETRY_AFTER_FAILURE);
            tracing::warn!(org, token_id, %source, "Okta refused the call with the token (403): a token restricted to network zones must be used from inside them; trying again in 24 hours");
        }
        Err(error) => {
            t.count(KeepAliveResult::Error);
            if t.first_time(Step::Call) {
                tracing::warn!(org, token_id, %error, "the keep-alive call failed; trying again after the next poll");
            } else {
                tracing::debug!(org, token_id, %error, "the keep-alive call failed again");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::Secret;

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-12-03T12:00:00Z")
            .unwrap()
            .to_utc()
    }

    fn tracked(within_days: i64) -> Tracked {
        Tracked::new(KeepAliveToken {
            token_id: "00T1".into(),
            secret: Secret::new("s"),
            when_expires_within: Duration::from_secs(within_days as u64 * 86_400),
            source: "/etc/t".into(),
        })
    }

    fn token(expires_in: TimeDelta) -> ApiToken {
        ApiToken {
            id: "00T1".into(),
            name: "break-glass".into(),
            user_id: "00u1".into(),
            client_name: "Okta API".into(),
            network_connection: "ANYWHERE".into(),
            window: TimeDelta::days(30),
            created: None,
            expires_at: now() + expires_in,
        }
    }

    #[test]
    fn a_token_is_due_from_its_threshold_on_unless_something_holds_it_back() {
        let day = TimeDelta::days(1);
        let second = TimeDelta::seconds(1);
        let waiting = {
            let mut t = tracked(10);
            t.retry_at = Some(now() + TimeDelta::hours(1));
            t
        };
        let waited = {
            let mut t = tracked(10);
            t.retry_at = Some(now());
            t
        };
        let checking = {
            let mut t = tracked(10);
            t.pending = Some(Pending {
                expires_before: now(),
                called_at: now(),
            });
            t
        };
        // (case, tracked, listed expiry, owner usable, step)
        let cases = [
            (
                "far away",
                tracked(10),
                Some(day * 10 + second),
                Some(true),
                Step::NotDue,
            ),
            (
                "at the threshold",
                tracked(10),
                Some(day * 10),
                Some(true),
                Step::Call,
            ),
            ("inside", tracked(10), Some(day * 2), None, Step::Call),
            (
                "past, still listed",
                tracked(10),
                Some(-second),
                Some(true),
                Step::Call,
            ),
            ("not listed", tracked(10), None, Some(true), Step::NotListed),
            (
                "owner suspended",
                tracked(10),
                Some(day),
                Some(false),
                Step::OwnerInactive,
            ),
            (
                "owner suspended, not due",
                tracked(10),
                Some(day * 20),
                Some(false),
                Step::NotDue,
            ),
            (
                "after a failure",
                waiting,
                Some(day),
                Some(true),
                Step::Waiting,
            ),
            (
                "failure waited out",
                waited,
                Some(day),
                Some(true),
                Step::Call,
            ),
            ("call made", checking, Some(day), Some(true), Step::Checking),
        ];
        for (case, t, expires_in, usable, want) in cases {
            let listed = expires_in.map(token);
            assert_eq!(
                next_step(&t, listed.as_ref(), usable, now()),
                want,
                "{case}"
            );
        }
    }

    #[test]
    fn a_state_is_said_when_it_starts_not_while_it_lasts() {
        let mut t = tracked(10);
        let said: Vec<bool> = [
            Step::NotListed,
            Step::NotListed,
            Step::OwnerInactive,
            Step::OwnerInactive,
            Step::NotListed,
        ]
        .map(|step| t.first_time(step))
        .into();
        assert_eq!(said, [true, false, true, false, true]);
        let listed = track(&[t.token.clone()]);
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].facts.token_id, "00T1");
        assert_eq!(listed[0].said, None, "a fresh start says everything again");
    }

    #[test]
    fn a_call_refreshed_the_token_only_when_its_expiry_moved_later() {
        let before = now();
        let cases = [
            (before + TimeDelta::days(30), KeepAliveResult::Refreshed),
            (
                before + TimeDelta::milliseconds(1),
                KeepAliveResult::Refreshed,
            ),
            (before, KeepAliveResult::NotRefreshed),
            (
                before - TimeDelta::seconds(1),
                KeepAliveResult::NotRefreshed,
            ),
        ];
        for (after, want) in cases {
            assert_eq!(check(before, after), want, "{after}");
        }
    }

    #[test]
    fn the_next_poll_settles_a_call_and_a_failure_holds_the_token_back_a_day() {
        let mut all = vec![tracked(10)];
        let t = &mut all[0];
        record_call(
            "acme",
            t,
            Ok(user("00u1")),
            &token(TimeDelta::zero()),
            now(),
        );
        assert_eq!(t.facts.results, [0; 5], "nothing counted before the check");
        check_pending("acme", &mut all, &[token(TimeDelta::days(30))], now());
        let t = &all[0];
        let counts = KeepAliveResult::ALL.map(|r| t.facts.count(r));
        assert_eq!(counts, [1, 0, 0, 0, 0], "refreshed, and nothing else");
        assert_eq!(t.facts.last_refreshed, Some(now()));
        assert_eq!(t.retry_at, None);

        let mut all = vec![tracked(10)];
        record_call(
            "acme",
            &mut all[0],
            Ok(user("00u1")),
            &token(TimeDelta::days(3)),
            now(),
        );
        check_pending("acme", &mut all, &[token(TimeDelta::days(3))], now());
        assert_eq!(all[0].facts.count(KeepAliveResult::NotRefreshed), 1);
        assert_eq!(all[0].facts.last_refreshed, None);
        assert_eq!(all[0].retry_at, Some(now() + RETRY_AFTER_FAILURE));

        let mut other = tracked(10);
        record_call(
            "acme",
            &mut other,
            Ok(user("00u2")),
            &token(TimeDelta::zero()),
            now(),
        );
        assert_eq!(
            other.facts.count(KeepAliveResult::NotRefreshed),
            1,
            "another user's token"
        );
        assert!(other.pending.is_none());
        assert_eq!(other.retry_at, Some(now() + RETRY_AFTER_FAILURE));

        let mut refused = tracked(10);
        let unauthorized = PollError::Unauthorized {
            detail: "E0000011".into(),
        };
        record_call(
            "acme",
            &mut refused,
            Err(unauthorized),
            &token(TimeDelta::zero()),
            now(),
        );
        assert_eq!(refused.facts.count(KeepAliveResult::Rejected), 1);
        assert_eq!(refused.retry_at, Some(now() + RETRY_AFTER_FAILURE));

        let mut outside = tracked(10);
        let forbidden = PollError::Forbidden {
            endpoint: USER_ME,
            detail: "E0000006".into(),
        };
        record_call(
            "acme",
            &mut outside,
            Err(forbidden),
            &token(TimeDelta::zero()),
            now(),
        );
        assert_eq!(outside.facts.count(KeepAliveResult::Rejected), 1);
        assert_eq!(
            outside.retry_at,
            Some(now() + RETRY_AFTER_FAILURE),
            "not at every poll: each refused call is a System Log event"
        );

        let mut failed = tracked(10);
        let down = PollError::ServerError {
            status: 503,
            detail: "down".into(),
        };
        record_call(
            "acme",
            &mut failed,
            Err(down),
            &token(TimeDelta::zero()),
            now(),
        );
        assert_eq!(failed.facts.count(KeepAliveResult::Error), 1);
        assert_eq!(
            failed.retry_at, None,
            "a transient error is tried at the next poll"
        );
    }

    /// Against the simulated org: calls stop once what remains of the endpoint's window, times
    /// the share, is used up; the answers' rate-limit headers keep the count.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn calls_keep_within_the_rate_limit_share_of_the_endpoint() {
        use okta_simulator::{SimEndpoint, Simulator};
        let real_now = Utc::now();
        let ids: Vec<String> = (1..=5).map(|i| format!("00Tkept{i:013}")).collect();
        let listed: Vec<ApiToken> = ids
            .iter()
            .map(|id| ApiToken {
                id: id.clone(),
                expires_at: real_now + TimeDelta::days(2),
                ..token(TimeDelta::zero())
            })
            .collect();
        let sim_tokens = listed
            .iter()
            .map(|t| okta_simulator::SimToken {
                id: t.id.clone(),
                name: t.name.clone(),
                user_id: t.user_id.clone(),
                client_name: t.client_name.clone(),
                token_window: "P30D".into(),
                network_connection: None,
                created: real_now - TimeDelta::days(60),
                expires_at: t.expires_at,
                use_every: None,
            })
            .collect();
        let sim = Simulator::start("admin", sim_tokens).await.unwrap();
        // Four calls a minute: after each call, half of what remains may be used.
        sim.set_endpoint_rate_limit(SimEndpoint::Users, 4);
        let mut tracked: Vec<Tracked> = ids
            .iter()
            .map(|id| {
                sim.set_token_secret(id, &format!("secret-{id}"));
                Tracked::new(KeepAliveToken {
                    token_id: id.clone(),
                    secret: Secret::new(format!("secret-{id}")),
                    when_expires_within: Duration::from_secs(10 * 86_400),
                    source: "test".into(),
                })
            })
            .collect();
        let client = OktaClient::new(
            sim.url().parse().unwrap(),
            Secret::new("admin"),
            crate::okta::settings::HttpSettings::default(),
        )
        .unwrap();
        let called = |tracked: &[Tracked]| tracked.iter().filter(|t| t.pending.is_some()).count();
        let owners = HashMap::new();

        let unknown = RateShare {
            last_limit: None,
            share: 0.5,
        };
        let stats = keep_alive(
            &client,
            "acme",
            &mut tracked,
            &listed,
            &owners,
            unknown,
            real_now,
        )
        .await;
        // Unknown at first: one call, which says 3 remain; half of them (1) may still be used.
        assert_eq!(called(&tracked), 2, "{:?}", stats.responses);
        assert_eq!(stats.responses, [(USER_ME, 200); 2]);
        assert!(
            tracked.iter().all(|t| t.facts.results == [0; 5]),
            "postponed, not failed"
        );

        let mut fresh: Vec<Tracked> = tracked
            .iter()
            .map(|t| Tracked::new(t.token.clone()))
            .collect();
        let spent = RateShare {
            last_limit: Some(RateLimit {
                limit: 4,
                remaining: 1,
                reset: u64::MAX, // a broken header: believed as the far future,
            }),
            share: 0.5,
        };
        keep_alive(
            &client, "acme", &mut fresh, &listed, &owners, spent, real_now,
        )
        .await;
        assert_eq!(called(&fresh), 0, "the last known window has no share left");
    }

    fn user(id: &str) -> crate::okta::model::User {
        crate::okta::model::User {
            id: id.into(),
            status: "ACTIVE".into(),
            login: "svc@acme.example".into(),
        }
    }
}
