//! Cosmic-ray detection by Laplacian edge detection (L.A.Cosmic: van Dokkum 2001, PASP 113,
//! 1420), with the conventions of its widely used implementation astroscrappy (McCully et
//! al.; same defaults: σ_clip 4.5, σ_frac 0.3, objlim 5, 4 iterations).
//!
//! On an image I in electrons (sky included):
//!
//! 1. L⁺: Laplacian of I subsampled 2×, negative values set to 0, block-averaged back. For a
//!    pixel v with neighbours left/right/down/up (l, r, d, u) it is the mean of
//!    max(0, 2v − l − d), max(0, 2v − r − d), max(0, 2v − l − u), max(0, 2v − r − u):
//!    a lone spike of height h gives L⁺ = 2h, a smooth profile nearly nothing.
//! 2. Noise N = √(max(med5(I), 0) + σ_read²) (Poisson + read noise, e⁻); S = L⁺ / (2N).
//! 3. S′ = S − med5(S) removes what remains of extended sources.
//! 4. Fine structure F = med3(I) − med7(med3(I)), in units of N (≥ 0.01): large at stars and
//!    the core of a coma (they are resolved by the seeing), ~0 at a cosmic ray, which the
//!    3 × 3 median removes.
//! 5. Cosmic ray: S′ > σ_clip and S′/F > objlim; then the 8 neighbours with S′ > σ_clip, then
//!    their neighbours with S′ > σ_frac σ_clip. Added to L.A.Cosmic: every flagged pixel
//!    must also stand above the median of its own 8 neighbours by more than the same
//!    limit × N. A cosmic ray (a track 1–2 px wide) leaves most neighbours of its pixels at
//!    the background, whereas the bright side of a sharp step (the edge of a saturated or
//!    truncated source, a vignetting edge) has half of them as bright and no fine structure
//!    (F = 0 there): L.A.Cosmic alone flags such edges, and its growth step runs along them.
//! 6. Flagged pixels are replaced by the median of the unflagged pixels of their 5 × 5
//!    neighbourhood; repeat (step 1 on the cleaned image) until nothing new is found. The
//!    tests of a pixel read the cleaned image only within 4 px of it, so after the first
//!    pass over the whole frame an iteration tests only the surroundings of the pixels
//!    just replaced (elsewhere it would find what the previous one found: nothing new).
//!
//! Medians of 3 × 3 and 5 × 5 boxes are taken by selection networks on integer keys that
//! order like `f32::total_cmp`: the same values as a selection on the pixel values.
//!
//! Pixels already unusable (saturated, non-finite, bad) and those within `protect_radius_px`
//! of them are never flagged (the sharp edges of saturated cores and bleed trails would
//! otherwise look like cosmic rays).

use rayon::prelude::*;

use crate::image::{pixel_flag, Image, PixelMask};
use crate::stats::{max2, min2};

/// How far (px, square) the tests of a pixel reach into the image being cleaned: the
/// fine structure takes the 7 × 7 median of 3 × 3 medians (4); S′ the 5 × 5 median of L⁺,
/// which reaches 1 px (3); the neighbour median 1.
const DEPENDENCE_RADIUS: usize = 4;

/// Rows per parallel task of the first pass over the frame (each computes L⁺ of its rows,
/// and the row medians of 4 rows more than it tests).
const FIRST_PASS_BAND_ROWS: usize = 64;

/// Pixels of a row tested together for candidates in the first pass (one vector of
/// AVX-512).
const SCAN_BLOCK: usize = 16;

/// Pixels looked at together for non-finite values before cleaning.
const FILL_SCAN_BLOCK: usize = 256;

/// Settings of the cosmic-ray cleaner.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LaCosmicOptions {
    /// Detection limit on S′ (σ).
    pub sigma_clip: f64,
    /// Limit for the neighbours of a detection, as a fraction of `sigma_clip`.
    pub sigma_frac: f64,
    /// Minimum contrast between the Laplacian and the fine-structure image.
    pub object_limit: f64,
    pub max_iterations: usize,
    /// Pixels within this distance (px, square) of an unusable pixel are not flagged.
    pub protect_radius_px: usize,
}

impl Default for LaCosmicOptions {
    fn default() -> Self {
        LaCosmicOptions {
            sigma_clip: 4.5,
            sigma_frac: 0.3,
            object_limit: 5.0,
            max_iterations: 4,
            protect_radius_px: 2,
        }
    }
}

impl LaCosmicOptions {
    pub fn describe(&self) -> String {
        format!(
            "L.A.Cosmic (van Dokkum 2001): sigclip {}, sigfrac {}, objlim {}, up to {} iterations",
            self.sigma_clip, self.sigma_frac, self.object_limit, self.max_iterations
        )
    }
}

/// What the cleaner did.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CosmicReport {
    /// Pixels flagged COSMIC_RAY and replaced.
    pub n_flagged: usize,
    /// New pixels found in each iteration.
    pub per_iteration: Vec<usize>,
}

struct Grid<'a> {
    w: usize,
    h: usize,
    v: &'a [f32],
}

/// The pixels of a `w × h` image by position, with the box medians the tests take (edges
/// replicated).
trait Pixels {
    fn size(&self) -> (usize, usize);

    /// The value of pixel `q` (row-major index).
    fn value(&self, q: usize) -> f32;

    #[inline]
    fn at(&self, x: isize, y: isize) -> f32 {
        let (w, h) = self.size();
        let xc = x.clamp(0, w as isize - 1) as usize;
        let yc = y.clamp(0, h as isize - 1) as usize;
        self.value(yc * w + xc)
    }

    /// The (2R+1)² box around (x, y) (edges replicated), row by row, as order keys.
    #[inline]
    fn box_keys<const R: usize, const N: usize>(&self, x: usize, y: usize) -> [i32; N] {
        clamped_box_keys::<Self, R, N>(self, x, y)
    }

    /// Median of the 3 × 3 box around (x, y) (edges replicated), as an order key.
    #[inline]
    fn median3_key(&self, x: usize, y: usize) -> i32 {
        median_of_9_keys(self.box_keys::<1, 9>(x, y))
    }

    /// Median of the 5 × 5 box around (x, y) (edges replicated).
    #[inline]
    fn median5(&self, x: usize, y: usize) -> f32 {
        from_order_key(median_of_25_keys(self.box_keys::<2, 25>(x, y)))
    }
}

/// [`Pixels::box_keys`] pixel by pixel, each position clamped to the image.
#[inline]
fn clamped_box_keys<P: Pixels + ?Sized, const R: usize, const N: usize>(
    pixels: &P,
    x: usize,
    y: usize,
) -> [i32; N] {
    let mut keys = [0i32; N];
    let side = 2 * R + 1;
    for (i, k) in keys.iter_mut().enumerate() {
        let dx = (i % side) as isize - R as isize;
        let dy = (i / side) as isize - R as isize;
        *k = order_key(pixels.at(x as isize + dx, y as isize + dy));
    }
    keys
}

