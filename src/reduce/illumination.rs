//! Illumination correction ("night-sky flat", "super-sky flat"): the smooth difference
//! between how the twilight sky lit the flats and how the night sky lights the science
//! frames, measured on the flat-fielded science frames themselves and divided out.
//!
//! A twilight (or dome) flat records the detector's response times the illumination of the
//! flat-field source; where that illumination differs from the night sky's (scattered
//! light, a gradient across the twilight sky, a different vignetting), flat-fielded science
//! frames keep a smooth pattern of a few per cent. It is a flat-field error: stars and sky
//! are both multiplied by it, so dividing it out corrects both.
//!
//! Method (IRAF `ccdred` `mkskyflat` / `mkillumcor`, Massey, "A User's Guide to CCD
//! Reductions with IRAF" (1997) §4.4; Gullixson 1992, "Two-dimensional imaging: CCD
//! reduction", ASP Conf. Ser. 23, 130):
//!
//! 1. in every flat-fielded science frame of a filter (and layout), mask the sources
//!    ([`crate::photometry::source_mask`]: detection on the frame binned 2 × 2, footprints
//!    dilated) and flagged pixels;
//! 2. measure the sky on a mesh of `mesh_box_px` boxes, as SExtractor does (sigma-clipped
//!    mode per box, [`crate::photometry::background`]), without median filtering;
//! 3. divide each frame's mesh by its sky level (the median of its box levels);
//! 4. combine the normalised meshes box by box with the median across frames (a star,
//!    the comet or a satellite trail in one frame does not survive the median of three or
//!    more dithered frames);
//! 5. turn the combined mesh into a smooth surface: boxes never measured are filled by
//!    harmonic interpolation, the mesh is optionally median-filtered over `filter_boxes`,
//!    and natural bicubic splines through the box centres give every pixel (the same
//!    interpolation as the background);
//! 6. normalise the surface to a median of 1 in the central half of the image in each axis
//!    (where the master flats are normalised, so the photometric scale of the frame centre
//!    is unchanged), and divide the science (and standard) frames by it.
//!
//! IRAF combines the frames pixel by pixel and smooths afterwards; combining the box
//! levels instead keeps one small mesh per frame in memory rather than whole frames (a
//! night is never held in memory) and gives the same smooth surface: the median of box
//! levels and the box level of the per-pixel median agree for a smooth pattern.
//!
//! Limits: only patterns smoother than the mesh are recovered (a box of 128 px resolves
//! structure on scales of ~250 px and more). Whatever is fixed on the detector in every
//! frame is taken for illumination: with frames of one pointing (no dither) a real sky
//! gradient or the faint outer coma of a comet tracked on the same pixels would be
//! absorbed too. Dithered frames of a field without a large extended source are the
//! proper input.

use std::path::PathBuf;

use thiserror::Error;

use super::master::central_region;
use super::{filter_label, CalibratedFrame};
use crate::image::{pixel_flag, Image};
use crate::photometry::background::{
    estimate_background, surface_from_mesh, BackgroundError, BackgroundParams,
};
use crate::photometry::detect::DetectParams;
use crate::photometry::source_mask::{source_mask, SourceMaskError};

/// Settings of the illumination correction.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct IlluminationOptions {
    /// Side of a mesh box (px). 128 px by default: with ~16,000 sky pixels a box's level
    /// has a noise of ~1/130 of a pixel's (< 0.1 % of the sky for a sky noise below 10 %
    /// per pixel), a box is several times larger than a masked bright star or galaxy, and a
    /// detector of 1,000–2,000 px still gets 8–16 nodes per axis — enough for the smooth
    /// pattern (vignetting differences, a saddle, a gradient) the correction is for and too
    /// few to follow anything on the scale of a source.
    pub mesh_box_px: usize,
    /// Median filter of the combined mesh, in boxes (1 = none). None by default: the median
    /// across frames already rejects what lies in one frame, and a median filter bends a
    /// curved surface (a 3 × 3 filter moves the boxes of a ±3 % saddle by ~0.5 %).
    pub filter_boxes: usize,
    /// Source detection threshold (σ of the matched-filtered image) of the source mask.
    pub mask_threshold_sigma: f64,
    /// Growth of the source footprints (px).
    pub mask_dilate_px: f64,
    /// A box is measured only when at least this fraction of its pixels is sky (not masked,
    /// not flagged).
    pub min_sky_fraction: f64,
}

