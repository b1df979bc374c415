//! Reduction of raw CCD frames: overscan, trimming, master bias and flats, flat fielding,
//! conversion to electrons, pixel masks and cosmic-ray cleaning.
//!
//! Steps, one module each (pure functions with typed results):
//!
//! - [`overscan`]: robust overscan level per row (optionally smoothed), subtraction, trim;
//! - [`prepare`]: a raw [`Frame`](crate::frame::read::Frame) → overscan-subtracted, trimmed,
//!   assembled (multi-amplifier frames through DETSEC) image in electrons, with the raw
//!   NONFINITE and SATURATED masks and the trim offset;
//! - [`combine`]: per-pixel median / mean / sigma-clipped mean of a stack;
//! - [`master`]: [`master::MasterBias`] and [`master::MasterFlat`] per [`Layout`] (and filter);
//! - [`calibrate`]: prepared frame − master bias ÷ master flat → [`CalibratedFrame`];
//! - [`cosmic`]: L.A.Cosmic-style cosmic-ray detection and replacement;
//! - [`illumination`]: illumination correction (night-sky flat) from the flat-fielded
//!   science frames of a filter;
//! - [`write`]: calibrated frames and masters as FITS (float32 image + uint8 MASK extension);
//! - [`pipeline`]: [`pipeline::reduce_directory`], the `cometphot reduce` step.
//!
//! Order of operations for a science frame, all in 0-based pixels of the raw image:
//! saturation/non-finite mask on the raw ADU → overscan level subtracted per amplifier →
//! trim to the data section → × gain (e⁻) → − master bias (e⁻) → ÷ master flat → cosmic
//! rays. Subtracting the bias after the gain conversion is the same as before it (both are
//! linear) and lets multi-amplifier frames with different gains share one representation.

pub mod calibrate;
pub mod combine;
pub mod cosmic;
pub mod illumination;
pub mod master;
pub mod overscan;
pub mod pipeline;
pub mod prepare;
pub mod write;

use crate::frame::meta::{Binning, FrameMeta};
use crate::frame::FrameError;
use crate::image::{Image, PixelMask};
use crate::wcs::TanWcs;
use std::fmt;
use std::path::PathBuf;
use thiserror::Error;

/// A reduced frame: what photometry measures.
#[derive(Debug, Clone)]
pub struct CalibratedFrame {
    /// The raw file it comes from.
    pub source: PathBuf,
    /// Metadata of the raw frame (times, filter, exposure, binning...).
    pub meta: FrameMeta,
    /// Trimmed data in electrons: overscan- and bias-subtracted, flat-fielded, × gain. The sky
    /// is still in it.
    pub image_e: Image,
    /// Quality flags per pixel (see [`crate::image::pixel_flag`]).
    pub mask: PixelMask,
    /// Read noise (e⁻) and gain (e⁻/ADU) used.
    pub read_noise_e: f64,
    pub gain_e_per_adu: f64,
    /// The header WCS moved to the trimmed pixel grid (0-based CRPIX shifted by the trim).
    pub wcs: Option<TanWcs>,
    /// What was done, one line each (also written as FITS HISTORY cards).
    pub history: Vec<String>,
}

/// What makes calibration frames interchangeable: same instrument, binning, readout window
/// and raw image size (per amplifier) and number of amplifiers. Masters are built and
/// applied per layout; flats additionally per filter.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Layout {
    pub instrument: String,
    /// Binning (columns, rows).
    pub binning: (u32, u32),
    /// Raw size of the first amplifier's image (NAXIS1, NAXIS2).
    pub width: usize,
    pub height: usize,
    pub n_amplifiers: usize,
    /// Readout window as the header gives it (ALFOSC DETWIN1), if any.
    pub window: Option<String>,
}

impl Layout {
    pub fn binning(&self) -> Binning {
        Binning {
            x: self.binning.0,
            y: self.binning.1,
        }
    }

