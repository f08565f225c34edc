//! Okta misbehaving, one fault at a time, against the real binary: for each fault the last known
//! token set stays whole, `okta_up` turns 0, the error is logged once when the org's health
//! changes (not on every poll), and the exporter recovers by itself once the fault clears.

use crate::common;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use chrono::TimeDelta;
use common::*;
use okta_simulator::{Fault, SimToken, Simulator};

const API_TOKEN: &str = "fault-test-token";
const WAIT: Duration = Duration::from_secs(30);

fn tokens() -> Vec<SimToken> {
    (1..=7)
        .map(|i| {
            sim_token(
                &format!("00T{i:017}"),
                &format!("token {i}"),
                TimeDelta::days(i * 4),
                "P30D",
            )
        })
        .collect()
}

fn token_ids(samples: &[Sample]) -> Vec<String> {
    let mut ids: Vec<String> = find(samples, "okta_api_token_info", &[])
        .iter()
        .map(|s| s.label("token_id").to_owned())
        .collect();
    ids.sort();
    ids
}

fn errors(samples: &[Sample], reason: &str) -> f64 {
    value(samples, "okta_poll_errors_total", &[("reason", reason)])
}

fn up(samples: &[Sample]) -> f64 {
    value(samples, "okta_up", &[("org", "test-org")])
}

fn is_error(line: &str) -> bool {
    line.contains("level=error")
}

fn is_poll_success(line: &str) -> bool {
    line.contains("level=info") && line.contains("polled Okta")
}

/// One fault case: how to break the org, the `reason` it must be counted under, how to mend it.
struct Case {
    reason: &'static str,
    page_size: usize,
    setup: fn(&mut Setup),
    inject: Box<dyn Fn(&Simulator) + Send>,
}

fn repeated(page: Option<usize>, fault: Fault) -> Box<dyn Fn(&Simulator) + Send> {
    Box::new(move |sim| {
        for _ in 0..200 {
            sim.push_fault(page, fault.clone());
        }
    })
}

fn no_setup(_: &mut Setup) {}

/// Runs the exporter to a first complete poll, breaks the org until two polls failed, mends it,
/// and checks what must hold throughout.
async fn survives(case: Case) -> (Simulator, Exporter) {
    let sim = Simulator::start(API_TOKEN, tokens()).await.unwrap();
    sim.set_page_size(case.page_size);
    let mut setup = Setup::new(sim.url(), API_TOKEN);
    (case.setup)(&mut setup);
    let exporter = Exporter::start(setup);
    let before = exporter.wait_for("the first complete poll", WAIT, |s| {
        token_ids(s).len() == 7 && up(s) == 1.0
    });

    (case.inject)(&sim);
    let failing = exporter.wait_for("two failed polls", WAIT, |s| errors(s, case.reason) >= 2.0);
    assert_eq!(
        up(&failing),
        0.0,
        "{}: okta_up must be 0 while failing",
        case.reason
    );
    assert_eq!(
        token_ids(&failing),
        token_ids(&before),
        "{}: the last known tokens must stay whole",
        case.reason
    );
    for id in token_ids(&before) {
        let labels = [("token_id", id.as_str())];
        assert_eq!(
            value(&failing, "okta_api_token_expiry_timestamp_seconds", &labels),
            value(&before, "okta_api_token_expiry_timestamp_seconds", &labels)
        );
    }
    let logged = exporter.wait_for_log("the outage's error line", is_error, |l| !l.is_empty());
    assert_eq!(
        logged.len(),
        1,
        "{}: one error line for the outage, not one per poll:\n{}",
        case.reason,
        logged.join("\n")
    );
    assert!(
        logged[0].contains(&format!("reason={}", case.reason)),
        "{}",
        logged[0]
    );

    sim.clear_faults();
    let recovered = exporter.wait_for("recovery", WAIT, |s| up(s) == 1.0);
    assert_eq!(token_ids(&recovered), token_ids(&before));
    let info = exporter.wait_for_log("the recovery's info line", is_poll_success, |l| {
        l.len() >= 2
    });
    assert_eq!(
        info.len(),
        2,
        "the first success and the recovery are logged:\n{}",
        info.join("\n")
    );
    (sim, exporter)
}

