//! Source detection and measurement, SExtractor style (Bertin & Arnouts 1996, A&AS 117, 393;
//! SExtractor manual; photutils `detect_sources` / `SourceCatalog`).
//!
//! 1. The background-subtracted image is smoothed with a normalised Gaussian kernel of FWHM
//!    `smoothing_fwhm_px` (truncated at 3σ; masked and non-finite pixels count as
//!    background). The threshold is in units of the noise of the *smoothed* image, as SEP's
//!    default matched filter (Barbary 2016, JOSS 1, 58; `filter_type='matched'`): a pixel is
//!    above threshold when `smoothed > thresh_sigma × rms × ‖k‖₂`, ‖k‖₂ the kernel's L2 norm
//!    (≈ 1/(2√π σ_k) for a Gaussian of σ_k px), i.e. when its matched-filter signal-to-noise
//!    ratio exceeds `thresh_sigma` (the rms is taken as locally constant). SExtractor's
//!    `FILTER_TYPE CONVOLVE` and photutils instead compare the smoothed image with
//!    `thresh × rms`; their threshold `t` corresponds to `thresh_sigma = t / ‖k‖₂` here.
//!    Without smoothing, `thresh_sigma` is in units of the pixel rms.
//! 2. Pixels above threshold are grouped into 8-connected footprints; footprints smaller than
//!    `min_area_px` are dropped. Pixels flagged [`EXCLUDED_PIXELS`] are never above threshold.
//! 3. **Deblending** (simple, not SExtractor's multi-threshold tree): the local maxima of the
//!    smoothed image in a footprint are its peaks; a secondary peak is significant when its
//!    prominence over the lowest point on the straight path to the main peak is ≥ 3σ of the
//!    smoothed noise and its height above the threshold ≥ `blend_contrast` of the main
//!    peak's. With two or more significant peaks the footprint is split by watershed (each
//!    pixel follows the steepest ascent to a maximum; maxima that are not significant join
//!    the nearest significant one), and the children are flagged [`source_flag::BLENDED`].
//!    Isophotal fluxes of children are those of their watershed regions (no sharing of
//!    overlapping wings).
//! 4. Per footprint or child (on the unsmoothed, background-subtracted image): isophotal flux and
//!    peak, barycentre and second moments, the semi-axes `a`, `b` and angle θ of SExtractor
//!    (`A_IMAGE`, `B_IMAGE`, `THETA_IMAGE`), the FWHM of a circular Moffat fit
//!    ([`super::centroid::moffat_2d_fit`], started from adaptive second moments — Bernstein &
//!    Jarvis 2002, AJ 123, 583; β fitted on the 50 brightest clean stars, then fixed at their
//!    median for all other sources, whose β is poorly constrained), and the windowed centroid
//!    ([`super::centroid::windowed_centroid_with`], SExtractor's `XWIN/YWIN`). The window σ
//!    is `window_sigma_px` when given, otherwise FWHM/2.3548 with the FWHM the median over the
//!    (up to 50) brightest clean sources — one window for all point sources, as the optimal
//!    window for a star is the PSF. Pixels of other sources inside the window are replaced by
//!    the image mirrored through the centre (SExtractor's `MASK_TYPE CORRECT`), so that a
//!    deblended neighbour does not pull the centroid. When the windowed centroid fails the
//!    barycentre is kept and the source is flagged [`source_flag::CENTROID_FALLBACK`].
//!
//! [`background_without_sources`] chains background → detection → background again with the
//! dilated footprints excluded (the usual two-pass recipe, e.g. photutils' source masks),
//! which removes the bias that the wings of bright stars leave in a one-pass background.
//!
//! Sources are returned brightest (isophotal flux) first.

use crate::bands::RowWriter;

use thiserror::Error;

use rayon::prelude::*;

use super::background::{
    estimate_background, Background, BackgroundError, BackgroundMaps, BackgroundParams,
    ExclusionMask, Surface,
};
use super::centroid::{
    moffat_2d_fit, moffat_2d_fit_fixed_beta, windowed_centroid_masked, Foreign, GaussianFitParams,
    LabelCells, MoffatFit, WindowReader, WindowedParams, EXCLUDED_PIXELS,
};
use crate::image::{pixel_flag, Image, PixelMask};

/// Moffat β used when no bright star gives one (IRAF's default is 2.5; 3 is closer to
/// typical seeing-limited profiles, Trujillo et al. 2001, MNRAS 328, 977).
const DEFAULT_MOFFAT_BETA: f64 = 3.0;

/// FWHM of a Gaussian in units of its σ, `2 √(2 ln 2)`.
const FWHM_PER_SIGMA: f64 = 2.354_820_045_030_949;

/// Named bits of [`Source::flags`].
pub mod source_flag {
    /// A footprint pixel is flagged saturated or reaches the saturation level.
    pub const SATURATED: u16 = 1 << 0;
    /// The footprint touches the image border or the centroid window (4σ_w) leaves the image.
    pub const NEAR_EDGE: u16 = 1 << 1;
    /// A masked (bad, non-finite, cosmic-ray) pixel lies in or next to the footprint.
    pub const MASKED: u16 = 1 << 2;
    /// The footprint holds more than one significant peak (not deblended).
    pub const BLENDED: u16 = 1 << 3;
    /// The windowed centroid failed; x, y are the isophotal barycentre.
    pub const CENTROID_FALLBACK: u16 = 1 << 4;
    /// The Moffat fit failed; `fwhm_px` comes from adaptive (or isophotal) moments.
    pub const FWHM_FALLBACK: u16 = 1 << 5;
    /// `fwhm_px` was not measured (NaN): [`super::DetectParams::fwhm_of_every_source`] was
    /// off and the source is not among those that set the seeing; see
    /// [`super::Detection::source_fwhm_px`].
    pub const FWHM_NOT_MEASURED: u16 = 1 << 6;

    /// Flags that make a source unsuitable as an astrometric or photometric reference.
    pub const NOT_CLEAN: u16 = SATURATED | NEAR_EDGE | MASKED | BLENDED | CENTROID_FALLBACK;

    /// The names of the set bits, `|`-separated (empty for none).
    pub fn describe(flags: u16) -> String {
        let names = [
            (SATURATED, "saturated"),
            (NEAR_EDGE, "near_edge"),
            (MASKED, "masked"),
            (BLENDED, "blended"),
            (CENTROID_FALLBACK, "centroid_fallback"),
            (FWHM_FALLBACK, "fwhm_fallback"),
            (FWHM_NOT_MEASURED, "fwhm_not_measured"),
        ];
        names
            .iter()
            .filter(|(bit, _)| flags & bit != 0)
            .map(|(_, name)| *name)
            .collect::<Vec<_>>()
            .join("|")
    }
}

/// Why detection could not run.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum DetectError {
    #[error("the image is empty ({width} × {height} px)")]
    EmptyImage { width: usize, height: usize },
    #[error("{what} is {width} × {height} px but the image is {image_width} × {image_height} px")]
    ShapeMismatch {
        what: &'static str,
        width: usize,
        height: usize,
        image_width: usize,
        image_height: usize,
    },
    #[error("detection parameter {name}: {message}")]
    InvalidParameter { name: &'static str, message: String },
    #[error(transparent)]
    Background(#[from] BackgroundError),
}

/// Settings of [`detect_sources`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DetectParams {
    /// Detection threshold in units of the noise of the smoothed image (module notes).
    pub thresh_sigma: f64,
    /// Smallest footprint (SExtractor `DETECT_MINAREA`).
    pub min_area_px: usize,
    /// FWHM of the Gaussian smoothing kernel (px); `None`: no smoothing. Best close to the
    /// seeing FWHM (a matched filter for stars).
    pub smoothing_fwhm_px: Option<f64>,
    /// Pixels at or above this value of the *input* image (background included) are
    /// saturated; `None`: only the mask's SATURATED flag counts.
    pub saturation_level: Option<f64>,
    /// Split footprints with several significant peaks (module notes); `false` keeps them
    /// whole (still flagged [`source_flag::BLENDED`]).
    pub deblend: bool,
    /// Relative height (above threshold) of a second peak that makes a blend.
    pub blend_contrast: f64,
    /// σ of the centroid window (px); `None`: from the measured FWHM (module notes).
    pub window_sigma_px: Option<f64>,
    /// Fit the FWHM of every source (`true`), or only of the clean sources that set the
    /// image's Moffat β, the centroid window and the seeing — in flux order until
    /// [`SEEING_SOURCES`] of them have a fitted (not fallback) and a finite FWHM — leaving
    /// the others NaN and flagged [`source_flag::FWHM_NOT_MEASURED`], to be measured on
    /// demand with [`Detection::source_fwhm_px`] (the same value, to the bit). The fits are
    /// most of the cost of detection after the footprints.
    pub fwhm_of_every_source: bool,
}

/// Clean sources (brightest first) whose FWHM set the Moffat β, the centroid window and the
/// seeing.
pub const SEEING_SOURCES: usize = 50;

impl Default for DetectParams {
    /// A 5σ matched-filter threshold with a 3 px FWHM kernel (ALFOSC unbinned seeing is 3–6
    /// px), SExtractor's minimum area of 5 px, deblending down to a 0.5 % contrast (the value
    /// of SExtractor's `DEBLEND_MINCONT`, here a ratio of peak heights, which with the 3σ
    /// prominence test splits off faint stars in the wings of bright ones).
    /// On simulated ALFOSC frames (1″ seeing, 4.7 px) these find all isolated stars of
    /// SNR ≥ 10 and ~60 % of those of SNR 5–7, with < 0.5 % spurious detections.
    fn default() -> Self {
        DetectParams {
            thresh_sigma: 5.0,
            min_area_px: 5,
            smoothing_fwhm_px: Some(3.0),
            saturation_level: None,
            deblend: true,
            blend_contrast: 0.005,
            window_sigma_px: None,
            fwhm_of_every_source: true,
        }
    }
}

/// One detected source. Positions are 0-based pixel coordinates (DESIGN §3); fluxes are in
/// the units of the background-subtracted image.
#[derive(Debug, Clone, PartialEq)]
pub struct Source {
    /// Windowed centroid (or the barycentre, see [`source_flag::CENTROID_FALLBACK`]).
    pub x: f64,
    pub y: f64,
    /// Isophotal barycentre.
    pub x_iso: f64,
    pub y_iso: f64,
    /// Isophotal flux: sum of the footprint's pixels above the background.
    pub flux: f64,
    /// Highest footprint pixel above the background.
    pub peak: f64,
    pub area_px: usize,
    /// Semi-major and semi-minor axes (rms along the principal axes, px) and the angle of the
    /// major axis from +x towards +y (deg, (−90, 90]), from the isophotal second moments.
    pub a_px: f64,
    pub b_px: f64,
    pub theta_deg: f64,
    /// FWHM (px) from a circular Moffat fit ([`super::centroid::moffat_2d_fit`]; β fitted for
    /// the brightest clean stars, fixed at their median [`Detection::moffat_beta`] for the
    /// others); when the fit fails, the Gaussian-equivalent FWHM of adaptive second moments
    /// (≈ 15 % larger for a Moffat β = 3 star) and the flag [`source_flag::FWHM_FALLBACK`].
    pub fwhm_px: f64,
    /// Bits of [`source_flag`].
    pub flags: u16,
    /// Label of the footprint in [`Detection::segmentation`] (index + 1).
    pub label: u32,
}

impl Source {
    /// True when none of `flags` is set.
    pub fn is_clean(&self, flags: u16) -> bool {
        self.flags & flags == 0
    }
}

/// Footprint labels per pixel (0 = no source; label k = `sources[k − 1]`).
#[derive(Debug, Clone, PartialEq)]
pub struct Segmentation {
    pub width: usize,
    pub height: usize,
    pub labels: Vec<u32>,
}

impl Segmentation {
    pub fn label(&self, x: usize, y: usize) -> u32 {
        self.labels[y * self.width + x]
    }

