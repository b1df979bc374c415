//! `cometphot run`: raw frames to the lightcurve, dust, grains, the comparison and a report in
//! one command, by chaining the other commands with the options of one TOML configuration.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context};
use clap::{Args, Parser};
use polars::prelude::SerReader;
use serde::{Deserialize, Serialize};

use cometphot::simulate::campaign::{builtin_campaign, campaign_toml, run as simulate_campaign};
use cometphot::table::write_text_atomic;

use super::{Cli, Verbosity, EXIT_FAILURE, EXIT_OK, EXIT_SKIPPED};

const RUN_HELP: &str = "\
Runs the whole pipeline: photometry of every night (reduce in memory, WCS, the comet from its
ephemeris, catalogue zero point, fixed aperture) → fit (n with honest errors, broken law) →
dust (C_e, Afρ, dM/dt and their trends) → grains (turnaround, syndynes, the (a, v) region) →
compare (with the reference comet and the literature) → report.md.

The input is a directory of raw frames (one subdirectory per night, or the frames themselves)
or a TOML configuration holding every option (see run.toml in an output directory). With no
argument it runs on the sample: the built-in simulated 3I/ATLAS campaign (22 nights,
July–September 2025, n = 3.8), generated from data/campaigns/3I-2025.toml into
<out>/sample-campaign the first time. The configuration used, completed with defaults, is
written to <out>/run.toml so that a run can be repeated exactly.

Outputs in --out: photometry.csv/.parquet, skipped.csv, fit.json, lightcurve.csv (points with
model and residuals), dust.csv and dust_trend.json, grains.csv, comparison.csv, report.md.

Examples:
  cometphot run
  cometphot run /data/NOT/3I --out results
  cometphot run results/run.toml";

#[derive(Debug, Args)]
#[command(long_about = RUN_HELP)]
pub struct RunArgs {
    /// A directory of raw frames or a TOML configuration; the sample campaign without it.
    pub input: Option<PathBuf>,
    /// Output directory.
    #[arg(long, short, default_value = "outputs")]
    pub out: PathBuf,
}

/// Every option of every step (units in the names). Deserialises with defaults for anything
/// missing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RunConfig {
    /// Raw frames; empty: the sample campaign.
    pub raw_dir: Option<PathBuf>,
    /// Built-in campaign simulated as the sample.
    pub sample_campaign: String,
    pub object: String,
    pub reference: String,
    /// Observer for frames without OBSGEO keywords.
    pub site: String,
    /// Reference catalogue; empty: each night's `catalogue.csv` when present.
    pub catalog: Option<PathBuf>,
    pub radius_km: f64,
    pub annulus_inner_arcsec: f64,
    pub annulus_outer_arcsec: f64,
    pub phase_coeff_mag_per_deg: f64,
    pub phase_coeff_err_mag_per_deg: f64,
    /// `power`, `broken` or `both`.
    pub model: String,
    pub bootstrap: usize,
    /// Band and system of the photometry for m_sun (Willmer 2018).
    pub band: String,
    pub system: String,
    pub albedo: f64,
    pub grain_density_kg_m3: f64,
    pub grain_radius_um: f64,
    pub speed_m_s: f64,
    pub at_rh_au: f64,
    /// Morphology table (date, fan|tail|both) for the grain inference; empty: none.
    pub morphology: Option<PathBuf>,
    pub activity_start: Option<String>,
}

impl Default for RunConfig {
    fn default() -> Self {
        RunConfig {
            raw_dir: None,
            sample_campaign: "3I-2025".into(),
            object: "3I".into(),
            reference: "2I".into(),
            site: "NOT".into(),
            catalog: None,
            radius_km: 10_000.0,
            annulus_inner_arcsec: 30.0,
            annulus_outer_arcsec: 45.0,
            phase_coeff_mag_per_deg: 0.04,
            phase_coeff_err_mag_per_deg: 0.02,
            model: "both".into(),
            bootstrap: 500,
            band: "R".into(),
            system: "vega".into(),
            albedo: 0.1,
            grain_density_kg_m3: 500.0,
            grain_radius_um: 100.0,
            speed_m_s: 5.0,
            at_rh_au: 2.0,
            morphology: Some(PathBuf::from("data/reference/morphology_3I_2025.csv")),
            activity_start: Some("2025-06-01".into()),
        }
    }
}

