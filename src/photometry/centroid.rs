//! Centroids of compact sources on a background-subtracted image.
//!
//! Three estimators, all in the pixel convention of DESIGN §3 (0-based, pixel centres at
//! integer coordinates, x = column):
//!
//! - [`windowed_centroid`]: SExtractor's `XWIN_IMAGE`/`YWIN_IMAGE` (Bertin, SExtractor manual,
//!   "Windowed positional parameters"; `winpos.c`): iterated Gaussian-weighted first moments,
//!   `x ← x + 2 Σ wᵢ Iᵢ (xᵢ − x) / Σ wᵢ Iᵢ` with `wᵢ = exp(−rᵢ² / 2σ_w²)` over the pixels
//!   within `4 σ_w`, the factor 2 making one step exact for a Gaussian profile of width σ_w.
//!   SExtractor stops after 16 steps or when a step is below 10⁻⁴ px; the defaults here are
//!   16 steps and 2 × 10⁻⁴ px. Pixels cut by the 4 σ_w circle are weighted by the fraction of
//!   their area inside it (SExtractor oversamples them likewise). Its precision is close to
//!   that of a PSF fit for isolated stars.
//! - [`gaussian_2d_centroid`]: least-squares fit of an elliptical 2-D Gaussian plus a constant
//!   to a square cutout by Levenberg–Marquardt (Levenberg 1944; Marquardt 1963), like
//!   photutils' `centroid_2dg`. The ellipse is parametrised by its inverse covariance
//!   `(a, b, c)` so that round sources have no degenerate position angle.
//! - [`moffat_2d_fit`]: the same with a circular Moffat profile (β free), for the seeing FWHM.
//! - [`quadratic_peak`]: the maximum of a 2-D quadratic fitted to the 3 × 3 pixels around the
//!   brightest pixel (as photutils' `centroid_quadratic` with `fit_boxsize = 3`; Vakili &
//!   Hogg 2016, arXiv:1610.05873). Fast, biased by up to a few hundredths of a pixel.
//!
//! The image must have the background removed. Non-finite pixels and pixels whose mask has
//! any of [`EXCLUDED_PIXELS`] set are ignored.

use nalgebra::{SMatrix, SVector};
use thiserror::Error;

use crate::image::{pixel_flag, Image, PixelMask};

/// Mask flags that keep a pixel out of every centroid (NaN/inf, bad, cosmic ray). Saturated
/// pixels are used: they still carry the position of a star's core to first order.
pub const EXCLUDED_PIXELS: u8 = pixel_flag::NONFINITE | pixel_flag::BAD | pixel_flag::COSMIC_RAY;

/// Why a centroid could not be measured.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum CentroidError {
    #[error(
        "starting position ({x}, {y}) is not finite or lies outside the {width} × {height} image"
    )]
    OutsideImage {
        x: f64,
        y: f64,
        width: usize,
        height: usize,
    },
    #[error("{name} = {value} is not allowed ({reason})")]
    InvalidParameter {
        name: &'static str,
        value: f64,
        reason: &'static str,
    },
    #[error("no positive signal in the window around ({x:.2}, {y:.2})")]
    NoSignal { x: f64, y: f64 },
    #[error("did not converge in {iterations} iterations (last step {last_step_px:.2e} px)")]
    NotConverged {
        iterations: usize,
        last_step_px: f64,
    },
    #[error("the centroid wandered {distance_px:.2} px from the start (limit {limit_px:.2} px)")]
    Wandered { distance_px: f64, limit_px: f64 },
    #[error("the fit is singular or its shape is not a peak")]
    Singular,
}

/// A measured position.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Centroid {
    pub x: f64,
    pub y: f64,
    /// Iterations used (1 for the non-iterative quadratic fit).
    pub iterations: usize,
}

/// Settings of [`windowed_centroid_with`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WindowedParams {
    /// σ of the Gaussian window (px). SExtractor uses `d50 / √(8 ln 2)`, d50 being the
    /// half-light diameter: for a star, the PSF FWHM / 2.3548.
    pub sigma_win_px: f64,
    /// Largest number of steps (SExtractor: 16).
    pub max_iterations: usize,
    /// Converged when a step is shorter than this (px).
    pub tolerance_px: f64,
    /// The centroid may move at most this far from the start (px); `None`: `4 σ_w`.
    pub max_shift_px: Option<f64>,
}

impl WindowedParams {
    /// SExtractor's settings (16 steps, measurement radius 4 σ_w) with a 2 × 10⁻⁴ px
    /// tolerance.
    pub fn new(sigma_win_px: f64) -> Self {
        WindowedParams {
            sigma_win_px,
            max_iterations: 16,
            tolerance_px: 2e-4,
            max_shift_px: None,
        }
    }
}

/// Measurement radius of the windowed moments in units of σ_w (SExtractor `WINPOS_NSIG`).
const WINDOW_NSIG: f64 = 4.0;
/// Sub-pixels per side used to weigh pixels cut by the window's edge.
const EDGE_OVERSAMPLING: usize = 5;

fn check_start(image: &Image, x0: f64, y0: f64) -> Result<(), CentroidError> {
    let (w, h) = (image.width() as f64, image.height() as f64);
    if !(x0.is_finite() && y0.is_finite()) || x0 < -0.5 || y0 < -0.5 || x0 > w - 0.5 || y0 > h - 0.5
    {
        return Err(CentroidError::OutsideImage {
            x: x0,
            y: y0,
            width: image.width(),
            height: image.height(),
        });
    }
    Ok(())
}

fn usable(image: &Image, mask: Option<&PixelMask>, x: usize, y: usize) -> Option<f64> {
    let v = image.get(x, y);
    if !v.is_finite() {
        return None;
    }
    if let Some(m) = mask {
        if m.has(x, y, EXCLUDED_PIXELS) {
            return None;
        }
    }
    Some(f64::from(v))
}

/// Gaussian-windowed sums about `(xc, yc)`: `Σ w I`, `Σ w I dx`, `Σ w I dy`, `Σ w I dx²`,
/// `Σ w I dy²`, `Σ w I dx dy` over the pixels within `4 σ_w`.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub(crate) struct WindowSums {
    pub sw: f64,
    pub sx: f64,
    pub sy: f64,
    pub sxx: f64,
    pub syy: f64,
    pub sxy: f64,
    /// Number of pixels used and number of pixels of the window off the image or masked.
    pub n_used: usize,
    pub n_missing: usize,
}

/// Pixels that belong to other sources (deblended neighbours): in the windowed sums their
/// value is replaced by the image at the point mirrored through the current centre (bilinear
/// interpolation), as SExtractor's `MASK_TYPE CORRECT`; when the mirror is itself foreign or
/// unusable the pixel is skipped. A pixel is foreign when its label in a segmentation map
/// (row-major, `width` columns, 0 for no source) is neither 0 nor the source's own.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Foreign<'a> {
    labels: &'a [u32],
    width: usize,
    own: u32,
    /// The cells of `labels`, when known: the labels of a box whose cells hold no other
    /// source are not read.
    cells: Option<&'a LabelCells>,
}

impl<'a> Foreign<'a> {
    /// The pixels of `labels` (row-major, `width` columns) labelled neither 0 nor `own`.
    pub(crate) fn new(labels: &'a [u32], width: usize, own: u32) -> Self {
        Foreign {
            labels,
            width,
            own,
            cells: None,
        }
    }

    /// The same with the [`LabelCells`] of `labels`.
    pub(crate) fn with_cells(self, cells: &'a LabelCells) -> Self {
        Foreign {
            cells: Some(cells),
            ..self
        }
    }

    /// True when the cells show that no pixel of `area` (clipped to the image) is foreign.
    fn absent_from(&self, area: &PixelBox) -> bool {
        self.cells.is_some_and(|c| c.at_most(area, self.own))
    }

    /// The labels of columns `x_lo..=x_hi` of row `y`.
    fn row(&self, y: usize, x_lo: usize, x_hi: usize) -> &'a [u32] {
        &self.labels[y * self.width + x_lo..=y * self.width + x_hi]
    }

    /// True when `label` belongs to another source.
    #[inline]
    fn is_other(&self, label: u32) -> bool {
        label != 0 && label != self.own
    }

    fn at(&self, x: usize, y: usize) -> bool {
        self.is_other(self.labels[y * self.width + x])
    }
}

/// Side (px) of the cells of [`LabelCells`].
const LABEL_CELL_PX: usize = 16;

/// Which labels of a segmentation map each 16 × 16 px cell holds: none (0), one (that
/// label) or several ([`LabelCells::SEVERAL`]). A window whose cells hold no label but the
/// source's own has no [`Foreign`] pixel: its labels, 4 bytes a pixel mostly out of the
/// cache, need not be read.
#[derive(Debug)]
pub(crate) struct LabelCells {
    columns: usize,
    cells: Vec<u32>,
}

impl LabelCells {
    /// A cell with pixels of more than one label (or of label `u32::MAX`).
    const SEVERAL: u32 = u32::MAX;

    /// Empty cells over a `width × height` map.
    pub(crate) fn new(width: usize, height: usize) -> Self {
        let columns = width.div_ceil(LABEL_CELL_PX);
        LabelCells {
            columns,
            cells: vec![0; columns * height.div_ceil(LABEL_CELL_PX)],
        }
    }

    /// Records pixel `(x, y)` (on the map) labelled `label` (> 0).
    pub(crate) fn add(&mut self, x: usize, y: usize, label: u32) {
        let cell = &mut self.cells[(y / LABEL_CELL_PX) * self.columns + x / LABEL_CELL_PX];
        if *cell == 0 {
            *cell = label;
        } else if *cell != label {
            *cell = Self::SEVERAL;
        }
    }

    /// True when the cells under `area` (clipped to the map, non-empty) hold no label but
    /// 0 and `own`.
    fn at_most(&self, area: &PixelBox, own: u32) -> bool {
        let cell = |v: i64| v as usize / LABEL_CELL_PX;
        (cell(area.y_lo)..=cell(area.y_hi)).all(|cy| {
            let row = &self.cells[cy * self.columns..(cy + 1) * self.columns];
            row[cell(area.x_lo)..=cell(area.x_hi)]
                .iter()
                .all(|&c| c == 0 || (c == own && c != Self::SEVERAL))
        })
    }
}

/// Bilinear value at `(x, y)` from four usable, non-foreign pixels.
fn mirrored_value(
    image: &Image,
    mask: Option<&PixelMask>,
    foreign: &Foreign,
    x: f64,
    y: f64,
) -> Option<f64> {
    let (x0, y0) = (x.floor(), y.floor());
    if x0 < 0.0 || y0 < 0.0 || x0 + 1.0 >= image.width() as f64 || y0 + 1.0 >= image.height() as f64
    {
        return None;
    }
    let (fx, fy) = (x - x0, y - y0);
    let (ix, iy) = (x0 as usize, y0 as usize);
    let mut v = 0.0;
    for (dx, dy, wgt) in [
        (0, 0, (1.0 - fx) * (1.0 - fy)),
        (1, 0, fx * (1.0 - fy)),
        (0, 1, (1.0 - fx) * fy),
        (1, 1, fx * fy),
    ] {
        let (px, py) = (ix + dx, iy + dy);
        if foreign.at(px, py) {
            return None;
        }
        v += wgt * usable(image, mask, px, py)?;
    }
    Some(v)
}

