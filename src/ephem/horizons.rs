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

use std::ops::Range;
use std::path::{Path, PathBuf};

use thiserror::Error;

use super::time::mjd_of_civil_date;
use super::{Frame, StateVector, Vec3, AU_KM, DAY_S};

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

/// A parsed Horizons table.
#[derive(Debug, Clone)]
pub enum HorizonsTable {
    Observer(ObserverTable),
    Vectors(VectorTable),
}

impl HorizonsTable {
    pub fn header(&self) -> &HorizonsHeader {
        match self {
            HorizonsTable::Observer(t) => &t.header,
            HorizonsTable::Vectors(t) => &t.header,
        }
    }
}

/// Parses the text of a Horizons observer or vector table.
pub fn parse(text: &str) -> Result<HorizonsTable> {
    let sections = split_sections(text)?;
    let csv = sections.column_header.iter().any(|l| l.contains(','));
    let labels: Vec<String> = if csv {
        sections
            .column_header
            .iter()
            .flat_map(|l| split_csv(l))
            .collect()
    } else {
        sections
            .column_header
            .iter()
            .flat_map(|l| tokens(l).into_iter().map(|t| t.text))
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
// Observer tables
// ---------------------------------------------------------------------------------------------

/// A Horizons observer table: one row per time, one column per quantity.
#[derive(Debug, Clone)]
pub struct ObserverTable {
    header: HorizonsHeader,
    columns: Vec<String>,
    data: Vec<ColumnData>,
    jd: Vec<f64>,
    markers: Vec<String>,
}

#[derive(Debug, Clone)]
enum ColumnData {
    Numeric(Vec<f64>),
    Text(Vec<String>),
}

/// The observing geometry interpolated from an observer table. Optional fields are `None`
/// when the table lacks the column or Horizons printed n.a. there.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ObserverGeometry {
    /// Julian Date on the table's time scale.
    pub jd: f64,
    /// Right ascension in degrees, [0, 360) (astrometric ICRF/J2000 when the table has it,
    /// else the apparent one).
    pub ra_deg: f64,
    /// Declination in degrees.
    pub dec_deg: f64,
    /// Heliocentric distance rH in au (`r`).
    pub rh_au: Option<f64>,
    /// Observer–target distance Δ in au (`delta`).
    pub delta_au: Option<f64>,
    /// Phase angle Sun–target–observer in degrees (`S-T-O`, else the true phase angle `phi`).
    pub phase_deg: Option<f64>,
    /// Solar elongation Sun–observer–target in degrees (`S-O-T`).
    pub elong_deg: Option<f64>,
    /// Position angle of the extended Sun→target radius vector, degrees east of north (`PsAng`).
    pub sun_pa_deg: Option<f64>,
    /// Position angle of the negative heliocentric velocity vector, degrees east of north (`PsAMV`).
    pub neg_vel_pa_deg: Option<f64>,
    /// dRA/dt · cos(Dec) in arcsec/hour (`dRA*cosD`).
    pub ra_rate_cosdec_arcsec_per_h: Option<f64>,
    /// dDec/dt in arcsec/hour (`d(DEC)/dt`).
    pub dec_rate_arcsec_per_h: Option<f64>,
}

impl ObserverTable {
    pub fn header(&self) -> &HorizonsHeader {
        &self.header
    }

    /// Column labels as the file spells them, in file order. The blank-labelled marker columns
    /// are left out (see [`ObserverTable::markers`]); a plain-text pair label such as
    /// `R.A._____(ICRF)_____DEC` becomes two columns, `R.A._(ICRF)` and `DEC_(ICRF)`.
    pub fn columns(&self) -> &[String] {
        &self.columns
    }

    /// Julian Date of each row on [`HorizonsHeader::time_scale`], strictly increasing.
    pub fn jd(&self) -> &[f64] {
        &self.jd
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.jd.len()
    }

    pub fn is_empty(&self) -> bool {
        self.jd.is_empty()
    }

    /// Horizons' solar- and lunar-presence symbols of each row, blanks removed: `*` daylight,
    /// `C`/`N`/`A` civil/nautical/astronomical twilight, `m` Moon above the horizon; empty at
    /// night or for a geocentric table.
    pub fn markers(&self) -> &[String] {
        &self.markers
    }

    /// A numeric column by its label (n.a. → NaN; RA in degrees even when printed as HMS).
    pub fn column(&self, name: &str) -> Option<&[f64]> {
        match self.data.get(self.index_of(name)?)? {
            ColumnData::Numeric(v) => Some(v),
            ColumnData::Text(_) => None,
        }
    }

    /// A text column (calendar date, `/r` flag, constellation, ...) by its label.
    pub fn text_column(&self, name: &str) -> Option<&[String]> {
        match self.data.get(self.index_of(name)?)? {
            ColumnData::Text(v) => Some(v),
            ColumnData::Numeric(_) => None,
        }
    }

    fn index_of(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c == name)
    }

    /// One numeric column interpolated at `jd` (on the table's time scale). Angles that wrap
    /// (RA, longitudes, position angles, azimuth) come back in [0, 360).
    pub fn value_at(&self, name: &str, jd: f64) -> Result<f64> {
        let values = self
            .column(name)
            .ok_or_else(|| HorizonsError::MissingColumn(name.to_string()))?;
        interpolate(&self.jd, values, jd, wrap_period(name))
    }

    /// The observing geometry interpolated at `jd` (Julian Date on the table's own time scale).
    pub fn geometry_at(&self, jd: f64) -> Result<ObserverGeometry> {
        check_span(&self.jd, jd)?;
        let ra_name = self
            .find_column(is_ra_label)
            .ok_or_else(|| HorizonsError::MissingColumn("right ascension (R.A.)".into()))?;
        let dec_name = self
            .find_column(is_dec_label)
            .ok_or_else(|| HorizonsError::MissingColumn("declination (DEC)".into()))?;
        let required = |name: &str| -> Result<f64> {
            let v = self.value_at(name, jd)?;
            if v.is_nan() {
                Err(HorizonsError::NotAvailable {
                    column: name.to_string(),
                    jd,
                })
            } else {
                Ok(v)
            }
        };
        Ok(ObserverGeometry {
            jd,
            ra_deg: required(ra_name)?,
            dec_deg: required(dec_name)?,
            rh_au: self.optional(&["r"], jd),
            delta_au: self.optional(&["delta"], jd),
            phase_deg: self.optional(&["S-T-O", "phi"], jd),
            elong_deg: self.optional(&["S-O-T"], jd),
            sun_pa_deg: self.optional(&["PsAng"], jd),
            neg_vel_pa_deg: self.optional(&["PsAMV"], jd),
            ra_rate_cosdec_arcsec_per_h: self.optional(&["dRA*cosD"], jd),
            dec_rate_arcsec_per_h: self.optional(&["d(DEC)/dt"], jd),
        })
    }

    /// First numeric column accepted by `accept`, preferring astrometric over apparent ones.
    fn find_column(&self, accept: fn(&str) -> bool) -> Option<&str> {
        let numeric = |c: &&String| accept(c) && self.column(c).is_some();
        let apparent = |c: &&String| c.to_ascii_lowercase().contains("app");
        let candidates: Vec<&String> = self.columns.iter().filter(numeric).collect();
        candidates
            .iter()
            .find(|c| !apparent(c))
            .or_else(|| candidates.first())
            .map(|c| c.as_str())
    }

    fn optional(&self, names: &[&str], jd: f64) -> Option<f64> {
        let name = names.iter().find(|n| self.column(n).is_some())?;
        self.value_at(name, jd).ok().filter(|v| !v.is_nan())
    }
}

