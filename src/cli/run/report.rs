//! The run's report, `report.md` and `report.html`: the headline numbers, the plots, the
//! assumptions, the grain region, the comparison, what was skipped and the inputs with their
//! checksums.

use std::path::{Path, PathBuf};

use super::config::RunConfig;
use super::document::{Document, Image};
use super::inputs::InputFile;
use super::table::{read_json, Table};

/// What the report is made from besides the tables in the output directory.
pub struct ReportInputs<'a> {
    pub config: &'a RunConfig,
    pub raw: &'a Path,
    pub out: &'a Path,
    pub n_measurements: usize,
    pub failed_nights: &'a [(String, String)],
    /// Analysis steps that could not be done, with their reasons.
    pub failed_steps: &'a [super::FailedStep],
    /// Plots written (paths inside `out`).
    pub plots: &'a [PathBuf],
    /// Postage stamps of the comet, one per frame (paths inside `out`).
    pub stamps: &'a [PathBuf],
    /// A zero-point diagnostics plot of one frame (path inside `out`).
    pub zero_point_plot: Option<&'a Path>,
    pub inputs: &'a [InputFile],
    pub elapsed_s: f64,
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

fn relative(out: &Path, path: &Path) -> PathBuf {
    path.strip_prefix(out).unwrap_or(path).to_path_buf()
}

fn image(out: &Path, path: &Path, caption: &str) -> Image {
    Image {
        path: relative(out, path),
        caption: caption.to_string(),
    }
}

