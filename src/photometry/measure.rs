//! Fixed-aperture photometry of the comet in one calibrated frame: background and sources,
//! WCS refinement on catalogue stars, the comet's position from its ephemeris refined on the
//! coma, apertures of fixed linear (km at the comet) or angular radius, and the zero point.
//!
//! Steps: (1) background mesh, source detection, and the background again with the sources'
//! footprints excluded; (2) with a catalogue, the header WCS refined on matched stars;
//! (3) the comet's astrometric RA/Dec at mid-exposure → pixel → [`locate_comet`]; (4) each
//! radius ρ: ρ″ = ρ_km / (725.27 km × Δ_au) for a linear radius, then an exact-overlap
//! aperture with a sky annulus (the sigma-clipped mean of its pixels with the other sources'
//! light left out; errors: Poisson + read noise + background); (5) the zero point: given, or
//! from catalogue stars measured in 2 × FWHM apertures (sky as the comet's), corrected to
//! 4 × FWHM by the weighted mean curve of growth of the brighter stars and to total light by
//! the fitted Moffat profile beyond 4 FWHM (total-light catalogue magnitudes);
//! (6) m = m_inst + zp with m_inst = −2.5 log10(e⁻/s).
//!
//! [`measure_standard_frame`] measures the stars of a standard-star frame the same way, for
//! the night's extinction fit ([`super::standards`]).

use super::aperture::{
    annulus_background_excluding, annulus_backgrounds_excluding, aperture_flag, measure_radii,
    AnnulusBackground, Circle, CircularAnnulus, MeasureOptions, NoiseModel,
};
use super::astrometry::{
    refine_wcs, ReferenceStar, RefineParams, RefinedWcs, WcsModel, MIN_SHIFT_MATCHES,
};
use super::background::{estimate_background_mesh, BackgroundParams, MeshBackground};
use super::catalogue::CatalogueStar;
use super::comet::{locate_comet, Exclusion, LocateParams};
use super::detect::{detect_sources, source_flag, source_fwhm_px, DetectParams, Detection, Source};
use super::source_mask::source_mask;
use super::zeropoint::{
    catalogue_zero_point, catalogue_zero_point_with_colour, instrumental_mag,
    zero_point_from_header, CalibrationStar, StandardMeasurement, ZeroPoint, ZeroPointMethod,
};
use crate::ephem::ephemeris::GeometrySource;
use crate::ephem::geometry::Observation;
use crate::ephem::site::Site;
use crate::ephem::KM_PER_ARCSEC_AT_1AU;
use crate::image::Image;
use crate::reduce::CalibratedFrame;
use crate::stats::{clipped_weighted_mean, median, SigmaClip, LOCKSTEP_LANES};
use crate::wcs::TanWcs;
use std::cell::OnceCell;
use std::f64::consts::PI;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum MeasureError {
    #[error("{0}: no mid-exposure time (DATE-OBS/DATE-AVG and EXPTIME)")]
    NoTime(String),
    #[error("{0}: no exposure time (EXPTIME)")]
    NoExposure(String),
    #[error("{0}: no WCS in the header and no --at position: the comet cannot be located")]
    NoWcs(String),
    #[error("{file}: geometry: {message}")]
    Geometry { file: String, message: String },
    #[error("{file}: {message}")]
    Pixels { file: String, message: String },
    #[error("{file}: the comet's predicted position is outside the frame: {message}")]
    CometOutside { file: String, message: String },
    #[error(
        "{0}: standard-star frame without an airmass (AIRMASS): not usable for the extinction fit"
    )]
    NoAirmass(String),
    #[error("{file}: standard-star frame: {message}")]
    NoStandards { file: String, message: String },
}

/// Radius of the comet's aperture.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ApertureRadius {
    /// Fixed linear radius at the comet (km).
    Km(f64),
    /// Fixed angular radius (arcsec).
    Arcsec(f64),
}

/// Where the zero point comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum ZeroPointSource {
    /// A known zero point (mag for 1 e⁻/s) and its error.
    Given { zp_mag: f64, zp_err_mag: f64 },
    /// Stars of a reference catalogue in the frame; with `comet_colour` (the comet's assumed
    /// colour index, in the catalogue's `color` column's system, mag), a colour term is
    /// fitted and the zero point given for that colour.
    Catalogue {
        stars: Vec<CatalogueStar>,
        comet_colour: Option<f64>,
    },
    /// None given: the header's zero point when the profile names one and the frame has it
    /// (converted from ADU/s to e⁻/s with the gain), else instrumental magnitudes only.
    None,
}

/// Where the comet is looked for.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum CometSearch {
    /// From its ephemeris through the (refined) WCS.
    Ephemeris,
    /// At this pixel (0-based) in every frame.
    Pixel { x_px: f64, y_px: f64 },
}

/// Settings of [`measure_comet`].
#[derive(Debug, Clone)]
pub struct PhotometryConfig {
    pub radii: Vec<ApertureRadius>,
    /// Sky annulus around the comet (arcsec): far enough out that the coma adds little.
    pub annulus_inner_arcsec: f64,
    pub annulus_outer_arcsec: f64,
    pub search: CometSearch,
    pub locate: LocateParams,
    pub background: BackgroundParams,
    pub detect: DetectParams,
    pub refine: RefineParams,
    pub zero_point: ZeroPointSource,
    /// Net/error below this is flagged `low_snr`.
    pub low_snr: f64,
}

impl Default for PhotometryConfig {
    fn default() -> Self {
        PhotometryConfig {
            radii: vec![ApertureRadius::Km(10_000.0)],
            annulus_inner_arcsec: 30.0,
            annulus_outer_arcsec: 45.0,
            search: CometSearch::Ephemeris,
            locate: LocateParams::default(),
            background: BackgroundParams::default(),
            detect: DetectParams::default(),
            refine: RefineParams::default(),
            zero_point: ZeroPointSource::None,
            low_snr: 10.0,
        }
    }
}

/// Quality flags of a comet measurement, by name.
pub mod comet_flag {
    pub const SATURATED: u32 = 1 << 0;
    /// The aperture or the annulus reaches beyond the image.
    pub const EDGE: u32 = 1 << 1;
    pub const STAR_IN_APERTURE: u32 = 1 << 2;
    pub const LARGE_CENTROID_OFFSET: u32 = 1 << 3;
    /// The comet moved by more than the seeing FWHM during the exposure.
    pub const TRAILED: u32 = 1 << 4;
    pub const LOW_SNR: u32 = 1 << 5;
    pub const MASKED_PIXELS: u32 = 1 << 6;
    /// The header WCS was used as it is (no catalogue, or the refinement failed).
    pub const WCS_UNREFINED: u32 = 1 << 7;
    pub const BACKGROUND_NOT_CONVERGED: u32 = 1 << 8;
    pub const FEW_BACKGROUND_PIXELS: u32 = 1 << 9;
    pub const NAMES: [(u32, &str); 10] = [
        (SATURATED, "saturated"),
        (EDGE, "edge"),
        (STAR_IN_APERTURE, "star_in_aperture"),
        (LARGE_CENTROID_OFFSET, "large_centroid_offset"),
        (TRAILED, "trailed"),
        (LOW_SNR, "low_snr"),
        (MASKED_PIXELS, "masked_pixels"),
        (WCS_UNREFINED, "wcs_unrefined"),
        (BACKGROUND_NOT_CONVERGED, "background_not_converged"),
        (FEW_BACKGROUND_PIXELS, "few_background_pixels"),
    ];

