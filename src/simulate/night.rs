//! A night: schedule, catalogue, per-frame scenes, FITS headers and truth tables.

use std::f64::consts::PI;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, Normal};
use rand_pcg::Pcg64;
use rayon::prelude::*;

use super::detector::{is_data_pixel, Readout, BIASSEC, DATA_COLUMNS, DATA_ROWS};
use super::model::{
    airmass_from_altitude, altitude_deg, derive_seed, electrons_from_mag, sky_electrons_per_px,
    BiasPattern, Coma, FlatPattern, Lobe, Moffat, SaddleIllumination, NOT_EAST_LONGITUDE_DEG,
    NOT_LATITUDE_DEG, NOT_OBSGEO_M, PSF_TRUNCATION_FRACTION,
};
use super::render::{
    cosmic_rays, digitise, expected_electrons, CometScene, Electronics, PointSource, Scene,
};
use super::{
    CatalogueStar, ComaFeature, CometPosition, CometTruth, CosmicRayTruth, FrameKind, FrameTruth,
    NightConfig, SimulateError, SimulatedNight, StandardTruth, StandardsConfig, StarTruth,
};
use crate::ephem::time::UtcInstant;
use crate::frame::header::{Header, HeaderValue};
use crate::frame::write::{write_image_fits, HduLayout};
use crate::wcs::TanWcs;

/// Random sub-streams of the night seed.
const STREAM_CATALOGUE: u64 = 1;
const STREAM_FLAT: u64 = 2;
const STREAM_BIAS: u64 = 3;
const STREAM_FRAME: u64 = 4;
const STREAM_STANDARDS: u64 = 5;
/// Attempts at placing each standard star before the field is declared too small.
const STANDARD_PLACEMENT_ATTEMPTS: usize = 10_000;
/// Lowest altitude at which an exposure is simulated (deg).
const MIN_ALTITUDE_DEG: f64 = 5.0;
/// Margin added around the field when drawing catalogue stars (arcsec).
const CATALOGUE_MARGIN_ARCSEC: f64 = 30.0;
/// Slope of the star counts, d log10 N / dm.
const STAR_COUNT_SLOPE_PER_MAG: f64 = 0.3;
/// Most catalogue stars a night may have.
const MAX_CATALOGUE_STARS: f64 = 200_000.0;

/// One planned exposure.
#[derive(Debug, Clone)]
struct Plan {
    kind: FrameKind,
    /// Index within its sequence (biases, flats or science frames).
    index: usize,
    start: UtcInstant,
    exptime_s: f64,
    sequence_number: u32,
    file: String,
    seed: u64,
}

/// Night-level state shared by all frames.
struct Night<'a> {
    config: &'a NightConfig,
    readout: Readout,
    psf: Moffat,
    flat: Vec<f64>,
    /// Response × twilight illumination seen by the sky flats, when it differs from `flat`
    /// (`flat_illumination_saddle` ≠ 0).
    flat_frames: Option<Vec<f64>>,
    bias: BiasPattern,
    catalogue: Vec<CatalogueStar>,
    /// The standard-star field (true magnitudes) and the magnitudes its catalogue gives.
    standards: Vec<CatalogueStar>,
    standard_catalogue_mags: Vec<f64>,
    /// Comet position (RA, Dec, deg) at the reference time (MJD UTC).
    comet_reference: Option<(f64, f64, f64)>,
}

/// Everything one frame produced.
struct FrameOutput {
    path: PathBuf,
    truth: FrameTruth,
    stars: Vec<StarTruth>,
    cosmic_rays: Vec<CosmicRayTruth>,
}

/// Simulates a night into `out_dir`; see the module documentation of
/// [`crate::simulate`].
pub fn simulate_night(
    config: &NightConfig,
    out_dir: &Path,
) -> Result<SimulatedNight, SimulateError> {
    validate(config)?;
    let readout = Readout::new(&config.detector_window, config.binning_x, config.binning_y)
        .map_err(|message| SimulateError::InvalidConfig {
            field: "detector_window",
            message,
        })?;
    let plans = plan_frames(config)?;
    std::fs::create_dir_all(out_dir).map_err(|source| SimulateError::Io {
        path: out_dir.display().to_string(),
        source,
    })?;

    let scale = config.pixel_scale_arcsec_per_px;
    let psf = Moffat::from_fwhm(config.seeing_fwhm_arcsec / scale, config.moffat_beta);
    let flat_pattern = night_flat_pattern(config);
    let flat = flat_response(&readout, &flat_pattern);
    let flat_frames = (config.flat_illumination_saddle != 0.0).then(|| {
        let illumination = flat_illumination(config, &readout);
        let cols = readout.used_columns();
        flat.iter()
            .enumerate()
            .map(|(k, f)| {
                let (x, y) = (cols.start + k % cols.len(), readout.y0 + k / cols.len());
                f * illumination.factor(x, y)
            })
            .collect()
    });
    let bias = night_bias_pattern(config);
    let catalogue = make_catalogue(config, &readout, &psf);
    let comet_reference = comet_reference(config, &readout, &plans);
    let (standards, standard_catalogue_mags) = match &config.standards {
        Some(s) => make_standards(config, s, &readout)?,
        None => (Vec::new(), Vec::new()),
    };
    let night = Night {
        config,
        readout,
        psf,
        flat,
        flat_frames,
        bias,
        catalogue,
        standards,
        standard_catalogue_mags,
        comet_reference,
    };

    let outputs: Vec<FrameOutput> = plans
        .par_iter()
        .map(|plan| simulate_frame(&night, plan, out_dir))
        .collect::<Result<_, _>>()?;

    let mut result = SimulatedNight {
        out_dir: out_dir.to_path_buf(),
        fits_files: Vec::with_capacity(outputs.len()),
        frames: Vec::with_capacity(outputs.len()),
        stars: Vec::new(),
        cosmic_rays: Vec::new(),
        catalogue: night.catalogue.clone(),
        catalogue_csv: out_dir.join("catalogue.csv"),
        truth_frames_csv: out_dir.join("truth_frames.csv"),
        truth_stars_csv: out_dir.join("truth_stars.csv"),
        truth_cosmic_rays_csv: out_dir.join("truth_cosmic_rays.csv"),
        config_toml: out_dir.join("simulation.toml"),
        standards: night.standards.clone(),
        standard_truth: Vec::new(),
        standards_csv: None,
        truth_standards_csv: None,
    };
    for out in outputs {
        if out.truth.frame_type == FrameKind::Standard {
            result
                .standard_truth
                .extend(standard_truth(&night, &out.truth, &out.stars));
        }
        result.fits_files.push(out.path);
        result.frames.push(out.truth);
        result.stars.extend(out.stars);
        result.cosmic_rays.extend(out.cosmic_rays);
    }
    if config.standards.is_some() {
        let catalogue = out_dir.join("standards.csv");
        let truth = out_dir.join("truth_standards.csv");
        write_text(&catalogue, &standards_csv(&night))?;
        write_text(&truth, &standard_truth_csv(&result.standard_truth))?;
        result.standards_csv = Some(catalogue);
        result.truth_standards_csv = Some(truth);
    }
    write_text(&result.catalogue_csv, &catalogue_csv(&result.catalogue))?;
    write_text(&result.truth_frames_csv, &frames_csv(&result.frames))?;
    write_text(&result.truth_stars_csv, &stars_csv(&result.stars))?;
    write_text(
        &result.truth_cosmic_rays_csv,
        &cosmic_csv(&result.cosmic_rays),
    )?;
    let toml_text = toml::to_string(config).map_err(|e| SimulateError::Toml(e.to_string()))?;
    write_text(&result.config_toml, &toml_text)?;
    Ok(result)
}

