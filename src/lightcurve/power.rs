//! The single power law: m − 5 log10 Δ − Φ(α) = H + 2.5 n log10 rH (DESIGN §4), by weighted
//! least squares with the full covariance.
//!
//! Errors: the statistical covariance (XᵀWX)⁻¹; plus, for a fixed linear phase coefficient
//! β_α ± σ_β, the term (dθ/dβ)(dθ/dβ)ᵀ σ_β² (the estimates are linear in β_α, so this is
//! exact); plus, when the fit is poor (χ² significantly above dof), a scatter added in
//! quadrature to every point's error so that χ²/dof = 1 ([`ExtraScatter`]).

use nalgebra::DMatrix;
use serde::Serialize;

use super::model::{
    chi2_is_excessive, dparams_dphase_coeff, information_criteria, linear_fit, solve_extra_scatter,
    ExtraScatter, FilterOffset, FitData, PhaseSummary,
};
use super::wls::LinearFit;
use super::LightcurveError;

/// Result of the single power-law fit. Magnitudes refer to the reference filter.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PowerLawFit {
    /// Absolute magnitude H (rH = Δ = 1 au, α = 0) and its 1σ error.
    pub h_mag: f64,
    pub h_err: f64,
    /// Power-law index n (brightness ∝ rH^−n at fixed Δ, α) and its 1σ error (all terms).
    pub n: f64,
    pub n_err: f64,
    /// Covariance of H and n (mag · 1).
    pub cov_h_n: f64,
    /// Error of n from the photometry alone (no phase-coefficient term).
    pub n_err_statistical: f64,
    /// dn/dβ_α for a fixed linear law (per mag/deg).
    pub dn_dphase_coeff: Option<f64>,
    pub phase: PhaseSummary,
    pub reference_filter: String,
    pub filter_offsets: Vec<FilterOffset>,
    /// χ² and χ²/dof with the errors as given.
    pub chi2: f64,
    pub dof: usize,
    pub chi2_dof: f64,
    /// Scatter added in quadrature to every error (mag); 0 when none was needed.
    pub extra_scatter_mag: f64,
    pub n_points: usize,
    pub rh_min_au: f64,
    pub rh_max_au: f64,
    /// Information criteria (with the final errors) for comparison with other models.
    pub aic: f64,
    pub bic: f64,
    /// Number of free parameters.
    pub n_params: usize,
    #[serde(skip)]
    pub params: Vec<f64>,
    #[serde(skip)]
    pub covariance: DMatrix<f64>,
}

const NAMES: [&str; 2] = ["H", "n"];

fn columns(data: &FitData) -> impl Fn(usize) -> Vec<f64> + '_ {
    move |i| vec![1.0, 2.5 * data.log10_rh[i]]
}

/// Fits H, n (and β_α, filter offsets when fitted).
pub fn fit_power_law(
    data: &FitData,
    extra_scatter: ExtraScatter,
) -> Result<PowerLawFit, LightcurveError> {
    let cols = columns(data);
    let (raw, _) = linear_fit(data, &NAMES, &cols, 0.0)?;
    let scatter =
        if extra_scatter == ExtraScatter::WhenSignificant && chi2_is_excessive(raw.chi2, raw.dof) {
            let chi2_at = |s: f64| -> Result<(f64, usize), LightcurveError> {
                let (fit, _) = linear_fit(data, &NAMES, &cols, s)?;
                Ok((fit.chi2, fit.dof))
            };
            let rms = residual_rms(data, &raw);
            solve_extra_scatter(&chi2_at, rms)?
        } else {
            0.0
        };
    let (fit, design) = linear_fit(data, &NAMES, &cols, scatter)?;
    Ok(summarise(data, &raw, fit, &design, scatter))
}

/// Fit without the extra-scatter and bookkeeping work (bootstrap replicates).
pub fn fit_power_law_params(data: &FitData) -> Result<Vec<f64>, LightcurveError> {
    let cols = columns(data);
    let (fit, _) = linear_fit(data, &NAMES, &cols, 0.0)?;
    Ok(fit.params.iter().copied().collect())
}