    /// `|`-joined names of the set flags (empty when none).
    pub fn to_string(flags: u32) -> String {
        NAMES
            .iter()
            .filter(|(bit, _)| flags & bit != 0)
            .map(|(_, name)| *name)
            .collect::<Vec<_>>()
            .join("|")
    }
}

/// One measurement of the comet: one frame, one radius.
#[derive(Debug, Clone, PartialEq)]
pub struct CometPhotometry {
    pub file: String,
    pub mjd_mid_utc: f64,
    pub filter: String,
    pub exptime_s: f64,
    pub airmass: f64,
    /// Refined position (0-based px) and its sky position.
    pub x: f64,
    pub y: f64,
    pub ra_deg: f64,
    pub dec_deg: f64,
    pub rh_au: f64,
    pub delta_au: f64,
    pub phase_deg: f64,
    pub radius_km: f64,
    pub radius_arcsec: f64,
    pub net_e: f64,
    pub net_err_e: f64,
    pub mag_inst: f64,
    pub zp: f64,
    pub zp_err: f64,
    pub zp_method: String,
    pub n_stars: usize,
    pub mag: f64,
    pub mag_err: f64,
    pub flags: u32,
}

/// A calibration star of a frame's zero point, with the aperture-corrected instrumental
/// magnitude and whether the zero point kept it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ZeroPointStar {
    pub star: CalibrationStar,
    /// Detected position (0-based px).
    pub x_px: f64,
    pub y_px: f64,
    pub used: bool,
}

/// The comet's net signal in one aperture of its curve of growth (same centre and sky as the
/// photometry).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GrowthSample {
    pub radius_arcsec: f64,
    pub radius_km: f64,
    pub net_e: f64,
    pub net_err_e: f64,
}

/// Apertures of the curve of growth, as multiples of the first photometric radius.
pub const GROWTH_RADIUS_FACTORS: [f64; 10] = [0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 2.0, 2.5, 3.0, 4.0];

/// What the photometry of a frame used besides the comet's magnitudes, for the diagnostics
/// (postage stamp, curve of growth, zero-point plot, DS9 regions).
#[derive(Debug, Clone, PartialEq)]
pub struct FrameDiagnostics {
    /// Predicted (ephemeris or `--at`) and measured positions of the comet (0-based px).
    pub predicted_px: (f64, f64),
    pub x_px: f64,
    pub y_px: f64,
    pub ra_deg: f64,
    pub dec_deg: f64,
    pub scale_arcsec_per_px: f64,
    /// Median FWHM of the clean stars (px).
    pub fwhm_px: f64,
    /// CD matrix of the (refined) WCS (deg/px), when there is one.
    pub cd_deg_per_px: Option<[[f64; 2]; 2]>,
    /// Radii of the photometric apertures and of the sky annulus (px).
    pub aperture_radii_px: Vec<f64>,
    pub annulus_px: (f64, f64),
    /// Position angles (deg E of N) of the direction to the Sun (Horizons PsAng + 180) and of
    /// the negative heliocentric velocity (PsAMV).
    pub sun_pa_deg: f64,
    pub neg_velocity_pa_deg: f64,
    /// The comet's curve of growth at [`GROWTH_RADIUS_FACTORS`] × the first radius.
    pub growth: Vec<GrowthSample>,
    pub zero_point: Option<ZeroPoint>,
    pub zero_point_stars: Vec<ZeroPointStar>,
}

/// The measurements of the comet in a frame (one per radius) and the diagnostics.
#[derive(Debug, Clone, PartialEq)]
pub struct FrameMeasurement {
    pub rows: Vec<CometPhotometry>,
    pub diagnostics: FrameDiagnostics,
}

/// Stars measured at least this well (net / error in the 2 FWHM aperture) give the aperture
/// correction.
const APERTURE_CORRECTION_MIN_SNR: f64 = 50.0;
/// Uncertainty added to a zero point whose aperture correction could not be measured (mag).
const UNMEASURED_APERTURE_CORRECTION_MAG: f64 = 0.05;
/// A neighbour's pixels are left out of a calibration star's sky annulus out to where its
/// Moffat profile falls to this fraction of the sky noise per pixel.
const NEIGHBOUR_WING_FRACTION_OF_SKY_RMS: f64 = 0.05;
/// A catalogue neighbour fainter than the star by less than this (mag), i.e. with more than
/// 1 % of its light, crowds it: 2.5 log10(100) = 5 mag.
const CROWDING_MAG_DIFFERENCE: f64 = 5.0;
/// Stars in the curve of growth below which uncatalogued point sources are added.
const MIN_GROWTH_STARS: usize = 10;
/// A catalogue star closer than this (px) to an uncatalogued detection is taken for the
/// detection itself, not a neighbour.
const STAR_ITSELF_PX: f64 = 2.0;
/// A calibration star is not used when less than this fraction of its sky annulus remains
/// once its neighbours are left out.
const MIN_FREE_ANNULUS_FRACTION: f64 = 0.5;

/// Moffat (1969, A&A 3, 455) scale α of a profile `I(r) = I₀ (1 + r²/α²)^(−β)` of the given
/// FWHM: `α = FWHM / (2 √(2^(1/β) − 1))`.
fn moffat_alpha_px(fwhm_px: f64, beta: f64) -> f64 {
    fwhm_px / (2.0 * (2f64.powf(1.0 / beta) - 1.0).sqrt())
}

/// Fraction of a Moffat profile's light within `radius_px` (Moffat 1969, A&A 3, 455):
/// `E(r) = 1 − (1 + r²/α²)^(1 − β)`, finite for β > 1 (`None` otherwise).
fn moffat_enclosed_fraction(radius_px: f64, fwhm_px: f64, beta: f64) -> Option<f64> {
    let alpha_px = moffat_alpha_px(fwhm_px, beta);
    (beta > 1.0 && alpha_px > 0.0 && radius_px.is_finite())
        .then(|| 1.0 - (1.0 + (radius_px / alpha_px).powi(2)).powf(1.0 - beta))
        .filter(|f| f.is_finite() && *f > 0.0)
}

/// Radius (px) at which a Moffat profile of central surface brightness `peak` falls to
/// `level`: `α √((peak / level)^(1/β) − 1)`, 0 when `peak ≤ level`.
fn moffat_radius_at_level(peak: f64, level: f64, fwhm_px: f64, beta: f64) -> f64 {
    if !(peak > level && level > 0.0 && beta > 0.0) {
        return 0.0;
    }
    moffat_alpha_px(fwhm_px, beta) * ((peak / level).powf(1.0 / beta) - 1.0).sqrt()
}

/// The distance `hypot(dx, dy)` when it is below `radius_px`, most pairs rejected by their
/// bounding square without it: hypot is at least max(|dx|, |dy|) (the exact distance is, and a
/// faithfully rounded one cannot fall below that representable bound), so the square test
/// only rejects pairs that `hypot(dx, dy) < radius_px` rejects, NaNs included.
fn distance_below(dx: f64, dy: f64, radius_px: f64) -> Option<f64> {
    if !(dx.abs() < radius_px && dy.abs() < radius_px) {
        return None;
    }
    let d = dx.hypot(dy);
    (d < radius_px).then_some(d)
}