/// The flat-field response of the night (the truth a master flat should recover, up to
/// normalisation): `FlatPattern::response(x_det, y_det)` for unbinned detector pixels.
pub fn night_flat_pattern(config: &NightConfig) -> FlatPattern {
    FlatPattern {
        seed: derive_seed(config.seed, STREAM_FLAT, 0),
        vignetting_fraction: config.flat_vignetting_fraction,
        pixel_rms: config.flat_pixel_rms,
        centre_px: [
            0.5 * (DATA_COLUMNS.start + DATA_COLUMNS.end - 1) as f64,
            0.5 * (DATA_ROWS.start + DATA_ROWS.end - 1) as f64,
        ],
        corner_radius_px: 0.5 * (DATA_COLUMNS.len() as f64).hypot(DATA_ROWS.len() as f64),
    }
}

/// The twilight illumination of the sky flats (`flat_illumination_saddle`): a saddle over
/// the light-sensitive part of the readout window (the whole window when it has none).
fn flat_illumination(config: &NightConfig, readout: &Readout) -> SaddleIllumination {
    let (cols, rows) = (readout.used_columns(), readout.used_rows());
    let clip = |r: &std::ops::Range<usize>, d: &std::ops::Range<usize>| {
        let (a, b) = (r.start.max(d.start), r.end.min(d.end));
        if a < b {
            (a, b)
        } else {
            (r.start, r.end)
        }
    };
    let (x0, x1) = clip(&cols, &DATA_COLUMNS);
    let (y0, y1) = clip(&rows, &DATA_ROWS);
    SaddleIllumination {
        amplitude: config.flat_illumination_saddle,
        centre_px: [0.5 * (x0 + x1 - 1) as f64, 0.5 * (y0 + y1 - 1) as f64],
        half_size_px: [0.5 * (x1 - x0) as f64, 0.5 * (y1 - y0) as f64],
    }
}

/// The bias pattern of the night (each frame adds its `bias_frame_offset_adu`).
pub fn night_bias_pattern(config: &NightConfig) -> BiasPattern {
    BiasPattern {
        seed: derive_seed(config.seed, STREAM_BIAS, 0),
        level_adu: config.bias_level_adu,
        row_amplitude_adu: config.bias_row_amplitude_adu,
    }
}

// ---------------------------------------------------------------------------------------
// Validation and schedule
// ---------------------------------------------------------------------------------------

fn check(ok: bool, field: &'static str, message: &str) -> Result<(), SimulateError> {
    if ok {
        Ok(())
    } else {
        Err(SimulateError::InvalidConfig {
            field,
            message: message.to_string(),
        })
    }
}

