//! Reading a lightcurve table (CSV or Parquet): cometphot's photometry table or any table
//! with columns for time, rH, Δ, phase angle, magnitude, its error and the filter.
//!
//! Columns are found by name (case-insensitive, a UTF-8 byte-order mark ignored) among the
//! aliases of [`Field::aliases`], or named explicitly with a [`ColumnMap`]. The time may be
//! an MJD (UTC), a JD (a column whose name contains `jd` but not `mjd`) or ISO 8601 text.
//! Missing rH, Δ and α are computed from an orbit when one is given.

use std::collections::BTreeMap;
use std::path::Path;

use polars::prelude::*;

use super::points::LightcurvePoint;
use super::LightcurveError;
use crate::ephem::ephemeris::{GeometrySource, OrbitModel};
use crate::ephem::orbit::CometElements;
use crate::ephem::site::Site;
use crate::ephem::time::UtcInstant;

/// A column the lightcurve needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Field {
    Time,
    Rh,
    Delta,
    Alpha,
    Mag,
    MagErr,
    Filter,
}

impl Field {
    pub const ALL: [Field; 7] = [
        Field::Time,
        Field::Rh,
        Field::Delta,
        Field::Alpha,
        Field::Mag,
        Field::MagErr,
        Field::Filter,
    ];

    /// The name used in `--column FIELD=NAME`.
    pub fn key(self) -> &'static str {
        match self {
            Field::Time => "time",
            Field::Rh => "rh",
            Field::Delta => "delta",
            Field::Alpha => "alpha",
            Field::Mag => "mag",
            Field::MagErr => "mag_err",
            Field::Filter => "filter",
        }
    }

    /// Column names recognised without a mapping, in order of preference.
    pub fn aliases(self) -> &'static [&'static str] {
        match self {
            Field::Time => &[
                "mjd",
                "mjd_mid_utc",
                "mjd_utc",
                "mjd_mid",
                "jd",
                "jd_utc",
                "jd_mid",
                "date_obs",
                "date-obs",
                "time_utc",
                "time",
                "datetime",
                "epoch",
            ],
            Field::Rh => &["rh", "rh_au", "r_au", "r", "helio_dist_au"],
            Field::Delta => &["delta", "delta_au", "geo_dist_au"],
            Field::Alpha => &["alpha", "phase_deg", "alpha_deg", "phase", "phase_angle"],
            Field::Mag => &["mag", "magnitude", "m"],
            Field::MagErr => &[
                "mag_err",
                "magerr",
                "mag_error",
                "e_mag",
                "sigma_mag",
                "mag_unc",
                "err",
            ],
            Field::Filter => &["filter", "band", "flt"],
        }
    }

    pub fn parse(key: &str) -> Option<Field> {
        Field::ALL.into_iter().find(|f| f.key() == key)
    }
}

/// Explicit column names, `field → column`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ColumnMap(pub BTreeMap<Field, String>);

impl ColumnMap {
    /// Parses `FIELD=NAME` items (e.g. `mag=m_r`, `time=date_obs`).
    pub fn parse(items: &[String]) -> Result<ColumnMap, LightcurveError> {
        let mut map = BTreeMap::new();
        for item in items {
            let Some((key, name)) = item.split_once('=') else {
                return Err(LightcurveError::Option(format!(
                    "--column '{item}': expected FIELD=NAME"
                )));
            };
            let Some(field) = Field::parse(key.trim()) else {
                let known: Vec<&str> = Field::ALL.iter().map(|f| f.key()).collect();
                return Err(LightcurveError::Option(format!(
                    "--column '{item}': unknown field '{key}' (known: {})",
                    known.join(", ")
                )));
            };
            map.insert(field, name.trim().to_string());
        }
        Ok(ColumnMap(map))
    }
}

/// How to read the table.
#[derive(Debug, Clone, Default)]
pub struct ReadOptions<'a> {
    pub columns: ColumnMap,
    /// For cometphot photometry tables with several apertures: keep the rows of this radius
    /// (km, matched to 1e-6 relative).
    pub radius_km: Option<f64>,
    /// Orbit and observer to compute rH, Δ and α when the table lacks them.
    pub geometry: Option<OrbitGeometry<'a>>,
    /// Rows whose `flags` column (cometphot photometry tables: names separated by `|`)
    /// holds any of these are left out; see [`DEFAULT_EXCLUDED_FLAGS`].
    pub exclude_flags: Vec<String>,
}

