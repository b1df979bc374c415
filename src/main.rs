//! The `cometphot` command line. Each subcommand is a thin wrapper over one library step.

mod cli;

use clap::Parser;

/// mimalloc (as polars recommends): the per-frame buffers are tens of MB each, and glibc's
/// malloc maps and unmaps such blocks on every allocation, which cost 6.5 s of system time
/// (page faults and TLB shootdowns between the threads) on 20 full-size frames against 1.7 s
/// with mimalloc, which keeps freed memory for the next frame.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
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