impl Pixels for Grid<'_> {
    #[inline]
    fn size(&self) -> (usize, usize) {
        (self.w, self.h)
    }

    #[inline]
    fn value(&self, q: usize) -> f32 {
        self.v[q]
    }

    /// Away from the edges (the box inside the image, where clamping changes nothing) the
    /// box's rows straight from the slice.
    #[inline]
    fn box_keys<const R: usize, const N: usize>(&self, x: usize, y: usize) -> [i32; N] {
        let side = 2 * R + 1;
        if x < R || y < R || x + R >= self.w || y + R >= self.h {
            return clamped_box_keys::<Self, R, N>(self, x, y);
        }
        let mut keys = [0i32; N];
        for (dy, row) in keys.chunks_exact_mut(side).enumerate() {
            let start = (y + dy - R) * self.w + x - R;
            for (k, v) in row.iter_mut().zip(&self.v[start..start + side]) {
                *k = order_key(*v);
            }
        }
        keys
    }
}

/// The image being cleaned: the image before cleaning (`original`) but for the pixels
/// replaced so far, all flagged in `cosmic` (most of which are not), whose values are in
/// `replaced`. Replacements are a few pixels in a million: a sparse map of them instead of a
/// full-frame working copy (16.8 MB per ALFOSC frame).
struct Patched<'a> {
    original: Grid<'a>,
    cosmic: &'a [bool],
    replaced: &'a crate::image::PixelMap<f32>,
}

impl Pixels for Patched<'_> {
    #[inline]
    fn size(&self) -> (usize, usize) {
        (self.original.w, self.original.h)
    }

    #[inline]
    fn value(&self, q: usize) -> f32 {
        if self.cosmic[q] {
            if let Some(v) = self.replaced.get(&q) {
                return *v;
            }
        }
        self.original.v[q]
    }
}

/// The integer whose order is that of `f32::total_cmp` (the same transform): medians are
/// taken on these keys with integer minima and maxima, and give exactly the value that a
/// selection with `total_cmp` gives. The transform is its own inverse.
#[inline]
fn order_key(v: f32) -> i32 {
    let b = v.to_bits() as i32;
    b ^ (((b >> 31) as u32 >> 1) as i32)
}

/// The value of an order key.
#[inline]
fn from_order_key(k: i32) -> f32 {
    f32::from_bits((k ^ (((k >> 31) as u32 >> 1) as i32)) as u32)
}