fn validate(c: &NightConfig) -> Result<(), SimulateError> {
    let finite_positive = |v: f64| v.is_finite() && v > 0.0;
    let finite_non_negative = |v: f64| v.is_finite() && v >= 0.0;
    check(
        c.seed <= i64::MAX as u64,
        "seed",
        "must be below 2^63 (TOML integers are signed 64-bit)",
    )?;
    check(
        finite_non_negative(c.overhead_s),
        "overhead_s",
        "must be >= 0",
    )?;
    check(
        finite_positive(c.flat_exptime_s),
        "flat_exptime_s",
        "must be > 0",
    )?;
    check(
        finite_positive(c.science_exptime_s),
        "science_exptime_s",
        "must be > 0",
    )?;
    check(
        !c.file_prefix.is_empty() && c.file_prefix.chars().all(|ch| ch.is_ascii_alphanumeric()),
        "file_prefix",
        "must be non-empty letters and digits",
    )?;
    check(
        c.pointing_ra_deg.is_finite(),
        "pointing_ra_deg",
        "must be a finite angle",
    )?;
    check(
        (-90.0..=90.0).contains(&c.pointing_dec_deg),
        "pointing_dec_deg",
        "must be within [-90, 90]",
    )?;
    check(
        finite_non_negative(c.pointing_error_arcsec),
        "pointing_error_arcsec",
        "must be >= 0",
    )?;
    check(c.rotation_deg.is_finite(), "rotation_deg", "must be finite")?;
    check(
        finite_non_negative(c.flat_dither_arcsec),
        "flat_dither_arcsec",
        "must be >= 0",
    )?;
    check(
        finite_positive(c.pixel_scale_arcsec_per_px),
        "pixel_scale_arcsec_per_px",
        "must be > 0",
    )?;
    check(
        finite_positive(c.gain_e_per_adu),
        "gain_e_per_adu",
        "must be > 0",
    )?;
    check(
        finite_non_negative(c.read_noise_e),
        "read_noise_e",
        "must be >= 0",
    )?;
    check(
        finite_non_negative(c.bias_level_adu),
        "bias_level_adu",
        "must be >= 0",
    )?;
    check(
        finite_non_negative(c.bias_row_amplitude_adu),
        "bias_row_amplitude_adu",
        "must be >= 0",
    )?;
    check(
        finite_non_negative(c.bias_frame_offset_rms_adu),
        "bias_frame_offset_rms_adu",
        "must be >= 0",
    )?;
    check(
        finite_positive(c.saturation_adu),
        "saturation_adu",
        "must be > 0",
    )?;
    check(
        (0.0..1.0).contains(&c.flat_vignetting_fraction),
        "flat_vignetting_fraction",
        "must be within [0, 1)",
    )?;
    check(
        (0.0..0.5).contains(&c.flat_pixel_rms),
        "flat_pixel_rms",
        "must be within [0, 0.5)",
    )?;
    check(
        finite_positive(c.flat_level_adu),
        "flat_level_adu",
        "must be > 0",
    )?;
    check(
        (0.0..1.0).contains(&c.flat_level_decline_fraction),
        "flat_level_decline_fraction",
        "must be within [0, 1)",
    )?;
    check(
        c.flat_illumination_saddle.is_finite() && c.flat_illumination_saddle.abs() < 0.5,
        "flat_illumination_saddle",
        "must be within (-0.5, 0.5)",
    )?;
    check(
        finite_non_negative(c.cosmic_ray_min_e)
            && c.cosmic_ray_max_e.is_finite()
            && c.cosmic_ray_max_e >= c.cosmic_ray_min_e,
        "cosmic_ray_min_e",
        "need 0 <= cosmic_ray_min_e <= cosmic_ray_max_e",
    )?;
    check(
        c.zero_point_mag.is_finite(),
        "zero_point_mag",
        "must be finite",
    )?;
    check(
        finite_non_negative(c.extinction_mag_per_airmass),
        "extinction_mag_per_airmass",
        "must be >= 0",
    )?;
    check(
        c.sky_mag_per_arcsec2.is_finite(),
        "sky_mag_per_arcsec2",
        "must be finite",
    )?;
    check(
        finite_positive(c.seeing_fwhm_arcsec),
        "seeing_fwhm_arcsec",
        "must be > 0",
    )?;
    check(
        c.moffat_beta.is_finite() && c.moffat_beta > 1.0,
        "moffat_beta",
        "must be > 1 (the Moffat profile has infinite flux otherwise)",
    )?;
    check(
        finite_non_negative(c.star_density_per_arcmin2),
        "star_density_per_arcmin2",
        "must be >= 0",
    )?;
    check(
        c.star_mag_min.is_finite()
            && c.star_mag_max.is_finite()
            && c.star_mag_min <= c.star_mag_max,
        "star_mag_min",
        "need star_mag_min <= star_mag_max",
    )?;
    if let Some(standards) = &c.standards {
        validate_standards(standards)?;
    }
    let comet = &c.comet;
    if comet.enabled {
        let position_ok = match comet.position {
            CometPosition::Sky { ra_deg, dec_deg } => {
                ra_deg.is_finite() && (-90.0..=90.0).contains(&dec_deg)
            }
            CometPosition::Pixel { x_px, y_px } => x_px.is_finite() && y_px.is_finite(),
            CometPosition::Offset {
                east_arcsec,
                north_arcsec,
            } => east_arcsec.abs() < 3600.0 && north_arcsec.abs() < 3600.0,
        };
        check(
            position_ok,
            "comet.position",
            "must be finite (offsets below 1 deg)",
        )?;
        check(
            comet.rate_ra_arcsec_per_hour.is_finite() && comet.rate_dec_arcsec_per_hour.is_finite(),
            "comet.rate_ra_arcsec_per_hour",
            "rates must be finite",
        )?;
        check(
            comet.coma_mag.is_finite(),
            "comet.coma_mag",
            "must be finite",
        )?;
        check(
            finite_positive(comet.coma_aperture_radius_arcsec),
            "comet.coma_aperture_radius_arcsec",
            "must be > 0",
        )?;
        check(
            comet.coma_outer_radius_arcsec.is_finite()
                && comet.coma_outer_radius_arcsec >= comet.coma_aperture_radius_arcsec,
            "comet.coma_outer_radius_arcsec",
            "must be at least comet.coma_aperture_radius_arcsec",
        )?;
        check(
            comet.nucleus_mag.is_none_or(f64::is_finite),
            "comet.nucleus_mag",
            "must be finite",
        )?;
        check(
            (0.0..=1.0).contains(&comet.feature_fraction),
            "comet.feature_fraction",
            "must be within [0, 1]",
        )?;
        check(
            comet.feature_width_deg > 0.0 && comet.feature_width_deg < 360.0,
            "comet.feature_width_deg",
            "must be within (0, 360)",
        )?;
        check(
            comet.antisolar_position_angle_deg.is_finite(),
            "comet.antisolar_position_angle_deg",
            "must be finite",
        )?;
    }
    Ok(())
}

fn validate_standards(s: &StandardsConfig) -> Result<(), SimulateError> {
    check(
        s.ra_deg.is_finite() && (-90.0..=90.0).contains(&s.dec_deg),
        "standards.ra_deg",
        "the standard field needs a finite RA and a Dec within [-90, 90]",
    )?;
    check(
        !s.start_utc.is_empty(),
        "standards.start_utc",
        "give the start time of at least one standard-star frame",
    )?;
    check(
        s.exptime_s.is_finite() && s.exptime_s > 0.0,
        "standards.exptime_s",
        "must be > 0",
    )?;
    check(s.n_stars >= 1, "standards.n_stars", "must be at least 1")?;
    check(
        s.mag_min.is_finite() && s.mag_max.is_finite() && s.mag_min <= s.mag_max,
        "standards.mag_min",
        "need standards.mag_min <= standards.mag_max",
    )?;
    check(
        s.edge_margin_arcsec.is_finite()
            && s.edge_margin_arcsec >= 0.0
            && s.min_separation_arcsec.is_finite()
            && s.min_separation_arcsec >= 0.0,
        "standards.edge_margin_arcsec",
        "margins and separations must be >= 0",
    )?;
    check(
        s.catalogue_error_mag.is_finite() && s.catalogue_error_mag >= 0.0,
        "standards.catalogue_error_mag",
        "must be >= 0",
    )
}

fn parse_time(text: &str, field: &'static str) -> Result<UtcInstant, SimulateError> {
    UtcInstant::parse_iso(text).map_err(|e| SimulateError::InvalidConfig {
        field,
        message: e.to_string(),
    })
}

/// Instant rounded to the millisecond, as written in DATE-OBS.
fn to_ms(t: UtcInstant) -> UtcInstant {
    UtcInstant::parse_iso(&t.to_string()).unwrap_or(t)
}

/// NOT-style file name: prefix, year letter (`A` = 2017), month letter (`a` = January),
/// day of month (2 digits), sequence number (4 digits).
pub(crate) fn file_name(prefix: &str, date: &UtcInstant, sequence_number: u32) -> String {
    let (year, month, day, ..) = date.calendar();
    let year_letter = (b'A' + (year - 2017).rem_euclid(26) as u8) as char;
    let month_letter = (b'a' + (month - 1).clamp(0, 11) as u8) as char;
    format!("{prefix}{year_letter}{month_letter}{day:02}{sequence_number:04}.fits")
}

