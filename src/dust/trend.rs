//! Trends with heliocentric distance: power-law index of C_e or dM/dt vs rH, the value
//! interpolated at a chosen rH (default 2 au), and the index expected from the lightcurve's n.
//!
//! **Fit.** value = V₁ rH^k is fitted as a straight line in log–log space by weighted least
//! squares: y = ln value = ln V₁ + k ln rH with σ_y = σ_value / value (first order). With weights
//! w = 1/σ_y², S = Σw, Sx = Σw x, Sxx = Σw x², det = S Sxx − Sx²:
//! var(ln V₁) = Sxx/det, var(k) = S/det, cov = −Sx/det. The value at rH₀ is
//! exp(ln V₁ + k x₀), x₀ = ln rH₀, with σ_ln² = var(ln V₁) + x₀² var(k) + 2 x₀ cov
//! (a log-normal median; its error is value × σ_ln). Errors are formal (from the point errors);
//! [`PowerLawFit::with_errors_scaled_by_chi2`] inflates them by √(χ²/dof) when the scatter
//! exceeds the errors.
//!
//! **Expected index.** The lightcurve fits m − 5 log10 Δ − Φ(α) = H₁ + 2.5 n log10 rH, so
//! H = m − 5 log10(rH Δ) − Φ(α) = H₁ + 2.5 (n − 2) log10 rH and, since C_e ∝ 10^(−0.4 H),
//! C_e ∝ rH^(2 − n) whatever the aperture (an identity for the same magnitudes).
//! dM/dt ∝ C_e / ℓ:
//! * fixed linear aperture (ℓ constant): dM/dt ∝ rH^(2 − n) (n = 3.8 → −1.8, as Jewitt & Luu
//!   2025);
//! * fixed angular aperture (ℓ = θ Δ): dM/dt ∝ rH^(2 − n) / Δ. Δ is not a power of rH, so the
//!   trend is a power law only approximately: with s = d ln Δ / d ln rH over the campaign
//!   ([`log_slope`]), dM/dt ∝ rH^(2 − n − s). For a steady-state 1/ρ coma C_e ∝ ℓ, so dM/dt
//!   measures the production itself and n + s, not n, is then the coma's intrinsic index.
//!
//! **Phase-coefficient error.** σ_β shifts every H by α_i σ_β, the same sign at every epoch:
//! a correlated error, so it is not added to the point errors. Because the fit is linear in y
//! and σ_y does not depend on β_α, its effect is exact: the index moves by σ_β times the WLS
//! slope of u_i = 0.4 ln 10 α_i against ln rH_i ([`DustTrend::index_err_phase`]).

use super::assumptions::{ApertureKind, DustAssumptions};
use super::production::{dust_epoch, EpochPhotometry};
use super::{positive, DustError, MAG_TO_LN};

/// Default rH at which trends are interpolated (au).
pub const DEFAULT_INTERPOLATION_RH_AU: f64 = 2.0;

/// One point of a trend: a positive value and its 1σ error at rH.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrendPoint {
    pub rh_au: f64,
    pub value: f64,
    pub value_err: f64,
}

/// A straight line y = a + k x fitted by weighted least squares.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Line {
    intercept: f64,
    slope: f64,
    /// [[var a, cov], [cov, var k]].
    covariance: [[f64; 2]; 2],
}

