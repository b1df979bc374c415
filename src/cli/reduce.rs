//! `cometphot reduce`.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::bail;
use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};

use cometphot::frame::profile::ProfileChoice;
use cometphot::reduce::combine::CombineMethod;
use cometphot::reduce::illumination::IlluminationOptions;
use cometphot::reduce::pipeline::{reduce_directory, MasterKind, Progress, ReduceOptions};

use super::{Verbosity, EXIT_FAILURE, EXIT_OK, EXIT_SKIPPED};

const REDUCE_HELP: &str = "\
Reduces every raw frame under RAW_DIR into --out DIR (never into RAW_DIR; inputs are only read).

Frames are classified as by `cometphot scan`. Biases are grouped by instrument, binning,
readout window and size, and combined into one master bias per group; flats likewise per
group and filter (each bias-subtracted and normalised, combined with rejection, normalised
to 1; pixels outside [0.5, 1.5] flagged BAD). Every science and standard frame is then
overscan-subtracted per amplifier (row-wise, robust, smoothed), trimmed, bias-subtracted,
flat-fielded, converted to electrons, masked (non-finite, saturated/non-linear, bad) and
cleaned of cosmic rays (L.A.Cosmic), and written as DIR/<name>_red.fits (float32 image in
electrons with the processing in HISTORY cards, and a uint8 MASK extension).
Masters go to DIR/masters/, and DIR/reduce_log.csv lists every input with its status and
reason. A frame without a master bias or flat of its layout and filter is skipped with a
reason naming the file, filter and binning; the batch continues.

--illumination adds an illumination correction (a night-sky flat, as IRAF's mkskyflat /
mkillumcor): the flat-fielded science frames of each filter and layout, their sources masked,
are measured on a mesh of 128 px boxes, each divided by its sky level, combined box by box with
the median, and interpolated to a smooth surface (median 1 in the centre) by which every
science and standard frame of that filter is divided. It removes the few per cent by which a
twilight flat's illumination differs from the night sky's. Use dithered frames: whatever stays
on the same pixels in every frame (a sky gradient, the outer coma of a tracked comet) is taken
for illumination too. The surface is written to DIR/masters/illumination_<filter>_<layout>.fits.";

/// How master frames are combined.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CombineArg {
    /// Per-pixel median.
    Median,
    /// Per-pixel 3-sigma-clipped mean (noise model from the read noise and the level).
    Mean,
}

#[derive(Debug, Args)]
#[command(long_about = REDUCE_HELP)]
pub struct ReduceArgs {
    /// Directory of raw frames (walked recursively).
    pub raw_dir: PathBuf,
    /// Output directory (created if needed; must not be RAW_DIR).
    #[arg(long, short)]
    pub out: PathBuf,
    /// Do not clean cosmic rays.
    #[arg(long)]
    pub no_cosmic: bool,
    /// Combination of the master bias and flats.
    #[arg(long, value_enum, default_value_t = CombineArg::Mean)]
    pub combine: CombineArg,
    /// Do not write the master frames.
    #[arg(long)]
    pub no_masters: bool,
    /// Instrument profile for every file: a shipped name (e.g. alfosc) or a TOML file.
    #[arg(long)]
    pub instrument: Option<String>,
    /// Extra directory of instrument profiles (*.toml), tried before the shipped ones.
    #[arg(long)]
    pub profiles: Option<PathBuf>,
    /// Divide the flat-fielded frames by an illumination correction (night-sky flat) built
    /// from the science frames of each filter (see below).
    #[arg(long)]
    pub illumination: bool,
}

