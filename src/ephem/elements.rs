//! Where orbital elements come from: the built-in orbits in `data/orbits/` (3I/ATLAS JPL#27,
//! 2I/Borisov SBDB 54), small TOML files in the same format, and lines of the MPC comet
//! format (the format of the MPC file `CometEls.txt`).

use super::orbit::{CometElements, OrbitError};
use super::time::mjd_of_civil_date;
use serde::Deserialize;
use std::path::Path;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum ElementsError {
    #[error("unknown object '{name}'; built-in orbits: {known}. Give --elements FILE (TOML or MPC CometEls lines) or --horizons FILE")]
    UnknownObject { name: String, known: String },
    #[error("{source_name}: not a valid elements TOML file: {message}")]
    Toml {
        source_name: String,
        message: String,
    },
    #[error("{source_name}, line {line}: not an MPC comet elements line: {message}")]
    MpcLine {
        source_name: String,
        line: usize,
        message: String,
    },
    #[error("{source_name}: no elements line matches '{object}'")]
    NotInFile { source_name: String, object: String },
    #[error(
        "{source_name}: holds {count} comets; choose one with --object (e.g. --object \"{first}\")"
    )]
    Ambiguous {
        source_name: String,
        count: usize,
        first: String,
    },
    #[error("{source_name}: {error}")]
    Invalid {
        source_name: String,
        error: OrbitError,
    },
    #[error("cannot read {path}: {message}")]
    Io { path: String, message: String },
}

/// The TOML elements format (see `data/orbits/*.toml`): angles in degrees, q and a in au,
/// times as Julian Dates on the TDB scale.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ElementsToml {
    designation: String,
    #[serde(default)]
    aliases: Vec<String>,
    #[serde(default)]
    solution: String,
    epoch_jd_tdb: Option<f64>,
    q_au: f64,
    e: f64,
    i_deg: f64,
    node_deg: f64,
    peri_deg: f64,
    tp_jd_tdb: f64,
    a_au: Option<f64>,
}

const BUILTIN_SOURCES: [(&str, &str); 2] = [
    (
        "data/orbits/3I_ATLAS.toml",
        include_str!("../../data/orbits/3I_ATLAS.toml"),
    ),
    (
        "data/orbits/2I_Borisov.toml",
        include_str!("../../data/orbits/2I_Borisov.toml"),
    ),
];

/// An orbit with the names it answers to.
#[derive(Debug, Clone)]
pub struct NamedOrbit {
    pub elements: CometElements,
    pub aliases: Vec<String>,
}

impl NamedOrbit {
    /// True when `name` is the designation or an alias (case, spaces and a leading
    /// "comet" ignored).
    pub fn answers_to(&self, name: &str) -> bool {
        let wanted = normalise_name(name);
        std::iter::once(&self.elements.designation)
            .chain(self.aliases.iter())
            .any(|n| normalise_name(n) == wanted)
    }
}

fn normalise_name(name: &str) -> String {
    name.trim()
        .trim_start_matches("comet ")
        .chars()
        .filter(|c| !c.is_whitespace())
        .flat_map(char::to_uppercase)
        .collect()
}

/// Parses the TOML elements format; `source_name` labels errors.
pub fn parse_toml(text: &str, source_name: &str) -> Result<NamedOrbit, ElementsError> {
    let raw: ElementsToml = toml::from_str(text).map_err(|e| ElementsError::Toml {
        source_name: source_name.to_string(),
        message: e.message().to_string(),
    })?;
    let elements = CometElements {
        designation: raw.designation,
        solution: raw.solution,
        q_au: raw.q_au,
        e: raw.e,
        i_deg: raw.i_deg,
        node_deg: raw.node_deg,
        peri_deg: raw.peri_deg,
        tp_jd_tdb: raw.tp_jd_tdb,
        epoch_jd_tdb: raw.epoch_jd_tdb,
    };
    elements
        .validate(raw.a_au)
        .map_err(|error| ElementsError::Invalid {
            source_name: source_name.to_string(),
            error,
        })?;
    Ok(NamedOrbit {
        elements,
        aliases: raw.aliases,
    })
}

/// The built-in orbits.
pub fn builtin_orbits() -> Vec<NamedOrbit> {
    BUILTIN_SOURCES
        .iter()
        .filter_map(|(name, text)| parse_toml(text, name).ok())
        .collect()
}

/// The built-in orbit named `name` ("3I", "3I/ATLAS", "C/2025 N1", "2I", ...).
pub fn builtin(name: &str) -> Result<CometElements, ElementsError> {
    let orbits = builtin_orbits();
    orbits
        .iter()
        .find(|o| o.answers_to(name))
        .map(|o| o.elements.clone())
        .ok_or_else(|| ElementsError::UnknownObject {
            name: name.to_string(),
            known: orbits
                .iter()
                .map(|o| o.elements.designation.clone())
                .collect::<Vec<_>>()
                .join(", "),
        })
}

