//! The broken power law: two indices joined continuously at a break distance r_b,
//!
//! y = H_b + 2.5 n_out log10(rH / r_b) for rH > r_b, H_b + 2.5 n_in log10(rH / r_b) for
//! rH ≤ r_b, with y = m − 5 log10 Δ − Φ(α) − c_f as for the single law.
//!
//! For a fixed r_b the model is linear in (H_b, n_out, n_in, shared terms), so r_b is found
//! by minimising the profile χ²(r_b): a grid in log r_b over the range that leaves at least
//! max(3, ⌈N/10⌉) points and two distinct distances on each side, refined with Brent's
//! method (argmin). The covariance of all parameters, r_b included, is (JᵀWJ)⁻¹ with J the
//! Jacobian of the model at the optimum (∂y/∂r_b = −2.5 n_side / (r_b ln 10)), plus the term of
//! a fixed phase coefficient's uncertainty as for the single law.

use argmin::core::{CostFunction, Error as ArgminError, Executor};
use argmin::solver::brent::BrentOpt;
use nalgebra::{DMatrix, DVector};
use serde::Serialize;

use super::model::{
    chi2_is_excessive, information_criteria, linear_fit, solve_extra_scatter, ExtraScatter,
    FitData, PhaseSummary,
};
use super::power::rh_span;
use super::LightcurveError;

/// Result of the broken power-law fit.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BrokenPowerLawFit {
    /// Index beyond the break (rH > r_b, farther from the Sun).
    pub n_outer: f64,
    pub n_outer_err: f64,
    /// Index inside the break (rH ≤ r_b).
    pub n_inner: f64,
    pub n_inner_err: f64,
    pub rh_break_au: f64,
    pub rh_break_err_au: f64,
    /// Reduced magnitude at the break, H_b (mag).
    pub h_break_mag: f64,
    pub h_break_err: f64,
    pub phase: PhaseSummary,
    pub chi2: f64,
    pub dof: usize,
    pub chi2_dof: f64,
    pub extra_scatter_mag: f64,
    pub n_points: usize,
    /// Points on each side of the break.
    pub n_points_outer: usize,
    pub n_points_inner: usize,
    pub rh_min_au: f64,
    pub rh_max_au: f64,
    pub aic: f64,
    pub bic: f64,
    pub n_params: usize,
    /// Linear parameters at the optimum (H_b, n_out, n_in, shared...).
    #[serde(skip)]
    pub params: Vec<f64>,
}

const NAMES: [&str; 3] = ["H_break", "n_outer", "n_inner"];
const GRID_POINTS: usize = 120;

fn columns(data: &FitData, rh_break_au: f64) -> impl Fn(usize) -> Vec<f64> + '_ {
    let log_break = rh_break_au.log10();
    move |i| {
        let x = 2.5 * (data.log10_rh[i] - log_break);
        if data.log10_rh[i] > log_break {
            vec![1.0, x, 0.0]
        } else {
            vec![1.0, 0.0, x]
        }
    }
}

/// Fewest points allowed on each side of the break: max(3, ⌈N/10⌉). A segment resting on a
/// handful of points fits their noise (or an outburst) rather than a change of activity.
pub fn min_points_per_side(n_points: usize) -> usize {
    3.max(n_points.div_ceil(10))
}

/// The allowed range of r_b: at least [`min_points_per_side`] points and two distinct rH on
/// each side.
fn break_range(data: &FitData) -> Result<(f64, f64), LightcurveError> {
    let mut rh: Vec<f64> = data.points.iter().map(|p| p.rh_au).collect();
    rh.sort_by(f64::total_cmp);
    let mut distinct = rh.clone();
    distinct.dedup();
    let k = min_points_per_side(rh.len());
    if distinct.len() < 4 || rh.len() < 2 * k {
        return Err(LightcurveError::Option(format!(
            "a broken power law needs at least 4 distinct heliocentric distances and {} points \
             ({k} on each side of the break); the selected points have {} distances and {} points",
            2 * k,
            distinct.len(),
            rh.len()
        )));
    }
    // The break lies above the k-th smallest rH and below the k-th largest, and leaves two
    // distinct distances on each side.
    let lo = rh[k - 1].max(distinct[1]);
    let hi = rh[rh.len() - k].min(distinct[distinct.len() - 2]);
    if lo >= hi {
        return Err(LightcurveError::Option(format!(
            "a broken power law needs {k} points on each side of the break, and the selected \
             points cannot be split so"
        )));
    }
    Ok((lo, hi))
}

