//! The YAML config parser, `Config::from_yaml`, on arbitrary text.
//!
//! `from_yaml` reads the files that keys named `*_file` point at (`token_file`, key files); so that
//! fuzzed paths never reach the filesystem (`/dev/zero` would read forever), the harness rewrites
//! `token_file` to `token_env` and any other `_file` to `_fi1e` (an unknown key), and skips inputs
//! holding `\` or `!`, the only other ways (escapes, tags) to spell a key. The environment
//! variable `OKTA_FUZZ_TOKEN` is set, so that configs can be valid.
//!
//! Asserts: nothing panics; a valid config has at least one org, unique non-empty trimmed names,
//! origin-only URLs that parse back to themselves, positive durations and in-range settings; an
//! error names the source, has a message, and points at a line of the text (or none).
//!
//! Shared by the fuzz target `fuzz_targets/config.rs` and `tests/it/properties.rs`, which replays
//! `corpus/config/` with it in the ordinary test suite.
use std::collections::HashSet;
use std::sync::Once;

use okta_token_exporter::config::{parse_org_url, Auth, Config};
use okta_token_exporter::secret::Secret;

const SOURCE: &str = "fuzz.yml";

/// Checks one input; panics when a property fails.
pub fn check(data: &[u8]) {
    static ENV: Once = Once::new();
    ENV.call_once(|| std::env::set_var("OKTA_FUZZ_TOKEN", "fuzz-token"));
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if text.contains(['\\', '!']) {
        return;
    }
    let text = text
        .replace("token_file", "token_env")
        .replace("_file", "_fi1e");
    match Config::from_yaml(SOURCE, &text) {
        Ok(config) => {
            assert!(!config.orgs.is_empty());
            assert!(!config.poll_interval.is_zero());
            assert!(!config.client.connect_timeout.is_zero());
            assert!(!config.client.request_timeout.is_zero());
            assert!(!config.client.retry_backoff.is_zero());
            assert!(config.client.max_body_bytes >= 1024);
            let mut names = HashSet::new();
            for org in &config.orgs {
                assert!(!org.name.is_empty());
                assert_eq!(org.name, org.name.trim());
                assert!(names.insert(org.name.as_str()), "duplicate {:?}", org.name);
                assert_eq!(org.url.path(), "/");
                assert_eq!(parse_org_url(org.url.as_str()).as_ref(), Ok(&org.url));
                let share = org.enrich.rate_limit_share;
                assert!(share > 0.0 && share <= 1.0, "{share}");
                assert!(!org.enrich.suspicious_lookback.is_zero());
                // OAuth 2.0 needs `private_key_file`, which the harness never lets through.
                if let Auth::Ssws { token } = &org.auth {
                    assert!(!token.expose().trim().is_empty());
                    assert_eq!(format!("{token:?}"), Secret::REDACTED);
                }
            }
        }
        Err(e) => {
            assert_eq!(e.origin, SOURCE);
            assert!(!e.message.is_empty(), "{e:?}");
            assert!(e.to_string().starts_with(SOURCE));
            // YAML breaks lines at LF, CR and CRLF alike.
            let lines = text.replace("\r\n", "\n").matches(['\n', '\r']).count() as u64 + 1;
            assert!(e.line <= lines, "line {} of {lines}: {e}", e.line);
            assert!(e.line > 0 || e.column == 0, "{e:?}");
        }
    }
}
