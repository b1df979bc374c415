//! The heliocentric lightcurve (DESIGN §4): phase laws, the power-law fit of the reduced
//! magnitude against rH with honest errors, the broken and robust variants, bootstrap
//! intervals, per-night aggregation and outburst flags.
//!
//! Data flow: [`input`] reads a table into [`points::LightcurvePoint`]s (computing missing
//! geometry from an orbit), [`points::validate`] checks them, [`analysis::analyse`] selects,
//! aggregates and fits them ([`power`], [`broken`], [`robust`], [`bootstrap`]) on the
//! quantity defined in [`model`].

pub mod analysis;
pub mod bootstrap;
pub mod broken;
pub mod input;
pub mod model;
pub mod nights;
pub mod phase;
pub mod points;
pub mod power;
pub mod robust;
pub mod wls;

use thiserror::Error;

/// Errors of the lightcurve step. Every message names the file, row and column involved
/// where there is one.
#[derive(Debug, Error)]
pub enum LightcurveError {
    #[error("{path}: {message}")]
    Read { path: String, message: String },
    #[error(
        "{source_name}: no column for {wanted} (tried {tried}); the table has: {available}. \
         Name it with --column {wanted}=NAME"
    )]
    MissingColumn {
        source_name: String,
        wanted: String,
        tried: String,
        available: String,
    },
    #[error(
        "{source_name}: row {row}, column '{column}': {message} ({bad_rows} row(s) with a \
         problem; fix or remove them)"
    )]
    BadValue {
        source_name: String,
        row: usize,
        column: String,
        message: String,
        bad_rows: usize,
    },
    #[error(
        "{points} point(s) for {parameters} parameters ({names}): a fit needs more points \
         than parameters"
    )]
    TooFewPoints {
        points: usize,
        parameters: usize,
        names: String,
    },
    #[error(
        "all {points} selected points are at rH = {rh_au} au: the index n needs a range of \
         heliocentric distances"
    )]
    SingleRh { rh_au: f64, points: usize },
    #[error(
        "the {points} selected points span rH {rh_min_au:.4}–{rh_max_au:.4} au, a relative \
         spread under {min_spread:e}: the index n is not constrained; it needs a range of \
         heliocentric distances (observations over several nights)"
    )]
    NarrowRh {
        points: usize,
        rh_min_au: f64,
        rh_max_au: f64,
        min_spread: f64,
    },
    #[error(
        "the fit is degenerate in ({names}): the data do not constrain these parameters \
         separately (e.g. one rH only, a phase angle that does not vary while fitting the \
         phase coefficient, or a filter offset that cannot be separated)"
    )]
    Degenerate { names: String },
    #[error("{0}")]
    Option(String),
    #[error("numerical failure: {0}")]
    Numerical(String),
    #[error("geometry: {0}")]
    Geometry(String),
}
