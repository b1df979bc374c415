//! Simulated observing campaigns: the plan of the built-in 3I/ATLAS campaign (geometry, truth,
//! observability, framing), and small campaigns written to disk (layout, truth table,
//! reproducibility, the CLI).

use std::path::Path;
use std::process::Command;

use cometphot::ephem::elements::builtin;
use cometphot::ephem::ephemeris::{GeometrySource, OrbitModel};
use cometphot::ephem::site::Site;
use cometphot::ephem::time::UtcInstant;
use cometphot::simulate::campaign::{
    self, aperture_radius_arcsec, builtin_campaign, plan, true_magnitude, CampaignConfig,
    TRUTH_COLUMNS,
};
use cometphot::simulate::model::{
    altitude_deg, electrons_from_mag, NOT_EAST_LONGITUDE_DEG, NOT_LATITUDE_DEG,
};
use cometphot::simulate::{FrameKind, NightConfig};

/// Sky annulus of the photometry (arcsec): it must fit in the frame around the comet.
const ANNULUS_OUTER_ARCSEC: f64 = 45.0;

#[test]
fn plan_of_3i_2025_follows_the_orbit_and_the_truth() {
    let config = builtin_campaign("3I-2025").unwrap();
    let plans = plan(&config).unwrap();
    assert!(plans.len() >= 20, "{} nights", plans.len());

    // Geometry computed independently, from an orbit integrated over another span.
    let geometry = GeometrySource::orbit(
        builtin("3I").unwrap(),
        OrbitModel::Perturbed,
        UtcInstant::parse_iso("2025-06-20").unwrap(),
        UtcInstant::parse_iso("2025-10-10").unwrap(),
    )
    .unwrap();
    let site = Site::parse("NOT").unwrap();
    let mut previous_mjd = 0.0;
    for p in &plans {
        let o = &p.observation;
        // The reference time is the first science mid-exposure.
        let mid = UtcInstant::parse_iso(&p.night.science_start_utc)
            .unwrap()
            .plus_seconds(0.5 * p.science_exptime_s);
        assert!((o.time_utc.mjd() - mid.mjd()).abs() < 1e-9);
        assert_eq!(p.science_mjd_mid_utc.len(), config.n_science);
        assert!((p.science_mjd_mid_utc[0] - mid.mjd()).abs() < 1e-9);
        assert!(p.science_mjd_mid_utc[0] > previous_mjd);
        previous_mjd = p.science_mjd_mid_utc[0];
        let check = geometry.observe(&site, o.time_utc).unwrap();
        assert!((check.rh_au - o.rh_au).abs() < 1e-8, "{}", p.date_utc);
        assert!((check.delta_au - o.delta_au).abs() < 1e-8, "{}", p.date_utc);
        assert!(
            (check.phase_deg - o.phase_deg).abs() < 1e-6,
            "{}",
            p.date_utc
        );

        // The truth: the formula on the plan's own geometry, and the aperture in arcsec.
        let m = true_magnitude(
            config.h_mag,
            config.n_index,
            config.phase_coeff_mag_per_deg,
            o.rh_au,
            o.delta_au,
            o.phase_deg,
        ) + p.scatter_mag;
        let by_hand = config.h_mag
            + 5.0 * o.delta_au.log10()
            + 2.5 * 3.8 * o.rh_au.log10()
            + 0.04 * o.phase_deg;
        assert_eq!(p.true_mag, m);
        assert!((p.true_mag - by_hand).abs() < 1e-12);
        assert_eq!(p.scatter_mag, 0.0);
        let rho = 10_000.0 / (725.27 * o.delta_au);
        assert!((p.aperture_radius_arcsec - rho).abs() < 1e-4);
        assert_eq!(
            p.aperture_radius_arcsec,
            aperture_radius_arcsec(10_000.0, o.delta_au)
        );
        // ... handed to the night simulator: flux within ρ is the true magnitude.
        let comet = &p.night.comet;
        assert_eq!(comet.coma_mag, p.true_mag);
        assert_eq!(comet.coma_aperture_radius_arcsec, p.aperture_radius_arcsec);
        assert!(comet.coma_outer_radius_arcsec > ANNULUS_OUTER_ARCSEC);
        assert!(comet.enabled);

        // Observable: science frames in astronomical darkness, the comet above 20°.
        let start = p.science_start_utc;
        let end = start.plus_seconds(
            config.n_science as f64 * (p.science_exptime_s + p.night.overhead_s)
                - p.night.overhead_s,
        );
        assert!(
            p.dark_start_utc <= start && end <= p.dark_end_utc,
            "{}",
            p.date_utc
        );
        for t in [start, end] {
            let alt = altitude_deg(
                o.ra_deg,
                o.dec_deg,
                t.jd(),
                NOT_LATITUDE_DEG,
                NOT_EAST_LONGITUDE_DEG,
            );
            assert!(alt > 20.0, "{}: {alt:.1} deg", p.date_utc);
        }
        assert!(p.altitude_start_deg > 20.0 && p.altitude_end_deg > 20.0);
        // In the frame, with the sky annulus.
        assert!(
            p.comet_offset_arcsec + ANNULUS_OUTER_ARCSEC < p.field_half_width_arcsec,
            "{}: offset {} half-width {}",
            p.date_utc,
            p.comet_offset_arcsec,
            p.field_half_width_arcsec
        );
        assert!(p.science_exptime_s >= 5.0 && p.science_exptime_s <= 120.0);
    }

    // The span of the study as far as La Palma allows it (see data/campaigns/3I-2025.toml):
    // from rH ≥ 4.3 au in early July down to ~2.2 au in September, the comet brightening.
    let (first, last) = (&plans[0], &plans[plans.len() - 1]);
    println!(
        "3I-2025: {} nights, {} to {}: rH {:.3} -> {:.3} au, delta {:.3} -> {:.3} au, alpha \
         {:.2} -> {:.2} deg, true mag {:.3} -> {:.3}",
        plans.len(),
        first.date_utc,
        last.date_utc,
        first.observation.rh_au,
        last.observation.rh_au,
        first.observation.delta_au,
        last.observation.delta_au,
        first.observation.phase_deg,
        last.observation.phase_deg,
        first.true_mag,
        last.true_mag
    );
    assert!(first.observation.rh_au >= 4.3);
    assert!(last.observation.rh_au <= 2.25);
    assert!(first.true_mag > 16.5 && first.true_mag < 17.5);
    assert!(last.true_mag < first.true_mag - 2.0);

    // Cheap enough for thousands of synthetic campaigns once the orbit is built.
    let g = campaign::CampaignGeometry::new(&config).unwrap();
    let started = std::time::Instant::now();
    for seed in 0..20 {
        let variant = CampaignConfig {
            seed,
            night_scatter_mag: 0.03,
            ..config.clone()
        };
        assert_eq!(
            campaign::plan_with(&variant, &g).unwrap().len(),
            plans.len()
        );
    }
    println!(
        "plan_with: {:.1} ms per {}-night campaign",
        started.elapsed().as_secs_f64() * 1000.0 / 20.0,
        plans.len()
    );
}