impl Default for IlluminationOptions {
    /// 128 px boxes, no median filter, sources above 3σ masked and grown by 6 px, boxes
    /// measured when half of their pixels are sky.
    fn default() -> Self {
        IlluminationOptions {
            mesh_box_px: 128,
            filter_boxes: 1,
            mask_threshold_sigma: 3.0,
            mask_dilate_px: 6.0,
            min_sky_fraction: 0.5,
        }
    }
}

impl IlluminationOptions {
    /// For HISTORY lines.
    pub fn describe(&self) -> String {
        format!(
            "mesh of {} px boxes, median filter {} box(es), sources > {}-sigma masked (+{} px)",
            self.mesh_box_px, self.filter_boxes, self.mask_threshold_sigma, self.mask_dilate_px
        )
    }

    fn background_params(&self) -> BackgroundParams {
        BackgroundParams {
            box_px: self.mesh_box_px,
            filter_px: 1,
            min_valid_fraction: self.min_sky_fraction,
            ..BackgroundParams::default()
        }
    }
}

/// Why an illumination correction could not be built or applied. Each names the filter.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum IlluminationError {
    #[error("illumination correction for filter '{filter}': no science frame to build it from")]
    NoFrames { filter: String },
    #[error("illumination correction: invalid option {name}: {message}")]
    InvalidOption { name: &'static str, message: String },
    #[error(
        "illumination correction for filter '{filter}': {file} is {width} x {height} px, \
         the first frame {expected_width} x {expected_height} px"
    )]
    Shape {
        filter: String,
        file: String,
        width: usize,
        height: usize,
        expected_width: usize,
        expected_height: usize,
    },
    #[error("illumination correction for filter '{filter}': {file} is filter '{other}'")]
    FilterMismatch {
        filter: String,
        file: String,
        other: String,
    },
    #[error("illumination correction for filter '{filter}': {file}: source mask: {source}")]
    SourceMask {
        filter: String,
        file: String,
        source: SourceMaskError,
    },
    #[error("illumination correction for filter '{filter}': {file}: sky mesh: {source}")]
    Background {
        filter: String,
        file: String,
        source: BackgroundError,
    },
    #[error(
        "illumination correction for filter '{filter}': {file}: sky level {sky_e} e- is not \
         positive"
    )]
    NoSky {
        filter: String,
        file: String,
        sky_e: f64,
    },
    #[error(
        "illumination correction for filter '{filter}': no box of {box_px} px has {percent}% \
         sky pixels in any frame (all sky masked)"
    )]
    AllMasked {
        filter: String,
        box_px: usize,
        percent: f64,
    },
    #[error(
        "illumination correction for filter '{filter}' ({width} x {height} px) does not fit \
         {file} ({frame_width} x {frame_height} px, filter '{frame_filter}')"
    )]
    Mismatch {
        filter: String,
        width: usize,
        height: usize,
        file: String,
        frame_width: usize,
        frame_height: usize,
        frame_filter: String,
    },
}

/// The sky of one flat-fielded frame on the mesh, divided by its level.
#[derive(Debug, Clone, PartialEq)]
pub struct SkyMesh {
    pub source: PathBuf,
    pub filter: Option<String>,
    pub width: usize,
    pub height: usize,
    /// Box centres (px).
    pub node_x: Vec<f64>,
    pub node_y: Vec<f64>,
    /// Box level / sky level, row-major; NaN where the box had too few sky pixels.
    pub relative: Vec<f64>,
    /// Sky level (e⁻): median of the measured box levels.
    pub sky_e: f64,
    /// Pixels left out as sources.
    pub n_masked_px: usize,
}

/// An illumination correction: divide a flat-fielded frame of its filter and size by it.
#[derive(Debug, Clone)]
pub struct Illumination {
    pub filter: Option<String>,
    /// Smooth surface, median 1 in the central region.
    pub image: Image,
    pub n_frames: usize,
    pub sources: Vec<PathBuf>,
    pub options: IlluminationOptions,
    /// Lowest and highest value of the surface.
    pub min: f64,
    pub max: f64,
}

fn file_name(path: &std::path::Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}

