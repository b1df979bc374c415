//! End-to-end tests of the simulator: files are written to temporary directories and read
//! back with cfitsio.

use std::f64::consts::PI;
use std::path::Path;

use fitsio::FitsFile;

use super::*;
use crate::frame::header::{Header, HeaderValue};
use crate::frame::write::test_support::read_header;
use crate::wcs::TanWcs;

/// A small, quick night: 300 × 300 px window in the data area.
fn small_config() -> NightConfig {
    NightConfig {
        seed: 42,
        n_bias: 1,
        n_flat: 1,
        n_science: 2,
        detector_window: "[1001:1300, 1001:1300]".to_string(),
        cosmic_rays_per_frame: 5,
        star_density_per_arcmin2: 20.0,
        comet: CometConfig {
            coma_outer_radius_arcsec: 10.0,
            ..CometConfig::default()
        },
        ..NightConfig::default()
    }
}

fn read_f32(path: &Path) -> (Header, Header, Vec<f32>, usize) {
    let mut fits = FitsFile::open(path).unwrap();
    let primary = read_header(&mut fits, 0);
    let image = read_header(&mut fits, 1);
    let width = image.number("NAXIS1").unwrap() as usize;
    let hdu = fits.hdu(1).unwrap();
    let data: Vec<f32> = hdu.read_image(&mut fits).unwrap();
    (primary, image, data, width)
}

fn science(night: &SimulatedNight) -> Vec<&FrameTruth> {
    night
        .frames
        .iter()
        .filter(|f| f.frame_type == FrameKind::Science)
        .collect()
}

