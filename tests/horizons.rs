//! JPL Horizons tables: parsing of real observer and vector tables (plain and CSV), unit
//! conversion, interpolation accuracy, and errors on bad input. Real files are in
//! data/real/horizons (see its PROVENANCE.md).

use std::f64::consts::PI;
use std::path::{Path, PathBuf};

use cometphot::ephem::horizons::{
    self, HorizonsError, HorizonsTable, ObserverTable, OutputUnits, TimeScale, VectorTable,
};
use cometphot::ephem::{Frame, AU_KM, DAY_S};

const TWO_P: &str = "TestEphemerisCLI-2p-horizons.txt";
const HALE_BOPP: &str = "TestEphemerisCLI-c1995o1-horizons.txt";
const HALLEY_PLAIN: &str = "halley_1P_gemini_north_hourly_plain_lucuma.txt";
const CERES_CSV: &str = "ceres_vectors_range_astroquery.txt";
const HELIO_3I: &str = "horizons_3I_heliocentric_vectors_daily_2025-06-01_to_2025-12-31.txt";
const GEO_3I: &str = "horizons_3I_geocentric_vectors_daily_2025-06-01_to_2025-12-31.txt";
const ALL_FILES: [&str; 6] = [TWO_P, HALE_BOPP, HALLEY_PLAIN, CERES_CSV, HELIO_3I, GEO_3I];

/// Speed of light, km/s.
const C_KM_S: f64 = 299_792.458;

fn path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("data/real/horizons")
        .join(name)
}

fn text(name: &str) -> String {
    std::fs::read_to_string(path(name)).unwrap()
}

fn observer_from(text: &str) -> ObserverTable {
    match horizons::parse(text).unwrap() {
        HorizonsTable::Observer(t) => t,
        HorizonsTable::Vectors(_) => panic!("expected an observer table"),
    }
}

fn vectors_from(text: &str) -> VectorTable {
    match horizons::parse(text).unwrap() {
        HorizonsTable::Vectors(t) => t,
        HorizonsTable::Observer(_) => panic!("expected a vector table"),
    }
}

/// Lines strictly between `$$SOE` and `$$EOE`, with their index in the file.
fn data_lines(text: &str) -> Vec<(usize, &str)> {
    let lines: Vec<&str> = text.lines().collect();
    let soe = lines.iter().position(|l| l.trim() == "$$SOE").unwrap();
    let eoe = lines.iter().position(|l| l.trim() == "$$EOE").unwrap();
    (soe + 1..eoe).map(|i| (i, lines[i])).collect()
}

/// The column-label line: the line above the asterisk rule above `$$SOE`.
fn label_line(text: &str) -> &str {
    let lines: Vec<&str> = text.lines().collect();
    let soe = lines.iter().position(|l| l.trim() == "$$SOE").unwrap();
    lines[soe - 2]
}

fn csv_fields(line: &str) -> Vec<String> {
    let s = line.trim_end().trim_end_matches(',');
    s.split(',').map(|f| f.trim().to_string()).collect()
}

/// A tabulated number as the test reads it: n.a. is NaN.
fn tabulated(field: &str) -> f64 {
    if field == "n.a." {
        f64::NAN
    } else {
        field.parse().unwrap()
    }
}

fn same(a: f64, b: f64) -> bool {
    a == b || (a.is_nan() && b.is_nan())
}

/// The text with every other data record removed (records of `lines_per_record` lines; the
/// first, third, ... are kept), so that the removed ones can be interpolated.
fn every_other_record(text: &str, lines_per_record: usize) -> String {
    let drop: Vec<usize> = data_lines(text)
        .chunks(lines_per_record)
        .enumerate()
        .filter(|(k, _)| k % 2 == 1)
        .flat_map(|(_, record)| record.iter().map(|(i, _)| *i))
        .collect();
    text.lines()
        .enumerate()
        .filter(|(i, _)| !drop.contains(i))
        .map(|(_, l)| format!("{l}\n"))
        .collect()
}

/// Largest fourth difference |y(t) − 4y(t+s) + 6y(t+2s) − 4y(t+3s) + y(t+4s)| / s⁴ over the
/// table, with a step of `step` rows and angles unwrapped by `period`: an estimate of
/// max |y''''| in units of the row spacing. (A step of several rows keeps the rounding of the
/// printed values, amplified up to 16× by a fourth difference, from dominating the estimate.)
fn max_fourth_derivative(values: &[f64], period: Option<f64>, step: usize) -> f64 {
    let mut y = values.to_vec();
    if let Some(p) = period {
        for i in 1..y.len() {
            y[i] -= p * ((y[i] - y[i - 1]) / p).round();
        }
    }
    let s = step;
    let difference =
        |i: usize| y[i] - 4.0 * y[i + s] + 6.0 * y[i + 2 * s] - 4.0 * y[i + 3 * s] + y[i + 4 * s];
    (0..y.len().saturating_sub(4 * s))
        .map(|i| difference(i).abs())
        .fold(0.0, f64::max)
        / (s as f64).powi(4)
}

