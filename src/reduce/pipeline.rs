//! `reduce`: a directory of raw frames → masters and calibrated frames.
//!
//! 1. Classify every file with the scan module (a file the scan marks as an error is
//!    skipped with the scan's message); darks, arcs and unclassified frames are ignored
//!    (listed, not an error). The scan reads only the headers (and a probe) of the frames
//!    reduced below ([`PixelReads::Probe`]): their pixel checks are made on the read that
//!    reduces them, where a frame that fails them is skipped with the same message.
//! 2. Prepare the biases (overscan, trim, e⁻) in parallel, group them by [`Layout`]
//!    (instrument, binning, window, size) and combine each group into a master bias.
//! 3. Prepare the flats, group them by layout and filter, build each master flat with the
//!    master bias of its layout.
//! 4. Calibrate every science and standard frame in parallel (rayon), one frame in memory
//!    per thread: − bias, ÷ flat, masks, cosmic rays, written as FITS. A frame without a
//!    master bias or flat of its layout and filter is skipped with a reason naming the file,
//!    filter and binning; a bad frame never stops the batch.
//! 5. With an illumination correction ([`ReduceOptions::illumination`]), step 4 is preceded
//!    by a first pass over the science frames (standards excluded): each is calibrated, its
//!    sources masked and its sky measured on a coarse mesh ([`super::illumination`]), and
//!    the meshes of each layout and filter give an illumination correction. Step 4 then
//!    calibrates the frames again (the raw file is re-read rather than a night kept in
//!    memory) and divides every science and standard frame of that layout and filter by it.
//!    When the correction of a group cannot be built, its frames are written without it,
//!    with the reason in their HISTORY and in the report's problems.
//!
//! Outputs (in `out_dir`, never the input directory): `<name>_red.fits` per frame,
//! `masters/master_bias_<layout>.fits`, `masters/master_flat_<filter>_<layout>.fits`
//! (and `masters/illumination_<filter>_<layout>.fits` with the illumination correction), and
//! `reduce_log.csv` (one row per input file: status reduced / skipped / ignored / used in a
//! master, output, reason).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use rayon::prelude::*;

use super::calibrate::{calibrate_frame_owned, Calibrated};
use super::combine::CombineOptions;
use super::cosmic::LaCosmicOptions;
use super::illumination::{
    combine_sky_meshes, sky_mesh, Illumination, IlluminationError, IlluminationOptions, SkyMesh,
};
use super::master::{
    build_master_bias, build_master_flat_from, flat_without_bias, normalise_flat, Masters,
    NormalisedFlat,
};
use super::overscan::OverscanOptions;
use super::prepare::{prepare_frame_owned, PreparedFrame};
use super::write::{write_calibrated, write_illumination, write_master_bias, write_master_flat};
use super::{filter_label, safe_name, CalibratedFrame, Layout, ReduceError};
use crate::frame::prefetch::Prefetcher;
use crate::frame::profile::{FrameType, ProfileChoice, ProfileRegistry};
use crate::frame::read::{choose_profile, read_frame, Frame};
use crate::image::pixel_flag;
use crate::scan::{
    complete_pixel_checks, files_to_scan, read_in_full, scan_files, PixelReads, ScanOptions,
    ScanRow, ScanStatus,
};

/// Settings of a reduction.
#[derive(Debug, Clone)]
pub struct ReduceOptions {
    pub profiles: ProfileRegistry,
    pub choice: ProfileChoice,
    pub overscan: OverscanOptions,
    pub combine: CombineOptions,
    /// Cosmic-ray cleaning (`None`: off).
    pub cosmic: Option<LaCosmicOptions>,
    /// Write the master frames into `out_dir/masters/`.
    pub write_masters: bool,
    /// Illumination correction from the science frames (`None`: off).
    pub illumination: Option<IlluminationOptions>,
}

impl ReduceOptions {
    /// The scan of the reduction's inputs, with its profiles, reading `pixels`.
    fn scan_options(&self, pixels: PixelReads) -> ScanOptions<'_> {
        fn nothing() {}
        ScanOptions {
            profiles: &self.profiles,
            choice: &self.choice,
            on_file: &nothing,
            pixels,
        }
    }

    /// Defaults: profile detection, smoothed clipped-mean overscan, 3σ-clipped mean
    /// combination, cosmic-ray cleaning on, masters written, no illumination correction.
    pub fn new(profiles: ProfileRegistry) -> Self {
        ReduceOptions {
            profiles,
            choice: ProfileChoice::Detect,
            overscan: OverscanOptions::default(),
            combine: CombineOptions::default(),
            cosmic: Some(LaCosmicOptions::default()),
            write_masters: true,
            illumination: None,
        }
    }
}

