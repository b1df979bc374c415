//! Circular apertures and annuli with exact pixel overlap, annulus backgrounds, sums with
//! masks, errors and curves of growth.
//!
//! Coordinates are 0-based pixel coordinates with pixel centres on integers (as numpy and
//! photutils): pixel (i, j) covers the square [i − ½, i + ½] × [j − ½, j + ½].
//!
//! # What is computed, and how it matches photutils
//!
//! * **Aperture weights** are the exact area of the circle ∩ pixel square (photutils'
//!   `method='exact'`), computed here by integrating the circle's chord over the square
//!   ([`circle_rect_overlap`]). Pixels whose farthest corner lies inside the circle have
//!   weight 1, pixels whose nearest point lies outside weight 0; only boundary pixels need the
//!   geometry. Weights are in [0, 1] and add up to πr² for an aperture inside the image.
//! * **Sums** are Σ wᵢ dᵢ over usable pixels (finite, and without an
//!   [`pixel_flag::UNUSABLE`] bit in the mask); `area_px` is Σ wᵢ over the same pixels, i.e.
//!   photutils' `ApertureStats(...).sum_aper_area` / `aperture.area_overlap(data, mask)`.
//! * **Annulus background** reproduces `ApertureStats(data, CircularAnnulus(...),
//!   sigma_clip=SigmaClip(sigma=3, maxiters=10)).median`. ApertureStats computes its statistics
//!   (median, std) with the **'center'** aperture mask, not the exact one (`sum_method` is only
//!   used for the sum): a pixel belongs to the annulus when its centre is at distance d from
//!   the annulus centre with d < r_out and not d < r_in, i.e. r_in ≤ d < r_out (photutils
//!   subtracts the inner 'center' mask from the outer one, each testing d < r). Non-finite
//!   and masked pixels are left out. The values are then clipped by astropy's `sigma_clip`
//!   (axis=None path): at each pass the median m and population standard deviation s of the
//!   values still kept give bounds m ± σ·s (inclusive); at most `maxiters` passes, stopping
//!   after a pass that rejects nothing. Like astropy, the values finally kept are the
//!   *original* annulus values inside the bounds of the last pass (which equals the
//!   iteratively kept set whenever the bounds shrink, as they nearly always do). The
//!   background is the median of the kept values; its error per pixel is s_kept / √n_kept.
//!
//! # Errors
//!
//! For an aperture of usable area A (= Σ wᵢ) with background B per pixel, net = Σ wᵢ dᵢ − A·B
//! and
//!
//! ```text
//! net_err = sqrt( Σ wᵢ σᵢ²  +  A² σ_bkg² / N_bkg )
//! ```
//!
//! where σᵢ² is the variance of pixel i ([`NoiseModel`]: Poisson + read noise, or a
//! caller-supplied variance image; weighted by wᵢ, as photutils does for `method='exact'`),
//! σ_bkg the standard deviation of the clipped annulus values and N_bkg their number. With the
//! CCD model σᵢ² = max(dᵢ, 0)/g + (RN/g)² in ADU² (g in e⁻/ADU, RN in e⁻): the Poisson term is
//! right only for bias-subtracted data; on raw frames it includes the bias level and
//! overestimates the error.

use thiserror::Error;

use crate::image::{pixel_flag, Image, PixelMask};
use crate::stats::SigmaClip;

/// Problems with the inputs of an aperture measurement.
#[derive(Debug, Error, PartialEq)]
pub enum ApertureError {
    #[error("aperture centre ({x}, {y}) is not finite")]
    NonFiniteCentre { x: f64, y: f64 },
    #[error("aperture radius {0} px must be positive and finite")]
    BadRadius(f64),
    #[error("annulus radii {inner} to {outer} px: need 0 ≤ inner < outer, both finite")]
    BadAnnulus { inner: f64, outer: f64 },
    #[error("no aperture radius given")]
    NoRadius,
    #[error("{what} is {width}×{height} pixels but the image is {image_width}×{image_height}")]
    ShapeMismatch {
        what: &'static str,
        width: usize,
        height: usize,
        image_width: usize,
        image_height: usize,
    },
    #[error("gain {0} e⁻/ADU must be positive and finite")]
    BadGain(f64),
    #[error("read noise {0} e⁻ must be non-negative and finite")]
    BadReadNoise(f64),
    #[error("centroid failed near ({x:.2}, {y:.2}): {reason}")]
    Centroid { x: f64, y: f64, reason: String },
}

/// Quality flags of an [`ApertureMeasurement`], as bits of a `u32` (like photutils' flags).
pub mod aperture_flag {
    /// The aperture is partly outside the image (the missing part is not extrapolated).
    pub const APERTURE_TRUNCATED: u32 = 1 << 0;
    /// Unusable pixels (non-finite or flagged in the mask) inside the aperture were excluded.
    pub const MASKED_PIXELS: u32 = 1 << 1;
    /// A pixel inside the aperture is saturated (mask bit, or at/above the saturation level).
    pub const SATURATED: u32 = 1 << 2;
    /// No usable pixel inside the aperture: sum and net are NaN.
    pub const NO_USABLE_PIXELS: u32 = 1 << 3;
    /// The background annulus is partly outside the image.
    pub const ANNULUS_TRUNCATED: u32 = 1 << 4;
    /// Fewer clipped annulus pixels than `MeasureOptions::min_background_pixels`.
    pub const FEW_BACKGROUND_PIXELS: u32 = 1 << 5;
    /// Sigma clipping of the annulus still rejected pixels at its last pass.
    pub const BACKGROUND_NOT_CONVERGED: u32 = 1 << 6;
    /// No usable annulus pixel: background, net and its error are NaN.
    pub const NO_BACKGROUND: u32 = 1 << 7;

    /// Every flag with its stable name, in bit order.
    pub const NAMES: [(u32, &str); 8] = [
        (APERTURE_TRUNCATED, "aperture_truncated"),
        (MASKED_PIXELS, "masked_pixels"),
        (SATURATED, "saturated"),
        (NO_USABLE_PIXELS, "no_usable_pixels"),
        (ANNULUS_TRUNCATED, "annulus_truncated"),
        (FEW_BACKGROUND_PIXELS, "few_background_pixels"),
        (BACKGROUND_NOT_CONVERGED, "background_not_converged"),
        (NO_BACKGROUND, "no_background"),
    ];
}

/// The names of the set flags joined by `|`, in bit order (empty when none is set), e.g.
/// `aperture_truncated|background_not_converged`. Unknown bits appear as `bit<N>`.
pub fn flags_to_string(flags: u32) -> String {
    let mut parts: Vec<String> = Vec::new();
    for bit in 0..32 {
        let value = 1u32 << bit;
        if flags & value == 0 {
            continue;
        }
        match aperture_flag::NAMES.iter().find(|(v, _)| *v == value) {
            Some((_, name)) => parts.push((*name).to_string()),
            None => parts.push(format!("bit{bit}")),
        }
    }
    parts.join("|")
}

// ---------------------------------------------------------------------------------------------
// Geometry

/// ∫ₗᵘ √(r² − x²) dx for 0 ≤ l < u ≤ r: the trapezoid under the chord plus the circular
/// segment between the chord and the arc (stable for short arcs and large radii).
fn area_under_arc(l: f64, u: f64, r: f64) -> f64 {
    let sl = ((r - l) * (r + l)).max(0.0).sqrt();
    let su = ((r - u) * (r + u)).max(0.0).sqrt();
    // Angle between the radii to (l, sl) and (u, su).
    let theta = (u * sl - l * su).atan2(l * u + sl * su).max(0.0);
    let theta_minus_sin = if theta < 1e-3 {
        let t2 = theta * theta;
        theta * t2 / 6.0 * (1.0 - t2 / 20.0 * (1.0 - t2 / 42.0))
    } else {
        theta - theta.sin()
    };
    0.5 * (u - l) * (su + sl) + 0.5 * r * r * theta_minus_sin
}

/// Area of the disc of radius r at the origin ∩ [a, b] × [c, d] with 0 ≤ a, 0 ≤ c.
fn quadrant_overlap(a: f64, b: f64, c: f64, d: f64, r: f64) -> f64 {
    if b <= a || d <= c {
        return 0.0;
    }
    let r2 = r * r;
    if a * a + c * c >= r2 {
        return 0.0;
    }
    if b * b + d * d <= r2 {
        return (b - a) * (d - c);
    }
    // The arc y = √(r² − x²) decreases on [0, r]: it is above the rectangle for x < x_d,
    // crosses it on [x_d, x_c] and is below it for x > x_c (c < r since a² + c² < r²).
    let x_d = if d < r {
        ((r - d) * (r + d)).sqrt()
    } else {
        0.0
    };
    let x_c = ((r - c) * (r + c)).sqrt();
    let mut area = 0.0;
    let full_end = b.min(x_d);
    if full_end > a {
        area += (full_end - a) * (d - c);
    }
    let (l, u) = (a.max(x_d), b.min(x_c));
    if u > l {
        area += area_under_arc(l, u, r) - c * (u - l);
    }
    area.max(0.0)
}

