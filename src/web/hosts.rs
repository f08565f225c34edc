//! `--web.allowed-hosts`: the names a request's `Host` (or HTTP/2 `:authority`) may carry. With
//! basic auth off, a page on another site that a browser loads can make its own name resolve to
//! this exporter (DNS rebinding) and read what the exporter serves, as the browser then counts it
//! as that site's; a list of the names the exporter is really reached by closes that door.
//! Ports are ignored; names compare without case and without a trailing dot; IPv6 addresses are
//! written with or without brackets.

/// The names requests may be addressed to; `None` in [`AllowedHosts::any`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowedHosts(Option<Vec<String>>);

impl AllowedHosts {
    /// Every name: the check is off.
    pub fn any() -> AllowedHosts {
        AllowedHosts(None)
    }

    /// Only these names; `*` among them turns the check off.
    pub fn only<S: AsRef<str>>(names: &[S]) -> AllowedHosts {
        if names.iter().any(|n| n.as_ref().trim() == "*") {
            return AllowedHosts::any();
        }
        AllowedHosts(Some(
            names
                .iter()
                .map(|n| normalize(n.as_ref()))
                .filter(|n| !n.is_empty())
                .collect(),
        ))
    }

    /// What the demo allows unless told otherwise: this machine's loopback names.
    pub fn loopback() -> AllowedHosts {
        AllowedHosts::only(&["localhost", "127.0.0.1", "::1"])
    }

    pub fn is_any(&self) -> bool {
        self.0.is_none()
    }

    /// Whether a request addressed to `authority` (`host`, `host:port`, `[v6]:port`) may be
    /// served. A request without one is refused while the check is on.
    pub fn allows(&self, authority: Option<&str>) -> bool {
        let Some(names) = &self.0 else {
            return true;
        };
        authority.is_some_and(|a| names.contains(&normalize(host_of(a))))
    }
}

/// The host of an authority, without its port.
pub fn host_of(authority: &str) -> &str {
    let authority = authority.trim();
    if let Some(rest) = authority.strip_prefix('[') {
        return rest.split_once(']').map_or(rest, |(host, _)| host);
    }
    match authority.rsplit_once(':') {
        // One colon: host and port; more is an IPv6 address without brackets.
        Some((host, port)) if !host.contains(':') && port.bytes().all(|b| b.is_ascii_digit()) => {
            host
        }
        _ => authority,
    }
}

fn normalize(name: &str) -> String {
    let name = name.trim();
    let name = name
        .strip_prefix('[')
        .and_then(|n| n.strip_suffix(']'))
        .unwrap_or(name);
    name.trim_end_matches('.').to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_are_compared_without_port_case_or_trailing_dot() {
        let allowed =
            AllowedHosts::only(&["Exporter.Example.org", "127.0.0.1", "[::1]", "fe80::1"]);
        let cases: &[(Option<&str>, bool)] = &[
            (Some("exporter.example.org"), true),
            (Some("EXPORTER.example.org.:9871"), true),
            (Some("127.0.0.1:9871"), true),
            (Some("[::1]:9871"), true),
            (Some("[::1]"), true),
            (Some("fe80::1"), true),
            (Some("[fe80::1]:80"), true),
            (Some("attacker.example"), false),
            (Some("exporter.example.org.attacker.example"), false),
            (Some("127.0.0.2:9871"), false),
            (Some(""), false),
            (None, false),
        ];
        for (authority, expected) in cases {
            assert_eq!(allowed.allows(*authority), *expected, "{authority:?}");
        }
        assert!(AllowedHosts::any().allows(None));
        assert!(AllowedHosts::only(&["a", "*"]).is_any());
        assert!(AllowedHosts::loopback().allows(Some("localhost:9871")));
        assert!(!AllowedHosts::loopback().allows(Some("192.168.1.20:9871")));
    }
}
