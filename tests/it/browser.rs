//! The landing page in a real browser: Debian's headless Chromium loads `/` from the real binary
//! polling the simulated org, over loopback. The DOM it builds (after any script would have run)
//! shows every token in its own row with its colour word, and a hostile token name as text that
//! runs nothing. With basic auth configured, neither the page nor the JSON view shows a token to
//! a browser or a client without credentials, and both do with them.

use crate::common;

use std::collections::BTreeMap;
use std::os::unix::process::CommandExt as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use chrono::TimeDelta;
use common::*;
use okta_simulator::{SimToken, Simulator};

const API_TOKEN: &str = "00browser-test-token";
/// How long one Chromium run may take before it is killed.
const CHROMIUM_TIMEOUT: Duration = Duration::from_secs(60);
/// A name that runs code twice over if the page ever lets it through as markup.
const HOSTILE: &str =
    "<img src=x onerror=\"document.title='x'\"><script>document.title='y'</script>";

const RED: &str = "00Tred00000000000001";
const GREEN: &str = "00Tgreen000000000002";
const GRAY: &str = "00Tgray0000000000003";
const NAMED_HOSTILE: &str = "00Thostile0000000004";

/// Each token's id and the word its badge shows.
const EXPECTED: [(&str, &str); 4] = [
    (RED, "Red"),
    (GREEN, "Green"),
    (GRAY, "Gray"),
    (NAMED_HOSTILE, "Gray"),
];

/// One token of each colour a poll can tell (Yellow needs the system log), and a hostile name.
/// With a 30-day window a token's last use is its expiry minus 30 days.
fn tokens() -> Vec<SimToken> {
    let days = TimeDelta::days;
    vec![
        // Expires within 7 days.
        sim_token(RED, "Nightly export", days(2), "P30D"),
        // Used an hour ago.
        sim_token(
            GREEN,
            "SCIM provisioning",
            days(30) - TimeDelta::hours(1),
            "P30D",
        ),
        // Unused for 10 days, expiry 20 days away.
        sim_token(GRAY, "Quarterly review", days(20), "P30D"),
        // Unused for 5 days, expiry 25 days away.
        sim_token(NAMED_HOSTILE, HOSTILE, days(25), "P30D"),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(tool_chromium),
    ignore = "needs `chromium`: apt-get install chromium"
)]
async fn the_page_shows_every_token_with_its_colour_word_and_runs_no_name() {
    let Some(chromium) = require_tool("chromium", "chromium") else {
        return;
    };
    let (_sim, exporter) = exporter(vec![]).await;
    tokio::task::block_in_place(|| wait_for_every_token(&exporter));

    let page = tokio::task::block_in_place(|| load(&chromium, &format!("{}/", exporter.base)));
    let dom = &page.dom;

    for (id, word) in EXPECTED {
        let row = row_of(dom, id);
        let badge = format!(
            "<span class=\"badge {}\">{word}</span>",
            word.to_lowercase()
        );
        assert!(row.contains(&badge), "{id} shows {word}: {row}");
    }
    assert!(
        dom.contains("<title>Okta API tokens</title>"),
        "no script or onerror handler changed the title:\n{dom}"
    );
    assert!(
        row_of(dom, NAMED_HOSTILE).contains(
            "<td>&lt;img src=x onerror=\"document.title='x'\"&gt;\
             &lt;script&gt;document.title='y'&lt;/script&gt;</td>"
        ),
        "the hostile name is shown as text:\n{dom}"
    );
    assert!(!dom.contains("<img"), "no image element:\n{dom}");
    assert!(!dom.contains("<script"), "no script element:\n{dom}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(tool_chromium),
    ignore = "needs `chromium`: apt-get install chromium"
)]
async fn with_basic_auth_the_page_and_the_json_show_tokens_only_with_credentials() {
    let Some(chromium) = require_tool("chromium", "chromium") else {
        return;
    };
    let (user, password) = ("prometheus", "canary-browser-pa55");
    let dir = tempfile::tempdir().unwrap();
    let web_config = dir.path().join("web.yml");
    let hash = bcrypt::hash(password, 4).unwrap();
    std::fs::write(
        &web_config,
        format!("basic_auth_users:\n  {user}: {hash}\n"),
    )
    .unwrap();
    let (_sim, exporter) =
        exporter(vec![format!("--web.config.file={}", web_config.display())]).await;
    let url = |path: &str| format!("{}{path}", exporter.base);
    let http = reqwest::Client::new();
    let get = |path: &str| http.get(url(path)).basic_auth(user, Some(password)).send();
    wait_until_ready(|| async { get("/-/ready").await.unwrap().status() == 200 }).await;

    // A client with credentials: both answer 200, and the JSON lists every token's colour.
    let page = get("/").await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains(RED));
    let json = get("/api/v1/tokens").await.unwrap();
    assert_eq!(json.status(), 200);
    let orgs: serde_json::Value = serde_json::from_str(&json.text().await.unwrap()).unwrap();
    assert_eq!(statuses_by_id(&orgs), expected_statuses(), "{orgs:#}");

    for path in ["/", "/api/v1/tokens"] {
        // A client without credentials: 401 and a word on why, and no token.
        let (status, _, body) = tokio::task::block_in_place(|| http_get(&url(path)));
        assert_eq!(status, 401, "{path}");
        assert!(body.starts_with("Unauthorized"), "{path}: {body}");
        assert!(!body.contains(RED), "{path} leaked a token: {body}");

        // A browser without credentials: nobody types a password into a headless browser, so
        // Chromium either shows the 401's own text or gives the load up as an authentication
        // failure (Debian's Chromium 156 does the latter and dumps an empty DOM). Either way, no
        // token; and a connection refused or any other failure would not do.
        let page = tokio::task::block_in_place(|| load(&chromium, &url(path)));
        assert!(
            page.dom.contains("Unauthorized")
                || page.log.contains("net::ERR_INVALID_AUTH_CREDENTIALS"),
            "{path}: Chromium neither showed the 401 nor failed to authenticate:\n{}\n{}",
            page.dom,
            page.log
        );
        assert!(
            !page.dom.contains(RED),
            "{path} leaked a token:\n{}",
            page.dom
        );
        assert!(
            !page.dom.contains("Okta API tokens"),
            "{path}:\n{}",
            page.dom
        );

        // The same browser with credentials in the URL sees the tokens.
        let with_credentials = url(path).replacen("://", &format!("://{user}:{password}@"), 1);
        let page = tokio::task::block_in_place(|| load(&chromium, &with_credentials));
        for (id, _) in EXPECTED {
            assert!(
                page.dom.contains(id),
                "{path} with credentials shows {id}:\n{page:?}"
            );
        }
    }
}

