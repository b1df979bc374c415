//! `cometphot fit` from the command line: real lightcurves, the JSON fields, computed
//! geometry, determinism, and a clear error for each kind of bad input.

use std::path::Path;
use std::process::Command;

use crate::common::cometphot;

const HEADER: &str = "mjd,rh,delta,alpha,mag,mag_err,filter";

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

/// A clean 3I-like table of `n` points.
fn good_rows(n: usize) -> Vec<String> {
    (0..n)
        .map(|i| {
            let rh = 4.5 - 0.1 * i as f64;
            let mag = 10.0 + 5.0 * 3.0f64.log10() + 9.5 * rh.log10() + 0.04 * 15.0;
            format!("{},{rh},3.0,15.0,{mag:.4},0.02,R", 60870.0 + 4.0 * i as f64)
        })
        .collect()
}

fn table(rows: &[String]) -> String {
    format!("{HEADER}\n{}\n", rows.join("\n"))
}

fn fails_with(args: &[&str], needles: &[&str]) {
    let (code, _, stderr) = cometphot(args);
    assert_eq!(code, 1, "exit status for {args:?}; stderr: {stderr}");
    for needle in needles {
        assert!(
            stderr.contains(needle),
            "{args:?}: expected '{needle}' in: {stderr}"
        );
    }
}

#[test]
fn bad_inputs_give_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let good = good_rows(6);

    let two = write(d, "two.csv", &table(&good[..2]));
    fails_with(&["fit", &two], &["2 point(s) for 2 parameters"]);

    let mut rows = good.clone();
    rows[2] = rows[2].replace(",0.02,R", ",0,R");
    let zero = write(d, "zero.csv", &table(&rows));
    fails_with(
        &["fit", &zero],
        &["zero.csv", "row 3", "'mag_err'", "must be > 0"],
    );

    let mut rows = good.clone();
    rows[1] = rows[1].replace(",0.02,R", ",-0.05,R");
    let negative = write(d, "negative.csv", &table(&rows));
    fails_with(&["fit", &negative], &["row 2", "'mag_err'"]);

    let mut rows = good.clone();
    rows[4] = "60900,3.9,3.0,15.0,inf,0.02,R".into();
    let infinite = write(d, "inf.csv", &table(&rows));
    fails_with(&["fit", &infinite], &["row 5", "'mag'", "not finite"]);

    let mut rows = good.clone();
    rows[3] = "60900,abc,3.0,15.0,17.0,0.02,R".into();
    let text = write(d, "text.csv", &table(&rows));
    fails_with(&["fit", &text], &["row 4", "'rh'", "'abc' is not a number"]);

    let mut rows = good.clone();
    rows[0] = "60870,,3.0,15.0,17.0,0.02,R".into();
    let empty = write(d, "empty.csv", &table(&rows));
    fails_with(&["fit", &empty], &["row 1", "'rh'", "empty cell"]);

    let same: Vec<String> = (0..5)
        .map(|i| {
            format!(
                "{},2.0,1.5,20.0,{},0.05,R",
                60870 + i,
                15.0 + 0.01 * i as f64
            )
        })
        .collect();
    let single = write(d, "single.csv", &table(&same));
    fails_with(
        &["fit", &single],
        &["all 5 selected points are at rH = 2 au"],
    );

    let no_mag = write(
        d,
        "nomag.csv",
        "mjd,rh,delta,alpha,brightness,mag_err\n60870,4,3,15,17,0.02\n",
    );
    fails_with(
        &["fit", &no_mag],
        &["no column for mag", "brightness", "--column mag=NAME"],
    );

    let ok = write(d, "ok.csv", &table(&good));
    fails_with(
        &["fit", &ok, "--column", "brightness=mag"],
        &["unknown field 'brightness'"],
    );
    fails_with(
        &["fit", &ok, "--phase-law", "lambert"],
        &["lambert", "linear"],
    );
    fails_with(&["fit", &ok, "--leg", "pre"], &["perihelion"]);
    let three = write(d, "three.csv", &table(&good[..3]));
    fails_with(
        &["fit", &three, "--model", "broken"],
        &["at least 4 distinct heliocentric distances"],
    );
    fails_with(
        &["fit", &d.join("absent.csv").display().to_string()],
        &["absent.csv"],
    );
}

