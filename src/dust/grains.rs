//! Grain size / speed inference from the morphology of the coma (issue 6 item 4, DESIGN §4).
//!
//! Given observation dates labelled with what the images showed — a sunward **fan**, an
//! antisolar **tail**, or **both** — find the grain radii a and ejection speeds v for which the
//! simple turnaround model of [`super::radiation`] predicts that morphology on every date.
//!
//! **Model.** A grain of radius a (β = 5.74×10⁻⁴ Q_pr / (ρ_d a)) launched sunward at speed v at
//! heliocentric distance rH is decelerated by β g(rH) and stops after T = v / (β g) at
//! X = v² / (2 β g) ([`super::radiation::turnaround`]); rH is taken as that of the observation.
//! It then falls back through the nucleus (at 2T) and reaches the antisunward distance X at
//! t = (1 + √2) T (solve v t − ½ β g t² = −X with X = ½ β g T²): only then has it "drifted
//! antisunward beyond the turnaround distance", i.e. the material launched sunward has become
//! a tail on the other side. Let t_act be the time since activity began (`activity_start`) and
//! s the smallest resolvable extent (the seeing, default 1″).
//!
//! **Criterion** (per date; a cell (a, v) is consistent when every date passes):
//! * *tail formed* ⇔ t_act ≥ (1 + √2) T ([`TAIL_FACTOR`]);
//! * *fan visible* ⇔ the fan is resolvable, X / (725.27 km Δ) ≥ s, **or** the grains have not
//!   yet turned around at all, T > t_act (everything ejected is still sunward of the nucleus).
//!   The face-on X is used, not X sin α: the envelope of grains launched into the sunward
//!   hemisphere is a paraboloid with its vertex X sunward and a half-width 2X at the nucleus
//!   (the "fountain" model), so its extent on the sky is ≳ X at any phase angle, while the
//!   projection X sin α of the vertex alone vanishes at small α (3I was at α ≈ 2.5° on
//!   2025-07-03, when the fan was seen). Both values are reported;
//! * label **fan** (sunward material, no antisolar tail): fan visible and tail not formed;
//! * label **tail** (antisolar tail, no resolvable fan): tail formed and fan not visible;
//! * label **both**: tail formed and fan visible;
//! * a measured tail length L (arcsec, optional, tail/both dates) additionally requires the
//!   farthest antisunward grain, one released at rest at the onset, ½ β g t_act² projected
//!   (× sin α, / 725.27 km Δ), to reach at least L.
//!
//! Tail position angles are not used in the criterion (they depend on β and the ejection time,
//! see [`super::syndyne`]); the `grains` command reports them beside PsAng/PsAMV.
//!
//! **Best estimate.** The centroid, in log a and log v, of the consistent cells, with the
//! log-space standard deviations as a measure of the region's extent ([`GrainInference`]).
//!
//! What this is not: a fit to images. It neglects the change of rH during a grain's flight,
//! gas drag, the nucleus' gravity, the size distribution and the brightness weighting of grains
//! of different ages; the activity onset is an input whose choice matters (the tail condition
//! scales with t_act).

use super::radiation::{beta, turnaround, Turnaround};
use super::{positive, DustError};
use crate::ephem::KM_PER_ARCSEC_AT_1AU;

/// t_act / T above which sunward-launched grains have turned around and passed X on the
/// antisunward side: 1 + √2 (module notes).
pub const TAIL_FACTOR: f64 = 1.0 + std::f64::consts::SQRT_2;
/// Default smallest resolvable extent (arcsec).
pub const DEFAULT_SEEING_ARCSEC: f64 = 1.0;

/// What the images showed on a date.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Morphology {
    Fan,
    Tail,
    Both,
}

impl Morphology {
    /// `fan`, `tail` or `both` (case-insensitive).
    pub fn parse(text: &str) -> Result<Morphology, DustError> {
        match text.trim().to_ascii_lowercase().as_str() {
            "fan" => Ok(Morphology::Fan),
            "tail" => Ok(Morphology::Tail),
            "both" => Ok(Morphology::Both),
            other => Err(DustError::UnknownMorphology(other.to_string())),
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            Morphology::Fan => "fan",
            Morphology::Tail => "tail",
            Morphology::Both => "both",
        }
    }
}

/// One labelled observation with its geometry.
#[derive(Debug, Clone, PartialEq)]
pub struct MorphologyDate {
    /// As given (for reasons and tables).
    pub date: String,
    /// Days since the activity began (t_act > 0).
    pub days_since_onset: f64,
    pub morphology: Morphology,
    pub rh_au: f64,
    pub delta_au: f64,
    pub phase_deg: f64,
    pub tail_pa_deg: Option<f64>,
    pub tail_length_arcsec: Option<f64>,
}

/// Grain properties other than a and v, and the resolution.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GrainCriterion {
    pub density_kg_m3: f64,
    pub q_pr: f64,
    pub seeing_arcsec: f64,
}

