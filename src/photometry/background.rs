//! The sky background and its noise, SExtractor style (Bertin & Arnouts 1996, A&AS 117, 393,
//! §3.1; SExtractor manual, "Modeling the background"; the same scheme as SEP and photutils'
//! `Background2D` with `SExtractorBackground`).
//!
//! 1. The image is cut into a grid of boxes of `box_px` × `box_px` pixels (a last partial row
//!    or column of boxes narrower than half a box is merged into its neighbour).
//! 2. In each box the usable pixels are sigma-clipped by the astropy rule
//!    ([`crate::stats::SigmaClip`]: median centre, population σ, inclusive bounds,
//!    `maxiters` passes). The box level is SExtractor's mode estimator
//!    `2.5 × median − 1.5 × mean` of the clipped values; when `|mean − median| / σ > 0.3` the
//!    distribution is too skewed for it and the median is used, and when σ = 0 the mean (both
//!    as SExtractor/SEP and photutils do). The box rms is the clipped σ; for Gaussian noise
//!    it is 1.5 % low (clipping at 3σ until convergence keeps |x| ≲ 2.95σ, whose σ is
//!    0.985σ), as in SExtractor and photutils. The pixels are gathered a band of boxes at a time
//!    (each image row read once), each box's values bucketed once and clipped on runs of
//!    ranks, a bucket being sorted only when one of its ranks is needed (`box_clip`), which
//!    gives the statistics of the astropy rule without sorting the box.
//! 3. Boxes with fewer than `min_valid_fraction` of their pixels usable (masked, NaN, or
//!    excluded sources such as the comet) get no estimate and are filled from the estimated
//!    ones by harmonic interpolation (the discrete Laplace equation, solved by Gauss–Seidel),
//!    which carries gradients such as vignetting across the hole; SExtractor fills them with
//!    averages of neighbouring boxes, which flattens gradients.
//! 4. The level and rms meshes are median-filtered over `filter_px` × `filter_px` boxes,
//!    which removes boxes lifted by bright stars.
//! 5. Both meshes are interpolated to every pixel with natural bicubic splines through the box
//!    centres (a natural cubic spline along y for each column of boxes, then along x for each
//!    image row), as SExtractor's `back.c`; beyond the outermost box centres the splines
//!    continue linearly (the natural end condition).
//!
//! Pixels flagged [`pixel_flag::UNUSABLE`] or [`pixel_flag::COSMIC_RAY`], non-finite pixels
//! and pixels of an [`ExclusionMask`] never enter a box's statistics.

use rayon::prelude::*;
use thiserror::Error;

mod box_clip;
mod surface;

pub use surface::{subtract_surface, MeshSurface, Surface};

use crate::image::{pixel_flag, Image, PixelMask};
use crate::stats::SigmaClip;

/// Mask flags that keep a pixel out of the background statistics.
pub const EXCLUDED_FLAGS: u8 = pixel_flag::UNUSABLE | pixel_flag::COSMIC_RAY;

/// Why a background could not be estimated.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum BackgroundError {
    #[error("the image is empty ({width} × {height} px)")]
    EmptyImage { width: usize, height: usize },
    #[error("{what} is {width} × {height} px but the image is {image_width} × {image_height} px")]
    ShapeMismatch {
        what: &'static str,
        width: usize,
        height: usize,
        image_width: usize,
        image_height: usize,
    },
    #[error("background parameter {name}: {message}")]
    InvalidParameter { name: &'static str, message: String },
    #[error(
        "no box of the background grid has enough usable pixels ({boxes} boxes of {box_px} px)"
    )]
    NoValidPixels { boxes: usize, box_px: usize },
}

/// Settings of [`estimate_background`]. Defaults are SExtractor's (`BACK_SIZE 64`,
/// `BACK_FILTERSIZE 3`, 3σ clipping) with astropy's 10 passes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BackgroundParams {
    /// Side of a box of the grid (px).
    pub box_px: usize,
    /// Side of the median filter applied to the grid, in boxes (1 = no filtering; an even
    /// size acts as the next odd one).
    pub filter_px: usize,
    /// Clipping threshold (σ) and largest number of clipping passes.
    pub sigma: f64,
    pub maxiters: usize,
    /// A box is estimated only when at least this fraction of its pixels is usable.
    pub min_valid_fraction: f64,
}

impl Default for BackgroundParams {
    fn default() -> Self {
        BackgroundParams {
            box_px: 64,
            filter_px: 3,
            sigma: 3.0,
            maxiters: 10,
            min_valid_fraction: 0.5,
        }
    }
}

/// Pixels to keep out of the background (sources such as the comet, or a dilated
/// segmentation map): `true` = excluded. Same layout as [`Image`].
#[derive(Debug, Clone, PartialEq)]
pub struct ExclusionMask {
    width: usize,
    height: usize,
    excluded: Vec<bool>,
}

impl ExclusionMask {
    /// A mask that excludes nothing.
    pub fn new(width: usize, height: usize) -> Self {
        ExclusionMask {
            width,
            height,
            excluded: vec![false; width * height],
        }
    }

    /// The mask of the given flags (row-major, `width × height` of them: true = excluded).
    ///
    /// # Panics
    /// When there are not `width × height` flags (a caller's bug, not a user's input).
    pub(crate) fn from_flags(width: usize, height: usize, excluded: Vec<bool>) -> Self {
        assert_eq!(excluded.len(), width * height, "one flag per pixel");
        ExclusionMask {
            width,
            height,
            excluded,
        }
    }

    pub fn width(&self) -> usize {
        self.width
    }

    pub fn height(&self) -> usize {
        self.height
    }

    pub fn is_excluded(&self, x: usize, y: usize) -> bool {
        self.excluded[y * self.width + x]
    }

    pub fn exclude(&mut self, x: usize, y: usize) {
        self.excluded[y * self.width + x] = true;
    }

