//! Background, source detection, centroids and WCS refinement on simulated ALFOSC frames,
//! against the simulator's truth tables.
//!
//! Frames are calibrated here with the simulator's own truth (the reduction module is tested
//! elsewhere): the bias is exactly `bias_level_adu` (no row pattern, no frame offset) and the
//! flat field is the night's true response (`night_flat_pattern`).

use std::path::Path;

use cometphot::frame::header::Header;
use cometphot::frame::read::FitsSource;
use cometphot::image::{pixel_flag, Image, PixelMask};
use cometphot::photometry::astrometry::{
    refine_wcs, y_axis_position_angle_deg, AstrometryError, ReferenceStar, RefineParams,
};
use cometphot::photometry::background::{
    estimate_background, BackgroundError, BackgroundParams, ExclusionMask,
};
use cometphot::photometry::detect::{
    background_without_sources, detect_sources, source_flag, DetectParams, Source,
};
use cometphot::simulate::detector::Readout;
use cometphot::simulate::model::{FlatPattern, Moffat};
use cometphot::simulate::{
    self, night_flat_pattern, FrameKind, FrameTruth, NightConfig, SimulatedNight, StarTruth,
};
use cometphot::wcs::TanWcs;

/// A science-only night with a clean bias (so that raw − bias_level is exact).
fn base_config(window: &str) -> NightConfig {
    let mut c = NightConfig {
        seed: 2025,
        n_bias: 0,
        n_flat: 0,
        n_science: 1,
        detector_window: window.to_string(),
        bias_row_amplitude_adu: 0.0,
        bias_frame_offset_rms_adu: 0.0,
        ..NightConfig::default()
    };
    c.comet.enabled = false;
    c
}

struct Frame {
    header: Header,
    raw_adu: Image,
    truth: FrameTruth,
    stars: Vec<StarTruth>,
    cosmic: Vec<(usize, usize)>,
}

fn simulate_frame(config: &NightConfig, dir: &Path) -> (SimulatedNight, Frame) {
    let night = simulate::run(config, dir).unwrap();
    let truth = night
        .frames
        .iter()
        .find(|f| f.frame_type == FrameKind::Science)
        .unwrap()
        .clone();
    let path = night
        .fits_files
        .iter()
        .find(|p| p.ends_with(&truth.file))
        .unwrap();
    let mut fits = FitsSource::open(path).unwrap();
    let hdu = fits.image_hdus().remove(0).unwrap();
    let pixels = fits.read_pixels(&hdu).unwrap();
    let raw_adu = Image::new(hdu.width, hdu.height, pixels).unwrap();
    let stars = night
        .stars
        .iter()
        .filter(|s| s.file == truth.file)
        .cloned()
        .collect();
    let cosmic = night
        .cosmic_rays
        .iter()
        .filter(|c| c.file == truth.file)
        .map(|c| (c.x_px, c.y_px))
        .collect();
    let frame = Frame {
        header: hdu.header,
        raw_adu,
        truth,
        stars,
        cosmic,
    };
    (night, frame)
}

/// The flat-field response of every image pixel (unbinned windows only).
fn flat_map(config: &NightConfig, pattern: &FlatPattern, w: usize, h: usize) -> Vec<f64> {
    let readout = Readout::new(&config.detector_window, 1, 1).unwrap();
    let mut out = Vec::with_capacity(w * h);
    for y in 0..h {
        for x in 0..w {
            let (xd, yd) = readout.image_to_detector(x as f64, y as f64);
            out.push(pattern.response(xd as usize, yd as usize));
        }
    }
    out
}

/// Electrons: (raw − bias) × gain / flat, and a mask with the truth's cosmic-ray pixels.
fn calibrate(config: &NightConfig, frame: &Frame) -> (Image, PixelMask) {
    let (w, h) = (frame.raw_adu.width(), frame.raw_adu.height());
    let flat = flat_map(config, &night_flat_pattern(config), w, h);
    let data = frame
        .raw_adu
        .data()
        .iter()
        .zip(&flat)
        .map(|(v, f)| ((f64::from(*v) - config.bias_level_adu) * config.gain_e_per_adu / f) as f32)
        .collect();
    let mut mask = PixelMask::clear(w, h);
    for &(x, y) in &frame.cosmic {
        mask.flag(x, y, pixel_flag::COSMIC_RAY);
    }
    (Image::new(w, h, data).unwrap(), mask)
}

