//! Token owners' admin roles (`GET /api/v1/users/{id}/roles`), for the posture of their tokens.
//!
//! Looked up with the owners (not while owner lookups are off), once per poll for the owners of
//! listed tokens, after the poll's tokens are published: no roles call ever delays or breaks the
//! expiry metrics. The lookups share the poll's budget with the owner lookups: what those left
//! of `rate_limit_share` of the users endpoint's window (Okta does not publish which bucket the
//! roles endpoint falls in, so it is assumed to be the same), and of the roles endpoint's own
//! window once its limit is known.
//! Owners never looked up go first, then the stalest; what is not reached this poll keeps its
//! last known roles. A failure other than 403 or 404, a 429, or [`DEADLINE`] ends the lookups
//! for this poll: the next poll goes on.
//!
//! A 403 for one owner (the credential's admin role does not reach that user) marks that
//! owner's roles forbidden: the posture of their tokens reads "unknown", never "none", with one
//! warning when the org starts having such owners. When no owner's roles can be read at all
//! (the credential lacks `okta.roles.read`, or any admin role that allows it), the lookups turn
//! off for the org with one warning, as the owner lookups do.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use chrono::Utc;
use tokio::task::JoinSet;

use super::lookups_allowed;
use crate::model::enrichment::{Enrichment, Off};
use crate::model::roles::OwnerRoles;
use crate::okta::client::{ROLES, USER};
use crate::okta::{OktaClient, PollError, PollErrorReason, PollStats, RateLimit};

/// Roles lookups in flight at once.
const CONCURRENT_LOOKUPS: usize = 4;
/// The roles lookups of one poll stop after this long.
pub const DEADLINE: Duration = Duration::from_secs(30);
/// Forbidden answers, with none readable, that turn the lookups off for the org.
const FORBIDDEN_TO_TURN_OFF: usize = 3;

/// The budget of one poll's roles lookups: what the poll's owner lookups left of theirs.
#[derive(Debug, Clone)]
pub struct Budget<'a> {
    /// The rate limits known when the poll started, by endpoint.
    pub at_start: &'a BTreeMap<&'static str, RateLimit>,
    /// The rate limits known after the owner lookups (the lowest `remaining` of each window).
    pub after_owners: &'a BTreeMap<&'static str, RateLimit>,
    /// [`super::EnrichSettings::rate_limit_share`].
    pub share: f64,
    /// Requests the poll's owner lookups sent to the users endpoint.
    pub already_sent: u64,
}

