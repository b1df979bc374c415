//! Reduction tests: simulated ALFOSC nights with known truth, the real EFOSC2 bias / flat /
//! science set in data/real/efosc2, bad inputs, and the `reduce` command.
//!
//! Measured figures are printed (run with `--nocapture`) and quoted in the comments.

mod common;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use cometphot::frame::header::HeaderValue;
use cometphot::frame::profile::{ProfileChoice, ProfileRegistry};
use cometphot::frame::read::{read_frame, FitsSource};
use cometphot::image::{pixel_flag, Image};
use cometphot::reduce::calibrate::{
    calibrate_frame, calibrate_frame_owned, calibrate_prepared, Calibrated,
};
use cometphot::reduce::combine::CombineMethod;
use cometphot::reduce::cosmic::LaCosmicOptions;
use cometphot::reduce::illumination::{build_illumination, IlluminationOptions};
use cometphot::reduce::master::{
    build_master_bias, build_master_flat, build_master_flat_from, central_region, clipped_stats,
    normalise_flat, MasterBias, MasterFlat, Masters,
};
use cometphot::reduce::overscan::OverscanOptions;
use cometphot::reduce::pipeline::{output_name, reduce_directory, reduce_files, ReduceOptions};
use cometphot::reduce::prepare::{prepare_frame, prepare_frame_owned, PreparedFrame};
use cometphot::reduce::write::read_calibrated;
use cometphot::reduce::{CalibratedFrame, ReduceError};
use cometphot::simulate::{
    night_bias_pattern, night_flat_pattern, run, CometConfig, CometPosition, FrameKind,
    NightConfig, SimulatedNight,
};
use cometphot::stats::SigmaClip;

/// Raw columns before the data area in a window starting at detector column 1 (prescan).
const X0: usize = 52;

/// A small seeded ALFOSC night: 400 × 300 px window from detector column 1 (so the full
/// 50-column prescan BIASSEC [3:52] is read), 348 × 300 data pixels.
fn small_night(seed: u64, star_density: f64) -> NightConfig {
    NightConfig {
        seed,
        n_bias: 5,
        n_flat: 7,
        n_science: 2,
        detector_window: "[1:400, 1:300]".to_string(),
        flat_level_adu: 50_000.0,
        star_density_per_arcmin2: star_density,
        cosmic_rays_per_frame: 30,
        comet: CometConfig {
            position: CometPosition::Pixel {
                x_px: 226.0,
                y_px: 150.0,
            },
            coma_outer_radius_arcsec: 10.0,
            ..CometConfig::default()
        },
        ..NightConfig::default()
    }
}

fn registry() -> ProfileRegistry {
    ProfileRegistry::shipped().unwrap()
}

fn prepare(path: &Path) -> PreparedFrame {
    prepare_with(path, &ProfileChoice::Detect)
}

fn prepare_with(path: &Path, choice: &ProfileChoice) -> PreparedFrame {
    let frame = read_frame(path, choice, &registry()).unwrap();
    prepare_frame(&frame, &OverscanOptions::default()).unwrap()
}

fn files_of(night: &SimulatedNight, kind: FrameKind) -> Vec<PathBuf> {
    night
        .frames
        .iter()
        .zip(&night.fits_files)
        .filter(|(t, _)| t.frame_type == kind)
        .map(|(_, p)| p.clone())
        .collect()
}

fn masters_of(night: &SimulatedNight, method: CombineMethod) -> (MasterBias, MasterFlat) {
    let mut options = ReduceOptions::new(registry()).combine;
    options.method = method;
    let biases: Vec<PreparedFrame> = files_of(night, FrameKind::Bias)
        .iter()
        .map(|p| prepare(p))
        .collect();
    let bias = build_master_bias(&biases.iter().collect::<Vec<_>>(), &options).unwrap();
    let flats: Vec<PreparedFrame> = files_of(night, FrameKind::Flat)
        .iter()
        .map(|p| prepare(p))
        .collect();
    let flat = build_master_flat(&flats.iter().collect::<Vec<_>>(), &bias, &options).unwrap();
    (bias, flat)
}

fn to_masters(bias: MasterBias, flat: MasterFlat) -> Masters {
    let mut m = Masters::default();
    m.flats
        .insert((flat.layout.clone(), flat.filter.clone()), flat);
    m.biases.insert(bias.layout.clone(), bias);
    m
}

fn values(img: &Image) -> Vec<f64> {
    img.data().iter().map(|&v| f64::from(v)).collect()
}

/// The simulator's flat response on the trimmed grid, normalised like the master (median 1
/// in the central region), and the normalisation factor c: a flat-fielded image holds
/// c × (true electrons).
fn true_flat(config: &NightConfig, width: usize, height: usize) -> (Image, f64) {
    true_flat_at(config, [X0, 0], width, height)
}

/// As [`true_flat`] for a trimmed grid whose pixel (0, 0) is detector pixel `origin`.
fn true_flat_at(
    config: &NightConfig,
    origin: [usize; 2],
    width: usize,
    height: usize,
) -> (Image, f64) {
    let pattern = night_flat_pattern(config);
    let data = (0..height)
        .flat_map(|y| (0..width).map(move |x| (x, y)))
        .map(|(x, y)| pattern.response(x + origin[0], y + origin[1]) as f32)
        .collect();
    let img = Image::new(width, height, data).unwrap();
    let region = central_region(width, height);
    let c = clipped_stats(&img, Some(&region)).unwrap().median;
    let data = img.data().iter().map(|v| v / c as f32).collect();
    (Image::new(width, height, data).unwrap(), c)
}

/// Every pixel value (to the bit), flag and HISTORY line of `calibrate_frame`'s result and of
/// `calibrate_prepared`'s are the same (but for the lines only `calibrate_frame` writes: its
/// first, and the names of the masters' frames at the end).
fn assert_same_calibration(fused: &Calibrated, separate: &Calibrated, what: &str) {
    let bits = |c: &Calibrated| -> Vec<u32> {
        c.frame.image_e.data().iter().map(|v| v.to_bits()).collect()
    };
    assert!(bits(fused) == bits(separate), "{what}: pixel values differ");
    assert!(
        fused.frame.mask == separate.frame.mask,
        "{what}: masks differ"
    );
    let mut history = separate.frame.history.clone();
    history.insert(0, fused.frame.history[0].clone());
    history.extend(fused.frame.history[history.len()..].iter().cloned());
    assert_eq!(fused.frame.history, history, "{what}");
    assert_eq!(fused.frame.wcs, separate.frame.wcs, "{what}");
}

/// `calibrate_frame` applies the masters to each row as the preparation makes it: the same
/// frame, flags and HISTORY as preparing first and calibrating after, for single-amplifier
/// frames (fused), a mosaic (not fused) and masters of the wrong size (the same error).
#[test]
fn calibrating_during_the_preparation_equals_preparing_then_calibrating() {
    let dir = tempfile::tempdir().unwrap();
    let config = small_night(31, 40.0);
    let night = run(&config, dir.path()).unwrap();
    let (bias, flat) = masters_of(&night, CombineMethod::Median);
    let masters = to_masters(bias.clone(), flat.clone());
    let overscan = OverscanOptions::default();
    for path in files_of(&night, FrameKind::Science) {
        let frame = read_frame(&path, &ProfileChoice::Detect, &registry()).unwrap();
        let fused = calibrate_frame(&frame, &masters, &overscan, None).unwrap();
        let prepared = prepare_frame(&frame, &overscan).unwrap();
        let separate = calibrate_prepared(prepared, &bias, &flat, None).unwrap();
        assert_same_calibration(&fused, &separate, &path.display().to_string());
        assert!(fused.frame.mask.count(pixel_flag::SATURATED) > 0);
    }

    // Masters one row short: the size is refused whichever way the frame is calibrated.
    let path = &files_of(&night, FrameKind::Science)[0];
    let frame = read_frame(path, &ProfileChoice::Detect, &registry()).unwrap();
    let crop = |img: &Image| {
        let (w, h) = (img.width(), img.height() - 1);
        Image::new(w, h, img.data()[..w * h].to_vec()).unwrap()
    };
    let mut short_bias = bias.clone();
    short_bias.image_e = crop(&bias.image_e);
    let fused = calibrate_frame(
        &frame,
        &to_masters(short_bias.clone(), flat.clone()),
        &overscan,
        None,
    );
    let prepared = prepare_frame(&frame, &overscan).unwrap();
    let separate = calibrate_prepared(prepared, &short_bias, &flat, None);
    match (fused, separate) {
        (Err(a), Err(b)) => {
            assert_eq!(a.to_string(), b.to_string());
            assert!(a.to_string().contains("master bias"), "{a}");
        }
        other => panic!("expected two size errors, got {other:?}"),
    }

    // A four-amplifier mosaic (LCO Sinistro), calibrated with masters made from itself.
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("data/real/sinistro-saao/lco_sinistro_fa05_raw_mef_2021SO2.fits.gz");
    let frame = read_frame(&path, &ProfileChoice::Detect, &registry()).unwrap();
    let prepared = prepare_frame(&frame, &overscan).unwrap();
    let options = ReduceOptions::new(registry()).combine;
    // Its own master bias has its own level: a flat level of 0 e-; a flat bias level instead
    // (with a BAD pixel, whose flag must reach the calibrated mask).
    let mut bias = build_master_bias(&[&prepared], &options).unwrap();
    let (w, h) = (bias.image_e.width(), bias.image_e.height());
    bias.image_e = Image::filled(w, h, 100.0);
    bias.mask.flag(700, 300, pixel_flag::BAD);
    let flat = build_master_flat(&[&prepared], &bias, &options).unwrap();
    let fused = calibrate_frame(
        &frame,
        &to_masters(bias.clone(), flat.clone()),
        &overscan,
        None,
    )
    .unwrap();
    let separate = calibrate_prepared(prepared, &bias, &flat, None).unwrap();
    assert_same_calibration(&fused, &separate, "Sinistro mosaic");
    assert!(fused.frame.mask.has(700, 300, pixel_flag::BAD));
}

