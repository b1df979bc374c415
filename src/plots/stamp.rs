//! Postage stamp of the comet: a stretched grey cut-out with the aperture, the background
//! annulus and direction arrows.
//!
//! Conventions:
//!
//! - pixel coordinates are 0-based with pixel centres at integers, x = column, y = row
//!   (DESIGN §3); the image is shown with x to the right and **y up** (row 0 at the bottom,
//!   as DS9 and matplotlib `origin="lower"` show FITS images);
//! - position angles are measured from north through east (degrees), as Horizons gives them.
//!   The Sun arrow takes the PA of the direction *to the Sun*: Horizons' `PsAng` is the PA of
//!   the extended Sun→target radius vector (the antisolar direction), so pass `PsAng + 180`.
//!   The velocity arrow takes Horizons' `PsAMV`, the PA of the negative of the heliocentric
//!   velocity vector, as it is;
//! - the image orientation is either the FITS CD matrix (ξ east, η north, in deg/px:
//!   (ξ, η) = CD · (Δx, Δy), Δx, Δy in pixels with FITS axis 1 = x = column, axis 2 = y = row),
//!   or the angle of north on the displayed image with the parity ([`ImageOrientation`]).

use std::path::Path;

use plotters::coord::Shift;
use plotters::element::DashedPathElement;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::axes::{
    build_chart, clip_polyline_box, draw_box, fmt_fixed, fmt_sig, Axis, FrameOptions, Transform,
};
use super::render::{invalid, no_data, render, DrawFail, Figure};
use super::style::Theme;
use super::{PlotError, PlotSize};

/// A row-major f32 image (row y, column x at `data[y * width + x]`).
#[derive(Debug, Clone, Copy)]
pub struct ImageView<'a> {
    pub data: &'a [f32],
    pub width: usize,
    pub height: usize,
}

/// Mapping of pixel values to grey levels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Stretch {
    /// v = (x − lo) / (hi − lo) with lo, hi the given percentiles of the cut-out, clipped to
    /// [0, 1], then asinh(v / a) / asinh(1 / a) (astropy's `AsinhStretch`, default a = 0.1).
    Asinh {
        softening: f64,
        min_percentile: f64,
        max_percentile: f64,
    },
    /// Linear between IRAF/astropy zscale limits (1000 samples, contrast default 0.25).
    ZScale { contrast: f64 },
}

impl Default for Stretch {
    /// Asinh, a = 0.1, between the 1st and 99.8th percentiles.
    fn default() -> Self {
        Stretch::Asinh {
            softening: 0.1,
            min_percentile: 1.0,
            max_percentile: 99.8,
        }
    }
}

/// Orientation of the image on the sky.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ImageOrientation {
    /// FITS CD matrix `[[CD1_1, CD1_2], [CD2_1, CD2_2]]` (deg/px): ξ (east) = CD1_1 Δx +
    /// CD1_2 Δy, η (north) = CD2_1 Δx + CD2_2 Δy. A north-up, east-left image has CD1_1 < 0,
    /// CD2_2 > 0. Also gives the pixel scale for the scale bar.
    CdMatrix([[f64; 2]; 2]),
    /// North on the displayed image (x right, y up) at `north_deg` counter-clockwise from +y;
    /// east 90° counter-clockwise from north when `east_counterclockwise` (the sky as seen,
    /// east left when north is up), clockwise otherwise (a mirrored image).
    NorthAngle {
        north_deg: f64,
        east_counterclockwise: bool,
    },
}

impl Default for ImageOrientation {
    /// North up, east left.
    fn default() -> Self {
        ImageOrientation::NorthAngle {
            north_deg: 0.0,
            east_counterclockwise: true,
        }
    }
}

impl ImageOrientation {
    /// Unit vector (Δx, Δy) in pixel coordinates of the sky direction at position angle
    /// `pa_deg` (east of north); `None` for a singular CD matrix.
    pub fn pixel_direction(&self, pa_deg: f64) -> Option<(f64, f64)> {
        let pa = pa_deg.to_radians();
        let (dx, dy) = match *self {
            ImageOrientation::CdMatrix([[a, b], [c, d]]) => {
                let det = a * d - b * c;
                if det == 0.0 || !det.is_finite() {
                    return None;
                }
                let (xi, eta) = (pa.sin(), pa.cos());
                ((d * xi - b * eta) / det, (-c * xi + a * eta) / det)
            }
            ImageOrientation::NorthAngle {
                north_deg,
                east_counterclockwise,
            } => {
                let phi = if east_counterclockwise {
                    north_deg.to_radians() + pa
                } else {
                    north_deg.to_radians() - pa
                };
                (-phi.sin(), phi.cos())
            }
        };
        let n = dx.hypot(dy);
        (n > 0.0 && n.is_finite()).then(|| (dx / n, dy / n))
    }

