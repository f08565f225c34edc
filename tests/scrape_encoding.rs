//! `/metrics` answers in the content coding a scraper asks for: the same metrics, smaller.

mod common;

use std::io::Read;
use std::time::Duration;

use chrono::TimeDelta;
use common::*;
use okta_simulator::Simulator;

const API_TOKEN: &str = "00encodingT0k3n-4b1d";

/// The series that do not move with the clock, as `name{labels} value` lines.
fn steady_series(text: &str) -> Vec<String> {
    let moving = [
        "okta_api_token_time_to_expiry_seconds",
        "okta_api_token_last_used_age_seconds",
        "process_",
        "okta_poll_duration_seconds",
        "okta_api_requests_total",
        "okta_rate_limit_",
        "okta_last_successful_poll_timestamp_seconds",
    ];
    let mut lines: Vec<String> = text
        .lines()
        .filter(|l| !l.starts_with('#') && !moving.iter().any(|m| l.starts_with(m)))
        .map(str::to_owned)
        .collect();
    lines.sort();
    lines
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gzip_and_zstd_scrapes_carry_the_same_metrics_as_plain_ones() {
    let tokens = (0..300)
        .map(|i| {
            sim_token(
                &format!("00T{i:017}"),
                &format!("integration {i}"),
                TimeDelta::days(i % 30 + 1),
                "P30D",
            )
        })
        .collect();
    let sim = Simulator::start(API_TOKEN, tokens).await.unwrap();
    let exporter = Exporter::start(Setup::new(sim.url(), API_TOKEN));
    exporter.wait_for("300 tokens", Duration::from_secs(20), |s| {
        find(s, "okta_api_token_info", &[]).len() == 300
    });
    let url = format!("{}/metrics", exporter.base);

    let (status, head, plain) = http_exchange("GET", &url, &[]);
    assert_eq!(status, 200);
    assert_eq!(header_of(&head, "content-encoding"), None, "{head}");
    assert_eq!(header_of(&head, "vary").as_deref(), Some("Accept-Encoding"));
    let plain = String::from_utf8(plain).unwrap();

    // What Prometheus sends with every scrape.
    let (status, head, gzipped) = http_exchange("GET", &url, &[("Accept-Encoding", "gzip")]);
    assert_eq!(status, 200);
    assert_eq!(
        header_of(&head, "content-encoding").as_deref(),
        Some("gzip")
    );
    let mut text = String::new();
    flate2::read::GzDecoder::new(gzipped.as_slice())
        .read_to_string(&mut text)
        .expect("a valid gzip stream");
    assert_eq!(steady_series(&text), steady_series(&plain));
    assert!(
        gzipped.len() * 10 <= plain.len(),
        "gzip: {} bytes of {}",
        gzipped.len(),
        plain.len()
    );

    let (status, head, zstd) =
        http_exchange("GET", &url, &[("Accept-Encoding", "gzip;q=0.5, zstd")]);
    assert_eq!(status, 200);
    assert_eq!(
        header_of(&head, "content-encoding").as_deref(),
        Some("zstd")
    );
    let text = String::from_utf8(zstd::stream::decode_all(zstd.as_slice()).unwrap()).unwrap();
    assert_eq!(steady_series(&text), steady_series(&plain));

    // A coding we do not speak is answered plainly, not refused.
    let (status, head, body) = http_exchange("GET", &url, &[("Accept-Encoding", "br")]);
    assert_eq!(status, 200);
    assert_eq!(header_of(&head, "content-encoding"), None);
    assert_eq!(
        steady_series(&String::from_utf8(body).unwrap()),
        steady_series(&plain)
    );
    assert!(
        steady_series(&plain).len() > 300 * 8,
        "the comparison covers the token series"
    );
}
