//! OAuth 2.0 service apps against the simulated org's authorization server, over loopback HTTP:
//! RSA and EC keys, with and without required DPoP, the nonce dance, renewal over hours of
//! simulated time, a revoked access token, and every misconfiguration's message. The simulator
//! really verifies signatures, `aud`, `exp`, `jti` replay, DPoP proofs and scopes.

use crate::common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use chrono::TimeDelta;
use common::*;
use okta_simulator::{SimDpop, SimEndpoint, SimOAuthApp, Simulator};
use okta_token_exporter::config::HttpSettings;
use okta_token_exporter::config::{Auth, OAuth2Settings};
use okta_token_exporter::jose::SigningKey;
use okta_token_exporter::okta::oauth::Clock;
use okta_token_exporter::okta::{OktaClient, PollErrorReason, PollStats};

const API_TOKEN: &str = "00ssws-token-not-used-by-these-tests";
const CLIENT_ID: &str = "0oa1b2c3d4e5f6g7h8i9";
const RSA_KEY: &str = include_str!("../fixtures/oauth-rsa-test-key.pem");

/// A clock the test moves by hand, shared by the client and the simulated org.
#[derive(Clone)]
struct ManualClock(Arc<Mutex<SystemTime>>);

impl ManualClock {
    fn new() -> ManualClock {
        ManualClock(Arc::new(Mutex::new(SystemTime::now())))
    }
    fn advance(&self, by: Duration) {
        *self.0.lock().unwrap() += by;
    }
    fn clock(&self) -> Clock {
        let time = Arc::clone(&self.0);
        Arc::new(move || *time.lock().unwrap())
    }
}

fn ec_key_pem() -> String {
    rcgen::KeyPair::generate().unwrap().serialize_pem()
}

/// What one test sets up: the app as Okta holds it, and the exporter's view of it.
struct Setup {
    key_pem: String,
    dpop: SimDpop,
    granted: Vec<&'static str>,
    requested: Vec<&'static str>,
    registered_kid: Option<&'static str>,
    sent_kid: Option<&'static str>,
    /// Sign with another key than the one registered.
    wrong_key: bool,
    client_clock_ahead: Duration,
}

impl Setup {
    fn new(key_pem: String, dpop: SimDpop) -> Setup {
        Setup {
            key_pem,
            dpop,
            granted: vec!["okta.apiTokens.read", "okta.users.read"],
            requested: vec!["okta.apiTokens.read"],
            registered_kid: Some("exporter-key-1"),
            sent_kid: Some("exporter-key-1"),
            wrong_key: false,
            client_clock_ahead: Duration::ZERO,
        }
    }

    async fn start(self, clock: &ManualClock) -> (Simulator, OktaClient) {
        let tokens = (0..450)
            .map(|i| {
                sim_token(
                    &format!("00T{i:017}"),
                    &format!("token {i}"),
                    TimeDelta::days(20),
                    "P30D",
                )
            })
            .collect();
        let sim = Simulator::start(API_TOKEN, tokens).await.unwrap();
        let registered = SigningKey::from_pem(&self.key_pem).unwrap();
        sim.enable_oauth(SimOAuthApp {
            client_id: CLIENT_ID.into(),
            public_jwk: registered.public_jwk(),
            key_id: self.registered_kid.map(str::to_owned),
            granted_scopes: self.granted.iter().map(|s| (*s).to_owned()).collect(),
            dpop: self.dpop,
            token_lifetime: Duration::from_secs(3600),
            clock: clock.clock(),
        })
        .unwrap();
        let signing = if self.wrong_key {
            ec_key_pem()
        } else {
            self.key_pem.clone()
        };
        let auth = Auth::OAuth2(OAuth2Settings {
            client_id: CLIENT_ID.into(),
            private_key: Arc::new(SigningKey::from_pem(&signing).unwrap()),
            key_id: self.sent_kid.map(str::to_owned),
            scopes: self.requested.iter().map(|s| (*s).to_owned()).collect(),
        });
        let ahead = self.client_clock_ahead;
        let shared = clock.clock();
        let client_clock: Clock = Arc::new(move || shared() + ahead);
        let client = OktaClient::for_org(
            sim.url().parse().unwrap(),
            &auth,
            HttpSettings::default(),
            client_clock,
        )
        .unwrap();
        (sim, client)
    }
}