/// Background, sources and (optionally refined) WCS of a frame.
struct FrameModel {
    /// Evaluated where it is read (the comet's cutout): no full-frame level and rms maps are
    /// held (2 × 16.8 MB per ALFOSC frame in flight).
    background: MeshBackground,
    /// The sources, with an FWHM only for those that set the seeing
    /// ([`source_fwhm_px`] gives any other's from the detection's Moffat β and the sources'
    /// isophotal σ).
    sources: Vec<Source>,
    moffat_beta: f64,
    isophotal_sigma_px: Vec<f64>,
    /// The background-subtracted image the sources were measured on
    /// ([`Detection::subtracted`]), where [`source_fwhm_px`] fits.
    subtracted: Image,
    wcs: Option<TanWcs>,
    refined: Option<RefinedWcs>,
    fwhm_px: f64,
}

fn pixels_error(frame: &CalibratedFrame, message: impl std::fmt::Display) -> MeasureError {
    MeasureError::Pixels {
        file: frame.source.display().to_string(),
        message: message.to_string(),
    }
}

fn model_frame(
    frame: &CalibratedFrame,
    config: &PhotometryConfig,
    references: &[ReferenceStar],
) -> Result<FrameModel, MeasureError> {
    let image = &frame.image_e;
    // The first pass needs only where the sources are (found on the image binned 2 x 2).
    let footprints = source_mask(
        image,
        Some(&frame.mask),
        &config.background,
        &config.detect,
        3.0,
    )
    .map_err(|e| pixels_error(frame, e))?;
    let background = estimate_background_mesh(
        image,
        Some(&frame.mask),
        Some(&footprints),
        &config.background,
    )
    .map_err(|e| pixels_error(frame, e))?;
    drop(footprints);
    // FWHM fits only for the sources that set the seeing; the few others whose width matters
    // (point sources in the comet's aperture) are fitted when needed.
    let detect_params = DetectParams {
        fwhm_of_every_source: false,
        ..config.detect
    };
    let Detection {
        sources,
        moffat_beta,
        isophotal_sigma_px,
        subtracted,
        ..
    } = detect_sources(image, &background, Some(&frame.mask), &detect_params)
        .map_err(|e| pixels_error(frame, e))?;
    let clean_fwhm: Vec<f64> = sources
        .iter()
        .filter(|s| s.is_clean(source_flag::NOT_CLEAN) && s.fwhm_px.is_finite())
        .take(50)
        .map(|s| s.fwhm_px)
        .collect();
    let fwhm_px = median(&clean_fwhm).unwrap_or(4.0);
    let refined = match (&frame.wcs, references.is_empty()) {
        (Some(wcs), false) => refine_wcs(
            &sources,
            references,
            wcs,
            image.width(),
            image.height(),
            &config.refine,
        )
        .ok(),
        _ => None,
    };
    let wcs = refined
        .as_ref()
        .map(|r| r.wcs.clone())
        .or_else(|| frame.wcs.clone());
    Ok(FrameModel {
        background,
        sources,
        moffat_beta,
        isophotal_sigma_px,
        subtracted,
        wcs,
        refined,
        fwhm_px,
    })
}

/// Catalogue stars matched by the WCS refinement, measured for a zero point: clean,
/// uncrowded, unsaturated sources in 2 FWHM apertures, aperture-corrected to 4 FWHM.
struct MeasuredStars {
    stars: Vec<CalibrationStar>,
    /// Detected positions (0-based px), in the order of `stars`.
    positions: Vec<(f64, f64)>,
    /// Uncertainty of the aperture correction (mag), shared by every star of the frame:
    /// 1.0857 σ_ratio / ratio with the error of the weighted mean ratio from
    /// [`growth_ratio`], or [`UNMEASURED_APERTURE_CORRECTION_MAG`] when it was not measured.
    correction_err_mag: f64,
}

/// Per source of the frame, the radius (px) beyond which its light in a neighbour's sky
/// annulus falls below [`NEIGHBOUR_WING_FRACTION_OF_SKY_RMS`] of the sky noise: its Moffat
/// wing at the image's β and FWHM, or 1.5 × its isophotal radius when larger (extended
/// sources).
fn neighbour_wing_radii_px(model: &FrameModel) -> Vec<f64> {
    let wing_level = NEIGHBOUR_WING_FRACTION_OF_SKY_RMS * model.background.global_rms;
    model
        .sources
        .iter()
        .map(|s| {
            moffat_radius_at_level(s.peak, wing_level, model.fwhm_px, model.moffat_beta)
                .max(1.5 * (s.area_px as f64 / PI).sqrt())
        })
        .collect()
}

