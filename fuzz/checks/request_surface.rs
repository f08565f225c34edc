//! The request surface that takes a client's input, on arbitrary input of four lines: the query
//! string of `/` and `/api/v1/tokens` (`?status=&org=`), an `Authorization` header, an
//! `Accept-Encoding` header and a `Host` header.
//!
//! Asserts: nothing panics; a query the filter takes gives it back through `to_query`, its orgs
//! trimmed, non-empty and without commas, its statuses once each, and a refused one names a word
//! of the query; the token table it filters holds only rows of the orgs and colours asked for,
//! and counts every token of an org whatever the colours asked for; no `<`, `>` or `"` of a
//! filter's org names reaches the page unescaped, and the JSON of the table parses;
//! basic credentials that parse come back from their own re-encoding, the user without `:`;
//! the coding chosen for `Accept-Encoding` is one the header names (or `*`), whatever the order
//! of its items; a `Host` is allowed whatever its ASCII case, and an allowed name with a port is
//! allowed.
//!
//! Shared by the fuzz target `fuzz_targets/request_surface.rs` and `tests/it/request_surface.rs`,
//! which replays `corpus/request_surface/` with it in the ordinary test suite.
use std::sync::Arc;

use base64::Engine as _;
use chrono::{DateTime, TimeDelta, Utc};
use okta_token_exporter::compression::{negotiate, Encoding};
use okta_token_exporter::landing_page::{render, Page};
use okta_token_exporter::model::posture::FindingId;
use okta_token_exporter::model::ApiToken;
use okta_token_exporter::snapshot::OrgSnapshot;
use okta_token_exporter::token_table::{parse_status, table, to_json, Filter, FilterError};
use okta_token_exporter::web::{basic_credentials, host_of, AllowedHosts};

/// Checks one input; panics when a property fails.
pub fn check(data: &[u8]) {
    let mut lines = data.splitn(4, |b| *b == b'\n');
    let query = lines.next().unwrap_or_default();
    let authorization = lines.next().unwrap_or_default();
    let accept_encoding = lines.next().unwrap_or_default();
    let host = lines.next().unwrap_or_default();
    if let Ok(query) = std::str::from_utf8(query) {
        filter(query);
    }
    basic(authorization);
    if let Ok(accept) = std::str::from_utf8(accept_encoding) {
        encoding(accept);
    }
    if let Ok(host) = std::str::from_utf8(host) {
        allowed(host);
    }
}

fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-12-05T12:00:00Z")
        .unwrap()
        .to_utc()
}

/// Two orgs of three tokens: green, red and gray at [`now`].
fn orgs() -> Vec<Arc<OrgSnapshot>> {
    let token = |id: &str, expires_in: TimeDelta, idle: TimeDelta| ApiToken {
        id: id.into(),
        name: format!("token <{id}> & \"more\""),
        user_id: "00u1".into(),
        client_name: "Okta API".into(),
        network_connection: "ANYWHERE".into(),
        window: expires_in + idle,
        created: None,
        expires_at: now() + expires_in,
    };
    let day = TimeDelta::days(1);
    ["acme", "globex"]
        .iter()
        .map(|name| {
            let mut org = OrgSnapshot::new(*name, format!("https://{name}.okta.com"));
            org.tokens = Arc::new(vec![
                token("00T1", day * 25, day),
                token("00T2", day * 2, day * 28),
                token("00T3", day * 20, day * 10),
            ]);
            org.up = true;
            Arc::new(org)
        })
        .collect()
}