/// Area of the intersection of the disc of radius `r` centred on the origin with the
/// axis-aligned rectangle [x0, x1] × [y0, y1] (exact, in the rectangle's units squared).
///
/// The rectangle is cut along the axes and each piece reflected into the first quadrant, where
/// the area is the integral of the circle's chord height clamped to the rectangle.
pub fn circle_rect_overlap(x0: f64, x1: f64, y0: f64, y1: f64, r: f64) -> f64 {
    let non_empty = r > 0.0 && x1 > x0 && y1 > y0;
    if !non_empty {
        return 0.0;
    }
    let xs = [(x0.max(0.0), x1.max(0.0)), ((-x1).max(0.0), (-x0).max(0.0))];
    let ys = [(y0.max(0.0), y1.max(0.0)), ((-y1).max(0.0), (-y0).max(0.0))];
    let mut area = 0.0;
    for &(a, b) in &xs {
        for &(c, d) in &ys {
            area += quadrant_overlap(a, b, c, d, r);
        }
    }
    area
}

/// Fraction of the unit pixel whose centre is at offset (dx, dy) from the centre of a circle
/// of radius `r` that lies inside the circle.
pub fn pixel_overlap(dx: f64, dy: f64, r: f64) -> f64 {
    let (ax, ay) = (dx.abs(), dy.abs());
    let (nx, ny) = ((ax - 0.5).max(0.0), (ay - 0.5).max(0.0));
    let r2 = r * r;
    if nx * nx + ny * ny >= r2 {
        return 0.0;
    }
    let (fx, fy) = (ax + 0.5, ay + 0.5);
    if fx * fx + fy * fy <= r2 {
        return 1.0;
    }
    circle_rect_overlap(ax - 0.5, ax + 0.5, ay - 0.5, ay + 0.5, r).clamp(0.0, 1.0)
}

/// Inclusive range of pixel indices, clipped to `0..n`, whose squares can meet [lo, hi].
fn pixel_range(lo: f64, hi: f64, n: usize) -> Option<(usize, usize)> {
    if n == 0 {
        return None;
    }
    let first = (lo + 0.5).floor().max(0.0);
    let last = (hi - 0.5).ceil().min(n as f64 - 1.0);
    if first > last {
        None
    } else {
        Some((first as usize, last as usize))
    }
}

/// True when the disc reaches outside the image area [−½, w − ½] × [−½, h − ½].
fn disc_leaves_image(x: f64, y: f64, r: f64, width: usize, height: usize) -> bool {
    x - r < -0.5 || y - r < -0.5 || x + r > width as f64 - 0.5 || y + r > height as f64 - 0.5
}

fn check_centre(x: f64, y: f64) -> Result<(), ApertureError> {
    if x.is_finite() && y.is_finite() {
        Ok(())
    } else {
        Err(ApertureError::NonFiniteCentre { x, y })
    }
}

fn check_radius(r: f64) -> Result<(), ApertureError> {
    if r.is_finite() && r > 0.0 {
        Ok(())
    } else {
        Err(ApertureError::BadRadius(r))
    }
}

/// Per-pixel overlap fractions of an aperture with an image, over a bounding box.
#[derive(Debug, Clone, PartialEq)]
pub struct ApertureWeights {
    x_min: usize,
    y_min: usize,
    nx: usize,
    ny: usize,
    weights: Vec<f64>,
    truncated: bool,
}

impl ApertureWeights {
    fn empty(truncated: bool) -> Self {
        ApertureWeights {
            x_min: 0,
            y_min: 0,
            nx: 0,
            ny: 0,
            weights: Vec::new(),
            truncated,
        }
    }

    /// Bounding box inside the image: (x_min, y_min, columns, rows).
    pub fn bbox(&self) -> (usize, usize, usize, usize) {
        (self.x_min, self.y_min, self.nx, self.ny)
    }

    /// Overlap fraction of pixel (x, y) (0 outside the bounding box).
    pub fn get(&self, x: usize, y: usize) -> f64 {
        if x < self.x_min || y < self.y_min || x >= self.x_min + self.nx {
            return 0.0;
        }
        let (i, j) = (x - self.x_min, y - self.y_min);
        if j >= self.ny {
            return 0.0;
        }
        self.weights[j * self.nx + i]
    }

    /// Pixels with a non-zero weight, as (x, y, weight), row by row.
    pub fn iter(&self) -> impl Iterator<Item = (usize, usize, f64)> + '_ {
        self.weights
            .iter()
            .enumerate()
            .filter(|(_, w)| **w > 0.0)
            .map(|(k, w)| (self.x_min + k % self.nx, self.y_min + k / self.nx, *w))
    }

    /// Σ weights: the geometric area (px²) of the aperture inside the image.
    pub fn total(&self) -> f64 {
        self.weights.iter().sum()
    }

    /// True when part of the aperture lies outside the image.
    pub fn is_truncated(&self) -> bool {
        self.truncated
    }
}

/// A circular aperture (pixel coordinates, 0-based, pixel centres on integers).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CircularAperture {
    pub x: f64,
    pub y: f64,
    pub radius_px: f64,
}

impl CircularAperture {
    pub fn new(x: f64, y: f64, radius_px: f64) -> Result<Self, ApertureError> {
        check_centre(x, y)?;
        check_radius(radius_px)?;
        Ok(CircularAperture { x, y, radius_px })
    }

    /// πr², px².
    pub fn area(&self) -> f64 {
        std::f64::consts::PI * self.radius_px * self.radius_px
    }

    /// Exact overlap of the aperture with each pixel of a `width` × `height` image.
    pub fn weights(&self, width: usize, height: usize) -> ApertureWeights {
        let r = self.radius_px;
        let truncated = disc_leaves_image(self.x, self.y, r, width, height);
        let (Some((x0, x1)), Some((y0, y1))) = (
            pixel_range(self.x - r, self.x + r, width),
            pixel_range(self.y - r, self.y + r, height),
        ) else {
            return ApertureWeights::empty(truncated);
        };
        let (nx, ny) = (x1 - x0 + 1, y1 - y0 + 1);
        let mut weights = Vec::with_capacity(nx * ny);
        for j in y0..=y1 {
            let dy = j as f64 - self.y;
            for i in x0..=x1 {
                weights.push(pixel_overlap(i as f64 - self.x, dy, r));
            }
        }
        ApertureWeights {
            x_min: x0,
            y_min: y0,
            nx,
            ny,
            weights,
            truncated,
        }
    }
}

/// A circular annulus r_in ≤ d ≤ r_out around (x, y).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CircularAnnulus {
    pub x: f64,
    pub y: f64,
    pub inner_px: f64,
    pub outer_px: f64,
}

impl CircularAnnulus {
    /// `inner_px` may be 0 (a full disc).
    pub fn new(x: f64, y: f64, inner_px: f64, outer_px: f64) -> Result<Self, ApertureError> {
        check_centre(x, y)?;
        if !(inner_px.is_finite() && outer_px.is_finite() && inner_px >= 0.0 && inner_px < outer_px)
        {
            return Err(ApertureError::BadAnnulus {
                inner: inner_px,
                outer: outer_px,
            });
        }
        Ok(CircularAnnulus {
            x,
            y,
            inner_px,
            outer_px,
        })
    }

    /// π(r_out² − r_in²), px².
    pub fn area(&self) -> f64 {
        std::f64::consts::PI * (self.outer_px.powi(2) - self.inner_px.powi(2))
    }

    /// True when part of the annulus lies outside a `width` × `height` image.
    pub fn is_truncated(&self, width: usize, height: usize) -> bool {
        disc_leaves_image(self.x, self.y, self.outer_px, width, height)
    }

    /// Exact overlap weights (outer disc minus inner disc, as photutils' exact annulus mask).
    pub fn weights(&self, width: usize, height: usize) -> ApertureWeights {
        let outer = CircularAperture {
            x: self.x,
            y: self.y,
            radius_px: self.outer_px,
        };
        let mut w = outer.weights(width, height);
        if self.inner_px > 0.0 {
            for j in 0..w.ny {
                let dy = (w.y_min + j) as f64 - self.y;
                for i in 0..w.nx {
                    let dx = (w.x_min + i) as f64 - self.x;
                    let k = j * w.nx + i;
                    w.weights[k] = (w.weights[k] - pixel_overlap(dx, dy, self.inner_px)).max(0.0);
                }
            }
        }
        w
    }

    /// Pixels whose centre lies in the annulus by photutils' 'center' rule,
    /// r_in ≤ d < r_out (d = distance of the pixel centre), row by row.
    pub fn center_pixels(&self, width: usize, height: usize) -> Vec<(usize, usize)> {
        self.center_rows(width, height)
            .flat_map(|(j, xs)| xs.map(move |i| (i, j)))
            .collect()
    }

