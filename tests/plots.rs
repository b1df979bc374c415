//! Plots: every plot writes a PNG and an SVG; the PNG has the requested size and is not blank,
//! the SVG carries the title text (drawn with the embedded font), and errors name the file.
//!
//! PNGs are decoded here with a small inflate + unfilter (no image crate in the test), so the
//! checks look at real pixels. Set COMETPHOT_PLOT_SAMPLES=/some/dir to keep copies of the
//! rendered samples for inspection.

use std::path::{Path, PathBuf};

use cometphot::plots::*;

// ---------------------------------------------------------------- minimal PNG decoder

struct BitReader<'a> {
    data: &'a [u8],
    pos: usize,
    buf: u64,
    n: u32,
}

impl<'a> BitReader<'a> {
    fn new(data: &'a [u8]) -> Self {
        BitReader {
            data,
            pos: 0,
            buf: 0,
            n: 0,
        }
    }

    fn bits(&mut self, need: u32) -> u32 {
        while self.n < need {
            let byte = *self
                .data
                .get(self.pos)
                .expect("inflate: unexpected end of data");
            self.buf |= (byte as u64) << self.n;
            self.pos += 1;
            self.n += 8;
        }
        let v = (self.buf & ((1u64 << need) - 1)) as u32;
        self.buf >>= need;
        self.n -= need;
        v
    }

    fn align(&mut self) {
        self.buf = 0;
        self.n = 0;
    }
}

struct Huffman {
    count: [u16; 16],
    symbol: Vec<u16>,
}

impl Huffman {
    fn new(lengths: &[u8]) -> Huffman {
        let mut count = [0u16; 16];
        for &l in lengths {
            count[l as usize] += 1;
        }
        // First index in `symbol` of the codes of each length (length 0 means unused).
        let mut offs = [0u16; 16];
        for len in 1..15 {
            offs[len + 1] = offs[len] + count[len];
        }
        let mut symbol = vec![0u16; lengths.len()];
        for (s, &l) in lengths.iter().enumerate() {
            if l != 0 {
                symbol[offs[l as usize] as usize] = s as u16;
                offs[l as usize] += 1;
            }
        }
        Huffman { count, symbol }
    }

    fn decode(&self, br: &mut BitReader) -> u16 {
        let (mut code, mut first, mut index) = (0i32, 0i32, 0i32);
        for len in 1..16 {
            code |= br.bits(1) as i32;
            let count = self.count[len] as i32;
            if code - first < count {
                return self.symbol[(index + code - first) as usize];
            }
            index += count;
            first += count;
            first <<= 1;
            code <<= 1;
        }
        panic!("inflate: bad Huffman code");
    }
}

const LBASE: [u16; 29] = [
    3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131,
    163, 195, 227, 258,
];
const LEXT: [u8; 29] = [
    0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0,
];
const DBASE: [u16; 30] = [
    1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537,
    2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577,
];
const DEXT: [u8; 30] = [
    0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13,
    13,
];

fn inflate_codes(br: &mut BitReader, out: &mut Vec<u8>, lit: &Huffman, dist: &Huffman) {
    loop {
        let sym = lit.decode(br) as usize;
        if sym < 256 {
            out.push(sym as u8);
        } else if sym == 256 {
            return;
        } else {
            let i = sym - 257;
            let len = LBASE[i] as usize + br.bits(LEXT[i] as u32) as usize;
            let d = dist.decode(br) as usize;
            let back = DBASE[d] as usize + br.bits(DEXT[d] as u32) as usize;
            assert!(back <= out.len(), "inflate: distance too far back");
            let start = out.len() - back;
            for k in 0..len {
                out.push(out[start + k]);
            }
        }
    }
}

