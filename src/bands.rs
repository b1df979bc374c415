//! Frame-sized buffers made band by band in parallel, each value written once: never
//! zero-filled first (a pass of memory writes per buffer that the values then overwrite).
//!
//! [`RowWriter`] appends a band's rows to its share of a buffer's unused capacity;
//! [`written_in_bands`] checks that every band was written in full before the buffer's
//! length is set, so no unwritten value can ever be read.

use rayon::prelude::*;
use std::mem::MaybeUninit;

/// Appends rows to one band of a buffer being made ([`written_in_bands`]).
pub struct RowWriter<'a, T> {
    band: &'a mut [MaybeUninit<T>],
    written: usize,
}

impl<'a, T: Copy> RowWriter<'a, T> {
    pub fn new(band: &'a mut [MaybeUninit<T>]) -> Self {
        RowWriter { band, written: 0 }
    }

    /// The number of values of the band (written or not).
    pub fn len(&self) -> usize {
        self.band.len()
    }

    /// Writes `row` after the values written so far (panics past the band's end).
    pub fn push(&mut self, row: &[T]) {
        let end = self.written + row.len();
        for (slot, &v) in self.band[self.written..end].iter_mut().zip(row) {
            slot.write(v);
        }
        self.written = end;
    }

    /// Whether every value of the band has been written.
    pub fn is_full(&self) -> bool {
        self.written == self.band.len()
    }
}

/// A buffer of `len` values made by `fill(k, writer)` for its bands of `band_len` values
/// (band k starts at value k · `band_len`; the last may be shorter), in parallel, with what
/// `fill` returns for each band, in band order. Panics unless `fill` writes every band in
/// full, or when `band_len` is 0 and `len` is not.
pub fn written_in_bands<T, R, F>(len: usize, band_len: usize, fill: F) -> (Vec<T>, Vec<R>)
where
    T: Copy + Send,
    R: Send,
    F: Fn(usize, &mut RowWriter<T>) -> R + Sync,
{
    let mut out = Vec::with_capacity(len);
    let mut results = Vec::new();
    if len > 0 {
        out.spare_capacity_mut()[..len]
            .par_chunks_mut(band_len)
            .enumerate()
            .map(|(k, band)| {
                let mut writer = RowWriter::new(band);
                let result = fill(k, &mut writer);
                assert!(
                    writer.is_full(),
                    "band {k} of a buffer was not written in full"
                );
                result
            })
            .collect_into_vec(&mut results);
    }
    // SAFETY: the bands cover the first `len` values of the capacity and every band was
    // written in full (asserted above: a panic propagates out of `collect_into_vec` before
    // this point).
    unsafe { out.set_len(len) };
    (out, results)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_band_lands_where_it_belongs() {
        // 10 rows of 7 values in bands of 3 rows (the last of one row).
        let (w, h) = (7, 10);
        let (made, first_rows) = written_in_bands(w * h, 3 * w, |band, writer| {
            let mut y = 3 * band;
            while !writer.is_full() {
                let row: Vec<u32> = (0..w as u32).map(|x| 100 * y as u32 + x).collect();
                writer.push(&row);
                y += 1;
            }
            3 * band
        });
        let expected: Vec<u32> = (0..h as u32)
            .flat_map(|y| (0..w as u32).map(move |x| 100 * y + x))
            .collect();
        assert_eq!(made, expected);
        assert_eq!(first_rows, [0, 3, 6, 9]);
        let (nothing, no_results) = written_in_bands::<f32, (), _>(0, 4, |_, _| {});
        assert!(nothing.is_empty() && no_results.is_empty());
    }

    #[test]
    #[should_panic(expected = "not written in full")]
    fn a_band_left_short_panics() {
        written_in_bands(12, 4, |band, writer: &mut RowWriter<f32>| {
            if band != 1 {
                writer.push(&[1.0; 4]);
            }
        });
    }

    #[test]
    #[should_panic]
    fn a_band_written_past_its_end_panics() {
        written_in_bands(8, 4, |_, writer: &mut RowWriter<f32>| {
            writer.push(&[1.0; 5])
        });
    }
}