/// Measures the catalogue stars matched by the WCS refinement (`None` without a refined WCS).
/// `avoid`: a circle (x, y, radius px) around the comet whose stars are not used (the coma
/// would add to their light and to their background).
fn measure_catalogue_stars(
    frame: &CalibratedFrame,
    model: &FrameModel,
    catalogue: &[CatalogueStar],
    exptime_s: f64,
    avoid: (f64, f64, f64),
) -> Option<MeasuredStars> {
    let refined = model.refined.as_ref()?;
    let fwhm = model.fwhm_px;
    let large = 4.0 * fwhm;
    let apertures = StarApertures::new(frame, model);
    let mut stars = Vec::new();
    let mut positions = Vec::new();
    let mut growth = Vec::new();
    let mut matched = vec![false; model.sources.len()];
    // The catalogue's stars on the frame (through the refined WCS): a faint neighbour that
    // detection merged with a bright star is still in the catalogue.
    let crowding_radius_px = large + 2.0 * fwhm;
    let (width, height) = (frame.image_e.width() as f64, frame.image_e.height() as f64);
    let catalogue_px: Vec<(usize, f64, f64, f64)> = catalogue
        .iter()
        .enumerate()
        .filter(|(_, s)| s.mag.is_finite())
        .filter_map(|(k, s)| {
            let (x, y) = refined.wcs.world_to_pixel(s.ra_deg, s.dec_deg)?;
            let inside = x > -crowding_radius_px
                && y > -crowding_radius_px
                && x < width + crowding_radius_px
                && y < height + crowding_radius_px;
            inside.then_some((k, x, y, s.mag))
        })
        .collect();
    let usable = |source: &Source| {
        let near_comet = (source.x - avoid.0).hypot(source.y - avoid.1) < avoid.2;
        source.is_clean(source_flag::NOT_CLEAN) && !near_comet
    };
    // The stars to measure, in the order of the matches: which they are depends on no
    // measurement.
    let mut chosen: Vec<(usize, &Source, &CatalogueStar)> = Vec::new();
    for &(source_index, star_index) in &refined.matches {
        let (Some(source), Some(star)) =
            (model.sources.get(source_index), catalogue.get(star_index))
        else {
            continue;
        };
        if let Some(flag) = matched.get_mut(source_index) {
            *flag = true;
        }
        // Crowded: a detected source or a catalogue star within 2 FWHM of the large
        // aperture with more than 1 % of the star's light.
        let crowded = apertures.crowded_by_detections(source_index)
            || catalogue_px.iter().any(|&(k, x, y, mag)| {
                k != star_index
                    && distance_below(x - source.x, y - source.y, crowding_radius_px).is_some()
                    && mag - star.mag < CROWDING_MAG_DIFFERENCE
            });
        if usable(source) && !crowded {
            chosen.push((source_index, source, star));
        }
    }
    // Each measurement depends on its star alone: they are made in order of the stars' rows
    // (y), so that successive annuli share most of their rows (pixels and address
    // translations still cached; in the matches' order they jump across the frame), and
    // used in the matches' order.
    let mut by_row: Vec<usize> = (0..chosen.len()).collect();
    by_row.sort_by(|&a, &b| chosen[a].1.y.total_cmp(&chosen[b].1.y));
    // Taken [`LOCKSTEP_LANES`] at a time, their annuli are clipped side by side.
    let mut signals: Vec<Option<StarSignal>> = (0..chosen.len()).map(|_| None).collect();
    for batch in by_row.chunks(LOCKSTEP_LANES) {
        let sources: Vec<usize> = batch.iter().map(|&k| chosen[k].0).collect();
        for (&k, signal) in batch.iter().zip(apertures.measure_many(&sources)) {
            signals[k] = signal;
        }
    }
    for ((_, source, star), measured) in chosen.into_iter().zip(signals) {
        let Some(measured) = measured else {
            continue;
        };
        let Some((mag_inst, mag_inst_err)) =
            instrumental_mag(measured.small_e, measured.small_err_e, exptime_s)
        else {
            continue;
        };
        if let Some(pair) = measured.growth() {
            growth.push(pair);
        }
        stars.push(CalibrationStar {
            catalogue_mag: star.mag,
            catalogue_mag_err: star.mag_err,
            instrumental_mag: mag_inst,
            instrumental_mag_err: mag_inst_err,
            colour: star.colour,
        });
        positions.push((source.x, source.y));
    }
    // The curve of growth does not need a catalogue magnitude: with fewer than
    // [`MIN_GROWTH_STARS`] catalogue stars bright enough for it (a sparse catalogue, a small
    // standard field), the brightest other point sources of the frame are added, star-like
    // (FWHM within 25 % of the frame's), uncrowded by detections and by catalogue stars (their
    // light in the 2 FWHM aperture from a provisional zero point: the weighted mean of the
    // catalogue stars' m_cat − m_inst; every catalogue star counts when there is none).
    if growth.len() < MIN_GROWTH_STARS {
        let provisional_zp = clipped_weighted_mean(
            &stars
                .iter()
                .map(|s| {
                    (
                        s.catalogue_mag - s.instrumental_mag,
                        s.instrumental_mag_err.max(1e-3),
                    )
                })
                .collect::<Vec<_>>(),
            3.0,
            1,
        )
        .map(|m| m.mean);
        let mut candidates: Vec<usize> = (0..model.sources.len())
            .filter(|&k| !matched[k])
            .filter(|&k| {
                let s = &model.sources[k];
                usable(s) && (s.fwhm_px / fwhm - 1.0).abs() <= 0.25
            })
            .collect();
        candidates.sort_by(|&a, &b| model.sources[b].flux.total_cmp(&model.sources[a].flux));
        for k in candidates {
            if growth.len() >= MIN_GROWTH_STARS {
                break;
            }
            let source = &model.sources[k];
            if apertures.crowded_by_detections(k) {
                continue;
            }
            let Some(measured) = apertures.measure(k) else {
                continue;
            };
            let Some(pair) = measured.growth() else {
                // Sorted by flux: the fainter ones will not reach the SNR either.
                break;
            };
            let catalogue_crowded = catalogue_px.iter().any(|&(_, x, y, mag)| {
                let light_e = || {
                    provisional_zp.map_or(f64::INFINITY, |zp| {
                        10f64.powf(-0.4 * (mag - zp)) * exptime_s
                    })
                };
                distance_below(x - source.x, y - source.y, crowding_radius_px)
                    .is_some_and(|d| d > STAR_ITSELF_PX)
                    && light_e() > 0.01 * pair.small_e
            });
            if !catalogue_crowded {
                growth.push(pair);
            }
        }
    }
    // Aperture correction 2 → 4 FWHM (a Moffat profile of β = 3 has 99.7 % of its light
    // within 4 FWHM): the weighted, clipped mean over the brighter stars of their curves of
    // growth (see [`growth_ratio`]), then the light beyond 4 FWHM from the Moffat profile
    // fitted to the frame's stars (β of the detection, median FWHM): 2.5 log10 E(4 FWHM),
    // −0.0035 mag at β = 3. Without three such stars the correction is not measured and its
    // typical size for Moffat profiles (β = 2.5–3: 0.02–0.05 mag) is added to the zero
    // point's error.
    let beyond_large_mag = moffat_enclosed_fraction(large, fwhm, model.moffat_beta)
        .map_or(0.0, |fraction| 2.5 * fraction.log10());
    let (correction, correction_err) = match growth_ratio(&growth) {
        Some((ratio, ratio_err)) => (
            -2.5 * ratio.log10() + beyond_large_mag,
            2.5 / std::f64::consts::LN_10 * ratio_err / ratio,
        ),
        None => (0.0, UNMEASURED_APERTURE_CORRECTION_MAG),
    };
    for s in &mut stars {
        s.instrumental_mag += correction;
    }
    Some(MeasuredStars {
        stars,
        positions,
        correction_err_mag: correction_err,
    })
}

/// The 2 and 4 FWHM apertures of the calibration stars of one frame, their sky the clipped
/// mean of an 8–11 FWHM annulus with the neighbours' light left out.
struct StarApertures<'a> {
    frame: &'a CalibratedFrame,
    model: &'a FrameModel,
    options: MeasureOptions<'a>,
    wing_radii_px: Vec<f64>,
}

/// A star (its source), its 8–11 FWHM sky annulus and the neighbours left out of it.
type StarAnnulus<'a> = (&'a Source, CircularAnnulus, Vec<Circle>);

/// One star's net signal (e⁻) in its 2 FWHM aperture and, when that has SNR above
/// [`APERTURE_CORRECTION_MIN_SNR`], in its 4 FWHM one (same centre and sky).
struct StarSignal {
    small_e: f64,
    small_err_e: f64,
    large: Option<(f64, f64)>,
}

impl StarSignal {
    fn growth(&self) -> Option<GrowthPair> {
        self.large.map(|(large_e, large_err_e)| GrowthPair {
            small_e: self.small_e,
            small_err_e: self.small_err_e,
            large_e,
            large_err_e,
        })
    }
}

