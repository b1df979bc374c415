//! Reading the text of a Horizons table: CSV fields, whitespace-separated words with their
//! character spans, decimal and sexagesimal numbers, and calendar dates.

use crate::ephem::time::mjd_of_civil_date;
use crate::ephem::DAY_S;

use super::{HorizonsError, Result};

/// Splits one CSV line into trimmed fields, dropping the empty field after the trailing comma.
fn split_csv(line: &str) -> Vec<String> {
    let s = line.trim_end();
    let s = s.strip_suffix(',').unwrap_or(s);
    s.split(',').map(|f| f.trim().to_string()).collect()
}

/// The column labels of a CSV table, over all lines of its column header.
pub(super) fn csv_labels(column_header: &[&str]) -> Vec<String> {
    column_header.iter().flat_map(|l| split_csv(l)).collect()
}

/// The fields of CSV row `line`, which must number `expected` (the count of labels).
pub(super) fn csv_fields(line: usize, text: &str, expected: usize) -> Result<Vec<String>> {
    expect_fields(line, expected, split_csv(text))
}

/// `fields` of row `line` if they number `expected`, else [`HorizonsError::FieldCount`].
pub(super) fn expect_fields(
    line: usize,
    expected: usize,
    fields: Vec<String>,
) -> Result<Vec<String>> {
    if fields.len() != expected {
        return Err(HorizonsError::FieldCount {
            line,
            expected,
            found: fields.len(),
        });
    }
    Ok(fields)
}

/// A whitespace-separated word and its character span (0-based, both ends inclusive).
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Token {
    pub(super) start: usize,
    pub(super) end: usize,
    pub(super) text: String,
}

pub(super) fn tokens(line: &str) -> Vec<Token> {
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

/// The whitespace-separated words of a line.
pub(super) fn token_texts(line: &str) -> Vec<String> {
    tokens(line).into_iter().map(|t| t.text).collect()
}

pub(super) fn number(text: &str, column: &str, line: usize) -> Result<f64> {
    parse_decimal(text.trim()).ok_or_else(|| HorizonsError::BadNumber {
        line,
        column: column.to_string(),
        text: text.trim().to_string(),
    })
}

/// A Horizons numeric field: a decimal number, `n.a.` (→ NaN), or three sexagesimal parts
/// (`HH MM SS.ff` / `sDD MN SC.f`). With `hours_to_degrees` a sexagesimal value is taken as
/// hours and returned in degrees (RA).
pub(super) fn parse_value(text: &str, hours_to_degrees: bool) -> Option<f64> {
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
pub(super) fn calendar_to_jd(text: &str) -> std::result::Result<f64, String> {
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
}
