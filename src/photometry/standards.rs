//! Zero points from standard-star frames across a night (issue 4, item 6c): the stars of every
//! frame classified `standard` give `m_cat − m_inst` at the frame's airmass
//! ([`super::measure::measure_standard_frame`]); one fit per filter of
//!
//! `m_cat − m_inst = zp0 − k·X`
//!
//! (Bouguer's law; Hardie 1962, *Astronomical Techniques* ch. 8; [`fit_extinction`], through
//! each frame's weighted mean, which is the least-squares fit of the stars when a frame's
//! stars share its aperture correction's error) gives the
//! zero point above the atmosphere zp0 and the extinction coefficient k, and a science frame
//! of that filter at airmass X gets `zp(X) = zp0 − k·X` ([`ExtinctionFit::zero_point_at`]).
//!
//! Precedence of the zero points of a science frame: `--zero-point` (given), then the
//! catalogue stars in the frame (`--catalog`), then the standards, then the header's
//! PHOTZP/MAGZPT. The standards come before the header keyword: they are measured that night,
//! with the same apertures as the comet, while a header zero point is usually a nominal value
//! of the instrument. A frame whose catalogue zero point failed falls back on the standards.

use super::measure::{CometPhotometry, StandardFrame};
use super::zeropoint::{
    fit_extinction, frame_zero_point, instrumental_mag, ExtinctionFit, FrameZeroPoint,
    ZeroPointError,
};
use std::fmt::Write as _;

/// The extinction fit of one filter, or why there is none.
#[derive(Debug, Clone, PartialEq)]
pub struct FilterExtinction {
    pub filter: String,
    /// Standard frames of this filter that gave at least one star, and the star measurements
    /// they gave (offered to the fit).
    pub n_frames: usize,
    pub n_measurements: usize,
    pub result: Result<ExtinctionFit, ZeroPointError>,
}

/// The zero point of a standard frame from its stars ([`frame_zero_point`]).
pub fn standard_frame_zero_point(frame: &StandardFrame) -> Option<FrameZeroPoint> {
    frame_zero_point(&frame.measurements, frame.shared_err_mag)
}

/// One fit per filter over every star of the standard frames of that filter, filters in
/// alphabetical order.
pub fn fit_night_extinction(frames: &[StandardFrame]) -> Vec<FilterExtinction> {
    let mut filters: Vec<&str> = frames.iter().map(|f| f.filter.as_str()).collect();
    filters.sort_unstable();
    filters.dedup();
    filters
        .into_iter()
        .map(|filter| {
            let zero_points: Vec<FrameZeroPoint> = frames
                .iter()
                .filter(|f| f.filter == filter)
                .filter_map(standard_frame_zero_point)
                .collect();
            FilterExtinction {
                filter: filter.to_string(),
                n_frames: zero_points.len(),
                n_measurements: zero_points.iter().map(|z| z.n_stars).sum(),
                result: fit_extinction(&zero_points),
            }
        })
        .collect()
}

/// Whether a row's zero point gives way to the standards: none, or the header's.
fn replaceable(method: &str) -> bool {
    matches!(method, "none" | "header")
}

/// Gives every row without a zero point of higher precedence (see the module notes) the
/// standards' zero point of its filter at its airmass: `zp = zp0 − k·X`, `zp_method =
/// standards`, `n_stars` = the stars of the fit, `mag = mag_inst + zp`, `mag_err` =
/// √(σ_inst² + σ_zp²). Rows of a filter without a fit, or without an airmass, are left as
/// they are. Returns how many rows were calibrated.
pub fn apply_standards(rows: &mut [CometPhotometry], fits: &[FilterExtinction]) -> usize {
    let mut applied = 0;
    for row in rows.iter_mut() {
        if !replaceable(&row.zp_method) || !row.airmass.is_finite() {
            continue;
        }
        let Some(Ok(fit)) = fits
            .iter()
            .find(|f| f.filter == row.filter)
            .map(|f| f.result.as_ref())
        else {
            continue;
        };
        let zp = fit.zero_point_at(row.airmass);
        let mag_inst_err = instrumental_mag(row.net_e, row.net_err_e, row.exptime_s)
            .map_or(f64::NAN, |(_, err)| err);
        row.zp = zp.zp_mag;
        row.zp_err = zp.zp_err_mag;
        row.zp_method = zp.label().to_string();
        row.n_stars = zp.n_stars;
        row.mag = row.mag_inst + zp.zp_mag;
        row.mag_err = mag_inst_err.hypot(zp.zp_err_mag);
        applied += 1;
    }
    applied
}

/// Columns of `<out>_extinction.csv`.
pub const EXTINCTION_COLUMNS: &str = "filter,zp0_mag,zp0_err_mag,k_mag_per_airmass,\
k_err_mag_per_airmass,zp0_k_covariance,n_stars,n_frames,airmass_min,airmass_max,chi2_dof,reason";

