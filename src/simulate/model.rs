//! Pure models for synthetic frames: point-spread function, 1/ρ coma with an optional fan or
//! tail, flat-field and bias patterns, photometric conversions, airmass and seed derivation.
//!
//! Coordinates here are unbinned detector pixels, 0-based with pixel centres at integers
//! (DESIGN §3); a pixel `(X, Y)` covers `[X − ½, X + ½] × [Y − ½, Y + ½]`. Nothing in this
//! module does I/O or draws random numbers from a stream: patterns that must be the same for
//! every frame of a night (flat field, bias rows) are hashes of (seed, pixel).

use std::f64::consts::PI;

// ---------------------------------------------------------------------------------------
// Seeds and hashes
// ---------------------------------------------------------------------------------------

/// SplitMix64 output function (Steele, Lea & Flood 2014, "Fast splittable pseudorandom
/// number generators", OOPSLA): a bijective 64-bit mixer.
pub fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A seed for sub-stream `stream`, item `index`, derived from the night seed. Distinct
/// (stream, index) pairs give unrelated seeds; the same pair always gives the same seed.
pub fn derive_seed(seed: u64, stream: u64, index: u64) -> u64 {
    splitmix64(splitmix64(seed ^ splitmix64(stream.wrapping_add(0x5EED))).wrapping_add(index))
}

/// Uniform deviate in (0, 1] from a 64-bit hash (53 significant bits).
fn unit_open0(h: u64) -> f64 {
    ((h >> 11) as f64 + 1.0) * (1.0 / (1u64 << 53) as f64)
}

/// Standard normal deviate from two hashes (Box & Muller 1958).
fn gaussian_from_hashes(h1: u64, h2: u64) -> f64 {
    let u1 = unit_open0(h1);
    let u2 = unit_open0(h2);
    (-2.0 * u1.ln()).sqrt() * (2.0 * PI * u2).cos()
}

// ---------------------------------------------------------------------------------------
// Point-spread function
// ---------------------------------------------------------------------------------------

/// Circular Moffat profile (Moffat 1969, A&A 3, 455), normalised to unit volume:
/// `P(r) = (β − 1) / (π α²) · (1 + r²/α²)^(−β)`, with `FWHM = 2 α √(2^(1/β) − 1)` and
/// enclosed fraction `E(r) = 1 − (1 + r²/α²)^(1 − β)` (needs β > 1).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Moffat {
    pub alpha_px: f64,
    pub beta: f64,
}

impl Moffat {
    pub fn from_fwhm(fwhm_px: f64, beta: f64) -> Moffat {
        let alpha_px = fwhm_px / (2.0 * (2f64.powf(1.0 / beta) - 1.0).sqrt());
        Moffat { alpha_px, beta }
    }

    pub fn fwhm_px(&self) -> f64 {
        2.0 * self.alpha_px * (2f64.powf(1.0 / self.beta) - 1.0).sqrt()
    }

    /// Surface density (fraction of the flux per px²) at squared radius `r2_px2`.
    pub fn density(&self, r2_px2: f64) -> f64 {
        let a2 = self.alpha_px * self.alpha_px;
        (self.beta - 1.0) / (PI * a2) * (1.0 + r2_px2 / a2).powf(-self.beta)
    }

    /// Fraction of the flux within radius `r_px`.
    pub fn enclosed_fraction(&self, r_px: f64) -> f64 {
        let a2 = self.alpha_px * self.alpha_px;
        1.0 - (1.0 + r_px * r_px / a2).powf(1.0 - self.beta)
    }

    /// Radius enclosing `fraction` (< 1) of the flux: `α √((1 − f)^(1/(1−β)) − 1)`.
    pub fn radius_enclosing(&self, fraction: f64) -> f64 {
        self.alpha_px * ((1.0 - fraction).powf(1.0 / (1.0 - self.beta)) - 1.0).sqrt()
    }

    /// Fraction of the flux falling on the pixel whose centre is at offset `(dx, dy)` px from
    /// the source: midpoint rule on an n × n sub-grid, n = 8 within 2 FWHM of the centre,
    /// 4 within 4 FWHM, 1 beyond (where the profile is nearly linear across a pixel).
    pub fn pixel_fraction(&self, dx: f64, dy: f64) -> f64 {
        let fwhm = self.fwhm_px();
        let d = (dx * dx + dy * dy).sqrt();
        let n: usize = if d < 2.0 * fwhm + 1.0 {
            8
        } else if d < 4.0 * fwhm + 1.0 {
            4
        } else {
            1
        };
        let step = 1.0 / n as f64;
        let mut sum = 0.0;
        for j in 0..n {
            let y = dy - 0.5 + (j as f64 + 0.5) * step;
            for i in 0..n {
                let x = dx - 0.5 + (i as f64 + 0.5) * step;
                sum += self.density(x * x + y * y);
            }
        }
        sum * step * step
    }
}

