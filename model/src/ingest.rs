//! Readers for the rating files users bring: MovieLens 100K `u.data`, MovieLens 1M/10M
//! `ratings.dat`, MovieLens 20M+ `ratings.csv` and generic CSV/TSV with named columns.
//!
//! The layout is detected from the first line unless overridden:
//! - a line containing `::` is a headerless `ratings.dat` (`user::item::rating::timestamp`);
//! - otherwise the delimiter is a tab, else a comma, else a semicolon;
//! - the first line is a header when one of its fields is a known column name
//!   (`userId`, `user_id:token`, `item`, `movieId`, `rating`, `timestamp`, ...), or when a
//!   field in the rating/timestamp position is not a number. Headerless files are positional:
//!   `user, item[, rating[, timestamp]]` (a missing rating means 1.0, an implicit event).
//!
//! Comma, tab and semicolon files are read as RFC 4180 CSV by the `csv` crate: a quoted field
//! may hold the delimiter, doubled quotes or line breaks (in columns other than the ids). Files
//! are cut into blocks and pieces only between records (outside quotes), so every piece parses
//! on its own thread with the same result as one sequential pass.
//!
//! Defined behaviour for awkward input (documented in the README):
//! - a malformed row (too few fields, unparsable rating or timestamp, NaN/inf rating, a rating
//!   beyond [`MAX_ABS_VALUE`], empty id, an id with a line break or control character, invalid
//!   UTF-8) is an error naming file and line, or is skipped and counted with `skip_bad_rows`;
//!   messages quote at most 60 characters of the input;
//! - a UTF-8 byte-order mark at the start of the file is dropped;
//! - a file with no data rows is an error;
//! - duplicate (user, item) pairs follow [`DuplicatePolicy`] (default: the last row wins).

use std::fs::File;
use std::io::Read;
use std::path::Path;

use crate::interactions::{IdMap, Interaction, Ratings, MAX_ABS_VALUE};

/// What the reader should assume about the file layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// Detect from the first line.
    #[default]
    Auto,
    /// Tab-separated, no header: `user item [rating [timestamp]]` (MovieLens 100K `u.data`).
    UData,
    /// `::`-separated, no header (MovieLens 1M/10M `ratings.dat`).
    Dat,
    /// Comma-separated with a header line (MovieLens `ratings.csv`, exports).
    Csv,
    /// Tab-separated with a header line (what `topten split` writes).
    Tsv,
}

/// What to do when the same (user, item) pair appears more than once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DuplicatePolicy {
    /// The later row replaces the earlier one's rating and timestamp (re-ratings win).
    #[default]
    Last,
    /// The earlier row is kept, later ones dropped.
    First,
    /// Ratings are summed and the latest timestamp kept (click logs: counts add up).
    Sum,
    /// A duplicate is an error naming both lines.
    Error,
}

/// Options for [`read_ratings`].
#[derive(Debug, Clone, Default)]
pub struct ReadOptions {
    /// Layout override; [`Format::Auto`] detects it.
    pub format: Format,
    /// Header name of the user column (defaults to the first known user-like name).
    pub user_col: Option<String>,
    /// Header name of the item column.
    pub item_col: Option<String>,
    /// Header name of the rating column; without one, every row counts as 1.0.
    pub rating_col: Option<String>,
    /// Header name of the timestamp column.
    pub time_col: Option<String>,
    /// Skip and count malformed rows instead of failing on the first one.
    pub skip_bad_rows: bool,
    /// Duplicate (user, item) handling.
    pub duplicates: DuplicatePolicy,
}

/// What reading a file found, for logs and for users who wonder where rows went.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct ReadReport {
    /// Data rows parsed successfully (before duplicate handling).
    pub rows: usize,
    /// Malformed rows skipped (only with `skip_bad_rows`).
    pub skipped: usize,
    /// Duplicate (user, item) rows folded into an earlier one.
    pub duplicates: usize,
    /// Whether a header line was present.
    pub header: bool,
}

/// Errors while reading interactions. Every variant names the source so that users can act.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IngestError {
    /// The file could not be opened or read.
    #[error("{source_name}: {source}")]
    Io {
        /// File name or URI.
        source_name: String,
        /// Underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A row could not be parsed.
    #[error("{source_name}:{line}: {message}")]
    Malformed {
        /// File name or URI.
        source_name: String,
        /// 1-based line number.
        line: usize,
        /// What is wrong with the row.
        message: String,
    },
    /// The header lacks a column the reader needs.
    #[error("{source_name}:1: no {role} column in header {header}; name it with --{role}-col")]
    MissingColumn {
        /// File name or URI.
        source_name: String,
        /// `user`, `item`, `rating` or `time`.
        role: &'static str,
        /// The header as read.
        header: String,
    },
    /// A duplicate (user, item) pair under [`DuplicatePolicy::Error`].
    #[error("{source_name}:{line}: duplicate pair (user {user}, item {item}), first seen on line {first_line}")]
    Duplicate {
        /// File name or URI.
        source_name: String,
        /// Line of the duplicate.
        line: usize,
        /// Line where the pair first appeared.
        first_line: usize,
        /// User id.
        user: String,
        /// Item id.
        item: String,
    },
    /// The file holds no data rows.
    #[error("{source_name}: no interactions found (empty file or header only)")]
    Empty {
        /// File name or URI.
        source_name: String,
    },
}

