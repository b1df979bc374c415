//! The records of a vector table as numbers: CSV rows, and plain records of a time line
//! followed by `X Y Z` / `VX VY VZ` / `LT RG RR` lines, with or without `X =` labels.

use super::sections::Sections;
use super::text::{csv_fields, csv_labels, number, token_texts};
use super::{HorizonsError, Result};

/// One record of a vector table: its time and its values in the order of the quantities.
pub(super) struct VectorRow {
    pub(super) line: usize,
    pub(super) jd: f64,
    pub(super) values: Vec<f64>,
}

/// CSV vector rows: `JDTDB, Calendar Date (TDB), X, Y, Z, VX, VY, VZ, LT, RG, RR,`.
pub(super) fn vector_rows_csv(
    sections: &Sections,
) -> Result<(String, Vec<String>, Vec<VectorRow>)> {
    let labels = csv_labels(&sections.column_header);
    let time_label = labels.first().cloned().unwrap_or_default();
    let mut rows = Vec::with_capacity(sections.rows.len());
    for &(line, text) in &sections.rows {
        let fields = csv_fields(line, text, labels.len())?;
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
pub(super) fn vector_rows_plain(
    sections: &Sections,
) -> Result<(String, Vec<String>, Vec<VectorRow>)> {
    let Some((time_line, layout_lines)) = sections.column_header.split_first() else {
        return Err(HorizonsError::NoColumnHeader);
    };
    let time_label = time_line.trim().to_string();
    let layout: Vec<Vec<String>> = layout_lines.iter().map(|l| token_texts(l)).collect();
    let quantities: Vec<String> = layout.iter().flatten().cloned().collect();
    let per_record = 1 + layout.len();
    let mut rows = Vec::with_capacity(sections.rows.len() / per_record);
    for record in sections.rows.chunks(per_record) {
        rows.push(vector_record(record, &layout, &time_label)?);
    }
    Ok((time_label, quantities, rows))
}

/// One plain record: the time line and one line of values per line of `layout`.
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
