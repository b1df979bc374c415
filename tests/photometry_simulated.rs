//! The comet measured from raw simulated ALFOSC frames with known truth: biases, sky flats,
//! cosmic rays, a pointing error, field stars from a catalogue, and the comet placed where
//! 3I/ATLAS really was (JPL#27 seen from the NOT), moving at its real rate. The pipeline
//! reduces the frames, refines the WCS on the catalogue, finds the comet from its ephemeris and
//! measures it in a fixed aperture calibrated on the catalogue stars.

use cometphot::ephem::elements::builtin;
use cometphot::ephem::ephemeris::{GeometrySource, OrbitModel};
use cometphot::ephem::site::Site;
use cometphot::ephem::time::UtcInstant;
use cometphot::frame::profile::ProfileRegistry;
use cometphot::photometry::catalogue::read_catalogue;
use cometphot::photometry::measure::{
    comet_flag, measure_comet, ApertureRadius, CometPhotometry, PhotometryConfig, ZeroPointSource,
};
use cometphot::reduce::pipeline::{reduce_files, ReduceOptions};
use cometphot::simulate::ephemeris::place_comet;
use cometphot::simulate::{FrameTruth, NightConfig};
use std::collections::HashMap;
use std::sync::Mutex;

/// Nights simulated, science frames per night, and the coma magnitude of the first night
/// (each night is 0.35 mag fainter, to span signal-to-noise ratios from ~30 to ~400).
const NIGHTS: usize = 14;
const FRAMES_PER_NIGHT: usize = 22;
const BRIGHTEST_COMA_MAG: f64 = 15.5;
const APERTURE_ARCSEC: f64 = 4.0;

struct Measured {
    result: CometPhotometry,
    truth: FrameTruth,
    coma_mag: f64,
}

fn night_config(night: usize, geometry: &GeometrySource, site: &Site) -> NightConfig {
    // Every other night from 2025-07-15, observed around the meridian transit (~22h UTC).
    let date = UtcInstant::parse_iso("2025-07-15")
        .unwrap()
        .plus_seconds(2.0 * 86_400.0 * night as f64);
    let at = |hours: f64| date.plus_seconds(hours * 3600.0).to_string();
    let mut config = NightConfig {
        seed: 100 + night as u64,
        n_bias: 3,
        n_flat: 3,
        n_science: FRAMES_PER_NIGHT,
        bias_start_utc: at(19.5),
        flat_start_utc: at(20.5),
        science_start_utc: at(22.0),
        overhead_s: 10.0,
        science_exptime_s: 30.0,
        detector_window: "[801:1300, 801:1300]".to_string(),
        pointing_error_arcsec: 12.0,
        star_density_per_arcmin2: 12.0,
        star_mag_min: 15.5,
        star_mag_max: 19.0,
        cosmic_rays_per_frame: 15,
        ..NightConfig::default()
    };
    config.comet.coma_mag = BRIGHTEST_COMA_MAG + 0.35 * night as f64;
    config.comet.coma_aperture_radius_arcsec = APERTURE_ARCSEC;
    config.comet.coma_outer_radius_arcsec = 10.0;
    // Point so that the comet's track over the night is centred in the window.
    let obs = place_comet(&mut config, geometry, site, (0.0, 0.0)).expect("3I geometry");
    let duration_h = FRAMES_PER_NIGHT as f64 * (30.0 + 10.0) / 3600.0;
    let half_track = (
        config.comet.rate_ra_arcsec_per_hour * duration_h / 2.0,
        config.comet.rate_dec_arcsec_per_hour * duration_h / 2.0,
    );
    place_comet(&mut config, geometry, site, half_track).expect("3I geometry");
    assert!(obs.delta_au > 1.0);
    config
}

