//! The scrape-time collectors: every `/metrics` request builds fresh metrics from one snapshot of
//! every org, following the collector pattern of node_exporter: nothing is stored in metric
//! objects between scrapes, and each collector owns its families next to the data they show
//! (`tokens`, `health`, `api`, `removals`, `enrichment`, `oauth`, `keepalive`).
//!
//! Time-dependent values (time to expiry, last-use age, status) are computed from the scrape's own
//! `now`, so they are exact even when Okta has been unreachable for a while, and a token that left
//! Okta's list leaves the output with the next successful poll. Nothing here talks to Okta.

mod api;
mod enrichment;
mod health;
mod keepalive;
mod labels;
mod oauth;
mod posture;
mod removals;
mod tokens;

use std::sync::Arc;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use prometheus::proto::{Counter, Gauge, LabelPair, Metric, MetricFamily, MetricType};
use prometheus::{Encoder, Registry, TextEncoder};

use crate::exposition::escape_into;
use crate::snapshot::OrgSnapshot;
pub use labels::{LabelCache, TokenLabels};
pub use tokens::write_token_families;
use tokens::{write_token_series, Cursor, Scrape, TOKEN_FAMILIES};

/// A metric family: name, help, type and variable labels; the single source of truth for both
/// its `# HELP`/`# TYPE` lines and its series.
pub struct Spec {
    pub name: &'static str,
    pub help: &'static str,
    pub kind: MetricType,
    pub labels: &'static [&'static str],
}

/// One collector: its org-level families, and how it fills them from an org's snapshot.
struct Collector {
    specs: &'static [&'static Spec],
    collect: fn(&OrgSnapshot, DateTime<Utc>, &mut Families),
}

/// `[Collector; N]` of these modules, each by its `SPECS` and `collect`.
macro_rules! collectors {
    ($($module:ident),* $(,)?) => {
        [$(Collector { specs: &$module::SPECS, collect: $module::collect }),*]
    };
}

/// Every collector, in output order; a feature adds its metrics by adding its module here.
static COLLECTORS: [Collector; 8] =
    collectors![tokens, health, api, removals, enrichment, oauth, keepalive, posture];