/// zlib stream → bytes.
fn zlib_decompress(data: &[u8]) -> Vec<u8> {
    assert!(
        data.len() > 2 && data[0] & 0x0f == 8,
        "not a deflate zlib stream"
    );
    let mut br = BitReader::new(&data[2..]);
    let mut out = vec![];
    loop {
        let last = br.bits(1);
        match br.bits(2) {
            0 => {
                br.align();
                let p = br.pos;
                let len = u16::from_le_bytes([br.data[p], br.data[p + 1]]) as usize;
                out.extend_from_slice(&br.data[p + 4..p + 4 + len]);
                br.pos = p + 4 + len;
            }
            1 => {
                let mut l = [0u8; 288];
                for (i, v) in l.iter_mut().enumerate() {
                    *v = match i {
                        0..=143 => 8,
                        144..=255 => 9,
                        256..=279 => 7,
                        _ => 8,
                    };
                }
                let lit = Huffman::new(&l);
                let dist = Huffman::new(&[5u8; 30]);
                inflate_codes(&mut br, &mut out, &lit, &dist);
            }
            2 => {
                let nlen = br.bits(5) as usize + 257;
                let ndist = br.bits(5) as usize + 1;
                let ncode = br.bits(4) as usize + 4;
                const ORDER: [usize; 19] = [
                    16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15,
                ];
                let mut cl = [0u8; 19];
                for &o in ORDER.iter().take(ncode) {
                    cl[o] = br.bits(3) as u8;
                }
                let clh = Huffman::new(&cl);
                let mut lengths = vec![0u8; nlen + ndist];
                let mut i = 0;
                while i < nlen + ndist {
                    let sym = clh.decode(&mut br);
                    match sym {
                        0..=15 => {
                            lengths[i] = sym as u8;
                            i += 1;
                        }
                        16 => {
                            let prev = lengths[i - 1];
                            for _ in 0..3 + br.bits(2) {
                                lengths[i] = prev;
                                i += 1;
                            }
                        }
                        17 => i += 3 + br.bits(3) as usize,
                        _ => i += 11 + br.bits(7) as usize,
                    }
                }
                let lit = Huffman::new(&lengths[..nlen]);
                let dist = Huffman::new(&lengths[nlen..]);
                inflate_codes(&mut br, &mut out, &lit, &dist);
            }
            _ => panic!("inflate: bad block type"),
        }
        if last == 1 {
            return out;
        }
    }
}

struct Png {
    width: u32,
    height: u32,
    /// RGB, row-major.
    rgb: Vec<[u8; 3]>,
}

impl Png {
    fn at(&self, x: u32, y: u32) -> [u8; 3] {
        self.rgb[(y * self.width + x) as usize]
    }
}

/// Decodes an 8-bit RGB or RGBA, non-interlaced PNG (what plotters writes).
fn decode_png(bytes: &[u8]) -> Png {
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "PNG signature");
    let mut pos = 8;
    let (mut width, mut height, mut channels) = (0u32, 0u32, 0usize);
    let mut idat = vec![];
    while pos + 8 <= bytes.len() {
        let len = u32::from_be_bytes(bytes[pos..pos + 4].try_into().unwrap()) as usize;
        let kind = &bytes[pos + 4..pos + 8];
        let body = &bytes[pos + 8..pos + 8 + len];
        match kind {
            b"IHDR" => {
                width = u32::from_be_bytes(body[0..4].try_into().unwrap());
                height = u32::from_be_bytes(body[4..8].try_into().unwrap());
                assert_eq!(body[8], 8, "bit depth");
                channels = match body[9] {
                    2 => 3,
                    6 => 4,
                    c => panic!("unexpected colour type {c}"),
                };
                assert_eq!(body[12], 0, "interlace");
            }
            b"IDAT" => idat.extend_from_slice(body),
            b"IEND" => break,
            _ => {}
        }
        pos += 12 + len;
    }
    assert!(width > 0 && height > 0, "IHDR");
    let raw = zlib_decompress(&idat);
    let stride = width as usize * channels;
    assert_eq!(raw.len(), (stride + 1) * height as usize, "decoded size");
    let mut prev = vec![0u8; stride];
    let mut rgb = Vec::with_capacity((width * height) as usize);
    for row in 0..height as usize {
        let filter = raw[row * (stride + 1)];
        let mut line = raw[row * (stride + 1) + 1..(row + 1) * (stride + 1)].to_vec();
        for i in 0..stride {
            let a = if i >= channels {
                line[i - channels] as i32
            } else {
                0
            };
            let b = prev[i] as i32;
            let c = if i >= channels {
                prev[i - channels] as i32
            } else {
                0
            };
            let add = match filter {
                0 => 0,
                1 => a,
                2 => b,
                3 => (a + b) / 2,
                4 => {
                    let p = a + b - c;
                    let (pa, pb, pc) = ((p - a).abs(), (p - b).abs(), (p - c).abs());
                    if pa <= pb && pa <= pc {
                        a
                    } else if pb <= pc {
                        b
                    } else {
                        c
                    }
                }
                f => panic!("bad filter {f}"),
            };
            line[i] = line[i].wrapping_add(add as u8);
        }
        for px in line.chunks(channels) {
            rgb.push([px[0], px[1], px[2]]);
        }
        prev = line;
    }
    Png { width, height, rgb }
}

