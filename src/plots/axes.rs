//! Axes: coordinate transforms (linear, inverted, logarithmic), tick positions and labels,
//! calendar dates from MJD, and the common chart frame.

use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint};
use plotters::coord::Shift;
use plotters::prelude::*;

use super::render::DrawFail;
use super::style::{Theme, GRID};

/// How data values map to the plotted coordinate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Transform {
    /// coordinate = value.
    Linear,
    /// coordinate = −value (a value axis increasing downwards or to the left: magnitudes,
    /// rH decreasing to the right).
    Negated,
    /// coordinate = log10(value).
    Log10,
    /// coordinate = −log10(value).
    NegLog10,
    /// coordinate = MJD, labelled with calendar dates (UTC).
    Date,
}

/// One axis: range (in plot coordinates), ticks, and how to label them.
#[derive(Debug, Clone)]
pub(crate) struct Axis {
    pub transform: Transform,
    /// Range in plot coordinates, lo < hi.
    pub lo: f64,
    pub hi: f64,
    /// Major ticks (labelled) and minor ticks, in plot coordinates.
    pub ticks: Vec<f64>,
    pub minor: Vec<f64>,
    /// Decimals of linear tick labels.
    decimals: usize,
    /// Tick labels carry the time of day (date axes over a few days).
    with_time: bool,
    pub desc: String,
}

impl Axis {
    /// An axis covering data values `vmin..=vmax` (any order), padded by `pad` of the span on
    /// each side (in plot coordinates).
    pub(crate) fn new(transform: Transform, vmin: f64, vmax: f64, pad: f64, desc: &str) -> Axis {
        let (mut a, mut b) = (vmin.min(vmax), vmin.max(vmax));
        if matches!(transform, Transform::Log10 | Transform::NegLog10) {
            a = a.max(f64::MIN_POSITIVE);
            b = b.max(a);
        }
        let (mut v0, mut v1) = match transform {
            Transform::Linear | Transform::Date => (a, b),
            Transform::Negated => (-b, -a),
            Transform::Log10 => (a.log10(), b.log10()),
            Transform::NegLog10 => (-b.log10(), -a.log10()),
        };
        if v1 - v0 <= 1e-12 * v0.abs().max(1.0) || !(v1 - v0).is_finite() {
            let half = match transform {
                Transform::Log10 | Transform::NegLog10 => 0.05,
                Transform::Date => 0.5,
                _ => 0.5 * v0.abs().max(0.2),
            };
            v0 -= half;
            v1 += half;
        }
        let span = v1 - v0;
        Axis::from_coords(transform, v0 - pad * span, v1 + pad * span, desc)
    }

    /// An axis with the given range in plot coordinates.
    pub(crate) fn from_coords(transform: Transform, lo: f64, hi: f64, desc: &str) -> Axis {
        let mut axis = Axis {
            transform,
            lo,
            hi,
            ticks: vec![],
            minor: vec![],
            decimals: 0,
            with_time: false,
            desc: desc.to_string(),
        };
        match transform {
            Transform::Linear | Transform::Negated => {
                let (step, decimals) = nice_step(hi - lo, 6.0);
                axis.ticks = ticks_in(lo, hi, step);
                axis.decimals = decimals;
            }
            Transform::Log10 | Transform::NegLog10 => {
                let sign = if transform == Transform::Log10 {
                    1.0
                } else {
                    -1.0
                };
                let (vlo, vhi) = if sign > 0.0 {
                    (10f64.powf(lo), 10f64.powf(hi))
                } else {
                    (10f64.powf(-hi), 10f64.powf(-lo))
                };
                let (major, minor) = log_ticks(vlo, vhi);
                axis.ticks = major.iter().map(|v| sign * v.log10()).collect();
                axis.minor = minor.iter().map(|v| sign * v.log10()).collect();
            }
            Transform::Date => {
                let (ticks, with_time) = date_ticks(lo, hi);
                axis.ticks = ticks;
                axis.with_time = with_time;
            }
        }
        axis
    }

    /// Plot coordinate of a data value (NaN when a log axis gets a value ≤ 0).
    pub(crate) fn coord(&self, v: f64) -> f64 {
        match self.transform {
            Transform::Linear | Transform::Date => v,
            Transform::Negated => -v,
            Transform::Log10 => {
                if v > 0.0 {
                    v.log10()
                } else {
                    f64::NAN
                }
            }
            Transform::NegLog10 => {
                if v > 0.0 {
                    -v.log10()
                } else {
                    f64::NAN
                }
            }
        }
    }

