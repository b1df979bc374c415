//! End to end: a simulated 3I/ATLAS campaign of raw ALFOSC frames (22 nights, July–September
//! 2025, n = 3.8, β = 0.04 mag/deg) → `simulate --campaign` → `photometry` per night (reduce,
//! WCS, comet from its ephemeris, catalogue zero point, 10,000 km aperture) → `fit` recovers
//! the true n within its quoted 1σ error. Frames flagged saturated or star_in_aperture are
//! left out by `fit`, as they would be by an astronomer.
//!
//! The coma is cut at 25″ so that the 30–45″ sky annulus holds no comet light: the truth in
//! the fixed aperture is then exactly what a correct measurement returns (with the default
//! 60″ coma the annulus subtracts 5–8 % of the aperture flux, a bias the truth table lists
//! as `annulus_coma_bias_mag`).

mod common;

use cometphot::simulate::campaign::{builtin_campaign, campaign_toml};
use common::cometphot;

#[test]
fn simulated_3i_campaign_recovers_n_through_the_whole_pipeline() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let mut config = builtin_campaign("3I-2025").unwrap();
    config.n_bias = 2;
    config.n_flat = 2;
    config.n_science = 1;
    config.coma_outer_radius_arcsec = 25.0;
    let campaign_file = root.join("campaign.toml");
    std::fs::write(&campaign_file, campaign_toml(&config).unwrap()).unwrap();
    let sim = root.join("sim");
    let (code, _, stderr) = cometphot(&[
        "simulate",
        "--campaign",
        &campaign_file.display().to_string(),
        "--out",
        &sim.display().to_string(),
        "-q",
    ]);
    assert_eq!(code, 0, "{stderr}");

    let mut nights: Vec<_> = std::fs::read_dir(&sim)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    nights.sort();
    assert_eq!(nights.len(), 22);
    let mut table = String::new();
    for night in &nights {
        let out = root.join(format!(
            "{}.csv",
            night.file_name().unwrap().to_string_lossy()
        ));
        let (code, _, stderr) = cometphot(&[
            "photometry",
            &night.display().to_string(),
            "--object",
            "3I",
            "--catalog",
            &night.join("catalogue.csv").display().to_string(),
            "--out",
            &out.display().to_string(),
            "-q",
        ]);
        assert_eq!(code, 0, "{}: {stderr}", night.display());
        let text = std::fs::read_to_string(&out).unwrap();
        let mut lines = text.lines();
        let header = lines.next().unwrap();
        if table.is_empty() {
            table.push_str(header);
            table.push('\n');
        }
        for line in lines {
            table.push_str(line);
            table.push('\n');
        }
    }
    let photometry = root.join("photometry.csv");
    std::fs::write(&photometry, &table).unwrap();
    assert_eq!(table.lines().count(), 23);

    // β is the simulation's truth, so it is fixed without uncertainty: the test is of the
    // photometric errors.
    let fit_json = root.join("fit.json");
    let (code, _, stderr) = cometphot(&[
        "fit",
        &photometry.display().to_string(),
        "--object",
        "3I",
        "--phase-coeff",
        "0.04",
        "--phase-coeff-err",
        "0",
        "--bootstrap",
        "0",
        "--out",
        &fit_json.display().to_string(),
    ]);
    assert_eq!(code, 0, "{stderr}");
    println!("{stderr}");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&fit_json).unwrap()).unwrap();
    let n = json["n"].as_f64().unwrap();
    let n_err = json["n_err"].as_f64().unwrap();
    let h = json["h_mag"].as_f64().unwrap();
    let h_err = json["h_err"].as_f64().unwrap();
    println!("n = {n:.4} ± {n_err:.4} (truth 3.8), H = {h:.4} ± {h_err:.4} (truth 8.0)");
    assert!((n - 3.8).abs() < n_err, "n = {n} ± {n_err}");
    assert!((h - 8.0).abs() < 3.0 * h_err, "H = {h} ± {h_err}");
    // Frames with a star in the aperture or a saturated star are left out of the fit.
    let n_points = json["n_points"].as_u64().unwrap();
    assert!((15..=22).contains(&n_points), "{n_points} points");

    // Dust from the same photometry: with a fixed linear aperture the dM/dt index is 2 − n
    // and dM/dt at 2 au follows in closed form from the simulation's H and n.
    let dust_csv = root.join("dust.csv");
    let (code, _, stderr) = cometphot(&[
        "dust",
        &photometry.display().to_string(),
        "--object",
        "3I",
        "--band",
        "R",
        "--system",
        "vega",
        "--phase-coeff",
        "0.04",
        "--phase-coeff-err",
        "0",
        "--at-rh",
        "2",
        "--out",
        &dust_csv.display().to_string(),
    ]);
    assert_eq!(code, 0, "{stderr}");
    println!("{stderr}");
    let trend: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(root.join("dust_trend.json")).unwrap())
            .unwrap();
    let production = &trend["production"];
    let index = production["index"].as_f64().unwrap();
    let index_err = production["index_err"].as_f64().unwrap();
    let rate = production["value_at_rh"].as_f64().unwrap();
    let rate_err = production["value_err"].as_f64().unwrap();
    // Closed form (DESIGN §4): H(rH) = H + (2.5 n − 5) log10 rH; p C_e = π (1 au)² 10^(0.4 (m_sun
    // − H(rH))); dM/dt = 4 ρ_d a C_e v / (3 ℓ) with p = 0.1, ρ_d = 500 kg/m³, a = 100 µm,
    // v = 5 m/s, ℓ = 10,000 km.
    let m_sun = trend["assumptions"]["m_sun_mag"].as_f64().unwrap();
    let reduced = 8.0 + (2.5 * 3.8 - 5.0) * 2f64.log10();
    let au_m = 1.495_978_707e11;
    let cross_section_m2 =
        std::f64::consts::PI * au_m * au_m * 10f64.powf(0.4 * (m_sun - reduced)) / 0.1;
    let expected_rate = 4.0 * 500.0 * 100e-6 * cross_section_m2 * 5.0 / (3.0 * 1e7);
    println!(
        "dM/dt index {index:.4} ± {index_err:.4} (2 − n = −1.8); dM/dt(2 au) = {rate:.3} ± \
         {rate_err:.3} kg/s, closed form {expected_rate:.3} kg/s"
    );
    assert!(
        (index + 1.8).abs() < 2.0 * index_err,
        "{index} ± {index_err}"
    );
    assert!(
        (rate - expected_rate).abs() < 3.0 * rate_err,
        "{rate} ± {rate_err}"
    );
}
