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
use crate::image::Image;
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

/// Combines one pixel's finite `values` (with the noise models of their inputs).
/// Returns the value and the number of rejected inputs.
fn combine_pixel(
    values: &mut Vec<(f64, usize)>,
    scratch: &mut Vec<f64>,
    options: &CombineOptions,
    noise: Option<&[NoiseModel]>,
) -> (f64, usize) {
    let n = values.len();
    if n == 0 {
        return (f64::NAN, 0);
    }
    let mean = |v: &[(f64, usize)]| v.iter().map(|p| p.0).sum::<f64>() / v.len() as f64;
    let median = |v: &[(f64, usize)], scratch: &mut Vec<f64>| {
        scratch.clear();
        scratch.extend(v.iter().map(|p| p.0));
        median_in_place(scratch).unwrap_or(f64::NAN)
    };
    match options.method {
        CombineMethod::Median => (median(values, scratch), 0),
        CombineMethod::Mean => (mean(values), 0),
        CombineMethod::ClippedMean => {
            // Without a noise model two values cannot be judged against each other.
            if n < 3 && noise.is_none() {
                return (mean(values), 0);
            }
            for _ in 0..options.maxiters.max(1) {
                let centre = median(values, scratch);
                let before = values.len();
                match noise {
                    Some(models) => {
                        values.retain(|&(v, i)| {
                            (v - centre).abs() <= options.sigma * models[i].sigma(centre)
                        });
                    }
                    None => {
                        let m = mean(values);
                        let std = (values.iter().map(|p| (p.0 - m).powi(2)).sum::<f64>()
                            / values.len() as f64)
                            .sqrt();
                        values.retain(|&(v, _)| (v - centre).abs() <= options.sigma * std);
                    }
                }
                if values.is_empty() {
                    // Cannot happen with a finite σ (the median itself is kept) unless σ = 0
                    // and the median falls between values: fall back to the median.
                    return (centre, n);
                }
                if values.len() == before {
                    break;
                }
            }
            (mean(values), n - values.len())
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
    if let Some(models) = noise {
        if models.len() != images.len() {
            return Err(ReduceError::Combine {
                message: format!("{} noise models for {} images", models.len(), images.len()),
            });
        }
    }
    let mut out = vec![0f32; width * height];
    let counts: Vec<(usize, usize)> = out
        .par_chunks_mut(width * ROWS_PER_CHUNK)
        .enumerate()
        .map(|(chunk, block)| {
            let y0 = chunk * ROWS_PER_CHUNK;
            let mut values = Vec::with_capacity(images.len());
            let mut scratch = Vec::with_capacity(images.len());
            let (mut rejected, mut empty) = (0, 0);
            for (k, slot) in block.iter_mut().enumerate() {
                let idx = y0 * width + k;
                values.clear();
                for (i, img) in images.iter().enumerate() {
                    let v = img.data()[idx];
                    if v.is_finite() {
                        values.push((f64::from(v), i));
                    }
                }
                if values.is_empty() {
                    empty += 1;
                    *slot = f32::NAN;
                    continue;
                }
                let (v, r) = combine_pixel(&mut values, &mut scratch, options, noise);
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
