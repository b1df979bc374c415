//! The apparent geometry of a comet seen from an observer at a UTC instant.
//!
//! Method (as JPL Horizons' "astrometric" quantities, without aberration or light deflection):
//! 1. The observer's heliocentric state at t: the Earth (VSOP87A) plus the site's geocentric
//!    state (rotation and precession, see [`super::site`]).
//! 2. Light-time iteration: τ = |r_T(t − τ) − r_O(t)| / c, from τ = 0, until τ changes by less
//!    than 1e-12 day (three or four passes).
//! 3. ρ = r_T(t − τ) − r_O(t) gives the astrometric RA/Dec (ICRF axes) and Δ = |ρ|;
//!    rH = |r_T(t − τ)|; the phase angle α is the Sun–target–observer angle and the solar
//!    elongation the Sun–observer–target angle.
//! 4. Position angles (east of north) of the projections onto the sky at the target of the
//!    Sun→target radius vector (Horizons' PsAng) and of the negative heliocentric velocity
//!    (PsAMV).
//! 5. The sky-plane rate: dρ/dt = v_T(t − τ)(1 − dτ/dt) − v_O(t) with
//!    dτ/dt = ρ̂·(v_T − v_O) / (c + ρ̂·v_T), projected on the local east and north unit vectors.

use super::earth::earth_state;
use super::orbit::{CometElements, OrbitError};
use super::perturbed::PerturbedOrbit;
use super::site::{Site, SiteError};
use super::time::{TimeError, UtcInstant};
use super::{Frame, StateVector, Vec3, C_AU_PER_DAY, KM_PER_ARCSEC_AT_1AU};
use thiserror::Error;

/// Arcseconds per radian.
const ARCSEC_PER_RAD: f64 = 648_000.0 / std::f64::consts::PI;
/// Light-time convergence threshold (days, ≈ 0.1 µs).
const LIGHT_TIME_TOLERANCE_DAYS: f64 = 1e-12;

