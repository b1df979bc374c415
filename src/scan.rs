//! `scan`: walk a directory, find FITS files by content, read every image HDU's header (and
//! pixels, to catch truncated files and non-finite values) in parallel, and describe each HDU
//! in one row. A bad file becomes a row with `status = error` and a message naming the file,
//! HDU and keyword; the rest of the directory is still scanned.
//!
//! The pipeline scans with [`PixelReads::Probe`]: the frames it reads anyway are not read
//! twice (once here and once to reduce them, which from a disk doubled the I/O of a night and
//! kept the reads from overlapping the processing). Their pixel checks are made on the
//! pipeline's own read ([`complete_pixel_checks`]), and only their first pixels are read here,
//! to find the files that may be duplicates; those few are read in full, so duplicates are
//! found exactly as by a full scan.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use polars::prelude::*;
use rayon::prelude::*;

use crate::frame::meta::{extract_meta, Severity};
use crate::frame::prefetch::Prefetcher;
use crate::frame::profile::{FrameType, ProfileChoice, ProfileRegistry};
use crate::frame::read::{choose_profile, empty_detail, sniff, FileKind, FitsSource, ImageHdu};
use crate::frame::FrameError;

/// File name endings that announce a FITS file: such a file that is not FITS is reported.
const FITS_SUFFIXES: [&str; 8] = [
    ".fits", ".fit", ".fts", ".fz", ".fits.gz", ".fit.gz", ".fts.gz", ".fits.fz",
];

/// Outcome of one row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ScanStatus {
    Ok,
    /// Usable, with something the user should know (message in `error`).
    Warning,
    /// Unusable: skipped by the pipeline.
    Error,
}

impl ScanStatus {
    pub fn as_str(&self) -> &'static str {
        match self {
            ScanStatus::Ok => "ok",
            ScanStatus::Warning => "warning",
            ScanStatus::Error => "error",
        }
    }
}

/// One image HDU (or one unreadable file).
#[derive(Debug, Clone, PartialEq)]
pub struct ScanRow {
    pub path: String,
    pub hdu: Option<u32>,
    pub instrument: Option<String>,
    pub frame_type: Option<String>,
    pub object: Option<String>,
    pub filter: Option<String>,
    pub exptime_s: Option<f64>,
    pub date_obs_utc: Option<String>,
    pub mjd_mid_utc: Option<f64>,
    pub airmass: Option<f64>,
    pub naxis1: Option<u32>,
    pub naxis2: Option<u32>,
    pub binning: Option<String>,
    pub has_wcs: Option<bool>,
    pub status: ScanStatus,
    /// Messages (errors and warnings), separated by `; `.
    pub error: Option<String>,
    /// Digest of the pixel values (not written to the table): equal digests in two files
    /// mark a duplicate exposure.
    pub pixel_digest: Option<u64>,
    /// The earlier file (in path order) whose HDU has the same pixels, when this HDU is a
    /// duplicate (not written to the table; the message in `error` names it too).
    pub duplicate_of: Option<DuplicateOf>,
    /// The pixel checks (non-finite and constant values) and the digest are left to the
    /// pipeline's read of the frame ([`PixelReads::Probe`], [`complete_pixel_checks`]).
    pub pixels_pending: bool,
    /// Digest of the first [`PROBE_PIXELS`] pixels: HDUs with different probes cannot be
    /// duplicates.
    probe_digest: Option<u64>,
}

impl ScanRow {
    fn failed(path: &Path, hdu: Option<usize>, message: String) -> Self {
        ScanRow {
            path: path.display().to_string(),
            hdu: hdu.map(|h| h as u32),
            instrument: None,
            frame_type: None,
            object: None,
            filter: None,
            exptime_s: None,
            date_obs_utc: None,
            mjd_mid_utc: None,
            airmass: None,
            naxis1: None,
            naxis2: None,
            binning: None,
            has_wcs: None,
            status: ScanStatus::Error,
            error: Some(message),
            pixel_digest: None,
            duplicate_of: None,
            pixels_pending: false,
            probe_digest: None,
        }
    }
}

