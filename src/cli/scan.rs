//! `cometphot scan`.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Context};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};

use cometphot::frame::profile::ProfileChoice;
use cometphot::scan::{
    files_to_scan, scan_files, to_dataframe, PixelReads, ScanOptions, ScanReport, ScanStatus,
};
use cometphot::table::write_table_or_stdout;

use super::{Verbosity, EXIT_FAILURE, EXIT_OK, EXIT_SKIPPED};

const SCAN_HELP: &str = "\
Walks DIR recursively and finds FITS files by content (and reports files named .fits/.fz/.gz
that are not FITS). Every image HDU becomes one row with the columns
  path, hdu, instrument, frame_type, object, filter, exptime_s, date_obs_utc (exposure start),
  mjd_mid_utc (mid-exposure MJD, UTC), airmass, naxis1, naxis2, binning, has_wcs, status, error
status is ok, warning (usable; message in error) or error (skipped; the message names the file,
HDU and keyword). Frame types: bias, dark, flat, science, standard, arc, other, unknown.

The instrument is detected from INSTRUME/TELESCOP with the profiles shipped in
data/instruments/ (alfosc, efosc2, sinistro, saao1m, neossat, generic); --instrument forces
one, by name or as a TOML file; --profiles adds a directory of TOML profiles.";

#[derive(Debug, Args)]
#[command(long_about = SCAN_HELP)]
pub struct ScanArgs {
    /// Directory (or single file) to scan; default: the sample data shipped in data/.
    #[arg(default_value = "data")]
    pub dir: PathBuf,
    /// Output table: FILE.csv or FILE.parquet (default: CSV on standard output).
    #[arg(long, short)]
    pub out: Option<PathBuf>,
    /// Instrument profile for every file: a shipped name (e.g. alfosc) or a TOML file.
    #[arg(long)]
    pub instrument: Option<String>,
    /// Extra directory of instrument profiles (*.toml), tried before the shipped ones.
    #[arg(long)]
    pub profiles: Option<PathBuf>,
}

pub fn run(args: ScanArgs, verbosity: Verbosity) -> anyhow::Result<i32> {
    let started = Instant::now();
    if !args.dir.exists() {
        bail!("{}: no such file or directory", args.dir.display());
    }
    let registry = super::profile_registry(args.profiles.as_deref())?;
    let choice = match &args.instrument {
        Some(name) => ProfileChoice::from_arg(name, &registry)?,
        None => ProfileChoice::Detect,
    };
    let (files, walk_problems) = files_to_scan(&args.dir);
    let bar = if verbosity == Verbosity::Quiet {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(files.len() as u64)
    };
    bar.set_style(
        ProgressStyle::with_template("scan {bar:30} {pos}/{len} files {elapsed}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let tick = || bar.inc(1);
    let options = ScanOptions {
        profiles: &registry,
        choice: &choice,
        on_file: &tick,
        pixels: PixelReads::All,
    };
    let report = ScanReport {
        rows: scan_files(&files, &options),
        walk_problems,
    };
    bar.finish_and_clear();

    let mut df = to_dataframe(&report.rows)?;
    write_table_or_stdout(&mut df, args.out.as_deref()).with_context(|| match &args.out {
        Some(path) => format!("cannot write {}", path.display()),
        None => "cannot write the table to standard output".to_string(),
    })?;

    let (ok, warn, err) = (
        report.count(ScanStatus::Ok),
        report.count(ScanStatus::Warning),
        report.count(ScanStatus::Error),
    );
    if verbosity != Verbosity::Quiet {
        for p in &report.walk_problems {
            eprintln!("warning: {p}");
        }
        for row in &report.rows {
            let show = match row.status {
                ScanStatus::Error => true,
                ScanStatus::Warning => verbosity == Verbosity::Verbose,
                ScanStatus::Ok => false,
            };
            if let (true, Some(message)) = (show, &row.error) {
                eprintln!("{}: {message}", row.status.as_str());
            }
        }
        eprintln!(
            "scanned {} image HDUs in {}: {ok} ok, {warn} with warnings, {err} skipped ({:.2} s){}",
            report.rows.len(),
            args.dir.display(),
            started.elapsed().as_secs_f64(),
            match &args.out {
                Some(p) => format!("; table written to {}", p.display()),
                None => String::new(),
            }
        );
    }
    Ok(if ok + warn == 0 {
        if report.rows.is_empty() && verbosity != Verbosity::Quiet {
            eprintln!("no FITS files found in {}", args.dir.display());
        }
        EXIT_FAILURE
    } else if err > 0 {
        EXIT_SKIPPED
    } else {
        EXIT_OK
    })
}