/// Two nights, small frames: fast to write.
fn small_campaign(seed: u64) -> CampaignConfig {
    CampaignConfig {
        name: "small".to_string(),
        nights_utc: vec!["2025-07-15".to_string(), "2025-08-20".to_string()],
        seed,
        n_bias: 1,
        n_flat: 1,
        n_science: 2,
        night_scatter_mag: 0.1,
        detector_window: "[901:1200, 901:1200]".to_string(),
        ..CampaignConfig::default()
    }
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn small_campaign_writes_its_nights_and_truth_reproducibly() {
    let config = small_campaign(5);
    let dir = tempfile::tempdir().unwrap();
    let sim = campaign::run(&config, dir.path()).unwrap();
    assert_eq!(sim.nights.len(), 2);
    assert_eq!(sim.n_files(), 8);
    for (p, name) in sim.plans.iter().zip(["20250715", "20250820"]) {
        let night_dir = dir.path().join(name);
        assert_eq!(p.dir_name, name);
        for file in [
            "catalogue.csv",
            "truth_frames.csv",
            "truth_stars.csv",
            "simulation.toml",
        ] {
            assert!(night_dir.join(file).is_file(), "{name}/{file}");
        }
        let fits = std::fs::read_dir(&night_dir)
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .path()
                    .extension()
                    .is_some_and(|x| x == "fits")
            })
            .count();
        assert_eq!(fits, 4);
        let night: NightConfig = toml::from_str(&read(&night_dir.join("simulation.toml"))).unwrap();
        assert_eq!(night, p.night);
    }
    let written: CampaignConfig = toml::from_str(&read(&sim.config_toml)).unwrap();
    assert_eq!(written, config);

    // The truth table: one row per science frame, the comet in the frame, and its injected
    // electrons within the aperture those of the true magnitude.
    let truth = read(&sim.truth_csv);
    let mut lines = truth.lines();
    assert_eq!(lines.next().unwrap(), TRUTH_COLUMNS.join(","));
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    assert_eq!(rows.len(), 4);
    let col = |name: &str| TRUTH_COLUMNS.iter().position(|c| *c == name).unwrap();
    let num = |row: &Vec<&str>, name: &str| row[col(name)].parse::<f64>().unwrap();
    for row in &rows {
        let plan = sim
            .plans
            .iter()
            .find(|p| p.date_utc == row[col("night_utc")])
            .unwrap();
        assert_eq!(num(row, "true_mag"), plan.true_mag);
        assert_eq!(num(row, "rh_au"), plan.observation.rh_au);
        assert_eq!(num(row, "h_mag"), config.h_mag);
        assert_eq!(num(row, "n_index"), 3.8);
        assert_eq!(num(row, "phase_coeff_mag_per_deg"), 0.04);
        assert_eq!(num(row, "aperture_radius_km"), 10_000.0);
        let (x, y) = (num(row, "comet_x_px"), num(row, "comet_y_px"));
        let inner = num(row, "aperture_radius_arcsec") / 0.2138;
        assert!(x > inner && x < 300.0 - inner && y > inner && y < 300.0 - inner);
        let expected_e = electrons_from_mag(
            num(row, "true_mag"),
            25.0,
            0.07,
            num(row, "airmass"),
            num(row, "exptime_s"),
        );
        let injected_e = num(row, "coma_aperture_flux_e");
        assert!((injected_e / expected_e - 1.0).abs() < 1e-9);
        let frame = sim
            .nights
            .iter()
            .flat_map(|n| &n.frames)
            .find(|f| f.file == row[col("file")])
            .unwrap();
        assert_eq!(frame.frame_type, FrameKind::Science);
        assert_eq!(frame.mjd_mid_utc, num(row, "mjd_mid_utc"));
    }
    // The scatter was drawn and is part of the truth.
    assert!(sim.plans.iter().all(|p| p.scatter_mag != 0.0));

    // Same settings, same bytes; another seed, another truth.
    let again = tempfile::tempdir().unwrap();
    let sim2 = campaign::run(&config, again.path()).unwrap();
    assert_eq!(std::fs::read(&sim2.truth_csv).unwrap(), truth.as_bytes());
    let first_fits = &sim.nights[1].fits_files[3];
    let first_fits2 = &sim2.nights[1].fits_files[3];
    assert_eq!(
        std::fs::read(first_fits).unwrap(),
        std::fs::read(first_fits2).unwrap()
    );
    let other = tempfile::tempdir().unwrap();
    let sim3 = campaign::run(&small_campaign(6), other.path()).unwrap();
    assert_ne!(read(&sim3.truth_csv), truth);
}

