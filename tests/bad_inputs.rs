//! The bad-input corpus (`tests/common/bad_inputs.rs`) through `cometphot scan`, `photometry`
//! and `run`: every bad file gets its specific reason (naming the file, HDU and keyword, or the
//! catalogue's line and column), the valid night's results are the same as without the bad
//! files, the exit status is 2, no input changes, and an interrupted run leaves the previous
//! outputs readable.

#[path = "common/bad_inputs.rs"]
mod bad_inputs;
mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use bad_inputs::{photometry_3i, simulate_night, write_dated_copy, BadKind, Corpus};

/// A parsed CSV table: header and rows (RFC 4180 quoting, as polars writes it).
fn parse_csv(text: &str) -> (Vec<String>, Vec<Vec<String>>) {
    let mut records = Vec::new();
    let mut record = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            ('"', true) => quoted = false,
            ('"', false) if field.is_empty() => quoted = true,
            (',', false) => record.push(std::mem::take(&mut field)),
            ('\n', false) => {
                record.push(std::mem::take(&mut field));
                records.push(std::mem::take(&mut record));
            }
            ('\r', false) => {}
            (c, _) => field.push(c),
        }
    }
    if !field.is_empty() || !record.is_empty() {
        record.push(field);
        records.push(record);
    }
    let header = records.remove(0);
    (header, records)
}

/// Rows of a scan, keyed by (path relative to `root`, hdu), as column → value.
type Rows = BTreeMap<(String, String), BTreeMap<String, String>>;

struct Scan {
    code: i32,
    stderr: String,
    rows: Rows,
}

fn scan(root: &Path, out: &Path) -> Scan {
    let output = Command::new(env!("CARGO_BIN_EXE_cometphot"))
        .args([
            "scan",
            root.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ])
        .output()
        .expect("run cometphot scan");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let text = std::fs::read_to_string(out).unwrap_or_else(|e| panic!("{e}: {stderr}"));
    let (header, records) = parse_csv(&text);
    let prefix = format!("{}/", root.display());
    let mut rows = Rows::new();
    for record in records {
        assert_eq!(record.len(), header.len(), "{record:?}");
        let mut row: BTreeMap<String, String> = header.iter().cloned().zip(record).collect();
        let relative = row["path"]
            .strip_prefix(&prefix)
            .unwrap_or_else(|| panic!("{} outside {prefix}", row["path"]))
            .to_string();
        row.insert("path".into(), relative.clone());
        let key = (relative, row["hdu"].clone());
        assert!(rows.insert(key, row).is_none(), "two rows for one HDU");
    }
    Scan {
        code: output.status.code().unwrap_or(-1),
        stderr,
        rows,
    }
}

/// What `scan` must say about one case.
enum Expect {
    /// `status = error`, the message naming the file and containing every needle.
    Error(&'static [&'static str]),
    /// `status = warning`, likewise.
    Warning(&'static [&'static str]),
    /// `status = ok`, with these column values.
    Ok(&'static [(&'static str, &'static str)]),
    /// No row at all (directories), and these needles in the warnings on standard error.
    NoRow(&'static [&'static str]),
}

