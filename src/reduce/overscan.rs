//! Overscan (and prescan) levels: a robust level per image row (or per column, or one value)
//! measured in the overscan region of one amplifier, optionally smoothed along the rows,
//! subtracted from the light-sensitive region, which is then trimmed out.
//!
//! Orientation: when the overscan region spans every row of the data section (prescan or
//! overscan *columns*, as ALFOSC, EFOSC2 and Sinistro have) the level is measured per row;
//! when it spans every column (overscan *rows*) per column; otherwise one level for the frame.
//! Pixels at or above the saturation level and non-finite pixels are left out of the
//! statistic.
//!
//! Smoothing: a per-row level measured on a few dozen columns carries a noise of
//! σ_read/√n_columns (ALFOSC: 26.9 ADU / √50 = 3.8 ADU, 0.6 e⁻), which would be added coherently
//! along every row of the image. A running mean over `smooth_rows` rows removes that noise
//! while following the frame-to-frame level; the stable row-to-row bias structure that it
//! smooths away is identical in every frame and is removed by the master bias instead.
//! `smooth_rows = 1` gives the strictly row-by-row subtraction.

use crate::frame::section::Section;
use crate::stats::{median_in_place, SigmaClip};

/// Statistic of the overscan pixels of one row (or column).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OverscanStatistic {
    Median,
    /// Mean after sigma clipping (astropy rule, see [`crate::stats`]).
    ClippedMean,
}

/// How overscan levels are measured.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OverscanOptions {
    pub statistic: OverscanStatistic,
    /// Clipping used by [`OverscanStatistic::ClippedMean`].
    pub clip: SigmaClip,
    /// Width (rows or columns) of the running mean applied to the levels; 1 = none.
    pub smooth_rows: usize,
}

impl Default for OverscanOptions {
    /// Sigma-clipped mean (3σ) of each row, smoothed over 25 rows.
    fn default() -> Self {
        OverscanOptions {
            statistic: OverscanStatistic::ClippedMean,
            clip: SigmaClip::default(),
            smooth_rows: 25,
        }
    }
}

/// Direction along which the overscan level varies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OverscanAxis {
    /// One level per image row (overscan columns).
    Rows,
    /// One level per image column (overscan rows).
    Columns,
    /// One level for the whole amplifier.
    Scalar,
}

/// Measured overscan levels of one amplifier (ADU).
#[derive(Debug, Clone, PartialEq)]
pub struct OverscanFit {
    pub axis: OverscanAxis,
    /// Smoothed level per image row (`Rows`, `height` values), per image column (`Columns`,
    /// `width` values) or one value (`Scalar`). Rows or columns without any usable overscan
    /// pixel take the level of the nearest one that has.
    pub levels_adu: Vec<f64>,
    /// The same before smoothing.
    pub raw_levels_adu: Vec<f64>,
    /// Robust standard deviation (1.4826 × MAD) of the overscan pixels about their row or
    /// column level: the read noise in ADU when the overscan is clean.
    pub noise_adu: f64,
    /// Overscan pixels used.
    pub n_pixels: usize,
}

impl OverscanFit {
    /// Level to subtract at image pixel (x, y).
    pub fn level_at(&self, x: usize, y: usize) -> f64 {
        match self.axis {
            OverscanAxis::Rows => self.levels_adu[y],
            OverscanAxis::Columns => self.levels_adu[x],
            OverscanAxis::Scalar => self.levels_adu[0],
        }
    }

    /// Mean of the levels (ADU).
    pub fn mean_level_adu(&self) -> f64 {
        self.levels_adu.iter().sum::<f64>() / self.levels_adu.len() as f64
    }

    /// One line for the HISTORY cards.
    pub fn describe(&self, section: &Section, options: &OverscanOptions) -> String {
        let statistic = match options.statistic {
            OverscanStatistic::Median => "median".to_string(),
            OverscanStatistic::ClippedMean => {
                format!("{}-sigma clipped mean", options.clip.sigma)
            }
        };
        let how = match self.axis {
            OverscanAxis::Rows | OverscanAxis::Columns => {
                let unit = if self.axis == OverscanAxis::Rows {
                    "row"
                } else {
                    "column"
                };
                if options.smooth_rows > 1 {
                    format!(
                        "{statistic} per {unit}, running mean over {} {unit}s",
                        options.smooth_rows
                    )
                } else {
                    format!("{statistic} per {unit}")
                }
            }
            OverscanAxis::Scalar => format!("{statistic} of the region"),
        };
        format!(
            "overscan {section}: {how}; mean level {:.2} ADU, noise {:.2} ADU",
            self.mean_level_adu(),
            self.noise_adu
        )
    }
}

