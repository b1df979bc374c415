//! The "Key : value" header of a Horizons table: target and centre, time scale, output units,
//! reference frame.

use super::{HorizonsError, Result};
use crate::ephem::Frame;

/// The time scale of a table's time column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeScale {
    /// Horizons "UT": UTC after 1962 (UT1 before), as in `Date__(UT)__HR:MN` / `Date_________JDUT`.
    Utc,
    /// Terrestrial Time (`JDTT`, `Date___(TT)___`).
    Tt,
    /// Barycentric Dynamical Time (`JDTDB`, "TDB"; Horizons' older "CT" is the same scale).
    Tdb,
}

/// Units of a vector table's positions and velocities (`Output units`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputUnits {
    /// km and km/s.
    KmS,
    /// au and au/day.
    AuD,
    /// km and km/day.
    KmD,
}

/// What the header of a Horizons table says about it.
#[derive(Debug, Clone, PartialEq)]
pub struct HorizonsHeader {
    /// `Target body name`, without the `{source: ...}` note (e.g. "2P/Encke").
    pub target_name: String,
    /// `Center body name` (e.g. "Earth (399)", "Sun (10)").
    pub center_name: String,
    /// `Center-site name` (e.g. "GEOCENTRIC", "BODY CENTER", an observatory).
    pub center_site: Option<String>,
    /// Scale of the time column (from its label, else from the `Start time` line).
    pub time_scale: TimeScale,
    /// `Step-size` as printed (e.g. "1440 minutes").
    pub step_size: Option<String>,
    /// `Output units` of a vector table.
    pub output_units: Option<OutputUnits>,
    /// `Reference frame` of a vector table ("Ecliptic of J2000.0" or "ICRF").
    pub reference_frame: Option<Frame>,
    /// `RA format` of an observer table ("DEG" or "HMS").
    pub ra_format: Option<String>,
    /// Whether the table is in CSV form (its column header is comma separated).
    pub csv: bool,
}

/// Reads the "Key : value" lines above the column header.
pub(super) fn parse_header(
    preamble: &[&str],
    time_label: &str,
    csv: bool,
) -> Result<HorizonsHeader> {
    let value = |key: &str| header_value(preamble, key);
    let without_source = |v: &str| v.split('{').next().unwrap_or("").trim().to_string();
    let target_name = value("Target body name")
        .map(without_source)
        .ok_or_else(|| HorizonsError::BadHeader("no 'Target body name' line".into()))?;
    let center_name = value("Center body name")
        .map(without_source)
        .ok_or_else(|| HorizonsError::BadHeader("no 'Center body name' line".into()))?;
    let time_scale = scale_of_label(time_label)
        .or_else(|| {
            value("Start time")
                .and_then(|v| v.split_whitespace().last())
                .and_then(scale_of_word)
        })
        .ok_or_else(|| {
            HorizonsError::BadHeader(format!(
                "time scale not stated (time column '{time_label}', no 'Start time' line)"
            ))
        })?;
    Ok(HorizonsHeader {
        target_name,
        center_name,
        center_site: value("Center-site name").map(str::to_string),
        time_scale,
        step_size: value("Step-size").map(str::to_string),
        output_units: value("Output units").map(output_units).transpose()?,
        reference_frame: value("Reference frame").map(reference_frame).transpose()?,
        ra_format: value("RA format").map(str::to_string),
        csv,
    })
}

/// The value of the first "Key : value" line whose key (blanks collapsed) equals `key`.
fn header_value<'a>(preamble: &[&'a str], key: &str) -> Option<&'a str> {
    preamble.iter().find_map(|line| {
        let (k, v) = line.split_once(':')?;
        let k: Vec<&str> = k.split_whitespace().collect();
        (k.join(" ") == key).then(|| v.trim())
    })
}

fn output_units(text: &str) -> Result<OutputUnits> {
    match text.split_whitespace().next().unwrap_or("") {
        "KM-S" => Ok(OutputUnits::KmS),
        "AU-D" => Ok(OutputUnits::AuD),
        "KM-D" => Ok(OutputUnits::KmD),
        other => Err(HorizonsError::BadHeader(format!(
            "unknown output units '{other}' (expected KM-S, AU-D or KM-D)"
        ))),
    }
}

/// "Ecliptic of J2000.0" → ecliptic J2000; "ICRF" (and "ICRF/J2000.0") → equatorial J2000.
fn reference_frame(text: &str) -> Result<Frame> {
    let t = text.to_ascii_uppercase();
    if t.starts_with("ECLIPTIC") && t.contains("J2000") {
        Ok(Frame::EclipticJ2000)
    } else if t.starts_with("ICRF") {
        Ok(Frame::EquatorialJ2000)
    } else {
        Err(HorizonsError::BadHeader(format!(
            "unsupported reference frame '{text}' (expected 'Ecliptic of J2000.0' or 'ICRF')"
        )))
    }
}

fn scale_of_label(label: &str) -> Option<TimeScale> {
    let u = label.to_ascii_uppercase();
    let tagged =
        |scale: &str| u.ends_with(&format!("JD{scale}")) || u.contains(&format!("({scale})"));
    if tagged("TDB") || tagged("CT") {
        Some(TimeScale::Tdb)
    } else if tagged("TT") {
        Some(TimeScale::Tt)
    } else if tagged("UT") || tagged("UTC") {
        Some(TimeScale::Utc)
    } else {
        None
    }
}

fn scale_of_word(word: &str) -> Option<TimeScale> {
    match word {
        "UT" | "UTC" => Some(TimeScale::Utc),
        "TT" => Some(TimeScale::Tt),
        "TDB" | "CT" => Some(TimeScale::Tdb),
        _ => None,
    }
}
