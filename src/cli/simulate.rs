//! `cometphot simulate`.

use clap::Args;

use super::Verbosity;

#[derive(Debug, Args)]
pub struct SimulateArgs {}

pub fn run(_args: SimulateArgs, _verbosity: Verbosity) -> anyhow::Result<i32> {
    anyhow::bail!("simulate: not wired yet")
}
