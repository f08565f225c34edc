//! `/metrics` answers in the content coding a scraper asks for: the same metrics, smaller.

use crate::common;

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
        "okta_api_token_age_seconds",
        "process_",
        "okta_poll_duration_seconds",
        "okta_api_requests_total",
        "okta_rate_limit_",
        "okta_last_successful_poll_timestamp_seconds",
        // Which connections are open (the last scrape's may still be closing).
        "okta_exporter_http_connections{",
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

/// The golden exposition (node_exporter's `e2e-output.txt` idea): the demo org's tokens, owners
/// and System Log, as a poll leaves them, with a removal, a 429 and a keep-alive, rendered at a
/// fixed clock must be byte for byte `tests/fixtures/exposition.txt`. Every change to a metric's
/// name, help, labels, value or order shows as a diff of that file. After a deliberate change,
/// rewrite it with `UPDATE_GOLDEN=1 cargo test --test it golden` and review the diff.
#[test]
fn the_demo_org_renders_to_the_golden_exposition() {
    use okta_token_exporter::enrich::{Enrichment, Owner, Suspicion};
    use okta_token_exporter::okta::client::TokenList;
    use okta_token_exporter::okta::model::ListedToken;
    use okta_token_exporter::okta::{PollStats, RateLimit};
    use okta_token_exporter::state::OrgState;
    use std::collections::HashMap;
    use std::sync::Arc;

    let at = |s: &str| chrono::DateTime::parse_from_rfc3339(s).unwrap().to_utc();
    let now = at("2026-12-05T12:00:00.250Z");
    let poll = at("2026-12-05T11:58:00Z");
    let json = |t: &okta_simulator::SimToken| {
        let stamp = |t: chrono::DateTime<chrono::Utc>| {
            t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
        };
        let mut value = serde_json::json!({
            "id": t.id, "name": t.name, "userId": t.user_id, "clientName": t.client_name,
            "tokenWindow": t.token_window, "created": stamp(t.created),
            "expiresAt": stamp(t.expires_at),
        });
        if let Some(connection) = &t.network_connection {
            value["network"] = serde_json::json!({ "connection": connection });
        }
        value
    };
    let decode = |values: Vec<serde_json::Value>| {
        let mut list = TokenList::default();
        for value in values {
            match ListedToken::from_json(value).unwrap() {
                ListedToken::Timed(token) => list.tokens.push(token),
                ListedToken::Untimed(token) => list.untimed.push(token),
            }
        }
        list
    };
    let mut demo: Vec<serde_json::Value> = Simulator::demo_tokens(poll).iter().map(json).collect();
    // One token lapses between the two polls; an agent token has no expiry.
    let lapsing = okta_simulator::SimToken {
        expires_at: poll - TimeDelta::minutes(1),
        ..sim_token(
            "00Tdemo0000000000099",
            "Retired cron job",
            TimeDelta::zero(),
            "P30D",
        )
    };
    demo.push(json(&lapsing));
    let mut state = OrgState::new("demo", "http://127.0.0.1:1");
    state.configure(
        Duration::from_secs(300),
        &okta_token_exporter::enrich::EnrichSettings::default(),
        false,
    );
    state.apply_success(
        decode(demo.clone()),
        Enrichment::default(),
        poll - TimeDelta::minutes(5),
        Duration::from_millis(40),
        PollStats::default(),
    );
    demo.pop();
    demo.push(serde_json::json!({"id": "00Tagent000000000001", "name": "AD agent", "clientName": "Okta AD Agent"}));
    let owners: HashMap<String, Owner> = Simulator::demo_users()
        .into_iter()
        .map(|u| {
            let owner = Owner {
                usable: okta_token_exporter::okta::model::status_keeps_tokens_usable(&u.status),
                login: u.login,
                status: u.status,
                fetched_at: poll,
            };
            (u.id, owner)
        })
        .collect();
    let mut suspicious = HashMap::new();
    for event in Simulator::demo_log(poll) {
        if event.event_type == "system.api_token.request_outside_allowed_range" {
            let token = event.requested_with.clone().unwrap();
            suspicious.insert(
                token,
                Suspicion {
                    last: event.published,
                    count: 1,
                },
            );
        }
    }
    // The demo owners' admin roles, and the one whose roles may not be read.
    use okta_token_exporter::model::roles::{OwnerRoles, RoleAssignment, RoleType};
    let mut roles: HashMap<String, OwnerRoles> = Simulator::demo_roles()
        .into_iter()
        .map(|(id, roles)| {
            let roles = roles
                .into_iter()
                .map(|r| RoleAssignment {
                    role: RoleType::from_okta(&r.role_type),
                    type_name: r.role_type,
                    label: r.label,
                    assignment_type: r.assignment_type,
                    status: r.status,
                })
                .collect();
            let known = OwnerRoles::Known {
                roles,
                fetched_at: poll,
            };
            (id, known)
        })
        .collect();
    roles.insert(
        okta_simulator::DEMO_ROLES_FORBIDDEN.to_owned(),
        OwnerRoles::Forbidden { fetched_at: poll },
    );
    let mut enrichment = Enrichment {
        owners: Arc::new(owners),
        suspicious: Arc::new(suspicious),
        roles: Arc::new(roles),
        ..Enrichment::default()
    };
    enrichment.events.insert("system.api_token.create", 3);
    // The demo log's creation of the SCIM token, 20 hours before the poll.
    enrichment.created = Arc::new(HashMap::from([(
        "00Tdemo0000000000001".to_owned(),
        okta_token_exporter::enrich::Creation {
            actor: "admin@acme.example".to_owned(),
            at: poll - TimeDelta::hours(20),
        },
    )]));
    let stats = PollStats {
        responses: vec![("/api/v1/api-tokens", 200), ("/api/v1/users/{id}", 429)],
        rate_limits: vec![(
            "/api/v1/api-tokens",
            RateLimit {
                limit: 600,
                remaining: 598,
                reset: 1_796_472_060,
            },
        )],
        rate_limited: vec![("/api/v1/users/{id}", poll - TimeDelta::seconds(30))],
    };
    state.apply_success(
        decode(demo),
        enrichment,
        poll,
        Duration::from_millis(42),
        stats,
    );
    let orgs = vec![Arc::new(state.snapshot())];
    let rendered =
        okta_token_exporter::metrics::encode(&prometheus::Registry::new(), &orgs, now).unwrap();
    let rendered = String::from_utf8(rendered).unwrap();
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/exposition.txt");
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, &rendered).unwrap();
    }
    let golden = std::fs::read_to_string(&path).unwrap_or_default();
    if rendered != golden {
        let first = rendered
            .lines()
            .zip(golden.lines())
            .position(|(a, b)| a != b)
            .unwrap_or(rendered.lines().count().min(golden.lines().count()));
        panic!(
            "the exposition differs from {} from line {}:\n  now:    {:?}\n  golden: {:?}\n\
             After a deliberate change: UPDATE_GOLDEN=1 cargo test --test it golden",
            path.display(),
            first + 1,
            rendered.lines().nth(first),
            golden.lines().nth(first)
        );
    }
}