    /// The pixels of [`CircularAnnulus::center_pixels`] row by row, without collecting
    /// them: each row `j` the annulus covers with its pixels' columns in increasing order.
    pub fn center_rows(
        &self,
        width: usize,
        height: usize,
    ) -> impl Iterator<Item = (usize, impl Iterator<Item = usize>)> {
        let r = self.outer_px;
        let ranges = match (
            pixel_range(self.x - r, self.x + r, width),
            pixel_range(self.y - r, self.y + r, height),
        ) {
            (Some(xs), Some(ys)) => Some((xs, ys)),
            _ => None,
        };
        let (cx, cy) = (self.x, self.y);
        let (out2, in2) = (self.outer_px.powi(2), self.inner_px.powi(2));
        ranges.into_iter().flat_map(move |((x0, x1), (y0, y1))| {
            (y0..=y1).map(move |j| {
                let dy = j as f64 - cy;
                let xs = (x0..=x1).filter(move |&i| {
                    let dx = i as f64 - cx;
                    let d2 = dx * dx + dy * dy;
                    d2 < out2 && d2 >= in2
                });
                (j, xs)
            })
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Background

/// Sigma-clipped statistics of the pixels of an annulus.
#[derive(Debug, Clone, PartialEq)]
pub struct AnnulusBackground {
    /// The level subtracted from the apertures (data units per pixel): the clipped median,
    /// as photutils subtracts it, unless [`AnnulusBackground::at_mean`] chose the mean.
    pub level_per_px: f64,
    /// Median of the clipped values (data units per pixel); NaN when no pixel is usable.
    pub median_per_px: f64,
    /// Mean of the clipped values (data units per pixel); NaN when no pixel is usable.
    pub mean_per_px: f64,
    /// Population standard deviation of the clipped values.
    pub std: f64,
    /// Usable pixels in the annulus (centre rule) before clipping.
    pub n_pixels: usize,
    /// Pixels kept by the clipping.
    pub n_kept: usize,
    /// Standard error of the background per pixel: std / √n_kept.
    pub error_per_px: f64,
    /// Clipping passes made, and whether the last one rejected nothing.
    pub iterations: usize,
    pub converged: bool,
    /// Part of the annulus lies outside the image.
    pub truncated: bool,
}

impl AnnulusBackground {
    /// The same statistics with the clipped mean as the level subtracted. Where the annulus
    /// holds sky alone (the neighbours' light left out, see [`annulus_background_excluding`]),
    /// the expectation of the sky under the aperture is its mean; the median of a Poisson sky
    /// of λ e⁻/px with read noise RN lies below the mean by γσ/6 = λ / (6 (λ + RN²)) per pixel
    /// (Cornish & Fisher 1938, Rev. Inst. Int. Stat. 5, 307): 0.14 e⁻/px in a 30 s R frame at
    /// the NOT, 150 e⁻ in a 4″ aperture.
    pub fn at_mean(self) -> AnnulusBackground {
        AnnulusBackground {
            level_per_px: self.mean_per_px,
            ..self
        }
    }
}

fn is_usable(value: f32, mask: Option<&PixelMask>, x: usize, y: usize) -> bool {
    value.is_finite() && mask.is_none_or(|m| !m.has(x, y, pixel_flag::UNUSABLE))
}

fn check_mask(image: &Image, mask: Option<&PixelMask>) -> Result<(), ApertureError> {
    match mask {
        Some(m) if (m.width(), m.height()) != (image.width(), image.height()) => {
            Err(ApertureError::ShapeMismatch {
                what: "the pixel mask",
                width: m.width(),
                height: m.height(),
                image_width: image.width(),
                image_height: image.height(),
            })
        }
        _ => Ok(()),
    }
}

/// The column nearest `x` in `a..=b` (`a` when `x` is NaN): where the distance to a centre at
/// abscissa `x` is least on a row.
fn nearest_column(x: f64, a: usize, b: usize) -> usize {
    clamp_column(x.round(), a, b)
}

/// `x` (a whole number) clamped to `a..=b`; `a` when `x` is NaN.
fn clamp_column(x: f64, a: usize, b: usize) -> usize {
    if x >= b as f64 {
        b
    } else if x > a as f64 {
        x as usize
    } else {
        a
    }
}

/// The columns `first..=last` of `a..=b` where `inside` holds, for a test `d² < t` of the
/// squared distance d² = fl(fl(i − x)² + dy²) of column `i` to a centre whose nearest column in
/// `a..=b` is `m` ([`nearest_column`]). Rounding is monotonic, so d² does not increase from `a`
/// to `m` nor decrease from `m` to `b`: the columns inside are one run through `m`, or none
/// when `m` is outside. Its ends are found by stepping from the estimates `lo` and `hi`
/// (x ∓ √(t − dy²): within a column of the ends; a poor or NaN estimate costs steps only), so
/// that the run is exactly the columns that pass the test.
fn run_around(
    a: usize,
    b: usize,
    m: usize,
    (lo, hi): (f64, f64),
    inside: impl Fn(usize) -> bool,
) -> Option<(usize, usize)> {
    if !inside(m) {
        return None;
    }
    let mut first = clamp_column(lo.round(), a, m);
    if inside(first) {
        while first > a && inside(first - 1) {
            first -= 1;
        }
    } else {
        // Stops at m at the latest.
        while !inside(first) {
            first += 1;
        }
    }
    let mut last = clamp_column(hi.round(), m, b);
    if inside(last) {
        while last < b && inside(last + 1) {
            last += 1;
        }
    } else {
        while !inside(last) {
            last -= 1;
        }
    }
    Some((first, last))
}

/// Background of an annulus as photutils' `ApertureStats(data, annulus,
/// sigma_clip=SigmaClip(...)).median` (see the module documentation for the pixels used).
/// Unusable pixels (non-finite, or with a [`pixel_flag::UNUSABLE`] bit) are left out.
pub fn annulus_background(
    image: &Image,
    mask: Option<&PixelMask>,
    annulus: &CircularAnnulus,
    clip: &SigmaClip,
) -> Result<AnnulusBackground, ApertureError> {
    annulus_background_excluding(image, mask, annulus, clip, &[])
}

/// [`annulus_background`] without the pixels whose centre lies within any of the `exclude`
/// circles `(x, y, radius)` (px): the light of neighbouring sources, whose wings beyond the
/// reach of the sigma clipping would otherwise raise the median (DAOPHOT's and SExtractor's
/// local skies face the same problem: Stetson 1987, PASP 99, 191, §III; Bertin & Arnouts
/// 1996, A&AS 117, 393, §3.1). `n_pixels` counts the pixels left.
pub fn annulus_background_excluding(
    image: &Image,
    mask: Option<&PixelMask>,
    annulus: &CircularAnnulus,
    clip: &SigmaClip,
    exclude: &[(f64, f64, f64)],
) -> Result<AnnulusBackground, ApertureError> {
    let keys = annulus_keys(image, mask, annulus, exclude)?;
    let n_pixels = keys.len();
    // Sorted once (a radix sort of the f32 values' keys), the clipping passes are binary
    // searches (`SigmaClip::apply_sorted`: the same passes, bounds and kept values as
    // `SigmaClip::clip`).
    let clipped = clip.apply_sorted(&crate::stats::sorted_f64_of_keys(keys));
    Ok(annulus_statistics(
        clipped,
        n_pixels,
        annulus,
        image.width(),
        image.height(),
    ))
}

/// A circle `(x, y, radius)` (px) whose pixels are left out of an annulus.
pub type Circle = (f64, f64, f64);

/// [`annulus_background_excluding`] of several annuli `(annulus, exclude)` of one image, bit
/// for bit the same results: their samples are clipped side by side
/// ([`SigmaClip::apply_sorted_many`]).
pub fn annulus_backgrounds_excluding(
    image: &Image,
    mask: Option<&PixelMask>,
    annuli: &[(CircularAnnulus, &[Circle])],
    clip: &SigmaClip,
) -> Vec<Result<AnnulusBackground, ApertureError>> {
    let samples: Vec<Result<Vec<f64>, ApertureError>> = annuli
        .iter()
        .map(|(annulus, exclude)| {
            annulus_keys(image, mask, annulus, exclude).map(crate::stats::sorted_f64_of_keys)
        })
        .collect();
    let sorted: Vec<&[f64]> = samples
        .iter()
        .filter_map(|s| s.as_ref().ok().map(Vec::as_slice))
        .collect();
    let mut clipped = clip.apply_sorted_many(&sorted).into_iter();
    samples
        .into_iter()
        .zip(annuli)
        .map(|(sample, (annulus, _))| {
            let sample = sample?;
            Ok(annulus_statistics(
                clipped.next().flatten(),
                sample.len(),
                annulus,
                image.width(),
                image.height(),
            ))
        })
        .collect()
}

/// The statistics of an annulus of `n_pixels` usable pixels from their clipping.
fn annulus_statistics(
    clipped: Option<crate::stats::ClippedStats>,
    n_pixels: usize,
    annulus: &CircularAnnulus,
    w: usize,
    h: usize,
) -> AnnulusBackground {
    let (median_per_px, mean_per_px, std, n_kept, iterations, converged) = match clipped {
        Some(c) => (c.median, c.mean, c.std, c.n_kept, c.iterations, c.converged),
        None => (f64::NAN, f64::NAN, f64::NAN, 0, 0, false),
    };
    AnnulusBackground {
        level_per_px: median_per_px,
        median_per_px,
        mean_per_px,
        std,
        n_pixels,
        n_kept,
        error_per_px: if n_kept > 0 {
            std / (n_kept as f64).sqrt()
        } else {
            f64::NAN
        },
        iterations,
        converged,
        truncated: annulus.is_truncated(w, h),
    }
}

/// One value of each 64-byte cache line of `values` (and its last), combined so that the
/// reads are kept: a pass of independent loads whose misses the processor overlaps.
fn touch_lines<T: Copy>(values: &[T], bits: impl Fn(T) -> u32) -> u32 {
    let stride = (64 / std::mem::size_of::<T>().max(1)).max(1);
    let last = values.last().map_or(0, |&v| bits(v));
    values
        .iter()
        .step_by(stride)
        .fold(last, |t, &v| t ^ bits(v))
}

/// The sort keys ([`crate::stats::key_f32`]) of the usable pixels of `annulus` outside the
/// `exclude` circles, row by row.
fn annulus_keys(
    image: &Image,
    mask: Option<&PixelMask>,
    annulus: &CircularAnnulus,
    exclude: &[(f64, f64, f64)],
) -> Result<Vec<u32>, ApertureError> {
    check_mask(image, mask)?;
    let (w, h) = (image.width(), image.height());
    // Room for every pixel of the annulus (its area, plus a band of its two perimeters for the
    // pixels the 'center' rule adds along the edges; never more than the image), so that the
    // list never grows by copies. The values are kept as their sort keys.
    let (r_out, r_in) = (annulus.outer_px, annulus.inner_px);
    let capacity = std::f64::consts::PI * ((r_out * r_out - r_in * r_in) + 2.0 * (r_out + r_in));
    let mut keys: Vec<u32> =
        Vec::with_capacity((capacity.ceil() + 16.0).min((w * h) as f64) as usize);
    if let (Some((x0, x1)), Some((y0, y1))) = (
        pixel_range(annulus.x - r_out, annulus.x + r_out, w),
        pixel_range(annulus.y - r_out, annulus.y + r_out, h),
    ) {
        let (cx, cy) = (annulus.x, annulus.y);
        let (out2, in2) = (r_out.powi(2), r_in.powi(2));
        let centre_column = nearest_column(cx, x0, x1);
        // Every cache line of the outer disc's rows read first, in one pass of independent
        // loads: the gathering loop below, whose span ends are mispredicted branches, cannot
        // run ahead to the next row, so each row's first line (and page) would otherwise be
        // waited for alone. The lines of the apertures inside the hole come in with them.
        let mut touched = 0u32;
        for y in y0..=y1 {
            let dy2 = (y as f64 - cy) * (y as f64 - cy);
            let half = (out2 - dy2).sqrt();
            let run = run_around(x0, x1, centre_column, (cx - half, cx + half), |i| {
                let dx = i as f64 - cx;
                dx * dx + dy2 < out2
            });
            if let Some((first, last)) = run {
                touched ^= touch_lines(&image.row(y)[first..=last], |v| v.to_bits());
                if let Some(m) = mask {
                    touched ^= touch_lines(&m.bits()[y * w + first..=y * w + last], u32::from);
                }
            }
        }
        std::hint::black_box(touched);
        // The circles that reach the row, (x, dy², r²): a circle with dy² ≥ r² excludes none
        // of its pixels.
        let mut on_row: Vec<(f64, f64, f64)> = Vec::with_capacity(exclude.len());
        // Per column of the row's run: left out by a circle.
        let mut excluded: Vec<bool> = Vec::with_capacity(x1 - x0 + 1);
        for y in y0..=y1 {
            // The 'center' rule as `CircularAnnulus::center_rows` states it, d² < r_out² and
            // d² ≥ r_in² with d² = dx² + dy², found as runs of columns: the outer disc's run,
            // less the inner disc's run inside it.
            let dy2 = (y as f64 - cy) * (y as f64 - cy);
            let d2 = |i: usize| {
                let dx = i as f64 - cx;
                dx * dx + dy2
            };
            let half = (out2 - dy2).sqrt();
            let Some((first, last)) =
                run_around(x0, x1, centre_column, (cx - half, cx + half), |i| {
                    d2(i) < out2
                })
            else {
                continue;
            };
            let half = (in2 - dy2).sqrt();
            let hole = run_around(
                first,
                last,
                nearest_column(cx, first, last),
                (cx - half, cx + half),
                |i| d2(i) < in2,
            );
            let spans = match hole {
                Some((h0, h1)) => [(first, h0), (h1 + 1, last + 1)],
                None => [(first, last + 1), (0, 0)],
            };
            on_row.clear();
            on_row.extend(exclude.iter().filter_map(|&(ex, ey, r)| {
                let dy = y as f64 - ey;
                (dy * dy < r * r).then_some((ex, dy * dy, r * r))
            }));
            // Each circle's pixels on the row, dx² + dy² < r², are a run of columns too.
            excluded.clear();
            excluded.resize(last - first + 1, false);
            for &(ex, dy2, r2) in &on_row {
                let half = (r2 - dy2).sqrt();
                let run = run_around(
                    first,
                    last,
                    nearest_column(ex, first, last),
                    (ex - half, ex + half),
                    |i| {
                        let dx = i as f64 - ex;
                        dx * dx + dy2 < r2
                    },
                );
                if let Some((a, b)) = run {
                    excluded[a - first..=b - first].fill(true);
                }
            }
            // The same test as `is_usable`, on the row's slices of the image and the mask.
            let row = image.row(y);
            let mask_row = mask.map(|m| &m.bits()[y * w..(y + 1) * w]);
            for (a, b) in spans {
                if a >= b {
                    continue;
                }
                let values = row[a..b].iter().zip(&excluded[a - first..b - first]);
                match mask_row {
                    Some(bits) => {
                        for ((&v, &left_out), &flags) in values.zip(&bits[a..b]) {
                            if !left_out && v.is_finite() && flags & pixel_flag::UNUSABLE == 0 {
                                keys.push(crate::stats::key_f32(v));
                            }
                        }
                    }
                    None => {
                        for (&v, &left_out) in values {
                            if !left_out && v.is_finite() {
                                keys.push(crate::stats::key_f32(v));
                            }
                        }
                    }
                }
            }
        }
    }
    Ok(keys)
}

// ---------------------------------------------------------------------------------------------
// Measurement

/// Per-pixel variance σᵢ² used for the error of the sum.
#[derive(Debug, Clone, Copy)]
pub enum NoiseModel<'a> {
    /// No per-pixel term: the error has only the background term.
    BackgroundOnly,
    /// CCD noise in ADU²: σᵢ² = max(dᵢ, 0) / gain + (read_noise / gain)², gain in e⁻/ADU,
    /// read noise in e⁻. The data must be bias-subtracted for the Poisson term to be right.
    Ccd {
        gain_e_per_adu: f64,
        read_noise_e: f64,
    },
    /// A variance image in data units squared, same shape as the image.
    Variance(&'a Image),
}

/// Options of [`measure`] and [`curve_of_growth`].
#[derive(Debug, Clone, Copy)]
pub struct MeasureOptions<'a> {
    /// Pixel flags; pixels with a [`pixel_flag::UNUSABLE`] bit are excluded.
    pub mask: Option<&'a PixelMask>,
    pub noise: NoiseModel<'a>,
    /// Clipping of the annulus (default 3σ, 10 passes, as photutils/astropy).
    pub sigma_clip: SigmaClip,
    /// Fewer clipped annulus pixels than this sets `FEW_BACKGROUND_PIXELS` (default 20).
    pub min_background_pixels: usize,
    /// Pixels at or above this value in the aperture set `SATURATED` (they are kept unless the
    /// mask marks them unusable).
    pub saturation_adu: Option<f64>,
}

impl Default for MeasureOptions<'_> {
    fn default() -> Self {
        MeasureOptions {
            mask: None,
            noise: NoiseModel::BackgroundOnly,
            sigma_clip: SigmaClip::default(),
            min_background_pixels: 20,
            saturation_adu: None,
        }
    }
}

/// One aperture measurement (values in the image's units, e.g. ADU).
#[derive(Debug, Clone, PartialEq)]
pub struct ApertureMeasurement {
    pub x: f64,
    pub y: f64,
    pub radius_px: f64,
    /// Geometric area covered by usable pixels, Σ wᵢ (px²).
    pub area_px: f64,
    /// Σ wᵢ dᵢ over usable pixels.
    pub sum: f64,
    /// Background per pixel (0 when no annulus is used).
    pub bkg_per_px: f64,
    /// Standard error of `bkg_per_px`.
    pub bkg_err_per_px: f64,
    /// sum − area_px · bkg_per_px.
    pub net: f64,
    /// √(Σ wᵢ σᵢ² + area_px² · bkg_err_per_px²).
    pub net_err: f64,
    /// Bits of [`aperture_flag`].
    pub flags: u32,
}

impl ApertureMeasurement {
    /// Error of the background in the whole aperture: area_px · bkg_err_per_px.
    pub fn bkg_err(&self) -> f64 {
        self.area_px * self.bkg_err_per_px
    }
}

fn check_noise(image: &Image, noise: &NoiseModel) -> Result<(), ApertureError> {
    match noise {
        NoiseModel::BackgroundOnly => Ok(()),
        NoiseModel::Ccd {
            gain_e_per_adu,
            read_noise_e,
        } => {
            if !(gain_e_per_adu.is_finite() && *gain_e_per_adu > 0.0) {
                Err(ApertureError::BadGain(*gain_e_per_adu))
            } else if !(read_noise_e.is_finite() && *read_noise_e >= 0.0) {
                Err(ApertureError::BadReadNoise(*read_noise_e))
            } else {
                Ok(())
            }
        }
        NoiseModel::Variance(v) => {
            if (v.width(), v.height()) == (image.width(), image.height()) {
                Ok(())
            } else {
                Err(ApertureError::ShapeMismatch {
                    what: "the variance image",
                    width: v.width(),
                    height: v.height(),
                    image_width: image.width(),
                    image_height: image.height(),
                })
            }
        }
    }
}

fn pixel_variance(noise: &NoiseModel, value: f64, x: usize, y: usize) -> f64 {
    match noise {
        NoiseModel::BackgroundOnly => 0.0,
        NoiseModel::Ccd {
            gain_e_per_adu,
            read_noise_e,
        } => value.max(0.0) / gain_e_per_adu + (read_noise_e / gain_e_per_adu).powi(2),
        NoiseModel::Variance(v) => f64::from(v.get(x, y)),
    }
}

/// Sums over one aperture radius.
#[derive(Debug, Clone, Copy, Default)]
struct Accumulator {
    sum: f64,
    area: f64,
    variance: f64,
    flags: u32,
}

/// Flags that come from the background alone.
fn background_flags(bkg: &AnnulusBackground, min_pixels: usize) -> u32 {
    let mut flags = 0;
    if bkg.truncated {
        flags |= aperture_flag::ANNULUS_TRUNCATED;
    }
    if bkg.n_kept == 0 {
        flags |= aperture_flag::NO_BACKGROUND;
    }
    if bkg.n_kept < min_pixels {
        flags |= aperture_flag::FEW_BACKGROUND_PIXELS;
    }
    if bkg.n_kept > 0 && !bkg.converged {
        flags |= aperture_flag::BACKGROUND_NOT_CONVERGED;
    }
    flags
}

/// Measures apertures of several radii around one centre in a single pass over the pixels
/// (curve of growth), with the background given (or none: 0 ± 0).
pub fn measure_radii(
    image: &Image,
    x: f64,
    y: f64,
    radii_px: &[f64],
    background: Option<&AnnulusBackground>,
    options: &MeasureOptions,
) -> Result<Vec<ApertureMeasurement>, ApertureError> {
    check_centre(x, y)?;
    if radii_px.is_empty() {
        return Err(ApertureError::NoRadius);
    }
    for &r in radii_px {
        check_radius(r)?;
    }
    check_mask(image, options.mask)?;
    check_noise(image, &options.noise)?;
    let (w, h) = (image.width(), image.height());
    let r_max = radii_px.iter().copied().fold(0.0, f64::max);
    let mut acc = vec![Accumulator::default(); radii_px.len()];
    if let (Some((x0, x1)), Some((y0, y1))) = (
        pixel_range(x - r_max, x + r_max, w),
        pixel_range(y - r_max, y + r_max, h),
    ) {
        for j in y0..=y1 {
            let dy = j as f64 - y;
            let ny = (dy.abs() - 0.5).max(0.0);
            for (i, &value) in image.row(j).iter().enumerate().take(x1 + 1).skip(x0) {
                let dx = i as f64 - x;
                // `pixel_overlap`'s first test at the largest radius: a pixel it finds outside
                // the disc is outside every smaller one (r² ≤ r_max², rounding being
                // monotonic), weight 0 at every radius, and adds nothing to any sum or flag.
                let nx = (dx.abs() - 0.5).max(0.0);
                if nx * nx + ny * ny >= r_max * r_max {
                    continue;
                }
                let usable = is_usable(value, options.mask, i, j);
                let value = f64::from(value);
                let saturated = options
                    .mask
                    .is_some_and(|m| m.has(i, j, pixel_flag::SATURATED))
                    || options.saturation_adu.is_some_and(|s| value >= s);
                let variance = if usable {
                    pixel_variance(&options.noise, value, i, j)
                } else {
                    0.0
                };
                for (a, &r) in acc.iter_mut().zip(radii_px) {
                    let weight = pixel_overlap(dx, dy, r);
                    if weight <= 0.0 {
                        continue;
                    }
                    if saturated {
                        a.flags |= aperture_flag::SATURATED;
                    }
                    if usable {
                        a.sum += weight * value;
                        a.area += weight;
                        a.variance += weight * variance;
                    } else {
                        a.flags |= aperture_flag::MASKED_PIXELS;
                    }
                }
            }
        }
    }
    let bkg_flags = background.map_or(0, |b| background_flags(b, options.min_background_pixels));
    let (bkg, bkg_err) = background.map_or((0.0, 0.0), |b| (b.level_per_px, b.error_per_px));
    Ok(acc
        .into_iter()
        .zip(radii_px)
        .map(|(a, &r)| {
            let mut flags = a.flags | bkg_flags;
            if disc_leaves_image(x, y, r, w, h) {
                flags |= aperture_flag::APERTURE_TRUNCATED;
            }
            let sum = if a.area > 0.0 {
                a.sum
            } else {
                flags |= aperture_flag::NO_USABLE_PIXELS;
                f64::NAN
            };
            ApertureMeasurement {
                x,
                y,
                radius_px: r,
                area_px: a.area,
                sum,
                bkg_per_px: bkg,
                bkg_err_per_px: bkg_err,
                net: sum - a.area * bkg,
                net_err: (a.variance + (a.area * bkg_err).powi(2)).sqrt(),
                flags,
            }
        })
        .collect())
}

/// Measures one aperture, with the background of `annulus` (photutils' clipped median) or
/// none.
pub fn measure(
    image: &Image,
    aperture: &CircularAperture,
    annulus: Option<&CircularAnnulus>,
    options: &MeasureOptions,
) -> Result<ApertureMeasurement, ApertureError> {
    let mut all = curve_of_growth(
        image,
        aperture.x,
        aperture.y,
        &[aperture.radius_px],
        annulus,
        options,
    )?;
    Ok(all.remove(0))
}

/// Net flux at each radius around (x, y) (a curve of growth): the background of `annulus`
/// is computed once and the pixels are visited once for all radii.
pub fn curve_of_growth(
    image: &Image,
    x: f64,
    y: f64,
    radii_px: &[f64],
    annulus: Option<&CircularAnnulus>,
    options: &MeasureOptions,
) -> Result<Vec<ApertureMeasurement>, ApertureError> {
    let background = match annulus {
        Some(a) => Some(annulus_background(
            image,
            options.mask,
            a,
            &options.sigma_clip,
        )?),
        None => None,
    };
    measure_radii(image, x, y, radii_px, background.as_ref(), options)
}

// ---------------------------------------------------------------------------------------------
// Centroid

/// Windowed first-moment centroid: starting from (x, y), the intensity-weighted mean position
/// of the usable pixels whose centre is within `radius_px` of the current estimate, with
/// weights max(dᵢ − background_per_px, 0); repeated until the shift is below 10⁻⁴ px or after
/// `max_iterations` passes.
pub fn window_centroid(
    image: &Image,
    mask: Option<&PixelMask>,
    x: f64,
    y: f64,
    radius_px: f64,
    background_per_px: f64,
    max_iterations: usize,
) -> Result<(f64, f64), ApertureError> {
    check_centre(x, y)?;
    check_radius(radius_px)?;
    check_mask(image, mask)?;
    let (w, h) = (image.width(), image.height());
    let fail = |cx: f64, cy: f64, reason: &str| ApertureError::Centroid {
        x: cx,
        y: cy,
        reason: reason.to_string(),
    };
    let bkg = if background_per_px.is_finite() {
        background_per_px
    } else {
        return Err(fail(x, y, "the background is not finite"));
    };
    let (mut cx, mut cy) = (x, y);
    let r2 = radius_px * radius_px;
    for _ in 0..max_iterations.max(1) {
        let (Some((x0, x1)), Some((y0, y1))) = (
            pixel_range(cx - radius_px, cx + radius_px, w),
            pixel_range(cy - radius_px, cy + radius_px, h),
        ) else {
            return Err(fail(cx, cy, "the window is outside the image"));
        };
        let (mut sw, mut swx, mut swy) = (0.0, 0.0, 0.0);
        for j in y0..=y1 {
            let dy = j as f64 - cy;
            for i in x0..=x1 {
                let dx = i as f64 - cx;
                if dx * dx + dy * dy >= r2 {
                    continue;
                }
                let v = image.get(i, j);
                if !is_usable(v, mask, i, j) {
                    continue;
                }
                let wgt = (f64::from(v) - bkg).max(0.0);
                sw += wgt;
                swx += wgt * i as f64;
                swy += wgt * j as f64;
            }
        }
        if sw.is_nan() || sw <= 0.0 {
            return Err(fail(cx, cy, "no pixel above the background in the window"));
        }
        let (nx, ny) = (swx / sw, swy / sw);
        let shift = ((nx - cx).powi(2) + (ny - cy).powi(2)).sqrt();
        (cx, cy) = (nx, ny);
        if shift < 1e-4 {
            break;
        }
    }
    Ok((cx, cy))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::f64::consts::PI;

    /// Deterministic pseudo-random numbers in [0, 1) (xorshift64*).
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> f64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 / (1u64 << 53) as f64
        }
    }

