//! `cometphot run`: the whole chain on a small simulated campaign, the configuration written
//! back, and refusals that protect the inputs.

use std::path::Path;

use crate::common::cometphot;
use crate::csv_rows::{number, read_rows};
use cometphot::simulate::campaign::{
    builtin_campaign, campaign_toml, CampaignConfig, CampaignStandards,
};

/// Raw frames of a 4-night simulated 3I campaign (one science frame, two biases and flats
/// per night) in `root/raw`.
fn small_campaign(root: &std::path::Path) -> std::path::PathBuf {
    simulated_campaign(
        root,
        &["2025-07-08", "2025-08-01", "2025-08-22", "2025-09-07"],
        None,
    )
}

/// Raw frames of a simulated 3I campaign on `nights` (one science frame, two biases and flats
/// per night, and the standard frames of `standards`) in `root/raw`.
fn simulated_campaign(
    root: &std::path::Path,
    nights: &[&str],
    standards: Option<CampaignStandards>,
) -> std::path::PathBuf {
    let mut config = builtin_campaign("3I-2025").unwrap();
    config.nights_utc = nights.iter().map(|s| s.to_string()).collect();
    config.standards = standards;
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
    raw
}

#[test]
fn run_chains_every_step_on_a_small_campaign() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let raw = small_campaign(root);
    // A bad frame among the good ones: reported and skipped, the rest goes on.
    let bad_frame = raw.join("20250801").join("ALIbroken.fits");
    std::fs::write(
        &bad_frame,
        b"SIMPLE  =                    T / but nothing else",
    )
    .unwrap();
    let out = root.join("results");
    let (code, _, stderr) = cometphot(&[
        "run",
        &raw.display().to_string(),
        "--out",
        &out.display().to_string(),
    ]);
    assert_eq!(code, 2, "a skipped frame gives exit status 2: {stderr}");
    let tables = [
        "frames",
        "photometry",
        "skipped",
        "lightcurve",
        "dust",
        "grains",
        "comparison",
        "growth",
        "zp_stars",
    ];
    for table in tables {
        for ext in ["csv", "parquet"] {
            let file = format!("{table}.{ext}");
            assert!(
                out.join(&file).is_file(),
                "{file} missing; stderr: {stderr}"
            );
        }
    }
    for file in [
        "run.toml",
        "inputs.csv",
        "fit.json",
        "dust_trend.json",
        "report.md",
        "report.html",
        "plots/lightcurve.png",
        "plots/reduced_magnitude.svg",
        "plots/production.png",
        "plots/curve_of_growth.png",
        "plots/syndyne.svg",
        "diagnostics/20250708/stamps/ALIg080005.png",
        "diagnostics/20250708/zero_points/ALIg080005.png",
        "diagnostics/20250708/regions/ALIg080005.reg",
    ] {
        assert!(out.join(file).is_file(), "{file} missing; stderr: {stderr}");
    }
    // The sample's NEOSSat example runs only without an input directory.
    assert!(!out.join("aperture_examples.csv").exists());

    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(report.contains("| index n |"), "{report}");
    assert!(report.contains("m_sun = -27.15"), "{report}");
    assert!(report.contains("(plots/reduced_magnitude.png)"), "{report}");
    assert!(report.contains("(diagnostics/20250708/stamps/ALIg080005.png)"));
    // The skipped frame is listed with its reason, in the table and the report.
    let skipped = std::fs::read_to_string(out.join("skipped.csv")).unwrap();
    let line = skipped
        .lines()
        .find(|l| l.contains("ALIbroken.fits"))
        .unwrap_or_else(|| panic!("the bad frame is not in skipped.csv:\n{skipped}"));
    let reason = line
        .split("\",\"")
        .nth(1)
        .unwrap_or("")
        .trim_end_matches('"')
        .replace("\"\"", "\"");
    assert!(!reason.is_empty(), "{line}");
    assert!(
        report.contains("ALIbroken.fits") && report.contains(&reason),
        "{report}"
    );

    // Every input file is listed with its size and SHA-256.
    let inputs = std::fs::read_to_string(out.join("inputs.csv")).unwrap();
    let frames_on_disk = walk(&raw);
    assert_eq!(inputs.lines().count(), frames_on_disk.len() + 1, "{inputs}");
    let broken = inputs
        .lines()
        .find(|l| l.contains("ALIbroken.fits"))
        .unwrap();
    let size = std::fs::metadata(&bad_frame).unwrap().len();
    assert!(
        broken.ends_with(&format!(",{size},{}", sha256_hex(&bad_frame))),
        "{broken}"
    );
    assert!(report.contains(&sha256_hex(&bad_frame)));

    // The HTML report is self-contained: every plot embedded, nothing linked.
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(html.matches("src=\"data:image/png;base64,").count() >= 5 + 4);
    assert!(!html.contains("src=\"plots/") && !html.contains("(image missing)"));

    // Region files: DS9 image coordinates, 1-based, the aperture of the photometry table.
    let regions =
        std::fs::read_to_string(out.join("diagnostics/20250708/regions/ALIg080005.reg")).unwrap();
    let photometry = std::fs::read_to_string(out.join("photometry.csv")).unwrap();
    let row = photometry
        .lines()
        .find(|l| l.contains("ALIg080005"))
        .unwrap();
    let x: f64 = row.split(',').nth(5).unwrap().parse().unwrap();
    assert!(
        regions.contains(&format!("circle({:.3},", x + 1.0)),
        "{regions}\n{row}"
    );

    // The configuration written back, run again into the same directory, replaces every table
    // with byte-identical content (determinism), and leaves no temporary file behind.
    let before: Vec<(String, Vec<u8>)> = tables
        .iter()
        .map(|t| {
            let f = format!("{t}.csv");
            let bytes = std::fs::read(out.join(&f)).unwrap();
            (f, bytes)
        })
        .collect();
    let fit_before = std::fs::read_to_string(out.join("fit.json")).unwrap();
    let (code, _, stderr) = cometphot(&[
        "run",
        &out.join("run.toml").display().to_string(),
        "--out",
        &out.display().to_string(),
        "-q",
    ]);
    assert_eq!(code, 2, "{stderr}");
    for (file, bytes) in &before {
        assert!(
            &std::fs::read(out.join(file)).unwrap() == bytes,
            "{file} differs between two runs"
        );
    }
    assert_eq!(
        fit_before,
        std::fs::read_to_string(out.join("fit.json")).unwrap()
    );
    let leftovers: Vec<_> = walk(&out)
        .into_iter()
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            name.ends_with(".partial") || name.ends_with(".tmp")
        })
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}

