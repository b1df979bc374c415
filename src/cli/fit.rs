//! `cometphot fit`: the heliocentric lightcurve fit of a photometry table or any lightcurve.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use clap::{Args, ValueEnum};
use polars::prelude::{Column, DataFrame, PolarsResult};
use serde::Serialize;

use cometphot::lightcurve::analysis::{
    analyse, AnalysisOptions, LightcurveAnalysis, ModelChoice, ModelComparison,
};
use cometphot::lightcurve::bootstrap::BootstrapInterval;
use cometphot::lightcurve::model::{
    ColourTreatment, ExtraScatter, FilterOffset, FitOptions, PhaseTreatment,
};
use cometphot::lightcurve::phase::PhaseLaw;
use cometphot::lightcurve::points::{Leg, Selection};
use cometphot::table::{write_table, write_text_atomic};

use super::lightcurve_input::{LightcurveInput, LoadedLightcurve};
use super::{Verbosity, EXIT_OK};

const FIT_HELP: &str = "\
Fits the heliocentric lightcurve: m − 5 log10 Δ − Φ(α) = H + 2.5 n log10 rH by weighted least
squares with the full covariance (DESIGN §4). The input is cometphot's photometry table or any
CSV/Parquet lightcurve with columns for time (mjd, jd or ISO text), rh, delta, alpha, mag,
mag_err and filter (other names: --column FIELD=NAME). Missing rh/delta/alpha are computed from
the orbit of --object/--elements seen from --site.

Phase: a fixed linear coefficient with its uncertainty propagated into n and H (default
0.04 ± 0.02 mag/deg, the 3I/ATLAS assumption), --fit-phase to fit it, or another law
(--phase-law schleicher-marcus|hg). Several filters: one offset per filter fitted relative to
the most populated one, or given (--colour-offset g=0.55). When χ² is significantly above the
degrees of freedom a scatter is added in quadrature to every error so that χ²/dof = 1 (turn off
with --no-extra-scatter).

Broken power law (--model broken|both): n1 beyond the break rH (farther from the Sun), n2
inside it, the break fitted; ΔAIC/ΔBIC against the single law say whether it is warranted.

Outputs: JSON (--out, or standard output) with n, n_err, h_mag, h_err, phase_coeff,
phase_coeff_err, chi2_dof, n_points, rh_min_au, rh_max_au (broken: n1, n1_err, n2, n2_err,
rh_break_au) and everything else; a CSV of the points with the model, residuals and flags
(outburst: brighter than the model by more than --flag-sigma; faint); a one-paragraph summary.

Examples:
  cometphot fit outputs/photometry.csv --object 3I
  cometphot fit data/real/comet-lightcurves/67P_ATLAS.csv --filter o --leg pre --object 67P \\
      --perihelion-mjd 59520.0 --model both --out 67P_fit.json";

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ModelArg {
    Power,
    Broken,
    Both,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LegArg {
    Pre,
    Post,
}

#[derive(Debug, Args)]
#[command(long_about = FIT_HELP)]
pub struct FitArgs {
    #[command(flatten)]
    pub input: LightcurveInput,
    /// Phase law: linear, schleicher-marcus (alias halley-marcus) or hg.
    #[arg(long, default_value = "linear")]
    pub phase_law: String,
    /// Linear phase coefficient β_α (mag/deg), fixed.
    #[arg(long, default_value_t = 0.04, conflicts_with = "fit_phase")]
    pub phase_coeff: f64,
    /// Uncertainty of --phase-coeff (mag/deg), propagated into n and H.
    #[arg(long, default_value_t = 0.02, conflicts_with = "fit_phase")]
    pub phase_coeff_err: f64,
    /// Fit the linear phase coefficient jointly with H and n.
    #[arg(long)]
    pub fit_phase: bool,
    /// Slope parameter G of the HG law.
    #[arg(long, default_value_t = 0.15)]
    pub hg_g: f64,
    /// Models to fit.
    #[arg(long, value_enum, default_value = "power")]
    pub model: ModelArg,
    /// Only points with rH ≥ this (au).
    #[arg(long)]
    pub rh_min: Option<f64>,
    /// Only points with rH ≤ this (au).
    #[arg(long)]
    pub rh_max: Option<f64>,
    /// Only pre- or post-perihelion points (needs --object/--elements or --perihelion-mjd).
    #[arg(long, value_enum)]
    pub leg: Option<LegArg>,
    /// Perihelion time (MJD) for --leg, instead of the orbit's.
    #[arg(long)]
    pub perihelion_mjd: Option<f64>,
    /// Only this filter.
    #[arg(long)]
    pub filter: Option<String>,
    /// Given colour offsets m_filter − m_reference (mag), FILTER=VALUE, instead of fitted ones
    /// (repeatable).
    #[arg(
        long = "colour-offset",
        value_name = "FILTER=MAG",
        allow_hyphen_values = true
    )]
    pub colour_offsets: Vec<String>,
    /// Combine each night's points per filter (weighted mean) before fitting.
    #[arg(long)]
    pub per_night: bool,
    /// Also fit the Huber-robust single power law.
    #[arg(long)]
    pub robust: bool,
    /// Bootstrap replicates for percentile intervals (0: none).
    #[arg(long, default_value_t = 500)]
    pub bootstrap: usize,
    /// Seed of the bootstrap resampling.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Keep the errors as given even when χ²/dof is large.
    #[arg(long)]
    pub no_extra_scatter: bool,
    /// Residual (in σ) beyond which a point is flagged outburst/faint.
    #[arg(long, default_value_t = 3.0)]
    pub flag_sigma: f64,
    /// JSON result file; standard output without it.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Points table (.csv or .parquet); default <out stem>_points.csv beside --out.
    #[arg(long)]
    pub points: Option<PathBuf>,
}

