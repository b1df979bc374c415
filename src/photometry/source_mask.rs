//! The first pass of a two-pass background: where the sources are, to keep them out of the
//! second, final background estimate (photutils' `make_source_mask` / `detect_sources` on a
//! first `Background2D`; SExtractor's `BACK_TYPE` with a prior segmentation).
//!
//! The mask only has to cover the sources, not measure them, so it is found on the image
//! binned 2 × 2 (a quarter of the pixels: background mesh, matched filter and labelling all
//! cost a quarter):
//!
//! 1. Each 2 × 2 block becomes the mean of its usable pixels (finite, not flagged
//!    [`EXCLUDED_PIXELS`]); a block without one is NaN, a block with a saturated pixel is
//!    flagged saturated (kept out of the background, detected as a source).
//! 2. The background of the binned image with boxes of half the size, then a detection
//!    with the same threshold in σ (the binned rms is measured, so the threshold follows the
//!    binned noise), a kernel of half the FWHM and a quarter of the minimum area.
//! 3. The footprints, dilated by half the radius in binned pixels, are expanded back to 2 × 2
//!    blocks: every full-resolution pixel of a masked block is excluded.
//!
//! A point source of FWHM ≥ 3 px stays ≥ 1.5 binned pixels wide, sampled well enough for
//! the matched filter, whose signal-to-noise for such a source does not depend on the
//! binning (the source's flux and the noise of its footprint both add over the same pixels).

use rayon::prelude::*;
use thiserror::Error;

use super::background::{
    estimate_background_mesh, BackgroundError, BackgroundParams, ExclusionMask,
};
use super::centroid::EXCLUDED_PIXELS;
use super::detect::{detect_source_mask, DetectError, DetectParams};
use crate::image::{pixel_flag, Image, PixelMask};