/// Squared offsets `(d − ½ + (k + ½)/n)²`, k = 0..n, of the sub-pixel centres of a pixel at
/// offset `d` (n = [`EDGE_OVERSAMPLING`]) along one axis.
#[inline]
fn sub_pixel_squares(d: f64) -> [f64; EDGE_OVERSAMPLING] {
    let n = EDGE_OVERSAMPLING as f64;
    std::array::from_fn(|k| {
        let s = d - 0.5 + (k as f64 + 0.5) / n;
        s * s
    })
}

/// `k / n²` for `k = 0..=n²` sub-pixels inside (n = [`EDGE_OVERSAMPLING`]): a look-up
/// instead of a division per pixel on the window's edge.
const EDGE_FRACTIONS: [f64; EDGE_OVERSAMPLING * EDGE_OVERSAMPLING + 1] = {
    let n2 = (EDGE_OVERSAMPLING * EDGE_OVERSAMPLING) as f64;
    let mut out = [0.0; EDGE_OVERSAMPLING * EDGE_OVERSAMPLING + 1];
    let mut k = 0;
    while k < out.len() {
        out[k] = k as f64 / n2;
        k += 1;
    }
    out
};

/// Fraction of a pixel inside the circle of radius² `r2_max` about the window's centre: the
/// share of its `n × n` sub-pixel centres with `sx² + sy² ≤ r2_max`, from their squared
/// offsets along x (`sx2`) and y (`sy2`) ([`sub_pixel_squares`]).
#[inline]
fn edge_fraction(
    sx2: &[f64; EDGE_OVERSAMPLING],
    sy2: &[f64; EDGE_OVERSAMPLING],
    r2_max: f64,
) -> f64 {
    // One bit per sub-pixel, then a population count: the compiler keeps the 25 tests in
    // mask registers rather than adding them up one by one (a fifth of the windowed sums'
    // time went into those additions).
    let mut inside = 0u32;
    for (j, &y2) in sy2.iter().enumerate() {
        for (i, &x2) in sx2.iter().enumerate() {
            inside |= u32::from(x2 + y2 <= r2_max) << (j * EDGE_OVERSAMPLING + i);
        }
    }
    EDGE_FRACTIONS[inside.count_ones() as usize]
}

/// The pixels `[x_lo, x_hi] × [y_lo, y_hi]` (inclusive, possibly off the image) that the
/// windowed sums about `(xc, yc)` with measurement radius `r_max` read.
#[derive(Debug, Clone, Copy, PartialEq)]
struct PixelBox {
    x_lo: i64,
    x_hi: i64,
    y_lo: i64,
    y_hi: i64,
}

impl PixelBox {
    fn around(xc: f64, yc: f64, r_max: f64) -> Self {
        PixelBox {
            x_lo: (xc - r_max - 1.0).floor() as i64,
            x_hi: (xc + r_max + 1.0).ceil() as i64,
            y_lo: (yc - r_max - 1.0).floor() as i64,
            y_hi: (yc + r_max + 1.0).ceil() as i64,
        }
    }

    /// The box clipped to a `w × h` image (empty when `lo > hi`).
    fn clipped(self, w: usize, h: usize) -> Self {
        PixelBox {
            x_lo: self.x_lo.max(0),
            x_hi: self.x_hi.min(w as i64 - 1),
            y_lo: self.y_lo.max(0),
            y_hi: self.y_hi.min(h as i64 - 1),
        }
    }

    fn is_empty(&self) -> bool {
        self.x_lo > self.x_hi || self.y_lo > self.y_hi
    }

    fn contains(&self, other: &PixelBox) -> bool {
        other.is_empty()
            || (self.x_lo <= other.x_lo
                && other.x_hi <= self.x_hi
                && self.y_lo <= other.y_lo
                && other.y_hi <= self.y_hi)
    }
}

/// The image pixels of a box as [`window_sums`] reads them, copied once for the iterations of
/// a centroid: the value (NaN when not finite or excluded by the mask, as [`usable`]) and
/// whether the pixel is [`Foreign`].
pub(crate) struct WindowPixels {
    /// The box, clipped to the image.
    area: PixelBox,
    width: usize,
    values: Vec<f64>,
    /// Per pixel, whether it is foreign; empty when none is.
    foreign: Vec<bool>,
}

impl WindowPixels {
    fn new(
        image: &Image,
        mask: Option<&PixelMask>,
        foreign: Option<&Foreign>,
        area: PixelBox,
    ) -> Self {
        let area = area.clipped(image.width(), image.height());
        if area.is_empty() {
            return WindowPixels {
                area,
                width: 0,
                values: Vec::new(),
                foreign: Vec::new(),
            };
        }
        // Without foreign pixels in the box (known from the cells) the labels are not read.
        let foreign = foreign.filter(|f| !f.absent_from(&area));
        let (x_lo, x_hi) = (area.x_lo as usize, area.x_hi as usize);
        let width = x_hi - x_lo + 1;
        let rows = area.y_lo as usize..=area.y_hi as usize;
        let mut values = Vec::with_capacity(width * rows.clone().count());
        let mut foreign_flags = Vec::new();
        for y in rows {
            let pixels = &image.row(y)[x_lo..=x_hi];
            let bits = mask.map(|m| {
                let start = y * m.width();
                &m.bits()[start + x_lo..=start + x_hi]
            });
            // One loop per case rather than a test of the mask per pixel (−1 ms CPU per
            // `detect_sources` of a full ALFOSC frame).
            let value = |v: f32, excluded: bool| {
                if v.is_finite() && !excluded {
                    f64::from(v)
                } else {
                    f64::NAN
                }
            };
            match bits {
                Some(b) => values.extend(
                    pixels
                        .iter()
                        .zip(b)
                        .map(|(&v, &b)| value(v, b & EXCLUDED_PIXELS != 0)),
                ),
                None => values.extend(pixels.iter().map(|&v| value(v, false))),
            }
            if let Some(f) = foreign {
                let labels = f.row(y, x_lo, x_hi);
                foreign_flags.extend(labels.iter().map(|&l| f.is_other(l)));
            }
        }
        // No foreign pixel: no flags, and [`window_sums_of`] takes its faster loop.
        if !foreign_flags.contains(&true) {
            foreign_flags = Vec::new();
        }
        WindowPixels {
            area,
            width,
            values,
            foreign: foreign_flags,
        }
    }

    /// True when a pixel of the box is [`Foreign`].
    fn has_foreign(&self) -> bool {
        !self.foreign.is_empty()
    }

    /// True when the pixels cover the part of `area` on a `w × h` image.
    fn covers(&self, area: PixelBox, w: usize, h: usize) -> bool {
        self.area.contains(&area.clipped(w, h))
    }

    /// Index of image pixel `(x, y)` (inside the box) in `values`.
    #[inline]
    fn index(&self, x: i64, y: i64) -> usize {
        (y - self.area.y_lo) as usize * self.width + (x - self.area.x_lo) as usize
    }
}

/// Windowed sums of `image` (background-subtracted) around `(xc, yc)` with window σ.
#[cfg(test)]
pub(crate) fn window_sums(
    image: &Image,
    mask: Option<&PixelMask>,
    foreign: Option<&Foreign>,
    xc: f64,
    yc: f64,
    sigma: f64,
) -> WindowSums {
    WindowReader::around(image, mask, foreign, xc, yc, sigma, 0.0).sums(xc, yc, sigma)
}

/// Extra pixels a [`WindowReader`] copies around a window: the centre moves by less between
/// the steps of most centroids.
const READER_MARGIN_PX: f64 = 1.0;

/// Windowed sums of one source at successive centres and window sizes, with its pixels
/// copied once ([`WindowPixels`]) rather than looked up in the image at every step.
pub(crate) struct WindowReader<'a> {
    image: &'a Image,
    mask: Option<&'a PixelMask>,
    foreign: Option<&'a Foreign<'a>>,
    pixels: WindowPixels,
}

impl<'a> WindowReader<'a> {
    /// A reader with the pixels of the windows of σ up to `sigma` centred within `reach` px
    /// of `(x, y)` at hand (it copies others when a window needs them).
    pub(crate) fn around(
        image: &'a Image,
        mask: Option<&'a PixelMask>,
        foreign: Option<&'a Foreign<'a>>,
        x: f64,
        y: f64,
        sigma: f64,
        reach: f64,
    ) -> Self {
        let area = PixelBox::around(x, y, WINDOW_NSIG * sigma + reach);
        WindowReader {
            image,
            mask,
            foreign,
            pixels: WindowPixels::new(image, mask, foreign, area),
        }
    }

    /// [`window_sums`] about `(xc, yc)` with window σ.
    pub(crate) fn sums(&mut self, xc: f64, yc: f64, sigma: f64) -> WindowSums {
        self.sums_of_order::<true>(xc, yc, sigma)
    }

    /// [`WindowReader::sums`] without the second moments (`sxx`, `syy`, `sxy` left at 0):
    /// what a centroid step needs. The other sums are the same, bit for bit.
    pub(crate) fn first_moments(&mut self, xc: f64, yc: f64, sigma: f64) -> WindowSums {
        self.sums_of_order::<false>(xc, yc, sigma)
    }

    /// The sums, with the second moments when `SECOND`.
    fn sums_of_order<const SECOND: bool>(&mut self, xc: f64, yc: f64, sigma: f64) -> WindowSums {
        let area = PixelBox::around(xc, yc, WINDOW_NSIG * sigma);
        let (w, h) = (self.image.width(), self.image.height());
        if !self.pixels.covers(area, w, h) {
            let area = PixelBox::around(xc, yc, WINDOW_NSIG * sigma + READER_MARGIN_PX);
            self.pixels = WindowPixels::new(self.image, self.mask, self.foreign, area);
        }
        let (image, mask, foreign) = (self.image, self.mask, self.foreign);
        window_sums_of::<SECOND>(&self.pixels, image, mask, foreign, xc, yc, sigma)
    }
}

/// [`window_sums`] with the pixels read from `pixels`, which must cover the window's box
/// ([`WindowPixels::covers`]); `image`, `mask` and `foreign` serve the mirror images of
/// foreign pixels. Without `SECOND` the second moments are not accumulated (left at 0): a
/// centroid uses the first ones only.
fn window_sums_of<const SECOND: bool>(
    pixels: &WindowPixels,
    image: &Image,
    mask: Option<&PixelMask>,
    foreign: Option<&Foreign>,
    xc: f64,
    yc: f64,
    sigma: f64,
) -> WindowSums {
    let plain = |k: usize| Some(pixels.values[k]).filter(|v| !v.is_nan());
    // Two copies of the loop: with no foreign pixel in the box (most sources) it calls no
    // function, and the compiler keeps the sums in registers; with the call of
    // `mirrored_value` in the loop they went through the stack at every pixel, whose
    // store-to-load latency then set the pace (~10 cycles a pixel).
    match foreign.filter(|_| pixels.has_foreign()) {
        None => window_sums_with::<SECOND>(pixels, image, xc, yc, sigma, |k, _, _| plain(k)),
        Some(f) => window_sums_with::<SECOND>(pixels, image, xc, yc, sigma, |k, x, y| {
            if pixels.foreign[k] {
                mirrored_value(image, mask, f, 2.0 * xc - x as f64, 2.0 * yc - y as f64)
            } else {
                plain(k)
            }
        }),
    }
}

