//! Finding the comet: its predicted position (ephemeris → WCS) refined on the coma.
//!
//! The coma of an active comet is close to Σ ∝ 1/ρ: it has no sharp core a star-style
//! centroid can lock on, and a plain first moment is pulled by the tail and by stars. The
//! image (background subtracted, stars and bad pixels excluded) is cross-correlated inside the
//! search radius with a kernel K(ρ) = 1/max(ρ, ½ px) truncated at `kernel_radius_px` — the
//! matched filter of a 1/ρ profile — and the peak of the correlation, refined by a quadratic
//! fit to its 3 × 3 neighbourhood, is the comet's photocentre. The centre of a symmetric coma is
//! the peak of its correlation with a symmetric kernel, whatever its brightness.

use super::background::Surface;
use crate::image::{pixel_flag, Image, PixelMask};
use thiserror::Error;

#[derive(Debug, Error, PartialEq)]
pub enum LocateError {
    #[error(
        "the predicted position ({x_px:.1}, {y_px:.1}) is outside the {width} × {height} image"
    )]
    OutsideFrame {
        x_px: f64,
        y_px: f64,
        width: usize,
        height: usize,
    },
    #[error("no usable pixels within {radius_px:.1} px of ({x_px:.1}, {y_px:.1})")]
    NoPixels {
        x_px: f64,
        y_px: f64,
        radius_px: f64,
    },
}

/// Parameters of the search.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LocateParams {
    /// Largest distance of the comet from its predicted position (px).
    pub search_radius_px: f64,
    /// Outer radius of the 1/ρ kernel (px).
    pub kernel_radius_px: f64,
    /// Offsets from the prediction beyond this are flagged (arcsec).
    pub large_offset_arcsec: f64,
}

impl Default for LocateParams {
    fn default() -> Self {
        LocateParams {
            search_radius_px: 15.0,
            kernel_radius_px: 6.0,
            large_offset_arcsec: 3.0,
        }
    }
}

/// A circular region to leave out (a star near the comet): centre and radius in px.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Exclusion {
    pub x_px: f64,
    pub y_px: f64,
    pub radius_px: f64,
}

/// Where the comet was found.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CometLocation {
    /// Predicted position (from the ephemeris and the WCS).
    pub predicted_x_px: f64,
    pub predicted_y_px: f64,
    /// Refined position.
    pub x_px: f64,
    pub y_px: f64,
    /// Distance between them (px and arcsec).
    pub offset_px: f64,
    pub offset_arcsec: f64,
    /// The offset exceeds [`LocateParams::large_offset_arcsec`].
    pub large_offset: bool,
}