/// Quality flags of the photometry table that make a magnitude unusable for the lightcurve by
/// default: light lost to saturation or the frame edge, or a star's light in the aperture.
pub const DEFAULT_EXCLUDED_FLAGS: [&str; 3] = ["saturated", "edge", "star_in_aperture"];

/// Points read from a table and the rows left out for their flags.
#[derive(Debug, Clone, PartialEq)]
pub struct ReadLightcurve {
    pub points: Vec<LightcurvePoint>,
    /// (row, flags) of every row left out by [`ReadOptions::exclude_flags`].
    pub excluded: Vec<(usize, String)>,
    /// The aperture radius of the rows kept, for tables with a `radius_km` column (km).
    pub radius_km: Option<f64>,
}

/// The comet's orbit and the observer, for tables without geometry columns.
#[derive(Debug, Clone, Copy)]
pub struct OrbitGeometry<'a> {
    pub elements: &'a CometElements,
    pub model: OrbitModel,
    pub site: &'a Site,
}

/// Reads the table at `path` (Parquet when it ends in `.parquet`, CSV otherwise).
pub fn read_lightcurve(
    path: &Path,
    options: &ReadOptions,
) -> Result<ReadLightcurve, LightcurveError> {
    let name = path.display().to_string();
    let read_error = |e: &dyn std::fmt::Display| LightcurveError::Read {
        path: name.clone(),
        message: e.to_string(),
    };
    let df = if path.extension().is_some_and(|e| e == "parquet") {
        let file = std::fs::File::open(path).map_err(|e| read_error(&e))?;
        ParquetReader::new(file)
            .finish()
            .map_err(|e| read_error(&e))?
    } else {
        if let Err(e) = std::fs::metadata(path) {
            return Err(read_error(&e));
        }
        CsvReadOptions::default()
            .with_has_header(true)
            .with_infer_schema_length(None)
            .try_into_reader_with_file_path(Some(path.to_path_buf()))
            .map_err(|e| read_error(&e))?
            .finish()
            .map_err(|e| read_error(&e))?
    };
    points_from_dataframe(&df, &name, options)
}