/// The loop of [`window_sums_of`], with `value(k, x, y)` the usable value of image pixel
/// `(x, y)` of the box (`k` its index in [`WindowPixels`]), `None` when it is not usable.
#[inline(always)]
fn window_sums_with<const SECOND: bool>(
    pixels: &WindowPixels,
    image: &Image,
    xc: f64,
    yc: f64,
    sigma: f64,
    value: impl Fn(usize, i64, i64) -> Option<f64>,
) -> WindowSums {
    let r_max = WINDOW_NSIG * sigma;
    let r2_max = r_max * r_max;
    // A pixel (half-diagonal √2/2) is entirely inside when r + 0.71 < r_max and entirely
    // outside when r − 0.71 > r_max.
    let inner2 = (r_max - 0.71).max(0.0).powi(2);
    let outer2 = (r_max + 0.71).powi(2);
    let inv2s2 = 0.5 / (sigma * sigma);
    let (w, h) = (image.width() as i64, image.height() as i64);
    let PixelBox {
        x_lo,
        x_hi,
        y_lo,
        y_hi,
    } = PixelBox::around(xc, yc, r_max);
    // The Gaussian window is separable: exp(−(dx² + dy²)/2σ²) = exp(−dx²/2σ²) exp(−dy²/2σ²),
    // one exponential per column and per row instead of one per pixel; with each column's
    // and row's squared sub-pixel offsets for the pixels on the window's edge. The rows' are
    // made here too, not in the loop over the rows: a call of `exp` there clobbers every
    // vector register, and the sums, kept in registers across the pixels of a row otherwise,
    // went through memory at every pixel.
    let columns: Vec<(f64, [f64; EDGE_OVERSAMPLING])> = (x_lo..=x_hi)
        .map(|x| {
            let dx = x as f64 - xc;
            ((-dx.powi(2) * inv2s2).exp(), sub_pixel_squares(dx))
        })
        .collect();
    let rows: Vec<(f64, [f64; EDGE_OVERSAMPLING])> = (y_lo..=y_hi)
        .map(|y| {
            let dy = y as f64 - yc;
            ((-dy * dy * inv2s2).exp(), sub_pixel_squares(dy))
        })
        .collect();
    // Sums in locals (registers) rather than through the struct.
    let (mut sw, mut sx, mut sy, mut sxx, mut syy, mut sxy) = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0);
    let (mut n_used, mut n_missing) = (0, 0);
    for (y, &(window_y, sub_dy2)) in (y_lo..=y_hi).zip(&rows) {
        let dy = y as f64 - yc;
        let row_on_image = (0..h).contains(&y);
        for (x, (wx, sub_dx2)) in (x_lo..=x_hi).zip(&columns) {
            let dx = x as f64 - xc;
            let r2 = dx * dx + dy * dy;
            if r2 > outer2 {
                continue;
            }
            let fraction = if r2 < inner2 {
                1.0
            } else {
                edge_fraction(sub_dx2, &sub_dy2, r2_max)
            };
            if fraction == 0.0 {
                continue;
            }
            if !(row_on_image && (0..w).contains(&x)) {
                n_missing += 1;
                continue;
            }
            let Some(v) = value(pixels.index(x, y), x, y) else {
                n_missing += 1;
                continue;
            };
            let wv = fraction * (wx * window_y) * v;
            sw += wv;
            sx += wv * dx;
            sy += wv * dy;
            if SECOND {
                sxx += wv * dx * dx;
                syy += wv * dy * dy;
                sxy += wv * dx * dy;
            }
            n_used += 1;
        }
    }
    WindowSums {
        sw,
        sx,
        sy,
        sxx,
        syy,
        sxy,
        n_used,
        n_missing,
    }
}

/// SExtractor's windowed centroid (`XWIN_IMAGE`, `YWIN_IMAGE`) of a source near `(x0, y0)`
/// on a background-subtracted image, with a Gaussian window of σ `sigma_win_px` and the
/// default settings of [`WindowedParams::new`].
pub fn windowed_centroid(
    image: &Image,
    x0: f64,
    y0: f64,
    sigma_win_px: f64,
) -> Result<Centroid, CentroidError> {
    windowed_centroid_with(image, None, x0, y0, &WindowedParams::new(sigma_win_px))
}

/// [`windowed_centroid`] with a pixel mask and explicit settings.
pub fn windowed_centroid_with(
    image: &Image,
    mask: Option<&PixelMask>,
    x0: f64,
    y0: f64,
    params: &WindowedParams,
) -> Result<Centroid, CentroidError> {
    windowed_centroid_masked(image, mask, None, x0, y0, params)
}

/// [`windowed_centroid_with`] with the pixels of neighbouring sources replaced by their
/// mirror images through the centre (see [`Foreign`]).
pub(crate) fn windowed_centroid_masked(
    image: &Image,
    mask: Option<&PixelMask>,
    foreign: Option<&Foreign>,
    x0: f64,
    y0: f64,
    params: &WindowedParams,
) -> Result<Centroid, CentroidError> {
    check_start(image, x0, y0)?;
    let sigma = params.sigma_win_px;
    if !(sigma.is_finite() && sigma > 0.0) {
        return Err(CentroidError::InvalidParameter {
            name: "sigma_win_px",
            value: sigma,
            reason: "must be finite and > 0",
        });
    }
    let limit = params.max_shift_px.unwrap_or(WINDOW_NSIG * sigma);
    let mut reader = WindowReader::around(image, mask, foreign, x0, y0, sigma, READER_MARGIN_PX);
    let (mut xc, mut yc) = (x0, y0);
    let mut last_step = f64::INFINITY;
    for iteration in 1..=params.max_iterations.max(1) {
        let s = reader.first_moments(xc, yc, sigma);
        if s.sw.is_nan() || s.sw <= 0.0 {
            return Err(CentroidError::NoSignal { x: xc, y: yc });
        }
        let (dx, dy) = (2.0 * s.sx / s.sw, 2.0 * s.sy / s.sw);
        xc += dx;
        yc += dy;
        let distance = (xc - x0).hypot(yc - y0);
        if distance.is_nan() || distance > limit {
            return Err(CentroidError::Wandered {
                distance_px: distance,
                limit_px: limit,
            });
        }
        last_step = dx.hypot(dy);
        if last_step < params.tolerance_px {
            return Ok(Centroid {
                x: xc,
                y: yc,
                iterations: iteration,
            });
        }
    }
    Err(CentroidError::NotConverged {
        iterations: params.max_iterations.max(1),
        last_step_px: last_step,
    })
}

/// Settings of [`gaussian_2d_fit`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GaussianFitParams {
    /// The cutout is the `(2h + 1)²` pixels around the pixel nearest the start.
    pub half_size_px: usize,
    /// Largest number of Levenberg–Marquardt iterations.
    pub max_iterations: usize,
    /// The fitted centre may lie at most this far from the start (px); `None`: `half_size_px`.
    pub max_shift_px: Option<f64>,
}

impl GaussianFitParams {
    pub fn new(half_size_px: usize) -> Self {
        GaussianFitParams {
            half_size_px,
            max_iterations: 100,
            max_shift_px: None,
        }
    }
}

/// Result of a 2-D Gaussian fit: `I(x, y) = A exp(−½ Q) + B` with
/// `Q = a dx² + 2 b dx dy + c dy²`, `dx = x − x₀`, `dy = y − y₀`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GaussianFit {
    pub x: f64,
    pub y: f64,
    /// 1σ errors of x and y from the residual scatter (unweighted fit: the residual variance
    /// stands for the pixel variance).
    pub x_err: f64,
    pub y_err: f64,
    pub amplitude: f64,
    pub background: f64,
    /// Standard deviations along the major and minor axes (px) and the angle of the major
    /// axis from +x towards +y (deg, in (−90, 90]).
    pub sigma_major_px: f64,
    pub sigma_minor_px: f64,
    pub theta_deg: f64,
    /// FWHM of the round Gaussian of the same area, `2.3548 √(σ_major σ_minor)`.
    pub fwhm_px: f64,
    /// RMS of the fit residuals (image units).
    pub rms_residual: f64,
    pub iterations: usize,
}

/// Centroid by fitting a 2-D Gaussian plus a constant to the `(2h + 1)²` cutout around
/// `(x0, y0)` (see [`gaussian_2d_fit`]).
pub fn gaussian_2d_centroid(
    image: &Image,
    x0: f64,
    y0: f64,
    half_size_px: usize,
) -> Result<GaussianFit, CentroidError> {
    gaussian_2d_fit(image, None, x0, y0, &GaussianFitParams::new(half_size_px))
}

/// Pixels of a cutout: `(x, y, value)`.
type Cutout = Vec<(f64, f64, f64)>;

/// The usable pixels of the `(2h + 1)²` cutout around the pixel nearest `(x0, y0)` and the
/// median of its border (the starting background).
fn cutout(
    image: &Image,
    mask: Option<&PixelMask>,
    x0: f64,
    y0: f64,
    h: i64,
) -> Result<(Cutout, f64), CentroidError> {
    let (ix, iy) = (x0.round() as i64, y0.round() as i64);
    let mut pts: Cutout = Vec::new();
    let mut border: Vec<f64> = Vec::new();
    for y in (iy - h)..=(iy + h) {
        for x in (ix - h)..=(ix + h) {
            if x < 0 || y < 0 || x >= image.width() as i64 || y >= image.height() as i64 {
                continue;
            }
            if let Some(v) = usable(image, mask, x as usize, y as usize) {
                pts.push((x as f64, y as f64, v));
                if (x - ix).abs() == h || (y - iy).abs() == h {
                    border.push(v);
                }
            }
        }
    }
    if pts.len() < 12 {
        return Err(CentroidError::NoSignal { x: x0, y: y0 });
    }
    let background = crate::stats::median(&border)
        .or_else(|| crate::stats::median(&pts.iter().map(|p| p.2).collect::<Vec<_>>()))
        .unwrap_or(0.0);
    Ok((pts, background))
}

/// Starting values from a cutout: peak above `background` and its pixel, and the rms radius
/// of the positive signal about `(x0, y0)` (clamped to `[0.7, h]`).
fn first_guess(
    pts: &Cutout,
    background: f64,
    x0: f64,
    y0: f64,
    h: f64,
) -> Option<(f64, f64, f64, f64)> {
    let (mut peak, mut px, mut py) = (f64::NEG_INFINITY, x0, y0);
    let (mut s0, mut s2) = (0.0, 0.0);
    for &(x, y, v) in pts {
        let dv = v - background;
        if dv > peak {
            (peak, px, py) = (dv, x, y);
        }
        if dv > 0.0 {
            s0 += dv;
            s2 += dv * ((x - x0).powi(2) + (y - y0).powi(2));
        }
    }
    (peak > 0.0 && s0 > 0.0).then(|| (peak, px, py, (0.5 * s2 / s0).sqrt().clamp(0.7, h)))
}