/// PSF-weighted (optimal) signal-to-noise ratio of a star of `flux_e` on a sky of `sky_e`
/// per pixel: `SNR² = Σ (F pᵢ)² / (F pᵢ + sky + rn²)`.
fn optimal_snr(psf: &Moffat, flux_e: f64, sky_e: f64, read_noise_e: f64) -> f64 {
    let r = (4.0 * psf.fwhm_px()).ceil() as i64;
    let mut snr2 = 0.0;
    for dy in -r..=r {
        for dx in -r..=r {
            let s = flux_e * psf.pixel_fraction(dx as f64, dy as f64);
            snr2 += s * s / (s + sky_e + read_noise_e * read_noise_e);
        }
    }
    snr2.sqrt()
}

#[test]
fn background_level_and_rms_match_the_simulated_sky() {
    let dir = tempfile::tempdir().unwrap();
    // A corner window: the vignetting changes the sky by ~3 % across it. A bright comet with
    // a 40″ coma in the middle, stars, cosmic rays (left unmasked: clipping handles them).
    let mut config = base_config("[1201:2000, 1201:2000]");
    config.star_density_per_arcmin2 = 20.0;
    config.cosmic_rays_per_frame = 50;
    config.comet.enabled = true;
    config.comet.coma_mag = 14.0;
    let (_, frame) = simulate_frame(&config, dir.path());
    let (w, h) = (frame.raw_adu.width(), frame.raw_adu.height());
    let gain = config.gain_e_per_adu;
    let sky_e = frame.truth.sky_e_per_px;
    let smooth_flat = FlatPattern {
        pixel_rms: 0.0,
        ..night_flat_pattern(&config)
    };
    let vignetting = flat_map(&config, &smooth_flat, w, h);
    let expected_level =
        |x: usize, y: usize| config.bias_level_adu + sky_e * vignetting[y * w + x] / gain;
    // Per-pixel variance: Poisson + read noise + the 1 % pixel-to-pixel flat + rounding.
    let expected_rms = |x: usize, y: usize| {
        let s = sky_e * vignetting[y * w + x];
        let var_e = s + config.read_noise_e.powi(2) + (s * config.flat_pixel_rms).powi(2);
        (var_e / (gain * gain) + 1.0 / 12.0).sqrt()
    };
    let comet = frame.truth.comet.clone().unwrap();
    let coma_radius_px = config.comet.coma_outer_radius_arcsec / config.pixel_scale_arcsec_per_px;
    let mut exclude = ExclusionMask::new(w, h);
    exclude.exclude_circle(comet.x_px, comet.y_px, coma_radius_px + 10.0);

    let params = BackgroundParams::default();
    let one_pass = estimate_background(&frame.raw_adu, None, Some(&exclude), &params).unwrap();
    let unmasked = estimate_background(&frame.raw_adu, None, None, &params).unwrap();
    // Two passes: stars detected on the first background are excluded (grown by 2 FWHM).
    let fwhm = config.seeing_fwhm_arcsec / config.pixel_scale_arcsec_per_px;
    let (two_pass, sources_mask) = background_without_sources(
        &frame.raw_adu,
        None,
        Some(&exclude),
        &params,
        &DetectParams::default(),
        2.0 * fwhm,
    )
    .unwrap();
    let sky_adu = sky_e / gain;
    // Worst relative errors of level and rms over a 5-px grid.
    struct Worst {
        level: f64,
        rms: f64,
        level_rms: f64,
        rms_mean: f64,
    }
    let worst = |b: &cometphot::photometry::background::Background| {
        let mut out = Worst {
            level: 0.0,
            rms: 0.0,
            level_rms: 0.0,
            rms_mean: 0.0,
        };
        let mut n = 0.0;
        for y in (0..h).step_by(5) {
            for x in (0..w).step_by(5) {
                let e = (f64::from(b.level.get(x, y)) - expected_level(x, y)) / sky_adu;
                let r = f64::from(b.rms.get(x, y)) / expected_rms(x, y) - 1.0;
                out.level = out.level.max(e.abs());
                out.rms = out.rms.max(r.abs());
                out.level_rms += e * e;
                out.rms_mean += r;
                n += 1.0;
            }
        }
        out.level_rms = (out.level_rms / n).sqrt();
        out.rms_mean /= n;
        out
    };
    let (first, second) = (worst(&one_pass), worst(&two_pass));
    let (mut worst_far, mut worst_near): (f64, f64) = (0.0, 0.0);
    for y in (0..h).step_by(5) {
        for x in (0..w).step_by(5) {
            let e = (f64::from(unmasked.level.get(x, y)) - expected_level(x, y)) / sky_adu;
            if (x as f64 - comet.x_px).hypot(y as f64 - comet.y_px) > coma_radius_px + 100.0 {
                worst_far = worst_far.max(e.abs());
            } else {
                worst_near = worst_near.max(e);
            }
        }
    }
    println!(
        "background: sky {sky_adu:.1} ADU, rms {:.1} ADU; level error rms / worst, rms mean / \
         worst error: one pass with the comet excluded {:.3} % / {:.3} %, {:+.2} % / {:.2} %; \
         two passes (stars excluded too, {:.1} % of the pixels) {:.3} % / {:.3} %, {:+.2} % / \
         {:.2} %; comet not excluded: worst {:.3} % far from the coma, {:.2} % on it",
        expected_rms(w / 2, h / 2),
        100.0 * first.level_rms,
        100.0 * first.level,
        100.0 * first.rms_mean,
        100.0 * first.rms,
        100.0 * sources_mask.count() as f64 / (w * h) as f64,
        100.0 * second.level_rms,
        100.0 * second.level,
        100.0 * second.rms_mean,
        100.0 * second.rms,
        100.0 * worst_far,
        100.0 * worst_near,
    );
    // One pass: the wings of bright (saturated) stars, below the clipping threshold, lift
    // the level and the rms of the boxes they fall in; two passes remove that.
    assert!(
        first.level < 0.01 && first.rms < 0.12,
        "one pass: {} {}",
        first.level,
        first.rms
    );
    // The mode of a box of ~2600 usable pixels has a noise of ≈ 2.1 σ/√n ≈ 0.15 % of the sky
    // here, somewhat less after the median filter: the worst of ~170 boxes is ~3 times that.
    assert!(
        second.level < 0.006 && second.level_rms < 0.002,
        "level error {}",
        second.level
    );
    // The clipped σ of Gaussian noise is 1.5 % low (3σ clipping to convergence keeps
    // |x| < 2.95σ, whose σ is 0.985σ): SExtractor's and photutils' rms share this bias.
    assert!(second.rms < 0.06, "rms error {}", second.rms);
    assert!(
        (second.rms_mean + 0.015).abs() < 0.01,
        "mean rms error {}",
        second.rms_mean
    );
    // The coma lifts a background that does not exclude it.
    assert!(
        worst_near > 0.1 && worst_far < 0.03,
        "{worst_near} {worst_far}"
    );
}

