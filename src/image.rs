//! In-memory images and pixel masks shared by reduction and photometry.
//!
//! Pixel (x, y) is column x, row y, 0-based, with pixel centres at integer coordinates (as
//! numpy/photutils); it is stored at `data[y * width + x]`. FITS 1-based coordinates are
//! converted at the FITS boundary only.

use thiserror::Error;

#[derive(Debug, Error, PartialEq)]
pub enum ImageError {
    #[error("{len} pixels cannot fill a {width} × {height} image")]
    SizeMismatch {
        width: usize,
        height: usize,
        len: usize,
    },
    #[error("images differ in size: {0}×{1} vs {2}×{3}")]
    ShapeMismatch(usize, usize, usize, usize),
}

/// A 2-D image of f32 pixels (row-major).
#[derive(Debug, Clone, PartialEq)]
pub struct Image {
    width: usize,
    height: usize,
    data: Vec<f32>,
}

impl Image {
    pub fn new(width: usize, height: usize, data: Vec<f32>) -> Result<Self, ImageError> {
        if data.len() != width * height {
            return Err(ImageError::SizeMismatch {
                width,
                height,
                len: data.len(),
            });
        }
        Ok(Image {
            width,
            height,
            data,
        })
    }

    /// An image with every pixel equal to `value`.
    pub fn filled(width: usize, height: usize, value: f32) -> Self {
        Image {
            width,
            height,
            data: vec![value; width * height],
        }
    }

    pub fn width(&self) -> usize {
        self.width
    }

    pub fn height(&self) -> usize {
        self.height
    }

    pub fn data(&self) -> &[f32] {
        &self.data
    }

    pub fn data_mut(&mut self) -> &mut [f32] {
        &mut self.data
    }

    pub fn into_data(self) -> Vec<f32> {
        self.data
    }

    /// The pixel at column `x`, row `y` (panics outside the image, like slice indexing).
    pub fn get(&self, x: usize, y: usize) -> f32 {
        self.data[y * self.width + x]
    }

    pub fn set(&mut self, x: usize, y: usize, value: f32) {
        self.data[y * self.width + x] = value;
    }

    pub fn row(&self, y: usize) -> &[f32] {
        &self.data[y * self.width..(y + 1) * self.width]
    }

    pub fn row_mut(&mut self, y: usize) -> &mut [f32] {
        &mut self.data[y * self.width..(y + 1) * self.width]
    }

    /// Checks that `other` has the same size.
    pub fn same_shape(&self, width: usize, height: usize) -> Result<(), ImageError> {
        if (self.width, self.height) == (width, height) {
            Ok(())
        } else {
            Err(ImageError::ShapeMismatch(
                self.width,
                self.height,
                width,
                height,
            ))
        }
    }
}

/// Quality flags of one pixel, as bits of a `u8`.
pub mod pixel_flag {
    /// NaN or infinite in the raw data.
    pub const NONFINITE: u8 = 1 << 0;
    /// At or above the saturation / non-linearity limit of the instrument (raw ADU).
    pub const SATURATED: u8 = 1 << 1;
    /// Replaced by the cosmic-ray cleaner.
    pub const COSMIC_RAY: u8 = 1 << 2;
    /// Dead, hot or otherwise unusable according to the master calibration frames.
    pub const BAD: u8 = 1 << 3;
    /// Any flag that makes a pixel unusable for photometry.
    pub const UNUSABLE: u8 = NONFINITE | SATURATED | BAD;
}

/// Per-pixel quality flags, same layout as [`Image`].
#[derive(Debug, Clone, PartialEq)]
pub struct PixelMask {
    width: usize,
    height: usize,
    bits: Vec<u8>,
}

impl PixelMask {
    /// A mask of the given flags (row-major, `width × height` of them).
    pub fn new(width: usize, height: usize, bits: Vec<u8>) -> Result<Self, ImageError> {
        if bits.len() != width * height {
            return Err(ImageError::SizeMismatch {
                width,
                height,
                len: bits.len(),
            });
        }
        Ok(PixelMask {
            width,
            height,
            bits,
        })
    }

    /// A mask with no flag set.
    pub fn clear(width: usize, height: usize) -> Self {
        PixelMask {
            width,
            height,
            bits: vec![0; width * height],
        }
    }

    pub fn width(&self) -> usize {
        self.width
    }

    pub fn height(&self) -> usize {
        self.height
    }

    pub fn bits(&self) -> &[u8] {
        &self.bits
    }

    pub fn bits_mut(&mut self) -> &mut [u8] {
        &mut self.bits
    }

    pub fn get(&self, x: usize, y: usize) -> u8 {
        self.bits[y * self.width + x]
    }

    /// Adds `flag` to the pixel's flags.
    pub fn flag(&mut self, x: usize, y: usize, flag: u8) {
        self.bits[y * self.width + x] |= flag;
    }

    /// True when any bit of `flags` is set at the pixel.
    pub fn has(&self, x: usize, y: usize, flags: u8) -> bool {
        self.get(x, y) & flags != 0
    }

    /// Number of pixels with any bit of `flags` set.
    pub fn count(&self, flags: u8) -> usize {
        self.bits.iter().filter(|b| **b & flags != 0).count()
    }
}

/// Hasher of pixel indices (FxHash's multiply-rotate): a few cycles per key where the
/// default SipHash, built to resist chosen keys (which pixel indices are not), costs tens.
#[derive(Default, Clone, Copy)]
pub(crate) struct PixelHasher(u64);

impl std::hash::Hasher for PixelHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }

    fn write_u64(&mut self, i: u64) {
        self.0 = (self.0.rotate_left(5) ^ i).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }

    fn write_usize(&mut self, i: usize) {
        self.write_u64(i as u64);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// A map keyed by pixel index, hashed by [`PixelHasher`].
pub(crate) type PixelMap<V> =
    std::collections::HashMap<usize, V, std::hash::BuildHasherDefault<PixelHasher>>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indexing_is_row_major() {
        let img = Image::new(3, 2, vec![0.0, 1.0, 2.0, 10.0, 11.0, 12.0]).unwrap();
        assert_eq!(img.get(2, 1), 12.0);
        assert_eq!(img.row(1), &[10.0, 11.0, 12.0]);
        assert!(Image::new(3, 2, vec![0.0; 5]).is_err());
        let mut mask = PixelMask::clear(3, 2);
        mask.flag(1, 1, pixel_flag::SATURATED);
        mask.flag(1, 1, pixel_flag::COSMIC_RAY);
        assert!(mask.has(1, 1, pixel_flag::UNUSABLE));
        assert_eq!(mask.count(pixel_flag::COSMIC_RAY), 1);
        assert_eq!(mask.count(pixel_flag::BAD), 0);
    }
}