/// Which axis an overscan region serves, given the data section it must correct.
pub fn overscan_axis(overscan: &Section, data: &Section) -> OverscanAxis {
    if overscan.y.start <= data.y.start && overscan.y.end >= data.y.end {
        OverscanAxis::Rows
    } else if overscan.x.start <= data.x.start && overscan.x.end >= data.x.end {
        OverscanAxis::Columns
    } else {
        OverscanAxis::Scalar
    }
}

/// The statistic of `values` (left in their order), with `scratch` a buffer reused from row
/// to row.
fn statistic(values: &[f64], options: &OverscanOptions, scratch: &mut Vec<f64>) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    match options.statistic {
        OverscanStatistic::Median => {
            scratch.clear();
            scratch.extend_from_slice(values);
            median_in_place(scratch)
        }
        OverscanStatistic::ClippedMean => options.clip.clipped_mean(values, scratch),
    }
}

/// Running mean of `values` over `window` entries (truncated at the ends).
pub fn running_mean(values: &[f64], window: usize) -> Vec<f64> {
    let n = values.len();
    if window <= 1 || n == 0 {
        return values.to_vec();
    }
    let half = window / 2;
    let mut prefix = Vec::with_capacity(n + 1);
    prefix.push(0.0);
    for v in values {
        prefix.push(prefix.last().copied().unwrap_or(0.0) + v);
    }
    (0..n)
        .map(|i| {
            let lo = i.saturating_sub(half);
            let hi = (i + half + 1).min(n);
            (prefix[hi] - prefix[lo]) / (hi - lo) as f64
        })
        .collect()
}

/// Fills `None` entries with the nearest `Some` (ties to the lower index).
fn fill_gaps(levels: &[Option<f64>]) -> Option<Vec<f64>> {
    let known: Vec<usize> = (0..levels.len()).filter(|&i| levels[i].is_some()).collect();
    if known.is_empty() {
        return None;
    }
    let mut out = Vec::with_capacity(levels.len());
    let mut k = 0;
    for i in 0..levels.len() {
        while k + 1 < known.len() && known[k + 1] <= i {
            k += 1;
        }
        let next_is_closer = known[k] < i && k + 1 < known.len() && known[k + 1] - i < i - known[k];
        let j = if next_is_closer {
            known[k + 1]
        } else {
            known[k]
        };
        out.push(levels[j].unwrap_or(0.0));
    }
    Some(out)
}

/// The levels of the lines (rows, columns, or the one region) of an overscan as they are
/// measured, and the residuals of their pixels about them, with the buffers reused from line
/// to line.
struct LineLevels {
    /// Per line of the image, `None` until measured (or without a usable pixel).
    levels: Vec<Option<f64>>,
    /// Each measured line's pixels minus its level, line after line, in pixel order.
    residuals: Vec<f64>,
    values: Vec<f64>,
    scratch: Vec<f64>,
}

impl LineLevels {
    /// For `lines` lines of the image and at most `pixels` overscan pixels in all.
    fn new(lines: usize, pixels: usize) -> Self {
        LineLevels {
            levels: vec![None; lines],
            residuals: Vec::with_capacity(pixels),
            values: Vec::new(),
            scratch: Vec::new(),
        }
    }

    /// Measures line `index` from its usable pixels.
    fn add(&mut self, index: usize, usable: impl Iterator<Item = f32>, options: &OverscanOptions) {
        self.values.clear();
        self.values.extend(usable.map(f64::from));
        let level = statistic(&self.values, options, &mut self.scratch);
        if let Some(l) = level {
            self.residuals.extend(self.values.iter().map(|v| v - l));
        }
        self.levels[index] = level;
    }
}

