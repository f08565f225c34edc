//! Tokens that left an org's list: why, and what is remembered of them.
//!
//! Okta only ever shows a token disappear: an idle token lapses at its expiry, an admin revokes
//! one, and every token of a deactivated user is deleted at once. [`reason`] tells the three
//! apart from what the exporter knew when the token vanished (pure, table-tested); the poller
//! remembers each removal for [`MEMORY`], so that an alert can name the token that lapsed, carried
//! by every replica that saw it go and by the state file across restarts, instead of reading a
//! counter that each new replica restarts from zero.

use chrono::{DateTime, TimeDelta, Utc};

use crate::model::status::TokenStatus;

/// How long a removed token is exported (and kept in the state file) after it vanished.
pub const MEMORY: TimeDelta = TimeDelta::hours(24);

/// Why a known token left the list (in the state file as its label value).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum RemovalReason {
    /// Its last known expiry has passed: Okta revoked it for lack of use.
    Expired,
    /// It vanished before its expiry: revoked by an admin (or for a reason Okta did not log).
    Revoked,
    /// Its owner was deactivated, and Okta deleted every token of that user.
    OwnerDeactivated,
}

impl RemovalReason {
    pub const ALL: [RemovalReason; 3] = [Self::Expired, Self::Revoked, Self::OwnerDeactivated];

    /// The `reason` label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Expired => "expired",
            Self::Revoked => "revoked",
            Self::OwnerDeactivated => "owner_deactivated",
        }
    }

    pub fn parse(s: &str) -> Option<RemovalReason> {
        Self::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

/// What the exporter knew about a token that vanished, for [`reason`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Evidence<'a> {
    /// Its last known expiry.
    pub expires_at: Option<DateTime<Utc>>,
    /// When the System Log says the token was revoked (a `system.api_token.revoke` event whose
    /// target is the token).
    pub revoked_at: Option<DateTime<Utc>>,
    /// When the System Log says its owner was deactivated (`user.lifecycle.deactivate`).
    pub owner_deactivated_at: Option<DateTime<Utc>>,
    /// The owner's status as last looked up (this poll for a vanished token when the budget
    /// allowed), as Okta spells it.
    pub owner_status: Option<&'a str>,
}

/// Why a token that Okta no longer lists at `now` is gone. A logged revocation of the token
/// itself wins; then a logged deactivation of its owner, unless the token had lapsed before it;
/// then a passed expiry; then an owner known to be deactivated; anything else was revoked.
pub fn reason(evidence: Evidence<'_>, now: DateTime<Utc>) -> RemovalReason {
    let lapsed_before = |at: DateTime<Utc>| evidence.expires_at.is_some_and(|e| e <= at);
    if evidence.revoked_at.is_some() {
        return RemovalReason::Revoked;
    }
    if let Some(at) = evidence.owner_deactivated_at {
        if !lapsed_before(at) {
            return RemovalReason::OwnerDeactivated;
        }
    }
    if lapsed_before(now) {
        RemovalReason::Expired
    } else if evidence.owner_status == Some("DEPROVISIONED") {
        RemovalReason::OwnerDeactivated
    } else {
        RemovalReason::Revoked
    }
}

/// A token that left the list, as remembered for [`MEMORY`].
#[derive(Debug, Clone, PartialEq)]
pub struct RemovedToken {
    pub token_id: String,
    pub token_name: String,
    pub user_id: String,
    /// The owner's login as last known; empty when never looked up.
    pub owner_login: String,
    pub reason: RemovalReason,
    /// When this exporter saw it gone: the successful poll that no longer listed it.
    pub removed_at: DateTime<Utc>,
    /// Its console colour at the last poll that listed it: Green means it was in use.
    pub last_status: TokenStatus,
}

impl RemovedToken {
    /// Whether it is still remembered at `now`.
    pub fn remembered_at(&self, now: DateTime<Utc>) -> bool {
        now - self.removed_at <= MEMORY
    }
}

/// A removal explained only later: the System Log can publish a user's deactivation after the
/// poll that saw the tokens go. A token counted `revoked` without a logged revocation whose owner
/// turns out to have been deactivated by then is re-labelled `owner_deactivated` (the counters
/// stay as counted). Returns how many were re-labelled.
pub fn explain_late(
    removed: &mut [RemovedToken],
    deactivated_at: impl Fn(&str) -> Option<DateTime<Utc>>,
    revoked: impl Fn(&str) -> bool,
) -> usize {
    let mut changed = 0;
    for token in removed {
        let deactivated_before = deactivated_at(&token.user_id).is_some_and(|at| {
            // Okta publishes the event when it deletes the tokens; a poll that ran between the
            // two sees them gone a little before the event's time.
            at <= token.removed_at + TimeDelta::minutes(10)
        });
        if token.reason == RemovalReason::Revoked && deactivated_before && !revoked(&token.token_id)
        {
            token.reason = RemovalReason::OwnerDeactivated;
            changed += 1;
        }
    }
    changed
}

