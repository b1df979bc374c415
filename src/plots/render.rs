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

/// Temporary name beside `path` (hidden, with the process id), keeping the extension.
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
    let bytes = match format {
        PlotFormat::Png => {
            let (w, h) = (size.width, size.height);
            let mut rgb = vec![0u8; w as usize * h as usize * 3];
            {
                let backend = PngBackend {
                    inner: BitMapBackend::with_buffer(&mut rgb, (w, h)),
                };
                let root = backend.into_drawing_area();
                root.fill(&WHITE).map_err(|e| draw_error(e.into()))?;
                figure.draw(&root, &theme).map_err(draw_error)?;
                root.present().map_err(|e| draw_error(e.into()))?;
            }
            encode_png(&rgb, w, h).map_err(|e| PlotError::Draw {
                path: path.to_path_buf(),
                message: format!("PNG encoding failed: {e}"),
            })?
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
            text.into_bytes()
        }
    };
    write_atomically(path, format, &bytes)
}

/// 8-bit RGB PNG of a row-major RGB buffer.
fn encode_png(rgb: &[u8], width: u32, height: u32) -> Result<Vec<u8>, png::EncodingError> {
    let mut out = Vec::with_capacity(rgb.len() / 8);
    {
        let mut encoder = png::Encoder::new(&mut out, width, height);
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header()?;
        writer.write_image_data(rgb)?;
        writer.finish()?;
    }
    Ok(out)
}

/// Writes `bytes` to a temporary name beside `path` and renames it to `path`.
fn write_atomically(path: &Path, format: PlotFormat, bytes: &[u8]) -> Result<(), PlotError> {
    let ext = match format {
        PlotFormat::Png => "png",
        PlotFormat::Svg => "svg",
    };
    let tmp = temporary_path(path, ext);
    let result = std::fs::write(&tmp, bytes).and_then(|_| std::fs::rename(&tmp, path));
    result.map_err(|source| {
        let _ = std::fs::remove_file(&tmp);
        PlotError::Io {
            path: path.to_path_buf(),
            source,
        }
    })
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
