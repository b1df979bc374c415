//! The Sun's apparent magnitude at 1 au by band and photometric system.
//!
//! Source: Willmer 2018, "The Absolute Magnitude of the Sun in Several Filters", ApJS 236, 47
//! (arXiv:1804.07788), Table 3, as transcribed in `data/reference/sun_apparent_magnitudes_willmer2018.csv`
//! (not re-checked against Willmer's own table; see `data/reference/PROVENANCE.md`). The table is
//! embedded in the binary and parsed once.
//!
//! Bands in the table: Johnson U B V, Cousins R I, SDSS u g r i z, Pan-STARRS1 g r i z y and
//! ATLAS c ("cyan") and o ("orange"). The ATLAS rows are **not** Willmer's: the transcriber derived
//! them from the PS1 values with the colour terms of Tonry et al. 2018; [`SolarMagnitude::note`]
//! says so wherever they are used.
//!
//! The magnitude of the comet and m_sun must be in the same band *and* system: R_C is −27.15
//! (Vega) but −26.97 (AB), a 0.18 mag (18 %) difference in the cross-section.

use std::fmt;
use std::sync::OnceLock;

use super::DustError;

const EMBEDDED_TABLE: &str =
    include_str!("../../data/reference/sun_apparent_magnitudes_willmer2018.csv");

/// Photometric system of a magnitude.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MagSystem {
    /// Vega = 0 in every band (Johnson–Cousins photometry, most NOT/ALFOSC work).
    Vega,
    /// AB: m = −2.5 log10 f_ν − 48.60 (SDSS, Pan-STARRS, ATLAS, Rubin).
    Ab,
    /// ST: m = −2.5 log10 f_λ − 21.10 (HST).
    St,
}

impl MagSystem {
    /// Parses "Vega", "AB" or "ST" (case-insensitive).
    pub fn parse(text: &str) -> Result<MagSystem, DustError> {
        match text.trim().to_ascii_lowercase().as_str() {
            "vega" => Ok(MagSystem::Vega),
            "ab" => Ok(MagSystem::Ab),
            "st" | "stmag" => Ok(MagSystem::St),
            _ => Err(DustError::UnknownSystem(text.trim().to_string())),
        }
    }
}

impl fmt::Display for MagSystem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            MagSystem::Vega => "Vega",
            MagSystem::Ab => "AB",
            MagSystem::St => "ST",
        })
    }
}

/// One row of the table: canonical band name, magnitudes in the three systems, and a note
/// when the row is not Willmer's own (e.g. the ATLAS bands).
#[derive(Debug, Clone, PartialEq)]
pub struct SunBand {
    pub band: String,
    pub vega_mag: f64,
    pub ab_mag: f64,
    pub st_mag: f64,
    pub note: Option<String>,
}

impl SunBand {
    /// The Sun's apparent magnitude in `system`.
    pub fn mag(&self, system: MagSystem) -> f64 {
        match system {
            MagSystem::Vega => self.vega_mag,
            MagSystem::Ab => self.ab_mag,
            MagSystem::St => self.st_mag,
        }
    }
}

/// The Sun's apparent magnitude at 1 au in one band and system, with where it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct SolarMagnitude {
    /// Canonical band name ("R_Cousins", "r_SDSS", "o_ATLAS", or a user label).
    pub band: String,
    pub system: MagSystem,
    pub mag: f64,
    /// Source of the value ("Willmer 2018" or "user").
    pub source: String,
    /// Caveat about the value, if any (e.g. the ATLAS rows are derived, not Willmer's).
    pub note: Option<String>,
}

impl SolarMagnitude {
    /// Looks up the Sun's magnitude in the embedded Willmer 2018 table; see [`SunTable::lookup`]
    /// for the band names accepted.
    pub fn lookup(band: &str, system: MagSystem) -> Result<SolarMagnitude, DustError> {
        SunTable::embedded()?.lookup(band, system)
    }

    /// A value the user supplies (another table, a measured solar colour); `band` is a label
    /// carried into every output.
    pub fn custom(band: &str, system: MagSystem, mag: f64) -> Result<SolarMagnitude, DustError> {
        super::finite("m_sun", mag)?;
        if !(-30.0..=-20.0).contains(&mag) {
            return Err(DustError::OutOfRange {
                name: "m_sun",
                value: mag,
                range: "[−30, −20] mag (the Sun at 1 au)",
            });
        }
        Ok(SolarMagnitude {
            band: band.trim().to_string(),
            system,
            mag,
            source: "user".to_string(),
            note: None,
        })
    }

    /// "−27.15 (R_Cousins, Vega; Willmer 2018)".
    pub fn describe(&self) -> String {
        let mut text = format!(
            "{:.2} ({}, {}; {})",
            self.mag, self.band, self.system, self.source
        );
        if let Some(note) = &self.note {
            text.push_str(&format!(" [{note}]"));
        }
        text
    }
}

