//! The fit, dust, compare and run commands from the command line.

mod common;

#[path = "commands/compare.rs"]
mod compare;
#[path = "commands/dust.rs"]
mod dust;
#[path = "commands/fit.rs"]
mod fit;
#[path = "commands/run.rs"]
mod run;