    /// Pixel scale (arcsec/px) from a CD matrix, √|det CD| × 3600.
    pub fn pixel_scale_arcsec(&self) -> Option<f64> {
        match *self {
            ImageOrientation::CdMatrix([[a, b], [c, d]]) => {
                let s = (a * d - b * c).abs().sqrt() * 3600.0;
                (s > 0.0 && s.is_finite()).then_some(s)
            }
            ImageOrientation::NorthAngle { .. } => None,
        }
    }
}

/// Input of [`postage_stamp`].
#[derive(Debug, Clone)]
pub struct PostageStampPlot<'a> {
    pub title: &'a str,
    pub image: ImageView<'a>,
    /// Centre of the aperture (0-based pixel coordinates, x = column, y = row).
    pub centre_x: f64,
    pub centre_y: f64,
    /// The cut-out spans centre ± half_size_px pixels (cut-outs wider than 160 px are shown
    /// binned).
    pub half_size_px: usize,
    pub aperture_radius_px: f64,
    /// Inner and outer radius of the background annulus (px); `None` for none.
    pub annulus_px: Option<(f64, f64)>,
    pub orientation: ImageOrientation,
    /// PA of the direction to the Sun (deg E of N): Horizons `PsAng + 180`.
    pub sun_pa_deg: Option<f64>,
    /// PA of the negative heliocentric velocity (deg E of N): Horizons `PsAMV`.
    pub neg_velocity_pa_deg: Option<f64>,
    pub stretch: Stretch,
}

impl Default for PostageStampPlot<'_> {
    fn default() -> Self {
        PostageStampPlot {
            title: "Postage stamp",
            image: ImageView {
                data: &[],
                width: 0,
                height: 0,
            },
            centre_x: 0.0,
            centre_y: 0.0,
            half_size_px: 40,
            aperture_radius_px: 10.0,
            annulus_px: None,
            orientation: ImageOrientation::default(),
            sun_pa_deg: None,
            neg_velocity_pa_deg: None,
            stretch: Stretch::default(),
        }
    }
}

/// Largest number of displayed cells per side; wider cut-outs are binned.
const MAX_CELLS: usize = 160;

const APERTURE: RGBColor = RGBColor(60, 230, 60);
const ANNULUS: RGBColor = RGBColor(255, 215, 0);
const COMPASS: RGBColor = RGBColor(255, 255, 255);
const SUN: RGBColor = RGBColor(255, 140, 0);
const VELOCITY: RGBColor = RGBColor(80, 190, 255);
const NO_DATA: RGBColor = RGBColor(40, 40, 100);

/// The cut-out around the centre, in display colours. Writes a PNG or SVG (by extension) with
/// the stretched image (y up), the aperture circle, the annulus circles (dashed), N/E arrows
/// in the upper left, the Sun and −v arrows in the lower right, a scale bar when the CD
/// matrix gives the pixel scale, and a side panel listing the stretch, radii and angles.
/// Parts of the cut-out outside the image or not finite are shown in dark blue.
pub fn postage_stamp(
    path: &Path,
    plot: &PostageStampPlot<'_>,
    size: PlotSize,
) -> Result<(), PlotError> {
    let img = plot.image;
    if img.width == 0 || img.height == 0 {
        return Err(no_data(path, "empty image"));
    }
    if img.data.len() != img.width * img.height {
        return Err(invalid(
            path,
            format!(
                "image of {}x{} px needs {} values, got {}",
                img.width,
                img.height,
                img.width * img.height,
                img.data.len()
            ),
        ));
    }
    if !plot.centre_x.is_finite() || !plot.centre_y.is_finite() {
        return Err(invalid(path, "centre is not finite"));
    }
    if plot.half_size_px == 0 || plot.half_size_px > 5000 {
        return Err(invalid(path, "half size must be 1..=5000 px"));
    }
    let cut = Cutout::new(plot);
    let finite: Vec<f32> = cut
        .values
        .iter()
        .copied()
        .filter(|v| v.is_finite())
        .collect();
    if finite.is_empty() {
        return Err(no_data(path, "no finite pixel in the cut-out"));
    }
    let (lo, hi) = display_limits(&finite, plot.stretch);
    render(path, size, &StampFigure { plot, cut, lo, hi })
}