#[test]
fn same_seed_gives_identical_files_and_another_seed_differs() {
    let config = small_config();
    let (a, b, c) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    let night_a = run(&config, a.path()).unwrap();
    let night_b = run(&config, b.path()).unwrap();
    assert_eq!(night_a.frames, night_b.frames);
    let mut names: Vec<_> = std::fs::read_dir(a.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    names.sort();
    assert_eq!(names.len(), 4 + 5, "{names:?}");
    for name in &names {
        let x = std::fs::read(a.path().join(name)).unwrap();
        let y = std::fs::read(b.path().join(name)).unwrap();
        assert!(x == y, "{name:?} differs between identical runs");
    }
    let other = NightConfig {
        seed: 43,
        ..config.clone()
    };
    let night_c = run(&other, c.path()).unwrap();
    for (fa, fc) in night_a.fits_files.iter().zip(&night_c.fits_files) {
        assert_eq!(fa.file_name(), fc.file_name());
        assert_ne!(std::fs::read(fa).unwrap(), std::fs::read(fc).unwrap());
    }
    // Truth tables are consistent with the run.
    let truth = std::fs::read_to_string(&night_a.truth_frames_csv).unwrap();
    assert_eq!(truth.lines().count(), 1 + 4);
    assert!(truth.lines().next().unwrap().starts_with(
        "file,frame_type,sequence_number,exptime_s,date_obs_utc,date_avg_utc,mjd_mid_utc"
    ));
    let catalogue = std::fs::read_to_string(&night_a.catalogue_csv).unwrap();
    assert!(catalogue.starts_with("id,ra_deg,dec_deg,mag\n"));
    assert_eq!(catalogue.lines().count(), 1 + night_a.catalogue.len());
    assert!(night_a.catalogue.len() > 10);
    let stars = std::fs::read_to_string(&night_a.truth_stars_csv).unwrap();
    assert_eq!(stars.lines().count(), 1 + night_a.stars.len());
    assert!(night_a.cosmic_rays.len() >= 10);
    let recorded: NightConfig =
        toml::from_str(&std::fs::read_to_string(&night_a.config_toml).unwrap()).unwrap();
    assert_eq!(recorded, config);
}

#[test]
fn noiseless_frame_holds_exactly_the_injected_light() {
    // Window on the right edge: image columns 252–299 are overscan and read the bias.
    let config = NightConfig {
        seed: 5,
        n_bias: 0,
        n_flat: 0,
        n_science: 1,
        detector_window: "[1849:2148, 1:300]".to_string(),
        pixel_format: PixelFormat::F32,
        noiseless: true,
        pointing_error_arcsec: 0.0,
        star_density_per_arcmin2: 40.0,
        // Bright stars would saturate at the default 80,000 ADU.
        saturation_adu: 1e12,
        comet: CometConfig {
            position: CometPosition::Pixel {
                x_px: 120.3,
                y_px: 150.7,
            },
            rate_ra_arcsec_per_hour: 0.0,
            rate_dec_arcsec_per_hour: 0.0,
            coma_outer_radius_arcsec: 10.0,
            nucleus_mag: Some(19.0),
            ..CometConfig::default()
        },
        ..NightConfig::default()
    };
    let dir = tempfile::tempdir().unwrap();
    let night = run(&config, dir.path()).unwrap();
    let frame = science(&night)[0];
    let comet = frame.comet.as_ref().unwrap();
    assert!((comet.x_px - 120.3).abs() < 1e-9 && (comet.y_px - 150.7).abs() < 1e-9);
    let (_, _, data, width) = read_f32(&night.fits_files[0]);
    assert_eq!(width, 300);
    let flat = night_flat_pattern(&config);
    let gain = config.gain_e_per_adu;
    let mut total_e = 0.0;
    let mut n_data = 0usize;
    for (j, row) in data.chunks_exact(width).enumerate() {
        let overscan = &row[252..];
        assert!(overscan.iter().all(|&v| v == overscan[0]));
        let bias = overscan[0] as f64;
        for (i, &v) in row[..252].iter().enumerate() {
            total_e += (v as f64 - bias) * gain / flat.response(1848 + i, j);
            n_data += 1;
        }
    }
    let stars_e: f64 = night.stars.iter().map(|s| s.flux_in_image_e).sum();
    let expected = comet.flux_e + stars_e + frame.sky_e_per_px * n_data as f64;
    assert!(
        ((total_e - expected) / expected).abs() < 1e-6,
        "{total_e} vs {expected}"
    );
    assert!(stars_e > 0.0 && frame.sky_e_per_px > 0.0);

    // The coma holds 2πkR within its outer radius R, and 2πkρ within the aperture.
    let scale = config.pixel_scale_arcsec_per_px;
    let k_px = comet.coma_k_e_per_arcsec * scale;
    let r_out_px = config.comet.coma_outer_radius_arcsec / scale;
    assert!((comet.coma_flux_e / (2.0 * PI * k_px * r_out_px) - 1.0).abs() < 1e-3);
    let nucleus_expected = model::electrons_from_mag(
        19.0,
        config.zero_point_mag,
        config.extinction_mag_per_airmass,
        frame.airmass.unwrap(),
        config.science_exptime_s,
    );
    assert!((comet.nucleus_flux_e / nucleus_expected - 1.0).abs() < 2e-3);
    let aperture_e = model::electrons_from_mag(
        config.comet.coma_mag,
        config.zero_point_mag,
        config.extinction_mag_per_airmass,
        frame.airmass.unwrap(),
        config.science_exptime_s,
    );
    assert!((comet.coma_aperture_flux_e / aperture_e - 1.0).abs() < 1e-12);
}

#[test]
fn comet_alone_sums_to_its_truth_and_fan_points_sunward() {
    let config = NightConfig {
        seed: 8,
        n_bias: 0,
        n_flat: 0,
        n_science: 1,
        detector_window: "[1849:2148, 1:300]".to_string(),
        pixel_format: PixelFormat::F32,
        noiseless: true,
        star_density_per_arcmin2: 0.0,
        sky_mag_per_arcsec2: 60.0,
        flat_vignetting_fraction: 0.0,
        flat_pixel_rms: 0.0,
        comet: CometConfig {
            position: CometPosition::Pixel {
                x_px: 110.0,
                y_px: 140.5,
            },
            feature: ComaFeature::SunwardFan,
            antisolar_position_angle_deg: 90.0,
            feature_fraction: 0.6,
            feature_width_deg: 50.0,
            coma_outer_radius_arcsec: 12.0,
            ..CometConfig::default()
        },
        ..NightConfig::default()
    };
    let dir = tempfile::tempdir().unwrap();
    let night = run(&config, dir.path()).unwrap();
    let comet = science(&night)[0].comet.clone().unwrap();
    let (_, _, data, width) = read_f32(&night.fits_files[0]);
    let mut total = 0.0;
    let (mut east, mut west) = (0.0, 0.0);
    let mut aperture = 0.0;
    let r_ap_px = comet.coma_aperture_radius_arcsec / config.pixel_scale_arcsec_per_px;
    for (j, row) in data.chunks_exact(width).enumerate() {
        let bias = row[width - 1] as f64;
        for (i, &v) in row[..252].iter().enumerate() {
            let e = (v as f64 - bias) * config.gain_e_per_adu;
            total += e;
            let dx = i as f64 - comet.x_px;
            let dy = j as f64 - comet.y_px;
            if dx < -5.0 {
                east += e;
            } else if dx > 5.0 {
                west += e;
            }
            if dx.hypot(dy) <= r_ap_px {
                aperture += e;
            }
        }
    }
    assert!(
        (total / comet.flux_e - 1.0).abs() < 1e-6,
        "{total} {}",
        comet.flux_e
    );
    // Antisolar PA 90° (east) puts the sunward fan at PA 270°, i.e. west = +x.
    assert!(west > 2.0 * east, "west {west} east {east}");
    // Angular redistribution keeps the aperture flux at 2πkρ (pixelised aperture: ~1%).
    assert!((aperture / comet.coma_aperture_flux_e - 1.0).abs() < 0.02);
}

/// Flux-weighted centroid in a square box of half-size `half` around (x, y).
fn centroid(data: &[f32], width: usize, bias: f64, x: f64, y: f64, half: i64) -> (f64, f64) {
    let height = data.len() / width;
    let (xc, yc) = (x.round() as i64, y.round() as i64);
    let (mut s, mut sx, mut sy) = (0.0, 0.0, 0.0);
    for j in yc - half..=yc + half {
        for i in xc - half..=xc + half {
            assert!(i >= 0 && j >= 0 && (i as usize) < width && (j as usize) < height);
            let v = data[j as usize * width + i as usize] as f64 - bias;
            s += v;
            sx += v * i as f64;
            sy += v * j as f64;
        }
    }
    (sx / s, sy / s)
}

#[test]
fn truth_positions_match_centroids_in_binned_frames() {
    let base = NightConfig {
        seed: 11,
        n_bias: 0,
        n_flat: 0,
        n_science: 1,
        detector_window: "[1001:1400, 1001:1400]".to_string(),
        binning_x: 2,
        binning_y: 2,
        pixel_format: PixelFormat::F32,
        noiseless: true,
        sky_mag_per_arcsec2: 60.0,
        flat_vignetting_fraction: 0.0,
        flat_pixel_rms: 0.0,
        bias_row_amplitude_adu: 0.0,
        bias_frame_offset_rms_adu: 0.0,
        ..NightConfig::default()
    };
    let bias = base.bias_level_adu;

    // Comet alone, with a nucleus, offset from the pointing.
    let comet_only = NightConfig {
        star_density_per_arcmin2: 0.0,
        comet: CometConfig {
            position: CometPosition::Offset {
                east_arcsec: 3.1,
                north_arcsec: -2.4,
            },
            coma_outer_radius_arcsec: 8.0,
            nucleus_mag: Some(18.0),
            ..CometConfig::default()
        },
        ..base.clone()
    };
    let dir = tempfile::tempdir().unwrap();
    let night = run(&comet_only, dir.path()).unwrap();
    let (_, image, data, width) = read_f32(&night.fits_files[0]);
    assert_eq!(width, 200);
    assert_eq!(image.text("CCDSUM").as_deref(), Some("2 2"));
    let c = night.frames[0].comet.clone().unwrap();
    // East is −x, north +y (north up, east left), 0.4276″ per binned pixel.
    let scale = 2.0 * base.pixel_scale_arcsec_per_px;
    assert!((c.x_px - (99.5 - 3.1 / scale)).abs() < 1e-3, "{}", c.x_px);
    assert!((c.y_px - (99.5 - 2.4 / scale)).abs() < 1e-3, "{}", c.y_px);
    let half = (8.0 / scale).ceil() as i64 + 2;
    let (x, y) = centroid(&data, width, bias, c.x_px, c.y_px, half);
    assert!(
        (x - c.x_px).abs() < 0.05 && (y - c.y_px).abs() < 0.05,
        "{x} {y} vs {c:?}"
    );

    // Stars alone, on a wider field with few stars.
    let stars_only = NightConfig {
        detector_window: "[201:1800, 201:1800]".to_string(),
        star_density_per_arcmin2: 2.0,
        comet: CometConfig {
            enabled: false,
            ..CometConfig::default()
        },
        ..base.clone()
    };
    let dir = tempfile::tempdir().unwrap();
    let night = run(&stars_only, dir.path()).unwrap();
    let (_, _, data, width) = read_f32(&night.fits_files[0]);
    let half = 12i64;
    let psf = model::Moffat::from_fwhm(base.seeing_fwhm_arcsec / scale, base.moffat_beta);
    let mut tested = 0;
    for s in &night.stars {
        let inside = [s.x_px, s.y_px]
            .iter()
            .all(|&v| v > (half + 1) as f64 && v < (width as i64 - half - 2) as f64);
        // Bound on the centroid shift caused by neighbours: the part of each neighbour's
        // flux beyond (distance − box half-size) times its distance.
        let shift_bound: f64 = night
            .stars
            .iter()
            .filter(|o| o.star_id != s.star_id)
            .map(|o| {
                let d = (o.x_px - s.x_px).hypot(o.y_px - s.y_px);
                let beyond = 1.0 - psf.enclosed_fraction((d - 1.5 * half as f64).max(0.0));
                o.flux_e / s.flux_e * beyond * d
            })
            .sum();
        if !inside || shift_bound > 0.01 {
            continue;
        }
        let (x, y) = centroid(&data, width, bias, s.x_px, s.y_px, half);
        assert!(
            (x - s.x_px).abs() < 0.05 && (y - s.y_px).abs() < 0.05,
            "star {}: {x} {y} vs {} {}",
            s.star_id,
            s.x_px,
            s.y_px
        );
        assert!((s.flux_in_image_e / s.flux_e - 1.0).abs() < 2e-3);
        tested += 1;
    }
    assert!(tested >= 10, "only {tested} isolated stars");
}

#[test]
fn headers_follow_the_alfosc_layout() {
    let config = NightConfig {
        pointing_error_arcsec: 4.0,
        binning_y: 2,
        detector_window: "[851:1250, 1:2102]".to_string(),
        star_density_per_arcmin2: 2.0,
        ..small_config()
    };
    let dir = tempfile::tempdir().unwrap();
    let night = run(&config, dir.path()).unwrap();
    assert_eq!(night.frames.len(), 4);
    let kinds: Vec<(FrameKind, &str)> = night
        .frames
        .iter()
        .map(|f| (f.frame_type, f.file.as_str()))
        .collect();
    assert_eq!(
        kinds,
        [
            (FrameKind::Bias, "ALIh010001.fits"),
            (FrameKind::Flat, "ALIh010002.fits"),
            (FrameKind::Science, "ALIh010003.fits"),
            (FrameKind::Science, "ALIh010004.fits"),
        ]
    );
    for (truth, path) in night.frames.iter().zip(&night.fits_files) {
        let mut fits = FitsFile::open(path).unwrap();
        let p = read_header(&mut fits, 0);
        let x = read_header(&mut fits, 1);
        assert_eq!(p.number("NAXIS"), Some(0.0));
        assert_eq!(p.text("INSTRUME").as_deref(), Some("ALFOSC_FASU"));
        assert_eq!(p.text("TELESCOP").as_deref(), Some("NOT"));
        assert_eq!(p.text("OBSERVAT").as_deref(), Some("LaPalma"));
        assert_eq!(p.text("FAFLTNM").as_deref(), Some("R_Bes 650_130"));
        assert_eq!(p.text("FBFLTNM").as_deref(), Some("Open"));
        assert_eq!(p.text("ALFLTNM").as_deref(), Some("Open"));
        assert_eq!(p.text("ALGRNM").as_deref(), Some("Open (Lyot)"));
        assert_eq!(p.text("OBS_MODE").as_deref(), Some("IMAGING"));
        assert_eq!(p.text("DETWIN1").as_deref(), Some("[851:1250, 1:2102]"));
        assert_eq!(p.number("DETXBIN"), Some(1.0));
        assert_eq!(p.number("DETYBIN"), Some(2.0));
        assert_eq!(p.number("OBSGEO-X"), Some(5327395.9638));
        assert_eq!(p.number("OBSGEO-Y"), Some(-1719170.4876));
        assert_eq!(p.number("OBSGEO-Z"), Some(3051490.766));
        assert_eq!(p.text("FILENAME").as_deref(), Some(truth.file.as_str()));
        let imagetyp = p.text("IMAGETYP").unwrap();
        assert_eq!(imagetyp, truth.frame_type.imagetyp());
        assert_eq!(p.number("EXPTIME"), Some(truth.exptime_s));
        let start =
            crate::ephem::time::UtcInstant::parse_iso(&p.text("DATE-OBS").unwrap()).unwrap();
        let mid = crate::ephem::time::UtcInstant::parse_iso(&p.text("DATE-AVG").unwrap()).unwrap();
        assert!(((mid.mjd() - start.mjd()) * 86400.0 - 0.5 * truth.exptime_s).abs() < 2e-3);
        assert!((mid.mjd() - truth.mjd_mid_utc).abs() < 1e-9);
        if truth.frame_type != FrameKind::Bias {
            let airmass = p.number("AIRMASS").unwrap();
            assert!((1.0..3.0).contains(&airmass));
        }

        assert_eq!(x.text("XTENSION").as_deref(), Some("IMAGE"));
        assert_eq!(x.text("EXTNAME").as_deref(), Some("im1"));
        assert_eq!(x.number("BITPIX"), Some(32.0));
        assert_eq!(x.number("BZERO"), Some(2147483648.0));
        assert_eq!(x.number("NAXIS1"), Some(400.0));
        assert_eq!(x.number("NAXIS2"), Some(1051.0));
        assert_eq!(x.text("BIASSEC").as_deref(), Some("[3:52,1:2102]"));
        assert_eq!(x.number("GAIN"), Some(0.16));
        assert_eq!(x.number("RDNOISE"), Some(4.3));
        assert_eq!(x.text("CCDSUM").as_deref(), Some("1 2"));
        assert_eq!(x.get("INHERIT"), Some(&HeaderValue::Bool(true)));

        if let Some(c) = &truth.comet {
            // The header WCS is off by the pointing error; the true position is not.
            let wcs = TanWcs::from_header(&x).unwrap();
            let (ra, dec) = wcs.pixel_to_world(c.x_px, c.y_px);
            let d_east = (ra - c.ra_deg) * c.dec_deg.to_radians().cos() * 3600.0;
            let d_north = (dec - c.dec_deg) * 3600.0;
            assert!(
                (d_east.hypot(d_north) - 4.0).abs() < 0.01,
                "{d_east} {d_north}"
            );
            assert!((d_east - truth.pointing_error_east_arcsec).abs() < 0.01);
            assert!((d_north - truth.pointing_error_north_arcsec).abs() < 0.01);
            let scale = wcs.scale_arcsec_per_px();
            assert!((scale - 0.2138 * 2f64.sqrt()).abs() < 1e-9);
        }
    }
}

#[test]
fn full_frame_bias_and_science_are_realistic() {
    let config = NightConfig {
        n_bias: 1,
        n_flat: 0,
        n_science: 1,
        ..NightConfig::default()
    };
    let dir = tempfile::tempdir().unwrap();
    let started = std::time::Instant::now();
    let night = run(&config, dir.path()).unwrap();
    eprintln!("full-frame bias + science: {:.2?}", started.elapsed());
    let mut fits = FitsFile::open(&night.fits_files[0]).unwrap();
    let hdu = fits.hdu(1).unwrap();
    let bias: Vec<u32> = hdu.read_image(&mut fits).unwrap();
    assert_eq!(bias.len(), 2148 * 2102);
    // Overscan columns 2101–2148 of the bias: level and read noise.
    let over: Vec<f64> = bias
        .chunks_exact(2148)
        .flat_map(|row| row[2100..].iter().map(|&v| v as f64))
        .collect();
    let mean = over.iter().sum::<f64>() / over.len() as f64;
    let sd = (over.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / over.len() as f64).sqrt();
    let expected_sd = (4.3f64 / 0.16).hypot(1.5 * 0.8);
    assert!((mean - 1000.0).abs() < 10.0, "{mean}");
    assert!(
        (sd / expected_sd - 1.0).abs() < 0.05,
        "{sd} vs {expected_sd}"
    );

    let mut fits = FitsFile::open(&night.fits_files[1]).unwrap();
    let hdu = fits.hdu(1).unwrap();
    let sci: Vec<u32> = hdu.read_image(&mut fits).unwrap();
    let truth = &night.frames[1];
    let mut sky: Vec<u32> = sci
        .chunks_exact(2148)
        .take(2052)
        .flat_map(|row| row[60..2090].iter().copied())
        .collect();
    sky.sort_unstable();
    let median = sky[sky.len() / 2] as f64;
    let expected = 1000.0 + truth.sky_e_per_px / 0.16;
    assert!(
        (median / expected - 1.0).abs() < 0.05,
        "{median} vs {expected}"
    );
    assert!(sci.iter().all(|&v| v as f64 <= config.saturation_adu));
    assert!(night.stars.len() > 50);
}

#[test]
fn config_reads_from_partial_toml_and_rejects_nonsense() {
    let c: NightConfig = toml::from_str(
        "seed = 7\nn_science = 3\n[comet]\nnucleus_mag = 18.5\nfeature = \"antisolar_tail\"\n\
         position = { sky = { ra_deg = 265.01, dec_deg = -18.49 } }\n",
    )
    .unwrap();
    assert_eq!(c.seed, 7);
    assert_eq!(c.n_science, 3);
    assert_eq!(c.comet.nucleus_mag, Some(18.5));
    assert_eq!(c.comet.feature, ComaFeature::AntisolarTail);
    assert_eq!(c.gain_e_per_adu, 0.16);
    let text = toml::to_string(&c).unwrap();
    assert_eq!(toml::from_str::<NightConfig>(&text).unwrap(), c);
    assert!(toml::from_str::<NightConfig>("gian_e_per_adu = 1.0").is_err());

    let dir = tempfile::tempdir().unwrap();
    for bad in [
        NightConfig {
            moffat_beta: 1.0,
            ..NightConfig::default()
        },
        NightConfig {
            detector_window: "[1:3000, 1:10]".to_string(),
            ..NightConfig::default()
        },
        NightConfig {
            science_start_utc: "yesterday".to_string(),
            ..NightConfig::default()
        },
        NightConfig {
            seed: u64::MAX,
            ..NightConfig::default()
        },
        NightConfig {
            flat_illumination_saddle: 0.6,
            ..NightConfig::default()
        },
        NightConfig {
            flat_illumination_saddle: f64::NAN,
            ..NightConfig::default()
        },
    ] {
        assert!(matches!(
            run(&bad, dir.path()),
            Err(SimulateError::InvalidConfig { .. })
        ));
    }
    let below = NightConfig {
        pointing_dec_deg: -80.0,
        n_bias: 0,
        n_flat: 0,
        n_science: 1,
        ..small_config()
    };
    assert!(matches!(
        run(&below, dir.path()),
        Err(SimulateError::BelowHorizon { .. })
    ));
}

#[test]
fn standard_frames_hold_the_standard_field_at_its_airmass() {
    // Without standards nothing about them is written, not even in simulation.toml.
    let plain = tempfile::tempdir().unwrap();
    let night = run(&small_config(), plain.path()).unwrap();
    assert!(night.standards.is_empty() && night.standards_csv.is_none());
    assert!(!plain.path().join("standards.csv").exists());
    let toml_text = std::fs::read_to_string(&night.config_toml).unwrap();
    assert!(!toml_text.contains("standards"), "{toml_text}");

    let config = NightConfig {
        noiseless: true,
        standards: Some(StandardsConfig {
            start_utc: vec![
                "2025-08-01T21:00:00".to_string(),
                "2025-08-02T00:30:00".to_string(),
            ],
            n_stars: 4,
            min_separation_arcsec: 8.0,
            catalogue_error_mag: 0.02,
            ..StandardsConfig::default()
        }),
        ..small_config()
    };
    let dir = tempfile::tempdir().unwrap();
    let night = run(&config, dir.path()).unwrap();
    let standards: Vec<&FrameTruth> = night
        .frames
        .iter()
        .filter(|f| f.frame_type == FrameKind::Standard)
        .collect();
    assert_eq!(standards.len(), 2);
    assert!(standards[1].airmass.unwrap() > standards[0].airmass.unwrap() + 0.3);
    for frame in &standards {
        assert!(frame.comet.is_none());
        let (primary, ..) = read_f32(&dir.path().join(&frame.file));
        assert_eq!(primary.text("IMAGETYP").as_deref(), Some("STD"));
        assert_eq!(primary.text("OBJECT").as_deref(), Some("STD field"));
        let stars: Vec<&StarTruth> = night
            .stars
            .iter()
            .filter(|s| s.file == frame.file)
            .collect();
        assert_eq!(stars.len(), 4);
        for s in stars {
            let x = frame.airmass.unwrap();
            let expected = frame.exptime_s * 10f64.powf(-0.4 * (s.mag + 0.07 * x - 25.0));
            assert!((s.flux_e / expected - 1.0).abs() < 1e-12);
            assert!(s.x_px > 90.0 && s.x_px < 210.0 && s.y_px > 90.0 && s.y_px < 210.0);
        }
    }
    // The catalogue: 4 stars with their (erroneous) magnitudes; the truth of every star and
    // frame with the zero point at the frame's airmass.
    let catalogue = std::fs::read_to_string(night.standards_csv.as_ref().unwrap()).unwrap();
    let lines: Vec<&str> = catalogue.lines().collect();
    assert_eq!(lines[0], "id,ra_deg,dec_deg,mag,mag_err");
    assert_eq!(lines.len(), 5);
    assert_eq!(night.standard_truth.len(), 8);
    for t in &night.standard_truth {
        assert!((t.zero_point_at_airmass_mag - (25.0 - 0.07 * t.airmass)).abs() < 1e-12);
        assert!((t.catalogue_mag - t.mag).abs() < 0.1 && t.catalogue_mag != t.mag);
    }
    let truth = std::fs::read_to_string(night.truth_standards_csv.as_ref().unwrap()).unwrap();
    assert_eq!(truth.lines().count(), 9);
    // The settings round-trip through simulation.toml, standards included.
    let written = std::fs::read_to_string(&night.config_toml).unwrap();
    let back: NightConfig = toml::from_str(&written).unwrap();
    assert_eq!(back, config);
    // Too many stars for the window is an error naming the field.
    let crowded = NightConfig {
        standards: Some(StandardsConfig {
            start_utc: vec!["2025-08-01T21:00:00".to_string()],
            n_stars: 50,
            ..StandardsConfig::default()
        }),
        ..small_config()
    };
    assert!(matches!(
        run(&crowded, dir.path()),
        Err(SimulateError::InvalidConfig {
            field: "standards.n_stars",
            ..
        })
    ));
}