/// The ways that reuse a frame's buffers (preparing and calibrating a raw frame in its own
/// pixels, normalising flats in their prepared images, folding biases' flags into their
/// pixels) give what the copying ways give, to the bit: prepared biases, flats and science
/// frames, the master bias (with flagged pixels), the master flat (with an unusable flat
/// among the inputs), science frames calibrated with and without cosmic-ray cleaning,
/// and a four-amplifier mosaic (not prepared in place).
#[test]
fn frames_reduced_in_their_own_buffers_equal_the_copies() {
    let dir = tempfile::tempdir().unwrap();
    let config = small_night(33, 40.0);
    let night = run(&config, dir.path()).unwrap();
    let overscan = OverscanOptions::default();
    let bits = |img: &Image| -> Vec<u32> { img.data().iter().map(|v| v.to_bits()).collect() };
    let assert_same_prepared = |a: &PreparedFrame, b: &PreparedFrame, what: &str| {
        assert!(
            bits(&a.image_e) == bits(&b.image_e),
            "{what}: pixels differ"
        );
        assert!(a.mask == b.mask, "{what}: masks differ");
        assert_eq!(a.history, b.history, "{what}");
        assert_eq!(a.overscan_stats, b.overscan_stats, "{what}");
        assert_eq!(a.overscan_level_adu, b.overscan_level_adu, "{what}");
        assert_eq!(a.trim_offset_px, b.trim_offset_px, "{what}");
        assert_eq!(a.read_noise_e, b.read_noise_e, "{what}");
    };
    let prepared_both = |path: &Path| {
        let frame = read_frame(path, &ProfileChoice::Detect, &registry()).unwrap();
        let copied = prepare_frame(&frame, &overscan).unwrap();
        let owned = prepare_frame_owned(frame, &overscan).unwrap();
        assert_same_prepared(&owned, &copied, &path.display().to_string());
        owned
    };
    for path in files_of(&night, FrameKind::Science) {
        prepared_both(&path);
    }
    let options = ReduceOptions::new(registry()).combine;
    let biases: Vec<PreparedFrame> = files_of(&night, FrameKind::Bias)
        .iter()
        .map(|p| prepared_both(p))
        .collect();
    let bias = build_master_bias(&biases.iter().collect::<Vec<_>>(), &options).unwrap();
    // Flags folded into the pixels (no masks): the same master bias.
    let mut folded = biases.clone();
    folded[1].mask.flag(10, 20, pixel_flag::SATURATED);
    folded[3].mask.flag(11, 20, pixel_flag::BAD);
    let masked = build_master_bias(&folded.iter().collect::<Vec<_>>(), &options).unwrap();
    for f in folded.iter_mut() {
        f.fold_flags_into_nan();
    }
    let unmasked = build_master_bias(&folded.iter().collect::<Vec<_>>(), &options).unwrap();
    assert!(
        bits(&unmasked.image_e) == bits(&masked.image_e),
        "master biases differ"
    );
    assert!(unmasked.mask == masked.mask);
    assert_eq!(unmasked.history, masked.history);
    assert_eq!(unmasked.n_rejected, masked.n_rejected);
    // A folded bias among unfolded ones, or used as a flat, is refused, naming the file.
    let mut mixed = biases.clone();
    mixed[2] = folded[2].clone();
    let err = build_master_bias(&mixed.iter().collect::<Vec<_>>(), &options)
        .unwrap_err()
        .to_string();
    let name = folded[2].source.display().to_string();
    assert!(err.contains(&name) && err.contains("folded"), "{err}");
    let as_flat = normalise_flat(folded[2].clone(), &bias);
    let reason = as_flat.normalised.unwrap_err();
    assert!(reason.contains("folded"), "{reason}");
    let mut flats: Vec<PreparedFrame> = files_of(&night, FrameKind::Flat)
        .iter()
        .map(|p| prepared_both(p))
        .collect();
    // A flat too faint to use.
    for v in flats[2].image_e.data_mut() {
        *v *= 1e-4;
    }
    let copied = build_master_flat(&flats.iter().collect::<Vec<_>>(), &bias, &options).unwrap();
    let normalised = flats
        .into_iter()
        .map(|f| normalise_flat(f, &bias))
        .collect();
    let owned = build_master_flat_from(normalised, &bias, &options).unwrap();
    assert!(
        bits(&owned.image) == bits(&copied.image),
        "master flats differ"
    );
    assert!(owned.mask == copied.mask);
    assert_eq!(owned.history, copied.history);
    assert_eq!(owned.levels_e, copied.levels_e);
    assert_eq!(owned.unused, copied.unused);
    assert_eq!(owned.unused.len(), 1);
    assert_eq!(owned.sources, copied.sources);
    let err = calibrate_prepared(folded[0].clone(), &bias, &owned, None)
        .unwrap_err()
        .to_string();
    let name = folded[0].source.display().to_string();
    assert!(err.contains(&name) && err.contains("folded"), "{err}");
    assert_eq!(owned.header, copied.header);

    let masters = to_masters(bias, owned);
    let cosmic = LaCosmicOptions::default();
    for path in files_of(&night, FrameKind::Science) {
        for cosmic in [None, Some(&cosmic)] {
            let frame = read_frame(&path, &ProfileChoice::Detect, &registry()).unwrap();
            let copied = calibrate_frame(&frame, &masters, &overscan, cosmic).unwrap();
            let owned = calibrate_frame_owned(frame, &masters, &overscan, cosmic).unwrap();
            assert!(bits(&owned.frame.image_e) == bits(&copied.frame.image_e));
            assert!(owned.frame.mask == copied.frame.mask);
            assert_eq!(owned.frame.history, copied.frame.history);
            assert_eq!(owned.frame.wcs, copied.frame.wcs);
            assert_eq!(owned.cosmic, copied.cosmic);
        }
    }

    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("data/real/sinistro-saao/lco_sinistro_fa05_raw_mef_2021SO2.fits.gz");
    prepared_both(&path);
}

#[test]
fn simulated_master_bias_and_flat_match_the_truth() {
    let dir = tempfile::tempdir().unwrap();
    let config = small_night(21, 20.0);
    let night = run(&config, dir.path()).unwrap();
    let (bias, flat) = masters_of(&night, CombineMethod::ClippedMean);
    let (w, h) = (bias.image_e.width(), bias.image_e.height());
    assert_eq!((w, h), (348, 300));
    assert_eq!(bias.n_frames, 5);

    // Master bias + mean overscan level = the simulated bias B(row) + mean frame offset.
    let pattern = night_bias_pattern(&config);
    let offsets: Vec<f64> = night
        .frames
        .iter()
        .filter(|f| f.frame_type == FrameKind::Bias)
        .map(|f| f.bias_frame_offset_adu)
        .collect();
    let mean_offset = offsets.iter().sum::<f64>() / offsets.len() as f64;
    let levels = bias.overscan_level_adu.as_ref().unwrap();
    let g = config.gain_e_per_adu;
    let mut residual = Vec::with_capacity(w * h);
    let mut row_means = Vec::with_capacity(h);
    for (y, level) in levels.iter().enumerate().take(h) {
        let truth = pattern.level_at_row(y as f64) + mean_offset;
        let row: Vec<f64> = (0..w)
            .map(|x| f64::from(bias.image_e.get(x, y)) / g + level - truth)
            .collect();
        row_means.push(row.iter().sum::<f64>() / w as f64);
        residual.extend(row);
    }
    let (mean, std) = cometphot::stats::mean_std(&residual).unwrap();
    let rn_adu = config.read_noise_e / g;
    let expected = rn_adu / 5f64.sqrt();
    let row_rms = (row_means.iter().map(|m| m * m).sum::<f64>() / h as f64).sqrt();
    println!(
        "master bias (5 frames, clipped mean): level {:.2} ADU (truth {:.2}), residual mean {mean:.3} \
         ADU, per-pixel noise {std:.2} ADU = {:.3} e- (expected RN/sqrt(5) = {expected:.2} ADU), \
         row-mean rms {row_rms:.3} ADU",
        bias.level_adu(),
        config.bias_level_adu + mean_offset,
        std * g
    );
    // Measured (seed 21): residual mean ≈ 0.00 ADU, noise 12.1 ADU = 1.94 e- for an expected
    // 12.0 ADU; row means scatter 0.6 ADU (12.1/√348 = 0.65).
    assert!(mean.abs() < 0.2, "{mean}");
    assert!((std / expected - 1.0).abs() < 0.04, "{std} vs {expected}");
    assert!(row_rms < 1.3 * expected / (w as f64).sqrt(), "{row_rms}");
    assert!((bias.noise_e / (expected * g) - 1.0).abs() < 0.05);
    assert!((bias.level_adu() - (config.bias_level_adu + mean_offset)).abs() < 1.0);

    // Median combination: noise ≈ 1.2 × RN/√N (1.25 asymptotically; 1.19 for N = 5).
    let (bias_median, _) = masters_of(&night, CombineMethod::Median);
    let ratio = bias_median.noise_e / bias.noise_e;
    println!("master bias median/clipped-mean noise ratio: {ratio:.3}");
    assert!((1.1..1.3).contains(&ratio), "{ratio}");

    // Master flat vs the simulator's flat pattern, both normalised in the central region.
    let (truth, c) = true_flat(&config, w, h);
    let rel: Vec<f64> = flat
        .image
        .data()
        .iter()
        .zip(truth.data())
        .map(|(m, t)| f64::from(m / t) - 1.0)
        .collect();
    let (rel_mean, rel_rms) = cometphot::stats::mean_std(&rel).unwrap();
    // Expected per-pixel noise of the master: 1/√(Σ levels) (Poisson, the flats' levels).
    let expected_rms = 1.0 / flat.levels_e.iter().sum::<f64>().sqrt();
    // 20 × 20 px box means: the large-scale error.
    let mut worst_box: f64 = 0.0;
    for by in 0..h / 20 {
        for bx in 0..w / 20 {
            let mut s = 0.0;
            for y in by * 20..by * 20 + 20 {
                for x in bx * 20..bx * 20 + 20 {
                    s += rel[y * w + x];
                }
            }
            worst_box = worst_box.max((s / 400.0).abs());
        }
    }
    println!(
        "master flat ({} frames, levels {:?} e-): per-pixel rms vs truth {:.3}% (Poisson {:.3}%), \
         mean {:.4}%, worst 20x20 box {:.3}%, {} BAD, normalisation c = {c:.4}",
        flat.n_frames,
        flat.levels_e.iter().map(|l| l.round()).collect::<Vec<_>>(),
        100.0 * rel_rms,
        100.0 * expected_rms,
        100.0 * rel_mean,
        100.0 * worst_box,
        flat.n_bad
    );
    // Measured (seed 21): rms 0.42% (Poisson 0.42%), worst box 0.05%.
    assert!(rel_rms < 0.005, "{rel_rms}");
    assert!(rel_rms < 1.1 * expected_rms, "{rel_rms} vs {expected_rms}");
    assert!(worst_box < 0.0015, "{worst_box}");
    assert_eq!(flat.n_bad, 0);
    assert!(flat.unused.is_empty());
}

