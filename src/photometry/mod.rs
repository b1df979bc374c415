//! Photometry of calibrated frames: background, source detection and centroids, apertures with
//! exact pixel overlap, astrometric refinement, zero points, and the comet's fixed-aperture
//! measurement.
pub mod catalogue;
pub mod comet;
pub mod zeropoint;
