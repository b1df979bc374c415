//! Syndyne / synchrone diagram on the sky around the nucleus.

use std::path::Path;

use plotters::coord::Shift;
use plotters::element::DashedPathElement;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::axes::{
    build_chart, clip_polyline, draw_box, fmt_date, fmt_fixed, fmt_sig, Axis, FrameOptions,
    Transform,
};
use super::render::{no_data, render, DrawFail, Figure};
use super::style::{draw_legend, legend_box, legend_line, with_color, Theme, MID_GREY};
use super::{PlotError, PlotSize};

/// An offset from the nucleus on the sky (arcsec): east and north (east = d sin PA,
/// north = d cos PA for a distance d at position angle PA east of north).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SkyOffset {
    pub east_arcsec: f64,
    pub north_arcsec: f64,
}

impl SkyOffset {
    /// From a position angle (deg east of north) and a distance (arcsec).
    pub fn from_pa(pa_deg: f64, distance_arcsec: f64) -> SkyOffset {
        let (s, c) = pa_deg.to_radians().sin_cos();
        SkyOffset {
            east_arcsec: distance_arcsec * s,
            north_arcsec: distance_arcsec * c,
        }
    }
}

/// Grains of one β released at different times.
#[derive(Debug, Clone, PartialEq)]
pub struct Syndyne {
    pub beta: f64,
    pub points: Vec<SkyOffset>,
}

/// Grains of different β released at one time.
#[derive(Debug, Clone, PartialEq)]
pub struct Synchrone {
    /// Ejection time, MJD (labelled as a calendar date).
    pub ejection_mjd: f64,
    pub points: Vec<SkyOffset>,
}

/// Input of [`syndyne_diagram`].
#[derive(Debug, Clone)]
pub struct SyndynePlot<'a> {
    pub title: &'a str,
    pub syndynes: &'a [Syndyne],
    pub synchrones: &'a [Synchrone],
    /// Horizons `PsAng`: PA of the antisolar direction (deg E of N).
    pub antisolar_pa_deg: Option<f64>,
    /// Horizons `PsAMV`: PA of the negative heliocentric velocity (deg E of N).
    pub neg_velocity_pa_deg: Option<f64>,
    /// Half-width of the field (arcsec) around the nucleus; `None` fits the curves.
    pub half_width_arcsec: Option<f64>,
}

impl Default for SyndynePlot<'_> {
    fn default() -> Self {
        SyndynePlot {
            title: "Syndynes and synchrones",
            syndynes: &[],
            synchrones: &[],
            antisolar_pa_deg: None,
            neg_velocity_pa_deg: None,
            half_width_arcsec: None,
        }
    }
}

const PSANG: RGBColor = RGBColor(200, 30, 30);
const PSAMV: RGBColor = RGBColor(0, 0, 0);

/// Syndynes (coloured by β, viridis order, labelled "β = …") and synchrones (grey dashed,
/// labelled with the ejection date) on the sky, north up and east left at equal scale, with
/// arrows along PsAng (antisolar) and PsAMV (−v) from the nucleus.
pub fn syndyne_diagram(
    path: &Path,
    plot: &SyndynePlot<'_>,
    size: PlotSize,
) -> Result<(), PlotError> {
    let finite = |o: &SkyOffset| o.east_arcsec.is_finite() && o.north_arcsec.is_finite();
    let n = plot
        .syndynes
        .iter()
        .flat_map(|s| s.points.iter())
        .chain(plot.synchrones.iter().flat_map(|s| s.points.iter()))
        .filter(|o| finite(o))
        .count();
    if n == 0 && plot.antisolar_pa_deg.is_none() && plot.neg_velocity_pa_deg.is_none() {
        return Err(no_data(path, "no syndyne, synchrone or direction to draw"));
    }
    render(path, size, &SyndyneFigure { plot })
}

struct SyndyneFigure<'a, 'b> {
    plot: &'a SyndynePlot<'b>,
}

/// A viridis-like colour at t in [0, 1] (kept short of the pale yellow end).
fn viridis(t: f64) -> RGBColor {
    const STOPS: [(f64, f64, f64); 5] = [
        (68.0, 1.0, 84.0),
        (59.0, 82.0, 139.0),
        (33.0, 145.0, 140.0),
        (53.0, 183.0, 121.0),
        (144.0, 200.0, 40.0),
    ];
    let t = t.clamp(0.0, 1.0) * (STOPS.len() - 1) as f64;
    let i = (t.floor() as usize).min(STOPS.len() - 2);
    let f = t - i as f64;
    let (a, b) = (STOPS[i], STOPS[i + 1]);
    RGBColor(
        (a.0 + (b.0 - a.0) * f).round() as u8,
        (a.1 + (b.1 - a.1) * f).round() as u8,
        (a.2 + (b.2 - a.2) * f).round() as u8,
    )
}

