//! Writing FITS images with cfitsio (through the `fitsio` crate).
//!
//! One image per file, either in the primary HDU or — the NOT/ALFOSC raw layout — in
//! extension 1 behind a header-only primary HDU (DESIGN §5), optionally tile-compressed
//! (lossless, like `fpack`). Pixel types follow cfitsio's
//! unsigned-integer convention (FITS standard 4.0 §5.3): `u16` is stored as BITPIX 16 with
//! BZERO 32768 (`USHORT_IMG`), `u32` as BITPIX 32 with BZERO 2147483648 (`ULONG_IMG`),
//! `f32` as BITPIX −32. Pixel arrays are row-major: `height` rows of `width` columns, row 0
//! is FITS row 1 (NAXIS1 = `width`, NAXIS2 = `height`).
//!
//! Header cards are written in the order given. Structural keywords (SIMPLE, BITPIX, NAXIS*,
//! EXTEND, BZERO, BSCALE, XTENSION, PCOUNT, GCOUNT, and the Z*/T* keywords of tile
//! compression) are skipped because cfitsio writes them from the image description;
//! CHECKSUM/DATASUM are skipped because they would be stale; orphan `CONTINUE` cards are
//! skipped too (the header model has already joined long strings). EXTNAME updates the card
//! cfitsio may already have written (`COMPRESSED_IMAGE`) instead of adding a second one. Reals are written in Rust's shortest round-trip notation
//! (`E` exponent), so every `f64` reads back bit-exactly; strings longer than one card use
//! the `CONTINUE` long-string convention (with the `LONGSTRN` keyword).
//!
//! Output is deterministic: no DATE stamp, no checksum. The file is written under a
//! temporary name in the destination directory, synced and renamed into place, so a failure
//! never leaves a half-written file under the final name (DESIGN §3).
//!
//! The safe `fitsio` API writes the pixels; the raw `fitsio::sys` calls are used where it has
//! no equivalent: creating an HDU without an EXTNAME card, commentary cards, undefined values,
//! exact real formatting, long strings, creating a file without cfitsio's extended
//! file-name syntax (`fits_create_diskfile`), and flushing with an error status.

use std::ffi::CString;
use std::os::raw::{c_char, c_int, c_long};
use std::path::{Path, PathBuf};
use std::ptr;
use std::sync::atomic::{AtomicU64, Ordering};

use fitsio::errors::check_status;
use fitsio::{sys, FileOpenMode, FitsFile};

use super::header::{Card, Header, HeaderValue};
use super::FrameError;

/// Pixel values, row-major (`height` rows of `width` columns; row 0 is FITS row 1).
#[derive(Debug, Clone, PartialEq)]
pub enum PixelData {
    /// BITPIX 16 + BZERO 32768.
    U16(Vec<u16>),
    /// BITPIX 32 + BZERO 2147483648.
    U32(Vec<u32>),
    /// BITPIX −32.
    F32(Vec<f32>),
}

