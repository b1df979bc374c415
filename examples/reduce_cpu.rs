//! CPU time of the reduction and measurement kernels on real frames: `read_frame`, `scan_file`,
//! `prepare_frame`, `calibrate_prepared`, `calibrate_frame` (both in one pass), `build_master_bias`, `build_master_flat`, and on the
//! calibrated science frame the stages of the comet's measurement (`bin_2x2`, `source_mask`,
//! `estimate_background` with it, `detect_sources`, the cosmic-ray cleaning `cosmic`), each repeated, with
//! the process CPU time (user + system, all threads, from /proc/self/stat) per call, which
//! unlike wall time does not depend on what else the machine runs.
//!
//! `cargo run --release --features bench --example reduce_cpu -- DIR [REPEATS [KERNEL]]` (DIR
//! holds biases, flats and science frames of one layout and filter; KERNEL times that one
//! alone, e.g. under a profiler).

use std::hint::black_box;
use std::path::PathBuf;
use std::time::Instant;

use cometphot::frame::profile::{FrameType, ProfileChoice, ProfileRegistry};
use cometphot::frame::read::read_frame;
use cometphot::photometry::background::estimate_background;
use cometphot::photometry::detect::{detect_sources, DetectParams};
use cometphot::photometry::measure::PhotometryConfig;
use cometphot::photometry::source_mask::{bin_2x2, source_mask};
use cometphot::reduce::calibrate::{calibrate_frame, calibrate_prepared};
use cometphot::reduce::combine::CombineOptions;
use cometphot::reduce::cosmic::{clean_cosmic_rays, LaCosmicOptions};
use cometphot::reduce::master::{build_master_bias, build_master_flat, Masters};
use cometphot::reduce::overscan::OverscanOptions;
use cometphot::reduce::prepare::{layout_of, prepare_frame, PreparedFrame};
use cometphot::scan::{scan_file, PixelReads, ScanOptions};

/// Process CPU time (s): utime + stime of /proc/self/stat.
fn cpu_s() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which is in parentheses).
    let rest = stat.rsplit_once(')').map(|r| r.1).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let tick = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // utime and stime are fields 14 and 15 (1-based) of the line, 12 and 13 here.
    (tick(11) + tick(12)) / 100.0
}

/// Times `f` unless `only` names another kernel.
fn time<T>(only: Option<&str>, name: &str, repeats: usize, mut f: impl FnMut() -> T) {
    if only.is_some_and(|o| o != name) {
        return;
    }
    black_box(f());
    let (c0, t0) = (cpu_s(), Instant::now());
    for _ in 0..repeats {
        black_box(f());
    }
    let (c, t) = (cpu_s() - c0, t0.elapsed().as_secs_f64());
    println!(
        "{name:<24} cpu {:8.2} ms  wall {:8.2} ms",
        1e3 * c / repeats as f64,
        1e3 * t / repeats as f64
    );
}

