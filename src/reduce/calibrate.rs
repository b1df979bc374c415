//! Prepared science frame → [`CalibratedFrame`]: − master bias, ÷ master flat (same layout
//! and filter), masks from the raw data and the masters, WCS moved to the trimmed grid,
//! optional cosmic-ray cleaning, and the HISTORY of all of it.

use super::cosmic::{clean_cosmic_rays, CosmicReport, LaCosmicOptions};
use super::master::{MasterBias, MasterFlat, Masters};
use super::overscan::OverscanOptions;
use super::prepare::{prepare_frame, PreparedFrame};
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

/// − bias, ÷ flat on the pixels of a frame (`image`, e⁻) and its mask, in one pass: a pixel
/// flagged BAD in either master becomes BAD; a NONFINITE pixel, or one whose calibrated value
/// is not finite, becomes NaN (the latter also BAD). All slices have the same length.
/// Returns the numbers of pixels flagged BAD and [`pixel_flag::UNUSABLE`] afterwards.
///
/// Method: one loop over zipped slices (no indexing, so no bounds checks), the result
/// chosen without a branch on the pixel's flags, counts kept on the way.
fn apply_masters(
    image: &mut [f32],
    mask: &mut [u8],
    bias: &[f32],
    bias_mask: &[u8],
    flat: &[f32],
    flat_mask: &[u8],
) -> (usize, usize) {
    let (mut n_bad, mut n_unusable) = (0usize, 0usize);
    let masters = bias.iter().zip(bias_mask).zip(flat.iter().zip(flat_mask));
    for ((v, m), ((&b, &bm), (&f, &fm))) in image.iter_mut().zip(mask.iter_mut()).zip(masters) {
        let mut bits = *m | ((bm | fm) & pixel_flag::BAD);
        let value = (*v - b) / f;
        let nonfinite = bits & pixel_flag::NONFINITE != 0;
        if nonfinite || !value.is_finite() {
            *v = f32::NAN;
            if !nonfinite {
                bits |= pixel_flag::BAD;
            }
        } else {
            *v = value;
        }
        *m = bits;
        n_bad += usize::from(bits & pixel_flag::BAD != 0);
        n_unusable += usize::from(bits & pixel_flag::UNUSABLE != 0);
    }
    (n_bad, n_unusable)
}

/// Calibrates a prepared frame with the given masters (which must be of its layout and,
/// for the flat, its filter) and, when `cosmic` is given, cleans cosmic rays.
pub fn calibrate_prepared(
    prepared: PreparedFrame,
    bias: &MasterBias,
    flat: &MasterFlat,
    cosmic: Option<&LaCosmicOptions>,
) -> Result<Calibrated, ReduceError> {
    let file = prepared.source.display().to_string();
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
    super::master::check_overscan(&prepared, bias).map_err(|message| ReduceError::Layout {
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
    let (n_bad, n_unusable) = apply_masters(
        image_e.data_mut(),
        mask.bits_mut(),
        bias.image_e.data(),
        bias.mask.bits(),
        flat.image.data(),
        flat.mask.bits(),
    );
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
    Ok(Calibrated {
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
    })
}

/// Raw science frame → calibrated frame, finding its masters in `masters`. Errors name the
/// file, and for a missing flat its filter and binning ([`ReduceError::NoFlat`]).
pub fn calibrate_frame(
    frame: &Frame,
    masters: &Masters,
    overscan: &OverscanOptions,
    cosmic: Option<&LaCosmicOptions>,
) -> Result<Calibrated, ReduceError> {
    let prepared = prepare_frame(frame, overscan)?;
    let (bias, flat) = masters.for_frame(&prepared)?;
    let mut calibrated = calibrate_prepared(prepared, bias, flat, cosmic)?;
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
