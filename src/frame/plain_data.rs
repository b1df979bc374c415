//! Direct reading of an uncompressed image data unit: the big-endian samples read from the
//! file in blocks through a staging buffer that stays in cache and converted to f32 from
//! there, with BSCALE/BZERO, exactly as cfitsio's `ffgpv(TFLOAT)` without null checking
//! converts them (`(float)(raw * BSCALE + BZERO)` in double precision, FITS standard 4.0
//! §5.3): one pass that writes each output pixel once, instead of cfitsio's buffered reads,
//! byte swaps and conversions in separate passes.
//!
//! Only the common case takes this path: a plain (not gzip, not tile-compressed) file with
//! BITPIX 16, 32 or −32 whose data unit is complete on disk. [`super::read`] falls back to
//! cfitsio for everything else, including every error.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};

/// Where an uncompressed image's samples are and how they decode.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PlainData {
    /// Byte offset of the data unit in the file.
    pub offset_bytes: u64,
    pub sample: Sample,
    /// BSCALE and BZERO of the HDU (1 and 0 when absent).
    pub scale: f64,
    pub zero: f64,
}

/// Sample types read directly (FITS BITPIX 16, 32, −32).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sample {
    I16,
    I32,
    F32,
}

impl Sample {
    pub fn from_bitpix(bitpix: i32) -> Option<Sample> {
        match bitpix {
            16 => Some(Sample::I16),
            32 => Some(Sample::I32),
            -32 => Some(Sample::F32),
            _ => None,
        }
    }

    pub fn bytes(self) -> usize {
        match self {
            Sample::I16 => 2,
            Sample::I32 | Sample::F32 => 4,
        }
    }
}

/// Samples per block: each block is read into a staging buffer (256 KiB of 32-bit samples,
/// which stays in cache), decoded there and copied to the output, so the frame-sized output
/// is written once, neither zero-filled first nor read back to be decoded in place.
const BLOCK_SAMPLES: usize = 1 << 16;

impl PlainData {
    /// Appends to `out` the `count` pixels starting at pixel `first` (0-based) of the data
    /// unit; on an error `out` holds the pixels decoded before it.
    pub fn read_append(
        &self,
        file: &mut File,
        first: usize,
        count: usize,
        out: &mut Vec<f32>,
    ) -> std::io::Result<()> {
        out.reserve(count);
        self.read_blocks(file, first, count, BLOCK_SAMPLES, |block| {
            out.extend_from_slice(block)
        })
    }

    /// Calls `each` on the `count` pixels starting at pixel `first` (0-based) of the data
    /// unit, in order, in blocks of `block_samples` (the last may be shorter), each decoded
    /// in one staging buffer reused for every block.
    pub fn read_blocks(
        &self,
        file: &mut File,
        first: usize,
        count: usize,
        block_samples: usize,
        mut each: impl FnMut(&[f32]),
    ) -> std::io::Result<()> {
        file.seek(SeekFrom::Start(
            self.offset_bytes + (first * self.sample.bytes()) as u64,
        ))?;
        let block_samples = block_samples.max(1);
        let mut staging = vec![0f32; block_samples.min(count)];
        // The bytes of a block of 16-bit samples (32-bit ones are read into `staging`).
        let mut raw_16 = match self.sample {
            Sample::I16 => vec![0u8; 2 * staging.len()],
            Sample::I32 | Sample::F32 => Vec::new(),
        };
        let mut left = count;
        while left > 0 {
            let block = &mut staging[..block_samples.min(left)];
            self.read_block(file, block, &mut raw_16)?;
            each(block);
            left -= block.len();
        }
        Ok(())
    }

    /// Reads and decodes the next `block.len()` samples of `file` into `block`: 32-bit ones
    /// read into it as they are and decoded where they lie, 16-bit ones read into `raw_16`
    /// (at least two bytes per sample) and decoded from there.
    fn read_block(
        &self,
        file: &mut File,
        block: &mut [f32],
        raw_16: &mut [u8],
    ) -> std::io::Result<()> {
        let (scale, zero) = (self.scale, self.zero);
        let unscaled = scale == 1.0 && zero == 0.0;
        match self.sample {
            Sample::I16 => {
                let raw = &mut raw_16[..2 * block.len()];
                file.read_exact(raw)?;
                for (o, b) in block.iter_mut().zip(raw.chunks_exact(2)) {
                    let v = i16::from_be_bytes([b[0], b[1]]);
                    *o = (f64::from(v) * scale + zero) as f32;
                }
            }
            Sample::I32 => {
                file.read_exact(as_bytes(block))?;
                for v in block.iter_mut() {
                    let raw = i32::from_be_bytes(v.to_ne_bytes());
                    *v = (f64::from(raw) * scale + zero) as f32;
                }
            }
            Sample::F32 if unscaled => {
                file.read_exact(as_bytes(block))?;
                for v in block.iter_mut() {
                    *v = f32::from_bits(u32::from_be_bytes(v.to_ne_bytes()));
                }
            }
            Sample::F32 => {
                file.read_exact(as_bytes(block))?;
                for v in block.iter_mut() {
                    let raw = f32::from_bits(u32::from_be_bytes(v.to_ne_bytes()));
                    *v = (f64::from(raw) * scale + zero) as f32;
                }
            }
        }
        Ok(())
    }
}

