//! Signed answer ids: the `recommendationId` every answer carries, and the check an event's id
//! must pass before it is attributed to that answer.
//!
//! An id names the version and experiment arm that served the answer, when it was served, and
//! which items it held, and carries an HMAC-SHA256 over all of that and the user it was served
//! to. So an event is credited to an answer only when the id was issued by topten (a client
//! cannot make one up or edit one), to the event's own user (user B cannot reuse user A's id),
//! and listed the event's item (an id cannot credit an item it did not show).
//!
//! Text form, fields separated by `:` and parsed from the right (the last five have fixed
//! forms; a version name written before names were checked may hold a `:`):
//!
//! ```text
//! r2:{version}:{arm}:{issued ms, hex}{nonce, 16 hex}:{scope}:{item tags}:{mac}
//! ```
//!
//! - `arm`: `control`, `candidate` or `-` (no experiment);
//! - `scope`: `u` when the answer was served to a user (the MAC covers the user id), `-` when
//!   no user asked (similar items): such an id is accepted from any user;
//! - `item tags`: for each listed item (the first [`MAX_TAGGED_ITEMS`]), 24 bits of SipHash-1-3
//!   of its id under a key derived from the signing key, base64url (4 characters per item);
//! - `mac`: the first 120 bits of HMAC-SHA256 over the text before it, a line feed and the user
//!   id (nothing after the line feed for scope `-`), base64url (20 characters).
//!
//! Keys ([`IdKeys`]): the first key signs, every key verifies, so a key is rotated by putting
//! the new one first and dropping the old one once the attribution window has passed; ids in
//! flight keep verifying meanwhile.
//!
//! The answer's item set travels in the id instead of being stored: the GET path keeps its one
//! store read and writes nothing. A tag is not a secret-free hash (its key comes from the
//! signing key), so a client cannot search offline for an item whose tag matches one of its
//! answer's; one guessed online succeeds with odds of about k in 16.7 million.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// What every id of this format starts with.
pub const PREFIX: &str = "r2:";
/// Items of an answer that its id lists (the rest of a longer answer cannot be credited).
pub const MAX_TAGGED_ITEMS: usize = 500;
/// The longest version name an id may carry (new versions are checked to [`crate::ids`]'s
/// version rule, 64 characters).
const MAX_VERSION_CHARS: usize = 200;
/// The longest id [`IdKeys::sign`] writes: what an event's `recommendationId` may hold.
pub const MAX_ID_LEN: usize = PREFIX.len()
    + MAX_VERSION_CHARS
    + ":candidate:".len()
    + 32
    + ":u:".len()
    + 4 * MAX_TAGGED_ITEMS
    + 1
    + MAC_CHARS;
/// The shortest secret a key may have (bytes).
pub const MIN_SECRET_LEN: usize = 16;

const MAC_BYTES: usize = 15;
const MAC_CHARS: usize = 20;
const TAG_BYTES: usize = 3;
const TAG_CHARS: usize = 4;

type HmacSha256 = Hmac<Sha256>;

/// One signing key: the HMAC state keyed once (cloned per id, so no id pays for keying) and the
/// SipHash key of its item tags.
#[derive(Clone)]
struct Key {
    mac: HmacSha256,
    tag_key: [u8; 16],
}

impl Key {
    fn new(secret: &[u8]) -> Key {
        let mac = HmacSha256::new_from_slice(secret).expect("HMAC takes a key of any length");
        // The tag key is derived, not the secret itself: a tag never reveals anything of it.
        let mut derive = mac.clone();
        derive.update(b"topten answer id item tags");
        let digest = derive.finalize().into_bytes();
        let mut tag_key = [0u8; 16];
        tag_key.copy_from_slice(&digest[..16]);
        Key { mac, tag_key }
    }

    fn tag(&self, item_id: &str) -> [u8; TAG_BYTES] {
        let h = siphasher::sip::SipHasher13::new_with_key(&self.tag_key).hash(item_id.as_bytes());
        let b = h.to_le_bytes();
        [b[0], b[1], b[2]]
    }