/// Runs one cometphot command in-process; returns its exit status.
fn step(args: &[String], verbosity: Verbosity) -> anyhow::Result<i32> {
    let mut argv = vec!["cometphot".to_string()];
    argv.extend(args.iter().cloned());
    if verbosity == Verbosity::Quiet {
        argv.push("-q".into());
    }
    let cli =
        Cli::try_parse_from(&argv).with_context(|| format!("internal: {}", argv.join(" ")))?;
    super::run(cli)
}

fn path_arg(p: &Path) -> String {
    p.display().to_string()
}

/// The nights of a raw directory: its subdirectories holding files, else the directory.
fn nights(raw: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(raw)
        .with_context(|| format!("cannot list {}", raw.display()))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    Ok(if dirs.is_empty() {
        vec![raw.to_path_buf()]
    } else {
        dirs
    })
}

/// The sample campaign: the built-in campaign with one science frame and two biases and
/// flats per night, the coma cut inside the sky annulus (so that the truth in the aperture
/// is what a correct measurement returns). Generated once.
fn sample_campaign(config: &RunConfig, out: &Path) -> anyhow::Result<PathBuf> {
    let mut campaign = builtin_campaign(&config.sample_campaign)?;
    campaign.n_bias = 2;
    campaign.n_flat = 2;
    campaign.n_science = 1;
    campaign.coma_outer_radius_arcsec = 25.0;
    let dir = out.join("sample-campaign");
    let marker = dir.join("campaign.toml");
    let wanted = campaign_toml(&campaign)?;
    let current = std::fs::read_to_string(&marker).unwrap_or_default();
    if current != wanted {
        eprintln!(
            "generating the sample campaign {} into {} (once)…",
            config.sample_campaign,
            dir.display()
        );
        simulate_campaign(&campaign, &dir)?;
    }
    Ok(dir)
}

fn concatenate_csv(parts: &[PathBuf], out: &Path) -> anyhow::Result<usize> {
    let mut text = String::new();
    let mut rows = 0;
    for part in parts {
        let Ok(content) = std::fs::read_to_string(part) else {
            continue;
        };
        let mut lines = content.lines();
        let Some(header) = lines.next() else { continue };
        if text.is_empty() {
            text.push_str(header);
            text.push('\n');
        }
        for line in lines {
            text.push_str(line);
            text.push('\n');
            rows += 1;
        }
    }
    write_text_atomic(out, &text).with_context(|| format!("cannot write {}", out.display()))?;
    Ok(rows)
}

fn read_json(path: &Path) -> Option<serde_json::Value> {
    serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()
}