/// The HDU of an earlier file with the same pixel values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DuplicateOf {
    pub path: String,
    pub hdu: u32,
    /// Both HDUs have the same DATE-OBS: the same exposure under two names (otherwise a
    /// header may have been edited, and the two are not interchangeable).
    pub same_date_obs: bool,
}

/// Result of a scan.
#[derive(Debug, Clone, Default)]
pub struct ScanReport {
    pub rows: Vec<ScanRow>,
    /// Directories that could not be listed, and symlink loops avoided.
    pub walk_problems: Vec<WalkProblem>,
}

impl ScanReport {
    pub fn count(&self, status: ScanStatus) -> usize {
        self.rows.iter().filter(|r| r.status == status).count()
    }
}

/// A directory the walk could not enter, or did not enter again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WalkProblem {
    pub path: PathBuf,
    pub reason: String,
}

impl std::fmt::Display for WalkProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path.display(), self.reason)
    }
}

/// Which pixels a scan reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PixelReads {
    /// Every pixel of every image HDU (the `scan` command's inventory).
    All,
    /// Only the first [`PROBE_PIXELS`] of an HDU the pipeline reads anyway: the single image
    /// HDU of an uncompressed bias, flat, science or standard frame whose header has no
    /// error. Its row is left `pixels_pending`, for [`complete_pixel_checks`] on that read.
    /// Files whose probes equal another file's are read in full, so that duplicates are
    /// found as with [`PixelReads::All`]; every other HDU is read in full as well.
    Probe,
}

/// Options of a scan.
pub struct ScanOptions<'a> {
    pub profiles: &'a ProfileRegistry,
    pub choice: &'a ProfileChoice,
    /// Called once per file scanned (for a progress bar).
    pub on_file: &'a (dyn Fn() + Sync),
    pub pixels: PixelReads,
}

/// Pixels of the probe of [`PixelReads::Probe`] (256 KiB of 32-bit samples: the first rows,
/// whose noise tells two exposures apart).
pub const PROBE_PIXELS: usize = 1 << 16;

/// Files under `root` that may be FITS: recursive, sorted, symlinked directories followed
/// once (loops are detected through canonical paths).
pub fn find_candidates(root: &Path) -> (Vec<PathBuf>, Vec<WalkProblem>) {
    let mut files = Vec::new();
    let mut problems = Vec::new();
    let mut visited = HashSet::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        match std::fs::canonicalize(&dir) {
            Ok(canonical) => {
                if !visited.insert(canonical) {
                    problems.push(WalkProblem {
                        path: dir,
                        reason: "already visited (symlink loop), not entered again".into(),
                    });
                    continue;
                }
            }
            Err(e) => {
                problems.push(WalkProblem {
                    path: dir,
                    reason: format!("cannot resolve: {e}"),
                });
                continue;
            }
        }
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) => {
                problems.push(WalkProblem {
                    path: dir,
                    reason: format!("cannot list directory: {e}"),
                });
                continue;
            }
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files.sort();
    (files, problems)
}

fn has_fits_suffix(path: &Path) -> bool {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    FITS_SUFFIXES.iter().any(|s| name.ends_with(s))
}

/// Files to scan under `root` (a directory, walked recursively, or a single file), and the
/// problems met while walking.
pub fn files_to_scan(root: &Path) -> (Vec<PathBuf>, Vec<WalkProblem>) {
    if root.is_file() {
        (vec![root.to_path_buf()], Vec::new())
    } else {
        find_candidates(root)
    }
}

/// Scans a directory (or a single file).
pub fn scan_path(root: &Path, options: &ScanOptions) -> ScanReport {
    let (files, walk_problems) = files_to_scan(root);
    ScanReport {
        rows: scan_files(&files, options),
        walk_problems,
    }
}

/// Bytes at the start of a file read ahead before a scan: room for its headers (64 KiB) and
/// the probe of its first image HDU at up to 32 bits a pixel.
const HEAD_BYTES: u64 = (64 << 10) + 4 * PROBE_PIXELS as u64;

