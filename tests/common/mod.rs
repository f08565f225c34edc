//! Test support: run the real exporter binary against the simulated Okta org, scrape it over
//! loopback HTTP, and read its output.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, Utc};
use okta_simulator::SimToken;

pub const BIN: &str = env!("CARGO_BIN_EXE_okta-token-exporter");

/// A running exporter process; killed on drop.
pub struct Exporter {
    child: Child,
    pub base: String,
    logs: Arc<Mutex<Vec<String>>>,
    _dir: tempfile::TempDir,
}

/// Options for a test exporter: one org polled often, retries fast.
pub struct Setup {
    pub org_url: String,
    pub api_token: String,
    pub poll_interval: &'static str,
    pub retries: u32,
    pub request_timeout: &'static str,
    pub max_response_bytes: usize,
    /// More YAML under the org, indented by four spaces (e.g. an `enrich:` block).
    pub org_yaml: String,
    pub extra_args: Vec<String>,
}

impl Setup {
    pub fn new(org_url: String, api_token: &str) -> Setup {
        Setup {
            org_url,
            api_token: api_token.to_owned(),
            poll_interval: "300ms",
            retries: 0,
            request_timeout: "5s",
            max_response_bytes: 16 << 20,
            org_yaml: String::new(),
            extra_args: Vec::new(),
        }
    }
}

impl Exporter {
    /// Writes a config and token file, starts the binary on 127.0.0.1:0 and waits until it listens.
    pub fn start(setup: Setup) -> Exporter {
        let dir = tempfile::tempdir().unwrap();
        let token_path = dir.path().join("okta.token");
        std::fs::write(&token_path, format!("{}\n", setup.api_token)).unwrap();
        set_private(&token_path);
        let config_path = dir.path().join("config.yml");
        let config = format!(
            "poll_interval: {}\nhttp:\n  retries: {}\n  retry_backoff: 20ms\n  request_timeout: {}\n  max_response_bytes: {}\norgs:\n  - name: test-org\n    url: {}\n    auth:\n      ssws:\n        token_file: {}\n{}",
            setup.poll_interval,
            setup.retries,
            setup.request_timeout,
            setup.max_response_bytes,
            setup.org_url,
            token_path.display(),
            setup.org_yaml
        );
        std::fs::write(&config_path, config).unwrap();
        let mut args = vec![
            format!("--config.file={}", config_path.display()),
            "--web.listen-address=127.0.0.1:0".to_owned(),
            "--log.level=trace".to_owned(),
        ];
        args.extend(setup.extra_args);
        Self::spawn(args, dir)
    }