pub fn run(args: RunArgs, verbosity: Verbosity) -> anyhow::Result<i32> {
    let started = Instant::now();
    let config = match &args.input {
        Some(p) if p.extension().is_some_and(|e| e == "toml") => {
            let text = std::fs::read_to_string(p)
                .with_context(|| format!("cannot read {}", p.display()))?;
            toml::from_str(&text)
                .with_context(|| format!("{}: invalid configuration", p.display()))?
        }
        Some(dir) => RunConfig {
            raw_dir: Some(dir.clone()),
            ..RunConfig::default()
        },
        None => RunConfig::default(),
    };
    let out = args.out.clone();
    if let Some(raw) = &config.raw_dir {
        if !raw.is_dir() {
            bail!("{}: not a directory of raw frames", raw.display());
        }
        let (raw_abs, out_abs) = (raw.canonicalize()?, std::path::absolute(&out)?);
        if out_abs.starts_with(&raw_abs) {
            bail!(
                "the output directory {} is inside the input directory {}: choose another --out",
                out.display(),
                raw.display()
            );
        }
    }
    std::fs::create_dir_all(&out).with_context(|| format!("cannot create {}", out.display()))?;
    let raw = match &config.raw_dir {
        Some(dir) => dir.clone(),
        None => sample_campaign(&config, &out)?,
    };
    write_text_atomic(&out.join("run.toml"), &toml::to_string(&config)?)?;

    let say = |text: &str| {
        if verbosity != Verbosity::Quiet {
            eprintln!("{text}");
        }
    };
    let mut skipped_inputs = 0;

    // 1. Photometry, night by night.
    let nights = nights(&raw)?;
    say(&format!(
        "[1/6] photometry of {} night(s) in {}",
        nights.len(),
        raw.display()
    ));
    let photometry_dir = out.join("photometry");
    std::fs::create_dir_all(&photometry_dir)?;
    let mut tables = Vec::new();
    let mut skipped_tables = Vec::new();
    let mut failed_nights = Vec::new();
    for night in &nights {
        let name = night
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "night".into());
        let table = photometry_dir.join(format!("{name}.csv"));
        let mut a = vec![
            "photometry".to_string(),
            path_arg(night),
            "--object".into(),
            config.object.clone(),
            "--site".into(),
            config.site.clone(),
            "--radius-km".into(),
            config.radius_km.to_string(),
            "--annulus-arcsec".into(),
            format!(
                "{},{}",
                config.annulus_inner_arcsec, config.annulus_outer_arcsec
            ),
            "--out".into(),
            path_arg(&table),
        ];
        let catalog = config
            .catalog
            .clone()
            .or_else(|| Some(night.join("catalogue.csv")).filter(|c| c.is_file()));
        if let Some(c) = catalog {
            a.extend(["--catalog".into(), path_arg(&c)]);
        }
        match step(&a, Verbosity::Quiet) {
            Ok(code) => {
                if code == EXIT_SKIPPED {
                    skipped_inputs += 1;
                }
                tables.push(table.clone());
                skipped_tables.push(photometry_dir.join(format!("{name}_skipped.csv")));
            }
            Err(e) => {
                skipped_inputs += 1;
                failed_nights.push((name.clone(), format!("{e:#}")));
                say(&format!("  {name}: skipped: {e:#}"));
            }
        }
    }
    let photometry = out.join("photometry.csv");
    let n_rows = concatenate_csv(&tables, &photometry)?;
    let n_skipped = concatenate_csv(&skipped_tables, &out.join("skipped.csv"))?;
    if n_rows == 0 {
        bail!("no comet measurement in any night of {}", raw.display());
    }
    let mut df = polars::prelude::CsvReadOptions::default()
        .with_has_header(true)
        .try_into_reader_with_file_path(Some(photometry.clone()))?
        .finish()?;
    cometphot::table::write_table(&mut df, &out.join("photometry.parquet"))?;
    say(&format!(
        "      {n_rows} measurement(s), {n_skipped} frame(s) skipped, {} night(s) failed",
        failed_nights.len()
    ));

    // 2. The lightcurve fit.
    say("[2/6] fit");
    let fit_json = out.join("fit.json");
    step(
        &[
            "fit".into(),
            path_arg(&photometry),
            "--object".into(),
            config.object.clone(),
            "--phase-coeff".into(),
            config.phase_coeff_mag_per_deg.to_string(),
            "--phase-coeff-err".into(),
            config.phase_coeff_err_mag_per_deg.to_string(),
            "--model".into(),
            config.model.clone(),
            "--bootstrap".into(),
            config.bootstrap.to_string(),
            "--out".into(),
            path_arg(&fit_json),
            "--points".into(),
            path_arg(&out.join("lightcurve.csv")),
        ],
        verbosity,
    )?;
    let fit = read_json(&fit_json).unwrap_or_default();

    // 3. Dust.
    say("[3/6] dust");
    let mut dust_args = vec![
        "dust".to_string(),
        path_arg(&photometry),
        "--object".into(),
        config.object.clone(),
        "--band".into(),
        config.band.clone(),
        "--system".into(),
        config.system.clone(),
        "--albedo".into(),
        config.albedo.to_string(),
        "--density".into(),
        config.grain_density_kg_m3.to_string(),
        "--radius-um".into(),
        config.grain_radius_um.to_string(),
        "--speed-m-s".into(),
        config.speed_m_s.to_string(),
        "--phase-coeff".into(),
        config.phase_coeff_mag_per_deg.to_string(),
        "--phase-coeff-err".into(),
        config.phase_coeff_err_mag_per_deg.to_string(),
        "--at-rh".into(),
        config.at_rh_au.to_string(),
        "--out".into(),
        path_arg(&out.join("dust.csv")),
    ];
    if let (Some(n), Some(e)) = (fit["n"].as_f64(), fit["n_err"].as_f64()) {
        dust_args.extend([
            "--n-index".into(),
            n.to_string(),
            "--n-index-err".into(),
            e.to_string(),
        ]);
    }
    step(&dust_args, verbosity)?;

    // 4. Grains.
    say("[4/6] grains");
    let mut grain_args = vec![
        "grains".to_string(),
        "--object".into(),
        config.object.clone(),
        "--site".into(),
        config.site.clone(),
        "--radius-um".into(),
        config.grain_radius_um.to_string(),
        "--density".into(),
        config.grain_density_kg_m3.to_string(),
        "--speed-m-s".into(),
        config.speed_m_s.to_string(),
        "--out".into(),
        path_arg(&out.join("grains.csv")),
    ];
    match (&config.morphology, &config.activity_start) {
        (Some(m), Some(start)) if m.is_file() => {
            grain_args.extend([
                "--morphology".into(),
                path_arg(m),
                "--activity-start".into(),
                start.clone(),
            ]);
        }
        _ => {
            let mjd: Vec<f64> = df
                .column("mjd_mid_utc")
                .ok()
                .and_then(|c| c.f64().ok().map(|v| v.iter().flatten().collect()))
                .unwrap_or_default();
            let first = mjd.iter().copied().reduce(f64::min);
            let last = mjd.iter().copied().reduce(f64::max);
            let dates: Vec<String> = [first, last]
                .into_iter()
                .flatten()
                .filter_map(|mjd| cometphot::ephem::time::UtcInstant::from_mjd(mjd).ok())
                .map(|t| t.to_string())
                .collect();
            grain_args.extend(["--dates".into(), dates.join(",")]);
        }
    }
    step(&grain_args, verbosity)?;

    // 5. Comparison.
    say("[5/6] compare");
    step(
        &[
            "compare".into(),
            "--object".into(),
            config.object.clone(),
            "--reference".into(),
            config.reference.clone(),
            "--fit".into(),
            path_arg(&fit_json),
            "--dust".into(),
            path_arg(&out.join("dust_trend.json")),
            "--at-rh".into(),
            config.at_rh_au.to_string(),
            "--out".into(),
            path_arg(&out.join("comparison.csv")),
        ],
        Verbosity::Quiet,
    )?;

    // 6. Plots and report.
    say("[6/6] plots and report");
    let plots = match write_plots(&config, &out) {
        Ok(plots) => plots,
        Err(e) => {
            say(&format!("      plots not written: {e:#}"));
            Vec::new()
        }
    };
    let report = report_markdown(
        &config,
        &raw,
        &out,
        n_rows,
        n_skipped,
        &failed_nights,
        &plots,
    )?;
    write_text_atomic(&out.join("report.md"), &report)?;
    say(&format!(
        "done in {:.0} s: {n_rows} measurement(s), {n_skipped} frame(s) skipped, {} night(s) failed; report in {}",
        started.elapsed().as_secs_f64(),
        failed_nights.len(),
        out.join("report.md").display()
    ));
    Ok(
        if !failed_nights.is_empty() || skipped_inputs > 0 || n_skipped > 0 {
            EXIT_SKIPPED
        } else if n_rows == 0 {
            EXIT_FAILURE
        } else {
            EXIT_OK
        },
    )
}

