//! The fit, dust, compare and run commands from the command line.

mod common;
#[path = "common/csv_rows.rs"]
mod csv_rows;

#[path = "commands/compare.rs"]
mod compare;
#[path = "commands/dust.rs"]
mod dust;
#[path = "commands/fit.rs"]
mod fit;
#[path = "commands/run.rs"]
mod run;
