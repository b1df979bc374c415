//! Property tests of the universal-variable Kepler solver over the whole (e, M) range:
//! the propagated position satisfies the classical Kepler equation of its orbit type, and
//! energy and angular momentum are conserved, from circular orbits to e = 10 and across
//! e = 1 ± 1e-8.

use cometphot::ephem::orbit::{propagate, CometElements};
use cometphot::ephem::GM_SUN_AU3_PER_DAY2 as MU;
use proptest::prelude::*;
use std::f64::consts::PI;

/// Elements in the reference plane with perihelion on +x, so that positions are perifocal.
fn planar(q_au: f64, e: f64) -> CometElements {
    CometElements {
        designation: "test".into(),
        solution: "proptest".into(),
        q_au,
        e,
        i_deg: 0.0,
        node_deg: 0.0,
        peri_deg: 0.0,
        tp_jd_tdb: 0.0,
        epoch_jd_tdb: None,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn elliptic_positions_satisfy_kepler(e in 0.0f64..0.999, mean_anomaly in -PI..PI, q in 0.1f64..40.0) {
        let a = q / (1.0 - e);
        let n = (MU / a.powi(3)).sqrt();
        let s = planar(q, e).state_at(mean_anomaly / n).unwrap();
        let (x, y) = (s.position_au.x, s.position_au.y);
        let b = a * (1.0 - e * e).sqrt();
        let ecc_anomaly = (y / b).atan2(x / a + e);
        let residual = ecc_anomaly - e * ecc_anomaly.sin() - mean_anomaly;
        prop_assert!(residual.abs() < 1e-9, "E − e sin E − M = {residual:e}");
    }

    #[test]
    fn hyperbolic_positions_satisfy_kepler(e in 1.001f64..10.0, mean_anomaly in -50.0f64..50.0, q in 0.1f64..10.0) {
        let a = q / (e - 1.0); // |a|
        let n = (MU / a.powi(3)).sqrt();
        let s = planar(q, e).state_at(mean_anomaly / n).unwrap();
        let y = s.position_au.y;
        let hyp_anomaly = (y / (a * (e * e - 1.0).sqrt())).asinh();
        let residual = e * hyp_anomaly.sinh() - hyp_anomaly - mean_anomaly;
        prop_assert!(residual.abs() < 1e-9 * (1.0 + mean_anomaly.abs()), "e sinh F − F − M = {residual:e}");
    }

    #[test]
    fn energy_and_angular_momentum_are_conserved(
        e in prop_oneof![0.0f64..0.99, 0.999_999f64..1.000_001, Just(1.0 - 1e-8), Just(1.0 + 1e-8), Just(1.0), 1.01f64..10.0],
        dt_days in -20_000.0f64..20_000.0,
        q in 0.05f64..20.0,
    ) {
        let el = planar(q, e);
        let s = el.state_at(dt_days).unwrap();
        let r = s.position_au.norm();
        let v2 = s.velocity_au_per_day.norm_squared();
        // Vis-viva at perihelion: v² = μ(1+e)/q, so the energy is μ(e − 1)/(2q).
        let energy = v2 / 2.0 - MU / r;
        let expected_energy = MU * (e - 1.0) / (2.0 * q);
        // Rounding acts on each term, so the tolerance scales with their sizes (far out on a
        // hyperbola the kinetic term dominates and μ/r is tiny).
        let scale = v2 / 2.0 + MU / r;
        prop_assert!((energy - expected_energy).abs() < 1e-10 * scale, "energy {energy:e} vs {expected_energy:e}");
        let h = s.position_au.cross(&s.velocity_au_per_day).norm();
        let expected_h = (MU * q * (1.0 + e)).sqrt();
        prop_assert!((h - expected_h).abs() < 1e-10 * expected_h, "h {h:e} vs {expected_h:e}");
        prop_assert!(r >= q * (1.0 - 1e-12));
    }

    #[test]
    fn forward_then_back_returns_the_state(
        e in 0.0f64..8.0,
        t0 in -3000.0f64..3000.0,
        dt_days in -3000.0f64..3000.0,
    ) {
        let start = planar(1.5, e).state_at(t0).unwrap();
        let there = propagate(&start, dt_days, MU).unwrap();
        let back = propagate(&there, -dt_days, MU).unwrap();
        let dr = (back.position_au - start.position_au).norm();
        prop_assert!(dr < 1e-9 * (1.0 + start.position_au.norm()), "|dr| = {dr:e}");
    }
}