/// Outcome of [`levenberg_marquardt`]: parameters, χ² (sum of squared residuals), the normal
/// matrix at the solution and the iterations used.
struct LmResult<const N: usize> {
    p: SVector<f64, N>,
    chi2: f64,
    jtj: SMatrix<f64, N, N>,
    iterations: usize,
}

/// A least-squares problem for [`levenberg_marquardt`]: `χ²(p) = Σ (vᵢ − f(p; xᵢ, yᵢ))²` over
/// a cutout and the normal equations of its linearisation, `JᵀJ` and `Jᵀr` (`J` the model's
/// gradients, `r` the residuals).
trait LeastSquares<const N: usize> {
    fn chi2(&mut self, p: &SVector<f64, N>) -> f64;
    fn normal_equations(&mut self, p: &SVector<f64, N>) -> (SMatrix<f64, N, N>, SVector<f64, N>);
}

/// [`LeastSquares`] of a model `f(p; x, y)` that returns its value and gradient.
struct PointModel<'a, F> {
    pts: &'a Cutout,
    model: F,
}

impl<const N: usize, F> LeastSquares<N> for PointModel<'_, F>
where
    F: Fn(&SVector<f64, N>, f64, f64) -> (f64, SVector<f64, N>),
{
    fn chi2(&mut self, p: &SVector<f64, N>) -> f64 {
        self.pts
            .iter()
            .map(|&(x, y, v)| (v - (self.model)(p, x, y).0).powi(2))
            .sum()
    }

    fn normal_equations(&mut self, p: &SVector<f64, N>) -> (SMatrix<f64, N, N>, SVector<f64, N>) {
        let mut jtj = SMatrix::<f64, N, N>::zeros();
        let mut jtr = SVector::<f64, N>::zeros();
        for &(x, y, v) in self.pts {
            let (m, g) = (self.model)(p, x, y);
            jtj += g * g.transpose();
            jtr += g * (v - m);
        }
        (jtj, jtr)
    }
}

/// Unweighted Levenberg–Marquardt least squares (Marquardt 1963, damping `λ·diag(JᵀJ)`) of a
/// model `f(p; x, y)` with gradient to the cutout. `valid` rejects steps into a forbidden
/// region. Converged (as MINPACK's `ftol`/`xtol` tests) when an accepted step lowers χ² by
/// less than 10⁻¹⁰ of it or changes no parameter by more than 10⁻¹⁰ of its value, or when no
/// damping gives a downhill step.
fn levenberg_marquardt<const N: usize>(
    problem: &mut impl LeastSquares<N>,
    p0: SVector<f64, N>,
    valid: impl Fn(&SVector<f64, N>) -> bool,
    max_iterations: usize,
) -> Result<LmResult<N>, CentroidError> {
    let mut p = p0;
    let mut chi2 = problem.chi2(&p);
    let mut lambda = 1e-3;
    let mut iterations = 0;
    while iterations < max_iterations {
        iterations += 1;
        let (jtj, jtr) = problem.normal_equations(&p);
        let mut improved = false;
        let mut converged = false;
        while lambda < 1e12 {
            let mut a = jtj;
            for i in 0..N {
                a[(i, i)] += lambda * jtj[(i, i)].max(1e-300);
            }
            let Some(step) = a.cholesky().map(|c| c.solve(&jtr)) else {
                lambda *= 10.0;
                continue;
            };
            let trial = p + step;
            let trial_chi2 = if valid(&trial) {
                problem.chi2(&trial)
            } else {
                f64::INFINITY
            };
            if trial_chi2 <= chi2 {
                let relative_step = step
                    .iter()
                    .zip(p.iter())
                    .map(|(d, v)| d.abs() / (v.abs() + 1e-12))
                    .fold(0.0, f64::max);
                converged = chi2 - trial_chi2 <= 1e-10 * chi2.max(1e-300) || relative_step < 1e-10;
                p = trial;
                chi2 = trial_chi2;
                lambda = (lambda * 0.1).max(1e-12);
                improved = true;
                break;
            }
            lambda *= 10.0;
        }
        // No downhill step at any damping: a minimum to machine precision.
        if converged || !improved {
            if !p.iter().all(|v| v.is_finite()) || !valid(&p) {
                return Err(CentroidError::Singular);
            }
            return Ok(LmResult {
                p,
                chi2,
                jtj,
                iterations,
            });
        }
    }
    Err(CentroidError::NotConverged {
        iterations,
        last_step_px: f64::NAN,
    })
}

fn check_half_size(h: usize) -> Result<i64, CentroidError> {
    if h < 2 {
        return Err(CentroidError::InvalidParameter {
            name: "half_size_px",
            value: h as f64,
            reason: "must be at least 2 (a 5 × 5 cutout)",
        });
    }
    Ok(h as i64)
}

fn check_shift(x: f64, y: f64, x0: f64, y0: f64, limit: f64) -> Result<(), CentroidError> {
    let distance = (x - x0).hypot(y - y0);
    if distance <= limit {
        Ok(())
    } else {
        Err(CentroidError::Wandered {
            distance_px: distance,
            limit_px: limit,
        })
    }
}

/// Model `A exp(−½ (a dx² + 2b dx dy + c dy²)) + B` and its gradient for
/// `[A, x0, y0, a, b, c, B]`.
fn gaussian_model(p: &SVector<f64, 7>, x: f64, y: f64) -> (f64, SVector<f64, 7>) {
    let (amp, xc, yc, a, b, c) = (p[0], p[1], p[2], p[3], p[4], p[5]);
    let (dx, dy) = (x - xc, y - yc);
    let q = a * dx * dx + 2.0 * b * dx * dy + c * dy * dy;
    let g = (-0.5 * q).exp();
    let ag = amp * g;
    let grad = SVector::<f64, 7>::from([
        g,
        ag * (a * dx + b * dy),
        ag * (b * dx + c * dy),
        -0.5 * ag * dx * dx,
        -ag * dx * dy,
        -0.5 * ag * dy * dy,
        1.0,
    ]);
    (ag + p[6], grad)
}

/// Fits `A exp(−½ Q) + B` to the cutout around `(x0, y0)` by Levenberg–Marquardt. Starting
/// values: B the median of the cutout's border, A the peak above it, the width from the
/// cutout's second moments. Errors when the cutout has too few usable pixels, the fit does not
/// converge, the shape is not a peak (A ≤ 0 or a non-positive-definite Q) or the centre moves
/// beyond `max_shift_px`. Note that for a Moffat PSF the fitted Gaussian is ~10 % wider
/// than the PSF's FWHM (β = 3); [`moffat_2d_fit`] measures the FWHM itself.
pub fn gaussian_2d_fit(
    image: &Image,
    mask: Option<&PixelMask>,
    x0: f64,
    y0: f64,
    params: &GaussianFitParams,
) -> Result<GaussianFit, CentroidError> {
    check_start(image, x0, y0)?;
    let h = check_half_size(params.half_size_px)?;
    let (pts, background0) = cutout(image, mask, x0, y0, h)?;
    let (peak, px, py, sigma0) = first_guess(&pts, background0, x0, y0, h as f64)
        .ok_or(CentroidError::NoSignal { x: x0, y: y0 })?;
    let inv = 1.0 / (sigma0 * sigma0);
    let p0 = SVector::<f64, 7>::from([peak, px, py, inv, 0.0, inv, background0]);
    let valid =
        |p: &SVector<f64, 7>| p[0] > 0.0 && p[3] > 0.0 && p[5] > 0.0 && p[3] * p[5] > p[4] * p[4];
    let mut problem = PointModel {
        pts: &pts,
        model: gaussian_model,
    };
    let fit = levenberg_marquardt(&mut problem, p0, valid, params.max_iterations)?;
    let p = fit.p;
    check_shift(p[1], p[2], x0, y0, params.max_shift_px.unwrap_or(h as f64))?;
    let dof = (pts.len() - 7).max(1) as f64;
    let s2_res = fit.chi2 / dof;
    let cov = fit.jtj.try_inverse().ok_or(CentroidError::Singular)?;
    // Covariance of the ellipse is the inverse of [[a, b], [b, c]].
    let (a, b, c) = (p[3], p[4], p[5]);
    let det = a * c - b * b;
    let (sxx, syy, sxy) = (c / det, a / det, -b / det);
    let half_sum = 0.5 * (sxx + syy);
    let root = (0.25 * (sxx - syy).powi(2) + sxy * sxy).sqrt();
    let major = (half_sum + root).sqrt();
    let minor = (half_sum - root).max(0.0).sqrt();
    let mut theta = 0.5 * (2.0 * sxy).atan2(sxx - syy);
    if theta <= -std::f64::consts::FRAC_PI_2 {
        theta += std::f64::consts::PI;
    }
    Ok(GaussianFit {
        x: p[1],
        y: p[2],
        x_err: (s2_res * cov[(1, 1)]).max(0.0).sqrt(),
        y_err: (s2_res * cov[(2, 2)]).max(0.0).sqrt(),
        amplitude: p[0],
        background: p[6],
        sigma_major_px: major,
        sigma_minor_px: minor,
        theta_deg: theta.to_degrees(),
        fwhm_px: 2.0 * (2.0 * std::f64::consts::LN_2).sqrt() * (major * minor).sqrt(),
        rms_residual: (fit.chi2 / pts.len() as f64).sqrt(),
        iterations: fit.iterations,
    })
}

/// Result of a circular Moffat fit: `I(r) = A (1 + r²/α²)^(−β) + B` (Moffat 1969, A&A 3,
/// 455), `r` the distance from `(x, y)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MoffatFit {
    pub x: f64,
    pub y: f64,
    pub amplitude: f64,
    pub background: f64,
    pub alpha_px: f64,
    pub beta: f64,
    /// `2 α √(2^(1/β) − 1)`.
    pub fwhm_px: f64,
    pub rms_residual: f64,
    pub iterations: usize,
}

/// Adds one pixel to the normal equations: `g gᵀ` to the upper triangle of `JᵀJ` (the lower
/// one comes from [`mirrored_upper`]) and `g r` to `Jᵀr`, `g` the model's gradient and `r` the
/// residual.
#[inline]
fn add_to_normal_equations<const N: usize>(
    jtj: &mut SMatrix<f64, N, N>,
    jtr: &mut SVector<f64, N>,
    g: &SVector<f64, N>,
    r: f64,
) {
    for j in 0..N {
        for i in 0..=j {
            jtj[(i, j)] += g[i] * g[j];
        }
        jtr[j] += g[j] * r;
    }
}

/// The symmetric matrix with the upper triangle of `m`.
fn mirrored_upper<const N: usize>(mut m: SMatrix<f64, N, N>) -> SMatrix<f64, N, N> {
    for j in 0..N {
        for i in 0..j {
            m[(j, i)] = m[(i, j)];
        }
    }
    m
}

