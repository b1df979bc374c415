//! `cometphot photometry`: raw frames in, one calibrated magnitude of the comet per frame and
//! radius out.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Instant;

use anyhow::{bail, Context};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};

use cometphot::ephem::ephemeris::{GeometrySource, OrbitModel};
use cometphot::ephem::horizons;
use cometphot::ephem::orbit::CometElements;
use cometphot::ephem::site::Site;
use cometphot::ephem::time::UtcInstant;
use cometphot::frame::profile::{FrameType, ProfileRegistry};
use cometphot::photometry::catalogue::{read_catalogue, Catalogue, CatalogueStar};
use cometphot::photometry::measure::{
    measure_frame, measure_standard_frame, ApertureRadius, CometSearch, PhotometryConfig,
    ZeroPointSource,
};
use cometphot::photometry::standards::{
    apply_standards, describe, extinction_csv, fit_night_extinction, standard_frames_csv,
};
use cometphot::photometry::table::to_dataframe;
use cometphot::reduce::illumination::IlluminationOptions;
use cometphot::reduce::pipeline::{reduce_scanned, Progress, ReduceOptions};
use cometphot::scan::{
    files_to_scan, read_in_full, scan_files, PixelReads, ScanOptions, ScanRow, ScanStatus,
};
use cometphot::table::{write_table_or_stdout, write_text_atomic};

use super::diagnostics::{self, csv_field, DiagnosticRows};
use super::{Verbosity, EXIT_FAILURE, EXIT_OK, EXIT_SKIPPED};

const PHOTOMETRY_HELP: &str = "\
Reduces the raw frames under DIR in memory (as `cometphot reduce`), then measures the comet in
every science frame: background mesh and sources, the header WCS refined on the catalogue stars
(--catalog), the comet's position from its ephemeris at mid-exposure refined on the coma, an
exact-overlap aperture of fixed linear (--radius-km, default 10000 km at the comet) or angular
(--radius-arcsec) radius with a sky annulus (its sigma-clipped mean with the other sources'
light left out), and the zero point: --zero-point; or from the uncrowded catalogue stars
(inverse-variance weighted mean of m_cat - m_inst with 3-sigma rejection) with an aperture
correction (with --comet-colour, a colour term fitted and applied at the comet's colour); or,
with neither (or where the catalogue gave
none), from the standard-star frames (--standards): zp = zp0 - k X at the frame's airmass X,
with zp0 and the extinction k fitted per filter over the night's frames classified
'standard' (m_cat - m_inst = zp0 - k X), printed and written to <out>_extinction.csv (the
standard frames' own zero points and residuals to <out>_standards.csv, with the model that
refined their WCS: similarity on 6 standards or more, else a shift alone on 2 or more); or,
failing all these, the header's PHOTZP/MAGZPT (the profile's zero_point_adu_mag, for 1 ADU/s,
converted with the gain). Standard-star frames give no comet rows. Several radii give
several rows.

Columns: file,mjd_mid_utc,filter,exptime_s,airmass,x,y,ra_deg,dec_deg,rh_au,delta_au,
phase_deg,radius_km,radius_arcsec,net_e,net_err_e,mag_inst,zp,zp_err,zp_method,n_stars,mag,
mag_err,flags. x, y are 0-based pixels of the trimmed frame; mag_inst = -2.5 log10(e-/s);
flags: saturated, edge, star_in_aperture, large_centroid_offset, trailed, low_snr,
masked_pixels, wcs_unrefined, background_not_converged, few_background_pixels.
Frames that cannot be measured are listed with their reasons on standard error and in
<out>_skipped.csv; exit status 2 when any was skipped.";

