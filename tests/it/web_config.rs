//! `--web.config.file` on the real binary, driven by a real TLS client (reqwest with rustls):
//! HTTPS, client certificates, basic auth, response headers, rotation without a restart, and bad
//! files refused at start. Also `--web.listen-address`: `:PORT` answers on IPv4 and IPv6.

use crate::common;

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
        ("tls_server_config:\n  cert_file: a\n  key_file: b\n  cipher_suites: [TLS_RSA_WITH_AES_128_GCM_SHA256, TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA]\n", ":4:18: tls_server_config.cipher_suites: none of these cipher suites is available here: the TLS library (rustls with ring) lacks TLS_RSA_WITH_AES_128_GCM_SHA256, TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA"),
        ("tls_server_config:\n  cert_file: a\n  key_file: b\n  curve_preferences: [CurveP521]\n", ":4:22: tls_server_config.curve_preferences: none of these curves is available here"),
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

/// A PEM text indented to sit in a YAML block scalar (`cert: |`).
fn indented(pem: &str) -> String {
    pem.lines().map(|l| format!("    {l}\n")).collect()
}

/// Every line of a PEM body that carries key material.
fn key_lines(pem: &str) -> Vec<&str> {
    pem.lines().filter(|l| !l.starts_with("-----")).collect()
}

/// What a hand-made TLS client got from one GET.
#[derive(Debug)]
struct Exchange {
    /// The protocol ALPN chose, if any.
    alpn: Option<String>,
    cipher_suite: String,
    version: hyper::Version,
    status: u16,
    x_frame_options: Option<String>,
    body: String,
}

/// A rustls client offering ALPN `h2` and `http/1.1`, as browsers and Go's clients do, with the
/// cipher suites, key exchange groups and TLS versions given. (The reqwest of these tests speaks
/// HTTP/1.1 only, and cannot be held to one cipher suite.)
fn tls_client(
    ca: &str,
    provider: rustls::crypto::CryptoProvider,
    versions: &[&'static rustls::SupportedProtocolVersion],
) -> tokio_rustls::TlsConnector {
    use rustls::pki_types::{pem::PemObject, CertificateDer};
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca.as_bytes()) {
        roots.add(cert.unwrap()).unwrap();
    }
    let mut config = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(provider))
        .with_protocol_versions(versions)
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    tokio_rustls::TlsConnector::from(std::sync::Arc::new(config))
}

fn ring() -> rustls::crypto::CryptoProvider {
    rustls::crypto::ring::default_provider()
}

const ALL_VERSIONS: &[&rustls::SupportedProtocolVersion] =
    &[&rustls::version::TLS13, &rustls::version::TLS12];

/// Connects, makes one GET of `path` in the protocol ALPN chose, and reads the whole response.
/// Also returns the HTTP/2 connection's sender, to see when the server closes it.
async fn exchange(
    connector: &tokio_rustls::TlsConnector,
    exporter: &Exporter,
    path: &str,
) -> Result<
    (
        Exchange,
        Option<hyper::client::conn::http2::SendRequest<http_body_util::Empty<bytes::Bytes>>>,
    ),
    String,
