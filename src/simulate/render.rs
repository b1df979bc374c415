//! Rendering one frame: expected electrons per pixel from sky, stars and comet, then the
//! detector (flat field, binning, Poisson noise, cosmic rays, read noise, gain, bias,
//! saturation).
//!
//! Light is accumulated on the unbinned pixels of the used window (only data pixels collect
//! light), multiplied by the flat-field response of each unbinned pixel and summed into
//! binned pixels (on-chip binning adds charge). Noise is drawn per binned pixel:
//! `N_e ~ Poisson(λ)` (a sum of Poisson counts is Poisson), cosmic-ray charge added, then
//! `ADU = B(row) + (N_e + ε)/g` with ε ~ Normal(0, σ_read) in electrons, g the gain
//! (e⁻/ADU), B the bias level of the row; integer outputs are rounded and clipped to
//! [0, saturation], float outputs clipped at saturation only.

use rand::Rng;
use rand_distr::{Distribution, Normal, Poisson};
use rand_pcg::Pcg64;

use super::detector::{is_data_pixel, Readout};
use super::model::{BiasPattern, Coma, Moffat, PSF_TRUNCATION_FRACTION};
use crate::frame::write::PixelData;

/// A point source at an unbinned detector position with its expected electrons.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PointSource {
    pub x_det: f64,
    pub y_det: f64,
    pub flux_e: f64,
}

/// The comet as seen in one frame.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CometScene {
    pub x_det: f64,
    pub y_det: f64,
    pub coma: Coma,
    /// Expected electrons of the nucleus (0 for none).
    pub nucleus_flux_e: f64,
}

/// Everything that emits light in one frame.
#[derive(Debug, Clone)]
pub struct Scene<'a> {
    pub readout: &'a Readout,
    /// Flat-field response of every unbinned pixel of the used window, row-major; 0 outside
    /// the data area.
    pub flat: &'a [f64],
    /// Sky electrons per unbinned pixel (before the flat).
    pub sky_e_per_px: f64,
    pub psf: Moffat,
    pub stars: &'a [PointSource],
    pub comet: Option<CometScene>,
}

/// Expected electrons per binned pixel and the light injected by each source.
#[derive(Debug, Clone)]
pub struct Light {
    /// λ per image pixel (after flat and binning), row-major.
    pub expected_e: Vec<f64>,
    /// Electrons injected by each star over all data pixels of the image, before the flat.
    pub star_e: Vec<f64>,
    /// Same for the coma and the nucleus.
    pub coma_e: f64,
    pub nucleus_e: f64,
}

/// Unbinned light on the used window.
struct Grid {
    x0: usize,
    y0: usize,
    width: usize,
    height: usize,
    values: Vec<f64>,
}

impl Grid {
    /// Index ranges (unbinned detector) of the grid intersected with `[lo, hi]`.
    fn span(
        &self,
        x_lo: f64,
        x_hi: f64,
        y_lo: f64,
        y_hi: f64,
    ) -> Option<(usize, usize, usize, usize)> {
        let clamp = |v: f64, lo: usize, n: usize| -> usize {
            (v.max(lo as f64).min((lo + n) as f64)) as usize
        };
        let xa = clamp(x_lo.floor(), self.x0, self.width);
        let xb = clamp(x_hi.ceil() + 1.0, self.x0, self.width);
        let ya = clamp(y_lo.floor(), self.y0, self.height);
        let yb = clamp(y_hi.ceil() + 1.0, self.y0, self.height);
        (xa < xb && ya < yb).then_some((xa, xb, ya, yb))
    }

    /// Adds `f(X, Y)` to every data pixel of the box; returns the sum added.
    fn add_box(
        &mut self,
        (xa, xb, ya, yb): (usize, usize, usize, usize),
        mut f: impl FnMut(usize, usize) -> f64,
    ) -> f64 {
        let mut total = 0.0;
        for y in ya..yb {
            let row = (y - self.y0) * self.width;
            for x in xa..xb {
                if !is_data_pixel(x, y) {
                    continue;
                }
                let v = f(x, y);
                self.values[row + x - self.x0] += v;
                total += v;
            }
        }
        total
    }
}