/// Progress events (for a progress bar).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// Classification done: this many calibration and science/standard frames to process.
    Planned { calibration: usize, science: usize },
    /// One frame (calibration or science) processed.
    FrameDone,
}

/// One calibrated frame.
#[derive(Debug, Clone, PartialEq)]
pub struct ReducedFrame {
    pub source: PathBuf,
    /// Written file (`None` when not writing).
    pub output: Option<PathBuf>,
    pub frame_type: FrameType,
    pub filter: Option<String>,
    pub layout: Layout,
    /// Sigma-clipped median of the calibrated image (e⁻): the sky. Measured for the reduce
    /// log only, i.e. when the frame is written (`output` is `Some`); NaN otherwise (the
    /// clipping of ~1 M pixels is about 50 ms a full ALFOSC frame that in-memory callers such
    /// as `photometry` do not use).
    pub sky_median_e: f64,
    pub n_saturated: usize,
    pub n_cosmic_ray: usize,
    pub n_bad: usize,
    pub n_nonfinite: usize,
}

/// A file not used, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Skipped {
    pub file: PathBuf,
    pub reason: String,
}

/// Kind of master frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MasterKind {
    Bias,
    Flat,
}

/// A master frame built.
#[derive(Debug, Clone, PartialEq)]
pub struct MasterSummary {
    pub kind: MasterKind,
    pub layout: Layout,
    pub filter: Option<String>,
    pub n_frames: usize,
    pub sources: Vec<PathBuf>,
    pub output: Option<PathBuf>,
    /// Bias: mean raw bias level (ADU).
    pub bias_level_adu: Option<f64>,
    /// Bias: noise of the master (e⁻).
    pub bias_noise_e: Option<f64>,
    /// Flat: mean level of the flats used (e⁻, bias-subtracted).
    pub flat_level_e: Option<f64>,
    /// Flat: sigma-clipped rms of the response in the central region.
    pub flat_rms: Option<f64>,
    pub n_bad: usize,
}

/// An illumination correction built and applied.
#[derive(Debug, Clone, PartialEq)]
pub struct IlluminationSummary {
    pub layout: Layout,
    pub filter: Option<String>,
    /// Science frames it was built from.
    pub sources: Vec<PathBuf>,
    pub mesh_box_px: usize,
    /// Lowest and highest value of the correction (median 1 in the centre).
    pub min: f64,
    pub max: f64,
    /// Written `masters/illumination_<filter>_<layout>.fits`, when writing masters.
    pub output: Option<PathBuf>,
}

/// What a reduction did.
#[derive(Debug, Clone, Default)]
pub struct ReduceReport {
    pub reduced: Vec<ReducedFrame>,
    /// Illumination corrections built (when asked for).
    pub illuminations: Vec<IlluminationSummary>,
    /// Frames that should have been reduced or used in a master but could not be.
    pub skipped: Vec<Skipped>,
    /// Frames of kinds the reduction does not use (darks, arcs, unknown...).
    pub ignored: Vec<Skipped>,
    pub masters: Vec<MasterSummary>,
    /// Problems met while walking the input directory.
    pub walk_problems: Vec<String>,
    /// `reduce_log.csv`, when written.
    pub log: Option<PathBuf>,
    /// The scan rows given, those left pending completed with the checks made on this run's
    /// reads of their frames (rows of frames not read stay pending).
    pub scan_rows: Vec<ScanRow>,
}

/// Calls `f`, turning a panic into an error naming the file (a bug met on one frame must
/// not lose the batch).
fn guarded<T>(file: &Path, f: impl FnOnce() -> Result<T, ReduceError>) -> Result<T, String> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(e.to_string()),
        Err(panic) => {
            let what = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            Err(format!("{}: internal error ({what})", file.display()))
        }
    }
}

/// Scan rows left pending, by file (one per file: the scan defers only single-image files),
/// and the rows completed on reading their frames.
struct PendingChecks {
    rows: HashMap<PathBuf, ScanRow>,
    completed: Mutex<Vec<ScanRow>>,
}

impl PendingChecks {
    fn new(rows: &[ScanRow]) -> Self {
        PendingChecks {
            rows: rows
                .iter()
                .filter(|r| r.pixels_pending)
                .map(|r| (PathBuf::from(&r.path), r.clone()))
                .collect(),
            completed: Mutex::new(Vec::new()),
        }
    }

    /// Reads the frame at `path`, making its pending pixel checks on the pixels as read: a
    /// frame that fails them is refused with the scan's message.
    fn read(&self, path: &Path, options: &ReduceOptions) -> Result<Frame, ReduceError> {
        let frame = read_frame(path, &options.choice, &options.profiles)?;
        let Some(pending) = self.rows.get(path) else {
            return Ok(frame);
        };
        let mut row = pending.clone();
        // (A file rewritten since the scan with another number of images stays pending.)
        if let [amplifier] = frame.amplifiers.as_slice() {
            complete_pixel_checks(&mut row, &amplifier.pixels);
        }
        let refusal = (row.status == ScanStatus::Error).then(|| row.error.clone());
        if let Ok(mut completed) = self.completed.lock() {
            completed.push(row);
        }
        match refusal {
            Some(reason) => Err(ReduceError::Scan(reason.unwrap_or_default())),
            None => Ok(frame),
        }
    }

