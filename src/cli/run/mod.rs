//! `cometphot run`: raw frames to the lightcurve, dust, grains, the comparison and a report in
//! one command, by chaining the other commands with the options of one TOML configuration.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context};
use clap::{Args, Parser};
use indicatif::{ProgressBar, ProgressStyle};
use rayon::prelude::*;

use cometphot::frame::profile::ProfileChoice;
use cometphot::scan::{
    files_to_scan, read_in_full, scan_files, to_dataframe, PixelReads, ScanOptions, ScanRow,
};
use cometphot::simulate::campaign::{builtin_campaign, campaign_toml, run as simulate_campaign};
use cometphot::table::{write_table_or_stdout, write_text_atomic};

use super::photometry::Shard;
use super::{Cli, Command, Verbosity, EXIT_FAILURE, EXIT_OK, EXIT_SKIPPED};

mod config;
mod document;
mod figures;
mod inputs;
mod report;
mod shards;
mod table;

pub use config::RunConfig;
use figures::write_plots;
use inputs::{checksum_inputs, inputs_csv};
use report::{report, ReportInputs};
use table::{csv_to_parquet, read_json};

const RUN_HELP: &str = "\
Runs the whole pipeline: photometry of every night (reduce in memory, WCS, the comet from its
ephemeris, catalogue zero point, fixed aperture) → fit (n with honest errors, broken law) →
dust (C_e, Afρ, dM/dt and their trends) → grains (turnaround, syndynes, the (a, v) region) →
compare (with the reference comet and the literature) → report.md.

The input is a directory of raw frames (one subdirectory per night, or the frames themselves)
or a TOML configuration holding every option (see run.toml in an output directory). Zero
points come from the reference catalogue (`catalog`, else each night's catalogue.csv) or, for
frames without one, from the night's standard-star frames (`standards`, else each night's
standards.csv: zp = zp0 − k·X fitted per night and filter); without standards, standard
frames are skipped. With no
argument it runs on the sample: the built-in simulated 3I/ATLAS campaign (22 nights,
July–September 2025, n = 3.8), generated from data/campaigns/3I-2025.toml into
<out>/sample-campaign the first time. The configuration used, completed with defaults, is
written to <out>/run.toml so that a run can be repeated exactly.

Outputs in --out (every table as CSV and Parquet): frames (the scan), photometry, skipped (file
and reason), fit.json, lightcurve (points with model and residuals), dust and dust_trend.json,
grains, comparison, growth (curves of growth) and zp_stars (zero-point stars), with standards
extinction (zp0, k per night and filter) and standard_frames, inputs.csv (the
input files with SHA-256 checksums), plots/ (PNG and SVG), diagnostics/<night>/ (postage stamps,
zero-point plots and DS9 region files per frame), report.md and report.html (self-contained).
Every file is written to a temporary name and renamed: an interrupted run leaves the previous
outputs whole. The sample run also measures the real NEOSSat frames of C/2021 A1 in
data/real/neossat (aperture_examples.csv).

When fit, dust, grains or compare cannot be done (e.g. the frames span too small a range of
rH), the run goes on without that step's outputs and the report lists it under 'Steps not
done'. --out inside the raw directory is refused unless --allow-output-in-input.

Exit status: 0 every frame was used; 2 some frames or nights were skipped (listed in
skipped.csv and the report) or an analysis step was not done; 1 nothing usable or a usage
error.

A campaign can be spread over the tasks of a batch system that share --out: `--shard I/N`
measures every N-th night (in name order, starting with the I-th) and stops after the
photometry, reading only the frames of its own nights; `--merge-shards N`, once every shard
has finished, scans the campaign, joins the shards and writes exactly what one unsharded run
writes.

Examples:
  cometphot run
  cometphot run /data/NOT/3I --out results
  cometphot run results/run.toml
  cometphot run /data/NOT/3I --out results --shard ${SLURM_ARRAY_TASK_ID}/8   # 8 array tasks
  cometphot run /data/NOT/3I --out results --merge-shards 8                  # then once";

