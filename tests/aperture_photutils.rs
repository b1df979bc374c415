//! Apertures on the real frames in data/ against photutils' numbers
//! (data/reference/photutils_apertures.csv, written once by scripts/photutils_reference.py),
//! and the `cometphot aperture` command line.

mod common;
use common::cometphot;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use cometphot::frame::read::FitsSource;
use cometphot::image::Image;
use cometphot::photometry::aperture::{
    annulus_background, aperture_flag, measure, CircularAnnulus, CircularAperture, MeasureOptions,
};
use cometphot::stats::SigmaClip;

const REFERENCE: &str = "data/reference/photutils_apertures.csv";
const TOLERANCE: f64 = 1e-6;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// One row of the reference table.
#[derive(Debug, Clone)]
struct Reference {
    file: String,
    hdu: usize,
    x: f64,
    y: f64,
    radius_px: f64,
    area_px: f64,
    sum_adu: f64,
    annulus_in_px: f64,
    annulus_out_px: f64,
    annulus_median_adu: f64,
    annulus_std_adu: f64,
    annulus_n_kept: usize,
    clip_iterations: usize,
    label: String,
}

fn read_reference() -> Vec<Reference> {
    let text = std::fs::read_to_string(root().join(REFERENCE)).expect("reference CSV");
    let mut lines = text.lines().filter(|l| !l.starts_with('#'));
    let header: Vec<&str> = lines.next().expect("header").split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).expect(name);
    let (file, hdu, x, y, radius) = (
        col("file"),
        col("hdu"),
        col("x"),
        col("y"),
        col("radius_px"),
    );
    let (area, sum, r_in, r_out) = (
        col("area_px"),
        col("sum_adu"),
        col("annulus_in_px"),
        col("annulus_out_px"),
    );
    let (median, std, n_kept, iters, label) = (
        col("annulus_median_adu"),
        col("annulus_std_adu"),
        col("annulus_n_kept"),
        col("clip_iterations"),
        col("label"),
    );
    lines
        .map(|line| {
            let f: Vec<&str> = line.split(',').collect();
            let num = |i: usize| f[i].parse::<f64>().expect(f[i]);
            Reference {
                file: f[file].to_string(),
                hdu: f[hdu].parse().unwrap(),
                x: num(x),
                y: num(y),
                radius_px: num(radius),
                area_px: num(area),
                sum_adu: num(sum),
                annulus_in_px: num(r_in),
                annulus_out_px: num(r_out),
                annulus_median_adu: num(median),
                annulus_std_adu: num(std),
                annulus_n_kept: f[n_kept].parse().unwrap(),
                clip_iterations: f[iters].parse().unwrap(),
                label: f[label].to_string(),
            }
        })
        .collect()
}

fn read_image(file: &str, hdu: usize) -> Image {
    let path = root().join(file);
    let mut source = FitsSource::open(&path).expect("open FITS");
    let image = source
        .image_hdus()
        .into_iter()
        .map(|h| h.expect("HDU"))
        .find(|h| h.hdu == hdu)
        .expect("image HDU");
    let pixels = source.read_pixels(&image).expect("pixels");
    Image::new(image.width, image.height, pixels).unwrap()
}

fn rel(a: f64, b: f64) -> f64 {
    if a == b {
        0.0
    } else {
        (a - b).abs() / b.abs().max(f64::MIN_POSITIVE)
    }
}

/// Worst relative difference of one quantity, and where.
#[derive(Default)]
struct Worst {
    value: f64,
    at: String,
}

impl Worst {
    fn update(&mut self, value: f64, at: &str) {
        if value > self.value || self.at.is_empty() {
            self.value = value.max(self.value);
            self.at = at.to_string();
        }
    }
}