/// One truth star as seen by the test.
struct Expected<'a> {
    star: &'a StarTruth,
    snr: f64,
    isolated: bool,
}

#[test]
fn detection_completeness_purity_and_centroids() {
    let dir = tempfile::tempdir().unwrap();
    // 60 s, stars from just unsaturated (15.5) to well below the detection limit (23).
    let mut config = base_config("[401:1400, 401:1400]");
    config.science_exptime_s = 60.0;
    config.star_mag_min = 15.5;
    config.star_mag_max = 23.0;
    config.star_density_per_arcmin2 = 90.0;
    config.cosmic_rays_per_frame = 40;
    let (_, frame) = simulate_frame(&config, dir.path());
    let (image, mask) = calibrate(&config, &frame);
    let (w, h) = (image.width(), image.height());
    let bkg = estimate_background(&image, Some(&mask), None, &BackgroundParams::default()).unwrap();
    let fwhm = config.seeing_fwhm_arcsec / config.pixel_scale_arcsec_per_px;
    let params = DetectParams {
        smoothing_fwhm_px: Some(fwhm),
        saturation_level: Some(
            (config.saturation_adu - config.bias_level_adu) * config.gain_e_per_adu * 0.9,
        ),
        ..DetectParams::default()
    };
    let started = std::time::Instant::now();
    let det = detect_sources(&image, &bkg, Some(&mask), &params).unwrap();
    let detect_s = started.elapsed().as_secs_f64();
    let sources = &det.sources;

    let psf = Moffat::from_fwhm(fwhm, config.moffat_beta);
    let sky_e = frame.truth.sky_e_per_px;
    let expected: Vec<Expected> = frame
        .stars
        .iter()
        .map(|s| {
            // Isolated: no other star within 2.5 FWHM brighter than a third of this one.
            let isolated = frame.stars.iter().all(|o| {
                std::ptr::eq(o, s)
                    || (o.x_px - s.x_px).hypot(o.y_px - s.y_px) > 2.5 * fwhm
                    || o.flux_e < s.flux_e / 3.0
            });
            Expected {
                star: s,
                snr: optimal_snr(&psf, s.flux_e, sky_e, config.read_noise_e),
                isolated,
            }
        })
        .collect();
    let inside = |x: f64, y: f64, margin: f64| {
        x > margin && y > margin && x < w as f64 - 1.0 - margin && y < h as f64 - 1.0 - margin
    };
    let nearest = |x: f64, y: f64| -> Option<(&Source, f64)> {
        sources
            .iter()
            .map(|s| (s, (s.x - x).hypot(s.y - y)))
            .min_by(|a, b| a.1.total_cmp(&b.1))
    };

    // Completeness above SNR 10 (isolated stars inside the image).
    let testable: Vec<&Expected> = expected
        .iter()
        .filter(|e| e.snr >= 10.0 && e.isolated && inside(e.star.x_px, e.star.y_px, 5.0))
        .collect();
    let found = testable
        .iter()
        .filter(|e| nearest(e.star.x_px, e.star.y_px).is_some_and(|(_, d)| d < 1.5))
        .count();
    let completeness = found as f64 / testable.len() as f64;
    // Completeness in SNR bins, for the report.
    let bins = [
        (5.0, 7.0),
        (7.0, 10.0),
        (10.0, 15.0),
        (15.0, 30.0),
        (30.0, 1e9),
    ];
    let per_bin: Vec<String> = bins
        .iter()
        .map(|&(lo, hi)| {
            let set: Vec<&Expected> = expected
                .iter()
                .filter(|e| {
                    e.snr >= lo && e.snr < hi && e.isolated && inside(e.star.x_px, e.star.y_px, 5.0)
                })
                .collect();
            let n = set
                .iter()
                .filter(|e| nearest(e.star.x_px, e.star.y_px).is_some_and(|(_, d)| d < 1.5))
                .count();
            format!("SNR {lo}-{hi}: {n}/{}", set.len())
        })
        .collect();

    // Purity: detections farther than 3 px from every truth star (of any brightness).
    let spurious: Vec<&Source> = sources
        .iter()
        .filter(|s| {
            frame
                .stars
                .iter()
                .all(|t| (t.x_px - s.x).hypot(t.y_px - s.y) > 3.0)
        })
        .collect();

    // Centroids of clean, isolated stars with SNR > 100.
    let (mut dx, mut dy) = (Vec::new(), Vec::new());
    let mut fwhms = Vec::new();
    for e in expected
        .iter()
        .filter(|e| e.snr > 100.0 && e.isolated && inside(e.star.x_px, e.star.y_px, 20.0))
    {
        let Some((s, d)) = nearest(e.star.x_px, e.star.y_px) else {
            continue;
        };
        if d < 1.5 && s.is_clean(source_flag::NOT_CLEAN) {
            dx.push(s.x - e.star.x_px);
            dy.push(s.y - e.star.y_px);
            fwhms.push(s.fwhm_px);
        }
    }
    let rms = |v: &[f64]| (v.iter().map(|d| d * d).sum::<f64>() / v.len() as f64).sqrt();
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let median_fwhm = cometphot::stats::median(&fwhms).unwrap();
    println!(
        "detection: {} sources, {} truth stars; completeness (SNR ≥ 10, isolated) {found}/{} = \
         {:.1} %; {}; spurious {}; centroid rms (SNR > 100, n = {}) x {:.4} px, y {:.4} px, \
         mean offset ({:.4}, {:.4}) px; median FWHM {:.2} px (true {:.2} px); window σ {:.2} px; \
         detection took {detect_s:.2} s",
        sources.len(),
        frame.stars.len(),
        testable.len(),
        100.0 * completeness,
        per_bin.join(", "),
        spurious.len(),
        dx.len(),
        rms(&dx),
        rms(&dy),
        mean(&dx),
        mean(&dy),
        median_fwhm,
        fwhm,
        det.window_sigma_px,
    );
    for s in &spurious {
        println!("  spurious: {s:?}");
    }
    for e in &testable {
        let n = nearest(e.star.x_px, e.star.y_px);
        if n.is_none_or(|(_, d)| d >= 1.5) {
            println!(
                "  missed: ({:.1}, {:.1}) mag {:.2} SNR {:.1}; nearest {:?}",
                e.star.x_px, e.star.y_px, e.star.mag, e.snr, n
            );
        }
    }
    assert!(
        testable.len() > 100,
        "only {} testable stars",
        testable.len()
    );
    assert!(completeness >= 0.95, "completeness {completeness}");
    // Stars just off the image edge leave truncated, NEAR_EDGE detections whose centroids
    // are off by more than 3 px: real, but counted here.
    let inner = spurious
        .iter()
        .filter(|s| s.flags & source_flag::NEAR_EDGE == 0)
        .count();
    assert!(
        inner <= 2 && (spurious.len() as f64) < 0.01 * sources.len() as f64,
        "{} spurious detections ({inner} away from the edges)",
        spurious.len()
    );
    assert!(dx.len() >= 25, "only {} bright stars", dx.len());
    assert!(rms(&dx) < 0.05 && rms(&dy) < 0.05);
    assert!(
        (median_fwhm / fwhm - 1.0).abs() < 0.15,
        "FWHM {median_fwhm} vs {fwhm}"
    );
    // No cosmic ray (all masked) became a source.
    assert!(sources
        .iter()
        .all(|s| frame
            .cosmic
            .iter()
            .all(|&(x, y)| (x as f64 - s.x).hypot(y as f64 - s.y) > 1.0
                || frame
                    .stars
                    .iter()
                    .any(|t| (t.x_px - s.x).hypot(t.y_px - s.y) < 3.0))));
}