/// Sub-pixel grid of the Moffat model for the pixel centred at `(x, y)` and the profile
/// centred at `(xc, yc)`: `(n, step)`, the samples being at `(x + i step, y + j step)`,
/// `i, j ∈ −n..=n`. A 3 × 3 grid of sub-pixel centres (midpoint rule) within 3 px of the
/// centre, where the profile is curved; farther out the pixel centre.
#[inline]
fn moffat_grid(x: f64, y: f64, xc: f64, yc: f64) -> (i32, f64) {
    let near = (x - xc).powi(2) + (y - yc).powi(2) < 9.0;
    if near {
        (1, 1.0 / 3.0)
    } else {
        (0, 0.0)
    }
}

/// The number of samples of a [`moffat_grid`] of half-width `n`, `(2n + 1)²`.
#[inline]
fn grid_count(n: i32) -> f64 {
    f64::from((2 * n + 1) * (2 * n + 1))
}

/// The mean of the samples of a [`moffat_grid`] of half-width `n` from their sum. A pixel
/// sampled at its centre alone (n = 0, most of a cutout) skips the division by 1, which
/// changes no bit.
#[inline]
fn grid_mean(sum: f64, n: i32) -> f64 {
    if n > 0 {
        sum / grid_count(n)
    } else {
        sum
    }
}

/// `(ln u, u^(−β))` with `u = 1 + q r²` (the power as `exp(−β ln u)`, its log shared with
/// the derivative in β).
#[inline]
fn moffat_power(q: f64, beta: f64, r2: f64) -> (f64, f64) {
    let u = 1.0 + q * r2;
    let ln_u = u.ln();
    (ln_u, (-beta * ln_u).exp())
}

/// Parameters `[A, x0, y0, q = 1/α², β, B]` of the model `A u^(−β) + B`, `u = 1 + q r²`.
type MoffatParams = SVector<f64, 6>;

/// What the normal equations need of one sample of the Moffat model beyond its position:
/// `ln u`, `g = u^(−β)` ([`moffat_power`]) and `dg/du = −β g / u`.
#[derive(Debug, Clone, Copy, PartialEq)]
struct MoffatSample {
    ln_u: f64,
    g: f64,
    dg_du: f64,
}

/// [`LeastSquares`] of the Moffat model averaged over each pixel on its [`moffat_grid`]. The
/// samples and residuals of the last χ² are kept: the normal equations at the same parameters
/// (those of an accepted step) reuse them instead of recomputing a log, an exponential and a
/// division per sample and the model per pixel.
struct MoffatProblem<'a> {
    pts: &'a Cutout,
    /// [`MoffatSample`] of every sample, in order, at the parameters `samples_at`.
    samples: Vec<MoffatSample>,
    /// The residual `v − model` of every pixel at `samples_at`.
    residuals: Vec<f64>,
    samples_at: Option<MoffatParams>,
}

impl<'a> MoffatProblem<'a> {
    fn new(pts: &'a Cutout) -> Self {
        MoffatProblem {
            pts,
            samples: Vec::with_capacity(2 * pts.len()),
            residuals: Vec::with_capacity(pts.len()),
            samples_at: None,
        }
    }

    /// χ² of the model at `p`, keeping its samples and residuals.
    fn chi2_at(&mut self, p: &MoffatParams) -> f64 {
        let (amp, xc, yc, q, beta) = (p[0], p[1], p[2], p[3], p[4]);
        self.samples.clear();
        self.residuals.clear();
        let mut chi2 = 0.0;
        for &(x, y, v) in self.pts {
            let (n, step) = moffat_grid(x, y, xc, yc);
            // The sum of `A g` over the samples of the pixel, pushed to `samples`; with the
            // grid's half-width a constant (0 or 1, [`moffat_grid`]) so that its loops unroll.
            fn pixel<const N: i32>(
                samples: &mut Vec<MoffatSample>,
                (x, y, step): (f64, f64, f64),
                (amp, xc, yc, q, beta): (f64, f64, f64, f64, f64),
            ) -> f64 {
                let mut value = 0.0;
                for j in -N..=N {
                    for i in -N..=N {
                        let (dx, dy) = (x + i as f64 * step - xc, y + j as f64 * step - yc);
                        let r2 = dx * dx + dy * dy;
                        let (ln_u, g) = moffat_power(q, beta, r2);
                        let u = 1.0 + q * r2;
                        samples.push(MoffatSample {
                            ln_u,
                            g,
                            dg_du: -beta * g / u,
                        });
                        value += amp * g;
                    }
                }
                value
            }
            let at = (x, y, step);
            let model = (amp, xc, yc, q, beta);
            let value = match n {
                0 => pixel::<0>(&mut self.samples, at, model),
                _ => pixel::<1>(&mut self.samples, at, model),
            };
            let residual = v - (grid_mean(value, n) + p[5]);
            self.residuals.push(residual);
            chi2 += residual.powi(2);
        }
        self.samples_at = Some(*p);
        chi2
    }

    /// Calls `f(residual, gradient)` for every pixel of the cutout with the model at `p`.
    fn for_each_gradient(&mut self, p: &MoffatParams, mut f: impl FnMut(f64, &MoffatParams)) {
        let same = |a: &MoffatParams| {
            a.iter()
                .zip(p.iter())
                .all(|(u, v)| u.to_bits() == v.to_bits())
        };
        if !self.samples_at.as_ref().is_some_and(same) {
            self.chi2_at(p);
        }
        let (amp, xc, yc, q) = (p[0], p[1], p[2], p[3]);
        let mut next = 0;
        for (&(x, y, _), &residual) in self.pts.iter().zip(&self.residuals) {
            let (n, step) = moffat_grid(x, y, xc, yc);
            // The gradient summed over the samples of the pixel (`samples`, in their order);
            // the grid's half-width a constant as in [`MoffatProblem::chi2_at`].
            fn pixel<const N: i32>(
                samples: &[MoffatSample],
                (x, y, step): (f64, f64, f64),
                (amp, xc, yc, q): (f64, f64, f64, f64),
            ) -> MoffatParams {
                let mut grad = MoffatParams::zeros();
                let mut samples = samples.iter();
                for j in -N..=N {
                    for i in -N..=N {
                        let (dx, dy) = (x + i as f64 * step - xc, y + j as f64 * step - yc);
                        let r2 = dx * dx + dy * dy;
                        let Some(&MoffatSample { ln_u, g, dg_du }) = samples.next() else {
                            break;
                        };
                        grad[0] += g;
                        grad[1] += amp * dg_du * q * (-2.0 * dx);
                        grad[2] += amp * dg_du * q * (-2.0 * dy);
                        grad[3] += amp * dg_du * r2;
                        grad[4] += -amp * g * ln_u;
                    }
                }
                grad
            }
            let count = (2 * n + 1).pow(2) as usize;
            let Some(own) = self.samples.get(next..next + count) else {
                return;
            };
            next += count;
            let at = (x, y, step);
            let model = (amp, xc, yc, q);
            let mut grad = match n {
                0 => pixel::<0>(own, at, model),
                _ => pixel::<1>(own, at, model),
            };
            // As in [`grid_mean`]: no division by 1.
            if n > 0 {
                grad /= grid_count(n);
            }
            grad[5] = 1.0;
            f(residual, &grad);
        }
    }
}

impl LeastSquares<6> for MoffatProblem<'_> {
    fn chi2(&mut self, p: &MoffatParams) -> f64 {
        self.chi2_at(p)
    }

    fn normal_equations(&mut self, p: &MoffatParams) -> (SMatrix<f64, 6, 6>, MoffatParams) {
        let mut jtj = SMatrix::<f64, 6, 6>::zeros();
        let mut jtr = MoffatParams::zeros();
        self.for_each_gradient(p, |r, g| add_to_normal_equations(&mut jtj, &mut jtr, g, r));
        (mirrored_upper(jtj), jtr)
    }
}

/// [`MoffatProblem`] with β held fixed: parameters `[A, x0, y0, q, B]`.
struct FixedBetaMoffat<'a> {
    problem: MoffatProblem<'a>,
    beta: f64,
}

impl FixedBetaMoffat<'_> {
    fn full(&self, p: &SVector<f64, 5>) -> MoffatParams {
        MoffatParams::from([p[0], p[1], p[2], p[3], self.beta, p[4]])
    }
}

impl LeastSquares<5> for FixedBetaMoffat<'_> {
    fn chi2(&mut self, p: &SVector<f64, 5>) -> f64 {
        let full = self.full(p);
        self.problem.chi2_at(&full)
    }

    fn normal_equations(&mut self, p: &SVector<f64, 5>) -> (SMatrix<f64, 5, 5>, SVector<f64, 5>) {
        let full = self.full(p);
        let mut jtj = SMatrix::<f64, 5, 5>::zeros();
        let mut jtr = SVector::<f64, 5>::zeros();
        self.problem.for_each_gradient(&full, |r, g| {
            let g = SVector::<f64, 5>::from([g[0], g[1], g[2], g[3], g[5]]);
            add_to_normal_equations(&mut jtj, &mut jtr, &g, r);
        });
        (mirrored_upper(jtj), jtr)
    }
}

/// Fits a circular Moffat profile plus a constant to the `(2h + 1)²` cutout around
/// `(x0, y0)` (Levenberg–Marquardt; β free within 0.5–20), e.g. to measure the seeing FWHM as
/// IRAF's `psfmeasure`/`imexam` do. The model is averaged over each pixel within 3 px of the
/// centre (3 × 3 sub-pixel midpoint rule), so that the FWHM is that of the PSF before
/// pixelisation. Errors as [`gaussian_2d_fit`].
pub fn moffat_2d_fit(
    image: &Image,
    mask: Option<&PixelMask>,
    x0: f64,
    y0: f64,
    params: &GaussianFitParams,
) -> Result<MoffatFit, CentroidError> {
    moffat_fit(image, mask, x0, y0, params, None)
}

/// [`moffat_2d_fit`] with β held at `beta` (> 0.5): for faint sources, whose β is poorly
/// constrained, with β from bright stars of the same image.
pub fn moffat_2d_fit_fixed_beta(
    image: &Image,
    mask: Option<&PixelMask>,
    x0: f64,
    y0: f64,
    params: &GaussianFitParams,
    beta: f64,
) -> Result<MoffatFit, CentroidError> {
    if !(beta.is_finite() && beta > 0.5) {
        return Err(CentroidError::InvalidParameter {
            name: "beta",
            value: beta,
            reason: "must be finite and > 0.5",
        });
    }
    moffat_fit(image, mask, x0, y0, params, Some(beta))
}

