//! A corpus of bad inputs for the reliability tests (issue 9), generated from code into a
//! temporary directory: a small valid simulated ALFOSC night (3 biases, 3 sky flats, 3 science
//! frames of 3I/ATLAS with the comet in the window) plus one bad file or directory per case,
//! each derived from a valid frame by editing its header, pixels or bytes.
//!
//! Use it from a test crate with
//! `#[path = "common/bad_inputs.rs"] mod bad_inputs;` (it is not part of `common/mod.rs`, so
//! the other test binaries do not compile it). `Corpus::generate` writes:
//!
//! - `<tmp>/clean/`: the valid night alone (`catalogue.csv` included);
//! - `<tmp>/corpus/`: the same files under the same names plus every bad case in
//!   [`Corpus::cases`].
//!
//! The expected behaviour of each case belongs to the test that runs a command on the corpus:
//! a case only says what is wrong with it.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use cometphot::ephem::elements::builtin;
use cometphot::ephem::ephemeris::{GeometrySource, OrbitModel};
use cometphot::ephem::site::Site;
use cometphot::ephem::time::UtcInstant;
use cometphot::frame::header::{Header, HeaderValue};
use cometphot::frame::read::FitsSource;
use cometphot::frame::write::{write_image_fits, HduLayout, PixelData};
use cometphot::simulate::ephemeris::place_comet;
use cometphot::simulate::NightConfig;

/// What is wrong with one input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum BadKind {
    /// Primary and extension headers, no data unit at all.
    TruncatedHeaderOnly,
    /// The first half of the extension's data unit.
    TruncatedHalfData,
    /// A text file named `.fits`.
    NotFits,
    /// BITPIX = 24 in the image extension (not a FITS value).
    UnsupportedBitpix,
    /// The image extension has NAXIS = 0 (header, no data): the file holds no image.
    Naxis0Extension,
    /// A block of NaN and a block of +Inf pixels in an otherwise valid science frame.
    NanInfRegion,
    /// Every pixel 0 (a readout that failed).
    AllZero,
    /// EXPTIME = 0 in a science frame.
    ExptimeZero,
    /// EXPTIME < 0.
    ExptimeNegative,
    /// No DATE-OBS (nor DATE-AVG).
    DateObsMissing,
    /// DATE-OBS = '01/08/25' (old FITS style, ambiguous).
    DateObsMalformed,
    /// DATE-OBS = '2025-13-45T25:61:00' (every field out of range).
    DateObsOutOfRange,
    /// DATE-OBS in 1850, far before any ephemeris of the comet.
    DateFarPast,
    /// DATE-OBS in 2150, far after.
    DateFarFuture,
    /// A filter no profile or reference table knows.
    UnknownFilter,
    /// INSTRUME/TELESCOP of an instrument without a profile.
    UnknownInstrument,
    /// A byte-identical copy of a science frame under another name.
    Duplicate,
    /// A science frame binned 2×2 (no 2×2 bias or flat in the night).
    MixedBinning,
    /// A science frame read out in a smaller window (DETWIN1) than its calibrations.
    Windowed,
    /// The comet's core saturated: a 5 × 5 px block at its position above ALFOSC's 80,000 ADU.
    SaturatedComet,
    /// DATE-OBS 1.5 h later: at 3I's ~460 px/h the ephemeris puts the comet ~700 px away,
    /// outside the 500 px window, while the header WCS still matches the stars.
    CometOffFrame,
    /// A science frame with permissions 000 (readable anyway when the tests run as root).
    Unreadable,
    /// An empty directory.
    EmptyDirectory,
    /// A directory symlink pointing back to the corpus root.
    SymlinkLoop,
    /// A file symlink pointing to itself.
    SelfSymlink,
}

/// One bad input: its path relative to the corpus root.
#[derive(Debug, Clone)]
pub struct BadInput {
    pub kind: BadKind,
    pub relative: PathBuf,
}

