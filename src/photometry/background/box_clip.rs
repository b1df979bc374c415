//! The statistics of one box of the background grid: its usable pixels, sigma-clipped by the
//! astropy rule as [`crate::stats::SigmaClip::apply`] computes it (median centre, population
//! σ, inclusive bounds, at most `maxiters` passes, each pass clipping the values the previous
//! one kept; the statistics are those of the values kept by the last pass).
//!
//! Method: the usable pixels are gathered as the integer keys of [`f32::total_cmp`] (one
//! branch-free pass over the box with the mask tests fused) and radix-sorted once
//! ([`crate::stats::sort_keys`], into buffers reused from box to box). The values a pass
//! keeps are then a contiguous run of the sorted keys, so each pass needs only the median of
//! the run (its middle key) and binary searches for the new bounds. The σ of each pass comes
//! from running sums of the run, shifted by its median, from which each pass subtracts the
//! few values it rejects (recomputed from the run when the rejected values outweigh the kept
//! ones, e.g. bright stars, so that no precision is lost to cancellation) instead of summing
//! the run again. The mean and σ returned are computed from the final run itself, by the
//! two passes of [`crate::stats::mean_std`] in ascending order, so they are the same numbers,
//! to the bit, as those of a straightforward clipping of the sorted values that recomputes
//! everything at each pass. (SEP and photutils likewise clip a box without copying it at
//! each pass.)

use crate::stats::{sort_keys, unkey_f32, SigmaClip};

/// Buffers reused from box to box (one per worker thread).
#[derive(Debug, Default)]
pub(super) struct BoxScratch {
    /// Keys of the usable pixels of the current box in `keys[..len]`; sorted by
    /// [`BoxScratch::clip`].
    keys: Vec<u32>,
    len: usize,
    /// The second buffer of the radix sort.
    sort: Vec<u32>,
    /// Rows of "no flag" and "not excluded" for images without a mask.
    no_bits: Vec<u8>,
    no_exclusion: Vec<bool>,
}

/// One row of a box: pixel values with their mask flags and exclusions (`None` = none).
pub(super) struct BoxRow<'a> {
    pub values: &'a [f32],
    pub bits: Option<&'a [u8]>,
    pub excluded: Option<&'a [bool]>,
}

impl BoxScratch {
    /// Starts a box of at most `capacity` pixels.
    pub fn start(&mut self, capacity: usize) {
        if self.keys.len() < capacity {
            self.keys.resize(capacity, 0);
        }
        self.len = 0;
    }

    /// Adds the usable pixels of one row: finite, without any of `excluded_flags`, not
    /// excluded. The box's rows must not exceed the capacity given to [`BoxScratch::start`].
    pub fn add_row(&mut self, row: BoxRow<'_>, excluded_flags: u8) {
        let n = row.values.len();
        if self.no_bits.len() < n {
            self.no_bits.resize(n, 0);
            self.no_exclusion.resize(n, false);
        }
        let bits = row.bits.unwrap_or(&self.no_bits[..n]);
        let excluded = row.excluded.unwrap_or(&self.no_exclusion[..n]);
        // Branch-free: every pixel is written, and the end advances over the usable ones.
        let out = &mut self.keys[self.len..self.len + n];
        let mut len = 0;
        for ((&v, &b), &e) in row.values.iter().zip(bits).zip(excluded) {
            out[len] = crate::stats::key_f32(v);
            let usable = v.is_finite() & (b & excluded_flags == 0) & !e;
            len += usize::from(usable);
        }
        self.len += len;
    }

    /// Number of usable pixels gathered.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Sigma-clips the gathered pixels (see the module notes): the median, mean and
    /// population σ of the kept values, `None` when none is left.
    pub fn clip(&mut self, clip: &SigmaClip) -> Option<(f64, f64, f64)> {
        let keys = &mut self.keys[..self.len];
        sort_keys(keys, &mut self.sort);
        clip_sorted_keys(keys, clip)
    }
}

/// Running sums of the values of a run, shifted by `shift`: Σ(x − shift), Σ(x − shift)².
#[derive(Debug, Clone, Copy)]
struct ShiftedSums {
    shift: f64,
    s1: f64,
    s2: f64,
}

impl ShiftedSums {
    fn of(keys: &[u32], shift: f64) -> ShiftedSums {
        // Four accumulators, so that the additions do not wait on each other.
        let (mut s1, mut s2) = ([0.0f64; 4], [0.0f64; 4]);
        let chunks = keys.chunks_exact(4);
        let rest = chunks.remainder();
        for q in chunks {
            for j in 0..4 {
                let d = value(q[j]) - shift;
                s1[j] += d;
                s2[j] += d * d;
            }
        }
        for (j, &k) in rest.iter().enumerate() {
            let d = value(k) - shift;
            s1[j] += d;
            s2[j] += d * d;
        }
        ShiftedSums {
            shift,
            s1: s1.iter().sum(),
            s2: s2.iter().sum(),
        }
    }