    /// `rows` with the completed rows in place of the pending ones.
    fn merged_into(self, mut rows: Vec<ScanRow>) -> Vec<ScanRow> {
        let mut completed: HashMap<(String, Option<u32>), ScanRow> = self
            .completed
            .into_inner()
            .unwrap_or_default()
            .into_iter()
            .map(|r| ((r.path.clone(), r.hdu), r))
            .collect();
        for row in &mut rows {
            if let Some(done) = completed.remove(&(row.path.clone(), row.hdu)) {
                *row = done;
            }
        }
        rows
    }
}

/// Makes now the pending pixel checks that must precede the reduction: of the science frames
/// when an illumination correction is built (its first pass reads them too), and of the
/// science and standard frames whose output names collide (a frame refused by its checks
/// takes no name, and the others' names depend on which are reduced).
fn check_pixels_first(scan_rows: &mut Vec<ScanRow>, options: &ReduceOptions) {
    let on_sky = |r: &ScanRow| matches!(r.frame_type.as_deref(), Some("science" | "standard"));
    let mut by_name: HashMap<String, HashSet<&str>> = HashMap::new();
    for row in scan_rows.iter().filter(|r| on_sky(r)) {
        by_name
            .entry(output_name(Path::new(&row.path)))
            .or_default()
            .insert(&row.path);
    }
    let mut first: HashSet<String> = by_name
        .into_values()
        .filter(|paths| paths.len() > 1)
        .flatten()
        .map(str::to_string)
        .collect();
    if options.illumination.is_some() {
        first.extend(
            scan_rows
                .iter()
                .filter(|r| r.frame_type.as_deref() == Some("science"))
                .map(|r| r.path.clone()),
        );
    }
    read_in_full(
        scan_rows,
        |path| first.contains(path),
        &options.scan_options(PixelReads::All),
    );
}

fn prepare_path(
    path: &Path,
    pending: &PendingChecks,
    options: &ReduceOptions,
) -> Result<PreparedFrame, String> {
    guarded(path, || {
        let frame = pending.read(path, options)?;
        prepare_frame_owned(frame, &options.overscan)
    })
}

/// Output name: the file name without its FITS suffixes, `_red.fits` appended.
pub fn output_name(path: &Path) -> String {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "frame".into());
    let mut stem = name.as_str();
    for group in [&[".gz", ".fz"][..], &[".fits", ".fit", ".fts"][..]] {
        for suffix in group {
            if stem.to_ascii_lowercase().ends_with(suffix) && stem.len() > suffix.len() {
                stem = &stem[..stem.len() - suffix.len()];
                break;
            }
        }
    }
    format!("{stem}_red.fits")
}

/// Output names for the science files, made unique (a parent directory name is prefixed
/// when two inputs share a name).
fn output_names(files: &[PathBuf]) -> Vec<String> {
    let names: Vec<String> = files.iter().map(|p| output_name(p)).collect();
    let mut seen: HashSet<String> = HashSet::new();
    let mut out = Vec::with_capacity(names.len());
    for (i, name) in names.iter().enumerate() {
        let duplicate = names.iter().filter(|n| *n == name).count() > 1;
        let mut candidate = if duplicate {
            let parent = files[i]
                .parent()
                .and_then(|p| p.file_name())
                .map(|p| safe_name(&p.to_string_lossy()))
                .unwrap_or_default();
            format!("{parent}_{name}")
        } else {
            name.clone()
        };
        let mut k = 2;
        while !seen.insert(candidate.clone()) {
            candidate = format!("{k}_{name}");
            k += 1;
        }
        out.push(candidate);
    }
    out
}

/// Rows of the scan grouped by file, in path order.
fn group_rows(rows: Vec<ScanRow>) -> BTreeMap<String, Vec<ScanRow>> {
    let mut by_file: BTreeMap<String, Vec<ScanRow>> = BTreeMap::new();
    for row in rows {
        by_file.entry(row.path.clone()).or_default().push(row);
    }
    by_file
}

/// Reduces the given files. With `out_dir`, writes calibrated frames, masters and the log
/// there (the directory must exist); `on_frame` receives every calibrated frame (in no
/// particular order) before it is dropped.
pub fn reduce_files(
    files: &[PathBuf],
    out_dir: Option<&Path>,
    options: &ReduceOptions,
    on_frame: &(dyn Fn(&CalibratedFrame) + Sync),
    progress: &(dyn Fn(Progress) + Sync),
) -> ReduceReport {
    let scan_options = options.scan_options(PixelReads::Probe);
    reduce_scanned(
        scan_files(files, &scan_options),
        out_dir,
        options,
        on_frame,
        progress,
    )
}

