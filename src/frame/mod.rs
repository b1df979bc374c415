//! FITS frames: header model, instrument profiles, metadata, reading and writing.

pub mod header;
pub mod meta;
pub mod plain_data;
pub mod prefetch;
pub mod profile;
pub mod read;
pub mod section;
pub mod write;

use thiserror::Error;

/// Errors reading or writing a frame. Every message names the file, and the HDU and
/// keyword where there is one.
#[derive(Debug, Error)]
pub enum FrameError {
    #[error("{path}: not a FITS file ({reason})")]
    NotFits { path: String, reason: String },
    #[error("{path}: cannot read: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: FITS error: {message}")]
    Fits { path: String, message: String },
    #[error("{path} HDU {hdu}: {message}")]
    Hdu {
        path: String,
        hdu: usize,
        message: String,
    },
    /// `detail` lists the HDUs without an image and why (`; HDU 1 'im1': NAXIS = 0`).
    #[error("{path}: no image HDU with data{detail}")]
    NoImage { path: String, detail: String },
}
