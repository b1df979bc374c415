//! The quantity that is fitted, and the parts of the model shared by the single and the
//! broken power law: phase treatment, filter offsets, extra scatter.
//!
//! m − 5 log10 Δ − Φ(α) − c_f = H + 2.5 n log10 rH (DESIGN §4), where Φ(α) is the phase
//! correction (β_α α for the linear law, fixed or fitted) and c_f the colour offset of the
//! point's filter relative to the reference filter (given, or fitted as one parameter per
//! filter).

use std::collections::BTreeMap;

use nalgebra::{DMatrix, DVector};
use serde::Serialize;

use super::phase::PhaseLaw;
use super::points::{reference_filter, LightcurvePoint};
use super::wls::{weighted_least_squares, LinearFit};
use super::LightcurveError;

/// How the phase angle enters the fit.
#[derive(Debug, Clone, PartialEq)]
pub enum PhaseTreatment {
    /// A fixed phase law. For the linear law an uncertainty of its coefficient (mag/deg) is
    /// propagated into every fitted parameter (the estimates are linear in β_α).
    Fixed {
        law: PhaseLaw,
        coeff_err_mag_per_deg: f64,
    },
    /// The linear coefficient β_α fitted jointly with H and n.
    FitLinear,
}

/// How several filters are combined.
#[derive(Debug, Clone, PartialEq)]
pub enum ColourTreatment {
    /// One offset (mag) per filter other than the reference filter, fitted.
    FitOffsets,
    /// Offsets m_filter − m_reference given per filter (mag); the reference filter is 0.
    Given(BTreeMap<String, f64>),
}

/// Whether to add a scatter in quadrature to the errors when the fit is poor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExtraScatter {
    /// Keep the errors as given.
    Never,
    /// When χ² exceeds dof + 2.33 √(2 dof) (the one-sided 99 % point of χ² in the normal
    /// approximation), find the scatter s with χ²/dof = 1 for errors √(σᵢ² + s²) and refit.
    WhenSignificant,
}

/// Options shared by every fit of the lightcurve.
#[derive(Debug, Clone, PartialEq)]
pub struct FitOptions {
    pub phase: PhaseTreatment,
    pub colour: ColourTreatment,
    pub extra_scatter: ExtraScatter,
}

impl Default for FitOptions {
    /// β_α = 0.04 ± 0.02 mag/deg (the 3I/ATLAS assumption), fitted filter offsets, extra
    /// scatter when significant.
    fn default() -> Self {
        FitOptions {
            phase: PhaseTreatment::Fixed {
                law: PhaseLaw::Linear {
                    coeff_mag_per_deg: 0.04,
                },
                coeff_err_mag_per_deg: 0.02,
            },
            colour: ColourTreatment::FitOffsets,
            extra_scatter: ExtraScatter::WhenSignificant,
        }
    }
}

/// The phase treatment as reported.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PhaseSummary {
    /// Name of the law (`linear`, `schleicher-marcus`, `hg`).
    pub law: String,
    /// β_α (mag/deg) for the linear law; `None` for the others.
    pub coeff_mag_per_deg: Option<f64>,
    pub coeff_err_mag_per_deg: Option<f64>,
    pub fitted: bool,
}

/// Offset of one filter from the reference filter (m_filter − m_reference, mag).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FilterOffset {
    pub filter: String,
    pub offset_mag: f64,
    /// 0 when given.
    pub offset_err_mag: f64,
    pub fitted: bool,
    pub n_points: usize,
}

/// The points ready for a fit: the left-hand side y = m − 5 log10 Δ − Φ(α) − c_f and what
/// the design matrix needs.
#[derive(Debug, Clone)]
pub struct FitData {
    pub points: Vec<LightcurvePoint>,
    /// m − 5 log10 Δ − fixed phase correction − given colour offset (mag).
    pub y_mag: Vec<f64>,
    pub sigma_mag: Vec<f64>,
    pub log10_rh: Vec<f64>,
    pub reference_filter: String,
    /// Filters with a fitted offset, in column order.
    pub offset_filters: Vec<String>,
    /// Given offsets applied (mag), per filter, for the report.
    pub given_offsets: BTreeMap<String, f64>,
    pub phase: PhaseTreatment,
}

