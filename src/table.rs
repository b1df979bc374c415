//! Writing tables: CSV or Parquet chosen by the file extension, always through a temporary
//! file renamed into place so an interrupted run never leaves a half-written table.

use polars::prelude::*;
use std::path::Path;

/// Writes the table: Parquet when `path` ends in `.parquet`, CSV otherwise; to a temporary
/// file renamed into place, so an interrupted write never leaves a partial table.
pub fn write_table(df: &mut DataFrame, path: &Path) -> Result<(), std::io::Error> {
    let tmp = path.with_extension(format!(
        "{}.partial",
        path.extension()
            .map(|e| e.to_string_lossy())
            .unwrap_or_default()
    ));
    create_parent(path)?;
    let result = (|| -> PolarsResult<()> {
        let file = std::fs::File::create(&tmp)?;
        if path.extension().is_some_and(|e| e == "parquet") {
            ParquetWriter::new(file).finish(df)?;
        } else {
            CsvWriter::new(file).finish(df)?;
        }
        Ok(())
    })();
    match result {
        Ok(()) => std::fs::rename(&tmp, path),
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            Err(std::io::Error::other(e.to_string()))
        }
    }
}

/// Writes the table to `path` (see [`write_table`]) or, without a path, as CSV to standard
/// output.
pub fn write_table_or_stdout(df: &mut DataFrame, path: Option<&Path>) -> std::io::Result<()> {
    match path {
        Some(path) => write_table(df, path),
        None => {
            let stdout = std::io::stdout();
            let mut lock = stdout.lock();
            CsvWriter::new(&mut lock)
                .finish(df)
                .map_err(|e| std::io::Error::other(e.to_string()))?;
            std::io::Write::flush(&mut lock)
        }
    }
}

/// Creates the directory that will hold `path`, when it does not exist yet.
fn create_parent(path: &Path) -> std::io::Result<()> {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => std::fs::create_dir_all(dir),
        _ => Ok(()),
    }
}

/// Writes `content` to `path` through a temporary file in the same directory renamed into
/// place, so an interrupted write never leaves a partial file.
pub fn write_text_atomic(path: &Path, content: &str) -> std::io::Result<()> {
    let name = path
        .file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
    create_parent(path)?;
    std::fs::write(&tmp, content)?;
    std::fs::rename(&tmp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}
