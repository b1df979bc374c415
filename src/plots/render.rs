//! Backend selection, embedded font registration and atomic file writing.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::register_font;

use super::style::Theme;
use super::text::{fonts_ok, PngBackend};
use super::{PlotError, PlotFormat, PlotSize};

/// A failure while drawing, turned into a [`PlotError`] naming the file by [`render`].
#[derive(Debug)]
pub(crate) struct DrawFail(pub String);

impl<E: std::error::Error + Send + Sync> From<DrawingAreaErrorKind<E>> for DrawFail {
    fn from(e: DrawingAreaErrorKind<E>) -> Self {
        DrawFail(e.to_string())
    }
}

/// A plot that can draw itself on any plotters backend.
pub(crate) trait Figure {
    fn draw<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
        theme: &Theme,
    ) -> Result<(), DrawFail>
    where
        DB::ErrorType: 'static;
}

/// Registers DejaVu Sans (regular and bold) as plotters' `sans-serif` family (used for SVG
/// layout), once, and checks that the PNG text faces parse.
fn ensure_fonts() -> bool {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    *REGISTERED.get_or_init(|| {
        fonts_ok()
            && register_font("sans-serif", FontStyle::Normal, dejavu::sans::regular()).is_ok()
            && register_font("sans-serif", FontStyle::Bold, dejavu::sans::bold()).is_ok()
    })
}

/// Temporary name beside `path`, keeping the extension (the PNG encoder picks the format
/// from it).
fn temporary_path(path: &Path, ext: &str) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "plot".to_string());
    let tmp = format!(".{name}.{}.tmp.{ext}", std::process::id());
    match path.parent() {
        Some(dir) => dir.join(tmp),
        None => PathBuf::from(tmp),
    }
}

pub(crate) fn check_size(path: &Path, size: PlotSize) -> Result<(), PlotError> {
    let ok = |v: u32| (PlotSize::MIN_SIDE..=PlotSize::MAX_SIDE).contains(&v);
    if ok(size.width) && ok(size.height) {
        Ok(())
    } else {
        Err(PlotError::InvalidSize {
            path: path.to_path_buf(),
            width: size.width,
            height: size.height,
        })
    }
}

/// Draws `figure` into `path` (PNG or SVG by extension), atomically.
pub(crate) fn render(path: &Path, size: PlotSize, figure: &impl Figure) -> Result<(), PlotError> {
    let format = PlotFormat::from_path(path)?;
    check_size(path, size)?;
    if !ensure_fonts() {
        return Err(PlotError::Font {
            path: path.to_path_buf(),
        });
    }
    let theme = Theme::new(size);
    let draw_error = |e: DrawFail| PlotError::Draw {
        path: path.to_path_buf(),
        message: e.0,
    };
    match format {
        PlotFormat::Png => {
            let tmp = temporary_path(path, "png");
            let result = {
                let backend = PngBackend {
                    inner: BitMapBackend::new(&tmp, (size.width, size.height)),
                };
                let root = backend.into_drawing_area();
                root.fill(&WHITE)
                    .map_err(DrawFail::from)
                    .and_then(|_| figure.draw(&root, &theme))
                    .and_then(|_| root.present().map_err(DrawFail::from))
            };
            match result {
                Ok(()) => std::fs::rename(&tmp, path).map_err(|source| {
                    let _ = std::fs::remove_file(&tmp);
                    PlotError::Io {
                        path: path.to_path_buf(),
                        source,
                    }
                }),
                Err(e) => {
                    let _ = std::fs::remove_file(&tmp);
                    Err(draw_error(e))
                }
            }
        }
        PlotFormat::Svg => {
            let mut text = String::new();
            {
                let root = SVGBackend::with_string(&mut text, (size.width, size.height))
                    .into_drawing_area();
                root.fill(&WHITE).map_err(|e| draw_error(e.into()))?;
                figure.draw(&root, &theme).map_err(draw_error)?;
                root.present().map_err(|e| draw_error(e.into()))?;
            }
            let tmp = temporary_path(path, "svg");
            let io = |source| PlotError::Io {
                path: path.to_path_buf(),
                source,
            };
            if let Err(e) = std::fs::write(&tmp, text.as_bytes()) {
                let _ = std::fs::remove_file(&tmp);
                return Err(io(e));
            }
            std::fs::rename(&tmp, path).map_err(|e| {
                let _ = std::fs::remove_file(&tmp);
                io(e)
            })
        }
    }
}

/// A `NoData` error for `path`.
pub(crate) fn no_data(path: &Path, reason: impl Into<String>) -> PlotError {
    PlotError::NoData {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

/// An `InvalidInput` error for `path`.
pub(crate) fn invalid(path: &Path, reason: impl Into<String>) -> PlotError {
    PlotError::InvalidInput {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}
