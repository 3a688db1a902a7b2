//! When to send a request again: the product's `429 Too Many Requests`, and `503` with
//! `Retry-After`, bounded in tries and in waiting, with jitter.
//!
//! Atlassian's rate-limiting guide: a 429 may carry `Retry-After` (seconds); reissuing before
//! it has passed fails again "with the same or longer Retry-After period"; some transient 5xx,
//! 503 in particular, carry `Retry-After` too and can be handled the same way.

use std::time::{Duration, SystemTime};

use reqwest::header::{HeaderMap, RETRY_AFTER};

/// Retries after the first attempt, by default: at most four requests in all.
pub const DEFAULT_MAX_RETRIES: u32 = 3;

/// Longest wait before one retry, by default. A `Retry-After` longer than this is not waited
/// for: the call fails at once with the product's `Retry-After` in the error.
pub const DEFAULT_MAX_RETRY_WAIT: Duration = Duration::from_secs(30);

/// First backoff for a 429 without `Retry-After`; it doubles with every retry.
const BACKOFF_BASE: Duration = Duration::from_secs(1);

/// How many times, and how long at most, to wait and try again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct RetryPolicy {
    pub(crate) max_retries: u32,
    pub(crate) max_wait: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_retries: DEFAULT_MAX_RETRIES,
            max_wait: DEFAULT_MAX_RETRY_WAIT,
        }
    }
}

impl RetryPolicy {
    /// The wait before retry number `retry` (1 for the first) of a request answered with
    /// `status` and `retry_after`; `None` when it is not retried.
    ///
    /// - 429 or 503 with `Retry-After: r`, `r` at most the maximum wait: a wait drawn evenly
    ///   from `r` to `1.5 r` (never sooner than asked; callers told the same `r` at the same
    ///   moment spread out), capped at the maximum wait.
    /// - 429 without `Retry-After`: "full jitter" backoff, a wait drawn evenly from zero to
    ///   `1 s × 2^(retry-1)`, capped at the maximum wait.
    /// - anything else, a `Retry-After` beyond the maximum wait, or retries used up: `None`.
    ///
    /// `random` is a uniformly random number; the caller draws it.
    pub(crate) fn delay(
        &self,
        status: u16,
        retry_after: Option<Duration>,
        retry: u32,
        random: u64,
    ) -> Option<Duration> {
        if retry == 0 || retry > self.max_retries {
            return None;
        }
        match (status, retry_after) {
            (429 | 503, Some(after)) if after <= self.max_wait => {
                let spread = (after / 2).min(self.max_wait.saturating_sub(after));
                Some(after + uniform(spread, random))
            }
            (429, None) => {
                let doublings = (retry - 1).min(16);
                let backoff = BACKOFF_BASE
                    .saturating_mul(1 << doublings)
                    .min(self.max_wait);
                Some(uniform(backoff, random))
            }
            _ => None,
        }
    }
}

/// What to do after a response with an error status.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Step {
    /// Wait this long, then send the request again.
    Wait(Duration),
    /// Rate limited, not retried (again): fail with the last `Retry-After`.
    GiveUp(Option<Duration>),
    /// Not a rate-limit answer: fail with the status.
    Fail,
}

impl RetryPolicy {
    /// The step after attempt number `attempt` (1 for the first) was answered with `status`
    /// and `headers`; `retryable` is false for a request that must not be sent twice.
    pub(crate) fn step(
        &self,
        status: u16,
        headers: &HeaderMap,
        attempt: u32,
        retryable: bool,
    ) -> Step {
        let after = retry_after(headers, SystemTime::now());
        if !(status == 429 || (status == 503 && after.is_some())) {
            return Step::Fail;
        }
        let wait = if retryable {
            self.delay(status, after, attempt, jitter_random())
        } else {
            None
        };
        match wait {
            Some(wait) => Step::Wait(wait),
            None => Step::GiveUp(after),
        }
    }
}

/// A duration drawn evenly from zero to `max` (inclusive, to the nanosecond).
fn uniform(max: Duration, random: u64) -> Duration {
    let nanos = u64::try_from(max.as_nanos()).unwrap_or(u64::MAX);
    match nanos.checked_add(1) {
        Some(range) => Duration::from_nanos(random % range),
        None => Duration::from_nanos(random),
    }
}

/// A random number for jitter (zero if the system has none to give: no jitter then).
pub(crate) fn jitter_random() -> u64 {
    use ring::rand::SecureRandom as _;
    let mut bytes = [0u8; 8];
    match ring::rand::SystemRandom::new().fill(&mut bytes) {
        Ok(()) => u64::from_le_bytes(bytes),
        Err(_) => 0,
    }
}

