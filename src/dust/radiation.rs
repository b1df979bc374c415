//! Radiation pressure on grains, solar gravity, and the turnaround of sunward-launched grains.
//!
//! **β** (Burns, Lamy & Soter 1979, Icarus 40, 1, eq. 19): the ratio of radiation-pressure force
//! to solar gravity on a sphere of radius a and density ρ_d is
//!
//!   β = 3 L☉ Q_pr / (16 π G M☉ c ρ_d a) = 5.74×10⁻⁴ Q_pr / (ρ_d a)   (SI: kg/m³, m),
//!
//! i.e. 5.7×10⁻⁵ Q_pr / (ρ s) in cgs as Burns et al. write it. With L☉ = 3.828×10²⁶ W (IAU 2015
//! B3), GM☉ = 1.32712440041×10²⁰ m³/s² and c the constant is 5.742×10⁻⁴ kg/m²
//! ([`beta_constant_kg_m2_from_luminosity`]); the rounded 5.74×10⁻⁴ is used. Q_pr ≈ 1 for grains
//! much larger than the wavelength (a ≳ 1 µm).
//!
//! **Solar gravity** g(rH) = GM☉ / rH² = 5.930×10⁻³ m/s² / rH² (rH in au), from the GM☉ and the
//! au the ephemerides use.
//!
//! **Turnaround.** A grain launched towards the Sun at speed v feels a net antisunward
//! acceleration β g(rH) relative to the nucleus (the nucleus and the grain share gravity
//! (1 − β) of which only the β part differs; the Sun's gravity gradient over a few thousand km,
//! the nucleus' gravity and gas drag are neglected, and rH is taken constant over the flight).
//! It stops after t = v / (β g) at the distance X = v² / (2 β g) and is then swept antisunward.
//!
//! Seen from the Earth the sunward vector of length X is foreshortened: its projection on the sky
//! is X sin α (α the phase angle, the angle at the comet between the Sun and the observer), so
//! the apparent extent is X sin α / (725.27 km × Δ) arcsec, not X / (725.27 km × Δ).

use super::{positive, DustError};
use crate::ephem::{AU_KM, DAY_S, GM_SUN_AU3_PER_DAY2, KM_PER_ARCSEC_AT_1AU};

/// The constant of β = C Q_pr / (ρ_d a) in kg/m² (Burns, Lamy & Soter 1979, rounded).
pub const BETA_CONSTANT_KG_M2: f64 = 5.74e-4;
/// Nominal solar luminosity (W), IAU 2015 Resolution B3.
pub const SOLAR_LUMINOSITY_W: f64 = 3.828e26;
/// Speed of light (m/s).
pub const SPEED_OF_LIGHT_M_S: f64 = 299_792_458.0;

const METRES_PER_AU: f64 = AU_KM * 1e3;

/// GM☉ in m³/s², from the value the ephemerides use (au³/day²).
pub fn gm_sun_m3_s2() -> f64 {
    GM_SUN_AU3_PER_DAY2 * METRES_PER_AU.powi(3) / (DAY_S * DAY_S)
}

/// 3 L☉ / (16 π GM☉ c) in kg/m²: the β constant from first principles (≈ 5.742e-4).
pub fn beta_constant_kg_m2_from_luminosity() -> f64 {
    3.0 * SOLAR_LUMINOSITY_W / (16.0 * std::f64::consts::PI * gm_sun_m3_s2() * SPEED_OF_LIGHT_M_S)
}

/// A spherical grain.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Grain {
    pub radius_um: f64,
    pub density_kg_m3: f64,
    /// Radiation-pressure efficiency Q_pr (≈ 1 for a ≫ λ).
    pub q_pr: f64,
}

impl Grain {
    /// β of this grain ([`beta`]).
    pub fn beta(&self) -> Result<f64, DustError> {
        beta(self.radius_um, self.density_kg_m3, self.q_pr)
    }
}

/// β = 5.74×10⁻⁴ Q_pr / (ρ_d a), a converted from µm to m.
pub fn beta(radius_um: f64, density_kg_m3: f64, q_pr: f64) -> Result<f64, DustError> {
    positive("radius_um", radius_um)?;
    positive("density_kg_m3", density_kg_m3)?;
    positive("q_pr", q_pr)?;
    Ok(BETA_CONSTANT_KG_M2 * q_pr / (density_kg_m3 * radius_um * 1e-6))
}

/// The radius (µm) of a grain with a given β: a = 5.74×10⁻⁴ Q_pr / (ρ_d β).
pub fn radius_um_for_beta(beta: f64, density_kg_m3: f64, q_pr: f64) -> Result<f64, DustError> {
    positive("beta", beta)?;
    positive("density_kg_m3", density_kg_m3)?;
    positive("q_pr", q_pr)?;
    Ok(BETA_CONSTANT_KG_M2 * q_pr / (density_kg_m3 * beta) * 1e6)
}

