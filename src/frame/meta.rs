//! Typed frame metadata extracted from a (merged) header through an instrument profile.

use super::header::Header;
use super::profile::{FrameType, InstrumentProfile, KeySpec, GENERIC};
use super::section::Section;
use crate::ephem::time::UtcInstant;
use crate::wcs::TanWcs;

/// On-chip binning (columns, rows).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Binning {
    pub x: u32,
    pub y: u32,
}

impl std::fmt::Display for Binning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}x{}", self.x, self.y)
    }
}

/// How serious a metadata problem is: a warning keeps the frame usable; an error makes it
/// unusable for the pipeline (it is skipped with this message).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Warning,
    Error,
}

/// A problem found in the header, naming the keyword.
#[derive(Debug, Clone, PartialEq)]
pub struct MetaProblem {
    pub severity: Severity,
    pub keyword: String,
    pub message: String,
}

/// Typed metadata of one image HDU.
#[derive(Debug, Clone, PartialEq)]
pub struct FrameMeta {
    /// Name of the instrument profile used.
    pub instrument: String,
    pub frame_type: FrameType,
    /// Keywords and values that decided the frame type.
    pub frame_type_reason: String,
    pub object: Option<String>,
    pub filter: Option<String>,
    pub exptime_s: Option<f64>,
    /// Exposure start (UTC).
    pub date_obs_utc: Option<UtcInstant>,
    /// Mid-exposure (UTC): DATE-AVG, or DATE-OBS + exposure/2.
    pub mid_exposure_utc: Option<UtcInstant>,
    pub airmass: Option<f64>,
    pub binning: Binning,
    /// Readout window in unbinned detector pixels (ALFOSC DETWIN1).
    pub window: Option<Section>,
    pub gain_e_per_adu: Option<f64>,
    pub read_noise_e: Option<f64>,
    pub saturation_adu: Option<f64>,
    /// Overscan/prescan region in this image's pixels (None if the image has none).
    pub overscan_section: Option<Section>,
    /// Light-sensitive region in this image's pixels.
    pub data_section: Option<Section>,
    /// Where this image (amplifier) sits on the detector mosaic (DETSEC), if given.
    pub detector_section: Option<Section>,
    /// Binned pixel scale (arcsec/px): from the WCS when present, else the profile's.
    pub pixel_scale_arcsec: Option<f64>,
    pub wcs: Option<TanWcs>,
    /// Observatory position, geocentric Cartesian (m), from OBSGEO-X/Y/Z.
    pub obsgeo_m: Option<[f64; 3]>,
    /// Zero point from the header (the profile's `zero_point_adu_mag` keywords): magnitude
    /// of a source giving 1 ADU/s.
    pub zero_point_adu_mag: Option<f64>,
}

impl FrameMeta {
    pub fn has_wcs(&self) -> bool {
        self.wcs.is_some()
    }
}

/// Collects problems while reading keywords.
struct Reader<'a> {
    header: &'a Header,
    problems: Vec<MetaProblem>,
}

impl Reader<'_> {
    fn problem(&mut self, severity: Severity, keyword: &str, message: String) {
        self.problems.push(MetaProblem {
            severity,
            keyword: keyword.to_string(),
            message,
        });
    }

    fn text(&self, spec: &KeySpec) -> Option<String> {
        spec.text(self.header).map(|f| f.value)
    }

    /// A number; a present but non-numeric value is reported with `severity`.
    fn number(&mut self, spec: &KeySpec, severity: Severity) -> Option<(String, f64)> {
        match spec.number(self.header)? {
            Ok(found) => Some((found.keyword, found.value)),
            Err(bad) => {
                self.problem(
                    severity,
                    &bad.keyword,
                    format!("keyword {} = '{}' is not a number", bad.keyword, bad.value),
                );
                None
            }
        }
    }

    fn section(&mut self, spec: &KeySpec) -> Option<Section> {
        let found = spec.text(self.header)?;
        let section = Section::parse(&found.value);
        if section.is_none() && !found.value.eq_ignore_ascii_case("UNKNOWN") {
            self.problem(
                Severity::Warning,
                &found.keyword,
                format!(
                    "keyword {} = '{}' is not an image section [x1:x2,y1:y2]",
                    found.keyword, found.value
                ),
            );
        }
        section
    }
}

