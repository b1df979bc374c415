//! `cometphot simulate`.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};

use cometphot::simulate::campaign::{self, CampaignConfig, CampaignProgress, NightPlan};
use cometphot::simulate::{self, CometPosition, NightConfig};

use super::{Verbosity, EXIT_OK};

const SIMULATE_HELP: &str = "\
Writes a night of raw NOT/ALFOSC-like frames (biases, sky flats, science frames of a comet) in
the exact ALFOSC layout (empty primary HDU + image extension 'im1', 32-bit unsigned), with:
  catalogue.csv          synthetic reference catalogue (id, ra_deg, dec_deg, mag)
  truth_frames.csv       per frame: times, airmass, comet position (0-based px and RA/Dec)
                         and the exact injected comet flux (e-)
  truth_stars.csv        per frame and star: position (px) and flux (e-)
  truth_cosmic_rays.csv  cosmic-ray pixels
  simulation.toml        every setting used (pass it back with --config to repeat the run)
Everything is reproducible from the seed: the same settings give byte-identical files.

Every setting can be given in a TOML file (--config); the options below override it.

With --campaign NAME|FILE.toml, writes an observing campaign instead: one night per date into
<out>/<YYYYMMDD>/ (as above), the comet placed from its orbit and as bright as a known
lightcurve m = H + 5 log10(delta) + 2.5 n log10(rH) + beta*alpha within a fixed linear aperture,
seeing and sky drawn per night, plus
  truth_campaign.csv     per science frame: geometry, aperture (km and arcsec), true_mag, the
                         truth H, n, beta, and the coma bias of a 30-45\" sky annulus
  campaign.toml          the campaign settings used, defaults included
Built-in campaigns: 3I-2025 (3I/ATLAS from the NOT, July-September 2025, n = 3.8).";

#[derive(Debug, Args)]
#[command(long_about = SIMULATE_HELP)]
pub struct SimulateArgs {
    /// Output directory (created if needed; default outputs/simulated-night, or
    /// outputs/simulated-campaign with --campaign).
    #[arg(long, short)]
    pub out: Option<PathBuf>,
    /// Simulate an observing campaign: a built-in name (3I-2025) or a campaign TOML file.
    #[arg(
        long,
        value_name = "NAME|FILE.toml",
        conflicts_with_all = [
            "config", "n_bias", "n_flat", "n_science", "window", "binning", "comet_mag",
            "comet_pixel", "comet_radec", "noiseless", "float",
        ]
    )]
    pub campaign: Option<String>,
    /// With --campaign: print the plan of the nights (CSV) and write no frames.
    #[arg(long, requires = "campaign")]
    pub plan_only: bool,
    /// TOML file with any NightConfig settings (see simulation.toml of a previous run).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Master random seed (of the night, or of the campaign).
    #[arg(long)]
    pub seed: Option<u64>,
    #[arg(long)]
    pub n_bias: Option<usize>,
    #[arg(long)]
    pub n_flat: Option<usize>,
    #[arg(long)]
    pub n_science: Option<usize>,
    /// Readout window in unbinned detector pixels, DETWIN1 syntax, e.g. '[1:600,1:600]'
    /// (default: the full 2148 x 2102 raw frame).
    #[arg(long)]
    pub window: Option<String>,
    /// On-chip binning, the same in x and y (1 or 2).
    #[arg(long)]
    pub binning: Option<usize>,
    /// Comet magnitude within the aperture radius of the coma settings (default 4″).
    #[arg(long)]
    pub comet_mag: Option<f64>,
    /// Comet position in the first science frame (0-based pixels of the written image).
    #[arg(long, num_args = 2, value_names = ["X_PX", "Y_PX"], conflicts_with = "comet_radec")]
    pub comet_pixel: Option<Vec<f64>>,
    /// Comet sky position (deg) at the first science frame's mid-exposure.
    #[arg(long, num_args = 2, value_names = ["RA_DEG", "DEC_DEG"])]
    pub comet_radec: Option<Vec<f64>>,
    /// No Poisson noise, read noise or cosmic rays.
    #[arg(long)]
    pub noiseless: bool,
    /// Write 32-bit float pixels (unrounded) instead of ALFOSC's 32-bit integers.
    #[arg(long)]
    pub float: bool,
}

fn config(args: &SimulateArgs) -> anyhow::Result<NightConfig> {
    let mut c = match &args.config {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            toml::from_str(&text).with_context(|| format!("{} is not valid", path.display()))?
        }
        None => NightConfig::default(),
    };
    if let Some(v) = args.seed {
        c.seed = v;
    }
    if let Some(v) = args.n_bias {
        c.n_bias = v;
    }
    if let Some(v) = args.n_flat {
        c.n_flat = v;
    }
    if let Some(v) = args.n_science {
        c.n_science = v;
    }
    if let Some(v) = &args.window {
        c.detector_window = v.clone();
    }
    if let Some(v) = args.binning {
        c.binning_x = v;
        c.binning_y = v;
    }
    if let Some(v) = args.comet_mag {
        c.comet.coma_mag = v;
    }
    if let Some([x_px, y_px]) = args.comet_pixel.as_deref() {
        c.comet.position = CometPosition::Pixel {
            x_px: *x_px,
            y_px: *y_px,
        };
    }
    if let Some([ra_deg, dec_deg]) = args.comet_radec.as_deref() {
        c.comet.position = CometPosition::Sky {
            ra_deg: *ra_deg,
            dec_deg: *dec_deg,
        };
    }
    if args.noiseless {
        c.noiseless = true;
    }
    if args.float {
        c.pixel_format = simulate::PixelFormat::F32;
    }
    Ok(c)
}