fn plan_frames(c: &NightConfig) -> Result<Vec<Plan>, SimulateError> {
    let sequences = [
        (
            FrameKind::Bias,
            c.n_bias,
            parse_time(&c.bias_start_utc, "bias_start_utc")?,
            0.0,
        ),
        (
            FrameKind::Flat,
            c.n_flat,
            parse_time(&c.flat_start_utc, "flat_start_utc")?,
            c.flat_exptime_s,
        ),
        (
            FrameKind::Science,
            c.n_science,
            parse_time(&c.science_start_utc, "science_start_utc")?,
            c.science_exptime_s,
        ),
    ];
    let mut plans = Vec::new();
    if let Some(standards) = &c.standards {
        for (index, text) in standards.start_utc.iter().enumerate() {
            plans.push(Plan {
                kind: FrameKind::Standard,
                index,
                start: to_ms(parse_time(text, "standards.start_utc")?),
                exptime_s: standards.exptime_s,
                sequence_number: 0,
                file: String::new(),
                seed: 0,
            });
        }
    }
    for (kind, n, start, exptime_s) in sequences {
        let mut t = to_ms(start);
        for index in 0..n {
            plans.push(Plan {
                kind,
                index,
                start: t,
                exptime_s,
                sequence_number: 0,
                file: String::new(),
                seed: 0,
            });
            t = to_ms(t.plus_seconds(exptime_s + c.overhead_s));
        }
    }
    plans.sort_by(|a, b| {
        a.start
            .partial_cmp(&b.start)
            .unwrap_or(std::cmp::Ordering::Equal)
            .then(a.kind.cmp(&b.kind))
    });
    for pair in plans.windows(2) {
        let end = pair[0].start.plus_seconds(pair[0].exptime_s);
        check(
            end <= pair[1].start,
            "bias_start_utc",
            &format!(
                "the {} sequence (frame {} starting {}) overlaps the {} sequence (frame starting {}); \
                 move bias_start_utc, flat_start_utc, science_start_utc or standards.start_utc \
                 apart",
                pair[0].kind,
                pair[0].index + 1,
                pair[0].start,
                pair[1].kind,
                pair[1].start
            ),
        )?;
    }
    let last = c.first_sequence_number as u64 + plans.len() as u64;
    check(
        last <= 10_000,
        "first_sequence_number",
        "sequence numbers must stay below 10000 (4 digits in the file name)",
    )?;
    let date = plans.first().map(|p| p.start);
    for (i, plan) in plans.iter_mut().enumerate() {
        plan.sequence_number = c.first_sequence_number + i as u32;
        plan.seed = derive_seed(c.seed, STREAM_FRAME, plan.sequence_number as u64);
        if let Some(date) = &date {
            plan.file = file_name(&c.file_prefix, date, plan.sequence_number);
        }
    }
    Ok(plans)
}

// ---------------------------------------------------------------------------------------
// Night-level content
// ---------------------------------------------------------------------------------------

/// Sky position offset by `east_arcsec`, `north_arcsec` in the tangent plane at (ra, dec).
fn offset_position(ra_deg: f64, dec_deg: f64, east_arcsec: f64, north_arcsec: f64) -> (f64, f64) {
    let s = 1.0 / 3600.0;
    TanWcs {
        crpix_px: [0.0, 0.0],
        crval_deg: [ra_deg, dec_deg],
        cd_deg_per_px: [[s, 0.0], [0.0, s]],
    }
    .pixel_to_world(east_arcsec, north_arcsec)
}

/// The true detector WCS (unbinned px) when the optical centre of the window points at
/// (ra, dec).
fn detector_wcs(c: &NightConfig, readout: &Readout, ra_deg: f64, dec_deg: f64) -> TanWcs {
    TanWcs::north_up(
        readout.optical_centre(),
        [ra_deg, dec_deg],
        c.pixel_scale_arcsec_per_px,
        c.rotation_deg,
    )
}

/// Flat-field response of every unbinned pixel of the used window (0 off the data area).
fn flat_response(readout: &Readout, pattern: &FlatPattern) -> Vec<f64> {
    let cols = readout.used_columns();
    let rows = readout.used_rows();
    let mut out = Vec::with_capacity(cols.len() * rows.len());
    for y in rows {
        for x in cols.clone() {
            out.push(if is_data_pixel(x, y) {
                pattern.response(x, y)
            } else {
                0.0
            });
        }
    }
    out
}

/// Stars uniform on the sky within a circle around the pointing that covers the window,
/// the PSF wings and the flat dithers; magnitudes with `dN/dm ∝ 10^(0.3 m)` in
/// [star_mag_min, star_mag_max] (inverse-CDF sampling).
fn make_catalogue(c: &NightConfig, readout: &Readout, psf: &Moffat) -> Vec<CatalogueStar> {
    let scale = c.pixel_scale_arcsec_per_px;
    let width_arcsec = readout.used_columns().len() as f64 * scale;
    let height_arcsec = readout.used_rows().len() as f64 * scale;
    let radius_arcsec = 0.5 * width_arcsec.hypot(height_arcsec)
        + psf.radius_enclosing(1.0 - PSF_TRUNCATION_FRACTION) * scale
        + c.flat_dither_arcsec * 2f64.sqrt()
        + CATALOGUE_MARGIN_ARCSEC;
    let area_arcmin2 = PI * radius_arcsec * radius_arcsec / 3600.0;
    let n = (c.star_density_per_arcmin2 * area_arcmin2)
        .round()
        .min(MAX_CATALOGUE_STARS) as usize;
    let mut rng = Pcg64::seed_from_u64(derive_seed(c.seed, STREAM_CATALOGUE, 0));
    let a = STAR_COUNT_SLOPE_PER_MAG;
    let (lo, hi) = (
        10f64.powf(a * c.star_mag_min),
        10f64.powf(a * c.star_mag_max),
    );
    (1..=n)
        .map(|id| {
            let rho = radius_arcsec * rng.random::<f64>().sqrt();
            let phi = 2.0 * PI * rng.random::<f64>();
            let (ra_deg, dec_deg) = offset_position(
                c.pointing_ra_deg,
                c.pointing_dec_deg,
                rho * phi.sin(),
                rho * phi.cos(),
            );
            let u: f64 = rng.random();
            let mag = (lo + u * (hi - lo)).log10() / a;
            CatalogueStar {
                id,
                ra_deg,
                dec_deg,
                mag,
            }
        })
        .collect()
}