fn residual_rms(data: &FitData, fit: &LinearFit) -> f64 {
    let n = data.len() as f64;
    let sum: f64 = (0..data.len())
        .map(|i| {
            let model = fit.params[0] + fit.params[1] * 2.5 * data.log10_rh[i];
            (data.y_mag[i] - model).powi(2)
        })
        .sum();
    (sum / n).sqrt()
}

fn summarise(
    data: &FitData,
    raw: &LinearFit,
    fit: LinearFit,
    design: &DMatrix<f64>,
    scatter: f64,
) -> PowerLawFit {
    let mut cov = fit.covariance.clone();
    let n_err_statistical = fit.error(1);
    let sigma_beta = data.phase_coeff_err();
    let dtheta = if data.phase_fitted() {
        None
    } else {
        Some(dparams_dphase_coeff(data, &fit, design, scatter))
    };
    if let Some(d) = &dtheta {
        cov += d * d.transpose() * sigma_beta * sigma_beta;
    }
    let err = |j: usize| cov[(j, j)].max(0.0).sqrt();
    let mut next = 2;
    let phase = if data.phase_fitted() {
        let s = data.phase_summary(Some((fit.params[next], err(next))));
        next += 1;
        s
    } else {
        data.phase_summary(None)
    };
    let mut filter_offsets = Vec::new();
    for f in &data.offset_filters {
        filter_offsets.push(FilterOffset {
            filter: f.clone(),
            offset_mag: fit.params[next],
            offset_err_mag: err(next),
            fitted: true,
            n_points: data.points.iter().filter(|p| &p.filter == f).count(),
        });
        next += 1;
    }
    for (f, v) in &data.given_offsets {
        filter_offsets.push(FilterOffset {
            filter: f.clone(),
            offset_mag: *v,
            offset_err_mag: 0.0,
            fitted: false,
            n_points: data.points.iter().filter(|p| &p.filter == f).count(),
        });
    }
    let n_params = fit.params.len();
    let (aic, bic) = information_criteria(fit.chi2, n_params, data.len());
    let (rh_min_au, rh_max_au) = rh_span(data);
    PowerLawFit {
        h_mag: fit.params[0],
        h_err: err(0),
        n: fit.params[1],
        n_err: err(1),
        cov_h_n: cov[(0, 1)],
        n_err_statistical,
        dn_dphase_coeff: dtheta.as_ref().map(|d| d[1]),
        phase,
        reference_filter: data.reference_filter.clone(),
        filter_offsets,
        chi2: raw.chi2,
        dof: raw.dof,
        chi2_dof: raw.chi2 / raw.dof as f64,
        extra_scatter_mag: scatter,
        n_points: data.len(),
        rh_min_au,
        rh_max_au,
        aic,
        bic,
        n_params,
        params: fit.params.iter().copied().collect(),
        covariance: cov,
    }
}

/// Smallest and largest rH of the fitted points (au).
pub fn rh_span(data: &FitData) -> (f64, f64) {
    data.points
        .iter()
        .fold((f64::INFINITY, 0.0_f64), |(lo, hi), p| {
            (lo.min(p.rh_au), hi.max(p.rh_au))
        })
}

impl PowerLawFit {
    /// Model of y = m − 5 log10 Δ − Φ(α) − c_f at point `i` of `data` (mag): H + 2.5 n log10 rH
    /// plus the fitted phase and offset terms.
    pub fn model_y_mag(&self, data: &FitData, i: usize) -> f64 {
        let mut row = vec![1.0, 2.5 * data.log10_rh[i]];
        row.extend(data.shared_columns(i));
        row.iter().zip(&self.params).map(|(x, p)| x * p).sum()
    }

    /// Error of the model at point `i` from the parameter covariance (mag).
    pub fn model_err_mag(&self, data: &FitData, i: usize) -> f64 {
        let mut row = vec![1.0, 2.5 * data.log10_rh[i]];
        row.extend(data.shared_columns(i));
        let x = nalgebra::DVector::from_vec(row);
        (x.transpose() * &self.covariance * &x)[(0, 0)]
            .max(0.0)
            .sqrt()
    }
}
