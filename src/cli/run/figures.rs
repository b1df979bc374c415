//! The run's plots, from the tables it wrote.

use std::path::{Path, PathBuf};

use anyhow::Context;
use cometphot::dust::syndyne::{synchrone, syndyne, GrainCurve};
use cometphot::ephem::elements::builtin;
use cometphot::ephem::site::Site;
use cometphot::ephem::time::UtcInstant;
use cometphot::plots::{
    curve_of_growth, syndyne_diagram, CurveOfGrowthPlot, GrowthPoint, GrowthQuantity, GrowthSeries,
    PlotSize, ProductionPoint, RadiusUnit, SkyOffset, Synchrone, Syndyne, SyndynePlot,
};

use super::config::RunConfig;
use super::table::{read_json, Table};

/// The lightcurve, the reduced magnitude with the fits, dM/dt against rH, the curves of growth
/// and the syndyne diagram on `syndyne_date` (the configured date, else the last frame's), as
/// PNG and SVG in `<out>/plots`. Each is left out (with a message given to `say`, and its
/// files from an earlier run removed) when its data are missing.
pub fn write_plots(
    config: &RunConfig,
    out: &Path,
    last_frame: Option<UtcInstant>,
    say: &dyn Fn(&str),
) -> anyhow::Result<Vec<PathBuf>> {
    let dir = out.join("plots");
    std::fs::create_dir_all(&dir)?;
    let fit = read_json(&out.join("fit.json")).unwrap_or_default();
    let trend = read_json(&out.join("dust_trend.json")).unwrap_or_default();
    let mut written = Vec::new();
    // Each figure on its own: one that lacks its table (a step not done) costs only itself,
    // and its files from an earlier run are removed rather than left to mislead.
    let mut plot = |what: &str, stems: &[&str], result: anyhow::Result<Vec<PathBuf>>| match result {
        Ok(paths) => written.extend(paths),
        Err(e) => {
            say(&format!("      {what} not plotted: {e:#}"));
            for stem in stems {
                for ext in ["png", "svg"] {
                    let _ = std::fs::remove_file(dir.join(format!("{stem}.{ext}")));
                }
            }
        }
    };
    plot(
        "lightcurve",
        &["lightcurve", "reduced_magnitude"],
        lightcurve_plots(config, out, &dir, &fit),
    );
    plot(
        "production rates",
        &["production"],
        production_plot(config, out, &dir, &trend),
    );
    plot(
        "curve of growth",
        &["curve_of_growth"],
        growth_plot(config, out, &dir),
    );
    let date = match &config.syndyne_date {
        Some(text) => UtcInstant::parse_iso(&date_time(text))
            .with_context(|| format!("syndyne_date '{text}' is not an ISO date"))
            .map(Some),
        None => Ok(last_frame),
    };
    match date {
        Ok(Some(date)) => plot(
            "syndyne diagram",
            &["syndyne"],
            syndyne_plot(config, date, &dir),
        ),
        Ok(None) => plot(
            "syndyne diagram",
            &["syndyne"],
            Err(anyhow::anyhow!(
                "no date (no frame measured, no syndyne_date)"
            )),
        ),
        Err(e) => plot("syndyne diagram", &["syndyne"], Err(e)),
    }
    Ok(written)
}

/// The lightcurve and the reduced magnitude vs rH, from `lightcurve.csv` and the fit.
fn lightcurve_plots(
    config: &RunConfig,
    out: &Path,
    dir: &Path,
    fit: &serde_json::Value,
) -> anyhow::Result<Vec<PathBuf>> {
    use cometphot::plots::{
        lightcurve_vs_time, reduced_magnitude_vs_log_rh, BrokenPowerLawLine, LightcurvePlot,
        LightcurvePoint, ModelCurvePoint, PowerLawLine, ReducedMagnitudePlot,
        ReducedMagnitudePoint,
    };
    let mut written = Vec::new();
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
    written.extend(png_and_svg(dir, "lightcurve", |path| {
        lightcurve_vs_time(
            path,
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
        )
    })?);
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
    written.extend(png_and_svg(dir, "reduced_magnitude", |path| {
        reduced_magnitude_vs_log_rh(
            path,
            &ReducedMagnitudePlot {
                title: &title,
                points: &reduced_points,
                fit: power,
                broken,
                ..ReducedMagnitudePlot::default()
            },
            PlotSize::default(),
        )
    })?);
    Ok(written)
}