fn expectation(kind: BadKind) -> Expect {
    use BadKind::*;
    match kind {
        TruncatedHeaderOnly => Expect::Error(&["HDU 1", "truncated", "NAXIS1 × NAXIS2"]),
        TruncatedHalfData => Expect::Error(&["HDU 1", "truncated", "NAXIS1 × NAXIS2"]),
        NotFits => Expect::Error(&["not a FITS file", "SIMPLE"]),
        UnsupportedBitpix => Expect::Error(&["HDU 1", "BITPIX = 24"]),
        Naxis0Extension => Expect::Error(&["no image HDU with data", "HDU 1", "NAXIS = 0"]),
        NanInfRegion => Expect::Warning(&["HDU 1", "800 pixels", "NaN or infinite"]),
        AllZero => Expect::Error(&["HDU 1", "same value 0"]),
        ExptimeZero => Expect::Error(&["HDU 1", "EXPTIME = 0 s"]),
        ExptimeNegative => Expect::Error(&["HDU 1", "EXPTIME = -30 s"]),
        DateObsMissing => Expect::Error(&["HDU 1", "DATE-OBS"]),
        DateObsMalformed => Expect::Error(&["HDU 1", "DATE-OBS", "01/08/25"]),
        DateObsOutOfRange => Expect::Error(&["HDU 1", "DATE-OBS", "2025-13-45T25:61:00"]),
        // scan has no ephemeris: the date is only reported (photometry skips such frames).
        DateFarPast => Expect::Ok(&[("date_obs_utc", "1850-08-01T22:00:00.000")]),
        DateFarFuture => Expect::Ok(&[("date_obs_utc", "2150-08-01T22:00:00.000")]),
        UnknownFilter => Expect::Ok(&[("filter", "Xyz_Qq 999_99")]),
        UnknownInstrument => {
            Expect::Warning(&["HDU 1", "INSTRUME='HyperCam-9000'", "unknown instrument"])
        }
        Duplicate => Expect::Warning(&["HDU 1", "duplicate of", "DATE-OBS"]),
        MixedBinning => Expect::Ok(&[("binning", "2x2"), ("naxis1", "250")]),
        Windowed => Expect::Ok(&[("naxis1", "300"), ("naxis2", "300")]),
        SaturatedComet => Expect::Ok(&[]),
        CometOffFrame => Expect::Ok(&[("date_obs_utc", "2025-08-01T23:30:00.000")]),
        Unreadable => Expect::Error(&["cannot read", "Permission denied"]),
        EmptyDirectory => Expect::NoRow(&[]),
        SymlinkLoop => Expect::NoRow(&["symlink loop"]),
        SelfSymlink => Expect::Error(&["cannot read", "symbolic links"]),
    }
}

#[test]
fn scan_reports_every_bad_input_and_keeps_the_rest() {
    let corpus = Corpus::generate();
    let before = corpus.snapshot();
    let out = tempfile::tempdir().unwrap();
    let clean = scan(&corpus.clean, &out.path().join("clean.csv"));
    let all = scan(&corpus.root, &out.path().join("corpus.csv"));
    assert_eq!(clean.code, 0, "{}", clean.stderr);
    assert_eq!(all.code, 2, "some inputs skipped: {}", all.stderr);

    // The valid night: the same rows, column by column, with or without the bad files.
    assert_eq!(clean.rows.len(), corpus.good.len());
    for (key, row) in &clean.rows {
        assert_eq!(row["status"], "ok", "{row:?}");
        assert_eq!(all.rows.get(key), Some(row), "{key:?}");
    }

    let mut checked = 0;
    for case in &corpus.cases {
        let name = case.relative.to_string_lossy().into_owned();
        let rows: Vec<_> = all
            .rows
            .iter()
            .filter(|((path, _), _)| path == &name || path.starts_with(&format!("{name}/")))
            .map(|(_, r)| r)
            .collect();
        let mut expect = expectation(case.kind);
        if case.kind == BadKind::Unreadable && !corpus.permissions_enforced {
            eprintln!("note: running as root, a file with mode 000 is readable: {name} is read");
            expect = Expect::Ok(&[]);
        }
        match expect {
            Expect::Error(needles) | Expect::Warning(needles) => {
                let status = if matches!(expectation(case.kind), Expect::Error(_)) {
                    "error"
                } else {
                    "warning"
                };
                assert_eq!(rows.len(), 1, "{name}: {rows:?}");
                let row = rows[0];
                assert_eq!(row["status"], status, "{name}: {row:?}");
                let message = &row["error"];
                eprintln!("{name}: {status}: {message}");
                assert!(
                    message.contains(&corpus.root.join(&name).display().to_string()),
                    "{name}: the message must name the file: {message}"
                );
                for needle in needles {
                    assert!(
                        message.contains(needle),
                        "{name}: no '{needle}' in: {message}"
                    );
                }
                if status == "error" {
                    assert!(all.stderr.contains(message.as_str()), "{message} not shown");
                }
            }
            Expect::Ok(values) => {
                assert_eq!(rows.len(), 1, "{name}: {rows:?}");
                let row = rows[0];
                assert_eq!(row["status"], "ok", "{name}: {row:?}");
                for (column, value) in values {
                    assert_eq!(&row[*column], value, "{name}: column {column}");
                }
            }
            Expect::NoRow(needles) => {
                assert!(rows.is_empty(), "{name}: {rows:?}");
                for needle in needles {
                    let line = all
                        .stderr
                        .lines()
                        .find(|l| l.contains(&name) && l.contains(needle));
                    assert!(line.is_some(), "{name}: no '{needle}' in: {}", all.stderr);
                }
            }
        }
        checked += 1;
    }
    assert_eq!(checked, corpus.cases.len());

    // Nothing else: one row per good file and per bad file.
    let files = all
        .rows
        .keys()
        .map(|(p, _)| p.clone())
        .collect::<std::collections::BTreeSet<_>>();
    let expected_files = corpus.good.len()
        + corpus
            .cases
            .iter()
            .filter(|c| !matches!(expectation(c.kind), Expect::NoRow(_)))
            .count();
    assert_eq!(files.len(), expected_files, "{files:#?}");
    let errors = all.rows.values().filter(|r| r["status"] == "error").count();
    assert!(
        all.stderr.contains(&format!("{errors} skipped")),
        "summary: {}",
        all.stderr
    );

    assert!(before == corpus.snapshot(), "an input file changed");
}