// ---------------------------------------------------------------- checks

fn samples_dir() -> Option<PathBuf> {
    std::env::var_os("COMETPHOT_PLOT_SAMPLES").map(PathBuf::from)
}

/// Checks the PNG: size from IHDR, decodes, not uniform, a good share of non-white pixels.
fn check_png(path: &Path, size: PlotSize) -> Png {
    let bytes = std::fs::read(path).unwrap();
    assert!(bytes.len() > 1000, "{}: PNG too small", path.display());
    assert_eq!(&bytes[12..16], b"IHDR");
    let w = u32::from_be_bytes(bytes[16..20].try_into().unwrap());
    let h = u32::from_be_bytes(bytes[20..24].try_into().unwrap());
    assert_eq!((w, h), (size.width, size.height), "{}", path.display());
    let png = decode_png(&bytes);
    assert_eq!((png.width, png.height), (w, h));
    let first = png.rgb[0];
    assert!(
        png.rgb.iter().any(|p| *p != first),
        "{}: uniform image",
        path.display()
    );
    let non_white = png.rgb.iter().filter(|p| **p != [255, 255, 255]).count();
    let frac = non_white as f64 / png.rgb.len() as f64;
    assert!(
        frac > 0.01,
        "{}: only {:.3} of pixels drawn",
        path.display(),
        frac
    );
    // Text and lines: dark pixels exist (axes, labels).
    assert!(
        png.rgb.iter().filter(|p| p.iter().all(|&c| c < 80)).count() > 500,
        "{}: too few dark pixels",
        path.display()
    );
    // The title (embedded font, rasterised into the PNG): dark pixels in the top band,
    // centred.
    let band = (size.height as f64 * 0.07).ceil() as u32;
    let title_px = (0..band)
        .flat_map(|y| (w / 4..3 * w / 4).map(move |x| (x, y)))
        .filter(|&(x, y)| png.at(x, y).iter().all(|&c| c < 100))
        .count();
    assert!(
        title_px > 100,
        "{}: no title text ({title_px} dark px)",
        path.display()
    );
    if let Some(dir) = samples_dir() {
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::copy(path, dir.join(path.file_name().unwrap())).unwrap();
    }
    png
}

fn check_svg(path: &Path, title: &str) {
    let text = std::fs::read_to_string(path).unwrap();
    assert!(text.contains("<svg"), "{}: not an SVG", path.display());
    assert!(
        text.contains(title),
        "{}: title {title:?} missing",
        path.display()
    );
    assert!(
        text.contains("<text"),
        "{}: no text element",
        path.display()
    );
    assert!(text.len() > 2000, "{}: SVG too small", path.display());
    if let Some(dir) = samples_dir() {
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::copy(path, dir.join(path.file_name().unwrap())).unwrap();
    }
}

/// Writes `name`.png and `name`.svg with `f`, checks both, and that no temporary file is left.
fn both(
    name: &str,
    title: &str,
    size: PlotSize,
    f: impl Fn(&Path) -> Result<(), PlotError>,
) -> Png {
    let dir = tempfile::tempdir().unwrap();
    let png = dir.path().join(format!("{name}.png"));
    let svg = dir.path().join(format!("{name}.svg"));
    f(&png).unwrap_or_else(|e| panic!("{e}"));
    f(&svg).unwrap_or_else(|e| panic!("{e}"));
    let decoded = check_png(&png, size);
    check_svg(&svg, title);
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 2, "leftover files: {names:?}");
    decoded
}