    /// Overlap by brute-force midpoint sampling (for cross-checks only).
    fn sampled_overlap(dx: f64, dy: f64, r: f64, n: usize) -> f64 {
        let mut inside = 0usize;
        for a in 0..n {
            for b in 0..n {
                let x = dx - 0.5 + (a as f64 + 0.5) / n as f64;
                let y = dy - 0.5 + (b as f64 + 0.5) / n as f64;
                if x * x + y * y < r * r {
                    inside += 1;
                }
            }
        }
        inside as f64 / (n * n) as f64
    }

    #[test]
    fn pixel_fully_inside_or_outside() {
        assert_eq!(pixel_overlap(0.0, 0.0, 1.0), 1.0);
        assert_eq!(pixel_overlap(2.0, 3.0, 5.0), 1.0);
        assert_eq!(pixel_overlap(3.0, 0.0, 2.4), 0.0);
        assert_eq!(pixel_overlap(-10.0, 7.0, 3.0), 0.0);
        // A circle inscribed in its pixel: π r².
        assert!((pixel_overlap(0.0, 0.0, 0.5) - PI / 4.0).abs() < 1e-15);
        // A tiny circle inside one pixel.
        assert!((pixel_overlap(0.1, -0.2, 0.05) - PI * 0.0025).abs() < 1e-16);
    }

