//! Poll health: whether an org's last poll worked, when one last did, how often and how long
//! the polls are, and how they failed.

use chrono::{DateTime, Utc};
use prometheus::proto::MetricType;

use super::{seconds, Families, Spec};
use crate::okta::error::PollErrorReason;
use crate::snapshot::OrgSnapshot;

pub static UP: Spec = Spec {
    name: "okta_up",
    help: "1 when the last poll of the org's Okta API succeeded, else 0 (the token metrics then show the last known tokens).",
    kind: MetricType::GAUGE,
    labels: &["org"],
};

pub static LAST_SUCCESS: Spec = Spec {
    name: "okta_last_successful_poll_timestamp_seconds",
    help: "When the last successful poll of the org finished, in Unix seconds; 0 when no poll has succeeded since start (or, with --storage.path, ever).",
    kind: MetricType::GAUGE,
    labels: &["org"],
};

pub static POLL_INTERVAL: Spec = Spec {
    name: "okta_poll_interval_seconds",
    help: "How often the exporter polls the org (before jitter), in seconds; staleness alerts are multiples of it.",
    kind: MetricType::GAUGE,
    labels: &["org"],
};

pub static POLL_DURATION: Spec = Spec {
    name: "okta_poll_duration_seconds",
    help: "How long the last poll of the org took, all pages, retries and rate-limit waits included, in seconds.",
    kind: MetricType::GAUGE,
    labels: &["org"],
};

pub static POLL_ERRORS: Spec = Spec {
    name: "okta_poll_errors_total",
    help: "Polls of the org that failed, by reason, since the exporter started.",
    kind: MetricType::COUNTER,
    labels: &["org", "reason"],
};

pub static CONSECUTIVE_FAILURES: Spec = Spec {
    name: "okta_poll_consecutive_failures",
    help: "Polls of the org that failed in a row since the last successful one; 0 after a success.",
    kind: MetricType::GAUGE,
    labels: &["org"],
};

pub static UNDECODABLE: Spec = Spec {
    name: "okta_api_tokens_undecodable_total",
    help: "Token objects in Okta's answers that could not be decoded and were skipped, since the exporter started.",
    kind: MetricType::COUNTER,
    labels: &["org"],
};

pub static STORAGE_WRITE_FAILURES: Spec = Spec {
    name: "okta_storage_write_failures_total",
    help: "Failed writes of the org's state file in --storage.path since start; while it fails, a restart starts without the last known tokens.",
    kind: MetricType::COUNTER,
    labels: &["org"],
};

/// This collector's families, in output order.
pub static SPECS: [&Spec; 8] = [
    &UP,
    &LAST_SUCCESS,
    &POLL_INTERVAL,
    &POLL_DURATION,
    &POLL_ERRORS,
    &CONSECUTIVE_FAILURES,
    &UNDECODABLE,
    &STORAGE_WRITE_FAILURES,
];

/// The org's poll health.
pub fn collect(org: &OrgSnapshot, _now: DateTime<Utc>, families: &mut Families) {
    let name = org.name.as_str();
    families.push(&UP, &[name], if org.up { 1.0 } else { 0.0 });
    // 0 until the first success, so that staleness rules see an org Okta never accepted.
    families.push(
        &LAST_SUCCESS,
        &[name],
        org.last_success.map_or(0.0, seconds),
    );
    families.push(&POLL_INTERVAL, &[name], org.poll_interval.as_secs_f64());
    if let Some(d) = org.last_poll_duration {
        families.push(&POLL_DURATION, &[name], d.as_secs_f64());
    }
    for reason in PollErrorReason::ALL {
        let count = org.poll_errors.get(&reason).copied().unwrap_or(0);
        families.push(&POLL_ERRORS, &[name, reason.as_str()], count as f64);
    }
    families.push(
        &CONSECUTIVE_FAILURES,
        &[name],
        org.consecutive_failures as f64,
    );
    families.push(&UNDECODABLE, &[name], org.undecodable_tokens as f64);
    if let Some(failures) = org.storage_write_failures {
        families.push(&STORAGE_WRITE_FAILURES, &[name], failures as f64);
    }
}
