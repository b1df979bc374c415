//! Observing campaigns: several simulated nights of one comet, with the comet's brightness
//! following a known heliocentric lightcurve (issue 5, item 5).
//!
//! A [`CampaignConfig`] names the comet (a built-in orbit), the site, the evening dates of the
//! nights and the truth of the lightcurve: the magnitude within a fixed linear aperture of
//! radius ρ (km at the comet) is
//!
//! `m = H + 5 log10 Δ + 2.5 n log10 rH + β α (+ a Gaussian night-to-night scatter)`
//!
//! (DESIGN §4), evaluated at the mid-exposure of each night's first science frame. [`plan`]
//! turns the campaign into one [`NightPlan`] per night, without writing anything: the times of
//! the biases (afternoon), sky flats (evening twilight, or morning twilight when the comet is
//! too low in the evening) and science frames (astronomical darkness, where the comet stands
//! highest), the geometry, the true magnitude, the seeing and sky drawn for that night, the
//! science exposure time (the longest that keeps the comet's peak pixel below a fraction of
//! saturation) and the complete [`NightConfig`] of the night. [`run`] writes every night with
//! the night simulator ([`super::run`]) into `out_dir/<YYYYMMDD>/` and adds
//! `truth_campaign.csv` (one row per science frame) and `campaign.toml` (the settings used,
//! completed with defaults).
//!
//! The coma of the night simulator is a 1/ρ coma whose flux within
//! `coma_aperture_radius_arcsec` is that of `coma_mag`: setting that radius to
//! ρ_arcsec = ρ_km / (725.27 km × Δ_au) and `coma_mag` to the true magnitude makes the flux
//! within the fixed linear aperture exactly the truth. The coma continues out to
//! `coma_outer_radius_arcsec` (default 60″), beyond the 30–45″ sky annulus of the photometry:
//! a measurement that takes its sky from such an annulus subtracts some coma light and reads
//! fainter than the truth by `annulus_coma_bias_mag` (a column of the truth table, computed for
//! the annulus `truth_annulus_*_arcsec`; about 0.06 mag for 3I/ATLAS in a 10,000 km aperture).
//!
//! Everything derives from the campaign seed: a night's seed and its random conditions
//! (seeing, sky, scatter) are [`derive_seed`]`(seed, stream, MJD of the night's date)`,
//! so a night keeps its conditions when other nights are added to or removed from the list.
//!
//! Twilight and altitudes are computed with the Sun from VSOP87 (geocentric, no aberration or
//! refraction) and the mean sidereal time, on a 2-minute grid: plenty for planning.

use std::f64::consts::PI;
use std::path::{Path, PathBuf};

use rand::{Rng, SeedableRng};
use rand_distr::StandardNormal;
use rand_pcg::Pcg64;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::detector::{Readout, DATA_COLUMNS, DATA_ROWS};
use super::ephemeris::place_comet;
use super::model::{
    airmass_from_altitude, altitude_deg, derive_seed, electrons_from_mag, sky_electrons_per_px,
    NOT_OBSGEO_M,
};
use super::night::write_text;
use super::{FrameKind, NightConfig, SimulateError, SimulatedNight, StandardsConfig};
use crate::ephem::earth::earth_position_au;
use crate::ephem::elements::builtin;
use crate::ephem::ephemeris::{GeometrySource, OrbitModel};
use crate::ephem::geometry::Observation;
use crate::ephem::site::{itrs_to_geodetic, Site};
use crate::ephem::time::UtcInstant;
use crate::ephem::{Frame, StateVector, Vec3, KM_PER_ARCSEC_AT_1AU};

/// The built-in campaigns: name, path in the repository, TOML text (embedded in the binary).
pub const BUILTIN_CAMPAIGNS: [(&str, &str, &str); 1] = [(
    "3I-2025",
    "data/campaigns/3I-2025.toml",
    include_str!("../../data/campaigns/3I-2025.toml"),
)];

/// Random sub-streams of the campaign seed (distinct from those of a night).
const STREAM_NIGHT_SEED: u64 = 101;
const STREAM_CONDITIONS: u64 = 102;
/// Step of the twilight and altitude grids (s).
const GRID_STEP_S: f64 = 120.0;
/// Altitude of the Sun's centre at sunset (refraction and semi-diameter).
const SUNSET_SUN_ALTITUDE_DEG: f64 = -0.833;
/// Sky flats start when the Sun has set to this altitude (evening) or before it rises above
/// this one (morning).
const EVENING_FLAT_SUN_ALTITUDE_DEG: f64 = -5.0;
const MORNING_FLAT_SUN_ALTITUDE_DEG: f64 = -10.0;
/// Sky flats are pointed at the comet (the night simulator dithers them around its pointing),
/// which must then stand at least this high.
const MIN_FLAT_ALTITUDE_DEG: f64 = 10.0;
/// Biases end this long before sunset (s).
const BIAS_END_BEFORE_SUNSET_S: f64 = 1800.0;
/// The night simulator writes the NOT's OBSGEO and computes airmasses there: the campaign
/// site must be within this distance of it (m).
const NOT_SITE_TOLERANCE_M: f64 = 10_000.0;
/// `∬ dx dy / √(x² + y²)` over a unit pixel centred on the singularity: 4 ln(1 + √2).
const CENTRAL_PIXEL_INVERSE_R: f64 = 3.525_494_348_078_172;

/// Settings of a campaign. Units are in the names; every field is optional in TOML (defaults
/// in [`CampaignConfig::default`]). `night` is the template of every night: each night takes
/// it and replaces `seed`, `n_bias`, `n_flat`, `n_science`, the three start times,
/// `science_exptime_s`, the pointing, `detector_window`, `seeing_fwhm_arcsec`,
/// `sky_mag_per_arcsec2`, the star density and magnitude range and the comet's position,
/// rates, antisolar position angle, `coma_mag`, `coma_aperture_radius_arcsec` and
/// `coma_outer_radius_arcsec` (set those with the top-level fields below).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CampaignConfig {
    pub name: String,
    /// Built-in orbit ("3I", "2I", "C/2025 N1", ...; see `crate::ephem::elements::builtin`).
    pub object: String,
    /// Observatory ([`Site::parse`]); the night simulator only knows the NOT.
    pub site: String,
    /// Evening dates (UTC) of the nights, `YYYY-MM-DD`, strictly increasing.
    pub nights_utc: Vec<String>,
    /// Master seed (below 2⁶³).
    pub seed: u64,
    /// Truth: magnitude within the aperture at rH = Δ = 1 au and α = 0, in the band of the
    /// night template (`night.filter_name`).
    pub h_mag: f64,
    /// Truth: power-law index n of the heliocentric dependence.
    pub n_index: f64,
    /// Truth: linear phase coefficient β (mag/deg).
    pub phase_coeff_mag_per_deg: f64,
    /// Standard deviation of a Gaussian night-to-night offset added to the true magnitude
    /// (mag; 0 for none).
    pub night_scatter_mag: f64,
    /// The true magnitude is the flux within this radius at the comet (km).
    pub aperture_radius_km: f64,
    /// Seeing (FWHM) and sky brightness of each night, drawn uniformly in these ranges.
    pub seeing_fwhm_arcsec_min: f64,
    pub seeing_fwhm_arcsec_max: f64,
    pub sky_mag_per_arcsec2_min: f64,
    pub sky_mag_per_arcsec2_max: f64,
    /// Frames per night.
    pub n_bias: usize,
    pub n_flat: usize,
    pub n_science: usize,
    /// Science exposure time: the longest multiple of 10 s (5 s below 60 s, 1 s below 10 s)
    /// that keeps the comet's peak pixel (sky included) below `peak_saturation_fraction` of
    /// the saturation level, within these bounds (s). The simulated coma is not smoothed by
    /// the seeing, so its central pixel is the brightest one whatever the seeing.
    pub science_exptime_min_s: f64,
    pub science_exptime_max_s: f64,
    pub peak_saturation_fraction: f64,
    /// Lowest altitude of the comet during the science frames (deg).
    pub min_altitude_deg: f64,
    /// Science frames are taken while the Sun is below this altitude (deg; −18 =
    /// astronomical darkness).
    pub dark_sun_altitude_deg: f64,
    /// Readout window (unbinned, `DETWIN1` syntax), centred on the comet's track. The default,
    /// 800 × 800 px (171″, 2.6 MB per frame), holds the 30–45″ sky annulus of the photometry
    /// with room for ~25 calibration stars outside it; with 600 px the zero points of the short
    /// exposures lacked bright enough stars (their aperture correction went unmeasured).
    pub detector_window: String,
    /// Field stars (see [`NightConfig`]). The default, 6 per arcmin² of 15–18.5 mag, gives the
    /// WCS and the zero point enough stars in 30 s and 120 s exposures alike, while a star
    /// falls in the comet's aperture (flagged `star_in_aperture` by the photometry) in about
    /// one frame in five.
    pub star_density_per_arcmin2: f64,
    pub star_mag_min: f64,
    pub star_mag_max: f64,
    /// The 1/ρ coma extends to this radius (arcsec); it must contain the aperture.
    pub coma_outer_radius_arcsec: f64,
    /// Sky annulus (arcsec) for which `annulus_coma_bias_mag` is computed in the truth table.
    pub truth_annulus_inner_arcsec: f64,
    pub truth_annulus_outer_arcsec: f64,
    /// Template of every night (see above for the fields each night replaces).
    pub night: NightConfig,
    /// Standard-star frames in every night (none when absent; then nothing about them is
    /// written, not even in `campaign.toml`). Each night's `night.standards` is planned from
    /// it (the template's own `standards` is replaced).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub standards: Option<CampaignStandards>,
}

