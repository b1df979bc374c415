//! Plots (DESIGN §2 `report`, issue 7 item 3): pure functions that take typed, plain data and
//! write a PNG or an SVG file.
//!
//! Every plot function has the same shape,
//! `fn name(path: &Path, plot: &SomePlot<'_>, size: PlotSize) -> Result<(), PlotError>`:
//!
//! - the format is chosen by the extension of `path` (`.png` or `.svg`, case-insensitive);
//! - the input struct holds slices of small plain structs defined here, so the plots do not
//!   depend on how the numbers were produced (the caller converts its tables);
//! - text is drawn with DejaVu Sans (regular and bold) embedded in the binary (the `dejavu`
//!   crate; Bitstream Vera licence, DejaVu changes public domain): no system fonts, no
//!   fontconfig. PNG text is rasterised here with `ab_glyph` (`text.rs`: plotters' own
//!   `ab_glyph` text path misplaces glyphs at small sizes) and encoded with the `png` crate;
//!   SVG files carry `<text>` elements naming `sans-serif`, rendered by the viewer's font;
//! - the file is written to a temporary name in the same directory and renamed (DESIGN §3).
//!
//! Conventions shared by all plots:
//!
//! - magnitude axes are inverted (brighter up), except in the zero-point diagnostics where
//!   both axes are magnitudes and the relation is plotted as it is fitted;
//! - heliocentric distance increases to the left by default ([`RhAxis::DecreasingRight`]), so
//!   an inbound comet's history reads left to right; [`RhAxis::IncreasingRight`] flips it;
//! - power laws are plotted on logarithmic axes (dM/dt vs rH) or against log₁₀ rH (reduced
//!   magnitudes);
//! - position angles are in degrees, measured from north through east; sky plots are drawn
//!   with north up and east to the left, as on the sky;
//! - the default size is 900 × 600 px ([`PlotSize::default`]); fonts and line widths scale with
//!   the size.

mod axes;
mod lightcurve;
mod photometry;
mod production;
mod render;
mod stamp;
mod style;
mod syndyne;
mod text;

use std::path::PathBuf;

pub use lightcurve::{
    lightcurve_vs_time, reduced_magnitude_vs_log_rh, BrokenPowerLawLine, LightcurvePlot,
    LightcurvePoint, ModelCurvePoint, PowerLawLine, ReducedMagnitudePlot, ReducedMagnitudePoint,
    TimeAxis,
};
pub use photometry::{
    curve_of_growth, zero_point_diagnostics, CurveOfGrowthPlot, GrowthPoint, GrowthQuantity,
    GrowthSeries, RadiusUnit, ZeroPointPlot, ZeroPointStar,
};
pub use production::{
    production_vs_rh, ProductionPlot, ProductionPoint, ProductionSeries, RatePowerLaw,
};
pub use stamp::{
    postage_stamp, zscale_limits, ImageOrientation, ImageView, PostageStampPlot, Stretch,
};
pub use syndyne::{syndyne_diagram, SkyOffset, Synchrone, Syndyne, SyndynePlot};

/// Size of the output in pixels (PNG) or user units (SVG).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlotSize {
    pub width: u32,
    pub height: u32,
}

impl PlotSize {
    /// Smallest accepted size on either side; below it labels no longer fit.
    pub const MIN_SIDE: u32 = 200;
    /// Largest accepted size on either side.
    pub const MAX_SIDE: u32 = 10_000;

    pub fn new(width: u32, height: u32) -> PlotSize {
        PlotSize { width, height }
    }
}

impl Default for PlotSize {
    /// 900 × 600.
    fn default() -> Self {
        PlotSize {
            width: 900,
            height: 600,
        }
    }
}

/// Direction of a heliocentric-distance axis.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RhAxis {
    /// rH decreases to the right: an inbound comet's history reads left to right (default).
    #[default]
    DecreasingRight,
    /// rH increases to the right.
    IncreasingRight,
}

/// Output format, from the file extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlotFormat {
    Png,
    Svg,
}

impl PlotFormat {
    /// `.png` or `.svg` (case-insensitive); anything else is an error naming the file.
    pub fn from_path(path: &std::path::Path) -> Result<PlotFormat, PlotError> {
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .map(|e| e.to_ascii_lowercase());
        match ext.as_deref() {
            Some("png") => Ok(PlotFormat::Png),
            Some("svg") => Ok(PlotFormat::Svg),
            _ => Err(PlotError::UnsupportedFormat {
                path: path.to_path_buf(),
            }),
        }
    }
}

/// Why a plot was not written. Every variant names the output file.
#[derive(Debug, thiserror::Error)]
pub enum PlotError {
    #[error("{}: unsupported plot format (the file name must end in .png or .svg)", path.display())]
    UnsupportedFormat { path: PathBuf },
    #[error("{}: plot size {width}x{height} outside {min}..={max} px per side", path.display(), min = PlotSize::MIN_SIDE, max = PlotSize::MAX_SIDE)]
    InvalidSize {
        path: PathBuf,
        width: u32,
        height: u32,
    },
    #[error("{}: nothing to plot: {reason}", path.display())]
    NoData { path: PathBuf, reason: String },
    #[error("{}: invalid input: {reason}", path.display())]
    InvalidInput { path: PathBuf, reason: String },
    #[error("{}: the embedded font could not be registered", path.display())]
    Font { path: PathBuf },
    #[error("{}: drawing failed: {message}", path.display())]
    Draw { path: PathBuf, message: String },
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}