fn filter(query: &str) {
    let filter = match Filter::from_query(query) {
        Ok(filter) => filter,
        Err(FilterError::UnknownStatus(word)) => {
            let decoded: String = url::form_urlencoded::parse(query.as_bytes())
                .map(|(_, v)| v.into_owned())
                .collect::<Vec<_>>()
                .join(",");
            assert!(decoded.contains(&word), "{word:?} not in {query:?}");
            assert!(parse_status(&word).is_none(), "{word:?} is a status");
            return;
        }
        Err(FilterError::UnknownFinding(word)) => {
            let decoded: String = url::form_urlencoded::parse(query.as_bytes())
                .map(|(_, v)| v.into_owned())
                .collect::<Vec<_>>()
                .join(",");
            assert!(decoded.contains(&word), "{word:?} not in {query:?}");
            assert!(FindingId::parse(&word).is_none(), "{word:?} is a finding");
            return;
        }
    };
    for org in &filter.orgs {
        assert!(
            !org.is_empty() && org.trim() == org && !org.contains(','),
            "{org:?}"
        );
    }
    let mut statuses = filter.statuses.clone();
    statuses.dedup();
    assert_eq!(statuses.len(), filter.statuses.len(), "{filter:?}");
    let mut findings = filter.findings.clone();
    findings.sort();
    findings.dedup();
    assert_eq!(findings.len(), filter.findings.len(), "{filter:?}");
    assert_eq!(
        Filter::from_query(&filter.to_query()),
        Ok(filter.clone()),
        "{query:?} gives {:?}",
        filter.to_query()
    );

    let orgs = orgs();
    let tables = table(&orgs, &filter, now());
    for org_table in &tables {
        let name = &org_table.org.name;
        assert!(
            filter.orgs.is_empty() || filter.orgs.contains(name),
            "{name}"
        );
        assert_eq!(
            org_table.counts.iter().sum::<usize>(),
            org_table.org.tokens.len(),
            "the counts ignore the colours asked for"
        );
        for row in &org_table.rows {
            assert!(
                filter.statuses.is_empty() || filter.statuses.contains(&row.status),
                "{:?} shown for {filter:?}",
                row.status
            );
            assert!(
                filter.findings.is_empty()
                    || row
                        .posture
                        .findings
                        .iter()
                        .any(|f| filter.findings.contains(&f.id)),
                "{:?} shown for {filter:?}",
                row.posture.findings
            );
        }
    }
    let json = serde_json::to_string(&to_json(&tables)).unwrap();
    assert!(serde_json::from_str::<serde_json::Value>(&json).is_ok());
    let page = |filter: &Filter| {
        render(&Page {
            tables: &table(&orgs, filter, now()),
            filter,
            org_names: orgs.iter().map(|o| o.name.as_str()).collect(),
            telemetry_path: "/metrics",
            now: now(),
        })
    };
    // Markup characters come from the page alone: the same filter with its orgs' `<`, `>`,
    // `"` and `&` made plain (no org here has one, so the same tables) gives a page with as many.
    let html = page(&filter);
    let plain = Filter {
        orgs: filter
            .orgs
            .iter()
            .map(|o| o.replace(['<', '>', '"', '&'], "x"))
            .collect(),
        ..filter.clone()
    };
    let plain_html = page(&plain);
    for markup in ['<', '>', '"'] {
        assert_eq!(
            html.matches(markup).count(),
            plain_html.matches(markup).count(),
            "{markup:?} from the orgs {:?} reaches the page unescaped",
            filter.orgs
        );
    }
}

fn basic(header: &[u8]) {
    let Ok(value) = hyper::header::HeaderValue::from_bytes(header) else {
        return;
    };
    let Ok((user, password)) = basic_credentials(Some(&value)) else {
        return;
    };
    assert!(!user.contains(':'), "{user:?}");
    let text = value.to_str().unwrap().trim();
    assert!(
        text.get(..6)
            .is_some_and(|s| s.eq_ignore_ascii_case("basic ")),
        "{text:?}"
    );
    let encoded =
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{}", password.expose()));
    let again = hyper::header::HeaderValue::from_str(&format!("Basic {encoded}")).unwrap();
    let (user_again, password_again) = basic_credentials(Some(&again)).unwrap();
    assert_eq!(user_again, user);
    assert_eq!(password_again.expose(), password.expose());
}

fn encoding(accept: &str) {
    let chosen = negotiate(Some(accept));
    let lower = accept.to_ascii_lowercase();
    let named = |coding: &str| lower.contains(coding) || lower.contains('*');
    match chosen {
        Encoding::Zstd => assert!(named("zstd"), "{accept:?}"),
        Encoding::Gzip => assert!(named("gzip"), "{accept:?}"),
        Encoding::Identity => {}
    }
    let reversed: Vec<&str> = accept.split(',').rev().collect();
    assert_eq!(negotiate(Some(&reversed.join(","))), chosen, "{accept:?}");
    assert_eq!(
        negotiate(Some(&format!("{accept},br;q=1"))),
        chosen,
        "a coding this exporter lacks changes nothing: {accept:?}"
    );
}

fn allowed(host: &str) {
    let allowed = AllowedHosts::only(&["exporter.example", "127.0.0.1", "::1"]);
    let verdict = allowed.allows(Some(host));
    assert_eq!(
        allowed.allows(Some(&host.to_ascii_uppercase())),
        verdict,
        "{host:?}"
    );
    if verdict {
        let name = host_of(host).trim_matches(['[', ']']).trim_end_matches('.');
        assert!(
            ["exporter.example", "127.0.0.1", "::1"]
                .iter()
                .any(|a| a.eq_ignore_ascii_case(name)),
            "{host:?} allowed as {name:?}"
        );
        let bracketed = if name.contains(':') {
            format!("[{name}]")
        } else {
            name.to_owned()
        };
        assert!(
            allowed.allows(Some(&format!("{bracketed}:9871"))),
            "{host:?}"
        );
    }
    assert!(AllowedHosts::any().allows(Some(host)));
}
