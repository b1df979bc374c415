//! Two-body heliocentric orbits from osculating elements, propagated with universal variables.
//!
//! One formulation covers elliptic, parabolic and hyperbolic motion (Battin 1999, *An
//! Introduction to the Mathematics and Methods of Astrodynamics*, §4.5; Curtis 2014, *Orbital
//! Mechanics for Engineering Students*, §3.7). With r₀, v₀ the state at t₀, α = 2/r₀ − v₀²/μ
//! (the reciprocal semi-major axis) and the universal anomaly χ, the universal Kepler equation is
//!
//!   √μ Δt = (r₀·v_r0/√μ) χ² C(αχ²) + (1 − α r₀) χ³ S(αχ²) + r₀ χ,
//!
//! with the Stumpff functions C and S. Its derivative with respect to χ is the radius r(χ) > 0,
//! so the equation is strictly monotonic: a bracketed Newton iteration always converges, at
//! e = 1 ± 1e-8 as at e = 6.14. The state follows from the Lagrange f and g coefficients.
//!
//! Elements (q, e, i, Ω, ω, Tp) are turned into the state at perihelion — r = q along the
//! perihelion direction, speed √(μ(1+e)/q) perpendicular to it — which is then propagated by
//! t − Tp. No step divides by 1 − e, so near-parabolic orbits lose no precision.

use super::{Frame, StateVector, Vec3, GM_SUN_AU3_PER_DAY2};
use nalgebra::Matrix3;
use std::f64::consts::PI;
use thiserror::Error;

#[derive(Debug, Error, PartialEq)]
pub enum OrbitError {
    #[error("perihelion distance q = {0} au must be a finite positive number")]
    BadPerihelion(f64),
    #[error("eccentricity e = {0} must be finite and ≥ 0")]
    BadEccentricity(f64),
    #[error("inclination i = {0}° must lie in [0°, 180°]")]
    BadInclination(f64),
    #[error("{name} = {value} is not a finite number")]
    NotFinite { name: &'static str, value: f64 },
    #[error(
        "e = {e} ≥ 1 (parabolic or hyperbolic) but the semi-major axis a = {a_au} au is positive; \
         a must be negative for e > 1 (a = q / (1 − e))"
    )]
    PositiveAxisForOpenOrbit { e: f64, a_au: f64 },
    #[error("semi-major axis a = {a_au} au disagrees with q / (1 − e) = {expected_au} au")]
    InconsistentAxis { a_au: f64, expected_au: f64 },
    #[error("these elements have no epoch of osculation, which perturbed motion needs")]
    NoEpoch,
    #[error("JD(TDB) {jd_tdb} is outside the integrated span {first}..{last}")]
    OutsideSpan { jd_tdb: f64, first: f64, last: f64 },
    #[error("Kepler's equation did not converge for Δt = {dt_days} days")]
    NoConvergence { dt_days: f64 },
}

/// Heliocentric osculating elements of a comet, ecliptic and mean equinox J2000.
#[derive(Debug, Clone, PartialEq)]
pub struct CometElements {
    /// Designation and name, e.g. "3I/ATLAS (C/2025 N1)".
    pub designation: String,
    /// Where the elements come from, e.g. "JPL#27".
    pub solution: String,
    /// Perihelion distance q (au).
    pub q_au: f64,
    /// Eccentricity e.
    pub e: f64,
    /// Inclination i (deg).
    pub i_deg: f64,
    /// Longitude of the ascending node Ω (deg).
    pub node_deg: f64,
    /// Argument of perihelion ω (deg).
    pub peri_deg: f64,
    /// Time of perihelion passage Tp (JD, TDB).
    pub tp_jd_tdb: f64,
    /// Epoch of osculation (JD, TDB), when known. Two-body motion is most accurate near it.
    pub epoch_jd_tdb: Option<f64>,
}