/// SHA-256 of a file by the system's `sha256sum` (coreutils), independent of the crate the
/// binary uses.
fn sha256_hex(path: &std::path::Path) -> String {
    let out = std::process::Command::new("sha256sum")
        .arg(path)
        .output()
        .expect("sha256sum (coreutils)");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap_or("")
        .to_string()
}

/// `run --shard I/N` measures every N-th night; `run --merge-shards N` joins them and writes
/// exactly what one unsharded run writes. A merge before every shard has finished is refused.
#[test]
fn sharded_runs_merge_to_the_unsharded_run() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let raw = small_campaign(root);
    let raw_arg = raw.display().to_string();
    let run = |out: &std::path::Path, extra: &[&str]| {
        let out_arg = out.display().to_string();
        let mut args = vec!["run", raw_arg.as_str(), "--out", out_arg.as_str(), "-q"];
        args.extend(extra);
        cometphot(&args)
    };
    let whole = root.join("whole");
    let (code, _, stderr) = run(&whole, &[]);
    assert_eq!(code, 0, "{stderr}");

    let sharded = root.join("sharded");
    let (code, _, stderr) = run(&sharded, &["--shard", "1/2"]);
    assert_eq!(code, 0, "{stderr}");
    // Shard 1 of 2 measured nights 1 and 3 only, and nothing past the photometry.
    let measured: Vec<String> = std::fs::read_dir(sharded.join("photometry"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".csv") && !n.ends_with("_skipped.csv"))
        .collect();
    assert_eq!(measured.len(), 2, "{measured:?}");
    assert!(!sharded.join("fit.json").exists());
    // Nor the scan, which reads every frame of the campaign: the merge makes frames.csv.
    assert!(!sharded.join("frames.csv").exists());
    let (code, _, stderr) = run(&sharded, &["--merge-shards", "2"]);
    assert_eq!(code, 1, "a merge before shard 2 has run is refused");
    assert!(
        stderr.contains("2/2") && stderr.contains("not finished"),
        "{stderr}"
    );

    let (code, _, stderr) = run(&sharded, &["--shard", "2/2"]);
    assert_eq!(code, 0, "{stderr}");
    let (code, _, stderr) = run(&sharded, &["--merge-shards", "2"]);
    assert_eq!(code, 0, "{stderr}");
    for file in [
        "frames.csv",
        "photometry.csv",
        "skipped.csv",
        "growth.csv",
        "zp_stars.csv",
        "lightcurve.csv",
        "dust.csv",
        "grains.csv",
        "comparison.csv",
        "fit.json",
        "dust_trend.json",
    ] {
        // The JSON files name their input table, in each run's own --out.
        let a = std::fs::read_to_string(whole.join(file))
            .unwrap()
            .replace(&whole.display().to_string(), &sharded.display().to_string());
        let b = std::fs::read_to_string(sharded.join(file)).unwrap();
        assert!(
            a == b,
            "{file} differs between the sharded and the unsharded run"
        );
    }
    let (code, _, stderr) = run(
        &root.join("both"),
        &["--shard", "1/2", "--merge-shards", "2"],
    );
    assert_eq!(code, 1);
    assert!(stderr.contains("cannot be used with"), "{stderr}");
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

