//! `cometphot grains`: radiation pressure and turnaround of grains at given dates, and the
//! (a, v) region consistent with a morphology sequence (issue 6 items 3–4).

use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::Args;
use polars::prelude::{Column, DataFrame};

use cometphot::dust::grains::{
    infer, log_grid, predict, GrainCriterion, Morphology, MorphologyDate, DEFAULT_SEEING_ARCSEC,
    TAIL_FACTOR,
};
use cometphot::dust::syndyne::{pa_difference_deg, synchrone, syndyne};
use cometphot::ephem::elements::{builtin, read_elements_file};
use cometphot::ephem::geometry::observe;
use cometphot::ephem::orbit::CometElements;
use cometphot::ephem::site::Site;
use cometphot::ephem::time::UtcInstant;
use cometphot::table::write_table_or_stdout;

use super::{Verbosity, EXIT_OK};

const GRAINS_HELP: &str = "\
Radiation pressure on grains of radius a and density ρ_d (β = 5.74e-4 Q_pr / (ρ_d a)) and the
turnaround of grains launched sunward at v: X = v²/(2 β g(rH)), T = v/(β g(rH)), in km and in
arcsec both face-on (X / 725.27 km Δ) and projected with the phase angle (× sin α); plus the
position angles of the β syndyne (grains released 1–100 d earlier) and of the synchrone of the
activity onset (β from 0.001 to 1), beside PsAng (antisolar) and PsAMV (−velocity).

