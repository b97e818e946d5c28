//! The one rule every user, item and event id keeps, wherever it enters: interaction files
//! (CSV/TSV, JSON Lines, Parquet), catalogue files, the API's paths and bodies, and events.
//!
//! An id is 1 to [`MAX_ID_CHARS`] characters, has no control character (ids are stored one
//! per line and inside TSV documents; a control character is also a sign of a misread file),
//! and does not begin or end with whitespace: a file reader trims its fields, so `" 50 "` and
//! `"50"` would otherwise be two ids in the API and one in a published catalogue, which
//! then refuses the version. An item id is also not a word the item routes use
//! ([`RESERVED_ITEM_IDS`]), so every item stays reachable at `/api/items/{itemId}`.
//!
//! Readers that trim (the text and Parquet readers) check the trimmed field; the API checks
//! what it was sent, unchanged.

/// The longest id, in characters.
pub const MAX_ID_CHARS: usize = 128;

/// Item ids that would collide with a route under `/api/items/`.
pub const RESERVED_ITEM_IDS: [&str; 1] = ["trending"];

/// The longest version name, in characters.
pub const MAX_VERSION_CHARS: usize = 64;

/// Checks a new version's name: 1 to [`MAX_VERSION_CHARS`] ASCII letters, digits, `.`, `_` or
/// `-`, starting with a letter or digit (generated names are `v20261126T083306Z-ab12cd`). A
/// version name travels in every answer id and becomes a row of the online figures and of the
/// dashboard, so nothing that could read as markup, a separator or a control character gets
/// in.
pub fn check_version_name(name: &str) -> Result<(), String> {
    let ok_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    let shown: String = name.chars().take(80).collect();
    if name.is_empty() || name.chars().count() > MAX_VERSION_CHARS {
        return Err(format!(
            "version name {shown:?} must be 1 to {MAX_VERSION_CHARS} characters"
        ));
    }
    if !name.starts_with(|c: char| c.is_ascii_alphanumeric()) || !name.chars().all(ok_char) {
        return Err(format!(
            "version name {shown:?} may hold only ASCII letters, digits, '.', '_' and '-', and \
             must start with a letter or digit"
        ));
    }
    Ok(())
}

/// Which kind of id is checked (the message names it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdKind {
    /// A user id.
    User,
    /// An item id.
    Item,
    /// An event id (an idempotency key).
    Event,
}

impl IdKind {
    /// What messages call it: "user id", "item id", "event id".
    pub fn noun(self) -> &'static str {
        match self {
            IdKind::User => "user id",
            IdKind::Item => "item id",
            IdKind::Event => "event id",
        }
    }
}

/// Why an id was refused; the message quotes at most 60 characters of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdError(pub String);

// By hand rather than with thiserror: this crate keeps to the few dependencies that build
// for wasm32-wasip2.
impl std::fmt::Display for IdError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for IdError {}

/// Checks `id` against the rule (module docs).
pub fn check(kind: IdKind, id: &str) -> Result<(), IdError> {
    let noun = kind.noun();
    if id.is_empty() {
        return Err(IdError(format!("empty {noun}")));
    }
    // Counting characters is only needed when the bytes could be too many (ingest calls this
    // for every row).
    let chars = if id.len() > MAX_ID_CHARS {
        id.chars().count()
    } else {
        id.len()
    };
    if chars > MAX_ID_CHARS {
        return Err(IdError(format!(
            "{noun} {} has {chars} characters; at most {MAX_ID_CHARS}",
            quote(id)
        )));
    }
    if id.chars().any(char::is_control) {
        return Err(IdError(format!(
            "{noun} {} contains a line break, tab or other control character",
            quote(id)
        )));
    }
    if id.starts_with(char::is_whitespace) || id.ends_with(char::is_whitespace) {
        return Err(IdError(format!(
            "{noun} {} begins or ends with whitespace",
            quote(id)
        )));
    }
    if kind == IdKind::Item && RESERVED_ITEM_IDS.contains(&id) {
        return Err(IdError(format!(
            "item id {id:?} is reserved (it is the route /api/items/{id})"
        )));
    }
    Ok(())
}

/// `s` quoted, cut to 60 characters with an ellipsis.
pub fn quote(s: &str) -> String {
    const MAX: usize = 60;
    if s.chars().count() <= MAX {
        format!("{s:?}")
    } else {
        let head: String = s.chars().take(MAX).collect();
        format!("{head:?}…")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_names_keep_a_plain_alphabet() {
        for ok in ["v20261126T083306Z-ab12cd", "v1", "nightly.2026_12", "7"] {
            assert_eq!(check_version_name(ok), Ok(()), "{ok}");
        }
        let long = "v".repeat(MAX_VERSION_CHARS + 1);
        for bad in [
            "",
            "<img src=x onerror=alert(3)>",
            "v\u{0}1",
            "v 1",
            "-v1",
            ".v1",
            "v:1",
            "vé",
            long.as_str(),
        ] {
            assert!(check_version_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn ordinary_ids_pass() {
        for id in [
            "1",
            "196",
            "sku-00042",
            "Ünïcode ok",
            "a b",
            &"x".repeat(MAX_ID_CHARS),
        ] {
            assert_eq!(check(IdKind::Item, id), Ok(()), "{id:?}");
            assert_eq!(check(IdKind::User, id), Ok(()), "{id:?}");
        }
    }

    #[test]
    fn each_part_of_the_rule_refuses() {
        let refused = |kind, id: &str| check(kind, id).unwrap_err().0;
        assert_eq!(refused(IdKind::Item, ""), "empty item id");
        assert!(refused(IdKind::Item, " ").contains("whitespace"));
        assert!(refused(IdKind::Item, " 50 ").contains("whitespace"));
        assert!(refused(IdKind::User, "50\u{a0}").contains("whitespace"));
        assert!(refused(IdKind::Item, "a\tb").contains("control"));
        assert!(refused(IdKind::Event, "a\nb").contains("event id"));
        assert!(refused(IdKind::Item, &"y".repeat(MAX_ID_CHARS + 1)).contains("129 characters"));
        assert!(refused(IdKind::Item, "trending").contains("reserved"));
        // Only item ids collide with item routes.
        assert_eq!(check(IdKind::User, "trending"), Ok(()));
    }

    #[test]
    fn long_ids_are_quoted_short() {
        let msg = check(IdKind::Item, &"z".repeat(5000)).unwrap_err().0;
        assert!(msg.len() < 200, "{msg}");
        assert!(msg.contains('…'));
    }
}