/// Detection statistics of the cosmic-ray cleaner on one calibrated frame.
struct CosmicStats {
    truth: usize,
    detected: usize,
    flagged: usize,
    /// Flagged pixels more than 1 px away from every hit.
    false_positive: usize,
    /// Of those, within 4 px of a star or of the comet.
    false_on_sources: usize,
}

/// Pixels flagged COSMIC_RAY more than 1 px from every hit of the truth table.
fn flagged_away_from_hits(
    frame: &CalibratedFrame,
    night: &SimulatedNight,
    file: &str,
) -> Vec<(usize, usize)> {
    let hits: Vec<(usize, usize)> = night
        .cosmic_rays
        .iter()
        .filter(|c| c.file == file)
        .map(|c| (c.x_px - X0, c.y_px))
        .collect();
    let m = &frame.mask;
    (0..m.height())
        .flat_map(|y| (0..m.width()).map(move |x| (x, y)))
        .filter(|&(x, y)| m.has(x, y, pixel_flag::COSMIC_RAY))
        .filter(|&(x, y)| {
            !hits
                .iter()
                .any(|&(hx, hy)| hx.abs_diff(x) <= 1 && hy.abs_diff(y) <= 1)
        })
        .collect()
}

fn cosmic_stats(frame: &CalibratedFrame, night: &SimulatedNight, file: &str) -> CosmicStats {
    let hits: HashSet<(usize, usize)> = night
        .cosmic_rays
        .iter()
        .filter(|c| c.file == file)
        .map(|c| (c.x_px - X0, c.y_px))
        .collect();
    let mask = &frame.mask;
    let detected = hits
        .iter()
        .filter(|&&(x, y)| mask.has(x, y, pixel_flag::COSMIC_RAY))
        .count();
    let near_hit = |x: usize, y: usize| {
        hits.iter()
            .any(|&(hx, hy)| hx.abs_diff(x) <= 1 && hy.abs_diff(y) <= 1)
    };
    let truth = night.frames.iter().find(|f| f.file == file).unwrap();
    let mut sources: Vec<(f64, f64)> = night
        .stars
        .iter()
        .filter(|s| s.file == file)
        .map(|s| (s.x_px - X0 as f64, s.y_px))
        .collect();
    if let Some(c) = &truth.comet {
        sources.push((c.x_px - X0 as f64, c.y_px));
    }
    let (mut flagged, mut false_positive, mut false_on_sources) = (0, 0, 0);
    for y in 0..mask.height() {
        for x in 0..mask.width() {
            if !mask.has(x, y, pixel_flag::COSMIC_RAY) {
                continue;
            }
            flagged += 1;
            if near_hit(x, y) {
                continue;
            }
            false_positive += 1;
            if sources
                .iter()
                .any(|&(sx, sy)| (x as f64 - sx).hypot(y as f64 - sy) <= 4.0)
            {
                false_on_sources += 1;
            }
        }
    }
    CosmicStats {
        truth: hits.len(),
        detected,
        flagged,
        false_positive,
        false_on_sources,
    }
}

#[test]
fn simulated_science_frames_sky_masks_cosmic_rays_and_files() {
    let dir = tempfile::tempdir().unwrap();
    let config = small_night(22, 20.0);
    let night = run(&config, dir.path()).unwrap();
    let (bias, flat) = masters_of(&night, CombineMethod::ClippedMean);
    let (w, h) = (bias.image_e.width(), bias.image_e.height());
    let (_, c) = true_flat(&config, w, h);
    let masters = to_masters(bias, flat);
    let cosmic = LaCosmicOptions::default();
    let (mut truth_total, mut detected_total, mut false_total, mut flagged_total) = (0, 0, 0, 0);
    for (truth, path) in night.frames.iter().zip(&night.fits_files) {
        if truth.frame_type != FrameKind::Science {
            continue;
        }
        let frame = read_frame(path, &ProfileChoice::Detect, &registry()).unwrap();
        let calibrated =
            calibrate_frame(&frame, &masters, &OverscanOptions::default(), Some(&cosmic)).unwrap();
        let f = &calibrated.frame;
        assert_eq!((f.image_e.width(), f.image_e.height()), (w, h));
        assert_eq!(f.gain_e_per_adu, config.gain_e_per_adu);
        assert_eq!(f.read_noise_e, config.read_noise_e);

        // Sky: pixels away from the comet (> 70 px) and from every star (> 15 px).
        let comet = truth.comet.as_ref().unwrap();
        let stars: Vec<(f64, f64)> = night
            .stars
            .iter()
            .filter(|s| s.file == truth.file)
            .map(|s| (s.x_px - X0 as f64, s.y_px))
            .collect();
        let mut sky = Vec::new();
        for y in 0..h {
            for x in 0..w {
                let (xf, yf) = (x as f64, y as f64);
                if (xf - (comet.x_px - X0 as f64)).hypot(yf - comet.y_px) < 70.0
                    || stars
                        .iter()
                        .any(|&(sx, sy)| (xf - sx).hypot(yf - sy) < 15.0)
                    || f.mask.get(x, y) != 0
                {
                    continue;
                }
                sky.push(f64::from(f.image_e.get(x, y)));
            }
        }
        let s = SigmaClip::default().apply(&sky).unwrap();
        let expected = truth.sky_e_per_px * c;
        let err = s.std * 1.25 / (s.n_kept as f64).sqrt();
        println!(
            "{}: sky {:.3} e- (truth {:.2} x c {c:.4} = {expected:.2}; {} px, ±{err:.2}), \
             noise {:.2} e- (expected {:.2})",
            truth.file,
            s.median,
            truth.sky_e_per_px,
            s.n_kept,
            s.std,
            (expected + config.read_noise_e.powi(2)).sqrt()
        );
        // Measured (seed 22): 855.9 vs 856.0 e- (±0.2), noise 29.6 e- (expected 29.6).
        assert!((s.median - expected).abs() < 5.0 * err + 0.001 * expected);
        assert!((s.std / (expected + config.read_noise_e.powi(2)).sqrt() - 1.0).abs() < 0.03);

        // Saturated star cores are flagged; the WCS moved by the prescan.
        let n_sat = f.mask.count(pixel_flag::SATURATED);
        let raw_wcs = frame.meta().wcs.as_ref().unwrap();
        let wcs = f.wcs.as_ref().unwrap();
        assert_eq!(wcs.crpix_px[0], raw_wcs.crpix_px[0] - X0 as f64);
        assert_eq!(wcs.crpix_px[1], raw_wcs.crpix_px[1]);
        let (ra, dec) = raw_wcs.pixel_to_world(200.0, 100.0);
        let (x, y) = wcs.world_to_pixel(ra, dec).unwrap();
        assert!((x - (200.0 - X0 as f64)).abs() < 1e-6 && (y - 100.0).abs() < 1e-6);

        let cs = cosmic_stats(f, &night, &truth.file);
        println!(
            "{}: cosmic rays: {}/{} hit pixels flagged ({:.1}%), {} flagged in all, {} more than \
             1 px from a hit, {} of them within 4 px of a star or the comet; {} saturated px",
            truth.file,
            cs.detected,
            cs.truth,
            100.0 * cs.detected as f64 / cs.truth as f64,
            cs.flagged,
            cs.false_positive,
            cs.false_on_sources,
            n_sat
        );
        assert_eq!(cs.false_on_sources, 0, "pixels of stars or coma flagged");
        truth_total += cs.truth;
        detected_total += cs.detected;
        false_total += cs.false_positive;
        flagged_total += cs.flagged;
    }
    let rate = detected_total as f64 / truth_total as f64;
    println!(
        "cosmic rays over the night: detection rate {:.1}% ({detected_total}/{truth_total}), \
         {false_total} flagged pixels away from any hit (of {flagged_total} flagged)",
        100.0 * rate
    );
    // Measured (seed 22): 100% of the hit pixels, no false detection on stars or coma; the
    // few flagged pixels away from hits are isolated noise peaks (4.5σ in the Laplacian).
    assert!(rate > 0.95, "{rate}");
    assert!(false_total <= 10, "{false_total}");

    // The same night through the directory pipeline: files written, read back identical.
    let out = tempfile::tempdir().unwrap();
    let frames: Mutex<Vec<CalibratedFrame>> = Mutex::new(Vec::new());
    let files: Vec<PathBuf> = night.fits_files.clone();
    let options = ReduceOptions::new(registry());
    let report = reduce_files(
        &files,
        Some(out.path()),
        &options,
        &|f| frames.lock().unwrap().push(f.clone()),
        &|_| {},
    );
    assert!(report.skipped.is_empty(), "{:?}", report.skipped);
    assert_eq!(report.reduced.len(), 2);
    let frames = frames.into_inner().unwrap();
    for r in &report.reduced {
        let written = r.output.as_ref().unwrap();
        let back = read_calibrated(written, &registry()).unwrap();
        let mem = frames.iter().find(|f| f.source == r.source).unwrap();
        assert_eq!(back.image_e.data().len(), mem.image_e.data().len());
        assert!(back
            .image_e
            .data()
            .iter()
            .zip(mem.image_e.data())
            .all(|(a, b)| a == b || (a.is_nan() && b.is_nan())));
        assert_eq!(back.mask, mem.mask);
        assert_eq!(back.wcs, mem.wcs);
        assert_eq!(back.gain_e_per_adu, config.gain_e_per_adu);
        assert_eq!(back.meta.filter.as_deref(), Some("R_Bes 650_130"));
        assert_eq!(back.meta.mid_exposure_utc, mem.meta.mid_exposure_utc);
        assert_eq!(back.history, mem.history);
        let mut src = FitsSource::open(written).unwrap();
        let hdus: Vec<_> = src.image_hdus().into_iter().map(|h| h.unwrap()).collect();
        let header = &hdus[0].header;
        assert_eq!(header.text("BUNIT").as_deref(), Some("electron"));
        assert_eq!(header.number("GAIN"), Some(1.0));
        assert_eq!(header.number("RDNOISE"), Some(config.read_noise_e));
        assert!(header.get("BIASSEC").is_none());
        assert_eq!(header.get("CPREDUCE"), Some(&HeaderValue::Bool(true)));
        for key in [
            "DATE-OBS", "DATE-AVG", "EXPTIME", "FAFLTNM", "OBJECT", "AIRMASS", "OBSGEO-X",
        ] {
            assert!(header.contains(key), "{key} missing");
        }
        assert_eq!(hdus[1].extname.as_deref(), Some("MASK"));
        assert!(r.sky_median_e > 800.0 && r.n_cosmic_ray > 0);
    }
    assert_eq!(report.masters.len(), 2);
    for m in &report.masters {
        assert!(m.output.as_ref().unwrap().exists());
    }
    // Inputs untouched: identical bytes to a fresh simulation of the same night.
    let again = tempfile::tempdir().unwrap();
    let night2 = run(&config, again.path()).unwrap();
    for (a, b) in night.fits_files.iter().zip(&night2.fits_files) {
        assert_eq!(std::fs::read(a).unwrap(), std::fs::read(b).unwrap());
    }
}

