//! Result tables: one typed column per field, written as Parquet and CSV side by side. Fits,
//! plugins, comparisons, sweeps and the demo all write their tables through here.
//!
//! ```
//! use neurozoo_tables::{f64_column, read_parquet, write_table, Table};
//!
//! let dir = tempfile::tempdir().unwrap();
//! let table = Table::new().i64("epoch", vec![1, 2]).f64("loss", vec![0.5, 0.25]);
//! let [parquet, csv] = write_table(&table, dir.path(), "metrics")?;
//! assert_eq!(f64_column(&read_parquet(&parquet)?, "loss")?, [0.5, 0.25]);
//! assert!(std::fs::read_to_string(csv).unwrap().starts_with("epoch,loss"));
//! # Ok::<(), neurozoo_tables::TableError>(())
//! ```

use std::fs::File;
use std::path::{Path, PathBuf};

use neurozoo_util::files::write_atomic_with;
use polars::prelude::*;

/// The same typed columns plugins hand over: one table type from the SDK to the files.
pub use neurozoo_plugin::{ColumnValues, Table};
/// The table type read back (polars).
pub use polars::prelude::DataFrame;

fn to_frame(table: &Table) -> PolarsResult<DataFrame> {
    let height = table.columns.first().map_or(0, |(_, v)| v.len());
    let columns: Vec<Column> = table
        .columns
        .iter()
        .map(|(name, v)| {
            let name = PlSmallStr::from(name.as_str());
            match v {
                ColumnValues::F64(v) => Column::new(name, v),
                ColumnValues::I64(v) => Column::new(name, v),
                ColumnValues::Bool(v) => Column::new(name, v),
                ColumnValues::Str(v) => Column::new(name, v),
            }
        })
        .collect();
    DataFrame::new(height, columns)
}

/// A table that cannot be written or read: the table (its stem, file or column) and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what}: {problem}")]
pub struct TableError {
    /// `table STEM`, a file's path, or `column NAME`.
    pub what: String,
    pub problem: String,
}

impl TableError {
    fn of(what: impl std::fmt::Display, problem: impl std::fmt::Display) -> TableError {
        TableError { what: what.to_string(), problem: problem.to_string() }
    }
}

/// Write `<dir>/<stem>.parquet` and `<dir>/<stem>.csv`; each file appears only when complete.
/// Returns the two paths.
pub fn write_table(table: &Table, dir: &Path, stem: &str) -> Result<[PathBuf; 2], TableError> {
    let lens: Vec<usize> = table.columns.iter().map(|(_, v)| v.len()).collect();
    if lens.windows(2).any(|w| w[0] != w[1]) {
        return Err(TableError::of(format!("table {stem}"), format!("columns have different lengths {lens:?}")));
    }
    let mut df = to_frame(table).map_err(|e| TableError::of(format!("table {stem}"), e))?;
    write_frame(&mut df, dir, stem)
}

/// [`write_table`] of a polars frame (a table a plugin wrote as CSV or Parquet itself).
pub fn write_frame(df: &mut DataFrame, dir: &Path, stem: &str) -> Result<[PathBuf; 2], TableError> {
    let parquet = dir.join(format!("{stem}.parquet"));
    let csv = dir.join(format!("{stem}.csv"));
    let failed = |path: &Path, e: neurozoo_util::files::WriteError| TableError::of(path.display(), e.message);
    write_atomic_with(&parquet, |tmp| -> Result<(), String> {
        let mut f = File::create(tmp).map_err(|e| e.to_string())?;
        ParquetWriter::new(&mut f).finish(df).map(|_| ()).map_err(|e| e.to_string())
    })
    .map_err(|e| failed(&parquet, e))?;
    write_atomic_with(&csv, |tmp| -> Result<(), String> {
        let mut f = File::create(tmp).map_err(|e| e.to_string())?;
        CsvWriter::new(&mut f).finish(df).map_err(|e| e.to_string())
    })
    .map_err(|e| failed(&csv, e))?;
    Ok([parquet, csv])
}

/// Read a CSV table with a header row, column types inferred.
pub fn read_csv(path: &Path) -> Result<DataFrame, TableError> {
    CsvReadOptions::default()
        .with_has_header(true)
        .try_into_reader_with_file_path(Some(path.to_path_buf()))
        .and_then(|r| r.finish())
        .map_err(|e| TableError::of(path.display(), e))
}

/// Read a Parquet table back (for tests and for plugins that take tables as input).
pub fn read_parquet(path: &Path) -> Result<DataFrame, TableError> {
    let file = File::open(path).map_err(|e| TableError::of(path.display(), e))?;
    ParquetReader::new(file).finish().map_err(|e| TableError::of(path.display(), e))
}

/// Column `name` of a table as numbers (nulls as NaN); an error names the column.
pub fn f64_column(df: &DataFrame, name: &str) -> Result<Vec<f64>, TableError> {
    let failed = |e: PolarsError| TableError::of(format!("column {name}"), e);
    let values = df.column(name).and_then(|c| c.cast(&DataType::Float64)).map_err(failed)?;
    Ok(values.f64().map_err(failed)?.iter().map(|v| v.unwrap_or(f64::NAN)).collect())
}

/// Column `name` of a table as text (nulls as empty); an error names the column.
pub fn str_column(df: &DataFrame, name: &str) -> Result<Vec<String>, TableError> {
    let failed = |e: PolarsError| TableError::of(format!("column {name}"), e);
    let values = df.column(name).and_then(|c| c.cast(&DataType::String)).map_err(failed)?;
    Ok(values.str().map_err(failed)?.iter().map(|v| v.unwrap_or_default().to_string()).collect())
}
