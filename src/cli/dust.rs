//! `cometphot dust`: per-epoch dust quantities (H, C_e, Afρ, M, dM/dt) of a lightcurve and their
//! trends with rH, every number beside the assumptions it depends on (DESIGN §4, issue 6).

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use clap::Args;
use polars::prelude::{Column, DataFrame};
use serde::Serialize;

use cometphot::dust::assumptions::{
    ApertureRadius, DustAssumptions, DEFAULT_ALBEDO, DEFAULT_APERTURE_RADIUS_KM,
    DEFAULT_GRAIN_DENSITY_KG_M3, DEFAULT_GRAIN_RADIUS_UM, DEFAULT_SPEED_M_S,
};
use cometphot::dust::production::{dust_epoch, DustEpoch, EpochPhotometry};
use cometphot::dust::sun::{MagSystem, SolarMagnitude};
use cometphot::dust::trend::{
    check_index, dust_trend, expected_indices, log_slope, DustTrend, IndexCheck, TrendQuantity,
    DEFAULT_INTERPOLATION_RH_AU,
};
use cometphot::dust::PhaseCorrection;
use cometphot::lightcurve::phase::PhaseLaw;
use cometphot::lightcurve::points::{validate, LightcurvePoint};
use cometphot::table::{write_table, write_table_or_stdout, write_text_atomic};

use super::lightcurve_input::{LightcurveInput, LoadedLightcurve};
use super::{Verbosity, EXIT_OK};

const DUST_HELP: &str = "\
Per-epoch dust quantities of a lightcurve (DESIGN §4): reduced magnitude
H = m − 5 log10(rH Δ) − Φ(α), scattering cross-section C_e (km²) with p C_e =
π (1 au)² 10^(0.4 (m_sun − H)), Afρ and A(0°)fρ (cm, sbpy convention), dust mass in the
aperture M = (4/3) ρ_d a C_e (kg) and production rate dM/dt = 4 ρ_d a C_e v / (3 ℓ) (kg/s),
with 1σ errors from the photometry and the phase coefficient's uncertainty. Then the power-law
trends of C_e and dM/dt against rH, their values interpolated at --at-rh (default 2 au), and,
given the lightcurve index --n-index, the check that both indices equal 2 − n (fixed linear
aperture; for a fixed angular aperture dM/dt follows rH^(2 − n − s), s = d ln Δ / d ln rH, and
the check says so).

The input is read like `cometphot fit` reads it: cometphot's photometry table or any CSV/Parquet
lightcurve with time, rh, delta, alpha, mag, mag_err (and filter) columns (other names:
--column FIELD=NAME; missing geometry from --object/--elements). The magnitudes must be in ONE
band and system, stated with --band/--system (m_sun from Willmer 2018) or --m-sun; a table with
several filters needs --filter.

Aperture ℓ (the length grains cross in the residence time ℓ/v): --aperture-km, or
--aperture-arcsec (fixed angular), else the table's radius_km (the one chosen by --radius-km
when it holds several), else the DESIGN default of 10,000 km (said so in the summary).

Outputs (--out FILE.csv, or the per-epoch CSV on standard output):
  FILE.csv            one row per epoch: mjd, filter, rh_au, delta_au, phase_deg, mag, mag_err,
                      phase_correction_mag, h_mag, h_err_mag, aperture_radius_km,
                      cross_section_km2(_err), afrho_cm(_err), a0frho_cm(_err), dust_mass_kg(_err),
                      residence_time_days, production_kg_s(_err); then the ASSUMPTIONS as
                      constant columns (albedo, m_sun_mag, m_sun_band, m_sun_system,
                      m_sun_source, grain_density_kg_m3, grain_radius_um, speed_m_s,
                      aperture_kind, aperture_radius_km|aperture_radius_arcsec, phase_law,
                      phase_coeff_mag_per_deg, phase_coeff_err_mag_per_deg), so that every row
                      carries what its numbers depend on;
  FILE_trend.json     the indices of C_e and dM/dt vs rH with statistical and phase errors, the
                      values at --at-rh, the 2 − n check, and the assumptions (object and
                      one-line text).
A one-paragraph summary listing the assumptions goes to standard error.

Examples:
  cometphot dust outputs/photometry.csv --band R --system vega --out outputs/dust.csv
  cometphot dust 3I_lightcurve.csv --band R --system vega --n-index 3.8 --n-index-err 0.3 \\
      --aperture-km 10000 --out dust_3I.csv
  cometphot dust data/real/comet-lightcurves/67P_ATLAS.csv --filter o --band o --system ab \\
      --aperture-arcsec 5 --out 67P_dust.csv";