/// Observer rows before typing: field texts under each label, plus the presence markers.
struct RawRow {
    line: usize,
    fields: Vec<String>,
    markers: String,
}

fn observer_table(sections: &Sections, csv: bool) -> Result<ObserverTable> {
    let (names, rows) = if csv {
        observer_rows_csv(sections)?
    } else {
        observer_rows_plain(sections)?
    };
    if rows.is_empty() {
        return Err(HorizonsError::Empty);
    }
    let time_label = names
        .iter()
        .find(|n| is_jd_label(n))
        .or_else(|| names.iter().find(|n| is_calendar_label(n)))
        .ok_or_else(|| {
            HorizonsError::MissingColumn("time (Date__(UT)__HR:MN or Date_________JDUT)".into())
        })?
        .clone();
    let header = parse_header(&sections.preamble, &time_label, csv)?;
    let mut data = Vec::with_capacity(names.len());
    for (index, name) in names.iter().enumerate() {
        data.push(column_data(name, index, &rows)?);
    }
    let jd = observer_times(&names, &data, &time_label, &rows)?;
    Ok(ObserverTable {
        header,
        columns: names,
        data,
        jd,
        markers: rows.into_iter().map(|r| r.markers).collect(),
    })
}

/// CSV observer rows: fields split at commas; blank-labelled fields are presence markers.
fn observer_rows_csv(sections: &Sections) -> Result<(Vec<String>, Vec<RawRow>)> {
    let labels: Vec<String> = sections
        .column_header
        .iter()
        .flat_map(|l| split_csv(l))
        .collect();
    let names: Vec<String> = labels.iter().filter(|l| !l.is_empty()).cloned().collect();
    let mut rows = Vec::with_capacity(sections.rows.len());
    for &(line, text) in &sections.rows {
        let fields = split_csv(text);
        if fields.len() != labels.len() {
            return Err(HorizonsError::FieldCount {
                line,
                expected: labels.len(),
                found: fields.len(),
            });
        }
        let mut row = RawRow {
            line,
            fields: Vec::with_capacity(names.len()),
            markers: String::new(),
        };
        for (label, field) in labels.iter().zip(fields) {
            if label.is_empty() {
                row.markers.push_str(&field);
            } else {
                row.fields.push(field);
            }
        }
        rows.push(row);
    }
    Ok((names, rows))
}

/// A label of a plain-text table with its character span and the column name(s) it holds.
struct PlainColumn {
    span: Token,
    names: Vec<String>,
}

/// Plain observer rows: each whitespace-separated value goes to the label it lies under.
fn observer_rows_plain(sections: &Sections) -> Result<(Vec<String>, Vec<RawRow>)> {
    let [header_line] = sections.column_header.as_slice() else {
        return Err(HorizonsError::BadHeader(
            "a plain observer table needs exactly one line of column labels".into(),
        ));
    };
    let columns: Vec<PlainColumn> = tokens(header_line)
        .into_iter()
        .map(|span| PlainColumn {
            names: split_pair_label(&span.text),
            span,
        })
        .collect();
    let names: Vec<String> = columns.iter().flat_map(|c| c.names.clone()).collect();
    let gap = marker_gap(&columns);
    let mut rows = Vec::with_capacity(sections.rows.len());
    for &(line, text) in &sections.rows {
        rows.push(plain_row(&columns, gap.clone(), line, text)?);
    }
    Ok((names, rows))
}