#[derive(Debug, Error)]
pub enum GeometryError {
    #[error(transparent)]
    Time(#[from] TimeError),
    #[error(transparent)]
    Site(#[from] SiteError),
    #[error(transparent)]
    Orbit(#[from] OrbitError),
    #[error("{0}")]
    Target(String),
    #[error("light-time iteration did not converge at JD(TDB) {jd_tdb}")]
    LightTime { jd_tdb: f64 },
}

/// Anything that gives a target's heliocentric state at a TDB instant: a two-body orbit, a
/// Horizons vector table.
pub trait TargetEphemeris {
    /// Heliocentric state of the target (any [`Frame`]) at a TDB Julian Date.
    fn heliocentric_state(&self, jd_tdb: f64) -> Result<StateVector, GeometryError>;
}

impl TargetEphemeris for CometElements {
    fn heliocentric_state(&self, jd_tdb: f64) -> Result<StateVector, GeometryError> {
        Ok(self.state_at(jd_tdb)?)
    }
}

impl TargetEphemeris for PerturbedOrbit {
    fn heliocentric_state(&self, jd_tdb: f64) -> Result<StateVector, GeometryError> {
        Ok(self.state_at(jd_tdb)?)
    }
}

/// The observing geometry of a target at one instant. Angles in degrees, position angles
/// measured from north through east in [0, 360).
#[derive(Debug, Clone, PartialEq)]
pub struct Observation {
    pub time_utc: UtcInstant,
    pub jd_tdb: f64,
    /// Astrometric right ascension and declination (ICRF, light-time corrected).
    pub ra_deg: f64,
    pub dec_deg: f64,
    /// Heliocentric distance of the target at the emission time.
    pub rh_au: f64,
    /// Observer–target distance.
    pub delta_au: f64,
    /// Sun–target–observer angle α.
    pub phase_deg: f64,
    /// Sun–observer–target angle.
    pub elong_deg: f64,
    /// Position angle of the extended Sun→target radius vector (Horizons PsAng).
    pub sun_pa_deg: f64,
    /// Position angle of the negative heliocentric velocity (Horizons PsAMV).
    pub neg_vel_pa_deg: f64,
    /// Rate of motion on the sky.
    pub rate_arcsec_per_min: f64,
    /// Position angle of the direction of motion on the sky.
    pub rate_pa_deg: f64,
    /// Heliocentric radial velocity of the target (km/s; negative inbound).
    pub rh_dot_km_s: f64,
    /// One-way light time (minutes).
    pub light_time_min: f64,
}

impl Observation {
    /// Linear scale at the target: km per arcsec = 725.27 km × Δ (au).
    pub fn km_per_arcsec(&self) -> f64 {
        KM_PER_ARCSEC_AT_1AU * self.delta_au
    }
}

/// Computes the geometry of `target` seen from `site` at `time_utc`.
pub fn observe(
    target: &dyn TargetEphemeris,
    site: &Site,
    time_utc: UtcInstant,
) -> Result<Observation, GeometryError> {
    let jd_tdb = time_utc.jd_tdb()?;
    let earth = earth_state(jd_tdb).in_frame(Frame::EquatorialJ2000);
    let topocentre = site.geocentric_state(&time_utc)?;
    let observer = StateVector::new(
        Frame::EquatorialJ2000,
        earth.position_au + topocentre.position_au,
        earth.velocity_au_per_day + topocentre.velocity_au_per_day,
    );
    let target_state = light_time_corrected(target, &observer, jd_tdb)?;
    Ok(geometry_from_states(
        time_utc,
        jd_tdb,
        &target_state,
        &observer,
    ))
}

/// The target's heliocentric state (equatorial) at the emission time t − τ.
fn light_time_corrected(
    target: &dyn TargetEphemeris,
    observer: &StateVector,
    jd_tdb: f64,
) -> Result<StateVector, GeometryError> {
    let mut tau_days = 0.0;
    for _ in 0..20 {
        let state = target
            .heliocentric_state(jd_tdb - tau_days)?
            .in_frame(Frame::EquatorialJ2000);
        let next = (state.position_au - observer.position_au).norm() / C_AU_PER_DAY;
        if (next - tau_days).abs() < LIGHT_TIME_TOLERANCE_DAYS {
            return Ok(target
                .heliocentric_state(jd_tdb - next)?
                .in_frame(Frame::EquatorialJ2000));
        }
        tau_days = next;
    }
    Err(GeometryError::LightTime { jd_tdb })
}

/// Unit vectors towards local east and north on the sky at the direction `unit`.
fn east_north(unit: &Vec3) -> (Vec3, Vec3) {
    let ra = unit.y.atan2(unit.x);
    let dec = unit.z.clamp(-1.0, 1.0).asin();
    let east = Vec3::new(-ra.sin(), ra.cos(), 0.0);
    let north = Vec3::new(-dec.sin() * ra.cos(), -dec.sin() * ra.sin(), dec.cos());
    (east, north)
}

/// Position angle (deg, east of north, [0, 360)) of the sky projection of `vector`.
fn position_angle_deg(vector: &Vec3, east: &Vec3, north: &Vec3) -> f64 {
    vector
        .dot(east)
        .atan2(vector.dot(north))
        .to_degrees()
        .rem_euclid(360.0)
}

fn angle_between_deg(a: &Vec3, b: &Vec3) -> f64 {
    // atan2 of |a × b| and a·b keeps precision at small and large angles.
    a.cross(b).norm().atan2(a.dot(b)).to_degrees()
}

/// The geometry from the target's heliocentric state at emission and the observer's at
/// reception, both equatorial J2000.
pub fn geometry_from_states(
    time_utc: UtcInstant,
    jd_tdb: f64,
    target: &StateVector,
    observer: &StateVector,
) -> Observation {
    let r_t = target.position_au;
    let v_t = target.velocity_au_per_day;
    let rho = r_t - observer.position_au;
    let delta_au = rho.norm();
    let unit = rho / delta_au;
    let (east, north) = east_north(&unit);
    let rh_au = r_t.norm();
    let tau_dot = unit.dot(&(v_t - observer.velocity_au_per_day)) / (C_AU_PER_DAY + unit.dot(&v_t));
    let rho_dot = v_t * (1.0 - tau_dot) - observer.velocity_au_per_day;
    let rate_east = rho_dot.dot(&east) / delta_au;
    let rate_north = rho_dot.dot(&north) / delta_au;
    let rate_rad_per_day = rate_east.hypot(rate_north);
    Observation {
        time_utc,
        jd_tdb,
        ra_deg: unit.y.atan2(unit.x).to_degrees().rem_euclid(360.0),
        dec_deg: unit.z.clamp(-1.0, 1.0).asin().to_degrees(),
        rh_au,
        delta_au,
        phase_deg: angle_between_deg(&(-r_t), &(-rho)),
        elong_deg: angle_between_deg(&(-observer.position_au), &rho),
        sun_pa_deg: position_angle_deg(&r_t, &east, &north),
        neg_vel_pa_deg: position_angle_deg(&(-v_t), &east, &north),
        rate_arcsec_per_min: rate_rad_per_day * ARCSEC_PER_RAD / 1440.0,
        rate_pa_deg: rate_east.atan2(rate_north).to_degrees().rem_euclid(360.0),
        rh_dot_km_s: r_t.dot(&v_t) / rh_au * super::AU_KM / super::DAY_S,
        light_time_min: delta_au / C_AU_PER_DAY * 1440.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(position: Vec3, velocity: Vec3) -> StateVector {
        StateVector::new(Frame::EquatorialJ2000, position, velocity)
    }

    #[test]
    fn position_angles_of_simple_configurations() {
        let t = UtcInstant::parse_iso("2025-07-01T00:00:00").unwrap();
        // Observer at the origin side: target on the +x axis (RA 0, Dec 0) at 2 au from the Sun,
        // observer 1 au from the Sun on the −y side, looking along +x.
        let observer = at(Vec3::new(1.0, -1.0, 0.0), Vec3::zeros());
        // Target moving north (+z): it moves towards PA 0; −v points south (PA 180).
        let target = at(Vec3::new(3.0, -1.0, 0.0), Vec3::new(0.0, 0.0, 0.01));
        let obs = geometry_from_states(t, 2_460_857.5, &target, &observer);
        assert!((obs.ra_deg - 0.0).abs() < 1e-9 && obs.dec_deg.abs() < 1e-9);
        assert!((obs.delta_au - 2.0).abs() < 1e-12);
        assert!((obs.rate_pa_deg - 0.0).abs() < 1e-6, "{}", obs.rate_pa_deg);
        assert!((obs.neg_vel_pa_deg - 180.0).abs() < 1e-6);
        // The Sun→target vector (3, −1, 0) projects onto −y, i.e. towards decreasing RA: west,
        // PA 270.
        assert!((obs.sun_pa_deg - 270.0).abs() < 1e-6, "{}", obs.sun_pa_deg);
        // Phase: angle at the target between the Sun (−3, 1, 0) and the observer (−2, 0, 0).
        let expected_phase = (1.0f64 / 3.0).atan().to_degrees();
        assert!((obs.phase_deg - expected_phase).abs() < 1e-9);
        // Rate: 0.01 au/day at 2 au = 0.005 rad/day.
        let expected_rate = 0.005 * ARCSEC_PER_RAD / 1440.0;
        assert!((obs.rate_arcsec_per_min - expected_rate).abs() < 1e-6 * expected_rate);
    }
}
