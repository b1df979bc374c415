//! Comet orbits with planetary perturbations: the osculating elements are turned into the
//! state at their epoch and integrated numerically under the Sun and the eight planets.
//!
//! Two-body motion drifts from reality by the planets' pull: for 2I/Borisov, elements
//! osculating on 2020-01-15 put the comet 7e-5 au from JPL's N-body positions 4.5 months
//! earlier. This module removes most of that.
//!
//! Equation of motion (heliocentric, Cowell's method; e.g. Danby 1988, *Fundamentals of
//! Celestial Mechanics*, §11.2):
//!
//!   r̈ = −μ☉ r/r³ + Σₚ μₚ [ (rₚ − r)/|rₚ − r|³ − rₚ/rₚ³ ],
//!
//! the second term of the sum being the indirect term (the Sun's own acceleration towards the
//! planet). Planet positions are heliocentric VSOP87A (Earth–Moon barycentre for the Earth),
//! masses the IAU 2009 system ratios M☉/Mₚ (Luzum et al. 2011, Celest. Mech. Dyn. Astron. 110,
//! 293). Integration is classical fourth-order Runge–Kutta with a fixed step of at most 0.25
//! day, shortened for small perihelion distances; the states at every step are kept and
//! interpolated with cubic Hermite polynomials. Non-gravitational forces, relativity and
//! asteroid perturbations are not modelled.

use rayon::prelude::*;

use super::interp::{hermite, Node};
use super::orbit::{CometElements, OrbitError};
use super::{Frame, StateVector, Vec3, GM_SUN_AU3_PER_DAY2};

/// Mass ratios M☉/Mₚ of the planetary systems (IAU 2009 system of astronomical constants).
const SUN_TO_PLANET_MASS: [f64; 8] = [
    6_023_597.400_017, // Mercury
    408_523.718_655,   // Venus
    328_900.559_708,   // Earth + Moon
    3_098_703.59,      // Mars system
    1_047.348_644,     // Jupiter system
    3_497.901_768,     // Saturn system
    22_902.981_613,    // Uranus system
    19_412.237_346,    // Neptune system
];

/// Longest integration step (days).
const MAX_STEP_DAYS: f64 = 0.25;
/// Step as a fraction of the perihelion time scale q / v_q.
const STEP_FRACTION_OF_PERIHELION_TIME: f64 = 0.01;

/// Heliocentric positions (au, ecliptic J2000) of the eight planets at a TDB Julian Date.
fn planet_positions(jd_tdb: f64) -> [Vec3; 8] {
    use vsop87::vsop87a;
    let at = |c: vsop87::RectangularCoordinates| Vec3::new(c.x, c.y, c.z);
    [
        at(vsop87a::mercury(jd_tdb)),
        at(vsop87a::venus(jd_tdb)),
        at(vsop87a::earth_moon(jd_tdb)),
        at(vsop87a::mars(jd_tdb)),
        at(vsop87a::jupiter(jd_tdb)),
        at(vsop87a::saturn(jd_tdb)),
        at(vsop87a::uranus(jd_tdb)),
        at(vsop87a::neptune(jd_tdb)),
    ]
}

/// Heliocentric acceleration (au/day²) of a massless body at `r` given the planets' positions.
fn acceleration(r: &Vec3, planets: &[Vec3; 8]) -> Vec3 {
    let mut a = -GM_SUN_AU3_PER_DAY2 * r / r.norm().powi(3);
    for (planet, ratio) in planets.iter().zip(SUN_TO_PLANET_MASS) {
        let mu = GM_SUN_AU3_PER_DAY2 / ratio;
        let d = planet - r;
        a += mu * (d / d.norm().powi(3) - planet / planet.norm().powi(3));
    }
    a
}