    /// The footprints grown by `dilate_px`, as an exclusion mask for a second background pass
    /// (as photutils' `make_source_mask`).
    pub fn to_exclusion_mask(&self, dilate_px: f64) -> ExclusionMask {
        let m = ExclusionMask::from_flags(
            self.width,
            self.height,
            self.labels.iter().map(|&l| l != 0).collect(),
        );
        if dilate_px > 0.0 {
            m.dilated(dilate_px)
        } else {
            m
        }
    }
}

/// What [`detect_sources`] found.
#[derive(Debug, Clone, PartialEq)]
pub struct Detection {
    /// Brightest first.
    pub sources: Vec<Source>,
    pub segmentation: Segmentation,
    /// σ of the centroid window used (px).
    pub window_sigma_px: f64,
    /// Moffat β of the image (median over the brightest clean stars) used for the FWHM fits
    /// of the other sources.
    pub moffat_beta: f64,
    pub params: DetectParams,
    /// Per source: the rms radius of its isophotal footprint, √((σx² + σy²)/2) (px), where
    /// its FWHM fit starts.
    pub isophotal_sigma_px: Vec<f64>,
    /// The background-subtracted image the sources were measured on,
    /// `image − level` ([`super::background::subtract_surface`]; non-finite pixels kept): what
    /// [`Detection::source_fwhm_px`] fits, kept so that callers need not subtract again.
    pub subtracted: Image,
}

impl Detection {
    /// The FWHM (px) of source `k`: its `fwhm_px`, or when that was not measured
    /// ([`source_flag::FWHM_NOT_MEASURED`]) the fit [`detect_sources`] would have made with
    /// [`DetectParams::fwhm_of_every_source`] (the fallback value when it fails), on
    /// [`Detection::subtracted`]; `mask` is the mask the detection was made with. NaN for an
    /// unknown `k`.
    pub fn source_fwhm_px(&self, mask: Option<&PixelMask>, k: usize) -> f64 {
        match (self.sources.get(k), self.isophotal_sigma_px.get(k)) {
            (Some(s), Some(&sigma_iso)) => {
                source_fwhm_px(&self.subtracted, mask, s, sigma_iso, self.moffat_beta)
            }
            _ => f64::NAN,
        }
    }
}

/// [`Detection::source_fwhm_px`] of `source`, given its entry of
/// [`Detection::isophotal_sigma_px`] and the detection's [`Detection::moffat_beta`].
pub fn source_fwhm_px(
    sub: &Image,
    mask: Option<&PixelMask>,
    source: &Source,
    isophotal_sigma_px: f64,
    moffat_beta: f64,
) -> f64 {
    if source.flags & source_flag::FWHM_NOT_MEASURED == 0 {
        return source.fwhm_px;
    }
    let (x, y) = (source.x_iso, source.y_iso);
    let guess = fwhm_guess(sub, mask, x, y, isophotal_sigma_px);
    fixed_beta_fwhm(sub, mask, x, y, guess, moffat_beta).0
}

fn shape_error(what: &'static str, w: usize, h: usize, image: &Image) -> DetectError {
    DetectError::ShapeMismatch {
        what,
        width: w,
        height: h,
        image_width: image.width(),
        image_height: image.height(),
    }
}

/// Normalised 1-D Gaussian kernel of FWHM `fwhm_px`, truncated at 3σ (at least ±1 px).
fn gaussian_kernel(fwhm_px: f64) -> Vec<f64> {
    let sigma = fwhm_px / FWHM_PER_SIGMA;
    let half = (3.0 * sigma).ceil().max(1.0) as i64;
    let k: Vec<f64> = (-half..=half)
        .map(|i| (-0.5 * (i as f64 / sigma).powi(2)).exp())
        .collect();
    let sum: f64 = k.iter().sum();
    k.into_iter().map(|v| v / sum).collect()
}

/// The background-subtracted signal used for detection: the pixel's value where it is finite
/// and not flagged [`EXCLUDED_PIXELS`], 0 elsewhere (read from the subtracted image, never
/// stored as a whole image).
struct Signal<'a> {
    sub: &'a [f32],
    /// The mask's bits, or empty without a mask.
    bits: &'a [u8],
}

impl Signal<'_> {
    #[inline]
    fn at(&self, i: usize) -> f64 {
        let v = self.sub[i];
        if v.is_finite() && self.bits.get(i).is_none_or(|b| b & EXCLUDED_PIXELS == 0) {
            f64::from(v)
        } else {
            0.0
        }
    }
}

/// What [`smooth`] reads: the image, its background level and the mask's bits. Each row is
/// subtracted where the smoothing needs it (the subtracted image is stored as it is made,
/// not read back from memory), and its [`mark::UNUSABLE`] marks and its signal are made in
/// the same pass, while the image's row is in cache.
struct DetectionInput<'a> {
    image: &'a Image,
    level: &'a dyn Surface,
    /// The mask's bits, or empty without a mask.
    bits: &'a [u8],
    /// A row of zeros: the bits of a row without a mask.
    no_bits: Vec<u8>,
}

/// What [`DetectionInput::row`] makes of one image row (`w` values each).
struct RowOut<'a> {
    /// `image − level`.
    sub: &'a mut [f32],
    /// [`mark::UNUSABLE`] or 0.
    marks: &'a mut [u8],
    /// The signal ([`Signal`]).
    signal: &'a mut [f32],
}

impl<'a> DetectionInput<'a> {
    fn new(image: &'a Image, level: &'a dyn Surface, mask: Option<&'a PixelMask>) -> Self {
        DetectionInput {
            image,
            level,
            bits: mask.map_or(&[], |m| m.bits()),
            no_bits: vec![0; image.width()],
        }
    }

    /// Row `y`, in one pass: `image − level` (NaN where either is NaN: the operation of
    /// [`super::background::subtract_surface`], pixel for pixel); [`mark::UNUSABLE`] where
    /// the image's pixel is not finite or is flagged [`EXCLUDED_PIXELS`], else 0; and the
    /// signal, `image − level` where that is finite and the pixel not flagged, else 0 (f32:
    /// the smoothing sums in single precision). `level_row` is scratch (`w` values).
    fn row(&self, y: usize, level_row: &mut [f32], out: RowOut) {
        let w = self.image.width();
        let bits = if self.bits.is_empty() {
            &self.no_bits[..]
        } else {
            &self.bits[y * w..(y + 1) * w]
        };
        let level = self.level.row_in(y, level_row);
        let pixels = self.image.row(y).iter().zip(level).zip(bits);
        let outputs = out.sub.iter_mut().zip(out.marks.iter_mut()).zip(out.signal);
        for (((sub, mark), signal), ((&v, &l), &b)) in outputs.zip(pixels) {
            let d = v - l;
            // Non-short-circuit `&` and `|`: no branches, so the loop vectorises.
            let flagged = b & EXCLUDED_PIXELS != 0;
            *sub = d;
            *mark = mark::UNUSABLE * u8::from(!v.is_finite() | flagged);
            *signal = if d.is_finite() & !flagged { d } else { 0.0 };
        }
    }
}

/// Rows per band of [`smooth`]: each band convolves its rows plus the kernel's half-width
/// above and below along x, keeping only the last kernel-length rows of that (a ring of rows
/// that stays in cache), so no full-frame intermediate is needed.
const SMOOTH_BAND_ROWS: usize = 128;

/// The outputs of [`smooth`], whole images (row-major, `w × h`) or the writers of one band.
struct Smoothed<S, M> {
    /// `image − level` ([`super::background::subtract_surface`]).
    sub: S,
    /// The smoothed signal (the detection image).
    detection: S,
    /// Per pixel, the bits of [`mark`].
    marks: M,
}

/// The buffers of [`smooth`] (`len` values each), made by `fill(k, writers)` for their bands
/// of `band_len` values (the last may be shorter) in parallel; panics unless `fill` writes
/// every band in full ([`crate::bands`]). The smoothing writes each band's rows of all three
/// together, so that none of them is zero-filled first (a memory pass over ~38 MB for a full
/// ALFOSC frame).
fn bands_written<F>(len: usize, band_len: usize, fill: F) -> Smoothed<Vec<f32>, Vec<u8>>
where
    F: Fn(usize, &mut Smoothed<RowWriter<f32>, RowWriter<u8>>) + Sync,
{
    let mut out = Smoothed {
        sub: Vec::with_capacity(len),
        detection: Vec::with_capacity(len),
        marks: Vec::with_capacity(len),
    };
    if len > 0 {
        let sub = &mut out.sub.spare_capacity_mut()[..len];
        let detection = &mut out.detection.spare_capacity_mut()[..len];
        let marks = &mut out.marks.spare_capacity_mut()[..len];
        sub.par_chunks_mut(band_len)
            .zip(detection.par_chunks_mut(band_len))
            .zip(marks.par_chunks_mut(band_len))
            .enumerate()
            .for_each(|(k, ((sub, detection), marks))| {
                let mut writers = Smoothed {
                    sub: RowWriter::new(sub),
                    detection: RowWriter::new(detection),
                    marks: RowWriter::new(marks),
                };
                fill(k, &mut writers);
                assert!(
                    writers.sub.is_full() && writers.detection.is_full() && writers.marks.is_full(),
                    "a band of the smoothing was not written in full"
                );
            });
    }
    // SAFETY: the bands cover the first `len` values of each buffer, and every band was
    // written in full (asserted above: a panic propagates out of `for_each` before this
    // point); `par_chunks_mut` panics for `band_len` 0.
    unsafe {
        out.sub.set_len(len);
        out.detection.set_len(len);
        out.marks.set_len(len);
    }
    out
}

/// Separable convolution of the signal ([`Signal`]) of `image − level` (`input`) with the
/// symmetric `kernel` (odd length, centre tap in the middle) and zero padding (pixels off
/// the image count as background), bands of rows in parallel, in single precision. Each
/// output pixel is `k₀ r(y) + Σ_{j≥1} k_j (r(y − j) + r(y + j))` of the rows `r` convolved
/// along x the same way, so each tap pair costs one multiplication; the loops run over whole
/// rows so that the compiler vectorises them across pixels. The sums of ~(2·3σ+1)² terms of
/// a few hundred e⁻ carry f32's relative rounding of ~10⁻⁷, far below the noise the
/// threshold is set against.
///
/// Each band subtracts the level from its own rows as it reaches them (and from the
/// kernel's half-width of rows on either side, which its neighbours store), so the
/// subtracted image is made in parallel and never read back from memory, and it sets their
/// [`mark::UNUSABLE`] marks in the same pass ([`DetectionInput::row`]).
/// `on_row(y, smoothed, marks, scratch)` is then called with each smoothed row while it is
/// in cache, to add the [`mark::ABOVE`] marks of row `y` (the threshold of
/// [`find_footprints`]; `scratch`: a row of `w` values to use at will): no second
/// full-frame pass over the smoothed image; with [`next_marked`], about 1 ms CPU (of ~32)
/// less per `detect_sources` of a full ALFOSC frame. Each output row is made in a row of
/// the band's own and copied out when done ([`RowWriter`]): the outputs are written once,
/// never zero-filled.
fn smooth<F>(input: &DetectionInput, kernel: &[f32], on_row: F) -> Smoothed<Vec<f32>, Vec<u8>>
where
    F: Fn(usize, &[f32], &mut [u8], &mut [f32]) + Sync,
{
    let (w, h) = (input.image.width(), input.image.height());
    bands_written(w * h, (w * SMOOTH_BAND_ROWS).max(1), |band, out| {
        smooth_band(input, kernel, band * SMOOTH_BAND_ROWS, out, &on_row);
    })
}

