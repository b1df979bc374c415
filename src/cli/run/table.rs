//! Reading the tables a run writes.

use std::path::Path;

use anyhow::Context;
use polars::prelude::SerReader;

/// A CSV table of the run as columns.
pub struct Table(polars::prelude::DataFrame);

/// Columns that hold names, never numbers, whatever their values look like: a night named
/// `20250708` or a filter wheel position `048` stays text (and keeps its leading zeros).
const TEXT_COLUMNS: [&str; 6] = ["night", "file", "filter", "object", "path", "zp_method"];

impl Table {
    /// Reads a CSV table, the column types inferred from all its rows except for the
    /// [`TEXT_COLUMNS`] it has, which are read as text.
    pub fn read(path: &Path) -> anyhow::Result<Table> {
        let mut header = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(
                std::fs::File::open(path)
                    .with_context(|| format!("cannot read {}", path.display()))?,
            ),
            &mut header,
        )
        .with_context(|| format!("cannot read {}", path.display()))?;
        let text: polars::prelude::Schema = header
            .trim_end()
            .split(',')
            .map(|name| name.trim_matches('"'))
            .filter(|name| TEXT_COLUMNS.contains(name))
            .map(|name| polars::prelude::Field::new(name.into(), polars::prelude::DataType::String))
            .collect();
        Ok(Table(
            polars::prelude::CsvReadOptions::default()
                .with_has_header(true)
                .with_infer_schema_length(None)
                .with_schema_overwrite(Some(std::sync::Arc::new(text)))
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
