//! The statistics of one box of the background grid: its usable pixels, sigma-clipped by the
//! astropy rule as [`crate::stats::SigmaClip::apply`] computes it (median centre, population
//! σ, inclusive bounds, at most `maxiters` passes, each pass clipping the values the previous
//! one kept; the statistics are those of the values kept by the last pass).
//!
//! Method: the usable pixels are gathered as the integer keys of [`f32::total_cmp`] (a plain
//! conversion of a row segment, or else of a chunk of it, whose pixels are all usable, else one
//! branch-free pass with the mask tests fused, into buffers reused from band to band), a band of
//! boxes at a time: each image row of the band is read once, in order, and its segments appended to
//! their boxes. The values a pass keeps are always a contiguous run of the values in ascending
//! order, so a pass needs only the median of the run (the value at its middle rank) and the ranks
//! of its new bounds — order statistics, not a sorted box. The keys are therefore only bucketed (a
//! counting sort by key range, [`Buckets`]: buckets about eight values wide across the bulk of the
//! box, from a sample of its keys, plus one bucket for each tail; the bucket of each key is
//! computed once, in a pass that vectorises, for the count and the scatter), and a bucket is sorted
//! only when one of its ranks is asked for: a clipping touches a few of a box's ~500 buckets: the
//! rank of a bound is found in the bucket of the bound's key (or a neighbour), not by a binary
//! search over the ranks. The σ of each pass comes from running sums of the run, shifted by its
//! median, from which each pass subtracts the few values it rejects (recomputed from the run when
//! the rejected values outweigh the kept ones, e.g. bright stars, so that nothing is lost to
//! cancellation) instead of summing the run again; the mean and σ returned are computed from the
//! final run itself, as sums shifted by its median (one pass; |mean − median| ≤ σ, so that Σ(x −
//! median)²/n ≤ 2σ² loses nothing to cancellation). The kept values and the median are those of a
//! plain clipping of the sorted values; the mean and σ differ from its only by the order of the
//! summation. (SEP and photutils likewise clip a box without copying it at each pass.) The boxes
//! of a band are clipped two at a time, each by its own steps, the sums over all of a box's
//! values (the first pass's and the final ones) made for both boxes in one loop: each lane's
//! additions wait on its previous one and do little else, so that the second box's additions
//! run in those waits (the sums' share of the CPU ~8.6 → ~5.3 %).

use crate::buckets::{value, value_f32, Buckets};
use crate::stats::{key_f32, SigmaClip};

/// Buffers of one band of boxes (a row of boxes of the grid), reused from band to band (one
/// per worker thread): the band's image rows are read once, in order, each row's segments
/// appended to their boxes' keys, and then each box is clipped.
#[derive(Debug, Default)]
pub(super) struct BandScratch {
    /// Keys of the usable pixels of box i in `keys[i * capacity..][..lens[i]]`.
    keys: Vec<u32>,
    lens: Vec<usize>,
    capacity: usize,
    /// The keys of the two boxes being clipped together, bucketed.
    buckets: [Buckets; 2],
    /// Rows of "no flag" and "not excluded" for images without a mask.
    no_bits: Vec<u8>,
    no_exclusion: Vec<bool>,
}

/// One image row across a band: pixel values with their mask flags and exclusions
/// (`None` = none).
pub(super) struct BoxRow<'a> {
    pub values: &'a [f32],
    pub bits: Option<&'a [u8]>,
    pub excluded: Option<&'a [bool]>,
}

impl BandScratch {
    /// Starts a band of `boxes` boxes of at most `capacity` pixels each.
    pub fn start(&mut self, boxes: usize, capacity: usize) {
        if self.keys.len() < boxes * capacity {
            self.keys.resize(boxes * capacity, 0);
        }
        self.lens.clear();
        self.lens.resize(boxes, 0);
        self.capacity = capacity;
    }

