//! Embeds every instrument profile in `data/instruments/*.toml` into the binary, so that a
//! new instrument needs only a new TOML file.

use std::{env, fs, path::Path};

fn main() {
    let dir = Path::new("data/instruments");
    println!("cargo:rerun-if-changed={}", dir.display());
    let mut files: Vec<_> = fs::read_dir(dir)
        .expect("data/instruments must exist")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    let mut code = String::from("pub const PROFILES: &[(&str, &str)] = &[\n");
    for f in &files {
        println!("cargo:rerun-if-changed={}", f.display());
        let abs = fs::canonicalize(f).expect("profile path");
        let name = f.file_name().unwrap_or_default().to_string_lossy();
        code.push_str(&format!("    ({name:?}, include_str!({:?})),\n", abs));
    }
    code.push_str("];\n");
    let out = Path::new(&env::var("OUT_DIR").expect("OUT_DIR")).join("shipped_profiles.rs");
    fs::write(out, code).expect("write shipped_profiles.rs");
}