fn wrapped_difference_deg(a: f64, b: f64) -> f64 {
    (a - b + 180.0).rem_euclid(360.0) - 180.0
}

// ---------------------------------------------------------------------------------------------
// Observer tables: round trip
// ---------------------------------------------------------------------------------------------

#[test]
fn csv_observer_tables_round_trip_every_numeric_column() {
    let expected_columns = [
        "Date__(UT)__HR:MN",
        "Date_________JDUT",
        "R.A._(ICRF)",
        "DEC_(ICRF)",
        "dRA*cosD",
        "d(DEC)/dt",
        "T-mag",
        "N-mag",
        "r",
        "rdot",
        "delta",
        "deldot",
        "S-O-T",
        "/r",
        "S-T-O",
        "PsAng",
        "PsAMV",
        "GlxLon",
        "GlxLat",
    ];
    for (name, target) in [(TWO_P, "2P/Encke"), (HALE_BOPP, "Hale-Bopp (C/1995 O1)")] {
        let text = text(name);
        let table = observer_from(&text);
        let header = table.header();
        assert_eq!(header.target_name, target);
        assert_eq!(header.center_name, "Earth (399)");
        assert_eq!(header.center_site.as_deref(), Some("GEOCENTRIC"));
        assert_eq!(header.time_scale, TimeScale::Utc);
        assert_eq!(header.ra_format.as_deref(), Some("DEG"));
        assert_eq!(header.step_size.as_deref(), Some("1440 minutes"));
        assert!(header.csv);
        assert_eq!(table.columns(), expected_columns);
        assert_eq!(table.len(), 61);
        assert_eq!(table.jd().first(), Some(&2_460_538.5));
        assert_eq!(table.jd().last(), Some(&2_460_598.5));
        assert!(table.markers().iter().all(String::is_empty), "geocentric");
        assert!(table.column("N-mag").unwrap().iter().all(|v| v.is_nan()));

        // The test's own reading of the text: split at commas under the file's labels.
        let labels = csv_fields(label_line(&text));
        let rows = data_lines(&text);
        assert_eq!(rows.len(), 61);
        let mut numeric_columns = 0;
        for (c, label) in labels.iter().enumerate().filter(|(_, l)| !l.is_empty()) {
            if let Some(values) = table.column(label) {
                numeric_columns += 1;
                for ((_, row), &value) in rows.iter().zip(values) {
                    let field = &csv_fields(row)[c];
                    assert!(same(value, tabulated(field)), "{name} {label} {field}");
                }
            } else {
                let texts = table.text_column(label).unwrap();
                for ((_, row), value) in rows.iter().zip(texts) {
                    assert_eq!(value, &csv_fields(row)[c], "{name} {label}");
                }
            }
        }
        assert_eq!(
            numeric_columns, 17,
            "{name}: all but the date and /r columns"
        );
        assert_eq!(table.text_column("/r").unwrap()[0], "/L");
    }
}

#[test]
fn plain_observer_table_with_sexagesimal_ra_dec_and_markers() {
    let text = text(HALLEY_PLAIN);
    let table = observer_from(&text);
    let header = table.header();
    assert_eq!(header.target_name, "1P/Halley");
    assert_eq!(
        header.center_site.as_deref(),
        Some("Gemini North Observatory, Maunakea")
    );
    assert_eq!(header.time_scale, TimeScale::Utc);
    assert_eq!(header.ra_format.as_deref(), Some("HMS"));
    assert!(!header.csv);
    assert_eq!(
        table.columns(),
        [
            "Date__(UT)__HR:MN:SC.fff",
            "R.A._(ICRF)",
            "DEC_(ICRF)",
            "dRA*cosD",
            "d(DEC)/dt",
            "a-mass",
            "mag_ex",
            "T-mag",
            "N-mag"
        ]
    );
    assert_eq!(table.len(), 25);
    // Times from the calendar column alone: 2025-Nov-12 00:00 UT = JD 2460991.5, hourly.
    for (k, jd) in table.jd().iter().enumerate() {
        assert!(
            (jd - (2_460_991.5 + k as f64 / 24.0)).abs() < 1e-9,
            "row {k}"
        );
    }
    // The test's own reading: the last 12 words are RA (3), Dec (3) and 6 numbers; the words
    // between the time and them are the presence markers.
    let numeric = [
        "dRA*cosD",
        "d(DEC)/dt",
        "a-mass",
        "mag_ex",
        "T-mag",
        "N-mag",
    ];
    for (k, (_, row)) in data_lines(&text).iter().enumerate() {
        let words: Vec<&str> = row.split_whitespace().collect();
        let values = &words[words.len() - 12..];
        assert_eq!(table.markers()[k], words[2..words.len() - 12].concat());
        let sexagesimal = |w: &[&str]| {
            let v: Vec<f64> = w.iter().map(|x| x.parse::<f64>().unwrap().abs()).collect();
            let sign = if w[0].starts_with('-') { -1.0 } else { 1.0 };
            sign * (v[0] + v[1] / 60.0 + v[2] / 3600.0)
        };
        let ra = table.column("R.A._(ICRF)").unwrap()[k];
        let dec = table.column("DEC_(ICRF)").unwrap()[k];
        assert!(
            (ra - 15.0 * sexagesimal(&values[0..3])).abs() < 1e-12,
            "row {k}"
        );
        assert!((dec - sexagesimal(&values[3..6])).abs() < 1e-12, "row {k}");
        for (label, field) in numeric.iter().zip(&values[6..]) {
            let value = table.column(label).unwrap()[k];
            assert!(same(value, tabulated(field)), "row {k} {label}");
        }
    }
    let markers: Vec<&str> = table.markers().iter().map(String::as_str).collect();
    assert_eq!(
        [
            markers[0],
            markers[4],
            markers[5],
            markers[11],
            markers[16],
            markers[17]
        ],
        ["*", "C", "", "m", "Nm", "*m"]
    );
    assert!(table.column("a-mass").unwrap()[..10]
        .iter()
        .all(|v| v.is_nan()));
    assert_eq!(table.column("a-mass").unwrap()[10], 5.161);
    // Geometry: RA/Dec and rates are there, distances and angles are not in this table.
    let g = table.geometry_at(table.jd()[3]).unwrap();
    assert_eq!(g.ra_deg, table.column("R.A._(ICRF)").unwrap()[3]);
    assert_eq!(g.ra_rate_cosdec_arcsec_per_h, Some(-1.29616));
    assert_eq!((g.rh_au, g.delta_au, g.phase_deg), (None, None, None));
}