/// The fits as CSV (one row per filter; a filter without a fit has empty numbers and the
/// reason).
pub fn extinction_csv(fits: &[FilterExtinction]) -> String {
    let mut out = format!("{EXTINCTION_COLUMNS}\n");
    for f in fits {
        let filter = csv_text(&f.filter);
        let _ = match &f.result {
            Ok(fit) => writeln!(
                out,
                "{filter},{:?},{:?},{:?},{:?},{:?},{},{},{:?},{:?},{:?},",
                fit.zp_mag,
                fit.zp_err_mag,
                fit.k_mag_per_airmass,
                fit.k_err_mag_per_airmass,
                fit.zp_k_covariance,
                fit.n_stars,
                f.n_frames,
                fit.airmass_min,
                fit.airmass_max,
                fit.chi2_dof
            ),
            Err(e) => writeln!(
                out,
                "{filter},,,,,,{},{},,,,{}",
                f.n_measurements,
                f.n_frames,
                csv_text(&e.to_string())
            ),
        };
    }
    out
}

/// Columns of `<out>_standards.csv`.
pub const STANDARD_FRAME_COLUMNS: &str = "file,filter,mjd_mid_utc,airmass,n_stars,\
n_candidates,zp_mag,zp_err_mag,aperture_correction_err_mag,residual_mag,wcs_model";

/// One row per standard frame: its zero point (weighted mean of `m_cat − m_inst`), the stars
/// used and measured, its residual from its filter's fit, `zp − (zp0 − k·X)` (empty
/// without a fit), and the transform that refined its WCS on the standards (`similarity`, or
/// `shift` in a field of too few stars), in the order of `frames`.
pub fn standard_frames_csv(frames: &[StandardFrame], fits: &[FilterExtinction]) -> String {
    let mut out = format!("{STANDARD_FRAME_COLUMNS}\n");
    let opt = |v: Option<f64>| v.map(|x| format!("{x:?}")).unwrap_or_default();
    for frame in frames {
        let zp = standard_frame_zero_point(frame);
        let fit = fits
            .iter()
            .find(|f| f.filter == frame.filter)
            .and_then(|f| f.result.as_ref().ok());
        let residual = zp
            .zip(fit)
            .map(|(z, f)| z.zp_mag - f.zero_point_at(frame.airmass).zp_mag);
        let _ = writeln!(
            out,
            "{},{},{:?},{:?},{},{},{},{},{:?},{},{}",
            csv_text(&frame.file),
            csv_text(&frame.filter),
            frame.mjd_mid_utc,
            frame.airmass,
            zp.map_or(0, |z| z.n_stars),
            frame.n_candidates,
            opt(zp.map(|z| z.zp_mag)),
            opt(zp.map(|z| z.zp_err_mag)),
            frame.shared_err_mag,
            opt(residual),
            frame.wcs_model.label()
        );
    }
    out
}

/// One line per filter for the summary on standard error.
pub fn describe(fit: &FilterExtinction) -> String {
    match &fit.result {
        Ok(f) => format!(
            "extinction fit, filter '{}': zp0 = {:.3} ± {:.3} mag, k = {:.3} ± {:.3} mag/airmass \
             from {} stars in {} standard frames at airmass {:.2}–{:.2} (χ²/dof {:.2})",
            fit.filter,
            f.zp_mag,
            f.zp_err_mag,
            f.k_mag_per_airmass,
            f.k_err_mag_per_airmass,
            f.n_stars,
            fit.n_frames,
            f.airmass_min,
            f.airmass_max,
            f.chi2_dof
        ),
        Err(e) => format!(
            "extinction fit, filter '{}': not fitted ({} stars in {} standard frames): {e}",
            fit.filter, fit.n_measurements, fit.n_frames
        ),
    }
}

