//! Lightcurve points, their validation and the selection of the points to fit.

use std::collections::BTreeMap;

use serde::Serialize;

use super::LightcurveError;

/// One photometric measurement of the comet with its observing geometry.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LightcurvePoint {
    /// Row of the input table it came from (1-based data row, header excluded).
    pub row: usize,
    /// Mid-exposure time (MJD, UTC).
    pub time_mjd: f64,
    pub rh_au: f64,
    pub delta_au: f64,
    pub phase_deg: f64,
    pub mag: f64,
    pub mag_err: f64,
    pub filter: String,
}

/// Checks every point: finite values, rH and Δ > 0, α in [0°, 180°], mag_err > 0. The
/// error names the row and the column of the first problem found, and how many rows have one.
pub fn validate(points: &[LightcurvePoint], source: &str) -> Result<(), LightcurveError> {
    let mut first: Option<(usize, &'static str, String)> = None;
    let mut bad_rows = 0usize;
    for p in points {
        let problem = point_problem(p);
        if let Some((column, message)) = problem {
            bad_rows += 1;
            if first.is_none() {
                first = Some((p.row, column, message));
            }
        }
    }
    match first {
        None => Ok(()),
        Some((row, column, message)) => Err(LightcurveError::BadValue {
            source_name: source.to_string(),
            row,
            column: column.to_string(),
            message,
            bad_rows,
        }),
    }
}

fn point_problem(p: &LightcurvePoint) -> Option<(&'static str, String)> {
    let finite = [
        ("time", p.time_mjd),
        ("rh", p.rh_au),
        ("delta", p.delta_au),
        ("alpha", p.phase_deg),
        ("mag", p.mag),
        ("mag_err", p.mag_err),
    ];
    for (column, value) in finite {
        if !value.is_finite() {
            return Some((column, format!("value {value} is not finite")));
        }
    }
    if p.rh_au <= 0.0 {
        return Some(("rh", format!("rH = {} au must be > 0", p.rh_au)));
    }
    if p.delta_au <= 0.0 {
        return Some(("delta", format!("Δ = {} au must be > 0", p.delta_au)));
    }
    if !(0.0..=180.0).contains(&p.phase_deg) {
        return Some((
            "alpha",
            format!("phase angle {}° outside [0°, 180°]", p.phase_deg),
        ));
    }
    if p.mag_err <= 0.0 {
        return Some((
            "mag_err",
            format!(
                "magnitude error {} must be > 0 (a weighted fit needs it)",
                p.mag_err
            ),
        ));
    }
    None
}

/// Which branch of the orbit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Leg {
    /// Before perihelion (inbound).
    Pre,
    /// After perihelion (outbound).
    Post,
}

/// Which points enter the fit. `None` fields do not restrict.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Selection {
    pub rh_min_au: Option<f64>,
    pub rh_max_au: Option<f64>,
    /// Pre- or post-perihelion only; needs `perihelion_mjd`.
    pub leg: Option<Leg>,
    pub perihelion_mjd: Option<f64>,
    /// Only this filter.
    pub filter: Option<String>,
}

impl Selection {
    /// Whether `point` is selected. A leg without a perihelion time is an error, raised by
    /// [`Selection::check`].
    pub fn accepts(&self, point: &LightcurvePoint) -> bool {
        if self.rh_min_au.is_some_and(|r| point.rh_au < r)
            || self.rh_max_au.is_some_and(|r| point.rh_au > r)
        {
            return false;
        }
        if let (Some(leg), Some(tp)) = (self.leg, self.perihelion_mjd) {
            let pre = point.time_mjd < tp;
            if pre != (leg == Leg::Pre) {
                return false;
            }
        }
        if let Some(f) = &self.filter {
            if &point.filter != f {
                return false;
            }
        }
        true
    }

    /// Consistency of the options themselves.
    pub fn check(&self) -> Result<(), LightcurveError> {
        if self.leg.is_some() && self.perihelion_mjd.is_none() {
            return Err(LightcurveError::Option(
                "selecting pre- or post-perihelion points needs the perihelion time: give the \
                 object (--object/--elements) or --perihelion-mjd"
                    .to_string(),
            ));
        }
        if let (Some(lo), Some(hi)) = (self.rh_min_au, self.rh_max_au) {
            if lo >= hi {
                return Err(LightcurveError::Option(format!(
                    "--rh-min {lo} au must be below --rh-max {hi} au"
                )));
            }
        }
        Ok(())
    }
}

/// Number of points per filter.
pub fn filter_counts(points: &[LightcurvePoint]) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for p in points {
        *counts.entry(p.filter.clone()).or_insert(0) += 1;
    }
    counts
}

/// The most populated filter (ties: the first in alphabetical order).
pub fn reference_filter(points: &[LightcurvePoint]) -> Option<String> {
    let counts = filter_counts(points);
    let mut best: Option<(&String, usize)> = None;
    for (f, &n) in &counts {
        if best.is_none_or(|(_, m)| n > m) {
            best = Some((f, n));
        }
    }
    best.map(|(f, _)| f.clone())
}
