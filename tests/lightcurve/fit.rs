//! The lightcurve fits on synthetic data with known truth: phase-coefficient propagation,
//! broken and robust fits, flags, bootstrap, per-night aggregation.

use cometphot::ephem::elements::builtin;
use cometphot::ephem::ephemeris::{GeometrySource, OrbitModel};
use cometphot::ephem::site::Site;
use cometphot::ephem::time::UtcInstant;
use cometphot::lightcurve::analysis::{analyse, AnalysisOptions, ModelChoice};
use cometphot::lightcurve::model::{
    ColourTreatment, ExtraScatter, FitData, FitOptions, PhaseTreatment,
};
use cometphot::lightcurve::phase::PhaseLaw;
use cometphot::lightcurve::points::LightcurvePoint;
use cometphot::lightcurve::power::fit_power_law;
use rand::{Rng, SeedableRng};
use rand_distr::StandardNormal;
use rand_pcg::Pcg64;

/// 3I/ATLAS seen from the NOT every `step_days` from 2025-07-03 to 2025-09-28 at 22 UTC.
fn geometry_3i(step_days: f64) -> Vec<(f64, f64, f64, f64)> {
    let first = UtcInstant::parse_iso("2025-07-03T22:00:00").unwrap();
    let last = UtcInstant::parse_iso("2025-09-28T22:00:00").unwrap();
    let source =
        GeometrySource::orbit(builtin("3I").unwrap(), OrbitModel::TwoBody, first, last).unwrap();
    let site = Site::parse("NOT").unwrap();
    let mut out = Vec::new();
    let mut t = first.mjd();
    while t <= last.mjd() + 1e-9 {
        let obs = source
            .observe(&site, UtcInstant::from_mjd(t).unwrap())
            .unwrap();
        out.push((t, obs.rh_au, obs.delta_au, obs.phase_deg));
        t += step_days;
    }
    out
}

/// Points following m = H + 5 log Δ + 2.5 n log rH + β α with Gaussian noise `err`.
fn synthetic(
    h: f64,
    n: &dyn Fn(f64) -> f64,
    beta: f64,
    err: f64,
    seed: u64,
    step_days: f64,
) -> Vec<LightcurvePoint> {
    let mut rng = Pcg64::seed_from_u64(seed);
    geometry_3i(step_days)
        .into_iter()
        .enumerate()
        .map(|(i, (t, rh, delta, alpha))| {
            let noise: f64 = rng.sample(StandardNormal);
            LightcurvePoint {
                row: i + 1,
                time_mjd: t,
                rh_au: rh,
                delta_au: delta,
                phase_deg: alpha,
                mag: h + 5.0 * delta.log10() + n(rh) + beta * alpha + err * noise,
                mag_err: err,
                filter: "R".into(),
            }
        })
        .collect()
}

fn fixed(beta: f64, beta_err: f64) -> FitOptions {
    FitOptions {
        phase: PhaseTreatment::Fixed {
            law: PhaseLaw::Linear {
                coeff_mag_per_deg: beta,
            },
            coeff_err_mag_per_deg: beta_err,
        },
        colour: ColourTreatment::FitOffsets,
        extra_scatter: ExtraScatter::Never,
    }
}

fn power_index(n: f64) -> impl Fn(f64) -> f64 {
    move |rh: f64| 2.5 * n * rh.log10()
}

#[test]
fn phase_coefficient_uncertainty_widens_n_err_by_the_direct_amount() {
    let points = synthetic(10.0, &power_index(3.8), 0.04, 0.03, 7, 4.0);
    let fit = |beta: f64, err: f64| {
        fit_power_law(
            &FitData::new(points.clone(), &fixed(beta, err)).unwrap(),
            ExtraScatter::Never,
        )
        .unwrap()
    };
    let without = fit(0.04, 0.0);
    let with = fit(0.04, 0.02);
    // Direct calculation: dn/dβ by refitting at β ± h (the fit is linear in β: exact).
    let h = 1e-3;
    let dn_dbeta = (fit(0.04 + h, 0.0).n - fit(0.04 - h, 0.0).n) / (2.0 * h);
    let expected = (without.n_err.powi(2) + (dn_dbeta * 0.02).powi(2)).sqrt();
    println!(
        "n_err: {:.5} with β = 0.04 ± 0, {:.5} with ± 0.02 (direct: {:.5}); dn/dβ = {:.3}",
        without.n_err, with.n_err, expected, dn_dbeta
    );
    assert!(with.n_err > without.n_err * 1.5);
    assert!((with.n_err - expected).abs() < 1e-9 * expected);
    assert!((with.dn_dphase_coeff.unwrap() - dn_dbeta).abs() < 1e-8 * dn_dbeta.abs());
    // The central values do not move.
    assert_eq!(with.n, without.n);
}

