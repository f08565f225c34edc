//! The whole chain as users run it: the simulated org, two exporter replicas, a real Prometheus
//! with the project's rules, a real Alertmanager with the example routing, and a webhook receiver
//! in the test. Also runs every dashboard query against that Prometheus.
//!
//! Needs Debian's `prometheus` and `prometheus-alertmanager`: skipped loudly without them, and a
//! failure under `CI=true`.

use crate::common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::TimeDelta;
use common::*;
use okta_simulator::Simulator;
use serde_json::Value;

const API_TOKEN: &str = "e2e-api-token";
const RED_TOKEN: &str = "00Te2eRed00000000001";
const GREEN_TOKEN: &str = "00Te2eGreen000000002";
const ORPHAN_TOKEN: &str = "00Te2eOrphan00000003";
const SUSPECT_TOKEN: &str = "00Te2eSuspect0000004";
const GONE_OWNER: &str = "00ue2eGoneOwner00001";
/// A gray token 9 days from expiry that both replicas keep alive (the dashboard shows it).
const KEPT_TOKEN: &str = "00Te2eKept0000000005";
const KEPT_SECRET: &str = "e2e-kept-alive-secret";
const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// A child process killed on drop, with its output kept for failure messages.
struct Daemon {
    name: &'static str,
    child: Child,
    log: PathBuf,
}

impl Daemon {
    fn start(name: &'static str, program: &Path, args: &[String], dir: &Path) -> Daemon {
        let log = dir.join(format!("{name}.log"));
        let file = std::fs::File::create(&log).unwrap();
        let child = Command::new(program)
            .args(args)
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .stdin(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        Daemon { name, child, log }
    }

    fn output(&self) -> String {
        format!(
            "--- {} log:\n{}",
            self.name,
            std::fs::read_to_string(&self.log).unwrap_or_default()
        )
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Receives Alertmanager's webhook posts; keeps every alert of every post.
struct WebhookReceiver {
    port: u16,
    alerts: Arc<Mutex<Vec<(String, Value)>>>,
}

impl WebhookReceiver {
    fn start() -> WebhookReceiver {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let alerts = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&alerts);
        std::thread::spawn(move || {
            for stream in listener.incoming().map_while(Result::ok) {
                let mut reader = BufReader::new(stream);
                let mut request_line = String::new();
                if reader.read_line(&mut request_line).is_err() {
                    continue;
                }
                let path = request_line.split(' ').nth(1).unwrap_or("").to_owned();
                let mut length = 0;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                        length = v.trim().parse().unwrap_or(0);
                    }
                }
                let mut body = vec![0; length];
                let _ = reader.read_exact(&mut body);
                let _ = reader.get_mut().write_all(
                    b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                );
                if let Ok(payload) = serde_json::from_slice::<Value>(&body) {
                    for alert in payload["alerts"].as_array().cloned().unwrap_or_default() {
                        sink.lock().unwrap().push((path.clone(), alert));
                    }
                }
            }
        });
        WebhookReceiver { port, alerts }
    }

    fn alerts(&self) -> Vec<(String, Value)> {
        self.alerts.lock().unwrap().clone()
    }
}

fn prometheus_query(port: u16, query: &str) -> Value {
    let encoded: String = url::form_urlencoded::byte_serialize(query.as_bytes()).collect();
    let (status, _, body) = http_get(&format!(
        "http://127.0.0.1:{port}/api/v1/query?query={encoded}"
    ));
    let answer: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    assert_eq!(status, 200, "query {query:?} failed: {body}");
    answer
}