pub struct Corpus {
    /// Owns everything below (None when generated into a given directory).
    pub tmp: Option<tempfile::TempDir>,
    /// The directory holding `clean/` and `corpus/`.
    pub base: PathBuf,
    /// The valid night alone.
    pub clean: PathBuf,
    /// The valid night plus the bad inputs.
    pub root: PathBuf,
    /// FITS files of the valid night, relative to `clean` (and to `root`).
    pub good: Vec<PathBuf>,
    pub cases: Vec<BadInput>,
    /// False when file permissions do not stop reads (running as root): the `Unreadable`
    /// case is then readable and tests must not expect it to fail.
    pub permissions_enforced: bool,
}

impl Corpus {
    pub fn path(&self, kind: BadKind) -> PathBuf {
        self.root.join(&self.case(kind).relative)
    }

    pub fn case(&self, kind: BadKind) -> &BadInput {
        self.cases
            .iter()
            .find(|c| c.kind == kind)
            .unwrap_or_else(|| panic!("no case {kind:?}"))
    }

    /// Generates the corpus in a new temporary directory (removed on drop).
    pub fn generate() -> Corpus {
        let tmp = tempfile::tempdir().unwrap();
        let mut corpus = Corpus::generate_in(tmp.path());
        corpus.tmp = Some(tmp);
        corpus
    }

    /// Generates the corpus in `base` (created; `base/clean` and `base/corpus` must not
    /// exist), which is kept. The unreadable file keeps its mode 000 until the `Corpus` is
    /// dropped.
    pub fn generate_in(base: &Path) -> Corpus {
        let clean = base.join("clean");
        let root = base.join("corpus");
        let (_, night) = simulate_night(&clean, 9);
        std::fs::create_dir_all(&root).unwrap();
        let mut good = Vec::new();
        for entry in std::fs::read_dir(&clean).unwrap() {
            let entry = entry.unwrap();
            let name = PathBuf::from(entry.file_name());
            std::fs::copy(entry.path(), root.join(&name)).unwrap();
            if name.extension().is_some_and(|e| e == "fits") {
                good.push(name);
            }
        }
        good.sort();
        let science = night
            .iter()
            .filter(|(_, kind)| kind == "science")
            .map(|(p, _)| p.clone())
            .collect::<Vec<_>>();
        let mut corpus = Corpus {
            tmp: None,
            base: base.to_path_buf(),
            clean,
            root,
            good,
            cases: Vec::new(),
            permissions_enforced: true,
        };
        corpus.add_cases(&science[0]);
        corpus
    }

    fn add(&mut self, kind: BadKind, relative: &str) -> PathBuf {
        self.cases.push(BadInput {
            kind,
            relative: PathBuf::from(relative),
        });
        self.root.join(relative)
    }

