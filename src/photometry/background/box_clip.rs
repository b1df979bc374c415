//! The statistics of one box of the background grid: its usable pixels, sigma-clipped by the
//! astropy rule as [`crate::stats::SigmaClip::apply`] computes it (median centre, population
//! σ, inclusive bounds, at most `maxiters` passes, each pass clipping the values the previous
//! one kept; the statistics are those of the values kept by the last pass).
//!
//! Method: the usable pixels are gathered as the integer keys of [`f32::total_cmp`] (one
//! branch-free pass over the box with the mask tests fused, into buffers reused from box to
//! box). The values a pass keeps are always a contiguous run of the values in ascending
//! order, so a pass needs only the median of the run (the value at its middle rank) and the
//! ranks of its new bounds (binary searches) — order statistics, not a sorted box. The keys
//! are therefore only bucketed (a counting sort by key range, [`Buckets`]: buckets about eight
//! values wide across the bulk of the box, from a sample of its keys, plus one bucket for
//! each tail), and a bucket is sorted only when one of its ranks is asked for: a clipping
//! touches a few dozen of a box's ~500 buckets. The σ of each pass comes from running sums
//! of the run, shifted by its median, from which each pass subtracts the few values it
//! rejects (recomputed from the run when the rejected values outweigh the kept ones, e.g.
//! bright stars, so that nothing is lost to cancellation) instead of summing the run again;
//! the mean and σ returned are computed from the final run itself (two passes). The kept
//! values and the median are those of a plain clipping of the sorted values; the mean and σ
//! differ from its only by the order of the summation. (SEP and photutils likewise clip a
//! box without copying it at each pass.)

use crate::stats::{unkey_f32, SigmaClip};

/// Buffers reused from box to box (one per worker thread).
#[derive(Debug, Default)]
pub(super) struct BoxScratch {
    /// Keys of the usable pixels of the current box in `keys[..len]`.
    keys: Vec<u32>,
    len: usize,
    /// The same keys, bucketed by [`BoxScratch::clip`].
    buckets: Buckets,
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
        self.buckets.fill(&self.keys[..self.len]);
        clip_bucketed(&mut self.buckets, clip)
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

/// Keys grouped into buckets of consecutive key ranges, in bucket order; a bucket is sorted
/// the first time one of its ranks is asked for ([`Buckets::at`]), so that `at(r)` is always
/// the key of rank `r` in ascending order and a run of ranks is a run of the buffer.
#[derive(Debug, Default)]
struct Buckets {
    /// The keys in `keys[..len]`.
    keys: Vec<u32>,
    len: usize,
    /// Bucket b holds `keys[start[b]..start[b + 1]]`.
    start: Vec<u32>,
    sorted: Vec<bool>,
}

/// Buckets per key of a box (about eight keys per bucket in the bulk of the box), and their
/// bounds.
const KEYS_PER_BUCKET: usize = 8;
const MIN_BUCKETS: usize = 64;
const MAX_BUCKETS: usize = 1024;
/// Keys sampled (evenly spaced) to place the buckets; the bulk of the buckets spans the
/// sample's second-lowest to second-highest key, the tails get one bucket each.
const SAMPLE: usize = 64;

impl Buckets {
    /// Buckets `keys` (a counting sort by bucket).
    fn fill(&mut self, keys: &[u32]) {
        let n = keys.len();
        // The buffers only grow: a box's keys are `self.keys[..n]`.
        if self.keys.len() < n {
            self.keys.resize(n, 0);
        }
        self.len = n;
        self.start.clear();
        self.sorted.clear();
        if n < 2 * SAMPLE {
            // Too few to be worth bucketing: one bucket.
            self.keys[..n].copy_from_slice(keys);
            self.start.extend([0, n as u32]);
            self.sorted.push(false);
            return;
        }
        let mut sample = [0u32; SAMPLE];
        let stride = n / SAMPLE;
        for (j, s) in sample.iter_mut().enumerate() {
            *s = keys[j * stride];
        }
        sample.sort_unstable();
        let (lo, hi) = (sample[1], sample[SAMPLE - 2]);
        let nb = (n / KEYS_PER_BUCKET)
            .next_power_of_two()
            .clamp(MIN_BUCKETS, MAX_BUCKETS);
        // Bucket 0: below `lo`; 1..nb − 1: `lo` onwards in steps of 2^shift keys, the last
        // one open-ended.
        let span = hi - lo;
        let mut shift = 0;
        while (span >> shift) as usize >= nb - 2 {
            shift += 1;
        }
        let bucket = |k: u32| -> usize {
            if k < lo {
                0
            } else {
                1 + (((k - lo) >> shift) as usize).min(nb - 2)
            }
        };
        // Local slices, so that the loops keep their bounds in registers. `start[b + 1]`
        // counts bucket b, then (prefix sums) ends it; the scatter fills each bucket from its
        // end down, which leaves `start[b]` at its first key.
        self.start.resize(nb + 1, 0);
        let start = &mut self.start[..];
        for &k in keys {
            start[bucket(k) + 1] += 1;
        }
        for b in 0..nb {
            start[b + 1] += start[b];
        }
        let out = &mut self.keys[..n];
        for &k in keys {
            let end = &mut start[bucket(k) + 1];
            *end -= 1;
            out[*end as usize] = k;
        }
        // Now start[b + 1] is the first key of bucket b: shift down by one.
        start.copy_within(1.., 0);
        start[nb] = n as u32;
        self.sorted.resize(nb, false);
    }