/// The JSON written by `fit`: the headline fields flat at the top, the rest beside.
#[derive(Debug, Serialize)]
struct FitJson<'a> {
    input: String,
    object: Option<&'a str>,
    model: &'a str,
    n: Option<f64>,
    n_err: Option<f64>,
    n_err_statistical: Option<f64>,
    h_mag: Option<f64>,
    h_err: Option<f64>,
    phase_law: String,
    phase_coeff: Option<f64>,
    phase_coeff_err: Option<f64>,
    phase_fitted: bool,
    chi2_dof: Option<f64>,
    extra_scatter_mag: Option<f64>,
    n_points: usize,
    rh_min_au: f64,
    rh_max_au: f64,
    reference_filter: Option<String>,
    filter_offsets: Vec<FilterOffset>,
    #[serde(skip_serializing_if = "Option::is_none")]
    n1: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    n1_err: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    n2: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    n2_err: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    rh_break_au: Option<f64>,
    /// Reduced magnitude at the break, m − 5 log10 Δ − Φ(α) at rH = rh_break_au (mag).
    #[serde(skip_serializing_if = "Option::is_none")]
    h_break_mag: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    h_break_err: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    rh_break_err_au: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    broken_chi2_dof: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    broken_failure: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    comparison: Option<ModelComparison>,
    #[serde(skip_serializing_if = "Option::is_none")]
    robust: Option<cometphot::lightcurve::robust::RobustPowerLawFit>,
    bootstrap: Vec<BootstrapInterval>,
    selection: Selection,
    per_night: bool,
    n_input_points: usize,
    n_selected_points: usize,
    software: String,
}

fn phase_treatment(args: &FitArgs) -> anyhow::Result<PhaseTreatment> {
    if args.fit_phase {
        if args.phase_law != "linear" {
            bail!("--fit-phase fits the linear coefficient; it cannot be combined with --phase-law {}", args.phase_law);
        }
        return Ok(PhaseTreatment::FitLinear);
    }
    if args.phase_coeff_err.is_nan() || args.phase_coeff_err < 0.0 {
        bail!(
            "--phase-coeff-err must be ≥ 0 (got {})",
            args.phase_coeff_err
        );
    }
    let law = match PhaseLaw::parse(&args.phase_law, None)? {
        PhaseLaw::Linear { .. } => PhaseLaw::Linear {
            coeff_mag_per_deg: args.phase_coeff,
        },
        PhaseLaw::HG { .. } => PhaseLaw::HG { g: args.hg_g },
        other => other,
    };
    Ok(PhaseTreatment::Fixed {
        coeff_err_mag_per_deg: if matches!(law, PhaseLaw::Linear { .. }) {
            args.phase_coeff_err
        } else {
            0.0
        },
        law,
    })
}

fn colour_treatment(args: &FitArgs) -> anyhow::Result<ColourTreatment> {
    if args.colour_offsets.is_empty() {
        return Ok(ColourTreatment::FitOffsets);
    }
    let mut map = std::collections::BTreeMap::new();
    for item in &args.colour_offsets {
        let Some((filter, value)) = item.split_once('=') else {
            bail!("--colour-offset '{item}': expected FILTER=MAG");
        };
        let value: f64 = value
            .trim()
            .parse()
            .with_context(|| format!("--colour-offset '{item}': '{value}' is not a number"))?;
        map.insert(filter.trim().to_string(), value);
    }
    Ok(ColourTreatment::Given(map))
}

fn default_points_path(out: &Path) -> PathBuf {
    let stem = out
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "fit".into());
    out.with_file_name(format!("{stem}_points.csv"))
}