#[derive(Debug, Args)]
#[command(long_about = RUN_HELP)]
pub struct RunArgs {
    /// A directory of raw frames or a TOML configuration; the sample campaign without it.
    pub input: Option<PathBuf>,
    /// Output directory.
    #[arg(long, short, default_value = "outputs")]
    pub out: PathBuf,
    /// Allow --out inside the raw directory (refused by default: inputs are never modified,
    /// and a later scan would find the outputs).
    #[arg(long)]
    pub allow_output_in_input: bool,
    /// Measure only every N-th night (in name order), starting with the I-th, and stop after
    /// the photometry. The shards of a campaign share one --out (e.g. on a cluster's shared
    /// disk); `--merge-shards N` then joins them and does the rest.
    #[arg(long, value_name = "I/N", conflicts_with = "merge_shards")]
    pub shard: Option<Shard>,
    /// Measure nothing: join the nights measured by the N shards of `--shard I/N` in --out
    /// (each must have finished) and go on with fit, dust, grains, compare and the report.
    #[arg(long, value_name = "N")]
    pub merge_shards: Option<usize>,
}

/// Runs one cometphot command in-process; returns its exit status. `-v` prints the command.
fn step(args: &[String], verbosity: Verbosity) -> anyhow::Result<i32> {
    super::run(step_cli(args, verbosity)?)
}

/// The command line of a [`step`], parsed.
fn step_cli(args: &[String], verbosity: Verbosity) -> anyhow::Result<Cli> {
    let mut argv = vec!["cometphot".to_string()];
    argv.extend(args.iter().cloned());
    match verbosity {
        Verbosity::Quiet => argv.push("-q".into()),
        Verbosity::Verbose => eprintln!("  $ {}", argv.join(" ")),
        Verbosity::Normal => {}
    }
    Cli::try_parse_from(&argv).with_context(|| format!("internal: {}", argv.join(" ")))
}

/// A `photometry` [`step`], also returning the night's scan rows
/// ([`super::photometry::run_scanned`]).
fn photometry_step(args: &[String], verbosity: Verbosity) -> anyhow::Result<(i32, Vec<ScanRow>)> {
    let cli = step_cli(args, verbosity)?;
    let verbosity = cli.verbosity();
    match cli.command {
        Command::Photometry(args) => super::photometry::run_scanned(args, verbosity),
        _ => bail!("internal: not a photometry command: {}", args.join(" ")),
    }
}

/// Writes the frames table of `raw` (what `scan RAW --out frames` writes) from `scanned`, a
/// scan of its headers and pixel probes ([`PixelReads::Probe`]), and `checked`, the rows
/// whose pixel checks the nights' photometry completed on its reads: only the frames no
/// photometry read are read here, so that the table and the measurement share one read of
/// a frame.
///
/// A row the scan of `raw` left pending has first pixels that no other file of `raw` shares
/// (those are read in full to find duplicate exposures), so no file of its night shares them
/// either, and the night's row (checked on the reduction's read, or read in full there) is
/// the row a full scan of `raw` gives it: no duplicate of another file.
fn write_frames_table(
    mut scanned: Vec<ScanRow>,
    checked: &[ScanRow],
    options: &ScanOptions,
    path: &Path,
) -> anyhow::Result<()> {
    let done: HashMap<(&str, Option<u32>), &ScanRow> = checked
        .iter()
        .filter(|r| !r.pixels_pending)
        .map(|r| ((r.path.as_str(), r.hdu), r))
        .collect();
    for row in scanned.iter_mut().filter(|r| r.pixels_pending) {
        if let Some(complete) = done.get(&(row.path.as_str(), row.hdu)) {
            debug_assert!(complete.duplicate_of.is_none(), "{}", complete.path);
            *row = (*complete).clone();
        }
    }
    read_in_full(&mut scanned, |_| true, options);
    let mut df = to_dataframe(&scanned)?;
    write_table_or_stdout(&mut df, Some(path))
        .with_context(|| format!("cannot write {}", path.display()))
}

fn path_arg(p: &Path) -> String {
    p.display().to_string()
}

/// The nights of a raw directory: its subdirectories holding files, else the directory.
fn nights(raw: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(raw)
        .with_context(|| format!("cannot list {}", raw.display()))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    Ok(if dirs.is_empty() {
        vec![raw.to_path_buf()]
    } else {
        dirs
    })
}

/// The sample campaign: the built-in campaign with one science frame and two biases and
/// flats per night, the coma cut inside the sky annulus (so that the truth in the aperture
/// is what a correct measurement returns). Generated once, saying so unless `-q`.
fn sample_campaign(
    config: &RunConfig,
    out: &Path,
    verbosity: Verbosity,
) -> anyhow::Result<PathBuf> {
    let mut campaign = builtin_campaign(&config.sample_campaign)?;
    campaign.n_bias = 2;
    campaign.n_flat = 2;
    campaign.n_science = 1;
    campaign.coma_outer_radius_arcsec = 25.0;
    let dir = out.join("sample-campaign");
    let marker = dir.join("campaign.toml");
    let wanted = campaign_toml(&campaign)?;
    let current = std::fs::read_to_string(&marker).unwrap_or_default();
    if current != wanted {
        if verbosity != Verbosity::Quiet {
            eprintln!(
                "generating the sample campaign {} into {} (once)…",
                config.sample_campaign,
                dir.display()
            );
        }
        simulate_campaign(&campaign, &dir)?;
    }
    Ok(dir)
}

