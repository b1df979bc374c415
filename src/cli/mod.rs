//! clap definitions and subcommand glue.

mod aperture;
mod compare;
mod diagnostics;
mod dust;
mod ephem;
mod fit;
mod grains;
mod lightcurve_input;
mod merge;
mod photometry;
mod reduce;
mod run;
mod scan;
mod simulate;

use anyhow::Context;
use clap::{Parser, Subcommand};

/// Every input was read.
pub const EXIT_OK: i32 = 0;
/// Nothing usable, or a usage error.
pub const EXIT_FAILURE: i32 = 1;
/// Some inputs were skipped (listed with reasons); the rest was processed.
pub const EXIT_SKIPPED: i32 = 2;

const AFTER_HELP: &str = "\
Exit status:
  0  every input was read
  1  nothing usable, or a usage error
  2  some inputs were skipped (each with a reason naming the file, HDU and keyword)

Examples:
  cometphot scan                       # classify the sample frames shipped in data/
  cometphot scan /data/NOT/2025-08-01 --out frames.parquet
  cometphot simulate --out sim-night --seed 7
  cometphot ephem --object 3I --start 2025-07-01 --stop 2025-09-30 --step 6h --site NOT
  cometphot fit outputs/photometry.csv --object 3I --model both --out outputs/fit.json";

/// Cometary photometry for NOT/ALFOSC (and other) CCD frames.
#[derive(Debug, Parser)]
#[command(name = "cometphot", version, about, after_help = AFTER_HELP)]
pub struct Cli {
    /// Print only errors.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Print every problem found, not only the summary.
    #[arg(short, long, global = true)]
    pub verbose: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Everything in one command: photometry of every night, fit, dust, grains, comparison
    /// and a report (the sample campaign without arguments).
    Run(run::RunArgs),
    /// Classify every FITS file of a directory: one row per image HDU.
    Scan(scan::ScanArgs),
    /// Observing geometry of a comet (RA/Dec, rH, Δ, phase, position angles) on a time grid.
    Ephem(ephem::EphemArgs),
    /// Reduce raw frames: overscan, master bias and flats, flat fielding, electrons, masks,
    /// cosmic rays.
    Reduce(reduce::ReduceArgs),
    /// Write simulated raw NOT/ALFOSC frames (biases, sky flats, science) with a truth table.
    Simulate(simulate::SimulateArgs),
    /// Calibrated fixed-aperture magnitudes of the comet in every science frame of a directory.
    Photometry(photometry::PhotometryArgs),
    /// Join the photometry tables of `photometry --shard I/N` runs into one.
    Merge(merge::MergeArgs),
    /// Fit the heliocentric lightcurve: power-law index n with honest errors, broken and robust
    /// variants, bootstrap intervals.
    Fit(fit::FitArgs),
    /// Two comets side by side at a matched rH (n, dM/dt, C_e, grains, turnaround) with the
    /// literature values and their citations.
    Compare(compare::CompareArgs),
    /// Aperture photometry at one position (exact pixel overlap, clipped annulus background).
    Aperture(aperture::ApertureArgs),
    /// Dust from a lightcurve: cross-section, Afρ, mass, production rate and their trends
    /// with rH, with every assumption listed beside the numbers.
    Dust(dust::DustArgs),
    /// Radiation pressure and turnaround of grains at dates, and the (grain size, speed)
    /// region consistent with a fan/tail morphology sequence.
    Grains(grains::GrainsArgs),
}

/// How chatty the command is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verbosity {
    Quiet,
    Normal,
    Verbose,
}

impl Cli {
    /// The verbosity its flags ask for.
    pub fn verbosity(&self) -> Verbosity {
        if self.quiet {
            Verbosity::Quiet
        } else if self.verbose {
            Verbosity::Verbose
        } else {
            Verbosity::Normal
        }
    }
}

pub fn run(cli: Cli) -> anyhow::Result<i32> {
    let verbosity = cli.verbosity();
    match cli.command {
        Command::Scan(args) => scan::run(args, verbosity),
        Command::Run(args) => run::run(args, verbosity),
        Command::Reduce(args) => reduce::run(args, verbosity),
        Command::Simulate(args) => simulate::run(args, verbosity),
        Command::Ephem(args) => ephem::run(args, verbosity),
        Command::Aperture(args) => aperture::run(args, verbosity),
        Command::Photometry(args) => photometry::run(args, verbosity),
        Command::Merge(args) => merge::run(args, verbosity),
        Command::Fit(args) => fit::run(args, verbosity),
        Command::Compare(args) => compare::run(args, verbosity),
        Command::Dust(args) => dust::run(args, verbosity),
        Command::Grains(args) => grains::run(args, verbosity),
    }
}

