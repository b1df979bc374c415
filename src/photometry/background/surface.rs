//! Step 5 of the module notes: the natural bicubic spline surface through a mesh of box
//! values, evaluated at any pixel, row or whole image ([`MeshSurface`]), and the pixel maps a
//! detection reads, whole images or such surfaces alike ([`Surface`]).
//!
//! A row of the surface is computed by the same operations whether the whole image is made
//! or only that row (or one of its pixels) is asked for, so every way gives the same bits:
//! a caller that needs the background of a few rows, or each row once, need not hold a
//! full-frame map (16.8 MB per map of a 2048 × 2052 frame).

use std::borrow::Cow;
use std::ops::Range;

use rayon::prelude::*;

use super::{SplineSystem, SplineWeights};
use crate::image::Image;
use crate::stats::max2;

/// A map of one value per pixel, read by rows or pixels.
pub trait Surface: Sync {
    fn width(&self) -> usize;
    fn height(&self) -> usize;
    /// Row `y` (`width` values), `y < height`.
    fn row(&self, y: usize) -> Cow<'_, [f32]>;
    /// Row `y` as [`Surface::row`] gives it, made in `scratch` (`width` values) when it is
    /// not held: for a caller that reads many rows, without a row allocated for each.
    fn row_in<'a>(&'a self, y: usize, scratch: &'a mut [f32]) -> &'a [f32];
    /// The value at pixel (x, y), the same as `row(y)[x]`.
    fn at(&self, x: usize, y: usize) -> f32;
}

/// `image − level` (NaN where either is NaN), row by row (a level evaluated on demand is made
/// one row at a time). `level` has the image's shape (the callers check it).
pub fn subtract_surface(image: &Image, level: &dyn Surface) -> Image {
    let (w, h) = (image.width(), image.height());
    let mut data = Vec::with_capacity(w * h);
    for y in 0..h {
        let level = level.row(y);
        data.extend(image.row(y).iter().zip(level.iter()).map(|(v, b)| v - b));
    }
    Image::new(w, h, data).expect("one value per pixel")
}

impl Surface for Image {
    fn width(&self) -> usize {
        Image::width(self)
    }

    fn height(&self) -> usize {
        Image::height(self)
    }

    fn row(&self, y: usize) -> Cow<'_, [f32]> {
        Cow::Borrowed(Image::row(self, y))
    }

    /// The image's own row (`scratch` unused).
    fn row_in<'a>(&'a self, y: usize, _scratch: &'a mut [f32]) -> &'a [f32] {
        Image::row(self, y)
    }

    fn at(&self, x: usize, y: usize) -> f32 {
        self.get(x, y)
    }
}

/// The bicubic spline surface through a mesh (row-major, `j * nx + i`) as the rows of
/// numbers that give any image row's spline along x: the natural splines along y through
/// each column of the mesh (node values and second derivatives along y), and the second
/// derivatives along x of both. The spline along x through row y's column values has second
/// derivatives that are linear in those values (the spline system is linear), so that they
/// are the same weighted sum of the mesh's rows as the values: no system to solve per row.
#[derive(Debug, Clone, PartialEq)]
struct ColumnSplines {
    mesh: Vec<f64>,
    nx: usize,
    node_y: Vec<f64>,
    /// Second derivatives along y, row-major as the mesh.
    d2_y: Vec<f64>,
    /// Second derivatives along x of the rows of `mesh` and of `d2_y`.
    mesh_d2_x: Vec<f64>,
    d2_y_d2_x: Vec<f64>,
}

impl ColumnSplines {
    fn new(mesh: &[f64], node_x: &[f64], node_y: &[f64]) -> Self {
        let (nx, ny) = (node_x.len(), node_y.len());
        let system = SplineSystem::new(node_y);
        let mut d2_y = vec![0.0; nx * ny];
        let (mut column, mut column_d2) = (vec![0.0; ny], vec![0.0; ny]);
        for i in 0..nx {
            for (j, v) in column.iter_mut().enumerate() {
                *v = mesh[j * nx + i];
            }
            system.second_derivatives(&column, &mut column_d2);
            for (j, d) in column_d2.iter().enumerate() {
                d2_y[j * nx + i] = *d;
            }
        }
        let along_x = SplineSystem::new(node_x);
        let rows_d2_x = |rows: &[f64]| -> Vec<f64> {
            let mut d2 = vec![0.0; nx * ny];
            for (row, row_d2) in rows.chunks_exact(nx).zip(d2.chunks_exact_mut(nx)) {
                along_x.second_derivatives(row, row_d2);
            }
            d2
        };
        ColumnSplines {
            mesh: mesh.to_vec(),
            nx,
            node_y: node_y.to_vec(),
            mesh_d2_x: rows_d2_x(mesh),
            d2_y_d2_x: rows_d2_x(&d2_y),
            d2_y,
        }
    }

