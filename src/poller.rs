//! One task per org that polls Okta: at start, then every interval with ±10% jitter.
//!
//! Polls of one org never overlap (the task awaits each poll before sleeping). A complete token
//! list is enriched (owners, System Log) and then applied to the poller's own [`OrgState`] and published as a new snapshot in one step; a
//! failure is logged once when the org's health changes, not on every attempt, so a long outage
//! does not flood the log.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use rand::Rng;
use tokio::sync::watch;

use crate::config::EnrichSettings;
use crate::enrich::{self, Enrichment};
use crate::okta::{OktaClient, PollStats};
use crate::snapshot::{OAuthFacts, Snapshots};
use crate::state::{OrgState, Transition};

/// One org's poller: its client, its working state, and where it publishes.
pub struct Poller {
    pub state: OrgState,
    pub client: Arc<OktaClient>,
    pub enrich: EnrichSettings,
    pub snapshots: Snapshots,
    /// This org's place in `snapshots`.
    pub index: usize,
}

impl Poller {
    pub fn new(
        mut state: OrgState,
        client: OktaClient,
        interval: Duration,
        enrich: EnrichSettings,
        snapshots: Snapshots,
        index: usize,
    ) -> Poller {
        state.facts.enrichment = Enrichment::new(&enrich);
        state.facts.poll_interval = interval;
        let poller = Poller {
            state,
            client: Arc::new(client),
            enrich,
            snapshots,
            index,
        };
        poller.publish();
        poller
    }

    /// Polls until `shutdown` turns true: at once, then every interval with jitter.
    pub async fn run(mut self, mut shutdown: watch::Receiver<bool>) {
        let interval = self.state.facts.poll_interval;
        loop {
            tokio::select! {
                _ = self.poll_once() => {}
                _ = shutdown.wait_for(|stop| *stop) => return,
            }
            tokio::select! {
                _ = tokio::time::sleep(jittered(interval)) => {}
                _ = shutdown.wait_for(|stop| *stop) => return,
            }
        }
    }

    /// Publishes the working state's facts, with the OAuth client's counters as they are now.
    fn publish(&self) {
        let mut snapshot = self.state.snapshot();
        snapshot.oauth = self.client.oauth_stats().map(|stats| OAuthFacts {
            requests: stats.requests(),
            access_token_expiry: stats.access_token_expiry(),
        });
        self.snapshots.publish(self.index, snapshot);
    }

    /// One poll: list every token, enrich them, and publish the result.
    pub async fn poll_once(&mut self) {
        let started = Instant::now();
        let mut stats = PollStats::default();
        let result = self.client.list_api_tokens(&mut stats).await;
        let name = self.state.facts.name.clone();
        match result {
            Ok(list) => {
                let mut rate_limits = self.state.facts.rate_limits.clone();
                rate_limits.extend(stats.rate_limits.iter().copied());
                let enrichment = enrich::refresh(
                    &self.client,
                    &name,
                    &self.enrich,
                    &list.tokens,
                    self.state.facts.enrichment.clone(),
                    &mut self.state.log,
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
                    self.state
                        .apply_success(list, enrichment, Utc::now(), duration, stats);
                self.publish();
                let elapsed_ms = duration.as_millis() as u64;
                crate::allocator::release_freed_memory();
                match transition {
                    Transition::Recovered => {
                        tracing::info!(org = %name, tokens = count, pages, elapsed_ms, "polled Okta")
                    }
                    _ => {
                        tracing::debug!(org = %name, tokens = count, pages, elapsed_ms, "polled Okta")
                    }
                }
            }
            Err(error) => {
                let message = error.to_string();
                let reason = error.reason().as_str();
                let transition =
                    self.state
                        .apply_failure(error, Utc::now(), started.elapsed(), stats);
                self.publish();
                let kept = self.state.facts.tokens.len();
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
