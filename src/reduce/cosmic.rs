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
//!    neighbourhood; repeat (step 1 on the cleaned image) until nothing new is found.
//!
//! Pixels already unusable (saturated, non-finite, bad) and those within `protect_radius_px`
//! of them are never flagged (the sharp edges of saturated cores and bleed trails would
//! otherwise look like cosmic rays).

use rayon::prelude::*;

use crate::image::{pixel_flag, Image, PixelMask};

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

impl Grid<'_> {
    #[inline]
    fn at(&self, x: isize, y: isize) -> f32 {
        let xc = x.clamp(0, self.w as isize - 1) as usize;
        let yc = y.clamp(0, self.h as isize - 1) as usize;
        self.v[yc * self.w + xc]
    }

    /// Median of the (2r+1)² box around (x, y), edges replicated.
    fn median_box(&self, x: usize, y: usize, r: isize, buf: &mut Vec<f32>) -> f32 {
        buf.clear();
        for dy in -r..=r {
            for dx in -r..=r {
                buf.push(self.at(x as isize + dx, y as isize + dy));
            }
        }
        let mid = buf.len() / 2;
        *buf.select_nth_unstable_by(mid, f32::total_cmp).1
    }
}

/// Median of 5 (finite) values without branches: the two pairs' larger minimum and
/// smaller maximum bracket the median together with the fifth value.
#[inline]
fn median_of_5(v: [f32; 5]) -> f32 {
    let [a, b, c, d, e] = v;
    let f = a.min(b).max(c.min(d));
    let g = a.max(b).min(c.max(d));
    f.min(g).max(f.max(g).min(e))
}

/// A lower bound of the 5 × 5 median at every pixel (edges replicated): the smallest of
/// the medians of the box's five rows. Each row has 3 values at or above its median, so at
/// least 15 of the 25 values are at or above the smallest row median, which is therefore
/// at most the 13th value (the median). Cheap, and enough to rule out most pixels before
/// the exact median is computed. Returned through `finish` (applied to every value, in
/// the same pass).
fn median5_lower_bound(
    w: usize,
    h: usize,
    v: &[f32],
    finish: impl Fn(f32) -> f32 + Sync,
) -> Vec<f32> {
    let grid = Grid { w, h, v };
    // Horizontal medians of 5 (away from the left and right edges straight from the row,
    // as five shifted slices that the compiler vectorises).
    let mut rows = vec![0f32; w * h];
    rows.par_chunks_mut(w).enumerate().for_each(|(y, row)| {
        let yi = y as isize;
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
            for (x, o) in row.iter_mut().enumerate() {
                *o = edge(x);
            }
            return;
        }
        let src = &v[y * w..(y + 1) * w];
        let shifted = src[..w - 4]
            .iter()
            .zip(&src[1..w - 3])
            .zip(&src[2..w - 2])
            .zip(&src[3..w - 1])
            .zip(&src[4..]);
        for (o, ((((a, b), c), d), e)) in row[2..w - 2].iter_mut().zip(shifted) {
            *o = median_of_5([*a, *b, *c, *d, *e]);
        }
        for x in [0, 1, w - 2, w - 1] {
            row[x] = edge(x);
        }
    });
    // Smallest of the five row medians, rows y − 2 ..= y + 2 (edge rows replicated), taken
    // in that order.
    let mut out = vec![0f32; w * h];
    out.par_chunks_mut(w).enumerate().for_each(|(y, row)| {
        let yi = y as isize;
        row.fill(f32::INFINITY);
        for dy in -2..=2 {
            let yy = (yi + dy).clamp(0, h as isize - 1) as usize;
            for (o, m) in row.iter_mut().zip(&rows[yy * w..(yy + 1) * w]) {
                *o = o.min(*m);
            }
        }
        for o in row.iter_mut() {
            *o = finish(*o);
        }
    });
    out
}

