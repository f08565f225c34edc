//! One scrape's rendering (collect from the snapshot + text encoding) for 100, 1,000 and 10,000
//! tokens. Target on the project's 2-core machines: 10,000 tokens under 20 ms.

use std::sync::Arc;
use std::time::Duration;

use chrono::{TimeDelta, Utc};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use hyper::body::Body;
use okta_token_exporter::metrics::{self, MetricsBody};
use okta_token_exporter::okta::ApiToken;
use okta_token_exporter::state::{OrgState, Store};
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

/// An org with `n` tokens spread over every state.
fn org_with_tokens(n: usize) -> OrgState {
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
    let mut org = OrgState::new("acme-prod", "https://acme.okta.com");
    // As the poller leaves it: labels escaped once per poll.
    org.token_labels = Arc::new(
        tokens
            .iter()
            .map(|t| metrics::token_labels("acme-prod", t))
            .collect(),
    );
    org.tokens = Arc::new(tokens);
    org.up = true;
    org.first_poll_done = true;
    org.last_success = Some(now);
    org.last_poll_duration = Some(Duration::from_millis(300));
    org
}

/// What the server does for one scrape: snapshot, then stream every chunk of the body.
fn stream_one_scrape(registry: &prometheus::Registry, store: &Store) -> usize {
    let mut body = MetricsBody::new(registry, store.snapshot(), Utc::now()).unwrap();
    let mut cx = Context::from_waker(Waker::noop());
    let mut bytes = 0;
    while let Poll::Ready(Some(frame)) = Pin::new(&mut body).poll_frame(&mut cx) {
        bytes += frame.unwrap().into_data().unwrap().len();
    }
    bytes
}

fn scrape(c: &mut Criterion) {
    let mut group = c.benchmark_group("scrape");
    let registry = okta_token_exporter::app::registry().unwrap();
    for n in [100, 1_000, 10_000] {
        let prepared = Store::new([org_with_tokens(n)]);
        // The same org as a state built by hand would hold it: labels escaped on every scrape.
        // Kept to measure what preparing them once per poll saves, in the same run.
        let mut org = org_with_tokens(n);
        org.token_labels = Arc::default();
        let unprepared = Store::new([org]);
        group.throughput(Throughput::Elements(n as u64));
        group.bench_with_input(BenchmarkId::new("scrape_streamed", n), &n, |b, _| {
            b.iter(|| stream_one_scrape(&registry, &prepared))
        });
        group.bench_with_input(
            BenchmarkId::new("scrape_streamed_labels_per_scrape", n),
            &n,
            |b, _| b.iter(|| stream_one_scrape(&registry, &unprepared)),
        );
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).measurement_time(Duration::from_secs(5));
    targets = scrape
}
criterion_main!(benches);
