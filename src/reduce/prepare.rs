//! From a raw frame to an overscan-subtracted, trimmed image in electrons, per amplifier,
//! assembled into one image, with the masks that only the raw ADU can tell (non-finite,
//! saturated / non-linear) and the trim offset for the WCS.
//!
//! Frames without a usable overscan (e.g. ALFOSC windows whose BIASSEC lies outside the
//! window) keep their bias level here; the master bias, built the same way, removes it.
//! Multi-amplifier frames are placed on one grid through each amplifier's DETSEC (binned by
//! the ratio of DETSEC to data-section size; reversed DETSEC ranges flip the amplifier).

use std::path::PathBuf;

use super::overscan::{
    fit_overscan, subtract_row, subtract_row_into, OverscanFit, OverscanOptions,
};
use super::{Layout, ReduceError};
use crate::frame::header::Header;
use crate::frame::meta::FrameMeta;
use crate::frame::read::{Amplifier, Frame};
use crate::frame::section::Section;
use crate::image::{pixel_flag, Image, PixelMask};

/// A frame after overscan subtraction, trimming and conversion to electrons.
#[derive(Debug, Clone)]
pub struct PreparedFrame {
    pub source: PathBuf,
    /// Metadata and merged header of the first amplifier.
    pub meta: FrameMeta,
    pub header: Header,
    pub layout: Layout,
    /// Electrons above the overscan level (the bias structure and, without overscan, the
    /// bias level are still in it). Non-finite raw pixels are NaN.
    pub image_e: Image,
    /// NONFINITE and SATURATED flags from the raw ADU.
    pub mask: PixelMask,
    /// Gain used (e⁻/ADU; the mean over amplifiers for multi-amplifier frames).
    pub gain_e_per_adu: f64,
    /// Read noise (e⁻): from the header or profile, else measured in the overscan.
    pub read_noise_e: f64,
    /// Raw pixel of trimmed pixel (0, 0) (single amplifier; (0, 0) for mosaics).
    pub trim_offset_px: [usize; 2],
    /// Overscan level (ADU) subtracted from each trimmed row, when a single amplifier has a
    /// row-wise overscan.
    pub overscan_level_adu: Option<Vec<f64>>,
    /// Whether every amplifier had an overscan.
    pub has_overscan: bool,
    /// Per amplifier: overscan level, noise and the signal above it, `None` without
    /// overscan.
    pub overscan_stats: Vec<Option<OverscanStats>>,
    pub history: Vec<String>,
}

impl PreparedFrame {
    /// Makes every flagged pixel (any bit of the mask) NaN and drops the mask (an empty,
    /// 0 × 0 one is left): for frames that are only combined ([`super::master::
    /// build_master_bias`]), where a NaN is left out of its pixel's combination exactly as a
    /// flagged value is ([`super::combine::combine_masked`]), without holding a mask each.
    pub fn fold_flags_into_nan(&mut self) {
        for (v, &m) in self.image_e.data_mut().iter_mut().zip(self.mask.bits()) {
            if m != 0 {
                *v = f32::NAN;
            }
        }
        self.mask = PixelMask::clear(0, 0);
    }

    /// Whether the flags were folded into the pixels ([`Self::fold_flags_into_nan`]).
    pub fn flags_folded(&self) -> bool {
        (self.mask.width(), self.mask.height()) == (0, 0) && !self.image_e.data().is_empty()
    }

    /// Why the mask does not cover the image (its flags folded into the pixels, which only
    /// [`super::master::build_master_bias`] accepts): a frame that is calibrated or normalised
    /// needs its mask.
    pub fn check_mask(&self) -> Result<(), String> {
        let (w, h) = (self.image_e.width(), self.image_e.height());
        if (self.mask.width(), self.mask.height()) == (w, h) {
            return Ok(());
        }
        Err(format!(
            "pixel mask {} x {} px for an image of {w} x {h} px{}",
            self.mask.width(),
            self.mask.height(),
            if self.flags_folded() {
                " (its flags were folded into its pixels: only for combining biases)"
            } else {
                ""
            }
        ))
    }
}