impl PixelData {
    pub fn len(&self) -> usize {
        match self {
            PixelData::U16(v) => v.len(),
            PixelData::U32(v) => v.len(),
            PixelData::F32(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// cfitsio image type code (`USHORT_IMG`, `ULONG_IMG`, `FLOAT_IMG`).
    fn cfitsio_image_type(&self) -> c_int {
        match self {
            PixelData::U16(_) => sys::USHORT_IMG as c_int,
            PixelData::U32(_) => sys::ULONG_IMG as c_int,
            PixelData::F32(_) => sys::FLOAT_IMG as c_int,
        }
    }
}

/// Where the image goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HduLayout {
    /// Image in the primary HDU; `primary` and `image_header` cards are both written there,
    /// primary cards first.
    PrimaryImage,
    /// Header-only primary HDU holding `primary`, image in extension 1 holding
    /// `image_header` (the NOT/ALFOSC raw layout).
    EmptyPrimaryPlusExtension,
    /// As [`HduLayout::EmptyPrimaryPlusExtension`], with the image tile-compressed in a
    /// binary table (FITS tiled-image convention, FITS standard 4.0 §10, as `fpack` writes
    /// `.fits.fz`), one tile per row, lossless: Rice for integers, GZIP_2 without
    /// quantisation for floats.
    TileCompressed,
}

/// Keywords cfitsio writes itself from the image description, keywords of the tiled-image
/// compression convention and of its binary table, and checksums (which would be stale).
fn is_structural(key: &str) -> bool {
    let indexed = |prefix: &str| {
        key.strip_prefix(prefix)
            .is_some_and(|rest| rest.chars().all(|c| c.is_ascii_digit()))
    };
    matches!(
        key,
        "SIMPLE"
            | "BITPIX"
            | "EXTEND"
            | "BZERO"
            | "BSCALE"
            | "XTENSION"
            | "PCOUNT"
            | "GCOUNT"
            | "CHECKSUM"
            | "DATASUM"
            | "TFIELDS"
            | "THEAP"
            | "ZIMAGE"
            | "ZSIMPLE"
            | "ZTENSION"
            | "ZEXTEND"
            | "ZBLOCKED"
            | "ZPCOUNT"
            | "ZGCOUNT"
            | "ZHECKSUM"
            | "ZDATASUM"
            | "ZBITPIX"
            | "ZCMPTYPE"
            | "ZMASKCMP"
            | "ZQUANTIZ"
            | "ZDITHER0"
            | "ZBLANK"
            | "ZSCALE"
            | "ZZERO"
    ) || [
        "NAXIS", "ZNAXIS", "ZTILE", "ZNAME", "ZVAL", "TTYPE", "TFORM",
    ]
    .iter()
    .any(|p| indexed(p))
}

/// Writes one image to `path` (replacing an existing file) via a temporary file in the same
/// directory and a rename.
pub fn write_image_fits(
    path: &Path,
    layout: HduLayout,
    primary: &Header,
    image_header: &Header,
    width: usize,
    height: usize,
    data: &PixelData,
) -> Result<(), FrameError> {
    let shown = path.display().to_string();
    if width == 0 || height == 0 {
        return Err(FrameError::Fits {
            path: shown,
            message: format!("cannot write an empty image ({width} x {height})"),
        });
    }
    if width.checked_mul(height) != Some(data.len()) {
        return Err(FrameError::Fits {
            path: shown,
            message: format!(
                "pixel array has {} values, expected {width} x {height}",
                data.len()
            ),
        });
    }
    let tmp = temporary_path(path);
    let written = write_to(
        &tmp,
        &shown,
        layout,
        primary,
        image_header,
        width,
        height,
        data,
    )
    .and_then(|()| sync_file(&tmp, &shown))
    .and_then(|()| {
        std::fs::rename(&tmp, path).map_err(|source| FrameError::Io {
            path: shown.clone(),
            source,
        })
    });
    if written.is_err() {
        // Best effort: the temporary file is garbage whatever happened.
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

/// `<dir>/.<name>.<pid>.<n>.tmp`: unique per process and call, hidden, same file system.
fn temporary_path(path: &Path) -> PathBuf {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let name = path
        .file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "image.fits".to_string());
    let tmp_name = format!(".{name}.{}.{n}.tmp", std::process::id());
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.join(tmp_name),
        _ => PathBuf::from(tmp_name),
    }
}

fn sync_file(path: &Path, shown: &str) -> Result<(), FrameError> {
    std::fs::File::open(path)
        .and_then(|f| f.sync_all())
        .map_err(|source| FrameError::Io {
            path: shown.to_string(),
            source,
        })
}

/// Builds an error with cfitsio's message for `status`.
fn fits_error(shown: &str, what: &str, status: c_int) -> FrameError {
    let message = match check_status(status) {
        Err(e) => e.to_string(),
        Ok(()) => "unknown error".to_string(),
    };
    FrameError::Fits {
        path: shown.to_string(),
        message: format!("{what}: {message}"),
    }
}

fn c_string(shown: &str, text: &str) -> Result<CString, FrameError> {
    CString::new(text).map_err(|_| FrameError::Fits {
        path: shown.to_string(),
        message: format!("header text contains a NUL byte: {text:?}"),
    })
}

#[allow(clippy::too_many_arguments)]
fn write_to(
    tmp: &Path,
    shown: &str,
    layout: HduLayout,
    primary: &Header,
    image_header: &Header,
    width: usize,
    height: usize,
    data: &PixelData,
) -> Result<(), FrameError> {
    let tmp_text = tmp.to_str().ok_or_else(|| FrameError::Fits {
        path: shown.to_string(),
        message: "temporary path is not valid UTF-8".to_string(),
    })?;
    if tmp.exists() {
        std::fs::remove_file(tmp).map_err(|source| FrameError::Io {
            path: shown.to_string(),
            source,
        })?;
    }
    let c_path = c_string(shown, tmp_text)?;
    let mut raw: *mut sys::fitsfile = ptr::null_mut();
    let mut status: c_int = 0;
    // SAFETY: `raw` receives a new handle; `c_path` outlives the call. fits_create_diskfile
    // does not interpret cfitsio's extended file-name syntax.
    unsafe { sys::ffdkinit(&mut raw, c_path.as_ptr(), &mut status) };
    if status != 0 || raw.is_null() {
        return Err(fits_error(shown, "cannot create file", status));
    }
    // SAFETY: `raw` is a valid handle just opened read-write; the FitsFile now owns it and
    // closes it when dropped, on every path below.
    let mut fits = unsafe { FitsFile::from_raw(raw, FileOpenMode::READWRITE) }.map_err(|e| {
        FrameError::Fits {
            path: shown.to_string(),
            message: e.to_string(),
        }
    })?;
    let mut naxes: [c_long; 2] = [width as c_long, height as c_long];
    let image_hdu = match layout {
        HduLayout::PrimaryImage => {
            create_image(&mut fits, shown, data.cfitsio_image_type(), &mut naxes)?;
            write_cards(&mut fits, shown, primary)?;
            write_cards(&mut fits, shown, image_header)?;
            0
        }
        HduLayout::EmptyPrimaryPlusExtension | HduLayout::TileCompressed => {
            create_image(&mut fits, shown, sys::BYTE_IMG as c_int, &mut [])?;
            write_cards(&mut fits, shown, primary)?;
            if layout == HduLayout::TileCompressed {
                set_lossless_compression(&mut fits, shown, data)?;
            }
            create_image(&mut fits, shown, data.cfitsio_image_type(), &mut naxes)?;
            write_cards(&mut fits, shown, image_header)?;
            1
        }
    };
    let hdu = fits.hdu(image_hdu).map_err(|e| FrameError::Hdu {
        path: shown.to_string(),
        hdu: image_hdu,
        message: e.to_string(),
    })?;
    let result = match data {
        PixelData::U16(v) => hdu.write_image(&mut fits, v),
        PixelData::U32(v) => hdu.write_image(&mut fits, v),
        PixelData::F32(v) => hdu.write_image(&mut fits, v),
    };
    result.map_err(|e| FrameError::Hdu {
        path: shown.to_string(),
        hdu: image_hdu,
        message: format!("cannot write pixels: {e}"),
    })?;
    let mut status: c_int = 0;
    // SAFETY: the handle is valid while `fits` lives.
    unsafe { sys::ffflus(fits.as_raw(), &mut status) };
    if status != 0 {
        return Err(fits_error(shown, "cannot flush", status));
    }
    Ok(())
}

/// Makes the next image HDU tile-compressed, losslessly (Rice for integers; GZIP_2 with
/// quantisation off for floats, so no random dithering either).
fn set_lossless_compression(
    fits: &mut FitsFile,
    shown: &str,
    data: &PixelData,
) -> Result<(), FrameError> {
    let mut status: c_int = 0;
    // SAFETY: the handle is used only in this function, while `fits` is borrowed and open.
    let raw = unsafe { fits.as_raw() };
    // SAFETY: valid handle.
    unsafe {
        match data {
            PixelData::F32(_) => {
                sys::fits_set_compression_type(raw, sys::GZIP_2 as c_int, &mut status);
                sys::fits_set_quantize_level(raw, 0.0, &mut status);
            }
            PixelData::U16(_) | PixelData::U32(_) => {
                sys::fits_set_compression_type(raw, sys::RICE_1 as c_int, &mut status);
            }
        }
    }
    if status != 0 {
        return Err(fits_error(shown, "cannot set tile compression", status));
    }
    Ok(())
}

/// Appends an image HDU (the primary one when the file is empty).
fn create_image(
    fits: &mut FitsFile,
    shown: &str,
    image_type: c_int,
    naxes: &mut [c_long],
) -> Result<(), FrameError> {
    let mut status: c_int = 0;
    let naxes_ptr = if naxes.is_empty() {
        ptr::null_mut()
    } else {
        naxes.as_mut_ptr()
    };
    // SAFETY: valid handle; `naxes` holds `naxes.len()` axis lengths.
    unsafe {
        sys::ffcrim(
            fits.as_raw(),
            image_type,
            naxes.len() as c_int,
            naxes_ptr,
            &mut status,
        )
    };
    if status != 0 {
        return Err(fits_error(shown, "cannot create image HDU", status));
    }
    Ok(())
}

/// Writes the cards of `header` into the current HDU, in order.
fn write_cards(fits: &mut FitsFile, shown: &str, header: &Header) -> Result<(), FrameError> {
    let mut long_strings = false;
    for card in header.cards() {
        if is_structural(&card.key) || card.key == "CONTINUE" {
            continue;
        }
        long_strings |= write_card(fits, shown, card)?;
    }
    if long_strings {
        let mut status: c_int = 0;
        // SAFETY: valid handle.
        unsafe { sys::ffplsw(fits.as_raw(), &mut status) };
        if status != 0 {
            return Err(fits_error(shown, "cannot write LONGSTRN", status));
        }
    }
    Ok(())
}

/// Longest string value written on a single card (68 characters between the quotes,
/// counting doubled quotes; FITS standard 4.0 §4.2.1).
const MAX_SHORT_STRING: usize = 68;

/// Writes one card; returns whether it used the long-string convention.
fn write_card(fits: &mut FitsFile, shown: &str, card: &Card) -> Result<bool, FrameError> {
    // SAFETY: the handle is used only in this function, while `fits` is borrowed and open.
    let raw = unsafe { fits.as_raw() };
    let key = c_string(shown, &card.key)?;
    let comment = c_string(shown, &card.comment)?;
    let mut status: c_int = 0;
    let mut long = false;
    match card.key.as_str() {
        "COMMENT" | "HISTORY" | "" => {
            let text = commentary_text(card);
            let c_text = c_string(shown, &text)?;
            // SAFETY: valid handle and NUL-terminated strings that outlive the calls.
            unsafe {
                match card.key.as_str() {
                    "COMMENT" => sys::ffpcom(raw, c_text.as_ptr(), &mut status),
                    "HISTORY" => sys::ffphis(raw, c_text.as_ptr(), &mut status),
                    _ => {
                        let record = c_string(shown, &format!("        {text}"))?;
                        sys::ffprec(raw, record.as_ptr(), &mut status)
                    }
                }
            };
        }
        _ => match &card.value {
            HeaderValue::Str(s) => {
                let value = c_string(shown, s)?;
                let escaped_len = s.len() + s.matches('\'').count();
                // SAFETY: as above.
                unsafe {
                    if card.key == "EXTNAME" {
                        // Compressed HDUs already hold EXTNAME = 'COMPRESSED_IMAGE'.
                        sys::ffukys(
                            raw,
                            key.as_ptr(),
                            value.as_ptr(),
                            comment.as_ptr(),
                            &mut status,
                        )
                    } else if escaped_len > MAX_SHORT_STRING {
                        long = true;
                        sys::ffpkls(
                            raw,
                            key.as_ptr(),
                            value.as_ptr(),
                            comment.as_ptr(),
                            &mut status,
                        )
                    } else {
                        sys::ffpkys(
                            raw,
                            key.as_ptr(),
                            value.as_ptr(),
                            comment.as_ptr(),
                            &mut status,
                        )
                    }
                };
            }
            HeaderValue::Int(i) => {
                // SAFETY: as above.
                unsafe { sys::ffpkyj(raw, key.as_ptr(), *i, comment.as_ptr(), &mut status) };
            }
            HeaderValue::Bool(b) => {
                // SAFETY: as above.
                unsafe {
                    sys::ffpkyl(
                        raw,
                        key.as_ptr(),
                        c_int::from(*b),
                        comment.as_ptr(),
                        &mut status,
                    )
                };
            }
            HeaderValue::Float(x) => {
                let text = fits_real(*x).ok_or_else(|| FrameError::Fits {
                    path: shown.to_string(),
                    message: format!("keyword {}: {x} cannot be written in FITS", card.key),
                })?;
                let value = c_string(shown, &text)?;
                let mut record: [c_char; 81] = [0; 81];
                // SAFETY: ffmkky writes at most 80 characters plus NUL into `record`.
                unsafe {
                    sys::ffmkky(
                        key.as_ptr(),
                        value.as_ptr() as *mut c_char,
                        comment.as_ptr(),
                        record.as_mut_ptr(),
                        &mut status,
                    );
                    sys::ffprec(raw, record.as_ptr(), &mut status);
                }
            }
            HeaderValue::Empty => {
                // SAFETY: as above.
                unsafe { sys::ffpkyu(raw, key.as_ptr(), comment.as_ptr(), &mut status) };
            }
        },
    }
    if status != 0 {
        return Err(fits_error(
            shown,
            &format!("cannot write keyword {}", card.key),
            status,
        ));
    }
    Ok(long)
}

/// Text of a commentary card: its string value (`COMMENT = 'text'` as some writers emit),
/// followed by the comment field, or the comment alone.
fn commentary_text(card: &Card) -> String {
    let value = match &card.value {
        HeaderValue::Empty => String::new(),
        HeaderValue::Str(s) => s.clone(),
        other => other.to_string(),
    };
    match (value.is_empty(), card.comment.is_empty()) {
        (true, _) => card.comment.clone(),
        (false, true) => value,
        (false, false) => format!("{value} {}", card.comment),
    }
}

/// A FITS real value string (FITS standard 4.0 §4.2.4) in Rust's shortest round-trip
/// notation: `1200.0`, `-5.9E-5`, `1.0E20`. `None` for NaN and infinities, which FITS
/// header values cannot hold.
pub fn fits_real(x: f64) -> Option<String> {
    if !x.is_finite() {
        return None;
    }
    let text = format!("{x:?}").replace('e', "E");
    Some(match text.find('E') {
        Some(pos) if !text[..pos].contains('.') => {
            format!("{}.0{}", &text[..pos], &text[pos..])
        }
        _ => text,
    })
}

/// Test support: reading back what was written, without depending on the frame reader.
#[cfg(test)]
pub(crate) mod test_support {
    use super::*;

    /// The header of HDU `hdu` (0-based) as cfitsio returns it, parsed.
    pub(crate) fn read_header(fits: &mut FitsFile, hdu: usize) -> Header {
        let _ = fits.hdu(hdu).expect("HDU exists");
        let mut text: *mut c_char = ptr::null_mut();
        let mut nkeys: c_int = 0;
        let mut status: c_int = 0;
        // SAFETY: valid handle; cfitsio allocates `text`, released with fffree below.
        unsafe {
            sys::ffhdr2str(
                fits.as_raw(),
                0,
                ptr::null_mut(),
                0,
                &mut text,
                &mut nkeys,
                &mut status,
            );
        }
        assert_eq!(status, 0, "ffhdr2str failed");
        // SAFETY: cfitsio returned a NUL-terminated string.
        let s = unsafe { std::ffi::CStr::from_ptr(text) }
            .to_string_lossy()
            .into_owned();
        // SAFETY: `text` was allocated by cfitsio.
        unsafe { sys::fffree(text as *mut std::ffi::c_void, &mut status) };
        Header::from_card_images(&s)
    }
}

#[cfg(test)]
mod tests {
    use super::test_support::read_header;
    use super::*;
    use crate::frame::header::Header;
    use fitsio::hdu::HduInfo;
    use fitsio::images::ImageType;

    fn header(cards: &[(&str, HeaderValue, &str)]) -> Header {
        let mut h = Header::new(Vec::new());
        for (k, v, c) in cards {
            h.set(k, v.clone(), c);
        }
        h
    }

    fn sample_headers() -> (Header, Header) {
        let mut primary = header(&[
            ("SIMPLE", HeaderValue::Bool(true), "must be skipped"),
            ("INSTRUME", HeaderValue::Str("ALFOSC_FASU".into()), ""),
            ("EXPTIME", HeaderValue::Float(300.0), "exposure time"),
            ("AIRMASS", HeaderValue::Float(1.2345678901234567), ""),
            ("TINY", HeaderValue::Float(-5.9e-17), ""),
            ("DETXBIN", HeaderValue::Int(2), "X binning"),
            ("MIRROR_X", HeaderValue::Bool(false), ""),
            ("FAFLTNM", HeaderValue::Str("r'_SDSS 618_148".into()), "with quote"),
            ("UNDEF", HeaderValue::Empty, "no value"),
            (
                "PROPTITL",
                HeaderValue::Str("A long proposal title that does not fit on one card, so it continues on the next".into()),
                "",
            ),
            ("ESO DPR TYPE", HeaderValue::Str("OBJECT".into()), "hierarch"),
        ]);
        primary.set("COMMENT", HeaderValue::Empty, "a comment");
        primary.set("HISTORY", HeaderValue::Empty, "a history line");
        let image = header(&[
            ("BITPIX", HeaderValue::Int(8), "must be skipped"),
            ("NAXIS1", HeaderValue::Int(1), "must be skipped"),
            ("BZERO", HeaderValue::Float(0.0), "must be skipped"),
            ("GAIN", HeaderValue::Float(0.16), "e-/ADU"),
            (
                "CHECKSUM",
                HeaderValue::Str("stale".into()),
                "must be skipped",
            ),
            (
                "ZCMPTYPE",
                HeaderValue::Str("RICE_1".into()),
                "must be skipped",
            ),
            ("EXTNAME", HeaderValue::Str("im1".into()), ""),
        ]);
        (primary, image)
    }

    #[test]
    fn real_formatting_round_trips() {
        for x in [
            0.0,
            1200.0,
            -5.9e-17,
            1e20,
            0.16,
            1.2345678901234567,
            2147483648.0,
        ] {
            let t = fits_real(x).unwrap();
            assert!(t.contains('.'), "{t}");
            assert!(!t.contains('e'), "{t}");
            assert_eq!(crate::frame::header::parse_number(&t), Some(x), "{t}");
        }
        assert_eq!(fits_real(1e20).as_deref(), Some("1.0E20"));
        assert_eq!(fits_real(f64::NAN), None);
    }

    #[test]
    fn writes_alfosc_layout_u32_with_cards_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("frame.fits");
        let (primary, image) = sample_headers();
        let (w, h) = (7usize, 5usize);
        let data: Vec<u32> = (0..w * h)
            .map(|i| i as u32 * 1000 + 4_000_000_000)
            .collect();
        write_image_fits(
            &path,
            HduLayout::EmptyPrimaryPlusExtension,
            &primary,
            &image,
            w,
            h,
            &PixelData::U32(data.clone()),
        )
        .unwrap();
        let leftovers: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "temporary file left behind");

        let mut fits = FitsFile::open(&path).unwrap();
        let p = read_header(&mut fits, 0);
        assert_eq!(p.number("NAXIS"), Some(0.0));
        assert_eq!(p.number("BITPIX"), Some(8.0));
        assert_eq!(p.text("INSTRUME").as_deref(), Some("ALFOSC_FASU"));
        assert_eq!(p.get("EXPTIME"), Some(&HeaderValue::Float(300.0)));
        assert_eq!(
            p.get("AIRMASS"),
            Some(&HeaderValue::Float(1.2345678901234567))
        );
        assert_eq!(p.get("TINY"), Some(&HeaderValue::Float(-5.9e-17)));
        assert_eq!(p.get("DETXBIN"), Some(&HeaderValue::Int(2)));
        assert_eq!(p.get("MIRROR_X"), Some(&HeaderValue::Bool(false)));
        assert_eq!(p.text("FAFLTNM").as_deref(), Some("r'_SDSS 618_148"));
        assert_eq!(p.get("UNDEF"), Some(&HeaderValue::Empty));
        assert!(p
            .text("PROPTITL")
            .unwrap()
            .ends_with("continues on the next"));
        assert_eq!(p.text("ESO DPR TYPE").as_deref(), Some("OBJECT"));
        let keys: Vec<&str> = p.cards().iter().map(|c| c.key.as_str()).collect();
        let pos = |k: &str| keys.iter().position(|x| *x == k).unwrap();
        assert!(pos("INSTRUME") < pos("EXPTIME") && pos("EXPTIME") < pos("FAFLTNM"));
        assert!(p
            .cards()
            .iter()
            .any(|c| c.key == "HISTORY" && c.comment.contains("a history line")));
        assert!(!p.cards().iter().any(|c| c.comment == "must be skipped"));

        let x = read_header(&mut fits, 1);
        assert_eq!(x.text("XTENSION").as_deref(), Some("IMAGE"));
        assert_eq!(x.number("BITPIX"), Some(32.0));
        assert_eq!(x.number("BZERO"), Some(2147483648.0));
        assert_eq!(x.number("NAXIS1"), Some(w as f64));
        assert_eq!(x.number("NAXIS2"), Some(h as f64));
        assert_eq!(x.text("EXTNAME").as_deref(), Some("im1"));
        assert_eq!(x.number("GAIN"), Some(0.16));
        assert!(!x.cards().iter().any(|c| c.comment == "must be skipped"));

        let hdu = fits.hdu(1).unwrap();
        match &hdu.info {
            HduInfo::ImageInfo { shape, image_type } => {
                assert_eq!(shape, &vec![h, w]);
                assert_eq!(*image_type, ImageType::UnsignedLong);
            }
            other => panic!("unexpected HDU {other:?}"),
        }
        let back: Vec<u32> = hdu.read_image(&mut fits).unwrap();
        assert_eq!(back, data);
        // Row 0 of the array is FITS row 1: pixel (x=3, y=1) is element 1*w+3.
        let row: Vec<u32> = hdu.read_row(&mut fits, 1).unwrap();
        assert_eq!(row[3], data[w + 3]);
    }

