//! Honest errors: over many simulated 3I campaigns (the nights and geometry of the built-in
//! `3I-2025` campaign, magnitudes with known noise; no FITS, so it is fast) the fitted n falls
//! within its quoted 1σ of the truth in 60–76 % of the campaigns (68 % expected).

use cometphot::lightcurve::analysis::{analyse, AnalysisOptions};
use cometphot::lightcurve::model::{ColourTreatment, ExtraScatter, FitOptions, PhaseTreatment};
use cometphot::lightcurve::phase::PhaseLaw;
use cometphot::lightcurve::points::LightcurvePoint;
use cometphot::simulate::campaign::{builtin_campaign, plan, true_magnitude, NightPlan};
use rand::{Rng, SeedableRng};
use rand_distr::StandardNormal;
use rand_pcg::Pcg64;

const CAMPAIGNS: usize = 1000;
const TRUE_N: f64 = 3.8;

struct Scenario {
    name: &'static str,
    /// σ of the true phase coefficient around 0.04 (drawn per campaign).
    beta_spread: f64,
    /// Assumed uncertainty of the phase coefficient in the fit.
    beta_err_assumed: f64,
    /// Night-to-night scatter not included in the stated errors (mag).
    hidden_scatter_mag: f64,
}

fn pulls(plans: &[NightPlan], h_mag: f64, scenario: &Scenario) -> Vec<f64> {
    (0..CAMPAIGNS)
        .map(|k| {
            let mut rng = Pcg64::seed_from_u64(1000 + k as u64);
            let z: f64 = rng.sample(StandardNormal);
            let beta_true = 0.04 + scenario.beta_spread * z;
            let points: Vec<LightcurvePoint> = plans
                .iter()
                .enumerate()
                .map(|(i, p)| {
                    let o = &p.observation;
                    let err = rng.random_range(0.01..0.04);
                    let z1: f64 = rng.sample(StandardNormal);
                    let z2: f64 = rng.sample(StandardNormal);
                    let truth =
                        true_magnitude(h_mag, TRUE_N, beta_true, o.rh_au, o.delta_au, o.phase_deg);
                    LightcurvePoint {
                        row: i + 1,
                        time_mjd: p.science_mjd_mid_utc[0],
                        rh_au: o.rh_au,
                        delta_au: o.delta_au,
                        phase_deg: o.phase_deg,
                        mag: truth + err * z1 + scenario.hidden_scatter_mag * z2,
                        mag_err: err,
                        filter: "R".into(),
                    }
                })
                .collect();
            let options = AnalysisOptions {
                fit: FitOptions {
                    phase: PhaseTreatment::Fixed {
                        law: PhaseLaw::Linear {
                            coeff_mag_per_deg: 0.04,
                        },
                        coeff_err_mag_per_deg: scenario.beta_err_assumed,
                    },
                    colour: ColourTreatment::FitOffsets,
                    extra_scatter: ExtraScatter::WhenSignificant,
                },
                ..AnalysisOptions::default()
            };
            let fit = analyse(&points, &options).unwrap().power.unwrap();
            (fit.n - TRUE_N) / fit.n_err
        })
        .collect()
}

fn fraction_within_1_sigma(pulls: &[f64]) -> f64 {
    pulls.iter().filter(|p| p.abs() < 1.0).count() as f64 / pulls.len() as f64
}

#[test]
fn quoted_errors_on_n_are_honest_over_many_campaigns() {
    let config = builtin_campaign("3I-2025").unwrap();
    let plans = plan(&config).unwrap();
    assert!(plans.len() >= 20);
    let scenarios = [
        Scenario {
            name: "noise as stated, β known",
            beta_spread: 0.0,
            beta_err_assumed: 0.0,
            hidden_scatter_mag: 0.0,
        },
        Scenario {
            name: "β ~ N(0.04, 0.02), fit assumes 0.04 ± 0.02",
            beta_spread: 0.02,
            beta_err_assumed: 0.02,
            hidden_scatter_mag: 0.0,
        },
        Scenario {
            name: "0.05 mag night-to-night scatter not in the errors",
            beta_spread: 0.0,
            beta_err_assumed: 0.0,
            hidden_scatter_mag: 0.05,
        },
    ];
    for scenario in &scenarios {
        let p = pulls(&plans, config.h_mag, scenario);
        let fraction = fraction_within_1_sigma(&p);
        let mean = p.iter().sum::<f64>() / p.len() as f64;
        let sd = (p.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / p.len() as f64).sqrt();
        println!(
            "{}: |pull| < 1 in {:.1} % of {CAMPAIGNS} campaigns; pull mean {mean:+.3}, sd {sd:.3}",
            scenario.name,
            100.0 * fraction
        );
        assert!(
            (0.60..=0.76).contains(&fraction),
            "{}: {fraction}",
            scenario.name
        );
        assert!(mean.abs() < 0.1, "{}: mean pull {mean}", scenario.name);
    }
    // Without propagating the phase-coefficient uncertainty the errors would be far too small.
    let ignored = Scenario {
        name: "β ~ N(0.04, 0.02), fit assumes 0.04 ± 0",
        beta_spread: 0.02,
        beta_err_assumed: 0.0,
        hidden_scatter_mag: 0.0,
    };
    let fraction = fraction_within_1_sigma(&pulls(&plans, config.h_mag, &ignored));
    println!("{}: |pull| < 1 in {:.1} %", ignored.name, 100.0 * fraction);
    assert!(fraction < 0.45);
}
