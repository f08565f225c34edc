//! Canary secrets in every type that holds one: an API token, an OAuth 2.0 private key and a
//! basic-auth password never show in `Debug` output, and so in no panic message that formats
//! these values, whatever the panic.

use std::sync::Arc;

use okta_token_exporter::config::HttpSettings;
use okta_token_exporter::config::{Auth, Config, OAuth2Settings};
use okta_token_exporter::jose::SigningKey;
use okta_token_exporter::okta::oauth::system_clock;
use okta_token_exporter::okta::OktaClient;
use okta_token_exporter::secret::Secret;
use okta_token_exporter::web_config::WebConfigFile;

const TOKEN_CANARY: &str = "00canary-api-token-3e9d";
const PASSWORD_CANARY: &str = "canary-password-77b1";
const KEEPALIVE_CANARY: &str = "00canary-kept-alive-token-52c8";

/// The message of a panic that formats `value` with `{:?}` and `{:#?}`.
fn panic_message_about(value: &dyn std::fmt::Debug) -> String {
    // Only the message is read afterwards; nothing the closure touches is used again.
    let payload = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        panic!("failed while holding {value:?} / {value:#?}")
    }))
    .expect_err("it panics");
    payload
        .downcast_ref::<String>()
        .cloned()
        .expect("a formatted panic message")
}

/// Every line of a PEM body that carries key material.
fn key_lines(pem: &str) -> Vec<&str> {
    pem.lines().filter(|l| !l.starts_with("-----")).collect()
}

#[test]
fn no_secret_shows_in_debug_output_or_panic_messages() {
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("okta.token");
    std::fs::write(&token_file, format!("{TOKEN_CANARY}\n")).unwrap();
    let kept_file = dir.path().join("kept.token");
    std::fs::write(&kept_file, format!("{KEEPALIVE_CANARY}\n")).unwrap();
    let key_pem = rcgen::KeyPair::generate().unwrap().serialize_pem();
    let key_file = dir.path().join("app.pem");
    std::fs::write(&key_file, &key_pem).unwrap();
    let hash = bcrypt::hash(PASSWORD_CANARY, 4).unwrap();
    let web_file = dir.path().join("web.yml");
    std::fs::write(
        &web_file,
        format!("basic_auth_users:\n  prometheus: {hash}\n"),
    )
    .unwrap();

    let config = Config::from_yaml(
        "config.yml",
        &format!(
            "orgs:\n  - name: ssws\n    url: https://a.okta.com\n    auth:\n      ssws:\n        token_file: {}\n    \
             keepalive:\n      - token_id: 00Tkept\n        token_file: {}\n  \
             - name: app\n    url: https://b.okta.com\n    auth:\n      oauth2:\n        client_id: 0oa1\n        \
             private_key_file: {}\n",
            token_file.display(),
            kept_file.display(),
            key_file.display()
        ),
    )
    .unwrap();
    assert_eq!(
        config.orgs[0].keepalive.len(),
        1,
        "a kept-alive token is held"
    );
    let ssws_client = OktaClient::new(
        "https://a.okta.com".parse().unwrap(),
        Secret::new(TOKEN_CANARY),
        HttpSettings::default(),
    )
    .unwrap();
    let app = OAuth2Settings {
        client_id: "0oa1".into(),
        private_key: Arc::new(SigningKey::from_pem(&key_pem).unwrap()),
        key_id: None,
        scopes: vec!["okta.apiTokens.read".into()],
    };
    let oauth_client = OktaClient::for_org(
        "https://b.okta.com".parse().unwrap(),
        &Auth::OAuth2(app.clone()),
        HttpSettings::default(),
        system_clock(),
    )
    .unwrap();
    let web = WebConfigFile::load(&web_file).unwrap();

    let shown = [
        ("config", panic_message_about(&config)),
        ("SSWS client", panic_message_about(&ssws_client)),
        ("OAuth client", panic_message_about(&oauth_client)),
        ("OAuth settings", panic_message_about(&app)),
        ("signing key", panic_message_about(&*app.private_key)),
        ("web config", panic_message_about(&web)),
        ("web settings", panic_message_about(&*web.current())),
    ];
    for (what, text) in &shown {
        assert!(text.contains("failed while holding"), "{what}: {text}");
        assert!(
            !text.contains(TOKEN_CANARY) && !text.contains("canary-api"),
            "the API token shows in the {what}: {text}"
        );
        assert!(
            !text.contains(KEEPALIVE_CANARY) && !text.contains("kept-alive-token"),
            "a kept-alive token shows in the {what}: {text}"
        );
        assert!(
            !text.contains(PASSWORD_CANARY),
            "the password shows in the {what}"
        );
        assert!(
            !text.contains(&hash),
            "the password's hash shows in the {what}"
        );
        for line in key_lines(&key_pem) {
            assert!(!text.contains(line), "key material shows in the {what}");
        }
    }
    assert!(
        shown[0].1.contains(Secret::REDACTED),
        "the config says a secret is there: {}",
        shown[0].1
    );
}