fn points_table(analysis: &LightcurveAnalysis) -> PolarsResult<DataFrame> {
    let p = &analysis.points;
    let f = |get: &dyn Fn(&cometphot::lightcurve::analysis::PointResult) -> f64| -> Vec<f64> {
        p.iter().map(get).collect()
    };
    let columns = vec![
        Column::new(
            "row".into(),
            p.iter().map(|r| r.point.row as u64).collect::<Vec<_>>(),
        ),
        Column::new("mjd".into(), f(&|r| r.point.time_mjd)),
        Column::new("rh_au".into(), f(&|r| r.point.rh_au)),
        Column::new("delta_au".into(), f(&|r| r.point.delta_au)),
        Column::new("phase_deg".into(), f(&|r| r.point.phase_deg)),
        Column::new(
            "filter".into(),
            p.iter().map(|r| r.point.filter.clone()).collect::<Vec<_>>(),
        ),
        Column::new("mag".into(), f(&|r| r.point.mag)),
        Column::new("mag_err".into(), f(&|r| r.point.mag_err)),
        Column::new("mag_reduced".into(), f(&|r| r.mag_reduced)),
        Column::new("model_mag".into(), f(&|r| r.model_mag)),
        Column::new("residual_mag".into(), f(&|r| r.residual_mag)),
        Column::new("residual_sigma".into(), f(&|r| r.residual_sigma)),
        Column::new(
            "robust_residual_sigma".into(),
            f(&|r| r.robust_residual_sigma),
        ),
        Column::new(
            "model_broken_mag".into(),
            p.iter().map(|r| r.model_broken_mag).collect::<Vec<_>>(),
        ),
        Column::new(
            "flag".into(),
            p.iter().map(|r| r.flag.clone()).collect::<Vec<_>>(),
        ),
    ];
    DataFrame::new_infer_height(columns)
}

/// `value ± err` with two significant digits of the error (at least two decimals).
fn pm(value: f64, err: f64) -> String {
    let decimals = if err > 0.0 && err.is_finite() {
        (1 - err.log10().floor() as i32).clamp(2, 8) as usize
    } else {
        2
    };
    format!("{value:.decimals$} ± {err:.decimals$}")
}

/// One paragraph in words.
fn summary(analysis: &LightcurveAnalysis, json: &FitJson) -> String {
    let mut text = String::new();
    if let (Some(n), Some(n_err), Some(h), Some(h_err)) =
        (json.n, json.n_err, json.h_mag, json.h_err)
    {
        let phase = match (json.phase_fitted, json.phase_coeff, json.phase_coeff_err) {
            (true, Some(b), Some(e)) => {
                format!("phase coefficient fitted: {b:.3} ± {e:.3} mag/deg")
            }
            (false, Some(b), Some(e)) => {
                format!("linear phase law {b:.3} ± {e:.3} mag/deg assumed")
            }
            _ => format!("{} phase law", json.phase_law),
        };
        text.push_str(&format!(
            "n = {} over {:.2}–{:.2} au (H = {} mag in {}, {} points, {phase}, χ²/dof = {:.2}",
            pm(n, n_err),
            json.rh_max_au,
            json.rh_min_au,
            pm(h, h_err),
            json.reference_filter.as_deref().unwrap_or("-"),
            json.n_points,
            json.chi2_dof.unwrap_or(f64::NAN),
        ));
        if let Some(s) = json.extra_scatter_mag.filter(|s| *s > 0.0) {
            text.push_str(&format!(", {s:.3} mag scatter added in quadrature"));
        }
        text.push_str(").");
    }
    if let (Some(b), Some(c)) = (&analysis.broken, &analysis.comparison) {
        if !text.is_empty() {
            text.push(' ');
        }
        text.push_str(&format!(
            "Broken power law: n1 = {} beyond rH = {} au, n2 = {} inside; ΔBIC = {:.1}, ΔAIC = {:.1}: the break is {}.",
            pm(b.n_outer, b.n_outer_err), pm(b.rh_break_au, b.rh_break_err_au), pm(b.n_inner, b.n_inner_err),
            c.delta_bic, c.delta_aic,
            if c.break_warranted { "warranted" } else { "not warranted" }
        ));
    }
    if let Some(reason) = &analysis.broken_failure {
        text.push_str(&format!(" No broken power law: {reason}."));
    }
    let flagged = analysis
        .points
        .iter()
        .filter(|p| p.flag == "outburst")
        .count();
    if flagged > 0 {
        text.push_str(&format!(" {flagged} point(s) flagged as outbursts."));
    }
    text
}