fn fmt_pm(json: &serde_json::Value, value: &[&str], err: &[&str]) -> String {
    let get = |keys: &[&str]| {
        let mut v = json;
        for k in keys {
            v = &v[*k];
        }
        v.as_f64()
    };
    match (get(value), get(err)) {
        (Some(v), Some(e)) => format!("{v:.3} ± {e:.3}"),
        (Some(v), None) => format!("{v:.3}"),
        _ => "—".into(),
    }
}

fn report_markdown(
    config: &RunConfig,
    raw: &Path,
    out: &Path,
    n_rows: usize,
    n_skipped: usize,
    failed: &[(String, String)],
    plots: &[PathBuf],
) -> anyhow::Result<String> {
    let fit = read_json(&out.join("fit.json")).unwrap_or_default();
    let dust = read_json(&out.join("dust_trend.json")).unwrap_or_default();
    let mut r = String::new();
    writeln!(r, "# cometphot report: {}", config.object)?;
    writeln!(r)?;
    writeln!(
        r,
        "cometphot {} · raw frames: `{}` · {n_rows} measurement(s), {n_skipped} frame(s) skipped, {} night(s) failed",
        env!("CARGO_PKG_VERSION"),
        raw.display(),
        failed.len()
    )?;
    writeln!(r)?;
    writeln!(r, "## Headline numbers")?;
    writeln!(r)?;
    writeln!(r, "| quantity | value |")?;
    writeln!(r, "|---|---|")?;
    writeln!(r, "| index n | {} |", fmt_pm(&fit, &["n"], &["n_err"]))?;
    writeln!(
        r,
        "| rH range (au) | {:.2}–{:.2} |",
        fit["rh_min_au"].as_f64().unwrap_or(f64::NAN),
        fit["rh_max_au"].as_f64().unwrap_or(f64::NAN)
    )?;
    writeln!(r, "| H (mag) | {} |", fmt_pm(&fit, &["h_mag"], &["h_err"]))?;
    if fit.get("n1").is_some() {
        writeln!(
            r,
            "| broken law: n1 (beyond break) / n2 / rH break (au) | {} / {} / {} |",
            fmt_pm(&fit, &["n1"], &["n1_err"]),
            fmt_pm(&fit, &["n2"], &["n2_err"]),
            fmt_pm(&fit, &["rh_break_au"], &["rh_break_err_au"])
        )?;
        writeln!(
            r,
            "| break warranted (ΔBIC < −6) | {} (ΔBIC = {:.1}) |",
            fit["comparison"]["break_warranted"],
            fit["comparison"]["delta_bic"].as_f64().unwrap_or(f64::NAN)
        )?;
    }
    writeln!(
        r,
        "| index of dM/dt | {} |",
        fmt_pm(
            &dust,
            &["production", "index"],
            &["production", "index_err"]
        )
    )?;
    writeln!(
        r,
        "| dM/dt at {} au (kg/s) | {} |",
        config.at_rh_au,
        fmt_pm(
            &dust,
            &["production", "value_at_rh"],
            &["production", "value_err"]
        )
    )?;
    writeln!(
        r,
        "| C_e at {} au (km²) | {} |",
        config.at_rh_au,
        fmt_pm(
            &dust,
            &["cross_section", "value_at_rh"],
            &["cross_section", "value_err"]
        )
    )?;
    writeln!(r)?;
    for plot in plots
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "png"))
    {
        if let Ok(relative) = plot.strip_prefix(out) {
            writeln!(r, "![{}]({})", relative.display(), relative.display())?;
            writeln!(r)?;
        }
    }
    writeln!(r, "## Assumptions")?;
    writeln!(r)?;
    writeln!(
        r,
        "- phase law: linear, β = {} ± {} mag/deg",
        config.phase_coeff_mag_per_deg, config.phase_coeff_err_mag_per_deg
    )?;
    writeln!(
        r,
        "- dust: {}",
        dust["assumptions_text"]
            .as_str()
            .unwrap_or("(dust step failed)")
    )?;
    writeln!(
        r,
        "- aperture: {} km at the comet; sky annulus {}–{}″",
        config.radius_km, config.annulus_inner_arcsec, config.annulus_outer_arcsec
    )?;
    writeln!(r)?;
    if let Ok(grains) = Table::read(&out.join("grains.csv")) {
        let (a, v, ok) = (
            grains.f64("a_um")?,
            grains.f64("v_m_s")?,
            grains.text("consistent")?,
        );
        let cells: Vec<usize> = (0..a.len()).filter(|&i| ok[i] == "true").collect();
        let span = |x: &[f64]| {
            cells.iter().fold((f64::INFINITY, 0.0_f64), |(lo, hi), &i| {
                (lo.min(x[i]), hi.max(x[i]))
            })
        };
        writeln!(r, "## Grain size and speed")?;
        writeln!(r)?;
        if cells.is_empty() {
            writeln!(
                r,
                "No (a, v) cell is consistent with the morphology (see `grains.csv`)."
            )?;
        } else {
            let ((a0, a1), (v0, v1)) = (span(&a), span(&v));
            writeln!(
                r,
                "{} of {} (a, v) cells are consistent with the morphology: a = {a0:.0}–{a1:.0} µm, \
                 v = {v0:.1}–{v1:.1} m/s (criteria and reasons per cell in `grains.csv`).",
                cells.len(),
                a.len()
            )?;
        }
        writeln!(r)?;
    }
    writeln!(r, "## Comparison with {}", config.reference)?;
    writeln!(r)?;
    if let Ok(c) = Table::read(&out.join("comparison.csv")) {
        let object = &config.object;
        let reference = &config.reference;
        let (quantity, unit) = (c.text("quantity")?, c.text("unit")?);
        let (ov, oe) = (
            c.f64(&format!("{object}_cometphot"))?,
            c.f64(&format!("{object}_cometphot_err"))?,
        );
        let (rv, re) = (
            c.f64(&format!("{reference}_cometphot"))?,
            c.f64(&format!("{reference}_cometphot_err"))?,
        );
        let (ol, rl) = (
            c.text(&format!("{object}_literature"))?,
            c.text(&format!("{reference}_literature"))?,
        );
        let cell = |v: f64, e: f64| match (v.is_finite(), e.is_finite() && e > 0.0) {
            (true, true) => format!("{v:.3} ± {e:.3}"),
            (true, false) => format!("{v:.3}"),
            _ => "—".to_string(),
        };
        writeln!(
            r,
            "| quantity | {object} (cometphot) | {object} (literature) | {reference} (cometphot) | {reference} (literature) |"
        )?;
        writeln!(r, "|---|---|---|---|---|")?;
        for i in 0..quantity.len() {
            let unit = if unit[i].is_empty() {
                String::new()
            } else {
                format!(" [{}]", unit[i])
            };
            writeln!(
                r,
                "| {}{unit} | {} | {} | {} | {} |",
                quantity[i],
                cell(ov[i], oe[i]),
                ol[i],
                cell(rv[i], re[i]),
                rl[i]
            )?;
        }
        writeln!(r)?;
        writeln!(
            r,
            "Citations for each literature value are in `comparison.csv`."
        )?;
    }
    if !failed.is_empty() {
        writeln!(r)?;
        writeln!(r, "## Nights that failed")?;
        writeln!(r)?;
        for (night, reason) in failed {
            writeln!(r, "- `{night}`: {reason}")?;
        }
    }
    writeln!(r)?;
    writeln!(r, "## Files")?;
    writeln!(r)?;
    for f in [
        "run.toml",
        "photometry.csv",
        "photometry.parquet",
        "skipped.csv",
        "fit.json",
        "lightcurve.csv",
        "dust.csv",
        "dust_trend.json",
        "grains.csv",
        "comparison.csv",
    ] {
        writeln!(r, "- `{f}`")?;
    }
    Ok(r)
}