/// Every this many pixels of the trimmed data give [`OverscanStats::signal_adu`]: ~70,000 of
/// a 2048 × 2052 frame, whose median is within ~0.5 % of the noise of the full one's (its
/// standard error, 1.25 σ / √n), far inside the 1 % of the signal that the overscan check
/// allows ([`super::master::OVERSCAN_LEAK_FRACTION`]); prime, so that the sample does not
/// follow columns. (Every 7th pixel took a 6 ms selection per frame.)
const SIGNAL_SAMPLE_STEP: usize = 61;

/// Summary of one amplifier's overscan (ADU).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OverscanStats {
    /// Mean of the overscan levels.
    pub level_adu: f64,
    /// Robust noise of the overscan pixels about their levels.
    pub noise_adu: f64,
    /// Median of the trimmed data above the overscan (a subsample).
    pub signal_adu: f64,
}

/// One amplifier after overscan subtraction, trimming and conversion to electrons with its
/// own gain.
struct AmpResult {
    image_e: Image,
    /// Its overscan's level, noise and the signal above it, without overscan `None`.
    overscan_stats: Option<OverscanStats>,
    mask: PixelMask,
    gain: f64,
    read_noise_e: Option<f64>,
    data: Section,
    fit: Option<OverscanFit>,
}

fn file_of(frame: &Frame) -> String {
    frame.path.display().to_string()
}

/// The layout (calibration key) of a frame.
pub fn layout_of(frame: &Frame) -> Layout {
    let meta = frame.meta();
    let first = &frame.amplifiers[0].image;
    Layout {
        instrument: meta.instrument.clone(),
        binning: (meta.binning.x, meta.binning.y),
        width: first.width,
        height: first.height,
        n_amplifiers: frame.amplifiers.len(),
        window: meta.window.as_ref().map(|w| w.to_string()),
    }
}

/// A hook called on each trimmed row as soon as it is made, with its row number (of the
/// trimmed grid), its pixels (e⁻) and its mask flags: what a caller does to every pixel of
/// the frame (e.g. − bias, ÷ flat) is then done while the row is in cache, instead of in a
/// second pass over the frame.
pub(super) type RowHook<'a> = &'a mut dyn FnMut(usize, &mut [f32], &mut [u8]);

/// The data section of one amplifier, overscan-subtracted and in electrons
/// ([`subtract_row`]), with the flags that only the raw ADU can tell.
struct Trimmed {
    image_e: Image,
    /// NONFINITE where the raw pixel is not finite, else SATURATED where `f64(raw)` is at or
    /// above the saturation level (the same test as everywhere else in the reduction).
    mask: PixelMask,
    n_saturated: usize,
    n_nonfinite: usize,
}

/// The pixels of a raw amplifier: borrowed from its frame, or owned, when the trimmed image is
/// made in their own buffer ([`trim_and_flag`]).
enum RawPixels<'a> {
    Borrowed(&'a [f32]),
    Owned(Vec<f32>),
}

impl RawPixels<'_> {
    fn as_slice(&self) -> &[f32] {
        match self {
            RawPixels::Borrowed(p) => p,
            RawPixels::Owned(p) => p,
        }
    }
}

/// How [`trim_and_flag`] turns raw ADU into electrons and flags: the overscan level (none
/// without `fit`) subtracted and `gain` applied ([`subtract_row`]), pixels at or above
/// `saturation` (ADU) flagged.
#[derive(Clone, Copy)]
struct Conversion<'a> {
    fit: Option<&'a OverscanFit>,
    gain: f32,
    saturation: Option<f64>,
}

