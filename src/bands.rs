//! Frame-sized buffers made band by band in parallel, each value written once: never
//! zero-filled first (a pass of memory writes per buffer that the values then overwrite).
//!
//! [`RowWriter`] appends a band's rows to its share of a buffer's unused capacity; its user
//! checks that every band was written in full ([`RowWriter::is_full`]) before the buffer's
//! length is set, so that no unwritten value can ever be read (the smoothing of
//! [`crate::photometry::detect`]).

use std::mem::MaybeUninit;

/// Appends rows to one band of a buffer being made.
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_land_in_order_and_fill_the_band() {
        let mut band = [MaybeUninit::<u32>::uninit(); 6];
        let mut writer = RowWriter::new(&mut band);
        assert_eq!(writer.len(), 6);
        writer.push(&[1, 2, 3]);
        assert!(!writer.is_full());
        writer.push(&[4, 5, 6]);
        assert!(writer.is_full());
        // SAFETY: every value was written (`is_full`).
        let values: Vec<u32> = band.iter().map(|v| unsafe { v.assume_init() }).collect();
        assert_eq!(values, [1, 2, 3, 4, 5, 6]);
    }

    #[test]
    #[should_panic]
    fn a_row_past_the_band_s_end_panics() {
        let mut band = [MaybeUninit::<f32>::uninit(); 4];
        RowWriter::new(&mut band).push(&[1.0; 5]);
    }
}
