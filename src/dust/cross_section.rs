//! Reduced magnitude and scattering cross-section.
//!
//! Reduced magnitude (the magnitude at rH = Δ = 1 au and α = 0, DESIGN §4):
//!
//!   H = m − 5 log10(rH Δ) − Φ(α),    Φ(α) = β_α α for the linear law,
//!
//! with σ_H² = σ_m² + (α σ_β)² when the phase coefficient's error is given.
//!
//! Scattering cross-section (as used throughout Jewitt's papers, e.g. Jewitt & Luu 2019,
//! ApJL 886, L29, eq. 1; Jewitt et al. 2025 for 3I): a body of geometric albedo p and
//! cross-section C_e at rH = Δ = 1 au, α = 0 reflects the fraction p C_e / (π (1 au)²) of the
//! sunlight that would reach an observer at 1 au from a perfect Lambert disk of area π (1 au)²,
//! so 10^(−0.4 (H − m_sun)) = p C_e / (π (1 au)²) and
//!
//!   p C_e = π (1 au in km)² 10^(0.4 (m_sun − H))   [km²],
//!
//! with m_sun the Sun's apparent magnitude at 1 au *in the band and system of m*
//! ([`super::sun`]). The relative error of C_e is 0.4 ln 10 σ_H (the albedo and m_sun are
//! assumptions, not measurements: their uncertainty is systematic and is not propagated).
//!
//! For a sphere C_e = π D² / 4, hence D √p = 2 (1 au in km) 10^(m_sun/5) 10^(−H/5); with the
//! Willmer V value m_sun = −26.76 the constant is 1330.3 km; the often-quoted 1329 km
//! (Fowler & Chillemi 1992; Harris & Lagerros 2002) corresponds to m_sun(V) = −26.762 (which
//! gives 1329.09 km; exactly 1329 would need −26.7622). The 0.1 % difference is the 0.002 mag
//! between the two solar magnitudes, not an error in the formula.

use super::phase_correction::PhaseCorrection;
use super::sun::SolarMagnitude;
use super::{positive, DustError, ObservedMagnitude, ObservingGeometry, MAG_TO_LN};
use crate::ephem::AU_KM;

/// Reduced magnitude H and the parts of its uncertainty.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ReducedMagnitude {
    pub h_mag: f64,
    /// Total 1σ error: √(σ_phot² + σ_phase²).
    pub h_err_mag: f64,
    /// The photometric part (σ_m).
    pub h_err_phot_mag: f64,
    /// The part from the phase coefficient's uncertainty (α σ_β); common to all epochs at the
    /// same α, so it is a correlated (systematic) error in a trend fit.
    pub h_err_phase_mag: f64,
    /// The phase correction Φ(α) that was subtracted (mag).
    pub phase_correction_mag: f64,
}

/// H = m − 5 log10(rH Δ) − Φ(α) with its uncertainty (see the module notes).
pub fn reduced_magnitude(
    observed: ObservedMagnitude,
    geometry: &ObservingGeometry,
    phase_law: &PhaseCorrection,
) -> Result<ReducedMagnitude, DustError> {
    observed.validate()?;
    geometry.validate()?;
    phase_law.validate()?;
    let (phase_correction_mag, h_err_phase_mag) = phase_law.correction_mag(geometry.phase_deg)?;
    let h_mag =
        observed.mag - 5.0 * (geometry.rh_au * geometry.delta_au).log10() - phase_correction_mag;
    Ok(ReducedMagnitude {
        h_mag,
        h_err_mag: observed.mag_err.hypot(h_err_phase_mag),
        h_err_phot_mag: observed.mag_err,
        h_err_phase_mag,
        phase_correction_mag,
    })
}

/// The scattering cross-section of one epoch.
#[derive(Debug, Clone, PartialEq)]
pub struct CrossSection {
    pub h_mag: f64,
    pub h_err_mag: f64,
    pub albedo: f64,
    /// p C_e (km²): what the photometry measures, independent of the albedo assumed.
    pub albedo_cross_section_km2: f64,
    /// C_e = p C_e / p (km²).
    pub cross_section_km2: f64,
    /// 1σ error of C_e from σ_H: C_e × 0.4 ln 10 × σ_H (km²).
    pub cross_section_err_km2: f64,
    /// The solar magnitude used (band and system carried into every output).
    pub m_sun: SolarMagnitude,
}

/// p C_e = π (1 au in km)² 10^(0.4 (m_sun − H)) in km².
pub fn albedo_cross_section_km2(h_mag: f64, m_sun_mag: f64) -> f64 {
    std::f64::consts::PI * AU_KM * AU_KM * 10f64.powf(0.4 * (m_sun_mag - h_mag))
}

/// C_e (km²) and its error from H ± σ_H, the Sun's magnitude in the band and system of H, and
/// the geometric albedo p.
pub fn cross_section(
    h_mag: f64,
    h_err_mag: f64,
    m_sun: &SolarMagnitude,
    albedo: f64,
) -> Result<CrossSection, DustError> {
    super::finite("h_mag", h_mag)?;
    super::non_negative("h_err_mag", h_err_mag)?;
    positive("albedo", albedo)?;
    if albedo > 1.5 {
        return Err(DustError::OutOfRange {
            name: "albedo",
            value: albedo,
            range: "(0, 1.5]",
        });
    }
    let albedo_cross_section_km2 = albedo_cross_section_km2(h_mag, m_sun.mag);
    let cross_section_km2 = albedo_cross_section_km2 / albedo;
    Ok(CrossSection {
        h_mag,
        h_err_mag,
        albedo,
        albedo_cross_section_km2,
        cross_section_km2,
        cross_section_err_km2: cross_section_km2 * MAG_TO_LN * h_err_mag,
        m_sun: m_sun.clone(),
    })
}

