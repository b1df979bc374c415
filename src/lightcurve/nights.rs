//! Per-night aggregation: the frames of one night and filter become one point.
//!
//! A night is a run of points (time-sorted) with no gap longer than `max_gap_days`, which
//! works at any longitude without knowing the site. Within a night and filter: weighted
//! means (weights 1/σ²) of time, rH, Δ, α and magnitude; the error 1/√Σw is multiplied by
//! the Birge ratio √(χ²/(N − 1)) when that exceeds 1 (the frames scatter more than their
//! errors say; Birge 1932).

use std::collections::BTreeMap;

use super::points::LightcurvePoint;

/// Default largest gap within a night (days): 6 h.
pub const DEFAULT_MAX_GAP_DAYS: f64 = 0.25;

/// The points grouped into nights: runs of points (in time order) with no gap longer than
/// `max_gap_days` between consecutive ones.
fn group_nights(points: &[LightcurvePoint], max_gap_days: f64) -> Vec<Vec<&LightcurvePoint>> {
    let mut sorted: Vec<&LightcurvePoint> = points.iter().collect();
    sorted.sort_by(|a, b| a.time_mjd.total_cmp(&b.time_mjd));
    let mut nights: Vec<Vec<&LightcurvePoint>> = Vec::new();
    for p in sorted {
        match nights.last_mut() {
            Some(night)
                if night
                    .last()
                    .is_some_and(|q| p.time_mjd - q.time_mjd <= max_gap_days) =>
            {
                night.push(p)
            }
            _ => nights.push(vec![p]),
        }
    }
    nights
}

/// Aggregated points, one per night and filter, in time order. `row` is the first input
/// row of the night.
pub fn aggregate_nights(points: &[LightcurvePoint], max_gap_days: f64) -> Vec<LightcurvePoint> {
    let nights = group_nights(points, max_gap_days);
    let mut out = Vec::new();
    for night in nights {
        let mut by_filter: BTreeMap<&str, Vec<&LightcurvePoint>> = BTreeMap::new();
        for p in night {
            by_filter.entry(p.filter.as_str()).or_default().push(p);
        }
        for (filter, group) in by_filter {
            out.push(combine(filter, &group));
        }
    }
    out.sort_by(|a, b| a.time_mjd.total_cmp(&b.time_mjd));
    out
}

fn combine(filter: &str, group: &[&LightcurvePoint]) -> LightcurvePoint {
    let w: Vec<f64> = group
        .iter()
        .map(|p| 1.0 / (p.mag_err * p.mag_err))
        .collect();
    let sw: f64 = w.iter().sum();
    let mean = |f: &dyn Fn(&LightcurvePoint) -> f64| -> f64 {
        group.iter().zip(&w).map(|(p, w)| w * f(p)).sum::<f64>() / sw
    };
    let mag = mean(&|p| p.mag);
    let mut err = 1.0 / sw.sqrt();
    if group.len() > 1 {
        let chi2: f64 = group
            .iter()
            .zip(&w)
            .map(|(p, w)| w * (p.mag - mag).powi(2))
            .sum();
        let birge = (chi2 / (group.len() - 1) as f64).sqrt();
        err *= birge.max(1.0);
    }
    LightcurvePoint {
        row: group.iter().map(|p| p.row).min().unwrap_or(0),
        time_mjd: mean(&|p| p.time_mjd),
        rh_au: mean(&|p| p.rh_au),
        delta_au: mean(&|p| p.delta_au),
        phase_deg: mean(&|p| p.phase_deg),
        mag,
        mag_err: err,
        filter: filter.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(t: f64, mag: f64, err: f64, filter: &str) -> LightcurvePoint {
        LightcurvePoint {
            row: (t * 100.0) as usize,
            time_mjd: t,
            rh_au: 3.0,
            delta_au: 2.5,
            phase_deg: 10.0,
            mag,
            mag_err: err,
            filter: filter.to_string(),
        }
    }

    #[test]
    fn nights_split_on_gaps_and_filters() {
        let pts = vec![
            point(0.90, 17.0, 0.1, "R"),
            point(0.95, 17.2, 0.1, "R"),
            point(1.00, 17.5, 0.1, "V"),
            point(1.90, 16.0, 0.05, "R"),
        ];
        let nights = aggregate_nights(&pts, DEFAULT_MAX_GAP_DAYS);
        assert_eq!(nights.len(), 3);
        assert!((nights[0].mag - 17.1).abs() < 1e-12);
        // Two points 2σ apart: χ² = 2, Birge ratio √2.
        assert!((nights[0].mag_err - 0.1 / 2f64.sqrt() * 2f64.sqrt()).abs() < 1e-12);
        assert_eq!(nights[1].filter, "V");
        assert_eq!(nights[2].mag, 16.0);
    }
}
