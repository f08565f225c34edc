//! The landing page in a real browser: Debian's headless Chromium loads `/` from the real binary
//! polling the simulated org, and the DOM it builds (after any script would have run) shows every
//! token with its colour word, a hostile token name as text that runs nothing, and nothing at all
//! without credentials when basic auth is configured.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use chrono::TimeDelta;
use common::*;
use okta_simulator::Simulator;

const API_TOKEN: &str = "00browser-test-token";
/// A name that runs code twice over if the page ever lets it through as markup.
const HOSTILE: &str =
    "<img src=x onerror=\"document.title='x'\"><script>document.title='y'</script>";

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
        sim_token("00Thostile0000000004", HOSTILE, TimeDelta::days(25), "P30D"),
    ]
}

/// The DOM Chromium builds for `url`, serialized after a virtual-time budget in which any
/// script or `onerror` handler would have run. Killed after a minute.
fn dump_dom(chromium: &Path, url: &str) -> String {
    let profile = tempfile::tempdir().unwrap();
    let mut child = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--virtual-time-budget=2000",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg("--dump-dom")
        .arg(url)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromium");
    let stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || std::io::read_to_string(stdout).unwrap());
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("chromium did not finish loading {url} within a minute");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    reader.join().unwrap()
}

async fn exporter(extra_args: Vec<String>) -> (Simulator, Exporter) {
    let sim = Simulator::start(API_TOKEN, tokens()).await.unwrap();
    let mut setup = Setup::new(sim.url(), API_TOKEN);
    setup.poll_interval = "1h";
    setup.extra_args = extra_args;
    (sim, Exporter::start(setup))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_shows_every_token_with_its_colour_word_and_runs_no_name() {
    let Some(chromium) = require_tool("chromium", "chromium") else {
        return;
    };
    let (_sim, exporter) = exporter(vec![]).await;
    exporter.wait_for("the first poll", Duration::from_secs(20), |s| {
        value(s, "okta_up", &[]) == 1.0
    });
    let url = format!("{}/", exporter.base);
    let dom = tokio::task::spawn_blocking(move || dump_dom(&chromium, &url))
        .await
        .unwrap();

    assert!(
        dom.contains("<title>Okta API tokens</title>"),
        "no script changed the title:\n{dom}"
    );
    for (id, word) in [
        ("00Tred00000000000001", "Red"),
        ("00Tgray0000000000002", "Gray"),
        ("00Tgreen000000000003", "Green"),
        ("00Thostile0000000004", "Gray"),
    ] {
        let row = dom
            .split("<tr>")
            .find(|row| row.contains(id))
            .unwrap_or_else(|| panic!("no row for {id}:\n{dom}"));
        assert!(
            row.contains(&format!(">{word}</span>")),
            "{id} is {word}: {row}"
        );
    }
    assert!(
        dom.contains("&lt;img src=x onerror=\"document.title='x'\"&gt;&lt;script&gt;"),
        "the hostile name is text:\n{dom}"
    );
    assert!(!dom.contains("<img"), "no image element:\n{dom}");
    assert!(!dom.contains("<script"), "no script element:\n{dom}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_basic_auth_the_page_and_the_json_show_nothing_without_credentials() {
    let Some(chromium) = require_tool("chromium", "chromium") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let web_config = dir.path().join("web.yml");
    let password = "canary-browser-pa55";
    std::fs::write(
        &web_config,
        format!(
            "basic_auth_users:\n  prometheus: {}\n",
            bcrypt::hash(password, 4).unwrap()
        ),
    )
    .unwrap();
    let (_sim, exporter) =
        exporter(vec![format!("--web.config.file={}", web_config.display())]).await;
    let http = reqwest::Client::new();
    let get = |path: &str| {
        http.get(format!("{}{path}", exporter.base))
            .basic_auth("prometheus", Some(password))
            .send()
    };
    // With credentials: both answer once the first poll is in.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let ready = get("/-/ready").await.unwrap().status();
        if ready == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "never ready: {ready}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let json = get("/api/v1/tokens").await.unwrap();
    assert_eq!(json.status(), 200);
    let json = json.text().await.unwrap();
    assert!(json.contains("00Tred00000000000001"), "{json}");
    assert_eq!(get("/").await.unwrap().status(), 200);

    for path in ["/", "/api/v1/tokens"] {
        let (status, _, body) = http_get(&format!("{}{path}", exporter.base));
        assert_eq!(status, 401, "{path}");
        assert!(!body.contains("00Tred"), "{path}: {body}");
        let url = format!("{}{path}", exporter.base);
        let chromium = chromium.clone();
        let dom = tokio::task::spawn_blocking(move || dump_dom(&chromium, &url))
            .await
            .unwrap();
        // Chromium stops at the credentials prompt: neither the page nor a token shows.
        assert!(!dom.contains("Okta API tokens"), "{path}:\n{dom}");
        assert!(!dom.contains("00Tred"), "{path} leaked a token:\n{dom}");
    }
}
