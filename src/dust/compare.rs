//! Side-by-side comparison of two comets (e.g. 3I/ATLAS and 2I/Borisov) at a matched
//! heliocentric distance: what cometphot measures from each comet's data beside the
//! literature values with their citations (`data/reference/literature_activity_parameters.csv`,
//! embedded; values as stated in the cited abstracts).
//!
//! Rows: the heliocentric index n, the index of dM/dt, dM/dt and C_e at the matched rH, the
//! grain radius and ejection speed assumed, and the turnaround distance and time of sunward
//! grains at the matched rH ([`super::radiation::turnaround`]) for those grains.

use serde::Serialize;

use super::radiation::{beta, turnaround};
use super::DustError;

/// The literature table shipped with cometphot.
const LITERATURE_CSV: &str =
    include_str!("../../data/reference/literature_activity_parameters.csv");

/// One literature value, verbatim.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LiteratureValue {
    pub object: String,
    pub quantity: String,
    pub value: String,
    pub uncertainty: String,
    pub conditions: String,
    /// `abstract` or `news` (see the table's header).
    pub status: String,
    pub source: String,
}

/// The embedded literature table (comment lines skipped).
pub fn literature() -> Vec<LiteratureValue> {
    let mut lines = LITERATURE_CSV
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty());
    lines.next();
    lines
        .filter_map(|line| {
            let f: Vec<&str> = line.splitn(7, ',').collect();
            (f.len() == 7).then(|| LiteratureValue {
                object: f[0].to_string(),
                quantity: f[1].to_string(),
                value: f[2].to_string(),
                uncertainty: f[3].to_string(),
                conditions: f[4].to_string(),
                status: f[5].to_string(),
                source: f[6].to_string(),
            })
        })
        .collect()
}

/// A measured value with its 1σ error.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Measured {
    pub value: f64,
    pub err: f64,
}

/// What cometphot has for one comet.
#[derive(Debug, Clone, PartialEq)]
pub struct CometSummary {
    /// Name as in the literature table (`3I`, `2I`).
    pub object: String,
    pub n_index: Option<Measured>,
    pub production_index: Option<Measured>,
    pub production_kg_s: Option<Measured>,
    pub cross_section_km2: Option<Measured>,
    /// rH at which the production rate and cross-section were read (au).
    pub at_rh_au: f64,
    pub grain_radius_um: f64,
    pub grain_density_kg_m3: f64,
    pub speed_m_s: f64,
    /// The dust assumptions in words, when dust quantities were computed.
    pub assumptions: Option<String>,
}

/// One row of the comparison.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ComparisonRow {
    pub quantity: String,
    pub unit: String,
    pub object_cometphot: Option<f64>,
    pub object_cometphot_err: Option<f64>,
    pub object_literature: String,
    pub object_literature_source: String,
    pub reference_cometphot: Option<f64>,
    pub reference_cometphot_err: Option<f64>,
    pub reference_literature: String,
    pub reference_literature_source: String,
    /// How the cometphot values were obtained (assumed vs measured).
    pub note: String,
}

/// Which literature rows answer a quantity: the first row of the object whose quantity starts
/// with one of `prefixes` and whose conditions contain `condition` (when given).
struct LiteratureKey {
    prefixes: &'static [&'static str],
    condition: Option<&'static str>,
}

fn find<'a>(
    table: &'a [LiteratureValue],
    object: &str,
    key: &LiteratureKey,
) -> Option<&'a LiteratureValue> {
    table.iter().find(|row| {
        row.object == object
            && row.status != "news"
            && key.prefixes.iter().any(|p| row.quantity.starts_with(p))
            && key.condition.is_none_or(|c| row.conditions.contains(c))
    })
}

fn literature_text(row: Option<&LiteratureValue>) -> (String, String) {
    match row {
        None => (String::new(), String::new()),
        Some(r) => {
            let mut value = r.value.clone();
            if !r.uncertainty.is_empty() && r.uncertainty != "none given" {
                value = format!("{value} ± {}", r.uncertainty);
            }
            if !r.conditions.is_empty() && r.conditions != "same" {
                value = format!("{value} ({})", r.conditions);
            }
            (value, r.source.clone())
        }
    }
}