/// [`reduce_files`] on files already scanned (with `options.profiles` and `options.choice`):
/// the rows classify the files, so a caller that has scanned them does not read them twice.
/// Rows left pending by a probing scan are checked on the read that reduces their frames
/// (with an illumination correction, whose first pass reads the science frames too, the
/// science frames are checked before).
pub fn reduce_scanned(
    mut scan_rows: Vec<ScanRow>,
    out_dir: Option<&Path>,
    options: &ReduceOptions,
    on_frame: &(dyn Fn(&CalibratedFrame) + Sync),
    progress: &(dyn Fn(Progress) + Sync),
) -> ReduceReport {
    let mut report = ReduceReport::default();
    check_pixels_first(&mut scan_rows, options);
    let pending = PendingChecks::new(&scan_rows);
    let given_rows = scan_rows.clone();
    let mut science_only = Vec::new();
    let mut biases = Vec::new();
    let mut flats = Vec::new();
    let mut science = Vec::new();
    for (path, rows) in group_rows(scan_rows) {
        let path = PathBuf::from(path);
        if rows.iter().any(|r| r.status == ScanStatus::Error) {
            let reason = rows
                .iter()
                .filter(|r| r.status == ScanStatus::Error)
                .filter_map(|r| r.error.clone())
                .collect::<Vec<_>>()
                .join("; ");
            report.skipped.push(Skipped { file: path, reason });
            continue;
        }
        let kind = rows[0].frame_type.clone().unwrap_or_default();
        match kind.as_str() {
            "bias" => biases.push(path),
            "flat" => flats.push(path),
            "science" => science.push((path, true)),
            "standard" => science.push((path, false)),
            "dark" => report.ignored.push(Skipped {
                file: path,
                reason: "dark frame: not used (no dark-current correction)".into(),
            }),
            other => report.ignored.push(Skipped {
                file: path,
                reason: format!("frame type '{other}': not used in imaging reduction"),
            }),
        }
    }
    let first_pass = if options.illumination.is_some() {
        science.iter().filter(|(_, is_science)| *is_science).count()
    } else {
        0
    };
    progress(Progress::Planned {
        calibration: biases.len() + flats.len() + first_pass,
        science: science.len(),
    });

    if let (Some(dir), true) = (out_dir, options.write_masters) {
        if let Err(e) = std::fs::create_dir_all(dir.join("masters")) {
            report.walk_problems.push(format!(
                "{}: cannot create: {e}",
                dir.join("masters").display()
            ));
        }
    }

    // The frames are read ahead in the order they are taken up: biases, flats, science.
    let read_order: Vec<PathBuf> = biases
        .iter()
        .chain(&flats)
        .chain(science.iter().map(|(path, _)| path))
        .cloned()
        .collect();
    let read_ahead = ReadAhead::start(read_order, rayon::current_num_threads());

    // Master biases.
    let mut masters = Masters::default();
    // Each bias's flags folded into its pixels as soon as it is prepared (no mask held each).
    let prepared: Vec<(PathBuf, Result<PreparedFrame, String>)> =
        in_list_order(biases.len(), |i| {
            read_ahead.taking(i);
            let p = &biases[i];
            let r = prepare_path(p, &pending, options).map(|mut f| {
                f.fold_flags_into_nan();
                f
            });
            progress(Progress::FrameDone);
            (p.clone(), r)
        });
    let mut groups: BTreeMap<Layout, Vec<PreparedFrame>> = BTreeMap::new();
    for (path, r) in prepared {
        match r {
            Ok(f) => groups.entry(f.layout.clone()).or_default().push(f),
            Err(reason) => report.skipped.push(Skipped { file: path, reason }),
        }
    }
    for (layout, frames) in groups {
        let refs: Vec<&PreparedFrame> = frames.iter().collect();
        match build_master_bias(&refs, &options.combine) {
            Ok(m) => {
                let output = out_dir.filter(|_| options.write_masters).map(|d| {
                    d.join("masters")
                        .join(format!("master_bias_{}.fits", layout.slug()))
                });
                let written = match &output {
                    Some(path) => write_master_bias(&m, path).map_err(|e| e.to_string()),
                    None => Ok(()),
                };
                if let Err(reason) = &written {
                    report.walk_problems.push(reason.clone());
                }
                report.masters.push(MasterSummary {
                    kind: MasterKind::Bias,
                    layout: layout.clone(),
                    filter: None,
                    n_frames: m.n_frames,
                    sources: m.sources.clone(),
                    output: output.filter(|_| written.is_ok()),
                    bias_level_adu: Some(m.level_adu()),
                    bias_noise_e: Some(m.noise_e),
                    flat_level_e: None,
                    flat_rms: None,
                    n_bad: m.mask.count(pixel_flag::BAD),
                });
                masters.biases.insert(layout, m);
            }
            Err(e) => {
                for f in frames {
                    report.skipped.push(Skipped {
                        reason: format!(
                            "{}: bias not used: master bias for {layout} not built: {e}",
                            f.source.display()
                        ),
                        file: f.source,
                    });
                }
            }
        }
    }

    // Master flats: each flat normalised in its own image as soon as it is prepared (its
    // raw frame and mask freed), so that no second copy of the flats is held.
    let prepared: Vec<(PathBuf, Result<NormalisedFlat, String>)> =
        in_list_order(flats.len(), |i| {
            read_ahead.taking(biases.len() + i);
            let p = &flats[i];
            let r =
                prepare_path(p, &pending, options).map(|f| match masters.biases.get(&f.layout) {
                    Some(bias) => normalise_flat(f, bias),
                    // Left out below (no master bias for its layout), with that reason.
                    None => flat_without_bias(f),
                });
            progress(Progress::FrameDone);
            (p.clone(), r)
        });
    let mut groups: BTreeMap<(Layout, Option<String>), Vec<NormalisedFlat>> = BTreeMap::new();
    for (path, r) in prepared {
        match r {
            Ok(f) => groups
                .entry((f.layout.clone(), f.filter.clone()))
                .or_default()
                .push(f),
            Err(reason) => report.skipped.push(Skipped { file: path, reason }),
        }
    }
    // The summaries of the master flats still without their rms, and their flats' keys.
    let mut rms_pending: Vec<(usize, (Layout, Option<String>))> = Vec::new();
    for ((layout, filter), frames) in groups {
        let label = filter_label(filter.as_deref());
        let Some(bias) = masters.biases.get(&layout) else {
            for f in frames {
                report.skipped.push(Skipped {
                    reason: format!(
                        "{}: flat (filter '{label}') not used: no master bias for {layout}",
                        f.source.display()
                    ),
                    file: f.source,
                });
            }
            continue;
        };
        let sources: Vec<PathBuf> = frames.iter().map(|f| f.source.clone()).collect();
        match build_master_flat_from(frames, bias, &options.combine) {
            Ok(m) => {
                for (file, reason) in &m.unused {
                    report.skipped.push(Skipped {
                        file: file.clone(),
                        reason: format!(
                            "{}: flat (filter '{label}') not used: {reason}",
                            file.display()
                        ),
                    });
                }
                let output = out_dir.filter(|_| options.write_masters).map(|d| {
                    d.join("masters").join(format!(
                        "master_flat_{}_{}.fits",
                        safe_name(&label),
                        layout.slug()
                    ))
                });
                let written = match &output {
                    Some(path) => write_master_flat(&m, path).map_err(|e| e.to_string()),
                    None => Ok(()),
                };
                if let Err(reason) = &written {
                    report.walk_problems.push(reason.clone());
                }
                // The flat's rms is measured beside the science frames (below).
                rms_pending.push((report.masters.len(), (layout.clone(), filter.clone())));
                report.masters.push(MasterSummary {
                    kind: MasterKind::Flat,
                    layout: layout.clone(),
                    filter: filter.clone(),
                    n_frames: m.n_frames,
                    sources: m.sources.clone(),
                    output: output.filter(|_| written.is_ok()),
                    bias_level_adu: None,
                    bias_noise_e: None,
                    flat_level_e: Some(
                        m.levels_e.iter().sum::<f64>() / m.levels_e.len().max(1) as f64,
                    ),
                    flat_rms: None,
                    n_bad: m.n_bad,
                });
                masters.flats.insert((layout, filter), m);
            }
            Err(e) => {
                for file in sources {
                    report.skipped.push(Skipped {
                        file,
                        reason: e.to_string(),
                    });
                }
            }
        }
    }

    // Illumination corrections (first pass over the science frames).
    let science: Vec<PathBuf> = science
        .into_iter()
        .map(|(path, is_science)| {
            if is_science {
                science_only.push(path.clone());
            }
            path
        })
        .collect();
    let mut illuminations: BTreeMap<(Layout, Option<String>), Result<Illumination, String>> =
        BTreeMap::new();
    if let Some(illumination) = &options.illumination {
        illuminations = build_illuminations(
            &science_only,
            &masters,
            out_dir.filter(|_| options.write_masters),
            options,
            illumination,
            &mut report,
            progress,
        );
    }

    // Science and standard frames, and beside them the rms of the master flats for the
    // summaries (a statistic of one thread each, which the science frames need not wait for).
    let names = output_names(&science);
    let calibration_frames = biases.len() + flats.len();
    let flat_rms = || -> Vec<f64> {
        rms_pending
            .iter()
            .map(|(_, key)| {
                masters.flats.get(key).map_or(f64::NAN, |m| {
                    let region = super::master::central_region(m.image.width(), m.image.height());
                    super::master::clipped_stats(&m.image, Some(&region))
                        .map_or(f64::NAN, |s| s.std)
                })
            })
            .collect()
    };
    let (flat_rms, results) = rayon::join(flat_rms, || {
        in_list_order(science.len(), |i| {
            read_ahead.taking(calibration_frames + i);
            let (path, name) = (&science[i], &names[i]);
            let r =
                guarded(path, || {
                    let frame = pending.read(path, options)?;
                    let profile = choose_profile(
                        &frame.amplifiers[0].image.header,
                        &options.choice,
                        &options.profiles,
                    );
                    let mut calibrated = calibrate_frame_owned(
                        frame,
                        &masters,
                        &options.overscan,
                        options.cosmic.as_ref(),
                    )?;
                    let key = (
                        calibrated.layout.clone(),
                        calibrated.frame.meta.filter.clone(),
                    );
                    match illuminations.get(&key) {
                        Some(Ok(illumination)) => illumination
                            .apply(&mut calibrated.frame)
                            .map_err(|e| ReduceError::Unusable {
                                file: path.display().to_string(),
                                message: e.to_string(),
                            })?,
                        Some(Err(reason)) => calibrated
                            .frame
                            .history
                            .push(format!("illumination correction NOT applied: {reason}")),
                        None if options.illumination.is_some() => {
                            calibrated.frame.history.push(format!(
                                "illumination correction NOT applied: no science frame of filter \
                             '{}' ({}) to build it from",
                                filter_label(key.1.as_deref()),
                                key.0
                            ))
                        }
                        None => {}
                    }
                    let output = match out_dir {
                        Some(dir) => {
                            let out = dir.join(name);
                            write_calibrated(&calibrated, Some(profile), &out)?;
                            Some(out)
                        }
                        None => None,
                    };
                    on_frame(&calibrated.frame);
                    Ok(summarise(&calibrated, output))
                });
            progress(Progress::FrameDone);
            r.map_err(|reason| Skipped {
                file: path.clone(),
                reason,
            })
        })
    });
    drop(read_ahead);
    for ((index, _), rms) in rms_pending.iter().zip(flat_rms) {
        report.masters[*index].flat_rms = Some(rms);
    }
    for r in results {
        match r {
            Ok(f) => report.reduced.push(f),
            Err(s) => report.skipped.push(s),
        }
    }
    report.skipped.sort_by(|a, b| a.file.cmp(&b.file));
    report.ignored.sort_by(|a, b| a.file.cmp(&b.file));
    report.scan_rows = pending.merged_into(given_rows);
    if let Some(dir) = out_dir {
        let path = dir.join("reduce_log.csv");
        match write_log(&report, &path) {
            Ok(()) => report.log = Some(path),
            Err(e) => report.walk_problems.push(e.to_string()),
        }
    }
    report
}

