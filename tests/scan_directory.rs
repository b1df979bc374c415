//! `scan` on directories: the shipped real frames, a simulated night, and a corpus of bad
//! inputs generated here (each must give a row with a clear message while the rest of the
//! directory is scanned).

use std::path::{Path, PathBuf};

use cometphot::frame::header::{Header, HeaderValue};
use cometphot::frame::profile::{ProfileChoice, ProfileRegistry};
use cometphot::frame::write::{write_image_fits, HduLayout, PixelData};
use cometphot::scan::{scan_path, PixelReads, ScanOptions, ScanReport, ScanRow, ScanStatus};

fn scan(dir: &Path) -> ScanReport {
    scan_reading(dir, PixelReads::All)
}

fn scan_reading(dir: &Path, pixels: PixelReads) -> ScanReport {
    let registry = ProfileRegistry::shipped().unwrap();
    let choice = ProfileChoice::Detect;
    let options = ScanOptions {
        profiles: &registry,
        choice: &choice,
        on_file: &|| {},
        pixels,
    };
    scan_path(dir, &options)
}

fn row<'a>(report: &'a ScanReport, name: &str) -> &'a ScanRow {
    report
        .rows
        .iter()
        .find(|r| r.path.ends_with(name))
        .unwrap_or_else(|| panic!("no row for {name}: {:#?}", report.rows))
}

/// A small valid ALFOSC-like frame (empty primary + image extension), with keyword overrides.
fn alfosc_frame(dir: &Path, name: &str, edit: impl FnOnce(&mut Header, &mut Vec<f32>)) -> PathBuf {
    alfosc_frame_sized(dir, name, (64, 48), edit)
}

/// [`alfosc_frame`] of `width × height` pixels.
fn alfosc_frame_sized(
    dir: &Path,
    name: &str,
    (width, height): (usize, usize),
    edit: impl FnOnce(&mut Header, &mut Vec<f32>),
) -> PathBuf {
    let mut primary = Header::default();
    let s = |v: &str| HeaderValue::Str(v.to_string());
    primary.set("INSTRUME", s("ALFOSC_FASU"), "");
    primary.set("TELESCOP", s("NOT"), "");
    primary.set("IMAGETYP", s("OBJECT"), "");
    primary.set("OBJECT", s("3I/ATLAS"), "");
    primary.set("FAFLTNM", s("R_Bes 650_130"), "");
    primary.set("FBFLTNM", s("Open"), "");
    primary.set("ALFLTNM", s("Open"), "");
    primary.set("DATE-OBS", s("2025-08-01T21:30:00.000"), "");
    primary.set("EXPTIME", HeaderValue::Float(300.0), "");
    primary.set("AIRMASS", HeaderValue::Float(1.3), "");
    let mut pixels: Vec<f32> = (0..width * height)
        .map(|i| 1000.0 + (i % 7) as f32)
        .collect();
    edit(&mut primary, &mut pixels);
    let mut ext = Header::default();
    ext.set("EXTNAME", s("im1"), "");
    let path = dir.join(name);
    write_image_fits(
        &path,
        HduLayout::EmptyPrimaryPlusExtension,
        &primary,
        &ext,
        width,
        height,
        &PixelData::F32(pixels),
    )
    .unwrap();
    path
}

#[test]
fn shipped_real_frames_are_all_read_and_classified() {
    let report = scan(&Path::new(env!("CARGO_MANIFEST_DIR")).join("data/real"));
    let types: Vec<(String, String)> = report
        .rows
        .iter()
        .map(|r| {
            assert_ne!(r.status, ScanStatus::Error, "{r:?}");
            let name = Path::new(&r.path).file_name().unwrap().to_string_lossy();
            (
                format!("{name}#{}", r.hdu.unwrap()),
                r.frame_type.clone().unwrap(),
            )
        })
        .collect();
    let expect = [
        ("ALAb170109.fits.gz#1", "arc"),
        ("ALAb170110.fits#1", "other"),
        ("EFOSC.2022-01-26T19-02-38.210.fits.gz#0", "bias"),
        ("EFOSC.2022-01-28T00-08-16.282.fits.gz#0", "flat"),
        ("EFOSC.2022-01-28T04-54-24.341.fits.gz#0", "science"),
        ("EFOSC.2022-01-28T05-05-25.843.fits.gz#0", "science"),
        ("NEOS_SCI_2021316235345.fits#0", "science"),
        ("NEOS_SCI_2021317005221.fits.gz#0", "science"),
        ("lco_sinistro_fa05_raw_mef_2021SO2.fits.gz#1", "science"),
        ("lco_sinistro_fa05_raw_mef_2021SO2.fits.gz#2", "science"),
        ("lco_sinistro_fa05_raw_mef_2021SO2.fits.gz#3", "science"),
        ("lco_sinistro_fa05_raw_mef_2021SO2.fits.gz#4", "science"),
        ("saao1m_ste3_raw_a8280271.fits#0", "science"),
    ];
    let mut got = types.clone();
    got.sort();
    let mut want: Vec<(String, String)> = expect
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    want.sort();
    assert_eq!(got, want);
}