#[derive(Debug, Args)]
#[command(long_about = DUST_HELP)]
pub struct DustArgs {
    #[command(flatten)]
    pub input: LightcurveInput,
    /// Band of the photometry, looked up in the Willmer 2018 table (e.g. V, R, r, g).
    #[arg(long)]
    pub band: Option<String>,
    /// Magnitude system of the photometry: vega, ab or st.
    #[arg(long, default_value = "vega")]
    pub system: String,
    /// The Sun's apparent magnitude at 1 au in the band and system of the data (instead of
    /// the table; --band, if given, labels it).
    #[arg(long, allow_hyphen_values = true)]
    pub m_sun: Option<f64>,
    /// Geometric albedo p of the grains.
    #[arg(long, default_value_t = DEFAULT_ALBEDO)]
    pub albedo: f64,
    /// Grain density ρ_d (kg/m³).
    #[arg(long, default_value_t = DEFAULT_GRAIN_DENSITY_KG_M3, allow_hyphen_values = true)]
    pub density: f64,
    /// Effective grain radius a (µm).
    #[arg(long, default_value_t = DEFAULT_GRAIN_RADIUS_UM, allow_hyphen_values = true)]
    pub radius_um: f64,
    /// Ejection speed v (m/s).
    #[arg(long, default_value_t = DEFAULT_SPEED_M_S, allow_hyphen_values = true)]
    pub speed_m_s: f64,
    /// Aperture radius ℓ at the comet (km), fixed linear.
    #[arg(long, conflicts_with = "aperture_arcsec", allow_hyphen_values = true)]
    pub aperture_km: Option<f64>,
    /// Aperture radius on the sky (arcsec), fixed angular: ℓ = θ × 725.27 km × Δ.
    #[arg(long, allow_hyphen_values = true)]
    pub aperture_arcsec: Option<f64>,
    /// Phase law: linear, schleicher-marcus (alias halley-marcus) or hg.
    #[arg(long, default_value = "linear")]
    pub phase_law: String,
    /// Linear phase coefficient β_α (mag/deg).
    #[arg(long, default_value_t = 0.04, allow_hyphen_values = true)]
    pub phase_coeff: f64,
    /// Uncertainty of --phase-coeff (mag/deg), propagated (linear law only).
    #[arg(long, default_value_t = 0.02, allow_hyphen_values = true)]
    pub phase_coeff_err: f64,
    /// Slope parameter G of the hg law.
    #[arg(long, default_value_t = 0.15)]
    pub hg_g: f64,
    /// rH (au) at which the trends are read.
    #[arg(long, default_value_t = DEFAULT_INTERPOLATION_RH_AU)]
    pub at_rh: f64,
    /// Lightcurve index n (from `cometphot fit`) to check the 2 − n relation.
    #[arg(long, allow_hyphen_values = true)]
    pub n_index: Option<f64>,
    /// Uncertainty of --n-index.
    #[arg(long, default_value_t = 0.0, requires = "n_index")]
    pub n_index_err: f64,
    /// Only this filter.
    #[arg(long)]
    pub filter: Option<String>,
    /// Per-epoch table (.csv or .parquet); `<stem>_trend.json` is written beside it.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

#[derive(Debug, Serialize)]
struct TrendJson {
    quantity: &'static str,
    unit: &'static str,
    index: f64,
    index_err_statistical: f64,
    index_err_phase: f64,
    index_err: f64,
    chi2_dof: Option<f64>,
    n_points: usize,
    rh_min_au: f64,
    rh_max_au: f64,
    at_rh_au: f64,
    value_at_rh: f64,
    value_err_statistical: f64,
    value_err_phase: f64,
    value_err: f64,
    extrapolated: bool,
}

impl TrendJson {
    fn new(t: &DustTrend) -> TrendJson {
        let (quantity, unit) = match t.quantity {
            TrendQuantity::CrossSection => ("cross_section", "km2"),
            TrendQuantity::Production => ("production", "kg/s"),
        };
        TrendJson {
            quantity,
            unit,
            index: t.fit.index,
            index_err_statistical: t.fit.index_err,
            index_err_phase: t.index_err_phase,
            index_err: t.index_err_total(),
            chi2_dof: t.fit.reduced_chi2(),
            n_points: t.fit.n_points,
            rh_min_au: t.fit.rh_min_au,
            rh_max_au: t.fit.rh_max_au,
            at_rh_au: t.at.rh_au,
            value_at_rh: t.at.value,
            value_err_statistical: t.at.value_err,
            value_err_phase: t.at_err_phase,
            value_err: t.at.value_err.hypot(t.at_err_phase),
            extrapolated: t.at.extrapolated,
        }
    }
}

#[derive(Debug, Serialize)]
struct CheckJson {
    n: f64,
    n_err: f64,
    expected_cross_section_index: f64,
    expected_production_index: f64,
    cross_section_consistent: bool,
    production_consistent: bool,
    cross_section_message: String,
    production_message: String,
}

#[derive(Debug, Serialize)]
struct DustJson {
    input: String,
    n_points: usize,
    filter: Option<String>,
    assumptions: serde_json::Map<String, serde_json::Value>,
    assumptions_text: String,
    aperture_source: String,
    cross_section: TrendJson,
    production: TrendJson,
    two_minus_n_check: Option<CheckJson>,
    software: String,
}

/// The assumptions from the options, checked.
pub(crate) fn assumptions_from(
    band: Option<&str>,
    system: &str,
    m_sun: Option<f64>,
) -> anyhow::Result<SolarMagnitude> {
    let system = MagSystem::parse(system).context("--system")?;
    match (m_sun, band) {
        (Some(mag), band) => {
            Ok(SolarMagnitude::custom(band.unwrap_or("user"), system, mag).context("--m-sun")?)
        }
        (None, Some(band)) => Ok(SolarMagnitude::lookup(band, system).context("--band")?),
        (None, None) => bail!(
            "state the band and system of the photometry: --band R --system vega (m_sun from \
             Willmer 2018), or give --m-sun MAG"
        ),
    }
}

fn phase_correction(args: &DustArgs) -> anyhow::Result<PhaseCorrection> {
    let law = match PhaseLaw::parse(&args.phase_law, None).context("--phase-law")? {
        PhaseLaw::Linear { .. } => PhaseLaw::Linear {
            coeff_mag_per_deg: args.phase_coeff,
        },
        PhaseLaw::HG { .. } => PhaseLaw::HG { g: args.hg_g },
        other => other,
    };
    let correction = PhaseCorrection {
        law,
        coeff_err_mag_per_deg: if matches!(law, PhaseLaw::Linear { .. }) {
            args.phase_coeff_err
        } else {
            0.0
        },
    };
    correction.validate().context("phase law options")?;
    Ok(correction)
}

/// The distinct finite values of the table's `radius_km` column, if it has one.
/// The aperture ℓ: the options, else the table's `radius_km`, else the DESIGN default.
fn aperture(
    args: &DustArgs,
    table_radius_km: Option<f64>,
) -> anyhow::Result<(ApertureRadius, String)> {
    if let Some(km) = args.aperture_km {
        return Ok((ApertureRadius::FixedKm(km), "--aperture-km".into()));
    }
    if let Some(arcsec) = args.aperture_arcsec {
        return Ok((
            ApertureRadius::FixedArcsec(arcsec),
            "--aperture-arcsec".into(),
        ));
    }
    match table_radius_km {
        Some(km) => Ok((
            ApertureRadius::FixedKm(km),
            "the table's radius_km column".into(),
        )),
        None => Ok((
            ApertureRadius::FixedKm(DEFAULT_APERTURE_RADIUS_KM),
            "DESIGN default (no --aperture-km/--aperture-arcsec and no radius_km column): \
             check it is the aperture of the photometry"
                .into(),
        )),
    }
}

fn epoch_table(
    points: &[LightcurvePoint],
    epochs: &[DustEpoch],
    assumptions: &DustAssumptions,
) -> anyhow::Result<DataFrame> {
    let f = |get: &dyn Fn(&DustEpoch) -> f64| -> Vec<f64> { epochs.iter().map(get).collect() };
    let mut columns = vec![
        Column::new(
            "row".into(),
            points.iter().map(|p| p.row as u64).collect::<Vec<_>>(),
        ),
        Column::new(
            "mjd".into(),
            points.iter().map(|p| p.time_mjd).collect::<Vec<_>>(),
        ),
        Column::new(
            "filter".into(),
            points.iter().map(|p| p.filter.clone()).collect::<Vec<_>>(),
        ),
        Column::new("rh_au".into(), f(&|e| e.rh_au)),
        Column::new("delta_au".into(), f(&|e| e.delta_au)),
        Column::new("phase_deg".into(), f(&|e| e.phase_deg)),
        Column::new("mag".into(), f(&|e| e.mag)),
        Column::new("mag_err".into(), f(&|e| e.mag_err)),
        Column::new(
            "phase_correction_mag".into(),
            f(&|e| e.mag - 5.0 * (e.rh_au * e.delta_au).log10() - e.h_mag),
        ),
        Column::new("h_mag".into(), f(&|e| e.h_mag)),
        Column::new("h_err_mag".into(), f(&|e| e.h_err_mag)),
        Column::new("aperture_radius_km".into(), f(&|e| e.aperture_radius_km)),
        Column::new("cross_section_km2".into(), f(&|e| e.cross_section_km2)),
        Column::new(
            "cross_section_err_km2".into(),
            f(&|e| e.cross_section_err_km2),
        ),
        Column::new("afrho_cm".into(), f(&|e| e.afrho_cm)),
        Column::new("afrho_err_cm".into(), f(&|e| e.afrho_err_cm)),
        Column::new("a0frho_cm".into(), f(&|e| e.a0frho_cm)),
        Column::new("a0frho_err_cm".into(), f(&|e| e.a0frho_err_cm)),
        Column::new("dust_mass_kg".into(), f(&|e| e.dust_mass_kg)),
        Column::new("dust_mass_err_kg".into(), f(&|e| e.dust_mass_err_kg)),
        Column::new("residence_time_days".into(), f(&|e| e.residence_time_days)),
        Column::new("production_kg_s".into(), f(&|e| e.production_kg_s)),
        Column::new("production_err_kg_s".into(), f(&|e| e.production_err_kg_s)),
    ];
    for (key, value) in assumptions.key_values() {
        // The table's aperture_radius_km column holds ℓ per epoch already.
        let key = if key == "aperture_radius_km" {
            "assumed_aperture_radius_km"
        } else {
            key
        };
        columns.push(Column::new(key.into(), vec![value; epochs.len()]));
    }
    Ok(DataFrame::new_infer_height(columns)?)
}

fn trend_path(out: &Path) -> PathBuf {
    let stem = out
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "dust".into());
    out.with_file_name(format!("{stem}_trend.json"))
}