/// dM/dt vs rH from `dust.csv` and its trend, with the reference comet.
fn production_plot(
    config: &RunConfig,
    out: &Path,
    dir: &Path,
    trend: &serde_json::Value,
) -> anyhow::Result<Vec<PathBuf>> {
    use cometphot::plots::{production_vs_rh, ProductionPlot, ProductionSeries, RatePowerLaw};
    let mut written = Vec::new();
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
    let mut series = vec![ProductionSeries {
        label: &config.object,
        points: &rates,
        fit: line,
    }];
    let reference = reference_production(config, out);
    let reference_label = format!("{} ({})", config.reference, reference.1);
    if !reference.0.is_empty() {
        series.push(ProductionSeries {
            label: &reference_label,
            points: &reference.0,
            fit: None,
        });
    }
    let title = format!(
        "{} and {}: dust production rate",
        config.object, config.reference
    );
    written.extend(png_and_svg(dir, "production", |path| {
        production_vs_rh(
            path,
            &ProductionPlot {
                title: &title,
                series: &series,
                reference_rh_au: Some(config.at_rh_au),
                ..ProductionPlot::default()
            },
            PlotSize::default(),
        )
    })?);
    Ok(written)
}

fn date_time(text: &str) -> String {
    if text.trim().len() == 10 {
        format!("{}T00:00:00", text.trim())
    } else {
        text.trim().to_string()
    }
}

/// The comet's curve of growth in every frame (`growth.csv`), each normalised to its flux in
/// the photometric aperture, against the radius in km at the comet.
fn growth_plot(config: &RunConfig, out: &Path, dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let growth = Table::read(&out.join("growth.csv"))?;
    let (file, radius_km, net, net_err) = (
        growth.text("file")?,
        growth.f64("radius_km")?,
        growth.f64("net_e")?,
        growth.f64("net_err_e")?,
    );
    let mut frames: Vec<(String, Vec<GrowthPoint>)> = Vec::new();
    for i in 0..file.len() {
        let point = GrowthPoint {
            radius: radius_km[i],
            value: net[i],
            value_err: net_err[i],
        };
        match frames.last_mut() {
            Some((name, points)) if *name == file[i] => points.push(point),
            _ => frames.push((file[i].clone(), vec![point])),
        }
    }
    // Normalised at the photometric radius (the point nearest to it).
    for (_, points) in &mut frames {
        let reference = points
            .iter()
            .min_by(|a, b| {
                (a.radius - config.radius_km)
                    .abs()
                    .total_cmp(&(b.radius - config.radius_km).abs())
            })
            .map(|p| p.value)
            .filter(|v| *v > 0.0);
        if let Some(reference) = reference {
            for p in points.iter_mut() {
                p.value /= reference;
                p.value_err /= reference;
            }
        }
    }
    let labels: Vec<String> = frames
        .iter()
        .map(|(name, _)| {
            let name = Path::new(name)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            super::super::diagnostics::frame_stem(Path::new(&name))
        })
        .collect();
    // At most eight series stay legible: every k-th frame.
    let step = frames.len().div_ceil(8).max(1);
    let series: Vec<GrowthSeries> = frames
        .iter()
        .zip(&labels)
        .step_by(step)
        .map(|((_, points), label)| GrowthSeries { label, points })
        .collect();
    let title = format!(
        "{}: curves of growth ({} of {} frames)",
        config.object,
        series.len(),
        frames.len()
    );
    png_and_svg(dir, "curve_of_growth", |path| {
        curve_of_growth(
            path,
            &CurveOfGrowthPlot {
                title: &title,
                series: &series,
                quantity: GrowthQuantity::Flux,
                y_label: "Net flux / flux in the photometric aperture",
                radius_unit: RadiusUnit::Km,
                chosen_radius: Some(config.radius_km),
            },
            PlotSize::default(),
        )
    })
}