/// Standard coordinates (arcsec east, north) of `(ra, dec)` about `(ra0, dec0)`.
fn offset_arcsec(ra0: f64, dec0: f64, ra: f64, dec: f64) -> (f64, f64) {
    let probe = TanWcs {
        crpix_px: [0.0, 0.0],
        crval_deg: [ra0, dec0],
        cd_deg_per_px: [[1.0 / 3600.0, 0.0], [0.0, 1.0 / 3600.0]],
    };
    probe.world_to_pixel(ra, dec).unwrap()
}

#[test]
fn wcs_refinement_recovers_pointing_error_and_rotation() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = base_config("[501:1500, 501:1500]");
    config.pointing_error_arcsec = 20.0;
    config.rotation_deg = 0.3;
    config.science_exptime_s = 120.0;
    config.star_density_per_arcmin2 = 10.0;
    config.star_mag_min = 16.0;
    config.star_mag_max = 22.0;
    config.cosmic_rays_per_frame = 30;
    config.comet.enabled = true;
    let (night, frame) = simulate_frame(&config, dir.path());
    let (image, mask) = calibrate(&config, &frame);
    let (w, h) = (image.width(), image.height());
    let bkg = estimate_background(&image, Some(&mask), None, &BackgroundParams::default()).unwrap();
    let det = detect_sources(&image, &bkg, Some(&mask), &DetectParams::default()).unwrap();
    let catalogue: Vec<ReferenceStar> = night.catalogue.iter().map(ReferenceStar::from).collect();
    let header_wcs = TanWcs::from_header(&frame.header).unwrap();
    let t = &frame.truth;
    let (true_ra, true_dec) = (t.pointing_ra_deg, t.pointing_dec_deg);

    // (1) The header WCS as written (right rotation, 20″ off); (2) the same with its rotation
    // set to 0 (0.3° wrong).
    let derotated = TanWcs::north_up(
        header_wcs.crpix_px,
        header_wcs.crval_deg,
        header_wcs.scale_arcsec_per_px(),
        0.0,
    );
    for (name, start) in [("header", &header_wcs), ("derotated header", &derotated)] {
        let r = refine_wcs(
            &det.sources,
            &catalogue,
            start,
            w,
            h,
            &RefineParams::default(),
        )
        .unwrap();
        let (e, n) = offset_arcsec(true_ra, true_dec, r.wcs.crval_deg[0], r.wcs.crval_deg[1]);
        let pa = y_axis_position_angle_deg(&r.wcs);
        let scale = r.wcs.scale_arcsec_per_px() / config.pixel_scale_arcsec_per_px - 1.0;
        println!(
            "astrometry ({name}): pointing error truth ({:.3}, {:.3})″, recovered ({:.3}, {:.3})″, \
             residual ({:.4}, {:.4})″; rotation {:.5}° (truth 0.3°); scale error {:.2e}; \
             {} matches, rms {:.4}″, {} votes",
            t.pointing_error_east_arcsec,
            t.pointing_error_north_arcsec,
            -r.shift_east_arcsec,
            -r.shift_north_arcsec,
            e,
            n,
            pa,
            scale,
            r.n_matched,
            r.rms_arcsec,
            r.votes,
        );
        assert!(e.hypot(n) < 0.1, "{name}: CRVAL off by ({e}, {n})″");
        assert!((r.shift_east_arcsec + t.pointing_error_east_arcsec).abs() < 0.1);
        assert!((r.shift_north_arcsec + t.pointing_error_north_arcsec).abs() < 0.1);
        assert!((pa - 0.3).abs() < 0.01, "{name}: rotation {pa}");
        assert!(scale.abs() < 1e-3);
        assert!(r.n_matched >= 20 && r.rms_arcsec < 0.05, "{r:?}");
        // Every kept match is the right star: its catalogue position through the true WCS
        // is at the detection.
        for &(i, k) in &r.matches {
            let s = &det.sources[i];
            let (x, y) = r
                .wcs
                .world_to_pixel(catalogue[k].ra_deg, catalogue[k].dec_deg)
                .unwrap();
            assert!((x - s.x).hypot(y - s.y) < 0.5);
        }
        // The comet's true sky position lands on its true pixel.
        let comet = t.comet.as_ref().unwrap();
        let (x, y) = r.wcs.world_to_pixel(comet.ra_deg, comet.dec_deg).unwrap();
        assert!((x - comet.x_px).hypot(y - comet.y_px) < 0.3);
    }
}

