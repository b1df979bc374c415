//! Lightcurve plots: magnitude vs time, reduced magnitude vs log10 rH with the power-law fits.

use std::collections::BTreeMap;
use std::path::Path;

use plotters::coord::Shift;
use plotters::element::DashedPathElement;
use plotters::prelude::*;

use super::axes::{
    build_chart, clip_polyline, densify, draw_box, fmt_fixed, y_label_area, Axis, FrameOptions,
    Transform,
};
use super::render::{no_data, render, DrawFail, Figure};
use super::style::{
    draw_legend, legend_box, legend_corner, legend_line, legend_marker, marker, palette,
    v_error_bar, Marker, Theme, DARK_GREY, MID_GREY, MODEL, MODEL_ALT,
};
use super::{PlotError, PlotSize, RhAxis};

/// One photometric measurement for [`lightcurve_vs_time`].
#[derive(Debug, Clone, PartialEq)]
pub struct LightcurvePoint {
    /// Mid-exposure time, MJD (UTC).
    pub mjd: f64,
    pub mag: f64,
    /// 1σ error (mag); non-finite or ≤ 0 draws no bar.
    pub mag_err: f64,
    /// Filter name: one colour per distinct name (sorted by name, so colours are stable).
    pub filter: String,
    /// Flagged point (e.g. outburst): drawn as an open triangle.
    pub flagged: bool,
}

/// A point of a model curve (magnitude vs time).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ModelCurvePoint {
    pub mjd: f64,
    pub mag: f64,
}

/// Labels of the time axis.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TimeAxis {
    /// Calendar dates (UTC), "2025-07-18" (default).
    #[default]
    IsoDate,
    /// Modified Julian Date.
    Mjd,
}

/// Input of [`lightcurve_vs_time`].
#[derive(Debug, Clone)]
pub struct LightcurvePlot<'a> {
    pub title: &'a str,
    /// Label of the magnitude axis, with band and system (e.g. "R magnitude (Vega)").
    pub y_label: &'a str,
    pub points: &'a [LightcurvePoint],
    /// Optional model curve (drawn as a line in the order of increasing MJD); empty for none.
    pub model: &'a [ModelCurvePoint],
    pub model_label: &'a str,
    /// Legend text for flagged points.
    pub flagged_label: &'a str,
    pub time_axis: TimeAxis,
}

impl Default for LightcurvePlot<'_> {
    fn default() -> Self {
        LightcurvePlot {
            title: "Lightcurve",
            y_label: "Magnitude",
            points: &[],
            model: &[],
            model_label: "model",
            flagged_label: "flagged (outburst)",
            time_axis: TimeAxis::IsoDate,
        }
    }
}

/// Magnitude vs time: error bars, one colour per filter, flagged points as open triangles, an
/// optional model curve. The magnitude axis is inverted (brighter up). Points with a
/// non-finite time or magnitude are left out.
pub fn lightcurve_vs_time(
    path: &Path,
    plot: &LightcurvePlot<'_>,
    size: PlotSize,
) -> Result<(), PlotError> {
    let points: Vec<&LightcurvePoint> = plot
        .points
        .iter()
        .filter(|p| p.mjd.is_finite() && p.mag.is_finite())
        .collect();
    if points.is_empty() {
        return Err(no_data(
            path,
            "no lightcurve point with a finite time and magnitude",
        ));
    }
    let model: Vec<ModelCurvePoint> = {
        let mut m: Vec<ModelCurvePoint> = plot
            .model
            .iter()
            .copied()
            .filter(|p| p.mjd.is_finite() && p.mag.is_finite())
            .collect();
        m.sort_by(|a, b| a.mjd.total_cmp(&b.mjd));
        m
    };
    render(
        path,
        size,
        &LightcurveFigure {
            plot,
            points,
            model,
        },
    )
}

struct LightcurveFigure<'a, 'b> {
    plot: &'a LightcurvePlot<'b>,
    points: Vec<&'a LightcurvePoint>,
    model: Vec<ModelCurvePoint>,
}

/// Error of a point, 0 when absent or invalid.
fn err_or_zero(e: f64) -> f64 {
    if e.is_finite() && e > 0.0 {
        e
    } else {
        0.0
    }
}