/// A CSV table of the run as columns.
struct Table(polars::prelude::DataFrame);

impl Table {
    fn read(path: &Path) -> anyhow::Result<Table> {
        Ok(Table(
            polars::prelude::CsvReadOptions::default()
                .with_has_header(true)
                .with_infer_schema_length(None)
                .try_into_reader_with_file_path(Some(path.to_path_buf()))?
                .finish()
                .with_context(|| format!("cannot read {}", path.display()))?,
        ))
    }

    fn f64(&self, name: &str) -> anyhow::Result<Vec<f64>> {
        let column = self
            .0
            .column(name)?
            .cast(&polars::prelude::DataType::Float64)?;
        Ok(column
            .f64()?
            .iter()
            .map(|v| v.unwrap_or(f64::NAN))
            .collect())
    }

    fn text(&self, name: &str) -> anyhow::Result<Vec<String>> {
        let column = self
            .0
            .column(name)?
            .cast(&polars::prelude::DataType::String)?;
        Ok(column
            .str()?
            .iter()
            .map(|v| v.unwrap_or("").to_string())
            .collect())
    }
}

/// The lightcurve, the reduced magnitude with the fits, and dM/dt against rH, as PNG and SVG
/// in `<out>/plots`.
fn write_plots(config: &RunConfig, out: &Path) -> anyhow::Result<Vec<PathBuf>> {
    use cometphot::plots::{
        lightcurve_vs_time, production_vs_rh, reduced_magnitude_vs_log_rh, BrokenPowerLawLine,
        LightcurvePlot, LightcurvePoint, ModelCurvePoint, PlotSize, PowerLawLine, ProductionPlot,
        ProductionPoint, ProductionSeries, RatePowerLaw, ReducedMagnitudePlot,
        ReducedMagnitudePoint,
    };
    let dir = out.join("plots");
    std::fs::create_dir_all(&dir)?;
    let fit = read_json(&out.join("fit.json")).unwrap_or_default();
    let trend = read_json(&out.join("dust_trend.json")).unwrap_or_default();
    let lc = Table::read(&out.join("lightcurve.csv"))?;
    let (mjd, rh, mag, err, reduced, model) = (
        lc.f64("mjd")?,
        lc.f64("rh_au")?,
        lc.f64("mag")?,
        lc.f64("mag_err")?,
        lc.f64("mag_reduced")?,
        lc.f64("model_mag")?,
    );
    let (filter, flag) = (lc.text("filter")?, lc.text("flag")?);
    let points: Vec<LightcurvePoint> = (0..mjd.len())
        .map(|i| LightcurvePoint {
            mjd: mjd[i],
            mag: mag[i],
            mag_err: err[i],
            filter: filter[i].clone(),
            flagged: flag[i] == "outburst",
        })
        .collect();
    let mut curve: Vec<ModelCurvePoint> = (0..mjd.len())
        .map(|i| ModelCurvePoint {
            mjd: mjd[i],
            mag: model[i],
        })
        .collect();
    curve.sort_by(|a, b| a.mjd.total_cmp(&b.mjd));
    let title = format!("{}: lightcurve", config.object);
    let mut written = Vec::new();
    for ext in ["png", "svg"] {
        let path = dir.join(format!("lightcurve.{ext}"));
        lightcurve_vs_time(
            &path,
            &LightcurvePlot {
                title: &title,
                y_label: "magnitude in the aperture",
                points: &points,
                model: &curve,
                model_label: "power-law model",
                flagged_label: "outburst",
                ..LightcurvePlot::default()
            },
            PlotSize::default(),
        )?;
        written.push(path);
    }
    // The plotted quantity is m − 5 log10 Δ − Φ(α) = mag_reduced + 5 log10 rH.
    let reduced_points: Vec<ReducedMagnitudePoint> = (0..rh.len())
        .map(|i| ReducedMagnitudePoint {
            rh_au: rh[i],
            reduced_mag: reduced[i] + 5.0 * rh[i].log10(),
            mag_err: err[i],
            filter: filter[i].clone(),
            flagged: flag[i] == "outburst",
        })
        .collect();
    let number = |k: &str| fit[k].as_f64();
    let power = match (number("h_mag"), number("n"), number("n_err")) {
        (Some(h_mag), Some(n), Some(n_err)) => Some(PowerLawLine { h_mag, n, n_err }),
        _ => None,
    };
    let broken = (|| {
        let b = BrokenPowerLawLine {
            h_break_mag: number("h_break_mag")?,
            rh_break_au: number("rh_break_au")?,
            n_outer: number("n1")?,
            n_outer_err: number("n1_err")?,
            n_inner: number("n2")?,
            n_inner_err: number("n2_err")?,
        };
        Some(b)
    })();
    let title = format!("{}: m − 5 log Δ − βα vs rH", config.object);
    for ext in ["png", "svg"] {
        let path = dir.join(format!("reduced_magnitude.{ext}"));
        reduced_magnitude_vs_log_rh(
            &path,
            &ReducedMagnitudePlot {
                title: &title,
                points: &reduced_points,
                fit: power,
                broken,
                ..ReducedMagnitudePlot::default()
            },
            PlotSize::default(),
        )?;
        written.push(path);
    }
    let dust = Table::read(&out.join("dust.csv"))?;
    let (drh, rate, rate_err) = (
        dust.f64("rh_au")?,
        dust.f64("production_kg_s")?,
        dust.f64("production_err_kg_s")?,
    );
    let rates: Vec<ProductionPoint> = (0..drh.len())
        .map(|i| ProductionPoint {
            rh_au: drh[i],
            rate_kg_s: rate[i],
            rate_err_kg_s: rate_err[i],
        })
        .collect();
    let p = &trend["production"];
    let line = match (
        p["index"].as_f64(),
        p["index_err"].as_f64(),
        p["value_at_rh"].as_f64(),
        p["at_rh_au"].as_f64(),
    ) {
        (Some(index), Some(index_err), Some(value), Some(at)) => Some(RatePowerLaw {
            rate_at_1au_kg_s: value * at.powf(-index),
            index,
            index_err,
        }),
        _ => None,
    };
    let series = [ProductionSeries {
        label: &config.object,
        points: &rates,
        fit: line,
    }];
    let title = format!("{}: dust production rate", config.object);
    for ext in ["png", "svg"] {
        let path = dir.join(format!("production.{ext}"));
        production_vs_rh(
            &path,
            &ProductionPlot {
                title: &title,
                series: &series,
                reference_rh_au: Some(config.at_rh_au),
                ..ProductionPlot::default()
            },
            PlotSize::default(),
        )?;
        written.push(path);
    }
    Ok(written)
}