    /// Data value at a plot coordinate.
    pub(crate) fn value(&self, c: f64) -> f64 {
        match self.transform {
            Transform::Linear | Transform::Date => c,
            Transform::Negated => -c,
            Transform::Log10 => 10f64.powf(c),
            Transform::NegLog10 => 10f64.powf(-c),
        }
    }

    /// Tick label at plot coordinate `c`.
    pub(crate) fn label(&self, c: f64) -> String {
        match self.transform {
            Transform::Linear | Transform::Negated => fmt_fixed(self.value(c), self.decimals),
            Transform::Log10 | Transform::NegLog10 => fmt_sig(self.value(c)),
            Transform::Date => fmt_date(c, self.with_time),
        }
    }

    /// Fraction (0..1) of the axis at plot coordinate `c`.
    pub(crate) fn frac(&self, c: f64) -> f64 {
        (c - self.lo) / (self.hi - self.lo)
    }

    /// Whether plot coordinate `c` is inside the axis range.
    pub(crate) fn contains(&self, c: f64) -> bool {
        c.is_finite() && c >= self.lo && c <= self.hi
    }

    fn ranged(&self) -> Ticked {
        Ticked {
            lo: self.lo,
            hi: self.hi,
            major: self.ticks.clone(),
            minor: self.minor.clone(),
        }
    }

    /// Widest tick label in characters.
    pub(crate) fn max_label_chars(&self) -> usize {
        self.ticks
            .iter()
            .map(|&t| self.label(t).chars().count())
            .max()
            .unwrap_or(1)
    }
}

/// The smallest step of 1, 2 or 5 × 10^k giving at most about `target` intervals over `span`,
/// and the decimals its labels need.
pub(crate) fn nice_step(span: f64, target: f64) -> (f64, usize) {
    let raw = (span / target).abs().max(1e-12);
    let k = raw.log10().floor() as i32;
    let limit = target * 1.35;
    let step = [
        (1.0, k),
        (2.0, k),
        (5.0, k),
        (1.0, k + 1),
        (2.0, k + 1),
        (5.0, k + 1),
    ]
    .iter()
    .map(|&(m, e)| m * 10f64.powi(e))
    .find(|&step| span.abs() / step <= limit)
    .unwrap_or(10f64.powi(k + 2));
    (step, decimals_for(step))
}

/// Decimals needed to print multiples of `step` exactly.
fn decimals_for(step: f64) -> usize {
    for d in 0..10 {
        let scaled = step * 10f64.powi(d as i32);
        if (scaled - scaled.round()).abs() < 1e-6 * scaled.abs().max(1.0) {
            return d;
        }
    }
    10
}

/// Multiples of `step` within [lo, hi].
fn ticks_in(lo: f64, hi: f64, step: f64) -> Vec<f64> {
    let first = (lo / step).ceil() as i64;
    let last = (hi / step).floor() as i64;
    if last < first || last - first > 1000 {
        return vec![];
    }
    (first..=last)
        .map(|i| {
            let v = i as f64 * step;
            if v.abs() < step * 1e-9 {
                0.0
            } else {
                v
            }
        })
        .collect()
}