    #[test]
    fn writes_primary_u16_and_f32() {
        let dir = tempfile::tempdir().unwrap();
        let (primary, image) = sample_headers();
        let path = dir.path().join("u16.fits");
        let data: Vec<u16> = vec![0, 1, 32767, 32768, 65535, 12];
        write_image_fits(
            &path,
            HduLayout::PrimaryImage,
            &primary,
            &image,
            3,
            2,
            &PixelData::U16(data.clone()),
        )
        .unwrap();
        let mut fits = FitsFile::open(&path).unwrap();
        let p = read_header(&mut fits, 0);
        assert_eq!(p.number("BITPIX"), Some(16.0));
        assert_eq!(p.number("BZERO"), Some(32768.0));
        assert_eq!(p.number("GAIN"), Some(0.16));
        assert_eq!(p.text("INSTRUME").as_deref(), Some("ALFOSC_FASU"));
        let back: Vec<u16> = fits.hdu(0).unwrap().read_image(&mut fits).unwrap();
        assert_eq!(back, data);

        let path = dir.path().join("f32.fits");
        let data: Vec<f32> = vec![-1.5, 0.0, 1e30, 3.25];
        write_image_fits(
            &path,
            HduLayout::EmptyPrimaryPlusExtension,
            &primary,
            &image,
            2,
            2,
            &PixelData::F32(data.clone()),
        )
        .unwrap();
        let mut fits = FitsFile::open(&path).unwrap();
        let x = read_header(&mut fits, 1);
        assert_eq!(x.number("BITPIX"), Some(-32.0));
        assert!(!x.contains("BZERO"));
        let back: Vec<f32> = fits.hdu(1).unwrap().read_image(&mut fits).unwrap();
        assert_eq!(back, data);
    }