/// The report as a document (rendered by the caller to Markdown and HTML).
pub fn report(r: &ReportInputs<'_>) -> anyhow::Result<Document> {
    let (config, out) = (r.config, r.out);
    let fit = read_json(&out.join("fit.json")).unwrap_or_default();
    let dust = read_json(&out.join("dust_trend.json")).unwrap_or_default();
    let skipped = Table::read(&out.join("skipped.csv"))
        .and_then(|t| Ok((t.text("file")?, t.text("reason")?)))
        .unwrap_or_default();
    let mut doc = Document::new(format!("cometphot report: {}", config.object));
    doc.paragraph(format!(
        "cometphot {} · raw frames: `{}` · {} measurement(s), {} frame(s) skipped, {} night(s) \
         failed · {:.0} s",
        env!("CARGO_PKG_VERSION"),
        r.raw.display(),
        r.n_measurements,
        skipped.0.len(),
        r.failed_nights.len(),
        r.elapsed_s
    ));

    if !r.failed_steps.is_empty() {
        doc.heading("Steps not done");
        doc.paragraph(
            "These steps failed; their tables and numbers are absent from this report and from \
             the output directory.",
        );
        doc.list(
            r.failed_steps
                .iter()
                .map(|f| format!("{}: {}", f.step, f.reason))
                .collect(),
        );
    }

    doc.heading("Headline numbers");
    let mut rows = vec![
        vec!["index n".into(), fmt_pm(&fit, &["n"], &["n_err"])],
        vec![
            "rH range (au)".into(),
            match (fit["rh_min_au"].as_f64(), fit["rh_max_au"].as_f64()) {
                (Some(min), Some(max)) => format!("{min:.2}–{max:.2}"),
                _ => "—".into(),
            },
        ],
        vec!["H (mag)".into(), fmt_pm(&fit, &["h_mag"], &["h_err"])],
    ];
    if fit.get("n1").is_some() {
        rows.push(vec![
            "broken law: n1 (beyond break) / n2 / rH break (au)".into(),
            format!(
                "{} / {} / {}",
                fmt_pm(&fit, &["n1"], &["n1_err"]),
                fmt_pm(&fit, &["n2"], &["n2_err"]),
                fmt_pm(&fit, &["rh_break_au"], &["rh_break_err_au"])
            ),
        ]);
        rows.push(vec![
            "break warranted (ΔBIC < −6)".into(),
            format!(
                "{} (ΔBIC = {:.1})",
                fit["comparison"]["break_warranted"],
                fit["comparison"]["delta_bic"].as_f64().unwrap_or(f64::NAN)
            ),
        ]);
    }
    rows.push(vec![
        "index of dM/dt".into(),
        fmt_pm(
            &dust,
            &["production", "index"],
            &["production", "index_err"],
        ),
    ]);
    rows.push(vec![
        format!("dM/dt at {} au (kg/s)", config.at_rh_au),
        fmt_pm(
            &dust,
            &["production", "value_at_rh"],
            &["production", "value_err"],
        ),
    ]);
    rows.push(vec![
        format!("C_e at {} au (km²)", config.at_rh_au),
        fmt_pm(
            &dust,
            &["cross_section", "value_at_rh"],
            &["cross_section", "value_err"],
        ),
    ]);
    if let Some(region) = grain_region(out) {
        rows.push(vec!["grain size and speed".into(), region]);
    }
    doc.table(&["quantity", "value"], rows);

    doc.heading("Plots");
    let captions = [
        (
            "lightcurve",
            "Magnitude in the aperture vs time, with the model",
        ),
        (
            "reduced_magnitude",
            "m − 5 log Δ − βα vs log rH, with the power-law fits and residuals",
        ),
        ("production", "Dust production rate dM/dt vs rH"),
        (
            "curve_of_growth",
            "Curves of growth of the comet, normalised at the photometric aperture",
        ),
        (
            "syndyne",
            "Syndynes and synchrones on the date of the last frame",
        ),
    ];
    for (stem, caption) in captions {
        if let Some(p) = r
            .plots
            .iter()
            .find(|p| p.file_stem().is_some_and(|s| s == stem) && has_extension(p, "png"))
        {
            doc.images(vec![image(out, p, caption)]);
        }
    }
    if let Some(zp) = r.zero_point_plot {
        doc.images(vec![image(
            out,
            zp,
            "Zero point of one frame: catalogue vs instrumental magnitude",
        )]);
    }
    if !r.stamps.is_empty() {
        doc.paragraph(format!(
            "Postage stamps of the comet in every frame ({}), with the aperture (green), the sky \
             annulus (yellow), north and east, and the directions to the Sun and of −v. DS9 \
             region files of the apertures are in `diagnostics/<night>/regions/`.",
            r.stamps.len()
        ));
        doc.images(
            r.stamps
                .iter()
                .map(|s| {
                    let caption = s
                        .file_stem()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default();
                    image(out, s, &caption)
                })
                .collect(),
        );
    }

    doc.heading("Assumptions");
    let mut assumptions = zero_points(out);
    assumptions.extend([
        format!(
            "phase law: linear, β = {} ± {} mag/deg",
            config.phase_coeff_mag_per_deg, config.phase_coeff_err_mag_per_deg
        ),
        format!(
            "dust: {}",
            dust["assumptions_text"]
                .as_str()
                .unwrap_or("(dust step failed)")
        ),
        format!(
            "aperture: {} km at the comet; sky annulus {}–{}″",
            config.radius_km, config.annulus_inner_arcsec, config.annulus_outer_arcsec
        ),
    ]);
    doc.list(assumptions);

    comparison(&mut doc, config, out)?;
    aperture_examples(&mut doc, out);

    doc.heading("Skipped inputs");
    if skipped.0.is_empty() && r.failed_nights.is_empty() {
        doc.paragraph("None: every frame was used.");
    } else {
        let mut rows: Vec<Vec<String>> = skipped
            .0
            .iter()
            .zip(&skipped.1)
            .map(|(f, why)| vec![format!("`{f}`"), why.clone()])
            .collect();
        rows.extend(
            r.failed_nights
                .iter()
                .map(|(night, why)| vec![format!("night `{night}`"), why.clone()]),
        );
        doc.table(&["input", "reason"], rows);
    }

    doc.heading("Files");
    doc.list(
        [
            "run.toml",
            "inputs.csv",
            "frames.csv / .parquet",
            "photometry.csv / .parquet",
            "skipped.csv / .parquet",
            "fit.json",
            "lightcurve.csv / .parquet",
            "dust.csv / .parquet",
            "dust_trend.json",
            "grains.csv / .parquet",
            "comparison.csv / .parquet",
            "growth.csv / .parquet",
            "zp_stars.csv / .parquet",
            "extinction.csv / .parquet, standard_frames.csv / .parquet (with standards)",
            "aperture_examples.csv / .parquet (sample run)",
            "plots/ (PNG and SVG)",
            "diagnostics/<night>/ (stamps, zero points, regions)",
        ]
        .iter()
        .map(|f| format!("`{f}`"))
        .collect(),
    );

    doc.heading("Input files");
    doc.paragraph(format!(
        "{} file(s) under `{}` (SHA-256; also in `inputs.csv`).",
        r.inputs.len(),
        r.raw.display()
    ));
    doc.table(
        &["file", "bytes", "SHA-256"],
        r.inputs
            .iter()
            .map(|f| {
                vec![
                    format!("`{}`", relative(r.raw, &f.path).display()),
                    f.size_bytes.to_string(),
                    format!("`{}`", f.sha256),
                ]
            })
            .collect(),
    );
    Ok(doc)
}