/// One band of [`smooth`]: image rows `y0 ..` (as many as the writers hold).
fn smooth_band<F>(
    input: &DetectionInput,
    kernel: &[f32],
    y0: usize,
    out: &mut Smoothed<RowWriter<f32>, RowWriter<u8>>,
    on_row: &F,
) where
    F: Fn(usize, &[f32], &mut [u8], &mut [f32]),
{
    let (w, h) = (input.image.width(), input.image.height());
    let half = kernel.len() / 2;
    let taps = kernel.len();
    let y1 = y0 + out.sub.len() / w;
    // The ring holds the x-convolved rows of the band (y0 ..) and `half` rows on either
    // side, image row yy in slot (yy + half) % taps; rows off the image are zero. The ring
    // of marks holds the same rows' marks, which wait there for their ABOVE marks.
    let mut ring = vec![0.0f32; taps * w];
    let mut ring_marks = vec![0u8; taps * w];
    // Row yy's signal padded with `half` zeros on either side.
    let mut padded = vec![0.0f32; w + 2 * half];
    // Rows of scratch (for the level, for `on_row`), the subtracted row and the smoothed row.
    let (mut level_row, mut scratch) = (vec![0.0f32; w], vec![0.0f32; w]);
    let (mut sub_row, mut smoothed) = (vec![0.0f32; w], vec![0.0f32; w]);
    let slot_of = |yy: usize| (yy % taps) * w..(yy % taps + 1) * w;
    let sub_out = &mut out.sub;
    // Fills the slots of padded-row index `p` (image row p − half).
    let mut convolve_row = |p: usize, ring: &mut [f32], ring_marks: &mut [u8]| {
        let slot = &mut ring[slot_of(p)];
        if p < half || p - half >= h {
            slot.fill(0.0);
            return;
        }
        let yy = p - half;
        let row = RowOut {
            sub: &mut sub_row,
            marks: &mut ring_marks[slot_of(p)],
            signal: &mut padded[half..half + w],
        };
        input.row(yy, &mut level_row, row);
        if (y0..y1).contains(&yy) {
            sub_out.push(&sub_row);
        }
        convolve_along_x(kernel, &padded, slot);
    };
    // Padded row index p = y + half for image row y.
    for p in y0..y0 + 2 * half {
        convolve_row(p, &mut ring, &mut ring_marks);
    }
    let k0 = kernel[half];
    for y in y0..y1 {
        convolve_row(y + 2 * half, &mut ring, &mut ring_marks);
        for (o, &v) in smoothed.iter_mut().zip(&ring[slot_of(y + half)]) {
            *o = k0 * v;
        }
        for j in 1..=half {
            let kj = kernel[half + j];
            let above = &ring[slot_of(y + half - j)];
            let below = &ring[slot_of(y + half + j)];
            for ((o, &a), &b) in smoothed.iter_mut().zip(above).zip(below) {
                *o += kj * (a + b);
            }
        }
        let marks = &mut ring_marks[slot_of(y + half)];
        on_row(y, &smoothed, marks, &mut scratch);
        out.detection.push(&smoothed);
        out.marks.push(marks);
    }
}

/// One row convolved along x: `out[x] = k₀ v[x] + Σ_{j≥1} k_j (v[x − j] + v[x + j])` with
/// `padded` the row's values with the kernel's half-width of zeros on either side.
fn convolve_along_x(kernel: &[f32], padded: &[f32], out: &mut [f32]) {
    let half = kernel.len() / 2;
    let w = out.len();
    let centre = &padded[half..half + w];
    for (o, &v) in out.iter_mut().zip(centre) {
        *o = kernel[half] * v;
    }
    for j in 1..=half {
        let kj = kernel[half + j];
        let left = &padded[half - j..half - j + w];
        let right = &padded[half + j..half + j + w];
        for ((o, &a), &b) in out.iter_mut().zip(left).zip(right) {
            *o += kj * (a + b);
        }
    }
}

/// Second moments of positive-weighted pixels: (mean x, mean y, var x, var y, cov xy).
fn isophotal_moments(pixels: &[(usize, usize)], values: &[f64]) -> Option<[f64; 5]> {
    let (mut s, mut sx, mut sy) = (0.0, 0.0, 0.0);
    for (&(x, y), &v) in pixels.iter().zip(values) {
        if v > 0.0 {
            s += v;
            sx += v * x as f64;
            sy += v * y as f64;
        }
    }
    if s.is_nan() || s <= 0.0 {
        return None;
    }
    let (mx, my) = (sx / s, sy / s);
    let (mut xx, mut yy, mut xy) = (0.0, 0.0, 0.0);
    for (&(x, y), &v) in pixels.iter().zip(values) {
        if v > 0.0 {
            let (dx, dy) = (x as f64 - mx, y as f64 - my);
            xx += v * dx * dx;
            yy += v * dy * dy;
            xy += v * dx * dy;
        }
    }
    // SExtractor adds 1/12 px² (a uniform pixel) to singular moments; adding it always keeps
    // one-pixel footprints finite.
    Some([mx, my, xx / s + 1.0 / 12.0, yy / s + 1.0 / 12.0, xy / s])
}

/// Semi-axes and angle (deg) from second moments (SExtractor manual, eq. for A, B, THETA).
fn ellipse(xx: f64, yy: f64, xy: f64) -> (f64, f64, f64) {
    let half_sum = 0.5 * (xx + yy);
    let root = (0.25 * (xx - yy).powi(2) + xy * xy).sqrt();
    let a = (half_sum + root).max(0.0).sqrt();
    let b = (half_sum - root).max(0.0).sqrt();
    let mut theta = 0.5 * (2.0 * xy).atan2(xx - yy);
    if theta <= -std::f64::consts::FRAC_PI_2 {
        theta += std::f64::consts::PI;
    }
    (a, b, theta.to_degrees())
}

/// Gaussian σ (px) of a source from adaptive moments: iterate the Gaussian window σ_w to the
/// deconvolved size `σ_s² = 1 / (1/m − 1/σ_w²)`, m the mean windowed second moment about the
/// windowed centre (exact for a Gaussian source).
fn adaptive_sigma(
    image: &Image,
    mask: Option<&PixelMask>,
    x: f64,
    y: f64,
    sigma0: f64,
) -> Option<f64> {
    let mut sigma_w = sigma0.max(0.5);
    // The pixels of the first window and a margin (others copy their own).
    let mut reader = WindowReader::around(image, mask, None, x, y, sigma_w, 1.0);
    for _ in 0..20 {
        let s = reader.sums(x, y, sigma_w);
        if s.sw.is_nan() || s.sw <= 0.0 {
            return None;
        }
        let (mx, my) = (s.sx / s.sw, s.sy / s.sw);
        let m = 0.5 * ((s.sxx / s.sw - mx * mx) + (s.syy / s.sw - my * my));
        let inv = 1.0 / m - 1.0 / (sigma_w * sigma_w);
        if !(m > 0.0 && inv > 0.0) {
            return None;
        }
        let sigma_s = (1.0 / inv).sqrt();
        if !sigma_s.is_finite() || sigma_s > 100.0 {
            return None;
        }
        let change = (sigma_s - sigma_w).abs() / sigma_w;
        sigma_w = sigma_s;
        if change < 1e-4 {
            return Some(sigma_s);
        }
    }
    None
}

/// The detection threshold per pixel, `thresh_sigma × ‖k‖₂² factor × rms` (module notes),
/// computed where it is needed rather than stored for the whole image.
struct Threshold<'a> {
    rms: &'a dyn Surface,
    /// Image width (px), for the pixel of an index.
    width: usize,
    /// `thresh_sigma` times the noise factor of the smoothing kernel.
    scale: f64,
}

impl Threshold<'_> {
    #[inline]
    fn at(&self, i: usize) -> f64 {
        self.scale * f64::from(self.rms.at(i % self.width, i / self.width))
    }
}

/// The significant peaks of a footprint, main (highest) first. `peaks` are pixel indices of
/// local maxima of the smoothed image. A secondary peak is significant when its prominence
/// (its height above the lowest point of the smoothed image on the straight path to the main
/// peak) is at least 3σ of the smoothed noise and its height above the threshold at least
/// `blend_contrast` of the main peak's.
fn significant_peaks(
    peaks: &[usize],
    detection: &[f32],
    threshold: &Threshold,
    w: usize,
    params: &DetectParams,
) -> Vec<usize> {
    let Some(&main) = peaks
        .iter()
        .max_by(|&&a, &&b| detection[a].total_cmp(&detection[b]))
    else {
        return Vec::new();
    };
    let main_height = f64::from(detection[main]) - threshold.at(main);
    let (mx, my) = ((main % w) as f64, (main / w) as f64);
    let mut out = vec![main];
    for &p in peaks.iter().filter(|&&p| p != main) {
        let height = f64::from(detection[p]) - threshold.at(p);
        if height < params.blend_contrast * main_height {
            continue;
        }
        let (px, py) = ((p % w) as f64, (p / w) as f64);
        let steps = (2.0 * (mx - px).hypot(my - py)).ceil().max(1.0) as usize;
        let lowest = (0..=steps)
            .map(|k| {
                let t = k as f64 / steps as f64;
                let (x, y) = ((px + t * (mx - px)).round(), (py + t * (my - py)).round());
                f64::from(detection[y as usize * w + x as usize])
            })
            .fold(f64::INFINITY, f64::min);
        let sigma = threshold.at(p) / params.thresh_sigma;
        if f64::from(detection[p]) - lowest >= 3.0 * sigma {
            out.push(p);
        }
    }
    out
}

/// Position of each pixel of a footprint in its pixel list, over the footprint's bounding box.
struct FootprintIndex {
    x0: usize,
    y0: usize,
    width: usize,
    height: usize,
    /// Row-major over the bounding box; `usize::MAX`: not in the footprint.
    slots: Vec<usize>,
}

impl FootprintIndex {
    fn new(pixels: &[(usize, usize)]) -> Self {
        let x0 = pixels.iter().map(|p| p.0).min().unwrap_or(0);
        let y0 = pixels.iter().map(|p| p.1).min().unwrap_or(0);
        let width = pixels.iter().map(|p| p.0 + 1 - x0).max().unwrap_or(0);
        let height = pixels.iter().map(|p| p.1 + 1 - y0).max().unwrap_or(0);
        let mut slots = vec![usize::MAX; width * height];
        for (k, &(x, y)) in pixels.iter().enumerate() {
            slots[(y - y0) * width + (x - x0)] = k;
        }
        FootprintIndex {
            x0,
            y0,
            width,
            height,
            slots,
        }
    }

    /// The position of pixel `(x, y)` in the footprint's list, if it belongs to it.
    fn get(&self, x: usize, y: usize) -> Option<usize> {
        let (bx, by) = (x.checked_sub(self.x0)?, y.checked_sub(self.y0)?);
        if bx >= self.width || by >= self.height {
            return None;
        }
        Some(self.slots[by * self.width + bx]).filter(|&k| k != usize::MAX)
    }
}