/// Scans files in parallel; rows sorted by path and HDU whatever the thread count.
///
/// The heads of all the files (their first 320 KiB) are first asked of the kernel at once
/// (a [`Prefetcher`]): from a disk, a scan thread otherwise waits on each file's first reads
/// in turn, two small reads at a time. The probe scan of the 60 files of the 50-frame bench
/// night from the disk took 101–108 ms that way and takes 24–34 ms so (5 ms from the page
/// cache).
pub fn scan_files(files: &[PathBuf], options: &ScanOptions) -> Vec<ScanRow> {
    let prefetcher = Prefetcher::start();
    for path in files {
        prefetcher.ask_head(path, HEAD_BYTES);
    }
    let mut rows: Vec<ScanRow> = files
        .par_iter()
        .flat_map_iter(|path| {
            let rows = scan_file_guarded(path, options);
            (options.on_file)();
            rows
        })
        .collect();
    rows.sort_by(|a, b| a.path.cmp(&b.path).then(a.hdu.cmp(&b.hdu)));
    let shared_probes = files_with_shared_probes(&rows);
    read_in_full(&mut rows, |path| shared_probes.contains(path), options);
    mark_duplicates(&mut rows);
    rows
}

/// A digest of an HDU's pixels with its NAXIS1 and NAXIS2.
type DigestKey = (u64, Option<u32>, Option<u32>);

/// [`scan_file`], with a bug met on the file turned into its error row: it must not lose the
/// batch.
fn scan_file_guarded(path: &Path, options: &ScanOptions) -> Vec<ScanRow> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| scan_file(path, options)))
        .unwrap_or_else(|panic| {
            let what = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            vec![ScanRow::failed(
                path,
                None,
                format!("{}: internal error while reading ({what})", path.display()),
            )]
        })
}

/// Files with a pending HDU whose probe (and size) another file's usable HDU shares: the
/// candidates for duplicates, which must be read in full to be told apart.
fn files_with_shared_probes(rows: &[ScanRow]) -> HashSet<String> {
    use std::collections::HashMap;
    let mut paths: HashMap<DigestKey, Vec<&str>> = HashMap::new();
    for row in rows.iter().filter(|r| r.status != ScanStatus::Error) {
        if let Some(probe) = row.probe_digest {
            let files = paths.entry((probe, row.naxis1, row.naxis2)).or_default();
            if !files.contains(&row.path.as_str()) {
                files.push(&row.path);
            }
        }
    }
    let shared: HashSet<&str> = paths
        .into_values()
        .filter(|files| files.len() > 1)
        .flatten()
        .collect();
    rows.iter()
        .filter(|r| r.pixels_pending && shared.contains(r.path.as_str()))
        .map(|r| r.path.clone())
        .collect()
}

/// Scans again, reading every pixel, the files with a pending row that `chosen` picks, and
/// puts their rows in place of the old ones (still sorted by path and HDU). Duplicates are not
/// looked for again: for the frames the pipeline refuses before reading them, whose checks
/// must still be made.
pub fn read_in_full(rows: &mut Vec<ScanRow>, chosen: impl Fn(&str) -> bool, options: &ScanOptions) {
    let paths: HashSet<String> = rows
        .iter()
        .filter(|r| r.pixels_pending && chosen(&r.path))
        .map(|r| r.path.clone())
        .collect();
    if paths.is_empty() {
        return;
    }
    let noop = || {};
    let full = ScanOptions {
        profiles: options.profiles,
        choice: options.choice,
        on_file: &noop,
        pixels: PixelReads::All,
    };
    let rescanned: Vec<ScanRow> = paths
        .par_iter()
        .flat_map_iter(|path| scan_file_guarded(Path::new(path), &full))
        .collect();
    rows.retain(|r| !paths.contains(&r.path));
    rows.extend(rescanned);
    rows.sort_by(|a, b| a.path.cmp(&b.path).then(a.hdu.cmp(&b.hdu)));
}

