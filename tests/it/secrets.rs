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
