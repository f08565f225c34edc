//! One scrape's rendering (collect from the snapshot + text encoding) for 100, 1,000 and 10,000
//! tokens, plain and through each content coding. Target on the project's 2-core machines:
//! 10,000 tokens under 20 ms, plain.
//!
//! And the landing page (the token table as HTML) and `/api/v1/tokens` (as JSON) at 1,000 and
//! 10,000 tokens. Target: the page at 1,000 tokens under 50 ms.

use std::sync::Arc;
use std::time::Duration;

use chrono::{TimeDelta, Utc};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use okta_token_exporter::compression::{ChunkEncoder, Encoding};
use okta_token_exporter::landing_page::{self, Page};
use okta_token_exporter::metrics::{LabelCache, ScrapeChunks};
use okta_token_exporter::okta::ApiToken;
use okta_token_exporter::snapshot::{OrgSnapshot, Snapshots};
use okta_token_exporter::token_table::{table, to_json, Filter};

/// An org with `n` tokens spread over every state.
fn org_with_tokens(n: usize) -> OrgSnapshot {
    let now = Utc::now();
    let tokens: Vec<ApiToken> = (0..n)
        .map(|i| ApiToken {
            id: format!("00T{i:017}"),
            name: format!("integration token {i} for a service"),
            user_id: format!("00u{:017}", i % 97),
            client_name: "Okta API".into(),
            network_connection: "ANYWHERE".into(),
            window: TimeDelta::days(30),
            created: Some(now - TimeDelta::days(90)),
            expires_at: now + TimeDelta::hours((i % (30 * 24)) as i64),
        })
        .collect();
    let mut org = OrgSnapshot::new("acme-prod", "https://acme.okta.com");
    org.tokens = Arc::new(tokens);
    org.up = true;
    org.first_poll_done = true;
    org.last_success = Some(now);
    org.last_poll_duration = Some(Duration::from_millis(300));
    org
}

/// What the server does for one scrape: take every org's snapshot, then render (and encode)
/// every chunk of the body.
fn stream_one_scrape(
    registry: &prometheus::Registry,
    labels: &LabelCache,
    snapshots: &Snapshots,
    encoding: Encoding,
) -> usize {
    let chunks = ScrapeChunks::new(registry, labels, snapshots.all(), Utc::now()).unwrap();
    let Some(mut encoder) = ChunkEncoder::new(encoding) else {
        return chunks.map(|chunk| chunk.len()).sum();
    };
    let mut bytes = 0;
    for chunk in chunks {
        bytes += encoder.encode(&chunk).len();
    }
    bytes + encoder.finish().len()
}

fn scrape(c: &mut Criterion) {
    let mut group = c.benchmark_group("scrape");
    let registry = okta_token_exporter::app::registry().unwrap();
    for &n in sizes(&[100, 1_000, 10_000]) {
        let snapshots = Snapshots::new([org_with_tokens(n)]);
        // As the server keeps it: the labels escaped at the first scrape of a snapshot.
        let labels = LabelCache::new();
        group.throughput(Throughput::Elements(n as u64));
        for (name, encoding) in [
            ("identity", Encoding::Identity),
            ("gzip", Encoding::Gzip),
            ("zstd", Encoding::Zstd),
        ] {
            group.bench_with_input(BenchmarkId::new(name, n), &n, |b, _| {
                b.iter(|| stream_one_scrape(&registry, &labels, &snapshots, encoding))
            });
        }
    }
    group.finish();
}

/// What the server does for `/` and `/api/v1/tokens`: the table at this instant, then HTML or
/// JSON.
fn token_table(c: &mut Criterion) {
    let mut group = c.benchmark_group("token_table");
    for &n in sizes(&[1_000, 10_000]) {
        let orgs = vec![Arc::new(org_with_tokens(n))];
        let filter = Filter::default();
        group.throughput(Throughput::Elements(n as u64));
        group.bench_with_input(BenchmarkId::new("landing_page", n), &n, |b, _| {
            b.iter(|| {
                let now = Utc::now();
                let tables = table(&orgs, &filter, now);
                landing_page::render(&Page {
                    tables: &tables,
                    filter: &filter,
                    org_names: vec!["acme-prod"],
                    telemetry_path: "/metrics",
                    now,
                })
                .len()
            })
        });
        group.bench_with_input(BenchmarkId::new("json", n), &n, |b, _| {
            b.iter(|| {
                let tables = table(&orgs, &filter, Utc::now());
                serde_json::to_vec(&to_json(&tables)).unwrap().len()
            })
        });
    }
    group.finish();
}

/// The token counts to measure. `cargo bench` passes `--bench`; without it (`cargo test`,
/// criterion's test mode: each benchmark once, to see that it runs) the smallest count only, so
/// the test suite does not build 10,000 tokens in a debug build.
fn sizes(all: &[usize]) -> &[usize] {
    if std::env::args().any(|arg| arg == "--bench") {
        all
    } else {
        &all[..1]
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).measurement_time(Duration::from_secs(5));
    targets = scrape, token_table
}
criterion_main!(benches);