/// L⁺ (see the module documentation) of a whole image, into `out`.
fn laplacian_plus(w: usize, h: usize, v: &[f32], out: &mut [f32]) {
    let grid = Grid { w, h, v };
    out.par_chunks_mut(w).enumerate().for_each(|(y, row)| {
        let yi = y as isize;
        let lplus = |c: f32, l: f32, r: f32, d: f32, u: f32| {
            let c2 = 2.0 * c;
            0.25 * ((c2 - l - d).max(0.0)
                + (c2 - r - d).max(0.0)
                + (c2 - l - u).max(0.0)
                + (c2 - r - u).max(0.0))
        };
        let edge = |x: usize| {
            let xi = x as isize;
            lplus(
                grid.at(xi, yi),
                grid.at(xi - 1, yi),
                grid.at(xi + 1, yi),
                grid.at(xi, yi - 1),
                grid.at(xi, yi + 1),
            )
        };
        if y == 0 || y + 1 >= h || w < 3 {
            for (x, o) in row.iter_mut().enumerate() {
                *o = edge(x);
            }
            return;
        }
        let (below, centre, above) = (
            &v[(y - 1) * w..y * w],
            &v[y * w..(y + 1) * w],
            &v[(y + 1) * w..(y + 2) * w],
        );
        row[0] = edge(0);
        row[w - 1] = edge(w - 1);
        for x in 1..w - 1 {
            row[x] = lplus(centre[x], centre[x - 1], centre[x + 1], below[x], above[x]);
        }
    });
}

/// Fine structure at (x, y): med3(I) − med7(med3(I)).
fn fine_structure(grid: &Grid, x: usize, y: usize, buf: &mut Vec<f32>) -> f32 {
    let mut med3s = Vec::with_capacity(49);
    for dy in -3isize..=3 {
        for dx in -3isize..=3 {
            let xx = (x as isize + dx).clamp(0, grid.w as isize - 1) as usize;
            let yy = (y as isize + dy).clamp(0, grid.h as isize - 1) as usize;
            med3s.push(grid.median_box(xx, yy, 1, buf));
        }
    }
    let centre = med3s[24];
    let mid = med3s.len() / 2;
    let med7 = *med3s.select_nth_unstable_by(mid, f32::total_cmp).1;
    centre - med7
}

