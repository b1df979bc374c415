//! Photometry diagnostics: curve of growth, zero-point fit.

use std::path::Path;

use plotters::coord::Shift;
use plotters::element::DashedPathElement;
use plotters::prelude::*;

use super::axes::{
    build_chart, draw_box, fmt_fixed, fmt_sig, y_label_area, Axis, FrameOptions, Transform,
};
use super::render::{no_data, render, DrawFail, Figure};
use super::style::{
    draw_legend, legend_box, legend_corner, legend_line, legend_marker, marker, palette,
    v_error_bar, Marker, Theme, MID_GREY, MODEL, SERIES_MARKERS,
};
use super::{PlotError, PlotSize};

/// One aperture of a curve of growth.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GrowthPoint {
    /// Aperture radius, in the plot's [`RadiusUnit`].
    pub radius: f64,
    /// Flux or magnitude in the aperture.
    pub value: f64,
    /// 1σ error; non-finite or ≤ 0 draws no bar.
    pub value_err: f64,
}

/// Unit of the aperture radius.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RadiusUnit {
    #[default]
    Pixel,
    Arcsec,
    Km,
}

impl RadiusUnit {
    fn label(self) -> &'static str {
        match self {
            RadiusUnit::Pixel => "Aperture radius (px)",
            RadiusUnit::Arcsec => "Aperture radius (arcsec)",
            RadiusUnit::Km => "Aperture radius (km at the comet)",
        }
    }

    fn short(self) -> &'static str {
        match self {
            RadiusUnit::Pixel => "px",
            RadiusUnit::Arcsec => "arcsec",
            RadiusUnit::Km => "km",
        }
    }
}

/// What the curve of growth shows; magnitudes are plotted on an inverted axis.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum GrowthQuantity {
    #[default]
    Flux,
    Magnitude,
}

/// One object's curve of growth (e.g. "comet", "star 12").
#[derive(Debug, Clone)]
pub struct GrowthSeries<'a> {
    pub label: &'a str,
    pub points: &'a [GrowthPoint],
}

/// Input of [`curve_of_growth`].
#[derive(Debug, Clone)]
pub struct CurveOfGrowthPlot<'a> {
    pub title: &'a str,
    pub series: &'a [GrowthSeries<'a>],
    pub quantity: GrowthQuantity,
    /// Label of the value axis with its unit (e.g. "Net flux (ADU)", "R magnitude (Vega)").
    pub y_label: &'a str,
    pub radius_unit: RadiusUnit,
    /// Radius of the aperture used for the photometry, marked by a dashed line; `None` for none.
    pub chosen_radius: Option<f64>,
}

impl Default for CurveOfGrowthPlot<'_> {
    fn default() -> Self {
        CurveOfGrowthPlot {
            title: "Curve of growth",
            series: &[],
            quantity: GrowthQuantity::Flux,
            y_label: "Net flux (ADU)",
            radius_unit: RadiusUnit::Pixel,
            chosen_radius: None,
        }
    }
}

fn err_or_zero(e: f64) -> f64 {
    if e.is_finite() && e > 0.0 {
        e
    } else {
        0.0
    }
}

/// Flux or magnitude vs aperture radius, one colour and marker line per series, error bars,
/// and the chosen aperture radius as a dashed line. Magnitudes are on an inverted axis.
pub fn curve_of_growth(
    path: &Path,
    plot: &CurveOfGrowthPlot<'_>,
    size: PlotSize,
) -> Result<(), PlotError> {
    let n = plot
        .series
        .iter()
        .flat_map(|s| s.points.iter())
        .filter(|p| p.radius.is_finite() && p.value.is_finite())
        .count();
    if n == 0 {
        return Err(no_data(
            path,
            "no curve-of-growth point with a finite radius and value",
        ));
    }
    render(path, size, &GrowthFigure { plot })
}

struct GrowthFigure<'a, 'b> {
    plot: &'a CurveOfGrowthPlot<'b>,
}