/// Standard-star frames of a campaign: every night, `n_frames` exposures of a standard field
/// placed `offset_north_deg` north of the comet's position that night (so that it is up when
/// the comet is), at times spread evenly over the darkness outside the science frames where the
/// field stands at least `min_altitude_deg` high: the first and last of them are the lowest, so
/// the airmasses span the night's range. The light follows the night's `zero_point_mag` and
/// `extinction_mag_per_airmass` (the truth of the extinction fit; also in each night's
/// `truth_standards.csv`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CampaignStandards {
    pub n_frames: usize,
    pub offset_north_deg: f64,
    pub min_altitude_deg: f64,
    /// The field's stars, exposure time and catalogue error; its `ra_deg`, `dec_deg` and
    /// `start_utc` are set for each night.
    pub field: StandardsConfig,
}

impl Default for CampaignStandards {
    fn default() -> Self {
        CampaignStandards {
            n_frames: 5,
            offset_north_deg: 10.0,
            min_altitude_deg: 25.0,
            field: StandardsConfig::default(),
        }
    }
}

impl Default for CampaignConfig {
    fn default() -> Self {
        CampaignConfig {
            name: "campaign".to_string(),
            object: "3I".to_string(),
            site: "NOT".to_string(),
            nights_utc: Vec::new(),
            seed: 1,
            h_mag: 8.0,
            n_index: 3.8,
            phase_coeff_mag_per_deg: 0.04,
            night_scatter_mag: 0.0,
            aperture_radius_km: 10_000.0,
            seeing_fwhm_arcsec_min: 0.7,
            seeing_fwhm_arcsec_max: 1.4,
            sky_mag_per_arcsec2_min: 19.8,
            sky_mag_per_arcsec2_max: 20.8,
            n_bias: 3,
            n_flat: 3,
            n_science: 3,
            science_exptime_min_s: 5.0,
            science_exptime_max_s: 120.0,
            peak_saturation_fraction: 0.9,
            min_altitude_deg: 20.0,
            dark_sun_altitude_deg: -18.0,
            detector_window: "[651:1450, 651:1450]".to_string(),
            star_density_per_arcmin2: 6.0,
            star_mag_min: 15.0,
            star_mag_max: 18.5,
            coma_outer_radius_arcsec: 60.0,
            truth_annulus_inner_arcsec: 30.0,
            truth_annulus_outer_arcsec: 45.0,
            night: NightConfig::default(),
            standards: None,
        }
    }
}

/// One planned night.
#[derive(Debug, Clone, PartialEq)]
pub struct NightPlan {
    /// Position in `nights_utc`.
    pub index: usize,
    /// Evening date, `YYYY-MM-DD`, and the directory name `YYYYMMDD`.
    pub date_utc: String,
    pub dir_name: String,
    /// Sunset and the Sun crossing `dark_sun_altitude_deg` (evening and morning).
    pub sunset_utc: UtcInstant,
    pub dark_start_utc: UtcInstant,
    pub dark_end_utc: UtcInstant,
    /// First exposure of each sequence (also in `night`).
    pub bias_start_utc: UtcInstant,
    pub flat_start_utc: UtcInstant,
    /// True when the sky flats are taken in the morning twilight.
    pub morning_flats: bool,
    pub science_start_utc: UtcInstant,
    pub science_exptime_s: f64,
    /// Mid-exposure times of the science frames (MJD UTC).
    pub science_mjd_mid_utc: Vec<f64>,
    /// Geometry at the first science frame's mid-exposure: the truth is computed from it.
    pub observation: Observation,
    /// Altitude of the comet at the start of the first and the end of the last science frame
    /// (deg), and the airmass at the first mid-exposure.
    pub altitude_start_deg: f64,
    pub altitude_end_deg: f64,
    pub airmass: f64,
    /// Aperture radius at the comet (km) and on the sky (arcsec).
    pub aperture_radius_km: f64,
    pub aperture_radius_arcsec: f64,
    /// The night-to-night offset drawn for this night (mag; included in `true_mag`).
    pub scatter_mag: f64,
    /// Magnitude within the aperture (above the atmosphere, in the night's band).
    pub true_mag: f64,
    /// How much fainter a measurement with the truth annulus reads (coma light in the sky).
    pub annulus_coma_bias_mag: f64,
    pub seeing_fwhm_arcsec: f64,
    pub sky_mag_per_arcsec2: f64,
    /// Distance of the comet from the pointing in the first and last science frames (arcsec;
    /// the pointing is the middle of its track) and the smallest distance from the pointing to
    /// an edge of the light-sensitive window (arcsec).
    pub comet_offset_arcsec: f64,
    pub field_half_width_arcsec: f64,
    /// The complete settings of the night.
    pub night: NightConfig,
}

/// Progress of [`run_with_progress`].
#[derive(Debug, Clone, PartialEq)]
pub enum CampaignProgress {
    /// Planning done: this many nights to simulate.
    Planned { nights: usize },
    /// One night written (nights finish in any order).
    NightDone { date_utc: String },
}

/// What [`run`] wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct SimulatedCampaign {
    pub out_dir: PathBuf,
    pub plans: Vec<NightPlan>,
    /// The nights, in the order of `plans`.
    pub nights: Vec<SimulatedNight>,
    pub truth_csv: PathBuf,
    pub config_toml: PathBuf,
}

impl SimulatedCampaign {
    /// Every FITS file of the campaign.
    pub fn n_files(&self) -> usize {
        self.nights.iter().map(|n| n.fits_files.len()).sum()
    }
}

/// The orbit and site of a campaign, built once (integrating a perturbed orbit is the
/// expensive part of planning): reuse it with [`plan_with`] for many variants of a campaign
/// over the same nights.
#[derive(Debug, Clone)]
pub struct CampaignGeometry {
    pub source: GeometrySource,
    pub site: Site,
    /// Geodetic latitude and east longitude of the site (deg).
    pub latitude_deg: f64,
    pub east_longitude_deg: f64,
}