/// The README's main job on the shipped sample: the report's n, dust index and dM/dt at 2 au
/// agree with the simulation's truth within the errors the report quotes. With `-q` nothing is
/// printed (not even the sample campaign's generation); without it, the photometry rows left
/// out for their flags are named once (by fit: dust reads the same table).
#[test]
fn sample_run_report_matches_the_truth() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("outputs");
    let (code, _, stderr) = cometphot(&["run", "--out", &out.display().to_string(), "-q"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(stderr, "", "-q prints only errors");
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    let value = |row: &str| -> (f64, f64) {
        let line = report
            .lines()
            .find(|l| l.starts_with(&format!("| {row} |")))
            .unwrap_or_else(|| panic!("no row '{row}' in the report:\n{report}"));
        let cell = line.split('|').nth(2).unwrap().trim();
        let (v, e) = cell.split_once(" ± ").unwrap();
        (v.parse().unwrap(), e.parse().unwrap())
    };
    // Truth of data/campaigns/3I-2025.toml: H = 8.0, n = 3.8; dM/dt ∝ rH^(2 − n).
    let (n, n_err) = value("index n");
    assert!((n - 3.8).abs() < n_err, "n = {n} ± {n_err}");
    let (index, index_err) = value("index of dM/dt");
    assert!((index + 1.8).abs() < index_err, "{index} ± {index_err}");
    // dM/dt at 2 au in closed form (DESIGN §4) with the report's assumptions: p = 0.1,
    // ρ_d = 500 kg/m³, a = 100 µm, v = 5 m/s, ℓ = 10,000 km, m_sun from the dust step.
    let trend: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("dust_trend.json")).unwrap())
            .unwrap();
    let m_sun = trend["assumptions"]["m_sun_mag"].as_f64().unwrap();
    let reduced = 8.0 + (2.5 * 3.8 - 5.0) * 2f64.log10();
    let au_m = 1.495_978_707e11;
    let cross_section_m2 =
        std::f64::consts::PI * au_m * au_m * 10f64.powf(0.4 * (m_sun - reduced)) / 0.1;
    let expected = 4.0 * 500.0 * 100e-6 * cross_section_m2 * 5.0 / (3.0 * 1e7);
    let (rate, rate_err) = value("dM/dt at 2 au (kg/s)");
    assert!(
        (rate - expected).abs() < rate_err,
        "dM/dt(2 au) = {rate} ± {rate_err}, truth {expected}"
    );
    // The real NEOSSat frames, measured as the second example.
    let examples = std::fs::read_to_string(out.join("aperture_examples.csv")).unwrap();
    assert_eq!(examples.lines().count(), 1 + 2 * 3, "{examples}");
    assert!(report.contains("NEOS_SCI_2021316235345.fits"));

    let (code, _, stderr) = cometphot(&["run", "--out", &out.display().to_string()]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        stderr.matches("row(s) left out for their flags").count(),
        1,
        "{stderr}"
    );
}

