//! Observing geometry, offline: time scales, the Earth's heliocentric state (VSOP87A), two-body
//! comet orbits, observer sites, JPL Horizons tables, and the apparent geometry (rH, Δ, phase
//! angle, RA/Dec, position angles) at any instant.
//!
//! Conventions: positions in au, velocities in au/day, times as Julian Dates on the TDB scale
//! inside the dynamics; angles in degrees at interfaces and radians inside the maths. Vectors
//! carry their reference frame in the type ([`Frame`]) so ecliptic and equatorial J2000 are never
//! mixed silently.

pub mod earth;
pub mod elements;
pub mod ephemeris;
pub mod geometry;
pub mod horizons;
pub mod interp;
pub mod orbit;
pub mod perturbed;
pub mod site;
pub mod time;

use nalgebra::{Matrix3, Vector3};

/// A 3-vector of f64 (au or au/day, according to the name of the field that holds it).
pub type Vec3 = Vector3<f64>;

/// The astronomical unit in km (IAU 2012 Resolution B2).
pub const AU_KM: f64 = 149_597_870.700;
/// Seconds per day.
pub const DAY_S: f64 = 86_400.0;
/// Speed of light in au/day (c = 299,792.458 km/s).
pub const C_AU_PER_DAY: f64 = 299_792.458 * DAY_S / AU_KM;
/// Heliocentric gravitational constant GM☉ in au³/day², the value JPL Horizons uses to convert
/// osculating elements to states (1.32712440041279e20 m³/s², DE440/DE441).
pub const GM_SUN_AU3_PER_DAY2: f64 = 2.959_122_082_841_194e-4;
/// Obliquity of the ecliptic at J2000, 84381.448″ (IAU 1976; the value Horizons uses for its
/// "ecliptic of J2000.0" frame).
pub const OBLIQUITY_J2000_RAD: f64 = 84_381.448 / 3600.0 * std::f64::consts::PI / 180.0;
/// Julian Date of the J2000.0 epoch (2000-01-01T12:00 TT).
pub const JD_J2000: f64 = 2_451_545.0;
/// km per arcsec at 1 au: 1 au × (π / 648000) = 725.27 km.
pub const KM_PER_ARCSEC_AT_1AU: f64 = AU_KM * std::f64::consts::PI / 648_000.0;

/// The reference frame of a vector. Both are J2000 and share the origin given by context
/// (usually the Sun); ecliptic = equatorial rotated about x by the obliquity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Frame {
    /// Ecliptic and mean equinox of J2000 (obliquity 84381.448″).
    EclipticJ2000,
    /// Equatorial J2000 / ICRF axes.
    EquatorialJ2000,
}

/// A position and velocity in one frame.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StateVector {
    pub frame: Frame,
    pub position_au: Vec3,
    pub velocity_au_per_day: Vec3,
}

impl StateVector {
    pub fn new(frame: Frame, position_au: Vec3, velocity_au_per_day: Vec3) -> Self {
        StateVector {
            frame,
            position_au,
            velocity_au_per_day,
        }
    }

    /// The same state expressed in `frame` (a rotation about x by ±ε; no-op if already there).
    pub fn in_frame(&self, frame: Frame) -> StateVector {
        let rotation = rotation_between(self.frame, frame);
        StateVector {
            frame,
            position_au: rotation * self.position_au,
            velocity_au_per_day: rotation * self.velocity_au_per_day,
        }
    }
}

/// Rotation matrix taking a vector from frame `from` to frame `to`:
/// equatorial = R_x(−ε) · ecliptic, with ε = 84381.448″.
pub fn rotation_between(from: Frame, to: Frame) -> Matrix3<f64> {
    let (s, c) = OBLIQUITY_J2000_RAD.sin_cos();
    let ecliptic_to_equatorial = Matrix3::new(1.0, 0.0, 0.0, 0.0, c, -s, 0.0, s, c);
    match (from, to) {
        (Frame::EclipticJ2000, Frame::EquatorialJ2000) => ecliptic_to_equatorial,
        (Frame::EquatorialJ2000, Frame::EclipticJ2000) => ecliptic_to_equatorial.transpose(),
        _ => Matrix3::identity(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_rotation_round_trips_and_tilts_the_pole() {
        let state = StateVector::new(
            Frame::EclipticJ2000,
            Vec3::new(0.3, -4.5, 0.29),
            Vec3::new(-0.01, 0.03, 0.01),
        );
        let back = state
            .in_frame(Frame::EquatorialJ2000)
            .in_frame(Frame::EclipticJ2000);
        assert!((back.position_au - state.position_au).norm() < 1e-15);
        // The ecliptic pole lies at declination 90° − ε in equatorial coordinates.
        let pole = rotation_between(Frame::EclipticJ2000, Frame::EquatorialJ2000) * Vec3::z();
        let dec_deg = pole.z.asin().to_degrees();
        assert!((dec_deg - (90.0 - 84_381.448 / 3600.0)).abs() < 1e-12);
        assert!(pole.y < 0.0, "ecliptic pole at RA 18h");
    }

    #[test]
    fn km_per_arcsec() {
        assert!((KM_PER_ARCSEC_AT_1AU - 725.27).abs() < 0.01);
    }
}
