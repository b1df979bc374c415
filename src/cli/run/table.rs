//! Reading the tables a run writes.

use std::path::Path;

use anyhow::Context;
use polars::prelude::SerReader;

/// A CSV table of the run as columns.
pub struct Table(polars::prelude::DataFrame);

impl Table {
    pub fn read(path: &Path) -> anyhow::Result<Table> {
        Ok(Table(
            polars::prelude::CsvReadOptions::default()
                .with_has_header(true)
                .with_infer_schema_length(None)
                .try_into_reader_with_file_path(Some(path.to_path_buf()))?
                .finish()
                .with_context(|| format!("cannot read {}", path.display()))?,
        ))
    }

    pub fn f64(&self, name: &str) -> anyhow::Result<Vec<f64>> {
        let column = self
            .0
            .column(name)?
            .cast(&polars::prelude::DataType::Float64)?;
        Ok(column
            .f64()?
            .iter()
            .map(|v| v.unwrap_or(f64::NAN))
            .collect())
    }

    pub fn text(&self, name: &str) -> anyhow::Result<Vec<String>> {
        let column = self
            .0
            .column(name)?
            .cast(&polars::prelude::DataType::String)?;
        Ok(column
            .str()?
            .iter()
            .map(|v| v.unwrap_or("").to_string())
            .collect())
    }
}

/// A JSON file as a value; `None` when missing or invalid.
pub fn read_json(path: &Path) -> Option<serde_json::Value> {
    serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()
}

/// Writes `<name>.parquet` beside `<name>.csv`, with the column types inferred from the whole
/// CSV.
pub fn csv_to_parquet(csv: &Path) -> anyhow::Result<()> {
    let mut table = Table::read(csv)?;
    let parquet = csv.with_extension("parquet");
    cometphot::table::write_table(&mut table.0, &parquet)
        .with_context(|| format!("cannot write {}", parquet.display()))
}
