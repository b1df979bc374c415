//! Reading FITS files: headers of every image HDU, pixels as f32 with BZERO/BSCALE applied,
//! and whole frames (one or several amplifiers) with their metadata.
//!
//! cfitsio (bundled through `fitsio`) reads the headers and decodes the pixels: 8/16/32/64-bit
//! integers and 32/64-bit floats, gzip-compressed files (`.fits.gz`) and tile-compressed
//! images (`.fits.fz`), which it presents as ordinary image HDUs. The common case, an
//! uncompressed 16-, 32-bit integer or 32-bit float image, is read directly instead
//! ([`super::plain_data`]: the same values bit for bit in one read and one conversion pass;
//! a full ALFOSC frame read 10 % faster, most of what is left being the kernel's copy and the
//! page faults of the new buffer). Files are always opened read-only.

use std::ffi::{c_char, c_int, CStr, CString};
use std::io::Read;
use std::path::{Path, PathBuf};

use fitsio::sys::{self, LONGLONG};
use fitsio::FitsFile;

use super::header::Header;
use super::meta::{extract_meta, FrameMeta, MetaProblem, Severity};
use super::plain_data::{PlainData, Sample};
use super::profile::{InstrumentProfile, ProfileChoice, ProfileRegistry};
use super::FrameError;

/// What a file's first bytes say it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    /// Starts with the FITS `SIMPLE  =` card.
    Fits,
    /// A gzip stream (cfitsio decompresses it; whether it holds FITS is known only on opening).
    Gzip,
    Other,
}

