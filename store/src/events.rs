//! Live interaction events (`POST /api/events`): their shape, validation and how they become
//! training interactions.
//!
//! Validation is all-or-nothing: a batch with one bad event is rejected as a whole, naming
//! the offending index, so a client never has to guess which half was stored.

use topten_model::interactions::{Interaction, Ratings};

/// Event types the API accepts, with the interaction strength each counts for when the event
/// carries no `value` (a rating must carry one).
pub const EVENT_TYPES: &[(&str, f64)] = &[
    ("rating", f64::NAN),
    ("view", 0.5),
    ("click", 1.0),
    ("like", 2.0),
    ("add_to_cart", 2.0),
    ("purchase", 3.0),
];

/// Most events one request may carry.
pub const MAX_EVENTS_PER_REQUEST: usize = 1000;

/// Longest id (user, item or event) accepted, in characters.
pub const MAX_ID_LEN: usize = 128;

/// One event as the API receives it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Event {
    /// Client-chosen id that makes retries idempotent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
    /// External user id.
    pub user_id: String,
    /// External item id.
    pub item_id: String,
    /// One of [`EVENT_TYPES`].
    #[serde(rename = "type")]
    pub kind: String,
    /// Rating or strength (required for ratings).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
    /// Epoch seconds when it happened (default: when it was received).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<i64>,
}

/// An event as stored: validated, with its effective value and the time it was received.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StoredEvent {
    /// Client id, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
    /// External user id.
    pub user_id: String,
    /// External item id.
    pub item_id: String,
    /// Event type.
    #[serde(rename = "type")]
    pub kind: String,
    /// Effective strength (the event's value, else the type's default).
    pub value: f64,
    /// Epoch seconds when it happened.
    pub timestamp: i64,
    /// Epoch milliseconds when the store received it (orders events against model versions).
    pub received_at_ms: i64,
}

/// What is wrong with one event of a batch.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("events[{index}].{field}: {message}")]
pub struct EventError {
    /// Position in the batch.
    pub index: usize,
    /// Offending field.
    pub field: &'static str,
    /// Why.
    pub message: String,
}

fn check_id(index: usize, field: &'static str, id: &str) -> Result<(), EventError> {
    let len = id.chars().count();
    if len == 0 || len > MAX_ID_LEN || id.chars().any(char::is_control) {
        return Err(EventError {
            index,
            field,
            message: format!("must be 1 to {MAX_ID_LEN} characters without control characters"),
        });
    }
    Ok(())
}

/// Validates a whole batch and returns the events as they will be stored, or the first error.
pub fn validate(events: &[Event], now_ms: i64) -> Result<Vec<StoredEvent>, EventError> {
    if events.is_empty() || events.len() > MAX_EVENTS_PER_REQUEST {
        return Err(EventError {
            index: 0,
            field: "events",
            message: format!(
                "must hold 1 to {MAX_EVENTS_PER_REQUEST} events, got {}",
                events.len()
            ),
        });
    }
    events
        .iter()
        .enumerate()
        .map(|(index, e)| {
            check_id(index, "userId", &e.user_id)?;
            check_id(index, "itemId", &e.item_id)?;
            if let Some(id) = &e.event_id {
                check_id(index, "eventId", id)?;
            }
            let default = EVENT_TYPES
                .iter()
                .find(|(t, _)| *t == e.kind)
                .map(|(_, v)| *v)
                .ok_or_else(|| EventError {
                    index,
                    field: "type",
                    message: format!(
                        "unknown type {:?}; known: {}",
                        e.kind,
                        EVENT_TYPES
                            .iter()
                            .map(|t| t.0)
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                })?;
            let value = match (e.value, e.kind.as_str()) {
                (Some(v), _) if !v.is_finite() => {
                    return Err(EventError {
                        index,
                        field: "value",
                        message: "must be a finite number".into(),
                    })
                }
                (Some(v), _) if v > topten_model::interactions::MAX_ABS_VALUE => {
                    return Err(EventError {
                        index,
                        field: "value",
                        message: format!(
                            "must be at most {:e}",
                            topten_model::interactions::MAX_ABS_VALUE
                        ),
                    })
                }
                (Some(v), _) if v < 0.0 => {
                    return Err(EventError {
                        index,
                        field: "value",
                        message: "must not be negative".into(),
                    })
                }
                (Some(v), _) => v,
                (None, "rating") => {
                    return Err(EventError {
                        index,
                        field: "value",
                        message: "a rating needs a value".into(),
                    })
                }
                (None, _) => default,
            };
            let timestamp = match e.timestamp {
                Some(t) if !(0..=4_102_444_800).contains(&t) => {
                    return Err(EventError {
                        index,
                        field: "timestamp",
                        message: "must be epoch seconds between 1970 and 2100".into(),
                    })
                }
                Some(t) => t,
                None => now_ms / 1000,
            };
            Ok(StoredEvent {
                event_id: e.event_id.clone(),
                user_id: e.user_id.clone(),
                item_id: e.item_id.clone(),
                kind: e.kind.clone(),
                value,
                timestamp,
                received_at_ms: now_ms,
            })
        })
        .collect()
}

/// Appends events to a ratings set (new ids are interned), for retraining on base data plus
/// everything that arrived since.
pub fn append_to(ratings: &mut Ratings, events: &[StoredEvent]) {
    for e in events {
        let user = ratings.users.intern(&e.user_id);
        let item = ratings.items.intern(&e.item_id);
        ratings.records.push(Interaction {
            user,
            item,
            rating: e.value,
            timestamp: e.timestamp,
        });
    }
    if !events.is_empty() {
        ratings.has_timestamps = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(kind: &str, value: Option<f64>) -> Event {
        Event {
            event_id: None,
            user_id: "u".into(),
            item_id: "i".into(),
            kind: kind.into(),
            value,
            timestamp: None,
        }
    }

    #[test]
    fn defaults_and_errors_name_the_index() {
        let ok = validate(&[ev("click", None), ev("rating", Some(4.5))], 5_000).unwrap();
        assert_eq!((ok[0].value, ok[1].value, ok[0].timestamp), (1.0, 4.5, 5));
        let err = validate(&[ev("click", None), ev("rating", None)], 0).unwrap_err();
        assert_eq!(err.to_string(), "events[1].value: a rating needs a value");
        let err = validate(&[ev("teleport", None)], 0).unwrap_err();
        assert!(err.to_string().starts_with("events[0].type: unknown type"));
        let err = validate(
            &[
                ev("view", None),
                ev("view", None),
                ev("view", Some(f64::INFINITY)),
            ],
            0,
        )
        .unwrap_err();
        assert_eq!((err.index, err.field), (2, "value"));
        // Beyond f32's comfortable range: a 400 naming the field, not a model of zeros.
        let err = validate(&[ev("click", Some(3.5e38))], 0).unwrap_err();
        assert_eq!((err.index, err.field), (0, "value"));
        assert!(err.to_string().contains("at most 1e9"), "{err}");
        let mut long = ev("view", None);
        long.user_id = "x".repeat(129);
        assert_eq!(validate(&[long], 0).unwrap_err().field, "userId");
        assert!(validate(&[], 0).is_err());
    }

    #[test]
    fn unknown_fields_are_rejected_by_serde() {
        let r: Result<Event, _> =
            serde_json::from_str(r#"{"userId":"u","itemId":"i","type":"view","colour":"red"}"#);
        assert!(r.is_err());
    }
}
