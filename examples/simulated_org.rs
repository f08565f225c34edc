//! A simulated Okta org with many tokens, for load and memory measurements (see `bench/`).
//!
//! `cargo run --release --example simulated_org -- 10000 127.0.0.1:18080 /tmp/okta.token`
//! serves 10,000 tokens on that address and writes the API token it accepts to the file.

use std::time::Duration;

use chrono::{TimeDelta, Utc};
use okta_simulator::{SimToken, Simulator};

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let usage = "usage: simulated_org TOKENS ADDRESS TOKEN_FILE";
    let count: usize = args.next().and_then(|n| n.parse().ok()).expect(usage);
    let address = args.next().and_then(|a| a.parse().ok()).expect(usage);
    let token_file = args.next().expect(usage);
    let api_token = format!("sim{:032x}", rand::random::<u128>());
    std::fs::write(&token_file, &api_token)?;
    let now = Utc::now();
    let tokens = (0..count)
        .map(|i| SimToken {
            id: format!("00T{i:017}"),
            name: format!("integration token {i} for a service"),
            user_id: format!("00u{:017}", i % 97),
            client_name: "Okta API".into(),
            token_window: "P30D".into(),
            network_connection: Some("ANYWHERE".into()),
            created: now - TimeDelta::days(90),
            expires_at: now + TimeDelta::hours((i % (30 * 24)) as i64 + 1),
            use_every: None,
        })
        .collect();
    let simulator = Simulator::start_on(address, &api_token, tokens).await?;
    simulator.set_rate_limit(1_000_000);
    eprintln!("serving {count} tokens at {}", simulator.url());
    loop {
        tokio::time::sleep(Duration::from_secs(3600)).await;
    }
}