With --dates: one row per date (geometry from the built-in orbit or --elements, seen from
--site). With --morphology FILE.csv (columns date, morphology = fan|tail|both, optional
tail_pa_deg, tail_length_arcsec; lines starting with # are comments): a grid of a from 1 µm to
10 mm and v from 0.1 to 100 m/s (log-spaced), each cell marked consistent when the turnaround
model predicts the labelled morphology on every date. Criterion (src/dust/grains.rs):
  tail formed  ⇔ time since --activity-start ≥ (1+√2) T (sunward grains have turned around and
                 passed X on the antisunward side);
  fan visible  ⇔ X / (725.27 km Δ) ≥ --seeing (face-on: the fountain's width), or T > time
                 since onset;
  fan ⇔ fan visible and no tail; tail ⇔ tail formed and no resolvable fan; both ⇔ both;
  a tail length L requires ½ β g t² sin α / (725.27 km Δ) ≥ L.
The best estimate is the centroid in log a, log v of the consistent cells.

Outputs: --out FILE.csv (standard output without it): the per-date table, or with --morphology
the grid (a_um, v_m_s, beta, consistent, reason) and FILE_dates.csv with the per-date
prediction at the given --radius-um/--speed-m-s. Summary on standard error, assumptions
(ρ_d, Q_pr, seeing, activity onset, criterion) included.

Examples:
  cometphot grains --object 3I --radius-um 100 --density 500 --speed-m-s 5 \\
      --dates 2025-07-03,2025-08-01
  cometphot grains --object 3I --morphology data/reference/morphology_3I_2025.csv \\
      --activity-start 2025-06-01 --out grains_3I.csv";

#[derive(Debug, Args)]
#[command(long_about = GRAINS_HELP)]
pub struct GrainsArgs {
    /// Comet: a built-in orbit (3I, 2I, ...) or the name to pick from --elements.
    #[arg(long)]
    pub object: String,
    /// Orbital elements (TOML or MPC comet-format lines).
    #[arg(long)]
    pub elements: Option<PathBuf>,
    /// Observer: a site name, MPC code, LON,LAT,ALT_M or geocentric.
    #[arg(long, default_value = "geocentric", allow_hyphen_values = true)]
    pub site: String,
    /// Grain radius a (µm).
    #[arg(long, default_value_t = 100.0, allow_hyphen_values = true)]
    pub radius_um: f64,
    /// Grain density ρ_d (kg/m³).
    #[arg(long, default_value_t = 500.0, allow_hyphen_values = true)]
    pub density: f64,
    /// Radiation-pressure efficiency Q_pr.
    #[arg(long, default_value_t = 1.0)]
    pub q_pr: f64,
    /// Ejection speed v (m/s).
    #[arg(long, default_value_t = 5.0, allow_hyphen_values = true)]
    pub speed_m_s: f64,
    /// Dates (ISO, comma-separated), e.g. 2025-07-03,2025-08-01T22:00.
    #[arg(long, value_delimiter = ',', conflicts_with = "morphology")]
    pub dates: Vec<String>,
    /// Morphology table: date, morphology (fan|tail|both), [tail_pa_deg], [tail_length_arcsec].
    #[arg(long)]
    pub morphology: Option<PathBuf>,
    /// When activity began (ISO date); ages and the tail criterion count from it.
    #[arg(long)]
    pub activity_start: Option<String>,
    /// Smallest resolvable extent (arcsec) for the fan criterion.
    #[arg(long, default_value_t = DEFAULT_SEEING_ARCSEC)]
    pub seeing: f64,
    /// Grid points in a (1 µm – 10 mm) and in v (0.1 – 100 m/s).
    #[arg(long, default_value_t = 41)]
    pub grid_radius: usize,
    #[arg(long, default_value_t = 31)]
    pub grid_speed: usize,
    /// Output table (.csv or .parquet).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// (date, morphology, tail_pa_deg, tail_length_arcsec) of one labelled date.
pub(crate) type MorphologyRow = (String, Morphology, Option<f64>, Option<f64>);

fn parse_date(text: &str) -> anyhow::Result<UtcInstant> {
    let t = text.trim();
    let full = if t.len() == 10 {
        format!("{t}T00:00:00")
    } else {
        t.to_string()
    };
    UtcInstant::parse_iso(&full).with_context(|| format!("date '{t}' is not an ISO date"))
}

/// (date, morphology, tail_pa_deg, tail_length_arcsec) rows of a morphology CSV.
pub(crate) fn read_morphology(path: &std::path::Path) -> anyhow::Result<Vec<MorphologyRow>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut lines = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty() && !l.trim_start().starts_with('#'));
    let Some((_, header)) = lines.next() else {
        bail!("{}: no header line", path.display());
    };
    let names: Vec<String> = header
        .split(',')
        .map(|s| s.trim().trim_start_matches('\u{feff}').to_ascii_lowercase())
        .collect();
    let col = |n: &str| names.iter().position(|x| x == n);
    let (Some(ic), Some(im)) = (col("date"), col("morphology")) else {
        bail!(
            "{}: needs columns date and morphology (found: {})",
            path.display(),
            names.join(", ")
        );
    };
    let (ipa, ilen) = (col("tail_pa_deg"), col("tail_length_arcsec"));
    let mut rows = Vec::new();
    for (i, line) in lines {
        let f: Vec<&str> = line.split(',').map(str::trim).collect();
        let get = |k: Option<usize>| -> anyhow::Result<Option<f64>> {
            match k.and_then(|k| f.get(k)).filter(|s| !s.is_empty()) {
                None => Ok(None),
                Some(s) => Ok(Some(s.parse().with_context(|| {
                    format!("{} line {}: '{s}' is not a number", path.display(), i + 1)
                })?)),
            }
        };
        let date = f.get(ic).copied().unwrap_or_default().to_string();
        let morphology = Morphology::parse(f.get(im).copied().unwrap_or_default())
            .with_context(|| format!("{} line {}", path.display(), i + 1))?;
        rows.push((date, morphology, get(ipa)?, get(ilen)?));
    }
    if rows.is_empty() {
        bail!("{}: no dates", path.display());
    }
    Ok(rows)
}

/// Geometry of the labelled dates from the orbit.
pub(crate) fn morphology_dates(
    elements: &CometElements,
    site: &Site,
    rows: &[MorphologyRow],
    onset_mjd: f64,
) -> anyhow::Result<Vec<MorphologyDate>> {
    rows.iter()
        .map(|(date, morphology, pa, len)| {
            let t = parse_date(date)?;
            let obs = observe(elements, site, t).with_context(|| format!("geometry at {date}"))?;
            let days = t.mjd() - onset_mjd;
            if days <= 0.0 {
                bail!("date {date} is not after the activity start");
            }
            Ok(MorphologyDate {
                date: date.clone(),
                days_since_onset: days,
                morphology: *morphology,
                rh_au: obs.rh_au,
                delta_au: obs.delta_au,
                phase_deg: obs.phase_deg,
                tail_pa_deg: *pa,
                tail_length_arcsec: *len,
            })
        })
        .collect()
}

pub fn run(args: GrainsArgs, verbosity: Verbosity) -> anyhow::Result<i32> {
    for (name, value) in [
        ("--radius-um", args.radius_um),
        ("--density", args.density),
        ("--speed-m-s", args.speed_m_s),
        ("--q-pr", args.q_pr),
        ("--seeing", args.seeing),
    ] {
        if !(value.is_finite() && value > 0.0) {
            bail!("{name} must be a positive number (got {value})");
        }
    }
    let elements = match &args.elements {
        Some(path) => read_elements_file(path, Some(&args.object))?,
        None => builtin(&args.object)?,
    };
    let site = Site::parse(&args.site)?;
    let criterion = GrainCriterion {
        density_kg_m3: args.density,
        q_pr: args.q_pr,
        seeing_arcsec: args.seeing,
    };
    let rows: Vec<MorphologyRow> = match &args.morphology {
        Some(path) => read_morphology(path)?,
        None if !args.dates.is_empty() => args
            .dates
            .iter()
            .map(|d| (d.clone(), Morphology::Both, None, None))
            .collect(),
        None => bail!("give --dates DATE[,DATE...] or --morphology FILE.csv"),
    };
    let first_mjd = rows
        .iter()
        .map(|r| parse_date(&r.0).map(|t| t.mjd()))
        .collect::<anyhow::Result<Vec<_>>>()?
        .into_iter()
        .fold(f64::INFINITY, f64::min);
    let (onset_mjd, onset_text) = match &args.activity_start {
        Some(d) => (parse_date(d)?.mjd(), d.clone()),
        None if args.morphology.is_some() => {
            bail!("--morphology needs --activity-start DATE (the tail criterion counts from it)")
        }
        // Per-date table only: ages shown from 100 d before the first date.
        None => (
            first_mjd - 100.0,
            "100 d before the first date (default)".into(),
        ),
    };
    let dates = morphology_dates(&elements, &site, &rows, onset_mjd)?;
    let assumptions = format!(
        "ρ_d = {} kg/m³; Q_pr = {}; seeing {}″; activity onset {}; tail when t ≥ (1+√2) T = {:.3} T; \
         fan when X (face-on) ≥ seeing or T > t; turnaround at the date's rH",
        args.density, args.q_pr, args.seeing, onset_text, TAIL_FACTOR
    );

    // Per-date predictions for the given a and v, with syndyne/synchrone position angles.
    let mut per_date = Vec::new();
    for d in &dates {
        let p = predict(args.radius_um, args.speed_m_s, d, &criterion)?;
        let t = parse_date(&d.date)?;
        let ages: Vec<f64> = [1.0, 10.0, 100.0].to_vec();
        let syn = syndyne(&elements, &site, t, p.beta.min(1.0), &ages)?;
        let betas = [0.001, 0.01, 0.1, 1.0];
        let chrone = synchrone(&elements, &site, t, d.days_since_onset, &betas)?;
        per_date.push((d.clone(), p, syn, chrone));
    }
    let dates_df = {
        let s = |f: &dyn Fn(&(MorphologyDate, _, _, _)) -> f64| -> Vec<f64> {
            per_date.iter().map(f).collect()
        };
        let mut columns = vec![
            Column::new(
                "date".into(),
                per_date
                    .iter()
                    .map(|r| r.0.date.clone())
                    .collect::<Vec<_>>(),
            ),
            Column::new("rh_au".into(), s(&|r| r.0.rh_au)),
            Column::new("delta_au".into(), s(&|r| r.0.delta_au)),
            Column::new("phase_deg".into(), s(&|r| r.0.phase_deg)),
            Column::new("days_since_onset".into(), s(&|r| r.0.days_since_onset)),
            Column::new("beta".into(), s(&|r| r.1.beta)),
            Column::new("turnaround_km".into(), s(&|r| r.1.turnaround.distance_km)),
            Column::new(
                "turnaround_face_on_arcsec".into(),
                s(&|r| r.1.turnaround_face_on_arcsec),
            ),
            Column::new(
                "turnaround_projected_arcsec".into(),
                s(&|r| r.1.turnaround_projected_arcsec),
            ),
            Column::new("turnaround_days".into(), s(&|r| r.1.turnaround.time_days)),
            Column::new("sun_pa_deg".into(), s(&|r| r.2.observation.sun_pa_deg)),
            Column::new(
                "neg_vel_pa_deg".into(),
                s(&|r| r.2.observation.neg_vel_pa_deg),
            ),
        ];
        for (i, age) in [1, 10, 100].iter().enumerate() {
            columns.push(Column::new(
                format!("syndyne_pa_deg_age{age}d").into(),
                s(&|r| r.2.grains[i].pa_deg),
            ));
        }
        for (i, b) in ["0.001", "0.01", "0.1", "1"].iter().enumerate() {
            columns.push(Column::new(
                format!("synchrone_onset_pa_deg_beta{b}").into(),
                s(&|r| r.3.grains[i].pa_deg),
            ));
        }
        columns.push(Column::new(
            "tail_pa_minus_sun_pa_deg".into(),
            per_date
                .iter()
                .map(|r| {
                    r.0.tail_pa_deg
                        .map(|pa| pa_difference_deg(pa, r.2.observation.sun_pa_deg))
                })
                .collect::<Vec<_>>(),
        ));
        if args.morphology.is_some() {
            columns.push(Column::new(
                "morphology".into(),
                per_date
                    .iter()
                    .map(|r| r.0.morphology.name().to_string())
                    .collect::<Vec<_>>(),
            ));
            columns.push(Column::new(
                "model_reason".into(),
                per_date
                    .iter()
                    .map(|r| r.1.reason.clone())
                    .collect::<Vec<_>>(),
            ));
        }
        columns.push(Column::new(
            "radius_um".into(),
            vec![args.radius_um; per_date.len()],
        ));
        columns.push(Column::new(
            "speed_m_s".into(),
            vec![args.speed_m_s; per_date.len()],
        ));
        columns.push(Column::new(
            "assumptions".into(),
            vec![assumptions.clone(); per_date.len()],
        ));
        DataFrame::new_infer_height(columns)?
    };

    let mut text = String::new();
    for (d, p, syn, _) in &per_date {
        text.push_str(&format!(
            "{}: rH = {:.2} au, Δ = {:.2} au, α = {:.1}°: β = {:.4}, X = {:.0} km ({:.2}″ face-on, \
             {:.2}″ projected), T = {:.1} d; PsAng {:.1}°, PsAMV {:.1}°, β syndyne at 10 d PA {:.1}°. ",
            d.date,
            d.rh_au,
            d.delta_au,
            d.phase_deg,
            p.beta,
            p.turnaround.distance_km,
            p.turnaround_face_on_arcsec,
            p.turnaround_projected_arcsec,
            p.turnaround.time_days,
            syn.observation.sun_pa_deg,
            syn.observation.neg_vel_pa_deg,
            syn.grains[1].pa_deg,
        ));
    }

    match &args.morphology {
        None => {
            let mut df = dates_df;
            write_table_or_stdout(&mut df, args.out.as_deref()).context("writing the table")?;
        }
        Some(_) => {
            let radii = log_grid(1.0, 10_000.0, args.grid_radius)?;
            let speeds = log_grid(0.1, 100.0, args.grid_speed)?;
            let result = infer(&dates, &criterion, &radii, &speeds)?;
            let cells = &result.cells;
            let mut grid = DataFrame::new_infer_height(vec![
                Column::new(
                    "a_um".into(),
                    cells.iter().map(|c| c.radius_um).collect::<Vec<_>>(),
                ),
                Column::new(
                    "v_m_s".into(),
                    cells.iter().map(|c| c.speed_m_s).collect::<Vec<_>>(),
                ),
                Column::new(
                    "beta".into(),
                    cells.iter().map(|c| c.beta).collect::<Vec<_>>(),
                ),
                Column::new(
                    "consistent".into(),
                    cells.iter().map(|c| c.consistent).collect::<Vec<_>>(),
                ),
                Column::new(
                    "reason".into(),
                    cells.iter().map(|c| c.reason.clone()).collect::<Vec<_>>(),
                ),
                Column::new("assumptions".into(), vec![assumptions.clone(); cells.len()]),
            ])?;
            write_table_or_stdout(&mut grid, args.out.as_deref()).context("writing the grid")?;
            if let Some(out) = &args.out {
                let stem = out
                    .file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_else(|| "grains".into());
                let path = out.with_file_name(format!("{stem}_dates.csv"));
                let mut df = dates_df;
                cometphot::table::write_table(&mut df, &path)
                    .with_context(|| format!("cannot write {}", path.display()))?;
            }
            let given = result
                .nearest(args.radius_um, args.speed_m_s)
                .map(|c| c.consistent)
                .unwrap_or(false);
            match (result.best_radius_um, result.best_speed_m_s) {
                (Some(a), Some(v)) => text.push_str(&format!(
                    "Consistent region: {} of {} cells, a {:.3}–{:.0} µm, v {:.2}–{:.1} m/s; best \
                     estimate (log-space centroid) a ≈ {a:.0} µm (±{:.2} dex), v ≈ {v:.1} m/s \
                     (±{:.2} dex). The cell nearest a = {} µm, v = {} m/s is {}. ",
                    result.n_consistent,
                    cells.len(),
                    result.radius_range_um.unwrap().0,
                    result.radius_range_um.unwrap().1,
                    result.speed_range_m_s.unwrap().0,
                    result.speed_range_m_s.unwrap().1,
                    result.radius_spread_dex.unwrap(),
                    result.speed_spread_dex.unwrap(),
                    args.radius_um,
                    args.speed_m_s,
                    if given { "inside" } else { "OUTSIDE" },
                )),
                _ => text.push_str("No (a, v) cell is consistent with every date. "),
            }
        }
    }
    text.push_str(&format!("Assumptions: {assumptions}."));
    if verbosity != Verbosity::Quiet {
        eprintln!("{text}");
    }
    Ok(EXIT_OK)
}