/// Expected electrons of a scene (no noise).
pub fn expected_electrons(scene: &Scene) -> Light {
    let r = scene.readout;
    let cols = r.used_columns();
    let rows = r.used_rows();
    let mut grid = Grid {
        x0: cols.start,
        y0: rows.start,
        width: cols.len(),
        height: rows.len(),
        values: vec![0.0; cols.len() * rows.len()],
    };
    if scene.sky_e_per_px > 0.0 {
        let all = (cols.start, cols.end, rows.start, rows.end);
        grid.add_box(all, |_, _| scene.sky_e_per_px);
    }
    let psf = scene.psf;
    let psf_radius = psf.radius_enclosing(1.0 - PSF_TRUNCATION_FRACTION);
    let add_point = |grid: &mut Grid, s: &PointSource| -> f64 {
        if s.flux_e <= 0.0 {
            return 0.0;
        }
        match grid.span(
            s.x_det - psf_radius,
            s.x_det + psf_radius,
            s.y_det - psf_radius,
            s.y_det + psf_radius,
        ) {
            Some(b) => grid.add_box(b, |x, y| {
                let (dx, dy) = (x as f64 - s.x_det, y as f64 - s.y_det);
                if dx * dx + dy * dy > (psf_radius + 1.0) * (psf_radius + 1.0) {
                    0.0
                } else {
                    s.flux_e * psf.pixel_fraction(dx, dy)
                }
            }),
            None => 0.0,
        }
    };
    let star_e: Vec<f64> = scene
        .stars
        .iter()
        .map(|s| add_point(&mut grid, s))
        .collect();
    let (mut coma_e, mut nucleus_e) = (0.0, 0.0);
    if let Some(c) = &scene.comet {
        let rad = c.coma.outer_radius_px;
        if let Some(b) = grid.span(c.x_det - rad, c.x_det + rad, c.y_det - rad, c.y_det + rad) {
            coma_e = grid.add_box(b, |x, y| {
                let (dx, dy) = (x as f64 - c.x_det, y as f64 - c.y_det);
                c.coma
                    .rect_electrons(dx - 0.5, dx + 0.5, dy - 0.5, dy + 0.5)
            });
        }
        let nucleus = PointSource {
            x_det: c.x_det,
            y_det: c.y_det,
            flux_e: c.nucleus_flux_e,
        };
        nucleus_e = add_point(&mut grid, &nucleus);
    }
    let (bx, by) = (r.binning_x, r.binning_y);
    let mut expected_e = vec![0.0; r.width * r.height];
    for (gy, row) in grid.values.chunks_exact(grid.width).enumerate() {
        let out_row = (gy / by) * r.width;
        let flat_row = &scene.flat[gy * grid.width..(gy + 1) * grid.width];
        for (gx, (v, f)) in row.iter().zip(flat_row).enumerate() {
            expected_e[out_row + gx / bx] += v * f;
        }
    }
    Light {
        expected_e,
        star_e,
        coma_e,
        nucleus_e,
    }
}

/// Output pixel type of the simulator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PixelFormat {
    /// BITPIX 16 + BZERO 32768 (clipped at 65535).
    U16,
    /// BITPIX 32 + BZERO 2³¹, as ALFOSC writes raw frames.
    U32,
    /// BITPIX −32, unrounded (for exact tests).
    F32,
}

/// Detector electronics for one frame.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Electronics {
    pub gain_e_per_adu: f64,
    pub read_noise_e: f64,
    pub bias: BiasPattern,
    /// Offset of this frame's bias level from the night's pattern (ADU).
    pub frame_bias_offset_adu: f64,
    pub saturation_adu: f64,
    pub noiseless: bool,
    pub format: PixelFormat,
}

