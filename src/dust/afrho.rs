//! Afρ, the dust proxy of A'Hearn et al. 1984 (AJ 89, 579): the product of the grains' albedo A,
//! their filling factor f in the aperture and the aperture radius ρ at the comet. For a
//! steady-state coma (surface brightness ∝ 1/ρ) it does not depend on ρ.
//!
//! Convention of sbpy (`sbpy.activity.Afrho.from_fluxd`):
//!
//!   Afρ = (4 Δ² rH² / ρ) × F_comet / F_sun,
//!
//! with rH in au (as a number), Δ and ρ in the same length unit (the result has that unit; here
//! cm), F_comet the comet's flux density in the aperture and F_sun the Sun's flux density at
//! 1 au in the same band and units. From a magnitude, F_comet / F_sun = 10^(−0.4 (m − m_sun))
//! with m_sun in the band and system of m.
//!
//! Afρ and the cross-section measure the same light: with p C_e = π rH² Δ² F_comet / F_sun
//! ([`super::cross_section`], α = 0), Afρ = 4 p C_e / (π ρ). Afρ is computed at the observed phase
//! angle; [`Afrho::at_zero_phase`] gives A(0°)fρ.
//!
//! Units: 1 W m⁻² µm⁻¹ = 10⁷ erg s⁻¹ / (10⁴ cm² × 10⁴ Å) = 0.1 erg s⁻¹ cm⁻² Å⁻¹.

use super::phase_correction::PhaseCorrection;
use super::sun::SolarMagnitude;
use super::{non_negative, positive, DustError, ObservedMagnitude, MAG_TO_LN};
use crate::ephem::AU_KM;

/// erg s⁻¹ cm⁻² Å⁻¹ per W m⁻² µm⁻¹.
pub const ERG_S_CM2_A_PER_W_M2_UM: f64 = 0.1;
/// Centimetres per kilometre.
const CM_PER_KM: f64 = 1e5;

/// Converts a flux density from W m⁻² µm⁻¹ to erg s⁻¹ cm⁻² Å⁻¹ (× 0.1).
pub fn w_m2_um_to_erg_s_cm2_a(flux_w_m2_um: f64) -> f64 {
    flux_w_m2_um * ERG_S_CM2_A_PER_W_M2_UM
}

/// Geometry and aperture of an Afρ measurement.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AfrhoGeometry {
    pub rh_au: f64,
    pub delta_au: f64,
    /// Aperture radius projected at the comet (km).
    pub aperture_radius_km: f64,
}

impl AfrhoGeometry {
    fn validate(&self) -> Result<(), DustError> {
        positive("rh_au", self.rh_au)?;
        positive("delta_au", self.delta_au)?;
        positive("aperture_radius_km", self.aperture_radius_km)?;
        Ok(())
    }

    /// 4 Δ² rH² / ρ in cm (Δ and ρ in cm, rH in au).
    fn factor_cm(&self) -> f64 {
        let delta_cm = self.delta_au * AU_KM * CM_PER_KM;
        let rho_cm = self.aperture_radius_km * CM_PER_KM;
        4.0 * delta_cm * delta_cm * self.rh_au * self.rh_au / rho_cm
    }
}

/// Afρ (cm) with its 1σ uncertainty.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Afrho {
    pub afrho_cm: f64,
    pub afrho_err_cm: f64,
}

impl Afrho {
    /// A(0°)fρ: Afρ corrected to zero phase angle, Afρ × 10^(0.4 Φ(α)). The error of the phase
    /// coefficient, when given, is added in quadrature.
    pub fn at_zero_phase(
        &self,
        phase_deg: f64,
        phase_law: &PhaseCorrection,
    ) -> Result<Afrho, DustError> {
        phase_law.validate()?;
        if !(phase_deg.is_finite() && (0.0..=180.0).contains(&phase_deg)) {
            return Err(DustError::OutOfRange {
                name: "phase_deg",
                value: phase_deg,
                range: "[0°, 180°]",
            });
        }
        let (correction_mag, correction_err_mag) = phase_law.correction_mag(phase_deg)?;
        let factor = 10f64.powf(0.4 * correction_mag);
        let afrho_cm = self.afrho_cm * factor;
        let relative = (self.afrho_err_cm / self.afrho_cm).hypot(MAG_TO_LN * correction_err_mag);
        Ok(Afrho {
            afrho_cm,
            afrho_err_cm: afrho_cm * relative,
        })
    }
}