/// Colour index of each filter name, by sorted name.
fn filter_colours<'a>(names: impl Iterator<Item = &'a str>) -> BTreeMap<String, usize> {
    let mut map: BTreeMap<String, usize> = names.map(|n| (n.to_string(), 0)).collect();
    for (i, v) in map.values_mut().enumerate() {
        *v = i;
    }
    map
}

fn filter_label(name: &str) -> String {
    if name.trim().is_empty() {
        "data".to_string()
    } else {
        name.to_string()
    }
}

impl Figure for LightcurveFigure<'_, '_> {
    fn draw<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
        theme: &Theme,
    ) -> Result<(), DrawFail>
    where
        DB::ErrorType: 'static,
    {
        let plot = self.plot;
        let area = theme.titled(root, plot.title)?;
        let (mut tmin, mut tmax) = (f64::INFINITY, f64::NEG_INFINITY);
        let (mut mmin, mut mmax) = (f64::INFINITY, f64::NEG_INFINITY);
        for p in &self.points {
            let e = err_or_zero(p.mag_err);
            tmin = tmin.min(p.mjd);
            tmax = tmax.max(p.mjd);
            mmin = mmin.min(p.mag - e);
            mmax = mmax.max(p.mag + e);
        }
        for p in &self.model {
            tmin = tmin.min(p.mjd);
            tmax = tmax.max(p.mjd);
            mmin = mmin.min(p.mag);
            mmax = mmax.max(p.mag);
        }
        let (x_transform, x_desc) = match plot.time_axis {
            TimeAxis::IsoDate => (Transform::Date, "Date (UTC)"),
            TimeAxis::Mjd => (Transform::Linear, "MJD (UTC)"),
        };
        let x = Axis::new(x_transform, tmin, tmax, 0.04, x_desc);
        let y = Axis::new(Transform::Negated, mmin, mmax, 0.08, plot.y_label);
        let mut chart = build_chart(&area, theme, &x, &y, FrameOptions::default())?;
        draw_box(&mut chart, theme, &x, &y)?;

        let colours = filter_colours(self.points.iter().map(|p| p.filter.as_str()));
        let size = theme.marker_size();
        let stroke = theme.px(1.6);
        let cap = theme.pxi(3.0);
        // Error bars first, markers on top.
        for p in &self.points {
            let e = err_or_zero(p.mag_err);
            if e > 0.0 {
                let c = palette(colours[&p.filter]);
                v_error_bar(
                    &mut chart,
                    p.mjd,
                    y.coord(p.mag + e),
                    y.coord(p.mag - e),
                    cap,
                    theme.thin(c.mix(0.8)),
                )?;
            }
        }
        if self.model.len() >= 2 {
            chart
                .draw_series({
                    let pts: Vec<(f64, f64)> =
                        self.model.iter().map(|p| (p.mjd, y.coord(p.mag))).collect();
                    clip_polyline(&pts, &x, &y)
                        .into_iter()
                        .map(|run| PathElement::new(run, theme.line(MODEL)))
                })?
                .label(plot.model_label)
                .legend(move |at| legend_line(at, MODEL.stroke_width(stroke + 1), false));
        }
        for (name, &ci) in &colours {
            let c = palette(ci);
            chart
                .draw_series(
                    self.points
                        .iter()
                        .filter(|p| &p.filter == name && !p.flagged)
                        .map(|p| marker((p.mjd, y.coord(p.mag)), Marker::Dot, size, c, stroke)),
                )?
                .label(filter_label(name))
                .legend(move |at| legend_marker(at, Marker::Dot, size, c, stroke));
            chart.draw_series(
                self.points
                    .iter()
                    .filter(|p| &p.filter == name && p.flagged)
                    .map(|p| {
                        marker(
                            (p.mjd, y.coord(p.mag)),
                            Marker::OpenTriangle,
                            size,
                            c,
                            stroke,
                        )
                    }),
            )?;
        }
        let any_flagged = self.points.iter().any(|p| p.flagged);
        if any_flagged {
            chart
                .draw_series(std::iter::empty::<Circle<(f64, f64), i32>>())?
                .label(plot.flagged_label)
                .legend(move |at| legend_marker(at, Marker::OpenTriangle, size, DARK_GREY, stroke));
        }

        let mut labels: Vec<String> = colours.keys().map(|n| filter_label(n)).collect();
        if any_flagged {
            labels.push(plot.flagged_label.to_string());
        }
        if self.model.len() >= 2 {
            labels.push(plot.model_label.to_string());
        }
        let fracs: Vec<(f64, f64)> = self
            .points
            .iter()
            .map(|p| (x.frac(p.mjd), y.frac(y.coord(p.mag))))
            .chain(
                self.model
                    .iter()
                    .map(|p| (x.frac(p.mjd), y.frac(y.coord(p.mag)))),
            )
            .collect();
        let (pw, ph) = chart.plotting_area().dim_in_pixel();
        let max_chars = labels.iter().map(|l| l.chars().count()).max().unwrap_or(4);
        let (bw, bh) = legend_box(theme, labels.len(), max_chars, pw, ph);
        draw_legend(&mut chart, theme, legend_corner(&fracs, bw, bh))?;
        Ok(())
    }
}