/// Fraction of a point source's flux that may be left out when rendering it (its wings
/// beyond the radius enclosing 1 − this fraction are not drawn).
pub const PSF_TRUNCATION_FRACTION: f64 = 1e-4;

// ---------------------------------------------------------------------------------------
// Coma
// ---------------------------------------------------------------------------------------

/// `G(x, y) = x·asinh(y/|x|) + y·asinh(x/|y|)` (each term 0 when its prefactor is 0): an
/// antiderivative of `1/√(x² + y²)` in x and y up to terms in x alone or y alone, since
/// `∂²/∂x∂y [x ln(y + r) + y ln(x + r)] = 1/r` and `ln(y + r) = ln|x| + asinh(y/|x|)`.
fn inverse_r_antiderivative(x: f64, y: f64) -> f64 {
    let tx = if x == 0.0 {
        0.0
    } else {
        x * (y / x.abs()).asinh()
    };
    let ty = if y == 0.0 {
        0.0
    } else {
        y * (x / y.abs()).asinh()
    };
    tx + ty
}

/// Exact `∬ dx dy / √(x² + y²)` over the rectangle `[x1, x2] × [y1, y2]` (px, relative to
/// the singular point). Over a unit square centred on the singularity it is
/// `4 ln(1 + √2) = 3.5255…`.
pub fn inverse_r_integral(x1: f64, x2: f64, y1: f64, y2: f64) -> f64 {
    inverse_r_antiderivative(x2, y2)
        - inverse_r_antiderivative(x1, y2)
        - inverse_r_antiderivative(x2, y1)
        + inverse_r_antiderivative(x1, y1)
}

/// An angular lobe added to the coma: a sunward fan or an antisolar tail.
///
/// The coma surface brightness becomes `k/ρ · A(θ)` with
/// `A(θ) = (1 − f) + f · g(θ − θ₀)/ḡ`, `g(Δ) = exp(κ (cos Δ − 1))` (a von Mises lobe, 1 on
/// its axis, ½ at `Δ = ±w/2` for `κ = ln 2 / (1 − cos(w/2))`), `ḡ` its azimuthal mean. The
/// azimuthal mean of A is 1, so the flux inside any circle centred on the nucleus is still
/// `2πkρ`: the lobe moves coma light into the direction θ₀ without changing the aperture
/// magnitude.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Lobe {
    /// Position angle of the lobe axis, east of north (rad).
    pub position_angle_rad: f64,
    /// Fraction f of the coma light in the lobe, 0–1.
    pub fraction: f64,
    /// Concentration κ.
    pub kappa: f64,
    /// Azimuthal mean ḡ of the lobe profile.
    pub mean: f64,
}

impl Lobe {
    /// A lobe at position angle `position_angle_deg` (east of north) with full width at half
    /// maximum `width_deg` (0 < w < 360) holding `fraction` of the coma light.
    pub fn new(position_angle_deg: f64, width_deg: f64, fraction: f64) -> Lobe {
        let half = (0.5 * width_deg).to_radians();
        let kappa = std::f64::consts::LN_2 / (1.0 - half.cos());
        // Trapezoid rule on a periodic integrand converges geometrically.
        let n = 8192;
        let mean = (0..n)
            .map(|i| (kappa * ((2.0 * PI * i as f64 / n as f64).cos() - 1.0)).exp())
            .sum::<f64>()
            / n as f64;
        Lobe {
            position_angle_rad: position_angle_deg.to_radians(),
            fraction,
            kappa,
            mean,
        }
    }

    /// `A(θ)` for position angle `theta_rad` (east of north).
    pub fn modulation(&self, theta_rad: f64) -> f64 {
        let g = (self.kappa * ((theta_rad - self.position_angle_rad).cos() - 1.0)).exp();
        (1.0 - self.fraction) + self.fraction * g / self.mean
    }
}

