//! Layout detection: the delimiter, whether the first line is a header, and which column
//! holds the user, the item, the rating and the timestamp.

use super::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Delimiter {
    Tab,
    Comma,
    Semicolon,
    DoubleColon,
}

impl Delimiter {
    /// The single byte the CSV reader splits on (`None` for `::`).
    pub(super) fn byte(self) -> Option<u8> {
        match self {
            Delimiter::Tab => Some(b'\t'),
            Delimiter::Comma => Some(b','),
            Delimiter::Semicolon => Some(b';'),
            Delimiter::DoubleColon => None,
        }
    }

    /// All fields of one line (header and layout detection), quotes resolved as for data rows.
    pub(super) fn fields(self, line: &str) -> Vec<String> {
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
    pub(super) fn split_into<'a>(self, line: &'a str, out: &mut [&'a str; MAX_FIELDS]) -> usize {
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
pub(super) struct Columns {
    pub(super) user: usize,
    pub(super) item: usize,
    pub(super) rating: Option<usize>,
    pub(super) time: Option<usize>,
    pub(super) min_fields: usize,
}

pub(super) const USER_NAMES: &[&str] = &[
    "userid",
    "user",
    "uid",
    "customerid",
    "visitorid",
    "reviewerid",
];
pub(super) const ITEM_NAMES: &[&str] = &[
    "itemid",
    "item",
    "movieid",
    "productid",
    "iid",
    "articleid",
    "asin",
];
pub(super) const RATING_NAMES: &[&str] = &[
    "rating",
    "score",
    "prediction",
    "value",
    "weight",
    "count",
    "strength",
];
pub(super) const TIME_NAMES: &[&str] = &["timestamp", "time", "ts", "datetime", "eventtime"];

/// Lower-cases a header name and drops RecBole's `:type` suffix, `_`, `-` and spaces.
pub(super) fn normalize(name: &str) -> String {
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

pub(super) fn find_column(
    fields: &[String],
    wanted: Option<&str>,
    candidates: &[&str],
) -> Option<usize> {
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

pub(super) fn is_known_name(field: &str) -> bool {
    let n = normalize(field);
    [USER_NAMES, ITEM_NAMES, RATING_NAMES, TIME_NAMES]
        .iter()
        .any(|names| names.contains(&n.as_str()))
}

pub(super) fn detect(first_line: &str, format: Format) -> (Delimiter, bool) {
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

/// The layout a file's first non-empty line announces: delimiter, columns, and whether that
/// line is a header (then it holds no data).
pub(super) fn layout_of(
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

pub(super) fn resolve_header(
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
