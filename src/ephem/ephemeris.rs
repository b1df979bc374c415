//! Ephemeris tables: where the geometry comes from (a two-body orbit, a Horizons vector table
//! or a Horizons observer table), a grid of UTC times, and the table `cometphot ephem` writes.

use super::earth::earth_state;
use super::geometry::{observe, GeometryError, Observation, TargetEphemeris};
use super::horizons::{HorizonsError, HorizonsTable, ObserverTable, TimeScale, VectorTable};
use super::orbit::CometElements;
use super::perturbed::PerturbedOrbit;
use super::site::Site;
use super::time::UtcInstant;
use super::{StateVector, C_AU_PER_DAY};
use polars::prelude::*;
use thiserror::Error;

/// Largest number of rows one ephemeris request may produce.
pub const MAX_ROWS: usize = 10_000_000;

#[derive(Debug, Error)]
pub enum EphemerisError {
    #[error("stop time {stop} is before start time {start}")]
    StopBeforeStart { start: String, stop: String },
    #[error("step must be a positive duration, got {0} s")]
    BadStep(f64),
    #[error("{rows} rows requested (more than {max}); use a longer step")]
    TooManyRows { rows: f64, max: usize },
    #[error(
        "Horizons vector table centred on '{0}': only heliocentric (@sun) or geocentric (@399) \
         vector tables can be used"
    )]
    UnsupportedCentre(String),
    #[error(
        "the Horizons observer table was computed for '{table_site}'; its geometry cannot be \
         moved to site '{site}' (use a vector table or an orbit for other sites)"
    )]
    SiteMismatch { table_site: String, site: String },
    #[error(transparent)]
    Geometry(#[from] GeometryError),
    #[error(transparent)]
    Horizons(#[from] HorizonsError),
}

/// The names of the columns of an ephemeris table, in order.
pub const COLUMNS: [&str; 12] = [
    "time_utc",
    "jd_tdb",
    "ra_deg",
    "dec_deg",
    "rh_au",
    "delta_au",
    "phase_deg",
    "elong_deg",
    "sun_pa_deg",
    "neg_vel_pa_deg",
    "rate_arcsec_per_min",
    "rate_pa_deg",
];

/// How osculating elements are propagated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrbitModel {
    /// Sun only (analytic, universal variables).
    TwoBody,
    /// Sun and the eight planets, integrated from the epoch of osculation.
    Perturbed,
}

/// Days added on each side of a requested span when integrating an orbit (covers the light
/// time to beyond 100 au).
const INTEGRATION_MARGIN_DAYS: f64 = 2.0;

/// Where positions come from.
#[derive(Debug, Clone)]
pub enum GeometrySource {
    /// Two-body propagation of osculating elements.
    TwoBody(CometElements),
    /// Elements integrated with planetary perturbations over the span of the request.
    Perturbed(PerturbedOrbit),
    /// A Horizons vector table (heliocentric or geocentric) used as the target's trajectory;
    /// the observer side (Earth, site, light time) is computed here.
    Vectors(HorizonsVectors),
    /// A Horizons observer table, interpolated as it is (its own site).
    Observer(ObserverTable),
}

impl GeometrySource {
    /// An orbit propagated by `model`, ready for times between `first` and `last`.
    pub fn orbit(
        elements: CometElements,
        model: OrbitModel,
        first: UtcInstant,
        last: UtcInstant,
    ) -> Result<Self, EphemerisError> {
        Ok(match model {
            OrbitModel::TwoBody => GeometrySource::TwoBody(elements),
            OrbitModel::Perturbed => {
                let jd_first = first.jd_tdb().map_err(GeometryError::from)?;
                let jd_last = last.jd_tdb().map_err(GeometryError::from)?;
                GeometrySource::Perturbed(
                    PerturbedOrbit::new(
                        &elements,
                        jd_first.min(jd_last) - INTEGRATION_MARGIN_DAYS,
                        jd_first.max(jd_last) + INTEGRATION_MARGIN_DAYS,
                    )
                    .map_err(GeometryError::from)?,
                )
            }
        })
    }

    /// Wraps a parsed Horizons table.
    pub fn from_horizons(table: HorizonsTable) -> Result<Self, EphemerisError> {
        match table {
            HorizonsTable::Observer(t) => Ok(GeometrySource::Observer(t)),
            HorizonsTable::Vectors(t) => Ok(GeometrySource::Vectors(HorizonsVectors::new(t)?)),
        }
    }

