//! Reference catalogues for zero points and astrometry: a CSV with columns `ra_deg`, `dec_deg`,
//! `mag` and optionally `mag_err` and `color` (any order, extra columns ignored, `#` comment
//! lines skipped), e.g. exported from ATLAS-RefCat2, Pan-STARRS or Gaia. The magnitudes are in
//! the band and system of the photometry they calibrate.

use std::path::Path;
use thiserror::Error;

#[derive(Debug, Clone, Error, PartialEq)]
pub enum CatalogueError {
    #[error("cannot read catalogue {path}: {message}")]
    Io { path: String, message: String },
    #[error("catalogue {path}: no header line")]
    Empty { path: String },
    #[error("catalogue {path}: missing column '{column}' (columns: {found})")]
    MissingColumn {
        path: String,
        column: &'static str,
        found: String,
    },
    #[error("catalogue {path}, line {line}, column '{column}': '{text}' is not a number")]
    BadNumber {
        path: String,
        line: usize,
        column: String,
        text: String,
    },
    #[error("catalogue {path}, line {line}: {found} fields, the header has {expected}")]
    FieldCount {
        path: String,
        line: usize,
        found: usize,
        expected: usize,
    },
    #[error("catalogue {path}: no star with finite ra_deg, dec_deg and mag{detail}")]
    NoStars {
        path: String,
        /// Why rows were set aside, when some were (starts with "; ").
        detail: String,
    },
}

/// One catalogue star.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CatalogueStar {
    pub ra_deg: f64,
    pub dec_deg: f64,
    pub mag: f64,
    /// Catalogue magnitude error; 0 when the catalogue has none.
    pub mag_err: f64,
    /// Colour index (e.g. g − r), when given.
    pub colour: Option<f64>,
}

/// A parsed catalogue: its usable stars, and the rows that could not be read (each a
/// [`CatalogueError::BadNumber`] or [`CatalogueError::FieldCount`] naming line and column).
#[derive(Debug, Clone, PartialEq)]
pub struct Catalogue {
    pub stars: Vec<CatalogueStar>,
    pub rejected_rows: Vec<CatalogueError>,
}

/// Reads a catalogue CSV (see the module notes). Rows with an empty or NaN position or
/// magnitude are dropped; a row with text in a numeric column or the wrong number of fields
/// is set aside in [`Catalogue::rejected_rows`] and the others are used. The whole file is
/// refused when it cannot be read, lacks a required column or has no usable star.
pub fn read_catalogue(path: &Path) -> Result<Catalogue, CatalogueError> {
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| CatalogueError::Io {
        path: name.clone(),
        message: e.to_string(),
    })?;
    parse_catalogue(&text, &name)
}

