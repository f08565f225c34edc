//! What the exporter publishes about each org: an immutable snapshot, swapped in whole.
//!
//! Each poller builds a new [`OrgSnapshot`] after every poll attempt and publishes it through
//! [`Snapshots`]; a scrape or a page takes the current `Arc` of every org and renders from it.
//! Publishing is an atomic pointer swap (`arc-swap`): a scrape never waits for a poll, a poll
//! never waits for a scrape, and a scrape sees every org as one poll left it, never half-applied.
//! Nothing in a snapshot is the poller's working memory (cursors, budgets): it only flows out.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use chrono::{DateTime, Utc};

use crate::model::{ApiToken, Enrichment, KeptAlive, RateLimit, UntimedToken};
pub use crate::model::{RemovalReason, RemovedToken};
use crate::okta::error::{PollError, PollErrorReason};

/// The OAuth 2.0 side of an org at publication time.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OAuthFacts {
    /// Token requests by result, since start.
    pub requests: Vec<(&'static str, u64)>,
    /// When the access token in use expires.
    pub access_token_expiry: Option<std::time::SystemTime>,
}

/// One org as its last poll left it. Built by the poller, read by the renderers; never changed
/// once published.
#[derive(Debug, Clone, Default)]
pub struct OrgSnapshot {
    pub name: String,
    /// The org's origin, for the landing page.
    pub url: String,
    /// How often the org is polled.
    pub poll_interval: Duration,
    /// The last complete token set, sorted by id.
    pub tokens: Arc<Vec<ApiToken>>,
    /// Tokens Okta lists without an expiry (agent tokens), sorted by id: listed, not watched.
    pub untimed_tokens: Arc<Vec<UntimedToken>>,
    /// The OAuth 2.0 token requests and access token, when the org uses an app.
    pub oauth: Option<OAuthFacts>,
    /// Whether a poll has finished (successfully or not) since start.
    pub first_poll_done: bool,
    /// Whether the last poll succeeded.
    pub up: bool,
    pub last_poll: Option<DateTime<Utc>>,
    pub last_success: Option<DateTime<Utc>>,
    pub last_poll_duration: Option<Duration>,
    /// The last poll's failure, when it failed.
    pub last_error: Option<PollError>,
    pub poll_errors: BTreeMap<PollErrorReason, u64>,
    /// Failed polls in a row since the last successful one (0 after a success).
    pub consecutive_failures: u64,
    /// Answers received, by endpoint and HTTP status.
    pub responses: BTreeMap<(&'static str, u16), u64>,
    pub rate_limits: BTreeMap<&'static str, RateLimit>,
    /// When Okta last answered an endpoint with 429.
    pub rate_limited_at: BTreeMap<&'static str, DateTime<Utc>>,
    pub removed: BTreeMap<RemovalReason, u64>,
    /// The tokens that left the list within [`crate::model::removal::MEMORY`], oldest first.
    pub removed_tokens: Arc<Vec<RemovedToken>>,
    /// Token objects that could not be decoded, over all polls.
    pub undecodable_tokens: u64,
    /// Owners and System Log findings.
    pub enrichment: Enrichment,
    /// Failed writes of the state file since start; `None` without `--storage.path`.
    pub storage_write_failures: Option<u64>,
    /// The tokens of the org's `keepalive:` list, sorted by id, and what keeping them alive did.
    pub keepalive: Vec<KeptAlive>,
}

impl OrgSnapshot {
    /// An org before its first poll.
    pub fn new(name: impl Into<String>, url: impl Into<String>) -> OrgSnapshot {
        OrgSnapshot {
            name: name.into(),
            url: url.into(),
            ..OrgSnapshot::default()
        }
    }

    /// The keep-alive of a token, when the org keeps it alive.
    pub fn kept_alive(&self, token_id: &str) -> Option<&KeptAlive> {
        self.keepalive
            .binary_search_by(|k| k.token_id.as_str().cmp(token_id))
            .ok()
            .map(|i| &self.keepalive[i])
    }
}

/// The current snapshot of every org: written by the pollers, read by the HTTP server.
#[derive(Debug, Clone, Default)]
pub struct Snapshots {
    orgs: Arc<Vec<ArcSwap<OrgSnapshot>>>,
}

impl Snapshots {
    pub fn new(orgs: impl IntoIterator<Item = OrgSnapshot>) -> Snapshots {
        Snapshots {
            orgs: Arc::new(orgs.into_iter().map(ArcSwap::from_pointee).collect()),
        }
    }

    /// Replaces org `index`'s snapshot.
    pub fn publish(&self, index: usize, snapshot: OrgSnapshot) {
        self.orgs[index].store(Arc::new(snapshot));
    }

    /// Org `index`'s current snapshot.
    pub fn get(&self, index: usize) -> Arc<OrgSnapshot> {
        self.orgs[index].load_full()
    }

    pub fn len(&self) -> usize {
        self.orgs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.orgs.is_empty()
    }

    /// Every org's current snapshot, for one scrape or page.
    pub fn all(&self) -> Vec<Arc<OrgSnapshot>> {
        self.orgs.iter().map(ArcSwap::load_full).collect()
    }

    /// Ready once every org finished its first poll attempt.
    pub fn ready(&self) -> bool {
        self.orgs.iter().all(|o| o.load().first_poll_done)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_published_snapshot_replaces_the_old_one_whole_and_old_readers_keep_theirs() {
        let snapshots = Snapshots::new([OrgSnapshot::new("a", ""), OrgSnapshot::new("b", "")]);
        assert!(!snapshots.ready());
        let before = snapshots.all();
        let mut next = OrgSnapshot::new("a", "");
        next.first_poll_done = true;
        next.up = true;
        snapshots.publish(0, next);
        assert!(!before[0].up, "a reader's snapshot never changes under it");
        assert!(snapshots.get(0).up);
        assert!(!snapshots.ready(), "b has not polled yet");
        let mut b = OrgSnapshot::new("b", "");
        b.first_poll_done = true;
        snapshots.publish(1, b);
        assert!(snapshots.ready());
    }
}
