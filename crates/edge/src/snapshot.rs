//! The recommendations snapshot: one version's per-user lists and popular list in one compact
//! binary file (`topten export-snapshot`), read in place with no parsing step, so a WebAssembly
//! instance that lives for one request can answer from it at once.
//!
//! Not to be confused with `topten_model::serving_model` (item factors for fold-in): this file holds
//! what the serving path copies into responses, nothing else.
//!
//! # Format (all integers little-endian `u32`; offsets from the start of the file)
//! ```text
//! 0   magic "TTRECS1\0"
//! 8   user count U
//! 12  version offset, version length        (UTF-8 version id)
//! 20  popular list offset
//! 24  index offset: U entries of (user id offset, user id length, list offset),
//!     sorted by user id bytes (binary search)
//! list: item count N, then N entries of (item id offset, item id length, JSON offset, JSON length)
//! ```
//! Each item's JSON is the exact `serde_json` serialisation of the stored item
//! (`{"itemId":..,"score":..,"title"?:..}`), copied into responses as is. Strings are stored
//! once each, after the tables.
//!
//! Items that expire after the export are listed in an optional trailer, so that an edge copy
//! stops serving them when they expire (files without one read as having no expiries):
//! ```text
//! E      expiry count N, then N entries of (item id offset, item id length, expiry low u32,
//!        expiry high u32: epoch seconds as i64), sorted by item id bytes; then the ids
//! end-12 E
//! end-8  magic "TTEXPIR1"
//! ```

use std::cmp::Ordering;

const MAGIC: &[u8; 8] = b"TTRECS1\0";
const HEADER: usize = 28;
const EXPIRY_MAGIC: &[u8; 8] = b"TTEXPIR1";

/// A snapshot file that does not hold what the format promises.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotError(pub String);

impl std::fmt::Display for SnapshotError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "invalid recommendations snapshot: {}", self.0)
    }
}

impl std::error::Error for SnapshotError {}

fn corrupt(what: &str) -> SnapshotError {
    SnapshotError(what.to_owned())
}

/// One stored item: its id (for `exclude`) and its JSON object.
pub type Item = (String, Vec<u8>);

/// Builds a snapshot file.
#[derive(Debug, Default)]
pub struct SnapshotWriter {
    version: String,
    popular: Vec<Item>,
    users: Vec<(String, Vec<Item>)>,
    expiries: Vec<(String, i64)>,
}

impl SnapshotWriter {
    /// A snapshot of `version`.
    pub fn new(version: &str) -> Self {
        SnapshotWriter {
            version: version.to_owned(),
            ..Default::default()
        }
    }

    /// Sets the popular (cold-start) list, best first.
    pub fn set_popular(&mut self, items: Vec<Item>) {
        self.popular = items;
    }

    /// Adds one user's stored list, best first.
    pub fn add_user(&mut self, user_id: &str, items: Vec<Item>) {
        self.users.push((user_id.to_owned(), items));
    }

    /// Sets the items that expire after the export, with their expiry (epoch seconds): an edge
    /// copy leaves each out from then on.
    pub fn set_expiries(&mut self, expiries: Vec<(String, i64)>) {
        self.expiries = expiries;
    }

    /// Number of users added so far.
    pub fn users(&self) -> usize {
        self.users.len()
    }