/// C_e straight from an observed magnitude: [`reduced_magnitude`] then [`cross_section`].
pub fn cross_section_from_magnitude(
    observed: ObservedMagnitude,
    geometry: &ObservingGeometry,
    phase_law: &PhaseCorrection,
    m_sun: &SolarMagnitude,
    albedo: f64,
) -> Result<CrossSection, DustError> {
    let h = reduced_magnitude(observed, geometry, phase_law)?;
    cross_section(h.h_mag, h.h_err_mag, m_sun, albedo)
}

/// The inverse: H = m_sun − 2.5 log10(p C_e / (π (1 au in km)²)).
pub fn reduced_magnitude_from_cross_section(
    cross_section_km2: f64,
    albedo: f64,
    m_sun: &SolarMagnitude,
) -> Result<f64, DustError> {
    positive("cross_section_km2", cross_section_km2)?;
    positive("albedo", albedo)?;
    let area = std::f64::consts::PI * AU_KM * AU_KM;
    Ok(m_sun.mag - 2.5 * (albedo * cross_section_km2 / area).log10())
}

/// The apparent magnitude a cross-section C_e would have at `geometry`:
/// m = H + 5 log10(rH Δ) + Φ(α).
pub fn magnitude_from_cross_section(
    cross_section_km2: f64,
    albedo: f64,
    m_sun: &SolarMagnitude,
    geometry: &ObservingGeometry,
    phase_law: &PhaseCorrection,
) -> Result<f64, DustError> {
    geometry.validate()?;
    phase_law.validate()?;
    let h_mag = reduced_magnitude_from_cross_section(cross_section_km2, albedo, m_sun)?;
    let (phase_correction_mag, _) = phase_law.correction_mag(geometry.phase_deg)?;
    Ok(h_mag + 5.0 * (geometry.rh_au * geometry.delta_au).log10() + phase_correction_mag)
}

/// D √p at H = 0 for a sphere (C_e = π D²/4): 2 (1 au in km) 10^(m_sun/5), in km.
pub fn sphere_diameter_constant_km(m_sun_mag: f64) -> f64 {
    2.0 * AU_KM * 10f64.powf(m_sun_mag / 5.0)
}

/// D √p (km) of a sphere of reduced magnitude H: `sphere_diameter_constant_km(m_sun)` × 10^(−H/5).
pub fn sphere_diameter_sqrt_albedo_km(h_mag: f64, m_sun_mag: f64) -> f64 {
    sphere_diameter_constant_km(m_sun_mag) * 10f64.powf(-h_mag / 5.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dust::sun::MagSystem;

    fn v_sun() -> SolarMagnitude {
        SolarMagnitude::lookup("V", MagSystem::Vega).unwrap()
    }

    #[test]
    fn sphere_constant_in_v() {
        // C = π D²/4 and p C = π au² 10^(0.4 (m_sun − H)) → D √p = 2 au 10^(m_sun/5) 10^(−H/5).
        let k = sphere_diameter_constant_km(v_sun().mag);
        assert_eq!(format!("{k:.1}"), "1330.3");
        // The classic 1329 km is m_sun(V) = −26.762.
        let classic = sphere_diameter_constant_km(-26.762);
        assert_eq!(classic.round(), 1329.0, "{classic}");
        // Consistency with the cross-section: p π D²/4 equals p C_e at any H.
        for h in [-2.0, 5.0, 15.3] {
            let d_sqrt_p = sphere_diameter_sqrt_albedo_km(h, v_sun().mag);
            let p_ce = albedo_cross_section_km2(h, v_sun().mag);
            assert!((std::f64::consts::PI * d_sqrt_p * d_sqrt_p / 4.0 / p_ce - 1.0).abs() < 1e-12);
        }
    }

    #[test]
    fn reduced_magnitude_and_errors() {
        let geometry = ObservingGeometry {
            rh_au: 4.0,
            delta_au: 3.0,
            phase_deg: 10.0,
        };
        let h = reduced_magnitude(
            ObservedMagnitude {
                mag: 17.0,
                mag_err: 0.03,
            },
            &geometry,
            &PhaseCorrection::JEWITT_LUU_2025,
        )
        .unwrap();
        assert!((h.h_mag - (17.0 - 5.0 * 12f64.log10() - 0.4)).abs() < 1e-12);
        assert!((h.h_err_mag - (0.03f64.powi(2) + 0.2f64.powi(2)).sqrt()).abs() < 1e-12);
        let bad = ObservingGeometry {
            rh_au: -1.0,
            ..geometry
        };
        let observed = ObservedMagnitude {
            mag: 17.0,
            mag_err: 0.03,
        };
        assert!(reduced_magnitude(observed, &bad, &PhaseCorrection::NONE).is_err());
    }

    #[test]
    fn rejects_bad_albedo() {
        assert!(cross_section(10.0, 0.1, &v_sun(), 0.0).is_err());
        assert!(cross_section(10.0, 0.1, &v_sun(), f64::NAN).is_err());
        assert!(cross_section(10.0, -0.1, &v_sun(), 0.1).is_err());
    }
}