/// Afρ from the ratio F_comet / F_sun (same band and units): (4 Δ² rH² / ρ) × ratio, in cm.
pub fn afrho_cm_from_flux_ratio(
    geometry: &AfrhoGeometry,
    flux_ratio: f64,
) -> Result<f64, DustError> {
    geometry.validate()?;
    positive("flux ratio F_comet / F_sun", flux_ratio)?;
    Ok(geometry.factor_cm() * flux_ratio)
}

/// Afρ from the comet's flux density in the aperture and the Sun's at 1 au, both in
/// erg s⁻¹ cm⁻² Å⁻¹ (use [`w_m2_um_to_erg_s_cm2_a`] for W m⁻² µm⁻¹); σ_Afρ / Afρ = σ_F / F.
pub fn afrho_from_flux(
    geometry: &AfrhoGeometry,
    flux_erg_s_cm2_a: f64,
    flux_err_erg_s_cm2_a: f64,
    sun_flux_erg_s_cm2_a: f64,
) -> Result<Afrho, DustError> {
    positive("flux_erg_s_cm2_a", flux_erg_s_cm2_a)?;
    non_negative("flux_err_erg_s_cm2_a", flux_err_erg_s_cm2_a)?;
    positive("sun_flux_erg_s_cm2_a", sun_flux_erg_s_cm2_a)?;
    let afrho_cm = afrho_cm_from_flux_ratio(geometry, flux_erg_s_cm2_a / sun_flux_erg_s_cm2_a)?;
    Ok(Afrho {
        afrho_cm,
        afrho_err_cm: afrho_cm * flux_err_erg_s_cm2_a / flux_erg_s_cm2_a,
    })
}

/// Afρ from the comet's magnitude in the aperture and m_sun in the same band and system:
/// F_comet / F_sun = 10^(−0.4 (m − m_sun)); σ_Afρ / Afρ = 0.4 ln 10 σ_m.
pub fn afrho_from_magnitude(
    geometry: &AfrhoGeometry,
    observed: ObservedMagnitude,
    m_sun: &SolarMagnitude,
) -> Result<Afrho, DustError> {
    observed.validate()?;
    let ratio = 10f64.powf(-0.4 * (observed.mag - m_sun.mag));
    let afrho_cm = afrho_cm_from_flux_ratio(geometry, ratio)?;
    Ok(Afrho {
        afrho_cm,
        afrho_err_cm: afrho_cm * MAG_TO_LN * observed.mag_err,
    })
}

/// Afρ (cm) of a cross-section p C_e (km²) inside an aperture of radius ρ (km) at α = 0:
/// 4 p C_e / (π ρ), with km² / km converted to cm.
pub fn afrho_cm_from_cross_section(
    albedo_cross_section_km2: f64,
    aperture_radius_km: f64,
) -> Result<f64, DustError> {
    positive("albedo_cross_section_km2", albedo_cross_section_km2)?;
    positive("aperture_radius_km", aperture_radius_km)?;
    Ok(4.0 * albedo_cross_section_km2 / (std::f64::consts::PI * aperture_radius_km) * CM_PER_KM)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sbpy_example() {
        // sbpy's Afrho.from_fluxd example: rH 4.785 au, Δ 3.822 au, ρ 27,200 km,
        // F = 10^−13.99 erg/s/cm²/Å, F_sun = 1868 W/m²/µm → 6029.90 cm.
        let geometry = AfrhoGeometry {
            rh_au: 4.785,
            delta_au: 3.822,
            aperture_radius_km: 27_200.0,
        };
        let flux = 10f64.powf(-13.99);
        let afrho = afrho_from_flux(&geometry, flux, 0.0, w_m2_um_to_erg_s_cm2_a(1868.0)).unwrap();
        assert_eq!(format!("{:.2}", afrho.afrho_cm), "6029.90");
    }

    #[test]
    fn invalid_inputs() {
        let geometry = AfrhoGeometry {
            rh_au: 1.0,
            delta_au: 1.0,
            aperture_radius_km: 0.0,
        };
        assert!(afrho_from_flux(&geometry, 1e-14, 0.0, 186.8).is_err());
        let geometry = AfrhoGeometry {
            aperture_radius_km: 1e4,
            ..geometry
        };
        assert!(afrho_from_flux(&geometry, -1e-14, 0.0, 186.8).is_err());
        assert!(afrho_from_flux(&geometry, 1e-14, 0.0, 0.0).is_err());
    }
}