/// Defines a selection network: `$table`, its compare-exchanges (i, j) (after them the
/// middle element holds the median), and `$median`, which performs them in that order as
/// straight-line code (branch-free integer minima and maxima, the keys kept in registers
/// rather than indexed through a table in memory), returning the middle element. Both come
/// from the one list, so the tests of the table hold for the function.
macro_rules! selection_network {
    ($(#[$doc:meta])* $table:ident, $median:ident, $lanes:ident, $n:literal, $len:literal,
     [$(($i:literal, $j:literal)),* $(,)?]) => {
        selection_network!($(#[$doc])* $table, $median, $n, $len, [$(($i, $j)),*]);

        $(#[$doc])*
        /// Lane by lane: `L` independent medians, one per lane, each the value `$median`
        /// gives on that lane's keys (the same compare-exchanges, taken on all lanes at
        /// once, which vectorises).
        #[inline(always)]
        fn $lanes<const L: usize>(mut keys: [[i32; L]; $n]) -> [i32; L] {
            $(
                for l in 0..L {
                    let (a, b) = (keys[$i][l], keys[$j][l]);
                    keys[$i][l] = a.min(b);
                    keys[$j][l] = a.max(b);
                }
            )*
            keys[$n / 2]
        }
    };
    ($(#[$doc:meta])* $table:ident, $median:ident, $n:literal, $len:literal,
     [$(($i:literal, $j:literal)),* $(,)?]) => {
        $(#[$doc])*
        #[cfg(test)]
        const $table: [(u8, u8); $len] = [$(($i, $j)),*];

        $(#[$doc])*
        #[inline(always)]
        fn $median(mut keys: [i32; $n]) -> i32 {
            $(
                let (a, b) = (keys[$i], keys[$j]);
                keys[$i] = a.min(b);
                keys[$j] = a.max(b);
            )*
            keys[$n / 2]
        }
    };
}

selection_network!(
    /// Selection network for the median of 9 (Paeth; Devillard's `opt_med9`).
    MEDIAN_OF_9, median_of_9_keys, 9, 19,
    [(1, 2), (4, 5), (7, 8), (0, 1), (3, 4), (6, 7), (1, 2), (4, 5), (7, 8), (0, 3), (5, 8),
    (4, 7), (3, 6), (1, 4), (2, 5), (4, 7), (4, 2), (6, 4), (4, 2),
    ]
);

selection_network!(
    /// Selection network for the median of 25 (Devillard's `opt_med25`). Both networks
    /// are checked on every input of 0s and 1s in the tests (the 0-1 principle).
    MEDIAN_OF_25, median_of_25_keys, median_of_25_key_lanes, 25, 99,
    [(0, 1), (3, 4), (2, 4), (2, 3), (6, 7), (5, 7), (5, 6), (9, 10), (8, 10), (8, 9),
    (12, 13), (11, 13), (11, 12), (15, 16), (14, 16), (14, 15), (18, 19), (17, 19),
    (17, 18), (21, 22), (20, 22), (20, 21), (23, 24), (2, 5), (3, 6), (0, 6), (0, 3),
    (4, 7), (1, 7), (1, 4), (11, 14), (8, 14), (8, 11), (12, 15), (9, 15), (9, 12),
    (13, 16), (10, 16), (10, 13), (20, 23), (17, 23), (17, 20), (21, 24), (18, 24),
    (18, 21), (19, 22), (8, 17), (9, 18), (0, 18), (0, 9), (10, 19), (1, 19), (1, 10),
    (11, 20), (2, 20), (2, 11), (12, 21), (3, 21), (3, 12), (13, 22), (4, 22), (4, 13),
    (14, 23), (5, 23), (5, 14), (15, 24), (6, 24), (6, 15), (7, 16), (7, 19), (13, 21),
    (15, 23), (7, 13), (7, 15), (1, 9), (3, 11), (5, 17), (11, 17), (9, 17), (4, 10),
    (6, 12), (7, 14), (4, 6), (4, 7), (12, 14), (10, 14), (6, 7), (10, 12), (6, 10),
    (6, 17), (12, 17), (7, 17), (7, 10), (12, 18), (7, 12), (10, 18), (12, 20), (10, 20),
    (10, 12),
    ]
);

/// The middle element of `keys` after the compare-exchanges of `network` (the plain
/// definition, which the tests compare the networks' functions with).
#[cfg(test)]
fn median_by_network<const N: usize>(mut keys: [i32; N], network: &[(u8, u8)]) -> i32 {
    for &(i, j) in network {
        let (a, b) = (keys[i as usize], keys[j as usize]);
        keys[i as usize] = a.min(b);
        keys[j as usize] = a.max(b);
    }
    keys[N / 2]
}

/// Median of 5 (finite) values without branches: the two pairs' larger minimum and
/// smaller maximum bracket the median together with the fifth value.
#[inline]
fn median_of_5(v: [f32; 5]) -> f32 {
    let [a, b, c, d, e] = v;
    let f = max2(min2(a, b), min2(c, d));
    let g = min2(max2(a, b), max2(c, d));
    max2(min2(f, g), min2(max2(f, g), e))
}

/// Horizontal medians of 5 of row `y` (edges replicated) into `out`: away from the left
/// and right edges straight from the row, as five shifted slices that the compiler
/// vectorises.
fn row_medians5(grid: &Grid, y: usize, out: &mut [f32]) {
    let (w, yi) = (grid.w, y as isize);
    let edge = |x: usize| {
        let xi = x as isize;
        median_of_5([
            grid.at(xi - 2, yi),
            grid.at(xi - 1, yi),
            grid.at(xi, yi),
            grid.at(xi + 1, yi),
            grid.at(xi + 2, yi),
        ])
    };
    if w < 5 {
        for (x, o) in out.iter_mut().enumerate() {
            *o = edge(x);
        }
        return;
    }
    let src = &grid.v[y * w..(y + 1) * w];
    let shifted = src[..w - 4]
        .iter()
        .zip(&src[1..w - 3])
        .zip(&src[2..w - 2])
        .zip(&src[3..w - 1])
        .zip(&src[4..]);
    for (o, ((((a, b), c), d), e)) in out[2..w - 2].iter_mut().zip(shifted) {
        *o = median_of_5([*a, *b, *c, *d, *e]);
    }
    for x in [0, 1, w - 2, w - 1] {
        out[x] = edge(x);
    }
}

/// A lower bound of the 5 × 5 median at every pixel (edges replicated): the smallest of
/// the medians of the box's five rows. Each row has 3 values at or above its median, so at
/// least 15 of the 25 values are at or above the smallest row median, which is therefore
/// at most the 13th value (the median). Cheap, and enough to rule out most pixels before
/// the exact median is computed.
///
/// Rows `rows` of it, through `finish` (applied to every value), are handed to `visit`
/// one after the other (no frame-sized buffer): the row medians of the five rows in play
/// are kept in a ring.
fn median5_lower_bound_rows(
    grid: &Grid,
    rows: std::ops::Range<usize>,
    finish: impl Fn(f32) -> f32,
    mut visit: impl FnMut(usize, &[f32]),
) {
    let (w, h) = (grid.w, grid.h);
    let mut ring = vec![0f32; 5 * w];
    // The image row held by each slot of the ring (row yy in slot yy % 5).
    let mut held = [usize::MAX; 5];
    let mut out = vec![0f32; w];
    for y in rows {
        // Smallest of the five row medians, rows y − 2 ..= y + 2 (edge rows replicated),
        // taken in that order, in one pass.
        let mut slots = [0usize; 5];
        for (dy, slot) in (-2isize..=2).zip(slots.iter_mut()) {
            let yy = (y as isize + dy).clamp(0, h as isize - 1) as usize;
            *slot = yy % 5;
            if held[yy % 5] != yy {
                row_medians5(grid, yy, &mut ring[(yy % 5) * w..(yy % 5 + 1) * w]);
                held[yy % 5] = yy;
            }
        }
        let row = |i: usize| &ring[slots[i] * w..(slots[i] + 1) * w];
        let medians = row(0)
            .iter()
            .zip(row(1))
            .zip(row(2))
            .zip(row(3))
            .zip(row(4));
        for (o, ((((a, b), c), d), e)) in out.iter_mut().zip(medians) {
            *o = finish(min2(min2(min2(min2(*a, *b), *c), *d), *e));
        }
        visit(y, &out);
    }
}

/// The lower bound of [`median5_lower_bound_rows`] at one pixel (the same operations in
/// the same order).
fn median5_lower_bound_at(grid: &Grid, x: usize, y: usize) -> f32 {
    let (xi, yi) = (x as isize, y as isize);
    let interior = x >= 2 && x + 2 < grid.w && y >= 2 && y + 2 < grid.h;
    let mut m = f32::INFINITY;
    for dy in -2isize..=2 {
        let row = if interior {
            // The box's row straight from the slice (no position to clamp).
            let start = (y as isize + dy) as usize * grid.w + x - 2;
            std::array::from_fn(|i| grid.v[start + i])
        } else {
            std::array::from_fn(|i| grid.at(xi + i as isize - 2, yi + dy))
        };
        m = min2(m, median_of_5(row));
    }
    m
}

/// Pushes onto `found` the pixels k of row `y` (L⁺ `l_row`, the lower bound of N
/// `floor_row`) that `candidate(k, L⁺, floor)` accepts. Blocks of pixels of which none has
/// L⁺ > `l_limit` × floor (most of them: the same products and comparisons as the test of a
/// candidate, a block at a time) are passed over, unless `test_each` (the plain definition:
/// every pixel tested alone).
fn row_candidates(
    y: usize,
    l_row: &[f32],
    floor_row: &[f32],
    l_limit: f32,
    test_each: bool,
    candidate: impl Fn(usize, f32, f32) -> bool,
    found: &mut Vec<usize>,
) {
    let w = l_row.len();
    let blocks = l_row.chunks(SCAN_BLOCK).zip(floor_row.chunks(SCAN_BLOCK));
    for (b, (l_block, floor_block)) in blocks.enumerate() {
        if !test_each && !any_above(l_block, floor_block, l_limit) {
            continue;
        }
        let pixels = l_block.iter().zip(floor_block).enumerate();
        for (i, (l, floor)) in pixels {
            let k = y * w + b * SCAN_BLOCK + i;
            if candidate(k, *l, *floor) {
                found.push(k);
            }
        }
    }
}

/// Whether `l[i] > limit × floor[i]` anywhere (`l` and `floor` of one length), without
/// branches; a block of [`SCAN_BLOCK`] values at a time, whose length the compiler knows
/// (a loop of unknown length is vectorised for 64 values and more only).
#[inline]
fn any_above(l: &[f32], floor: &[f32], limit: f32) -> bool {
    let above = |any: bool, (l, floor): (&f32, &f32)| any | (*l > limit * *floor);
    match (
        <&[f32; SCAN_BLOCK]>::try_from(l),
        <&[f32; SCAN_BLOCK]>::try_from(floor),
    ) {
        (Ok(l), Ok(floor)) => l.iter().zip(floor).fold(false, above),
        _ => l.iter().zip(floor).fold(false, above),
    }
}

/// L⁺ (see the module documentation) of a pixel v with neighbours l, r, d, u.
#[inline]
fn lplus(c: f32, l: f32, r: f32, d: f32, u: f32) -> f32 {
    let c2 = 2.0 * c;
    0.25 * ((c2 - l - d).max(0.0)
        + (c2 - r - d).max(0.0)
        + (c2 - l - u).max(0.0)
        + (c2 - r - u).max(0.0))
}

/// L⁺ at (x, y) (edges replicated).
#[inline]
fn lplus_at(grid: &impl Pixels, x: usize, y: usize) -> f32 {
    let (xi, yi) = (x as isize, y as isize);
    lplus(
        grid.at(xi, yi),
        grid.at(xi - 1, yi),
        grid.at(xi + 1, yi),
        grid.at(xi, yi - 1),
        grid.at(xi, yi + 1),
    )
}

/// Row `y` of L⁺ into `row` (`w` values).
fn lplus_row(grid: &Grid, y: usize, row: &mut [f32]) {
    let (w, h, v) = (grid.w, grid.h, grid.v);
    if y == 0 || y + 1 >= h || w < 3 {
        for (x, o) in row.iter_mut().enumerate() {
            *o = lplus_at(grid, x, y);
        }
        return;
    }
    let (below, centre, above) = (
        &v[(y - 1) * w..y * w],
        &v[y * w..(y + 1) * w],
        &v[(y + 1) * w..(y + 2) * w],
    );
    row[0] = lplus_at(grid, 0, y);
    row[w - 1] = lplus_at(grid, w - 1, y);
    for x in 1..w - 1 {
        row[x] = lplus(centre[x], centre[x - 1], centre[x + 1], below[x], above[x]);
    }
}

/// Fine structure at (x, y): med3(I) − med7(med3(I)).
fn fine_structure(grid: &impl Pixels, x: usize, y: usize) -> f32 {
    let (w, h) = grid.size();
    let mut med3s = [0i32; 49];
    for (i, m) in med3s.iter_mut().enumerate() {
        let xx = (x as isize + (i % 7) as isize - 3).clamp(0, w as isize - 1) as usize;
        let yy = (y as isize + (i / 7) as isize - 3).clamp(0, h as isize - 1) as usize;
        *m = grid.median3_key(xx, yy);
    }
    let centre = from_order_key(med3s[24]);
    let med7 = from_order_key(*med3s.select_nth_unstable(24).1);
    centre - med7
}

/// Median of the 8 neighbours of (x, y) (edges replicated).
fn neighbour_median(grid: &impl Pixels, x: usize, y: usize) -> f32 {
    let (xi, yi) = (x as isize, y as isize);
    let mut v = [0f32; 8];
    let mut i = 0;
    for dy in -1isize..=1 {
        for dx in -1isize..=1 {
            if dx != 0 || dy != 0 {
                v[i] = grid.at(xi + dx, yi + dy);
                i += 1;
            }
        }
    }
    v.sort_unstable_by(f32::total_cmp);
    0.5 * (v[3] + v[4])
}

/// Median of the pixels of the (2r+1)² box around `k` that are usable and not flagged.
fn replacement(
    w: usize,
    h: usize,
    v: &[f32],
    excluded: impl Fn(usize) -> bool,
    k: usize,
) -> Option<f32> {
    let (x, y) = (k % w, k / w);
    for r in [2usize, 3, 5] {
        let mut vals = Vec::with_capacity((2 * r + 1) * (2 * r + 1));
        for yy in y.saturating_sub(r)..(y + r + 1).min(h) {
            for xx in x.saturating_sub(r)..(x + r + 1).min(w) {
                let q = yy * w + xx;
                if !excluded(q) && v[q].is_finite() {
                    vals.push(v[q]);
                }
            }
        }
        if !vals.is_empty() {
            let mid = vals.len() / 2;
            vals.select_nth_unstable_by(mid, f32::total_cmp);
            let upper = vals[mid];
            let m = if vals.len() % 2 == 0 {
                let lower = vals[..mid].iter().copied().fold(f32::MIN, f32::max);
                0.5 * (lower + upper)
            } else {
                upper
            };
            return Some(m);
        }
    }
    None
}

/// Pixels per tile of [`Tiles`]: one vector of AVX-512, whose values are made together.
const TILE: usize = 16;

/// [`Tiles::tile_of`] of a tile not made yet.
const NOT_MADE: u32 = u32::MAX;

/// Values of a quantity per pixel, made where they are asked for, a tile of [`TILE`]
/// pixels along the rows at a time (pixel k in tile k / [`TILE`]). They are needed around the
/// candidates only, so most of the frame's tiles are never made (a frame-sized map would be
/// written in full, 18 MB for a full ALFOSC frame).
struct Tiles {
    /// Per tile, its place in `made`, or [`NOT_MADE`].
    tile_of: Vec<u32>,
    /// The tiles made, and which tile each is.
    made: Vec<([f32; TILE], usize)>,
}

impl Tiles {
    /// For an image of `n` pixels.
    fn new(n: usize) -> Self {
        Tiles {
            tile_of: vec![NOT_MADE; n.div_ceil(TILE)],
            made: Vec::new(),
        }
    }

    /// The value at pixel `k`, its tile made by `make(tile)` if it is not yet.
    #[inline]
    fn at(&mut self, k: usize, make: impl FnOnce(usize) -> [f32; TILE]) -> f32 {
        let t = k / TILE;
        let mut place = self.tile_of[t];
        if place == NOT_MADE {
            place = self.made.len() as u32;
            self.made.push((make(t), t));
            self.tile_of[t] = place;
        }
        self.made[place as usize].0[k % TILE]
    }

    /// Forgets every tile made (to be made again when asked for).
    fn forget(&mut self) {
        for (_, t) in self.made.drain(..) {
            self.tile_of[t] = NOT_MADE;
        }
    }
}

/// Whether the pixels of tile `t` lie in one row of a `w × h` image, at least `margin` px
/// from its edges.
fn tile_inside(t: usize, w: usize, h: usize, margin: usize) -> bool {
    let first = t * TILE;
    let (x, y) = (first % w, first / w);
    x >= margin && x + TILE + margin <= w && y >= margin && y + margin < h
}

/// `value(q)` at the pixels q of tile `t`, 0 past the image's last pixel (`n` pixels).
fn tile_pixel_by_pixel(t: usize, n: usize, value: impl Fn(usize) -> f32) -> [f32; TILE] {
    std::array::from_fn(|l| {
        let q = t * TILE + l;
        if q < n {
            value(q)
        } else {
            0.0
        }
    })
}

/// The noise N = √(max(med5(I), 0) + σ_read²) of the original image, computed only where
/// it is needed (the 5 × 5 median is the expensive part of the algorithm).
struct Noise<'a> {
    image: Grid<'a>,
    rn2: f32,
    tiles: Tiles,
}

impl<'a> Noise<'a> {
    fn new(image: Grid<'a>, rn2: f32) -> Self {
        let tiles = Tiles::new(image.w * image.h);
        Noise { image, rn2, tiles }
    }

    fn at(&mut self, k: usize) -> f32 {
        let Noise { image, rn2, tiles } = self;
        tiles.at(k, |t| noise_tile(image, *rn2, t))
    }
}

/// N at the pixels of tile `t` of `image`. A tile within one row and at least 2 px from the
/// image's edges (the 5 × 5 boxes inside the image) has its medians taken lane by lane; any
/// other, pixel by pixel: the same values.
fn noise_tile(image: &Grid, rn2: f32, t: usize) -> [f32; TILE] {
    let Grid { w, h, v } = *image;
    let medians: [f32; TILE] = if tile_inside(t, w, h, 2) {
        let first = t * TILE;
        let (x, y) = (first % w, first / w);
        let mut keys = [[0i32; TILE]; 25];
        for (i, lanes) in keys.iter_mut().enumerate() {
            let start = (y + i / 5 - 2) * w + x + i % 5 - 2;
            for (key, value) in lanes.iter_mut().zip(&v[start..start + TILE]) {
                *key = order_key(*value);
            }
        }
        median_of_25_key_lanes(keys).map(from_order_key)
    } else {
        tile_pixel_by_pixel(t, w * h, |q| image.median5(q % w, q / w))
    };
    medians.map(|m| (m.max(0.0) + rn2).sqrt().max(1e-3))
}

/// L⁺ of the image being cleaned, made where it is asked for ([`Tiles`]); the tiles made
/// are forgotten when pixels are replaced.
struct Laplacian {
    tiles: Tiles,
}

impl Laplacian {
    fn forget(&mut self) {
        self.tiles.forget();
    }

    fn at(&mut self, grid: &Patched, k: usize) -> f32 {
        self.tiles.at(k, |t| laplacian_tile(grid, t))
    }
}

/// L⁺ at the pixels of tile `t` of `grid`. Before any pixel is replaced (the image being
/// cleaned is the original), a tile within one row and at least 1 px from the image's edges
/// is made from the original's rows, lane by lane; any other, pixel by pixel: the same
/// operations ([`lplus_row`], [`lplus_at`]).
fn laplacian_tile(grid: &Patched, t: usize) -> [f32; TILE] {
    let Grid { w, h, v } = grid.original;
    if grid.replaced.is_empty() && tile_inside(t, w, h, 1) {
        let first = t * TILE;
        let row = |dy: usize| &v[first + dy * w - w - 1..first + dy * w - w + TILE + 1];
        let (below, centre, above) = (row(0), row(1), row(2));
        std::array::from_fn(|i| {
            lplus(
                centre[i + 1],
                centre[i],
                centre[i + 2],
                below[i + 1],
                above[i + 1],
            )
        })
    } else {
        tile_pixel_by_pixel(t, w * h, |q| lplus_at(grid, q % w, q / w))
    }
}

/// Detects cosmic rays in `image` (electrons, sky included), replaces them and flags them
/// COSMIC_RAY in `mask`. `read_noise_e` enters the noise model.
pub fn clean_cosmic_rays(
    image: &mut Image,
    mask: &mut PixelMask,
    read_noise_e: f64,
    options: &LaCosmicOptions,
) -> CosmicReport {
    clean(image, mask, read_noise_e, options, false)
}

/// [`clean_cosmic_rays`]; with `test_every_pixel`, every iteration tests the whole frame,
/// pixel by pixel (the plain definition, which the tests compare with).
fn clean(
    image: &mut Image,
    mask: &mut PixelMask,
    read_noise_e: f64,
    options: &LaCosmicOptions,
    test_every_pixel: bool,
) -> CosmicReport {
    let (w, h) = (image.width(), image.height());
    let mut report = CosmicReport::default();
    if w < 3 || h < 3 {
        return report;
    }
    let n = w * h;
    let (bits, data) = (mask.bits(), image.data());
    let unusable = |q: usize| bits[q] & pixel_flag::UNUSABLE != 0 || !data[q].is_finite();
    // Within `protect_radius_px` of an unusable pixel (looked at only where a pixel is
    // tested: no frame-sized mask). Every pixel of the box looked at, with non-short-circuit
    // `|`: no branch per pixel (nearly every box holds none).
    let r = options.protect_radius_px;
    let protected = |k: usize| {
        let (x, y) = (k % w, k / w);
        (y.saturating_sub(r)..(y + r + 1).min(h)).fold(false, |any, yy| {
            let row = yy * w + x.saturating_sub(r)..yy * w + (x + r + 1).min(w);
            row.fold(any, |any, q| any | unusable(q))
        })
    };
    // The image before cleaning, with unusable non-finite pixels filled in: the image itself
    // when no pixel has to be (no copy of a full frame).
    // Looked for block by block (a test of a whole block vectorises; most hold none), in
    // the plain definition pixel by pixel.
    let fills: Vec<(usize, f32)> = data
        .chunks(FILL_SCAN_BLOCK)
        .enumerate()
        .filter(|(_, block)| {
            test_every_pixel || block.iter().fold(false, |any, v| any | !v.is_finite())
        })
        .flat_map(|(b, block)| {
            let pixels = block.iter().enumerate();
            pixels
                .filter(|(_, v)| !v.is_finite())
                .map(move |(i, _)| b * FILL_SCAN_BLOCK + i)
        })
        .map(|k| (k, replacement(w, h, data, unusable, k).unwrap_or(0.0)))
        .collect();
    let original: std::borrow::Cow<[f32]> = if fills.is_empty() {
        std::borrow::Cow::Borrowed(data)
    } else {
        let mut filled = data.to_vec();
        for (k, v) in fills {
            filled[k] = v;
        }
        std::borrow::Cow::Owned(filled)
    };
    // The image being cleaned ([`Patched`]): `original` with the values replaced so far.
    let mut replaced_values: crate::image::PixelMap<f32> = Default::default();
    let rn2 = (read_noise_e * read_noise_e) as f32;
    // The lower bound of N (see `median5_lower_bound_rows`).
    let floor_of = |m: f32| (m.max(0.0) + rn2).sqrt().max(1e-3);
    let original_grid = Grid { w, h, v: &original };
    let mut noise = Noise::new(Grid { w, h, v: &original }, rn2);
    let mut cosmic = vec![false; n];
    let sigclip = options.sigma_clip as f32;
    let siglow = (options.sigma_clip * options.sigma_frac) as f32;
    let objlim = options.object_limit as f32;
    // L⁺ > 2 σ_clip N (S > σ_clip) with the lower bound of N, 2 σ_clip taken once.
    let l_limit = 2.0 * sigclip;
    let eligible = |k: usize, cosmic: &[bool]| !cosmic[k] && !protected(k);
    // Candidates: S > σ_clip (ruled out cheaply with the lower bound of N first).
    let candidate =
        |k: usize, l: f32, floor: f32, cosmic: &[bool]| l > l_limit * floor && eligible(k, cosmic);
    // L⁺ of the image being cleaned, where the tests read it (around the candidates).
    let mut laplacian = Laplacian {
        tiles: Tiles::new(n),
    };
    // The first pass: the candidates of the first iteration (the cheap test on every pixel,
    // the others on what passes it), in bands of rows in parallel, L⁺ and the lower bound of
    // N made row by row as it goes (no frame-sized map of either).
    let n_bands = h.div_ceil(FIRST_PASS_BAND_ROWS);
    let mut first_candidates: Vec<usize> = (0..n_bands)
        .into_par_iter()
        .flat_map_iter(|b| {
            let rows = b * FIRST_PASS_BAND_ROWS..((b + 1) * FIRST_PASS_BAND_ROWS).min(h);
            let mut l_row = vec![0f32; w];
            let mut found = Vec::new();
            median5_lower_bound_rows(&original_grid, rows, floor_of, |y, floor_row| {
                lplus_row(&original_grid, y, &mut l_row);
                let accept = |k, l, floor| candidate(k, l, floor, &cosmic);
                row_candidates(
                    y,
                    &l_row,
                    floor_row,
                    l_limit,
                    test_every_pixel,
                    accept,
                    &mut found,
                );
            });
            found
        })
        .collect();
    // The pixels found so far in this iteration (a few: no frame-sized map).
    let mut flagged: crate::image::PixelMap<()> = Default::default();
    // Every pixel flagged, in the order found.
    let mut all_found: Vec<usize> = Vec::new();
    // The pixels replaced in the previous iteration.
    let mut replaced: Vec<usize> = Vec::new();
    for iteration in 0..options.max_iterations.max(1) {
        let w_grid = Patched {
            original: Grid { w, h, v: &original },
            cosmic: &cosmic,
            replaced: &replaced_values,
        };
        // S′ = S − med5(S) at pixel k, S = L⁺ / 2N (memoised for this iteration).
        let mut sp_cache: crate::image::PixelMap<f32> = Default::default();
        let mut sprime = |k: usize, noise: &mut Noise, laplacian: &mut Laplacian| -> f32 {
            if let Some(v) = sp_cache.get(&k) {
                return *v;
            }
            let (x, y) = ((k % w) as isize, (k / w) as isize);
            let mut s5 = [0i32; 25];
            for (i, s) in s5.iter_mut().enumerate() {
                let xx = (x + (i % 5) as isize - 2).clamp(0, w as isize - 1) as usize;
                let yy = (y + (i / 5) as isize - 2).clamp(0, h as isize - 1) as usize;
                let q = yy * w + xx;
                *s = order_key(laplacian.at(&w_grid, q) / (2.0 * noise.at(q)));
            }
            let s_k = from_order_key(s5[12]);
            let med = from_order_key(median_of_25_keys(s5));
            let v = s_k - med;
            sp_cache.insert(k, v);
            v
        };
        let passing: Vec<usize> = if iteration == 0 {
            std::mem::take(&mut first_candidates)
        } else if test_every_pixel {
            // The plain definition: every pixel tested again, against L⁺ of the image as
            // cleaned so far.
            (0..n_bands)
                .into_par_iter()
                .flat_map_iter(|b| {
                    let rows = b * FIRST_PASS_BAND_ROWS..((b + 1) * FIRST_PASS_BAND_ROWS).min(h);
                    let mut found = Vec::new();
                    median5_lower_bound_rows(&original_grid, rows, floor_of, |y, floor_row| {
                        let l_row: Vec<f32> = (0..w).map(|x| lplus_at(&w_grid, x, y)).collect();
                        let accept = |k, l, floor| candidate(k, l, floor, &cosmic);
                        row_candidates(y, &l_row, floor_row, l_limit, true, accept, &mut found);
                    });
                    found
                })
                .collect()
        } else {
            // Every test below depends on the image within DEPENDENCE_RADIUS of the pixel
            // only (and on the original image, which does not change). Elsewhere the image
            // is as in the previous iteration, which found nothing new there: only the
            // surroundings of the pixels replaced since can hold new detections.
            let r = DEPENDENCE_RADIUS;
            let mut near: Vec<usize> = Vec::new();
            for &k in &replaced {
                let (x, y) = (k % w, k / w);
                for yy in y.saturating_sub(r)..(y + r + 1).min(h) {
                    near.extend(yy * w + x.saturating_sub(r)..yy * w + (x + r + 1).min(w));
                }
            }
            near.sort_unstable();
            near.dedup();
            near.retain(|&k| {
                let floor = floor_of(median5_lower_bound_at(&original_grid, k % w, k / w));
                candidate(k, laplacian.at(&w_grid, k), floor, &cosmic)
            });
            near
        };
        let mut new: Vec<usize> = Vec::new();
        for k in passing {
            let nk = noise.at(k);
            if laplacian.at(&w_grid, k) / (2.0 * nk) <= sigclip {
                continue;
            }
            let sp = sprime(k, &mut noise, &mut laplacian);
            if sp <= sigclip {
                continue;
            }
            let f = (fine_structure(&w_grid, k % w, k / w) / nk).max(0.01);
            if sp / f <= objlim {
                continue;
            }
            if w_grid.value(k) - neighbour_median(&w_grid, k % w, k / w) > sigclip * nk {
                new.push(k);
            }
        }
        // Growth: neighbours above σ_clip, then neighbours above σ_frac σ_clip. Whether a
        // neighbour joins does not depend on the order of the visits, only on the pixels
        // flagged before the pass began.
        let mut found = new;
        flagged.extend(found.iter().map(|&k| (k, ())));
        for limit in [sigclip, siglow] {
            let current = found.len();
            for c in 0..current {
                let k = found[c];
                let (x, y) = (k % w, k / w);
                for yy in y.saturating_sub(1)..(y + 2).min(h) {
                    for xx in x.saturating_sub(1)..(x + 2).min(w) {
                        let q = yy * w + xx;
                        if !flagged.contains_key(&q)
                            && eligible(q, w_grid.cosmic)
                            && sprime(q, &mut noise, &mut laplacian) > limit
                            && w_grid.value(q) - neighbour_median(&w_grid, xx, yy)
                                > limit * noise.at(q)
                        {
                            flagged.insert(q, ());
                            found.push(q);
                        }
                    }
                }
            }
        }
        found.sort_unstable();
        flagged.clear();
        report.per_iteration.push(found.len());
        if found.is_empty() {
            break;
        }
        for &k in &found {
            cosmic[k] = true;
        }
        all_found.extend_from_slice(&found);
        // The replacements read no flagged pixel, where alone the image being cleaned differs
        // from `original`.
        let values: Vec<(usize, f32)> = found
            .iter()
            .filter_map(|&k| {
                replacement(w, h, &original, |q| cosmic[q] || unusable(q), k).map(|v| (k, v))
            })
            .collect();
        replaced.clear();
        for (k, v) in values {
            replaced_values.insert(k, v);
            replaced.push(k);
        }
        // L⁺ changes where it depends on a replaced pixel: made again where asked for.
        laplacian.forget();
    }
    let cleaned = Patched {
        original: Grid { w, h, v: &original },
        cosmic: &cosmic,
        replaced: &replaced_values,
    };
    let values: Vec<f32> = all_found.iter().map(|&k| cleaned.value(k)).collect();
    let data = image.data_mut();
    let bits = mask.bits_mut();
    for (&k, v) in all_found.iter().zip(values) {
        data[k] = v;
        bits[k] |= pixel_flag::COSMIC_RAY;
    }
    report.n_flagged = all_found.len();
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gauss(seed: &mut u64) -> f32 {
        crate::stats::test_gauss(seed) as f32
    }

    /// Sky of 900 e⁻ with Poisson-like noise, a Gaussian star of FWHM 4.7 px, a 1/ρ coma
    /// smoothed by the same seeing, and three cosmic rays.
    fn scene() -> (Image, Vec<(usize, usize)>) {
        let (w, h) = (120, 100);
        let mut seed = 5;
        let sigma_psf = 4.7 / 2.3548;
        let mut data = vec![0f32; w * h];
        for y in 0..h {
            for x in 0..w {
                let mut v = 900.0f64;
                let r2 = (x as f64 - 30.3).powi(2) + (y as f64 - 40.6).powi(2);
                v += 50_000.0 / (2.0 * std::f64::consts::PI * sigma_psf * sigma_psf)
                    * (-r2 / (2.0 * sigma_psf * sigma_psf)).exp();
                // Coma: 1/ρ softened over the seeing disc.
                let rho = ((x as f64 - 85.0).powi(2) + (y as f64 - 50.0).powi(2)).sqrt();
                v += 3000.0 / (rho * rho + sigma_psf * sigma_psf).sqrt();
                data[y * w + x] = (v + v.sqrt() * f64::from(gauss(&mut seed))) as f32;
            }
        }
        let hits = vec![(10, 80), (60, 20), (61, 21), (100, 90)];
        for &(x, y) in &hits {
            data[y * w + x] += 3000.0;
        }
        (Image::new(w, h, data).unwrap(), hits)
    }

    #[test]
    fn finds_cosmic_rays_and_leaves_star_and_coma() {
        let (mut img, hits) = scene();
        let original = img.clone();
        let mut mask = PixelMask::clear(img.width(), img.height());
        let report = clean_cosmic_rays(&mut img, &mut mask, 4.3, &LaCosmicOptions::default());
        for &(x, y) in &hits {
            assert!(mask.has(x, y, pixel_flag::COSMIC_RAY), "missed ({x}, {y})");
            assert!((img.get(x, y) - 900.0).abs() < 200.0, "{}", img.get(x, y));
        }
        for y in 0..img.height() {
            for x in 0..img.width() {
                let near_star = (x as f64 - 30.3).hypot(y as f64 - 40.6) < 8.0;
                let near_coma = (x as f64 - 85.0).hypot(y as f64 - 50.0) < 8.0;
                if near_star || near_coma {
                    assert!(
                        !mask.has(x, y, pixel_flag::COSMIC_RAY),
                        "({x}, {y}) flagged"
                    );
                    assert_eq!(img.get(x, y), original.get(x, y));
                }
            }
        }
        assert!(report.n_flagged >= hits.len() && report.n_flagged < hits.len() + 12);
    }

    #[test]
    fn median_of_five_on_every_small_pattern() {
        for code in 0..4u32.pow(5) {
            let v: [f32; 5] = std::array::from_fn(|i| ((code / 4u32.pow(i as u32)) % 4) as f32);
            let mut sorted = v;
            sorted.sort_by(f32::total_cmp);
            assert_eq!(median_of_5(v), sorted[2], "{v:?}");
        }
    }

    /// Plain median of a box (edges replicated) by a selection with `total_cmp`.
    fn reference_median(grid: &Grid, x: usize, y: usize, r: isize) -> f32 {
        let mut vals = Vec::new();
        for dy in -r..=r {
            for dx in -r..=r {
                vals.push(grid.at(x as isize + dx, y as isize + dy));
            }
        }
        let mid = vals.len() / 2;
        *vals.select_nth_unstable_by(mid, f32::total_cmp).1
    }

    /// A network selects the median of every input iff it does so for every input of 0s
    /// and 1s (the 0-1 principle): all 2^N of them, 64 at a time as bits of a word
    /// (minimum = and, maximum = or).
    fn check_network_on_zeros_and_ones<const N: usize>(network: &[(u8, u8)]) {
        for chunk in 0..(1u64 << N) / 64 {
            let mut words: [u64; N] = std::array::from_fn(|i| {
                let mut word = 0u64;
                for lane in 0..64u64 {
                    word |= (((chunk * 64 + lane) >> i) & 1) << lane;
                }
                word
            });
            for &(i, j) in network {
                let (a, b) = (words[i as usize], words[j as usize]);
                words[i as usize] = a & b;
                words[j as usize] = a | b;
            }
            for lane in 0..64u64 {
                let ones = (chunk * 64 + lane).count_ones() as usize;
                assert_eq!((words[N / 2] >> lane) & 1 == 1, ones > N / 2);
            }
        }
    }

    #[test]
    fn median_networks_on_every_input_of_zeros_and_ones() {
        check_network_on_zeros_and_ones::<9>(&MEDIAN_OF_9);
        check_network_on_zeros_and_ones::<25>(&MEDIAN_OF_25);
    }

    /// A key for the tests of the networks: one of few distinct keys with `ties` (a few
    /// units apart), else the order key of a value.
    fn network_test_key(seed: &mut u64, ties: bool) -> i32 {
        let g = gauss(seed);
        if ties {
            (g * 2.0) as i32
        } else {
            order_key(g * 1e3)
        }
    }

    /// The straight-line networks perform the compare-exchanges of their tables.
    #[test]
    fn unrolled_networks_equal_their_tables() {
        let mut seed = 31;
        for round in 0..20_000 {
            // Ties in half the rounds.
            let mut key = || network_test_key(&mut seed, round % 2 == 0);
            let k9: [i32; 9] = std::array::from_fn(|_| key());
            let k25: [i32; 25] = std::array::from_fn(|_| key());
            assert_eq!(median_of_9_keys(k9), median_by_network(k9, &MEDIAN_OF_9));
            assert_eq!(
                median_of_25_keys(k25),
                median_by_network(k25, &MEDIAN_OF_25)
            );
        }
    }

    #[test]
    fn lanes_of_the_25_network_equal_the_network_lane_by_lane() {
        let mut seed = 5;
        for round in 0..2_000 {
            let mut key = || network_test_key(&mut seed, round % 2 == 0);
            let lanes: [[i32; TILE]; 25] = std::array::from_fn(|_| std::array::from_fn(|_| key()));
            let medians = median_of_25_key_lanes(lanes);
            for (l, m) in medians.iter().enumerate() {
                let keys: [i32; 25] = std::array::from_fn(|i| lanes[i][l]);
                assert_eq!(*m, median_of_25_keys(keys));
            }
        }
    }

    /// A 41 × 9 image of noise about 100 (tiles of [`TILE`] inside rows, at the edges,
    /// across rows and past the last pixel).
    fn tiles_test_image(mut seed: u64) -> (usize, usize, Vec<f32>) {
        let (w, h) = (41, 9);
        let v = (0..w * h)
            .map(|_| 100.0 + gauss(&mut seed) * 30.0)
            .collect();
        (w, h, v)
    }

    #[test]
    fn noise_tiles_equal_the_noise_pixel_by_pixel() {
        // Tiles inside one row away from the edges (lane by lane), and tiles at the edges,
        // across two rows and past the last pixel (pixel by pixel).
        let (w, h, v) = tiles_test_image(11);
        let grid = Grid { w, h, v: &v };
        let rn2 = 9.0;
        let mut noise = Noise::new(Grid { w, h, v: &v }, rn2);
        for k in (0..w * h).rev() {
            let expected = (grid.median5(k % w, k / w).max(0.0) + rn2).sqrt().max(1e-3);
            assert_eq!(noise.at(k).to_bits(), expected.to_bits(), "pixel {k}");
        }
        assert_eq!(noise.tiles.made.len(), (w * h).div_ceil(TILE));
    }

    #[test]
    fn laplacian_tiles_equal_the_laplacian_pixel_by_pixel() {
        // Before any replacement (tiles inside one row and away from the edges lane by lane)
        // and after one (pixel by pixel, the replaced value read), and after `forget`.
        let (w, h, v) = tiles_test_image(13);
        let mut cosmic = vec![false; w * h];
        let mut replaced: crate::image::PixelMap<f32> = Default::default();
        let mut laplacian = Laplacian {
            tiles: Tiles::new(w * h),
        };
        for round in 0..2 {
            let grid = Patched {
                original: Grid { w, h, v: &v },
                cosmic: &cosmic,
                replaced: &replaced,
            };
            for k in (0..w * h).rev() {
                let expected = lplus_at(&grid, k % w, k / w);
                let found = laplacian.at(&grid, k);
                assert_eq!(
                    found.to_bits(),
                    expected.to_bits(),
                    "round {round} pixel {k}"
                );
            }
            laplacian.forget();
            assert!(laplacian.tiles.made.is_empty());
            assert!(laplacian.tiles.tile_of.iter().all(|&p| p == NOT_MADE));
            // A pixel inside a tile that was made lane by lane, replaced.
            let k = 2 * w + 20;
            cosmic[k] = true;
            replaced.insert(k, 1e4);
        }
    }

    #[test]
    fn medians_by_network_equal_the_selection_bit_for_bit() {
        let mut seed = 17;
        let (w, h) = (31, 19);
        // Few distinct values (ties), signed zeros, negative values, infinities.
        let palette = [
            0.0,
            -0.0,
            1.5,
            -2.25,
            7.0,
            f32::INFINITY,
            f32::NEG_INFINITY,
            1e-30,
        ];
        for round in 0..20 {
            let v: Vec<f32> = (0..w * h)
                .map(|_| {
                    let g = gauss(&mut seed);
                    if round % 2 == 0 {
                        palette[(g.abs() * 3.0) as usize % palette.len()]
                    } else {
                        g * 100.0
                    }
                })
                .collect();
            let grid = Grid { w, h, v: &v };
            for y in 0..h {
                for x in 0..w {
                    assert_eq!(
                        from_order_key(grid.median3_key(x, y)).to_bits(),
                        reference_median(&grid, x, y, 1).to_bits()
                    );
                    assert_eq!(
                        grid.median5(x, y).to_bits(),
                        reference_median(&grid, x, y, 2).to_bits()
                    );
                }
            }
        }
        for v in [
            0.0f32,
            -0.0,
            1.0,
            -1.0,
            f32::MAX,
            f32::MIN,
            f32::NAN,
            -f32::NAN,
        ] {
            assert_eq!(from_order_key(order_key(v)).to_bits(), v.to_bits());
        }
    }

    #[test]
    fn lower_bound_of_the_5x5_median() {
        let mut seed = 9;
        let (w, h) = (23, 17);
        let v: Vec<f32> = (0..w * h).map(|_| gauss(&mut seed) * 10.0).collect();
        for (w, h) in [(w, h), (4, 6), (1, 3)] {
            let v = &v[..w * h];
            let grid = Grid { w, h, v };
            // In bands of every height (the ring refilled at each start), the same as at
            // each pixel alone, bit for bit.
            for band in [1, 2, 5, 7, h] {
                let mut lb = vec![f32::NAN; w * h];
                for start in (0..h).step_by(band) {
                    let rows = start..(start + band).min(h);
                    median5_lower_bound_rows(
                        &grid,
                        rows,
                        |m| m,
                        |y, row| lb[y * w..(y + 1) * w].copy_from_slice(row),
                    );
                }
                for y in 0..h {
                    for x in 0..w {
                        let at = median5_lower_bound_at(&grid, x, y);
                        assert_eq!(lb[y * w + x].to_bits(), at.to_bits());
                        assert!(at <= grid.median5(x, y));
                    }
                }
            }
        }
    }

    /// Random sky with stars, cosmic-ray hits and tracks (some crossing, some beside
    /// stars, unusable or non-finite pixels): later iterations restricted to the surroundings
    /// of the replaced pixels give exactly what testing the whole frame gives.
    #[test]
    fn later_iterations_near_replaced_pixels_only_change_nothing() {
        let mut seed = 23;
        let mut uniform = |n: usize| ((gauss(&mut seed).abs() * 1e4) as usize) % n;
        let mut any_iterations = 0;
        for round in 0..6 {
            let (w, h) = (90 + round * 7, 70 + round * 5);
            let mut noise_seed = 100 + round as u64;
            let mut data: Vec<f32> = (0..w * h)
                .map(|_| 500.0 + 25.0 * gauss(&mut noise_seed))
                .collect();
            let mut mask = PixelMask::clear(w, h);
            for _ in 0..6 {
                let (cx, cy) = (uniform(w) as f64, uniform(h) as f64);
                let flux = 2000.0 + uniform(60_000) as f64;
                for y in 0..h {
                    for x in 0..w {
                        let r2 = (x as f64 - cx).powi(2) + (y as f64 - cy).powi(2);
                        data[y * w + x] += (flux / 12.0 * (-r2 / 3.2).exp()) as f32;
                    }
                }
            }
            for _ in 0..40 + 10 * round {
                let (mut x, mut y) = (uniform(w), uniform(h));
                let (dx, dy) = (uniform(3) as isize - 1, uniform(3) as isize - 1);
                let height = 300.0 + uniform(5000) as f32;
                for _ in 0..1 + uniform(6) {
                    data[y * w + x] += height;
                    x = (x as isize + dx).clamp(0, w as isize - 1) as usize;
                    y = (y as isize + dy).clamp(0, h as isize - 1) as usize;
                }
            }
            for _ in 0..3 {
                let k = uniform(w * h);
                data[k] = f32::NAN;
                let (x, y) = (uniform(w), uniform(h));
                mask.flag(x, y, pixel_flag::SATURATED);
            }
            let image = Image::new(w, h, data).unwrap();
            let options = LaCosmicOptions::default();
            let (mut fast, mut fast_mask) = (image.clone(), mask.clone());
            let (mut plain, mut plain_mask) = (image, mask);
            let r_fast = clean(&mut fast, &mut fast_mask, 5.0, &options, false);
            let r_plain = clean(&mut plain, &mut plain_mask, 5.0, &options, true);
            assert_eq!(r_fast, r_plain);
            assert!(r_plain.n_flagged > 0);
            any_iterations += r_plain
                .per_iteration
                .iter()
                .skip(1)
                .filter(|n| **n > 0)
                .count();
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(fast.data()), bits(plain.data()));
            assert_eq!(fast_mask.bits(), plain_mask.bits());
        }
        // Some rounds find new pixels after the first iteration.
        assert!(any_iterations > 0);
    }

    #[test]
    fn saturated_cores_are_protected() {
        let (w, h) = (40, 40);
        let mut data = vec![100f32; w * h];
        let mut mask = PixelMask::clear(w, h);
        for y in 18..22 {
            for x in 18..22 {
                data[y * w + x] = 80_000.0;
                mask.flag(x, y, pixel_flag::SATURATED);
            }
        }
        let mut img = Image::new(w, h, data).unwrap();
        let report = clean_cosmic_rays(&mut img, &mut mask, 4.3, &LaCosmicOptions::default());
        assert_eq!(report.n_flagged, 0);
    }
}
