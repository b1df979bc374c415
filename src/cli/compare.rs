//! `cometphot compare`: two comets side by side at a matched heliocentric distance, what
//! cometphot measured beside the literature.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use clap::Args;
use polars::prelude::{Column, DataFrame};

use cometphot::dust::compare::{compare, CometSummary, ComparisonRow, Measured};
use cometphot::table::write_table;

use super::{Verbosity, EXIT_OK};

const COMPARE_HELP: &str = "\
Builds a side-by-side table of two comets at a matched rH (--at-rh, default 2 au): the
heliocentric index n, the index of dM/dt, dM/dt and C_e at that rH, the grain radius and speed
assumed, and the turnaround distance and time of sunward grains there — what cometphot measured
(from the JSON of `cometphot fit` and the <stem>_trend.json of `cometphot dust` for each comet)
beside the literature values with their citations (data/reference/
literature_activity_parameters.csv, as stated in the cited abstracts). Without measurements the
cometphot columns hold only the computed turnaround and the assumed grains.

Examples:
  cometphot compare --object 3I --reference 2I
  cometphot compare --fit 3I_fit.json --dust 3I_dust_trend.json \\
      --reference-fit 2I_fit.json --reference-dust 2I_dust_trend.json --out comparison.csv";

#[derive(Debug, Args)]
#[command(long_about = COMPARE_HELP)]
pub struct CompareArgs {
    /// The comet (name as in the literature table: 3I, 2I).
    #[arg(long, default_value = "3I")]
    pub object: String,
    /// The comet to compare with.
    #[arg(long, default_value = "2I")]
    pub reference: String,
    /// JSON of `cometphot fit` for the comet.
    #[arg(long)]
    pub fit: Option<PathBuf>,
    /// `<stem>_trend.json` of `cometphot dust` for the comet.
    #[arg(long)]
    pub dust: Option<PathBuf>,
    /// JSON of `cometphot fit` for the reference comet.
    #[arg(long)]
    pub reference_fit: Option<PathBuf>,
    /// `<stem>_trend.json` of `cometphot dust` for the reference comet.
    #[arg(long)]
    pub reference_dust: Option<PathBuf>,
    /// Heliocentric distance of the comparison (au); must match the dust files'.
    #[arg(long, default_value_t = 2.0)]
    pub at_rh: f64,
    /// Grain radius (µm) when no dust file gives it (both comets).
    #[arg(long, default_value_t = 100.0)]
    pub radius_um: f64,
    /// Grain density (kg/m³) when no dust file gives it.
    #[arg(long, default_value_t = 500.0)]
    pub density: f64,
    /// Ejection speed (m/s) when no dust file gives it.
    #[arg(long, default_value_t = 5.0)]
    pub speed_m_s: f64,
    /// Output table (.csv or .parquet); printed only without it.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

fn read_json(path: &Path) -> anyhow::Result<serde_json::Value> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{}: not valid JSON", path.display()))
}

fn number(json: &serde_json::Value, path: &Path, keys: &[&str]) -> anyhow::Result<f64> {
    let mut value = json;
    for k in keys {
        value = &value[*k];
    }
    value.as_f64().with_context(|| {
        format!(
            "{}: no number at '{}' (is it the right kind of file?)",
            path.display(),
            keys.join(".")
        )
    })
}

fn summary(
    args: &CompareArgs,
    object: &str,
    fit: Option<&Path>,
    dust: Option<&Path>,
) -> anyhow::Result<CometSummary> {
    let mut s = CometSummary {
        object: object.to_string(),
        n_index: None,
        production_index: None,
        production_kg_s: None,
        cross_section_km2: None,
        at_rh_au: args.at_rh,
        grain_radius_um: args.radius_um,
        grain_density_kg_m3: args.density,
        speed_m_s: args.speed_m_s,
        assumptions: None,
    };
    if let Some(path) = fit {
        let json = read_json(path)?;
        s.n_index = Some(Measured {
            value: number(&json, path, &["n"])?,
            err: number(&json, path, &["n_err"])?,
        });
    }
    if let Some(path) = dust {
        let json = read_json(path)?;
        let at = number(&json, path, &["production", "at_rh_au"])?;
        if (at - args.at_rh).abs() > 1e-9 {
            bail!(
                "{}: dust quantities were read at rH = {at} au, the comparison is at {} au; \
                 rerun `cometphot dust --at-rh {}` or give --at-rh {at}",
                path.display(),
                args.at_rh,
                args.at_rh
            );
        }
        let m = |q: &str, v: &str, e: &str| -> anyhow::Result<Measured> {
            Ok(Measured {
                value: number(&json, path, &[q, v])?,
                err: number(&json, path, &[q, e])?,
            })
        };
        s.production_index = Some(m("production", "index", "index_err")?);
        s.production_kg_s = Some(m("production", "value_at_rh", "value_err")?);
        s.cross_section_km2 = Some(m("cross_section", "value_at_rh", "value_err")?);
        s.grain_radius_um = number(&json, path, &["assumptions", "grain_radius_um"])?;
        s.grain_density_kg_m3 = number(&json, path, &["assumptions", "grain_density_kg_m3"])?;
        s.speed_m_s = number(&json, path, &["assumptions", "speed_m_s"])?;
        s.assumptions = json["assumptions_text"].as_str().map(String::from);
    }
    Ok(s)
}