impl CometElements {
    /// Checks that the elements describe an orbit; `a_au`, when the source also gives the
    /// semi-major axis, must agree with q/(1 − e) and be negative for e > 1.
    pub fn validate(&self, a_au: Option<f64>) -> Result<(), OrbitError> {
        for (name, value) in [
            ("node", self.node_deg),
            ("argument of perihelion", self.peri_deg),
            ("perihelion time", self.tp_jd_tdb),
        ] {
            if !value.is_finite() {
                return Err(OrbitError::NotFinite { name, value });
            }
        }
        if !(self.q_au.is_finite() && self.q_au > 0.0) {
            return Err(OrbitError::BadPerihelion(self.q_au));
        }
        if !(self.e.is_finite() && self.e >= 0.0) {
            return Err(OrbitError::BadEccentricity(self.e));
        }
        if !(0.0..=180.0).contains(&self.i_deg) {
            return Err(OrbitError::BadInclination(self.i_deg));
        }
        if let Some(a_au) = a_au {
            if self.e >= 1.0 && a_au > 0.0 {
                return Err(OrbitError::PositiveAxisForOpenOrbit { e: self.e, a_au });
            }
            if self.e != 1.0 {
                let expected_au = self.q_au / (1.0 - self.e);
                if ((a_au - expected_au) / expected_au).abs() > 1e-6 {
                    return Err(OrbitError::InconsistentAxis { a_au, expected_au });
                }
            }
        }
        Ok(())
    }

    /// Rotation from the perifocal frame (x to perihelion, z along the angular momentum) to
    /// the ecliptic J2000 frame: R = R_z(Ω) · R_x(i) · R_z(ω).
    fn perifocal_to_ecliptic(&self) -> Matrix3<f64> {
        rotation_z(self.node_deg.to_radians())
            * rotation_x(self.i_deg.to_radians())
            * rotation_z(self.peri_deg.to_radians())
    }

    /// Heliocentric state (ecliptic J2000) at perihelion.
    pub fn perihelion_state(&self) -> StateVector {
        let rotation = self.perifocal_to_ecliptic();
        let speed = (GM_SUN_AU3_PER_DAY2 * (1.0 + self.e) / self.q_au).sqrt();
        StateVector::new(
            Frame::EclipticJ2000,
            rotation * Vec3::new(self.q_au, 0.0, 0.0),
            rotation * Vec3::new(0.0, speed, 0.0),
        )
    }

    /// Heliocentric state (ecliptic J2000, au and au/day) at a TDB Julian Date, by two-body
    /// propagation from perihelion.
    pub fn state_at(&self, jd_tdb: f64) -> Result<StateVector, OrbitError> {
        propagate(
            &self.perihelion_state(),
            jd_tdb - self.tp_jd_tdb,
            GM_SUN_AU3_PER_DAY2,
        )
    }
}

fn rotation_z(angle_rad: f64) -> Matrix3<f64> {
    let (s, c) = angle_rad.sin_cos();
    Matrix3::new(c, -s, 0.0, s, c, 0.0, 0.0, 0.0, 1.0)
}

fn rotation_x(angle_rad: f64) -> Matrix3<f64> {
    let (s, c) = angle_rad.sin_cos();
    Matrix3::new(1.0, 0.0, 0.0, 0.0, c, -s, 0.0, s, c)
}

/// Stumpff functions C(z) = (1 − cos√z)/z and S(z) = (√z − sin√z)/√z³, continued to z ≤ 0
/// with cosh/sinh; power series near z = 0, where the closed forms cancel.
pub fn stumpff(z: f64) -> (f64, f64) {
    if z.abs() < 0.1 {
        // C = Σ (−z)^k / (2k+2)!, S = Σ (−z)^k / (2k+3)!; 12 terms leave < 1e-30 at |z| < 0.1.
        let mut c = 0.0;
        let mut s = 0.0;
        let mut term_c = 0.5; // 1/2!
        let mut term_s = 1.0 / 6.0; // 1/3!
        for k in 0..12 {
            c += term_c;
            s += term_s;
            let k = k as f64;
            term_c *= -z / ((2.0 * k + 3.0) * (2.0 * k + 4.0));
            term_s *= -z / ((2.0 * k + 4.0) * (2.0 * k + 5.0));
        }
        (c, s)
    } else if z > 0.0 {
        let w = z.sqrt();
        ((1.0 - w.cos()) / z, (w - w.sin()) / (w * z))
    } else {
        let w = (-z).sqrt();
        ((w.cosh() - 1.0) / -z, (w.sinh() - w) / (w * -z))
    }
}

