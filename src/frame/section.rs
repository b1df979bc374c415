//! IRAF-style image sections (`[x1:x2,y1:y2]`, 1-based inclusive, as in BIASSEC, DATASEC,
//! TRIMSEC, DETSEC and ALFOSC's DETWIN1), converted at this boundary to 0-based half-open
//! pixel ranges (DESIGN §3).

use std::fmt;
use std::ops::Range;

/// A rectangular region of an image. `x` are columns (FITS axis 1), `y` rows (axis 2).
/// Reversed ranges in the header (`[3072:2049,...]`, a flipped amplifier) set the flip flags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    pub x: Range<usize>,
    pub y: Range<usize>,
    pub x_flipped: bool,
    pub y_flipped: bool,
}

impl Section {
    /// Parses `[x1:x2,y1:y2]`; blanks inside are allowed (SAAO writes `[  17: 528,   1: 520]`).
    /// Returns `None` for anything else, including `UNKNOWN`.
    pub fn parse(text: &str) -> Option<Section> {
        let inner = text.trim().strip_prefix('[')?.strip_suffix(']')?;
        let (xs, ys) = inner.split_once(',')?;
        let (x, x_flipped) = parse_range(xs)?;
        let (y, y_flipped) = parse_range(ys)?;
        Some(Section {
            x,
            y,
            x_flipped,
            y_flipped,
        })
    }

    pub fn width(&self) -> usize {
        self.x.len()
    }

    pub fn height(&self) -> usize {
        self.y.len()
    }

    /// True when the section lies inside an image of `width` × `height` pixels.
    pub fn fits_within(&self, width: usize, height: usize) -> bool {
        self.x.end <= width && self.y.end <= height
    }
}

impl fmt::Display for Section {
    /// Writes the 1-based FITS form.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (x1, x2) = (self.x.start + 1, self.x.end);
        let (y1, y2) = (self.y.start + 1, self.y.end);
        let (x1, x2) = if self.x_flipped { (x2, x1) } else { (x1, x2) };
        let (y1, y2) = if self.y_flipped { (y2, y1) } else { (y1, y2) };
        write!(f, "[{x1}:{x2},{y1}:{y2}]")
    }
}

fn parse_range(text: &str) -> Option<(Range<usize>, bool)> {
    let (a, b) = text.split_once(':')?;
    let a: usize = a.trim().parse().ok()?;
    let b: usize = b.trim().parse().ok()?;
    if a == 0 || b == 0 {
        return None;
    }
    let (lo, hi, flipped) = if a <= b { (a, b, false) } else { (b, a, true) };
    Some((lo - 1..hi, flipped))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_fits_sections_to_zero_based() {
        let s = Section::parse("[3:52,1:2102]").unwrap();
        assert_eq!(s.x, 2..52);
        assert_eq!(s.y, 0..2102);
        assert_eq!(s.width(), 50);
        let s = Section::parse("[  17: 528,   1: 520]").unwrap();
        assert_eq!(s.x, 16..528);
        assert_eq!(s.to_string(), "[17:528,1:520]");
    }

    #[test]
    fn flipped_and_invalid() {
        let s = Section::parse("[3072:2049,1025:2048]").unwrap();
        assert!(s.x_flipped && !s.y_flipped);
        assert_eq!(s.x, 2048..3072);
        assert_eq!(s.to_string(), "[3072:2049,1025:2048]");
        assert_eq!(Section::parse("UNKNOWN"), None);
        assert_eq!(Section::parse("[0:10,1:5]"), None);
        assert_eq!(Section::parse("[1:10]"), None);
    }
}