    /// Excludes every pixel whose centre lies within `radius_px` of `(x, y)`.
    pub fn exclude_circle(&mut self, x: f64, y: f64, radius_px: f64) {
        if !(x.is_finite() && y.is_finite() && radius_px >= 0.0) {
            return;
        }
        let x_lo = (x - radius_px).ceil().max(0.0) as usize;
        let y_lo = (y - radius_px).ceil().max(0.0) as usize;
        let x_hi = (x + radius_px).floor().min(self.width as f64 - 1.0);
        let y_hi = (y + radius_px).floor().min(self.height as f64 - 1.0);
        if x_hi < 0.0 || y_hi < 0.0 {
            return;
        }
        for py in y_lo..=y_hi as usize {
            for px in x_lo..=x_hi as usize {
                if (px as f64 - x).hypot(py as f64 - y) <= radius_px {
                    self.exclude(px, py);
                }
            }
        }
    }

    /// Whether each pixel of row `y` is excluded.
    pub fn row(&self, y: usize) -> &[bool] {
        &self.excluded[y * self.width..(y + 1) * self.width]
    }

    /// The mask of an image twice the size in x and y (cut to `width` × `height`, at most
    /// twice this mask's size): each pixel takes the value of the pixel of this mask whose
    /// 2 × 2 block it falls in.
    pub fn upsampled_2x2(&self, width: usize, height: usize) -> ExclusionMask {
        let mut excluded = Vec::with_capacity(width * height);
        let mut row = vec![false; width];
        for y in 0..height {
            // Rows 2j and 2j + 1 are the same: expand row j once.
            if y % 2 == 0 {
                let source = self.row(y / 2);
                let mut pairs = row.chunks_exact_mut(2);
                for (pair, &e) in (&mut pairs).zip(source) {
                    pair[0] = e;
                    pair[1] = e;
                }
                if let [last] = pairs.into_remainder() {
                    *last = source[width / 2];
                }
            }
            excluded.extend_from_slice(&row);
        }
        ExclusionMask {
            width,
            height,
            excluded,
        }
    }

    /// Number of excluded pixels.
    pub fn count(&self) -> usize {
        self.excluded.iter().filter(|e| **e).count()
    }

    /// The mask grown by `radius_px` (every pixel within that distance of an excluded pixel).
    ///
    /// Method: the disc is a stack of rows, row dy reaching ±⌊√(r² − dy²)⌋ px along x; an
    /// output row is the OR of input rows y + dy shifted by every dx within their reach,
    /// each shift one loop over a whole row of bytes (no per-pixel test of the offsets).
    pub fn dilated(&self, radius_px: f64) -> ExclusionMask {
        let r = radius_px.max(0.0);
        let ri = r.floor() as i64;
        // Reach along x of disc row dy: the largest dx with dx² + dy² ≤ r² (dx = 0 always
        // qualifies for |dy| ≤ ri, since ri ≤ r).
        let reach = |dy: i64| -> usize {
            (0..=ri)
                .rev()
                .find(|dx| ((dx * dx + dy * dy) as f64) <= r * r)
                .unwrap_or(0) as usize
        };
        let (w, h) = (self.width, self.height);
        let mut excluded = vec![false; w * h];
        if w == 0 {
            return ExclusionMask {
                width: w,
                height: h,
                excluded,
            };
        }
        for (y, out) in excluded.chunks_exact_mut(w).enumerate() {
            for dy in -ri..=ri {
                let source = y as i64 + dy;
                if source < 0 || source >= h as i64 {
                    continue;
                }
                let row = self.row(source as usize);
                let reach = reach(dy).min(w - 1);
                for (o, &e) in out.iter_mut().zip(row) {
                    *o |= e;
                }
                for d in 1..=reach {
                    // Pixel x takes the excluded pixels at x − d and at x + d.
                    for (o, &e) in out[d..].iter_mut().zip(row) {
                        *o |= e;
                    }
                    for (o, &e) in out.iter_mut().zip(&row[d..]) {
                        *o |= e;
                    }
                }
            }
        }
        ExclusionMask {
            width: w,
            height: h,
            excluded,
        }
    }
}

/// The box grid: node positions and per-box values.
#[derive(Debug, Clone, PartialEq)]
pub struct BackgroundMesh {
    /// Number of boxes along x and y.
    pub nx: usize,
    pub ny: usize,
    /// Pixel coordinates of the box centres (the spline nodes).
    pub node_x: Vec<f64>,
    pub node_y: Vec<f64>,
    /// Level and rms per box after filling and median filtering, row-major (`j * nx + i`).
    pub level: Vec<f64>,
    pub rms: Vec<f64>,
    /// Whether the box had enough usable pixels for its own estimate.
    pub estimated: Vec<bool>,
}

/// The background of an image: level and rms at every pixel (same units as the image).
#[derive(Debug, Clone, PartialEq)]
pub struct Background {
    pub level: Image,
    pub rms: Image,
    /// Medians of the filtered level and rms meshes.
    pub global_level: f64,
    pub global_rms: f64,
    pub mesh: BackgroundMesh,
    pub params: BackgroundParams,
}

impl Background {
    /// `image − level` (NaN where either is NaN).
    pub fn subtract(&self, image: &Image) -> Result<Image, BackgroundError> {
        check_shape("image", image.width(), image.height(), &self.level)?;
        Ok(subtract_surface(image, &self.level))
    }
}

fn check_shape(
    what: &'static str,
    width: usize,
    height: usize,
    image: &Image,
) -> Result<(), BackgroundError> {
    if (width, height) == (image.width(), image.height()) {
        Ok(())
    } else {
        Err(BackgroundError::ShapeMismatch {
            what,
            width,
            height,
            image_width: image.width(),
            image_height: image.height(),
        })
    }
}