    /// Adds the usable pixels of one image row (finite, without any of `excluded_flags`, not
    /// excluded): the pixels of `edges[i]` (a `[start, end)` range of columns) to box i. A
    /// box's rows must not exceed the capacity given to [`BandScratch::start`].
    pub fn add_row(&mut self, row: BoxRow<'_>, edges: &[(usize, usize)], excluded_flags: u8) {
        let n = row.values.len();
        if self.no_bits.len() < n {
            self.no_bits.resize(n, 0);
            self.no_exclusion.resize(n, false);
        }
        let bits = row.bits.unwrap_or(&self.no_bits[..n]);
        let excluded = row.excluded.unwrap_or(&self.no_exclusion[..n]);
        for (i, &(x0, x1)) in edges.iter().enumerate() {
            let at = i * self.capacity + self.lens[i];
            self.lens[i] += append_usable(
                &mut self.keys[at..at + (x1 - x0)],
                &row.values[x0..x1],
                &bits[x0..x1],
                &excluded[x0..x1],
                excluded_flags,
            );
        }
    }

    /// Number of usable pixels gathered in box `i`.
    pub fn len(&self, i: usize) -> usize {
        self.lens[i]
    }

    /// Sigma-clips the pixels gathered in each of `boxes` (see the module notes): the median,
    /// mean and population σ of the kept values, `None` when none is left; in the order of
    /// `boxes`. The boxes are clipped two at a time ([`clip_two`]).
    pub fn clip_boxes(
        &mut self,
        boxes: &[usize],
        clip: &SigmaClip,
    ) -> Vec<Option<(f64, f64, f64)>> {
        let mut clipped = Vec::with_capacity(boxes.len());
        for pair in boxes.chunks(2) {
            let (keys, lens, capacity) = (&self.keys, &self.lens, self.capacity);
            let gathered = |i: usize| &keys[i * capacity..i * capacity + lens[i]];
            let [a, b] = &mut self.buckets;
            a.fill(gathered(pair[0]));
            // A last box alone is paired with an empty one.
            b.fill(pair.get(1).map_or(&[][..], |&i| gathered(i)));
            let [first, second] = clip_two([a, b], clip);
            clipped.push(first);
            if pair.len() == 2 {
                clipped.push(second);
            }
        }
        clipped
    }
}

/// Writes the keys of the usable pixels among `values` (finite, without any of
/// `excluded_flags`, not `excluded`) to the start of `out` (as long as `values`), and returns
/// their number. When every pixel is usable (most segments), the keys are all written in one
/// map that vectorises; otherwise the same is done a chunk of [`CHUNK`] pixels at a time (the
/// unusable pixels of a segment mostly come in runs, a star's footprint, a bad column), and a
/// chunk with both kinds of pixels is compacted branch-free: every pixel is written, and the
/// end advances over the usable ones.
fn append_usable(
    out: &mut [u32],
    values: &[f32],
    bits: &[u8],
    excluded: &[bool],
    excluded_flags: u8,
) -> usize {
    if all_usable(values, bits, excluded, excluded_flags) {
        return append_keys(out, values);
    }
    let mut len = 0;
    for ((values, bits), excluded) in values
        .chunks(CHUNK)
        .zip(bits.chunks(CHUNK))
        .zip(excluded.chunks(CHUNK))
    {
        // The chunk's pixels go to `out[len..]`, at or before their own place.
        let out = &mut out[len..len + values.len()];
        len += if all_usable(values, bits, excluded, excluded_flags) {
            append_keys(out, values)
        } else {
            let mut n = 0;
            for ((&v, &b), &e) in values.iter().zip(bits).zip(excluded) {
                out[n] = key_f32(v);
                let usable = v.is_finite() & (b & excluded_flags == 0) & !e;
                n += usize::from(usable);
            }
            n
        };
    }
    len
}

/// Pixels of a row segment that [`append_usable`] tests together.
const CHUNK: usize = 16;

