//! Robust statistics: median, MAD, and sigma clipping by the rule of astropy's `sigma_clip`
//! (and photutils, which uses it), so that results can be compared value for value.
//!
//! The astropy rule (astropy.stats.SigmaClip, `cenfunc='median'`, `stdfunc='std'`): at each
//! pass, from the values still kept, take the median m and the population standard deviation s
//! (ddof = 0); keep the values with m − σ·s ≤ x ≤ m + σ·s (bounds inclusive); stop after
//! `maxiters` passes or as soon as a pass rejects nothing. Non-finite values are dropped first.
//! The values finally kept are those inside the last pass's bounds (astropy's returned mask).

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

/// Sorts `values` in the order of [`f32::total_cmp`] (−0 before +0; NaNs at the ends by sign)
/// with an LSD radix sort on the order-preserving integer image of the bits: the same result
/// as `sort_unstable_by(f32::total_cmp)` (equal keys are equal bit patterns), in a few linear
/// passes instead of n log n comparisons. Byte passes on which every key agrees are skipped.
pub fn sort_f32_total(values: &mut [f32]) {
    if values.len() < RADIX_MIN_LEN {
        values.sort_unstable_by(f32::total_cmp);
        return;
    }
    let keys = radix_sorted_keys(values);
    for (v, k) in values.iter_mut().zip(keys) {
        *v = unkey_f32(k);
    }
}

/// `values` sorted as [`sort_f32_total`] sorts them, widened to f64: the sorted keys become
/// the f64 values directly, without writing the sorted f32 values back first.
pub fn sorted_f64(values: &[f32]) -> Vec<f64> {
    if values.len() < RADIX_MIN_LEN {
        let mut sorted = values.to_vec();
        sorted.sort_unstable_by(f32::total_cmp);
        return sorted.into_iter().map(f64::from).collect();
    }
    sorted_f64_of_keys(values.iter().map(|v| key_f32(*v)).collect())
}

/// The f32 values whose [`key_f32`] keys are `keys`, sorted as [`sorted_f64`] sorts them
/// (the keys' order is [`f32::total_cmp`]'s) and widened to f64: for a caller that gathers
/// the keys directly.
pub fn sorted_f64_of_keys(mut keys: Vec<u32>) -> Vec<f64> {
    sort_keys(&mut keys, &mut Vec::new());
    keys.into_iter().map(|k| f64::from(unkey_f32(k))).collect()
}

/// Below this many values a comparison sort is faster than the radix sort.
const RADIX_MIN_LEN: usize = 64;

/// The key of [`f32::total_cmp`]: every bit of a negative number flipped, the sign bit of
/// others. Keys compare as unsigned integers in the order of [`f32::total_cmp`].
#[inline]
pub fn key_f32(v: f32) -> u32 {
    let b = v.to_bits();
    b ^ ((((b as i32) >> 31) as u32) | 0x8000_0000)
}

/// The value of a [`key_f32`] key.
#[inline]
pub fn unkey_f32(k: u32) -> f32 {
    let mask = if k & 0x8000_0000 != 0 {
        0x8000_0000
    } else {
        u32::MAX
    };
    f32::from_bits(k ^ mask)
}

/// The smaller of `a` and `b` in one vector instruction, where `f32::min`, which also
/// orders NaNs, takes three: the same value for values that are not NaN (`b` when `a` is
/// NaN or both are zeros).
#[inline]
pub(crate) fn min2(a: f32, b: f32) -> f32 {
    if a < b {
        a
    } else {
        b
    }
}

/// The larger of `a` and `b` ([`min2`]): `f32::max` for a `b` that is not NaN (`b` when `a`
/// is NaN or both are zeros).
#[inline]
pub(crate) fn max2(a: f32, b: f32) -> f32 {
    if a > b {
        a
    } else {
        b
    }
}

/// The keys of `values` in ascending order.
fn radix_sorted_keys(values: &[f32]) -> Vec<u32> {
    let mut keys: Vec<u32> = values.iter().map(|v| key_f32(*v)).collect();
    sort_keys(&mut keys, &mut Vec::new());
    keys
}

/// Sorts `keys` in ascending order: an LSD radix sort by bytes that skips the bytes on which
/// every key agrees, with `scratch` as the second buffer (grown as needed, so that a caller
/// sorting many runs allocates once). Short inputs get a comparison sort.
pub fn sort_keys(keys: &mut [u32], scratch: &mut Vec<u32>) {
    let n = keys.len();
    if n < RADIX_MIN_LEN || u32::try_from(n).is_err() {
        keys.sort_unstable();
        return;
    }
    let mut counts = [[0u32; 256]; 4];
    for k in keys.iter() {
        for (byte, c) in counts.iter_mut().enumerate() {
            c[((k >> (8 * byte)) & 0xff) as usize] += 1;
        }
    }
    if scratch.len() < n {
        scratch.resize(n, 0);
    }
    let other = &mut scratch[..n];
    // The sorted keys alternate between `keys` and `other`.
    let mut in_other = false;
    for (byte, c) in counts.iter().enumerate() {
        if c.contains(&(n as u32)) {
            continue;
        }
        let mut offsets = [0u32; 256];
        let mut sum = 0;
        for (o, m) in offsets.iter_mut().zip(c) {
            *o = sum;
            sum += m;
        }
        let (from, to): (&[u32], &mut [u32]) = if in_other {
            (&*other, &mut *keys)
        } else {
            (&*keys, &mut *other)
        };
        for &k in from {
            let b = ((k >> (8 * byte)) & 0xff) as usize;
            to[offsets[b] as usize] = k;
            offsets[b] += 1;
        }
        in_other = !in_other;
    }
    if in_other {
        keys.copy_from_slice(other);
    }
}

/// Samples clipped side by side by [`SigmaClip::apply_sorted_many`].
pub const LOCKSTEP_LANES: usize = 4;

/// Median of sorted, non-empty values (the mean of the two middle ones for an even count).
pub(crate) fn sorted_middle(run: &[f64]) -> f64 {
    let n = run.len();
    if n % 2 == 1 {
        run[n / 2]
    } else {
        0.5 * (run[n / 2 - 1] + run[n / 2])
    }
}