/// The bytes of `values` (read into directly, then decoded in place).
fn as_bytes(values: &mut [f32]) -> &mut [u8] {
    // SAFETY: an f32 slice is valid, aligned memory of 4 × len bytes, u8 has no alignment
    // requirement, every byte pattern is a valid u8 and every u32 pattern a valid f32, and
    // the returned slice borrows `values` mutably for its whole life.
    unsafe { std::slice::from_raw_parts_mut(values.as_mut_ptr().cast::<u8>(), 4 * values.len()) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// Samples of `sample` type after an 8-byte "header".
    fn plain(sample: Sample, scale: f64, zero: f64) -> PlainData {
        PlainData {
            offset_bytes: 8,
            sample,
            scale,
            zero,
        }
    }

    fn file_with(bytes: &[u8]) -> (tempfile::NamedTempFile, File) {
        let mut tmp = tempfile::NamedTempFile::new().unwrap();
        tmp.write_all(b"header..").unwrap();
        tmp.write_all(bytes).unwrap();
        tmp.flush().unwrap();
        let file = File::open(tmp.path()).unwrap();
        (tmp, file)
    }

    #[test]
    fn decodes_each_sample_type_with_scaling() {
        let ints: [i32; 4] = [-7, 0, 1 << 30, i32::MIN];
        let bytes: Vec<u8> = ints.iter().flat_map(|v| v.to_be_bytes()).collect();
        let (_tmp, mut file) = file_with(&bytes);
        let data = plain(Sample::I32, 2.5, 100.0);
        let mut out = Vec::new();
        data.read_append(&mut file, 1, 3, &mut out).unwrap();
        let expected: Vec<f32> = ints[1..]
            .iter()
            .map(|&v| (f64::from(v) * 2.5 + 100.0) as f32)
            .collect();
        assert_eq!(out.to_vec(), expected);

        let shorts: [i16; 3] = [-32768, -1, 32767];
        let bytes: Vec<u8> = shorts.iter().flat_map(|v| v.to_be_bytes()).collect();
        let (_tmp, mut file) = file_with(&bytes);
        let data = plain(Sample::I16, 1.0, 32768.0);
        let mut out = Vec::new();
        data.read_append(&mut file, 0, 3, &mut out).unwrap();
        assert_eq!(out, [0.0, 32767.0, 65535.0]);

        let floats = [1.5f32, f32::NAN, -0.0, f32::INFINITY];
        let bytes: Vec<u8> = floats.iter().flat_map(|v| v.to_be_bytes()).collect();
        let (_tmp, mut file) = file_with(&bytes);
        let data = plain(Sample::F32, 1.0, 0.0);
        let mut out = Vec::new();
        data.read_append(&mut file, 0, 4, &mut out).unwrap();
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&out), bits(&floats));
        let scaled = PlainData {
            scale: 2.0,
            zero: -1.0,
            ..data
        };
        out.clear();
        scaled.read_append(&mut file, 0, 4, &mut out).unwrap();
        assert_eq!(out[0], 2.0);
        assert!(out[1].is_nan());
        assert_eq!(out[2], -1.0);
        assert_eq!(out[3], f32::INFINITY);
    }

    #[test]
    fn a_short_file_is_an_error() {
        let (_tmp, mut file) = file_with(&[0u8; 10]);
        let data = plain(Sample::I32, 1.0, 0.0);
        // 10 bytes after the offset: two 4-byte samples, not three.
        let mut out = Vec::new();
        assert!(data.read_append(&mut file, 0, 2, &mut out).is_ok());
        assert_eq!(out.len(), 2);
        assert!(data.read_append(&mut file, 0, 3, &mut out).is_err());
    }

    #[test]
    fn reads_across_staging_blocks_from_any_pixel() {
        // More than two staging blocks, read from pixel 3: every value where it belongs.
        let n = 2 * BLOCK_SAMPLES + 10;
        let ints: Vec<i32> = (0..n as i32).map(|i| i * 7 - 1000).collect();
        let bytes: Vec<u8> = ints.iter().flat_map(|v| v.to_be_bytes()).collect();
        let (_tmp, mut file) = file_with(&bytes);
        let data = plain(Sample::I32, 1.0, 0.5);
        let mut out = vec![-1.0];
        data.read_append(&mut file, 3, n - 3, &mut out).unwrap();
        let expected: Vec<f32> = std::iter::once(-1.0)
            .chain(ints[3..].iter().map(|&v| (f64::from(v) + 0.5) as f32))
            .collect();
        assert_eq!(out, expected);

        let shorts: Vec<i16> = (0..n).map(|i| (i % 65536) as u16 as i16).collect();
        let bytes: Vec<u8> = shorts.iter().flat_map(|v| v.to_be_bytes()).collect();
        let (_tmp, mut file) = file_with(&bytes);
        let data = plain(Sample::I16, 1.0, 32768.0);
        let mut out = Vec::new();
        data.read_append(&mut file, 0, n, &mut out).unwrap();
        let expected: Vec<f32> = shorts.iter().map(|&v| f32::from(v) + 32768.0).collect();
        assert_eq!(out, expected);
    }
}
