//! Detector layout of the simulated ALFOSC CCD and the mapping from a readout window and
//! binning to the written image.
//!
//! Simulator convention (1-based FITS columns/rows, unbinned): the raw frame is 2148 × 2102
//! px; columns 1–52 are prescan (BIASSEC `[3:52,1:2102]` as ALFOSC writes it), columns
//! 53–2100 hold data, columns 2101–2148 are overscan; rows 1–2052 hold data and rows
//! 2053–2102 are overscan. Only data pixels collect light; every pixel gets bias and read
//! noise. Inside this module coordinates are 0-based (pixel centres at integers, DESIGN §3).
//!
//! A readout window (`DETWIN1`, unbinned detector pixels, 1-based inclusive) binned by
//! (bx, by) gives an image of `⌊width/bx⌋ × ⌊height/by⌋` pixels; a trailing partial bin is
//! not read. Image pixel (i, j) sums the unbinned pixels `x0 + i·bx … x0 + (i+1)·bx − 1`
//! (and likewise in y), so its centre is at detector `X = x0 + i·bx + (bx − 1)/2`.

use std::ops::Range;

use crate::frame::section::Section;
use crate::wcs::TanWcs;

/// Unbinned size of the full raw frame (px).
pub const FULL_WIDTH_PX: usize = 2148;
pub const FULL_HEIGHT_PX: usize = 2102;
/// Light-sensitive columns and rows (0-based, half-open): FITS columns 53–2100, rows 1–2052.
pub const DATA_COLUMNS: Range<usize> = 52..2100;
pub const DATA_ROWS: Range<usize> = 0..2052;
/// Prescan region as ALFOSC writes it in BIASSEC (unbinned, even for windows and binning).
pub const BIASSEC: &str = "[3:52,1:2102]";
/// Unbinned pixel scale of ALFOSC (arcsec/px), DESIGN §5.
pub const PIXEL_SCALE_ARCSEC_PER_PX: f64 = 0.2138;

/// True when the unbinned detector pixel collects light.
pub fn is_data_pixel(x_det: usize, y_det: usize) -> bool {
    DATA_COLUMNS.contains(&x_det) && DATA_ROWS.contains(&y_det)
}

/// Intersection of two half-open ranges (empty when they do not overlap).
fn intersect(a: &Range<usize>, b: &Range<usize>) -> Range<usize> {
    a.start.max(b.start)..a.end.min(b.end)
}

/// A readout: window on the detector and binning.
#[derive(Debug, Clone, PartialEq)]
pub struct Readout {
    /// First unbinned detector column and row of the window (0-based).
    pub x0: usize,
    pub y0: usize,
    pub binning_x: usize,
    pub binning_y: usize,
    /// Size of the written image (binned px).
    pub width: usize,
    pub height: usize,
    /// The window as requested (0-based, half-open, unbinned).
    pub window: Section,
}

impl Readout {
    /// Parses a `DETWIN1`-style window (`[x1:x2, y1:y2]`, unbinned, 1-based) and checks it
    /// against the detector.
    pub fn new(window: &str, binning_x: usize, binning_y: usize) -> Result<Readout, String> {
        let section = Section::parse(window)
            .ok_or_else(|| format!("'{window}' is not a window of the form [x1:x2, y1:y2]"))?;
        if section.x_flipped || section.y_flipped {
            return Err(format!(
                "window '{window}' must run from low to high pixels"
            ));
        }
        if !section.fits_within(FULL_WIDTH_PX, FULL_HEIGHT_PX) {
            return Err(format!(
                "window '{window}' exceeds the {FULL_WIDTH_PX} x {FULL_HEIGHT_PX} detector"
            ));
        }
        if binning_x == 0 || binning_y == 0 {
            return Err("binning must be at least 1".to_string());
        }
        let width = section.width() / binning_x;
        let height = section.height() / binning_y;
        if width == 0 || height == 0 {
            return Err(format!(
                "window '{window}' is smaller than one {binning_x}x{binning_y} binned pixel"
            ));
        }
        Ok(Readout {
            x0: section.x.start,
            y0: section.y.start,
            binning_x,
            binning_y,
            width,
            height,
            window: section,
        })
    }

    /// Unbinned detector columns and rows actually read (whole bins only).
    pub fn used_columns(&self) -> Range<usize> {
        self.x0..self.x0 + self.width * self.binning_x
    }

    pub fn used_rows(&self) -> Range<usize> {
        self.y0..self.y0 + self.height * self.binning_y
    }

    /// `DETWIN1` as ALFOSC writes it: `[x1:x2, y1:y2]` (1-based, unbinned, with a blank).
    pub fn detwin1(&self) -> String {
        let s = &self.window;
        format!(
            "[{}:{}, {}:{}]",
            s.x.start + 1,
            s.x.end,
            s.y.start + 1,
            s.y.end
        )
    }