    fn add_cases(&mut self, science: &Path) {
        let src = self.clean.join(science);
        let frame = RawFrame::read(&src);
        let bytes = std::fs::read(&src).unwrap();
        let (ext_header_start, ext_data_start, ext_data_end) = extension_layout(&bytes);

        // Truncated: headers only; half of the data unit.
        let p = self.add(
            BadKind::TruncatedHeaderOnly,
            "bad_truncated_header_only.fits",
        );
        std::fs::write(p, &bytes[..ext_data_start]).unwrap();
        let p = self.add(BadKind::TruncatedHalfData, "bad_truncated_half_data.fits");
        let half = ext_data_start + (ext_data_end - ext_data_start) / 2;
        std::fs::write(p, &bytes[..half]).unwrap();

        let p = self.add(BadKind::NotFits, "bad_not_fits.fits");
        std::fs::write(
            p,
            "2025-08-01 observing log: dome closed at 03:10 (humidity)\n",
        )
        .unwrap();

        // BITPIX 24 in the extension header.
        let p = self.add(BadKind::UnsupportedBitpix, "bad_bitpix_24.fits");
        let mut b = bytes.clone();
        replace_card(
            &mut b[ext_header_start..ext_data_start],
            "BITPIX",
            &fixed_card("BITPIX", "24"),
        );
        std::fs::write(p, b).unwrap();

        // NAXIS = 0 in the extension: its header without NAXIS1/NAXIS2 and no data unit.
        let p = self.add(BadKind::Naxis0Extension, "bad_naxis0_extension.fits");
        let mut b = bytes[..ext_data_start].to_vec();
        let ext = &mut b[ext_header_start..];
        replace_card(ext, "NAXIS", &fixed_card("NAXIS", "0"));
        replace_card(ext, "NAXIS1", &format!("{:80}", ""));
        replace_card(ext, "NAXIS2", &format!("{:80}", ""));
        std::fs::write(p, b).unwrap();

        let (w, h) = (frame.width, frame.height);
        let p = self.add(BadKind::NanInfRegion, "bad_nan_inf_region.fits");
        let mut pixels: Vec<f32> = frame.pixels.clone();
        for y in 20..40 {
            for x in 60..90 {
                pixels[y * w + x] = f32::NAN;
            }
            for x in 100..110 {
                pixels[y * w + x] = f32::INFINITY;
            }
        }
        frame.write_f32(&p, |_, _| {}, pixels);

        let p = self.add(BadKind::AllZero, "bad_all_zero.fits");
        frame.write_f32(&p, |_, _| {}, vec![0.0; w * h]);

        let set = |key: &'static str, value: HeaderValue| {
            move |p: &mut Header, e: &mut Header| set_in_place(p, e, key, value)
        };
        let text = |s: &str| HeaderValue::Str(s.to_string());
        let p = self.add(BadKind::ExptimeZero, "bad_exptime_zero.fits");
        frame.write(&p, set("EXPTIME", HeaderValue::Float(0.0)));
        let p = self.add(BadKind::ExptimeNegative, "bad_exptime_negative.fits");
        frame.write(&p, set("EXPTIME", HeaderValue::Float(-30.0)));
        let p = self.add(BadKind::DateObsMissing, "bad_date_obs_missing.fits");
        frame.write(&p, |p, e| {
            for key in ["DATE-OBS", "DATE-AVG", "DATE"] {
                remove(p, key);
                remove(e, key);
            }
        });
        // The simulator writes DATE-AVG too: it goes, so that DATE-OBS is the only time.
        let p = self.add(BadKind::DateObsMalformed, "bad_date_obs_malformed.fits");
        frame.write(&p, |p, e| {
            set_date(p, e, "01/08/25");
            remove(p, "DATE-AVG");
            remove(e, "DATE-AVG");
        });
        let p = self.add(BadKind::DateObsOutOfRange, "bad_date_obs_out_of_range.fits");
        frame.write(&p, |p, e| {
            set_date(p, e, "2025-13-45T25:61:00");
            remove(p, "DATE-AVG");
            remove(e, "DATE-AVG");
        });
        let p = self.add(BadKind::DateFarPast, "bad_date_1850.fits");
        frame.write(&p, |p, e| set_date(p, e, "1850-08-01T22:00:00.000"));
        let p = self.add(BadKind::DateFarFuture, "bad_date_2150.fits");
        frame.write(&p, |p, e| set_date(p, e, "2150-08-01T22:00:00.000"));

        let p = self.add(BadKind::UnknownFilter, "bad_unknown_filter.fits");
        frame.write(&p, set("FAFLTNM", text("Xyz_Qq 999_99")));
        let p = self.add(BadKind::UnknownInstrument, "bad_unknown_instrument.fits");
        frame.write(&p, |p, e| {
            set_in_place(p, e, "INSTRUME", text("HyperCam-9000"));
            set_in_place(p, e, "TELESCOP", text("Backyard 8-inch"));
        });

        let p = self.add(BadKind::Duplicate, "bad_duplicate_copy.fits");
        std::fs::copy(&src, p).unwrap();

