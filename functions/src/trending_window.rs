//! The windows of `GET /api/items/trending`: how a `window` parameter becomes one of a bounded
//! set of canonical windows, and how often each is ranked. The route parses with it and the
//! handler state's cache is sized by it, so neither depends on the other.

use std::time::Duration;

use crate::error::ApiError;

/// How often an instance recomputes a window's ranking.
pub const TRENDING_REFRESH: Duration = Duration::from_secs(10);

/// The longest window: 30 days.
pub const MAX_WINDOW_MS: i64 = 30 * 86_400_000;

/// How many canonical windows there are (minutes up to an hour, hours up to two days, days up
/// to [`MAX_WINDOW_MS`]): the cache holds them all, so requests with distinct windows cannot
/// make an instance rank more than this many windows per [`TRENDING_REFRESH`].
pub const DISTINCT_WINDOWS: usize = 60 + 47 + 28;

/// A window in milliseconds from `30m`, `24h` or `7d`, made canonical: longer than an hour,
/// rounded up to whole hours; longer than two days, to whole days; at most 30 days.
pub fn window_ms(raw: Option<&str>) -> Result<i64, ApiError> {
    let raw = raw.unwrap_or("24h").trim();
    let bad = || {
        ApiError::bad_request(
            "invalid_query",
            format!("window must be a number of minutes, hours or days (30m, 24h, 7d), at most 30 days, got {raw:?}"),
        )
    };
    let (n, unit) = raw.split_at(raw.len().saturating_sub(1));
    let n: i64 = n.parse().map_err(|_| bad())?;
    let ms = match unit {
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return Err(bad()),
    };
    let w = n.checked_mul(ms).ok_or_else(bad)?;
    if w <= 0 || w > MAX_WINDOW_MS {
        return Err(bad());
    }
    let round_up = |w: i64, unit: i64| (w + unit - 1) / unit * unit;
    Ok(if w > 2 * 86_400_000 {
        round_up(w, 86_400_000)
    } else if w > 3_600_000 {
        round_up(w, 3_600_000)
    } else {
        w
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_parse_in_minutes_hours_and_days() {
        assert_eq!(window_ms(None).unwrap(), 86_400_000);
        assert_eq!(window_ms(Some("30m")).unwrap(), 1_800_000);
        assert_eq!(window_ms(Some("7d")).unwrap(), 7 * 86_400_000);
        // Canonical: whole hours past an hour, whole days past two days; 30 days at most.
        assert_eq!(window_ms(Some("90m")).unwrap(), 2 * 3_600_000);
        assert_eq!(window_ms(Some("49h")).unwrap(), 3 * 86_400_000);
        assert_eq!(window_ms(Some("30d")).unwrap(), 30 * 86_400_000);
        assert_eq!(window_ms(Some("720h")).unwrap(), 30 * 86_400_000);
        let mut distinct = std::collections::HashSet::new();
        for unit in ["m", "h", "d"] {
            for n in 1..=43_200 {
                if let Ok(w) = window_ms(Some(&format!("{n}{unit}"))) {
                    distinct.insert(w);
                }
            }
        }
        assert_eq!(distinct.len(), DISTINCT_WINDOWS);
        for bad in [
            "31d",
            "721h",
            "",
            "h",
            "0h",
            "-1h",
            "1000d",
            "24",
            "1.5h",
            "99999999999999d",
        ] {
            assert!(window_ms(Some(bad)).is_err(), "{bad}");
        }
    }
}