fn check_options(options: &IlluminationOptions) -> Result<(), IlluminationError> {
    let invalid = |name, message: &str| {
        Err(IlluminationError::InvalidOption {
            name,
            message: message.into(),
        })
    };
    if options.mesh_box_px < 8 {
        return invalid("mesh_box_px", "must be at least 8 px");
    }
    if options.filter_boxes == 0 {
        return invalid("filter_boxes", "must be at least 1 (1 = no filter)");
    }
    if !(options.mask_threshold_sigma.is_finite() && options.mask_threshold_sigma > 0.0) {
        return invalid("mask_threshold_sigma", "must be > 0");
    }
    if !(options.mask_dilate_px.is_finite() && options.mask_dilate_px >= 0.0) {
        return invalid("mask_dilate_px", "must be >= 0");
    }
    if !(options.min_sky_fraction > 0.0 && options.min_sky_fraction <= 1.0) {
        return invalid("min_sky_fraction", "must be within (0, 1]");
    }
    Ok(())
}

/// Step 1–3 of the module notes for one flat-fielded frame.
pub fn sky_mesh(
    frame: &CalibratedFrame,
    options: &IlluminationOptions,
) -> Result<SkyMesh, IlluminationError> {
    check_options(options)?;
    let filter = filter_label(frame.meta.filter.as_deref());
    let file = frame.source.display().to_string();
    let params = options.background_params();
    let detect = DetectParams {
        thresh_sigma: options.mask_threshold_sigma,
        fwhm_of_every_source: false,
        ..DetectParams::default()
    };
    let excluded = source_mask(
        &frame.image_e,
        Some(&frame.mask),
        &params,
        &detect,
        options.mask_dilate_px,
    )
    .map_err(|source| IlluminationError::SourceMask {
        filter: filter.clone(),
        file: file.clone(),
        source,
    })?;
    let background =
        estimate_background(&frame.image_e, Some(&frame.mask), Some(&excluded), &params).map_err(
            |source| IlluminationError::Background {
                filter: filter.clone(),
                file: file.clone(),
                source,
            },
        )?;
    let mesh = background.mesh;
    let measured: Vec<f64> = mesh
        .level
        .iter()
        .zip(&mesh.estimated)
        .filter(|(_, e)| **e)
        .map(|(v, _)| *v)
        .collect();
    let sky_e = crate::stats::median(&measured).unwrap_or(f64::NAN);
    if !(sky_e.is_finite() && sky_e > 0.0) {
        return Err(IlluminationError::NoSky {
            filter,
            file,
            sky_e,
        });
    }
    let relative = mesh
        .level
        .iter()
        .zip(&mesh.estimated)
        .map(|(v, e)| if *e { v / sky_e } else { f64::NAN })
        .collect();
    Ok(SkyMesh {
        source: frame.source.clone(),
        filter: frame.meta.filter.clone(),
        width: frame.image_e.width(),
        height: frame.image_e.height(),
        node_x: mesh.node_x,
        node_y: mesh.node_y,
        relative,
        sky_e,
        n_masked_px: excluded.count(),
    })
}

/// Steps 4–6 of the module notes: the illumination correction of the frames whose sky
/// meshes are given (one filter, one size). `filter` names the group in errors when no
/// mesh is given.
pub fn combine_sky_meshes(
    meshes: &[SkyMesh],
    filter: Option<&str>,
    options: &IlluminationOptions,
) -> Result<Illumination, IlluminationError> {
    check_options(options)?;
    let label = filter_label(filter);
    let Some(first) = meshes.first() else {
        return Err(IlluminationError::NoFrames { filter: label });
    };
    for m in meshes {
        if m.filter.as_deref() != filter {
            return Err(IlluminationError::FilterMismatch {
                filter: label,
                file: m.source.display().to_string(),
                other: filter_label(m.filter.as_deref()),
            });
        }
        if (m.width, m.height) != (first.width, first.height) || m.node_x != first.node_x {
            return Err(IlluminationError::Shape {
                filter: label,
                file: m.source.display().to_string(),
                width: m.width,
                height: m.height,
                expected_width: first.width,
                expected_height: first.height,
            });
        }
    }
    let n_boxes = first.relative.len();
    let mut combined = vec![0.0; n_boxes];
    let mut estimated = vec![false; n_boxes];
    for k in 0..n_boxes {
        let values: Vec<f64> = meshes
            .iter()
            .map(|m| m.relative[k])
            .filter(|v| v.is_finite())
            .collect();
        if let Some(median) = crate::stats::median(&values) {
            combined[k] = median;
            estimated[k] = true;
        }
    }
    let all_masked = || IlluminationError::AllMasked {
        filter: label.clone(),
        box_px: options.mesh_box_px,
        percent: 100.0 * options.min_sky_fraction,
    };
    let surface = surface_from_mesh(
        &combined,
        &estimated,
        &first.node_x,
        &first.node_y,
        options.filter_boxes,
        first.width,
        first.height,
    )
    .ok_or_else(all_masked)?;
    let region = central_region(first.width, first.height);
    let central: Vec<f64> = region
        .y
        .clone()
        .flat_map(|y| {
            surface.row(y)[region.x.clone()]
                .iter()
                .map(|v| f64::from(*v))
        })
        .collect();
    let norm = crate::stats::median(&central)
        .filter(|m| m.is_finite() && *m > 0.0)
        .ok_or_else(all_masked)?;
    let data: Vec<f32> = surface
        .data()
        .iter()
        .map(|v| (f64::from(*v) / norm) as f32)
        .collect();
    let (min, max) = data
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(f64::from(*v)), hi.max(f64::from(*v)))
        });
    if !(min > 0.0 && max.is_finite()) {
        return Err(all_masked());
    }
    let image = Image::new(first.width, first.height, data).map_err(|_| all_masked())?;
    Ok(Illumination {
        filter: filter.map(str::to_string),
        image,
        n_frames: meshes.len(),
        sources: meshes.iter().map(|m| m.source.clone()).collect(),
        options: *options,
        min,
        max,
    })
}

