//! Live interaction events (`POST /api/events`): their shape as the API receives them,
//! validation, and how they become training interactions. The stored form is
//! [`topten_store::events::StoredEvent`].
//!
//! Validation is all-or-nothing: a batch with one bad event is rejected as a whole, naming
//! the offending index, so a client never has to guess which half was stored.

use topten_model::interactions::{Interaction, Ratings};
pub use topten_store::events::{StoredEvent, IMPRESSION};

/// Event types the API accepts, with the interaction strength each counts for when the event
/// carries no `value` (a rating must carry one).
pub const EVENT_TYPES: &[(&str, f64)] = &[
    ("rating", f64::NAN),
    ("view", 0.5),
    ("click", 1.0),
    ("like", 2.0),
    ("add_to_cart", 2.0),
    ("purchase", 3.0),
    ("impression", 0.0),
];

/// Longest `recommendationId` accepted, in characters: the longest id an answer carries.
pub const MAX_RECOMMENDATION_ID_LEN: usize = topten_edge::answer_id::MAX_ID_LEN;

/// Most items one impression may list.
pub const MAX_ITEMS_PER_IMPRESSION: usize = 100;

/// Most events one request may carry.
pub const MAX_EVENTS_PER_REQUEST: usize = 1000;

/// Longest id (user, item or event) accepted, in characters.
pub const MAX_ID_LEN: usize = topten_model::ids::MAX_ID_CHARS;

/// One event as the API receives it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Event {
    /// Client-chosen id that makes retries idempotent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
    /// External user id.
    pub user_id: String,
    /// External item id (every type but `impression`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item_id: Option<String>,
    /// The items shown (`impression` only), in the order shown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item_ids: Option<Vec<String>>,
    /// One of [`EVENT_TYPES`].
    #[serde(rename = "type")]
    pub kind: String,
    /// Rating or strength (required for ratings).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
    /// Epoch seconds when it happened (default: when it was received).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<i64>,
    /// The `recommendationId` of the answer the event responds to (or, for an impression, the
    /// answer whose list was shown).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recommendation_id: Option<String>,
}

/// What is wrong with one event of a batch.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{}: {message}", self.place())]
pub struct EventError {
    /// Position in the batch.
    pub index: usize,
    /// Offending field.
    pub field: &'static str,
    /// Why.
    pub message: String,
}

/// Checks an id against the one id rule ([`topten_model::ids`]); `field` names it.
fn check_id(index: usize, field: &'static str, id: &str) -> Result<(), EventError> {
    use topten_model::ids::{check, IdKind};
    let kind = match field {
        "userId" => IdKind::User,
        "eventId" => IdKind::Event,
        _ => IdKind::Item,
    };
    check(kind, id).map_err(|e| EventError {
        index,
        field,
        message: e.0,
    })
}

/// Checks `itemId` (every type but impressions) or `itemIds` (impressions: 1 to
/// [`MAX_ITEMS_PER_IMPRESSION`] ids), and returns the impression's items.
fn check_items(index: usize, e: &Event) -> Result<Vec<String>, EventError> {
    let wrong = |field, message: &str| EventError {
        index,
        field,
        message: message.into(),
    };
    if e.kind != IMPRESSION {
        if e.item_ids.is_some() {
            return Err(wrong("itemIds", "only an impression lists itemIds"));
        }
        let item = e
            .item_id
            .as_deref()
            .ok_or_else(|| wrong("itemId", "is required"))?;
        check_id(index, "itemId", item)?;
        return Ok(Vec::new());
    }
    if e.item_id.is_some() {
        return Err(wrong("itemId", "an impression lists its items in itemIds"));
    }
    let items = e.item_ids.as_deref().unwrap_or_default();
    if items.is_empty() || items.len() > MAX_ITEMS_PER_IMPRESSION {
        return Err(wrong(
            "itemIds",
            &format!("an impression lists 1 to {MAX_ITEMS_PER_IMPRESSION} item ids"),
        ));
    }
    for (j, item) in items.iter().enumerate() {
        check_id(index, "itemIds", item)?;
        // One impression shows an item once; counting a repeat would push it past the
        // repeat limit in a single event.
        if items[..j].contains(item) {
            return Err(wrong(
                "itemIds",
                &format!("lists {} twice", topten_model::ids::quote(item)),
            ));
        }
    }
    Ok(items.to_vec())
}