pub fn run(args: DustArgs, verbosity: Verbosity) -> anyhow::Result<i32> {
    let m_sun = assumptions_from(args.band.as_deref(), &args.system, args.m_sun)?;
    let LoadedLightcurve {
        mut points,
        name,
        radius_km,
        ..
    } = args.input.load(verbosity)?;
    let (aperture, aperture_source) = aperture(&args, radius_km)?;
    let assumptions = DustAssumptions {
        albedo: args.albedo,
        m_sun,
        grain_density_kg_m3: args.density,
        grain_radius_um: args.radius_um,
        speed_m_s: args.speed_m_s,
        aperture,
        phase_law: phase_correction(&args)?,
    };
    assumptions.validate().context("invalid dust assumptions")?;
    if !(args.at_rh.is_finite() && args.at_rh > 0.0) {
        bail!(
            "--at-rh must be a positive number of au (got {})",
            args.at_rh
        );
    }

    if let Some(filter) = &args.filter {
        points.retain(|p| &p.filter == filter);
        if points.is_empty() {
            bail!("{name}: no point in filter '{filter}'");
        }
    } else {
        let mut filters: Vec<&str> = points.iter().map(|p| p.filter.as_str()).collect();
        filters.sort_unstable();
        filters.dedup();
        if filters.len() > 1 {
            bail!(
                "{name} holds several filters ({}); one m_sun applies to one band: choose one \
                 with --filter",
                filters.join(", ")
            );
        }
    }
    validate(&points, &name)?;

    let photometry: Vec<EpochPhotometry> = points
        .iter()
        .map(|p| EpochPhotometry {
            rh_au: p.rh_au,
            delta_au: p.delta_au,
            phase_deg: p.phase_deg,
            mag: p.mag,
            mag_err: p.mag_err,
        })
        .collect();
    let epochs = photometry
        .iter()
        .zip(&points)
        .map(|(e, p)| {
            dust_epoch(e, &assumptions)
                .with_context(|| format!("{name}, row {}: dust quantities", p.row))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let ce_trend = dust_trend(
        &photometry,
        &assumptions,
        TrendQuantity::CrossSection,
        args.at_rh,
    )
    .with_context(|| format!("{name}: C_e trend"))?;
    let q_trend = dust_trend(
        &photometry,
        &assumptions,
        TrendQuantity::Production,
        args.at_rh,
    )
    .with_context(|| format!("{name}: dM/dt trend"))?;

    let check = match args.n_index {
        None => None,
        Some(n) => {
            let slope = match assumptions.aperture {
                ApertureRadius::FixedArcsec(_) => Some(log_slope(
                    &points
                        .iter()
                        .map(|p| (p.rh_au, p.delta_au))
                        .collect::<Vec<_>>(),
                )?),
                ApertureRadius::FixedKm(_) => None,
            };
            let expected =
                expected_indices(n, args.n_index_err, assumptions.aperture.kind(), slope)
                    .context("--n-index")?;
            // The measured index error includes the phase coefficient's systematic.
            let with_phase = |t: &DustTrend| {
                let mut fit = t.fit.clone();
                fit.index_err = t.index_err_total();
                fit
            };
            let ce_check: IndexCheck = check_index(&with_phase(&ce_trend), &expected, false);
            let q_check: IndexCheck = check_index(&with_phase(&q_trend), &expected, true);
            Some(CheckJson {
                n,
                n_err: args.n_index_err,
                expected_cross_section_index: expected.cross_section_index,
                expected_production_index: expected.production_index,
                cross_section_consistent: ce_check.consistent,
                production_consistent: q_check.consistent,
                cross_section_message: ce_check.message,
                production_message: q_check.message,
            })
        }
    };

    let json = DustJson {
        input: name.clone(),
        n_points: points.len(),
        filter: args
            .filter
            .clone()
            .or_else(|| points.first().map(|p| p.filter.clone())),
        assumptions: assumptions
            .key_values()
            .into_iter()
            .map(|(k, v)| {
                let value = v
                    .parse::<f64>()
                    .ok()
                    .and_then(serde_json::Number::from_f64)
                    .map(serde_json::Value::Number)
                    .unwrap_or(serde_json::Value::String(v));
                (k.to_string(), value)
            })
            .collect(),
        assumptions_text: assumptions.describe(),
        aperture_source: aperture_source.clone(),
        cross_section: TrendJson::new(&ce_trend),
        production: TrendJson::new(&q_trend),
        two_minus_n_check: check,
        software: format!("cometphot {}", env!("CARGO_PKG_VERSION")),
    };

    let mut df = epoch_table(&points, &epochs, &assumptions)?;
    match &args.out {
        Some(out) => {
            write_table(&mut df, out).with_context(|| format!("cannot write {}", out.display()))?;
            let path = trend_path(out);
            let text = serde_json::to_string_pretty(&json)?;
            write_text_atomic(&path, &text)
                .with_context(|| format!("cannot write {}", path.display()))?;
        }
        None => write_table_or_stdout(&mut df, None).context("writing the table")?,
    }
    if verbosity != Verbosity::Quiet {
        eprintln!("{}", summary(&json));
    }
    Ok(EXIT_OK)
}

fn summary(json: &DustJson) -> String {
    let ce = &json.cross_section;
    let q = &json.production;
    let mut text = format!(
        "{} epochs of {} over rH = {:.2}–{:.2} au: C_e ∝ rH^({:.2} ± {:.2}), {:.3e} ± {:.2e} km² \
         at {:.2} au; dM/dt ∝ rH^({:.2} ± {:.2}), {:.3e} ± {:.2e} kg/s at {:.2} au{} (errors: \
         statistical and phase coefficient in quadrature).",
        json.n_points,
        json.input,
        ce.rh_min_au,
        ce.rh_max_au,
        ce.index,
        ce.index_err,
        ce.value_at_rh,
        ce.value_err,
        ce.at_rh_au,
        q.index,
        q.index_err,
        q.value_at_rh,
        q.value_err,
        q.at_rh_au,
        if q.extrapolated {
            " (EXTRAPOLATED outside the rH range)"
        } else {
            ""
        },
    );
    if let Some(c) = &json.two_minus_n_check {
        text.push_str(&format!(
            " 2 − n check: {}; {}.",
            c.cross_section_message, c.production_message
        ));
    }
    text.push_str(&format!(
        " Assumptions: {} (aperture from {}).",
        json.assumptions_text, json.aperture_source
    ));
    text
}