/// Why the source mask could not be made.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum SourceMaskError {
    #[error("first-pass background: {0}")]
    Background(#[from] BackgroundError),
    #[error("first-pass detection: {0}")]
    Detect(#[from] DetectError),
}

/// The image binned 2 × 2 (a last odd row or column forms blocks of 2 or 1 pixels) with its
/// mask, by the rules of the module documentation.
pub fn bin_2x2(image: &Image, mask: Option<&PixelMask>) -> (Image, PixelMask) {
    let (w, h) = (image.width(), image.height());
    let (bw, bh) = (w.div_ceil(2), h.div_ceil(2));
    let mut data = vec![f32::NAN; bw * bh];
    let mut binned_mask = PixelMask::clear(bw, bh);
    // A missing pixel (past a last odd row or column) counts as a NaN without flags: unusable
    // and not saturated, as if absent.
    let no_bits = vec![0u8; w];
    let no_values = vec![f32::NAN; w];
    let bits_of = |y: usize| mask.map_or(&no_bits[..], |m| &m.bits()[y * w..(y + 1) * w]);
    data.par_chunks_mut(bw)
        .zip(binned_mask.bits_mut().par_chunks_mut(bw))
        .enumerate()
        .for_each(|(by, (out, out_bits))| {
            let (y0, y1) = (2 * by, 2 * by + 1);
            let rows = [
                image.row(y0),
                if y1 < h { image.row(y1) } else { &no_values },
            ];
            let bits = [bits_of(y0), if y1 < h { bits_of(y1) } else { &no_bits }];
            // Blocks of 2 × 2 pixels that exist: zipped pairs, no bounds test per pixel
            // (4 → 1 ms CPU a full frame); a last odd column is the generic path below.
            let pairs = |r: usize| (rows[r].chunks_exact(2), bits[r].chunks_exact(2));
            let (top, top_bits) = pairs(0);
            let (bottom, bottom_bits) = pairs(1);
            let full = w / 2;
            for ((((o, ob), (t, tb)), b), bb) in out[..full]
                .iter_mut()
                .zip(out_bits[..full].iter_mut())
                .zip(top.zip(top_bits))
                .zip(bottom)
                .zip(bottom_bits)
            {
                let (value, flags) =
                    binned_block([(t[0], tb[0]), (t[1], tb[1]), (b[0], bb[0]), (b[1], bb[1])]);
                *o = value;
                *ob |= flags;
            }
            for (bx, (o, ob)) in out
                .iter_mut()
                .zip(out_bits.iter_mut())
                .enumerate()
                .skip(full)
            {
                let x = 2 * bx;
                let block = |row: usize, dx: usize| match rows[row].get(x + dx) {
                    Some(&v) => (v, bits[row][x + dx]),
                    None => (f32::NAN, 0),
                };
                let (value, flags) =
                    binned_block([block(0, 0), block(0, 1), block(1, 0), block(1, 1)]);
                *o = value;
                *ob |= flags;
            }
        });
    let binned = Image::new(bw, bh, data).expect("binned data has the binned size");
    (binned, binned_mask)
}

/// One 2 × 2 block (values and flags, in row order) by the rules of the module
/// documentation: the mean of its usable pixels (NaN without one, flagged NONFINITE), and
/// SATURATED when any pixel is. Branch-free over the four pixels; the sum runs in f64 in row
/// order.
fn binned_block(pixels: [(f32, u8); 4]) -> (f32, u8) {
    let (mut sum, mut n, mut any_flags) = (0.0f64, 0u32, 0u8);
    for (v, b) in pixels {
        let usable = v.is_finite() & (b & EXCLUDED_PIXELS == 0);
        sum += if usable { f64::from(v) } else { 0.0 };
        n += u32::from(usable);
        any_flags |= b;
    }
    let saturated = any_flags & pixel_flag::SATURATED;
    if n > 0 {
        ((sum / f64::from(n)) as f32, saturated)
    } else {
        (f32::NAN, saturated | pixel_flag::NONFINITE)
    }
}

/// Pixels of the sources of `image` grown by about `dilate_px`, found on the image binned
/// 2 × 2 with `background` and `detect` scaled to the binned pixels (module documentation).
pub fn source_mask(
    image: &Image,
    mask: Option<&PixelMask>,
    background: &BackgroundParams,
    detect: &DetectParams,
    dilate_px: f64,
) -> Result<ExclusionMask, SourceMaskError> {
    let (w, h) = (image.width(), image.height());
    let (binned, binned_mask) = bin_2x2(image, mask);
    let binned_background = BackgroundParams {
        box_px: background.box_px.div_ceil(2),
        ..*background
    };
    let binned_detect = DetectParams {
        smoothing_fwhm_px: detect.smoothing_fwhm_px.map(|f| 0.5 * f),
        min_area_px: detect.min_area_px.div_ceil(4),
        ..*detect
    };
    // The background's surfaces, evaluated row by row where the detection reads them: the
    // same values as whole maps, without making and storing them.
    let first = estimate_background_mesh(&binned, Some(&binned_mask), None, &binned_background)?;
    let footprints = detect_source_mask(
        &binned,
        &first,
        Some(&binned_mask),
        &binned_detect,
        0.5 * dilate_px,
    )?;
    Ok(footprints.upsampled_2x2(w, h))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The zipped fast path equals [`binned_block`] applied block by block with bounds-checked
    /// reads, bit for bit, on odd and even sizes with NaNs, infinities, signed zeros and flags.
    #[test]
    fn binning_equals_the_block_by_block_reference() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_pcg::Pcg64::seed_from_u64(3);
        for (w, h) in [(1, 1), (2, 2), (7, 5), (64, 33), (129, 18)] {
            let data: Vec<f32> = (0..w * h)
                .map(|_| match rng.random_range(0..20) {
                    0 => f32::NAN,
                    1 => f32::INFINITY,
                    2 => -0.0,
                    _ => rng.random_range(-50.0f32..500.0),
                })
                .collect();
            let image = Image::new(w, h, data).unwrap();
            let mut mask = PixelMask::clear(w, h);
            for _ in 0..(w * h) / 4 {
                let (x, y) = (rng.random_range(0..w), rng.random_range(0..h));
                mask.flag(x, y, 1 << rng.random_range(0..4));
            }
            let (binned, bits) = bin_2x2(&image, Some(&mask));
            for by in 0..h.div_ceil(2) {
                for bx in 0..w.div_ceil(2) {
                    let at = |x: usize, y: usize| {
                        if x < w && y < h {
                            (image.get(x, y), mask.get(x, y))
                        } else {
                            (f32::NAN, 0)
                        }
                    };
                    let (x, y) = (2 * bx, 2 * by);
                    let (value, flags) =
                        binned_block([at(x, y), at(x + 1, y), at(x, y + 1), at(x + 1, y + 1)]);
                    assert_eq!(
                        binned.get(bx, by).to_bits(),
                        value.to_bits(),
                        "{w}x{h} {bx},{by}"
                    );
                    assert_eq!(bits.get(bx, by), flags, "{w}x{h} {bx},{by}");
                }
            }
        }
    }

    #[test]
    fn binning_averages_usable_pixels_and_keeps_flags() {
        // 5 × 3: blocks of 4, 2 (last column), 2 (last row) and 1 pixel.
        let data: Vec<f32> = (0..15).map(|i| i as f32).collect();
        let image = Image::new(5, 3, data).unwrap();
        let mut mask = PixelMask::clear(5, 3);
        mask.flag(1, 0, pixel_flag::COSMIC_RAY); // pixel 1 left out of block (0, 0)
        mask.flag(2, 1, pixel_flag::SATURATED); // kept, and block (1, 0) flagged saturated
        mask.flag(4, 2, pixel_flag::BAD); // the only pixel of block (2, 1)
        let (binned, bmask) = bin_2x2(&image, Some(&mask));
        assert_eq!((binned.width(), binned.height()), (3, 2));
        assert_eq!(binned.get(0, 0), (0.0 + 5.0 + 6.0) / 3.0);
        assert_eq!(binned.get(1, 0), (2.0 + 3.0 + 7.0 + 8.0) / 4.0);
        assert_eq!(binned.get(2, 0), (4.0 + 9.0) / 2.0);
        assert_eq!(binned.get(0, 1), (10.0 + 11.0) / 2.0);
        assert!(binned.get(2, 1).is_nan());
        assert_eq!(bmask.get(0, 0), 0);
        assert_eq!(bmask.get(1, 0), pixel_flag::SATURATED);
        assert_eq!(bmask.get(2, 1), pixel_flag::NONFINITE);
    }

    /// Each full-resolution pixel takes its 2 × 2 block's value, a last odd row and column
    /// included.
    #[test]
    fn upsampling_covers_each_block() {
        let mut binned = ExclusionMask::new(3, 2);
        binned.exclude(0, 0);
        binned.exclude(2, 1);
        let full = binned.upsampled_2x2(5, 3);
        assert_eq!((full.width(), full.height()), (5, 3));
        for y in 0..3 {
            for x in 0..5 {
                let expected = (x < 2 && y < 2) || (x == 4 && y == 2);
                assert_eq!(full.is_excluded(x, y), expected, "({x}, {y})");
            }
        }
    }

    /// Stars on a sloped, noisy sky: every star's core and the pixels around it up to about
    /// the dilation are masked; sky far from the stars is not.
    #[test]
    fn masks_the_stars_and_leaves_the_sky() {
        let (w, h) = (300, 260);
        let stars = [
            (50.3, 60.7, 4000.0),
            (200.0, 100.2, 900.0),
            (151.5, 210.5, 20000.0),
        ];
        let sigma_px = 4.7 / 2.3548;
        let mut state = 12345u64;
        let mut noise = || crate::stats::test_gauss(&mut state);
        let mut data = vec![0f32; w * h];
        for y in 0..h {
            for x in 0..w {
                let mut v = 500.0 + 0.2 * x as f64 + 10.0 * noise();
                for (sx, sy, flux) in stars {
                    let r2 = (x as f64 - sx).powi(2) + (y as f64 - sy).powi(2);
                    v += flux / (2.0 * std::f64::consts::PI * sigma_px * sigma_px)
                        * (-0.5 * r2 / (sigma_px * sigma_px)).exp();
                }
                data[y * w + x] = v as f32;
            }
        }
        let image = Image::new(w, h, data).unwrap();
        let excluded = source_mask(
            &image,
            None,
            &BackgroundParams::default(),
            &DetectParams::default(),
            3.0,
        )
        .unwrap();
        for (sx, sy, _) in stars {
            for (dx, dy) in [(0.0, 0.0), (3.0, 0.0), (0.0, -3.0), (-2.0, 2.0)] {
                let (x, y) = ((sx + dx).round() as usize, (sy + dy).round() as usize);
                assert!(
                    excluded.is_excluded(x, y),
                    "star at ({sx}, {sy}): ({x}, {y})"
                );
            }
        }
        let far_from_stars = (0..h)
            .flat_map(|y| (0..w).map(move |x| (x, y)))
            .filter(|&(x, y)| {
                stars
                    .iter()
                    .all(|(sx, sy, _)| (x as f64 - sx).hypot(y as f64 - sy) > 20.0)
            });
        let (mut n, mut masked) = (0usize, 0usize);
        for (x, y) in far_from_stars {
            n += 1;
            masked += usize::from(excluded.is_excluded(x, y));
        }
        assert!(
            (masked as f64) < 0.002 * n as f64,
            "{masked} of {n} sky pixels masked"
        );
    }
}