/// Solar gravity at 1 au, GM☉ / (1 au)² ≈ 5.930×10⁻³ m/s².
pub fn solar_gravity_1au_m_s2() -> f64 {
    gm_sun_m3_s2() / (METRES_PER_AU * METRES_PER_AU)
}

/// g(rH) = 5.930×10⁻³ m/s² / rH² (rH in au).
pub fn solar_gravity_m_s2(rh_au: f64) -> Result<f64, DustError> {
    positive("rh_au", rh_au)?;
    Ok(solar_gravity_1au_m_s2() / (rh_au * rh_au))
}

/// Turnaround of a grain launched sunward (module notes).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Turnaround {
    pub speed_m_s: f64,
    pub beta: f64,
    pub rh_au: f64,
    /// β g(rH) (m/s²).
    pub acceleration_m_s2: f64,
    /// X = v² / (2 β g) (km).
    pub distance_km: f64,
    /// t = v / (β g) (s).
    pub time_s: f64,
    pub time_days: f64,
}

impl Turnaround {
    /// X seen face-on at distance Δ: X / (725.27 km × Δ) arcsec (an upper bound on the
    /// apparent extent).
    pub fn distance_arcsec(&self, delta_au: f64) -> Result<f64, DustError> {
        positive("delta_au", delta_au)?;
        Ok(self.distance_km / (KM_PER_ARCSEC_AT_1AU * delta_au))
    }

    /// X projected on the sky: X sin α / (725.27 km × Δ) arcsec.
    pub fn projected_distance_arcsec(
        &self,
        delta_au: f64,
        phase_deg: f64,
    ) -> Result<f64, DustError> {
        if !(phase_deg.is_finite() && (0.0..=180.0).contains(&phase_deg)) {
            return Err(DustError::OutOfRange {
                name: "phase_deg",
                value: phase_deg,
                range: "[0°, 180°]",
            });
        }
        Ok(self.distance_arcsec(delta_au)? * phase_deg.to_radians().sin())
    }
}

/// X = v² / (2 β g(rH)) and t = v / (β g(rH)) for a grain of given β launched sunward at v.
pub fn turnaround(speed_m_s: f64, beta: f64, rh_au: f64) -> Result<Turnaround, DustError> {
    positive("speed_m_s", speed_m_s)?;
    positive("beta", beta)?;
    let acceleration_m_s2 = beta * solar_gravity_m_s2(rh_au)?;
    let time_s = speed_m_s / acceleration_m_s2;
    Ok(Turnaround {
        speed_m_s,
        beta,
        rh_au,
        acceleration_m_s2,
        distance_km: speed_m_s * speed_m_s / (2.0 * acceleration_m_s2) / 1e3,
        time_s,
        time_days: time_s / DAY_S,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn beta_of_a_100_um_grain() {
        // DESIGN §4: a = 100 µm, ρ_d = 500 kg/m³, Q_pr = 1 → β ≈ 0.0115.
        let b = beta(100.0, 500.0, 1.0).unwrap();
        assert_eq!(format!("{b:.4}"), "0.0115");
        assert!((b - 0.01148).abs() < 1e-12);
        assert!((radius_um_for_beta(b, 500.0, 1.0).unwrap() - 100.0).abs() < 1e-9);
        // The rounded constant agrees with 3 L / (16 π G M c) to its three digits.
        let derived = beta_constant_kg_m2_from_luminosity();
        assert_eq!(format!("{derived:.2e}"), "5.74e-4");
        assert!(beta(0.0, 500.0, 1.0).is_err());
        assert!(beta(100.0, -1.0, 1.0).is_err());
    }

    #[test]
    fn gravity_at_one_au() {
        let g = solar_gravity_1au_m_s2();
        assert_eq!(format!("{g:.3e}"), "5.930e-3");
        assert!((solar_gravity_m_s2(2.0).unwrap() * 4.0 - g).abs() < 1e-18);
        assert!(solar_gravity_m_s2(0.0).is_err());
    }

    #[test]
    fn turnaround_check_values() {
        // DESIGN §4: v = 5 m/s, β = 0.01, rH = 4.45 au → X ≈ 4,200 km (≈ 1.7″ at Δ = 3.45 au)
        // after ≈ 19 d.
        let t = turnaround(5.0, 0.01, 4.45).unwrap();
        assert_eq!(
            (t.distance_km / 100.0).round() * 100.0,
            4200.0,
            "{}",
            t.distance_km
        );
        assert_eq!(t.time_days.round(), 19.0, "{}", t.time_days);
        let arcsec = t.distance_arcsec(3.45).unwrap();
        assert_eq!(format!("{arcsec:.1}"), "1.7");
        assert!(t.projected_distance_arcsec(3.45, 13.0).unwrap() < arcsec);
    }
}