    #[test]
    fn circle_on_a_pixel_corner_gives_four_quarter_circles() {
        // Centre (0.5, 0.5): the corner shared by pixels (0,0), (1,0), (0,1), (1,1).
        let ap = CircularAperture::new(0.5, 0.5, 0.5).unwrap();
        let w = ap.weights(4, 4);
        for (x, y) in [(0, 0), (1, 0), (0, 1), (1, 1)] {
            assert!((w.get(x, y) - PI / 16.0).abs() < 1e-15, "{x},{y}");
        }
        assert_eq!(w.get(2, 2), 0.0);
        assert!((w.total() - PI / 4.0).abs() < 1e-15);
    }

    #[test]
    fn half_plane_and_strip_overlaps() {
        // Half the unit disc.
        assert!((circle_rect_overlap(0.0, 5.0, -5.0, 5.0, 1.0) - PI / 2.0).abs() < 1e-14);
        // A strip through the centre of width 2a: 2(a√(1−a²) + asin a).
        let a: f64 = 0.3;
        let exact = 2.0 * (a * (1.0 - a * a).sqrt() + a.asin());
        assert!((circle_rect_overlap(-a, a, -2.0, 2.0, 1.0) - exact).abs() < 1e-14);
        // Rectangle corner exactly on the circle.
        let s = 0.5_f64.sqrt();
        assert!((circle_rect_overlap(0.0, s, 0.0, s, 1.0) - 0.5).abs() < 1e-15);
    }