fn cometphot(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_cometphot"))
        .args(args)
        .output()
        .expect("run cometphot")
}

#[test]
fn cli_plans_and_writes_campaigns() {
    // The built-in campaign works from any directory (embedded in the binary).
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_cometphot"))
        .current_dir(dir.path())
        .args(["simulate", "--campaign", "3I-2025", "--plan-only"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let plan = String::from_utf8(out.stdout).unwrap();
    let config = builtin_campaign("3I-2025").unwrap();
    assert_eq!(plan.lines().count(), config.nights_utc.len() + 1);
    assert!(plan.starts_with("night_utc,"));

    // Single-night options do not mix with a campaign.
    let out = cometphot(&["simulate", "--campaign", "3I-2025", "--n-bias", "2"]);
    assert!(!out.status.success());

    // A campaign file, with the seed overridden.
    let file = dir.path().join("tiny.toml");
    let mut tiny = small_campaign(1);
    tiny.nights_utc.truncate(1);
    std::fs::write(&file, toml::to_string(&tiny).unwrap()).unwrap();
    let out_dir = dir.path().join("out");
    let out = cometphot(&[
        "simulate",
        "--campaign",
        file.to_str().unwrap(),
        "--seed",
        "9",
        "--out",
        out_dir.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("simulated campaign small: 1 nights"));
    assert!(out_dir.join("20250715").join("catalogue.csv").is_file());
    let written: CampaignConfig = toml::from_str(&read(&out_dir.join("campaign.toml"))).unwrap();
    assert_eq!(written.seed, 9);
    assert_eq!(read(&out_dir.join("truth_campaign.csv")).lines().count(), 3);

    // An unknown campaign names the built-in ones.
    let out = cometphot(&["simulate", "--campaign", "5I-2040", "--plan-only"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("3I-2025"));
}
