//! The `cometphot` command line. Each subcommand is a thin wrapper over one library step.

mod cli;

use clap::Parser;

/// mimalloc (as polars recommends): it keeps the freed frame-sized buffers (tens of MB each)
/// for the next frame, and backs them with transparent huge pages. `bench/cold_warm.py` on the
/// bench's 50 frames, everything on (medians of 4 rounds, 2026-11-30): a run started right
/// after another takes 2.03 s, against 2.24 s with glibc's malloc (4.00 s of user time
/// against 3.81). A run started after 8 s idle takes 2.37 s, against glibc's 2.26 s: this
/// VM hands memory that stays free back to its host, and the huge pages are made from that
/// memory, which the host must then fault in again (0.72 s of system time against 0.16).
/// Without huge pages (`MIMALLOC_ALLOW_THP=0`) both take 2.14 s. Huge pages are kept: the
/// pause costs a fixed ~0.34 s and 4 KiB pages ~2.2 ms a frame, so they pay from ~150 frames
/// on, and where memory is not handed back (bare metal) they always do.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

extern "C" {
    /// mimalloc's `mi_option_set`, from the C library that the `mimalloc` crate links.
    fn mi_option_set(option: std::os::raw::c_int, value: std::os::raw::c_long);
}

/// `mi_option_purge_delay` in mimalloc's `mi_option_t` (the same in its v2 and v3).
const MI_OPTION_PURGE_DELAY: std::os::raw::c_int = 15;

fn main() {
    // mimalloc by default hands freed memory back to the OS after 10 ms, and the next frame's
    // buffers then fault their pages in again (zeroed by the kernel): with purging off the
    // freed pages are reused as they are. On 20 full-size frames: 104 000 → 1 400 minor page
    // faults, 1.8 → 1.0 s of system time, for ~140 MB more resident memory at the peak.
    // SAFETY: the signature is mimalloc's `void mi_option_set(mi_option_t, long)`; it does a
    // plain (non-atomic) store into mimalloc's option table, so it is called here, first thing
    // in `main`, before any thread is spawned (an out-of-range option is ignored by mimalloc).
    unsafe { mi_option_set(MI_OPTION_PURGE_DELAY, -1) };
    // clap's own exit status for a usage error is 2, which cometphot reserves for "some
    // inputs skipped": usage errors exit with 1 (help and version with 0).
    let args = match cli::Cli::try_parse() {
        Ok(args) => args,
        Err(e) => {
            let code = if e.use_stderr() {
                cli::EXIT_FAILURE
            } else {
                cli::EXIT_OK
            };
            let _ = e.print();
            std::process::exit(code);
        }
    };
    let code = match cli::run(args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            cli::EXIT_FAILURE
        }
    };
    std::process::exit(code);
}