pub fn run(args: FitArgs, verbosity: Verbosity) -> anyhow::Result<i32> {
    let LoadedLightcurve {
        points,
        elements,
        name,
        ..
    } = args.input.load(verbosity)?;
    let perihelion_mjd = args
        .perihelion_mjd
        .or_else(|| elements.as_ref().map(|e| e.tp_jd_tdb - 2_400_000.5));
    let options = AnalysisOptions {
        fit: FitOptions {
            phase: phase_treatment(&args)?,
            colour: colour_treatment(&args)?,
            extra_scatter: if args.no_extra_scatter {
                ExtraScatter::Never
            } else {
                ExtraScatter::WhenSignificant
            },
        },
        selection: Selection {
            rh_min_au: args.rh_min,
            rh_max_au: args.rh_max,
            leg: args.leg.map(|l| match l {
                LegArg::Pre => Leg::Pre,
                LegArg::Post => Leg::Post,
            }),
            perihelion_mjd,
            filter: args.filter.clone(),
        },
        model: match args.model {
            ModelArg::Power => ModelChoice::Power,
            ModelArg::Broken => ModelChoice::Broken,
            ModelArg::Both => ModelChoice::Both,
        },
        per_night: args.per_night,
        robust: args.robust,
        bootstrap_replicates: args.bootstrap,
        seed: args.seed,
        flag_sigma: args.flag_sigma,
    };
    let analysis = analyse(&points, &options).with_context(|| format!("fitting {name}"))?;
    let json = to_json(&args, &analysis, &options);
    let text = serde_json::to_string_pretty(&json)?;
    match &args.out {
        Some(out) => write_text_atomic(out, &text)
            .with_context(|| format!("cannot write {}", out.display()))?,
        None => println!("{text}"),
    }
    let points_path = args
        .points
        .clone()
        .or_else(|| args.out.as_deref().map(default_points_path));
    if let Some(path) = points_path {
        let mut df = points_table(&analysis)?;
        write_table(&mut df, &path).with_context(|| format!("cannot write {}", path.display()))?;
    }
    if verbosity != Verbosity::Quiet {
        eprintln!("{}", summary(&analysis, &json));
    }
    Ok(EXIT_OK)
}

fn to_json<'a>(
    args: &'a FitArgs,
    analysis: &LightcurveAnalysis,
    options: &AnalysisOptions,
) -> FitJson<'a> {
    let power = analysis.power.as_ref();
    let broken = analysis.broken.as_ref();
    let phase = power
        .map(|p| p.phase.clone())
        .or_else(|| broken.map(|b| b.phase.clone()));
    let (rh_min_au, rh_max_au, n_points) = power
        .map(|p| (p.rh_min_au, p.rh_max_au, p.n_points))
        .or_else(|| broken.map(|b| (b.rh_min_au, b.rh_max_au, b.n_points)))
        .unwrap_or((f64::NAN, f64::NAN, 0));
    FitJson {
        input: args.input.lightcurve.display().to_string(),
        object: args.input.object.as_deref(),
        model: match options.model {
            ModelChoice::Power => "power",
            ModelChoice::Broken => "broken",
            ModelChoice::Both => "both",
        },
        n: power.map(|p| p.n),
        n_err: power.map(|p| p.n_err),
        n_err_statistical: power.map(|p| p.n_err_statistical),
        h_mag: power.map(|p| p.h_mag),
        h_err: power.map(|p| p.h_err),
        phase_law: phase.as_ref().map(|p| p.law.clone()).unwrap_or_default(),
        phase_coeff: phase.as_ref().and_then(|p| p.coeff_mag_per_deg),
        phase_coeff_err: phase.as_ref().and_then(|p| p.coeff_err_mag_per_deg),
        phase_fitted: phase.as_ref().is_some_and(|p| p.fitted),
        chi2_dof: power.map(|p| p.chi2_dof),
        extra_scatter_mag: power.map(|p| p.extra_scatter_mag),
        n_points,
        rh_min_au,
        rh_max_au,
        reference_filter: power.map(|p| p.reference_filter.clone()),
        filter_offsets: power.map(|p| p.filter_offsets.clone()).unwrap_or_default(),
        n1: broken.map(|b| b.n_outer),
        n1_err: broken.map(|b| b.n_outer_err),
        n2: broken.map(|b| b.n_inner),
        n2_err: broken.map(|b| b.n_inner_err),
        rh_break_au: broken.map(|b| b.rh_break_au),
        h_break_mag: broken.map(|b| b.h_break_mag),
        h_break_err: broken.map(|b| b.h_break_err),
        rh_break_err_au: broken.map(|b| b.rh_break_err_au),
        broken_chi2_dof: broken.map(|b| b.chi2_dof),
        broken_failure: analysis.broken_failure.clone(),
        comparison: analysis.comparison.clone(),
        robust: analysis.robust.clone(),
        bootstrap: analysis.bootstrap.clone(),
        selection: options.selection.clone(),
        per_night: options.per_night,
        n_input_points: analysis.n_input_points,
        n_selected_points: analysis.n_selected_points,
        software: format!("cometphot {}", env!("CARGO_PKG_VERSION")),
    }
}
