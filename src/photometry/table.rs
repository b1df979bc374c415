//! The photometry table (`cometphot photometry`): one row per frame and aperture radius, with
//! the columns of [`COLUMNS`] (units in the names; missing values null).

use super::measure::{comet_flag, CometPhotometry};
use polars::prelude::*;

/// Column names, in order.
pub const COLUMNS: [&str; 24] = [
    "file",
    "mjd_mid_utc",
    "filter",
    "exptime_s",
    "airmass",
    "x",
    "y",
    "ra_deg",
    "dec_deg",
    "rh_au",
    "delta_au",
    "phase_deg",
    "radius_km",
    "radius_arcsec",
    "net_e",
    "net_err_e",
    "mag_inst",
    "zp",
    "zp_err",
    "zp_method",
    "n_stars",
    "mag",
    "mag_err",
    "flags",
];

fn finite_or_null(rows: &[CometPhotometry], f: fn(&CometPhotometry) -> f64) -> Vec<Option<f64>> {
    rows.iter()
        .map(|r| Some(f(r)).filter(|v| v.is_finite()))
        .collect()
}

/// The table of `rows` (in the given order).
pub fn to_dataframe(rows: &[CometPhotometry]) -> PolarsResult<DataFrame> {
    let text = |f: fn(&CometPhotometry) -> String| rows.iter().map(f).collect::<Vec<_>>();
    let number = |name: &str, f: fn(&CometPhotometry) -> f64| {
        Column::new(name.into(), finite_or_null(rows, f))
    };
    DataFrame::new_infer_height(vec![
        Column::new("file".into(), text(|r| r.file.clone())),
        number("mjd_mid_utc", |r| r.mjd_mid_utc),
        Column::new("filter".into(), text(|r| r.filter.clone())),
        number("exptime_s", |r| r.exptime_s),
        number("airmass", |r| r.airmass),
        number("x", |r| r.x),
        number("y", |r| r.y),
        number("ra_deg", |r| r.ra_deg),
        number("dec_deg", |r| r.dec_deg),
        number("rh_au", |r| r.rh_au),
        number("delta_au", |r| r.delta_au),
        number("phase_deg", |r| r.phase_deg),
        number("radius_km", |r| r.radius_km),
        number("radius_arcsec", |r| r.radius_arcsec),
        number("net_e", |r| r.net_e),
        number("net_err_e", |r| r.net_err_e),
        number("mag_inst", |r| r.mag_inst),
        number("zp", |r| r.zp),
        number("zp_err", |r| r.zp_err),
        Column::new("zp_method".into(), text(|r| r.zp_method.clone())),
        Column::new(
            "n_stars".into(),
            rows.iter().map(|r| r.n_stars as u32).collect::<Vec<_>>(),
        ),
        number("mag", |r| r.mag),
        number("mag_err", |r| r.mag_err),
        Column::new("flags".into(), text(|r| comet_flag::to_string(r.flags))),
    ])
}