#[test]
fn too_few_stars_and_empty_or_nan_images_are_errors_not_panics() {
    let dir = tempfile::tempdir().unwrap();
    // A nearly empty field: at most a couple of stars.
    let mut config = base_config("[801:1100, 801:1100]");
    config.star_density_per_arcmin2 = 0.5;
    config.pointing_error_arcsec = 20.0;
    let (night, frame) = simulate_frame(&config, dir.path());
    let (image, mask) = calibrate(&config, &frame);
    let bkg = estimate_background(&image, Some(&mask), None, &BackgroundParams::default()).unwrap();
    let det = detect_sources(&image, &bkg, Some(&mask), &DetectParams::default()).unwrap();
    let catalogue: Vec<ReferenceStar> = night.catalogue.iter().map(ReferenceStar::from).collect();
    let wcs = TanWcs::from_header(&frame.header).unwrap();
    let err = refine_wcs(
        &det.sources,
        &catalogue,
        &wcs,
        image.width(),
        image.height(),
        &RefineParams::default(),
    )
    .unwrap_err();
    println!("few stars ({} detected): {err}", det.sources.len());
    assert!(
        matches!(err, AstrometryError::TooFewMatches { .. }),
        "{err:?}"
    );

    // Empty and all-NaN images.
    let p = BackgroundParams::default();
    assert!(matches!(
        estimate_background(&Image::filled(0, 0, 0.0), None, None, &p),
        Err(BackgroundError::EmptyImage { .. })
    ));
    let nan = Image::filled(300, 200, f32::NAN);
    assert!(matches!(
        estimate_background(&nan, None, None, &p),
        Err(BackgroundError::NoValidPixels { .. })
    ));
    let mut all_masked = PixelMask::clear(300, 200);
    for b in all_masked.bits_mut() {
        *b = pixel_flag::BAD;
    }
    let zeros = Image::filled(300, 200, 0.0);
    assert!(estimate_background(&zeros, Some(&all_masked), None, &p).is_err());
    // Detection on a NaN image (with a usable background) finds nothing, and the refinement
    // then says so.
    let flat_bkg = estimate_background(&zeros, None, None, &p).unwrap();
    let empty = Image::filled(0, 0, 0.0);
    assert!(detect_sources(&empty, &flat_bkg, None, &DetectParams::default()).is_err());
    let none = detect_sources(&nan, &flat_bkg, None, &DetectParams::default()).unwrap();
    assert!(none.sources.is_empty());
    assert!(matches!(
        refine_wcs(
            &none.sources,
            &catalogue,
            &wcs,
            300,
            200,
            &RefineParams::default()
        ),
        Err(AstrometryError::TooFewMatches { found: 0, .. })
    ));
}