/// Major and minor tick values for a logarithmic axis over values vlo..vhi (> 0).
pub(crate) fn log_ticks(vlo: f64, vhi: f64) -> (Vec<f64>, Vec<f64>) {
    let k0 = vlo.log10().floor() as i32 - 1;
    let k1 = vhi.log10().ceil() as i32 + 1;
    if k1 - k0 > 60 {
        return (vec![], vec![]);
    }
    let sets: [&[f64]; 5] = [
        &[1.0],
        &[1.0, 2.0, 5.0],
        &[1.0, 1.5, 2.0, 3.0, 5.0, 7.0],
        &[1.0, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0],
        &[
            1.0, 1.2, 1.4, 1.6, 1.8, 2.0, 2.2, 2.4, 2.6, 2.8, 3.0, 3.5, 4.0, 4.5, 5.0, 6.0, 7.0,
            8.0, 9.0,
        ],
    ];
    let inside = |v: &f64| *v >= vlo * (1.0 - 1e-9) && *v <= vhi * (1.0 + 1e-9);
    let expand = |mantissas: &[f64]| -> Vec<f64> {
        (k0..=k1)
            .flat_map(|k| mantissas.iter().map(move |m| m * 10f64.powi(k)))
            .filter(inside)
            .collect()
    };
    let mut major = vec![];
    for set in sets {
        major = expand(set);
        if major.len() >= 4 {
            break;
        }
    }
    if major.len() > 12 {
        major = expand(&[1.0]);
    }
    // The densest minor set that stays readable: tenths or halves of each decade's
    // mantissa when they give at most 16 ticks, else 1–9 × 10^k.
    let fine: Vec<f64> = (10..100).map(|i| f64::from(i) / 10.0).collect();
    let halves: Vec<f64> = (2..20).map(|i| f64::from(i) / 2.0).collect();
    let units: Vec<f64> = (1..10).map(f64::from).collect();
    let minor_set: Vec<f64> = [(fine, 16), (halves, 16), (units, 30)]
        .into_iter()
        .find(|(set, max)| expand(set).len() <= *max)
        .map(|(set, _)| set)
        .unwrap_or_default();
    let minor = expand(&minor_set)
        .into_iter()
        .filter(|v| !major.iter().any(|m| ((m - v) / m).abs() < 1e-9))
        .collect();
    (major, minor)
}

/// Tick positions (MJD) for a date axis over lo..hi, and whether labels need the time of day:
/// steps of hours or days for short spans, then the 1st and 15th of each month, then month
/// starts every 1, 2, 3, 6, 12... months.
pub(crate) fn date_ticks(lo: f64, hi: f64) -> (Vec<f64>, bool) {
    let span = hi - lo;
    for step in [0.125, 0.25, 0.5, 1.0, 2.0, 5.0] {
        if span / step <= 7.0 {
            return (ticks_in(lo, hi, step), step < 1.0);
        }
    }
    let half = month_ticks(lo, hi, 1, true);
    if half.len() <= 7 {
        return (half, false);
    }
    for months in [1, 2, 3, 6, 12, 24, 60, 120] {
        let ticks = month_ticks(lo, hi, months, false);
        if ticks.len() <= 7 {
            return (ticks, false);
        }
    }
    (vec![], false)
}

/// MJDs of the first day of every `months`-th month (counted from January) within lo..hi,
/// and of the 15th too when `fifteenth`.
fn month_ticks(lo: f64, hi: f64, months: u32, fifteenth: bool) -> Vec<f64> {
    let (y0, m0, _) = civil_from_mjd(lo.floor());
    let mut idx = (y0 as i64) * 12 + (m0 as i64 - 1);
    idx -= idx.rem_euclid(months as i64);
    let mut ticks = vec![];
    loop {
        let y = idx.div_euclid(12) as i32;
        let m = (idx.rem_euclid(12) + 1) as u32;
        let first = mjd_from_civil(y, m, 1);
        if first > hi {
            break;
        }
        let days: &[u32] = if fifteenth { &[1, 15] } else { &[1] };
        for &d in days {
            let mjd = mjd_from_civil(y, m, d);
            if mjd >= lo && mjd <= hi {
                ticks.push(mjd);
            }
        }
        idx += months as i64;
        if ticks.len() > 1000 {
            break;
        }
    }
    ticks
}

/// Proleptic Gregorian calendar date (year, month 1–12, day 1–31) of an MJD (its integer part).
pub(crate) fn civil_from_mjd(mjd: f64) -> (i32, u32, u32) {
    // Days since 1970-01-01 (MJD 40587); Hinnant's civil_from_days.
    let z = mjd.floor() as i64 - 40587 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    ((if m <= 2 { y + 1 } else { y }) as i32, m, d)
}

/// MJD of 0h UTC on a calendar date.
pub(crate) fn mjd_from_civil(y: i32, m: u32, d: u32) -> f64 {
    let y = if m <= 2 { y as i64 - 1 } else { y as i64 };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m as i64 + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    (era * 146_097 + doe - 719_468 + 40587) as f64
}

/// "2025-07-18", or "2025-07-18 06:00" with the time of day.
pub(crate) fn fmt_date(mjd: f64, with_time: bool) -> String {
    let (y, m, d) = civil_from_mjd(mjd);
    if with_time {
        let minutes = ((mjd - mjd.floor()) * 1440.0).round() as u32;
        let (h, mi) = (minutes / 60, minutes % 60);
        if h >= 24 {
            return fmt_date(mjd.floor() + 1.0, true);
        }
        format!("{y:04}-{m:02}-{d:02} {h:02}:{mi:02}")
    } else {
        format!("{y:04}-{m:02}-{d:02}")
    }
}