    #[test]
    fn boundary_pixels_agree_with_sampling() {
        let mut rng = Rng(0x1234_5678_9abc_def1);
        for _ in 0..200 {
            let r = 0.3 + 6.0 * rng.next();
            let dx = (rng.next() - 0.5) * 2.0 * (r + 1.0);
            let dy = (rng.next() - 0.5) * 2.0 * (r + 1.0);
            let exact = pixel_overlap(dx, dy, r);
            let sampled = sampled_overlap(dx, dy, r, 400);
            assert!((0.0..=1.0).contains(&exact));
            assert!(
                (exact - sampled).abs() < 5e-3,
                "{dx} {dy} {r}: {exact} vs {sampled}"
            );
        }
    }

    #[test]
    fn weights_add_up_to_pi_r_squared() {
        let mut rng = Rng(42);
        for k in 0..400 {
            // Radii from 0.05 px to 150 px, centres anywhere inside the image.
            let r = if k % 4 == 0 {
                0.05 + 2.0 * rng.next()
            } else {
                0.5 + 150.0 * rng.next() * rng.next()
            };
            let x = 160.0 + 20.0 * rng.next();
            let y = 160.0 + 20.0 * rng.next();
            let ap = CircularAperture::new(x, y, r).unwrap();
            let w = ap.weights(340, 340);
            assert!(!w.is_truncated());
            assert!(w.iter().all(|(_, _, v)| v > 0.0 && v <= 1.0));
            let rel = (w.total() - ap.area()).abs() / ap.area();
            assert!(rel < 1e-12, "r={r} x={x} y={y}: rel {rel:e}");
        }
    }

    #[test]
    fn annulus_weights_are_the_difference_of_discs() {
        let ann = CircularAnnulus::new(30.3, 29.8, 5.5, 12.25).unwrap();
        let w = ann.weights(64, 64);
        assert!((w.total() - ann.area()).abs() / ann.area() < 1e-12);
        // Centre-rule pixels: the count approximates the area.
        let n = ann.center_pixels(64, 64).len() as f64;
        assert!((n - ann.area()).abs() < 0.05 * ann.area());
        assert!(CircularAnnulus::new(0.0, 0.0, 5.0, 5.0).is_err());
        assert!(CircularAnnulus::new(0.0, 0.0, -1.0, 5.0).is_err());
    }

    #[test]
    fn flat_image_conserves_flux() {
        let level = 123.25_f32;
        let img = Image::filled(200, 200, level);
        for (x, y, r) in [
            (100.0, 100.0, 7.3),
            (99.37, 101.81, 21.0),
            (100.5, 100.5, 0.7),
        ] {
            let m = measure(
                &img,
                &CircularAperture::new(x, y, r).unwrap(),
                None,
                &MeasureOptions::default(),
            )
            .unwrap();
            let expected = PI * r * r * f64::from(level);
            assert!((m.sum - expected).abs() / expected < 1e-12);
            assert!((m.area_px - PI * r * r).abs() / (PI * r * r) < 1e-12);
            assert_eq!(m.flags, 0);
        }
    }

    #[test]
    fn background_of_flat_image_and_net_flux_of_a_point() {
        let mut img = Image::filled(101, 101, 10.0);
        img.set(50, 50, 1010.0);
        let ann = CircularAnnulus::new(50.0, 50.0, 10.0, 20.0).unwrap();
        let options = MeasureOptions {
            noise: NoiseModel::Ccd {
                gain_e_per_adu: 2.0,
                read_noise_e: 4.0,
            },
            ..MeasureOptions::default()
        };
        let m = measure(
            &img,
            &CircularAperture::new(50.0, 50.0, 3.0).unwrap(),
            Some(&ann),
            &options,
        )
        .unwrap();
        assert_eq!(m.bkg_per_px, 10.0);
        assert_eq!(m.bkg_err_per_px, 0.0);
        assert!((m.net - 1000.0).abs() < 1e-9);
        // Σ w σ² = (1010 + 10 (A − 1)) / 2 + A (4/2)², A = 9π.
        let a = 9.0 * PI;
        let var = (1010.0 + 10.0 * (a - 1.0)) / 2.0 + a * 4.0;
        assert!((m.net_err - var.sqrt()).abs() < 1e-9);
        assert_eq!(m.flags, 0);
    }

    #[test]
    fn annulus_background_leaves_out_the_excluded_circles() {
        // Sky 10 everywhere, and a neighbour's plateau of 13 covering a third of the annulus:
        // within the clipping's reach, it raises the median unless left out.
        let mut img = Image::filled(81, 81, 10.0);
        for y in 0..81 {
            for x in 0..81 {
                if (x as f64 - 65.0).hypot(y as f64 - 40.0) < 12.0 {
                    img.set(x, y, 13.0);
                }
            }
        }
        let ann = CircularAnnulus::new(40.0, 40.0, 15.0, 30.0).unwrap();
        let clip = SigmaClip::default();
        let all = annulus_background(&img, None, &ann, &clip).unwrap();
        let free =
            annulus_background_excluding(&img, None, &ann, &clip, &[(65.0, 40.0, 12.0)]).unwrap();
        assert!(all.mean_per_px > 10.1, "{}", all.mean_per_px);
        assert_eq!((free.median_per_px, free.mean_per_px), (10.0, 10.0));
        assert!(free.n_pixels < all.n_pixels);
    }

