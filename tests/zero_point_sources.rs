//! Zero points other than the plain catalogue one, through `cometphot photometry`:
//! - the colour term (`--comet-colour`): the simulated night's catalogue is given a `color`
//!   column and magnitudes carrying a known colour term, m_cat' = m_cat + c·(colour − 0.5); the
//!   fitted zero point at colour 0.5 must equal the plain zero point of the original catalogue,
//!   and moving the comet's colour by 1 mag must move the zero point by c;
//! - a header keyword (PHOTZP, for 1 ADU/s): used without --zero-point or --catalog, converted
//!   to e⁻/s with the frame's gain.

#[path = "common/bad_inputs.rs"]
mod bad_inputs;
mod common;

use std::path::Path;

use bad_inputs::{fixed_card, photometry_3i, replace_card, Corpus};

/// The coefficient of the colour term written into the catalogue.
const COLOUR_COEFFICIENT: f64 = 0.12;

/// (zp, zp_err, zp_method) of each frame of a photometry table, in row order.
fn zero_points(table: &Path) -> Vec<(f64, f64, String)> {
    let text = std::fs::read_to_string(table).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let column = |name: &str| header.iter().position(|c| *c == name).unwrap();
    let (zp, err, method) = (column("zp"), column("zp_err"), column("zp_method"));
    lines
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            (
                f[zp].parse().unwrap(),
                f[err].parse().unwrap(),
                f[method].to_string(),
            )
        })
        .collect()
}

#[test]
fn colour_term_is_fitted_and_applied_at_the_comets_colour() {
    let corpus = Corpus::generate();
    let out = tempfile::tempdir().unwrap();
    let original = std::fs::read_to_string(corpus.clean.join("catalogue.csv")).unwrap();
    let mut coloured = String::from("id,ra_deg,dec_deg,mag,color\n");
    for (i, line) in original.lines().skip(1).enumerate() {
        let f: Vec<&str> = line.split(',').collect();
        // Colours spread over −0.2…1.3 in a fixed pattern unrelated to position or brightness.
        let colour = -0.2 + 0.1 * ((i * 7) % 16) as f64;
        let mag: f64 = f[3].parse().unwrap();
        let shifted = mag + COLOUR_COEFFICIENT * (colour - 0.5);
        coloured.push_str(&format!("{},{},{},{shifted},{colour}\n", f[0], f[1], f[2]));
    }
    let catalogue = out.path().join("coloured.csv");
    std::fs::write(&catalogue, coloured).unwrap();

    let photometry = |catalogue: &Path, colour: Option<&str>, name: &str| {
        let table = out.path().join(name);
        let extra: Vec<&str> = colour.map_or(Vec::new(), |c| vec!["--comet-colour", c]);
        let (code, stderr) = photometry_3i(&corpus.clean, Some(catalogue), Some(&table), &extra);
        assert_eq!(code, 0, "{stderr}");
        zero_points(&table)
    };
    let plain = photometry(&corpus.clean.join("catalogue.csv"), None, "plain.csv");
    let at_half = photometry(&catalogue, Some("0.5"), "half.csv");
    let at_one_and_half = photometry(&catalogue, Some("1.5"), "one_and_half.csv");
    assert_eq!(plain.len(), 3);
    for ((p, h), o) in plain.iter().zip(&at_half).zip(&at_one_and_half) {
        eprintln!(
            "zp plain {:.4} ± {:.4}, colour 0.5: {:.4} ± {:.4}, colour 1.5: {:.4}",
            p.0, p.1, h.0, h.1, o.0
        );
        assert_eq!(p.2, "catalogue");
        assert_eq!(h.2, "catalogue_colour");
        // The same stars and the same instrumental magnitudes: the colour fit at 0.5 finds
        // the plain zero point within the errors of the two.
        assert!((h.0 - p.0).abs() < 2.0 * p.1.hypot(h.1), "{h:?} vs {p:?}");
        // One magnitude redder: the zero point moves by the coefficient, to the slope's error
        // (~0.01: ~20 stars over ±0.45 mag of colour with ~0.02 mag of scatter each).
        let shift = o.0 - h.0;
        assert!(
            (shift - COLOUR_COEFFICIENT).abs() < 0.02,
            "zero point shift {shift} for a coefficient {COLOUR_COEFFICIENT}"
        );
    }

    // Without colours in the catalogue, --comet-colour is a usage error.
    let plain_catalogue = corpus.clean.join("catalogue.csv");
    let (code, stderr) = photometry_3i(
        &corpus.clean,
        Some(&plain_catalogue),
        None,
        &["--comet-colour", "0.5"],
    );
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("has no 'color' column"), "{stderr}");
}

/// PHOTZP = 24.0 in the primary header of every science frame (in place of OBSERVER): the
/// table's zero point is 24.0 + 2.5 log10(GAIN) with zp_method `header`, and the magnitude is
/// the instrumental one plus it. Without PHOTZP, no zero point.
#[test]
fn header_zero_point_is_used_when_nothing_else_is_given() {
    let corpus = Corpus::generate();
    let out = tempfile::tempdir().unwrap();
    let night = out.path().join("night");
    std::fs::create_dir(&night).unwrap();
    for entry in std::fs::read_dir(&corpus.clean).unwrap() {
        let path = entry.unwrap().path();
        let mut bytes = std::fs::read(&path).unwrap();
        let name = path.file_name().unwrap().to_owned();
        let science = std::fs::read_to_string(corpus.clean.join("truth_frames.csv"))
            .unwrap()
            .lines()
            .any(|l| l.starts_with(&format!("{},science,", name.to_string_lossy())));
        if science {
            replace_card(
                &mut bytes[..2880],
                "OBSERVER",
                &fixed_card("PHOTZP", "24.0"),
            );
        }
        std::fs::write(night.join(name), bytes).unwrap();
    }
    let table = out.path().join("header.csv");
    let (code, stderr) = photometry_3i(&night, None, Some(&table), &[]);
    assert_eq!(code, 0, "{stderr}");
    let text = std::fs::read_to_string(&table).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let column = |name: &str| header.iter().position(|c| *c == name).unwrap();
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    assert_eq!(rows.len(), 3);
    // The simulated ALFOSC frames carry GAIN = 0.16 e⁻/ADU in their image extension.
    let expected_zp = 24.0 + 2.5 * 0.16f64.log10();
    for row in &rows {
        let number = |name: &str| row[column(name)].parse::<f64>().unwrap();
        assert_eq!(row[column("zp_method")], "header");
        assert!(
            (number("zp") - expected_zp).abs() < 1e-12,
            "{}",
            number("zp")
        );
        assert!((number("mag") - number("mag_inst") - expected_zp).abs() < 1e-9);
    }

    // The same frames without PHOTZP: instrumental magnitudes only.
    let plain = out.path().join("plain.csv");
    let (code, stderr) = photometry_3i(&corpus.clean, None, Some(&plain), &[]);
    assert_eq!(code, 0, "{stderr}");
    let text = std::fs::read_to_string(&plain).unwrap();
    assert!(text.lines().skip(1).all(|l| l.contains(",none,")), "{text}");
}