// ---------------------------------------------------------------- synthetic inputs

/// Deterministic noise in [-1, 1].
fn noise(i: usize) -> f64 {
    ((i as f64 * 12.9898).sin() * 43_758.545_3).rem_euclid(1.0) * 2.0 - 1.0
}

fn lightcurve_points() -> Vec<LightcurvePoint> {
    (0..36)
        .map(|i| {
            let mjd = 60_858.0 + i as f64 * 2.4;
            let filter = if i % 3 == 0 { "R_Bes" } else { "r'_SDSS" };
            let offset = if filter == "R_Bes" { -0.25 } else { 0.0 };
            let flagged = i == 17 || i == 18;
            let bump = if flagged { -0.6 } else { 0.0 };
            LightcurvePoint {
                mjd,
                mag: 18.0 - 3.0 * (i as f64 / 35.0) + offset + bump + 0.05 * noise(i),
                mag_err: 0.03 + 0.02 * noise(i + 100).abs(),
                filter: filter.to_string(),
                flagged,
            }
        })
        .collect()
}

const TITLE_LC: &str = "3I/ATLAS lightcurve";

#[test]
fn lightcurve_png_and_svg() {
    let points = lightcurve_points();
    let model: Vec<ModelCurvePoint> = (0..=100)
        .map(|i| {
            let t = i as f64 / 100.0;
            ModelCurvePoint {
                mjd: 60_858.0 + t * 84.0,
                mag: 18.0 - 3.0 * t,
            }
        })
        .collect();
    for (axis, suffix) in [(TimeAxis::IsoDate, "iso"), (TimeAxis::Mjd, "mjd")] {
        let plot = LightcurvePlot {
            title: TITLE_LC,
            y_label: "Magnitude (r', R; Vega)",
            points: &points,
            model: &model,
            model_label: "power-law model",
            time_axis: axis,
            ..LightcurvePlot::default()
        };
        both(
            &format!("lightcurve_{suffix}"),
            TITLE_LC,
            PlotSize::default(),
            |p| lightcurve_vs_time(p, &plot, PlotSize::default()),
        );
    }
}

#[test]
fn lightcurve_custom_size_and_errors() {
    let points = lightcurve_points();
    let plot = LightcurvePlot {
        title: TITLE_LC,
        points: &points,
        ..LightcurvePlot::default()
    };
    let size = PlotSize::new(1500, 1000);
    both("lightcurve_large", TITLE_LC, size, |p| {
        lightcurve_vs_time(p, &plot, size)
    });

    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("lightcurve.jpg");
    let err = lightcurve_vs_time(&bad, &plot, PlotSize::default()).unwrap_err();
    assert!(matches!(err, PlotError::UnsupportedFormat { .. }));
    assert!(err.to_string().contains("lightcurve.jpg"), "{err}");

    let png = dir.path().join("empty.png");
    let empty = LightcurvePlot::default();
    let err = lightcurve_vs_time(&png, &empty, PlotSize::default()).unwrap_err();
    assert!(matches!(err, PlotError::NoData { .. }), "{err}");
    assert!(err.to_string().contains("empty.png"), "{err}");
    assert!(!png.exists());

    let err = lightcurve_vs_time(&png, &plot, PlotSize::new(50, 600)).unwrap_err();
    assert!(matches!(err, PlotError::InvalidSize { .. }), "{err}");

    let missing = dir.path().join("no/such/dir/plot.svg");
    let err = lightcurve_vs_time(&missing, &plot, PlotSize::default()).unwrap_err();
    assert!(matches!(err, PlotError::Io { .. }), "{err}");
    assert!(err.to_string().contains("plot.svg"), "{err}");

    // Upper-case extensions are accepted.
    let upper = dir.path().join("UPPER.PNG");
    lightcurve_vs_time(&upper, &plot, PlotSize::default()).unwrap();
    assert!(upper.exists());
}

