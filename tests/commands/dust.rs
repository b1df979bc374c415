//! `cometphot dust` and `cometphot grains` from the command line: outputs list the assumptions,
//! bad options give clear errors.

use crate::common::cometphot;

/// A small synthetic 3I-like lightcurve: C_e ∝ rH^(−1.8) in a fixed 10,000 km aperture.
fn synthetic_csv(dir: &std::path::Path) -> std::path::PathBuf {
    let m_sun = -27.15_f64; // R_C, Vega (Willmer 2018)
    let au_km = 149_597_870.7_f64;
    let mut text = String::from("mjd,rh,delta,alpha,mag,mag_err,filter,radius_km\n");
    for i in 0..12 {
        let rh = 4.5 - 0.2 * i as f64;
        let delta = 3.5 - 0.08 * i as f64;
        let alpha = 5.0 + 1.5 * i as f64;
        let ce = 200.0 * (rh / 2.0).powf(-1.8); // km², p = 0.1
        let h = m_sun - 2.5 * (0.1 * ce / (std::f64::consts::PI * au_km * au_km)).log10();
        let m = h + 5.0 * (rh * delta).log10() + 0.04 * alpha;
        text.push_str(&format!(
            "{},{rh},{delta},{alpha},{m:.5},0.02,R,10000\n",
            60860.0 + 7.0 * i as f64
        ));
    }
    let path = dir.join("lc.csv");
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn dust_outputs_list_the_assumptions() {
    let dir = tempfile::tempdir().unwrap();
    let lc = synthetic_csv(dir.path());
    let out = dir.path().join("dust.csv");
    let (code, _, err) = cometphot(&[
        "dust",
        lc.to_str().unwrap(),
        "--band",
        "R",
        "--system",
        "vega",
        "--n-index",
        "3.8",
        "--n-index-err",
        "0.1",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    for needle in [
        "Assumptions: p = 0.100",
        "-27.15 (R_Cousins, Vega; Willmer 2018)",
        "ρ_d = 500 kg/m³",
        "a = 100 µm",
        "v = 5 m/s",
        "ℓ = 10000 km (fixed linear)",
        "linear 0.040 ± 0.020 mag/deg",
        "radius_km column",
        "consistent",
    ] {
        assert!(err.contains(needle), "summary lacks {needle}: {err}");
    }
    let csv = std::fs::read_to_string(&out).unwrap();
    let header = csv.lines().next().unwrap();
    for col in [
        "cross_section_km2",
        "afrho_cm",
        "dust_mass_kg",
        "production_kg_s",
        "production_err_kg_s",
        "albedo",
        "m_sun_mag",
        "m_sun_band",
        "m_sun_system",
        "grain_density_kg_m3",
        "grain_radius_um",
        "speed_m_s",
        "aperture_kind",
        "phase_law",
        "phase_coeff_mag_per_deg",
    ] {
        assert!(header.split(',').any(|c| c == col), "{col} not in {header}");
    }
    assert_eq!(csv.lines().count(), 13);
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("dust_trend.json")).unwrap())
            .unwrap();
    // C_e and dM/dt ∝ rH^(−1.8) exactly; 200 km² at 2 au.
    let ce = &json["cross_section"];
    assert!((ce["index"].as_f64().unwrap() + 1.8).abs() < 1e-6, "{ce}");
    let v = ce["value_at_rh"].as_f64().unwrap();
    assert!((v / 200.0 - 1.0).abs() < 1e-4, "{v}");
    assert!((json["production"]["index"].as_f64().unwrap() + 1.8).abs() < 1e-6);
    // dM/dt = 4 ρ a C v / (3 ℓ) with a in µm, C in km², ℓ = 10^4 km = 10^7 m: 6.667 kg/s.
    let q = json["production"]["value_at_rh"].as_f64().unwrap();
    assert!(
        (q / (4.0 * 500.0 * 100.0 * 200.0 * 5.0 / 3e7) - 1.0).abs() < 1e-4,
        "{q}"
    );
    assert_eq!(json["two_minus_n_check"]["production_consistent"], true);
    assert_eq!(json["assumptions"]["m_sun_system"], "Vega");
    assert_eq!(json["assumptions"]["grain_density_kg_m3"], 500.0);
}

#[test]
fn dust_bad_options_are_clear() {
    let dir = tempfile::tempdir().unwrap();
    let lc = synthetic_csv(dir.path());
    let lc = lc.to_str().unwrap();
    let (code, _, err) = cometphot(&["dust", lc, "--band", "Q"]);
    assert_ne!(code, 0);
    assert!(
        err.contains("unknown band 'Q'") && err.contains("R_Cousins"),
        "{err}"
    );
    let (code, _, err) = cometphot(&["dust", lc, "--band", "R", "--density", "-5"]);
    assert_ne!(code, 0);
    assert!(err.contains("grain_density_kg_m3 = -5"), "{err}");
    let (code, _, err) = cometphot(&["dust", lc]);
    assert_ne!(code, 0);
    assert!(err.contains("--band R --system vega"), "{err}");
    let (code, _, err) = cometphot(&["dust", lc, "--band", "R", "--system", "jansky"]);
    assert_ne!(code, 0);
    assert!(err.contains("unknown magnitude system"), "{err}");
    let (code, _, err) = cometphot(&["dust", lc, "--band", "R", "--phase-law", "lambert"]);
    assert_ne!(code, 0);
    assert!(err.contains("unknown phase law"), "{err}");
}

#[test]
fn dust_on_real_67p_lightcurve() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("67P.csv");
    let (code, _, err) = cometphot(&[
        "dust",
        "data/real/comet-lightcurves/67P_ATLAS.csv",
        "--filter",
        "o",
        "--band",
        "o",
        "--system",
        "ab",
        "--aperture-arcsec",
        "5",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("o_ATLAS, AB") && err.contains("5.00 arcsec (fixed angular)"),
        "{err}"
    );
    assert!(std::fs::read_to_string(&out)
        .unwrap()
        .contains("fixed_angular"));
}

#[test]
fn grains_region_and_errors() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("grains.csv");
    let (code, _, err) = cometphot(&[
        "grains",
        "--object",
        "3I",
        "--morphology",
        "data/reference/morphology_3I_2025.csv",
        "--activity-start",
        "2025-06-01",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("a = 100 µm, v = 5 m/s is inside"), "{err}");
    assert!(err.contains("ρ_d = 500 kg/m³") && err.contains("activity onset 2025-06-01"));
    let grid = std::fs::read_to_string(&out).unwrap();
    assert!(grid.starts_with("a_um,v_m_s,beta,consistent,reason"));
    assert_eq!(grid.lines().count(), 1 + 41 * 31);
    assert!(dir.path().join("grains_dates.csv").exists());

    let (code, table, err) = cometphot(&[
        "grains",
        "--object",
        "3I",
        "--dates",
        "2025-07-03,2025-08-01",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(table.contains("turnaround_projected_arcsec") && table.contains("sun_pa_deg"));
    assert!(err.contains("β = 0.0115"), "{err}");

    let (code, _, err) = cometphot(&[
        "grains",
        "--object",
        "3I",
        "--morphology",
        "data/reference/morphology_3I_2025.csv",
    ]);
    assert_ne!(code, 0);
    assert!(err.contains("--activity-start"), "{err}");
    let (code, _, err) = cometphot(&[
        "grains",
        "--object",
        "3I",
        "--dates",
        "2025-07-03",
        "--density",
        "-1",
    ]);
    assert_ne!(code, 0);
    assert!(err.contains("--density must be a positive number"), "{err}");
}