fn weighted_line(x: &[f64], y: &[f64], w: &[f64]) -> Result<Line, DustError> {
    let (mut s, mut sx, mut sxx, mut sy, mut sxy) = (0.0, 0.0, 0.0, 0.0, 0.0);
    // Centre x for conditioning; transform back at the end.
    let x_mean = x.iter().zip(w).map(|(x, w)| x * w).sum::<f64>() / w.iter().sum::<f64>();
    for ((&xi, &yi), &wi) in x.iter().zip(y).zip(w) {
        let xc = xi - x_mean;
        s += wi;
        sx += wi * xc;
        sxx += wi * xc * xc;
        sy += wi * yi;
        sxy += wi * xc * yi;
    }
    let det = s * sxx - sx * sx;
    if !(det.is_finite() && det > 0.0) || sxx <= 1e-300 {
        return Err(DustError::DegenerateFit);
    }
    let slope = (s * sxy - sx * sy) / det;
    let intercept_c = (sxx * sy - sx * sxy) / det;
    let var_k = s / det;
    let var_ac = sxx / det;
    let cov_c = -sx / det;
    // a = a_c − k x̄: var a = var a_c + x̄² var k − 2 x̄ cov_c; cov(a, k) = cov_c − x̄ var k.
    Ok(Line {
        intercept: intercept_c - slope * x_mean,
        slope,
        covariance: [
            [
                var_ac + x_mean * x_mean * var_k - 2.0 * x_mean * cov_c,
                cov_c - x_mean * var_k,
            ],
            [cov_c - x_mean * var_k, var_k],
        ],
    })
}

/// A power law value = V₁ rH^index fitted in log–log space.
#[derive(Debug, Clone, PartialEq)]
pub struct PowerLawFit {
    pub index: f64,
    pub index_err: f64,
    /// ln V₁, the natural log of the value at rH = 1 au.
    pub ln_value_at_1au: f64,
    /// Covariance of (ln V₁, index).
    pub covariance: [[f64; 2]; 2],
    pub chi2: f64,
    pub dof: usize,
    pub n_points: usize,
    pub rh_min_au: f64,
    pub rh_max_au: f64,
}

/// A value read off a fitted power law.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Interpolated {
    pub rh_au: f64,
    pub value: f64,
    pub value_err: f64,
    /// True when rH lies outside the range of the fitted points.
    pub extrapolated: bool,
}

impl PowerLawFit {
    /// χ² / dof, when dof > 0.
    pub fn reduced_chi2(&self) -> Option<f64> {
        (self.dof > 0).then(|| self.chi2 / self.dof as f64)
    }

    /// The fitted value and its error at `rh_au`, from the covariance of (ln V₁, index).
    pub fn value_at(&self, rh_au: f64) -> Result<Interpolated, DustError> {
        positive("rh_au", rh_au)?;
        let x0 = rh_au.ln();
        let ln_value = self.ln_value_at_1au + self.index * x0;
        let [[var_a, cov], [_, var_k]] = self.covariance;
        let var_ln = (var_a + x0 * x0 * var_k + 2.0 * x0 * cov).max(0.0);
        let value = ln_value.exp();
        Ok(Interpolated {
            rh_au,
            value,
            value_err: value * var_ln.sqrt(),
            extrapolated: rh_au < self.rh_min_au || rh_au > self.rh_max_au,
        })
    }

    /// The same fit with the covariance multiplied by max(1, χ²/dof).
    pub fn with_errors_scaled_by_chi2(&self) -> PowerLawFit {
        let factor = self.reduced_chi2().unwrap_or(1.0).max(1.0);
        let mut scaled = self.clone();
        for row in scaled.covariance.iter_mut() {
            for c in row.iter_mut() {
                *c *= factor;
            }
        }
        scaled.index_err = self.index_err * factor.sqrt();
        scaled
    }
}

/// Points in log–log space: x = ln rH, y = ln value, w = 1/σ_y².
struct LogPoints {
    x: Vec<f64>,
    y: Vec<f64>,
    w: Vec<f64>,
}

fn checked_points(points: &[TrendPoint]) -> Result<LogPoints, DustError> {
    let mut x = Vec::with_capacity(points.len());
    let mut y = Vec::with_capacity(points.len());
    let mut w = Vec::with_capacity(points.len());
    for p in points {
        positive("rh_au", p.rh_au)?;
        positive("value", p.value)?;
        positive("value_err", p.value_err)?;
        let sigma_ln = p.value_err / p.value;
        x.push(p.rh_au.ln());
        y.push(p.value.ln());
        w.push(1.0 / (sigma_ln * sigma_ln));
    }
    if points.len() < 2 {
        return Err(DustError::TooFewPoints {
            needed: 2,
            got: points.len(),
        });
    }
    Ok(LogPoints { x, y, w })
}