#[test]
fn scan_of_an_empty_directory_finds_nothing_and_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let (code, stdout, stderr) = common::cometphot(&["scan", empty.to_str().unwrap()]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("no FITS files found"), "{stderr}");
    assert_eq!(stdout.lines().count(), 1, "header only: {stdout}");
}

/// A table keyed by the file name (the path's last component) in `column`, as column → value.
type ByFile = BTreeMap<String, Vec<BTreeMap<String, String>>>;

fn read_by_file(path: &Path, column: &str) -> ByFile {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let (header, records) = parse_csv(&text);
    let mut out = ByFile::new();
    for record in records {
        assert_eq!(record.len(), header.len(), "{record:?}");
        let row: BTreeMap<String, String> = header.iter().cloned().zip(record).collect();
        let name = Path::new(&row[column])
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        out.entry(name).or_default().push(row);
    }
    out
}

/// What `photometry` must do with one case.
enum PhotometryExpect {
    /// A row of `<out>_skipped.csv` for the file, its reason naming the file (or directory)
    /// and containing every needle.
    Skipped(&'static [&'static str]),
    /// Measured, with these flags among its flags.
    Measured(&'static [&'static str]),
    /// Nothing: a directory without frames.
    Nothing,
}

fn photometry_expectation(kind: BadKind) -> PhotometryExpect {
    use BadKind::*;
    use PhotometryExpect::*;
    match kind {
        TruncatedHeaderOnly | TruncatedHalfData => Skipped(&["HDU 1", "truncated"]),
        NotFits => Skipped(&["not a FITS file"]),
        UnsupportedBitpix => Skipped(&["HDU 1", "BITPIX = 24"]),
        Naxis0Extension => Skipped(&["no image HDU with data", "NAXIS = 0"]),
        NanInfRegion => Measured(&[]),
        AllZero => Skipped(&["HDU 1", "same value 0"]),
        ExptimeZero => Skipped(&["HDU 1", "EXPTIME = 0 s"]),
        ExptimeNegative => Skipped(&["HDU 1", "EXPTIME = -30 s"]),
        DateObsMissing => Skipped(&["HDU 1", "DATE-OBS"]),
        DateObsMalformed => Skipped(&["HDU 1", "DATE-OBS", "01/08/25"]),
        DateObsOutOfRange => Skipped(&["HDU 1", "DATE-OBS", "2025-13-45T25:61:00"]),
        DateFarPast => Skipped(&["HDU 1", "DATE-OBS = '1850-08-01", "before 1961"]),
        DateFarFuture => Skipped(&[
            "HDU 1",
            "DATE-OBS = '2150-08-01",
            "125.0 years after the epoch of the elements",
            "±20 years",
        ]),
        UnknownFilter => Skipped(&["no master flat for filter 'Xyz_Qq 999_99'"]),
        UnknownInstrument => Skipped(&["HDU 1", "unknown instrument", "HyperCam-9000"]),
        Duplicate => Skipped(&[
            "HDU 1",
            "the same pixels and DATE-OBS as",
            "duplicate exposure",
        ]),
        MixedBinning => Skipped(&["no master bias", "binning 2x2"]),
        Windowed => Skipped(&["no master bias", "300 x 300 px"]),
        SaturatedComet => Measured(&["saturated"]),
        CometOffFrame => Skipped(&["the comet's predicted position is outside the frame"]),
        Unreadable => Skipped(&["cannot read", "Permission denied"]),
        EmptyDirectory => Nothing,
        SymlinkLoop => Skipped(&["symlink loop"]),
        SelfSymlink => Skipped(&["cannot read", "symbolic links"]),
    }
}

