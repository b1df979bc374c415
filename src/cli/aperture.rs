//! `cometphot aperture`.

use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::Args;

use cometphot::frame::meta::extract_meta;
use cometphot::frame::profile::{ProfileChoice, ProfileRegistry};
use cometphot::frame::read::{choose_profile, FitsSource, ImageHdu};
use cometphot::frame::FrameError;
use cometphot::image::Image;
use cometphot::photometry::aperture::{
    annulus_background, flags_to_string, measure_radii, window_centroid, CircularAnnulus,
    MeasureOptions, NoiseModel,
};
use cometphot::stats::SigmaClip;

use super::{Verbosity, EXIT_OK};

/// The CSV header, exactly.
pub const CSV_HEADER: &str =
    "x,y,radius_px,area_px,sum_adu,bkg_per_px_adu,bkg_err_adu,net_adu,net_err_adu,flags";

const APERTURE_HELP: &str = "\
Circular-aperture photometry of one position of one FITS image, with exact pixel overlap (the
areas of photutils' 'exact' method) and a background from an annulus (median of the pixels whose
centre is in the annulus, sigma-clipped at 3σ for at most 10 passes by astropy's rule, as
photutils' ApertureStats). One CSV row per radius on standard output:
  x, y            aperture centre (0-based pixels, pixel centres on integers, as numpy/photutils)
  radius_px       aperture radius
  area_px         area covered by usable pixels (Σ overlap fractions)
  sum_adu         Σ overlap × value (data as stored: BZERO/BSCALE applied, nothing subtracted)
  bkg_per_px_adu  clipped median of the annulus
  bkg_err_adu     error of the background in the aperture: area_px × σ_clip / √n_clip
  net_adu         sum_adu − area_px × bkg_per_px_adu
  net_err_adu     √(Σ overlap × σ_pix² + bkg_err_adu²), σ_pix² = max(value, 0)/gain + (RN/gain)²
                  (ADU²); on raw frames the Poisson term includes the bias level
  flags           |-joined: aperture_truncated, masked_pixels, saturated, no_usable_pixels,
                  annulus_truncated, few_background_pixels, background_not_converged,
                  no_background
Gain, read noise and saturation come from the header through the instrument profiles
(data/instruments) unless given; without a gain the error has only the background term.";

#[derive(Debug, Args)]
#[command(after_long_help = APERTURE_HELP)]
pub struct ApertureArgs {
    /// FITS file (.fits, .fits.gz, .fits.fz).
    pub frame: PathBuf,
    /// Aperture centre X,Y in 0-based pixels (pixel centres on integers).
    #[arg(long, value_name = "X,Y", allow_hyphen_values = true)]
    pub at: String,
    /// Move the centre to the windowed first-moment centroid within the smallest radius.
    #[arg(long)]
    pub centroid: bool,
    /// Aperture radii in pixels, comma-separated.
    #[arg(long, value_name = "R[,R...]", required = true)]
    pub radius_px: String,
    /// Background annulus inner and outer radius in pixels.
    #[arg(long, value_name = "IN,OUT", required = true)]
    pub annulus_px: String,
    /// 0-based HDU index of the image (default: the first image HDU with data).
    #[arg(long, value_name = "N")]
    pub hdu: Option<usize>,
    /// Gain in e⁻/ADU (default: from the header / instrument profile).
    #[arg(long, value_name = "E_PER_ADU")]
    pub gain: Option<f64>,
    /// Read noise in e⁻ (default: from the header / instrument profile, else 0).
    #[arg(long, value_name = "E")]
    pub read_noise_e: Option<f64>,
    /// Flag apertures with pixels at or above this value (default: from the profile).
    #[arg(long, value_name = "ADU")]
    pub saturation_adu: Option<f64>,
    /// Write the CSV to this file (atomically) instead of standard output.
    #[arg(long, value_name = "FILE.csv")]
    pub out: Option<PathBuf>,
}

fn parse_list(text: &str, what: &str) -> anyhow::Result<Vec<f64>> {
    text.split(',')
        .map(|part| {
            let part = part.trim();
            part.parse::<f64>()
                .ok()
                .filter(|v| v.is_finite())
                .with_context(|| format!("{what}: '{part}' is not a finite number in '{text}'"))
        })
        .collect()
}

fn parse_pair(text: &str, what: &str, example: &str) -> anyhow::Result<(f64, f64)> {
    let values = parse_list(text, what)?;
    match values.as_slice() {
        [a, b] => Ok((*a, *b)),
        _ => bail!("{what}: expected two numbers like {example}, got '{text}'"),
    }
}

