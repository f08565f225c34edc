//! The enrichment's health and what it read: System Log events, whether owner lookups and System
//! Log reads are on, and how often they failed. (Owners and suspicion per token are token
//! series: `super::tokens`.)

use chrono::{DateTime, Utc};
use prometheus::proto::MetricType;

use super::{Families, Spec};
use crate::model::Off;
use crate::snapshot::OrgSnapshot;

pub static TOKEN_EVENTS: Spec = Spec {
    name: "okta_api_token_events_total",
    help: "System Log events read since the exporter started, by type: API token events (create, enable, update, revoke, request_outside_allowed_range) and user deactivations (user.lifecycle.deactivate, which delete the user's tokens).",
    kind: MetricType::COUNTER,
    labels: &["org", "event_type"],
};

pub static ENRICHMENT_ENABLED: Spec = Spec {
    name: "okta_enrichment_enabled",
    help: "1 when the exporter looks up this kind of enrichment (owners: GET /api/v1/users/{id}; system_log: GET /api/v1/logs) for the org, 0 when it is configured off or the credential may not read it (403).",
    kind: MetricType::GAUGE,
    labels: &["org", "kind"],
};

pub static ENRICHMENT_ERRORS: Spec = Spec {
    name: "okta_enrichment_errors_total",
    help: "Enrichment reads that failed since the exporter started, by kind: owners (a GET /api/v1/users/{id} other than 404) and system_log (a read of GET /api/v1/logs; the next poll reads on from where it stopped).",
    kind: MetricType::COUNTER,
    labels: &["org", "kind"],
};

pub static UNATTRIBUTED_EVENTS: Spec = Spec {
    name: "okta_system_log_events_unattributed_total",
    help: "System Log events that should name an API token (revoke, request_outside_allowed_range) but named none, since the exporter started: above 0, Okta's event shape may have changed and tokens it concerns are not marked.",
    kind: MetricType::COUNTER,
    labels: &["org", "event_type"],
};

/// This collector's families, in output order.
pub static SPECS: [&Spec; 4] = [
    &TOKEN_EVENTS,
    &ENRICHMENT_ENABLED,
    &ENRICHMENT_ERRORS,
    &UNATTRIBUTED_EVENTS,
];

/// The org's enrichment.
pub fn collect(org: &OrgSnapshot, _now: DateTime<Utc>, families: &mut Families) {
    let name = org.name.as_str();
    let enrichment = &org.enrichment;
    for (event_type, count) in &enrichment.events {
        families.push(&TOKEN_EVENTS, &[name, event_type], *count as f64);
    }
    let enabled = |off: Option<Off>| if off.is_none() { 1.0 } else { 0.0 };
    families.push(
        &ENRICHMENT_ENABLED,
        &[name, "owners"],
        enabled(enrichment.owners_off),
    );
    families.push(
        &ENRICHMENT_ENABLED,
        &[name, "system_log"],
        enabled(enrichment.system_log_off),
    );
    families.push(
        &ENRICHMENT_ERRORS,
        &[name, "owners"],
        enrichment.owner_errors as f64,
    );
    families.push(
        &ENRICHMENT_ERRORS,
        &[name, "system_log"],
        enrichment.system_log_errors as f64,
    );
    for (event_type, count) in &enrichment.unattributed {
        families.push(&UNATTRIBUTED_EVENTS, &[name, event_type], *count as f64);
    }
}