/// Whether every pixel is usable (as in [`append_usable`]): reductions that vectorise.
#[inline]
fn all_usable(values: &[f32], bits: &[u8], excluded: &[bool], excluded_flags: u8) -> bool {
    // Non-finite values are those whose exponent bits are all set.
    let all_finite = values
        .iter()
        .fold(0, |m, v| m.max(v.to_bits() & 0x7fff_ffff))
        < 0x7f80_0000;
    let no_flag = bits.iter().fold(0, |m, b| m | b) & excluded_flags == 0;
    let none_excluded = excluded.iter().fold(0, |m, e| m | u8::from(*e)) == 0;
    all_finite & no_flag & none_excluded
}

/// Writes the keys of all `values` to the start of `out`, and returns their number.
#[inline]
fn append_keys(out: &mut [u32], values: &[f32]) -> usize {
    for (o, &v) in out.iter_mut().zip(values) {
        *o = key_f32(v);
    }
    values.len()
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
        LaneSums::default().then(keys, shift)
    }

    /// The sums of two runs, each [`ShiftedSums::of`] to the bit: their blocks are summed
    /// in one loop while both have some. Each lane's additions wait on the previous one
    /// (3–4 cycles) and do little else, so that a second run's additions come almost free.
    fn of_two(a: &[u32], shift_a: f64, b: &[u32], shift_b: f64) -> [ShiftedSums; 2] {
        let common = a.len().min(b.len()) / BLOCK * BLOCK;
        let (mut sa, mut sb) = (LaneSums::default(), LaneSums::default());
        for (ka, kb) in a[..common]
            .chunks_exact(BLOCK)
            .zip(b[..common].chunks_exact(BLOCK))
        {
            sa.add_block(ka, shift_a);
            sb.add_block(kb, shift_b);
        }
        [
            sa.then(&a[common..], shift_a),
            sb.then(&b[common..], shift_b),
        ]
    }

    /// Population σ of the `n` values summed.
    fn std(&self, n: usize) -> f64 {
        let n = n as f64;
        let m = self.s1 / n;
        (self.s2 / n - m * m).max(0.0).sqrt()
    }
}

/// Accumulators of [`ShiftedSums::of`], and the keys it turns into values at a time.
const LANES: usize = 8;
const BLOCK: usize = 64;

/// The running sums of [`ShiftedSums::of`]: LANES independent accumulators, so that the
/// additions do not wait on each other; lane j sums the values j, j + LANES, … of a run.
#[derive(Debug, Default, Clone, Copy)]
struct LaneSums {
    s1: [f64; LANES],
    s2: [f64; LANES],
}

impl LaneSums {
    /// Adds a block of BLOCK keys, turned into values first (integer operations the compiler
    /// vectorises), then summed.
    #[inline(always)]
    fn add_block(&mut self, keys: &[u32], shift: f64) {
        let mut block = [0f32; BLOCK];
        for (v, k) in block.iter_mut().zip(keys) {
            *v = value_f32(*k);
        }
        for q in block.chunks_exact(LANES) {
            for ((v, s1), s2) in q.iter().zip(&mut self.s1).zip(&mut self.s2) {
                let d = f64::from(*v) - shift;
                *s1 += d;
                *s2 += d * d;
            }
        }
    }

    /// The sums of the values added so far and then those of `keys` (the run continued from
    /// a multiple of BLOCK keys).
    fn then(mut self, keys: &[u32], shift: f64) -> ShiftedSums {
        let blocks = keys.chunks_exact(BLOCK);
        let rest = blocks.remainder();
        for keys in blocks {
            self.add_block(keys, shift);
        }
        for (j, &k) in rest.iter().enumerate() {
            let d = value(k) - shift;
            self.s1[j % LANES] += d;
            self.s2[j % LANES] += d * d;
        }
        ShiftedSums {
            shift,
            s1: self.s1.iter().sum(),
            s2: self.s2.iter().sum(),
        }
    }
}

