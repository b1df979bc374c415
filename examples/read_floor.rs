//! The I/O floor of `bench/run.sh`: reads and decodes every FITS file given (header, metadata
//! and pixels → f32 with BZERO applied, cometphot's own `read_frame`) on the rayon pool, the
//! same parallelism as `cometphot photometry`, and prints one line of JSON with the wall time.
//! Nothing else is done with the pixels: this is the fastest a pipeline that reads each frame
//! once can go.
//!
//! With `--calibrate`, the biases and flats among the files are combined into masters first
//! (not timed), and each science frame is then read and calibrated as `photometry` does it
//! (`calibrate_frame_owned`: overscan, trim, bias, flat and gain in one pass over the pixels;
//! no cosmic-ray cleaning, nothing measured): the floor of any pipeline that reduces its
//! frames, next to the bare read.
//!
//! `cargo run --release --example read_floor -- [--calibrate] FILE.fits...` (`--passes N`
//! repeats the timed pass; the best pass is reported, the first one warming the page cache).

use std::path::{Path, PathBuf};
use std::time::Instant;

use rayon::prelude::*;

use cometphot::frame::profile::{FrameType, ProfileChoice, ProfileRegistry};
use cometphot::frame::read::read_frame;
use cometphot::reduce::calibrate::calibrate_frame_owned;
use cometphot::reduce::combine::CombineOptions;
use cometphot::reduce::master::{build_master_bias, build_master_flat, Masters};
use cometphot::reduce::overscan::OverscanOptions;
use cometphot::reduce::prepare::{layout_of, prepare_frame, PreparedFrame};

/// The masters of the biases and flats among `files` (one layout and filter), and the other
/// files: the frames to time.
fn masters_and_science(
    files: &[PathBuf],
    choice: &ProfileChoice,
    registry: &ProfileRegistry,
    overscan: &OverscanOptions,
) -> anyhow::Result<(Masters, Vec<PathBuf>)> {
    let (mut biases, mut flats, mut science) = (Vec::new(), Vec::new(), Vec::new());
    let mut key = None;
    for path in files {
        let frame = read_frame(path, choice, registry)?;
        match frame.meta().frame_type {
            FrameType::Bias => biases.push(prepare_frame(&frame, overscan)?),
            FrameType::Flat => {
                key = Some((layout_of(&frame), frame.meta().filter.clone()));
                flats.push(prepare_frame(&frame, overscan)?);
            }
            _ => science.push(path.clone()),
        }
    }
    let Some((layout, filter)) = key else {
        anyhow::bail!("--calibrate: no flat among the files");
    };
    let combine = CombineOptions::default();
    let bias_refs: Vec<&PreparedFrame> = biases.iter().collect();
    let flat_refs: Vec<&PreparedFrame> = flats.iter().collect();
    let bias = build_master_bias(&bias_refs, &combine)?;
    let flat = build_master_flat(&flat_refs, &bias, &combine)?;
    let mut masters = Masters::default();
    masters.biases.insert(layout.clone(), bias);
    masters.flats.insert((layout, filter), flat);
    Ok((masters, science))
}

/// Reads `path` (and calibrates it with `masters`, when given); returns its pixel count.
fn read_one(
    path: &Path,
    choice: &ProfileChoice,
    registry: &ProfileRegistry,
    masters: Option<&Masters>,
    overscan: &OverscanOptions,
) -> anyhow::Result<usize> {
    let frame = read_frame(path, choice, registry)?;
    let pixels = frame
        .amplifiers
        .iter()
        .map(|a| a.pixels.len())
        .sum::<usize>();
    if let Some(masters) = masters {
        std::hint::black_box(calibrate_frame_owned(frame, masters, overscan, None)?);
    }
    Ok(pixels)
}

fn main() -> anyhow::Result<()> {
    let mut passes = 2usize;
    let mut calibrate = false;
    let mut files: Vec<PathBuf> = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        if arg == "--passes" {
            passes = args
                .next()
                .ok_or_else(|| anyhow::anyhow!("--passes takes a number"))?
                .parse()?;
        } else if arg == "--calibrate" {
            calibrate = true;
        } else {
            files.push(PathBuf::from(arg));
        }
    }
    anyhow::ensure!(
        !files.is_empty(),
        "usage: read_floor [--passes N] [--calibrate] FILE.fits..."
    );
    let registry = ProfileRegistry::shipped()?;
    let choice = ProfileChoice::Detect;
    let overscan = OverscanOptions::default();
    let masters = if calibrate {
        let (masters, science) = masters_and_science(&files, &choice, &registry, &overscan)?;
        files = science;
        Some(masters)
    } else {
        None
    };
    let mut best = f64::INFINITY;
    let mut pixels = 0usize;
    for _ in 0..passes.max(1) {
        let started = Instant::now();
        let counts: Vec<usize> = files
            .par_iter()
            .map(|path| read_one(path, &choice, &registry, masters.as_ref(), &overscan))
            .collect::<Result<_, _>>()?;
        best = best.min(started.elapsed().as_secs_f64());
        pixels = counts.iter().sum();
    }
    println!(
        "{{\"stage\": \"{}\", \"frames\": {}, \"threads\": {}, \"wall_s\": {best:.6}, \"ms_per_frame\": {:.3}, \"mpix_per_s\": {:.1}}}",
        if calibrate { "read+calibrate" } else { "read" },
        files.len(),
        rayon::current_num_threads(),
        1e3 * best / files.len() as f64,
        pixels as f64 / best / 1e6
    );
    Ok(())
}