    fn len(&self) -> usize {
        self.len
    }

    /// The key of rank `rank` (< `len`) in ascending order.
    fn at(&mut self, rank: usize) -> u32 {
        let b = self.start.partition_point(|s| *s as usize <= rank) - 1;
        if !self.sorted[b] {
            self.keys[self.start[b] as usize..self.start[b + 1] as usize].sort_unstable();
            self.sorted[b] = true;
        }
        self.keys[rank]
    }

    /// The first rank in `lo..hi` whose value fails `pred` (`pred` true then false along
    /// the ranks), as `slice::partition_point`.
    fn partition_point(&mut self, lo: usize, hi: usize, pred: impl Fn(f64) -> bool) -> usize {
        let (mut l, mut h) = (lo, hi);
        while l < h {
            let m = l + (h - l) / 2;
            if pred(value(self.at(m))) {
                l = m + 1;
            } else {
                h = m;
            }
        }
        l
    }

    /// Median of the ranks `lo..hi` (the mean of the two middle values for an even count).
    fn median(&mut self, lo: usize, hi: usize) -> f64 {
        let n = hi - lo;
        let mid = lo + n / 2;
        if n % 2 == 1 {
            value(self.at(mid))
        } else {
            0.5 * (value(self.at(mid - 1)) + value(self.at(mid)))
        }
    }