impl EventError {
    /// Where the error is: `events[i].field`, or `events` for the batch as a whole.
    fn place(&self) -> String {
        if self.field == "events" {
            "events".to_owned()
        } else {
            format!("events[{}].{}", self.index, self.field)
        }
    }
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
            let item_ids = check_items(index, e)?;
            if let Some(id) = &e.event_id {
                check_id(index, "eventId", id)?;
            }
            if let Some(id) = &e.recommendation_id {
                if id.chars().count() > MAX_RECOMMENDATION_ID_LEN {
                    return Err(EventError {
                        index,
                        field: "recommendationId",
                        message: format!("must be at most {MAX_RECOMMENDATION_ID_LEN} characters"),
                    });
                }
                // A signed id, or the unsigned form of older releases (stored, never credited);
                // whether a signed one checks is attribution's question, not a 400.
                use topten_edge::answer_id::{is_unsigned_form, AnswerId};
                if AnswerId::parse(id).is_err() && !is_unsigned_form(id) {
                    return Err(EventError {
                        index,
                        field: "recommendationId",
                        message: format!(
                            "{:?} is not a recommendation id (the recommendationId of an answer, \
                             r2:VERSION:ARM:STAMP:SCOPE:ITEMS:MAC)",
                            id.chars().take(80).collect::<String>()
                        ),
                    });
                }
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
                (Some(_), IMPRESSION) => {
                    return Err(EventError {
                        index,
                        field: "value",
                        message: "an impression has no value".into(),
                    })
                }
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
                item_id: e.item_id.clone().unwrap_or_default(),
                item_ids,
                kind: e.kind.clone(),
                value,
                timestamp,
                received_at_ms: now_ms,
                recommendation_id: e.recommendation_id.clone(),
                attribution: None,
            })
        })
        .collect()
}

/// Appends events to a ratings set (new ids are interned), for retraining on base data plus
/// everything that arrived since.
/// Impressions are not interactions and are left out.
pub fn append_to(ratings: &mut Ratings, events: &[StoredEvent]) {
    let mut any = false;
    for e in events.iter().filter(|e| e.is_interaction()) {
        any = true;
        let user = ratings.users.intern(&e.user_id);
        let item = ratings.items.intern(&e.item_id);
        ratings.records.push(Interaction {
            user,
            item,
            rating: e.value,
            timestamp: e.timestamp,
        });
    }
    if any {
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
            item_id: Some("i".into()),
            item_ids: None,
            kind: kind.into(),
            value,
            timestamp: None,
            recommendation_id: None,
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
    fn impressions_list_items_and_recommendation_ids_must_parse() {
        let mut shown = ev("impression", None);
        shown.item_id = None;
        shown.item_ids = Some(vec!["a".into(), "b".into()]);
        let ok = validate(std::slice::from_ref(&shown), 0).unwrap();
        assert_eq!(
            (ok[0].item_ids.as_slice(), ok[0].item_id.as_str()),
            (&["a".to_owned(), "b".to_owned()][..], "")
        );
        assert!(!ok[0].is_interaction());
        let field = |e: Event| validate(&[e], 0).unwrap_err().field;
        assert_eq!(
            field(Event {
                item_id: Some("x".into()),
                ..shown.clone()
            }),
            "itemId"
        );
        assert_eq!(
            field(Event {
                item_ids: Some(vec![]),
                ..shown.clone()
            }),
            "itemIds"
        );
        assert_eq!(
            field(Event {
                item_ids: None,
                ..shown.clone()
            }),
            "itemIds"
        );
        let many = (0..=MAX_ITEMS_PER_IMPRESSION)
            .map(|i| i.to_string())
            .collect();
        assert_eq!(
            field(Event {
                item_ids: Some(many),
                ..shown.clone()
            }),
            "itemIds"
        );
        assert_eq!(
            field(Event {
                item_ids: Some(vec!["".into()]),
                ..shown.clone()
            }),
            "itemIds"
        );
        assert_eq!(
            field(Event {
                value: Some(1.0),
                ..shown.clone()
            }),
            "value"
        );
        assert_eq!(
            field(Event {
                item_ids: Some(vec!["a".into()]),
                ..ev("click", None)
            }),
            "itemIds"
        );
        assert_eq!(
            field(Event {
                item_id: None,
                ..ev("click", None)
            }),
            "itemId"
        );
        assert_eq!(
            field(Event {
                recommendation_id: Some("r1:v1:maybe:00".into()),
                ..ev("click", None)
            }),
            "recommendationId"
        );
        let keys = topten_edge::answer_id::IdKeys::from_setting("a-key-for-the-tests").unwrap();
        let stamp = topten_edge::answer_id::Stamp {
            version: "v1",
            arm: "-",
            issued_ms: 5,
            nonce: 9,
        };
        let id = keys.sign(&stamp, Some("u"), ["i"]);
        let ok = validate(
            &[Event {
                recommendation_id: Some(id.clone()),
                ..ev("click", None)
            }],
            0,
        )
        .unwrap();
        assert_eq!(ok[0].recommendation_id.as_deref(), Some(id.as_str()));
    }

    #[test]
    fn unknown_fields_are_rejected_by_serde() {
        let r: Result<Event, _> =
            serde_json::from_str(r#"{"userId":"u","itemId":"i","type":"view","colour":"red"}"#);
        assert!(r.is_err());
    }
}
