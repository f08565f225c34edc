//! Each token's label sets, escaped once per published snapshot: the only way the token series
//! get their labels. A scrape of 10,000 tokens writes about 120,000 series, each starting with the
//! same few label sets per token, so they are escaped once and then only copied.
//!
//! The cache belongs to the renderer, not to the data: a snapshot never changes once published,
//! so the labels of one are escaped at its first scrape and reused until the poller publishes the
//! next; the poller knows nothing of the text format.

use std::sync::{Arc, Mutex, Weak};

use crate::exposition::{info_labels, token_labels};
use crate::snapshot::OrgSnapshot;

/// One snapshot's escaped labels, in the order of its `tokens`.
#[derive(Debug, Default)]
pub struct TokenLabels {
    /// `org`, `token_id`, `token_name`, `user_id`.
    token: Vec<Box<[u8]>>,
    /// The labels only `okta_api_token_info` has: client, network, owner login and status.
    info: Vec<Box<[u8]>>,
}

impl TokenLabels {
    /// Escapes every token's labels of `org`.
    pub fn of(org: &OrgSnapshot) -> TokenLabels {
        let owners = &org.enrichment.owners;
        let (token, info) = org
            .tokens
            .iter()
            .map(|t| {
                let owner = owners.get(&t.user_id);
                let login = owner.map_or("", |o| o.login.as_str());
                let status = owner.map_or("", |o| o.status.as_str());
                (token_labels(&org.name, t), info_labels(t, login, status))
            })
            .unzip();
        TokenLabels { token, info }
    }

    /// Token `index`'s labels and its info labels.
    pub(super) fn get(&self, index: usize) -> (&[u8], &[u8]) {
        (&self.token[index], &self.info[index])
    }
}

/// The labels of the snapshots scraped last, by snapshot: shared by every scrape of a server.
#[derive(Debug, Default)]
pub struct LabelCache {
    /// A snapshot (held weakly: the cache never keeps an old one alive) and its labels.
    entries: Mutex<Vec<(Weak<OrgSnapshot>, Arc<TokenLabels>)>>,
}

impl LabelCache {
    pub fn new() -> LabelCache {
        LabelCache::default()
    }

    /// The labels of each of `orgs`, escaped now for a snapshot not seen before. Entries of
    /// snapshots no longer scraped are dropped.
    pub fn labels(&self, orgs: &[Arc<OrgSnapshot>]) -> Vec<Arc<TokenLabels>> {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let labels: Vec<Arc<TokenLabels>> = orgs
            .iter()
            .map(|org| {
                let weak = Arc::downgrade(org);
                // A `Weak` keeps its allocation: no other snapshot can be at the same address.
                match entries.iter().find(|(seen, _)| seen.ptr_eq(&weak)) {
                    Some((_, labels)) => Arc::clone(labels),
                    None => Arc::new(TokenLabels::of(org)),
                }
            })
            .collect();
        *entries = orgs
            .iter()
            .zip(&labels)
            .map(|(org, labels)| (Arc::downgrade(org), Arc::clone(labels)))
            .collect();
        labels
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_snapshot_is_escaped_once_and_a_new_one_again() {
        let cache = LabelCache::new();
        let first = vec![Arc::new(OrgSnapshot::new("a", ""))];
        let a = cache.labels(&first);
        let b = cache.labels(&first);
        assert!(
            Arc::ptr_eq(&a[0], &b[0]),
            "the same snapshot reuses its labels"
        );
        let next = vec![Arc::new(OrgSnapshot::new("a", ""))];
        let c = cache.labels(&next);
        assert!(!Arc::ptr_eq(&a[0], &c[0]), "a new snapshot gets its own");
        assert_eq!(
            cache.entries.lock().unwrap().len(),
            1,
            "the old one is dropped"
        );
    }
}
