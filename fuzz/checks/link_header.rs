//! The `Link` header parser on arbitrary header values (one value per input line).
//!
//! Asserts: it never panics; the answer for several headers is the first answer of the headers
//! taken one at a time; a `next` target found is trimmed, holds no `>`, occurs in a header that
//! mentions `next`, and, wrapped again as `<target>; rel="next"` (alone, or folded after a `self`
//! link), is found again unchanged.
//!
//! Shared by the fuzz target `fuzz_targets/link_header.rs` and `tests/it/properties.rs`, which replays
//! `corpus/link_header/` with it in the ordinary test suite.
use okta_token_exporter::okta::link::next_link;

/// Checks one input; panics when a property fails.
pub fn check(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let headers: Vec<&str> = text.split('\n').collect();
    let next = next_link(headers.iter().copied());
    let first_alone = headers.iter().find_map(|h| next_link([*h]));
    assert_eq!(next, first_alone, "{headers:?}");
    let Some(target) = next else {
        return;
    };
    assert_eq!(target, target.trim(), "{headers:?}");
    assert!(!target.contains('>'), "{target:?}");
    assert!(
        headers
            .iter()
            .any(|h| h.contains(target.as_str()) && h.to_ascii_lowercase().contains("next")),
        "{target:?} not in {headers:?}"
    );
    let alone = format!("<{target}>; rel=\"next\"");
    assert_eq!(
        next_link([alone.as_str()]),
        Some(target.clone()),
        "{alone:?}"
    );
    let folded =
        format!("<https://acme.okta.com/api/v1/api-tokens>; rel=\"self\", <{target}>; rel=next");
    assert_eq!(
        next_link([folded.as_str()]),
        Some(target.clone()),
        "{folded:?}"
    );
}