#[test]
fn simulated_comet_flux_is_preserved() {
    // No stars: everything above the sky near the comet is the comet.
    let dir = tempfile::tempdir().unwrap();
    let config = small_night(23, 0.0);
    let night = run(&config, dir.path()).unwrap();
    let (bias, flat) = masters_of(&night, CombineMethod::ClippedMean);
    let (w, h) = (bias.image_e.width(), bias.image_e.height());
    let (_, c) = true_flat(&config, w, h);
    let masters = to_masters(bias, flat);
    for (truth, path) in night.frames.iter().zip(&night.fits_files) {
        if truth.frame_type != FrameKind::Science {
            continue;
        }
        let frame = read_frame(path, &ProfileChoice::Detect, &registry()).unwrap();
        let cal = calibrate_frame(
            &frame,
            &masters,
            &OverscanOptions::default(),
            Some(&LaCosmicOptions::default()),
        )
        .unwrap();
        let f = &cal.frame;
        let comet = truth.comet.as_ref().unwrap();
        let (cx, cy) = (comet.x_px - X0 as f64, comet.y_px);
        let (r_in, r_sky) = (55.0, 65.0);
        let (mut sum, mut n_in, mut sky) = (0.0, 0usize, Vec::new());
        for y in 0..h {
            for x in 0..w {
                let r = (x as f64 - cx).hypot(y as f64 - cy);
                let v = f64::from(f.image_e.get(x, y));
                if r <= r_in {
                    sum += v;
                    n_in += 1;
                } else if r >= r_sky {
                    sky.push(v);
                }
            }
        }
        let s = SigmaClip::default().apply(&sky).unwrap();
        let flux = sum - s.median * n_in as f64;
        let expected = comet.flux_e * c;
        let sigma = (n_in as f64 * s.std * s.std
            + expected
            + (n_in as f64 * 1.25 * s.std / (s.n_kept as f64).sqrt()).powi(2))
        .sqrt();
        let coma_flagged = (0..h)
            .flat_map(|y| (0..w).map(move |x| (x, y)))
            .filter(|&(x, y)| (x as f64 - cx).hypot(y as f64 - cy) <= 5.0)
            .filter(|&(x, y)| f.mask.has(x, y, pixel_flag::COSMIC_RAY))
            .filter(|&(x, y)| {
                !night.cosmic_rays.iter().any(|c| {
                    c.file == truth.file
                        && (c.x_px - X0).abs_diff(x) <= 1
                        && c.y_px.abs_diff(y) <= 1
                })
            })
            .count();
        println!(
            "{}: comet flux {flux:.0} e- vs truth {:.0} x c {c:.4} = {expected:.0} e- \
             ({:+.3}%, {:.1} sigma, sigma {sigma:.0} e-); {coma_flagged} coma-core pixels flagged",
            truth.file,
            comet.flux_e,
            100.0 * (flux / expected - 1.0),
            (flux - expected) / sigma
        );
        // Measured (seed 23): −0.05% and +0.28% (−0.2σ, +0.9σ), σ ≈ 3,100 e- of 1.04e6 e-.
        assert!((flux - expected).abs() < 4.0 * sigma);
        assert_eq!(coma_flagged, 0);
    }
}

fn efosc(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("data/real/efosc2")
        .join(name)
}

const EFOSC_BIAS: &str = "EFOSC.2022-01-26T19-02-38.210.fits.gz";
const EFOSC_FLAT: &str = "EFOSC.2022-01-28T00-08-16.282.fits.gz";
const EFOSC_SCIENCE: &str = "EFOSC.2022-01-28T04-54-24.341.fits.gz";
/// The second science frame, same pointing 11 min later.
const EFOSC_SCIENCE_2: &str = "EFOSC.2022-01-28T05-05-25.843.fits.gz";

/// The EFOSC2 profile with other sections. The pixel data show that FITS columns 1–6 (the
/// profile's prescan until it was corrected) are illuminated in the flat
/// (22,500–35,000 ADU) and the science frame (~100 ADU of sky), while columns 1024–1029
/// read the bias level (216 ADU in the bias, 214–219 in the science frame; column 1030
/// picks up charge: 5,970 ADU in the flat). The read-out port is at X = 2048 (ESO DET OUT1
/// X), so the 6 prescan columns (PRSCX) come out on the right of the image. Rows 1025–1030
/// are the overscan rows (OVSCY = 6). Data: columns 1–1023, rows 1–1024.
fn efosc2_profile(overscan: &str, data: &str) -> ProfileChoice {
    let mut p = registry().by_name("efosc2").unwrap().clone();
    p.defaults.overscan_section = Some(overscan.into());
    p.defaults.data_section = Some(data.into());
    ProfileChoice::Fixed(Box::new(p))
}

/// The shipped EFOSC2 profile, whose sections are the measured ones above.
fn efosc2_measured() -> ProfileChoice {
    let shipped = registry().by_name("efosc2").unwrap().clone();
    assert_eq!(
        (
            shipped.defaults.overscan_section.as_deref(),
            shipped.defaults.data_section.as_deref()
        ),
        (Some("[1025:1029,1:1030]"), Some("[1:1023,1:1024]"))
    );
    ProfileChoice::Fixed(Box::new(shipped))
}

#[test]
fn real_efosc2_bias_flat_and_flat_sky() {
    let choice = efosc2_measured();
    let bias_frame = prepare_with(&efosc(EFOSC_BIAS), &choice);
    assert_eq!(bias_frame.image_e.width(), 1023);
    assert_eq!(bias_frame.image_e.height(), 1024);
    assert_eq!(bias_frame.trim_offset_px, [0, 0]);
    let options = ReduceOptions::new(registry()).combine;
    // One bias: the master is that frame.
    let bias = build_master_bias(&[&bias_frame], &options).unwrap();
    let gain = 1.1; // ESO DET OUT1 CONAD
    let rn = 7.8; // ESO DET OUT1 RON
    assert_eq!(bias.gain_e_per_adu, gain);
    assert_eq!(bias.read_noise_e, rn);
    // Noise of the overscan (raw prescan columns about their row level), in e-.
    let raw = read_frame(&efosc(EFOSC_BIAS), &choice, &registry()).unwrap();
    let os = raw.meta().overscan_section.clone().unwrap();
    let fit = cometphot::reduce::overscan::fit_overscan(
        &raw.amplifiers[0].pixels,
        1030,
        1030,
        &os,
        raw.meta().data_section.as_ref().unwrap(),
        Some(65535.0),
        &OverscanOptions::default(),
    )
    .unwrap();
    println!(
        "EFOSC2 bias: raw level {:.2} ADU (overscan {:.2} ADU + master median {:.2} e-), master \
         noise {:.2} e- = {:.2} ADU, prescan noise {:.2} ADU = {:.2} e-; header RON {rn} e- / CONAD \
         {gain} = {:.2} ADU",
        bias.level_adu(),
        fit.mean_level_adu(),
        bias.median_e,
        bias.noise_e,
        bias.noise_e / gain,
        fit.noise_adu,
        fit.noise_adu * gain,
        rn / gain
    );
    // Measured: raw level 218.9 ADU, of which the prescan holds 217.4 ADU: the overscan-
    // subtracted bias sits at +1.7 e- (the top overscan rows read 222 ADU, so the level
    // rises slightly along the readout). Noise: 10.98 e- (9.99 ADU) in the image, 10.06 e-
    // (9.14 ADU) in the prescan — the image is the read noise plus a weak pattern (a
    // ~2.2-px periodic pick-up along the rows, rows medians scattering by 2.4 ADU). Both are
    // ~1.3-1.4 x the header's ESO DET OUT1 RON = 7.8 e- (7.09 ADU with CONAD 1.1): the header
    // read noise of this 2x2 fast-readout bias underestimates the real noise.
    assert!(bias.median_e.abs() < 5.0, "{}", bias.median_e);
    assert!(
        (bias.noise_e / (fit.noise_adu * gain) - 1.0).abs() < 0.15,
        "image {} e- vs prescan {} e-",
        bias.noise_e,
        fit.noise_adu * gain
    );
    assert!(
        (1.0..1.6).contains(&(bias.noise_e / rn)),
        "{}",
        bias.noise_e
    );
    assert!((200.0..240.0).contains(&bias.level_adu()));
    assert!(bias_frame
        .history
        .iter()
        .any(|l| l.contains("overscan noise")));

    let flat_frame = prepare_with(&efosc(EFOSC_FLAT), &choice);
    let flat = build_master_flat(&[&flat_frame], &bias, &options).unwrap();
    println!(
        "EFOSC2 g flat: level {:.0} e-, {} BAD pixels; response 5/50/95th percentiles {:?}",
        flat.levels_e[0],
        flat.n_bad,
        percentiles(&flat.image, &[0.05, 0.5, 0.95])
    );
    assert_eq!(flat.n_frames, 1);
    assert!(flat.levels_e[0] > 5000.0);

    let masters = to_masters(bias, flat);
    let frame = read_frame(&efosc(EFOSC_SCIENCE), &choice, &registry()).unwrap();
    let cal = calibrate_frame(
        &frame,
        &masters,
        &OverscanOptions::default(),
        Some(&LaCosmicOptions::default()),
    )
    .unwrap();
    let f = &cal.frame;
    // Flatness: 8 × 8 grid of 128 × 128 px boxes; each box's sigma-clipped median (the
    // clipping removes the stars), relative to the median of the boxes; the same on the
    // science frame before flat fielding (bias-subtracted only).
    let bias_e = &masters.biases.values().next().unwrap().image_e;
    let raw_sci = prepare_with(&efosc(EFOSC_SCIENCE), &choice);
    let mut unflat = raw_sci.image_e.clone();
    for (v, b) in unflat.data_mut().iter_mut().zip(bias_e.data()) {
        *v -= b;
    }
    let n = 8;
    let flat_boxes = box_deviations(&f.image_e, Some(&f.mask), n);
    let raw_boxes = box_deviations(&unflat, None, n);
    let (rms, worst, within) = summary(&flat_boxes);
    let (raw_rms, raw_worst, raw_within) = summary(&raw_boxes);
    let (quad_rms, quad_max) = quadratic_residual(&flat_boxes, n);
    let (raw_quad_rms, _) = quadratic_residual(&raw_boxes, n);
    println!(
        "EFOSC2 g science: sky {:.1} e-; 64 boxes of 128 px: rms {:.2}% (raw {:.2}%), worst \
         {:.2}% (raw {:.2}%), {within}/64 within 1% (raw {raw_within}/64); residual from a \
         quadratic surface: rms {:.2}% (raw {:.2}%), max {:.2}%; {} cosmic-ray px, {} saturated px",
        clipped_stats(&f.image_e, None).unwrap().median,
        100.0 * rms,
        100.0 * raw_rms,
        100.0 * worst,
        100.0 * raw_worst,
        100.0 * quad_rms,
        100.0 * raw_quad_rms,
        100.0 * quad_max,
        f.mask.count(pixel_flag::COSMIC_RAY),
        f.mask.count(pixel_flag::SATURATED)
    );
    print_grid(&flat_boxes, n);
    // Measured: flat-fielded rms 0.98% (raw 2.2%), worst box 3.3% (raw 4.7%), 49/64 boxes
    // within 1% (raw 19/64); about a quadratic surface 0.27% rms, max 1.0% (raw 0.47%).
    // The flat field removes the detector's response (vignetting, ±4% here) and what is
    // left is a smooth ±3% saddle (top-left and bottom-right corners low): the twilight
    // flat's illumination differs from the night sky's. It is not a reduction error: the
    // three g flats of the source set (see data/real/efosc2/PROVENANCE.md) agree with
    // each other to 0.03% in every box, and both science frames, 11 minutes apart, show the
    // same pattern after division by their mean. Removing it needs an illumination
    // correction (a night-sky flat): `real_efosc2_illumination_correction` builds one from
    // the other science frame and brings every box within 1% (with the caveat there: two
    // frames of one pointing). Without it the "< 1% on the sky" holds for the rms
    // and for 3/4 of the boxes, not for the corners.
    assert!(rms < 0.012, "rms {rms}");
    assert!(raw_rms > 1.8 * rms, "{raw_rms} vs {rms}");
    assert!(within >= 44, "{within}");
    assert!(quad_rms < 0.004, "{quad_rms}");
    assert!(quad_rms < 0.75 * raw_quad_rms);
    assert!(worst < raw_worst);
    let wcs = f.wcs.as_ref().unwrap();
    assert_eq!(wcs.crpix_px[0], 517.0 - 1.0);
}

