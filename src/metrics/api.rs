//! Okta's API as the exporter met it: answers by endpoint and status, and each endpoint's
//! rate-limit window.

use chrono::{DateTime, Utc};
use prometheus::proto::MetricType;

use super::{seconds, Families, Spec};
use crate::snapshot::OrgSnapshot;

pub static REQUESTS: Spec = Spec {
    name: "okta_api_requests_total",
    help: "HTTP answers received from the org's Okta API, by endpoint path template and status code, since the exporter started.",
    kind: MetricType::COUNTER,
    labels: &["org", "endpoint", "code"],
};

pub static RATE_LIMIT: Spec = Spec {
    name: "okta_rate_limit_limit",
    help: "Okta's X-Rate-Limit-Limit from the last answer of the endpoint: requests allowed per window.",
    kind: MetricType::GAUGE,
    labels: &["org", "endpoint"],
};

pub static RATE_REMAINING: Spec = Spec {
    name: "okta_rate_limit_remaining",
    help: "Okta's X-Rate-Limit-Remaining from the last answer of the endpoint: requests left in the window.",
    kind: MetricType::GAUGE,
    labels: &["org", "endpoint"],
};

pub static RATE_RESET: Spec = Spec {
    name: "okta_rate_limit_reset_timestamp_seconds",
    help: "Okta's X-Rate-Limit-Reset from the last answer of the endpoint: when the window resets, in Unix seconds.",
    kind: MetricType::GAUGE,
    labels: &["org", "endpoint"],
};

pub static RATE_LIMIT_EXCEEDED: Spec = Spec {
    name: "okta_rate_limit_exceeded_last_timestamp_seconds",
    help: "When Okta last answered the exporter's call to the endpoint with HTTP 429 (rate limit exceeded), in Unix seconds; absent until the first. Kept across restarts with --storage.path.",
    kind: MetricType::GAUGE,
    labels: &["org", "endpoint"],
};

/// This collector's families, in output order.
pub static SPECS: [&Spec; 5] = [
    &REQUESTS,
    &RATE_LIMIT,
    &RATE_REMAINING,
    &RATE_RESET,
    &RATE_LIMIT_EXCEEDED,
];

/// The org's requests and rate limits.
pub fn collect(org: &OrgSnapshot, _now: DateTime<Utc>, families: &mut Families) {
    let name = org.name.as_str();
    for ((endpoint, code), count) in &org.responses {
        families.push(
            &REQUESTS,
            &[name, endpoint, &code.to_string()],
            *count as f64,
        );
    }
    for (endpoint, limit) in &org.rate_limits {
        families.push(&RATE_LIMIT, &[name, endpoint], limit.limit as f64);
        families.push(&RATE_REMAINING, &[name, endpoint], limit.remaining as f64);
        families.push(&RATE_RESET, &[name, endpoint], limit.reset as f64);
    }
    for (endpoint, at) in &org.rate_limited_at {
        families.push(&RATE_LIMIT_EXCEEDED, &[name, endpoint], seconds(*at));
    }
}