/// A number with a fixed count of decimals and a typographic minus sign.
pub(crate) fn fmt_fixed(v: f64, decimals: usize) -> String {
    let s = format!("{v:.decimals$}");
    let s = if s
        .trim_start_matches('-')
        .chars()
        .all(|c| c == '0' || c == '.')
    {
        s.trim_start_matches('-').to_string()
    } else {
        s
    };
    minus(&s)
}

/// A positive number with up to three significant digits, in powers of ten when very large or
/// small ("2", "1.5", "0.05", "300", "10⁵", "2×10⁻⁴").
pub(crate) fn fmt_sig(v: f64) -> String {
    if !v.is_finite() || v <= 0.0 {
        return minus(&format!("{v}"));
    }
    let k = v.log10().floor() as i32;
    if !(-3..5).contains(&k) {
        let mant = v / 10f64.powi(k);
        let exp = superscript(k);
        if (mant - 1.0).abs() < 1e-6 {
            return format!("10{exp}");
        }
        let m = trim_zeros(&format!("{mant:.2}"));
        return format!("{m}×10{exp}");
    }
    let decimals = (2 - k).max(0) as usize;
    trim_zeros(&format!("{v:.decimals$}"))
}

fn trim_zeros(s: &str) -> String {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s.to_string()
    }
}

fn superscript(k: i32) -> String {
    k.to_string()
        .chars()
        .map(|c| match c {
            '-' => '⁻',
            '0' => '⁰',
            '1' => '¹',
            '2' => '²',
            '3' => '³',
            '4' => '⁴',
            '5' => '⁵',
            '6' => '⁶',
            '7' => '⁷',
            '8' => '⁸',
            _ => '⁹',
        })
        .collect()
}

/// ASCII hyphen-minus replaced by the minus sign U+2212.
pub(crate) fn minus(s: &str) -> String {
    s.replace('-', "−")
}

/// A linear f64 coordinate with given major (labelled, grid) and minor (light grid) ticks.
#[derive(Debug, Clone)]
pub(crate) struct Ticked {
    lo: f64,
    hi: f64,
    major: Vec<f64>,
    minor: Vec<f64>,
}

impl Ranged for Ticked {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, v: &f64, limit: (i32, i32)) -> i32 {
        let f = (v - self.lo) / (self.hi - self.lo);
        let f = if f.is_nan() {
            0.0
        } else {
            f.clamp(-20.0, 20.0)
        };
        limit.0 + ((limit.1 - limit.0) as f64 * f + 1e-3).floor() as i32
    }

    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        if hint.weight().allow_light_points() {
            self.minor.clone()
        } else {
            self.major.clone()
        }
    }

    fn range(&self) -> std::ops::Range<f64> {
        self.lo..self.hi
    }
}

/// The coordinate system of all charts here.
pub(crate) type Coords = Cartesian2d<Ticked, Ticked>;

/// Layout options of a chart frame.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FrameOptions {
    /// Draw x tick labels and the x description (false for an upper panel).
    pub x_labels: bool,
    /// Width of the left label area (px); `None` computes it from the y labels.
    pub y_label_area: Option<u32>,
    /// Extra space on the right (px), for labels drawn beyond the plot area.
    pub right_margin: f64,
    pub top_margin: f64,
}

impl Default for FrameOptions {
    fn default() -> Self {
        FrameOptions {
            x_labels: true,
            y_label_area: None,
            right_margin: 22.0,
            top_margin: 8.0,
        }
    }
}

/// Width of the left label area for y axis `y`.
pub(crate) fn y_label_area(theme: &Theme, y: &Axis) -> u32 {
    theme.px(42.0 + 8.6 * y.max_label_chars() as f64)
}