const TITLE_RM: &str = "Reduced magnitude vs log rH";

#[test]
fn reduced_magnitude_png_and_svg() {
    let n_true = 3.8;
    let points: Vec<ReducedMagnitudePoint> = (0..30)
        .map(|i| {
            let rh = 4.6 - 2.8 * i as f64 / 29.0;
            ReducedMagnitudePoint {
                rh_au: rh,
                reduced_mag: 12.0 + 2.5 * n_true * rh.log10() + 0.06 * noise(i),
                mag_err: 0.04,
                filter: "r'".to_string(),
                flagged: i == 25,
            }
        })
        .collect();
    let fit = PowerLawLine {
        h_mag: 12.0,
        n: 3.8,
        n_err: 0.3,
    };
    let rb = 3.0f64;
    let broken = BrokenPowerLawLine {
        h_break_mag: fit.y_mag(rb),
        rh_break_au: rb,
        n_outer: 4.2,
        n_outer_err: 0.4,
        n_inner: 3.4,
        n_inner_err: 0.3,
    };
    for (axis, suffix) in [
        (RhAxis::DecreasingRight, "dec"),
        (RhAxis::IncreasingRight, "inc"),
    ] {
        let plot = ReducedMagnitudePlot {
            title: TITLE_RM,
            points: &points,
            fit: Some(fit),
            broken: Some(broken),
            rh_axis: axis,
            ..ReducedMagnitudePlot::default()
        };
        both(
            &format!("reduced_{suffix}"),
            TITLE_RM,
            PlotSize::default(),
            |p| reduced_magnitude_vs_log_rh(p, &plot, PlotSize::default()),
        );
    }
    // The fitted values are in the legend.
    let dir = tempfile::tempdir().unwrap();
    let svg = dir.path().join("r.svg");
    let plot = ReducedMagnitudePlot {
        title: TITLE_RM,
        points: &points,
        fit: Some(fit),
        ..ReducedMagnitudePlot::default()
    };
    reduced_magnitude_vs_log_rh(&svg, &plot, PlotSize::default()).unwrap();
    let text = std::fs::read_to_string(&svg).unwrap();
    assert!(text.contains("n = 3.80 ± 0.30"), "legend text missing");
    // Without a fit: no residual panel, still a plot.
    let plot = ReducedMagnitudePlot {
        title: TITLE_RM,
        points: &points,
        ..ReducedMagnitudePlot::default()
    };
    both("reduced_nofit", TITLE_RM, PlotSize::default(), |p| {
        reduced_magnitude_vs_log_rh(p, &plot, PlotSize::default())
    });
}

const TITLE_PR: &str = "Dust production: 3I vs 2I";

#[test]
fn production_png_and_svg() {
    let p3: Vec<ProductionPoint> = (0..12)
        .map(|i| {
            let rh = 4.5 - 2.6 * i as f64 / 11.0;
            let q = 180.0 * (rh / 2.0).powf(-1.8) * (1.0 + 0.08 * noise(i));
            ProductionPoint {
                rh_au: rh,
                rate_kg_s: q,
                rate_err_kg_s: 0.15 * q,
            }
        })
        .collect();
    let p2: Vec<ProductionPoint> = (0..6)
        .map(|i| {
            let rh = 3.2 - 1.2 * i as f64 / 5.0;
            let q = 70.0 * (rh / 2.0).powf(-1.0) * (1.0 + 0.05 * noise(i + 50));
            ProductionPoint {
                rh_au: rh,
                rate_kg_s: q,
                rate_err_kg_s: 0.2 * q,
            }
        })
        .collect();
    let series = [
        ProductionSeries {
            label: "3I/ATLAS",
            points: &p3,
            fit: Some(RatePowerLaw {
                rate_at_1au_kg_s: 180.0 * 2f64.powf(1.8),
                index: -1.8,
                index_err: 0.3,
            }),
        },
        ProductionSeries {
            label: "2I/Borisov",
            points: &p2,
            fit: Some(RatePowerLaw {
                rate_at_1au_kg_s: 140.0,
                index: -1.0,
                index_err: 0.2,
            }),
        },
    ];
    let plot = ProductionPlot {
        title: TITLE_PR,
        series: &series,
        ..ProductionPlot::default()
    };
    both("production", TITLE_PR, PlotSize::default(), |p| {
        production_vs_rh(p, &plot, PlotSize::default())
    });
    let dir = tempfile::tempdir().unwrap();
    let svg = dir.path().join("p.svg");
    production_vs_rh(&svg, &plot, PlotSize::default()).unwrap();
    assert!(std::fs::read_to_string(&svg)
        .unwrap()
        .contains("−1.80 ± 0.30"));
}

