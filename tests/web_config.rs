//! `--web.config.file` on the real binary, driven by a real TLS client (reqwest with rustls):
//! HTTPS, client certificates, basic auth, response headers, rotation without a restart, and bad
//! files refused at start. Also `--web.listen-address`: `:PORT` answers on IPv4 and IPv6.

mod common;

use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;
use okta_simulator::Simulator;
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};

const API_TOKEN: &str = "00web-config-test-token";
/// How long a change may take to apply: the watcher looks once a second.
const WAIT: Duration = Duration::from_secs(15);

/// A certificate authority that signs server and client certificates.
struct Authority {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

/// A certificate and its key, as PEM.
struct Leaf {
    cert: String,
    key: String,
}

impl Authority {
    fn new(name: &str) -> Authority {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let issuer = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
        Authority { issuer }
    }

    fn pem(&self) -> String {
        self.issuer.pem()
    }

    fn server(&self) -> Leaf {
        self.leaf(
            vec!["127.0.0.1".into(), "localhost".into()],
            ExtendedKeyUsagePurpose::ServerAuth,
        )
    }

    fn client(&self) -> Leaf {
        self.leaf(
            vec!["prometheus".into()],
            ExtendedKeyUsagePurpose::ClientAuth,
        )
    }

    fn leaf(&self, names: Vec<String>, usage: ExtendedKeyUsagePurpose) -> Leaf {
        let mut params = CertificateParams::new(names).unwrap();
        params.extended_key_usages = vec![usage];
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        Leaf {
            cert: cert.pem(),
            key: key.serialize_pem(),
        }
    }
}

fn write(dir: &Path, name: &str, content: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, content).unwrap();
    path
}

/// Starts the exporter, polling a simulated org, with this web config file.
async fn exporter_with(web_config: &Path) -> (Simulator, Exporter) {
    let sim = Simulator::start(API_TOKEN, vec![]).await.unwrap();
    let mut setup = Setup::new(sim.url(), API_TOKEN);
    setup.poll_interval = "1h";
    setup.extra_args = vec![format!("--web.config.file={}", web_config.display())];
    let exporter = Exporter::start(setup);
    (sim, exporter)
}

fn https(exporter: &Exporter, path: &str) -> String {
    format!("{}{path}", exporter.base.replacen("http://", "https://", 1))
}

/// A fresh client (so a fresh connection and handshake) trusting `ca`, optionally presenting a
/// client certificate.
fn client(ca: &str, identity: Option<&Leaf>) -> reqwest::Client {
    let mut builder = reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(ca.as_bytes()).unwrap())
        .timeout(Duration::from_secs(10));
    if let Some(leaf) = identity {
        let pem = format!("{}{}", leaf.cert, leaf.key);
        builder = builder.identity(reqwest::Identity::from_pem(pem.as_bytes()).unwrap());
    }
    builder.build().unwrap()
}

