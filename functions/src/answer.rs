//! Which version answers a user, and the signed id each answer carries.
//!
//! While an experiment runs, a user's version follows their arm (the stable split of the
//! experiment kept in the active pointer, which every instance caches), so the choice costs
//! no store read. Every recommendations, similar-items and re-rank answer carries a
//! `recommendationId` (`topten_edge::answer_id`): signed, naming its version, arm, user and
//! items, for events to point back at. The id is made last, from the items the answer holds.

use std::borrow::Cow;

use topten_edge::answer_id::{IdKeys, Stamp};
use topten_experiments::Arm;
use topten_store::ActiveVersion;

use crate::answer_counter::AnswerCounter;

/// The version that answers `user_id`, its arm, and when the answer is given. The version is
/// borrowed from the active pointer: choosing it allocates nothing. Making an answer counts
/// it (per version, arm and hour) for the online figures.
pub struct Answer<'a> {
    /// The version to read and score from.
    pub version: &'a str,
    /// The user's arm while an experiment runs.
    pub arm: Option<Arm>,
    /// When the answer is given (epoch milliseconds).
    pub issued_ms: u64,
    /// Random bits of its id.
    pub nonce: u64,
}

impl<'a> Answer<'a> {
    /// The answer for `user_id` under `active`.
    pub fn for_user(
        active: &'a ActiveVersion,
        user_id: &str,
        counter: &AnswerCounter,
    ) -> Answer<'a> {
        let (version, arm) = active.serving(user_id);
        Answer::of(version, arm, counter)
    }

    /// An answer from `version` that no user decides (similar items; trending).
    pub fn of(version: &'a str, arm: Option<Arm>, counter: &AnswerCounter) -> Answer<'a> {
        let now_ms = topten_model::clock::now_ms();
        counter.count(version, arm, now_ms);
        Answer {
            version,
            arm,
            issued_ms: now_ms.max(0) as u64,
            nonce: rand::random(),
        }
    }

    /// The answer's id, for `user` (`None`: no user asked) listing `items`.
    pub fn id<'i>(
        &self,
        keys: &IdKeys,
        user: Option<&str>,
        items: impl IntoIterator<Item = &'i str>,
    ) -> String {
        let stamp = Stamp {
            version: self.version,
            arm: self.arm.map_or("-", Arm::as_str),
            issued_ms: self.issued_ms,
            nonce: self.nonce,
        };
        keys.sign(&stamp, user, items)
    }
}

/// One item of an answer's JSON array: its id only (other fields are skipped unread).
#[derive(serde::Deserialize)]
struct ListedItem<'a> {
    #[serde(rename = "itemId", borrow)]
    item_id: Cow<'a, str>,
}

/// The item ids of an answer's items, as JSON (`[{"itemId":..}, ..]`), in order: what its id
/// lists. Every list path ends in such an array, so one reader serves them all.
pub fn item_ids(items_json: &[u8]) -> Result<Vec<Cow<'_, str>>, serde_json::Error> {
    if let Some(ids) = scan_item_ids(items_json) {
        return Ok(ids);
    }
    let items: Vec<ListedItem<'_>> = serde_json::from_slice(items_json)?;
    Ok(items.into_iter().map(|i| i.item_id).collect())
}