/// A 1/ρ coma: surface brightness `Σ(ρ) = k/ρ` (e⁻ per px² with ρ in px) out to
/// `outer_radius_px`, zero beyond, optionally modulated in angle by a [`Lobe`].
///
/// The flux inside radius ρ ≤ R is `2πkρ`; with k in e⁻/arcsec (Σ in e⁻/arcsec², ρ in
/// arcsec) the same law holds and `k_px = k_arcsec · s` for a pixel scale s (arcsec/px).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Coma {
    pub k_e_per_px: f64,
    pub outer_radius_px: f64,
    pub lobe: Option<Lobe>,
    /// CD matrix of the detector (deg/px) to turn pixel offsets into position angles.
    pub cd_deg_per_px: [[f64; 2]; 2],
}

/// Sub-cells per side for pixels cut by the outer edge.
const EDGE_SUBDIVISION: usize = 8;
/// Sub-cells per side near the nucleus when a lobe is present: `ceil(S / ρ_min)`, capped.
const LOBE_SUBDIVISION_SCALE_PX: f64 = 12.0;
const LOBE_SUBDIVISION_MAX: usize = 16;

impl Coma {
    /// Position angle (east of north, rad) of the pixel offset `(dx, dy)`.
    fn position_angle(&self, dx: f64, dy: f64) -> f64 {
        let cd = &self.cd_deg_per_px;
        let xi = cd[0][0] * dx + cd[0][1] * dy;
        let eta = cd[1][0] * dx + cd[1][1] * dy;
        xi.atan2(eta)
    }

    /// Expected electrons in the rectangle `[x1, x2] × [y1, y2]` (px, relative to the
    /// nucleus). The 1/ρ law is integrated exactly ([`inverse_r_integral`]); the lobe is
    /// evaluated at sub-cell centres (sub-cells shrink towards the nucleus) and the outer edge
    /// is resolved on an 8 × 8 sub-grid.
    pub fn rect_electrons(&self, x1: f64, x2: f64, y1: f64, y2: f64) -> f64 {
        let r_out = self.outer_radius_px;
        let nearest_x = if x1 > 0.0 {
            x1
        } else if x2 < 0.0 {
            -x2
        } else {
            0.0
        };
        let nearest_y = if y1 > 0.0 {
            y1
        } else if y2 < 0.0 {
            -y2
        } else {
            0.0
        };
        let r_min = nearest_x.hypot(nearest_y);
        if r_min >= r_out {
            return 0.0;
        }
        let far_x = x1.abs().max(x2.abs());
        let far_y = y1.abs().max(y2.abs());
        let r_max = far_x.hypot(far_y);
        let crosses_edge = r_max > r_out;
        let mut n = 1usize;
        if self.lobe.is_some() {
            let m = (LOBE_SUBDIVISION_SCALE_PX / r_min.max(1e-9)).ceil();
            n = n.max(m.min(LOBE_SUBDIVISION_MAX as f64) as usize);
        }
        if crosses_edge {
            n = n.max(EDGE_SUBDIVISION);
        }
        let (w, h) = ((x2 - x1) / n as f64, (y2 - y1) / n as f64);
        let mut sum = 0.0;
        for j in 0..n {
            let (ya, yb) = (y1 + j as f64 * h, y1 + (j + 1) as f64 * h);
            for i in 0..n {
                let (xa, xb) = (x1 + i as f64 * w, x1 + (i + 1) as f64 * w);
                let (xc, yc) = (0.5 * (xa + xb), 0.5 * (ya + yb));
                if crosses_edge && xc.hypot(yc) > r_out {
                    continue;
                }
                let a = match &self.lobe {
                    Some(lobe) => lobe.modulation(self.position_angle(xc, yc)),
                    None => 1.0,
                };
                sum += a * inverse_r_integral(xa, xb, ya, yb);
            }
        }
        self.k_e_per_px * sum
    }
}

// ---------------------------------------------------------------------------------------
// Photometry
// ---------------------------------------------------------------------------------------

/// Expected electrons from a source of magnitude `mag` (outside the atmosphere):
/// `N = t · 10^(−0.4 (m + k·X − ZP))`, where ZP is the magnitude that gives 1 e⁻/s above
/// the atmosphere and k the extinction coefficient (mag/airmass) at airmass X (e.g.
/// Pogson's law with the classical Bouguer extinction term; King 1985 for La Palma k).
pub fn electrons_from_mag(
    mag: f64,
    zero_point_mag: f64,
    extinction_mag_per_airmass: f64,
    airmass: f64,
    exptime_s: f64,
) -> f64 {
    exptime_s * 10f64.powf(-0.4 * (mag + extinction_mag_per_airmass * airmass - zero_point_mag))
}