/// Reads a ratings file from disk, parsing blocks of lines on all cores. See the module docs
/// for the formats understood; results are identical to [`read_ratings_from`]'s.
pub fn read_ratings(path: &Path, opts: &ReadOptions) -> Result<(Ratings, ReadReport), IngestError> {
    let name = path.display().to_string();
    let file = File::open(path).map_err(|source| IngestError::Io {
        source_name: name.clone(),
        source,
    })?;
    read_ratings_parallel(file, &name, opts)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Delimiter {
    Tab,
    Comma,
    Semicolon,
    DoubleColon,
}

impl Delimiter {
    /// The single byte the CSV reader splits on (`None` for `::`).
    fn byte(self) -> Option<u8> {
        match self {
            Delimiter::Tab => Some(b'\t'),
            Delimiter::Comma => Some(b','),
            Delimiter::Semicolon => Some(b';'),
            Delimiter::DoubleColon => None,
        }
    }

    /// All fields of one line (header and layout detection), quotes resolved as for data rows.
    fn fields(self, line: &str) -> Vec<String> {
        match self.byte() {
            None => line.split("::").map(str::to_owned).collect(),
            Some(b) => {
                let mut record = csv::StringRecord::new();
                match csv_reader(b)
                    .from_reader(line.as_bytes())
                    .read_record(&mut record)
                {
                    Ok(true) => record.iter().map(str::to_owned).collect(),
                    _ => vec![line.to_owned()],
                }
            }
        }
    }

    /// Splits `line` into `out`, returning the number of fields kept. Single-character
    /// delimiters split on a `char` (a byte search), much faster than a string pattern.
    fn split_into<'a>(self, line: &'a str, out: &mut [&'a str; MAX_FIELDS]) -> usize {
        fn fill<'a>(
            fields: impl Iterator<Item = &'a str>,
            out: &mut [&'a str; MAX_FIELDS],
        ) -> usize {
            let mut n = 0;
            for f in fields {
                if n == MAX_FIELDS {
                    return n;
                }
                out[n] = f;
                n += 1;
            }
            n
        }
        match self {
            Delimiter::Tab => fill(line.split('\t'), out),
            Delimiter::Comma => fill(line.split(','), out),
            Delimiter::Semicolon => fill(line.split(';'), out),
            Delimiter::DoubleColon => fill(line.split("::"), out),
        }
    }
}

/// Column positions resolved from a header (or positional defaults).
#[derive(Debug, Clone, Copy)]
struct Columns {
    user: usize,
    item: usize,
    rating: Option<usize>,
    time: Option<usize>,
    min_fields: usize,
}

const USER_NAMES: &[&str] = &[
    "userid",
    "user",
    "uid",
    "customerid",
    "visitorid",
    "reviewerid",
];
const ITEM_NAMES: &[&str] = &[
    "itemid",
    "item",
    "movieid",
    "productid",
    "iid",
    "articleid",
    "asin",
];
const RATING_NAMES: &[&str] = &[
    "rating",
    "score",
    "prediction",
    "value",
    "weight",
    "count",
    "strength",
];
const TIME_NAMES: &[&str] = &["timestamp", "time", "ts", "datetime", "eventtime"];

/// Lower-cases a header name and drops RecBole's `:type` suffix, `_`, `-` and spaces.
fn normalize(name: &str) -> String {
    let base = name
        .trim()
        .trim_matches('"')
        .split(':')
        .next()
        .unwrap_or("");
    base.chars()
        .filter(|c| !matches!(c, '_' | '-' | ' '))
        .flat_map(char::to_lowercase)
        .collect()
}

fn find_column(fields: &[String], wanted: Option<&str>, candidates: &[&str]) -> Option<usize> {
    match wanted {
        Some(w) => fields
            .iter()
            .position(|f| f.trim().trim_matches('"') == w)
            .or_else(|| fields.iter().position(|f| normalize(f) == normalize(w))),
        None => candidates
            .iter()
            .find_map(|c| fields.iter().position(|f| normalize(f) == *c)),
    }
}

fn is_known_name(field: &str) -> bool {
    let n = normalize(field);
    [USER_NAMES, ITEM_NAMES, RATING_NAMES, TIME_NAMES]
        .iter()
        .any(|names| names.contains(&n.as_str()))
}

fn detect(first_line: &str, format: Format) -> (Delimiter, bool) {
    match format {
        Format::UData => (Delimiter::Tab, false),
        Format::Dat => (Delimiter::DoubleColon, false),
        Format::Csv => (Delimiter::Comma, true),
        Format::Tsv => (Delimiter::Tab, true),
        Format::Auto => {
            let delim = if first_line.contains("::") {
                Delimiter::DoubleColon
            } else if first_line.contains('\t') {
                Delimiter::Tab
            } else if first_line.contains(',') {
                Delimiter::Comma
            } else {
                Delimiter::Semicolon
            };
            let fields = delim.fields(first_line);
            let header = fields.iter().any(|f| is_known_name(f))
                || fields
                    .iter()
                    .skip(2)
                    .any(|f| f.trim().parse::<f64>().is_err());
            (delim, header)
        }
    }
}

/// Reads interactions from any reader; `source_name` names it in errors.
///
/// This is the streaming entry point (blob downloads, standard input): it reads the stream in
/// blocks of [`STREAM_BLOCK_BYTES`], so memory stays bounded without a temporary copy, and it
/// parses exactly as [`read_ratings`] does (the same code, with smaller blocks).
pub fn read_ratings_from<R: Read>(
    reader: R,
    source_name: &str,
    opts: &ReadOptions,
) -> Result<(Ratings, ReadReport), IngestError> {
    read_blocks(reader, source_name, opts, STREAM_BLOCK_BYTES)
}

/// [`read_ratings_from`] in blocks of `block_bytes` (at least 1) instead of 16 MiB: the same
/// code, so that tests and the fuzz targets (`fuzz/`) reach the block cuts (a quoted newline
/// at a cut, a record longer than a block) with small inputs. Not for production use.
#[doc(hidden)]
pub fn read_ratings_in_blocks<R: Read>(
    reader: R,
    source_name: &str,
    opts: &ReadOptions,
    block_bytes: usize,
) -> Result<(Ratings, ReadReport), IngestError> {
    read_blocks(reader, source_name, opts, block_bytes.max(1))
}

/// Block size of the streaming reader: large enough to keep both cores busy, small enough that
/// a network stream's buffer stays modest.
const STREAM_BLOCK_BYTES: usize = 16 << 20;

/// Bytes read per block by the parallel file reader (bounds its memory). Each block is parsed
/// in twice as many pieces as threads, and every piece keeps its own id maps, so fewer, larger
/// pieces intern fewer ids: on a 113 MB file, 32 MB blocks in 8 pieces parsed at 165 MB/s,
/// 128 MB blocks in 4 pieces at 210 MB/s (2 threads).
const BLOCK_BYTES: usize = 128 << 20;

/// One piece of a block, parsed on its own thread with ids local to the piece.
#[derive(Default)]
struct Piece {
    users: PieceIds,
    items: PieceIds,
    records: Vec<Interaction>,
    /// Line of each record, relative to the piece's first line (0-based).
    lines: Vec<u64>,
    line_count: u64,
    skipped: usize,
    has_time: bool,
    error: Option<(u64, String)>,
}

/// A piece's own id map. Most files use decimal ids, so those are keyed by their value: an
/// integer hash and compare instead of hashing and comparing strings, twice per line (a 113 MB
/// file: 0.83 → 0.74 CPU-seconds). Other ids, and decimals a number would not spell the same
/// way (`007`, 20+ digits), go by their text. Indices follow first appearance either way.
#[derive(Default)]
struct PieceIds {
    ids: Vec<String>,
    numeric: rustc_hash::FxHashMap<u64, u32>,
    text: rustc_hash::FxHashMap<String, u32>,
}

impl PieceIds {
    fn intern(&mut self, id: &str) -> u32 {
        let ids = &mut self.ids;
        let mut next = || {
            ids.push(id.to_owned());
            ids.len() as u32 - 1
        };
        match canonical_decimal(id) {
            Some(n) => *self.numeric.entry(n).or_insert_with(next),
            None => match self.text.get(id) {
                Some(&i) => i,
                None => {
                    let i = next();
                    self.text.insert(id.to_owned(), i);
                    i
                }
            },
        }
    }

    fn ids(&self) -> &[String] {
        &self.ids
    }
}

/// The value of `id` if it is a decimal number written the one way `u64` prints it (no sign,
/// no leading zero, at most 19 digits), so that equal values mean equal strings.
#[inline]
fn canonical_decimal(id: &str) -> Option<u64> {
    let b = id.as_bytes();
    if b.is_empty() || b.len() > 19 || (b[0] == b'0' && b.len() > 1) {
        return None;
    }
    let mut n = 0u64;
    for &d in b {
        if !d.is_ascii_digit() {
            return None;
        }
        n = n * 10 + (d - b'0') as u64;
    }
    Some(n)
}

fn parse_piece(
    bytes: &[u8],
    delim: Delimiter,
    cols: Columns,
    header: bool,
    skip_bad_rows: bool,
) -> Piece {
    let mut piece = Piece::default();
    if bytes.is_empty() {
        return piece;
    }
    // A final newline ends the last line; it does not start another.
    let body = bytes.strip_suffix(b"\n").unwrap_or(bytes);
    // One UTF-8 check for the whole piece (the common case); fields are checked one by one
    // only when it fails, to name the line with the bad bytes.
    let valid = std::str::from_utf8(body).is_ok();
    let Some(byte) = delim.byte() else {
        let mut fields: [&str; MAX_FIELDS] = [""; MAX_FIELDS];
        // `ratings.dat`'s two-character `::` has no quoting convention and no CSV reader takes
        // a two-byte delimiter, so those lines are split on the delimiter as they are.
        for (n, raw) in body.split(|&b| b == b'\n').enumerate() {
            piece.line_count = n as u64 + 1;
            let line = match field_str(raw, valid) {
                Ok(line) => line.trim_end_matches('\r'),
                Err(_) if skip_bad_rows => {
                    piece.skipped += 1;
                    continue;
                }
                Err(message) => {
                    piece.error = Some((n as u64, message));
                    return piece;
                }
            };
            let count = delim.split_into(line, &mut fields);
            if !accept_row(
                &mut piece,
                n as u64,
                &fields[..count],
                cols,
                header,
                skip_bad_rows,
            ) {
                return piece;
            }
        }
        return piece;
    };
    // RFC 4180 through the `csv` crate: quoted fields may hold the delimiter or quotes.
    let mut reader = csv_reader(byte).from_reader(body);
    let mut record = csv::ByteRecord::new();
    loop {
        let more = reader.read_byte_record(&mut record);
        // The reader counts every line end it consumes; a record's position is where reading
        // began, before any blank lines the reader skipped on the way to it.
        let start = match &more {
            Err(e) => e.position(),
            Ok(_) => record.position(),
        };
        let n = start.map_or(0, |p| {
            p.line().saturating_sub(1) + blank_lines_at(body, p.byte() as usize)
        });
        match more {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => {
                piece.error = Some((n, format!("unreadable CSV: {e}")));
                return piece;
            }
        }
        if !valid {
            if let Some(message) = record.iter().find_map(|f| field_str(f, false).err()) {
                if skip_bad_rows {
                    piece.skipped += 1;
                    continue;
                }
                piece.error = Some((n, message));
                return piece;
            }
        }
        if !accept_row(
            &mut piece,
            n,
            Utf8Record(&record),
            cols,
            header,
            skip_bad_rows,
        ) {
            return piece;
        }
    }
    piece.line_count = reader.position().line();
    piece
}

/// Line ends of the blank lines at `at` (which the CSV reader skips before a record).
#[inline]
fn blank_lines_at(body: &[u8], at: usize) -> u64 {
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
fn accept_row<'a>(
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
trait RowFields<'a>: Copy {
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
struct Utf8Record<'a>(&'a csv::ByteRecord);

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
fn csv_reader(delimiter: u8) -> csv::ReaderBuilder {
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
fn field_str(bytes: &[u8], piece_valid: bool) -> Result<&str, String> {
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
const EXCERPT_CHARS: usize = 60;

/// Where an RFC 4180 reader configured as [`csv_reader`] is, byte by byte: a `"` opens a
/// quoted field only at the start of a field (elsewhere it is a literal character, as the `csv`
/// crate reads it), and inside quotes `""` is one quote. Counting every `"` instead cut records
/// apart after a stray quote such as `12" vinyl` (found by the `ingest` fuzz target).
#[derive(Clone, Copy)]
struct QuoteState {
    delimiter: u8,
    in_quotes: bool,
    field_start: bool,
    after_close: bool,
}

impl QuoteState {
    fn new(delimiter: u8) -> Self {
        QuoteState {
            delimiter,
            in_quotes: false,
            field_start: true,
            after_close: false,
        }
    }

    /// Advances over `b`; true when `b` is a `\n` that ends a record.
    #[inline]
    fn step(&mut self, b: u8) -> bool {
        if self.in_quotes {
            if b == b'"' {
                self.in_quotes = false;
                self.after_close = true;
            }
            return false;
        }
        if std::mem::take(&mut self.after_close) && b == b'"' {
            self.in_quotes = true; // `""`: an escaped quote, still inside the field
            return false;
        }
        match b {
            b'\n' | b'\r' => {
                self.field_start = true;
                b == b'\n'
            }
            _ if b == self.delimiter => {
                self.field_start = true;
                false
            }
            b'"' if self.field_start => {
                self.in_quotes = true;
                self.field_start = false;
                false
            }
            _ => {
                self.field_start = false;
                false
            }
        }
    }
}

/// The quote tracker `block` needs: one for a quoting `delimiter` when the block holds a `"` at
/// all; `None` (plain line ends, found without a byte-by-byte walk) otherwise, the common case.
fn quote_state(block: &[u8], delimiter: Option<u8>) -> Option<QuoteState> {
    delimiter
        .filter(|_| block.contains(&b'"'))
        .map(QuoteState::new)
}

/// Splits `block` into about `parts` slices that end at record boundaries: line ends, and with
/// a quoting `delimiter`, only line ends outside quoted fields ([`QuoteState`]), so a quoted
/// field that spans lines stays in one piece.
fn line_aligned_pieces(block: &[u8], parts: usize, delimiter: Option<u8>) -> Vec<&[u8]> {
    let mut out = Vec::with_capacity(parts);
    let target = block.len() / parts.max(1) + 1;
    let mut state = quote_state(block, delimiter);
    let mut start = 0;
    let mut scanned = 0; // bytes the quote tracker has seen
    while start < block.len() {
        let goal = (start + target).min(block.len());
        // The first record end at or after `goal` (or the block's end).
        let end = match &mut state {
            None => block[goal - 1..]
                .iter()
                .position(|&b| b == b'\n')
                .map_or(block.len(), |p| goal + p),
            Some(quotes) => {
                let mut end = block.len();
                while scanned < block.len() {
                    let is_end = quotes.step(block[scanned]);
                    scanned += 1;
                    if is_end && scanned >= goal {
                        end = scanned;
                        break;
                    }
                }
                end
            }
        };
        out.push(&block[start..end]);
        start = end;
    }
    out
}

/// Where the last complete record of `block` ends (just after its line end), if any line end
/// lies outside quoted fields.
fn last_record_end(block: &[u8], delimiter: Option<u8>) -> Option<usize> {
    match quote_state(block, delimiter) {
        None => block.iter().rposition(|&b| b == b'\n').map(|p| p + 1),
        Some(mut quotes) => {
            let mut last = None;
            for (i, &b) in block.iter().enumerate() {
                if quotes.step(b) {
                    last = Some(i + 1);
                }
            }
            last
        }
    }
}

/// The delimiter whose quoting the file uses (`None` for `ratings.dat`'s `::`, which has no
/// quoting), judged as [`detect`] will judge it, from the first non-blank line.
fn quote_delimiter(block: &[u8], format: Format) -> Option<u8> {
    let first = block
        .split(|&b| b == b'\n')
        .find(|l| !l.trim_ascii().is_empty())
        .unwrap_or_default();
    detect(&String::from_utf8_lossy(first), format).0.byte()
}

/// Reads a file in blocks, parsing each block's lines on all cores; ids keep the order of
/// first appearance in the file, exactly as the streaming reader assigns them.
fn read_ratings_parallel<R: Read>(
    input: R,
    source_name: &str,
    opts: &ReadOptions,
) -> Result<(Ratings, ReadReport), IngestError> {
    read_blocks(input, source_name, opts, BLOCK_BYTES)
}

fn read_blocks<R: Read>(
    mut input: R,
    source_name: &str,
    opts: &ReadOptions,
    block_bytes: usize,
) -> Result<(Ratings, ReadReport), IngestError> {
    use rayon::prelude::*;
    let io_err = |source| IngestError::Io {
        source_name: source_name.to_owned(),
        source,
    };
    let mut ratings = Ratings::default();
    let mut report = ReadReport::default();
    let mut lines: Vec<u64> = Vec::new();
    let mut layout: Option<(Delimiter, Columns)> = None;
    let mut line_base = 0u64; // lines before the current block
    let mut first_block = true;
    let mut carry: Vec<u8> = Vec::new();
    let mut block: Vec<u8> = Vec::with_capacity(block_bytes + (1 << 16));
    loop {
        block.clear();
        block.append(&mut carry);
        let n = (&mut input)
            .take(block_bytes as u64)
            .read_to_end(&mut block)
            .map_err(io_err)?;
        let eof = n < block_bytes;
        let quoting = match layout {
            Some((delim, _)) => delim.byte(),
            None => quote_delimiter(&block, opts.format),
        };
        if !eof {
            match last_record_end(&block, quoting) {
                Some(end) => carry.extend_from_slice(&block[end..]),
                None => {
                    // A single record longer than a block: keep reading it whole.
                    carry = std::mem::take(&mut block);
                    continue;
                }
            }
            let keep = block.len() - carry.len();
            block.truncate(keep);
        }
        let mut body: &[u8] = &block;
        if first_block {
            // A byte-order mark (Excel's "CSV UTF-8") is not part of the first id or name.
            body = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body);
            first_block = false;
        }
        // The first non-empty line decides the layout; a header line is consumed here.
        while layout.is_none() && !body.is_empty() {
            let end = body
                .iter()
                .position(|&b| b == b'\n')
                .map(|p| p + 1)
                .unwrap_or(body.len());
            let text = std::str::from_utf8(&body[..end]).map_err(|e| IngestError::Malformed {
                source_name: source_name.to_owned(),
                line: line_base as usize + 1,
                message: format!("invalid UTF-8 at byte {}", e.valid_up_to()),
            })?;
            let line = text.trim_end_matches(['\n', '\r']);
            if line.trim().is_empty() {
                body = &body[end..];
                line_base += 1;
                continue;
            }
            let (delim, cols, header) = layout_of(line, opts, source_name)?;
            report.header = header;
            layout = Some((delim, cols));
            if header {
                body = &body[end..];
                line_base += 1;
            }
        }
        if let Some((delim, cols)) = layout {
            let parts = rayon::current_num_threads() * 2;
            let pieces: Vec<Piece> = line_aligned_pieces(body, parts, quoting)
                .into_par_iter()
                .map(|p| parse_piece(p, delim, cols, report.header, opts.skip_bad_rows))
                .collect();
            let mut first_line = Vec::with_capacity(pieces.len());
            for piece in &pieces {
                if let Some((line, message)) = &piece.error {
                    return Err(IngestError::Malformed {
                        source_name: source_name.to_owned(),
                        line: (line_base + line + 1) as usize,
                        message: message.clone(),
                    });
                }
                first_line.push(line_base);
                line_base += piece.line_count;
                ratings.has_timestamps |= piece.has_time;
                report.skipped += piece.skipped;
            }
            // Ids are merged in file order (first appearance decides the index).
            let maps: Vec<(Vec<u32>, Vec<u32>)> = pieces
                .iter()
                .map(|p| {
                    (
                        merge_ids(&mut ratings.users, p.users.ids()),
                        merge_ids(&mut ratings.items, p.items.ids()),
                    )
                })
                .collect();
            // Records and line numbers are renumbered while being copied into place, piece by
            // piece in parallel (the copies write fresh memory, and its page faults then
            // happen on every core).
            let total: usize = pieces.iter().map(|p| p.records.len()).sum();
            ratings.records.reserve(total);
            lines.reserve(total);
            {
                let mut record_slots = &mut ratings.records.spare_capacity_mut()[..total];
                let mut line_slots = &mut lines.spare_capacity_mut()[..total];
                let mut jobs = Vec::with_capacity(pieces.len());
                for ((piece, map), &base) in pieces.iter().zip(&maps).zip(&first_line) {
                    let (r, rest) = record_slots.split_at_mut(piece.records.len());
                    record_slots = rest;
                    let (l, rest) = line_slots.split_at_mut(piece.lines.len());
                    line_slots = rest;
                    jobs.push((piece, map, base, r, l));
                }
                jobs.into_par_iter()
                    .for_each(|(piece, (users, items), base, r, l)| {
                        for (slot, rec) in r.iter_mut().zip(&piece.records) {
                            slot.write(Interaction {
                                user: users[rec.user as usize],
                                item: items[rec.item as usize],
                                ..*rec
                            });
                        }
                        for (slot, &line) in l.iter_mut().zip(&piece.lines) {
                            slot.write(base + line + 1);
                        }
                    });
            }
            // SAFETY: the loop above initialised the first `total` spare slots of both.
            unsafe {
                ratings.records.set_len(ratings.records.len() + total);
                lines.set_len(lines.len() + total);
            }
        }
        if eof {
            break;
        }
    }
    report.rows = ratings.records.len();
    if ratings.records.is_empty() {
        return Err(IngestError::Empty {
            source_name: source_name.to_owned(),
        });
    }
    report.duplicates = resolve_duplicates(&mut ratings, &lines, opts.duplicates, source_name)?;
    Ok((ratings, report))
}

/// Global indices of a piece's ids (in the piece's first-appearance order), interning the new
/// ones in that order. Most ids of a later piece are already known, so the lookups run in
/// parallel and only the misses are inserted, one by one.
fn merge_ids(global: &mut IdMap, local: &[String]) -> Vec<u32> {
    use rayon::prelude::*;
    let known: Vec<Option<u32>> = {
        let global = &*global;
        local.par_iter().map(|id| global.get(id)).collect()
    };
    known
        .into_iter()
        .zip(local)
        .map(|(index, id)| index.unwrap_or_else(|| global.intern(id)))
        .collect()
}

/// Most fields a row may have; later fields are ignored (a headerless row reaching this many
/// is reported as having too many fields).
const MAX_FIELDS: usize = 32;

/// Applies the duplicate policy after reading: groups records by user (counting sort), sorts
/// each user's few records by item and folds equal neighbours: linear work plus small sorts,
/// and no hash map over all pairs. The first occurrence keeps its position; returns how many
/// rows were folded away.
fn resolve_duplicates(
    ratings: &mut Ratings,
    lines: &[u64],
    policy: DuplicatePolicy,
    source_name: &str,
) -> Result<usize, IngestError> {
    use rayon::prelude::*;
    let n_users = ratings.users.len();
    let mut start = vec![0usize; n_users + 1];
    for r in &ratings.records {
        start[r.user as usize + 1] += 1;
    }
    for u in 0..n_users {
        start[u + 1] += start[u];
    }
    // (item, position) grouped by user, positions ascending within a group: the groups are
    // then sorted without touching the records again.
    let mut next = start.clone();
    let mut by_user = vec![(0u32, 0u32); ratings.records.len()];
    for (pos, r) in ratings.records.iter().enumerate() {
        by_user[next[r.user as usize]] = (r.item, pos as u32);
        next[r.user as usize] += 1;
    }
    let mut groups: Vec<&mut [(u32, u32)]> = Vec::with_capacity(n_users);
    let mut rest = &mut by_user[..];
    for u in 0..n_users {
        let (group, tail) = rest.split_at_mut(start[u + 1] - start[u]);
        groups.push(group);
        rest = tail;
    }
    // Runs of one (user, item) pair: the first position and the later ones, in file order.
    let runs: Vec<(usize, Vec<usize>)> = groups
        .into_par_iter()
        .filter(|g| g.len() > 1)
        .flat_map_iter(|group| {
            group.sort_unstable();
            let mut found = Vec::new();
            let mut a = 0;
            while a < group.len() {
                let mut b = a + 1;
                while b < group.len() && group[b].0 == group[a].0 {
                    b += 1;
                }
                if b - a > 1 {
                    let later = group[a + 1..b].iter().map(|&(_, p)| p as usize).collect();
                    found.push((group[a].1 as usize, later));
                }
                a = b;
            }
            found
        })
        .collect();
    let mut removed = vec![false; ratings.records.len()];
    let mut folded = 0;
    let mut first_error: Option<(u64, u64, u32, u32)> = None;
    for (first, later) in runs {
        folded += later.len();
        match policy {
            DuplicatePolicy::Last => {
                let last = ratings.records[*later.last().unwrap()];
                ratings.records[first].rating = last.rating;
                ratings.records[first].timestamp = last.timestamp;
            }
            DuplicatePolicy::First => {}
            DuplicatePolicy::Sum => {
                for &p in &later {
                    let r = ratings.records[p];
                    ratings.records[first].rating += r.rating;
                    ratings.records[first].timestamp =
                        ratings.records[first].timestamp.max(r.timestamp);
                }
            }
            DuplicatePolicy::Error => {
                let r = ratings.records[first];
                let candidate = (lines[later[0]], lines[first], r.user, r.item);
                if first_error.is_none_or(|e| candidate.0 < e.0) {
                    first_error = Some(candidate);
                }
            }
        }
        for p in later {
            removed[p] = true;
        }
    }
    if let Some((line, first_line, user, item)) = first_error {
        return Err(IngestError::Duplicate {
            source_name: source_name.to_owned(),
            line: line as usize,
            first_line: first_line as usize,
            user: ratings.users.id(user).to_owned(),
            item: ratings.items.id(item).to_owned(),
        });
    }
    if folded > 0 {
        let mut keep = removed.iter().map(|r| !r);
        ratings.records.retain(|_| keep.next().unwrap());
    }
    Ok(folded)
}

/// The layout a file's first non-empty line announces: delimiter, columns, and whether that
/// line is a header (then it holds no data).
fn layout_of(
    first_line: &str,
    opts: &ReadOptions,
    source_name: &str,
) -> Result<(Delimiter, Columns, bool), IngestError> {
    let line = first_line;
    let (delim, header) = detect(line, opts.format);
    let cols = if header {
        let names = delim.fields(line);
        resolve_header(&names, opts, source_name)?
    } else {
        Columns {
            user: 0,
            item: 1,
            rating: Some(2),
            time: Some(3),
            min_fields: 2,
        }
    };
    Ok((delim, cols, header))
}

fn resolve_header(
    names: &[String],
    opts: &ReadOptions,
    source_name: &str,
) -> Result<Columns, IngestError> {
    let missing = |role| IngestError::MissingColumn {
        source_name: source_name.to_owned(),
        role,
        header: excerpt(&names.join(", ")),
    };
    let user =
        find_column(names, opts.user_col.as_deref(), USER_NAMES).ok_or_else(|| missing("user"))?;
    let item =
        find_column(names, opts.item_col.as_deref(), ITEM_NAMES).ok_or_else(|| missing("item"))?;
    let rating = match &opts.rating_col {
        Some(w) => {
            Some(find_column(names, Some(w), RATING_NAMES).ok_or_else(|| missing("rating"))?)
        }
        None => find_column(names, None, RATING_NAMES),
    };
    let time = match &opts.time_col {
        Some(w) => Some(find_column(names, Some(w), TIME_NAMES).ok_or_else(|| missing("time"))?),
        None => find_column(names, None, TIME_NAMES),
    };
    let min_fields = [Some(user), Some(item), rating, time]
        .into_iter()
        .flatten()
        .max()
        .unwrap_or(0)
        + 1;
    Ok(Columns {
        user,
        item,
        rating,
        time,
        min_fields,
    })
}

type Row<'a> = (&'a str, &'a str, f64, i64, bool);

fn parse_row<'a>(
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
    if user.is_empty() {
        return Err("empty user id".into());
    }
    if item.is_empty() {
        return Err("empty item id".into());
    }
    // Ids are stored one per line (model directory, snapshot), so a line break cannot be part
    // of one; a control character is a sign of a misread file.
    for (what, id) in [("user", user), ("item", item)] {
        if id.chars().any(|c| c.is_control() && c != '\t') {
            return Err(format!(
                "{what} id {} contains a line break or control character",
                excerpt(id)
            ));
        }
    }
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
            if !r.is_finite() {
                return Err(format!("rating {} is not finite", excerpt(raw)));
            }
            if r.abs() > MAX_ABS_VALUE {
                return Err(format!(
                    "rating {} is out of range (at most {MAX_ABS_VALUE:e} in magnitude)",
                    excerpt(raw)
                ));
            }
            r
        }
    };
    let (timestamp, has_time) = match cols.time.and_then(|c| fields.field(c)) {
        None => (0, false),
        Some(raw) => (parse_timestamp(raw.trim())?, true),
    };
    Ok((user, item, rating, timestamp, has_time))
}

