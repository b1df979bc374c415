//! Prepared science frame → [`CalibratedFrame`]: − master bias, ÷ master flat (same layout
//! and filter), masks from the raw data and the masters, WCS moved to the trimmed grid,
//! optional cosmic-ray cleaning, and the HISTORY of all of it.

use super::cosmic::{clean_cosmic_rays, CosmicReport, LaCosmicOptions};
use super::master::{MasterBias, MasterFlat, Masters};
use super::overscan::OverscanOptions;
use super::prepare::{layout_of, prepare_frame_pixels, take_single_pixels, PreparedFrame};
use super::{filter_label, CalibratedFrame, ReduceError};
use crate::frame::read::Frame;
use crate::image::pixel_flag;
use crate::wcs::TanWcs;

/// A calibrated frame with what the cleaner did and the original header (for writing).
#[derive(Debug, Clone)]
pub struct Calibrated {
    pub frame: CalibratedFrame,
    pub header: crate::frame::header::Header,
    pub layout: super::Layout,
    pub cosmic: Option<CosmicReport>,
}

fn file_name(path: &std::path::Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// The WCS of the raw frame moved to the trimmed grid: trimmed pixel (x, y) is raw pixel
/// (x + x0, y + y0), so CRPIX (0-based) moves by −(x0, y0).
pub fn shift_wcs(wcs: &TanWcs, offset_px: [usize; 2]) -> TanWcs {
    TanWcs {
        crpix_px: [
            wcs.crpix_px[0] - offset_px[0] as f64,
            wcs.crpix_px[1] - offset_px[1] as f64,
        ],
        ..wcs.clone()
    }
}

/// Pixels flagged by the calibration with the masters.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct MasterCounts {
    /// Flagged BAD (in either master, or not finite once calibrated).
    n_bad: usize,
    /// With any flag of [`pixel_flag::UNUSABLE`].
    n_unusable: usize,
}

/// − bias, ÷ flat on pixels of a frame (`image`, e⁻) and their mask, in one pass: a pixel
/// flagged BAD in either master becomes BAD; a NONFINITE pixel, or one whose calibrated value
/// is not finite, becomes NaN (the latter also BAD). All slices have the same length (a whole
/// frame, or one row of it and the same row of the masters). Adds the numbers of pixels
/// flagged BAD and [`pixel_flag::UNUSABLE`] afterwards to `counts`.
///
/// Method: one loop over zipped slices (no indexing, so no bounds checks), the result
/// chosen without a branch on the pixel's flags, counts kept on the way.
fn apply_masters(
    image: &mut [f32],
    mask: &mut [u8],
    masters: &MasterPixels,
    counts: &mut MasterCounts,
) {
    let (mut n_bad, mut n_unusable) = (0usize, 0usize);
    let MasterPixels {
        bias,
        bias_mask,
        flat,
        flat_mask,
    } = *masters;
    let masters = bias.iter().zip(bias_mask).zip(flat.iter().zip(flat_mask));
    for ((v, m), ((&b, &bm), (&f, &fm))) in image.iter_mut().zip(mask.iter_mut()).zip(masters) {
        let value = (*v - b) / f;
        let nonfinite = *m & pixel_flag::NONFINITE != 0;
        // A pixel made non-finite by the masters is BAD; one non-finite before is NaN.
        // Non-short-circuit `|` and `&` and a select: no branch, so the loop vectorises.
        let made_nonfinite = !nonfinite & !value.is_finite();
        let bits =
            *m | ((bm | fm) & pixel_flag::BAD) | (pixel_flag::BAD * u8::from(made_nonfinite));
        *v = if nonfinite | !value.is_finite() {
            f32::NAN
        } else {
            value
        };
        *m = bits;
        n_bad += usize::from(bits & pixel_flag::BAD != 0);
        n_unusable += usize::from(bits & pixel_flag::UNUSABLE != 0);
    }
    counts.n_bad += n_bad;
    counts.n_unusable += n_unusable;
}

/// The pixels and masks of a master bias and flat, whole or one row of them, as
/// [`apply_masters`] takes them.
#[derive(Debug, Clone, Copy)]
struct MasterPixels<'a> {
    bias: &'a [f32],
    bias_mask: &'a [u8],
    flat: &'a [f32],
    flat_mask: &'a [u8],
}

