//! Phase corrections used by the dust quantities.
//!
//! Only the linear law is implemented here: Φ(α) = β_α α magnitudes fainter than at α = 0
//! (DESIGN §4; Jewitt & Luu 2025 assume β_α = 0.04 ± 0.02 mag/deg for 3I). Dust phase functions
//! with curvature (Schleicher–Marcus, Halley–Marcus) belong with the lightcurve's phase laws
//! and are not implemented in this module.

use super::{non_negative, DustError};

/// How the brightness of the dust depends on the phase angle α.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum PhaseLaw {
    /// No phase correction (Φ = 0 at every α).
    None,
    /// Φ(α) = β_α α (mag), with the 1σ uncertainty of β_α, which is propagated into H when
    /// non-zero.
    Linear {
        coeff_mag_per_deg: f64,
        coeff_err_mag_per_deg: f64,
    },
}

impl PhaseLaw {
    /// The linear law of Jewitt & Luu 2025 for 3I: 0.04 ± 0.02 mag/deg.
    pub const JEWITT_LUU_2025: PhaseLaw = PhaseLaw::Linear {
        coeff_mag_per_deg: 0.04,
        coeff_err_mag_per_deg: 0.02,
    };

    /// Checks that a linear coefficient is finite and ≥ 0 and its error finite and ≥ 0.
    pub fn validate(&self) -> Result<(), DustError> {
        match *self {
            PhaseLaw::None => Ok(()),
            PhaseLaw::Linear {
                coeff_mag_per_deg,
                coeff_err_mag_per_deg,
            } => {
                non_negative("phase coefficient (mag/deg)", coeff_mag_per_deg)?;
                non_negative("phase coefficient error (mag/deg)", coeff_err_mag_per_deg)
            }
        }
    }

    /// Φ(α) in magnitudes and its 1σ uncertainty from the coefficient's error (α σ_β).
    pub fn correction_mag(&self, phase_deg: f64) -> (f64, f64) {
        match *self {
            PhaseLaw::None => (0.0, 0.0),
            PhaseLaw::Linear {
                coeff_mag_per_deg,
                coeff_err_mag_per_deg,
            } => (
                coeff_mag_per_deg * phase_deg,
                coeff_err_mag_per_deg * phase_deg,
            ),
        }
    }

    /// "linear 0.040 ± 0.020 mag/deg" or "none".
    pub fn describe(&self) -> String {
        match *self {
            PhaseLaw::None => "none".to_string(),
            PhaseLaw::Linear {
                coeff_mag_per_deg,
                coeff_err_mag_per_deg,
            } => format!("linear {coeff_mag_per_deg:.3} ± {coeff_err_mag_per_deg:.3} mag/deg"),
        }
    }
}
