//! What each token can do: the owners' admin roles looked up against the simulated org (budget,
//! 403s, persistence), and the posture the exporter shows for them.

use crate::common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{SubsecRound, TimeDelta};
use common::*;
use okta_simulator::{Fault, SimEndpoint, SimRole, SimToken, SimUser, Simulator};
use okta_token_exporter::config::HttpSettings;
use okta_token_exporter::enrich::roles::{refresh, Budget, RolesUpdate};
use okta_token_exporter::enrich::Enrichment;
use okta_token_exporter::model::roles::{OwnerRoles, Privilege, RoleType};
use okta_token_exporter::model::Off;
use okta_token_exporter::okta::client::USER;
use okta_token_exporter::okta::{OktaClient, PollStats, RateLimit};
use okta_token_exporter::secret::Secret;

const API_TOKEN: &str = "posture-test-token";
const WAIT: Duration = Duration::from_secs(30);

/// Token `n` of owner `owner`, usable from `network`, expiring in 29 days of a 30-day window.
fn owned_token(n: usize, owner: usize, network: &str) -> SimToken {
    let mut t = sim_token(
        &format!("00Tposture{n:010}"),
        &format!("token {n}"),
        TimeDelta::days(29),
        "P30D",
    );
    t.user_id = user_id(owner);
    t.network_connection = Some(network.to_owned());
    t
}

fn user_id(n: usize) -> String {
    format!("00uposture{n:010}")
}

fn user(n: usize, login: &str) -> SimUser {
    SimUser {
        id: user_id(n),
        login: login.to_owned(),
        status: "ACTIVE".to_owned(),
    }
}

fn client(sim: &Simulator) -> Arc<OktaClient> {
    let settings = HttpSettings {
        max_retries: 0,
        retry_backoff: Duration::from_millis(10),
        ..HttpSettings::default()
    };
    Arc::new(OktaClient::new(sim.url().parse().unwrap(), Secret::new(API_TOKEN), settings).unwrap())
}

/// An org of owners 1 to 5: a super admin through a group, a custom role, a read-only admin and
/// an inactive assignment, one whose roles may not be read, one without any role.
async fn org_of_owners() -> Simulator {
    let sim = Simulator::start(API_TOKEN, Vec::new()).await.unwrap();
    for (n, login) in [
        (1, "scim.service@acme.example"),
        (2, "ci.bot@acme.example"),
        (3, "siem.reader@acme.example"),
        (4, "backup.operator@acme.example"),
        (5, "jane.doe@acme.example"),
    ] {
        sim.set_user(user(n, login));
    }
    sim.set_user_roles(
        &user_id(1),
        vec![SimRole::standard("SUPER_ADMIN").through_group()],
    );
    sim.set_user_roles(&user_id(2), vec![SimRole::custom("Terraform deployer")]);
    let mut inactive = SimRole::standard("ORG_ADMIN");
    inactive.status = "INACTIVE".to_owned();
    sim.set_user_roles(
        &user_id(3),
        vec![SimRole::standard("READ_ONLY_ADMIN"), inactive],
    );
    sim.forbid_user_roles(&user_id(4), true);
    sim
}

fn roles_requests(sim: &Simulator) -> usize {
    sim.requests()
        .iter()
        .filter(|r| r.path_and_query.ends_with("/roles"))
        .count()
}

async fn refresh_of(
    sim: &Simulator,
    owners: &[String],
    enrichment: &Enrichment,
    rate_limits: &BTreeMap<&'static str, RateLimit>,
    already_sent: u64,
) -> RolesUpdate {
    let mut stats = PollStats::default();
    refresh(
        &client(sim),
        "acme",
        owners,
        enrichment,
        Budget {
            at_start: rate_limits,
            after_owners: &BTreeMap::new(),
            share: 0.5,
            already_sent,
        },
        &mut stats,
    )
    .await
}

