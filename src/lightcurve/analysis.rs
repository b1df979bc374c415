//! One call from validated points to every fit of the lightcurve, with per-point residuals
//! and flags.

use serde::Serialize;

use super::bootstrap::{bootstrap_broken_power_law, bootstrap_power_law, BootstrapInterval};
use super::broken::{fit_broken_power_law, BrokenPowerLawFit};
use super::model::{FitData, FitOptions};
use super::nights::{aggregate_nights, DEFAULT_MAX_GAP_DAYS};
use super::points::{LightcurvePoint, Selection};
use super::power::{fit_power_law, PowerLawFit};
use super::robust::{fit_robust_power_law, RobustPowerLawFit};
use super::LightcurveError;

/// Which models to fit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ModelChoice {
    Power,
    Broken,
    Both,
}

/// Everything that shapes the analysis.
#[derive(Debug, Clone, PartialEq)]
pub struct AnalysisOptions {
    pub fit: FitOptions,
    pub selection: Selection,
    pub model: ModelChoice,
    /// Combine each night's points per filter before fitting.
    pub per_night: bool,
    /// Also fit the Huber-robust single power law.
    pub robust: bool,
    /// Bootstrap replicates (0: none).
    pub bootstrap_replicates: usize,
    pub seed: u64,
    /// A point is flagged when its residual exceeds this many σ (σ including extra scatter).
    pub flag_sigma: f64,
}

impl Default for AnalysisOptions {
    fn default() -> Self {
        AnalysisOptions {
            fit: FitOptions::default(),
            selection: Selection::default(),
            model: ModelChoice::Power,
            per_night: false,
            robust: false,
            bootstrap_replicates: 0,
            seed: 1,
            flag_sigma: 3.0,
        }
    }
}

/// Whether the broken power law is warranted over the single one.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelComparison {
    /// AIC and BIC of the broken minus the single power law, both with the errors of the
    /// single fit (its extra scatter included), so that neither model gains from its own
    /// error inflation. Negative favours the break.
    pub delta_aic: f64,
    pub delta_bic: f64,
    /// ΔBIC < −6: "strong" evidence on the scale of Kass & Raftery (1995).
    pub break_warranted: bool,
}

/// One fitted point with its model and residual.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PointResult {
    #[serde(flatten)]
    pub point: LightcurvePoint,
    /// m − 5 log10(rH Δ) − Φ(α) − c_f (mag): the reduced magnitude H(rH) of DESIGN §4.
    pub mag_reduced: f64,
    /// The single power law's prediction of the observed magnitude (mag).
    pub model_mag: f64,
    pub residual_mag: f64,
    /// Residual over √(σ² + s²).
    pub residual_sigma: f64,
    /// Residual from the robust (Huber) fit over σ, divided by the robust spread of these
    /// normalised residuals (1.4826 × MAD, at least 1): the quantity the flags use, so that
    /// outbursts neither pull the model towards them nor inflate the scale they are judged by.
    pub robust_residual_sigma: f64,
    /// The broken law's prediction, when fitted.
    pub model_broken_mag: Option<f64>,
    /// `outburst` (brighter than the robust model by more than the flag threshold in
    /// `robust_residual_sigma`), `faint` (fainter), or empty.
    pub flag: String,
}

/// Everything the lightcurve step produces.
#[derive(Debug, Clone, PartialEq)]
pub struct LightcurveAnalysis {
    pub power: Option<PowerLawFit>,
    pub broken: Option<BrokenPowerLawFit>,
    /// Why the broken law could not be fitted when both were asked for.
    pub broken_failure: Option<String>,
    pub comparison: Option<ModelComparison>,
    pub robust: Option<RobustPowerLawFit>,
    pub bootstrap: Vec<BootstrapInterval>,
    pub points: Vec<PointResult>,
    pub n_input_points: usize,
    pub n_selected_points: usize,
}

/// Smallest relative spread of rH, max/min − 1, over which n is fitted. Below it (e.g. one
/// night: 3I moved by ~3·10⁻⁵ in rH over a night at 3.5 au) the magnitude changes by
/// 2.5 n log10(1 + spread) < 0.004 n mag, lost in the photometric errors: n is not
/// constrained and a fit would only return noise with a huge error.
pub const MIN_RELATIVE_RH_SPREAD: f64 = 1e-3;