#[derive(Debug, Args)]
#[command(long_about = PHOTOMETRY_HELP)]
pub struct PhotometryArgs {
    /// Directory of raw frames (biases, flats and science frames; walked recursively).
    pub dir: PathBuf,
    /// Comet: a built-in orbit (3I, 2I, "C/2025 N1", ...) or the name to pick from --elements.
    #[arg(long)]
    pub object: Option<String>,
    /// Orbital elements (TOML or MPC comet-format lines).
    #[arg(long, conflicts_with = "horizons")]
    pub elements: Option<PathBuf>,
    /// A JPL Horizons vector table of the comet.
    #[arg(long)]
    pub horizons: Option<PathBuf>,
    /// Aperture radii at the comet in km (comma-separated).
    #[arg(long, value_delimiter = ',', conflicts_with = "radius_arcsec")]
    pub radius_km: Vec<f64>,
    /// Aperture radii in arcsec (comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub radius_arcsec: Vec<f64>,
    /// Sky annulus around the comet, inner and outer radius in arcsec.
    #[arg(long, value_delimiter = ',', default_values_t = [30.0, 45.0])]
    pub annulus_arcsec: Vec<f64>,
    /// Reference catalogue CSV (ra_deg, dec_deg, mag[, mag_err, color]) for the WCS and the
    /// zero point, in the band and system of the photometry.
    #[arg(long)]
    pub catalog: Option<PathBuf>,
    /// The comet's assumed colour index (mag) in the system of the catalogue's `color` column
    /// (e.g. g-r = 0.6): fits a colour term to the catalogue stars and gives the zero point
    /// for that colour (zp_method catalogue_colour).
    #[arg(long, requires = "catalog", allow_hyphen_values = true)]
    pub comet_colour: Option<f64>,
    /// Standard-star catalogue CSV (ra_deg, dec_deg, mag[, mag_err, color], as --catalog) of
    /// the stars in the frames classified 'standard': zero point and extinction coefficient
    /// fitted per filter over the night and applied at each science frame's airmass when
    /// neither --zero-point nor the catalogue gives its zero point.
    #[arg(long)]
    pub standards: Option<PathBuf>,
    /// Known zero point (mag for 1 e-/s) instead of a catalogue one.
    #[arg(long, conflicts_with = "catalog", allow_hyphen_values = true)]
    pub zero_point: Option<f64>,
    /// Uncertainty of --zero-point (mag).
    #[arg(long, default_value_t = 0.0)]
    pub zero_point_err: f64,
    /// Measure at this pixel (0-based X,Y of the trimmed frame) instead of the ephemeris.
    #[arg(long, value_delimiter = ',', allow_hyphen_values = true)]
    pub at: Option<Vec<f64>>,
    /// Observer for frames without OBSGEO-X/Y/Z: a site name, MPC code or LON,LAT,ALT_M.
    #[arg(long, default_value = "NOT", allow_hyphen_values = true)]
    pub site: String,
    /// Propagate the orbit with the Sun alone.
    #[arg(long)]
    pub two_body: bool,
    /// Do not clean cosmic rays.
    #[arg(long)]
    pub no_cosmic: bool,
    /// Divide the flat-fielded frames by an illumination correction (night-sky flat) built
    /// from the science frames of each filter, as `reduce --illumination`.
    #[arg(long)]
    pub illumination: bool,
    /// Output table (.csv or .parquet); CSV on standard output without it.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Process only the I-th of N deterministic subsets of the science frames (every shard
    /// uses all calibration frames); `cometphot merge` joins the shards' tables.
    #[arg(long, value_name = "I/N")]
    pub shard: Option<Shard>,
    /// Write per-frame diagnostics here: postage stamps with the apertures, zero-point plots,
    /// DS9 region files, and the curves of growth and zero-point stars as tables.
    #[arg(long, value_name = "DIR")]
    pub diagnostics: Option<PathBuf>,
    /// Allow --out or --diagnostics inside DIR (refused by default: inputs are never
    /// modified, and a later scan of DIR would find the outputs).
    #[arg(long)]
    pub allow_output_in_input: bool,
}

/// Years on each side of the elements' epoch (or, without one, the perihelion time) within
/// which an orbit is propagated. Osculating elements fitted to one apparition describe the comet
/// near it: decades away, unmodelled non-gravitational forces dominate, and integrating the
/// planets that far costs minutes. A frame dated outside is skipped with its DATE-OBS.
pub const ORBIT_SPAN_YEARS: f64 = 20.0;

/// Days per Julian year.
const DAYS_PER_YEAR: f64 = 365.25;

