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
//! # Ok::<(), String>(())
//! ```

use std::fs::File;
use std::path::{Path, PathBuf};

use neurozoo_datasets::files::write_atomic_with;
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

/// Write `<dir>/<stem>.parquet` and `<dir>/<stem>.csv`; each file appears only when complete.
/// Returns the two paths.
pub fn write_table(table: &Table, dir: &Path, stem: &str) -> Result<[PathBuf; 2], String> {
    let lens: Vec<usize> = table.columns.iter().map(|(_, v)| v.len()).collect();
    if lens.windows(2).any(|w| w[0] != w[1]) {
        return Err(format!("table {stem}: columns have different lengths {lens:?}"));
    }
    let mut df = to_frame(table).map_err(|e| format!("table {stem}: {e}"))?;
    write_frame(&mut df, dir, stem)
}

/// [`write_table`] of a polars frame (a table a plugin wrote as CSV or Parquet itself).
pub fn write_frame(df: &mut DataFrame, dir: &Path, stem: &str) -> Result<[PathBuf; 2], String> {
    let parquet = dir.join(format!("{stem}.parquet"));
    let csv = dir.join(format!("{stem}.csv"));
    write_atomic_with(&parquet, |tmp| -> Result<(), String> {
        let mut f = File::create(tmp).map_err(|e| e.to_string())?;
        ParquetWriter::new(&mut f).finish(df).map(|_| ()).map_err(|e| e.to_string())
    })?;
    write_atomic_with(&csv, |tmp| -> Result<(), String> {
        let mut f = File::create(tmp).map_err(|e| e.to_string())?;
        CsvWriter::new(&mut f).finish(df).map_err(|e| e.to_string())
    })?;
    Ok([parquet, csv])
}

/// Read a CSV table with a header row, column types inferred.
pub fn read_csv(path: &Path) -> Result<DataFrame, String> {
    CsvReadOptions::default()
        .with_has_header(true)
        .try_into_reader_with_file_path(Some(path.to_path_buf()))
        .and_then(|r| r.finish())
        .map_err(|e| format!("{}: {e}", path.display()))
}

/// Read a Parquet table back (for tests and for plugins that take tables as input).
pub fn read_parquet(path: &Path) -> Result<DataFrame, String> {
    let file = File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    ParquetReader::new(file).finish().map_err(|e| format!("{}: {e}", path.display()))
}

/// Column `name` of a table as numbers (nulls as NaN); an error names the column.
pub fn f64_column(df: &DataFrame, name: &str) -> Result<Vec<f64>, String> {
    let column = df.column(name).map_err(|e| format!("column {name}: {e}"))?;
    let values = column.cast(&DataType::Float64).map_err(|e| format!("column {name}: {e}"))?;
    Ok(values.f64().map_err(|e| format!("column {name}: {e}"))?.iter().map(|v| v.unwrap_or(f64::NAN)).collect())
}

/// Column `name` of a table as text (nulls as empty); an error names the column.
pub fn str_column(df: &DataFrame, name: &str) -> Result<Vec<String>, String> {
    let column = df.column(name).map_err(|e| format!("column {name}: {e}"))?;
    let values = column.cast(&DataType::String).map_err(|e| format!("column {name}: {e}"))?;
    Ok(values.str().map_err(|e| format!("column {name}: {e}"))?.iter().map(|v| v.unwrap_or_default().to_string()).collect())
}