#[test]
fn real_efosc2_illuminated_overscan_is_refused() {
    // With the overscan taken in columns 1–6 (which collect light in these frames), the
    // flat's and the science frame's "overscan" levels are far above the bias frame's: the
    // flat is not used and the science frame is skipped, each with the reason.
    let choice = efosc2_profile("[1:6,1:1030]", "[7:1030,1:1024]");
    let options = ReduceOptions::new(registry()).combine;
    let bias = build_master_bias(&[&prepare_with(&efosc(EFOSC_BIAS), &choice)], &options).unwrap();
    let flat = prepare_with(&efosc(EFOSC_FLAT), &choice);
    let err = match build_master_flat(&[&flat], &bias, &options) {
        Ok(m) => panic!("flat accepted: {:?}", m.history),
        Err(e) => e.to_string(),
    };
    println!("{err}");
    assert!(err.contains("seems to collect light"), "{err}");
    let science = prepare_with(&efosc(EFOSC_SCIENCE), &choice);
    let err = cometphot::reduce::master::check_overscan(&science, &bias).unwrap_err();
    println!("{err}");
    assert!(err.contains("differs from the bias"), "{err}");
}

/// The illumination correction on the real EFOSC2 frames: built from the 05-05 science
/// frame, applied to the 04-54 frame (the one `real_efosc2_bias_flat_and_flat_sky`
/// measures), whose 8 × 8 box grid is then compared before and after.
///
/// Caveat: both frames are the same pointing 11 minutes apart (no dither), so anything
/// fixed on the sky over the field — a real sky gradient, scattered moonlight — is taken
/// for illumination and removed too; this test shows that the correction made from one
/// frame flattens the other, not that the surface it removes is instrumental. The
/// simulated test `simulated_illumination_correction_recovers_a_flat_saddle` is the one
/// that shows the method recovers a known illumination pattern without touching the sky.
#[test]
fn real_efosc2_illumination_correction() {
    let choice = efosc2_measured();
    let options = ReduceOptions::new(registry()).combine;
    let bias = build_master_bias(&[&prepare_with(&efosc(EFOSC_BIAS), &choice)], &options).unwrap();
    let flat = build_master_flat(
        &[&prepare_with(&efosc(EFOSC_FLAT), &choice)],
        &bias,
        &options,
    )
    .unwrap();
    let masters = to_masters(bias, flat);
    let calibrate = |name: &str| {
        let frame = read_frame(&efosc(name), &choice, &registry()).unwrap();
        calibrate_frame(
            &frame,
            &masters,
            &OverscanOptions::default(),
            Some(&LaCosmicOptions::default()),
        )
        .unwrap()
        .frame
    };
    let other = calibrate(EFOSC_SCIENCE_2);
    let illumination_options = IlluminationOptions::default();
    let illumination = build_illumination(
        &[&other],
        other.meta.filter.as_deref(),
        &illumination_options,
    )
    .unwrap();
    let mut frame = calibrate(EFOSC_SCIENCE);
    let n = 8;
    let before = box_deviations(&frame.image_e, Some(&frame.mask), n);
    illumination.apply(&mut frame).unwrap();
    let after = box_deviations(&frame.image_e, Some(&frame.mask), n);
    let (rms0, worst0, within0) = summary(&before);
    let (rms1, worst1, within1) = summary(&after);
    println!(
        "EFOSC2 g illumination correction from {EFOSC_SCIENCE_2} ({} px boxes; range \
         {:.4}-{:.4}) applied to {EFOSC_SCIENCE}: 64 boxes of 128 px: rms {:.2}% -> {:.2}%, \
         worst {:.2}% -> {:.2}%, within 1%: {within0}/64 -> {within1}/64",
        illumination_options.mesh_box_px,
        illumination.min,
        illumination.max,
        100.0 * rms0,
        100.0 * rms1,
        100.0 * worst0,
        100.0 * worst1,
    );
    println!("before:");
    print_grid(&before, n);
    println!("after:");
    print_grid(&after, n);
    let line = frame.history.last().unwrap();
    assert!(
        line.contains("illumination correction 'g#782' from 1 flat-fielded science frame"),
        "{line}"
    );
    assert!(line.contains("128 px boxes"), "{line}");
    assert!(line.contains(EFOSC_SCIENCE_2), "{line}");
    // Measured: rms 0.98% -> 0.21%, worst box 3.33% -> 0.88%, 50/64 -> 64/64 boxes within
    // 1% (correction range 0.958-1.007). The "< 1% on the sky" holds in every box
    // after the correction.
    assert!(worst1 < 0.01, "worst box {worst1}");
    assert!(rms1 < 0.5 * rms0, "{rms1} vs {rms0}");
}

/// A simulated night whose twilight flats are lit by a ±3 % saddle the night sky does not
/// have (`flat_illumination_saddle`): 648 × 600 data px, gain 1 e-/ADU (so that stars of
/// up to ~2e6 e- stay below saturation), no comet light to speak of.
fn illuminated_night(seed: u64, saddle: f64) -> NightConfig {
    NightConfig {
        seed,
        n_bias: 3,
        n_flat: 5,
        n_science: 3,
        detector_window: "[1:700, 1:600]".to_string(),
        gain_e_per_adu: 1.0,
        flat_level_adu: 40_000.0,
        flat_illumination_saddle: saddle,
        star_density_per_arcmin2: 30.0,
        star_mag_min: 15.5,
        star_mag_max: 19.5,
        cosmic_rays_per_frame: 10,
        comet: CometConfig {
            coma_mag: 40.0,
            ..CometConfig::default()
        },
        ..NightConfig::default()
    }
}

/// Net flux of a star: exact-overlap circle of `r` px minus the clipped median of the
/// annulus `r_in`–`r_out` px times the aperture area; `None` when a flagged pixel is in
/// the aperture.
fn star_flux(
    frame: &CalibratedFrame,
    x: f64,
    y: f64,
    r: f64,
    r_in: f64,
    r_out: f64,
) -> Option<f64> {
    let (w, h) = (frame.image_e.width() as i64, frame.image_e.height() as i64);
    let (mut sum, mut area, mut ring) = (0.0, 0.0, Vec::new());
    let reach = r_out.ceil() as i64 + 1;
    let (cx, cy) = (x.round() as i64, y.round() as i64);
    for py in (cy - reach).max(0)..(cy + reach + 1).min(h) {
        for px in (cx - reach).max(0)..(cx + reach + 1).min(w) {
            let (dx, dy) = (px as f64 - x, py as f64 - y);
            let (ux, uy) = (px as usize, py as usize);
            let v = f64::from(frame.image_e.get(ux, uy));
            let flagged = frame.mask.get(ux, uy) & (pixel_flag::UNUSABLE | pixel_flag::COSMIC_RAY);
            let d = dx.hypot(dy);
            let overlap = cometphot::photometry::aperture::pixel_overlap(dx, dy, r);
            if overlap > 0.0 {
                if flagged != 0 {
                    return None;
                }
                sum += overlap * v;
                area += overlap;
            } else if (r_in..r_out).contains(&d) && flagged == 0 {
                ring.push(v);
            }
        }
    }
    let sky = SigmaClip::default().apply(&ring)?.median;
    Some(sum - sky * area)
}