/// The standard-star field: `n_stars` positions drawn uniformly in the light-sensitive part
/// of the window, `edge_margin_arcsec` inside its edges and `min_separation_arcsec` apart
/// (rejection sampling), put on the sky with the true WCS of a frame pointed at the field;
/// magnitudes uniform in [mag_min, mag_max]. Also the catalogue's magnitudes (with the
/// Gaussian `catalogue_error_mag`).
fn make_standards(
    c: &NightConfig,
    s: &StandardsConfig,
    readout: &Readout,
) -> Result<(Vec<CatalogueStar>, Vec<f64>), SimulateError> {
    let scale = c.pixel_scale_arcsec_per_px;
    let margin_px = s.edge_margin_arcsec / scale;
    let separation_px = s.min_separation_arcsec / scale;
    // The light-sensitive pixels of the window, shrunk by the margin.
    let inside = |used: std::ops::Range<usize>, data: std::ops::Range<usize>| {
        (
            used.start.max(data.start) as f64 + margin_px,
            used.end.min(data.end) as f64 - 1.0 - margin_px,
        )
    };
    let x_range = inside(readout.used_columns(), DATA_COLUMNS);
    let y_range = inside(readout.used_rows(), DATA_ROWS);
    let too_small = || SimulateError::InvalidConfig {
        field: "standards.n_stars",
        message: format!(
            "{} standard stars {} arcsec apart do not fit {} arcsec inside the window {}",
            s.n_stars, s.min_separation_arcsec, s.edge_margin_arcsec, c.detector_window
        ),
    };
    if x_range.1 <= x_range.0 || y_range.1 <= y_range.0 {
        return Err(too_small());
    }
    let wcs = detector_wcs(c, readout, s.ra_deg, s.dec_deg);
    let mut rng = Pcg64::seed_from_u64(derive_seed(c.seed, STREAM_STANDARDS, 0));
    let mut placed: Vec<(f64, f64)> = Vec::with_capacity(s.n_stars);
    while placed.len() < s.n_stars {
        let position = (0..STANDARD_PLACEMENT_ATTEMPTS)
            .map(|_| {
                (
                    rng.random_range(x_range.0..=x_range.1),
                    rng.random_range(y_range.0..=y_range.1),
                )
            })
            .find(|(x, y)| {
                placed
                    .iter()
                    .all(|(px, py)| (x - px).hypot(y - py) >= separation_px)
            })
            .ok_or_else(too_small)?;
        placed.push(position);
    }
    let error = Normal::new(0.0, s.catalogue_error_mag).ok();
    let mut stars = Vec::with_capacity(s.n_stars);
    let mut catalogue_mags = Vec::with_capacity(s.n_stars);
    for (i, (x, y)) in placed.into_iter().enumerate() {
        let (ra_deg, dec_deg) = wcs.pixel_to_world(x, y);
        let mag = rng.random_range(s.mag_min..=s.mag_max);
        let noise = match &error {
            Some(n) if s.catalogue_error_mag > 0.0 => n.sample(&mut rng),
            _ => 0.0,
        };
        stars.push(CatalogueStar {
            id: i + 1,
            ra_deg,
            dec_deg,
            mag,
        });
        catalogue_mags.push(mag + noise);
    }
    Ok((stars, catalogue_mags))
}

/// Mid-exposure instant.
fn mid_exposure(plan: &Plan) -> UtcInstant {
    plan.start.plus_seconds(0.5 * plan.exptime_s)
}

/// The comet's sky position at the mid-exposure of the first science frame.
fn comet_reference(c: &NightConfig, readout: &Readout, plans: &[Plan]) -> Option<(f64, f64, f64)> {
    if !c.comet.enabled {
        return None;
    }
    let first = plans.iter().find(|p| p.kind == FrameKind::Science)?;
    let t_ref = to_ms(mid_exposure(first)).mjd();
    let (ra, dec) = match c.comet.position {
        CometPosition::Sky { ra_deg, dec_deg } => (ra_deg, dec_deg),
        CometPosition::Offset {
            east_arcsec,
            north_arcsec,
        } => offset_position(
            c.pointing_ra_deg,
            c.pointing_dec_deg,
            east_arcsec,
            north_arcsec,
        ),
        CometPosition::Pixel { x_px, y_px } => {
            let (xd, yd) = readout.image_to_detector(x_px, y_px);
            detector_wcs(c, readout, c.pointing_ra_deg, c.pointing_dec_deg).pixel_to_world(xd, yd)
        }
    };
    Some((ra, dec, t_ref))
}

// ---------------------------------------------------------------------------------------
// One frame
// ---------------------------------------------------------------------------------------

