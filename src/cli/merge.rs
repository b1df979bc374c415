//! `cometphot merge`: joins the photometry tables of the shards of a campaign
//! (`photometry --shard I/N`) into the table one unsharded run writes.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use clap::Args;
use polars::prelude::{
    Column, CsvReadOptions, DataFrame, ParquetReader, SerReader, SortMultipleOptions,
};

use cometphot::table::{write_table_or_stdout, write_text_atomic};

use super::{Verbosity, EXIT_OK};

const MERGE_HELP: &str = "\
Joins photometry tables written by `cometphot photometry --shard I/N` (CSV or Parquet, the
same columns) into one table sorted as an unsharded run sorts it (mid-exposure time, file,
radius), and their `<name>_skipped.csv` companions into `<out>_skipped.csv` (each skipped
input once). The result equals the table of one run over all frames.

Example (a Slurm job array of 8 tasks, then one merge):
  cometphot photometry RAW --object 3I --shard ${SLURM_ARRAY_TASK_ID}/8 --out part${SLURM_ARRAY_TASK_ID}.csv
  cometphot merge part*.csv --out photometry.csv";

#[derive(Debug, Args)]
#[command(long_about = MERGE_HELP)]
pub struct MergeArgs {
    /// Photometry tables of the shards (.csv or .parquet).
    #[arg(required = true)]
    pub tables: Vec<PathBuf>,
    /// Merged table (.csv or .parquet); CSV on standard output without it.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

fn read(path: &Path) -> anyhow::Result<DataFrame> {
    let parquet = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("parquet"));
    let df = if parquet {
        let file =
            std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
        ParquetReader::new(file).finish()
    } else {
        CsvReadOptions::default()
            .with_has_header(true)
            .with_infer_schema_length(None)
            .try_into_reader_with_file_path(Some(path.to_path_buf()))?
            .finish()
    };
    df.with_context(|| format!("{}: not a readable table", path.display()))
}

/// `<stem>_skipped.csv` beside a table.
fn skipped_path(table: &Path) -> PathBuf {
    let stem = table
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    table.with_file_name(format!("{stem}_skipped.csv"))
}

pub fn run(args: MergeArgs, verbosity: Verbosity) -> anyhow::Result<i32> {
    let mut merged: Option<DataFrame> = None;
    for path in &args.tables {
        let df = read(path)?;
        merged = Some(match merged {
            None => df,
            Some(m) => {
                if m.get_column_names() != df.get_column_names() {
                    bail!(
                        "{}: its columns differ from those of {}",
                        path.display(),
                        args.tables[0].display()
                    );
                }
                // Types as in the first table (a column empty in one shard reads as text).
                let columns = m
                    .columns()
                    .iter()
                    .map(|c| df.column(c.name())?.cast(c.dtype()))
                    .collect::<Result<Vec<Column>, _>>()
                    .with_context(|| format!("{}: column types differ", path.display()))?;
                m.vstack(&DataFrame::new_infer_height(columns)?)
                    .with_context(|| format!("{}: column types differ", path.display()))?
            }
        });
    }
    let Some(merged) = merged else {
        bail!("no table to merge");
    };
    let keys = ["mjd_mid_utc", "file", "radius_arcsec"];
    for key in keys {
        if merged.column(key).is_err() {
            bail!("the tables have no '{key}' column: not photometry tables");
        }
    }
    let mut sorted = merged.sort(
        keys,
        SortMultipleOptions::default().with_maintain_order(true),
    )?;
    write_table_or_stdout(&mut sorted, args.out.as_deref()).with_context(|| match &args.out {
        Some(path) => format!("cannot write {}", path.display()),
        None => "cannot write the table to standard output".to_string(),
    })?;

    let mut skipped: Vec<String> = Vec::new();
    for path in &args.tables {
        if let Ok(text) = std::fs::read_to_string(skipped_path(path)) {
            skipped.extend(text.lines().skip(1).map(str::to_string));
        }
    }
    skipped.sort();
    skipped.dedup();
    if let Some(out) = &args.out {
        let text: String = std::iter::once("file,reason".to_string())
            .chain(skipped.iter().cloned())
            .map(|l| l + "\n")
            .collect();
        write_text_atomic(&skipped_path(out), &text)
            .with_context(|| format!("cannot write {}", skipped_path(out).display()))?;
    }
    if verbosity != Verbosity::Quiet {
        eprintln!(
            "{} rows from {} tables, {} skipped inputs",
            sorted.height(),
            args.tables.len(),
            skipped.len()
        );
    }
    Ok(EXIT_OK)
}
