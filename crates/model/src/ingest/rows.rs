//! One row at a time: fields as UTF-8, the user, item, rating and timestamp parsed and checked,
//! and error messages that name the line and quote a short excerpt of it.

use super::*;

/// Line ends of the blank lines at `at` (which the CSV reader skips before a record).
#[inline]
pub(super) fn blank_lines_at(body: &[u8], at: usize) -> u64 {
    let mut newlines = 0;
    for &b in body.get(at..).unwrap_or_default() {
        match b {
            b'\n' => newlines += 1,
            b'\r' => {}
            _ => break,
        }
    }
    newlines
}

/// Parses one row into `piece`; false when it stops the piece (an error without
/// `skip_bad_rows`).
pub(super) fn accept_row<'a>(
    piece: &mut Piece,
    n: u64,
    fields: impl RowFields<'a>,
    cols: Columns,
    header: bool,
    skip_bad_rows: bool,
) -> bool {
    if (0..fields.count()).all(|i| fields.field(i).is_none_or(|f| f.trim().is_empty())) {
        return true; // a blank line
    }
    match parse_row(fields, cols, header) {
        Ok((user, item, rating, timestamp, has_time)) => {
            piece.has_time |= has_time;
            let u = piece.users.intern(user);
            let i = piece.items.intern(item);
            piece.records.push(Interaction {
                user: u,
                item: i,
                rating,
                timestamp,
            });
            piece.lines.push(n);
            true
        }
        Err(_) if skip_bad_rows => {
            piece.skipped += 1;
            true
        }
        Err(message) => {
            piece.error = Some((n, message));
            false
        }
    }
}

/// The fields of one row as [`parse_row`] reads them: split text (`::` lines) or a CSV record,
/// read in place without copying its fields into an array per row.
pub(super) trait RowFields<'a>: Copy {
    fn count(&self) -> usize;
    fn field(&self, i: usize) -> Option<&'a str>;
}

impl<'a> RowFields<'a> for &[&'a str] {
    fn count(&self) -> usize {
        self.len()
    }
    fn field(&self, i: usize) -> Option<&'a str> {
        self.get(i).copied()
    }
}

/// A CSV record whose fields are known to be valid UTF-8 (checked by the caller).
#[derive(Clone, Copy)]
pub(super) struct Utf8Record<'a>(pub(super) &'a csv::ByteRecord);

impl<'a> RowFields<'a> for Utf8Record<'a> {
    fn count(&self) -> usize {
        self.0.len()
    }
    #[inline]
    fn field(&self, i: usize) -> Option<&'a str> {
        // SAFETY: the caller checked every field (or the whole piece, whose fields are the
        // piece cut at ASCII bytes with ASCII quotes removed) as valid UTF-8.
        self.0
            .get(i)
            .map(|b| unsafe { std::str::from_utf8_unchecked(b) })
    }
}

/// The CSV reader every delimited file is read with: no header handling (the layout code reads
/// the header), rows of any length (checked per row), `\n` or `\r\n` line ends.
pub(super) fn csv_reader(delimiter: u8) -> csv::ReaderBuilder {
    let mut b = csv::ReaderBuilder::new();
    b.delimiter(delimiter)
        .has_headers(false)
        .flexible(true)
        .quoting(true)
        .double_quote(true);
    b
}

/// `bytes` as text: free when the whole piece was valid UTF-8, checked otherwise, so invalid
/// bytes are an error naming the line and never merge two ids through a replacement character.
#[inline]
pub(super) fn field_str(bytes: &[u8], piece_valid: bool) -> Result<&str, String> {
    if piece_valid {
        // SAFETY: `bytes` is a field of a valid UTF-8 piece: the piece cut at ASCII bytes
        // (delimiters, line ends) with ASCII quotes removed, which keeps it valid UTF-8.
        Ok(unsafe { std::str::from_utf8_unchecked(bytes) })
    } else {
        std::str::from_utf8(bytes).map_err(|e| {
            format!(
                "invalid UTF-8 at byte {} of field {}",
                e.valid_up_to(),
                excerpt(&String::from_utf8_lossy(bytes))
            )
        })
    }
}