/// The catalogue of the corpus with two unreadable rows appended (text in `mag`, a missing
/// field), written to `path`; returns the 1-based line numbers of the bad rows.
fn catalogue_with_bad_rows(corpus: &Corpus, path: &Path) -> [usize; 2] {
    let mut text = std::fs::read_to_string(corpus.clean.join("catalogue.csv")).unwrap();
    if !text.ends_with('\n') {
        text.push('\n');
    }
    let first = text.lines().count() + 1;
    let columns = text.lines().next().unwrap().split(',').count();
    let mut bad = vec!["252.26"; columns];
    let mag = text
        .lines()
        .next()
        .unwrap()
        .split(',')
        .position(|c| c.trim() == "mag")
        .unwrap();
    bad[mag] = "bright";
    text.push_str(&bad.join(","));
    text.push('\n');
    text.push_str("252.26,-17.45\n");
    std::fs::write(path, text).unwrap();
    [first, first + 1]
}

/// Checks one command's measurements and skip reasons against the corpus: the good frames
/// exactly as in `clean`, and every case as [`photometry_expectation`] says. `root` is where
/// the command saw the corpus (the file names are the same).
fn check_photometry_of_corpus(
    corpus: &Corpus,
    clean: &ByFile,
    measured: &ByFile,
    skipped: &ByFile,
    root: &Path,
) {
    for good in &corpus.good {
        let name = good.to_string_lossy().into_owned();
        let Some(expected) = clean.get(&name) else {
            continue;
        };
        let rows = measured
            .get(&name)
            .unwrap_or_else(|| panic!("{name} not measured"));
        assert_eq!(rows.len(), expected.len(), "{name}");
        for (row, want) in rows.iter().zip(expected) {
            for (column, value) in want {
                if column != "file" {
                    assert_eq!(&row[column], value, "{name}: column {column}");
                }
            }
        }
    }
    for case in &corpus.cases {
        let name = case.relative.to_string_lossy().into_owned();
        let mut expect = photometry_expectation(case.kind);
        if case.kind == BadKind::Unreadable && !corpus.permissions_enforced {
            expect = PhotometryExpect::Measured(&[]);
        }
        match expect {
            PhotometryExpect::Skipped(needles) => {
                assert!(!measured.contains_key(&name), "{name} measured");
                let rows = skipped
                    .get(&name)
                    .unwrap_or_else(|| panic!("{name}: no skip reason in {skipped:#?}"));
                assert_eq!(rows.len(), 1, "{name}: {rows:?}");
                let reason = &rows[0]["reason"];
                eprintln!("{name}: {reason}");
                assert_eq!(
                    rows[0]["file"],
                    root.join(&name).display().to_string(),
                    "{name}: the file column"
                );
                assert!(
                    reason.contains(&root.join(&name).display().to_string()),
                    "{name}: the reason must name the file: {reason}"
                );
                for needle in needles {
                    assert!(
                        reason.contains(needle),
                        "{name}: no '{needle}' in: {reason}"
                    );
                }
            }
            PhotometryExpect::Measured(flags) => {
                assert!(!skipped.contains_key(&name), "{name} skipped: {skipped:?}");
                let rows = measured
                    .get(&name)
                    .unwrap_or_else(|| panic!("{name} not measured"));
                for row in rows {
                    for flag in flags {
                        assert!(
                            row["flags"].split('|').any(|f| f == *flag),
                            "{name}: no flag {flag} in {}",
                            row["flags"]
                        );
                    }
                }
            }
            PhotometryExpect::Nothing => {
                assert!(!measured.contains_key(&name) && !skipped.contains_key(&name));
            }
        }
    }
}