/// The (possibly binned) cut-out: cell (i, j) covers pixels x0 + i·bin .. x0 + (i+1)·bin − 1.
struct Cutout {
    x0: i64,
    y0: i64,
    bin: usize,
    nx: usize,
    ny: usize,
    /// Row-major cell values (mean of the finite pixels, NaN when none).
    values: Vec<f32>,
}

impl Cutout {
    fn new(plot: &PostageStampPlot<'_>) -> Cutout {
        let hs = plot.half_size_px as i64;
        let side = 2 * plot.half_size_px + 1;
        let bin = side.div_ceil(MAX_CELLS);
        let n = side.div_ceil(bin);
        let x0 = plot.centre_x.round() as i64 - hs;
        let y0 = plot.centre_y.round() as i64 - hs;
        let img = plot.image;
        let mut values = vec![f32::NAN; n * n];
        for j in 0..n {
            for i in 0..n {
                let (mut sum, mut count) = (0.0f64, 0usize);
                for dy in 0..bin {
                    for dx in 0..bin {
                        let x = x0 + (i * bin + dx) as i64;
                        let y = y0 + (j * bin + dy) as i64;
                        if x < 0 || y < 0 || x >= img.width as i64 || y >= img.height as i64 {
                            continue;
                        }
                        let v = img.data[y as usize * img.width + x as usize];
                        if v.is_finite() {
                            sum += v as f64;
                            count += 1;
                        }
                    }
                }
                if count > 0 {
                    values[j * n + i] = (sum / count as f64) as f32;
                }
            }
        }
        Cutout {
            x0,
            y0,
            bin,
            nx: n,
            ny: n,
            values,
        }
    }
}

/// Percentile (0–100) of sorted values, linear interpolation (numpy's default).
fn percentile(sorted: &[f32], q: f64) -> f64 {
    let n = sorted.len();
    if n == 1 {
        return sorted[0] as f64;
    }
    let pos = (q.clamp(0.0, 100.0) / 100.0) * (n - 1) as f64;
    let i = pos.floor() as usize;
    let f = pos - i as f64;
    if i + 1 >= n {
        sorted[n - 1] as f64
    } else {
        sorted[i] as f64 * (1.0 - f) + sorted[i + 1] as f64 * f
    }
}

fn display_limits(finite: &[f32], stretch: Stretch) -> (f64, f64) {
    let (lo, hi) = match stretch {
        Stretch::Asinh {
            min_percentile,
            max_percentile,
            ..
        } => {
            let mut s = finite.to_vec();
            s.sort_by(f32::total_cmp);
            (
                percentile(&s, min_percentile),
                percentile(&s, max_percentile),
            )
        }
        Stretch::ZScale { contrast } => zscale_limits(finite, contrast).unwrap_or_else(|| {
            let mut s = finite.to_vec();
            s.sort_by(f32::total_cmp);
            (s[0] as f64, s[s.len() - 1] as f64)
        }),
    };
    if hi > lo {
        (lo, hi)
    } else {
        (lo - 0.5, lo + 0.5)
    }
}