/// The API token in a 5xx answer that echoes the `Authorization` header (as a careless proxy
/// might) is redacted before any log line: the `retrying` debug line, the final error, at trace
/// level, on the real binary.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_okta_that_echoes_the_credential_gets_it_redacted_in_every_log_line() {
    use crate::common::{Exporter, Setup};
    use okta_simulator::{Fault, Simulator};
    let sim = Simulator::start(TOKEN_CANARY, vec![]).await.unwrap();
    for _ in 0..3 {
        sim.push_fault(None, Fault::EchoAuthorization { status: 503 });
    }
    // Setup runs the exporter with --log.level=trace.
    let mut setup = Setup::new(sim.url(), TOKEN_CANARY);
    setup.retries = 2;
    setup.poll_interval = "1h";
    let exporter = Exporter::start(setup);
    let lines = exporter.wait_for_log(
        "the failed poll",
        |l| l.contains("retrying") || l.contains("poll failed"),
        |lines| lines.len() >= 3,
    );
    let echoed = sim.requests().iter().filter(|r| r.status == 503).count();
    assert_eq!(echoed, 3, "the simulator echoed the header three times");
    for line in &lines {
        assert!(
            line.contains(Secret::REDACTED) && line.contains("E0000009"),
            "the echo shows, redacted: {line}"
        );
    }
    assert_eq!(
        lines.iter().filter(|l| l.contains("retrying")).count(),
        2,
        "{lines:#?}"
    );
    let logs = exporter.logs().join("\n");
    assert!(!logs.contains(TOKEN_CANARY), "the API token is logged");
}

/// The same with an OAuth 2.0 app: the access token (which the client holds only in the header
/// it sends) is redacted where the answer is read, before the `retrying` line logs it.
#[test]
fn an_echoed_oauth_access_token_is_redacted_before_any_log_line() {
    use okta_simulator::{Fault, SimDpop, SimOAuthApp, Simulator};
    use okta_token_exporter::okta::PollStats;
    let logs = Arc::new(std::sync::Mutex::new(Vec::<u8>::new()));
    let sink = Arc::clone(&logs);
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || LogSink(Arc::clone(&sink)))
        .finish();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (error, requests) = tracing::subscriber::with_default(subscriber, || {
        runtime.block_on(async {
            let sim = Simulator::start(TOKEN_CANARY, vec![]).await.unwrap();
            let key_pem = rcgen::KeyPair::generate().unwrap().serialize_pem();
            let key = Arc::new(SigningKey::from_pem(&key_pem).unwrap());
            sim.enable_oauth(SimOAuthApp {
                client_id: "0oaecho".into(),
                public_jwk: key.public_jwk(),
                key_id: None,
                granted_scopes: vec!["okta.apiTokens.read".into()],
                dpop: SimDpop::Off,
                token_lifetime: std::time::Duration::from_secs(3600),
                clock: system_clock(),
            })
            .unwrap();
            for _ in 0..2 {
                sim.push_fault(None, Fault::EchoAuthorization { status: 502 });
            }
            let client = OktaClient::for_org(
                sim.url().parse().unwrap(),
                &Auth::OAuth2(OAuth2Settings {
                    client_id: "0oaecho".into(),
                    private_key: key,
                    key_id: None,
                    scopes: vec!["okta.apiTokens.read".into()],
                }),
                HttpSettings {
                    max_retries: 1,
                    retry_backoff: std::time::Duration::from_millis(5),
                    ..HttpSettings::default()
                },
                system_clock(),
            )
            .unwrap();
            let error = client
                .list_api_tokens(&mut PollStats::default())
                .await
                .unwrap_err();
            (error, sim.requests())
        })
    });
    let access_tokens: Vec<String> = requests
        .iter()
        .filter(|r| r.path_and_query.starts_with("/api/v1/api-tokens"))
        .filter_map(|r| r.authorization.clone())
        .filter_map(|a| Some(a.split_once(' ')?.1.to_owned()))
        .collect();
    assert_eq!(access_tokens.len(), 2, "two answers echoed the token");
    let logs = String::from_utf8(logs.lock().unwrap().clone()).unwrap();
    assert!(logs.contains("retrying"), "{logs}");
    assert!(logs.contains(Secret::REDACTED), "{logs}");
    let shown = format!("{error} {error:?}");
    for token in &access_tokens {
        assert!(
            !logs.contains(token.as_str()),
            "the access token is logged:\n{logs}"
        );
        assert!(
            !shown.contains(token.as_str()),
            "the error shows the token: {shown}"
        );
    }
}

/// A `MakeWriter` output that keeps what is written.
struct LogSink(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for LogSink {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
