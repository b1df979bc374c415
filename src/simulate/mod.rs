//! Synthetic NOT/ALFOSC nights with known truth, for tests and demonstrations.
//!
//! [`run`] writes raw frames exactly in the ALFOSC layout (header-only primary HDU with the
//! observing keywords, image in extension 1 `im1` with the detector keywords and a TAN WCS;
//! DESIGN §5): biases, sky flats and science frames of a comet in a star field, plus
//!
//! - `catalogue.csv` (`id, ra_deg, dec_deg, mag`): the synthetic star catalogue, in the
//!   simulated band, usable as the reference catalogue;
//! - `truth_frames.csv`: one row per frame ([`FrameTruth`]);
//! - `truth_stars.csv`: one row per star and frame ([`StarTruth`]);
//! - `truth_cosmic_rays.csv`: every pixel hit by a cosmic ray ([`CosmicRayTruth`]);
//! - `simulation.toml`: the [`NightConfig`] used, to regenerate the night;
//! - with [`NightConfig::standards`], standard-star frames (IMAGETYP `STD`) of a separate
//!   field, `standards.csv` (`id, ra_deg, dec_deg, mag, mag_err`: the standards catalogue) and
//!   `truth_standards.csv` (one row per star and standard frame: airmass, true magnitude,
//!   injected electrons, and the night's zero point and extinction, [`StandardTruth`]).
//!
//! Everything derives from [`NightConfig::seed`]: the same settings give byte-identical
//! files. Per-frame random streams are `Pcg64` generators seeded with
//! [`model::derive_seed`]`(seed, stream, index)`; the flat-field and bias patterns are
//! hashes of (seed, pixel) and are therefore the same in every frame of the night.
//!
//! Photometric model (documented in [`model`]): a source of magnitude m gives
//! `t · 10^(−0.4 (m + k·X − ZP))` electrons, ZP being the magnitude that gives 1 e⁻/s above
//! the atmosphere (default 25.0 in R: a round value of the right order for the NOT; set
//! your own), k the extinction (default 0.07 mag/airmass, La Palma R; King 1985) and X the
//! airmass at mid-exposure. The
//! sky (mag/arcsec², as measured at the site) is not extinguished. The detector layout is
//! described in [`detector`], the pixel pipeline in [`render`].
//!
//! [`campaign`] chains nights into an observing campaign whose comet follows a known
//! heliocentric lightcurve (`cometphot simulate --campaign`).
//!
//! Simplifications: the telescope tracks sidereally (stars are round, the comet moves
//! between frames at the given rate but does not trail within an exposure); no dark
//! current, fringing or non-linearity; the PSF is the same everywhere.

pub mod campaign;
pub mod detector;
pub mod ephemeris;
pub mod model;
mod night;
pub mod render;
#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::frame::FrameError;

pub use night::{night_bias_pattern, night_flat_pattern, simulate_night};
pub use render::PixelFormat;

/// Errors of the simulator.
#[derive(Debug, Error)]
pub enum SimulateError {
    #[error("simulation setting {field}: {message}")]
    InvalidConfig {
        field: &'static str,
        message: String,
    },
    #[error(
        "{file}: the field is {altitude_deg:.1} deg above the horizon at {time_utc} \
         (at least 5 deg needed for an exposure); change the pointing or the start times"
    )]
    BelowHorizon {
        file: String,
        time_utc: String,
        altitude_deg: f64,
    },
    #[error(transparent)]
    Frame(#[from] FrameError),
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot write the simulation settings as TOML: {0}")]
    Toml(String),
}

/// Where the comet is at the reference time (mid-exposure of the first science frame).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum CometPosition {
    /// Sky position (ICRS, deg).
    Sky { ra_deg: f64, dec_deg: f64 },
    /// Image position (0-based, binned px of the written image) in the first science frame,
    /// converted to the sky with the true WCS.
    Pixel { x_px: f64, y_px: f64 },
    /// Offset from the pointing (arcsec east and north on the sky).
    Offset { east_arcsec: f64, north_arcsec: f64 },
}

/// An extended feature of the coma.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ComaFeature {
    None,
    /// A lobe towards the Sun (position angle `antisolar_position_angle_deg` + 180°).
    SunwardFan,
    /// A lobe away from the Sun (position angle `antisolar_position_angle_deg`).
    AntisolarTail,
}

