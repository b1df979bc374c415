//! Heliocentric state of the Earth from the full VSOP87A series (Bretagnon & Francou 1988,
//! A&A 202, 309), evaluated by the `vsop87` crate.
//!
//! VSOP87A gives heliocentric rectangular coordinates of the Earth (not the Earth–Moon
//! barycentre) referred to the dynamical ecliptic and equinox of J2000, with TDB as the time
//! argument. The velocity is the central difference of the series over ±[`DIFF_STEP_DAYS`]:
//! the truncation error h²·|r⃛|/6 ≈ 1e-13 au/day and the rounding error ≈ 1e-13 au/day are far
//! below what the geometry needs.

use super::{Frame, StateVector, Vec3};

/// Half-width of the central difference used for the velocity (days).
const DIFF_STEP_DAYS: f64 = 1e-3;

/// Heliocentric position of the Earth in au, ecliptic J2000, at a TDB Julian Date.
pub fn earth_position_au(jd_tdb: f64) -> Vec3 {
    let c = vsop87::vsop87a::earth(jd_tdb);
    Vec3::new(c.x, c.y, c.z)
}

/// Heliocentric position and velocity of the Earth (au, au/day), ecliptic J2000, at a TDB
/// Julian Date.
pub fn earth_state(jd_tdb: f64) -> StateVector {
    let ahead = earth_position_au(jd_tdb + DIFF_STEP_DAYS);
    let behind = earth_position_au(jd_tdb - DIFF_STEP_DAYS);
    StateVector::new(
        Frame::EclipticJ2000,
        earth_position_au(jd_tdb),
        (ahead - behind) / (2.0 * DIFF_STEP_DAYS),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn earth_is_about_one_au_away_and_moves_about_thirty_km_per_second() {
        for jd in [2_433_282.5, 2_451_545.0, 2_460_857.5, 2_469_807.5] {
            let s = earth_state(jd);
            let r = s.position_au.norm();
            assert!((0.983..1.017).contains(&r), "r = {r} au at JD {jd}");
            let v_km_s = s.velocity_au_per_day.norm() * super::super::AU_KM / super::super::DAY_S;
            assert!((29.2..30.4).contains(&v_km_s), "v = {v_km_s} km/s");
            // Prograde: angular momentum along +z of the ecliptic.
            assert!(s.position_au.cross(&s.velocity_au_per_day).z > 0.0);
        }
    }
}
