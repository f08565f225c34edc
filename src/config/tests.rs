//! The configuration's unit tests: every key, every error message with its file, line and key.

use super::*;
use std::io::Write;

fn token_file(content: &str) -> tempfile::NamedTempFile {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    f.write_all(content.as_bytes()).unwrap();
    f
}

fn org_yaml(token_path: &Path) -> String {
    format!(
        "orgs:\n  - name: acme-prod\n    url: https://acme.okta.com\n    auth:\n      ssws:\n        token_file: {}\n",
        token_path.display()
    )
}

#[test]
fn reads_a_full_config() {
    let token = token_file("00abc-secret\n");
    let yaml = format!(
        "poll_interval: 2m\nhttp:\n  request_timeout: 5s\n  retries: 1\n{}",
        org_yaml(token.path())
    );
    let config = Config::from_yaml("test.yml", &yaml).unwrap();
    assert_eq!(config.poll_interval, Duration::from_secs(120));
    assert_eq!(config.client.request_timeout, Duration::from_secs(5));
    assert_eq!(config.client.max_retries, 1);
    assert_eq!(config.orgs.len(), 1);
    assert_eq!(config.orgs[0].name, "acme-prod");
    assert_eq!(config.orgs[0].url.as_str(), "https://acme.okta.com/");
    let Auth::Ssws { token } = &config.orgs[0].auth else {
        panic!("an SSWS org")
    };
    assert_eq!(token.expose(), "00abc-secret", "trailing newline trimmed");
    assert!(
        !format!("{config:?}").contains("00abc-secret"),
        "Debug must redact"
    );
}

#[test]
fn defaults_apply_when_omitted() {
    let token = token_file("t");
    let config = Config::from_yaml("x.yml", &org_yaml(token.path())).unwrap();
    assert_eq!(config.poll_interval, DEFAULT_POLL_INTERVAL);
    assert_eq!(config.client, HttpSettings::default());
}

