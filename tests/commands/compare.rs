//! `cometphot compare`: literature values with citations, and the values measured by `fit`
//! and `dust` carried into the table.

use std::path::Path;

use crate::common::cometphot;

/// A noiseless lightcurve following H + 5 log Δ + 2.5 n log rH + 0.04 α.
fn lightcurve(path: &Path, n: f64, rh_range: (f64, f64)) {
    let mut text = String::from("mjd,rh,delta,alpha,mag,mag_err,filter\n");
    for i in 0..12 {
        let rh = rh_range.0 + (rh_range.1 - rh_range.0) * i as f64 / 11.0;
        let delta = rh - 0.8;
        let alpha = 5.0 + i as f64;
        let mag = 8.0 + 5.0 * delta.log10() + 2.5 * n * rh.log10() + 0.04 * alpha;
        text.push_str(&format!(
            "{},{rh},{delta},{alpha},{mag},0.02,R\n",
            60860.0 + 4.0 * i as f64
        ));
    }
    std::fs::write(path, text).unwrap();
}

#[test]
fn literature_only_table_cites_the_3i_study() {
    let (code, stdout, stderr) = cometphot(&["compare", "--object", "3I", "--reference", "2I"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("3.8 ± 0.3"), "{stdout}");
    assert!(stdout.contains("1.9 ± 0.1"));
    assert!(stdout.contains("180 kg/s"));
    assert!(stdout.contains("70 kg/s"));
    assert!(stdout.contains("no dust measurements given"));
}

#[test]
fn measured_values_are_carried_into_the_table() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let p = |name: &str| d.join(name).display().to_string();
    for (name, n, range) in [("3I", 3.8, (4.4, 1.9)), ("2I", 1.9, (2.9, 2.0))] {
        lightcurve(&d.join(format!("{name}.csv")), n, range);
        let (code, _, stderr) = cometphot(&[
            "fit",
            &p(&format!("{name}.csv")),
            "--bootstrap",
            "0",
            "--out",
            &p(&format!("{name}_fit.json")),
        ]);
        assert_eq!(code, 0, "{stderr}");
        let (code, _, stderr) = cometphot(&[
            "dust",
            &p(&format!("{name}.csv")),
            "--band",
            "R",
            "--system",
            "vega",
            "--out",
            &p(&format!("{name}_dust.csv")),
        ]);
        assert_eq!(code, 0, "{stderr}");
    }
    let (code, stdout, stderr) = cometphot(&[
        "compare",
        "--fit",
        &p("3I_fit.json"),
        "--dust",
        &p("3I_dust_trend.json"),
        "--reference-fit",
        &p("2I_fit.json"),
        "--reference-dust",
        &p("2I_dust_trend.json"),
        "--out",
        &p("comparison.csv"),
    ]);
    assert_eq!(code, 0, "{stderr}");
    println!("{stdout}");
    let table = std::fs::read_to_string(d.join("comparison.csv")).unwrap();
    let rows: Vec<&str> = table.lines().collect();
    assert!(rows[0].starts_with("quantity,unit,3I_cometphot,3I_cometphot_err,3I_literature"));
    let field = |row: &str, k: usize| -> f64 { row.split(',').nth(k).unwrap().parse().unwrap() };
    // n from the noiseless lightcurves, and the dM/dt index 2 − n of a fixed linear aperture.
    assert!((field(rows[1], 2) - 3.8).abs() < 1e-6, "{}", rows[1]);
    assert!((field(rows[2], 2) + 1.8).abs() < 1e-6, "{}", rows[2]);
    let reference_n = rows[1].split(',').nth(6).unwrap();
    assert!((reference_n.parse::<f64>().unwrap() - 1.9).abs() < 1e-6);
    assert!(stdout.contains("3I: dust assumptions:"), "{stdout}");

    // Dust read at another rH is refused.
    let (code, _, stderr) = cometphot(&[
        "compare",
        "--dust",
        &p("3I_dust_trend.json"),
        "--at-rh",
        "3",
    ]);
    assert_eq!(code, 1);
    assert!(stderr.contains("read at rH = 2 au"), "{stderr}");
}