/// Splits a footprint between its significant peaks by watershed on the smoothed image: each
/// pixel climbs to a local maximum by steepest ascent within the footprint; the pixels of a
/// maximum that is not significant go to the nearest significant peak. Children smaller than
/// `min_area` are merged into the first (brightest) child.
fn watershed_split(
    pixels: &[(usize, usize)],
    seeds: &[usize],
    detection: &[f32],
    w: usize,
    min_area: usize,
) -> Vec<Vec<(usize, usize)>> {
    let index = FootprintIndex::new(pixels);
    // Steepest-ascent neighbour (itself at a local maximum), memoised climb to the summit.
    let up: Vec<usize> = pixels
        .iter()
        .enumerate()
        .map(|(k, &(x, y))| {
            let mut best = (detection[y * w + x], k);
            for dy in -1i64..=1 {
                for dx in -1i64..=1 {
                    let (nx, ny) = (x as i64 + dx, y as i64 + dy);
                    // Off the left or right edge: x = w would alias pixel (0, y + 1).
                    if nx < 0 || ny < 0 || nx as usize >= w || (dx, dy) == (0, 0) {
                        continue;
                    }
                    let j = ny as usize * w + nx as usize;
                    if let Some(m) = index.get(nx as usize, ny as usize) {
                        if detection[j] > best.0 {
                            best = (detection[j], m);
                        }
                    }
                }
            }
            best.1
        })
        .collect();
    let mut summit = vec![usize::MAX; pixels.len()];
    let mut path = Vec::new();
    for k in 0..pixels.len() {
        path.clear();
        path.push(k);
        let mut c = k;
        while up[c] != c && summit[c] == usize::MAX {
            c = up[c];
            path.push(c);
        }
        let top = if summit[c] != usize::MAX {
            summit[c]
        } else {
            c
        };
        for &p in &path {
            summit[p] = top;
        }
    }
    let seed_pos: Vec<(f64, f64)> = seeds
        .iter()
        .map(|&i| ((i % w) as f64, (i / w) as f64))
        .collect();
    let mut children: Vec<Vec<(usize, usize)>> = vec![Vec::new(); seeds.len()];
    for (k, &(x, y)) in pixels.iter().enumerate() {
        let (sx, sy) = pixels[summit[k]];
        let child = seeds
            .iter()
            .position(|&i| i == sy * w + sx)
            .unwrap_or_else(|| {
                seed_pos
                    .iter()
                    .enumerate()
                    .min_by(|a, b| {
                        let da = (a.1 .0 - sx as f64).hypot(a.1 .1 - sy as f64);
                        let db = (b.1 .0 - sx as f64).hypot(b.1 .1 - sy as f64);
                        da.total_cmp(&db)
                    })
                    .map_or(0, |(c, _)| c)
            });
        children[child].push((x, y));
    }
    let mut orphans = Vec::new();
    children.retain(|c| {
        if c.len() < min_area {
            orphans.extend_from_slice(c);
            false
        } else {
            true
        }
    });
    match children.first_mut() {
        Some(first) => first.extend(orphans),
        None => children.push(orphans),
    }
    children
}

/// A footprint measured up to (not including) its FWHM and windowed centroid.
struct Partial {
    pixels: Vec<(usize, usize)>,
    source: Source,
    sigma_iso: f64,
}

/// The flags of a footprint from its pixels: SATURATED when one is saturated (mask flag or
/// at least `saturation_level`), NEAR_EDGE when one lies on the image's border, MASKED when one
/// or one of their 8 neighbours is excluded by the mask or not finite — `masked` when that is
/// already known, else tested here. `mask` has the image's shape.
fn footprint_flags(
    pixels: &[(usize, usize)],
    image: &Image,
    mask: Option<&PixelMask>,
    saturation_level: Option<f64>,
    masked: Option<bool>,
) -> u16 {
    let (w, h) = (image.width(), image.height());
    let (data, bits) = (image.data(), mask.map(PixelMask::bits));
    let mut flags = match masked {
        Some(true) => source_flag::MASKED,
        _ => 0,
    };
    // Known not masked: the flag is not to be set below.
    let test_masked = masked.is_none();
    for &(x, y) in pixels {
        let i = y * w + x;
        if bits.is_some_and(|b| b[i] & pixel_flag::SATURATED != 0)
            || saturation_level.is_some_and(|s| f64::from(data[i]) >= s)
        {
            flags |= source_flag::SATURATED;
        }
        if x == 0 || y == 0 || x == w - 1 || y == h - 1 {
            flags |= source_flag::NEAR_EDGE;
        }
        // Once set, the neighbourhoods of the other pixels cannot change the flag.
        if test_masked
            && flags & source_flag::MASKED == 0
            && touches_unusable(data, bits, w, h, x, y)
        {
            flags |= source_flag::MASKED;
        }
    }
    flags
}

/// True when a pixel of the 3 × 3 neighbourhood of `(x, y)` (within the `w × h` image) is not
/// finite in `data` or has a flag of [`EXCLUDED_PIXELS`] in `bits`.
fn touches_unusable(
    data: &[f32],
    bits: Option<&[u8]>,
    w: usize,
    h: usize,
    x: usize,
    y: usize,
) -> bool {
    let (x0, x1) = (x.saturating_sub(1), (x + 1).min(w - 1));
    (y.saturating_sub(1)..=(y + 1).min(h - 1)).any(|ny| {
        let row = ny * w + x0..=ny * w + x1;
        data[row.clone()].iter().any(|v| !v.is_finite())
            || bits.is_some_and(|b| b[row].iter().any(|b| b & EXCLUDED_PIXELS != 0))
    })
}

/// Isophotal measurements and flags of one footprint (`signal` is the background-subtracted
/// image with unusable pixels at 0; `masked`: whether it touches an unusable pixel, when
/// known, see [`footprint_flags`]).
fn measure_footprint(
    pixels: Vec<(usize, usize)>,
    blended: bool,
    masked: Option<bool>,
    signal: &Signal,
    image: &Image,
    mask: Option<&PixelMask>,
    params: &DetectParams,
) -> Option<Partial> {
    let w = image.width();
    let values: Vec<f64> = pixels.iter().map(|&(x, y)| signal.at(y * w + x)).collect();
    let [mx, my, xx, yy, xy] = isophotal_moments(&pixels, &values)?;
    let flux: f64 = values.iter().sum();
    let peak = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let (a, b, theta) = ellipse(xx, yy, xy);
    let flags = footprint_flags(&pixels, image, mask, params.saturation_level, masked)
        | if blended { source_flag::BLENDED } else { 0 };
    Some(Partial {
        source: Source {
            x: mx,
            y: my,
            x_iso: mx,
            y_iso: my,
            flux,
            peak,
            area_px: pixels.len(),
            a_px: a,
            b_px: b,
            theta_deg: theta,
            fwhm_px: f64::NAN,
            flags,
            label: 0,
        },
        sigma_iso: (0.5 * (xx + yy)).sqrt(),
        pixels,
    })
}

/// True when pixel `(x, y)` of `detection` (`w × h`) is above all its 8 neighbours in the
/// image (strictly: a plateau has no peak).
fn is_local_peak(detection: &[f32], w: usize, h: usize, x: usize, y: usize) -> bool {
    let i = y * w + x;
    let centre = detection[i];
    if x > 0 && y > 0 && x + 1 < w && y + 1 < h {
        // Interior: all neighbours exist, no bounds to test. All eight compared, with
        // non-short-circuit `&`: no branch to mispredict (most pixels of a footprint fail at
        // a different neighbour from the previous one).
        let above = &detection[i - w - 1..i - w + 2];
        let below = &detection[i + w - 1..i + w + 2];
        let sides = [detection[i - 1], detection[i + 1]];
        return above
            .iter()
            .chain(below)
            .chain(&sides)
            .fold(true, |all, &v| all & (v < centre));
    }
    (-1i64..=1).all(|dy| {
        (-1i64..=1).all(|dx| {
            let (nx, ny) = (x as i64 + dx, y as i64 + dy);
            (dx, dy) == (0, 0)
                || nx < 0
                || ny < 0
                || nx >= w as i64
                || ny >= h as i64
                || detection[ny as usize * w + nx as usize] < centre
        })
    })
}

/// Bits of the per-pixel marks of [`find_footprints`], set while the smoothed rows are in
/// cache ([`smooth`]).
mod mark {
    /// Above the detection threshold and not (yet) in a footprint.
    pub const ABOVE: u8 = 1 << 0;
    /// Unusable: not finite in the input image or flagged
    /// [`super::EXCLUDED_PIXELS`] (what [`super::touches_unusable`] looks for). The labelling
    /// reads the marks of every footprint pixel's 3 × 3 neighbourhood anyway, so it tells
    /// whether a footprint touches such a pixel without reading the image and the mask again
    /// in scattered order.
    pub const UNUSABLE: u8 = 1 << 1;
}

/// Flags per step of [`next_marked`].
const MARK_CHUNK: usize = 64;

/// The index of the first mark of `marks` with [`mark::ABOVE`] at or after `start`. Whole
/// chunks of [`MARK_CHUNK`] marks are tested at once (an OR the compiler vectorises), as the
/// labelling scans millions of mostly-unmarked pixels (the mark-by-mark search was a fifth of
/// the labelling's own time on a full ALFOSC frame).
fn next_marked(marks: &[u8], start: usize) -> Option<usize> {
    let rest = marks.get(start..)?;
    let above = |m: &u8| m & mark::ABOVE != 0;
    let mut chunks = rest.chunks_exact(MARK_CHUNK);
    let mut offset = 0;
    for chunk in chunks.by_ref() {
        if chunk.iter().fold(0, |any, &m| any | m) & mark::ABOVE != 0 {
            return chunk.iter().position(above).map(|k| start + offset + k);
        }
        offset += MARK_CHUNK;
    }
    let tail = chunks.remainder().iter().position(above)?;
    Some(start + offset + tail)
}

/// Steps 1 and 2 of the module notes: the footprints of the pixels above threshold, before
/// the minimum area, with what their deblending and measurements read.
struct Labelled<'a> {
    /// `image − level`.
    sub: Image,
    /// The smoothed signal.
    detection: Vec<f32>,
    threshold: Threshold<'a>,
    /// The pixels of each footprint, and whether it touches an unusable pixel.
    footprints: Vec<(Vec<(usize, usize)>, bool)>,
}

/// Steps 1 and 2 of the module notes ([`Labelled`]), the parameters checked.
fn label_footprints<'a, B: BackgroundMaps + ?Sized>(
    image: &Image,
    background: &'a B,
    mask: Option<&PixelMask>,
    params: &DetectParams,
) -> Result<Labelled<'a>, DetectError> {
    let (w, h) = (image.width(), image.height());
    if w == 0 || h == 0 {
        return Err(DetectError::EmptyImage {
            width: w,
            height: h,
        });
    }
    for (what, img) in [
        ("the background level", background.level()),
        ("the background rms", background.rms()),
    ] {
        if (img.width(), img.height()) != (w, h) {
            return Err(shape_error(what, img.width(), img.height(), image));
        }
    }
    if let Some(m) = mask {
        if (m.width(), m.height()) != (w, h) {
            return Err(shape_error("the pixel mask", m.width(), m.height(), image));
        }
    }
    let invalid = |name: &'static str, message: &str| DetectError::InvalidParameter {
        name,
        message: message.to_string(),
    };
    if !(params.thresh_sigma.is_finite() && params.thresh_sigma > 0.0) {
        return Err(invalid("thresh_sigma", "must be finite and > 0"));
    }
    if params.min_area_px == 0 {
        return Err(invalid("min_area_px", "must be at least 1"));
    }
    if let Some(f) = params.smoothing_fwhm_px {
        if !(f.is_finite() && f > 0.0) {
            return Err(invalid("smoothing_fwhm_px", "must be finite and > 0"));
        }
    }
    if let Some(s) = params.window_sigma_px {
        if !(s.is_finite() && s > 0.0) {
            return Err(invalid("window_sigma_px", "must be finite and > 0"));
        }
    }

    // The smoothed noise is the pixel noise times the kernel's L2 norm.
    let kernel = params.smoothing_fwhm_px.map(gaussian_kernel);
    let noise_factor = kernel
        .as_ref()
        .map_or(1.0, |k| k.iter().map(|k| k * k).sum::<f64>());
    // Threshold in units of the noise of the smoothed image (SEP's matched filter).
    let threshold = Threshold {
        rms: background.rms(),
        width: w,
        scale: params.thresh_sigma * noise_factor,
    };
    // Row y of the marks: pixels above threshold added to the unusable ones, from row y of
    // the detection image.
    let mark_row = |y: usize, smoothed: &[f32], marks: &mut [u8], scratch: &mut [f32]| {
        let rms = threshold.rms.row_in(y, scratch);
        for ((m, d), r) in marks.iter_mut().zip(smoothed).zip(rms) {
            let t = threshold.scale * f64::from(*r);
            // Non-short-circuit `&`: no branches, so the loop vectorises.
            let usable = *m & mark::UNUSABLE == 0;
            let above = usable & t.is_finite() & (f64::from(*d) > t);
            *m |= mark::ABOVE * u8::from(above);
        }
    };
    // Without smoothing the detection image is the signal itself: the kernel [1] (1 × v is
    // v, bit for bit).
    let kernel: Vec<f32> = kernel.map_or(vec![1.0], |k| k.iter().map(|&k| k as f32).collect());
    let input = DetectionInput::new(image, background.level(), mask);
    // Background-subtracted image (NaN kept for the centroids, which skip it), the detection
    // image and the marks.
    let Smoothed {
        sub,
        detection,
        marks: mut above,
    } = smooth(&input, &kernel, mark_row);
    let sub = Image::new(w, h, sub).expect("one value per pixel");

    // 8-connected labelling by flood fill, in scan order of each footprint's first pixel;
    // a pixel loses its ABOVE mark when it joins a footprint. The neighbourhoods read also
    // tell whether the footprint touches an unusable pixel (the MASKED flag). The stack holds
    // pixels as (x, y), so that none is divided back out of its index.
    let mut footprints: Vec<(Vec<(usize, usize)>, bool)> = Vec::new();
    let mut stack: Vec<(usize, usize)> = Vec::new();
    let mut start = 0;
    while let Some(next) = next_marked(&above, start) {
        start = next;
        above[start] &= !mark::ABOVE;
        stack.push((start % w, start / w));
        let mut pixels = Vec::new();
        let mut touches = false;
        while let Some((x, y)) = stack.pop() {
            pixels.push((x, y));
            let (x0, x1) = (x.saturating_sub(1), (x + 1).min(w - 1));
            for ny in y.saturating_sub(1)..=(y + 1).min(h - 1) {
                for nx in x0..=x1 {
                    let j = ny * w + nx;
                    let m = above[j];
                    touches |= m & mark::UNUSABLE != 0;
                    if m & mark::ABOVE != 0 {
                        above[j] = m & !mark::ABOVE;
                        stack.push((nx, ny));
                    }
                }
            }
        }
        footprints.push((pixels, touches));
    }
    Ok(Labelled {
        sub,
        detection,
        threshold,
        footprints,
    })
}

