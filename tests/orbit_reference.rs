//! Two-body orbits and the Earth ephemeris against JPL reference values copied into
//! `data/reference/` (see data/reference/PROVENANCE.md).

use cometphot::ephem::earth::earth_state;
use cometphot::ephem::elements::builtin;
use cometphot::ephem::orbit::CometElements;
use cometphot::ephem::perturbed::PerturbedOrbit;
use cometphot::ephem::{Frame, Vec3};
mod reference;
use reference::{csv_rows, data, num};

/// The elements of one row of orbital_elements.csv.
fn elements_row(object_prefix: &str, solution_prefix: &str) -> CometElements {
    let rows = csv_rows(&data("reference/orbital_elements.csv"));
    let row = rows
        .iter()
        .find(|r| {
            r["object"].starts_with(object_prefix) && r["solution"].starts_with(solution_prefix)
        })
        .unwrap_or_else(|| panic!("no row {object_prefix} {solution_prefix}"));
    CometElements {
        designation: row["object"].clone(),
        solution: row["solution"].clone(),
        q_au: num(row, "q_au"),
        e: num(row, "e"),
        i_deg: num(row, "i_deg"),
        node_deg: num(row, "node_deg"),
        peri_deg: num(row, "argperi_deg"),
        tp_jd_tdb: num(row, "tp_jd_tdb"),
        epoch_jd_tdb: Some(num(row, "epoch_jd_tdb")),
    }
}

#[test]
fn elements_reproduce_horizons_two_body_states_at_the_epoch() {
    let checks = csv_rows(&data("reference/state_vector_checks.csv"));
    let cases = [
        ("3I/ATLAS", "JPL#26", "3I/ATLAS", "JPL#26"),
        ("3I/ATLAS", "JPL#27", "3I/ATLAS", "JPL#27"),
        (
            "2I/Borisov",
            "SBDB sol 54",
            "2I/Borisov",
            "JPL SBDB solution 54",
        ),
    ];
    for (check_object, check_solution, object, solution) in cases {
        let check = checks
            .iter()
            .find(|r| r["object"] == check_object && r["solution"] == check_solution)
            .expect("check row");
        let elements = elements_row(object, solution);
        let epoch = num(check, "epoch_jd_tdb");
        let state = elements
            .state_at(epoch)
            .unwrap()
            .in_frame(Frame::EquatorialJ2000);
        let want_r = Vec3::new(num(check, "X_au"), num(check, "Y_au"), num(check, "Z_au"));
        let want_v = Vec3::new(
            num(check, "VX_au_d"),
            num(check, "VY_au_d"),
            num(check, "VZ_au_d"),
        );
        let dr = (state.position_au - want_r).norm();
        let dv = (state.velocity_au_per_day - want_v).norm();
        println!("{object} {solution}: |dr| = {dr:.2e} au, |dv| = {dv:.2e} au/d");
        assert!(dr < 1e-10, "{object} {solution}: |dr| = {dr:e} au");
        assert!(dv < 1e-12, "{object} {solution}: |dv| = {dv:e} au/d");
    }
}

#[test]
fn builtin_orbits_are_the_reference_rows() {
    for (name, object, solution) in [
        ("3I", "3I/ATLAS", "JPL#27"),
        ("2I", "2I/Borisov", "JPL SBDB solution 54"),
    ] {
        let builtin = builtin(name).unwrap();
        let reference = elements_row(object, solution);
        assert_eq!(
            (builtin.q_au, builtin.e, builtin.i_deg, builtin.node_deg),
            (
                reference.q_au,
                reference.e,
                reference.i_deg,
                reference.node_deg
            )
        );
        assert_eq!(
            (builtin.peri_deg, builtin.tp_jd_tdb, builtin.epoch_jd_tdb),
            (
                reference.peri_deg,
                reference.tp_jd_tdb,
                reference.epoch_jd_tdb
            )
        );
    }
}

