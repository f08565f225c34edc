//! The binary's command line and HTTP surface: configuration errors, probes, the landing page,
//! the demo, and shutdown.

use crate::common;

use std::process::Command;
use std::time::Duration;

use common::*;

fn run(args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(BIN)
        .args(args)
        .env_remove("OKTA_API_TOKEN")
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn write(dir: &tempfile::TempDir, name: &str, content: &str) -> String {
    let path = dir.path().join(name);
    std::fs::write(&path, content).unwrap();
    path.display().to_string()
}

#[test]
fn help_and_version_describe_the_exporter() {
    let (code, help, _) = run(&["--help"]);
    assert_eq!(code, Some(0));
    for flag in [
        "--config.file",
        "--config.check",
        "--okta.org-url",
        "--okta.token-file",
        "--okta.org-name",
        "--okta.poll-interval",
        "--web.listen-address",
        "--web.telemetry-path",
        "--web.config.file",
        "--okta.client-id",
        "--okta.private-key-file",
        "--okta.key-id",
        "--log.level",
        "--log.format",
        "demo",
        "OKTA_API_TOKEN",
    ] {
        assert!(help.contains(flag), "--help lacks {flag}:\n{help}");
    }
    let (code, version, _) = run(&["--version"]);
    assert_eq!(code, Some(0));
    assert_eq!(
        version.trim(),
        format!("okta-token-exporter {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn a_bad_config_exits_2_naming_file_line_and_key_before_serving() {
    let dir = tempfile::tempdir().unwrap();
    let config = write(&dir, "okta.yml", "orgs:\n  - name: acme\n    url: http://acme.okta.com\n    auth:\n      ssws:\n        token_env: X\n");
    let (code, _, stderr) = run(&["--config.file", &config, "--web.listen-address=127.0.0.1:0"]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains(&format!("{config}:3:")), "{stderr}");
    assert!(stderr.contains("orgs[0].url"), "{stderr}");
    assert!(stderr.contains("https://"), "{stderr}");
    assert!(!stderr.contains("listening"), "nothing is served: {stderr}");
}

#[test]
fn config_check_validates_and_reads_the_token_files() {
    let dir = tempfile::tempdir().unwrap();
    let token = write(&dir, "t", "secret\n");
    let good = write(&dir, "good.yml", &format!("orgs:\n  - name: acme\n    url: https://acme.okta.com\n    auth:\n      ssws:\n        token_file: {token}\n"));
    let (code, stdout, stderr) = run(&["--config.file", &good, "--config.check"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stdout.contains("1 org"), "{stdout}");

    let empty = write(&dir, "empty", "");
    let bad = write(&dir, "bad.yml", &format!("orgs:\n  - name: acme\n    url: https://acme.okta.com\n    auth:\n      ssws:\n        token_file: {empty}\n"));
    let (code, _, stderr) = run(&["--config.file", &bad, "--config.check"]);
    assert_eq!(code, Some(2));
    assert!(
        stderr.contains(&format!("{bad}:6:"))
            && stderr.contains("orgs[0].auth.ssws.token_file")
            && stderr.contains("is empty"),
        "{stderr}"
    );

    let (code, _, stderr) = run(&["--config.file", "/nonexistent/okta.yml", "--config.check"]);
    assert_eq!(code, Some(2));
    assert!(
        stderr.contains("/nonexistent/okta.yml") && stderr.contains("cannot read"),
        "{stderr}"
    );
}

#[test]
fn single_org_flags_need_a_token_and_name_the_flag_at_fault() {
    let (code, _, stderr) = run(&["--okta.org-url=https://acme.okta.com", "--config.check"]);
    assert_eq!(code, Some(2));
    assert!(
        stderr.contains("--okta.token-file") && stderr.contains("OKTA_API_TOKEN"),
        "{stderr}"
    );

    let out = Command::new(BIN)
        .args(["--okta.org-url=https://acme.okta.com", "--config.check"])
        .env("OKTA_API_TOKEN", "from-env")
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let (code, _, stderr) = run(&["--okta.org-url=http://acme.okta.com", "--config.check"]);
    assert_eq!(code, Some(2));
    assert!(
        stderr.contains("--okta.org-url") && stderr.contains("https://"),
        "{stderr}"
    );
}

#[test]
fn single_org_oauth2_flags_check_the_key_and_name_the_flag_at_fault() {
    let dir = tempfile::tempdir().unwrap();
    let key = write(
        &dir,
        "app.pem",
        &rcgen::KeyPair::generate().unwrap().serialize_pem(),
    );
    let not_a_key = write(&dir, "token.txt", "00not-a-key");
    let org = "--okta.org-url=https://acme.okta.com";
    let (code, stdout, stderr) = run(&[
        org,
        "--okta.client-id=0oa1",
        &format!("--okta.private-key-file={key}"),
        "--okta.key-id=k1",
        "--config.check",
    ]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stdout.contains("configuration OK"), "{stdout}");

    let (code, _, stderr) = run(&[
        org,
        "--okta.client-id=0oa1",
        &format!("--okta.private-key-file={not_a_key}"),
        "--config.check",
    ]);
    assert_eq!(code, Some(2));
    assert!(
        stderr.contains("--okta.private-key-file") && stderr.contains("token.txt"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("00not-a-key"),
        "the file's content is not echoed: {stderr}"
    );

    // The flags go together; an API token and an app exclude each other.
    for args in [
        vec![org, "--okta.client-id=0oa1"],
        vec![org, &format!("--okta.private-key-file={key}")],
        vec![
            org,
            "--okta.client-id=0oa1",
            &format!("--okta.private-key-file={key}"),
            &format!("--okta.token-file={not_a_key}"),
        ],
    ] {
        let (code, _, stderr) = run(&args);
        assert_eq!(code, Some(2), "{args:?}: {stderr}");
    }
}

#[test]
fn keygen_writes_a_private_key_and_prints_the_public_jwk_for_okta() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("app.pem");
    let out_arg = format!("--out={}", out.display());
    let (code, stdout, stderr) = run(&["keygen", &out_arg, "--kid=exporter-key-1"]);
    assert_eq!(code, Some(0), "{stderr}");
    let jwk: serde_json::Value = serde_json::from_str(&stdout).expect("the JWK alone on stdout");
    assert_eq!(jwk["kty"], "EC");
    assert_eq!(jwk["crv"], "P-256");
    assert_eq!(jwk["alg"], "ES256");
    assert_eq!(jwk["kid"], "exporter-key-1");
    assert!(jwk["x"].is_string() && jwk["y"].is_string());
    assert!(jwk.get("d").is_none(), "no private part: {jwk}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&out).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let key_arg = format!("--okta.private-key-file={}", out.display());
    let (code, _, stderr) = run(&[
        "--okta.org-url=https://acme.okta.com",
        "--okta.client-id=0oa1",
        &key_arg,
        "--config.check",
    ]);
    assert_eq!(
        code,
        Some(0),
        "the exporter reads the key it made: {stderr}"
    );
    let (code, _, stderr) = run(&["keygen", &out_arg]);
    assert_ne!(code, Some(0), "an existing key is never overwritten");
    assert!(stderr.contains("app.pem"), "{stderr}");

    // `jwk` prints the same public key from the file, for keys made elsewhere too.
    let key_arg = format!("--key={}", out.display());
    let (code, again, stderr) = run(&["jwk", &key_arg, "--kid=exporter-key-1"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&again).unwrap(),
        jwk
    );
    let rsa = format!(
        "--key={}/tests/fixtures/oauth-rsa-test-key.pem",
        env!("CARGO_MANIFEST_DIR")
    );
    let (code, rsa_jwk, stderr) = run(&["jwk", &rsa]);
    assert_eq!(code, Some(0), "{stderr}");
    let rsa_jwk: serde_json::Value = serde_json::from_str(&rsa_jwk).unwrap();
    assert_eq!(
        (rsa_jwk["kty"].as_str(), rsa_jwk["alg"].as_str()),
        (Some("RSA"), Some("RS256"))
    );
    assert!(
        rsa_jwk["n"].is_string() && rsa_jwk.get("d").is_none(),
        "{rsa_jwk}"
    );
}

#[test]
fn without_any_org_it_says_how_to_configure_one() {
    let (code, _, stderr) = run(&["--web.listen-address=127.0.0.1:0"]);
    assert_eq!(code, Some(2));
    assert!(
        stderr.contains("--config.file") && stderr.contains("demo"),
        "{stderr}"
    );
}

#[test]
fn the_demo_serves_every_state_probes_and_a_landing_page_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let exporter = Exporter::spawn(
        vec!["demo".into(), "--web.listen-address=127.0.0.1:0".into()],
        dir,
    );
    let samples = exporter.wait_for("the demo tokens", Duration::from_secs(20), |s| {
        !find(s, "okta_api_token_info", &[]).is_empty()
    });
    assert_eq!(
        find(&samples, "okta_api_token_info", &[("org", "demo")]).len(),
        12,
        "a dozen demo tokens"
    );
    for status in ["green", "gray", "red"] {
        assert!(
            value(
                &samples,
                "okta_api_tokens",
                &[("org", "demo"), ("status", status)]
            ) >= 1.0,
            "no {status} token in the demo"
        );
    }
    assert_eq!(value(&samples, "okta_up", &[("org", "demo")]), 1.0);

    assert_eq!(exporter.get("/-/healthy").0, 200);
    assert_eq!(exporter.get("/-/ready").0, 200);
    assert_eq!(exporter.get("/nope").0, 404);
    let (status, _, _) = http_request("POST", &format!("{}/metrics", exporter.base));
    assert_eq!(status, 405);
    let (status, content_type, page) = exporter.get("/");
    assert_eq!(status, 200);
    assert!(content_type.starts_with("text/html"));
    assert!(
        page.contains(env!("CARGO_PKG_VERSION"))
            && page.contains("href=\"/metrics\"")
            && page.contains("demo"),
        "{page}"
    );
    let (_, content_type, _) = exporter.get("/metrics");
    assert_eq!(content_type, "text/plain; version=0.0.4; charset=utf-8");

    let status = exporter.terminate();
    assert!(status.success(), "SIGTERM is a clean shutdown: {status:?}");
}

#[test]
fn the_telemetry_path_can_be_moved() {
    let dir = tempfile::tempdir().unwrap();
    let exporter = Exporter::spawn(
        vec![
            "demo".into(),
            "--web.listen-address=127.0.0.1:0".into(),
            "--web.telemetry-path=/okta/metrics".into(),
        ],
        dir,
    );
    assert_eq!(exporter.get("/okta/metrics").0, 200);
    assert_eq!(exporter.get("/metrics").0, 404);
    assert!(exporter.get("/").2.contains("href=\"/okta/metrics\""));
}

#[test]
fn not_ready_until_the_first_poll_finished() {
    // An org that never answers: a listener that accepts and stays silent.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", silent.local_addr().unwrap());
    let dir = tempfile::tempdir().unwrap();
    let token = write(&dir, "t", "secret");
    let config = write(&dir, "c.yml", &format!("http:\n  request_timeout: 2s\n  retries: 0\norgs:\n  - name: slow\n    url: {url}\n    auth:\n      ssws:\n        token_file: {token}\n"));
    let exporter = Exporter::spawn(
        vec![
            format!("--config.file={config}"),
            "--web.listen-address=127.0.0.1:0".into(),
        ],
        dir,
    );
    assert_eq!(exporter.get("/-/ready").0, 503);
    assert_eq!(exporter.get("/-/healthy").0, 200);
    let samples = exporter.metrics();
    assert!(find(&samples, "okta_api_token_info", &[]).is_empty());
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while exporter.get("/-/ready").0 != 200 {
        assert!(
            std::time::Instant::now() < deadline,
            "ready after the first attempt, even a failed one"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        value(
            &exporter.metrics(),
            "okta_poll_errors_total",
            &[("reason", "timeout")]
        ),
        1.0
    );
    drop(silent);
}

#[test]
fn hash_password_hashes_a_piped_password() {
    use std::io::Write;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_okta-token-exporter"))
        .args(["hash-password", "--cost=4"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"canary-pa55word\n")
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "{output:?}");
    let stdout = String::from_utf8(output.stdout).unwrap();
    let hash = stdout.trim();
    assert!(bcrypt::verify("canary-pa55word", hash).unwrap(), "{hash}");
    assert!(!String::from_utf8_lossy(&output.stderr).contains("canary-pa55word"));

    let empty = std::process::Command::new(env!("CARGO_BIN_EXE_okta-token-exporter"))
        .arg("hash-password")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert_eq!(empty.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&empty.stderr).contains("empty"));
}

/// At a terminal it asks twice without echo. `script` (util-linux) gives it a pseudo-terminal.
#[test]
#[cfg_attr(not(tool_script), ignore = "needs `script`: apt-get install bsdutils")]
fn hash_password_asks_at_a_terminal_without_echo() {
    use std::io::Write;
    let Some(script) = common::require_tool("script", "bsdutils") else {
        return;
    };
    let command = format!(
        "{} hash-password --cost=4",
        env!("CARGO_BIN_EXE_okta-token-exporter")
    );
    let mut child = std::process::Command::new(script)
        .args(["-qec", &command, "/dev/null"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Answer each prompt once it is on the screen, as a person would: typed before the program
    // turns echo off, the terminal would echo it whatever the program does.
    let screen = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let mut stdout = child.stdout.take().unwrap();
    let sink = std::sync::Arc::clone(&screen);
    let reader = std::thread::spawn(move || {
        let mut buffer = [0u8; 256];
        while let Ok(n) = std::io::Read::read(&mut stdout, &mut buffer) {
            if n == 0 {
                break;
            }
            sink.lock()
                .unwrap()
                .push_str(&String::from_utf8_lossy(&buffer[..n]));
        }
    });
    let mut stdin = child.stdin.take().unwrap();
    let wait_for = |prompt: &str, count: usize| {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while screen.lock().unwrap().matches(prompt).count() < count {
            assert!(
                std::time::Instant::now() < deadline,
                "no {prompt:?} on the screen: {}",
                screen.lock().unwrap()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    wait_for("Password:", 1);
    stdin.write_all(b"canary-tty-pa55\n").unwrap();
    wait_for("Again:", 1);
    stdin.write_all(b"canary-tty-pa55\n").unwrap();
    let status = child.wait().unwrap();
    drop(stdin);
    reader.join().unwrap();
    let screen = screen.lock().unwrap().clone();
    assert!(status.success(), "{screen}");
    assert!(!screen.contains("canary-tty-pa55"), "echoed: {screen}");
    let hash = screen
        .split_whitespace()
        .find(|w| w.starts_with("$2b$"))
        .unwrap_or_else(|| panic!("no hash on the screen: {screen}"));
    assert!(bcrypt::verify("canary-tty-pa55", hash).unwrap(), "{hash}");
}

/// `demo --storage.path DIR` restores at its next start: the simulated org is at a new port each
/// time, and its state file knows it by a name that does not change.
#[test]
fn the_demo_restores_its_state_at_the_next_start() {
    let state = tempfile::tempdir().unwrap();
    let args = || -> Vec<String> {
        vec![
            "demo".into(),
            "--web.listen-address=127.0.0.1:0".into(),
            format!("--storage.path={}", state.path().display()),
        ]
    };
    let first = Exporter::spawn(args(), tempfile::tempdir().unwrap());
    first.wait_for("the demo tokens", Duration::from_secs(20), |s| {
        !find(s, "okta_api_token_info", &[("org", "demo")]).is_empty()
    });
    let state_file = state.path().join("demo.json");
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !state_file.exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "no state file in {:?}",
            state.path()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(first.terminate().success());

    let second = Exporter::spawn(args(), tempfile::tempdir().unwrap());
    let restored = second.wait_for_log(
        "the restore",
        |l| l.contains("restored the last known state") || l.contains("ignoring a state file"),
        |lines| !lines.is_empty(),
    );
    assert!(
        restored[0].contains("restored the last known state") && restored[0].contains("tokens=12"),
        "{restored:?}"
    );
    let (_, _, page) = second.get("/");
    assert!(
        !page.contains("demo:simulated-org"),
        "the page shows where the org is, not its key"
    );
    assert!(second.terminate().success());
}