impl<'a> StarApertures<'a> {
    fn new(frame: &'a CalibratedFrame, model: &'a FrameModel) -> StarApertures<'a> {
        StarApertures {
            frame,
            model,
            options: star_options(frame),
            wing_radii_px: neighbour_wing_radii_px(model),
        }
    }

    /// Another detection with more than 1 % of source `k`'s light within 2 FWHM of its
    /// 4 FWHM aperture.
    fn crowded_by_detections(&self, k: usize) -> bool {
        let sources = &self.model.sources;
        let Some(source) = sources.get(k) else {
            return true;
        };
        let radius_px = 6.0 * self.model.fwhm_px;
        sources.iter().any(|other| {
            distance_below(other.x - source.x, other.y - source.y, radius_px)
                .is_some_and(|d| d > 0.0)
                && other.flux > 0.01 * source.flux
        })
    }

    /// Source `k` measured; `None` when its annulus keeps less than
    /// [`MIN_FREE_ANNULUS_FRACTION`] of its pixels or an aperture is truncated, saturated or
    /// has masked pixels.
    fn measure(&self, k: usize) -> Option<StarSignal> {
        self.measure_many(&[k]).pop().flatten()
    }

    /// [`StarApertures::measure`] of each source of `ks`, their annuli's backgrounds clipped
    /// side by side ([`annulus_backgrounds_excluding`]; the same values as one by one).
    fn measure_many(&self, ks: &[usize]) -> Vec<Option<StarSignal>> {
        let prepared: Vec<Option<StarAnnulus>> = ks.iter().map(|&k| self.annulus_of(k)).collect();
        let annuli: Vec<(CircularAnnulus, &[Circle])> = prepared
            .iter()
            .flatten()
            .map(|(_, annulus, neighbours)| (*annulus, neighbours.as_slice()))
            .collect();
        let mut skies = annulus_backgrounds_excluding(
            &self.frame.image_e,
            self.options.mask,
            &annuli,
            &self.options.sigma_clip,
        )
        .into_iter();
        prepared
            .iter()
            .map(|p| {
                let (source, annulus, _) = p.as_ref()?;
                let sky = skies.next()?.ok()?;
                self.measure_with_sky(source, annulus, sky)
            })
            .collect()
    }

    /// Source `k`, its 8–11 FWHM annulus and the neighbours to leave out of it.
    fn annulus_of(&self, k: usize) -> Option<StarAnnulus<'a>> {
        let source = self.model.sources.get(k)?;
        let fwhm = self.model.fwhm_px;
        let annulus = CircularAnnulus::new(source.x, source.y, 8.0 * fwhm, 11.0 * fwhm).ok()?;
        // The annulus's clipped background once for both apertures (as `measure` computes
        // it), without the neighbours' light.
        let neighbours: Vec<Circle> = self
            .model
            .sources
            .iter()
            .zip(&self.wing_radii_px)
            .enumerate()
            .filter(|(j, (other, r))| {
                *j != k
                    && distance_below(
                        other.x - source.x,
                        other.y - source.y,
                        annulus.outer_px + **r,
                    )
                    .is_some()
            })
            .map(|(_, (other, r))| (other.x, other.y, *r))
            .collect();
        Some((source, annulus, neighbours))
    }

    /// The apertures of `source` with the background `sky` of its `annulus`.
    fn measure_with_sky(
        &self,
        source: &Source,
        annulus: &CircularAnnulus,
        sky: AnnulusBackground,
    ) -> Option<StarSignal> {
        let fwhm = self.model.fwhm_px;
        let annulus_area_px = PI * (annulus.outer_px.powi(2) - annulus.inner_px.powi(2));
        if (sky.n_pixels as f64) < MIN_FREE_ANNULUS_FRACTION * annulus_area_px {
            return None;
        }
        // With the neighbours left out the annulus holds sky alone: its clipped mean.
        let sky = sky.at_mean();
        let spoiled = aperture_flag::APERTURE_TRUNCATED
            | aperture_flag::SATURATED
            | aperture_flag::MASKED_PIXELS
            | aperture_flag::NO_USABLE_PIXELS;
        let in_aperture = |radius_px: f64| {
            measure_radii(
                &self.frame.image_e,
                source.x,
                source.y,
                &[radius_px],
                Some(&sky),
                &self.options,
            )
            .ok()
            .map(|mut m| m.remove(0))
            .filter(|m| m.flags & spoiled == 0)
        };
        let small = in_aperture(2.0 * fwhm)?;
        let large = (small.net > APERTURE_CORRECTION_MIN_SNR * small.net_err)
            .then(|| in_aperture(4.0 * fwhm))
            .flatten()
            .map(|m| (m.net, m.net_err));
        Some(StarSignal {
            small_e: small.net,
            small_err_e: small.net_err,
            large,
        })
    }
}

/// A star's net signals in the small (2 FWHM) and large (4 FWHM) apertures and their errors
/// (e⁻), same centre and sky.
struct GrowthPair {
    small_e: f64,
    small_err_e: f64,
    large_e: f64,
    large_err_e: f64,
}

/// Ratio large / small of the stars' curves of growth and its error: the inverse-variance
/// weighted mean of the ratios `rᵢ`, as DAOGROW weights the stars' growth curves by their
/// errors (Stetson 1990, PASP 102, 932). The light between the apertures,
/// `D = large − small`, is independent of `small`, so `r = 1 + D / small` has
/// `σᵣ² = (σ_large² − σ_small² + (r − 1)² σ_small²) / small²` (first order). A neighbour
/// inside a large aperture inflates its ratio: outliers are rejected at 3σ in normalised
/// residuals starting from the weighted median ([`clipped_weighted_mean`]; a plain median,
/// set by the many faint stars, could reject the two or three bright ones that carry the
/// weight). `None` with fewer than three stars kept.
fn growth_ratio(growth: &[GrowthPair]) -> Option<(f64, f64)> {
    let points: Vec<(f64, f64)> = growth
        .iter()
        .filter(|g| g.small_e > 0.0 && g.large_e > 0.0)
        .filter_map(|g| {
            let ratio = g.large_e / g.small_e;
            let variance = ((g.large_err_e.powi(2) - g.small_err_e.powi(2)).max(0.0)
                + (ratio - 1.0).powi(2) * g.small_err_e.powi(2))
                / g.small_e.powi(2);
            (ratio.is_finite() && variance.is_finite() && variance > 0.0)
                .then_some((ratio, variance.sqrt()))
        })
        .collect();
    clipped_weighted_mean(&points, 3.0, 3).map(|m| (m.mean, m.err))
}

/// Zero point from the catalogue stars matched by the WCS refinement (see
/// [`measure_catalogue_stars`]).
fn catalogue_zp(
    frame: &CalibratedFrame,
    model: &FrameModel,
    catalogue: &[CatalogueStar],
    comet_colour: Option<f64>,
    exptime_s: f64,
    avoid: (f64, f64, f64),
) -> (Option<ZeroPoint>, Vec<ZeroPointStar>) {
    let Some(MeasuredStars {
        stars,
        positions,
        correction_err_mag: correction_err,
    }) = measure_catalogue_stars(frame, model, catalogue, exptime_s, avoid)
    else {
        return (None, Vec::new());
    };
    let with_correction_err = |zp: ZeroPoint| ZeroPoint {
        zp_err_mag: zp.zp_err_mag.hypot(correction_err),
        ..zp
    };
    let (zero_point, used): (Option<ZeroPoint>, Vec<bool>) = match comet_colour {
        Some(colour) => match catalogue_zero_point_with_colour(&stars, colour) {
            Ok((zp, used)) => (Some(with_correction_err(zp)), used),
            Err(_) => (None, vec![false; stars.len()]),
        },
        None => match catalogue_zero_point(&stars) {
            Ok((zp, used)) => (Some(with_correction_err(zp)), used),
            Err(_) => (None, vec![false; stars.len()]),
        },
    };
    let used = stars
        .into_iter()
        .zip(positions)
        .zip(used)
        .map(|((star, (x_px, y_px)), used)| ZeroPointStar {
            star,
            x_px,
            y_px,
            used,
        })
        .collect();
    (zero_point, used)
}

