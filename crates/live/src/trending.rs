//! Trending items: what users interacted with most in a recent window, recent interactions
//! counting more. Each live event in the window adds its strength times `2^(-age / h)`, with
//! the half-life `h` a quarter of the window, so an event at the window's far edge counts a
//! sixteenth of one made now.

use std::collections::HashMap;

use topten_store::events::StoredEvent;

/// Items by decayed interaction strength over the `window_ms` before `now_ms`, highest first
/// (ties by item id). Events outside the window, or in the future, are left out.
pub fn trending(events: &[StoredEvent], now_ms: i64, window_ms: i64) -> Vec<(String, f64)> {
    let half_life = (window_ms as f64 / 4.0).max(1.0);
    let mut scores: HashMap<&str, f64> = HashMap::new();
    for e in events.iter().filter(|e| e.is_interaction()) {
        let at_ms = e.timestamp.saturating_mul(1000);
        let age = now_ms - at_ms;
        if age < 0 || age > window_ms {
            continue;
        }
        *scores.entry(e.item_id.as_str()).or_default() +=
            e.value.max(0.0) * (-(age as f64) / half_life).exp2();
    }
    let mut out: Vec<(String, f64)> = scores
        .into_iter()
        .filter(|(_, s)| *s > 0.0)
        .map(|(i, s)| (i.to_owned(), s))
        .collect();
    out.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(item: &str, value: f64, at_secs: i64) -> StoredEvent {
        StoredEvent::interaction("u", item, "click", value, at_secs * 1000)
    }

    #[test]
    fn recent_interactions_count_more_and_old_ones_not_at_all() {
        let now = 1_000_000_000;
        let day = 86_400_000;
        let events = [
            event("old", 100.0, (now - 2 * day) / 1000), // outside the window
            event("new", 1.0, now / 1000),
            event("day-edge", 1.0, (now - day) / 1000),
            event("half", 1.0, (now - day / 4) / 1000),
            event("future", 5.0, (now + 60_000) / 1000),
        ];
        let t = trending(&events, now, day);
        let names: Vec<&str> = t.iter().map(|(i, _)| i.as_str()).collect();
        assert_eq!(names, ["new", "half", "day-edge"]);
        // Independent computation: 1, 2^-1, 2^-4.
        assert!((t[0].1 - 1.0).abs() < 1e-9);
        assert!((t[1].1 - 0.5).abs() < 1e-9);
        assert!((t[2].1 - 1.0 / 16.0).abs() < 1e-9);
    }
}