/// Character positions between the last time column and the next label, where Horizons puts
/// the solar/lunar presence symbols.
fn marker_gap(columns: &[PlainColumn]) -> Range<usize> {
    let last_time = columns
        .iter()
        .rposition(|c| c.span.text.starts_with("Date"));
    match last_time {
        Some(i) => {
            let start = columns.get(i).map_or(0, |c| c.span.end + 1);
            let end = columns.get(i + 1).map_or(usize::MAX, |c| c.span.start);
            start..end
        }
        None => 0..0,
    }
}

fn plain_row(
    columns: &[PlainColumn],
    gap: Range<usize>,
    line: usize,
    text: &str,
) -> Result<RawRow> {
    let mut groups: Vec<Vec<String>> = vec![Vec::new(); columns.len()];
    let mut markers = String::new();
    for token in tokens(text) {
        let hits: Vec<usize> = columns
            .iter()
            .enumerate()
            .filter(|(_, c)| token.start <= c.span.end && token.end >= c.span.start)
            .map(|(i, _)| i)
            .collect();
        match hits.as_slice() {
            [i] => {
                if let Some(group) = groups.get_mut(*i) {
                    group.push(token.text);
                }
            }
            [] if gap.contains(&token.start) && gap.contains(&token.end) => {
                markers.push_str(&token.text)
            }
            [] => {
                return Err(HorizonsError::BadRow {
                    line,
                    message: format!(
                        "'{}' at character {} lies under no column label",
                        token.text,
                        token.start + 1
                    ),
                })
            }
            _ => {
                return Err(HorizonsError::BadRow {
                    line,
                    message: format!(
                        "'{}' at character {} straddles two column labels",
                        token.text,
                        token.start + 1
                    ),
                })
            }
        }
    }
    let expected: usize = columns.iter().map(|c| c.names.len()).sum();
    let mut fields = Vec::with_capacity(expected);
    for (column, group) in columns.iter().zip(groups) {
        match (column.names.len(), group.len()) {
            (_, 0) => {}
            (1, _) => fields.push(group.join(" ")),
            (2, n) if n % 2 == 0 => {
                let (a, b) = group.split_at(n / 2);
                fields.push(a.join(" "));
                fields.push(b.join(" "));
            }
            _ => {
                return Err(HorizonsError::BadRow {
                    line,
                    message: format!(
                        "{} values under '{}', which holds two quantities",
                        group.len(),
                        column.span.text
                    ),
                })
            }
        }
    }
    if fields.len() != expected {
        return Err(HorizonsError::FieldCount {
            line,
            expected,
            found: fields.len(),
        });
    }
    Ok(RawRow {
        line,
        fields,
        markers,
    })
}

/// A plain-text label holding two quantities, `head_(note)_tail` with underscores on both
/// sides of the parenthesis (e.g.
/// `R.A._____(ICRF)_____DEC`, `Azi_(a-appr)_Elev`), becomes `head_(note)` and `tail_(note)`,
/// the names Horizons uses for the same columns in CSV. Other labels stay as they are.
fn split_pair_label(label: &str) -> Vec<String> {
    pair_label_parts(label).unwrap_or_else(|| vec![label.to_string()])
}

fn pair_label_parts(label: &str) -> Option<Vec<String>> {
    if label.starts_with("Date") {
        return None;
    }
    let open = label.find('(')?;
    let close = label.rfind(')').filter(|&c| c > open)?;
    let head = label.get(..open)?.strip_suffix('_')?.trim_end_matches('_');
    let note = label.get(open..=close)?;
    let tail = label
        .get(close + 1..)?
        .strip_prefix('_')?
        .trim_start_matches('_');
    (!head.is_empty() && !tail.is_empty())
        .then(|| vec![format!("{head}_{note}"), format!("{tail}_{note}")])
}

/// Types one column: text for dates, flags and constellations, or when no row holds a number;
/// otherwise every row must be a number or n.a.
fn column_data(name: &str, index: usize, rows: &[RawRow]) -> Result<ColumnData> {
    let hours_to_degrees = is_ra_label(name);
    let numeric = !is_text_label(name)
        && rows
            .iter()
            .any(|r| parse_value(field_of(r, index), hours_to_degrees).is_some());
    if !numeric {
        return Ok(ColumnData::Text(
            rows.iter()
                .map(|r| field_of(r, index).to_string())
                .collect(),
        ));
    }
    rows.iter()
        .map(|r| {
            parse_value(field_of(r, index), hours_to_degrees).ok_or_else(|| {
                HorizonsError::BadNumber {
                    line: r.line,
                    column: name.to_string(),
                    text: field_of(r, index).to_string(),
                }
            })
        })
        .collect::<Result<Vec<f64>>>()
        .map(ColumnData::Numeric)
}

fn field_of(row: &RawRow, index: usize) -> &str {
    row.fields.get(index).map_or("", String::as_str)
}

