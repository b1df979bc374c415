//! `cometphot simulate`.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use clap::Args;

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

Every setting can be given in a TOML file (--config); the options below override it.";

#[derive(Debug, Args)]
#[command(long_about = SIMULATE_HELP)]
pub struct SimulateArgs {
    /// Output directory (created if needed).
    #[arg(long, short, default_value = "outputs/simulated-night")]
    pub out: PathBuf,
    /// TOML file with any NightConfig settings (see simulation.toml of a previous run).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Master random seed.
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
    let started = Instant::now();
    let config = config(&args)?;
    let night = simulate::run(&config, &args.out)?;
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