/// Trims, converts and flags the data section of a raw amplifier (`width × height` px) in one
/// pass row by row: each raw row is read once from memory, its trimmed values and flags made
/// (and its pixels of the signal `sample`, if any, taken) while it is in cache, then `on_row`
/// (if any) is called on them.
///
/// Owned pixels are overwritten by the trimmed image (no second full-frame buffer): trimmed
/// row r goes to `r·tw .. (r+1)·tw`, written once raw row y₀ + r is read, and it ends at or
/// before the start `(y₀ + r + 1)·width + x₀` of the next raw row to read (tw ≤ width).
fn trim_and_flag(
    pixels: RawPixels<'_>,
    (width, height): (usize, usize),
    data: &Section,
    conversion: &Conversion<'_>,
    mut sample: Option<&mut SignalSample<'_>>,
    mut on_row: Option<RowHook<'_>>,
) -> Result<Trimmed, String> {
    let Conversion {
        fit,
        gain,
        saturation,
    } = *conversion;
    if !data.fits_within(width, height) || data.width() == 0 || data.height() == 0 {
        return Err(format!(
            "data section {data} lies outside the {width} x {height} image"
        ));
    }
    let (tw, th) = (data.width(), data.height());
    let saturation = saturation.unwrap_or(f64::INFINITY);
    let (mut owned, mut values) = match pixels {
        RawPixels::Borrowed(p) => (Err(p), Vec::with_capacity(tw * th)),
        RawPixels::Owned(p) => (Ok(p), Vec::new()),
    };
    // A trimmed row that overlaps its raw row in place is made here first.
    let mut row = Vec::new();
    let mut bits = Vec::with_capacity(tw * th);
    let (mut n_saturated, mut n_nonfinite) = (0, 0);
    let x0 = data.x.start;
    for (row_index, y) in data.y.clone().enumerate() {
        let (src, at) = (y * width + x0, row_index * tw);
        let raw = match &owned {
            Ok(p) => &p[src..src + tw],
            Err(p) => &p[src..src + tw],
        };
        // Non-short-circuit `&` and flags made by multiplication: no branch, so the loop
        // vectorises.
        bits.extend(raw.iter().map(|&v| {
            let nonfinite = !v.is_finite();
            let saturated = !nonfinite & (f64::from(v) >= saturation);
            n_nonfinite += usize::from(nonfinite);
            n_saturated += usize::from(saturated);
            (pixel_flag::NONFINITE * u8::from(nonfinite))
                | (pixel_flag::SATURATED * u8::from(saturated))
        }));
        // After the flags, which bring the whole row into cache: the sample's strided reads
        // would otherwise each wait for memory.
        if let Some(sample) = sample.as_mut() {
            sample.add_row(raw, y);
        }
        let trimmed = match &mut owned {
            // The trimmed row ends before its raw row starts: written straight over the buffer.
            Ok(p) if at + tw <= src => {
                let (head, tail) = p.split_at_mut(src);
                subtract_row_into(&tail[..tw], x0, y, fit, gain, &mut head[at..at + tw]);
                &mut head[at..at + tw]
            }
            // They overlap (the first rows, when the data section starts near the buffer's).
            Ok(p) => {
                row.clear();
                subtract_row(&p[src..src + tw], x0, y, fit, gain, &mut row);
                p[at..at + tw].copy_from_slice(&row);
                &mut p[at..at + tw]
            }
            Err(p) => {
                subtract_row(&p[src..src + tw], x0, y, fit, gain, &mut values);
                &mut values[at..]
            }
        };
        if let Some(hook) = on_row.as_mut() {
            hook(row_index, trimmed, &mut bits[at..at + tw]);
        }
    }
    if let Ok(mut p) = owned {
        p.truncate(tw * th);
        values = p;
    }
    Ok(Trimmed {
        image_e: Image::new(tw, th, values).map_err(|e| e.to_string())?,
        mask: PixelMask::new(tw, th, bits).map_err(|e| e.to_string())?,
        n_saturated,
        n_nonfinite,
    })
}