/// The illumination correction of flat-fielded frames of one filter and size (module
/// notes); `filter` names the group in errors when `frames` is empty.
pub fn build_illumination(
    frames: &[&CalibratedFrame],
    filter: Option<&str>,
    options: &IlluminationOptions,
) -> Result<Illumination, IlluminationError> {
    let meshes = frames
        .iter()
        .map(|f| sky_mesh(f, options))
        .collect::<Result<Vec<_>, _>>()?;
    combine_sky_meshes(&meshes, filter, options)
}

impl Illumination {
    /// Divides `frame` (same filter and size) by the surface and records it in its HISTORY.
    pub fn apply(&self, frame: &mut CalibratedFrame) -> Result<(), IlluminationError> {
        let (w, h) = (frame.image_e.width(), frame.image_e.height());
        if (w, h) != (self.image.width(), self.image.height()) || frame.meta.filter != self.filter {
            return Err(IlluminationError::Mismatch {
                filter: filter_label(self.filter.as_deref()),
                width: self.image.width(),
                height: self.image.height(),
                file: frame.source.display().to_string(),
                frame_width: w,
                frame_height: h,
                frame_filter: filter_label(frame.meta.filter.as_deref()),
            });
        }
        for ((v, m), s) in frame
            .image_e
            .data_mut()
            .iter_mut()
            .zip(frame.mask.bits())
            .zip(self.image.data())
        {
            if *m & pixel_flag::NONFINITE == 0 && v.is_finite() {
                *v /= s;
            }
        }
        frame.history.push(self.describe());
        Ok(())
    }