fn moffat_fit(
    image: &Image,
    mask: Option<&PixelMask>,
    x0: f64,
    y0: f64,
    params: &GaussianFitParams,
    fixed_beta: Option<f64>,
) -> Result<MoffatFit, CentroidError> {
    check_start(image, x0, y0)?;
    let h = check_half_size(params.half_size_px)?;
    let (pts, background0) = cutout(image, mask, x0, y0, h)?;
    let (peak, px, py, sigma0) = first_guess(&pts, background0, x0, y0, h as f64)
        .ok_or(CentroidError::NoSignal { x: x0, y: y0 })?;
    // Start from β = 3 (or the fixed β) with the FWHM of the Gaussian guess:
    // α = FWHM / (2 √(2^(1/β) − 1)).
    let beta0 = fixed_beta.unwrap_or(3.0);
    let alpha0 = 2.3548 * sigma0 / (2.0 * (2f64.powf(1.0 / beta0) - 1.0).sqrt());
    let q0 = 1.0 / (alpha0 * alpha0);
    let problem = MoffatProblem::new(&pts);
    let (p, chi2, iterations) = match fixed_beta {
        None => {
            let p0 = MoffatParams::from([peak, px, py, q0, beta0, background0]);
            let valid = |p: &MoffatParams| p[0] > 0.0 && p[3] > 0.0 && p[4] > 0.5 && p[4] < 20.0;
            let mut problem = problem;
            let fit = levenberg_marquardt(&mut problem, p0, valid, params.max_iterations)?;
            (fit.p, fit.chi2, fit.iterations)
        }
        Some(beta) => {
            let p0 = SVector::<f64, 5>::from([peak, px, py, q0, background0]);
            let valid = |p: &SVector<f64, 5>| p[0] > 0.0 && p[3] > 0.0;
            let mut problem = FixedBetaMoffat { problem, beta };
            let fit = levenberg_marquardt(&mut problem, p0, valid, params.max_iterations)?;
            (problem.full(&fit.p), fit.chi2, fit.iterations)
        }
    };
    check_shift(p[1], p[2], x0, y0, params.max_shift_px.unwrap_or(h as f64))?;
    let alpha = 1.0 / p[3].sqrt();
    Ok(MoffatFit {
        x: p[1],
        y: p[2],
        amplitude: p[0],
        background: p[5],
        alpha_px: alpha,
        beta: p[4],
        fwhm_px: 2.0 * alpha * (2f64.powf(1.0 / p[4]) - 1.0).sqrt(),
        rms_residual: (chi2 / pts.len() as f64).sqrt(),
        iterations,
    })
}