    /// Column `i`'s spline at row y (`weights` of y along the nodes, `None` with a single
    /// row of nodes) and the second derivative along x there: `wv0 v[k] + wv1 v[k+1] +
    /// wd0 d2[k] + wd1 d2[k+1]` of the mesh and of its second derivatives along x.
    #[inline(always)]
    fn entry(&self, weights: Option<&SplineWeights>, i: usize) -> (f64, f64) {
        let nx = self.nx;
        let Some(wt) = weights else {
            return (self.mesh[i], self.mesh_d2_x[i]);
        };
        let (r0, r1) = (wt.k * nx, (wt.k + 1) * nx);
        let sum = |v: &[f64], d: &[f64]| {
            wt.wv0 * v[r0 + i] + wt.wv1 * v[r1 + i] + wt.wd0 * d[r0 + i] + wt.wd1 * d[r1 + i]
        };
        (
            sum(&self.mesh, &self.d2_y),
            sum(&self.mesh_d2_x, &self.d2_y_d2_x),
        )
    }

    /// The weights of row `y` along the nodes (`None` with a single row of nodes).
    fn weights(&self, y: usize) -> Option<SplineWeights> {
        (self.node_y.len() >= 2).then(|| SplineWeights::new(&self.node_y, y as f64))
    }

    /// The value of every column's spline at row `y` into `values`, and the second
    /// derivatives of the spline along x through them into `d2_x` (`nx` values each).
    fn at_row(&self, y: usize, values: &mut [f64], d2_x: &mut [f64]) {
        let weights = self.weights(y);
        for (i, (v, d)) in values.iter_mut().zip(d2_x.iter_mut()).enumerate() {
            (*v, *d) = self.entry(weights.as_ref(), i);
        }
    }
}

/// Columns of nodes up to which [`MeshSurface::row_in`] keeps a row's node numbers on the
/// stack (2 × 1 KiB).
const STACK_NODES: usize = 128;

/// A natural bicubic spline surface through a mesh of box values at the nodes
/// `node_x` × `node_y` (box centres, px), over a `width` × `height` image, values below
/// `floor` (not NaN) raised to it (module notes of [`super`], step 5).
///
/// Per pixel, in single precision (4 pixels per SSE register when a whole row is made; the
/// map is stored as f32, and a level of ~10³ e⁻ carries a rounding of ~10⁻⁴ e⁻ either way):
/// `max(wv0 v0 + wv1 v1 + wd0 d0 + wd1 d1, floor)` with the weights of x along `node_x` and
/// the numbers of row y's spline ([`ColumnSplines`]); with a single column of nodes the value
/// along y, the same across x.
#[derive(Debug, Clone, PartialEq)]
pub struct MeshSurface {
    width: usize,
    height: usize,
    columns: ColumnSplines,
    /// Per x: the spline interval along x (empty with one column of nodes).
    interval_of_x: Vec<usize>,
    /// Runs of x over which the interval is the same (one per interval).
    runs: Vec<(usize, Range<usize>)>,
    /// Per x: the weights along x, in single precision.
    wv0: Vec<f32>,
    wv1: Vec<f32>,
    wd0: Vec<f32>,
    wd1: Vec<f32>,
    floor: f64,
}

impl MeshSurface {
    /// The surface through `mesh` (row-major, `node_x.len()` × `node_y.len()` values).
    pub fn new(
        mesh: &[f64],
        node_x: &[f64],
        node_y: &[f64],
        width: usize,
        height: usize,
        floor: f64,
    ) -> Self {
        let columns = ColumnSplines::new(mesh, node_x, node_y);
        // Along x the weights depend on x only: computed once for all rows, then each row is
        // a few runs of pixels (one per interval) over which the four spline numbers are
        // constant.
        let weights: Vec<SplineWeights> = if node_x.len() > 1 {
            (0..width)
                .map(|x| SplineWeights::new(node_x, x as f64))
                .collect()
        } else {
            Vec::new()
        };
        let mut runs: Vec<(usize, Range<usize>)> = Vec::new();
        for (x, wt) in weights.iter().enumerate() {
            match runs.last_mut() {
                Some((k, range)) if *k == wt.k => range.end = x + 1,
                _ => runs.push((wt.k, x..x + 1)),
            }
        }
        MeshSurface {
            width,
            height,
            columns,
            interval_of_x: weights.iter().map(|wt| wt.k).collect(),
            runs,
            wv0: weights.iter().map(|wt| wt.wv0 as f32).collect(),
            wv1: weights.iter().map(|wt| wt.wv1 as f32).collect(),
            wd0: weights.iter().map(|wt| wt.wd0 as f32).collect(),
            wd1: weights.iter().map(|wt| wt.wd1 as f32).collect(),
            floor,
        }
    }