/// Fits value = V₁ rH^index by weighted least squares in log–log space (module notes). Needs
/// at least two points at different rH, all values and errors positive.
pub fn fit_power_law(points: &[TrendPoint]) -> Result<PowerLawFit, DustError> {
    let LogPoints { x, y, w } = checked_points(points)?;
    let line = weighted_line(&x, &y, &w)?;
    let chi2 = x
        .iter()
        .zip(&y)
        .zip(&w)
        .map(|((xi, yi), wi)| {
            let r = yi - line.intercept - line.slope * xi;
            wi * r * r
        })
        .sum();
    Ok(PowerLawFit {
        index: line.slope,
        index_err: line.covariance[1][1].sqrt(),
        ln_value_at_1au: line.intercept,
        covariance: line.covariance,
        chi2,
        dof: points.len() - 2,
        n_points: points.len(),
        rh_min_au: points.iter().map(|p| p.rh_au).fold(f64::INFINITY, f64::min),
        rh_max_au: points.iter().map(|p| p.rh_au).fold(0.0, f64::max),
    })
}

/// A log–log slope d ln y / d ln x (unweighted least squares) with the rms of the residuals
/// in ln y, which says how far y is from a power law of x.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LogSlope {
    pub slope: f64,
    pub rms_residual_ln: f64,
}

/// s = d ln Δ / d ln rH over a campaign (pairs (rH, Δ) in au), for the fixed-angular-aperture
/// relation index = 2 − n − s.
pub fn log_slope(pairs_au: &[(f64, f64)]) -> Result<LogSlope, DustError> {
    if pairs_au.len() < 2 {
        return Err(DustError::TooFewPoints {
            needed: 2,
            got: pairs_au.len(),
        });
    }
    let mut x = Vec::with_capacity(pairs_au.len());
    let mut y = Vec::with_capacity(pairs_au.len());
    for &(rh_au, delta_au) in pairs_au {
        x.push(positive("rh_au", rh_au)?.ln());
        y.push(positive("delta_au", delta_au)?.ln());
    }
    let w = vec![1.0; x.len()];
    let line = weighted_line(&x, &y, &w)?;
    let ss: f64 = x
        .iter()
        .zip(&y)
        .map(|(xi, yi)| (yi - line.intercept - line.slope * xi).powi(2))
        .sum();
    Ok(LogSlope {
        slope: line.slope,
        rms_residual_ln: (ss / x.len() as f64).sqrt(),
    })
}

/// The indices of C_e and dM/dt vs rH implied by the lightcurve's n (module notes).
#[derive(Debug, Clone, PartialEq)]
pub struct ExpectedIndex {
    pub cross_section_index: f64,
    pub production_index: f64,
    /// Error of both, from σ_n.
    pub index_err: f64,
    /// Is the production trend a pure power law of rH in this model?
    pub exact_power_law: bool,
    /// What the relation is and what it assumes, for summaries.
    pub note: String,
}

