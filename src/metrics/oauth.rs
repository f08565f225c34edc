//! An org's OAuth 2.0 service app: its token requests and the access token in use.

use chrono::{DateTime, Utc};
use prometheus::proto::MetricType;

use super::{Families, Spec};
use crate::snapshot::OrgSnapshot;

pub static OAUTH_TOKEN_REQUESTS: Spec = Spec {
    name: "okta_oauth_token_requests_total",
    help: "Requests to the org's OAuth 2.0 token endpoint (client credentials, private_key_jwt) since the exporter started, by result: success, use_dpop_nonce (asked for a DPoP nonce; repeated with it), invalid_client, invalid_scope, error, unreachable. Only for orgs that use an OAuth 2.0 app.",
    kind: MetricType::COUNTER,
    labels: &["org", "result"],
};

pub static OAUTH_TOKEN_EXPIRY: Spec = Spec {
    name: "okta_oauth_access_token_expiry_timestamp_seconds",
    help: "When the OAuth 2.0 access token in use expires, in Unix seconds; the exporter renews it shortly before. Only for orgs that use an OAuth 2.0 app.",
    kind: MetricType::GAUGE,
    labels: &["org"],
};

/// This collector's families, in output order.
pub static SPECS: [&Spec; 2] = [&OAUTH_TOKEN_REQUESTS, &OAUTH_TOKEN_EXPIRY];

/// The org's OAuth 2.0 app, when it uses one.
pub fn collect(org: &OrgSnapshot, _now: DateTime<Utc>, families: &mut Families) {
    let Some(oauth) = &org.oauth else {
        return;
    };
    let name = org.name.as_str();
    for (result, count) in &oauth.requests {
        families.push(&OAUTH_TOKEN_REQUESTS, &[name, result], *count as f64);
    }
    if let Some(expiry) = oauth.access_token_expiry {
        let at = expiry
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        families.push(&OAUTH_TOKEN_EXPIRY, &[name], at);
    }
}