    /// `CCDSUM` (`'bx by'`).
    pub fn ccdsum(&self) -> String {
        format!("{} {}", self.binning_x, self.binning_y)
    }

    /// Image coordinates (binned, 0-based) of an unbinned detector position.
    pub fn detector_to_image(&self, x_det: f64, y_det: f64) -> (f64, f64) {
        let (bx, by) = (self.binning_x as f64, self.binning_y as f64);
        (
            (x_det - self.x0 as f64 - 0.5 * (bx - 1.0)) / bx,
            (y_det - self.y0 as f64 - 0.5 * (by - 1.0)) / by,
        )
    }

    /// Unbinned detector position of image coordinates (inverse of
    /// [`Readout::detector_to_image`]).
    pub fn image_to_detector(&self, x_img: f64, y_img: f64) -> (f64, f64) {
        let (bx, by) = (self.binning_x as f64, self.binning_y as f64);
        (
            x_img * bx + self.x0 as f64 + 0.5 * (bx - 1.0),
            y_img * by + self.y0 as f64 + 0.5 * (by - 1.0),
        )
    }

    /// Centre (unbinned detector px) of the light-sensitive part of the used window, or of
    /// the window when it holds no data pixels: where the telescope puts the pointing.
    pub fn optical_centre(&self) -> [f64; 2] {
        let cols = self.used_columns();
        let rows = self.used_rows();
        let xs = intersect(&cols, &DATA_COLUMNS);
        let ys = intersect(&rows, &DATA_ROWS);
        let mid = |r: &Range<usize>| 0.5 * (r.start as f64 + r.end as f64 - 1.0);
        if xs.is_empty() || ys.is_empty() {
            [mid(&cols), mid(&rows)]
        } else {
            [mid(&xs), mid(&ys)]
        }
    }

    /// The image WCS corresponding to a detector WCS (unbinned pixels): CRPIX moved to the
    /// window and divided by the binning, CD columns multiplied by it.
    pub fn image_wcs(&self, detector: &TanWcs) -> TanWcs {
        let (cx, cy) = self.detector_to_image(detector.crpix_px[0], detector.crpix_px[1]);
        let (bx, by) = (self.binning_x as f64, self.binning_y as f64);
        let cd = &detector.cd_deg_per_px;
        TanWcs {
            crpix_px: [cx, cy],
            crval_deg: detector.crval_deg,
            cd_deg_per_px: [
                [cd[0][0] * bx, cd[0][1] * by],
                [cd[1][0] * bx, cd[1][1] * by],
            ],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_frame_and_binned_windows() {
        let full = Readout::new("[1:2148, 1:2102]", 1, 1).unwrap();
        assert_eq!((full.width, full.height), (2148, 2102));
        assert_eq!(full.detwin1(), "[1:2148, 1:2102]");
        let w = Readout::new("[851:1250, 1:2102]", 1, 2).unwrap();
        assert_eq!((w.width, w.height), (400, 1051));
        assert_eq!(w.ccdsum(), "1 2");
        let b = Readout::new("[101:400,201:500]", 3, 2).unwrap();
        assert_eq!((b.width, b.height), (100, 150));
        let (x, y) = b.detector_to_image(101.0, 200.5);
        assert!((x - 0.0).abs() < 1e-12 && (y - 0.0).abs() < 1e-12);
        let (xd, yd) = b.image_to_detector(7.25, 3.5);
        let (x, y) = b.detector_to_image(xd, yd);
        assert!((x - 7.25).abs() < 1e-12 && (y - 3.5).abs() < 1e-12);
        assert!(Readout::new("[1:3000,1:10]", 1, 1).is_err());
        assert!(Readout::new("[1:1,1:10]", 2, 1).is_err());
        assert!(Readout::new("nonsense", 1, 1).is_err());
    }

    #[test]
    fn data_region_and_wcs_mapping() {
        assert!(!is_data_pixel(51, 0) && is_data_pixel(52, 0) && is_data_pixel(2099, 2051));
        assert!(!is_data_pixel(2100, 10) && !is_data_pixel(100, 2052));
        let r = Readout::new("[1001:1400,1001:1400]", 2, 2).unwrap();
        let det = TanWcs::north_up([1100.0, 1250.0], [265.0, -18.5], 0.2138, 0.0);
        let img = r.image_wcs(&det);
        for (xd, yd) in [(1100.0, 1250.0), (1010.5, 1390.25)] {
            let (ra, dec) = det.pixel_to_world(xd, yd);
            let (xi, yi) = img.world_to_pixel(ra, dec).unwrap();
            let (xe, ye) = r.detector_to_image(xd, yd);
            assert!((xi - xe).abs() < 1e-9 && (yi - ye).abs() < 1e-9);
        }
        assert!((img.scale_arcsec_per_px() - 0.4276).abs() < 1e-12);
    }
}