/// Measures the overscan of one amplifier. `pixels` is the raw image (`width` × `height`,
/// ADU); `overscan` and `data` are 0-based sections of it; pixels at or above
/// `saturation_adu` are ignored. Errors name the problem (no usable overscan pixel).
pub fn fit_overscan(
    pixels: &[f32],
    width: usize,
    height: usize,
    overscan: &Section,
    data: &Section,
    saturation_adu: Option<f64>,
    options: &OverscanOptions,
) -> Result<OverscanFit, String> {
    if !overscan.fits_within(width, height) || overscan.width() == 0 || overscan.height() == 0 {
        return Err(format!(
            "overscan section {overscan} lies outside the {width} x {height} image"
        ));
    }
    let usable = |v: f32| v.is_finite() && saturation_adu.is_none_or(|s| f64::from(v) < s);
    let axis = overscan_axis(overscan, data);
    let (raw, mut residuals): (Vec<Option<f64>>, Vec<f64>) = match axis {
        OverscanAxis::Rows => {
            let mut lines = LineLevels::new(height, overscan.width() * overscan.height());
            for y in overscan.y.clone() {
                let row = &pixels[y * width + overscan.x.start..y * width + overscan.x.end];
                lines.add(y, row.iter().copied().filter(|v| usable(*v)), options);
            }
            (lines.levels, lines.residuals)
        }
        OverscanAxis::Columns => {
            let mut lines = LineLevels::new(width, overscan.width() * overscan.height());
            for x in overscan.x.clone() {
                let column = overscan.y.clone().map(|y| pixels[y * width + x]);
                lines.add(x, column.filter(|v| usable(*v)), options);
            }
            (lines.levels, lines.residuals)
        }
        OverscanAxis::Scalar => {
            let mut lines = LineLevels::new(1, overscan.width() * overscan.height());
            let region = overscan.y.clone().flat_map(|y| {
                pixels[y * width + overscan.x.start..y * width + overscan.x.end].iter()
            });
            lines.add(0, region.copied().filter(|v| usable(*v)), options);
            (lines.levels, lines.residuals)
        }
    };
    let raw_levels = fill_gaps(&raw).ok_or_else(|| {
        format!("overscan section {overscan} holds no usable pixel (all saturated or not finite)")
    })?;
    let levels = match axis {
        OverscanAxis::Scalar => raw_levels.clone(),
        _ => running_mean(&raw_levels, options.smooth_rows),
    };
    let n_pixels = residuals.len();
    let noise_adu = crate::stats::mad_std_in_place(&mut residuals).unwrap_or(f64::NAN);
    Ok(OverscanFit {
        axis,
        levels_adu: levels,
        raw_levels_adu: raw_levels,
        noise_adu,
        n_pixels,
    })
}

/// One row of the data section overscan-subtracted and converted with `gain` (e⁻/ADU; 1 keeps
/// ADU), appended to `out`: `raw` is the data-section part of raw row `y`, whose first pixel
/// is raw column `x0`. Each value is `((f64(raw) − level) as f32) × gain`, so that the value in
/// electrons is the f32 ADU value above the overscan times the f32 gain, as a separate
/// multiplication pass gave; without `fit` the level is 0.
///
/// Method: the level of the row (row-wise and scalar overscans) is taken out of the loop, so
/// that the loop over the row's pixels is a plain conversion the compiler vectorises; a
/// column-wise overscan reads the level of each column from a slice.
pub fn subtract_row(
    raw: &[f32],
    x0: usize,
    y: usize,
    fit: Option<&OverscanFit>,
    gain: f32,
    out: &mut Vec<f32>,
) {
    match RowLevels::of(fit, x0, y, raw.len()) {
        RowLevels::PerColumn(levels) => out.extend(
            raw.iter()
                .zip(levels)
                .map(|(&v, &level)| electrons(v, level, gain)),
        ),
        RowLevels::Constant(level) => out.extend(raw.iter().map(|&v| electrons(v, level, gain))),
    }
}

/// [`subtract_row`] written to `out` (as long as `raw`) instead of appended.
pub fn subtract_row_into(
    raw: &[f32],
    x0: usize,
    y: usize,
    fit: Option<&OverscanFit>,
    gain: f32,
    out: &mut [f32],
) {
    match RowLevels::of(fit, x0, y, raw.len()) {
        RowLevels::PerColumn(levels) => {
            for ((o, &v), &level) in out.iter_mut().zip(raw).zip(levels) {
                *o = electrons(v, level, gain);
            }
        }
        RowLevels::Constant(level) => {
            for (o, &v) in out.iter_mut().zip(raw) {
                *o = electrons(v, level, gain);
            }
        }
    }
}

/// The overscan levels (ADU) of a row segment of [`subtract_row`].
enum RowLevels<'a> {
    /// One per column (a column-wise overscan).
    PerColumn(&'a [f64]),
    /// The row's (row-wise and scalar overscans; 0 without overscan).
    Constant(f64),
}

impl<'a> RowLevels<'a> {
    /// The levels of the `len` pixels of raw row `y` from column `x0`.
    fn of(fit: Option<&'a OverscanFit>, x0: usize, y: usize, len: usize) -> Self {
        match fit {
            Some(f) if f.axis == OverscanAxis::Columns => {
                RowLevels::PerColumn(&f.levels_adu[x0..x0 + len])
            }
            _ => RowLevels::Constant(fit.map_or(0.0, |f| f.level_at(x0, y))),
        }
    }
}