#[test]
fn real_lightcurve_json_has_the_issue_fields() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("67P.json");
    let (code, stdout, stderr) = cometphot(&[
        "fit",
        "data/real/comet-lightcurves/67P_ATLAS.csv",
        "--filter",
        "o",
        "--model",
        "both",
        "--bootstrap",
        "100",
        "--no-extra-scatter",
        "--out",
        &out.display().to_string(),
    ]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.is_empty());
    // The same numbers as numpy (data/reference/lightcurve_fits_numpy.csv, 67P, o,
    // fixed_phase_propagated): n = 5.327015 ± 0.844610.
    assert!(
        stderr.starts_with("n = 5.33 ± 0.84 over 2.83–1.21 au"),
        "{stderr}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    for key in [
        "n",
        "n_err",
        "h_mag",
        "h_err",
        "phase_coeff",
        "phase_coeff_err",
        "chi2_dof",
        "n_points",
        "rh_min_au",
        "rh_max_au",
        "n1",
        "n1_err",
        "n2",
        "n2_err",
        "rh_break_au",
    ] {
        assert!(json[key].is_number(), "{key} missing: {json}");
    }
    assert_eq!(json["n_points"], 465);
    assert!((json["n"].as_f64().unwrap() - 5.327014817097903).abs() < 1e-6);
    assert_eq!(json["rh_min_au"], 1.211);
    let points = std::fs::read_to_string(dir.path().join("67P_points.csv")).unwrap();
    assert_eq!(points.lines().count(), 466);
    assert!(points.starts_with("row,mjd,rh_au,delta_au,phase_deg,filter,mag,mag_err"));

    // One point per night and filter.
    let (code, stdout, stderr) = cometphot(&[
        "fit",
        "data/real/comet-lightcurves/67P_ATLAS.csv",
        "--filter",
        "o",
        "--per-night",
        "--bootstrap",
        "0",
    ]);
    assert_eq!(code, 0, "{stderr}");
    let json: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let nights = json["n_points"].as_u64().unwrap();
    assert!(nights > 50 && nights < 465, "{nights} nights");
}

#[test]
fn geometry_is_computed_from_the_orbit_when_missing() {
    let dir = tempfile::tempdir().unwrap();
    // 3I on three dates, magnitudes only.
    let text = "date_obs,mag,mag_err\n\
                2025-07-03T22:00:00,17.5,0.03\n\
                2025-08-01T22:00:00,16.9,0.03\n\
                2025-09-01T21:00:00,16.3,0.03\n\
                2025-09-20T20:30:00,15.9,0.03\n";
    let path = write(dir.path(), "3I.csv", text);
    fails_with(&["fit", &path], &["no column for rh", "--object"]);
    let (code, stdout, stderr) = cometphot(&["fit", &path, "--object", "3I", "--site", "NOT"]);
    assert_eq!(code, 0, "{stderr}");
    let json: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let rh_max = json["rh_max_au"].as_f64().unwrap();
    let rh_min = json["rh_min_au"].as_f64().unwrap();
    // 3I: rH ≈ 4.4 au on 3 July and ≈ 2.1 au on 20 September 2025 (JPL).
    assert!((4.3..4.5).contains(&rh_max), "{rh_max}");
    assert!((1.9..2.3).contains(&rh_min), "{rh_min}");
}

#[test]
fn results_do_not_depend_on_the_number_of_threads() {
    let run = |threads: &str| {
        let out = Command::new(env!("CARGO_BIN_EXE_cometphot"))
            .args([
                "fit",
                "data/real/comet-lightcurves/46P_ZTF.csv",
                "--model",
                "both",
                "--bootstrap",
                "200",
                "-q",
            ])
            .env("RAYON_NUM_THREADS", threads)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .unwrap();
        assert!(out.status.success());
        out.stdout
    };
    assert_eq!(run("1"), run("2"));
}

#[test]
fn broken_power_law_behaves_sensibly_on_67p_after_perihelion() {
    // 67P/Churyumov–Gerasimenko passed perihelion on 2021 Nov 2 (MJD 59520, JPL); after it
    // the ATLAS o-band lightcurve fades faster near the Sun than farther out.
    let (code, stdout, stderr) = cometphot(&[
        "fit",
        "data/real/comet-lightcurves/67P_ATLAS.csv",
        "--filter",
        "o",
        "--perihelion-mjd",
        "59520",
        "--leg",
        "post",
        "--model",
        "both",
        "--bootstrap",
        "0",
    ]);
    assert_eq!(code, 0, "{stderr}");
    println!("{stderr}");
    let j: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let get = |k: &str| j[k].as_f64().unwrap();
    // The break lies inside the data, with enough points on each side, and the two indices
    // bracket the single one.
    assert!(get("rh_break_au") > get("rh_min_au") && get("rh_break_au") < get("rh_max_au"));
    assert!(get("n1") < get("n") && get("n") < get("n2"), "{j}");
    assert!(get("broken_chi2_dof") < get("chi2_dof"));
    assert_eq!(j["comparison"]["break_warranted"], true);
    let broken_points = j["n_points"].as_u64().unwrap();
    assert!(broken_points > 200);
}