/// `run` on a campaign with standard-star frames (5 per night, 12 stars) and no reference
/// catalogue: without standards the standard frames are skipped with the `run.toml` key to
/// set; with `standards` in the configuration each night fits zp = zp0 − k·X, the science
/// frames get `zp_method = standards` within 0.02 mag of the simulator's truth
/// (zp0 = 25.0, k = 0.07), the fits appear in `extinction.csv` and the report; a sharded run,
/// and a run on each night's own `standards.csv`, give the same tables.
#[test]
fn run_calibrates_on_standard_stars_without_a_catalogue() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    // Nights whose standard frames span airmass ~1.25–2.35 (in September the comet, and the
    // field 10° north of it, stay low: X 2.0–2.35, and zp0 is an extrapolation).
    let nights = ["2025-07-08", "2025-08-01", "2025-08-22"];
    let raw = simulated_campaign(root, &nights, Some(CampaignStandards::default()));
    let truth: CampaignConfig = builtin_campaign("3I-2025").unwrap();
    let (true_zp0, true_k) = (
        truth.night.zero_point_mag,
        truth.night.extinction_mag_per_airmass,
    );
    // No reference catalogue; the nights' standard fields in one file apart from the frames
    // (as a list of Landolt fields would be).
    let mut landolt = String::new();
    let mut night_dirs: Vec<_> = std::fs::read_dir(&raw)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    night_dirs.sort();
    assert_eq!(night_dirs.len(), nights.len());
    for night in &night_dirs {
        std::fs::remove_file(night.join("catalogue.csv")).unwrap();
        let standards = night.join("standards.csv");
        let text = std::fs::read_to_string(&standards).unwrap();
        let mut lines = text.lines();
        let header = lines.next().unwrap();
        if landolt.is_empty() {
            landolt = format!("{header}\n");
        }
        for line in lines {
            landolt.push_str(line);
            landolt.push('\n');
        }
        std::fs::remove_file(&standards).unwrap();
    }
    let landolt_csv = root.join("landolt.csv");
    std::fs::write(&landolt_csv, &landolt).unwrap();
    let n_standard_frames = nights.len() * CampaignStandards::default().n_frames;

    // Without standards: the standard frames are skipped, with what to set.
    let plain = root.join("plain");
    let (code, _, stderr) = cometphot(&[
        "run",
        &raw.display().to_string(),
        "--out",
        &plain.display().to_string(),
        "-q",
    ]);
    assert_eq!(
        code, 2,
        "skipped standard frames give exit status 2: {stderr}"
    );
    let skipped = read_rows(&plain.join("skipped.csv"));
    let hinted = skipped
        .iter()
        .filter(|r| {
            r["reason"].contains("a standard-star frame (no comet to measure)")
                && r["reason"].contains("standards = \"CATALOGUE.csv\" in run.toml")
        })
        .count();
    assert_eq!(hinted, n_standard_frames, "{skipped:?}");
    assert_eq!(skipped.len(), n_standard_frames, "{skipped:?}");
    for row in read_rows(&plain.join("photometry.csv")) {
        assert_eq!(row["zp_method"], "none");
    }
    assert!(!plain.join("extinction.csv").exists());
    let report = std::fs::read_to_string(plain.join("report.md")).unwrap();
    assert!(report.contains("a standard-star frame (no comet to measure)"));

    // With `standards` in the configuration.
    let config = root.join("with_standards.toml");
    std::fs::write(
        &config,
        format!(
            "raw_dir = \"{}\"\nstandards = \"{}\"\naperture_examples = []\n",
            raw.display(),
            landolt_csv.display()
        ),
    )
    .unwrap();
    let run_config = |out: &Path, extra: &[&str]| {
        let (config, out) = (config.display().to_string(), out.display().to_string());
        let mut args = vec!["run", config.as_str(), "--out", out.as_str(), "-q"];
        args.extend(extra);
        cometphot(&args)
    };
    let out = root.join("standards");
    let (code, _, stderr) = run_config(&out, &[]);
    assert_eq!(code, 0, "every frame used: {stderr}");
    let written = std::fs::read_to_string(out.join("run.toml")).unwrap();
    assert!(
        written.contains(&format!("standards = \"{}\"", landolt_csv.display())),
        "{written}"
    );
    let fits = read_rows(&out.join("extinction.csv"));
    assert_eq!(fits.len(), nights.len(), "one filter per night: {fits:?}");
    let mut fitted_nights = Vec::new();
    for fit in &fits {
        let (zp0, zp0_err) = (number(fit, "zp0_mag"), number(fit, "zp0_err_mag"));
        let (k, k_err) = (
            number(fit, "k_mag_per_airmass"),
            number(fit, "k_err_mag_per_airmass"),
        );
        eprintln!(
            "night {}: zp0 = {zp0:.4} ± {zp0_err:.4} (truth {true_zp0}), k = {k:.4} ± {k_err:.4} \
             (truth {true_k}), {} stars in {} frames, X {}–{}",
            fit["night"], fit["n_stars"], fit["n_frames"], fit["airmass_min"], fit["airmass_max"]
        );
        assert_eq!(fit["reason"], "");
        assert_eq!(number(fit, "n_frames") as usize, 5);
        assert!(number(fit, "airmass_max") - number(fit, "airmass_min") > 0.8);
        assert!(
            (zp0 - true_zp0).abs() < 3.0 * zp0_err,
            "zp0 {zp0} ± {zp0_err}"
        );
        assert!((k - true_k).abs() < 3.0 * k_err, "k {k} ± {k_err}");
        assert!((zp0 - true_zp0).abs() < 0.03, "zp0 {zp0}");
        assert!((k - true_k).abs() < 0.02, "k {k}");
        assert!(out
            .join("photometry")
            .join(format!("{}_extinction.csv", fit["night"]))
            .is_file());
        fitted_nights.push(fit["night"].clone());
    }
    let expected_nights: Vec<String> = night_dirs
        .iter()
        .map(|n| n.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(fitted_nights, expected_nights);
    assert_eq!(
        read_rows(&out.join("standard_frames.csv")).len(),
        n_standard_frames
    );
    // The night names (20250708...) stay text in the Parquet table.
    {
        use polars::prelude::{DataType, ParquetReader, SerReader};
        let file = std::fs::File::open(out.join("extinction.parquet")).unwrap();
        let extinction = ParquetReader::new(file).finish().unwrap();
        assert_eq!(
            extinction.column("night").unwrap().dtype(),
            &DataType::String
        );
    }
    let rows = read_rows(&out.join("photometry.csv"));
    assert_eq!(rows.len(), nights.len());
    for row in &rows {
        let zp_true = true_zp0 - true_k * number(row, "airmass");
        let zp = number(row, "zp");
        eprintln!(
            "{}: zp {zp:.4} ± {}, truth {zp_true:.4} (Δ {:+.4})",
            row["file"],
            row["zp_err"],
            zp - zp_true
        );
        assert_eq!(row["zp_method"], "standards");
        assert!((zp - zp_true).abs() < 0.02, "zp {zp} vs {zp_true}");
    }
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(
        report.contains(&format!(
            "zp_method` in `photometry.csv`): standards {}",
            nights.len()
        )),
        "{report}"
    );
    assert_eq!(
        report
            .matches("extinction fit of the standard stars (`extinction.csv`), night ")
            .count(),
        nights.len(),
        "{report}"
    );
    assert!(report.contains("Skipped inputs\n\nNone"), "{report}");

    // Sharded by night: each night fits its own standards; the merge gives the same tables.
    let sharded = root.join("sharded");
    for shard in ["1/2", "2/2"] {
        let (code, _, stderr) = run_config(&sharded, &["--shard", shard]);
        assert_eq!(code, 0, "{stderr}");
    }
    let (code, _, stderr) = run_config(&sharded, &["--merge-shards", "2"]);
    assert_eq!(code, 0, "{stderr}");
    for file in ["photometry.csv", "extinction.csv", "standard_frames.csv"] {
        assert_eq!(
            std::fs::read(out.join(file)).unwrap(),
            std::fs::read(sharded.join(file)).unwrap(),
            "{file} differs between the sharded and the unsharded run"
        );
    }

    // Without the key, each night's own standards.csv (as each night's catalogue.csv).
    for night in &night_dirs {
        std::fs::copy(&landolt_csv, night.join("standards.csv")).unwrap();
    }
    let auto = root.join("auto");
    let (code, _, stderr) = cometphot(&[
        "run",
        &raw.display().to_string(),
        "--out",
        &auto.display().to_string(),
        "-q",
    ]);
    assert_eq!(code, 0, "{stderr}");
    for file in ["photometry.csv", "extinction.csv", "standard_frames.csv"] {
        assert_eq!(
            std::fs::read(out.join(file)).unwrap(),
            std::fs::read(auto.join(file)).unwrap(),
            "{file} differs between the key and the nights' standards.csv"
        );
    }
    for night in &night_dirs {
        std::fs::remove_file(night.join("standards.csv")).unwrap();
    }

    // The same output directory without standards: no fit left behind from the run before.
    let (code, _, stderr) = cometphot(&[
        "run",
        &raw.display().to_string(),
        "--out",
        &out.display().to_string(),
        "-q",
    ]);
    assert_eq!(code, 2, "{stderr}");
    assert!(!out.join("extinction.csv").exists() && !out.join("extinction.parquet").exists());
    assert!(!out.join("standard_frames.csv").exists());
    let leftovers: Vec<_> = std::fs::read_dir(out.join("photometry"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with("_extinction.csv") || n.ends_with("_standards.csv"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}