/// Row times: the JD column if there is one, else the calendar column; strictly increasing.
fn observer_times(
    names: &[String],
    data: &[ColumnData],
    time_label: &str,
    rows: &[RawRow],
) -> Result<Vec<f64>> {
    let index = names.iter().position(|n| n == time_label).unwrap_or(0);
    let jd: Vec<f64> = match data.get(index) {
        Some(ColumnData::Numeric(values)) => values.clone(),
        Some(ColumnData::Text(texts)) => texts
            .iter()
            .zip(rows)
            .map(|(t, r)| {
                calendar_to_jd(t).map_err(|message| HorizonsError::BadRow {
                    line: r.line,
                    message,
                })
            })
            .collect::<Result<_>>()?,
        None => return Err(HorizonsError::MissingColumn(time_label.to_string())),
    };
    check_increasing(&jd, rows.iter().map(|r| r.line))?;
    Ok(jd)
}

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

// ---------------------------------------------------------------------------------------------
// Vector tables
// ---------------------------------------------------------------------------------------------

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

fn vector_table(sections: &Sections, csv: bool) -> Result<VectorTable> {
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

/// One record of a vector table: its time and its values in the order of the quantities.
struct VectorRow {
    line: usize,
    jd: f64,
    values: Vec<f64>,
}

/// CSV vector rows: `JDTDB, Calendar Date (TDB), X, Y, Z, VX, VY, VZ, LT, RG, RR,`.
fn vector_rows_csv(sections: &Sections) -> Result<(String, Vec<String>, Vec<VectorRow>)> {
    let labels: Vec<String> = sections
        .column_header
        .iter()
        .flat_map(|l| split_csv(l))
        .collect();
    let time_label = labels.first().cloned().unwrap_or_default();
    let mut rows = Vec::with_capacity(sections.rows.len());
    for &(line, text) in &sections.rows {
        let fields = split_csv(text);
        if fields.len() != labels.len() {
            return Err(HorizonsError::FieldCount {
                line,
                expected: labels.len(),
                found: fields.len(),
            });
        }
        let mut values = Vec::with_capacity(labels.len());
        for (label, field) in labels.iter().zip(&fields) {
            if label.starts_with("Calendar") {
                values.push(f64::NAN);
            } else {
                values.push(number(field, label, line)?);
            }
        }
        let jd = values.first().copied().unwrap_or(f64::NAN);
        rows.push(VectorRow { line, jd, values });
    }
    Ok((time_label, labels, rows))
}

/// Plain vector rows: a time line (`2460827.5 = A.D. 2025-Jun-01 00:00:00.0000 TDB`) followed
/// by one line per line of the column header (`X Y Z`, `VX VY VZ`, `LT RG RR`), values with
/// or without `X =` labels.
fn vector_rows_plain(sections: &Sections) -> Result<(String, Vec<String>, Vec<VectorRow>)> {
    let Some((time_line, layout_lines)) = sections.column_header.split_first() else {
        return Err(HorizonsError::NoColumnHeader);
    };
    let time_label = time_line.trim().to_string();
    let layout: Vec<Vec<String>> = layout_lines
        .iter()
        .map(|l| tokens(l).into_iter().map(|t| t.text).collect())
        .collect();
    let quantities: Vec<String> = layout.iter().flatten().cloned().collect();
    let per_record = 1 + layout.len();
    let mut rows = Vec::with_capacity(sections.rows.len() / per_record);
    for record in sections.rows.chunks(per_record) {
        rows.push(vector_record(record, &layout, &time_label)?);
    }
    Ok((time_label, quantities, rows))
}

fn vector_record(
    record: &[(usize, &str)],
    layout: &[Vec<String>],
    time: &str,
) -> Result<VectorRow> {
    let Some(((line, time_text), value_lines)) = record.split_first() else {
        return Err(HorizonsError::Empty);
    };
    if value_lines.len() != layout.len() {
        let last = record.last().map_or(*line, |r| r.0);
        return Err(HorizonsError::BadRow {
            line: last,
            message: format!(
                "incomplete record: {} lines where the column header has {}",
                record.len(),
                layout.len() + 1
            ),
        });
    }
    let jd_text = time_text
        .split(|c: char| c == '=' || c.is_whitespace())
        .find(|s| !s.is_empty())
        .unwrap_or("");
    let jd = number(jd_text, time, *line)?;
    let mut values = Vec::new();
    for (&(line, text), names) in value_lines.iter().zip(layout) {
        values.extend(vector_line(line, text, names)?);
    }
    Ok(VectorRow {
        line: *line,
        jd,
        values,
    })
}

/// The values of one line of a vector record, in the order of `names`.
fn vector_line(line: usize, text: &str, names: &[String]) -> Result<Vec<f64>> {
    let pairs: Vec<(String, String)> = if text.contains('=') {
        labelled_values(text)
    } else {
        names
            .iter()
            .cloned()
            .zip(text.split_whitespace().map(str::to_string))
            .collect()
    };
    let found: Vec<&str> = pairs.iter().map(|(k, _)| k.as_str()).collect();
    let count = text.split_whitespace().count();
    if found != names || (!text.contains('=') && count != names.len()) {
        return Err(HorizonsError::BadRow {
            line,
            message: format!(
                "expected {} on this line, found '{}'",
                names.join(" "),
                text.trim()
            ),
        });
    }
    pairs.iter().map(|(k, v)| number(v, k, line)).collect()
}

/// `X =-2.5E+08 Y = 3.0E+08 Z =-7.1E+06` → [("X", "-2.5E+08"), ("Y", "3.0E+08"), ...].
fn labelled_values(text: &str) -> Vec<(String, String)> {
    let parts: Vec<&str> = text.split('=').collect();
    let mut key = parts.first().map_or("", |p| p.trim()).to_string();
    let mut pairs = Vec::new();
    for (i, part) in parts.iter().enumerate().skip(1) {
        let mut words = part.split_whitespace();
        let value = words.next().unwrap_or("").to_string();
        let next_key: Vec<&str> = words.collect();
        pairs.push((std::mem::take(&mut key), value));
        if i + 1 < parts.len() {
            key = next_key.join(" ");
        } else if !next_key.is_empty() {
            pairs.push((next_key.join(" "), String::new()));
        }
    }
    pairs
}

// ---------------------------------------------------------------------------------------------
// Sections, header, tokens and numbers
// ---------------------------------------------------------------------------------------------

/// The parts of a Horizons text output.
struct Sections<'a> {
    /// Lines above the column-header block (the "Key : value" header).
    preamble: Vec<&'a str>,
    /// Non-blank lines between the two asterisk rules just above `$$SOE`.
    column_header: Vec<&'a str>,
    /// Non-blank lines between `$$SOE` and `$$EOE`, with their 1-based line numbers.
    rows: Vec<(usize, &'a str)>,
    /// Lines below `$$EOE` (column meanings).
    footer: Vec<&'a str>,
}

fn split_sections(text: &str) -> Result<Sections<'_>> {
    let lines: Vec<&str> = text.lines().collect();
    let soe = lines
        .iter()
        .position(|l| l.trim() == "$$SOE")
        .ok_or(HorizonsError::MissingMarker("$$SOE"))?;
    let eoe = lines
        .iter()
        .enumerate()
        .skip(soe + 1)
        .find(|(_, l)| l.trim() == "$$EOE")
        .map(|(i, _)| i)
        .ok_or(HorizonsError::MissingMarker("$$EOE"))?;
    let above = lines.get(..soe).unwrap_or_default();
    let rule_below = above
        .iter()
        .rposition(|l| !l.trim().is_empty())
        .filter(|&i| above.get(i).is_some_and(|l| is_rule(l)))
        .ok_or(HorizonsError::NoColumnHeader)?;
    let rule_above = above
        .get(..rule_below)
        .and_then(|a| a.iter().rposition(|l| is_rule(l)))
        .ok_or(HorizonsError::NoColumnHeader)?;
    let column_header: Vec<&str> = above
        .get(rule_above + 1..rule_below)
        .unwrap_or_default()
        .iter()
        .copied()
        .filter(|l| !l.trim().is_empty())
        .collect();
    if column_header.is_empty() {
        return Err(HorizonsError::NoColumnHeader);
    }
    let rows = lines
        .iter()
        .enumerate()
        .take(eoe)
        .skip(soe + 1)
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| (i + 1, *l))
        .collect();
    Ok(Sections {
        preamble: above.get(..rule_above).unwrap_or_default().to_vec(),
        column_header,
        rows,
        footer: lines.get(eoe + 1..).unwrap_or_default().to_vec(),
    })
}

