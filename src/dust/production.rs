//! Dust mass in the aperture and dust production rate, per epoch.
//!
//! Mass of grains of radius a and density ρ_d presenting a cross-section C_e (Jewitt & Luu 2019,
//! ApJL 886, L29; Jewitt et al. 2025): each grain has mass (4/3) π a³ ρ_d and cross-section
//! π a², so
//!
//!   M = (4/3) ρ_d a C_e   [kg, with ρ_d in kg/m³, a in m, C_e in m²].
//!
//! With a in µm and C_e in km² the factors 10⁻⁶ and 10⁶ cancel: M = (4/3) ρ_d a_µm C_e,km2.
//!
//! Grains leaving the nucleus at speed v stay in an aperture of radius ℓ (km at the comet) for
//! τ = ℓ / v, so in steady state the production rate is
//!
//!   dM/dt = M / τ = 4 ρ_d a C_e v / (3 ℓ)   [kg/s].
//!
//! The errors given are those propagated from the photometry (and from the phase coefficient
//! when the law has one): σ_M / M = σ_dM/dt / dM/dt = σ_Ce / C_e. The assumptions (p, ρ_d, a, v,
//! ℓ, m_sun) are systematic and listed beside every number ([`DustAssumptions`]); their
//! uncertainty is not propagated. For a fixed angular aperture ℓ = θ × 725.27 km × Δ changes
//! with Δ; C_e / ℓ, hence dM/dt, does not for a steady-state 1/ρ coma.

use super::afrho::{afrho_from_magnitude, AfrhoGeometry};
use super::assumptions::DustAssumptions;
use super::cross_section::{cross_section, reduced_magnitude};
use super::{positive, DustError, ObservedMagnitude, ObservingGeometry, MAG_TO_LN};
use crate::ephem::DAY_S;

/// M = (4/3) ρ_d a C_e in kg (a in µm, C_e in km²).
pub fn dust_mass_kg(
    cross_section_km2: f64,
    grain_density_kg_m3: f64,
    grain_radius_um: f64,
) -> Result<f64, DustError> {
    positive("cross_section_km2", cross_section_km2)?;
    positive("grain_density_kg_m3", grain_density_kg_m3)?;
    positive("grain_radius_um", grain_radius_um)?;
    // (4/3) ρ [kg/m³] × a [µm × 1e-6 m] × C [km² × 1e6 m²].
    Ok(4.0 / 3.0 * grain_density_kg_m3 * grain_radius_um * cross_section_km2)
}

/// Residence time τ = ℓ / v in seconds (ℓ in km, v in m/s).
pub fn residence_time_s(aperture_radius_km: f64, speed_m_s: f64) -> Result<f64, DustError> {
    positive("aperture_radius_km", aperture_radius_km)?;
    positive("speed_m_s", speed_m_s)?;
    Ok(aperture_radius_km * 1e3 / speed_m_s)
}

/// dM/dt = 4 ρ_d a C_e v / (3 ℓ) in kg/s (a in µm, C_e in km², v in m/s, ℓ in km).
pub fn production_rate_kg_s(
    cross_section_km2: f64,
    grain_density_kg_m3: f64,
    grain_radius_um: f64,
    speed_m_s: f64,
    aperture_radius_km: f64,
) -> Result<f64, DustError> {
    let mass_kg = dust_mass_kg(cross_section_km2, grain_density_kg_m3, grain_radius_um)?;
    Ok(mass_kg / residence_time_s(aperture_radius_km, speed_m_s)?)
}

/// The photometry of one epoch: geometry and the magnitude in the aperture (band and system
/// those of the assumptions' m_sun).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EpochPhotometry {
    pub rh_au: f64,
    pub delta_au: f64,
    pub phase_deg: f64,
    pub mag: f64,
    pub mag_err: f64,
}

impl EpochPhotometry {
    pub fn geometry(&self) -> ObservingGeometry {
        ObservingGeometry {
            rh_au: self.rh_au,
            delta_au: self.delta_au,
            phase_deg: self.phase_deg,
        }
    }

    pub fn magnitude(&self) -> ObservedMagnitude {
        ObservedMagnitude {
            mag: self.mag,
            mag_err: self.mag_err,
        }
    }
}

/// Every per-epoch dust quantity, with 1σ errors from the photometry (`*_err_*`: total,
/// including the phase coefficient's error; `*_err_phot_*`: photometry only).
#[derive(Debug, Clone, PartialEq)]
pub struct DustEpoch {
    pub rh_au: f64,
    pub delta_au: f64,
    pub phase_deg: f64,
    pub mag: f64,
    pub mag_err: f64,
    /// H = m − 5 log10(rH Δ) − Φ(α).
    pub h_mag: f64,
    pub h_err_mag: f64,
    /// ℓ: the aperture radius at the comet (km).
    pub aperture_radius_km: f64,
    pub albedo_cross_section_km2: f64,
    pub cross_section_km2: f64,
    pub cross_section_err_km2: f64,
    pub cross_section_err_phot_km2: f64,
    /// Afρ at the observed phase angle (cm).
    pub afrho_cm: f64,
    pub afrho_err_cm: f64,
    /// A(0°)fρ with the assumptions' phase law (cm).
    pub a0frho_cm: f64,
    pub a0frho_err_cm: f64,
    pub dust_mass_kg: f64,
    pub dust_mass_err_kg: f64,
    pub residence_time_s: f64,
    pub residence_time_days: f64,
    pub production_kg_s: f64,
    pub production_err_kg_s: f64,
    pub production_err_phot_kg_s: f64,
}