/// Selects, optionally aggregates and fits `points` (validated by
/// [`super::points::validate`]).
pub fn analyse(
    points: &[LightcurvePoint],
    options: &AnalysisOptions,
) -> Result<LightcurveAnalysis, LightcurveError> {
    options.selection.check()?;
    let selected: Vec<LightcurvePoint> = points
        .iter()
        .filter(|p| options.selection.accepts(p))
        .cloned()
        .collect();
    if selected.is_empty() {
        return Err(LightcurveError::Option(format!(
            "none of the {} points is selected (rH range, leg, filter)",
            points.len()
        )));
    }
    let n_selected_points = selected.len();
    let selected = if options.per_night {
        aggregate_nights(&selected, DEFAULT_MAX_GAP_DAYS)
    } else {
        selected
    };
    let first_rh = selected[0].rh_au;
    if selected.iter().all(|p| p.rh_au == first_rh) {
        return Err(LightcurveError::SingleRh {
            rh_au: first_rh,
            points: selected.len(),
        });
    }
    let rh = |f: fn(f64, f64) -> f64, start| selected.iter().map(|p| p.rh_au).fold(start, f);
    let (rh_min_au, rh_max_au) = (rh(f64::min, f64::INFINITY), rh(f64::max, f64::NEG_INFINITY));
    if rh_max_au / rh_min_au - 1.0 < MIN_RELATIVE_RH_SPREAD {
        return Err(LightcurveError::NarrowRh {
            points: selected.len(),
            rh_min_au,
            rh_max_au,
            min_spread: MIN_RELATIVE_RH_SPREAD,
        });
    }
    let data = FitData::new(selected, &options.fit)?;
    let extra = options.fit.extra_scatter;
    let wants_power = options.model != ModelChoice::Broken;
    let wants_broken = options.model != ModelChoice::Power;
    // The single law is always fitted: residuals and flags refer to it.
    let power = fit_power_law(&data, extra)?;
    let (broken, broken_failure) = if wants_broken {
        match fit_broken_power_law(&data, extra) {
            Ok(fit) => (Some(fit), None),
            Err(e) if options.model == ModelChoice::Both => (None, Some(e.to_string())),
            Err(e) => return Err(e),
        }
    } else {
        (None, None)
    };
    let comparison = broken.as_ref().map(|b| {
        let s = power.extra_scatter_mag;
        let chi2_single = (0..data.len())
            .map(|i| {
                let r = data.y_mag[i] - power.model_y_mag(&data, i);
                r * r / (data.sigma_mag[i].powi(2) + s * s)
            })
            .sum::<f64>();
        let chi2_broken = b.chi2_with_scatter(&data, s);
        let n = data.len() as f64;
        let dk = (b.n_params - power.n_params) as f64;
        let delta_aic = chi2_broken - chi2_single + 2.0 * dk;
        let delta_bic = chi2_broken - chi2_single + dk * n.ln();
        ModelComparison {
            delta_aic,
            delta_bic,
            break_warranted: delta_bic < -6.0,
        }
    });
    // The robust fit is always made: the outburst flags refer to it.
    let robust_fit = fit_robust_power_law(&data)?;
    let mut bootstrap = Vec::new();
    if options.bootstrap_replicates > 0 {
        if wants_power {
            bootstrap.extend(bootstrap_power_law(
                &data,
                options.bootstrap_replicates,
                options.seed,
            ));
        }
        if broken.is_some() {
            bootstrap.extend(bootstrap_broken_power_law(
                &data,
                options.bootstrap_replicates,
                options.seed,
            ));
        }
    }
    let rows = point_results(
        &data,
        &power,
        broken.as_ref(),
        &robust_fit,
        options.flag_sigma,
    );
    let robust = options.robust.then_some(robust_fit);
    Ok(LightcurveAnalysis {
        power: wants_power.then_some(power),
        broken,
        broken_failure,
        comparison,
        robust,
        bootstrap,
        points: rows,
        n_input_points: points.len(),
        n_selected_points,
    })
}

fn point_results(
    data: &FitData,
    power: &PowerLawFit,
    broken: Option<&BrokenPowerLawFit>,
    robust: &RobustPowerLawFit,
    flag_sigma: f64,
) -> Vec<PointResult> {
    let s = power.extra_scatter_mag;
    let robust_u: Vec<f64> = (0..data.len())
        .map(|i| (data.y_mag[i] - robust.model_y_mag(data, i)) / data.sigma_mag[i])
        .collect();
    let robust_scale = crate::stats::mad_std(&robust_u).unwrap_or(1.0).max(1.0);
    (0..data.len())
        .map(|i| {
            let point = data.points[i].clone();
            let model_y = power.model_y_mag(data, i);
            // y = m − 5 log10 Δ − (fixed phase and colour terms), so m_model = m − y + y_model.
            let to_mag = |y_model: f64| point.mag - data.y_mag[i] + y_model;
            let model_mag = to_mag(model_y);
            let residual_mag = point.mag - model_mag;
            let residual_sigma = residual_mag / (point.mag_err.powi(2) + s * s).sqrt();
            let rh_part = power.h_mag + 2.5 * power.n * data.log10_rh[i];
            let mag_reduced = data.y_mag[i] - (model_y - rh_part) - 5.0 * data.log10_rh[i];
            let robust_residual_sigma = robust_u[i] / robust_scale;
            let flag = if robust_residual_sigma < -flag_sigma {
                "outburst"
            } else if robust_residual_sigma > flag_sigma {
                "faint"
            } else {
                ""
            };
            PointResult {
                mag_reduced,
                model_mag,
                residual_mag,
                residual_sigma,
                robust_residual_sigma,
                model_broken_mag: broken.map(|b| to_mag(b.model_y_mag(data, i))),
                flag: flag.to_string(),
                point,
            }
        })
        .collect()
}