/// The universal Kepler equation and its derivative at χ: returns (F(χ), r(χ)) with
/// F = (r₀ v_r0/√μ) χ² C + (1 − α r₀) χ³ S + r₀ χ − √μ Δt.
fn universal_kepler(
    chi: f64,
    r0: f64,
    rv0_over_sqrt_mu: f64,
    alpha: f64,
    target: f64,
) -> (f64, f64) {
    let chi2 = chi * chi;
    let z = alpha * chi2;
    let (c, s) = stumpff(z);
    let f = rv0_over_sqrt_mu * chi2 * c + (1.0 - alpha * r0) * chi2 * chi * s + r0 * chi - target;
    let radius = rv0_over_sqrt_mu * chi * (1.0 - z * s) + (1.0 - alpha * r0) * chi2 * c + r0;
    (f, radius)
}

/// Solves the universal Kepler equation for χ (in √au) by Newton's method safeguarded with
/// bisection inside a bracket; F is strictly increasing in χ, so the bracket always exists.
pub fn solve_universal_anomaly(
    r0: f64,
    rv0_over_sqrt_mu: f64,
    alpha: f64,
    sqrt_mu_dt: f64,
) -> Option<f64> {
    let eval = |chi: f64| universal_kepler(chi, r0, rv0_over_sqrt_mu, alpha, sqrt_mu_dt);
    if sqrt_mu_dt == 0.0 {
        return Some(0.0);
    }
    // Bracket: χ = 0 gives F = −√μ Δt, so one end is 0 and the other is found by doubling
    // (non-finite values count as "beyond the root", which only happens far past it).
    let first_guess = (sqrt_mu_dt / r0).abs().max(1e-8);
    let sign = sqrt_mu_dt.signum();
    let (mut lo, mut hi) = if sign > 0.0 {
        (0.0, first_guess)
    } else {
        (-first_guess, 0.0)
    };
    for _ in 0..2000 {
        let probe = if sign > 0.0 { hi } else { lo };
        let (f, _) = eval(probe);
        let beyond = !f.is_finite() || f * sign >= 0.0;
        if beyond {
            break;
        }
        if sign > 0.0 {
            lo = hi;
            hi *= 2.0;
        } else {
            hi = lo;
            lo *= 2.0;
        }
    }
    // Newton steps are taken only while they at least halve the previous step (as in
    // Numerical Recipes' `rtsafe`); otherwise, e.g. on the exponential wall of a hyperbolic
    // orbit far beyond the root, the bracket is bisected.
    let mut chi = 0.5 * (lo + hi);
    let mut previous_step = hi - lo;
    for _ in 0..400 {
        let (f, radius) = eval(chi);
        if f == 0.0 {
            return Some(chi);
        }
        // F overflows only far from the root, on the side of χ's sign.
        let above_root = if f.is_finite() { f > 0.0 } else { chi > 0.0 };
        if above_root {
            hi = chi;
        } else {
            lo = chi;
        }
        let newton_step = f / radius;
        let newton = chi - newton_step;
        let use_newton = f.is_finite()
            && newton.is_finite()
            && newton > lo
            && newton < hi
            && 2.0 * newton_step.abs() <= previous_step.abs();
        let next = if use_newton { newton } else { 0.5 * (lo + hi) };
        previous_step = next - chi;
        if previous_step.abs() <= 4.0 * f64::EPSILON * chi.abs().max(f64::MIN_POSITIVE) {
            return eval(next).0.is_finite().then_some(next);
        }
        chi = next;
    }
    let (f, _) = eval(chi);
    (f.abs() <= 1e-12 * sqrt_mu_dt.abs().max(1e-12)).then_some(chi)
}

