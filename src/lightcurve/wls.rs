//! Weighted linear least squares with the full covariance.
//!
//! Minimises χ² = Σ ((yᵢ − Σⱼ Xᵢⱼ θⱼ)/σᵢ)² by the singular value decomposition of the
//! whitened design matrix A = diag(1/σ) X: θ = V Σ⁻¹ Uᵀ (y/σ) and Cov(θ) = V Σ⁻² Vᵀ =
//! (XᵀWX)⁻¹ with W = diag(1/σ²) (e.g. Press et al., Numerical Recipes, §15.4). The
//! covariance is not rescaled by χ²/dof; see [`super::power`] for the extra scatter.

use nalgebra::{DMatrix, DVector};

use super::LightcurveError;

/// Result of a weighted linear fit.
#[derive(Debug, Clone, PartialEq)]
pub struct LinearFit {
    pub params: DVector<f64>,
    pub covariance: DMatrix<f64>,
    pub chi2: f64,
    /// Number of points minus number of parameters.
    pub dof: usize,
}

impl LinearFit {
    /// 1σ error of parameter `j`.
    pub fn error(&self, j: usize) -> f64 {
        self.covariance[(j, j)].max(0.0).sqrt()
    }
}

/// Ratio of the smallest to the largest singular value below which the design is degenerate
/// (e.g. every point at the same rH, or a filter offset with no points).
const RANK_TOLERANCE: f64 = 1e-10;

/// Fits `y ≈ X θ` with errors `sigma`. `column_names` name the parameters in errors.
pub fn weighted_least_squares(
    design: &DMatrix<f64>,
    y: &[f64],
    sigma: &[f64],
    column_names: &[String],
) -> Result<LinearFit, LightcurveError> {
    let (n_rows, n_params) = design.shape();
    if n_rows <= n_params {
        return Err(LightcurveError::TooFewPoints {
            points: n_rows,
            parameters: n_params,
            names: column_names.join(", "),
        });
    }
    let mut a = design.clone();
    let mut b = DVector::zeros(n_rows);
    for i in 0..n_rows {
        let w = 1.0 / sigma[i];
        for j in 0..n_params {
            a[(i, j)] *= w;
        }
        b[i] = y[i] * w;
    }
    // Scale the columns to unit norm so that the rank test does not depend on their units.
    let mut scale = vec![1.0; n_params];
    for (j, s) in scale.iter_mut().enumerate() {
        let norm = a.column(j).norm();
        if norm > 0.0 {
            *s = norm;
            a.column_mut(j).scale_mut(1.0 / norm);
        }
    }
    let svd = a.svd(true, true);
    let s_max = svd.singular_values.max();
    let s_min = svd.singular_values.min();
    if s_max.is_nan() || s_max <= 0.0 || s_min / s_max < RANK_TOLERANCE {
        return Err(LightcurveError::Degenerate {
            names: column_names.join(", "),
        });
    }
    let (Some(u), Some(v_t)) = (svd.u.as_ref(), svd.v_t.as_ref()) else {
        return Err(LightcurveError::Degenerate {
            names: column_names.join(", "),
        });
    };
    let ut_b = u.transpose() * &b;
    let mut scaled = DVector::zeros(n_params);
    let mut cov = DMatrix::zeros(n_params, n_params);
    let v = v_t.transpose();
    for k in 0..n_params {
        let s = svd.singular_values[k];
        let vk = v.column(k);
        scaled += vk * (ut_b[k] / s);
        cov += vk * vk.transpose() / (s * s);
    }
    let mut params = scaled;
    for j in 0..n_params {
        params[j] /= scale[j];
        for k in 0..n_params {
            cov[(j, k)] /= scale[j] * scale[k];
        }
    }
    let model = design * &params;
    let chi2 = (0..n_rows)
        .map(|i| ((y[i] - model[i]) / sigma[i]).powi(2))
        .sum();
    Ok(LinearFit {
        params,
        covariance: cov,
        chi2,
        dof: n_rows - n_params,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(n: usize) -> Vec<String> {
        (0..n).map(|j| format!("p{j}")).collect()
    }

    #[test]
    fn straight_line_matches_closed_form() {
        // y = 1 + 2x with unequal weights: closed-form weighted regression.
        let x = [0.0, 1.0, 2.0, 3.0, 4.0];
        let y = [1.1, 2.9, 5.2, 6.8, 9.1];
        let s = [0.1, 0.2, 0.1, 0.3, 0.2];
        let design = DMatrix::from_fn(5, 2, |i, j| if j == 0 { 1.0 } else { x[i] });
        let fit = weighted_least_squares(&design, &y, &s, &names(2)).unwrap();
        let w: Vec<f64> = s.iter().map(|s| 1.0 / (s * s)).collect();
        let sw: f64 = w.iter().sum();
        let sx: f64 = (0..5).map(|i| w[i] * x[i]).sum();
        let sy: f64 = (0..5).map(|i| w[i] * y[i]).sum();
        let sxx: f64 = (0..5).map(|i| w[i] * x[i] * x[i]).sum();
        let sxy: f64 = (0..5).map(|i| w[i] * x[i] * y[i]).sum();
        let det = sw * sxx - sx * sx;
        let slope = (sw * sxy - sx * sy) / det;
        let intercept = (sxx * sy - sx * sxy) / det;
        assert!((fit.params[1] - slope).abs() < 1e-12);
        assert!((fit.params[0] - intercept).abs() < 1e-12);
        assert!((fit.covariance[(1, 1)] - sw / det).abs() < 1e-12);
        assert!((fit.covariance[(0, 1)] + sx / det).abs() < 1e-12);
        assert_eq!(fit.dof, 3);
    }

    #[test]
    fn degenerate_column_is_an_error() {
        let design = DMatrix::from_fn(4, 2, |_, j| if j == 0 { 1.0 } else { 0.3 });
        let err = weighted_least_squares(&design, &[1.0; 4], &[0.1; 4], &names(2)).unwrap_err();
        assert!(matches!(err, LightcurveError::Degenerate { .. }));
    }

    #[test]
    fn too_few_points_is_an_error() {
        let design = DMatrix::from_fn(2, 2, |i, j| if j == 0 { 1.0 } else { i as f64 });
        let err = weighted_least_squares(&design, &[1.0; 2], &[0.1; 2], &names(2)).unwrap_err();
        assert!(matches!(err, LightcurveError::TooFewPoints { .. }));
    }
}