    /// The geometry at one instant seen from `site`.
    pub fn observe(
        &self,
        site: &Site,
        time_utc: UtcInstant,
    ) -> Result<Observation, EphemerisError> {
        match self {
            GeometrySource::TwoBody(elements) => Ok(observe(elements, site, time_utc)?),
            GeometrySource::Perturbed(orbit) => Ok(observe(orbit, site, time_utc)?),
            GeometrySource::Vectors(vectors) => Ok(observe(vectors, site, time_utc)?),
            GeometrySource::Observer(table) => observer_table_geometry(table, site, time_utc),
        }
    }
}

/// What a Horizons vector table is centred on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Centre {
    Sun,
    Geocentre,
}

/// A Horizons vector table as a target trajectory.
#[derive(Debug, Clone)]
pub struct HorizonsVectors {
    table: VectorTable,
    centre: Centre,
}

impl HorizonsVectors {
    pub fn new(table: VectorTable) -> Result<Self, EphemerisError> {
        let header = table.header();
        let name = header.center_name.to_ascii_lowercase();
        let site = header
            .center_site
            .clone()
            .unwrap_or_default()
            .to_ascii_lowercase();
        let body_centre =
            site.is_empty() || site.contains("body center") || site.contains("geocentric");
        let centre = if name.starts_with("sun") || name.contains("(10)") {
            Centre::Sun
        } else if (name.starts_with("earth") || name.contains("(399)")) && body_centre {
            Centre::Geocentre
        } else {
            return Err(EphemerisError::UnsupportedCentre(
                header.center_name.clone(),
            ));
        };
        Ok(HorizonsVectors { table, centre })
    }
}

impl TargetEphemeris for HorizonsVectors {
    fn heliocentric_state(&self, jd_tdb: f64) -> Result<StateVector, GeometryError> {
        let jd_table = match self.table.header().time_scale {
            // TT and TDB differ by < 2 ms.
            TimeScale::Tdb | TimeScale::Tt => jd_tdb,
            TimeScale::Utc => UtcInstant::from_jd_tdb(jd_tdb)?.jd(),
        };
        let state = self
            .table
            .state_at(jd_table)
            .map_err(|e| GeometryError::Target(e.to_string()))?;
        Ok(match self.centre {
            Centre::Sun => state,
            Centre::Geocentre => {
                let earth = earth_state(jd_tdb).in_frame(state.frame);
                StateVector::new(
                    state.frame,
                    state.position_au + earth.position_au,
                    state.velocity_au_per_day + earth.velocity_au_per_day,
                )
            }
        })
    }
}

/// Geometry interpolated from a Horizons observer table; quantities the table lacks are NaN.
fn observer_table_geometry(
    table: &ObserverTable,
    site: &Site,
    time_utc: UtcInstant,
) -> Result<Observation, EphemerisError> {
    let table_site = table.header().center_site.clone().unwrap_or_default();
    let geocentric_table = table_site.to_ascii_lowercase().contains("geocentric");
    if geocentric_table != matches!(site, Site::Geocentric) {
        return Err(EphemerisError::SiteMismatch {
            table_site,
            site: site.label(),
        });
    }
    let jd_tdb = time_utc.jd_tdb().map_err(GeometryError::from)?;
    let jd_table = match table.header().time_scale {
        TimeScale::Utc => time_utc.jd(),
        TimeScale::Tt | TimeScale::Tdb => jd_tdb,
    };
    let g = table.geometry_at(jd_table)?;
    let nan = f64::NAN;
    let (rate, rate_pa) = match (g.ra_rate_cosdec_arcsec_per_h, g.dec_rate_arcsec_per_h) {
        (Some(east), Some(north)) => (
            east.hypot(north) / 60.0,
            east.atan2(north).to_degrees().rem_euclid(360.0),
        ),
        _ => (nan, nan),
    };
    let delta_au = g.delta_au.unwrap_or(nan);
    Ok(Observation {
        time_utc,
        jd_tdb,
        ra_deg: g.ra_deg,
        dec_deg: g.dec_deg,
        rh_au: g.rh_au.unwrap_or(nan),
        delta_au,
        phase_deg: g.phase_deg.unwrap_or(nan),
        elong_deg: g.elong_deg.unwrap_or(nan),
        sun_pa_deg: g.sun_pa_deg.unwrap_or(nan),
        neg_vel_pa_deg: g.neg_vel_pa_deg.unwrap_or(nan),
        rate_arcsec_per_min: rate,
        rate_pa_deg: rate_pa,
        rh_dot_km_s: table.value_at("rdot", jd_table).unwrap_or(nan),
        light_time_min: delta_au / C_AU_PER_DAY * 1440.0,
    })
}