/// IRAF zscale limits as astropy's `ZScaleInterval` computes them (n_samples = 1000,
/// max_reject = 0.5, min_npixels = 5, krej = 2.5, max_iterations = 5), on the finite values of
/// `values`. `None` when there is no finite value.
pub fn zscale_limits(values: &[f32], contrast: f64) -> Option<(f64, f64)> {
    let finite: Vec<f32> = values.iter().copied().filter(|v| v.is_finite()).collect();
    if finite.is_empty() {
        return None;
    }
    const N_SAMPLES: usize = 1000;
    let stride = (finite.len() / N_SAMPLES).max(1);
    let mut samples: Vec<f64> = finite
        .iter()
        .step_by(stride)
        .take(N_SAMPLES)
        .map(|&v| v as f64)
        .collect();
    samples.sort_by(f64::total_cmp);
    let npix = samples.len();
    let (mut vmin, mut vmax) = (samples[0], samples[npix - 1]);
    let minpix = 5usize.max((npix as f64 * 0.5) as usize);
    let ngrow = 1usize.max((npix as f64 * 0.01) as usize);
    let mut bad = vec![false; npix];
    let mut ngood = npix;
    let mut last_ngood = npix + 1;
    let mut slope = 0.0;
    let mut fitted = false;
    for _ in 0..5 {
        if ngood >= last_ngood || ngood < minpix {
            break;
        }
        // Least-squares line through the good samples vs their index.
        let (mut sw, mut sx, mut sy, mut sxx, mut sxy) = (0.0, 0.0, 0.0, 0.0, 0.0);
        for (i, &v) in samples.iter().enumerate() {
            if !bad[i] {
                let x = i as f64;
                sw += 1.0;
                sx += x;
                sy += v;
                sxx += x * x;
                sxy += x * v;
            }
        }
        let den = sw * sxx - sx * sx;
        if den <= 0.0 {
            break;
        }
        slope = (sw * sxy - sx * sy) / den;
        let intercept = (sy - slope * sx) / sw;
        fitted = true;
        let flat: Vec<f64> = samples
            .iter()
            .enumerate()
            .map(|(i, &v)| v - (intercept + slope * i as f64))
            .collect();
        let good: Vec<f64> = flat
            .iter()
            .zip(&bad)
            .filter(|(_, &b)| !b)
            .map(|(&f, _)| f)
            .collect();
        let mean = good.iter().sum::<f64>() / good.len() as f64;
        let std = (good.iter().map(|f| (f - mean).powi(2)).sum::<f64>() / good.len() as f64).sqrt();
        let threshold = 2.5 * std;
        let newly: Vec<bool> = flat
            .iter()
            .zip(&bad)
            .map(|(&f, &b)| b || f < -threshold || f > threshold)
            .collect();
        // Grow rejected samples by ngrow (numpy convolve with ones(ngrow), mode "same").
        let mut grown = vec![false; npix];
        let left = (ngrow - 1) / 2;
        for (i, &b) in newly.iter().enumerate() {
            if b {
                let start = i.saturating_sub(left);
                let end = (i + ngrow - 1 - left).min(npix - 1);
                for g in grown.iter_mut().take(end + 1).skip(start) {
                    *g = true;
                }
            }
        }
        bad = grown;
        last_ngood = ngood;
        ngood = bad.iter().filter(|b| !**b).count();
    }
    if fitted && ngood >= minpix {
        if contrast > 0.0 {
            slope /= contrast;
        }
        let center = (npix - 1) / 2;
        let median = if npix % 2 == 1 {
            samples[npix / 2]
        } else {
            0.5 * (samples[npix / 2 - 1] + samples[npix / 2])
        };
        vmin = vmin.max(median - (center as f64 - 1.0) * slope);
        vmax = vmax.min(median + (npix - center) as f64 * slope);
    }
    Some((vmin, vmax))
}

struct StampFigure<'a, 'b> {
    plot: &'a PostageStampPlot<'b>,
    cut: Cutout,
    lo: f64,
    hi: f64,
}

impl StampFigure<'_, '_> {
    fn grey(&self, v: f32) -> RGBColor {
        if !v.is_finite() {
            return NO_DATA;
        }
        let t = ((v as f64 - self.lo) / (self.hi - self.lo)).clamp(0.0, 1.0);
        let t = match self.plot.stretch {
            Stretch::Asinh { softening, .. } => {
                let a = if softening > 0.0 { softening } else { 0.1 };
                (t / a).asinh() / (1.0 / a).asinh()
            }
            Stretch::ZScale { .. } => t,
        };
        let g = (t * 255.0).round().clamp(0.0, 255.0) as u8;
        RGBColor(g, g, g)
    }
}

fn circle(cx: f64, cy: f64, r: f64) -> Vec<(f64, f64)> {
    (0..=360)
        .map(|i| {
            let t = (i as f64).to_radians();
            (cx + r * t.cos(), cy + r * t.sin())
        })
        .collect()
}