/// How the passes of [`SigmaClip::apply_sorted`] ended: the ranks in the sorted values of
/// the last pass's bounds (the values below the lower one, those up to the upper one), the
/// passes made, and whether the last one rejected nothing.
struct SortedPasses {
    first: usize,
    last: usize,
    iterations: usize,
    converged: bool,
}

/// Partial sums of [`lane_sum`], each a chain of additions independent of the others.
const SUM_LANES: usize = 16;

/// `Σ term(v)` over `values`, in [`SUM_LANES`] interleaved partial sums (lane j sums the
/// values j, j + SUM_LANES, …) that vectorise: not the in-order sum, but as accurate
/// (|error| ≤ γₙ Σ|term|, as for any order).
pub(crate) fn lane_sum<T: Copy>(values: &[T], term: impl Fn(T) -> f64) -> f64 {
    let mut acc = [0.0f64; SUM_LANES];
    let mut chunks = values.chunks_exact(SUM_LANES);
    for chunk in &mut chunks {
        for (a, &v) in acc.iter_mut().zip(chunk) {
            *a += term(v);
        }
    }
    let rest: f64 = chunks.remainder().iter().map(|&v| term(v)).sum();
    acc.iter().sum::<f64>() + rest
}

/// [`std_interval_of`] the sorted, non-empty `values`.
fn std_interval(values: &[f64]) -> Option<(f64, f64)> {
    // Σ|v| from the sums of the negative and the nonnegative values, split in the sorted run.
    let split = values.partition_point(|v| *v < 0.0);
    let below = lane_sum(&values[..split], |v| v);
    let above = lane_sum(&values[split..], |v| v);
    std_interval_of(values.len(), below + above, above - below, |mean| {
        lane_sum(values, |v| (v - mean) * (v - mean))
    })
}

/// An interval `(low, high)` that holds the population σ that [`mean_std`] computes of `n`
/// values (summing them in order), from approximations of their sum Σv and of Σ|v| (each
/// summed in any order, as [`lane_sum`] sums) and `squares(m)` ≈ Σ(v − m)²: the same two-pass
/// formula summed in another order; `None` when a sum is not finite.
///
/// Bound (Higham, *Accuracy and Stability of Numerical Algorithms*, §4.2, for a sum in any
/// order; u = 2⁻⁵³, γₖ = ku/(1 − ku), μ and V the exact mean and variance, A = Σ|v|/n): either
/// computation's mean m is within e = (γₙ₋₁(1 + u) + u)·A of μ; its Σ(v − m)² of nonnegative
/// terms, each rounded twice, /n and √ have a relative error within g = γₙ₊₄ of
/// √(V + (μ − m)²), which lies in [√V, √V + e]. So the σ of the in-order sums is within
/// 3g·s + 2e of this one's s; the interval is s ± (4·(n + 8)·2u·s + 4·(n + 2)·2u·A), over
/// twice that, so that the rounding of this bound and of A do not matter. The bound holds
/// without overflow or underflow: `None` also (the caller then sums in order) when A > 1e150
/// or s < 1e-150 (s = 0 included), far outside the f32 pixel values the pipeline clips.
pub(crate) fn std_interval_of(
    n: usize,
    sum: f64,
    abs_sum: f64,
    squares: impl FnOnce(f64) -> f64,
) -> Option<(f64, f64)> {
    let n = n as f64;
    let mean = sum / n;
    let abs_mean = abs_sum / n;
    let std = (squares(mean) / n).sqrt();
    let half_width =
        4.0 * (n + 8.0) * f64::EPSILON * std + 4.0 * (n + 2.0) * f64::EPSILON * abs_mean;
    let in_range = abs_mean <= 1e150 && std >= 1e-150;
    (in_range && std.is_finite() && half_width.is_finite())
        .then(|| ((std - half_width).max(0.0), std + half_width))
}

/// A finite sample whose values are found by rank in ascending order, as the passes of
/// [`SigmaClip::apply_sorted`] need them: sorted values ([`SortedValues`]) or bucketed keys
/// ([`crate::buckets::Buckets`]).
pub(crate) trait RankedSample {
    /// Number of values.
    fn len(&self) -> usize;
    /// Median of the ranks `lo..hi` (non-empty), as [`sorted_middle`] gives it.
    fn middle(&mut self, lo: usize, hi: usize) -> f64;
    /// The numbers of values below `lower` and at most `upper`.
    fn ranks(&mut self, lower: f64, upper: f64) -> (usize, usize);
    /// An interval holding [`Self::std`] of the ranks `lo..hi` ([`std_interval_of`]).
    fn std_interval(&mut self, lo: usize, hi: usize) -> Option<(f64, f64)>;
    /// The σ of [`mean_std`] of the values of the ranks `lo..hi` in ascending order.
    fn std(&mut self, lo: usize, hi: usize) -> f64;
}

/// Finite values sorted in ascending order, as a [`RankedSample`].
struct SortedValues<'a>(&'a [f64]);

impl RankedSample for SortedValues<'_> {
    fn len(&self) -> usize {
        self.0.len()
    }

    fn middle(&mut self, lo: usize, hi: usize) -> f64 {
        sorted_middle(&self.0[lo..hi])
    }

    fn ranks(&mut self, lower: f64, upper: f64) -> (usize, usize) {
        (
            self.0.partition_point(|v| *v < lower),
            self.0.partition_point(|v| *v <= upper),
        )
    }

    fn std_interval(&mut self, lo: usize, hi: usize) -> Option<(f64, f64)> {
        std_interval(&self.0[lo..hi])
    }

    fn std(&mut self, lo: usize, hi: usize) -> f64 {
        mean_std(&self.0[lo..hi]).map_or(f64::NAN, |(_, std)| std)
    }
}