/// A raw value in electrons: `((f64(raw) − level) as f32) × gain`.
#[inline]
fn electrons(raw: f32, level: f64, gain: f32) -> f32 {
    (f64::from(raw) - level) as f32 * gain
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::stats::test_gauss as noise;

    #[test]
    fn row_levels_follow_a_row_pattern_and_ignore_hot_pixels() {
        let (w, h) = (60, 200);
        let level = |y: usize| 1000.0 + 5.0 * (y as f64 / 30.0).sin();
        let mut seed = 7;
        let mut px = vec![0f32; w * h];
        for y in 0..h {
            for x in 0..w {
                let signal = if x >= 20 { 500.0 } else { 0.0 };
                px[y * w + x] = (level(y) + signal + 3.0 * noise(&mut seed)) as f32;
            }
        }
        // A cosmic ray and a saturated pixel in the overscan.
        px[50 * w + 3] = 30000.0;
        px[60 * w + 4] = 65535.0;
        let overscan = Section::parse("[1:20,1:200]").unwrap();
        let data = Section::parse("[21:60,1:200]").unwrap();
        let options = OverscanOptions {
            smooth_rows: 1,
            ..OverscanOptions::default()
        };
        let fit = fit_overscan(&px, w, h, &overscan, &data, Some(65000.0), &options).unwrap();
        assert_eq!(fit.axis, OverscanAxis::Rows);
        // Per-row error: 3/√20 = 0.67 ADU; allow 4σ.
        for y in 0..h {
            assert!((fit.levels_adu[y] - level(y)).abs() < 2.7, "row {y}");
        }
        assert!((fit.noise_adu - 3.0).abs() < 0.3, "{}", fit.noise_adu);
        let mut trimmed = Vec::new();
        for y in 0..h {
            subtract_row(
                &px[y * w + 20..(y + 1) * w],
                20,
                y,
                Some(&fit),
                1.0,
                &mut trimmed,
            );
        }
        assert_eq!(trimmed.len(), 40 * 200);
        // Written in place: the same bits, for row-wise, column-wise and no overscans.
        let mut by_column = fit.clone();
        by_column.axis = OverscanAxis::Columns;
        by_column.levels_adu = (0..w).map(|x| 990.0 + 0.3 * x as f64).collect();
        for f in [Some(&fit), Some(&by_column), None] {
            for y in [0, 77, h - 1] {
                let raw = &px[y * w + 20..(y + 1) * w];
                let mut appended = vec![1.0];
                subtract_row(raw, 20, y, f, 1.7, &mut appended);
                let mut written = vec![0.0; raw.len()];
                subtract_row_into(raw, 20, y, f, 1.7, &mut written);
                let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(&appended[1..]), bits(&written));
            }
        }
        let mean = trimmed.iter().map(|&v| f64::from(v)).sum::<f64>() / 8000.0;
        assert!((mean - 500.0).abs() < 0.2, "{mean}");
        // Smoothed: the noise of the levels drops, the slow pattern remains.
        let smooth = fit_overscan(
            &px,
            w,
            h,
            &overscan,
            &data,
            Some(65000.0),
            &OverscanOptions::default(),
        )
        .unwrap();
        let rms = |f: &OverscanFit| {
            ((20..180)
                .map(|y| (f.levels_adu[y] - level(y)).powi(2))
                .sum::<f64>()
                / 160.0)
                .sqrt()
        };
        assert!(
            rms(&smooth) < 0.5 * rms(&fit),
            "{} {}",
            rms(&smooth),
            rms(&fit)
        );
    }

    #[test]
    fn orientation_and_gaps() {
        let data = Section::parse("[7:100,1:90]").unwrap();
        assert_eq!(
            overscan_axis(&Section::parse("[1:6,1:100]").unwrap(), &data),
            OverscanAxis::Rows
        );
        assert_eq!(
            overscan_axis(&Section::parse("[1:100,91:100]").unwrap(), &data),
            OverscanAxis::Columns
        );
        assert_eq!(
            overscan_axis(&Section::parse("[1:6,1:50]").unwrap(), &data),
            OverscanAxis::Scalar
        );
        assert_eq!(
            fill_gaps(&[None, Some(1.0), None, None, Some(4.0), None]).unwrap(),
            vec![1.0, 1.0, 1.0, 4.0, 4.0, 4.0]
        );
        assert!(fill_gaps(&[None, None]).is_none());
        assert_eq!(
            running_mean(&[1.0, 2.0, 3.0, 4.0], 3),
            vec![1.5, 2.0, 3.0, 3.5]
        );
        // All overscan pixels saturated: a named error.
        let px = vec![70000f32; 100];
        let os = Section::parse("[1:2,1:10]").unwrap();
        let d = Section::parse("[3:10,1:10]").unwrap();
        let e = fit_overscan(
            &px,
            10,
            10,
            &os,
            &d,
            Some(65000.0),
            &OverscanOptions::default(),
        )
        .unwrap_err();
        assert!(e.contains("no usable pixel"), "{e}");
    }
}