impl Figure for StampFigure<'_, '_> {
    fn draw<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
        theme: &Theme,
    ) -> Result<(), DrawFail>
    where
        DB::ErrorType: 'static,
    {
        let plot = self.plot;
        let cut = &self.cut;
        let area = theme.titled(root, plot.title)?;
        let (w, h) = area.dim_in_pixel();
        let side = h.min((w as f64 * 0.66) as u32);
        let (left, right) = area.split_horizontally(side);

        let x_lo = cut.x0 as f64 - 0.5;
        let x_hi = x_lo + (cut.nx * cut.bin) as f64;
        let y_lo = cut.y0 as f64 - 0.5;
        let y_hi = y_lo + (cut.ny * cut.bin) as f64;
        let x = Axis::from_coords(Transform::Linear, x_lo, x_hi, "x (px)");
        let y = Axis::from_coords(Transform::Linear, y_lo, y_hi, "y (px)");
        // A square plotting area: equal label areas and margins on both axes.
        let label_area = theme.px(64.0).max(super::axes::y_label_area(theme, &y));
        let opts = FrameOptions {
            x_labels: true,
            y_label_area: Some(label_area),
            right_margin: 8.0,
            top_margin: 4.0,
        };
        let left = {
            let (lw, lh) = left.dim_in_pixel();
            // build_chart uses x label area 56 px and margins 4/8 (top/bottom) and 6/8
            // (left/right): shrink the area so that the plotting area is square.
            let plot_w =
                lw as i64 - label_area as i64 - theme.px(6.0) as i64 - theme.px(8.0) as i64;
            let plot_h =
                lh as i64 - theme.px(56.0) as i64 - theme.px(4.0) as i64 - theme.px(4.0) as i64;
            let s = plot_w.min(plot_h).max(10);
            let dw = (plot_w - s).max(0) as u32;
            let dh = (plot_h - s).max(0) as u32;
            left.margin(dh / 2, dh - dh / 2, dw / 2, dw - dw / 2)
        };
        let mut chart = build_chart(&left, theme, &x, &y, opts)?;
        let bin = cut.bin as f64;
        let mut cells = Vec::with_capacity(cut.nx * cut.ny);
        for j in 0..cut.ny {
            // Merge runs of equal grey along a row (smaller SVG files).
            let mut i = 0;
            while i < cut.nx {
                let c = self.grey(cut.values[j * cut.nx + i]);
                let mut k = i + 1;
                while k < cut.nx && self.grey(cut.values[j * cut.nx + k]) == c {
                    k += 1;
                }
                let xa = x_lo + i as f64 * bin;
                let xb = x_lo + k as f64 * bin;
                let ya = y_lo + j as f64 * bin;
                cells.push(Rectangle::new([(xa, ya), (xb, ya + bin)], c.filled()));
                i = k;
            }
        }
        chart.draw_series(cells)?;

        let bx = (x_lo, x_hi);
        let by = (y_lo, y_hi);
        let (cx, cy) = (plot.centre_x, plot.centre_y);
        let outline = |c: RGBColor| c.stroke_width(theme.px(2.0));
        if let Some((r_in, r_out)) = plot.annulus_px {
            for r in [r_in, r_out] {
                if r > 0.0 && r.is_finite() {
                    for run in clip_polyline_box(&circle(cx, cy, r), bx, by) {
                        chart.draw_series(std::iter::once(DashedPathElement::new(
                            run,
                            theme.px(6.0),
                            theme.px(4.0),
                            outline(ANNULUS),
                        )))?;
                    }
                }
            }
        }
        if plot.aperture_radius_px > 0.0 && plot.aperture_radius_px.is_finite() {
            for run in clip_polyline_box(&circle(cx, cy, plot.aperture_radius_px), bx, by) {
                chart.draw_series(std::iter::once(PathElement::new(run, outline(APERTURE))))?;
            }
        }
        // Centre mark: a small cross.
        let arm = theme.pxi(5.0);
        chart.draw_series(std::iter::once(
            EmptyElement::at((cx, cy))
                + PathElement::new(
                    vec![(-arm, 0), (arm, 0)],
                    APERTURE.stroke_width(theme.px(1.0)),
                )
                + PathElement::new(
                    vec![(0, -arm), (0, arm)],
                    APERTURE.stroke_width(theme.px(1.0)),
                ),
        ))?;

        // Arrows, in data (pixel) coordinates: the plotting area is square, so directions
        // are preserved.
        let span = x_hi - x_lo;
        let len = 0.14 * span;
        let arrow = |origin: (f64, f64), dir: (f64, f64), color: RGBColor, label: &str| {
            let tip = (origin.0 + len * dir.0, origin.1 + len * dir.1);
            let head = 0.32 * len;
            let back = (-dir.0, -dir.1);
            let rot = |v: (f64, f64), a: f64| {
                let (s, c) = a.to_radians().sin_cos();
                (v.0 * c - v.1 * s, v.0 * s + v.1 * c)
            };
            let h1 = rot(back, 25.0);
            let h2 = rot(back, -25.0);
            let shaft = vec![origin, tip];
            let heads = vec![
                (tip.0 + head * h1.0, tip.1 + head * h1.1),
                tip,
                (tip.0 + head * h2.0, tip.1 + head * h2.1),
            ];
            let lab = (origin.0 + 1.38 * len * dir.0, origin.1 + 1.38 * len * dir.1);
            (shaft, heads, color, lab, label.to_string())
        };
        let mut arrows = vec![];
        let ne_origin = (x_lo + 0.22 * span, y_hi - 0.22 * span);
        if let (Some(n), Some(e)) = (
            plot.orientation.pixel_direction(0.0),
            plot.orientation.pixel_direction(90.0),
        ) {
            arrows.push(arrow(ne_origin, n, COMPASS, "N"));
            arrows.push(arrow(ne_origin, e, COMPASS, "E"));
        }
        let sv_origin = (x_hi - 0.22 * span, y_lo + 0.22 * span);
        if let Some(d) = plot
            .sun_pa_deg
            .and_then(|pa| plot.orientation.pixel_direction(pa))
        {
            arrows.push(arrow(sv_origin, d, SUN, "Sun"));
        }
        if let Some(d) = plot
            .neg_velocity_pa_deg
            .and_then(|pa| plot.orientation.pixel_direction(pa))
        {
            arrows.push(arrow(sv_origin, d, VELOCITY, "−v"));
        }
        let shadow = BLACK.mix(0.7).stroke_width(theme.px(4.5));
        for (shaft, heads, _, _, _) in &arrows {
            chart.draw_series([
                PathElement::new(shaft.clone(), shadow),
                PathElement::new(heads.clone(), shadow),
            ])?;
        }
        let centred = |c: RGBColor| {
            theme
                .annotation_font(c, true)
                .pos(Pos::new(HPos::Center, VPos::Center))
        };
        for (shaft, heads, color, lab, text) in &arrows {
            let style = color.stroke_width(theme.px(2.2));
            chart.draw_series([
                PathElement::new(shaft.clone(), style),
                PathElement::new(heads.clone(), style),
            ])?;
            // Dark halo behind the label for legibility on bright backgrounds.
            let halo = theme
                .annotation_font(BLACK, true)
                .pos(Pos::new(HPos::Center, VPos::Center));
            // One screen pixel in data units.
            let d = span / chart.plotting_area().dim_in_pixel().0.max(1) as f64;
            for (ox, oy) in [
                (-d, 0.0),
                (d, 0.0),
                (0.0, -d),
                (0.0, d),
                (-d, -d),
                (d, d),
                (-d, d),
                (d, -d),
            ] {
                chart.draw_series(std::iter::once(Text::new(
                    text.clone(),
                    (lab.0 + ox, lab.1 + oy),
                    halo.clone(),
                )))?;
            }
            chart.draw_series(std::iter::once(Text::new(
                text.clone(),
                *lab,
                centred(*color),
            )))?;
        }

        // The common origin of the Sun and −v arrows.
        if plot.sun_pa_deg.is_some() || plot.neg_velocity_pa_deg.is_some() {
            chart.draw_series([
                Circle::new(sv_origin, theme.pxi(4.0), BLACK.mix(0.7).filled()),
                Circle::new(sv_origin, theme.pxi(2.5), WHITE.filled()),
            ])?;
        }

        // Scale bar (when the CD matrix gives the pixel scale), lower left.
        let scale = plot.orientation.pixel_scale_arcsec();
        if let Some(s) = scale {
            let target = 0.25 * span * s;
            let k = target.log10().floor();
            let nice = [1.0, 2.0, 5.0, 10.0]
                .iter()
                .map(|m| m * 10f64.powf(k))
                .rfind(|v| *v <= target)
                .unwrap_or(10f64.powf(k));
            let len_px = nice / s;
            let p0 = (x_lo + 0.06 * span, y_lo + 0.07 * span);
            let p1 = (p0.0 + len_px, p0.1);
            chart.draw_series([
                PathElement::new(vec![p0, p1], BLACK.mix(0.7).stroke_width(theme.px(5.0))),
                PathElement::new(vec![p0, p1], WHITE.stroke_width(theme.px(2.5))),
            ])?;
            let text = format!("{}″", fmt_sig(nice));
            let lab = ((p0.0 + p1.0) / 2.0, p0.1 + 0.045 * span);
            chart.draw_series(std::iter::once(Text::new(text, lab, centred(WHITE))))?;
        }
        draw_box(&mut chart, theme, &x, &y)?;

        // Side panel.
        let panel = right.margin(theme.px(30.0), 0, theme.px(10.0), theme.px(10.0));
        let font = theme.small_font();
        let line_h = theme.pxi(21.0);
        let row = std::cell::Cell::new(0i32);
        let text_line = |t: &str, color: Option<(RGBColor, bool)>| -> Result<(), DrawFail> {
            let ypos = row.get() * line_h;
            let x_text = match color {
                Some((c, dashed)) => {
                    let yy = ypos + line_h / 2 - theme.pxi(3.0);
                    let st = c.stroke_width(theme.px(3.0));
                    if dashed {
                        panel.draw(&PathElement::new(vec![(0, yy), (theme.pxi(8.0), yy)], st))?;
                        panel.draw(&PathElement::new(
                            vec![(theme.pxi(13.0), yy), (theme.pxi(22.0), yy)],
                            st,
                        ))?;
                    } else {
                        panel.draw(&PathElement::new(vec![(0, yy), (theme.pxi(22.0), yy)], st))?;
                    }
                    theme.pxi(30.0)
                }
                None => 0,
            };
            panel.draw_text(t, &font, (x_text, ypos))?;
            row.set(row.get() + 1);
            Ok(())
        };
        let unit_arcsec = |px: f64| match scale {
            Some(s) => format!(" ({}″)", fmt_fixed(px * s, 2)),
            None => String::new(),
        };
        text_line(
            &format!(
                "Centre: x = {}, y = {} px",
                fmt_fixed(plot.centre_x, 2),
                fmt_fixed(plot.centre_y, 2)
            ),
            None,
        )?;
        if plot.aperture_radius_px > 0.0 {
            text_line(
                &format!(
                    "Aperture r = {} px{}",
                    fmt_fixed(plot.aperture_radius_px, 2),
                    unit_arcsec(plot.aperture_radius_px)
                ),
                Some((APERTURE, false)),
            )?;
        }
        if let Some((a, b)) = plot.annulus_px {
            text_line(
                &format!("Annulus {}–{} px", fmt_fixed(a, 1), fmt_fixed(b, 1)),
                Some((ANNULUS, true)),
            )?;
        }
        if let Some(pa) = plot.sun_pa_deg {
            text_line(
                &format!("To the Sun, PA {}°", fmt_fixed(pa.rem_euclid(360.0), 1)),
                Some((SUN, false)),
            )?;
        }
        if let Some(pa) = plot.neg_velocity_pa_deg {
            text_line(
                &format!("−v (PsAMV), PA {}°", fmt_fixed(pa.rem_euclid(360.0), 1)),
                Some((VELOCITY, false)),
            )?;
        }
        row.set(row.get() + 1);
        let stretch = match plot.stretch {
            Stretch::Asinh {
                softening,
                min_percentile,
                max_percentile,
            } => format!(
                "Stretch: asinh, a = {}, {}–{} %",
                fmt_sig(softening),
                fmt_sig(min_percentile),
                fmt_sig(max_percentile)
            ),
            Stretch::ZScale { contrast } => {
                format!("Stretch: zscale, contrast {}", fmt_sig(contrast))
            }
        };
        text_line(&stretch, None)?;
        text_line(
            &format!(
                "Display range {} to {}",
                fmt_level(self.lo),
                fmt_level(self.hi)
            ),
            None,
        )?;
        if cut.bin > 1 {
            text_line(&format!("Shown binned {}×{}", cut.bin, cut.bin), None)?;
        }
        if let Some(s) = scale {
            text_line(&format!("Scale {}″/px", fmt_fixed(s, 3)), None)?;
        }
        match plot.orientation {
            ImageOrientation::CdMatrix(_) => text_line("Orientation from the CD matrix", None)?,
            ImageOrientation::NorthAngle {
                north_deg,
                east_counterclockwise,
            } => text_line(
                &format!(
                    "North {}° from +y, east {}",
                    fmt_fixed(north_deg, 1),
                    if east_counterclockwise {
                        "CCW of north"
                    } else {
                        "CW of north"
                    }
                ),
                None,
            )?,
        }
        text_line("PA measured from N through E", None)?;
        text_line("y up: row 0 at the bottom", None)?;
        if cut.values.iter().any(|v| !v.is_finite()) {
            text_line("Blue: outside the image / no data", Some((NO_DATA, false)))?;
        }
        Ok(())
    }
}