fn run_campaign(dir: &std::path::Path) -> Vec<Measured> {
    let site = Site::parse("NOT").unwrap();
    let first = UtcInstant::parse_iso("2025-07-14").unwrap();
    let last = UtcInstant::parse_iso("2025-08-15").unwrap();
    let geometry =
        GeometrySource::orbit(builtin("3I").unwrap(), OrbitModel::Perturbed, first, last).unwrap();
    let options = ReduceOptions::new(ProfileRegistry::shipped().expect("shipped profiles"));
    let mut measured = Vec::new();
    for night in 0..NIGHTS {
        let config = night_config(night, &geometry, &site);
        let night_dir = dir.join(format!("night{night}"));
        let sim = cometphot::simulate::run(&config, &night_dir).expect("simulate");
        let truth: HashMap<String, FrameTruth> = sim
            .frames
            .iter()
            .map(|f| (f.file.clone(), f.clone()))
            .collect();
        let catalogue = read_catalogue(&sim.catalogue_csv).expect("catalogue").stars;
        let photometry = PhotometryConfig {
            radii: vec![ApertureRadius::Arcsec(APERTURE_ARCSEC)],
            annulus_inner_arcsec: 12.0,
            annulus_outer_arcsec: 20.0,
            zero_point: ZeroPointSource::Catalogue {
                stars: catalogue,
                comet_colour: None,
            },
            ..PhotometryConfig::default()
        };
        let results = Mutex::new(Vec::new());
        let report = reduce_files(
            &sim.fits_files,
            None,
            &options,
            &|frame| {
                let r = measure_comet(frame, &geometry, &site, &photometry);
                results.lock().unwrap().push(r);
            },
            &|_| {},
        );
        assert!(report.skipped.is_empty(), "{:?}", report.skipped);
        for r in results.into_inner().unwrap() {
            let mut rows = r.expect("comet measured");
            let row = rows.remove(0);
            let name = std::path::Path::new(&row.file)
                .file_name()
                .unwrap()
                .to_string_lossy()
                .into_owned();
            measured.push(Measured {
                truth: truth[&name].clone(),
                coma_mag: config.comet.coma_mag,
                result: row,
            });
        }
    }
    measured
}