    /// Starts the binary with these arguments (plus nothing else) and waits until it listens.
    pub fn spawn(args: Vec<String>, dir: tempfile::TempDir) -> Exporter {
        let mut child = Command::new(BIN)
            .args(&args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the exporter binary");
        let logs = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let stderr = child.stderr.take().unwrap();
        let sink = Arc::clone(&logs);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if line.contains("message=listening") {
                    let address = logfmt_field(&line, "address").unwrap_or_default();
                    let _ = tx.send(address);
                }
                sink.lock().unwrap().push(line);
            }
        });
        let address = match rx.recv_timeout(Duration::from_secs(20)) {
            Ok(address) => address,
            Err(_) => {
                let _ = child.kill();
                panic!(
                    "the exporter did not start listening; logs:\n{}",
                    logs.lock().unwrap().join("\n")
                );
            }
        };
        Exporter {
            child,
            base: format!("http://{address}"),
            logs,
            _dir: dir,
        }
    }

    pub fn logs(&self) -> Vec<String> {
        self.logs.lock().unwrap().clone()
    }

    pub fn get(&self, path: &str) -> (u16, String, String) {
        http_get(&format!("{}{path}", self.base))
    }

    pub fn metrics(&self) -> Vec<Sample> {
        let (status, _, body) = self.get("/metrics");
        assert_eq!(status, 200, "/metrics must always answer 200");
        parse_metrics(&body)
    }

    /// Scrapes until `check` holds, or panics with the last scrape after `timeout`.
    pub fn wait_for(
        &self,
        what: &str,
        timeout: Duration,
        check: impl Fn(&[Sample]) -> bool,
    ) -> Vec<Sample> {
        let deadline = Instant::now() + timeout;
        loop {
            let samples = self.metrics();
            if check(&samples) {
                return samples;
            }
            if Instant::now() > deadline {
                panic!(
                    "timed out waiting for {what}; logs:\n{}",
                    self.logs().join("\n")
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits until the log lines that `matching` keeps satisfy `done`, or fails after `WAIT`;
    /// returns those lines. Metrics can show a poll's outcome before its log line is read from
    /// stderr, so a test that checks the log waits for it.
    pub fn wait_for_log(
        &self,
        what: &str,
        matching: impl Fn(&str) -> bool,
        done: impl Fn(&[String]) -> bool,
    ) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let lines: Vec<String> = self.logs().into_iter().filter(|l| matching(l)).collect();
            if done(&lines) {
                return lines;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what} in the log:\n{}",
                self.logs().join("\n")
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends SIGTERM and waits for the exit status.
    pub fn terminate(mut self) -> std::process::ExitStatus {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "the exporter did not stop on SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Exporter {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[cfg(unix)]
pub fn set_private(path: &std::path::Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
}

#[cfg(not(unix))]
pub fn set_private(_: &std::path::Path) {}

/// A minimal blocking HTTP/1.1 GET: status, content type, body. Enough for loopback tests, and
/// independent of the crates under test.
pub fn http_get(url: &str) -> (u16, String, String) {
    http_request("GET", url)
}

pub fn http_request(method: &str, url: &str) -> (u16, String, String) {
    let (status, head, body) = http_exchange(method, url, &[]);
    let content_type = header_of(&head, "content-type").unwrap_or_default();
    let body = String::from_utf8(body).expect("UTF-8 body");
    (status, content_type, body)
}

/// The value of a header in a response head.
pub fn header_of(head: &str, name: &str) -> Option<String> {
    head.lines().find_map(|l| {
        let (key, value) = l.split_once(':')?;
        key.eq_ignore_ascii_case(name)
            .then(|| value.trim().to_owned())
    })
}

/// One request with extra headers: status, the response head, and the body as sent (after
/// undoing chunked transfer coding, before any content coding).
pub fn http_exchange(method: &str, url: &str, headers: &[(&str, &str)]) -> (u16, String, Vec<u8>) {
    let rest = url.strip_prefix("http://").expect("http URL");
    let (host, path) = rest
        .split_once('/')
        .map_or((rest, "/".to_owned()), |(h, p)| (h, format!("/{p}")));
    let mut stream = std::net::TcpStream::connect(host).expect("connect to the exporter");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let extra: String = headers
        .iter()
        .map(|(name, value)| format!("{name}: {value}\r\n"))
        .collect();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\n{extra}Connection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = Vec::new();
    std::io::Read::read_to_end(&mut stream, &mut raw).unwrap();
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("HTTP response");
    let head = String::from_utf8(raw[..split].to_vec()).expect("ASCII headers");
    let mut body = raw[split + 4..].to_vec();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    if header_of(&head, "transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        body = dechunk(&body);
    }
    (status, head, body)
}

/// Decodes a chunked transfer-encoded body.
fn dechunk(mut raw: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    loop {
        let line_end = raw
            .windows(2)
            .position(|w| w == b"\r\n")
            .expect("chunk size line");
        let size_text = std::str::from_utf8(&raw[..line_end]).unwrap();
        let size = usize::from_str_radix(size_text.split(';').next().unwrap().trim(), 16)
            .expect("hex chunk size");
        raw = &raw[line_end + 2..];
        if size == 0 {
            return body;
        }
        body.extend_from_slice(&raw[..size]);
        raw = &raw[size + 2..];
    }
}

/// The value of `key=` in a logfmt line.
pub fn logfmt_field(line: &str, key: &str) -> Option<String> {
    let start = line.find(&format!(" {key}="))? + key.len() + 2;
    let rest = &line[start..];
    if let Some(quoted) = rest.strip_prefix('"') {
        let end = quoted.find('"')?;
        Some(quoted[..end].to_owned())
    } else {
        Some(rest.split(' ').next()?.to_owned())
    }
}

/// One sample of the text exposition format.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

impl Sample {
    pub fn label(&self, name: &str) -> &str {
        self.labels.get(name).map(String::as_str).unwrap_or("")
    }
}

/// Parses the text format, unescaping label values (`\\`, `\"`, `\n`).
pub fn parse_metrics(text: &str) -> Vec<Sample> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|line| {
            let (series, value) = line.rsplit_once(' ').expect("sample line");
            let value = value
                .parse()
                .unwrap_or_else(|_| panic!("bad value in {line:?}"));
            let (name, labels) = match series.split_once('{') {
                None => (series.to_owned(), BTreeMap::new()),
                Some((name, rest)) => (
                    name.to_owned(),
                    parse_labels(rest.strip_suffix('}').expect("closing brace")),
                ),
            };
            Sample {
                name,
                labels,
                value,
            }
        })
        .collect()
}

fn parse_labels(mut text: &str) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::new();
    while !text.is_empty() {
        let (name, rest) = text.split_once("=\"").expect("label=\"");
        let mut value = String::new();
        let mut chars = rest.char_indices();
        let end = loop {
            let (i, c) = chars.next().expect("closing quote");
            match c {
                '\\' => match chars.next().expect("escape").1 {
                    'n' => value.push('\n'),
                    other => value.push(other),
                },
                '"' => break i,
                c => value.push(c),
            }
        };
        labels.insert(name.to_owned(), value);
        text = rest[end + 1..].trim_start_matches(',');
    }
    labels
}

/// The samples of `name` whose labels include every `(label, value)` of `filter`.
pub fn find<'a>(samples: &'a [Sample], name: &str, filter: &[(&str, &str)]) -> Vec<&'a Sample> {
    samples
        .iter()
        .filter(|s| s.name == name && filter.iter().all(|(k, v)| s.label(k) == *v))
        .collect()
}