/// [`item_ids`] of the shape every stored list and fresh scoring writes (`ItemScore`s: each
/// object opens with an `itemId` holding no escape), read in one pass without parsing the
/// rest: the GET path signs every answer over its items, and parsing ~500 bytes of JSON with
/// serde to find ten ids cost about as much as the signature. Written by hand for that reason;
/// anything else (an escape in an id, another key first, as `explain` writes) returns `None`
/// and is parsed. A test holds the two readers to each other.
fn scan_item_ids(json: &[u8]) -> Option<Vec<Cow<'_, str>>> {
    const OPEN: &[u8] = br#"{"itemId":""#;
    let mut out = Vec::with_capacity(16);
    let mut at = 1;
    if json.first() != Some(&b'[') {
        return None;
    }
    if json.get(1) == Some(&b']') {
        return (json.len() == 2).then_some(out);
    }
    loop {
        let rest = json.get(at..)?.strip_prefix(OPEN)?;
        let end = rest.iter().position(|&b| b == b'"' || b == b'\\')?;
        if rest[end] != b'"' {
            return None;
        }
        out.push(Cow::Borrowed(std::str::from_utf8(&rest[..end]).ok()?));
        // Past the rest of the object: strings (with their escapes) and nesting skipped.
        let mut i = at + OPEN.len() + end + 1;
        let (mut depth, mut in_string, mut escaped) = (1usize, false, false);
        while depth > 0 {
            let b = *json.get(i)?;
            if in_string {
                if escaped {
                    escaped = false;
                } else if b == b'\\' {
                    escaped = true;
                } else if b == b'"' {
                    in_string = false;
                }
            } else {
                match b {
                    b'"' => in_string = true,
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => depth -= 1,
                    _ => {}
                }
            }
            i += 1;
        }
        match json.get(i)? {
            b',' => at = i + 1,
            b']' if i + 1 == json.len() => return Some(out),
            _ => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use topten_edge::answer_id::AnswerId;

    /// The scanner and serde read the same ids from every shape a list takes, and the scanner
    /// gives up (serde reads it) where it must.
    #[test]
    fn the_scanner_reads_what_serde_reads() {
        let parsed = |json: &[u8]| -> Vec<String> {
            let items: Vec<ListedItem<'_>> = serde_json::from_slice(json).unwrap();
            items.into_iter().map(|i| i.item_id.into_owned()).collect()
        };
        let scanned = [
            &br#"[]"#[..],
            br#"[{"itemId":"a","score":0.5}]"#,
            br#"[{"itemId":"a","score":1e-3,"title":"x}]{\"itemId\":\"z\"},\\"},{"itemId":"b","score":0.25,"title":"[{"}]"#,
            r#"[{"itemId":"été","score":1.0,"tags":{"a":[1,{"b":"}"}]}},{"itemId":"2","score":0.0}]"#.as_bytes(),
        ];
        for json in scanned {
            let text = String::from_utf8_lossy(json).into_owned();
            let got: Vec<String> = scan_item_ids(json)
                .unwrap_or_else(|| panic!("not scanned: {text}"))
                .into_iter()
                .map(Cow::into_owned)
                .collect();
            assert_eq!(got, parsed(json), "{text}");
            assert_eq!(item_ids(json).unwrap(), got);
        }
        // Shapes the scanner leaves to serde, which still reads them.
        for json in [
            &br#"[{"because":[],"itemId":"a"}]"#[..],
            br#"[{"itemId":"a\"b","score":1}]"#,
            br#"[ {"itemId":"a"}]"#,
        ] {
            assert!(
                scan_item_ids(json).is_none(),
                "{}",
                String::from_utf8_lossy(json)
            );
            assert_eq!(
                item_ids(json)
                    .unwrap()
                    .into_iter()
                    .map(Cow::into_owned)
                    .collect::<Vec<_>>(),
                parsed(json)
            );
        }
        for broken in [
            &b"[{\"itemId\":\"a\""[..],
            b"[{\"itemId\":\"a\"}",
            b"[{\"itemId\":\"a\"}]x",
            b"",
        ] {
            assert!(scan_item_ids(broken).is_none());
            assert!(item_ids(broken).is_err());
        }
    }

    /// The native answers' ids (`functions`) and the edge targets' (`topten_edge::route`) are
    /// one format: each verifies what the other writes.
    #[test]
    fn ids_list_the_items_of_the_json_and_verify() {
        let keys = IdKeys::from_setting("a-key-for-this-test").unwrap();
        let counter = AnswerCounter::new("test".into());
        let answer = Answer::of("v1", Some(Arm::Control), &counter);
        let json = br#"[{"itemId":"a","score":1.0,"title":"{\"itemId\":\"x\"}"},{"because":[{"itemId":"y"}],"itemId":"b\u00e9"}]"#;
        let ids = item_ids(json).unwrap();
        assert_eq!(ids, ["a", "bé"]);
        let id = answer.id(&keys, Some("u1"), ids.iter().map(|c| c.as_ref()));
        let parsed = AnswerId::parse(&id).unwrap();
        assert_eq!((parsed.version, parsed.arm), ("v1", "control"));
        let listed = keys.verify(&parsed, "u1").unwrap();
        assert!(listed.contains("a") && listed.contains("bé"));
        assert!(!listed.contains("x") && !listed.contains("y"));
    }
}
