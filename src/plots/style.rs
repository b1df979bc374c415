//! The common look: fonts, colours, line widths, markers, error bars, legends.

use plotters::coord::Shift;
use plotters::element::{Drawable, EmptyElement, PointCollection};
use plotters::prelude::*;
use plotters::style::{FontStyle, IntoFont, TextStyle};
use plotters_backend::{BackendCoord, DrawingErrorKind};

use super::PlotSize;

/// Sizes that scale with the output size (reference 900 × 600).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Theme {
    scale: f64,
}

/// Colour-blind-friendly qualitative palette (Okabe & Ito 2008, with black last).
pub(crate) const PALETTE: [RGBColor; 8] = [
    RGBColor(0, 114, 178),   // blue
    RGBColor(213, 94, 0),    // vermillion
    RGBColor(0, 158, 115),   // bluish green
    RGBColor(204, 121, 167), // reddish purple
    RGBColor(230, 159, 0),   // orange
    RGBColor(86, 180, 233),  // sky blue
    RGBColor(150, 130, 0),   // dark yellow
    RGBColor(0, 0, 0),       // black
];

pub(crate) const GRID: RGBColor = RGBColor(225, 225, 225);
pub(crate) const DARK_GREY: RGBColor = RGBColor(90, 90, 90);
pub(crate) const MID_GREY: RGBColor = RGBColor(150, 150, 150);
/// Colour of model and fit lines.
pub(crate) const MODEL: RGBColor = RGBColor(0, 0, 0);
/// Colour of a second (alternative) model line.
pub(crate) const MODEL_ALT: RGBColor = RGBColor(200, 30, 30);

pub(crate) fn palette(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}

/// `style` in `color` (plotters' `TextStyle::color` borrows the colour).
pub(crate) fn with_color(mut style: TextStyle<'static>, color: RGBColor) -> TextStyle<'static> {
    style.color = color.to_backend_color();
    style
}

impl Theme {
    pub(crate) fn new(size: PlotSize) -> Theme {
        let scale = (size.width as f64 / 900.0)
            .min(size.height as f64 / 600.0)
            .clamp(0.45, 6.0);
        Theme { scale }
    }

    /// A length in pixels at the reference size, scaled.
    pub(crate) fn px(&self, v: f64) -> u32 {
        (v * self.scale).round().max(1.0) as u32
    }

    pub(crate) fn pxi(&self, v: f64) -> i32 {
        self.px(v) as i32
    }

    fn font(&self, size: f64, bold: bool) -> TextStyle<'static> {
        let style = if bold {
            FontStyle::Bold
        } else {
            FontStyle::Normal
        };
        // Sizes are em sizes in px; plotters' text size is 1.24 em (see `text.rs`).
        ("sans-serif", size * 1.24 * self.scale)
            .into_font()
            .style(style)
            .color(&BLACK)
    }

    pub(crate) fn title_font(&self) -> TextStyle<'static> {
        self.font(19.0, true)
    }

    pub(crate) fn axis_font(&self) -> TextStyle<'static> {
        self.font(14.5, false)
    }

    pub(crate) fn tick_font(&self) -> TextStyle<'static> {
        self.font(13.0, false)
    }

    pub(crate) fn legend_font(&self) -> TextStyle<'static> {
        self.font(13.0, false)
    }

    pub(crate) fn annotation_font(&self, color: RGBColor, bold: bool) -> TextStyle<'static> {
        with_color(self.font(14.0, bold), color)
    }

    pub(crate) fn small_font(&self) -> TextStyle<'static> {
        self.font(13.0, false)
    }

    pub(crate) fn line<C: Color>(&self, color: C) -> ShapeStyle {
        color.stroke_width(self.px(2.0))
    }

    pub(crate) fn thin<C: Color>(&self, color: C) -> ShapeStyle {
        color.stroke_width(self.px(1.2))
    }

    pub(crate) fn marker_size(&self) -> i32 {
        self.pxi(4.0)
    }

    /// The figure title above everything else; returns the area below it.
    pub(crate) fn titled<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
        title: &str,
    ) -> Result<DrawingArea<DB, Shift>, DrawingAreaErrorKind<DB::ErrorType>> {
        let area = root.margin(self.px(8.0), 0, 0, 0);
        area.titled(title, self.title_font())
    }
}