    /// The MAC state over an id's text and its user (`None`: an answer no user asked for).
    fn keyed(&self, signed: &str, user: Option<&str>) -> HmacSha256 {
        let mut m = self.mac.clone();
        m.update(signed.as_bytes());
        if let Some(user) = user {
            m.update(b"\n");
            m.update(user.as_bytes());
        }
        m
    }

    fn mac(&self, signed: &str, user: Option<&str>) -> [u8; MAC_BYTES] {
        let digest = self.keyed(signed, user).finalize().into_bytes();
        let mut out = [0u8; MAC_BYTES];
        out.copy_from_slice(&digest[..MAC_BYTES]);
        out
    }
}

/// The keys answer ids are signed and checked with: the first signs, all verify.
#[derive(Clone)]
pub struct IdKeys {
    keys: Vec<Key>,
}

impl std::fmt::Debug for IdKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "IdKeys({} key(s), secrets hidden)", self.keys.len())
    }
}

/// Why a key setting is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// No key at all.
    #[error("no key given")]
    Empty,
    /// A key shorter than [`MIN_SECRET_LEN`] bytes.
    #[error("key {index} is {len} bytes; an id key must be at least {MIN_SECRET_LEN} bytes")]
    TooShort {
        /// Its position (1-based) in the comma-separated list.
        index: usize,
        /// Its length.
        len: usize,
    },
}

impl IdKeys {
    /// Keys from their secrets, the signing one first.
    pub fn new(secrets: &[&[u8]]) -> Result<IdKeys, KeyError> {
        if secrets.is_empty() {
            return Err(KeyError::Empty);
        }
        for (i, s) in secrets.iter().enumerate() {
            if s.len() < MIN_SECRET_LEN {
                return Err(KeyError::TooShort {
                    index: i + 1,
                    len: s.len(),
                });
            }
        }
        Ok(IdKeys {
            keys: secrets.iter().map(|s| Key::new(s)).collect(),
        })
    }

    /// Keys from a setting such as `TOPTEN_ID_KEY`: comma-separated secrets, the signing one
    /// first (surrounding spaces ignored).
    pub fn from_setting(value: &str) -> Result<IdKeys, KeyError> {
        let secrets: Vec<&[u8]> = value
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::as_bytes)
            .collect();
        IdKeys::new(&secrets)
    }

    /// A key derived from the API key, for deployments that set only `TOPTEN_API_KEY`: every
    /// instance with the same API key signs alike, and the id key never equals the API key.
    pub fn derived_from_api_key(api_key: &str) -> IdKeys {
        let mut m = HmacSha256::new_from_slice(api_key.as_bytes()).expect("any key length");
        m.update(b"topten recommendation id key v2");
        let secret = m.finalize().into_bytes();
        IdKeys {
            keys: vec![Key::new(&secret)],
        }
    }

    /// A key from random bytes the caller supplies (this crate has no randomness): ids then
    /// verify only in the process that made them.
    pub fn from_random(bytes: [u8; 32]) -> IdKeys {
        IdKeys {
            keys: vec![Key::new(&bytes)],
        }
    }

    /// The id of an answer served by `version` (in `arm`: `control`, `candidate` or `-`) at
    /// `issued_ms`, to `user` (`None`: no user asked), listing `items` in order.
    pub fn sign<'i>(
        &self,
        stamp: &Stamp<'_>,
        user: Option<&str>,
        items: impl IntoIterator<Item = &'i str>,
    ) -> String {
        let key = &self.keys[0];
        let mut out = String::with_capacity(64 + stamp.version.len() + 4 * 10 + MAC_CHARS);
        out.push_str(PREFIX);
        out.push_str(stamp.version);
        out.push(':');
        out.push_str(stamp.arm);
        out.push(':');
        push_hex(&mut out, stamp.issued_ms, 1);
        push_hex(&mut out, stamp.nonce, 16);
        out.push_str(if user.is_some() { ":u:" } else { ":-:" });
        for item in items.into_iter().take(MAX_TAGGED_ITEMS) {
            URL_SAFE_NO_PAD.encode_string(key.tag(item), &mut out);
        }
        let mac = key.mac(&out, user);
        out.push(':');
        URL_SAFE_NO_PAD.encode_string(mac, &mut out);
        out
    }

    /// Checks `id` as sent with an event of `user`: the MAC (with the user, for a user's
    /// answer) under one of the keys. On success, what the answer listed.
    pub fn verify<'a>(&self, id: &AnswerId<'a>, user: &str) -> Result<Listed, Rejected> {
        let mut sent = [0u8; MAC_BYTES];
        if URL_SAFE_NO_PAD.decode_slice(id.mac, &mut sent) != Ok(MAC_BYTES) {
            return Err(Rejected::Malformed);
        }
        let user = id.personal.then_some(user);
        // Constant time comparisons: `verify_truncated_left` of the hmac crate checks the
        // leading bytes without early exit.
        let key = self
            .keys
            .iter()
            .find(|k| {
                k.keyed(id.signed, user)
                    .verify_truncated_left(&sent)
                    .is_ok()
            })
            .ok_or(Rejected::Signature)?;
        let raw = URL_SAFE_NO_PAD
            .decode(id.tags)
            .map_err(|_| Rejected::Malformed)?;
        Ok(Listed {
            tags: raw
                .chunks_exact(TAG_BYTES)
                .map(|c| [c[0], c[1], c[2]])
                .collect(),
            key: key.clone(),
        })
    }
}