fn is_rule(line: &str) -> bool {
    let t = line.trim();
    t.len() >= 3 && t.chars().all(|c| c == '*')
}

/// Reads the "Key : value" lines above the column header.
fn parse_header(preamble: &[&str], time_label: &str, csv: bool) -> Result<HorizonsHeader> {
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

fn is_jd_label(label: &str) -> bool {
    label.starts_with("Date") && label.contains("JD")
}

fn is_calendar_label(label: &str) -> bool {
    label.starts_with("Date__(") || label.starts_with("Calendar Date")
}

/// Columns kept as text: calendar dates, `/r`-type flags, the constellation.
fn is_text_label(label: &str) -> bool {
    is_calendar_label(label) || label.starts_with('/') || label == "Cnst"
}

/// Label with underscores and blanks removed, e.g. `R.A.__(ICRF)` → `R.A.(ICRF)`.
fn squeezed(label: &str) -> String {
    label
        .chars()
        .filter(|c| *c != '_' && !c.is_whitespace())
        .collect()
}

/// `R.A._(ICRF)`, `R.A.__(ICRF)`, `R.A._(J2000.0)`, `R.A._(a-apparent)`, `RA`, `RA_(ICRF)`.
fn is_ra_label(label: &str) -> bool {
    let s = squeezed(label);
    s.starts_with("R.A.") || s == "RA" || s.starts_with("RA(")
}

/// `DEC_(ICRF)`, `DEC__(ICRF)`, `DEC_(J2000.0)`, `DEC`.
fn is_dec_label(label: &str) -> bool {
    let s = squeezed(label);
    s == "DEC" || s.starts_with("DEC(")
}

/// Period (degrees) of columns whose values wrap at 360: RA, longitudes, position angles,
/// azimuth. Others are interpolated as they are.
fn wrap_period(label: &str) -> Option<f64> {
    let l = label.to_ascii_lowercase();
    let wraps = is_ra_label(label)
        || l.contains("lon")
        || l.starts_with("psang")
        || l.starts_with("psamv")
        || l.starts_with("azi")
        || l.ends_with(".ang")
        || l == "sky_mot_pa"
        || l == "satpang";
    wraps.then_some(360.0)
}

/// Splits one CSV line into trimmed fields, dropping the empty field after the trailing comma.
fn split_csv(line: &str) -> Vec<String> {
    let s = line.trim_end();
    let s = s.strip_suffix(',').unwrap_or(s);
    s.split(',').map(|f| f.trim().to_string()).collect()
}

/// A whitespace-separated word and its character span (0-based, both ends inclusive).
#[derive(Debug, Clone, PartialEq)]
struct Token {
    start: usize,
    end: usize,
    text: String,
}

fn tokens(line: &str) -> Vec<Token> {
    let mut out = Vec::new();
    let mut current: Option<Token> = None;
    for (i, c) in line.chars().enumerate() {
        if c.is_whitespace() {
            out.extend(current.take());
        } else {
            let token = current.get_or_insert_with(|| Token {
                start: i,
                end: i,
                text: String::new(),
            });
            token.end = i;
            token.text.push(c);
        }
    }
    out.extend(current);
    out
}

fn number(text: &str, column: &str, line: usize) -> Result<f64> {
    parse_decimal(text.trim()).ok_or_else(|| HorizonsError::BadNumber {
        line,
        column: column.to_string(),
        text: text.trim().to_string(),
    })
}

/// A Horizons numeric field: a decimal number, `n.a.` (→ NaN), or three sexagesimal parts
/// (`HH MM SS.ff` / `sDD MN SC.f`). With `hours_to_degrees` a sexagesimal value is taken as
/// hours and returned in degrees (RA).
fn parse_value(text: &str, hours_to_degrees: bool) -> Option<f64> {
    let t = text.trim();
    if t == "n.a." {
        return Some(f64::NAN);
    }
    let parts: Vec<&str> = t.split_whitespace().collect();
    match parts.as_slice() {
        [one] => parse_decimal(one),
        [a, b, c] => {
            let value = parse_sexagesimal(a, b, c)?;
            Some(if hours_to_degrees {
                value * 15.0
            } else {
                value
            })
        }
        _ => None,
    }
}

/// A finite decimal number as Horizons prints it (`-15.12338`, `.8485`, `7.03E+09`).
fn parse_decimal(text: &str) -> Option<f64> {
    let allowed = |b: u8| b.is_ascii_digit() || matches!(b, b'+' | b'-' | b'.' | b'e' | b'E');
    if text.is_empty() || !text.bytes().all(allowed) || !text.bytes().any(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse::<f64>().ok().filter(|v| v.is_finite())
}

/// `-02 30 58.7` → −2.51631 (units of the first part); minutes and seconds in [0, 60).
fn parse_sexagesimal(units: &str, minutes: &str, seconds: &str) -> Option<f64> {
    let whole = parse_decimal(units)?;
    let m = parse_decimal(minutes).filter(|m| (0.0..60.0).contains(m))?;
    let s = parse_decimal(seconds).filter(|s| (0.0..60.0).contains(s))?;
    let magnitude = whole.abs() + m / 60.0 + s / 3600.0;
    Some(if units.starts_with('-') {
        -magnitude
    } else {
        magnitude
    })
}

/// Julian Date of a Horizons calendar time such as `2024-Aug-16 00:00`,
/// `2025-Nov-12 00:00:00.000` or `A.D. 2022-Jun-10 00:00:00.0000` (Gregorian dates only).
fn calendar_to_jd(text: &str) -> std::result::Result<f64, String> {
    let bad = || format!("cannot read '{}' as a Horizons calendar date", text.trim());
    let t = text.trim().trim_start_matches("A.D.").trim();
    let mut words = t.split_whitespace();
    let date = words.next().ok_or_else(bad)?;
    let time = words.next().unwrap_or("00:00");
    if words.next().is_some() {
        return Err(bad());
    }
    let d: Vec<&str> = date.split('-').collect();
    let [year, month, day] = d.as_slice() else {
        return Err(bad());
    };
    let year: i64 = year.parse().map_err(|_| bad())?;
    let month = month_number(month).ok_or_else(bad)?;
    let day: i64 = day.parse().map_err(|_| bad())?;
    let (hour, minute, second) = time_of_day(time).ok_or_else(bad)?;
    if !(1..=31).contains(&day) {
        return Err(bad());
    }
    if !(1583..=9999).contains(&year) {
        return Err(format!(
            "'{}': only Gregorian dates 1583–9999 are read; ask Horizons for a JD column",
            text.trim()
        ));
    }
    let seconds = (hour * 3600 + minute * 60) as f64 + second;
    Ok(mjd_of_civil_date(year, month, day) as f64 + 2_400_000.5 + seconds / DAY_S)
}

fn month_number(name: &str) -> Option<i64> {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    MONTHS
        .iter()
        .position(|m| m.eq_ignore_ascii_case(name))
        .map(|i| i as i64 + 1)
}

/// `HH:MM`, `HH:MM:SS` or `HH:MM:SS.fff`.
fn time_of_day(text: &str) -> Option<(i64, i64, f64)> {
    let parts: Vec<&str> = text.split(':').collect();
    let (h, m, s) = match parts.as_slice() {
        [h, m] => (h, m, "0"),
        [h, m, s] => (h, m, *s),
        _ => return None,
    };
    let hour: i64 = h.parse().ok().filter(|h| (0..24).contains(h))?;
    let minute: i64 = m.parse().ok().filter(|m| (0..60).contains(m))?;
    let second = parse_decimal(s).filter(|s| (0.0..61.0).contains(s))?;
    Some((hour, minute, second))
}

// ---------------------------------------------------------------------------------------------
// Interpolation
// ---------------------------------------------------------------------------------------------

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

/// 4-point Lagrange interpolation of `values` tabulated at `jd` (strictly increasing), on the
/// nodes k−2, k−1, k, k+1 around the bracketing interval [k−1, k] (shifted inwards at the
/// ends; fewer points if the table has fewer). The node value itself at a node. With a wrap
/// `period`, the four values are unwrapped before and the result wrapped into [0, period).
fn interpolate(jd: &[f64], values: &[f64], t: f64, period: Option<f64>) -> Result<f64> {
    check_span(jd, t)?;
    let n = jd.len().min(values.len());
    let k = jd.partition_point(|&x| x <= t).min(n);
    if let Some(i) = k.checked_sub(1) {
        if jd.get(i) == Some(&t) {
            return values.get(i).copied().ok_or(HorizonsError::Empty);
        }
    }
    let nodes = stencil(n, k);
    let xs = jd.get(nodes.clone()).ok_or(HorizonsError::Empty)?;
    let mut ys = values.get(nodes).ok_or(HorizonsError::Empty)?.to_vec();
    if let Some(p) = period {
        unwrap_angles(&mut ys, p);
    }
    let y = lagrange(xs, &ys, t);
    Ok(match period {
        Some(p) => y.rem_euclid(p),
        None => y,
    })
}

/// Indices of up to 4 nodes centred on the interval [k−1, k], kept inside 0..n.
fn stencil(n: usize, k: usize) -> Range<usize> {
    if n <= 4 {
        0..n
    } else {
        let lo = k.saturating_sub(2).min(n - 4);
        lo..lo + 4
    }
}

/// Makes successive values continuous across the wrap (e.g. 359.9, 0.1 → 359.9, 360.1).
fn unwrap_angles(values: &mut [f64], period: f64) {
    for i in 1..values.len() {
        let previous = values[i - 1];
        values[i] -= period * ((values[i] - previous) / period).round();
    }
}

/// Lagrange polynomial through (xs, ys) evaluated at x.
fn lagrange(xs: &[f64], ys: &[f64], x: f64) -> f64 {
    xs.iter()
        .zip(ys)
        .enumerate()
        .map(|(i, (&xi, &yi))| {
            let weight: f64 = xs
                .iter()
                .enumerate()
                .filter(|&(j, _)| j != i)
                .map(|(_, &xj)| (x - xj) / (xi - xj))
                .product();
            weight * yi
        })
        .sum()
}

/// Cubic Hermite interpolation of position and velocity between two nodes (t, p, v), with
/// t in days, p in au, v in au/day; returns (p, v) at `t`.
fn hermite(a: (f64, Vec3, Vec3), b: (f64, Vec3, Vec3), t: f64) -> (Vec3, Vec3) {
    let (t0, p0, v0) = a;
    let (t1, p1, v1) = b;
    let h = t1 - t0;
    let s = (t - t0) / h;
    let (s2, s3) = (s * s, s * s * s);
    let h00 = 2.0 * s3 - 3.0 * s2 + 1.0;
    let h10 = s3 - 2.0 * s2 + s;
    let h01 = -2.0 * s3 + 3.0 * s2;
    let h11 = s3 - s2;
    let position = p0 * h00 + v0 * (h10 * h) + p1 * h01 + v1 * (h11 * h);
    let d00 = 6.0 * s2 - 6.0 * s;
    let d10 = 3.0 * s2 - 4.0 * s + 1.0;
    let d01 = -d00;
    let d11 = 3.0 * s2 - 2.0 * s;
    let velocity = (p0 * d00 + p1 * d01) / h + v0 * d10 + v1 * d11;
    (position, velocity)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sexagesimal_and_decimal_values() {
        let ra = parse_value("08 21 31.081989", true).unwrap();
        assert!((ra - (8.0 + 21.0 / 60.0 + 31.081989 / 3600.0) * 15.0).abs() < 1e-12);
        let dec = parse_value("-00 30 00.0", false).unwrap();
        assert_eq!(dec, -0.5);
        assert_eq!(parse_value("+02 30 00", false), Some(2.5));
        assert_eq!(parse_value(".8485", false), Some(0.8485));
        assert_eq!(parse_value("7.03E+09", false), Some(7.03e9));
        assert!(parse_value("n.a.", false).unwrap().is_nan());
        for bad in ["", "inf", "NaN", "1e999", "3.3x", "08 61 00", "1 2", "--"] {
            assert_eq!(parse_value(bad, false), None, "{bad}");
        }
    }

    #[test]
    fn calendar_dates() {
        assert_eq!(calendar_to_jd("2024-Aug-16 00:00"), Ok(2_460_538.5));
        assert_eq!(
            calendar_to_jd("A.D. 2000-Jan-01 12:00:00.0000"),
            Ok(2_451_545.0)
        );
        let jd = calendar_to_jd("2025-Nov-12 06:00:00.000").unwrap();
        assert!((jd - 2_460_991.75).abs() < 1e-9);
        for bad in [
            "2024-Foo-16 00:00",
            "2024-Aug-16 25:00",
            "1500-Jan-01",
            "x",
            "",
        ] {
            assert!(calendar_to_jd(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn pair_labels_split_like_csv_names() {
        assert_eq!(
            split_pair_label("R.A._____(ICRF)_____DEC"),
            ["R.A._(ICRF)", "DEC_(ICRF)"]
        );
        assert_eq!(
            split_pair_label("Azi_(a-appr)_Elev"),
            ["Azi_(a-appr)", "Elev_(a-appr)"]
        );
        assert_eq!(split_pair_label("Date__(UT)__HR:MN"), ["Date__(UT)__HR:MN"]);
        assert_eq!(split_pair_label("R.A._(ICRF)"), ["R.A._(ICRF)"]);
        assert_eq!(split_pair_label("d(DEC)/dt"), ["d(DEC)/dt"]);
        assert!(is_ra_label("R.A.__(ICRF)") && is_ra_label("RA") && !is_ra_label("dRA*cosD"));
        assert!(is_dec_label("DEC__(ICRF)") && !is_dec_label("d(DEC)/dt"));
    }

    #[test]
    fn plain_values_go_to_the_label_above_them() {
        let header = " Date__(UT)__HR:MN     R.A._____(ICRF)_____DEC  APmag            delta";
        let row = " 1998-Jan-01 10:00 *m  20 55 41.20 -18 33 23.0   1.17 2.13799045474771";
        let columns: Vec<PlainColumn> = tokens(header)
            .into_iter()
            .map(|span| PlainColumn {
                names: split_pair_label(&span.text),
                span,
            })
            .collect();
        let raw = plain_row(&columns, marker_gap(&columns), 7, row).unwrap();
        assert_eq!(
            raw.fields,
            [
                "1998-Jan-01 10:00",
                "20 55 41.20",
                "-18 33 23.0",
                "1.17",
                "2.13799045474771"
            ]
        );
        assert_eq!(raw.markers, "*m");
        let header = " Date__(UT)__HR:MN     R.A.___(ICRF)___DEC";
        let row = " 2020-Jan-01 00:00     280.43432 -23.04217";
        let degrees: Vec<PlainColumn> = tokens(header)
            .into_iter()
            .map(|span| PlainColumn {
                names: split_pair_label(&span.text),
                span,
            })
            .collect();
        let raw = plain_row(&degrees, marker_gap(&degrees), 9, row).unwrap();
        assert_eq!(raw.fields, ["2020-Jan-01 00:00", "280.43432", "-23.04217"]);
        assert_eq!(raw.markers, "");
        let stray = " 1998-Jan-01 10:00     20 55 41.20 -18 33 23.0   1.17 2.13799045474771 9";
        assert!(matches!(
            plain_row(&columns, marker_gap(&columns), 8, stray),
            Err(HorizonsError::BadRow { line: 8, .. })
        ));
    }

    #[test]
    fn labelled_vector_lines() {
        let pairs = labelled_values(" X =-2.5E+08 Y = 3.0E+08 Z =-7.1E+06");
        assert_eq!(
            pairs,
            [
                ("X".to_string(), "-2.5E+08".to_string()),
                ("Y".to_string(), "3.0E+08".to_string()),
                ("Z".to_string(), "-7.1E+06".to_string())
            ]
        );
        let names = ["X", "Y", "Z"].map(String::from);
        assert_eq!(vector_line(1, " 1 2 3", &names).unwrap(), [1.0, 2.0, 3.0]);
        assert!(vector_line(1, " X = 1 Y = 2", &names).is_err());
        assert!(vector_line(1, " X = 1 Y = 2 Q = 3", &names).is_err());
    }

    #[test]
    fn lagrange_reproduces_cubics_and_nodes() {
        let cubic = |x: f64| 0.3 * x * x * x - 2.0 * x * x + x - 7.0;
        let xs: Vec<f64> = (0..9).map(|i| 2_460_000.5 + i as f64 * 0.75).collect();
        let ys: Vec<f64> = xs.iter().map(|x| cubic(x - 2_460_000.0)).collect();
        for &t in &[2_460_000.6, 2_460_002.0, 2_460_006.4] {
            let y = interpolate(&xs, &ys, t, None).unwrap();
            assert!((y - cubic(t - 2_460_000.0)).abs() < 1e-6, "{t}");
        }
        for (x, y) in xs.iter().zip(&ys) {
            assert_eq!(interpolate(&xs, &ys, *x, None).unwrap(), *y);
        }
        assert!(matches!(
            interpolate(&xs, &ys, 2_460_000.4, None),
            Err(HorizonsError::OutsideSpan { .. })
        ));
    }

    #[test]
    fn angles_unwrap_across_zero() {
        let xs = [0.0, 1.0, 2.0, 3.0];
        let ys = [359.0, 359.5, 0.0, 0.5];
        let y = interpolate(&xs, &ys, 1.5, Some(360.0)).unwrap();
        assert!((y - 359.75).abs() < 1e-12);
        let y = interpolate(&xs, &ys, 2.5, Some(360.0)).unwrap();
        assert!((y - 0.25).abs() < 1e-12);
    }

    #[test]
    fn hermite_reproduces_cubic_motion() {
        let p = |t: f64| Vec3::new(t * t * t, -2.0 * t * t, 0.5 * t - 1.0);
        let v = |t: f64| Vec3::new(3.0 * t * t, -4.0 * t, 0.5);
        let (t0, t1) = (1.0, 3.0);
        for t in [1.0, 1.3, 2.0, 2.9, 3.0] {
            let (pi, vi) = hermite((t0, p(t0), v(t0)), (t1, p(t1), v(t1)), t);
            assert!(
                (pi - p(t)).norm() < 1e-12 && (vi - v(t)).norm() < 1e-12,
                "{t}"
            );
        }
    }
}