/// The files a reduction reads, in the order it takes them up, each asked of a
/// [`Prefetcher`] when the one `ahead` places before it is taken up (the first `ahead` at
/// once). Asking for more at once makes the reads slower, not faster (`bench/read_order.py`,
/// from the disk): 2 threads read the 5 biases of the bench in 37–48 ms unasked, but in
/// 171–199 ms with the 10 calibration frames and 4 science frames asked for together first
/// (`posix_fadvise` fills the device's queue with reads of every file asked, and the file a
/// thread waits for comes in among them). In that script's model of the reduction, the
/// master bias is ready after 94–116 ms with each frame asked 2 ahead, 159–245 ms with the
/// calibration frames asked all at once.
struct ReadAhead {
    prefetcher: Prefetcher,
    files: Vec<PathBuf>,
    ahead: usize,
}

impl ReadAhead {
    fn start(files: Vec<PathBuf>, ahead: usize) -> Self {
        let prefetcher = Prefetcher::start();
        for path in files.iter().take(ahead) {
            prefetcher.ask(path);
        }
        ReadAhead {
            prefetcher,
            files,
            ahead,
        }
    }

    /// File `k` of the order is being taken up: the one `ahead` after it is asked for.
    fn taking(&self, k: usize) {
        if let Some(path) = self.files.get(k + self.ahead) {
            self.prefetcher.ask(path);
        }
    }
}