        let p = self.add(BadKind::MixedBinning, "bad_binned_2x2.fits");
        let binned = bin2x2(&frame.pixels, w, h);
        frame.write_u32(
            &p,
            |p, e| {
                set_in_place(p, e, "DETXBIN", HeaderValue::Int(2));
                set_in_place(p, e, "DETYBIN", HeaderValue::Int(2));
                halve_wcs(p, e);
            },
            binned,
            w / 2,
            h / 2,
        );

        let p = self.add(BadKind::Windowed, "bad_windowed.fits");
        let (cut_w, cut_h) = (w * 3 / 5, h * 3 / 5);
        let cut: Vec<f32> = (0..cut_h)
            .flat_map(|y| frame.pixels[y * w..y * w + cut_w].iter().copied())
            .collect();
        frame.write_u32(
            &p,
            |p, e| {
                let window = header_text(p, e, "DETWIN1")
                    .and_then(|s| cometphot::frame::section::Section::parse(&s))
                    .expect("simulated frames carry DETWIN1");
                let x1 = window.x.start + 1;
                let y1 = window.y.start + 1;
                let new = format!("[{x1}:{},{y1}:{}]", x1 + cut_w - 1, y1 + cut_h - 1);
                set_in_place(p, e, "DETWIN1", HeaderValue::Str(new));
            },
            cut,
            cut_w,
            cut_h,
        );

        let p = self.add(BadKind::SaturatedComet, "bad_saturated_comet.fits");
        let (comet_x, comet_y) = truth_comet_position(&self.clean, science);
        let mut pixels: Vec<f32> = frame.pixels.clone();
        let (cx, cy) = (comet_x.round() as usize, comet_y.round() as usize);
        for y in cy - 2..=cy + 2 {
            for x in cx - 2..=cx + 2 {
                pixels[y * w + x] = 90_000.0;
            }
        }
        frame.write_f32(&p, |_, _| {}, pixels);

        let p = self.add(BadKind::CometOffFrame, "bad_comet_off_frame.fits");
        frame.write(&p, |p, e| {
            let date = header_text(p, e, "DATE-OBS").expect("DATE-OBS");
            let later = cometphot::ephem::time::UtcInstant::parse_iso(&date)
                .expect("simulated DATE-OBS")
                .plus_seconds(5400.0);
            set_date(p, e, &later.to_string());
        });

        // A valid frame otherwise (its pixel (0, 0) differs, so it is not a duplicate).
        let p = self.add(BadKind::Unreadable, "bad_unreadable.fits");
        frame.write(&p, |_, _| {});
        set_mode(&p, 0o000);
        self.permissions_enforced = std::fs::File::open(&p).is_err();

        let p = self.add(BadKind::EmptyDirectory, "empty_dir");
        std::fs::create_dir_all(p).unwrap();
        let p = self.add(BadKind::SymlinkLoop, "loop");
        std::os::unix::fs::symlink(&self.root, p).unwrap();
        let p = self.add(BadKind::SelfSymlink, "bad_self_link.fits");
        std::os::unix::fs::symlink("bad_self_link.fits", p).unwrap();
    }

    /// Every regular file under the corpus (not following symlinks), with its bytes (or, when
    /// it cannot be read, its length and modification time) — compared before and after a
    /// command to prove inputs are never modified.
    pub fn snapshot(&self) -> Vec<(PathBuf, Vec<u8>, u64, std::time::SystemTime, u32)> {
        use std::os::unix::fs::PermissionsExt;
        let mut out = Vec::new();
        let mut stack = vec![self.clean.clone(), self.root.clone()];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let entry = entry.unwrap();
                let meta = std::fs::symlink_metadata(entry.path()).unwrap();
                if meta.is_dir() {
                    stack.push(entry.path());
                } else if meta.is_file() {
                    let bytes = std::fs::read(entry.path()).unwrap_or_default();
                    out.push((
                        entry.path(),
                        bytes,
                        meta.len(),
                        meta.modified().unwrap(),
                        meta.permissions().mode(),
                    ));
                }
            }
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }
}

