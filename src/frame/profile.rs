//! Instrument profiles: TOML files that map an instrument's header keywords to cometphot's
//! frame metadata, give detector defaults and say how to classify frame types.
//!
//! Profiles are data (`data/instruments/*.toml`, embedded in the binary at build time by
//! `build.rs`); a new instrument needs a new TOML file, no Rust code. See
//! `data/instruments/README.md` for the format.

use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;
use thiserror::Error;

use super::header::Header;

#[derive(Debug, Error)]
pub enum ProfileError {
    #[error("cannot read instrument profile {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("instrument profile {origin} is not valid: {message}")]
    Invalid { origin: String, message: String },
    #[error("no instrument profile named '{0}' (known: {1})")]
    Unknown(String, String),
}

/// The kind of exposure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FrameType {
    Bias,
    Dark,
    Flat,
    Science,
    Standard,
    /// Wavelength-calibration lamp exposures.
    Arc,
    /// Anything recognised but not used for photometry (e.g. spectroscopy, focus frames).
    Other,
    Unknown,
}

impl FrameType {
    pub fn as_str(&self) -> &'static str {
        match self {
            FrameType::Bias => "bias",
            FrameType::Dark => "dark",
            FrameType::Flat => "flat",
            FrameType::Science => "science",
            FrameType::Standard => "standard",
            FrameType::Arc => "arc",
            FrameType::Other => "other",
            FrameType::Unknown => "unknown",
        }
    }

    /// Frames whose photometry needs a valid time and a positive exposure.
    pub fn is_on_sky(&self) -> bool {
        matches!(self, FrameType::Science | FrameType::Standard)
    }
}

impl fmt::Display for FrameType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where to find one quantity in the header: candidate keywords in order of preference,
/// values that mean "not set" (e.g. filter wheel position `Open`), and a factor to convert
/// the header's unit into cometphot's (e.g. 0.001 for an exposure time in ms).
///
/// In TOML either a list of keywords (`exptime_s = ["EXPTIME", "EXPOSURE"]`) or a table
/// (`filter = { keys = ["FAFLTNM", "FBFLTNM", "ALFLTNM"], skip = ["Open"] }`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct KeySpec {
    pub keys: Vec<String>,
    pub skip: Vec<String>,
    pub scale: f64,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum KeySpecToml {
    List(Vec<String>),
    Table {
        keys: Vec<String>,
        #[serde(default)]
        skip: Vec<String>,
        #[serde(default = "one")]
        scale: f64,
    },
}

fn one() -> f64 {
    1.0
}

impl<'de> Deserialize<'de> for KeySpec {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(match KeySpecToml::deserialize(d)? {
            KeySpecToml::List(keys) => KeySpec {
                keys,
                skip: Vec::new(),
                scale: 1.0,
            },
            KeySpecToml::Table { keys, skip, scale } => KeySpec { keys, skip, scale },
        })
    }
}

/// A value found in the header, with the keyword it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Found<T> {
    pub keyword: String,
    pub value: T,
}

impl KeySpec {
    fn is_skipped(&self, text: &str) -> bool {
        self.skip.iter().any(|s| s.eq_ignore_ascii_case(text))
    }

    /// First keyword present with a non-empty, non-skipped text value.
    pub fn text(&self, header: &Header) -> Option<Found<String>> {
        self.keys.iter().find_map(|k| {
            let t = header.text(k)?;
            (!t.is_empty() && !self.is_skipped(&t)).then(|| Found {
                keyword: k.clone(),
                value: t,
            })
        })
    }

    /// First keyword present; its value converted to a number and scaled. A present but
    /// non-numeric value is returned as `Err` with the keyword and the text.
    pub fn number(&self, header: &Header) -> Option<Result<Found<f64>, Found<String>>> {
        let found = self.text(header)?;
        Some(match header.number(&found.keyword) {
            Some(v) => Ok(Found {
                keyword: found.keyword,
                value: v * self.scale,
            }),
            None => Err(found),
        })
    }

    /// Keyword names joined for messages (`EXPTIME/EXPOSURE`).
    pub fn names(&self) -> String {
        self.keys.join("/")
    }
}

/// How a profile recognises its files: glob patterns (case-insensitive, `*` and `?`) on
/// INSTRUME and TELESCOP. A profile matches when every non-empty list has a match.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Detect {
    #[serde(default)]
    pub instrume: Vec<String>,
    #[serde(default)]
    pub telescop: Vec<String>,
}