/// A display level with a sensible number of digits.
fn fmt_level(v: f64) -> String {
    let a = v.abs();
    if a >= 1000.0 {
        fmt_fixed(v, 0)
    } else if a >= 10.0 {
        fmt_fixed(v, 1)
    } else {
        fmt_fixed(v, 3)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directions_from_cd_and_angle_agree() {
        let s = 0.2138 / 3600.0;
        // North up, east left.
        let cd = ImageOrientation::CdMatrix([[-s, 0.0], [0.0, s]]);
        let ang = ImageOrientation::default();
        for pa in [0.0, 30.0, 90.0, 180.0, 250.0] {
            let a = cd.pixel_direction(pa).unwrap();
            let b = ang.pixel_direction(pa).unwrap();
            assert!(
                (a.0 - b.0).abs() < 1e-12 && (a.1 - b.1).abs() < 1e-12,
                "{pa}: {a:?} {b:?}"
            );
        }
        let n = cd.pixel_direction(0.0).unwrap();
        assert!((n.1 - 1.0).abs() < 1e-12);
        let e = cd.pixel_direction(90.0).unwrap();
        assert!((e.0 + 1.0).abs() < 1e-12);
        assert!((cd.pixel_scale_arcsec().unwrap() - 0.2138).abs() < 1e-9);
        // Rotated by 30° (north 30° CCW from +y).
        let t = 30f64.to_radians();
        let rot =
            ImageOrientation::CdMatrix([[-s * t.cos(), -s * t.sin()], [-s * t.sin(), s * t.cos()]]);
        let rot_ang = ImageOrientation::NorthAngle {
            north_deg: 30.0,
            east_counterclockwise: true,
        };
        for pa in [0.0, 45.0, 90.0, 300.0] {
            let a = rot.pixel_direction(pa).unwrap();
            let b = rot_ang.pixel_direction(pa).unwrap();
            assert!(
                (a.0 - b.0).abs() < 1e-9 && (a.1 - b.1).abs() < 1e-9,
                "{pa}: {a:?} {b:?}"
            );
        }
        // Mirrored: east right.
        let m = ImageOrientation::CdMatrix([[s, 0.0], [0.0, s]]);
        assert!((m.pixel_direction(90.0).unwrap().0 - 1.0).abs() < 1e-12);
        assert!(ImageOrientation::CdMatrix([[0.0, 0.0], [0.0, 0.0]])
            .pixel_direction(0.0)
            .is_none());
    }

    #[test]
    fn zscale_of_a_ramp_and_noise() {
        // Uniform ramp 0..999: slope 1 per sample; contrast 0.25 → limits clipped to min/max.
        let ramp: Vec<f32> = (0..1000).map(|i| i as f32).collect();
        let (lo, hi) = zscale_limits(&ramp, 0.25).unwrap();
        assert_eq!((lo, hi), (0.0, 999.0));
        // Flat field with a few bright outliers: limits close to the flat level.
        let mut flat: Vec<f32> = (0..2000)
            .map(|i| 100.0 + ((i * 7919) % 13) as f32 * 0.1)
            .collect();
        for v in flat.iter_mut().step_by(97) {
            *v = 5000.0;
        }
        let (lo, hi) = zscale_limits(&flat, 0.25).unwrap();
        // astropy 8.0 ZScaleInterval(contrast=0.25).get_limits: (100.0, 103.2254734500818).
        assert_eq!(lo, 100.0);
        assert!((hi - 103.225_473_450_081_8).abs() < 1e-4, "{hi}");
        assert!(zscale_limits(&[f32::NAN], 0.25).is_none());
    }
}