/// The comet. Its surface brightness is `Σ(ρ) = k/ρ · A(θ)` out to
/// `coma_outer_radius_arcsec`, where `k` (e⁻/arcsec) is set so that the flux within
/// `coma_aperture_radius_arcsec` is that of magnitude `coma_mag` (`2πkρ`) and `A(θ)` the
/// optional fan/tail lobe ([`model::Lobe`], azimuthal mean 1), plus an optional nucleus
/// (a point source of magnitude `nucleus_mag`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CometConfig {
    /// False: no comet in the science frames.
    pub enabled: bool,
    pub position: CometPosition,
    /// Sky motion, `dα·cos δ / dt` and `dδ/dt` (arcsec/hour).
    pub rate_ra_arcsec_per_hour: f64,
    pub rate_dec_arcsec_per_hour: f64,
    /// Magnitude of the coma (above the atmosphere, in the simulated band) within
    /// `coma_aperture_radius_arcsec` of the nucleus.
    pub coma_mag: f64,
    pub coma_aperture_radius_arcsec: f64,
    /// The 1/ρ coma ends here (it must contain the aperture).
    pub coma_outer_radius_arcsec: f64,
    /// Magnitude of a point-like nucleus; `None` for no nucleus.
    pub nucleus_mag: Option<f64>,
    pub feature: ComaFeature,
    /// Position angle of the antisolar direction, east of north (deg; Horizons' PsAng).
    pub antisolar_position_angle_deg: f64,
    /// Fraction of the coma light in the fan or tail (0–1).
    pub feature_fraction: f64,
    /// Full width at half maximum of the fan or tail in position angle (deg).
    pub feature_width_deg: f64,
}

impl Default for CometConfig {
    fn default() -> Self {
        CometConfig {
            enabled: true,
            position: CometPosition::Offset {
                east_arcsec: 0.0,
                north_arcsec: 0.0,
            },
            rate_ra_arcsec_per_hour: -30.0,
            rate_dec_arcsec_per_hour: 10.0,
            coma_mag: 17.0,
            coma_aperture_radius_arcsec: 4.0,
            coma_outer_radius_arcsec: 40.0,
            nucleus_mag: None,
            feature: ComaFeature::None,
            antisolar_position_angle_deg: 95.0,
            feature_fraction: 0.3,
            feature_width_deg: 60.0,
        }
    }
}