impl Drop for Corpus {
    fn drop(&mut self) {
        // Let the temporary directory be removed.
        if let Some(c) = self.cases.iter().find(|c| c.kind == BadKind::Unreadable) {
            set_mode(&self.root.join(&c.relative), 0o644);
        }
    }
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode));
}

/// `cometphot photometry DIR --object 3I [--catalog CATALOGUE] [--out OUT] EXTRA…`, as the
/// corpus tests run it (the including crate must declare `mod common;`); returns the exit
/// code and standard error.
pub fn photometry_3i(
    dir: &Path,
    catalogue: Option<&Path>,
    out: Option<&Path>,
    extra: &[&str],
) -> (i32, String) {
    let mut args: Vec<String> = vec![
        "photometry".into(),
        dir.display().to_string(),
        "--object".into(),
        "3I".into(),
    ];
    if let Some(c) = catalogue {
        args.extend(["--catalog".into(), c.display().to_string()]);
    }
    if let Some(o) = out {
        args.extend(["--out".into(), o.display().to_string()]);
    }
    args.extend(extra.iter().map(|s| s.to_string()));
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let (code, _, stderr) = crate::common::cometphot(&refs);
    (code, stderr)
}

/// A small simulated night (seeded): 3I/ATLAS on 2025-08-01 at the NOT, a 500 × 500 px
/// window, three frames of each type. Returns its configuration (the truth) and each frame's
/// (file name, frame kind).
pub fn simulate_night(dir: &Path, seed: u64) -> (NightConfig, Vec<(PathBuf, String)>) {
    let site = Site::parse("NOT").unwrap();
    let (first, last) = (
        UtcInstant::parse_iso("2025-08-01").unwrap(),
        UtcInstant::parse_iso("2025-08-03").unwrap(),
    );
    let geometry =
        GeometrySource::orbit(builtin("3I").unwrap(), OrbitModel::Perturbed, first, last).unwrap();
    let mut config = NightConfig {
        seed,
        n_bias: 3,
        n_flat: 3,
        n_science: 3,
        science_start_utc: "2025-08-01T22:00:00".into(),
        science_exptime_s: 30.0,
        overhead_s: 10.0,
        detector_window: "[801:1300, 801:1300]".into(),
        star_density_per_arcmin2: 12.0,
        star_mag_min: 15.5,
        star_mag_max: 19.0,
        ..NightConfig::default()
    };
    config.comet.coma_mag = 16.0;
    config.comet.coma_aperture_radius_arcsec = 4.0;
    config.comet.coma_outer_radius_arcsec = 10.0;
    place_comet(&mut config, &geometry, &site, (0.0, 0.0)).unwrap();
    let night = cometphot::simulate::run(&config, dir).unwrap();
    let frames = night
        .frames
        .iter()
        .map(|f| (PathBuf::from(&f.file), f.frame_type.as_str().to_string()))
        .collect();
    (config, frames)
}

/// The comet's pixel position in `science` (0-based, from the simulator's truth table).
fn truth_comet_position(night: &Path, science: &Path) -> (f64, f64) {
    let text = std::fs::read_to_string(night.join("truth_frames.csv")).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let column = |name: &str| header.iter().position(|c| *c == name).unwrap();
    let (x, y) = (column("comet_x_px"), column("comet_y_px"));
    let name = science.file_name().unwrap().to_string_lossy().into_owned();
    let row: Vec<&str> = lines
        .map(|l| l.split(',').collect::<Vec<_>>())
        .find(|r| r[0] == name)
        .unwrap_or_else(|| panic!("{name} not in truth_frames.csv"));
    (row[x].parse().unwrap(), row[y].parse().unwrap())
}

