//! `cometphot simulate` (written once the simulator API lands).
