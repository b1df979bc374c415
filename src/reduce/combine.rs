//! Per-pixel combination of a stack of equal-size images: median, mean, or sigma-clipped
//! mean. Non-finite input pixels (masked: saturated, NaN) are left out of their pixel's
//! combination. Rows are processed in parallel chunks (rayon).
//!
//! Clipping: per pixel, centre = median of the values kept, scale σ, keep |v − centre| ≤ k σ,
//! repeat until nothing is rejected (at most `maxiters` passes), result = mean of the kept
//! values. σ comes from a CCD noise model when one is given for every input
//! ([`NoiseModel`], as IRAF's `ccdclip`), otherwise from the population standard deviation
//! of the values (astropy's rule). The noise model matters for the small stacks of a
//! night: with the sample σ, one outlier among N values is at most (N − 1)/√N σ from the
//! mean — 1.8σ for N = 5 — and can never be rejected at 3σ.
//!
//! Noise of the result for N inputs of noise σ: σ/√N for the mean, ≈ 1.25 σ/√N for the
//! median (√(π/2) for large N), slightly above σ/√N for the 3σ-clipped mean.

use rayon::prelude::*;

use super::ReduceError;
use crate::image::{Image, PixelMask};
use crate::stats::median_in_place;

/// How a stack is combined.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CombineMethod {
    Median,
    Mean,
    /// Mean after per-pixel sigma clipping.
    ClippedMean,
}

impl CombineMethod {
    pub fn as_str(&self) -> &'static str {
        match self {
            CombineMethod::Median => "median",
            CombineMethod::Mean => "mean",
            CombineMethod::ClippedMean => "sigma-clipped mean",
        }
    }
}

/// Combination settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CombineOptions {
    pub method: CombineMethod,
    /// Rejection threshold (σ) of [`CombineMethod::ClippedMean`].
    pub sigma: f64,
    pub maxiters: usize,
}

impl Default for CombineOptions {
    /// 3σ-clipped mean, at most 10 passes.
    fn default() -> Self {
        CombineOptions {
            method: CombineMethod::ClippedMean,
            sigma: 3.0,
            maxiters: 10,
        }
    }
}

impl CombineOptions {
    pub fn describe(&self) -> String {
        match self.method {
            CombineMethod::ClippedMean => format!("{}-sigma clipped mean", self.sigma),
            m => m.as_str().to_string(),
        }
    }
}

/// Expected noise of one input's pixel of value v: σ(v)² = `sigma0`² + `poisson` · max(v, 0).
///
/// Bias frames in electrons: `sigma0` = read noise, `poisson` = 0. A flat of level L e⁻
/// normalised to 1: `sigma0` = read noise / L, `poisson` = 1/L.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NoiseModel {
    pub sigma0: f64,
    pub poisson: f64,
}

impl NoiseModel {
    pub fn sigma(&self, value: f64) -> f64 {
        (self.sigma0 * self.sigma0 + self.poisson * value.max(0.0)).sqrt()
    }
}

/// A combined image.
#[derive(Debug, Clone, PartialEq)]
pub struct Combined {
    pub image: Image,
    pub n_inputs: usize,
    /// Input values rejected by clipping (over all pixels).
    pub n_rejected: usize,
    /// Pixels without any finite input value (NaN in the result).
    pub n_empty: usize,
}

/// Rows per parallel work item.
const ROWS_PER_CHUNK: usize = 8;

/// Stacks of at most this many values are sorted by insertion (a night's 5–20 biases or
/// flats); larger ones use a selection.
const INSERTION_MAX: usize = 32;

/// Sorts `s[i]`, `s[j]` (finite values) without a branch.
#[inline(always)]
fn compare_exchange(s: &mut [f64], i: usize, j: usize) {
    let (a, b) = (s[i], s[j]);
    s[i] = a.min(b);
    s[j] = a.max(b);
}