impl FitData {
    /// Builds y for `points` (already selected and validated).
    pub fn new(
        points: Vec<LightcurvePoint>,
        options: &FitOptions,
    ) -> Result<FitData, LightcurveError> {
        let reference = reference_filter(&points).ok_or(LightcurveError::TooFewPoints {
            points: 0,
            parameters: 2,
            names: "H, n".to_string(),
        })?;
        let mut given_offsets = BTreeMap::new();
        let mut offset_filters = Vec::new();
        for p in &points {
            if p.filter == reference {
                continue;
            }
            match &options.colour {
                ColourTreatment::FitOffsets => {
                    if !offset_filters.contains(&p.filter) {
                        offset_filters.push(p.filter.clone());
                    }
                }
                ColourTreatment::Given(map) => {
                    let Some(offset) = map.get(&p.filter) else {
                        return Err(LightcurveError::Option(format!(
                            "no colour offset given for filter '{}' (reference filter '{}'); \
                             give one, select one filter, or fit the offsets",
                            p.filter, reference
                        )));
                    };
                    given_offsets.insert(p.filter.clone(), *offset);
                }
            }
        }
        offset_filters.sort();
        let fixed_law = match &options.phase {
            PhaseTreatment::Fixed { law, .. } => Some(law),
            PhaseTreatment::FitLinear => None,
        };
        let y_mag = points
            .iter()
            .map(|p| {
                p.mag
                    - 5.0 * p.delta_au.log10()
                    - fixed_law.map_or(0.0, |law| law.correction_mag(p.phase_deg))
                    - given_offsets.get(&p.filter).copied().unwrap_or(0.0)
            })
            .collect();
        Ok(FitData {
            sigma_mag: points.iter().map(|p| p.mag_err).collect(),
            log10_rh: points.iter().map(|p| p.rh_au.log10()).collect(),
            y_mag,
            points,
            reference_filter: reference,
            offset_filters,
            given_offsets,
            phase: options.phase.clone(),
        })
    }

    pub fn len(&self) -> usize {
        self.points.len()
    }

    pub fn is_empty(&self) -> bool {
        self.points.is_empty()
    }

    /// Whether β_α is a fitted parameter.
    pub fn phase_fitted(&self) -> bool {
        matches!(self.phase, PhaseTreatment::FitLinear)
    }

    /// Names of the columns that follow the model's own columns: β_α when fitted, then one
    /// offset per filter.
    pub fn shared_column_names(&self) -> Vec<String> {
        let mut names = Vec::new();
        if self.phase_fitted() {
            names.push("phase_coeff".to_string());
        }
        names.extend(self.offset_filters.iter().map(|f| format!("offset_{f}")));
        names
    }

    /// Values of the shared columns for point `i`.
    pub fn shared_columns(&self, i: usize) -> Vec<f64> {
        let p = &self.points[i];
        let mut row = Vec::new();
        if self.phase_fitted() {
            row.push(p.phase_deg);
        }
        row.extend(
            self.offset_filters
                .iter()
                .map(|f| if &p.filter == f { 1.0 } else { 0.0 }),
        );
        row
    }

    /// A copy with only the points at `indices` (repeats allowed: bootstrap).
    pub fn resample(&self, indices: &[usize]) -> FitData {
        let pick = |v: &Vec<f64>| indices.iter().map(|&i| v[i]).collect::<Vec<f64>>();
        FitData {
            points: indices.iter().map(|&i| self.points[i].clone()).collect(),
            y_mag: pick(&self.y_mag),
            sigma_mag: pick(&self.sigma_mag),
            log10_rh: pick(&self.log10_rh),
            reference_filter: self.reference_filter.clone(),
            offset_filters: self.offset_filters.clone(),
            given_offsets: self.given_offsets.clone(),
            phase: self.phase.clone(),
        }
    }

    /// The phase treatment as reported, with the fitted coefficient when there is one.
    pub fn phase_summary(&self, fitted: Option<(f64, f64)>) -> PhaseSummary {
        match (&self.phase, fitted) {
            (PhaseTreatment::FitLinear, Some((value, err))) => PhaseSummary {
                law: "linear".to_string(),
                coeff_mag_per_deg: Some(value),
                coeff_err_mag_per_deg: Some(err),
                fitted: true,
            },
            (PhaseTreatment::FitLinear, None) => PhaseSummary {
                law: "linear".to_string(),
                coeff_mag_per_deg: None,
                coeff_err_mag_per_deg: None,
                fitted: true,
            },
            (
                PhaseTreatment::Fixed {
                    law,
                    coeff_err_mag_per_deg,
                },
                _,
            ) => match law {
                PhaseLaw::Linear { coeff_mag_per_deg } => PhaseSummary {
                    law: "linear".to_string(),
                    coeff_mag_per_deg: Some(*coeff_mag_per_deg),
                    coeff_err_mag_per_deg: Some(*coeff_err_mag_per_deg),
                    fitted: false,
                },
                other => PhaseSummary {
                    law: other.name().to_string(),
                    coeff_mag_per_deg: None,
                    coeff_err_mag_per_deg: None,
                    fitted: false,
                },
            },
        }
    }

