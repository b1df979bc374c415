//! Calibrated frames and master frames as FITS: the float32 image in the primary HDU with
//! the original header cards that stay true after reduction (times, exposure, filter,
//! object, airmass, site...), the WCS moved to the trimmed grid, `BUNIT = 'electron'`,
//! `GAIN = 1`, `RDNOISE` in e⁻ and the processing as HISTORY cards; then a uint8 image
//! extension `MASK` with the pixel flags ([`crate::image::pixel_flag`], bit meanings in
//! `MASKBn` cards).
//!
//! Dropped from the original header: image sections (BIASSEC, DATASEC, TRIMSEC, DETSEC —
//! they describe the raw layout), the raw WCS, saturation levels (the mask carries them),
//! DATAMIN/DATAMAX, extension bookkeeping. The gain and read-noise keywords of the
//! instrument profile are rewritten (gain 1, read noise in e⁻) so that a reader using the
//! profile does not convert a second time; the gain used is kept in `CPGAIN`.
//!
//! Files are written under a temporary name in the destination directory and renamed
//! (through [`crate::frame::write::write_image_fits`] for the image, then the mask is
//! appended before the final rename).

use std::ffi::CString;
use std::os::raw::c_int;
use std::path::{Path, PathBuf};
use std::ptr;
use std::sync::atomic::{AtomicU64, Ordering};

use fitsio::images::{ImageDescription, ImageType};
use fitsio::{sys, FileOpenMode, FitsFile};

use super::calibrate::Calibrated;
use super::master::{MasterBias, MasterFlat};
use super::{CalibratedFrame, ReduceError};
use crate::frame::header::{Card, Header, HeaderValue};
use crate::frame::meta::extract_meta;
use crate::frame::profile::{InstrumentProfile, ProfileChoice, ProfileRegistry};
use crate::frame::read::{choose_profile, FitsSource};
use crate::frame::write::{write_image_fits, HduLayout, PixelData};
use crate::image::{Image, PixelMask};

/// Extension name of the mask.
pub const MASK_EXTNAME: &str = "MASK";

/// Names of the mask bits, in bit order.
pub const MASK_BITS: [(&str, &str); 4] = [
    ("NONFINITE", "NaN or infinite in the raw data"),
    ("SATURATED", "raw value at or above the saturation level"),
    ("COSMIC_RAY", "cosmic ray, replaced"),
    ("BAD", "bad in the master calibration frames"),
];

fn io_err(path: &Path, source: std::io::Error) -> ReduceError {
    ReduceError::Io {
        path: path.display().to_string(),
        source,
    }
}

fn fits_err(path: &Path, message: String) -> ReduceError {
    ReduceError::Frame(crate::frame::FrameError::Fits {
        path: path.display().to_string(),
        message,
    })
}

/// Keywords of the raw header that are not carried over.
fn dropped(key: &str) -> bool {
    const EXACT: [&str; 20] = [
        "BIASSEC", "DATASEC", "TRIMSEC", "DETSEC", "CCDSEC", "BUNIT", "EXTNAME", "EXTVER",
        "INHERIT", "IMAGEID", "SATURATE", "MAXLIN", "WCSAXES", "BLANK", "DATAMIN", "DATAMAX",
        "GAIN", "RDNOISE", "RADESYS", "LONGSTRN",
    ];
    const PREFIX: [&str; 16] = [
        "CTYPE", "CRPIX", "CRVAL", "CDELT", "CROTA", "CUNIT", "CD1_", "CD2_", "PC1_", "PC2_",
        "PV1_", "PV2_", "LTV", "LTM", "CPREDUCE", "CPGAIN",
    ];
    EXACT.contains(&key) || PREFIX.iter().any(|p| key.starts_with(p))
}