#[test]
fn comet_found_from_its_ephemeris_and_measured_with_honest_errors() {
    let dir = tempfile::tempdir().unwrap();
    let measured = run_campaign(dir.path());
    assert_eq!(measured.len(), NIGHTS * FRAMES_PER_NIGHT);

    // Position, wherever no star sits on the coma (frames with one are flagged
    // `star_in_aperture`: there the photocentre is ambiguous): 95 % within 1 px (0.21″) of the
    // truth, and every one within 3 px, i.e. found where the ephemeris says.
    let clean: Vec<&Measured> = measured
        .iter()
        .filter(|m| m.result.flags & comet_flag::STAR_IN_APERTURE == 0)
        .collect();
    let mut position_errors: Vec<f64> = clean
        .iter()
        .map(|m| {
            let t = m.truth.comet.as_ref().unwrap();
            (m.result.x - t.x_px).hypot(m.result.y - t.y_px)
        })
        .collect();
    position_errors.sort_by(f64::total_cmp);
    let p95 = position_errors[(0.95 * position_errors.len() as f64) as usize];
    let worst_position = position_errors.last().copied().unwrap_or(0.0);
    println!(
        "{} of {} measurements without a star in the aperture; position error: 95th percentile \
         {p95:.3} px, worst {worst_position:.3} px",
        clean.len(),
        measured.len()
    );
    assert!(p95 < 1.0 && worst_position < 3.0);

    // Pulls of the net flux against its expectation: the electrons injected within the
    // aperture. The sky subtracted is the annulus's clipped mean with the other sources left
    // out; the clipped median used before sat below the mean of the skewed Poisson sky by
    // λ / (6 (λ + RN²)) = 0.14 e⁻/px, a bias of A × 0.14 ≈ 150 e⁻ in the aperture that
    // mattered on the faintest nights (20 mag: ~3000 e⁻). Measured now: +37 e⁻ on average
    // (0.09σ; 3σ clipping about the median trims the Poisson sky's longer upper tail).
    assert!(clean.len() >= 200, "{} clean measurements", clean.len());
    let expected_e = |m: &Measured| m.truth.comet.as_ref().unwrap().coma_aperture_flux_e;
    let pulls: Vec<f64> = clean
        .iter()
        .map(|m| (m.result.net_e - expected_e(m)) / m.result.net_err_e)
        .collect();
    let n = pulls.len() as f64;
    let mean = pulls.iter().sum::<f64>() / n;
    let std = (pulls.iter().map(|p| (p - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt();
    let flux_bias_e = clean
        .iter()
        .map(|m| m.result.net_e - expected_e(m))
        .sum::<f64>()
        / n;
    println!(
        "pulls: n = {n}, mean = {mean:.3}, std = {std:.3}; mean flux error {flux_bias_e:+.1} e⁻"
    );
    assert!((0.9..=1.1).contains(&std), "pull std {std}");
    assert!(mean.abs() < 3.0 / n.sqrt() + 0.1, "pull mean {mean}");

    // Flux magnitudes at SNR > 100 against the expected electrons. At SNR = 100 a single
    // measurement's 1σ is already 0.011 mag, so "within 0.01 mag" is held for the rms, and the
    // worst case is printed (its size follows from the honest pulls above).
    let bright_errors: Vec<f64> = clean
        .iter()
        .filter(|m| m.result.net_e > 100.0 * m.result.net_err_e)
        .map(|m| 2.5 * (m.result.net_e / expected_e(m)).log10())
        .collect();
    let rms_mag =
        (bright_errors.iter().map(|e| e * e).sum::<f64>() / bright_errors.len() as f64).sqrt();
    let worst_mag = bright_errors.iter().fold(0.0f64, |w, e| w.max(e.abs()));
    println!(
        "flux magnitudes at SNR > 100: rms {rms_mag:.4} mag, worst {worst_mag:.4} mag over {} frames",
        bright_errors.len()
    );
    assert!(bright_errors.len() >= 50);
    assert!(rms_mag < 0.01, "rms {rms_mag}");

    // Zero points from the catalogue against the truth, zp − k·X at the frame's mid-exposure
    // airmass, and the calibrated magnitudes against the coma magnitude. The issue asks for
    // 0.01 mag per frame. Systematics found and removed: the neighbours' wings in the stars'
    // sky annuli (−0.0045 mag in 2 FWHM, −0.003 mag through the 2 → 4 FWHM correction), the
    // median of a Poisson sky (0.14 e⁻/px low), the Moffat light beyond 4 FWHM (−0.0035 mag),
    // a faint catalogue star merged with a bright one by detection (+0.035 in its growth
    // ratio; such stars are now crowded out through the catalogue), and the plain median as
    // the start of the growth-ratio clipping, which in one frame rejected the two bright stars
    // carrying the weight (−0.016 mag). What is left is the noise of one frame: its stars
    // (inverse-variance weighted mean, 0.0023 mag rms about the truth) and its aperture
    // correction (sky noise in the 4 FWHM apertures of a few bright stars, 0.0022 mag rms).
    // Measured: bias +0.0009 mag, 306 of 308 frames within 0.01 mag; the other two, with 7
    // and 24 stars, are 3.4σ and 2.9σ of their stated errors (0.0043 and 0.0039 mag), and
    // the pulls (zp − truth) / zp_err have rms 1.05: the zero point is as good as its error
    // says, and 0.01 mag is 2.3–5σ of it. Held: the bias within 0.002 mag, 99 % of the frames
    // within 0.01 mag, pulls of rms 0.85–1.15 and none beyond 4σ.
    let zp_errors: Vec<f64> = measured
        .iter()
        .map(|m| {
            assert_eq!(m.result.zp_method, "catalogue");
            m.result.zp - (25.0 - 0.07 * m.truth.airmass.unwrap())
        })
        .collect();
    let zp_pulls: Vec<f64> = measured
        .iter()
        .zip(&zp_errors)
        .map(|(m, e)| e / m.result.zp_err)
        .collect();
    let zp_pull_rms = (zp_pulls.iter().map(|p| p * p).sum::<f64>() / zp_pulls.len() as f64).sqrt();
    let zp_worst_pull = zp_pulls.iter().fold(0.0f64, |w, p| w.max(p.abs()));
    let zp_bias = zp_errors.iter().sum::<f64>() / zp_errors.len() as f64;
    let zp_worst = zp_errors.iter().fold(0.0f64, |w, e| w.max(e.abs()));
    let zp_within_0_01 = zp_errors.iter().filter(|e| e.abs() <= 0.01).count();
    let mag_worst = clean
        .iter()
        .filter(|m| m.result.net_e > 100.0 * m.result.net_err_e)
        .map(|m| (m.result.mag - m.coma_mag).abs())
        .fold(0.0f64, f64::max);
    println!(
        "zero points: bias {zp_bias:+.4} mag, worst {zp_worst:.4} mag, {zp_within_0_01} of {} \
         within 0.01 mag; pulls rms {zp_pull_rms:.3}, worst {zp_worst_pull:.2}; worst calibrated \
         magnitude at SNR > 100: {mag_worst:.4} mag",
        zp_errors.len()
    );
    assert!(zp_bias.abs() < 0.002, "zero-point bias {zp_bias}");
    assert!(
        zp_within_0_01 as f64 >= 0.99 * zp_errors.len() as f64,
        "{zp_within_0_01} of {} zero points within 0.01 mag",
        zp_errors.len()
    );
    assert!(
        (0.85..=1.15).contains(&zp_pull_rms),
        "zero-point pulls rms {zp_pull_rms}"
    );
    assert!(zp_worst_pull < 4.0, "worst zero-point pull {zp_worst_pull}");
}