> {
    use http_body_util::{BodyExt, Empty};
    use hyper_util::rt::{TokioExecutor, TokioIo};
    let address = exporter.base.trim_start_matches("http://").to_owned();
    let tcp = tokio::net::TcpStream::connect(&address)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let tls = connector
        .connect(name, tcp)
        .await
        .map_err(|e| format!("handshake: {e}"))?;
    let (_, session) = tls.get_ref();
    let alpn = session
        .alpn_protocol()
        .map(|p| String::from_utf8_lossy(p).into_owned());
    let cipher_suite = format!("{:?}", session.negotiated_cipher_suite().unwrap().suite());
    let io = TokioIo::new(tls);
    let (response, sender) = if alpn.as_deref() == Some("h2") {
        let (mut sender, connection) =
            hyper::client::conn::http2::handshake(TokioExecutor::new(), io)
                .await
                .map_err(|e| format!("HTTP/2 handshake: {e}"))?;
        tokio::spawn(connection);
        let request = hyper::Request::get(format!("https://localhost{path}"))
            .body(Empty::new())
            .unwrap();
        let response = sender.send_request(request).await;
        (response, Some(sender))
    } else {
        let (mut sender, connection) = hyper::client::conn::http1::handshake(io)
            .await
            .map_err(|e| format!("HTTP/1.1 handshake: {e}"))?;
        tokio::spawn(connection);
        let request = hyper::Request::get(path)
            .header("host", "localhost")
            .body(Empty::<bytes::Bytes>::new())
            .unwrap();
        (sender.send_request(request).await, None)
    };
    let response = response.map_err(|e| format!("request: {e}"))?;
    let version = response.version();
    let status = response.status().as_u16();
    let x_frame_options = response
        .headers()
        .get("x-frame-options")
        .map(|v| v.to_str().unwrap().to_owned());
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|e| format!("body: {e}"))?
        .to_bytes();
    let exchange = Exchange {
        alpn,
        cipher_suite,
        version,
        status,
        x_frame_options,
        body: String::from_utf8_lossy(&body).into_owned(),
    };
    Ok((exchange, sender))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inline_certificates_serve_verify_clients_and_rotate_with_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let (ca, clients_ca) = (Authority::new("exporter CA"), Authority::new("clients CA"));
    let web_yaml = |server: &Leaf| {
        format!(
            "tls_server_config:\n  cert: |\n{}  key: |\n{}  client_ca: |\n{}  \
             client_auth_type: RequireAndVerifyClientCert\n",
            indented(&server.cert),
            indented(&server.key),
            indented(&clients_ca.pem())
        )
    };
    let first = ca.server();
    let web = write(dir.path(), "web.yml", &web_yaml(&first));
    let (_sim, exporter) = exporter_with(&web).await;
    let prometheus = clients_ca.client();
    let get = |ca: &Authority, identity: Option<&Leaf>| {
        status_of(client(&ca.pem(), identity).get(https(&exporter, "/metrics")))
    };
    assert_eq!(get(&ca, Some(&prometheus)).await, Ok(200));
    let stranger = Authority::new("someone else's CA").client();
    for (what, identity) in [("no certificate", None), ("another CA's", Some(&stranger))] {
        let refused = get(&ca, identity).await;
        assert!(refused.is_err(), "{what}: {refused:?}");
    }

    // Inline values change with the file itself.
    let new_ca = Authority::new("new exporter CA");
    let second = new_ca.server();
    write(dir.path(), "web.yml", &web_yaml(&second));
    eventually(
        "the new inline certificate to apply",
        || get(&new_ca, Some(&prometheus)),
        |status| *status == Ok(200),
    )
    .await;
    assert!(get(&ca, Some(&prometheus)).await.is_err());

    let logs = exporter.logs().join("\n");
    for line in key_lines(&first.key)
        .into_iter()
        .chain(key_lines(&second.key))
    {
        assert!(!logs.contains(line), "key material in the log:\n{logs}");
    }
}