/// A footprint deblended (step 3 of the module notes): its children, whether they touch an
/// unusable pixel (`None`: to be found per child, see [`footprint_flags`]), and whether it
/// was blended.
struct Deblended {
    children: Vec<Vec<(usize, usize)>>,
    masked: Option<bool>,
    blended: bool,
}

impl Labelled<'_> {
    /// Deblends `footprint` (`touches`: whether it touches an unusable pixel) between the
    /// significant local maxima of the smoothed image.
    fn deblend(
        &self,
        footprint: Vec<(usize, usize)>,
        touches: bool,
        params: &DetectParams,
    ) -> Deblended {
        let (w, h) = (self.sub.width(), self.sub.height());
        let detection = &self.detection;
        let peaks: Vec<usize> = footprint
            .iter()
            .filter(|&&(x, y)| is_local_peak(detection, w, h, x, y))
            .map(|&(x, y)| y * w + x)
            .collect();
        let seeds = significant_peaks(&peaks, detection, &self.threshold, w, params);
        // A child touches an unusable pixel only if its footprint does.
        let (children, masked) = if seeds.len() >= 2 && params.deblend {
            let children = watershed_split(&footprint, &seeds, detection, w, params.min_area_px);
            (children, (!touches).then_some(false))
        } else {
            (vec![footprint], Some(touches))
        };
        Deblended {
            children,
            masked,
            blended: seeds.len() >= 2,
        }
    }
}

/// Steps 1–3 of the module notes and the isophotal measurements of step 4.
fn find_footprints<B: BackgroundMaps + ?Sized>(
    image: &Image,
    background: &B,
    mask: Option<&PixelMask>,
    params: &DetectParams,
) -> Result<Footprints, DetectError> {
    let mut labelled = label_footprints(image, background, mask, params)?;
    let signal = Signal {
        sub: labelled.sub.data(),
        bits: mask.map_or(&[], |m| m.bits()),
    };
    // Measurements that do not need the window.
    let mut partial: Vec<Partial> = Vec::new();
    for (footprint, touches) in std::mem::take(&mut labelled.footprints) {
        if footprint.len() < params.min_area_px {
            continue;
        }
        let Deblended {
            children,
            masked,
            blended,
        } = labelled.deblend(footprint, touches, params);
        for pixels in children {
            let p = measure_footprint(pixels, blended, masked, &signal, image, mask, params);
            if let Some(p) = p {
                partial.push(p);
            }
        }
    }
    partial.sort_by(|p, q| q.source.flux.total_cmp(&p.source.flux));
    Ok(Footprints {
        sub: labelled.sub,
        partial,
    })
}

/// The footprints of a detection, deblended and measured up to their FWHM, brightest first,
/// with the background-subtracted image they were measured on.
struct Footprints {
    sub: Image,
    partial: Vec<Partial>,
}

impl Footprints {
    /// Labels 1, 2, ... of the footprints in flux order (0: no source).
    fn labels(&self, w: usize, h: usize) -> Vec<u32> {
        let mut labels = vec![0u32; w * h];
        for (k, p) in self.partial.iter().enumerate() {
            for &(x, y) in &p.pixels {
                labels[y * w + x] = k as u32 + 1;
            }
        }
        labels
    }
}

/// The segmentation map of [`detect_sources`] (the same map, label for label) without the
/// per-source FWHM fits and windowed centroids: what a source mask for a second background
/// pass needs, at a fraction of the cost.
pub fn detect_segmentation<B: BackgroundMaps + ?Sized>(
    image: &Image,
    background: &B,
    mask: Option<&PixelMask>,
    params: &DetectParams,
) -> Result<Segmentation, DetectError> {
    let (w, h) = (image.width(), image.height());
    let footprints = find_footprints(image, background, mask, params)?;
    Ok(Segmentation {
        width: w,
        height: h,
        labels: footprints.labels(w, h),
    })
}

/// The pixels of the sources of [`detect_segmentation`] grown by `dilate_px`: its map's
/// [`Segmentation::to_exclusion_mask`], pixel for pixel, without measuring the sources or
/// labelling them in flux order (what a source mask for a second background pass needs).
///
/// A footprint or deblended child is a source of the segmentation when its isophotal moments
/// exist, i.e. when one of its pixels has a positive signal ([`isophotal_moments`]). The
/// children of a footprint share out its pixels, so a footprint whose every pixel has a
/// positive signal is all sources however it deblends: only the others are deblended.
pub fn detect_source_mask<B: BackgroundMaps + ?Sized>(
    image: &Image,
    background: &B,
    mask: Option<&PixelMask>,
    params: &DetectParams,
    dilate_px: f64,
) -> Result<ExclusionMask, DetectError> {
    let (w, h) = (image.width(), image.height());
    let mut labelled = label_footprints(image, background, mask, params)?;
    let signal = Signal {
        sub: labelled.sub.data(),
        bits: mask.map_or(&[], |m| m.bits()),
    };
    let positive = |&(x, y): &(usize, usize)| signal.at(y * w + x) > 0.0;
    let mut excluded = vec![false; w * h];
    let mut exclude = |pixels: &[(usize, usize)]| {
        for &(x, y) in pixels {
            excluded[y * w + x] = true;
        }
    };
    for (footprint, touches) in std::mem::take(&mut labelled.footprints) {
        if footprint.len() < params.min_area_px {
            continue;
        }
        if footprint.iter().all(positive) {
            exclude(&footprint);
            continue;
        }
        for child in labelled.deblend(footprint, touches, params).children {
            if child.iter().any(positive) {
                exclude(&child);
            }
        }
    }
    let sources = ExclusionMask::from_flags(w, h, excluded);
    Ok(if dilate_px > 0.0 {
        sources.dilated(dilate_px)
    } else {
        sources
    })
}

/// Start of a source's FWHM fit: the FWHM of its adaptive moments when they converge
/// (`adaptive`), and the value the fit starts from (that, else the Gaussian FWHM of its
/// isophotal moments).
#[derive(Debug, Clone, Copy)]
struct FwhmGuess {
    adaptive: Option<f64>,
    start: f64,
}

fn fwhm_guess(
    sub: &Image,
    mask: Option<&PixelMask>,
    x_iso: f64,
    y_iso: f64,
    sigma_iso: f64,
) -> FwhmGuess {
    let adaptive = adaptive_sigma(sub, mask, x_iso, y_iso, sigma_iso).map(|s| FWHM_PER_SIGMA * s);
    FwhmGuess {
        adaptive,
        start: adaptive.unwrap_or(FWHM_PER_SIGMA * sigma_iso),
    }
}

/// Settings of the Moffat fits for a source whose FWHM is about `start` px.
fn fwhm_fit_params(start: f64) -> GaussianFitParams {
    GaussianFitParams {
        max_shift_px: Some(start.max(2.0)),
        max_iterations: 50,
        ..GaussianFitParams::new((1.5 * start).ceil().clamp(3.0, 15.0) as usize)
    }
}

/// A fitted FWHM is kept when within (0.4, 2) × its start.
fn plausible_fwhm(fwhm: f64, start: f64) -> bool {
    fwhm > 0.4 * start && fwhm < 2.0 * start
}

/// The FWHM of a Moffat fit at the image's `beta`, and `true` when that fit failed and the
/// value is the guess instead ([`source_flag::FWHM_FALLBACK`]).
fn fixed_beta_fwhm(
    sub: &Image,
    mask: Option<&PixelMask>,
    x_iso: f64,
    y_iso: f64,
    guess: FwhmGuess,
    beta: f64,
) -> (f64, bool) {
    let start = guess.start;
    moffat_2d_fit_fixed_beta(sub, mask, x_iso, y_iso, &fwhm_fit_params(start), beta)
        .ok()
        .map(|m| m.fwhm_px)
        .filter(|f| plausible_fwhm(*f, start))
        .map_or((guess.adaptive.unwrap_or(start), true), |f| (f, false))
}