/// Turns a table into points (see the module notes).
pub fn points_from_dataframe(
    df: &DataFrame,
    source_name: &str,
    options: &ReadOptions,
) -> Result<ReadLightcurve, LightcurveError> {
    let columns: Vec<(String, String)> = df
        .get_column_names()
        .iter()
        .map(|c| {
            let clean = c.trim_start_matches('\u{feff}').trim().to_string();
            (clean, c.to_string())
        })
        .collect();
    let available = columns
        .iter()
        .map(|(clean, _)| clean.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    let find = |field: Field| -> Option<String> {
        if let Some(name) = options.columns.0.get(&field) {
            return columns
                .iter()
                .find(|(clean, _)| clean == name)
                .map(|(_, raw)| raw.clone());
        }
        field.aliases().iter().find_map(|alias| {
            columns
                .iter()
                .find(|(clean, _)| clean.eq_ignore_ascii_case(alias))
                .map(|(_, raw)| raw.clone())
        })
    };
    let missing = |field: Field, hint: &str| LightcurveError::MissingColumn {
        source_name: source_name.to_string(),
        wanted: field.key().to_string(),
        tried: match options.columns.0.get(&field) {
            Some(name) => format!("'{name}' as mapped{hint}"),
            None => format!("{}{hint}", field.aliases().join(", ")),
        },
        available: available.clone(),
    };
    if df.height() == 0 {
        return Err(LightcurveError::Read {
            path: source_name.to_string(),
            message: "the table has no rows".to_string(),
        });
    }
    let time_col = find(Field::Time).ok_or_else(|| missing(Field::Time, ""))?;
    let times = time_mjd(df, &time_col, source_name)?;
    let mag = numeric(
        df,
        &find(Field::Mag).ok_or_else(|| missing(Field::Mag, ""))?,
        source_name,
    )?;
    let mag_err = numeric(
        df,
        &find(Field::MagErr).ok_or_else(|| missing(Field::MagErr, ""))?,
        source_name,
    )?;
    let filter = match find(Field::Filter) {
        Some(col) => text(df, &col, source_name)?,
        None => vec!["-".to_string(); df.height()],
    };
    let geometry_columns = [Field::Rh, Field::Delta, Field::Alpha].map(find);
    let geometry: Vec<[f64; 3]> = if geometry_columns.iter().all(Option::is_some) {
        let cols: Vec<Vec<f64>> = geometry_columns
            .iter()
            .flatten()
            .map(|c| numeric(df, c, source_name))
            .collect::<Result<_, _>>()?;
        (0..df.height())
            .map(|i| [cols[0][i], cols[1][i], cols[2][i]])
            .collect()
    } else if let Some(orbit) = options.geometry {
        let utc = |mjd: f64| {
            UtcInstant::from_mjd(mjd).map_err(|e| LightcurveError::Geometry(e.to_string()))
        };
        let first = times.iter().copied().fold(f64::INFINITY, f64::min);
        let last = times.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let source =
            GeometrySource::orbit(orbit.elements.clone(), orbit.model, utc(first)?, utc(last)?)
                .map_err(|e| LightcurveError::Geometry(format!("{source_name}: {e}")))?;
        let site = orbit.site;
        times
            .iter()
            .enumerate()
            .map(|(i, &t)| {
                let utc = UtcInstant::from_mjd(t).map_err(|e| LightcurveError::BadValue {
                    source_name: source_name.to_string(),
                    row: i + 1,
                    column: time_col.clone(),
                    message: e.to_string(),
                    bad_rows: 1,
                })?;
                let obs = source.observe(site, utc).map_err(|e| {
                    LightcurveError::Geometry(format!("{source_name}, row {}: {e}", i + 1))
                })?;
                Ok([obs.rh_au, obs.delta_au, obs.phase_deg])
            })
            .collect::<Result<_, LightcurveError>>()?
    } else {
        let absent = Field::ALL[1..4]
            .iter()
            .zip(&geometry_columns)
            .find(|(_, c)| c.is_none())
            .map(|(f, _)| *f)
            .unwrap_or(Field::Rh);
        return Err(missing(
            absent,
            "; or give the object (--object/--elements) to compute the geometry",
        ));
    };
    let (keep, radius_km) = match radius_rows(df, source_name, options.radius_km)? {
        Some((keep, radius)) => (Some(keep), Some(radius)),
        None => (None, None),
    };
    let flags = match columns.iter().find(|(clean, _)| clean == "flags") {
        Some((_, raw)) => Some(text(df, raw, source_name)?),
        None => None,
    };
    let excluded_by_flag = |i: usize| -> bool {
        flags.as_ref().is_some_and(|f| {
            f[i].split('|')
                .any(|flag| options.exclude_flags.iter().any(|x| x == flag.trim()))
        })
    };
    let rows: Vec<usize> = (0..df.height())
        .filter(|&i| keep.as_ref().is_none_or(|k| k[i]))
        .collect();
    let excluded = rows
        .iter()
        .filter(|&&i| excluded_by_flag(i))
        .map(|&i| {
            (
                i + 1,
                flags.as_ref().map(|f| f[i].clone()).unwrap_or_default(),
            )
        })
        .collect();
    let points = rows
        .into_iter()
        .filter(|&i| !excluded_by_flag(i))
        .map(|i| LightcurvePoint {
            row: i + 1,
            time_mjd: times[i],
            rh_au: geometry[i][0],
            delta_au: geometry[i][1],
            phase_deg: geometry[i][2],
            mag: mag[i],
            mag_err: mag_err[i],
            filter: filter[i].clone(),
        })
        .collect();
    Ok(ReadLightcurve {
        points,
        excluded,
        radius_km,
    })
}

/// Rows of the chosen aperture and its radius (km) in a table with a `radius_km` column;
/// `None` keeps all rows.
fn radius_rows(
    df: &DataFrame,
    source_name: &str,
    radius_km: Option<f64>,
) -> Result<Option<(Vec<bool>, f64)>, LightcurveError> {
    let Ok(column) = df.column("radius_km") else {
        return match radius_km {
            Some(r) => Err(LightcurveError::Option(format!(
                "{source_name}: --radius-km {r} given but the table has no radius_km column"
            ))),
            None => Ok(None),
        };
    };
    let radii = numeric(df, column.name().as_str(), source_name)?;
    let mut distinct: Vec<f64> = radii.iter().copied().filter(|r| r.is_finite()).collect();
    distinct.sort_by(f64::total_cmp);
    distinct.dedup_by(|a, b| (*a - *b).abs() <= 1e-6 * b.abs());
    let chosen = match (radius_km, distinct.as_slice()) {
        (Some(r), _) => r,
        (None, [only]) => *only,
        (None, []) => return Ok(None),
        (None, many) => {
            let list: Vec<String> = many.iter().map(|r| format!("{r}")).collect();
            return Err(LightcurveError::Option(format!(
                "{source_name}: the table holds several aperture radii ({} km); choose one \
                 with --radius-km",
                list.join(", ")
            )));
        }
    };
    let keep: Vec<bool> = radii
        .iter()
        .map(|r| (r - chosen).abs() <= 1e-6 * chosen.abs())
        .collect();
    if !keep.iter().any(|&k| k) {
        return Err(LightcurveError::Option(format!(
            "{source_name}: no row has radius_km = {chosen}"
        )));
    }
    Ok(Some((keep, chosen)))
}

fn bad_value(source_name: &str, row: usize, column: &str, message: String) -> LightcurveError {
    LightcurveError::BadValue {
        source_name: source_name.to_string(),
        row,
        column: column.to_string(),
        message,
        bad_rows: 1,
    }
}

/// A numeric column as f64; empty cells and text are errors naming the row.
fn numeric(df: &DataFrame, column: &str, source_name: &str) -> Result<Vec<f64>, LightcurveError> {
    let series = df
        .column(column)
        .map_err(|e| LightcurveError::Option(e.to_string()))?
        .as_materialized_series()
        .clone();
    let clean = column.trim_start_matches('\u{feff}');
    if series.dtype().is_primitive_numeric() {
        let cast = series
            .cast(&DataType::Float64)
            .map_err(|e| bad_value(source_name, 1, clean, e.to_string()))?;
        let values = cast
            .f64()
            .map_err(|e| bad_value(source_name, 1, clean, e.to_string()))?;
        return values
            .iter()
            .enumerate()
            .map(|(i, v)| {
                v.ok_or_else(|| bad_value(source_name, i + 1, clean, "empty cell".into()))
            })
            .collect();
    }
    let texts = text(df, column, source_name)?;
    texts
        .iter()
        .enumerate()
        .map(|(i, t)| {
            t.trim().parse::<f64>().map_err(|_| {
                let message = if t.trim().is_empty() {
                    "empty cell".to_string()
                } else {
                    format!("'{t}' is not a number")
                };
                bad_value(source_name, i + 1, clean, message)
            })
        })
        .collect()
}

/// A column as text (numbers formatted), empty cells as "".
fn text(df: &DataFrame, column: &str, source_name: &str) -> Result<Vec<String>, LightcurveError> {
    let series = df
        .column(column)
        .map_err(|e| LightcurveError::Option(e.to_string()))?
        .as_materialized_series()
        .cast(&DataType::String)
        .map_err(|e| bad_value(source_name, 1, column, e.to_string()))?;
    let values = series
        .str()
        .map_err(|e| bad_value(source_name, 1, column, e.to_string()))?;
    Ok(values.iter().map(|v| v.unwrap_or("").to_string()).collect())
}

/// The time column as MJD (UTC): MJD numbers, JD numbers (name with `jd` but not `mjd`), or
/// ISO 8601 text.
fn time_mjd(df: &DataFrame, column: &str, source_name: &str) -> Result<Vec<f64>, LightcurveError> {
    let clean = column.trim_start_matches('\u{feff}').to_ascii_lowercase();
    let dtype = df
        .column(column)
        .map_err(|e| LightcurveError::Option(e.to_string()))?
        .dtype()
        .clone();
    if dtype.is_primitive_numeric() {
        let values = numeric(df, column, source_name)?;
        let is_jd = clean.contains("jd") && !clean.contains("mjd");
        return Ok(values
            .into_iter()
            .map(|v| if is_jd { v - 2_400_000.5 } else { v })
            .collect());
    }
    text(df, column, source_name)?
        .iter()
        .enumerate()
        .map(|(i, t)| {
            UtcInstant::parse_iso(t.trim())
                .map(|u| u.mjd())
                .map_err(|e| bad_value(source_name, i + 1, &clean, format!("'{t}': {e}")))
        })
        .collect()
}