/// The standard stars measured in one standard-star frame.
#[derive(Debug, Clone, PartialEq)]
pub struct StandardFrame {
    pub file: String,
    pub filter: String,
    pub mjd_mid_utc: f64,
    /// The header's airmass (ALFOSC writes it at the start of the exposure).
    pub airmass: f64,
    /// One per star kept: `m_cat − m_inst` inside the frame's 3σ clipping bounds (astropy's
    /// rule), `mag_err` combining the catalogue and photometric errors.
    pub measurements: Vec<StandardMeasurement>,
    /// Error shared by all the frame's stars: that of its aperture correction (mag).
    pub shared_err_mag: f64,
    /// Stars measured before the clipping.
    pub n_candidates: usize,
    /// The transform that refined the header WCS on the standard stars: the configured one,
    /// or a shift alone in a field of too few stars ([`WcsModel::Shift`]).
    pub wcs_model: WcsModel,
}

/// The frame's mid-exposure time and its exposure (s, > 0): both needed by every measurement.
fn time_and_exposure(
    frame: &CalibratedFrame,
) -> Result<(crate::ephem::time::UtcInstant, f64), MeasureError> {
    let file = || frame.source.display().to_string();
    let time = frame
        .meta
        .mid_exposure_utc
        .ok_or_else(|| MeasureError::NoTime(file()))?;
    let exptime_s = frame
        .meta
        .exptime_s
        .filter(|t| *t > 0.0)
        .ok_or_else(|| MeasureError::NoExposure(file()))?;
    Ok((time, exptime_s))
}

/// Measures the standard stars of a standard-star frame exactly as the catalogue stars of a
/// science frame are measured for its zero point: the header WCS refined on `standards`, the
/// matched clean and uncrowded stars in 2 FWHM apertures aperture-corrected to 4 FWHM, and
/// `m_inst = −2.5 log10(e⁻/s)`. Each kept star gives `m_cat − m_inst` at the frame's airmass
/// for [`super::zeropoint::fit_extinction`].
pub fn measure_standard_frame(
    frame: &CalibratedFrame,
    standards: &[CatalogueStar],
    config: &PhotometryConfig,
) -> Result<StandardFrame, MeasureError> {
    let file = frame.source.display().to_string();
    let meta = &frame.meta;
    let (time, exptime_s) = time_and_exposure(frame)?;
    let airmass = meta
        .airmass
        .filter(|x| x.is_finite() && *x >= 1.0)
        .ok_or_else(|| MeasureError::NoAirmass(file.clone()))?;
    let no_standards = |message: &str| MeasureError::NoStandards {
        file: file.clone(),
        message: message.to_string(),
    };
    if frame.wcs.is_none() {
        return Err(no_standards(
            "no WCS in the header: the standard stars cannot be identified",
        ));
    }
    let references: Vec<ReferenceStar> = standards.iter().map(ReferenceStar::from).collect();
    let model = model_frame(frame, config, &references)?;
    let measured = measure_catalogue_stars(
        frame,
        &model,
        standards,
        exptime_s,
        (f64::NAN, f64::NAN, 0.0),
    );
    let (Some(wcs_model), Some(measured)) = (model.refined.as_ref().map(|r| r.model), measured)
    else {
        return Err(no_standards(&format!(
            "the WCS could not be refined on the standard stars (at least {} of them must be \
             detected and matched for a fit of shift, rotation and scale, or {MIN_SHIFT_MATCHES} \
             agreeing on a shift alone)",
            config.refine.min_matches
        )));
    };
    let offsets: Vec<f64> = measured
        .stars
        .iter()
        .map(|s| s.catalogue_mag - s.instrumental_mag)
        .collect();
    let (lower, upper) = SigmaClip::default()
        .clip(&offsets)
        .map(|c| (c.lower, c.upper))
        .ok_or_else(|| no_standards("no standard star could be measured"))?;
    let measurements: Vec<StandardMeasurement> = measured
        .stars
        .iter()
        .zip(&offsets)
        .filter(|(_, o)| **o >= lower && **o <= upper)
        .map(|(s, _)| StandardMeasurement {
            catalogue_mag: s.catalogue_mag,
            instrumental_mag: s.instrumental_mag,
            mag_err: s.catalogue_mag_err.hypot(s.instrumental_mag_err),
            airmass,
        })
        .collect();
    Ok(StandardFrame {
        file,
        filter: meta.filter.clone().unwrap_or_default(),
        mjd_mid_utc: time.mjd(),
        airmass,
        measurements,
        shared_err_mag: measured.correction_err_mag,
        n_candidates: measured.stars.len(),
        wcs_model,
    })
}

fn star_options(frame: &CalibratedFrame) -> MeasureOptions<'_> {
    MeasureOptions {
        mask: Some(&frame.mask),
        noise: NoiseModel::Ccd {
            gain_e_per_adu: 1.0,
            read_noise_e: frame.read_noise_e,
        },
        ..MeasureOptions::default()
    }
}

/// Sources that are not the comet: farther than `min_distance_px` from `(x, y)`.
fn other_sources(sources: &[Source], x: f64, y: f64, min_distance_px: f64) -> Vec<&Source> {
    sources
        .iter()
        .filter(|s| (s.x - x).hypot(s.y - y) > min_distance_px)
        .collect()
}

/// Measures the comet in `frame` (see the module notes); one result per radius.
pub fn measure_comet(
    frame: &CalibratedFrame,
    geometry: &GeometrySource,
    site: &Site,
    config: &PhotometryConfig,
) -> Result<Vec<CometPhotometry>, MeasureError> {
    measure_frame(frame, geometry, site, config).map(|m| m.rows)
}

