//! Reading in parallel: files are read in blocks, each block is cut into pieces between records
//! (never inside a quoted field), every piece is parsed on its own thread with local ids, and
//! the local ids are merged into the global ones in piece order, so the result equals one
//! sequential pass.

use super::*;

/// Block size of the streaming reader: large enough to keep both cores busy, small enough that
/// a network stream's buffer stays modest.
pub(super) const STREAM_BLOCK_BYTES: usize = 16 << 20;

/// Bytes read per block by the parallel file reader (bounds its memory). Each block is parsed
/// in twice as many pieces as threads, and every piece keeps its own id maps, so fewer, larger
/// pieces intern fewer ids: on a 113 MB file, 32 MB blocks in 8 pieces parsed at 165 MB/s,
/// 128 MB blocks in 4 pieces at 210 MB/s (2 threads).
pub(super) const BLOCK_BYTES: usize = 128 << 20;

/// One piece of a block, parsed on its own thread with ids local to the piece.
#[derive(Default)]
pub(super) struct Piece {
    pub(super) users: PieceIds,
    pub(super) items: PieceIds,
    pub(super) records: Vec<Interaction>,
    /// Line of each record, relative to the piece's first line (0-based).
    pub(super) lines: Vec<u64>,
    pub(super) line_count: u64,
    pub(super) skipped: usize,
    pub(super) has_time: bool,
    pub(super) error: Option<(u64, String)>,
}

/// A piece's own id map. Most files use decimal ids, so those are keyed by their value: an
/// integer hash and compare instead of hashing and comparing strings, twice per line (a 113 MB
/// file: 0.83 → 0.74 CPU-seconds). Other ids, and decimals a number would not spell the same
/// way (`007`, 20+ digits), go by their text. Indices follow first appearance either way.
#[derive(Default)]
pub(super) struct PieceIds {
    pub(super) ids: Vec<String>,
    pub(super) numeric: rustc_hash::FxHashMap<u64, u32>,
    pub(super) text: rustc_hash::FxHashMap<String, u32>,
}

impl PieceIds {
    pub(super) fn intern(&mut self, id: &str) -> u32 {
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

    /// [`PieceIds::intern`] of `n`'s decimal text, without writing the text unless it is new
    /// (integer id columns of Parquet files).
    #[cfg(feature = "parquet")]
    pub(super) fn intern_number(&mut self, n: u64) -> u32 {
        let ids = &mut self.ids;
        *self.numeric.entry(n).or_insert_with(|| {
            ids.push(n.to_string());
            ids.len() as u32 - 1
        })
    }

    pub(super) fn ids(&self) -> &[String] {
        &self.ids
    }
}

/// The value of `id` if it is a decimal number written the one way `u64` prints it (no sign,
/// no leading zero, at most 19 digits), so that equal values mean equal strings.
#[inline]
pub(super) fn canonical_decimal(id: &str) -> Option<u64> {
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

pub(super) fn parse_piece(
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

/// Where an RFC 4180 reader configured as [`csv_reader`] is, byte by byte: a `"` opens a
/// quoted field only at the start of a field (elsewhere it is a literal character, as the `csv`
/// crate reads it), and inside quotes `""` is one quote. Counting every `"` instead cut records
/// apart after a stray quote such as `12" vinyl` (found by the `ingest` fuzz target).
#[derive(Clone, Copy)]
pub(super) struct QuoteState {
    pub(super) delimiter: u8,
    pub(super) in_quotes: bool,
    pub(super) field_start: bool,
    pub(super) after_close: bool,
}

impl QuoteState {
    pub(super) fn new(delimiter: u8) -> Self {
        QuoteState {
            delimiter,
            in_quotes: false,
            field_start: true,
            after_close: false,
        }
    }

    /// Advances over `b`; true when `b` is a `\n` that ends a record.
    #[inline]
    pub(super) fn step(&mut self, b: u8) -> bool {
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
pub(super) fn quote_state(block: &[u8], delimiter: Option<u8>) -> Option<QuoteState> {
    delimiter
        .filter(|_| block.contains(&b'"'))
        .map(QuoteState::new)
}

/// Splits `block` into about `parts` slices that end at record boundaries: line ends, and with
/// a quoting `delimiter`, only line ends outside quoted fields ([`QuoteState`]), so a quoted
/// field that spans lines stays in one piece.
pub(super) fn line_aligned_pieces(block: &[u8], parts: usize, delimiter: Option<u8>) -> Vec<&[u8]> {
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
pub(super) fn last_record_end(block: &[u8], delimiter: Option<u8>) -> Option<usize> {
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
pub(super) fn quote_delimiter(block: &[u8], format: Format) -> Option<u8> {
    let first = block
        .split(|&b| b == b'\n')
        .find(|l| !l.trim_ascii().is_empty())
        .unwrap_or_default();
    detect(&String::from_utf8_lossy(first), format).0.byte()
}

/// Reads a file in blocks, parsing each block's lines on all cores; ids keep the order of
/// first appearance in the file, exactly as the streaming reader assigns them.
pub(super) fn read_ratings_parallel<R: Read>(
    input: R,
    source_name: &str,
    opts: &ReadOptions,
) -> Result<(Ratings, ReadReport), IngestError> {
    read_blocks(input, source_name, opts, BLOCK_BYTES)
}

pub(super) fn read_blocks<R: Read>(
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
            }
            append_pieces(&mut ratings, &mut lines, &mut report, &pieces, &first_line);
        }
        if eof {
            break;
        }
    }
    finish_read(ratings, &lines, report, opts, source_name)
}

/// The end of every read: an empty result is an error, then the duplicate policy applies.
pub(super) fn finish_read(
    mut ratings: Ratings,
    lines: &[u64],
    mut report: ReadReport,
    opts: &ReadOptions,
    source_name: &str,
) -> Result<(Ratings, ReadReport), IngestError> {
    report.rows = ratings.records.len();
    if ratings.records.is_empty() {
        return Err(IngestError::Empty {
            source_name: source_name.to_owned(),
        });
    }
    report.duplicates = resolve_duplicates(&mut ratings, lines, opts.duplicates, source_name)?;
    Ok((ratings, report))
}

/// Appends parsed pieces to `ratings` in order: their ids merged into the global maps (first
/// appearance decides the index), their records renumbered, and each record's line, counted
/// from `first_line` of its piece, appended to `lines` (duplicate messages name them).
pub(super) fn append_pieces(
    ratings: &mut Ratings,
    lines: &mut Vec<u64>,
    report: &mut ReadReport,
    pieces: &[Piece],
    first_line: &[u64],
) {
    use rayon::prelude::*;
    for piece in pieces {
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
        for ((piece, map), &base) in pieces.iter().zip(&maps).zip(first_line) {
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

/// Global indices of a piece's ids (in the piece's first-appearance order), interning the new
/// ones in that order. Most ids of a later piece are already known, so the lookups run in
/// parallel and only the misses are inserted, one by one.
pub(super) fn merge_ids(global: &mut IdMap, local: &[String]) -> Vec<u32> {
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