    /// A file-name-safe form: `alfosc_1x1_400x300` (+ `_w<window>` when windowed).
    pub fn slug(&self) -> String {
        let mut s = format!(
            "{}_{}x{}_{}x{}",
            self.instrument, self.binning.0, self.binning.1, self.width, self.height
        );
        if self.n_amplifiers > 1 {
            s.push_str(&format!("_{}amp", self.n_amplifiers));
        }
        if let Some(w) = &self.window {
            s.push_str("_w");
            s.push_str(&safe_name(w));
        }
        s
    }
}

impl fmt::Display for Layout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} binning {}x{}, {} x {} px",
            self.instrument, self.binning.0, self.binning.1, self.width, self.height
        )?;
        if self.n_amplifiers > 1 {
            write!(f, " x {} amplifiers", self.n_amplifiers)?;
        }
        if let Some(w) = &self.window {
            write!(f, ", window {w}")?;
        }
        Ok(())
    }
}

/// Keeps letters, digits, `-`, `.` and `+`; everything else becomes `_` (runs collapsed,
/// ends trimmed). `"R_Bes 650_130"` → `R_Bes_650_130`, `"[1:400, 1:300]"` → `1-400_1-300`.
pub fn safe_name(text: &str) -> String {
    let mapped: String = text
        .chars()
        .map(|c| match c {
            ':' => '-',
            c if c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '+') => c,
            _ => '_',
        })
        .collect();
    let mut out = String::with_capacity(mapped.len());
    for c in mapped.chars() {
        if c == '_' && out.ends_with('_') {
            continue;
        }
        out.push(c);
    }
    out.trim_matches('_').to_string()
}

/// Errors of the reduction. Each names the file (and filter, binning, section) concerned.
#[derive(Debug, Error)]
pub enum ReduceError {
    #[error(transparent)]
    Frame(#[from] FrameError),
    /// The scan's pixel checks, made on the pipeline's read, refuse the frame (the scan's
    /// message, naming the file and HDU).
    #[error("{0}")]
    Scan(String),
    #[error("{file}: {message}")]
    Unusable { file: String, message: String },
    #[error("{file}: {message}")]
    Layout { file: String, message: String },
    #[error("{file}: no master bias for {layout}")]
    NoBias { file: String, layout: String },
    #[error("{file}: no master flat for filter '{filter}', binning {binning} ({layout})")]
    NoFlat {
        file: String,
        filter: String,
        binning: Binning,
        layout: String,
    },
    #[error("{file}: {what} does not match: {message}")]
    Mismatch {
        file: String,
        what: &'static str,
        message: String,
    },
    #[error("cannot combine: {message}")]
    Combine { message: String },
    #[error("{what}: {message}")]
    Master { what: String, message: String },
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("output directory {out}: {message}")]
    Output { out: String, message: String },
}

/// Filter name as shown in messages and file names (`none` when the frame has no filter).
pub fn filter_label(filter: Option<&str>) -> String {
    filter.unwrap_or("none").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_file_safe() {
        assert_eq!(safe_name("R_Bes 650_130"), "R_Bes_650_130");
        assert_eq!(safe_name("r'_SDSS 618_148"), "r_SDSS_618_148");
        assert_eq!(safe_name("[851:1250, 1:2102]"), "851-1250_1-2102");
        assert_eq!(safe_name("g#782"), "g_782");
        let layout = Layout {
            instrument: "alfosc".into(),
            binning: (1, 2),
            width: 400,
            height: 1051,
            n_amplifiers: 1,
            window: Some("[851:1250, 1:2102]".into()),
        };
        assert_eq!(layout.slug(), "alfosc_1x2_400x1051_w851-1250_1-2102");
        assert_eq!(
            layout.to_string(),
            "alfosc binning 1x2, 400 x 1051 px, window [851:1250, 1:2102]"
        );
    }
}
