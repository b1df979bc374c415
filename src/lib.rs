//! cometphot: cometary photometry from raw NOT/ALFOSC frames to the heliocentric lightcurve.
//!
//! Module map (DESIGN §2): [`frame`] reads FITS frames and instrument profiles, [`scan`]
//! classifies a directory, [`simulate`] writes synthetic ALFOSC frames with known truth,
//! [`ephem`] holds time scales (and later the geometry), [`wcs`] the sky projection.

pub(crate) mod bands;
pub(crate) mod buckets;
pub mod dust;
pub mod ephem;
pub mod frame;
pub mod image;
pub mod lightcurve;
pub mod photometry;
pub mod plots;
pub mod reduce;
pub mod scan;
pub mod simulate;
pub mod stats;
pub mod table;
pub mod wcs;