/// Sorts a few finite values in place: optimal sorting networks (branch-free min / max, so
/// that the unpredictable order of a pixel's values costs no mispredicted branches) for the
/// stacks of a night (5 inputs, or 3–4 after rejections), insertion sort up to
/// [`INSERTION_MAX`] values.
fn sort_small(s: &mut [f64]) {
    match s.len() {
        0 | 1 => {}
        2 => compare_exchange(s, 0, 1),
        3 => {
            for (i, j) in [(1, 2), (0, 2), (0, 1)] {
                compare_exchange(s, i, j);
            }
        }
        4 => {
            for (i, j) in [(0, 1), (2, 3), (0, 2), (1, 3), (1, 2)] {
                compare_exchange(s, i, j);
            }
        }
        5 => {
            for (i, j) in [
                (0, 1),
                (3, 4),
                (2, 4),
                (2, 3),
                (0, 3),
                (0, 2),
                (1, 4),
                (1, 3),
                (1, 2),
            ] {
                compare_exchange(s, i, j);
            }
        }
        n => {
            for i in 1..n {
                let v = s[i];
                let mut j = i;
                while j > 0 && v < s[j - 1] {
                    s[j] = s[j - 1];
                    j -= 1;
                }
                s[j] = v;
            }
        }
    }
}

/// Median of `values` (finite): the middle value, or the mean of the two middle values.
/// `scratch` holds at least `values.len()` entries.
///
/// Method: the values are copied into `scratch` and sorted there when few ([`sort_small`]:
/// no allocation, no general-purpose selection for a 5-value stack), else selected with
/// [`median_in_place`]. Both give the same value (up to the sign of a zero median).
fn median_of(values: &[f64], scratch: &mut [f64]) -> f64 {
    let n = values.len();
    let s = &mut scratch[..n];
    s.copy_from_slice(values);
    if n > INSERTION_MAX {
        return median_in_place(s).unwrap_or(f64::NAN);
    }
    sort_small(s);
    match n {
        0 => f64::NAN,
        _ if n % 2 == 1 => s[n / 2],
        _ => 0.5 * (s[n / 2 - 1] + s[n / 2]),
    }
}

/// Mean of `values`, summed in order.
fn mean_of(values: &[f64]) -> f64 {
    values.iter().sum::<f64>() / values.len() as f64
}

/// Combines one pixel's finite `values`, which came from the inputs `inputs` (same length;
/// indices into `noise`). `values` and `inputs` are reordered / overwritten; `scratch` and
/// `limits` hold at least `values.len()` entries. `uniform` is the noise model of every
/// input when they all have the same. Returns the value and the number of rejected inputs.
///
/// Clipping keeps the values in input order, compacting the survivors to the front of the
/// slices (what `Vec::retain` did, without the per-pass bookkeeping), so that the final mean
/// sums them in the same order as before.
fn combine_pixel(
    values: &mut [f64],
    inputs: &mut [usize],
    scratch: &mut [f64],
    limits: &mut [f64],
    options: &CombineOptions,
    noise: Option<&[NoiseModel]>,
    uniform: Option<NoiseModel>,
) -> (f64, usize) {
    let n = values.len();
    if n == 0 {
        return (f64::NAN, 0);
    }
    match options.method {
        CombineMethod::Median => (median_of(values, scratch), 0),
        CombineMethod::Mean => (mean_of(values), 0),
        CombineMethod::ClippedMean => {
            // Without a noise model two values cannot be judged against each other.
            if n < 3 && noise.is_none() {
                return (mean_of(values), 0);
            }
            let mut len = n;
            for _ in 0..options.maxiters.max(1) {
                let centre = median_of(&values[..len], scratch);
                let before = len;
                let mut kept = 0;
                match noise {
                    Some(models) => {
                        // The limits first, in their own loop: the square roots are then
                        // independent of each other and of the compaction below, and one
                        // suffices when every input has the same model (biases).
                        let limits = &mut limits[..len];
                        match uniform {
                            Some(model) => limits.fill(options.sigma * model.sigma(centre)),
                            None => {
                                for (l, &i) in limits.iter_mut().zip(&inputs[..len]) {
                                    *l = options.sigma * models[i].sigma(centre);
                                }
                            }
                        }
                        for k in 0..len {
                            let (v, i) = (values[k], inputs[k]);
                            if (v - centre).abs() <= limits[k] {
                                values[kept] = v;
                                inputs[kept] = i;
                                kept += 1;
                            }
                        }
                    }
                    None => {
                        let m = mean_of(&values[..len]);
                        let std = (values[..len].iter().map(|v| (v - m).powi(2)).sum::<f64>()
                            / len as f64)
                            .sqrt();
                        for k in 0..len {
                            let (v, i) = (values[k], inputs[k]);
                            if (v - centre).abs() <= options.sigma * std {
                                values[kept] = v;
                                inputs[kept] = i;
                                kept += 1;
                            }
                        }
                    }
                }
                len = kept;
                if len == 0 {
                    // Cannot happen with a finite σ (the median itself is kept) unless σ = 0
                    // and the median falls between values: fall back to the median.
                    return (centre, n);
                }
                if len == before {
                    break;
                }
            }
            (mean_of(&values[..len]), n - len)
        }
    }
}