impl CampaignGeometry {
    /// The orbit of `config.object` (perturbed, integrated over the nights) and the site.
    pub fn new(config: &CampaignConfig) -> Result<Self, SimulateError> {
        let nights = parse_nights(&config.nights_utc)?;
        let site = Site::parse(&config.site).map_err(|e| invalid("site", e.to_string()))?;
        let (east_longitude_deg, latitude_deg) = site_position(&site)?;
        let elements = builtin(&config.object).map_err(|e| invalid("object", e.to_string()))?;
        let (first, last) = match (nights.first(), nights.last()) {
            (Some(f), Some(l)) => (f.noon(), l.noon().plus_seconds(86_400.0)),
            _ => return Err(invalid("nights_utc", "no night given".to_string())),
        };
        let source = GeometrySource::orbit(elements, OrbitModel::Perturbed, first, last)
            .map_err(|e| invalid("object", e.to_string()))?;
        Ok(CampaignGeometry {
            source,
            site,
            latitude_deg,
            east_longitude_deg,
        })
    }
}

// ---------------------------------------------------------------------------------------
// Built-in campaigns and TOML
// ---------------------------------------------------------------------------------------

/// Names of the built-in campaigns.
pub fn builtin_campaign_names() -> Vec<&'static str> {
    BUILTIN_CAMPAIGNS.iter().map(|(name, ..)| *name).collect()
}

/// A built-in campaign by name (case ignored).
pub fn builtin_campaign(name: &str) -> Result<CampaignConfig, SimulateError> {
    let (_, path, text) = BUILTIN_CAMPAIGNS
        .iter()
        .find(|(n, ..)| n.eq_ignore_ascii_case(name.trim()))
        .ok_or_else(|| {
            invalid(
                "campaign",
                format!(
                    "no built-in campaign '{name}' (built-in: {}); give a TOML file instead",
                    builtin_campaign_names().join(", ")
                ),
            )
        })?;
    parse_campaign_toml(text, path)
}

/// Parses a campaign from TOML; `source_name` labels errors.
pub fn parse_campaign_toml(text: &str, source_name: &str) -> Result<CampaignConfig, SimulateError> {
    toml::from_str(text).map_err(|e| SimulateError::Toml(format!("{source_name}: {e}")))
}

/// A campaign from a built-in name or a TOML file: a path that exists or ends in `.toml` is
/// read as a file, anything else is looked up among the built-in campaigns.
pub fn load_campaign(spec: &str) -> Result<CampaignConfig, SimulateError> {
    let path = Path::new(spec);
    if path.is_file() || spec.to_ascii_lowercase().ends_with(".toml") {
        let text = std::fs::read_to_string(path).map_err(|source| SimulateError::Io {
            path: spec.to_string(),
            source,
        })?;
        parse_campaign_toml(&text, spec)
    } else {
        builtin_campaign(spec)
    }
}

/// The settings as TOML (every field, defaults included).
pub fn campaign_toml(config: &CampaignConfig) -> Result<String, SimulateError> {
    toml::to_string(config).map_err(|e| SimulateError::Toml(e.to_string()))
}

// ---------------------------------------------------------------------------------------
// Truth
// ---------------------------------------------------------------------------------------

/// `m = H + 5 log10 Δ + 2.5 n log10 rH + β α` (DESIGN §4).
pub fn true_magnitude(
    h_mag: f64,
    n_index: f64,
    phase_coeff_mag_per_deg: f64,
    rh_au: f64,
    delta_au: f64,
    phase_deg: f64,
) -> f64 {
    h_mag
        + 5.0 * delta_au.log10()
        + 2.5 * n_index * rh_au.log10()
        + phase_coeff_mag_per_deg * phase_deg
}

/// ρ_arcsec = ρ_km / (725.27 km × Δ_au).
pub fn aperture_radius_arcsec(radius_km: f64, delta_au: f64) -> f64 {
    radius_km / (KM_PER_ARCSEC_AT_1AU * delta_au)
}

/// How much fainter (mag, ≥ 0) the flux within `aperture_arcsec` of a 1/ρ coma (extending to
/// `coma_outer_arcsec`) reads when the sky is the mean of the annulus `[inner, outer]`: the
/// annulus holds `2k (min(R, r₂) − r₁) / (r₂² − r₁²)` per arcsec² of coma light, i.e. a
/// fraction `ρ (min(R, r₂) − r₁) / (r₂² − r₁²)` of the aperture flux `2πkρ` is subtracted.
/// (A median sky differs from the mean by less than 2 % of this.)
pub fn annulus_coma_bias_mag(
    aperture_arcsec: f64,
    coma_outer_arcsec: f64,
    annulus_inner_arcsec: f64,
    annulus_outer_arcsec: f64,
) -> f64 {
    let (r1, r2) = (annulus_inner_arcsec, annulus_outer_arcsec);
    if coma_outer_arcsec <= r1 || r2 <= r1 {
        return 0.0;
    }
    let rho = aperture_arcsec.min(coma_outer_arcsec);
    let fraction = rho * (coma_outer_arcsec.min(r2) - r1) / (r2 * r2 - r1 * r1);
    -2.5 * (1.0 - fraction).max(1e-6).log10()
}

/// The science exposure time for a comet of magnitude `mag` within `aperture_arcsec` (see
/// [`CampaignConfig::science_exptime_min_s`]): the 1/ρ coma puts `k·s·4 ln(1 + √2)` electrons
/// in a pixel centred on the nucleus (k = flux / (2πρ) in e⁻/arcsec, s the pixel side), plus
/// the sky.
pub fn science_exptime_s(
    config: &CampaignConfig,
    night: &NightConfig,
    mag: f64,
    aperture_arcsec: f64,
    airmass: f64,
) -> f64 {
    let bins = (night.binning_x * night.binning_y).max(1) as f64;
    let side_arcsec = night.pixel_scale_arcsec_per_px * bins.sqrt();
    let zp = night.zero_point_mag;
    let aperture_rate = electrons_from_mag(mag, zp, night.extinction_mag_per_airmass, airmass, 1.0);
    let k_arcsec = aperture_rate / (2.0 * PI * aperture_arcsec);
    let sky_rate = sky_electrons_per_px(night.sky_mag_per_arcsec2, zp, side_arcsec, 1.0);
    let peak_rate = k_arcsec * side_arcsec * CENTRAL_PIXEL_INVERSE_R + sky_rate;
    let full_e = (night.saturation_adu - night.bias_level_adu) * night.gain_e_per_adu;
    let t = config.peak_saturation_fraction * full_e / peak_rate;
    let nice = if t >= 60.0 {
        (t / 10.0).floor() * 10.0
    } else if t >= 10.0 {
        (t / 5.0).floor() * 5.0
    } else {
        t.floor()
    };
    nice.clamp(config.science_exptime_min_s, config.science_exptime_max_s)
}

// ---------------------------------------------------------------------------------------
// Planning
// ---------------------------------------------------------------------------------------

fn invalid(field: &'static str, message: String) -> SimulateError {
    SimulateError::InvalidConfig { field, message }
}

fn check(ok: bool, field: &'static str, message: &str) -> Result<(), SimulateError> {
    if ok {
        Ok(())
    } else {
        Err(invalid(field, message.to_string()))
    }
}

/// A night's evening date.
#[derive(Debug, Clone, Copy)]
struct NightDate {
    midnight: UtcInstant,
    year: i64,
    month: i64,
    day: i64,
}

impl NightDate {
    fn noon(&self) -> UtcInstant {
        self.midnight.plus_seconds(43_200.0)
    }

    fn mjd_day(&self) -> i64 {
        self.midnight.mjd().round() as i64
    }