/// Settings of a simulated night. Units are in the names; angles in degrees, times UTC
/// (ISO 8601). Deserialises from TOML with every field optional (defaults below).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NightConfig {
    /// Master seed (below 2⁶³, so that `simulation.toml` can record it).
    pub seed: u64,
    pub n_bias: usize,
    pub n_flat: usize,
    pub n_science: usize,
    /// Start of the first exposure of each sequence; the frames of a sequence follow each
    /// other after `exptime + overhead_s`. Sequences may come in any order but must not
    /// overlap; files are numbered in time order.
    pub bias_start_utc: String,
    pub flat_start_utc: String,
    pub science_start_utc: String,
    /// Readout and set-up time between exposures (s).
    pub overhead_s: f64,
    pub flat_exptime_s: f64,
    pub science_exptime_s: f64,
    /// File names are `<prefix><year letter><month letter><DD><NNNN>.fits` (NOT style:
    /// year letter `A` = 2017 as in the real file ALAb170110, month `a` = January, DD the
    /// UTC day of the first frame, NNNN the sequence number).
    pub file_prefix: String,
    pub first_sequence_number: u32,
    /// OBJECT and TCSTGT of the science frames.
    pub object_name: String,
    /// Sky position at the centre of the light-sensitive part of the window (ICRS, deg).
    pub pointing_ra_deg: f64,
    pub pointing_dec_deg: f64,
    /// Size of the error of the header WCS (CRVAL) relative to the true one (arcsec), in a
    /// random direction per frame.
    pub pointing_error_arcsec: f64,
    /// Angle of the image +y axis from north through east (deg); 0 = north up, east left.
    pub rotation_deg: f64,
    /// Sky flats are offset from the pointing by up to this much in each axis (arcsec).
    pub flat_dither_arcsec: f64,
    /// Readout window, unbinned detector pixels, `DETWIN1` syntax (`[x1:x2, y1:y2]`,
    /// 1-based); the full raw frame is `[1:2148, 1:2102]`.
    pub detector_window: String,
    pub binning_x: usize,
    pub binning_y: usize,
    /// Unbinned pixel scale (arcsec/px).
    pub pixel_scale_arcsec_per_px: f64,
    pub gain_e_per_adu: f64,
    pub read_noise_e: f64,
    pub bias_level_adu: f64,
    /// Amplitude of the row-to-row bias structure (ADU); the same in the overscan.
    pub bias_row_amplitude_adu: f64,
    /// RMS of the frame-to-frame change of the bias level (ADU).
    pub bias_frame_offset_rms_adu: f64,
    /// Written values are clipped here (ADU, including bias).
    pub saturation_adu: f64,
    pub pixel_format: PixelFormat,
    /// No Poisson noise, no read noise, no cosmic rays (bias pattern and flat remain).
    pub noiseless: bool,
    /// Vignetting: the flat-field response drops by this fraction at the data-area corners.
    pub flat_vignetting_fraction: f64,
    /// Pixel-to-pixel RMS of the flat-field response (fraction).
    pub flat_pixel_rms: f64,
    /// Sky level of the first sky flat (ADU above bias, for a binned pixel of response 1).
    pub flat_level_adu: f64,
    /// The sky flats fade linearly to `(1 − this) × flat_level_adu` (twilight).
    pub flat_level_decline_fraction: f64,
    /// Illumination of the sky flats that the night sky does not have (a twilight-flat
    /// error): the flats' light is multiplied by `1 + a·u·v`, a saddle with u and v running
    /// from −1 to +1 across the light-sensitive part of the readout window, so their corners
    /// are lit ±a relative to the centre; science and standard frames are not. Flat-fielded
    /// frames then keep a saddle of about ∓a, which an illumination correction should
    /// remove. Within (−0.5, 0.5); 0 (none) by default.
    pub flat_illumination_saddle: f64,
    /// Cosmic-ray tracks per science frame (none in biases and flats).
    pub cosmic_rays_per_frame: usize,
    /// Charge range deposited per pixel of a cosmic-ray track (e⁻).
    pub cosmic_ray_min_e: f64,
    pub cosmic_ray_max_e: f64,
    /// Filter name written in FAFLTNM (FBFLTNM and ALFLTNM are 'Open').
    pub filter_name: String,
    /// Magnitude giving 1 e⁻/s above the atmosphere in this filter (ALFOSC R ≈ 25).
    pub zero_point_mag: f64,
    pub extinction_mag_per_airmass: f64,
    pub sky_mag_per_arcsec2: f64,
    /// Seeing: FWHM of the Moffat PSF (arcsec) and its β (> 1).
    pub seeing_fwhm_arcsec: f64,
    pub moffat_beta: f64,
    /// Field stars: surface density (per arcmin²) and magnitude range; counts grow as
    /// `10^(0.3 m)` within the range.
    pub star_density_per_arcmin2: f64,
    pub star_mag_min: f64,
    pub star_mag_max: f64,
    pub comet: CometConfig,
    /// Standard-star frames of a separate field; none when absent (and then nothing about
    /// them is written, not even in `simulation.toml`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub standards: Option<StandardsConfig>,
}

/// Standard-star frames: a field of `n_stars` stars of known magnitude, observed at the given
/// times (spread them over the night so that the airmasses differ). Their light follows the
/// same photometric model as every source, `t · 10^(−0.4 (m + k·X − ZP))` with the night's
/// `zero_point_mag` and `extinction_mag_per_airmass`, which a fit of
/// `m_cat − m_inst = zp0 − k·X` should recover.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StandardsConfig {
    /// Centre of the standard field (ICRS, deg).
    pub ra_deg: f64,
    pub dec_deg: f64,
    /// OBJECT and TCSTGT of the standard frames.
    pub object_name: String,
    /// Start of each standard-star exposure (UTC, ISO 8601), one frame each.
    pub start_utc: Vec<String>,
    pub exptime_s: f64,
    /// Stars of the field: number and magnitude range (uniform); placed at random at least
    /// `edge_margin_arcsec` inside the light-sensitive window and `min_separation_arcsec` apart,
    /// so that every one can be measured.
    pub n_stars: usize,
    pub mag_min: f64,
    pub mag_max: f64,
    pub edge_margin_arcsec: f64,
    pub min_separation_arcsec: f64,
    /// Error of the catalogue magnitudes (mag): `standards.csv` gives the true magnitude plus
    /// a Gaussian error of this size, and this value in its `mag_err` column (0: exact).
    pub catalogue_error_mag: f64,
}

impl Default for StandardsConfig {
    fn default() -> Self {
        StandardsConfig {
            ra_deg: 250.0,
            dec_deg: 0.0,
            object_name: "STD field".to_string(),
            start_utc: Vec::new(),
            exptime_s: 10.0,
            n_stars: 12,
            mag_min: 14.5,
            mag_max: 17.0,
            edge_margin_arcsec: 20.0,
            min_separation_arcsec: 15.0,
            catalogue_error_mag: 0.0,
        }
    }
}