/// Detects and measures sources on `image` (same units as `background`). `mask` flags:
/// [`EXCLUDED_PIXELS`] never count as signal, SATURATED marks saturated sources.
pub fn detect_sources<B: BackgroundMaps + ?Sized>(
    image: &Image,
    background: &B,
    mask: Option<&PixelMask>,
    params: &DetectParams,
) -> Result<Detection, DetectError> {
    let (w, h) = (image.width(), image.height());
    let Footprints { sub, mut partial } = find_footprints(image, background, mask, params)?;
    // FWHM: Moffat fits started from adaptive moments (in parallel). β is fitted on the (up to
    // 50) brightest clean sources; the others are fitted with their median β.
    let n = partial.len();
    let clean: Vec<bool> = partial
        .iter()
        .map(|p| p.source.is_clean(source_flag::NOT_CLEAN))
        .collect();
    let guess_of =
        |p: &Partial| fwhm_guess(&sub, mask, p.source.x_iso, p.source.y_iso, p.sigma_iso);
    // Start values: for every source, or for the clean ones in flux order until the bright set
    // below is complete.
    let mut guesses: Vec<Option<FwhmGuess>> = vec![None; n];
    if params.fwhm_of_every_source {
        guesses = partial.par_iter().map(|p| Some(guess_of(p))).collect();
    } else {
        let mut n_bright = 0;
        for k in (0..n).filter(|&k| clean[k]) {
            let g = guess_of(&partial[k]);
            guesses[k] = Some(g);
            n_bright += usize::from(g.adaptive.is_some());
            if n_bright == SEEING_SOURCES {
                break;
            }
        }
    }
    let bright: Vec<usize> = (0..n)
        .filter(|&k| clean[k] && guesses[k].is_some_and(|g| g.adaptive.is_some()))
        .take(SEEING_SOURCES)
        .collect();
    let free_fits: Vec<(usize, Option<MoffatFit>)> = bright
        .par_iter()
        .map(|&k| {
            let s = &partial[k].source;
            let start = guesses[k].map_or(f64::NAN, |g| g.start);
            let fit = moffat_2d_fit(&sub, mask, s.x_iso, s.y_iso, &fwhm_fit_params(start))
                .ok()
                .filter(|m| plausible_fwhm(m.fwhm_px, start) && m.beta > 1.0 && m.beta < 10.0);
            (k, fit)
        })
        .collect();
    let betas: Vec<f64> = free_fits
        .iter()
        .filter_map(|(_, f)| f.map(|m| m.beta))
        .collect();
    let beta = crate::stats::median(&betas).unwrap_or(DEFAULT_MOFFAT_BETA);
    let mut fwhm_of: Vec<Option<f64>> = vec![None; n];
    for (k, fit) in free_fits {
        fwhm_of[k] = fit.map(|m| m.fwhm_px);
    }
    // The FWHM of source k (its free fit, else a fit at the image's β, else the fallback).
    let measure = |p: &mut Partial, done: Option<f64>, guess: Option<FwhmGuess>| {
        let s = &mut p.source;
        let guess = guess.unwrap_or_else(|| fwhm_guess(&sub, mask, s.x_iso, s.y_iso, p.sigma_iso));
        let (fwhm, fallback) = match done {
            Some(f) => (f, false),
            None => fixed_beta_fwhm(&sub, mask, s.x_iso, s.y_iso, guess, beta),
        };
        s.fwhm_px = fwhm;
        s.flags &= !source_flag::FWHM_NOT_MEASURED;
        if fallback {
            s.flags |= source_flag::FWHM_FALLBACK;
        }
    };
    if params.fwhm_of_every_source {
        partial
            .par_iter_mut()
            .zip(fwhm_of.par_iter())
            .zip(guesses.par_iter())
            .for_each(|((p, done), guess)| measure(p, *done, *guess));
    } else {
        for p in partial.iter_mut() {
            p.source.fwhm_px = f64::NAN;
            p.source.flags |= source_flag::FWHM_NOT_MEASURED;
        }
        // The clean sources in flux order until enough have a fitted and a finite FWHM for
        // the window below and for the seeing of the callers.
        let (mut fitted, mut finite) = (0, 0);
        for k in (0..n).filter(|&k| clean[k]) {
            if fitted >= SEEING_SOURCES && finite >= SEEING_SOURCES {
                break;
            }
            measure(&mut partial[k], fwhm_of[k], guesses[k]);
            let s = &partial[k].source;
            fitted += usize::from(s.flags & source_flag::FWHM_FALLBACK == 0);
            finite += usize::from(s.fwhm_px.is_finite());
        }
    }
    let moffat_beta = beta;
    let window_sigma = match params.window_sigma_px {
        Some(s) => s,
        None => {
            let fwhms: Vec<f64> = partial
                .iter()
                .map(|p| &p.source)
                .filter(|s| {
                    s.is_clean(
                        source_flag::NOT_CLEAN
                            | source_flag::FWHM_FALLBACK
                            | source_flag::FWHM_NOT_MEASURED,
                    )
                })
                .take(SEEING_SOURCES)
                .map(|s| s.fwhm_px)
                .collect();
            if fwhms.is_empty() && !params.fwhm_of_every_source {
                // No clean source with a fitted FWHM: the window comes from all of them.
                for (k, p) in partial.iter_mut().enumerate() {
                    if p.source.flags & source_flag::FWHM_NOT_MEASURED != 0 {
                        measure(p, fwhm_of[k], guesses[k]);
                    }
                }
            }
            crate::stats::median(&fwhms)
                .or_else(|| {
                    crate::stats::median(
                        &partial.iter().map(|p| p.source.fwhm_px).collect::<Vec<_>>(),
                    )
                })
                .map_or(1.0, |f| (f / FWHM_PER_SIGMA).max(0.5))
        }
    };

    // Labels in flux order, then windowed centroids (in parallel) with the pixels of other
    // sources replaced by their mirror images.
    let mut labels_out = vec![0u32; w * h];
    let mut cells = LabelCells::new(w, h);
    for (k, p) in partial.iter().enumerate() {
        for &(x, y) in &p.pixels {
            labels_out[y * w + x] = k as u32 + 1;
            cells.add(x, y, k as u32 + 1);
        }
    }
    let window = WindowedParams {
        max_shift_px: Some((2.0 * window_sigma).max(2.0)),
        ..WindowedParams::new(window_sigma)
    };
    let isophotal_sigma_px: Vec<f64> = partial.iter().map(|p| p.sigma_iso).collect();
    let sources: Vec<Source> = partial
        .into_par_iter()
        .enumerate()
        .map(|(k, p)| {
            let mut s = p.source;
            s.label = k as u32 + 1;
            let foreign = Foreign::new(&labels_out, w, s.label).with_cells(&cells);
            match windowed_centroid_masked(&sub, mask, Some(&foreign), s.x_iso, s.y_iso, &window) {
                Ok(c) => {
                    s.x = c.x;
                    s.y = c.y;
                }
                Err(_) => s.flags |= source_flag::CENTROID_FALLBACK,
            }
            let r = 4.0 * window_sigma;
            if s.x - r < -0.5
                || s.y - r < -0.5
                || s.x + r > w as f64 - 0.5
                || s.y + r > h as f64 - 0.5
            {
                s.flags |= source_flag::NEAR_EDGE;
            }
            s
        })
        .collect();
    // The seeing of the callers: the first clean sources (final flags) with a finite FWHM,
    // measured now where the fits above stopped short of them.
    let mut sources = sources;
    if !params.fwhm_of_every_source {
        let mut finite = 0;
        for (k, s) in sources.iter_mut().enumerate() {
            if finite >= SEEING_SOURCES {
                break;
            }
            if !s.is_clean(source_flag::NOT_CLEAN) {
                continue;
            }
            if s.flags & source_flag::FWHM_NOT_MEASURED != 0 {
                let guess = guesses[k].unwrap_or_else(|| {
                    fwhm_guess(&sub, mask, s.x_iso, s.y_iso, isophotal_sigma_px[k])
                });
                let (fwhm, fallback) = match fwhm_of[k] {
                    Some(f) => (f, false),
                    None => fixed_beta_fwhm(&sub, mask, s.x_iso, s.y_iso, guess, beta),
                };
                s.fwhm_px = fwhm;
                s.flags &= !source_flag::FWHM_NOT_MEASURED;
                if fallback {
                    s.flags |= source_flag::FWHM_FALLBACK;
                }
            }
            finite += usize::from(s.fwhm_px.is_finite());
        }
    }
    Ok(Detection {
        sources,
        segmentation: Segmentation {
            width: w,
            height: h,
            labels: labels_out,
        },
        window_sigma_px: window_sigma,
        moffat_beta,
        params: *params,
        isophotal_sigma_px,
        subtracted: sub,
    })
}

/// Two-pass background: estimate it, detect sources, and estimate it again with their
/// footprints grown by `dilate_px` (and `exclude`, e.g. the comet) left out. Returns the
/// second background and the exclusion mask it used; detect again on it for the final
/// catalogue.
pub fn background_without_sources(
    image: &Image,
    mask: Option<&PixelMask>,
    exclude: Option<&ExclusionMask>,
    background_params: &BackgroundParams,
    detect_params: &DetectParams,
    dilate_px: f64,
) -> Result<(Background, ExclusionMask), DetectError> {
    let first = estimate_background(image, mask, exclude, background_params)?;
    let detection = detect_sources(image, &first, mask, detect_params)?;
    let mut sources = detection.segmentation.to_exclusion_mask(dilate_px);
    if let Some(e) = exclude {
        for y in 0..e.height() {
            for x in 0..e.width() {
                if e.is_excluded(x, y) {
                    sources.exclude(x, y);
                }
            }
        }
    }
    let second = estimate_background(image, mask, Some(&sources), background_params)?;
    Ok((second, sources))
}

#[cfg(test)]
mod tests {
    use super::super::background::{estimate_background, BackgroundParams};
    use super::*;
    use rand::SeedableRng;
    use rand_distr::{Distribution, Normal};
    use rand_pcg::Pcg64;

    fn add_moffat(img: &mut Image, xc: f64, yc: f64, fwhm: f64, flux: f64) {
        let psf = crate::simulate::model::Moffat::from_fwhm(fwhm, 3.0);
        let r = (6.0 * fwhm) as i64;
        for y in (yc as i64 - r).max(0)..(yc as i64 + r).min(img.height() as i64) {
            for x in (xc as i64 - r).max(0)..(xc as i64 + r).min(img.width() as i64) {
                let v = flux * psf.pixel_fraction(x as f64 - xc, y as f64 - yc);
                let (x, y) = (x as usize, y as usize);
                img.set(x, y, img.get(x, y) + v as f32);
            }
        }
    }

    fn field(seed: u64) -> (Image, Vec<(f64, f64, f64)>) {
        let (w, h) = (200, 180);
        let mut rng = Pcg64::seed_from_u64(seed);
        let noise = Normal::new(0.0, 10.0).unwrap();
        let mut img = Image::filled(w, h, 0.0);
        for v in img.data_mut() {
            *v = (100.0 + noise.sample(&mut rng)) as f32;
        }
        let stars = vec![
            (50.3, 40.7, 20_000.0),
            (150.6, 60.2, 8_000.0),
            (100.0, 120.5, 3_000.0),
            (30.2, 150.1, 12_000.0),
            (170.8, 140.4, 5_000.0),
        ];
        for &(x, y, f) in &stars {
            add_moffat(&mut img, x, y, 4.0, f);
        }
        (img, stars)
    }

    /// Detection on the background's surfaces evaluated where they are read gives what it
    /// gives on the full maps, to the bit (sources, labels, background-subtracted image), with
    /// a mask and non-finite pixels.
    #[test]
    fn detection_on_mesh_surfaces_equals_detection_on_maps() {
        use super::super::background::estimate_background_mesh;
        let (mut img, _) = field(4);
        img.set(17, 33, f32::NAN);
        img.set(120, 90, f32::INFINITY);
        let mut mask = PixelMask::clear(img.width(), img.height());
        mask.flag(60, 70, pixel_flag::SATURATED);
        mask.flag(151, 60, pixel_flag::COSMIC_RAY);
        let params = BackgroundParams {
            box_px: 32,
            ..BackgroundParams::default()
        };
        for mask in [None, Some(&mask)] {
            let lazy = estimate_background_mesh(&img, mask, None, &params).unwrap();
            let maps = estimate_background(&img, mask, None, &params).unwrap();
            assert_eq!(lazy.clone().to_maps(), maps);
            let a = detect_sources(&img, &lazy, mask, &DetectParams::default()).unwrap();
            let b = detect_sources(&img, &maps, mask, &DetectParams::default()).unwrap();
            assert!(!a.sources.is_empty());
            assert_eq!(format!("{:?}", a.sources), format!("{:?}", b.sources));
            assert_eq!(a.segmentation, b.segmentation);
            let bits = |d: &Detection| -> Vec<u32> {
                d.subtracted.data().iter().map(|v| v.to_bits()).collect()
            };
            assert!(bits(&a) == bits(&b));
        }
    }

    #[test]
    fn finds_and_measures_isolated_stars() {
        let (img, stars) = field(1);
        let bkg = estimate_background(
            &img,
            None,
            None,
            &BackgroundParams {
                box_px: 32,
                ..BackgroundParams::default()
            },
        )
        .unwrap();
        let det = detect_sources(&img, &bkg, None, &DetectParams::default()).unwrap();
        assert_eq!(det.sources.len(), stars.len(), "{:#?}", det.sources);
        // Brightest first, and each star found within 0.1 px.
        assert!(det.sources.windows(2).all(|p| p[0].flux >= p[1].flux));
        for &(x, y, _) in &stars {
            let s = det
                .sources
                .iter()
                .find(|s| (s.x - x).hypot(s.y - y) < 0.15)
                .unwrap_or_else(|| panic!("star at {x}, {y} not found: {:#?}", det.sources));
            assert_eq!(s.flags, 0, "{}", source_flag::describe(s.flags));
            assert!((s.fwhm_px / 4.0 - 1.0).abs() < 0.25, "fwhm {}", s.fwhm_px);
            assert!(s.a_px >= s.b_px && s.b_px > 0.0);
            assert_eq!(
                det.segmentation
                    .label(x.round() as usize, y.round() as usize),
                s.label
            );
        }
        assert!((det.window_sigma_px * FWHM_PER_SIGMA / 4.0 - 1.0).abs() < 0.25);
        let m = det.segmentation.to_exclusion_mask(2.0);
        assert!(m.count() > det.sources.iter().map(|s| s.area_px).sum::<usize>());
    }