/// Expected indices from n ± σ_n. For a fixed angular aperture `delta_slope` (s = d ln Δ /
/// d ln rH from [`log_slope`]) is required; it is ignored for a fixed linear aperture.
pub fn expected_indices(
    n: f64,
    n_err: f64,
    aperture: ApertureKind,
    delta_slope: Option<LogSlope>,
) -> Result<ExpectedIndex, DustError> {
    super::finite("n", n)?;
    super::non_negative("n_err", n_err)?;
    let cross_section_index = 2.0 - n;
    match aperture {
        ApertureKind::FixedLinear => Ok(ExpectedIndex {
            cross_section_index,
            production_index: cross_section_index,
            index_err: n_err,
            exact_power_law: true,
            note: format!(
                "fixed linear aperture: C_e and dM/dt ∝ rH^(2 − n) = rH^({cross_section_index:.2} ± {n_err:.2})"
            ),
        }),
        ApertureKind::FixedAngular => {
            let s = delta_slope.ok_or(DustError::Missing(
                "the slope d ln Δ / d ln rH of the campaign (fixed angular aperture)",
            ))?;
            let production_index = cross_section_index - s.slope;
            Ok(ExpectedIndex {
                cross_section_index,
                production_index,
                index_err: n_err,
                exact_power_law: s.rms_residual_ln < 1e-3,
                note: format!(
                    "fixed angular aperture: ℓ ∝ Δ, so dM/dt ∝ rH^(2 − n)/Δ ≈ rH^(2 − n − s) with \
                     s = d ln Δ/d ln rH = {:.3} (Δ departs from a power law of rH by {:.3} rms in \
                     ln Δ): dM/dt index {production_index:.2} ± {n_err:.2}, not 2 − n = \
                     {cross_section_index:.2}; C_e ∝ rH^(2 − n) still (same magnitudes), and n + s \
                     is the coma's intrinsic index",
                    s.slope, s.rms_residual_ln
                ),
            })
        }
    }
}

/// A measured index compared with an expected one.
#[derive(Debug, Clone, PartialEq)]
pub struct IndexCheck {
    pub measured: f64,
    pub measured_err: f64,
    pub expected: f64,
    pub expected_err: f64,
    /// |measured − expected| / √(σ_m² + σ_e²) (a conservative combination: both usually come
    /// from the same photometry and are positively correlated).
    pub difference_sigma: f64,
    /// True when the difference is within 2σ.
    pub consistent: bool,
    pub message: String,
}

/// Compares a fitted index with the expectation and says whether they agree (within 2σ).
pub fn check_index(fit: &PowerLawFit, expected: &ExpectedIndex, production: bool) -> IndexCheck {
    let expected_index = if production {
        expected.production_index
    } else {
        expected.cross_section_index
    };
    let sigma = fit.index_err.hypot(expected.index_err);
    let difference = fit.index - expected_index;
    let difference_sigma = if sigma > 0.0 {
        difference.abs() / sigma
    } else if difference == 0.0 {
        0.0
    } else {
        f64::INFINITY
    };
    let consistent = difference_sigma <= 2.0;
    let what = if production { "dM/dt" } else { "C_e" };
    let message = format!(
        "{what} index {:.2} ± {:.2} vs expected {expected_index:.2} ± {:.2} ({}): {}",
        fit.index,
        fit.index_err,
        expected.index_err,
        expected.note,
        if consistent {
            format!("consistent ({difference_sigma:.1}σ)")
        } else {
            format!("NOT consistent ({difference_sigma:.1}σ)")
        }
    );
    IndexCheck {
        measured: fit.index,
        measured_err: fit.index_err,
        expected: expected_index,
        expected_err: expected.index_err,
        difference_sigma,
        consistent,
        message,
    }
}

/// Which dust quantity a trend is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrendQuantity {
    CrossSection,
    Production,
}

/// A dust trend from per-epoch photometry, with the assumptions it depends on.
#[derive(Debug, Clone, PartialEq)]
pub struct DustTrend {
    pub quantity: TrendQuantity,
    /// Fit with photometric errors only.
    pub fit: PowerLawFit,
    /// Systematic error of the index from σ_β of the phase law (module notes).
    pub index_err_phase: f64,
    /// The value at the requested rH (photometric error).
    pub at: Interpolated,
    /// Systematic error of that value from σ_β, to first order: value × |Δ ln value| for a
    /// shift of β_α by σ_β.
    pub at_err_phase: f64,
    /// `DustAssumptions::describe()` of the assumptions used.
    pub assumptions: String,
}

