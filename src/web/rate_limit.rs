//! `rate_limit`: exporter-toolkit's request rate limiter, a token bucket for the whole server.
//!
//! As exporter-toolkit builds it (Go's `rate.NewLimiter(rate.Every(interval), burst)`): the
//! bucket holds up to `burst` requests and starts full, and one more request's room comes back
//! every `interval`. A request that finds the bucket empty gets `429 Too Many Requests`, before
//! basic auth is checked and on every path, the health probes included (exporter-toolkit wraps
//! the whole handler); this server adds `Retry-After`, the whole seconds until room comes back.
//! An `interval` of 0 (or less) turns it off, as does a missing section. `burst: 0` with an
//! interval refuses every request, as in Go; the file loads with a warning saying so.
//!
//! The limiter outlives reloads of the web config that leave `rate_limit` as it was.

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use super::raw::{locate, RawRateLimit};
use crate::yaml::{ConfigError, Locator};

/// What is wrong with `rate_limit`; [`locate`] adds the file, line, column and key.
#[derive(Debug, thiserror::Error)]
enum Problem {
    #[error("not a Go duration such as 0, 1s or 500ms")]
    BadDuration,
    #[error("a negative burst refuses every request; write how many requests may come at once")]
    NegativeBurst,
}

/// The rate limit a web config asks for; `None` when off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct RateLimit {
    pub(super) interval: Duration,
    pub(super) burst: u32,
}

/// Reads `rate_limit`: `None` when it is absent or off; a warning when it refuses everything.
pub(super) fn rate_limit(
    raw: Option<&RawRateLimit>,
    at: &Locator,
    warnings: &mut Vec<String>,
) -> Result<Option<RateLimit>, ConfigError> {
    let Some(raw) = raw else {
        return Ok(None);
    };
    let burst = match &raw.burst {
        Some(burst) if burst.value < 0 => {
            return Err(locate(
                at,
                burst,
                "rate_limit.burst",
                Problem::NegativeBurst,
            ))
        }
        Some(burst) => u32::try_from(burst.value).unwrap_or(u32::MAX),
        None => 0,
    };
    let Some(interval) = &raw.interval else {
        return Ok(None);
    };
    let nanoseconds = go_duration(&interval.value.0)
        .ok_or_else(|| locate(at, interval, "rate_limit.interval", Problem::BadDuration))?;
    if nanoseconds <= 0 {
        return Ok(None);
    }
    if burst == 0 {
        warnings.push(
            "rate_limit has an interval but burst 0, so every request is refused with 429 (as \
             exporter-toolkit does); set burst to the requests that may come at once"
                .to_owned(),
        );
    }
    Ok(Some(RateLimit {
        interval: Duration::from_nanos(u64::try_from(nanoseconds).unwrap_or(u64::MAX)),
        burst,
    }))
}

/// A Go duration in nanoseconds; `None` when it is not one. Go's grammar: a whole number of
/// nanoseconds (as YAML reads an integer), `0`, or a signed sequence of decimal numbers with
/// units `ns`, `us`, `µs`, `μs`, `ms`, `s`, `m` or `h` (`1h30m`, `1.5s`), within 292 years.
pub(super) fn go_duration(text: &str) -> Option<i128> {
    if let Ok(nanoseconds) = text.parse::<i64>() {
        return Some(i128::from(nanoseconds));
    }
    let (negative, mut rest) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    if rest.is_empty() {
        return None;
    }
    let mut total: i128 = 0;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (number, after) = rest.split_at(digits);
        let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
        if (whole.is_empty() && fraction.is_empty()) || fraction.contains('.') {
            return None;
        }
        let unit = after
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(after.len());
        let (unit, after) = after.split_at(unit);
        let scale: i128 = match unit {
            "ns" => 1,
            "us" | "µs" | "μs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            _ => return None,
        };
        let whole: i128 = if whole.is_empty() {
            0
        } else {
            whole.get(..whole.len().min(30))?.parse().ok()?
        };
        // The fraction to the nanosecond (Go keeps more digits only to round them away).
        let digits = &fraction[..fraction.len().min(18)];
        let fraction_value: i128 = if digits.is_empty() {
            0
        } else {
            digits.parse().ok()?
        };
        let part =
            whole.checked_mul(scale)? + fraction_value * scale / 10i128.pow(digits.len() as u32);
        total = total.checked_add(part)?;
        if total > i128::from(i64::MAX) {
            return None;
        }
        rest = after;
    }
    Some(if negative { -total } else { total })
}