/// [`measure_comet`] with the frame's diagnostics.
pub fn measure_frame(
    frame: &CalibratedFrame,
    geometry: &GeometrySource,
    site: &Site,
    config: &PhotometryConfig,
) -> Result<FrameMeasurement, MeasureError> {
    let file = frame.source.display().to_string();
    let meta = &frame.meta;
    let (time, exptime_s) = time_and_exposure(frame)?;
    let obs: Observation = geometry
        .observe(site, time)
        .map_err(|e| MeasureError::Geometry {
            file: file.clone(),
            message: e.to_string(),
        })?;
    let catalogue: &[CatalogueStar] = match &config.zero_point {
        ZeroPointSource::Catalogue { stars, .. } => stars,
        _ => &[],
    };
    let references: Vec<ReferenceStar> = catalogue.iter().map(ReferenceStar::from).collect();
    let model = model_frame(frame, config, &references)?;
    let scale_arcsec = model
        .wcs
        .as_ref()
        .map(|w| w.scale_arcsec_per_px())
        .or(meta.pixel_scale_arcsec)
        .unwrap_or(f64::NAN);
    let predicted = match config.search {
        CometSearch::Pixel { x_px, y_px } => (x_px, y_px),
        CometSearch::Ephemeris => model
            .wcs
            .as_ref()
            .ok_or_else(|| MeasureError::NoWcs(file.clone()))?
            .world_to_pixel(obs.ra_deg, obs.dec_deg)
            .ok_or_else(|| MeasureError::CometOutside {
                file: file.clone(),
                message: "behind the tangent plane".into(),
            })?,
    };
    // Every other source is left out of the comet search, larger ones by their footprint, but
    // never up to the predicted position itself.
    let exclusions: Vec<Exclusion> = other_sources(
        &model.sources,
        predicted.0,
        predicted.1,
        3.0 * model.fwhm_px,
    )
    .into_iter()
    .map(|s| {
        let distance = (s.x - predicted.0).hypot(s.y - predicted.1);
        let footprint = (2.0 * model.fwhm_px).max(1.5 * (s.area_px as f64 / PI).sqrt());
        Exclusion {
            x_px: s.x,
            y_px: s.y,
            radius_px: footprint.min(distance - 2.0 * model.fwhm_px),
        }
    })
    .collect();
    let location = locate_comet(
        &frame.image_e,
        &model.background.level,
        &frame.mask,
        predicted,
        &exclusions,
        scale_arcsec,
        &config.locate,
    )
    .map_err(|e| MeasureError::CometOutside {
        file: file.clone(),
        message: e.to_string(),
    })?;
    let (ra_deg, dec_deg) = model
        .wcs
        .as_ref()
        .map(|w| w.pixel_to_world(location.x_px, location.y_px))
        .unwrap_or((obs.ra_deg, obs.dec_deg));
    let (zero_point, zero_point_stars) = match &config.zero_point {
        ZeroPointSource::Given { zp_mag, zp_err_mag } => (
            Some(ZeroPoint {
                zp_mag: *zp_mag,
                zp_err_mag: *zp_err_mag,
                method: ZeroPointMethod::Given,
                n_stars: 0,
                n_candidates: 0,
                colour_coefficient: None,
            }),
            Vec::new(),
        ),
        ZeroPointSource::Catalogue {
            stars,
            comet_colour,
        } => catalogue_zp(
            frame,
            &model,
            stars,
            *comet_colour,
            exptime_s,
            (
                location.x_px,
                location.y_px,
                config.annulus_outer_arcsec / scale_arcsec,
            ),
        ),
        ZeroPointSource::None => (
            frame
                .meta
                .zero_point_adu_mag
                .and_then(|zp| zero_point_from_header(zp, frame.gain_e_per_adu)),
            Vec::new(),
        ),
    };
    let mut frame_flags = 0;
    if location.large_offset {
        frame_flags |= comet_flag::LARGE_CENTROID_OFFSET;
    }
    if !references.is_empty() && model.refined.is_none() || model.wcs.is_none() {
        frame_flags |= comet_flag::WCS_UNREFINED;
    }
    let trail_px = obs.rate_arcsec_per_min * exptime_s / 60.0 / scale_arcsec;
    if trail_px > model.fwhm_px {
        frame_flags |= comet_flag::TRAILED;
    }
    let annulus = CircularAnnulus::new(
        location.x_px,
        location.y_px,
        config.annulus_inner_arcsec / scale_arcsec,
        config.annulus_outer_arcsec / scale_arcsec,
    )
    .map_err(|e| pixels_error(frame, e))?;
    let options = star_options(frame);
    // The sky annulus without the other sources (every source farther than 3 FWHM from the
    // comet, out to its wing radius and at least 3 FWHM or twice its footprint's radius):
    // their faint wings, below the clipping threshold, would otherwise raise the level
    // (~0.2 e⁻/px per 2 % of contaminated pixels, ~0.5σ over a 1000-px aperture). What is left
    // is sky (and the coma's faint outskirts), so the level subtracted is the clipped mean, as
    // for the calibration stars: the median would sit 0.14 e⁻/px low in a 30 s R frame
    // (150 e⁻ in a 4″ aperture, 5 % of a 20 mag comet) and calibrate the comet differently
    // from the stars.
    let sky = annulus_background_excluding(
        &frame.image_e,
        Some(&frame.mask),
        &annulus,
        &options.sigma_clip,
        &comet_annulus_exclusions(&model, &annulus, &location),
    )
    .map_err(|e| pixels_error(frame, e))?
    .at_mean();
    let saturated_core = frame.mask.has(
        location.x_px.round().max(0.0) as usize,
        location.y_px.round().max(0.0) as usize,
        crate::image::pixel_flag::SATURATED,
    );
    // The FWHM of source k, fitted on the detection's background-subtracted image when
    // detection left it unmeasured; kept for the other radii, as the fit does not depend on
    // the aperture (only on the image, mask, source, its isophotal σ and β).
    let fitted_fwhm: Vec<OnceCell<f64>> = vec![OnceCell::new(); model.sources.len()];
    let source_fwhm = |k: usize| match (model.sources.get(k), model.isophotal_sigma_px.get(k)) {
        (Some(s), _) if s.flags & source_flag::FWHM_NOT_MEASURED == 0 => s.fwhm_px,
        (Some(s), Some(&sigma_iso)) => *fitted_fwhm[k].get_or_init(|| {
            source_fwhm_px(
                &model.subtracted,
                Some(&frame.mask),
                s,
                sigma_iso,
                model.moffat_beta,
            )
        }),
        _ => f64::NAN,
    };
    let radius_arcsec_of = |radius: &ApertureRadius| match radius {
        ApertureRadius::Km(km) => km / (KM_PER_ARCSEC_AT_1AU * obs.delta_au),
        ApertureRadius::Arcsec(arcsec) => *arcsec,
    };
    let rows = config
        .radii
        .iter()
        .map(|radius| {
            let radius_arcsec = radius_arcsec_of(radius);
            let radius_px = radius_arcsec / scale_arcsec;
            let m = measure_radii(
                &frame.image_e,
                location.x_px,
                location.y_px,
                &[radius_px],
                Some(&sky),
                &options,
            )
            .map_err(|e| pixels_error(frame, e))?
            .remove(0);
            let mut flags = frame_flags | translate_flags(m.flags);
            if annulus.is_truncated(frame.image_e.width(), frame.image_e.height()) {
                flags |= comet_flag::EDGE;
            }
            if saturated_core {
                flags |= comet_flag::SATURATED;
            }
            // Detected point sources in the aperture (not the coma itself, nor fragments of its
            // footprint): star-like width and a signal above the measurement's error.
            let stars_inside = model
                .sources
                .iter()
                .enumerate()
                .filter(|(k, s)| {
                    let d = (s.x - location.x_px).hypot(s.y - location.y_px);
                    d > 0.0
                        && d > 2.0 * model.fwhm_px
                        && d < radius_px + model.fwhm_px
                        && s.flux > m.net_err
                        && source_fwhm(*k) < 1.5 * model.fwhm_px
                })
                .count();
            let (mag_inst, mag_inst_err) =
                instrumental_mag(m.net, m.net_err, exptime_s).unwrap_or((f64::NAN, f64::NAN));
            // Catalogue stars hidden in the coma (detection merges them with it): flagged when
            // the star's expected signal exceeds the measurement's error, i.e. when it would
            // bias the result by more than 1σ (any star, without a zero point).
            let catalogue_inside = model.wcs.as_ref().is_some_and(|wcs| {
                catalogue.iter().any(|star| {
                    let Some((sx, sy)) = wcs.world_to_pixel(star.ra_deg, star.dec_deg) else {
                        return false;
                    };
                    let inside =
                        (sx - location.x_px).hypot(sy - location.y_px) < radius_px + model.fwhm_px;
                    let star_e = zero_point.map_or(f64::INFINITY, |z| {
                        exptime_s * 10f64.powf(-0.4 * (star.mag - z.zp_mag))
                    });
                    inside && star_e > m.net_err
                })
            });
            if stars_inside > 0 || catalogue_inside {
                flags |= comet_flag::STAR_IN_APERTURE;
            }
            let snr = m.net / m.net_err;
            if snr.is_nan() || snr <= config.low_snr {
                flags |= comet_flag::LOW_SNR;
            }
            let (zp, zp_err, method, n_stars) = match &zero_point {
                Some(z) => (z.zp_mag, z.zp_err_mag, z.label(), z.n_stars),
                None => (f64::NAN, f64::NAN, "none", 0),
            };
            Ok(CometPhotometry {
                file: file.clone(),
                mjd_mid_utc: time.mjd(),
                filter: meta.filter.clone().unwrap_or_default(),
                exptime_s,
                airmass: meta.airmass.unwrap_or(f64::NAN),
                x: location.x_px,
                y: location.y_px,
                ra_deg,
                dec_deg,
                rh_au: obs.rh_au,
                delta_au: obs.delta_au,
                phase_deg: obs.phase_deg,
                radius_km: radius_arcsec * KM_PER_ARCSEC_AT_1AU * obs.delta_au,
                radius_arcsec,
                net_e: m.net,
                net_err_e: m.net_err,
                mag_inst,
                zp,
                zp_err,
                zp_method: method.to_string(),
                n_stars,
                mag: mag_inst + zp,
                mag_err: mag_inst_err.hypot(zp_err),
                flags,
            })
        })
        .collect::<Result<Vec<_>, MeasureError>>()?;
    let first_radius_arcsec = config.radii.first().map_or(f64::NAN, radius_arcsec_of);
    let growth_radii_px: Vec<f64> = GROWTH_RADIUS_FACTORS
        .iter()
        .map(|f| f * first_radius_arcsec / scale_arcsec)
        .collect();
    let growth = measure_radii(
        &frame.image_e,
        location.x_px,
        location.y_px,
        &growth_radii_px,
        Some(&sky),
        &options,
    )
    .map(|ms| {
        ms.iter()
            .zip(&growth_radii_px)
            .map(|(m, r_px)| GrowthSample {
                radius_arcsec: r_px * scale_arcsec,
                radius_km: r_px * scale_arcsec * KM_PER_ARCSEC_AT_1AU * obs.delta_au,
                net_e: m.net,
                net_err_e: m.net_err,
            })
            .collect()
    })
    .unwrap_or_default();
    let diagnostics = FrameDiagnostics {
        predicted_px: predicted,
        x_px: location.x_px,
        y_px: location.y_px,
        ra_deg,
        dec_deg,
        scale_arcsec_per_px: scale_arcsec,
        fwhm_px: model.fwhm_px,
        cd_deg_per_px: model.wcs.as_ref().map(|w| w.cd_deg_per_px),
        aperture_radii_px: config
            .radii
            .iter()
            .map(|r| radius_arcsec_of(r) / scale_arcsec)
            .collect(),
        annulus_px: (annulus.inner_px, annulus.outer_px),
        sun_pa_deg: (obs.sun_pa_deg + 180.0).rem_euclid(360.0),
        neg_velocity_pa_deg: obs.neg_vel_pa_deg,
        growth,
        zero_point,
        zero_point_stars,
    };
    Ok(FrameMeasurement { rows, diagnostics })
}