struct Profile<'a> {
    data: &'a FitData,
    scatter: f64,
}

impl Profile<'_> {
    fn chi2(&self, log_break: f64) -> f64 {
        let rb = 10f64.powf(log_break);
        let cols = columns(self.data, rb);
        match linear_fit(self.data, &NAMES, &cols, self.scatter) {
            Ok((fit, _)) => fit.chi2,
            Err(_) => f64::INFINITY,
        }
    }
}

impl CostFunction for Profile<'_> {
    type Param = f64;
    type Output = f64;
    fn cost(&self, log_break: &f64) -> Result<f64, ArgminError> {
        Ok(self.chi2(*log_break))
    }
}

/// r_b minimising the profile χ² with errors √(σ² + s²).
fn best_break(data: &FitData, scatter: f64) -> Result<f64, LightcurveError> {
    let (lo, hi) = break_range(data)?;
    let (log_lo, log_hi) = (lo.log10(), hi.log10());
    let profile = Profile { data, scatter };
    let step = (log_hi - log_lo) / (GRID_POINTS - 1) as f64;
    let grid: Vec<f64> = (0..GRID_POINTS).map(|k| log_lo + step * k as f64).collect();
    let chi2: Vec<f64> = grid.iter().map(|&g| profile.chi2(g)).collect();
    let best = (0..GRID_POINTS)
        .min_by(|&a, &b| chi2[a].total_cmp(&chi2[b]))
        .unwrap_or(0);
    if !chi2[best].is_finite() {
        return Err(LightcurveError::Degenerate {
            names: NAMES.join(", "),
        });
    }
    let a = grid[best.saturating_sub(1)];
    let b = grid[(best + 1).min(GRID_POINTS - 1)];
    let refined = Executor::new(profile, BrentOpt::new(a, b).set_tolerance(1e-10, 1e-9))
        .configure(|state| state.max_iters(200))
        .run()
        .ok()
        .and_then(|result| {
            let state = result.state();
            state.best_param.filter(|_| state.best_cost <= chi2[best])
        });
    Ok(10f64.powf(refined.unwrap_or(grid[best])))
}