/// The header written with a calibrated frame.
pub fn calibrated_header(
    frame: &CalibratedFrame,
    original: &Header,
    profile: Option<&InstrumentProfile>,
    n_cosmic: Option<usize>,
) -> Header {
    let cards: Vec<Card> = original
        .cards()
        .iter()
        .filter(|c| !dropped(&c.key))
        .cloned()
        .collect();
    let mut h = Header::new(cards);
    if let Some(p) = profile {
        for key in &p.keywords.gain_e_per_adu.keys {
            if h.contains(key) {
                h.set(
                    key,
                    HeaderValue::Float(1.0),
                    "[e-/ADU] data are in electrons",
                );
            }
        }
        for key in &p.keywords.read_noise_e.keys {
            if h.contains(key) {
                h.set(
                    key,
                    HeaderValue::Float(frame.read_noise_e),
                    "[e-] read noise",
                );
            }
        }
        for key in &p.keywords.saturation_adu.keys {
            if h.contains(key) {
                h.set(
                    key,
                    HeaderValue::Empty,
                    "saturation: see the MASK extension",
                );
            }
        }
    }
    h.set("BUNIT", HeaderValue::Str("electron".into()), "pixel unit");
    h.set(
        "GAIN",
        HeaderValue::Float(1.0),
        "[e-/ADU] data are in electrons",
    );
    h.set(
        "RDNOISE",
        HeaderValue::Float(frame.read_noise_e),
        "[e-] read noise",
    );
    h.set(
        "CPGAIN",
        HeaderValue::Float(frame.gain_e_per_adu),
        "[e-/ADU] gain used to convert to electrons",
    );
    h.set(
        "CPREDUCE",
        HeaderValue::Bool(true),
        "reduced by cometphot (see HISTORY)",
    );
    if let Some(n) = n_cosmic {
        h.set(
            "CPNCOSMI",
            HeaderValue::Int(n as i64),
            "pixels flagged as cosmic rays",
        );
    }
    if let Some(wcs) = &frame.wcs {
        h.set("RADESYS", HeaderValue::Str("ICRS".into()), "");
        for (key, value, comment) in wcs.to_cards() {
            h.set(key, value, comment);
        }
    }
    for line in &frame.history {
        for part in wrap_history(line) {
            h.set("HISTORY", HeaderValue::Empty, &part);
        }
    }
    h
}

/// Characters of text on one HISTORY card (cfitsio splits longer text mid-word).
const HISTORY_WIDTH: usize = 70;

/// Start of a HISTORY card that continues the previous one.
const CONTINUATION: &str = "... ";

/// Splits a history line at blanks into pieces that fit one HISTORY card; continuation
/// pieces start with `... `.
pub fn wrap_history(line: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut current = String::new();
    for word in line.split(' ').filter(|w| !w.is_empty()) {
        let indent = if out.is_empty() {
            0
        } else {
            CONTINUATION.len()
        };
        let needed =
            current.chars().count() + usize::from(!current.is_empty()) + word.chars().count();
        if !current.is_empty() && indent + needed > HISTORY_WIDTH {
            out.push(std::mem::take(&mut current));
        }
        if !current.is_empty() {
            current.push(' ');
        }
        current.push_str(word);
    }
    if !current.is_empty() || out.is_empty() {
        out.push(current);
    }
    out.iter()
        .enumerate()
        .map(|(i, p)| {
            if i == 0 {
                p.clone()
            } else {
                format!("{CONTINUATION}{p}")
            }
        })
        .collect()
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

fn temporary_path(path: &Path) -> PathBuf {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let name = path
        .file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "image.fits".into());
    path.with_file_name(format!(".{name}.cp{}-{n}.part", std::process::id()))
}

/// Appends the mask as a uint8 image extension to an existing file.
fn append_mask(path: &Path, mask: &PixelMask) -> Result<(), ReduceError> {
    let text = path
        .to_str()
        .ok_or_else(|| fits_err(path, "path is not valid UTF-8".into()))?;
    let c_path = CString::new(text).map_err(|_| fits_err(path, "path holds a NUL byte".into()))?;
    let mut raw: *mut sys::fitsfile = ptr::null_mut();
    let mut status: c_int = 0;
    // SAFETY: `raw` receives a new handle; `c_path` outlives the call. fits_open_diskfile
    // does not interpret cfitsio's extended file-name syntax.
    unsafe { sys::ffdkopn(&mut raw, c_path.as_ptr(), 1, &mut status) };
    if status != 0 || raw.is_null() {
        return Err(fits_err(
            path,
            format!("cannot reopen to add the mask (cfitsio status {status})"),
        ));
    }
    // SAFETY: `raw` is a valid handle opened read-write; the FitsFile owns it from here.
    let mut fits = unsafe { FitsFile::from_raw(raw, FileOpenMode::READWRITE) }
        .map_err(|e| fits_err(path, e.to_string()))?;
    let e = |e: fitsio::errors::Error| fits_err(path, format!("mask extension: {e}"));
    let description = ImageDescription {
        data_type: ImageType::UnsignedByte,
        dimensions: &[mask.height(), mask.width()],
    };
    let hdu = fits
        .create_image(MASK_EXTNAME.to_string(), &description)
        .map_err(e)?;
    for (bit, (name, comment)) in MASK_BITS.iter().enumerate() {
        hdu.write_key(
            &mut fits,
            &format!("MASKB{bit}"),
            (
                name.to_string(),
                format!("flag value {}: {comment}", 1u8 << bit),
            ),
        )
        .map_err(e)?;
    }
    hdu.write_image(&mut fits, mask.bits()).map_err(e)?;
    let mut status: c_int = 0;
    // SAFETY: valid handle while `fits` lives.
    unsafe { sys::ffflus(fits.as_raw(), &mut status) };
    if status != 0 {
        return Err(fits_err(
            path,
            format!("cannot flush the mask (cfitsio status {status})"),
        ));
    }
    drop(fits);
    std::fs::File::open(path)
        .and_then(|f| f.sync_all())
        .map_err(|s| io_err(path, s))
}