#[test]
fn photometry_skips_every_bad_input_and_measures_the_rest_as_without_them() {
    let corpus = Corpus::generate();
    let before = corpus.snapshot();
    let out = tempfile::tempdir().unwrap();
    let catalogue = corpus.clean.join("catalogue.csv");
    let bad_catalogue = out.path().join("catalogue_with_bad_rows.csv");
    let bad_lines = catalogue_with_bad_rows(&corpus, &bad_catalogue);
    let photometry = |dir: &Path, catalogue: &Path, table: &str| {
        let table = out.path().join(table);
        let (code, stderr) = photometry_3i(dir, Some(catalogue), Some(&table), &[]);
        (code, stderr, table)
    };
    let (code, stderr, clean_table) = photometry(&corpus.clean, &catalogue, "clean/phot.csv");
    assert_eq!(code, 0, "{stderr}");
    let (code, stderr, table) = photometry(&corpus.root, &bad_catalogue, "corpus/phot.csv");
    assert_eq!(code, 2, "some inputs skipped: {stderr}");

    let clean = read_by_file(&clean_table, "file");
    assert_eq!(
        clean.len(),
        3,
        "the three science frames of the night: {clean:?}"
    );
    let measured = read_by_file(&table, "file");
    let skipped = read_by_file(&out.path().join("corpus/phot_skipped.csv"), "file");
    check_photometry_of_corpus(&corpus, &clean, &measured, &skipped, &corpus.root);

    // The NaN/Inf block lies away from the comet: the same magnitude as its source frame.
    let nan = &measured["bad_nan_inf_region.fits"][0];
    let source = corpus.good.iter().find_map(|g| {
        let rows = clean.get(&g.to_string_lossy().into_owned())?;
        (rows[0]["mjd_mid_utc"] == nan["mjd_mid_utc"]).then(|| rows[0].clone())
    });
    let source = source.expect("the NaN frame's source");
    let mag = |r: &BTreeMap<String, String>| r["mag"].parse::<f64>().unwrap();
    let err = |r: &BTreeMap<String, String>| r["mag_err"].parse::<f64>().unwrap();
    assert!(
        (mag(nan) - mag(&source)).abs() < err(&source),
        "{} vs {}",
        mag(nan),
        mag(&source)
    );

    // The catalogue's two bad rows: set aside by line and column, the rest used.
    let rows = &skipped["catalogue_with_bad_rows.csv"];
    let reasons: Vec<&str> = rows.iter().map(|r| r["reason"].as_str()).collect();
    assert_eq!(reasons.len(), 2, "{reasons:?}");
    assert!(
        reasons[0].contains(&format!(
            "line {}, column 'mag': 'bright' is not a number",
            bad_lines[0]
        )),
        "{}",
        reasons[0]
    );
    assert!(
        reasons[1].contains(&format!("line {}: 2 fields", bad_lines[1])),
        "{}",
        reasons[1]
    );

    // Nothing else was skipped, and every skip is on standard error.
    let expected_skips = corpus
        .cases
        .iter()
        .filter(|c| {
            matches!(photometry_expectation(c.kind), PhotometryExpect::Skipped(_))
                && (c.kind != BadKind::Unreadable || corpus.permissions_enforced)
        })
        .count()
        + 2;
    let n_skipped: usize = skipped.values().map(Vec::len).sum();
    assert_eq!(n_skipped, expected_skips, "{skipped:#?}");
    assert!(
        stderr.contains(&format!("{n_skipped} inputs skipped")),
        "{stderr}"
    );
    assert!(before == corpus.snapshot(), "an input file changed");
}

#[test]
fn photometry_refuses_outputs_inside_its_input_directory() {
    let corpus = Corpus::generate();
    let before = corpus.snapshot();
    let inside = corpus.clean.join("results").join("phot.csv");
    let (code, stderr) = photometry_3i(&corpus.clean, None, Some(&inside), &[]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("is inside the input directory"), "{stderr}");
    assert!(!corpus.clean.join("results").exists());
    assert!(before == corpus.snapshot(), "an input file changed");
}

