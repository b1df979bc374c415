//! Horizons vector tables: Cartesian states converted to au and au/day from the table's
//! output units, in the frame of its `Reference frame` line, with cubic Hermite interpolation.

use crate::ephem::interp::hermite;
use crate::ephem::{StateVector, Vec3, AU_KM, DAY_S};

use super::header::{parse_header, HorizonsHeader, OutputUnits};
use super::sections::Sections;
use super::vector_rows::{vector_rows_csv, vector_rows_plain};
use super::{check_increasing, check_span, HorizonsError, Result};

/// A Horizons vector table: the target's state relative to the centre at each time.
#[derive(Debug, Clone)]
pub struct VectorTable {
    header: HorizonsHeader,
    jd: Vec<f64>,
    states: Vec<StateVector>,
    range_au: Option<Vec<f64>>,
    range_rate_au_per_day: Option<Vec<f64>>,
    light_time_s: Option<Vec<f64>>,
}

impl VectorTable {
    pub fn header(&self) -> &HorizonsHeader {
        &self.header
    }

    /// Julian Date of each state on [`HorizonsHeader::time_scale`] (TDB for the usual
    /// `JDTDB` tables), strictly increasing.
    pub fn jd(&self) -> &[f64] {
        &self.jd
    }

    /// States in au and au/day, in the frame of the table's `Reference frame` line.
    pub fn states(&self) -> &[StateVector] {
        &self.states
    }

    /// `RG`, distance from the coordinate centre, in au (format 3 tables).
    pub fn range_au(&self) -> Option<&[f64]> {
        self.range_au.as_deref()
    }

    /// `RR`, range rate, in au/day (format 3 tables).
    pub fn range_rate_au_per_day(&self) -> Option<&[f64]> {
        self.range_rate_au_per_day.as_deref()
    }

    /// `LT`, one-way Newtonian light time, in seconds (format 3 tables).
    pub fn light_time_s(&self) -> Option<&[f64]> {
        self.light_time_s.as_deref()
    }

    /// The state at `jd` (Julian Date on the table's time scale) by cubic Hermite
    /// interpolation between the two bracketing nodes, using their positions and velocities;
    /// the tabulated state itself at a node.
    pub fn state_at(&self, jd: f64) -> Result<StateVector> {
        check_span(&self.jd, jd)?;
        let k = self.jd.partition_point(|&t| t <= jd);
        let outside = || HorizonsError::OutsideSpan {
            jd,
            first: self.jd.first().copied().unwrap_or(f64::NAN),
            last: self.jd.last().copied().unwrap_or(f64::NAN),
        };
        let left = k.checked_sub(1).ok_or_else(outside)?;
        let (t0, s0) = (self.jd.get(left), self.states.get(left));
        let (Some(&t0), Some(s0)) = (t0, s0) else {
            return Err(outside());
        };
        if t0 == jd {
            return Ok(*s0);
        }
        let (Some(&t1), Some(s1)) = (self.jd.get(k), self.states.get(k)) else {
            return Err(outside());
        };
        let (position_au, velocity_au_per_day) = hermite(
            (t0, s0.position_au, s0.velocity_au_per_day),
            (t1, s1.position_au, s1.velocity_au_per_day),
            jd,
        );
        Ok(StateVector::new(s0.frame, position_au, velocity_au_per_day))
    }
}

/// The vector table in `sections`, its records in CSV (`csv`) or plain form.
pub(super) fn vector_table(sections: &Sections, csv: bool) -> Result<VectorTable> {
    let (time_label, quantities, rows) = if csv {
        vector_rows_csv(sections)?
    } else {
        vector_rows_plain(sections)?
    };
    let header = parse_header(&sections.preamble, &time_label, csv)?;
    if rows.is_empty() {
        return Err(HorizonsError::Empty);
    }
    let units = header.output_units.ok_or_else(|| {
        HorizonsError::BadHeader("no 'Output units' line (KM-S, AU-D or KM-D)".into())
    })?;
    let frame = header.reference_frame.ok_or_else(|| {
        HorizonsError::BadHeader("no 'Reference frame' line (Ecliptic of J2000.0 or ICRF)".into())
    })?;
    let column = |name: &str| -> Option<Vec<f64>> {
        let i = quantities.iter().position(|q| q == name)?;
        Some(
            rows.iter()
                .map(|r| r.values.get(i).copied().unwrap_or(f64::NAN))
                .collect(),
        )
    };
    let required = |name: &str| {
        column(name).ok_or_else(|| {
            HorizonsError::MissingColumn(format!("{name} (a vector table needs X Y Z VX VY VZ)"))
        })
    };
    let lengths = |v: Vec<f64>| {
        v.into_iter()
            .map(|x| length_au(units, x))
            .collect::<Vec<_>>()
    };
    let speeds = |v: Vec<f64>| {
        v.into_iter()
            .map(|x| speed_au_per_day(units, x))
            .collect::<Vec<_>>()
    };
    let [x, y, z] = [required("X")?, required("Y")?, required("Z")?].map(lengths);
    let [vx, vy, vz] = [required("VX")?, required("VY")?, required("VZ")?].map(speeds);
    let states = (0..rows.len())
        .map(|i| {
            let at = |v: &[f64]| v.get(i).copied().unwrap_or(f64::NAN);
            StateVector::new(
                frame,
                Vec3::new(at(&x), at(&y), at(&z)),
                Vec3::new(at(&vx), at(&vy), at(&vz)),
            )
        })
        .collect();
    let jd: Vec<f64> = rows.iter().map(|r| r.jd).collect();
    check_increasing(&jd, rows.iter().map(|r| r.line))?;
    let light_time_s = light_time_to_seconds(units, &sections.footer)
        .and_then(|f| column("LT").map(|v| v.into_iter().map(|x| x * f).collect()));
    Ok(VectorTable {
        header,
        jd,
        states,
        range_au: column("RG").map(lengths),
        range_rate_au_per_day: column("RR").map(speeds),
        light_time_s,
    })
}

/// A length of the table in au: km / [`AU_KM`] for KM-S and KM-D, as is for AU-D.
fn length_au(units: OutputUnits, value: f64) -> f64 {
    match units {
        OutputUnits::KmS | OutputUnits::KmD => value / AU_KM,
        OutputUnits::AuD => value,
    }
}

/// A speed of the table in au/day: km/s × [`DAY_S`] / [`AU_KM`], km/day / [`AU_KM`], au/day.
fn speed_au_per_day(units: OutputUnits, value: f64) -> f64 {
    match units {
        OutputUnits::KmS => value * DAY_S / AU_KM,
        OutputUnits::KmD => value / AU_KM,
        OutputUnits::AuD => value,
    }
}

/// Factor taking `LT` to seconds: the unit stated in the footer's symbol list ("(sec)" or
/// "(day)"), else the one Horizons uses with these output units (s for KM-S, day for AU-D).
fn light_time_to_seconds(units: OutputUnits, footer: &[&str]) -> Option<f64> {
    let stated = footer
        .iter()
        .map(|l| l.trim())
        .find(|l| l.starts_with("LT ") && l.contains("light-time"));
    match stated {
        Some(l) if l.contains("(sec") => Some(1.0),
        Some(l) if l.contains("(day") => Some(DAY_S),
        _ => match units {
            OutputUnits::KmS => Some(1.0),
            OutputUnits::AuD => Some(DAY_S),
            OutputUnits::KmD => None,
        },
    }
}