/// Sky electrons per pixel: `t · s² · 10^(−0.4 (μ − ZP))` for a sky surface brightness μ
/// (mag/arcsec², as measured at the site, so no extinction term) and pixel side s (arcsec).
pub fn sky_electrons_per_px(
    sky_mag_per_arcsec2: f64,
    zero_point_mag: f64,
    pixel_scale_arcsec_per_px: f64,
    exptime_s: f64,
) -> f64 {
    exptime_s
        * pixel_scale_arcsec_per_px
        * pixel_scale_arcsec_per_px
        * 10f64.powf(-0.4 * (sky_mag_per_arcsec2 - zero_point_mag))
}

// ---------------------------------------------------------------------------------------
// Detector patterns
// ---------------------------------------------------------------------------------------

/// Flat-field response of the detector: smooth vignetting times pixel-to-pixel
/// non-uniformity, `F(X, Y) = (1 − v (r/r_c)²) · (1 + σ·N(X, Y))`, where r is the distance
/// from the centre of the data area, `r_c` its half-diagonal (so the corners lose a
/// fraction v), and N a standard normal deviate hashed from (seed, X, Y), the same for every
/// frame of a night whatever its window.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FlatPattern {
    pub seed: u64,
    pub vignetting_fraction: f64,
    pub pixel_rms: f64,
    pub centre_px: [f64; 2],
    pub corner_radius_px: f64,
}

impl FlatPattern {
    pub fn response(&self, x_det: usize, y_det: usize) -> f64 {
        let dx = x_det as f64 - self.centre_px[0];
        let dy = y_det as f64 - self.centre_px[1];
        let r2 = (dx * dx + dy * dy) / (self.corner_radius_px * self.corner_radius_px);
        let vignetting = 1.0 - self.vignetting_fraction * r2;
        let prnu = if self.pixel_rms == 0.0 {
            0.0
        } else {
            let key = splitmix64(self.seed ^ ((x_det as u64) << 32 | y_det as u64));
            self.pixel_rms * gaussian_from_hashes(key, splitmix64(key ^ 0xF1A7))
        };
        (vignetting * (1.0 + prnu)).max(0.0)
    }
}

/// Illumination of a flat-field source relative to the night sky: `1 + a·u·v` with
/// `u = (X − x_c)/half_width`, `v = (Y − y_c)/half_height` over a region of the detector
/// (a saddle: corners at `1 ± a`, the centre lines at 1).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SaddleIllumination {
    pub amplitude: f64,
    /// Centre and half sizes of the region (unbinned detector px).
    pub centre_px: [f64; 2],
    pub half_size_px: [f64; 2],
}

impl SaddleIllumination {
    pub fn factor(&self, x_det: usize, y_det: usize) -> f64 {
        let u = (x_det as f64 - self.centre_px[0]) / self.half_size_px[0];
        let v = (y_det as f64 - self.centre_px[1]) / self.half_size_px[1];
        1.0 + self.amplitude * u * v
    }
}

/// Bias level of a detector row: `B(Y) = B₀ + A · (0.6 sin(2πY/P₁ + φ₁) +
/// 0.4 sin(2πY/P₂ + φ₂) + 0.3·N(Y))` with periods, phases and the row jitter N (standard
/// normal) hashed from the seed. The same level is read in the overscan columns of the row,
/// so per-row overscan subtraction removes it exactly (up to read noise).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BiasPattern {
    pub seed: u64,
    pub level_adu: f64,
    pub row_amplitude_adu: f64,
}

impl BiasPattern {
    pub fn level_at_row(&self, y_det: f64) -> f64 {
        if self.row_amplitude_adu == 0.0 {
            return self.level_adu;
        }
        let h = |i: u64| splitmix64(self.seed ^ i.wrapping_mul(0x9E37_79B9));
        let p1 = 300.0 + 700.0 * unit_open0(h(1));
        let p2 = 20.0 + 60.0 * unit_open0(h(2));
        let phi1 = 2.0 * PI * unit_open0(h(3));
        let phi2 = 2.0 * PI * unit_open0(h(4));
        let row = y_det.round() as i64 as u64;
        let key = splitmix64(self.seed ^ 0xB1A5 ^ row.wrapping_mul(0xA24B_AED4_963E_E407));
        let jitter = gaussian_from_hashes(key, splitmix64(key));
        self.level_adu
            + self.row_amplitude_adu
                * (0.6 * (2.0 * PI * y_det / p1 + phi1).sin()
                    + 0.4 * (2.0 * PI * y_det / p2 + phi2).sin()
                    + 0.3 * jitter)
    }
}

