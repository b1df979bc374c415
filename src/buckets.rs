//! Keys of [`f32::total_cmp`] ([`crate::stats::key_f32`]) grouped into buckets of key ranges
//! (a counting sort by bucket), for order statistics without a full sort: a bucket is sorted
//! only when one of its ranks is asked for. Used by the clipping of the background boxes
//! ([`crate::photometry::background`]) and of the whole-frame levels of the reduction
//! ([`crate::reduce::master`]).

use crate::stats::{key_f32, lane_sum, mean_std_of, std_interval_of, RankedSample};

/// The value of a key, branch-free ([`crate::stats::unkey_f32`]): a key with the top bit
/// set is a non-negative number with that bit flipped, any other key has every bit flipped.
#[inline]
pub(crate) fn value_f32(key: u32) -> f32 {
    let flip = !(((key as i32) >> 31) as u32) | 0x8000_0000;
    f32::from_bits(key ^ flip)
}

/// [`value_f32`] widened.
#[inline]
pub(crate) fn value(key: u32) -> f64 {
    f64::from(value_f32(key))
}

/// Keys grouped into buckets of consecutive key ranges, in bucket order; a bucket is sorted
/// the first time one of its ranks is asked for ([`Buckets::at`]), so that `at(r)` is always
/// the key of rank `r` in ascending order and a run of ranks is a run of the buffer.
#[derive(Debug, Default)]
pub(crate) struct Buckets {
    /// The keys in `keys[..len]`.
    keys: Vec<u32>,
    len: usize,
    /// The bucket of each key being bucketed, in the order of the keys (computed once, for
    /// the count and the scatter).
    of_key: Vec<u16>,
    /// Bucket b holds `keys[start[b]..start[b + 1]]`.
    start: Vec<u32>,
    sorted: Vec<bool>,
    /// Bucket of a key: 0 below `lo`, else `1 + min((key − lo) >> shift, start.len() − 3)`.
    lo: u32,
    shift: u32,
}

/// Buckets per key of a box (about eight keys per bucket in the bulk of the box), and their
/// bounds.
const KEYS_PER_BUCKET: usize = 8;
const MIN_BUCKETS: usize = 64;
const MAX_BUCKETS: usize = 1024;
// The bucket of a key is kept as a u16 (`Buckets::of_key`).
const _: () = assert!(MAX_BUCKETS <= 1 << 16);
/// Keys sampled (evenly spaced) to place the buckets; the bulk of the buckets spans the
/// sample's second-lowest to second-highest key, the tails get one bucket each.
const SAMPLE: usize = 64;