/// Names users type for each canonical band (compared after removing `_`, spaces, `-`, `.` and
/// primes; case-sensitive, because "R" (Cousins) and "r" (SDSS) differ). Canonical names
/// themselves are matched case-insensitively.
///
/// Choices made here: a bare lower-case g r i z u means SDSS (the ALFOSC filters are SDSS
/// g' r' i' z'); PS1 needs "g_PS1", "gP1", … (PS1 g differs from SDSS g by 0.07 mag in AB).
/// Bessell's R, I (ALFOSC "R_Bes", "I_Bes") are taken as Cousins R, I and Bessell's U B V as
/// Johnson's: Bessell (1990) defined them to reproduce those systems.
const ALIASES: &[(&str, &[&str])] = &[
    ("U_Johnson", &["U", "UJ", "Uj", "UBes", "UBessell"]),
    ("B_Johnson", &["B", "BJ", "Bj", "BBes", "BBessell"]),
    ("V_Johnson", &["V", "VJ", "Vj", "VBes", "VBessell"]),
    (
        "R_Cousins",
        &["R", "RC", "Rc", "Rcousins", "RBes", "RBessell", "RKC"],
    ),
    (
        "I_Cousins",
        &["I", "IC", "Ic", "Icousins", "IBes", "IBessell", "IKC"],
    ),
    ("u_SDSS", &["u", "usdss"]),
    ("g_SDSS", &["g", "gsdss"]),
    ("r_SDSS", &["r", "rsdss"]),
    ("i_SDSS", &["i", "isdss"]),
    ("z_SDSS", &["z", "zsdss"]),
    ("g_PS1", &["gP1", "gps1", "gPS"]),
    ("r_PS1", &["rP1", "rps1", "rPS"]),
    ("i_PS1", &["iP1", "ips1", "iPS"]),
    ("z_PS1", &["zP1", "zps1", "zPS"]),
    ("y_PS1", &["y", "yP1", "yps1", "yPS"]),
    ("c_ATLAS", &["c", "cyan", "ATLASc", "ATLAScyan"]),
    ("o_ATLAS", &["o", "orange", "ATLASo", "ATLASorange"]),
];

fn squeeze(name: &str) -> String {
    name.chars()
        .filter(|c| !matches!(c, '_' | ' ' | '-' | '.' | '\'' | '’'))
        .collect()
}

/// The parsed table.
#[derive(Debug, Clone, PartialEq)]
pub struct SunTable {
    pub rows: Vec<SunBand>,
}

static EMBEDDED: OnceLock<Result<SunTable, String>> = OnceLock::new();