/// `run` on a raw directory whose only night is the corpus: the same measurements and skip
/// reasons as `photometry`, a fit that cannot be made (one night, flagged points) reported as
/// a step not done, the report and tables written, exit status 2; then a second run
/// interrupted (SIGINT) at several moments leaves the first run's outputs readable.
/// The frames table `run` wrote in `out` for `raw`, checked to be the full scan of `raw`
/// (`scan RAW --out scanned`) byte for byte, although `run` reads the pixels of a frame once:
/// the photometry's reads make its pixel checks.
fn frames_table_of_run(raw: &Path, out: &Path, scanned: &Path) -> String {
    let (_, _, stderr) = common::cometphot(&[
        "scan",
        raw.to_str().unwrap(),
        "--out",
        scanned.to_str().unwrap(),
        "-q",
    ]);
    let frames = std::fs::read_to_string(out.join("frames.csv")).unwrap();
    assert_eq!(
        frames,
        std::fs::read_to_string(scanned).unwrap(),
        "{stderr}"
    );
    frames
}

#[test]
fn run_reports_the_corpus_and_survives_interruption() {
    let corpus = Corpus::generate();
    let before = corpus.snapshot();
    let dir = tempfile::tempdir().unwrap();
    let raw = dir.path().join("raw");
    std::fs::create_dir(&raw).unwrap();
    let night = raw.join("20250801");
    std::os::unix::fs::symlink(&corpus.root, &night).unwrap();
    // A frame with NaN pixels outside the nights: scanned, never measured (a first pixel
    // changed, so that no other file shares its probe and the scan leaves it to be read).
    write_dated_copy(
        &corpus.path(BadKind::NanInfRegion),
        &raw.join("loose.fits"),
        "2025-08-01T23:00:00.000",
        |p| {
            p[0] += 1.0;
            let n = p.len();
            p[n - 50..].iter_mut().for_each(|v| *v = f32::NAN);
        },
    );
    let out = dir.path().join("results");
    let args = ["run", raw.to_str().unwrap(), "--out", out.to_str().unwrap()];
    let (code, _, stderr) = common::cometphot(&args);
    assert_eq!(code, 2, "{stderr}");
    let frames = frames_table_of_run(&raw, &out, &dir.path().join("scan.csv"));
    assert!(
        frames.contains("loose.fits") && frames.contains("NaN or infinite"),
        "{frames}"
    );

    let clean_out = dir.path().join("clean.csv");
    let catalogue = corpus.clean.join("catalogue.csv");
    let (code, stderr) = photometry_3i(&corpus.clean, Some(&catalogue), Some(&clean_out), &[]);
    assert_eq!(code, 0, "{stderr}");
    let clean = read_by_file(&clean_out, "file");
    let measured = read_by_file(&out.join("photometry.csv"), "file");
    let skipped = read_by_file(&out.join("skipped.csv"), "file");
    check_photometry_of_corpus(&corpus, &clean, &measured, &skipped, &night);

    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(report.contains("## Steps not done"), "{report}");
    let fit_line = report
        .lines()
        .find(|l| l.starts_with("- fit: "))
        .unwrap_or_else(|| panic!("no fit line in {report}"));
    assert!(
        fit_line.contains("leaves them out") || fit_line.contains("not constrained"),
        "{fit_line}"
    );
    assert!(!out.join("fit.json").exists(), "no fit, no fit.json");
    for table in ["frames", "photometry", "skipped"] {
        assert!(out.join(format!("{table}.parquet")).is_file(), "{table}");
    }

    // Interrupted re-runs: every output of the first run stays whole (old or new version).
    let outputs: Vec<(std::path::PathBuf, &str)> = [
        ("photometry.csv", "file"),
        ("skipped.csv", "file"),
        ("frames.csv", "path"),
    ]
    .iter()
    .map(|(f, key)| (out.join(f), *key))
    .collect();
    let first: Vec<ByFile> = outputs
        .iter()
        .map(|(p, key)| read_by_file(p, key))
        .collect();
    // Each re-run is interrupted when it reaches a step: during the photometry, the fit, the
    // comparison, and the writing of tables and report.
    let mut interrupted = 0;
    for step in ["[2/8]", "[3/8]", "[6/8]", "[8/8]"] {
        use std::io::BufRead;
        use std::os::unix::process::ExitStatusExt;
        let mut child = Command::new(env!("CARGO_BIN_EXE_cometphot"))
            .args(args)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("start cometphot run");
        let mut lines = std::io::BufReader::new(child.stderr.take().unwrap()).lines();
        for line in lines.by_ref() {
            if line.unwrap_or_default().contains(step) {
                break;
            }
        }
        let status = Command::new("kill")
            .args(["-INT", &child.id().to_string()])
            .status()
            .expect("kill -INT");
        assert!(status.success());
        lines.for_each(drop);
        let status = child.wait().expect("wait");
        if status.signal() == Some(2) {
            interrupted += 1;
        }
        for ((path, key), table) in outputs.iter().zip(&first) {
            assert_eq!(
                &read_by_file(path, key),
                table,
                "{} after SIGINT at {step}",
                path.display()
            );
        }
        let report = std::fs::read_to_string(out.join("report.md")).unwrap();
        assert!(
            report.contains("## Steps not done"),
            "report.md after SIGINT at {step}"
        );
    }
    assert!(
        interrupted >= 2,
        "only {interrupted} of 4 runs were interrupted before they finished"
    );
    assert!(before == corpus.snapshot(), "an input file changed");
}