/// Draws a vertical error bar from `y_lo` to `y_hi` at `x`, with caps of `cap` px each side.
pub(crate) fn v_error_bar<DB: DrawingBackend, CT>(
    chart: &mut ChartContext<'_, DB, CT>,
    x: f64,
    y_lo: f64,
    y_hi: f64,
    cap: i32,
    style: ShapeStyle,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>>
where
    CT: plotters::coord::CoordTranslate<From = (f64, f64)>,
    DB::ErrorType: 'static,
{
    chart.draw_series(std::iter::once(PathElement::new(
        vec![(x, y_lo), (x, y_hi)],
        style,
    )))?;
    chart.draw_series(
        [y_lo, y_hi]
            .into_iter()
            .map(|y| EmptyElement::at((x, y)) + PathElement::new(vec![(-cap, 0), (cap, 0)], style)),
    )?;
    Ok(())
}

/// Markers of successive series in multi-series plots.
pub(crate) const SERIES_MARKERS: [Marker; 4] = [
    Marker::Dot,
    Marker::Square,
    Marker::OpenTriangle,
    Marker::Cross,
];

/// Marker kinds used across plots.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Marker {
    /// Filled circle: an ordinary measurement.
    Dot,
    /// Open triangle: a flagged measurement (outburst).
    OpenTriangle,
    /// Diagonal cross: a rejected or excluded point.
    Cross,
    /// Filled square.
    Square,
}

#[derive(Debug, Clone, Copy)]
enum Shape {
    Marker(Marker),
    /// A short legend line, solid or dashed, starting at the anchor.
    Line {
        dashed: bool,
    },
}

/// A marker or legend glyph at one point (data or backend coordinates), drawn directly on the
/// backend in pixels.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Glyph<C> {
    pos: C,
    shape: Shape,
    size: i32,
    style: ShapeStyle,
}

impl<'a, C: 'a> PointCollection<'a, C> for &'a Glyph<C> {
    type Point = &'a C;
    type IntoIter = std::iter::Once<&'a C>;
    fn point_iter(self) -> Self::IntoIter {
        std::iter::once(&self.pos)
    }
}

impl<C, DB: DrawingBackend> Drawable<DB> for Glyph<C> {
    fn draw<I: Iterator<Item = BackendCoord>>(
        &self,
        mut points: I,
        backend: &mut DB,
        _parent: (u32, u32),
    ) -> Result<(), DrawingErrorKind<DB::ErrorType>> {
        let Some((x, y)) = points.next() else {
            return Ok(());
        };
        let s = self.size;
        match self.shape {
            Shape::Marker(Marker::Dot) => {
                backend.draw_circle((x, y), s.max(1) as u32, &self.style, true)
            }
            Shape::Marker(Marker::Square) => {
                backend.draw_rect((x - s, y - s), (x + s, y + s), &self.style, true)
            }
            Shape::Marker(Marker::OpenTriangle) => {
                let t = s + s / 2 + 1;
                let h = (t as f64 * 0.87).round() as i32;
                backend.draw_path(
                    vec![
                        (x, y - t),
                        (x + h, y + t / 2),
                        (x - h, y + t / 2),
                        (x, y - t),
                    ],
                    &self.style,
                )
            }
            Shape::Marker(Marker::Cross) => {
                backend.draw_path(vec![(x - s, y - s), (x + s, y + s)], &self.style)?;
                backend.draw_path(vec![(x - s, y + s), (x + s, y - s)], &self.style)
            }
            Shape::Line { dashed: false } => {
                backend.draw_path(vec![(x, y), (x + 20, y)], &self.style)
            }
            Shape::Line { dashed: true } => {
                backend.draw_path(vec![(x, y), (x + 7, y)], &self.style)?;
                backend.draw_path(vec![(x + 12, y), (x + 20, y)], &self.style)
            }
        }
    }
}

fn marker_style(kind: Marker, color: RGBColor, stroke: u32) -> ShapeStyle {
    match kind {
        Marker::Dot | Marker::Square => color.filled(),
        Marker::OpenTriangle | Marker::Cross => color.stroke_width(stroke),
    }
}