#[cfg(test)]
mod tests {
    use super::RemovalReason::*;
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().to_utc()
    }

    #[test]
    fn why_a_token_vanished() {
        let now = at("2026-12-05T12:00:00Z");
        let before = Some(at("2026-12-05T11:00:00Z"));
        let after = Some(at("2026-12-05T13:00:00Z"));
        let long_ago = Some(at("2026-12-01T00:00:00Z"));
        let none = Evidence {
            expires_at: after,
            revoked_at: None,
            owner_deactivated_at: None,
            owner_status: None,
        };
        // (evidence, reason)
        let cases = [
            (none, Revoked),
            (
                Evidence {
                    expires_at: Some(now),
                    ..none
                },
                Expired,
            ),
            (
                Evidence {
                    expires_at: before,
                    ..none
                },
                Expired,
            ),
            (
                Evidence {
                    revoked_at: before,
                    expires_at: before,
                    ..none
                },
                Revoked,
            ),
            (
                Evidence {
                    owner_deactivated_at: before,
                    ..none
                },
                OwnerDeactivated,
            ),
            (
                Evidence {
                    owner_deactivated_at: before,
                    revoked_at: before,
                    ..none
                },
                Revoked,
            ),
            // Deactivated after the token had lapsed: it lapsed.
            (
                Evidence {
                    expires_at: long_ago,
                    owner_deactivated_at: before,
                    ..none
                },
                Expired,
            ),
            // Deactivated, then the expiry passed before this poll: the deactivation did it.
            (
                Evidence {
                    expires_at: Some(now - TimeDelta::minutes(5)),
                    owner_deactivated_at: long_ago,
                    ..none
                },
                OwnerDeactivated,
            ),
            (
                Evidence {
                    owner_status: Some("DEPROVISIONED"),
                    ..none
                },
                OwnerDeactivated,
            ),
            (
                Evidence {
                    owner_status: Some("DEPROVISIONED"),
                    expires_at: before,
                    ..none
                },
                Expired,
            ),
            (
                Evidence {
                    owner_status: Some("SUSPENDED"),
                    ..none
                },
                Revoked,
            ),
            (
                Evidence {
                    expires_at: None,
                    ..none
                },
                Revoked,
            ),
        ];
        for (evidence, want) in cases {
            assert_eq!(reason(evidence, now), want, "{evidence:?}");
        }
    }

    fn removed(id: &str, user: &str, reason: RemovalReason, at: DateTime<Utc>) -> RemovedToken {
        RemovedToken {
            token_id: id.into(),
            token_name: format!("token {id}"),
            user_id: user.into(),
            owner_login: String::new(),
            reason,
            removed_at: at,
            last_status: TokenStatus::Green,
        }
    }

    #[test]
    fn a_deactivation_published_late_explains_a_removal_counted_revoked() {
        let poll = at("2026-12-05T12:00:00Z");
        let mut tokens = vec![
            removed("00T1", "00ugone", Revoked, poll),
            removed("00T2", "00ugone", Expired, poll),
            removed("00T3", "00ustays", Revoked, poll),
            removed("00T4", "00ugone", Revoked, poll),
            removed("00T5", "00ulater", Revoked, poll),
        ];
        let deactivated = |user: &str| match user {
            "00ugone" => Some(poll - TimeDelta::minutes(1)),
            "00ulater" => Some(poll + TimeDelta::hours(2)),
            _ => None,
        };
        let changed = explain_late(&mut tokens, deactivated, |id| id == "00T4");
        assert_eq!(changed, 1);
        let reasons: Vec<_> = tokens.iter().map(|t| t.reason).collect();
        assert_eq!(
            reasons,
            [OwnerDeactivated, Expired, Revoked, Revoked, Revoked],
            "a logged revocation stays revoked; a deactivation after the removal explains nothing"
        );
    }

    #[test]
    fn a_removal_is_remembered_for_a_day() {
        let poll = at("2026-12-05T12:00:00Z");
        let token = removed("00T1", "00u1", Expired, poll);
        assert!(token.remembered_at(poll + MEMORY));
        assert!(!token.remembered_at(poll + MEMORY + TimeDelta::seconds(1)));
    }

    #[test]
    fn reasons_round_trip_through_their_labels() {
        for reason in RemovalReason::ALL {
            assert_eq!(RemovalReason::parse(reason.as_str()), Some(reason));
        }
        assert_eq!(RemovalReason::parse("lapsed"), None);
    }
}