/// What an answer id is made of besides its user and items.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp<'a> {
    /// The version that served the answer.
    pub version: &'a str,
    /// `control`, `candidate` or `-`.
    pub arm: &'a str,
    /// Epoch milliseconds.
    pub issued_ms: u64,
    /// Random bits that make ids of the same millisecond differ.
    pub nonce: u64,
}

/// The items a verified id's answer listed.
#[derive(Clone)]
pub struct Listed {
    tags: Vec<[u8; TAG_BYTES]>,
    key: Key,
}

impl std::fmt::Debug for Listed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Listed({} items)", self.tags.len())
    }
}

impl Listed {
    /// Whether the answer listed `item_id`.
    pub fn contains(&self, item_id: &str) -> bool {
        let tag = self.key.tag(item_id);
        self.tags.contains(&tag)
    }

    /// How many items the answer listed.
    pub fn len(&self) -> usize {
        self.tags.len()
    }

    /// Whether the answer listed nothing.
    pub fn is_empty(&self) -> bool {
        self.tags.is_empty()
    }
}

/// Why an id is not credited. The stable names are the `reason` label of
/// `topten_unattributed_ids_total` in `/api/metrics`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, thiserror::Error)]
pub enum Rejected {
    /// Not an id of this format (also an unsigned `r1:` id of an older release).
    #[error("not a signed recommendation id")]
    Malformed,
    /// The MAC does not check: made up, edited, signed with a retired key, or another user's.
    #[error("its signature does not check (forged, altered, or another user's id)")]
    Signature,
    /// The version it names does not exist (any more).
    #[error("its version does not exist")]
    UnknownVersion,
    /// The event's item was not in the answer.
    #[error("the item was not in that answer")]
    NotListed,
    /// The answer lies outside the attribution window of the event.
    #[error("the answer lies outside the attribution window")]
    OutsideWindow,
}

impl Rejected {
    /// Every reason, in a stable order.
    pub const ALL: [Rejected; 5] = [
        Rejected::Malformed,
        Rejected::Signature,
        Rejected::UnknownVersion,
        Rejected::NotListed,
        Rejected::OutsideWindow,
    ];

    /// The metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Rejected::Malformed => "malformed",
            Rejected::Signature => "signature",
            Rejected::UnknownVersion => "unknown_version",
            Rejected::NotListed => "not_listed",
            Rejected::OutsideWindow => "outside_window",
        }
    }
}

