//! Property tests and a proptest-driven fuzzer (issue 9, item 4):
//!
//! - aperture geometry: exact pixel overlaps lie in [0, 1]; the overlaps of a circle or an
//!   annulus that lies inside the image add up to its area to 1e-9; a flat image gives
//!   value × πr² whatever the sub-pixel position of the aperture;
//! - header values: the card parser, numbers, DATE-OBS and image sections never panic on
//!   arbitrary text and give back what the writer (or the FITS standard's card format) put in;
//! - FITS reading: arbitrary bytes, and valid files written by cometphot's own writer then
//!   truncated or mutated (bytes flipped, structural keywords replaced, blocks removed), read
//!   through the entry points `scan` and `reduce` use, never panic or abort: unreadable input
//!   is an `Err` (or an error row).
//!
//! Each property runs a bounded number of cases (a few seconds each in CI). `PROPTEST_CASES=N`
//! overrides the number of cases of every property for longer local runs, e.g.
//! `PROPTEST_CASES=20000 cargo test --release --test properties fuzz_`.

use std::f64::consts::PI;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use cometphot::ephem::time::UtcInstant;
use cometphot::frame::header::{parse_card, parse_number, Header, HeaderValue};
use cometphot::frame::meta::extract_meta;
use cometphot::frame::profile::{ProfileChoice, ProfileRegistry};
use cometphot::frame::read::{read_frame, FitsSource};
use cometphot::frame::section::Section;
use cometphot::frame::write::{fits_real, write_image_fits, HduLayout, PixelData};
use cometphot::image::Image;
use cometphot::photometry::aperture::{
    measure, measure_radii, pixel_overlap, CircularAnnulus, CircularAperture, MeasureOptions,
};
use cometphot::scan::{scan_file, PixelReads, ScanOptions, ScanStatus};
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;

/// `cases` unless `PROPTEST_CASES` is set.
fn config(cases: u32) -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(cases);
    ProptestConfig {
        cases,
        failure_persistence: Some(Box::new(FileFailurePersistence::SourceParallel(
            "proptest-regressions",
        ))),
        ..ProptestConfig::default()
    }
}

// ---------------------------------------------------------------------------------------------
// Aperture geometry

/// A square image large enough to hold a disc of radius `r` centred at (x, y) with a margin,
/// where (x, y) is `r + margin + frac`.
fn inside_image(r: f64, fx: f64, fy: f64) -> (f64, f64, usize) {
    let margin = 2.0;
    let x = r + margin + fx;
    let y = r + margin + fy;
    let n = (2.0 * (r + margin) + 2.0).ceil() as usize;
    (x, y, n)
}

