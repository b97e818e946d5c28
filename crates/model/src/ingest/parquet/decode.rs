//! Decoding Parquet row groups into interactions (see the parent module for what is accepted).

use std::fs::File;
use std::path::{Path, PathBuf};

use ::parquet::arrow::arrow_reader::{ArrowReaderMetadata, ParquetRecordBatchReaderBuilder};
use ::parquet::arrow::ProjectionMask;
use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int64Type};
use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_schema::{DataType, TimeUnit};

use super::super::*;

/// Rows decoded at a time from a row group.
const BATCH_ROWS: usize = 64 * 1024;

/// One file's columns and metadata, resolved before any row is read.
struct FilePlan {
    path: PathBuf,
    name: String,
    metadata: ArrowReaderMetadata,
    names: ColumnNames,
    mask: ProjectionMask,
    /// Rows in the file before each row group.
    row_starts: Vec<u64>,
}

/// The columns found by name (not position: a projection keeps only these).
#[derive(Clone)]
struct ColumnNames {
    user: String,
    item: String,
    rating: Option<String>,
    time: Option<String>,
}

/// Reads interactions from Parquet files, concatenated in the order given, each with the name
/// its messages use (a blob's URI for a downloaded copy); `source_name` (the directory or blob
/// prefix) names the data set in messages that are not about one file.
pub fn read_parquet_files(
    files: &[(PathBuf, String)],
    source_name: &str,
    opts: &ReadOptions,
) -> Result<(Ratings, ReadReport), IngestError> {
    use rayon::prelude::*;
    let plans = files
        .iter()
        .map(|(f, name)| plan(f, name, opts))
        .collect::<Result<Vec<_>, _>>()?;
    let units: Vec<(usize, usize)> = plans
        .iter()
        .enumerate()
        .flat_map(|(p, plan)| (0..plan.row_starts.len()).map(move |g| (p, g)))
        .collect();
    let mut ratings = Ratings::default();
    let mut report = ReadReport {
        header: true,
        ..ReadReport::default()
    };
    let mut lines: Vec<u64> = Vec::new();
    let mut rows_before = 0u64; // rows of the data set before the current window
    let window = rayon::current_num_threads().max(1);
    for chunk in units.chunks(window) {
        let pieces: Vec<Piece> = chunk
            .par_iter()
            .map(|&(p, g)| read_row_group(&plans[p], g, opts.skip_bad_rows))
            .collect::<Result<_, _>>()?;
        let mut first_line = Vec::with_capacity(pieces.len());
        for (piece, &(p, g)) in pieces.iter().zip(chunk) {
            if let Some((row, message)) = &piece.error {
                let plan = &plans[p];
                return Err(IngestError::Malformed {
                    source_name: plan.name.clone(),
                    line: (plan.row_starts[g] + row + 1) as usize,
                    message: message.clone(),
                });
            }
            first_line.push(rows_before);
            rows_before += piece.line_count;
        }
        append_pieces(&mut ratings, &mut lines, &mut report, &pieces, &first_line);
    }
    finish_read(ratings, &lines, report, opts, source_name)
}