fn authorization_schemes(sim: &Simulator) -> Vec<String> {
    sim.requests()
        .iter()
        .filter_map(|r| {
            r.authorization
                .as_deref()?
                .split(' ')
                .next()
                .map(str::to_owned)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rsa_and_ec_keys_list_every_token_with_and_without_required_dpop() {
    let cases = [
        (
            "RSA",
            RSA_KEY.to_owned(),
            SimDpop::Required,
            "DPoP",
            vec!["use_dpop_nonce", "success"],
        ),
        (
            "RSA",
            RSA_KEY.to_owned(),
            SimDpop::Off,
            "Bearer",
            vec!["success"],
        ),
        (
            "EC",
            ec_key_pem(),
            SimDpop::Required,
            "DPoP",
            vec!["use_dpop_nonce", "success"],
        ),
        ("EC", ec_key_pem(), SimDpop::Off, "Bearer", vec!["success"]),
    ];
    for (kind, pem, dpop, scheme, outcomes) in cases {
        let clock = ManualClock::new();
        let (sim, client) = Setup::new(pem, dpop).start(&clock).await;
        let list = client
            .list_api_tokens(&mut PollStats::default())
            .await
            .unwrap_or_else(|e| panic!("{kind} {dpop:?}: {e}"));
        assert_eq!(list.tokens.len(), 450, "{kind} {dpop:?}");
        assert_eq!(list.pages, 3);
        assert_eq!(
            sim.oauth_outcomes(),
            outcomes,
            "{kind} {dpop:?}: one token for three pages"
        );
        assert_eq!(
            authorization_schemes(&sim),
            vec![scheme; 3],
            "{kind} {dpop:?}"
        );
        let stats = client.oauth_stats().unwrap();
        let success = stats
            .requests()
            .iter()
            .find(|(r, _)| *r == "success")
            .unwrap()
            .1;
        assert_eq!(success, 1);
        assert!(stats.access_token_expiry().is_some());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_access_token_is_renewed_before_it_expires_for_hours_without_an_auth_failure() {
    for (kind, pem) in [("RSA", RSA_KEY.to_owned()), ("EC", ec_key_pem())] {
        let clock = ManualClock::new();
        let (sim, client) = Setup::new(pem, SimDpop::Required).start(&clock).await;
        // Six hours of five-minute polls; a token lives an hour and is renewed five minutes early.
        for step in 0..72 {
            client
                .list_api_tokens(&mut PollStats::default())
                .await
                .unwrap_or_else(|e| panic!("{kind}: poll at minute {}: {e}", step * 5));
            clock.advance(Duration::from_secs(300));
        }
        let refused: Vec<_> = sim
            .requests()
            .into_iter()
            .filter(|r| r.status == 401)
            .collect();
        assert!(
            refused.is_empty(),
            "{kind}: no API call was refused: {refused:?}"
        );
        let successes = sim
            .oauth_outcomes()
            .iter()
            .filter(|o| *o == "success")
            .count();
        // Renewals at minutes 0, 55, 110, 165, 220, 275 and 330.
        assert_eq!(successes, 7, "{kind}: {:?}", sim.oauth_outcomes());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_dpop_nonce_is_learned_at_the_next_renewal() {
    let clock = ManualClock::new();
    let (sim, client) = Setup::new(ec_key_pem(), SimDpop::Required)
        .start(&clock)
        .await;
    client
        .list_api_tokens(&mut PollStats::default())
        .await
        .unwrap();
    clock.advance(Duration::from_secs(56 * 60));
    sim.rotate_dpop_nonce();
    client
        .list_api_tokens(&mut PollStats::default())
        .await
        .unwrap();
    clock.advance(Duration::from_secs(56 * 60));
    client
        .list_api_tokens(&mut PollStats::default())
        .await
        .unwrap();
    assert_eq!(
        sim.oauth_outcomes(),
        [
            "use_dpop_nonce",
            "success",
            "use_dpop_nonce",
            "success",
            "success"
        ],
        "the old nonce is refused once, the new one is kept"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_calls_share_one_renewal() {
    let clock = ManualClock::new();
    let (sim, client) = Setup::new(ec_key_pem(), SimDpop::Required)
        .start(&clock)
        .await;
    let client = Arc::new(client);
    let mut calls = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let client = Arc::clone(&client);
        calls.spawn(async move {
            client
                .list_api_tokens(&mut PollStats::default())
                .await
                .map(|l| l.tokens.len())
        });
    }
    while let Some(done) = calls.join_next().await {
        assert_eq!(done.unwrap().unwrap(), 450);
    }
    assert_eq!(
        sim.oauth_outcomes(),
        ["use_dpop_nonce", "success"],
        "renewals never overlap"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_access_token_is_replaced_at_once() {
    let clock = ManualClock::new();
    let (sim, client) = Setup::new(RSA_KEY.to_owned(), SimDpop::Required)
        .start(&clock)
        .await;
    client
        .list_api_tokens(&mut PollStats::default())
        .await
        .unwrap();
    sim.revoke_access_tokens();
    let list = client
        .list_api_tokens(&mut PollStats::default())
        .await
        .unwrap();
    assert_eq!(list.tokens.len(), 450);
    let successes = sim
        .oauth_outcomes()
        .iter()
        .filter(|o| *o == "success")
        .count();
    assert_eq!(
        successes,
        2,
        "renewed after the 401: {:?}",
        sim.oauth_outcomes()
    );
    assert_eq!(sim.requests().iter().filter(|r| r.status == 401).count(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_misconfiguration_gets_a_message_that_says_what_to_fix() {
    type Tweak = fn(&mut Setup);
    let cases: Vec<(&str, Tweak, PollErrorReason, &[&str])> = vec![
        (
            "a key the app does not know",
            |s| s.wrong_key = true,
            PollErrorReason::Unauthorized,
            &["invalid_client", "public key registered on the app"],
        ),
        (
            "a wrong kid",
            |s| s.sent_kid = Some("old-key"),
            PollErrorReason::Unauthorized,
            &["invalid_client", "key_id"],
        ),
        (
            "a scope the app was not granted",
            |s| s.requested = vec!["okta.apiTokens.read", "okta.logs.read"],
            PollErrorReason::Unauthorized,
            &[
                "invalid_scope",
                "not granted okta.logs.read",
                "Okta API Scopes tab",
            ],
        ),
        (
            "a clock two hours fast",
            |s| s.client_clock_ahead = Duration::from_secs(7200),
            PollErrorReason::Unauthorized,
            &["clock"],
        ),
    ];
    for (what, tweak, reason, wanted) in cases {
        let clock = ManualClock::new();
        let mut setup = Setup::new(ec_key_pem(), SimDpop::Required);
        tweak(&mut setup);
        let (sim, client) = setup.start(&clock).await;
        let error = client
            .list_api_tokens(&mut PollStats::default())
            .await
            .unwrap_err();
        assert_eq!(error.reason(), reason, "{what}: {error}");
        let message = error.to_string();
        for w in wanted {
            assert!(message.contains(w), "{what}: {message:?} lacks {w:?}");
        }
        assert!(
            sim.requests()
                .iter()
                .all(|r| !r.path_and_query.starts_with("/api/")),
            "{what}: no API call without a token"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_scope_or_admin_role_on_an_api_call_is_named() {
    let clock = ManualClock::new();
    let (_sim, client) = Setup::new(ec_key_pem(), SimDpop::Required)
        .start(&clock)
        .await;
    // The token was asked for okta.apiTokens.read only: reading a user needs okta.users.read.
    let error = client
        .get_user("00u1", &mut PollStats::default())
        .await
        .unwrap_err();
    assert_eq!(error.reason(), PollErrorReason::Forbidden);
    assert!(error.to_string().contains("lacks the scope"), "{error}");

    // Granted and asked for, but the app holds no admin role that may read users.
    let mut setup = Setup::new(ec_key_pem(), SimDpop::Required);
    setup.requested = vec!["okta.apiTokens.read", "okta.users.read"];
    let (sim, client) = setup.start(&clock).await;
    sim.forbid(SimEndpoint::Users, true);
    let error = client
        .get_user("00u1", &mut PollStats::default())
        .await
        .unwrap_err();
    assert_eq!(error.reason(), PollErrorReason::Forbidden);
    assert!(error.to_string().contains("no admin role"), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_simulated_org_refuses_a_replayed_assertion() {
    let clock = ManualClock::new();
    let pem = ec_key_pem();
    let (sim, _client) = Setup::new(pem.clone(), SimDpop::Off).start(&clock).await;
    // One assertion signed with the registered key, sent twice.
    let key = SigningKey::from_pem(&pem).unwrap();
    let token_url = format!("{}/oauth2/v1/token", sim.url());
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let assertion = okta_token_exporter::jose::client_assertion(
        &key,
        Some("exporter-key-1"),
        CLIENT_ID,
        &token_url,
        now,
        "the-same-jti",
    );
    let http = reqwest::Client::new();
    let mut statuses = Vec::new();
    for _ in 0..2 {
        let response = http
            .post(&token_url)
            .form(&[
                ("grant_type", "client_credentials"),
                ("scope", "okta.apiTokens.read"),
                (
                    "client_assertion_type",
                    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                ),
                ("client_assertion", assertion.as_str()),
            ])
            .send()
            .await
            .unwrap();
        statuses.push(response.status().as_u16());
    }
    assert_eq!(statuses, [200, 401]);
    assert_eq!(sim.oauth_outcomes(), ["success", "invalid_client"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_exporter_polls_with_an_app_exports_its_token_metrics_and_never_shows_the_key() {
    let pem = ec_key_pem();
    let sim = Simulator::start(
        API_TOKEN,
        vec![sim_token(
            "00Toauth00000000001",
            "scim sync",
            TimeDelta::days(20),
            "P30D",
        )],
    )
    .await
    .unwrap();
    sim.enable_oauth(SimOAuthApp {
        client_id: CLIENT_ID.into(),
        public_jwk: SigningKey::from_pem(&pem).unwrap().public_jwk(),
        key_id: Some("exporter-key-1".into()),
        granted_scopes: vec!["okta.apiTokens.read".into()],
        dpop: SimDpop::Required,
        token_lifetime: Duration::from_secs(3600),
        clock: okta_token_exporter::okta::oauth::system_clock(),
    })
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let key_path = dir.path().join("app.pem");
    std::fs::write(&key_path, &pem).unwrap();
    let config_path = dir.path().join("config.yml");
    std::fs::write(
        &config_path,
        format!(
            "poll_interval: 300ms\norgs:\n  - name: app-org\n    url: {}\n    auth:\n      oauth2:\n        \
             client_id: {CLIENT_ID}\n        private_key_file: {}\n        key_id: exporter-key-1\n",
            sim.url(),
            key_path.display()
        ),
    )
    .unwrap();
    let exporter = Exporter::spawn(
        vec![
            format!("--config.file={}", config_path.display()),
            "--web.listen-address=127.0.0.1:0".into(),
            "--log.level=trace".into(),
        ],
        dir,
    );
    let samples = exporter.wait_for("a few polls", Duration::from_secs(20), |s| {
        find(s, "okta_up", &[])
            .first()
            .is_some_and(|u| u.value == 1.0)
            && sim
                .requests()
                .iter()
                .filter(|r| r.path_and_query.starts_with("/api/v1/api-tokens"))
                .count()
                >= 3
    });
    assert_eq!(
        find(&samples, "okta_api_token_info", &[("org", "app-org")]).len(),
        1
    );
    assert_eq!(
        value(
            &samples,
            "okta_oauth_token_requests_total",
            &[("org", "app-org"), ("result", "success")]
        ),
        1.0,
        "one access token serves every poll"
    );
    assert_eq!(
        value(
            &samples,
            "okta_oauth_token_requests_total",
            &[("org", "app-org"), ("result", "use_dpop_nonce")]
        ),
        1.0
    );
    let expiry = value(
        &samples,
        "okta_oauth_access_token_expiry_timestamp_seconds",
        &[("org", "app-org")],
    );
    let in_an_hour = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
        + 3600.0;
    assert!(
        (expiry - in_an_hour).abs() < 60.0,
        "{expiry} vs {in_an_hour}"
    );
    // The owner and System Log lookups need scopes the app was not asked for: off, and said so.
    assert_eq!(
        value(
            &samples,
            "okta_enrichment_enabled",
            &[("org", "app-org"), ("kind", "owners")]
        ),
        0.0
    );
    assert!(sim
        .requests()
        .iter()
        .all(|r| !r.path_and_query.starts_with("/api/v1/users")));

    let (_, _, metrics) = exporter.get("/metrics");
    let (_, _, landing) = exporter.get("/");
    let logs = exporter.logs().join("\n");
    let access_tokens: Vec<String> = sim
        .requests()
        .iter()
        .filter_map(|r| {
            r.authorization
                .as_deref()?
                .strip_prefix("DPoP ")
                .map(str::to_owned)
        })
        .collect();
    assert!(!access_tokens.is_empty());
    let key_lines: Vec<&str> = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    for (what, text) in [
        ("log", &logs),
        ("metrics", &metrics),
        ("landing page", &landing),
    ] {
        for secret in key_lines
            .iter()
            .copied()
            .chain(access_tokens.iter().map(String::as_str))
        {
            assert!(!text.contains(secret), "a secret leaked into the {what}");
        }
    }
    assert!(
        logs.contains("owner lookups are off: add okta.users.read"),
        "{logs}"
    );
}
