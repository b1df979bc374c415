//! Reading FITS files: headers of every image HDU, pixels as f32 with BZERO/BSCALE applied,
//! and whole frames (one or several amplifiers) with their metadata.
//!
//! cfitsio (bundled through `fitsio`) does the decoding: 8/16/32/64-bit integers and 32/64-bit
//! floats, gzip-compressed files (`.fits.gz`) and tile-compressed images (`.fits.fz`), which it
//! presents as ordinary image HDUs. Files are always opened read-only.

use std::ffi::{c_char, c_int, CStr};
use std::io::Read;
use std::path::{Path, PathBuf};

use fitsio::hdu::HduInfo;
use fitsio::FitsFile;

use super::header::Header;
use super::meta::{extract_meta, FrameMeta, MetaProblem, Severity};
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

/// An open FITS file.
pub struct FitsSource {
    path: PathBuf,
    file: FitsFile,
    primary: Header,
}

fn display(path: &Path) -> String {
    path.display().to_string()
}

impl FitsSource {
    /// Opens a file read-only after checking that its content is FITS (or gzip).
    pub fn open(path: &Path) -> Result<Self, FrameError> {
        let shown = display(path);
        match sniff(path)? {
            FileKind::Fits | FileKind::Gzip => {}
            FileKind::Other => {
                return Err(FrameError::NotFits {
                    path: shown,
                    reason: "it does not start with the FITS card 'SIMPLE  ='".into(),
                })
            }
        }
        if path.to_str().is_none() {
            return Err(FrameError::Fits {
                path: shown,
                message: "the file name is not valid UTF-8".into(),
            });
        }
        let mut file = FitsFile::open(path).map_err(|e| FrameError::Fits {
            path: shown.clone(),
            message: e.to_string(),
        })?;
        let primary_hdu = file.primary_hdu().map_err(|e| FrameError::Hdu {
            path: shown.clone(),
            hdu: 0,
            message: format!("cannot read the primary header: {e}"),
        })?;
        drop(primary_hdu);
        let primary = header_of_current_hdu(&mut file).map_err(|message| FrameError::Hdu {
            path: shown.clone(),
            hdu: 0,
            message,
        })?;
        Ok(FitsSource {
            path: path.to_path_buf(),
            file,
            primary,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn primary_header(&self) -> &Header {
        &self.primary
    }

    /// Every image HDU holding data, in file order. A problem with one HDU (unreadable header,
    /// unsupported layout) is returned in place as an error so the others can still be used.
    /// Empty image HDUs (NAXIS = 0, or a zero-length axis) and tables are left out.
    pub fn image_hdus(&mut self) -> Vec<Result<ImageHdu, FrameError>> {
        let shown = display(&self.path);
        let count = match self.file.num_hdus() {
            Ok(n) => n,
            Err(e) => {
                return vec![Err(FrameError::Fits {
                    path: shown,
                    message: format!("cannot count HDUs (file truncated?): {e}"),
                })]
            }
        };
        let mut result = Vec::new();
        for index in 0..count {
            let hdu = match self.file.hdu(index) {
                Ok(h) => h,
                Err(e) => {
                    result.push(Err(FrameError::Hdu {
                        path: shown.clone(),
                        hdu: index,
                        message: format!("cannot read the header (file truncated?): {e}"),
                    }));
                    break;
                }
            };
            let shape = match &hdu.info {
                HduInfo::ImageInfo { shape, .. } => shape.clone(),
                _ => continue,
            };
            if shape.is_empty() || shape.contains(&0) {
                continue;
            }
            let own = match header_of_current_hdu(&mut self.file) {
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
                width: shape[1],
                height: shape[0],
                header,
            }));
        }
        result
    }

    /// Pixels of an image HDU as f32 (BZERO/BSCALE applied), row-major, row 0 = FITS row 1.
    pub fn read_pixels(&mut self, image: &ImageHdu) -> Result<Vec<f32>, FrameError> {
        let err = |message: String| FrameError::Hdu {
            path: display(&self.path),
            hdu: image.hdu,
            message,
        };
        let hdu = self
            .file
            .hdu(image.hdu)
            .map_err(|e| err(format!("cannot select HDU: {e}")))?;
        let pixels: Vec<f32> = hdu.read_image(&mut self.file).map_err(|e| {
            err(format!(
                "cannot read the pixel data (file truncated or corrupt?): {e}"
            ))
        })?;
        if pixels.len() != image.width * image.height {
            return Err(err(format!(
                "read {} pixels, expected NAXIS1 × NAXIS2 = {} × {}",
                pixels.len(),
                image.width,
                image.height
            )));
        }
        Ok(pixels)
    }
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
        let compressed = fitsio::sys::fits_is_compressed_image(raw, &mut status);
        if compressed != 0 {
            fitsio::sys::ffcnvthdr2str(
                raw,
                0,
                std::ptr::null_mut(),
                0,
                &mut text,
                &mut nkeys,
                &mut status,
            );
        } else {
            fitsio::sys::ffhdr2str(
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
            Ok(Header::from_card_images(
                &CStr::from_ptr(text).to_string_lossy(),
            ))
        } else {
            Err(format!("cfitsio status {status} reading the header"))
        };
        if !text.is_null() {
            let mut free_status: c_int = 0;
            fitsio::sys::fffree(text.cast(), &mut free_status);
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
        });
    }
    Ok(Frame {
        path: path.to_path_buf(),
        primary: source.primary_header().clone(),
        amplifiers,
    })
}