/// Opens a file's footer and finds its columns.
fn plan(path: &Path, name: &str, opts: &ReadOptions) -> Result<FilePlan, IngestError> {
    let name = name.to_owned();
    let file = File::open(path).map_err(|source| IngestError::Io {
        source_name: name.clone(),
        source,
    })?;
    let metadata =
        ArrowReaderMetadata::load(&file, Default::default()).map_err(|e| IngestError::Schema {
            source_name: name.clone(),
            message: format!("not a readable Parquet file: {e}"),
        })?;
    let schema = metadata.schema().clone();
    let fields: Vec<String> = schema.fields().iter().map(|f| f.name().clone()).collect();
    let cols = resolve_header(&fields, opts, &name).map_err(|e| match e {
        IngestError::MissingColumn { role, .. } => IngestError::Schema {
            source_name: name.clone(),
            message: format!(
                "no {role} column among {}; name it with --{role}-col",
                excerpt(&fields.join(", "))
            ),
        },
        other => other,
    })?;
    let names = ColumnNames {
        user: fields[cols.user].clone(),
        item: fields[cols.item].clone(),
        rating: cols.rating.map(|c| fields[c].clone()),
        time: cols.time.map(|c| fields[c].clone()),
    };
    // Types are checked up front, so a wrong column fails before any row is read.
    for (role, column, check) in [
        ("user", Some(cols.user), id_type_ok as fn(&DataType) -> bool),
        ("item", Some(cols.item), id_type_ok),
        ("rating", cols.rating, value_type_ok),
        ("time", cols.time, time_type_ok),
    ] {
        if let Some(c) = column {
            let t = schema.field(c).data_type();
            if !check(t) {
                return Err(IngestError::Schema {
                    source_name: name.clone(),
                    message: format!(
                        "column {} ({role}) has type {t}, which topten cannot read as a {role}: {}",
                        fields[c],
                        match role {
                            "user" | "item" => "ids are integers, integral floats or strings",
                            "rating" => "ratings are integers, floats, decimals or numeric strings",
                            _ => "times are timestamps, dates, epoch seconds or numeric strings",
                        }
                    ),
                });
            }
        }
    }
    let roots: Vec<usize> = [Some(cols.user), Some(cols.item), cols.rating, cols.time]
        .into_iter()
        .flatten()
        .collect();
    let mask = ProjectionMask::roots(metadata.metadata().file_metadata().schema_descr(), roots);
    let mut row_starts = Vec::new();
    let mut rows = 0u64;
    for rg in metadata.metadata().row_groups() {
        row_starts.push(rows);
        rows += rg.num_rows() as u64;
    }
    Ok(FilePlan {
        path: path.to_path_buf(),
        name,
        metadata,
        names,
        mask,
        row_starts,
    })
}

fn id_type_ok(t: &DataType) -> bool {
    match t {
        DataType::Dictionary(_, v) => id_type_ok(v),
        t => t.is_integer() || t.is_floating() || is_text(t),
    }
}

fn value_type_ok(t: &DataType) -> bool {
    match t {
        DataType::Dictionary(_, v) => value_type_ok(v),
        t => t.is_numeric() || is_text(t) || matches!(t, DataType::Boolean),
    }
}

fn time_type_ok(t: &DataType) -> bool {
    matches!(
        t,
        DataType::Timestamp(..) | DataType::Date32 | DataType::Date64
    ) || value_type_ok(t)
}

fn is_text(t: &DataType) -> bool {
    matches!(t, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View)
}

/// Decodes one row group into a piece (ids local to the piece, rows counted from the group's
/// first row).
fn read_row_group(
    plan: &FilePlan,
    group: usize,
    skip_bad_rows: bool,
) -> Result<Piece, IngestError> {
    let fail = |e: &dyn std::fmt::Display| IngestError::Schema {
        source_name: plan.name.clone(),
        message: format!("row group {group}: {e}"),
    };
    let file = File::open(&plan.path).map_err(|source| IngestError::Io {
        source_name: plan.name.clone(),
        source,
    })?;
    let reader = ParquetRecordBatchReaderBuilder::new_with_metadata(file, plan.metadata.clone())
        .with_projection(plan.mask.clone())
        .with_row_groups(vec![group])
        .with_batch_size(BATCH_ROWS)
        .build()
        .map_err(|e| fail(&e))?;
    let mut piece = Piece::default();
    for batch in reader {
        let batch = batch.map_err(|e| fail(&e))?;
        let base = piece.line_count;
        piece.line_count += batch.num_rows() as u64;
        let columns = BatchColumns::new(&batch, &plan.names).map_err(|e| fail(&e))?;
        if !columns.fill(&mut piece, base, skip_bad_rows) {
            break;
        }
    }
    Ok(piece)
}

/// One batch's columns, each in the one representation its rows are read from.
struct BatchColumns {
    user: IdColumn,
    item: IdColumn,
    rating: Option<ValueColumn>,
    time: Option<TimeColumn>,
    names: ColumnNames,
}

enum IdColumn {
    Int(ArrayRef),
    Float(ArrayRef),
    Text(ArrayRef),
}

enum ValueColumn {
    Number(ArrayRef),
    Text(ArrayRef),
}

enum TimeColumn {
    /// Epoch values in units of `1 / divisor` seconds (`multiplier` seconds for dates).
    Int {
        values: ArrayRef,
        divisor: i64,
        multiplier: i64,
    },
    Float(ArrayRef),
    Text(ArrayRef),
}