/// Star fluxes over truth (stars of 3e5–2.4e6 e- away from the edges with no star above 1 %
/// of their flux within 30 px), each divided by the median of all: deviations, with the
/// star's (x, y) in the trimmed frame.
fn star_flux_deviations(
    frames: &[CalibratedFrame],
    night: &SimulatedNight,
) -> Vec<(f64, f64, f64)> {
    let mut ratios = Vec::new();
    for frame in frames {
        let name = frame
            .source
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        // Truth positions are in the raw image; the trimmed image starts X0 columns later.
        let stars: Vec<(f64, f64, f64)> = night
            .stars
            .iter()
            .filter(|s| s.file == name)
            .map(|s| (s.x_px - X0 as f64, s.y_px, s.flux_in_image_e))
            .collect();
        let (w, h) = (frame.image_e.width() as f64, frame.image_e.height() as f64);
        for (i, &(x, y, truth)) in stars.iter().enumerate() {
            let bright = (3e5..2.4e6).contains(&truth);
            let inside = x > 30.0 && y > 30.0 && x < w - 31.0 && y < h - 31.0;
            let isolated = stars.iter().enumerate().all(|(j, &(ox, oy, other))| {
                i == j || (ox - x).hypot(oy - y) > 30.0 || other < 0.01 * truth
            });
            if !(bright && inside && isolated) {
                continue;
            }
            if let Some(flux) = star_flux(frame, x, y, 10.0, 18.0, 28.0) {
                ratios.push((x, y, flux / truth));
            }
        }
    }
    let all: Vec<f64> = ratios.iter().map(|r| r.2).collect();
    let median = cometphot::stats::median(&all).unwrap();
    ratios
        .iter()
        .map(|&(x, y, r)| (x, y, r / median - 1.0))
        .collect()
}

/// Twilight flats lit by a ±3 % saddle: flat-fielded frames keep it (corner boxes off by
/// more than 1 %, star fluxes off by as much), and the illumination correction built from
/// the three science frames removes it from the sky and the stars alike.
#[test]
fn simulated_illumination_correction_recovers_a_flat_saddle() {
    let dir = tempfile::tempdir().unwrap();
    let config = illuminated_night(41, 0.03);
    let night = run(&config, dir.path()).unwrap();
    let reduce = |night: &SimulatedNight, illumination: Option<IlluminationOptions>| {
        let mut options = ReduceOptions::new(registry());
        options.illumination = illumination;
        let frames = Mutex::new(Vec::new());
        let report = reduce_files(
            &night.fits_files,
            None,
            &options,
            &|f| frames.lock().unwrap().push(f.clone()),
            &|_| {},
        );
        assert!(report.skipped.is_empty(), "{:?}", report.skipped);
        assert!(
            report.walk_problems.is_empty(),
            "{:?}",
            report.walk_problems
        );
        let mut frames = frames.into_inner().unwrap();
        frames.sort_by(|a, b| a.source.cmp(&b.source));
        assert_eq!(frames.len(), 3);
        (frames, report)
    };
    let (plain, _) = reduce(&night, None);
    let (corrected, report) = reduce(&night, Some(IlluminationOptions::default()));
    // The same night (same stars, noise and cosmic rays) with flats lit like the sky,
    // flat-fielded only: what the correction should reach.
    let reference_dir = tempfile::tempdir().unwrap();
    let reference_night = run(&illuminated_night(41, 0.0), reference_dir.path()).unwrap();
    let (reference, _) = reduce(&reference_night, None);
    assert_eq!(report.illuminations.len(), 1);
    assert_eq!(report.illuminations[0].sources.len(), 3);
    // Flatness: the 8 × 8 box grid of each frame; and the difference from the reference
    // frame's grid, which takes out what the stars do to the box medians.
    let n = 8;
    let mut worst = [0f64; 3];
    let mut worst_vs_reference = [0f64; 3];
    let labels = [
        "flat-fielded",
        "illumination-corrected",
        "reference (no saddle)",
    ];
    for (k, frames) in [&plain, &corrected, &reference].into_iter().enumerate() {
        for (f, r) in frames.iter().zip(&reference) {
            let dev = box_deviations(&f.image_e, Some(&f.mask), n);
            let ref_dev = box_deviations(&r.image_e, Some(&r.mask), n);
            let diff: Vec<f64> = dev.iter().zip(&ref_dev).map(|(a, b)| a - b).collect();
            let (rms, w, within) = summary(&dev);
            let (diff_rms, diff_worst, _) = summary(&diff);
            println!(
                "{} {}: 64 boxes: rms {:.2}%, worst {:.2}%, {within}/64 within 1%; minus the \
                 reference: rms {:.2}%, worst {:.2}%",
                labels[k],
                f.source.file_name().unwrap().to_string_lossy(),
                100.0 * rms,
                100.0 * w,
                100.0 * diff_rms,
                100.0 * diff_worst
            );
            if f.source == frames[0].source && k < 2 {
                print_grid(&dev, n);
            }
            worst[k] = worst[k].max(w);
            worst_vs_reference[k] = worst_vs_reference[k].max(diff_worst);
        }
    }
    // Star fluxes: against the truth (normalised by the median ratio: the flat's
    // normalisation and the aperture correction are common to all stars), and against the
    // same stars in the reference frames (noise and aperture losses cancel).
    let stars = [
        star_flux_deviations(&plain, &night),
        star_flux_deviations(&corrected, &night),
        star_flux_deviations(&reference, &reference_night),
    ];
    let stats = |d: &[f64]| {
        let rms = (d.iter().map(|v| v * v).sum::<f64>() / d.len() as f64).sqrt();
        (rms, d.iter().fold(0f64, |m, v| m.max(v.abs())))
    };
    let errors = |k: usize| stars[k].iter().map(|s| s.2).collect::<Vec<_>>();
    let versus_reference = |k: usize| {
        stars[k]
            .iter()
            .zip(&stars[2])
            .map(|(a, b)| {
                assert_eq!((a.0, a.1), (b.0, b.1));
                (1.0 + a.2) / (1.0 + b.2) - 1.0
            })
            .collect::<Vec<_>>()
    };
    let (s0, s1, s2) = (stats(&errors(0)), stats(&errors(1)), stats(&errors(2)));
    let (r0, r1) = (stats(&versus_reference(0)), stats(&versus_reference(1)));
    println!(
        "star fluxes / truth, {} measurements: rms {:.2}% -> {:.2}% (reference {:.2}%), worst \
         {:.2}% -> {:.2}% (reference {:.2}%); against the reference frames: rms {:.2}% -> \
         {:.3}%, worst {:.2}% -> {:.3}%",
        stars[0].len(),
        100.0 * s0.0,
        100.0 * s1.0,
        100.0 * s2.0,
        100.0 * s0.1,
        100.0 * s1.1,
        100.0 * s2.1,
        100.0 * r0.0,
        100.0 * r1.0,
        100.0 * r0.1,
        100.0 * r1.1
    );
    let line = corrected[0].history.last().unwrap();
    assert!(
        line.contains("illumination correction 'R_Bes 650_130' from 3 flat-fielded science"),
        "{line}"
    );
    assert!(worst[0] > 0.015, "flat-fielded worst box {}", worst[0]);
    assert!(worst[1] < 0.01, "corrected worst box {}", worst[1]);
    assert!(worst_vs_reference[0] > 0.015, "{worst_vs_reference:?}");
    assert!(worst_vs_reference[1] < 0.003, "{worst_vs_reference:?}");
    // Measured (seed 41, 29 measurements of 10 stars, none in the extreme corners): vs
    // truth rms 0.61% -> 0.19% (reference 0.18%), worst 1.10% -> 0.43% (reference 0.45%:
    // the noise of the measurement); vs the reference frames rms 0.57% -> 0.05%, worst
    // 1.03% -> 0.15%. Boxes minus the reference: worst
    // 2.5% -> 0.18%. (Box grids: worst 2.8% -> 0.87%, reference 0.81%.)
    assert!(stars[0].len() >= 25, "{} star measurements", stars[0].len());
    assert!(s0.0 > 0.004 && s0.1 > 0.009, "{s0:?}");
    assert!(s1.0 < 0.003 && s1.1 < 0.005, "{s1:?}");
    assert!(r0.0 > 0.004, "{r0:?}");
    assert!(r1.0 < 0.001 && r1.1 < 0.0025, "{r1:?}");
}

/// Sigma-clipped median of each of n × n boxes (pixels without flags), relative to the
/// median of the boxes, minus 1; row-major from the bottom.
fn box_deviations(img: &Image, mask: Option<&cometphot::image::PixelMask>, n: usize) -> Vec<f64> {
    let (bw, bh) = (img.width() / n, img.height() / n);
    let mut boxes = Vec::with_capacity(n * n);
    for by in 0..n {
        for bx in 0..n {
            let mut v = Vec::with_capacity(bw * bh);
            for y in by * bh..(by + 1) * bh {
                for x in bx * bw..(bx + 1) * bw {
                    if mask.is_none_or(|m| m.get(x, y) & pixel_flag::UNUSABLE == 0) {
                        v.push(f64::from(img.get(x, y)));
                    }
                }
            }
            boxes.push(SigmaClip::default().apply(&v).unwrap().median);
        }
    }
    let sky = cometphot::stats::median(&boxes).unwrap();
    boxes.iter().map(|b| b / sky - 1.0).collect()
}

/// RMS about 0, largest |deviation| and the number within 1%.
fn summary(dev: &[f64]) -> (f64, f64, usize) {
    let rms = (dev.iter().map(|d| d * d).sum::<f64>() / dev.len() as f64).sqrt();
    let worst = dev.iter().fold(0f64, |a, d| a.max(d.abs()));
    (rms, worst, dev.iter().filter(|d| d.abs() < 0.01).count())
}

/// RMS and largest residual of the n × n box values about a least-squares quadratic
/// surface in the box coordinates (1, x, y, x², y², xy).
fn quadratic_residual(dev: &[f64], n: usize) -> (f64, f64) {
    let half = (n as f64 - 1.0) / 2.0;
    let rows: Vec<[f64; 6]> = (0..n * n)
        .map(|k| {
            let (x, y) = (
                ((k % n) as f64 - half) / half,
                ((k / n) as f64 - half) / half,
            );
            [1.0, x, y, x * x, y * y, x * y]
        })
        .collect();
    let a = nalgebra::DMatrix::from_fn(n * n, 6, |i, j| rows[i][j]);
    let b = nalgebra::DVector::from_column_slice(dev);
    let coef = a.clone().svd(true, true).solve(&b, 1e-12).unwrap();
    let r = b - a * coef;
    let rms = (r.iter().map(|v| v * v).sum::<f64>() / r.len() as f64).sqrt();
    (rms, r.iter().fold(0f64, |m, v| m.max(v.abs())))
}