/// Writes the corpus to `$COMETPHOT_CORPUS_DIR` for manual runs of other commands
/// (`cargo test --release --test bad_inputs -- --ignored`).
#[test]
#[ignore = "writes the corpus to $COMETPHOT_CORPUS_DIR"]
fn write_the_corpus() {
    let dir = std::env::var("COMETPHOT_CORPUS_DIR").expect("COMETPHOT_CORPUS_DIR");
    let corpus = Corpus::generate_in(Path::new(&dir));
    eprintln!(
        "{} valid frames and {} bad inputs in {}",
        corpus.good.len(),
        corpus.cases.len(),
        corpus.root.display()
    );
}

/// A lightcurve of one point, or of one night (rH spread 3·10⁻⁵), cannot give the index n:
/// `fit` says why and exits 1; two nights three weeks apart are enough.
#[test]
fn fit_refuses_a_one_point_or_one_night_lightcurve() {
    let dir = tempfile::tempdir().unwrap();
    let fit = |name: &str, rows: &[&str]| {
        let path = dir.path().join(name);
        let mut text = String::from("mjd,rh_au,delta_au,phase_deg,mag,mag_err\n");
        for row in rows {
            text.push_str(row);
            text.push('\n');
        }
        std::fs::write(&path, text).unwrap();
        let (code, _, stderr) = common::cometphot(&["fit", path.to_str().unwrap()]);
        (code, stderr)
    };
    let (code, stderr) = fit("one_point.csv", &["60888.92,3.4619,2.7986,16.1,15.70,0.01"]);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("needs a range of heliocentric distances"),
        "{stderr}"
    );
    let night = [
        "60888.917,3.46190,2.79856,16.1,15.70,0.01",
        "60888.950,3.46185,2.79850,16.1,15.69,0.01",
        "60889.010,3.46178,2.79840,16.1,15.71,0.01",
    ];
    let (code, stderr) = fit("one_night.csv", &night);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("the 3 selected points span rH 3.4618–3.4619 au")
            && stderr.contains("the index n is not constrained"),
        "{stderr}"
    );
    let mut two_nights = night.to_vec();
    two_nights.push("60908.95,3.1000,2.6500,19.0,15.20,0.01");
    let (code, stderr) = fit("two_nights.csv", &two_nights);
    assert_eq!(code, 0, "{stderr}");
}