    /// Row `y` into `row` (`width` values); `values` and `d2` hold one number per column of
    /// nodes (scratch).
    fn row_into(&self, y: usize, row: &mut [f32], values: &mut [f64], d2: &mut [f64]) {
        self.columns.at_row(y, values, d2);
        if self.columns.nx == 1 {
            row.fill(values[0].max(self.floor) as f32);
            return;
        }
        let floor = self.floor as f32;
        for (k, range) in &self.runs {
            let (v0, v1, d0, d1) = (
                values[*k] as f32,
                values[*k + 1] as f32,
                d2[*k] as f32,
                d2[*k + 1] as f32,
            );
            let weights = self.wv0[range.clone()]
                .iter()
                .zip(&self.wv1[range.clone()])
                .zip(&self.wd0[range.clone()])
                .zip(&self.wd1[range.clone()]);
            for (out, (((a, b), c), d)) in row[range.clone()].iter_mut().zip(weights) {
                *out = max2(a * v0 + b * v1 + c * d0 + d * d1, floor);
            }
        }
    }

    /// The whole map (rows in parallel).
    pub fn to_image(&self) -> Image {
        let (w, h) = (self.width, self.height);
        let nx = self.columns.nx;
        let mut data = vec![0f32; w * h];
        // Per worker: a row's node values and their second derivatives along x.
        let row_scratch = || (vec![0.0; nx], vec![0.0; nx]);
        if w > 0 {
            data.par_chunks_mut(w)
                .enumerate()
                .for_each_init(row_scratch, |(v, d2), (y, row)| {
                    self.row_into(y, row, v, d2)
                });
        }
        Image::new(w, h, data).expect("interpolated map has the image's size")
    }
}

impl Surface for MeshSurface {
    fn width(&self) -> usize {
        self.width
    }

    fn height(&self) -> usize {
        self.height
    }

    fn row(&self, y: usize) -> Cow<'_, [f32]> {
        let mut row = vec![0f32; self.width];
        self.row_in(y, &mut row);
        Cow::Owned(row)
    }

    /// The row's node numbers are kept on the stack for meshes of up to [`STACK_NODES`]
    /// columns (a full ALFOSC frame in 64 px boxes has 32): no two allocations per row.
    fn row_in<'a>(&'a self, y: usize, scratch: &'a mut [f32]) -> &'a [f32] {
        let nx = self.columns.nx;
        if nx <= STACK_NODES {
            let (mut values, mut d2) = ([0.0; STACK_NODES], [0.0; STACK_NODES]);
            self.row_into(y, scratch, &mut values[..nx], &mut d2[..nx]);
        } else {
            let (mut values, mut d2) = (vec![0.0; nx], vec![0.0; nx]);
            self.row_into(y, scratch, &mut values, &mut d2);
        }
        scratch
    }

    /// Only the two columns of nodes about x: the operations of [`MeshSurface::row_into`] on
    /// them, hence the same value.
    fn at(&self, x: usize, y: usize) -> f32 {
        let weights = self.columns.weights(y);
        if self.columns.nx == 1 {
            let (v, _) = self.columns.entry(weights.as_ref(), 0);
            return v.max(self.floor) as f32;
        }
        let k = self.interval_of_x[x];
        let (v0, d0) = self.columns.entry(weights.as_ref(), k);
        let (v1, d1) = self.columns.entry(weights.as_ref(), k + 1);
        let (v0, v1, d0, d1) = (v0 as f32, v1 as f32, d0 as f32, d1 as f32);
        max2(
            self.wv0[x] * v0 + self.wv1[x] * v1 + self.wd0[x] * d0 + self.wd1[x] * d1,
            self.floor as f32,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Rows (allocated or made in scratch), pixels and the whole map of a surface agree to
    /// the bit, for one and several columns and rows of nodes (more columns than
    /// [`STACK_NODES`] too), inside and beyond the outermost nodes, with a floor.
    #[test]
    fn rows_pixels_and_the_map_are_the_same() {
        let mut seed = 11u64;
        let wide = (STACK_NODES + 2, 2, 300, 9);
        for (nx, ny, w, h) in [
            (1, 1, 7, 5),
            (1, 4, 9, 40),
            (5, 1, 50, 3),
            (6, 4, 130, 70),
            wide,
        ] {
            let mesh: Vec<f64> = (0..nx * ny)
                .map(|_| 100.0 + 10.0 * crate::stats::test_gauss(&mut seed))
                .collect();
            let centres = |n: usize, size: usize| -> Vec<f64> {
                (0..n)
                    .map(|i| (i as f64 + 0.5) * size as f64 / n as f64 - 0.5)
                    .collect()
            };
            let (node_x, node_y) = (centres(nx, w), centres(ny, h));
            for floor in [f64::NEG_INFINITY, 100.0] {
                let surface = MeshSurface::new(&mesh, &node_x, &node_y, w, h, floor);
                let image = surface.to_image();
                let mut scratch = vec![f32::NAN; w];
                for y in 0..h {
                    let row = surface.row(y);
                    let row_in = surface.row_in(y, &mut scratch).to_vec();
                    for x in 0..w {
                        let v = image.get(x, y).to_bits();
                        assert_eq!(row[x].to_bits(), v, "{nx}x{ny} row {y} x {x}");
                        assert_eq!(row_in[x].to_bits(), v, "{nx}x{ny} row {y} x {x}");
                        assert_eq!(surface.at(x, y).to_bits(), v, "{nx}x{ny} {x},{y}");
                    }
                }
            }
        }
    }
}