#[tokio::test]
async fn each_owners_roles_are_read_direct_group_and_custom_and_a_403_reads_unknown() {
    let sim = org_of_owners().await;
    let owners: Vec<String> = (1..=5).map(user_id).collect();
    let update = refresh_of(&sim, &owners, &Enrichment::default(), &BTreeMap::new(), 0).await;
    assert_eq!(update.off, None);
    assert_eq!(update.errors, 0);
    assert_eq!(roles_requests(&sim), 5, "one lookup per owner");
    let highest = |n: usize| Privilege::of(update.roles.get(&user_id(n))).highest_label();
    assert_eq!(highest(1), "SUPER_ADMIN");
    assert_eq!(highest(2), "CUSTOM");
    assert_eq!(
        highest(3),
        "READ_ONLY_ADMIN",
        "the inactive org admin grants nothing"
    );
    assert_eq!(highest(4), "UNKNOWN", "a 403 is unknown, never none");
    assert_eq!(highest(5), "NONE");
    let Some(OwnerRoles::Known { roles, .. }) = update.roles.get(&user_id(1)) else {
        panic!("{:?}", update.roles)
    };
    assert_eq!(roles[0].assignment_type, "GROUP");
    let Some(OwnerRoles::Known { roles, .. }) = update.roles.get(&user_id(2)) else {
        panic!("{:?}", update.roles)
    };
    assert_eq!(roles[0].display(), "CUSTOM (Terraform deployer)");
    assert!(matches!(
        update.roles.get(&user_id(4)),
        Some(OwnerRoles::Forbidden { .. })
    ));
}

#[tokio::test]
async fn a_credential_that_may_read_no_roles_turns_the_lookups_off_after_one_try() {
    let sim = org_of_owners().await;
    sim.forbid(SimEndpoint::Roles, true);
    let owners: Vec<String> = (1..=5).map(user_id).collect();
    let update = refresh_of(&sim, &owners, &Enrichment::default(), &BTreeMap::new(), 0).await;
    assert_eq!(update.off, Some(Off::Forbidden));
    assert!(update.roles.is_empty());
    let sent = roles_requests(&sim);
    assert_eq!(sent, 5);
    let enrichment = Enrichment {
        roles_off: update.off,
        ..Enrichment::default()
    };
    let again = refresh_of(&sim, &owners, &enrichment, &BTreeMap::new(), 0).await;
    assert_eq!(again.off, Some(Off::Forbidden));
    assert_eq!(roles_requests(&sim), sent, "no request once off");
}

#[tokio::test]
async fn roles_share_the_polls_budget_with_the_owner_lookups_and_go_on_at_the_next_poll() {
    let sim = Simulator::start(API_TOKEN, Vec::new()).await.unwrap();
    for n in 0..12 {
        sim.set_user(user(n, &format!("svc-{n}@acme.example")));
        sim.set_user_roles(&user_id(n), vec![SimRole::standard("READ_ONLY_ADMIN")]);
    }
    let owners: Vec<String> = (0..12).map(user_id).collect();
    let reset = (std::time::SystemTime::now() + Duration::from_secs(60))
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    // 20 left in the users window: half of it is the poll's, and the owner lookups sent 4.
    let limits = BTreeMap::from([(
        USER,
        RateLimit {
            limit: 2000,
            remaining: 20,
            reset,
        },
    )]);
    let first = refresh_of(&sim, &owners, &Enrichment::default(), &limits, 4).await;
    assert_eq!(
        roles_requests(&sim),
        6,
        "10 for the poll, less the 4 owner lookups"
    );
    assert_eq!(first.roles.len(), 6);
    let mut enrichment = Enrichment {
        roles: Arc::clone(&first.roles),
        ..Enrichment::default()
    };
    let second = refresh_of(&sim, &owners, &enrichment, &limits, 4).await;
    assert_eq!(roles_requests(&sim), 12);
    assert_eq!(
        second.roles.len(),
        12,
        "the owners never looked up went first"
    );
    // A rate-limited answer ends the lookups for the poll and keeps what was known.
    sim.push_endpoint_fault(
        SimEndpoint::Roles,
        Fault::RateLimited {
            reset_after: Duration::from_secs(1),
            concurrency: false,
        },
    );
    enrichment.roles = Arc::clone(&second.roles);
    let third = refresh_of(&sim, &owners, &enrichment, &BTreeMap::new(), 0).await;
    assert_eq!(third.errors, 1);
    assert_eq!(third.roles.len(), 12, "nothing known is lost");
    assert_eq!(
        roles_requests(&sim),
        13,
        "the probe, and nothing after the 429"
    );
}