/// The comet's trajectory as the user gave it, before it is prepared for the frames' times.
enum Trajectory {
    Orbit(CometElements, OrbitModel),
    Horizons(PathBuf, horizons::HorizonsTable),
}

impl Trajectory {
    fn from_args(args: &PhotometryArgs) -> anyhow::Result<Trajectory> {
        if let Some(path) = &args.horizons {
            let table = horizons::read(path)?;
            return Ok(Trajectory::Horizons(path.clone(), table));
        }
        let Some(elements) =
            super::comet_elements(args.elements.as_deref(), args.object.as_deref())?
        else {
            bail!("say which comet: --object 3I|2I|NAME, --elements or --horizons")
        };
        let model = if args.two_body {
            OrbitModel::TwoBody
        } else {
            OrbitModel::Perturbed
        };
        Ok(Trajectory::Orbit(elements, model))
    }

    /// Why a frame at `time` cannot be given a geometry, if it cannot: its time is outside
    /// [`ORBIT_SPAN_YEARS`] of the elements' epoch.
    fn refuses(&self, time: UtcInstant, jd_tdb: f64) -> Option<String> {
        let Trajectory::Orbit(elements, _) = self else {
            return None;
        };
        let (epoch_jd_tdb, what) = match elements.epoch_jd_tdb {
            Some(epoch) => (epoch, "the epoch of the elements"),
            None => (elements.tp_jd_tdb, "the perihelion time"),
        };
        let years = (jd_tdb - epoch_jd_tdb) / DAYS_PER_YEAR;
        if years.abs() <= ORBIT_SPAN_YEARS {
            return None;
        }
        let epoch = UtcInstant::from_jd_tdb(epoch_jd_tdb)
            .map(|t| t.to_string())
            .unwrap_or_else(|_| format!("JD {epoch_jd_tdb:.1} TDB"));
        Some(format!(
            "{time} UTC is {:.1} years {} {what} of {} ({epoch}); the orbit is propagated \
             only within ±{ORBIT_SPAN_YEARS} years of it",
            years.abs(),
            if years > 0.0 { "after" } else { "before" },
            elements.designation
        ))
    }

    /// The geometry source, ready for times between `first` and `last`.
    fn source(self, first: UtcInstant, last: UtcInstant) -> anyhow::Result<GeometrySource> {
        match self {
            Trajectory::Horizons(path, table) => GeometrySource::from_horizons(table)
                .with_context(|| format!("cannot use {}", path.display())),
            Trajectory::Orbit(elements, model) => {
                Ok(GeometrySource::orbit(elements, model, first, last)?)
            }
        }
    }
}

/// First and last mid-exposure time.
type TimeSpan = (UtcInstant, UtcInstant);

/// The science frames' mid-exposure times that the trajectory covers, as (first, last), and
/// a skip reason for every science frame whose time it does not (DATE-OBS before 1961, where
/// UTC is undefined, or beyond [`ORBIT_SPAN_YEARS`] of the elements). Calibration frames and
/// frames the scan already refused play no part.
fn science_time_span(
    rows: &[ScanRow],
    trajectory: &Trajectory,
) -> (Option<TimeSpan>, Vec<(String, String)>) {
    let mut refused: Vec<(String, String)> = Vec::new();
    let mut times: Vec<(f64, UtcInstant)> = Vec::new();
    for row in rows {
        let science = matches!(row.frame_type.as_deref(), Some("science" | "standard"));
        let (Some(mjd), true) = (row.mjd_mid_utc, science) else {
            continue;
        };
        if row.status == ScanStatus::Error {
            continue;
        }
        let hdu = row.hdu.map(|h| format!("HDU {h}: ")).unwrap_or_default();
        let date_obs = row.date_obs_utc.as_deref().unwrap_or("?");
        let checked = UtcInstant::from_mjd(mjd)
            .and_then(|t| Ok((t, t.jd_tdb()?)))
            .map_err(|e| e.to_string())
            .and_then(|(t, jd)| match trajectory.refuses(t, jd) {
                Some(reason) => Err(reason),
                None => Ok(t),
            });
        match checked {
            Ok(t) => times.push((mjd, t)),
            Err(reason) => refused.push((
                row.path.clone(),
                format!("{}: {hdu}DATE-OBS = '{date_obs}': {reason}", row.path),
            )),
        }
    }
    let first = times.iter().min_by(|a, b| a.0.total_cmp(&b.0));
    let last = times.iter().max_by(|a, b| a.0.total_cmp(&b.0));
    (first.zip(last).map(|(f, l)| (f.1, l.1)), refused)
}

