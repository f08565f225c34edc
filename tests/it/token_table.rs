//! The token table over HTTP, from the real binary polling the simulated org: the landing page at
//! `/` and the same data as JSON at `/api/v1/tokens`, with their filters.

use crate::common;

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use common::*;
use okta_simulator::Simulator;
use serde_json::Value;

const API_TOKEN: &str = "00token-table-test-token";

/// Three tokens, one of each colour the expiry gives: red (2 days left), gray (unused for 10
/// days, 20 left) and green (used an hour ago).
fn tokens() -> Vec<okta_simulator::SimToken> {
    vec![
        sim_token(
            "00Tred00000000000001",
            "Nightly export",
            TimeDelta::days(2),
            "P30D",
        ),
        sim_token(
            "00Tgray0000000000002",
            "Quarterly review",
            TimeDelta::days(20),
            "P30D",
        ),
        sim_token(
            "00Tgreen000000000003",
            "SCIM provisioning",
            TimeDelta::days(30) - TimeDelta::hours(1),
            "P30D",
        ),
    ]
}

async fn exporter() -> (Simulator, Exporter) {
    let sim = Simulator::start(API_TOKEN, tokens()).await.unwrap();
    let mut setup = Setup::new(sim.url(), API_TOKEN);
    setup.poll_interval = "1h";
    let exporter = Exporter::start(setup);
    exporter.wait_for("the first poll", Duration::from_secs(20), |s| {
        value(s, "okta_up", &[]) == 1.0
    });
    (sim, exporter)
}

fn json(exporter: &Exporter, query: &str) -> Vec<Value> {
    let (status, content_type, body) = exporter.get(&format!("/api/v1/tokens{query}"));
    assert_eq!(status, 200, "{body}");
    assert_eq!(content_type, "application/json");
    serde_json::from_str::<Value>(&body)
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

fn ids(org: &Value) -> Vec<&str> {
    org["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_json_lists_every_token_soonest_expiry_first_with_values_at_request_time() {
    let (sim, exporter) = exporter().await;
    let before = Utc::now();
    let orgs = json(&exporter, "");
    let after = Utc::now();
    assert_eq!(orgs.len(), 1);
    let org = &orgs[0];
    assert_eq!(org["org"], "test-org");
    assert_eq!(org["up"], true);
    assert!(org["last_successful_poll"].as_str().unwrap().ends_with('Z'));
    assert_eq!(
        ids(org),
        [
            "00Tred00000000000001",
            "00Tgray0000000000002",
            "00Tgreen000000000003"
        ]
    );
    let statuses: Vec<_> = org["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["red", "gray", "green"]);

    let red = &org["tokens"][0];
    let simulated = sim
        .tokens()
        .into_iter()
        .find(|t| t.id == "00Tred00000000000001")
        .unwrap();
    let time = |field: &str| {
        DateTime::parse_from_rfc3339(red[field].as_str().unwrap())
            .unwrap()
            .to_utc()
    };
    assert_eq!(
        time("expires_at"),
        simulated.expires_at.trunc_subsecs_millis()
    );
    assert_eq!(
        time("last_used_at"),
        (simulated.expires_at - TimeDelta::days(30)).trunc_subsecs_millis()
    );
    assert_eq!(time("created_at"), simulated.created.trunc_subsecs_millis());
    let to_expiry = red["time_to_expiry_seconds"].as_i64().unwrap();
    let bounds = (
        (simulated.expires_at - after).num_seconds() - 1,
        (simulated.expires_at - before).num_seconds() + 1,
    );
    assert!(
        (bounds.0..=bounds.1).contains(&to_expiry),
        "{to_expiry} within {bounds:?}: computed when asked"
    );
    assert_eq!(red["window_seconds"], 30 * 86_400);
    assert_eq!(red["name"], "Nightly export");
    assert_eq!(red["user_id"], "00utestuser000000001");
    assert_eq!(red["client_name"], "Okta API");
    assert_eq!(red["network_connection"], "ANYWHERE");
    assert!(red["owner_login"].is_string() || red["owner_login"].is_null());
    assert!(red["keepalive"].is_null(), "not kept alive");
    let fields: Vec<&str> = red
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        fields.len(),
        19,
        "exactly the documented fields: {fields:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_query_string_filters_by_status_and_org() {
    let (_sim, exporter) = exporter().await;
    assert_eq!(
        ids(&json(&exporter, "?status=red")[0]),
        ["00Tred00000000000001"]
    );
    assert_eq!(
        ids(&json(&exporter, "?status=green,gray")[0]),
        ["00Tgray0000000000002", "00Tgreen000000000003"]
    );
    assert_eq!(json(&exporter, "?org=test-org").len(), 1);
    assert!(json(&exporter, "?org=another-org").is_empty());

    let (status, _, body) = exporter.get("/api/v1/tokens?status=purple");
    assert_eq!(status, 400);
    assert!(body.contains("unknown status \"purple\""), "{body}");
    let (status, _, _) = exporter.get("/?status=purple");
    assert_eq!(status, 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_landing_page_shows_each_token_with_its_colour_word_and_a_strict_policy() {
    let (_sim, exporter) = exporter().await;
    let (status, head, page) = http_exchange("GET", &format!("{}/", exporter.base), &[]);
    let page = String::from_utf8(page).unwrap();
    assert_eq!(status, 200);
    let policy = header_of(&head, "content-security-policy").expect("a policy");
    assert!(policy.contains("default-src 'none'"), "{policy}");
    assert!(!policy.contains("unsafe-inline"), "{policy}");
    assert_eq!(
        header_of(&head, "x-content-type-options").as_deref(),
        Some("nosniff")
    );
    for (id, word) in [
        ("00Tred00000000000001", "Red"),
        ("00Tgray0000000000002", "Gray"),
        ("00Tgreen000000000003", "Green"),
    ] {
        let row = page
            .split("<tr>")
            .find(|row| row.contains(id))
            .unwrap_or_else(|| panic!("no row for {id}:\n{page}"));
        assert!(row.contains(&format!(">{word}</span>")), "{id}: {row}");
    }
    assert!(page.contains(">Red</span> 1</li>"), "counts per colour");
    assert!(!page.contains("<script"), "the page runs no script");

    let (_, _, red_only) = exporter.get("/?status=red");
    assert!(red_only.contains("00Tred00000000000001"));
    assert!(!red_only.contains("00Tgreen000000000003"));
    assert!(red_only.contains("<option value=\"red\" selected>"));
    assert!(red_only.contains("href=\"/api/v1/tokens?status=red\""));

    let (status, _, _) = http_request("HEAD", &format!("{}/api/v1/tokens", exporter.base));
    assert_eq!(status, 200);
    let (status, _, _) = http_request("POST", &format!("{}/api/v1/tokens", exporter.base));
    assert_eq!(status, 405);
}

trait TruncMillis {
    fn trunc_subsecs_millis(self) -> Self;
}

impl TruncMillis for DateTime<Utc> {
    fn trunc_subsecs_millis(self) -> Self {
        chrono::SubsecRound::trunc_subsecs(self, 3)
    }
}