/// The circles `(x, y, radius px)` left out of the comet's sky annulus: every source farther
/// than 3 FWHM from the comet that reaches the annulus, out to the larger of its wing radius
/// ([`neighbour_wing_radii_px`]), 3 FWHM and twice its footprint's radius.
fn comet_annulus_exclusions(
    model: &FrameModel,
    annulus: &CircularAnnulus,
    location: &super::comet::CometLocation,
) -> Vec<(f64, f64, f64)> {
    let min_distance_px = 3.0 * model.fwhm_px;
    model
        .sources
        .iter()
        .zip(neighbour_wing_radii_px(model))
        .filter(|(s, _)| (s.x - location.x_px).hypot(s.y - location.y_px) > min_distance_px)
        .map(|(s, wing)| {
            let radius = wing
                .max(3.0 * model.fwhm_px)
                .max(2.0 * (s.area_px as f64 / PI).sqrt());
            (s.x, s.y, radius)
        })
        .filter(|&(x, y, radius)| {
            let reach = (x - annulus.x).hypot(y - annulus.y);
            reach <= annulus.outer_px + radius && reach + radius >= annulus.inner_px
        })
        .collect()
}

/// Aperture flags that matter for the comet, as comet flags.
fn translate_flags(aperture: u32) -> u32 {
    let pairs = [
        (aperture_flag::SATURATED, comet_flag::SATURATED),
        (aperture_flag::APERTURE_TRUNCATED, comet_flag::EDGE),
        (aperture_flag::ANNULUS_TRUNCATED, comet_flag::EDGE),
        (aperture_flag::MASKED_PIXELS, comet_flag::MASKED_PIXELS),
        (
            aperture_flag::BACKGROUND_NOT_CONVERGED,
            comet_flag::BACKGROUND_NOT_CONVERGED,
        ),
        (
            aperture_flag::FEW_BACKGROUND_PIXELS,
            comet_flag::FEW_BACKGROUND_PIXELS,
        ),
    ];
    pairs
        .iter()
        .filter(|(a, _)| aperture & a != 0)
        .fold(0, |acc, (_, c)| acc | c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moffat_light_beyond_four_fwhm() {
        // β = 3: E(r) = 1 − (1 + r²/α²)^(−2), α = FWHM / (2 √(2^(1/3) − 1)) = 0.9808 FWHM.
        let fraction = moffat_enclosed_fraction(4.0 * 4.68, 4.68, 3.0).unwrap();
        assert!((fraction - 0.99679).abs() < 1e-5, "{fraction}");
        // Half the light... at the FWHM's radius the profile is at half its peak.
        let r = moffat_radius_at_level(2.0, 1.0, 4.68, 3.0);
        assert!((r - 2.34).abs() < 1e-9, "{r}");
        assert_eq!(moffat_radius_at_level(1.0, 2.0, 4.68, 3.0), 0.0);
        assert!(moffat_enclosed_fraction(10.0, 4.68, 1.0).is_none());
    }

    #[test]
    fn growth_ratio_weights_the_stars_and_rejects_a_crowded_one() {
        let pair = |small_e: f64, ratio: f64, err_e: f64| GrowthPair {
            small_e,
            small_err_e: err_e,
            large_e: small_e * ratio,
            large_err_e: 2.0 * err_e,
        };
        // Two precise stars at 1.04, a noisy one at 1.10 (weight ~1/400 of theirs), and one
        // whose large aperture holds a neighbour (1.50, far beyond its error).
        let growth = [
            pair(100_000.0, 1.04, 300.0),
            pair(100_000.0, 1.04, 300.0),
            pair(5_000.0, 1.10, 200.0),
            pair(100_000.0, 1.50, 300.0),
        ];
        let (ratio, err) = growth_ratio(&growth).unwrap();
        assert!((ratio - 1.04).abs() < 1e-3, "{ratio}");
        assert!(err > 0.0 && err < 0.01, "{err}");
        assert!(growth_ratio(&growth[..2]).is_none());
    }
}