/// Median of every [`SIGNAL_SAMPLE_STEP`]-th finite pixel of the trimmed data (row-major over
/// the data section) above the overscan `fit`, in ADU: the values `(f64(raw) − level) as f32`
/// of [`subtract_row`] before the gain, read from the raw pixels (`width` per row); the trim
/// takes the same sample row by row.
#[cfg(test)]
fn signal_sample_median_adu(
    pixels: &[f32],
    width: usize,
    fit: &OverscanFit,
    data: &Section,
) -> f64 {
    let mut sample = SignalSample::new(fit, data);
    for y in data.y.clone() {
        sample.add_row(&pixels[y * width + data.x.start..y * width + data.x.end], y);
    }
    sample.median_adu()
}

/// The sample of [`signal_sample_median_adu`] gathered row by row, so that the trim takes it
/// from each raw row while the row is in cache ([`trim_and_flag`]) instead of in a pass of its
/// own over the frame (a strided read that misses the cache at every pixel).
///
/// Method: each row's first sampled column is carried over from the previous row (no
/// division per sampled pixel).
struct SignalSample<'a> {
    fit: &'a OverscanFit,
    x0: usize,
    /// Index, in the next row, of its first sampled pixel.
    first: usize,
    values: Vec<f64>,
}

impl<'a> SignalSample<'a> {
    fn new(fit: &'a OverscanFit, data: &Section) -> Self {
        let n = data.width() * data.height();
        SignalSample {
            fit,
            x0: data.x.start,
            first: 0,
            values: Vec::with_capacity(n.div_ceil(SIGNAL_SAMPLE_STEP)),
        }
    }

    /// Adds the sampled pixels of `row`, the data-section part of raw row `y` (the rows of
    /// the data section in order, from its first).
    fn add_row(&mut self, row: &[f32], y: usize) {
        let mut i = self.first;
        while i < row.len() {
            let v = (f64::from(row[i]) - self.fit.level_at(self.x0 + i, y)) as f32;
            if v.is_finite() {
                self.values.push(f64::from(v));
            }
            i += SIGNAL_SAMPLE_STEP;
        }
        self.first = i - row.len();
    }

    fn median_adu(mut self) -> f64 {
        crate::stats::median_in_place(&mut self.values).unwrap_or(0.0)
    }
}