impl Figure for GrowthFigure<'_, '_> {
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
        let ok = |p: &&GrowthPoint| p.radius.is_finite() && p.value.is_finite();
        let (mut r0, mut r1) = (0.0f64, f64::NEG_INFINITY);
        let (mut v0, mut v1) = (f64::INFINITY, f64::NEG_INFINITY);
        for p in plot.series.iter().flat_map(|s| s.points.iter()).filter(ok) {
            let e = err_or_zero(p.value_err);
            r0 = r0.min(p.radius);
            r1 = r1.max(p.radius);
            v0 = v0.min(p.value - e);
            v1 = v1.max(p.value + e);
        }
        if let Some(r) = plot.chosen_radius.filter(|r| r.is_finite()) {
            r0 = r0.min(r);
            r1 = r1.max(r);
        }
        let y_transform = match plot.quantity {
            GrowthQuantity::Flux => {
                if v0 > 0.0 {
                    v0 = 0.0; // fluxes from zero, to show the shape of the curve
                }
                Transform::Linear
            }
            GrowthQuantity::Magnitude => Transform::Negated,
        };
        let x = Axis::new(Transform::Linear, r0, r1, 0.04, plot.radius_unit.label());
        let y = Axis::new(y_transform, v0, v1, 0.08, plot.y_label);
        let mut chart = build_chart(&area, theme, &x, &y, FrameOptions::default())?;
        draw_box(&mut chart, theme, &x, &y)?;
        let size = theme.marker_size();
        let stroke = theme.px(1.6);
        let cap = theme.pxi(3.0);
        let mut labels = vec![];
        if let Some(r) = plot.chosen_radius.filter(|r| r.is_finite()) {
            let label = format!(
                "aperture used: r = {} {}",
                fmt_sig(r),
                plot.radius_unit.short()
            );
            labels.push(label.clone());
            let st = theme.thin(MID_GREY);
            chart
                .draw_series(std::iter::once(DashedPathElement::new(
                    vec![(r, y.lo), (r, y.hi)],
                    theme.px(5.0),
                    theme.px(4.0),
                    st,
                )))?
                .label(label)
                .legend(move |at| legend_line(at, st, true));
        }
        let mut fracs = vec![];
        for (i, s) in plot.series.iter().enumerate() {
            let c = palette(i);
            let kind = SERIES_MARKERS[i % SERIES_MARKERS.len()];
            let mut pts: Vec<&GrowthPoint> = s.points.iter().filter(ok).collect();
            pts.sort_by(|a, b| a.radius.total_cmp(&b.radius));
            for p in &pts {
                let e = err_or_zero(p.value_err);
                if e > 0.0 {
                    v_error_bar(
                        &mut chart,
                        p.radius,
                        y.coord(p.value - e),
                        y.coord(p.value + e),
                        cap,
                        theme.thin(c.mix(0.8)),
                    )?;
                }
                fracs.push((x.frac(p.radius), y.frac(y.coord(p.value))));
            }
            chart.draw_series(LineSeries::new(
                pts.iter().map(|p| (p.radius, y.coord(p.value))),
                theme.thin(c),
            ))?;
            labels.push(s.label.to_string());
            chart
                .draw_series(
                    pts.iter()
                        .map(|p| marker((p.radius, y.coord(p.value)), kind, size, c, stroke)),
                )?
                .label(s.label)
                .legend(move |at| legend_marker(at, kind, size, c, stroke));
        }
        let (pw, ph) = chart.plotting_area().dim_in_pixel();
        let max_chars = labels.iter().map(|l| l.chars().count()).max().unwrap_or(4);
        let (bw, bh) = legend_box(theme, labels.len(), max_chars, pw, ph);
        draw_legend(&mut chart, theme, legend_corner(&fracs, bw, bh))?;
        Ok(())
    }
}

/// One calibration star.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ZeroPointStar {
    /// Instrumental magnitude, −2.5 log10(counts / s) or as the pipeline defines it.
    pub instrumental_mag: f64,
    pub instrumental_err: f64,
    pub catalogue_mag: f64,
    pub catalogue_err: f64,
    /// Used in the fit (false: rejected, drawn as a grey cross).
    pub used: bool,
}

/// Input of [`zero_point_diagnostics`]: the fit is catalogue = instrumental + ZP.
#[derive(Debug, Clone)]
pub struct ZeroPointPlot<'a> {
    pub title: &'a str,
    pub stars: &'a [ZeroPointStar],
    pub zero_point: f64,
    pub zero_point_err: f64,
    /// Band and system of the catalogue (e.g. "r (AB)", "R (Vega)").
    pub band: &'a str,
}