/// Each bad config names the file, the line, the key and the problem.
#[test]
fn every_bad_config_gets_an_error_naming_file_line_and_key() {
    let token = token_file("t");
    let empty = token_file("\n");
    let tp = token.path().display().to_string();
    let ep = empty.path().display().to_string();
    let org = |name: &str, url: &str, auth: &str| {
        format!("  - name: {name}\n    url: {url}\n    auth:\n{auth}")
    };
    let ssws = format!("      ssws:\n        token_file: {tp}\n");
    let cases: Vec<(&str, String, u64, &str, &str)> = vec![
        (
            "unknown top-level key",
            format!(
                "poll_intervall: 5m\norgs:\n{}",
                org("a", "https://a.okta.com", &ssws)
            ),
            1,
            "poll_intervall",
            "unknown field `poll_intervall`",
        ),
        (
            "unknown org key",
            format!(
                "orgs:\n{}    region: eu\n",
                org("a", "https://a.okta.com", &ssws)
            ),
            7,
            "orgs[0].region",
            "unknown field `region`",
        ),
        (
            "unknown auth kind",
            format!(
                "orgs:\n{}",
                org("a", "https://a.okta.com", "      kerberos: {}\n")
            ),
            5,
            "orgs[0].auth",
            "kerberos",
        ),
        (
            "duplicate org name",
            format!(
                "orgs:\n{}{}",
                org("a", "https://a.okta.com", &ssws),
                org("a", "https://b.okta.com", &ssws)
            ),
            7,
            "orgs[1].name",
            "duplicate org name \"a\"",
        ),
        (
            "http url",
            format!("orgs:\n{}", org("a", "http://a.okta.com", &ssws)),
            3,
            "orgs[0].url",
            "https://",
        ),
        (
            "not a url",
            format!("orgs:\n{}", org("a", "acme.okta.com", &ssws)),
            3,
            "orgs[0].url",
            "invalid URL",
        ),
        (
            "url with a path",
            format!("orgs:\n{}", org("a", "https://a.okta.com/api/v1", &ssws)),
            3,
            "orgs[0].url",
            "without a path",
        ),
        (
            "bad poll interval",
            format!(
                "poll_interval: 5 minutes please\norgs:\n{}",
                org("a", "https://a.okta.com", &ssws)
            ),
            1,
            "poll_interval",
            "invalid duration",
        ),
        (
            "zero poll interval",
            format!(
                "poll_interval: 0s\norgs:\n{}",
                org("a", "https://a.okta.com", &ssws)
            ),
            1,
            "poll_interval",
            "longer than zero",
        ),
        (
            "bad timeout",
            format!(
                "http:\n  request_timeout: soon\norgs:\n{}",
                org("a", "https://a.okta.com", &ssws)
            ),
            2,
            "http.request_timeout",
            "invalid duration",
        ),
        (
            "missing token file",
            format!(
                "orgs:\n{}",
                org(
                    "a",
                    "https://a.okta.com",
                    "      ssws:\n        token_file: /nonexistent/okta.token\n"
                )
            ),
            6,
            "orgs[0].auth.ssws.token_file",
            "cannot read the token file /nonexistent/okta.token",
        ),
        (
            "empty token file",
            format!(
                "orgs:\n{}",
                org(
                    "a",
                    "https://a.okta.com",
                    &format!("      ssws:\n        token_file: {ep}\n")
                )
            ),
            6,
            "orgs[0].auth.ssws.token_file",
            "is empty",
        ),
        (
            "unset token env",
            format!(
                "orgs:\n{}",
                org(
                    "a",
                    "https://a.okta.com",
                    "      ssws:\n        token_env: OKTA_TEST_SURELY_UNSET_VARIABLE\n"
                )
            ),
            6,
            "orgs[0].auth.ssws.token_env",
            "is not set",
        ),
        (
            "no token source",
            format!(
                "orgs:\n{}",
                org("a", "https://a.okta.com", "      ssws: {}\n")
            ),
            5,
            "orgs[0].auth.ssws",
            "set token_file",
        ),
        (
            "empty org name",
            format!("orgs:\n{}", org("\"\"", "https://a.okta.com", &ssws)),
            2,
            "orgs[0].name",
            "must not be empty",
        ),
        (
            "no orgs",
            "poll_interval: 5m\n".to_owned(),
            1,
            "orgs",
            "no orgs configured",
        ),
        (
            "empty orgs",
            "orgs: []\n".to_owned(),
            1,
            "orgs",
            "the list is empty",
        ),
        (
            "not yaml",
            "orgs: [\n".to_owned(),
            1,
            "orgs",
            "unclosed bracket",
        ),
    ];
    for (name, yaml, line, key, needle) in cases {
        let err = Config::from_yaml("/etc/okta.yml", &yaml).expect_err(name);
        assert_eq!(err.origin, "/etc/okta.yml", "{name}");
        assert_eq!(err.line, line, "{name}: {err}");
        assert_eq!(err.key, key, "{name}: {err}");
        assert!(err.message.contains(needle), "{name}: {err}");
        assert!(
            !err.message.contains(" at line "),
            "{name}: location said twice: {err}"
        );
        assert!(
            err.to_string()
                .starts_with(&format!("/etc/okta.yml:{line}:")),
            "{name}: {err}"
        );
    }
}

