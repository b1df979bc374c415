//! The lightcurve input shared by `fit` and `dust`: the table, its column names, the
//! aperture to use, flagged rows, and the orbit for tables without geometry.

use std::path::PathBuf;

use clap::Args;

use cometphot::ephem::ephemeris::OrbitModel;
use cometphot::ephem::orbit::CometElements;
use cometphot::ephem::site::Site;
use cometphot::lightcurve::input::{
    read_lightcurve, ColumnMap, OrbitGeometry, ReadOptions, DEFAULT_EXCLUDED_FLAGS,
};
use cometphot::lightcurve::points::{validate, LightcurvePoint};

use super::Verbosity;

#[derive(Debug, Args)]
pub struct LightcurveInput {
    /// Lightcurve table (.csv or .parquet): cometphot's photometry table or any table with
    /// time, rh, delta, alpha, mag, mag_err (and filter) columns.
    pub lightcurve: PathBuf,
    /// Comet: a built-in orbit (3I, 2I, ...) or the name to pick from --elements; gives the
    /// perihelion time and the geometry when the table has none.
    #[arg(long)]
    pub object: Option<String>,
    /// Orbital elements (TOML or MPC comet-format lines).
    #[arg(long)]
    pub elements: Option<PathBuf>,
    /// Observer for computed geometry: a site name, MPC code, LON,LAT,ALT_M or geocentric.
    #[arg(long, default_value = "geocentric", allow_hyphen_values = true)]
    pub site: String,
    /// Two-body orbit (Sun only) for computed geometry.
    #[arg(long)]
    pub two_body: bool,
    /// Name a column: FIELD=NAME with FIELD one of time, rh, delta, alpha, mag, mag_err,
    /// filter (repeatable).
    #[arg(long = "column", value_name = "FIELD=NAME")]
    pub columns: Vec<String>,
    /// Aperture radius (km) to use from a photometry table holding several.
    #[arg(long)]
    pub radius_km: Option<f64>,
    /// Keep photometry rows flagged saturated, edge or star_in_aperture (left out by default).
    #[arg(long)]
    pub keep_flagged: bool,
    /// Whether [`LightcurveInput::load`] names the rows it leaves out for their flags. Not a
    /// command-line option: `run` turns it off for its `dust` step, which reads the table its
    /// `fit` step has already reported on.
    #[arg(skip = true)]
    pub report_excluded: bool,
}

/// Validated points and the comet's elements when given.
pub struct LoadedLightcurve {
    pub points: Vec<LightcurvePoint>,
    pub elements: Option<CometElements>,
    pub name: String,
    /// Aperture radius of the rows read, from a `radius_km` column (km).
    pub radius_km: Option<f64>,
}

impl LightcurveInput {
    /// Reads and validates the table; reports rows left out for their flags.
    pub fn load(&self, verbosity: Verbosity) -> anyhow::Result<LoadedLightcurve> {
        let elements = super::comet_elements(self.elements.as_deref(), self.object.as_deref())?;
        let site = Site::parse(&self.site)?;
        let name = self.lightcurve.display().to_string();
        let read_options = ReadOptions {
            columns: ColumnMap::parse(&self.columns)?,
            radius_km: self.radius_km,
            exclude_flags: if self.keep_flagged {
                Vec::new()
            } else {
                DEFAULT_EXCLUDED_FLAGS
                    .iter()
                    .map(|s| s.to_string())
                    .collect()
            },
            geometry: elements.as_ref().map(|elements| OrbitGeometry {
                elements,
                model: if self.two_body {
                    OrbitModel::TwoBody
                } else {
                    OrbitModel::Perturbed
                },
                site: &site,
            }),
        };
        let read = read_lightcurve(&self.lightcurve, &read_options)?;
        if !read.excluded.is_empty() && self.report_excluded && verbosity != Verbosity::Quiet {
            eprintln!(
                "{name}: {} row(s) left out for their flags ({}; keep them with --keep-flagged)",
                read.excluded.len(),
                read.excluded
                    .iter()
                    .map(|(row, flags)| format!("row {row}: {flags}"))
                    .collect::<Vec<_>>()
                    .join("; ")
            );
        }
        if read.points.is_empty() && !read.excluded.is_empty() {
            anyhow::bail!(
                "{name}: all {} rows carry a flag that leaves them out ({}): no point to fit \
                 (keep them with --keep-flagged, at your own risk)",
                read.excluded.len(),
                DEFAULT_EXCLUDED_FLAGS.join(" or ")
            );
        }
        validate(&read.points, &name)?;
        Ok(LoadedLightcurve {
            points: read.points,
            elements,
            name,
            radius_km: read.radius_km,
        })
    }
}
