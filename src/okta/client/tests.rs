//! The Okta client's unit tests: rate-limit windows and resets, backoff, redaction.

use super::*;

#[test]
fn concurrent_answers_combine_to_the_latest_window_and_its_lowest_remaining() {
    let limit = |remaining, reset| RateLimit {
        limit: 600,
        remaining,
        reset,
    };
    // (held, arriving, combined)
    let cases = [
        (limit(16, 100), limit(15, 100), limit(15, 100)),
        (limit(15, 100), limit(16, 100), limit(15, 100)),
        (limit(3, 100), limit(599, 160), limit(599, 160)),
        (limit(599, 160), limit(3, 100), limit(599, 160)),
        (limit(7, 100), limit(7, 100), limit(7, 100)),
    ];
    for (held, arriving, combined) in cases {
        assert_eq!(held.combine(arriving), combined, "{held:?} + {arriving:?}");
    }
    let mut stats = PollStats::default();
    for remaining in [20, 18, 19, 17, 18] {
        stats.record_rate_limit("/api/v1/users", limit(remaining, 100));
    }
    assert_eq!(stats.rate_limits, [("/api/v1/users", limit(17, 100))]);
}

fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
    let mut headers = HeaderMap::new();
    for (name, value) in pairs {
        headers.insert(*name, HeaderValue::from_str(value).unwrap());
    }
    headers
}

#[test]
fn the_reset_is_read_against_the_answers_date_not_the_local_clock() {
    // Okta's clock: 2026-12-05T12:00:00Z = 1796472000.
    let okta_now = 1_796_472_000u64;
    let date = "Sat, 05 Dec 2026 12:00:00 GMT";
    let reset = (okta_now + 30).to_string();
    let local = |skew: i64| epoch_seconds(okta_now.checked_add_signed(skew).unwrap());
    // (local clock's skew from Okta's, Date header, expected wait from the local now)
    let cases: [(i64, Option<&str>, u64); 5] = [
        (0, Some(date), 30),
        (3_600, Some(date), 30),  // local clock an hour ahead: still 30 s
        (-3_600, Some(date), 30), // an hour behind: still 30 s, not 3,630
        (0, None, 30),
        (-3_600, None, 3_630), // without Date, the reset is taken as it is
    ];
    for (skew, date, wait) in cases {
        let mut pairs = vec![("x-rate-limit-reset", reset.as_str())];
        if let Some(date) = date {
            pairs.push(("date", date));
        }
        let now = local(skew);
        let at = reset_at(&headers(&pairs), now).unwrap();
        assert_eq!(
            at.duration_since(now).unwrap(),
            Duration::from_secs(wait),
            "skew {skew}, date {date:?}"
        );
    }
    let past = headers(&[("x-rate-limit-reset", "100"), ("date", date)]);
    assert_eq!(
        reset_at(&past, local(0)),
        Some(local(0)),
        "a past reset: no wait"
    );
}

#[test]
fn a_concurrency_429s_zero_limit_is_no_reading() {
    let now = epoch_seconds(1_796_558_400);
    let answer = |limit: &str, remaining: &str| {
        RateLimit::from_headers(
            &headers(&[
                ("x-rate-limit-limit", limit),
                ("x-rate-limit-remaining", remaining),
                ("x-rate-limit-reset", "1796558460"),
            ]),
            now,
        )
    };
    assert_eq!(
        answer("0", "0"),
        None,
        "too many at once, not no calls at all"
    );
    assert_eq!(
        answer("600", "0"),
        Some(RateLimit {
            limit: 600,
            remaining: 0,
            reset: 1_796_558_460
        })
    );
    let mut stats = PollStats::default();
    let ok = RateLimit {
        limit: 600,
        remaining: 500,
        reset: 1_796_558_460,
    };
    stats.record_rate_limit(API_TOKENS, ok);
    assert!(answer("0", "0").is_none());
    assert_eq!(
        stats.rate_limits,
        [(API_TOKENS, ok)],
        "the last real figures stay"
    );
}

fn client(max_wait: Duration) -> OktaClient {
    let settings = HttpSettings {
        max_rate_limit_wait: max_wait,
        ..HttpSettings::default()
    };
    OktaClient::new(
        "https://acme.okta.com".parse().unwrap(),
        Secret::new("t"),
        settings,
    )
    .unwrap()
}

