//! Dust: scattering cross-section, Afρ, dust mass and production rate, their trends with
//! heliocentric distance, radiation pressure and the dynamics of grains (DESIGN §4, issue 6).
//!
//! Pure physics, no I/O: every function takes typed inputs whose field names carry their units
//! (`rh_au`, `radius_um`, `density_kg_m3`, `speed_m_s`, `cross_section_km2`, `afrho_cm`) and
//! returns typed results or a [`DustError`] for invalid inputs. The only data read is the table
//! of the Sun's apparent magnitudes (Willmer 2018), embedded at compile time from
//! `data/reference/sun_apparent_magnitudes_willmer2018.csv`.
//!
//! | module | what | source |
//! |---|---|---|
//! | [`sun`] | m_sun by band and system (Vega, AB, ST) | Willmer 2018, ApJS 236, 47 |
//! | [`phase_correction`] | a lightcurve phase law plus the linear coefficient's error | DESIGN §4 |
//! | [`cross_section`] | reduced magnitude H, p·C_e, C_e, D√p | Jewitt (e.g. Jewitt & Luu 2019, ApJL 886, L29) |
//! | [`afrho`] | Afρ from a flux or a magnitude | A'Hearn et al. 1984, AJ 89, 579; sbpy |
//! | [`assumptions`] | the assumptions every number depends on, printable | DESIGN §4 |
//! | [`production`] | dust mass, residence time, dM/dt per epoch | Jewitt & Luu 2019; Jewitt et al. 2025 |
//! | [`trend`] | power-law index vs rH, interpolation, expected index 2 − n | DESIGN §4 |
//! | [`radiation`] | β, solar gravity, turnaround of sunward grains | Burns, Lamy & Soter 1979 |
//! | [`grains`] | grain size / speed region from fan/tail dates | DESIGN §4 (turnaround model) |
//! | [`syndyne`] | syndynes and synchrones projected on the sky | Finson & Probstein 1968 |

pub mod afrho;
pub mod assumptions;
pub mod compare;
pub mod cross_section;
pub mod grains;
pub mod phase_correction;
pub mod production;
pub mod radiation;
pub mod sun;
pub mod syndyne;
pub mod trend;

pub use phase_correction::PhaseCorrection;

use thiserror::Error;

use crate::ephem::geometry::GeometryError;
use crate::ephem::orbit::OrbitError;
use crate::lightcurve::phase::PhaseLawError;

/// Why a dust quantity could not be computed.
#[derive(Debug, Error)]
pub enum DustError {
    #[error("{name} = {value} must be a finite positive number")]
    NotPositive { name: &'static str, value: f64 },
    #[error("{name} = {value} must be a finite number ≥ 0")]
    Negative { name: &'static str, value: f64 },
    #[error("{name} = {value} is not a finite number")]
    NotFinite { name: &'static str, value: f64 },
    #[error("{name} = {value} is outside {range}")]
    OutOfRange {
        name: &'static str,
        value: f64,
        range: &'static str,
    },
    #[error("unknown band '{band}'; known bands: {known}")]
    UnknownBand { band: String, known: String },
    #[error("unknown magnitude system '{0}'; known systems: Vega, AB, ST")]
    UnknownSystem(String),
    #[error("table of solar magnitudes, line {line}: {message}")]
    SunTable { line: usize, message: String },
    #[error(
        "a power-law fit needs at least {needed} points with positive values and errors, got {got}"
    )]
    TooFewPoints { needed: usize, got: usize },
    #[error("unknown morphology '{0}'; known: fan, tail, both")]
    UnknownMorphology(String),
    #[error("missing input: {0}")]
    Missing(&'static str),
    #[error("a power-law fit needs at least two different heliocentric distances")]
    DegenerateFit,
    #[error(
        "β = {0} is not supported: zero-speed grains are integrated for 0 < β ≤ 1 \
         (β > 1 grains are repelled by the Sun and need a repulsive-Kepler propagator)"
    )]
    UnsupportedBeta(f64),
    #[error(transparent)]
    Geometry(#[from] GeometryError),
    #[error(transparent)]
    Orbit(#[from] OrbitError),
    #[error("phase correction: {0}")]
    Phase(#[from] PhaseLawError),
}

/// Observing geometry of one epoch: heliocentric distance rH, observer distance Δ and phase
/// angle α (the Sun–comet–observer angle).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ObservingGeometry {
    pub rh_au: f64,
    pub delta_au: f64,
    pub phase_deg: f64,
}

impl ObservingGeometry {
    /// Checks rH > 0, Δ > 0 and 0 ≤ α ≤ 180°.
    pub fn validate(&self) -> Result<(), DustError> {
        positive("rh_au", self.rh_au)?;
        positive("delta_au", self.delta_au)?;
        if !(self.phase_deg.is_finite() && (0.0..=180.0).contains(&self.phase_deg)) {
            return Err(DustError::OutOfRange {
                name: "phase_deg",
                value: self.phase_deg,
                range: "[0°, 180°]",
            });
        }
        Ok(())
    }
}

/// A measured magnitude and its 1σ uncertainty (mag), in a band and system that the caller
/// states where it matters (see [`sun::SolarMagnitude`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ObservedMagnitude {
    pub mag: f64,
    pub mag_err: f64,
}

impl ObservedMagnitude {
    /// Checks that the magnitude is finite and its error finite and ≥ 0.
    pub fn validate(&self) -> Result<(), DustError> {
        finite("mag", self.mag)?;
        non_negative("mag_err", self.mag_err)
    }
}

/// 0.4 ln 10: d(ln F) / d(m) in magnitude units; σ_F / F = `MAG_TO_LN` × σ_m.
pub const MAG_TO_LN: f64 = 0.4 * std::f64::consts::LN_10;

pub(crate) fn positive(name: &'static str, value: f64) -> Result<f64, DustError> {
    if value.is_finite() && value > 0.0 {
        Ok(value)
    } else {
        Err(DustError::NotPositive { name, value })
    }
}

pub(crate) fn non_negative(name: &'static str, value: f64) -> Result<(), DustError> {
    if value.is_finite() && value >= 0.0 {
        Ok(())
    } else {
        Err(DustError::Negative { name, value })
    }
}

pub(crate) fn finite(name: &'static str, value: f64) -> Result<(), DustError> {
    if value.is_finite() {
        Ok(())
    } else {
        Err(DustError::NotFinite { name, value })
    }
}