/// [`concatenate_csv`] of `(night, table)` parts with a first column `night`.
fn concatenate_csv_by_night(parts: &[(String, PathBuf)], out: &Path) -> anyhow::Result<usize> {
    let mut text = String::new();
    let mut rows = 0;
    for (night, part) in parts {
        let content = std::fs::read_to_string(part)
            .with_context(|| format!("cannot read {}", part.display()))?;
        let mut lines = content.lines();
        let Some(header) = lines.next() else { continue };
        if text.is_empty() {
            text.push_str(&format!("night,{header}\n"));
        }
        let night = super::diagnostics::csv_field(night);
        for line in lines {
            text.push_str(&format!("{night},{line}\n"));
            rows += 1;
        }
    }
    write_text_atomic(out, &text).with_context(|| format!("cannot write {}", out.display()))?;
    Ok(rows)
}

fn concatenate_csv(parts: &[PathBuf], out: &Path) -> anyhow::Result<usize> {
    let mut text = String::new();
    let mut rows = 0;
    for part in parts {
        let Ok(content) = std::fs::read_to_string(part) else {
            continue;
        };
        let mut lines = content.lines();
        let Some(header) = lines.next() else { continue };
        if text.is_empty() {
            text.push_str(header);
            text.push('\n');
        }
        for line in lines {
            text.push_str(line);
            text.push('\n');
            rows += 1;
        }
    }
    write_text_atomic(out, &text).with_context(|| format!("cannot write {}", out.display()))?;
    Ok(rows)
}