fn percentiles(img: &Image, q: &[f64]) -> Vec<f64> {
    let mut v: Vec<f64> = values(img).into_iter().filter(|x| x.is_finite()).collect();
    v.sort_by(f64::total_cmp);
    q.iter()
        .map(|p| (v[((v.len() - 1) as f64 * p) as usize] * 1e4).round() / 1e4)
        .collect()
}

fn print_grid(dev: &[f64], n: usize) {
    for row in (0..n).rev() {
        let line: Vec<String> = (0..n)
            .map(|c| format!("{:+.2}", 100.0 * dev[row * n + c]))
            .collect();
        println!("  {}", line.join(" "));
    }
}

/// Copies the FITS files of a simulated night into `dest`.
fn copy_fits(night: &SimulatedNight, dest: &Path) -> Vec<PathBuf> {
    night
        .fits_files
        .iter()
        .map(|p| {
            let to = dest.join(p.file_name().unwrap());
            std::fs::copy(p, &to).unwrap();
            to
        })
        .collect()
}

/// A directory with: a complete R night (1×1), V science frames without flats, 2×2 science
/// frames with 2×2 biases but no 2×2 flat, and a truncated file.
fn bad_input_dir(raw: &Path) -> (Vec<PathBuf>, Vec<PathBuf>, Vec<PathBuf>, PathBuf) {
    let sim = tempfile::tempdir().unwrap();
    let base = NightConfig {
        n_bias: 3,
        n_flat: 3,
        n_science: 2,
        star_density_per_arcmin2: 5.0,
        ..small_night(31, 5.0)
    };
    let good = copy_fits(&run(&base, &sim.path().join("a")).unwrap(), raw);
    let v_night = NightConfig {
        seed: 32,
        file_prefix: "ALV".into(),
        n_bias: 0,
        n_flat: 0,
        n_science: 1,
        filter_name: "V_Bes 530_80".into(),
        ..base.clone()
    };
    let v = copy_fits(&run(&v_night, &sim.path().join("v")).unwrap(), raw);
    let binned = NightConfig {
        seed: 33,
        file_prefix: "ALB".into(),
        n_bias: 2,
        n_flat: 0,
        n_science: 1,
        binning_x: 2,
        binning_y: 2,
        comet: CometConfig {
            position: CometPosition::Pixel {
                x_px: 113.0,
                y_px: 75.0,
            },
            ..base.comet.clone()
        },
        ..base.clone()
    };
    let b = copy_fits(&run(&binned, &sim.path().join("b")).unwrap(), raw);
    let truncated = raw.join("ALtruncated.fits");
    let bytes = std::fs::read(&good[good.len() - 1]).unwrap();
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    (good, v, b, truncated)
}

#[test]
fn bad_inputs_are_skipped_with_reasons_and_the_rest_is_reduced() {
    let raw = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let (good, v, binned, truncated) = bad_input_dir(raw.path());
    let mut options = ReduceOptions::new(registry());
    options.cosmic = None;
    let report = reduce_directory(raw.path(), out.path(), &options, &|_| {}).unwrap();
    for s in &report.skipped {
        println!("skipped {}: {}", s.file.display(), s.reason);
    }
    let reduced: Vec<&Path> = report.reduced.iter().map(|r| r.source.as_path()).collect();
    assert_eq!(reduced.len(), 2, "{reduced:?}");
    for g in &good[good.len() - 2..] {
        assert!(reduced.iter().any(|r| r.file_name() == g.file_name()));
    }
    let reason = |p: &Path| {
        report
            .skipped
            .iter()
            .find(|s| s.file.file_name() == p.file_name())
            .map(|s| s.reason.clone())
            .unwrap_or_else(|| panic!("{} not skipped", p.display()))
    };
    // Missing flat for a filter: named file, filter and binning.
    let r = reason(&v[0]);
    assert!(
        r.contains("no master flat for filter 'V_Bes 530_80', binning 1x1") && r.contains("ALV"),
        "{r}"
    );
    // Mixed binning: the 2x2 biases make their own master; no 2x2 flat.
    let r = reason(binned.last().unwrap());
    assert!(
        r.contains("no master flat for filter 'R_Bes 650_130', binning 2x2"),
        "{r}"
    );
    assert_eq!(
        report.masters.len(),
        3,
        "two biases (1x1, 2x2) and one flat"
    );
    // Truncated file: the reader's reason.
    let r = reason(&truncated);
    assert!(
        r.contains("ALtruncated.fits") && r.contains("truncated"),
        "{r}"
    );
    assert_eq!(report.skipped.len(), 3);
    // The log lists every input.
    let log = std::fs::read_to_string(report.log.as_ref().unwrap()).unwrap();
    assert_eq!(
        log.lines().count(),
        1 + good.len() + v.len() + binned.len() + 1
    );
    assert!(log.contains(",skipped,") && log.contains(",reduced,"));
    // Typed errors: the missing flat is ReduceError::NoFlat.
    let frame = read_frame(&v[0], &ProfileChoice::Detect, &registry()).unwrap();
    let err = calibrate_frame(
        &frame,
        &Masters::default(),
        &OverscanOptions::default(),
        None,
    );
    assert!(matches!(err, Err(ReduceError::NoBias { .. })));
    let prepared: Vec<PreparedFrame> = good
        .iter()
        .filter(|p| {
            read_frame(p, &ProfileChoice::Detect, &registry())
                .unwrap()
                .meta()
                .frame_type
                .as_str()
                == "bias"
        })
        .map(|p| prepare(p))
        .collect();
    let bias = build_master_bias(&prepared.iter().collect::<Vec<_>>(), &options.combine).unwrap();
    let mut masters = Masters::default();
    masters.biases.insert(bias.layout.clone(), bias);
    match calibrate_frame(&frame, &masters, &OverscanOptions::default(), None) {
        Err(ReduceError::NoFlat {
            filter, binning, ..
        }) => {
            assert_eq!(filter, "V_Bes 530_80");
            assert_eq!(binning.to_string(), "1x1");
        }
        other => panic!("expected NoFlat, got {other:?}"),
    }
}

