//! Time as the verifier sees it: whole seconds since the Unix epoch, passed in by the caller.

use core::fmt;

/// A point in time, in whole seconds since 1970-01-01T00:00:00Z.
///
/// Verification never reads the clock by itself: pass [`UnixTime::now`] in production and a
/// fixed time in tests.
///
/// ```
/// use atlassian_connect_jwt::UnixTime;
///
/// let t = UnixTime::from_secs(1_700_000_000);
/// assert_eq!(t.as_secs(), 1_700_000_000);
/// assert!(UnixTime::now() > t);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UnixTime(u64);

impl UnixTime {
    /// The given number of seconds since the epoch.
    #[must_use]
    pub const fn from_secs(secs: u64) -> Self {
        Self(secs)
    }

    /// Seconds since the epoch.
    #[must_use]
    pub const fn as_secs(self) -> u64 {
        self.0
    }

    /// Latest NumericDate a token may carry: 9999-12-31T23:59:59Z.
    pub const MAX_NUMERIC_DATE: Self = Self(253_402_300_799);

    /// Reads a JWT NumericDate from the JSON text of a claim value, as the verifier does: a
    /// JSON number (not a string), finite, not negative (not even `-0`), no later than
    /// [`MAX_NUMERIC_DATE`](Self::MAX_NUMERIC_DATE); fractions are rounded down. Debuggers
    /// reach it as [`dangerous::numeric_date`](crate::dangerous::numeric_date).
    #[must_use]
    pub(crate) fn from_numeric_date(json: &str) -> Option<Self> {
        let max = Self::MAX_NUMERIC_DATE.0;
        let number: serde_json::Number = serde_json::from_str(json).ok()?;
        let secs = match number.as_u64() {
            Some(secs) => secs,
            None => {
                let secs = number.as_f64()?;
                #[allow(clippy::cast_precision_loss)]
                if !secs.is_finite() || secs.is_sign_negative() || secs > max as f64 {
                    return None;
                }
                // In range and not negative, so the conversion is exact after flooring.
                #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                let whole = secs.floor() as u64;
                whole
            }
        };
        (secs <= max).then_some(Self(secs))
    }

    /// The system clock, now. A clock set before 1970 reads as the epoch itself.
    #[must_use]
    pub fn now() -> Self {
        let since = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        Self(since.as_secs())
    }
}

impl fmt::Display for UnixTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}