/// The one value of `name` with these labels; panics when there is not exactly one.
pub fn value(samples: &[Sample], name: &str, filter: &[(&str, &str)]) -> f64 {
    let found = find(samples, name, filter);
    assert_eq!(
        found.len(),
        1,
        "expected one {name}{filter:?}, found {found:?}"
    );
    found[0].value
}

/// A token for tests, `expires_in` from now, with a 30-day window unless `window` says otherwise.
pub fn sim_token(id: &str, name: &str, expires_in: TimeDelta, window: &str) -> SimToken {
    let now = Utc::now();
    SimToken {
        id: id.to_owned(),
        name: name.to_owned(),
        user_id: "00utestuser000000001".to_owned(),
        client_name: "Okta API".to_owned(),
        token_window: window.to_owned(),
        network_connection: Some("ANYWHERE".to_owned()),
        created: now - TimeDelta::days(60),
        expires_at: now + expires_in,
        use_every: None,
    }
}

pub fn epoch(t: DateTime<Utc>) -> f64 {
    t.timestamp_millis() as f64 / 1000.0
}

/// Whether a tool is on PATH. When it is missing: a loud skip locally, a failure under `CI=true`.
pub fn require_tool(tool: &str, package: &str) -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(tool))
            .find(|candidate| candidate.is_file())
    });
    if found.is_none() {
        let message = format!("SKIPPED: `{tool}` not found; install Debian's `{package}` package (apt-get install {package})");
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("{message}: it is required under CI=true");
        }
        eprintln!("\n!!!!!!!! {message} !!!!!!!!\n");
    }
    found
}

/// The output of `program args` run in `dir`, once per test binary however many tests ask for it.
/// For read-only checks of committed files that two tests make: `promtool test rules
/// alerts/tests/*.yml` is a test of `alerting_rules` and a command of docs/alerts.md that
/// `readme` runs, and takes half a minute of CPU.
pub fn output_once(
    program: &std::path::Path,
    args: &[&str],
    dir: &std::path::Path,
) -> std::process::Output {
    type Key = (PathBuf, Vec<String>, PathBuf);
    static RUNS: Mutex<BTreeMap<Key, Arc<std::sync::OnceLock<std::process::Output>>>> =
        Mutex::new(BTreeMap::new());
    let key = (
        program.to_owned(),
        args.iter().map(|a| a.to_string()).collect(),
        dir.to_owned(),
    );
    let once = RUNS.lock().unwrap().entry(key).or_default().clone();
    once.get_or_init(|| {
        Command::new(program)
            .args(args)
            .current_dir(dir)
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", program.display()))
    })
    .clone()
}