/// The shipped instrument profiles plus those in `extra_dir` (*.toml, tried first).
fn profile_registry(
    extra_dir: Option<&std::path::Path>,
) -> anyhow::Result<cometphot::frame::profile::ProfileRegistry> {
    use anyhow::Context;
    use cometphot::frame::profile::{InstrumentProfile, ProfileRegistry};
    let mut registry = ProfileRegistry::shipped()?;
    if let Some(dir) = extra_dir {
        let entries = std::fs::read_dir(dir)
            .with_context(|| format!("cannot list profile directory {}", dir.display()))?;
        let mut paths: Vec<_> = entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "toml"))
            .collect();
        paths.sort();
        for p in paths {
            registry.add(InstrumentProfile::from_file(&p)?);
        }
    }
    Ok(registry)
}

/// The comet's orbital elements from `--elements FILE` (the entry named by `--object`, or the
/// file's only one) or, without a file, the built-in orbit `--object` names; `None` when
/// neither is given.
pub fn comet_elements(
    elements: Option<&std::path::Path>,
    object: Option<&str>,
) -> anyhow::Result<Option<cometphot::ephem::orbit::CometElements>> {
    use cometphot::ephem::elements::{builtin, read_elements_file};
    Ok(match (elements, object) {
        (Some(path), object) => Some(read_elements_file(path, object)?),
        (None, Some(name)) => Some(builtin(name)?),
        (None, None) => None,
    })
}

/// Refuses an output path (`option`: the flag that gave it) inside the input directory: the
/// inputs are never modified, and files written among them would be found by the next scan
/// (`--allow-output-in-input` lifts this). An input that is a single file refuses only itself.
/// Paths are compared after resolving symbolic links and `..` (in the part of `output` that
/// does not exist yet, lexically).
pub fn refuse_output_inside_input(
    output: &std::path::Path,
    input: &std::path::Path,
    option: &str,
) -> anyhow::Result<()> {
    let Ok(input_abs) = input.canonicalize() else {
        return Ok(());
    };
    let resolved = resolve_path(output)
        .with_context(|| format!("{option} {}: cannot resolve", output.display()))?;
    let (inside, what) = if input_abs.is_file() {
        (resolved == input_abs, "is the input file")
    } else {
        (
            resolved.starts_with(&input_abs),
            "is inside the input directory",
        )
    };
    if inside {
        anyhow::bail!(
            "{option} {} {what} {}: inputs are never modified, choose another {option} (or \
             pass --allow-output-in-input)",
            output.display(),
            input.display()
        );
    }
    Ok(())
}

/// `path` made absolute with symbolic links and `..` resolved, component by component, as far
/// as it exists (the rest lexically).
fn resolve_path(path: &std::path::Path) -> std::io::Result<std::path::PathBuf> {
    use std::path::Component;
    let mut resolved = std::path::PathBuf::new();
    for component in std::path::absolute(path)?.components() {
        match component {
            Component::ParentDir => {
                resolved.pop();
            }
            Component::CurDir => {}
            other => {
                resolved.push(other);
                if let Ok(canonical) = resolved.canonicalize() {
                    resolved = canonical;
                }
            }
        }
    }
    Ok(resolved)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outputs_inside_the_input_are_refused_through_links_and_dots() {
        let dir = tempfile::tempdir().unwrap();
        let raw = dir.path().join("raw");
        std::fs::create_dir_all(raw.join("night")).unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&raw, &link).unwrap();
        let frame = raw.join("night").join("a.fits");
        std::fs::write(&frame, b"").unwrap();
        let refused = |out: &std::path::Path, input: &std::path::Path| {
            refuse_output_inside_input(out, input, "--out").is_err()
        };
        assert!(refused(&raw.join("out.csv"), &raw));
        assert!(refused(&raw, &raw));
        assert!(refused(&link.join("new/deeper/out.csv"), &raw));
        assert!(refused(&dir.path().join("missing/../raw/out.csv"), &raw));
        assert!(refused(&raw.join("night/../out.csv"), &link));
        assert!(!refused(&raw.join("new/../../elsewhere/out.csv"), &raw));
        assert!(!refused(&dir.path().join("out.csv"), &raw));
        assert!(!refused(&dir.path().join("raw2/out.csv"), &raw));
        // A single-file input refuses only itself.
        assert!(refused(&frame, &frame));
        assert!(!refused(&raw.join("night/b.csv"), &frame));
    }
}