/// The keepalive list: each entry names a token once, with its own secret, never the
/// exporter's; every mistake names its line and key.
#[test]
fn keepalive_entries_are_checked_before_anything_runs() {
    let own = token_file("00own-token\n");
    let kept = token_file("00kept-token\n");
    let other = token_file("00other-token\n");
    let empty = token_file("\n");
    let yaml = |entries: &str| {
        format!(
            "orgs:\n  - name: acme\n    url: https://acme.okta.com\n    auth:\n      ssws:\n        token_file: {}\n    keepalive:\n{entries}",
            own.path().display()
        )
    };
    let entry = |id: &str, file: &Path| {
        format!(
            "      - token_id: {id}\n        token_file: {}\n",
            file.display()
        )
    };

    let good = format!(
        "{}{}        when_expires_within: 14d\n",
        entry("00Tkept", kept.path()),
        entry("00Tother", other.path())
    );
    let config = Config::from_yaml("c.yml", &yaml(&good)).unwrap();
    let list = &config.orgs[0].keepalive;
    assert_eq!(list.len(), 2);
    assert_eq!(list[0].token_id, "00Tkept");
    assert_eq!(list[0].secret.expose(), "00kept-token");
    assert_eq!(list[0].when_expires_within, DEFAULT_KEEPALIVE_WITHIN);
    assert_eq!(
        list[1].when_expires_within,
        Duration::from_secs(14 * 86_400)
    );
    assert_eq!(list[1].source, other.path().display().to_string());
    assert!(
        !format!("{config:?}").contains("kept-token"),
        "Debug shows no secret"
    );

    // (case, entries, line, key, message)
    let cases = [
        (
            "the same id twice",
            format!(
                "{}{}",
                entry("00Tkept", kept.path()),
                entry("00Tkept", other.path())
            ),
            10,
            "orgs[0].keepalive[1].token_id",
            "listed twice, already as keepalive[0]",
        ),
        (
            "the same secret twice",
            format!(
                "{}{}",
                entry("00Tkept", kept.path()),
                entry("00Tother", kept.path())
            ),
            11,
            "orgs[0].keepalive[1].token_file",
            "the same token as keepalive[0]",
        ),
        (
            "the exporter's own token",
            entry("00Town", own.path()),
            9,
            "orgs[0].keepalive[0].token_file",
            "the exporter's own API token",
        ),
        (
            "a missing file",
            entry("00Tkept", Path::new("/nonexistent/kept.token")),
            9,
            "orgs[0].keepalive[0].token_file",
            "cannot read the token file /nonexistent/kept.token",
        ),
        (
            "an empty file",
            entry("00Tkept", empty.path()),
            9,
            "orgs[0].keepalive[0].token_file",
            "is empty",
        ),
        (
            "no secret",
            "      - token_id: 00Tkept\n".to_owned(),
            8,
            "orgs[0].keepalive[0]",
            "set token_file",
        ),
        (
            "not a token id",
            entry("\"00T kept\"", kept.path()),
            8,
            "orgs[0].keepalive[0].token_id",
            "is not an Okta token id",
        ),
        (
            "a bad threshold",
            format!(
                "{}        when_expires_within: soon\n",
                entry("00Tkept", kept.path())
            ),
            10,
            "orgs[0].keepalive[0].when_expires_within",
            "invalid duration",
        ),
        (
            "an unknown key",
            format!("{}        when: 10d\n", entry("00Tkept", kept.path())),
            10,
            "orgs[0].keepalive[0].when",
            "unknown field `when`",
        ),
    ];
    for (case, entries, line, key, needle) in cases {
        let error = Config::from_yaml("c.yml", &yaml(&entries)).expect_err(case);
        assert_eq!(
            (error.line, error.key.as_str()),
            (line, key),
            "{case}: {error}"
        );
        assert!(error.message.contains(needle), "{case}: {error}");
        for secret in ["own-token", "kept-token", "other-token"] {
            assert!(!error.to_string().contains(secret), "{case}: {error}");
        }
    }
}

#[test]
fn a_keepalive_threshold_past_red_or_past_the_window_gets_a_note() {
    let org = |days: u64| OrgConfig {
        name: "acme".into(),
        url: parse_org_url("https://acme.okta.com").unwrap(),
        auth: Auth::Ssws {
            token: Secret::new("t"),
        },
        enrich: EnrichSettings::default(),
        keepalive: vec![KeepAliveToken {
            token_id: "00T1".into(),
            secret: Secret::new("k"),
            when_expires_within: Duration::from_secs(days * 86_400),
            source: "k.token".into(),
        }],
        stored_as: None,
    };
    let cases = [
        (1, "turns red"),
        (7, "turns red"),
        (8, ""),
        (10, ""),
        (29, ""),
        (30, "at every poll"),
    ];
    for (days, needle) in cases {
        let notes = keepalive_notes(&org(days));
        match needle {
            "" => assert!(notes.is_empty(), "{days}d: {notes:?}"),
            _ => assert!(
                notes.len() == 1 && notes[0].contains(needle),
                "{days}d: {notes:?}"
            ),
        }
    }
}

#[test]
fn org_urls_must_be_https_except_on_loopback() {
    let cases = [
        ("https://acme.okta.com", true),
        ("https://acme.okta.com/", true),
        ("https://acme.oktapreview.com:8443", true),
        ("http://127.0.0.1:8080", true),
        ("http://localhost:8080", true),
        ("http://[::1]:8080", true),
        ("http://acme.okta.com", false),
        ("http://127.0.0.2", false),
        ("http://10.0.0.1", false),
        ("ftp://acme.okta.com", false),
        ("https://user:pw@acme.okta.com", false),
        ("https://acme.okta.com/?x=1", false),
        ("https://acme.okta.com/#x", false),
        ("", false),
    ];
    for (url, ok) in cases {
        assert_eq!(
            parse_org_url(url).is_ok(),
            ok,
            "{url}: {:?}",
            parse_org_url(url)
        );
    }
}