    #[test]
    fn runs_of_columns_are_the_columns_that_pass_the_test() {
        let mut rng = Rng(0x0005_eed0_fc01);
        for k in 0..20_000 {
            let a = (rng.next() * 40.0) as usize;
            let b = a + (rng.next() * 60.0) as usize;
            // Centres on, between and beyond the columns; radii whose squares are hit exactly
            // by integer offsets; a few non-finite cases.
            let x = match k % 5 {
                0 => (rng.next() * 120.0 - 10.0).round(),
                1 => (rng.next() * 120.0 - 10.0).round() + 0.5,
                _ => rng.next() * 120.0 - 10.0,
            };
            let dy = match k % 3 {
                0 => (rng.next() * 20.0).round(),
                _ => rng.next() * 20.0,
            };
            let r = match k % 4 {
                0 => (rng.next() * 40.0).round(),
                1 => 5.0,
                _ => rng.next() * 40.0,
            };
            let (x, r) = match k % 997 {
                0 => (f64::NAN, r),
                1 => (x, f64::INFINITY),
                2 => (f64::INFINITY, r),
                _ => (x, r),
            };
            let (dy2, t) = (dy * dy, r * r);
            let inside = |i: usize| {
                let dx = i as f64 - x;
                dx * dx + dy2 < t
            };
            let half = (t - dy2).sqrt();
            let run = run_around(a, b, nearest_column(x, a, b), (x - half, x + half), inside);
            let expected: Vec<usize> = (a..=b).filter(|&i| inside(i)).collect();
            let got: Vec<usize> = run.map_or(Vec::new(), |(f, l)| (f..=l).collect());
            assert_eq!(got, expected, "a={a} b={b} x={x} dy={dy} r={r}");
            // Poor estimates only cost steps.
            let run = run_around(a, b, nearest_column(x, a, b), (f64::NAN, -1e9), inside);
            let got: Vec<usize> = run.map_or(Vec::new(), |(f, l)| (f..=l).collect());
            assert_eq!(got, expected, "a={a} b={b} x={x} dy={dy} r={r}");
        }
    }

    /// The annulus background as first written: every pixel of the 'center' rule tested
    /// against every circle.
    fn annulus_background_by_pixels(
        image: &Image,
        mask: Option<&PixelMask>,
        annulus: &CircularAnnulus,
        clip: &SigmaClip,
        exclude: &[(f64, f64, f64)],
    ) -> (usize, Option<crate::stats::ClippedStats>) {
        let mut values = Vec::new();
        for (y, xs) in annulus.center_rows(image.width(), image.height()) {
            for x in xs {
                let v = image.get(x, y);
                let excluded = exclude.iter().any(|&(cx, cy, r)| {
                    let (dx, dy) = (x as f64 - cx, y as f64 - cy);
                    dy * dy < r * r && dx * dx + dy * dy < r * r
                });
                if is_usable(v, mask, x, y) && !excluded {
                    values.push(v);
                }
            }
        }
        let sorted: Vec<f64> = {
            let mut v = values.clone();
            v.sort_unstable_by(f32::total_cmp);
            v.into_iter().map(f64::from).collect()
        };
        (values.len(), clip.apply_sorted(&sorted))
    }

    #[test]
    fn annulus_background_excluding_matches_the_pixel_by_pixel_rule() {
        let mut rng = Rng(0x0a22_1705);
        let (w, h) = (97, 83);
        let data: Vec<f32> = (0..w * h)
            .map(|k| match k % 211 {
                0 => f32::NAN,
                1 => f32::INFINITY,
                _ => (100.0 + 30.0 * rng.next() + if k % 37 == 0 { 500.0 } else { 0.0 }) as f32,
            })
            .collect();
        let img = Image::new(w, h, data).unwrap();
        let mut mask = PixelMask::clear(w, h);
        for _ in 0..200 {
            let (x, y) = (
                (rng.next() * w as f64) as usize,
                (rng.next() * h as f64) as usize,
            );
            mask.flag(x, y, pixel_flag::BAD);
        }
        let clip = SigmaClip::default();
        let mut batch_before: Vec<(CircularAnnulus, Vec<Circle>)> = Vec::new();
        for k in 0..600 {
            let on_grid = k % 3 == 0;
            let coord = |rng: &mut Rng, n: usize| {
                let v = rng.next() * (n as f64 + 40.0) - 20.0;
                if on_grid {
                    (2.0 * v).round() / 2.0
                } else {
                    v
                }
            };
            let (x, y) = (coord(&mut rng, w), coord(&mut rng, h));
            let inner = if k % 7 == 0 {
                0.0
            } else {
                (rng.next() * 25.0).round() * if on_grid { 1.0 } else { 1.0 + rng.next() }
            };
            let outer = if on_grid {
                inner + 1.0 + (rng.next() * 30.0).round()
            } else {
                inner + 0.5 + rng.next() * 30.0
            };
            let annulus = CircularAnnulus::new(x, y, inner, outer).unwrap();
            let exclude: Vec<(f64, f64, f64)> = (0..(k % 13))
                .map(|j| {
                    let r = match j % 4 {
                        0 => (rng.next() * 15.0).round(),
                        1 => 5.0,
                        _ => rng.next() * 20.0,
                    };
                    (coord(&mut rng, w), coord(&mut rng, h), r)
                })
                .chain((k % 101 == 0).then_some((f64::NAN, y, 10.0)))
                .collect();
            let m = if k % 2 == 0 { Some(&mask) } else { None };
            let fast = annulus_background_excluding(&img, m, &annulus, &clip, &exclude).unwrap();
            // Side by side with other annuli, the same values bit for bit.
            let others = [(annulus, &exclude[..]), (annulus, &[][..])];
            let batch: Vec<(CircularAnnulus, &[Circle])> = others
                .iter()
                .copied()
                .chain(batch_before.iter().map(|(a, e)| (*a, e.as_slice())))
                .collect();
            let side_by_side = annulus_backgrounds_excluding(&img, m, &batch, &clip);
            for ((a, e), b) in batch.iter().zip(side_by_side) {
                let one = annulus_background_excluding(&img, m, a, &clip, e).unwrap();
                let b = b.unwrap();
                assert_eq!(format!("{one:?}"), format!("{b:?}"));
            }
            batch_before = vec![(annulus, exclude.clone())];
            let (n, reference) = annulus_background_by_pixels(&img, m, &annulus, &clip, &exclude);
            assert_eq!(fast.n_pixels, n, "{annulus:?} {exclude:?}");
            match reference {
                Some(c) => {
                    let bits = |v: f64| v.to_bits();
                    assert_eq!(bits(fast.median_per_px), bits(c.median));
                    assert_eq!(bits(fast.mean_per_px), bits(c.mean));
                    assert_eq!(bits(fast.std), bits(c.std));
                    assert_eq!((fast.n_kept, fast.iterations), (c.n_kept, c.iterations));
                    assert_eq!(fast.converged, c.converged);
                }
                None => assert_eq!(fast.n_kept, 0),
            }
        }
    }

    #[test]
    fn error_includes_the_background_term() {
        // Annulus values alternate 9 and 11: median 10, std 1.
        let mut img = Image::filled(81, 81, 0.0);
        for y in 0..81 {
            for x in 0..81 {
                img.set(x, y, if (x + y) % 2 == 0 { 9.0 } else { 11.0 });
            }
        }
        let ann = CircularAnnulus::new(40.0, 40.0, 10.0, 30.0).unwrap();
        let bkg = annulus_background(&img, None, &ann, &SigmaClip::default()).unwrap();
        assert!((bkg.std - 1.0).abs() < 0.01, "{}", bkg.std);
        let m = measure_radii(
            &img,
            40.0,
            40.0,
            &[4.0],
            Some(&bkg),
            &MeasureOptions::default(),
        )
        .unwrap()
        .remove(0);
        let expected = m.area_px * bkg.std / (bkg.n_kept as f64).sqrt();
        assert!((m.net_err - expected).abs() < 1e-12);
        assert!((m.bkg_err() - expected).abs() < 1e-12);
    }

    #[test]
    fn masked_pixels_are_excluded_and_flagged() {
        let mut img = Image::filled(50, 50, 5.0);
        img.set(25, 25, f32::NAN);
        img.set(26, 25, 1.0e6);
        let mut mask = PixelMask::clear(50, 50);
        mask.flag(26, 25, pixel_flag::BAD);
        mask.flag(24, 25, pixel_flag::SATURATED);
        mask.flag(25, 24, pixel_flag::COSMIC_RAY); // usable (already cleaned)
        let options = MeasureOptions {
            mask: Some(&mask),
            ..MeasureOptions::default()
        };
        let ap = CircularAperture::new(25.0, 25.0, 4.0).unwrap();
        let m = measure(&img, &ap, None, &options).unwrap();
        let area = ap.area() - 3.0;
        assert!((m.area_px - area).abs() < 1e-12);
        assert!((m.sum - 5.0 * area).abs() < 1e-9);
        assert_eq!(
            m.flags,
            aperture_flag::MASKED_PIXELS | aperture_flag::SATURATED
        );
        assert_eq!(flags_to_string(m.flags), "masked_pixels|saturated");
        // Saturation by level keeps the pixel.
        let options = MeasureOptions {
            saturation_adu: Some(1.0e5),
            ..MeasureOptions::default()
        };
        let m = measure(&Image::filled(50, 50, 2.0e5), &ap, None, &options).unwrap();
        assert_eq!(m.flags, aperture_flag::SATURATED);
        // A fully masked aperture.
        let mut img = Image::filled(10, 10, 1.0);
        for v in img.data_mut() {
            *v = f32::INFINITY;
        }
        let m = measure(
            &img,
            &CircularAperture::new(5.0, 5.0, 2.0).unwrap(),
            None,
            &MeasureOptions::default(),
        )
        .unwrap();
        assert!(m.sum.is_nan() && m.net.is_nan());
        assert!(m.flags & aperture_flag::NO_USABLE_PIXELS != 0);
    }