/// One RK4 step of (r, v) by `h` days; `planets` at t, t + h/2 and t + h.
fn rk4_step(r: Vec3, v: Vec3, h: f64, planets: [&[Vec3; 8]; 3]) -> (Vec3, Vec3) {
    let a1 = acceleration(&r, planets[0]);
    let (r2, v2) = (r + v * (h / 2.0), v + a1 * (h / 2.0));
    let a2 = acceleration(&r2, planets[1]);
    let (r3, v3) = (r + v2 * (h / 2.0), v + a2 * (h / 2.0));
    let a3 = acceleration(&r3, planets[1]);
    let (r4, v4) = (r + v3 * h, v + a3 * h);
    let a4 = acceleration(&r4, planets[2]);
    (
        r + (v + 2.0 * v2 + 2.0 * v3 + v4) * (h / 6.0),
        v + (a1 + 2.0 * a2 + 2.0 * a3 + a4) * (h / 6.0),
    )
}

/// Spacing (days) of the table of planet positions that the integrator interpolates.
const PLANET_TABLE_STEP_DAYS: f64 = 1.0;

/// Planet positions tabulated every [`PLANET_TABLE_STEP_DAYS`] and interpolated with
/// four-point Lagrange polynomials: evaluating the full VSOP87 series of eight planets at every
/// Runge–Kutta stage would dominate the cost. The interpolation error, largest for Mercury
/// (88-day period), is ≈ (2π·1 d/88 d)⁴ × 0.39 au × 3/128 ≈ 2e-7 au, which changes the
/// perturbing acceleration on a comet by a part in 10⁶ at most.
struct PlanetTable {
    first_jd: f64,
    rows: Vec<[Vec3; 8]>,
}

impl PlanetTable {
    /// A table covering [from, to] with two spare nodes on each side. The rows are evaluated
    /// in parallel (each is a pure function of its date; the series are the cost of building
    /// an orbit, ~20 ms for a few months on one core).
    fn new(from: f64, to: f64) -> Self {
        let first_jd = from.min(to).floor() - 2.0 * PLANET_TABLE_STEP_DAYS;
        let count = ((from.max(to) - first_jd) / PLANET_TABLE_STEP_DAYS).ceil() as usize + 3;
        let rows = (0..count)
            .into_par_iter()
            .map(|k| planet_positions(first_jd + k as f64 * PLANET_TABLE_STEP_DAYS))
            .collect();
        PlanetTable { first_jd, rows }
    }

    fn at(&self, jd: f64) -> [Vec3; 8] {
        let x = (jd - self.first_jd) / PLANET_TABLE_STEP_DAYS;
        let k = (x.floor() as usize).clamp(1, self.rows.len().saturating_sub(3));
        let u = x - k as f64;
        // Lagrange weights for nodes k−1, k, k+1, k+2 at offset u from node k.
        let weights = [
            -u * (u - 1.0) * (u - 2.0) / 6.0,
            (u + 1.0) * (u - 1.0) * (u - 2.0) / 2.0,
            -(u + 1.0) * u * (u - 2.0) / 2.0,
            (u + 1.0) * u * (u - 1.0) / 6.0,
        ];
        let mut out = [Vec3::zeros(); 8];
        for (w, row) in weights.iter().zip(&self.rows[k - 1..k + 3]) {
            for (o, p) in out.iter_mut().zip(row) {
                *o += p * *w;
            }
        }
        out
    }
}

/// Nodes from `start` over `span_days` (negative: backwards), the start node included.
///
/// The step is `step_days` exactly (the last node may lie up to one step beyond the span): the
/// nodes sit at `start + k·step` whatever the span, so that the state at a given time does not
/// depend on which other times were requested with it (a frame's geometry is the same whatever
/// the other frames of the batch).
fn integrate(start: Node, span_days: f64, step_days: f64, with_planets: bool) -> Vec<Node> {
    let steps = (span_days.abs() / step_days).ceil().max(1.0) as usize;
    let h = step_days.copysign(span_days);
    let (mut t, mut r, mut v) = start;
    let table = with_planets.then(|| PlanetTable::new(t, t + h * steps as f64));
    let planets_at = |jd: f64| match &table {
        Some(table) => table.at(jd),
        // Far away and massless in effect: the planets' terms vanish.
        None => [Vec3::new(1e12, 0.0, 0.0); 8],
    };
    let mut planets_now = planets_at(t);
    let mut nodes = Vec::with_capacity(steps + 1);
    nodes.push((t, r, v));
    for _ in 0..steps {
        let planets_mid = planets_at(t + h / 2.0);
        let planets_end = planets_at(t + h);
        (r, v) = rk4_step(r, v, h, [&planets_now, &planets_mid, &planets_end]);
        t += h;
        planets_now = planets_end;
        nodes.push((t, r, v));
    }
    nodes
}