/// The exporter against the simulated org: the roles land in the state file and come back
/// after a restart; a state file written before roles existed still loads.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roles_are_persisted_with_storage_path_and_an_older_state_file_loads() {
    let sim = org_of_owners().await;
    let mut token = sim_token("00Tposture000000001a", "SCIM", TimeDelta::days(20), "P30D");
    token.user_id = user_id(1);
    let mut forbidden = sim_token(
        "00Tposture000000002a",
        "Backup",
        TimeDelta::days(20),
        "P30D",
    );
    forbidden.user_id = user_id(4);
    sim.set_tokens(vec![token, forbidden]);
    let dir = tempfile::tempdir().unwrap();
    let mut setup = Setup::new(sim.url(), API_TOKEN);
    setup.extra_args = vec![format!("--storage.path={}", dir.path().display())];
    let exporter = Exporter::start(setup);
    let path = dir.path().join("test-org.json");
    let deadline = std::time::Instant::now() + WAIT;
    let record = loop {
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        let record: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
        if record["owner_roles"]
            .as_array()
            .is_some_and(|r| r.len() == 2)
        {
            break record;
        }
        assert!(std::time::Instant::now() < deadline, "no roles in {text}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    drop(exporter);
    let roles = &record["owner_roles"];
    assert_eq!(roles[0]["user_id"], user_id(1));
    assert_eq!(roles[0]["roles"][0]["type"], "SUPER_ADMIN");
    assert_eq!(roles[0]["roles"][0]["assignment_type"], "GROUP");
    assert_eq!(roles[1]["user_id"], user_id(4));
    assert_eq!(roles[1]["forbidden"], true);
    // The same file without `owner_roles`, as an earlier release wrote it, loads.
    let mut older = record.clone();
    older.as_object_mut().unwrap().remove("owner_roles");
    let older = serde_json::to_vec(&older).unwrap();
    let decoded = okta_token_exporter::storage::decode(
        &path,
        &older,
        "test-org",
        record["url"].as_str().unwrap(),
    )
    .unwrap();
    assert!(decoded.posture.owner_roles.is_empty());
    assert_eq!(decoded.tokens.len(), 2);
    let restored = okta_token_exporter::state::OrgState::restore(
        okta_token_exporter::storage::decode(
            &path,
            &serde_json::to_vec(&record).unwrap(),
            "test-org",
            record["url"].as_str().unwrap(),
        )
        .unwrap(),
    );
    let roles = &restored.facts().enrichment.roles;
    assert_eq!(
        Privilege::of(roles.get(&user_id(1))).highest(),
        Some(Some(RoleType::SuperAdmin))
    );
    assert!(matches!(
        roles.get(&user_id(4)),
        Some(OwnerRoles::Forbidden { .. })
    ));
}

/// The posture on `/metrics`: roles per token, the highest, agent or person, age, findings; an
/// owner whose roles answer 403 reads UNKNOWN (never NONE), with one warning and a metric.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_show_each_tokens_posture_and_a_403_reads_unknown_with_one_warning() {
    let sim = org_of_owners().await;
    let token = |n: usize, owner: usize, network: &str, created_days_ago: i64| {
        let mut t = sim_token(
            &format!("00Tposture{n:010}"),
            &format!("token {n}"),
            TimeDelta::days(20),
            "P30D",
        );
        t.user_id = user_id(owner);
        t.network_connection = Some(network.to_owned());
        t.created = chrono::Utc::now() - TimeDelta::days(created_days_ago);
        t
    };
    let mut agent = token(6, 1, "ZONE", 30);
    agent.client_name = "Okta AD Agent".to_owned();
    sim.set_tokens(vec![
        token(1, 1, "ANYWHERE", 400), // super admin, any IP, too old
        token(2, 2, "ANYWHERE", 100), // custom role
        token(3, 4, "ANYWHERE", 100), // roles forbidden
        token(4, 5, "ZONE", 10),      // a person's, new, no admin role
        token(5, 3, "ZONE", 100),     // read-only admin, unused 10 days
        agent,
    ]);
    let mut setup = Setup::new(sim.url(), API_TOKEN);
    setup.org_yaml = "    posture:\n      max_token_age: 365d\n".to_owned();
    let exporter = Exporter::start(setup);
    let samples = exporter.wait_for("the roles", WAIT, |s| {
        find(
            s,
            "okta_api_token_owner_highest_admin_role",
            &[("role", "UNKNOWN")],
        )
        .len()
            == 1
            && find(s, "okta_api_token_owner_admin_role", &[]).len() == 4
    });
    let id = |n: usize| format!("00Tposture{n:010}");
    let highest = |n: usize| {
        find(
            &samples,
            "okta_api_token_owner_highest_admin_role",
            &[("token_id", &id(n))],
        )
        .iter()
        .map(|s| s.label("role").to_owned())
        .collect::<Vec<_>>()
    };
    assert_eq!(highest(1), ["SUPER_ADMIN"]);
    assert_eq!(highest(2), ["CUSTOM"]);
    assert_eq!(highest(3), ["UNKNOWN"], "403: unknown, never none");
    assert_eq!(highest(4), ["NONE"]);
    assert_eq!(highest(5), ["READ_ONLY_ADMIN"]);
    assert_eq!(value(&samples, "okta_owner_roles_forbidden", &[]), 1.0);
    assert_eq!(
        value(&samples, "okta_owner_roles_lookups_enabled", &[]),
        1.0
    );
    assert!(find(
        &samples,
        "okta_api_token_owner_admin_role",
        &[("token_id", &id(3))]
    )
    .is_empty());
    let findings = |n: usize| {
        let mut found: Vec<String> =
            find(&samples, "okta_api_token_finding", &[("token_id", &id(n))])
                .iter()
                .map(|s| format!("{}:{}", s.label("finding"), s.label("severity")))
                .collect();
        found.sort();
        found
    };
    assert_eq!(
        findings(1),
        [
            "admin_token_any_network:high",
            "idle_admin_token:medium",
            "token_too_old:medium"
        ]
    );
    assert_eq!(findings(2), ["idle_admin_token:medium"]);
    assert_eq!(
        findings(3),
        Vec::<String>::new(),
        "nothing guessed without roles"
    );
    assert_eq!(
        findings(4),
        ["person_owned_token:medium", "ssws_for_new_integration:low"]
    );
    assert_eq!(findings(5), ["idle_admin_token:medium"]);
    // Only token 1: the agent's owner is a super admin too, but its token is zone-restricted.
    assert_eq!(
        value(&samples, "okta_api_token_findings", &[("severity", "high")]),
        1.0
    );
    assert_eq!(
        value(&samples, "okta_api_token_agent", &[("token_id", &id(6))]),
        1.0
    );
    assert_eq!(
        value(&samples, "okta_api_token_agent", &[("token_id", &id(1))]),
        0.0
    );
    let age = value(
        &samples,
        "okta_api_token_age_seconds",
        &[("token_id", &id(1))],
    );
    assert!((age - 400.0 * 86_400.0).abs() < 120.0, "{age}");
    // More polls: the 403 is said once.
    let polled = sim.requests().len();
    exporter.wait_for("two more polls", WAIT, |_| {
        sim.requests()
            .iter()
            .skip(polled)
            .filter(|r| r.path_and_query.ends_with("/roles"))
            .count()
            >= 10
    });
    let warnings: Vec<String> = exporter
        .logs()
        .into_iter()
        .filter(|l| l.contains("level=warn") && l.contains("admin roles"))
        .collect();
    assert_eq!(warnings.len(), 1, "{warnings:#?}");
    assert!(warnings[0].contains(&user_id(4)), "{}", warnings[0]);
}