pub fn run(args: RunArgs, verbosity: Verbosity) -> anyhow::Result<i32> {
    let started = Instant::now();
    let config = match &args.input {
        Some(p) if p.extension().is_some_and(|e| e == "toml") => {
            let text = std::fs::read_to_string(p)
                .with_context(|| format!("cannot read {}", p.display()))?;
            toml::from_str::<RunConfig>(&text)
                .with_context(|| format!("{}: invalid configuration", p.display()))?
        }
        Some(dir) => RunConfig {
            raw_dir: Some(dir.clone()),
            aperture_examples: Vec::new(),
            ..RunConfig::default()
        },
        None => RunConfig::default(),
    };
    let out = args.out.clone();
    if let Some(raw) = &config.raw_dir {
        if !raw.is_dir() {
            bail!("{}: not a directory of raw frames", raw.display());
        }
        if !args.allow_output_in_input {
            super::refuse_output_inside_input(&out, raw, "--out")?;
        }
    }
    std::fs::create_dir_all(&out).with_context(|| format!("cannot create {}", out.display()))?;
    let raw = match &config.raw_dir {
        Some(dir) => dir.clone(),
        None => sample_campaign(&config, &out, verbosity)?,
    };
    write_text_atomic(&out.join("run.toml"), &toml::to_string(&config)?)?;

    let say = |text: &str| {
        if verbosity != Verbosity::Quiet {
            eprintln!("{text}");
        }
    };
    const STEPS: usize = 8;

    let nights = nights(&raw)?;
    if let Some(shard) = args.shard {
        // No scan here: it reads every pixel of every night, and the merge writes frames.csv
        // (a task of N reads only its own nights' frames, not the whole campaign).
        let mine = shards::shard_nights(&nights, shard);
        say(&format!(
            "photometry of {} of {} night(s) (shard {}/{})",
            mine.len(),
            nights.len(),
            shard.index + 1,
            shard.count
        ));
        let (outcomes, _) = measure_nights(&config, &mine, &out, verbosity)?;
        shards::write_record(&out, shard, &outcomes)?;
        say(&format!(
            "shard {}/{} done in {:.0} s; once every shard has finished: cometphot run {} \
             --out {} --merge-shards {}",
            shard.index + 1,
            shard.count,
            started.elapsed().as_secs_f64(),
            args.input
                .as_deref()
                .map_or_else(String::new, |p| p.display().to_string()),
            out.display(),
            shard.count
        ));
        let all_used = outcomes.iter().all(|o| o.result == Ok(EXIT_OK));
        return Ok(if all_used { EXIT_OK } else { EXIT_SKIPPED });
    }
    // A merge is refused before anything is read if a shard has not finished.
    let recorded = match args.merge_shards {
        Some(count) => Some((count, shards::read_records(&out, &nights, count)?)),
        None => None,
    };
    say(&format!("[1/{STEPS}] scan of {}", raw.display()));
    // Headers and pixel probes now, the pixel checks where the photometry reads the frames;
    // every pixel now when merging (the shards' photometry has read them already).
    let registry = super::profile_registry(None)?;
    let noop = || {};
    let scan_options = ScanOptions {
        profiles: &registry,
        choice: &ProfileChoice::Detect,
        on_file: &noop,
        pixels: match recorded {
            Some(_) => PixelReads::All,
            None => PixelReads::Probe,
        },
    };
    let scanned = scan_files(&files_to_scan(&raw).0, &scan_options);
    let (outcomes, checked) = match recorded {
        Some((count, outcomes)) => {
            say(&format!(
                "[2/{STEPS}] photometry of {} night(s) from {count} shard(s)",
                nights.len()
            ));
            (outcomes, Vec::new())
        }
        None => {
            say(&format!(
                "[2/{STEPS}] photometry of {} night(s)",
                nights.len()
            ));
            measure_nights(&config, &nights, &out, verbosity)?
        }
    };
    write_frames_table(scanned, &checked, &scan_options, &out.join("frames.csv"))?;
    let photometry = join_nights(&outcomes, &out)?;
    let n_rows = photometry.n_measurements;
    say(&format!(
        "      {n_rows} measurement(s), {} frame(s) skipped, {} night(s) failed",
        photometry.n_skipped,
        photometry.failed_nights.len()
    ));
    if n_rows == 0 {
        bail!("no comet measurement in any night of {}", raw.display());
    }
    let photometry_csv = out.join("photometry.csv");

    let mut failed_steps: Vec<FailedStep> = Vec::new();
    say(&format!("[3/{STEPS}] fit"));
    let fit_json = out.join("fit.json");
    let fit_args = [
        "fit".into(),
        path_arg(&photometry_csv),
        "--object".into(),
        config.object.clone(),
        "--phase-coeff".into(),
        config.phase_coeff_mag_per_deg.to_string(),
        "--phase-coeff-err".into(),
        config.phase_coeff_err_mag_per_deg.to_string(),
        "--model".into(),
        config.model.clone(),
        "--bootstrap".into(),
        config.bootstrap.to_string(),
        "--out".into(),
        path_arg(&fit_json),
        "--points".into(),
        path_arg(&out.join("lightcurve.csv")),
    ];
    let mut analysis = |name: &'static str, cli: anyhow::Result<Cli>, outputs: &[&str]| {
        if let Err(failed) = analysis_step(name, cli, &out, outputs) {
            say(&format!("      {name} not done: {}", failed.reason));
            failed_steps.push(failed);
        }
    };
    analysis(
        "fit",
        step_cli(&fit_args, verbosity),
        &["fit.json", "lightcurve.csv", "lightcurve.parquet"],
    );
    let fit = read_json(&fit_json).unwrap_or_default();

    say(&format!("[4/{STEPS}] dust"));
    // The rows left out for their flags are the same as fit's, and fit has named them.
    let dust = step_cli(&dust_args(&config, &out, &fit), verbosity).map(|mut cli| {
        if let Command::Dust(args) = &mut cli.command {
            args.input.report_excluded = false;
        }
        cli
    });
    analysis(
        "dust",
        dust,
        &["dust.csv", "dust.parquet", "dust_trend.json"],
    );

    say(&format!("[5/{STEPS}] grains"));
    let (first_mjd, last_mjd) = mjd_span(&photometry_csv);
    analysis(
        "grains",
        step_cli(&grain_args(&config, &out, first_mjd, last_mjd), verbosity),
        &["grains.csv", "grains.parquet"],
    );

    say(&format!("[6/{STEPS}] compare"));
    analysis(
        "compare",
        step_cli(
            &[
                "compare".into(),
                "--object".into(),
                config.object.clone(),
                "--reference".into(),
                config.reference.clone(),
                "--fit".into(),
                path_arg(&fit_json),
                "--dust".into(),
                path_arg(&out.join("dust_trend.json")),
                "--at-rh".into(),
                config.at_rh_au.to_string(),
                "--out".into(),
                path_arg(&out.join("comparison.csv")),
            ],
            Verbosity::Quiet,
        ),
        &["comparison.csv", "comparison.parquet"],
    );

    let examples: Vec<&config::ApertureExample> = config
        .aperture_examples
        .iter()
        .filter(|e| e.dir.is_dir())
        .collect();
    say(&format!(
        "[7/{STEPS}] aperture photometry of {} example(s)",
        examples.len()
    ));
    let skipped_examples = aperture_examples(&examples, &out, verbosity)?;
    let mut input_dirs = vec![raw.clone()];
    input_dirs.extend(examples.iter().map(|e| e.dir.clone()));

    say(&format!("[8/{STEPS}] tables, plots, checksums and report"));
    for table in [
        "frames",
        "skipped",
        "lightcurve",
        "dust",
        "grains",
        "comparison",
        "growth",
        "zp_stars",
        "extinction",
        "standard_frames",
        "aperture_examples",
    ] {
        let csv = out.join(format!("{table}.csv"));
        if csv.is_file() {
            csv_to_parquet(&csv)?;
        }
    }
    let last_date = last_mjd.and_then(|mjd| cometphot::ephem::time::UtcInstant::from_mjd(mjd).ok());
    let plots = write_plots(&config, &out, last_date, &say).unwrap_or_else(|e| {
        say(&format!("      plots not written: {e:#}"));
        Vec::new()
    });
    let mut inputs = Vec::new();
    for dir in &input_dirs {
        inputs.extend(checksum_inputs(dir));
    }
    write_text_atomic(&out.join("inputs.csv"), &inputs_csv(Path::new(""), &inputs))?;
    let stamps = files_with_extension(&out.join("diagnostics"), "stamps", "png");
    let zero_points = files_with_extension(&out.join("diagnostics"), "zero_points", "png");
    let document = report(&ReportInputs {
        config: &config,
        raw: &raw,
        out: &out,
        n_measurements: n_rows,
        failed_nights: &photometry.failed_nights,
        failed_steps: &failed_steps,
        plots: &plots,
        stamps: &stamps,
        zero_point_plot: zero_points.get(zero_points.len() / 2).map(PathBuf::as_path),
        inputs: &inputs,
        elapsed_s: started.elapsed().as_secs_f64(),
    })?;
    write_text_atomic(&out.join("report.md"), &document.to_markdown())?;
    write_text_atomic(&out.join("report.html"), &document.to_html(&out))?;
    if verbosity != Verbosity::Quiet {
        print_skipped(&out.join("skipped.csv"), &photometry.failed_nights);
    }
    say(&format!(
        "done in {:.0} s: {n_rows} measurement(s), {} frame(s) skipped, {} night(s) failed; \
         report in {}",
        started.elapsed().as_secs_f64(),
        photometry.n_skipped,
        photometry.failed_nights.len(),
        out.join("report.html").display()
    ));
    Ok(
        if !photometry.failed_nights.is_empty()
            || photometry.any_skipped
            || skipped_examples > 0
            || !failed_steps.is_empty()
        {
            EXIT_SKIPPED
        } else {
            EXIT_OK
        },
    )
}