/// A catalogue without a `mag` column cannot calibrate anything: a usage error naming the
/// column, reported before any frame is read (exit 1, no table written), rather than a batch
/// of uncalibrated magnitudes that would fail later in the lightcurve.
#[test]
fn photometry_refuses_a_catalogue_without_a_magnitude_column() {
    let corpus = Corpus::generate();
    let out = tempfile::tempdir().unwrap();
    let catalogue = out.path().join("no_mag.csv");
    std::fs::write(&catalogue, "ra_deg,dec_deg,g_mag\n252.26,-17.45,15.0\n").unwrap();
    let table = out.path().join("phot.csv");
    let (code, stderr) = photometry_3i(&corpus.clean, Some(&catalogue), Some(&table), &[]);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains(&format!(
            "catalogue {}: missing column 'mag' (columns: ra_deg, dec_deg, g_mag)",
            catalogue.display()
        )),
        "{stderr}"
    );
    assert!(!table.exists());
}

/// `run`'s frames table stays the full scan, byte for byte, when first pixels are shared
/// across nights: a second night made of copies of the first night's frames (one of them a
/// symbolic link) is reduced and measured, and its frames are duplicate exposures of the
/// first night's, which only the scan of the whole campaign can tell.
#[test]
fn run_frames_table_is_the_full_scan_across_nights() {
    let corpus = Corpus::generate();
    let dir = tempfile::tempdir().unwrap();
    let raw = dir.path().join("raw");
    let second = raw.join("20250802");
    std::fs::create_dir_all(&second).unwrap();
    std::os::unix::fs::symlink(&corpus.clean, raw.join("20250801")).unwrap();
    for (k, frame) in corpus.good.iter().enumerate() {
        let (from, to) = (
            corpus.clean.join(frame),
            second.join(format!("copy_{k}.fits")),
        );
        if k == 0 {
            std::os::unix::fs::symlink(&from, &to).unwrap();
        } else {
            std::fs::copy(&from, &to).unwrap();
        }
    }
    let out = dir.path().join("results");
    let (code, _, stderr) = common::cometphot(&[
        "run",
        raw.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "-q",
    ]);
    assert!(code == 0 || code == 2, "{stderr}");
    let frames = frames_table_of_run(&raw, &out, &dir.path().join("scan.csv"));
    let second_night: Vec<&str> = frames.lines().filter(|l| l.contains("20250802")).collect();
    assert_eq!(second_night.len(), corpus.good.len(), "{frames}");
    assert!(
        second_night.iter().all(|l| l.contains("duplicate")),
        "{frames}"
    );
}

/// The frames photometry refuses before reducing them are never read by the reduction, which
/// checks the pixels of the others: theirs are checked before the refusal, as when the scan
/// read every pixel. A frame dated 1850 with some NaN pixels is refused for its date, with the
/// scan's warning about them; one dated 1850 whose every pixel is NaN is skipped for that,
/// not for its date (a frame the pixel checks refuse plays no part in the time span).
#[test]
fn frames_refused_before_reduction_keep_the_scans_pixel_messages() {
    let dir = tempfile::tempdir().unwrap();
    let night = dir.path().join("night");
    let (_, frames) = simulate_night(&night, 9);
    let (science, _) = frames.iter().find(|(_, kind)| kind == "science").unwrap();
    let science = night.join(science);
    let date = "1850-08-01T22:00:00.000";
    write_dated_copy(&science, &night.join("old_nan.fits"), date, |p| {
        p[100..150].iter_mut().for_each(|v| *v = f32::NAN)
    });
    write_dated_copy(&science, &night.join("old_all_nan.fits"), date, |p| {
        p.iter_mut().for_each(|v| *v = f32::NAN)
    });
    let table = dir.path().join("phot.csv");
    let (code, stderr) = photometry_3i(&night, None, Some(&table), &[]);
    assert_eq!(code, 2, "{stderr}");
    let skipped = read_by_file(&dir.path().join("phot_skipped.csv"), "file");
    let reason = |name: &str| skipped[name][0]["reason"].clone();
    let old_nan = reason("old_nan.fits");
    assert!(old_nan.contains("before 1961"), "{old_nan}");
    assert!(
        old_nan.contains("(the scan warned: ") && old_nan.contains("50 pixels"),
        "{old_nan}"
    );
    let all_nan = reason("old_all_nan.fits");
    assert!(all_nan.contains("every pixel is NaN"), "{all_nan}");
    assert!(!all_nan.contains("1961"), "{all_nan}");
}