/// Keyword mapping for every metadata field.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Keywords {
    #[serde(default)]
    pub object: KeySpec,
    #[serde(default)]
    pub filter: KeySpec,
    #[serde(default)]
    pub exptime_s: KeySpec,
    /// Exposure start: full ISO date-time, or a date completed by `time_obs`.
    #[serde(default)]
    pub date_obs: KeySpec,
    /// Time of day of the exposure start, for headers whose `date_obs` holds only a date.
    #[serde(default)]
    pub time_obs: KeySpec,
    /// Mid-exposure time, preferred over `date_obs` + exposure/2 when present.
    #[serde(default)]
    pub date_avg: KeySpec,
    #[serde(default)]
    pub airmass: KeySpec,
    #[serde(default)]
    pub binning_x: KeySpec,
    #[serde(default)]
    pub binning_y: KeySpec,
    /// Binning written as one string `"x y"` (CCDSUM).
    #[serde(default)]
    pub binning_pair: KeySpec,
    /// Readout window in unbinned detector pixels, `[x1:x2,y1:y2]` (ALFOSC DETWIN1).
    #[serde(default)]
    pub window: KeySpec,
    #[serde(default)]
    pub gain_e_per_adu: KeySpec,
    #[serde(default)]
    pub read_noise_e: KeySpec,
    #[serde(default)]
    pub saturation_adu: KeySpec,
    #[serde(default)]
    pub overscan_section: KeySpec,
    #[serde(default)]
    pub data_section: KeySpec,
    #[serde(default)]
    pub detector_section: KeySpec,
    /// Photometric zero point written by another pipeline: the magnitude of a source giving
    /// 1 ADU/s (e.g. PHOTZP, MAGZPT); cometphot converts it to e⁻/s with the gain.
    #[serde(default)]
    pub zero_point_adu_mag: KeySpec,
    /// Observatory position, geocentric Cartesian (m): three keywords X, Y, Z.
    #[serde(default)]
    pub obsgeo_m: Vec<String>,
}

/// Detector facts used when the header lacks them.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Defaults {
    pub gain_e_per_adu: Option<f64>,
    pub read_noise_e: Option<f64>,
    pub saturation_adu: Option<f64>,
    /// Unbinned pixel scale.
    pub pixel_scale_arcsec: Option<f64>,
    /// Overscan/prescan region when the header has none, in the same coordinates as the
    /// header sections (see `sections_in_detector_pixels`).
    pub overscan_section: Option<String>,
    pub data_section: Option<String>,
}

/// Frame layout conventions.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Layout {
    /// Sections are given in unbinned full-detector pixels and must be mapped through the
    /// readout window and binning into the image (ALFOSC: BIASSEC of a windowed frame).
    #[serde(default)]
    pub sections_in_detector_pixels: bool,
}

/// One frame-type rule: every keyword in `when` must match one of its glob patterns, and the
/// exposure time must lie within the optional limits. Rules are tried in order.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClassifyRule {
    pub frame_type: FrameType,
    pub when: BTreeMap<String, Vec<String>>,
    pub exptime_max_s: Option<f64>,
    pub exptime_min_s: Option<f64>,
}

/// An instrument profile (one TOML file).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstrumentProfile {
    /// Short name used on the command line and in tables (`alfosc`).
    pub name: String,
    pub description: String,
    #[serde(default)]
    pub detect: Detect,
    #[serde(default)]
    pub keywords: Keywords,
    #[serde(default)]
    pub defaults: Defaults,
    #[serde(default)]
    pub layout: Layout,
    #[serde(default)]
    pub classify: Vec<ClassifyRule>,
}

impl InstrumentProfile {
    pub fn from_toml(text: &str, origin: &str) -> Result<Self, ProfileError> {
        let profile: InstrumentProfile =
            toml::from_str(text).map_err(|e| ProfileError::Invalid {
                origin: origin.to_string(),
                message: e.to_string(),
            })?;
        if profile.name.trim().is_empty() {
            return Err(ProfileError::Invalid {
                origin: origin.to_string(),
                message: "`name` is empty".into(),
            });
        }
        Ok(profile)
    }