fn all_weights_in_unit_interval(
    w: &cometphot::photometry::aperture::ApertureWeights,
) -> Result<(), TestCaseError> {
    let (x0, y0, nx, ny) = w.bbox();
    for y in y0..y0 + ny {
        for x in x0..x0 + nx {
            let v = w.get(x, y);
            prop_assert!((0.0..=1.0).contains(&v), "weight {v} at ({x}, {y})");
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(config(2000))]

    #[test]
    fn pixel_overlap_is_a_fraction(dx in -60.0f64..60.0, dy in -60.0f64..60.0, r in 0.1f64..50.0) {
        let f = pixel_overlap(dx, dy, r);
        prop_assert!((0.0..=1.0).contains(&f), "overlap {f}");
        // Symmetric under reflections and the swap of the axes.
        prop_assert_eq!(f, pixel_overlap(-dx, dy, r));
        prop_assert_eq!(f, pixel_overlap(dx, -dy, r));
        prop_assert!((f - pixel_overlap(dy, dx, r)).abs() <= 1e-12);
        // Monotonic in the radius.
        prop_assert!(pixel_overlap(dx, dy, r * 1.01) >= f - 1e-12);
    }
}

proptest! {
    #![proptest_config(config(300))]

    #[test]
    fn circle_overlaps_sum_to_its_area(r in 0.1f64..50.0, fx in 0.0f64..1.0, fy in 0.0f64..1.0) {
        let (x, y, n) = inside_image(r, fx, fy);
        let ap = CircularAperture::new(x, y, r).unwrap();
        let w = ap.weights(n, n);
        prop_assert!(!w.is_truncated());
        all_weights_in_unit_interval(&w)?;
        let area = PI * r * r;
        let rel = (w.total() - area).abs() / area;
        prop_assert!(rel < 1e-9, "Σ w = {} vs πr² = {area} (rel {rel:e})", w.total());
    }

    #[test]
    fn annulus_overlaps_sum_to_its_area(
        r_out in 0.2f64..50.0,
        inner_fraction in 0.0f64..0.98,
        fx in 0.0f64..1.0,
        fy in 0.0f64..1.0,
    ) {
        let r_in = r_out * inner_fraction;
        let (x, y, n) = inside_image(r_out, fx, fy);
        let an = CircularAnnulus::new(x, y, r_in, r_out).unwrap();
        prop_assert!(!an.is_truncated(n, n));
        let w = an.weights(n, n);
        all_weights_in_unit_interval(&w)?;
        let area = PI * (r_out * r_out - r_in * r_in);
        prop_assert!((an.area() - area).abs() <= 1e-12 * area);
        // Each pixel's weight is a difference of two exact overlaps, each rounded to ~1e-16
        // of 1 px²: the error of the sum scales with the outer disc, not the annulus.
        let rel = (w.total() - area).abs() / area;
        prop_assert!(rel < 1e-9, "Σ w = {} vs π(r_out² − r_in²) = {area} (rel {rel:e})", w.total());
    }

    #[test]
    fn flat_image_flux_is_conserved_under_subpixel_shifts(
        r in 0.1f64..40.0,
        value in prop_oneof![-1e4f32..-1e-3, 1e-3f32..1e5],
        shifts in proptest::collection::vec((-0.5f64..0.5, -0.5f64..0.5), 1..4),
    ) {
        let (x, y, n) = inside_image(r, 0.5, 0.5);
        let image = Image::filled(n, n, value);
        let expected = f64::from(value) * PI * r * r;
        let options = MeasureOptions::default();
        for (dx, dy) in shifts {
            let m = measure_radii(&image, x + dx, y + dy, &[r], None, &options).unwrap().remove(0);
            let rel = (m.sum - expected).abs() / expected.abs();
            prop_assert!(rel < 1e-9, "shift ({dx}, {dy}): sum {} vs value × πr² {expected} (rel {rel:e})", m.sum);
            prop_assert!(((m.area_px - PI * r * r) / (PI * r * r)).abs() < 1e-9);
            prop_assert_eq!(m.flags, 0);
        }
    }

    #[test]
    fn flat_image_has_zero_net_flux_with_an_annulus(
        r in 0.5f64..15.0,
        value in 1.0f32..1e4,
        dx in -0.5f64..0.5,
        dy in -0.5f64..0.5,
    ) {
        let r_out = 2.0 * r + 10.0;
        let (x, y, n) = inside_image(r_out, 0.5 + dx, 0.5 + dy);
        let image = Image::filled(n, n, value);
        let ap = CircularAperture::new(x, y, r).unwrap();
        let an = CircularAnnulus::new(x, y, r + 3.0, r_out).unwrap();
        let m = measure(&image, &ap, Some(&an), &MeasureOptions::default()).unwrap();
        prop_assert_eq!(m.bkg_per_px, f64::from(value));
        prop_assert!(m.net.abs() <= 1e-9 * f64::from(value) * PI * r * r, "net {}", m.net);
    }
}

// ---------------------------------------------------------------------------------------------
// Header value parsers

/// Card text in the FITS fixed format (standard 4.0 §4.2): keyword in columns 1–8, `= ` in
/// 9–10, a fixed-format value right-justified to column 30, then ` / comment`.
fn fixed_card(key: &str, value: &str, comment: &str) -> String {
    let text = if comment.is_empty() {
        format!("{key:<8}= {value:>20}")
    } else {
        format!("{key:<8}= {value:>20} / {comment}")
    };
    format!("{text:<80}")
}

/// A FITS character string value: quotes doubled, at least 8 characters inside the quotes.
fn quoted(s: &str) -> String {
    format!("'{:<8}'", s.replace('\'', "''"))
}

fn keyword() -> impl Strategy<Value = String> {
    "[A-Z][A-Z0-9_-]{0,7}".prop_filter("reserved keywords", |k| {
        !matches!(
            k.as_str(),
            "END" | "COMMENT" | "HISTORY" | "CONTINUE" | "HIERARCH"
        )
    })
}

/// Printable ASCII without trailing blanks (not significant in FITS strings).
fn fits_string(max: usize) -> impl Strategy<Value = String> {
    proptest::string::string_regex(&format!("[ -~]{{0,{max}}}"))
        .unwrap()
        .prop_map(|s| s.trim_end().to_string())
}

proptest! {
    #![proptest_config(config(3000))]

    #[test]
    fn card_parser_never_panics(text in ".{0,100}") {
        let card = parse_card(&text);
        let _ = card.value.as_f64();
        let _ = card.value.as_text();
    }

    #[test]
    fn card_parser_never_panics_on_card_like_text(
        key in "[ -~]{0,8}",
        sep in prop_oneof![Just("= "), Just("="), Just(" ="), Just("  ")],
        rest in "[ -~\u{80}-\u{10ffff}]{0,75}",
    ) {
        let _ = parse_card(&format!("{key:<8}{sep}{rest}"));
        let _ = parse_card(&format!("HIERARCH {key}{sep}{rest}"));
    }

    #[test]
    fn header_from_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..800)) {
        let text = String::from_utf8_lossy(&bytes);
        let h = Header::from_card_images(&text);
        for c in h.cards() {
            let _ = h.text(&c.key);
            let _ = h.number(&c.key);
        }
    }

    #[test]
    fn numbers_never_panic(text in ".{0,40}") {
        if let Some(x) = parse_number(&text) {
            prop_assert!(x.is_finite());
        }
    }

    #[test]
    fn reals_round_trip(x in any::<f64>().prop_filter("finite", |x| x.is_finite())) {
        let text = fits_real(x).unwrap();
        prop_assert_eq!(parse_number(&text), Some(x));
        prop_assert_eq!(parse_number(&text.replace('E', "D")), Some(x));
        let card = parse_card(&fixed_card("EXPTIME", &text, "[s]"));
        prop_assert_eq!(card.value.as_f64(), Some(x));
        prop_assert_eq!(card.comment, "[s]");
    }

    #[test]
    fn integers_round_trip(key in keyword(), i in any::<i64>()) {
        let card = parse_card(&fixed_card(&key, &i.to_string(), "count"));
        prop_assert_eq!(&card.key, &key);
        prop_assert_eq!(card.value, HeaderValue::Int(i));
    }

    #[test]
    fn logicals_round_trip(key in keyword(), b in any::<bool>()) {
        let card = parse_card(&fixed_card(&key, if b { "T" } else { "F" }, ""));
        prop_assert_eq!(card.value, HeaderValue::Bool(b));
    }

    #[test]
    fn strings_round_trip(key in keyword(), s in fits_string(60), comment in "[ -.0-~]{0,10}") {
        let image = format!("{:<80}", format!("{key:<8}= {} / {comment}", quoted(&s)));
        let card = parse_card(&image);
        prop_assert_eq!(card.value, HeaderValue::Str(s.clone()));
        prop_assert_eq!(card.comment, comment.trim());
    }

    #[test]
    fn iso_dates_never_panic(text in ".{0,40}", time in ".{0,20}") {
        if let Ok(t) = UtcInstant::parse_iso(&text) {
            prop_assert!(t.mjd().is_finite());
        }
        if let Ok(t) = UtcInstant::parse_date_and_time(&text, &time) {
            prop_assert!(t.mjd().is_finite());
        }
    }

    #[test]
    fn date_like_text_never_panics(
        y in "[-+0-9 ]{0,6}", mo in "[-+0-9 ]{0,3}", d in "[-+0-9 ]{0,3}",
        sep in prop_oneof![Just("T"), Just(" "), Just("t"), Just("")],
        h in "[-+0-9a-z. ]{0,3}", mi in "[-+0-9 ]{0,3}", s in "[-+0-9.eEinfaN ]{0,8}",
    ) {
        let text = format!("{y}-{mo}-{d}{sep}{h}:{mi}:{s}");
        if let Ok(t) = UtcInstant::parse_iso(&text) {
            prop_assert!(t.mjd().is_finite(), "{text}");
        }
        if let Ok(t) = UtcInstant::parse_date_and_time(&format!("{y}-{mo}-{d}"), &format!("{h}:{mi}:{s}")) {
            prop_assert!(t.mjd().is_finite(), "{text}");
        }
    }

    #[test]
    fn dates_round_trip(
        year in 1900i64..2100, month in 1i64..=12, day in 1i64..=28,
        hour in 0i64..24, minute in 0i64..60, millis in 0u32..60_000,
        separator in prop_oneof![Just('T'), Just(' ')],
    ) {
        let second = f64::from(millis) / 1000.0;
        let text = format!("{year:04}-{month:02}-{day:02}{separator}{hour:02}:{minute:02}:{second:06.3}");
        let t = UtcInstant::parse_iso(&text).unwrap();
        let expected = UtcInstant::from_calendar(year, month, day, hour, minute, second);
        prop_assert!((t.mjd() - expected.mjd()).abs() * 86400.0 < 1e-6);
        prop_assert_eq!(t.to_string(), text.replace(' ', "T"));
        let again = UtcInstant::parse_iso(&t.to_string()).unwrap();
        prop_assert_eq!(again.to_string(), t.to_string());
        // Date and time of day in separate keywords (SAAO's UT, LCO's UTSTART).
        let split = UtcInstant::parse_date_and_time(
            &format!("{year:04}-{month:02}-{day:02}"),
            &format!("{hour:02}:{minute:02}:{second:06.3}"),
        ).unwrap();
        prop_assert_eq!(split.to_string(), t.to_string());
    }

    #[test]
    fn sections_never_panic_and_round_trip(
        text in ".{0,30}",
        x1 in 1usize..100_000, x2 in 1usize..100_000, y1 in 1usize..100_000, y2 in 1usize..100_000,
    ) {
        let _ = Section::parse(&text);
        let written = format!("[{x1}:{x2},{y1}:{y2}]");
        let s = Section::parse(&written).unwrap();
        prop_assert_eq!(s.to_string(), written);
        prop_assert_eq!(s.width(), x1.abs_diff(x2) + 1);
        prop_assert_eq!(Section::parse(&format!("[ {x1} : {x2} , {y1}:{y2} ]")), Some(s));
    }
}

