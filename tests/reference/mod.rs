//! Reading the reference CSVs of `data/reference/` in tests (comment lines start with '#').

use std::collections::HashMap;

/// The text of a file under `data/`.
pub fn data(path: &str) -> String {
    let full = format!("{}/data/{path}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{full}: {e}"))
}

/// Rows of a CSV with '#' comment lines, as maps from column name to text.
pub fn csv_rows(text: &str) -> Vec<HashMap<String, String>> {
    let mut lines = text.lines().filter(|l| !l.starts_with('#'));
    let header: Vec<String> = lines
        .next()
        .expect("header")
        .split(',')
        .map(str::to_string)
        .collect();
    lines
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            header
                .iter()
                .cloned()
                .zip(l.split(',').map(str::to_string))
                .collect()
        })
        .collect()
}

/// A numeric field of a row.
pub fn num(row: &HashMap<String, String>, key: &str) -> f64 {
    row[key]
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("{key} = {:?}", row[key]))
}
