//! DS9 region files of the comet's apertures (SAOImageDS9 region format 4.1).
//!
//! Coordinates are DS9 `image` coordinates of the calibrated (trimmed) frame: 1-based, pixel
//! centres on integers, so x_ds9 = x + 1 for cometphot's 0-based x (DESIGN §4). Radii are in
//! pixels.

use std::fmt::Write as _;

use super::measure::{CometPhotometry, FrameDiagnostics};

/// The region file of one frame: each photometric aperture (green, labelled with its radius
/// in km and arcsec), the sky annulus (yellow, dashed), the predicted position (red cross) and
/// the zero-point stars (cyan when used, red when rejected).
pub fn ds9_regions(file: &str, diagnostics: &FrameDiagnostics, rows: &[CometPhotometry]) -> String {
    let d = diagnostics;
    let (cx, cy) = (d.x_px + 1.0, d.y_px + 1.0);
    let mut text = String::new();
    // Writing to a String cannot fail.
    let _ = writeln!(text, "# Region file format: DS9 version 4.1");
    let _ = writeln!(
        text,
        "# cometphot: {file}; image coordinates of the calibrated (trimmed) frame, 1-based"
    );
    let _ = writeln!(
        text,
        "global color=green width=1 font=\"helvetica 10 normal roman\""
    );
    let _ = writeln!(text, "image");
    for row in rows {
        let radius_px = row.radius_arcsec / d.scale_arcsec_per_px;
        let _ = writeln!(
            text,
            "circle({cx:.3},{cy:.3},{radius_px:.3}) # color=green text={{{:.0} km = {:.2}\"}}",
            row.radius_km, row.radius_arcsec
        );
    }
    let (inner, outer) = d.annulus_px;
    let _ = writeln!(
        text,
        "annulus({cx:.3},{cy:.3},{inner:.3},{outer:.3}) # color=yellow dash=1 text={{sky}}"
    );
    let (px, py) = d.predicted_px;
    let _ = writeln!(
        text,
        "point({:.3},{:.3}) # point=x color=red text={{predicted}}",
        px + 1.0,
        py + 1.0
    );
    let star_radius_px = 2.0 * d.fwhm_px;
    for s in &d.zero_point_stars {
        let colour = if s.used { "cyan" } else { "red" };
        let _ = writeln!(
            text,
            "circle({:.3},{:.3},{star_radius_px:.3}) # color={colour} text={{{:.2}}}",
            s.x_px + 1.0,
            s.y_px + 1.0,
            s.star.catalogue_mag
        );
    }
    text
}