#[test]
fn observer_geometry_is_exact_at_the_nodes() {
    for name in [TWO_P, HALE_BOPP] {
        let table = observer_from(&text(name));
        for (k, &jd) in table.jd().iter().enumerate() {
            let g = table.geometry_at(jd).unwrap();
            let col = |label: &str| table.column(label).unwrap()[k];
            assert_eq!(g.jd, jd);
            assert_eq!(g.ra_deg, col("R.A._(ICRF)"));
            assert_eq!(g.dec_deg, col("DEC_(ICRF)"));
            assert_eq!(g.rh_au, Some(col("r")));
            assert_eq!(g.delta_au, Some(col("delta")));
            assert_eq!(g.phase_deg, Some(col("S-T-O")));
            assert_eq!(g.elong_deg, Some(col("S-O-T")));
            assert_eq!(g.sun_pa_deg, Some(col("PsAng")));
            assert_eq!(g.neg_vel_pa_deg, Some(col("PsAMV")));
            assert_eq!(g.ra_rate_cosdec_arcsec_per_h, Some(col("dRA*cosD")));
            assert_eq!(g.dec_rate_arcsec_per_h, Some(col("d(DEC)/dt")));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Observer tables: accuracy between nodes
// ---------------------------------------------------------------------------------------------

/// Interpolating the real daily tables with every other day removed (2-day nodes) and comparing
/// with the removed days.
///
/// Expected error, from the 4-point Lagrange remainder |f''''| / 24 · |Π(t − tᵢ)|: on a
/// symmetric stencil at mid-interval |Π| = 9h⁴/16, on the end stencils 15h⁴/16; so with
/// h = 2 d the truncation error is ≤ (15/16/24) · 16 · max|f''''|, with max|f''''| estimated
/// from 3-day fourth differences of the full daily table (× 1.5 for the estimate). Plus
/// rounding: nodes and reference are printed to 1e-5° (RA, Dec) and the Lagrange weights sum
/// in absolute value to ≤ 1.625, so rounding adds ≤ (1.625 + 1) × 0.5e-5° = 0.047″. The RA
/// bound is scaled by the largest cos δ of the table.
///
/// Measured (2-day nodes): 2P/Encke RA·cos δ 0.026″, Dec 0.027″ (bounds 0.075″, 0.059″);
/// Hale-Bopp (δ ≈ −85.8°) RA·cos δ 0.0027″, Dec 0.034″ (bounds 0.005″, 0.050″): rounding of
/// the printed values dominates. r agrees to 3e-10 au, Δ to 1e-7 au (2P, Δ printed to 1e-14).
#[test]
fn daily_observer_tables_interpolate_dropped_days() {
    for name in [TWO_P, HALE_BOPP] {
        let full_text = text(name);
        let full = observer_from(&full_text);
        let sparse = observer_from(&every_other_record(&full_text, 1));
        assert_eq!(sparse.len(), 31);
        let ra = full.column("R.A._(ICRF)").unwrap();
        let dec = full.column("DEC_(ICRF)").unwrap();
        let truncation = 15.0 / 16.0 / 24.0 * 2f64.powi(4) * 1.5;
        let rounding_deg = 2.625 * 0.5e-5;
        let max_cos_dec = dec.iter().map(|d| d.to_radians().cos()).fold(0.0, f64::max);
        let ra_bound = (truncation * max_fourth_derivative(ra, Some(360.0), 3) + rounding_deg)
            * max_cos_dec
            * 3600.0;
        let dec_bound = (truncation * max_fourth_derivative(dec, None, 3) + rounding_deg) * 3600.0;
        let mut worst = [0.0f64; 4];
        for k in (1..full.len() - 1).step_by(2) {
            let jd = full.jd()[k];
            let g = sparse.geometry_at(jd).unwrap();
            let d_ra = wrapped_difference_deg(g.ra_deg, ra[k]) * dec[k].to_radians().cos() * 3600.0;
            let d_dec = (g.dec_deg - dec[k]) * 3600.0;
            let d_r = g.rh_au.unwrap() - full.column("r").unwrap()[k];
            let d_delta = g.delta_au.unwrap() - full.column("delta").unwrap()[k];
            for (w, d) in worst.iter_mut().zip([d_ra, d_dec, d_r, d_delta]) {
                *w = w.max(d.abs());
            }
        }
        println!(
            "{name}: 2-day nodes, max |ΔRA·cosδ| = {:.4}″ (bound {ra_bound:.3}″), |ΔDec| = {:.4}″ \
             (bound {dec_bound:.3}″), |Δr| = {:.2e} au, |ΔΔ| = {:.2e} au",
            worst[0], worst[1], worst[2], worst[3]
        );
        assert!(
            worst[0] <= ra_bound,
            "{name} RA {}″ > {ra_bound}″",
            worst[0]
        );
        assert!(
            worst[1] <= dec_bound,
            "{name} Dec {}″ > {dec_bound}″",
            worst[1]
        );
        // r and Δ are printed to ~1e-12..1e-14 au and vary smoothly: the same remainder bound.
        for (label, w) in [("r", worst[2]), ("delta", worst[3])] {
            let bound = truncation * max_fourth_derivative(full.column(label).unwrap(), None, 3)
                + 2.625 * 0.5e-11;
            assert!(w <= bound, "{name} {label} {w} > {bound}");
        }
    }
}

/// Horizons CSV observer table text for a smooth analytic track, one row per `step_days`.
fn synthetic_observer_csv(
    track: impl Fn(f64) -> (f64, f64),
    jd0: f64,
    step_days: f64,
    rows: usize,
) -> String {
    let mut text = String::from(
        "*******************************************************************************\n\
         Ephemeris / synthetic test table in the Horizons CSV layout\n\
         *******************************************************************************\n\
         Target body name: Test comet                      {source: analytic}\n\
         Center body name: Earth (399)                     {source: DE441}\n\
         Center-site name: GEOCENTRIC\n\
         *******************************************************************************\n\
         Start time      : A.D. 2025-Jul-01 00:00:00.0000 UT      \n\
         Step-size       : 60 minutes\n\
         *******************************************************************************\n\
         RA format       : DEG\n\
         Table format    : Comma Separated Values (spreadsheet)\n\
         ****************************************************************************************\n \
         Date__(UT)__HR:MN, Date_________JDUT, , , R.A._(ICRF), DEC_(ICRF),             delta,\n\
         ****************************************************************************************\n\
         $$SOE\n",
    );
    for k in 0..rows {
        let t = k as f64 * step_days;
        let (ra, dec) = track(t);
        let hours = (k as f64 * step_days * 24.0).round() as i64;
        text.push_str(&format!(
            " 2025-Jul-{:02} {:02}:00, {:.9}, , , {:11.5}, {:10.5}, {:17.14},\n",
            1 + hours / 24,
            hours % 24,
            jd0 + t,
            ra.rem_euclid(360.0),
            dec,
            2.5 - 0.01 * t
        ));
    }
    text.push_str(
        "$$EOE\n*******************************************************************************\n",
    );
    text
}

/// The "hourly tables better than 0.1″" criterion, on an hourly table generated from a known
/// analytic track with 3I-like motion (0.55°/day in RA, 0.25°/day in Dec, curvature, a 4″
/// diurnal parallax-like wobble) crossing RA = 0/360, printed as Horizons prints it (1e-5°).
/// Interpolated at the half hours and compared with the analytic truth.
///
/// Expected: truncation (|f''''| ≈ 4″·(2π)⁴ for the wobble, h = 1/24 d) ≈ 1e-3″; rounding of
/// the nodes ≤ 1.625 × 0.018″ = 0.03″. Measured: max error 0.018″ (RA·cos δ) and 0.019″ (Dec).
#[test]
fn hourly_table_interpolates_to_better_than_a_tenth_of_an_arcsec() {
    let jd0 = 2_460_857.5; // 2025-Jul-01 00:00 UT
    let wobble = 4.0 / 3600.0;
    let dec_of = |t: f64| -12.0 - 0.25 * t - 0.03 * t * t + 0.002 * t * t * t;
    let track = move |t: f64| {
        let dec = dec_of(t) + 0.75 * wobble * (2.0 * PI * t).cos();
        let ra = 359.2
            + 0.55 * t
            + 0.04 * t * t
            + wobble * (2.0 * PI * t + 0.3).sin() / dec.to_radians().cos();
        (ra, dec)
    };
    let text = synthetic_observer_csv(track, jd0, 1.0 / 24.0, 73);
    let table = observer_from(&text);
    assert_eq!(table.len(), 73);
    let (mut worst_ra, mut worst_dec) = (0.0f64, 0.0f64);
    for k in 0..72 {
        let t = (k as f64 + 0.5) / 24.0;
        let g = table.geometry_at(jd0 + t).unwrap();
        let (ra, dec) = track(t);
        assert!((0.0..360.0).contains(&g.ra_deg));
        let d_ra = wrapped_difference_deg(g.ra_deg, ra) * dec.to_radians().cos() * 3600.0;
        worst_ra = worst_ra.max(d_ra.abs());
        worst_dec = worst_dec.max(((g.dec_deg - dec) * 3600.0).abs());
    }
    println!("hourly analytic track: max |ΔRA·cosδ| = {worst_ra:.4}″, |ΔDec| = {worst_dec:.4}″");
    assert!(worst_ra < 0.1 && worst_dec < 0.1);
    // The RA crossed 360 → 0 inside the table and came back in [0, 360).
    let ra = table.column("R.A._(ICRF)").unwrap();
    assert!(ra[0] > 359.0 && ra[72] < 2.0);
}

// ---------------------------------------------------------------------------------------------
// Vector tables
// ---------------------------------------------------------------------------------------------

/// The numbers of a labelled vector line `X =-2.5E+08 Y = 3.0E+08 Z =-7.1E+06`, read by the test.
fn labelled_numbers(line: &str) -> Vec<f64> {
    let words: Vec<String> = line
        .replace('=', " ")
        .split_whitespace()
        .map(str::to_string)
        .collect();
    words
        .iter()
        .skip(1)
        .step_by(2)
        .map(|w| w.parse().unwrap())
        .collect()
}

#[test]
fn vector_tables_convert_km_s_to_au_and_au_per_day() {
    for (name, center) in [(HELIO_3I, "Sun (10)"), (GEO_3I, "Earth (399)")] {
        let text = text(name);
        let table = vectors_from(&text);
        let header = table.header();
        assert_eq!(header.target_name, "ATLAS (C/2025 N1)");
        assert_eq!(header.center_name, center);
        assert_eq!(header.center_site.as_deref(), Some("BODY CENTER"));
        assert_eq!(header.time_scale, TimeScale::Tdb);
        assert_eq!(header.output_units, Some(OutputUnits::KmS));
        assert_eq!(header.reference_frame, Some(Frame::EclipticJ2000));
        assert_eq!(table.jd().len(), 214);
        assert_eq!(table.jd().first(), Some(&2_460_827.5));
        assert_eq!(table.jd().last(), Some(&2_461_040.5));
        let rg = table.range_au().unwrap();
        let lt = table.light_time_s().unwrap();
        let rr = table.range_rate_au_per_day().unwrap();
        let mut worst = [0.0f64; 3];
        for (k, record) in data_lines(&text).chunks(4).enumerate() {
            let xyz = labelled_numbers(record[1].1);
            let v = labelled_numbers(record[2].1);
            let lt_rg_rr = labelled_numbers(record[3].1);
            let state = table.states()[k];
            assert_eq!(state.frame, Frame::EclipticJ2000);
            for i in 0..3 {
                assert_eq!(state.position_au[i], xyz[i] / AU_KM);
                assert_eq!(state.velocity_au_per_day[i], v[i] * DAY_S / AU_KM);
            }
            assert_eq!(rg[k], lt_rg_rr[1] / AU_KM);
            assert_eq!(lt[k], lt_rg_rr[0]);
            // |position| = RG, LT = RG / c, RR = position · velocity / |position|.
            let r = state.position_au.norm();
            let radial = state.position_au.dot(&state.velocity_au_per_day) / r;
            worst[0] = worst[0].max((r - rg[k]).abs() / rg[k]);
            worst[1] = worst[1].max((lt[k] - rg[k] * AU_KM / C_KM_S).abs() / lt[k]);
            worst[2] = worst[2].max((radial - rr[k]).abs() / rr[k].abs());
        }
        println!(
            "{name}: relative |r|−RG {:.1e}, LT−RG/c {:.1e}, RR {:.1e}",
            worst[0], worst[1], worst[2]
        );
        // All printed to 16 significant digits.
        assert!(worst[0] < 1e-14 && worst[1] < 1e-14 && worst[2] < 1e-12);
    }
}

#[test]
fn csv_vector_table_in_au_d() {
    let text = text(CERES_CSV);
    let table = vectors_from(&text);
    let header = table.header();
    assert!(header.csv);
    assert_eq!(header.target_name, "1 Ceres (A801 AA)");
    assert_eq!(header.output_units, Some(OutputUnits::AuD));
    assert_eq!(header.reference_frame, Some(Frame::EclipticJ2000));
    assert_eq!(header.time_scale, TimeScale::Tdb);
    assert_eq!(
        table.jd(),
        [2_459_740.5, 2_459_750.5, 2_459_760.5, 2_459_770.5]
    );
    for (k, (_, row)) in data_lines(&text).iter().enumerate() {
        let f = csv_fields(row);
        let n = |i: usize| f[i].parse::<f64>().unwrap();
        let s = table.states()[k];
        assert_eq!(
            [s.position_au.x, s.position_au.y, s.position_au.z],
            [n(2), n(3), n(4)]
        );
        assert_eq!(
            [
                s.velocity_au_per_day.x,
                s.velocity_au_per_day.y,
                s.velocity_au_per_day.z
            ],
            [n(5), n(6), n(7)]
        );
        assert_eq!(table.light_time_s().unwrap()[k], n(8) * DAY_S);
        assert_eq!(table.range_au().unwrap()[k], n(9));
        assert!((s.position_au.norm() - n(9)).abs() < 1e-14 * n(9));
        assert_eq!(table.state_at(table.jd()[k]).unwrap(), s);
    }
    let mid = table.state_at(2_459_745.5).unwrap();
    assert!((mid.position_au.norm() - 2.60).abs() < 0.01);
}

/// Vector tables asked for without labels (`VEC_LABELS=NO`) print only the numbers; the names
/// come from the column header. Built here from the real labelled table.
#[test]
fn unlabelled_vector_table_reads_like_the_labelled_one() {
    let labelled = text(GEO_3I);
    let mut unlabelled = labelled.clone();
    for (_, line) in data_lines(&labelled) {
        if line.contains(" = A.D.") {
            continue;
        }
        let mut bare = line.to_string();
        for key in [
            "VX=", "VY=", "VZ=", "LT=", "RG=", "RR=", "X =", "Y =", "Z =",
        ] {
            bare = bare.replace(key, "   ");
        }
        unlabelled = unlabelled.replacen(line, &bare, 1);
    }
    assert!(!unlabelled.contains("RG="));
    let a = vectors_from(&labelled);
    let b = vectors_from(&unlabelled);
    assert_eq!(a.jd(), b.jd());
    assert_eq!(a.states(), b.states());
    assert_eq!(a.range_au(), b.range_au());
}

#[test]
fn vector_state_at_a_node_is_the_node() {
    for name in [HELIO_3I, GEO_3I] {
        let table = vectors_from(&text(name));
        for (&jd, state) in table.jd().iter().zip(table.states()) {
            assert_eq!(table.state_at(jd).unwrap(), *state);
        }
    }
}

/// Hermite interpolation of the 3I tables with every other day removed (2-day nodes),
/// compared with the removed days.
///
/// Expected from the cubic Hermite remainder f''''(ξ)/24 · (t − t₀)²(t − t₁)²: at most
/// h⁴/384 · max|p''''| for the position and h³·√3/216 · max|p''''| for the velocity (the latter
/// for any t; at mid-interval, where the removed days are, the leading velocity term vanishes),
/// with h = 2 d and max|p''''| from the fourth differences of the full daily table (16-digit
/// values, so one-day differences are clean) × 1.5 for the estimate. The fourth differences
/// give max|p''''| = 6.3e-7 au/d⁴ (heliocentric, near perihelion q = 1.36 au on 2025-10-29)
/// and 7.4e-7 au/d⁴ (geocentric), hence position bounds of 4.0e-8 and 4.6e-8 au.
///
/// Measured: heliocentric 1.5e-8 au (2.3 km) and 2.6e-10 au/d; geocentric 2.1e-8 au (3.1 km)
/// and 6.4e-10 au/d. The real tables are daily: with h = 1 d the same remainder is 16× smaller,
/// ≲ 2.5e-9 au (0.4 km).
#[test]
fn vector_interpolation_reproduces_dropped_days() {
    for name in [HELIO_3I, GEO_3I] {
        let full_text = text(name);
        let full = vectors_from(&full_text);
        let sparse = vectors_from(&every_other_record(&full_text, 4));
        assert_eq!(sparse.jd().len(), 107);
        let max_p4 = (0..3)
            .map(|axis| {
                let p: Vec<f64> = full.states().iter().map(|s| s.position_au[axis]).collect();
                max_fourth_derivative(&p, None, 1)
            })
            .fold(0.0, f64::max)
            * 3f64.sqrt();
        let h: f64 = 2.0;
        let position_bound = 1.5 * h.powi(4) / 384.0 * max_p4;
        let velocity_bound = 1.5 * h.powi(3) * 3f64.sqrt() / 216.0 * max_p4;
        let (mut worst_p, mut worst_v) = (0.0f64, 0.0f64);
        for k in (1..full.jd().len() - 1).step_by(2) {
            let got = sparse.state_at(full.jd()[k]).unwrap();
            let want = full.states()[k];
            assert_eq!(got.frame, want.frame);
            worst_p = worst_p.max((got.position_au - want.position_au).norm());
            worst_v = worst_v.max((got.velocity_au_per_day - want.velocity_au_per_day).norm());
        }
        println!(
            "{name}: 2-day nodes, max |Δp| = {worst_p:.2e} au ({:.3} km; bound {position_bound:.2e}), \
             |Δv| = {worst_v:.2e} au/d (bound {velocity_bound:.2e}); max|p''''| ≈ {max_p4:.2e} au/d⁴",
            worst_p * AU_KM
        );
        assert!(worst_p <= position_bound, "{name}: {worst_p} au");
        assert!(worst_v <= velocity_bound, "{name}: {worst_v} au/d");
    }
}

// ---------------------------------------------------------------------------------------------
// Bad input
// ---------------------------------------------------------------------------------------------

#[test]
fn times_outside_the_span_are_refused_on_both_sides() {
    let observer = observer_from(&text(TWO_P));
    let vectors = vectors_from(&text(HELIO_3I));
    let (o_first, o_last) = (2_460_538.5, 2_460_598.5);
    let (v_first, v_last) = (2_460_827.5, 2_461_040.5);
    for jd in [o_first - 1e-6, o_last + 0.5, f64::NAN] {
        let err = observer.geometry_at(jd).unwrap_err();
        assert!(
            matches!(err, HorizonsError::OutsideSpan { first, last, .. } if first == o_first && last == o_last),
            "{err}"
        );
    }
    let message = observer.geometry_at(o_last + 1.0).unwrap_err().to_string();
    assert!(
        message.contains("outside the table span JD 2460538.500000 .. 2460598.500000"),
        "{message}"
    );
    for jd in [v_first - 0.25, v_last + 1e-6] {
        let err = vectors.state_at(jd).unwrap_err();
        assert!(
            matches!(err, HorizonsError::OutsideSpan { first, last, .. } if first == v_first && last == v_last),
            "{err}"
        );
    }
    assert!(observer.value_at("r", o_first - 1.0).is_err());
    assert!(observer.geometry_at(o_first).is_ok() && vectors.state_at(v_last).is_ok());
}

#[test]
fn truncated_files_are_errors() {
    for name in ALL_FILES {
        let text = text(name);
        let eoe = text.find("$$EOE").unwrap();
        for cut in (0..eoe).step_by(97) {
            assert!(
                horizons::parse(&text[..cut]).is_err(),
                "{name} cut at byte {cut} parsed"
            );
        }
        assert!(
            horizons::parse(&text[..eoe + 5]).is_ok(),
            "{name} up to $$EOE"
        );
    }
    let cut = &text(TWO_P)[..text(TWO_P).find("$$EOE").unwrap()];
    assert!(matches!(
        horizons::parse(cut),
        Err(HorizonsError::MissingMarker("$$EOE"))
    ));
}

#[test]
fn missing_markers_header_and_empty_text() {
    let text = text(TWO_P);
    let no_eoe = text.replace("$$EOE", "");
    assert!(matches!(
        horizons::parse(&no_eoe),
        Err(HorizonsError::MissingMarker("$$EOE"))
    ));
    assert!(matches!(
        horizons::parse(&text.replace("$$SOE", "")),
        Err(HorizonsError::MissingMarker("$$SOE"))
    ));
    for empty in ["", "   \n\n", "API VERSION: 1.2\n"] {
        assert!(matches!(
            horizons::parse(empty),
            Err(HorizonsError::MissingMarker("$$SOE"))
        ));
    }
    assert!(matches!(
        horizons::parse("$$SOE\n$$EOE\n"),
        Err(HorizonsError::NoColumnHeader)
    ));
    let no_label_line = text.replace(label_line(&text), "");
    assert!(matches!(
        horizons::parse(&no_label_line),
        Err(HorizonsError::NoColumnHeader)
    ));
    let no_rows: String = text
        .lines()
        .filter(|l| !l.starts_with(" 2024-"))
        .map(|l| format!("{l}\n"))
        .collect();
    assert!(matches!(
        horizons::parse(&no_rows),
        Err(HorizonsError::Empty)
    ));
    let elements = "Target body name: X\nCenter body name: Sun (10)\n****\n\
                    JDTDB, Calendar Date (TDB), EC, QR, IN,\n****\n$$SOE\n\
                    2459740.5, A.D. 2022-Jun-10 00:00:00.0000, 0.07, 2.55, 10.5,\n$$EOE\n";
    assert!(matches!(
        horizons::parse(elements),
        Err(HorizonsError::UnknownKind(ref first)) if first == "JDTDB"
    ));
}

#[test]
fn bad_numbers_and_field_counts_name_the_line() {
    let csv = text(TWO_P);
    let (index, row) = data_lines(&csv)[0];
    let garbled = csv.replacen("329.30474", "329.3O474", 1);
    match horizons::parse(&garbled) {
        Err(HorizonsError::BadNumber {
            line,
            column,
            text: field,
        }) => {
            assert_eq!(
                (line, column.as_str(), field.as_str()),
                (index + 1, "R.A._(ICRF)", "329.3O474")
            );
        }
        other => panic!("{other:?}"),
    }
    let message = horizons::parse(&garbled).unwrap_err().to_string();
    assert!(message.starts_with(&format!("line {}, column 'R.A._(ICRF)'", index + 1)));
    let short_row = row.replacen("  -15.12338,", "", 1);
    let err = horizons::parse(&csv.replacen(row, &short_row, 1)).unwrap_err();
    assert!(
        matches!(err, HorizonsError::FieldCount { line, expected: 21, found: 20 } if line == index + 1),
        "{err}"
    );
    // Plain table: a garbled RA and a stray word.
    let plain = text(HALLEY_PLAIN);
    let (index, row) = data_lines(&plain)[2];
    let bad_ra = row.replacen("08 21 30.908476", "08 21 3O.908476", 1);
    assert!(matches!(
        horizons::parse(&plain.replacen(row, &bad_ra, 1)),
        Err(HorizonsError::BadNumber { line, .. }) if line == index + 1
    ));
    let stray = format!("{row}  12");
    assert!(matches!(
        horizons::parse(&plain.replacen(row, &stray, 1)),
        Err(HorizonsError::BadRow { line, .. }) if line == index + 1
    ));
    // Vector table: a garbled component and an incomplete last record.
    let vectors = text(HELIO_3I);
    let (index, line) = data_lines(&vectors)[5];
    let garbled = line.replacen('E', "Q", 1);
    assert!(matches!(
        horizons::parse(&vectors.replacen(line, &garbled, 1)),
        Err(HorizonsError::BadNumber { line, .. }) if line == index + 1
    ));
    let last = data_lines(&vectors).last().unwrap().1;
    assert!(matches!(
        horizons::parse(&vectors.replacen(last, "", 1)),
        Err(HorizonsError::BadRow { .. })
    ));
    // Times that go backwards.
    let rows = data_lines(&csv);
    let swapped = csv
        .replacen(rows[1].1, "@@", 1)
        .replacen(rows[2].1, rows[1].1, 1)
        .replacen("@@", rows[2].1, 1);
    assert!(matches!(
        horizons::parse(&swapped),
        Err(HorizonsError::NotIncreasing { .. })
    ));
}

#[test]
fn read_errors_name_the_file() {
    let missing = path("no-such-table.txt");
    let err = horizons::read(&missing).unwrap_err();
    assert!(err.to_string().contains("no-such-table.txt"), "{err}");
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("garbled.txt");
    std::fs::write(&bad, text(TWO_P).replacen("2460540.5", "2460540.5x", 1)).unwrap();
    let err = horizons::read(&bad).unwrap_err();
    assert!(err.to_string().contains("garbled.txt"), "{err}");
    assert!(matches!(err, HorizonsError::InFile { .. }));
    assert!(matches!(
        horizons::read(&path(TWO_P)),
        Ok(HorizonsTable::Observer(_))
    ));
    assert!(matches!(
        horizons::read(&path(GEO_3I)),
        Ok(HorizonsTable::Vectors(_))
    ));
}

/// Random damage to the real files (characters replaced or inserted, multi-byte characters,
/// lines deleted, duplicated or cut): parsing and, when it succeeds, interpolating must return
/// errors, never panic.
#[test]
fn garbled_files_never_panic() {
    let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = move |n: usize| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % n as u64) as usize
    };
    let junk = [
        "x", ",", " ", "-", ".", "=", "*", "\n", "9", "é", "$$EOE", "n.a.", "", "°",
    ];
    let mut outcomes = [0usize; 2];
    for name in ALL_FILES {
        let original = text(name);
        for _ in 0..300 {
            let mut chars: Vec<char> = original.chars().collect();
            for _ in 0..1 + next(4) {
                let at = next(chars.len());
                let piece: Vec<char> = junk[next(junk.len())].chars().collect();
                let len = next(3);
                let end = (at + len).min(chars.len());
                chars.splice(at..end, piece);
            }
            let mut lines: Vec<String> = chars
                .iter()
                .collect::<String>()
                .lines()
                .map(String::from)
                .collect();
            match next(4) {
                0 if !lines.is_empty() => {
                    lines.remove(next(lines.len()));
                }
                1 if !lines.is_empty() => {
                    let i = next(lines.len());
                    let copy = lines[i].clone();
                    lines.insert(i, copy);
                }
                2 if !lines.is_empty() => {
                    let i = next(lines.len());
                    let cut: String = lines[i].chars().take(next(80)).collect();
                    lines[i] = cut;
                }
                _ => {}
            }
            let damaged = lines.join("\n");
            match horizons::parse(&damaged) {
                Ok(table) => {
                    outcomes[0] += 1;
                    exercise(&table, &mut next);
                }
                Err(e) => {
                    outcomes[1] += 1;
                    assert!(!e.to_string().is_empty());
                }
            }
        }
    }
    println!(
        "garbled files: {} parsed, {} refused",
        outcomes[0], outcomes[1]
    );
}

fn exercise(table: &HorizonsTable, next: &mut impl FnMut(usize) -> usize) {
    match table {
        HorizonsTable::Observer(t) => {
            let jd = t.jd();
            for probe in probes(jd, next) {
                let _ = t.geometry_at(probe);
                for c in t.columns() {
                    let _ = t.value_at(c, probe);
                }
            }
        }
        HorizonsTable::Vectors(t) => {
            for probe in probes(t.jd(), next) {
                let _ = t.state_at(probe);
            }
        }
    }
}

fn probes(jd: &[f64], next: &mut impl FnMut(usize) -> usize) -> Vec<f64> {
    let (first, last) = (jd[0], jd[jd.len() - 1]);
    let r = next(1000) as f64 / 1000.0;
    vec![
        first,
        last,
        first + r * (last - first),
        first - 1.0,
        last + 1.0,
        f64::NAN,
    ]
}
