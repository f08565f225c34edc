//! One task per org that polls Okta: at start, then every interval with ±10% jitter.
//!
//! Polls of one org never overlap (the task awaits each poll before sleeping). A complete token
//! list is enriched (owners, System Log) and then applied to the org's [`OrgState`] in one step; a
//! failure is logged once when the org's health changes, not on every attempt, so a long outage
//! does not flood the log.

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use chrono::Utc;
use rand::Rng;
use tokio::sync::watch;

use crate::config::EnrichSettings;
use crate::enrich::{self, Enrichment};
use crate::okta::{OktaClient, PollStats};
use crate::state::{OrgState, Transition};

/// Polls one org until `shutdown` turns true.
pub async fn run(
    org: Arc<RwLock<OrgState>>,
    client: OktaClient,
    interval: Duration,
    enrich: EnrichSettings,
    mut shutdown: watch::Receiver<bool>,
) {
    let client = Arc::new(client);
    {
        let mut state = write(&org);
        state.enrichment = Enrichment::new(&enrich);
        state.oauth = client.oauth_stats();
    }
    loop {
        tokio::select! {
            _ = poll_once(&org, &client, &enrich) => {}
            _ = shutdown.wait_for(|stop| *stop) => return,
        }
        tokio::select! {
            _ = tokio::time::sleep(jittered(interval)) => {}
            _ = shutdown.wait_for(|stop| *stop) => return,
        }
    }
}

/// One poll: list every token, enrich them, and publish the result.
pub async fn poll_once(org: &RwLock<OrgState>, client: &Arc<OktaClient>, enrich: &EnrichSettings) {
    let started = Instant::now();
    let mut stats = PollStats::default();
    let result = client.list_api_tokens(&mut stats).await;
    let (name, previous, mut rate_limits) = {
        let state = org.read().unwrap_or_else(|e| e.into_inner());
        (
            state.name.clone(),
            state.enrichment.clone(),
            state.rate_limits.clone(),
        )
    };
    match result {
        Ok(list) => {
            rate_limits.extend(stats.rate_limits.iter().copied());
            let enrichment = enrich::refresh(
                client,
                &name,
                enrich,
                &list.tokens,
                previous,
                &rate_limits,
                &mut stats,
            )
            .await;
            let (count, pages) = (list.tokens.len(), list.pages);
            for token in &list.skipped {
                tracing::warn!(org = %name, token_id = token.id.as_deref().unwrap_or("?"), reason = %token.reason, "skipped a token object that cannot be decoded");
            }
            let duration = started.elapsed();
            let transition =
                write(org).apply_success(list, enrichment, Utc::now(), duration, stats);
            let elapsed_ms = duration.as_millis() as u64;
            crate::allocator::release_freed_memory();
            match transition {
                Transition::Recovered => {
                    tracing::info!(org = %name, tokens = count, pages, elapsed_ms, "polled Okta")
                }
                _ => tracing::debug!(org = %name, tokens = count, pages, elapsed_ms, "polled Okta"),
            }
        }
        Err(error) => {
            let message = error.to_string();
            let reason = error.reason().as_str();
            let mut state = write(org);
            let transition = state.apply_failure(error, Utc::now(), started.elapsed(), stats);
            let kept = state.tokens.len();
            drop(state);
            match transition {
                Transition::Unchanged => {
                    tracing::debug!(org = %name, reason, error = %message, kept_tokens = kept, "poll failed again")
                }
                _ => {
                    tracing::error!(org = %name, reason, error = %message, kept_tokens = kept, "poll failed; serving the last known tokens")
                }
            }
        }
    }
}

fn write(org: &RwLock<OrgState>) -> std::sync::RwLockWriteGuard<'_, OrgState> {
    org.write().unwrap_or_else(|e| e.into_inner())
}

/// The interval with ±10% jitter, so that many exporters do not poll in step.
pub fn jittered(interval: Duration) -> Duration {
    interval.mul_f64(rand::rng().random_range(0.9..=1.1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_stays_within_ten_percent() {
        let interval = Duration::from_secs(300);
        for _ in 0..1000 {
            let d = jittered(interval);
            assert!(
                d >= Duration::from_secs(270) && d <= Duration::from_secs(330),
                "{d:?}"
            );
        }
    }
}