/// Bias level (ADU) of image row `j`: the pattern at the row's centre on the detector plus
/// the frame offset.
pub fn bias_of_image_row(readout: &Readout, electronics: &Electronics, j: usize) -> f64 {
    let (_, y_det) = readout.image_to_detector(0.0, j as f64);
    electronics.bias.level_at_row(y_det) + electronics.frame_bias_offset_adu
}

/// Turns expected electrons into written pixel values. `extra_e` is charge added after the
/// Poisson draw (cosmic rays), per image pixel index.
pub fn digitise(
    expected_e: &[f64],
    extra_e: &[(usize, f64)],
    readout: &Readout,
    electronics: &Electronics,
    rng: &mut Pcg64,
) -> PixelData {
    let mut electrons = expected_e.to_vec();
    if !electronics.noiseless {
        for e in electrons.iter_mut() {
            *e = poisson(*e, rng);
        }
    }
    for &(i, q) in extra_e {
        if let Some(e) = electrons.get_mut(i) {
            *e += q;
        }
    }
    let read = Normal::new(0.0, electronics.read_noise_e.max(0.0)).ok();
    let mut adu = Vec::with_capacity(electrons.len());
    for (j, row) in electrons.chunks_exact(readout.width).enumerate() {
        let bias = bias_of_image_row(readout, electronics, j);
        for &e in row {
            let noise = match (&read, electronics.noiseless) {
                (Some(n), false) if electronics.read_noise_e > 0.0 => n.sample(rng),
                _ => 0.0,
            };
            adu.push(bias + (e + noise) / electronics.gain_e_per_adu);
        }
    }
    let sat = electronics.saturation_adu;
    match electronics.format {
        PixelFormat::F32 => PixelData::F32(adu.iter().map(|&v| v.min(sat) as f32).collect()),
        PixelFormat::U32 => PixelData::U32(
            adu.iter()
                .map(|&v| v.round().clamp(0.0, sat.min(u32::MAX as f64)) as u32)
                .collect(),
        ),
        PixelFormat::U16 => PixelData::U16(
            adu.iter()
                .map(|&v| v.round().clamp(0.0, sat.min(u16::MAX as f64)) as u16)
                .collect(),
        ),
    }
}

/// Poisson deviate with mean `lambda` (0 for λ ≤ 0).
fn poisson(lambda: f64, rng: &mut Pcg64) -> f64 {
    if lambda <= 0.0 || !lambda.is_finite() {
        return 0.0;
    }
    match Poisson::new(lambda) {
        Ok(p) => p.sample(rng),
        Err(_) => lambda + lambda.sqrt() * rng.sample::<f64, _>(rand_distr::StandardNormal),
    }
}

/// A cosmic-ray hit: image pixel and deposited charge (e⁻).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CosmicHit {
    pub x_px: usize,
    pub y_px: usize,
    pub charge_e: f64,
}