/// A token bucket for the whole server, as Go's `rate.Limiter` with `Allow`.
#[derive(Debug)]
pub struct RateLimiter {
    limit: RateLimit,
    /// The room left, in requests, and when it was last brought up to date.
    bucket: Mutex<(f64, Instant)>,
}

impl RateLimiter {
    pub(super) fn new(limit: RateLimit) -> RateLimiter {
        RateLimiter {
            limit,
            bucket: Mutex::new((f64::from(limit.burst), Instant::now())),
        }
    }

    pub(super) fn limit(&self) -> RateLimit {
        self.limit
    }

    /// Takes room for one request, or says how long until there is some.
    pub fn try_acquire(&self) -> Result<(), Duration> {
        let mut bucket = self.bucket.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        let interval = self.limit.interval.as_secs_f64();
        let burst = f64::from(self.limit.burst);
        let (room, since) = *bucket;
        let room = (room + now.duration_since(since).as_secs_f64() / interval).min(burst);
        if room >= 1.0 {
            *bucket = (room - 1.0, now);
            return Ok(());
        }
        *bucket = (room, now);
        if self.limit.burst == 0 {
            return Err(self.limit.interval);
        }
        Err(Duration::from_secs_f64((1.0 - room) * interval))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations_are_read_to_the_nanosecond() {
        let cases: &[(&str, Option<i128>)] = &[
            ("0", Some(0)),
            ("0s", Some(0)),
            ("-0s", Some(0)),
            ("0h0m0.0s", Some(0)),
            ("1s", Some(1_000_000_000)),
            ("1000000000", Some(1_000_000_000)),
            ("1", Some(1)),
            ("1.5h", Some(5_400_000_000_000)),
            ("1m30s", Some(90_000_000_000)),
            ("500µs", Some(500_000)),
            ("500us", Some(500_000)),
            (".5s", Some(500_000_000)),
            ("1.s", Some(1_000_000_000)),
            ("3ns", Some(3)),
            ("-2m", Some(-120_000_000_000)),
            ("+2m", Some(120_000_000_000)),
            ("2562047h", Some(9_223_369_200_000_000_000)),
            ("2562048h", None),
            ("", None),
            ("s", None),
            (".s", None),
            ("1 s", None),
            ("1d", None),
            ("1..5s", None),
            ("1second", None),
            ("-", None),
        ];
        for (text, expected) in cases {
            assert_eq!(go_duration(text), *expected, "{text:?}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn the_bucket_starts_full_and_refills_one_request_per_interval() {
        let limiter = RateLimiter::new(RateLimit {
            interval: Duration::from_secs(10),
            burst: 3,
        });
        for _ in 0..3 {
            assert_eq!(limiter.try_acquire(), Ok(()));
        }
        assert_eq!(limiter.try_acquire(), Err(Duration::from_secs(10)));
        tokio::time::advance(Duration::from_secs(4)).await;
        assert_eq!(limiter.try_acquire(), Err(Duration::from_secs(6)));
        tokio::time::advance(Duration::from_secs(6)).await;
        assert_eq!(limiter.try_acquire(), Ok(()));
        // A long pause refills no more than the burst.
        tokio::time::advance(Duration::from_secs(3600)).await;
        for _ in 0..3 {
            assert_eq!(limiter.try_acquire(), Ok(()));
        }
        assert!(limiter.try_acquire().is_err());
    }

    #[tokio::test(start_paused = true)]
    async fn burst_zero_refuses_every_request_as_in_go() {
        let limiter = RateLimiter::new(RateLimit {
            interval: Duration::from_secs(1),
            burst: 0,
        });
        for _ in 0..3 {
            assert_eq!(limiter.try_acquire(), Err(Duration::from_secs(1)));
            tokio::time::advance(Duration::from_secs(5)).await;
        }
    }
}
