//! Criterion benchmarks of the per-frame kernels on a full-size simulated ALFOSC frame
//! (2148 × 2102 raw, 32-bit unsigned with BZERO; 2048 × 2052 px after trimming).
//!
//! The setup simulates a small night (5 biases, 5 sky flats, 1 science frame with the comet
//! and field stars) into a temporary directory with the project's own simulator, builds the
//! masters and calibrates the science frame once; each benchmark then times one kernel on it.
//! Kernels that use rayon internally (background boxes, detection, cosmic rays) run on the
//! global pool, i.e. on every core. Sample counts and times are kept small so that
//! `cargo bench --features bench --bench kernels` finishes in a few minutes; pass a filter to run one group,
//! e.g. `cargo bench --features bench --bench kernels -- aperture`.

use std::hint::black_box;
use std::path::PathBuf;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use rand::SeedableRng;
use rand_distr::{Distribution, Normal};
use rand_pcg::Pcg64;
use rayon::prelude::*;

use cometphot::frame::profile::{ProfileChoice, ProfileRegistry};
use cometphot::frame::read::{read_frame, FitsSource};
use cometphot::photometry::aperture::{
    annulus_background, annulus_background_excluding, measure_radii, CircularAnnulus,
    MeasureOptions, NoiseModel,
};
use cometphot::photometry::background::{
    estimate_background, estimate_background_mesh, surface_from_mesh, BackgroundParams,
};
use cometphot::photometry::detect::{detect_segmentation, detect_sources, DetectParams};
use cometphot::photometry::source_mask::{bin_2x2, source_mask};
use cometphot::reduce::calibrate::calibrate_prepared;
use cometphot::reduce::combine::CombineOptions;
use cometphot::reduce::cosmic::{clean_cosmic_rays, LaCosmicOptions};
use cometphot::reduce::master::{
    build_master_bias, build_master_flat, build_master_flat_from, clipped_stats, normalise_flat,
};
use cometphot::reduce::overscan::OverscanOptions;
use cometphot::reduce::prepare::{prepare_frame, PreparedFrame};
use cometphot::reduce::CalibratedFrame;
use cometphot::scan::{pixel_problem, scan_file, PixelReads, ScanOptions};
use cometphot::simulate::{FrameKind, NightConfig};
use cometphot::stats::SigmaClip;

/// The simulated night and what the benchmarks need from it.
struct Fixture {
    _dir: tempfile::TempDir,
    science: PathBuf,
    prepared: PreparedFrame,
    bias: cometphot::reduce::master::MasterBias,
    flat: cometphot::reduce::master::MasterFlat,
    /// The prepared biases and flats of the night (5 + 5, as a night's calibration).
    biases: Vec<PreparedFrame>,
    flats: Vec<PreparedFrame>,
    calibrated: CalibratedFrame,
    comet_px: (f64, f64),
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().expect("temporary directory");
    let config = NightConfig {
        seed: 8,
        n_bias: 5,
        n_flat: 5,
        n_science: 1,
        ..NightConfig::default()
    };
    let night = cometphot::simulate::run(&config, dir.path()).expect("simulated night");
    let registry = ProfileRegistry::shipped().expect("shipped profiles");
    let choice = ProfileChoice::Detect;
    let overscan = OverscanOptions::default();
    let prepared_of = |path: &PathBuf| {
        let frame = read_frame(path, &choice, &registry).expect("readable frame");
        prepare_frame(&frame, &overscan).expect("prepared frame")
    };
    let of_type = |t: FrameKind| -> Vec<PreparedFrame> {
        night
            .fits_files
            .iter()
            .zip(&night.frames)
            .filter(|(_, truth)| truth.frame_type == t)
            .map(|(path, _)| prepared_of(path))
            .collect()
    };
    let biases = of_type(FrameKind::Bias);
    let flats = of_type(FrameKind::Flat);
    let combine = CombineOptions::default();
    let bias = build_master_bias(&biases.iter().collect::<Vec<_>>(), &combine).expect("bias");
    let flat = build_master_flat(&flats.iter().collect::<Vec<_>>(), &bias, &combine).expect("flat");
    let (science, truth) = night
        .fits_files
        .iter()
        .zip(&night.frames)
        .find(|(_, truth)| truth.frame_type == FrameKind::Science)
        .expect("a science frame");
    let science = science.clone();
    let comet = truth
        .comet
        .as_ref()
        .expect("the comet in the science frame");
    let prepared = prepared_of(&science);
    // The comet in the trimmed frame: the simulator gives raw pixels.
    let comet_px = (
        comet.x_px - prepared.trim_offset_px[0] as f64,
        comet.y_px - prepared.trim_offset_px[1] as f64,
    );
    let mut calibrated = calibrate_prepared(prepared.clone(), &bias, &flat, None)
        .expect("calibrated")
        .frame;
    let read_noise = calibrated.read_noise_e;
    clean_cosmic_rays(
        &mut calibrated.image_e,
        &mut calibrated.mask,
        read_noise,
        &LaCosmicOptions::default(),
    );
    Fixture {
        _dir: dir,
        science,
        prepared,
        bias,
        flat,
        biases,
        flats,
        calibrated,
        comet_px,
    }
}