fn prepare_amplifier(
    frame: &Frame,
    amp: &Amplifier,
    pixels: RawPixels<'_>,
    options: &OverscanOptions,
    history: &mut Vec<String>,
    on_row: Option<RowHook<'_>>,
) -> Result<AmpResult, ReduceError> {
    let file = file_of(frame);
    let (w, h) = (amp.image.width, amp.image.height);
    let meta = &amp.meta;
    let hdu = amp.image.hdu;
    let whole = Section {
        x: 0..w,
        y: 0..h,
        x_flipped: false,
        y_flipped: false,
    };
    let data = match &meta.data_section {
        Some(d) => d.clone(),
        None => {
            history.push(format!(
                "HDU {hdu}: no data section in the header or profile: the whole {w} x {h} image is used"
            ));
            whole.clone()
        }
    };
    let saturation = meta.saturation_adu;
    let fit = match &meta.overscan_section {
        Some(os) => {
            let overlaps = os.x.start < data.x.end
                && data.x.start < os.x.end
                && os.y.start < data.y.end
                && data.y.start < os.y.end;
            if overlaps {
                return Err(ReduceError::Layout {
                    file,
                    message: format!(
                        "HDU {hdu}: overscan section {os} overlaps the data section {data}"
                    ),
                });
            }
            let fit = fit_overscan(pixels.as_slice(), w, h, os, &data, saturation, options)
                .map_err(|message| ReduceError::Layout {
                    file: file.clone(),
                    message: format!("HDU {hdu}: {message}"),
                })?;
            history.push(format!("HDU {hdu}: {}", fit.describe(os, options)));
            Some(fit)
        }
        None => {
            history.push(format!(
                "HDU {hdu}: no overscan in this image (BIASSEC absent or outside the readout \
                 window): the bias level is removed by the master bias only"
            ));
            None
        }
    };
    let known_gain = meta.gain_e_per_adu.filter(|g| *g > 0.0 && g.is_finite());
    let gain = known_gain.unwrap_or(1.0);
    // The signal above the overscan reads the raw pixels: sampled by the trim, from each raw
    // row before an in-place trim overwrites it.
    let mut sample = fit.as_ref().map(|f| SignalSample::new(f, &data));
    let Trimmed {
        image_e,
        mask,
        n_saturated: n_sat,
        n_nonfinite: n_nan,
    } = trim_and_flag(
        pixels,
        (w, h),
        &data,
        &Conversion {
            fit: fit.as_ref(),
            gain: gain as f32,
            saturation,
        },
        sample.as_mut(),
        on_row,
    )
    .map_err(|message| ReduceError::Layout {
        file: file.clone(),
        message: format!("HDU {hdu}: {message}"),
    })?;
    let signal_adu = sample.map(SignalSample::median_adu);
    let overscan_stats = fit
        .as_ref()
        .zip(signal_adu)
        .map(|(f, signal_adu)| OverscanStats {
            level_adu: f.mean_level_adu(),
            noise_adu: f.noise_adu,
            signal_adu,
        });
    if data != whole {
        history.push(format!("HDU {hdu}: trimmed to the data section {data}"));
    }
    match saturation {
        Some(s) => history.push(format!(
            "HDU {hdu}: {n_sat} pixels at or above {s} ADU (raw) flagged SATURATED"
        )),
        None => history.push(format!(
            "HDU {hdu}: no saturation level known: no SATURATED flags"
        )),
    }
    if n_nan > 0 {
        history.push(format!(
            "HDU {hdu}: {n_nan} non-finite pixels flagged NONFINITE"
        ));
    }
    if known_gain.is_none() {
        history.push(format!(
            "HDU {hdu}: no gain in the header or profile: 1 e-/ADU assumed"
        ));
    }
    let measured_e = fit
        .as_ref()
        .map(|f| f.noise_adu * gain)
        .filter(|r| r.is_finite());
    let read_noise_e = match meta.read_noise_e {
        Some(r) if r >= 0.0 && r.is_finite() => {
            if let Some(m) = measured_e.filter(|m| (m / r - 1.0).abs() > 0.25) {
                history.push(format!(
                    "HDU {hdu}: note: the overscan noise is {m:.2} e- ({:.2} ADU), the header or                      profile read noise {r} e-; the latter is used",
                    m / gain
                ));
            }
            Some(r)
        }
        _ => fit
            .as_ref()
            .map(|f| f.noise_adu * gain)
            .filter(|r| r.is_finite())
            .inspect(|r| {
                history.push(format!(
                    "HDU {hdu}: no read noise in the header or profile: {r:.2} e- measured in the overscan"
                ))
            }),
    };
    Ok(AmpResult {
        image_e,
        overscan_stats,
        mask,
        gain,
        read_noise_e,
        data,
        fit,
    })
}

/// Overscan-subtracts, trims and converts a raw frame to electrons. Errors: a header
/// problem that makes the frame unusable, sections outside the image, an overscan without
/// usable pixels, a multi-amplifier frame whose DETSECs cannot be assembled.
pub fn prepare_frame(
    frame: &Frame,
    options: &OverscanOptions,
) -> Result<PreparedFrame, ReduceError> {
    prepare_frame_pixels(frame, None, options, None)
}

/// [`prepare_frame`] of a frame that is not needed afterwards: a single amplifier's trimmed
/// image is made in the buffer of its raw pixels (the same values, without a second
/// full-frame buffer: 16.8 MB less per ALFOSC frame in flight).
pub fn prepare_frame_owned(
    mut frame: Frame,
    options: &OverscanOptions,
) -> Result<PreparedFrame, ReduceError> {
    let owned = take_single_pixels(&mut frame);
    prepare_frame_pixels(&frame, owned, options, None)
}

/// The pixels of a single-amplifier frame, taken out of it for [`prepare_frame_pixels`]
/// (`None`, the frame untouched, for a mosaic, whose amplifiers are assembled afterwards).
pub(super) fn take_single_pixels(frame: &mut Frame) -> Option<Vec<f32>> {
    match frame.amplifiers.as_mut_slice() {
        [single] => Some(std::mem::take(&mut single.pixels)),
        _ => None,
    }
}