#[test]
fn sums_areas_and_annulus_backgrounds_equal_photutils() {
    let rows = read_reference();
    assert!(rows.len() >= 50, "{} reference rows", rows.len());
    let mut by_file: BTreeMap<(String, usize), Vec<Reference>> = BTreeMap::new();
    for r in rows {
        by_file.entry((r.file.clone(), r.hdu)).or_default().push(r);
    }
    assert_eq!(
        by_file.len(),
        3,
        "two NEOSSat frames and the EFOSC2 science frame"
    );
    let (mut area, mut sum, mut median, mut std) = (
        Worst::default(),
        Worst::default(),
        Worst::default(),
        Worst::default(),
    );
    let mut not_converged = 0;
    let mut failures = Vec::new();
    for ((file, hdu), rows) in &by_file {
        let image = read_image(file, *hdu);
        for r in rows {
            let at = format!(
                "{file} ({}, {}) r={} annulus {}-{} [{}]",
                r.x, r.y, r.radius_px, r.annulus_in_px, r.annulus_out_px, r.label
            );
            let aperture = CircularAperture::new(r.x, r.y, r.radius_px).unwrap();
            let annulus =
                CircularAnnulus::new(r.x, r.y, r.annulus_in_px, r.annulus_out_px).unwrap();
            let m = measure(
                &image,
                &aperture,
                Some(&annulus),
                &MeasureOptions::default(),
            )
            .unwrap();
            let bkg = annulus_background(&image, None, &annulus, &SigmaClip::default()).unwrap();
            let weights = aperture.weights(image.width(), image.height());

            let d_area = rel(m.area_px, r.area_px).max(rel(weights.total(), r.area_px));
            let d_sum = rel(m.sum, r.sum_adu);
            let d_median = rel(bkg.median_per_px, r.annulus_median_adu);
            let d_std = rel(bkg.std, r.annulus_std_adu);
            area.update(d_area, &at);
            sum.update(d_sum, &at);
            median.update(d_median, &at);
            std.update(d_std, &at);
            for (what, d) in [
                ("area", d_area),
                ("sum", d_sum),
                ("annulus median", d_median),
                ("annulus std", d_std),
            ] {
                if d > TOLERANCE {
                    failures.push(format!("{what}: relative difference {d:.3e} at {at}"));
                }
            }
            if bkg.n_kept != r.annulus_n_kept || bkg.iterations != r.clip_iterations {
                failures.push(format!(
                    "annulus pixels kept {} (photutils {}), passes {} (astropy {}) at {at}",
                    bkg.n_kept, r.annulus_n_kept, bkg.iterations, r.clip_iterations
                ));
            }
            if !bkg.converged {
                not_converged += 1;
                assert!(m.flags & aperture_flag::BACKGROUND_NOT_CONVERGED != 0);
            }
            let truncated = r.area_px < aperture.area() * (1.0 - 1e-12);
            assert_eq!(
                m.flags & aperture_flag::APERTURE_TRUNCATED != 0,
                truncated,
                "{at}"
            );
            assert!((m.net - (m.sum - m.area_px * m.bkg_per_px)).abs() <= 1e-9 * m.sum.abs());
        }
    }
    eprintln!(
        "worst relative differences vs photutils: area {:.2e} ({}), sum {:.2e} ({}), \
         annulus median {:.2e} ({}), annulus std {:.2e} ({}); {not_converged} rows with \
         clipping not converged in 10 passes",
        area.value, area.at, sum.value, sum.at, median.value, median.at, std.value, std.at
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // DESIGN §7: on NEOSSat the clipping does not converge in 10 passes.
    assert!(not_converged > 0);
}

fn comet_rows() -> Vec<Reference> {
    read_reference()
        .into_iter()
        .filter(|r| {
            r.file.ends_with("NEOS_SCI_2021316235345.fits")
                && r.label.starts_with("comet")
                && r.annulus_in_px == 12.0
        })
        .collect()
}

#[test]
fn cli_prints_the_exact_header_and_photutils_values() {
    let rows = comet_rows();
    assert_eq!(rows.len(), 3);
    let at = format!("{},{}", rows[0].x, rows[0].y);
    let radii: Vec<String> = rows.iter().map(|r| r.radius_px.to_string()).collect();
    let (code, stdout, stderr) = cometphot(&[
        "aperture",
        &rows[0].file,
        "--at",
        &at,
        "--radius-px",
        &radii.join(","),
        "--annulus-px",
        "12,20",
    ]);
    assert_eq!(code, 0, "{stderr}");
    let mut lines = stdout.lines();
    assert_eq!(
        lines.next(),
        Some("x,y,radius_px,area_px,sum_adu,bkg_per_px_adu,bkg_err_adu,net_adu,net_err_adu,flags")
    );
    let body: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    assert_eq!(body.len(), 3);
    for (fields, r) in body.iter().zip(&rows) {
        assert_eq!(fields.len(), 10);
        let v = |i: usize| fields[i].parse::<f64>().unwrap();
        assert_eq!(v(0), r.x);
        assert_eq!(v(2), r.radius_px);
        assert!(rel(v(3), r.area_px) < TOLERANCE);
        assert!(rel(v(4), r.sum_adu) < TOLERANCE);
        assert!(rel(v(5), r.annulus_median_adu) < TOLERANCE);
        let net = r.sum_adu - r.area_px * r.annulus_median_adu;
        assert!(rel(v(7), net) < TOLERANCE);
        // NEOSSat header: GAIN 1.10 e⁻/ADU, RDNOISE 8 e⁻: the error exceeds the background term.
        assert!(v(6) > 0.0 && v(8) > v(6));
        assert!(fields[9].contains("background_not_converged") || r.clip_iterations < 10);
    }
}

#[test]
fn cli_centroid_moves_to_the_star() {
    // A star of the EFOSC2 frame at (740.705, 194.949) by photutils' centroid_com; start 1.5 px off.
    let (code, stdout, stderr) = cometphot(&[
        "aperture",
        "data/real/efosc2/EFOSC.2022-01-28T04-54-24.341.fits.gz",
        "--at",
        "742.0,194.0",
        "--centroid",
        "--radius-px",
        "5",
        "--annulus-px",
        "12,20",
        "--hdu",
        "0",
    ]);
    assert_eq!(code, 0, "{stderr}");
    let row: Vec<f64> = stdout
        .lines()
        .nth(1)
        .unwrap()
        .split(',')
        .take(9)
        .map(|v| v.parse().unwrap())
        .collect();
    assert!(
        (row[0] - 740.705).abs() < 0.3 && (row[1] - 194.949).abs() < 0.3,
        "{row:?}"
    );
}

#[test]
fn cli_rejects_a_bad_position_and_a_non_fits_file() {
    let frame = "data/real/neossat/NEOS_SCI_2021316235345.fits";
    for bad in ["570", "570,abc", "1,2,3", "nan,4"] {
        let (code, stdout, stderr) = cometphot(&[
            "aperture",
            frame,
            "--at",
            bad,
            "--radius-px",
            "5",
            "--annulus-px",
            "12,20",
        ]);
        assert_eq!(code, 1, "{bad}: {stderr}");
        assert!(stdout.is_empty());
        assert!(stderr.contains("--at"), "{bad}: {stderr}");
    }
    let (code, _, stderr) = cometphot(&[
        "aperture",
        frame,
        "--at",
        "5,5",
        "--radius-px",
        "5",
        "--annulus-px",
        "20,12",
    ]);
    assert_eq!(code, 1);
    assert!(stderr.contains("annulus"), "{stderr}");

    let dir = tempfile::tempdir().unwrap();
    let not_fits = dir.path().join("frame.fits");
    std::fs::write(&not_fits, "this is not a FITS file\n").unwrap();
    let shown = not_fits.to_str().unwrap();
    let (code, stdout, stderr) = cometphot(&[
        "aperture",
        shown,
        "--at",
        "5,5",
        "--radius-px",
        "3",
        "--annulus-px",
        "6,9",
    ]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stdout.is_empty());
    assert!(
        stderr.contains(shown) && stderr.contains("not a FITS file"),
        "{stderr}"
    );

    let (code, _, stderr) = cometphot(&[
        "aperture",
        frame,
        "--at",
        "5,5",
        "--radius-px",
        "3",
        "--annulus-px",
        "6,9",
        "--hdu",
        "3",
    ]);
    assert_eq!(code, 1);
    assert!(
        stderr.contains(frame) && stderr.contains("HDU 3"),
        "{stderr}"
    );
    assert!(Path::new(&root().join(frame)).exists());
}
