//! The key layout. Every key starts with `{PREFIX}:` (a hash tag: one slot, so the scripts and
//! transactions below work behind a cluster proxy), and every key of a version carries the
//! version, so activating a version is one pointer write and readers never see a mix.
//!
//! | key | type | holds |
//! |---|---|---|
//! | `active` | string | the [`topten_store::ActiveVersion`] pointer (JSON) |
//! | `version:{v}` | string | the [`topten_store::VersionInfo`] (JSON) |
//! | `versions` | set | every version id with an info |
//! | `recs:{v}` | hash | user id → the user's list, in the indexed form of [`topten_store::documents`] |
//! | `hist:{v}` | hash | user id → training history |
//! | `popular:{v}`, `model:{v}`, `catalogue:{v}` | string | cold-start list (JSON), serving model, catalogue |
//! | `item-factors:{v}` | hash | item id → its factor solved from live events ([`topten_store::ItemFactor`], JSON) |
//! | `events:{user}` | list | the user's events (`{sequence:020}\x1f{event JSON}`), oldest first |
//! | `event-ids:{user}` | set | the user's client event ids (idempotency) |
//! | `event-seq` | string | a counter: receipt order within one millisecond |
//! | `event-index` | sorted set | `{sequence:020}\x1f{event JSON}` by receipt time (epoch ms) |
//! | `event-age` | sorted set | the same members by the time each event happened (epoch ms) |
//! | `tombstones` | hash | user id → [`topten_store::Tombstone`] (JSON) |
//! | `items` | hash | item id → its latest live change (JSON) |
//! | `item-changes` | sorted set | item id by the time of its latest change |

/// The keys of one store (one prefix).
#[derive(Debug, Clone)]
pub struct Keys {
    base: String,
}

impl Keys {
    /// Keys under `{prefix}:`.
    pub fn new(prefix: &str) -> Self {
        Keys {
            base: format!("{{{prefix}}}:"),
        }
    }

    fn key(&self, parts: &[&str]) -> String {
        let mut k = self.base.clone();
        for (i, p) in parts.iter().enumerate() {
            if i > 0 {
                k.push(':');
            }
            k.push_str(p);
        }
        k
    }

    /// The active pointer.
    pub fn active(&self) -> String {
        self.key(&["active"])
    }
    /// A version's info.
    pub fn version(&self, v: &str) -> String {
        self.key(&["version", v])
    }
    /// The set of version ids.
    pub fn versions(&self) -> String {
        self.key(&["versions"])
    }
    /// A version's user lists.
    pub fn recs(&self, v: &str) -> String {
        self.key(&["recs", v])
    }
    /// A version's training histories.
    pub fn hist(&self, v: &str) -> String {
        self.key(&["hist", v])
    }
    /// A version's cold-start list.
    pub fn popular(&self, v: &str) -> String {
        self.key(&["popular", v])
    }
    /// A version's serving model.
    pub fn model(&self, v: &str) -> String {
        self.key(&["model", v])
    }
    /// A version's catalogue.
    pub fn catalogue(&self, v: &str) -> String {
        self.key(&["catalogue", v])
    }
    /// A version's item factors solved from live events.
    pub fn item_factors(&self, v: &str) -> String {
        self.key(&["item-factors", v])
    }
    /// A user's events.
    pub fn events(&self, user: &str) -> String {
        self.key(&["events", user])
    }
    /// A user's client event ids.
    pub fn event_ids(&self, user: &str) -> String {
        self.key(&["event-ids", user])
    }
    /// The event counter.
    pub fn event_seq(&self) -> String {
        self.key(&["event-seq"])
    }
    /// Every event by receipt time.
    pub fn event_index(&self) -> String {
        self.key(&["event-index"])
    }
    /// Every event by the time it happened (its own timestamp, epoch ms): what retention
    /// walks.
    pub fn event_age(&self) -> String {
        self.key(&["event-age"])
    }
    /// Forgotten users: a hash of user id → tombstone (JSON).
    pub fn tombstones(&self) -> String {
        self.key(&["tombstones"])
    }
    /// Live item changes.
    pub fn items(&self) -> String {
        self.key(&["items"])
    }
    /// Live item changes by time.
    pub fn item_changes(&self) -> String {
        self.key(&["item-changes"])
    }
    /// Answer counts: a hash of instance → that instance's counts (JSON).
    pub fn answer_counts(&self) -> String {
        self.key(&["answers"])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_carries_the_hash_tag_and_version_keys_the_version() {
        let k = Keys::new("shop");
        assert_eq!(k.active(), "{shop}:active");
        assert_eq!(k.recs("v1"), "{shop}:recs:v1");
        assert_eq!(k.events("u:1"), "{shop}:events:u:1");
        assert_ne!(k.recs("v1"), k.recs("v10"));
    }
}