/// A skip reason for every file whose usable HDUs all repeat an earlier file's pixels *and*
/// DATE-OBS (the same exposure under two names), when that earlier file is itself used (not
/// refused by the scan or in `refused`): the exposure is measured once, under the first name.
/// Equal pixels under another date (a header edited by hand) are both kept, with the scan's
/// warning.
fn duplicates(rows: &[ScanRow], refused: &[(String, String)]) -> Vec<(String, String)> {
    let usable = |path: &str| {
        !refused.iter().any(|(p, _)| p == path)
            && rows
                .iter()
                .filter(|r| r.path == path)
                .all(|r| r.status != ScanStatus::Error)
    };
    let mut out: Vec<(String, String)> = Vec::new();
    for row in rows {
        let Some(original) = &row.duplicate_of else {
            continue;
        };
        let all_duplicate = rows
            .iter()
            .filter(|r| r.path == row.path && r.status != ScanStatus::Error)
            .all(|r| r.duplicate_of.as_ref().is_some_and(|d| d.same_date_obs));
        if all_duplicate && usable(&original.path) && !out.iter().any(|(path, _)| *path == row.path)
        {
            out.push((
                row.path.clone(),
                format!(
                    "{} HDU {}: the same pixels and DATE-OBS as {} HDU {}: a duplicate \
                     exposure, measured once under the first name",
                    row.path,
                    row.hdu.unwrap_or(0),
                    original.path,
                    original.hdu
                ),
            ));
        }
    }
    out
}

/// The science frames' time span, and the frames refused before any is reduced, with their
/// reasons: a time the trajectory does not cover, a duplicate exposure, and (without
/// --standards) a standard-star frame, which has no comet to measure.
fn refusals(
    rows: &[ScanRow],
    trajectory: &Trajectory,
    with_standards: bool,
) -> (Option<TimeSpan>, Vec<(String, String)>) {
    let (span, mut refused) = science_time_span(rows, trajectory);
    let repeated = duplicates(rows, &refused);
    refused.extend(repeated);
    if !with_standards {
        let standard_rows: Vec<&ScanRow> = rows
            .iter()
            .filter(|r| r.frame_type.as_deref() == Some("standard"))
            .filter(|r| !refused.iter().any(|(p, _)| *p == r.path))
            .collect();
        for row in standard_rows {
            refused.push((
                row.path.clone(),
                format!(
                    "{}: a standard-star frame (no comet to measure): give --standards \
                     CATALOGUE.csv to fit the zero point and extinction from it (with \
                     `cometphot run`: standards = \"CATALOGUE.csv\" in run.toml, or a \
                     standards.csv beside the night's frames)",
                    row.path
                ),
            ));
        }
    }
    (span, refused)
}

/// The scan's warnings about `file` (an unknown instrument, NaN pixels...), which may explain
/// why it was skipped.
fn scan_warnings(rows: &[ScanRow], file: &str) -> Option<String> {
    let warnings: Vec<&str> = rows
        .iter()
        .filter(|r| r.path == file && r.status == ScanStatus::Warning && r.duplicate_of.is_none())
        .filter_map(|r| r.error.as_deref())
        .collect();
    (!warnings.is_empty()).then(|| warnings.join("; "))
}

/// `--shard I/N`: the I-th of N deterministic subsets of the frames (1 ≤ I ≤ N).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// 0-based index of this shard.
    pub index: usize,
    pub count: usize,
}

impl std::str::FromStr for Shard {
    type Err = String;