/// The allocator of the `cometphot` binary, so that frame-sized buffers are reused as there.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(
        args.next()
            .ok_or_else(|| anyhow::anyhow!("usage: DIR [N]"))?,
    );
    let repeats: usize = args.next().map(|s| s.parse()).transpose()?.unwrap_or(10);
    let only = args.next();
    let only = only.as_deref();
    let registry = ProfileRegistry::shipped()?;
    let choice = ProfileChoice::Detect;
    let overscan = OverscanOptions::default();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    files.sort();
    let (mut biases, mut flats, mut science) = (Vec::new(), Vec::new(), Vec::new());
    for path in &files {
        let frame = read_frame(path, &choice, &registry)?;
        match frame.meta().frame_type {
            FrameType::Bias if biases.len() < 5 => biases.push(frame),
            FrameType::Flat if flats.len() < 5 => flats.push(frame),
            FrameType::Science if science.is_empty() => science.push(frame),
            _ => {}
        }
    }
    anyhow::ensure!(
        !biases.is_empty() && !flats.is_empty() && !science.is_empty(),
        "needs biases, flats and a science frame"
    );
    let prep = |f: &cometphot::frame::read::Frame| -> anyhow::Result<PreparedFrame> {
        Ok(prepare_frame(f, &overscan)?)
    };
    let pb: Vec<PreparedFrame> = biases.iter().map(prep).collect::<Result<_, _>>()?;
    let pf: Vec<PreparedFrame> = flats.iter().map(prep).collect::<Result<_, _>>()?;
    let combine = CombineOptions::default();
    let rb: Vec<&PreparedFrame> = pb.iter().collect();
    let rf: Vec<&PreparedFrame> = pf.iter().collect();
    let bias = build_master_bias(&rb, &combine)?;
    let flat = build_master_flat(&rf, &bias, &combine)?;
    let prepared = prep(&science[0])?;
    let on_file = || {};
    let options = ScanOptions {
        profiles: &registry,
        choice: &choice,
        on_file: &on_file,
        pixels: PixelReads::All,
    };
    time(only, "read_frame", repeats, || {
        read_frame(&science[0].path, &choice, &registry).ok()
    });
    time(only, "scan_file", repeats, || {
        scan_file(&science[0].path, &options)
    });
    time(only, "prepare_frame", repeats, || prep(&science[0]).ok());
    // One copy per call, made beforehand (and only when timed: each is a frame's worth of
    // fresh memory, which would dominate a profile of another kernel).
    let n_copies = if only.is_none_or(|o| o == "calibrate_prepared") {
        repeats + 1
    } else {
        0
    };
    let copies: Vec<PreparedFrame> = (0..n_copies).map(|_| prepared.clone()).collect();
    let mut copies = copies.into_iter();
    time(only, "calibrate_prepared", repeats, || {
        copies
            .next()
            .and_then(|p| calibrate_prepared(p, &bias, &flat, None).ok())
    });
    let mut masters = Masters::default();
    let layout = layout_of(&science[0]);
    let filter = science[0].meta().filter.clone();
    masters.biases.insert(layout.clone(), bias.clone());
    masters.flats.insert((layout, filter), flat.clone());
    time(only, "calibrate_frame", repeats, || {
        calibrate_frame(&science[0], &masters, &overscan, None).ok()
    });
    let science_frame = calibrate_prepared(prepared.clone(), &bias, &flat, None)?.frame;
    let (image, mask) = (&science_frame.image_e, Some(&science_frame.mask));
    let config = PhotometryConfig::default();
    let footprints = source_mask(image, mask, &config.background, &config.detect, 3.0)?;
    time(only, "bin_2x2", repeats, || bin_2x2(image, mask));
    time(only, "source_mask", repeats, || {
        source_mask(image, mask, &config.background, &config.detect, 3.0).ok()
    });
    let background = estimate_background(image, mask, Some(&footprints), &config.background)?;
    time(only, "estimate_background", repeats, || {
        estimate_background(image, mask, Some(&footprints), &config.background).ok()
    });
    let detect = DetectParams {
        fwhm_of_every_source: false,
        ..config.detect
    };
    time(only, "detect_sources", repeats, || {
        detect_sources(image, &background, mask, &detect).ok()
    });
    // Each call cleans a fresh copy; `copy_image_mask` is the cost of that copy alone.
    let fresh = || (science_frame.image_e.clone(), science_frame.mask.clone());
    time(only, "copy_image_mask", repeats, fresh);
    let cosmic = LaCosmicOptions::default();
    time(only, "cosmic", repeats, || {
        let (mut image, mut mask) = fresh();
        clean_cosmic_rays(&mut image, &mut mask, science_frame.read_noise_e, &cosmic)
    });
    time(only, "build_master_bias_5", repeats.div_ceil(3), || {
        build_master_bias(&rb, &combine).ok()
    });
    time(only, "build_master_flat_5", repeats.div_ceil(3), || {
        build_master_flat(&rf, &bias, &combine).ok()
    });
    Ok(())
}
