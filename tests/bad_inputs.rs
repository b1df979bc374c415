//! The bad-input corpus (`tests/common/bad_inputs.rs`) through `cometphot scan`: every bad
//! file gets its specific reason (naming the file, HDU and keyword), the valid night's rows are
//! the same as in a scan of the night alone, the exit status is 2, and no input changes.

#[path = "common/bad_inputs.rs"]
mod bad_inputs;
mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use bad_inputs::{BadKind, Corpus};

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