    fn from_str(text: &str) -> Result<Shard, String> {
        let err = || format!("'{text}' is not I/N with 1 ≤ I ≤ N (e.g. 3/8)");
        let (i, n) = text.split_once('/').ok_or_else(err)?;
        let (i, n): (usize, usize) = (
            i.trim().parse().map_err(|_| err())?,
            n.trim().parse().map_err(|_| err())?,
        );
        if i == 0 || i > n {
            return Err(err());
        }
        Ok(Shard {
            index: i - 1,
            count: n,
        })
    }
}

/// The files of `shard`: every calibration file (bias, dark, flat: each shard needs the
/// masters; standard-star frames: each shard fits the same extinction) and every `count`-th
/// of the other files in path order, so that the shards of a directory partition its science
/// frames whatever the machine or the order on disk.
fn shard_files(files: Vec<PathBuf>, rows: &[ScanRow], shard: Shard) -> Vec<PathBuf> {
    let calibration = |path: &Path| {
        let shown = path.display().to_string();
        let types: Vec<&str> = rows
            .iter()
            .filter(|r| r.path == shown)
            .filter_map(|r| r.frame_type.as_deref())
            .collect();
        !types.is_empty()
            && types
                .iter()
                .all(|t| matches!(*t, "bias" | "dark" | "flat" | "standard"))
    };
    let mut files = files;
    files.sort();
    let mut others = 0;
    files
        .into_iter()
        .filter(|path| {
            if calibration(path) {
                return true;
            }
            others += 1;
            (others - 1) % shard.count == shard.index
        })
        .collect()
}

/// The rows of a catalogue that could not be read, as (file, reason) for the skipped inputs:
/// one line per bad row, up to a point (a large export may have many).
fn rows_set_aside(path: &Path, catalogue: &Catalogue) -> Vec<(String, String)> {
    const LISTED_ROWS: usize = 20;
    let file = path.display().to_string();
    let rows = &catalogue.rejected_rows;
    let mut set_aside: Vec<(String, String)> = rows
        .iter()
        .take(LISTED_ROWS)
        .map(|e| (file.clone(), format!("{e}: row not used")))
        .collect();
    if rows.len() > LISTED_ROWS {
        set_aside.push((
            file.clone(),
            format!(
                "catalogue {file}: {} more unreadable rows not used",
                rows.len() - LISTED_ROWS
            ),
        ));
    }
    set_aside
}

/// What [`config`] makes of the options.
struct Setup {
    config: PhotometryConfig,
    /// The standard stars (`--standards`).
    standards: Option<Vec<CatalogueStar>>,
    /// Catalogue rows set aside, as (file, reason).
    set_aside: Vec<(String, String)>,
}

/// The configuration of the measurement, the standard stars, and the catalogue rows it had to
/// set aside (each as (file, reason)). A catalogue or standards file that cannot be used at
/// all (unreadable, a required column missing, no usable star) is an error.
fn config(args: &PhotometryArgs) -> anyhow::Result<Setup> {
    let radii: Vec<ApertureRadius> = if !args.radius_arcsec.is_empty() {
        args.radius_arcsec
            .iter()
            .map(|r| ApertureRadius::Arcsec(*r))
            .collect()
    } else if !args.radius_km.is_empty() {
        args.radius_km
            .iter()
            .map(|r| ApertureRadius::Km(*r))
            .collect()
    } else {
        vec![ApertureRadius::Km(10_000.0)]
    };
    let [inner, outer] = args.annulus_arcsec[..] else {
        bail!("--annulus-arcsec takes IN,OUT (two radii in arcsec)");
    };
    let mut set_aside = Vec::new();
    let zero_point = match (&args.catalog, args.zero_point) {
        (Some(path), _) => match read_catalogue(path) {
            Ok(catalogue) => {
                set_aside.extend(rows_set_aside(path, &catalogue));
                if args.comet_colour.is_some()
                    && !catalogue.stars.iter().any(|s| s.colour.is_some())
                {
                    bail!(
                        "--comet-colour needs star colours: catalogue {} has no 'color' column \
                         (or no value in it)",
                        path.display()
                    );
                }
                ZeroPointSource::Catalogue {
                    stars: catalogue.stars,
                    comet_colour: args.comet_colour,
                }
            }
            // A catalogue that cannot be used at all is the user's to fix before anything
            // runs: measuring uncalibrated would only fail later in the lightcurve.
            Err(e) => return Err(e.into()),
        },
        (None, Some(zp_mag)) => ZeroPointSource::Given {
            zp_mag,
            zp_err_mag: args.zero_point_err,
        },
        (None, None) => ZeroPointSource::None,
    };
    let standards = match &args.standards {
        Some(path) => {
            let catalogue = read_catalogue(path).context("--standards")?;
            set_aside.extend(rows_set_aside(path, &catalogue));
            Some(catalogue.stars)
        }
        None => None,
    };
    let search = match args.at.as_deref() {
        Some([x_px, y_px]) => CometSearch::Pixel {
            x_px: *x_px,
            y_px: *y_px,
        },
        Some(_) => bail!("--at takes X,Y (0-based pixels)"),
        None => CometSearch::Ephemeris,
    };
    let config = PhotometryConfig {
        radii,
        annulus_inner_arcsec: inner,
        annulus_outer_arcsec: outer,
        search,
        zero_point,
        ..PhotometryConfig::default()
    };
    Ok(Setup {
        config,
        standards,
        set_aside,
    })
}