impl Budget<'_> {
    /// Roles lookups still allowed after `sent` of them, given what they `observed`; `None`
    /// while no limit is known (one lookup probes).
    fn allowed(&self, observed: &PollStats, sent: u64) -> Option<u64> {
        let now = SystemTime::now();
        // The owner lookups' budget, as they computed it: their share of the users window at
        // the poll's start, or (unknown then) one probe and the share of what it left.
        let users = match (self.at_start.get(USER), self.after_owners.get(USER)) {
            (Some(start), _) => lookups_allowed(Some(*start), self.share, now),
            (None, Some(after)) if self.already_sent > 0 => {
                let probed = RateLimit {
                    remaining: (after.remaining + self.already_sent).saturating_sub(1),
                    ..*after
                };
                lookups_allowed(Some(probed), self.share, now).map(|n| n + 1)
            }
            _ => None,
        }
        // Okta does not say whether roles count against the users window: assume they do.
        .map(|n| n.saturating_sub(self.already_sent + sent));
        let roles = match self.at_start.get(ROLES) {
            Some(start) => {
                lookups_allowed(Some(*start), self.share, now).map(|n| n.saturating_sub(sent))
            }
            // Observed by this refresh's own lookups: their remaining already counts them.
            None => observed
                .rate_limits
                .iter()
                .find(|(e, _)| *e == ROLES)
                .and_then(|(_, l)| lookups_allowed(Some(*l), self.share, now)),
        };
        match (users, roles) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

/// What one refresh found: applied by the poller's state.
#[derive(Debug, Clone, PartialEq)]
pub struct RolesUpdate {
    pub roles: Arc<HashMap<String, OwnerRoles>>,
    pub off: Option<Off>,
    /// Lookups that failed this time (not counting 403 and 404).
    pub errors: u64,
}

/// Refreshes the roles of `owners` (user ids; empty ones are skipped) on `budget`. Never fails:
/// what cannot be read keeps its last known value.
pub async fn refresh(
    client: &Arc<OktaClient>,
    org: &str,
    owners: &[String],
    enrichment: &Enrichment,
    budget: Budget<'_>,
    stats: &mut PollStats,
) -> RolesUpdate {
    let wanted: HashSet<&str> = owners
        .iter()
        .map(String::as_str)
        .filter(|id| !id.is_empty())
        .collect();
    let mut roles: HashMap<String, OwnerRoles> = (*enrichment.roles).clone();
    roles.retain(|id, _| wanted.contains(id.as_str()));
    let mut update = RolesUpdate {
        roles: Arc::default(),
        off: enrichment.roles_off,
        errors: 0,
    };
    if update.off.is_some() {
        update.roles = Arc::new(roles);
        return update;
    }
    let forbidden_before = !forbidden(&roles).is_empty();
    // Never looked up first, then the stalest.
    let mut queue: Vec<&str> = wanted.into_iter().collect();
    queue.sort_by_key(|id| (roles.get(*id).map(OwnerRoles::fetched_at), *id));

    let started = Instant::now();
    let mut observed = PollStats::default();
    let mut sent = 0u64;
    let (mut read, mut refused) = (0usize, 0usize);
    let mut queue = queue.into_iter().peekable();
    while queue.peek().is_some() {
        if started.elapsed() >= DEADLINE {
            tracing::debug!(org, "the roles lookups stop for this poll: they took {DEADLINE:?}; the next poll goes on");
            break;
        }
        let batch_size = match budget.allowed(&observed, sent) {
            None => 1,
            Some(0) => {
                tracing::debug!(
                    org,
                    "the roles lookups stop for this poll: their rate-limit budget is used up"
                );
                break;
            }
            Some(n) => n.min(CONCURRENT_LOOKUPS as u64) as usize,
        };
        let mut batch = JoinSet::new();
        for id in queue.by_ref().take(batch_size) {
            let (client, id) = (Arc::clone(client), id.to_owned());
            batch.spawn(async move {
                let mut stats = PollStats::default();
                let result = client.list_user_roles(&id, &mut stats).await;
                (id, result, stats)
            });
        }
        let mut stop = false;
        while let Some(joined) = batch.join_next().await {
            let Ok((id, result, lookup_stats)) = joined else {
                continue;
            };
            sent += (lookup_stats.responses.len() as u64).max(1);
            observed.merge(lookup_stats.clone());
            stats.merge(lookup_stats);
            let now = Utc::now();
            match result {
                Ok(list) => {
                    read += 1;
                    roles.insert(
                        id,
                        OwnerRoles::Known {
                            roles: list,
                            fetched_at: now,
                        },
                    );
                }
                Err(error) if error.reason() == PollErrorReason::Forbidden => {
                    refused += 1;
                    tracing::debug!(org, user_id = %id, error = %error, "may not read this owner's admin roles");
                    roles.insert(id, OwnerRoles::Forbidden { fetched_at: now });
                }
                Err(PollError::ClientError { status: 404, .. }) => {
                    roles.remove(&id);
                }
                Err(error) => {
                    update.errors += 1;
                    tracing::debug!(org, user_id = %id, error = %error, "roles lookup failed; keeping the last known roles, and stopping for this poll");
                    stop = true;
                }
            }
        }
        if stop {
            break;
        }
    }
    let none_readable = read == 0
        && !roles
            .values()
            .any(|r| matches!(r, OwnerRoles::Known { .. }));
    if none_readable && refused >= FORBIDDEN_TO_TURN_OFF.min(owners_count(owners)) && refused > 0 {
        tracing::warn!(org, "owner admin-role lookups are off for this org: the credential may not read admin roles (SSWS: its owner's admin role; OAuth: okta.roles.read and an admin role granted to the app); token posture reads unknown, token metrics are unaffected");
        update.off = Some(Off::Forbidden);
        roles.clear();
    } else {
        let forbidden_after = forbidden(&roles);
        if !forbidden_before && !forbidden_after.is_empty() {
            tracing::warn!(org, owners = forbidden_after.len(), first_user_id = %forbidden_after[0], "cannot read the admin roles of some token owners (403): the credential's admin role does not reach them; their tokens' posture reads unknown (said once until they are readable again)");
        } else if forbidden_before && forbidden_after.is_empty() {
            tracing::info!(
                org,
                "the admin roles of every token owner can be read again"
            );
        }
    }
    update.roles = Arc::new(roles);
    update
}

/// The owners whose roles Okta refused, sorted.
fn forbidden(roles: &HashMap<String, OwnerRoles>) -> Vec<&str> {
    let mut ids: Vec<&str> = roles
        .iter()
        .filter(|(_, r)| matches!(r, OwnerRoles::Forbidden { .. }))
        .map(|(id, _)| id.as_str())
        .collect();
    ids.sort_unstable();
    ids
}

fn owners_count(owners: &[String]) -> usize {
    owners
        .iter()
        .filter(|id| !id.is_empty())
        .collect::<HashSet<_>>()
        .len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limit(remaining: u64) -> RateLimit {
        RateLimit {
            limit: 2000,
            remaining,
            reset: 4_000_000_000,
        }
    }

    #[test]
    fn the_budget_is_what_the_owner_lookups_left_of_the_polls_share() {
        let empty = BTreeMap::new();
        let users = |remaining| BTreeMap::from([(USER, limit(remaining))]);
        let both = BTreeMap::from([(USER, limit(100)), (ROLES, limit(1000))]);
        let none = PollStats::default();
        let budget = |at_start, after_owners, already_sent| Budget {
            at_start,
            after_owners,
            share: 0.5,
            already_sent,
        };
        // Known at the start: half of 100, less what the owners and the roles sent.
        assert_eq!(budget(&both, &empty, 0).allowed(&none, 0), Some(50));
        assert_eq!(budget(&both, &empty, 30).allowed(&none, 0), Some(20));
        assert_eq!(budget(&both, &empty, 30).allowed(&none, 15), Some(5));
        assert_eq!(budget(&both, &empty, 80).allowed(&none, 0), Some(0));
        // Unknown at the start: the owners probed (1), then took half of the 59 left (29); the
        // window shows 30 left after their 30.
        let (thirty, sixty) = (users(30), users(60));
        assert_eq!(budget(&empty, &thirty, 30).allowed(&none, 0), Some(0));
        assert_eq!(budget(&empty, &sixty, 10).allowed(&none, 0), Some(25));
        // Nothing known: probe; then the roles window observed bounds the rest.
        assert_eq!(budget(&empty, &empty, 0).allowed(&none, 0), None);
        let probed = PollStats {
            rate_limits: vec![(ROLES, limit(20))],
            ..PollStats::default()
        };
        assert_eq!(budget(&empty, &empty, 0).allowed(&probed, 1), Some(10));
        assert_eq!(budget(&users(100), &empty, 0).allowed(&probed, 1), Some(10));
    }
}