/// Star ratings are mostly one or two digits: parse those without the general float parser.
#[inline]
fn small_integer(raw: &str) -> Option<f64> {
    let b = raw.as_bytes();
    if b.is_empty() || b.len() > 3 || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(b.iter().fold(0u32, |acc, d| acc * 10 + (d - b'0') as u32) as f64)
}

fn parse_timestamp(raw: &str) -> Result<i64, String> {
    if let Ok(t) = raw.parse::<i64>() {
        return Ok(t);
    }
    // RecBole and pandas exports write epoch seconds as floats (`874965758.0`).
    match raw.parse::<f64>() {
        Ok(t) if t.is_finite() && t.abs() < 9.0e18 => Ok(t as i64),
        _ => Err(format!("timestamp {} is not epoch seconds", excerpt(raw))),
    }
}

/// Reads a small delimited side file (item titles, a catalogue) into records of text fields
/// with their 1-based line numbers: RFC 4180 quoting, a leading byte-order mark dropped, blank
/// lines skipped, invalid UTF-8 an error naming the line.
pub fn read_records(
    bytes: &[u8],
    delimiter: u8,
    source_name: &str,
) -> Result<Vec<(usize, Vec<String>)>, IngestError> {
    let body = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let mut reader = csv_reader(delimiter).from_reader(body);
    let mut record = csv::ByteRecord::new();
    let mut out = Vec::new();
    loop {
        let more = reader.read_byte_record(&mut record);
        let start = match &more {
            Err(e) => e.position(),
            Ok(_) => record.position(),
        };
        let line = start.map_or(1, |p| p.line() + blank_lines_at(body, p.byte() as usize)) as usize;
        let malformed = |message| IngestError::Malformed {
            source_name: source_name.to_owned(),
            line,
            message,
        };
        match more {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => return Err(malformed(format!("unreadable CSV: {e}"))),
        }
        let fields = record
            .iter()
            .map(|f| field_str(f, false).map(str::to_owned))
            .collect::<Result<Vec<_>, _>>()
            .map_err(malformed)?;
        if fields.iter().all(|f| f.trim().is_empty()) {
            continue;
        }
        out.push((line, fields));
    }
    Ok(out)
}