#[test]
fn fitted_phase_coefficient_recovers_the_truth() {
    let points = synthetic(10.0, &power_index(3.8), 0.04, 0.01, 11, 2.0);
    let options = FitOptions {
        phase: PhaseTreatment::FitLinear,
        ..fixed(0.0, 0.0)
    };
    let fit = fit_power_law(
        &FitData::new(points, &options).unwrap(),
        ExtraScatter::Never,
    )
    .unwrap();
    let beta = fit.phase.coeff_mag_per_deg.unwrap();
    let beta_err = fit.phase.coeff_err_mag_per_deg.unwrap();
    println!(
        "fitted: n = {:.3} ± {:.3}, β = {:.4} ± {:.4}",
        fit.n, fit.n_err, beta, beta_err
    );
    assert!((fit.n - 3.8).abs() < 3.0 * fit.n_err);
    assert!((beta - 0.04).abs() < 3.0 * beta_err);
    assert!(fit.phase.fitted);
}

#[test]
fn broken_power_law_finds_a_real_break_and_rejects_a_false_one() {
    let rb = 3.0;
    let broken = move |rh: f64| {
        let x = (rh / rb).log10();
        2.5 * rb.log10() * 3.0 + 2.5 * if rh > rb { 5.0 * x } else { 2.0 * x }
    };
    let options = AnalysisOptions {
        fit: fixed(0.04, 0.0),
        model: ModelChoice::Both,
        ..AnalysisOptions::default()
    };
    let points = synthetic(10.0, &broken, 0.04, 0.02, 3, 1.0);
    let result = analyse(&points, &options).unwrap();
    let b = result.broken.as_ref().unwrap();
    let c = result.comparison.as_ref().unwrap();
    println!(
        "break: n_out = {:.3} ± {:.3}, n_in = {:.3} ± {:.3}, rb = {:.3} ± {:.3} au, ΔBIC = {:.1}",
        b.n_outer,
        b.n_outer_err,
        b.n_inner,
        b.n_inner_err,
        b.rh_break_au,
        b.rh_break_err_au,
        c.delta_bic
    );
    assert!((b.n_outer - 5.0).abs() < 3.0 * b.n_outer_err);
    assert!((b.n_inner - 2.0).abs() < 3.0 * b.n_inner_err);
    assert!((b.rh_break_au - rb).abs() < 3.0 * b.rh_break_err_au);
    assert!(c.break_warranted);

    let single = synthetic(10.0, &power_index(3.8), 0.04, 0.02, 4, 1.0);
    let result = analyse(&single, &options).unwrap();
    let c = result.comparison.as_ref().unwrap();
    println!("no break: ΔBIC = {:.1}", c.delta_bic);
    assert!(!c.break_warranted);
}

#[test]
fn outbursts_are_flagged_and_the_robust_fit_resists_them() {
    let mut points = synthetic(10.0, &power_index(3.8), 0.04, 0.02, 5, 2.0);
    for k in [2, 3, 5, 8] {
        points[k].mag -= 0.8;
    }
    let options = AnalysisOptions {
        fit: FitOptions {
            extra_scatter: ExtraScatter::WhenSignificant,
            ..fixed(0.04, 0.0)
        },
        robust: true,
        ..AnalysisOptions::default()
    };
    let result = analyse(&points, &options).unwrap();
    let power = result.power.as_ref().unwrap();
    let robust = result.robust.as_ref().unwrap();
    println!(
        "least squares n = {:.3} ± {:.3} (scatter {:.3}); Huber n = {:.3} ± {:.3}",
        power.n, power.n_err, power.extra_scatter_mag, robust.n, robust.n_err
    );
    assert!((robust.n - 3.8).abs() < 3.0 * robust.n_err);
    assert!((robust.n - 3.8).abs() < (power.n - 3.8).abs());
    assert!(robust.n_downweighted >= 4);
    let flagged: Vec<usize> = result
        .points
        .iter()
        .filter(|p| p.flag == "outburst")
        .map(|p| p.point.row - 1)
        .collect();
    assert_eq!(flagged, vec![2, 3, 5, 8]);
    // The poor fit had a scatter added in quadrature.
    assert!(power.extra_scatter_mag > 0.0);
}

#[test]
fn bootstrap_interval_agrees_with_the_formal_error() {
    let points = synthetic(10.0, &power_index(3.8), 0.04, 0.03, 9, 1.0);
    let options = AnalysisOptions {
        fit: fixed(0.04, 0.0),
        bootstrap_replicates: 2000,
        ..AnalysisOptions::default()
    };
    let result = analyse(&points, &options).unwrap();
    let power = result.power.as_ref().unwrap();
    let n = result
        .bootstrap
        .iter()
        .find(|b| b.parameter == "n")
        .unwrap();
    let half_width = 0.5 * (n.hi_68 - n.lo_68);
    println!(
        "n = {:.3} ± {:.3}; bootstrap 68 %: [{:.3}, {:.3}] (half-width {:.3}), {} replicates",
        power.n, power.n_err, n.lo_68, n.hi_68, half_width, n.replicates
    );
    assert!(n.lo_68 < power.n && power.n < n.hi_68);
    assert!((half_width / power.n_err - 1.0).abs() < 0.2);
    assert_eq!(n.replicates, 2000);
}

