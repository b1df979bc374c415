//! PNG text: a bitmap backend wrapper that rasterises text itself with `ab_glyph` and the
//! embedded DejaVu Sans.
//!
//! plotters 0.3.7's own `ab_glyph` text path drops each glyph's left side bearing and
//! truncates the baseline offset, so at the usual 12–16 px sizes letters are unevenly spaced
//! ("SD SS") and periods float above the baseline at odd sizes. This backend places every
//! glyph at its exact (sub-pixel) pen position on a common baseline, with kerning, and
//! measures text the same way for layout. The em is the style's size / 1.24, the font size
//! plotters' SVG backend writes, so PNG and SVG text have the same size.

use std::sync::OnceLock;

use ab_glyph::{Font, FontRef, PxScale, ScaleFont};
use plotters::prelude::*;
use plotters_backend::text_anchor::{HPos, VPos};
use plotters_backend::{
    BackendColor, BackendCoord, BackendStyle, BackendTextStyle, DrawingErrorKind, FontStyle,
};

/// DejaVu Sans regular and bold.
struct Faces {
    regular: FontRef<'static>,
    bold: FontRef<'static>,
}

fn faces() -> Option<&'static Faces> {
    static FACES: OnceLock<Option<Faces>> = OnceLock::new();
    FACES
        .get_or_init(|| {
            Some(Faces {
                regular: FontRef::try_from_slice(dejavu::sans::regular()).ok()?,
                bold: FontRef::try_from_slice(dejavu::sans::bold()).ok()?,
            })
        })
        .as_ref()
}

/// Whether the embedded faces parse (checked before drawing).
pub(crate) fn fonts_ok() -> bool {
    faces().is_some()
}

fn face_for<S: BackendTextStyle>(style: &S) -> Option<&'static FontRef<'static>> {
    let f = faces()?;
    Some(match style.style() {
        FontStyle::Bold => &f.bold,
        _ => &f.regular,
    })
}

/// plotters' SVG backend writes `font-size = size / 1.24`; PNG text uses the same em.
const SVG_EM_RATIO: f64 = 1.24;

/// Scale giving an em of `size / 1.24` px (the SVG font size of the same style).
fn em_scale(font: &FontRef<'static>, size: f64) -> PxScale {
    let upem = font.units_per_em().unwrap_or(2048.0);
    PxScale::from((size / SVG_EM_RATIO) as f32 * font.height_unscaled() / upem)
}

/// Pen positions of the glyphs of `text` (relative x), the advance width, ascent and descent.
fn layout(
    font: &FontRef<'static>,
    scale: PxScale,
    text: &str,
) -> (Vec<(char, f32)>, f32, f32, f32) {
    let sf = font.as_scaled(scale);
    let mut caret = 0f32;
    let mut prev = None;
    let mut glyphs = Vec::with_capacity(text.len());
    for c in text.chars() {
        let id = sf.glyph_id(c);
        if let Some(p) = prev {
            caret += sf.kern(p, id);
        }
        glyphs.push((c, caret));
        caret += sf.h_advance(id);
        prev = Some(id);
    }
    (glyphs, caret, sf.ascent(), sf.descent())
}

/// A [`BitMapBackend`] whose text is drawn by [`draw_text`](DrawingBackend::draw_text) here.
pub(crate) struct PngBackend<'a> {
    pub inner: BitMapBackend<'a>,
}

impl DrawingBackend for PngBackend<'_> {
    type ErrorType = <BitMapBackend<'static> as DrawingBackend>::ErrorType;

    fn get_size(&self) -> (u32, u32) {
        self.inner.get_size()
    }

    fn ensure_prepared(&mut self) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.inner.ensure_prepared()
    }

    fn present(&mut self) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.inner.present()
    }

    fn draw_pixel(
        &mut self,
        point: BackendCoord,
        color: BackendColor,
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.inner.draw_pixel(point, color)
    }

    fn draw_line<S: BackendStyle>(
        &mut self,
        from: BackendCoord,
        to: BackendCoord,
        style: &S,
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.inner.draw_line(from, to, style)
    }

    fn draw_rect<S: BackendStyle>(
        &mut self,
        upper_left: BackendCoord,
        bottom_right: BackendCoord,
        style: &S,
        fill: bool,
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.inner.draw_rect(upper_left, bottom_right, style, fill)
    }

    fn draw_path<S: BackendStyle, I: IntoIterator<Item = BackendCoord>>(
        &mut self,
        path: I,
        style: &S,
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.inner.draw_path(path, style)
    }

    fn draw_circle<S: BackendStyle>(
        &mut self,
        center: BackendCoord,
        radius: u32,
        style: &S,
        fill: bool,
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.inner.draw_circle(center, radius, style, fill)
    }

    fn fill_polygon<S: BackendStyle, I: IntoIterator<Item = BackendCoord>>(
        &mut self,
        vert: I,
        style: &S,
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.inner.fill_polygon(vert, style)
    }

    fn blit_bitmap(
        &mut self,
        pos: BackendCoord,
        size: (u32, u32),
        src: &[u8],
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.inner.blit_bitmap(pos, size, src)
    }

    fn estimate_text_size<S: BackendTextStyle>(
        &self,
        text: &str,
        style: &S,
    ) -> Result<(u32, u32), DrawingErrorKind<Self::ErrorType>> {
        let Some(font) = face_for(style) else {
            return self.inner.estimate_text_size(text, style);
        };
        let (_, width, ascent, descent) = layout(font, em_scale(font, style.size()), text);
        Ok((width.ceil() as u32, (ascent - descent).ceil() as u32))
    }

    fn draw_text<S: BackendTextStyle>(
        &mut self,
        text: &str,
        style: &S,
        pos: BackendCoord,
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        let color = style.color();
        if color.alpha == 0.0 {
            return Ok(());
        }
        let Some(font) = face_for(style) else {
            return self.inner.draw_text(text, style, pos);
        };
        let scale = em_scale(font, style.size());
        let (glyphs, width, ascent, descent) = layout(font, scale, text);
        let anchor = style.anchor();
        let x0 = match anchor.h_pos {
            HPos::Left => 0.0,
            HPos::Center => -width / 2.0,
            HPos::Right => -width,
        };
        let baseline = match anchor.v_pos {
            VPos::Top => ascent,
            VPos::Center => (ascent + descent) / 2.0,
            VPos::Bottom => descent,
        };
        let transform = style.transform();
        let (w, h) = self.get_size();
        let sf = font.as_scaled(scale);
        for (c, pen) in glyphs {
            let glyph = sf
                .glyph_id(c)
                .with_scale_and_position(scale, ab_glyph::point(x0 + pen, baseline));
            let Some(outline) = font.outline_glyph(glyph) else {
                continue;
            };
            let bounds = outline.px_bounds();
            let (bx, by) = (bounds.min.x as i32, bounds.min.y as i32);
            let mut result = Ok(());
            outline.draw(|gx, gy, coverage| {
                if result.is_err() || coverage <= 0.0 {
                    return;
                }
                let (x, y) = transform.transform(bx + gx as i32, by + gy as i32);
                let (x, y) = (pos.0 + x, pos.1 + y);
                if x >= 0 && y >= 0 && x < w as i32 && y < h as i32 {
                    let alpha = (coverage.min(1.0) as f64) * color.alpha;
                    result = self.inner.draw_pixel(
                        (x, y),
                        BackendColor {
                            alpha,
                            rgb: color.rgb,
                        },
                    );
                }
            });
            result?;
        }
        Ok(())
    }
}
