//! Dust production rate vs heliocentric distance, log–log, several comets.

use std::path::Path;

use plotters::coord::Shift;
use plotters::element::DashedPathElement;
use plotters::prelude::*;

use super::axes::{
    build_chart, clip_polyline, densify, draw_box, fmt_fixed, Axis, FrameOptions, Transform,
};
use super::render::{no_data, render, DrawFail, Figure};
use super::style::{
    draw_legend, legend_box, legend_corner, legend_line, legend_marker, marker, palette,
    v_error_bar, Theme, MID_GREY, SERIES_MARKERS,
};
use super::{PlotError, PlotSize, RhAxis};

/// One production rate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProductionPoint {
    pub rh_au: f64,
    /// dM/dt (kg/s).
    pub rate_kg_s: f64,
    /// 1σ error (kg/s); non-finite or ≤ 0 draws no bar.
    pub rate_err_kg_s: f64,
}

/// A power law dM/dt = V₁ rH^index (the dust module's trend fit, V₁ = exp(ln_value_at_1au)).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RatePowerLaw {
    /// V₁, the rate at rH = 1 au (kg/s).
    pub rate_at_1au_kg_s: f64,
    pub index: f64,
    pub index_err: f64,
}

impl RatePowerLaw {
    pub fn rate_kg_s(&self, rh_au: f64) -> f64 {
        self.rate_at_1au_kg_s * rh_au.powf(self.index)
    }
}

/// One comet's rates, e.g. "3I/ATLAS" or "2I/Borisov".
#[derive(Debug, Clone)]
pub struct ProductionSeries<'a> {
    pub label: &'a str,
    pub points: &'a [ProductionPoint],
    /// Power-law fit, drawn over the rH range of the series' points (or over the whole axis
    /// when the series has no points).
    pub fit: Option<RatePowerLaw>,
}

/// Input of [`production_vs_rh`].
#[derive(Debug, Clone)]
pub struct ProductionPlot<'a> {
    pub title: &'a str,
    pub series: &'a [ProductionSeries<'a>],
    pub rh_axis: RhAxis,
    /// A dotted vertical line at this rH (e.g. 2 au, where rates are compared); `None` for none.
    pub reference_rh_au: Option<f64>,
}

impl Default for ProductionPlot<'_> {
    fn default() -> Self {
        ProductionPlot {
            title: "Dust production rate vs heliocentric distance",
            series: &[],
            rh_axis: RhAxis::DecreasingRight,
            reference_rh_au: Some(2.0),
        }
    }
}

/// dM/dt (kg/s, log axis) vs rH (au, log axis) for one or more comets, with error bars and
/// power-law lines; legend entries carry the fitted index ("dM/dt ∝ rH^(−1.80 ± 0.30)").
/// Series i gets colour i and marker i (dot, square, triangle, cross). Points with rH ≤ 0 or a
/// rate ≤ 0 are left out.
pub fn production_vs_rh(
    path: &Path,
    plot: &ProductionPlot<'_>,
    size: PlotSize,
) -> Result<(), PlotError> {
    let usable = |p: &&ProductionPoint| {
        p.rh_au.is_finite() && p.rh_au > 0.0 && p.rate_kg_s.is_finite() && p.rate_kg_s > 0.0
    };
    let n_points: usize = plot
        .series
        .iter()
        .map(|s| s.points.iter().filter(usable).count())
        .sum();
    if n_points == 0 {
        return Err(no_data(
            path,
            "no production rate with rH > 0 and dM/dt > 0",
        ));
    }
    render(path, size, &ProductionFigure { plot })
}

struct ProductionFigure<'a, 'b> {
    plot: &'a ProductionPlot<'b>,
}

