//! JPL Horizons ephemeris tables in their text form: observer tables (RA/Dec, rH, Δ, phase
//! angle, position angles, …) and vector tables (Cartesian states), both as plain text and as
//! CSV (`CSV_FORMAT=YES`), with interpolation to any time inside the tabulated span.
//!
//! Layout of a Horizons text output (Horizons manual, <https://ssd.jpl.nasa.gov/horizons/manual.html>;
//! API doc, <https://ssd-api.jpl.nasa.gov/doc/horizons.html>):
//!
//! ```text
//! Target body name: 2P/Encke                        {source: JPL#K232/4}
//! Center body name: Earth (399)                     {source: DE441}
//! Start time      : A.D. 2024-Aug-16 00:00:00.0000 UT
//! ...                                     (header lines "Key : value")
//! ****************************************
//!  Date__(UT)__HR:MN, Date_________JDUT, , , R.A._(ICRF), DEC_(ICRF), ...   (column labels)
//! ****************************************
//! $$SOE
//!  2024-Aug-16 00:00, 2460538.500000000, , ,   329.30474,  -15.12338, ...  (rows)
//! $$EOE
//! ...                                     (column meanings)
//! ```
//!
//! The column labels are read from the file, never assumed. In CSV tables the fields are split
//! at commas; in plain tables each value is assigned to the label it lies under (values are
//! aligned under their labels; dates contain spaces and the solar/lunar presence markers sit in
//! the blank gap after the time columns). Vector tables list one record over several lines
//! (format 3: `JD = A.D. date` / `X Y Z` / `VX VY VZ` / `LT RG RR`), with or without `X =` labels.
//!
//! Units: observer angles in degrees (sexagesimal RA `HH MM SS.ff` is converted to degrees,
//! Dec `sDD MN SC.f` to degrees), rates in arcsec/hour, r and Δ in au, as Horizons prints them.
//! Vector states are converted to au and au/day from the table's `Output units` (KM-S, KM-D,
//! AU-D) and carry the frame of its `Reference frame` line.
//!
//! Interpolation: vector tables by cubic Hermite between the two bracketing nodes using
//! positions and velocities; observer tables by 4-point Lagrange per column (angles that wrap
//! at 360° are unwrapped first and wrapped back into [0, 360)). Both return the tabulated
//! values exactly at the nodes and refuse to extrapolate outside [first, last].
//!
//! Module map: `sections` cuts the text into preamble, column labels, rows and footer; `header`
//! reads the "Key : value" lines (time scale, units, frame); `text` splits rows and reads
//! numbers, sexagesimal values and calendar dates; `labels` recognises column labels;
//! `observer` and `observer_rows` build observer tables, whose columns `lagrange`
//! interpolates; `vectors` and `vector_rows` build vector tables.

mod header;
mod labels;
mod lagrange;
mod observer;
mod observer_rows;
mod sections;
mod text;
mod vector_rows;
mod vectors;

use std::path::{Path, PathBuf};

use thiserror::Error;

pub use header::{HorizonsHeader, OutputUnits, TimeScale};
pub use observer::{ObserverGeometry, ObserverTable};
pub use vectors::VectorTable;

use observer::observer_table;
use sections::split_sections;
use text::{csv_labels, token_texts};
use vectors::vector_table;

/// Everything that can go wrong reading a Horizons table. Line numbers are 1-based lines of
/// the text given to [`parse`].
#[derive(Debug, Error)]
pub enum HorizonsError {
    #[error("{path}: {source}")]
    InFile {
        path: PathBuf,
        source: Box<HorizonsError>,
    },
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("no {0} line: not a Horizons ephemeris, or the table is truncated")]
    MissingMarker(&'static str),
    #[error("no column header above $$SOE (expected a line of column labels between two lines of asterisks)")]
    NoColumnHeader,
    #[error("unknown table kind (column header starts with '{0}'): only observer and vector tables are read")]
    UnknownKind(String),
    #[error("header: {0}")]
    BadHeader(String),
    #[error("no rows between $$SOE and $$EOE")]
    Empty,
    #[error("line {line}: {found} fields where the column header has {expected}")]
    FieldCount {
        line: usize,
        expected: usize,
        found: usize,
    },
    #[error("line {line}, column '{column}': cannot read '{text}' as a number")]
    BadNumber {
        line: usize,
        column: String,
        text: String,
    },
    #[error("line {line}: {message}")]
    BadRow { line: usize, message: String },
    #[error("line {line}: time {jd} does not increase from the previous row")]
    NotIncreasing { line: usize, jd: f64 },
    #[error("the table has no {0} column")]
    MissingColumn(String),
    #[error("column '{column}' is n.a. around JD {jd}")]
    NotAvailable { column: String, jd: f64 },
    #[error("JD {jd:.6} is outside the table span JD {first:.6} .. {last:.6} (no extrapolation)")]
    OutsideSpan { jd: f64, first: f64, last: f64 },
}

type Result<T> = std::result::Result<T, HorizonsError>;

/// A parsed Horizons table.
#[derive(Debug, Clone)]
pub enum HorizonsTable {
    Observer(ObserverTable),
    Vectors(VectorTable),
}

impl HorizonsTable {
    pub fn header(&self) -> &HorizonsHeader {
        match self {
            HorizonsTable::Observer(t) => t.header(),
            HorizonsTable::Vectors(t) => t.header(),
        }
    }
}

/// Parses the text of a Horizons observer or vector table.
pub fn parse(text: &str) -> Result<HorizonsTable> {
    let sections = split_sections(text)?;
    let csv = sections.column_header.iter().any(|l| l.contains(','));
    let labels: Vec<String> = if csv {
        csv_labels(&sections.column_header)
    } else {
        sections
            .column_header
            .iter()
            .flat_map(|l| token_texts(l))
            .collect()
    };
    let first = labels.first().cloned().unwrap_or_default();
    if first.starts_with("Date") {
        observer_table(&sections, csv).map(HorizonsTable::Observer)
    } else if first.starts_with("JD") && labels.iter().any(|l| l == "X" || l == "VX") {
        vector_table(&sections, csv).map(HorizonsTable::Vectors)
    } else {
        Err(HorizonsError::UnknownKind(first))
    }
}

/// Reads and parses a Horizons table file; errors name the file.
pub fn read(path: &Path) -> Result<HorizonsTable> {
    let text = std::fs::read_to_string(path).map_err(|source| HorizonsError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    parse(&text).map_err(|e| HorizonsError::InFile {
        path: path.to_path_buf(),
        source: Box::new(e),
    })
}

// ---------------------------------------------------------------------------------------------
// Checks shared by observer and vector tables
// ---------------------------------------------------------------------------------------------

/// Row times must be finite and strictly increasing; `lines` are the rows' line numbers.
fn check_increasing(jd: &[f64], lines: impl Iterator<Item = usize>) -> Result<()> {
    let mut previous = f64::NEG_INFINITY;
    for (&t, line) in jd.iter().zip(lines) {
        if !t.is_finite() || t <= previous {
            return Err(HorizonsError::NotIncreasing { line, jd: t });
        }
        previous = t;
    }
    Ok(())
}

/// `t` must lie inside [first, last] of `jd` (no extrapolation).
fn check_span(jd: &[f64], t: f64) -> Result<()> {
    let (Some(&first), Some(&last)) = (jd.first(), jd.last()) else {
        return Err(HorizonsError::Empty);
    };
    if t >= first && t <= last {
        Ok(())
    } else {
        Err(HorizonsError::OutsideSpan { jd: t, first, last })
    }
}
