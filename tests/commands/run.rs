//! `cometphot run`: the whole chain on a small simulated campaign, the configuration written
//! back, and refusals that protect the inputs.

use crate::common::cometphot;
use cometphot::simulate::campaign::{builtin_campaign, campaign_toml};

#[test]
fn run_chains_every_step_on_a_small_campaign() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let mut config = builtin_campaign("3I-2025").unwrap();
    config.nights_utc = ["2025-07-08", "2025-08-01", "2025-08-22", "2025-09-07"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    config.n_bias = 2;
    config.n_flat = 2;
    config.n_science = 1;
    config.coma_outer_radius_arcsec = 25.0;
    let toml = root.join("campaign.toml");
    std::fs::write(&toml, campaign_toml(&config).unwrap()).unwrap();
    let raw = root.join("raw");
    let (code, _, stderr) = cometphot(&[
        "simulate",
        "--campaign",
        &toml.display().to_string(),
        "--out",
        &raw.display().to_string(),
        "-q",
    ]);
    assert_eq!(code, 0, "{stderr}");
    let out = root.join("results");
    let (code, _, stderr) = cometphot(&[
        "run",
        &raw.display().to_string(),
        "--out",
        &out.display().to_string(),
    ]);
    assert!(code == 0 || code == 2, "{stderr}");
    for file in [
        "run.toml",
        "photometry.csv",
        "photometry.parquet",
        "skipped.csv",
        "fit.json",
        "lightcurve.csv",
        "dust.csv",
        "dust_trend.json",
        "grains.csv",
        "comparison.csv",
        "report.md",
        "plots/lightcurve.png",
        "plots/reduced_magnitude.svg",
        "plots/production.png",
    ] {
        assert!(out.join(file).is_file(), "{file} missing; stderr: {stderr}");
    }
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(report.contains("| index n |"), "{report}");
    assert!(report.contains("m_sun = -27.15"), "{report}");
    assert!(report.contains("![plots/reduced_magnitude.png](plots/reduced_magnitude.png)"));
    // The configuration written back runs again to the same fit.
    let fit_before = std::fs::read_to_string(out.join("fit.json")).unwrap();
    let again = root.join("again");
    let (code, _, stderr) = cometphot(&[
        "run",
        &out.join("run.toml").display().to_string(),
        "--out",
        &again.display().to_string(),
        "-q",
    ]);
    assert!(code == 0 || code == 2, "{stderr}");
    let fit_after = std::fs::read_to_string(again.join("fit.json")).unwrap();
    let strip = |s: &str| {
        s.replace(&out.display().to_string(), "")
            .replace(&again.display().to_string(), "")
    };
    assert_eq!(strip(&fit_before), strip(&fit_after));
}

#[test]
fn run_refuses_bad_configurations() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let raw = root.join("raw");
    std::fs::create_dir_all(raw.join("night")).unwrap();
    let (code, _, stderr) = cometphot(&[
        "run",
        &raw.display().to_string(),
        "--out",
        &raw.join("results").display().to_string(),
    ]);
    assert_eq!(code, 1);
    assert!(stderr.contains("inside the input directory"), "{stderr}");
    assert!(
        !raw.join("results").exists(),
        "nothing may be written inside the input"
    );

    let bad = root.join("bad.toml");
    std::fs::write(&bad, "objet = \"3I\"\n").unwrap();
    let (code, _, stderr) = cometphot(&["run", &bad.display().to_string()]);
    assert_eq!(code, 1);
    assert!(
        stderr.contains("bad.toml") && stderr.contains("objet"),
        "{stderr}"
    );

    let (code, _, stderr) = cometphot(&["run", &root.join("absent").display().to_string()]);
    assert_eq!(code, 1);
    assert!(stderr.contains("absent"), "{stderr}");
}