#[test]
fn an_oauth2_app_is_configured_with_its_key_and_scopes() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("app.pem");
    std::fs::write(&key, rcgen::KeyPair::generate().unwrap().serialize_pem()).unwrap();
    let org = |auth: &str| {
        format!("orgs:\n  - name: a\n    url: https://a.okta.com\n    auth:\n      oauth2:\n{auth}")
    };
    let yaml = org(&format!(
        "        client_id: 0oa1\n        private_key_file: {}\n        key_id: k1\n        scopes: [okta.apiTokens.read, okta.users.read]\n",
        key.display()
    ));
    let config = Config::from_yaml("c.yml", &yaml).unwrap();
    let Auth::OAuth2(app) = &config.orgs[0].auth else {
        panic!("an OAuth 2.0 org")
    };
    assert_eq!(app.client_id, "0oa1");
    assert_eq!(app.key_id.as_deref(), Some("k1"));
    assert!(app.has_scope("okta.users.read") && !app.has_scope("okta.logs.read"));
    assert_eq!(app.private_key.alg(), "ES256");

    let sec1 = dir.path().join("sec1.pem");
    std::fs::write(
        &sec1,
        "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIBYp\n-----END EC PRIVATE KEY-----\n",
    )
    .unwrap();
    let cases = [
        (
            format!(
                "        client_id: 0oa1\n        private_key_file: {}\n",
                dir.path().join("none.pem").display()
            ),
            "7:27: orgs[0].auth.oauth2.private_key_file: cannot read the private key file",
        ),
        (
            format!(
                "        client_id: 0oa1\n        private_key_file: {}\n",
                sec1.display()
            ),
            "orgs[0].auth.oauth2.private_key_file",
        ),
        (
            format!(
                "        client_id: \"  \"\n        private_key_file: {}\n",
                key.display()
            ),
            "6:20: orgs[0].auth.oauth2.client_id: must not be empty",
        ),
        (
            format!(
                "        client_id: 0oa1\n        private_key_file: {}\n        scopes: []\n",
                key.display()
            ),
            "orgs[0].auth.oauth2.scopes: the list is empty",
        ),
        (
            format!(
                "        client_id: 0oa1\n        private_key_file: {}\n        scope: x\n",
                key.display()
            ),
            "unknown field `scope`",
        ),
    ];
    for (auth, wanted) in cases {
        let error = Config::from_yaml("c.yml", &org(&auth))
            .unwrap_err()
            .to_string();
        assert!(error.contains(wanted), "{auth:?}: {error}");
    }
    let sec1_auth = format!(
        "        client_id: 0oa1\n        private_key_file: {}\n",
        sec1.display()
    );
    let error = Config::from_yaml("c.yml", &org(&sec1_auth))
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("openssl pkcs8 -topk8"),
        "SEC1 keys get the conversion command: {error}"
    );
}

#[test]
fn token_files_are_trimmed_and_checked() {
    let cases = [
        ("c4n\n", Ok("c4n")),
        ("c4n\r\n", Ok("c4n")),
        ("c4n", Ok("c4n")),
        ("c4n\n\n", Ok("c4n")),
        ("", Err("is empty")),
        ("\n", Err("is empty")),
        ("  \n", Err("is empty")),
        ("c4n\nother\n", Err("whitespace")),
    ];
    for (content, want) in cases {
        let file = token_file(content);
        let got = read_token_file(file.path());
        match (got, want) {
            (Ok(secret), Ok(want)) => assert_eq!(secret.expose(), want, "{content:?}"),
            (Err(e), Err(needle)) => {
                let e = e.to_string();
                assert!(e.contains(needle), "{content:?}: {e}");
                assert!(!e.contains("c4n"), "errors never show the token: {e}");
            }
            (got, want) => panic!("{content:?}: got {got:?}, want {want:?}"),
        }
    }
}

