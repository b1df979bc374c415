//! 4-point Lagrange interpolation of one observer-table column, with angles that wrap at 360°
//! unwrapped first.

use std::ops::Range;

use super::{check_span, HorizonsError, Result};

/// 4-point Lagrange interpolation of `values` tabulated at `jd` (strictly increasing), on the
/// nodes k−2, k−1, k, k+1 around the bracketing interval [k−1, k] (shifted inwards at the
/// ends; fewer points if the table has fewer). The node value itself at a node. With a wrap
/// `period`, the four values are unwrapped before and the result wrapped into [0, period).
pub(super) fn interpolate(jd: &[f64], values: &[f64], t: f64, period: Option<f64>) -> Result<f64> {
    check_span(jd, t)?;
    let n = jd.len().min(values.len());
    let k = jd.partition_point(|&x| x <= t).min(n);
    if let Some(i) = k.checked_sub(1) {
        if jd.get(i) == Some(&t) {
            return values.get(i).copied().ok_or(HorizonsError::Empty);
        }
    }
    let nodes = stencil(n, k);
    let xs = jd.get(nodes.clone()).ok_or(HorizonsError::Empty)?;
    let mut ys = values.get(nodes).ok_or(HorizonsError::Empty)?.to_vec();
    if let Some(p) = period {
        unwrap_angles(&mut ys, p);
    }
    let y = lagrange(xs, &ys, t);
    Ok(match period {
        Some(p) => y.rem_euclid(p),
        None => y,
    })
}

/// Indices of up to 4 nodes centred on the interval [k−1, k], kept inside 0..n.
fn stencil(n: usize, k: usize) -> Range<usize> {
    if n <= 4 {
        0..n
    } else {
        let lo = k.saturating_sub(2).min(n - 4);
        lo..lo + 4
    }
}

/// Makes successive values continuous across the wrap (e.g. 359.9, 0.1 → 359.9, 360.1).
fn unwrap_angles(values: &mut [f64], period: f64) {
    for i in 1..values.len() {
        let previous = values[i - 1];
        values[i] -= period * ((values[i] - previous) / period).round();
    }
}

/// Lagrange polynomial through (xs, ys) evaluated at x.
fn lagrange(xs: &[f64], ys: &[f64], x: f64) -> f64 {
    xs.iter()
        .zip(ys)
        .enumerate()
        .map(|(i, (&xi, &yi))| {
            let weight: f64 = xs
                .iter()
                .enumerate()
                .filter(|&(j, _)| j != i)
                .map(|(_, &xj)| (x - xj) / (xi - xj))
                .product();
            weight * yi
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lagrange_reproduces_cubics_and_nodes() {
        let cubic = |x: f64| 0.3 * x * x * x - 2.0 * x * x + x - 7.0;
        let xs: Vec<f64> = (0..9).map(|i| 2_460_000.5 + i as f64 * 0.75).collect();
        let ys: Vec<f64> = xs.iter().map(|x| cubic(x - 2_460_000.0)).collect();
        for &t in &[2_460_000.6, 2_460_002.0, 2_460_006.4] {
            let y = interpolate(&xs, &ys, t, None).unwrap();
            assert!((y - cubic(t - 2_460_000.0)).abs() < 1e-6, "{t}");
        }
        for (x, y) in xs.iter().zip(&ys) {
            assert_eq!(interpolate(&xs, &ys, *x, None).unwrap(), *y);
        }
        assert!(matches!(
            interpolate(&xs, &ys, 2_460_000.4, None),
            Err(HorizonsError::OutsideSpan { .. })
        ));
    }

    #[test]
    fn angles_unwrap_across_zero() {
        let xs = [0.0, 1.0, 2.0, 3.0];
        let ys = [359.0, 359.5, 0.0, 0.5];
        let y = interpolate(&xs, &ys, 1.5, Some(360.0)).unwrap();
        assert!((y - 359.75).abs() < 1e-12);
        let y = interpolate(&xs, &ys, 2.5, Some(360.0)).unwrap();
        assert!((y - 0.25).abs() < 1e-12);
    }
}