/// The comparison table of `object` against `reference` at their matched rH.
pub fn compare(
    object: &CometSummary,
    reference: &CometSummary,
) -> Result<Vec<ComparisonRow>, DustError> {
    let table = literature();
    let rh = object.at_rh_au;
    let split = |m: Option<Measured>| (m.map(|m| m.value), m.map(|m| m.err));
    let mut rows = Vec::new();
    let mut push = |quantity: String,
                    unit: &str,
                    ours: (Option<Measured>, Option<Measured>),
                    key: LiteratureKey,
                    note: &str| {
        let (ov, oe) = split(ours.0);
        let (rv, re) = split(ours.1);
        let (ol, os) = literature_text(find(&table, &object.object, &key));
        let (rl, rs) = literature_text(find(&table, &reference.object, &key));
        rows.push(ComparisonRow {
            quantity,
            unit: unit.to_string(),
            object_cometphot: ov,
            object_cometphot_err: oe,
            object_literature: ol,
            object_literature_source: os,
            reference_cometphot: rv,
            reference_cometphot_err: re,
            reference_literature: rl,
            reference_literature_source: rs,
            note: note.to_string(),
        });
    };
    push(
        "heliocentric index n".into(),
        "",
        (object.n_index, reference.n_index),
        LiteratureKey {
            prefixes: &["heliocentric index n"],
            condition: None,
        },
        "fitted by cometphot fit",
    );
    push(
        "index of dM/dt vs rH".into(),
        "",
        (object.production_index, reference.production_index),
        LiteratureKey {
            prefixes: &["dust production rate scaling"],
            condition: None,
        },
        "fitted by cometphot dust",
    );
    push(
        format!("dM/dt at rH = {rh} au"),
        "kg/s",
        (object.production_kg_s, reference.production_kg_s),
        LiteratureKey {
            prefixes: &["dust production rate", "dM/dt"],
            condition: Some("2 au"),
        },
        "from the power-law fit of dM/dt vs rH (extrapolated when rH is outside the observed range: see dust_trend.json); depends on the assumed a, ρ_d, v, ℓ",
    );
    push(
        format!("C_e at rH = {rh} au"),
        "km2",
        (object.cross_section_km2, reference.cross_section_km2),
        LiteratureKey {
            prefixes: &["dust cross-section"],
            condition: None,
        },
        "from the power-law fit of C_e vs rH (extrapolated when rH is outside the observed range); literature values are at the dates and apertures stated",
    );
    let assumed = |c: &CometSummary, v: f64| {
        Some(Measured { value: v, err: 0.0 }).filter(|_| c.grain_radius_um > 0.0)
    };
    push(
        "grain radius a".into(),
        "um",
        (
            assumed(object, object.grain_radius_um),
            assumed(reference, reference.grain_radius_um),
        ),
        LiteratureKey {
            prefixes: &["effective grain radius"],
            condition: None,
        },
        "assumed (cometphot grains gives the consistent region)",
    );
    push(
        "ejection speed v".into(),
        "m/s",
        (
            assumed(object, object.speed_m_s),
            assumed(reference, reference.speed_m_s),
        ),
        LiteratureKey {
            prefixes: &["grain ejection speed"],
            condition: None,
        },
        "assumed",
    );
    let turn = |c: &CometSummary| -> Result<(Measured, Measured), DustError> {
        let b = beta(c.grain_radius_um, c.grain_density_kg_m3, 1.0)?;
        let t = turnaround(c.speed_m_s, b, c.at_rh_au)?;
        Ok((
            Measured {
                value: t.distance_km,
                err: 0.0,
            },
            Measured {
                value: t.time_days,
                err: 0.0,
            },
        ))
    };
    let (od, ot) = turn(object)?;
    let (rd, rt) = turn(reference)?;
    let none = LiteratureKey {
        prefixes: &[],
        condition: None,
    };
    push(
        format!("turnaround distance at rH = {rh} au"),
        "km",
        (Some(od), Some(rd)),
        none,
        "X = v²/(2βg) for the assumed a, ρ_d, v (Q_pr = 1)",
    );
    push(
        format!("turnaround time at rH = {rh} au"),
        "d",
        (Some(ot), Some(rt)),
        LiteratureKey {
            prefixes: &[],
            condition: None,
        },
        "t = v/(βg) for the assumed a, ρ_d, v (Q_pr = 1)",
    );
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(object: &str) -> CometSummary {
        CometSummary {
            object: object.into(),
            n_index: None,
            production_index: None,
            production_kg_s: None,
            cross_section_km2: None,
            at_rh_au: 2.0,
            grain_radius_um: 100.0,
            grain_density_kg_m3: 500.0,
            speed_m_s: 5.0,
            assumptions: None,
        }
    }

    #[test]
    fn literature_table_is_embedded_and_parsed() {
        let table = literature();
        assert!(table.len() >= 25);
        assert!(table.iter().all(|r| r.object == "3I" || r.object == "2I"));
    }

    #[test]
    fn literature_values_of_the_3i_study_are_found() {
        let rows = compare(&summary("3I"), &summary("2I")).unwrap();
        let n = &rows[0];
        assert!(n.object_literature.starts_with("3.8 ± 0.3"), "{n:?}");
        assert!(n.object_literature_source.contains("Jewitt & Luu 2025"));
        assert!(n.reference_literature.starts_with("1.9 ± 0.1"), "{n:?}");
        let q = rows
            .iter()
            .find(|r| r.quantity.starts_with("dM/dt"))
            .unwrap();
        assert!(q.object_literature.starts_with("180 kg/s"), "{q:?}");
        assert!(q.reference_literature.starts_with("70 kg/s"), "{q:?}");
        // Turnaround of 100 µm, 500 kg/m³ grains at 5 m/s and 2 au: X = v²/(2βg),
        // β = 0.01148, g = 5.930e-3/4 m/s² → X ≈ 734 km, t ≈ 3.4 d.
        let x = rows
            .iter()
            .find(|r| r.quantity.starts_with("turnaround distance"))
            .unwrap();
        let value = x.object_cometphot.unwrap();
        let expected = 25.0 / (2.0 * 0.011_48 * 5.930e-3 / 4.0) / 1000.0;
        assert!(
            (value / expected - 1.0).abs() < 1e-3,
            "{value} vs {expected}"
        );
    }
}