/// Finds the comet near `(x_px, y_px)` in `image` minus `background` (same size), skipping
/// pixels flagged unusable or as cosmic rays and the `exclusions`.
pub fn locate_comet(
    image: &Image,
    background: &dyn Surface,
    mask: &PixelMask,
    predicted: (f64, f64),
    exclusions: &[Exclusion],
    pixel_scale_arcsec: f64,
    params: &LocateParams,
) -> Result<CometLocation, LocateError> {
    let (px, py) = predicted;
    let (width, height) = (image.width(), image.height());
    if !(px >= -0.5 && py >= -0.5 && px <= width as f64 - 0.5 && py <= height as f64 - 0.5) {
        return Err(LocateError::OutsideFrame {
            x_px: px,
            y_px: py,
            width,
            height,
        });
    }
    let reach = params.search_radius_px + params.kernel_radius_px + 1.0;
    let x_lo = (px - reach).floor().max(0.0) as usize;
    let y_lo = (py - reach).floor().max(0.0) as usize;
    let x_hi = ((px + reach).ceil() as usize).min(width - 1);
    let y_hi = ((py + reach).ceil() as usize).min(height - 1);
    // Only the circles whose bounding square meets the cutout can exclude a pixel of it
    // (hypot(dx, dy) ≥ max(|dx|, |dy|)): the frame's other sources are hundreds, those near
    // the comet a few, and the distance of each pixel is computed to those alone.
    let near: Vec<&Exclusion> = exclusions
        .iter()
        .filter(|e| {
            e.x_px + e.radius_px >= x_lo as f64
                && e.x_px - e.radius_px <= x_hi as f64
                && e.y_px + e.radius_px >= y_lo as f64
                && e.y_px - e.radius_px <= y_hi as f64
        })
        .collect();
    let usable = |x: usize, y: usize| {
        let excluded = near
            .iter()
            .any(|e| (x as f64 - e.x_px).hypot(y as f64 - e.y_px) <= e.radius_px);
        !excluded && !mask.has(x, y, pixel_flag::UNUSABLE | pixel_flag::COSMIC_RAY)
    };
    // Background-subtracted cutout with unusable pixels as None.
    let cut_w = x_hi - x_lo + 1;
    // The background row by row (a surface evaluated on demand makes only these rows).
    let mut cutout: Vec<Option<f64>> = Vec::with_capacity(cut_w * (y_hi + 1).saturating_sub(y_lo));
    for y in y_lo..=y_hi {
        let background = background.row(y);
        cutout.extend(
            (x_lo..=x_hi).map(|x| {
                usable(x, y).then(|| f64::from(image.get(x, y)) - f64::from(background[x]))
            }),
        );
    }
    let kernel = kernel_offsets(params.kernel_radius_px);
    let correlation = |cx: i64, cy: i64| -> Option<f64> {
        let (mut sum, mut weight) = (0.0, 0.0);
        for &(dx, dy, k) in &kernel {
            let (x, y) = (cx + dx, cy + dy);
            if x < x_lo as i64 || y < y_lo as i64 || x > x_hi as i64 || y > y_hi as i64 {
                continue;
            }
            let index = (y as usize - y_lo) * cut_w + (x as usize - x_lo);
            if let Some(value) = cutout[index] {
                sum += k * value;
                weight += k;
            }
        }
        // Normalised by the weight actually used, so that excluded pixels do not bias it.
        (weight > 0.0).then(|| sum / weight)
    };
    // The correlation over the search disc; the comet is its highest *interior* local
    // maximum: the wings of a bright star outside the disc only tilt the map towards its edge.
    let r = params.search_radius_px;
    let (x0, y0) = ((px - r).ceil() as i64, (py - r).ceil() as i64);
    let side = (2.0 * r).floor() as i64 + 2;
    let in_disc = |cx: i64, cy: i64| {
        cx >= 0
            && cy >= 0
            && (cx as usize) < width
            && (cy as usize) < height
            && (cx as f64 - px).hypot(cy as f64 - py) <= r
    };
    let map: Vec<Option<f64>> = (0..side * side)
        .map(|i| {
            let (cx, cy) = (x0 + i % side, y0 + i / side);
            in_disc(cx, cy).then(|| correlation(cx, cy)).flatten()
        })
        .collect();
    let at = |cx: i64, cy: i64| -> Option<f64> {
        let (i, j) = (cx - x0, cy - y0);
        if i < 0 || j < 0 || i >= side || j >= side {
            return None;
        }
        map[(j * side + i) as usize]
    };
    let mut best: Option<(f64, i64, i64)> = None;
    let mut best_any: Option<(f64, i64, i64)> = None;
    for j in 0..side {
        for i in 0..side {
            let (cx, cy) = (x0 + i, y0 + j);
            let Some(value) = at(cx, cy) else { continue };
            if best_any.is_none_or(|(b, _, _)| value > b) {
                best_any = Some((value, cx, cy));
            }
            let interior_peak = (-1..=1)
                .flat_map(|dy| (-1..=1).map(move |dx| (dx, dy)))
                .filter(|d| *d != (0, 0))
                .all(|(dx, dy)| at(cx + dx, cy + dy).is_some_and(|n| n < value));
            if interior_peak && best.is_none_or(|(b, _, _)| value > b) {
                best = Some((value, cx, cy));
            }
        }
    }
    let (_, cx, cy) = best.or(best_any).ok_or(LocateError::NoPixels {
        x_px: px,
        y_px: py,
        radius_px: r,
    })?;
    let (dx, dy) = quadratic_peak(|dx, dy| correlation(cx + dx, cy + dy));
    let (x, y) = (cx as f64 + dx, cy as f64 + dy);
    let offset_px = (x - px).hypot(y - py);
    let offset_arcsec = offset_px * pixel_scale_arcsec;
    Ok(CometLocation {
        predicted_x_px: px,
        predicted_y_px: py,
        x_px: x,
        y_px: y,
        offset_px,
        offset_arcsec,
        large_offset: offset_arcsec > params.large_offset_arcsec,
    })
}