/// Extracts metadata from a merged header. `width`/`height` are the image's NAXIS1/NAXIS2.
/// Returns the metadata and the problems found; an `Error` problem makes the frame unusable.
pub fn extract_meta(
    header: &Header,
    profile: &InstrumentProfile,
    width: usize,
    height: usize,
) -> (FrameMeta, Vec<MetaProblem>) {
    let kw = &profile.keywords;
    let mut r = Reader {
        header,
        problems: Vec::new(),
    };

    let exptime = r.number(&kw.exptime_s, Severity::Error);
    let exptime_s = exptime.as_ref().map(|(_, v)| *v);
    let (frame_type, frame_type_reason) = profile.classify(header, exptime_s);

    let on_sky = frame_type.is_on_sky();
    let needs_exposure = on_sky || frame_type == FrameType::Flat;
    let missing_severity = if on_sky {
        Severity::Error
    } else {
        Severity::Warning
    };

    match &exptime {
        None if needs_exposure => r.problem(
            Severity::Error,
            &kw.exptime_s.names(),
            format!(
                "no exposure time keyword ({}) in a {frame_type} frame",
                kw.exptime_s.names()
            ),
        ),
        Some((key, t)) if *t < 0.0 || (needs_exposure && *t == 0.0) => r.problem(
            Severity::Error,
            key,
            format!("keyword {key} = {t} s: a {frame_type} frame needs a positive exposure time"),
        ),
        _ => {}
    }

    let date_obs_utc = read_start_time(&mut r, profile, missing_severity);
    let date_avg = read_time_keyword(&mut r, &kw.date_avg, missing_severity);
    let mid_exposure_utc =
        date_avg.or_else(|| date_obs_utc.map(|t| t.plus_seconds(exptime_s.unwrap_or(0.0) / 2.0)));
    if mid_exposure_utc.is_none() && !r.problems.iter().any(|p| p.severity == Severity::Error) {
        let keys = [kw.date_avg.names(), kw.date_obs.names()]
            .into_iter()
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join("/");
        r.problem(
            missing_severity,
            &keys,
            format!("no observation time keyword ({keys}) in a {frame_type} frame"),
        );
    }

    let airmass = r.number(&kw.airmass, Severity::Warning).map(|(_, v)| v);
    if let Some(a) = airmass {
        if a < 1.0 && on_sky {
            r.problem(
                Severity::Warning,
                &kw.airmass.names(),
                format!("airmass {a} is below 1"),
            );
        }
    }

    let binning = read_binning(&mut r, profile);
    let window = r.section(&kw.window);
    let gain_e_per_adu = r
        .number(&kw.gain_e_per_adu, Severity::Warning)
        .map(|(_, v)| v)
        .filter(|g| *g > 0.0)
        .or(profile.defaults.gain_e_per_adu);
    let read_noise_e = r
        .number(&kw.read_noise_e, Severity::Warning)
        .map(|(_, v)| v)
        .or(profile.defaults.read_noise_e);
    let zero_point_adu_mag = r
        .number(&kw.zero_point_adu_mag, Severity::Warning)
        .map(|(_, v)| v)
        .filter(|zp| zp.is_finite());
    let saturation_adu = r
        .number(&kw.saturation_adu, Severity::Warning)
        .map(|(_, v)| v)
        .filter(|s| *s > 0.0)
        .or(profile.defaults.saturation_adu);

    let mut overscan = r.section(&kw.overscan_section).or_else(|| {
        profile
            .defaults
            .overscan_section
            .as_deref()
            .and_then(Section::parse)
    });
    let mut data_section = r.section(&kw.data_section).or_else(|| {
        profile
            .defaults
            .data_section
            .as_deref()
            .and_then(Section::parse)
    });
    // Sections are clipped to the image (NEOSSat's BIASSEC spans 1020 rows of a 708-row
    // readout); in detector pixels they are first mapped through the window and binning.
    let (origin, scale) = if profile.layout.sections_in_detector_pixels {
        let origin = window.as_ref().map(|w| (w.x.start, w.y.start));
        (origin.unwrap_or((0, 0)), binning)
    } else {
        ((0, 0), Binning { x: 1, y: 1 })
    };
    overscan = overscan.and_then(|s| detector_to_image(&s, origin, scale, width, height));
    data_section = data_section.and_then(|s| detector_to_image(&s, origin, scale, width, height));
    let detector_section = r.section(&kw.detector_section);

    let wcs = TanWcs::from_header(header);
    let pixel_scale_arcsec = wcs.as_ref().map(TanWcs::scale_arcsec_per_px).or(profile
        .defaults
        .pixel_scale_arcsec
        .map(|s| s * f64::from(binning.x)));

    let obsgeo_m = read_obsgeo(header, &kw.obsgeo_m);

    if profile.name == GENERIC {
        let instrume = header.text("INSTRUME").unwrap_or_default();
        let telescop = header.text("TELESCOP").unwrap_or_default();
        r.problem(
            Severity::Warning,
            "INSTRUME",
            format!(
                "unknown instrument (INSTRUME='{instrume}', TELESCOP='{telescop}'): read with the \
                 generic profile; add a profile in data/instruments/ or pass --instrument"
            ),
        );
    }
    if frame_type == FrameType::Unknown {
        r.problem(
            Severity::Warning,
            "IMAGETYP",
            format!(
                "frame type not recognised by the '{}' profile's rules",
                profile.name
            ),
        );
    }

    let meta = FrameMeta {
        instrument: profile.name.clone(),
        frame_type,
        frame_type_reason,
        object: r.text(&kw.object),
        filter: r.text(&kw.filter),
        exptime_s,
        date_obs_utc,
        mid_exposure_utc,
        airmass,
        binning,
        window,
        gain_e_per_adu,
        read_noise_e,
        saturation_adu,
        overscan_section: overscan,
        data_section,
        detector_section,
        pixel_scale_arcsec,
        wcs,
        obsgeo_m,
        zero_point_adu_mag,
    };
    (meta, r.problems)
}