/// `count` cosmic rays in the data area of the image: straight tracks of 1–4 pixels in one
/// of 8 directions, each pixel receiving a charge uniform in `[min_e, max_e]`.
pub fn cosmic_rays(
    readout: &Readout,
    count: usize,
    min_e: f64,
    max_e: f64,
    rng: &mut Pcg64,
) -> Vec<CosmicHit> {
    const DIRECTIONS: [(i64, i64); 8] = [
        (1, 0),
        (1, 1),
        (0, 1),
        (-1, 1),
        (-1, 0),
        (-1, -1),
        (0, -1),
        (1, -1),
    ];
    let is_data_image_pixel = |i: i64, j: i64| -> bool {
        if i < 0 || j < 0 || i as usize >= readout.width || j as usize >= readout.height {
            return false;
        }
        let (x, y) = readout.image_to_detector(i as f64, j as f64);
        is_data_pixel(x.round() as usize, y.round() as usize)
    };
    let mut hits = Vec::new();
    let mut placed = 0;
    let mut attempts = 0;
    while placed < count && attempts < 100 * count.max(1) {
        attempts += 1;
        let i = rng.random_range(0..readout.width) as i64;
        let j = rng.random_range(0..readout.height) as i64;
        let length = rng.random_range(1..=4usize);
        let (di, dj) = DIRECTIONS[rng.random_range(0..DIRECTIONS.len())];
        if !is_data_image_pixel(i, j) {
            continue;
        }
        placed += 1;
        for step in 0..length as i64 {
            let (x, y) = (i + step * di, j + step * dj);
            let charge_e = rng.random_range(min_e..=max_e.max(min_e));
            if is_data_image_pixel(x, y) {
                hits.push(CosmicHit {
                    x_px: x as usize,
                    y_px: y as usize,
                    charge_e,
                });
            }
        }
    }
    hits
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn electronics(noiseless: bool) -> Electronics {
        Electronics {
            gain_e_per_adu: 0.16,
            read_noise_e: 4.3,
            bias: BiasPattern {
                seed: 1,
                level_adu: 1000.0,
                row_amplitude_adu: 0.0,
            },
            frame_bias_offset_adu: 0.0,
            saturation_adu: 80_000.0,
            noiseless,
            format: PixelFormat::F32,
        }
    }

    #[test]
    fn binning_sums_flat_weighted_light() {
        let r = Readout::new("[101:140,101:120]", 2, 2).unwrap();
        let n = r.used_columns().len() * r.used_rows().len();
        let flat: Vec<f64> = (0..n).map(|i| 1.0 + 0.001 * i as f64).collect();
        let scene = Scene {
            readout: &r,
            flat: &flat,
            sky_e_per_px: 10.0,
            psf: Moffat::from_fwhm(4.0, 3.0),
            stars: &[],
            comet: None,
        };
        let light = expected_electrons(&scene);
        assert_eq!(light.expected_e.len(), 20 * 10);
        let total: f64 = light.expected_e.iter().sum();
        assert!((total - 10.0 * flat.iter().sum::<f64>()).abs() < 1e-9);
    }

    #[test]
    fn noise_statistics() {
        let r = Readout::new("[101:300,101:300]", 1, 1).unwrap();
        let lambda = vec![400.0; r.width * r.height];
        let mut rng = Pcg64::seed_from_u64(5);
        let e = electronics(false);
        let PixelData::F32(v) = digitise(&lambda, &[], &r, &e, &mut rng) else {
            panic!("expected F32")
        };
        let electrons: Vec<f64> = v.iter().map(|&a| (a as f64 - 1000.0) * 0.16).collect();
        let mean = electrons.iter().sum::<f64>() / electrons.len() as f64;
        let var =
            electrons.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / electrons.len() as f64;
        assert!((mean - 400.0).abs() < 0.5, "{mean}");
        let expected_var = 400.0 + 4.3 * 4.3;
        assert!((var / expected_var - 1.0).abs() < 0.03, "{var}");
        let PixelData::F32(v) = digitise(&lambda, &[(3, 100.0)], &r, &electronics(true), &mut rng)
        else {
            panic!("expected F32")
        };
        assert_eq!(v[0], 1000.0 + 400.0 / 0.16);
        assert_eq!(v[3], 1000.0 + 500.0 / 0.16);
    }

    #[test]
    fn cosmic_rays_land_on_data_pixels() {
        let r = Readout::new("[1:300,1:300]", 1, 1).unwrap();
        let mut rng = Pcg64::seed_from_u64(9);
        let hits = cosmic_rays(&r, 20, 500.0, 5000.0, &mut rng);
        assert!(hits.len() >= 20);
        assert!(hits
            .iter()
            .all(|h| h.x_px >= 52 && (500.0..=5000.0).contains(&h.charge_e)));
    }
}