    #[test]
    fn identical_input_gives_identical_bytes_and_replaces_file() {
        let dir = tempfile::tempdir().unwrap();
        let (primary, image) = sample_headers();
        let data = PixelData::F32((0..100).map(|i| i as f32 * 0.5).collect());
        let a = dir.path().join("a.fits");
        let b = dir.path().join("b.fits");
        for p in [&a, &b, &a] {
            write_image_fits(
                p,
                HduLayout::EmptyPrimaryPlusExtension,
                &primary,
                &image,
                10,
                10,
                &data,
            )
            .unwrap();
        }
        let bytes_a = std::fs::read(&a).unwrap();
        assert_eq!(bytes_a, std::fs::read(&b).unwrap());
        assert_eq!(bytes_a.len() % 2880, 0);
    }

    #[test]
    fn tile_compressed_is_lossless_and_deterministic() {
        let dir = tempfile::tempdir().unwrap();
        let (primary, image) = sample_headers();
        let (w, h) = (37usize, 23usize);
        let u16s: Vec<u16> = (0..w * h).map(|i| (i * 977 % 65536) as u16).collect();
        let u32s: Vec<u32> = (0..w * h)
            .map(|i| (i as u32).wrapping_mul(2_654_435_761))
            .collect();
        let f32s: Vec<f32> = (0..w * h)
            .map(|i| (i as f32).sqrt() * 1.0e-3 - 0.5)
            .collect();
        for (name, data) in [
            ("u16.fits.fz", PixelData::U16(u16s.clone())),
            ("u32.fits.fz", PixelData::U32(u32s.clone())),
            ("f32.fits.fz", PixelData::F32(f32s.clone())),
        ] {
            let path = dir.path().join(name);
            write_image_fits(
                &path,
                HduLayout::TileCompressed,
                &primary,
                &image,
                w,
                h,
                &data,
            )
            .unwrap();
            let first = std::fs::read(&path).unwrap();
            write_image_fits(
                &path,
                HduLayout::TileCompressed,
                &primary,
                &image,
                w,
                h,
                &data,
            )
            .unwrap();
            assert_eq!(
                first,
                std::fs::read(&path).unwrap(),
                "{name} not deterministic"
            );
            let mut fits = FitsFile::open(&path).unwrap();
            assert_eq!(fits.num_hdus().unwrap(), 2);
            let p = read_header(&mut fits, 0);
            assert_eq!(p.text("INSTRUME").as_deref(), Some("ALFOSC_FASU"));
            let x = read_header(&mut fits, 1);
            assert_eq!(x.text("EXTNAME").as_deref(), Some("im1"), "{name}");
            assert_eq!(x.cards().iter().filter(|c| c.key == "EXTNAME").count(), 1);
            assert_eq!(x.number("GAIN"), Some(0.16));
            let hdu = fits.hdu(1).unwrap();
            assert!(matches!(hdu.info, HduInfo::ImageInfo { .. }));
            match data {
                PixelData::U16(v) => assert_eq!(hdu.read_image::<Vec<u16>>(&mut fits).unwrap(), v),
                PixelData::U32(v) => assert_eq!(hdu.read_image::<Vec<u32>>(&mut fits).unwrap(), v),
                PixelData::F32(v) => assert_eq!(hdu.read_image::<Vec<f32>>(&mut fits).unwrap(), v),
            }
        }
    }

    #[test]
    fn rejects_bad_shapes_and_values_without_leaving_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.fits");
        let empty = Header::default();
        let err = write_image_fits(
            &path,
            HduLayout::PrimaryImage,
            &empty,
            &empty,
            3,
            3,
            &PixelData::U16(vec![0; 8]),
        );
        assert!(matches!(err, Err(FrameError::Fits { .. })));
        let nan = header(&[("BAD", HeaderValue::Float(f64::NAN), "")]);
        let err = write_image_fits(
            &path,
            HduLayout::PrimaryImage,
            &nan,
            &empty,
            1,
            1,
            &PixelData::F32(vec![0.0]),
        );
        assert!(err.unwrap_err().to_string().contains("BAD"));
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