/// [`prepare_frame`] calling `on_row` on each row of the prepared image as soon as it is made
/// ([`RowHook`]) when the frame has a single amplifier (whose trimmed rows are the image's;
/// the rows of a multi-amplifier frame are assembled afterwards, and `on_row` is not called),
/// with the pixels of its single amplifier `owned` (taken out of `frame` by
/// [`take_single_pixels`]) when given: the trimmed image is then made in their buffer.
pub(super) fn prepare_frame_pixels(
    frame: &Frame,
    mut owned: Option<Vec<f32>>,
    options: &OverscanOptions,
    mut on_row: Option<RowHook<'_>>,
) -> Result<PreparedFrame, ReduceError> {
    let file = file_of(frame);
    if let Some(problem) = frame.first_error() {
        return Err(ReduceError::Unusable {
            file,
            message: format!("keyword {}: {}", problem.keyword, problem.message),
        });
    }
    let layout = layout_of(frame);
    let mut history = vec![format!(
        "raw frame {} ({}, {} amplifier(s))",
        frame
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        layout,
        frame.amplifiers.len()
    )];
    let mut amps = Vec::with_capacity(frame.amplifiers.len());
    let single = frame.amplifiers.len() == 1;
    for amp in &frame.amplifiers {
        let hook = on_row.as_mut().filter(|_| single).map(|h| &mut **h as _);
        let pixels = match owned.take() {
            Some(p) => RawPixels::Owned(p),
            None => RawPixels::Borrowed(&amp.pixels),
        };
        amps.push(prepare_amplifier(
            frame,
            amp,
            pixels,
            options,
            &mut history,
            hook,
        )?);
    }
    let has_overscan = amps.iter().all(|a| a.fit.is_some());
    let overscan_stats = amps.iter().map(|a| a.overscan_stats).collect();
    let read_noises: Vec<f64> = amps.iter().filter_map(|a| a.read_noise_e).collect();
    let read_noise_e = if read_noises.is_empty() {
        history.push("no read noise known or measurable: 0 e- assumed".to_string());
        0.0
    } else {
        read_noises.iter().sum::<f64>() / read_noises.len() as f64
    };
    let gain_e_per_adu = amps.iter().map(|a| a.gain).sum::<f64>() / amps.len() as f64;

    let (image_e, mask, trim_offset_px, overscan_level_adu) = if amps.len() == 1 {
        let amp = amps.pop().ok_or_else(|| ReduceError::Unusable {
            file: file.clone(),
            message: "no amplifier".into(),
        })?;
        history.push(format!(
            "converted to electrons with gain {} e-/ADU",
            amp.gain
        ));
        let levels = amp.fit.as_ref().and_then(|f| match f.axis {
            super::overscan::OverscanAxis::Rows => {
                Some(amp.data.y.clone().map(|y| f.levels_adu[y]).collect())
            }
            _ => None,
        });
        (
            amp.image_e,
            amp.mask,
            [amp.data.x.start, amp.data.y.start],
            levels,
        )
    } else {
        let (image, mask) = assemble(frame, &amps, &mut history)?;
        (image, mask, [0, 0], None)
    };
    Ok(PreparedFrame {
        source: frame.path.clone(),
        meta: frame.meta().clone(),
        header: frame.amplifiers[0].image.header.clone(),
        layout,
        image_e,
        mask,
        gain_e_per_adu,
        read_noise_e,
        trim_offset_px,
        overscan_level_adu,
        has_overscan,
        overscan_stats,
        history,
    })
}

