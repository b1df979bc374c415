//! Cuts a Horizons text output into its parts: the "Key : value" preamble, the column labels
//! between two asterisk rules, the rows between `$$SOE` and `$$EOE`, and the footer.

use super::{HorizonsError, Result};

/// The parts of a Horizons text output.
pub(super) struct Sections<'a> {
    /// Lines above the column-header block (the "Key : value" header).
    pub(super) preamble: Vec<&'a str>,
    /// Non-blank lines between the two asterisk rules just above `$$SOE`.
    pub(super) column_header: Vec<&'a str>,
    /// Non-blank lines between `$$SOE` and `$$EOE`, with their 1-based line numbers.
    pub(super) rows: Vec<(usize, &'a str)>,
    /// Lines below `$$EOE` (column meanings).
    pub(super) footer: Vec<&'a str>,
}

pub(super) fn split_sections(text: &str) -> Result<Sections<'_>> {
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