    /// The HISTORY line of [`Illumination::apply`].
    pub fn describe(&self) -> String {
        let names: Vec<String> = self.sources.iter().map(|p| file_name(p)).collect();
        format!(
            "divided by illumination correction '{}' from {} flat-fielded science frame(s) \
             ({}; median of sky-normalised meshes, median 1 in the central region; range \
             {:.4}-{:.4}): {}",
            filter_label(self.filter.as_deref()),
            self.n_frames,
            self.options.describe(),
            self.min,
            self.max,
            names.join(", ")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::meta::{Binning, FrameMeta};
    use crate::frame::profile::FrameType;
    use crate::image::PixelMask;

    fn frame(
        name: &str,
        filter: &str,
        w: usize,
        h: usize,
        f: impl Fn(f64, f64) -> f64,
    ) -> CalibratedFrame {
        let mut state = 99u64 ^ name.len() as u64;
        let mut noise = || crate::stats::test_gauss(&mut state);
        let data = (0..h)
            .flat_map(|y| (0..w).map(move |x| (x, y)))
            .map(|(x, y)| f(x as f64, y as f64) as f32)
            .collect::<Vec<_>>()
            .into_iter()
            .map(|v| v + (5.0 * noise()) as f32)
            .collect();
        let meta = FrameMeta {
            instrument: "test".into(),
            frame_type: FrameType::Science,
            frame_type_reason: String::new(),
            object: None,
            filter: Some(filter.to_string()),
            exptime_s: None,
            date_obs_utc: None,
            mid_exposure_utc: None,
            airmass: None,
            binning: Binning { x: 1, y: 1 },
            window: None,
            gain_e_per_adu: None,
            read_noise_e: None,
            saturation_adu: None,
            overscan_section: None,
            data_section: None,
            detector_section: None,
            pixel_scale_arcsec: None,
            wcs: None,
            obsgeo_m: None,
            zero_point_adu_mag: None,
        };
        CalibratedFrame {
            source: PathBuf::from(name),
            meta,
            image_e: Image::new(w, h, data).unwrap(),
            mask: PixelMask::clear(w, h),
            read_noise_e: 5.0,
            gain_e_per_adu: 1.0,
            wcs: None,
            history: Vec::new(),
        }
    }

    /// A bilinear saddle of ±3 % times the sky, with a bright "star" at a different place
    /// in each frame: the surface recovers the saddle to < 0.1 % and dividing by it leaves
    /// the sky flat.
    #[test]
    fn recovers_a_saddle_and_flattens_the_sky() {
        let (w, h) = (400, 300);
        let saddle = |x: f64, y: f64| {
            let u = (x - 0.5 * (w as f64 - 1.0)) / (0.5 * w as f64);
            let v = (y - 0.5 * (h as f64 - 1.0)) / (0.5 * h as f64);
            1.0 + 0.03 * u * v
        };
        let frames: Vec<CalibratedFrame> = [(1000.0, 60.0), (1500.0, 200.0), (800.0, 330.0)]
            .iter()
            .enumerate()
            .map(|(i, &(sky, sx))| {
                frame(&format!("f{i}.fits"), "R", w, h, |x, y| {
                    let star = 5e4 * (-((x - sx).powi(2) + (y - 150.0).powi(2)) / 8.0).exp();
                    sky * saddle(x, y) + star
                })
            })
            .collect();
        let refs: Vec<&CalibratedFrame> = frames.iter().collect();
        let options = IlluminationOptions {
            mesh_box_px: 64,
            ..IlluminationOptions::default()
        };
        let illum = build_illumination(&refs, Some("R"), &options).unwrap();
        assert_eq!(illum.n_frames, 3);
        let c = illum.image.get(200, 150) as f64 / saddle(200.0, 150.0);
        for (x, y) in [
            (0, 0),
            (399, 0),
            (0, 299),
            (399, 299),
            (100, 220),
            (200, 150),
        ] {
            let got = illum.image.get(x, y) as f64 / c;
            let want = saddle(x as f64, y as f64);
            assert!(
                (got / want - 1.0).abs() < 1e-3,
                "({x}, {y}): {got} vs {want}"
            );
        }
        let mut corrected = frames[0].clone();
        illum.apply(&mut corrected).unwrap();
        assert!(corrected
            .history
            .last()
            .unwrap()
            .contains("3 flat-fielded science frame"));
        // Corner vs centre before and after.
        let level = |f: &CalibratedFrame, x0: usize, y0: usize| {
            let v: Vec<f64> = (y0..y0 + 40)
                .flat_map(|y| (x0..x0 + 40).map(move |x| (x, y)))
                .map(|(x, y)| f64::from(f.image_e.get(x, y)))
                .collect();
            crate::stats::median(&v).unwrap()
        };
        let before = level(&frames[0], 0, 0) / level(&frames[0], 180, 130) - 1.0;
        let after = level(&corrected, 0, 0) / level(&corrected, 180, 130) - 1.0;
        assert!(before > 0.02, "{before}");
        assert!(after.abs() < 0.002, "{after}");
    }

    #[test]
    fn errors_name_the_filter() {
        let err =
            build_illumination(&[], Some("g#782"), &IlluminationOptions::default()).unwrap_err();
        assert!(err.to_string().contains("'g#782'"), "{err}");
        // Everything flagged: no sky.
        let mut f = frame("a.fits", "V", 200, 200, |_, _| 100.0);
        for b in f.mask.bits_mut() {
            *b = pixel_flag::BAD;
        }
        let err =
            build_illumination(&[&f], Some("V"), &IlluminationOptions::default()).unwrap_err();
        assert!(err.to_string().contains("'V'"), "{err}");
        let other = frame("b.fits", "R", 200, 200, |_, _| 100.0);
        let err =
            build_illumination(&[&other], Some("V"), &IlluminationOptions::default()).unwrap_err();
        assert!(
            matches!(err, IlluminationError::FilterMismatch { .. }),
            "{err}"
        );
    }
}
