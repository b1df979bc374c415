//! World coordinate systems: the gnomonic (TAN) projection with a CD matrix
//! (Calabretta & Greisen 2002, A&A 395, 1077, §5.1.3; Greisen & Calabretta 2002 for CD).
//!
//! Pixel coordinates follow DESIGN §3: 0-based, pixel centres at integers. FITS `CRPIX` is
//! 1-based; the conversion happens here and nowhere else.

use crate::frame::header::{Header, HeaderValue};

/// A TAN projection: reference pixel (0-based), reference sky position (deg) and the CD
/// matrix (deg/pixel), `[[CD1_1, CD1_2], [CD2_1, CD2_2]]`.
#[derive(Debug, Clone, PartialEq)]
pub struct TanWcs {
    pub crpix_px: [f64; 2],
    pub crval_deg: [f64; 2],
    pub cd_deg_per_px: [[f64; 2]; 2],
}

impl TanWcs {
    /// A north-up, east-left WCS with a square pixel scale rotated by `rotation_deg`
    /// (angle of the +y axis from north through east).
    pub fn north_up(
        crpix_px: [f64; 2],
        crval_deg: [f64; 2],
        scale_arcsec_per_px: f64,
        rotation_deg: f64,
    ) -> Self {
        let s = scale_arcsec_per_px / 3600.0;
        let (sin_r, cos_r) = rotation_deg.to_radians().sin_cos();
        TanWcs {
            crpix_px,
            crval_deg,
            cd_deg_per_px: [[-s * cos_r, s * sin_r], [s * sin_r, s * cos_r]],
        }
    }

    /// Reads `CTYPEi = RA---TAN/DEC--TAN`, `CRPIXi`, `CRVALi` and either `CDi_j` or
    /// `CDELTi` (+ optional `CROTA2`). Returns `None` when any is missing.
    pub fn from_header(header: &Header) -> Option<TanWcs> {
        let ctype1 = header.text("CTYPE1")?;
        let ctype2 = header.text("CTYPE2")?;
        if !ctype1.starts_with("RA---TAN") || !ctype2.starts_with("DEC--TAN") {
            return None;
        }
        let crpix = [
            header.number("CRPIX1")? - 1.0,
            header.number("CRPIX2")? - 1.0,
        ];
        let crval = [header.number("CRVAL1")?, header.number("CRVAL2")?];
        let cd = if header.contains("CD1_1") || header.contains("CD2_2") {
            let get = |k: &str| header.number(k).unwrap_or(0.0);
            [[get("CD1_1"), get("CD1_2")], [get("CD2_1"), get("CD2_2")]]
        } else {
            let (d1, d2) = (header.number("CDELT1")?, header.number("CDELT2")?);
            let (sin_r, cos_r) = header
                .number("CROTA2")
                .unwrap_or(0.0)
                .to_radians()
                .sin_cos();
            [[d1 * cos_r, -d2 * sin_r], [d1 * sin_r, d2 * cos_r]]
        };
        Some(TanWcs {
            crpix_px: crpix,
            crval_deg: crval,
            cd_deg_per_px: cd,
        })
    }

    /// Header cards for this WCS (1-based CRPIX).
    pub fn to_cards(&self) -> Vec<(&'static str, HeaderValue, &'static str)> {
        let f = HeaderValue::Float;
        vec![
            (
                "CTYPE1",
                HeaderValue::Str("RA---TAN".into()),
                "gnomonic projection",
            ),
            (
                "CTYPE2",
                HeaderValue::Str("DEC--TAN".into()),
                "gnomonic projection",
            ),
            (
                "CRPIX1",
                f(self.crpix_px[0] + 1.0),
                "reference pixel (1-based)",
            ),
            (
                "CRPIX2",
                f(self.crpix_px[1] + 1.0),
                "reference pixel (1-based)",
            ),
            (
                "CRVAL1",
                f(self.crval_deg[0]),
                "[deg] RA at reference pixel",
            ),
            (
                "CRVAL2",
                f(self.crval_deg[1]),
                "[deg] Dec at reference pixel",
            ),
            ("CD1_1", f(self.cd_deg_per_px[0][0]), "[deg/px]"),
            ("CD1_2", f(self.cd_deg_per_px[0][1]), "[deg/px]"),
            ("CD2_1", f(self.cd_deg_per_px[1][0]), "[deg/px]"),
            ("CD2_2", f(self.cd_deg_per_px[1][1]), "[deg/px]"),
        ]
    }