fn simulate_frame(
    night: &Night,
    plan: &Plan,
    out_dir: &Path,
) -> Result<FrameOutput, SimulateError> {
    let c = night.config;
    let r = &night.readout;
    let scale = c.pixel_scale_arcsec_per_px;
    let mut rng = Pcg64::seed_from_u64(plan.seed);

    // Pointing: sky flats are dithered; the header WCS is off by the pointing error; standard
    // frames point at their field.
    let (mut ra, mut dec) = match (&c.standards, plan.kind) {
        (Some(s), FrameKind::Standard) => (s.ra_deg, s.dec_deg),
        _ => (c.pointing_ra_deg, c.pointing_dec_deg),
    };
    if plan.kind == FrameKind::Flat && c.flat_dither_arcsec > 0.0 {
        let d = c.flat_dither_arcsec;
        let (east, north) = (rng.random_range(-d..=d), rng.random_range(-d..=d));
        (ra, dec) = offset_position(ra, dec, east, north);
    }
    let direction = 2.0 * PI * rng.random::<f64>();
    let error_east = c.pointing_error_arcsec * direction.sin();
    let error_north = c.pointing_error_arcsec * direction.cos();
    let bias_offset = match Normal::new(0.0, c.bias_frame_offset_rms_adu) {
        Ok(n) if c.bias_frame_offset_rms_adu > 0.0 => n.sample(&mut rng),
        _ => 0.0,
    };
    let true_wcs = detector_wcs(c, r, ra, dec);
    let header_crval = offset_position(ra, dec, error_east, error_north);
    let header_wcs = r.image_wcs(&TanWcs {
        crval_deg: [header_crval.0, header_crval.1],
        ..true_wcs.clone()
    });

    // Time and airmass.
    let mid = mid_exposure(plan);
    let site_altitude =
        |t: &UtcInstant| altitude_deg(ra, dec, t.jd(), NOT_LATITUDE_DEG, NOT_EAST_LONGITUDE_DEG);
    let (alt_start, alt_mid) = (site_altitude(&plan.start), site_altitude(&mid));
    if plan.exptime_s > 0.0 && alt_mid < MIN_ALTITUDE_DEG {
        return Err(SimulateError::BelowHorizon {
            file: plan.file.clone(),
            time_utc: mid.to_string(),
            altitude_deg: alt_mid,
        });
    }
    let airmass_start = (alt_start > 0.0).then(|| airmass_from_altitude(alt_start));
    let airmass_mid = (alt_mid > 0.0).then(|| airmass_from_altitude(alt_mid));
    let airmass = airmass_mid.unwrap_or(1.0);
    let t = plan.exptime_s;

    // Light.
    let bins = (r.binning_x * r.binning_y) as f64;
    let sky_e_per_px = match plan.kind {
        FrameKind::Bias => 0.0,
        FrameKind::Science | FrameKind::Standard => {
            sky_electrons_per_px(c.sky_mag_per_arcsec2, c.zero_point_mag, scale, t)
        }
        FrameKind::Flat => {
            let ramp = if c.n_flat > 1 {
                plan.index as f64 / (c.n_flat - 1) as f64
            } else {
                0.0
            };
            c.flat_level_adu * (1.0 - c.flat_level_decline_fraction * ramp) * c.gain_e_per_adu
                / bins
        }
    };
    let psf_radius = night.psf.radius_enclosing(1.0 - PSF_TRUNCATION_FRACTION);
    let (cols, rows) = (r.used_columns(), r.used_rows());
    let mut star_ids = Vec::new();
    let mut stars = Vec::new();
    let field = match plan.kind {
        FrameKind::Bias => &[][..],
        FrameKind::Standard => &night.standards[..],
        FrameKind::Flat | FrameKind::Science => &night.catalogue[..],
    };
    for s in field {
        let Some((x, y)) = true_wcs.world_to_pixel(s.ra_deg, s.dec_deg) else {
            continue;
        };
        let touches = x + psf_radius >= cols.start as f64 - 0.5
            && x - psf_radius <= cols.end as f64 - 0.5
            && y + psf_radius >= rows.start as f64 - 0.5
            && y - psf_radius <= rows.end as f64 - 0.5;
        if touches {
            star_ids.push(s);
            stars.push(PointSource {
                x_det: x,
                y_det: y,
                flux_e: electrons_from_mag(
                    s.mag,
                    c.zero_point_mag,
                    c.extinction_mag_per_airmass,
                    airmass,
                    t,
                ),
            });
        }
    }
    let comet = match (plan.kind, night.comet_reference) {
        (FrameKind::Science, Some((ra0, dec0, t_ref))) => {
            let hours = (to_ms(mid).mjd() - t_ref) * 24.0;
            let (cra, cdec) = offset_position(
                ra0,
                dec0,
                c.comet.rate_ra_arcsec_per_hour * hours,
                c.comet.rate_dec_arcsec_per_hour * hours,
            );
            true_wcs
                .world_to_pixel(cra, cdec)
                .map(|(x, y)| (cra, cdec, x, y))
        }
        _ => None,
    };
    let comet_scene = comet.map(|(_, _, x, y)| {
        let cc = &c.comet;
        let aperture_e = electrons_from_mag(
            cc.coma_mag,
            c.zero_point_mag,
            c.extinction_mag_per_airmass,
            airmass,
            t,
        );
        let k_arcsec = aperture_e / (2.0 * PI * cc.coma_aperture_radius_arcsec);
        let lobe = match cc.feature {
            ComaFeature::None => None,
            ComaFeature::AntisolarTail => Some(cc.antisolar_position_angle_deg),
            ComaFeature::SunwardFan => Some(cc.antisolar_position_angle_deg + 180.0),
        }
        .filter(|_| cc.feature_fraction > 0.0)
        .map(|pa| Lobe::new(pa, cc.feature_width_deg, cc.feature_fraction));
        CometScene {
            x_det: x,
            y_det: y,
            coma: Coma {
                k_e_per_px: k_arcsec * scale,
                outer_radius_px: cc.coma_outer_radius_arcsec / scale,
                lobe,
                cd_deg_per_px: true_wcs.cd_deg_per_px,
            },
            nucleus_flux_e: cc.nucleus_mag.map_or(0.0, |m| {
                electrons_from_mag(
                    m,
                    c.zero_point_mag,
                    c.extinction_mag_per_airmass,
                    airmass,
                    t,
                )
            }),
        }
    });
    let scene = Scene {
        readout: r,
        flat: match (plan.kind, &night.flat_frames) {
            (FrameKind::Flat, Some(lit)) => lit,
            _ => &night.flat,
        },
        sky_e_per_px,
        psf: night.psf,
        stars: &stars,
        comet: comet_scene,
    };
    let light = expected_electrons(&scene);

    // Detector.
    let on_sky = matches!(plan.kind, FrameKind::Science | FrameKind::Standard);
    let hits = if on_sky && !c.noiseless {
        cosmic_rays(
            r,
            c.cosmic_rays_per_frame,
            c.cosmic_ray_min_e,
            c.cosmic_ray_max_e,
            &mut rng,
        )
    } else {
        Vec::new()
    };
    let extra: Vec<(usize, f64)> = hits
        .iter()
        .map(|h| (h.y_px * r.width + h.x_px, h.charge_e))
        .collect();
    let electronics = Electronics {
        gain_e_per_adu: c.gain_e_per_adu,
        read_noise_e: c.read_noise_e,
        bias: night.bias,
        frame_bias_offset_adu: bias_offset,
        saturation_adu: c.saturation_adu,
        noiseless: c.noiseless,
        format: c.pixel_format,
    };
    let data = digitise(&light.expected_e, &extra, r, &electronics, &mut rng);

    // Headers and file.
    let date_obs = plan.start.to_string();
    let date_avg = mid.to_string();
    let primary = primary_header(
        c,
        plan,
        r,
        &date_obs,
        &date_avg,
        header_crval,
        airmass_start,
    );
    let image = image_header(c, plan.kind, r, &header_wcs);
    let path = out_dir.join(&plan.file);
    write_image_fits(
        &path,
        HduLayout::EmptyPrimaryPlusExtension,
        &primary,
        &image,
        r.width,
        r.height,
        &data,
    )?;

    // Truth.
    let to_image = |x: f64, y: f64| r.detector_to_image(x, y);
    let comet_truth = comet.zip(comet_scene).map(|((cra, cdec, x, y), scene)| {
        let (xi, yi) = to_image(x, y);
        let cc = &c.comet;
        let k_arcsec = scene.coma.k_e_per_px / scale;
        CometTruth {
            x_px: xi,
            y_px: yi,
            ra_deg: cra,
            dec_deg: cdec,
            flux_e: light.coma_e + light.nucleus_e,
            coma_flux_e: light.coma_e,
            nucleus_flux_e: light.nucleus_e,
            coma_k_e_per_arcsec: k_arcsec,
            coma_aperture_flux_e: 2.0 * PI * k_arcsec * cc.coma_aperture_radius_arcsec,
            coma_aperture_radius_arcsec: cc.coma_aperture_radius_arcsec,
        }
    });
    let star_truth = star_ids
        .iter()
        .zip(&stars)
        .zip(&light.star_e)
        .map(|((cat, s), &injected)| {
            let (x_px, y_px) = to_image(s.x_det, s.y_det);
            StarTruth {
                file: plan.file.clone(),
                star_id: cat.id,
                x_px,
                y_px,
                mag: cat.mag,
                flux_e: s.flux_e,
                flux_in_image_e: injected,
            }
        })
        .collect();
    let cosmic_truth = hits
        .iter()
        .map(|h| CosmicRayTruth {
            file: plan.file.clone(),
            x_px: h.x_px,
            y_px: h.y_px,
            charge_e: h.charge_e,
        })
        .collect();
    let truth = FrameTruth {
        file: plan.file.clone(),
        frame_type: plan.kind,
        sequence_number: plan.sequence_number,
        exptime_s: plan.exptime_s,
        date_obs_utc: date_obs,
        date_avg_utc: date_avg,
        mjd_mid_utc: to_ms(mid).mjd(),
        airmass: airmass_mid,
        airmass_start,
        filter: c.filter_name.clone(),
        width_px: r.width,
        height_px: r.height,
        binning_x: r.binning_x,
        binning_y: r.binning_y,
        pointing_ra_deg: ra,
        pointing_dec_deg: dec,
        pointing_error_east_arcsec: error_east,
        pointing_error_north_arcsec: error_north,
        pointing_error_arcsec: c.pointing_error_arcsec,
        sky_e_per_px: sky_e_per_px * bins,
        bias_frame_offset_adu: bias_offset,
        comet: comet_truth,
        n_cosmic_ray_pixels: hits.len(),
        seed: plan.seed,
    };
    Ok(FrameOutput {
        path,
        truth,
        stars: star_truth,
        cosmic_rays: cosmic_truth,
    })
}