/// The pixels of the first image HDU of `path` (open, find the HDU, read and decode).
fn first_image_pixels(path: &std::path::Path) -> Vec<f32> {
    let mut source = FitsSource::open(path).expect("open");
    let image = source
        .image_hdus()
        .into_iter()
        .next()
        .expect("an image HDU")
        .expect("readable HDU");
    source.read_pixels(&image).expect("pixels")
}

fn kernels(c: &mut Criterion) {
    let fx = fixture();
    let registry = ProfileRegistry::shipped().expect("shipped profiles");
    let choice = ProfileChoice::Detect;

    // FITS read + BZERO/big-endian decode into f32 (cfitsio), the I/O floor of a frame. The
    // file is in the page cache after the first iteration: this is decoding, not disk.
    {
        let mut g = c.benchmark_group("fits");
        g.sample_size(10)
            .warm_up_time(Duration::from_millis(500))
            .measurement_time(Duration::from_secs(3));
        g.bench_function("read_pixels_2148x2102_u32", |b| {
            b.iter(|| black_box(first_image_pixels(&fx.science)))
        });
        g.bench_function("read_frame_with_header", |b| {
            b.iter(|| black_box(read_frame(&fx.science, &choice, &registry).expect("frame")))
        });
        g.finish();
    }

    // `scan` of one frame: header, pixels, the pixel checks and digest (or, as the pipeline
    // scans, the header and a probe of the first pixels).
    {
        let mut g = c.benchmark_group("scan");
        g.sample_size(10)
            .warm_up_time(Duration::from_millis(500))
            .measurement_time(Duration::from_secs(3));
        let on_file = || {};
        let options = ScanOptions {
            profiles: &registry,
            choice: &choice,
            on_file: &on_file,
            pixels: PixelReads::All,
        };
        g.bench_function("scan_file_2148x2102", |b| {
            b.iter(|| black_box(scan_file(&fx.science, &options)))
        });
        // What the pipeline's scan reads of a frame it reduces: the header and a probe.
        let probe = ScanOptions {
            pixels: PixelReads::Probe,
            ..options
        };
        g.bench_function("scan_file_probe_2148x2102", |b| {
            b.iter(|| black_box(scan_file(&fx.science, &probe)))
        });
        let pixels = first_image_pixels(&fx.science);
        g.bench_function("pixel_problem_2148x2102", |b| {
            b.iter(|| black_box(pixel_problem(&pixels)))
        });
        g.finish();
    }

    let frame = read_frame(&fx.science, &choice, &registry).expect("frame");
    {
        let mut g = c.benchmark_group("reduce");
        g.sample_size(10)
            .warm_up_time(Duration::from_millis(500))
            .measurement_time(Duration::from_secs(3));
        // Overscan level per row (clipped mean, smoothed), subtraction, trim, × gain, masks.
        g.bench_function("prepare_overscan_trim_gain", |b| {
            b.iter(|| black_box(prepare_frame(&frame, &OverscanOptions::default()).expect("ok")))
        });
        // − master bias, ÷ master flat, masks (no cosmic rays).
        g.bench_function("calibrate_bias_flat", |b| {
            b.iter_batched(
                || fx.prepared.clone(),
                |p| black_box(calibrate_prepared(p, &fx.bias, &fx.flat, None).expect("ok")),
                BatchSize::LargeInput,
            )
        });
        g.bench_function("cosmic_rays_lacosmic", |b| {
            b.iter_batched(
                || (fx.calibrated.image_e.clone(), fx.calibrated.mask.clone()),
                |(mut image, mut mask)| {
                    black_box(clean_cosmic_rays(
                        &mut image,
                        &mut mask,
                        fx.calibrated.read_noise_e,
                        &LaCosmicOptions::default(),
                    ))
                },
                BatchSize::LargeInput,
            )
        });
        // The fixed cost of a night: master bias and flat from 5 + 5 prepared frames
        // (per-pixel clipped mean of 5 values with the noise model, clipped statistics).
        let combine = CombineOptions::default();
        let biases: Vec<&PreparedFrame> = fx.biases.iter().collect();
        let flats: Vec<&PreparedFrame> = fx.flats.iter().collect();
        g.bench_function("build_master_bias_5", |b| {
            b.iter(|| black_box(build_master_bias(&biases, &combine).expect("ok")))
        });
        g.bench_function("build_master_flat_5", |b| {
            b.iter(|| black_box(build_master_flat(&flats, &fx.bias, &combine).expect("ok")))
        });
        // As the pipeline builds it: each flat normalised in its own prepared image, in
        // parallel (the copies of the prepared flats are made outside the timing).
        g.bench_function("build_master_flat_5_in_place", |b| {
            b.iter_batched(
                || fx.flats.clone(),
                |flats| {
                    let normalised = flats.into_par_iter().map(|f| normalise_flat(f, &fx.bias));
                    black_box(
                        build_master_flat_from(normalised.collect(), &fx.bias, &combine)
                            .expect("ok"),
                    )
                },
                BatchSize::LargeInput,
            )
        });
        // The sky level of a whole frame (clipped statistics of a ~1 M pixel subsample).
        g.bench_function("clipped_stats_whole_frame", |b| {
            b.iter(|| black_box(clipped_stats(&fx.calibrated.image_e, None)))
        });
        g.finish();
    }

    let image = &fx.calibrated.image_e;
    let mask = &fx.calibrated.mask;
    let background = estimate_background(image, Some(mask), None, &BackgroundParams::default())
        .expect("background");
    {
        let mut g = c.benchmark_group("photometry");
        g.sample_size(10)
            .warm_up_time(Duration::from_millis(500))
            .measurement_time(Duration::from_secs(4));
        g.bench_function("background_mesh_64px", |b| {
            b.iter(|| {
                black_box(
                    estimate_background(image, Some(mask), None, &BackgroundParams::default())
                        .expect("ok"),
                )
            })
        });
        // The two background passes of `photometry`: on the image binned 2 x 2 with boxes of
        // half the size (inside `source_mask`), then on the full frame without the sources.
        let (binned, binned_mask) = bin_2x2(image, Some(mask));
        let binned_params = BackgroundParams {
            box_px: 32,
            ..BackgroundParams::default()
        };
        g.bench_function("background_mesh_binned_32px", |b| {
            b.iter(|| {
                black_box(
                    estimate_background(&binned, Some(&binned_mask), None, &binned_params)
                        .expect("ok"),
                )
            })
        });
        let sources = source_mask(
            image,
            Some(mask),
            &BackgroundParams::default(),
            &DetectParams::default(),
            3.0,
        )
        .expect("source mask");
        g.bench_function("background_mesh_64px_excluding_sources", |b| {
            b.iter(|| {
                black_box(
                    estimate_background(
                        image,
                        Some(mask),
                        Some(&sources),
                        &BackgroundParams::default(),
                    )
                    .expect("ok"),
                )
            })
        });
        // As `photometry` estimates it: the mesh and its surfaces, evaluated where they are
        // read instead of stored as full-frame maps.
        g.bench_function("background_mesh_64px_surfaces", |b| {
            b.iter(|| {
                black_box(
                    estimate_background_mesh(image, Some(mask), None, &BackgroundParams::default())
                        .expect("ok"),
                )
            })
        });
        // The mesh to every pixel alone (fill, 3 x 3 median filter, bicubic splines), and the
        // subtraction of the level map.
        let mesh = &background.mesh;
        g.bench_function("background_surface_from_mesh", |b| {
            b.iter(|| {
                black_box(surface_from_mesh(
                    &mesh.level,
                    &mesh.estimated,
                    &mesh.node_x,
                    &mesh.node_y,
                    3,
                    image.width(),
                    image.height(),
                ))
            })
        });
        g.bench_function("background_subtract", |b| {
            b.iter(|| black_box(background.subtract(image).expect("ok")))
        });
        g.bench_function("detect_sources", |b| {
            b.iter(|| {
                black_box(
                    detect_sources(image, &background, Some(mask), &DetectParams::default())
                        .expect("ok"),
                )
            })
        });
        // As `photometry` detects: Moffat FWHM fits only for the sources that set the seeing.
        let seeing_only = DetectParams {
            fwhm_of_every_source: false,
            ..DetectParams::default()
        };
        g.bench_function("detect_sources_seeing_fwhm_only", |b| {
            b.iter(|| {
                black_box(detect_sources(image, &background, Some(mask), &seeing_only).expect("ok"))
            })
        });
        // The same on the background's surfaces (as `photometry` detects).
        let surfaces =
            estimate_background_mesh(image, Some(mask), None, &BackgroundParams::default())
                .expect("background surfaces");
        g.bench_function("detect_sources_seeing_fwhm_only_on_surfaces", |b| {
            b.iter(|| {
                black_box(detect_sources(image, &surfaces, Some(mask), &seeing_only).expect("ok"))
            })
        });
        // Threshold, labelling, deblending and isophotal measurements without the FWHM fits
        // and windowed centroids (the part of detection that scales with the pixels).
        g.bench_function("detect_segmentation", |b| {
            b.iter(|| {
                black_box(
                    detect_segmentation(image, &background, Some(mask), &DetectParams::default())
                        .expect("ok"),
                )
            })
        });
        // The first pass of a two-pass background, side by side: at full resolution (its own
        // background, footprints, dilated into a source mask; what `photometry` did before)
        // and on the image binned 2 x 2 (`source_mask`, what it does now).
        g.bench_function("first_pass_full_resolution", |b| {
            b.iter(|| {
                let first =
                    estimate_background(image, Some(mask), None, &BackgroundParams::default())
                        .expect("ok");
                black_box(
                    detect_segmentation(image, &first, Some(mask), &DetectParams::default())
                        .expect("ok")
                        .to_exclusion_mask(3.0),
                )
            })
        });
        g.bench_function("first_pass_binned_2x2", |b| {
            b.iter(|| {
                black_box(
                    source_mask(
                        image,
                        Some(mask),
                        &BackgroundParams::default(),
                        &DetectParams::default(),
                        3.0,
                    )
                    .expect("ok"),
                )
            })
        });
        g.finish();
    }

    {
        let mut g = c.benchmark_group("aperture");
        g.sample_size(10)
            .warm_up_time(Duration::from_millis(300))
            .measurement_time(Duration::from_secs(2));
        let options = MeasureOptions {
            mask: Some(mask),
            noise: NoiseModel::Ccd {
                gain_e_per_adu: 1.0,
                read_noise_e: fx.calibrated.read_noise_e,
            },
            ..MeasureOptions::default()
        };
        let (x, y) = fx.comet_px;
        // A centre off the pixel grid, as a measured centroid is.
        let (x, y) = (x.round() + 0.37, y.round() - 0.21);
        for r in [5.0, 20.0, 100.0] {
            g.bench_function(format!("exact_overlap_sum_r{r}"), |b| {
                b.iter(|| black_box(measure_radii(image, x, y, &[r], None, &options).expect("ok")))
            });
        }
        // The comet's 30–45″ sky annulus (140–210 px at 0.2138″/px): 'center' pixels,
        // clipped median (astropy rule).
        let annulus = CircularAnnulus::new(x, y, 140.0, 210.0).expect("annulus");
        g.bench_function("annulus_sigma_clipped_140_210", |b| {
            b.iter(|| {
                black_box(
                    annulus_background(image, Some(mask), &annulus, &SigmaClip::default())
                        .expect("ok"),
                )
            })
        });
        // A star's 8–11 FWHM sky annulus (FWHM 5 px) without 40 neighbours' wings (circles of
        // 6–25 px around it), as the catalogue zero point measures it.
        let star = CircularAnnulus::new(x, y, 40.0, 55.0).expect("annulus");
        let neighbours: Vec<(f64, f64, f64)> = (0..40)
            .map(|k| {
                let angle = 0.61 * k as f64;
                let distance = 10.0 + 1.7 * k as f64;
                (
                    x + distance * angle.cos(),
                    y + distance * angle.sin(),
                    6.0 + (k % 5) as f64 * 4.75,
                )
            })
            .collect();
        g.bench_function("annulus_excluding_40_neighbours_40_55", |b| {
            b.iter(|| {
                black_box(
                    annulus_background_excluding(
                        image,
                        Some(mask),
                        &star,
                        &SigmaClip::default(),
                        &neighbours,
                    )
                    .expect("ok"),
                )
            })
        });
        g.finish();
    }

    {
        let mut g = c.benchmark_group("stats");
        g.sample_size(10)
            .warm_up_time(Duration::from_millis(300))
            .measurement_time(Duration::from_secs(2));
        // Sky-like values with 2 % outliers (stars, cosmic rays).
        let sample = |n: usize| -> Vec<f64> {
            let mut rng = Pcg64::seed_from_u64(n as u64);
            let noise = Normal::new(1000.0, 30.0).expect("normal");
            (0..n)
                .map(|k| {
                    let v = noise.sample(&mut rng);
                    if k % 50 == 0 {
                        v + 5000.0
                    } else {
                        v
                    }
                })
                .collect()
        };
        for n in [4096, 100_000] {
            let values = sample(n);
            g.bench_function(format!("sigma_clip_{n}"), |b| {
                b.iter(|| black_box(SigmaClip::default().apply(&values)))
            });
        }
        g.finish();
    }
}

criterion_group!(benches, kernels);
criterion_main!(benches);
