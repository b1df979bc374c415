//! Reduction of raw CCD frames: overscan, trimming, master bias and flats, flat fielding,
//! conversion to electrons, pixel masks and cosmic-ray cleaning.

use crate::frame::meta::FrameMeta;
use crate::image::{Image, PixelMask};
use crate::wcs::TanWcs;
use std::path::PathBuf;

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