/// The response's `Retry-After`, as a wait from `now`: delay-seconds, or an HTTP-date
/// (a date already past is a wait of zero). `None` when absent, repeated or unreadable.
/// Seconds too many to represent read as [`Duration::MAX`].
pub(crate) fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let mut values = headers.get_all(RETRY_AFTER).iter();
    let value = values.next()?;
    if values.next().is_some() {
        return None;
    }
    let text = value.to_str().ok()?.trim();
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        return Some(text.parse().map_or(Duration::MAX, Duration::from_secs));
    }
    let date = httpdate::parse_http_date(text).ok()?;
    Some(date.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    const SEC: Duration = Duration::from_secs(1);

    fn headers(values: &[&str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for value in values {
            map.append(RETRY_AFTER, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(784_111_777);
        assert_eq!(retry_after(&headers(&["1"]), now), Some(SEC));
        assert_eq!(retry_after(&headers(&[" 120 "]), now), Some(120 * SEC));
        assert_eq!(retry_after(&headers(&["0"]), now), Some(Duration::ZERO));
        assert_eq!(
            retry_after(&headers(&["99999999999999999999999"]), now),
            Some(Duration::MAX)
        );
        // 784111777 is Sun, 06 Nov 1994 08:49:37 GMT (RFC 9110's example).
        assert_eq!(
            retry_after(&headers(&["Sun, 06 Nov 1994 08:49:47 GMT"]), now),
            Some(10 * SEC)
        );
        assert_eq!(
            retry_after(&headers(&["Sunday, 06-Nov-94 08:49:38 GMT"]), now),
            Some(SEC)
        );
        assert_eq!(
            retry_after(&headers(&["Sun, 06 Nov 1994 08:00:00 GMT"]), now),
            Some(Duration::ZERO)
        );
        for unreadable in ["", "-1", "1.5", "soon", "0x10", "+3"] {
            assert_eq!(
                retry_after(&headers(&[unreadable]), now),
                None,
                "{unreadable:?}"
            );
        }
        assert_eq!(retry_after(&headers(&[]), now), None);
        assert_eq!(retry_after(&headers(&["1", "2"]), now), None);
    }

    #[test]
    fn waits_honour_retry_after_with_jitter_above_it() {
        let policy = RetryPolicy::default();
        assert_eq!(policy.delay(429, Some(SEC), 1, 0), Some(SEC));
        // Spread 0.5 s: 500_000_001 values of nanoseconds; u64::MAX lands on 316063542.
        assert_eq!(
            policy.delay(429, Some(SEC), 1, u64::MAX),
            Some(SEC + Duration::from_nanos(316063542))
        );
        // Spread 1 s: 10^9 draws the top of the range, 10^9 + 1 wraps to the bottom.
        assert_eq!(
            policy.delay(503, Some(2 * SEC), 2, 1_000_000_000),
            Some(3 * SEC)
        );
        assert_eq!(
            policy.delay(503, Some(2 * SEC), 2, 1_000_000_001),
            Some(2 * SEC)
        );
        // Jitter never goes past the cap, and the wait never goes under Retry-After.
        assert_eq!(
            policy.delay(429, Some(30 * SEC), 3, u64::MAX),
            Some(30 * SEC)
        );
        for random in [0, 1, 7, 1 << 40, u64::MAX / 3, u64::MAX] {
            let wait = policy.delay(429, Some(20 * SEC), 1, random).unwrap();
            assert!(wait >= 20 * SEC && wait <= 30 * SEC, "{wait:?}");
        }
    }

    #[test]
    fn what_is_not_retried() {
        let policy = RetryPolicy::default();
        // Longer than the client waits: fail now, with Retry-After in the error.
        assert_eq!(policy.delay(429, Some(31 * SEC), 1, 0), None);
        assert_eq!(policy.delay(429, Some(Duration::MAX), 1, 0), None);
        // 503 only with Retry-After; other statuses never.
        assert_eq!(policy.delay(503, None, 1, 0), None);
        for status in [400, 401, 404, 500, 502, 504] {
            assert_eq!(policy.delay(status, Some(SEC), 1, 0), None, "{status}");
        }
        // Retries are bounded.
        assert_eq!(policy.delay(429, Some(SEC), 3, 0), Some(SEC));
        assert_eq!(policy.delay(429, Some(SEC), 4, 0), None);
        assert_eq!(policy.delay(429, Some(SEC), 0, 0), None);
        let none = RetryPolicy {
            max_retries: 0,
            ..policy
        };
        assert_eq!(none.delay(429, Some(SEC), 1, 0), None);
    }

    #[test]
    fn a_429_without_retry_after_backs_off_with_full_jitter() {
        let policy = RetryPolicy::default();
        assert_eq!(policy.delay(429, None, 1, 0), Some(Duration::ZERO));
        assert_eq!(policy.delay(429, None, 1, 1_000_000_000), Some(SEC));
        assert_eq!(policy.delay(429, None, 3, 4_000_000_000), Some(4 * SEC));
        assert_eq!(
            policy.delay(429, None, 3, 4_000_000_001),
            Some(Duration::ZERO)
        );
        let patient = RetryPolicy {
            max_retries: 40,
            max_wait: 30 * SEC,
        };
        assert_eq!(patient.delay(429, None, 40, 30_000_000_000), Some(30 * SEC));
    }

    #[test]
    fn steps() {
        let policy = RetryPolicy::default();
        let after = headers(&["2"]);
        let none = headers(&[]);
        assert!(matches!(policy.step(429, &after, 1, true), Step::Wait(w) if w >= 2 * SEC));
        assert!(matches!(policy.step(503, &after, 1, true), Step::Wait(w) if w >= 2 * SEC));
        assert_eq!(
            policy.step(429, &after, 1, false),
            Step::GiveUp(Some(2 * SEC))
        );
        assert_eq!(
            policy.step(429, &after, 4, true),
            Step::GiveUp(Some(2 * SEC))
        );
        assert_eq!(policy.step(429, &none, 4, true), Step::GiveUp(None));
        assert_eq!(policy.step(503, &none, 1, true), Step::Fail);
        assert_eq!(policy.step(500, &after, 1, true), Step::Fail);
        assert_eq!(policy.step(404, &none, 1, true), Step::Fail);
    }

    #[test]
    fn uniform_covers_its_range() {
        assert_eq!(uniform(Duration::ZERO, 12345), Duration::ZERO);
        assert_eq!(
            uniform(Duration::from_nanos(9), 19),
            Duration::from_nanos(9)
        );
        assert_eq!(uniform(Duration::MAX, 5), Duration::from_nanos(5));
        assert_ne!(jitter_random(), jitter_random());
    }
}