    pub fn from_file(path: &Path) -> Result<Self, ProfileError> {
        let text = std::fs::read_to_string(path).map_err(|source| ProfileError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Self::from_toml(&text, &path.display().to_string())
    }

    /// True when the header's INSTRUME/TELESCOP match this profile's detection patterns.
    /// A profile with no patterns (the generic one) never matches by detection.
    pub fn detects(&self, header: &Header) -> bool {
        let d = &self.detect;
        if d.instrume.is_empty() && d.telescop.is_empty() {
            return false;
        }
        let matches = |patterns: &[String], key: &str| {
            patterns.is_empty()
                || header
                    .text(key)
                    .is_some_and(|v| patterns.iter().any(|p| glob_match(p, &v)))
        };
        matches(&d.instrume, "INSTRUME") && matches(&d.telescop, "TELESCOP")
    }

    /// Frame type from the first rule that matches, with a description of why.
    pub fn classify(&self, header: &Header, exptime_s: Option<f64>) -> (FrameType, String) {
        for rule in &self.classify {
            let keywords_match = rule.when.iter().all(|(key, patterns)| {
                header
                    .text(key)
                    .is_some_and(|v| patterns.iter().any(|p| glob_match(p, &v)))
            });
            let exptime_ok = match (rule.exptime_min_s, rule.exptime_max_s, exptime_s) {
                (None, None, _) => true,
                (min, max, Some(t)) => min.is_none_or(|m| t >= m) && max.is_none_or(|m| t <= m),
                (_, _, None) => false,
            };
            if keywords_match && exptime_ok {
                let why = rule
                    .when
                    .keys()
                    .map(|k| format!("{k}='{}'", header.text(k).unwrap_or_default()))
                    .collect::<Vec<_>>()
                    .join(", ");
                return (rule.frame_type, why);
            }
        }
        (FrameType::Unknown, String::new())
    }
}

/// Case-insensitive glob match with `*` (any run) and `?` (one character); surrounding
/// blanks of the value are ignored.
pub fn glob_match(pattern: &str, value: &str) -> bool {
    let p: Vec<char> = pattern.to_lowercase().chars().collect();
    let v: Vec<char> = value.trim().to_lowercase().chars().collect();
    let (mut pi, mut vi) = (0, 0);
    let mut backtrack: Option<(usize, usize)> = None;
    while vi < v.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == v[vi]) {
            pi += 1;
            vi += 1;
        } else if pi < p.len() && p[pi] == '*' {
            backtrack = Some((pi, vi));
            pi += 1;
        } else if let Some((star, matched)) = backtrack {
            pi = star + 1;
            vi = matched + 1;
            backtrack = Some((star, matched + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

/// The profiles shipped in `data/instruments/`, embedded at build time.
mod shipped {
    include!(concat!(env!("OUT_DIR"), "/shipped_profiles.rs"));
}

/// The set of profiles in use: shipped ones plus any the user adds, and the generic fallback.
#[derive(Debug, Clone)]
pub struct ProfileRegistry {
    profiles: Vec<InstrumentProfile>,
}

/// Name of the fallback profile.
pub const GENERIC: &str = "generic";

impl ProfileRegistry {
    /// The profiles shipped with cometphot.
    pub fn shipped() -> Result<Self, ProfileError> {
        let profiles = shipped::PROFILES
            .iter()
            .map(|(file, text)| InstrumentProfile::from_toml(text, file))
            .collect::<Result<Vec<_>, _>>()?;
        let registry = ProfileRegistry { profiles };
        registry.by_name(GENERIC)?;
        Ok(registry)
    }

    /// Adds (or replaces, by name) a profile; user profiles are tried before shipped ones.
    pub fn add(&mut self, profile: InstrumentProfile) {
        self.profiles.retain(|p| p.name != profile.name);
        self.profiles.insert(0, profile);
    }

    pub fn names(&self) -> Vec<&str> {
        self.profiles.iter().map(|p| p.name.as_str()).collect()
    }

    pub fn by_name(&self, name: &str) -> Result<&InstrumentProfile, ProfileError> {
        self.profiles
            .iter()
            .find(|p| p.name.eq_ignore_ascii_case(name))
            .ok_or_else(|| ProfileError::Unknown(name.to_string(), self.names().join(", ")))
    }

    /// The profile whose detection patterns match, or `None`.
    pub fn detect(&self, header: &Header) -> Option<&InstrumentProfile> {
        self.profiles.iter().find(|p| p.detects(header))
    }

    pub fn generic(&self) -> &InstrumentProfile {
        self.profiles
            .iter()
            .find(|p| p.name == GENERIC)
            .unwrap_or(&self.profiles[0])
    }
}

/// How the profile for a file is chosen.
#[derive(Debug, Clone)]
pub enum ProfileChoice {
    /// Detect from INSTRUME/TELESCOP, falling back to the generic profile.
    Detect,
    /// Use this profile for every file (`--instrument`).
    Fixed(Box<InstrumentProfile>),
}

impl ProfileChoice {
    /// Parses `--instrument`: a shipped profile name or a path to a TOML file.
    pub fn from_arg(arg: &str, registry: &ProfileRegistry) -> Result<Self, ProfileError> {
        if arg.ends_with(".toml") || Path::new(arg).is_file() {
            Ok(ProfileChoice::Fixed(Box::new(
                InstrumentProfile::from_file(Path::new(arg))?,
            )))
        } else {
            Ok(ProfileChoice::Fixed(Box::new(
                registry.by_name(arg)?.clone(),
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob() {
        assert!(glob_match("ALFOSC*", "ALFOSC_FASU"));
        assert!(glob_match("flat*", "FLAT,SKY"));
        assert!(glob_match("fa??", "fa05    "));
        assert!(!glob_match("fa??", "fa005"));
        assert!(glob_match("*", ""));
        assert!(glob_match("*sky*", "twilight SKY flat"));
        assert!(!glob_match("bias", "biases"));
    }

    #[test]
    fn shipped_profiles_parse() {
        let r = ProfileRegistry::shipped().unwrap();
        for name in [
            "alfosc", "efosc2", "sinistro", "saao1m", "neossat", "generic",
        ] {
            assert!(r.by_name(name).is_ok(), "missing profile {name}");
        }
        assert!(matches!(r.by_name("nope"), Err(ProfileError::Unknown(..))));
    }

    #[test]
    fn invalid_profile_names_the_origin() {
        let err = InstrumentProfile::from_toml("name = 'x'\ndescription='y'\nbogus = 1", "my.toml")
            .unwrap_err();
        assert!(err.to_string().contains("my.toml"), "{err}");
    }
}
