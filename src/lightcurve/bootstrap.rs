//! Bootstrap confidence intervals (Efron & Tibshirani 1993, ch. 13: percentile intervals):
//! the points are resampled with replacement, the model refitted, and the 16/84 % and
//! 2.5/97.5 % percentiles of each parameter reported. Replicate k uses its own generator
//! seeded from (seed, k), so the result does not depend on the number of threads.

use rand::Rng;
use rand::SeedableRng;
use rand_pcg::Pcg64;
use rayon::prelude::*;
use serde::Serialize;

use super::broken::fit_broken_params;
use super::model::FitData;
use super::power::fit_power_law_params;
use crate::simulate::model::derive_seed;

/// Percentile interval of one parameter.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BootstrapInterval {
    pub model: String,
    pub parameter: String,
    pub median: f64,
    pub lo_68: f64,
    pub hi_68: f64,
    pub lo_95: f64,
    pub hi_95: f64,
    /// Replicates that could be fitted (a resample can be degenerate, e.g. one rH only).
    pub replicates: usize,
}

/// Percentile `q` ∈ [0, 1] of sorted values, linear interpolation between order statistics
/// (Hyndman & Fan 1996, type 7).
pub fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let h = (sorted.len() - 1) as f64 * q;
    let lo = h.floor() as usize;
    let hi = h.ceil() as usize;
    sorted[lo] + (h - lo as f64) * (sorted[hi] - sorted[lo])
}

fn resample_indices(n: usize, seed: u64, k: usize) -> Vec<usize> {
    let mut rng = Pcg64::seed_from_u64(derive_seed(seed, 0xB00, k as u64));
    (0..n).map(|_| rng.random_range(0..n)).collect()
}

fn intervals(model: &str, names: &[&str], replicates: Vec<Vec<f64>>) -> Vec<BootstrapInterval> {
    names
        .iter()
        .enumerate()
        .map(|(j, name)| {
            let mut values: Vec<f64> = replicates
                .iter()
                .map(|r| r[j])
                .filter(|v| v.is_finite())
                .collect();
            values.sort_by(f64::total_cmp);
            BootstrapInterval {
                model: model.to_string(),
                parameter: name.to_string(),
                median: percentile(&values, 0.5),
                lo_68: percentile(&values, 0.158_655_25),
                hi_68: percentile(&values, 0.841_344_75),
                lo_95: percentile(&values, 0.025),
                hi_95: percentile(&values, 0.975),
                replicates: values.len(),
            }
        })
        .collect()
}

/// Intervals of H and n of the single power law.
pub fn bootstrap_power_law(data: &FitData, replicates: usize, seed: u64) -> Vec<BootstrapInterval> {
    let fits: Vec<Vec<f64>> = (0..replicates)
        .into_par_iter()
        .filter_map(|k| {
            let sample = data.resample(&resample_indices(data.len(), seed, k));
            fit_power_law_params(&sample).ok().map(|p| p[..2].to_vec())
        })
        .collect();
    intervals("power", &["h_mag", "n"], fits)
}

/// Intervals of n_outer, n_inner and r_b of the broken power law.
pub fn bootstrap_broken_power_law(
    data: &FitData,
    replicates: usize,
    seed: u64,
) -> Vec<BootstrapInterval> {
    let fits: Vec<Vec<f64>> = (0..replicates)
        .into_par_iter()
        .filter_map(|k| {
            let sample = data.resample(&resample_indices(data.len(), seed ^ 0x5EED, k));
            fit_broken_params(&sample).ok().map(|p| p.to_vec())
        })
        .collect();
    intervals("broken", &["n_outer", "n_inner", "rh_break_au"], fits)
}

#[cfg(test)]
mod tests {
    use super::percentile;

    #[test]
    fn percentile_interpolates_like_numpy() {
        let v = [1.0, 2.0, 3.0, 4.0];
        assert_eq!(percentile(&v, 0.5), 2.5);
        assert_eq!(percentile(&v, 0.0), 1.0);
        assert_eq!(percentile(&v, 1.0), 4.0);
        assert!((percentile(&v, 0.25) - 1.75).abs() < 1e-15);
    }
}