/// Builds a chart with the common frame (grid, ticks, labels) on `area`.
pub(crate) fn build_chart<'a, DB: DrawingBackend>(
    area: &'a DrawingArea<DB, Shift>,
    theme: &Theme,
    x: &Axis,
    y: &Axis,
    opts: FrameOptions,
) -> Result<ChartContext<'a, DB, Coords>, DrawFail>
where
    DB::ErrorType: 'static,
{
    let y_area = opts.y_label_area.unwrap_or_else(|| y_label_area(theme, y));
    let x_area = if opts.x_labels {
        theme.px(56.0)
    } else {
        theme.px(6.0)
    };
    let mut chart = ChartBuilder::on(area)
        .margin_left(theme.px(6.0))
        .margin_right(theme.px(opts.right_margin))
        .margin_top(theme.px(opts.top_margin))
        .margin_bottom(theme.px(4.0))
        .x_label_area_size(x_area)
        .y_label_area_size(y_area)
        .build_cartesian_2d(x.ranged(), y.ranged())?;
    let x_fmt = |v: &f64| {
        if opts.x_labels {
            x.label(*v)
        } else {
            String::new()
        }
    };
    let y_fmt = |v: &f64| y.label(*v);
    let mut mesh = chart.configure_mesh();
    mesh.x_label_formatter(&x_fmt)
        .y_label_formatter(&y_fmt)
        .label_style(theme.tick_font())
        .axis_desc_style(theme.axis_font())
        .bold_line_style(GRID.stroke_width(1))
        .light_line_style(RGBColor(244, 244, 244).stroke_width(1))
        .axis_style(BLACK.stroke_width(theme.px(1.2)))
        .set_all_tick_mark_size(theme.px(5.0))
        .y_desc(y.desc.as_str());
    if opts.x_labels {
        mesh.x_desc(x.desc.as_str());
    }
    mesh.draw()?;
    Ok(chart)
}

/// Frame box on the right and top of a chart (plotters draws only the left and bottom axes).
pub(crate) fn draw_box<DB: DrawingBackend>(
    chart: &mut ChartContext<'_, DB, Coords>,
    theme: &Theme,
    x: &Axis,
    y: &Axis,
) -> Result<(), DrawFail>
where
    DB::ErrorType: 'static,
{
    chart.draw_series(std::iter::once(PathElement::new(
        vec![(x.lo, y.hi), (x.hi, y.hi), (x.hi, y.lo)],
        BLACK.stroke_width(theme.px(1.2)),
    )))?;
    Ok(())
}

/// Points every 1/n of each segment of a polyline (for legend placement).
pub(crate) fn densify(points: &[(f64, f64)], n: usize) -> Vec<(f64, f64)> {
    let mut out = vec![];
    for w in points.windows(2) {
        for k in 0..n {
            let t = k as f64 / n as f64;
            out.push((
                w[0].0 + t * (w[1].0 - w[0].0),
                w[0].1 + t * (w[1].1 - w[0].1),
            ));
        }
    }
    out.extend(points.last().copied());
    out
}

/// Clips segment p0–p1 to the box (Liang–Barsky); `None` when it lies outside.
fn clip_segment(
    p0: (f64, f64),
    p1: (f64, f64),
    xr: (f64, f64),
    yr: (f64, f64),
) -> Option<((f64, f64), (f64, f64))> {
    let (dx, dy) = (p1.0 - p0.0, p1.1 - p0.1);
    let (mut t0, mut t1) = (0.0f64, 1.0f64);
    for (p, q) in [
        (-dx, p0.0 - xr.0),
        (dx, xr.1 - p0.0),
        (-dy, p0.1 - yr.0),
        (dy, yr.1 - p0.1),
    ] {
        if p == 0.0 {
            if q < 0.0 {
                return None;
            }
        } else {
            let r = q / p;
            if p < 0.0 {
                t0 = t0.max(r);
            } else {
                t1 = t1.min(r);
            }
        }
    }
    (t0 <= t1).then_some((
        (p0.0 + t0 * dx, p0.1 + t0 * dy),
        (p0.0 + t1 * dx, p0.1 + t1 * dy),
    ))
}

/// The parts of a polyline (plot coordinates) inside the ranges of `x` and `y`, as runs.
/// Non-finite points break the line.
pub(crate) fn clip_polyline(points: &[(f64, f64)], x: &Axis, y: &Axis) -> Vec<Vec<(f64, f64)>> {
    clip_polyline_box(points, (x.lo, x.hi), (y.lo, y.hi))
}

