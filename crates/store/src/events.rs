//! Live interaction events as stored: what every backend's event log holds. What the API
//! accepts and how it is validated is `topten_live::events`.

use topten_experiments::Arm;

/// The event type that records what a user was shown (`itemIds`); it never enters training or
/// fold-in, only attribution, the "fewer repeats" rule and the counters.
pub const IMPRESSION: &str = "impression";

/// An event as stored: validated, with its effective value and the time it was received.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StoredEvent {
    /// Client id, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
    /// External user id.
    pub user_id: String,
    /// External item id (empty for an impression).
    #[serde(default)]
    pub item_id: String,
    /// The items shown (impressions only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub item_ids: Vec<String>,
    /// Event type.
    #[serde(rename = "type")]
    pub kind: String,
    /// Effective strength (the event's value, else the type's default).
    pub value: f64,
    /// Epoch seconds when it happened.
    pub timestamp: i64,
    /// Epoch milliseconds when the store received it (orders events against model versions).
    pub received_at_ms: i64,
    /// The recommendation id the caller sent, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recommendation_id: Option<String>,
    /// The answer this event is attributed to, decided once when it was received (so a
    /// retried event, which the log skips, is never counted twice).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attribution: Option<Attribution>,
}

/// The answer an event is attributed to ([`crate::attribution`] decides it when the event
/// arrives; it is stored with the event).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Attribution {
    /// The version that served the answer.
    pub version: String,
    /// The arm, when an experiment was running.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arm: Option<Arm>,
    /// The experiment the arm belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub experiment: Option<String>,
    /// The answer's id, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recommendation_id: Option<String>,
    /// Which link found the answer.
    pub via: Via,
    /// When the answer (or impression) was shown, epoch milliseconds.
    pub shown_ms: i64,
}

/// Which link attributed an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Via {
    /// The event's own `recommendationId`.
    RecommendationId,
    /// The user's most recent impression of the item.
    Impression,
    /// The list the user was being served.
    Answer,
}

impl StoredEvent {
    /// An interaction received at `at_ms` that happened then, as validation stores it: no
    /// event id, recommendation id or attribution (set them with struct update syntax).
    pub fn interaction(user_id: &str, item_id: &str, kind: &str, value: f64, at_ms: i64) -> Self {
        StoredEvent {
            event_id: None,
            user_id: user_id.to_owned(),
            item_id: item_id.to_owned(),
            item_ids: Vec::new(),
            kind: kind.to_owned(),
            value,
            timestamp: at_ms.div_euclid(1000),
            received_at_ms: at_ms,
            recommendation_id: None,
            attribution: None,
        }
    }

    /// An impression of `items` received at `at_ms`, as validation stores it.
    pub fn impression(user_id: &str, items: &[&str], at_ms: i64) -> Self {
        StoredEvent {
            item_id: String::new(),
            item_ids: items.iter().map(|i| (*i).to_owned()).collect(),
            ..StoredEvent::interaction(user_id, "", IMPRESSION, 0.0, at_ms)
        }
    }

    /// Whether this is an interaction (training and fold-in input), not an impression.
    pub fn is_interaction(&self) -> bool {
        self.kind != IMPRESSION
    }
}
