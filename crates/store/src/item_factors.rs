//! Factors of items solved from live events (item fold-in), kept per version.
//!
//! A factor only means something against the user factors of the version it was solved for,
//! so it is stored inside that version (and deleted with it), unlike live catalogue changes
//! ([`crate::item_edits`]), which outlive versions. What solves them is
//! `topten_live::item_fold_in`; serving reads them once per pointer cache lifetime, the ones
//! solved since its previous read ([`crate::RecsReader::item_factors_since`]).

/// One item's factor, solved from live events against a version's user factors.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ItemFactor {
    /// The item.
    pub item_id: String,
    /// Its factor (the version's factor count).
    pub factor: Vec<f32>,
    /// Users whose live events it was solved from.
    pub users: u32,
    /// When it was solved (epoch ms, the solving instance's clock).
    pub solved_ms: i64,
    /// When its first live interaction the version's training lacks was received (epoch ms):
    /// how old an item known by its events alone is. 0 when not recorded.
    #[serde(default)]
    pub first_event_ms: i64,
}