fn cast(a: &ArrayRef, to: &DataType) -> Result<ArrayRef, arrow_schema::ArrowError> {
    arrow_cast::cast::cast(a, to)
}

/// The value type of a dictionary, or the type itself.
fn value_type(t: &DataType) -> &DataType {
    match t {
        DataType::Dictionary(_, v) => v,
        t => t,
    }
}

impl BatchColumns {
    fn new(batch: &RecordBatch, names: &ColumnNames) -> Result<Self, arrow_schema::ArrowError> {
        let col = |name: &str| {
            batch.column_by_name(name).cloned().ok_or_else(|| {
                arrow_schema::ArrowError::SchemaError(format!("column {name} missing from a batch"))
            })
        };
        let id = |a: ArrayRef| -> Result<IdColumn, arrow_schema::ArrowError> {
            let t = value_type(a.data_type()).clone();
            Ok(if t == DataType::UInt64 || is_text(&t) {
                IdColumn::Text(cast(&a, &DataType::Utf8)?)
            } else if t.is_integer() {
                IdColumn::Int(cast(&a, &DataType::Int64)?)
            } else {
                IdColumn::Float(cast(&a, &DataType::Float64)?)
            })
        };
        let rating = match &names.rating {
            None => None,
            Some(n) => {
                let a = col(n)?;
                Some(if is_text(value_type(a.data_type())) {
                    ValueColumn::Text(cast(&a, &DataType::Utf8)?)
                } else {
                    ValueColumn::Number(cast(&a, &DataType::Float64)?)
                })
            }
        };
        let time = match &names.time {
            None => None,
            Some(n) => {
                let a = col(n)?;
                let t = value_type(a.data_type()).clone();
                let int = |divisor, multiplier| -> Result<TimeColumn, arrow_schema::ArrowError> {
                    Ok(TimeColumn::Int {
                        values: cast(&a, &DataType::Int64)?,
                        divisor,
                        multiplier,
                    })
                };
                Some(match t {
                    DataType::Timestamp(unit, _) => int(
                        match unit {
                            TimeUnit::Second => 1,
                            TimeUnit::Millisecond => 1_000,
                            TimeUnit::Microsecond => 1_000_000,
                            TimeUnit::Nanosecond => 1_000_000_000,
                        },
                        1,
                    )?,
                    DataType::Date32 => int(1, 86_400)?,
                    DataType::Date64 => int(1_000, 1)?,
                    t if is_text(&t) => TimeColumn::Text(cast(&a, &DataType::Utf8)?),
                    t if t.is_floating()
                        || matches!(t, DataType::Decimal128(..) | DataType::Decimal256(..)) =>
                    {
                        TimeColumn::Float(cast(&a, &DataType::Float64)?)
                    }
                    _ => int(1, 1)?,
                })
            }
        };
        Ok(BatchColumns {
            user: id(col(&names.user)?)?,
            item: id(col(&names.item)?)?,
            rating,
            time,
            names: names.clone(),
        })
    }

    /// Parses every row into `piece` (row numbers from `base`); false when a row stops the
    /// piece (an error without `skip_bad_rows`).
    fn fill(&self, piece: &mut Piece, base: u64, skip_bad_rows: bool) -> bool {
        let rows = match &self.user {
            IdColumn::Int(a) | IdColumn::Float(a) | IdColumn::Text(a) => a.len(),
        };
        let mut scratch = (String::new(), String::new());
        for row in 0..rows {
            let n = base + row as u64;
            match self.row(piece, row, &mut scratch) {
                Ok(()) => piece.lines.push(n),
                Err(_) if skip_bad_rows => piece.skipped += 1,
                Err(message) => {
                    piece.error = Some((n, message));
                    return false;
                }
            }
        }
        true
    }

    fn row(
        &self,
        piece: &mut Piece,
        row: usize,
        scratch: &mut (String, String),
    ) -> Result<(), String> {
        let names = &self.names;
        let user = id_at(&self.user, row, "user", &names.user, &mut scratch.0)?;
        let item = id_at(&self.item, row, "item", &names.item, &mut scratch.1)?;
        let rating = match &self.rating {
            None => 1.0,
            Some(c) => rating_at(c, row).map_err(|m| in_column(names.rating.as_deref(), m))?,
        };
        let timestamp = match &self.time {
            None => 0,
            Some(c) => time_at(c, row).map_err(|m| in_column(names.time.as_deref(), m))?,
        };
        piece.has_time |= self.time.is_some();
        let u = intern(&mut piece.users, user);
        let i = intern(&mut piece.items, item);
        piece.records.push(Interaction {
            user: u,
            item: i,
            rating,
            timestamp,
        });
        Ok(())
    }
}

