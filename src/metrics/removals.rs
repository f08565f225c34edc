//! Tokens that left an org's list: counted by reason, and each one for a day.

use chrono::{DateTime, Utc};
use prometheus::proto::MetricType;

use super::{seconds, Families, Spec};
use crate::model::RemovalReason;
use crate::snapshot::OrgSnapshot;

pub static REMOVED: Spec = Spec {
    name: "okta_api_tokens_removed_total",
    help: "API tokens that left the org's list, by reason as known when they left: expired (their last known expiry had passed), revoked (gone before expiry), owner_deactivated (Okta deleted them with their deactivated owner). Carried across restarts with --storage.path; each replica counts what it saw.",
    kind: MetricType::COUNTER,
    labels: &["org", "reason"],
};

pub static REMOVED_TOKEN: Spec = Spec {
    name: "okta_api_token_removed_timestamp_seconds",
    help: "When this exporter saw the API token leave the org's list (the successful poll that no longer listed it), in Unix seconds; exported for 24 hours, kept across restarts with --storage.path. reason: expired, revoked or owner_deactivated; last_status: its console colour at the last poll that listed it (green: it was in use).",
    kind: MetricType::GAUGE,
    labels: &["org", "token_id", "token_name", "user_id", "reason", "owner_login", "last_status"],
};

/// This collector's families, in output order.
pub static SPECS: [&Spec; 2] = [&REMOVED, &REMOVED_TOKEN];

/// The org's removals.
pub fn collect(org: &OrgSnapshot, now: DateTime<Utc>, families: &mut Families) {
    let name = org.name.as_str();
    for reason in RemovalReason::ALL {
        let count = org.removed.get(&reason).copied().unwrap_or(0);
        families.push(&REMOVED, &[name, reason.as_str()], count as f64);
    }
    for removed in org.removed_tokens.iter().filter(|r| r.remembered_at(now)) {
        let labels = [
            name,
            &removed.token_id,
            &removed.token_name,
            &removed.user_id,
            removed.reason.as_str(),
            &removed.owner_login,
            removed.last_status.as_str(),
        ];
        families.push(&REMOVED_TOKEN, &labels, seconds(removed.removed_at));
    }
}