// ---------------------------------------------------------------------------------------
// Site and airmass
// ---------------------------------------------------------------------------------------

/// NOT site (DESIGN §5): latitude, east longitude (deg).
pub const NOT_LATITUDE_DEG: f64 = 28.75728;
pub const NOT_EAST_LONGITUDE_DEG: f64 = -17.88508;
/// Geocentric Cartesian coordinates of the NOT written by ALFOSC (OBSGEO-X/Y/Z, m).
pub const NOT_OBSGEO_M: [f64; 3] = [5327395.9638, -1719170.4876, 3051490.766];

/// Greenwich mean sidereal time (deg) at Julian date `jd` (UT1; UTC is used for UT1, an
/// error below 1 s): Meeus, Astronomical Algorithms (1998), eq. 12.4 (IAU 1982).
pub fn gmst_deg(jd: f64) -> f64 {
    let d = jd - 2_451_545.0;
    let t = d / 36_525.0;
    (280.460_618_37 + 360.985_647_366_29 * d + 0.000_387_933 * t * t - t * t * t / 38_710_000.0)
        .rem_euclid(360.0)
}

/// Altitude (deg) of (RA, Dec) seen from (latitude, east longitude) at Julian date `jd`:
/// `sin h = sin φ sin δ + cos φ cos δ cos H`, H = LST − α.
pub fn altitude_deg(
    ra_deg: f64,
    dec_deg: f64,
    jd: f64,
    latitude_deg: f64,
    east_longitude_deg: f64,
) -> f64 {
    let hour_angle = (gmst_deg(jd) + east_longitude_deg - ra_deg).to_radians();
    let (phi, dec) = (latitude_deg.to_radians(), dec_deg.to_radians());
    (phi.sin() * dec.sin() + phi.cos() * dec.cos() * hour_angle.cos())
        .clamp(-1.0, 1.0)
        .asin()
        .to_degrees()
}

