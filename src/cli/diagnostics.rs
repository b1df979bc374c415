//! Per-frame diagnostics of `cometphot photometry --diagnostics DIR`: a postage stamp of the
//! comet with its apertures, the zero-point plot, a DS9 region file, and the tables of the
//! curves of growth and of the zero-point stars of every frame.
//!
//! Layout: `DIR/stamps/<frame>.png`, `DIR/zero_points/<frame>.png`, `DIR/regions/<frame>.reg`,
//! `DIR/growth.csv`, `DIR/zp_stars.csv` (`<frame>`: the file name without `.fits[.gz]`).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context;

use cometphot::photometry::measure::FrameMeasurement;
use cometphot::photometry::regions::ds9_regions;
use cometphot::plots::{
    postage_stamp, zero_point_diagnostics, ImageOrientation, ImageView, PlotSize, PostageStampPlot,
    ZeroPointPlot, ZeroPointStar,
};
use cometphot::reduce::CalibratedFrame;
use cometphot::table::write_text_atomic;

/// `growth.csv` columns.
pub const GROWTH_HEADER: &str = "file,mjd_mid_utc,radius_arcsec,radius_km,net_e,net_err_e";
/// `zp_stars.csv` columns.
pub const ZP_STARS_HEADER: &str =
    "file,x,y,catalogue_mag,catalogue_mag_err,instrumental_mag,instrumental_mag_err,used";

/// A frame's name without the directory and the `.fits`, `.fit`, `.fts` (and `.gz`) suffixes.
pub fn frame_stem(path: &Path) -> String {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "frame".into());
    let name = name.strip_suffix(".gz").unwrap_or(&name);
    [".fits", ".fit", ".fts", ".FITS", ".FIT"]
        .iter()
        .find_map(|suffix| name.strip_suffix(suffix))
        .unwrap_or(name)
        .to_string()
}

/// Rows of the two tables contributed by one frame.
#[derive(Debug, Default)]
pub struct DiagnosticRows {
    pub growth: Vec<String>,
    pub zp_stars: Vec<String>,
}

/// Writes the stamp, the zero-point plot and the region file of one frame and returns its
/// table rows. Plot failures (e.g. no zero-point star) leave that plot out.
pub fn write_frame(
    dir: &Path,
    frame: &CalibratedFrame,
    measurement: &FrameMeasurement,
) -> anyhow::Result<DiagnosticRows> {
    let stem = frame_stem(&frame.source);
    let file = frame.source.display().to_string();
    let d = &measurement.diagnostics;
    let mjd = measurement.rows.first().map_or(f64::NAN, |r| r.mjd_mid_utc);

    let regions = subdir(dir, "regions")?.join(format!("{stem}.reg"));
    write_text_atomic(&regions, &ds9_regions(&file, d, &measurement.rows))
        .with_context(|| format!("cannot write {}", regions.display()))?;

    let aperture_px = d.aperture_radii_px.first().copied().unwrap_or(10.0);
    let half_size_px = (d.annulus_px.1 * 1.15).ceil().max(20.0) as usize;
    let title = match measurement.rows.first() {
        Some(r) => format!("{stem}: {:.0} km aperture", r.radius_km),
        None => stem.clone(),
    };
    let stamp = subdir(dir, "stamps")?.join(format!("{stem}.png"));
    postage_stamp(
        &stamp,
        &PostageStampPlot {
            title: &title,
            image: ImageView {
                data: frame.image_e.data(),
                width: frame.image_e.width(),
                height: frame.image_e.height(),
            },
            centre_x: d.x_px,
            centre_y: d.y_px,
            half_size_px,
            aperture_radius_px: aperture_px,
            annulus_px: Some(d.annulus_px),
            orientation: d
                .cd_deg_per_px
                .map(ImageOrientation::CdMatrix)
                .unwrap_or_default(),
            sun_pa_deg: Some(d.sun_pa_deg),
            neg_velocity_pa_deg: Some(d.neg_velocity_pa_deg),
            ..PostageStampPlot::default()
        },
        PlotSize::new(700, 560),
    )
    .with_context(|| format!("cannot write {}", stamp.display()))?;

    if let (Some(zp), false) = (&d.zero_point, d.zero_point_stars.is_empty()) {
        let stars: Vec<ZeroPointStar> = d
            .zero_point_stars
            .iter()
            .map(|s| ZeroPointStar {
                instrumental_mag: s.star.instrumental_mag,
                instrumental_err: s.star.instrumental_mag_err,
                catalogue_mag: s.star.catalogue_mag,
                catalogue_err: s.star.catalogue_mag_err,
                used: s.used,
            })
            .collect();
        let band = measurement
            .rows
            .first()
            .map(|r| r.filter.clone())
            .unwrap_or_default();
        let path = subdir(dir, "zero_points")?.join(format!("{stem}.png"));
        zero_point_diagnostics(
            &path,
            &ZeroPointPlot {
                title: &format!("{stem}: zero point"),
                stars: &stars,
                zero_point: zp.zp_mag,
                zero_point_err: zp.zp_err_mag,
                band: &band,
            },
            PlotSize::default(),
        )
        .with_context(|| format!("cannot write {}", path.display()))?;
    }

    let mut rows = DiagnosticRows::default();
    for g in &d.growth {
        let mut line = String::new();
        let _ = write!(
            line,
            "{},{mjd},{},{},{},{}",
            csv_field(&file),
            g.radius_arcsec,
            g.radius_km,
            g.net_e,
            g.net_err_e
        );
        rows.growth.push(line);
    }
    for s in &d.zero_point_stars {
        rows.zp_stars.push(format!(
            "{},{},{},{},{},{},{},{}",
            csv_field(&file),
            s.x_px,
            s.y_px,
            s.star.catalogue_mag,
            s.star.catalogue_mag_err,
            s.star.instrumental_mag,
            s.star.instrumental_mag_err,
            s.used
        ));
    }
    Ok(rows)
}

/// Writes `growth.csv` and `zp_stars.csv` from the rows of every frame, in the order of the
/// frames' names (so the tables do not depend on the order in which the threads finished).
pub fn write_tables(dir: &Path, mut frames: Vec<(String, DiagnosticRows)>) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    frames.sort_by(|a, b| a.0.cmp(&b.0));
    for (name, header, lines) in [
        (
            "growth.csv",
            GROWTH_HEADER,
            frames
                .iter()
                .flat_map(|(_, r)| &r.growth)
                .collect::<Vec<_>>(),
        ),
        (
            "zp_stars.csv",
            ZP_STARS_HEADER,
            frames.iter().flat_map(|(_, r)| &r.zp_stars).collect(),
        ),
    ] {
        let text: String = std::iter::once(header)
            .chain(lines.into_iter().map(String::as_str))
            .flat_map(|l| [l, "\n"])
            .collect();
        let path = dir.join(name);
        write_text_atomic(&path, &text)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}

fn subdir(dir: &Path, name: &str) -> anyhow::Result<PathBuf> {
    let path = dir.join(name);
    std::fs::create_dir_all(&path).with_context(|| format!("cannot create {}", path.display()))?;
    Ok(path)
}

/// A CSV field in double quotes.
pub fn csv_field(text: &str) -> String {
    format!("\"{}\"", text.replace('"', "\"\""))
}