/// All dust quantities of one epoch under `assumptions`.
pub fn dust_epoch(
    epoch: &EpochPhotometry,
    assumptions: &DustAssumptions,
) -> Result<DustEpoch, DustError> {
    assumptions.validate()?;
    let geometry = epoch.geometry();
    let h = reduced_magnitude(epoch.magnitude(), &geometry, &assumptions.phase_law)?;
    let ce = cross_section(h.h_mag, h.h_err_mag, &assumptions.m_sun, assumptions.albedo)?;
    let aperture_radius_km = assumptions.aperture.radius_km(epoch.delta_au)?;
    let afrho = afrho_from_magnitude(
        &AfrhoGeometry {
            rh_au: epoch.rh_au,
            delta_au: epoch.delta_au,
            aperture_radius_km,
        },
        epoch.magnitude(),
        &assumptions.m_sun,
    )?;
    let a0frho = afrho.at_zero_phase(epoch.phase_deg, &assumptions.phase_law)?;
    let dust_mass_kg = dust_mass_kg(
        ce.cross_section_km2,
        assumptions.grain_density_kg_m3,
        assumptions.grain_radius_um,
    )?;
    let residence_time_s = residence_time_s(aperture_radius_km, assumptions.speed_m_s)?;
    let production_kg_s = dust_mass_kg / residence_time_s;
    let relative_err = MAG_TO_LN * h.h_err_mag;
    let relative_err_phot = MAG_TO_LN * h.h_err_phot_mag;
    Ok(DustEpoch {
        rh_au: epoch.rh_au,
        delta_au: epoch.delta_au,
        phase_deg: epoch.phase_deg,
        mag: epoch.mag,
        mag_err: epoch.mag_err,
        h_mag: h.h_mag,
        h_err_mag: h.h_err_mag,
        aperture_radius_km,
        albedo_cross_section_km2: ce.albedo_cross_section_km2,
        cross_section_km2: ce.cross_section_km2,
        cross_section_err_km2: ce.cross_section_err_km2,
        cross_section_err_phot_km2: ce.cross_section_km2 * relative_err_phot,
        afrho_cm: afrho.afrho_cm,
        afrho_err_cm: afrho.afrho_err_cm,
        a0frho_cm: a0frho.afrho_cm,
        a0frho_err_cm: a0frho.afrho_err_cm,
        dust_mass_kg,
        dust_mass_err_kg: dust_mass_kg * relative_err,
        residence_time_s,
        residence_time_days: residence_time_s / DAY_S,
        production_kg_s,
        production_err_kg_s: production_kg_s * relative_err,
        production_err_phot_kg_s: production_kg_s * relative_err_phot,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dust::sun::MagSystem;

    #[test]
    fn closed_forms() {
        // 100 km² of 100 µm grains at 500 kg/m³: M = 4/3 × 500 × 1e-4 m × 1e8 m² = 6.667e6 kg.
        let m = dust_mass_kg(100.0, 500.0, 100.0).unwrap();
        assert!((m / 6.666_666_666_7e6 - 1.0).abs() < 1e-10);
        // Through 10,000 km at 5 m/s: τ = 2e6 s (23.1 d) → 3.333 kg/s.
        assert_eq!(residence_time_s(10_000.0, 5.0).unwrap(), 2e6);
        let q = production_rate_kg_s(100.0, 500.0, 100.0, 5.0, 10_000.0).unwrap();
        assert!((q - 10.0 / 3.0).abs() < 1e-12);
        assert!(production_rate_kg_s(100.0, 500.0, 100.0, 0.0, 10_000.0).is_err());
        assert!(dust_mass_kg(100.0, -500.0, 100.0).is_err());
    }

    #[test]
    fn epoch_is_consistent() {
        let assumptions = DustAssumptions::for_band("R", MagSystem::Vega).unwrap();
        let epoch = EpochPhotometry {
            rh_au: 2.0,
            delta_au: 1.5,
            phase_deg: 20.0,
            mag: 14.0,
            mag_err: 0.02,
        };
        let d = dust_epoch(&epoch, &assumptions).unwrap();
        let q = production_rate_kg_s(d.cross_section_km2, 500.0, 100.0, 5.0, 10_000.0).unwrap();
        assert!((d.production_kg_s / q - 1.0).abs() < 1e-12);
        assert!(d.production_err_kg_s > d.production_err_phot_kg_s);
        assert!((d.residence_time_days - 2e6 / 86_400.0).abs() < 1e-9);
        // A(0)fρ = 4 p C_e / (π ρ) exactly (same magnitude, same phase law).
        let expected = crate::dust::afrho::afrho_cm_from_cross_section(
            d.albedo_cross_section_km2,
            d.aperture_radius_km,
        )
        .unwrap();
        assert!((d.a0frho_cm / expected - 1.0).abs() < 1e-12);
    }
}