/// A valid raw frame: its own primary and extension headers and its pixels.
struct RawFrame {
    primary: Header,
    extension: Header,
    width: usize,
    height: usize,
    pixels: Vec<f32>,
    /// Files written so far: each derived file gets its own value in pixel (0, 0), so that
    /// no two cases are duplicates of each other (or of the original) unless meant to be.
    written: std::cell::Cell<u32>,
}

impl RawFrame {
    fn read(path: &Path) -> RawFrame {
        let mut source = FitsSource::open(path).unwrap();
        let image = source.image_hdus().remove(0).unwrap();
        assert_eq!(image.hdu, 1, "ALFOSC layout: image in extension 1");
        let pixels = source.read_pixels(&image).unwrap();
        let primary = source.primary_header().clone();
        // The merged header minus the primary's cards is the extension's own header.
        let extension = Header::new(
            image
                .header
                .cards()
                .iter()
                .filter(|c| !primary.cards().contains(c))
                .cloned()
                .collect(),
        );
        RawFrame {
            primary,
            extension,
            width: image.width,
            height: image.height,
            pixels,
            written: std::cell::Cell::new(0),
        }
    }

    /// A distinct value for pixel (0, 0) of the next file.
    fn mark(&self, pixels: &mut [f32]) {
        let n = self.written.get() + 1;
        self.written.set(n);
        if let Some(p) = pixels.first_mut() {
            if p.is_finite() {
                *p += n as f32;
            }
        }
    }

    fn write(&self, path: &Path, edit: impl FnOnce(&mut Header, &mut Header)) {
        self.write_u32(path, edit, self.pixels.clone(), self.width, self.height);
    }

    fn write_u32(
        &self,
        path: &Path,
        edit: impl FnOnce(&mut Header, &mut Header),
        pixels: Vec<f32>,
        width: usize,
        height: usize,
    ) {
        let (mut p, mut e) = (self.primary.clone(), self.extension.clone());
        edit(&mut p, &mut e);
        let mut pixels = pixels;
        self.mark(&mut pixels);
        let data = PixelData::U32(pixels.iter().map(|v| v.max(0.0) as u32).collect());
        write_image_fits(
            path,
            HduLayout::EmptyPrimaryPlusExtension,
            &p,
            &e,
            width,
            height,
            &data,
        )
        .unwrap();
    }

    fn write_f32(
        &self,
        path: &Path,
        edit: impl FnOnce(&mut Header, &mut Header),
        mut pixels: Vec<f32>,
    ) {
        let (mut p, mut e) = (self.primary.clone(), self.extension.clone());
        edit(&mut p, &mut e);
        if pixels.iter().any(|v| *v != 0.0) {
            self.mark(&mut pixels);
        }
        write_image_fits(
            path,
            HduLayout::EmptyPrimaryPlusExtension,
            &p,
            &e,
            self.width,
            self.height,
            &PixelData::F32(pixels),
        )
        .unwrap();
    }
}

/// A copy of the science frame `science` at `out` dated `date_obs`, its pixels edited by
/// `edit` (written as 32-bit floats, so that NaN survives).
pub fn write_dated_copy(science: &Path, out: &Path, date_obs: &str, edit: impl FnOnce(&mut [f32])) {
    let frame = RawFrame::read(science);
    let mut pixels = frame.pixels.clone();
    edit(&mut pixels);
    frame.write_f32(out, |p, e| set_date(p, e, date_obs), pixels);
}

/// Sets a keyword where it is (extension first), or in the primary header.
fn set_in_place(p: &mut Header, e: &mut Header, key: &str, value: HeaderValue) {
    if e.contains(key) {
        e.set(key, value, "");
    } else {
        p.set(key, value, "");
    }
}

