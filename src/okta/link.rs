//! The `Link` response header (RFC 8288), which Okta uses for cursor pagination.
//!
//! Okta sends one header per relation (`<…>; rel="self"` and `<…>; rel="next"`), but a proxy may
//! fold them into one comma-separated header; both forms are read. We only ever need `next`.

/// The target of the first `rel="next"` link among `headers`, exactly as given.
pub fn next_link<'a>(headers: impl IntoIterator<Item = &'a str>) -> Option<String> {
    headers
        .into_iter()
        .flat_map(split_links)
        .find(|(_, params)| has_relation(params, "next"))
        .map(|(target, _)| target.to_owned())
}

/// Splits one header value into `(target, parameters)` pairs. Commas inside `<…>` or quotes do not
/// split. A malformed entry (no `<…>`) is skipped, not fatal: the other links stay usable.
fn split_links(value: &str) -> impl Iterator<Item = (&str, &str)> {
    let mut entries = Vec::new();
    let (mut start, mut in_target, mut in_quotes) = (0, false, false);
    for (i, c) in value.char_indices() {
        match c {
            '<' if !in_quotes => in_target = true,
            '>' if !in_quotes => in_target = false,
            '"' if !in_target => in_quotes = !in_quotes,
            ',' if !in_target && !in_quotes => {
                entries.push(&value[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    entries.push(&value[start..]);
    entries.into_iter().filter_map(|entry| {
        let entry = entry.trim();
        let rest = entry.strip_prefix('<')?;
        let (target, params) = rest.split_once('>')?;
        Some((target.trim(), params))
    })
}

/// Whether the `;`-separated parameters carry `rel` with `relation` among its space-separated
/// values (`rel="next"`, `rel=next`, `rel="prev next"`), case-insensitively. A `;` inside quotes
/// (`title="a; rel=next"`) does not separate parameters.
fn has_relation(params: &str, relation: &str) -> bool {
    let mut in_quotes = false;
    let separator = move |c: char| {
        in_quotes ^= c == '"';
        c == ';' && !in_quotes
    };
    params.split(separator).any(|param| {
        let Some((name, value)) = param.split_once('=') else {
            return false;
        };
        name.trim().eq_ignore_ascii_case("rel")
            && value
                .trim()
                .trim_matches('"')
                .split_ascii_whitespace()
                .any(|r| r.eq_ignore_ascii_case(relation))
    })
}

#[cfg(test)]
mod tests {
    use super::next_link;

    const NEXT: &str = "https://acme.okta.com/api/v1/api-tokens?after=00T2&limit=200";

    /// A comma is legal in a URI: inside `<…>` it never splits a folded header.
    #[test]
    fn a_comma_in_a_target_stays_in_it() {
        let next = "https://acme.okta.com/api/v1/api-tokens?after=00T2,00T3&limit=200";
        let header =
            format!("<https://acme.okta.com/self?a=1,2>; rel=\"self\", <{next}>; rel=\"next\"");
        assert_eq!(next_link([header.as_str()]).as_deref(), Some(next));
    }

    #[test]
    fn finds_next_in_every_form_okta_or_a_proxy_may_send() {
        let cases: &[(&str, &[&str])] = &[
            ("one header per relation", &[
                "<https://acme.okta.com/api/v1/api-tokens?limit=200>; rel=\"self\"",
                "<https://acme.okta.com/api/v1/api-tokens?after=00T2&limit=200>; rel=\"next\"",
            ]),
            ("relations folded into one header", &[
                "<https://acme.okta.com/api/v1/api-tokens?limit=200>; rel=\"self\", <https://acme.okta.com/api/v1/api-tokens?after=00T2&limit=200>; rel=\"next\"",
            ]),
            ("next first", &[
                "<https://acme.okta.com/api/v1/api-tokens?after=00T2&limit=200>; rel=\"next\", <x>; rel=\"self\"",
            ]),
            ("unquoted, upper case, extra spaces", &[
                "  <https://acme.okta.com/api/v1/api-tokens?after=00T2&limit=200> ;  REL = next ",
            ]),
            ("several relations in one rel", &[
                "<https://acme.okta.com/api/v1/api-tokens?after=00T2&limit=200>; rel=\"prev next\"",
            ]),
            ("other parameters around rel", &[
                "<https://acme.okta.com/api/v1/api-tokens?after=00T2&limit=200>; title=\"a, b; c\"; rel=\"next\"",
            ]),
            ("a malformed entry beside a good one", &[
                "garbage; rel=\"next\", <https://acme.okta.com/api/v1/api-tokens?after=00T2&limit=200>; rel=\"next\"",
            ]),
            ("a quoted angle bracket in a folded header", &[
                "<https://acme.okta.com/self>; title=\"a <b\"; rel=\"self\", <https://acme.okta.com/api/v1/api-tokens?after=00T2&limit=200>; rel=\"next\"",
            ]),
        ];
        for (name, headers) in cases {
            assert_eq!(
                next_link(headers.iter().copied()).as_deref(),
                Some(NEXT),
                "{name}"
            );
        }
    }

    #[test]
    fn a_quoted_parameter_holding_rel_next_is_no_relation() {
        // Found by the property test `the_next_link_is_found_among_any_relations_in_any_order`.
        let header = "<https://acme.okta.com/self>; title=\"a, b; rel=next\"; rel=\"self\", <https://acme.okta.com/api/v1/api-tokens?after=00T2&limit=200>; rel=\"next\"";
        assert_eq!(next_link([header]).as_deref(), Some(NEXT));
        assert_eq!(next_link(["<a>; title=\"x; rel=next\"; rel=self"]), None);
    }

    #[test]
    fn no_next_when_none_is_given() {
        let cases: &[(&str, &[&str])] = &[
            ("no header", &[]),
            (
                "only self",
                &["<https://acme.okta.com/api/v1/api-tokens>; rel=\"self\""],
            ),
            ("other relations", &["<a>; rel=\"prev\", <b>; rel=\"last\""]),
            (
                "relation name that merely contains next",
                &["<a>; rel=\"nextpage\""],
            ),
            ("no target", &["rel=\"next\""]),
            ("empty", &[""]),
        ];
        for (name, headers) in cases {
            assert_eq!(next_link(headers.iter().copied()), None, "{name}");
        }
    }
}