fn wait_until(what: &str, timeout: Duration, daemons: &[&Daemon], mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !check() {
        if Instant::now() > deadline {
            let logs: Vec<String> = daemons.iter().map(|d| d.output()).collect();
            panic!("timed out waiting for {what}\n{}", logs.join("\n"));
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// The project's rules and Alertmanager config, with only times shortened for the test.
fn test_copies(dir: &Path, receiver_port: u16) -> (PathBuf, PathBuf) {
    let rules =
        std::fs::read_to_string(Path::new(ROOT).join("alerts/okta-api-tokens.rules.yml")).unwrap();
    // `for:` durations shrink to one second: the test proves the routing, not the waiting.
    let rules: String = rules
        .lines()
        .map(|line| match line.split_once("for: ") {
            Some((indent, _)) if indent.trim().is_empty() => format!("{indent}for: 1s"),
            _ => line.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("\n");
    let rules_path = dir.join("rules.yml");
    std::fs::write(&rules_path, rules).unwrap();
    let alertmanager =
        std::fs::read_to_string(Path::new(ROOT).join("alerts/alertmanager.yml")).unwrap();
    assert!(
        alertmanager.contains("http://localhost:5001/"),
        "the example receivers moved; update this test"
    );
    let alertmanager = alertmanager
        .replace(
            "http://localhost:5001/",
            &format!("http://127.0.0.1:{receiver_port}/"),
        )
        .replace("group_wait: 30s", "group_wait: 1s")
        // Resolved notifications must not wait for the example's 5-minute group interval.
        .replace("group_interval: 5m", "group_interval: 1s");
    let alertmanager_path = dir.join("alertmanager.yml");
    std::fs::write(&alertmanager_path, alertmanager).unwrap();
    (rules_path, alertmanager_path)
}

/// Alertmanager with the example routing to a webhook receiver in the test, and Prometheus with
/// the shipped rules scraping `targets` every second.
struct Monitoring {
    receiver: WebhookReceiver,
    alertmanager: Daemon,
    prometheus: Daemon,
    prometheus_port: u16,
}

impl Monitoring {
    fn start(prometheus: &Path, alertmanager: &Path, dir: &Path, targets: &[String]) -> Monitoring {
        let receiver = WebhookReceiver::start();
        let (rules, alertmanager_config) = test_copies(dir, receiver.port);
        let am_port = free_port();
        let am = Daemon::start(
            "alertmanager",
            alertmanager,
            &[
                format!("--config.file={}", alertmanager_config.display()),
                format!("--storage.path={}", dir.join("am").display()),
                format!("--web.listen-address=127.0.0.1:{am_port}"),
                "--cluster.listen-address=".into(),
            ],
            dir,
        );
        let prometheus_port = free_port();
        let prometheus_config = dir.join("prometheus.yml");
        let targets: Vec<String> = targets.iter().map(|t| format!("'{t}'")).collect();
        std::fs::write(
            &prometheus_config,
            format!(
                "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files: ['{}']\n\
                 alerting:\n  alertmanagers:\n    - static_configs:\n        - targets: ['127.0.0.1:{am_port}']\n\
                 scrape_configs:\n  - job_name: okta-token-exporter\n    static_configs:\n      - targets: [{}]\n",
                rules.display(),
                targets.join(", ")
            ),
        )
        .unwrap();
        let prom = Daemon::start(
            "prometheus",
            prometheus,
            &[
                format!("--config.file={}", prometheus_config.display()),
                format!("--storage.tsdb.path={}", dir.join("tsdb").display()),
                format!("--web.listen-address=127.0.0.1:{prometheus_port}"),
            ],
            dir,
        );
        Monitoring {
            receiver,
            alertmanager: am,
            prometheus: prom,
            prometheus_port,
        }
    }
}

/// Every `expr` of the dashboard, panels nested in rows included.
fn dashboard_queries() -> Vec<(String, String)> {
    let text =
        std::fs::read_to_string(Path::new(ROOT).join("dashboards/okta-api-tokens.json")).unwrap();
    let dashboard: Value = serde_json::from_str(&text).unwrap();
    let mut queries = Vec::new();
    let mut panels: Vec<Value> = dashboard["panels"].as_array().cloned().unwrap_or_default();
    while let Some(panel) = panels.pop() {
        panels.extend(panel["panels"].as_array().cloned().unwrap_or_default());
        for target in panel["targets"].as_array().cloned().unwrap_or_default() {
            if let Some(expr) = target["expr"].as_str() {
                queries.push((
                    panel["title"].as_str().unwrap_or("?").to_owned(),
                    expr.to_owned(),
                ));
            }
        }
    }
    queries
}

/// Fills in Grafana's variables as a user with every org selected would have them.
fn fill_variables(expr: &str) -> String {
    expr.replace("${org:regex}", ".+")
        .replace("${org}", ".+")
        .replace("$org", ".+")
        // "All": the dashboard's allValue.
        .replace("$cluster", ".*")
        .replace("$job", ".*")
        .replace("$instance", ".*")
        .replace("$__rate_interval", "1m")
        .replace("${__rate_interval}", "1m")
        .replace("$__interval", "15s")
        .replace("$__range", "1h")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(all(tool_prometheus, tool_alertmanager)),
    ignore = "needs `prometheus`: apt-get install prometheus; needs `prometheus-alertmanager`: apt-get install prometheus-alertmanager"
)]
async fn a_red_token_pages_through_prometheus_and_alertmanager_and_every_dashboard_query_has_data()
{
    let Some(prometheus) = require_tool("prometheus", "prometheus") else {
        return;
    };
    let Some(alertmanager) = require_tool("prometheus-alertmanager", "prometheus-alertmanager")
    else {
        return;
    };

    let sim = Simulator::start(
        API_TOKEN,
        vec![
            sim_token(
                RED_TOKEN,
                "SCIM provisioning (Workday)",
                TimeDelta::days(2),
                "P30D",
            ),
            sim_token(
                GREEN_TOKEN,
                "SIEM feed (Splunk)",
                TimeDelta::days(30),
                "P30D",
            ),
            okta_simulator::SimToken {
                user_id: GONE_OWNER.to_owned(),
                ..sim_token(
                    ORPHAN_TOKEN,
                    "HR sync (BambooHR)",
                    TimeDelta::days(20),
                    "P30D",
                )
            },
            sim_token(
                SUSPECT_TOKEN,
                "Terraform (zone restricted)",
                TimeDelta::days(25),
                "P30D",
            ),
            sim_token(KEPT_TOKEN, "Break-glass admin", TimeDelta::days(9), "P30D"),
        ],
    )
    .await
    .unwrap();
    sim.set_token_secret(KEPT_TOKEN, KEPT_SECRET);
    let secrets = tempfile::tempdir().unwrap();
    let kept_file = secrets.path().join("break-glass.token");
    std::fs::write(&kept_file, format!("{KEPT_SECRET}\n")).unwrap();
    set_private(&kept_file);
    let keepalive = format!(
        "    keepalive:\n      - token_id: {KEPT_TOKEN}\n        token_file: {}\n",
        kept_file.display()
    );
    sim.set_user(okta_simulator::SimUser {
        id: GONE_OWNER.to_owned(),
        login: "former.admin@acme.example".to_owned(),
        status: "DEPROVISIONED".to_owned(),
    });
    sim.push_log_event(okta_simulator::SimLogEvent::outside_allowed_range(
        chrono::Utc::now() - TimeDelta::minutes(30),
        SUSPECT_TOKEN,
        "terraform@acme.example",
    ));
    // Two replicas, as the README's example Prometheus config scrapes them.
    let mut setup = Setup::new(sim.url(), API_TOKEN);
    setup.poll_interval = "2s";
    setup.org_yaml = keepalive.clone();
    let replica_a = Exporter::start(setup);
    let mut setup = Setup::new(sim.url(), API_TOKEN);
    setup.poll_interval = "2s";
    setup.org_yaml = keepalive;
    let replica_b = Exporter::start(setup);
    for replica in [&replica_a, &replica_b] {
        replica.wait_for("the tokens", Duration::from_secs(20), |s| {
            find(s, "okta_api_token_info", &[]).len() == 5
        });
    }
    // The replica that polls first keeps the token alive; the other then finds it far from
    // expiry and leaves it alone.
    let refreshed = |replica: &Exporter| {
        !find(
            &replica.metrics(),
            "okta_api_token_keepalive_last_timestamp_seconds",
            &[],
        )
        .is_empty()
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while !(refreshed(&replica_a) || refreshed(&replica_b)) {
        assert!(Instant::now() < deadline, "no replica kept the token alive");
        std::thread::sleep(Duration::from_millis(50));
    }

    let dir = tempfile::tempdir().unwrap();
    let targets = [&replica_a, &replica_b].map(|r| r.base.trim_start_matches("http://").to_owned());
    let Monitoring {
        receiver,
        alertmanager: am,
        prometheus: prom,
        prometheus_port: prom_port,
    } = Monitoring::start(&prometheus, &alertmanager, dir.path(), &targets);

    // The Red token's alert reaches the receiver, once, with the labels a person needs.
    let started = Instant::now();
    wait_until(
        "the Red token's alert at the receiver",
        Duration::from_secs(120),
        &[&prom, &am],
        || {
            receiver
                .alerts()
                .iter()
                .any(|(_, a)| a["labels"]["token_id"] == RED_TOKEN)
        },
    );
    eprintln!(
        "the Red token's alert arrived after {:.1}s",
        started.elapsed().as_secs_f64()
    );
    // Two replicas, one alert: Prometheus itself holds one for the token (no waiting to see
    // whether a second arrives).
    let firing = prometheus_query(
        prom_port,
        &format!(r#"count(ALERTS{{token_id="{RED_TOKEN}",alertstate="firing"}})"#),
    );
    assert_eq!(firing["data"]["result"][0]["value"][1], "1", "{firing}");
    let alerts = receiver.alerts();
    let red: Vec<&Value> = alerts
        .iter()
        .filter(|(_, a)| a["labels"]["token_id"] == RED_TOKEN)
        .map(|(_, a)| a)
        .collect();
    let labels = &red[0]["labels"];
    assert_eq!(labels["alertname"], "OktaApiTokenExpiresWithin7Days");
    assert_eq!(labels["severity"], "warning");
    assert_eq!(labels["org"], "test-org");
    assert_eq!(labels["token_name"], "SCIM provisioning (Workday)");
    assert_eq!(labels["user_id"], "00utestuser000000001");
    assert!(
        labels.get("instance").is_none(),
        "replicas are aggregated away: {labels}"
    );
    let description = red[0]["annotations"]["description"].as_str().unwrap();
    assert!(
        description.contains("SCIM provisioning (Workday)")
            && description.contains(RED_TOKEN)
            && description.contains("test-org"),
        "{description}"
    );
    assert!(
        description.contains("1d ") || description.contains("2d"),
        "time left, humanized: {description}"
    );
    let distinct: std::collections::BTreeSet<String> =
        red.iter().map(|a| a["fingerprint"].to_string()).collect();
    assert_eq!(distinct.len(), 1, "two replicas, one alert: {red:?}");
    assert!(
        alerts
            .iter()
            .all(|(_, a)| a["labels"]["token_id"] != GREEN_TOKEN),
        "no alert for the green token: {alerts:?}"
    );
    assert!(
        alerts.iter().any(|(path, _)| path == "/okta/tickets"),
        "a warning goes to the ticket receiver"
    );

    // The deactivated owner pages; the token used from outside its zones opens a ticket.
    wait_until(
        "the owner and suspicious alerts",
        Duration::from_secs(90),
        &[&prom, &am],
        || {
            let alerts = receiver.alerts();
            let has = |token: &str, name: &str| {
                alerts.iter().any(|(_, a)| {
                    a["labels"]["token_id"] == token && a["labels"]["alertname"] == name
                })
            };
            has(ORPHAN_TOKEN, "OktaApiTokenOwnerNotActive")
                && has(SUSPECT_TOKEN, "OktaApiTokenSuspicious")
        },
    );
    let alerts = receiver.alerts();
    let (path, orphan) = alerts
        .iter()
        .find(|(_, a)| a["labels"]["alertname"] == "OktaApiTokenOwnerNotActive")
        .unwrap();
    assert_eq!(path, "/okta/pager", "a deactivated owner pages");
    assert_eq!(orphan["labels"]["severity"], "critical");
    assert!(orphan["annotations"]["description"]
        .as_str()
        .unwrap()
        .contains("HR sync (BambooHR)"));
    let (path, suspect) = alerts
        .iter()
        .find(|(_, a)| a["labels"]["alertname"] == "OktaApiTokenSuspicious")
        .unwrap();
    assert_eq!(path, "/okta/tickets");
    assert_eq!(suspect["labels"]["severity"], "warning");
    for name in ["OktaApiTokenOwnerNotActive", "OktaApiTokenSuspicious"] {
        let fired: std::collections::BTreeSet<String> = alerts
            .iter()
            .filter(|(_, a)| a["labels"]["alertname"] == name)
            .map(|(_, a)| a["fingerprint"].to_string())
            .collect();
        assert_eq!(fired.len(), 1, "{name}: two replicas, one alert");
    }
    assert!(
        alerts
            .iter()
            .all(|(_, a)| a["labels"]["token_id"] != GREEN_TOKEN),
        "still nothing for the green token"
    );

    // Every dashboard query, variables filled in, returns data from this Prometheus.
    let queries = dashboard_queries();
    assert!(
        queries.len() >= 8,
        "the dashboard has its panels: {queries:?}"
    );
    wait_until(
        "a few scrapes for rate()",
        Duration::from_secs(30),
        &[&prom],
        || {
            let answer = prometheus_query(prom_port, "count_over_time(okta_up[5m])");
            answer["data"]["result"][0]["value"][1]
                .as_str()
                .and_then(|v| v.parse::<f64>().ok())
                .unwrap_or(0.0)
                >= 5.0
        },
    );
    let mut empty = Vec::new();
    for (panel, expr) in &queries {
        let query = fill_variables(expr);
        assert!(
            !query.contains('$'),
            "panel {panel:?}: unfilled variable in {query:?}"
        );
        let answer = prometheus_query(prom_port, &query);
        assert_eq!(
            answer["status"], "success",
            "panel {panel:?}: {query:?}: {answer}"
        );
        if answer["data"]["result"]
            .as_array()
            .is_none_or(|r| r.is_empty())
        {
            empty.push(format!("{panel}: {query}"));
        }
    }
    assert!(
        empty.is_empty(),
        "dashboard queries without data (a metric the exporter does not export?):\n{}",
        empty.join("\n")
    );
}

/// Writes the config of an exporter with two orgs on the same simulated Okta: `test-org` with
/// `token`, and `refused`, whose token Okta never accepts.
fn two_org_config(dir: &Path, sim_url: &str, token: &str, name: &str) -> PathBuf {
    let write_secret = |file: &str, value: &str| {
        let path = dir.join(file);
        std::fs::write(&path, value).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        path
    };
    let good = write_secret(&format!("{name}-test-org.token"), token);
    let refused = write_secret(&format!("{name}-refused.token"), "never-accepted");
    let config = dir.join(format!("{name}.yml"));
    std::fs::write(
        &config,
        format!(
            "poll_interval: 2s\nhttp:\n  retries: 0\norgs:\n  - name: test-org\n    url: {sim_url}\n    auth:\n      ssws:\n        token_file: {}\n  - name: refused\n    url: {sim_url}\n    auth:\n      ssws:\n        token_file: {}\n",
            good.display(),
            refused.display()
        ),
    )
    .unwrap();
    config
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(all(tool_prometheus, tool_alertmanager)),
    ignore = "needs `prometheus`: apt-get install prometheus; needs `prometheus-alertmanager`: apt-get install prometheus-alertmanager"
)]
async fn a_restart_during_an_okta_outage_resolves_nothing_and_a_lapse_meanwhile_pages() {
    let Some(prometheus) = require_tool("prometheus", "prometheus") else {
        return;
    };
    let Some(alertmanager) = require_tool("prometheus-alertmanager", "prometheus-alertmanager")
    else {
        return;
    };
    const CRITICAL_TOKEN: &str = "00Te2eCritical000001";
    const LAPSING_TOKEN: &str = "00Te2eLapsing0000002";
    let lapsing = sim_token(
        LAPSING_TOKEN,
        "Nightly export",
        TimeDelta::seconds(20),
        "P30D",
    );
    let lapses_at = lapsing.expires_at;
    let sim = Simulator::start(
        API_TOKEN,
        vec![
            sim_token(
                CRITICAL_TOKEN,
                "SCIM provisioning",
                TimeDelta::hours(12),
                "P30D",
            ),
            lapsing,
            sim_token(GREEN_TOKEN, "SIEM feed", TimeDelta::days(30), "P30D"),
        ],
    )
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let storage = dir.path().join("state");
    std::fs::create_dir(&storage).unwrap();
    let exporter_port = free_port();
    let start_exporter = |name: &str, token: &str| {
        let config = two_org_config(dir.path(), &sim.url(), token, name);
        Exporter::spawn(
            vec![
                format!("--config.file={}", config.display()),
                format!("--web.listen-address=127.0.0.1:{exporter_port}"),
                format!("--storage.path={}", storage.display()),
                "--log.level=debug".into(),
            ],
            tempfile::tempdir().unwrap(),
        )
    };
    let first = start_exporter("first", API_TOKEN);
    first.wait_for("the tokens", Duration::from_secs(20), |s| {
        find(s, "okta_api_token_info", &[]).len() == 3
    });

    let Monitoring {
        receiver,
        alertmanager: am,
        prometheus: prom,
        ..
    } = Monitoring::start(
        &prometheus,
        &alertmanager,
        dir.path(),
        &[format!("127.0.0.1:{exporter_port}")],
    );
    let firing = |name: &str, label: &str, value: &str| {
        receiver.alerts().iter().any(|(_, a)| {
            a["labels"]["alertname"] == name
                && a["labels"][label] == value
                && a["status"] == "firing"
        })
    };
    wait_until(
        "the 24-hour page and the never-polled org's page",
        Duration::from_secs(120),
        &[&prom, &am],
        || {
            firing(
                "OktaApiTokenExpiresWithin24Hours",
                "token_id",
                CRITICAL_TOKEN,
            ) && firing("OktaExporterOrgNeverPolled", "org", "refused")
        },
    );
    let (path, never) = receiver
        .alerts()
        .into_iter()
        .find(|(_, a)| a["labels"]["alertname"] == "OktaExporterOrgNeverPolled")
        .unwrap();
    assert_eq!(path, "/okta/pager", "an org never polled pages: {never}");
    assert_eq!(never["labels"]["severity"], "critical");

    // Down while Okta fails, and the nightly token lapses meanwhile.
    assert!(first.terminate().success());
    assert!(sim.remove_token(LAPSING_TOKEN));
    let deadline = Instant::now() + Duration::from_secs(60);
    while chrono::Utc::now() <= lapses_at {
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(100));
    }
    // Back, but Okta refuses every poll (the token was rotated under it): it serves the tokens
    // it knew from its state file.
    let second = start_exporter("second", "a-rotated-token");
    second.wait_for("a refused poll", Duration::from_secs(20), |s| {
        value(
            s,
            "okta_poll_errors_total",
            &[("org", "test-org"), ("reason", "unauthorized")],
        ) >= 1.0
    });
    let outage = Instant::now();
    wait_until("20 s of outage", Duration::from_secs(30), &[&prom], || {
        outage.elapsed() >= Duration::from_secs(20)
    });
    assert!(second.terminate().success());
    // Okta answers again: the first poll finds the nightly token gone past its expiry.
    let third = start_exporter("third", API_TOKEN);
    third.wait_for("the lapse counted", Duration::from_secs(20), |s| {
        value(
            s,
            "okta_api_tokens_removed_total",
            &[("org", "test-org"), ("reason", "expired")],
        ) == 1.0
    });
    wait_until(
        "OktaApiTokenLapsed at the pager",
        Duration::from_secs(60),
        &[&prom, &am],
        || firing("OktaApiTokenLapsed", "org", "test-org"),
    );

    let resolved: Vec<Value> = receiver
        .alerts()
        .into_iter()
        .filter(|(_, a)| a["status"] == "resolved" && a["labels"]["token_id"] == CRITICAL_TOKEN)
        .map(|(_, a)| a)
        .collect();
    assert!(
        resolved.is_empty(),
        "a restart during an outage resolved the page of a token that still expires: {resolved:?}\n{}",
        prom.output()
    );
    drop(third);
}

/// The Okta reads that used to stop without a word, through real Prometheus and Alertmanager
/// with two replicas: a concurrency 429 on owner lookups (its zero limit used to stop them for
/// good), a System Log event published late into a window already read, and a user
/// deactivated, whose tokens Okta deletes at once. Each reaches the receiver as one alert that
/// names the token: the late event as a suspicious token, the token in use as a page, the idle
/// one as a ticket, the 429 as a warning.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(all(tool_prometheus, tool_alertmanager)),
    ignore = "needs `prometheus`: apt-get install prometheus; needs `prometheus-alertmanager`: apt-get install prometheus-alertmanager"
)]
async fn a_late_event_a_deactivated_owner_and_a_concurrency_429_each_reach_the_receiver() {
    let Some(prometheus) = require_tool("prometheus", "prometheus") else {
        return;
    };
    let Some(alertmanager) = require_tool("prometheus-alertmanager", "prometheus-alertmanager")
    else {
        return;
    };
    const LEAVER: &str = "00ue2eLeaver00000001";
    const IN_USE: &str = "00Te2eLeaverInUse001";
    const IDLE: &str = "00Te2eLeaverIdle0002";
    const LATE: &str = "00Te2eLateSuspect003";
    let mut in_use = sim_token(IN_USE, "SCIM sync (leaver's)", TimeDelta::days(30), "P30D");
    in_use.use_every = Some(Duration::from_secs(1));
    in_use.user_id = LEAVER.to_owned();
    let mut idle = sim_token(IDLE, "Old report (leaver's)", TimeDelta::days(20), "P30D");
    idle.user_id = LEAVER.to_owned();
    let sim = Simulator::start(
        API_TOKEN,
        vec![
            in_use,
            idle,
            sim_token(
                LATE,
                "Terraform (zone restricted)",
                TimeDelta::days(25),
                "P30D",
            ),
            sim_token(GREEN_TOKEN, "SIEM feed", TimeDelta::days(30), "P30D"),
        ],
    )
    .await
    .unwrap();
    sim.set_user(okta_simulator::SimUser {
        id: LEAVER.to_owned(),
        login: "leaver@acme.example".to_owned(),
        status: "ACTIVE".to_owned(),
    });
    sim.push_endpoint_fault(
        okta_simulator::SimEndpoint::Users,
        okta_simulator::Fault::RateLimited {
            reset_after: Duration::from_secs(2),
            concurrency: true,
        },
    );
    let replicas: Vec<Exporter> = (0..2)
        .map(|_| {
            let mut setup = Setup::new(sim.url(), API_TOKEN);
            setup.poll_interval = "2s";
            Exporter::start(setup)
        })
        .collect();
    for replica in &replicas {
        replica.wait_for("the tokens and owners", Duration::from_secs(30), |s| {
            find(s, "okta_api_token_info", &[]).len() == 4
                && find(s, "okta_api_token_owner_active", &[("user_id", LEAVER)]).len() == 2
        });
    }
    let dir = tempfile::tempdir().unwrap();
    let targets: Vec<String> = replicas
        .iter()
        .map(|r| r.base.trim_start_matches("http://").to_owned())
        .collect();
    let Monitoring {
        receiver,
        alertmanager: am,
        prometheus: prom,
        prometheus_port,
    } = Monitoring::start(&prometheus, &alertmanager, dir.path(), &targets);
    wait_until(
        "both replicas scraped",
        Duration::from_secs(60),
        &[&prom],
        || {
            let ready = std::net::TcpStream::connect(("127.0.0.1", prometheus_port)).is_ok()
                && http_get(&format!("http://127.0.0.1:{prometheus_port}/-/ready")).0 == 200;
            ready
                && prometheus_query(prometheus_port, "count(okta_up == 1)")["data"]["result"][0]
                    ["value"][1]
                    == "2"
        },
    );

    // Published a minute ago, received now: both replicas have read past it already.
    sim.push_late_log_event(okta_simulator::SimLogEvent::outside_allowed_range(
        chrono::Utc::now() - TimeDelta::minutes(1),
        LATE,
        "terraform@acme.example",
    ));
    assert_eq!(sim.deactivate_user(LEAVER).len(), 2);

    let alerts_of = |name: &str| -> Vec<(String, Value)> {
        receiver
            .alerts()
            .into_iter()
            .filter(|(_, a)| a["labels"]["alertname"] == name && a["status"] == "firing")
            .collect()
    };
    wait_until(
        "the suspicious token, both deleted tokens and the 429 at the receiver",
        Duration::from_secs(120),
        &[&prom, &am],
        || {
            let deleted = alerts_of("OktaApiTokenDeletedWithOwner");
            let has = |token: &str| {
                deleted
                    .iter()
                    .any(|(_, a)| a["labels"]["token_id"] == token)
            };
            has(IN_USE)
                && has(IDLE)
                && alerts_of("OktaApiTokenSuspicious")
                    .iter()
                    .any(|(_, a)| a["labels"]["token_id"] == LATE)
                && !alerts_of("OktaExporterRateLimited").is_empty()
        },
    );
    // One alert per token, whatever the number of replicas: Prometheus itself holds one.
    let per_token = prometheus_query(
        prometheus_port,
        r#"count by (token_id) (ALERTS{alertname="OktaApiTokenDeletedWithOwner",alertstate="firing"})"#,
    );
    let counts: Vec<(String, String)> = per_token["data"]["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["metric"]["token_id"].as_str().unwrap().to_owned(),
                r["value"][1].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(counts.len(), 2, "{counts:?}");
    assert!(
        counts.iter().all(|(_, n)| n == "1"),
        "two replicas, one alert: {counts:?}"
    );
    let deleted = alerts_of("OktaApiTokenDeletedWithOwner");
    for (token, path, severity) in [
        (IN_USE, "/okta/pager", "critical"),
        (IDLE, "/okta/tickets", "warning"),
    ] {
        let of_token: Vec<&(String, Value)> = deleted
            .iter()
            .filter(|(_, a)| a["labels"]["token_id"] == token)
            .collect();
        let (at, alert) = of_token[0];
        assert_eq!(at, path, "{token}: {alert}");
        assert_eq!(alert["labels"]["severity"], severity);
        assert_eq!(alert["labels"]["user_id"], LEAVER);
        let description = alert["annotations"]["description"].as_str().unwrap();
        assert!(description.contains("leaver@acme.example"), "{description}");
    }
    let limited = alerts_of("OktaExporterRateLimited");
    assert!(
        limited
            .iter()
            .all(|(_, a)| a["labels"]["endpoint"] == "/api/v1/users/{id}"),
        "{limited:?}"
    );
    let lapsed = alerts_of("OktaApiTokenLapsed");
    assert!(lapsed.is_empty(), "a deleted token is no lapse: {lapsed:?}");
    assert!(
        receiver
            .alerts()
            .iter()
            .all(|(_, a)| a["labels"]["token_id"] != GREEN_TOKEN),
        "nothing for the green token"
    );
    drop(replicas);
}
