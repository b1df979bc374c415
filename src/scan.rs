//! `scan`: walk a directory, find FITS files by content, read every image HDU's header (and
//! pixels, to catch truncated files and non-finite values) in parallel, and describe each HDU
//! in one row. A bad file becomes a row with `status = error` and a message naming the file,
//! HDU and keyword; the rest of the directory is still scanned.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use polars::prelude::*;
use rayon::prelude::*;

use crate::frame::meta::{extract_meta, Severity};
use crate::frame::profile::{ProfileChoice, ProfileRegistry};
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

/// Options of a scan.
pub struct ScanOptions<'a> {
    pub profiles: &'a ProfileRegistry,
    pub choice: &'a ProfileChoice,
    /// Called once per file scanned (for a progress bar).
    pub on_file: &'a (dyn Fn() + Sync),
}

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

/// Scans files in parallel; rows sorted by path and HDU whatever the thread count.
pub fn scan_files(files: &[PathBuf], options: &ScanOptions) -> Vec<ScanRow> {
    let mut rows: Vec<ScanRow> = files
        .par_iter()
        .flat_map_iter(|path| {
            // A bug met on one file must not lose the batch: it becomes that file's row.
            let rows =
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
                    });
            (options.on_file)();
            rows
        })
        .collect();
    rows.sort_by(|a, b| a.path.cmp(&b.path).then(a.hdu.cmp(&b.hdu)));
    mark_duplicates(&mut rows);
    rows
}

/// A usable HDU whose pixels are identical to those of an HDU of an earlier file (in path
/// order) is a duplicate exposure (a copy, or the same frame under two names): a warning
/// naming the first file, so that it is not measured twice unknowingly.
fn mark_duplicates(rows: &mut [ScanRow]) {
    use std::collections::HashMap;
    let mut first: HashMap<(u64, Option<u32>, Option<u32>), usize> = HashMap::new();
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

/// Pixels per block of [`pixel_pass`] (the digest hashes the pixels in blocks of this size).
const DIGEST_BLOCK: usize = 4096;

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

/// Digest of pixel values (their bit patterns, so NaNs compare equal) and their
/// [`FiniteSummary`], in one pass over the pixels.
///
/// The digest is the one of hashing `pixels.len()` and then each block of
/// [`DIGEST_BLOCK`] bit patterns as a `Vec<u32>` with the standard library's
/// `DefaultHasher`; one vector is reused for every block instead of a fresh one per block.
fn pixel_pass(pixels: &[f32]) -> (u64, FiniteSummary) {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    pixels.len().hash(&mut hasher);
    let mut summary = FiniteSummary::EMPTY;
    let mut bits: Vec<u32> = Vec::with_capacity(DIGEST_BLOCK);
    for chunk in pixels.chunks(DIGEST_BLOCK) {
        summary.add(chunk);
        bits.clear();
        bits.extend(chunk.iter().map(|v| v.to_bits()));
        bits.hash(&mut hasher);
    }
    (hasher.finish(), summary)
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
    images
        .into_iter()
        .map(|image| match image {
            Ok(image) => describe_hdu(&mut source, &image, options),
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

fn describe_hdu(source: &mut FitsSource, image: &ImageHdu, options: &ScanOptions) -> ScanRow {
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
    let mut digest = None;
    match source.read_pixels(image) {
        Ok(pixels) => {
            let (d, summary) = pixel_pass(&pixels);
            digest = Some(d);
            if let Some(m) = problem_of(&pixels, &summary) {
                messages.push((m.0, format!("{shown} HDU {}: {}", image.hdu, m.1)));
            }
        }
        Err(e) => messages.push((Severity::Error, e.to_string())),
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
    }
}

/// Non-finite or constant pixel values: a warning when some are bad, an error when none is
/// usable.
pub fn pixel_problem(pixels: &[f32]) -> Option<(Severity, String)> {
    let mut summary = FiniteSummary::EMPTY;
    summary.add(pixels);
    problem_of(pixels, &summary)
}

/// [`pixel_problem`] from the summary of the pixels.
fn problem_of(pixels: &[f32], summary: &FiniteSummary) -> Option<(Severity, String)> {
    let n_bad = summary.n_bad;
    if n_bad == pixels.len() {
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
                100.0 * n_bad as f64 / pixels.len() as f64
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

    #[test]
    fn one_pass_digest_and_checks_match_the_separate_ones() {
        // The digest as it was computed before the fused pass.
        fn reference_digest(pixels: &[f32]) -> u64 {
            use std::hash::{Hash, Hasher};
            let mut hasher = std::collections::hash_map::DefaultHasher::new();
            pixels.len().hash(&mut hasher);
            for chunk in pixels.chunks(4096) {
                let bits: Vec<u32> = chunk.iter().map(|v| v.to_bits()).collect();
                bits.hash(&mut hasher);
            }
            hasher.finish()
        }
        let mut seed = 3;
        for n in [0, 1, 7, 4096, 4097, 10_000] {
            let mut px: Vec<f32> = (0..n)
                .map(|_| crate::stats::test_gauss(&mut seed) as f32)
                .collect();
            if n > 5 {
                px[3] = f32::NAN;
                px[n - 1] = f32::INFINITY;
            }
            let (digest, summary) = pixel_pass(&px);
            assert_eq!(digest, reference_digest(&px), "{n}");
            assert_eq!(problem_of(&px, &summary), pixel_problem(&px));
        }
        for px in [
            vec![-0.0, 0.0, f32::NAN],
            vec![2.5, f32::NEG_INFINITY, 2.5],
            vec![f32::NAN, 1.0, 2.0],
        ] {
            let (_, summary) = pixel_pass(&px);
            assert_eq!(problem_of(&px, &summary), pixel_problem(&px));
        }
        let (s, m) = pixel_problem(&[-0.0, 0.0, f32::NAN]).unwrap();
        assert_eq!(s, Severity::Error);
        assert!(m.contains("same value -0"), "{m}");
    }

    #[test]
    fn fits_names() {
        assert!(has_fits_suffix(Path::new("a/ALDh250801.fits")));
        assert!(has_fits_suffix(Path::new("x.FITS.GZ")));
        assert!(has_fits_suffix(Path::new("x.fits.fz")));
        assert!(!has_fits_suffix(Path::new("README.md")));
    }
}