/// Writes `image` (float32, primary HDU, with `header`) and, when given, `mask` as the
/// `MASK` extension, via a temporary file and a rename.
pub fn write_image_with_mask(
    path: &Path,
    header: &Header,
    image: &Image,
    mask: Option<&PixelMask>,
) -> Result<(), ReduceError> {
    let tmp = temporary_path(path);
    let result = write_image_fits(
        &tmp,
        HduLayout::PrimaryImage,
        header,
        &Header::default(),
        image.width(),
        image.height(),
        &PixelData::F32(image.data().to_vec()),
    )
    .map_err(ReduceError::from)
    .and_then(|()| match mask {
        Some(m) => append_mask(&tmp, m),
        None => Ok(()),
    })
    .and_then(|()| std::fs::rename(&tmp, path).map_err(|s| io_err(path, s)));
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Writes a calibrated frame (image in e⁻ + MASK extension).
pub fn write_calibrated(
    calibrated: &Calibrated,
    profile: Option<&InstrumentProfile>,
    path: &Path,
) -> Result<(), ReduceError> {
    let header = calibrated_header(
        &calibrated.frame,
        &calibrated.header,
        profile,
        calibrated.cosmic.as_ref().map(|c| c.n_flagged),
    );
    write_image_with_mask(
        path,
        &header,
        &calibrated.frame.image_e,
        Some(&calibrated.frame.mask),
    )
}

fn master_header(
    original: &Header,
    kind: &str,
    n: usize,
    bunit: &str,
    history: &[String],
) -> Header {
    let cards: Vec<Card> = original
        .cards()
        .iter()
        .filter(|c| !dropped(&c.key) && c.key != "HISTORY")
        .cloned()
        .collect();
    let mut h = Header::new(cards);
    h.set("BUNIT", HeaderValue::Str(bunit.into()), "pixel unit");
    h.set(
        "CPMASTER",
        HeaderValue::Str(kind.into()),
        "cometphot master calibration frame",
    );
    h.set("NCOMBINE", HeaderValue::Int(n as i64), "frames combined");
    for line in history {
        for part in wrap_history(line) {
            h.set("HISTORY", HeaderValue::Empty, &part);
        }
    }
    h
}

/// Writes a master bias (electrons above the overscan level; MASK extension).
pub fn write_master_bias(master: &MasterBias, path: &Path) -> Result<(), ReduceError> {
    let mut h = master_header(
        &master.header,
        "BIAS",
        master.n_frames,
        "electron",
        &master.history,
    );
    h.set(
        "CPGAIN",
        HeaderValue::Float(master.gain_e_per_adu),
        "[e-/ADU] gain used to convert to electrons",
    );
    h.set(
        "RDNOISE",
        HeaderValue::Float(master.read_noise_e),
        "[e-] read noise of one frame",
    );
    if let Some(l) = &master.overscan_level_adu {
        let mean = l.iter().sum::<f64>() / l.len().max(1) as f64;
        h.set(
            "CPOSCAN",
            HeaderValue::Float(mean),
            "[ADU] mean overscan level of the inputs",
        );
    }
    write_image_with_mask(path, &h, &master.image_e, Some(&master.mask))
}

/// Writes a master flat (normalised response; MASK extension).
pub fn write_master_flat(master: &MasterFlat, path: &Path) -> Result<(), ReduceError> {
    let h = master_header(&master.header, "FLAT", master.n_frames, "", &master.history);
    write_image_with_mask(path, &h, &master.image, Some(&master.mask))
}

/// Writes an illumination correction (the surface frames are divided by; no mask), with
/// its description in HISTORY.
pub fn write_illumination(
    illumination: &super::illumination::Illumination,
    path: &Path,
) -> Result<(), ReduceError> {
    let mut h = master_header(
        &Header::default(),
        "ILLUMINATION",
        illumination.n_frames,
        "",
        &[illumination.describe()],
    );
    if let Some(filter) = &illumination.filter {
        h.set("FILTER", HeaderValue::Str(filter.clone()), "filter");
    }
    write_image_with_mask(path, &h, &illumination.image, None)
}

/// Reads a calibrated frame written by [`write_calibrated`]: image, mask and the metadata
/// (through the instrument profile detected in the header; sections cleared, saturation
/// unset, gain and read noise as used).
pub fn read_calibrated(
    path: &Path,
    registry: &ProfileRegistry,
) -> Result<CalibratedFrame, ReduceError> {
    let mut source = FitsSource::open(path)?;
    let hdus: Vec<_> = source.image_hdus().into_iter().collect::<Result<_, _>>()?;
    let file = path.display().to_string();
    let image_hdu = hdus
        .iter()
        .find(|h| h.hdu == 0)
        .ok_or_else(|| ReduceError::Unusable {
            file: file.clone(),
            message: "no image in the primary HDU".into(),
        })?;
    if image_hdu.header.get("CPREDUCE") != Some(&HeaderValue::Bool(true)) {
        return Err(ReduceError::Unusable {
            file,
            message: "not a frame reduced by cometphot (no CPREDUCE = T)".into(),
        });
    }
    let mask_hdu = hdus
        .iter()
        .find(|h| h.extname.as_deref() == Some(MASK_EXTNAME))
        .ok_or_else(|| ReduceError::Unusable {
            file: file.clone(),
            message: format!("no {MASK_EXTNAME} extension"),
        })?;
    let (w, h) = (image_hdu.width, image_hdu.height);
    if (mask_hdu.width, mask_hdu.height) != (w, h) {
        return Err(ReduceError::Unusable {
            file,
            message: format!(
                "mask is {} x {} px, image {w} x {h} px",
                mask_hdu.width, mask_hdu.height
            ),
        });
    }
    let pixels = source.read_pixels(image_hdu)?;
    let bits: Vec<u8> = source
        .read_pixels(mask_hdu)?
        .into_iter()
        .map(|v| v as u8)
        .collect();
    let header = &image_hdu.header;
    let choice = ProfileChoice::Detect;
    let profile = choose_profile(header, &choice, registry);
    let (mut meta, _) = extract_meta(header, profile, w, h);
    let gain = header.number("CPGAIN").unwrap_or(1.0);
    let read_noise_e = header.number("RDNOISE").unwrap_or(0.0);
    meta.overscan_section = None;
    meta.data_section = None;
    meta.saturation_adu = None;
    meta.gain_e_per_adu = Some(gain);
    meta.read_noise_e = Some(read_noise_e);
    // HISTORY cards, with the continuation pieces of `wrap_history` joined again.
    let mut history: Vec<String> = Vec::new();
    for card in header.cards().iter().filter(|c| c.key == "HISTORY") {
        match (history.last_mut(), card.comment.strip_prefix(CONTINUATION)) {
            (Some(last), Some(rest)) => {
                last.push(' ');
                last.push_str(rest);
            }
            _ => history.push(card.comment.clone()),
        }
    }
    let mut mask = PixelMask::clear(w, h);
    mask.bits_mut().copy_from_slice(&bits);
    Ok(CalibratedFrame {
        source: path.to_path_buf(),
        wcs: meta.wcs.clone(),
        meta,
        image_e: Image::new(w, h, pixels).map_err(|e| ReduceError::Unusable {
            file: path.display().to_string(),
            message: e.to_string(),
        })?,
        mask,
        read_noise_e,
        gain_e_per_adu: gain,
        history,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_lines_wrap_at_blanks() {
        let line = "divided by master flat 'R_Bes 650_130' of 7 frames (3-sigma clipped mean); \
                    0 BAD pixels from the masters";
        let parts = wrap_history(line);
        assert_eq!(parts.len(), 2);
        assert!(parts.iter().all(|p| p.chars().count() <= HISTORY_WIDTH));
        assert!(parts[1].starts_with("... "));
        assert_eq!(
            format!(
                "{} {}",
                parts[0],
                parts[1].strip_prefix(CONTINUATION).unwrap()
            ),
            line
        );
        assert_eq!(wrap_history("short"), vec!["short".to_string()]);
    }
}
