//! Keep-alive of the tokens of an org's `keepalive:` list: what came of each call, and the last
//! one that worked.

use chrono::{DateTime, Utc};
use prometheus::proto::MetricType;

use super::{seconds, Families, Spec};
use crate::model::KeepAliveResult;
use crate::snapshot::OrgSnapshot;

pub static KEEP_ALIVES: Spec = Spec {
    name: "okta_api_token_keepalive_total",
    help: "Keep-alives of the tokens of the org's keepalive list since start, by result: refreshed (a call with the token's own secret, GET /api/v1/users/me, and the next poll listed a later expiry), not_refreshed (the call was accepted but the expiry did not move: the secret is another token's), rejected (401: revoked, expired, owner suspended, or a wrong secret; 403: e.g. a call from outside the token's network zones), skipped_owner_inactive (due, but the owner is suspended or deactivated), error (any other failure: timeout, 5xx, 429, an answer that cannot be read).",
    kind: MetricType::COUNTER,
    labels: &["org", "token_id", "result"],
};

pub static KEEP_ALIVE_LAST: Spec = Spec {
    name: "okta_api_token_keepalive_last_timestamp_seconds",
    help: "When the exporter last kept the token alive: the time of its last call with the token that the next poll confirmed (the expiry moved), in Unix seconds; absent until the first since start.",
    kind: MetricType::GAUGE,
    labels: &["org", "token_id"],
};

/// This collector's families, in output order.
pub static SPECS: [&Spec; 2] = [&KEEP_ALIVES, &KEEP_ALIVE_LAST];

/// The org's kept-alive tokens.
pub fn collect(org: &OrgSnapshot, _now: DateTime<Utc>, families: &mut Families) {
    let name = org.name.as_str();
    for kept in &org.keepalive {
        for result in KeepAliveResult::ALL {
            let labels = [name, &kept.token_id, result.as_str()];
            families.push(&KEEP_ALIVES, &labels, kept.count(result) as f64);
        }
        if let Some(at) = kept.last_refreshed {
            families.push(&KEEP_ALIVE_LAST, &[name, &kept.token_id], seconds(at));
        }
    }
}