impl Default for NightConfig {
    fn default() -> Self {
        NightConfig {
            seed: 1,
            n_bias: 5,
            n_flat: 5,
            n_science: 5,
            bias_start_utc: "2025-08-01T19:30:00.000".to_string(),
            flat_start_utc: "2025-08-01T20:25:00.000".to_string(),
            science_start_utc: "2025-08-01T21:30:00.000".to_string(),
            overhead_s: 40.0,
            flat_exptime_s: 3.0,
            science_exptime_s: 300.0,
            file_prefix: "AL".to_string(),
            first_sequence_number: 1,
            object_name: "3I/ATLAS".to_string(),
            pointing_ra_deg: 265.0,
            pointing_dec_deg: -18.5,
            pointing_error_arcsec: 5.0,
            rotation_deg: 0.0,
            flat_dither_arcsec: 20.0,
            detector_window: "[1:2148, 1:2102]".to_string(),
            binning_x: 1,
            binning_y: 1,
            pixel_scale_arcsec_per_px: detector::PIXEL_SCALE_ARCSEC_PER_PX,
            gain_e_per_adu: 0.16,
            read_noise_e: 4.3,
            bias_level_adu: 1000.0,
            bias_row_amplitude_adu: 1.5,
            bias_frame_offset_rms_adu: 2.0,
            saturation_adu: 80_000.0,
            pixel_format: PixelFormat::U32,
            noiseless: false,
            flat_vignetting_fraction: 0.05,
            flat_pixel_rms: 0.01,
            flat_level_adu: 30_000.0,
            flat_level_decline_fraction: 0.3,
            flat_illumination_saddle: 0.0,
            cosmic_rays_per_frame: 30,
            cosmic_ray_min_e: 1_000.0,
            cosmic_ray_max_e: 10_000.0,
            filter_name: "R_Bes 650_130".to_string(),
            zero_point_mag: 25.0,
            extinction_mag_per_airmass: 0.07,
            sky_mag_per_arcsec2: 20.5,
            seeing_fwhm_arcsec: 1.0,
            moffat_beta: 3.0,
            star_density_per_arcmin2: 3.0,
            star_mag_min: 14.0,
            star_mag_max: 21.0,
            comet: CometConfig::default(),
            standards: None,
        }
    }
}

/// Kind of a simulated frame (names as in the frame table: `bias`, `flat`, `science`,
/// `standard`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FrameKind {
    Bias,
    Flat,
    Science,
    Standard,
}

impl FrameKind {
    pub fn as_str(&self) -> &'static str {
        match self {
            FrameKind::Bias => "bias",
            FrameKind::Flat => "flat",
            FrameKind::Science => "science",
            FrameKind::Standard => "standard",
        }
    }

    /// IMAGETYP as ALFOSC writes it.
    pub fn imagetyp(&self) -> &'static str {
        match self {
            FrameKind::Bias => "BIAS",
            FrameKind::Flat => "FLAT,SKY",
            FrameKind::Science => "OBJECT",
            FrameKind::Standard => "STD",
        }
    }
}

impl std::fmt::Display for FrameKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Truth about the comet in one science frame.
#[derive(Debug, Clone, PartialEq)]
pub struct CometTruth {
    /// Position in the written image (0-based, binned px, pixel centres at integers), from
    /// the true WCS.
    pub x_px: f64,
    pub y_px: f64,
    pub ra_deg: f64,
    pub dec_deg: f64,
    /// Expected electrons injected by the comet (coma + nucleus), summed over all data
    /// pixels of the image, before the flat field and before noise: what a perfect
    /// flat-fielded image holds from the comet, Σ over pixels of ∬ Σ(ρ, θ) dA.
    pub flux_e: f64,
    pub coma_flux_e: f64,
    pub nucleus_flux_e: f64,
    /// k of `Σ = k/ρ` with Σ in e⁻/arcsec² and ρ in arcsec (the flux within ρ is 2πkρ).
    pub coma_k_e_per_arcsec: f64,
    /// `2πk·ρ_ap`: expected coma electrons within `coma_aperture_radius_arcsec` (analytic,
    /// without nucleus).
    pub coma_aperture_flux_e: f64,
    pub coma_aperture_radius_arcsec: f64,
}