/// The reference comet's dM/dt from `comparison.csv`: cometphot's value when it measured the
/// reference comet, else the literature value ("70 kg/s (rH = 2 au)") at its stated rH; with
/// where it comes from.
fn reference_production(config: &RunConfig, out: &Path) -> (Vec<ProductionPoint>, String) {
    let none = (Vec::new(), String::new());
    let Ok(c) = Table::read(&out.join("comparison.csv")) else {
        return none;
    };
    let r = &config.reference;
    let (Ok(quantity), Ok(value), Ok(err), Ok(literature), Ok(source)) = (
        c.text("quantity"),
        c.f64(&format!("{r}_cometphot")),
        c.f64(&format!("{r}_cometphot_err")),
        c.text(&format!("{r}_literature")),
        c.text(&format!("{r}_literature_source")),
    ) else {
        return none;
    };
    let Some(i) = quantity.iter().position(|q| q.starts_with("dM/dt at rH")) else {
        return none;
    };
    if value[i].is_finite() {
        let point = ProductionPoint {
            rh_au: config.at_rh_au,
            rate_kg_s: value[i],
            rate_err_kg_s: err[i],
        };
        return (vec![point], "cometphot".into());
    }
    // "70 kg/s (rH = 2 au)": the rate is the first number, the distance follows "rH =".
    let first_number = |text: &str| -> Option<f64> {
        let start = text.find(|c: char| c.is_ascii_digit())?;
        let rest = &text[start..];
        let end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        rest[..end].parse().ok()
    };
    let text = &literature[i];
    let rate = first_number(text);
    let rh = text
        .split_once("rH =")
        .and_then(|(_, after)| first_number(after));
    match (rate, rh) {
        (Some(rate_kg_s), Some(rh_au)) => {
            let cited = source[i].split(" (").next().unwrap_or("literature");
            (
                vec![ProductionPoint {
                    rh_au,
                    rate_kg_s,
                    rate_err_kg_s: 0.0,
                }],
                cited.to_string(),
            )
        }
        _ => none,
    }
}

/// β of the syndynes drawn, and ages (days) of the synchrones.
const SYNDYNE_BETAS: [f64; 5] = [0.001, 0.003, 0.01, 0.03, 0.1];
const SYNCHRONE_AGES_DAYS: [f64; 4] = [10.0, 30.0, 60.0, 100.0];

/// Syndynes (grains released 1–100 days earlier) and synchrones on `date`, from the object's
/// built-in orbit seen from the configured site.
fn syndyne_plot(config: &RunConfig, date: UtcInstant, dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let elements = builtin(&config.object)?;
    let site = Site::parse(&config.site)?;
    let offsets = |curve: &GrainCurve| -> Vec<SkyOffset> {
        curve
            .grains
            .iter()
            .map(|g| SkyOffset::from_pa(g.pa_deg, g.distance_arcsec))
            .collect()
    };
    let ages: Vec<f64> = (0..=40)
        .map(|i| 10f64.powf(2.0 * i as f64 / 40.0))
        .collect();
    let mut syndynes = Vec::new();
    let mut observation = None;
    for beta in SYNDYNE_BETAS {
        let curve = syndyne(&elements, &site, date, beta, &ages)?;
        syndynes.push(Syndyne {
            beta,
            points: offsets(&curve),
        });
        observation = Some(curve.observation);
    }
    let betas: Vec<f64> = (0..=30)
        .map(|i| 10f64.powf(-3.0 + 2.0 * i as f64 / 30.0))
        .collect();
    let synchrones = SYNCHRONE_AGES_DAYS
        .iter()
        .map(|&age| {
            let curve = synchrone(&elements, &site, date, age, &betas)?;
            Ok(Synchrone {
                ejection_mjd: date.mjd() - age,
                points: offsets(&curve),
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let title = format!(
        "{}: syndynes and synchrones on {}",
        config.object,
        date.to_string().get(..10).unwrap_or("")
    );
    png_and_svg(dir, "syndyne", |path| {
        syndyne_diagram(
            path,
            &SyndynePlot {
                title: &title,
                syndynes: &syndynes,
                synchrones: &synchrones,
                antisolar_pa_deg: observation.as_ref().map(|o| o.sun_pa_deg),
                neg_velocity_pa_deg: observation.as_ref().map(|o| o.neg_vel_pa_deg),
                half_width_arcsec: Some(120.0),
            },
            PlotSize::new(800, 800),
        )
    })
}

/// Draws a plot twice, as `<dir>/<stem>.png` and `<dir>/<stem>.svg`; returns both paths.
fn png_and_svg(
    dir: &Path,
    stem: &str,
    draw: impl Fn(&Path) -> Result<(), cometphot::plots::PlotError>,
) -> anyhow::Result<Vec<PathBuf>> {
    ["png", "svg"]
        .iter()
        .map(|ext| {
            let path = dir.join(format!("{stem}.{ext}"));
            draw(&path)?;
            Ok(path)
        })
        .collect()
}
