//! One task per org that polls Okta: at start, then every interval with ±10% jitter.
//!
//! Polls of one org never overlap (the task awaits each poll before sleeping). A complete token
//! list is enriched (owners, System Log), applied to the poller's own [`OrgState`], written to the
//! state file when there is one, and published as a new snapshot; a failed poll is published too,
//! with the last known tokens. After a successful poll, the tokens of the `keepalive:` list that
//! are due are used once each ([`crate::keepalive`]), and the result is published. A failure is logged once when the org's health changes, not on
//! every attempt, so a long outage does not flood the log.

use std::path::PathBuf;
use std::sync::atomic::AtomicUsize;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use rand::Rng;
use tokio::sync::watch;

use crate::config::{Config, OrgConfig};
use crate::enrich::{self, EnrichSettings};
use crate::okta::client::ClientError;
use crate::okta::client::{USER, USER_ME};
use crate::okta::{OktaClient, PollStats};
use crate::snapshot::{OAuthFacts, Snapshots};
use crate::state::{OrgState, Transition};

mod roles;

/// One org's poller: its client, its working state, and where it publishes. All of it is the
/// poller's own: the rest of the exporter sees only what it publishes.
pub struct Poller {
    state: OrgState,
    client: Arc<OktaClient>,
    enrich: EnrichSettings,
    interval: Duration,
    snapshots: Snapshots,
    /// This org's place in `snapshots`.
    index: usize,
    /// Where the state file is written after each successful poll.
    storage: Option<PathBuf>,
    /// Whether the last write of the state file failed (to warn once, not at every poll).
    storage_failing: bool,
}

/// How `serve` and `report` set up an org's poller: in one place, so the two never differ.
pub struct OrgSetup<'a> {
    pub org: &'a OrgConfig,
    /// The settings every org shares: the HTTP client's, the poll interval.
    pub config: &'a Config,
    /// Where the state file is read at start and written after each successful poll.
    pub storage: Option<PathBuf>,
    /// Counts token objects as their pages arrive, for a progress line.
    pub listed: Option<Arc<AtomicUsize>>,
}

impl OrgSetup<'_> {
    /// The org's poller: its client, its state (restored from the state file when there is
    /// one), its keep-alive list; publishing as org `index` of `snapshots`.
    pub fn poller(self, snapshots: Snapshots, index: usize) -> Result<Poller, ClientError> {
        let org = self.org;
        let mut client = OktaClient::for_org(
            org.url.clone(),
            &org.auth,
            self.config.client.clone(),
            crate::okta::oauth::system_clock(),
        )?;
        if let Some(listed) = self.listed {
            client = client.count_listed_tokens(listed);
        }
        let mut state = match &self.storage {
            Some(dir) => restore(dir, &org.name, org.state_url()),
            None => OrgState::new(&org.name, org.state_url()),
        };
        state.shown_at(org.origin());
        state.keep_alive(crate::keepalive::track(&org.keepalive));
        Ok(Poller::new(
            state,
            client,
            self.config.poll_interval,
            org.enrich.clone(),
            snapshots,
            index,
            self.storage,
        ))
    }
}

/// The org's state from its state file in `dir`, or a fresh one (said in the log either way).
fn restore(dir: &std::path::Path, org: &str, url: &str) -> OrgState {
    match crate::storage::load(dir, org, url, Utc::now()) {
        crate::storage::Loaded::Restored(record) => {
            let state = OrgState::restore(record);
            let last = state.facts().last_success.map(|t| t.to_rfc3339());
            tracing::info!(
                org,
                tokens = state.facts().tokens.len(),
                last_successful_poll = last.as_deref().unwrap_or("never"),
                "restored the last known state; serving it until Okta answers"
            );
            state
        }
        crate::storage::Loaded::Missing => {
            tracing::info!(org, dir = %dir.display(), "no state file yet; starting empty");
            OrgState::new(org, url)
        }
        crate::storage::Loaded::Refused { problem, kept_at } => {
            let kept_at = kept_at.map(|p| p.display().to_string());
            tracing::warn!(org, error = %problem, kept_at = kept_at.as_deref().unwrap_or("(not moved)"), "ignoring a state file that cannot be trusted; starting empty");
            OrgState::new(org, url)
        }
    }
}

