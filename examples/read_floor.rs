//! The I/O floor of `bench/run.sh`: reads and decodes every FITS file given (header, metadata
//! and pixels → f32 with BZERO applied, cometphot's own `read_frame`) on the rayon pool, the
//! same parallelism as `cometphot photometry`, and prints one line of JSON with the wall time.
//! Nothing else is done with the pixels: this is the fastest a pipeline that reads each frame
//! once can go.
//!
//! With `--calibrate`, the biases and flats among the files are combined into masters first
//! (not timed), and each science frame is then read and calibrated, nothing measured: once
//! as `photometry` does it (`calibrate_frame_owned`: overscan fit, trim, flags, bias, flat and
//! gain in one pass over the pixels; no cosmic-ray cleaning), once with only the arithmetic
//! that any calibration does ([`bare_calibration`]), the floor of any pipeline that reduces
//! its frames; a line of JSON each.
//!
//! `cargo run --release --example read_floor -- [--calibrate] FILE.fits...` (`--passes N`
//! repeats the timed pass; the best pass is reported, the first one warming the page cache).

use std::path::{Path, PathBuf};
use std::time::Instant;

use rayon::prelude::*;

use cometphot::frame::profile::{FrameType, ProfileChoice, ProfileRegistry};
use cometphot::frame::read::{read_frame, Frame};
use cometphot::image::pixel_flag;
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

/// What is done with each frame after its read.
#[derive(Clone, Copy)]
enum Stage {
    /// Nothing.
    Read,
    /// cometphot's calibration.
    Calibrate,
    /// The least arithmetic a calibration does ([`bare_calibration`]).
    Bare,
}

impl Stage {
    fn name(self) -> &'static str {
        match self {
            Stage::Read => "read",
            Stage::Calibrate => "read+calibrate",
            Stage::Bare => "read+bare_calibration",
        }
    }
}

/// The least a calibration of a single-amplifier frame does, in the buffer of its raw
/// pixels: each data row less the mean of its overscan row, times the gain, less the master
/// bias, over the master flat; the masters' flags and saturation or'ed into a mask. No
/// overscan fit, statistics, checks or history, which cometphot's calibration does besides:
/// the floor its arithmetic and memory traffic could reach.
fn bare_calibration(mut frame: Frame, masters: &Masters) -> anyhow::Result<(Vec<f32>, Vec<u8>)> {
    let (Some(bias), Some(flat)) = (
        masters.biases.values().next(),
        masters.flats.values().next(),
    ) else {
        anyhow::bail!("no masters");
    };
    let [amp] = &mut frame.amplifiers[..] else {
        anyhow::bail!("{}: not a single-amplifier frame", frame.path.display());
    };
    let (Some(data), Some(overscan)) = (&amp.meta.data_section, &amp.meta.overscan_section) else {
        anyhow::bail!("{}: no data or overscan section", frame.path.display());
    };
    let width = amp.image.width;
    let (tw, th) = (data.width(), data.height());
    anyhow::ensure!(
        (bias.image_e.width(), bias.image_e.height()) == (tw, th)
            && (flat.image.width(), flat.image.height()) == (tw, th),
        "{}: masters of another size",
        frame.path.display()
    );
    let gain = amp.meta.gain_e_per_adu.unwrap_or(1.0) as f32;
    let saturation = amp.meta.saturation_adu.unwrap_or(f64::INFINITY) as f32;
    let mut pixels = std::mem::take(&mut amp.pixels);
    let mut bits = vec![0u8; tw * th];
    // The raw row is copied out first (8 kB, in cache): the output may overlap it.
    let mut raw = vec![0.0f32; tw];
    for (row, y) in data.y.clone().enumerate() {
        let strip = &pixels[y * width + overscan.x.start..y * width + overscan.x.end];
        let level = strip.iter().sum::<f32>() / strip.len().max(1) as f32;
        raw.copy_from_slice(&pixels[y * width + data.x.start..][..tw]);
        let span = row * tw..(row + 1) * tw;
        let masters_row = bias.image_e.row(row).iter().zip(flat.image.row(row));
        let flags = bias.mask.bits()[span.clone()]
            .iter()
            .zip(&flat.mask.bits()[span.clone()]);
        for ((((out, flag), &v), (&b, &f)), (&bf, &ff)) in pixels[span.clone()]
            .iter_mut()
            .zip(&mut bits[span])
            .zip(&raw)
            .zip(masters_row)
            .zip(flags)
        {
            *flag = bf | ff | (pixel_flag::SATURATED * u8::from(v >= saturation));
            *out = ((v - level) * gain - b) / f;
        }
    }
    pixels.truncate(tw * th);
    Ok((pixels, bits))
}

/// Reads `path` and does `stage` with it (with `masters`); returns its pixel count.
fn read_one(
    path: &Path,
    choice: &ProfileChoice,
    registry: &ProfileRegistry,
    stage: Stage,
    masters: &Masters,
    overscan: &OverscanOptions,
) -> anyhow::Result<usize> {
    let frame = read_frame(path, choice, registry)?;
    let pixels = frame
        .amplifiers
        .iter()
        .map(|a| a.pixels.len())
        .sum::<usize>();
    match stage {
        Stage::Read => {}
        Stage::Calibrate => {
            std::hint::black_box(calibrate_frame_owned(frame, masters, overscan, None)?);
        }
        Stage::Bare => {
            std::hint::black_box(bare_calibration(frame, masters)?);
        }
    }
    Ok(pixels)
}

/// The best of `passes` timed passes of `stage` over `files` (rayon): one line of JSON.
fn timed_passes(
    files: &[PathBuf],
    passes: usize,
    stage: Stage,
    masters: &Masters,
    (choice, registry): (&ProfileChoice, &ProfileRegistry),
    overscan: &OverscanOptions,
) -> anyhow::Result<String> {
    let mut best = f64::INFINITY;
    let mut pixels = 0usize;
    for _ in 0..passes.max(1) {
        let started = Instant::now();
        let counts: Vec<usize> = files
            .par_iter()
            .map(|path| read_one(path, choice, registry, stage, masters, overscan))
            .collect::<Result<_, _>>()?;
        best = best.min(started.elapsed().as_secs_f64());
        pixels = counts.iter().sum();
    }
    Ok(format!(
        "{{\"stage\": \"{}\", \"frames\": {}, \"threads\": {}, \"wall_s\": {best:.6}, \"ms_per_frame\": {:.3}, \"mpix_per_s\": {:.1}}}",
        stage.name(),
        files.len(),
        rayon::current_num_threads(),
        1e3 * best / files.len() as f64,
        pixels as f64 / best / 1e6
    ))
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
    if !calibrate {
        let line = timed_passes(
            &files,
            passes,
            Stage::Read,
            &Masters::default(),
            (&choice, &registry),
            &overscan,
        )?;
        println!("{line}");
        return Ok(());
    }
    let (masters, science) = masters_and_science(&files, &choice, &registry, &overscan)?;
    let lines = [Stage::Calibrate, Stage::Bare]
        .into_iter()
        .map(|stage| {
            timed_passes(
                &science,
                passes,
                stage,
                &masters,
                (&choice, &registry),
                &overscan,
            )
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    println!("{}", lines.join("\n"));
    Ok(())
}