/// Box boundaries along one axis: `[start, end)` ranges covering `0..n`.
fn box_edges(n: usize, box_px: usize) -> Vec<(usize, usize)> {
    let mut edges = Vec::new();
    let mut start = 0;
    while start < n {
        let end = (start + box_px).min(n);
        edges.push((start, end));
        start = end;
    }
    // A last box narrower than half a box joins the previous one.
    if edges.len() >= 2 {
        let (s, e) = edges[edges.len() - 1];
        if 2 * (e - s) < box_px {
            edges.pop();
            if let Some(last) = edges.last_mut() {
                last.1 = e;
            }
        }
    }
    edges
}

/// SExtractor's level estimate of clipped values (see the module notes).
pub fn sextractor_mode(median: f64, mean: f64, std: f64) -> f64 {
    if std <= 0.0 {
        mean
    } else if ((mean - median) / std).abs() > 0.3 {
        median
    } else {
        2.5 * median - 1.5 * mean
    }
}

/// Estimates the background and its rms (see the module notes). `pixel_mask` flags and
/// `exclude` (sources) keep pixels out of the statistics; both must match the image's size.
pub fn estimate_background(
    image: &Image,
    pixel_mask: Option<&PixelMask>,
    exclude: Option<&ExclusionMask>,
    params: &BackgroundParams,
) -> Result<Background, BackgroundError> {
    estimate_background_mesh(image, pixel_mask, exclude, params).map(MeshBackground::to_maps)
}

/// The background of an image as the spline surfaces through its meshes, evaluated where
/// they are read ([`MeshSurface`]): the values of [`Background`]'s maps without holding them.
#[derive(Debug, Clone, PartialEq)]
pub struct MeshBackground {
    pub level: MeshSurface,
    pub rms: MeshSurface,
    /// Medians of the filtered level and rms meshes.
    pub global_level: f64,
    pub global_rms: f64,
    pub mesh: BackgroundMesh,
    pub params: BackgroundParams,
}

impl MeshBackground {
    /// The level and rms maps of every pixel.
    pub fn to_maps(self) -> Background {
        Background {
            level: self.level.to_image(),
            rms: self.rms.to_image(),
            global_level: self.global_level,
            global_rms: self.global_rms,
            mesh: self.mesh,
            params: self.params,
        }
    }
}

/// The background level and rms of every pixel of an image, as a detection reads them: whole
/// maps ([`Background`]) or surfaces evaluated on demand ([`MeshBackground`]).
pub trait BackgroundMaps: Sync {
    fn level(&self) -> &dyn Surface;
    fn rms(&self) -> &dyn Surface;
}

impl BackgroundMaps for Background {
    fn level(&self) -> &dyn Surface {
        &self.level
    }

    fn rms(&self) -> &dyn Surface {
        &self.rms
    }
}

impl BackgroundMaps for MeshBackground {
    fn level(&self) -> &dyn Surface {
        &self.level
    }

    fn rms(&self) -> &dyn Surface {
        &self.rms
    }
}

/// [`estimate_background`] without the maps: the same estimate, whose level and rms are
/// evaluated where they are read (no 2 × 4 bytes per pixel held).
pub fn estimate_background_mesh(
    image: &Image,
    pixel_mask: Option<&PixelMask>,
    exclude: Option<&ExclusionMask>,
    params: &BackgroundParams,
) -> Result<MeshBackground, BackgroundError> {
    let (w, h) = (image.width(), image.height());
    if w == 0 || h == 0 {
        return Err(BackgroundError::EmptyImage {
            width: w,
            height: h,
        });
    }
    if let Some(m) = pixel_mask {
        check_shape("the pixel mask", m.width(), m.height(), image)?;
    }
    if let Some(m) = exclude {
        check_shape("the exclusion mask", m.width(), m.height(), image)?;
    }
    let invalid = |name: &'static str, message: &str| BackgroundError::InvalidParameter {
        name,
        message: message.to_string(),
    };
    if params.box_px == 0 {
        return Err(invalid("box_px", "must be at least 1"));
    }
    if params.filter_px == 0 {
        return Err(invalid(
            "filter_px",
            "must be at least 1 (1 = no filtering)",
        ));
    }
    if !(params.sigma.is_finite() && params.sigma > 0.0) || params.maxiters == 0 {
        return Err(invalid("sigma", "need sigma > 0 and maxiters >= 1"));
    }
    if !(0.0..=1.0).contains(&params.min_valid_fraction) {
        return Err(invalid("min_valid_fraction", "must be within [0, 1]"));
    }

    let xs = box_edges(w, params.box_px);
    let ys = box_edges(h, params.box_px);
    let (nx, ny) = (xs.len(), ys.len());
    let clip = SigmaClip {
        sigma: params.sigma,
        maxiters: params.maxiters,
    };
    // The clipped statistics of the boxes of band j (`None` when too few usable pixels),
    // with buffers reused from band to band (`box_clip`).
    let widest_px = xs.iter().map(|(x0, x1)| x1 - x0).max().unwrap_or(0);
    let band_estimates = |scratch: &mut box_clip::BandScratch, j: usize| {
        let (y0, y1) = ys[j];
        scratch.start(nx, widest_px * (y1 - y0));
        for y in y0..y1 {
            let row = y * w..(y + 1) * w;
            scratch.add_row(
                box_clip::BoxRow {
                    values: image.row(y),
                    bits: pixel_mask.map(|m| &m.bits()[row.clone()]),
                    excluded: exclude.map(|m| &m.excluded[row.clone()]),
                },
                &xs,
                EXCLUDED_FLAGS,
            );
        }
        // The boxes with enough usable pixels.
        let enough = |&(i, (x0, x1)): &(usize, &(usize, usize))| {
            let (total, n) = ((x1 - x0) * (y1 - y0), scratch.len(i));
            n > 0 && (n as f64) >= params.min_valid_fraction * total as f64
        };
        let boxes: Vec<usize> = xs
            .iter()
            .enumerate()
            .filter(enough)
            .map(|(i, _)| i)
            .collect();
        let mut estimates = vec![None; nx];
        for (&i, clipped) in boxes.iter().zip(scratch.clip_boxes(&boxes, &clip)) {
            estimates[i] =
                clipped.map(|(median, mean, std)| (sextractor_mode(median, mean, std), std));
        }
        estimates
    };
    let estimates: Vec<Option<(f64, f64)>> = (0..ny)
        .into_par_iter()
        .map_init(box_clip::BandScratch::default, band_estimates)
        .flatten_iter()
        .collect();
    let estimated: Vec<bool> = estimates.iter().map(Option::is_some).collect();
    if !estimated.iter().any(|e| *e) {
        return Err(BackgroundError::NoValidPixels {
            boxes: nx * ny,
            box_px: params.box_px,
        });
    }
    let mut level: Vec<f64> = estimates.iter().map(|e| e.map_or(0.0, |v| v.0)).collect();
    let mut rms: Vec<f64> = estimates.iter().map(|e| e.map_or(0.0, |v| v.1)).collect();
    fill_missing(&mut level, &estimated, nx, ny);
    fill_missing(&mut rms, &estimated, nx, ny);
    let level = median_filter(&level, nx, ny, params.filter_px);
    let rms = median_filter(&rms, nx, ny, params.filter_px);

    let centre = |(a, b): &(usize, usize)| 0.5 * (*a as f64 + *b as f64 - 1.0);
    let node_x: Vec<f64> = xs.iter().map(centre).collect();
    let node_y: Vec<f64> = ys.iter().map(centre).collect();
    let level_map = MeshSurface::new(&level, &node_x, &node_y, w, h, f64::NEG_INFINITY);
    let rms_map = MeshSurface::new(&rms, &node_x, &node_y, w, h, 0.0);
    let global_level = crate::stats::median(&level).unwrap_or(f64::NAN);
    let global_rms = crate::stats::median(&rms).unwrap_or(f64::NAN);
    Ok(MeshBackground {
        level: level_map,
        rms: rms_map,
        global_level,
        global_rms,
        mesh: BackgroundMesh {
            nx,
            ny,
            node_x,
            node_y,
            level,
            rms,
            estimated,
        },
        params: *params,
    })
}