/// A comet trajectory integrated with planetary perturbations over a span of time.
#[derive(Debug, Clone)]
pub struct PerturbedOrbit {
    nodes: Vec<Node>,
}

impl PerturbedOrbit {
    /// Integrates `elements` from their epoch of osculation to cover [jd_first, jd_last]
    /// (TDB). Elements without an epoch are an error: perturbations need to know when the
    /// elements are osculating.
    pub fn new(elements: &CometElements, jd_first: f64, jd_last: f64) -> Result<Self, OrbitError> {
        Self::build(elements, jd_first, jd_last, true)
    }

    fn build(
        elements: &CometElements,
        jd_first: f64,
        jd_last: f64,
        with_planets: bool,
    ) -> Result<Self, OrbitError> {
        let epoch = elements.epoch_jd_tdb.ok_or(OrbitError::NoEpoch)?;
        if !(jd_first.is_finite() && jd_last.is_finite() && jd_first <= jd_last) {
            return Err(OrbitError::NotFinite {
                name: "integration span",
                value: jd_last - jd_first,
            });
        }
        let at_epoch = elements.state_at(epoch)?;
        let start = (epoch, at_epoch.position_au, at_epoch.velocity_au_per_day);
        let perihelion_time_days =
            elements.q_au / (GM_SUN_AU3_PER_DAY2 * (1.0 + elements.e) / elements.q_au).sqrt();
        let step = MAX_STEP_DAYS.min(STEP_FRACTION_OF_PERIHELION_TIME * perihelion_time_days);
        let mut backward = if jd_first < epoch {
            integrate(start, jd_first - epoch, step, with_planets)
        } else {
            vec![start]
        };
        backward.reverse();
        let forward = if jd_last > epoch {
            integrate(start, jd_last - epoch, step, with_planets)
        } else {
            vec![start]
        };
        // Both halves hold the epoch node; keep one.
        backward.extend(forward.into_iter().skip(1));
        Ok(PerturbedOrbit { nodes: backward })
    }

    /// First and last TDB Julian Dates covered.
    pub fn span(&self) -> (f64, f64) {
        let first = self.nodes.first().map_or(f64::NAN, |n| n.0);
        let last = self.nodes.last().map_or(f64::NAN, |n| n.0);
        (first, last)
    }