impl SunTable {
    /// The table embedded from `data/reference/sun_apparent_magnitudes_willmer2018.csv`,
    /// parsed on first use.
    pub fn embedded() -> Result<&'static SunTable, DustError> {
        EMBEDDED
            .get_or_init(|| SunTable::parse(EMBEDDED_TABLE).map_err(|e| e.to_string()))
            .as_ref()
            .map_err(|message| DustError::SunTable {
                line: 0,
                message: message.clone(),
            })
    }

    /// Parses the CSV format of the reference table: `#` comment lines, a header
    /// `band,vega_mag,ab_mag,st_mag`, then one row per band. A band cell like
    /// `c_ATLAS(derived by …)` gives the band `c_ATLAS` and the note in parentheses.
    pub fn parse(text: &str) -> Result<SunTable, DustError> {
        let mut rows = Vec::new();
        let mut header_seen = false;
        for (index, raw) in text.lines().enumerate() {
            let line_no = index + 1;
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let bad = |message: String| DustError::SunTable {
                line: line_no,
                message,
            };
            if !header_seen {
                let header: Vec<&str> = line.split(',').map(str::trim).collect();
                if header != ["band", "vega_mag", "ab_mag", "st_mag"] {
                    return Err(bad(format!(
                        "expected the header 'band,vega_mag,ab_mag,st_mag', found '{line}'"
                    )));
                }
                header_seen = true;
                continue;
            }
            // The note in parentheses may itself contain commas: split from the right.
            let mut cells = line.rsplitn(4, ',');
            let (Some(st), Some(ab), Some(vega), Some(band_cell)) =
                (cells.next(), cells.next(), cells.next(), cells.next())
            else {
                return Err(bad(format!("expected 4 columns, found '{line}'")));
            };
            let number = |cell: &str, column: &str| {
                cell.trim()
                    .parse::<f64>()
                    .ok()
                    .filter(|v| v.is_finite())
                    .ok_or_else(|| bad(format!("{column} '{}' is not a number", cell.trim())))
            };
            let (band, note) = match band_cell.split_once('(') {
                Some((band, rest)) => (
                    band.trim().to_string(),
                    Some(rest.trim_end_matches(')').trim().to_string()),
                ),
                None => (band_cell.trim().to_string(), None),
            };
            if band.is_empty() {
                return Err(bad("empty band name".to_string()));
            }
            rows.push(SunBand {
                band,
                vega_mag: number(vega, "vega_mag")?,
                ab_mag: number(ab, "ab_mag")?,
                st_mag: number(st, "st_mag")?,
                note,
            });
        }
        if rows.is_empty() {
            return Err(DustError::SunTable {
                line: 0,
                message: "no rows".to_string(),
            });
        }
        Ok(SunTable { rows })
    }

    /// The row for a band name as users type it: a canonical name in any case ("R_Cousins",
    /// "r_sdss", "o_ATLAS") or an alias ("V", "R", "R_C", "Rc", "R_Bes", "r", "r'", "g", "gP1",
    /// "c", "o", "cyan", "orange"; see the table in the source). Unknown names give an error
    /// listing every accepted name.
    pub fn band(&self, name: &str) -> Result<&SunBand, DustError> {
        let wanted = squeeze(name.trim());
        let by_canonical = self
            .rows
            .iter()
            .find(|row| squeeze(&row.band).eq_ignore_ascii_case(&wanted));
        let by_alias = || {
            ALIASES
                .iter()
                .find(|(_, aliases)| aliases.iter().any(|a| *a == wanted))
                .and_then(|(canonical, _)| self.rows.iter().find(|row| row.band == *canonical))
        };
        by_canonical
            .or_else(by_alias)
            .ok_or_else(|| DustError::UnknownBand {
                band: name.trim().to_string(),
                known: self.known_names(),
            })
    }

    /// The Sun's magnitude in `band` and `system`.
    pub fn lookup(&self, band: &str, system: MagSystem) -> Result<SolarMagnitude, DustError> {
        let row = self.band(band)?;
        Ok(SolarMagnitude {
            band: row.band.clone(),
            system,
            mag: row.mag(system),
            source: "Willmer 2018".to_string(),
            note: row.note.clone(),
        })
    }

    /// "V_Johnson (V), R_Cousins (R, RC, Rc, …), …" for error messages and help texts.
    pub fn known_names(&self) -> String {
        self.rows
            .iter()
            .map(|row| {
                let aliases = ALIASES
                    .iter()
                    .find(|(canonical, _)| *canonical == row.band)
                    .map(|(_, aliases)| aliases.join(", "))
                    .unwrap_or_default();
                if aliases.is_empty() {
                    row.band.clone()
                } else {
                    format!("{} ({aliases})", row.band)
                }
            })
            .collect::<Vec<_>>()
            .join("; ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_table_parses_with_all_bands() {
        let table = SunTable::embedded().unwrap();
        assert_eq!(table.rows.len(), 17);
        let atlas_o = table.band("o").unwrap();
        assert_eq!(atlas_o.band, "o_ATLAS");
        assert!(atlas_o.note.as_deref().unwrap_or("").contains("Tonry"));
        assert!(table.band("V").unwrap().note.is_none());
    }

    #[test]
    fn design_values() {
        // DESIGN §4: V −26.76 (Vega), R_C −27.15 (Vega) / −26.97 (AB), r −26.93 (AB).
        let cases = [
            ("V", MagSystem::Vega, -26.76),
            ("R_C", MagSystem::Vega, -27.15),
            ("Rc", MagSystem::Vega, -27.15),
            ("R", MagSystem::Vega, -27.15),
            ("R_Cousins", MagSystem::Ab, -26.97),
            ("r", MagSystem::Ab, -26.93),
            ("r'", MagSystem::Ab, -26.93),
            ("r_PS1", MagSystem::Ab, -26.93),
            ("g", MagSystem::Ab, -26.47),
            ("gP1", MagSystem::Ab, -26.54),
            ("i", MagSystem::Ab, -27.05),
            ("c", MagSystem::Ab, -26.7389),
            ("orange", MagSystem::Vega, -27.2234),
            ("R_Bes", MagSystem::Vega, -27.15),
        ];
        for (band, system, expected) in cases {
            let m = SolarMagnitude::lookup(band, system).unwrap();
            assert_eq!(m.mag, expected, "{band} {system}");
        }
    }

    #[test]
    fn unknown_band_lists_known_ones() {
        let err = SolarMagnitude::lookup("G_Gaia", MagSystem::Vega).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("G_Gaia") && text.contains("R_Cousins") && text.contains("o_ATLAS"));
        assert!(SolarMagnitude::lookup("", MagSystem::Ab).is_err());
    }

    #[test]
    fn systems_parse() {
        assert_eq!(MagSystem::parse("vega").unwrap(), MagSystem::Vega);
        assert_eq!(MagSystem::parse(" AB ").unwrap(), MagSystem::Ab);
        assert!(MagSystem::parse("johnson").is_err());
    }

    #[test]
    fn custom_values_are_checked() {
        assert!(SolarMagnitude::custom("R", MagSystem::Vega, -27.1).is_ok());
        assert!(SolarMagnitude::custom("R", MagSystem::Vega, 27.1).is_err());
        assert!(SolarMagnitude::custom("R", MagSystem::Vega, f64::NAN).is_err());
    }

    #[test]
    fn malformed_tables_are_rejected() {
        assert!(SunTable::parse("band,vega_mag,ab_mag,st_mag\nV,x,1,2\n").is_err());
        assert!(SunTable::parse("nope\n").is_err());
        assert!(SunTable::parse("# only comments\n").is_err());
    }
}
