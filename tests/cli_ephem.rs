//! `cometphot ephem`: columns, sites, element files, Horizons tables and bad requests.

mod common;
use common::cometphot;

const COLUMNS: &str = "time_utc,jd_tdb,ra_deg,dec_deg,rh_au,delta_au,phase_deg,elong_deg,\
                       sun_pa_deg,neg_vel_pa_deg,rate_arcsec_per_min,rate_pa_deg";

/// The rows of a CSV as vectors of fields (header excluded).
fn rows(csv: &str) -> Vec<Vec<String>> {
    csv.lines()
        .skip(1)
        .map(|l| l.split(',').map(str::to_string).collect())
        .collect()
}

fn field(row: &[String], column: &str) -> f64 {
    let index = COLUMNS
        .split(',')
        .position(|c| c == column)
        .expect("known column");
    row[index].parse().unwrap_or(f64::NAN)
}

#[test]
fn three_months_of_3i_every_6h_with_the_exact_columns() {
    let (code, stdout, stderr) = cometphot(&[
        "ephem",
        "--object",
        "3I",
        "--start",
        "2025-07-01T00:00:00Z",
        "--stop",
        "2025-09-30T00:00:00Z",
        "--step",
        "6h",
    ]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(stdout.lines().next(), Some(COLUMNS));
    let rows = rows(&stdout);
    assert_eq!(rows.len(), 91 * 4 + 1);
    assert_eq!(rows[0][0], "2025-07-01T00:00:00.000Z");
    assert_eq!(rows[364][0], "2025-09-30T00:00:00.000Z");
    // 2025-07-01T00:00 UTC is 69.18 s before 0h TDB, where the JPL#27 table gives
    // rH = 4.5142902 au and Δ = 3.5065522 au (rH falls by 0.0334 au/day then).
    let first = &rows[0];
    assert!((field(first, "jd_tdb") - (2_460_857.5 + 69.184 / 86400.0)).abs() < 1e-8);
    assert!((field(first, "rh_au") - 4.5142902).abs() < 1e-4);
    assert!((field(first, "delta_au") - 3.5065522).abs() < 1e-4);
    for row in &rows {
        for column in COLUMNS.split(',').skip(1) {
            assert!(field(row, column).is_finite(), "{column} in {row:?}");
        }
    }
}

#[test]
fn a_named_site_equals_its_coordinates_and_differs_from_the_geocentre() {
    let run = |site: &str| {
        let (code, stdout, stderr) = cometphot(&[
            "ephem",
            "--object",
            "3I",
            "--start",
            "2025-08-01",
            "--stop",
            "2025-08-01T12:00:00",
            "--step",
            "3h",
            "--site",
            site,
        ]);
        assert_eq!(code, 0, "{site}: {stderr}");
        stdout
    };
    let by_name = run("NOT");
    assert_eq!(by_name, run("Z23"));
    assert_eq!(by_name, run("-17.88508,28.75728,2382"));
    let geocentric = run("geocentric");
    let (topo, geo) = (rows(&by_name), rows(&geocentric));
    for (t, g) in topo.iter().zip(&geo) {
        let shift_arcsec = (field(t, "dec_deg") - field(g, "dec_deg")).abs() * 3600.0;
        // The parallax of 3I (Δ ≈ 2.4 au) is at most 6378 km / Δ ≈ 3.7″.
        assert!(shift_arcsec > 0.0 && shift_arcsec < 3.7, "{shift_arcsec}″");
    }
}

#[test]
fn elements_from_an_mpc_file_and_a_parquet_table() {
    let dir = tempfile::tempdir().unwrap();
    let elements = dir.path().join("CometEls.txt");
    std::fs::write(
        &elements,
        "0002I         2019 12  9.0572  1.997724  3.345952  209.2911  307.8024   44.2624  20251121  11.0  4.0  2I/Borisov                                               MPEC 2025-R69\n\
         0003I         2025 10 29.4825  1.356507  6.139884  128.0055  322.1535  175.1129  20251121  11.8  4.0  3I/ATLAS                                                 MPEC 2026-G41\n",
    )
    .unwrap();
    let elements = elements.to_str().unwrap();
    let (code, _, stderr) = cometphot(&[
        "ephem",
        "--elements",
        elements,
        "--start",
        "2025-10-01",
        "--stop",
        "2025-10-02",
    ]);
    assert_eq!(code, 1);
    assert!(
        stderr.contains("holds 2 comets") && stderr.contains("--object"),
        "{stderr}"
    );
    let out = dir.path().join("3I.parquet");
    let (code, _, stderr) = cometphot(&[
        "ephem",
        "--elements",
        elements,
        "--object",
        "3I",
        "--start",
        "2025-10-01",
        "--stop",
        "2025-10-02",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(&std::fs::read(&out).unwrap()[..4], b"PAR1");
    assert!(stderr.contains("2 rows"), "{stderr}");
}

#[test]
fn horizons_vector_tables_drive_the_geometry() {
    // 3I's heliocentric and geocentric Horizons vectors give the same geometry as each other
    // and as the built-in JPL#27 orbit integrated with the planets.
    let run = |args: &[&str]| {
        let mut all = vec![
            "ephem",
            "--start",
            "2025-08-01",
            "--stop",
            "2025-08-05",
            "--step",
            "12h",
        ];
        all.extend_from_slice(args);
        let (code, stdout, stderr) = cometphot(&all);
        assert_eq!(code, 0, "{args:?}: {stderr}");
        rows(&stdout)
    };
    let helio = run(&[
        "--horizons",
        "data/real/horizons/horizons_3I_heliocentric_vectors_daily_2025-06-01_to_2025-12-31.txt",
    ]);
    let geo = run(&[
        "--horizons",
        "data/real/horizons/horizons_3I_geocentric_vectors_daily_2025-06-01_to_2025-12-31.txt",
    ]);
    let orbit = run(&["--object", "3I"]);
    assert_eq!(helio.len(), 9);
    for ((h, g), o) in helio.iter().zip(&geo).zip(&orbit) {
        // The geocentric table needs the Earth (VSOP87, 4e-7 au from DE441).
        assert!((field(h, "delta_au") - field(g, "delta_au")).abs() < 1e-6);
        assert!((field(h, "delta_au") - field(o, "delta_au")).abs() < 1e-6);
        assert!((field(h, "dec_deg") - field(o, "dec_deg")).abs() * 3600.0 < 0.2);
    }
}

#[test]
fn a_horizons_observer_table_is_interpolated_for_its_own_site_only() {
    let table = "data/real/horizons/TestEphemerisCLI-2p-horizons.txt";
    let (code, stdout, stderr) = cometphot(&[
        "ephem",
        "--horizons",
        table,
        "--start",
        "2024-08-16",
        "--stop",
        "2024-08-17",
        "--step",
        "12h",
    ]);
    assert_eq!(code, 0, "{stderr}");
    let rows = rows(&stdout);
    // First node of the table: RA 329.30474, Dec -15.12338, r 3.362689434345, S-T-O 1.1540.
    assert_eq!(field(&rows[0], "ra_deg"), 329.30474);
    assert_eq!(field(&rows[0], "dec_deg"), -15.12338);
    assert_eq!(field(&rows[0], "rh_au"), 3.362689434345);
    assert_eq!(field(&rows[0], "phase_deg"), 1.154);
    let (code, _, stderr) = cometphot(&[
        "ephem",
        "--horizons",
        table,
        "--start",
        "2024-08-16",
        "--stop",
        "2024-08-17",
        "--site",
        "NOT",
    ]);
    assert_eq!(code, 1);
    assert!(
        stderr.contains("GEOCENTRIC") && stderr.contains("Nordic"),
        "{stderr}"
    );
}

#[test]
fn bad_requests_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let bad_line = dir.path().join("bad.txt");
    std::fs::write(
        &bad_line,
        "0003I         2025 10 29.4825  1.35x507  6.139884\n",
    )
    .unwrap();
    let open_orbit = dir.path().join("open.toml");
    std::fs::write(
        &open_orbit,
        "designation = \"X\"\nq_au = 1.3\ne = 6.1\ni_deg = 175.0\nnode_deg = 322.0\n\
         peri_deg = 128.0\ntp_jd_tdb = 2460977.98\nepoch_jd_tdb = 2460884.5\na_au = 0.25\n",
    )
    .unwrap();
    let horizons = "data/real/horizons/TestEphemerisCLI-2p-horizons.txt";
    let cases: [(Vec<&str>, &[&str]); 7] = [
        (
            vec!["--object", "1P/Halley"],
            &["unknown object '1P/Halley'", "3I/ATLAS"],
        ),
        (
            vec!["--elements", bad_line.to_str().unwrap()],
            &["bad.txt, line 1"],
        ),
        (
            vec!["--elements", open_orbit.to_str().unwrap()],
            &["open.toml", "positive"],
        ),
        (
            vec!["--horizons", horizons, "--stop", "2024-12-01"],
            &["outside"],
        ),
        (
            vec!["--object", "3I", "--start", "2025-08-02"],
            &["before start"],
        ),
        (
            vec!["--object", "3I", "--step", "6 weeks"],
            &["--step", "6 weeks"],
        ),
        (vec!["--object", "3I", "--site", "XYZ"], &["XYZ"]),
    ];
    for (extra, wanted) in cases {
        let mut args = vec!["ephem", "--start", "2024-08-20", "--stop", "2025-08-01"];
        // A case's own --start/--stop replace the defaults (clap refuses repeated options).
        for (flag, value) in extra.chunks(2).map(|c| (c[0], c[1])) {
            if let Some(i) = args.iter().position(|a| *a == flag) {
                args[i + 1] = value;
            } else {
                args.extend([flag, value]);
            }
        }
        let (code, _, stderr) = cometphot(&args);
        assert_eq!(code, 1, "{args:?}: {stderr}");
        for w in wanted {
            assert!(stderr.contains(w), "{args:?}: wanted '{w}' in: {stderr}");
        }
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}