/// `Σ term(v, param[k])` over each run `runs[k]` (at most [`LOCKSTEP_LANES`]), every sum
/// folded in the run's order from −0.0 exactly as `Iterator::sum` folds: the runs' common
/// length is summed with one addition of each run per step (independent chains that the
/// processor overlaps), the rest of each run after it.
fn lockstep_sums(runs: &[&[f64]], params: &[f64], term: impl Fn(f64, f64) -> f64) -> Vec<f64> {
    fn lanes<const N: usize>(
        runs: &[&[f64]],
        params: &[f64],
        term: impl Fn(f64, f64) -> f64,
    ) -> Vec<f64> {
        let mut acc = [-0.0f64; N];
        let runs: [&[f64]; N] = std::array::from_fn(|k| runs[k]);
        let params: [f64; N] = std::array::from_fn(|k| params[k]);
        let common = runs.iter().map(|r| r.len()).min().unwrap_or(0);
        let heads: [&[f64]; N] = std::array::from_fn(|k| &runs[k][..common]);
        // Indexed by position, one element of every run per step.
        #[allow(clippy::needless_range_loop)]
        for i in 0..common {
            for k in 0..N {
                acc[k] += term(heads[k][i], params[k]);
            }
        }
        for k in 0..N {
            for &v in &runs[k][common..] {
                acc[k] += term(v, params[k]);
            }
        }
        acc.to_vec()
    }
    assert!(
        runs.len() == params.len() && runs.len() <= LOCKSTEP_LANES,
        "at most {LOCKSTEP_LANES} runs, each with its parameters"
    );
    match runs.len() {
        0 => Vec::new(),
        1 => lanes::<1>(runs, params, term),
        2 => lanes::<2>(runs, params, term),
        3 => lanes::<3>(runs, params, term),
        _ => lanes::<4>(runs, params, term),
    }
}

/// Median of `values` without reordering them.
pub fn median(values: &[f64]) -> Option<f64> {
    median_in_place(&mut values.to_vec())
}

/// Mean and population standard deviation (ddof = 0), two-pass for accuracy.
pub fn mean_std(values: &[f64]) -> Option<(f64, f64)> {
    mean_std_of(values.iter().copied(), values.len())
}

/// [`mean_std`] of the `n` values that `values` yields (twice), summed in its order.
pub(crate) fn mean_std_of(
    values: impl Iterator<Item = f64> + Clone,
    n: usize,
) -> Option<(f64, f64)> {
    if n == 0 {
        return None;
    }
    let n = n as f64;
    let mean = values.clone().sum::<f64>() / n;
    let var = values.map(|v| (v - mean).powi(2)).sum::<f64>() / n;
    Some((mean, var.sqrt()))
}

/// Median absolute deviation scaled to a Gaussian σ: 1.4826 × median(|x − median(x)|).
pub fn mad_std(values: &[f64]) -> Option<f64> {
    mad_std_in_place(&mut values.to_vec())
}