/// One reduced magnitude for [`reduced_magnitude_vs_log_rh`].
#[derive(Debug, Clone, PartialEq)]
pub struct ReducedMagnitudePoint {
    pub rh_au: f64,
    /// The quantity fitted, m − 5 log10 Δ − β_α α (mag).
    pub reduced_mag: f64,
    pub mag_err: f64,
    /// Filter name (one colour per name); empty for a single unnamed series.
    pub filter: String,
    /// Flagged point (e.g. outburst, excluded from the fit): open triangle.
    pub flagged: bool,
}

/// A single power law y = H + 2.5 n log10 rH (the lightcurve module's single fit).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PowerLawLine {
    /// H, the value at rH = 1 au (mag).
    pub h_mag: f64,
    pub n: f64,
    pub n_err: f64,
}

impl PowerLawLine {
    pub fn y_mag(&self, rh_au: f64) -> f64 {
        self.h_mag + 2.5 * self.n * rh_au.log10()
    }
}

/// A broken power law joined at r_b (as the lightcurve module's broken fit):
/// y = H_b + 2.5 n_outer log10(rH / r_b) for rH > r_b, H_b + 2.5 n_inner log10(rH / r_b) for
/// rH ≤ r_b.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BrokenPowerLawLine {
    pub h_break_mag: f64,
    pub rh_break_au: f64,
    pub n_outer: f64,
    pub n_outer_err: f64,
    pub n_inner: f64,
    pub n_inner_err: f64,
}

impl BrokenPowerLawLine {
    pub fn y_mag(&self, rh_au: f64) -> f64 {
        let n = if rh_au > self.rh_break_au {
            self.n_outer
        } else {
            self.n_inner
        };
        self.h_break_mag + 2.5 * n * (rh_au / self.rh_break_au).log10()
    }
}

/// Input of [`reduced_magnitude_vs_log_rh`].
#[derive(Debug, Clone)]
pub struct ReducedMagnitudePlot<'a> {
    pub title: &'a str,
    /// Label of the magnitude axis (band and system).
    pub y_label: &'a str,
    pub points: &'a [ReducedMagnitudePoint],
    /// Single power-law fit; with it a residual panel (data − fit) is drawn below.
    pub fit: Option<PowerLawLine>,
    /// Broken power-law fit, drawn dashed when given (and as broken − single in the residuals).
    pub broken: Option<BrokenPowerLawLine>,
    /// Direction of the rH axis: decreasing to the right by default (inbound comet).
    pub rh_axis: RhAxis,
    pub flagged_label: &'a str,
}

impl Default for ReducedMagnitudePlot<'_> {
    fn default() -> Self {
        ReducedMagnitudePlot {
            title: "Reduced magnitude vs heliocentric distance",
            y_label: "m − 5 log₁₀Δ − βα (mag)",
            points: &[],
            fit: None,
            broken: None,
            rh_axis: RhAxis::DecreasingRight,
            flagged_label: "flagged (outburst)",
        }
    }
}