/// `f(i)` for every `i` in `0..n`, in parallel, each task taking the next index not yet
/// taken, so that the frames are taken up in list order whatever the parallel iterator's
/// split (with the list split in halves, the first frames of the second half would be read
/// unannounced); the results in index order.
fn in_list_order<T: Send>(n: usize, f: impl Fn(usize) -> T + Sync + Send) -> Vec<T> {
    let next = AtomicUsize::new(0);
    let mut results: Vec<(usize, T)> = (0..n)
        .into_par_iter()
        .map(|_| {
            let i = next.fetch_add(1, Ordering::Relaxed);
            (i, f(i))
        })
        .collect();
    results.sort_by_key(|(i, _)| *i);
    results.into_iter().map(|(_, t)| t).collect()
}

/// The first pass of step 5 (module notes): the illumination correction of every layout and
/// filter of the science frames `files`, or why it could not be built.
fn build_illuminations(
    files: &[PathBuf],
    masters: &Masters,
    masters_dir: Option<&Path>,
    options: &ReduceOptions,
    illumination: &IlluminationOptions,
    report: &mut ReduceReport,
    progress: &(dyn Fn(Progress) + Sync),
) -> BTreeMap<(Layout, Option<String>), Result<Illumination, String>> {
    type Measured = (Layout, Result<SkyMesh, IlluminationError>);
    let meshes: Vec<(PathBuf, Result<Measured, String>)> = files
        .par_iter()
        .map(|path| {
            let r = guarded(path, || {
                let frame = read_frame(path, &options.choice, &options.profiles)?;
                let calibrated = calibrate_frame_owned(
                    frame,
                    masters,
                    &options.overscan,
                    options.cosmic.as_ref(),
                )?;
                let mesh = sky_mesh(&calibrated.frame, illumination);
                Ok((calibrated.layout, mesh))
            });
            progress(Progress::FrameDone);
            (path.clone(), r)
        })
        .collect();
    let mut groups: BTreeMap<(Layout, Option<String>), Vec<SkyMesh>> = BTreeMap::new();
    for (path, r) in meshes {
        match r {
            Ok((layout, Ok(mesh))) => groups
                .entry((layout, mesh.filter.clone()))
                .or_default()
                .push(mesh),
            // A frame whose sky cannot be measured is only left out of the correction.
            Ok((_, Err(e))) => report.walk_problems.push(format!(
                "{}: not used for the illumination correction: {e}",
                path.display()
            )),
            // Frames that cannot be calibrated are skipped, with the reason, in the second
            // pass.
            Err(_) => {}
        }
    }
    let mut out = BTreeMap::new();
    for ((layout, filter), meshes) in groups {
        let built = combine_sky_meshes(&meshes, filter.as_deref(), illumination)
            .map_err(|e| format!("{e} ({layout})"));
        match &built {
            Ok(i) => {
                let output = masters_dir.map(|d| {
                    d.join("masters").join(format!(
                        "illumination_{}_{}.fits",
                        safe_name(&filter_label(filter.as_deref())),
                        layout.slug()
                    ))
                });
                let written = match &output {
                    Some(path) => write_illumination(i, path).map_err(|e| e.to_string()),
                    None => Ok(()),
                };
                if let Err(reason) = &written {
                    report.walk_problems.push(reason.clone());
                }
                report.illuminations.push(IlluminationSummary {
                    layout: layout.clone(),
                    filter: filter.clone(),
                    sources: i.sources.clone(),
                    mesh_box_px: i.options.mesh_box_px,
                    min: i.min,
                    max: i.max,
                    output: output.filter(|_| written.is_ok()),
                })
            }
            Err(reason) => report.walk_problems.push(reason.clone()),
        }
        out.insert((layout, filter), built);
    }
    out
}