    /// A footprint spanning the image's width: the right-edge pixel (4, 0) is a peak of its
    /// own, not a slope up to (0, 1), which x = w would alias.
    #[test]
    fn watershed_does_not_wrap_around_the_right_edge() {
        let w = 5;
        let pixels: Vec<(usize, usize)> =
            (0..2).flat_map(|y| (0..w).map(move |x| (x, y))).collect();
        let detection = vec![1.0f32, 2.0, 3.0, 4.0, 5.0, 9.0, 1.0, 1.0, 1.0, 1.0];
        let children = watershed_split(&pixels, &[5, 4], &detection, w, 1);
        let child_of = |p: (usize, usize)| children.iter().position(|c| c.contains(&p));
        assert_eq!(children.len(), 2, "{children:?}");
        assert_ne!(child_of((4, 0)), child_of((0, 1)), "{children:?}");
        assert_eq!(child_of((3, 0)), child_of((4, 0)));
    }

    /// The source mask made without measuring the sources equals the segmentation's exclusion
    /// mask, pixel for pixel: faint and blended stars, noise footprints with non-positive
    /// pixels (a low threshold), masked and non-finite pixels, with and without deblending,
    /// smoothing and dilation.
    #[test]
    fn source_mask_equals_the_segmentation_mask() {
        let (mut img, _) = field(9);
        for (x, y, flux) in [
            (80.0, 80.0, 900.0),
            (84.5, 82.0, 700.0),
            (120.3, 30.6, 250.0),
        ] {
            add_moffat(&mut img, x, y, 4.0, flux);
        }
        img.set(51, 41, f32::NAN);
        let mut mask = PixelMask::clear(img.width(), img.height());
        mask.flag(150, 61, pixel_flag::COSMIC_RAY);
        mask.flag(10, 10, pixel_flag::BAD);
        let params = BackgroundParams {
            box_px: 32,
            ..BackgroundParams::default()
        };
        let background = estimate_background(&img, Some(&mask), None, &params).unwrap();
        let mut non_positive = false;
        for (thresh_sigma, smoothing_fwhm_px) in [(5.0, Some(3.0)), (1.5, Some(2.0)), (1.0, None)] {
            for (deblend, min_area_px) in [(true, 5), (false, 5), (true, 1)] {
                let detect = DetectParams {
                    thresh_sigma,
                    smoothing_fwhm_px,
                    deblend,
                    min_area_px,
                    ..DetectParams::default()
                };
                let segmentation =
                    detect_segmentation(&img, &background, Some(&mask), &detect).unwrap();
                let sub = background.subtract(&img).unwrap();
                non_positive |= segmentation
                    .labels
                    .iter()
                    .zip(sub.data())
                    .any(|(&l, &v)| l != 0 && v <= 0.0);
                for dilate_px in [0.0, 1.5] {
                    let got =
                        detect_source_mask(&img, &background, Some(&mask), &detect, dilate_px)
                            .unwrap();
                    let expected = segmentation.to_exclusion_mask(dilate_px);
                    assert!(expected.count() > 0);
                    assert_eq!(got, expected, "{detect:?} dilated {dilate_px}");
                }
            }
        }
        assert!(
            non_positive,
            "no footprint with a non-positive pixel was tested"
        );
    }

    /// The banded smoothing, which subtracts the level and marks the unusable pixels as it
    /// goes, equals the plain composition to the bit: [`subtract_surface`] of the whole
    /// image, the signal pixel by pixel, the same f32 sums along x then y over whole images,
    /// and the marks pixel by pixel; with non-finite and masked pixels, band joins, a level
    /// evaluated on demand and the kernel [1] of detection without smoothing.
    #[test]
    fn banded_smoothing_equals_the_plain_passes() {
        use super::super::background::{estimate_background_mesh, subtract_surface};
        for (w, h, fwhm) in [(37, 300, Some(3.0)), (5, 3, Some(2.0)), (64, 290, None)] {
            let (mut image, _) = field(7);
            let image = {
                let data = image.data_mut();
                data[13] = f32::NAN;
                data[200] = f32::INFINITY;
                data[w * 140 + 3] = f32::NEG_INFINITY;
                let data = data.iter().copied().cycle().take(w * h).collect();
                Image::new(w, h, data).unwrap()
            };
            let mut mask = PixelMask::clear(w, h);
            for i in (0..w * h).step_by(89) {
                mask.flag(
                    i % w,
                    i / w,
                    [pixel_flag::COSMIC_RAY, pixel_flag::SATURATED][i % 2],
                );
            }
            let params = BackgroundParams {
                box_px: 16,
                ..BackgroundParams::default()
            };
            let level = estimate_background_mesh(&image, None, None, &params)
                .unwrap()
                .level;
            let kernel: Vec<f32> = fwhm.map_or(vec![1.0], |f| {
                gaussian_kernel(f).iter().map(|&k| k as f32).collect()
            });
            let half = kernel.len() / 2;
            let above = |d: f32, m: u8| d > 50.0 && m & mark::UNUSABLE == 0;
            for mask in [None, Some(&mask)] {
                let bits = mask.map_or(&[][..], |m| m.bits());
                let input = DetectionInput::new(&image, &level, mask);
                let banded = smooth(&input, &kernel, |_, d, marks, _| {
                    for (m, &v) in marks.iter_mut().zip(d) {
                        *m |= mark::ABOVE * u8::from(above(v, *m));
                    }
                });
                let sub = subtract_surface(&image, &level);
                let signal = Signal {
                    sub: sub.data(),
                    bits,
                };
                let value = |x: i64, y: i64| -> f32 {
                    let inside = (0..w as i64).contains(&x) && (0..h as i64).contains(&y);
                    if inside {
                        signal.at(y as usize * w + x as usize) as f32
                    } else {
                        0.0
                    }
                };
                // Along x, then along y, each `k₀ v + Σ k_j (v₋ + v₊)` in that order.
                let convolve = |at: &dyn Fn(i64) -> f32| {
                    let mut o = kernel[half] * at(0);
                    for j in 1..=half {
                        o += kernel[half + j] * (at(-(j as i64)) + at(j as i64));
                    }
                    o
                };
                let mut along_x = vec![0.0f32; w * h];
                for y in 0..h as i64 {
                    for x in 0..w as i64 {
                        along_x[y as usize * w + x as usize] = convolve(&|dx| value(x + dx, y));
                    }
                }
                let row_x = |x: i64, y: i64| -> f32 {
                    if (0..h as i64).contains(&y) {
                        along_x[y as usize * w + x as usize]
                    } else {
                        0.0
                    }
                };
                for i in 0..w * h {
                    let (x, y) = ((i % w) as i64, (i / w) as i64);
                    let detection = convolve(&|dy| row_x(x, y + dy));
                    let v = image.data()[i];
                    let usable =
                        v.is_finite() && bits.get(i).is_none_or(|b| b & EXCLUDED_PIXELS == 0);
                    let unusable = if usable { 0 } else { mark::UNUSABLE };
                    let marks = unusable | (mark::ABOVE * u8::from(above(detection, unusable)));
                    let at = format!("{w}x{h} {fwhm:?} mask {} at {i}", !bits.is_empty());
                    assert_eq!(banded.sub[i].to_bits(), sub.data()[i].to_bits(), "{at}");
                    assert_eq!(banded.detection[i].to_bits(), detection.to_bits(), "{at}");
                    assert_eq!(banded.marks[i], marks, "{at}");
                }
            }
        }
    }

    /// The buffers of the smoothing are handed out only when every band was written in full.
    #[test]
    #[should_panic(expected = "not written in full")]
    fn a_band_written_in_part_is_an_error() {
        bands_written(10, 4, |k, out| {
            let n = out.sub.len();
            out.sub.push(&vec![1.0; n]);
            out.marks.push(&vec![0; n]);
            // The last band's detection row is left out.
            if k < 2 {
                out.detection.push(&vec![2.0; n]);
            }
        });
    }

    /// The banded single-precision smoothing equals the direct f64 sum over the kernel's
    /// taps, pixel by pixel, within f32 rounding, at the image's edges and band joins.
    #[test]
    fn smoothing_equals_the_direct_convolution() {
        // Shapes of one band and of several, kernels wider than the image, and empty images.
        for (w, h, fwhm) in [
            (37, 300, 3.0),
            (5, 3, 2.0),
            (64, 513, 4.5),
            (300, 40, 9.0),
            (1, 1, 2.0),
            (2, 5, 9.0),
            (1, 130, 2.0),
            (3, 257, 2.5),
            (0, 4, 2.0),
            (4, 0, 2.0),
            (0, 0, 2.0),
        ] {
            // Some non-finite pixels, which count as zero signal.
            let sub: Vec<f32> = (0..w * h)
                .map(|i| match i % 97 {
                    13 => f32::NAN,
                    51 => f32::INFINITY,
                    _ => ((i * 7919) % 1013) as f32 * 0.37 - 100.0,
                })
                .collect();
            let value = |i: usize| {
                let v = f64::from(sub[i]);
                if v.is_finite() {
                    v
                } else {
                    0.0
                }
            };
            let image = Image::new(w, h, sub.clone()).unwrap();
            let zero = Image::filled(w, h, 0.0);
            let input = DetectionInput::new(&image, &zero, None);
            let kernel = gaussian_kernel(fwhm);
            let half = (kernel.len() / 2) as i64;
            // The direct convolution in f64 and the same of |values| (the scale of the
            // rounding of a sum of such terms).
            let mut along_x = vec![(0.0, 0.0); w * h];
            for y in 0..h {
                for x in 0..w {
                    let (mut s, mut a) = (0.0, 0.0);
                    for (k, kv) in kernel.iter().enumerate() {
                        let xx = x as i64 + k as i64 - half;
                        if xx >= 0 && xx < w as i64 {
                            s += kv * value(y * w + xx as usize);
                            a += kv * value(y * w + xx as usize).abs();
                        }
                    }
                    along_x[y * w + x] = (s, a);
                }
            }
            let kernel_f32: Vec<f32> = kernel.iter().map(|&k| k as f32).collect();
            let out = smooth(&input, &kernel_f32, |_, _, _, _| {}).detection;
            for y in 0..h {
                for x in 0..w {
                    let (mut s, mut a) = (0.0, 0.0);
                    for (k, kv) in kernel.iter().enumerate() {
                        let yy = y as i64 + k as i64 - half;
                        if yy >= 0 && yy < h as i64 {
                            s += kv * along_x[yy as usize * w + x].0;
                            a += kv * along_x[yy as usize * w + x].1;
                        }
                    }
                    // f32 arithmetic: kernel rounding plus one rounding per operation.
                    let bound = 8.0 * f64::from(f32::EPSILON) * a;
                    let got = f64::from(out[y * w + x]);
                    assert!(
                        (got - s).abs() <= bound,
                        "{w}x{h} at {x}, {y}: {got} vs {s} (bound {bound})"
                    );
                }
            }
        }
    }

