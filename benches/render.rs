//! One scrape's rendering (collect from the snapshot + text encoding) for 100, 1,000 and 10,000
//! tokens. Target on the project's 2-core machines: 10,000 tokens under 20 ms.

use std::sync::Arc;
use std::time::Duration;

use chrono::{TimeDelta, Utc};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use okta_token_exporter::metrics;
use okta_token_exporter::okta::ApiToken;
use okta_token_exporter::state::{OrgState, Store};

/// An org with `n` tokens spread over every state.
fn org_with_tokens(n: usize) -> OrgState {
    let now = Utc::now();
    let tokens = (0..n)
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
    let mut org = OrgState::new("acme-prod", "https://acme.okta.com");
    org.tokens = Arc::new(tokens);
    org.up = true;
    org.first_poll_done = true;
    org.last_success = Some(now);
    org.last_poll_duration = Some(Duration::from_millis(300));
    org
}

fn scrape(c: &mut Criterion) {
    let mut group = c.benchmark_group("scrape");
    for n in [100, 1_000, 10_000] {
        let store = Store::new([org_with_tokens(n)]);
        let registry = okta_token_exporter::app::registry().unwrap();
        group.throughput(Throughput::Elements(n as u64));
        group.bench_with_input(BenchmarkId::new("snapshot_and_encode", n), &n, |b, _| {
            b.iter(|| {
                metrics::encode(&registry, &store.snapshot(), Utc::now())
                    .unwrap()
                    .len()
            })
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).measurement_time(Duration::from_secs(5));
    targets = scrape
}
criterion_main!(benches);