impl Poller {
    fn new(
        mut state: OrgState,
        client: OktaClient,
        interval: Duration,
        enrich: EnrichSettings,
        snapshots: Snapshots,
        index: usize,
        storage: Option<PathBuf>,
    ) -> Poller {
        state.configure(interval, &enrich, storage.is_some());
        let mut poller = Poller {
            state,
            client: Arc::new(client),
            enrich,
            interval,
            snapshots,
            index,
            storage,
            storage_failing: false,
        };
        poller.publish();
        poller
    }

    /// Polls until `shutdown` turns true: at once, then every interval with jitter.
    pub async fn run(mut self, mut shutdown: watch::Receiver<bool>) {
        let interval = self.interval;
        loop {
            let poll = async {
                self.poll_once().await;
                if self.state.facts().up {
                    self.keep_alive().await;
                }
            };
            tokio::select! {
                _ = poll => {}
                _ = shutdown.wait_for(|stop| *stop) => return,
            }
            tokio::select! {
                _ = tokio::time::sleep(jittered(interval)) => {}
                _ = shutdown.wait_for(|stop| *stop) => return,
            }
        }
    }

    /// Publishes a snapshot of the working state, which first takes in what the OAuth client
    /// counted since the last one.
    fn publish(&mut self) {
        let oauth = self.client.oauth_stats().map(|stats| OAuthFacts {
            requests: stats.requests(),
            access_token_expiry: stats.access_token_expiry(),
        });
        self.state.observe_oauth(oauth);
        self.snapshots.publish(self.index, self.state.snapshot());
    }

    /// Writes the state file, off the runtime's threads; a failure keeps the poll's result and
    /// is counted, and logged when it starts and when it ends.
    async fn save(&mut self) {
        let Some(dir) = self.storage.clone() else {
            return;
        };
        let record = self.state.to_record(Utc::now());
        let result = tokio::task::spawn_blocking(move || crate::storage::save(&dir, &record))
            .await
            .unwrap_or_else(|e| {
                Err(crate::storage::StorageError::Write {
                    path: self.storage.clone().unwrap_or_default(),
                    source: std::io::Error::other(e),
                })
            });
        let org = self.state.facts().name.clone();
        match result {
            Ok(path) => {
                if std::mem::take(&mut self.storage_failing) {
                    tracing::info!(org = %org, path = %path.display(), "writing the state file works again");
                }
            }
            Err(error) => {
                self.state.count_storage_failure();
                if !std::mem::replace(&mut self.storage_failing, true) {
                    tracing::warn!(org = %org, error = %error, "cannot write the state file; polling goes on, but a restart will start empty");
                } else {
                    tracing::debug!(org = %org, error = %error, "cannot write the state file");
                }
            }
        }
    }

    /// Uses each kept-alive token that is due, once, and publishes what came of it.
    pub async fn keep_alive(&mut self) {
        if self.state.keepalive.is_empty() {
            return;
        }
        let facts = self.state.facts();
        let tokens = Arc::clone(&facts.tokens);
        let owners = Arc::clone(&facts.enrichment.owners);
        let last_limit = facts.rate_limits.get(USER_ME).copied();
        let name = facts.name.clone();
        let stats = crate::keepalive::keep_alive(
            &self.client,
            &name,
            &mut self.state.keepalive,
            &tokens,
            &owners,
            crate::keepalive::RateShare {
                last_limit,
                share: self.enrich.rate_limit_share,
            },
            Utc::now(),
        )
        .await;
        self.state.count_requests(stats);
        self.publish();
    }