fn table(rows: &[ComparisonRow], object: &str, reference: &str) -> anyhow::Result<DataFrame> {
    let text = |f: &dyn Fn(&ComparisonRow) -> String| rows.iter().map(f).collect::<Vec<_>>();
    let num = |f: &dyn Fn(&ComparisonRow) -> Option<f64>| rows.iter().map(f).collect::<Vec<_>>();
    Ok(DataFrame::new_infer_height(vec![
        Column::new("quantity".into(), text(&|r| r.quantity.clone())),
        Column::new("unit".into(), text(&|r| r.unit.clone())),
        Column::new(
            format!("{object}_cometphot").into(),
            num(&|r| r.object_cometphot),
        ),
        Column::new(
            format!("{object}_cometphot_err").into(),
            num(&|r| r.object_cometphot_err),
        ),
        Column::new(
            format!("{object}_literature").into(),
            text(&|r| r.object_literature.clone()),
        ),
        Column::new(
            format!("{object}_literature_source").into(),
            text(&|r| r.object_literature_source.clone()),
        ),
        Column::new(
            format!("{reference}_cometphot").into(),
            num(&|r| r.reference_cometphot),
        ),
        Column::new(
            format!("{reference}_cometphot_err").into(),
            num(&|r| r.reference_cometphot_err),
        ),
        Column::new(
            format!("{reference}_literature").into(),
            text(&|r| r.reference_literature.clone()),
        ),
        Column::new(
            format!("{reference}_literature_source").into(),
            text(&|r| r.reference_literature_source.clone()),
        ),
        Column::new("note".into(), text(&|r| r.note.clone())),
    ])?)
}

fn cell(value: Option<f64>, err: Option<f64>) -> String {
    match (value, err) {
        (Some(v), Some(e)) if e > 0.0 => format!("{v:.3} ± {e:.3}"),
        (Some(v), _) => format!("{v:.3}"),
        _ => "—".to_string(),
    }
}

pub fn run(args: CompareArgs, verbosity: Verbosity) -> anyhow::Result<i32> {
    if !(args.at_rh.is_finite() && args.at_rh > 0.0) {
        bail!(
            "--at-rh must be a positive number of au (got {})",
            args.at_rh
        );
    }
    let object = summary(
        &args,
        &args.object,
        args.fit.as_deref(),
        args.dust.as_deref(),
    )?;
    let reference = summary(
        &args,
        &args.reference,
        args.reference_fit.as_deref(),
        args.reference_dust.as_deref(),
    )?;
    let rows = compare(&object, &reference)?;
    if let Some(out) = &args.out {
        let mut df = table(&rows, &args.object, &args.reference)?;
        write_table(&mut df, out).with_context(|| format!("cannot write {}", out.display()))?;
    }
    if verbosity != Verbosity::Quiet || args.out.is_none() {
        println!(
            "{:<38} {:>22} {:>22}   literature ({} | {})",
            "quantity", args.object, args.reference, args.object, args.reference
        );
        for r in &rows {
            let unit = if r.unit.is_empty() {
                String::new()
            } else {
                format!(" [{}]", r.unit)
            };
            println!(
                "{:<38} {:>22} {:>22}   {} | {}",
                format!("{}{unit}", r.quantity),
                cell(r.object_cometphot, r.object_cometphot_err),
                cell(r.reference_cometphot, r.reference_cometphot_err),
                if r.object_literature.is_empty() {
                    "—"
                } else {
                    &r.object_literature
                },
                if r.reference_literature.is_empty() {
                    "—"
                } else {
                    &r.reference_literature
                },
            );
        }
        for (name, s) in [(&args.object, &object), (&args.reference, &reference)] {
            match &s.assumptions {
                Some(a) => println!("{name}: dust assumptions: {a}"),
                None => println!(
                    "{name}: no dust measurements given; grains assumed a = {} µm, ρ_d = {} kg/m³, v = {} m/s",
                    s.grain_radius_um, s.grain_density_kg_m3, s.speed_m_s
                ),
            }
        }
        println!("Literature sources: data/reference/literature_activity_parameters.csv (values as stated in the cited abstracts).");
    }
    Ok(EXIT_OK)
}