impl Default for ZeroPointPlot<'_> {
    fn default() -> Self {
        ZeroPointPlot {
            title: "Zero point",
            stars: &[],
            zero_point: 0.0,
            zero_point_err: 0.0,
            band: "",
        }
    }
}

/// Catalogue vs instrumental magnitude with the line catalogue = instrumental + ZP (legend
/// "ZP = 25.123 ± 0.012 mag", the rms of the used stars), rejected stars as grey crosses, and
/// a residual panel (catalogue − instrumental − ZP) below with ±rms lines. Both axes are
/// plotted as fitted (not inverted), so the relation rises with slope 1.
pub fn zero_point_diagnostics(
    path: &Path,
    plot: &ZeroPointPlot<'_>,
    size: PlotSize,
) -> Result<(), PlotError> {
    if !plot.zero_point.is_finite() {
        return Err(super::render::invalid(path, "zero point is not finite"));
    }
    let n = plot
        .stars
        .iter()
        .filter(|s| s.instrumental_mag.is_finite() && s.catalogue_mag.is_finite())
        .count();
    if n == 0 {
        return Err(no_data(
            path,
            "no star with finite instrumental and catalogue magnitudes",
        ));
    }
    render(path, size, &ZeroPointFigure { plot })
}

struct ZeroPointFigure<'a, 'b> {
    plot: &'a ZeroPointPlot<'b>,
}