/// Columns (1-based, inclusive) of the MPC comet orbit format, "Format Of The Orbital
/// Elements Files" of the Minor Planet Center (comets).
mod mpc_columns {
    pub const NUMBER: (usize, usize) = (1, 4);
    pub const ORBIT_TYPE: (usize, usize) = (5, 5);
    pub const PROVISIONAL: (usize, usize) = (6, 12);
    pub const PERI_YEAR: (usize, usize) = (15, 18);
    pub const PERI_MONTH: (usize, usize) = (20, 21);
    pub const PERI_DAY: (usize, usize) = (23, 29);
    pub const Q: (usize, usize) = (31, 39);
    pub const E: (usize, usize) = (42, 49);
    pub const PERI: (usize, usize) = (52, 59);
    pub const NODE: (usize, usize) = (62, 69);
    pub const INCL: (usize, usize) = (72, 79);
    pub const EPOCH: (usize, usize) = (82, 89);
    pub const NAME: (usize, usize) = (103, 158);
    /// Nominally 160-168; real lines run longer ("MPEC 2025-R69"), so read to the end.
    pub const REFERENCE: (usize, usize) = (160, usize::MAX);
}

fn field(line: &str, (first, last): (usize, usize)) -> &str {
    let end = last.min(line.len());
    if first > end {
        return "";
    }
    line.get(first - 1..end).unwrap_or("").trim()
}

/// Parses one line of the MPC comet format. The perihelion time (TT) is used as TDB (they
/// differ by < 2 ms); the epoch of osculation is 0h TT of its date.
pub fn parse_mpc_line(
    line: &str,
    source_name: &str,
    line_no: usize,
) -> Result<NamedOrbit, ElementsError> {
    use mpc_columns::*;
    let fail = |message: String| ElementsError::MpcLine {
        source_name: source_name.to_string(),
        line: line_no,
        message,
    };
    if !line.is_ascii() || line.len() < INCL.1 {
        return Err(fail(format!(
            "expected ASCII fixed columns up to column {} (inclination), got {} characters",
            INCL.1,
            line.chars().count()
        )));
    }
    let number = |name: &str, cols: (usize, usize)| -> Result<f64, ElementsError> {
        let text = field(line, cols);
        text.parse::<f64>().map_err(|_| {
            fail(format!(
                "{name} in columns {}-{} is '{text}', not a number",
                cols.0, cols.1
            ))
        })
    };
    let year = number("perihelion year", PERI_YEAR)?;
    let month = number("perihelion month", PERI_MONTH)?;
    let day = number("perihelion day", PERI_DAY)?;
    if !(1.0..=12.0).contains(&month) || !(0.0..32.0).contains(&day) || year.fract() != 0.0 {
        return Err(fail(format!(
            "perihelion date {year} {month} {day} is out of range"
        )));
    }
    let tp_jd_tdb = mjd_of_civil_date(year as i64, month as i64, 0) as f64 + day + 2_400_000.5;
    let epoch_text = field(line, EPOCH);
    let epoch_jd_tdb = if epoch_text.len() == 8 && epoch_text.bytes().all(|b| b.is_ascii_digit()) {
        let y: i64 = epoch_text[0..4].parse().unwrap_or(0);
        let m: i64 = epoch_text[4..6].parse().unwrap_or(0);
        let d: i64 = epoch_text[6..8].parse().unwrap_or(0);
        Some(mjd_of_civil_date(y, m, d) as f64 + 2_400_000.5)
    } else {
        None
    };
    let name = field(line, NAME);
    let packed = format!(
        "{}{}{}",
        field(line, NUMBER),
        field(line, ORBIT_TYPE),
        field(line, PROVISIONAL)
    );
    let designation = if name.is_empty() {
        packed.clone()
    } else {
        name.to_string()
    };
    let elements = CometElements {
        designation,
        solution: field(line, REFERENCE).to_string(),
        q_au: number("perihelion distance", Q)?,
        e: number("eccentricity", E)?,
        i_deg: number("inclination", INCL)?,
        node_deg: number("node", NODE)?,
        peri_deg: number("argument of perihelion", PERI)?,
        tp_jd_tdb,
        epoch_jd_tdb,
    };
    elements.validate(None).map_err(|e| fail(e.to_string()))?;
    // "2I/Borisov" also answers to "2I"; "C/2019 Q4 (Borisov)" to "C/2019 Q4".
    let mut aliases = vec![packed];
    for part in name.split(['/', '(']) {
        let part = part.trim().trim_end_matches(')');
        if !part.is_empty() {
            aliases.push(part.to_string());
        }
    }
    Ok(NamedOrbit { elements, aliases })
}