    /// The file's bytes. Panics past 4 GiB (the offsets are 32-bit).
    pub fn finish(mut self) -> Vec<u8> {
        self.users
            .sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
        self.users.dedup_by(|a, b| a.0 == b.0);
        let lists: usize = 4 * (1 + self.users.len())
            + 16 * (self.popular.len() + self.users.iter().map(|u| u.1.len()).sum::<usize>());
        let tables = HEADER + 12 * self.users.len() + lists;
        let mut head = Vec::with_capacity(tables);
        let mut strings: Vec<u8> = Vec::new();
        let u32_of = |n: usize| u32::try_from(n).expect("snapshot larger than 4 GiB");
        // Strings go after the tables; their offsets are known once the table size is.
        let put_str = |strings: &mut Vec<u8>, s: &[u8]| -> (u32, u32) {
            let off = tables + strings.len();
            strings.extend_from_slice(s);
            (u32_of(off), u32_of(s.len()))
        };
        let push = |v: &mut Vec<u8>, n: u32| v.extend_from_slice(&n.to_le_bytes());
        head.extend_from_slice(MAGIC);
        push(&mut head, u32_of(self.users.len()));
        let (vo, vl) = put_str(&mut strings, self.version.as_bytes());
        push(&mut head, vo);
        push(&mut head, vl);
        let popular_off = HEADER + 12 * self.users.len();
        push(&mut head, u32_of(popular_off));
        push(&mut head, u32_of(HEADER));
        // Index entries point at lists laid out after the popular list, in user order.
        let mut list_off = popular_off + 4 + 16 * self.popular.len();
        let mut index = Vec::with_capacity(12 * self.users.len());
        for (user, items) in &self.users {
            let (o, l) = put_str(&mut strings, user.as_bytes());
            push(&mut index, o);
            push(&mut index, l);
            push(&mut index, u32_of(list_off));
            list_off += 4 + 16 * items.len();
        }
        head.extend_from_slice(&index);
        let write_list = |head: &mut Vec<u8>, strings: &mut Vec<u8>, items: &[Item]| {
            push(head, u32_of(items.len()));
            for (id, json) in items {
                let (io, il) = put_str(strings, id.as_bytes());
                let (jo, jl) = put_str(strings, json);
                for n in [io, il, jo, jl] {
                    push(head, n);
                }
            }
        };
        write_list(&mut head, &mut strings, &self.popular);
        for (_, items) in &self.users {
            write_list(&mut head, &mut strings, items);
        }
        debug_assert_eq!(head.len(), tables);
        head.extend_from_slice(&strings);
        if !self.expiries.is_empty() {
            self.expiries
                .sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            self.expiries.dedup_by(|a, b| a.0 == b.0);
            let start = head.len();
            let mut ids_off = start + 4 + 16 * self.expiries.len();
            push(&mut head, u32_of(self.expiries.len()));
            for (id, t) in &self.expiries {
                push(&mut head, u32_of(ids_off));
                push(&mut head, u32_of(id.len()));
                push(&mut head, *t as u64 as u32);
                push(&mut head, ((*t as u64) >> 32) as u32);
                ids_off += id.len();
            }
            for (id, _) in &self.expiries {
                head.extend_from_slice(id.as_bytes());
            }
            push(&mut head, u32_of(start));
            head.extend_from_slice(EXPIRY_MAGIC);
        }
        head
    }
}

/// A snapshot read in place from its bytes.
#[derive(Debug, Clone, Copy)]
pub struct RecsSnapshot<'a> {
    bytes: &'a [u8],
    users: usize,
    version: &'a str,
    popular_off: usize,
    index_off: usize,
    /// Offset of the expiry table, when the file has one.
    expiry_off: Option<usize>,
}

fn u32_at(bytes: &[u8], off: usize) -> Result<usize, SnapshotError> {
    let b = bytes
        .get(off..off + 4)
        .ok_or_else(|| corrupt("offset past the end"))?;
    Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
}

fn slice_at(bytes: &[u8], off: usize, len: usize) -> Result<&[u8], SnapshotError> {
    bytes
        .get(
            off..off
                .checked_add(len)
                .ok_or_else(|| corrupt("length overflow"))?,
        )
        .ok_or_else(|| corrupt("string past the end"))
}

fn str_at(bytes: &[u8], off: usize, len: usize) -> Result<&str, SnapshotError> {
    std::str::from_utf8(slice_at(bytes, off, len)?).map_err(|_| corrupt("string is not UTF-8"))
}

/// One user's (or the popular) list inside a snapshot.
#[derive(Debug, Clone, Copy)]
pub struct ItemList<'a> {
    bytes: &'a [u8],
    off: usize,
    len: usize,
}

impl<'a> ItemList<'a> {
    /// Number of items.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the list is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The items, best first, as `(item id, JSON object)`; a corrupt entry ends the iteration
    /// early (checked up front by [`RecsSnapshot::verify`]).
    pub fn iter(&self) -> impl Iterator<Item = (&'a str, &'a [u8])> + 'a {
        let (bytes, off) = (self.bytes, self.off);
        (0..self.len).map_while(move |i| {
            let e = off + 4 + 16 * i;
            let id = str_at(bytes, u32_at(bytes, e).ok()?, u32_at(bytes, e + 4).ok()?).ok()?;
            let json = slice_at(
                bytes,
                u32_at(bytes, e + 8).ok()?,
                u32_at(bytes, e + 12).ok()?,
            )
            .ok()?;
            Some((id, json))
        })
    }
}