#[test]
fn bad_inputs_give_clear_rows_and_the_rest_is_scanned() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let good = alfosc_frame(d, "good.fits", |_, _| {});

    // Truncated: the first half of a valid file.
    let bytes = std::fs::read(&good).unwrap();
    std::fs::write(d.join("truncated.fits"), &bytes[..bytes.len() / 2]).unwrap();
    // Header only (the data unit cut off entirely).
    std::fs::write(d.join("header_only.fits"), &bytes[..2880 * 2]).unwrap();
    // Not FITS, but named .fits.
    std::fs::write(d.join("notes.fits"), "observing log, not an image\n").unwrap();
    // Not FITS and not named like FITS: ignored silently.
    std::fs::write(d.join("README.txt"), "hello").unwrap();
    alfosc_frame(d, "no_date.fits", |h, _| {
        *h = Header::new(
            h.cards()
                .iter()
                .filter(|c| c.key != "DATE-OBS")
                .cloned()
                .collect(),
        );
    });
    alfosc_frame(d, "bad_date.fits", |h, _| {
        h.set("DATE-OBS", HeaderValue::Str("01/08/25".into()), "")
    });
    alfosc_frame(d, "zero_exptime.fits", |h, _| {
        h.set("EXPTIME", HeaderValue::Float(0.0), "")
    });
    alfosc_frame(d, "negative_exptime.fits", |h, _| {
        h.set("EXPTIME", HeaderValue::Float(-5.0), "")
    });
    alfosc_frame(d, "nan_pixels.fits", |_, p| {
        p[10..30].iter_mut().for_each(|v| *v = f32::NAN)
    });
    alfosc_frame(d, "all_nan.fits", |_, p| {
        p.iter_mut().for_each(|v| *v = f32::NAN)
    });
    alfosc_frame(d, "unknown_instrument.fits", |h, _| {
        h.set("INSTRUME", HeaderValue::Str("HyperCam-9000".into()), "");
        h.set("TELESCOP", HeaderValue::Str("Backyard".into()), "");
    });

    let report = scan(d);
    let r = row(&report, "good.fits");
    assert_eq!(r.status, ScanStatus::Ok, "{r:?}");
    assert_eq!(r.frame_type.as_deref(), Some("science"));
    assert_eq!(r.filter.as_deref(), Some("R_Bes 650_130"));
    assert_eq!(r.hdu, Some(1));

    let expect_error = |name: &str, needles: &[&str]| {
        let r = row(&report, name);
        assert_eq!(r.status, ScanStatus::Error, "{r:?}");
        let msg = r.error.as_deref().unwrap();
        assert!(msg.contains(name), "message must name the file: {msg}");
        for n in needles {
            assert!(msg.contains(n), "'{n}' missing from: {msg}");
        }
    };
    expect_error("truncated.fits", &["HDU 1", "truncated"]);
    expect_error("header_only.fits", &["truncated"]);
    expect_error("notes.fits", &["not a FITS file"]);
    expect_error("no_date.fits", &["HDU 1", "DATE-OBS"]);
    expect_error("bad_date.fits", &["HDU 1", "DATE-OBS", "01/08/25"]);
    expect_error("zero_exptime.fits", &["HDU 1", "EXPTIME = 0"]);
    expect_error("negative_exptime.fits", &["HDU 1", "EXPTIME = -5"]);
    expect_error("all_nan.fits", &["HDU 1", "NaN"]);

    let nan = row(&report, "nan_pixels.fits");
    assert_eq!(nan.status, ScanStatus::Warning, "{nan:?}");
    assert!(nan.error.as_deref().unwrap().contains("20 pixels"));

    let unknown = row(&report, "unknown_instrument.fits");
    assert_eq!(unknown.status, ScanStatus::Warning);
    assert_eq!(unknown.instrument.as_deref(), Some("generic"));
    assert!(unknown
        .error
        .as_deref()
        .unwrap()
        .contains("unknown instrument (INSTRUME='HyperCam-9000'"));

    assert!(report.rows.iter().all(|r| !r.path.ends_with("README.txt")));
    assert_eq!(report.count(ScanStatus::Ok), 1);
}