/// An analysis step (fit, dust, grains, compare) that could not be done: the run goes on
/// without its outputs, and the report says why.
pub struct FailedStep {
    pub step: &'static str,
    pub reason: String,
}

/// Runs one analysis step (its command line from [`step_cli`]). When it fails, its `outputs` in `out` (left by an earlier run, and
/// now stale) are removed, so that the report and tables never mix two runs.
fn analysis_step(
    name: &'static str,
    cli: anyhow::Result<Cli>,
    out: &Path,
    outputs: &[&str],
) -> Result<(), FailedStep> {
    let reason = match cli.and_then(super::run) {
        Ok(code) if code != EXIT_FAILURE => return Ok(()),
        Ok(code) => format!("exit status {code}"),
        Err(e) => format!("{e:#}"),
    };
    for file in outputs {
        let path = out.join(file);
        if path.is_file() {
            let _ = std::fs::remove_file(&path);
        }
    }
    Err(FailedStep { step: name, reason })
}

/// Lists the skipped frames (at most 20) and the failed nights with their reasons.
fn print_skipped(skipped_csv: &Path, failed_nights: &[(String, String)]) {
    const SHOWN: usize = 20;
    let rows = table::Table::read(skipped_csv)
        .and_then(|t| Ok((t.text("file")?, t.text("reason")?)))
        .unwrap_or_default();
    for (file, reason) in rows.0.iter().zip(&rows.1).take(SHOWN) {
        eprintln!("skipped {file}: {reason}");
    }
    if rows.0.len() > SHOWN {
        eprintln!(
            "… and {} more (all in {})",
            rows.0.len() - SHOWN,
            skipped_csv.display()
        );
    }
    for (night, reason) in failed_nights {
        eprintln!("night {night} failed: {reason}");
    }
}