/// Sniffs the first bytes of a file.
pub fn sniff(path: &Path) -> Result<FileKind, FrameError> {
    let mut file = std::fs::File::open(path).map_err(|source| FrameError::Io {
        path: path.display().to_string(),
        source,
    })?;
    let mut start = [0u8; 9];
    let mut n = 0;
    while n < start.len() {
        match file.read(&mut start[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(source) => {
                return Err(FrameError::Io {
                    path: path.display().to_string(),
                    source,
                })
            }
        }
    }
    Ok(if n >= 9 && &start[..9] == b"SIMPLE  =" {
        FileKind::Fits
    } else if n >= 2 && start[..2] == [0x1f, 0x8b] {
        FileKind::Gzip
    } else {
        FileKind::Other
    })
}

/// Header and shape of one image HDU that holds data.
#[derive(Debug, Clone)]
pub struct ImageHdu {
    /// 0-based HDU index (0 = primary).
    pub hdu: usize,
    pub extname: Option<String>,
    /// Primary header merged with this HDU's header (the HDU's values win).
    pub header: Header,
    /// NAXIS1 (columns).
    pub width: usize,
    /// NAXIS2 (rows).
    pub height: usize,
}

/// Largest image read, in pixels (1 GiB as f32): a header claiming more is corrupt (or a
/// format cometphot does not handle), and allocating it would abort the process.
pub const MAX_PIXELS: usize = 1 << 28;

/// More HDUs than this in one file is taken as corruption.
const MAX_HDUS: usize = 10_000;

/// Largest NAXIS of the FITS standard.
const MAX_NAXIS: c_int = 999;

/// An open FITS file.
///
/// Only raw cfitsio calls are used on it (`fitsio::sys`): the safe `fitsio` wrappers panic on
/// some corrupt or merely unusual files (binary tables with variable-length columns, BITPIX
/// values they do not know, negative axis lengths), and a panic must not reach the user.
pub struct FitsSource {
    path: PathBuf,
    /// What the file's first bytes are (a gzip file is never read directly).
    kind: FileKind,
    file: FitsFile,
    primary: Header,
    /// HDUs left out by [`FitsSource::image_hdus`] and why ("HDU 1 'im1': NAXIS = 0").
    empty: Vec<String>,
}

fn display(path: &Path) -> String {
    path.display().to_string()
}

/// cfitsio's text for a status code.
fn status_text(status: c_int) -> String {
    let mut buffer = [0 as c_char; 31];
    // SAFETY: ffgerr writes at most 30 characters and a NUL into the buffer.
    unsafe { sys::ffgerr(status, buffer.as_mut_ptr()) };
    // SAFETY: NUL-terminated by ffgerr (and the buffer was zeroed).
    let text = unsafe { CStr::from_ptr(buffer.as_ptr()) }.to_string_lossy();
    format!("cfitsio status {status}: {}", text.trim())
}

/// BITPIX values of the FITS standard (and cfitsio's equivalent unsigned/signed-byte codes).
fn known_bitpix(bitpix: c_int) -> bool {
    matches!(bitpix, 8 | 10 | 16 | 20 | 32 | 40 | 64 | 80 | -32 | -64)
}

impl FitsSource {
    /// Opens a file read-only after checking that its content is FITS (or gzip). The name is
    /// taken literally (no cfitsio extended file-name syntax: `a[1].fits` is a file name).
    pub fn open(path: &Path) -> Result<Self, FrameError> {
        let shown = display(path);
        let kind = sniff(path)?;
        match kind {
            FileKind::Fits | FileKind::Gzip => {}
            FileKind::Other => {
                return Err(FrameError::NotFits {
                    path: shown,
                    reason: "it does not start with the FITS card 'SIMPLE  ='".into(),
                })
            }
        }
        let Some(name) = path.to_str() else {
            return Err(FrameError::Fits {
                path: shown,
                message: "the file name is not valid UTF-8".into(),
            });
        };
        let c_name = CString::new(name).map_err(|_| FrameError::Fits {
            path: shown.clone(),
            message: "the file name contains a NUL byte".into(),
        })?;
        let mut raw: *mut sys::fitsfile = std::ptr::null_mut();
        let mut status: c_int = 0;
        // SAFETY: c_name is a valid C string; cfitsio sets `raw` to an open file or leaves an
        // error status (and then no file is left open).
        unsafe { sys::ffdkopn(&mut raw, c_name.as_ptr(), 0, &mut status) };
        if status != 0 || raw.is_null() {
            return Err(FrameError::Fits {
                path: shown,
                message: format!("cannot open: {}", status_text(status)),
            });
        }
        // SAFETY: `raw` is a file opened read-only above; FitsFile closes it when dropped.
        let mut file =
            unsafe { FitsFile::from_raw(raw, fitsio::FileOpenMode::READONLY) }.map_err(|e| {
                FrameError::Fits {
                    path: shown.clone(),
                    message: e.to_string(),
                }
            })?;
        let primary = move_to(&mut file, 0)
            .map_err(|(_, message)| message)
            .and_then(|_| header_of_current_hdu(&mut file))
            .map_err(|message| FrameError::Hdu {
                path: shown.clone(),
                hdu: 0,
                message: format!("cannot read the primary header: {message}"),
            })?;
        Ok(FitsSource {
            path: path.to_path_buf(),
            kind,
            file,
            primary,
            empty: Vec::new(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn primary_header(&self) -> &Header {
        &self.primary
    }

    /// HDUs that [`FitsSource::image_hdus`] left out as holding no image, with the reason
    /// (e.g. `HDU 1 'im1': NAXIS = 0`).
    pub fn empty_hdus(&self) -> &[String] {
        &self.empty
    }

    /// Every image HDU holding data, in file order. A problem with one HDU (unreadable header,
    /// unsupported layout) is returned in place as an error so the others can still be used.
    /// Empty image HDUs (NAXIS = 0, or a zero-length axis) and tables are left out (and listed
    /// by [`FitsSource::empty_hdus`]).
    pub fn image_hdus(&mut self) -> Vec<Result<ImageHdu, FrameError>> {
        let shown = display(&self.path);
        self.empty.clear();
        let mut result = Vec::new();
        let mut previous_end: LONGLONG = 0;
        // HDUs are visited until cfitsio reports the end of the file; any other error is a
        // broken header that must be reported (cfitsio's own HDU count stops silently there).
        for index in 0.. {
            if index > 0 {
                if let Err(message) = self.check_next_header() {
                    result.push(Err(FrameError::Hdu {
                        path: shown.clone(),
                        hdu: index,
                        message: format!("cannot read the header: {message}"),
                    }));
                    break;
                }
            }
            let kind = match move_to(&mut self.file, index) {
                Ok(kind) => kind,
                Err((status, message)) => {
                    let diagnosis = self.diagnose_header(index);
                    let end_of_file = status == sys::END_OF_FILE as c_int;
                    if index > 0 && end_of_file && diagnosis.is_none() {
                        // Nothing (or only padding) after the last HDU.
                        break;
                    }
                    let message = match diagnosis {
                        Some(d) => format!("cannot read the header: {d} ({message})"),
                        None => format!(
                            "cannot read the header (file truncated or corrupt?): {message}"
                        ),
                    };
                    result.push(Err(FrameError::Hdu {
                        path: shown.clone(),
                        hdu: index,
                        message,
                    }));
                    break;
                }
            };
            // Each HDU must end after it starts and before the next one: a negative data size
            // (GCOUNT < 0) made cfitsio find the same HDUs again and again, for ever.
            match hdu_span(&mut self.file) {
                Some((start, end)) if start >= previous_end && end >= start => {
                    previous_end = end;
                }
                span => {
                    result.push(Err(FrameError::Hdu {
                        path: shown.clone(),
                        hdu: index,
                        message: format!(
                            "the HDU does not follow the previous one (bytes {span:?}): \
                             data size negative (PCOUNT/GCOUNT) or file corrupt"
                        ),
                    }));
                    break;
                }
            }
            if index >= MAX_HDUS {
                result.push(Err(FrameError::Hdu {
                    path: shown.clone(),
                    hdu: index,
                    message: format!("more than {MAX_HDUS} HDUs: file corrupt?"),
                }));
                break;
            }
            let own = header_of_current_hdu(&mut self.file);
            let name = own
                .as_ref()
                .ok()
                .and_then(|h| h.text("EXTNAME"))
                .map(|n| format!(" '{n}'"))
                .unwrap_or_default();
            if kind != sys::IMAGE_HDU as c_int {
                self.empty.push(format!("HDU {index}{name}: a table"));
                continue;
            }
            let shape = match image_shape(&mut self.file) {
                Ok(shape) => shape,
                Err(message) => {
                    result.push(Err(FrameError::Hdu {
                        path: shown.clone(),
                        hdu: index,
                        message,
                    }));
                    continue;
                }
            };
            if shape.is_empty() || shape.contains(&0) {
                let what = if shape.is_empty() {
                    "NAXIS = 0".to_string()
                } else {
                    let axes: Vec<String> = shape
                        .iter()
                        .enumerate()
                        .map(|(i, n)| format!("NAXIS{} = {n}", i + 1))
                        .collect();
                    axes.join(", ")
                };
                self.empty.push(format!("HDU {index}{name}: {what}"));
                continue;
            }
            let own = match own {
                Ok(h) => h,
                Err(message) => {
                    result.push(Err(FrameError::Hdu {
                        path: shown.clone(),
                        hdu: index,
                        message,
                    }));
                    continue;
                }
            };
            if shape.len() != 2 {
                result.push(Err(FrameError::Hdu {
                    path: shown.clone(),
                    hdu: index,
                    message: format!(
                        "image has {} axes (NAXIS = {}); cometphot reads 2-D images",
                        shape.len(),
                        shape.len()
                    ),
                }));
                continue;
            }
            let header = if index == 0 {
                own
            } else {
                Header::merged(&self.primary, &own)
            };
            result.push(Ok(ImageHdu {
                hdu: index,
                extname: header.text("EXTNAME").filter(|_| index > 0),
                width: shape[0],
                height: shape[1],
                header,
            }));
        }
        result
    }

    /// Checks the header of the HDU after the current one before cfitsio parses it
    /// ([`check_extension_header`]): cfitsio divides by the tile size of a tile-compressed
    /// image when it moves to that HDU, so a ZTILEn of 0 (or a ZNAXISn of 0 without ZTILEn)
    /// killed the process with SIGFPE, and allocates per table column (TFIELDS).
    fn check_next_header(&mut self) -> Result<(), String> {
        let (mut head, mut data, mut end): (LONGLONG, LONGLONG, LONGLONG) = (0, 0, 0);
        let mut status: c_int = 0;
        // SAFETY: the handle is used only below, while `self.file` is borrowed and open.
        let raw = unsafe { self.file.as_raw() };
        // SAFETY: the file is open on a parsed HDU; the call writes three integers.
        unsafe { sys::ffghadll(raw, &mut head, &mut data, &mut end, &mut status) };
        if status != 0 {
            // cfitsio will report the problem itself when moving on.
            return Ok(());
        }
        let mut cards = Vec::new();
        let mut block = [0u8; 2880];
        for k in 0..MAX_HEADER_BLOCKS {
            let mut status: c_int = 0;
            // SAFETY: ffmbyt positions the file (no write); ffgbyt writes at most 2880 bytes
            // into `block`. Reading past the end is an error status, not a crash.
            unsafe {
                sys::ffmbyt(raw, end + (k as LONGLONG) * 2880, 0, &mut status);
                ffgbyt(raw, 2880, block.as_mut_ptr().cast(), &mut status);
            }
            if status != 0 {
                // The end of the file (or of what cfitsio can read): check what was read,
                // since cfitsio also parses a header whose last block is incomplete.
                break;
            }
            let mut done = false;
            for chunk in block.chunks(80) {
                let card = super::header::parse_card(&String::from_utf8_lossy(chunk));
                if card.key == "END" {
                    done = true;
                    break;
                }
                cards.push(card);
            }
            if done {
                break;
            }
        }
        check_extension_header(&Header::new(cards))
    }

    /// Why cfitsio could not read the header of HDU `index`, from the header's own cards
    /// (a BITPIX or NAXIS value outside the standard, a missing XTENSION or END card). Plain
    /// (not gzip-compressed) files only; `None` when nothing specific is found.
    fn diagnose_header(&mut self, index: usize) -> Option<String> {
        if sniff(&self.path).ok()? != FileKind::Fits {
            return None;
        }
        let start = if index == 0 {
            0
        } else {
            move_to(&mut self.file, index - 1).ok()?;
            let (mut head, mut data, mut end): (LONGLONG, LONGLONG, LONGLONG) = (0, 0, 0);
            let mut status: c_int = 0;
            // SAFETY: the file is open on HDU index − 1; the call writes three integers.
            unsafe {
                sys::ffghadll(
                    self.file.as_raw(),
                    &mut head,
                    &mut data,
                    &mut end,
                    &mut status,
                )
            };
            if status != 0 {
                return None;
            }
            u64::try_from(end).ok()?
        };
        diagnose_header_at(&self.path, start, index)
    }

    /// Pixels of an image HDU as f32 (BZERO/BSCALE applied), row-major, row 0 = FITS row 1.
    ///
    /// The last pixel is read first, so that a truncated file (or a header claiming a huge
    /// image) is an error before the whole image is allocated.
    pub fn read_pixels(&mut self, image: &ImageHdu) -> Result<Vec<f32>, FrameError> {
        let (w, h) = (image.width, image.height);
        let n = match w.checked_mul(h) {
            Some(n) if n <= MAX_PIXELS => n,
            _ => {
                return Err(FrameError::Hdu {
                    path: display(&self.path),
                    hdu: image.hdu,
                    message: format!(
                        "NAXIS1 × NAXIS2 = {w} × {h} pixels: more than cometphot reads \
                         ({MAX_PIXELS}); header corrupt?"
                    ),
                })
            }
        };
        if let Some(plain) = self.plain_data(image, n) {
            let mut pixels = Vec::new();
            let read = std::fs::File::open(&self.path)
                .and_then(|mut file| plain.read_append(&mut file, 0, n, &mut pixels));
            if read.is_ok() {
                return Ok(pixels);
            }
            // cfitsio reads it again and words the error.
        }
        self.read_pixels_cfitsio(image, n)
    }

    /// [`FitsSource::read_pixels`] through cfitsio (`ffgpv` to TFLOAT without null checks)
    /// for the `n` pixels of `image`.
    fn read_pixels_cfitsio(&mut self, image: &ImageHdu, n: usize) -> Result<Vec<f32>, FrameError> {
        let path = display(&self.path);
        let err = |message: String| FrameError::Hdu {
            path: path.clone(),
            hdu: image.hdu,
            message,
        };
        let (w, h) = (image.width, image.height);
        move_to(&mut self.file, image.hdu)
            .map_err(|(_, e)| err(format!("cannot select HDU: {e}")))?;
        // SAFETY: the handle is used only by `read` below, while `self.file` is borrowed and
        // open.
        let raw = unsafe { self.file.as_raw() };
        let read = |first: usize, out: &mut [f32]| -> c_int {
            let mut status: c_int = 0;
            let mut any_null: c_int = 0;
            // SAFETY: `out` holds `out.len()` floats; cfitsio writes at most that many
            // (TFLOAT, no null substitution).
            unsafe {
                sys::ffgpv(
                    raw,
                    sys::TFLOAT as c_int,
                    first as LONGLONG,
                    out.len() as LONGLONG,
                    std::ptr::null_mut(),
                    out.as_mut_ptr().cast(),
                    &mut any_null,
                    &mut status,
                )
            };
            status
        };
        let mut last = [0f32; 1];
        let status = read(n, &mut last);
        if status != 0 {
            return Err(err(format!(
                "the data unit ends before the last of NAXIS1 × NAXIS2 = {w} × {h} pixels \
                 (file truncated or corrupt?): {}",
                status_text(status)
            )));
        }
        let mut pixels = vec![0f32; n];
        let status = read(1, &mut pixels);
        if status != 0 {
            return Err(err(format!(
                "cannot read the pixel data of NAXIS1 × NAXIS2 = {w} × {h} pixels \
                 (file truncated or corrupt?): {}",
                status_text(status)
            )));
        }
        Ok(pixels)
    }

    /// Calls `each` on the pixels of `image` in order, in blocks of `block_pixels` (the last
    /// may be shorter), as [`FitsSource::read_pixels`] would give them; a directly read image
    /// ([`super::plain_data`]) is never held whole, so the blocks stay in cache.
    pub fn for_each_pixel_block(
        &mut self,
        image: &ImageHdu,
        block_pixels: usize,
        each: impl FnMut(&[f32]),
    ) -> Result<(), FrameError> {
        let block_pixels = block_pixels.max(1);
        let n = image.width.saturating_mul(image.height);
        let Some(plain) = self.plain_data(image, n) else {
            self.read_pixels(image)?.chunks(block_pixels).for_each(each);
            return Ok(());
        };
        let io = |source: std::io::Error| FrameError::Io {
            path: display(&self.path),
            source,
        };
        let mut file = std::fs::File::open(&self.path).map_err(io)?;
        plain
            .read_blocks(&mut file, 0, n, block_pixels, each)
            .map_err(io)?;
        Ok(())
    }

    /// The first `count` pixels of `image` (all of them if it has fewer), when its data unit
    /// is uncompressed and whole on disk (the direct read of [`super::plain_data`]); `None`
    /// otherwise or when the read fails, for the caller to read the image in full.
    pub fn first_pixels(&mut self, image: &ImageHdu, count: usize) -> Option<Vec<f32>> {
        let n = image
            .width
            .checked_mul(image.height)
            .filter(|&n| n <= MAX_PIXELS)?;
        let plain = self.plain_data(image, n)?;
        let mut pixels = Vec::new();
        let mut file = std::fs::File::open(&self.path).ok()?;
        plain
            .read_append(&mut file, 0, count.min(n), &mut pixels)
            .ok()?;
        Some(pixels)
    }

    /// How `image` (of `n` pixels) reads directly ([`super::plain_data`]): a file that is
    /// not gzip-compressed, an image that is not tile-compressed, BITPIX 16, 32 or −32, and
    /// the whole data unit on disk. `None` leaves the read to cfitsio.
    fn plain_data(&mut self, image: &ImageHdu, n: usize) -> Option<PlainData> {
        if self.kind != FileKind::Fits {
            return None;
        }
        move_to(&mut self.file, image.hdu).ok()?;
        let mut status: c_int = 0;
        let mut bitpix: c_int = 0;
        let (mut head, mut data, mut end): (LONGLONG, LONGLONG, LONGLONG) = (0, 0, 0);
        // SAFETY: the file is open on the image's HDU; the calls only write the integers.
        let compressed = unsafe {
            let raw = self.file.as_raw();
            let compressed = sys::fits_is_compressed_image(raw, &mut status);
            sys::ffgidt(raw, &mut bitpix, &mut status);
            sys::ffghadll(raw, &mut head, &mut data, &mut end, &mut status);
            compressed
        };
        if status != 0 || compressed != 0 {
            return None;
        }
        let sample = Sample::from_bitpix(bitpix)?;
        let scale = self.keyword_f64(c"BSCALE", 1.0)?;
        let zero = self.keyword_f64(c"BZERO", 0.0)?;
        let offset_bytes = u64::try_from(data).ok()?;
        let data_bytes = u64::try_from(n.checked_mul(sample.bytes())?).ok()?;
        let file_bytes = std::fs::metadata(&self.path).ok()?.len();
        (offset_bytes.checked_add(data_bytes)? <= file_bytes).then_some(PlainData {
            offset_bytes,
            sample,
            scale,
            zero,
        })
    }

    /// A numeric keyword of the current HDU: `default` when absent, `None` when unreadable
    /// or not finite.
    fn keyword_f64(&mut self, name: &CStr, default: f64) -> Option<f64> {
        let mut value = 0f64;
        let mut status: c_int = 0;
        // SAFETY: the file is open; `name` is NUL-terminated; cfitsio writes one double and
        // no comment (null pointer).
        unsafe {
            sys::ffgky(
                self.file.as_raw(),
                sys::TDOUBLE as c_int,
                name.as_ptr(),
                (&mut value as *mut f64).cast(),
                std::ptr::null_mut(),
                &mut status,
            )
        };
        match status {
            0 => value.is_finite().then_some(value),
            s if s == sys::KEY_NO_EXIST as c_int => Some(default),
            _ => None,
        }
    }
}

/// Headers longer than this many 2880-byte blocks are not pre-checked.
const MAX_HEADER_BLOCKS: usize = 200;

extern "C" {
    /// cfitsio's low-level read of `nbytes` at the current position (buffers.c; not in the
    /// public header, hence not in `fitsio::sys`). It reads through cfitsio's own driver, so
    /// it also works on gzip files that cfitsio decompressed into memory.
    fn ffgbyt(
        fptr: *mut sys::fitsfile,
        nbytes: LONGLONG,
        buffer: *mut std::ffi::c_void,
        status: *mut c_int,
    ) -> c_int;
}

/// The keywords of an extension header that cfitsio divides by or allocates from without
/// checking when it moves to the HDU: PCOUNT and GCOUNT ≥ 0 (a negative data size sent it
/// round in circles over the same HDUs), TFIELDS of a table at most 999 (FITS standard 4.0
/// §7.2.1; cfitsio allocates a column structure per field, so TFIELDS = 113634536 took
/// gigabytes), and for a tile-compressed image (§10.1) ZNAXIS in 1–6, every ZNAXISn ≥ 1,
/// every ZTILEn present ≥ 1 with a tile of at most [`MAX_PIXELS`], ZVAL1 (Rice block size)
/// ≥ 1.
fn check_extension_header(header: &Header) -> Result<(), String> {
    use super::header::HeaderValue;
    // Every card with the key is checked: cfitsio reads the first one, Header::get the last,
    // and a header may hold the same keyword twice.
    let values = |key: &str| -> Vec<&HeaderValue> {
        header
            .cards()
            .iter()
            .filter(|c| c.key == key)
            .map(|c| &c.value)
            .collect()
    };
    for key in ["PCOUNT", "GCOUNT"] {
        for value in values(key) {
            if !matches!(value, HeaderValue::Int(0..)) {
                return Err(format!("{key} = {value} is not a count (≥ 0)"));
            }
        }
    }
    for value in values("TFIELDS") {
        if !matches!(value, HeaderValue::Int(0..=999)) {
            return Err(format!("TFIELDS = {value} is outside 0–999"));
        }
    }
    let compressed = values("ZIMAGE")
        .iter()
        .any(|v| matches!(v, HeaderValue::Bool(true)));
    if !compressed {
        return Ok(());
    }
    // The first value (cfitsio's), after checking that every one is a positive integer.
    let positive = |key: &str, required: bool| -> Result<Option<i64>, String> {
        let found = values(key);
        for v in &found {
            if !matches!(v, HeaderValue::Int(1..)) {
                return Err(format!(
                    "{key} = {v} is not a positive integer (tile-compressed image)"
                ));
            }
        }
        match found.first() {
            Some(HeaderValue::Int(i)) => Ok(Some(*i)),
            _ if required => Err(format!("tile-compressed image without {key}")),
            _ => Ok(None),
        }
    };
    let n = positive("ZNAXIS", true)?.unwrap_or(0);
    if n > 6 {
        return Err(format!(
            "ZNAXIS = {n}: cfitsio reads at most 6 compressed axes"
        ));
    }
    let mut tile: i64 = 1;
    for i in 1..=n {
        let length = positive(&format!("ZNAXIS{i}"), true)?.unwrap_or(1);
        let default = if i == 1 { length } else { 1 };
        let size = positive(&format!("ZTILE{i}"), false)?.unwrap_or(default);
        tile = tile.saturating_mul(size);
    }
    if tile > MAX_PIXELS as i64 {
        return Err(format!(
            "tiles of {tile} pixels (ZTILEn): more than cometphot reads ({MAX_PIXELS})"
        ));
    }
    let rice = header.cards().iter().any(|c| {
        c.key == "ZCMPTYPE"
            && matches!(&c.value, HeaderValue::Str(t) if t.trim().eq_ignore_ascii_case("RICE_1"))
    });
    if rice {
        positive("ZVAL1", false)?;
    }
    Ok(())
}

/// Reads the cards of the header starting at byte `start` of a plain FITS file and names the
/// first structural problem (FITS standard 4.0 §4.4.1).
fn diagnose_header_at(path: &Path, start: u64, index: usize) -> Option<String> {
    use std::io::{Seek, SeekFrom};
    let mut file = std::fs::File::open(path).ok()?;
    file.seek(SeekFrom::Start(start)).ok()?;
    let mut bytes = Vec::new();
    file.take(2880 * 20).read_to_end(&mut bytes).ok()?;
    // The end of the file, or zero/blank padding after the last HDU: nothing is wrong.
    if bytes.iter().all(|b| *b == 0 || *b == b' ') {
        return None;
    }
    let cards: Vec<_> = bytes
        .chunks(80)
        .map(|c| super::header::parse_card(&String::from_utf8_lossy(c)))
        .collect();
    let first = cards.first()?;
    let expected = if index == 0 { "SIMPLE" } else { "XTENSION" };
    if first.key != expected {
        return Some(format!(
            "the header at byte {start} starts with '{}', not {expected}",
            first.key
        ));
    }
    let end = cards.iter().position(|c| c.key == "END");
    let value = |key: &str| {
        cards[..end.unwrap_or(cards.len())]
            .iter()
            .find(|c| c.key == key)
            .map(|c| &c.value)
    };
    let int = |key: &str| match value(key) {
        Some(super::header::HeaderValue::Int(i)) => Ok(*i),
        Some(other) => Err(format!("{key} = {other} is not an integer")),
        None => Err(format!("no {key} keyword")),
    };
    let bitpix = match int("BITPIX") {
        Ok(b) => b,
        Err(e) => return Some(e),
    };
    if !matches!(bitpix, 8 | 16 | 32 | 64 | -32 | -64) {
        return Some(format!(
            "BITPIX = {bitpix} is not a FITS pixel type (8, 16, 32, 64, -32, -64)"
        ));
    }
    let naxis = match int("NAXIS") {
        Ok(n) if (0..=999).contains(&n) => n,
        Ok(n) => return Some(format!("NAXIS = {n} is outside 0–999")),
        Err(e) => return Some(e),
    };
    for i in 1..=naxis {
        match int(&format!("NAXIS{i}")) {
            Ok(n) if n < 0 => return Some(format!("NAXIS{i} = {n} is negative")),
            Ok(_) => {}
            Err(e) => return Some(e),
        }
    }
    if end.is_none() {
        return Some("no END card (header truncated or corrupt)".into());
    }
    None
}

/// The `detail` of [`FrameError::NoImage`]: `(HDU 0: NAXIS = 0; HDU 1 'im1': NAXIS = 0)`.
pub fn empty_detail(empty: &[String]) -> String {
    if empty.is_empty() {
        String::new()
    } else {
        format!(" ({})", empty.join("; "))
    }
}

/// (start of the header, end of the data) of the current HDU, in bytes.
fn hdu_span(file: &mut FitsFile) -> Option<(LONGLONG, LONGLONG)> {
    let (mut head, mut data, mut end): (LONGLONG, LONGLONG, LONGLONG) = (0, 0, 0);
    let mut status: c_int = 0;
    // SAFETY: the file is open on a parsed HDU; the call writes three integers.
    unsafe { sys::ffghadll(file.as_raw(), &mut head, &mut data, &mut end, &mut status) };
    (status == 0).then_some((head, end))
}

/// Moves to HDU `index` (0-based) and returns its logical type (a tile-compressed image is an
/// image).
fn move_to(file: &mut FitsFile, index: usize) -> Result<c_int, (c_int, String)> {
    let number = c_int::try_from(index + 1).map_err(|_| (0, format!("no HDU {index}")))?;
    let mut kind: c_int = 0;
    let mut status: c_int = 0;
    // SAFETY: the file is open; ffmahd and ffghdt only write the two ints.
    unsafe {
        let raw = file.as_raw();
        sys::ffmahd(raw, number, &mut kind, &mut status);
        sys::ffghdt(raw, &mut kind, &mut status);
    }
    if status != 0 {
        Err((status, status_text(status)))
    } else {
        Ok(kind)
    }
}

/// Axis lengths (NAXIS1 first) of the current image HDU, checked: BITPIX known, NAXIS at most
/// 999, no negative length.
fn image_shape(file: &mut FitsFile) -> Result<Vec<usize>, String> {
    let mut status: c_int = 0;
    let mut bitpix: c_int = 0;
    let mut naxis: c_int = 0;
    // SAFETY: the file is open on an image HDU; the calls write the ints.
    unsafe {
        let raw = file.as_raw();
        sys::ffgiet(raw, &mut bitpix, &mut status);
        sys::ffgidm(raw, &mut naxis, &mut status);
    }
    if status != 0 {
        return Err(format!("cannot read BITPIX/NAXIS: {}", status_text(status)));
    }
    if !known_bitpix(bitpix) {
        return Err(format!(
            "BITPIX = {bitpix} is not a FITS pixel type (8, 16, 32, 64, -32, -64)"
        ));
    }
    if !(0..=MAX_NAXIS).contains(&naxis) {
        return Err(format!("NAXIS = {naxis} is outside 0–999"));
    }
    let mut axes: Vec<LONGLONG> = vec![0; naxis as usize];
    // SAFETY: `axes` holds `naxis` values.
    unsafe { sys::ffgiszll(file.as_raw(), naxis, axes.as_mut_ptr(), &mut status) };
    if status != 0 {
        return Err(format!("cannot read NAXISn: {}", status_text(status)));
    }
    axes.iter()
        .enumerate()
        .map(|(i, &n)| usize::try_from(n).map_err(|_| format!("NAXIS{} = {n} is negative", i + 1)))
        .collect()
}

/// The header of the HDU cfitsio is positioned on, as cards (tile-compressed images give
/// the header of the image they hold).
fn header_of_current_hdu(file: &mut FitsFile) -> Result<Header, String> {
    let mut status: c_int = 0;
    let mut text: *mut c_char = std::ptr::null_mut();
    let mut nkeys: c_int = 0;
    // SAFETY: `file` is an open fitsfile; cfitsio allocates `text`, which is freed below with
    // fffree; the exclusion list is empty (null pointer with length 0).
    let header = unsafe {
        let raw = file.as_raw();
        let compressed = sys::fits_is_compressed_image(raw, &mut status);
        if compressed != 0 {
            sys::ffcnvthdr2str(
                raw,
                0,
                std::ptr::null_mut(),
                0,
                &mut text,
                &mut nkeys,
                &mut status,
            );
        } else {
            sys::ffhdr2str(
                raw,
                0,
                std::ptr::null_mut(),
                0,
                &mut text,
                &mut nkeys,
                &mut status,
            );
        }
        let header = if status == 0 && !text.is_null() {
            Ok(Header::from_card_bytes(CStr::from_ptr(text).to_bytes()))
        } else {
            Err(format!("cfitsio status {status} reading the header"))
        };
        if !text.is_null() {
            let mut free_status: c_int = 0;
            sys::fffree(text.cast(), &mut free_status);
        }
        header
    };
    header
}

/// One amplifier (image HDU) of a frame, with pixels and metadata.
#[derive(Debug, Clone)]
pub struct Amplifier {
    pub image: ImageHdu,
    pub meta: FrameMeta,
    pub problems: Vec<MetaProblem>,
    pub pixels: Vec<f32>,
}

/// One exposure: every image HDU of a file (one for most cameras, four for LCO Sinistro).
#[derive(Debug, Clone)]
pub struct Frame {
    pub path: PathBuf,
    pub primary: Header,
    pub amplifiers: Vec<Amplifier>,
}

impl Frame {
    /// Metadata of the first amplifier (the observing keywords are shared).
    pub fn meta(&self) -> &FrameMeta {
        &self.amplifiers[0].meta
    }

    /// Problems found in any amplifier's header.
    pub fn problems(&self) -> impl Iterator<Item = &MetaProblem> {
        self.amplifiers.iter().flat_map(|a| a.problems.iter())
    }

    /// The first error-level problem, which makes the frame unusable.
    pub fn first_error(&self) -> Option<&MetaProblem> {
        self.problems().find(|p| p.severity == Severity::Error)
    }
}

/// Chooses the profile for a header.
pub fn choose_profile<'a>(
    header: &Header,
    choice: &'a ProfileChoice,
    registry: &'a ProfileRegistry,
) -> &'a InstrumentProfile {
    match choice {
        ProfileChoice::Fixed(p) => p,
        ProfileChoice::Detect => registry.detect(header).unwrap_or(registry.generic()),
    }
}

/// Reads a whole frame: every image HDU's header, metadata and pixels.
pub fn read_frame(
    path: &Path,
    choice: &ProfileChoice,
    registry: &ProfileRegistry,
) -> Result<Frame, FrameError> {
    let mut source = FitsSource::open(path)?;
    let mut amplifiers = Vec::new();
    for image in source.image_hdus() {
        let image = image?;
        let profile = choose_profile(&image.header, choice, registry);
        let (meta, problems) = extract_meta(&image.header, profile, image.width, image.height);
        let pixels = source.read_pixels(&image)?;
        amplifiers.push(Amplifier {
            image,
            meta,
            problems,
            pixels,
        });
    }
    if amplifiers.is_empty() {
        return Err(FrameError::NoImage {
            path: display(path),
            detail: empty_detail(source.empty_hdus()),
        });
    }
    Ok(Frame {
        path: path.to_path_buf(),
        primary: source.primary_header().clone(),
        amplifiers,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use fitsio::images::{ImageDescription, ImageType};

    /// A one-image file of `values` (2 rows) stored as `data_type` with the given BSCALE and
    /// BZERO, written by cfitsio (which scales the values on writing).
    fn written(data_type: ImageType, values: &[f64], scaling: (f64, f64)) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let description = ImageDescription {
            data_type,
            dimensions: &[2, values.len() / 2],
        };
        let mut fits = FitsFile::create(dir.path().join("t.fits"))
            .with_custom_primary(&description)
            .open()
            .unwrap();
        let hdu = fits.primary_hdu().unwrap();
        if scaling != (1.0, 0.0) {
            hdu.write_key(&mut fits, "BSCALE", scaling.0).unwrap();
            hdu.write_key(&mut fits, "BZERO", scaling.1).unwrap();
        }
        hdu.write_image(&mut fits, values).unwrap();
        dir
    }

    /// The direct read gives cfitsio's values bit for bit, whole or block by block.
    #[test]
    fn direct_reads_equal_cfitsio() {
        let mut seed = 5u64;
        let values: Vec<f64> = (0..2 * 1000)
            .map(|_| 3000.0 * crate::stats::test_gauss(&mut seed))
            .collect();
        let cases = [
            (ImageType::Short, (1.0, 0.0)),
            (ImageType::Short, (0.25, -12.5)),
            (ImageType::UnsignedShort, (1.0, 0.0)),
            (ImageType::Long, (1.0, 0.0)),
            (ImageType::Long, (0.001, 7.0)),
            (ImageType::Float, (1.0, 0.0)),
            (ImageType::Float, (3.0, -1.0)),
        ];
        for (data_type, scaling) in cases {
            let case = format!("{data_type:?} {scaling:?}");
            let values: Vec<f64> = match data_type {
                ImageType::UnsignedShort => values.iter().map(|v| v.abs()).collect(),
                _ => values.clone(),
            };
            let dir = written(data_type, &values, scaling);
            let mut source = FitsSource::open(&dir.path().join("t.fits")).unwrap();
            let image = source.image_hdus().remove(0).unwrap();
            let n = image.width * image.height;
            assert!(source.plain_data(&image, n).is_some(), "{case}");
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            let expected = bits(&source.read_pixels_cfitsio(&image, n).unwrap());
            assert_eq!(
                bits(&source.read_pixels(&image).unwrap()),
                expected,
                "{case}"
            );
            let mut blocks = Vec::new();
            source
                .for_each_pixel_block(&image, 333, |b| blocks.extend_from_slice(b))
                .unwrap();
            assert_eq!(bits(&blocks), expected, "{case} in blocks");
            assert!(expected.iter().any(|&b| b != 0), "{case}");
        }
    }

    /// A data unit cut short on disk goes to cfitsio, whose error names the problem.
    #[test]
    fn truncated_data_is_not_read_directly() {
        let values: Vec<f64> = (0..2 * 2000).map(f64::from).collect();
        let dir = written(ImageType::Long, &values, (1.0, 0.0));
        let path = dir.path().join("t.fits");
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() - 2 * 2880]).unwrap();
        let mut source = FitsSource::open(&path).unwrap();
        let image = source.image_hdus().remove(0).unwrap();
        assert!(source.plain_data(&image, 4000).is_none());
        let error = source.read_pixels(&image).unwrap_err().to_string();
        assert!(error.contains("truncated"), "{error}");
    }
}