/// Timing of background, detection and WCS refinement on a full ALFOSC data area
/// (`cargo test --release --test sources -- --ignored --nocapture`).
#[test]
#[ignore]
fn timing_full_frame() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = base_config("[53:2100, 1:2052]");
    config.star_density_per_arcmin2 = 10.0;
    config.comet.enabled = true;
    let (night, frame) = simulate_frame(&config, dir.path());
    let (image, mask) = calibrate(&config, &frame);
    let t = std::time::Instant::now();
    let bkg = estimate_background(&image, Some(&mask), None, &BackgroundParams::default()).unwrap();
    let t_bkg = t.elapsed().as_secs_f64();
    let det = detect_sources(&image, &bkg, Some(&mask), &DetectParams::default()).unwrap();
    let t_det = t.elapsed().as_secs_f64() - t_bkg;
    let catalogue: Vec<ReferenceStar> = night.catalogue.iter().map(ReferenceStar::from).collect();
    let wcs = TanWcs::from_header(&frame.header).unwrap();
    let r = refine_wcs(
        &det.sources,
        &catalogue,
        &wcs,
        image.width(),
        image.height(),
        &RefineParams::default(),
    )
    .unwrap();
    let t_wcs = t.elapsed().as_secs_f64() - t_bkg - t_det;
    println!(
        "full frame {}x{}: background {t_bkg:.3} s, detection {t_det:.3} s ({} sources), \
         wcs {t_wcs:.3} s ({} matches)",
        image.width(),
        image.height(),
        det.sources.len(),
        r.n_matched
    );
}