fn summarise(c: &Calibrated, output: Option<PathBuf>) -> ReducedFrame {
    let f = &c.frame;
    ReducedFrame {
        source: f.source.clone(),
        sky_median_e: match output {
            Some(_) => super::master::clipped_median(&f.image_e, None).unwrap_or(f64::NAN),
            None => f64::NAN,
        },
        output,
        frame_type: f.meta.frame_type,
        filter: f.meta.filter.clone(),
        layout: c.layout.clone(),
        n_saturated: f.mask.count(pixel_flag::SATURATED),
        n_cosmic_ray: f.mask.count(pixel_flag::COSMIC_RAY),
        n_bad: f.mask.count(pixel_flag::BAD),
        n_nonfinite: f.mask.count(pixel_flag::NONFINITE),
    }
}

/// Reduces every frame under `raw_dir` into `out_dir` (created if needed). Refuses to
/// write into the input directory itself; an output directory inside the input tree is
/// left out of the inputs.
pub fn reduce_directory(
    raw_dir: &Path,
    out_dir: &Path,
    options: &ReduceOptions,
    progress: &(dyn Fn(Progress) + Sync),
) -> Result<ReduceReport, ReduceError> {
    let out_err = |message: String| ReduceError::Output {
        out: out_dir.display().to_string(),
        message,
    };
    if !raw_dir.exists() {
        return Err(ReduceError::Io {
            path: raw_dir.display().to_string(),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such file or directory"),
        });
    }
    std::fs::create_dir_all(out_dir).map_err(|e| out_err(format!("cannot create: {e}")))?;
    let raw_canon = std::fs::canonicalize(raw_dir).map_err(|e| ReduceError::Io {
        path: raw_dir.display().to_string(),
        source: e,
    })?;
    let out_canon =
        std::fs::canonicalize(out_dir).map_err(|e| out_err(format!("cannot resolve: {e}")))?;
    let input_dir = if raw_canon.is_file() {
        raw_canon
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default()
    } else {
        raw_canon.clone()
    };
    if out_canon == input_dir {
        return Err(out_err(format!(
            "is the input directory {}: inputs are never modified, choose another --out",
            raw_dir.display()
        )));
    }
    let (files, walk_problems) = files_to_scan(raw_dir);
    let files: Vec<PathBuf> = files
        .into_iter()
        .filter(|f| std::fs::canonicalize(f).map_or(true, |c| !c.starts_with(&out_canon)))
        .collect();
    let mut report = reduce_files(&files, Some(out_dir), options, &|_| {}, progress);
    report
        .walk_problems
        .splice(0..0, walk_problems.iter().map(ToString::to_string));
    Ok(report)
}