/// Fits the broken power law.
pub fn fit_broken_power_law(
    data: &FitData,
    extra_scatter: ExtraScatter,
) -> Result<BrokenPowerLawFit, LightcurveError> {
    let rb_raw = best_break(data, 0.0)?;
    let (raw, _) = linear_fit(data, &NAMES, &columns(data, rb_raw), 0.0)?;
    // One parameter more than the linear fit: r_b.
    let raw_dof = raw.dof.saturating_sub(1);
    let scatter =
        if extra_scatter == ExtraScatter::WhenSignificant && chi2_is_excessive(raw.chi2, raw_dof) {
            let chi2_at = |s: f64| -> Result<(f64, usize), LightcurveError> {
                let (fit, _) = linear_fit(data, &NAMES, &columns(data, rb_raw), s)?;
                Ok((fit.chi2, fit.dof.saturating_sub(1)))
            };
            solve_extra_scatter(&chi2_at, 0.1)?
        } else {
            0.0
        };
    let rb = if scatter > 0.0 {
        best_break(data, scatter)?
    } else {
        rb_raw
    };
    let (fit, design) = linear_fit(data, &NAMES, &columns(data, rb), scatter)?;
    // Jacobian with the r_b column appended.
    let n = data.len();
    let k = design.ncols();
    let mut jac = DMatrix::zeros(n, k + 1);
    jac.view_mut((0, 0), (n, k)).copy_from(&design);
    let log_break = rb.log10();
    for i in 0..n {
        let index = if data.log10_rh[i] > log_break {
            fit.params[1]
        } else {
            fit.params[2]
        };
        jac[(i, k)] = -2.5 * index / (rb * std::f64::consts::LN_10);
    }
    let weights = DVector::from_fn(n, |i, _| {
        1.0 / (data.sigma_mag[i].powi(2) + scatter * scatter)
    });
    let mut jtwj = DMatrix::zeros(k + 1, k + 1);
    for i in 0..n {
        let row = jac.row(i);
        jtwj += row.transpose() * row * weights[i];
    }
    let mut cov = jtwj.try_inverse().ok_or(LightcurveError::Degenerate {
        names: "H_break, n_outer, n_inner, rh_break".to_string(),
    })?;
    // A fixed linear phase coefficient's uncertainty, propagated as for the single law:
    // dθ/dβ_α = −(JᵀWJ)⁻¹ JᵀW α.
    if !data.phase_fitted() {
        let sigma_beta = data.phase_coeff_err();
        let weighted_alpha = DVector::from_fn(n, |i, _| data.points[i].phase_deg * weights[i]);
        let d = -(&cov * (jac.transpose() * weighted_alpha));
        cov += &d * d.transpose() * sigma_beta * sigma_beta;
    }
    let err = |j: usize| cov[(j, j)].max(0.0).sqrt();
    let phase = if data.phase_fitted() {
        data.phase_summary(Some((fit.params[3], err(3))))
    } else {
        data.phase_summary(None)
    };
    let n_points_outer = data.log10_rh.iter().filter(|&&l| l > log_break).count();
    let n_params = k + 1;
    let (aic, bic) = information_criteria(fit.chi2, n_params, n);
    let (rh_min_au, rh_max_au) = rh_span(data);
    Ok(BrokenPowerLawFit {
        n_outer: fit.params[1],
        n_outer_err: err(1),
        n_inner: fit.params[2],
        n_inner_err: err(2),
        rh_break_au: rb,
        rh_break_err_au: err(k),
        h_break_mag: fit.params[0],
        h_break_err: err(0),
        phase,
        chi2: raw.chi2,
        dof: raw_dof,
        chi2_dof: raw.chi2 / raw_dof as f64,
        extra_scatter_mag: scatter,
        n_points: n,
        n_points_outer,
        n_points_inner: n - n_points_outer,
        rh_min_au,
        rh_max_au,
        aic,
        bic,
        n_params,
        params: fit.params.iter().copied().collect(),
    })
}

impl BrokenPowerLawFit {
    /// Model of y at point `i` of `data` (mag).
    pub fn model_y_mag(&self, data: &FitData, i: usize) -> f64 {
        let mut row = columns(data, self.rh_break_au)(i);
        row.extend(data.shared_columns(i));
        row.iter().zip(&self.params).map(|(x, p)| x * p).sum()
    }

    /// χ² of this model with errors √(σ² + s²) (for comparisons under one error model).
    pub fn chi2_with_scatter(&self, data: &FitData, scatter_mag: f64) -> f64 {
        (0..data.len())
            .map(|i| {
                let r = data.y_mag[i] - self.model_y_mag(data, i);
                r * r / (data.sigma_mag[i].powi(2) + scatter_mag.powi(2))
            })
            .sum()
    }
}

/// Parameters (n_out, n_in, r_b) of a fit without scatter or bookkeeping (bootstrap).
pub fn fit_broken_params(data: &FitData) -> Result<[f64; 3], LightcurveError> {
    let rb = best_break(data, 0.0)?;
    let (fit, _) = linear_fit(data, &NAMES, &columns(data, rb), 0.0)?;
    Ok([fit.params[1], fit.params[2], rb])
}
