//! The assumptions every dust number depends on, with the defaults of DESIGN §4, and their
//! rendering for tables and summaries (every output must list them).

use super::phase_correction::PhaseCorrection;
use super::sun::{MagSystem, SolarMagnitude};
use super::{positive, DustError};
use crate::ephem::KM_PER_ARCSEC_AT_1AU;

/// Default geometric albedo p (DESIGN §4).
pub const DEFAULT_ALBEDO: f64 = 0.1;
/// Default grain density ρ_d (kg/m³).
pub const DEFAULT_GRAIN_DENSITY_KG_M3: f64 = 500.0;
/// Default effective grain radius a (µm): 0.1 mm, Jewitt & Luu 2025.
pub const DEFAULT_GRAIN_RADIUS_UM: f64 = 100.0;
/// Default ejection speed v (m/s): Jewitt & Luu 2025.
pub const DEFAULT_SPEED_M_S: f64 = 5.0;
/// Default aperture radius (km at the comet).
pub const DEFAULT_APERTURE_RADIUS_KM: f64 = 10_000.0;

/// Is the aperture fixed in km at the comet or in arcsec on the sky?
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApertureKind {
    FixedLinear,
    FixedAngular,
}

/// The photometric aperture radius, which is also the length ℓ that grains cross in the
/// residence time ℓ / v.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ApertureRadius {
    /// Fixed radius at the comet (km).
    FixedKm(f64),
    /// Fixed radius on the sky (arcsec): ℓ = θ × 725.27 km × Δ (au).
    FixedArcsec(f64),
}

impl ApertureRadius {
    /// ℓ in km at the comet for an observer distance Δ.
    pub fn radius_km(&self, delta_au: f64) -> Result<f64, DustError> {
        match *self {
            ApertureRadius::FixedKm(km) => positive("aperture_radius_km", km),
            ApertureRadius::FixedArcsec(arcsec) => {
                positive("aperture_radius_arcsec", arcsec)?;
                positive("delta_au", delta_au)?;
                Ok(arcsec * KM_PER_ARCSEC_AT_1AU * delta_au)
            }
        }
    }

    pub fn kind(&self) -> ApertureKind {
        match self {
            ApertureRadius::FixedKm(_) => ApertureKind::FixedLinear,
            ApertureRadius::FixedArcsec(_) => ApertureKind::FixedAngular,
        }
    }

    /// "10000 km (fixed linear)" or "5.0 arcsec (fixed angular)".
    pub fn describe(&self) -> String {
        match *self {
            ApertureRadius::FixedKm(km) => format!("{km:.0} km (fixed linear)"),
            ApertureRadius::FixedArcsec(arcsec) => format!("{arcsec:.2} arcsec (fixed angular)"),
        }
    }
}

/// Everything a cross-section, mass or production rate depends on besides the photometry.
#[derive(Debug, Clone, PartialEq)]
pub struct DustAssumptions {
    /// Geometric albedo p of the grains.
    pub albedo: f64,
    /// The Sun's magnitude in the band and system of the photometry.
    pub m_sun: SolarMagnitude,
    /// Grain material density ρ_d (kg/m³).
    pub grain_density_kg_m3: f64,
    /// Effective grain radius a (µm).
    pub grain_radius_um: f64,
    /// Ejection speed v (m/s).
    pub speed_m_s: f64,
    /// Aperture radius = length ℓ crossed by grains in the residence time.
    pub aperture: ApertureRadius,
    /// Phase correction applied to H.
    pub phase_law: PhaseCorrection,
}

impl DustAssumptions {
    /// The defaults of DESIGN §4 (p = 0.1, ρ_d = 500 kg/m³, a = 100 µm, v = 5 m/s,
    /// ℓ = 10,000 km fixed, linear phase law 0.04 ± 0.02 mag/deg as in Jewitt & Luu 2025) for
    /// photometry in `m_sun`'s band and system. The band has no default: it must be stated.
    pub fn with_defaults(m_sun: SolarMagnitude) -> DustAssumptions {
        DustAssumptions {
            albedo: DEFAULT_ALBEDO,
            m_sun,
            grain_density_kg_m3: DEFAULT_GRAIN_DENSITY_KG_M3,
            grain_radius_um: DEFAULT_GRAIN_RADIUS_UM,
            speed_m_s: DEFAULT_SPEED_M_S,
            aperture: ApertureRadius::FixedKm(DEFAULT_APERTURE_RADIUS_KM),
            phase_law: PhaseCorrection::JEWITT_LUU_2025,
        }
    }

    /// [`DustAssumptions::with_defaults`] with m_sun looked up in the Willmer 2018 table.
    pub fn for_band(band: &str, system: MagSystem) -> Result<DustAssumptions, DustError> {
        Ok(DustAssumptions::with_defaults(SolarMagnitude::lookup(
            band, system,
        )?))
    }