    /// `measure_radii`'s sums and flags by the plain loop: every pixel of the bounding square,
    /// each radius's weight from `pixel_overlap`.
    fn radii_by_pixels(
        image: &Image,
        x: f64,
        y: f64,
        radii: &[f64],
        options: &MeasureOptions,
    ) -> Vec<Accumulator> {
        let r_max = radii.iter().copied().fold(0.0, f64::max);
        let mut acc = vec![Accumulator::default(); radii.len()];
        let (w, h) = (image.width(), image.height());
        if let (Some((x0, x1)), Some((y0, y1))) = (
            pixel_range(x - r_max, x + r_max, w),
            pixel_range(y - r_max, y + r_max, h),
        ) {
            for j in y0..=y1 {
                for i in x0..=x1 {
                    let value = image.get(i, j);
                    let usable = is_usable(value, options.mask, i, j);
                    let value = f64::from(value);
                    let saturated = options
                        .mask
                        .is_some_and(|m| m.has(i, j, pixel_flag::SATURATED))
                        || options.saturation_adu.is_some_and(|s| value >= s);
                    let variance = if usable {
                        pixel_variance(&options.noise, value, i, j)
                    } else {
                        0.0
                    };
                    for (a, &r) in acc.iter_mut().zip(radii) {
                        let weight = pixel_overlap(i as f64 - x, j as f64 - y, r);
                        if weight <= 0.0 {
                            continue;
                        }
                        if saturated {
                            a.flags |= aperture_flag::SATURATED;
                        }
                        if usable {
                            a.sum += weight * value;
                            a.area += weight;
                            a.variance += weight * variance;
                        } else {
                            a.flags |= aperture_flag::MASKED_PIXELS;
                        }
                    }
                }
            }
        }
        acc
    }

    #[test]
    fn measure_radii_matches_the_plain_loop() {
        let mut rng = Rng(0x5eed_0fa7);
        let (w, h) = (61, 47);
        let data: Vec<f32> = (0..w * h)
            .map(|k| match k % 97 {
                0 => f32::NAN,
                _ => (100.0 + 30.0 * rng.next() + if k % 41 == 0 { 5e4 } else { 0.0 }) as f32,
            })
            .collect();
        let img = Image::new(w, h, data).unwrap();
        let mut mask = PixelMask::clear(w, h);
        for k in 0..120 {
            let (x, y) = (
                (rng.next() * w as f64) as usize,
                (rng.next() * h as f64) as usize,
            );
            let flag = if k % 2 == 0 {
                pixel_flag::BAD
            } else {
                pixel_flag::SATURATED
            };
            mask.flag(x, y, flag);
        }
        for k in 0..400 {
            let (x, y) = (
                rng.next() * (w as f64 + 20.0) - 10.0,
                rng.next() * (h as f64 + 20.0) - 10.0,
            );
            let radii: Vec<f64> = (0..1 + k % 3)
                .map(|j| match (k + j) % 4 {
                    0 => (rng.next() * 20.0).round() + 0.5,
                    1 => 4.0,
                    _ => 0.3 + rng.next() * 20.0,
                })
                .collect();
            let options = MeasureOptions {
                mask: (k % 2 == 0).then_some(&mask),
                noise: NoiseModel::Ccd {
                    gain_e_per_adu: 1.7,
                    read_noise_e: 4.0,
                },
                saturation_adu: (k % 3 == 0).then_some(3e4),
                ..MeasureOptions::default()
            };
            let fast = measure_radii(&img, x, y, &radii, None, &options).unwrap();
            let plain = radii_by_pixels(&img, x, y, &radii, &options);
            for (m, a) in fast.iter().zip(&plain) {
                assert_eq!(m.area_px.to_bits(), a.area.to_bits(), "{x} {y} {radii:?}");
                if a.area > 0.0 {
                    assert_eq!(m.sum.to_bits(), a.sum.to_bits());
                }
                assert_eq!(m.net_err.to_bits(), a.variance.sqrt().to_bits());
                assert_eq!(m.flags & a.flags, a.flags);
                let extra = aperture_flag::APERTURE_TRUNCATED | aperture_flag::NO_USABLE_PIXELS;
                assert_eq!(m.flags & !extra, a.flags);
            }
        }
    }

    #[test]
    fn truncated_aperture_is_flagged_and_counts_only_the_inside() {
        let img = Image::filled(40, 30, 1.0);
        // Centre on the left edge of the image area (x = −0.5): half the disc is inside.
        let ap = CircularAperture::new(-0.5, 15.0, 5.0).unwrap();
        let m = measure(&img, &ap, None, &MeasureOptions::default()).unwrap();
        assert!((m.area_px - ap.area() / 2.0).abs() < 1e-12);
        assert!((m.sum - ap.area() / 2.0).abs() < 1e-12);
        assert_eq!(flags_to_string(m.flags), "aperture_truncated");
        // Touching the edge from inside is not truncated.
        let m = measure(
            &img,
            &CircularAperture::new(4.5, 15.0, 5.0).unwrap(),
            None,
            &MeasureOptions::default(),
        )
        .unwrap();
        assert_eq!(m.flags, 0);
        // Entirely outside.
        let ap = CircularAperture::new(-50.0, -50.0, 3.0).unwrap();
        let ann = CircularAnnulus::new(-50.0, -50.0, 5.0, 8.0).unwrap();
        let m = measure(&img, &ap, Some(&ann), &MeasureOptions::default()).unwrap();
        assert_eq!(m.area_px, 0.0);
        assert_eq!(
            flags_to_string(m.flags),
            "aperture_truncated|no_usable_pixels|annulus_truncated|few_background_pixels|\
             no_background"
        );
    }

    #[test]
    fn curve_of_growth_matches_single_measurements() {
        let mut rng = Rng(7);
        let data: Vec<f32> = (0..64 * 64).map(|_| (100.0 * rng.next()) as f32).collect();
        let img = Image::new(64, 64, data).unwrap();
        let ann = CircularAnnulus::new(31.7, 30.2, 15.0, 25.0).unwrap();
        let radii = [2.0, 4.5, 9.0, 12.5];
        let options = MeasureOptions::default();
        let cog = curve_of_growth(&img, 31.7, 30.2, &radii, Some(&ann), &options).unwrap();
        for (m, &r) in cog.iter().zip(&radii) {
            let single = measure(
                &img,
                &CircularAperture::new(31.7, 30.2, r).unwrap(),
                Some(&ann),
                &options,
            )
            .unwrap();
            assert_eq!(*m, single);
            // Direct sum over the weights.
            let w = CircularAperture::new(31.7, 30.2, r)
                .unwrap()
                .weights(64, 64);
            let direct: f64 = w
                .iter()
                .map(|(x, y, wt)| wt * f64::from(img.get(x, y)))
                .sum();
            assert!((m.sum - direct).abs() < 1e-9 * direct);
        }
        assert!(curve_of_growth(&img, 31.7, 30.2, &[], None, &options).is_err());
        assert!(curve_of_growth(&img, 31.7, 30.2, &[0.0], None, &options).is_err());
    }

    #[test]
    fn centre_rule_is_half_open() {
        // Pixel centres at distance exactly 1 and 2 from (0, 0) on the axes.
        let ann = CircularAnnulus::new(5.0, 5.0, 1.0, 2.0).unwrap();
        let pixels = ann.center_pixels(11, 11);
        assert!(pixels.contains(&(6, 5))); // d = 1 = r_in: included
        assert!(!pixels.contains(&(7, 5))); // d = 2 = r_out: excluded
        assert!(!pixels.contains(&(5, 5)));
        assert_eq!(pixels.len(), 8); // d = 1 (4 pixels) and √2 (4 pixels)
    }

    #[test]
    fn centroid_of_a_symmetric_blob() {
        let (cx, cy) = (20.3, 17.8);
        let mut img = Image::filled(40, 40, 50.0);
        for y in 0..40 {
            for x in 0..40 {
                let d2 = (x as f64 - cx).powi(2) + (y as f64 - cy).powi(2);
                img.set(x, y, (50.0 + 1000.0 * (-d2 / 4.5).exp()) as f32);
            }
        }
        let (x, y) = window_centroid(&img, None, 19.0, 19.0, 6.0, 50.0, 20).unwrap();
        assert!((x - cx).abs() < 0.01 && (y - cy).abs() < 0.01, "{x} {y}");
        assert!(
            window_centroid(&Image::filled(40, 40, 1.0), None, 20.0, 20.0, 5.0, 2.0, 5).is_err()
        );
    }

    #[test]
    fn flag_names_are_stable() {
        assert_eq!(flags_to_string(0), "");
        assert_eq!(
            flags_to_string(
                aperture_flag::BACKGROUND_NOT_CONVERGED | aperture_flag::APERTURE_TRUNCATED
            ),
            "aperture_truncated|background_not_converged"
        );
        assert_eq!(flags_to_string(1 << 20), "bit20");
    }
}
