//! Reading the CSV tables the commands write, for the integration tests that check them.

use std::collections::HashMap;
use std::path::Path;

/// The fields of a CSV line (RFC 4180 quoting, no line breaks inside fields).
fn csv_fields(line: &str) -> Vec<String> {
    let mut out = vec![String::new()];
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                chars.next();
                out.last_mut().unwrap().push('"');
            }
            ('"', _) => quoted = !quoted,
            (',', false) => out.push(String::new()),
            (c, _) => out.last_mut().unwrap().push(c),
        }
    }
    out
}

/// A CSV file as rows of column → text.
pub fn read_rows(path: &Path) -> Vec<HashMap<String, String>> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut lines = text.lines();
    let header = csv_fields(lines.next().unwrap_or(""));
    lines
        .map(|l| {
            let row = csv_fields(l);
            assert_eq!(row.len(), header.len(), "{}: {l}", path.display());
            header.iter().cloned().zip(row).collect()
        })
        .collect()
}

/// A column of a row as a number (the test fails naming the column when it is not one).
pub fn number(row: &HashMap<String, String>, column: &str) -> f64 {
    row[column]
        .parse()
        .unwrap_or_else(|_| panic!("{column} = '{}' is not a number", row[column]))
}