fn value_text() -> impl Strategy<Value = HeaderValue> {
    prop_oneof![
        any::<i64>().prop_map(HeaderValue::Int),
        prop_oneof![any::<f64>(), -10.0f64..10.0, Just(0.0), Just(-0.0)]
            .prop_map(HeaderValue::Float),
        any::<bool>().prop_map(HeaderValue::Bool),
        Just(HeaderValue::Empty),
        ".{0,30}".prop_map(HeaderValue::Str),
        "[-+0-9.:T ,\\[\\]]{0,25}".prop_map(HeaderValue::Str),
        prop_oneof![
            Just("2025-08-01T21:30:00.000"),
            Just("2025-08-01"),
            Just("22:15:07.5"),
            Just("[1:2148,1:2102]"),
            Just("[801:1300, 801:1300]"),
            Just("2 2"),
            Just("RA---TAN"),
            Just("DEC--TAN"),
            Just("ALFOSC_FASU"),
            Just("OBJECT"),
            Just("FLAT,SKY"),
            Just("Open"),
            Just("UNKNOWN"),
        ]
        .prop_map(|s| HeaderValue::Str(s.to_string())),
    ]
}

/// Every keyword an instrument profile or the WCS reader looks at.
const META_KEYS: &[&str] = &[
    "INSTRUME",
    "TELESCOP",
    "IMAGETYP",
    "OBSTYPE",
    "OBJECT",
    "TCSTGT",
    "FAFLTNM",
    "FBFLTNM",
    "ALFLTNM",
    "FILTER",
    "EXPTIME",
    "EXPOSURE",
    "DATE-OBS",
    "DATE-AVG",
    "TIME-OBS",
    "UT",
    "UTSTART",
    "AIRMASS",
    "DETXBIN",
    "DETYBIN",
    "CCDSUM",
    "DETWIN1",
    "GAIN",
    "RDNOISE",
    "SATURATE",
    "BIASSEC",
    "DATASEC",
    "TRIMSEC",
    "DETSEC",
    "OBSGEO-X",
    "OBSGEO-Y",
    "OBSGEO-Z",
    "CTYPE1",
    "CTYPE2",
    "CRPIX1",
    "CRPIX2",
    "CRVAL1",
    "CRVAL2",
    "CD1_1",
    "CD1_2",
    "CD2_1",
    "CD2_2",
    "CDELT1",
    "CDELT2",
    "CROTA2",
    "ESO DPR TYPE",
    "ESO INS FILT1 NAME",
];