/// Parses catalogue text; `name` labels errors.
pub fn parse_catalogue(text: &str, name: &str) -> Result<Catalogue, CatalogueError> {
    let mut lines = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty() && !l.trim_start().starts_with('#'));
    let (_, header) = lines.next().ok_or_else(|| CatalogueError::Empty {
        path: name.to_string(),
    })?;
    let columns: Vec<String> = header
        .split(',')
        .map(|c| c.trim().to_ascii_lowercase())
        .collect();
    let find = |wanted: &'static str| columns.iter().position(|c| c == wanted);
    let required = |wanted: &'static str| {
        find(wanted).ok_or_else(|| CatalogueError::MissingColumn {
            path: name.to_string(),
            column: wanted,
            found: columns.join(", "),
        })
    };
    let (ra, dec, mag) = (required("ra_deg")?, required("dec_deg")?, required("mag")?);
    let (mag_err, colour) = (find("mag_err"), find("color").or_else(|| find("colour")));
    let mut stars = Vec::new();
    let mut rejected_rows = Vec::new();
    for (index, line) in lines {
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        if fields.len() != columns.len() {
            rejected_rows.push(CatalogueError::FieldCount {
                path: name.to_string(),
                line: index + 1,
                found: fields.len(),
                expected: columns.len(),
            });
            continue;
        }
        let number = |column: usize| -> Result<f64, CatalogueError> {
            let text = fields[column];
            if text.is_empty() || text.eq_ignore_ascii_case("nan") {
                return Ok(f64::NAN);
            }
            text.parse::<f64>().map_err(|_| CatalogueError::BadNumber {
                path: name.to_string(),
                line: index + 1,
                column: columns[column].clone(),
                text: text.to_string(),
            })
        };
        let star = (|| -> Result<CatalogueStar, CatalogueError> {
            Ok(CatalogueStar {
                ra_deg: number(ra)?,
                dec_deg: number(dec)?,
                mag: number(mag)?,
                mag_err: mag_err
                    .map(number)
                    .transpose()?
                    .filter(|e| e.is_finite())
                    .unwrap_or(0.0),
                colour: colour.map(number).transpose()?.filter(|c| c.is_finite()),
            })
        })();
        match star {
            Ok(star)
                if star.ra_deg.is_finite() && star.dec_deg.is_finite() && star.mag.is_finite() =>
            {
                stars.push(star)
            }
            Ok(_) => {}
            Err(e) => rejected_rows.push(e),
        }
    }
    if stars.is_empty() {
        let detail = match rejected_rows.first() {
            Some(first) => format!(
                "; {} row(s) unreadable, the first: {first}",
                rejected_rows.len()
            ),
            None => String::new(),
        };
        return Err(CatalogueError::NoStars {
            path: name.to_string(),
            detail,
        });
    }
    Ok(Catalogue {
        stars,
        rejected_rows,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_in_any_order_and_optional_ones() {
        let text = "# exported\nmag,dec_deg,ra_deg,color\n15.2,10.5,200.1,0.4\n16.0,10.6,200.2,\n";
        let catalogue = parse_catalogue(text, "cat.csv").unwrap();
        let stars = &catalogue.stars;
        assert_eq!(stars.len(), 2);
        assert_eq!(stars[0].ra_deg, 200.1);
        assert_eq!(stars[0].colour, Some(0.4));
        assert_eq!(stars[1].colour, None);
        assert_eq!(stars[1].mag_err, 0.0);
        assert!(catalogue.rejected_rows.is_empty());
    }

    #[test]
    fn bad_rows_are_set_aside_naming_line_and_column() {
        let text = "ra_deg,dec_deg,mag\n1,2,3\n1,x2,3\n1,2\n4,5,6\n";
        let catalogue = parse_catalogue(text, "c.csv").unwrap();
        assert_eq!(catalogue.stars.len(), 2);
        assert_eq!(catalogue.stars[1].ra_deg, 4.0);
        let reasons: Vec<String> = catalogue
            .rejected_rows
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            reasons,
            [
                "catalogue c.csv, line 3, column 'dec_deg': 'x2' is not a number",
                "catalogue c.csv, line 4: 2 fields, the header has 3",
            ]
        );
    }

    #[test]
    fn unusable_files_are_refused() {
        let err = parse_catalogue("ra_deg,dec_deg\n1,2\n", "c.csv").unwrap_err();
        assert!(err.to_string().contains("missing column 'mag'"), "{err}");
        assert!(matches!(
            parse_catalogue("ra_deg,dec_deg,mag\n1,2,nan\n", "c.csv"),
            Err(CatalogueError::NoStars { .. })
        ));
        let err = parse_catalogue("ra_deg,dec_deg,mag\n1,two,3\n", "c.csv").unwrap_err();
        assert_eq!(
            err.to_string(),
            "catalogue c.csv: no star with finite ra_deg, dec_deg and mag; 1 row(s) unreadable, \
             the first: catalogue c.csv, line 2, column 'dec_deg': 'two' is not a number"
        );
        assert!(matches!(
            parse_catalogue("# only a comment\n", "c.csv"),
            Err(CatalogueError::Empty { .. })
        ));
    }
}
