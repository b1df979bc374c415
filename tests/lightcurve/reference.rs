//! The power-law fit on the real lightcurves in data/real/comet-lightcurves equals an
//! independent numpy weighted least-squares computation (scripts/lightcurve_reference.py,
//! run once; numbers in data/reference/lightcurve_fits_numpy.csv) to 1e-6.

use std::collections::HashMap;
use std::path::Path;

use cometphot::lightcurve::input::{read_lightcurve, ReadOptions};
use cometphot::lightcurve::model::{
    ColourTreatment, ExtraScatter, FitData, FitOptions, PhaseTreatment,
};
use cometphot::lightcurve::phase::PhaseLaw;
use cometphot::lightcurve::points::validate;
use cometphot::lightcurve::power::fit_power_law;

fn reference_rows() -> Vec<HashMap<String, String>> {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("data/reference/lightcurve_fits_numpy.csv"),
    )
    .unwrap();
    let mut lines = text.lines().filter(|l| !l.starts_with('#'));
    let header: Vec<String> = lines.next().unwrap().split(',').map(String::from).collect();
    lines
        .map(|l| {
            header
                .iter()
                .cloned()
                .zip(l.split(',').map(String::from))
                .collect()
        })
        .collect()
}

fn close(label: &str, ours: f64, theirs: f64, rel: f64) {
    let scale = theirs.abs().max(1e-300);
    assert!(
        (ours - theirs).abs() <= rel * scale,
        "{label}: cometphot {ours:.12e} vs numpy {theirs:.12e}"
    );
}

#[test]
fn power_law_fit_equals_numpy_on_real_lightcurves() {
    let rows = reference_rows();
    assert_eq!(rows.len(), 15);
    for row in rows {
        let file = &row["file"];
        let filter = &row["filter"];
        let kind = row["fit"].as_str();
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(file);
        let points: Vec<_> = read_lightcurve(&path, &ReadOptions::default())
            .unwrap()
            .points
            .into_iter()
            .filter(|p| &p.filter == filter)
            .collect();
        validate(&points, file).unwrap();
        let phase = match kind {
            "fixed_phase" | "fixed_phase_propagated" => PhaseTreatment::Fixed {
                law: PhaseLaw::Linear {
                    coeff_mag_per_deg: 0.04,
                },
                coeff_err_mag_per_deg: if kind == "fixed_phase" { 0.0 } else { 0.02 },
            },
            "fitted_phase" => PhaseTreatment::FitLinear,
            other => panic!("unknown fit kind {other}"),
        };
        let options = FitOptions {
            phase,
            colour: ColourTreatment::FitOffsets,
            extra_scatter: ExtraScatter::Never,
        };
        let fit = fit_power_law(
            &FitData::new(points, &options).unwrap(),
            ExtraScatter::Never,
        )
        .unwrap();
        let num = |k: &str| row[k].parse::<f64>().unwrap();
        let label = |q: &str| format!("{file} {filter} {kind} {q}");
        println!(
            "{file} {filter} {kind}: n = {:.6} ± {:.6} (numpy {:.6} ± {:.6})",
            fit.n,
            fit.n_err,
            num("n"),
            num("n_err")
        );
        assert_eq!(
            fit.n_points,
            num("n_points") as usize,
            "{}",
            label("n_points")
        );
        close(&label("n"), fit.n, num("n"), 1e-6);
        close(&label("h_mag"), fit.h_mag, num("h_mag"), 1e-6);
        close(&label("n_err"), fit.n_err, num("n_err"), 1e-6);
        close(&label("h_err"), fit.h_err, num("h_err"), 1e-6);
        close(&label("cov_h_n"), fit.cov_h_n, num("cov_h_n"), 1e-6);
        close(&label("chi2"), fit.chi2, num("chi2"), 1e-6);
        assert_eq!(fit.dof, num("dof") as usize);
        close(&label("rh_min"), fit.rh_min_au, num("rh_min_au"), 0.0);
        close(&label("rh_max"), fit.rh_max_au, num("rh_max_au"), 0.0);
        if kind == "fitted_phase" {
            close(
                &label("phase_coeff"),
                fit.phase.coeff_mag_per_deg.unwrap(),
                num("phase_coeff"),
                1e-6,
            );
            close(
                &label("phase_coeff_err"),
                fit.phase.coeff_err_mag_per_deg.unwrap(),
                num("phase_coeff_err"),
                1e-6,
            );
        } else {
            close(
                &label("dn_dbeta"),
                fit.dn_dphase_coeff.unwrap(),
                num("dn_dbeta"),
                1e-6,
            );
        }
    }
}