/// A smooth surface from box values on the grid of nodes `node_x` × `node_y` (row-major,
/// `j * nx + i`): boxes not `estimated` are filled as in [`estimate_background`] (harmonic
/// interpolation), the grid is median-filtered over `filter_boxes` × `filter_boxes` boxes (1 =
/// none) and interpolated to every pixel of a `width` × `height` image by the same natural
/// bicubic splines. At least one box must be estimated (`None` otherwise, or when the sizes
/// disagree).
pub fn surface_from_mesh(
    values: &[f64],
    estimated: &[bool],
    node_x: &[f64],
    node_y: &[f64],
    filter_boxes: usize,
    width: usize,
    height: usize,
) -> Option<Image> {
    let (nx, ny) = (node_x.len(), node_y.len());
    if values.len() != nx * ny || estimated.len() != nx * ny || !estimated.iter().any(|e| *e) {
        return None;
    }
    let mut filled = values.to_vec();
    fill_missing(&mut filled, estimated, nx, ny);
    let filtered = median_filter(&filled, nx, ny, filter_boxes.max(1));
    Some(interpolate(
        &filtered,
        node_x,
        node_y,
        width,
        height,
        f64::NEG_INFINITY,
    ))
}

/// Fills the boxes without an estimate: first with the mean of their estimated
/// 8-neighbours, growing outwards until the grid is full (at least one box must be
/// estimated), then by relaxing them to the harmonic interpolant of the estimated boxes
/// (Gauss–Seidel on the 4-neighbour Laplace equation, zero gradient at the grid edges), which
/// continues a linear gradient across a hole — a plain neighbour mean would flatten it.
fn fill_missing(values: &mut [f64], estimated: &[bool], nx: usize, ny: usize) {
    let mut known = estimated.to_vec();
    while known.iter().any(|k| !k) {
        let snapshot = known.clone();
        let previous = values.to_vec();
        let mut progress = false;
        for j in 0..ny {
            for i in 0..nx {
                if snapshot[j * nx + i] {
                    continue;
                }
                let (mut sum, mut n) = (0.0, 0);
                for dj in -1i64..=1 {
                    for di in -1i64..=1 {
                        let (a, b) = (i as i64 + di, j as i64 + dj);
                        if a < 0 || b < 0 || a >= nx as i64 || b >= ny as i64 {
                            continue;
                        }
                        let k = b as usize * nx + a as usize;
                        if snapshot[k] {
                            sum += previous[k];
                            n += 1;
                        }
                    }
                }
                if n > 0 {
                    values[j * nx + i] = sum / n as f64;
                    known[j * nx + i] = true;
                    progress = true;
                }
            }
        }
        if !progress {
            break;
        }
    }
    let holes: Vec<usize> = (0..nx * ny).filter(|&k| !estimated[k]).collect();
    if holes.is_empty() {
        return;
    }
    let scale = values
        .iter()
        .fold(0.0f64, |m, v| m.max(v.abs()))
        .max(1e-300);
    for _ in 0..10_000 {
        let mut change: f64 = 0.0;
        for &k in &holes {
            let (i, j) = (k % nx, k / nx);
            let (mut sum, mut n) = (0.0, 0);
            if i > 0 {
                sum += values[k - 1];
                n += 1;
            }
            if i + 1 < nx {
                sum += values[k + 1];
                n += 1;
            }
            if j > 0 {
                sum += values[k - nx];
                n += 1;
            }
            if j + 1 < ny {
                sum += values[k + nx];
                n += 1;
            }
            if n > 0 {
                let v = sum / n as f64;
                change = change.max((v - values[k]).abs());
                values[k] = v;
            }
        }
        if change <= 1e-9 * scale {
            break;
        }
    }
}