    /// Population σ of the `n` values summed.
    fn std(&self, n: usize) -> f64 {
        let n = n as f64;
        let m = self.s1 / n;
        (self.s2 / n - m * m).max(0.0).sqrt()
    }
}

#[inline]
fn value(key: u32) -> f64 {
    f64::from(unkey_f32(key))
}

/// Median of a sorted run of keys (the mean of the two middle values for an even count).
fn median_of(run: &[u32]) -> f64 {
    let n = run.len();
    if n % 2 == 1 {
        value(run[n / 2])
    } else {
        0.5 * (value(run[n / 2 - 1]) + value(run[n / 2]))
    }
}

/// The clipping of the module notes on keys of finite values sorted in ascending order.
pub(super) fn clip_sorted_keys(keys: &[u32], clip: &SigmaClip) -> Option<(f64, f64, f64)> {
    let (mut lo, mut hi) = (0, keys.len());
    if lo == hi {
        return None;
    }
    let mut sums = ShiftedSums::of(keys, median_of(keys));
    for _ in 0..clip.maxiters {
        if lo == hi {
            return None;
        }
        let run = &keys[lo..hi];
        let centre = median_of(run);
        let std = sums.std(run.len());
        let (low, high) = (centre - clip.sigma * std, centre + clip.sigma * std);
        let new_lo = lo + run.partition_point(|k| value(*k) < low);
        let new_hi = lo + run.partition_point(|k| value(*k) <= high);
        if (new_lo, new_hi) == (lo, hi) {
            break;
        }
        if new_lo < new_hi {
            let removed =
                ShiftedSums::of(&keys[lo..new_lo], sums.shift).add(&keys[new_hi..hi], sums.shift);
            let kept2 = sums.s2 - removed.s2;
            sums = if removed.s2 > kept2 {
                // Mostly outliers removed: sum the kept run again rather than cancel.
                let kept = &keys[new_lo..new_hi];
                ShiftedSums::of(kept, median_of(kept))
            } else {
                ShiftedSums {
                    shift: sums.shift,
                    s1: sums.s1 - removed.s1,
                    s2: kept2,
                }
            };
        }
        (lo, hi) = (new_lo, new_hi);
    }
    if lo == hi {
        return None;
    }
    // The final statistics from the run itself, as `stats::mean_std` of the widened values.
    let run = &keys[lo..hi];
    let n = run.len() as f64;
    let mean = run.iter().map(|k| value(*k)).sum::<f64>() / n;
    let var = run.iter().map(|k| (value(*k) - mean).powi(2)).sum::<f64>() / n;
    Some((median_of(run), mean, var.sqrt()))
}