/// Convenience for tests and small inputs: reads ratings from an in-memory string.
pub fn read_ratings_str(
    text: &str,
    source_name: &str,
    opts: &ReadOptions,
) -> Result<(Ratings, ReadReport), IngestError> {
    read_ratings_from(text.as_bytes(), source_name, opts)
}

/// Reads everything from `reader` into a string (used for small side files such as item titles).
pub fn read_to_string<R: Read>(mut reader: R) -> std::io::Result<String> {
    let mut s = String::new();
    reader.read_to_string(&mut s)?;
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> Result<(Ratings, ReadReport), IngestError> {
        read_ratings_str(text, "t.txt", &ReadOptions::default())
    }

    #[test]
    fn quoted_fields_follow_rfc_4180() {
        let (r, _) = read("user,item,rating\n\"a,b\",1,5\n\"say \"\"hi\"\"\",2,4\n").unwrap();
        assert_eq!(r.len(), 2);
        assert_eq!(r.users.id(0), "a,b");
        assert_eq!(r.items.id(r.records[0].item), "1");
        assert_eq!(r.records[0].rating, 5.0);
        assert_eq!(r.users.id(1), "say \"hi\"");
        // A quoted field may span lines, whatever the block size (blocks and pieces cut only
        // between records).
        let text = "user,item,rating,note\nu1,i1,1,\"two\nlines\"\nu2,i2,2,x\n\n\"u\n3\",i3,3,y\n";
        for block in [3, 7, 64, 1 << 20] {
            let err = read_blocks(text.as_bytes(), "t.csv", &ReadOptions::default(), block)
                .unwrap_err()
                .to_string();
            assert!(
                err.starts_with("t.csv:6: user id \"u\\n3\" contains a line break"),
                "{block}: {err}"
            );
            let (r, _) = read_blocks(
                &text.as_bytes()[..text.len() - 14],
                "t.csv",
                &ReadOptions::default(),
                block,
            )
            .unwrap();
            assert_eq!(r.len(), 2, "block {block}");
            assert_eq!(r.items.id(1), "i2");
        }
        // Quoted header names are names too.
        let (r, rep) = read("\"userId\",\"movieId\"\nu,m\n").unwrap();
        assert!(rep.header);
        assert_eq!(r.users.id(0), "u");
    }

    #[test]
    fn tsv_written_with_awkward_ids_reads_back_the_same() {
        let text =
            "user,item,rating,timestamp\n\"tab\there\",\"q\"\"uote\",2.5,7\nplain,\"a;b\",1,8\n";
        let (r, _) = read(text).unwrap();
        let mut tsv = Vec::new();
        r.write_tsv(&mut tsv).unwrap();
        let (back, _) = read_ratings_from(&tsv[..], "back.tsv", &ReadOptions::default()).unwrap();
        assert_eq!(back.users.ids(), r.users.ids());
        assert_eq!(back.items.ids(), r.items.ids());
        assert_eq!(back.records, r.records);
        assert_eq!(back.users.id(0), "tab\there");
    }

    /// Found by the `ingest` fuzz target: a `"` inside an unquoted field is a literal (as the
    /// `csv` crate reads it), but the block and piece cuts counted it as opening quotes, so a
    /// later quoted field's line break was taken for a record end and the record cut in two.
    /// Every block size must give the one-pass answer.
    #[test]
    fn a_stray_quote_does_not_move_block_cuts() {
        let text = "user,item,rating,note\n5\",i1,3,x\nu2,i2,4,\"a\nb\"\nu3,i3,5,\"say \"\"hi\"\"\"\nu4,i4,1,y\n";
        let (whole, report) = read(text).unwrap();
        assert_eq!(report.rows, 4);
        assert_eq!(whole.users.ids(), ["5\"", "u2", "u3", "u4"]);
        for block in 1..=text.len() {
            let (r, rep) =
                read_ratings_in_blocks(text.as_bytes(), "t.txt", &ReadOptions::default(), block)
                    .unwrap_or_else(|e| panic!("block {block}: {e}"));
            assert_eq!(
                (r.records, r.users.ids(), rep),
                (whole.records.clone(), whole.users.ids(), report.clone()),
                "block {block}"
            );
        }
        for parts in 1..=text.len() {
            let pieces = line_aligned_pieces(text.as_bytes(), parts, Some(b','));
            assert_eq!(pieces.concat(), text.as_bytes());
            for p in &pieces[..pieces.len() - 1] {
                assert!(
                    !p.ends_with(b"\"a\n"),
                    "cut inside a quoted field ({parts} parts)"
                );
            }
        }
    }

    #[test]
    fn byte_order_mark_is_not_part_of_an_id() {
        let (r, _) = read("\u{feff}196\t242\t3\n").unwrap();
        assert_eq!(r.users.id(0), "196");
        let (r, rep) = read("\u{feff}userId,movieId\nu1,m1\n").unwrap();
        assert!(rep.header);
        assert_eq!(r.users.id(0), "u1");
    }

    #[test]
    fn invalid_utf8_and_control_characters_name_the_line() {
        let err = read_ratings_from(
            &b"1\t2\t3\n1\t\xff2\t4\n"[..],
            "t.txt",
            &ReadOptions::default(),
        )
        .unwrap_err();
        assert!(
            err.to_string().starts_with("t.txt:2: invalid UTF-8"),
            "{err}"
        );
        let err =
            read_ratings_from(&b"\xfe1\t2\t3\n"[..], "t.txt", &ReadOptions::default()).unwrap_err();
        assert!(
            err.to_string().starts_with("t.txt:1: invalid UTF-8"),
            "{err}"
        );
        let err = read("user,item\n\"a\nb\",1\n").unwrap_err();
        assert!(err.to_string().contains("line break"), "{err}");
    }

    #[test]
    fn values_beyond_the_range_are_rejected() {
        let err = read("1\t2\t1e20\n").unwrap_err();
        assert!(
            err.to_string()
                .starts_with("t.txt:1: rating \"1e20\" is out of range"),
            "{err}"
        );
        let (r, _) = read("1\t2\t-1e9\n").unwrap();
        assert_eq!(r.records[0].rating, -1e9);
    }

    #[test]
    fn a_huge_field_is_excerpted_in_messages() {
        // As a data row and as a would-be header, a 10 MB line is named, not printed.
        let huge = "9x".repeat(5_000_000);
        for (text, line) in [
            (format!("1\t2\t3\n1\t2\t{huge}\n"), "t.txt:2: rating"),
            (format!("1\t2\t{huge}\n"), "t.txt:1: no user column"),
        ] {
            let err = read(&text).unwrap_err().to_string();
            assert!(err.len() < 300, "{} bytes", err.len());
            assert!(err.starts_with(line), "{err}");
            assert!(err.contains("bytes in all"), "{err}");
        }
    }

    #[test]
    fn udata_is_headerless_tab() {
        let (r, rep) = read("196\t242\t3\t881250949\n186\t302\t3\t891717742\n").unwrap();
        assert!(!rep.header);
        assert_eq!(r.len(), 2);
        assert_eq!(r.users.id(r.records[1].user), "186");
        assert_eq!(r.records[0].timestamp, 881250949);
        assert!(r.has_timestamps);
    }

    #[test]
    fn dat_double_colon() {
        let (r, _) = read("1::1193::5::978300760\n1::661::3::978302109\n").unwrap();
        assert_eq!(r.items.id(r.records[1].item), "661");
        assert_eq!(r.records[0].rating, 5.0);
    }

    #[test]
    fn movielens_csv_with_half_stars() {
        let (r, rep) =
            read("userId,movieId,rating,timestamp\n1,296,5.0,1147880044\n1,306,3.5,1147868817\n")
                .unwrap();
        assert!(rep.header);
        assert_eq!(r.records[1].rating, 3.5);
    }

    #[test]
    fn recbole_header_with_types_and_float_time() {
        let (r, _) = read("user_id:token\titem_id:token\trating:float\ttimestamp:float\n196\t242\t3\t881250949.0\n").unwrap();
        assert_eq!(r.records[0].timestamp, 881250949);
    }

    #[test]
    fn named_columns_in_any_order() {
        let opts = ReadOptions {
            user_col: Some("who".into()),
            item_col: Some("what".into()),
            rating_col: Some("stars".into()),
            ..Default::default()
        };
        let (r, _) = read_ratings_str("stars,what,extra,who\n4,i9,x,u1\n", "t.csv", &opts).unwrap();
        assert_eq!(r.users.id(0), "u1");
        assert_eq!(r.items.id(0), "i9");
        assert_eq!(r.records[0].rating, 4.0);
        assert!(!r.has_timestamps);
    }

    #[test]
    fn missing_rating_means_implicit_event() {
        let (r, _) = read("user,item\nu1,i1\nu1,i2\n").unwrap();
        assert_eq!(r.records[1].rating, 1.0);
    }

    #[test]
    fn malformed_row_names_file_and_line() {
        let err = read("1\t2\t3\t4\n1\t3\tfive\t4\n").unwrap_err();
        assert_eq!(err.to_string(), "t.txt:2: rating \"five\" is not a number");
        let err = read("1\t2\t3\t4\n\n7\n").unwrap_err();
        assert!(
            err.to_string()
                .starts_with("t.txt:3: expected at least 2 fields"),
            "{err}"
        );
    }

    #[test]
    fn nan_and_inf_are_rejected_or_skipped() {
        let err = read("1\t2\tNaN\t4\n").unwrap_err();
        assert!(err.to_string().contains("not finite"), "{err}");
        let opts = ReadOptions {
            skip_bad_rows: true,
            ..Default::default()
        };
        let (r, rep) = read_ratings_str("1\t2\tinf\t4\n1\t3\t2\t5\n", "t", &opts).unwrap();
        assert_eq!((r.len(), rep.skipped, rep.rows), (1, 1, 1));
    }

    #[test]
    fn empty_file_is_an_error() {
        assert!(matches!(read(""), Err(IngestError::Empty { .. })));
        assert!(matches!(
            read("userId,movieId,rating\n"),
            Err(IngestError::Empty { .. })
        ));
    }

    #[test]
    fn duplicates_follow_policy() {
        let text = "u\ti\t1\t10\nu\tj\t2\t11\nu\ti\t4\t12\n";
        let (r, rep) = read(text).unwrap();
        assert_eq!(rep.duplicates, 1);
        assert_eq!(
            (r.len(), r.records[0].rating, r.records[0].timestamp),
            (2, 4.0, 12)
        );
        let sum = ReadOptions {
            duplicates: DuplicatePolicy::Sum,
            ..Default::default()
        };
        let (r, _) = read_ratings_str(text, "t", &sum).unwrap();
        assert_eq!(r.records[0].rating, 5.0);
        let first = ReadOptions {
            duplicates: DuplicatePolicy::First,
            ..Default::default()
        };
        let (r, _) = read_ratings_str(text, "t", &first).unwrap();
        assert_eq!(r.records[0].rating, 1.0);
        let error = ReadOptions {
            duplicates: DuplicatePolicy::Error,
            ..Default::default()
        };
        let err = read_ratings_str(text, "t", &error).unwrap_err();
        assert_eq!(
            err.to_string(),
            "t:3: duplicate pair (user u, item i), first seen on line 1"
        );
    }

    #[test]
    fn missing_named_column_is_reported() {
        let opts = ReadOptions {
            user_col: Some("customer".into()),
            ..Default::default()
        };
        let err = read_ratings_str("buyer,item\nx,y\n", "t.csv", &opts).unwrap_err();
        assert!(err.to_string().contains("no user column"), "{err}");
    }

    #[test]
    fn decimal_ids_are_keyed_by_value_only_when_spelled_canonically() {
        assert_eq!(canonical_decimal("0"), Some(0));
        assert_eq!(canonical_decimal("196"), Some(196));
        assert_eq!(
            canonical_decimal("1234567890123456789"),
            Some(1234567890123456789)
        );
        for id in [
            "",
            "00",
            "07",
            "-7",
            "+7",
            "7a",
            "1.0",
            "12345678901234567890",
        ] {
            assert_eq!(canonical_decimal(id), None, "{id:?}");
        }
        let mut ids = PieceIds::default();
        let got: Vec<u32> = ["7", "07", "x", "7", "007", "x", "0", "07"]
            .iter()
            .map(|id| ids.intern(id))
            .collect();
        assert_eq!(got, [0, 1, 2, 0, 3, 2, 4, 1]);
        assert_eq!(ids.ids(), ["7", "07", "x", "007", "0"]);
    }

    /// The parallel block reader gives exactly what the streaming reader gives: same ids in the
    /// same order, same records, same errors with the same line numbers, whatever the block size.
    #[test]
    fn every_block_size_reads_the_same() {
        let mut big = String::from("\u{feff}userId,movieId,rating,timestamp\r\n\n");
        for r in 0..500 {
            big += &format!(
                "u{},m{},{}.5,{}\r\n",
                r % 37,
                (r * 7) % 101,
                r % 5,
                1000 + r
            );
            if r % 97 == 0 {
                big += "\n";
            }
        }
        big += "u1,m7,4,9999"; // no final newline, and a duplicate of an earlier pair
        let inputs = [
            big.clone(),
            "196\t242\t3\t881250949\n186\t302\t3\t891717742\n196\t242\t5\t1\n".to_string(),
            "1::1193::5::978300760\n\n\n1::661::3::978302109\n".to_string(),
            "a\tb\t1\t2\nc\td\tx\t3\n".to_string(),
            big.replace("u3,m", "u3,,m"),
            // Decimal ids spelled differently are different ids (the numeric fast path).
            "7\t07\t1\n07\t7\t2\n007\t7\t3\n7\t007\t4\n0\t00\t5\n\
             12345678901234567890\t1\t1\n1234567890123456789\t1\t2\n99999999999999999999\t7\t1\n"
                .to_string(),
        ];
        let mut inputs: Vec<Vec<u8>> = inputs.into_iter().map(String::into_bytes).collect();
        // A quoted field spanning lines (a comment column) and quoted delimiters.
        let mut quoted = String::from("user,item,rating,comment\n");
        for r in 0..200 {
            quoted += &format!(
                "u{},\"i,{}\",{},\"line one\nline \"\"two\"\"\"\n",
                r % 13,
                r % 17,
                r % 5
            );
        }
        inputs.push(quoted.into_bytes());
        // Invalid UTF-8 in one line only.
        inputs.push(b"1\t2\t3\n1\t\xff2\t4\n3\t2\t1\n".to_vec());
        for (n, text) in inputs.iter().enumerate() {
            for policy in [
                DuplicatePolicy::Last,
                DuplicatePolicy::Sum,
                DuplicatePolicy::Error,
            ] {
                for skip in [false, true] {
                    let opts = ReadOptions {
                        duplicates: policy,
                        skip_bad_rows: skip,
                        ..Default::default()
                    };
                    let want = read_ratings_from(&text[..], "t", &opts);
                    for block in [5, 64, 1 << 20] {
                        let got = read_blocks(&text[..], "t", &opts, block);
                        match (&want, &got) {
                            (Ok((w, wr)), Ok((g, gr))) => {
                                assert_eq!(w.users.ids(), g.users.ids(), "input {n} block {block}");
                                assert_eq!(w.items.ids(), g.items.ids());
                                assert_eq!(
                                    w.records, g.records,
                                    "input {n} block {block} {policy:?}"
                                );
                                assert_eq!(wr, gr);
                            }
                            (Err(w), Err(g)) => {
                                assert_eq!(w.to_string(), g.to_string(), "input {n} block {block}")
                            }
                            _ => panic!(
                                "input {n} block {block} {policy:?} skip {skip}: {:?} vs {:?}",
                                want.as_ref().err(),
                                got.as_ref().err()
                            ),
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn string_ids_headerless_recs_file() {
        let (r, rep) = read("u17\ti3\t0.52\nu17\ti9\t0.11\n").unwrap();
        assert!(!rep.header);
        assert_eq!(r.len(), 2);
    }
}