/// Reduced magnitude vs log10 rH with error bars, the single power-law fit (legend
/// "n = 3.80 ± 0.30") and the broken fit when given, and a residual panel (observed − single
/// fit) below when a single fit is given. Both magnitude panels are inverted (brighter up,
/// a point below the line is below zero in the residuals). By default rH decreases to the
/// right ([`RhAxis::DecreasingRight`]); ticks are values of log10 rH (rH in au).
pub fn reduced_magnitude_vs_log_rh(
    path: &Path,
    plot: &ReducedMagnitudePlot<'_>,
    size: PlotSize,
) -> Result<(), PlotError> {
    let points: Vec<&ReducedMagnitudePoint> = plot
        .points
        .iter()
        .filter(|p| p.rh_au.is_finite() && p.rh_au > 0.0 && p.reduced_mag.is_finite())
        .collect();
    if points.is_empty() {
        return Err(no_data(
            path,
            "no point with a positive rH and a finite reduced magnitude",
        ));
    }
    if let Some(b) = plot.broken {
        if b.rh_break_au.is_nan() || b.rh_break_au <= 0.0 || b.rh_break_au.is_infinite() {
            return Err(super::render::invalid(
                path,
                "break distance must be positive",
            ));
        }
    }
    render(path, size, &ReducedFigure { plot, points })
}

struct ReducedFigure<'a, 'b> {
    plot: &'a ReducedMagnitudePlot<'b>,
    points: Vec<&'a ReducedMagnitudePoint>,
}