/// A synthetic frame: sky 100 ADU with noise, a comet at (cx, cy) with a coma and a tail to
/// position angle `tail_pa` (north up, east left).
fn comet_image(w: usize, h: usize, cx: f64, cy: f64, tail_pa: f64) -> Vec<f32> {
    let (s, c) = tail_pa.to_radians().sin_cos();
    let tail = (-s, c); // pixel direction for north up, east left
    let mut data = vec![0f32; w * h];
    for y in 0..h {
        for x in 0..w {
            let (dx, dy) = (x as f64 - cx, y as f64 - cy);
            let r = dx.hypot(dy).max(0.7);
            let along = dx * tail.0 + dy * tail.1;
            let across = (dx * tail.1 - dy * tail.0).abs();
            let tail_flux = if along > 0.0 {
                400.0 * (-across * across / (2.0 * (1.5 + 0.1 * along).powi(2))).exp()
                    / (1.0 + 0.05 * along)
            } else {
                0.0
            };
            let v = 100.0 + 5.0 * noise(y * w + x) + 3000.0 / r + tail_flux;
            data[y * w + x] = v as f32;
        }
    }
    data
}

const TITLE_ST: &str = "3I/ATLAS 2025-08-01 stamp";

#[test]
fn postage_stamp_png_and_svg() {
    let (w, h) = (200, 180);
    let data = comet_image(w, h, 97.3, 92.6, 250.0);
    let s = 0.2138 / 3600.0;
    for (stretch, suffix) in [
        (Stretch::default(), "asinh"),
        (Stretch::ZScale { contrast: 0.25 }, "zscale"),
    ] {
        let plot = PostageStampPlot {
            title: TITLE_ST,
            image: ImageView {
                data: &data,
                width: w,
                height: h,
            },
            centre_x: 97.3,
            centre_y: 92.6,
            half_size_px: 60,
            aperture_radius_px: 10.0,
            annulus_px: Some((20.0, 30.0)),
            orientation: ImageOrientation::CdMatrix([[-s, 0.0], [0.0, s]]),
            sun_pa_deg: Some(70.0),
            neg_velocity_pa_deg: Some(250.0),
            stretch,
        };
        both(
            &format!("stamp_{suffix}"),
            TITLE_ST,
            PlotSize::default(),
            |p| postage_stamp(p, &plot, PlotSize::default()),
        );
    }
    // Near the edge: part of the cut-out lies outside the image; big stamps are binned.
    let plot = PostageStampPlot {
        title: TITLE_ST,
        image: ImageView {
            data: &data,
            width: w,
            height: h,
        },
        centre_x: 10.0,
        centre_y: 170.0,
        half_size_px: 200,
        ..PostageStampPlot::default()
    };
    both("stamp_edge", TITLE_ST, PlotSize::default(), |p| {
        postage_stamp(p, &plot, PlotSize::default())
    });
    // A wrong buffer length is an error naming the file.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad_stamp.png");
    let plot = PostageStampPlot {
        image: ImageView {
            data: &data[..100],
            width: w,
            height: h,
        },
        ..PostageStampPlot::default()
    };
    let err = postage_stamp(&path, &plot, PlotSize::default()).unwrap_err();
    assert!(matches!(err, PlotError::InvalidInput { .. }));
    assert!(err.to_string().contains("bad_stamp.png"));
}