/// Heliocentric positions of 3I (x,y,z) and of the Earth (earth_x,y,z), ecliptic J2000, from
/// JPL Horizons (3I JPL#27 with planetary perturbations; Earth from DE441), daily at 0h TDB.
fn horizons_daily_3i() -> Vec<(f64, Vec3, Vec3)> {
    csv_rows(&data(
        "reference/ephem_3I_ATLAS_2025Jul-Sep_JPL27_derived.csv",
    ))
    .iter()
    .map(|r| {
        (
            num(r, "jd_tdb"),
            Vec3::new(num(r, "x_au"), num(r, "y_au"), num(r, "z_au")),
            Vec3::new(
                num(r, "earth_x_au"),
                num(r, "earth_y_au"),
                num(r, "earth_z_au"),
            ),
        )
    })
    .collect()
}

#[test]
fn vsop87_earth_matches_de441_to_1e6_au() {
    let rows = horizons_daily_3i();
    assert_eq!(rows.len(), 92);
    let worst = rows
        .iter()
        .map(|(jd, _, earth)| (earth_state(*jd).position_au - earth).norm())
        .fold(0.0, f64::max);
    println!("worst |VSOP87A Earth − DE441| = {worst:.2e} au");
    // The table gives 12 decimals (5e-13 au); VSOP87A's stated accuracy is ~1e-7 au here.
    assert!(worst < 1e-6, "worst |Earth − DE441| = {worst:e} au");
}

#[test]
fn two_body_3i_stays_close_to_horizons_n_body_positions() {
    let orbit = builtin("3I").unwrap();
    let worst = horizons_daily_3i()
        .iter()
        .map(|(jd, comet, _)| (orbit.state_at(*jd).unwrap().position_au - comet).norm())
        .fold(0.0, f64::max);
    println!("worst |two-body 3I − Horizons N-body| = {worst:.2e} au");
    assert!(worst < 5e-5, "worst |two-body − N-body| = {worst:e} au");
}

#[test]
fn perturbed_3i_follows_horizons_n_body_positions_closely() {
    let elements = builtin("3I").unwrap();
    let rows = horizons_daily_3i();
    let orbit = PerturbedOrbit::new(&elements, rows[0].0, rows[rows.len() - 1].0).unwrap();
    let worst = rows
        .iter()
        .map(|(jd, comet, _)| (orbit.state_at(*jd).unwrap().position_au - comet).norm())
        .fold(0.0, f64::max);
    println!("worst |perturbed 3I − Horizons N-body| = {worst:.2e} au");
    assert!(worst < 2e-6, "worst |perturbed − N-body| = {worst:e} au");
}

#[test]
fn propagated_3i_stays_close_to_horizons_vectors_from_july_to_october() {
    use cometphot::ephem::horizons::{self, HorizonsTable};
    let path = format!(
        "{}/data/real/horizons/horizons_3I_heliocentric_vectors_daily_2025-06-01_to_2025-12-31.txt",
        env!("CARGO_MANIFEST_DIR")
    );
    let HorizonsTable::Vectors(table) = horizons::read(std::path::Path::new(&path)).unwrap() else {
        panic!("a vector table");
    };
    let (first, last) = (2_460_857.5, 2_460_979.5); // 2025-07-01 .. 2025-10-31, 0h TDB
    let elements = builtin("3I").unwrap();
    let perturbed = PerturbedOrbit::new(&elements, first, last).unwrap();
    let (mut worst_two_body, mut worst_perturbed): (f64, f64) = (0.0, 0.0);
    let mut count = 0;
    for (jd, state) in table.jd().iter().zip(table.states()) {
        if *jd < first || *jd > last {
            continue;
        }
        count += 1;
        let horizons = state.in_frame(Frame::EclipticJ2000).position_au;
        let two_body = elements.state_at(*jd).unwrap().position_au;
        worst_two_body = worst_two_body.max((two_body - horizons).norm());
        worst_perturbed =
            worst_perturbed.max((perturbed.state_at(*jd).unwrap().position_au - horizons).norm());
    }
    assert_eq!(count, 123);
    println!(
        "3I Jul-Oct 2025 vs Horizons vectors: two-body {worst_two_body:.2e} au, \
         perturbed {worst_perturbed:.2e} au"
    );
    assert!(worst_two_body < 5e-5, "two-body {worst_two_body:e} au");
    assert!(worst_perturbed < 2e-6, "perturbed {worst_perturbed:e} au");
}