impl DustTrend {
    /// √(statistical² + phase systematic²) for the index.
    pub fn index_err_total(&self) -> f64 {
        self.fit.index_err.hypot(self.index_err_phase)
    }
}

/// Per-epoch C_e or dM/dt under `assumptions`, fitted against rH, and read at `at_rh_au`.
pub fn dust_trend(
    photometry: &[EpochPhotometry],
    assumptions: &DustAssumptions,
    quantity: TrendQuantity,
    at_rh_au: f64,
) -> Result<DustTrend, DustError> {
    let mut points = Vec::with_capacity(photometry.len());
    let mut phase_shift = Vec::with_capacity(photometry.len());
    for epoch in photometry {
        let d = dust_epoch(epoch, assumptions)?;
        let (value, value_err) = match quantity {
            TrendQuantity::CrossSection => (d.cross_section_km2, d.cross_section_err_phot_km2),
            TrendQuantity::Production => (d.production_kg_s, d.production_err_phot_kg_s),
        };
        points.push(TrendPoint {
            rh_au: d.rh_au,
            value,
            value_err,
        });
        phase_shift.push(MAG_TO_LN * d.phase_deg);
    }
    let fit = fit_power_law(&points)?;
    let at = fit.value_at(at_rh_au)?;
    let sigma_beta = assumptions.phase_law.sigma_beta();
    let (index_err_phase, at_err_phase) = if sigma_beta > 0.0 {
        let LogPoints { x, w, .. } = checked_points(&points)?;
        let response = weighted_line(&x, &phase_shift, &w)?;
        let ln_shift = response.intercept + response.slope * at_rh_au.ln();
        (
            sigma_beta * response.slope.abs(),
            at.value * sigma_beta * ln_shift.abs(),
        )
    } else {
        (0.0, 0.0)
    };
    Ok(DustTrend {
        quantity,
        fit,
        index_err_phase,
        at,
        at_err_phase,
        assumptions: assumptions.describe(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_power_law_is_recovered() {
        let points: Vec<_> = [4.6, 4.0, 3.3, 2.7, 2.2, 1.8]
            .iter()
            .map(|&rh: &f64| TrendPoint {
                rh_au: rh,
                value: 50.0 * rh.powf(-1.8),
                value_err: 0.05 * 50.0 * rh.powf(-1.8),
            })
            .collect();
        let fit = fit_power_law(&points).unwrap();
        assert!((fit.index + 1.8).abs() < 1e-12);
        assert!(fit.chi2 < 1e-20);
        let at = fit.value_at(2.0).unwrap();
        assert!((at.value / (50.0 * 2f64.powf(-1.8)) - 1.0).abs() < 1e-12);
        assert!(!at.extrapolated);
        assert!(fit.value_at(1.0).unwrap().extrapolated);
        // A single point has no slope; identical rH values have none either.
        assert!(fit_power_law(&points[..1]).is_err());
        let same = vec![points[0], points[0]];
        assert!(matches!(
            fit_power_law(&same),
            Err(DustError::DegenerateFit)
        ));
    }

    #[test]
    fn interpolation_error_matches_covariance_by_hand() {
        // Two points: the line passes through both; its error at x0 follows from the
        // covariance. At a data point the error equals that point's relative error.
        let points = [
            TrendPoint {
                rh_au: 1.0,
                value: 10.0,
                value_err: 1.0,
            },
            TrendPoint {
                rh_au: 4.0,
                value: 1.0,
                value_err: 0.2,
            },
        ];
        let fit = fit_power_law(&points).unwrap();
        let at1 = fit.value_at(1.0).unwrap();
        assert!((at1.value_err / at1.value - 0.1).abs() < 1e-12);
        let at4 = fit.value_at(4.0).unwrap();
        assert!((at4.value_err / at4.value - 0.2).abs() < 1e-12);
        assert_eq!(fit.dof, 0);
        assert!(fit.reduced_chi2().is_none());
    }
}