/// Mean x of pixels of exactly `color` in the left `x_max` columns (the stamp, not the panel).
fn mean_x_of(png: &Png, color: [u8; 3], x_max: u32) -> Option<f64> {
    let (mut sum, mut n) = (0.0, 0usize);
    for y in 0..png.height {
        for x in 0..x_max {
            if png.at(x, y) == color {
                sum += x as f64;
                n += 1;
            }
        }
    }
    (n > 20).then(|| sum / n as f64)
}

fn mean_y_of(png: &Png, color: [u8; 3], x_max: u32) -> Option<f64> {
    let (mut sum, mut n) = (0.0, 0usize);
    for y in 0..png.height {
        for x in 0..x_max {
            if png.at(x, y) == color {
                sum += y as f64;
                n += 1;
            }
        }
    }
    (n > 20).then(|| sum / n as f64)
}

#[test]
fn stamp_arrows_point_the_right_way() {
    const SUN: [u8; 3] = [255, 140, 0];
    const VEL: [u8; 3] = [80, 190, 255];
    let (w, h) = (120, 120);
    let data = vec![100f32; w * h];
    let s = 0.2138 / 3600.0;
    let render = |cd: [[f64; 2]; 2], sun: f64, vel: f64| {
        let plot = PostageStampPlot {
            title: "arrows",
            image: ImageView {
                data: &data,
                width: w,
                height: h,
            },
            centre_x: 60.0,
            centre_y: 60.0,
            half_size_px: 50,
            aperture_radius_px: 8.0,
            orientation: ImageOrientation::CdMatrix(cd),
            sun_pa_deg: Some(sun),
            neg_velocity_pa_deg: Some(vel),
            ..PostageStampPlot::default()
        };
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("arrows.png");
        postage_stamp(&path, &plot, PlotSize::default()).unwrap();
        decode_png(&std::fs::read(&path).unwrap())
    };
    let x_max = 540; // the stamp occupies the left part of a 900 px wide plot
                     // North up, east left: Sun to the east (PA 90) is left of −v to the west (PA 270).
    let png = render([[-s, 0.0], [0.0, s]], 90.0, 270.0);
    let (sx, vx) = (
        mean_x_of(&png, SUN, x_max).unwrap(),
        mean_x_of(&png, VEL, x_max).unwrap(),
    );
    assert!(sx + 20.0 < vx, "sun x {sx}, velocity x {vx}");
    // Mirrored (east right): the order flips.
    let png = render([[s, 0.0], [0.0, s]], 90.0, 270.0);
    let (sx, vx) = (
        mean_x_of(&png, SUN, x_max).unwrap(),
        mean_x_of(&png, VEL, x_max).unwrap(),
    );
    assert!(sx > vx + 20.0, "sun x {sx}, velocity x {vx}");
    // North (PA 0) is up on screen (smaller row) and south down.
    let png = render([[-s, 0.0], [0.0, s]], 0.0, 180.0);
    let (sy, vy) = (
        mean_y_of(&png, SUN, x_max).unwrap(),
        mean_y_of(&png, VEL, x_max).unwrap(),
    );
    assert!(sy + 20.0 < vy, "sun y {sy}, velocity y {vy}");
}

const TITLE_SY: &str = "Syndynes and synchrones 2025-07-03";