/// Reads elements from a file: TOML (by extension `.toml`) or MPC comet-format lines (blank
/// lines and lines starting with '#' are skipped). With several comets in the file, `object`
/// chooses one.
pub fn read_elements_file(
    path: &Path,
    object: Option<&str>,
) -> Result<CometElements, ElementsError> {
    let source_name = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| ElementsError::Io {
        path: source_name.clone(),
        message: e.to_string(),
    })?;
    let is_toml = path
        .extension()
        .is_some_and(|ext| ext.eq_ignore_ascii_case("toml"));
    let orbits = if is_toml {
        vec![parse_toml(&text, &source_name)?]
    } else {
        text.lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
            .map(|(i, l)| parse_mpc_line(l, &source_name, i + 1))
            .collect::<Result<Vec<_>, _>>()?
    };
    choose(orbits, object, &source_name)
}

fn choose(
    orbits: Vec<NamedOrbit>,
    object: Option<&str>,
    source_name: &str,
) -> Result<CometElements, ElementsError> {
    match object {
        Some(name) => orbits
            .into_iter()
            .find(|o| o.answers_to(name))
            .map(|o| o.elements)
            .ok_or_else(|| ElementsError::NotInFile {
                source_name: source_name.to_string(),
                object: name.to_string(),
            }),
        None if orbits.len() == 1 => {
            Ok(orbits
                .into_iter()
                .next()
                .map(|o| o.elements)
                .ok_or_else(|| ElementsError::NotInFile {
                    source_name: source_name.to_string(),
                    object: String::new(),
                })?)
        }
        None => Err(ElementsError::Ambiguous {
            source_name: source_name.to_string(),
            count: orbits.len(),
            first: orbits
                .first()
                .map(|o| o.elements.designation.clone())
                .unwrap_or_default(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MPC_2I: &str = "0002I         2019 12  9.0572  1.997724  3.345952  209.2911  307.8024   44.2624  20251121  11.0  4.0  2I/Borisov                                               MPEC 2025-R69";

    #[test]
    fn builtin_orbits_parse_and_answer_to_their_names() {
        assert_eq!(builtin_orbits().len(), BUILTIN_SOURCES.len());
        for name in ["3I", "3i/atlas", "C/2025 N1", "C/2025N1", "comet 3I"] {
            let el = builtin(name).unwrap();
            assert_eq!(el.solution, "JPL#27");
            assert_eq!(el.q_au, 1.356065570996796);
        }
        assert_eq!(builtin("2I").unwrap().solution, "SBDB 54");
        let err = builtin("1P/Halley").unwrap_err().to_string();
        assert!(
            err.contains("1P/Halley") && err.contains("3I/ATLAS"),
            "{err}"
        );
    }

    #[test]
    fn mpc_line_fields() {
        let o = parse_mpc_line(MPC_2I, "CometEls.txt", 1).unwrap();
        let el = &o.elements;
        assert_eq!(el.designation, "2I/Borisov");
        assert_eq!(el.solution, "MPEC 2025-R69");
        assert_eq!((el.q_au, el.e), (1.997724, 3.345952));
        assert_eq!(
            (el.peri_deg, el.node_deg, el.i_deg),
            (209.2911, 307.8024, 44.2624)
        );
        // 2019-12-09.0572 TT: JD 2458826.5 + 0.0572.
        assert!((el.tp_jd_tdb - 2_458_826.557_2).abs() < 1e-9);
        assert_eq!(el.epoch_jd_tdb, Some(2_461_000.5)); // 2025-11-21
        assert!(o.answers_to("2I") && o.answers_to("0002I") && o.answers_to("Borisov"));
    }

    #[test]
    fn malformed_mpc_lines_name_the_column() {
        let short = &MPC_2I[..60];
        let err = parse_mpc_line(short, "f.txt", 3).unwrap_err().to_string();
        assert!(err.contains("f.txt, line 3"), "{err}");
        let garbled = MPC_2I.replace("3.345952", "3.34x952");
        let err = parse_mpc_line(&garbled, "f.txt", 1)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("eccentricity") && err.contains("42-49"),
            "{err}"
        );
        let negative_q = MPC_2I.replace(" 1.997724", "-1.997724");
        assert!(parse_mpc_line(&negative_q, "f.txt", 1).is_err());
    }

    #[test]
    fn toml_rejects_open_orbit_with_positive_axis() {
        let text = BUILTIN_SOURCES[1].1.replace("a_au = -0.85", "a_au = 0.85");
        let err = parse_toml(&text, "mine.toml").unwrap_err().to_string();
        assert!(
            err.contains("mine.toml") && err.contains("positive"),
            "{err}"
        );
        let err = parse_toml("q_au = 1", "x.toml").unwrap_err().to_string();
        assert!(err.contains("x.toml"), "{err}");
    }
}