/// A CSV field: quoted when it holds a comma, quote or line break (RFC 4180).
fn csv_text(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::photometry::astrometry::WcsModel;
    use crate::photometry::zeropoint::StandardMeasurement;

    fn frame(filter: &str, airmass: f64, n: usize) -> StandardFrame {
        StandardFrame {
            file: format!("std_{airmass}.fits"),
            filter: filter.to_string(),
            mjd_mid_utc: 60_900.0,
            airmass,
            measurements: (0..n)
                .map(|i| {
                    let mag = 14.0 + 0.3 * i as f64;
                    StandardMeasurement {
                        catalogue_mag: mag,
                        instrumental_mag: mag - (25.0 - 0.07 * airmass),
                        mag_err: 0.01,
                        airmass,
                    }
                })
                .collect(),
            shared_err_mag: 0.0,
            n_candidates: n,
            // A field of fewer than 5 stars refined by a shift alone (as a label here).
            wcs_model: if n < 5 {
                WcsModel::Shift
            } else {
                WcsModel::Similarity
            },
        }
    }

    fn row(filter: &str, airmass: f64, method: &str) -> CometPhotometry {
        CometPhotometry {
            file: "sci.fits".into(),
            mjd_mid_utc: 60_900.1,
            filter: filter.into(),
            exptime_s: 30.0,
            airmass,
            x: 0.0,
            y: 0.0,
            ra_deg: 0.0,
            dec_deg: 0.0,
            rh_au: 3.0,
            delta_au: 2.5,
            phase_deg: 10.0,
            radius_km: 10_000.0,
            radius_arcsec: 5.5,
            net_e: 1.0e5,
            net_err_e: 1.0e3,
            mag_inst: -2.5 * (1.0e5f64 / 30.0).log10(),
            zp: f64::NAN,
            zp_err: f64::NAN,
            zp_method: method.into(),
            n_stars: 0,
            mag: f64::NAN,
            mag_err: f64::NAN,
            flags: 0,
        }
    }

    #[test]
    fn one_fit_per_filter_and_a_reason_where_there_is_none() {
        let frames = vec![
            frame("R", 1.1, 5),
            frame("R", 1.5, 5),
            frame("R", 2.0, 5),
            frame("V", 1.3, 1),
            frame("V", 1.9, 1),
            frame("B", 1.2, 4),
            frame("B", 1.25, 4),
        ];
        let fits = fit_night_extinction(&frames);
        let filters: Vec<&str> = fits.iter().map(|f| f.filter.as_str()).collect();
        assert_eq!(filters, ["B", "R", "V"]);
        let r = fits[1].result.as_ref().unwrap();
        assert!((r.k_mag_per_airmass - 0.07).abs() < 1e-9);
        assert!((r.zp_mag - 25.0).abs() < 1e-9);
        assert_eq!((r.n_stars, fits[1].n_frames), (15, 3));
        assert_eq!(
            fits[2].result,
            Err(ZeroPointError::TooFewStars {
                found: 2,
                needed: 3
            })
        );
        assert!(matches!(
            fits[0].result,
            Err(ZeroPointError::NoAirmassRange(_))
        ));
        let csv = extinction_csv(&fits);
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines.len(), 4);
        assert_eq!(lines[0], EXTINCTION_COLUMNS);
        let columns = EXTINCTION_COLUMNS.split(',').count();
        assert!(
            lines.iter().all(|l| l.split(',').count() == columns),
            "{csv}"
        );
        assert!(lines[1].starts_with("B,,,,,,8,2,,,,the standard-star airmasses span"));
        assert!(lines[2].starts_with("R,25.0"), "{}", lines[2]);
        assert!(describe(&fits[2]).contains("2 stars for a fit that needs at least 3"));
        let table = standard_frames_csv(&frames, &fits);
        let rows: Vec<&str> = table.lines().collect();
        assert_eq!(rows.len(), 8);
        assert_eq!(rows[0], STANDARD_FRAME_COLUMNS);
        // An R frame: 5 stars, zp = 25 − 0.07 × 1.1, residual 0 from the R fit.
        let r = rows[1].split(',').collect::<Vec<_>>();
        assert_eq!((r[1], r[4], r[5]), ("R", "5", "5"));
        assert!((r[6].parse::<f64>().unwrap() - 24.923).abs() < 1e-9);
        assert!(r[9].parse::<f64>().unwrap().abs() < 1e-9);
        assert_eq!(r[10], "similarity");
        // A V frame: no fit, no residual.
        let v = rows[4].split(',').collect::<Vec<_>>();
        assert_eq!((v[1], v[9], v[10]), ("V", "", "shift"));
        assert_eq!(rows[7].split(',').nth(10), Some("shift"), "{}", rows[7]);
    }

    #[test]
    fn standards_calibrate_rows_without_a_better_zero_point() {
        let fits = fit_night_extinction(&[frame("R", 1.1, 5), frame("R", 2.0, 5)]);
        let mut given = row("R", 1.4, "given");
        given.zp = 24.0;
        given.zp_err = 0.01;
        let mut rows = vec![
            row("R", 1.4, "none"),
            row("R", 1.4, "header"),
            given,
            row("R", 1.4, "catalogue"),
            row("V", 1.4, "none"),
            row("R", f64::NAN, "none"),
        ];
        assert_eq!(apply_standards(&mut rows, &fits), 2);
        for r in &rows[..2] {
            assert_eq!(r.zp_method, "standards");
            assert!((r.zp - (25.0 - 0.07 * 1.4)).abs() < 1e-9);
            assert_eq!(r.n_stars, 10);
            assert!((r.mag - (r.mag_inst + r.zp)).abs() < 1e-12);
            // 1.0857 × 1 % photometric error and the fit's error at X = 1.4.
            let inst = 2.5 / std::f64::consts::LN_10 * 0.01;
            assert!((r.mag_err - inst.hypot(r.zp_err)).abs() < 1e-12);
            assert!(r.zp_err > 0.0 && r.zp_err < 0.01);
        }
        assert_eq!((rows[2].zp, rows[2].zp_method.as_str()), (24.0, "given"));
        assert_eq!(rows[3].zp_method, "catalogue");
        assert_eq!(rows[4].zp_method, "none");
        assert_eq!(rows[5].zp_method, "none");
    }
}