    /// Sky position (RA, Dec in deg) of a 0-based pixel position.
    pub fn pixel_to_world(&self, x_px: f64, y_px: f64) -> (f64, f64) {
        let dx = x_px - self.crpix_px[0];
        let dy = y_px - self.crpix_px[1];
        let cd = &self.cd_deg_per_px;
        let xi = (cd[0][0] * dx + cd[0][1] * dy).to_radians();
        let eta = (cd[1][0] * dx + cd[1][1] * dy).to_radians();
        let (ra0, dec0) = (
            self.crval_deg[0].to_radians(),
            self.crval_deg[1].to_radians(),
        );
        let denom = dec0.cos() - eta * dec0.sin();
        let ra = ra0 + xi.atan2(denom);
        let dec = (dec0.sin() + eta * dec0.cos()).atan2((xi * xi + denom * denom).sqrt());
        (ra.to_degrees().rem_euclid(360.0), dec.to_degrees())
    }

    /// 0-based pixel position of a sky position; `None` on the far hemisphere.
    pub fn world_to_pixel(&self, ra_deg: f64, dec_deg: f64) -> Option<(f64, f64)> {
        let (ra, dec) = (ra_deg.to_radians(), dec_deg.to_radians());
        let (ra0, dec0) = (
            self.crval_deg[0].to_radians(),
            self.crval_deg[1].to_radians(),
        );
        let cos_c = dec0.sin() * dec.sin() + dec0.cos() * dec.cos() * (ra - ra0).cos();
        if cos_c <= 0.0 {
            return None;
        }
        let xi = (dec.cos() * (ra - ra0).sin() / cos_c).to_degrees();
        let eta = ((dec0.cos() * dec.sin() - dec0.sin() * dec.cos() * (ra - ra0).cos()) / cos_c)
            .to_degrees();
        let cd = &self.cd_deg_per_px;
        let det = cd[0][0] * cd[1][1] - cd[0][1] * cd[1][0];
        if det == 0.0 {
            return None;
        }
        let dx = (cd[1][1] * xi - cd[0][1] * eta) / det;
        let dy = (-cd[1][0] * xi + cd[0][0] * eta) / det;
        Some((dx + self.crpix_px[0], dy + self.crpix_px[1]))
    }

    /// Pixel scale (arcsec/px), the square root of |det CD|.
    pub fn scale_arcsec_per_px(&self) -> f64 {
        let cd = &self.cd_deg_per_px;
        (cd[0][0] * cd[1][1] - cd[0][1] * cd[1][0]).abs().sqrt() * 3600.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_near_pole_and_equator() {
        for (ra, dec) in [(152.56, -1.01), (287.32, 59.49), (10.0, 88.5)] {
            let w = TanWcs::north_up([1024.0, 1026.0], [ra, dec], 0.2138, 17.0);
            for (x, y) in [
                (0.0, 0.0),
                (2047.0, 5.5),
                (1024.0, 1026.0),
                (300.25, 1999.75),
            ] {
                let (r, d) = w.pixel_to_world(x, y);
                let (x2, y2) = w.world_to_pixel(r, d).unwrap();
                assert!(
                    (x - x2).abs() < 1e-7 && (y - y2).abs() < 1e-7,
                    "{x} {y} {x2} {y2}"
                );
            }
            assert!((w.scale_arcsec_per_px() - 0.2138).abs() < 1e-12);
        }
    }

    #[test]
    fn east_is_left_north_is_up() {
        let w = TanWcs::north_up([100.0, 100.0], [180.0, 0.0], 1.0, 0.0);
        let (x, y) = w.world_to_pixel(180.0 + 10.0 / 3600.0, 0.0).unwrap();
        assert!((x - 90.0).abs() < 1e-6 && (y - 100.0).abs() < 1e-6);
        let (x, y) = w.world_to_pixel(180.0, 10.0 / 3600.0).unwrap();
        assert!((x - 100.0).abs() < 1e-6 && (y - 110.0).abs() < 1e-6);
    }
}