/// A config for `report` against `sim`: one org, no retries.
fn report_config(dir: &std::path::Path, sim: &Simulator) -> String {
    let token = dir.join("okta.token");
    std::fs::write(&token, format!("{API_TOKEN}\n")).unwrap();
    set_private(&token);
    let path = dir.join("config.yml");
    std::fs::write(
        &path,
        format!(
            "http:\n  retries: 0\norgs:\n  - name: acme\n    url: {}\n    auth:\n      ssws:\n        token_file: {}\n",
            sim.url(),
            token.display()
        ),
    )
    .unwrap();
    path.display().to_string()
}

fn report(args: &[&str]) -> (Option<i32>, String, String) {
    let output = std::process::Command::new(BIN)
        .arg("report")
        .args(args)
        .output()
        .expect("run report");
    (
        output.status.code(),
        String::from_utf8(output.stdout).unwrap(),
        String::from_utf8(output.stderr).unwrap(),
    )
}

/// `report --fail-on-finding`: 4 when a finding reaches the severity, 0 below it, 5 when none
/// does but some owner's roles could not be read; the findings are listed, most severe first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn report_fails_on_findings_and_never_passes_on_an_unknown_posture() {
    let sim = org_of_owners().await;
    let token = |n: usize, owner: usize, network: &str| {
        let mut t = owned_token(n, owner, network);
        // Jane's (owner 5) is a new integration; the others are 200 days old.
        let age = if owner == 5 { 10 } else { 200 };
        t.created = chrono::Utc::now() - TimeDelta::days(age);
        t
    };
    // A super admin's token usable from anywhere (high), and a person's token (medium).
    sim.set_tokens(vec![token(1, 1, "ANYWHERE"), token(2, 5, "ZONE")]);
    let dir = tempfile::tempdir().unwrap();
    let config = format!("--config.file={}", report_config(dir.path(), &sim));
    let run = |finding: &'static str| {
        let config = config.clone();
        tokio::task::spawn_blocking(move || {
            report(&[
                &config,
                "--fail-on=none",
                &format!("--fail-on-finding={finding}"),
            ])
        })
    };
    let (code, stdout, _) = run("high").await.unwrap();
    assert_eq!(code, Some(4), "{stdout}");
    let findings = stdout
        .split("Posture findings:\n")
        .nth(1)
        .unwrap_or_default();
    let lines: Vec<&str> = findings.lines().collect();
    assert_eq!(lines.len(), 3, "{stdout}");
    assert!(lines[0].starts_with("acme  high    admin_token_any_network   00Tposture0000000001  token 1: its owner is a Super Admin"), "{stdout}");
    assert!(
        lines[1].contains("medium  person_owned_token")
            && lines[1].contains("jane.doe@acme.example"),
        "{stdout}"
    );
    assert!(
        lines[2].contains("low     ssws_for_new_integration"),
        "{stdout}"
    );
    assert_eq!(run("medium").await.unwrap().0, Some(4));
    assert_eq!(run("none").await.unwrap().0, Some(0));

    // Only the person's token, whose findings are medium and low: high passes.
    sim.set_tokens(vec![token(2, 5, "ZONE")]);
    assert_eq!(run("high").await.unwrap().0, Some(0));
    // Now an owner whose roles may not be read: nothing reaches high, and yet it does not pass.
    sim.set_tokens(vec![token(2, 5, "ZONE"), token(3, 4, "ANYWHERE")]);
    let (code, stdout, stderr) = run("high").await.unwrap();
    assert_eq!(code, Some(5), "{stdout}{stderr}");
    assert!(
        stderr.contains("the posture of 1 token(s) is unknown"),
        "{stderr}"
    );
    assert_eq!(
        run("none").await.unwrap().0,
        Some(0),
        "unasked, unknown is no failure"
    );
    let (code, json, _) = {
        let config = config.clone();
        tokio::task::spawn_blocking(move || report(&[&config, "--fail-on=none", "--format=json"]))
            .await
            .unwrap()
    };
    assert_eq!(code, Some(0));
    let orgs: serde_json::Value = serde_json::from_str(&json).unwrap();
    let forbidden = orgs[0]["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == "00Tposture0000000003")
        .unwrap();
    assert_eq!(forbidden["owner_roles"], serde_json::Value::Null);
    assert_eq!(forbidden["owner_highest_role"], "UNKNOWN");
}