/// Median filter of a `nx × ny` grid over `size × size` boxes. Beyond the grid the values are
/// continued by point reflection about the edge box (`v(−k) = 2 v(0) − v(k)`, index clamped
/// when the grid is too small), so that a linear gradient is left unchanged at the edges — a
/// window truncated at the edge would bias corner boxes by half a box of gradient.
fn median_filter(values: &[f64], nx: usize, ny: usize, size: usize) -> Vec<f64> {
    let half = size / 2;
    if half == 0 {
        return values.to_vec();
    }
    // Odd reflection of index i (may be out of range) along an axis of n boxes, returned as
    // (edge index, mirror index, reflected?).
    let reflect = |i: i64, n: usize| -> (usize, usize, bool) {
        let last = n as i64 - 1;
        if i < 0 {
            (0, (-i).min(last) as usize, true)
        } else if i > last {
            (last as usize, (2 * last - i).max(0) as usize, true)
        } else {
            (i as usize, i as usize, false)
        }
    };
    let along_x = |j: usize, i: i64| -> f64 {
        let (edge, mirror, reflected) = reflect(i, nx);
        if reflected {
            2.0 * values[j * nx + edge] - values[j * nx + mirror]
        } else {
            values[j * nx + edge]
        }
    };
    let padded = |i: i64, j: i64| -> f64 {
        let (edge, mirror, reflected) = reflect(j, ny);
        if reflected {
            2.0 * along_x(edge, i) - along_x(mirror, i)
        } else {
            along_x(edge, i)
        }
    };
    let h = half as i64;
    let mut out = Vec::with_capacity(values.len());
    let mut window = Vec::with_capacity((2 * half + 1).pow(2));
    for j in 0..ny as i64 {
        for i in 0..nx as i64 {
            window.clear();
            for b in (j - h)..=(j + h) {
                for a in (i - h)..=(i + h) {
                    window.push(padded(a, b));
                }
            }
            out.push(crate::stats::median_in_place(&mut window).unwrap_or(f64::NAN));
        }
    }
    out
}

/// A natural cubic spline through `(t[i], v[i])` (t increasing), continued linearly beyond
/// the end nodes (the reference of the tests; the maps use [`SplineSystem`] and
/// [`SplineWeights`]).
#[cfg(test)]
#[derive(Debug, Clone)]
struct NaturalSpline<'a> {
    t: &'a [f64],
    v: Vec<f64>,
    /// Second derivatives at the nodes (0 at both ends).
    d2: Vec<f64>,
}

#[cfg(test)]
impl<'a> NaturalSpline<'a> {
    fn new(t: &'a [f64], v: Vec<f64>) -> Self {
        let mut d2 = vec![0.0; t.len()];
        SplineSystem::new(t).second_derivatives(&v, &mut d2);
        NaturalSpline { t, v, d2 }
    }

    /// Value at `x`, given the interval index `k` (`t[k] ≤ x ≤ t[k+1]`, clamped) from
    /// [`interval`].
    fn eval(&self, x: f64, k: usize) -> f64 {
        let (t, v, d2) = (self.t, &self.v, &self.d2);
        let n = t.len();
        if n == 1 {
            return v[0];
        }
        let h = t[k + 1] - t[k];
        if x < t[0] {
            let slope = (v[1] - v[0]) / h - h * (2.0 * d2[0] + d2[1]) / 6.0;
            return v[0] + slope * (x - t[0]);
        }
        if x > t[n - 1] {
            let slope = (v[n - 1] - v[n - 2]) / h + h * (d2[n - 2] + 2.0 * d2[n - 1]) / 6.0;
            return v[n - 1] + slope * (x - t[n - 1]);
        }
        let a = (t[k + 1] - x) / h;
        let b = 1.0 - a;
        a * v[k]
            + b * v[k + 1]
            + ((a * a * a - a) * d2[k] + (b * b * b - b) * d2[k + 1]) * h * h / 6.0
    }
}

/// The tridiagonal system of a natural cubic spline's interior second derivatives on the
/// nodes `t` (Press et al., Numerical Recipes, §3.3: for k = 1..n−2,
/// `h[k−1] d2[k−1] + 2 (h[k−1] + h[k]) d2[k] + h[k] d2[k+1] = 6 (Δv[k]/h[k] − Δv[k−1]/h[k−1])`
/// with h[k] = t[k+1] − t[k], d2 = 0 at both ends), with the forward sweep of the Thomas
/// algorithm done once: its pivots and multipliers depend on the nodes only, so that the
/// second derivatives of any values cost one sweep of the right-hand side each way, with no
/// allocation.
#[derive(Debug, Clone)]
struct SplineSystem<'a> {
    t: &'a [f64],
    /// Pivot, multiplier of the previous row, and upper diagonal of each interior row.
    pivot: Vec<f64>,
    multiplier: Vec<f64>,
    upper: Vec<f64>,
}

impl<'a> SplineSystem<'a> {
    fn new(t: &'a [f64]) -> Self {
        let m = t.len().saturating_sub(2);
        let mut pivot = vec![0.0; m];
        let mut multiplier = vec![0.0; m];
        let mut upper = vec![0.0; m];
        for k in 0..m {
            let (h0, h1) = (t[k + 1] - t[k], t[k + 2] - t[k + 1]);
            pivot[k] = 2.0 * (h0 + h1);
            upper[k] = h1;
        }
        for k in 1..m {
            let lower = t[k + 1] - t[k];
            multiplier[k] = lower / pivot[k - 1];
            pivot[k] -= multiplier[k] * upper[k - 1];
        }
        SplineSystem {
            t,
            pivot,
            multiplier,
            upper,
        }
    }