/// Truth about one frame (one row of `truth_frames.csv`).
#[derive(Debug, Clone, PartialEq)]
pub struct FrameTruth {
    pub file: String,
    pub frame_type: FrameKind,
    pub sequence_number: u32,
    pub exptime_s: f64,
    /// DATE-OBS (exposure start) and DATE-AVG (mid-exposure) as written.
    pub date_obs_utc: String,
    pub date_avg_utc: String,
    pub mjd_mid_utc: f64,
    /// Airmass at mid-exposure, used for the extinction (`None` when below the horizon).
    pub airmass: Option<f64>,
    /// Airmass at the exposure start, written in AIRMASS (as ALFOSC does).
    pub airmass_start: Option<f64>,
    pub filter: String,
    pub width_px: usize,
    pub height_px: usize,
    pub binning_x: usize,
    pub binning_y: usize,
    /// True sky position of the optical centre of the window.
    pub pointing_ra_deg: f64,
    pub pointing_dec_deg: f64,
    /// Header CRVAL minus true (arcsec on the sky, east and north) and its size.
    pub pointing_error_east_arcsec: f64,
    pub pointing_error_north_arcsec: f64,
    pub pointing_error_arcsec: f64,
    /// Sky electrons per written (binned) pixel, before the flat field.
    pub sky_e_per_px: f64,
    /// This frame's bias offset from the night's bias pattern (ADU).
    pub bias_frame_offset_adu: f64,
    pub comet: Option<CometTruth>,
    pub n_cosmic_ray_pixels: usize,
    /// Seed of this frame's random stream (also in the header keyword SIMSEED).
    pub seed: u64,
}

/// One star in one frame (one row of `truth_stars.csv`).
#[derive(Debug, Clone, PartialEq)]
pub struct StarTruth {
    pub file: String,
    pub star_id: usize,
    /// Position in the written image (0-based, binned px) from the true WCS.
    pub x_px: f64,
    pub y_px: f64,
    pub mag: f64,
    /// Total expected electrons (after extinction), before the flat and noise.
    pub flux_e: f64,
    /// Expected electrons actually injected on the data pixels of the image (PSF wings
    /// beyond the rendering radius and parts off the image are missing).
    pub flux_in_image_e: f64,
}

/// One catalogue star (one row of `catalogue.csv`).
#[derive(Debug, Clone, PartialEq)]
pub struct CatalogueStar {
    pub id: usize,
    pub ra_deg: f64,
    pub dec_deg: f64,
    pub mag: f64,
}

/// One standard star in one standard frame (one row of `truth_standards.csv`).
#[derive(Debug, Clone, PartialEq)]
pub struct StandardTruth {
    pub file: String,
    pub star_id: usize,
    pub mjd_mid_utc: f64,
    /// Airmass at mid-exposure (the one the extinction used).
    pub airmass: f64,
    /// True magnitude (above the atmosphere) and the magnitude in `standards.csv`.
    pub mag: f64,
    pub catalogue_mag: f64,
    /// Expected electrons (after extinction), before the flat and noise.
    pub flux_e: f64,
    /// The night's zero point above the atmosphere and extinction coefficient, and the zero
    /// point at this airmass, `ZP − k·X` (mag for 1 e⁻/s).
    pub zero_point_mag: f64,
    pub extinction_mag_per_airmass: f64,
    pub zero_point_at_airmass_mag: f64,
}

/// One pixel hit by a cosmic ray (one row of `truth_cosmic_rays.csv`).
#[derive(Debug, Clone, PartialEq)]
pub struct CosmicRayTruth {
    pub file: String,
    pub x_px: usize,
    pub y_px: usize,
    pub charge_e: f64,
}

/// What [`run`] wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct SimulatedNight {
    pub out_dir: PathBuf,
    /// FITS files in time order.
    pub fits_files: Vec<PathBuf>,
    pub frames: Vec<FrameTruth>,
    pub stars: Vec<StarTruth>,
    pub cosmic_rays: Vec<CosmicRayTruth>,
    pub catalogue: Vec<CatalogueStar>,
    pub catalogue_csv: PathBuf,
    pub truth_frames_csv: PathBuf,
    pub truth_stars_csv: PathBuf,
    pub truth_cosmic_rays_csv: PathBuf,
    pub config_toml: PathBuf,
    /// The standard-star field (true magnitudes) and, with standards, `standards.csv` and
    /// `truth_standards.csv`.
    pub standards: Vec<CatalogueStar>,
    pub standard_truth: Vec<StandardTruth>,
    pub standards_csv: Option<PathBuf>,
    pub truth_standards_csv: Option<PathBuf>,
}

/// Simulates a night into `out_dir` (created if needed; files of the same names are
/// replaced). This is what `cometphot simulate` calls.
pub fn run(config: &NightConfig, out_dir: &Path) -> Result<SimulatedNight, SimulateError> {
    simulate_night(config, out_dir)
}