#[test]
fn one_function_applies_the_flags_over_the_file() {
    let token = token_file("00abc\n");
    let dir = tempfile::tempdir().unwrap();
    let mut file = tempfile::NamedTempFile::new().unwrap();
    write!(
        file,
        "poll_interval: 2m\norgs:\n  - name: acme\n    url: https://acme.okta.com\n    auth:\n      ssws:\n        token_file: {}\n",
        token.path().display()
    )
    .unwrap();
    let sources = Sources {
        file: Some(file.path()),
        poll_interval: Some(Duration::from_secs(90)),
        storage_path: Some(dir.path()),
        ..Sources::default()
    };
    let loaded = load(&sources).unwrap();
    assert_eq!(loaded.config.poll_interval, Duration::from_secs(90));
    assert_eq!(loaded.config.storage_path.as_deref(), Some(dir.path()));
    assert!(loaded.notes.is_empty());

    let missing = Sources {
        storage_path: Some(Path::new("/nonexistent/state")),
        ..sources
    };
    let error = load(&missing).unwrap_err();
    assert_eq!(error.key, "--storage.path");
    assert!(error.to_string().contains("/nonexistent/state"), "{error}");
    let nothing = load(&Sources::default()).unwrap_err();
    assert!(
        nothing.message.contains("okta-token-exporter demo"),
        "{nothing}"
    );
}

#[test]
fn enrichment_follows_the_oauth_scopes() {
    let key = std::sync::Arc::new(
        crate::jose::SigningKey::from_pem(&crate::jose::generate_p256_pem()).unwrap(),
    );
    let cases: [(&[&str], bool, bool, usize); 4] = [
        (&["okta.apiTokens.read"], false, false, 2),
        (&["okta.apiTokens.read", "okta.users.read"], true, false, 1),
        (&["okta.apiTokens.read", "okta.logs.read"], false, true, 1),
        (
            &["okta.apiTokens.read", "okta.users.read", "okta.logs.read"],
            true,
            true,
            0,
        ),
    ];
    for (scopes, owners, system_log, notes) in cases {
        let mut org = OrgConfig {
            name: "acme".into(),
            url: parse_org_url("https://acme.okta.com").unwrap(),
            auth: Auth::OAuth2(OAuth2Settings {
                client_id: "0oa1".into(),
                private_key: std::sync::Arc::clone(&key),
                key_id: None,
                scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
            }),
            enrich: EnrichSettings::default(),
            keepalive: Vec::new(),
            stored_as: None,
        };
        let said = limit_to_scopes(&mut org);
        assert_eq!(
            (org.enrich.owners, org.enrich.system_log),
            (owners, system_log),
            "{scopes:?}"
        );
        assert_eq!(said.len(), notes, "{scopes:?}: {said:?}");
    }
}

/// Every kind of problem in the file names file, line, column and the full key path.
#[test]
fn every_kind_of_error_names_its_line_column_and_key_path() {
    let org = "orgs:\n  - name: a\n    url: https://a.okta.com\n    auth:\n      ssws:\n        token_env: OKTA_TEST_TOKEN_THAT_IS_NOT_SET\n";
    let cases = [
        // A value of the wrong type.
        (
            format!("http:\n  retries: many\n{org}"),
            "/etc/okta.yml:2:12: http.retries: invalid u32",
        ),
        // An unknown key, nested.
        (
            "orgs:\n  - name: a\n    url: https://a.okta.com\n    colour: red\n".to_owned(),
            "/etc/okta.yml:4:5: orgs[0].colour: unknown field `colour`",
        ),
        (
            format!("{org}    enrich:\n      owners: maybe\n"),
            "/etc/okta.yml:8:15: orgs[0].enrich.owners: invalid boolean",
        ),
        // YAML syntax.
        (
            "orgs: [\n  {name: a\n".to_owned(),
            "/etc/okta.yml:2:3: orgs: unclosed bracket",
        ),
        (
            "poll_interval: 5m\n\tbad: tab\n".to_owned(),
            "/etc/okta.yml:1:16: ",
        ),
    ];
    for (yaml, expected) in cases {
        let error = Config::from_yaml("/etc/okta.yml", &yaml)
            .unwrap_err()
            .to_string();
        assert!(
            error.starts_with(expected),
            "{yaml:?}\n got: {error}\nwant: {expected}"
        );
    }
}