    fn iso(&self) -> String {
        format!("{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

fn parse_nights(texts: &[String]) -> Result<Vec<NightDate>, SimulateError> {
    check(!texts.is_empty(), "nights_utc", "no night given")?;
    let mut nights: Vec<NightDate> = Vec::with_capacity(texts.len());
    for text in texts {
        let bad = |why: &str| invalid("nights_utc", format!("'{text}': {why}"));
        let t = UtcInstant::parse_iso(text).map_err(|e| bad(&e.to_string()))?;
        let (year, month, day, h, m, s) = t.calendar();
        if h != 0 || m != 0 || s != 0.0 {
            return Err(bad("give a date (YYYY-MM-DD), not a time"));
        }
        let date = NightDate {
            midnight: t,
            year,
            month,
            day,
        };
        if let Some(previous) = nights.last() {
            if date.mjd_day() <= previous.mjd_day() {
                return Err(bad(
                    "dates must be strictly increasing (one entry per night)",
                ));
            }
        }
        nights.push(date);
    }
    Ok(nights)
}

/// East longitude and latitude of the site (deg), checked to be the NOT.
fn site_position(site: &Site) -> Result<(f64, f64), SimulateError> {
    let itrs = site.itrs_m();
    let not = Vec3::new(NOT_OBSGEO_M[0], NOT_OBSGEO_M[1], NOT_OBSGEO_M[2]);
    check(
        !matches!(site, Site::Geocentric) && (itrs - not).norm() < NOT_SITE_TOLERANCE_M,
        "site",
        "the night simulator writes frames from the NOT (its OBSGEO and airmasses); other \
         sites are not supported yet",
    )?;
    let (lon, lat, _) = itrs_to_geodetic(&itrs);
    Ok((lon, lat))
}

fn validate(c: &CampaignConfig) -> Result<(), SimulateError> {
    let finite = |v: f64| v.is_finite();
    let positive = |v: f64| v.is_finite() && v > 0.0;
    check(
        c.seed <= i64::MAX as u64,
        "seed",
        "must be below 2^63 (TOML integers are signed 64-bit)",
    )?;
    check(finite(c.h_mag), "h_mag", "must be finite")?;
    check(finite(c.n_index), "n_index", "must be finite")?;
    check(
        finite(c.phase_coeff_mag_per_deg),
        "phase_coeff_mag_per_deg",
        "must be finite",
    )?;
    check(
        c.night_scatter_mag.is_finite() && c.night_scatter_mag >= 0.0,
        "night_scatter_mag",
        "must be >= 0",
    )?;
    check(
        positive(c.aperture_radius_km),
        "aperture_radius_km",
        "must be > 0",
    )?;
    check(
        positive(c.seeing_fwhm_arcsec_min) && c.seeing_fwhm_arcsec_max >= c.seeing_fwhm_arcsec_min,
        "seeing_fwhm_arcsec_min",
        "need 0 < seeing_fwhm_arcsec_min <= seeing_fwhm_arcsec_max",
    )?;
    check(
        finite(c.sky_mag_per_arcsec2_min)
            && finite(c.sky_mag_per_arcsec2_max)
            && c.sky_mag_per_arcsec2_max >= c.sky_mag_per_arcsec2_min,
        "sky_mag_per_arcsec2_min",
        "need sky_mag_per_arcsec2_min <= sky_mag_per_arcsec2_max",
    )?;
    check(c.n_science >= 1, "n_science", "must be at least 1")?;
    check(
        positive(c.science_exptime_min_s) && c.science_exptime_max_s >= c.science_exptime_min_s,
        "science_exptime_min_s",
        "need 0 < science_exptime_min_s <= science_exptime_max_s",
    )?;
    check(
        c.peak_saturation_fraction > 0.0 && c.peak_saturation_fraction <= 1.0,
        "peak_saturation_fraction",
        "must be within (0, 1]",
    )?;
    check(
        (5.0..90.0).contains(&c.min_altitude_deg),
        "min_altitude_deg",
        "must be within [5, 90)",
    )?;
    check(
        (-30.0..=SUNSET_SUN_ALTITUDE_DEG).contains(&c.dark_sun_altitude_deg),
        "dark_sun_altitude_deg",
        "must be within [-30, -0.833] (-18 for astronomical darkness)",
    )?;
    check(
        positive(c.coma_outer_radius_arcsec),
        "coma_outer_radius_arcsec",
        "must be > 0",
    )?;
    check(
        c.truth_annulus_inner_arcsec >= 0.0
            && c.truth_annulus_outer_arcsec.is_finite()
            && c.truth_annulus_outer_arcsec > c.truth_annulus_inner_arcsec,
        "truth_annulus_inner_arcsec",
        "need 0 <= truth_annulus_inner_arcsec < truth_annulus_outer_arcsec",
    )?;
    Readout::new(
        &c.detector_window,
        c.night.binning_x.max(1),
        c.night.binning_y.max(1),
    )
    .map_err(|message| invalid("detector_window", message))?;
    if let Some(s) = &c.standards {
        check(
            s.n_frames >= 1,
            "standards.n_frames",
            "must be at least 1 (leave [standards] out for none)",
        )?;
        check(
            s.offset_north_deg.is_finite() && s.offset_north_deg.abs() <= 45.0,
            "standards.offset_north_deg",
            "must be within [-45, 45]",
        )?;
        check(
            (5.0..90.0).contains(&s.min_altitude_deg),
            "standards.min_altitude_deg",
            "must be within [5, 90)",
        )?;
        check(
            s.field.exptime_s.is_finite() && s.field.exptime_s > 0.0,
            "standards.field.exptime_s",
            "must be > 0",
        )?;
    }
    Ok(())
}

/// Geocentric RA/Dec (deg, J2000) of the Sun at a UTC Julian Date (TT − UTC of 2025 is
/// enough for the Earth's position here).
fn sun_ra_dec(jd_utc: f64) -> (f64, f64) {
    let earth = earth_position_au(jd_utc + 69.184 / 86_400.0);
    let sun = StateVector::new(Frame::EclipticJ2000, -earth, Vec3::zeros())
        .in_frame(Frame::EquatorialJ2000)
        .position_au;
    ra_dec(&sun)
}

fn ra_dec(v: &Vec3) -> (f64, f64) {
    let ra = v.y.atan2(v.x).to_degrees().rem_euclid(360.0);
    let dec = (v.z / v.norm()).clamp(-1.0, 1.0).asin().to_degrees();
    (ra, dec)
}

/// Rounds up to the next whole minute.
fn ceil_minute(t: UtcInstant) -> UtcInstant {
    let minutes = (t.mjd() * 1440.0 - 1e-6).ceil();
    UtcInstant::from_mjd(minutes / 1440.0).unwrap_or(t)
}

/// Rounds down to a whole minute.
fn floor_minute(t: UtcInstant) -> UtcInstant {
    let minutes = (t.mjd() * 1440.0 + 1e-6).floor();
    UtcInstant::from_mjd(minutes / 1440.0).unwrap_or(t)
}

/// Sun-altitude grid over the 24 h from local noon of a night's evening date.
struct SunGrid {
    start: UtcInstant,
    altitude_deg: Vec<f64>,
}

impl SunGrid {
    fn new(date: &NightDate, lat: f64, lon: f64) -> SunGrid {
        let start = date.noon().plus_seconds(-lon / 15.0 * 3600.0);
        let (ra, dec) = sun_ra_dec(start.jd() + 0.5);
        let n = (86_400.0 / GRID_STEP_S) as usize;
        let altitude_deg = (0..=n)
            .map(|k| {
                altitude_deg(
                    ra,
                    dec,
                    start.jd() + k as f64 * GRID_STEP_S / 86_400.0,
                    lat,
                    lon,
                )
            })
            .collect();
        SunGrid {
            start,
            altitude_deg,
        }
    }

    fn time(&self, k: usize) -> UtcInstant {
        self.start.plus_seconds(k as f64 * GRID_STEP_S)
    }

    /// First grid time at which the Sun is below `altitude` (evening).
    fn first_below(&self, altitude: f64) -> Option<usize> {
        self.altitude_deg.iter().position(|&a| a < altitude)
    }

    /// Last grid time at which the Sun is below `altitude` (morning).
    fn last_below(&self, altitude: f64) -> Option<usize> {
        self.altitude_deg.iter().rposition(|&a| a < altitude)
    }
}

/// The plan of every night of `config` (no files written).
pub fn plan(config: &CampaignConfig) -> Result<Vec<NightPlan>, SimulateError> {
    validate(config)?;
    let geometry = CampaignGeometry::new(config)?;
    plan_with(config, &geometry)
}

/// [`plan`] with an orbit and site built beforehand by [`CampaignGeometry::new`] for the same
/// `object`, `site` and nights.
pub fn plan_with(
    config: &CampaignConfig,
    geometry: &CampaignGeometry,
) -> Result<Vec<NightPlan>, SimulateError> {
    validate(config)?;
    let nights = parse_nights(&config.nights_utc)?;
    nights
        .iter()
        .enumerate()
        .map(|(index, date)| plan_night(config, geometry, index, date))
        .collect()
}

fn plan_night(
    c: &CampaignConfig,
    g: &CampaignGeometry,
    index: usize,
    date: &NightDate,
) -> Result<NightPlan, SimulateError> {
    let (lat, lon) = (g.latitude_deg, g.east_longitude_deg);
    let iso = date.iso();
    let night_error = |message: String| invalid("nights_utc", format!("{iso}: {message}"));
    let ephemeris_error = |e: &dyn std::fmt::Display| night_error(format!("geometry: {e}"));

    // Darkness.
    let sun = SunGrid::new(date, lat, lon);
    let (Some(k_sunset), Some(k_dusk), Some(k_dawn)) = (
        sun.first_below(SUNSET_SUN_ALTITUDE_DEG),
        sun.first_below(c.dark_sun_altitude_deg),
        sun.last_below(c.dark_sun_altitude_deg),
    ) else {
        return Err(night_error(format!(
            "the Sun never sets below {} deg",
            c.dark_sun_altitude_deg
        )));
    };
    let sunset = sun.time(k_sunset);
    let dusk = ceil_minute(sun.time(k_dusk));
    let dawn = floor_minute(sun.time(k_dawn));

    // Where the comet is tonight (its motion over a night changes altitudes negligibly).
    let midnight = sun.time(sun.altitude_deg.len() / 2);
    let tonight = g
        .source
        .observe(&g.site, midnight)
        .map_err(|e| ephemeris_error(&e))?;
    let comet_altitude =
        |t: &UtcInstant| altitude_deg(tonight.ra_deg, tonight.dec_deg, t.jd(), lat, lon);

    // Science: where the lowest altitude of the sequence is highest (earliest on ties).
    let mut template = c.night.clone();
    let seeing_sky = conditions(c, date);
    template.sky_mag_per_arcsec2 = seeing_sky.1;
    let overhead_s = template.overhead_s;
    let step = |exptime: f64| exptime + overhead_s;
    let duration = |exptime: f64| c.n_science as f64 * step(exptime) - overhead_s;
    let best_start = |exptime: f64| -> Option<(UtcInstant, f64)> {
        let mut best: Option<(UtcInstant, f64)> = None;
        let mut t = dusk;
        while t.plus_seconds(duration(exptime)) <= dawn {
            let low = comet_altitude(&t).min(comet_altitude(&t.plus_seconds(duration(exptime))));
            if best.is_none_or(|(_, b)| low > b) {
                best = Some((t, low));
            }
            t = t.plus_seconds(GRID_STEP_S);
        }
        best
    };
    let Some((provisional, _)) = best_start(c.science_exptime_max_s).or_else(|| best_start(1.0))
    else {
        return Err(night_error(format!(
            "the night is too short for {} science frames",
            c.n_science
        )));
    };
    let rho0 = aperture_radius_arcsec(c.aperture_radius_km, tonight.delta_au);
    let mag0 = true_magnitude(
        c.h_mag,
        c.n_index,
        c.phase_coeff_mag_per_deg,
        tonight.rh_au,
        tonight.delta_au,
        tonight.phase_deg,
    ) + seeing_sky.2;
    let altitude0 = comet_altitude(&provisional).max(1.0);
    let exptime = science_exptime_s(c, &template, mag0, rho0, airmass_from_altitude(altitude0));
    let (science_start, _) = best_start(exptime).unwrap_or((provisional, 0.0));
    let science_end = science_start.plus_seconds(duration(exptime));
    let altitude_start_deg = comet_altitude(&science_start);
    let altitude_end_deg = comet_altitude(&science_end);
    if altitude_start_deg.min(altitude_end_deg) < c.min_altitude_deg {
        return Err(night_error(format!(
            "{} is at most {:.1} deg high during the science frames in darkness (Sun below {} \
             deg; min_altitude_deg = {}): drop this night or lower min_altitude_deg",
            c.object,
            altitude_start_deg.min(altitude_end_deg),
            c.dark_sun_altitude_deg,
            c.min_altitude_deg
        )));
    }

    // Sky flats: evening twilight, or the morning when the comet is too low in the evening.
    let flat_duration = c.n_flat as f64 * (template.flat_exptime_s + template.overhead_s);
    let flat_ok = |t: &UtcInstant| {
        comet_altitude(t).min(comet_altitude(&t.plus_seconds(flat_duration)))
            >= MIN_FLAT_ALTITUDE_DEG
    };
    let evening_flats = sun
        .first_below(EVENING_FLAT_SUN_ALTITUDE_DEG)
        .map(|k| ceil_minute(sun.time(k)));
    let morning_flats = sun
        .last_below(MORNING_FLAT_SUN_ALTITUDE_DEG)
        .map(|k| ceil_minute(sun.time(k + 1)));
    let (flat_start, morning) = match (evening_flats, morning_flats) {
        (Some(t), _) if c.n_flat == 0 || flat_ok(&t) => (t, false),
        (_, Some(t)) if flat_ok(&t) => (t, true),
        _ => {
            return Err(night_error(format!(
                "{} is below {MIN_FLAT_ALTITUDE_DEG} deg in both twilights: no sky flats",
                c.object
            )))
        }
    };

    // Biases in the afternoon.
    let bias_duration = c.n_bias as f64 * template.overhead_s;
    let bias_start = floor_minute(sunset.plus_seconds(-BIAS_END_BEFORE_SUNSET_S - bias_duration));

    // The night's settings.
    let mut night = template;
    night.seed = derive_seed(c.seed, STREAM_NIGHT_SEED, date.mjd_day() as u64) & (i64::MAX as u64);
    night.n_bias = c.n_bias;
    night.n_flat = c.n_flat;
    night.n_science = c.n_science;
    night.bias_start_utc = bias_start.to_string();
    night.flat_start_utc = flat_start.to_string();
    night.science_start_utc = science_start.to_string();
    night.science_exptime_s = exptime;
    night.detector_window = c.detector_window.clone();
    night.seeing_fwhm_arcsec = seeing_sky.0;
    night.star_density_per_arcmin2 = c.star_density_per_arcmin2;
    night.star_mag_min = c.star_mag_min;
    night.star_mag_max = c.star_mag_max;
    // Point at the middle of the comet's track.
    let track_min = (c.n_science - 1) as f64 * step(exptime) / 60.0;
    let (sin_pa, cos_pa) = tonight.rate_pa_deg.to_radians().sin_cos();
    let half_track = 0.5 * tonight.rate_arcsec_per_min * track_min;
    let observation = place_comet(
        &mut night,
        &g.source,
        &g.site,
        (half_track * sin_pa, half_track * cos_pa),
    )
    .map_err(|e| ephemeris_error(&e))?;
    let aperture_arcsec = aperture_radius_arcsec(c.aperture_radius_km, observation.delta_au);
    let scatter_mag = seeing_sky.2;
    let true_mag = true_magnitude(
        c.h_mag,
        c.n_index,
        c.phase_coeff_mag_per_deg,
        observation.rh_au,
        observation.delta_au,
        observation.phase_deg,
    ) + scatter_mag;
    check(
        c.coma_outer_radius_arcsec >= aperture_arcsec,
        "coma_outer_radius_arcsec",
        &format!(
            "{iso}: the aperture ({aperture_arcsec:.2} arcsec) is larger than the coma \
             ({} arcsec)",
            c.coma_outer_radius_arcsec
        ),
    )?;
    night.comet.coma_mag = true_mag;
    night.comet.coma_aperture_radius_arcsec = aperture_arcsec;
    night.comet.coma_outer_radius_arcsec = c.coma_outer_radius_arcsec;
    night.standards = match &c.standards {
        Some(standards) => Some(
            plan_standards(
                standards,
                &tonight,
                (lat, lon),
                (dusk, dawn),
                (science_start, science_end),
                overhead_s,
            )
            .map_err(night_error)?,
        ),
        None => None,
    };

    // Does the comet stay in the light-sensitive window?
    let readout = Readout::new(&night.detector_window, night.binning_x, night.binning_y)
        .map_err(|message| invalid("detector_window", message))?;
    let field_half_width_arcsec = field_half_width_px(&readout) * night.pixel_scale_arcsec_per_px;
    let comet_offset_arcsec = half_track.abs();
    check(
        comet_offset_arcsec + aperture_arcsec < field_half_width_arcsec,
        "detector_window",
        &format!(
            "{iso}: the comet's aperture ({aperture_arcsec:.1} arcsec, up to \
             {comet_offset_arcsec:.1} arcsec from the pointing) leaves the \
             {field_half_width_arcsec:.1} arcsec half-width of the window"
        ),
    )?;

    let mid = |i: usize| {
        science_start
            .plus_seconds(i as f64 * step(exptime) + 0.5 * exptime)
            .mjd()
    };
    let altitude_mid = comet_altitude(&science_start.plus_seconds(0.5 * exptime));
    Ok(NightPlan {
        index,
        date_utc: iso,
        dir_name: format!("{:04}{:02}{:02}", date.year, date.month, date.day),
        sunset_utc: sunset,
        dark_start_utc: dusk,
        dark_end_utc: dawn,
        bias_start_utc: bias_start,
        flat_start_utc: flat_start,
        morning_flats: morning,
        science_start_utc: science_start,
        science_exptime_s: exptime,
        science_mjd_mid_utc: (0..c.n_science).map(mid).collect(),
        observation,
        altitude_start_deg,
        altitude_end_deg,
        airmass: airmass_from_altitude(altitude_mid.max(1.0)),
        aperture_radius_km: c.aperture_radius_km,
        aperture_radius_arcsec: aperture_arcsec,
        scatter_mag,
        true_mag,
        annulus_coma_bias_mag: annulus_coma_bias_mag(
            aperture_arcsec,
            c.coma_outer_radius_arcsec,
            c.truth_annulus_inner_arcsec,
            c.truth_annulus_outer_arcsec,
        ),
        seeing_fwhm_arcsec: seeing_sky.0,
        sky_mag_per_arcsec2: seeing_sky.1,
        comet_offset_arcsec,
        field_half_width_arcsec,
        night,
    })
}

/// The standard frames of a night (see [`CampaignStandards`]): the field north of the comet's
/// position `tonight`, and `n_frames` start times picked evenly (by rank) among the 2-minute
/// grid times of the darkness `(dusk, dawn)` whose exposure stays clear of the science block
/// `(start, end)` (with the overhead on each side) and sees the field above
/// `min_altitude_deg` from start to end. An error says why when there are too few such times.
fn plan_standards(
    s: &CampaignStandards,
    tonight: &Observation,
    (lat, lon): (f64, f64),
    (dusk, dawn): (UtcInstant, UtcInstant),
    (science_start, science_end): (UtcInstant, UtcInstant),
    overhead_s: f64,
) -> Result<StandardsConfig, String> {
    let dec_deg = (tonight.dec_deg + s.offset_north_deg).clamp(-89.0, 89.0);
    let ra_deg = tonight.ra_deg;
    let exptime = s.field.exptime_s;
    let altitude = |t: &UtcInstant| altitude_deg(ra_deg, dec_deg, t.jd(), lat, lon);
    let clear_of_science = |t: &UtcInstant| {
        t.plus_seconds(exptime + overhead_s) <= science_start
            || *t >= science_end.plus_seconds(overhead_s)
    };
    let mut candidates = Vec::new();
    let mut t = dusk;
    while t.plus_seconds(exptime) <= dawn {
        let end = t.plus_seconds(exptime);
        if clear_of_science(&t) && altitude(&t).min(altitude(&end)) >= s.min_altitude_deg {
            candidates.push(t);
        }
        t = t.plus_seconds(GRID_STEP_S);
    }
    if candidates.len() < s.n_frames {
        return Err(format!(
            "the standard field (RA {ra_deg:.2}, Dec {dec_deg:.2} deg) is above {} deg in \
             darkness outside the science frames at {} grid times, fewer than the {} standard \
             frames",
            s.min_altitude_deg,
            candidates.len(),
            s.n_frames
        ));
    }
    let last = candidates.len() - 1;
    let start_utc = (0..s.n_frames)
        .map(|k| {
            let rank = if s.n_frames > 1 {
                (k * last + (s.n_frames - 1) / 2) / (s.n_frames - 1)
            } else {
                0
            };
            candidates[rank].to_string()
        })
        .collect();
    Ok(StandardsConfig {
        ra_deg,
        dec_deg,
        start_utc,
        ..s.field.clone()
    })
}

/// Smallest distance (unbinned px) from the optical centre of the window to an edge of its
/// light-sensitive part.
fn field_half_width_px(r: &Readout) -> f64 {
    let overlap = |a: std::ops::Range<usize>, b: std::ops::Range<usize>| {
        (a.start.max(b.start), a.end.min(b.end))
    };
    let (x0, x1) = overlap(r.used_columns(), DATA_COLUMNS);
    let (y0, y1) = overlap(r.used_rows(), DATA_ROWS);
    if x1 <= x0 || y1 <= y0 {
        return 0.0;
    }
    let [cx, cy] = r.optical_centre();
    let to_edge = |c: f64, lo: usize, hi: usize| (c - (lo as f64 - 0.5)).min(hi as f64 - 0.5 - c);
    to_edge(cx, x0, x1).min(to_edge(cy, y0, y1))
}

/// Seeing (arcsec), sky (mag/arcsec²) and magnitude offset of a night, from its own stream.
fn conditions(c: &CampaignConfig, date: &NightDate) -> (f64, f64, f64) {
    let mut rng = Pcg64::seed_from_u64(derive_seed(
        c.seed,
        STREAM_CONDITIONS,
        date.mjd_day() as u64,
    ));
    let u_seeing: f64 = rng.random();
    let u_sky: f64 = rng.random();
    let z: f64 = rng.sample(StandardNormal);
    (
        c.seeing_fwhm_arcsec_min + u_seeing * (c.seeing_fwhm_arcsec_max - c.seeing_fwhm_arcsec_min),
        c.sky_mag_per_arcsec2_min + u_sky * (c.sky_mag_per_arcsec2_max - c.sky_mag_per_arcsec2_min),
        c.night_scatter_mag * z,
    )
}

// ---------------------------------------------------------------------------------------
// Running
// ---------------------------------------------------------------------------------------

/// Simulates every night of `config` into `out_dir/<YYYYMMDD>/` (nights in parallel) and
/// writes `truth_campaign.csv` and `campaign.toml`.
pub fn run(config: &CampaignConfig, out_dir: &Path) -> Result<SimulatedCampaign, SimulateError> {
    run_with_progress(config, out_dir, &|_| {})
}

/// [`run`], reporting progress to `on_progress` (called from several threads).
pub fn run_with_progress(
    config: &CampaignConfig,
    out_dir: &Path,
    on_progress: &(dyn Fn(CampaignProgress) + Sync),
) -> Result<SimulatedCampaign, SimulateError> {
    let plans = plan(config)?;
    on_progress(CampaignProgress::Planned {
        nights: plans.len(),
    });
    std::fs::create_dir_all(out_dir).map_err(|source| SimulateError::Io {
        path: out_dir.display().to_string(),
        source,
    })?;
    let nights: Vec<SimulatedNight> = plans
        .par_iter()
        .map(|p| {
            let night = super::run(&p.night, &out_dir.join(&p.dir_name))?;
            on_progress(CampaignProgress::NightDone {
                date_utc: p.date_utc.clone(),
            });
            Ok(night)
        })
        .collect::<Result<_, SimulateError>>()?;
    let truth_csv = out_dir.join("truth_campaign.csv");
    write_text(&truth_csv, &truth_table(config, &plans, &nights))?;
    let config_toml = out_dir.join("campaign.toml");
    write_text(&config_toml, &campaign_toml(config)?)?;
    Ok(SimulatedCampaign {
        out_dir: out_dir.to_path_buf(),
        plans,
        nights,
        truth_csv,
        config_toml,
    })
}

/// Columns of `truth_campaign.csv`.
pub const TRUTH_COLUMNS: [&str; 25] = [
    "night_utc",
    "night_dir",
    "file",
    "mjd_mid_utc",
    "exptime_s",
    "airmass",
    "reference_mjd_utc",
    "rh_au",
    "delta_au",
    "phase_deg",
    "aperture_radius_km",
    "aperture_radius_arcsec",
    "true_mag",
    "scatter_mag",
    "h_mag",
    "n_index",
    "phase_coeff_mag_per_deg",
    "annulus_coma_bias_mag",
    "seeing_fwhm_arcsec",
    "sky_mag_per_arcsec2",
    "comet_x_px",
    "comet_y_px",
    "comet_ra_deg",
    "comet_dec_deg",
    "coma_aperture_flux_e",
];

/// One row per science frame; the geometry and `true_mag` are the night's (at
/// `reference_mjd_utc`, the first science mid-exposure), which set the comet's brightness in
/// every science frame of the night.
fn truth_table(c: &CampaignConfig, plans: &[NightPlan], nights: &[SimulatedNight]) -> String {
    let num = |x: f64| format!("{x:?}");
    let opt = |x: Option<f64>| x.map(num).unwrap_or_default();
    let mut out = TRUTH_COLUMNS.join(",");
    out.push('\n');
    for (p, n) in plans.iter().zip(nights) {
        let o = &p.observation;
        for f in n
            .frames
            .iter()
            .filter(|f| f.frame_type == FrameKind::Science)
        {
            let comet = f.comet.as_ref();
            let cols = [
                p.date_utc.clone(),
                p.dir_name.clone(),
                f.file.clone(),
                num(f.mjd_mid_utc),
                num(f.exptime_s),
                opt(f.airmass),
                num(o.time_utc.mjd()),
                num(o.rh_au),
                num(o.delta_au),
                num(o.phase_deg),
                num(p.aperture_radius_km),
                num(p.aperture_radius_arcsec),
                num(p.true_mag),
                num(p.scatter_mag),
                num(c.h_mag),
                num(c.n_index),
                num(c.phase_coeff_mag_per_deg),
                num(p.annulus_coma_bias_mag),
                num(p.seeing_fwhm_arcsec),
                num(p.sky_mag_per_arcsec2),
                opt(comet.map(|c| c.x_px)),
                opt(comet.map(|c| c.y_px)),
                opt(comet.map(|c| c.ra_deg)),
                opt(comet.map(|c| c.dec_deg)),
                opt(comet.map(|c| c.coma_aperture_flux_e)),
            ];
            out.push_str(&cols.join(","));
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn campaign(nights: &[&str]) -> CampaignConfig {
        CampaignConfig {
            nights_utc: nights.iter().map(|s| s.to_string()).collect(),
            ..CampaignConfig::default()
        }
    }

    fn field_of(e: SimulateError) -> &'static str {
        match e {
            SimulateError::InvalidConfig { field, .. } => field,
            SimulateError::Toml(_) => "toml",
            other => panic!("unexpected error {other}"),
        }
    }

    #[test]
    fn builtin_campaign_parses_and_round_trips_through_toml() {
        let c = builtin_campaign("3i-2025").unwrap();
        assert_eq!(c.name, "3I-2025");
        assert!(c.nights_utc.len() >= 20);
        assert_eq!((c.n_index, c.phase_coeff_mag_per_deg), (3.8, 0.04));
        let text = campaign_toml(&c).unwrap();
        assert_eq!(parse_campaign_toml(&text, "round trip").unwrap(), c);
        assert_eq!(load_campaign("3I-2025").unwrap(), c);
        assert!(builtin_campaign("4I-2030").is_err());
        // The embedded text is the file in data/campaigns.
        let on_disk = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join(BUILTIN_CAMPAIGNS[0].1),
        )
        .unwrap();
        assert_eq!(on_disk, BUILTIN_CAMPAIGNS[0].2);
    }

    #[test]
    fn bad_settings_are_rejected_with_the_field_named() {
        let parse = |text: &str| parse_campaign_toml(text, "test").map_err(field_of);
        assert_eq!(parse("colour = 3").unwrap_err(), "toml");
        assert_eq!(parse("[night]\nbogus = 1").unwrap_err(), "toml");
        let plan_field = |c: CampaignConfig| plan(&c).map_err(field_of).unwrap_err();
        assert_eq!(plan_field(campaign(&[])), "nights_utc");
        assert_eq!(plan_field(campaign(&["2025-07-32"])), "nights_utc");
        assert_eq!(plan_field(campaign(&["2025-07-03T22:00"])), "nights_utc");
        assert_eq!(
            plan_field(campaign(&["2025-07-08", "2025-07-03"])),
            "nights_utc"
        );
        assert_eq!(
            plan_field(campaign(&["2025-07-03", "2025-07-03"])),
            "nights_utc"
        );
        let with = |f: &dyn Fn(&mut CampaignConfig)| {
            let mut c = campaign(&["2025-07-03"]);
            f(&mut c);
            plan_field(c)
        };
        assert_eq!(with(&|c| c.object = "1P/Halley".into()), "object");
        assert_eq!(with(&|c| c.site = "La Silla".into()), "site");
        assert_eq!(with(&|c| c.site = "geocentric".into()), "site");
        assert_eq!(with(&|c| c.seed = u64::MAX), "seed");
        assert_eq!(with(&|c| c.h_mag = f64::NAN), "h_mag");
        assert_eq!(with(&|c| c.night_scatter_mag = -0.1), "night_scatter_mag");
        assert_eq!(with(&|c| c.aperture_radius_km = 0.0), "aperture_radius_km");
        assert_eq!(
            with(&|c| c.seeing_fwhm_arcsec_max = 0.5),
            "seeing_fwhm_arcsec_min"
        );
        assert_eq!(with(&|c| c.n_science = 0), "n_science");
        assert_eq!(
            with(&|c| c.detector_window = "[1:9000, 1:10]".into()),
            "detector_window"
        );
        assert_eq!(
            with(&|c| c.coma_outer_radius_arcsec = 2.0),
            "coma_outer_radius_arcsec"
        );
        // Around its solar conjunction of October 2025, 3I/ATLAS cannot be observed.
        assert_eq!(
            with(&|c| c.nights_utc = vec!["2025-10-21".into()]),
            "nights_utc"
        );
    }

    #[test]
    fn formulas() {
        // m = H + 5 log Δ + 2.5 n log rH + β α.
        let m = true_magnitude(8.0, 3.8, 0.04, 10.0, 100.0, 10.0);
        assert!((m - (8.0 + 10.0 + 9.5 + 0.4)).abs() < 1e-12);
        assert!((aperture_radius_arcsec(725.27, 1.0) - 1.0).abs() < 1e-4);
        // A fraction ρ (R₂ − R₁)/(R₂² − R₁²) = 4 × 15 / 1125 of the aperture flux is lost.
        let bias = annulus_coma_bias_mag(4.0, 60.0, 30.0, 45.0);
        assert!((bias + 2.5 * (1.0 - 60.0 / 1125.0f64).log10()).abs() < 1e-12);
        assert_eq!(annulus_coma_bias_mag(4.0, 30.0, 30.0, 45.0), 0.0);
        assert!(annulus_coma_bias_mag(4.0, 40.0, 30.0, 45.0) < bias);
    }

    #[test]
    fn exposure_keeps_the_comet_peak_below_saturation() {
        let c = CampaignConfig::default();
        let night = NightConfig::default();
        let full_e = (night.saturation_adu - night.bias_level_adu) * night.gain_e_per_adu;
        let mut previous = 0.0;
        for mag in [13.0, 14.0, 15.0, 16.0, 17.0, 19.0] {
            let t = science_exptime_s(&c, &night, mag, 5.0, 1.3);
            assert!(t >= previous && t <= c.science_exptime_max_s, "{mag}: {t}");
            if t > c.science_exptime_min_s {
                let k_px = electrons_from_mag(mag, 25.0, 0.07, 1.3, t) / (2.0 * PI * 5.0)
                    * night.pixel_scale_arcsec_per_px;
                let sky = sky_electrons_per_px(20.5, 25.0, night.pixel_scale_arcsec_per_px, t);
                let peak = k_px * CENTRAL_PIXEL_INVERSE_R + sky;
                assert!(peak <= c.peak_saturation_fraction * full_e, "{mag}: {peak}");
            }
            previous = t;
        }
        assert_eq!(science_exptime_s(&c, &night, 19.0, 5.0, 1.3), 120.0);
        assert_eq!(science_exptime_s(&c, &night, 5.0, 5.0, 1.3), 5.0);
        // The exact pixel integral of 1/ρ.
        let unit = super::super::model::inverse_r_integral(-0.5, 0.5, -0.5, 0.5);
        assert!((unit - CENTRAL_PIXEL_INVERSE_R).abs() < 1e-12);
    }

    #[test]
    fn a_night_keeps_its_conditions_and_seed_when_other_nights_change() {
        let mut c = campaign(&["2025-07-15", "2025-08-01"]);
        c.night_scatter_mag = 0.05;
        let both = plan(&c).unwrap();
        c.nights_utc = vec!["2025-08-01".into()];
        let alone = plan(&c).unwrap();
        assert_eq!(both[1].night, alone[0].night);
        assert_eq!(both[1].true_mag, alone[0].true_mag);
        assert_ne!(both[0].night.seed, both[1].night.seed);
        assert_ne!(both[0].scatter_mag, 0.0);
        for p in &both {
            assert!((c.seeing_fwhm_arcsec_min..=c.seeing_fwhm_arcsec_max)
                .contains(&p.seeing_fwhm_arcsec));
            assert!((c.sky_mag_per_arcsec2_min..=c.sky_mag_per_arcsec2_max)
                .contains(&p.sky_mag_per_arcsec2));
            // The schedule: biases, then flats, then science in darkness.
            assert!(p.bias_start_utc < p.sunset_utc);
            assert!(p.sunset_utc < p.flat_start_utc && p.flat_start_utc < p.dark_start_utc);
            assert!(p.dark_start_utc <= p.science_start_utc);
            assert!(!p.morning_flats);
        }
        // Another seed, other conditions.
        c.seed += 1;
        let other = plan(&c).unwrap();
        assert_ne!(other[0].seeing_fwhm_arcsec, alone[0].seeing_fwhm_arcsec);
    }

    #[test]
    fn standard_frames_are_planned_in_darkness_around_the_science_frames() {
        let mut c = campaign(&["2025-07-15", "2025-08-01"]);
        // Absent by default, and then not in the TOML either.
        assert!(!campaign_toml(&c).unwrap().contains("standards"));
        assert!(plan(&c)
            .unwrap()
            .iter()
            .all(|p| p.night.standards.is_none()));
        c.standards = Some(CampaignStandards::default());
        let text = campaign_toml(&c).unwrap();
        assert_eq!(parse_campaign_toml(&text, "round trip").unwrap(), c);
        let (lat, lon) = (
            super::super::model::NOT_LATITUDE_DEG,
            super::super::model::NOT_EAST_LONGITUDE_DEG,
        );
        for p in plan(&c).unwrap() {
            let s = p.night.standards.as_ref().unwrap();
            assert_eq!(s.start_utc.len(), 5);
            let o = &p.observation;
            assert!(
                (s.dec_deg - (o.dec_deg + 10.0)).abs() < 0.5,
                "{}",
                s.dec_deg
            );
            let science_end = p
                .science_start_utc
                .plus_seconds(c.n_science as f64 * (p.science_exptime_s + p.night.overhead_s));
            let times: Vec<UtcInstant> = s
                .start_utc
                .iter()
                .map(|t| UtcInstant::parse_iso(t).unwrap())
                .collect();
            assert!(times.windows(2).all(|w| w[0] < w[1]));
            let mut airmasses = Vec::new();
            for t in &times {
                assert!(*t >= p.dark_start_utc && t.plus_seconds(s.exptime_s) <= p.dark_end_utc);
                assert!(
                    t.plus_seconds(s.exptime_s) <= p.science_start_utc || *t >= science_end,
                    "{t} overlaps the science frames"
                );
                let altitude = altitude_deg(s.ra_deg, s.dec_deg, t.jd(), lat, lon);
                // The planner's site is the NOT from its MPC code: the same to ~1e-4 deg.
                assert!(altitude >= 24.99, "{altitude}");
                airmasses.push(airmass_from_altitude(altitude));
            }
            let span = airmasses.iter().cloned().fold(f64::NEG_INFINITY, f64::max)
                - airmasses.iter().cloned().fold(f64::INFINITY, f64::min);
            assert!(span > 0.3, "{}: airmasses {airmasses:?}", p.date_utc);
        }
        // More frames than the darkness holds: the night is named.
        c.standards = Some(CampaignStandards {
            n_frames: 10_000,
            ..CampaignStandards::default()
        });
        assert_eq!(plan(&c).map_err(field_of).unwrap_err(), "nights_utc");
    }

    #[test]
    fn plan_with_reuses_the_geometry() {
        let c = campaign(&["2025-07-15", "2025-08-01"]);
        let g = CampaignGeometry::new(&c).unwrap();
        assert_eq!(plan_with(&c, &g).unwrap(), plan(&c).unwrap());
        let mut variant = c.clone();
        variant.h_mag += 1.0;
        for p in plan_with(&variant, &g).unwrap() {
            let o = &p.observation;
            let m = true_magnitude(9.0, 3.8, 0.04, o.rh_au, o.delta_au, o.phase_deg);
            assert_eq!(p.true_mag, m);
        }
    }
}
