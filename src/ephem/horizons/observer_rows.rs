//! The rows of an observer table as field texts under their labels: CSV rows split at commas,
//! plain rows by the label each value lies under, and the solar/lunar presence markers.

use std::ops::Range;

use super::labels::split_pair_label;
use super::sections::Sections;
use super::text::{csv_fields, csv_labels, expect_fields, tokens, Token};
use super::{HorizonsError, Result};

/// Observer rows before typing: field texts under each label, plus the presence markers.
pub(super) struct RawRow {
    pub(super) line: usize,
    pub(super) fields: Vec<String>,
    pub(super) markers: String,
}

/// CSV observer rows: fields split at commas; blank-labelled fields are presence markers.
pub(super) fn observer_rows_csv(sections: &Sections) -> Result<(Vec<String>, Vec<RawRow>)> {
    let labels = csv_labels(&sections.column_header);
    let names: Vec<String> = labels.iter().filter(|l| !l.is_empty()).cloned().collect();
    let mut rows = Vec::with_capacity(sections.rows.len());
    for &(line, text) in &sections.rows {
        let fields = csv_fields(line, text, labels.len())?;
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
pub(super) fn observer_rows_plain(sections: &Sections) -> Result<(Vec<String>, Vec<RawRow>)> {
    let [header_line] = sections.column_header.as_slice() else {
        return Err(HorizonsError::BadHeader(
            "a plain observer table needs exactly one line of column labels".into(),
        ));
    };
    let columns = plain_columns(header_line);
    let names: Vec<String> = columns.iter().flat_map(|c| c.names.clone()).collect();
    let gap = marker_gap(&columns);
    let mut rows = Vec::with_capacity(sections.rows.len());
    for &(line, text) in &sections.rows {
        rows.push(plain_row(&columns, gap.clone(), line, text)?);
    }
    Ok((names, rows))
}

/// The labels of a plain column-header line, each with the column name(s) it holds.
fn plain_columns(header_line: &str) -> Vec<PlainColumn> {
    tokens(header_line)
        .into_iter()
        .map(|span| PlainColumn {
            names: split_pair_label(&span.text),
            span,
        })
        .collect()
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

/// One plain row: its values grouped under the labels they lie under (a pair label's values
/// split in half), and the presence markers found in the gap after the time columns.
fn plain_row(
    columns: &[PlainColumn],
    gap: Range<usize>,
    line: usize,
    text: &str,
) -> Result<RawRow> {
    let mut groups: Vec<Vec<String>> = vec![Vec::new(); columns.len()];
    let mut markers = String::new();
    let misplaced = |token: &Token, problem: &str| HorizonsError::BadRow {
        line,
        message: format!(
            "'{}' at character {} {problem}",
            token.text,
            token.start + 1
        ),
    };
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
            [] => return Err(misplaced(&token, "lies under no column label")),
            _ => return Err(misplaced(&token, "straddles two column labels")),
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
    Ok(RawRow {
        line,
        fields: expect_fields(line, expected, fields)?,
        markers,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_values_go_to_the_label_above_them() {
        let header = " Date__(UT)__HR:MN     R.A._____(ICRF)_____DEC  APmag            delta";
        let row = " 1998-Jan-01 10:00 *m  20 55 41.20 -18 33 23.0   1.17 2.13799045474771";
        let columns = plain_columns(header);
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
        let degrees = plain_columns(header);
        let raw = plain_row(&degrees, marker_gap(&degrees), 9, row).unwrap();
        assert_eq!(raw.fields, ["2020-Jan-01 00:00", "280.43432", "-23.04217"]);
        assert_eq!(raw.markers, "");
        let stray = " 1998-Jan-01 10:00     20 55 41.20 -18 33 23.0   1.17 2.13799045474771 9";
        assert!(matches!(
            plain_row(&columns, marker_gap(&columns), 8, stray),
            Err(HorizonsError::BadRow { line: 8, .. })
        ));
    }
}