/// Peak of a 2-D quadratic `c₀ + c₁x + c₂y + c₃x² + c₄xy + c₅y²` fitted by least squares to
/// the 3 × 3 pixels centred on the brightest usable pixel within one pixel of `(x0, y0)`.
/// Errors when the quadratic has no maximum or its maximum lies more than one pixel from that
/// brightest pixel.
pub fn quadratic_peak(
    image: &Image,
    mask: Option<&PixelMask>,
    x0: f64,
    y0: f64,
) -> Result<Centroid, CentroidError> {
    check_start(image, x0, y0)?;
    let (w, h) = (image.width() as i64, image.height() as i64);
    let (ix, iy) = (x0.round() as i64, y0.round() as i64);
    let mut best: Option<(i64, i64, f64)> = None;
    for y in (iy - 1)..=(iy + 1) {
        for x in (ix - 1)..=(ix + 1) {
            if x < 1 || y < 1 || x >= w - 1 || y >= h - 1 {
                continue;
            }
            if let Some(v) = usable(image, mask, x as usize, y as usize) {
                if best.is_none_or(|b| v > b.2) {
                    best = Some((x, y, v));
                }
            }
        }
    }
    let Some((cx, cy, _)) = best else {
        return Err(CentroidError::NoSignal { x: x0, y: y0 });
    };
    let mut ata = SMatrix::<f64, 6, 6>::zeros();
    let mut atb = SVector::<f64, 6>::zeros();
    let mut n = 0;
    for dy in -1i64..=1 {
        for dx in -1i64..=1 {
            let Some(v) = usable(image, mask, (cx + dx) as usize, (cy + dy) as usize) else {
                continue;
            };
            let (u, t) = (dx as f64, dy as f64);
            let row = SVector::<f64, 6>::from([1.0, u, t, u * u, u * t, t * t]);
            ata += row * row.transpose();
            atb += row * v;
            n += 1;
        }
    }
    if n < 6 {
        return Err(CentroidError::Singular);
    }
    let coef = ata
        .try_inverse()
        .map(|inv| inv * atb)
        .ok_or(CentroidError::Singular)?;
    let (c1, c2, c3, c4, c5) = (coef[1], coef[2], coef[3], coef[4], coef[5]);
    // Gradient zero: [2c3 c4; c4 2c5] [u; t] = −[c1; c2]; a maximum needs c3 < 0 and a
    // positive determinant.
    let det = 4.0 * c3 * c5 - c4 * c4;
    if !(c3 < 0.0 && det > 0.0) {
        return Err(CentroidError::Singular);
    }
    let u = (-2.0 * c5 * c1 + c4 * c2) / det;
    let t = (-2.0 * c3 * c2 + c4 * c1) / det;
    let distance = u.hypot(t);
    if distance.is_nan() || distance > 1.0 {
        return Err(CentroidError::Wandered {
            distance_px: distance,
            limit_px: 1.0,
        });
    }
    Ok(Centroid {
        x: cx as f64 + u,
        y: cy as f64 + t,
        iterations: 1,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_distr::{Distribution, Normal};
    use rand_pcg::Pcg64;

    /// A pixel-integrated circular Moffat (β, FWHM) of total `flux` centred at (xc, yc):
    /// the same profile and 8 × 8 midpoint integration as the simulator.
    fn moffat_image(
        w: usize,
        h: usize,
        xc: f64,
        yc: f64,
        fwhm: f64,
        beta: f64,
        flux: f64,
    ) -> Image {
        let psf = crate::simulate::model::Moffat::from_fwhm(fwhm, beta);
        let mut img = Image::filled(w, h, 0.0);
        for y in 0..h {
            for x in 0..w {
                let v = flux * psf.pixel_fraction(x as f64 - xc, y as f64 - yc);
                img.set(x, y, v as f32);
            }
        }
        img
    }

    fn gaussian_image(w: usize, h: usize, xc: f64, yc: f64, sigma: f64, amp: f64) -> Image {
        let mut img = Image::filled(w, h, 0.0);
        for y in 0..h {
            for x in 0..w {
                let r2 = (x as f64 - xc).powi(2) + (y as f64 - yc).powi(2);
                img.set(x, y, (amp * (-0.5 * r2 / (sigma * sigma)).exp()) as f32);
            }
        }
        img
    }

    const OFFSETS: [(f64, f64); 6] = [
        (0.0, 0.0),
        (0.5, 0.5),
        (0.25, -0.4),
        (-0.37, 0.11),
        (0.49, -0.02),
        (0.13, 0.77),
    ];

    #[test]
    fn windowed_centroid_of_noiseless_moffat_stars_at_subpixel_offsets() {
        let mut worst: f64 = 0.0;
        for (fwhm, beta) in [(4.68, 3.0), (2.3, 2.5), (7.0, 4.0)] {
            for (ox, oy) in OFFSETS {
                let (xc, yc) = (32.0 + ox, 30.0 + oy);
                let img = moffat_image(64, 64, xc, yc, fwhm, beta, 1e5);
                let c = windowed_centroid(&img, xc.round() + 0.4, yc.round() - 0.3, fwhm / 2.3548)
                    .unwrap();
                worst = worst.max((c.x - xc).abs()).max((c.y - yc).abs());
                assert!(c.iterations <= 16);
            }
        }
        println!("windowed centroid, noiseless Moffat stars: worst error {worst:.5} px");
        assert!(worst < 0.01, "worst windowed centroid error {worst} px");
    }

    #[test]
    fn gaussian_fit_and_quadratic_peak_of_noiseless_stars() {
        let mut worst_fit: f64 = 0.0;
        let mut worst_quad: f64 = 0.0;
        for (ox, oy) in OFFSETS {
            let (xc, yc) = (20.0 + ox, 21.0 + oy);
            let img = moffat_image(41, 41, xc, yc, 4.68, 3.0, 1e5);
            let fit = gaussian_2d_centroid(&img, xc.round(), yc.round(), 7).unwrap();
            worst_fit = worst_fit.max((fit.x - xc).abs()).max((fit.y - yc).abs());
            let q = quadratic_peak(&img, None, xc, yc).unwrap();
            worst_quad = worst_quad.max((q.x - xc).abs()).max((q.y - yc).abs());
        }
        println!(
            "noiseless Moffat stars: Gaussian fit worst error {worst_fit:.5} px, quadratic peak \
             {worst_quad:.4} px"
        );
        assert!(worst_fit < 0.01, "Gaussian fit error {worst_fit}");
        assert!(worst_quad < 0.1, "quadratic peak error {worst_quad}");
        // A true elliptical Gaussian: shape and background recovered.
        let mut img = Image::filled(41, 41, 10.0);
        let (sx, sy) = (3.0_f64, 1.5_f64);
        let th = 30f64.to_radians();
        for y in 0..41 {
            for x in 0..41 {
                let (dx, dy) = (x as f64 - 20.3, y as f64 - 19.6);
                let u = dx * th.cos() + dy * th.sin();
                let v = -dx * th.sin() + dy * th.cos();
                let g = 500.0 * (-0.5 * (u * u / (sx * sx) + v * v / (sy * sy))).exp();
                img.set(x, y, (10.0 + g) as f32);
            }
        }
        let fit = gaussian_2d_centroid(&img, 20.0, 20.0, 10).unwrap();
        assert!(
            (fit.x - 20.3).abs() < 1e-4 && (fit.y - 19.6).abs() < 1e-4,
            "{fit:?}"
        );
        assert!((fit.sigma_major_px - 3.0).abs() < 1e-3 && (fit.sigma_minor_px - 1.5).abs() < 1e-3);
        assert!((fit.theta_deg - 30.0).abs() < 0.01 && (fit.background - 10.0).abs() < 1e-3);
    }

    #[test]
    fn moffat_fit_measures_the_fwhm() {
        for (fwhm, beta) in [(2.5, 3.0), (4.68, 3.0), (7.0, 2.5), (5.0, 4.5)] {
            let img = moffat_image(61, 61, 30.2, 29.7, fwhm, beta, 1e5);
            let h = (2.0 * fwhm).ceil() as usize;
            let fit = moffat_2d_fit(&img, None, 30.0, 30.0, &GaussianFitParams::new(h)).unwrap();
            let g = gaussian_2d_centroid(&img, 30.0, 30.0, h).unwrap();
            assert!(
                (fit.fwhm_px / fwhm - 1.0).abs() < 0.02,
                "{fwhm} {beta}: {fit:?}"
            );
            assert!((fit.x - 30.2).abs() < 0.005 && (fit.y - 29.7).abs() < 0.005);
            // The Gaussian fit of a Moffat profile is wider.
            assert!(g.fwhm_px > fwhm);
            let fixed =
                moffat_2d_fit_fixed_beta(&img, None, 30.0, 30.0, &GaussianFitParams::new(h), beta)
                    .unwrap();
            assert!((fixed.fwhm_px / fwhm - 1.0).abs() < 0.02 && fixed.beta == beta);
        }
    }

    /// Expected scatter of the windowed centroid by linearising its fixed point
    /// `Σ w I (x − x_c) = 0`: `var(x_c) = Σ w² var(I) dx² / (Σ w I (1 − dx²/σ_w²))²`.
    fn expected_windowed_scatter(
        img: &Image,
        xc: f64,
        yc: f64,
        sigma: f64,
        var: impl Fn(f64) -> f64,
    ) -> f64 {
        let (mut num, mut den) = (0.0, 0.0);
        for y in 0..img.height() {
            for x in 0..img.width() {
                let (dx, dy) = (x as f64 - xc, y as f64 - yc);
                let r2 = dx * dx + dy * dy;
                if r2 > (WINDOW_NSIG * sigma).powi(2) {
                    continue;
                }
                let w = (-0.5 * r2 / (sigma * sigma)).exp();
                let v = f64::from(img.get(x, y));
                num += w * w * var(v) * dx * dx;
                den += w * v * (1.0 - dx * dx / (sigma * sigma));
            }
        }
        num.sqrt() / den.abs()
    }

    #[test]
    fn windowed_centroid_scatter_with_noise_matches_expectation() {
        let (fwhm, flux, sky, rn) = (4.68, 20_000.0, 800.0, 4.3);
        let (xc, yc) = (32.3, 31.8);
        let truth = moffat_image(64, 64, xc, yc, fwhm, 3.0, flux);
        let sigma_w = fwhm / 2.3548;
        let variance = |v: f64| v + sky + rn * rn;
        let expected = expected_windowed_scatter(&truth, xc, yc, sigma_w, variance);
        let mut rng = Pcg64::seed_from_u64(7);
        let std_normal = Normal::new(0.0, 1.0).unwrap();
        let (mut xs, mut ys) = (Vec::new(), Vec::new());
        for _ in 0..400 {
            let mut img = truth.clone();
            for v in img.data_mut() {
                let s = variance(f64::from(*v)).sqrt();
                *v += (s * std_normal.sample(&mut rng)) as f32;
            }
            let c = windowed_centroid(&img, 32.0, 32.0, sigma_w).unwrap();
            xs.push(c.x - xc);
            ys.push(c.y - yc);
        }
        let (mx, sx) = crate::stats::mean_std(&xs).unwrap();
        let (my, sy) = crate::stats::mean_std(&ys).unwrap();
        // 400 trials: the sample σ is within ±7 % (2σ) of the truth; the mean within 3σ/20.
        println!(
            "windowed centroid with noise: scatter ({sx:.4}, {sy:.4}) px, expected {expected:.4} \
             px, mean offset ({mx:.4}, {my:.4}) px"
        );
        for (m, s) in [(mx, sx), (my, sy)] {
            assert!(
                (s / expected - 1.0).abs() < 0.12,
                "scatter {s} vs expected {expected}"
            );
            assert!(m.abs() < 3.0 * expected / 20.0, "bias {m} (σ {expected})");
        }
    }

    #[test]
    fn failures_are_errors() {
        let img = Image::filled(20, 20, 0.0);
        assert!(matches!(
            windowed_centroid(&img, 10.0, 10.0, 2.0),
            Err(CentroidError::NoSignal { .. })
        ));
        assert!(matches!(
            windowed_centroid(&img, f64::NAN, 10.0, 2.0),
            Err(CentroidError::OutsideImage { .. })
        ));
        assert!(matches!(
            windowed_centroid(&img, 30.0, 10.0, 2.0),
            Err(CentroidError::OutsideImage { .. })
        ));
        assert!(matches!(
            windowed_centroid(&img, 10.0, 10.0, 0.0),
            Err(CentroidError::InvalidParameter { .. })
        ));
        let nan = Image::filled(20, 20, f32::NAN);
        assert!(windowed_centroid(&nan, 10.0, 10.0, 2.0).is_err());
        assert!(gaussian_2d_centroid(&nan, 10.0, 10.0, 5).is_err());
        assert!(quadratic_peak(&nan, None, 10.0, 10.0).is_err());
        assert!(gaussian_2d_centroid(&img, 10.0, 10.0, 5).is_err());
        // A star 6 px away: the window walks to it, beyond a 2 px limit.
        let star = gaussian_image(40, 40, 26.0, 20.0, 2.0, 100.0);
        let params = WindowedParams {
            max_shift_px: Some(2.0),
            ..WindowedParams::new(2.0)
        };
        assert!(matches!(
            windowed_centroid_with(&star, None, 20.0, 20.0, &params),
            Err(CentroidError::Wandered { .. })
        ));
        // One iteration is not enough from 1.3 px away for a non-Gaussian profile.
        let moffat = moffat_image(40, 40, 20.0, 20.0, 4.0, 2.0, 1e4);
        let params = WindowedParams {
            max_iterations: 1,
            ..WindowedParams::new(1.0)
        };
        assert!(matches!(
            windowed_centroid_with(&moffat, None, 21.3, 20.0, &params),
            Err(CentroidError::NotConverged { .. })
        ));
    }

    #[test]
    fn masked_pixels_are_ignored() {
        let (xc, yc) = (20.2, 19.7);
        let mut img = gaussian_image(40, 40, xc, yc, 2.0, 1000.0);
        let mut mask = PixelMask::clear(40, 40);
        // A cosmic ray in the wing of the star, flagged in the mask, and a NaN.
        img.set(25, 20, 1e6);
        mask.flag(25, 20, pixel_flag::COSMIC_RAY);
        img.set(14, 21, f32::NAN);
        let params = WindowedParams::new(2.0);
        let c = windowed_centroid_with(&img, Some(&mask), 20.0, 20.0, &params).unwrap();
        assert!((c.x - xc).abs() < 0.01 && (c.y - yc).abs() < 0.01, "{c:?}");
        // Without the mask the cosmic ray drags the centroid away.
        if let Ok(c) = windowed_centroid_with(&img, None, 20.0, 20.0, &params) {
            assert!((c.x - xc).abs() > 1.0, "{c:?}");
        }
    }

    #[test]
    fn edge_fraction_counts_the_sub_pixels_inside_the_circle() {
        // The direct count over the n × n sub-pixel centres.
        let direct = |dx: f64, dy: f64, r_max: f64| {
            let n = EDGE_OVERSAMPLING as f64;
            let mut inside = 0;
            for j in 0..EDGE_OVERSAMPLING {
                let sy = dy - 0.5 + (j as f64 + 0.5) / n;
                for i in 0..EDGE_OVERSAMPLING {
                    let sx = dx - 0.5 + (i as f64 + 0.5) / n;
                    inside += usize::from(sx * sx + sy * sy <= r_max * r_max);
                }
            }
            inside as f64 / (n * n)
        };
        let mut rng = Pcg64::seed_from_u64(7);
        let offset = rand_distr::Uniform::new(-9.0, 9.0).unwrap();
        let mut partial = 0;
        for _ in 0..20_000 {
            let (dx, dy) = (offset.sample(&mut rng), offset.sample(&mut rng));
            let r_max = 8.0;
            let f = edge_fraction(
                &sub_pixel_squares(dx),
                &sub_pixel_squares(dy),
                r_max * r_max,
            );
            assert_eq!(f, direct(dx, dy, r_max), "({dx}, {dy})");
            partial += usize::from(f > 0.0 && f < 1.0);
        }
        assert!(partial > 1000, "too few pixels on the edge: {partial}");
        // A pixel centred on the circle r = 2: its sub-pixel columns at x = 1.6 and 1.8 are
        // inside, of the column at 2.0 only the centre.
        assert_eq!(
            edge_fraction(&sub_pixel_squares(2.0), &sub_pixel_squares(0.0), 4.0),
            11.0 / 25.0
        );
    }

    #[test]
    fn foreign_pixels_are_replaced_by_their_mirror_images() {
        // A round star centred on a pixel: the mirror image of a pixel is the true value.
        let (w, h) = (41, 41);
        let clean = gaussian_image(w, h, 20.0, 20.0, 2.0, 1000.0);
        let mut img = clean.clone();
        let mut labels = vec![0u32; w * h];
        for y in 19..23 {
            for x in 23..27 {
                img.set(x, y, 1e6);
                labels[y * w + x] = 2;
            }
        }
        // The star's own label is not foreign.
        labels[20 * w + 20] = 1;
        let foreign = Foreign::new(&labels, w, 1);
        assert!(foreign.at(23, 19) && !foreign.at(20, 20) && !foreign.at(0, 0));
        let reference = window_sums(&clean, None, None, 20.0, 20.0, 2.0);
        let masked = window_sums(&img, None, Some(&foreign), 20.0, 20.0, 2.0);
        let close = |a: f64, b: f64| (a - b).abs() <= 1e-12 * reference.sw;
        assert!(close(masked.sw, reference.sw), "{masked:?} {reference:?}");
        assert!(close(masked.sxx, reference.sxx) && close(masked.syy, reference.syy));
        assert!(close(masked.sx, 0.0) && close(masked.sy, 0.0) && close(masked.sxy, 0.0));
        assert_eq!(masked.n_used, reference.n_used);
        // Without the labels the bright block dominates.
        let unmasked = window_sums(&img, None, None, 20.0, 20.0, 2.0);
        assert!(unmasked.sx > 10.0 * reference.sw);
        // Foreign pixels whose mirrors are foreign too are skipped.
        labels[14 * w + 20] = 3;
        labels[26 * w + 20] = 3;
        let foreign = Foreign::new(&labels, w, 1);
        let both = window_sums(&img, None, Some(&foreign), 20.0, 20.0, 2.0);
        assert_eq!(both.n_used + 2, reference.n_used);
        assert_eq!(both.n_missing, reference.n_missing + 2);
    }

    #[test]
    fn moffat_gradients_reuse_the_powers_exactly_and_match_the_model() {
        let img = moffat_image(31, 31, 15.3, 14.8, 4.0, 3.0, 1e5);
        let (pts, _) = cutout(&img, None, 15.0, 15.0, 6).unwrap();
        let p = MoffatParams::from([3000.0, 15.2, 14.9, 0.2, 2.8, 1.5]);
        let other = MoffatParams::from([2000.0, 15.0, 15.0, 0.3, 3.0, 0.0]);
        let collect = |problem: &mut MoffatProblem, p: &MoffatParams| {
            let mut out = Vec::new();
            problem.for_each_gradient(p, |r, g| out.push((r, *g)));
            out
        };
        let mut problem = MoffatProblem::new(&pts);
        let chi2 = problem.chi2_at(&p);
        let reused = collect(&mut problem, &p);
        problem.chi2_at(&other);
        let fresh = collect(&mut problem, &p);
        assert_eq!(reused, fresh);
        assert_eq!(reused.len(), pts.len());
        let chi2_of_residuals: f64 = reused.iter().map(|(r, _)| r.powi(2)).sum();
        assert_eq!(chi2, chi2_of_residuals);
        // The gradient against central differences of the model (residual = v − model).
        for k in 0..6 {
            let step = 1e-6 * p[k].abs().max(1e-3);
            let (mut up, mut down) = (p, p);
            up[k] += step;
            down[k] -= step;
            let (r_up, r_down) = (collect(&mut problem, &up), collect(&mut problem, &down));
            for (i, (_, g)) in fresh.iter().enumerate() {
                let numeric = (r_down[i].0 - r_up[i].0) / (2.0 * step);
                assert!(
                    (numeric - g[k]).abs() <= 1e-5 * (1.0 + g[k].abs()),
                    "parameter {k}, pixel {i}: {numeric} vs {}",
                    g[k]
                );
            }
        }
    }

    /// The windowed sums computed pixel by pixel straight from the image, as the loop of
    /// [`window_sums_of`] was written before its two specialised copies.
    fn plain_window_sums(
        image: &Image,
        mask: Option<&PixelMask>,
        foreign: Option<&Foreign>,
        xc: f64,
        yc: f64,
        sigma: f64,
    ) -> WindowSums {
        let r_max = WINDOW_NSIG * sigma;
        let r2_max = r_max * r_max;
        let inner2 = (r_max - 0.71).max(0.0).powi(2);
        let outer2 = (r_max + 0.71).powi(2);
        let inv2s2 = 0.5 / (sigma * sigma);
        let (w, h) = (image.width() as i64, image.height() as i64);
        let b = PixelBox::around(xc, yc, r_max);
        let mut s = WindowSums::default();
        for y in b.y_lo..=b.y_hi {
            let dy = y as f64 - yc;
            for x in b.x_lo..=b.x_hi {
                let dx = x as f64 - xc;
                let r2 = dx * dx + dy * dy;
                if r2 > outer2 {
                    continue;
                }
                let fraction = if r2 < inner2 {
                    1.0
                } else {
                    edge_fraction(&sub_pixel_squares(dx), &sub_pixel_squares(dy), r2_max)
                };
                if fraction == 0.0 {
                    continue;
                }
                if !((0..h).contains(&y) && (0..w).contains(&x)) {
                    s.n_missing += 1;
                    continue;
                }
                let (ux, uy) = (x as usize, y as usize);
                let value = match foreign {
                    Some(f) if f.at(ux, uy) => {
                        mirrored_value(image, mask, f, 2.0 * xc - x as f64, 2.0 * yc - y as f64)
                    }
                    _ => usable(image, mask, ux, uy),
                };
                let Some(v) = value else {
                    s.n_missing += 1;
                    continue;
                };
                let window = (-dx.powi(2) * inv2s2).exp() * (-dy * dy * inv2s2).exp();
                let wv = fraction * window * v;
                s.sw += wv;
                s.sx += wv * dx;
                s.sy += wv * dy;
                s.sxx += wv * dx * dx;
                s.syy += wv * dy * dy;
                s.sxy += wv * dx * dy;
                s.n_used += 1;
            }
        }
        s
    }

    #[test]
    fn label_cells_tell_the_boxes_without_other_labels() {
        let (w, h) = (40, 20);
        let mut cells = LabelCells::new(w, h);
        cells.add(3, 3, 1);
        cells.add(20, 5, 2);
        cells.add(21, 5, 3);
        let area = |x_lo, x_hi, y_lo, y_hi| PixelBox {
            x_lo,
            x_hi,
            y_lo,
            y_hi,
        };
        // Cell (0, 0) holds label 1 only, cell (1, 0) labels 2 and 3, the others nothing.
        assert!(cells.at_most(&area(0, 15, 0, 15), 1));
        assert!(!cells.at_most(&area(0, 15, 0, 15), 2));
        assert!(cells.at_most(&area(0, 10, 16, 19), 7));
        assert!(cells.at_most(&area(32, 39, 0, 19), 7));
        assert!(!cells.at_most(&area(10, 17, 0, 3), 1));
        assert!(!cells.at_most(&area(16, 31, 10, 12), 2));
        assert!(!cells.at_most(&area(16, 31, 10, 12), 3));
    }

    #[test]
    fn window_sums_equal_the_plain_pixel_loop_bit_for_bit() {
        // Noisy stars with NaNs, masked pixels and a neighbour's labels, windows inside, at
        // and beyond the image's edges, with and without foreign pixels.
        let (w, h) = (60, 50);
        let mut rng = Pcg64::seed_from_u64(11);
        let noise = Normal::new(0.0, 5.0).unwrap();
        let mut img = gaussian_image(w, h, 20.3, 24.6, 2.2, 900.0);
        for y in 0..h {
            for x in 0..w {
                img.set(x, y, img.get(x, y) + noise.sample(&mut rng) as f32);
            }
        }
        img.set(23, 26, f32::NAN);
        let mut mask = PixelMask::clear(w, h);
        mask.flag(18, 22, pixel_flag::COSMIC_RAY);
        mask.flag(44, 10, pixel_flag::BAD);
        let mut labels = vec![0u32; w * h];
        for y in 20..30 {
            for x in 15..26 {
                labels[y * w + x] = 1;
            }
            for x in 27..31 {
                labels[y * w + x] = 2;
            }
        }
        let mut cells = LabelCells::new(w, h);
        for y in 0..h {
            for x in 0..w {
                if labels[y * w + x] != 0 {
                    cells.add(x, y, labels[y * w + x]);
                }
            }
        }
        let offset = rand_distr::Uniform::new(-0.5, 0.5).unwrap();
        let mut with_foreign = 0;
        let mut skipped = 0;
        for &(x0, y0) in &[
            (20.0, 25.0),
            (28.0, 24.0),
            (2.0, 3.0),
            (57.5, 48.0),
            (44.0, 10.0),
        ] {
            for sigma in [0.6, 1.3, 2.2, 3.7] {
                let (xc, yc) = (x0 + offset.sample(&mut rng), y0 + offset.sample(&mut rng));
                for own in [1, 2, 3] {
                    let foreign = Foreign::new(&labels, w, own);
                    let celled = foreign.with_cells(&cells);
                    for (m, f) in [
                        (None, None),
                        (Some(&mask), None),
                        (Some(&mask), Some(&foreign)),
                        (Some(&mask), Some(&celled)),
                    ] {
                        let plain = plain_window_sums(&img, m, f, xc, yc, sigma);
                        let mut reader = WindowReader::around(&img, m, f, x0, y0, sigma, 1.0);
                        with_foreign += usize::from(f.is_some() && reader.pixels.has_foreign());
                        skipped += usize::from(f.is_some_and(|f| {
                            f.absent_from(&reader.pixels.area) && !reader.pixels.area.is_empty()
                        }));
                        assert_eq!(reader.sums(xc, yc, sigma), plain, "({xc}, {yc}) σ {sigma}");
                        let first = reader.first_moments(xc, yc, sigma);
                        let expected = WindowSums {
                            sxx: 0.0,
                            syy: 0.0,
                            sxy: 0.0,
                            ..plain
                        };
                        assert_eq!(first, expected, "({xc}, {yc}) σ {sigma}");
                    }
                }
            }
        }
        assert!(
            with_foreign > 10,
            "too few windows with foreign pixels: {with_foreign}"
        );
        assert!(
            skipped > 10,
            "too few windows whose labels the cells skip: {skipped}"
        );
    }

    /// Residual and gradient of every pixel of the Moffat model at `p`, computed from scratch
    /// as [`MoffatProblem::for_each_gradient`] did before it kept its samples.
    fn plain_moffat_gradients(pts: &Cutout, p: &MoffatParams) -> Vec<(f64, MoffatParams)> {
        let (amp, xc, yc, q, beta) = (p[0], p[1], p[2], p[3], p[4]);
        let mut out = Vec::new();
        for &(x, y, v) in pts {
            let (n, step) = moffat_grid(x, y, xc, yc);
            let mut value = 0.0;
            let mut grad = MoffatParams::zeros();
            for j in -n..=n {
                for i in -n..=n {
                    let (dx, dy) = (x + i as f64 * step - xc, y + j as f64 * step - yc);
                    let r2 = dx * dx + dy * dy;
                    let u = 1.0 + q * r2;
                    let (ln_u, g) = moffat_power(q, beta, r2);
                    let dg_du = -beta * g / u;
                    value += amp * g;
                    grad[0] += g;
                    grad[1] += amp * dg_du * q * (-2.0 * dx);
                    grad[2] += amp * dg_du * q * (-2.0 * dy);
                    grad[3] += amp * dg_du * r2;
                    grad[4] += -amp * g * ln_u;
                }
            }
            if n > 0 {
                grad /= grid_count(n);
            }
            grad[5] = 1.0;
            out.push((v - (grid_mean(value, n) + p[5]), grad));
        }
        out
    }

    #[test]
    fn moffat_normal_equations_equal_the_plain_computation_bit_for_bit() {
        let mut img = moffat_image(41, 41, 20.3, 19.6, 4.5, 3.0, 2e5);
        let mut rng = Pcg64::seed_from_u64(5);
        let noise = Normal::new(0.0, 20.0).unwrap();
        for y in 0..41 {
            for x in 0..41 {
                img.set(x, y, img.get(x, y) + noise.sample(&mut rng) as f32);
            }
        }
        let (pts, _) = cutout(&img, None, 20.0, 20.0, 9).unwrap();
        let params = [
            MoffatParams::from([3000.0, 20.2, 19.7, 0.2, 2.8, 1.5]),
            MoffatParams::from([2500.0, 19.1, 21.3, 0.07, 4.1, -3.0]),
            MoffatParams::from([900.0, 20.5, 19.5, 0.5, 1.7, 10.0]),
        ];
        let mut problem = MoffatProblem::new(&pts);
        for (k, p) in params.iter().enumerate() {
            let plain = plain_moffat_gradients(&pts, p);
            // Free β: from the samples of a χ² at the same parameters, or at other ones.
            if k % 2 == 0 {
                let chi2 = plain.iter().fold(0.0, |sum, (r, _)| sum + r.powi(2));
                assert_eq!(problem.chi2_at(p), chi2, "parameters {k}");
            }
            let mut jtj = SMatrix::<f64, 6, 6>::zeros();
            let mut jtr = MoffatParams::zeros();
            for (r, g) in &plain {
                add_to_normal_equations(&mut jtj, &mut jtr, g, *r);
            }
            let (fast_jtj, fast_jtr) = problem.normal_equations(p);
            assert_eq!(fast_jtj, mirrored_upper(jtj), "parameters {k}");
            assert_eq!(fast_jtr, jtr, "parameters {k}");
            // β fixed at p's.
            let mut fixed = FixedBetaMoffat {
                problem: MoffatProblem::new(&pts),
                beta: p[4],
            };
            let p5 = SVector::<f64, 5>::from([p[0], p[1], p[2], p[3], p[5]]);
            let mut jtj = SMatrix::<f64, 5, 5>::zeros();
            let mut jtr = SVector::<f64, 5>::zeros();
            for (r, g) in &plain {
                let g = SVector::<f64, 5>::from([g[0], g[1], g[2], g[3], g[5]]);
                add_to_normal_equations(&mut jtj, &mut jtr, &g, *r);
            }
            let (fast_jtj, fast_jtr) = fixed.normal_equations(&p5);
            assert_eq!(fast_jtj, mirrored_upper(jtj), "parameters {k}, β fixed");
            assert_eq!(fast_jtr, jtr, "parameters {k}, β fixed");
        }
    }
}