fn okta_error(status: u16, code: &str) -> Fault {
    Fault::OktaError {
        status,
        error_code: code.into(),
        summary: format!("simulated {status}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_500_is_survived() {
    survives(Case {
        reason: "server_error",
        page_size: 200,
        setup: no_setup,
        inject: repeated(None, okta_error(500, "E0000009")),
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_502_from_a_proxy_is_survived() {
    survives(Case {
        reason: "server_error",
        page_size: 200,
        setup: no_setup,
        inject: repeated(None, Fault::Html { status: 502 }),
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_503_is_survived() {
    survives(Case {
        reason: "server_error",
        page_size: 200,
        setup: no_setup,
        inject: repeated(None, okta_error(503, "E0000010")),
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failure_on_page_two_of_three_is_survived() {
    survives(Case {
        reason: "server_error",
        page_size: 3,
        setup: no_setup,
        inject: repeated(Some(2), okta_error(500, "E0000009")),
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_server_times_out_and_is_survived() {
    fn short_timeout(setup: &mut Setup) {
        setup.request_timeout = "500ms";
    }
    survives(Case {
        reason: "timeout",
        page_size: 200,
        setup: short_timeout,
        inject: repeated(None, Fault::Delay(Duration::from_secs(2))),
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn truncated_json_is_survived() {
    survives(Case {
        reason: "decode",
        page_size: 200,
        setup: no_setup,
        inject: repeated(None, Fault::TruncatedJson),
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_html_maintenance_page_with_200_is_survived() {
    survives(Case {
        reason: "decode",
        page_size: 200,
        setup: no_setup,
        inject: repeated(None, Fault::Html { status: 200 }),
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_content_type_is_survived() {
    survives(Case {
        reason: "decode",
        page_size: 200,
        setup: no_setup,
        inject: repeated(None, Fault::WrongContentType),
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_next_link_to_itself_is_survived() {
    survives(Case {
        reason: "pagination",
        page_size: 3,
        setup: no_setup,
        inject: repeated(Some(2), Fault::NextLinkToSelf),
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_next_link_to_another_host_is_refused_and_survived() {
    // tests/it/client.rs shows that nothing connects to the other host.
    survives(Case {
        reason: "pagination",
        page_size: 3,
        setup: no_setup,
        inject: repeated(Some(1), Fault::NextLinkToOtherHost),
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_response_hits_the_size_cap_and_is_survived() {
    fn small_cap(setup: &mut Setup) {
        setup.max_response_bytes = 64 * 1024;
    }
    survives(Case {
        reason: "decode",
        page_size: 200,
        setup: small_cap,
        inject: repeated(None, Fault::Oversized { bytes: 200 * 1024 }),
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_concurrency_429_is_survived() {
    survives(Case {
        reason: "rate_limited",
        page_size: 200,
        setup: no_setup,
        inject: repeated(
            None,
            Fault::RateLimited {
                reset_after: Duration::from_millis(200),
                concurrency: true,
            },
        ),
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_is_survived_and_nothing_is_sent_before_its_reset() {
    let (sim, _) = survives(Case {
        reason: "rate_limited",
        page_size: 200,
        setup: no_setup,
        inject: repeated(
            None,
            Fault::RateLimited {
                reset_after: Duration::from_secs(1),
                concurrency: false,
            },
        ),
    })
    .await;
    let requests = sim.requests();
    let epoch = |t: SystemTime| t.duration_since(UNIX_EPOCH).unwrap().as_secs_f64();
    for pair in requests.windows(2) {
        if pair[0].status == 429 {
            // The reset was announced as now + 1 s rounded up to a whole second.
            let reset = (epoch(pair[0].received_at) + 1.0).ceil();
            assert!(
                epoch(pair[1].received_at) >= reset,
                "a request {:.3}s before the reset",
                reset - epoch(pair[1].received_at)
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_refused_is_survived_until_okta_is_back() {
    let sim = Simulator::start(API_TOKEN, tokens()).await.unwrap();
    let addr = sim.local_addr();
    let exporter = Exporter::start(Setup::new(sim.url(), API_TOKEN));
    let before = exporter.wait_for("the first complete poll", WAIT, |s| token_ids(s).len() == 7);
    sim.shutdown();
    let failing = exporter.wait_for("two refused polls", WAIT, |s| errors(s, "connect") >= 2.0);
    assert_eq!(up(&failing), 0.0);
    assert_eq!(token_ids(&failing), token_ids(&before));
    let logged = exporter.wait_for_log("the outage's error line", is_error, |l| !l.is_empty());
    assert_eq!(logged.len(), 1, "one error line:\n{}", logged.join("\n"));
    let _back = Simulator::start_on(addr, API_TOKEN, tokens())
        .await
        .unwrap();
    exporter.wait_for("recovery", WAIT, |s| {
        up(s) == 1.0 && token_ids(s).len() == 7
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_untrusted_tls_certificate_is_refused_and_the_token_never_sent() {
    let certified =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
            .unwrap();
    let sim = Simulator::start_tls(
        API_TOKEN,
        tokens(),
        &certified.cert.pem(),
        &certified.signing_key.serialize_pem(),
    )
    .await
    .unwrap();
    assert!(sim.url().starts_with("https://"));
    let exporter = Exporter::start(Setup::new(sim.url(), API_TOKEN));
    let samples = exporter.wait_for("a refused poll", WAIT, |s| errors(s, "connect") >= 1.0);
    assert_eq!(up(&samples), 0.0);
    assert!(token_ids(&samples).is_empty());
    assert!(
        sim.requests().is_empty(),
        "no request got through the handshake"
    );
    exporter.wait_for_log(
        "why the poll was refused",
        |l| l.contains("certificate") || l.contains("Certificate"),
        |l| !l.is_empty(),
    );
}