/// Combines `images` pixel by pixel. `noise`, when given, holds one model per input (used
/// by the clipped mean). Errors: no input, inputs of different sizes, wrong model count.
pub fn combine(
    images: &[&Image],
    options: &CombineOptions,
    noise: Option<&[NoiseModel]>,
) -> Result<Combined, ReduceError> {
    combine_masked(images, None, options, noise)
}

/// As [`combine`], leaving out of each pixel's combination, besides the non-finite values,
/// the values whose pixel is flagged (any bit) in that input's mask, when `masks` (one per
/// input, of the same size) is given: the same result as combining copies of the images
/// with the flagged pixels set to NaN, without making the copies.
pub fn combine_masked(
    images: &[&Image],
    masks: Option<&[&PixelMask]>,
    options: &CombineOptions,
    noise: Option<&[NoiseModel]>,
) -> Result<Combined, ReduceError> {
    let first = images.first().ok_or_else(|| ReduceError::Combine {
        message: "no image to combine".to_string(),
    })?;
    let (width, height) = (first.width(), first.height());
    for (i, img) in images.iter().enumerate() {
        img.same_shape(width, height)
            .map_err(|e| ReduceError::Combine {
                message: format!("input {i}: {e}"),
            })?;
    }
    if let Some(masks) = masks {
        if masks.len() != images.len() {
            return Err(ReduceError::Combine {
                message: format!("{} masks for {} images", masks.len(), images.len()),
            });
        }
        for (i, m) in masks.iter().enumerate() {
            if (m.width(), m.height()) != (width, height) {
                return Err(ReduceError::Combine {
                    message: format!(
                        "mask {i}: {} x {} px, images {width} x {height} px",
                        m.width(),
                        m.height()
                    ),
                });
            }
        }
    }
    if let Some(models) = noise {
        if models.len() != images.len() {
            return Err(ReduceError::Combine {
                message: format!("{} noise models for {} images", models.len(), images.len()),
            });
        }
    }
    let uniform = noise
        .and_then(|m| m.first().copied())
        .filter(|first| noise.is_some_and(|m| m.iter().all(|x| x == first)));
    let mut out = vec![0f32; width * height];
    let counts: Vec<(usize, usize)> = out
        .par_chunks_mut(width * ROWS_PER_CHUNK)
        .enumerate()
        .map(|(chunk, block)| {
            let y0 = chunk * ROWS_PER_CHUNK;
            let mut values = vec![0f64; images.len()];
            let mut inputs = vec![0usize; images.len()];
            let mut scratch = vec![0f64; images.len()];
            let mut limits = vec![0f64; images.len()];
            let (mut rejected, mut empty) = (0, 0);
            for (k, slot) in block.iter_mut().enumerate() {
                let idx = y0 * width + k;
                let mut n = 0;
                for (i, img) in images.iter().enumerate() {
                    let v = img.data()[idx];
                    let flagged = masks.is_some_and(|m| m[i].bits()[idx] != 0);
                    if v.is_finite() && !flagged {
                        values[n] = f64::from(v);
                        inputs[n] = i;
                        n += 1;
                    }
                }
                if n == 0 {
                    empty += 1;
                    *slot = f32::NAN;
                    continue;
                }
                let (v, r) = combine_pixel(
                    &mut values[..n],
                    &mut inputs[..n],
                    &mut scratch,
                    &mut limits,
                    options,
                    noise,
                    uniform,
                );
                rejected += r;
                *slot = v as f32;
            }
            (rejected, empty)
        })
        .collect();
    let (n_rejected, n_empty) = counts
        .iter()
        .fold((0, 0), |acc, c| (acc.0 + c.0, acc.1 + c.1));
    Ok(Combined {
        image: Image::new(width, height, out).map_err(|e| ReduceError::Combine {
            message: e.to_string(),
        })?,
        n_inputs: images.len(),
        n_rejected,
        n_empty,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::stats::test_gauss as gauss;

    fn noisy_stack(n: usize, sigma: f64, seed: u64) -> Vec<Image> {
        let mut s = seed;
        (0..n)
            .map(|_| {
                let data = (0..100 * 100)
                    .map(|_| (sigma * gauss(&mut s)) as f32)
                    .collect();
                Image::new(100, 100, data).unwrap()
            })
            .collect()
    }

    fn std(img: &Image) -> f64 {
        let v: Vec<f64> = img.data().iter().map(|&x| f64::from(x)).collect();
        crate::stats::mean_std(&v).unwrap().1
    }

    #[test]
    fn small_medians_match_the_selection() {
        let mut seed = 5;
        let mut scratch = vec![0.0; 64];
        for n in 1..=40 {
            for round in 0..200 {
                // Few distinct values in some rounds, to exercise ties.
                let values: Vec<f64> = (0..n)
                    .map(|_| {
                        let v = 10.0 * gauss(&mut seed);
                        if round % 3 == 0 {
                            v.round()
                        } else {
                            v
                        }
                    })
                    .collect();
                let mut copy = values.clone();
                let expect = median_in_place(&mut copy).unwrap();
                assert_eq!(median_of(&values, &mut scratch), expect, "{values:?}");
                let mut sorted = values.clone();
                sort_small(&mut sorted);
                copy.sort_by(f64::total_cmp);
                assert_eq!(sorted, copy);
            }
        }
    }

    #[test]
    fn noise_of_combined_stacks() {
        let stack = noisy_stack(9, 5.0, 3);
        let refs: Vec<&Image> = stack.iter().collect();
        let expect = 5.0 / 3.0;
        let mean = combine(
            &refs,
            &CombineOptions {
                method: CombineMethod::Mean,
                ..CombineOptions::default()
            },
            None,
        )
        .unwrap();
        assert!((std(&mean.image) / expect - 1.0).abs() < 0.03);
        let median = combine(
            &refs,
            &CombineOptions {
                method: CombineMethod::Median,
                ..CombineOptions::default()
            },
            None,
        )
        .unwrap();
        // Median of 9 Gaussian values: efficiency factor ≈ 1.21 (→ 1.25 for large N).
        let ratio = std(&median.image) / expect;
        assert!((1.12..1.32).contains(&ratio), "{ratio}");
        let models = vec![
            NoiseModel {
                sigma0: 5.0,
                poisson: 0.0
            };
            9
        ];
        let clipped = combine(&refs, &CombineOptions::default(), Some(&models)).unwrap();
        let ratio = std(&clipped.image) / expect;
        assert!((1.0..1.06).contains(&ratio), "{ratio}");
        assert_eq!(clipped.n_inputs, 9);
    }

    #[test]
    fn an_outlier_in_five_is_rejected_with_the_noise_model_only() {
        let mut stack = noisy_stack(5, 5.0, 11);
        stack[2].set(10, 10, 1000.0);
        stack[4].set(20, 30, f32::NAN);
        let refs: Vec<&Image> = stack.iter().collect();
        let models = vec![
            NoiseModel {
                sigma0: 5.0,
                poisson: 0.0
            };
            5
        ];
        let c = combine(&refs, &CombineOptions::default(), Some(&models)).unwrap();
        assert!(c.image.get(10, 10).abs() < 15.0, "{}", c.image.get(10, 10));
        assert!(c.image.get(20, 30).is_finite());
        // The astropy rule (sample σ) cannot reject it: 1000/5 = 200 stays in the mean.
        let c = combine(&refs, &CombineOptions::default(), None).unwrap();
        assert!(c.image.get(10, 10) > 150.0);
        // Errors.
        let small = Image::filled(3, 3, 0.0);
        assert!(combine(&[&stack[0], &small], &CombineOptions::default(), None).is_err());
        assert!(combine(&[], &CombineOptions::default(), None).is_err());
    }
}