/// The clipping of the module notes on the bucketed keys of finite values of two boxes: each
/// box's steps as if clipped alone, with the sums over all of a box's values (the first and
/// the last) made for both boxes at once ([`ShiftedSums::of_two`]).
fn clip_two(boxes: [&mut Buckets; 2], clip: &SigmaClip) -> [Option<(f64, f64, f64)>; 2] {
    let [a, b] = boxes;
    let centre = |keys: &mut Buckets| match keys.len() {
        0 => 0.0,
        n => keys.median(0, n),
    };
    let (centre_a, centre_b) = (centre(a), centre(b));
    let [sums_a, sums_b] = ShiftedSums::of_two(a.keys(), centre_a, b.keys(), centre_b);
    let kept = |keys: &mut Buckets, sums| match keys.len() {
        0 => None,
        _ => clip_passes(keys, sums, clip).map(|(lo, hi)| (lo, hi, keys.median(lo, hi))),
    };
    let (kept_a, kept_b) = (kept(a, sums_a), kept(b, sums_b));
    // The final mean and σ from each run itself (two passes).
    let ((run_a, median_a), (run_b, median_b)) = (final_run(a, kept_a), final_run(b, kept_b));
    let [final_a, final_b] = ShiftedSums::of_two(run_a, median_a, run_b, median_b);
    let statistics = |kept: Option<(usize, usize, f64)>, sums: ShiftedSums| {
        kept.map(|(lo, hi, median)| {
            let n = (hi - lo) as f64;
            let offset = sums.s1 / n;
            (
                median,
                median + offset,
                (sums.s2 / n - offset * offset).max(0.0).sqrt(),
            )
        })
    };
    [statistics(kept_a, final_a), statistics(kept_b, final_b)]
}

/// The keys of a box's final run `lo..hi` with its median (none when nothing is kept).
fn final_run(keys: &mut Buckets, kept: Option<(usize, usize, f64)>) -> (&[u32], f64) {
    match kept {
        Some((lo, hi, median)) => (keys.ranks(lo, hi), median),
        None => (&[], 0.0),
    }
}