/// A CSV field, quoted when needed (RFC 4180).
fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

fn write_log(report: &ReduceReport, path: &Path) -> Result<(), ReduceError> {
    let mut rows: Vec<[String; 7]> = Vec::new();
    let p = |x: &Path| x.display().to_string();
    for r in &report.reduced {
        rows.push([
            p(&r.source),
            "reduced".into(),
            r.frame_type.to_string(),
            r.filter.clone().unwrap_or_default(),
            r.layout.to_string(),
            r.output.as_deref().map(p).unwrap_or_default(),
            String::new(),
        ]);
    }
    for m in &report.masters {
        let (kind, ft) = match m.kind {
            MasterKind::Bias => ("master bias", "bias"),
            MasterKind::Flat => ("master flat", "flat"),
        };
        for s in &m.sources {
            rows.push([
                p(s),
                format!("used in {kind}"),
                ft.into(),
                m.filter.clone().unwrap_or_default(),
                m.layout.to_string(),
                m.output.as_deref().map(p).unwrap_or_default(),
                String::new(),
            ]);
        }
    }
    for (status, list) in [("skipped", &report.skipped), ("ignored", &report.ignored)] {
        for s in list {
            rows.push([
                p(&s.file),
                status.into(),
                String::new(),
                String::new(),
                String::new(),
                String::new(),
                s.reason.clone(),
            ]);
        }
    }
    rows.sort();
    let mut text = String::from("source,status,frame_type,filter,layout,output,reason\n");
    for r in rows {
        text.push_str(&r.iter().map(|f| csv_field(f)).collect::<Vec<_>>().join(","));
        text.push('\n');
    }
    let tmp = path.with_file_name(format!(".reduce_log.csv.{}.part", std::process::id()));
    std::fs::write(&tmp, text)
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(|source| {
            let _ = std::fs::remove_file(&tmp);
            ReduceError::Io {
                path: path.display().to_string(),
                source,
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every index taken once and the results in index order, with 1 thread and with several.
    #[test]
    fn in_list_order_takes_every_index_once_and_keeps_the_order() {
        for threads in [1, 3] {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            let taken = Mutex::new(Vec::new());
            let results = pool.install(|| {
                in_list_order(40, |i| {
                    taken.lock().unwrap().push(i);
                    10 * i
                })
            });
            assert_eq!(results, (0..40).map(|i| 10 * i).collect::<Vec<_>>());
            let mut taken = taken.into_inner().unwrap();
            taken.sort_unstable();
            assert_eq!(taken, (0..40).collect::<Vec<_>>());
        }
    }

    #[test]
    fn output_names_strip_fits_suffixes_and_stay_unique() {
        assert_eq!(
            output_name(Path::new("a/ALIh010007.fits")),
            "ALIh010007_red.fits"
        );
        assert_eq!(
            output_name(Path::new("EFOSC.2022-01-28T04-54-24.341.fits.gz")),
            "EFOSC.2022-01-28T04-54-24.341_red.fits"
        );
        assert_eq!(output_name(Path::new("x.fits.fz")), "x_red.fits");
        assert_eq!(output_name(Path::new("x.FIT")), "x_red.fits");
        let names = output_names(&[
            PathBuf::from("n1/a.fits"),
            PathBuf::from("n2/a.fits"),
            PathBuf::from("b.fits"),
        ]);
        assert_eq!(names, ["n1_a_red.fits", "n2_a_red.fits", "b_red.fits"]);
    }
}