/// Picks the requested image HDU (or the first one).
fn select_hdu(source: &mut FitsSource, wanted: Option<usize>) -> anyhow::Result<ImageHdu> {
    let shown = source.path().display().to_string();
    let hdus = source.image_hdus();
    match wanted {
        Some(n) => {
            for h in hdus {
                match h {
                    Ok(image) if image.hdu == n => return Ok(image),
                    Err(FrameError::Hdu { hdu, message, .. }) if hdu == n => {
                        bail!("{shown} HDU {n}: {message}")
                    }
                    _ => {}
                }
            }
            bail!("{shown}: HDU {n} is not an image HDU with data")
        }
        None => {
            let mut first_error = None;
            for h in hdus {
                match h {
                    Ok(image) => return Ok(image),
                    Err(e) => {
                        first_error.get_or_insert(e);
                    }
                }
            }
            match first_error {
                Some(e) => Err(e.into()),
                None => bail!("{shown}: no image HDU with data"),
            }
        }
    }
}

fn fmt(v: f64) -> String {
    if v.is_nan() {
        "NaN".to_string()
    } else {
        format!("{v}")
    }
}

pub fn run(args: ApertureArgs, verbosity: Verbosity) -> anyhow::Result<i32> {
    let (x0, y0) = parse_pair(&args.at, "--at", "--at 512.3,498.7")?;
    let radii = parse_list(&args.radius_px, "--radius-px")?;
    if let Some(r) = radii.iter().find(|r| **r <= 0.0) {
        bail!("--radius-px: radius {r} must be positive");
    }
    let (inner, outer) = parse_pair(&args.annulus_px, "--annulus-px", "--annulus-px 12,20")?;
    // Validates the annulus radii before reading the file.
    CircularAnnulus::new(x0, y0, inner, outer).context("--annulus-px")?;

    let path = &args.frame;
    let shown = path.display().to_string();
    if !path.exists() {
        bail!("{shown}: no such file");
    }
    let mut source = FitsSource::open(path)?;
    let hdu = select_hdu(&mut source, args.hdu)?;
    let pixels = source.read_pixels(&hdu)?;
    let image = Image::new(hdu.width, hdu.height, pixels)
        .with_context(|| format!("{shown} HDU {}", hdu.hdu))?;

    let registry = ProfileRegistry::shipped()?;
    let choice = ProfileChoice::Detect;
    let profile = choose_profile(&hdu.header, &choice, &registry);
    let (meta, _) = extract_meta(&hdu.header, profile, hdu.width, hdu.height);
    let gain = args.gain.or(meta.gain_e_per_adu);
    let read_noise = args.read_noise_e.or(meta.read_noise_e).unwrap_or(0.0);
    let noise = match gain {
        Some(g) => NoiseModel::Ccd {
            gain_e_per_adu: g,
            read_noise_e: read_noise,
        },
        None => {
            if verbosity != Verbosity::Quiet {
                eprintln!(
                    "warning: {shown} HDU {}: no gain (GAIN keyword or --gain); errors have only \
                     the background term",
                    hdu.hdu
                );
            }
            NoiseModel::BackgroundOnly
        }
    };
    let options = MeasureOptions {
        noise,
        saturation_adu: args.saturation_adu.or(meta.saturation_adu),
        sigma_clip: SigmaClip::default(),
        ..MeasureOptions::default()
    };
    let context = || format!("{shown} HDU {}", hdu.hdu);

    let (mut x, mut y) = (x0, y0);
    if args.centroid {
        let annulus = CircularAnnulus::new(x, y, inner, outer).with_context(context)?;
        let bkg = annulus_background(&image, None, &annulus, &options.sigma_clip)
            .with_context(context)?;
        let r_min = radii.iter().copied().fold(f64::INFINITY, f64::min);
        (x, y) = window_centroid(&image, None, x, y, r_min, bkg.median_per_px, 20)
            .with_context(context)?;
        if verbosity == Verbosity::Verbose {
            eprintln!("centroid: ({x0}, {y0}) -> ({x:.4}, {y:.4})");
        }
    }
    let annulus = CircularAnnulus::new(x, y, inner, outer).with_context(context)?;
    let background =
        annulus_background(&image, None, &annulus, &options.sigma_clip).with_context(context)?;
    let rows =
        measure_radii(&image, x, y, &radii, Some(&background), &options).with_context(context)?;

    let mut out = String::from(CSV_HEADER);
    out.push('\n');
    for m in &rows {
        out.push_str(&format!(
            "{},{},{},{},{},{},{},{},{},{}\n",
            fmt(m.x),
            fmt(m.y),
            fmt(m.radius_px),
            fmt(m.area_px),
            fmt(m.sum),
            fmt(m.bkg_per_px),
            fmt(m.bkg_err()),
            fmt(m.net),
            fmt(m.net_err),
            flags_to_string(m.flags)
        ));
    }
    match &args.out {
        Some(path) => cometphot::table::write_text_atomic(path, &out)
            .with_context(|| format!("cannot write {}", path.display()))?,
        None => print!("{out}"),
    }
    Ok(EXIT_OK)
}