impl Figure for ReducedFigure<'_, '_> {
    fn draw<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
        theme: &Theme,
    ) -> Result<(), DrawFail>
    where
        DB::ErrorType: 'static,
    {
        let plot = self.plot;
        let area = theme.titled(root, plot.title)?;
        let (mut lmin, mut lmax) = (f64::INFINITY, f64::NEG_INFINITY);
        let (mut mmin, mut mmax) = (f64::INFINITY, f64::NEG_INFINITY);
        for p in &self.points {
            let e = err_or_zero(p.mag_err);
            lmin = lmin.min(p.rh_au.log10());
            lmax = lmax.max(p.rh_au.log10());
            mmin = mmin.min(p.reduced_mag - e);
            mmax = mmax.max(p.reduced_mag + e);
        }
        let x_transform = match plot.rh_axis {
            RhAxis::DecreasingRight => Transform::Negated,
            RhAxis::IncreasingRight => Transform::Linear,
        };
        let x_desc = match plot.rh_axis {
            RhAxis::DecreasingRight => "log₁₀ rH (rH in au, decreasing →)",
            RhAxis::IncreasingRight => "log₁₀ rH (rH in au)",
        };
        let x = Axis::new(x_transform, lmin, lmax, 0.05, x_desc);
        let (l0, l1) = (
            x.value(x.lo).min(x.value(x.hi)),
            x.value(x.lo).max(x.value(x.hi)),
        );
        // The lines are straight in (log rH, mag): their ends and the break suffice.
        let mut samples = vec![l0, l1];
        if let Some(b) = plot.broken {
            let lb = b.rh_break_au.log10();
            if lb > l0 && lb < l1 {
                samples.insert(1, lb);
            }
        }
        let single: Vec<(f64, f64)> = match plot.fit {
            Some(f) => samples
                .iter()
                .map(|&l| (l, f.y_mag(10f64.powf(l))))
                .filter(|(_, m)| m.is_finite())
                .collect(),
            None => vec![],
        };
        let broken: Vec<(f64, f64)> = match plot.broken {
            Some(b) => samples
                .iter()
                .map(|&l| (l, b.y_mag(10f64.powf(l))))
                .filter(|(_, m)| m.is_finite())
                .collect(),
            None => vec![],
        };
        // Lines are clipped to the data range plus a margin rather than widening the axis.
        for &(_, m) in single.iter().chain(&broken) {
            if m > mmin - 0.5 * (mmax - mmin + 0.2) && m < mmax + 0.5 * (mmax - mmin + 0.2) {
                mmin = mmin.min(m);
                mmax = mmax.max(m);
            }
        }
        let y = Axis::new(Transform::Negated, mmin, mmax, 0.08, plot.y_label);

        // Residuals against the single fit.
        let residuals: Vec<(f64, f64, f64)> = match plot.fit {
            Some(f) => self
                .points
                .iter()
                .map(|p| {
                    (
                        p.rh_au.log10(),
                        p.reduced_mag - f.y_mag(p.rh_au),
                        err_or_zero(p.mag_err),
                    )
                })
                .collect(),
            None => vec![],
        };
        let diff: Vec<(f64, f64)> = match (plot.fit, plot.broken) {
            (Some(f), Some(b)) => samples
                .iter()
                .map(|&l| {
                    let r = 10f64.powf(l);
                    (l, b.y_mag(r) - f.y_mag(r))
                })
                .collect(),
            _ => vec![],
        };
        let (upper, lower) = if plot.fit.is_some() {
            let (_, h) = area.dim_in_pixel();
            let (u, l) = area.split_vertically((h as f64 * 0.70) as u32);
            (u, Some(l))
        } else {
            (area.clone(), None)
        };
        let ry = if lower.is_some() {
            let (mut rmin, mut rmax) = (0.0f64, 0.0f64);
            for &(_, r, e) in &residuals {
                rmin = rmin.min(r - e);
                rmax = rmax.max(r + e);
            }
            for &(_, d) in &diff {
                rmin = rmin.min(d);
                rmax = rmax.max(d);
            }
            let half = rmax.abs().max(rmin.abs()).max(0.05);
            Some(Axis::new(
                Transform::Negated,
                -half,
                half,
                0.1,
                "O − C (mag)",
            ))
        } else {
            None
        };
        let y_area = y_label_area(theme, &y).max(ry.as_ref().map_or(0, |r| y_label_area(theme, r)));
        let opts = FrameOptions {
            x_labels: lower.is_none(),
            y_label_area: Some(y_area),
            ..FrameOptions::default()
        };
        let mut chart = build_chart(&upper, theme, &x, &y, opts)?;
        draw_box(&mut chart, theme, &x, &y)?;

        let size = theme.marker_size();
        let stroke = theme.px(1.6);
        let cap = theme.pxi(3.0);
        let colours = filter_colours(self.points.iter().map(|p| p.filter.as_str()));
        if let Some(b) = plot.broken {
            let c = x.coord(b.rh_break_au.log10());
            if x.contains(c) {
                chart.draw_series(std::iter::once(DashedPathElement::new(
                    vec![(c, y.lo), (c, y.hi)],
                    theme.px(4.0),
                    theme.px(4.0),
                    theme.thin(MID_GREY),
                )))?;
            }
        }
        for p in &self.points {
            let e = err_or_zero(p.mag_err);
            if e > 0.0 {
                let c = palette(colours[&p.filter]);
                let xc = x.coord(p.rh_au.log10());
                v_error_bar(
                    &mut chart,
                    xc,
                    y.coord(p.reduced_mag + e),
                    y.coord(p.reduced_mag - e),
                    cap,
                    theme.thin(c.mix(0.8)),
                )?;
            }
        }
        let clip = |pts: &[(f64, f64)]| -> Vec<Vec<(f64, f64)>> {
            let mapped: Vec<(f64, f64)> =
                pts.iter().map(|&(l, m)| (x.coord(l), y.coord(m))).collect();
            clip_polyline(&mapped, &x, &y)
        };
        let mut labels: Vec<String> = vec![];
        if let Some(f) = plot.fit {
            let label = format!(
                "power law: n = {} ± {}",
                fmt_fixed(f.n, 2),
                fmt_fixed(f.n_err, 2)
            );
            labels.push(label.clone());
            chart
                .draw_series(
                    clip(&single)
                        .into_iter()
                        .map(|run| PathElement::new(run, theme.line(MODEL))),
                )?
                .label(label)
                .legend(move |at| legend_line(at, MODEL.stroke_width(stroke + 1), false));
        }
        if let Some(b) = plot.broken {
            let label = format!(
                "broken: n = {} ± {} beyond {} au, {} ± {} inside",
                fmt_fixed(b.n_outer, 2),
                fmt_fixed(b.n_outer_err, 2),
                fmt_fixed(b.rh_break_au, 2),
                fmt_fixed(b.n_inner, 2),
                fmt_fixed(b.n_inner_err, 2)
            );
            labels.push(label.clone());
            let style = theme.line(MODEL_ALT);
            chart
                .draw_series(
                    clip(&broken).into_iter().map(|run| {
                        DashedPathElement::new(run, theme.px(8.0), theme.px(5.0), style)
                    }),
                )?
                .label(label)
                .legend(move |at| legend_line(at, MODEL_ALT.stroke_width(stroke + 1), true));
        }
        for (name, &ci) in &colours {
            let c = palette(ci);
            let series = chart.draw_series(
                self.points
                    .iter()
                    .filter(|p| &p.filter == name && !p.flagged)
                    .map(|p| {
                        let pos = (x.coord(p.rh_au.log10()), y.coord(p.reduced_mag));
                        marker(pos, Marker::Dot, size, c, stroke)
                    }),
            )?;
            if colours.len() > 1 || !name.trim().is_empty() {
                labels.push(filter_label(name));
                series
                    .label(filter_label(name))
                    .legend(move |at| legend_marker(at, Marker::Dot, size, c, stroke));
            }
            chart.draw_series(
                self.points
                    .iter()
                    .filter(|p| &p.filter == name && p.flagged)
                    .map(|p| {
                        let pos = (x.coord(p.rh_au.log10()), y.coord(p.reduced_mag));
                        marker(pos, Marker::OpenTriangle, size, c, stroke)
                    }),
            )?;
        }
        if self.points.iter().any(|p| p.flagged) {
            labels.push(plot.flagged_label.to_string());
            chart
                .draw_series(std::iter::empty::<Circle<(f64, f64), i32>>())?
                .label(plot.flagged_label)
                .legend(move |at| legend_marker(at, Marker::OpenTriangle, size, DARK_GREY, stroke));
        }
        if !labels.is_empty() {
            let fracs: Vec<(f64, f64)> = self
                .points
                .iter()
                .map(|p| {
                    (
                        x.frac(x.coord(p.rh_au.log10())),
                        y.frac(y.coord(p.reduced_mag)),
                    )
                })
                .chain(
                    clip(&single)
                        .iter()
                        .chain(&clip(&broken))
                        .flat_map(|run| densify(run, 60))
                        .map(|(a, b)| (x.frac(a), y.frac(b))),
                )
                .collect();
            let (pw, ph) = chart.plotting_area().dim_in_pixel();
            let max_chars = labels.iter().map(|l| l.chars().count()).max().unwrap_or(4);
            let (bw, bh) = legend_box(theme, labels.len(), max_chars, pw, ph);
            draw_legend(&mut chart, theme, legend_corner(&fracs, bw, bh))?;
        }

        if let (Some(lower), Some(ry)) = (lower, ry) {
            let opts = FrameOptions {
                x_labels: true,
                y_label_area: Some(y_area),
                top_margin: 4.0,
                ..FrameOptions::default()
            };
            let mut res = build_chart(&lower, theme, &x, &ry, opts)?;
            draw_box(&mut res, theme, &x, &ry)?;
            res.draw_series(std::iter::once(PathElement::new(
                vec![(x.lo, 0.0), (x.hi, 0.0)],
                theme.thin(MODEL),
            )))?;
            if !diff.is_empty() {
                let pts: Vec<(f64, f64)> = diff
                    .iter()
                    .map(|&(l, d)| (x.coord(l), ry.coord(d)))
                    .collect();
                res.draw_series(clip_polyline(&pts, &x, &ry).into_iter().map(|run| {
                    DashedPathElement::new(run, theme.px(8.0), theme.px(5.0), theme.line(MODEL_ALT))
                }))?;
            }
            for (p, &(l, r, e)) in self.points.iter().zip(&residuals) {
                let c = palette(colours[&p.filter]);
                let xc = x.coord(l);
                if e > 0.0 {
                    v_error_bar(
                        &mut res,
                        xc,
                        ry.coord(r + e),
                        ry.coord(r - e),
                        cap,
                        theme.thin(c.mix(0.8)),
                    )?;
                }
                let kind = if p.flagged {
                    Marker::OpenTriangle
                } else {
                    Marker::Dot
                };
                res.draw_series(std::iter::once(marker(
                    (xc, ry.coord(r)),
                    kind,
                    size,
                    c,
                    stroke,
                )))?;
            }
        }
        Ok(())
    }
}
