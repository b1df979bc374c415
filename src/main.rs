//! The `cometphot` command line. Each subcommand is a thin wrapper over one library step.

mod cli;

use clap::Parser;

fn main() {
    let args = cli::Cli::parse();
    let code = match cli::run(args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            cli::EXIT_FAILURE
        }
    };
    std::process::exit(code);
}