impl Figure for ZeroPointFigure<'_, '_> {
    fn draw<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
        theme: &Theme,
    ) -> Result<(), DrawFail>
    where
        DB::ErrorType: 'static,
    {
        let plot = self.plot;
        let zp = plot.zero_point;
        let area = theme.titled(root, plot.title)?;
        let stars: Vec<&ZeroPointStar> = plot
            .stars
            .iter()
            .filter(|s| s.instrumental_mag.is_finite() && s.catalogue_mag.is_finite())
            .collect();
        let (mut i0, mut i1) = (f64::INFINITY, f64::NEG_INFINITY);
        let (mut c0, mut c1) = (f64::INFINITY, f64::NEG_INFINITY);
        let mut res_half = 0.05f64;
        for s in &stars {
            let ce = err_or_zero(s.catalogue_err);
            i0 = i0.min(s.instrumental_mag);
            i1 = i1.max(s.instrumental_mag);
            c0 = c0.min(s.catalogue_mag - ce);
            c1 = c1.max(s.catalogue_mag + ce);
            let e = ce.hypot(err_or_zero(s.instrumental_err));
            let r = s.catalogue_mag - s.instrumental_mag - zp;
            res_half = res_half.max(r.abs() + e);
        }
        let used: Vec<f64> = stars
            .iter()
            .filter(|s| s.used)
            .map(|s| s.catalogue_mag - s.instrumental_mag - zp)
            .collect();
        let rms = if used.is_empty() {
            f64::NAN
        } else {
            (used.iter().map(|r| r * r).sum::<f64>() / used.len() as f64).sqrt()
        };
        // Keep the fitted line inside the frame.
        c0 = c0.min(i0 + zp);
        c1 = c1.max(i1 + zp);
        let band = if plot.band.is_empty() {
            String::new()
        } else {
            format!(" {}", plot.band)
        };
        let x = Axis::new(
            Transform::Linear,
            i0,
            i1,
            0.05,
            "Instrumental magnitude (mag)",
        );
        let y = Axis::new(
            Transform::Linear,
            c0,
            c1,
            0.08,
            &format!("Catalogue magnitude{band} (mag)"),
        );
        let ry = Axis::new(
            Transform::Linear,
            -res_half,
            res_half,
            0.1,
            "Residual (mag)",
        );
        let y_area = y_label_area(theme, &y).max(y_label_area(theme, &ry));
        let (_, h) = area.dim_in_pixel();
        let (upper, lower) = area.split_vertically((h as f64 * 0.68) as u32);
        let opts = FrameOptions {
            x_labels: false,
            y_label_area: Some(y_area),
            ..FrameOptions::default()
        };
        let mut chart = build_chart(&upper, theme, &x, &y, opts)?;
        draw_box(&mut chart, theme, &x, &y)?;
        let size = theme.marker_size();
        let stroke = theme.px(1.6);
        let cap = theme.pxi(3.0);
        let used_colour = palette(0);
        let line_label = format!(
            "ZP = {} ± {} mag, rms {} mag",
            fmt_fixed(zp, 3),
            fmt_fixed(plot.zero_point_err, 3),
            fmt_fixed(rms, 3)
        );
        chart
            .draw_series(LineSeries::new(
                [(x.lo, x.lo + zp), (x.hi, x.hi + zp)],
                theme.line(MODEL),
            ))?
            .label(line_label.clone())
            .legend(move |at| legend_line(at, MODEL.stroke_width(stroke + 1), false));
        for s in &stars {
            let e = err_or_zero(s.catalogue_err);
            if e > 0.0 {
                let c = if s.used { used_colour } else { MID_GREY };
                v_error_bar(
                    &mut chart,
                    s.instrumental_mag,
                    s.catalogue_mag - e,
                    s.catalogue_mag + e,
                    cap,
                    theme.thin(c.mix(0.8)),
                )?;
            }
        }
        let n_used = stars.iter().filter(|s| s.used).count();
        let n_rej = stars.len() - n_used;
        let used_label = format!("used (N = {n_used})");
        chart
            .draw_series(stars.iter().filter(|s| s.used).map(|s| {
                marker(
                    (s.instrumental_mag, s.catalogue_mag),
                    Marker::Dot,
                    size,
                    used_colour,
                    stroke,
                )
            }))?
            .label(used_label.clone())
            .legend(move |at| legend_marker(at, Marker::Dot, size, used_colour, stroke));
        let mut labels = vec![line_label, used_label];
        if n_rej > 0 {
            let rej_label = format!("rejected (N = {n_rej})");
            labels.push(rej_label.clone());
            chart
                .draw_series(stars.iter().filter(|s| !s.used).map(|s| {
                    marker(
                        (s.instrumental_mag, s.catalogue_mag),
                        Marker::Cross,
                        size,
                        MID_GREY,
                        stroke,
                    )
                }))?
                .label(rej_label)
                .legend(move |at| legend_marker(at, Marker::Cross, size, MID_GREY, stroke));
        }
        let fracs: Vec<(f64, f64)> = stars
            .iter()
            .map(|s| (x.frac(s.instrumental_mag), y.frac(s.catalogue_mag)))
            .chain((0..=20).map(|k| {
                let f = k as f64 / 20.0;
                let xi = x.lo + f * (x.hi - x.lo);
                (f, y.frac(xi + zp))
            }))
            .collect();
        let (pw, ph) = chart.plotting_area().dim_in_pixel();
        let max_chars = labels.iter().map(|l| l.chars().count()).max().unwrap_or(4);
        let (bw, bh) = legend_box(theme, labels.len(), max_chars, pw, ph);
        draw_legend(&mut chart, theme, legend_corner(&fracs, bw, bh))?;

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
        if rms.is_finite() && rms > 0.0 {
            for r in [-rms, rms] {
                if ry.contains(r) {
                    res.draw_series(std::iter::once(DashedPathElement::new(
                        vec![(x.lo, r), (x.hi, r)],
                        theme.px(5.0),
                        theme.px(4.0),
                        theme.thin(MID_GREY),
                    )))?;
                }
            }
        }
        for s in &stars {
            let r = s.catalogue_mag - s.instrumental_mag - zp;
            let e = err_or_zero(s.catalogue_err).hypot(err_or_zero(s.instrumental_err));
            let c = if s.used { used_colour } else { MID_GREY };
            if e > 0.0 {
                v_error_bar(
                    &mut res,
                    s.instrumental_mag,
                    r - e,
                    r + e,
                    cap,
                    theme.thin(c.mix(0.8)),
                )?;
            }
            let kind = if s.used { Marker::Dot } else { Marker::Cross };
            res.draw_series(std::iter::once(marker(
                (s.instrumental_mag, r),
                kind,
                size,
                c,
                stroke,
            )))?;
        }
        Ok(())
    }
}
