//! The tuning settings of the networked backends (`TOPTEN_COSMOS_*`, `TOPTEN_REDIS_*`), read
//! from the environment the same way: unset or blank means the default, anything else must
//! parse, and a bad value names the setting.

use std::time::Duration;

/// The setting `name`, or `default` when it is unset or blank.
pub fn env_or<T: std::str::FromStr>(name: &str, default: T) -> Result<T, String> {
    match std::env::var(name) {
        Ok(v) if !v.trim().is_empty() => v
            .trim()
            .parse()
            .map_err(|_| format!("{name}={v:?} is not valid")),
        _ => Ok(default),
    }
}

/// A retention setting's value: a number and a unit (`60s`, `12h`, `90d`; humantime's
/// syntax, so `1h 30m` works too). A bare number or less than a second is refused: a retention
/// of nothing would delete what it keeps as it arrives.
pub fn retention(name: &str, value: &str) -> Result<Duration, String> {
    let err = |reason: String| {
        format!("{name}={value:?}: {reason} (a duration with a unit, such as 60s, 12h or 90d)")
    };
    let d = humantime::parse_duration(value.trim()).map_err(|e| err(e.to_string()))?;
    if d < Duration::from_secs(1) {
        return Err(err("must be at least one second".into()));
    }
    Ok(d)
}

/// The retention setting `name` (`None` when unset or blank: kept forever).
pub fn env_retention(name: &str) -> Result<Option<Duration>, String> {
    match std::env::var(name) {
        Ok(v) if !v.trim().is_empty() => retention(name, &v).map(Some),
        _ => Ok(None),
    }
}

/// A duration setting in milliseconds.
pub fn env_millis(name: &str, default_ms: u64) -> Result<Duration, String> {
    env_or(name, default_ms).map(Duration::from_millis)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unset_and_blank_mean_the_default_and_bad_values_name_the_setting() {
        assert_eq!(env_or("TOPTEN_TEST_SURELY_UNSET_SETTING", 7u32), Ok(7));
        std::env::set_var("TOPTEN_TEST_BLANK_SETTING", "  ");
        assert_eq!(env_or("TOPTEN_TEST_BLANK_SETTING", 7u32), Ok(7));
        std::env::set_var("TOPTEN_TEST_BAD_SETTING", "lots");
        let e = env_or("TOPTEN_TEST_BAD_SETTING", 7u32).unwrap_err();
        assert!(e.contains("TOPTEN_TEST_BAD_SETTING"), "{e}");
        std::env::set_var("TOPTEN_TEST_MS_SETTING", "250");
        assert_eq!(
            env_millis("TOPTEN_TEST_MS_SETTING", 1),
            Ok(Duration::from_millis(250))
        );
    }
}