#[test]
fn reduce_command_exit_status_and_refusals() {
    let raw = tempfile::tempdir().unwrap();
    let sim = tempfile::tempdir().unwrap();
    let config = NightConfig {
        n_bias: 3,
        n_flat: 3,
        n_science: 1,
        ..small_night(41, 5.0)
    };
    copy_fits(&run(&config, sim.path()).unwrap(), raw.path());
    let raw_s = raw.path().to_str().unwrap();
    // Output into the input directory: refused, nothing written.
    let (code, _, err) = common::cometphot(&["reduce", raw_s, "--out", raw_s]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("input directory"), "{err}");
    assert_eq!(std::fs::read_dir(raw.path()).unwrap().count(), 7);
    // A clean night: exit 0.
    let out = tempfile::tempdir().unwrap();
    let out_s = out.path().to_str().unwrap();
    let (code, _, err) =
        common::cometphot(&["reduce", raw_s, "--out", out_s, "--combine", "median"]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("reduced 1 frames"), "{err}");
    assert!(out.path().join("ALIh010007_red.fits").exists());
    // With the illumination correction (built from the one science frame): reported, and
    // in the frame's HISTORY.
    let out4 = tempfile::tempdir().unwrap();
    let (code, _, err) = common::cometphot(&[
        "reduce",
        raw_s,
        "--out",
        out4.path().to_str().unwrap(),
        "--illumination",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("illumination correction 'R_Bes 650_130'") && err.contains("1 science frames"),
        "{err}"
    );
    let written = read_calibrated(&out4.path().join("ALIh010007_red.fits"), &registry()).unwrap();
    let surfaces: Vec<String> = std::fs::read_dir(out4.path().join("masters"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("illumination_R_Bes_650_130_alfosc"))
        .collect();
    assert_eq!(surfaces.len(), 1, "{surfaces:?}");
    assert!(
        written
            .history
            .iter()
            .any(|l| l.contains("divided by illumination correction")),
        "{:?}",
        written.history
    );
    // A truncated file added: skipped, exit 2, the others still reduced.
    let bytes = std::fs::read(raw.path().join("ALIh010007.fits")).unwrap();
    std::fs::write(raw.path().join("ALbad.fits"), &bytes[..bytes.len() / 3]).unwrap();
    let out2 = tempfile::tempdir().unwrap();
    let (code, _, err) = common::cometphot(&[
        "reduce",
        raw_s,
        "--out",
        out2.path().to_str().unwrap(),
        "--no-cosmic",
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("skipped:") && err.contains("ALbad.fits"),
        "{err}"
    );
    assert!(out2.path().join("ALIh010007_red.fits").exists());
    // Nothing reducible: exit 1.
    let only_bias = tempfile::tempdir().unwrap();
    std::fs::copy(
        raw.path().join("ALIh010001.fits"),
        only_bias.path().join("b.fits"),
    )
    .unwrap();
    let out3 = tempfile::tempdir().unwrap();
    let (code, _, err) = common::cometphot(&[
        "reduce",
        only_bias.path().to_str().unwrap(),
        "--out",
        out3.path().to_str().unwrap(),
    ]);
    assert_eq!(code, 1, "{err}");
}

#[test]
fn bright_comet_with_a_nucleus_in_sharp_seeing_is_not_taken_for_cosmic_rays() {
    // A harder case for the fine-structure test: coma 3 mag brighter, a point-like nucleus,
    // 0.7" seeing (FWHM 3.3 px), dense bright stars.
    let dir = tempfile::tempdir().unwrap();
    let mut config = small_night(24, 40.0);
    config.seeing_fwhm_arcsec = 0.7;
    config.star_mag_min = 12.0;
    config.comet.coma_mag = 14.0;
    config.comet.nucleus_mag = Some(15.0);
    let night = run(&config, dir.path()).unwrap();
    let (bias, flat) = masters_of(&night, CombineMethod::ClippedMean);
    let masters = to_masters(bias, flat);
    let (mut truth_total, mut detected_total) = (0, 0);
    for (truth, path) in night.frames.iter().zip(&night.fits_files) {
        if truth.frame_type != FrameKind::Science {
            continue;
        }
        let frame = read_frame(path, &ProfileChoice::Detect, &registry()).unwrap();
        let cal = calibrate_frame(
            &frame,
            &masters,
            &OverscanOptions::default(),
            Some(&LaCosmicOptions::default()),
        )
        .unwrap();
        let cs = cosmic_stats(&cal.frame, &night, &truth.file);
        // Flagged pixels away from hits that lie on the edge of the simulated coma, which
        // the simulator truncates sharply at coma_outer_radius_arcsec (46.8 px).
        let c = truth.comet.as_ref().unwrap();
        let on_edge = flagged_away_from_hits(&cal.frame, &night, &truth.file)
            .into_iter()
            .filter(|&(x, y)| {
                let r = (x as f64 - (c.x_px - X0 as f64)).hypot(y as f64 - c.y_px);
                (44.0..50.0).contains(&r)
            })
            .count();
        println!(
            "{} (bright comet + nucleus, 0.7\" seeing): {}/{} hit pixels flagged, {} flagged away \
             from hits, {} of them on a star or the comet core, {on_edge} on the coma's \
             truncation edge; {} saturated px",
            truth.file,
            cs.detected,
            cs.truth,
            cs.false_positive,
            cs.false_on_sources,
            cal.frame.mask.count(pixel_flag::SATURATED)
        );
        // Measured (seed 24): 76/76 and 67/69 hit pixels flagged; none on the stars or the
        // comet's core; 32 and 52 pixels flagged on the sharp truncation edge of the
        // simulated coma (a ~1,200 e- step, 40σ, at 46.8 px: corners of the pixelated
        // circle look like cosmic rays; a real coma has no such edge). Before the
        // neighbour-median condition (see reduce::cosmic), L.A.Cosmic's growth ran along
        // the whole edge: ~470 pixels per frame.
        assert_eq!(cs.false_on_sources, 0);
        assert!(
            cs.false_positive - on_edge <= 5,
            "{} {on_edge}",
            cs.false_positive
        );
        truth_total += cs.truth;
        detected_total += cs.detected;
    }
    assert!(detected_total as f64 > 0.9 * truth_total as f64);
}

#[test]
fn real_sinistro_amplifiers_are_assembled_in_electrons() {
    // LCO Sinistro raw MEF: four 544 x 522 amplifiers (overscan columns 520-540, data
    // 512 x 512, 2x2 binning), DETSECs with reversed ranges for the flipped amplifiers.
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("data/real/sinistro-saao/lco_sinistro_fa05_raw_mef_2021SO2.fits.gz");
    let p = prepare(&path);
    assert_eq!((p.image_e.width(), p.image_e.height()), (1024, 1024));
    assert_eq!(p.layout.n_amplifiers, 4);
    assert_eq!(p.mask.count(pixel_flag::BAD), 0, "gaps in the mosaic");
    assert!(p.has_overscan);
    // Sky of each quadrant (e-): equal within the gains' accuracy.
    let mut skies = Vec::new();
    for (qx, qy) in [(0, 0), (1, 0), (0, 1), (1, 1)] {
        let mut v = Vec::new();
        for y in qy * 512..(qy + 1) * 512 {
            for x in qx * 512..(qx + 1) * 512 {
                v.push(f64::from(p.image_e.get(x, y)));
            }
        }
        skies.push(SigmaClip::default().apply(&v).unwrap().median);
    }
    let mean = skies.iter().sum::<f64>() / 4.0;
    println!(
        "Sinistro quadrant skies (e-): {:?}; gain used {:.3} e-/ADU (mean of 6.42, 6.23, 6.27, 6.26)",
        skies.iter().map(|s| s.round()).collect::<Vec<_>>(),
        p.gain_e_per_adu
    );
    // Measured: 1885, 1894, 1916, 1880 e- (within 1.5%).
    assert!(
        skies.iter().all(|s| (s / mean - 1.0).abs() < 0.03),
        "{skies:?}"
    );
    assert!(p.history.iter().any(|l| l.contains("flipped in x")));
    assert_eq!(p.trim_offset_px, [0, 0]);
}

#[test]
fn windowed_frames_without_overscan_rely_on_the_master_bias() {
    // A window that does not include the prescan: BIASSEC [3:52,...] lies outside it, as in
    // real windowed ALFOSC frames (README, "Real-data quirks").
    let dir = tempfile::tempdir().unwrap();
    let config = NightConfig {
        n_bias: 5,
        n_flat: 5,
        n_science: 1,
        detector_window: "[601:1000, 1001:1300]".to_string(),
        ..small_night(25, 10.0)
    };
    let night = run(&config, dir.path()).unwrap();
    let (bias, flat) = masters_of(&night, CombineMethod::ClippedMean);
    assert!(bias.overscan_level_adu.is_none());
    // Without overscan the master bias holds the whole level: 1000 ADU + mean offset.
    let offsets: Vec<f64> = night
        .frames
        .iter()
        .filter(|f| f.frame_type == FrameKind::Bias)
        .map(|f| f.bias_frame_offset_adu)
        .collect();
    let truth_level = config.bias_level_adu + offsets.iter().sum::<f64>() / offsets.len() as f64;
    println!(
        "windowed master bias: {:.2} ADU (truth {:.2})",
        bias.level_adu(),
        truth_level
    );
    assert!((bias.level_adu() - truth_level).abs() < 1.0);
    let (w, h) = (bias.image_e.width(), bias.image_e.height());
    assert_eq!((w, h), (400, 300));
    let (_, c) = true_flat_at(&config, [600, 1000], w, h);
    let masters = to_masters(bias, flat);
    let (truth, path) = night
        .frames
        .iter()
        .zip(&night.fits_files)
        .find(|(t, _)| t.frame_type == FrameKind::Science)
        .unwrap();
    let frame = read_frame(path, &ProfileChoice::Detect, &registry()).unwrap();
    let cal = calibrate_frame(&frame, &masters, &OverscanOptions::default(), None).unwrap();
    assert!(cal
        .frame
        .history
        .iter()
        .any(|l| l.contains("no overscan in this image")));
    let s = clipped_stats(&cal.frame.image_e, None).unwrap();
    let expected = truth.sky_e_per_px * c;
    // The frame's own bias offset is not measured (no overscan): 2 ADU rms = 0.32 e-.
    let tolerance =
        3.0 * config.bias_frame_offset_rms_adu * config.gain_e_per_adu + 0.002 * expected;
    println!(
        "windowed science: sky {:.2} e- vs {expected:.2} e- (frame bias offset {:.2} ADU)",
        s.median, truth.bias_frame_offset_adu
    );
    assert!(
        (s.median - expected).abs() < tolerance,
        "{} vs {expected}",
        s.median
    );
}

/// A copy of the FITS file `from` at `to` with the last image's data unit overwritten by
/// `byte` (every pixel the same value).
fn copy_with_data_bytes(from: &Path, to: &Path, data_bytes: usize, byte: u8) {
    let mut bytes = std::fs::read(from).unwrap();
    let start = bytes.len() - data_bytes.div_ceil(2880) * 2880;
    bytes[start..start + data_bytes].fill(byte);
    std::fs::write(to, bytes).unwrap();
}

/// The pipeline scans only the headers and first pixels of the frames it reduces and checks
/// their pixels on the read that reduces them: its report (frames reduced with their output
/// names, frames skipped with their reasons) equals the report on a scan that read every
/// pixel, with frames failing the pixel checks among them: a constant bias, a science frame
/// whose name collides with a good one's in another directory (which would otherwise rename
/// the good one), and a science frame alone.
#[test]
fn reducing_after_the_probing_scan_equals_reducing_after_the_full_scan() {
    use cometphot::reduce::pipeline::reduce_scanned;
    use cometphot::scan::{scan_files, PixelReads, ScanOptions};
    let dir = tempfile::tempdir().unwrap();
    let night = run(&small_night(31, 5.0), &dir.path().join("n1")).unwrap();
    let other = dir.path().join("n2");
    std::fs::create_dir_all(&other).unwrap();
    let data_bytes = 400 * 300 * 4;
    let science = files_of(&night, FrameKind::Science);
    let named_alike = other.join(science[0].file_name().unwrap());
    // (Each with its own value: equal pixels would make them duplicate candidates, read in
    // full by the scan.)
    copy_with_data_bytes(&science[0], &named_alike, data_bytes, 0);
    copy_with_data_bytes(&science[1], &other.join("zero.fits"), data_bytes, 1);
    let bias = files_of(&night, FrameKind::Bias);
    copy_with_data_bytes(&bias[0], &other.join("constant_bias.fits"), data_bytes, 2);

    let (files, _) = cometphot::scan::files_to_scan(dir.path());
    let mut options = ReduceOptions::new(registry());
    options.cosmic = None;
    let summary = |out: &Path, full_scan: bool| {
        let report = if full_scan {
            let rows = scan_files(
                &files,
                &ScanOptions {
                    profiles: &options.profiles,
                    choice: &options.choice,
                    on_file: &|| {},
                    pixels: PixelReads::All,
                },
            );
            reduce_scanned(rows, Some(out), &options, &|_| {}, &|_| {})
        } else {
            reduce_files(&files, Some(out), &options, &|_| {}, &|_| {})
        };
        let name =
            |p: &Option<PathBuf>| p.as_ref().map(|p| p.strip_prefix(out).unwrap().to_owned());
        let mut reduced: Vec<_> = report
            .reduced
            .iter()
            .map(|r| (r.source.clone(), name(&r.output)))
            .collect();
        reduced.sort();
        let skipped: Vec<_> = report
            .skipped
            .iter()
            .map(|s| (s.file.clone(), s.reason.clone()))
            .collect();
        (reduced, skipped)
    };
    let full = summary(&dir.path().join("out_full"), true);
    let probed = summary(&dir.path().join("out_probe"), false);
    assert_eq!(probed, full);
    let (reduced, skipped) = probed;
    assert_eq!(reduced.len(), 2, "{reduced:?}");
    let good_name = output_name(&science[0]);
    assert!(
        reduced
            .iter()
            .any(|(_, out)| out.as_deref() == Some(Path::new(&good_name))),
        "{reduced:?}"
    );
    for bad in [
        &named_alike,
        &other.join("zero.fits"),
        &other.join("constant_bias.fits"),
    ] {
        let (_, reason) = skipped.iter().find(|(f, _)| f == bad).unwrap();
        assert!(
            reason.contains("every finite pixel has the same value"),
            "{reason}"
        );
    }
}
