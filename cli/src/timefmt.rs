//! Times for people: NumericDates as UTC date-times and as a distance from now, computed
//! here (civil-from-days) rather than with a date library.

use std::fmt::Write as _;

use atlassian_connect_jwt::{Error, UnixTime};

/// `2023-11-14T22:13:20Z` for a Unix time in seconds (any `u64`: years past 9999 get more
/// digits).
pub(crate) fn utc(time: UnixTime) -> String {
    let secs = time.as_secs();
    let days = secs / 86_400;
    let rest = secs % 86_400;
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

/// Year, month (1-12) and day (1-31) of the day `days` after 1970-01-01 in the proleptic
/// Gregorian calendar (Howard Hinnant's `civil_from_days`, for non-negative days only).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    // Shift the epoch to 0000-03-01, so that leap days end each 400-year era.
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097; // day of era, 0..=146096
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // 0..=399
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // day of year from March 1st, 0..=365
    let mp = (5 * doy + 2) / 153; // month from March, 0..=11
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

/// A duration in seconds, short and exact to the second: `45 s`, `3 min`, `2 min 5 s`,
/// `1 h 30 min`, `2 d 4 h`.
pub(crate) fn span(secs: u64) -> String {
    let mut out = String::new();
    let (d, h, m, s) = (
        secs / 86_400,
        secs % 86_400 / 3600,
        secs % 3600 / 60,
        secs % 60,
    );
    // Writing into a String cannot fail.
    let _ = if d > 0 {
        write!(out, "{d} d").and_then(|()| nonzero(&mut out, h, "h"))
    } else if h > 0 {
        write!(out, "{h} h").and_then(|()| nonzero(&mut out, m, "min"))
    } else if m > 0 {
        write!(out, "{m} min").and_then(|()| nonzero(&mut out, s, "s"))
    } else {
        write!(out, "{s} s")
    };
    out
}

fn nonzero(out: &mut String, value: u64, unit: &str) -> std::fmt::Result {
    if value == 0 {
        Ok(())
    } else {
        write!(out, " {value} {unit}")
    }
}

/// `3 min ago`, `in 2 min` or `now`.
pub(crate) fn relative(time: UnixTime, now: UnixTime) -> String {
    let (t, n) = (time.as_secs(), now.as_secs());
    match t.cmp(&n) {
        std::cmp::Ordering::Less => format!("{} ago", span(n - t)),
        std::cmp::Ordering::Greater => format!("in {}", span(t - n)),
        std::cmp::Ordering::Equal => "now".to_owned(),
    }
}

/// An expiry seen from now: `expired 3 min ago`, `expires in 2 min`, `expires now`.
pub(crate) fn expiry(exp: UnixTime, now: UnixTime) -> String {
    let (e, n) = (exp.as_secs(), now.as_secs());
    match e.cmp(&n) {
        std::cmp::Ordering::Less => format!("expired {} ago", span(n - e)),
        std::cmp::Ordering::Greater => format!("expires in {}", span(e - n)),
        std::cmp::Ordering::Equal => "expires now".to_owned(),
    }
}

/// `2023-11-14T22:16:20Z (expires in 2 min)`.
pub(crate) fn utc_and_expiry(exp: UnixTime, now: UnixTime) -> String {
    format!("{} ({})", utc(exp), expiry(exp, now))
}

/// The detail line under a failed time check (`exp`, `nbf` or `iat` beyond the leeway), as
/// `verify` and `verify-install` print it; nothing for other errors.
pub(crate) fn explain_failure(out: &mut String, err: &Error, now: UnixTime, leeway: u64) {
    let at = |secs: u64| {
        let time = UnixTime::from_secs(secs);
        format!("{} ({})", utc(time), relative(time, now))
    };
    // Writing into a String cannot fail.
    let _ = match err {
        Error::Expired { exp, .. } => writeln!(
            out,
            "  exp: {}, beyond the {leeway} s leeway",
            utc_and_expiry(UnixTime::from_secs(*exp), now)
        ),
        Error::NotYetValid { nbf, .. } => {
            writeln!(out, "  nbf: {}, beyond the {leeway} s leeway", at(*nbf))
        }
        Error::IssuedInFuture { iat, .. } => writeln!(
            out,
            "  iat: {}, beyond the {leeway} s leeway: check the clocks",
            at(*iat)
        ),
        _ => Ok(()),
    };
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn at(secs: u64) -> String {
        utc(UnixTime::from_secs(secs))
    }

    #[test]
    fn utc_dates() {
        assert_eq!(at(0), "1970-01-01T00:00:00Z");
        assert_eq!(at(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(at(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(at(951_868_800), "2000-03-01T00:00:00Z");
        assert_eq!(at(4_107_456_000), "2100-02-28T00:00:00Z");
        assert_eq!(at(4_107_542_400), "2100-03-01T00:00:00Z");
        assert_eq!(at(1_709_164_799), "2024-02-28T23:59:59Z");
        assert_eq!(at(1_709_251_199), "2024-02-29T23:59:59Z");
        assert_eq!(at(253_402_300_799), "9999-12-31T23:59:59Z");
        assert_eq!(at(253_402_300_800), "10000-01-01T00:00:00Z");
        // No overflow at the very end.
        assert!(at(u64::MAX).ends_with("Z"));
    }

    #[test]
    fn every_day_is_consecutive() {
        // Walk 1970..2400 one day at a time: dates must advance by exactly one day.
        let mut previous = civil_from_days(0);
        assert_eq!(previous, (1970, 1, 1));
        for days in 1..157_000 {
            let (y, m, d) = civil_from_days(days);
            let (py, pm, pd) = previous;
            let next_day = y == py && m == pm && d == pd + 1;
            let next_month = y == py && m == pm + 1 && d == 1;
            let next_year = y == py + 1 && m == 1 && d == 1 && pm == 12 && pd == 31;
            assert!(
                next_day || next_month || next_year,
                "{previous:?} -> {:?}",
                (y, m, d)
            );
            if next_month {
                let leap = (py % 4 == 0 && py % 100 != 0) || py % 400 == 0;
                let len = [
                    31,
                    if leap { 29 } else { 28 },
                    31,
                    30,
                    31,
                    30,
                    31,
                    31,
                    30,
                    31,
                    30,
                    31,
                ];
                assert_eq!(pd, len[usize::try_from(pm - 1).unwrap()], "{previous:?}");
            }
            previous = (y, m, d);
        }
    }

    #[test]
    fn spans_and_relative_times() {
        assert_eq!(span(0), "0 s");
        assert_eq!(span(59), "59 s");
        assert_eq!(span(60), "1 min");
        assert_eq!(span(125), "2 min 5 s");
        assert_eq!(span(3600), "1 h");
        assert_eq!(span(5400), "1 h 30 min");
        assert_eq!(span(86_400 * 2 + 3600 * 4 + 7), "2 d 4 h");
        let now = UnixTime::from_secs(1_700_000_060);
        assert_eq!(
            relative(UnixTime::from_secs(1_700_000_000), now),
            "1 min ago"
        );
        assert_eq!(
            relative(UnixTime::from_secs(1_700_000_180), now),
            "in 2 min"
        );
        assert_eq!(relative(now, now), "now");
        assert_eq!(
            expiry(UnixTime::from_secs(1_699_999_880), now),
            "expired 3 min ago"
        );
        assert_eq!(
            expiry(UnixTime::from_secs(1_700_000_180), now),
            "expires in 2 min"
        );
    }
}