impl ShiftedSums {
    /// These sums plus those of `keys` (same shift).
    fn add(self, keys: &[u32], shift: f64) -> ShiftedSums {
        let more = ShiftedSums::of(keys, shift);
        ShiftedSums {
            shift,
            s1: self.s1 + more.s1,
            s2: self.s2 + more.s2,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::{key_f32, mean_std, median};
    use rand::SeedableRng;
    use rand_distr::{Distribution, Normal};
    use rand_pcg::Pcg64;

    /// The clipping of the module notes, written plainly: the finite values, sorted, and at
    /// each pass the median, mean and σ of the values still kept computed from scratch, then
    /// the values outside the bounds dropped.
    pub(crate) fn clip_reference(values: &[f32], clip: &SigmaClip) -> Option<(f64, f64, f64)> {
        let mut kept: Vec<f64> = values
            .iter()
            .filter(|v| v.is_finite())
            .map(|v| f64::from(*v))
            .collect();
        kept.sort_unstable_by(f64::total_cmp);
        for _ in 0..clip.maxiters {
            if kept.is_empty() {
                return None;
            }
            let centre = median(&kept)?;
            let (_, std) = mean_std(&kept)?;
            let (low, high) = (centre - clip.sigma * std, centre + clip.sigma * std);
            let before = kept.len();
            kept.retain(|v| *v >= low && *v <= high);
            if kept.len() == before {
                break;
            }
        }
        let (mean, std) = mean_std(&kept)?;
        Some((median(&kept)?, mean, std))
    }

    fn clipped(values: &[f32], clip: &SigmaClip) -> Option<(f64, f64, f64)> {
        let mut scratch = BoxScratch::default();
        scratch.start(values.len());
        scratch.add_row(
            BoxRow {
                values,
                bits: None,
                excluded: None,
            },
            0,
        );
        scratch.clip(clip)
    }

    fn bits(r: Option<(f64, f64, f64)>) -> Option<[u64; 3]> {
        r.map(|(a, b, c)| [a.to_bits(), b.to_bits(), c.to_bits()])
    }

    /// The sorted-run clipping with running sums gives the plain clipping's median, mean and
    /// σ to the bit: sky-like values with stars, cosmic rays, a huge outlier (the sums must
    /// be recomputed, not cancelled), NaNs, constant and tiny runs, various settings.
    #[test]
    fn clipping_the_sorted_keys_equals_the_plain_clipping() {
        let mut rng = Pcg64::seed_from_u64(8);
        let sky = Normal::new(600.0, 25.0).unwrap();
        let settings = [
            SigmaClip::default(),
            SigmaClip {
                sigma: 2.0,
                maxiters: 3,
            },
            SigmaClip {
                sigma: 1.5,
                maxiters: 1,
            },
            SigmaClip {
                sigma: 3.0,
                maxiters: 0,
            },
        ];
        for trial in 0..60 {
            let n = [0, 1, 2, 3, 57, 64, 1000, 4096, 6144][trial % 9];
            let mut values: Vec<f32> = (0..n)
                .map(|i| {
                    let v = sky.sample(&mut rng) as f32;
                    match (i + trial) % (5 + trial % 13) {
                        0 => v + 2000.0 * (1 + trial % 4) as f32, // star
                        1 if trial % 3 == 0 => -v,                // a cold region
                        _ => v,
                    }
                })
                .collect();
            if n > 10 && trial % 4 == 1 {
                values[3] = 3.0e30;
                values[5] = f32::NAN;
            }
            if n > 10 && trial % 6 == 2 {
                values.iter_mut().take(n / 2).for_each(|v| *v = 612.5);
            }
            for clip in &settings {
                let expected = clip_reference(&values, clip);
                let got = clipped(&values, clip);
                assert_eq!(
                    bits(got),
                    bits(expected),
                    "trial {trial} ({n} values, {clip:?}): {got:?} vs {expected:?}"
                );
            }
        }
        assert_eq!(clipped(&[f32::NAN], &SigmaClip::default()), None);
        let (m, _, s) = clipped(&[2.0; 10], &SigmaClip::default()).unwrap();
        assert_eq!((m, s), (2.0, 0.0));
    }

    /// The plain clipping is the astropy rule of [`SigmaClip::apply`].
    #[test]
    fn the_plain_clipping_is_the_astropy_rule() {
        let mut rng = Pcg64::seed_from_u64(11);
        let n = Normal::new(100.0, 5.0).unwrap();
        for trial in 0..20 {
            let mut values: Vec<f32> = (0..3000).map(|_| n.sample(&mut rng) as f32).collect();
            for (k, v) in values.iter_mut().take(trial * 20).enumerate() {
                *v += 50.0 + 10.0 * k as f32;
            }
            values[7] = f32::NAN;
            let widened: Vec<f64> = values.iter().map(|v| f64::from(*v)).collect();
            for clip in [
                SigmaClip::default(),
                SigmaClip {
                    sigma: 2.0,
                    maxiters: 3,
                },
            ] {
                let reference = clip.apply(&widened).unwrap();
                let (median, mean, std) = clip_reference(&values, &clip).unwrap();
                assert_eq!(median, reference.median);
                assert!(
                    (mean - reference.mean).abs() < 1e-10 && (std - reference.std).abs() < 1e-10
                );
            }
        }
    }

    /// Masked, excluded and non-finite pixels are left out, whatever the row's layout.
    #[test]
    fn rows_keep_only_usable_pixels() {
        let values = [1.0, f32::NAN, 3.0, 4.0, f32::INFINITY, 6.0, 7.0];
        let bits = [0u8, 0, 2, 0, 0, 1, 0];
        let excluded = [false, false, false, true, false, false, false];
        let mut scratch = BoxScratch::default();
        scratch.start(14);
        scratch.add_row(
            BoxRow {
                values: &values,
                bits: Some(&bits),
                excluded: Some(&excluded),
            },
            2,
        );
        scratch.add_row(
            BoxRow {
                values: &values[..3],
                bits: None,
                excluded: None,
            },
            2,
        );
        let mut keys = scratch.keys[..scratch.len].to_vec();
        keys.sort_unstable();
        let expected: Vec<u32> = [1.0f32, 1.0, 3.0, 6.0, 7.0]
            .iter()
            .map(|v| key_f32(*v))
            .collect();
        assert_eq!(keys, expected);
        assert_eq!(scratch.len(), 5);
    }
}