fn registry() -> &'static ProfileRegistry {
    static REGISTRY: OnceLock<ProfileRegistry> = OnceLock::new();
    REGISTRY.get_or_init(|| ProfileRegistry::shipped().unwrap())
}

proptest! {
    #![proptest_config(config(1500))]

    /// Metadata extraction through every shipped profile (and detection) never panics,
    /// whatever the values of the keywords it reads.
    #[test]
    fn metadata_from_arbitrary_values_never_panics(
        values in proptest::collection::vec((0..META_KEYS.len(), value_text()), 0..30),
        width in 0usize..5000,
        height in 0usize..5000,
    ) {
        let mut header = Header::default();
        for (k, v) in values {
            header.set(META_KEYS[k], v, "");
        }
        let registry = registry();
        for name in registry.names() {
            let profile = registry.by_name(name).unwrap();
            let (meta, problems) = extract_meta(&header, profile, width, height);
            let _ = (meta.has_wcs(), meta.binning.to_string(), problems.len());
            if let Some(t) = meta.mid_exposure_utc {
                let _ = t.to_string();
            }
        }
        let _ = registry.detect(&header);
    }
}

// ---------------------------------------------------------------------------------------------
// FITS reading from arbitrary and mutated bytes

fn alfosc_headers(window: bool, wcs: bool) -> (Header, Header) {
    let s = |v: &str| HeaderValue::Str(v.to_string());
    let mut p = Header::default();
    p.set("INSTRUME", s("ALFOSC_FASU"), "");
    p.set("TELESCOP", s("NOT"), "");
    p.set("IMAGETYP", s("OBJECT"), "");
    p.set("OBJECT", s("3I/ATLAS"), "");
    p.set("FAFLTNM", s("R_Bes 650_130"), "");
    p.set("FBFLTNM", s("Open"), "");
    p.set("ALFLTNM", s("Open"), "");
    p.set("DATE-OBS", s("2025-08-01T21:30:00.000"), "");
    p.set("EXPTIME", HeaderValue::Float(300.0), "");
    p.set("AIRMASS", HeaderValue::Float(1.3), "");
    p.set("DETXBIN", HeaderValue::Int(1), "");
    p.set("DETYBIN", HeaderValue::Int(1), "");
    p.set("GAIN", HeaderValue::Float(0.16), "");
    p.set(
        "PROPTITL",
        s("A long proposal title that needs the CONTINUE long-string convention to fit"),
        "",
    );
    let mut e = Header::default();
    e.set("EXTNAME", s("im1"), "");
    if window {
        e.set("DETWIN1", s("[1:9,1:7]"), "");
        e.set("BIASSEC", s("[3:4,1:7]"), "");
    }
    if wcs {
        e.set("CTYPE1", s("RA---TAN"), "");
        e.set("CTYPE2", s("DEC--TAN"), "");
        e.set("CRPIX1", HeaderValue::Float(4.5), "");
        e.set("CRPIX2", HeaderValue::Float(3.5), "");
        e.set("CRVAL1", HeaderValue::Float(265.0), "");
        e.set("CRVAL2", HeaderValue::Float(-18.5), "");
        e.set("CD1_1", HeaderValue::Float(-5.9e-5), "");
        e.set("CD1_2", HeaderValue::Float(0.0), "");
        e.set("CD2_1", HeaderValue::Float(0.0), "");
        e.set("CD2_2", HeaderValue::Float(5.9e-5), "");
    }
    (p, e)
}