pub fn run(args: SimulateArgs, verbosity: Verbosity) -> anyhow::Result<i32> {
    if let Some(spec) = &args.campaign {
        return run_campaign(&args, spec, verbosity);
    }
    let started = Instant::now();
    let config = config(&args)?;
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from("outputs/simulated-night"));
    let night = simulate::run(&config, &out)?;
    if verbosity != Verbosity::Quiet {
        if verbosity == Verbosity::Verbose {
            for f in &night.fits_files {
                eprintln!("wrote {}", f.display());
            }
        }
        eprintln!(
            "simulated {} frames ({} bias, {} flat, {} science) and {} catalogue stars in {} \
             ({:.1} s); truth in {}",
            night.fits_files.len(),
            config.n_bias,
            config.n_flat,
            config.n_science,
            night.catalogue.len(),
            night.out_dir.display(),
            started.elapsed().as_secs_f64(),
            night.truth_frames_csv.display(),
        );
    }
    Ok(EXIT_OK)
}

fn campaign_config(args: &SimulateArgs, spec: &str) -> anyhow::Result<CampaignConfig> {
    let mut c = campaign::load_campaign(spec)?;
    if let Some(v) = args.seed {
        c.seed = v;
    }
    Ok(c)
}

/// The plan as CSV (one row per night).
fn plan_csv(plans: &[NightPlan]) -> String {
    let mut out = String::from(
        "night_utc,bias_start_utc,flat_start_utc,science_start_utc,science_exptime_s,\
         altitude_start_deg,altitude_end_deg,airmass,rh_au,delta_au,phase_deg,\
         aperture_radius_arcsec,true_mag,seeing_fwhm_arcsec,sky_mag_per_arcsec2\n",
    );
    for p in plans {
        let o = &p.observation;
        out.push_str(&format!(
            "{},{},{},{},{},{:.2},{:.2},{:.3},{:.5},{:.5},{:.3},{:.3},{:.4},{:.3},{:.3}\n",
            p.date_utc,
            p.bias_start_utc,
            p.flat_start_utc,
            p.science_start_utc,
            p.science_exptime_s,
            p.altitude_start_deg,
            p.altitude_end_deg,
            p.airmass,
            o.rh_au,
            o.delta_au,
            o.phase_deg,
            p.aperture_radius_arcsec,
            p.true_mag,
            p.seeing_fwhm_arcsec,
            p.sky_mag_per_arcsec2,
        ));
    }
    out
}

fn run_campaign(args: &SimulateArgs, spec: &str, verbosity: Verbosity) -> anyhow::Result<i32> {
    let started = Instant::now();
    let config = campaign_config(args, spec)?;
    if args.plan_only {
        let plans = campaign::plan(&config)?;
        print!("{}", plan_csv(&plans));
        return Ok(EXIT_OK);
    }
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from("outputs/simulated-campaign"));
    let bar = if verbosity == Verbosity::Quiet {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(0)
    };
    bar.set_style(
        ProgressStyle::with_template("simulate {bar:30} {pos}/{len} nights {elapsed}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let result = campaign::run_with_progress(&config, &out, &|p| match p {
        CampaignProgress::Planned { nights } => bar.set_length(nights as u64),
        CampaignProgress::NightDone { .. } => bar.inc(1),
    });
    bar.finish_and_clear();
    let sim = result?;
    if verbosity != Verbosity::Quiet {
        if verbosity == Verbosity::Verbose {
            for (plan, night) in sim.plans.iter().zip(&sim.nights) {
                eprintln!(
                    "{}: {} frames in {}, science from {} ({} x {} s), rH {:.3} au, \
                     delta {:.3} au, alpha {:.2} deg, true mag {:.3}",
                    plan.date_utc,
                    night.fits_files.len(),
                    night.out_dir.display(),
                    plan.science_start_utc,
                    config.n_science,
                    plan.science_exptime_s,
                    plan.observation.rh_au,
                    plan.observation.delta_au,
                    plan.observation.phase_deg,
                    plan.true_mag,
                );
            }
        }
        let (first, last) = (sim.plans.first(), sim.plans.last());
        eprintln!(
            "simulated campaign {}: {} nights ({} to {}), {} frames of {}; rH {:.2} -> {:.2} au, \
             true mag {:.2} -> {:.2} (H = {}, n = {}, beta = {} mag/deg) in {} ({:.1} s); \
             truth in {}",
            config.name,
            sim.plans.len(),
            first.map_or("-", |p| p.date_utc.as_str()),
            last.map_or("-", |p| p.date_utc.as_str()),
            sim.n_files(),
            config.object,
            first.map_or(f64::NAN, |p| p.observation.rh_au),
            last.map_or(f64::NAN, |p| p.observation.rh_au),
            first.map_or(f64::NAN, |p| p.true_mag),
            last.map_or(f64::NAN, |p| p.true_mag),
            config.h_mag,
            config.n_index,
            config.phase_coeff_mag_per_deg,
            sim.out_dir.display(),
            started.elapsed().as_secs_f64(),
            sim.truth_csv.display(),
        );
    }
    Ok(EXIT_OK)
}