/// At most [`EXCERPT_CHARS`] characters of `text`, quoted, for messages: a 10 MB field is
/// named, not printed.
pub(crate) fn excerpt(text: &str) -> String {
    match text.char_indices().nth(EXCERPT_CHARS) {
        None => format!("{text:?}"),
        Some((cut, _)) => format!("{:?}... ({} bytes in all)", &text[..cut], text.len()),
    }
}

/// Longest excerpt of input quoted in an error message.
pub(super) const EXCERPT_CHARS: usize = 60;

/// Most fields a row may have; later fields are ignored (a headerless row reaching this many
/// is reported as having too many fields).
pub(super) const MAX_FIELDS: usize = 32;

pub(super) type Row<'a> = (&'a str, &'a str, f64, i64, bool);

pub(super) fn parse_row<'a>(
    fields: impl RowFields<'a>,
    cols: Columns,
    header: bool,
) -> Result<Row<'a>, String> {
    let found = fields.count();
    if found < cols.min_fields {
        return Err(format!(
            "expected at least {} fields, found {}",
            cols.min_fields, found
        ));
    }
    if !header && found > 4 {
        return Err(format!(
            "expected 2 to 4 fields (user, item, rating, timestamp), found {}",
            found
        ));
    }
    let user = fields.field(cols.user).unwrap_or_default().trim();
    let item = fields.field(cols.item).unwrap_or_default().trim();
    check_id("user", user)?;
    check_id("item", item)?;
    let rating = match cols.rating.and_then(|c| fields.field(c)) {
        None => 1.0,
        Some(raw) => {
            let raw = raw.trim();
            let r: f64 = match small_integer(raw) {
                Some(v) => v,
                None => raw
                    .parse()
                    .map_err(|_| format!("rating {} is not a number", excerpt(raw)))?,
            };
            check_rating(r, raw)?;
            r
        }
    };
    let (timestamp, has_time) = match cols.time.and_then(|c| fields.field(c)) {
        None => (0, false),
        Some(raw) => (parse_timestamp(raw.trim())?, true),
    };
    Ok((user, item, rating, timestamp, has_time))
}

/// Checks an id against [`crate::ids`]' rule (`what` is "user" or "item"); the reader trims
/// fields before, so an id is checked as it is stored.
pub(super) fn check_id(what: &str, id: &str) -> Result<(), String> {
    let kind = if what == "item" {
        crate::ids::IdKind::Item
    } else {
        crate::ids::IdKind::User
    };
    crate::ids::check(kind, id).map_err(|e| e.0)
}

/// Checks a rating: finite and within [`MAX_ABS_VALUE`]; `raw` is how the input wrote it.
pub(super) fn check_rating(r: f64, raw: &str) -> Result<(), String> {
    if !r.is_finite() {
        return Err(format!("rating {} is not finite", excerpt(raw)));
    }
    if r.abs() > MAX_ABS_VALUE {
        return Err(format!(
            "rating {} is out of range (at most {MAX_ABS_VALUE:e} in magnitude)",
            excerpt(raw)
        ));
    }
    Ok(())
}

/// Star ratings are mostly one or two digits: parse those without the general float parser.
#[inline]
pub(super) fn small_integer(raw: &str) -> Option<f64> {
    let b = raw.as_bytes();
    if b.is_empty() || b.len() > 3 || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(b.iter().fold(0u32, |acc, d| acc * 10 + (d - b'0') as u32) as f64)
}

pub(super) fn parse_timestamp(raw: &str) -> Result<i64, String> {
    if let Ok(t) = raw.parse::<i64>() {
        return Ok(t);
    }
    // RecBole and pandas exports write epoch seconds as floats (`874965758.0`).
    match raw.parse::<f64>() {
        Ok(t) if t.is_finite() && t.abs() < 9.0e18 => Ok(t as i64),
        _ => Err(format!("timestamp {} is not epoch seconds", excerpt(raw))),
    }
}