impl Buckets {
    /// Buckets `keys` (a counting sort by bucket).
    pub(crate) fn fill(&mut self, keys: &[u32]) {
        let n = keys.len();
        // The bucket bounds and counts are u32 (`start`): the SAFETY arguments below need
        // every count and prefix sum exact.
        assert!(u32::try_from(n).is_ok(), "more than u32::MAX keys");
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
        // The sample's second-lowest and second-highest keys (the two lowest and the two
        // highest kept in one pass, branch-free).
        let (mut low, mut high) = ([u32::MAX; 2], [u32::MIN; 2]);
        for &k in keys.iter().step_by(n / SAMPLE).take(SAMPLE) {
            low = [low[0].min(k), low[1].min(low[0].max(k))];
            high = [high[0].max(k), high[1].max(high[0].min(k))];
        }
        let (lo, hi) = (low[1], high[1]);
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
        (self.lo, self.shift) = (lo, shift);
        // The buckets of the keys first, in one branch-free pass that vectorises, then the
        // count and the scatter from them.
        if self.of_key.len() < n {
            self.of_key.resize(n, 0);
        }
        let of_key = &mut self.of_key[..n];
        for (b, &k) in of_key.iter_mut().zip(keys) {
            *b = bucket_of(k, lo, shift, nb) as u16;
        }
        // Local slices, so that the loops keep their bounds in registers. `start[b + 1]`
        // counts bucket b, then (prefix sums) ends it; the scatter fills each bucket from its
        // end down, which leaves `start[b]` at its first key.
        self.start.resize(nb + 1, 0);
        let start = &mut self.start[..];
        debug_assert!(of_key.iter().all(|b| usize::from(*b) < nb));
        for &b in of_key.iter() {
            // SAFETY: every bucket is below `nb` (`bucket_of`), and `start` has nb + 1 entries.
            unsafe { *start.get_unchecked_mut(usize::from(b) + 1) += 1 };
        }
        // The running sum kept in a register (not reloaded from the entry just stored).
        let mut end = 0;
        for s in &mut start[1..] {
            end += *s;
            *s = end;
        }
        let out = &mut self.keys[..n];
        for (&b, &k) in of_key.iter().zip(keys) {
            // SAFETY: the bucket is below `nb`, as above; `start[b + 1]` is the end of bucket b
            // (at most n) less the keys of the bucket already placed, and it is decremented
            // once per key of the bucket, so it stays within start[b]..n before each store.
            unsafe {
                let end = start.get_unchecked_mut(usize::from(b) + 1);
                *end -= 1;
                debug_assert!((*end as usize) < n);
                *out.get_unchecked_mut(*end as usize) = k;
            }
        }
        // Now start[b + 1] is the first key of bucket b: shift down by one.
        start.copy_within(1.., 0);
        start[nb] = n as u32;
        self.sorted.resize(nb, false);
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The bucket of `key`.
    fn bucket(&self, key: u32) -> usize {
        let nb = self.start.len() - 1;
        if nb == 1 {
            0
        } else {
            bucket_of(key, self.lo, self.shift, nb)
        }
    }

    /// Sorts bucket `b` if it is not yet.
    fn sort_bucket(&mut self, b: usize) {
        if !self.sorted[b] {
            self.keys[self.start[b] as usize..self.start[b + 1] as usize].sort_unstable();
            self.sorted[b] = true;
        }
    }

    /// The number of keys whose value satisfies `pred`, which holds on a prefix of the
    /// ascending order (then `count_while(..).clamp(lo, hi)` is the partition point of the
    /// ranks `lo..hi`). `near` is a key close to where `pred` turns false: the search starts
    /// in its bucket and steps to the neighbouring buckets while the answer lies beyond, so
    /// that it sorts one bucket or a few, whatever `near` is.
    pub(crate) fn count_while(&mut self, near: u32, pred: impl Fn(f64) -> bool) -> usize {
        let n = self.len;
        let mut b = self.bucket(near);
        loop {
            let (first, end) = (self.start[b] as usize, self.start[b + 1] as usize);
            if first > 0 && !pred(value(self.at(first - 1))) {
                b -= 1;
            } else if end < n && pred(value(self.at(end))) {
                b += 1;
            } else {
                self.sort_bucket(b);
                return first + self.keys[first..end].partition_point(|k| pred(value(*k)));
            }
        }
    }

    /// The key of rank `rank` (< `len`) in ascending order.
    pub(crate) fn at(&mut self, rank: usize) -> u32 {
        let b = self.start.partition_point(|s| *s as usize <= rank) - 1;
        self.sort_bucket(b);
        self.keys[rank]
    }

    /// Median of the ranks `lo..hi` (the mean of the two middle values for an even count).
    pub(crate) fn median(&mut self, lo: usize, hi: usize) -> f64 {
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
    pub(crate) fn ranks(&mut self, lo: usize, hi: usize) -> &[u32] {
        if lo < hi {
            self.at(lo);
            self.at(hi - 1);
        }
        &self.keys[lo..hi]
    }

    /// The keys in bucket order (each bucket sorted or not).
    pub(crate) fn keys(&self) -> &[u32] {
        &self.keys[..self.len]
    }

    /// The keys of the ranks `lo..hi` in ascending order (every bucket they touch sorted).
    pub(crate) fn sorted_ranks(&mut self, lo: usize, hi: usize) -> &[u32] {
        if lo < hi {
            let first = self.start.partition_point(|s| *s as usize <= lo) - 1;
            let last = self.start.partition_point(|s| (*s as usize) < hi) - 1;
            for b in first..=last {
                self.sort_bucket(b);
            }
        }
        &self.keys[lo..hi]
    }
}

/// Bucket of `key` among `nb` ≥ 2 buckets: 0 below `lo`, then steps of 2^`shift` keys
/// (`shift` < 32) from `lo`, the last bucket open-ended.
#[inline]
fn bucket_of(key: u32, lo: u32, shift: u32, nb: usize) -> usize {
    if key < lo {
        0
    } else {
        1 + (((key - lo) >> shift) as usize).min(nb - 2)
    }
}

/// The values of the keys, by rank, for the clipping of [`crate::stats::SigmaClip`]: the same
/// ranks, medians and in-order σ as the sorted values, the intervals summed over the keys of a
/// run in bucket order.
impl RankedSample for Buckets {
    fn len(&self) -> usize {
        self.len
    }

    fn middle(&mut self, lo: usize, hi: usize) -> f64 {
        self.median(lo, hi)
    }

    fn ranks(&mut self, lower: f64, upper: f64) -> (usize, usize) {
        (
            self.count_while(key_f32(lower as f32), |v| v < lower),
            self.count_while(key_f32(upper as f32), |v| v <= upper),
        )
    }

    fn std_interval(&mut self, lo: usize, hi: usize) -> Option<(f64, f64)> {
        let (least, most) = (value(self.at(lo)), value(self.at(hi - 1)));
        let keys = self.ranks(lo, hi);
        let sum = lane_sum(keys, value);
        // Σ|v| is ±Σv unless the run holds values of both signs.
        let abs_sum = if least >= 0.0 {
            sum
        } else if most <= 0.0 {
            -sum
        } else {
            lane_sum(keys, |k| value(k).abs())
        };
        std_interval_of(keys.len(), sum, abs_sum, |mean| {
            lane_sum(keys, |k| (value(k) - mean) * (value(k) - mean))
        })
    }

    fn std(&mut self, lo: usize, hi: usize) -> f64 {
        let keys = self.sorted_ranks(lo, hi);
        mean_std_of(keys.iter().map(|&k| value(k)), keys.len()).map_or(f64::NAN, |(_, std)| std)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_distr::{Distribution, Normal};
    use rand_pcg::Pcg64;

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
            // Freshly bucketed keys are in bucket order, each bucket holding its keys in reverse
            // order (the order in which the clipping sums them: it must not change).
            buckets.fill(&keys);
            let mut expected = keys.clone();
            if n >= 2 * SAMPLE {
                let nb = buckets.start.len() - 1;
                expected.reverse();
                expected.sort_by_key(|k| bucket_of(*k, buckets.lo, buckets.shift, nb));
            }
            assert_eq!(buckets.keys[..n], expected[..], "trial {trial}");
            // Sorted runs of ranks are those of the sorted keys.
            buckets.fill(&keys);
            for (lo, hi) in [(0, n), (n / 3, n - 5), (7, 8), (n - 1, n), (5, 5)] {
                assert_eq!(
                    buckets.sorted_ranks(lo, hi),
                    &sorted[lo..hi],
                    "trial {trial}"
                );
            }
            buckets.fill(&keys);
            // A run of ranks of freshly bucketed keys holds exactly those ranks.
            let mut run = buckets.ranks(n / 3, n - 5).to_vec();
            run.sort_unstable();
            assert_eq!(run, sorted[n / 3..n - 5]);
        }
    }

    /// The branch-free value of a key is [`crate::stats::unkey_f32`]'s.
    #[test]
    fn values_of_keys_round_trip() {
        for v in [
            0.0f32,
            -0.0,
            1.5,
            -1.5,
            f32::MAX,
            f32::MIN,
            f32::MIN_POSITIVE,
            -1e-40,
        ] {
            assert_eq!(value_f32(key_f32(v)).to_bits(), v.to_bits());
            assert_eq!(value_f32(key_f32(v)), crate::stats::unkey_f32(key_f32(v)));
        }
    }

    /// The count of keys below a bound, found from any starting key, is that of the sorted
    /// keys, and the buckets it sorts hold their ranks.
    #[test]
    fn counts_below_bounds_are_those_of_the_sorted_keys() {
        let mut rng = Pcg64::seed_from_u64(5);
        let normal = Normal::new(0.0, 1.0).unwrap();
        for n in [5, 127, 128, 1000, 4096] {
            let values: Vec<f32> = (0..n)
                .map(|i| {
                    (if i % 11 == 0 { 5e4 } else { 600.0 } + 25.0 * normal.sample(&mut rng)) as f32
                })
                .collect();
            let keys: Vec<u32> = values.iter().map(|v| key_f32(*v)).collect();
            let mut sorted: Vec<f64> = values.iter().map(|v| f64::from(*v)).collect();
            sorted.sort_unstable_by(f64::total_cmp);
            let mut buckets = Buckets::default();
            for bound in [-1e9, 500.0, 599.5, 600.0, 612.25, 700.0, 5e4, 1e9] {
                for near in [bound, bound - 40.0, bound + 3e4, -1e30, 1e30] {
                    buckets.fill(&keys);
                    let below = buckets.count_while(key_f32(near as f32), |v| v < bound);
                    let at_most = buckets.count_while(key_f32(near as f32), |v| v <= bound);
                    assert_eq!(
                        below,
                        sorted.partition_point(|v| *v < bound),
                        "{n} {bound} {near}"
                    );
                    assert_eq!(
                        at_most,
                        sorted.partition_point(|v| *v <= bound),
                        "{n} {bound} {near}"
                    );
                    for r in [below.saturating_sub(1), below.min(n - 1)] {
                        assert_eq!(value(buckets.at(r)), sorted[r]);
                    }
                }
            }
        }
    }

    #[test]
    fn buckets_of_constant_extreme_and_special_keys_are_the_sorted_order() {
        let specials = [
            f32::NAN,
            f32::INFINITY,
            f32::NEG_INFINITY,
            -0.0,
            0.0,
            f32::MAX,
            f32::MIN,
        ];
        for n in [128usize, 129, 300] {
            for case in 0..4 {
                let values: Vec<f32> = (0..n)
                    .map(|i| match case {
                        0 => 1.0,
                        1 => specials[i % specials.len()],
                        2 => {
                            if i % 2 == 0 {
                                f32::MIN
                            } else {
                                f32::MAX
                            }
                        }
                        _ => (n - i) as f32,
                    })
                    .collect();
                let keys: Vec<u32> = values.iter().map(|v| key_f32(*v)).collect();
                let mut sorted = keys.clone();
                sorted.sort_unstable();
                let mut b = Buckets::default();
                b.fill(&keys);
                for (r, &key) in sorted.iter().enumerate() {
                    assert_eq!(b.at(r), key, "n {n}, case {case}, rank {r}");
                }
                // Refill with fewer keys: buffers only grow.
                b.fill(&keys[..n / 2]);
                assert_eq!(b.keys().len(), n / 2);
            }
        }
    }
}