/// The pipeline's scan reads only a probe of the frames it reduces and checks their pixels on
/// its own read: completed there, every row equals the full scan's, to the message order; the
/// files whose probes match are read in full, so that duplicates are found as before.
#[test]
fn probing_scan_completed_on_read_equals_the_full_scan() {
    use cometphot::frame::read::read_frame;
    use cometphot::scan::{complete_pixel_checks, PROBE_PIXELS};
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let unknown = |h: &mut Header| {
        h.set("INSTRUME", HeaderValue::Str("HyperCam-9000".into()), "");
        h.set("TELESCOP", HeaderValue::Str("Backyard".into()), "");
    };
    alfosc_frame(d, "good.fits", |_, _| {});
    alfosc_frame(d, "nan_pixels.fits", |_, p| {
        p[10..30].iter_mut().for_each(|v| *v = f32::NAN)
    });
    alfosc_frame(d, "all_nan.fits", |_, p| {
        p.iter_mut().for_each(|v| *v = f32::NAN)
    });
    alfosc_frame(d, "constant.fits", |_, p| {
        p.iter_mut().for_each(|v| *v = 7.0)
    });
    // A header warning before a pixel warning, and after a pixel error.
    alfosc_frame(d, "unknown_nan.fits", |h, p| {
        unknown(h);
        p[0] = f32::INFINITY;
    });
    // (Not the same pixels as all_nan.fits, which would make the two duplicate candidates.)
    alfosc_frame(d, "unknown_all_nan.fits", |h, p| {
        unknown(h);
        p.iter_mut().for_each(|v| *v = f32::NEG_INFINITY)
    });
    alfosc_frame(d, "bias.fits", |h, p| {
        h.set("IMAGETYP", HeaderValue::Str("BIAS".into()), "");
        p[5] = -3.0;
    });
    // Larger than the probe: the same first pixels, one differing after them.
    let large = (400, 300);
    assert!(large.0 * large.1 > PROBE_PIXELS + 1000);
    alfosc_frame_sized(d, "large_a.fits", large, |_, _| {});
    alfosc_frame_sized(d, "large_b.fits", large, |_, p| p[PROBE_PIXELS + 500] = 1.5);
    // Exact copies: one of the same exposure, one with DATE-OBS edited.
    alfosc_frame_sized(d, "large_c.fits", large, |_, p| {
        p[PROBE_PIXELS + 900] = -2.0
    });
    std::fs::copy(d.join("large_c.fits"), d.join("large_c_copy.fits")).unwrap();
    alfosc_frame_sized(d, "large_c_redated.fits", large, |h, p| {
        h.set(
            "DATE-OBS",
            HeaderValue::Str("2025-08-02T01:00:00.000".into()),
            "",
        );
        p[PROBE_PIXELS + 900] = -2.0;
    });

    let full = scan_reading(d, PixelReads::All);
    let probed = scan_reading(d, PixelReads::Probe);
    assert_eq!(full.rows.len(), probed.rows.len());
    let registry = ProfileRegistry::shipped().unwrap();
    let mut pending = Vec::new();
    for (expected, row) in full.rows.iter().zip(&probed.rows) {
        let mut row = row.clone();
        let mut expected = expected.clone();
        if row.pixels_pending {
            // Not computed on the pipeline's read: such a frame cannot be a duplicate.
            expected.pixel_digest = None;
            pending.push(row.path.rsplit('/').next().unwrap().to_string());
            let frame =
                read_frame(Path::new(&row.path), &ProfileChoice::Detect, &registry).unwrap();
            complete_pixel_checks(&mut row, &frame.amplifiers[0].pixels);
        }
        assert_eq!(row, expected);
    }
    pending.sort();
    // Every frame but those whose probes are shared (large_*): read once, by the pipeline.
    assert_eq!(
        pending,
        [
            "all_nan.fits",
            "bias.fits",
            "constant.fits",
            "good.fits",
            "nan_pixels.fits",
            "unknown_all_nan.fits",
            "unknown_nan.fits"
        ]
    );
    assert!(row(&full, "large_b.fits").duplicate_of.is_none());
    let copy = row(&full, "large_c_copy.fits")
        .duplicate_of
        .as_ref()
        .unwrap();
    assert!(copy.path.ends_with("large_c.fits") && copy.same_date_obs);
    let redated = row(&full, "large_c_redated.fits")
        .duplicate_of
        .as_ref()
        .unwrap();
    assert!(!redated.same_date_obs);
    let all_nan = row(&full, "unknown_all_nan.fits").error.as_deref().unwrap();
    assert!(all_nan.find("NaN").unwrap() < all_nan.find("unknown instrument").unwrap());
}

#[test]
fn tile_compressed_copy_reads_like_the_original() {
    use cometphot::frame::read::{read_frame, FitsSource};
    let registry = ProfileRegistry::shipped().unwrap();
    let original = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("data/real/sinistro-saao/saao1m_ste3_raw_a8280271.fits");
    let dir = tempfile::tempdir().unwrap();
    let fz = dir.path().join("saao.fits.fz");
    let mut src = FitsSource::open(&original).unwrap();
    let image = src.image_hdus().remove(0).unwrap();
    let pixels = src.read_pixels(&image).unwrap();
    let values: Vec<u16> = pixels.iter().map(|v| *v as u16).collect();
    cometphot::frame::write::write_image_fits(
        &fz,
        HduLayout::TileCompressed,
        src.primary_header(),
        &Header::default(),
        image.width,
        image.height,
        &PixelData::U16(values),
    )
    .unwrap();
    let frame = read_frame(&fz, &ProfileChoice::Detect, &registry).unwrap();
    assert_eq!(
        frame.amplifiers[0].image.hdu, 1,
        "compressed image in a binary table"
    );
    assert_eq!(frame.amplifiers[0].pixels, pixels, "lossless for integers");
    assert_eq!(frame.meta().instrument, "saao1m");
    assert_eq!(frame.meta().exptime_s, Some(150.04));
}
