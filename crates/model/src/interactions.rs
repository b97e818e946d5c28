//! Interactions (ratings, clicks) with string ids at the edges and dense `u32` indices inside.
//!
//! Users bring ids of every shape (`"17"`, `"u-9f3c"`, UUIDs), while solvers want dense
//! indices into factor matrices. [`IdMap`] is the one place where the two meet.

use rustc_hash::FxHashMap;

/// Largest magnitude of an interaction value (a rating, an event's strength) topten accepts.
///
/// Values become `f32` and are squared and summed over many interactions in the solvers; a
/// bound far below `f32::MAX` (3.4e38) keeps those sums finite, and no real rating scale or
/// click count comes near it. Files and the events API reject larger values at the edge.
pub const MAX_ABS_VALUE: f64 = 1e9;

/// A two-way map between external string ids and dense indices `0..len`.
#[derive(Debug, Clone, Default)]
pub struct IdMap {
    ids: Vec<String>,
    index: FxHashMap<String, u32>,
}

impl IdMap {
    /// An empty map.
    pub fn new() -> Self {
        Self::default()
    }

    /// Builds a map from ids in index order; duplicates keep their first index.
    pub fn from_ids<I: IntoIterator<Item = String>>(ids: I) -> Self {
        let mut map = Self::new();
        for id in ids {
            map.intern(&id);
        }
        map
    }

    /// The index of `id`, assigning the next free one if it is new.
    pub fn intern(&mut self, id: &str) -> u32 {
        if let Some(&i) = self.index.get(id) {
            return i;
        }
        let i = self.ids.len() as u32;
        self.ids.push(id.to_owned());
        self.index.insert(id.to_owned(), i);
        i
    }

    /// The index of `id`, if known.
    pub fn get(&self, id: &str) -> Option<u32> {
        self.index.get(id).copied()
    }

    /// The external id of index `i`.
    pub fn id(&self, i: u32) -> &str {
        &self.ids[i as usize]
    }

    /// All ids in index order.
    pub fn ids(&self) -> &[String] {
        &self.ids
    }

    /// Number of distinct ids.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// True when no id has been interned.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }
}

/// One user-item interaction, with dense indices into the owning [`Ratings`]' id maps.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Interaction {
    /// Dense user index.
    pub user: u32,
    /// Dense item index.
    pub item: u32,
    /// Rating or interaction strength (1.0 where the source has none). Kept in f64 so that
    /// evaluation reads values exactly as pandas does; solvers convert to f32.
    pub rating: f64,
    /// Seconds since the epoch (0 where the source has none).
    pub timestamp: i64,
}

/// A set of interactions in input order, with the id maps that give them meaning.
#[derive(Debug, Clone, Default)]
pub struct Ratings {
    /// User id map.
    pub users: IdMap,
    /// Item id map.
    pub items: IdMap,
    /// Interactions in the order they were read.
    pub records: Vec<Interaction>,
    /// Whether the source carried timestamps (chronological splits need them).
    pub has_timestamps: bool,
}

impl Ratings {
    /// A new set sharing this one's id maps but holding only the records at `rows`.
    ///
    /// Id maps are shared (not compacted) so that train and test sides of a split keep
    /// agreeing on what index a given id has.
    pub fn subset(&self, rows: &[usize]) -> Ratings {
        Ratings {
            users: self.users.clone(),
            items: self.items.clone(),
            records: rows.iter().map(|&r| self.records[r]).collect(),
            has_timestamps: self.has_timestamps,
        }
    }

    /// Appends `more`'s records, interning its ids into this set's maps.
    pub fn append(&mut self, more: &Ratings) {
        self.records.reserve(more.records.len());
        for r in &more.records {
            let user = self.users.intern(more.users.id(r.user));
            let item = self.items.intern(more.items.id(r.item));
            self.records.push(Interaction { user, item, ..*r });
        }
        self.has_timestamps |= more.has_timestamps;
    }

    /// Every row of `first` and `second` (a training file and its holdout file), each
    /// (user, item) pair once: where both hold a pair, `second`'s row wins, as a later row of
    /// one file does. This is what a model refitted after its holdout evaluation trains on.
    pub fn union(first: &Ratings, second: &Ratings) -> Ratings {
        let mut all = first.clone();
        let before = all.records.len();
        all.append(second);
        if all.records.len() == before {
            return all;
        }
        let mut seen = rustc_hash::FxHashSet::default();
        let mut keep: Vec<bool> = vec![true; all.records.len()];
        for (k, r) in all.records.iter().enumerate().rev() {
            keep[k] = seen.insert((r.user, r.item));
        }
        let mut k = 0;
        all.records.retain(|_| {
            k += 1;
            keep[k - 1]
        });
        all
    }

    /// Number of records.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// True when there are no records.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Writes the records as TSV with the header `user_id\titem_id\trating\ttimestamp`,
    /// the format `topten split` produces and every reader auto-detects.
    pub fn write_tsv<W: std::io::Write>(&self, out: W) -> std::io::Result<()> {
        // RFC 4180 quoting through the `csv` crate: an id holding a tab or a quote is quoted,
        // so it reads back as the same id rather than as extra columns.
        let mut w = csv::WriterBuilder::new()
            .delimiter(b'\t')
            .quote_style(csv::QuoteStyle::Necessary)
            .from_writer(out);
        w.write_record(["user_id", "item_id", "rating", "timestamp"])?;
        use std::fmt::Write as _;
        let (mut rating, mut timestamp) = (String::new(), String::new());
        for r in &self.records {
            rating.clear();
            timestamp.clear();
            let _ = write!(rating, "{}", r.rating);
            let _ = write!(timestamp, "{}", r.timestamp);
            w.write_record([
                self.users.id(r.user),
                self.items.id(r.item),
                &rating,
                &timestamp,
            ])?;
        }
        w.flush()?;
        Ok(())
    }
}