/// The photometry of every night, concatenated.
struct NightsPhotometry {
    n_measurements: usize,
    n_skipped: usize,
    /// Some night's photometry exited with "some inputs skipped".
    any_skipped: bool,
    failed_nights: Vec<(String, String)>,
}

/// What `photometry` did with one night: its exit status, or why it failed.
#[derive(Debug)]
struct NightOutcome {
    name: String,
    result: Result<i32, String>,
}

/// The name of a night's directory (its tables are `<out>/photometry/<name>.csv`).
fn night_name(night: &Path) -> String {
    night
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "night".into())
}

/// Companions of a night's table written by `photometry --standards`:
/// The file the configuration names for every night, else the night's own `file_name` when
/// it has one.
fn night_or_configured(
    configured: Option<&PathBuf>,
    night: &Path,
    file_name: &str,
) -> Option<PathBuf> {
    configured
        .cloned()
        .or_else(|| Some(night.join(file_name)).filter(|f| f.is_file()))
}

/// `<out>/photometry/<night>_extinction.csv` (the fit per filter) and `<night>_standards.csv`
/// (the standard frames).
const STANDARDS_SUFFIXES: [&str; 2] = ["extinction", "standards"];

/// Runs `photometry` on each night (tables in `<out>/photometry/`, diagnostics in
/// `<out>/diagnostics/<night>/`), with the night's standards (`standards`, else the night's
/// `standards.csv`) when there are any. Returns the outcomes and the scan rows of the nights
/// measured ([`super::photometry::run_scanned`]).
fn measure_nights(
    config: &RunConfig,
    nights: &[PathBuf],
    out: &Path,
    verbosity: Verbosity,
) -> anyhow::Result<(Vec<NightOutcome>, Vec<ScanRow>)> {
    let photometry_dir = out.join("photometry");
    std::fs::create_dir_all(&photometry_dir)?;
    let bar = if verbosity == Verbosity::Quiet {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(nights.len() as u64)
    };
    bar.set_style(
        ProgressStyle::with_template("      {bar:30} {pos}/{len} nights {elapsed}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    // Nights in parallel (each night's frames are reduced and measured in parallel too, but
    // a night often has a single science frame).
    let quiet = if verbosity == Verbosity::Verbose {
        Verbosity::Verbose
    } else {
        Verbosity::Quiet
    };
    let measured: Vec<(NightOutcome, Vec<ScanRow>)> = nights
        .par_iter()
        .map(|night| {
            let name = night_name(night);
            let table = photometry_dir.join(format!("{name}.csv"));
            let diagnostics = out.join("diagnostics").join(&name);
            let mut a = vec![
                "photometry".to_string(),
                path_arg(night),
                "--object".into(),
                config.object.clone(),
                "--site".into(),
                config.site.clone(),
                "--radius-km".into(),
                config.radius_km.to_string(),
                "--annulus-arcsec".into(),
                format!(
                    "{},{}",
                    config.annulus_inner_arcsec, config.annulus_outer_arcsec
                ),
                "--out".into(),
                path_arg(&table),
                "--diagnostics".into(),
                path_arg(&diagnostics),
            ];
            if let Some(c) = night_or_configured(config.catalog.as_ref(), night, "catalogue.csv") {
                a.extend(["--catalog".into(), path_arg(&c)]);
            }
            // A night without standards this time must not leave an earlier run's fit behind.
            for suffix in STANDARDS_SUFFIXES {
                let stale = photometry_dir.join(format!("{name}_{suffix}.csv"));
                if stale.is_file() {
                    let _ = std::fs::remove_file(&stale);
                }
            }
            if let Some(s) = night_or_configured(config.standards.as_ref(), night, "standards.csv")
            {
                a.extend(["--standards".into(), path_arg(&s)]);
            }
            let measured = photometry_step(&a, quiet).map_err(|e| format!("{e:#}"));
            if let (Err(reason), false) = (&measured, verbosity == Verbosity::Quiet) {
                bar.println(format!("      {name}: skipped: {reason}"));
            }
            bar.inc(1);
            let (result, rows) = match measured {
                Ok((code, rows)) => (Ok(code), rows),
                Err(reason) => (Err(reason), Vec::new()),
            };
            (NightOutcome { name, result }, rows)
        })
        .collect();
    bar.finish_and_clear();
    let (outcomes, rows): (Vec<NightOutcome>, Vec<Vec<ScanRow>>) = measured.into_iter().unzip();
    Ok((outcomes, rows.into_iter().flatten().collect()))
}

/// Concatenates the nights' tables into `photometry.csv/.parquet`, `skipped.csv`,
/// `growth.csv` and `zp_stars.csv`, and those of the nights with standards into
/// `extinction.csv` (with a `night` column first) and `standard_frames.csv` (in the order of
/// `outcomes`; both removed when no night had standards).
fn join_nights(outcomes: &[NightOutcome], out: &Path) -> anyhow::Result<NightsPhotometry> {
    let photometry_dir = out.join("photometry");
    let mut tables = Vec::new();
    let mut skipped_tables = Vec::new();
    let mut growth_tables = Vec::new();
    let mut zp_tables = Vec::new();
    let mut extinction_tables = Vec::new();
    let mut standard_tables = Vec::new();
    let mut any_skipped = false;
    let mut failed_nights = Vec::new();
    for outcome in outcomes {
        let name = &outcome.name;
        match &outcome.result {
            Ok(code) => {
                any_skipped |= *code == EXIT_SKIPPED;
                let diagnostics = out.join("diagnostics").join(name);
                tables.push(photometry_dir.join(format!("{name}.csv")));
                skipped_tables.push(photometry_dir.join(format!("{name}_skipped.csv")));
                growth_tables.push(diagnostics.join("growth.csv"));
                zp_tables.push(diagnostics.join("zp_stars.csv"));
                let extinction = photometry_dir.join(format!("{name}_extinction.csv"));
                if extinction.is_file() {
                    extinction_tables.push((name.clone(), extinction));
                    standard_tables.push(photometry_dir.join(format!("{name}_standards.csv")));
                }
            }
            Err(reason) => failed_nights.push((name.clone(), reason.clone())),
        }
    }
    let photometry = out.join("photometry.csv");
    let n_measurements = concatenate_csv(&tables, &photometry)?;
    let n_skipped = concatenate_csv(&skipped_tables, &out.join("skipped.csv"))?;
    concatenate_csv(&growth_tables, &out.join("growth.csv"))?;
    concatenate_csv(&zp_tables, &out.join("zp_stars.csv"))?;
    let (extinction, standard_frames) =
        (out.join("extinction.csv"), out.join("standard_frames.csv"));
    if extinction_tables.is_empty() {
        for stale in [&extinction, &standard_frames] {
            for ext in ["csv", "parquet"] {
                let path = stale.with_extension(ext);
                if path.is_file() {
                    let _ = std::fs::remove_file(&path);
                }
            }
        }
    } else {
        concatenate_csv_by_night(&extinction_tables, &extinction)?;
        concatenate_csv(&standard_tables, &standard_frames)?;
    }
    if n_measurements > 0 {
        csv_to_parquet(&photometry)?;
    }
    Ok(NightsPhotometry {
        n_measurements,
        n_skipped,
        any_skipped,
        failed_nights,
    })
}

/// First and last mid-exposure MJD of a photometry table.
fn mjd_span(photometry_csv: &Path) -> (Option<f64>, Option<f64>) {
    let mjd = table::Table::read(photometry_csv)
        .and_then(|t| t.f64("mjd_mid_utc"))
        .unwrap_or_default();
    let finite = || mjd.iter().copied().filter(|m| m.is_finite());
    (finite().reduce(f64::min), finite().reduce(f64::max))
}

fn dust_args(config: &RunConfig, out: &Path, fit: &serde_json::Value) -> Vec<String> {
    let mut a = vec![
        "dust".to_string(),
        path_arg(&out.join("photometry.csv")),
        "--object".into(),
        config.object.clone(),
        "--band".into(),
        config.band.clone(),
        "--system".into(),
        config.system.clone(),
        "--albedo".into(),
        config.albedo.to_string(),
        "--density".into(),
        config.grain_density_kg_m3.to_string(),
        "--radius-um".into(),
        config.grain_radius_um.to_string(),
        "--speed-m-s".into(),
        config.speed_m_s.to_string(),
        "--phase-coeff".into(),
        config.phase_coeff_mag_per_deg.to_string(),
        "--phase-coeff-err".into(),
        config.phase_coeff_err_mag_per_deg.to_string(),
        "--at-rh".into(),
        config.at_rh_au.to_string(),
        "--out".into(),
        path_arg(&out.join("dust.csv")),
    ];
    if let (Some(n), Some(e)) = (fit["n"].as_f64(), fit["n_err"].as_f64()) {
        a.extend([
            "--n-index".into(),
            n.to_string(),
            "--n-index-err".into(),
            e.to_string(),
        ]);
    }
    a
}

fn grain_args(
    config: &RunConfig,
    out: &Path,
    first_mjd: Option<f64>,
    last_mjd: Option<f64>,
) -> Vec<String> {
    let mut a = vec![
        "grains".to_string(),
        "--object".into(),
        config.object.clone(),
        "--site".into(),
        config.site.clone(),
        "--radius-um".into(),
        config.grain_radius_um.to_string(),
        "--density".into(),
        config.grain_density_kg_m3.to_string(),
        "--speed-m-s".into(),
        config.speed_m_s.to_string(),
        "--out".into(),
        path_arg(&out.join("grains.csv")),
    ];
    match (&config.morphology, &config.activity_start) {
        (Some(m), Some(start)) if m.is_file() => {
            a.extend([
                "--morphology".into(),
                path_arg(m),
                "--activity-start".into(),
                start.clone(),
            ]);
        }
        _ => {
            let dates: Vec<String> = [first_mjd, last_mjd]
                .into_iter()
                .flatten()
                .filter_map(|mjd| cometphot::ephem::time::UtcInstant::from_mjd(mjd).ok())
                .map(|t| t.to_string())
                .collect();
            a.extend(["--dates".into(), dates.join(",")]);
        }
    }
    a
}

/// Runs `aperture` on every FITS file of each example's directory into
/// `aperture_examples.csv` (with a `file` column); returns the number of files that failed.
fn aperture_examples(
    examples: &[&config::ApertureExample],
    out: &Path,
    verbosity: Verbosity,
) -> anyhow::Result<usize> {
    let scratch = out.join("aperture_examples");
    std::fs::create_dir_all(&scratch)?;
    let join = |v: &[f64]| v.iter().map(f64::to_string).collect::<Vec<_>>().join(",");
    let mut text = String::new();
    let mut failed = 0;
    for example in examples {
        let mut files: Vec<PathBuf> = std::fs::read_dir(&example.dir)
            .with_context(|| format!("cannot list {}", example.dir.display()))?
            .flatten()
            .map(|e| e.path())
            .filter(|p| {
                let name = p.to_string_lossy().to_lowercase();
                [".fits", ".fits.gz", ".fits.fz", ".fit", ".fts"]
                    .iter()
                    .any(|suffix| name.ends_with(suffix))
            })
            .collect();
        files.sort();
        for file in &files {
            let part = scratch.join("part.csv");
            let a = vec![
                "aperture".to_string(),
                path_arg(file),
                "--at".into(),
                join(&example.at_px),
                "--centroid".into(),
                "--radius-px".into(),
                join(&example.radii_px),
                "--annulus-px".into(),
                join(&example.annulus_px),
                "--out".into(),
                path_arg(&part),
            ];
            let ok = matches!(step(&a, Verbosity::Quiet), Ok(code) if code != EXIT_FAILURE);
            let content = std::fs::read_to_string(&part).unwrap_or_default();
            std::fs::remove_file(&part).ok();
            let mut lines = content.lines();
            let (true, Some(header)) = (ok, lines.next()) else {
                failed += 1;
                if verbosity != Verbosity::Quiet {
                    eprintln!("      {}: not measured", file.display());
                }
                continue;
            };
            if text.is_empty() {
                text = format!("file,{header}\n");
            }
            let name = super::diagnostics::csv_field(&file.display().to_string());
            for line in lines {
                text.push_str(&format!("{name},{line}\n"));
            }
        }
    }
    std::fs::remove_dir_all(&scratch).ok();
    let table = out.join("aperture_examples.csv");
    if text.is_empty() {
        std::fs::remove_file(&table).ok();
    } else {
        write_text_atomic(&table, &text)?;
    }
    Ok(failed)
}

/// `<dir>/<night>/<sub>/*.<ext>`, sorted.
fn files_with_extension(dir: &Path, sub: &str, ext: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .flat_map(|night| {
            std::fs::read_dir(night.path().join(sub))
                .into_iter()
                .flatten()
                .flatten()
        })
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == ext))
        .collect();
    files.sort();
    files
}