impl<'a> MasterPixels<'a> {
    /// Every pixel of the masters.
    fn whole(bias: &'a MasterBias, flat: &'a MasterFlat) -> Self {
        MasterPixels {
            bias: bias.image_e.data(),
            bias_mask: bias.mask.bits(),
            flat: flat.image.data(),
            flat_mask: flat.mask.bits(),
        }
    }

    /// Row `y` of the masters, `None` when they have no row `y` of `width` pixels.
    fn row(bias: &'a MasterBias, flat: &'a MasterFlat, y: usize, width: usize) -> Option<Self> {
        let fits = |w: usize, h: usize| w == width && y < h;
        if !(fits(bias.image_e.width(), bias.image_e.height())
            && fits(flat.image.width(), flat.image.height()))
        {
            return None;
        }
        let row = y * width..(y + 1) * width;
        let whole = MasterPixels::whole(bias, flat);
        Some(MasterPixels {
            bias: &whole.bias[row.clone()],
            bias_mask: &whole.bias_mask[row.clone()],
            flat: &whole.flat[row.clone()],
            flat_mask: &whole.flat_mask[row],
        })
    }
}

/// Calibrates a prepared frame with the given masters (which must be of its layout and,
/// for the flat, its filter) and, when `cosmic` is given, cleans cosmic rays.
pub fn calibrate_prepared(
    mut prepared: PreparedFrame,
    bias: &MasterBias,
    flat: &MasterFlat,
    cosmic: Option<&LaCosmicOptions>,
) -> Result<Calibrated, ReduceError> {
    check_masters(&prepared, bias, flat)?;
    let mut counts = MasterCounts::default();
    apply_masters(
        prepared.image_e.data_mut(),
        prepared.mask.bits_mut(),
        &MasterPixels::whole(bias, flat),
        &mut counts,
    );
    Ok(finish_calibration(prepared, bias, flat, counts, cosmic))
}

/// Checks that `bias` and `flat` are masters for the prepared frame: its layout and (flat)
/// filter, an overscan that agrees with the biases' ([`super::master::check_overscan`]), its
/// size.
fn check_masters(
    prepared: &PreparedFrame,
    bias: &MasterBias,
    flat: &MasterFlat,
) -> Result<(), ReduceError> {
    let file = prepared.source.display().to_string();
    prepared
        .check_mask()
        .map_err(|message| ReduceError::Unusable {
            file: file.clone(),
            message,
        })?;
    if bias.layout != prepared.layout {
        return Err(ReduceError::Mismatch {
            file,
            what: "master bias",
            message: format!("bias for {}, frame is {}", bias.layout, prepared.layout),
        });
    }
    if flat.layout != prepared.layout || flat.filter != prepared.meta.filter {
        return Err(ReduceError::Mismatch {
            file,
            what: "master flat",
            message: format!(
                "flat for filter '{}', {}; frame is filter '{}', {}",
                filter_label(flat.filter.as_deref()),
                flat.layout,
                filter_label(prepared.meta.filter.as_deref()),
                prepared.layout
            ),
        });
    }
    super::master::check_overscan(prepared, bias).map_err(|message| ReduceError::Layout {
        file: file.clone(),
        message,
    })?;
    let (w, h) = (prepared.image_e.width(), prepared.image_e.height());
    for (what, iw, ih) in [
        ("master bias", bias.image_e.width(), bias.image_e.height()),
        ("master flat", flat.image.width(), flat.image.height()),
    ] {
        if (iw, ih) != (w, h) {
            return Err(ReduceError::Mismatch {
                file,
                what,
                message: format!("{iw} x {ih} px, frame {w} x {h} px"),
            });
        }
    }
    Ok(())
}