    /// The second derivatives at the nodes of the natural spline through `v` (as long as
    /// the nodes), into `d2`.
    fn second_derivatives(&self, v: &[f64], d2: &mut [f64]) {
        let t = self.t;
        let n = t.len();
        d2.fill(0.0);
        if n < 3 {
            return;
        }
        let m = n - 2;
        // Interior row k is d2[k + 1]: right-hand side, forward sweep, back substitution.
        for k in 0..m {
            let (h0, h1) = (t[k + 1] - t[k], t[k + 2] - t[k + 1]);
            d2[k + 1] = 6.0 * ((v[k + 2] - v[k + 1]) / h1 - (v[k + 1] - v[k]) / h0);
        }
        for k in 1..m {
            d2[k + 1] -= self.multiplier[k] * d2[k];
        }
        for k in (0..m).rev() {
            let next = if k + 1 < m {
                self.upper[k] * d2[k + 2]
            } else {
                0.0
            };
            d2[k + 1] = (d2[k + 1] - next) / self.pivot[k];
        }
    }
}

/// The value of a natural spline at `x` as a weighted sum of four of its numbers:
/// `wv0 v[k] + wv1 v[k+1] + wd0 d2[k] + wd1 d2[k+1]`, with weights that depend on `x` and the
/// nodes only (the same for every spline on these nodes). Inside an interval of length h,
/// with a = (t[k+1] − x)/h and b = 1 − a (Press et al., Numerical Recipes, §3.3):
/// `a v[k] + b v[k+1] + ((a³ − a) d2[k] + (b³ − b) d2[k+1]) h²/6`; beyond the end nodes the
/// linear continuation of [`NaturalSpline::eval`], whose slope is itself such a sum.
/// Needs at least two nodes.
#[derive(Debug, Clone, Copy)]
struct SplineWeights {
    k: usize,
    wv0: f64,
    wv1: f64,
    wd0: f64,
    wd1: f64,
}

impl SplineWeights {
    fn new(t: &[f64], x: f64) -> SplineWeights {
        let n = t.len();
        debug_assert!(n >= 2);
        let k = interval(t, x);
        let h = t[k + 1] - t[k];
        if x < t[0] {
            // v0 + dx ((v1 − v0)/h − h (2 d0 + d1)/6)
            let dx = x - t[0];
            return SplineWeights {
                k,
                wv0: 1.0 - dx / h,
                wv1: dx / h,
                wd0: -dx * h / 3.0,
                wd1: -dx * h / 6.0,
            };
        }
        if x > t[n - 1] {
            // v[n−1] + dx ((v[n−1] − v[n−2])/h + h (d[n−2] + 2 d[n−1])/6)
            let dx = x - t[n - 1];
            return SplineWeights {
                k,
                wv0: -dx / h,
                wv1: 1.0 + dx / h,
                wd0: dx * h / 6.0,
                wd1: dx * h / 3.0,
            };
        }
        let a = (t[k + 1] - x) / h;
        let b = 1.0 - a;
        SplineWeights {
            k,
            wv0: a,
            wv1: b,
            wd0: (a * a * a - a) * h * h / 6.0,
            wd1: (b * b * b - b) * h * h / 6.0,
        }
    }
}

/// Index k of the spline interval for `x` (clamped to the first and last intervals).
fn interval(t: &[f64], x: f64) -> usize {
    if t.len() < 2 {
        return 0;
    }
    let k = t.partition_point(|&node| node <= x);
    k.saturating_sub(1).min(t.len() - 2)
}