/// Offsets and weights 1/max(ρ, ½) of the kernel out to `radius_px`.
fn kernel_offsets(radius_px: f64) -> Vec<(i64, i64, f64)> {
    let r = radius_px.ceil() as i64;
    (-r..=r)
        .flat_map(|dy| (-r..=r).map(move |dx| (dx, dy)))
        .filter_map(|(dx, dy)| {
            let rho = (dx as f64).hypot(dy as f64);
            (rho <= radius_px).then(|| (dx, dy, 1.0 / rho.max(0.5)))
        })
        .collect()
}

/// Sub-pixel peak from a separable quadratic through the 3 × 3 values around a maximum;
/// offsets are clamped to ±½ px (a flat or missing neighbourhood gives 0).
fn quadratic_peak(value: impl Fn(i64, i64) -> Option<f64>) -> (f64, f64) {
    let axis =
        |minus: Option<f64>, centre: Option<f64>, plus: Option<f64>| match (minus, centre, plus) {
            (Some(m), Some(c), Some(p)) => {
                let curvature = m - 2.0 * c + p;
                if curvature < 0.0 {
                    (0.5 * (m - p) / curvature).clamp(-0.5, 0.5)
                } else {
                    0.0
                }
            }
            _ => 0.0,
        };
    let centre = value(0, 0);
    (
        axis(value(-1, 0), centre, value(1, 0)),
        axis(value(0, -1), centre, value(0, 1)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 1/ρ coma (softened at the centre) at (cx, cy) plus a star.
    fn coma_image(cx: f64, cy: f64, star: Option<(f64, f64)>) -> Image {
        let (w, h) = (80, 70);
        let mut data = vec![0.0f32; w * h];
        for y in 0..h {
            for x in 0..w {
                let rho = (x as f64 - cx).hypot(y as f64 - cy);
                let mut v = 500.0 / (rho * rho + 1.0).sqrt();
                if let Some((sx, sy)) = star {
                    let d2 = (x as f64 - sx).powi(2) + (y as f64 - sy).powi(2);
                    v += 20_000.0 * (-d2 / 4.0).exp();
                }
                data[y * w + x] = v as f32;
            }
        }
        Image::new(w, h, data).unwrap()
    }

    #[test]
    fn finds_a_symmetric_coma_to_a_fraction_of_a_pixel() {
        let (cx, cy) = (40.3, 33.7);
        let image = coma_image(cx, cy, None);
        let zero = Image::filled(80, 70, 0.0);
        let mask = PixelMask::clear(80, 70);
        let params = LocateParams::default();
        let loc = locate_comet(&image, &zero, &mask, (45.0, 30.0), &[], 0.2138, &params).unwrap();
        assert!(
            (loc.x_px - cx).abs() < 0.15 && (loc.y_px - cy).abs() < 0.15,
            "{loc:?}"
        );
        // 5.98 px from the prediction = 1.28″ at 0.2138″/px: below the 3″ flag limit.
        assert!(
            (loc.offset_arcsec - 1.28).abs() < 0.05 && !loc.large_offset,
            "{loc:?}"
        );
    }

    #[test]
    fn an_excluded_star_does_not_capture_the_search() {
        let (cx, cy) = (40.0, 35.0);
        let image = coma_image(cx, cy, Some((52.0, 35.0)));
        let zero = Image::filled(80, 70, 0.0);
        let mask = PixelMask::clear(80, 70);
        let params = LocateParams::default();
        let free = locate_comet(&image, &zero, &mask, (44.0, 35.0), &[], 0.2, &params).unwrap();
        assert!(
            (free.x_px - 52.0).abs() < 1.0,
            "without exclusion the star wins: {free:?}"
        );
        let star = Exclusion {
            x_px: 52.0,
            y_px: 35.0,
            radius_px: 5.0,
        };
        let loc = locate_comet(&image, &zero, &mask, (44.0, 35.0), &[star], 0.2, &params).unwrap();
        assert!(
            (loc.x_px - cx).abs() < 0.3 && (loc.y_px - cy).abs() < 0.3,
            "{loc:?}"
        );
    }

    #[test]
    fn outside_the_frame_is_an_error() {
        let image = Image::filled(10, 10, 1.0);
        let err = locate_comet(
            &image,
            &image,
            &PixelMask::clear(10, 10),
            (20.0, 5.0),
            &[],
            0.2,
            &LocateParams::default(),
        )
        .unwrap_err();
        assert!(matches!(err, LocateError::OutsideFrame { .. }));
    }
}
