//! The phase correction used by the dust quantities: one of the lightcurve's phase laws
//! ([`crate::lightcurve::phase::PhaseLaw`]: linear, Schleicher–Marcus, H,G) plus the 1σ
//! uncertainty of the linear coefficient, which dust propagates (DESIGN §4; Jewitt & Luu 2025
//! assume β_α = 0.04 ± 0.02 mag/deg for 3I).
//!
//! The law itself lives in the lightcurve module (one implementation of each law); this type
//! only adds the coefficient error. `correction_mag(α)` is SUBTRACTED from an observed
//! magnitude to bring it to α = 0, as in the lightcurve. The error α σ_β exists only for the
//! linear law; a non-zero σ_β with another law is rejected by [`PhaseCorrection::validate`].
//! "No correction" is the linear law with β_α = 0 ± 0 ([`PhaseCorrection::NONE`]).

use super::{non_negative, DustError};
use crate::lightcurve::phase::PhaseLaw;

/// A phase law and the 1σ error of its linear coefficient (mag/deg).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PhaseCorrection {
    pub law: PhaseLaw,
    /// σ_β of the linear coefficient (mag/deg); must be 0 for non-linear laws.
    pub coeff_err_mag_per_deg: f64,
}

impl PhaseCorrection {
    /// No phase correction: linear, 0 ± 0 mag/deg.
    pub const NONE: PhaseCorrection = PhaseCorrection {
        law: PhaseLaw::Linear {
            coeff_mag_per_deg: 0.0,
        },
        coeff_err_mag_per_deg: 0.0,
    };

    /// The linear law of Jewitt & Luu 2025 for 3I: 0.04 ± 0.02 mag/deg.
    pub const JEWITT_LUU_2025: PhaseCorrection = PhaseCorrection {
        law: PhaseLaw::Linear {
            coeff_mag_per_deg: 0.04,
        },
        coeff_err_mag_per_deg: 0.02,
    };

    /// The linear law β_α ± σ_β (mag/deg).
    pub fn linear(coeff_mag_per_deg: f64, coeff_err_mag_per_deg: f64) -> PhaseCorrection {
        PhaseCorrection {
            law: PhaseLaw::Linear { coeff_mag_per_deg },
            coeff_err_mag_per_deg,
        }
    }

    /// A law without a propagated coefficient error.
    pub fn exact(law: PhaseLaw) -> PhaseCorrection {
        PhaseCorrection {
            law,
            coeff_err_mag_per_deg: 0.0,
        }
    }

    /// The linear coefficient's σ_β (0 for the other laws).
    pub fn sigma_beta(&self) -> f64 {
        match self.law {
            PhaseLaw::Linear { .. } => self.coeff_err_mag_per_deg,
            _ => 0.0,
        }
    }

    /// Checks: a linear coefficient finite and ≥ 0, an H,G slope finite, σ_β finite and ≥ 0 and
    /// zero for a law other than linear.
    pub fn validate(&self) -> Result<(), DustError> {
        match self.law {
            PhaseLaw::Linear { coeff_mag_per_deg } => {
                non_negative("phase coefficient (mag/deg)", coeff_mag_per_deg)?
            }
            PhaseLaw::HG { g } => super::finite("phase law H,G slope G", g)?,
            PhaseLaw::SchleicherMarcus => {}
        }
        non_negative(
            "phase coefficient error (mag/deg)",
            self.coeff_err_mag_per_deg,
        )?;
        if !matches!(self.law, PhaseLaw::Linear { .. }) && self.coeff_err_mag_per_deg != 0.0 {
            return Err(DustError::OutOfRange {
                name: "phase coefficient error (mag/deg)",
                value: self.coeff_err_mag_per_deg,
                range: "{0} (only the linear law has a coefficient error)",
            });
        }
        Ok(())
    }

    /// Φ(α) in magnitudes (to subtract from m) and its 1σ uncertainty α σ_β (linear law only).
    pub fn correction_mag(&self, phase_deg: f64) -> Result<(f64, f64), DustError> {
        let c = self.law.try_correction_mag(phase_deg)?;
        Ok((c, self.sigma_beta() * phase_deg))
    }

    /// "linear 0.040 ± 0.020 mag/deg", "schleicher-marcus (Halley–Marcus composite, Schleicher
    /// 2010)" or "hg G = 0.15"; "none" for the linear law 0 ± 0.
    pub fn describe(&self) -> String {
        match self.law {
            PhaseLaw::Linear { coeff_mag_per_deg }
                if coeff_mag_per_deg == 0.0 && self.coeff_err_mag_per_deg == 0.0 =>
            {
                "none".to_string()
            }
            PhaseLaw::Linear { coeff_mag_per_deg } => format!(
                "linear {coeff_mag_per_deg:.3} ± {:.3} mag/deg",
                self.coeff_err_mag_per_deg
            ),
            PhaseLaw::SchleicherMarcus => {
                "schleicher-marcus (Halley–Marcus composite, Schleicher 2010)".to_string()
            }
            PhaseLaw::HG { g } => format!("hg G = {g}"),
        }
    }

    /// The phase assumptions as (key, value) pairs for tables: `phase_law` plus
    /// `phase_coeff_mag_per_deg`/`phase_coeff_err_mag_per_deg` (linear) or `phase_hg_g` (H,G).
    pub fn key_values(&self) -> Vec<(&'static str, String)> {
        let mut pairs = vec![("phase_law", self.law.name().to_string())];
        match self.law {
            PhaseLaw::Linear { coeff_mag_per_deg } => {
                pairs.push(("phase_coeff_mag_per_deg", coeff_mag_per_deg.to_string()));
                pairs.push((
                    "phase_coeff_err_mag_per_deg",
                    self.coeff_err_mag_per_deg.to_string(),
                ));
            }
            PhaseLaw::HG { g } => pairs.push(("phase_hg_g", g.to_string())),
            PhaseLaw::SchleicherMarcus => {}
        }
        pairs
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linear_with_error() {
        let p = PhaseCorrection::JEWITT_LUU_2025;
        p.validate().unwrap();
        let (c, e) = p.correction_mag(10.0).unwrap();
        assert!((c - 0.4).abs() < 1e-12 && (e - 0.2).abs() < 1e-12);
        assert_eq!(p.describe(), "linear 0.040 ± 0.020 mag/deg");
        assert_eq!(PhaseCorrection::NONE.describe(), "none");
        assert_eq!(
            PhaseCorrection::NONE.correction_mag(30.0).unwrap(),
            (0.0, 0.0)
        );
    }

    #[test]
    fn other_laws_use_the_lightcurve_implementation() {
        let sm = PhaseCorrection::exact(PhaseLaw::SchleicherMarcus);
        sm.validate().unwrap();
        let (c, e) = sm.correction_mag(15.0).unwrap();
        assert_eq!(c, PhaseLaw::SchleicherMarcus.correction_mag(15.0));
        assert_eq!(e, 0.0);
        let bad = PhaseCorrection {
            law: PhaseLaw::HG { g: 0.15 },
            coeff_err_mag_per_deg: 0.01,
        };
        assert!(bad.validate().is_err());
        assert!(sm.correction_mag(-1.0).is_err());
        assert!(PhaseCorrection::linear(-0.1, 0.0).validate().is_err());
        let keys: Vec<_> = sm.key_values().into_iter().map(|(k, _)| k).collect();
        assert_eq!(keys, ["phase_law"]);
    }
}