/// The rest of the calibration of a prepared frame whose pixels the masters were applied to
/// ([`apply_masters`], which gave `counts`): HISTORY, the WCS moved to the trimmed grid, the
/// optional cosmic-ray cleaning.
fn finish_calibration(
    prepared: PreparedFrame,
    bias: &MasterBias,
    flat: &MasterFlat,
    counts: MasterCounts,
    cosmic: Option<&LaCosmicOptions>,
) -> Calibrated {
    let PreparedFrame {
        source,
        meta,
        header,
        layout,
        mut image_e,
        mut mask,
        gain_e_per_adu,
        read_noise_e,
        trim_offset_px,
        mut history,
        ..
    } = prepared;
    let MasterCounts { n_bad, n_unusable } = counts;
    history.push(format!(
        "subtracted master bias of {} frames ({}, {}; median {:.2} e-, noise {:.2} e-)",
        bias.n_frames,
        bias.combine.describe(),
        bias.layout,
        bias.median_e,
        bias.noise_e
    ));
    history.push(format!(
        "divided by master flat '{}' of {} frames ({}); {} BAD pixels from the masters",
        filter_label(flat.filter.as_deref()),
        flat.n_frames,
        flat.combine.describe(),
        n_bad
    ));
    let wcs = if layout.n_amplifiers == 1 {
        meta.wcs.as_ref().map(|w| shift_wcs(w, trim_offset_px))
    } else {
        meta.wcs.clone()
    };
    if let Some(w) = &wcs {
        history.push(format!(
            "WCS CRPIX moved by (-{}, -{}) px to the trimmed grid: CRPIX {:.3}, {:.3} (1-based)",
            trim_offset_px[0],
            trim_offset_px[1],
            w.crpix_px[0] + 1.0,
            w.crpix_px[1] + 1.0
        ));
    }
    let cosmic = cosmic.map(|options| {
        let report = clean_cosmic_rays(&mut image_e, &mut mask, read_noise_e, options);
        history.push(format!(
            "{}: {} pixels flagged COSMIC_RAY and replaced by the median of their neighbours",
            options.describe(),
            report.n_flagged
        ));
        report
    });
    // The cleaner adds flags; without it the count of the calibration pass stands.
    let n_unusable = match cosmic {
        Some(_) => mask.count(pixel_flag::UNUSABLE),
        None => n_unusable,
    };
    history.push(format!(
        "units: electrons (gain {gain_e_per_adu} e-/ADU applied); read noise {read_noise_e:.2} e-; \
         {n_unusable} pixels flagged unusable"
    ));
    Calibrated {
        frame: CalibratedFrame {
            source,
            meta,
            image_e,
            mask,
            read_noise_e,
            gain_e_per_adu,
            wcs,
            history,
        },
        header,
        layout,
        cosmic,
    }
}

/// Raw science frame → calibrated frame, finding its masters in `masters`. Errors name the
/// file, and for a missing flat its filter and binning ([`ReduceError::NoFlat`]).
pub fn calibrate_frame(
    frame: &Frame,
    masters: &Masters,
    overscan: &OverscanOptions,
    cosmic: Option<&LaCosmicOptions>,
) -> Result<Calibrated, ReduceError> {
    calibrate_pixels(frame, None, masters, overscan, cosmic)
}

/// [`calibrate_frame`] of a frame that is not needed afterwards: a single amplifier's image is
/// calibrated in the buffer of its raw pixels ([`super::prepare::prepare_frame_owned`]), which
/// becomes the calibrated image; the same result.
pub fn calibrate_frame_owned(
    mut frame: Frame,
    masters: &Masters,
    overscan: &OverscanOptions,
    cosmic: Option<&LaCosmicOptions>,
) -> Result<Calibrated, ReduceError> {
    let owned = take_single_pixels(&mut frame);
    calibrate_pixels(&frame, owned, masters, overscan, cosmic)
}

