//! Horizons observer tables: typed columns, row times, and the observing geometry
//! interpolated at any instant inside the table.

use super::header::{parse_header, HorizonsHeader};
use super::labels::{
    is_calendar_label, is_dec_label, is_jd_label, is_ra_label, is_text_label, wrap_period,
};
use super::lagrange::interpolate;
use super::observer_rows::{observer_rows_csv, observer_rows_plain, RawRow};
use super::sections::Sections;
use super::text::{calendar_to_jd, parse_value};
use super::{check_increasing, check_span, HorizonsError, Result};

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

/// The observer table in `sections`, its rows in CSV (`csv`) or plain form.
pub(super) fn observer_table(sections: &Sections, csv: bool) -> Result<ObserverTable> {
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