/// Median of the 8 neighbours of (x, y) (edges replicated).
fn neighbour_median(grid: &Grid, x: usize, y: usize) -> f32 {
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

/// Square dilation of `flags` by `r` pixels.
fn dilate(w: usize, h: usize, flags: &[bool], r: usize) -> Vec<bool> {
    if r == 0 {
        return flags.to_vec();
    }
    // Separable: along rows (rows without a flag are skipped), then along columns (an OR
    // of whole rows).
    let mut rows = vec![false; w * h];
    rows.par_chunks_mut(w).enumerate().for_each(|(y, out)| {
        let src = &flags[y * w..(y + 1) * w];
        if !src.contains(&true) {
            return;
        }
        for (x, _) in src.iter().enumerate().filter(|(_, f)| **f) {
            out[x.saturating_sub(r)..(x + r + 1).min(w)].fill(true);
        }
    });
    let mut out = vec![false; w * h];
    out.par_chunks_mut(w).enumerate().for_each(|(y, row)| {
        for yy in y.saturating_sub(r)..(y + r + 1).min(h) {
            for (o, f) in row.iter_mut().zip(&rows[yy * w..(yy + 1) * w]) {
                *o |= *f;
            }
        }
    });
    out
}

/// Median of the pixels of the (2r+1)² box around `k` that are usable and not flagged.
fn replacement(w: usize, h: usize, v: &[f32], excluded: &[bool], k: usize) -> Option<f32> {
    let (x, y) = (k % w, k / w);
    for r in [2usize, 3, 5] {
        let mut vals = Vec::with_capacity((2 * r + 1) * (2 * r + 1));
        for yy in y.saturating_sub(r)..(y + r + 1).min(h) {
            for xx in x.saturating_sub(r)..(x + r + 1).min(w) {
                let q = yy * w + xx;
                if !excluded[q] && v[q].is_finite() {
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

/// The noise N = √(max(med5(I), 0) + σ_read²) of the original image, computed only where
/// it is needed (the 5 × 5 median is the expensive part of the algorithm).
struct Noise<'a> {
    image: Grid<'a>,
    rn2: f32,
    cache: Vec<f32>,
    buf: Vec<f32>,
}

impl Noise<'_> {
    fn at(&mut self, k: usize) -> f32 {
        let c = self.cache[k];
        if !c.is_nan() {
            return c;
        }
        let w = self.image.w;
        let m = self.image.median_box(k % w, k / w, 2, &mut self.buf);
        let n = (m.max(0.0) + self.rn2).sqrt().max(1e-3);
        self.cache[k] = n;
        n
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
    let (w, h) = (image.width(), image.height());
    let mut report = CosmicReport::default();
    if w < 3 || h < 3 {
        return report;
    }
    let n = w * h;
    let unusable: Vec<bool> = mask
        .bits()
        .iter()
        .zip(image.data())
        .map(|(b, v)| b & pixel_flag::UNUSABLE != 0 || !v.is_finite())
        .collect();
    let protected = dilate(w, h, &unusable, options.protect_radius_px);
    // Working copy with unusable non-finite pixels filled in.
    let mut work: Vec<f32> = image.data().to_vec();
    let mut filled = false;
    for (k, v) in work.iter_mut().enumerate() {
        if !v.is_finite() {
            *v = replacement(w, h, image.data(), &unusable, k).unwrap_or(0.0);
            filled = true;
        }
    }
    // The image before cleaning: the image itself when no pixel had to be filled in (no
    // second copy of a full frame).
    let original: std::borrow::Cow<[f32]> = if filled {
        std::borrow::Cow::Owned(work.clone())
    } else {
        std::borrow::Cow::Borrowed(image.data())
    };
    let rn2 = (read_noise_e * read_noise_e) as f32;
    let noise_floor = median5_lower_bound(w, h, &original, |m| (m.max(0.0) + rn2).sqrt().max(1e-3));
    let mut noise = Noise {
        image: Grid { w, h, v: &original },
        rn2,
        cache: vec![f32::NAN; n],
        buf: Vec::with_capacity(25),
    };
    let mut cosmic = vec![false; n];
    let sigclip = options.sigma_clip as f32;
    let siglow = (options.sigma_clip * options.sigma_frac) as f32;
    let objlim = options.object_limit as f32;
    let mut buf = Vec::with_capacity(49);
    let mut lplus = vec![0f32; n];
    // Per iteration: the pixels found so far; over all iterations: cosmic or unusable.
    let mut flagged = vec![false; n];
    let mut excluded = unusable.clone();
    for _ in 0..options.max_iterations.max(1) {
        laplacian_plus(w, h, &work, &mut lplus);
        let w_grid = Grid { w, h, v: &work };
        // S′ = S − med5(S) at pixel k, S = L⁺ / 2N (memoised for this iteration).
        let mut sp_cache: crate::image::PixelMap<f32> = Default::default();
        let mut sprime = |k: usize, noise: &mut Noise| -> f32 {
            if let Some(v) = sp_cache.get(&k) {
                return *v;
            }
            let (x, y) = ((k % w) as isize, (k / w) as isize);
            let mut s5 = [0f32; 25];
            let mut i = 0;
            for dy in -2isize..=2 {
                for dx in -2isize..=2 {
                    let xx = (x + dx).clamp(0, w as isize - 1) as usize;
                    let yy = (y + dy).clamp(0, h as isize - 1) as usize;
                    let q = yy * w + xx;
                    s5[i] = lplus[q] / (2.0 * noise.at(q));
                    i += 1;
                }
            }
            let s_k = s5[12];
            let med = *s5.select_nth_unstable_by(12, f32::total_cmp).1;
            let v = s_k - med;
            sp_cache.insert(k, v);
            v
        };
        let eligible = |k: usize, cosmic: &[bool]| !protected[k] && !cosmic[k];
        // Candidates: S > σ_clip (ruled out cheaply with the lower bound of N first).
        // The cheap test on every pixel (rows in parallel), the others on what passes it.
        let passing: Vec<usize> = lplus
            .par_chunks(w)
            .zip(noise_floor.par_chunks(w))
            .enumerate()
            .flat_map_iter(|(y, (l_row, floor_row))| {
                let cosmic = &cosmic;
                let protected = &protected;
                l_row
                    .iter()
                    .zip(floor_row)
                    .enumerate()
                    .filter(move |(x, (l, floor))| {
                        **l > 2.0 * sigclip * **floor && !protected[y * w + x] && !cosmic[y * w + x]
                    })
                    .map(move |(x, _)| y * w + x)
            })
            .collect();
        let mut new: Vec<usize> = Vec::new();
        for k in passing {
            let nk = noise.at(k);
            if lplus[k] / (2.0 * nk) <= sigclip {
                continue;
            }
            let sp = sprime(k, &mut noise);
            if sp <= sigclip {
                continue;
            }
            let f = (fine_structure(&w_grid, k % w, k / w, &mut buf) / nk).max(0.01);
            if sp / f <= objlim {
                continue;
            }
            if work[k] - neighbour_median(&w_grid, k % w, k / w) > sigclip * nk {
                new.push(k);
            }
        }
        // Growth: neighbours above σ_clip, then neighbours above σ_frac σ_clip. Whether a
        // neighbour joins does not depend on the order of the visits, only on the pixels
        // flagged before the pass began.
        let mut found = new;
        for &k in &found {
            flagged[k] = true;
        }
        for limit in [sigclip, siglow] {
            let current = found.len();
            for c in 0..current {
                let k = found[c];
                let (x, y) = (k % w, k / w);
                for yy in y.saturating_sub(1)..(y + 2).min(h) {
                    for xx in x.saturating_sub(1)..(x + 2).min(w) {
                        let q = yy * w + xx;
                        if !flagged[q]
                            && eligible(q, &cosmic)
                            && sprime(q, &mut noise) > limit
                            && work[q] - neighbour_median(&w_grid, xx, yy) > limit * noise.at(q)
                        {
                            flagged[q] = true;
                            found.push(q);
                        }
                    }
                }
            }
        }
        found.sort_unstable();
        for &k in &found {
            flagged[k] = false;
        }
        report.per_iteration.push(found.len());
        if found.is_empty() {
            break;
        }
        for &k in &found {
            cosmic[k] = true;
            excluded[k] = true;
        }
        let values: Vec<(usize, f32)> = found
            .iter()
            .filter_map(|&k| replacement(w, h, &work, &excluded, k).map(|v| (k, v)))
            .collect();
        for (k, v) in values {
            work[k] = v;
        }
    }
    let data = image.data_mut();
    let bits = mask.bits_mut();
    for (k, c) in cosmic.iter().enumerate() {
        if *c {
            data[k] = work[k];
            bits[k] |= pixel_flag::COSMIC_RAY;
            report.n_flagged += 1;
        }
    }
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

    #[test]
    fn lower_bound_of_the_5x5_median() {
        let mut seed = 9;
        let (w, h) = (23, 17);
        let v: Vec<f32> = (0..w * h).map(|_| gauss(&mut seed) * 10.0).collect();
        let lb = median5_lower_bound(w, h, &v, |m| m);
        let grid = Grid { w, h, v: &v };
        let mut buf = Vec::new();
        for y in 0..h {
            for x in 0..w {
                assert!(lb[y * w + x] <= grid.median_box(x, y, 2, &mut buf));
            }
        }
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
        assert_eq!(
            dilate(
                3,
                3,
                &[false, false, false, false, true, false, false, false, false],
                1
            ),
            vec![true; 9]
        );
    }
}