    /// One poll: list every token, enrich them, and publish the result.
    pub async fn poll_once(&mut self) {
        let started = Instant::now();
        let mut stats = PollStats::default();
        let result = self.client.list_api_tokens(&mut stats).await;
        let name = self.state.facts().name.clone();
        match result {
            Ok(list) => {
                let mut rate_limits = self.state.facts().rate_limits.clone();
                rate_limits.extend(stats.rate_limits.iter().copied());
                let vanished_owners: Vec<String> = self
                    .state
                    .vanished_owners(&list)
                    .into_iter()
                    .map(str::to_owned)
                    .collect();
                let vanished_owners: Vec<&str> =
                    vanished_owners.iter().map(String::as_str).collect();
                let enrichment = enrich::refresh(
                    &self.client,
                    &name,
                    &self.enrich,
                    &list.tokens,
                    &vanished_owners,
                    self.state.facts().enrichment.clone(),
                    &mut self.state.log,
                    &rate_limits,
                    &mut stats,
                )
                .await;
                let (count, pages) = (list.tokens.len(), list.pages);
                let interval = self.interval;
                for token in &list.tokens {
                    let short = token.window.to_std().is_ok_and(|w| w < 2 * interval);
                    let key = (Some(token.id.clone()), "short window".to_owned());
                    if short && self.state.said_once.insert(key) {
                        tracing::warn!(org = %name, token_id = %token.id, token_name = %token.name, token_window = %humantime::format_duration(token.window.to_std().unwrap_or_default()), poll_interval = %humantime::format_duration(interval), "this token's tokenWindow is shorter than two poll intervals: left idle, it can lapse between two polls, so it can be reported only when it has lapsed; poll more often to be warned before (said once per token)");
                    }
                }
                for token in &list.untimed {
                    let key = (Some(token.id.clone()), format!("no {}", token.missing));
                    if self.state.said_once.insert(key) {
                        tracing::warn!(org = %name, token_id = %token.id, token_name = %token.name, missing = token.missing, "Okta lists this token without an expiry (an Okta-managed agent token?): it is exported with its info and status, but no expiry is watched (said once per token)");
                    }
                }
                for token in &list.skipped {
                    let key = (token.id.clone(), token.reason.clone());
                    if self.state.said_once.insert(key) {
                        tracing::warn!(org = %name, token_id = token.id.as_deref().unwrap_or("?"), reason = %token.reason, "skipped a token object that cannot be decoded (said once per token and reason; okta_api_tokens_undecodable_total counts every poll)");
                    }
                }
                let duration = started.elapsed();
                let users_sent = stats.responses.iter().filter(|(e, _)| *e == USER).count();
                let transition =
                    self.state
                        .apply_success(list, enrichment, Utc::now(), duration, stats);
                self.save().await;
                let elapsed_ms = duration.as_millis() as u64;
                // Logged before it is published: whoever sees the result can find its line.
                match transition {
                    Transition::Recovered => {
                        tracing::info!(org = %name, tokens = count, pages, elapsed_ms, "polled Okta")
                    }
                    _ => {
                        tracing::debug!(org = %name, tokens = count, pages, elapsed_ms, "polled Okta")
                    }
                }
                self.publish();
                // After publishing: a roles lookup never delays the expiry metrics.
                self.refresh_roles(&rate_limits, users_sent as u64).await;
                crate::allocator::release_freed_memory();
            }
            Err(error) => {
                let message = error.to_string();
                let reason = error.reason().as_str();
                let transition =
                    self.state
                        .apply_failure(error, Utc::now(), started.elapsed(), stats);
                let kept = self.state.facts().tokens.len();
                match transition {
                    Transition::Unchanged => {
                        tracing::debug!(org = %name, reason, error = %message, kept_tokens = kept, "poll failed again")
                    }
                    _ => {
                        tracing::error!(org = %name, reason, error = %message, kept_tokens = kept, "poll failed; serving the last known tokens")
                    }
                }
                self.publish();
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
