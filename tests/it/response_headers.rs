//! What every response carries: `X-Content-Type-Options: nosniff` everywhere, `Cache-Control:
//! no-store` on the page and the JSON (they name token owners), the page's own
//! Content-Security-Policy kept next to a web config's, and `--web.allowed-hosts` (on in the
//! demo) refusing requests addressed to another name, as a DNS-rebinding page's would be.

use crate::common;

use std::io::{Read, Write};
use std::time::Duration;

use common::*;
use okta_simulator::Simulator;

const API_TOKEN: &str = "00response-headers-test-token";

/// One request with exactly this `Host` (or none): the status and the response head's lines.
fn request_for_host(base: &str, path: &str, host: Option<&str>) -> (u16, Vec<(String, String)>) {
    let address = base.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let host = host.map(|h| format!("Host: {h}\r\n")).unwrap_or_default();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\n{host}Connection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    let text = String::from_utf8_lossy(&raw);
    let head = text.split("\r\n\r\n").next().unwrap();
    let mut lines = head.lines();
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    (status, headers)
}

fn values<'a>(headers: &'a [(String, String)], name: &str) -> Vec<&'a str> {
    headers
        .iter()
        .filter(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_response_says_nosniff_and_the_page_and_json_are_never_cached() {
    let sim = Simulator::start(API_TOKEN, vec![]).await.unwrap();
    let mut setup = Setup::new(sim.url(), API_TOKEN);
    setup.poll_interval = "1h";
    let exporter = Exporter::start(setup);
    let host = exporter.base.trim_start_matches("http://").to_owned();
    let cases = [
        ("/", 200, true),
        ("/?status=red", 200, true),
        ("/api/v1/tokens", 200, true),
        ("/metrics", 200, false),
        ("/-/healthy", 200, false),
        ("/nowhere", 404, false),
        ("/api/v1/tokens?status=purple", 400, false),
    ];
    for (path, status, no_store) in cases {
        let (got, headers) = request_for_host(&exporter.base, path, Some(&host));
        assert_eq!(got, status, "{path}");
        assert_eq!(
            values(&headers, "x-content-type-options"),
            ["nosniff"],
            "{path}"
        );
        if no_store {
            assert_eq!(values(&headers, "cache-control"), ["no-store"], "{path}");
        }
    }
}

/// A policy from the web config is sent next to the page's own: browsers enforce both, so the
/// page's `default-src 'none'` holds even against a looser configured one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_configured_content_security_policy_is_added_to_the_pages_own() {
    let dir = tempfile::tempdir().unwrap();
    let web = dir.path().join("web.yml");
    std::fs::write(
        &web,
        "http_server_config:\n  headers:\n    Content-Security-Policy: \"default-src *; script-src 'unsafe-inline'\"\n    X-Frame-Options: deny\n",
    )
    .unwrap();
    let sim = Simulator::start(API_TOKEN, vec![]).await.unwrap();
    let mut setup = Setup::new(sim.url(), API_TOKEN);
    setup.poll_interval = "1h";
    setup.extra_args = vec![format!("--web.config.file={}", web.display())];
    let exporter = Exporter::start(setup);
    let host = exporter.base.trim_start_matches("http://").to_owned();
    let (status, headers) = request_for_host(&exporter.base, "/", Some(&host));
    assert_eq!(status, 200);
    let policies = values(&headers, "content-security-policy");
    assert_eq!(policies.len(), 2, "{headers:?}");
    assert!(
        policies[0].starts_with("default-src 'none'"),
        "{policies:?}"
    );
    assert_eq!(policies[1], "default-src *; script-src 'unsafe-inline'");
    assert_eq!(values(&headers, "x-frame-options"), ["deny"]);
    // Elsewhere the configured policy is the only one.
    let (_, headers) = request_for_host(&exporter.base, "/api/v1/tokens", Some(&host));
    assert_eq!(
        values(&headers, "content-security-policy"),
        ["default-src *; script-src 'unsafe-inline'"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allowed_hosts_refuse_requests_addressed_to_other_names_but_not_the_probes() {
    let sim = Simulator::start(API_TOKEN, vec![]).await.unwrap();
    let mut setup = Setup::new(sim.url(), API_TOKEN);
    setup.poll_interval = "1h";
    setup.extra_args = vec!["--web.allowed-hosts=exporter.example,127.0.0.1".to_owned()];
    let exporter = Exporter::start(setup);
    let cases: &[(&str, Option<&str>, u16)] = &[
        ("/api/v1/tokens", Some("exporter.example:9871"), 200),
        ("/api/v1/tokens", Some("EXPORTER.example"), 200),
        ("/metrics", Some("127.0.0.1:9871"), 200),
        (
            "/api/v1/tokens",
            Some("rebinding.attacker.example:9871"),
            400,
        ),
        ("/", Some("rebinding.attacker.example"), 400),
        ("/metrics", Some("localhost:9871"), 400),
        ("/metrics", None, 400),
        ("/-/healthy", Some("10.0.0.7:9871"), 200),
        ("/-/ready", Some("10.0.0.7:9871"), 200),
    ];
    exporter.wait_for("the first poll", Duration::from_secs(20), |_| true);
    for (path, host, status) in cases {
        let (got, headers) = request_for_host(&exporter.base, path, *host);
        assert_eq!(got, *status, "{path} for {host:?}");
        assert_eq!(values(&headers, "x-content-type-options"), ["nosniff"]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_answers_only_to_loopback_names_unless_told_otherwise() {
    for (extra, rebinding_status) in [(None, 400), (Some("--web.allowed-hosts=*"), 200)] {
        let mut args = vec![
            "demo".to_owned(),
            "--web.listen-address=127.0.0.1:0".to_owned(),
            "--log.level=info".to_owned(),
        ];
        args.extend(extra.map(str::to_owned));
        let demo = Exporter::spawn(args, tempfile::tempdir().unwrap());
        let port = demo.base.rsplit(':').next().unwrap().to_owned();
        for host in ["127.0.0.1", "localhost", "[::1]"] {
            let host = format!("{host}:{port}");
            let (status, _) = request_for_host(&demo.base, "/api/v1/tokens", Some(&host));
            assert_eq!(status, 200, "{host}");
        }
        let (status, _) = request_for_host(
            &demo.base,
            "/api/v1/tokens",
            Some(&format!("rebinding.attacker.example:{port}")),
        );
        assert_eq!(status, rebinding_status, "{extra:?}");
    }
}
