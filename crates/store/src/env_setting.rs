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
