//! What can go wrong when talking to Okta, phrased so that the user knows what to fix.
//!
//! Every failure carries a [`PollErrorReason`], the `reason` label of `okta_poll_errors_total`.
//! Okta's error bodies (`errorCode`, `errorSummary`) are decoded where present; we branch on the
//! `errorCode` and status only, never on the human-readable summary.

use serde::Deserialize;
use std::fmt;

/// The `reason` label of `okta_poll_errors_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PollErrorReason {
    Unauthorized,
    Forbidden,
    RateLimited,
    ServerError,
    ClientError,
    Timeout,
    Connect,
    Decode,
    Pagination,
}

impl PollErrorReason {
    pub const ALL: [PollErrorReason; 9] = [
        Self::Unauthorized,
        Self::Forbidden,
        Self::RateLimited,
        Self::ServerError,
        Self::ClientError,
        Self::Timeout,
        Self::Connect,
        Self::Decode,
        Self::Pagination,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unauthorized => "unauthorized",
            Self::Forbidden => "forbidden",
            Self::RateLimited => "rate_limited",
            Self::ServerError => "server_error",
            Self::ClientError => "client_error",
            Self::Timeout => "timeout",
            Self::Connect => "connect",
            Self::Decode => "decode",
            Self::Pagination => "pagination",
        }
    }
}

/// Okta's error body: `{"errorCode": "E0000011", "errorSummary": "Invalid token provided", …}`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OktaErrorBody {
    #[serde(default)]
    pub error_code: String,
    #[serde(default)]
    pub error_summary: String,
    #[serde(default)]
    pub error_id: String,
}

impl OktaErrorBody {
    /// Decodes an error body, if it is one; HTML pages and other bodies give `None`.
    pub fn parse(body: &[u8]) -> Option<OktaErrorBody> {
        serde_json::from_slice::<OktaErrorBody>(body)
            .ok()
            .filter(|e| !e.error_code.is_empty())
    }
}

impl fmt::Display for OktaErrorBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.error_code, self.error_summary)?;
        if !self.error_id.is_empty() {
            write!(f, " (errorId {})", self.error_id)?;
        }
        Ok(())
    }
}

/// Why a poll of an org failed. The previous token set stays published whatever this is.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PollError {
    /// 401: the credential is not accepted.
    #[error("Okta rejected the credential ({detail}): the API token is invalid, expired or revoked, or its owner is deactivated or suspended; create a new token and update the token file")]
    Unauthorized { detail: String },
    /// No access token from the OAuth 2.0 token endpoint, or the API refused a fresh one.
    #[error("OAuth 2.0: {detail}")]
    OAuth { detail: String },
    /// 403: the credential is valid but lacks a permission.
    #[error(
        "Okta refused GET {endpoint} ({detail}): the credential lacks {}",
        permission_for(endpoint)
    )]
    Forbidden {
        endpoint: &'static str,
        detail: String,
    },
    /// 429, or a rate-limit reset too far away to wait for within this poll.
    #[error("rate limited by Okta ({detail})")]
    RateLimited { detail: String },
    /// 5xx after the retries.
    #[error("Okta answered with a server error ({detail})")]
    ServerError { status: u16, detail: String },
    /// Another unexpected status (404, 400, a redirect).
    #[error("unexpected answer from Okta ({detail})")]
    ClientError { status: u16, detail: String },
    #[error("timed out talking to Okta ({detail})")]
    Timeout { detail: String },
    #[error("cannot reach Okta ({detail})")]
    Connect { detail: String },
    /// A 2xx answer we cannot read: not JSON, truncated, too large.
    #[error("cannot read Okta's answer ({detail})")]
    Decode { detail: String },
    /// A `next` link we refuse to follow: another host, a loop, too many pages.
    #[error("stopped paginating ({detail})")]
    Pagination { detail: String },
}

impl PollError {
    pub fn reason(&self) -> PollErrorReason {
        match self {
            Self::Unauthorized { .. } | Self::OAuth { .. } => PollErrorReason::Unauthorized,
            Self::Forbidden { .. } => PollErrorReason::Forbidden,
            Self::RateLimited { .. } => PollErrorReason::RateLimited,
            Self::ServerError { .. } => PollErrorReason::ServerError,
            Self::ClientError { .. } => PollErrorReason::ClientError,
            Self::Timeout { .. } => PollErrorReason::Timeout,
            Self::Connect { .. } => PollErrorReason::Connect,
            Self::Decode { .. } => PollErrorReason::Decode,
            Self::Pagination { .. } => PollErrorReason::Pagination,
        }
    }

    /// Whether trying the same request again may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Self::ServerError { .. } | Self::Timeout { .. } | Self::Connect { .. }
        )
    }

    /// Turns a non-2xx answer into an error, using Okta's error body when there is one.
    pub fn from_status(endpoint: &'static str, status: u16, body: &[u8]) -> PollError {
        let detail = match OktaErrorBody::parse(body) {
            Some(okta) => format!("HTTP {status}, Okta error {okta}"),
            None if looks_like_html(body) => format!("HTTP {status} with an HTML page instead of Okta's JSON error (a maintenance page or a proxy?)"),
            None => format!("HTTP {status} without an Okta error body"),
        };
        match status {
            401 => PollError::Unauthorized { detail },
            403 => PollError::Forbidden { endpoint, detail },
            429 => PollError::RateLimited { detail },
            500..=599 => PollError::ServerError { status, detail },
            _ => PollError::ClientError { status, detail },
        }
    }
}