pub fn run(args: ReduceArgs, verbosity: Verbosity) -> anyhow::Result<i32> {
    let started = Instant::now();
    if !args.raw_dir.exists() {
        bail!("{}: no such file or directory", args.raw_dir.display());
    }
    let registry = super::profile_registry(args.profiles.as_deref())?;
    let mut options = ReduceOptions::new(registry);
    if let Some(name) = &args.instrument {
        options.choice = ProfileChoice::from_arg(name, &options.profiles)?;
    }
    options.combine.method = match args.combine {
        CombineArg::Median => CombineMethod::Median,
        CombineArg::Mean => CombineMethod::ClippedMean,
    };
    if args.no_cosmic {
        options.cosmic = None;
    }
    options.write_masters = !args.no_masters;
    if args.illumination {
        options.illumination = Some(IlluminationOptions::default());
    }

    let bar = if verbosity == Verbosity::Quiet {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(0)
    };
    bar.set_style(
        ProgressStyle::with_template("reduce {bar:30} {pos}/{len} frames {elapsed}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let on_progress = |p: Progress| match p {
        Progress::Planned {
            calibration,
            science,
        } => bar.set_length((calibration + science) as u64),
        Progress::FrameDone => bar.inc(1),
    };
    let report = reduce_directory(&args.raw_dir, &args.out, &options, &on_progress)?;
    bar.finish_and_clear();

    if verbosity != Verbosity::Quiet {
        for p in &report.walk_problems {
            eprintln!("warning: {p}");
        }
        for m in &report.masters {
            let what = match m.kind {
                MasterKind::Bias => format!(
                    "master bias ({}): {} frames, level {:.1} ADU, noise {:.2} e-",
                    m.layout,
                    m.n_frames,
                    m.bias_level_adu.unwrap_or(f64::NAN),
                    m.bias_noise_e.unwrap_or(f64::NAN)
                ),
                MasterKind::Flat => format!(
                    "master flat '{}' ({}): {} frames, mean level {:.0} e-, rms {:.2}% in the \
                     centre, {} BAD pixels",
                    m.filter.as_deref().unwrap_or("none"),
                    m.layout,
                    m.n_frames,
                    m.flat_level_e.unwrap_or(f64::NAN),
                    100.0 * m.flat_rms.unwrap_or(f64::NAN),
                    m.n_bad
                ),
            };
            eprintln!("{what}");
        }
        for i in &report.illuminations {
            eprintln!(
                "illumination correction '{}' ({}): {} science frames, {} px boxes, range \
                 {:.4}-{:.4}{}",
                i.filter.as_deref().unwrap_or("none"),
                i.layout,
                i.sources.len(),
                i.mesh_box_px,
                i.min,
                i.max,
                match &i.output {
                    Some(p) => format!(" -> {}", p.display()),
                    None => String::new(),
                }
            );
        }
        for s in &report.skipped {
            eprintln!("skipped: {}", s.reason);
        }
        if verbosity == Verbosity::Verbose {
            for s in &report.ignored {
                eprintln!("ignored: {}: {}", s.file.display(), s.reason);
            }
            for r in &report.reduced {
                eprintln!(
                    "reduced {} -> {} (sky {:.1} e-, {} saturated, {} cosmic-ray pixels)",
                    r.source.display(),
                    r.output
                        .as_deref()
                        .map(|p| p.display().to_string())
                        .unwrap_or_default(),
                    r.sky_median_e,
                    r.n_saturated,
                    r.n_cosmic_ray
                );
            }
        }
        eprintln!(
            "reduced {} frames from {} into {}: {} skipped, {} ignored, {} master frames ({:.2} s){}",
            report.reduced.len(),
            args.raw_dir.display(),
            args.out.display(),
            report.skipped.len(),
            report.ignored.len(),
            report.masters.len(),
            started.elapsed().as_secs_f64(),
            match &report.log {
                Some(p) => format!("; log in {}", p.display()),
                None => String::new(),
            }
        );
    }
    Ok(if report.reduced.is_empty() {
        if verbosity != Verbosity::Quiet {
            eprintln!(
                "nothing reduced: no science or standard frame could be calibrated in {}",
                args.raw_dir.display()
            );
        }
        EXIT_FAILURE
    } else if !report.skipped.is_empty() {
        EXIT_SKIPPED
    } else {
        EXIT_OK
    })
}