impl Default for GrainCriterion {
    fn default() -> Self {
        GrainCriterion {
            density_kg_m3: super::assumptions::DEFAULT_GRAIN_DENSITY_KG_M3,
            q_pr: 1.0,
            seeing_arcsec: DEFAULT_SEEING_ARCSEC,
        }
    }
}

/// What the model predicts for one (a, v) on one date.
#[derive(Debug, Clone, PartialEq)]
pub struct DatePrediction {
    pub beta: f64,
    pub turnaround: Turnaround,
    /// X / (725.27 km Δ).
    pub turnaround_face_on_arcsec: f64,
    /// X sin α / (725.27 km Δ).
    pub turnaround_projected_arcsec: f64,
    /// ½ β g t_act² sin α / (725.27 km Δ): the farthest antisunward grain.
    pub max_tail_length_arcsec: f64,
    pub fan_visible: bool,
    pub tail_formed: bool,
    pub consistent: bool,
    /// Why it is (in)consistent, in words.
    pub reason: String,
}

/// The model's prediction for grains of `radius_um` launched at `speed_m_s`, checked against
/// the date's label (module notes).
pub fn predict(
    radius_um: f64,
    speed_m_s: f64,
    date: &MorphologyDate,
    criterion: &GrainCriterion,
) -> Result<DatePrediction, DustError> {
    positive("days since activity onset", date.days_since_onset)?;
    positive("seeing_arcsec", criterion.seeing_arcsec)?;
    let b = beta(radius_um, criterion.density_kg_m3, criterion.q_pr)?;
    let t = turnaround(speed_m_s, b, date.rh_au)?;
    let face = t.distance_arcsec(date.delta_au)?;
    let projected = t.projected_distance_arcsec(date.delta_au, date.phase_deg)?;
    let t_act_s = date.days_since_onset * crate::ephem::DAY_S;
    let max_tail_km = 0.5 * t.acceleration_m_s2 * t_act_s * t_act_s / 1e3;
    let max_tail_length_arcsec =
        max_tail_km * date.phase_deg.to_radians().sin() / (KM_PER_ARCSEC_AT_1AU * date.delta_au);
    let tail_formed = date.days_since_onset >= TAIL_FACTOR * t.time_days;
    let resolvable = face >= criterion.seeing_arcsec;
    let not_turned = t.time_days > date.days_since_onset;
    let fan_visible = resolvable || not_turned;
    let length_ok = date
        .tail_length_arcsec
        .is_none_or(|l| date.morphology == Morphology::Fan || max_tail_length_arcsec >= l);
    let consistent = match date.morphology {
        Morphology::Fan => fan_visible && !tail_formed,
        Morphology::Tail => tail_formed && !fan_visible && length_ok,
        Morphology::Both => tail_formed && fan_visible && length_ok,
    };
    let reason =
        format!(
        "{} {}: T = {:.1} d, (1+√2)T = {:.1} d vs {:.1} d since onset → tail {}; X = {:.0} km = \
         {:.2}″ face-on (s = {:.2}″) → fan {}{}",
        date.date,
        date.morphology.name(),
        t.time_days,
        TAIL_FACTOR * t.time_days,
        date.days_since_onset,
        if tail_formed { "formed" } else { "not formed" },
        t.distance_km,
        face,
        criterion.seeing_arcsec,
        if fan_visible { "visible" } else { "not visible" },
        match date.tail_length_arcsec {
            Some(l) if !length_ok => {
                format!("; tail ≤ {max_tail_length_arcsec:.1}″ < measured {l:.1}″")
            }
            _ => String::new(),
        }
    );
    Ok(DatePrediction {
        beta: b,
        turnaround: t,
        turnaround_face_on_arcsec: face,
        turnaround_projected_arcsec: projected,
        max_tail_length_arcsec,
        fan_visible,
        tail_formed,
        consistent,
        reason,
    })
}

/// `n` values log-spaced from `min` to `max` inclusive.
pub fn log_grid(min: f64, max: f64, n: usize) -> Result<Vec<f64>, DustError> {
    positive("grid minimum", min)?;
    positive("grid maximum", max)?;
    if n < 2 || max <= min {
        return Err(DustError::OutOfRange {
            name: "grid size",
            value: n as f64,
            range: "≥ 2 points with max > min",
        });
    }
    let (l0, l1) = (min.log10(), max.log10());
    Ok((0..n)
        .map(|i| 10f64.powf(l0 + (l1 - l0) * i as f64 / (n - 1) as f64))
        .collect())
}

/// One (a, v) cell of the grid.
#[derive(Debug, Clone, PartialEq)]
pub struct GridCell {
    pub radius_um: f64,
    pub speed_m_s: f64,
    pub beta: f64,
    pub consistent: bool,
    /// "consistent with every date" or the first failing date's reason.
    pub reason: String,
}

