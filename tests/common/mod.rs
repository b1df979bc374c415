//! Helpers shared by the integration tests that run the `cometphot` binary.

use std::process::Command;

/// Runs the binary from the repository root; returns (exit code, stdout, stderr).
pub fn cometphot(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_cometphot"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run cometphot");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