/// CRC-32 (IEEE), for the gzip trailer.
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// A gzip member holding `data` in stored (uncompressed) deflate blocks (RFC 1951 §3.2.4,
/// RFC 1952), so `.fits.gz` seeds come from code without a compression library.
fn gzip_stored(data: &[u8]) -> Vec<u8> {
    let mut out = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255];
    let chunks: Vec<&[u8]> = data.chunks(65_535).collect();
    for (i, chunk) in chunks.iter().enumerate() {
        out.push(u8::from(i + 1 == chunks.len()));
        let len = chunk.len() as u16;
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&(!len).to_le_bytes());
        out.extend_from_slice(chunk);
    }
    out.extend_from_slice(&crc32(data).to_le_bytes());
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out
}

/// Valid files written by cometphot's writer in every layout and pixel type, as
/// (file name, bytes). Built once per test process.
fn seeds() -> &'static [(String, Vec<u8>)] {
    static SEEDS: OnceLock<Vec<(String, Vec<u8>)>> = OnceLock::new();
    SEEDS.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let (w, h) = (9usize, 7usize);
        let ramp: Vec<f32> = (0..w * h).map(|i| 1000.0 + i as f32).collect();
        let data = [
            PixelData::U32(ramp.iter().map(|v| *v as u32).collect()),
            PixelData::U16(ramp.iter().map(|v| *v as u16).collect()),
            PixelData::F32(ramp.clone()),
        ];
        let layouts = [
            (HduLayout::EmptyPrimaryPlusExtension, "fits"),
            (HduLayout::PrimaryImage, "fits"),
            (HduLayout::TileCompressed, "fits.fz"),
        ];
        let mut seeds = Vec::new();
        for (k, (layout, ext)) in layouts.iter().enumerate() {
            for (j, pixels) in data.iter().enumerate() {
                let (p, e) = alfosc_headers(j % 2 == 0, k != 1);
                let name = format!("seed{k}{j}.{ext}");
                let path = dir.path().join(&name);
                write_image_fits(&path, *layout, &p, &e, w, h, pixels).unwrap();
                let bytes = std::fs::read(&path).unwrap();
                if k == 0 && j == 0 {
                    seeds.push((format!("seed{k}{j}.fits.gz"), gzip_stored(&bytes)));
                }
                seeds.push((name, bytes));
            }
        }
        // Every seed is read back without error, so the mutations start from valid files.
        for (name, bytes) in &seeds {
            let path = dir.path().join(format!("check-{name}"));
            std::fs::write(&path, bytes).unwrap();
            let frame = read_frame(&path, &ProfileChoice::Detect, registry())
                .unwrap_or_else(|e| panic!("seed {name}: {e}"));
            assert_eq!(frame.amplifiers[0].pixels, ramp, "seed {name}");
        }
        seeds
    })
}

/// Offset of the data unit of the first HDU holding pixels, and the end of its pixels, found
/// from the uncompressed seed layout (header blocks of 2880 bytes ending with an END card).
fn data_span(bytes: &[u8]) -> Option<(usize, usize)> {
    let mut offset = 0;
    while offset < bytes.len() {
        let mut end_card = None;
        let mut pos = offset;
        while pos + 80 <= bytes.len() {
            if bytes[pos..pos + 80].starts_with(b"END     ") {
                end_card = Some(pos);
                break;
            }
            pos += 80;
        }
        let end_card = end_card?;
        let header = String::from_utf8_lossy(&bytes[offset..end_card + 80]).into_owned();
        let h = Header::from_card_images(&header);
        let data_start = (end_card + 80).div_ceil(2880) * 2880;
        let naxis = h.number("NAXIS")? as usize;
        let bitpix = h.number("BITPIX")? as i64;
        let mut n = if naxis == 0 { 0 } else { 1 };
        for i in 1..=naxis {
            n *= h.number(&format!("NAXIS{i}"))? as usize;
        }
        let pcount = h.number("PCOUNT").unwrap_or(0.0) as usize;
        let data_len = n * bitpix.unsigned_abs() as usize / 8 + pcount;
        if data_len > 0 {
            return Some((data_start, data_start + data_len));
        }
        offset = data_start;
    }
    None
}

/// Temporary files named like the seed (the name decides nothing in the reader, but scan
/// reports non-FITS content only for FITS-like names).
struct Scratch {
    dir: tempfile::TempDir,
}