/// A typo in the poll interval must not spend an org's rate limit, shared with every other
/// integration: under a minute is refused for an org on Okta, in the file and on the command
/// line, and allowed for a simulated org on loopback (the demo, the tests).
#[test]
fn a_poll_interval_under_a_minute_is_refused_for_an_org_on_okta() {
    let token = token_file("00abc\n");
    let yaml = |interval: &str, url: &str| {
        format!(
            "poll_interval: {interval}\norgs:\n  - name: acme\n    url: {url}\n    auth:\n      ssws:\n        token_file: {}\n",
            token.path().display()
        )
    };
    let cases = [
        (
            "1ms",
            "https://acme.okta.com",
            Some("1ms is shorter than the minimum of 1m"),
        ),
        (
            "59s",
            "https://acme.okta.com",
            Some("59s is shorter than the minimum of 1m"),
        ),
        ("1m", "https://acme.okta.com", None),
        ("1ms", "http://127.0.0.1:8080", None),
        ("300ms", "http://localhost:8080", None),
    ];
    for (interval, url, refused) in cases {
        let result = Config::from_yaml("c.yml", &yaml(interval, url));
        match (result, refused) {
            (Ok(config), None) => assert_eq!(
                config.poll_interval,
                humantime::parse_duration(interval).unwrap()
            ),
            (Err(error), Some(needle)) => {
                assert_eq!((error.line, error.key.as_str()), (1, "poll_interval"));
                assert!(error.message.contains(needle), "{error}");
                assert!(
                    error.message.contains("acme at https://acme.okta.com"),
                    "{error}"
                );
            }
            (result, _) => panic!("{interval} for {url}: {result:?}"),
        }
    }

    let mut file = tempfile::NamedTempFile::new().unwrap();
    file.write_all(yaml("5m", "https://acme.okta.com").as_bytes())
        .unwrap();
    let flag = |interval| Sources {
        file: Some(file.path()),
        poll_interval: Some(interval),
        ..Sources::default()
    };
    let error = load(&flag(Duration::from_millis(1))).unwrap_err();
    assert_eq!(error.key, "--okta.poll-interval");
    assert!(
        error.message.contains("1ms is shorter than the minimum"),
        "{error}"
    );
    let loaded = load(&flag(Duration::from_secs(60))).unwrap();
    assert_eq!(loaded.config.poll_interval, Duration::from_secs(60));
}

/// OAuth 2.0 from flags asks for the scopes given with `--okta.scope`, and without any for the
/// config file's default; what the scopes leave out is said, as for the file.
#[test]
fn oauth_from_flags_takes_its_scopes_from_the_scope_flag() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("app.pem");
    std::fs::write(&key, rcgen::KeyPair::generate().unwrap().serialize_pem()).unwrap();
    let three: Vec<String> = ["okta.apiTokens.read", "okta.users.read", "okta.logs.read"]
        .map(String::from)
        .to_vec();
    let sources = |scopes: &'static [String]| Sources {
        single_org: Some((
            "https://acme.okta.com",
            SingleOrgCredential::OAuth2 {
                client_id: "0oa1",
                private_key_file: Some(key.as_path()),
                key_id: None,
                scopes,
            },
            None,
        )),
        ..Sources::default()
    };
    let three: &'static [String] = three.leak();
    let loaded = load(&sources(three)).unwrap();
    let Auth::OAuth2(app) = &loaded.config.orgs[0].auth else {
        panic!("an OAuth 2.0 org")
    };
    assert_eq!(app.scopes, three);
    // Only the roles lookup (okta.roles.read, not asked) is off.
    assert_eq!(loaded.notes.len(), 1, "{:?}", loaded.notes);
    assert!(
        loaded.notes[0].contains("okta.roles.read"),
        "{:?}",
        loaded.notes
    );
    let org = &loaded.config.orgs[0];
    assert!(org.enrich.owners && org.enrich.system_log);

    let loaded = load(&sources(&[])).unwrap();
    let Auth::OAuth2(app) = &loaded.config.orgs[0].auth else {
        panic!("an OAuth 2.0 org")
    };
    assert_eq!(app.scopes, DEFAULT_SCOPES);
    assert_eq!(loaded.notes.len(), 3, "{:?}", loaded.notes);
    assert!(loaded.notes.iter().any(|n| n.contains("okta.users.read")));

    let bad: &'static [String] = vec!["okta.users.read okta.logs.read".to_owned()].leak();
    let error = load(&sources(bad)).unwrap_err();
    assert_eq!(error.key, "--okta.scope");
}

