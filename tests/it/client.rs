//! The Okta client on its own, against the simulated org: what a poll costs and where it refuses
//! to go.

use crate::common;

use std::time::Duration;

use chrono::TimeDelta;
use common::sim_token;
use okta_simulator::{Fault, SimToken, Simulator};
use okta_token_exporter::config::HttpSettings;
use okta_token_exporter::okta::client::TokenList;
use okta_token_exporter::okta::{OktaClient, PollError, PollErrorReason, PollStats};
use okta_token_exporter::secret::Secret;

const API_TOKEN: &str = "client-test-token";

fn many(n: usize) -> Vec<SimToken> {
    (0..n)
        .map(|i| {
            sim_token(
                &format!("00T{i:017}"),
                &format!("token {i}"),
                TimeDelta::days(10),
                "P30D",
            )
        })
        .collect()
}

fn client(sim: &Simulator) -> OktaClient {
    let settings = HttpSettings {
        max_retries: 1,
        retry_backoff: Duration::from_millis(10),
        ..HttpSettings::default()
    };
    OktaClient::new(sim.url().parse().unwrap(), Secret::new(API_TOKEN), settings).unwrap()
}

async fn poll(sim: &Simulator) -> (Result<TokenList, PollError>, PollStats) {
    let mut stats = PollStats::default();
    let result = client(sim).list_api_tokens(&mut stats).await;
    (result, stats)
}

#[tokio::test]
async fn a_poll_of_n_tokens_costs_ceil_n_over_the_page_size_requests() {
    let cases = [
        (0, 200, 1),
        (1, 200, 1),
        (200, 200, 1),
        (201, 200, 2),
        (1000, 200, 5),
        (7, 3, 3),
    ];
    for (tokens, page_size, requests) in cases {
        let sim = Simulator::start(API_TOKEN, many(tokens)).await.unwrap();
        sim.set_page_size(page_size);
        let (result, stats) = poll(&sim).await;
        let list = result.unwrap();
        assert_eq!(list.tokens.len(), tokens);
        assert_eq!(
            list.pages, requests,
            "{tokens} tokens, pages of {page_size}"
        );
        assert_eq!(
            sim.requests().len(),
            requests,
            "{tokens} tokens, pages of {page_size}"
        );
        assert_eq!(stats.responses.len(), requests);
    }
}

#[tokio::test]
async fn a_next_link_back_to_a_page_already_read_stops_the_poll() {
    let sim = Simulator::start(API_TOKEN, many(5)).await.unwrap();
    sim.set_page_size(2);
    sim.push_fault(Some(2), Fault::NextLinkToSelf);
    let (result, _) = poll(&sim).await;
    let error = result.unwrap_err();
    assert_eq!(error.reason(), PollErrorReason::Pagination);
    assert!(error.to_string().contains("already read"), "{error}");
    assert_eq!(sim.requests().len(), 2, "stops at once, without retrying");
}

#[tokio::test]
async fn credentials_are_never_sent_to_a_next_link_on_another_host() {
    let sim = Simulator::start(API_TOKEN, many(5)).await.unwrap();
    sim.set_page_size(2);
    // Something listening where the foreign link points, to see whether anything arrives.
    let foreign = std::net::TcpListener::bind(("127.0.0.2", sim.local_addr().port())).unwrap();
    foreign.set_nonblocking(true).unwrap();
    sim.push_fault(Some(1), Fault::NextLinkToOtherHost);
    let (result, _) = poll(&sim).await;
    let error = result.unwrap_err();
    assert_eq!(error.reason(), PollErrorReason::Pagination);
    assert!(error.to_string().contains("http://127.0.0.2"), "{error}");
    assert!(
        foreign.accept().is_err(),
        "a connection reached the foreign host"
    );
    assert_eq!(sim.requests().len(), 1);
}

#[tokio::test]
async fn transient_failures_are_retried_and_permanent_ones_are_not() {
    let sim = Simulator::start(API_TOKEN, many(3)).await.unwrap();
    sim.push_fault(None, Fault::Html { status: 502 });
    let (result, stats) = poll(&sim).await;
    assert_eq!(result.unwrap().tokens.len(), 3, "one retry got through");
    assert_eq!(
        stats
            .responses
            .iter()
            .map(|(_, code)| *code)
            .collect::<Vec<_>>(),
        [502, 200]
    );

    let sim = Simulator::start(API_TOKEN, many(3)).await.unwrap();
    sim.push_fault(
        None,
        Fault::OktaError {
            status: 404,
            error_code: "E0000007".into(),
            summary: "Not found".into(),
        },
    );
    let (result, _) = poll(&sim).await;
    assert_eq!(result.unwrap_err().reason(), PollErrorReason::ClientError);
    assert_eq!(sim.requests().len(), 1, "a 404 is not retried");
}

#[tokio::test]
async fn a_response_without_json_content_type_is_a_decode_error() {
    let sim = Simulator::start(API_TOKEN, many(3)).await.unwrap();
    sim.push_fault(None, Fault::WrongContentType);
    let (result, _) = poll(&sim).await;
    let error = result.unwrap_err();
    assert_eq!(error.reason(), PollErrorReason::Decode);
    assert!(error.to_string().contains("text/plain"), "{error}");
}

#[tokio::test]
async fn the_credential_does_not_show_in_the_client_debug_output() {
    let sim = Simulator::start(API_TOKEN, many(1)).await.unwrap();
    let shown = format!("{:?}", client(&sim));
    assert!(!shown.contains(API_TOKEN), "{shown}");
    assert!(shown.contains("REDACTED"), "{shown}");
}