/// [`clip_polyline`] with an explicit box.
pub(crate) fn clip_polyline_box(
    points: &[(f64, f64)],
    xr: (f64, f64),
    yr: (f64, f64),
) -> Vec<Vec<(f64, f64)>> {
    let mut runs = vec![];
    let mut run: Vec<(f64, f64)> = vec![];
    for w in points.windows(2) {
        let finite = [w[0].0, w[0].1, w[1].0, w[1].1]
            .iter()
            .all(|v| v.is_finite());
        match clip_segment(w[0], w[1], xr, yr).filter(|_| finite) {
            Some((a, b)) => {
                if run.last() != Some(&a) {
                    if run.len() >= 2 {
                        runs.push(std::mem::take(&mut run));
                    }
                    run.clear();
                    run.push(a);
                }
                run.push(b);
            }
            None => {
                if run.len() >= 2 {
                    runs.push(std::mem::take(&mut run));
                }
                run.clear();
            }
        }
    }
    if run.len() >= 2 {
        runs.push(run);
    }
    runs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calendar_round_trip() {
        assert_eq!(civil_from_mjd(51544.0), (2000, 1, 1));
        assert_eq!(civil_from_mjd(60857.0), (2025, 7, 1));
        assert_eq!(civil_from_mjd(40587.0), (1970, 1, 1));
        assert_eq!(civil_from_mjd(51603.0), (2000, 2, 29));
        for mjd in [-1000.0, 0.0, 40587.0, 51544.0, 60857.0, 60950.5, 70000.0] {
            let (y, m, d) = civil_from_mjd(mjd);
            assert_eq!(mjd_from_civil(y, m, d), f64::floor(mjd));
        }
        assert_eq!(fmt_date(60857.25, true), "2025-07-01 06:00");
        assert_eq!(fmt_date(60857.9999999, true), "2025-07-02 00:00");
    }

    #[test]
    fn clipping() {
        let runs = clip_polyline_box(&[(-1.0, 0.5), (2.0, 0.5)], (0.0, 1.0), (0.0, 1.0));
        assert_eq!(runs, vec![vec![(0.0, 0.5), (1.0, 0.5)]]);
        let runs = clip_polyline_box(
            &[(0.5, 0.5), (0.5, 2.0), (0.6, 2.0), (0.6, 0.5)],
            (0.0, 1.0),
            (0.0, 1.0),
        );
        assert_eq!(runs.len(), 2);
        assert!(clip_polyline_box(&[(2.0, 2.0), (3.0, 3.0)], (0.0, 1.0), (0.0, 1.0)).is_empty());
    }

    #[test]
    fn ticks_and_labels() {
        let a = Axis::new(Transform::Linear, 0.0, 10.0, 0.0, "x");
        assert_eq!(a.ticks, vec![0.0, 2.0, 4.0, 6.0, 8.0, 10.0]);
        assert_eq!(a.label(4.0), "4");
        let m = Axis::new(Transform::Negated, 14.0, 16.0, 0.0, "mag");
        assert!(m.lo < m.hi && m.lo <= -16.0 && m.hi >= -14.0);
        assert_eq!(m.label(-15.0), "15.0");
        let n = Axis::new(Transform::Linear, -0.3, 0.3, 0.0, "res");
        assert!(
            n.ticks.iter().any(|&t| n.label(t) == "−0.2"),
            "{:?}",
            n.ticks
        );
        assert_eq!(fmt_sig(2.0), "2");
        assert_eq!(fmt_sig(1.5), "1.5");
        assert_eq!(fmt_sig(0.05), "0.05");
        assert_eq!(fmt_sig(300.0), "300");
        assert_eq!(fmt_sig(1e5), "10⁵");
        assert_eq!(fmt_sig(2e-4), "2×10⁻⁴");
        let (major, _) = log_ticks(1.8, 4.6);
        assert!(major.len() >= 4, "{major:?}");
        let (major, minor) = log_ticks(10.0, 1000.0);
        assert_eq!(major, vec![10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0]);
        assert!(!minor.is_empty());
        let (dates, with_time) = date_ticks(60857.0, 60950.0);
        assert!(!with_time && (3..=7).contains(&dates.len()), "{dates:?}");
        assert!(dates
            .iter()
            .all(|&d| [1, 15].contains(&civil_from_mjd(d).2)));
        let (dates, _) = date_ticks(60000.0, 61000.0);
        assert!((3..=7).contains(&dates.len()), "{dates:?}");
        assert!(dates.iter().all(|&d| civil_from_mjd(d).2 == 1));
        let (hours, with_time) = date_ticks(60857.1, 60857.9);
        assert!(with_time && hours.len() >= 3, "{hours:?}");
    }
}