/// UTC instants from `start` to `stop` inclusive every `step_s` seconds.
pub fn time_grid(
    start: UtcInstant,
    stop: UtcInstant,
    step_s: f64,
) -> Result<Vec<UtcInstant>, EphemerisError> {
    if !(step_s.is_finite() && step_s > 0.0) {
        return Err(EphemerisError::BadStep(step_s));
    }
    let span_s = stop.seconds_since(&start);
    if span_s < 0.0 {
        return Err(EphemerisError::StopBeforeStart {
            start: format!("{start}Z"),
            stop: format!("{stop}Z"),
        });
    }
    // A microsecond of slack so that a stop exactly on the grid is included.
    let rows = (span_s / step_s + 1e-6 / step_s).floor() + 1.0;
    if rows > MAX_ROWS as f64 {
        return Err(EphemerisError::TooManyRows {
            rows,
            max: MAX_ROWS,
        });
    }
    Ok((0..rows as usize)
        .map(|i| start.plus_seconds(i as f64 * step_s))
        .collect())
}

/// The geometry at every time of `times`.
pub fn ephemeris(
    source: &GeometrySource,
    site: &Site,
    times: &[UtcInstant],
) -> Result<Vec<Observation>, EphemerisError> {
    times.iter().map(|t| source.observe(site, *t)).collect()
}

fn finite_or_null(values: impl Iterator<Item = f64>) -> Vec<Option<f64>> {
    values.map(|v| v.is_finite().then_some(v)).collect()
}

/// The ephemeris table with the columns of [`COLUMNS`]; `time_utc` is ISO 8601 with a `Z`,
/// missing quantities are null.
pub fn to_dataframe(rows: &[Observation]) -> PolarsResult<DataFrame> {
    let column = |name: &str, f: fn(&Observation) -> f64| -> Column {
        Column::new(name.into(), finite_or_null(rows.iter().map(f)))
    };
    DataFrame::new_infer_height(vec![
        Column::new(
            COLUMNS[0].into(),
            rows.iter()
                .map(|r| format!("{}Z", r.time_utc))
                .collect::<Vec<_>>(),
        ),
        column(COLUMNS[1], |r| r.jd_tdb),
        column(COLUMNS[2], |r| r.ra_deg),
        column(COLUMNS[3], |r| r.dec_deg),
        column(COLUMNS[4], |r| r.rh_au),
        column(COLUMNS[5], |r| r.delta_au),
        column(COLUMNS[6], |r| r.phase_deg),
        column(COLUMNS[7], |r| r.elong_deg),
        column(COLUMNS[8], |r| r.sun_pa_deg),
        column(COLUMNS[9], |r| r.neg_vel_pa_deg),
        column(COLUMNS[10], |r| r.rate_arcsec_per_min),
        column(COLUMNS[11], |r| r.rate_pa_deg),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grid_includes_both_ends_and_rejects_bad_requests() {
        let start = UtcInstant::parse_iso("2025-07-01T00:00:00Z").unwrap();
        let stop = UtcInstant::parse_iso("2025-07-02T00:00:00Z").unwrap();
        let grid = time_grid(start, stop, 6.0 * 3600.0).unwrap();
        assert_eq!(grid.len(), 5);
        assert_eq!(grid[4].to_string(), "2025-07-02T00:00:00.000");
        assert!(matches!(
            time_grid(stop, start, 3600.0),
            Err(EphemerisError::StopBeforeStart { .. })
        ));
        assert!(matches!(
            time_grid(start, stop, 0.0),
            Err(EphemerisError::BadStep(_))
        ));
        assert!(matches!(
            time_grid(start, stop, 1e-3),
            Err(EphemerisError::TooManyRows { .. })
        ));
    }
}