impl Figure for ProductionFigure<'_, '_> {
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
        let ok = |p: &ProductionPoint| {
            p.rh_au.is_finite() && p.rh_au > 0.0 && p.rate_kg_s.is_finite() && p.rate_kg_s > 0.0
        };
        let err = |p: &ProductionPoint| {
            if p.rate_err_kg_s.is_finite() && p.rate_err_kg_s > 0.0 {
                p.rate_err_kg_s
            } else {
                0.0
            }
        };
        let (mut rmin, mut rmax) = (f64::INFINITY, f64::NEG_INFINITY);
        let (mut qmin, mut qmax) = (f64::INFINITY, f64::NEG_INFINITY);
        for s in plot.series {
            for p in s.points.iter().filter(|p| ok(p)) {
                rmin = rmin.min(p.rh_au);
                rmax = rmax.max(p.rh_au);
                let e = err(p);
                let lo = if p.rate_kg_s - e > 0.0 {
                    p.rate_kg_s - e
                } else {
                    p.rate_kg_s
                };
                qmin = qmin.min(lo);
                qmax = qmax.max(p.rate_kg_s + e);
            }
        }
        if let Some(r) = plot.reference_rh_au.filter(|r| r.is_finite() && *r > 0.0) {
            if r > rmin / 1.5 && r < rmax * 1.5 {
                rmin = rmin.min(r);
                rmax = rmax.max(r);
            }
        }
        let x_transform = match plot.rh_axis {
            RhAxis::DecreasingRight => Transform::NegLog10,
            RhAxis::IncreasingRight => Transform::Log10,
        };
        let x_desc = match plot.rh_axis {
            RhAxis::DecreasingRight => "Heliocentric distance rH (au, decreasing →)",
            RhAxis::IncreasingRight => "Heliocentric distance rH (au)",
        };
        let x = Axis::new(x_transform, rmin, rmax, 0.06, x_desc);
        let (xr0, xr1) = {
            let (a, b) = (x.value(x.lo), x.value(x.hi));
            (a.min(b), a.max(b))
        };
        // Fit lines over each series' own range (whole axis if it has no points).
        let lines: Vec<Vec<(f64, f64)>> = plot
            .series
            .iter()
            .map(|s| match s.fit {
                Some(f) if f.rate_at_1au_kg_s > 0.0 && f.index.is_finite() => {
                    let rs: Vec<f64> = s.points.iter().filter(|p| ok(p)).map(|p| p.rh_au).collect();
                    let (a, b) = if rs.is_empty() {
                        (xr0, xr1)
                    } else {
                        let a = rs.iter().copied().fold(f64::INFINITY, f64::min) / 1.04;
                        let b = rs.iter().copied().fold(0.0, f64::max) * 1.04;
                        (a.max(xr0), b.min(xr1))
                    };
                    // Straight on log–log axes: the two ends suffice.
                    vec![(a, f.rate_kg_s(a)), (b, f.rate_kg_s(b))]
                }
                _ => vec![],
            })
            .collect();
        // Each fit extended (dashed) to the reference rH when that lies outside its range.
        let reference_rh = plot
            .reference_rh_au
            .filter(|r| r.is_finite() && *r > 0.0 && *r >= xr0 && *r <= xr1);
        let extensions: Vec<Vec<(f64, f64)>> = plot
            .series
            .iter()
            .zip(&lines)
            .map(|(s, line)| match (s.fit, reference_rh, line.as_slice()) {
                (Some(f), Some(r), [(a, _), (b, _)]) if r < *a || r > *b => {
                    let end = if r < *a { *a } else { *b };
                    vec![(r, f.rate_kg_s(r)), (end, f.rate_kg_s(end))]
                }
                _ => vec![],
            })
            .collect();
        for line in lines.iter().chain(&extensions) {
            for &(_, q) in line {
                qmin = qmin.min(q);
                qmax = qmax.max(q);
            }
        }
        let y = Axis::new(
            Transform::Log10,
            qmin,
            qmax,
            0.08,
            "Dust production rate dM/dt (kg/s)",
        );
        let mut chart = build_chart(&area, theme, &x, &y, FrameOptions::default())?;
        draw_box(&mut chart, theme, &x, &y)?;