/// [`calibrate_frame`], the pixels of its single amplifier `owned` when given
/// ([`prepare_frame_pixels`]).
fn calibrate_pixels(
    frame: &Frame,
    owned: Option<Vec<f32>>,
    masters: &Masters,
    overscan: &OverscanOptions,
    cosmic: Option<&LaCosmicOptions>,
) -> Result<Calibrated, ReduceError> {
    // The masters are applied to each row as the preparation makes it (one pass over the
    // frame instead of two) when they can be found before it: the errors and results are
    // those of preparing first and calibrating after.
    let mut counts = MasterCounts::default();
    let mut rows_done = 0;
    let prepared = match masters.find(&layout_of(frame), &frame.meta().filter) {
        Some((bias, flat)) => {
            let mut on_row = |y: usize, image: &mut [f32], mask: &mut [u8]| {
                if let Some(rows) = MasterPixels::row(bias, flat, y, image.len()) {
                    apply_masters(image, mask, &rows, &mut counts);
                    rows_done += 1;
                }
            };
            prepare_frame_pixels(frame, owned, overscan, Some(&mut on_row))?
        }
        None => prepare_frame_pixels(frame, owned, overscan, None)?,
    };
    let (bias, flat) = masters.for_frame(&prepared)?;
    let mut calibrated = if rows_done == prepared.image_e.height() {
        check_masters(&prepared, bias, flat)?;
        finish_calibration(prepared, bias, flat, counts, cosmic)
    } else {
        calibrate_prepared(prepared, bias, flat, cosmic)?
    };
    calibrated
        .frame
        .history
        .insert(0, format!("cometphot {} reduce", env!("CARGO_PKG_VERSION")));
    let bias_names: Vec<String> = bias.sources.iter().map(|p| file_name(p)).collect();
    let flat_names: Vec<String> = flat.sources.iter().map(|p| file_name(p)).collect();
    calibrated
        .frame
        .history
        .push(format!("bias frames: {}", bias_names.join(", ")));
    calibrated
        .frame
        .history
        .push(format!("flat frames: {}", flat_names.join(", ")));
    Ok(calibrated)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// [`apply_masters`] pixel by pixel as the method defines it, with branches.
    fn apply_masters_plain(v: f32, m: u8, b: f32, bm: u8, f: f32, fm: u8) -> (f32, u8) {
        let mut bits = m | ((bm | fm) & pixel_flag::BAD);
        let value = (v - b) / f;
        if bits & pixel_flag::NONFINITE != 0 {
            (f32::NAN, bits)
        } else if !value.is_finite() {
            bits |= pixel_flag::BAD;
            (f32::NAN, bits)
        } else {
            (value, bits)
        }
    }

    #[test]
    fn the_branchless_masters_pass_equals_the_plain_definition() {
        // Every combination of an ordinary, NaN and infinite pixel, a flagged or clean pixel
        // and masters with flags, zeros, NaN and ordinary values.
        let values = [120.5f32, f32::NAN, f32::INFINITY, -3.25];
        let marks = [
            0u8,
            pixel_flag::NONFINITE,
            pixel_flag::SATURATED,
            pixel_flag::BAD,
        ];
        let biases = [10.0f32, f32::NAN, 120.5];
        let flats = [1.02f32, 0.0, f32::NAN, -0.5];
        let master_marks = [0u8, pixel_flag::BAD, pixel_flag::SATURATED];
        let mut cases = Vec::new();
        for &v in &values {
            for &m in &marks {
                for &b in &biases {
                    for &f in &flats {
                        for &bm in &master_marks {
                            for &fm in &master_marks {
                                cases.push((v, m, b, bm, f, fm));
                            }
                        }
                    }
                }
            }
        }
        let column = |k: usize| cases.iter().map(move |c| [c.0, c.2, c.4][k]);
        let bits = |k: usize| cases.iter().map(move |c| [c.1, c.3, c.5][k]);
        let mut image: Vec<f32> = column(0).collect();
        let mut mask: Vec<u8> = bits(0).collect();
        let (bias, bias_mask): (Vec<f32>, Vec<u8>) = (column(1).collect(), bits(1).collect());
        let (flat, flat_mask): (Vec<f32>, Vec<u8>) = (column(2).collect(), bits(2).collect());
        let mut counts = MasterCounts::default();
        let masters = MasterPixels {
            bias: &bias,
            bias_mask: &bias_mask,
            flat: &flat,
            flat_mask: &flat_mask,
        };
        apply_masters(&mut image, &mut mask, &masters, &mut counts);
        let (mut n_bad, mut n_unusable) = (0, 0);
        for (k, &(v, m, b, bm, f, fm)) in cases.iter().enumerate() {
            let (value, flags) = apply_masters_plain(v, m, b, bm, f, fm);
            assert_eq!(
                image[k].to_bits(),
                value.to_bits(),
                "case {k}: {:?}",
                cases[k]
            );
            assert_eq!(mask[k], flags, "case {k}: {:?}", cases[k]);
            n_bad += usize::from(flags & pixel_flag::BAD != 0);
            n_unusable += usize::from(flags & pixel_flag::UNUSABLE != 0);
        }
        assert_eq!((counts.n_bad, counts.n_unusable), (n_bad, n_unusable));
        assert!(n_bad > 0 && n_bad < cases.len());
    }
}