impl<'a> RecsSnapshot<'a> {
    /// Reads the header (constant time: the tables are read on use, bounds-checked).
    pub fn parse(bytes: &'a [u8]) -> Result<Self, SnapshotError> {
        if bytes.get(..8) != Some(&MAGIC[..]) {
            return Err(corrupt(
                "missing TTRECS1 magic (not a file written by `topten export-snapshot`)",
            ));
        }
        let users = u32_at(bytes, 8)?;
        let version = str_at(bytes, u32_at(bytes, 12)?, u32_at(bytes, 16)?)?;
        let popular_off = u32_at(bytes, 20)?;
        let index_off = u32_at(bytes, 24)?;
        slice_at(
            bytes,
            index_off,
            users
                .checked_mul(12)
                .ok_or_else(|| corrupt("user count overflow"))?,
        )?;
        let expiry_off = match bytes.len().checked_sub(12) {
            Some(end) if bytes.ends_with(EXPIRY_MAGIC) => {
                let off = u32_at(bytes, end)?;
                let n = u32_at(bytes, off)?;
                slice_at(
                    bytes,
                    off + 4,
                    n.checked_mul(16)
                        .ok_or_else(|| corrupt("expiry count overflow"))?,
                )?;
                Some(off)
            }
            _ => None,
        };
        let snap = RecsSnapshot {
            bytes,
            users,
            version,
            popular_off,
            index_off,
            expiry_off,
        };
        snap.list_at(popular_off)?;
        Ok(snap)
    }

    /// Number of items with an expiry.
    pub fn expiries(&self) -> usize {
        self.expiry_off
            .and_then(|off| u32_at(self.bytes, off).ok())
            .unwrap_or(0)
    }

    /// Expiry `i` in id order: (item id, epoch seconds).
    pub fn expiry(&self, i: usize) -> Result<(&'a str, i64), SnapshotError> {
        let off = self.expiry_off.ok_or_else(|| corrupt("no expiry table"))?;
        let e = off + 4 + 16 * i;
        let id = str_at(
            self.bytes,
            u32_at(self.bytes, e)?,
            u32_at(self.bytes, e + 4)?,
        )?;
        let t = (u32_at(self.bytes, e + 8)? as u64) | ((u32_at(self.bytes, e + 12)? as u64) << 32);
        Ok((id, t as i64))
    }