// ---------------------------------------------------------------------------------------
// Headers
// ---------------------------------------------------------------------------------------

fn text(s: &str) -> HeaderValue {
    HeaderValue::Str(s.to_string())
}

/// Primary header: the observing keywords, as ALFOSC writes them (DESIGN §5). RA/DEC are
/// the pointing as the telescope reports it, i.e. with the pointing error (equal to CRVAL).
#[allow(clippy::too_many_arguments)]
fn primary_header(
    c: &NightConfig,
    plan: &Plan,
    r: &Readout,
    date_obs: &str,
    date_avg: &str,
    pointing: (f64, f64),
    airmass_start: Option<f64>,
) -> Header {
    let object = match plan.kind {
        FrameKind::Bias => "bias",
        FrameKind::Flat => "skyflat",
        FrameKind::Science => c.object_name.as_str(),
        FrameKind::Standard => c
            .standards
            .as_ref()
            .map_or("standard", |s| s.object_name.as_str()),
    };
    let mut h = Header::default();
    h.set("ORIGIN", text("NOTSA"), "");
    h.set("OBSERVAT", text("LaPalma"), "");
    h.set("TELESCOP", text("NOT"), "");
    h.set("INSTRUME", text("ALFOSC_FASU"), "");
    h.set("DETNAME", text("E2V CCD 231-42 2kx2k"), "");
    h.set("XOVERSC", text("50"), "");
    h.set("YOVERSC", text("50"), "");
    h.set("DATE-OBS", text(date_obs), "Start of exposure");
    h.set("DATE-AVG", text(date_avg), "Mid-point of exposure");
    h.set("ALFLTNM", text("Open"), "ALFOSC filter wheel. Name");
    h.set("ALGRNM", text("Open (Lyot)"), "ALFOSC grism wheel. Name");
    h.set(
        "FAFLTNM",
        text(&c.filter_name),
        "FASU filter wheel 1/A Name",
    );
    h.set("FBFLTNM", text("Open"), "FASU filter wheel 2/B Name");
    h.set(
        "RA",
        HeaderValue::Float(pointing.0),
        "Right ascension at start [deg]",
    );
    h.set(
        "DEC",
        HeaderValue::Float(pointing.1),
        "Declination at start [deg]",
    );
    h.set(
        "EQUINOX",
        HeaderValue::Float(2000.0),
        "Equinox of RA and DEC",
    );
    h.set("RADECSYS", text("FK5"), "");
    if let Some(x) = airmass_start {
        h.set(
            "AIRMASS",
            HeaderValue::Float(x),
            "Airmass at start (sec(z))",
        );
    }
    h.set("TCSTGT", text(object), "TCS Catalogue Entry");
    h.set(
        "OBSGEO-X",
        HeaderValue::Float(NOT_OBSGEO_M[0]),
        "Cartesian Coordinate X",
    );
    h.set(
        "OBSGEO-Y",
        HeaderValue::Float(NOT_OBSGEO_M[1]),
        "Cartesian Coordinate Y",
    );
    h.set(
        "OBSGEO-Z",
        HeaderValue::Float(NOT_OBSGEO_M[2]),
        "Cartesian Coordinate Z",
    );
    h.set("OBJECT", text(object), "Object name");
    h.set("OBSERVER", text("cometphot simulate"), "Observer name");
    h.set("IMAGETYP", text(plan.kind.imagetyp()), "Image type");
    h.set("OBS_MODE", text("IMAGING"), "Type of observation");
    h.set("FILENAME", text(&plan.file), "Filename");
    h.set(
        "EXPTIME",
        HeaderValue::Float(plan.exptime_s),
        "exposure time",
    );
    h.set("DETWIN1", text(&r.detwin1()), "");
    h.set("DETXBIN", HeaderValue::Int(r.binning_x as i64), "X binning");
    h.set("DETYBIN", HeaderValue::Int(r.binning_y as i64), "Y binning");
    h.set(
        "SIMSEED",
        text(&plan.seed.to_string()),
        "cometphot simulate frame seed",
    );
    h.set(
        "COMMENT",
        HeaderValue::Empty,
        "Synthetic frame written by cometphot simulate, not real data.",
    );
    h
}

/// Extension header: detector keywords and, for on-sky frames, the TAN WCS.
fn image_header(c: &NightConfig, kind: FrameKind, r: &Readout, wcs: &TanWcs) -> Header {
    let mut h = Header::default();
    h.set("BUNIT", text("count"), "");
    h.set("CCDNAME", text("CCD14"), "");
    if kind != FrameKind::Bias {
        h.set("RADESYS", text("ICRS"), "");
        for (key, value, comment) in wcs.to_cards() {
            h.set(key, value, comment);
        }
    }
    h.set("BIASSEC", text(BIASSEC), "");
    h.set("RDNOISE", HeaderValue::Float(c.read_noise_e), "e-");
    h.set("GAIN", HeaderValue::Float(c.gain_e_per_adu), "e-/ADU");
    h.set("EXTNAME", text("im1"), "");
    h.set("IMAGEID", HeaderValue::Int(1), "");
    h.set("INHERIT", HeaderValue::Bool(true), "");
    h.set("CCDSUM", text(&r.ccdsum()), "");
    h
}

// ---------------------------------------------------------------------------------------
// Tables
// ---------------------------------------------------------------------------------------

/// A CSV field: quoted when it holds a comma, quote or line break (RFC 4180).
fn field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// A real number in CSV: shortest round-trip form, always with a decimal point or exponent
/// (`300.0`, `5.9e-5`) so that readers infer a float column.
fn num(x: f64) -> String {
    format!("{x:?}")
}

fn opt(v: Option<f64>) -> String {
    v.map(num).unwrap_or_default()
}

fn catalogue_csv(stars: &[CatalogueStar]) -> String {
    let mut out = String::from("id,ra_deg,dec_deg,mag\n");
    for s in stars {
        let _ = writeln!(
            out,
            "{},{},{},{}",
            s.id,
            num(s.ra_deg),
            num(s.dec_deg),
            num(s.mag)
        );
    }
    out
}