/// `/api/v1/tokens` carries each token's roles and findings, `?finding=` filters the JSON and
/// the page, and the page shows a posture column whose reasons are text, never markup.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_json_and_the_page_show_roles_and_findings_and_filter_by_finding() {
    let sim = org_of_owners().await;
    let token = |n: usize, owner: usize, network: &str, idle_days: i64| {
        let mut t = sim_token(
            &format!("00Tposture{n:010}"),
            &format!("token <b>{n}</b>"),
            TimeDelta::days(30 - idle_days),
            "P30D",
        );
        t.user_id = user_id(owner);
        t.network_connection = Some(network.to_owned());
        t.created = chrono::Utc::now() - TimeDelta::days(200);
        t
    };
    sim.set_tokens(vec![
        token(1, 1, "ANYWHERE", 0), // super admin: admin_token_any_network
        token(2, 2, "ZONE", 10),    // custom role, idle: idle_admin_token
        token(3, 3, "ZONE", 0),     // read-only admin, in use: nothing
    ]);
    let exporter = Exporter::start(Setup::new(sim.url(), API_TOKEN));
    let json = |query: &str| -> serde_json::Value {
        let (status, _, body) = exporter.get(&format!("/api/v1/tokens{query}"));
        assert_eq!(status, 200, "{body}");
        serde_json::from_str(&body).unwrap()
    };
    let deadline = std::time::Instant::now() + WAIT;
    let all = loop {
        let all = json("");
        let tokens = all[0]["tokens"].as_array().cloned().unwrap_or_default();
        if tokens.len() == 3 && tokens.iter().all(|t| t["owner_roles"].is_array()) {
            break all;
        }
        assert!(std::time::Instant::now() < deadline, "{all:#}");
        std::thread::sleep(Duration::from_millis(50));
    };
    let by_id = |id: usize| {
        all[0]["tokens"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["id"] == format!("00Tposture{id:010}"))
            .unwrap()
            .clone()
    };
    let first = by_id(1);
    assert_eq!(first["kind"], "person");
    assert_eq!(first["owner_highest_role"], "SUPER_ADMIN");
    assert_eq!(
        first["owner_roles"],
        serde_json::json!([{"type": "SUPER_ADMIN", "label": "Super Administrator", "assignment_type": "GROUP", "status": "ACTIVE"}])
    );
    assert_eq!(first["findings"][0]["id"], "admin_token_any_network");
    assert_eq!(first["findings"][0]["severity"], "high");
    assert!(first["findings"][0]["reason"]
        .as_str()
        .unwrap()
        .contains("any IP"));
    assert_eq!(by_id(2)["owner_roles"][0]["label"], "Terraform deployer");
    assert_eq!(by_id(3)["findings"], serde_json::json!([]));

    let ids = |v: &serde_json::Value| -> Vec<String> {
        v[0]["tokens"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["id"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(
        ids(&json("?finding=idle_admin_token")),
        ["00Tposture0000000002"]
    );
    let mut either = ids(&json("?finding=idle_admin_token,admin_token_any_network"));
    either.sort();
    assert_eq!(either, ["00Tposture0000000001", "00Tposture0000000002"]);
    let (status, _, body) = exporter.get("/api/v1/tokens?finding=root_access");
    assert_eq!(status, 400);
    assert!(body.contains("unknown finding \"root_access\""), "{body}");

    let (status, _, page) = exporter.get("/?finding=admin_token_any_network");
    assert_eq!(status, 200);
    assert!(page.contains("<th>Posture</th>"), "{page}");
    assert_eq!(page.matches("<tr><td>").count(), 1, "{page}");
    assert!(
        page.contains("Super Administrator") || page.contains("SUPER_ADMIN"),
        "{page}"
    );
    assert!(page.contains("any IP · person"), "{page}");
    assert!(
        page.contains("<span class=\"finding sev-high\" title=\"its owner is a Super Admin"),
        "{page}"
    );
    assert!(
        page.contains("<option value=\"admin_token_any_network\" selected>"),
        "{page}"
    );
    assert!(!page.contains("<b>"), "names are text: {page}");
    let (_, _, custom) = exporter.get("/?finding=idle_admin_token");
    assert!(custom.contains("CUSTOM (Terraform deployer)"), "{custom}");
}

#[test]
fn the_finding_filter_reads_ids_and_gives_its_query_back() {
    use okta_token_exporter::model::posture::FindingId;
    use okta_token_exporter::token_table::{Filter, FilterError};
    let filter =
        Filter::from_query("finding=token_too_old,idle_admin_token&finding=token_too_old").unwrap();
    assert_eq!(filter.findings, [FindingId::TooOld, FindingId::IdleAdmin]);
    assert!(!filter.is_empty());
    assert_eq!(Filter::from_query(&filter.to_query()), Ok(filter));
    assert_eq!(
        Filter::from_query("finding=TOKEN_TOO_OLD"),
        Err(FilterError::UnknownFinding("TOKEN_TOO_OLD".into()))
    );
    assert_eq!(Filter::from_query("finding="), Ok(Filter::default()));
}

/// A token made in the last day is exported with who made it, its owner's highest role and its
/// network restriction (what the new-token alert names), kept across a restart, and not once
/// its day is over.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_tokens_creator_owner_role_and_network_are_exported_for_a_day() {
    let sim = org_of_owners().await;
    sim.set_tokens(vec![
        owned_token(1, 1, "ANYWHERE"),
        owned_token(2, 3, "ZONE"),
        owned_token(3, 2, "ZONE"),
    ]);
    let now = chrono::Utc::now();
    let created = |n: usize, ago: TimeDelta| {
        okta_simulator::SimLogEvent::token_event(
            now - ago,
            "system.api_token.create",
            &format!("00Tposture{n:010}"),
            "scim.service@acme.example",
        )
    };
    sim.push_log_event(created(1, TimeDelta::hours(2)));
    sim.push_log_event(created(2, TimeDelta::minutes(5)));
    // Made 25 hours ago: the exporter's first query looks back 30 hours, and still no series.
    sim.push_log_event(created(3, TimeDelta::hours(25)));
    let dir = tempfile::tempdir().unwrap();
    let mut setup = Setup::new(sim.url(), API_TOKEN);
    setup.org_yaml = "    enrich:\n      suspicious_lookback: 30h\n".to_owned();
    setup.extra_args = vec![format!("--storage.path={}", dir.path().display())];
    let exporter = Exporter::start(setup);
    let wanted = |s: &[Sample]| {
        let series = find(s, "okta_api_token_created_recently", &[]);
        series.len() == 2 && series.iter().all(|x| x.label("owner_role") != "UNKNOWN")
    };
    let samples = exporter.wait_for("the new tokens", WAIT, wanted);
    let admin = find(
        &samples,
        "okta_api_token_created_recently",
        &[("token_id", "00Tposture0000000001")],
    );
    assert_eq!(admin.len(), 1);
    assert_eq!(admin[0].label("creator"), "scim.service@acme.example");
    assert_eq!(admin[0].label("owner_login"), "scim.service@acme.example");
    assert_eq!(admin[0].label("owner_role"), "SUPER_ADMIN");
    assert_eq!(admin[0].label("network_connection"), "ANYWHERE");
    assert_eq!(admin[0].label("token_name"), "token 1");
    assert_eq!(
        admin[0].value,
        epoch((now - TimeDelta::hours(2)).trunc_subsecs(3))
    );
    let read_only = find(
        &samples,
        "okta_api_token_created_recently",
        &[("token_id", "00Tposture0000000002")],
    );
    assert_eq!(read_only[0].label("owner_role"), "READ_ONLY_ADMIN");
    assert_eq!(read_only[0].label("network_connection"), "ZONE");
    // The state file keeps them: a restart exports them again without reading the log again.
    let path = dir.path().join("test-org.json");
    let deadline = std::time::Instant::now() + WAIT;
    while !std::fs::read_to_string(&path)
        .unwrap_or_default()
        .contains("\"creations\":[{")
    {
        assert!(std::time::Instant::now() < deadline, "no creations saved");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    drop(exporter);
    sim.forbid(SimEndpoint::Logs, true);
    let mut setup = Setup::new(sim.url(), API_TOKEN);
    setup.extra_args = vec![format!("--storage.path={}", dir.path().display())];
    let restarted = Exporter::start(setup);
    restarted.wait_for("the new tokens after a restart", WAIT, wanted);
}