#[test]
fn backoff_doubles_from_the_base_and_stops_growing() {
    let base = Duration::from_millis(500);
    let cases = [
        (1, 500),
        (2, 1_000),
        (3, 2_000),
        (4, 4_000),
        (17, 500 << 16),
        (40, 500 << 16),
    ];
    for (failures, ms) in cases {
        assert_eq!(
            backoff_ceiling(base, failures),
            Duration::from_millis(ms),
            "retry {failures}"
        );
    }
}

/// With tokio's clock paused, a wait is measured in virtual time: no test sleeps.
#[tokio::test(start_paused = true)]
async fn nothing_is_sent_before_the_rate_limit_reset() {
    let client = client(Duration::from_secs(120));
    client.respect_reset(Some(SystemTime::now() + Duration::from_secs(45)));
    let started = tokio::time::Instant::now();
    client.wait_for_rate_limit_reset().await.unwrap();
    let waited = started.elapsed();
    assert!(waited >= Duration::from_secs(44), "waited only {waited:?}");
    assert!(
        waited <= Duration::from_secs(46) + Duration::from_millis(1000),
        "waited {waited:?}: reset plus at most 1 s of jitter"
    );
}

#[tokio::test(start_paused = true)]
async fn a_later_reset_is_never_shortened_by_an_earlier_one() {
    let client = client(Duration::from_secs(120));
    client.respect_reset(Some(SystemTime::now() + Duration::from_secs(60)));
    client.respect_reset(Some(SystemTime::now() + Duration::from_secs(5)));
    let started = tokio::time::Instant::now();
    client.wait_for_rate_limit_reset().await.unwrap();
    assert!(started.elapsed() >= Duration::from_secs(59));
}

#[tokio::test(start_paused = true)]
async fn a_reset_further_than_a_poll_waits_fails_the_poll_without_waiting() {
    let client = client(Duration::from_secs(120));
    client.respect_reset(Some(SystemTime::now() + Duration::from_secs(600)));
    let started = tokio::time::Instant::now();
    let error = client.wait_for_rate_limit_reset().await.unwrap_err();
    assert_eq!(error.reason(), crate::okta::PollErrorReason::RateLimited);
    assert!(error.to_string().contains("resets in"), "{error}");
    assert_eq!(started.elapsed(), Duration::ZERO);
}

#[tokio::test(start_paused = true)]
async fn a_429_without_a_reset_header_waits_one_minute() {
    let client = client(Duration::from_secs(120));
    client.respect_reset(None);
    let started = tokio::time::Instant::now();
    client.wait_for_rate_limit_reset().await.unwrap();
    assert!(started.elapsed() >= Duration::from_secs(59));
}

/// A reset header no clock can hold neither panics nor stops polling for good.
#[tokio::test(start_paused = true)]
async fn an_absurd_reset_is_believed_for_an_hour_at_most() {
    assert!(epoch_seconds(u64::MAX) > SystemTime::now());
    let client = client(Duration::from_secs(7200));
    client.respect_reset(Some(epoch_seconds(u64::MAX)));
    let started = tokio::time::Instant::now();
    client.wait_for_rate_limit_reset().await.unwrap();
    let waited = started.elapsed();
    assert!(
        waited >= LONGEST_BELIEVED_RESET - Duration::from_secs(1)
            && waited <= LONGEST_BELIEVED_RESET + Duration::from_secs(1),
        "believed for an hour, neither less nor more: {waited:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_past_reset_costs_no_wait() {
    let client = client(Duration::from_secs(120));
    client.respect_reset(Some(SystemTime::now() - Duration::from_secs(5)));
    let started = tokio::time::Instant::now();
    client.wait_for_rate_limit_reset().await.unwrap();
    assert_eq!(started.elapsed(), Duration::ZERO);
}

#[test]
fn a_next_link_with_a_user_and_password_is_followed_without_them() {
    let client = client(Duration::from_secs(1));
    let base = "https://acme.okta.com";
    for link in [
        "https://someone:hunter2@acme.okta.com/api/v1/api-tokens?after=00T2",
        "https://someone@acme.okta.com/api/v1/api-tokens?after=00T2",
        "https://:hunter2@acme.okta.com/api/v1/api-tokens?after=00T2",
    ] {
        let url = client.same_origin(link).unwrap();
        assert_eq!(
            url.as_str(),
            format!("{base}/api/v1/api-tokens?after=00T2"),
            "{link}"
        );
        assert_eq!((url.username(), url.password()), ("", None));
    }
    // Another origin is still refused, user or not.
    assert!(client
        .same_origin("https://acme.okta.com@evil.example/api/v1/api-tokens")
        .is_err());
}