/// Families under construction with the `prometheus` crate's types, in the collectors' order.
pub struct Families(Vec<(&'static Spec, MetricFamily)>);

impl Families {
    fn new() -> Families {
        Families::of(COLLECTORS.iter().flat_map(|c| c.specs.iter().copied()))
    }

    /// Empty families of these specs, in this order.
    fn of(specs: impl IntoIterator<Item = &'static Spec>) -> Families {
        Families(
            specs
                .into_iter()
                .map(|spec| {
                    let mut mf = MetricFamily::default();
                    mf.set_name(spec.name.into());
                    mf.set_help(spec.help.into());
                    mf.set_field_type(spec.kind);
                    (spec, mf)
                })
                .collect(),
        )
    }

    /// Adds one series of `spec`'s family, its label values in the spec's order.
    pub fn push(&mut self, spec: &'static Spec, label_values: &[&str], value: f64) {
        debug_assert_eq!(spec.labels.len(), label_values.len(), "{}", spec.name);
        let Some((_, family)) = self.0.iter_mut().find(|(s, _)| s.name == spec.name) else {
            debug_assert!(false, "{} is in no collector's SPECS", spec.name);
            return;
        };
        let labels = spec
            .labels
            .iter()
            .zip(label_values)
            .map(|(name, value)| {
                let mut pair = LabelPair::default();
                pair.set_name((*name).into());
                pair.set_value((*value).into());
                pair
            })
            .collect();
        let mut metric = Metric::from_label(labels);
        if spec.kind == MetricType::COUNTER {
            let mut counter = Counter::default();
            counter.set_value(value);
            metric.set_counter(counter);
        } else {
            let mut gauge = Gauge::default();
            gauge.set_value(value);
            metric.set_gauge(gauge);
        }
        family.mut_metric().push(metric);
    }

    fn finish(self) -> Vec<MetricFamily> {
        self.0
            .into_iter()
            .map(|(_, family)| family)
            .filter(|mf| !mf.get_metric().is_empty())
            .collect()
    }
}

/// The whole `/metrics` body for one scrape, in one buffer (for tests and benchmarks; the
/// server streams the same bytes with [`ScrapeChunks`]).
pub fn encode(
    registry: &Registry,
    orgs: &[Arc<OrgSnapshot>],
    now: DateTime<Utc>,
) -> prometheus::Result<Vec<u8>> {
    let mut out = encode_head(registry, orgs, now)?;
    write_token_families(&mut out, orgs, now);
    Ok(out)
}

/// The registry's own metrics (build info, process) and every org's families.
fn encode_head(
    registry: &Registry,
    orgs: &[Arc<OrgSnapshot>],
    now: DateTime<Utc>,
) -> prometheus::Result<Vec<u8>> {
    let mut families = registry.gather();
    families.extend(org_families(orgs, now));
    let mut out = Vec::with_capacity(16 * 1024);
    TextEncoder::new().encode(&families, &mut out)?;
    Ok(out)
}

/// How much text the streaming body renders at a time.
const CHUNK_BYTES: usize = 64 * 1024;

/// One scrape's exposition text, rendered chunk by chunk as the reader asks for it: a scrape of
/// 10,000 tokens (about 20 MB of text) never holds more than one chunk, so scrapes do not grow
/// the exporter's memory. The server turns the chunks into a response body, compressed or not.
pub struct ScrapeChunks {
    head: Option<Bytes>,
    orgs: Vec<Arc<OrgSnapshot>>,
    /// The labels of each of `orgs`.
    labels: Vec<Arc<TokenLabels>>,
    now: DateTime<Utc>,
    cursor: Cursor,
}

impl ScrapeChunks {
    /// `orgs` is the scrape's snapshot, `now` its time; `labels` escapes the labels of a
    /// snapshot not scraped before.
    pub fn new(
        registry: &Registry,
        labels: &LabelCache,
        orgs: Vec<Arc<OrgSnapshot>>,
        now: DateTime<Utc>,
    ) -> prometheus::Result<ScrapeChunks> {
        let head = encode_head(registry, &orgs, now)?;
        Ok(ScrapeChunks {
            head: Some(Bytes::from(head)),
            labels: labels.labels(&orgs),
            orgs,
            now,
            cursor: Cursor::default(),
        })
    }

    /// Whether every chunk was handed out.
    pub fn is_done(&self) -> bool {
        self.head.is_none() && self.cursor.family >= TOKEN_FAMILIES.len()
    }
}

impl Iterator for ScrapeChunks {
    type Item = Bytes;

    fn next(&mut self) -> Option<Bytes> {
        if let Some(head) = self.head.take() {
            return Some(head);
        }
        let mut chunk = Vec::with_capacity(CHUNK_BYTES + 4096);
        let scrape = Scrape {
            orgs: &self.orgs,
            labels: &self.labels,
            now: self.now,
        };
        write_token_series(&mut chunk, scrape, &mut self.cursor, CHUNK_BYTES);
        (!chunk.is_empty()).then(|| Bytes::from(chunk))
    }
}

/// The org-level families of every collector, with the `prometheus` crate.
pub fn org_families(orgs: &[Arc<OrgSnapshot>], now: DateTime<Utc>) -> Vec<MetricFamily> {
    let mut families = Families::new();
    for org in orgs {
        for collector in &COLLECTORS {
            (collector.collect)(org, now, &mut families);
        }
    }
    families.finish()
}

fn write_header(out: &mut Vec<u8>, spec: &Spec) {
    out.extend_from_slice(b"# HELP ");
    out.extend_from_slice(spec.name.as_bytes());
    out.push(b' ');
    escape_into(out, spec.help, false);
    out.extend_from_slice(b"\n# TYPE ");
    out.extend_from_slice(spec.name.as_bytes());
    out.extend_from_slice(if spec.kind == MetricType::COUNTER {
        b" counter\n"
    } else {
        b" gauge\n"
    });
}

fn seconds(t: DateTime<Utc>) -> f64 {
    t.timestamp_millis() as f64 / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::status::TokenStatus;
    use crate::model::{ApiToken, Off, Owner, Suspicion, UntimedToken};
    use chrono::TimeDelta;
    use std::collections::HashMap;
    use std::sync::Arc;
    use tokens::token_status;

    fn token(
        id: &str,
        name: &str,
        expires_in: TimeDelta,
        window: TimeDelta,
        now: DateTime<Utc>,
    ) -> ApiToken {
        ApiToken {
            id: id.into(),
            name: name.into(),
            user_id: "00u1".into(),
            client_name: "Okta \"API\"".into(),
            network_connection: "ANYWHERE".into(),
            window,
            created: Some(now - TimeDelta::days(40) + TimeDelta::milliseconds(250)),
            expires_at: now + expires_in,
        }
    }

    fn shared(orgs: Vec<OrgSnapshot>) -> Vec<Arc<OrgSnapshot>> {
        orgs.into_iter().map(Arc::new).collect()
    }

    fn orgs(now: DateTime<Utc>) -> Vec<Arc<OrgSnapshot>> {
        shared(snapshots(now))
    }

    fn snapshots(now: DateTime<Utc>) -> Vec<OrgSnapshot> {
        let mut a = OrgSnapshot::new("acme", "https://acme.okta.com");
        a.tokens = Arc::new(vec![
            token(
                "00T1",
                "Legacy \"backup\" C:\\scripts\nnightly 🚀",
                TimeDelta::days(20),
                TimeDelta::days(30),
                now,
            ),
            token(
                "00T2",
                "ci",
                TimeDelta::milliseconds(1500),
                TimeDelta::minutes(5),
                now,
            ),
            token(
                "00T3",
                "expired",
                -TimeDelta::hours(1),
                TimeDelta::days(30),
                now,
            ),
        ]);
        let mut b = OrgSnapshot::new("beta", "https://beta.okta.com");
        let mut never_created = token(
            "00T9",
            "no created",
            TimeDelta::days(29),
            TimeDelta::days(30),
            now,
        );
        never_created.created = None;
        b.tokens = Arc::new(vec![never_created]);
        // An agent token Okta lists without an expiry, in each org; acme's is suspicious.
        let agent = |id: &str| UntimedToken {
            id: id.into(),
            name: "AD agent".into(),
            user_id: "00u1".into(),
            client_name: "Okta AD Agent".into(),
            network_connection: String::new(),
            created: None,
            missing: "expiresAt",
        };
        a.untimed_tokens = Arc::new(vec![agent("00Tagent1")]);
        b.untimed_tokens = Arc::new(vec![agent("00Tagent2")]);
        // acme: an owner with a quote in its login, and 00T1 used from outside its network zones.
        a.enrichment.owners = Arc::new(HashMap::from([(
            "00u1".to_owned(),
            Owner {
                login: "svc\"ci@acme.com".into(),
                status: "SUSPENDED".into(),
                usable: Some(false),
                fetched_at: now,
            },
        )]));
        a.enrichment.suspicious = Arc::new(HashMap::from([
            (
                "00T1".to_owned(),
                Suspicion {
                    last: now - TimeDelta::hours(1),
                    count: 3,
                },
            ),
            (
                "00Tagent1".to_owned(),
                Suspicion {
                    last: now - TimeDelta::hours(2),
                    count: 1,
                },
            ),
        ]));
        // beta: the credential may not read the System Log, and no owner is known.
        b.enrichment.system_log_off = Some(Off::Forbidden);
        vec![a, b]
    }

    /// The slow, obviously right rendering with the `prometheus` crate's own types and encoder.
    fn oracle(orgs: &[Arc<OrgSnapshot>], now: DateTime<Utc>) -> Vec<u8> {
        let mut families = Families::of(tokens::TOKEN_SPECS);
        for org in orgs {
            for t in org.tokens.iter() {
                let labels = [org.name.as_str(), &t.id, &t.name, &t.user_id];
                let last_used = t.last_used();
                families.push(&tokens::EXPIRY, &labels, seconds(t.expires_at));
                families.push(
                    &tokens::TIME_TO_EXPIRY,
                    &labels,
                    (t.expires_at - now).num_milliseconds() as f64 / 1000.0,
                );
                families.push(&tokens::LAST_USED, &labels, seconds(last_used));
                families.push(
                    &tokens::LAST_USED_AGE,
                    &labels,
                    (now - last_used).num_milliseconds() as f64 / 1000.0,
                );
                if let Some(created) = t.created {
                    families.push(&tokens::CREATED, &labels, seconds(created));
                }
                families.push(&tokens::WINDOW, &labels, t.window.num_seconds() as f64);
                let current = token_status(org, t, now);
                for state in TokenStatus::ALL {
                    let [o, i, n, u] = labels;
                    families.push(
                        &tokens::STATUS,
                        &[o, i, n, u, state.as_str()],
                        if state == current { 1.0 } else { 0.0 },
                    );
                }
                let [o, i, n, u] = labels;
                let owner = org.enrichment.owners.get(&t.user_id);
                let (login, status) =
                    owner.map_or(("", ""), |o| (o.login.as_str(), o.status.as_str()));
                families.push(
                    &tokens::INFO,
                    &[
                        o,
                        i,
                        n,
                        u,
                        &t.client_name,
                        &t.network_connection,
                        login,
                        status,
                    ],
                    1.0,
                );
                if let Some(usable) = owner.and_then(|o| o.usable) {
                    families.push(
                        &tokens::OWNER_ACTIVE,
                        &labels,
                        if usable { 1.0 } else { 0.0 },
                    );
                }
                if org.enrichment.system_log_off.is_none() {
                    let count = org.enrichment.suspicious.get(&t.id).map_or(0, |s| s.count);
                    families.push(&tokens::SUSPICIOUS_EVENTS, &labels, count as f64);
                }
            }
            for t in org.untimed_tokens.iter() {
                let [o, i, n, u] = [org.name.as_str(), &t.id, &t.name, &t.user_id];
                let yellow = org.enrichment.is_suspicious(&t.id, now);
                for state in TokenStatus::ALL {
                    let on = state == TokenStatus::Yellow && yellow;
                    families.push(
                        &tokens::STATUS,
                        &[o, i, n, u, state.as_str()],
                        if on { 1.0 } else { 0.0 },
                    );
                }
                let owner = org.enrichment.owners.get(&t.user_id);
                let (login, status) =
                    owner.map_or(("", ""), |o| (o.login.as_str(), o.status.as_str()));
                let info = [
                    o,
                    i,
                    n,
                    u,
                    &t.client_name,
                    &t.network_connection,
                    login,
                    status,
                ];
                families.push(&tokens::INFO, &info, 1.0);
            }
            posture::push_token_series(&mut families, org, now);
        }
        let mut out = Vec::new();
        TextEncoder::new()
            .encode(&families.finish(), &mut out)
            .unwrap();
        out
    }

    #[test]
    fn token_families_match_the_prometheus_crate_encoder_byte_for_byte() {
        let now = DateTime::parse_from_rfc3339("2026-11-22T12:00:00.123Z")
            .unwrap()
            .to_utc();
        let orgs = orgs(now);
        let mut fast = Vec::new();
        write_token_families(&mut fast, &orgs, now);
        let expected = oracle(&orgs, now);
        assert_eq!(
            String::from_utf8(fast).unwrap(),
            String::from_utf8(expected).unwrap()
        );
    }

    #[test]
    fn the_streamed_body_is_the_same_text_in_small_chunks() {
        let now = Utc::now();
        let many: Vec<ApiToken> = (0..2000)
            .map(|i| {
                token(
                    &format!("00T{i:05}"),
                    &format!("token {i}"),
                    TimeDelta::days(i % 40),
                    TimeDelta::days(30),
                    now,
                )
            })
            .collect();
        let mut org = OrgSnapshot::new("big", "");
        org.tokens = Arc::new(many);
        let orgs = vec![Arc::new(org), orgs(now).remove(0)];
        let registry = Registry::new();
        let whole = encode(&registry, &orgs, now).unwrap();
        let mut body = ScrapeChunks::new(&registry, &LabelCache::new(), orgs, now).unwrap();
        let mut streamed = Vec::new();
        let mut chunks = 0;
        for data in body.by_ref() {
            assert!(
                data.len() < CHUNK_BYTES + 4096,
                "a chunk of {} bytes",
                data.len()
            );
            streamed.extend_from_slice(&data);
            chunks += 1;
        }
        assert!(body.is_done());
        assert!(chunks > 10, "{chunks} chunks");
        let first_difference = streamed.iter().zip(&whole).position(|(a, b)| a != b);
        assert_eq!(first_difference, None, "streamed and whole differ");
        assert_eq!(streamed.len(), whole.len());
    }

    /// Resuming at every possible chunk boundary gives the same text as writing it at once.
    #[test]
    fn token_series_resume_exactly_where_a_chunk_ended() {
        let now = Utc::now();
        let orgs = orgs(now);
        let mut whole = Vec::new();
        write_token_families(&mut whole, &orgs, now);
        let labels = LabelCache::new().labels(&orgs);
        let scrape = Scrape {
            orgs: &orgs,
            labels: &labels,
            now,
        };
        for limit in [1, 2, 100, 333, 1000, 4096] {
            let mut cursor = Cursor::default();
            let mut pieced = Vec::new();
            while cursor.family < TOKEN_FAMILIES.len() {
                let mut chunk = Vec::new();
                write_token_series(&mut chunk, scrape, &mut cursor, limit);
                pieced.extend_from_slice(&chunk);
            }
            assert!(
                pieced == whole,
                "chunks of {limit} bytes put together differ from the whole"
            );
        }
    }

    #[test]
    fn no_tokens_no_token_families() {
        let mut out = Vec::new();
        write_token_families(
            &mut out,
            &[Arc::new(OrgSnapshot::new("empty", ""))],
            Utc::now(),
        );
        assert!(out.is_empty());
    }

    #[test]
    fn counts_per_status_always_list_all_four_states() {
        let now = Utc::now();
        let families = org_families(&orgs(now), now);
        let tokens = families
            .iter()
            .find(|f| f.name() == "okta_api_tokens")
            .unwrap();
        let acme: Vec<(String, f64)> = tokens
            .get_metric()
            .iter()
            .filter(|m| m.get_label()[0].value() == "acme")
            .map(|m| {
                (
                    m.get_label()[1].value().to_owned(),
                    m.get_gauge().get_value(),
                )
            })
            .collect();
        assert_eq!(
            acme,
            [
                ("green".into(), 0.0),
                ("gray".into(), 0.0),
                ("red".into(), 2.0),
                ("yellow".into(), 2.0)
            ]
        );
    }

    #[test]
    fn a_token_without_an_expiry_has_info_and_status_and_nothing_timed() {
        let now = Utc::now();
        let mut out = Vec::new();
        write_token_families(&mut out, &orgs(now), now);
        let text = String::from_utf8(out).unwrap();
        let agent: Vec<&str> = text
            .lines()
            .filter(|l| l.contains("token_id=\"00Tagent1\""))
            .collect();
        let names: std::collections::BTreeSet<&str> =
            agent.iter().map(|l| l.split('{').next().unwrap()).collect();
        // Its posture too (an agent's token, its owner's roles unknown), but nothing timed.
        assert_eq!(
            names.into_iter().collect::<Vec<_>>(),
            [
                "okta_api_token_agent",
                "okta_api_token_info",
                "okta_api_token_owner_highest_admin_role",
                "okta_api_token_status"
            ]
        );
        assert!(
            agent.iter().any(|l| l.contains("status=\"yellow\"} 1")),
            "{agent:?}"
        );
        assert!(
            agent.iter().any(|l| l.contains("status=\"red\"} 0")),
            "{agent:?}"
        );
    }
}