/// `<out stem>_<suffix>.csv` beside the output table.
fn companion_path(out: &Path, suffix: &str) -> PathBuf {
    let stem = out
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "photometry".into());
    out.with_file_name(format!("{stem}_{suffix}.csv"))
}

/// `<out stem>_skipped.csv` beside the output table.
fn skipped_path(out: &Path) -> PathBuf {
    let stem = out
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "photometry".into());
    out.with_file_name(format!("{stem}_skipped.csv"))
}

pub fn run(args: PhotometryArgs, verbosity: Verbosity) -> anyhow::Result<i32> {
    run_scanned(args, verbosity).map(|(code, _)| code)
}

/// [`run`], also returning the scan rows of the files in DIR: the rows of the frames the
/// reduction read have their pixel checks completed on that read, as a full `scan` of DIR
/// makes them (duplicates looked for within DIR only); the others (another shard's frames,
/// frames never reduced) may still be pending ([`ScanRow::pixels_pending`]). `run` makes its
/// frames table from them instead of reading every frame once more.
pub fn run_scanned(
    args: PhotometryArgs,
    verbosity: Verbosity,
) -> anyhow::Result<(i32, Vec<ScanRow>)> {
    let started = Instant::now();
    if !args.dir.exists() {
        bail!("{}: no such file or directory", args.dir.display());
    }
    for (option, path) in [("--out", &args.out), ("--diagnostics", &args.diagnostics)] {
        if let (Some(path), false) = (path, args.allow_output_in_input) {
            super::refuse_output_inside_input(path, &args.dir, option)?;
        }
    }
    // Options first: a mistake in them is reported before any frame is read.
    let trajectory = Trajectory::from_args(&args)?;
    let Setup {
        config,
        standards,
        set_aside: catalogue_problems,
    } = config(&args)?;
    let registry = ProfileRegistry::shipped()?;
    let (files, walk_problems) = files_to_scan(&args.dir);
    let noop = || {};
    let scan_options = ScanOptions {
        profiles: &registry,
        choice: &cometphot::frame::profile::ProfileChoice::Detect,
        on_file: &noop,
        pixels: PixelReads::Probe,
    };
    let mut scan_rows = scan_files(&files, &scan_options);
    let mut files = match args.shard {
        Some(shard) => shard_files(files, &scan_rows, shard),
        None => files,
    };
    let in_shard: HashSet<String> = files.iter().map(|f| f.display().to_string()).collect();
    // The frames refused here are never read by the reduction, which checks the pixels of
    // the others: theirs are checked now, and the refusals made again on the full rows.
    let (_, first_refusals) = refusals(&scan_rows, &trajectory, standards.is_some());
    let to_check: HashSet<String> = first_refusals
        .into_iter()
        .map(|(path, _)| path)
        .filter(|path| in_shard.contains(path))
        .collect();
    read_in_full(
        &mut scan_rows,
        |path| to_check.contains(path),
        &scan_options,
    );
    let (span, mut refused) = refusals(&scan_rows, &trajectory, standards.is_some());
    refused.retain(|(path, _)| in_shard.contains(path));
    let refused_paths: HashSet<&str> = refused.iter().map(|(p, _)| p.as_str()).collect();
    files.retain(|f| !refused_paths.contains(f.display().to_string().as_str()));
    // Without a science frame to measure there is no geometry to prepare: nothing is reduced,
    // and the tables (empty, and the skipped inputs with their reasons) are still written.
    let geometry = match span {
        Some((first, last)) => Some(trajectory.source(first, last)?),
        None => {
            if verbosity != Verbosity::Quiet {
                eprintln!(
                    "{}: no science frame with a usable time",
                    args.dir.display()
                );
            }
            files.clear();
            None
        }
    };
    let default_site = Site::parse(&args.site).context("--site")?;
    let mut options = ReduceOptions::new(registry);
    if args.no_cosmic {
        options.cosmic = None;
    }
    if args.illumination {
        options.illumination = Some(IlluminationOptions::default());
    }

    let bar = if verbosity == Verbosity::Quiet {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(0)
    };
    bar.set_style(
        ProgressStyle::with_template("photometry {bar:30} {pos}/{len} frames {elapsed}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let results = Mutex::new(Vec::new());
    let standard_frames = Mutex::new(Vec::new());
    let failures = Mutex::new(Vec::new());
    let diagnostic_rows: Mutex<Vec<(String, DiagnosticRows)>> = Mutex::new(Vec::new());
    // The files to reduce were scanned above (same profiles, profile detection): their rows
    // classify them, so no file is read twice.
    let to_reduce: HashSet<String> = files.iter().map(|f| f.display().to_string()).collect();
    let report = reduce_scanned(
        scan_rows
            .iter()
            .filter(|r| to_reduce.contains(&r.path))
            .cloned()
            .collect(),
        None,
        &options,
        &|frame| {
            let site = frame
                .meta
                .obsgeo_m
                .and_then(|[x, y, z]| Site::from_obsgeo(x, y, z).ok())
                .unwrap_or_else(|| default_site.clone());
            let Some(geometry) = &geometry else {
                return;
            };
            if frame.meta.frame_type == FrameType::Standard {
                // Only the stars are kept: the frame is dropped when this returns.
                let Some(standards) = &standards else {
                    return;
                };
                match measure_standard_frame(frame, standards, &config) {
                    Ok(measured) => standard_frames
                        .lock()
                        .map(|mut s| s.push(measured))
                        .unwrap_or(()),
                    Err(e) => failures
                        .lock()
                        .map(|mut f| f.push((frame.source.clone(), e.to_string())))
                        .unwrap_or(()),
                }
                return;
            }
            match measure_frame(frame, geometry, &site, &config) {
                Ok(measurement) => {
                    if let Some(dir) = &args.diagnostics {
                        match diagnostics::write_frame(dir, frame, &measurement) {
                            Ok(rows) => diagnostic_rows
                                .lock()
                                .map(|mut d| d.push((frame.source.display().to_string(), rows)))
                                .unwrap_or(()),
                            Err(e) => bar.suspend(|| eprintln!("diagnostics: {e:#}")),
                        }
                    }
                    results
                        .lock()
                        .map(|mut r| r.extend(measurement.rows))
                        .unwrap_or(())
                }
                Err(e) => failures
                    .lock()
                    .map(|mut f| f.push((frame.source.clone(), e.to_string())))
                    .unwrap_or(()),
            }
        },
        &|p| match p {
            Progress::Planned {
                calibration,
                science,
            } => bar.set_length((calibration + science) as u64),
            Progress::FrameDone => bar.inc(1),
        },
    );
    bar.finish_and_clear();
    // The reduction checked the pixels of the frames it read: their warnings join the rows.
    let checked: HashMap<(&str, Option<u32>), &ScanRow> = report
        .scan_rows
        .iter()
        .map(|r| ((r.path.as_str(), r.hdu), r))
        .collect();
    for row in &mut scan_rows {
        if let Some(done) = checked.get(&(row.path.as_str(), row.hdu)) {
            *row = (*done).clone();
        }
    }

    let mut rows = results.into_inner().unwrap_or_default();
    // The night's extinction, once every standard frame is measured; then the science rows
    // that have no zero point of higher precedence get theirs.
    let mut standard_frames = standard_frames.into_inner().unwrap_or_default();
    standard_frames.sort_by(|a, b| a.file.cmp(&b.file));
    let extinction = standards
        .as_ref()
        .map(|_| fit_night_extinction(&standard_frames));
    let n_calibrated = extinction
        .as_deref()
        .map_or(0, |fits| apply_standards(&mut rows, fits));
    rows.sort_by(|a, b| {
        a.mjd_mid_utc
            .total_cmp(&b.mjd_mid_utc)
            .then(a.file.cmp(&b.file))
            .then(a.radius_arcsec.total_cmp(&b.radius_arcsec))
    });
    let mut skipped: Vec<(String, String)> = report
        .skipped
        .iter()
        .map(|s| (s.file.display().to_string(), s.reason.clone()))
        .chain(
            failures
                .into_inner()
                .unwrap_or_default()
                .into_iter()
                .map(|(f, r)| (f.display().to_string(), r)),
        )
        .collect();
    skipped.extend(refused);
    skipped.extend(catalogue_problems);
    if let (Some(path), Some(fits)) = (&args.standards, &extinction) {
        let file = path.display().to_string();
        if standard_frames.is_empty() {
            skipped.push((
                file.clone(),
                format!("{file}: no standard-star frame measured: no extinction fit"),
            ));
        }
        skipped.extend(
            fits.iter()
                .filter(|f| f.result.is_err())
                .map(|f| (file.clone(), describe(f))),
        );
    }
    skipped.extend(
        walk_problems
            .into_iter()
            .map(|p| (p.path.display().to_string(), p.to_string())),
    );
    for (file, reason) in &mut skipped {
        if let Some(warnings) = scan_warnings(&scan_rows, file) {
            reason.push_str(&format!(" (the scan warned: {warnings})"));
        }
    }
    skipped.sort();

    let mut df = to_dataframe(&rows)?;
    write_table_or_stdout(&mut df, args.out.as_deref()).with_context(|| match &args.out {
        Some(path) => format!("cannot write {}", path.display()),
        None => "cannot write the table to standard output".to_string(),
    })?;
    if let Some(out) = &args.out {
        let path = skipped_path(out);
        let text: String = std::iter::once("file,reason\n".to_string())
            .chain(
                skipped
                    .iter()
                    .map(|(f, r)| format!("{},{}\n", csv_field(f), csv_field(r))),
            )
            .collect();
        write_text_atomic(&path, &text)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    if let (Some(out), Some(fits)) = (&args.out, &extinction) {
        for (suffix, text) in [
            ("extinction", extinction_csv(fits)),
            ("standards", standard_frames_csv(&standard_frames, fits)),
        ] {
            let path = companion_path(out, suffix);
            write_text_atomic(&path, &text)
                .with_context(|| format!("cannot write {}", path.display()))?;
        }
    }
    if let Some(dir) = &args.diagnostics {
        diagnostics::write_tables(dir, diagnostic_rows.into_inner().unwrap_or_default())?;
    }
    if verbosity != Verbosity::Quiet {
        for (file, reason) in &skipped {
            eprintln!("skipped {file}: {reason}");
        }
        if let Some(fits) = &extinction {
            for fit in fits.iter().filter(|f| f.result.is_ok()) {
                eprintln!("{}", describe(fit));
            }
            eprintln!(
                "zero point from the standards (zp_method standards) for {n_calibrated} of {} \
                 measurements",
                rows.len()
            );
        }
        eprintln!(
            "{} measurements of the comet, {} inputs skipped, in {:.1} s",
            rows.len(),
            skipped.len(),
            started.elapsed().as_secs_f64()
        );
    }
    let code = if rows.is_empty() {
        EXIT_FAILURE
    } else if skipped.is_empty() {
        EXIT_OK
    } else {
        EXIT_SKIPPED
    };
    Ok((code, scan_rows))
}