/// An id's fields, parsed but not yet verified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AnswerId<'a> {
    /// The version named.
    pub version: &'a str,
    /// `control`, `candidate` or `-`.
    pub arm: &'a str,
    /// When the answer was served (epoch milliseconds).
    pub issued_ms: u64,
    /// Random bits.
    pub nonce: u64,
    /// Whether a user's answer (the MAC covers the user).
    pub personal: bool,
    /// The text the MAC covers.
    signed: &'a str,
    tags: &'a str,
    mac: &'a str,
}

impl<'a> AnswerId<'a> {
    /// Parses the text form (no verification: see [`IdKeys::verify`]).
    pub fn parse(s: &'a str) -> Result<AnswerId<'a>, Rejected> {
        let bad = Rejected::Malformed;
        // Bytes, four per character at most: the character limit is the API's (events).
        if s.len() > 4 * MAX_ID_LEN {
            return Err(bad);
        }
        let rest = s.strip_prefix(PREFIX).ok_or(bad)?;
        let (signed_rest, mac) = rest.rsplit_once(':').ok_or(bad)?;
        let (rest, tags) = signed_rest.rsplit_once(':').ok_or(bad)?;
        let (rest, scope) = rest.rsplit_once(':').ok_or(bad)?;
        let (rest, stamp) = rest.rsplit_once(':').ok_or(bad)?;
        let (version, arm) = rest.rsplit_once(':').ok_or(bad)?;
        let personal = match scope {
            "u" => true,
            "-" => false,
            _ => return Err(bad),
        };
        if !matches!(arm, "-" | "control" | "candidate")
            || version.is_empty()
            || version.contains(['\n', '\r'])
            || !(17..=32).contains(&stamp.len())
            || mac.len() != MAC_CHARS
            || tags.len() % TAG_CHARS != 0
        {
            return Err(bad);
        }
        let (ms, nonce) = stamp.split_at(stamp.len() - 16);
        Ok(AnswerId {
            version,
            arm,
            issued_ms: u64::from_str_radix(ms, 16).map_err(|_| bad)?,
            nonce: u64::from_str_radix(nonce, 16).map_err(|_| bad)?,
            personal,
            signed: &s[..PREFIX.len() + signed_rest.len()],
            tags,
            mac,
        })
    }
}

/// Whether `s` has the form of the unsigned ids of releases before signing
/// (`r1:{version}:{arm}:{stamp}`): still accepted with an event, so that an id a page received
/// before an upgrade does not fail its event, but never credited.
pub fn is_unsigned_form(s: &str) -> bool {
    let Some(rest) = s.strip_prefix("r1:") else {
        return false;
    };
    let Some((rest, stamp)) = rest.rsplit_once(':') else {
        return false;
    };
    let Some((version, arm)) = rest.rsplit_once(':') else {
        return false;
    };
    matches!(arm, "-" | "control" | "candidate")
        && !version.is_empty()
        && !version.contains(['\n', '\r'])
        && (17..=32).contains(&stamp.len())
        && stamp.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Appends `value` in lower-case hex, zero-padded to at least `width` digits (`{:0width$x}`).
/// Written by hand, not with `format!`: every answer makes an id, on the GET path.
fn push_hex(out: &mut String, value: u64, width: usize) {
    let digits = (16 - value.leading_zeros() as usize / 4).max(width);
    for shift in (0..digits).rev() {
        let nibble = (value >> (4 * shift)) as u8 & 0xf;
        out.push(char::from(b"0123456789abcdef"[nibble as usize]));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(secret: &str) -> IdKeys {
        IdKeys::from_setting(secret).unwrap()
    }

    fn stamp(version: &str) -> Stamp<'_> {
        Stamp {
            version,
            arm: "candidate",
            issued_ms: 1_764_270_000_123,
            nonce: 0xdead_beef,
        }
    }

    /// The hand-written hex is `format!`'s, at both widths the ids use.
    #[test]
    fn push_hex_is_formats_hex() {
        for v in [
            0,
            1,
            0xf,
            0x10,
            0xdead_beef,
            1_764_270_000_123,
            u64::MAX >> 4,
            u64::MAX,
        ] {
            for width in [1, 16] {
                let mut out = String::new();
                push_hex(&mut out, v, width);
                assert_eq!(out, format!("{v:0width$x}"), "{v} at width {width}");
            }
        }
    }

    #[test]
    fn a_signed_id_parses_back_and_verifies_for_its_user_and_items_only() {
        let k = keys("0123456789abcdef-secret");
        let items = ["i1", "i2", "ü 3"];
        for version in ["v20261127T192605Z-1402d2", "nightly:2026:11"] {
            let id = k.sign(&stamp(version), Some("alice"), items);
            assert!(id.starts_with("r2:"), "{id}");
            assert!(id.len() <= MAX_ID_LEN);
            let parsed = AnswerId::parse(&id).unwrap();
            assert_eq!(
                (
                    parsed.version,
                    parsed.arm,
                    parsed.issued_ms,
                    parsed.nonce,
                    parsed.personal
                ),
                (version, "candidate", 1_764_270_000_123, 0xdead_beef, true)
            );
            let listed = k.verify(&parsed, "alice").unwrap();
            assert_eq!(listed.len(), 3);
            for item in items {
                assert!(listed.contains(item), "{item}");
            }
            assert!(!listed.contains("i4"));
            assert!(!listed.contains("i"));
            // Another user, another key: the signature does not check.
            assert_eq!(k.verify(&parsed, "bob").unwrap_err(), Rejected::Signature);
            assert_eq!(
                keys("another-secret-of-16+")
                    .verify(&parsed, "alice")
                    .unwrap_err(),
                Rejected::Signature
            );
        }
    }

    #[test]
    fn any_edit_breaks_the_signature() {
        let k = keys("0123456789abcdef-secret");
        let id = k.sign(&stamp("v1"), Some("alice"), ["i1", "i2"]);
        // Each field changed in place: version, arm, stamp, scope, tags, mac.
        let edits = [
            id.replacen(":v1:", ":v2:", 1),
            id.replacen(":candidate:", ":control:", 1),
            id.replacen("deadbeef", "deadbeee", 1),
            id.replacen(":u:", ":-:", 1),
        ];
        for edited in &edits {
            let parsed = AnswerId::parse(edited).unwrap();
            assert_eq!(
                k.verify(&parsed, "alice").unwrap_err(),
                Rejected::Signature,
                "{edited}"
            );
        }
        // The item tags of another answer (i9 for i2) under this answer's MAC.
        let other = k.sign(&stamp("v1"), Some("alice"), ["i1", "i9"]);
        let (other_head, _) = other.rsplit_once(':').unwrap();
        let (_, mac) = id.rsplit_once(':').unwrap();
        let spliced = format!("{other_head}:{mac}");
        assert_ne!(spliced, id);
        assert_eq!(
            k.verify(&AnswerId::parse(&spliced).unwrap(), "alice")
                .unwrap_err(),
            Rejected::Signature
        );
    }

    #[test]
    fn a_user_less_answer_verifies_for_anyone_and_rotation_keeps_old_ids() {
        let old = keys("the-old-secret-0123");
        let id = old.sign(&stamp("v1"), None, ["i1"]);
        let parsed = AnswerId::parse(&id).unwrap();
        assert!(!parsed.personal);
        assert!(old.verify(&parsed, "anyone").unwrap().contains("i1"));
        // Rotated: the new key signs, the old one still verifies.
        let rotated = keys("the-new-secret-4567, the-old-secret-0123");
        assert!(rotated.verify(&parsed, "someone").unwrap().contains("i1"));
        let fresh = rotated.sign(&stamp("v1"), None, ["i1"]);
        assert_eq!(
            old.verify(&AnswerId::parse(&fresh).unwrap(), "x")
                .unwrap_err(),
            Rejected::Signature
        );
        // Retired: the old key is gone.
        assert_eq!(
            keys("the-new-secret-4567")
                .verify(&parsed, "x")
                .unwrap_err(),
            Rejected::Signature
        );
    }

    #[test]
    fn keys_and_ids_that_are_not_accepted() {
        assert_eq!(IdKeys::from_setting(" , ").unwrap_err(), KeyError::Empty);
        assert_eq!(
            IdKeys::from_setting("long-enough-secret-1,short").unwrap_err(),
            KeyError::TooShort { index: 2, len: 5 }
        );
        let k = keys("0123456789abcdef-secret");
        let good = k.sign(&stamp("v1"), Some("u"), ["a"]);
        for bad in [
            String::new(),
            "r1:v1:-:ff0000000000000001".to_owned(),
            good.replacen(":u:", ":x:", 1),
            good.replacen(":candidate:", ":blue:", 1),
            format!("{good}A"),
            good.replacen("r2:v1", "r2:", 1),
            format!(
                "r2:{}:-:ff0000000000000001:u::{}",
                "v".repeat(20_000),
                "A".repeat(20)
            ),
        ] {
            assert_eq!(
                AnswerId::parse(&bad).unwrap_err(),
                Rejected::Malformed,
                "{bad}"
            );
        }
        assert!(is_unsigned_form("r1:v1:-:ff0000000000000001"));
        assert!(is_unsigned_form("r1:a:b:control:FF0000000000000001"));
        for not in [
            "r1:v1:blue:ff0000000000000001",
            "r1::-:ff0000000000000001",
            "r1:v1:-:zz0000000000000001",
            &good,
        ] {
            assert!(!is_unsigned_form(not), "{not}");
        }
        // A derived key signs like itself and unlike the API key taken as a secret.
        let api = "an-api-key-of-32-characters-long";
        let derived = IdKeys::derived_from_api_key(api);
        let id = derived.sign(&stamp("v1"), Some("u"), ["a"]);
        let parsed = AnswerId::parse(&id).unwrap();
        assert!(IdKeys::derived_from_api_key(api)
            .verify(&parsed, "u")
            .is_ok());
        assert!(keys(api).verify(&parsed, "u").is_err());
        assert!(format!("{derived:?}").contains("hidden"));
    }

    /// 24-bit tags: an item outside a 10-item answer is taken for a listed one about 10 times
    /// in 16.7 million; over 20,000 made-up items, none is.
    #[test]
    fn tags_rarely_collide() {
        let k = keys("0123456789abcdef-secret");
        let items: Vec<String> = (0..10).map(|i| format!("item-{i}")).collect();
        let id = k.sign(&stamp("v1"), Some("u"), items.iter().map(String::as_str));
        let listed = k.verify(&AnswerId::parse(&id).unwrap(), "u").unwrap();
        let false_hits = (0..20_000)
            .filter(|i| listed.contains(&format!("other-{i}")))
            .count();
        assert_eq!(false_hits, 0);
    }

    /// A fixed id, checked against independent computations: the MAC with Python's
    /// `hmac.new(key, (head + "\nalice").encode(), hashlib.sha256).digest()[:15]`, the tags
    /// with a reference SipHash-1-3 in Python under the key
    /// `hmac(key, b"topten answer id item tags")[:16]`.
    #[test]
    fn a_fixed_vector_matches_independent_computations() {
        let k = keys("0123456789abcdef-secret");
        let s = Stamp {
            version: "v1",
            arm: "candidate",
            issued_ms: 1_764_270_000_123,
            nonce: 0xdead_beef,
        };
        assert_eq!(
            k.sign(&s, Some("alice"), ["i1", "i2"]),
            "r2:v1:candidate:19ac6afc7fb00000000deadbeef:u:7J5W75lg:vBQ5s2lia2j2vBqvnHSe"
        );
    }
}