    /// Without `fwhm_of_every_source` only the brightest clean sources are fitted, and every
    /// other's FWHM from [`Detection::source_fwhm_px`] is the one the full detection fits.
    #[test]
    fn fwhm_on_demand_equals_the_full_detection() {
        let (w, h) = (440, 400);
        let mut rng = Pcg64::seed_from_u64(11);
        let noise = Normal::new(0.0, 10.0).unwrap();
        let mut img = Image::filled(w, h, 0.0);
        for v in img.data_mut() {
            *v = (100.0 + noise.sample(&mut rng)) as f32;
        }
        // 90 stars on a 40 px grid, brightest first, with sub-pixel offsets.
        for k in 0..90 {
            let (x, y) = (
                25.0 + 40.0 * (k % 10) as f64 + 0.1 * (k % 7) as f64,
                25.0 + 40.0 * (k / 10) as f64 + 0.13 * (k % 5) as f64,
            );
            add_moffat(
                &mut img,
                x,
                y,
                4.0 + 0.01 * k as f64,
                40_000.0 - 400.0 * k as f64,
            );
        }
        let bkg = estimate_background(&img, None, None, &BackgroundParams::default()).unwrap();
        let full = detect_sources(&img, &bkg, None, &DetectParams::default()).unwrap();
        let lazy_params = DetectParams {
            fwhm_of_every_source: false,
            ..DetectParams::default()
        };
        let lazy = detect_sources(&img, &bkg, None, &lazy_params).unwrap();
        assert_eq!(full.sources.len(), 90);
        assert_eq!(lazy.sources.len(), full.sources.len());
        assert_eq!(lazy.moffat_beta, full.moffat_beta);
        assert_eq!(lazy.window_sigma_px, full.window_sigma_px);
        assert_eq!(lazy.subtracted, bkg.subtract(&img).unwrap());
        let unmeasured = source_flag::FWHM_NOT_MEASURED;
        for (k, (a, b)) in full.sources.iter().zip(&lazy.sources).enumerate() {
            assert_eq!((a.x, a.y, a.flux, a.label), (b.x, b.y, b.flux, b.label));
            assert_eq!(lazy.source_fwhm_px(None, k), a.fwhm_px, "source {k}");
            if b.flags & unmeasured == 0 {
                assert_eq!((a.fwhm_px, a.flags), (b.fwhm_px, b.flags), "source {k}");
            } else {
                assert!(b.fwhm_px.is_nan());
                assert_eq!(
                    a.flags & !source_flag::FWHM_FALLBACK,
                    b.flags & !unmeasured,
                    "source {k}"
                );
            }
        }
        // Measured: the first SEEING_SOURCES (all clean here), not the other 40.
        let n_unmeasured = lazy.sources.iter().filter(|s| s.flags & unmeasured != 0);
        assert_eq!(n_unmeasured.count(), 90 - SEEING_SOURCES);
    }

    #[test]
    fn flags_saturation_edges_masks_and_blends() {
        let (mut img, _) = field(2);
        // A blend of two equal stars 6 px apart, a star on the edge, a saturated star,
        // a masked cosmic ray next to a star.
        add_moffat(&mut img, 100.0, 30.0, 4.0, 10_000.0);
        add_moffat(&mut img, 106.0, 30.0, 4.0, 10_000.0);
        add_moffat(&mut img, 1.0, 90.0, 4.0, 10_000.0);
        add_moffat(&mut img, 120.0, 160.0, 4.0, 1_000_000.0);
        let mut mask = PixelMask::clear(img.width(), img.height());
        for y in 0..img.height() {
            for x in 0..img.width() {
                if img.get(x, y) > 20_000.0 {
                    img.set(x, y, 20_000.0);
                    mask.flag(x, y, pixel_flag::SATURATED);
                }
            }
        }
        img.set(150, 63, 1e5);
        mask.flag(150, 63, pixel_flag::COSMIC_RAY);
        let bkg = estimate_background(
            &img,
            Some(&mask),
            None,
            &BackgroundParams {
                box_px: 32,
                ..BackgroundParams::default()
            },
        )
        .unwrap();
        let det = detect_sources(&img, &bkg, Some(&mask), &DetectParams::default()).unwrap();
        let near = |x: f64, y: f64| {
            det.sources
                .iter()
                .find(|s| (s.x_iso - x).hypot(s.y_iso - y) < 4.0)
                .unwrap_or_else(|| panic!("nothing near {x}, {y}: {:#?}", det.sources))
        };
        // The blend is split into its two stars.
        for x in [100.0, 106.0] {
            let s = near(x, 30.0);
            assert_ne!(s.flags & source_flag::BLENDED, 0);
            assert!((s.x - x).hypot(s.y - 30.0) < 0.5, "{s:?}");
        }
        assert_ne!(near(1.5, 90.0).flags & source_flag::NEAR_EDGE, 0);
        assert_ne!(near(120.0, 160.0).flags & source_flag::SATURATED, 0);
        assert_ne!(near(150.6, 60.2).flags & source_flag::MASKED, 0);
        assert_eq!(near(50.3, 40.7).flags, 0);
        // The cosmic ray itself is not a source.
        assert!(det
            .sources
            .iter()
            .all(|s| (s.x - 150.0).hypot(s.y - 63.0) > 2.0));
    }

    #[test]
    fn pure_noise_gives_no_sources_and_bad_inputs_are_errors() {
        let mut rng = Pcg64::seed_from_u64(3);
        let noise = Normal::new(0.0, 1.0).unwrap();
        let mut img = Image::filled(256, 256, 0.0);
        for v in img.data_mut() {
            *v = noise.sample(&mut rng) as f32;
        }
        let bkg = estimate_background(&img, None, None, &BackgroundParams::default()).unwrap();
        let det = detect_sources(&img, &bkg, None, &DetectParams::default()).unwrap();
        assert!(
            det.sources.len() <= 1,
            "{} spurious sources",
            det.sources.len()
        );
        let other = Image::filled(10, 10, 0.0);
        assert!(matches!(
            detect_sources(&other, &bkg, None, &DetectParams::default()),
            Err(DetectError::ShapeMismatch { .. })
        ));
        let bad = DetectParams {
            thresh_sigma: f64::NAN,
            ..DetectParams::default()
        };
        assert!(detect_sources(&img, &bkg, None, &bad).is_err());
        // NaN pixels are neither signal nor a panic.
        let mut holes = img.clone();
        for x in 0..256 {
            holes.set(x, 100, f32::NAN);
        }
        assert!(detect_sources(&holes, &bkg, None, &DetectParams::default()).is_ok());
        assert_eq!(
            source_flag::describe(source_flag::SATURATED | source_flag::BLENDED),
            "saturated|blended"
        );
    }

    #[test]
    fn local_peaks_and_footprint_flags_equal_the_direct_tests() {
        let (w, h) = (12, 10);
        let mut rng = Pcg64::seed_from_u64(11);
        let level = rand_distr::Uniform::new(0u8, 12).unwrap();
        // Few levels: equal neighbours (no peak) are common.
        let detection: Vec<f32> = (0..w * h)
            .map(|_| f32::from(level.sample(&mut rng)))
            .collect();
        let mut image = Image::filled(w, h, 1.0);
        let mut mask = PixelMask::clear(w, h);
        image.set(4, 0, f32::NAN);
        mask.flag(7, 5, pixel_flag::BAD);
        mask.flag(2, 3, pixel_flag::SATURATED);
        let neighbours = |x: usize, y: usize| {
            (-1i64..=1)
                .flat_map(move |dy| (-1i64..=1).map(move |dx| (x as i64 + dx, y as i64 + dy)))
        };
        let mut peaks = 0;
        for y in 0..h {
            for x in 0..w {
                let direct = neighbours(x, y).all(|(nx, ny)| {
                    (nx, ny) == (x as i64, y as i64)
                        || nx < 0
                        || ny < 0
                        || nx >= w as i64
                        || ny >= h as i64
                        || detection[ny as usize * w + nx as usize] < detection[y * w + x]
                });
                assert_eq!(is_local_peak(&detection, w, h, x, y), direct, "({x}, {y})");
                peaks += usize::from(direct);
                // One-pixel footprints.
                let unusable = neighbours(x, y).any(|(nx, ny)| {
                    (0..w as i64).contains(&nx)
                        && (0..h as i64).contains(&ny)
                        && (mask.has(nx as usize, ny as usize, EXCLUDED_PIXELS)
                            || !image.get(nx as usize, ny as usize).is_finite())
                });
                let mut expected = 0;
                if unusable {
                    expected |= source_flag::MASKED;
                }
                if x == 0 || y == 0 || x == w - 1 || y == h - 1 {
                    expected |= source_flag::NEAR_EDGE;
                }
                if (x, y) == (2, 3) {
                    expected |= source_flag::SATURATED;
                }
                let flags = footprint_flags(&[(x, y)], &image, Some(&mask), None, None);
                assert_eq!(flags, expected, "({x}, {y})");
            }
        }
        assert!(peaks >= 2 && peaks < w * h / 4, "{peaks} peaks");
        // Saturation from the level, and without a mask.
        assert_eq!(
            footprint_flags(&[(3, 3), (4, 3)], &image, None, Some(1.0), None),
            source_flag::SATURATED
        );
        assert_eq!(
            footprint_flags(&[(3, 3), (4, 3)], &image, None, Some(1.5), None),
            0
        );
    }

    /// The MASKED flag the labelling finds from the marks equals the direct test of every
    /// footprint pixel's neighbourhood in the image and the mask, for whole footprints and
    /// deblended children.
    #[test]
    fn masked_flag_from_the_labelling_equals_the_direct_test() {
        let (mut img, stars) = field(4);
        // Blends, to have children.
        add_moffat(&mut img, 100.0, 30.0, 4.0, 10_000.0);
        add_moffat(&mut img, 106.0, 31.0, 4.0, 8_000.0);
        add_moffat(&mut img, 60.0, 150.0, 4.0, 9_000.0);
        add_moffat(&mut img, 64.0, 155.0, 4.0, 9_000.0);
        let mut mask = PixelMask::clear(img.width(), img.height());
        // Unusable pixels next to, inside and away from footprints, and one next to a child.
        let (x0, y0, _) = stars[0];
        img.set(x0 as usize + 4, y0 as usize, f32::NAN);
        let (x1, y1, _) = stars[1];
        mask.flag(x1 as usize, y1 as usize + 3, pixel_flag::BAD);
        mask.flag(109, 31, pixel_flag::COSMIC_RAY);
        mask.flag(5, 170, pixel_flag::BAD);
        let bkg = estimate_background(
            &img,
            Some(&mask),
            None,
            &BackgroundParams {
                box_px: 32,
                ..BackgroundParams::default()
            },
        )
        .unwrap();
        let params = DetectParams::default();
        let footprints = find_footprints(&img, &bkg, Some(&mask), &params).unwrap();
        let (mut masked, mut blended) = (0, 0);
        for p in &footprints.partial {
            let direct = footprint_flags(&p.pixels, &img, Some(&mask), None, None);
            assert_eq!(
                p.source.flags & source_flag::MASKED,
                direct & source_flag::MASKED,
                "{:?}",
                p.source
            );
            masked += usize::from(direct & source_flag::MASKED != 0);
            blended += usize::from(p.source.flags & source_flag::BLENDED != 0);
        }
        assert!(masked >= 2, "{masked} masked footprints");
        assert!(blended >= 4, "{blended} children");
        assert!(footprints.partial.len() > masked);
    }

    #[test]
    fn footprint_index_finds_the_pixels_of_the_footprint_only() {
        let pixels = [(5, 2), (6, 2), (4, 3), (7, 4)];
        let index = FootprintIndex::new(&pixels);
        for (k, &(x, y)) in pixels.iter().enumerate() {
            assert_eq!(index.get(x, y), Some(k));
        }
        for (x, y) in [(5, 3), (4, 2), (3, 3), (8, 4), (7, 5), (5, 1), (0, 0)] {
            assert_eq!(index.get(x, y), None, "({x}, {y})");
        }
        assert_eq!(FootprintIndex::new(&[]).get(0, 0), None);
    }
}