fn read_time_keyword(r: &mut Reader, spec: &KeySpec, severity: Severity) -> Option<UtcInstant> {
    let found = spec.text(r.header)?;
    match UtcInstant::parse_iso(&found.value) {
        Ok(t) => Some(t),
        Err(e) => {
            r.problem(
                severity,
                &found.keyword,
                format!("keyword {}: {e}", found.keyword),
            );
            None
        }
    }
}

/// Exposure start: an ISO date-time, or a date completed by the profile's time-of-day keyword.
fn read_start_time(
    r: &mut Reader,
    profile: &InstrumentProfile,
    severity: Severity,
) -> Option<UtcInstant> {
    let kw = &profile.keywords;
    let date = kw.date_obs.text(r.header)?;
    let has_time = date.value.contains(['T', ' ']) && date.value.len() > 10;
    if !has_time {
        if let Some(time) = kw.time_obs.text(r.header) {
            return match UtcInstant::parse_date_and_time(&date.value, &time.value) {
                Ok(t) => Some(t),
                Err(e) => {
                    r.problem(
                        severity,
                        &format!("{}/{}", date.keyword, time.keyword),
                        format!("keywords {} and {}: {e}", date.keyword, time.keyword),
                    );
                    None
                }
            };
        }
    }
    read_time_keyword(r, &kw.date_obs, severity)
}

fn read_binning(r: &mut Reader, profile: &InstrumentProfile) -> Binning {
    let kw = &profile.keywords;
    let as_bin = |v: f64| (v >= 1.0 && v.fract() == 0.0).then_some(v as u32);
    let x = r
        .number(&kw.binning_x, Severity::Warning)
        .and_then(|(_, v)| as_bin(v));
    let y = r
        .number(&kw.binning_y, Severity::Warning)
        .and_then(|(_, v)| as_bin(v));
    let pair = r.text(&kw.binning_pair).and_then(|s| {
        let mut it = s.split_whitespace().map(|t| t.parse::<u32>().ok());
        match (it.next().flatten(), it.next().flatten()) {
            (Some(a), Some(b)) if a >= 1 && b >= 1 => Some((a, b)),
            _ => None,
        }
    });
    Binning {
        x: x.or(pair.map(|p| p.0)).unwrap_or(1),
        y: y.or(pair.map(|p| p.1)).unwrap_or(1),
    }
}

fn read_obsgeo(header: &Header, keys: &[String]) -> Option<[f64; 3]> {
    if keys.len() != 3 {
        return None;
    }
    Some([
        header.number(&keys[0])?,
        header.number(&keys[1])?,
        header.number(&keys[2])?,
    ])
}

/// Maps a section in unbinned full-detector pixels into a windowed, binned image whose first
/// pixel is detector pixel `origin` (0-based). Returns the part inside the image, if any.
pub fn detector_to_image(
    section: &Section,
    origin: (usize, usize),
    binning: Binning,
    width: usize,
    height: usize,
) -> Option<Section> {
    let map = |r: &std::ops::Range<usize>, o: usize, b: usize, n: usize| {
        let start = r.start.max(o) - o;
        let end = r.end.saturating_sub(o);
        let (start, end) = (start.div_ceil(b), (end / b).min(n));
        (start < end).then_some(start..end)
    };
    Some(Section {
        x: map(&section.x, origin.0, binning.x as usize, width)?,
        y: map(&section.y, origin.1, binning.y as usize, height)?,
        x_flipped: section.x_flipped,
        y_flipped: section.y_flipped,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detector_sections_map_through_window_and_binning() {
        let biassec = Section::parse("[3:52,1:2102]").unwrap();
        let one = Binning { x: 1, y: 1 };
        // Full frame: unchanged.
        let s = detector_to_image(&biassec, (0, 0), one, 2148, 2102).unwrap();
        assert_eq!((s.x, s.y), (2..52, 0..2102));
        // ALAb170110: window [851:1250,1:2102], binning 1x2: the prescan is not in the image.
        let bin12 = Binning { x: 1, y: 2 };
        assert!(detector_to_image(&biassec, (850, 0), bin12, 400, 1051).is_none());
        // A window starting at column 1 keeps the prescan; 2x2 binning halves it.
        let bin22 = Binning { x: 2, y: 2 };
        let s = detector_to_image(&biassec, (0, 0), bin22, 200, 200).unwrap();
        assert_eq!((s.x, s.y), (1..26, 0..200));
    }
}
