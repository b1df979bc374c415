//! The configuration of `cometphot run`: every option of every step, in TOML.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Every option of every step (units in the names). Deserialises with defaults for anything
/// missing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RunConfig {
    /// Raw frames; empty: the sample campaign.
    pub raw_dir: Option<PathBuf>,
    /// Built-in campaign simulated as the sample.
    pub sample_campaign: String,
    pub object: String,
    pub reference: String,
    /// Observer for frames without OBSGEO keywords.
    pub site: String,
    /// Reference catalogue; empty: each night's `catalogue.csv` when present.
    pub catalog: Option<PathBuf>,
    /// Standard-star catalogue (columns as `catalog`) of the frames classified 'standard':
    /// each night's photometry fits zp = zp0 − k·X per filter on them and calibrates the
    /// frames that have no catalogue zero point (`photometry --standards`); empty: each
    /// night's `standards.csv` when present. Without either, standard frames are skipped.
    pub standards: Option<PathBuf>,
    pub radius_km: f64,
    pub annulus_inner_arcsec: f64,
    pub annulus_outer_arcsec: f64,
    pub phase_coeff_mag_per_deg: f64,
    pub phase_coeff_err_mag_per_deg: f64,
    /// `power`, `broken` or `both`.
    pub model: String,
    pub bootstrap: usize,
    /// Band and system of the photometry for m_sun (Willmer 2018).
    pub band: String,
    pub system: String,
    pub albedo: f64,
    pub grain_density_kg_m3: f64,
    pub grain_radius_um: f64,
    pub speed_m_s: f64,
    pub at_rh_au: f64,
    /// Morphology table (date, fan|tail|both) for the grain inference; empty: none.
    pub morphology: Option<PathBuf>,
    pub activity_start: Option<String>,
    /// Date of the syndyne/synchrone diagram (ISO); empty: the date of the last frame.
    pub syndyne_date: Option<String>,
    /// Frames measured with `cometphot aperture` at a given position, beside the campaign
    /// (`aperture_examples.csv`); an example whose directory does not exist is left out.
    pub aperture_examples: Vec<ApertureExample>,
}

/// Aperture photometry at a fixed starting position (refined by the windowed centroid), for
/// frames without an orbit or catalogue (the real NEOSSat frames of C/2021 A1 by default).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApertureExample {
    pub dir: PathBuf,
    /// Starting position X,Y (0-based px).
    pub at_px: [f64; 2],
    pub radii_px: Vec<f64>,
    /// Sky annulus inner and outer radius (px).
    pub annulus_px: [f64; 2],
}

impl Default for RunConfig {
    fn default() -> Self {
        RunConfig {
            raw_dir: None,
            sample_campaign: "3I-2025".into(),
            object: "3I".into(),
            reference: "2I".into(),
            site: "NOT".into(),
            catalog: None,
            standards: None,
            radius_km: 10_000.0,
            annulus_inner_arcsec: 30.0,
            annulus_outer_arcsec: 45.0,
            phase_coeff_mag_per_deg: 0.04,
            phase_coeff_err_mag_per_deg: 0.02,
            model: "both".into(),
            bootstrap: 500,
            band: "R".into(),
            system: "vega".into(),
            albedo: 0.1,
            grain_density_kg_m3: 500.0,
            grain_radius_um: 100.0,
            speed_m_s: 5.0,
            at_rh_au: 2.0,
            morphology: Some(PathBuf::from("data/reference/morphology_3I_2025.csv")),
            activity_start: Some("2025-06-01".into()),
            syndyne_date: None,
            aperture_examples: vec![ApertureExample {
                dir: PathBuf::from("data/real/neossat"),
                at_px: [570.0, 510.0],
                radii_px: vec![5.0, 10.0, 20.0],
                annulus_px: [30.0, 45.0],
            }],
        }
    }
}