    /// Checks every parameter (positive, finite, p ≤ 1.5).
    pub fn validate(&self) -> Result<(), DustError> {
        positive("albedo", self.albedo)?;
        if self.albedo > 1.5 {
            return Err(DustError::OutOfRange {
                name: "albedo",
                value: self.albedo,
                range: "(0, 1.5]",
            });
        }
        super::finite("m_sun", self.m_sun.mag)?;
        positive("grain_density_kg_m3", self.grain_density_kg_m3)?;
        positive("grain_radius_um", self.grain_radius_um)?;
        positive("speed_m_s", self.speed_m_s)?;
        match self.aperture {
            ApertureRadius::FixedKm(km) => positive("aperture_radius_km", km)?,
            ApertureRadius::FixedArcsec(arcsec) => positive("aperture_radius_arcsec", arcsec)?,
        };
        self.phase_law.validate()
    }

    /// One line for summaries: "p = 0.100; m_sun = -27.15 (R_Cousins, Vega; Willmer 2018);
    /// ρ_d = 500 kg/m³; a = 100 µm; v = 5 m/s; ℓ = 10000 km (fixed linear); phase law
    /// linear 0.040 ± 0.020 mag/deg".
    pub fn describe(&self) -> String {
        format!(
            "p = {:.3}; m_sun = {}; ρ_d = {} kg/m³; a = {} µm; v = {} m/s; ℓ = {}; phase law {}",
            self.albedo,
            self.m_sun.describe(),
            self.grain_density_kg_m3,
            self.grain_radius_um,
            self.speed_m_s,
            self.aperture.describe(),
            self.phase_law.describe()
        )
    }

    /// The assumptions as (key, value) pairs, keys named like table columns (units in names),
    /// for CSV headers/metadata and report tables.
    pub fn key_values(&self) -> Vec<(&'static str, String)> {
        let mut pairs = vec![
            ("albedo", self.albedo.to_string()),
            ("m_sun_mag", self.m_sun.mag.to_string()),
            ("m_sun_band", self.m_sun.band.clone()),
            ("m_sun_system", self.m_sun.system.to_string()),
            ("m_sun_source", self.m_sun.source.clone()),
            ("grain_density_kg_m3", self.grain_density_kg_m3.to_string()),
            ("grain_radius_um", self.grain_radius_um.to_string()),
            ("speed_m_s", self.speed_m_s.to_string()),
        ];
        if let Some(note) = &self.m_sun.note {
            pairs.push(("m_sun_note", note.clone()));
        }
        match self.aperture {
            ApertureRadius::FixedKm(km) => {
                pairs.push(("aperture_kind", "fixed_linear".to_string()));
                pairs.push(("aperture_radius_km", km.to_string()));
            }
            ApertureRadius::FixedArcsec(arcsec) => {
                pairs.push(("aperture_kind", "fixed_angular".to_string()));
                pairs.push(("aperture_radius_arcsec", arcsec.to_string()));
            }
        }
        pairs.extend(self.phase_law.key_values());
        pairs
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_rendering() {
        let a = DustAssumptions::for_band("R", MagSystem::Vega).unwrap();
        a.validate().unwrap();
        let text = a.describe();
        for needle in [
            "p = 0.100",
            "-27.15 (R_Cousins, Vega; Willmer 2018)",
            "ρ_d = 500 kg/m³",
            "a = 100 µm",
            "v = 5 m/s",
            "ℓ = 10000 km (fixed linear)",
            "linear 0.040 ± 0.020 mag/deg",
        ] {
            assert!(text.contains(needle), "{text} lacks {needle}");
        }
        let keys: Vec<_> = a.key_values().into_iter().map(|(k, _)| k).collect();
        for key in [
            "albedo",
            "m_sun_mag",
            "m_sun_band",
            "m_sun_system",
            "grain_density_kg_m3",
            "grain_radius_um",
            "speed_m_s",
            "aperture_radius_km",
            "phase_law",
            "phase_coeff_mag_per_deg",
        ] {
            assert!(keys.contains(&key), "{key}");
        }
    }

    #[test]
    fn invalid_assumptions() {
        let mut a = DustAssumptions::for_band("V", MagSystem::Vega).unwrap();
        a.grain_radius_um = 0.0;
        assert!(a.validate().is_err());
        let mut a = DustAssumptions::for_band("V", MagSystem::Vega).unwrap();
        a.aperture = ApertureRadius::FixedArcsec(-1.0);
        assert!(a.validate().is_err());
    }

    #[test]
    fn angular_aperture_scales_with_delta() {
        let r = ApertureRadius::FixedArcsec(5.0).radius_km(2.0).unwrap();
        assert!((r - 5.0 * 725.27 * 2.0).abs() < 0.1);
    }
}