impl Figure for SyndyneFigure<'_, '_> {
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
        let finite = |o: &&SkyOffset| o.east_arcsec.is_finite() && o.north_arcsec.is_finite();
        // Bounding box (east, north) of the curves and the nucleus.
        let (mut e0, mut e1, mut n0, mut n1) = (0.0f64, 0.0f64, 0.0f64, 0.0f64);
        match plot.half_width_arcsec.filter(|h| h.is_finite() && *h > 0.0) {
            Some(h) => {
                (e0, e1, n0, n1) = (-h, h, -h, h);
            }
            None => {
                for o in plot
                    .syndynes
                    .iter()
                    .flat_map(|s| s.points.iter())
                    .chain(plot.synchrones.iter().flat_map(|s| s.points.iter()))
                    .filter(finite)
                {
                    e0 = e0.min(o.east_arcsec);
                    e1 = e1.max(o.east_arcsec);
                    n0 = n0.min(o.north_arcsec);
                    n1 = n1.max(o.north_arcsec);
                }
                if e1 - e0 <= 0.0 && n1 - n0 <= 0.0 {
                    (e0, e1, n0, n1) = (-10.0, 10.0, -10.0, 10.0);
                }
            }
        }
        let arrow_len = 0.35 * (e1 - e0).max(n1 - n0);
        let dirs: Vec<(f64, RGBColor, &str)> = [
            (plot.antisolar_pa_deg, PSANG, "PsAng"),
            (plot.neg_velocity_pa_deg, PSAMV, "PsAMV"),
        ]
        .iter()
        .filter_map(|&(pa, c, l)| pa.filter(|p| p.is_finite()).map(|p| (p, c, l)))
        .collect();
        if plot.half_width_arcsec.is_none() {
            for &(pa, _, _) in &dirs {
                let tip = SkyOffset::from_pa(pa, arrow_len * 1.25);
                e0 = e0.min(tip.east_arcsec);
                e1 = e1.max(tip.east_arcsec);
                n0 = n0.min(tip.north_arcsec);
                n1 = n1.max(tip.north_arcsec);
            }
            let pad = 0.08 * (e1 - e0).max(n1 - n0);
            e0 -= pad;
            e1 += pad;
            n0 -= pad;
            n1 += pad;
        }
        // Equal scale: widen the shorter side to the plotting area's aspect ratio.
        let (w, h) = area.dim_in_pixel();
        let probe = Axis::from_coords(Transform::Linear, n0, n1, "");
        let y_area = super::axes::y_label_area(theme, &probe) as f64;
        let pw = w as f64 - y_area - theme.px(6.0) as f64 - theme.px(22.0) as f64;
        let ph = h as f64 - theme.px(56.0) as f64 - theme.px(8.0) as f64 - theme.px(4.0) as f64;
        let (sx, sy) = (e1 - e0, n1 - n0);
        let per_px = (sx / pw).max(sy / ph);
        let (ce, cn) = ((e0 + e1) / 2.0, (n0 + n1) / 2.0);
        let (hx, hy) = (per_px * pw / 2.0, per_px * ph / 2.0);
        // x coordinate = −east (east to the left).
        let x = Axis::from_coords(
            Transform::Negated,
            -(ce + hx),
            -(ce - hx),
            "Offset east (arcsec, east to the left)",
        );
        let y = Axis::from_coords(Transform::Linear, cn - hy, cn + hy, "Offset north (arcsec)");
        let opts = FrameOptions {
            y_label_area: Some(y_area as u32),
            ..FrameOptions::default()
        };
        let mut chart = build_chart(&area, theme, &x, &y, opts)?;
        draw_box(&mut chart, theme, &x, &y)?;
        let pos = |o: &SkyOffset| (-o.east_arcsec, o.north_arcsec);
        let inside = |p: &(f64, f64)| x.contains(p.0) && y.contains(p.1);

