//! Photometry of calibrated frames: background, source detection and centroids, apertures with
//! exact pixel overlap, astrometric refinement, zero points, and the comet's fixed-aperture
//! measurement.

pub mod aperture;
pub mod astrometry;
pub mod background;
pub mod catalogue;
pub mod centroid;
pub mod comet;
pub mod detect;
pub mod measure;
pub mod regions;
pub mod source_mask;
pub mod standards;
pub mod table;
pub mod zeropoint;
