//! The poll's last step: the owners' admin roles, looked up after the poll's tokens are
//! published ([`crate::enrich::roles`]), then published again, and written to the state file
//! when they changed.

use std::collections::{BTreeMap, HashSet};

use super::Poller;
use crate::okta::{PollStats, RateLimit};

impl Poller {
    /// Refreshes the owners' roles on what the owner lookups left of the poll's budget:
    /// `rate_limits` as the poll started, `users_sent` the requests its owner lookups sent.
    /// Roles are looked up with the owners: not while owner lookups are off.
    pub(super) async fn refresh_roles(
        &mut self,
        rate_limits: &BTreeMap<&'static str, RateLimit>,
        users_sent: u64,
    ) {
        let facts = self.state.facts();
        if facts.enrichment.roles_off.is_some() || facts.enrichment.owners_off.is_some() {
            return;
        }
        let after_owners = facts.rate_limits.clone();
        let mut seen = HashSet::new();
        let owners: Vec<String> = facts
            .tokens
            .iter()
            .map(|t| &t.user_id)
            .chain(facts.untimed_tokens.iter().map(|t| &t.user_id))
            .filter(|id| !id.is_empty() && seen.insert(id.as_str()))
            .cloned()
            .collect();
        let name = facts.name.clone();
        let enrichment = facts.enrichment.clone();
        let mut stats = PollStats::default();
        let update = crate::enrich::roles::refresh(
            &self.client,
            &name,
            &owners,
            &enrichment,
            crate::enrich::roles::Budget {
                at_start: rate_limits,
                after_owners: &after_owners,
                share: self.enrich.rate_limit_share,
                already_sent: users_sent,
            },
            &mut stats,
        )
        .await;
        if self.state.apply_roles(update, stats) {
            self.save().await;
        }
        self.publish();
    }
}