/// A usable HDU whose pixels are identical to those of an HDU of an earlier file (in path
/// order) is a duplicate exposure (a copy, or the same frame under two names): a warning
/// naming the first file, so that it is not measured twice unknowingly.
fn mark_duplicates(rows: &mut [ScanRow]) {
    use std::collections::HashMap;
    let mut first: HashMap<DigestKey, usize> = HashMap::new();
    for i in 0..rows.len() {
        let row = &rows[i];
        let Some(digest) = row.pixel_digest else {
            continue;
        };
        if row.status == ScanStatus::Error {
            continue;
        }
        let key = (digest, row.naxis1, row.naxis2);
        let Some(&j) = first.get(&key) else {
            first.insert(key, i);
            continue;
        };
        if rows[j].path == row.path {
            continue;
        }
        let original = &rows[j];
        let same_date =
            original.date_obs_utc.is_some() && original.date_obs_utc == row.date_obs_utc;
        let message = format!(
            "{} HDU {}: duplicate of {} HDU {} (identical pixel data{})",
            row.path,
            row.hdu.unwrap_or(0),
            original.path,
            original.hdu.unwrap_or(0),
            if same_date { ", same DATE-OBS" } else { "" }
        );
        let original = DuplicateOf {
            path: original.path.clone(),
            hdu: original.hdu.unwrap_or(0),
            same_date_obs: same_date,
        };
        let row = &mut rows[i];
        row.duplicate_of = Some(original);
        row.error = Some(match row.error.take() {
            Some(e) => format!("{e}; {message}"),
            None => message,
        });
        row.status = row.status.max(ScanStatus::Warning);
    }
}

/// Pixels per block of [`PixelPass`] (a multiple of [`PixelDigest::PIXELS_PER_STEP`]).
const DIGEST_BLOCK: usize = 4096;

/// A 64-bit digest of pixel bit patterns (so NaNs compare by payload and −0 differs from +0),
/// for finding identical exposures; not cryptographic.
///
/// The pixels are read as 64-bit words (two pixels each) dealt in turn to four lanes; each
/// lane takes a word w as h ← rotl((h ⊕ w) · K, 31) with K odd. Every step is a bijection of
/// the lane for a given word, so two inputs of the same length that differ in one word always
/// end with different lanes. The lanes and the length are folded together with splitmix64's
/// finaliser (Steele, Lea & Flood 2014, "Fast splittable pseudorandom number generators").
/// Four independent lanes keep the multiplier busy: about a cycle per word, where the
/// standard library's SipHash took ~2 ns per pixel.
#[derive(Debug, Clone)]
struct PixelDigest {
    lanes: [u64; 4],
    pixels: u64,
}

impl PixelDigest {
    /// Pixels per step of the four lanes.
    const PIXELS_PER_STEP: usize = 8;
    const K: u64 = 0x9E37_79B9_7F4A_7C15;

    fn new() -> Self {
        PixelDigest {
            lanes: [
                0x243F_6A88_85A3_08D3,
                0x1319_8A2E_0370_7344,
                0xA409_3822_299F_31D0,
                0x082E_FA98_EC4E_6C89,
            ],
            pixels: 0,
        }
    }

    fn mix(h: u64, word: u64) -> u64 {
        ((h ^ word).wrapping_mul(Self::K)).rotate_left(31)
    }

    /// One or two pixels as a word (the first in the low half).
    fn word(pair: &[f32]) -> u64 {
        pair.iter()
            .enumerate()
            .fold(0, |w, (i, v)| w | u64::from(v.to_bits()) << (32 * i))
    }

    /// Adds `pixels`; a length that is not a multiple of [`Self::PIXELS_PER_STEP`] leaves its
    /// last pixels to the first lanes.
    fn add(&mut self, pixels: &[f32]) {
        let steps = pixels.chunks_exact(Self::PIXELS_PER_STEP);
        let rest = steps.remainder();
        for step in steps {
            for (k, lane) in self.lanes.iter_mut().enumerate() {
                let word =
                    u64::from(step[2 * k].to_bits()) | u64::from(step[2 * k + 1].to_bits()) << 32;
                *lane = Self::mix(*lane, word);
            }
        }
        for (lane, pair) in self.lanes.iter_mut().zip(rest.chunks(2)) {
            *lane = Self::mix(*lane, Self::word(pair));
        }
        self.pixels += pixels.len() as u64;
    }