    /// Propagated uncertainty of a fixed linear coefficient (mag/deg), 0 otherwise.
    pub fn phase_coeff_err(&self) -> f64 {
        match &self.phase {
            PhaseTreatment::Fixed {
                law: PhaseLaw::Linear { .. },
                coeff_err_mag_per_deg,
            } => *coeff_err_mag_per_deg,
            _ => 0.0,
        }
    }
}

/// A weighted linear fit of `data` with design rows `model_columns(i) ++ shared_columns(i)`
/// and errors √(σᵢ² + s²).
pub fn linear_fit(
    data: &FitData,
    model_names: &[&str],
    model_columns: &dyn Fn(usize) -> Vec<f64>,
    extra_scatter_mag: f64,
) -> Result<(LinearFit, DMatrix<f64>), LightcurveError> {
    let mut names: Vec<String> = model_names.iter().map(|s| s.to_string()).collect();
    names.extend(data.shared_column_names());
    let n_params = names.len();
    let mut design = DMatrix::zeros(data.len(), n_params);
    for i in 0..data.len() {
        let mut row = model_columns(i);
        row.extend(data.shared_columns(i));
        for (j, v) in row.into_iter().enumerate() {
            design[(i, j)] = v;
        }
    }
    let sigma: Vec<f64> = data
        .sigma_mag
        .iter()
        .map(|s| (s * s + extra_scatter_mag * extra_scatter_mag).sqrt())
        .collect();
    let fit = weighted_least_squares(&design, &data.y_mag, &sigma, &names)?;
    Ok((fit, design))
}

/// Change of the fitted parameters per unit change of a fixed linear phase coefficient:
/// y depends on β_α through −β_α α, so dθ/dβ_α = −(XᵀWX)⁻¹ Xᵀ W α.
pub fn dparams_dphase_coeff(
    data: &FitData,
    fit: &LinearFit,
    design: &DMatrix<f64>,
    extra_scatter_mag: f64,
) -> DVector<f64> {
    let n = data.len();
    let weighted_alpha = DVector::from_fn(n, |i, _| {
        let s2 = data.sigma_mag[i].powi(2) + extra_scatter_mag.powi(2);
        data.points[i].phase_deg / s2
    });
    -(&fit.covariance * (design.transpose() * weighted_alpha))
}

/// χ² test threshold of [`ExtraScatter::WhenSignificant`].
pub fn chi2_is_excessive(chi2: f64, dof: usize) -> bool {
    let dof = dof as f64;
    dof > 0.0 && chi2 > dof + 2.33 * (2.0 * dof).sqrt()
}

/// The scatter s (mag) for which the refitted χ²/dof = 1, by bisection (χ² falls
/// monotonically with s). `chi2_at(s)` refits and returns (χ², dof).
pub fn solve_extra_scatter(
    chi2_at: &dyn Fn(f64) -> Result<(f64, usize), LightcurveError>,
    upper_mag: f64,
) -> Result<f64, LightcurveError> {
    let (mut lo, mut hi) = (0.0_f64, upper_mag.max(1e-3));
    loop {
        let (chi2, dof) = chi2_at(hi)?;
        if chi2 <= dof as f64 || hi > 100.0 {
            break;
        }
        lo = hi;
        hi *= 2.0;
    }
    for _ in 0..60 {
        let mid = 0.5 * (lo + hi);
        let (chi2, dof) = chi2_at(mid)?;
        if chi2 > dof as f64 {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    Ok(0.5 * (lo + hi))
}

/// Akaike and Bayesian information criteria for a Gaussian likelihood, up to a constant:
/// AIC = χ² + 2k, BIC = χ² + k ln N.
pub fn information_criteria(chi2: f64, n_params: usize, n_points: usize) -> (f64, f64) {
    let k = n_params as f64;
    (chi2 + 2.0 * k, chi2 + k * (n_points as f64).ln())
}
