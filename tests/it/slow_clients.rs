//! Slow clients cannot starve a scrape: the real binary, with its default limits, answers scrapes
//! from 127.0.0.1 within a second while 1,000 connections from other loopback addresses (other
//! peers, on Linux) sit idle, trickle their request headers a byte at a time, or stall in the TLS
//! handshake, reconnecting whenever the server closes them. Bounded: loopback only, a few
//! seconds per case. The figures it prints (`--nocapture`) are those of docs/configuration.md, "Slow and idle clients".

use crate::common;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use common::*;
use okta_simulator::Simulator;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::watch;

const API_TOKEN: &str = "00slow-clients-test-token";
/// Every scrape during an attack must answer within this.
const SCRAPE_BUDGET: Duration = Duration::from_secs(1);
/// How long scrapes are measured once the attack is under way.
const MEASURED: Duration = Duration::from_secs(3);
/// How long the attack may take to reach its strength.
const RAMP_UP: Duration = Duration::from_secs(20);
const ATTACKERS: usize = 1000;

/// What an attacking connection does once connected.
#[derive(Debug, Clone, Copy)]
enum Attack {
    /// Sends nothing.
    Idle,
    /// Sends a request line and a header, then one byte every 200 ms.
    Trickle,
    /// Sends the first bytes of a TLS ClientHello, then nothing.
    Handshake,
}

async fn connect_from(source: IpAddr, to: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::new(source, 0))?;
    socket.connect(to).await
}

/// One attacking connection, again and again: connects from `source`, behaves as `attack` until
/// the server closes it, waits about a second and connects again, until `stop`.
async fn attacker(source: IpAddr, to: SocketAddr, attack: Attack, mut stop: watch::Receiver<bool>) {
    while !*stop.borrow() {
        if let Ok(stream) = connect_from(source, to).await {
            tokio::select! {
                () = hold(stream, attack) => {}
                _ = stop.changed() => return,
            }
        }
        let pause = Duration::from_millis(rand::random_range(500..1500));
        tokio::select! {
            () = tokio::time::sleep(pause) => {}
            _ = stop.changed() => return,
        }
    }
}

/// Behaves as `attack` on `stream` until the server closes it.
async fn hold(stream: TcpStream, attack: Attack) {
    let (mut read, mut write) = stream.into_split();
    let opening: &[u8] = match attack {
        Attack::Idle => b"",
        Attack::Trickle => b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ",
        // A handshake record of 512 bytes, of which only its first byte (ClientHello) comes.
        Attack::Handshake => &[0x16, 0x03, 0x01, 0x02, 0x00, 0x01],
    };
    if write.write_all(opening).await.is_err() {
        return;
    }
    let closed = async {
        let mut buffer = [0u8; 512];
        while matches!(read.read(&mut buffer).await, Ok(n) if n > 0) {}
    };
    tokio::pin!(closed);
    loop {
        tokio::select! {
            () = &mut closed => return,
            () = tokio::time::sleep(Duration::from_millis(200)), if matches!(attack, Attack::Trickle) => {
                if write.write_all(b"a").await.is_err() {
                    return;
                }
            }
        }
    }
}

/// Starts `ATTACKERS` attacking connections spread over `peers` loopback addresses from
/// 127.0.0.2 on; they stop when the returned sender is dropped.
fn attack(to: SocketAddr, attack: Attack, peers: u8) -> watch::Sender<bool> {
    let (stop, stopped) = watch::channel(false);
    for i in 0..ATTACKERS {
        let source = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2 + (i % peers as usize) as u8));
        tokio::spawn(attacker(source, to, attack, stopped.clone()));
    }
    stop
}

/// One scrape over a fresh plain connection from 127.0.0.1: the time to the whole answer, and
/// the body. Fails after 5 s.
async fn scrape(to: SocketAddr, path: &str) -> (Duration, String) {
    let started = Instant::now();
    let exchange = async {
        let mut stream = connect_from(IpAddr::V4(Ipv4Addr::LOCALHOST), to).await?;
        let request = format!("GET {path} HTTP/1.1\r\nHost: {to}\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await?;
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).await?;
        Ok::<_, std::io::Error>(String::from_utf8_lossy(&answer).into_owned())
    };
    let answer = tokio::time::timeout(Duration::from_secs(5), exchange)
        .await
        .expect("the scrape answered within 5 s")
        .expect("the scrape's connection worked");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    (started.elapsed(), answer)
}

/// The value of a sample in a scrape's answer (0 when absent).
fn sample(answer: &str, series: &str) -> f64 {
    answer
        .lines()
        .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
        .unwrap_or(0.0)
}

/// Figures of one case.
#[derive(Debug)]
struct Figures {
    scrapes: usize,
    slowest: Duration,
    median: Duration,
}