    /// Heliocentric state (ecliptic J2000, au and au/day) at a TDB Julian Date inside the span.
    pub fn state_at(&self, jd_tdb: f64) -> Result<StateVector, OrbitError> {
        let (first, last) = self.span();
        if !(jd_tdb >= first && jd_tdb <= last) {
            return Err(OrbitError::OutsideSpan {
                jd_tdb,
                first,
                last,
            });
        }
        let k = self
            .nodes
            .partition_point(|n| n.0 <= jd_tdb)
            .clamp(1, self.nodes.len().max(2) - 1);
        let (position_au, velocity_au_per_day) = match (self.nodes.get(k - 1), self.nodes.get(k)) {
            (Some(&a), Some(&b)) => hermite(a, b, jd_tdb),
            (Some(&(_, r, v)), None) => (r, v),
            _ => {
                return Err(OrbitError::OutsideSpan {
                    jd_tdb,
                    first,
                    last,
                })
            }
        };
        Ok(StateVector::new(
            Frame::EclipticJ2000,
            position_au,
            velocity_au_per_day,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ephem::elements::builtin;
    use crate::ephem::orbit::propagate;

    /// The same integrator with the planets switched off.
    fn unperturbed(elements: &CometElements, jd_first: f64, jd_last: f64) -> PerturbedOrbit {
        PerturbedOrbit::build(elements, jd_first, jd_last, false).expect("valid test elements")
    }

    /// The analytic two-body state, from the same state at the epoch.
    fn analytic(elements: &CometElements, jd: f64) -> StateVector {
        let epoch = elements.epoch_jd_tdb.expect("epoch");
        let s = elements.state_at(epoch).expect("valid");
        propagate(&s, jd - epoch, GM_SUN_AU3_PER_DAY2).expect("converges")
    }

    #[test]
    fn integrator_error_without_planets_is_negligible() {
        // 3I through perihelion (q = 1.36 au, 2025-10-29) and 2I over seven months.
        for (name, first, last) in [
            ("3I", 2_460_800.5, 2_461_100.5),
            ("2I", 2_458_727.5, 2_458_940.5),
        ] {
            let el = builtin(name).unwrap();
            let orbit = unperturbed(&el, first, last);
            let mut worst: f64 = 0.0;
            let mut jd = first;
            while jd <= last {
                let d = orbit.state_at(jd).unwrap().position_au - analytic(&el, jd).position_au;
                worst = worst.max(d.norm());
                jd += 0.37;
            }
            assert!(worst < 1e-9, "{name}: integrator error {worst:e} au");
        }
    }

    #[test]
    fn planet_table_interpolates_vsop87() {
        let table = PlanetTable::new(2_460_850.0, 2_460_870.0);
        let mut worst: f64 = 0.0;
        for k in 0..200 {
            let jd = 2_460_850.0 + k as f64 * 0.1003;
            for (a, b) in table.at(jd).iter().zip(planet_positions(jd)) {
                worst = worst.max((a - b).norm());
            }
        }
        assert!(
            worst < 3e-7,
            "worst planet interpolation error {worst:e} au"
        );
    }

    #[test]
    fn a_state_does_not_depend_on_the_span_requested() {
        // Epoch 2025-07-27: one span after it, one reaching further, one on both sides.
        let el = builtin("3I").unwrap();
        let jd = 2_460_889.417;
        let spans = [
            (2_460_888.0, 2_460_890.0),
            (2_460_888.0, 2_460_890.062_5),
            (2_460_800.3, 2_460_950.7),
        ];
        let states: Vec<StateVector> = spans
            .iter()
            .map(|&(a, b)| {
                PerturbedOrbit::new(&el, a, b)
                    .unwrap()
                    .state_at(jd)
                    .unwrap()
            })
            .collect();
        for s in &states[1..] {
            assert_eq!(s.position_au, states[0].position_au);
            assert_eq!(s.velocity_au_per_day, states[0].velocity_au_per_day);
        }
        // Before the epoch, integrated backwards over two different spans.
        let jd = 2_460_760.4;
        let a = PerturbedOrbit::new(&el, 2_460_700.0, 2_460_890.0).unwrap();
        let b = PerturbedOrbit::new(&el, 2_460_650.3, 2_460_886.0).unwrap();
        assert_eq!(a.state_at(jd).unwrap(), b.state_at(jd).unwrap());
    }

    #[test]
    fn outside_the_span_is_an_error() {
        let el = builtin("3I").unwrap();
        let orbit = PerturbedOrbit::new(&el, 2_460_857.5, 2_460_860.5).unwrap();
        assert!(orbit.state_at(2_460_858.0).is_ok());
        assert!(matches!(
            orbit.state_at(2_460_700.0),
            Err(OrbitError::OutsideSpan { .. })
        ));
        let no_epoch = CometElements {
            epoch_jd_tdb: None,
            ..el
        };
        assert!(matches!(
            PerturbedOrbit::new(&no_epoch, 2_460_857.5, 2_460_860.5),
            Err(OrbitError::NoEpoch)
        ));
    }
}