#[test]
fn syndyne_png_and_svg() {
    let betas = [0.001, 0.01, 0.1, 1.0];
    let syndynes: Vec<Syndyne> = betas
        .iter()
        .map(|&b| Syndyne {
            beta: b,
            points: (0..=20)
                .map(|k| {
                    let age = k as f64 * 5.0;
                    SkyOffset::from_pa(
                        100.0 + 20.0 * b.log10().abs() + 0.1 * age,
                        0.2 * b.sqrt() * age * age,
                    )
                })
                .collect(),
        })
        .collect();
    let synchrones: Vec<Synchrone> = (1..=4)
        .map(|k| {
            let age = k as f64 * 20.0;
            Synchrone {
                ejection_mjd: 60_859.0 - age,
                points: betas
                    .iter()
                    .map(|&b| {
                        SkyOffset::from_pa(
                            100.0 + 20.0 * b.log10().abs() + 0.1 * age,
                            0.2 * b.sqrt() * age * age,
                        )
                    })
                    .collect(),
            }
        })
        .collect();
    let plot = SyndynePlot {
        title: TITLE_SY,
        syndynes: &syndynes,
        synchrones: &synchrones,
        antisolar_pa_deg: Some(95.0),
        neg_velocity_pa_deg: Some(250.0),
        half_width_arcsec: None,
    };
    both("syndyne", TITLE_SY, PlotSize::default(), |p| {
        syndyne_diagram(p, &plot, PlotSize::default())
    });
    let text = {
        let dir = tempfile::tempdir().unwrap();
        let svg = dir.path().join("s.svg");
        syndyne_diagram(&svg, &plot, PlotSize::default()).unwrap();
        std::fs::read_to_string(&svg).unwrap()
    };
    assert!(text.contains("β = 0.01"), "syndyne label");
    assert!(text.contains("2025-06-13"), "synchrone date label");
    assert!(text.contains("PsAng"));
}

const TITLE_CG: &str = "Curve of growth";

#[test]
fn curve_of_growth_png_and_svg() {
    let comet: Vec<GrowthPoint> = (1..=25)
        .map(|i| {
            let r = i as f64;
            let f = 5.0e4 * r / (r + 6.0);
            GrowthPoint {
                radius: r,
                value: f,
                value_err: f.sqrt() * 2.0,
            }
        })
        .collect();
    let star: Vec<GrowthPoint> = (1..=25)
        .map(|i| {
            let r = i as f64;
            GrowthPoint {
                radius: r,
                value: 3.0e4 * (1.0 - (-r * r / 18.0).exp()),
                value_err: 80.0,
            }
        })
        .collect();
    let series = [
        GrowthSeries {
            label: "comet",
            points: &comet,
        },
        GrowthSeries {
            label: "star",
            points: &star,
        },
    ];
    let plot = CurveOfGrowthPlot {
        title: TITLE_CG,
        series: &series,
        chosen_radius: Some(10.0),
        ..CurveOfGrowthPlot::default()
    };
    both("growth_flux", TITLE_CG, PlotSize::default(), |p| {
        curve_of_growth(p, &plot, PlotSize::default())
    });
    let mags: Vec<GrowthPoint> = comet
        .iter()
        .map(|p| GrowthPoint {
            radius: p.radius * 0.2138,
            value: 25.0 - 2.5 * p.value.log10(),
            value_err: 1.0857 * p.value_err / p.value,
        })
        .collect();
    let series = [GrowthSeries {
        label: "comet",
        points: &mags,
    }];
    let plot = CurveOfGrowthPlot {
        title: TITLE_CG,
        series: &series,
        quantity: GrowthQuantity::Magnitude,
        y_label: "r' magnitude (AB)",
        radius_unit: RadiusUnit::Arcsec,
        chosen_radius: Some(2.0),
    };
    both("growth_mag", TITLE_CG, PlotSize::default(), |p| {
        curve_of_growth(p, &plot, PlotSize::default())
    });
}

const TITLE_ZP: &str = "Zero point, frame ALDh010123";

#[test]
fn zero_point_png_and_svg() {
    let zp = 25.12;
    let stars: Vec<ZeroPointStar> = (0..30)
        .map(|i| {
            let cat = 13.0 + 5.0 * i as f64 / 29.0;
            let outlier = i == 7 || i == 22;
            ZeroPointStar {
                instrumental_mag: cat - zp + 0.03 * noise(i) + if outlier { 0.4 } else { 0.0 },
                instrumental_err: 0.005 + 0.003 * (cat - 13.0),
                catalogue_mag: cat,
                catalogue_err: 0.02,
                used: !outlier,
            }
        })
        .collect();
    let plot = ZeroPointPlot {
        title: TITLE_ZP,
        stars: &stars,
        zero_point: zp,
        zero_point_err: 0.006,
        band: "r (AB)",
    };
    both("zeropoint", TITLE_ZP, PlotSize::default(), |p| {
        zero_point_diagnostics(p, &plot, PlotSize::default())
    });
}
