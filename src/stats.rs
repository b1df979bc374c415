//! Robust statistics: median, MAD, and sigma clipping by the rule of astropy's `sigma_clip`
//! (and photutils, which uses it), so that results can be compared value for value.
//!
//! The astropy rule (astropy.stats.SigmaClip, `cenfunc='median'`, `stdfunc='std'`): at each
//! pass, from the values still kept, take the median m and the population standard deviation s
//! (ddof = 0); keep the values with m − σ·s ≤ x ≤ m + σ·s (bounds inclusive); stop after
//! `maxiters` passes or as soon as a pass rejects nothing. Non-finite values are dropped first.

/// Median of `values` (the mean of the two middle values for an even count, as numpy);
/// `None` for an empty slice. Reorders `values`.
pub fn median_in_place(values: &mut [f64]) -> Option<f64> {
    let n = values.len();
    if n == 0 {
        return None;
    }
    let mid = n / 2;
    let (_, upper, _) = values.select_nth_unstable_by(mid, f64::total_cmp);
    let upper = *upper;
    if n % 2 == 1 {
        return Some(upper);
    }
    // The lower middle value is the largest of the first half.
    let lower = values[..mid]
        .iter()
        .copied()
        .fold(f64::NEG_INFINITY, f64::max);
    Some(0.5 * (lower + upper))
}

/// Median of `values` without reordering them.
pub fn median(values: &[f64]) -> Option<f64> {
    median_in_place(&mut values.to_vec())
}

/// Mean and population standard deviation (ddof = 0), two-pass for accuracy.
pub fn mean_std(values: &[f64]) -> Option<(f64, f64)> {
    if values.is_empty() {
        return None;
    }
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n;
    Some((mean, var.sqrt()))
}

/// Median absolute deviation scaled to a Gaussian σ: 1.4826 × median(|x − median(x)|).
pub fn mad_std(values: &[f64]) -> Option<f64> {
    let m = median(values)?;
    let mut deviations: Vec<f64> = values.iter().map(|v| (v - m).abs()).collect();
    median_in_place(&mut deviations).map(|d| 1.482_602_218_505_602 * d)
}

/// Parameters of sigma clipping.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SigmaClip {
    /// Rejection threshold in standard deviations (both sides).
    pub sigma: f64,
    /// Largest number of passes.
    pub maxiters: usize,
}

impl Default for SigmaClip {
    /// 3σ, 10 passes: astropy's and photutils' defaults.
    fn default() -> Self {
        SigmaClip {
            sigma: 3.0,
            maxiters: 10,
        }
    }
}

/// Result of sigma clipping.
#[derive(Debug, Clone, PartialEq)]
pub struct ClippedStats {
    /// Median, mean and population standard deviation of the kept values.
    pub median: f64,
    pub mean: f64,
    pub std: f64,
    /// Values kept and values rejected (non-finite inputs count as rejected).
    pub n_kept: usize,
    pub n_rejected: usize,
    /// Passes made, and whether the last pass rejected nothing.
    pub iterations: usize,
    pub converged: bool,
}

impl SigmaClip {
    /// Clips `values` by the astropy rule; `None` when no finite value is given.
    pub fn apply(&self, values: &[f64]) -> Option<ClippedStats> {
        let mut kept: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
        let n_input = values.len();
        if kept.is_empty() {
            return None;
        }
        let mut iterations = 0;
        let mut converged = false;
        while iterations < self.maxiters {
            iterations += 1;
            let centre = median(&kept)?;
            let (_, std) = mean_std(&kept)?;
            let (low, high) = (centre - self.sigma * std, centre + self.sigma * std);
            let before = kept.len();
            kept.retain(|v| *v >= low && *v <= high);
            if kept.len() == before {
                converged = true;
                break;
            }
            if kept.is_empty() {
                return None;
            }
        }
        let (mean, std) = mean_std(&kept)?;
        Some(ClippedStats {
            median: median_in_place(&mut kept)?,
            mean,
            std,
            n_kept: kept.len(),
            n_rejected: n_input - kept.len(),
            iterations,
            converged,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_like_numpy() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), Some(2.5));
        assert_eq!(median(&[]), None);
        assert_eq!(mean_std(&[1.0, 3.0]), Some((2.0, 1.0)));
    }

    #[test]
    fn clipping_rejects_an_outlier_and_keeps_bounds_inclusive() {
        // Values 0..=9 and one outlier at 100: pass 1 has median 5 and std 27.6, so the upper
        // bound is 87.8 and 100 goes; pass 2 (median 4.5, std 2.87) rejects nothing.
        let mut values: Vec<f64> = (0..10).map(f64::from).collect();
        values.push(100.0);
        let stats = SigmaClip::default().apply(&values).unwrap();
        assert_eq!(stats.n_rejected, 1);
        assert_eq!(stats.median, 4.5);
        assert!(stats.converged);
        assert_eq!(stats.iterations, 2);
        // A value exactly on the bound is kept: {−1, 1} × n has median 0 and std 1, so at
        // σ = 1 both ±1 sit on the bounds.
        let stats = SigmaClip { sigma: 1.0, maxiters: 10 }
            .apply(&[-1.0, 1.0, -1.0, 1.0])
            .unwrap();
        assert_eq!(stats.n_kept, 4);
        assert!(SigmaClip::default().apply(&[f64::NAN]).is_none());
    }

    #[test]
    fn mad_std_of_a_symmetric_set() {
        let v = [1.0, 2.0, 3.0, 4.0, 5.0];
        assert!((mad_std(&v).unwrap() - 1.482_602_218_505_602).abs() < 1e-12);
    }
}