/// Bicubic natural-spline interpolation of a mesh to a `w × h` image; values below `floor`
/// are raised to it ([`MeshSurface::to_image`]).
fn interpolate(
    mesh: &[f64],
    node_x: &[f64],
    node_y: &[f64],
    w: usize,
    h: usize,
    floor: f64,
) -> Image {
    MeshSurface::new(mesh, node_x, node_y, w, h, floor).to_image()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_distr::{Distribution, Normal};
    use rand_pcg::Pcg64;

    fn noisy(
        w: usize,
        h: usize,
        level: impl Fn(usize, usize) -> f64,
        sigma: f64,
        seed: u64,
    ) -> Image {
        let mut rng = Pcg64::seed_from_u64(seed);
        let n = Normal::new(0.0, sigma).unwrap();
        let mut img = Image::filled(w, h, 0.0);
        for y in 0..h {
            for x in 0..w {
                img.set(x, y, (level(x, y) + n.sample(&mut rng)) as f32);
            }
        }
        img
    }

    #[test]
    fn mode_estimator_rules() {
        assert_eq!(sextractor_mode(10.0, 10.0, 0.0), 10.0);
        assert_eq!(sextractor_mode(10.0, 11.0, 1.0), 10.0); // skewed: the median
        assert!((sextractor_mode(10.0, 10.2, 1.0) - 9.7).abs() < 1e-12);
    }

    #[test]
    fn spline_reproduces_linear_and_cubic_data() {
        let t = [0.0, 1.5, 4.0, 5.0, 9.0];
        let lin: Vec<f64> = t.iter().map(|x| 3.0 - 0.5 * x).collect();
        let s = NaturalSpline::new(&t, lin);
        for x in [-2.0, 0.0, 0.7, 4.5, 9.0, 12.0] {
            assert!((s.eval(x, interval(&t, x)) - (3.0 - 0.5 * x)).abs() < 1e-12);
        }
        // Through its nodes exactly.
        let v = vec![1.0, 4.0, -2.0, 0.5, 3.0];
        let s = NaturalSpline::new(&t, v.clone());
        for (k, x) in t.iter().enumerate() {
            assert!((s.eval(*x, interval(&t, *x)) - v[k]).abs() < 1e-12);
        }
        assert_eq!(box_edges(90, 64), vec![(0, 90)]);
        assert_eq!(box_edges(100, 64), vec![(0, 64), (64, 100)]);
        assert_eq!(box_edges(200, 64), vec![(0, 64), (64, 128), (128, 200)]);
        assert_eq!(box_edges(64, 64), vec![(0, 64)]);
    }

    /// The second derivatives from the eliminated system solve the spline equations of its
    /// doc comment (zero at the ends), for uneven nodes, and vanish for linear data.
    #[test]
    fn spline_system_solves_the_natural_spline_equations() {
        let t = [0.0, 1.5, 4.0, 5.0, 9.0, 9.5, 14.0];
        let system = SplineSystem::new(&t);
        let mut d2 = vec![f64::NAN; t.len()];
        for v in [
            vec![1.0, 4.0, -2.0, 0.5, 3.0, 3.5, -1.0],
            vec![100.0, 100.2, 99.1, 103.0, 101.0, 100.0, 100.5],
        ] {
            system.second_derivatives(&v, &mut d2);
            assert_eq!((d2[0], d2[t.len() - 1]), (0.0, 0.0));
            for k in 1..t.len() - 1 {
                let (h0, h1) = (t[k] - t[k - 1], t[k + 1] - t[k]);
                let lhs = h0 * d2[k - 1] + 2.0 * (h0 + h1) * d2[k] + h1 * d2[k + 1];
                let rhs = 6.0 * ((v[k + 1] - v[k]) / h1 - (v[k] - v[k - 1]) / h0);
                assert!(
                    (lhs - rhs).abs() < 1e-10 * rhs.abs().max(1.0),
                    "{k}: {lhs} vs {rhs}"
                );
            }
        }
        let linear: Vec<f64> = t.iter().map(|x| 2.0 - 0.3 * x).collect();
        system.second_derivatives(&linear, &mut d2);
        assert!(d2.iter().all(|d| d.abs() < 1e-12), "{d2:?}");
        // Two nodes: a straight line.
        let mut two = [f64::NAN; 2];
        SplineSystem::new(&t[..2]).second_derivatives(&[1.0, 3.0], &mut two);
        assert_eq!(two, [0.0, 0.0]);
    }

    /// The row-by-runs interpolation equals the bicubic spline evaluated pixel by pixel
    /// (splines along y through each column of nodes, then along x through those values),
    /// inside the nodes and on the linear continuations beyond them.
    #[test]
    fn interpolation_equals_the_spline_pixel_by_pixel() {
        for (nx, ny, w, h) in [(5, 4, 97, 61), (2, 3, 40, 33), (1, 3, 9, 30), (6, 1, 50, 7)] {
            let node_x: Vec<f64> = (0..nx).map(|i| 6.5 + 17.0 * i as f64).collect();
            let node_y: Vec<f64> = (0..ny).map(|j| 4.5 + 13.0 * j as f64).collect();
            let mesh: Vec<f64> = (0..nx * ny)
                .map(|k| 100.0 + ((k * 7919) % 101) as f64 * 0.37 - 0.02 * k as f64)
                .collect();
            let map = interpolate(&mesh, &node_x, &node_y, w, h, 0.0);
            for y in 0..h {
                let yf = y as f64;
                let along_y: Vec<f64> = (0..nx)
                    .map(|i| {
                        let v = (0..ny).map(|j| mesh[j * nx + i]).collect();
                        NaturalSpline::new(&node_y, v).eval(yf, interval(&node_y, yf))
                    })
                    .collect();
                let spline = NaturalSpline::new(&node_x, along_y);
                for x in 0..w {
                    let xf = x as f64;
                    let expected = spline.eval(xf, interval(&node_x, xf)) as f32;
                    let got = map.get(x, y);
                    assert!(
                        (got - expected).abs() <= 1e-5 * expected.abs(),
                        "{nx}x{ny} nodes, {w}x{h}: ({x}, {y}) {got} vs {expected}"
                    );
                }
            }
        }
    }

    #[test]
    fn flat_and_sloped_backgrounds_are_recovered_despite_stars() {
        let (w, h) = (300, 260);
        let truth = |x: usize, y: usize| 1000.0 + 0.2 * x as f64 - 0.1 * y as f64;
        let mut img = noisy(w, h, truth, 10.0, 3);
        // Bright stars that clipping and the mode must reject.
        for (sx, sy) in [(40.0, 50.0), (150.0, 130.0), (250.0, 200.0), (90.0, 220.0)] {
            for y in 0..h {
                for x in 0..w {
                    let r2: f64 = (x as f64 - sx).powi(2) + (y as f64 - sy).powi(2);
                    let v = img.get(x, y) + (5000.0 * (-0.5 * r2 / 4.0).exp()) as f32;
                    img.set(x, y, v);
                }
            }
        }
        let bkg = estimate_background(&img, None, None, &BackgroundParams::default()).unwrap();
        let (mut worst, mut sum2, mut n): (f64, f64, usize) = (0.0, 0.0, 0);
        for y in (0..h).step_by(7) {
            for x in (0..w).step_by(7) {
                let e = (f64::from(bkg.level.get(x, y)) - truth(x, y)).abs();
                worst = worst.max(e);
                sum2 += e * e;
                n += 1;
            }
        }
        // Box noise: 10/√4096 ≈ 0.16 for a mean, ≈ 0.25 for the mode; a linear gradient is
        // exact for the splines and the (edge-reflected) median filter. The worst errors are
        // in the corners, where the spline continues the slope of noisy edge boxes.
        let rms = (sum2 / n as f64).sqrt();
        assert!(
            rms < 0.5 && worst < 2.5,
            "level error rms {rms}, worst {worst}"
        );
        // The gradient across a box adds (0.2² + 0.1²) × 64² / 12 to the variance of its
        // pixels: the box rms is √(100 + 17) ≈ 10.8, as in SExtractor.
        let expected_rms = (100.0_f64 + 0.05 * 64.0 * 64.0 / 12.0).sqrt();
        assert!(
            (bkg.global_rms - expected_rms).abs() < 0.3,
            "{}",
            bkg.global_rms
        );
        let rms_err = bkg
            .rms
            .data()
            .iter()
            .map(|r| (f64::from(*r) - expected_rms).abs())
            .fold(0.0, f64::max);
        assert!(rms_err < 1.0, "rms error {rms_err}");
    }

    #[test]
    fn holes_in_a_gradient_are_filled_linearly() {
        let (nx, ny) = (9, 7);
        let truth = |i: usize, j: usize| 100.0 + 3.0 * i as f64 - 2.0 * j as f64;
        let mut values: Vec<f64> = (0..nx * ny).map(|k| truth(k % nx, k / nx)).collect();
        let mut estimated = vec![true; nx * ny];
        for j in 2..5 {
            for i in 3..7 {
                estimated[j * nx + i] = false;
                values[j * nx + i] = 0.0;
            }
        }
        fill_missing(&mut values, &estimated, nx, ny);
        for (k, v) in values.iter().enumerate() {
            assert!((v - truth(k % nx, k / nx)).abs() < 1e-6, "{k}: {v}");
        }
    }

    /// Dilation and 2 × 2 upsampling give what the pixel-by-pixel definitions give: every
    /// pixel within the radius of an excluded one (offsets tested one by one), and each pixel
    /// the value of its 2 × 2 block's pixel; random masks, radii from 0 to beyond the image,
    /// odd sizes.
    #[test]
    fn dilation_and_upsampling_equal_the_pixel_by_pixel_definitions() {
        use rand::Rng;
        let mut rng = Pcg64::seed_from_u64(17);
        for (w, h) in [(1, 1), (5, 3), (37, 29), (64, 70), (3, 40)] {
            for density in [0.0, 0.02, 0.3] {
                let flags: Vec<bool> = (0..w * h).map(|_| rng.random_bool(density)).collect();
                let mask = ExclusionMask::from_flags(w, h, flags);
                for radius in [0.0, 0.5, 1.0, 1.5, 2.0, 2.9, 3.0, 4.5, 7.2, 50.0] {
                    let expected: Vec<bool> = (0..h)
                        .flat_map(|y| (0..w).map(move |x| (x as f64, y as f64)))
                        .map(|(x, y)| {
                            (0..h).any(|py| {
                                (0..w).any(|px| {
                                    mask.is_excluded(px, py)
                                        && (px as f64 - x).powi(2) + (py as f64 - y).powi(2)
                                            <= radius * radius
                                })
                            })
                        })
                        .collect();
                    let got = mask.dilated(radius);
                    assert!(
                        got.excluded == expected,
                        "{w} x {h}, density {density}, radius {radius}"
                    );
                }
                for (uw, uh) in [(2 * w, 2 * h), (2 * w - 1, 2 * h - 1)] {
                    let up = mask.upsampled_2x2(uw, uh);
                    for y in 0..uh {
                        for x in 0..uw {
                            assert_eq!(up.is_excluded(x, y), mask.is_excluded(x / 2, y / 2));
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn masks_and_exclusions_keep_pixels_out() {
        let (w, h) = (256, 256);
        let mut img = noisy(w, h, |_, _| 50.0, 2.0, 5);
        let mut mask = PixelMask::clear(w, h);
        let mut exclude = ExclusionMask::new(w, h);
        // A block of hot pixels (flagged) and a big "comet" (excluded).
        for y in 10..60 {
            for x in 10..60 {
                img.set(x, y, 60_000.0);
                mask.flag(x, y, pixel_flag::BAD);
            }
        }
        for y in 0..h {
            for x in 0..w {
                let r = (x as f64 - 180.0).hypot(y as f64 - 170.0);
                if r < 60.0 {
                    img.set(x, y, img.get(x, y) + (2000.0 / (r + 1.0)) as f32);
                }
            }
        }
        exclude.exclude_circle(180.0, 170.0, 60.0);
        let params = BackgroundParams {
            box_px: 32,
            ..BackgroundParams::default()
        };
        let bkg = estimate_background(&img, Some(&mask), Some(&exclude), &params).unwrap();
        let worst = bkg
            .level
            .data()
            .iter()
            .map(|v| (f64::from(*v) - 50.0).abs())
            .fold(0.0, f64::max);
        assert!(worst < 0.5, "worst {worst}");
        assert!(bkg.mesh.estimated.iter().any(|e| !e));
        // Without the exclusion the coma lifts the background near it.
        let lifted = estimate_background(&img, Some(&mask), None, &params).unwrap();
        assert!(lifted.level.get(180, 170) > 55.0);
    }

    #[test]
    fn bad_inputs_are_errors() {
        let p = BackgroundParams::default();
        assert!(matches!(
            estimate_background(&Image::filled(0, 0, 0.0), None, None, &p),
            Err(BackgroundError::EmptyImage { .. })
        ));
        assert!(matches!(
            estimate_background(&Image::filled(50, 40, f32::NAN), None, None, &p),
            Err(BackgroundError::NoValidPixels { .. })
        ));
        let img = Image::filled(50, 40, 1.0);
        assert!(matches!(
            estimate_background(&img, Some(&PixelMask::clear(40, 50)), None, &p),
            Err(BackgroundError::ShapeMismatch { .. })
        ));
        let bad = BackgroundParams { box_px: 0, ..p };
        assert!(estimate_background(&img, None, None, &bad).is_err());
        // A constant image: σ = 0, level = the constant, rms = 0.
        let bkg = estimate_background(&img, None, None, &p).unwrap();
        assert!(bkg.level.data().iter().all(|v| *v == 1.0));
        assert!(bkg.rms.data().iter().all(|v| *v == 0.0));
        // A one-pixel image.
        let one = estimate_background(&Image::filled(1, 1, 3.0), None, None, &p).unwrap();
        assert_eq!(one.level.get(0, 0), 3.0);
    }
}