fn in_column(name: Option<&str>, message: String) -> String {
    format!("column {}: {message}", name.unwrap_or("?"))
}

/// An id as read: a non-negative integer (interned by value, as a CSV file's decimal text
/// is) or text.
enum Id<'a> {
    Number(u64),
    Text(&'a str),
}

fn intern(ids: &mut PieceIds, id: Id<'_>) -> u32 {
    match id {
        Id::Number(n) => ids.intern_number(n),
        Id::Text(t) => ids.intern(t),
    }
}

fn id_at<'a>(
    col: &'a IdColumn,
    row: usize,
    what: &str,
    name: &str,
    scratch: &'a mut String,
) -> Result<Id<'a>, String> {
    let err = |m: String| format!("column {name}: {m}");
    let number = |v: i64, scratch: &'a mut String| -> Id<'a> {
        if v >= 0 {
            Id::Number(v as u64)
        } else {
            *scratch = v.to_string();
            Id::Text(scratch.as_str())
        }
    };
    match col {
        IdColumn::Int(a) => {
            let a = a.as_primitive::<Int64Type>();
            if a.is_null(row) {
                return Err(err(format!("empty {what} id (null)")));
            }
            Ok(number(a.value(row), scratch))
        }
        IdColumn::Float(a) => {
            let a = a.as_primitive::<Float64Type>();
            if a.is_null(row) {
                return Err(err(format!("empty {what} id (null)")));
            }
            let v = a.value(row);
            if v.fract() != 0.0 || !v.is_finite() || v.abs() >= 9.007_199_254_740_992e15 {
                return Err(err(format!(
                    "{what} id {v} is not an integer (floating point ids must have integral values)"
                )));
            }
            Ok(number(v as i64, scratch))
        }
        IdColumn::Text(a) => {
            let a = a.as_string::<i32>();
            if a.is_null(row) {
                return Err(err(format!("empty {what} id (null)")));
            }
            let id = a.value(row).trim();
            check_id(what, id).map_err(err)?;
            Ok(Id::Text(id))
        }
    }
}

fn rating_at(col: &ValueColumn, row: usize) -> Result<f64, String> {
    match col {
        ValueColumn::Number(a) => {
            let a = a.as_primitive::<Float64Type>();
            if a.is_null(row) {
                return Err("no rating (null)".into());
            }
            let r = a.value(row);
            check_rating(r, &r.to_string())?;
            Ok(r)
        }
        ValueColumn::Text(a) => {
            let a = a.as_string::<i32>();
            if a.is_null(row) {
                return Err("no rating (null)".into());
            }
            let raw = a.value(row).trim();
            let r = match small_integer(raw) {
                Some(v) => v,
                None => raw
                    .parse()
                    .map_err(|_| format!("rating {} is not a number", excerpt(raw)))?,
            };
            check_rating(r, raw)?;
            Ok(r)
        }
    }
}

fn time_at(col: &TimeColumn, row: usize) -> Result<i64, String> {
    match col {
        TimeColumn::Int {
            values,
            divisor,
            multiplier,
        } => {
            let a = values.as_primitive::<Int64Type>();
            if a.is_null(row) {
                return Err("no timestamp (null)".into());
            }
            Ok(a.value(row)
                .div_euclid(*divisor)
                .saturating_mul(*multiplier))
        }
        TimeColumn::Float(a) => {
            let a = a.as_primitive::<Float64Type>();
            if a.is_null(row) {
                return Err("no timestamp (null)".into());
            }
            match a.value(row) {
                t if t.is_finite() && t.abs() < 9.0e18 => Ok(t as i64),
                t => Err(format!("timestamp {t} is not epoch seconds")),
            }
        }
        TimeColumn::Text(a) => {
            let a = a.as_string::<i32>();
            if a.is_null(row) {
                return Err("no timestamp (null)".into());
            }
            parse_timestamp(a.value(row).trim())
        }
    }
}