/// DATE-OBS (and DATE-AVG, when the header has it, half an exposure later).
fn set_date(p: &mut Header, e: &mut Header, date_obs: &str) {
    set_in_place(p, e, "DATE-OBS", HeaderValue::Str(date_obs.to_string()));
    if header_text(p, e, "DATE-AVG").is_some() {
        let exptime = e
            .number("EXPTIME")
            .or_else(|| p.number("EXPTIME"))
            .unwrap_or(0.0);
        if let Ok(t) = UtcInstant::parse_iso(date_obs) {
            let avg = t.plus_seconds(exptime / 2.0).to_string();
            set_in_place(p, e, "DATE-AVG", HeaderValue::Str(avg));
        }
    }
}

fn header_text(p: &Header, e: &Header, key: &str) -> Option<String> {
    e.text(key).or_else(|| p.text(key))
}

fn remove(h: &mut Header, key: &str) {
    *h = Header::new(h.cards().iter().filter(|c| c.key != key).cloned().collect());
}

/// 2×2 binning of the pixel values (sum of four), dropping an odd last row or column.
fn bin2x2(pixels: &[f32], w: usize, h: usize) -> Vec<f32> {
    let (bw, bh) = (w / 2, h / 2);
    let mut out = Vec::with_capacity(bw * bh);
    for y in 0..bh {
        for x in 0..bw {
            let at = |dx: usize, dy: usize| pixels[(2 * y + dy) * w + 2 * x + dx];
            // Sum minus one bias level, so the binned frame stays below the 32-bit range and
            // looks like a 2×2 readout.
            out.push(at(0, 0) + at(1, 0) + at(0, 1) + at(1, 1) - 3000.0);
        }
    }
    out
}

/// Header WCS of a 2×2 binned frame: CD doubled, CRPIX halved.
fn halve_wcs(p: &mut Header, e: &mut Header) {
    for (key, factor, offset) in [
        ("CD1_1", 2.0, 0.0),
        ("CD1_2", 2.0, 0.0),
        ("CD2_1", 2.0, 0.0),
        ("CD2_2", 2.0, 0.0),
        ("CRPIX1", 0.5, 0.25),
        ("CRPIX2", 0.5, 0.25),
    ] {
        let value = e.number(key).or_else(|| p.number(key));
        if let Some(v) = value {
            set_in_place(p, e, key, HeaderValue::Float(v * factor + offset));
        }
    }
}

/// An 80-character fixed-format card.
pub fn fixed_card(key: &str, value: &str) -> String {
    format!("{:<80}", format!("{key:<8}= {value:>20}"))
}

/// Replaces the first card with `key` in a header byte range.
pub fn replace_card(header: &mut [u8], key: &str, card: &str) {
    let wanted = format!("{key:<8}");
    let slot = (0..header.len() / 80)
        .find(|s| &header[s * 80..s * 80 + 8] == wanted.as_bytes())
        .unwrap_or_else(|| panic!("no {key} card"));
    header[slot * 80..slot * 80 + 80].copy_from_slice(card.as_bytes());
}

/// (start of the extension header, start of its data, end of its data) of a two-HDU file.
fn extension_layout(bytes: &[u8]) -> (usize, usize, usize) {
    let end_of_header = |from: usize| {
        (from / 80..bytes.len() / 80)
            .map(|s| s * 80)
            .find(|&p| bytes[p..p + 80].starts_with(b"END     "))
            .expect("END card")
    };
    let primary_end = end_of_header(0);
    let ext_start = (primary_end + 80).div_ceil(2880) * 2880;
    let ext_end = end_of_header(ext_start);
    let data_start = (ext_end + 80).div_ceil(2880) * 2880;
    let header =
        Header::from_card_images(&String::from_utf8_lossy(&bytes[ext_start..ext_end + 80]));
    let n = header.number("NAXIS1").unwrap() * header.number("NAXIS2").unwrap();
    let bytes_per_pixel = header.number("BITPIX").unwrap().abs() / 8.0;
    (
        ext_start,
        data_start,
        data_start + (n * bytes_per_pixel) as usize,
    )
}