/// How the zero points were obtained: the measurements per `zp_method` (`photometry.csv`),
/// and one line per night and filter of the standards' extinction fit `zp = zp0 − k·X`
/// (`extinction.csv`): zp0, k with their errors and the number of stars, or why there is none.
fn zero_points(out: &Path) -> Vec<String> {
    let mut lines = Vec::new();
    if let Ok(methods) = Table::read(&out.join("photometry.csv")).and_then(|t| t.text("zp_method"))
    {
        let mut counts: Vec<(String, usize)> = Vec::new();
        for method in methods {
            match counts.iter_mut().find(|(m, _)| *m == method) {
                Some((_, n)) => *n += 1,
                None => counts.push((method, 1)),
            }
        }
        counts.sort();
        let listed: Vec<String> = counts
            .iter()
            .map(|(method, n)| format!("{method} {n}"))
            .collect();
        lines.push(format!(
            "zero points (measurements per `zp_method` in `photometry.csv`): {}",
            listed.join(", ")
        ));
    }
    let Ok(t) = Table::read(&out.join("extinction.csv")) else {
        return lines;
    };
    let (Ok(night), Ok(filter), Ok(zp0), Ok(zp0_err), Ok(k), Ok(k_err), Ok(n_stars), Ok(reason)) = (
        t.text("night"),
        t.text("filter"),
        t.f64("zp0_mag"),
        t.f64("zp0_err_mag"),
        t.f64("k_mag_per_airmass"),
        t.f64("k_err_mag_per_airmass"),
        t.text("n_stars"),
        t.text("reason"),
    ) else {
        return lines;
    };
    for i in 0..night.len() {
        lines.push(if zp0[i].is_finite() && k[i].is_finite() {
            format!(
                "extinction fit of the standard stars (`extinction.csv`), night {}, filter {}: \
                 zp0 = {:.3} ± {:.3} mag, k = {:.3} ± {:.3} mag/airmass, {} stars",
                night[i], filter[i], zp0[i], zp0_err[i], k[i], k_err[i], n_stars[i]
            )
        } else {
            format!(
                "extinction fit of the standard stars, night {}, filter {}: not fitted ({} \
                 stars): {}",
                night[i], filter[i], n_stars[i], reason[i]
            )
        });
    }
    lines
}

fn has_extension(path: &Path, ext: &str) -> bool {
    path.extension().is_some_and(|e| e == ext)
}

/// "a = …–… µm, v = …–… m/s (k of N cells)" from `grains.csv`.
fn grain_region(out: &Path) -> Option<String> {
    let grains = Table::read(&out.join("grains.csv")).ok()?;
    let (a, v, ok) = (
        grains.f64("a_um").ok()?,
        grains.f64("v_m_s").ok()?,
        grains.text("consistent").ok()?,
    );
    let cells: Vec<usize> = (0..a.len()).filter(|&i| ok[i] == "true").collect();
    if cells.is_empty() {
        return Some(format!(
            "no (a, v) cell of {} is consistent with the morphology",
            a.len()
        ));
    }
    let span = |x: &[f64]| {
        cells.iter().fold((f64::INFINITY, 0.0_f64), |(lo, hi), &i| {
            (lo.min(x[i]), hi.max(x[i]))
        })
    };
    let ((a0, a1), (v0, v1)) = (span(&a), span(&v));
    Some(format!(
        "a = {a0:.0}–{a1:.0} µm, v = {v0:.1}–{v1:.1} m/s ({} of {} cells consistent with the \
         morphology; see `grains.csv`)",
        cells.len(),
        a.len()
    ))
}

fn comparison(doc: &mut Document, config: &RunConfig, out: &Path) -> anyhow::Result<()> {
    let Ok(c) = Table::read(&out.join("comparison.csv")) else {
        return Ok(());
    };
    let (object, reference) = (&config.object, &config.reference);
    doc.heading(format!("Comparison with {reference}"));
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
    let rows = (0..quantity.len())
        .map(|i| {
            let unit = if unit[i].is_empty() {
                String::new()
            } else {
                format!(" [{}]", unit[i])
            };
            vec![
                format!("{}{unit}", quantity[i]),
                cell(ov[i], oe[i]),
                ol[i].clone(),
                cell(rv[i], re[i]),
                rl[i].clone(),
            ]
        })
        .collect();
    let h = [
        format!("{object} (cometphot)"),
        format!("{object} (literature)"),
        format!("{reference} (cometphot)"),
        format!("{reference} (literature)"),
    ];
    doc.table(&["quantity", &h[0], &h[1], &h[2], &h[3]], rows);
    doc.paragraph("Citations for each literature value are in `comparison.csv`.");
    Ok(())
}

/// Frames measured with `cometphot aperture` (`aperture_examples.csv`; by default the real
/// NEOSSat frames of C/2021 A1).
fn aperture_examples(doc: &mut Document, out: &Path) {
    let Ok(t) = Table::read(&out.join("aperture_examples.csv")) else {
        return;
    };
    let (Ok(file), Ok(x), Ok(y), Ok(r), Ok(net), Ok(err), Ok(flags)) = (
        t.text("file"),
        t.f64("x"),
        t.f64("y"),
        t.f64("radius_px"),
        t.f64("net_adu"),
        t.f64("net_err_adu"),
        t.text("flags"),
    ) else {
        return;
    };
    doc.heading("Aperture photometry of further frames");
    doc.paragraph(
        "Frames measured with `cometphot aperture` at a given position refined by the windowed \
         centroid, in ADU on the data as stored, without zero point or geometry (by default \
         the real NEOSSat frames of comet C/2021 A1 (Leonard) in `data/real/neossat`, CSA open \
         data: no orbit of Leonard and no reference catalogue are shipped).",
    );
    doc.table(
        &["file", "x, y (px)", "radius (px)", "net (ADU)", "flags"],
        (0..file.len())
            .map(|i| {
                vec![
                    format!("`{}`", file[i]),
                    format!("{:.1}, {:.1}", x[i], y[i]),
                    format!("{:.0}", r[i]),
                    format!("{:.0} ± {:.0}", net[i], err[i]),
                    flags[i].clone(),
                ]
            })
            .collect(),
    );
}