/// Runs `probe` until its answer satisfies `done`, or fails after [`WAIT`] with the last answer.
async fn eventually<T, F>(what: &str, mut probe: impl FnMut() -> F, done: impl Fn(&T) -> bool)
where
    T: std::fmt::Debug,
    F: Future<Output = T>,
{
    let deadline = Instant::now() + WAIT;
    loop {
        let answer = probe().await;
        if done(&answer) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}; last answer: {answer:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until the log lines written after the first `from` satisfy `done`; returns them.
async fn log_after(
    exporter: &Exporter,
    from: usize,
    what: &str,
    done: impl Fn(&[String]) -> bool,
) -> Vec<String> {
    let deadline = Instant::now() + WAIT;
    loop {
        let logs = exporter.logs().split_off(from);
        if done(&logs) {
            return logs;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what} in the log:\n{}",
            exporter.logs().join("\n")
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn count(lines: &[String], text: &str) -> usize {
    lines.iter().filter(|l| l.contains(text)).count()
}

/// What the watcher logs at trace level each time it looks at the files.
const LOOKED: &str = "looked at the web config files";
const COMPLAINT: &str = "cannot reload the web config";

async fn status_of(request: reqwest::RequestBuilder) -> Result<u16, String> {
    match request.send().await {
        Ok(response) => Ok(response.status().as_u16()),
        Err(e) => Err(format!("{e:?}")),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_with_client_certificates_lets_in_only_clients_the_ca_signed() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Authority::new("exporter CA");
    let clients_ca = Authority::new("clients CA");
    let server = ca.server();
    write(dir.path(), "server.crt", &server.cert);
    write(dir.path(), "server.key", &server.key);
    write(dir.path(), "clients-ca.crt", &clients_ca.pem());
    // Relative paths are relative to the web config file.
    let web = write(
        dir.path(),
        "web.yml",
        "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  \
         client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: clients-ca.crt\n  min_version: TLS12\n",
    );
    let (_sim, exporter) = exporter_with(&web).await;

    let prometheus = clients_ca.client();
    let response = client(&ca.pem(), Some(&prometheus))
        .get(https(&exporter, "/metrics"))
        .send()
        .await
        .expect("a client with a certificate the CA signed gets in");
    assert_eq!(response.status(), 200);
    let body = response.text().await.unwrap();
    assert!(body.contains("okta_up{org=\"test-org\"}"), "{body}");

    let stranger = Authority::new("someone else's CA").client();
    for (what, identity) in [
        ("no certificate", None),
        ("a certificate of another CA", Some(&stranger)),
    ] {
        let refused =
            status_of(client(&ca.pem(), identity).get(https(&exporter, "/metrics"))).await;
        assert!(
            refused.is_err(),
            "{what} must not get a response: {refused:?}"
        );
    }
    let plain =
        status_of(client(&ca.pem(), Some(&prometheus)).get(format!("{}/metrics", exporter.base)))
            .await;
    assert!(
        plain.is_err(),
        "plain HTTP to the TLS port gets no response: {plain:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn basic_auth_lets_in_the_right_password_only_and_never_logs_it() {
    let dir = tempfile::tempdir().unwrap();
    let canary = "canary-password-5bd1e7";
    let web = write(
        dir.path(),
        "web.yml",
        &format!(
            "basic_auth_users:\n  prometheus: {}\nhttp_server_config:\n  headers:\n    X-Frame-Options: deny\n    \
             X-Content-Type-Options: nosniff\n",
            bcrypt::hash(canary, 4).unwrap()
        ),
    );
    let (_sim, exporter) = exporter_with(&web).await;
    let http = reqwest::Client::new();
    let url = |path: &str| format!("{}{path}", exporter.base);
    eventually(
        "the first poll (ready)",
        || {
            status_of(
                http.get(url("/-/ready"))
                    .basic_auth("prometheus", Some(canary)),
            )
        },
        |status| *status == Ok(200),
    )
    .await;

    for path in ["/metrics", "/", "/api/v1/tokens", "/-/healthy", "/-/ready"] {
        let cases = [
            ("no credentials", None),
            ("a wrong password", Some(("prometheus", "wrong"))),
            ("an unknown user", Some(("grafana", canary))),
            ("an empty password", Some(("prometheus", ""))),
        ];
        for (what, credentials) in cases {
            let mut request = http.get(url(path));
            if let Some((user, password)) = credentials {
                request = request.basic_auth(user, Some(password));
            }
            let response = request.send().await.unwrap();
            assert_eq!(response.status(), 401, "{path} with {what}");
            let challenge = response.headers()["www-authenticate"].to_str().unwrap();
            assert!(challenge.starts_with("Basic realm="), "{challenge}");
            assert_eq!(
                response.headers()["x-frame-options"],
                "deny",
                "headers on a 401 too"
            );
            let body = response.text().await.unwrap();
            assert!(
                !body.contains("okta_"),
                "{path} with {what} leaked metrics: {body}"
            );
        }
        let response = http
            .get(url(path))
            .basic_auth("prometheus", Some(canary))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{path} with the right password");
        assert_eq!(response.headers()["x-content-type-options"], "nosniff");
    }
    let samples = parse_metrics(
        &http
            .get(url("/metrics"))
            .basic_auth("prometheus", Some(canary))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
    );
    assert!(samples.iter().any(|s| s.name == "okta_up"));

    let logs = exporter.logs().join("\n");
    assert!(
        logs.contains("level=trace") || logs.contains("level=debug"),
        "logging at trace:\n{logs}"
    );
    assert!(
        !logs.contains(canary),
        "the password leaked into the log:\n{logs}"
    );
    let encoded = base64_of(&format!("prometheus:{canary}"));
    assert!(
        !logs.contains(&encoded),
        "the Authorization header leaked into the log"
    );
}

fn base64_of(text: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificates_and_passwords_rotate_without_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (old_ca, new_ca) = (Authority::new("old CA"), Authority::new("new CA"));
    let install = |leaf: Leaf| {
        write(dir.path(), "server.crt", &leaf.cert);
        write(dir.path(), "server.key", &leaf.key);
    };
    let web_yaml = |password: &str, comment: &str| {
        format!(
            "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n\
             basic_auth_users:\n  prometheus: {}\n# {comment}\n",
            bcrypt::hash(password, 4).unwrap()
        )
    };
    install(old_ca.server());
    let web = write(dir.path(), "web.yml", &web_yaml("first", "v1"));
    let (_sim, exporter) = exporter_with(&web).await;
    let get = |ca: &Authority, password: &str| {
        status_of(
            client(&ca.pem(), None)
                .get(https(&exporter, "/metrics"))
                .basic_auth("prometheus", Some(password.to_owned())),
        )
    };
    assert_eq!(get(&old_ca, "first").await, Ok(200));
    assert_eq!(get(&old_ca, "second").await, Ok(401));

    install(new_ca.server());
    write(dir.path(), "web.yml", &web_yaml("second", "v2"));
    eventually(
        "the new certificate and password to apply",
        || get(&new_ca, "second"),
        |status| *status == Ok(200),
    )
    .await;
    assert!(
        get(&old_ca, "second").await.is_err(),
        "the old certificate is no longer served"
    );
    assert_eq!(
        get(&new_ca, "first").await,
        Ok(401),
        "the old password no longer works"
    );
    assert!(exporter
        .logs()
        .iter()
        .any(|l| l.contains("reloaded the web config")));

    // A broken change keeps what is in force, and says so once however often the watcher looks.
    let mark = exporter.logs().len();
    write(dir.path(), "web.yml", "tls_server_config: [broken\n");
    log_after(&exporter, mark, "the complaint", |l| {
        count(l, COMPLAINT) >= 1
    })
    .await;
    let logs = log_after(
        &exporter,
        mark,
        "three more looks after the complaint",
        |l| {
            let first = l.iter().position(|l| l.contains(COMPLAINT)).unwrap();
            count(&l[first..], LOOKED) >= 3
        },
    )
    .await;
    assert_eq!(
        count(&logs, COMPLAINT),
        1,
        "logged once:\n{}",
        logs.join("\n")
    );
    for _ in 0..3 {
        assert_eq!(get(&new_ca, "second").await, Ok(200));
    }

    // A config naming files that do not exist yet is refused until they appear, with no further
    // change to the config itself.
    let (third_ca, fourth_ca) = (Authority::new("third CA"), Authority::new("fourth CA"));
    let mark = exporter.logs().len();
    write(
        dir.path(),
        "web.yml",
        &web_yaml("second", "v3").replace("server.", "next."),
    );
    log_after(&exporter, mark, "the complaint about next.crt", |l| {
        l.iter()
            .any(|l| l.contains(COMPLAINT) && l.contains("next.crt"))
    })
    .await;
    assert_eq!(
        get(&new_ca, "second").await,
        Ok(200),
        "still the last good settings"
    );
    let next = third_ca.server();
    write(dir.path(), "next.crt", &next.cert);
    write(dir.path(), "next.key", &next.key);
    eventually(
        "the files that appeared to apply",
        || get(&third_ca, "second"),
        |status| *status == Ok(200),
    )
    .await;

    // Only the certificate and key change: the next connection gets them.
    let rotated = fourth_ca.server();
    write(dir.path(), "next.crt", &rotated.cert);
    write(dir.path(), "next.key", &rotated.key);
    eventually(
        "a certificate rotated alone to apply",
        || get(&fourth_ca, "second"),
        |status| *status == Ok(200),
    )
    .await;
    assert!(get(&third_ca, "second").await.is_err());
}

#[test]
fn a_bad_web_config_stops_the_exporter_before_it_serves() {
    let dir = tempfile::tempdir().unwrap();
    let token = write(dir.path(), "okta.token", API_TOKEN);
    let config = write(
        dir.path(),
        "config.yml",
        &format!(
            "orgs:\n  - name: a\n    url: https://a.okta.com\n    auth:\n      ssws:\n        token_file: {}\n",
            token.display()
        ),
    );
    let cases: &[(&str, &str)] = &[
        ("tls_server_config:\n  cert_file: nowhere.crt\n  key_file: nowhere.key\n", ":2:14: tls_server_config.cert_file: cannot read PEM certificates"),
        ("basic_auth_users:\n  prometheus: hunter2\n", ":2:15: basic_auth_users.prometheus: not a bcrypt hash"),
        ("tls_server_config:\n  cert_file: a\n  key_file: b\n  client_auth_type: RequireAnyClientCert\n", ":4:21: tls_server_config.client_auth_type: RequireAnyClientCert accepts client certificates without verifying them"),
        ("tls_server_config:\n  cert_file: a\n  key_file: b\n  min_version: TLS10\n", ":4:16: tls_server_config.min_version: TLS10 is refused: the TLS library here (rustls) speaks TLS12 and TLS13 only"),
        ("tls_server_config:\n  cert_file: a\n  key_file: b\n  min_version: TLS11\n", ":4:16: tls_server_config.min_version: TLS11 is refused"),
        ("tls_server_config:\n  cert_file: a\n  key_file: b\n  max_version: TLS11\n", ":4:16: tls_server_config.max_version: TLS11 is refused"),
    ];
    for (yaml, expected) in cases {
        let web = write(dir.path(), "web.yml", yaml);
        let out = Command::new(BIN)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--web.config.file={}", web.display()))
            .arg("--web.listen-address=127.0.0.1:0")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{yaml:?}: {stderr}");
        assert!(
            stderr.contains(&format!("{}{expected}", web.display())),
            "{yaml:?}: {stderr}"
        );
        assert!(
            !stderr.contains("hunter2"),
            "the file's secrets are not echoed: {stderr}"
        );
        assert!(!stderr.contains("listening"), "{stderr}");
    }

    let good = write(
        dir.path(),
        "web.yml",
        &format!(
            "basic_auth_users:\n  p: {}\n",
            bcrypt::hash("x", 4).unwrap()
        ),
    );
    let out = Command::new(BIN)
        .arg(format!("--config.file={}", config.display()))
        .arg(format!("--web.config.file={}", good.display()))
        .arg("--config.check")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("web config OK"));
}

/// Whether this machine can listen on IPv6 loopback. When it cannot: a loud skip locally, a
/// failure under `CI=true`.
fn ipv6_loopback() -> bool {
    if std::net::TcpListener::bind("[::1]:0").is_ok() {
        return true;
    }
    let message = "SKIPPED: this machine has no IPv6 loopback (::1), so IPv6 listening is untested";
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{message}: it is required under CI=true");
    }
    eprintln!("\n!!!!!!!! {message} !!!!!!!!\n");
    false
}

/// Whether `GET /-/healthy` on this address answers 200; `false` when the connection is refused.
fn healthy_at(host: &str, port: u16) -> bool {
    let address = format!("{host}:{port}");
    match std::net::TcpStream::connect(&address) {
        Ok(_) => {
            let (status, _, _) = http_get(&format!("http://{address}/-/healthy"));
            assert_eq!(status, 200, "{address}");
            true
        }
        Err(e) => {
            assert_eq!(
                e.kind(),
                std::io::ErrorKind::ConnectionRefused,
                "{address}: {e}"
            );
            false
        }
    }
}

#[test]
fn a_port_alone_listens_on_ipv4_and_ipv6_and_an_address_only_there() {
    if !ipv6_loopback() {
        return;
    }
    // (listen address, answers on 127.0.0.1, answers on ::1)
    let cases = [
        (":0", true, true),
        ("127.0.0.1:0", true, false),
        ("[::1]:0", false, true),
    ];
    for (listen, on_ipv4, on_ipv6) in cases {
        let exporter = Exporter::spawn(
            vec!["demo".into(), format!("--web.listen-address={listen}")],
            tempfile::tempdir().unwrap(),
        );
        let port: u16 = exporter
            .base
            .rsplit_once(':')
            .and_then(|(_, port)| port.parse().ok())
            .unwrap_or_else(|| panic!("no port in {}", exporter.base));
        assert_eq!(healthy_at("127.0.0.1", port), on_ipv4, "{listen} on IPv4");
        assert_eq!(healthy_at("[::1]", port), on_ipv6, "{listen} on IPv6");
    }
}
