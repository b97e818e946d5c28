//! Parquet files for tests, written with the Apache Arrow writer in the shapes other tools
//! write them: Spark (int or string ids, double ratings, timestamps), pandas (integral
//! doubles), dictionary-encoded strings, several row groups.

use std::path::Path;
use std::sync::Arc;

use arrow_array::builder::StringDictionaryBuilder;
use arrow_array::types::Int32Type;
use arrow_array::{
    ArrayRef, Float32Array, Float64Array, Int32Array, Int64Array, RecordBatch, StringArray,
    TimestampMillisecondArray,
};
use arrow_schema::{DataType, Field, Schema, TimeUnit};
use parquet::arrow::ArrowWriter;
use parquet::file::properties::WriterProperties;

/// How the id columns are typed in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdType {
    /// `int32` (Spark's ids); the ids must be decimal.
    Int32,
    /// `int64`; the ids must be decimal.
    Int64,
    /// `double` with integral values (pandas); the ids must be decimal.
    Float64,
    /// `string`.
    Utf8,
    /// dictionary-encoded `string`.
    Dictionary,
}

/// The shape of a written ratings file.
#[derive(Debug, Clone)]
pub struct Shape {
    /// Id column type.
    pub ids: IdType,
    /// Column names: user, item, rating, time.
    pub names: [&'static str; 4],
    /// Write the rating column (as `double`, or `float` with `float_ratings`).
    pub rating: bool,
    /// `float` instead of `double` ratings.
    pub float_ratings: bool,
    /// Write the time column as a millisecond timestamp (else epoch seconds as `int64`).
    pub timestamp_type: bool,
    /// Write the time column at all.
    pub time: bool,
    /// Rows per row group.
    pub row_group_rows: usize,
}

impl Default for Shape {
    fn default() -> Self {
        Shape {
            ids: IdType::Int32,
            names: ["user", "item", "rating", "timestamp"],
            rating: true,
            float_ratings: false,
            timestamp_type: false,
            time: true,
            row_group_rows: 1 << 20,
        }
    }
}

/// Writes `(user, item, rating, epoch seconds)` rows to a Parquet file of the given shape.
pub fn write_ratings(path: &Path, rows: &[(String, String, f64, i64)], shape: &Shape) {
    let ids = |pick: fn(&(String, String, f64, i64)) -> &String| -> (ArrayRef, DataType) {
        let values = rows.iter().map(pick);
        let number = |s: &String| -> i64 { s.parse().expect("decimal id for a numeric id type") };
        match shape.ids {
            IdType::Int32 => (
                Arc::new(Int32Array::from_iter_values(
                    values.map(|s| number(s) as i32),
                )),
                DataType::Int32,
            ),
            IdType::Int64 => (
                Arc::new(Int64Array::from_iter_values(values.map(number))),
                DataType::Int64,
            ),
            IdType::Float64 => (
                Arc::new(Float64Array::from_iter_values(
                    values.map(|s| number(s) as f64),
                )),
                DataType::Float64,
            ),
            IdType::Utf8 => (
                Arc::new(StringArray::from_iter_values(values)),
                DataType::Utf8,
            ),
            IdType::Dictionary => {
                let mut b = StringDictionaryBuilder::<Int32Type>::new();
                for v in values {
                    b.append_value(v);
                }
                (
                    Arc::new(b.finish()),
                    DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8)),
                )
            }
        }
    };
    let (users, id_type) = ids(|r| &r.0);
    let (items, _) = ids(|r| &r.1);
    let mut fields = vec![
        Field::new(shape.names[0], id_type.clone(), false),
        Field::new(shape.names[1], id_type, false),
    ];
    let mut columns = vec![users, items];
    if shape.rating {
        if shape.float_ratings {
            fields.push(Field::new(shape.names[2], DataType::Float32, false));
            columns.push(Arc::new(Float32Array::from_iter_values(
                rows.iter().map(|r| r.2 as f32),
            )));
        } else {
            fields.push(Field::new(shape.names[2], DataType::Float64, false));
            columns.push(Arc::new(Float64Array::from_iter_values(
                rows.iter().map(|r| r.2),
            )));
        }
    }
    if shape.time {
        if shape.timestamp_type {
            fields.push(Field::new(
                shape.names[3],
                DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
                false,
            ));
            columns.push(Arc::new(
                TimestampMillisecondArray::from_iter_values(rows.iter().map(|r| r.3 * 1000))
                    .with_timezone("UTC"),
            ));
        } else {
            fields.push(Field::new(shape.names[3], DataType::Int64, false));
            columns.push(Arc::new(Int64Array::from_iter_values(
                rows.iter().map(|r| r.3),
            )));
        }
    }
    let schema = Arc::new(Schema::new(fields));
    let batch = RecordBatch::try_new(schema.clone(), columns).expect("consistent columns");
    write_batch(path, &batch, shape.row_group_rows);
}

/// Writes one record batch to a Parquet file with at most `row_group_rows` rows per group.
pub fn write_batch(path: &Path, batch: &RecordBatch, row_group_rows: usize) {
    let props = WriterProperties::builder()
        .set_max_row_group_row_count(Some(row_group_rows.max(1)))
        .build();
    let file = std::fs::File::create(path).expect("create parquet file");
    let mut writer = ArrowWriter::try_new(file, batch.schema(), Some(props)).expect("writer");
    writer.write(batch).expect("write batch");
    writer.close().expect("close parquet file");
}