/// [`mad_std`] of `values` (the same bits: both medians are of the same values, whatever
/// their order), computed in their own buffer, which ends up holding the absolute
/// deviations in no particular order.
pub fn mad_std_in_place(values: &mut [f64]) -> Option<f64> {
    let m = median_in_place(values)?;
    for v in values.iter_mut() {
        *v = (*v - m).abs();
    }
    median_in_place(values).map(|d| 1.482_602_218_505_602 * d)
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

/// The values kept by sigma clipping and how the passes ended.
#[derive(Debug, Clone, PartialEq)]
pub struct Clipped {
    /// Finite input values inside the bounds of the last pass, in input order.
    pub kept: Vec<f64>,
    /// Bounds of the last pass (inclusive).
    pub lower: f64,
    pub upper: f64,
    pub iterations: usize,
    pub converged: bool,
}

impl SigmaClip {
    /// Clips `values` by the astropy rule; `None` when no finite value is given. As astropy's
    /// returned mask does, the kept values are *all* finite inputs inside the last pass's
    /// bounds (a value rejected early comes back if a later pass's bounds contain it).
    pub fn clip(&self, values: &[f64]) -> Option<Clipped> {
        let original: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
        let mut current = original.clone();
        let (mut lower, mut upper) = (f64::NEG_INFINITY, f64::INFINITY);
        let mut iterations = 0;
        let mut converged = false;
        while iterations < self.maxiters && !current.is_empty() {
            iterations += 1;
            let centre = median(&current)?;
            let (_, std) = mean_std(&current)?;
            (lower, upper) = (centre - self.sigma * std, centre + self.sigma * std);
            let before = current.len();
            current.retain(|v| *v >= lower && *v <= upper);
            if current.len() == before {
                converged = true;
                break;
            }
        }
        let kept: Vec<f64> = original
            .into_iter()
            .filter(|v| *v >= lower && *v <= upper)
            .collect();
        (!kept.is_empty()).then_some(Clipped {
            kept,
            lower,
            upper,
            iterations,
            converged,
        })
    }

    /// [`SigmaClip::apply`] of values that are finite and sorted in ascending order: the same
    /// passes, bounds, kept values and median, found with binary searches on the sorted values
    /// instead of copies and selections (the kept values of every pass are a contiguous run).
    /// Means and deviations are summed in sorted order, so they may differ from
    /// [`SigmaClip::apply`]'s in the last bits.
    ///
    /// Method: the σ of each pass only decides where its bounds fall among the values, which
    /// an interval holding σ usually settles without the in-order sums ([`Self::pass_ranks`]);
    /// the mean and σ returned are those of the kept values, summed in order once.
    pub fn apply_sorted(&self, sorted: &[f64]) -> Option<ClippedStats> {
        debug_assert!(sorted.windows(2).all(|p| p[0] <= p[1]));
        let SortedPasses {
            first,
            last,
            iterations,
            converged,
        } = self.passes(&mut SortedValues(sorted));
        if first >= last {
            return None;
        }
        let kept = &sorted[first..last];
        let (mean, std) = mean_std(kept)?;
        Some(ClippedStats {
            median: sorted_middle(kept),
            mean,
            std,
            n_kept: kept.len(),
            n_rejected: sorted.len() - kept.len(),
            iterations,
            converged,
        })
    }

    /// The median of [`SigmaClip::apply_sorted`] (the same bits), without the mean and σ of the
    /// kept values (two in-order sums of them) that it also returns.
    pub fn median_sorted(&self, sorted: &[f64]) -> Option<f64> {
        debug_assert!(sorted.windows(2).all(|p| p[0] <= p[1]));
        self.median_ranked(&mut SortedValues(sorted))
    }

    /// The median of [`SigmaClip::apply_sorted`] of a sample given by rank (the same bits for
    /// the same values), without the mean and σ of the kept values.
    pub(crate) fn median_ranked(&self, sample: &mut impl RankedSample) -> Option<f64> {
        let SortedPasses { first, last, .. } = self.passes(sample);
        (first < last).then(|| sample.middle(first, last))
    }

    /// The passes of [`SigmaClip::apply_sorted`] over `sample`: each pass's run is the ranks
    /// `lo..hi`, its bounds centre ± σ·s (centre the run's median, s its population σ as
    /// [`mean_std`] sums it in order), and the next run the values inside them. The ranks of
    /// the bounds are counted in the whole sample: a run's own are these clamped to it.
    fn passes(&self, sample: &mut impl RankedSample) -> SortedPasses {
        let (mut lo, mut hi) = (0, sample.len());
        let (mut first, mut last) = sample.ranks(f64::NEG_INFINITY, f64::INFINITY);
        let mut iterations = 0;
        let mut converged = false;
        while iterations < self.maxiters && lo < hi {
            iterations += 1;
            let centre = sample.middle(lo, hi);
            (first, last) = self.pass_ranks(sample, lo, hi, centre);
            let (new_lo, new_hi) = (first.clamp(lo, hi), last.clamp(lo, hi));
            if (new_lo, new_hi) == (lo, hi) {
                converged = true;
                break;
            }
            (lo, hi) = (new_lo, new_hi);
        }
        SortedPasses {
            first,
            last,
            iterations,
            converged,
        }
    }

    /// The ranks of the bounds `centre ± σ·s` of one pass over the ranks `lo..hi` (non-empty)
    /// of `sample`, s their population σ as [`mean_std`] sums it (in order). The bounds, and so
    /// their ranks, are monotonic in s (every rounding is): when both ends of an interval that
    /// holds s ([`RankedSample::std_interval`], from sums that do not wait on each other) give
    /// the same ranks, so does s, and the in-order sums are not needed; else (a value within
    /// the interval's small width of a bound) s is computed.
    fn pass_ranks(
        &self,
        sample: &mut impl RankedSample,
        lo: usize,
        hi: usize,
        centre: f64,
    ) -> (usize, usize) {
        let bounds = |std: f64| (centre - self.sigma * std, centre + self.sigma * std);
        if let Some((low, high)) = sample.std_interval(lo, hi) {
            let (lower, upper) = bounds(low);
            let at_low = sample.ranks(lower, upper);
            let (lower, upper) = bounds(high);
            if at_low == sample.ranks(lower, upper) {
                return at_low;
            }
        }
        let (lower, upper) = bounds(sample.std(lo, hi));
        sample.ranks(lower, upper)
    }

    /// [`SigmaClip::apply_sorted`] of several sorted samples, bit for bit the same results: the
    /// samples are clipped side by side, up to [`LOCKSTEP_LANES`] at a time, so that the sums
    /// of their passes (each a chain of additions that must keep its order, every addition
    /// waiting for the one before) overlap in time instead of following one another.
    pub fn apply_sorted_many(&self, samples: &[&[f64]]) -> Vec<Option<ClippedStats>> {
        debug_assert!(samples.iter().all(|s| s.windows(2).all(|p| p[0] <= p[1])));
        samples
            .chunks(LOCKSTEP_LANES)
            .flat_map(|chunk| self.apply_sorted_lockstep(chunk))
            .collect()
    }

    /// [`SigmaClip::apply_sorted_many`] of at most [`LOCKSTEP_LANES`] samples: the passes of
    /// `apply_sorted`, one pass of every unfinished sample at a time.
    fn apply_sorted_lockstep(&self, samples: &[&[f64]]) -> Vec<Option<ClippedStats>> {
        struct Lane {
            lo: usize,
            hi: usize,
            lower: f64,
            upper: f64,
            iterations: usize,
            converged: bool,
            last_pass: Option<(usize, usize, f64, f64)>,
        }
        let mut lanes: Vec<Lane> = samples
            .iter()
            .map(|sorted| Lane {
                lo: 0,
                hi: sorted.len(),
                lower: f64::NEG_INFINITY,
                upper: f64::INFINITY,
                iterations: 0,
                converged: false,
                last_pass: None,
            })
            .collect();
        loop {
            // The lanes whose `apply_sorted` loop makes another pass.
            let active: Vec<usize> = (0..lanes.len())
                .filter(|&k| {
                    let l = &lanes[k];
                    !l.converged && l.iterations < self.maxiters && l.lo < l.hi
                })
                .collect();
            if active.is_empty() {
                break;
            }
            let runs: Vec<&[f64]> = active
                .iter()
                .map(|&k| &samples[k][lanes[k].lo..lanes[k].hi])
                .collect();
            // `mean_std` of each run: Σv / n, then Σ(v − mean)² / n, each sum in order.
            let sums = lockstep_sums(&runs, &[0.0; LOCKSTEP_LANES][..runs.len()], |v, _| v);
            let means: Vec<f64> = sums
                .iter()
                .zip(&runs)
                .map(|(s, r)| s / r.len() as f64)
                .collect();
            let squares = lockstep_sums(&runs, &means, |v, mean| (v - mean).powi(2));
            for (((&k, run), &mean), square) in active.iter().zip(&runs).zip(&means).zip(squares) {
                let l = &mut lanes[k];
                l.iterations += 1;
                let std = (square / run.len() as f64).sqrt();
                let centre = sorted_middle(run);
                l.last_pass = Some((l.lo, l.hi, mean, std));
                (l.lower, l.upper) = (centre - self.sigma * std, centre + self.sigma * std);
                let new_lo = l.lo + run.partition_point(|v| *v < l.lower);
                let new_hi = l.lo + run.partition_point(|v| *v <= l.upper);
                if (new_lo, new_hi) == (l.lo, l.hi) {
                    l.converged = true;
                } else {
                    (l.lo, l.hi) = (new_lo, new_hi);
                }
            }
        }
        lanes
            .iter()
            .zip(samples)
            .map(|(l, sorted)| {
                let first = sorted.partition_point(|v| *v < l.lower);
                let last = sorted.partition_point(|v| *v <= l.upper);
                if first >= last {
                    return None;
                }
                let kept = &sorted[first..last];
                let (mean, std) = match l.last_pass {
                    Some((lo, hi, mean, std)) if (lo, hi) == (first, last) => (mean, std),
                    _ => mean_std(kept)?,
                };
                Some(ClippedStats {
                    median: sorted_middle(kept),
                    mean,
                    std,
                    n_kept: kept.len(),
                    n_rejected: sorted.len() - kept.len(),
                    iterations: l.iterations,
                    converged: l.converged,
                })
            })
            .collect()
    }

    /// The mean of [`SigmaClip::apply`] (the same bits), without its median, σ and copies:
    /// for short samples clipped one after another (an overscan's rows), with `scratch` reused.
    ///
    /// Method: the passes of [`SigmaClip::clip`], its `current` values kept in `scratch` (in
    /// any order: a pass's median is a selection in it) while each pass's σ is summed, as
    /// `clip` sums it, over the input values in their order that every bound so far keeps;
    /// the mean of the last pass is the result when its values are the kept ones.
    pub fn clipped_mean(&self, values: &[f64], scratch: &mut Vec<f64>) -> Option<f64> {
        scratch.clear();
        scratch.extend(values.iter().copied().filter(|v| v.is_finite()));
        // The bounds of the last pass, and those that every pass so far kept values within.
        let (mut lower, mut upper) = (f64::NEG_INFINITY, f64::INFINITY);
        let (mut above, mut below) = (f64::NEG_INFINITY, f64::INFINITY);
        let mut iterations = 0;
        while iterations < self.maxiters && !scratch.is_empty() {
            iterations += 1;
            let n = scratch.len();
            let centre = median_in_place(scratch)?;
            let current = values
                .iter()
                .copied()
                .filter(move |v| v.is_finite() && *v >= above && *v <= below);
            let (mean, std) = mean_std_of(current, n)?;
            (lower, upper) = (centre - self.sigma * std, centre + self.sigma * std);
            let nested = lower >= above && upper <= below;
            (above, below) = (above.max(lower), below.min(upper));
            scratch.retain(|v| *v >= lower && *v <= upper);
            if scratch.len() == n {
                // Nothing rejected: bounds within the earlier ones keep exactly this pass's
                // values (none rejected before comes back), whose mean this is.
                if nested {
                    return Some(mean);
                }
                break;
            }
        }
        let kept = values
            .iter()
            .copied()
            .filter(|v| v.is_finite() && *v >= lower && *v <= upper);
        let n = kept.clone().count();
        mean_std_of(kept, n).map(|(mean, _)| mean)
    }

    /// Median, mean and standard deviation of the values kept by [`SigmaClip::clip`].
    pub fn apply(&self, values: &[f64]) -> Option<ClippedStats> {
        let Clipped {
            mut kept,
            iterations,
            converged,
            ..
        } = self.clip(values)?;
        let (mean, std) = mean_std(&kept)?;
        let n_kept = kept.len();
        Some(ClippedStats {
            median: median_in_place(&mut kept)?,
            mean,
            std,
            n_kept,
            n_rejected: values.len() - n_kept,
            iterations,
            converged,
        })
    }
}

/// Median of `values` weighted by `weights` (> 0): the smallest value at which the cumulative
/// weight, in ascending order of value, reaches half the total. `None` without a finite value
/// of positive weight.
pub fn weighted_median(values: &[f64], weights: &[f64]) -> Option<f64> {
    let mut pairs: Vec<(f64, f64)> = values
        .iter()
        .zip(weights)
        .filter(|(v, w)| v.is_finite() && w.is_finite() && **w > 0.0)
        .map(|(v, w)| (*v, *w))
        .collect();
    pairs.sort_by(|a, b| a.0.total_cmp(&b.0));
    let half = 0.5 * pairs.iter().map(|p| p.1).sum::<f64>();
    let mut cumulative = 0.0;
    for (value, weight) in &pairs {
        cumulative += weight;
        if cumulative >= half {
            return Some(*value);
        }
    }
    None
}

/// An inverse-variance weighted mean after rejection of outliers (see
/// [`clipped_weighted_mean`]).
#[derive(Debug, Clone, PartialEq)]
pub struct WeightedMean {
    pub mean: f64,
    /// `(Σ wᵢ)^(−1/2)`, scaled by √(χ²/dof) when the kept values scatter more than their
    /// errors say.
    pub err: f64,
    /// χ²/dof of the kept values about the mean (dof = kept − 1; 0 with one value).
    pub reduced_chi2: f64,
    /// Per input: kept by the last pass (inputs without a finite value and a positive
    /// finite error are never kept).
    pub kept: Vec<bool>,
    pub n_kept: usize,
}

/// Inverse-variance weighted mean of `(value, σ)` pairs with iterative rejection in normalised
/// residuals, `zᵢ = (xᵢ − centre) / σᵢ`: starting from the weighted median (so that a cluster
/// of imprecise values cannot outvote the precise ones), values with `|zᵢ| > k·s` are
/// rejected, where `s = max(1, MAD σ of the kept zᵢ)` widens the bounds when the errors are
/// understated; the centre becomes the weighted mean of the others, until the kept set no
/// longer changes (at most 10 passes). As DAOGROW weights curves of growth (Stetson 1990,
/// PASP 102, 932) and as zero points are averaged over calibration stars. `None` when fewer
/// than `min_kept` values survive.
pub fn clipped_weighted_mean(
    points: &[(f64, f64)],
    k_sigma: f64,
    min_kept: usize,
) -> Option<WeightedMean> {
    let usable: Vec<bool> = points
        .iter()
        .map(|(x, e)| x.is_finite() && e.is_finite() && *e > 0.0)
        .collect();
    let weighted_mean = |keep: &[bool]| {
        let (sum_w, sum_wx) = points
            .iter()
            .zip(keep)
            .filter(|(_, k)| **k)
            .fold((0.0, 0.0), |(w, wx), ((x, e), _)| {
                (w + e.powi(-2), wx + x * e.powi(-2))
            });
        (sum_wx / sum_w, sum_w)
    };
    let values: Vec<f64> = points.iter().map(|p| p.0).collect();
    let weights: Vec<f64> = points
        .iter()
        .zip(&usable)
        .map(|((_, e), u)| if *u { e.powi(-2) } else { 0.0 })
        .collect();
    let mut centre = weighted_median(&values, &weights)?;
    let mut keep = usable.clone();
    for _ in 0..10 {
        let z: Vec<f64> = points.iter().map(|(x, e)| (x - centre) / e).collect();
        let kept_z: Vec<f64> = z
            .iter()
            .zip(&keep)
            .filter(|(_, k)| **k)
            .map(|(z, _)| *z)
            .collect();
        let scale = mad_std(&kept_z).unwrap_or(1.0).max(1.0);
        let next: Vec<bool> = z
            .iter()
            .zip(&usable)
            .map(|(z, u)| *u && z.abs() <= k_sigma * scale)
            .collect();
        if next.iter().filter(|k| **k).count() < min_kept.max(1) {
            return None;
        }
        let converged = next == keep;
        keep = next;
        centre = weighted_mean(&keep).0;
        if converged {
            break;
        }
    }
    let n_kept = keep.iter().filter(|k| **k).count();
    if n_kept < min_kept.max(1) {
        return None;
    }
    let (mean, sum_w) = weighted_mean(&keep);
    let chi2: f64 = points
        .iter()
        .zip(&keep)
        .filter(|(_, k)| **k)
        .map(|((x, e), _)| ((x - mean) / e).powi(2))
        .sum();
    let reduced_chi2 = if n_kept > 1 {
        chi2 / (n_kept - 1) as f64
    } else {
        0.0
    };
    Some(WeightedMean {
        mean,
        err: (reduced_chi2.max(1.0) / sum_w).sqrt(),
        reduced_chi2,
        kept: keep,
        n_kept,
    })
}

/// Deterministic pseudo-Gaussian noise for the unit tests: the sum of 12 uniforms of a
/// 64-bit linear congruential generator (Knuth's MMIX constants), minus 6 (mean 0, variance 1).
#[cfg(test)]
pub(crate) fn test_gauss(seed: &mut u64) -> f64 {
    let mut sum = 0.0;
    for _ in 0..12 {
        *seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        sum += (*seed >> 11) as f64 / (1u64 << 53) as f64;
    }
    sum - 6.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weighted_median_follows_the_weights() {
        assert_eq!(
            weighted_median(&[1.0, 2.0, 3.0], &[1.0, 1.0, 1.0]),
            Some(2.0)
        );
        assert_eq!(
            weighted_median(&[1.0, 2.0, 3.0], &[1.0, 1.0, 5.0]),
            Some(3.0)
        );
        assert_eq!(
            weighted_median(&[f64::NAN, 2.0, 7.0], &[9.0, 1.0, 0.0]),
            Some(2.0)
        );
        assert_eq!(weighted_median(&[1.0], &[0.0]), None);
    }

    #[test]
    fn clipped_weighted_mean_trusts_the_precise_values() {
        // Two precise values near 1.00 and five imprecise ones near 1.05 (each 1σ high): the
        // plain median (1.05) would reject the precise pair (z ≈ −20); the weighted median
        // starts at 1.00 and keeps every value.
        let points = [
            (1.000, 0.0025),
            (1.002, 0.0025),
            (1.05, 0.05),
            (1.05, 0.05),
            (1.05, 0.05),
            (1.05, 0.05),
            (1.05, 0.05),
        ];
        let m = clipped_weighted_mean(&points, 3.0, 3).unwrap();
        assert_eq!(m.n_kept, 7);
        let sum_w: f64 = points.iter().map(|p| p.1.powi(-2)).sum();
        let expected = points.iter().map(|p| p.0 * p.1.powi(-2)).sum::<f64>() / sum_w;
        assert!((m.mean - expected).abs() < 1e-12);
        assert!(
            (m.err - sum_w.powf(-0.5)).abs() < 1e-12,
            "χ²/dof {}",
            m.reduced_chi2
        );
        // An outlier 20σ away is rejected; a non-finite error is never kept.
        let mut with_outlier = points.to_vec();
        with_outlier.push((1.2, 0.005));
        with_outlier.push((1.0, f64::NAN));
        let m = clipped_weighted_mean(&with_outlier, 3.0, 3).unwrap();
        assert_eq!(m.n_kept, 7);
        assert!(!m.kept[7] && !m.kept[8]);
        assert!((m.mean - expected).abs() < 1e-12);
        // Scatter beyond the errors inflates the error by √(χ²/dof).
        let m = clipped_weighted_mean(&[(0.0, 0.01), (0.1, 0.01), (0.05, 0.01)], 10.0, 1).unwrap();
        assert!((m.reduced_chi2 - 25.0).abs() < 1e-9);
        assert!((m.err - 5.0 * 0.01 / 3f64.sqrt()).abs() < 1e-12);
        assert!(clipped_weighted_mean(&[(1.0, 0.1)], 3.0, 3).is_none());
    }

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
        let stats = SigmaClip {
            sigma: 1.0,
            maxiters: 10,
        }
        .apply(&[-1.0, 1.0, -1.0, 1.0])
        .unwrap();
        assert_eq!(stats.n_kept, 4);
        assert!(SigmaClip::default().apply(&[f64::NAN]).is_none());
    }

    #[test]
    fn radix_sort_is_total_cmp_order() {
        let mut seed = 7u64;
        let mut values: Vec<f32> = (0..5000)
            .map(|k| {
                seed = seed
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let u = (seed >> 40) as f32 / (1u64 << 24) as f32;
                match k % 97 {
                    0 => -0.0,
                    1 => 0.0,
                    2 => f32::INFINITY,
                    3 => f32::NEG_INFINITY,
                    4 => -1e-40, // subnormal
                    _ => (u - 0.3) * 1e4,
                }
            })
            .collect();
        values.push(f32::NAN);
        values.push(-f32::NAN);
        let mut expected = values.clone();
        expected.sort_unstable_by(f32::total_cmp);
        sort_f32_total(&mut values);
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&values), bits(&expected));
        let mut constant = vec![3.5f32; 100];
        sort_f32_total(&mut constant);
        assert!(constant.iter().all(|v| *v == 3.5));
        // Widened to f64 straight from the sort: the same values, bit for bit (NaNs aside,
        // whose payload the widening may quieten), short inputs included.
        let reversed: Vec<f32> = values.iter().rev().copied().collect();
        for len in [0, 5, 63, 64, reversed.len()] {
            let widened = sorted_f64(&reversed[..len]);
            let mut sorted = reversed[..len].to_vec();
            sorted.sort_unstable_by(f32::total_cmp);
            let expected: Vec<f64> = sorted.into_iter().map(f64::from).collect();
            assert_eq!(widened.len(), expected.len());
            for (a, b) in widened.iter().zip(&expected) {
                assert!(a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan()));
            }
        }
    }

    #[test]
    fn clipping_sorted_values_matches_apply() {
        let mut seed = 11u64;
        let mut uniform = || {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 11) as f64 / (1u64 << 53) as f64
        };
        for n in [1usize, 2, 7, 100, 4096] {
            let values: Vec<f64> = (0..n)
                .map(|k| {
                    let g: f64 = (0..12).map(|_| uniform()).sum::<f64>() - 6.0;
                    if k % 23 == 5 {
                        1000.0 + 10.0 * g
                    } else {
                        100.0 + 3.0 * g
                    }
                })
                .collect();
            let mut sorted = values.clone();
            sorted.sort_unstable_by(f64::total_cmp);
            for clip in [
                SigmaClip::default(),
                SigmaClip {
                    sigma: 1.5,
                    maxiters: 2,
                },
            ] {
                let a = clip.apply(&values);
                let b = clip.apply_sorted(&sorted);
                let (Some(a), Some(b)) = (a.clone(), b.clone()) else {
                    assert_eq!(a.is_none(), b.is_none());
                    continue;
                };
                assert_eq!(a.median, b.median);
                assert_eq!(
                    (a.n_kept, a.n_rejected, a.iterations, a.converged),
                    (b.n_kept, b.n_rejected, b.iterations, b.converged)
                );
                assert!((a.mean - b.mean).abs() <= 1e-12 * a.mean.abs());
                assert!((a.std - b.std).abs() <= 1e-9 * a.std.max(1e-300));
            }
        }
    }

    /// [`SigmaClip::apply_sorted`] as first written: every pass's mean and σ summed in order.
    fn apply_sorted_plain(clip: &SigmaClip, sorted: &[f64]) -> Option<ClippedStats> {
        let (mut lo, mut hi) = (0, sorted.len());
        let (mut lower, mut upper) = (f64::NEG_INFINITY, f64::INFINITY);
        let (mut iterations, mut converged) = (0, false);
        while iterations < clip.maxiters && lo < hi {
            iterations += 1;
            let run = &sorted[lo..hi];
            let centre = sorted_middle(run);
            let (_, std) = mean_std(run)?;
            (lower, upper) = (centre - clip.sigma * std, centre + clip.sigma * std);
            let new_lo = lo + run.partition_point(|v| *v < lower);
            let new_hi = lo + run.partition_point(|v| *v <= upper);
            if (new_lo, new_hi) == (lo, hi) {
                converged = true;
                break;
            }
            (lo, hi) = (new_lo, new_hi);
        }
        let first = sorted.partition_point(|v| *v < lower);
        let last = sorted.partition_point(|v| *v <= upper);
        if first >= last {
            return None;
        }
        let kept = &sorted[first..last];
        let (mean, std) = mean_std(kept)?;
        Some(ClippedStats {
            median: sorted_middle(kept),
            mean,
            std,
            n_kept: kept.len(),
            n_rejected: sorted.len() - kept.len(),
            iterations,
            converged,
        })
    }

    /// The passes settled by σ intervals give the plain passes' results bit for bit: sky-like
    /// values with outliers on either side, values around 0 (the interval's Σ|v| term),
    /// integer values (bounds that fall on values: the in-order σ is then computed), a
    /// constant run, tiny runs, negative, zero and large σ, no pass at all.
    #[test]
    fn clipping_with_sigma_intervals_is_the_plain_clipping() {
        let mut seed = 41u64;
        let mut uniform = || {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 11) as f64 / (1u64 << 53) as f64
        };
        let clips = [
            SigmaClip::default(),
            SigmaClip {
                sigma: 1.0,
                maxiters: 10,
            },
            SigmaClip {
                sigma: 2.5,
                maxiters: 1,
            },
            SigmaClip {
                sigma: 3.0,
                maxiters: 0,
            },
            SigmaClip {
                sigma: 0.0,
                maxiters: 5,
            },
            SigmaClip {
                sigma: -1.0,
                maxiters: 5,
            },
            SigmaClip {
                sigma: 40.0,
                maxiters: 10,
            },
        ];
        for trial in 0..120 {
            let n = [0usize, 1, 2, 3, 10, 257, 1000, 5000, 20_000][trial % 9];
            let kind = trial % 5;
            let mut values: Vec<f64> = (0..n)
                .map(|k| {
                    let g: f64 = (0..12).map(|_| uniform()).sum::<f64>() - 6.0;
                    let v = match kind {
                        0 => 20_000.0 + 150.0 * g,
                        1 => 3.0 * g,
                        2 => (500.0 + 4.0 * g).round(),
                        3 => 1.0,
                        _ => -7.0 + 0.01 * g,
                    };
                    let v = match k % (11 + trial % 7) {
                        0 => v + 3000.0 * uniform(),
                        1 if trial % 2 == 0 => v - 800.0 * uniform(),
                        _ => v,
                    };
                    // As the frames' values: f32.
                    f64::from(v as f32)
                })
                .collect();
            values.sort_unstable_by(f64::total_cmp);
            for clip in &clips {
                let expected = apply_sorted_plain(clip, &values);
                let median = clip.median_sorted(&values);
                assert_eq!(
                    median.map(f64::to_bits),
                    expected.as_ref().map(|e| e.median.to_bits())
                );
                let got = clip.apply_sorted(&values);
                assert_eq!(got.is_none(), expected.is_none(), "trial {trial} {clip:?}");
                if let (Some(g), Some(e)) = (got, expected) {
                    assert_eq!(g.median.to_bits(), e.median.to_bits(), "trial {trial}");
                    assert_eq!(g.mean.to_bits(), e.mean.to_bits(), "trial {trial}");
                    assert_eq!(g.std.to_bits(), e.std.to_bits(), "trial {trial}");
                    assert_eq!(g, e, "trial {trial} {clip:?}");
                }
            }
        }
        // {−1, 1}: median 0, σ exactly 1, so at σ = 1 the bounds are values themselves (the
        // interval does not settle the ranks: the in-order σ is computed).
        let values = [-1.0, -1.0, 1.0, 1.0];
        let clip = SigmaClip {
            sigma: 1.0,
            maxiters: 10,
        };
        assert_eq!(
            clip.apply_sorted(&values),
            apply_sorted_plain(&clip, &values)
        );
        assert_eq!(clip.apply_sorted(&values).map(|s| s.n_kept), Some(4));
    }

    /// The interval holds the σ of the in-order sums, and is narrow.
    #[test]
    fn sigma_intervals_hold_the_in_order_sigma() {
        let mut seed = 43u64;
        for n in [1usize, 5, 16, 17, 100, 4099, 100_000] {
            for centre in [0.0, 1.0, -250.0, 20_000.0, 3.0e7] {
                let mut values: Vec<f64> = (0..n)
                    .map(|_| f64::from((centre + 30.0 * test_gauss(&mut seed)) as f32))
                    .collect();
                values.sort_unstable_by(f64::total_cmp);
                let (_, std) = mean_std(&values).unwrap();
                // A single value: σ = 0, left to the in-order sums.
                let Some((low, high)) = std_interval(&values) else {
                    assert!(n == 1 && std == 0.0, "{n} {centre}");
                    continue;
                };
                assert!(
                    low <= std && std <= high,
                    "{n} {centre}: {low} {std} {high}"
                );
                let largest = values.iter().fold(0.0f64, |m, v| m.max(v.abs()));
                assert!(high - low <= 1e-9 * (std + largest), "{n} {centre}");
            }
        }
    }

    /// Where the squares could underflow or the sums overflow, the bound does not hold: no
    /// interval, and the clipping sums in order.
    #[test]
    fn no_sigma_interval_outside_the_range_of_the_bound() {
        let spread = |centre: f64, step: f64| -> Vec<f64> {
            (0..64).map(|k| centre + step * f64::from(k)).collect()
        };
        assert!(std_interval(&spread(1.0, 1e-3)).is_some());
        assert!(std_interval(&spread(0.0, 1e-160)).is_none());
        assert!(std_interval(&spread(1e200, 1e190)).is_none());
        assert!(std_interval(&[5.0; 10]).is_none());
        for values in [spread(0.0, 1e-160), spread(1e200, 1e190)] {
            let clip = SigmaClip {
                sigma: 0.5,
                ..SigmaClip::default()
            };
            assert_eq!(clip.apply_sorted(&values), clip.apply(&values));
        }
    }

    #[test]
    fn clipping_side_by_side_matches_one_by_one() {
        let mut seed = 29u64;
        let mut uniform = || {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 11) as f64 / (1u64 << 53) as f64
        };
        // Samples of different lengths (and an empty one), outliers on both sides, so that
        // the lanes make different numbers of passes and finish apart.
        let samples: Vec<Vec<f64>> = (0..11usize)
            .map(|j| {
                let n = [0, 1, 2, 5, 64, 300, 3600, 3400, 4079, 2137, 999][j];
                let mut v: Vec<f64> = (0..n)
                    .map(|k| {
                        let g: f64 = (0..12).map(|_| uniform()).sum::<f64>() - 6.0;
                        match k % (7 + j) {
                            3 => 1000.0 + 10.0 * g,
                            5 if j % 2 == 0 => -50.0 * uniform(),
                            _ => 100.0 + 3.0 * g,
                        }
                    })
                    .collect();
                if j == 4 {
                    v.fill(-0.0);
                }
                v.sort_unstable_by(f64::total_cmp);
                v
            })
            .collect();
        let slices: Vec<&[f64]> = samples.iter().map(Vec::as_slice).collect();
        for clip in [
            SigmaClip::default(),
            SigmaClip {
                sigma: 1.5,
                maxiters: 2,
            },
            SigmaClip {
                sigma: 2.0,
                maxiters: 30,
            },
        ] {
            for count in 0..=slices.len() {
                let many = clip.apply_sorted_many(&slices[..count]);
                assert_eq!(many.len(), count);
                for (sorted, m) in slices.iter().zip(many) {
                    let one = clip.apply_sorted(sorted);
                    assert_eq!(m.is_none(), one.is_none());
                    if let (Some(m), Some(one)) = (m, one) {
                        assert_eq!(m.median.to_bits(), one.median.to_bits());
                        assert_eq!(m.mean.to_bits(), one.mean.to_bits());
                        assert_eq!(m.std.to_bits(), one.std.to_bits());
                        assert_eq!(m, one);
                    }
                }
            }
        }
    }

    /// The clipped mean of short samples is [`SigmaClip::apply`]'s mean, bit for bit: overscan
    /// rows with hot pixels, ties, NaNs and infinities, ±0, tiny and empty samples, settings
    /// that stop early, reject everything or keep everything; and the MAD in place is
    /// [`mad_std`]'s.
    #[test]
    fn clipped_mean_of_short_samples_is_apply_s_mean() {
        let mut seed = 17u64;
        let mut scratch = Vec::new();
        let clips = [
            SigmaClip::default(),
            SigmaClip {
                sigma: 1.0,
                maxiters: 10,
            },
            SigmaClip {
                sigma: 2.0,
                maxiters: 1,
            },
            SigmaClip {
                sigma: 3.0,
                maxiters: 0,
            },
            SigmaClip {
                sigma: -1.0,
                maxiters: 3,
            },
            SigmaClip {
                sigma: 0.0,
                maxiters: 4,
            },
        ];
        for trial in 0..400 {
            let n = [0usize, 1, 2, 3, 5, 20, 50, 51, 200][trial % 9];
            let values: Vec<f64> = (0..n)
                .map(|k| {
                    let g = test_gauss(&mut seed);
                    let v = match trial % 4 {
                        0 => 1000.0 + 27.0 * g,
                        1 => (300.0 + 2.0 * g).round(),
                        2 => 0.5 * g,
                        _ => -0.0,
                    };
                    match (k + trial) % 13 {
                        0 => v + 30_000.0,
                        1 if trial % 3 == 0 => f64::NAN,
                        2 if trial % 5 == 0 => f64::INFINITY,
                        3 if trial % 7 == 0 => 0.0,
                        _ => f64::from(v as f32),
                    }
                })
                .collect();
            for clip in &clips {
                let expected = clip.apply(&values).map(|s| s.mean.to_bits());
                let got = clip.clipped_mean(&values, &mut scratch).map(f64::to_bits);
                assert_eq!(got, expected, "trial {trial} {clip:?} {values:?}");
            }
            let mut copy = values.clone();
            assert_eq!(
                mad_std_in_place(&mut copy).map(f64::to_bits),
                mad_std(&values).map(f64::to_bits)
            );
        }
    }

    #[test]
    fn mad_std_of_a_symmetric_set() {
        let v = [1.0, 2.0, 3.0, 4.0, 5.0];
        assert!((mad_std(&v).unwrap() - 1.482_602_218_505_602).abs() < 1e-12);
    }
}