/// Places the amplifiers (converted to electrons with their own gains) on one grid through
/// their DETSECs.
fn assemble(
    frame: &Frame,
    amps: &[AmpResult],
    history: &mut Vec<String>,
) -> Result<(Image, PixelMask), ReduceError> {
    let file = file_of(frame);
    let mut placements = Vec::with_capacity(amps.len());
    for (amp, raw) in amps.iter().zip(&frame.amplifiers) {
        let hdu = raw.image.hdu;
        let det = raw
            .meta
            .detector_section
            .as_ref()
            .ok_or_else(|| ReduceError::Layout {
                file: file.clone(),
                message: format!(
                    "HDU {hdu}: a multi-amplifier frame needs DETSEC (detector section) in every \
                     amplifier to be assembled"
                ),
            })?;
        let (w, h) = (amp.image_e.width(), amp.image_e.height());
        let bx = det.width() / w.max(1);
        let by = det.height() / h.max(1);
        if bx == 0 || by == 0 || det.width() != bx * w || det.height() != by * h {
            return Err(ReduceError::Layout {
                file,
                message: format!(
                    "HDU {hdu}: DETSEC {det} is not a whole multiple of the {w} x {h} data section"
                ),
            });
        }
        placements.push((
            det.x.start / bx,
            det.y.start / by,
            det.x_flipped,
            det.y_flipped,
        ));
    }
    let x_min = placements.iter().map(|p| p.0).min().unwrap_or(0);
    let y_min = placements.iter().map(|p| p.1).min().unwrap_or(0);
    let width = amps
        .iter()
        .zip(&placements)
        .map(|(a, p)| p.0 - x_min + a.image_e.width())
        .max()
        .unwrap_or(0);
    let height = amps
        .iter()
        .zip(&placements)
        .map(|(a, p)| p.1 - y_min + a.image_e.height())
        .max()
        .unwrap_or(0);
    let mut image = Image::filled(width, height, f32::NAN);
    let mut covered = vec![false; width * height];
    let mut mask = PixelMask::clear(width, height);
    for ((amp, p), raw) in amps.iter().zip(&placements).zip(&frame.amplifiers) {
        let (w, h) = (amp.image_e.width(), amp.image_e.height());
        for j in 0..h {
            for i in 0..w {
                let si = if p.2 { w - 1 - i } else { i };
                let sj = if p.3 { h - 1 - j } else { j };
                let (x, y) = (p.0 - x_min + i, p.1 - y_min + j);
                if covered[y * width + x] {
                    return Err(ReduceError::Layout {
                        file,
                        message: format!(
                            "HDU {}: DETSEC overlaps another amplifier",
                            raw.image.hdu
                        ),
                    });
                }
                covered[y * width + x] = true;
                image.set(x, y, amp.image_e.get(si, sj));
                mask.flag(x, y, amp.mask.get(si, sj));
            }
        }
        history.push(format!(
            "HDU {}: × gain {} e-/ADU, placed at x {}, y {} of the mosaic{}{}",
            raw.image.hdu,
            amp.gain,
            p.0 - x_min,
            p.1 - y_min,
            if p.2 { ", flipped in x" } else { "" },
            if p.3 { ", flipped in y" } else { "" },
        ));
    }
    let mut n_gap = 0;
    for (k, c) in covered.iter().enumerate() {
        if !c {
            mask.bits_mut()[k] |= pixel_flag::NONFINITE | pixel_flag::BAD;
            n_gap += 1;
        }
    }
    history.push(format!(
        "assembled {} amplifiers into {width} x {height} px{}",
        amps.len(),
        if n_gap > 0 {
            format!(" ({n_gap} pixels not covered, flagged BAD)")
        } else {
            String::new()
        }
    ));
    Ok((image, mask))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reduce::overscan::OverscanAxis;
    use rand::{Rng, SeedableRng};

    /// The sample taken row by row is every [`SIGNAL_SAMPLE_STEP`]-th pixel of the data
    /// section counted row-major, as a division of each pixel's index gives it: the same
    /// median to the bit, for row-wise, column-wise and scalar overscans, sections narrower
    /// and wider than the step, and non-finite pixels.
    #[test]
    fn signal_sample_is_every_nth_pixel_of_the_data_section() {
        let mut rng = rand_pcg::Pcg64::seed_from_u64(5);
        for (width, height, data) in [
            (200, 150, "[11:190,3:150]"),
            (70, 300, "[3:40,1:300]"),
            (61, 61, "[1:61,1:61]"),
            (500, 40, "[400:500,7:33]"),
        ] {
            let data = Section::parse(data).unwrap();
            let pixels: Vec<f32> = (0..width * height)
                .map(|_| match rng.random_range(0..50) {
                    0 => f32::NAN,
                    _ => rng.random_range(900.0f32..1400.0),
                })
                .collect();
            for axis in [
                OverscanAxis::Rows,
                OverscanAxis::Columns,
                OverscanAxis::Scalar,
            ] {
                let n_levels = match axis {
                    OverscanAxis::Rows => height,
                    OverscanAxis::Columns => width,
                    OverscanAxis::Scalar => 1,
                };
                let levels: Vec<f64> = (0..n_levels).map(|k| 1000.0 + 0.37 * k as f64).collect();
                let fit = OverscanFit {
                    axis,
                    raw_levels_adu: levels.clone(),
                    levels_adu: levels,
                    noise_adu: 3.0,
                    n_pixels: 100,
                };
                let tw = data.width();
                let mut reference: Vec<f64> = (0..tw * data.height())
                    .step_by(SIGNAL_SAMPLE_STEP)
                    .map(|i| {
                        let (x, y) = (data.x.start + i % tw, data.y.start + i / tw);
                        (f64::from(pixels[y * width + x]) - fit.level_at(x, y)) as f32
                    })
                    .filter(|v| v.is_finite())
                    .map(f64::from)
                    .collect();
                let expected = crate::stats::median_in_place(&mut reference).unwrap_or(0.0);
                let got = signal_sample_median_adu(&pixels, width, &fit, &data);
                assert_eq!(got.to_bits(), expected.to_bits(), "{data} {axis:?}");
            }
        }
    }

    /// The trim's flags, per pixel as [`Trimmed`] defines them: NONFINITE for NaN and ±∞,
    /// SATURATED for finite values at or above the level (the level itself included), with
    /// the counts; a section of a wider image, owned and borrowed alike.
    #[test]
    fn trim_flags_non_finite_and_saturated_pixels() {
        let level = 60_000.0;
        let values = [
            0.0f32,
            f32::NAN,
            f32::INFINITY,
            f32::NEG_INFINITY,
            60_000.0,
            59_999.996,
            65_535.0,
            -1.0,
        ];
        let (width, height) = (11, 5);
        let raw: Vec<f32> = (0..width * height)
            .map(|k| values[k % values.len()])
            .collect();
        let data = Section {
            x: 2..10,
            y: 1..4,
            x_flipped: false,
            y_flipped: false,
        };
        let conversion = Conversion {
            fit: None,
            gain: 1.0,
            saturation: Some(level),
        };
        let expected: Vec<u8> = data
            .y
            .clone()
            .flat_map(|y| data.x.clone().map(move |x| (y, x)))
            .map(|(y, x)| raw[y * width + x])
            .map(|v| {
                if !v.is_finite() {
                    pixel_flag::NONFINITE
                } else if f64::from(v) >= level {
                    pixel_flag::SATURATED
                } else {
                    0
                }
            })
            .collect();
        let count = |flag: u8| expected.iter().filter(|&&b| b == flag).count();
        for pixels in [RawPixels::Borrowed(&raw), RawPixels::Owned(raw.clone())] {
            let trimmed =
                trim_and_flag(pixels, (width, height), &data, &conversion, None, None).unwrap();
            assert_eq!(trimmed.mask.bits(), &expected[..]);
            assert_eq!(trimmed.n_nonfinite, count(pixel_flag::NONFINITE));
            assert_eq!(trimmed.n_saturated, count(pixel_flag::SATURATED));
        }
        assert!(count(pixel_flag::SATURATED) > 0 && count(pixel_flag::NONFINITE) > 0);
    }
}