/// The passes of the clipping of the module notes on bucketed keys (at least one), from the
/// sums of all of them shifted by their median: the ranks `lo..hi` of the final run, `None`
/// when no value is left.
fn clip_passes(
    keys: &mut Buckets,
    mut sums: ShiftedSums,
    clip: &SigmaClip,
) -> Option<(usize, usize)> {
    let (mut lo, mut hi) = (0, keys.len());
    for _ in 0..clip.maxiters {
        if lo == hi {
            return None;
        }
        let centre = keys.median(lo, hi);
        let std = sums.std(hi - lo);
        let (low, high) = (centre - clip.sigma * std, centre + clip.sigma * std);
        let new_lo = keys
            .count_while(key_f32(low as f32), |v| v < low)
            .clamp(lo, hi);
        let new_hi = keys
            .count_while(key_f32(high as f32), |v| v <= high)
            .clamp(new_lo, hi);
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
    (lo < hi).then_some((lo, hi))
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
    use rand::{Rng, SeedableRng};
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
        let mut scratch = BandScratch::default();
        scratch.start(1, values.len());
        scratch.add_row(
            BoxRow {
                values,
                bits: None,
                excluded: None,
            },
            &[(0, values.len())],
            0,
        );
        scratch.clip_boxes(&[0], clip)[0]
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

    /// Masked, excluded and non-finite pixels are left out, whatever the row's layout, and
    /// each row's segments go to their own boxes.
    #[test]
    fn rows_keep_only_usable_pixels() {
        let values = [1.0, f32::NAN, 3.0, 4.0, f32::INFINITY, 6.0, 7.0];
        let bits = [0u8, 0, 2, 0, 0, 1, 0];
        let excluded = [false, false, false, true, false, false, false];
        let edges = [(0, 3), (3, 7)];
        let mut scratch = BandScratch::default();
        scratch.start(2, 8);
        scratch.add_row(
            BoxRow {
                values: &values,
                bits: Some(&bits),
                excluded: Some(&excluded),
            },
            &edges,
            2,
        );
        scratch.add_row(
            BoxRow {
                values: &values,
                bits: None,
                excluded: None,
            },
            &edges,
            2,
        );
        let gathered = |scratch: &BandScratch, i: usize| -> Vec<u32> {
            let at = i * scratch.capacity;
            let mut keys = scratch.keys[at..at + scratch.len(i)].to_vec();
            keys.sort_unstable();
            keys
        };
        let keys = |values: &[f32]| -> Vec<u32> { values.iter().map(|v| key_f32(*v)).collect() };
        assert_eq!(gathered(&scratch, 0), keys(&[1.0, 1.0, 3.0]));
        assert_eq!(gathered(&scratch, 1), keys(&[4.0, 6.0, 6.0, 7.0, 7.0]));
        assert_eq!((scratch.len(0), scratch.len(1)), (3, 5));
        // A new band starts empty.
        scratch.start(2, 8);
        assert_eq!((scratch.len(0), scratch.len(1)), (0, 0));
    }

    /// The usable pixels appended are those of a plain filter, in order, whether a segment is
    /// all usable (the fast path) or not: random segments with sparse non-finite, flagged and
    /// excluded pixels.
    #[test]
    fn appended_keys_are_the_usable_pixels_in_order() {
        let mut rng = Pcg64::seed_from_u64(12);
        let normal = Normal::new(600.0, 25.0).unwrap();
        for trial in 0..400 {
            let n = [0, 1, 7, 31, 64, 65, 200][trial % 7];
            // From no unusable pixel at all to about one in ten.
            let rate = [0, 1, 5, 20, 100][trial % 5];
            let odd = |rng: &mut Pcg64| rng.random_range(0..1000) < rate;
            let values: Vec<f32> = (0..n)
                .map(|i| {
                    let v = normal.sample(&mut rng) as f32;
                    match i % 3 {
                        _ if !odd(&mut rng) => v,
                        0 => f32::NAN,
                        1 => f32::INFINITY,
                        _ => f32::NEG_INFINITY,
                    }
                })
                .collect();
            let bits: Vec<u8> = (0..n)
                .map(|_| if odd(&mut rng) { 1 << (trial % 8) } else { 0 })
                .collect();
            let mut excluded: Vec<bool> = (0..n).map(|_| odd(&mut rng)).collect();
            if trial % 4 == 3 {
                // A run, as a star's footprint.
                excluded[n / 3..n / 2].fill(true);
            }
            let flags = [0u8, 0b1010_0101, 0xff][trial % 3];
            let expected: Vec<u32> = (0..n)
                .filter(|&i| values[i].is_finite() && bits[i] & flags == 0 && !excluded[i])
                .map(|i| key_f32(values[i]))
                .collect();
            let mut out = vec![0u32; n];
            let len = append_usable(&mut out, &values, &bits, &excluded, flags);
            assert_eq!(out[..len], expected[..], "trial {trial}");
        }
    }

    /// Boxes clipped two at a time give, to the bit, what each gives clipped alone: boxes of
    /// various sizes (empty, below and above a block of the sums, uneven pairs), with stars,
    /// in pairs and with a last box alone.
    #[test]
    fn boxes_clipped_in_pairs_equal_boxes_clipped_alone() {
        let mut rng = Pcg64::seed_from_u64(21);
        let sky = Normal::new(600.0, 25.0).unwrap();
        let sizes = [4096, 1, 0, 130, 64, 4000, 6144, 63, 2048, 5];
        let values: Vec<Vec<f32>> = sizes
            .iter()
            .enumerate()
            .map(|(b, &n)| {
                (0..n)
                    .map(|i| {
                        let v = sky.sample(&mut rng) as f32;
                        if (i + b) % (7 + b) == 0 {
                            v + 3000.0
                        } else {
                            v
                        }
                    })
                    .collect()
            })
            .collect();
        let capacity = 6144;
        let mut scratch = BandScratch::default();
        scratch.start(sizes.len(), capacity);
        let mut row = vec![f32::NAN; sizes.len() * capacity];
        let edges: Vec<(usize, usize)> = (0..sizes.len())
            .map(|b| (b * capacity, (b + 1) * capacity))
            .collect();
        for (b, v) in values.iter().enumerate() {
            row[b * capacity..][..v.len()].copy_from_slice(v);
        }
        scratch.add_row(
            BoxRow {
                values: &row,
                bits: None,
                excluded: None,
            },
            &edges,
            0,
        );
        let bits =
            |c: Option<(f64, f64, f64)>| c.map(|(m, a, s)| (m.to_bits(), a.to_bits(), s.to_bits()));
        for clip in [
            SigmaClip::default(),
            SigmaClip {
                sigma: 2.0,
                maxiters: 3,
            },
        ] {
            let all: Vec<usize> = (0..sizes.len()).collect();
            let paired = scratch.clip_boxes(&all, &clip);
            let odd = scratch.clip_boxes(&all[1..], &clip);
            for b in 0..sizes.len() {
                let alone = scratch.clip_boxes(&[b], &clip)[0];
                assert_eq!(bits(paired[b]), bits(alone), "box {b}");
                if b > 0 {
                    assert_eq!(bits(odd[b - 1]), bits(alone), "box {b}");
                }
            }
        }
    }

    /// The blocked, multi-lane sums are the plain shifted sums, for lengths around the block
    /// and lane sizes.
    #[test]
    fn shifted_sums_are_the_plain_sums() {
        let mut rng = Pcg64::seed_from_u64(9);
        let normal = Normal::new(600.0, 25.0).unwrap();
        for n in [0, 1, 7, 8, 9, 63, 64, 65, 130, 1000, 4096] {
            let values: Vec<f32> = (0..n).map(|_| normal.sample(&mut rng) as f32).collect();
            let keys: Vec<u32> = values.iter().map(|v| key_f32(*v)).collect();
            let shift = 598.5;
            let sums = ShiftedSums::of(&keys, shift);
            let d: Vec<f64> = values.iter().map(|v| f64::from(*v) - shift).collect();
            let (s1, s2) = (d.iter().sum::<f64>(), d.iter().map(|d| d * d).sum::<f64>());
            assert!(
                (sums.s1 - s1).abs() <= 1e-9 * s1.abs().max(1.0),
                "{n}: {} vs {s1}",
                sums.s1
            );
            assert!(
                (sums.s2 - s2).abs() <= 1e-12 * s2.max(1.0),
                "{n}: {} vs {s2}",
                sums.s2
            );
            assert_eq!(sums.shift, shift);
            // Summed along with another run, to the bit.
            for other in [0, 5, 64, 200, 5000] {
                let more: Vec<u32> = (0..other).map(|i| key_f32(i as f32 * 0.37)).collect();
                for [one, two] in [ShiftedSums::of_two(&keys, shift, &more, 1.5), {
                    let [two, one] = ShiftedSums::of_two(&more, 1.5, &keys, shift);
                    [one, two]
                }] {
                    let alone = ShiftedSums::of(&more, 1.5);
                    assert_eq!(
                        (one.s1.to_bits(), one.s2.to_bits()),
                        (sums.s1.to_bits(), sums.s2.to_bits())
                    );
                    assert_eq!(
                        (two.s1.to_bits(), two.s2.to_bits()),
                        (alone.s1.to_bits(), alone.s2.to_bits())
                    );
                }
            }
        }
    }
}