/// A marker at `pos` in data coordinates.
pub(crate) fn marker(
    pos: (f64, f64),
    kind: Marker,
    size: i32,
    color: RGBColor,
    stroke: u32,
) -> Glyph<(f64, f64)> {
    Glyph {
        pos,
        shape: Shape::Marker(kind),
        size,
        style: marker_style(kind, color, stroke),
    }
}

/// The same marker for a legend entry (`at` is the left end of the legend glyph area).
pub(crate) fn legend_marker(
    at: BackendCoord,
    kind: Marker,
    size: i32,
    color: RGBColor,
    stroke: u32,
) -> Glyph<BackendCoord> {
    Glyph {
        pos: (at.0 + 10, at.1),
        shape: Shape::Marker(kind),
        size,
        style: marker_style(kind, color, stroke),
    }
}

/// A short line for a legend entry.
pub(crate) fn legend_line(
    at: BackendCoord,
    style: ShapeStyle,
    dashed: bool,
) -> Glyph<BackendCoord> {
    Glyph {
        pos: at,
        shape: Shape::Line { dashed },
        size: 0,
        style,
    }
}

/// The legend corner least covered by data, from points in plot fractions (0..1, y up).
/// `box_w`, `box_h` are the legend's approximate size in plot fractions.
pub(crate) fn legend_corner(points: &[(f64, f64)], box_w: f64, box_h: f64) -> SeriesLabelPosition {
    let box_w = box_w.clamp(0.1, 0.9);
    let box_h = box_h.clamp(0.05, 0.9);
    let corners = [
        (
            SeriesLabelPosition::UpperRight,
            1.0 - box_w,
            1.0,
            1.0 - box_h,
            1.0,
        ),
        (SeriesLabelPosition::UpperLeft, 0.0, box_w, 1.0 - box_h, 1.0),
        (
            SeriesLabelPosition::LowerRight,
            1.0 - box_w,
            1.0,
            0.0,
            box_h,
        ),
        (SeriesLabelPosition::LowerLeft, 0.0, box_w, 0.0, box_h),
    ];
    let mut best = (usize::MAX, 0usize);
    for (i, (_, x0, x1, y0, y1)) in corners.iter().enumerate() {
        let n = points
            .iter()
            .filter(|(x, y)| {
                *x >= x0 - 0.02 && *x <= x1 + 0.02 && *y >= y0 - 0.02 && *y <= y1 + 0.02
            })
            .count();
        if n < best.0 {
            best = (n, i);
        }
    }
    match best.1 {
        0 => SeriesLabelPosition::UpperRight,
        1 => SeriesLabelPosition::UpperLeft,
        2 => SeriesLabelPosition::LowerRight,
        _ => SeriesLabelPosition::LowerLeft,
    }
}

/// Approximate legend box size in plot fractions for `n` entries whose longest label has
/// `max_chars` characters, on a plot area of `w` × `h` px.
pub(crate) fn legend_box(theme: &Theme, n: usize, max_chars: usize, w: u32, h: u32) -> (f64, f64) {
    let char_w = theme.px(8.0) as f64;
    let line_h = theme.px(19.0) as f64;
    let bw = (max_chars as f64 * char_w + theme.px(50.0) as f64) / w.max(1) as f64;
    let bh = (n as f64 * line_h + theme.px(16.0) as f64) / h.max(1) as f64;
    (bw, bh)
}

/// Draws the series labels of `chart` in a white box at `pos`.
pub(crate) fn draw_legend<'a, DB: DrawingBackend + 'a, CT: plotters::coord::CoordTranslate>(
    chart: &mut ChartContext<'a, DB, CT>,
    theme: &Theme,
    pos: SeriesLabelPosition,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>>
where
    DB::ErrorType: 'static,
{
    chart
        .configure_series_labels()
        .position(pos)
        .margin(theme.px(10.0))
        .legend_area_size(theme.px(26.0))
        .label_font(theme.legend_font())
        .background_style(WHITE.mix(0.88))
        .border_style(MID_GREY)
        .draw()
}