/// Scrapes with `probe` until a scrape shows the attack at full strength (`ready`), then back
/// to back for [`MEASURED`]; every scrape, those that waited included, must answer within
/// [`SCRAPE_BUDGET`].
async fn under_attack<F, Fut>(what: &str, ready: impl Fn(&str) -> bool, probe: F) -> Figures
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = (Duration, String)>,
{
    let mut times = Vec::new();
    let deadline = Instant::now() + RAMP_UP;
    loop {
        let (took, answer) = probe().await;
        times.push(took);
        if ready(&answer) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: the attack did not reach its strength; last scrape:\n{}",
            answer
                .lines()
                .filter(|l| l.starts_with("okta_exporter_http"))
                .collect::<Vec<_>>()
                .join("\n")
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let until = Instant::now() + MEASURED;
    while Instant::now() < until {
        times.push(probe().await.0);
    }
    times.sort();
    let figures = Figures {
        scrapes: times.len(),
        slowest: *times.last().unwrap(),
        median: times[times.len() / 2],
    };
    eprintln!(
        "{what}: {} scrapes, slowest {:?}, median {:?}",
        figures.scrapes, figures.slowest, figures.median
    );
    assert!(
        figures.slowest < SCRAPE_BUDGET,
        "{what}: a scrape took {:?}; the slowest: {:?}",
        figures.slowest,
        &times[times.len().saturating_sub(5)..]
    );
    assert!(figures.scrapes >= 3, "{what}: {figures:?}");
    figures
}

fn start_exporter(sim: &Simulator, extra: &[String]) -> Exporter {
    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("okta.token");
    std::fs::write(&token, API_TOKEN).unwrap();
    set_private(&token);
    let config = dir.path().join("config.yml");
    std::fs::write(
        &config,
        format!(
            "poll_interval: 1h\norgs:\n  - name: test-org\n    url: {}\n    auth:\n      ssws:\n        token_file: {}\n",
            sim.url(),
            token.display()
        ),
    )
    .unwrap();
    let mut args = vec![
        format!("--config.file={}", config.display()),
        "--web.listen-address=127.0.0.1:0".to_owned(),
        "--log.level=info".to_owned(),
    ];
    args.extend_from_slice(extra);
    Exporter::spawn(args, dir)
}

fn address(exporter: &Exporter) -> SocketAddr {
    exporter.base.trim_start_matches("http://").parse().unwrap()
}

const PEER_LIMIT: &str = "okta_exporter_http_connections_refused_total{reason=\"peer_limit\"}";
const SHED: &str = "okta_exporter_http_connections_refused_total{reason=\"shed_idle\"}";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scrapes_answer_within_a_second_while_another_peer_holds_a_thousand_connections() {
    let sim = Simulator::start(API_TOKEN, vec![]).await.unwrap();
    let exporter = start_exporter(&sim, &[]);
    let to = address(&exporter);
    for attack_kind in [Attack::Idle, Attack::Trickle] {
        let before = sample(&scrape(to, "/metrics").await.1, PEER_LIMIT);
        let stop = attack(to, attack_kind, 1);
        under_attack(
            &format!("{attack_kind:?}, one peer"),
            // All but the peer's 32 places refused at least once.
            |answer| sample(answer, PEER_LIMIT) - before >= (ATTACKERS - 32) as f64,
            || scrape(to, "/metrics"),
        )
        .await;
        drop(stop);
    }

    // 1,000 connections from 40 peers, 25 each: under each peer's limit, over the server's
    // 256 places, so that a scrape gets in only by an idle connection giving way.
    let stop = attack(to, Attack::Idle, 40);
    under_attack(
        "Idle, 40 peers",
        |answer| {
            sample(answer, SHED) > 0.0
                && sample(answer, "okta_exporter_http_connections{state=\"idle\"}") >= 250.0
        },
        || scrape(to, "/metrics"),
    )
    .await;
    drop(stop);
    let (_, answer) = scrape(to, "/metrics").await;
    assert!(
        sample(&answer, "okta_exporter_http_connections_max") == 256.0,
        "{answer}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scrapes_answer_within_a_second_while_another_peer_stalls_a_thousand_tls_handshakes() {
    let dir = tempfile::tempdir().unwrap();
    let (ca, cert, key) = certificates();
    std::fs::write(dir.path().join("server.crt"), cert).unwrap();
    std::fs::write(dir.path().join("server.key"), key).unwrap();
    let web = dir.path().join("web.yml");
    std::fs::write(
        &web,
        "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n",
    )
    .unwrap();
    let sim = Simulator::start(API_TOKEN, vec![]).await.unwrap();
    let exporter = start_exporter(&sim, &[format!("--web.config.file={}", web.display())]);
    let to = address(&exporter);
    let client = https_client(&ca);
    let url = format!("https://{to}/metrics");
    let https_scrape = || async {
        let started = Instant::now();
        let response = tokio::time::timeout(Duration::from_secs(5), client.get(&url).send())
            .await
            .expect("the scrape answered within 5 s")
            .expect("the scrape worked");
        assert_eq!(response.status(), 200);
        let body = response.text().await.unwrap();
        (started.elapsed(), body)
    };
    let stop = attack(to, Attack::Handshake, 1);
    under_attack(
        "Handshake, one peer",
        |answer| sample(answer, PEER_LIMIT) >= (ATTACKERS - 32) as f64,
        https_scrape,
    )
    .await;
    // The stalled handshakes are closed after the header timeout (5 s) and counted.
    let deadline = Instant::now() + RAMP_UP;
    loop {
        let (_, body) = https_scrape().await;
        let timed_out =
            "okta_exporter_http_connections_refused_total{reason=\"tls_handshake_timeout\"}";
        if sample(&body, timed_out) >= 1.0 {
            break;
        }
        assert!(Instant::now() < deadline, "no handshake timed out:\n{body}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    drop(stop);
}

/// A CA's PEM, and a server certificate for 127.0.0.1 it signed, with its key.
fn certificates() -> (String, String, String) {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
    let key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(vec!["127.0.0.1".to_owned()])
        .unwrap()
        .signed_by(&key, &ca)
        .unwrap();
    (ca.pem(), cert.pem(), key.serialize_pem())
}

/// A client trusting `ca` that opens a new connection (and handshake) for every request.
fn https_client(ca: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(ca.as_bytes()).unwrap())
        .pool_max_idle_per_host(0)
        .build()
        .unwrap()
}