    /// splitmix64's finaliser.
    fn finalise(mut z: u64) -> u64 {
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn finish(&self) -> u64 {
        self.lanes
            .iter()
            .fold(Self::finalise(self.pixels), |acc, &lane| {
                Self::finalise(acc.rotate_left(23) ^ lane)
            })
    }
}

/// Non-finite count of some pixels, their first finite value, and whether another finite
/// value differs from it.
#[derive(Debug, Clone, Copy)]
struct FiniteSummary {
    n_bad: usize,
    first: Option<f32>,
    varies: bool,
}

impl FiniteSummary {
    const EMPTY: FiniteSummary = FiniteSummary {
        n_bad: 0,
        first: None,
        varies: false,
    };

    /// Adds `pixels` (after the first finite value is known, the loop accumulates a count and
    /// a boolean without branching, so it vectorises).
    fn add(&mut self, pixels: &[f32]) {
        let first = match self.first {
            Some(f) => f,
            None => match pixels.iter().copied().find(|v| v.is_finite()) {
                Some(f) => {
                    self.first = Some(f);
                    f
                }
                None => {
                    self.n_bad += pixels.len();
                    return;
                }
            },
        };
        let (mut n_bad, mut same) = (0usize, true);
        for &v in pixels {
            let finite = v.is_finite();
            n_bad += usize::from(!finite);
            same &= !finite | (v == first);
        }
        self.n_bad += n_bad;
        self.varies |= !same;
    }
}

/// Pixels per block read by the scan (4 MiB of f32; a multiple of [`DIGEST_BLOCK`]).
const SCAN_BLOCK: usize = 256 * DIGEST_BLOCK;

/// The [`PixelDigest`] and [`FiniteSummary`] of pixels given block by block, in one pass
/// (in blocks of [`DIGEST_BLOCK`], each still in cache for its second use).
struct PixelPass {
    digest: PixelDigest,
    /// The digest of the first [`PROBE_PIXELS`].
    probe: PixelDigest,
    summary: FiniteSummary,
    pixels: usize,
}

impl Default for PixelPass {
    fn default() -> Self {
        PixelPass {
            digest: PixelDigest::new(),
            probe: PixelDigest::new(),
            summary: FiniteSummary::EMPTY,
            pixels: 0,
        }
    }
}

impl PixelPass {
    /// Adds the next pixels; every block but the last must be a multiple of
    /// [`PixelDigest::PIXELS_PER_STEP`] long for the digest not to depend on the blocking.
    fn add(&mut self, pixels: &[f32]) {
        let probed = PROBE_PIXELS.saturating_sub(self.pixels).min(pixels.len());
        self.probe.add(&pixels[..probed]);
        for chunk in pixels.chunks(DIGEST_BLOCK) {
            self.summary.add(chunk);
            self.digest.add(chunk);
        }
        self.pixels += pixels.len();
    }
}

/// The probe digest of an HDU from its first pixels (at most [`PROBE_PIXELS`]).
fn probe_digest(first: &[f32]) -> u64 {
    let mut probe = PixelDigest::new();
    probe.add(&first[..first.len().min(PROBE_PIXELS)]);
    probe.finish()
}

/// Completes a `pixels_pending` row with the checks of its HDU's `pixels`, read by the
/// pipeline (as read, before any processing): the same messages, in the same order, and the
/// same status as a scan reading every pixel would have given. The digest is not computed:
/// the row's probe matched no other file's, so it cannot be a duplicate. A row not pending is
/// left as it is.
pub fn complete_pixel_checks(row: &mut ScanRow, pixels: &[f32]) {
    if !row.pixels_pending {
        return;
    }
    row.pixels_pending = false;
    let Some((severity, message)) = pixel_problem(pixels) else {
        return;
    };
    let message = format!("{} HDU {}: {message}", row.path, row.hdu.unwrap_or(0));
    // A pending row has no error (its header had none), so an error goes first and a warning
    // after the others, as the scan sorts them.
    row.error = Some(match (row.error.take(), severity) {
        (None, _) => message,
        (Some(others), Severity::Error) => format!("{message}; {others}"),
        (Some(others), Severity::Warning) => format!("{others}; {message}"),
    });
    row.status = row.status.max(match severity {
        Severity::Error => ScanStatus::Error,
        Severity::Warning => ScanStatus::Warning,
    });
}

/// Rows for one file: one per image HDU; one error row if the file cannot be opened; none if
/// it is neither FITS by content nor named like FITS.
pub fn scan_file(path: &Path, options: &ScanOptions) -> Vec<ScanRow> {
    let named_fits = has_fits_suffix(path);
    let kind = match sniff(path) {
        Ok(kind) => kind,
        Err(e) => return vec![ScanRow::failed(path, None, e.to_string())],
    };
    if kind == FileKind::Other && !named_fits {
        return Vec::new();
    }
    let mut source = match FitsSource::open(path) {
        Ok(s) => s,
        // A gzip file without a FITS name is only of interest if it holds FITS.
        Err(_) if kind == FileKind::Gzip && !named_fits => return Vec::new(),
        Err(e) => return vec![ScanRow::failed(path, None, e.to_string())],
    };
    let images = source.image_hdus();
    if images.is_empty() {
        let e = FrameError::NoImage {
            path: path.display().to_string(),
            detail: empty_detail(source.empty_hdus()),
        };
        return vec![ScanRow::failed(path, None, e.to_string())];
    }
    let single_image = images.len() == 1;
    images
        .into_iter()
        .map(|image| match image {
            Ok(image) => describe_hdu(&mut source, &image, options, single_image),
            Err(e) => {
                let hdu = match &e {
                    FrameError::Hdu { hdu, .. } => Some(*hdu),
                    _ => None,
                };
                ScanRow::failed(path, hdu, e.to_string())
            }
        })
        .collect()
}

/// Whether the pipeline reads the pixels of an HDU of this type (and so may check them then).
fn read_by_pipeline(frame_type: FrameType) -> bool {
    matches!(
        frame_type,
        FrameType::Bias | FrameType::Flat | FrameType::Science | FrameType::Standard
    )
}

fn describe_hdu(
    source: &mut FitsSource,
    image: &ImageHdu,
    options: &ScanOptions,
    single_image: bool,
) -> ScanRow {
    let path = source.path().to_path_buf();
    let shown = path.display().to_string();
    let profile = choose_profile(&image.header, options.choice, options.profiles);
    let (meta, problems) = extract_meta(&image.header, profile, image.width, image.height);
    let mut messages: Vec<(Severity, String)> = problems
        .into_iter()
        .map(|p| {
            (
                p.severity,
                format!("{shown} HDU {}: {}", image.hdu, p.message),
            )
        })
        .collect();
    let defer = options.pixels == PixelReads::Probe
        && single_image
        && read_by_pipeline(meta.frame_type)
        && messages.iter().all(|m| m.0 != Severity::Error);
    let probe = defer
        .then(|| source.first_pixels(image, PROBE_PIXELS))
        .flatten()
        .map(|first| probe_digest(&first));
    let pixels_pending = probe.is_some();
    let (mut digest, mut probe_digest) = (None, probe);
    if !pixels_pending {
        let mut pass = PixelPass::default();
        match source.for_each_pixel_block(image, SCAN_BLOCK, |block| pass.add(block)) {
            Ok(()) => {
                digest = Some(pass.digest.finish());
                probe_digest = Some(pass.probe.finish());
                if let Some(m) = problem_of(pass.pixels, &pass.summary) {
                    messages.push((m.0, format!("{shown} HDU {}: {}", image.hdu, m.1)));
                }
            }
            Err(e) => messages.push((Severity::Error, e.to_string())),
        }
    }
    messages.sort_by_key(|m| std::cmp::Reverse(m.0));
    let status = match messages.first() {
        None => ScanStatus::Ok,
        Some((Severity::Warning, _)) => ScanStatus::Warning,
        Some((Severity::Error, _)) => ScanStatus::Error,
    };
    let error = (!messages.is_empty()).then(|| {
        messages
            .iter()
            .map(|(_, m)| m.as_str())
            .collect::<Vec<_>>()
            .join("; ")
    });
    ScanRow {
        path: shown,
        hdu: Some(image.hdu as u32),
        instrument: Some(meta.instrument.clone()),
        frame_type: Some(meta.frame_type.to_string()),
        object: meta.object.clone(),
        filter: meta.filter.clone(),
        exptime_s: meta.exptime_s,
        date_obs_utc: meta.date_obs_utc.map(|t| t.to_string()),
        mjd_mid_utc: meta.mid_exposure_utc.map(|t| t.mjd()),
        airmass: meta.airmass,
        naxis1: Some(image.width as u32),
        naxis2: Some(image.height as u32),
        binning: Some(meta.binning.to_string()),
        has_wcs: Some(meta.has_wcs()),
        status,
        error,
        pixel_digest: digest,
        duplicate_of: None,
        pixels_pending,
        probe_digest,
    }
}

/// Non-finite or constant pixel values: a warning when some are bad, an error when none is
/// usable.
pub fn pixel_problem(pixels: &[f32]) -> Option<(Severity, String)> {
    let mut summary = FiniteSummary::EMPTY;
    summary.add(pixels);
    problem_of(pixels.len(), &summary)
}

/// [`pixel_problem`] from the summary of `n_pixels` pixels.
fn problem_of(n_pixels: usize, summary: &FiniteSummary) -> Option<(Severity, String)> {
    let n_bad = summary.n_bad;
    if n_bad == n_pixels {
        return Some((Severity::Error, "every pixel is NaN or infinite".into()));
    }
    if !summary.varies {
        let first = summary.first.unwrap_or(0.0);
        return Some((
            Severity::Error,
            format!("every finite pixel has the same value {first}: no signal"),
        ));
    }
    (n_bad > 0).then(|| {
        (
            Severity::Warning,
            format!(
                "{n_bad} pixels ({:.3}%) are NaN or infinite; they will be masked",
                100.0 * n_bad as f64 / n_pixels as f64
            ),
        )
    })
}

/// The scan table as a polars DataFrame with the documented columns.
pub fn to_dataframe(rows: &[ScanRow]) -> PolarsResult<DataFrame> {
    let col_str = |name: &str, f: &dyn Fn(&ScanRow) -> Option<String>| {
        Column::new(name.into(), rows.iter().map(f).collect::<Vec<_>>())
    };
    let col_f64 = |name: &str, f: &dyn Fn(&ScanRow) -> Option<f64>| {
        Column::new(name.into(), rows.iter().map(f).collect::<Vec<_>>())
    };
    let col_u32 = |name: &str, f: &dyn Fn(&ScanRow) -> Option<u32>| {
        Column::new(name.into(), rows.iter().map(f).collect::<Vec<_>>())
    };
    DataFrame::new_infer_height(vec![
        col_str("path", &|r| Some(r.path.clone())),
        col_u32("hdu", &|r| r.hdu),
        col_str("instrument", &|r| r.instrument.clone()),
        col_str("frame_type", &|r| r.frame_type.clone()),
        col_str("object", &|r| r.object.clone()),
        col_str("filter", &|r| r.filter.clone()),
        col_f64("exptime_s", &|r| r.exptime_s),
        col_str("date_obs_utc", &|r| r.date_obs_utc.clone()),
        col_f64("mjd_mid_utc", &|r| r.mjd_mid_utc),
        col_f64("airmass", &|r| r.airmass),
        col_u32("naxis1", &|r| r.naxis1),
        col_u32("naxis2", &|r| r.naxis2),
        col_str("binning", &|r| r.binning.clone()),
        Column::new(
            "has_wcs".into(),
            rows.iter().map(|r| r.has_wcs).collect::<Vec<_>>(),
        ),
        col_str("status", &|r| Some(r.status.as_str().to_string())),
        col_str("error", &|r| r.error.clone()),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pixel_checks() {
        assert_eq!(pixel_problem(&[1.0, 2.0, 3.0]), None);
        let (s, m) = pixel_problem(&[1.0, f32::NAN, 3.0, 4.0]).unwrap();
        assert_eq!(s, Severity::Warning);
        assert!(m.contains("1 pixels (25.000%)"), "{m}");
        assert_eq!(pixel_problem(&[f32::NAN; 4]).unwrap().0, Severity::Error);
        assert_eq!(pixel_problem(&[0.0; 4]).unwrap().0, Severity::Error);
    }

    /// The digest and summary of `pixels` given in blocks of `block` pixels.
    fn pixel_pass_in_blocks(pixels: &[f32], block: usize) -> (u64, FiniteSummary) {
        let mut pass = PixelPass::default();
        pixels.chunks(block).for_each(|b| pass.add(b));
        assert_eq!(pass.pixels, pixels.len());
        (pass.digest.finish(), pass.summary)
    }

    fn pixel_pass(pixels: &[f32]) -> (u64, FiniteSummary) {
        pixel_pass_in_blocks(pixels, SCAN_BLOCK)
    }

    /// Blocks of any multiple of 8 pixels give the digest of the whole.
    #[test]
    fn digest_does_not_depend_on_the_blocks() {
        let mut seed = 7;
        let px: Vec<f32> = (0..10_003)
            .map(|_| crate::stats::test_gauss(&mut seed) as f32)
            .collect();
        let whole = pixel_pass(&px).0;
        for block in [8, 64, 4096, 4104, 10_000] {
            assert_eq!(pixel_pass_in_blocks(&px, block).0, whole, "{block}");
        }
    }

    #[test]
    fn one_pass_checks_match_the_separate_ones() {
        let mut seed = 3;
        for n in [0, 1, 7, 4096, 4097, 10_000] {
            let mut px: Vec<f32> = (0..n)
                .map(|_| crate::stats::test_gauss(&mut seed) as f32)
                .collect();
            if n > 5 {
                px[3] = f32::NAN;
                px[n - 1] = f32::INFINITY;
            }
            let (_, summary) = pixel_pass(&px);
            assert_eq!(problem_of(px.len(), &summary), pixel_problem(&px));
        }
        for px in [
            vec![-0.0, 0.0, f32::NAN],
            vec![2.5, f32::NEG_INFINITY, 2.5],
            vec![f32::NAN, 1.0, 2.0],
        ] {
            let (_, summary) = pixel_pass(&px);
            assert_eq!(problem_of(px.len(), &summary), pixel_problem(&px));
        }
        let (s, m) = pixel_problem(&[-0.0, 0.0, f32::NAN]).unwrap();
        assert_eq!(s, Severity::Error);
        assert!(m.contains("same value -0"), "{m}");
    }

    /// Equal pixels give equal digests; changing any one pixel's bits (a NaN payload, the sign
    /// of zero), swapping two pixels, or appending a pixel changes it.
    #[test]
    fn digest_tells_frames_apart() {
        let mut seed = 11;
        for n in [1, 2, 9, 4096, 4103, 10_001] {
            let px: Vec<f32> = (0..n)
                .map(|_| crate::stats::test_gauss(&mut seed) as f32)
                .collect();
            let digest = |p: &[f32]| pixel_pass(p).0;
            let d = digest(&px);
            assert_eq!(d, digest(&px.clone()), "{n}");
            for i in [0, n / 2, n - 1] {
                for changed in [
                    f32::from_bits(px[i].to_bits() ^ 1),
                    -px[i],
                    f32::NAN,
                    f32::from_bits(f32::NAN.to_bits() | 1),
                ] {
                    let mut other = px.clone();
                    other[i] = changed;
                    assert_ne!(d, digest(&other), "{n}: pixel {i} = {changed}");
                }
            }
            if n > 1 {
                let mut swapped = px.clone();
                swapped.swap(0, n - 1);
                assert_ne!(d, digest(&swapped), "{n}: swapped");
            }
            let mut longer = px.clone();
            longer.push(0.0);
            assert_ne!(d, digest(&longer), "{n}: one more pixel");
        }
        assert_ne!(pixel_pass(&[0.0]).0, pixel_pass(&[-0.0]).0);
        assert_ne!(pixel_pass(&[]).0, pixel_pass(&[0.0]).0);
    }

    #[test]
    fn fits_names() {
        assert!(has_fits_suffix(Path::new("a/ALDh250801.fits")));
        assert!(has_fits_suffix(Path::new("x.FITS.GZ")));
        assert!(has_fits_suffix(Path::new("x.fits.fz")));
        assert!(!has_fits_suffix(Path::new("README.md")));
    }
}