/// The demo's simulated org listens on a new port at each start; its state file knows it by a
/// name that does not change, so a restart restores it.
#[test]
fn the_demo_org_is_stored_by_a_name_that_survives_its_port() {
    let sources = Sources::default();
    let loaded = |port: u16| {
        demo(
            &format!("http://127.0.0.1:{port}"),
            Secret::new("t"),
            Vec::new(),
            Duration::from_secs(15),
            &sources,
        )
        .unwrap()
    };
    let (a, b) = (loaded(40001), loaded(40002));
    assert_ne!(a.config.orgs[0].origin(), b.config.orgs[0].origin());
    assert_eq!(a.config.orgs[0].state_url(), DEMO_STATE_URL);
    assert_eq!(a.config.orgs[0].state_url(), b.config.orgs[0].state_url());
    let token = token_file("00abc\n");
    let file = Config::from_yaml("c.yml", &org_yaml(token.path())).unwrap();
    assert_eq!(file.orgs[0].state_url(), "https://acme.okta.com");
}

/// An org's posture rules come from its `posture:` block; a bad pattern or age names its line.
#[test]
fn posture_rules_are_per_org_and_checked() {
    let token = token_file("t");
    let base = org_yaml(token.path());
    let config = Config::from_yaml(
        "x.yml",
        &format!(
            "{base}    posture:\n      person_login_pattern: '^[a-z]+@acme\\.com$'\n      max_token_age: 180d\n    enrich:\n      roles: false\n"
        ),
    )
    .unwrap();
    let enrich = &config.orgs[0].enrich;
    assert!(!enrich.roles);
    assert_eq!(enrich.posture.max_token_age, chrono::TimeDelta::days(180));
    let pattern = enrich.posture.person_login.as_ref().unwrap();
    assert!(pattern.is_match("jdoe@acme.com") && !pattern.is_match("svc-okta@acme.com"));
    let defaults = Config::from_yaml("x.yml", &base).unwrap();
    assert_eq!(defaults.orgs[0].enrich.posture, PostureSettings::default());
    assert!(defaults.orgs[0].enrich.roles);
    for (block, line, key, message) in [
        (
            "    posture:\n      person_login_pattern: '^[a-z+@'\n",
            8,
            "orgs[0].posture.person_login_pattern",
            "not a regular expression",
        ),
        (
            "    posture:\n      max_token_age: a year\n",
            8,
            "orgs[0].posture.max_token_age",
            "invalid duration",
        ),
        (
            "    posture:\n      max_token_age: 1000000d\n",
            8,
            "orgs[0].posture.max_token_age",
            "longer than a century",
        ),
        (
            "    posture:\n      rotation: 90d\n",
            8,
            "orgs[0].posture.rotation",
            "unknown field `rotation`",
        ),
    ] {
        let error = Config::from_yaml("x.yml", &format!("{base}{block}")).unwrap_err();
        assert_eq!((error.line, error.key.as_str()), (line, key), "{error}");
        assert!(error.message.contains(message), "{error}");
        assert!(!error.message.contains('\n'), "one line: {error}");
    }
}

#[test]
fn roles_lookups_follow_the_oauth_scopes() {
    let key = std::sync::Arc::new(
        crate::jose::SigningKey::from_pem(&crate::jose::generate_p256_pem()).unwrap(),
    );
    for (scopes, roles) in [
        (&["okta.apiTokens.read", "okta.users.read"][..], false),
        (&["okta.apiTokens.read", "okta.roles.read"][..], true),
    ] {
        let mut org = OrgConfig {
            name: "acme".into(),
            url: parse_org_url("https://acme.okta.com").unwrap(),
            auth: Auth::OAuth2(OAuth2Settings {
                client_id: "0oa1".into(),
                private_key: std::sync::Arc::clone(&key),
                key_id: None,
                scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
            }),
            enrich: EnrichSettings::default(),
            keepalive: Vec::new(),
            stored_as: None,
        };
        let note = limit_roles_to_scopes(&mut org);
        assert_eq!(org.enrich.roles, roles, "{scopes:?}");
        assert_eq!(note.is_some(), !roles, "{scopes:?}: {note:?}");
        if let Some(note) = note {
            assert!(note.contains("okta.roles.read"), "{note}");
        }
    }
}
