//! Syndynes and synchrones of zero-speed grains (Finson & Probstein 1968, ApJ 154, 327),
//! projected on the sky of an observation.
//!
//! A grain released at rest relative to the nucleus at the ejection time t_ej moves on a Kepler
//! orbit about the Sun with the reduced gravitational parameter μ' = (1 − β) μ☉ (radiation
//! pressure cancels the fraction β of solar gravity). A **syndyne** is the locus of grains of
//! one β released at a range of times; a **synchrone** the locus of grains of a range of β
//! released at one time.
//!
//! Method, for an observation at UTC t from a site:
//! 1. [`observe`] gives the geometry (with PsAng, PsAMV) and the light time τ; the nucleus is
//!    taken at the emission time t_e = t − τ (TDB), the observer (Earth by VSOP87A + the site)
//!    at t.
//! 2. The comet's heliocentric state at t_ej = t_e − age is propagated over `age` twice with
//!    [`propagate`]: with μ' = (1 − β) μ☉ (the grain) and with μ☉ (a β = 0 reference). Their
//!    difference is the grain's offset from the nucleus; taking the difference (rather than
//!    grain − nucleus) removes any planetary perturbation of the nucleus' own ephemeris, which
//!    is not radiation pressure. For β = 1 the grain moves in a straight line. β > 1 (repulsion)
//!    is not supported by the universal-variable propagator and gives an error.
//! 3. The offset is projected on the sky at the nucleus with the same east/north basis as PsAng
//!    and PsAMV: [`geometry_from_states`] is given a pseudo-target at the nucleus whose
//!    "velocity" is minus the offset, so its `neg_vel_pa_deg` is the position angle of the
//!    offset (deg east of north). The distance is the angle between the observer→grain and
//!    observer→nucleus directions (arcsec) and the offset's component perpendicular to the line
//!    of sight (km). The grain's own light time differs from the nucleus' by offset·ρ̂ / c
//!    (≤ 3 s for 10⁶ km) and is neglected.
//!
//! What to expect (and what the tests check, at 3I dates in July–September 2025):
//! * Recently released grains of any β lie along the antisolar direction (PsAng): their offset
//!   is ½ β g age², along the Sun→comet radius at release.
//! * Grains of large β (β = 1: no solar gravity at all) stay close to the antisolar direction
//!   for longer, because the offset grows as β g age² while the curvature of the comet's path
//!   turns it only slowly.
//! * Grains of β → 0 released long ago drift behind the nucleus along its orbit: the along-track
//!   lag grows faster (∝ age³ in the linear regime) than the radial offset, so the syndyne turns
//!   towards the projected negative velocity (PsAMV). A *short* ejection time with small β does
//!   **not** give PsAMV: for small offsets the direction does not depend on β at all (the offset
//!   is linear in β), only on the age.

use super::{positive, DustError};
use crate::ephem::geometry::{geometry_from_states, observe, Observation, TargetEphemeris};
use crate::ephem::orbit::propagate;
use crate::ephem::site::Site;
use crate::ephem::time::UtcInstant;
use crate::ephem::{earth::earth_state, Frame, StateVector, Vec3, AU_KM, GM_SUN_AU3_PER_DAY2};

const ARCSEC_PER_RAD: f64 = 648_000.0 / std::f64::consts::PI;

/// One zero-speed grain on the sky of an observation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GrainPosition {
    pub beta: f64,
    /// Time between release and the emission time of the observed light (days).
    pub age_days: f64,
    /// Release time (JD, TDB).
    pub ejection_jd_tdb: f64,
    /// Position angle of the grain from the nucleus (deg east of north, [0, 360)).
    pub pa_deg: f64,
    /// Angular distance from the nucleus (arcsec).
    pub distance_arcsec: f64,
    /// Offset perpendicular to the line of sight (km).
    pub distance_km: f64,
    /// Full 3-D offset from the nucleus (km).
    pub offset_km: f64,
}

/// The observer, the nucleus and the geometry of one observation, reused for every grain.
#[derive(Debug, Clone, PartialEq)]
pub struct SkyContext {
    pub observation: Observation,
    /// Heliocentric state of the observer at the observation time (equatorial J2000).
    pub observer: StateVector,
    /// Heliocentric state of the nucleus at the emission time (equatorial J2000).
    pub nucleus: StateVector,
    /// t − τ (JD, TDB).
    pub emission_jd_tdb: f64,
}

impl SkyContext {
    /// Geometry of `target` from `site` at `time_utc` (see the module notes, step 1).
    pub fn new(
        target: &dyn TargetEphemeris,
        site: &Site,
        time_utc: UtcInstant,
    ) -> Result<SkyContext, DustError> {
        let observation = observe(target, site, time_utc)?;
        let jd_tdb = observation.jd_tdb;
        let earth = earth_state(jd_tdb).in_frame(Frame::EquatorialJ2000);
        let topocentre = site
            .geocentric_state(&time_utc)
            .map_err(|e| DustError::Geometry(e.into()))?;
        let observer = StateVector::new(
            Frame::EquatorialJ2000,
            earth.position_au + topocentre.position_au,
            earth.velocity_au_per_day + topocentre.velocity_au_per_day,
        );
        let emission_jd_tdb = jd_tdb - observation.light_time_min / 1440.0;
        let nucleus = target
            .heliocentric_state(emission_jd_tdb)?
            .in_frame(Frame::EquatorialJ2000);
        Ok(SkyContext {
            observation,
            observer,
            nucleus,
            emission_jd_tdb,
        })
    }