#[test]
fn filter_offsets_are_fitted() {
    let mut points = synthetic(10.0, &power_index(3.8), 0.04, 0.02, 12, 1.0);
    for p in points.iter_mut().skip(1).step_by(3) {
        p.filter = "V".into();
        p.mag += 0.45;
    }
    let fit = fit_power_law(
        &FitData::new(points, &fixed(0.04, 0.0)).unwrap(),
        ExtraScatter::Never,
    )
    .unwrap();
    let offset = &fit.filter_offsets[0];
    println!(
        "V − R = {:.4} ± {:.4}, n = {:.3} ± {:.3}",
        offset.offset_mag, offset.offset_err_mag, fit.n, fit.n_err
    );
    assert_eq!(fit.reference_filter, "R");
    assert_eq!(offset.filter, "V");
    assert!((offset.offset_mag - 0.45).abs() < 3.0 * offset.offset_err_mag);
    assert!((fit.n - 3.8).abs() < 3.0 * fit.n_err);
}

#[test]
fn given_colour_offsets_are_applied() {
    let mut points = synthetic(10.0, &power_index(3.8), 0.04, 0.02, 13, 1.0);
    for p in points.iter_mut().skip(1).step_by(2) {
        p.filter = "V".into();
        p.mag += 0.45;
    }
    let given = FitOptions {
        colour: ColourTreatment::Given([("V".to_string(), 0.45)].into_iter().collect()),
        ..fixed(0.04, 0.0)
    };
    let fit = fit_power_law(
        &FitData::new(points.clone(), &given).unwrap(),
        ExtraScatter::Never,
    )
    .unwrap();
    // The same as one filter with the offset removed by hand.
    for p in points.iter_mut().filter(|p| p.filter == "V") {
        p.mag -= 0.45;
        p.filter = "R".into();
    }
    let single = fit_power_law(
        &FitData::new(points, &fixed(0.04, 0.0)).unwrap(),
        ExtraScatter::Never,
    )
    .unwrap();
    assert!((fit.n - single.n).abs() < 1e-12);
    assert!((fit.n_err - single.n_err).abs() < 1e-12);
    assert!(!fit.filter_offsets[0].fitted);

    let missing = FitOptions {
        colour: ColourTreatment::Given(Default::default()),
        ..fixed(0.04, 0.0)
    };
    let mut two = synthetic(10.0, &power_index(3.8), 0.04, 0.02, 13, 10.0);
    two[0].filter = "g".into();
    let err = FitData::new(two, &missing).unwrap_err().to_string();
    assert!(
        err.contains("no colour offset given for filter 'g'"),
        "{err}"
    );
}

#[test]
fn parquet_and_csv_tables_give_the_same_points() {
    use cometphot::lightcurve::input::{read_lightcurve, ReadOptions};
    use polars::prelude::*;
    let csv = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("data/real/comet-lightcurves/46P_ZTF.csv");
    let from_csv = read_lightcurve(&csv, &ReadOptions::default())
        .unwrap()
        .points;
    let dir = tempfile::tempdir().unwrap();
    let parquet = dir.path().join("46P.parquet");
    let mut df = DataFrame::new_infer_height(vec![
        Column::new(
            "mjd".into(),
            from_csv.iter().map(|p| p.time_mjd).collect::<Vec<_>>(),
        ),
        Column::new(
            "rh".into(),
            from_csv.iter().map(|p| p.rh_au).collect::<Vec<_>>(),
        ),
        Column::new(
            "delta".into(),
            from_csv.iter().map(|p| p.delta_au).collect::<Vec<_>>(),
        ),
        Column::new(
            "alpha".into(),
            from_csv.iter().map(|p| p.phase_deg).collect::<Vec<_>>(),
        ),
        Column::new(
            "mag".into(),
            from_csv.iter().map(|p| p.mag).collect::<Vec<_>>(),
        ),
        Column::new(
            "mag_err".into(),
            from_csv.iter().map(|p| p.mag_err).collect::<Vec<_>>(),
        ),
        Column::new(
            "filter".into(),
            from_csv
                .iter()
                .map(|p| p.filter.clone())
                .collect::<Vec<_>>(),
        ),
    ])
    .unwrap();
    cometphot::table::write_table(&mut df, &parquet).unwrap();
    let from_parquet = read_lightcurve(&parquet, &ReadOptions::default())
        .unwrap()
        .points;
    assert_eq!(from_csv.len(), 330);
    assert_eq!(from_csv, from_parquet);
}