#[test]
fn an_inline_key_never_shows_in_debug_output_or_errors() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Authority::new("exporter CA");
    let (server, other) = (ca.server(), ca.server());
    let yaml = |key: &str| {
        format!(
            "tls_server_config:\n  cert: |\n{}  key: |\n{}",
            indented(&server.cert),
            indented(key)
        )
    };
    let web = write(dir.path(), "web.yml", &yaml(&server.key));
    let file = okta_token_exporter::web_config::WebConfigFile::load(&web).unwrap();
    let shown = format!("{file:?} {file:#?} {:?}", file.current());
    for line in key_lines(&server.key) {
        assert!(!shown.contains(line), "key material shows: {shown}");
    }
    // Errors about a key say what is wrong without quoting it.
    let broken = server.key.replacen('M', "!", 2);
    for (what, key) in [
        ("a key of another certificate", &other.key),
        ("a broken key", &broken),
    ] {
        let web = write(dir.path(), "web.yml", &yaml(key));
        let error = okta_token_exporter::web_config::WebConfigFile::load(&web)
            .unwrap_err()
            .to_string();
        assert!(error.contains("tls_server_config.key"), "{what}: {error}");
        for line in key_lines(key) {
            assert!(!error.contains(line), "{what}: key material in {error}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cipher_suites_rustls_lacks_are_dropped_with_one_warning() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Authority::new("exporter CA");
    let server = ca.server(); // rcgen's keys are ECDSA P-256: the ECDSA suites apply
    write(dir.path(), "server.crt", &server.cert);
    write(dir.path(), "server.key", &server.key);
    let web = write(
        dir.path(),
        "web.yml",
        "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  max_version: TLS12\n  \
         cipher_suites:\n    - TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256\n    - TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA\n",
    );
    let (_sim, exporter) = exporter_with(&web).await;

    let response = client(&ca.pem(), None)
        .get(https(&exporter, "/metrics"))
        .send()
        .await
        .expect("the listed suite serves");
    assert_eq!(response.status(), 200);
    let (answer, _) = exchange(
        &tls_client(&ca.pem(), ring(), ALL_VERSIONS),
        &exporter,
        "/-/healthy",
    )
    .await
    .unwrap();
    assert_eq!(
        answer.cipher_suite,
        "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"
    );
    // A client that offers only a suite left out of the list finds none in common.
    let mut other_suite = ring();
    other_suite.cipher_suites =
        vec![rustls::crypto::ring::cipher_suite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384];
    let refused = exchange(
        &tls_client(&ca.pem(), other_suite, &[&rustls::version::TLS12]),
        &exporter,
        "/-/healthy",
    )
    .await;
    assert!(refused.is_err(), "{refused:?}");

    let logs = exporter.logs();
    let warnings: Vec<_> = logs
        .iter()
        .filter(|l| l.contains("TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA"))
        .collect();
    assert_eq!(warnings.len(), 1, "one warning:\n{}", logs.join("\n"));
    assert!(warnings[0].contains("level=warn"), "{}", warnings[0]);
    assert!(
        !warnings[0].contains("TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"),
        "only what is dropped is named: {}",
        warnings[0]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curve_preferences_choose_the_key_exchange() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Authority::new("exporter CA");
    let server = ca.server();
    write(dir.path(), "server.crt", &server.cert);
    write(dir.path(), "server.key", &server.key);
    let web = write(
        dir.path(),
        "web.yml",
        "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  \
         curve_preferences: [CurveP521, CurveP384]\n",
    );
    let (_sim, exporter) = exporter_with(&web).await;

    assert_eq!(
        status_of(client(&ca.pem(), None).get(https(&exporter, "/-/healthy"))).await,
        Ok(200)
    );
    use rustls::crypto::ring::kx_group::{SECP256R1, SECP384R1, X25519};
    let cases: [(&[&'static dyn rustls::crypto::SupportedKxGroup], bool); 3] = [
        (&[X25519, SECP384R1], true),
        (&[X25519, SECP256R1], false),
        (&[SECP384R1], true),
    ];
    for (groups, served) in cases {
        for versions in [&[&rustls::version::TLS13][..], &[&rustls::version::TLS12]] {
            let mut provider = ring();
            provider.kx_groups = groups.to_vec();
            let answer = exchange(
                &tls_client(&ca.pem(), provider, versions),
                &exporter,
                "/-/healthy",
            )
            .await;
            assert_eq!(
                answer.is_ok(),
                served,
                "{groups:?} {versions:?}: {answer:?}"
            );
        }
    }
    let logs = exporter.logs();
    assert_eq!(count(&logs, "CurveP521"), 1, "{}", logs.join("\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_is_offered_over_tls_unless_turned_off() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Authority::new("exporter CA");
    let server = ca.server();
    write(dir.path(), "server.crt", &server.cert);
    write(dir.path(), "server.key", &server.key);
    let hash = bcrypt::hash("s3cret", 4).unwrap();
    let web_yaml = |http2: &str| {
        format!(
            "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n\
             http_server_config:\n{http2}  headers:\n    X-Frame-Options: deny\n"
        )
    };
    // Go's default: on.
    let web = write(dir.path(), "web.yml", &web_yaml(""));
    let (_sim, exporter) = exporter_with(&web).await;
    let connector = tls_client(&ca.pem(), ring(), ALL_VERSIONS);
    let (answer, _) = exchange(&connector, &exporter, "/metrics").await.unwrap();
    assert_eq!(answer.alpn.as_deref(), Some("h2"));
    assert_eq!(answer.version, hyper::Version::HTTP_2);
    assert_eq!(answer.status, 200);
    assert!(
        answer.body.contains("okta_up{org=\"test-org\"}"),
        "{}",
        answer.body
    );
    assert_eq!(
        answer.x_frame_options.as_deref(),
        Some("deny"),
        "headers over HTTP/2 too"
    );
    let (answer, _) = exchange(&connector, &exporter, "/nowhere").await.unwrap();
    assert_eq!(
        (answer.version, answer.status),
        (hyper::Version::HTTP_2, 404)
    );

    // Turned off: the next connections negotiate HTTP/1.1.
    write(dir.path(), "web.yml", &web_yaml("  http2: false\n"));
    eventually(
        "HTTP/1.1 once http2 is false",
        || async {
            exchange(&connector, &exporter, "/metrics")
                .await
                .map(|(a, _)| (a.alpn, a.version, a.status))
        },
        |answer| *answer == Ok((Some("http/1.1".to_owned()), hyper::Version::HTTP_11, 200)),
    )
    .await;

    // And basic auth works the same over HTTP/2.
    write(
        dir.path(),
        "web.yml",
        &format!(
            "{}basic_auth_users:\n  prometheus: {hash}\n",
            web_yaml("  http2: true\n")
        ),
    );
    eventually(
        "HTTP/2 with basic auth",
        || async {
            exchange(&connector, &exporter, "/metrics")
                .await
                .map(|(a, _)| (a.version, a.status))
        },
        |answer| *answer == Ok((hyper::Version::HTTP_2, 401)),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_http2_connection_is_closed_like_an_idle_http1_one() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Authority::new("exporter CA");
    let server = ca.server();
    write(dir.path(), "server.crt", &server.cert);
    write(dir.path(), "server.key", &server.key);
    let web = write(
        dir.path(),
        "web.yml",
        "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n",
    );
    let (_sim, exporter) = exporter_with(&web).await;
    let connector = tls_client(&ca.pem(), ring(), ALL_VERSIONS);
    let (answer, sender) = exchange(&connector, &exporter, "/-/healthy").await.unwrap();
    assert_eq!(
        (answer.version, answer.status),
        (hyper::Version::HTTP_2, 200)
    );
    let sender = sender.expect("an HTTP/2 connection");
    // The server's idle timeout is the header timeout, 5 s by default.
    let deadline = Instant::now() + Duration::from_secs(5) + WAIT;
    while !sender.is_closed() {
        assert!(Instant::now() < deadline, "the idle connection stayed open");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(exporter
        .logs()
        .iter()
        .any(|l| l.contains("closing an idle HTTP/2 connection")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_allowed_sans_let_in_only_certificates_with_a_listed_name() {
    let dir = tempfile::tempdir().unwrap();
    let (ca, clients_ca) = (Authority::new("exporter CA"), Authority::new("clients CA"));
    let server = ca.server();
    write(dir.path(), "server.crt", &server.cert);
    write(dir.path(), "server.key", &server.key);
    write(dir.path(), "clients-ca.crt", &clients_ca.pem());
    let web = write(
        dir.path(),
        "web.yml",
        "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  \
         client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: clients-ca.crt\n  \
         client_allowed_sans: [scraper.example, prometheus]\n",
    );
    let (_sim, exporter) = exporter_with(&web).await;
    let get = |identity: &Leaf| {
        status_of(client(&ca.pem(), Some(identity)).get(https(&exporter, "/metrics")))
    };
    assert_eq!(
        get(&clients_ca.client()).await,
        Ok(200),
        "SAN prometheus is listed"
    );
    let grafana = clients_ca.leaf(vec!["grafana".into()], ExtendedKeyUsagePurpose::ClientAuth);
    let refused = get(&grafana).await;
    assert!(refused.is_err(), "SAN grafana is not listed: {refused:?}");
    log_after(&exporter, 0, "the reason in the log", |l| {
        l.iter()
            .any(|l| l.contains("client_allowed_sans") && l.contains("grafana"))
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_client_cert_if_given_without_a_ca_lets_in_clients_without_one() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Authority::new("exporter CA");
    let server = ca.server();
    write(dir.path(), "server.crt", &server.cert);
    write(dir.path(), "server.key", &server.key);
    let web = write(
        dir.path(),
        "web.yml",
        "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  \
         client_auth_type: VerifyClientCertIfGiven\n",
    );
    let (_sim, exporter) = exporter_with(&web).await;
    let get = |identity: Option<&Leaf>| {
        status_of(client(&ca.pem(), identity).get(https(&exporter, "/metrics")))
    };
    assert_eq!(get(None).await, Ok(200));
    // A given certificate is verified, against the system's CAs: a private CA's is not among them.
    let private = Authority::new("private clients CA").client();
    let refused = get(Some(&private)).await;
    assert!(refused.is_err(), "{refused:?}");
}

/// A fixture pair of `tests/fixtures/client-certs/` (made with `openssl req -x509`).
fn openssl_made(name: &str) -> Leaf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/client-certs");
    Leaf {
        cert: std::fs::read_to_string(dir.join(format!("{name}.pem"))).unwrap(),
        key: std::fs::read_to_string(dir.join(format!("{name}.key"))).unwrap(),
    }
}

/// exporter-toolkit's `client2_selfsigned` case, with a pair made the same way: a self-signed
/// certificate (`CA:TRUE`, SAN `test3`) named as its own client CA gets in, as with
/// node_exporter; another self-signed certificate with the same subject and SAN does not. And a
/// certificate of `openssl req -x509` with every default (RSA, no SAN) likewise.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_self_signed_client_certificate_named_as_its_own_ca_gets_in() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Authority::new("exporter CA");
    let server = ca.server();
    write(dir.path(), "server.crt", &server.cert);
    write(dir.path(), "server.key", &server.key);
    let test3 = openssl_made("selfsigned-test3");
    let defaults = openssl_made("openssl-defaults");
    write(dir.path(), "client2_selfsigned.pem", &test3.cert);
    write(dir.path(), "defaults.pem", &defaults.cert);
    let web = write(
        dir.path(),
        "web.yml",
        "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  \
         client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: client2_selfsigned.pem\n  \
         client_allowed_sans: [one, test3, two]\n",
    );
    let (_sim, exporter) = exporter_with(&web).await;
    let get = |identity: &Leaf| {
        status_of(client(&ca.pem(), Some(identity)).get(https(&exporter, "/metrics")))
    };
    assert_eq!(
        get(&test3).await,
        Ok(200),
        "the configured certificate itself"
    );
    let impostor = get(&openssl_made("impostor-test3")).await;
    assert!(
        impostor.is_err(),
        "same subject and SAN, another key: {impostor:?}"
    );
    assert_eq!(
        get(&defaults).await.map_err(|_| "refused"),
        Err("refused"),
        "not the configured one"
    );

    // `openssl req -x509` with every default: no SAN, so no client_allowed_sans.
    let from = log_count(&exporter);
    write(
        dir.path(),
        "web.yml",
        "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  \
         client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: defaults.pem\n",
    );
    log_after(&exporter, from, "the reload", |l| {
        l.iter().any(|l| l.contains("reloaded the web config"))
    })
    .await;
    assert_eq!(get(&defaults).await, Ok(200));
    assert!(get(&test3).await.is_err(), "no longer configured");
}

fn log_count(exporter: &Exporter) -> usize {
    exporter.logs().len()
}

/// exporter-toolkit's `rate_limit`: a bucket of `burst` requests for the whole server, one more
/// every `interval`; over it, 429 with `Retry-After`, on every path (the health probes too),
/// before basic auth.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limit_answers_429_with_retry_after_once_the_burst_is_spent() {
    let dir = tempfile::tempdir().unwrap();
    let hash = bcrypt::hash("s3cret", 4).unwrap();
    let web = write(
        dir.path(),
        "web.yml",
        &format!(
            "rate_limit:\n  interval: 1m\n  burst: 2\nbasic_auth_users:\n  prometheus: {hash}\n"
        ),
    );
    let (_sim, exporter) = exporter_with(&web).await;
    let url = |path: &str| format!("{}{path}", exporter.base);
    let authorization = format!("Basic {}", base64_of("prometheus:s3cret"));
    let (first, _, _) = http_exchange(
        "GET",
        &url("/metrics"),
        &[("Authorization", &authorization)],
    );
    // A request without credentials spends room too: the limit comes first, as in Go.
    let (second, _, _) = http_exchange("GET", &url("/-/healthy"), &[]);
    assert_eq!((first, second), (200, 401));
    for path in ["/metrics", "/-/healthy", "/-/ready"] {
        let (status, head, body) =
            http_exchange("GET", &url(path), &[("Authorization", &authorization)]);
        assert_eq!(status, 429, "{path}: {head}");
        let retry: u64 = header_of(&head, "retry-after")
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{path}: no Retry-After in {head}"));
        assert!((1..=60).contains(&retry), "{path}: Retry-After {retry}");
        assert!(
            String::from_utf8_lossy(&body).contains("rate_limit"),
            "{path}: {body:?}"
        );
    }
}

/// A TLS private key every user may read is warned about, as a token file is.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tls_key_every_user_can_read_is_warned_about() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let ca = Authority::new("exporter CA");
    let server = ca.server();
    write(dir.path(), "server.crt", &server.cert);
    let key = write(dir.path(), "server.key", &server.key);
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let web = write(
        dir.path(),
        "web.yml",
        "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n",
    );
    let (_sim, exporter) = exporter_with(&web).await;
    let warned = log_after(&exporter, 0, "the warning", |l| {
        l.iter().any(|l| l.contains("readable by every user"))
    })
    .await;
    let line = warned
        .iter()
        .find(|l| l.contains("readable by every user"))
        .unwrap();
    assert!(
        line.contains("level=warn") && line.contains("server.key") && line.contains("0644"),
        "{line}"
    );
    // It still serves: a warning, not a refusal.
    assert_eq!(
        status_of(client(&ca.pem(), None).get(https(&exporter, "/-/healthy"))).await,
        Ok(200)
    );
}