    /// The keys of the ranks `lo..hi`, in no particular order (the buckets at both ends are
    /// sorted first, so that the slice holds exactly those ranks).
    fn ranks(&mut self, lo: usize, hi: usize) -> &[u32] {
        if lo < hi {
            self.at(lo);
            self.at(hi - 1);
        }
        &self.keys[lo..hi]
    }
}

/// The clipping of the module notes on bucketed keys of finite values.
fn clip_bucketed(keys: &mut Buckets, clip: &SigmaClip) -> Option<(f64, f64, f64)> {
    let (mut lo, mut hi) = (0, keys.len());
    if lo == hi {
        return None;
    }
    let centre = keys.median(lo, hi);
    let mut sums = ShiftedSums::of(&keys.keys[..hi], centre);
    for _ in 0..clip.maxiters {
        if lo == hi {
            return None;
        }
        let centre = keys.median(lo, hi);
        let std = sums.std(hi - lo);
        let (low, high) = (centre - clip.sigma * std, centre + clip.sigma * std);
        let new_lo = keys.partition_point(lo, hi, |v| v < low);
        let new_hi = keys.partition_point(new_lo, hi, |v| v <= high);
        if (new_lo, new_hi) == (lo, hi) {
            break;
        }
        if new_lo < new_hi {
            let removed = ShiftedSums::of(keys.ranks(lo, new_lo), sums.shift)
                .add(keys.ranks(new_hi, hi), sums.shift);
            let kept2 = sums.s2 - removed.s2;
            sums = if removed.s2 > kept2 {
                // Mostly outliers removed: sum the kept run again rather than cancel.
                let shift = keys.median(new_lo, new_hi);
                ShiftedSums::of(keys.ranks(new_lo, new_hi), shift)
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
    let median = keys.median(lo, hi);
    // The final mean and σ from the run itself (two passes).
    let run = keys.ranks(lo, hi);
    let n = run.len() as f64;
    let mean = run.iter().map(|k| value(*k)).sum::<f64>() / n;
    let var = run.iter().map(|k| (value(*k) - mean).powi(2)).sum::<f64>() / n;
    Some((median, mean, var.sqrt()))
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

    /// The same median (to the bit) and the same mean and σ up to the order of summation.
    fn same(a: Option<(f64, f64, f64)>, b: Option<(f64, f64, f64)>) -> bool {
        match (a, b) {
            (Some(a), Some(b)) => {
                let close = |x: f64, y: f64| (x - y).abs() <= 1e-12 * x.abs().max(y.abs());
                a.0.to_bits() == b.0.to_bits() && close(a.1, b.1) && close(a.2, b.2)
            }
            (None, None) => true,
            _ => false,
        }
    }

    /// The bucketed clipping with running sums gives the plain clipping's median and, but
    /// for rounding, its mean and σ: sky-like values with stars, cosmic rays, a huge outlier
    /// (the sums must be recomputed, not cancelled), NaNs, constant and tiny runs, various
    /// settings.
    #[test]
    fn clipping_the_bucketed_keys_equals_the_plain_clipping() {
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
                assert!(
                    same(got, expected),
                    "trial {trial} ({n} values, {clip:?}): {got:?} vs {expected:?}"
                );
            }
        }
        assert_eq!(clipped(&[f32::NAN], &SigmaClip::default()), None);
        let (m, _, s) = clipped(&[2.0; 10], &SigmaClip::default()).unwrap();
        assert_eq!((m, s), (2.0, 0.0));
    }

    /// Ranks of bucketed keys are those of the sorted keys, whatever the distribution
    /// (narrow, constant, integer-valued, two far clusters, heavy tails, sorted input).
    #[test]
    fn bucketed_ranks_are_the_sorted_order() {
        let mut rng = Pcg64::seed_from_u64(3);
        let normal = Normal::new(0.0, 1.0).unwrap();
        for trial in 0..24 {
            let n = [100, 128, 129, 1000, 4096, 9000][trial % 6];
            let mut values: Vec<f32> = (0..n)
                .map(|i| {
                    let g: f64 = normal.sample(&mut rng);
                    (match trial / 6 {
                        0 => 1000.0 + 30.0 * g,
                        1 => (500.0 + 5.0 * g).round(),
                        2 if i % 2 == 0 => -1e6 + g,
                        2 => 1e6 + g,
                        _ => g.powi(5) * 1e3,
                    }) as f32
                })
                .collect();
            if trial % 5 == 0 {
                values.sort_unstable_by(f32::total_cmp);
            }
            if trial == 7 {
                values.fill(3.25);
            }
            let keys: Vec<u32> = values.iter().map(|v| key_f32(*v)).collect();
            let mut sorted = keys.clone();
            sorted.sort_unstable();
            let mut buckets = Buckets::default();
            buckets.fill(&keys);
            // Ranks out of order, as the clipping asks for them.
            for r in (0..n).rev().step_by(7).chain(0..n) {
                assert_eq!(buckets.at(r), sorted[r], "trial {trial}, rank {r}");
            }
            // A run of ranks of freshly bucketed keys holds exactly those ranks.
            buckets.fill(&keys);
            let mut run = buckets.ranks(n / 3, n - 5).to_vec();
            run.sort_unstable();
            assert_eq!(run, sorted[n / 3..n - 5]);
        }
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