/// The grid and the best estimate.
#[derive(Debug, Clone, PartialEq)]
pub struct GrainInference {
    pub cells: Vec<GridCell>,
    pub n_consistent: usize,
    /// Geometric-mean a and v of the consistent cells (centroid in log space).
    pub best_radius_um: Option<f64>,
    pub best_speed_m_s: Option<f64>,
    /// Standard deviations of log10 a and log10 v over the consistent cells (dex).
    pub radius_spread_dex: Option<f64>,
    pub speed_spread_dex: Option<f64>,
    /// Ranges of the consistent cells.
    pub radius_range_um: Option<(f64, f64)>,
    pub speed_range_m_s: Option<(f64, f64)>,
}

impl GrainInference {
    /// The cell nearest (in log space) to (a, v).
    pub fn nearest(&self, radius_um: f64, speed_m_s: f64) -> Option<&GridCell> {
        let d = |c: &GridCell| {
            (c.radius_um / radius_um).log10().powi(2) + (c.speed_m_s / speed_m_s).log10().powi(2)
        };
        self.cells.iter().min_by(|x, y| d(x).total_cmp(&d(y)))
    }
}

/// Evaluates every (a, v) of `radii_um` × `speeds_m_s` against every date.
pub fn infer(
    dates: &[MorphologyDate],
    criterion: &GrainCriterion,
    radii_um: &[f64],
    speeds_m_s: &[f64],
) -> Result<GrainInference, DustError> {
    if dates.is_empty() {
        return Err(DustError::Missing("at least one labelled date"));
    }
    let mut cells = Vec::with_capacity(radii_um.len() * speeds_m_s.len());
    for &a in radii_um {
        for &v in speeds_m_s {
            let mut reason = None;
            let mut b = f64::NAN;
            for date in dates {
                let p = predict(a, v, date, criterion)?;
                b = p.beta;
                if !p.consistent {
                    reason = Some(p.reason);
                    break;
                }
            }
            cells.push(GridCell {
                radius_um: a,
                speed_m_s: v,
                beta: b,
                consistent: reason.is_none(),
                reason: reason.unwrap_or_else(|| "consistent with every date".to_string()),
            });
        }
    }
    let good: Vec<&GridCell> = cells.iter().filter(|c| c.consistent).collect();
    let n = good.len();
    let stats = |get: &dyn Fn(&GridCell) -> f64| -> Option<(f64, f64, f64, f64)> {
        if n == 0 {
            return None;
        }
        let logs: Vec<f64> = good.iter().map(|c| get(c).log10()).collect();
        let mean = logs.iter().sum::<f64>() / n as f64;
        let var = logs.iter().map(|l| (l - mean).powi(2)).sum::<f64>() / n as f64;
        let lo = logs.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = logs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        Some((10f64.powf(mean), var.sqrt(), 10f64.powf(lo), 10f64.powf(hi)))
    };
    let a_stats = stats(&|c| c.radius_um);
    let v_stats = stats(&|c| c.speed_m_s);
    Ok(GrainInference {
        n_consistent: n,
        best_radius_um: a_stats.map(|s| s.0),
        best_speed_m_s: v_stats.map(|s| s.0),
        radius_spread_dex: a_stats.map(|s| s.1),
        speed_spread_dex: v_stats.map(|s| s.1),
        radius_range_um: a_stats.map(|s| (s.2, s.3)),
        speed_range_m_s: v_stats.map(|s| (s.2, s.3)),
        cells,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(days: f64, morphology: Morphology) -> MorphologyDate {
        MorphologyDate {
            date: format!("day {days}"),
            days_since_onset: days,
            morphology,
            rh_au: 4.0,
            delta_au: 3.0,
            phase_deg: 15.0,
            tail_pa_deg: None,
            tail_length_arcsec: None,
        }
    }

    #[test]
    fn tail_factor_is_where_the_grain_passes_minus_x() {
        let t = turnaround(5.0, 0.01, 3.0).unwrap();
        let a = t.acceleration_m_s2;
        let time = TAIL_FACTOR * t.time_s;
        let x_m = 5.0 * time - 0.5 * a * time * time;
        assert!((x_m / 1e3 + t.distance_km).abs() < 1e-6 * t.distance_km);
    }

    #[test]
    fn labels_and_grid() {
        let c = GrainCriterion::default();
        let early = predict(100.0, 5.0, &date(5.0, Morphology::Fan), &c).unwrap();
        assert!(early.fan_visible && !early.tail_formed && early.consistent);
        let late = predict(100.0, 5.0, &date(200.0, Morphology::Fan), &c).unwrap();
        assert!(late.tail_formed && !late.consistent, "{}", late.reason);
        assert!(Morphology::parse("Tail").is_ok() && Morphology::parse("jet").is_err());
        let g = log_grid(1.0, 10_000.0, 41).unwrap();
        assert_eq!(g.len(), 41);
        assert!((g[20] - 100.0).abs() < 1e-9);
        assert!(log_grid(1.0, 1.0, 5).is_err());
    }
}
