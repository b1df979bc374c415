//! The I/O floor of `bench/run.sh`: reads and decodes every FITS file given (header, metadata
//! and pixels → f32 with BZERO applied, cometphot's own `read_frame`) on the rayon pool, the
//! same parallelism as `cometphot photometry`, and prints one line of JSON with the wall time.
//! Nothing else is done with the pixels: this is the fastest a pipeline that reads each frame
//! once can go.
//!
//! `cargo run --release --example read_floor -- FILE.fits...` (`--passes N` repeats the reads;
//! the best pass is reported, the first one warming the page cache).

use std::path::PathBuf;
use std::time::Instant;

use rayon::prelude::*;

use cometphot::frame::profile::{ProfileChoice, ProfileRegistry};
use cometphot::frame::read::read_frame;

fn main() -> anyhow::Result<()> {
    let mut passes = 2usize;
    let mut files: Vec<PathBuf> = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        if arg == "--passes" {
            passes = args
                .next()
                .ok_or_else(|| anyhow::anyhow!("--passes takes a number"))?
                .parse()?;
        } else {
            files.push(PathBuf::from(arg));
        }
    }
    anyhow::ensure!(
        !files.is_empty(),
        "usage: read_floor [--passes N] FILE.fits..."
    );
    let registry = ProfileRegistry::shipped()?;
    let choice = ProfileChoice::Detect;
    let mut best = f64::INFINITY;
    let mut pixels = 0usize;
    for _ in 0..passes.max(1) {
        let started = Instant::now();
        let counts: Vec<usize> = files
            .par_iter()
            .map(|path| {
                read_frame(path, &choice, &registry)
                    .map(|f| f.amplifiers.iter().map(|a| a.pixels.len()).sum::<usize>())
            })
            .collect::<Result<_, _>>()?;
        best = best.min(started.elapsed().as_secs_f64());
        pixels = counts.iter().sum();
    }
    println!(
        "{{\"frames\": {}, \"threads\": {}, \"wall_s\": {best:.6}, \"ms_per_frame\": {:.3}, \"mpix_per_s\": {:.1}}}",
        files.len(),
        rayon::current_num_threads(),
        1e3 * best / files.len() as f64,
        pixels as f64 / best / 1e6
    );
    Ok(())
}