    /// The heliocentric offset (au, equatorial) of a grain of `beta` released `age_days`
    /// before the emission time, relative to a β = 0 grain released with it (module notes,
    /// step 2).
    pub fn grain_offset_au(
        &self,
        target: &dyn TargetEphemeris,
        beta: f64,
        age_days: f64,
    ) -> Result<Vec3, DustError> {
        positive("beta", beta)?;
        positive("age_days", age_days)?;
        if beta > 1.0 {
            return Err(DustError::UnsupportedBeta(beta));
        }
        let release = target
            .heliocentric_state(self.emission_jd_tdb - age_days)?
            .in_frame(Frame::EquatorialJ2000);
        let reference = propagate(&release, age_days, GM_SUN_AU3_PER_DAY2)?;
        let grain_position = if beta == 1.0 {
            release.position_au + release.velocity_au_per_day * age_days
        } else {
            propagate(&release, age_days, (1.0 - beta) * GM_SUN_AU3_PER_DAY2)?.position_au
        };
        Ok(grain_position - reference.position_au)
    }

    /// Position angle and distance from the nucleus of a heliocentric offset (module notes,
    /// step 3).
    pub fn project(&self, offset_au: &Vec3) -> (f64, f64, f64) {
        let pseudo = StateVector::new(Frame::EquatorialJ2000, self.nucleus.position_au, -offset_au);
        let pa_deg = geometry_from_states(
            self.observation.time_utc,
            self.observation.jd_tdb,
            &pseudo,
            &self.observer,
        )
        .neg_vel_pa_deg;
        let to_nucleus = self.nucleus.position_au - self.observer.position_au;
        let to_grain = to_nucleus + offset_au;
        let angle_rad = to_grain
            .cross(&to_nucleus)
            .norm()
            .atan2(to_grain.dot(&to_nucleus));
        let unit = to_nucleus / to_nucleus.norm();
        let perpendicular = offset_au - unit * unit.dot(offset_au);
        (
            pa_deg,
            angle_rad * ARCSEC_PER_RAD,
            perpendicular.norm() * AU_KM,
        )
    }

    /// One grain of `beta` released `age_days` before the emission time.
    pub fn grain(
        &self,
        target: &dyn TargetEphemeris,
        beta: f64,
        age_days: f64,
    ) -> Result<GrainPosition, DustError> {
        let offset = self.grain_offset_au(target, beta, age_days)?;
        let (pa_deg, distance_arcsec, distance_km) = self.project(&offset);
        Ok(GrainPosition {
            beta,
            age_days,
            ejection_jd_tdb: self.emission_jd_tdb - age_days,
            pa_deg,
            distance_arcsec,
            distance_km,
            offset_km: offset.norm() * AU_KM,
        })
    }
}

/// Grains along a syndyne or a synchrone, with the observation they are seen in.
#[derive(Debug, Clone, PartialEq)]
pub struct GrainCurve {
    /// Geometry of the observation: compare `pa_deg` with `sun_pa_deg` (PsAng) and
    /// `neg_vel_pa_deg` (PsAMV).
    pub observation: Observation,
    pub grains: Vec<GrainPosition>,
}

/// Syndyne: grains of one β released `ages_days` before the observation.
pub fn syndyne(
    target: &dyn TargetEphemeris,
    site: &Site,
    time_utc: UtcInstant,
    beta: f64,
    ages_days: &[f64],
) -> Result<GrainCurve, DustError> {
    let context = SkyContext::new(target, site, time_utc)?;
    let grains = ages_days
        .iter()
        .map(|&age| context.grain(target, beta, age))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(GrainCurve {
        observation: context.observation,
        grains,
    })
}

/// Synchrone: grains of every β in `betas` released `age_days` before the observation.
pub fn synchrone(
    target: &dyn TargetEphemeris,
    site: &Site,
    time_utc: UtcInstant,
    age_days: f64,
    betas: &[f64],
) -> Result<GrainCurve, DustError> {
    let context = SkyContext::new(target, site, time_utc)?;
    let grains = betas
        .iter()
        .map(|&beta| context.grain(target, beta, age_days))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(GrainCurve {
        observation: context.observation,
        grains,
    })
}

/// The smallest difference between two position angles (deg, in [0, 180]).
pub fn pa_difference_deg(a_deg: f64, b_deg: f64) -> f64 {
    let d = (a_deg - b_deg).rem_euclid(360.0);
    d.min(360.0 - d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn position_angle_differences_wrap() {
        assert_eq!(pa_difference_deg(359.0, 1.0), 2.0);
        assert_eq!(pa_difference_deg(10.0, 190.0), 180.0);
        assert_eq!(pa_difference_deg(100.0, 95.5), 4.5);
    }
}