/// Two-body propagation of a state by `dt_days` under gravitational parameter `mu`
/// (au³/day²). Elliptic orbits are first advanced by whole periods, so any Δt is safe.
pub fn propagate(state: &StateVector, dt_days: f64, mu: f64) -> Result<StateVector, OrbitError> {
    let r0_vec = state.position_au;
    let v0_vec = state.velocity_au_per_day;
    let r0 = r0_vec.norm();
    let alpha = 2.0 / r0 - v0_vec.norm_squared() / mu;
    let sqrt_mu = mu.sqrt();
    let mut dt = dt_days;
    if alpha > 0.0 {
        let period_days = 2.0 * PI / (sqrt_mu * alpha.powf(1.5));
        dt -= (dt / period_days).round() * period_days;
    }
    let rv0_over_sqrt_mu = r0_vec.dot(&v0_vec) / sqrt_mu;
    let chi = solve_universal_anomaly(r0, rv0_over_sqrt_mu, alpha, sqrt_mu * dt)
        .ok_or(OrbitError::NoConvergence { dt_days })?;
    let chi2 = chi * chi;
    let z = alpha * chi2;
    let (c, s) = stumpff(z);
    let f = 1.0 - chi2 / r0 * c;
    let g = dt - chi2 * chi / sqrt_mu * s;
    let position_au = f * r0_vec + g * v0_vec;
    let r = position_au.norm();
    let f_dot = sqrt_mu / (r * r0) * chi * (z * s - 1.0);
    let g_dot = 1.0 - chi2 / r * c;
    Ok(StateVector::new(
        state.frame,
        position_au,
        f_dot * r0_vec + g_dot * v0_vec,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn circular_state() -> StateVector {
        StateVector::new(
            Frame::EclipticJ2000,
            Vec3::new(1.0, 0.0, 0.0),
            Vec3::new(0.0, GM_SUN_AU3_PER_DAY2.sqrt(), 0.0),
        )
    }

    #[test]
    fn stumpff_series_joins_closed_forms() {
        for z in [0.0999999, -0.0999999] {
            let (c_series, s_series) = stumpff(z);
            let (c_closed, s_closed) = if z > 0.0 {
                let w: f64 = z.sqrt();
                ((1.0 - w.cos()) / z, (w - w.sin()) / (w * z))
            } else {
                let w: f64 = (-z).sqrt();
                ((w.cosh() - 1.0) / -z, (w.sinh() - w) / (w * -z))
            };
            assert!((c_series - c_closed).abs() < 1e-14);
            assert!((s_series - s_closed).abs() < 1e-13);
        }
        assert_eq!(stumpff(0.0), (0.5, 1.0 / 6.0));
    }

    #[test]
    fn circular_orbit_quarter_period() {
        let period = 2.0 * PI / GM_SUN_AU3_PER_DAY2.sqrt();
        let s = propagate(&circular_state(), period / 4.0, GM_SUN_AU3_PER_DAY2).unwrap();
        assert!((s.position_au - Vec3::new(0.0, 1.0, 0.0)).norm() < 1e-12);
        // Many periods later the state returns.
        let s = propagate(&circular_state(), 1000.0 * period, GM_SUN_AU3_PER_DAY2).unwrap();
        assert!((s.position_au - Vec3::new(1.0, 0.0, 0.0)).norm() < 1e-9);
    }

    #[test]
    fn validation_rejects_open_orbit_with_positive_axis() {
        let el = CometElements {
            designation: "test".into(),
            solution: "test".into(),
            q_au: 1.3,
            e: 6.1,
            i_deg: 175.0,
            node_deg: 322.0,
            peri_deg: 128.0,
            tp_jd_tdb: 2_460_977.98,
            epoch_jd_tdb: None,
        };
        assert!(el.validate(Some(1.3 / (1.0 - 6.1))).is_ok());
        assert!(matches!(
            el.validate(Some(0.25)),
            Err(OrbitError::PositiveAxisForOpenOrbit { .. })
        ));
        let bad = CometElements {
            q_au: -1.0,
            ..el.clone()
        };
        assert!(matches!(
            bad.validate(None),
            Err(OrbitError::BadPerihelion(_))
        ));
        let bad = CometElements { i_deg: 190.0, ..el };
        assert!(matches!(
            bad.validate(None),
            Err(OrbitError::BadInclination(_))
        ));
    }
}