    /// When `item_id` expires (epoch seconds), if the file lists an expiry for it (binary
    /// search).
    pub fn expires_at(&self, item_id: &str) -> Result<Option<i64>, SnapshotError> {
        let Some(off) = self.expiry_off else {
            return Ok(None);
        };
        let (mut lo, mut hi) = (0, u32_at(self.bytes, off)?);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let e = off + 4 + 16 * mid;
            let key = slice_at(
                self.bytes,
                u32_at(self.bytes, e)?,
                u32_at(self.bytes, e + 4)?,
            )?;
            match key.cmp(item_id.as_bytes()) {
                Ordering::Less => lo = mid + 1,
                Ordering::Greater => hi = mid,
                Ordering::Equal => return Ok(Some(self.expiry(mid)?.1)),
            }
        }
        Ok(None)
    }

    /// Whether `item_id` may be served at `now_secs` (it is not past an expiry the file lists).
    pub fn servable_at(&self, item_id: &str, now_secs: i64) -> bool {
        self.expiry_off.is_none()
            || !matches!(self.expires_at(item_id), Ok(Some(t)) if t <= now_secs)
    }

    /// Checks every table entry and string (linear time): what loaders of untrusted files run once.
    pub fn verify(&self) -> Result<(), SnapshotError> {
        let mut prev: Option<&str> = None;
        for i in 0..self.users {
            let (user, list) = self.entry(i)?;
            if prev.is_some_and(|p| p.as_bytes() >= user.as_bytes()) {
                return Err(corrupt("user index is not sorted"));
            }
            prev = Some(user);
            if list.iter().count() != list.len() {
                return Err(corrupt("corrupt item entry"));
            }
        }
        let popular = self.popular()?;
        if popular.iter().count() != popular.len() {
            return Err(corrupt("corrupt popular entry"));
        }
        let mut prev: Option<&str> = None;
        for i in 0..self.expiries() {
            let (id, _) = self.expiry(i)?;
            if prev.is_some_and(|p| p.as_bytes() >= id.as_bytes()) {
                return Err(corrupt("expiry table is not sorted"));
            }
            prev = Some(id);
        }
        Ok(())
    }

    /// The version the snapshot was exported from.
    pub fn version(&self) -> &'a str {
        self.version
    }

    /// Number of users.
    pub fn users(&self) -> usize {
        self.users
    }

    /// The popular list.
    pub fn popular(&self) -> Result<ItemList<'a>, SnapshotError> {
        self.list_at(self.popular_off)
    }

    /// User `i` in id order and their list.
    pub fn entry(&self, i: usize) -> Result<(&'a str, ItemList<'a>), SnapshotError> {
        let e = self.index_off + 12 * i;
        let user = str_at(
            self.bytes,
            u32_at(self.bytes, e)?,
            u32_at(self.bytes, e + 4)?,
        )?;
        Ok((user, self.list_at(u32_at(self.bytes, e + 8)?)?))
    }

    /// One user's list (binary search over the sorted index), `None` for an unknown user.
    pub fn user(&self, user_id: &str) -> Result<Option<ItemList<'a>>, SnapshotError> {
        let (mut lo, mut hi) = (0, self.users);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let e = self.index_off + 12 * mid;
            let key = slice_at(
                self.bytes,
                u32_at(self.bytes, e)?,
                u32_at(self.bytes, e + 4)?,
            )?;
            match key.cmp(user_id.as_bytes()) {
                Ordering::Less => lo = mid + 1,
                Ordering::Greater => hi = mid,
                Ordering::Equal => return Ok(Some(self.list_at(u32_at(self.bytes, e + 8)?)?)),
            }
        }
        Ok(None)
    }

    fn list_at(&self, off: usize) -> Result<ItemList<'a>, SnapshotError> {
        let len = u32_at(self.bytes, off)?;
        slice_at(
            self.bytes,
            off + 4,
            len.checked_mul(16)
                .ok_or_else(|| corrupt("item count overflow"))?,
        )?;
        Ok(ItemList {
            bytes: self.bytes,
            off,
            len,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(id: &str) -> Item {
        (
            id.to_owned(),
            format!("{{\"itemId\":\"{id}\",\"score\":1.0}}").into_bytes(),
        )
    }

    /// What is written is read back: every user by binary search, unknown users absent.
    #[test]
    fn round_trip() {
        let mut w = SnapshotWriter::new("v20260101T000000Z-abc");
        w.set_popular(vec![item("p1"), item("p2")]);
        for u in (0..300).rev() {
            w.add_user(
                &format!("u{u}"),
                (0..u % 7).map(|i| item(&format!("i{u}-{i}"))).collect(),
            );
        }
        w.add_user("é\"", vec![item("x")]);
        let bytes = w.finish();
        let s = RecsSnapshot::parse(&bytes).unwrap();
        s.verify().unwrap();
        assert_eq!(s.version(), "v20260101T000000Z-abc");
        assert_eq!(s.users(), 301);
        assert_eq!(
            s.popular()
                .unwrap()
                .iter()
                .map(|(id, _)| id)
                .collect::<Vec<_>>(),
            ["p1", "p2"]
        );
        for u in 0..300 {
            let list = s.user(&format!("u{u}")).unwrap().unwrap();
            assert_eq!(list.len(), u % 7);
            for (i, (id, json)) in list.iter().enumerate() {
                assert_eq!(id, format!("i{u}-{i}"));
                assert_eq!(json, item(id).1.as_slice());
            }
        }
        assert_eq!(s.user("é\"").unwrap().unwrap().len(), 1);
        assert!(s.user("u300").unwrap().is_none());
        assert!(s.user("").unwrap().is_none());
    }

    /// Expiries round-trip; a file without them reads as having none.
    #[test]
    fn expiries_round_trip() {
        let mut w = SnapshotWriter::new("v");
        w.add_user("a", vec![item("x"), item("offer")]);
        w.set_expiries(vec![("offer".into(), 5_000_000_000), ("b".into(), 100)]);
        let bytes = w.finish();
        let s = RecsSnapshot::parse(&bytes).unwrap();
        s.verify().unwrap();
        assert_eq!(s.expiries(), 2);
        assert_eq!(s.expires_at("offer").unwrap(), Some(5_000_000_000));
        assert_eq!(s.expires_at("b").unwrap(), Some(100));
        assert_eq!(s.expires_at("x").unwrap(), None);
        assert!(s.servable_at("b", 99) && !s.servable_at("b", 100) && s.servable_at("x", 1 << 40));
        assert_eq!(s.user("a").unwrap().unwrap().len(), 2);
        let mut w = SnapshotWriter::new("v");
        w.add_user("a", vec![item("x")]);
        let s2 = w.finish();
        let s2 = RecsSnapshot::parse(&s2).unwrap();
        assert_eq!((s2.expiries(), s2.expires_at("x").unwrap()), (0, None));
        for cut in 0..bytes.len() {
            if let Ok(s) = RecsSnapshot::parse(&bytes[..cut]) {
                let _ = s.verify();
                let _ = s.expires_at("offer");
            }
        }
    }

    /// Truncated or foreign bytes are refused, never read out of bounds.
    #[test]
    fn corrupt_files_are_refused() {
        let mut w = SnapshotWriter::new("v");
        w.add_user("a", vec![item("x")]);
        let bytes = w.finish();
        assert!(RecsSnapshot::parse(b"not a snapshot").is_err());
        for cut in 0..bytes.len() {
            if let Ok(s) = RecsSnapshot::parse(&bytes[..cut]) {
                assert!(
                    s.verify().is_err()
                        || s.user("a").is_err()
                        || s.user("a").unwrap().unwrap().iter().count() == 0
                );
            }
        }
    }
}