fn looks_like_html(body: &[u8]) -> bool {
    let start = String::from_utf8_lossy(&body[..body.len().min(256)]).to_ascii_lowercase();
    start.trim_start().starts_with("<!doctype html") || start.contains("<html")
}

/// The permission each endpoint needs, for the 403 message.
fn permission_for(endpoint: &str) -> &'static str {
    match endpoint {
        "/api/v1/users/{id}" => "read access to users (OAuth scope okta.users.read)",
        "/api/v1/logs" => "read access to the System Log (OAuth scope okta.logs.read)",
        // The keep-alive call, made with a listed token's own secret: any valid token may read
        // its own user, so a 403 is about where the call came from, never about a scope.
        "/api/v1/users/me" => "nothing a scope grants: any token may read its own user, so Okta refused where the call came from (a token restricted to network zones must be used from inside them)",
        _ => "read access to API tokens (OAuth scope okta.apiTokens.read; for an SSWS token, an admin role of its owner that can view API tokens, such as Read-Only Administrator)",
    }
}

/// Classifies a failure without an HTTP answer. reqwest's message names the URL, not headers.
pub(crate) fn transport_error(error: &reqwest::Error) -> PollError {
    let mut detail = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        detail.push_str(": ");
        detail.push_str(&cause.to_string());
        source = cause.source();
    }
    if error.is_timeout() {
        PollError::Timeout { detail }
    } else if error.is_builder() {
        PollError::ClientError { status: 0, detail }
    } else {
        PollError::Connect { detail }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKENS: &str = "/api/v1/api-tokens";

    #[test]
    fn okta_errors_become_messages_that_say_what_to_fix() {
        let cases: &[(u16, &str, PollErrorReason, &[&str])] = &[
            (
                401,
                r#"{"errorCode":"E0000011","errorSummary":"Invalid token provided","errorId":"oae1"}"#,
                PollErrorReason::Unauthorized,
                &[
                    "E0000011",
                    "Invalid token provided",
                    "oae1",
                    "expired or revoked",
                    "deactivated",
                ],
            ),
            (
                403,
                r#"{"errorCode":"E0000006","errorSummary":"You do not have permission to perform the requested action"}"#,
                PollErrorReason::Forbidden,
                &["E0000006", "GET /api/v1/api-tokens", "okta.apiTokens.read"],
            ),
            (
                429,
                r#"{"errorCode":"E0000047","errorSummary":"API call exceeded rate limit due to too many requests."}"#,
                PollErrorReason::RateLimited,
                &["E0000047"],
            ),
            (
                503,
                "<!DOCTYPE html><html><body>Down for maintenance</body></html>",
                PollErrorReason::ServerError,
                &["HTTP 503", "HTML page"],
            ),
            (
                500,
                "",
                PollErrorReason::ServerError,
                &["HTTP 500 without an Okta error body"],
            ),
            (
                404,
                r#"{"errorCode":"E0000007","errorSummary":"Not found: Resource not found"}"#,
                PollErrorReason::ClientError,
                &["E0000007"],
            ),
        ];
        for (status, body, reason, needles) in cases {
            let err = PollError::from_status(TOKENS, *status, body.as_bytes());
            assert_eq!(err.reason(), *reason, "{status}");
            let text = err.to_string();
            for needle in *needles {
                assert!(text.contains(needle), "{status}: {text:?} lacks {needle:?}");
            }
        }
    }

    #[test]
    fn each_endpoint_names_what_its_403_lacks() {
        let body = br#"{"errorCode":"E0000006","errorSummary":"You do not have permission to perform the requested action"}"#;
        let cases = [
            (TOKENS, "okta.apiTokens.read"),
            ("/api/v1/users/{id}", "okta.users.read"),
            ("/api/v1/logs", "okta.logs.read"),
            ("/api/v1/users/me", "network zones"),
        ];
        for (endpoint, needle) in cases {
            let text = PollError::from_status(endpoint, 403, body).to_string();
            assert!(
                text.contains(needle),
                "{endpoint}: {text:?} lacks {needle:?}"
            );
            if endpoint == "/api/v1/users/me" {
                assert!(!text.contains("okta.apiTokens.read"), "{text}");
            }
        }
    }

    #[test]
    fn only_server_errors_timeouts_and_connection_failures_are_retried() {
        let transient: Vec<_> = [401, 403, 404, 429, 500, 502, 503]
            .into_iter()
            .filter(|s| PollError::from_status(TOKENS, *s, b"").is_transient())
            .collect();
        assert_eq!(transient, [500, 502, 503]);
        assert!(PollError::Timeout {
            detail: String::new()
        }
        .is_transient());
        assert!(PollError::Connect {
            detail: String::new()
        }
        .is_transient());
        assert!(!PollError::Decode {
            detail: String::new()
        }
        .is_transient());
    }
}