impl Scratch {
    fn new() -> Self {
        Scratch {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn write(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        // Keep the last input of a long run, so that a crash (abort, segfault) in cfitsio can
        // be reproduced from it.
        if let Ok(dir) = std::env::var("COMETPHOT_FUZZ_KEEP") {
            let _ = std::fs::write(Path::new(&dir).join(name), bytes);
        }
        path
    }
}

/// Reads a file through every entry point the pipeline uses: `scan_file` (scan: headers,
/// metadata and pixels of every image HDU) and `read_frame` (reduce, photometry), plus the
/// lower-level `FitsSource` calls of `aperture`. Returns whether `read_frame` succeeded.
fn read_everything(path: &Path) -> Result<bool, TestCaseError> {
    let choice = ProfileChoice::Detect;
    let options = ScanOptions {
        profiles: registry(),
        choice: &choice,
        on_file: &|| {},
        pixels: PixelReads::All,
    };
    let rows = scan_file(path, &options);
    for row in &rows {
        if row.status == ScanStatus::Error {
            let message = row.error.as_deref().unwrap_or("");
            let name = path.file_name().unwrap().to_string_lossy();
            prop_assert!(
                message.contains(name.as_ref()),
                "error row does not name the file: {message}"
            );
        }
    }
    if let Ok(mut source) = FitsSource::open(path) {
        for image in source.image_hdus().into_iter().flatten() {
            if let Ok(pixels) = source.read_pixels(&image) {
                prop_assert_eq!(pixels.len(), image.width * image.height);
            }
        }
    }
    Ok(match read_frame(path, &choice, registry()) {
        Ok(frame) => {
            for a in &frame.amplifiers {
                prop_assert_eq!(a.pixels.len(), a.image.width * a.image.height);
            }
            true
        }
        Err(e) => {
            let message = e.to_string();
            let name = path.file_name().unwrap().to_string_lossy();
            prop_assert!(message.contains(name.as_ref()), "{message}");
            false
        }
    })
}

/// A structural keyword and a value that is wrong, extreme or of the wrong type.
fn hostile_card() -> impl Strategy<Value = String> {
    let key = prop_oneof![
        Just("BITPIX"),
        Just("NAXIS"),
        Just("NAXIS1"),
        Just("NAXIS2"),
        Just("NAXIS3"),
        Just("BZERO"),
        Just("BSCALE"),
        Just("PCOUNT"),
        Just("GCOUNT"),
        Just("EXTEND"),
        Just("XTENSION"),
        Just("SIMPLE"),
        Just("ZNAXIS"),
        Just("ZNAXIS1"),
        Just("ZNAXIS2"),
        Just("ZTILE1"),
        Just("ZTILE2"),
        Just("ZBITPIX"),
        Just("ZCMPTYPE"),
        Just("ZIMAGE"),
        Just("ZNAME1"),
        Just("ZVAL1"),
        Just("TFIELDS"),
        Just("TFORM1"),
        Just("TTYPE1"),
        Just("THEAP"),
        Just("BLANK"),
        Just("EXPTIME"),
        Just("DATE-OBS"),
        Just("DETWIN1"),
        Just("CD1_1"),
        Just("CONTINUE"),
        Just("END"),
    ];
    let value = prop_oneof![
        prop_oneof![
            Just(0i64),
            Just(-1),
            Just(1),
            Just(2),
            Just(3),
            Just(7),
            Just(8),
            Just(12),
            Just(16),
            Just(-16),
            Just(24),
            Just(32),
            Just(-32),
            Just(64),
            Just(-64),
            Just(999),
            Just(1 << 31),
            Just(1 << 40),
            Just(i64::MAX),
            Just(i64::MIN),
        ]
        .prop_map(|i| i.to_string()),
        any::<i32>().prop_map(|i| i.to_string()),
        prop_oneof![
            Just("T"),
            Just("F"),
            Just("1.0E308"),
            Just("-1.0E308"),
            Just("0.0"),
            Just("NaN"),
            Just("'IMAGE   '"),
            Just("'BINTABLE'"),
            Just("'TABLE   '"),
            Just("'A3DTABLE'"),
            Just("'FOO'"),
            Just("'RICE_1  '"),
            Just("'GZIP_1  '"),
            Just("'GZIP_2  '"),
            Just("'HCOMPRESS_1'"),
            Just("'PLIO_1  '"),
            Just("'NOCOMPRESS'"),
            Just("'1PB(0)  '"),
            Just("'1QB(99999999)'"),
            Just("'1PJ     '"),
            Just("'1E      '"),
            Just("'COMPRESSED_DATA'"),
            Just("'BLOCKSIZE'"),
            Just("''"),
            Just("'"),
            Just(""),
        ]
        .prop_map(str::to_string),
        "[ -~]{0,20}",
    ];
    (key, value).prop_map(|(k, v)| {
        if k == "END" {
            format!("{k:<80}")
        } else {
            fixed_card(k, &v, "")
        }
    })
}

#[derive(Debug, Clone)]
enum Mutation {
    /// Keep the first `at` bytes (a fraction of the length, in 1/10000).
    Truncate(u32),
    /// XOR a byte, at a fraction of the length (1/10000), weighted to the headers.
    Flip { at: u32, header: bool, xor: u8 },
    /// Replace the value of an existing card with this key (or a random card if absent), or
    /// insert the card at an 80-byte slot of the first headers.
    Card {
        slot: u16,
        card: String,
        by_key: bool,
    },
    /// Remove or duplicate one 2880-byte block.
    Block { index: u16, duplicate: bool },
    /// Overwrite a run of bytes with one value.
    Fill { at: u32, len: u16, value: u8 },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        1 => (0u32..10_000).prop_map(Mutation::Truncate),
        1 => (0u32..10_000, any::<bool>(), 1u8..=255).prop_map(|(at, header, xor)| Mutation::Flip {
            at,
            header,
            xor
        }),
        4 => (0u16..216, hostile_card(), any::<bool>()).prop_map(|(slot, card, by_key)| Mutation::Card { slot, card, by_key }),
        1 => (0u16..8, any::<bool>()).prop_map(|(index, duplicate)| Mutation::Block { index, duplicate }),
        1 => (0u32..10_000, 1u16..3000, prop_oneof![Just(0u8), Just(b' '), Just(0xff), any::<u8>()])
            .prop_map(|(at, len, value)| Mutation::Fill { at, len, value }),
    ]
}

fn apply(bytes: &mut Vec<u8>, m: &Mutation) {
    let frac = |f: u32, n: usize| (n as u64 * u64::from(f) / 10_000) as usize;
    match m {
        Mutation::Truncate(f) => {
            let keep = frac(*f, bytes.len());
            bytes.truncate(keep);
        }
        Mutation::Flip { at, header, xor } => {
            let span = if *header {
                bytes.len().min(3 * 2880)
            } else {
                bytes.len()
            };
            if span > 0 {
                let i = frac(*at, span).min(span - 1);
                bytes[i] ^= xor;
            }
        }
        Mutation::Card { slot, card, by_key } => {
            let key = &card.as_bytes()[..8];
            let slots = bytes.len() / 80;
            let found = by_key
                .then(|| {
                    (0..slots)
                        .filter(|s| &bytes[s * 80..s * 80 + 8] == key)
                        .collect::<Vec<_>>()
                })
                .filter(|v| !v.is_empty());
            let s = match found {
                Some(v) => v[usize::from(*slot) % v.len()],
                None => usize::from(*slot).min(slots.saturating_sub(1)),
            };
            if (s + 1) * 80 <= bytes.len() {
                bytes[s * 80..(s + 1) * 80].copy_from_slice(card.as_bytes());
            }
        }
        Mutation::Block { index, duplicate } => {
            let blocks = bytes.len() / 2880;
            if blocks > 0 {
                let b = usize::from(*index) % blocks;
                let range = b * 2880..(b + 1) * 2880;
                if *duplicate {
                    let copy = bytes[range.clone()].to_vec();
                    bytes.splice(range.start..range.start, copy);
                } else {
                    bytes.drain(range);
                }
            }
        }
        Mutation::Fill { at, len, value } => {
            let n = bytes.len();
            if n > 0 {
                let start = frac(*at, n).min(n - 1);
                let end = (start + usize::from(*len)).min(n);
                bytes[start..end].fill(*value);
            }
        }
    }
}

/// cfitsio divides by the tile size when it moves to a tile-compressed HDU: a ZTILEn of 0 (or
/// a ZNAXISn of 0 without ZTILEn) killed the process with SIGFPE, and a huge TFIELDS made it
/// allocate gigabytes (both found by `fuzz_mutated_files_never_panic`). The reader checks
/// these keywords first, in plain and in gzip-compressed files.
#[test]
fn dangerous_extension_keywords_are_an_error_not_a_crash() {
    let (_, original) = seeds().iter().find(|(n, _)| n == "seed21.fits.fz").unwrap();
    let scratch = Scratch::new();
    let cases = [
        ("ZTILE1", "0", "ZTILE1 = 0 is not a positive integer"),
        ("ZTILE1", "''", "ZTILE1 = '' is not a positive integer"),
        ("ZTILE2", "0", "ZTILE2 = 0 is not a positive integer"),
        ("ZNAXIS1", "0", "ZNAXIS1 = 0 is not a positive integer"),
        ("ZNAXIS", "7", "ZNAXIS = 7"),
        ("ZVAL1", "0", "ZVAL1 = 0 is not a positive integer"),
        ("ZTILE1", "1000000000", "tiles of 1000000000 pixels"),
        // cfitsio allocated a column structure per field: 10 GB and minutes for this one.
        (
            "TFIELDS",
            "113634536",
            "TFIELDS = 113634536 is outside 0–999",
        ),
        // A negative data size: cfitsio found the same HDUs again and again (memory grew
        // until the process was killed).
        ("GCOUNT", "-32", "GCOUNT = -32 is not a count"),
        ("PCOUNT", "-4000", "PCOUNT = -4000 is not a count"),
    ];
    for (key, value, needle) in cases {
        let mut bytes = original.clone();
        let mutation = Mutation::Card {
            slot: 0,
            card: fixed_card(key, value, ""),
            by_key: true,
        };
        apply(&mut bytes, &mutation);
        if key == "ZNAXIS1" {
            // No ZTILE1: cfitsio takes ZNAXIS1 as the tile width.
            let at = (0..bytes.len() / 80)
                .find(|s| bytes[s * 80..].starts_with(b"ZTILE1  "))
                .unwrap();
            bytes[at * 80..at * 80 + 80].copy_from_slice(format!("{:80}", "COMMENT").as_bytes());
        }
        if key == "ZTILE2" {
            // The header over two blocks, the second one incomplete: cfitsio still parses it
            // (the check read whole blocks only, and SIGFPE came back).
            let end = (36..72)
                .find(|s| bytes[s * 80..].starts_with(b"END     "))
                .unwrap();
            bytes[end * 80..end * 80 + 80].copy_from_slice(format!("{:80}", "COMMENT").as_bytes());
            bytes[2 * 2880..2 * 2880 + 80].copy_from_slice(format!("{:80}", "END").as_bytes());
            bytes.truncate(2 * 2880 + 1000);
        }
        for (name, content) in [
            ("t.fits.fz", bytes.clone()),
            ("t.fits.gz", gzip_stored(&bytes)),
        ] {
            let path = scratch.write(name, &content);
            let err = read_frame(&path, &ProfileChoice::Detect, registry()).unwrap_err();
            let message = err.to_string();
            assert!(
                message.contains("HDU 1") && message.contains(needle),
                "{key} = {value} ({name}): {message}"
            );
            assert!(!read_everything(&path).unwrap());
        }
    }
    // A keyword written twice, the first value bad: cfitsio reads the first one.
    let mut bytes = original.clone();
    let ttype = (36..72)
        .find(|s| bytes[s * 80..].starts_with(b"TTYPE1  "))
        .unwrap();
    bytes[ttype * 80..ttype * 80 + 80]
        .copy_from_slice(fixed_card("ZTILE2", "'BLOCKSIZE'", "").as_bytes());
    let path = scratch.write("twice.fits.fz", &bytes);
    let message = read_frame(&path, &ProfileChoice::Detect, registry())
        .unwrap_err()
        .to_string();
    assert!(
        message.contains("ZTILE2 = 'BLOCKSIZE' is not a positive integer"),
        "{message}"
    );

    // The negative data size in an image extension, as the fuzzer found it.
    let (_, plain) = seeds().iter().find(|(n, _)| n == "seed00.fits").unwrap();
    let mut bytes = plain.clone();
    let card = fixed_card("GCOUNT", "-32", "");
    apply(
        &mut bytes,
        &Mutation::Card {
            slot: 0,
            card,
            by_key: true,
        },
    );
    let path = scratch.write("image.fits", &bytes);
    let message = read_frame(&path, &ProfileChoice::Detect, registry())
        .unwrap_err()
        .to_string();
    assert!(
        message.contains("HDU 1: cannot read the header: GCOUNT = -32"),
        "{message}"
    );
}

/// A non-ASCII byte in a card value (invalid FITS, met in hand-edited headers) spoils that
/// value only: the cards after it keep their 80-byte alignment.
#[test]
fn a_non_ascii_header_byte_spoils_only_its_card() {
    let (name, bytes) = seeds().iter().find(|(n, _)| n == "seed00.fits").unwrap();
    let mut bytes = bytes.clone();
    let object = (0..bytes.len() / 80)
        .find(|s| bytes[s * 80..].starts_with(b"OBJECT  = '3I/ATLAS"))
        .unwrap();
    bytes[object * 80 + 12] = 0xc5;
    let scratch = Scratch::new();
    let path = scratch.write(name, &bytes);
    let frame = read_frame(&path, &ProfileChoice::Detect, registry()).unwrap();
    let meta = frame.meta();
    assert_eq!(meta.object.as_deref(), Some("3\u{fffd}/ATLAS"));
    assert_eq!(meta.filter.as_deref(), Some("R_Bes 650_130"));
    assert_eq!(meta.exptime_s, Some(300.0));
    assert_eq!(meta.instrument, "alfosc");
}

proptest! {
    #![proptest_config(config(300))]

    /// Arbitrary bytes, with or without the FITS signature in front: never a panic, never a
    /// frame.
    #[test]
    fn fuzz_arbitrary_bytes_are_rejected(
        signature in prop_oneof![Just(&b""[..]), Just(&b"SIMPLE  ="[..]), Just(&b"SIMPLE  =                    T"[..]), Just(&[0x1fu8, 0x8b][..])],
        body in proptest::collection::vec(any::<u8>(), 0..6000),
        name in prop_oneof![Just("x.fits"), Just("x.fits.gz"), Just("x.fits.fz"), Just("x.dat")],
    ) {
        let scratch = Scratch::new();
        let mut bytes = signature.to_vec();
        bytes.extend_from_slice(&body);
        let path = scratch.write(name, &bytes);
        prop_assert!(!read_everything(&path)?, "arbitrary bytes read as a frame");
    }

    /// Valid files cut anywhere before the end of their pixels are never read as a frame.
    #[test]
    fn fuzz_truncated_files_are_rejected(seed in 0usize..10, fraction in 0.0f64..1.0) {
        let (name, bytes) = &seeds()[seed % seeds().len()];
        let scratch = Scratch::new();
        let keep = if name.ends_with(".gz") {
            // Up to the gzip trailer (CRC-32 and size): a file cut inside the trailer holds
            // all its data, and zlib (through cfitsio) reads it.
            ((bytes.len() - 8) as f64 * fraction) as usize
        } else {
            let (_, data_end) = data_span(bytes).unwrap();
            (data_end as f64 * fraction) as usize
        };
        let path = scratch.write(name, &bytes[..keep]);
        prop_assert!(!read_everything(&path)?, "{name} cut at {keep} of {} bytes read as a frame", bytes.len());
    }

    /// Valid files with one to four mutations: never a panic or an abort.
    #[test]
    fn fuzz_mutated_files_never_panic(
        seed in 0usize..10,
        mutations in proptest::collection::vec(mutation(), 1..5),
    ) {
        let (name, original) = &seeds()[seed % seeds().len()];
        let mut bytes = original.clone();
        for m in &mutations {
            apply(&mut bytes, m);
        }
        let scratch = Scratch::new();
        let path = scratch.write(name, &bytes);
        read_everything(&path)?;
    }
}