/// The simulated org with [`tokens`], and the exporter polling it once at start.
async fn exporter(extra_args: Vec<String>) -> (Simulator, Exporter) {
    let sim = Simulator::start(API_TOKEN, tokens()).await.unwrap();
    let mut setup = Setup::new(sim.url(), API_TOKEN);
    setup.poll_interval = "1h";
    setup.extra_args = extra_args;
    (sim, Exporter::start(setup))
}

/// Waits until `/metrics` has an `okta_api_token_info` series for every token.
fn wait_for_every_token(exporter: &Exporter) {
    exporter.wait_for("every token's info series", Duration::from_secs(20), |s| {
        EXPECTED
            .iter()
            .all(|(id, _)| !find(s, "okta_api_token_info", &[("token_id", id)]).is_empty())
    });
}

/// Waits until `ready` holds, or fails after 20 seconds.
async fn wait_until_ready<F: std::future::Future<Output = bool>>(ready: impl Fn() -> F) {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !ready().await {
        assert!(
            std::time::Instant::now() < deadline,
            "the exporter never got ready"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The table row (`<tr>` to `</tr>`) whose `<code>` cell holds `id`; fails when there is none.
fn row_of<'a>(dom: &'a str, id: &str) -> &'a str {
    dom.split("<tr")
        .filter_map(|row| row.split("</tr>").next())
        .find(|row| row.contains(&format!("<code>{id}</code>")))
        .unwrap_or_else(|| panic!("no row for {id}:\n{dom}"))
}

/// `status` of each token in the JSON view, by id.
fn statuses_by_id(orgs: &serde_json::Value) -> BTreeMap<String, String> {
    orgs.as_array()
        .expect("an array of orgs")
        .iter()
        .flat_map(|org| org["tokens"].as_array().expect("tokens"))
        .map(|t| {
            (
                t["id"].as_str().unwrap().into(),
                t["status"].as_str().unwrap().into(),
            )
        })
        .collect()
}

fn expected_statuses() -> BTreeMap<String, String> {
    EXPECTED
        .iter()
        .map(|(id, word)| (id.to_string(), word.to_lowercase()))
        .collect()
}

/// What headless Chromium made of a URL.
#[derive(Debug)]
struct Page {
    /// The DOM serialized after a virtual-time budget in which any script or `onerror` handler
    /// would have run; empty when the load failed.
    dom: String,
    /// Chromium's standard error, where it reports a failed load (`net::ERR_…`).
    log: String,
}

/// Loads `url` in a fresh headless Chromium profile, killing Chromium (and whatever it started)
/// when it takes longer than [`CHROMIUM_TIMEOUT`].
fn load(chromium: &Path, url: &str) -> Page {
    let profile = tempfile::tempdir().unwrap();
    let child = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            // Without these Chromium reaches out to Google at start, and is slow.
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--virtual-time-budget=2000",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg("--dump-dom")
        .arg(url)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Its own process group, so that a timeout kills the renderers too.
        .process_group(0)
        .spawn()
        .expect("start chromium");
    let group = child.id();
    let (done, finished) = std::sync::mpsc::channel();
    std::thread::spawn(move || done.send(child.wait_with_output()));
    let Ok(output) = finished.recv_timeout(CHROMIUM_TIMEOUT) else {
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{group}")])
            .status();
        panic!("chromium did not finish loading {url} within {CHROMIUM_TIMEOUT:?}");
    };
    let output = output.expect("wait for chromium");
    let page = Page {
        dom: String::from_utf8(output.stdout).expect("UTF-8 DOM"),
        log: String::from_utf8_lossy(&output.stderr).into_owned(),
    };
    assert!(
        output.status.success(),
        "chromium failed on {url}: {page:?}"
    );
    page
}