        let label_font = |c: RGBColor| with_color(theme.small_font(), c);
        let mut labels = vec![];
        // Synchrones below syndynes.
        for s in plot.synchrones {
            let all: Vec<(f64, f64)> = s.points.iter().filter(finite).map(pos).collect();
            let pts: Vec<(f64, f64)> = all.iter().copied().filter(inside).collect();
            chart.draw_series(clip_polyline(&all, &x, &y).into_iter().map(|run| {
                DashedPathElement::new(run, theme.px(6.0), theme.px(4.0), theme.thin(MID_GREY))
            }))?;
            if let Some(far) = pts
                .iter()
                .copied()
                .max_by(|a, b| a.0.hypot(a.1).total_cmp(&b.0.hypot(b.1)))
            {
                chart.draw_series(std::iter::once(Text::new(
                    fmt_date(s.ejection_mjd, false),
                    far,
                    label_font(RGBColor(110, 110, 110)),
                )))?;
            }
        }
        if !plot.synchrones.is_empty() {
            labels.push("synchrones (ejection date)".to_string());
            let st = theme.thin(MID_GREY);
            chart
                .draw_series(std::iter::empty::<PathElement<(f64, f64)>>())?
                .label("synchrones (ejection date)")
                .legend(move |at| legend_line(at, st, true));
        }
        let mut order: Vec<usize> = (0..plot.syndynes.len()).collect();
        order.sort_by(|&a, &b| plot.syndynes[a].beta.total_cmp(&plot.syndynes[b].beta));
        let n_syn = order.len();
        for (rank, &i) in order.iter().enumerate() {
            let s = &plot.syndynes[i];
            let t = if n_syn > 1 {
                rank as f64 / (n_syn - 1) as f64
            } else {
                0.0
            };
            let c = viridis(t);
            let all: Vec<(f64, f64)> = s.points.iter().filter(finite).map(pos).collect();
            let pts: Vec<(f64, f64)> = all.iter().copied().filter(inside).collect();
            let label = format!("β = {}", fmt_sig(s.beta));
            labels.push(label.clone());
            let style = theme.line(c);
            chart
                .draw_series(
                    clip_polyline(&all, &x, &y)
                        .into_iter()
                        .map(|run| PathElement::new(run, style)),
                )?
                .label(label.clone())
                .legend(move |at| legend_line(at, style, false));
            if let Some(far) = pts
                .iter()
                .copied()
                .max_by(|a, b| a.0.hypot(a.1).total_cmp(&b.0.hypot(b.1)))
            {
                chart.draw_series(std::iter::once(Text::new(label, far, label_font(c))))?;
            }
        }
        // Direction arrows from the nucleus.
        for &(pa, c, name) in &dirs {
            let tip = pos(&SkyOffset::from_pa(pa, arrow_len));
            let back = (-tip.0 / arrow_len, -tip.1 / arrow_len);
            let rot = |v: (f64, f64), a: f64| {
                let (s, co) = a.to_radians().sin_cos();
                (v.0 * co - v.1 * s, v.0 * s + v.1 * co)
            };
            let head = 0.12 * arrow_len;
            let (h1, h2) = (rot(back, 25.0), rot(back, -25.0));
            let style = c.stroke_width(theme.px(2.5));
            chart.draw_series([
                PathElement::new(vec![(0.0, 0.0), tip], style),
                PathElement::new(
                    vec![
                        (tip.0 + head * h1.0, tip.1 + head * h1.1),
                        tip,
                        (tip.0 + head * h2.0, tip.1 + head * h2.1),
                    ],
                    style,
                ),
            ])?;
            let lab = pos(&SkyOffset::from_pa(pa, arrow_len * 1.14));
            chart.draw_series(std::iter::once(Text::new(
                name.to_string(),
                lab,
                theme
                    .annotation_font(c, true)
                    .pos(Pos::new(HPos::Center, VPos::Center)),
            )))?;
            let label = if name == "PsAng" {
                format!("PsAng (antisolar) {}°", fmt_fixed(pa.rem_euclid(360.0), 1))
            } else {
                format!("PsAMV (−v) {}°", fmt_fixed(pa.rem_euclid(360.0), 1))
            };
            labels.push(label.clone());
            chart
                .draw_series(std::iter::empty::<PathElement<(f64, f64)>>())?
                .label(label)
                .legend(move |at| legend_line(at, style, false));
        }
        chart.draw_series(std::iter::once(Circle::new(
            (0.0, 0.0),
            theme.pxi(4.5),
            BLACK.filled(),
        )))?;
        if !labels.is_empty() {
            // Legend in the corner farthest from the curves.
            let fracs: Vec<(f64, f64)> = plot
                .syndynes
                .iter()
                .flat_map(|s| s.points.iter())
                .chain(plot.synchrones.iter().flat_map(|s| s.points.iter()))
                .filter(finite)
                .map(|o| {
                    let p = pos(o);
                    (x.frac(p.0), y.frac(p.1))
                })
                .chain(
                    dirs.iter()
                        .flat_map(|&(pa, _, _)| {
                            (0..=10).map(move |k| {
                                pos(&SkyOffset::from_pa(pa, arrow_len * 1.15 * k as f64 / 10.0))
                            })
                        })
                        .map(|p| (x.frac(p.0), y.frac(p.1))),
                )
                .chain(std::iter::once((x.frac(0.0), y.frac(0.0))))
                .collect();
            let (pw, ph) = chart.plotting_area().dim_in_pixel();
            let max_chars = labels.iter().map(|l| l.chars().count()).max().unwrap_or(4);
            let (bw, bh) = legend_box(theme, labels.len(), max_chars, pw, ph);
            let corner = super::style::legend_corner(&fracs, bw, bh);
            draw_legend(&mut chart, theme, corner)?;
        }
        Ok(())
    }
}