        let size = theme.marker_size();
        let stroke = theme.px(1.6);
        let cap = theme.pxi(3.0);
        if let Some(r) = plot.reference_rh_au.filter(|r| r.is_finite() && *r > 0.0) {
            let c = x.coord(r);
            if x.contains(c) {
                chart.draw_series(std::iter::once(DashedPathElement::new(
                    vec![(c, y.lo), (c, y.hi)],
                    theme.px(3.0),
                    theme.px(4.0),
                    theme.thin(MID_GREY),
                )))?;
                chart.draw_series(std::iter::once(Text::new(
                    format!("{} au", fmt_fixed(r, 1).trim_end_matches(".0")),
                    (c, y.hi - 0.03 * (y.hi - y.lo)),
                    theme.small_font().color(&MID_GREY),
                )))?;
            }
        }
        for (i, extension) in extensions.iter().enumerate() {
            if extension.is_empty() {
                continue;
            }
            let pts: Vec<(f64, f64)> = extension
                .iter()
                .map(|&(r, q)| (x.coord(r), y.coord(q)))
                .collect();
            for run in clip_polyline(&pts, &x, &y) {
                chart.draw_series(std::iter::once(DashedPathElement::new(
                    run,
                    theme.px(5.0),
                    theme.px(4.0),
                    theme.line(palette(i)),
                )))?;
            }
        }
        let mut labels = vec![];
        for (i, (s, line)) in plot.series.iter().zip(&lines).enumerate() {
            let c = palette(i);
            let kind = SERIES_MARKERS[i % SERIES_MARKERS.len()];
            for p in s.points.iter().filter(|p| ok(p)) {
                let e = err(p);
                if e > 0.0 {
                    let lo = if p.rate_kg_s - e > 0.0 {
                        y.coord(p.rate_kg_s - e).max(y.lo)
                    } else {
                        y.lo
                    };
                    v_error_bar(
                        &mut chart,
                        x.coord(p.rh_au),
                        lo,
                        y.coord(p.rate_kg_s + e),
                        cap,
                        theme.thin(c.mix(0.8)),
                    )?;
                }
            }
            labels.push(s.label.to_string());
            chart
                .draw_series(s.points.iter().filter(|p| ok(p)).map(|p| {
                    marker(
                        (x.coord(p.rh_au), y.coord(p.rate_kg_s)),
                        kind,
                        size,
                        c,
                        stroke,
                    )
                }))?
                .label(s.label)
                .legend(move |at| legend_marker(at, kind, size, c, stroke));
            if let (Some(f), false) = (s.fit, line.is_empty()) {
                let label = format!(
                    "{}: dM/dt ∝ rH^({} ± {})",
                    s.label,
                    fmt_fixed(f.index, 2),
                    fmt_fixed(f.index_err, 2)
                );
                labels.push(label.clone());
                chart
                    .draw_series({
                        let pts: Vec<(f64, f64)> = line
                            .iter()
                            .map(|&(r, q)| (x.coord(r), y.coord(q)))
                            .collect();
                        clip_polyline(&pts, &x, &y)
                            .into_iter()
                            .map(|run| PathElement::new(run, theme.line(c)))
                    })?
                    .label(label)
                    .legend(move |at| legend_line(at, c.stroke_width(stroke + 1), false));
            }
        }
        let fracs: Vec<(f64, f64)> = plot
            .series
            .iter()
            .flat_map(|s| {
                s.points
                    .iter()
                    .filter(|p| ok(p))
                    .map(|p| (p.rh_au, p.rate_kg_s))
            })
            .map(|(r, q)| (x.coord(r), y.coord(q)))
            .chain(lines.iter().flat_map(|line| {
                let pts: Vec<(f64, f64)> = line
                    .iter()
                    .map(|&(r, q)| (x.coord(r), y.coord(q)))
                    .collect();
                densify(&pts, 60)
            }))
            .map(|(a, b)| (x.frac(a), y.frac(b)))
            // The reference rH's label at the top of the frame.
            .chain(reference_rh.map(|r| (x.frac(x.coord(r)), 0.97)))
            .collect();
        let (pw, ph) = chart.plotting_area().dim_in_pixel();
        let max_chars = labels.iter().map(|l| l.chars().count()).max().unwrap_or(4);
        let (bw, bh) = legend_box(theme, labels.len(), max_chars, pw, ph);
        draw_legend(&mut chart, theme, legend_corner(&fracs, bw, bh))?;
        Ok(())
    }
}