fn frames_csv(frames: &[FrameTruth]) -> String {
    let mut out = String::from(
        "file,frame_type,sequence_number,exptime_s,date_obs_utc,date_avg_utc,mjd_mid_utc,\
         airmass,airmass_start,filter,width_px,height_px,binning_x,binning_y,\
         pointing_ra_deg,pointing_dec_deg,pointing_error_arcsec,pointing_error_east_arcsec,\
         pointing_error_north_arcsec,sky_e_per_px,bias_frame_offset_adu,comet_x_px,comet_y_px,\
         comet_ra_deg,comet_dec_deg,comet_flux_e,coma_flux_e,nucleus_flux_e,\
         coma_k_e_per_arcsec,coma_aperture_radius_arcsec,coma_aperture_flux_e,\
         n_cosmic_ray_pixels,seed\n",
    );
    for f in frames {
        let cm = f.comet.as_ref();
        let cols = [
            field(&f.file),
            f.frame_type.to_string(),
            f.sequence_number.to_string(),
            num(f.exptime_s),
            f.date_obs_utc.clone(),
            f.date_avg_utc.clone(),
            num(f.mjd_mid_utc),
            opt(f.airmass),
            opt(f.airmass_start),
            field(&f.filter),
            f.width_px.to_string(),
            f.height_px.to_string(),
            f.binning_x.to_string(),
            f.binning_y.to_string(),
            num(f.pointing_ra_deg),
            num(f.pointing_dec_deg),
            num(f.pointing_error_arcsec),
            num(f.pointing_error_east_arcsec),
            num(f.pointing_error_north_arcsec),
            num(f.sky_e_per_px),
            num(f.bias_frame_offset_adu),
            opt(cm.map(|c| c.x_px)),
            opt(cm.map(|c| c.y_px)),
            opt(cm.map(|c| c.ra_deg)),
            opt(cm.map(|c| c.dec_deg)),
            opt(cm.map(|c| c.flux_e)),
            opt(cm.map(|c| c.coma_flux_e)),
            opt(cm.map(|c| c.nucleus_flux_e)),
            opt(cm.map(|c| c.coma_k_e_per_arcsec)),
            opt(cm.map(|c| c.coma_aperture_radius_arcsec)),
            opt(cm.map(|c| c.coma_aperture_flux_e)),
            f.n_cosmic_ray_pixels.to_string(),
            f.seed.to_string(),
        ];
        out.push_str(&cols.join(","));
        out.push('\n');
    }
    out
}

fn stars_csv(stars: &[StarTruth]) -> String {
    let mut out = String::from("file,star_id,x_px,y_px,mag,flux_e,flux_in_image_e\n");
    for s in stars {
        let _ = writeln!(
            out,
            "{},{},{},{},{},{},{}",
            field(&s.file),
            s.star_id,
            num(s.x_px),
            num(s.y_px),
            num(s.mag),
            num(s.flux_e),
            num(s.flux_in_image_e)
        );
    }
    out
}

/// `standards.csv`: the standard field as a catalogue for `photometry --standards`.
fn standards_csv(night: &Night) -> String {
    let error = night
        .config
        .standards
        .as_ref()
        .map_or(0.0, |s| s.catalogue_error_mag);
    let mut out = String::from("id,ra_deg,dec_deg,mag,mag_err\n");
    for (s, mag) in night.standards.iter().zip(&night.standard_catalogue_mags) {
        let _ = writeln!(
            out,
            "{},{},{},{},{}",
            s.id,
            num(s.ra_deg),
            num(s.dec_deg),
            num(*mag),
            num(error)
        );
    }
    out
}

/// The truth of every standard star in a standard frame.
fn standard_truth(night: &Night, frame: &FrameTruth, stars: &[StarTruth]) -> Vec<StandardTruth> {
    let c = night.config;
    let airmass = frame.airmass.unwrap_or(1.0);
    stars
        .iter()
        .map(|s| StandardTruth {
            file: s.file.clone(),
            star_id: s.star_id,
            mjd_mid_utc: frame.mjd_mid_utc,
            airmass,
            mag: s.mag,
            catalogue_mag: night
                .standard_catalogue_mags
                .get(s.star_id.wrapping_sub(1))
                .copied()
                .unwrap_or(f64::NAN),
            flux_e: s.flux_e,
            zero_point_mag: c.zero_point_mag,
            extinction_mag_per_airmass: c.extinction_mag_per_airmass,
            zero_point_at_airmass_mag: c.zero_point_mag - c.extinction_mag_per_airmass * airmass,
        })
        .collect()
}

fn standard_truth_csv(rows: &[StandardTruth]) -> String {
    let mut out = String::from(
        "file,star_id,mjd_mid_utc,airmass,mag,catalogue_mag,flux_e,zero_point_mag,\
         extinction_mag_per_airmass,zero_point_at_airmass_mag\n",
    );
    for r in rows {
        let _ = writeln!(
            out,
            "{},{},{},{},{},{},{},{},{},{}",
            field(&r.file),
            r.star_id,
            num(r.mjd_mid_utc),
            num(r.airmass),
            num(r.mag),
            num(r.catalogue_mag),
            num(r.flux_e),
            num(r.zero_point_mag),
            num(r.extinction_mag_per_airmass),
            num(r.zero_point_at_airmass_mag)
        );
    }
    out
}

fn cosmic_csv(hits: &[CosmicRayTruth]) -> String {
    let mut out = String::from("file,x_px,y_px,charge_e\n");
    for h in hits {
        let _ = writeln!(
            out,
            "{},{},{},{}",
            field(&h.file),
            h.x_px,
            h.y_px,
            h.charge_e
        );
    }
    out
}

/// Writes a text file atomically (see [`crate::table::write_text_atomic`]).
pub(super) fn write_text(path: &Path, content: &str) -> Result<(), SimulateError> {
    crate::table::write_text_atomic(path, content).map_err(|source| SimulateError::Io {
        path: path.display().to_string(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_style_file_names() {
        let t = UtcInstant::parse_iso("2017-02-17T20:31:31.940").unwrap();
        assert_eq!(file_name("AL", &t, 110), "ALAb170110.fits");
        let t = UtcInstant::parse_iso("2025-08-01T21:30:00").unwrap();
        assert_eq!(file_name("AL", &t, 7), "ALIh010007.fits");
    }

    #[test]
    fn schedule_is_chronological_and_rejects_overlaps() {
        let mut c = NightConfig {
            n_bias: 2,
            n_flat: 2,
            n_science: 2,
            ..NightConfig::default()
        };
        // Science before the flats (morning flats) is fine.
        c.flat_start_utc = "2025-08-02T05:30:00".to_string();
        let plans = plan_frames(&c).unwrap();
        let kinds: Vec<FrameKind> = plans.iter().map(|p| p.kind).collect();
        use FrameKind::*;
        assert_eq!(kinds, [Bias, Bias, Science, Science, Flat, Flat]);
        assert!(plans
            .windows(2)
            .all(|w| w[0].sequence_number + 1 == w[1].sequence_number));
        assert!(plans.iter().all(|p| p.file.starts_with("ALIh01")));
        c.flat_start_utc = "2025-08-01T21:32:00".to_string();
        assert!(matches!(
            plan_frames(&c),
            Err(SimulateError::InvalidConfig { .. })
        ));
    }
}