/// Plane-parallel airmass `X = sec z = 1 / sin h` (what ALFOSC writes in AIRMASS).
pub fn airmass_from_altitude(altitude_deg: f64) -> f64 {
    1.0 / altitude_deg.to_radians().sin()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moffat_normalisation_and_fwhm() {
        let m = Moffat::from_fwhm(4.68, 2.5);
        assert!((m.fwhm_px() - 4.68).abs() < 1e-12);
        let half = m.density(0.0) / 2.0;
        let r = 0.5 * m.fwhm_px();
        assert!((m.density(r * r) - half).abs() < 1e-12 * half);
        let mut total = 0.0;
        for j in -120i32..=120 {
            for i in -120i32..=120 {
                total += m.pixel_fraction(i as f64 + 0.3, j as f64 - 0.2);
            }
        }
        let expected = m.enclosed_fraction(120.0);
        assert!((total - expected).abs() < 2e-3, "{total} vs {expected}");
        let r = m.radius_enclosing(0.9);
        assert!((m.enclosed_fraction(r) - 0.9).abs() < 1e-12);
    }

    #[test]
    fn inverse_r_integral_is_exact() {
        let unit = inverse_r_integral(-0.5, 0.5, -0.5, 0.5);
        assert!((unit - 4.0 * (1.0 + 2f64.sqrt()).ln()).abs() < 1e-14);
        // Additivity across a split through the singularity.
        let whole = inverse_r_integral(-0.3, 0.7, -0.6, 0.4);
        let parts =
            inverse_r_integral(-0.3, 0.0, -0.6, 0.4) + inverse_r_integral(0.0, 0.7, -0.6, 0.4);
        assert!((whole - parts).abs() < 1e-14);
        // Far from the singularity it approaches area / r.
        let far = inverse_r_integral(99.5, 100.5, 49.5, 50.5);
        assert!((far - 1.0 / 100f64.hypot(50.0)).abs() < 1e-7);
        // A disc of radius R has ∬ 1/r = 2πR: sum over pixels with an edge sub-grid.
        let coma = Coma {
            k_e_per_px: 1.0,
            outer_radius_px: 40.0,
            lobe: None,
            cd_deg_per_px: [[-1.0, 0.0], [0.0, 1.0]],
        };
        let mut total = 0.0;
        for j in -41i32..=41 {
            for i in -41i32..=41 {
                let (x, y) = (i as f64 - 0.25, j as f64 + 0.4);
                total += coma.rect_electrons(x - 0.5, x + 0.5, y - 0.5, y + 0.5);
            }
        }
        assert!((total / (2.0 * PI * 40.0) - 1.0).abs() < 2e-4, "{total}");
    }

    #[test]
    fn lobe_keeps_aperture_flux_and_points_where_asked() {
        let lobe = Lobe::new(90.0, 60.0, 0.5);
        let n = 3600;
        let mean: f64 = (0..n)
            .map(|i| lobe.modulation(2.0 * PI * i as f64 / n as f64))
            .sum::<f64>()
            / n as f64;
        assert!((mean - 1.0).abs() < 1e-12);
        assert!(
            (lobe.modulation(120f64.to_radians()) - lobe.modulation(60f64.to_radians())).abs()
                < 1e-12
        );
        let peak = lobe.modulation(90f64.to_radians());
        let at_half = lobe.modulation(120f64.to_radians());
        let floor = 0.5;
        assert!(((at_half - floor) / (peak - floor) - 0.5).abs() < 1e-12);
        // East (PA 90°) is −x for a north-up, east-left detector.
        let coma = Coma {
            k_e_per_px: 1.0,
            outer_radius_px: 30.0,
            lobe: Some(lobe),
            cd_deg_per_px: [[-1.0, 0.0], [0.0, 1.0]],
        };
        let east = coma.rect_electrons(-10.5, -9.5, -0.5, 0.5);
        let west = coma.rect_electrons(9.5, 10.5, -0.5, 0.5);
        assert!(east > 3.0 * west);
    }

    #[test]
    fn photometric_conversions() {
        assert!((electrons_from_mag(25.0, 25.0, 0.0, 1.0, 1.0) - 1.0).abs() < 1e-12);
        let n = electrons_from_mag(15.0, 25.0, 0.07, 1.5, 300.0);
        assert!((n - 300.0 * 1e4 * 10f64.powf(-0.4 * 0.105)).abs() < 1e-6 * n);
        let sky = sky_electrons_per_px(20.0, 25.0, 0.5, 10.0);
        assert!((sky - 10.0 * 0.25 * 100.0).abs() < 1e-9);
    }

    #[test]
    fn sidereal_time_and_airmass() {
        // Meeus example 12.a: 1987 April 10, 0h UT → GMST 13h10m46.3668s.
        let g = gmst_deg(2_446_895.5);
        assert!((g - (13.0 + 10.0 / 60.0 + 46.3668 / 3600.0) * 15.0).abs() < 1e-4);
        // On the meridian the altitude is 90° − |φ − δ|.
        let jd = 2_460_889.5;
        let lst = gmst_deg(jd) + NOT_EAST_LONGITUDE_DEG;
        let h = altitude_deg(lst, -18.5, jd, NOT_LATITUDE_DEG, NOT_EAST_LONGITUDE_DEG);
        assert!((h - (90.0 - (NOT_LATITUDE_DEG + 18.5))).abs() < 1e-9);
        assert!((airmass_from_altitude(30.0) - 2.0).abs() < 1e-12);
    }

    #[test]
    fn patterns_are_deterministic_and_sensible() {
        let flat = FlatPattern {
            seed: 7,
            vignetting_fraction: 0.05,
            pixel_rms: 0.01,
            centre_px: [1075.5, 1025.5],
            corner_radius_px: 1450.0,
        };
        assert_eq!(flat.response(100, 200), flat.response(100, 200));
        let values: Vec<f64> = (0..200)
            .flat_map(|y| (0..200).map(move |x| (x, y)))
            .map(|(x, y)| flat.response(1000 + x, 900 + y))
            .collect();
        let mean = values.iter().sum::<f64>() / values.len() as f64;
        let rms =
            (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / values.len() as f64).sqrt();
        assert!((rms - 0.01).abs() < 0.001, "{rms}");
        assert!((mean - 1.0).abs() < 0.002);
        let bias = BiasPattern {
            seed: 3,
            level_adu: 1000.0,
            row_amplitude_adu: 2.0,
        };
        assert_eq!(bias.level_at_row(17.0), bias.level_at_row(17.0));
        assert!((bias.level_at_row(17.0) - 1000.0).abs() < 10.0);
        assert_ne!(derive_seed(1, 2, 3), derive_seed(1, 2, 4));
        assert_ne!(derive_seed(1, 2, 3), derive_seed(2, 2, 3));
    }
}
