//! Real frames from five instruments (data/real/, see each PROVENANCE.md): every value
//! asserted here was read off the FITS headers by hand.

use std::path::Path;

use cometphot::frame::meta::Severity;
use cometphot::frame::profile::{FrameType, ProfileChoice, ProfileRegistry};
use cometphot::frame::read::{read_frame, Frame};

fn read(rel: &str) -> Frame {
    let registry = ProfileRegistry::shipped().expect("shipped profiles");
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("data/real")
        .join(rel);
    read_frame(&path, &ProfileChoice::Detect, &registry).expect("readable frame")
}

fn close(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= tol
}

#[test]
fn alfosc_long_slit_spectrum() {
    let f = read("alfosc/ALAb170110.fits");
    assert_eq!(f.amplifiers.len(), 1, "image only in extension 1");
    let amp = &f.amplifiers[0];
    assert_eq!(amp.image.hdu, 1);
    assert_eq!(amp.image.extname.as_deref(), Some("im1"));
    assert_eq!((amp.image.width, amp.image.height), (400, 1051));
    let m = &amp.meta;
    assert_eq!(m.instrument, "alfosc");
    // IMAGETYP 'OBJECT' with OBS_MODE 'SPECTROSCOPY': not an imaging science frame.
    assert_eq!(m.frame_type, FrameType::Other);
    assert_eq!(m.object.as_deref(), Some("MALS_C_0304-1126"));
    assert_eq!(
        m.filter, None,
        "FAFLTNM, FBFLTNM and ALFLTNM are all 'Open'"
    );
    assert_eq!(m.exptime_s, Some(1200.0));
    assert_eq!(
        m.date_obs_utc.unwrap().to_string(),
        "2017-02-17T20:31:31.940"
    );
    // DATE-AVG 2017-02-17T20:41:31.940 = MJD 57801 + 74491.940/86400.
    let mid = m.mid_exposure_utc.unwrap();
    assert_eq!(mid.to_string(), "2017-02-17T20:41:31.940");
    assert!(close(mid.mjd(), 57801.0 + 74491.940 / 86400.0, 1e-9));
    assert!(close(m.airmass.unwrap(), 1.5684820816952, 1e-12));
    assert_eq!((m.binning.x, m.binning.y), (1, 2), "DETXBIN 1, DETYBIN 2");
    assert_eq!(m.window.as_ref().unwrap().to_string(), "[851:1250,1:2102]");
    assert_eq!(m.gain_e_per_adu, Some(0.33));
    assert_eq!(m.read_noise_e, Some(4.2));
    assert_eq!(m.saturation_adu, Some(80000.0), "profile default");
    // BIASSEC [3:52,1:2102] is in detector pixels, outside the window [851:1250].
    assert_eq!(m.overscan_section, None);
    assert!(!m.has_wcs(), "CTYPE1 = 'X': pixel coordinates only");
    assert_eq!(m.obsgeo_m, Some([5327395.9638, -1719170.4876, 3051490.766]));
    // BITPIX 32 with BZERO 2^31: unsigned values. The first three pixels of row 0 hold
    // 4294958469 (= DATAMIN), 4294962635 and 4294965801: negative counts of the readout's
    // first samples wrapped to unsigned (as f32, rounded to 24 bits of mantissa). All other
    // pixels lie in 0..=DATAMAX = 110116.
    assert_eq!(amp.pixels[0], 4294958469.0_f32);
    assert!(amp.pixels[..3].iter().all(|&v| v > 4.29e9));
    let max = amp.pixels[3..].iter().cloned().fold(f32::MIN, f32::max);
    assert_eq!(max, 110116.0);
    assert!(f.first_error().is_none());
}

#[test]
fn alfosc_arc_gzipped() {
    let f = read("alfosc/ALAb170109.fits.gz");
    let m = f.meta();
    assert_eq!(m.frame_type, FrameType::Arc, "IMAGETYP 'WAVE,LAMP'");
    assert_eq!(m.object.as_deref(), Some("HeNe MALS_C_0304-1126"));
    assert_eq!(m.exptime_s, Some(3.0));
    assert_eq!(
        m.mid_exposure_utc.unwrap().to_string(),
        "2017-02-17T20:31:14.711"
    );
    assert_eq!(f.amplifiers[0].pixels.len(), 400 * 1051);
}

#[test]
fn efosc2_bias_flat_science() {
    let bias = read("efosc2/EFOSC.2022-01-26T19-02-38.210.fits.gz");
    let m = bias.meta();
    assert_eq!(m.instrument, "efosc2");
    // ESO DPR TYPE 'DARK' with EXPTIME 0 is a bias (ESO OBS NAME 'BIAS').
    assert_eq!(m.frame_type, FrameType::Bias);
    assert_eq!(m.exptime_s, Some(0.0));
    assert_eq!(m.filter, None, "ESO INS FILT1 NAME 'Free'");
    assert!(bias.first_error().is_none(), "EXPTIME 0 is fine for a bias");

    let flat = read("efosc2/EFOSC.2022-01-28T00-08-16.282.fits.gz");
    let m = flat.meta();
    assert_eq!(m.frame_type, FrameType::Flat, "ESO DPR TYPE 'SKY,FLAT'");
    assert_eq!(m.filter.as_deref(), Some("g#782"));
    assert_eq!(m.exptime_s, Some(3.3005));
    assert_eq!(m.airmass, Some(1.016), "ESO TEL AIRM START");

    let sci = read("efosc2/EFOSC.2022-01-28T04-54-24.341.fits.gz");
    assert_eq!(sci.amplifiers.len(), 1);
    let m = sci.meta();
    assert_eq!(m.frame_type, FrameType::Science);
    assert_eq!(m.object.as_deref(), Some("Q1010-0100"));
    assert_eq!(m.filter.as_deref(), Some("g#782"));
    assert_eq!(m.exptime_s, Some(180.0057));
    assert_eq!(
        m.date_obs_utc.unwrap().to_string(),
        "2022-01-28T04:54:24.340"
    );
    // MJD-OBS = 59607.20444839 (start) + EXPTIME/2.
    let mid = m.mid_exposure_utc.unwrap().mjd();
    assert!(
        close(mid, 59607.20444839 + 90.00285 / 86400.0, 2e-8),
        "{mid}"
    );
    assert_eq!(m.airmass, Some(1.226));
    assert_eq!((m.binning.x, m.binning.y), (2, 2), "ESO DET WIN1 BINX/BINY");
    assert_eq!(m.gain_e_per_adu, Some(1.10), "ESO DET OUT1 CONAD");
    assert_eq!(m.read_noise_e, Some(7.8), "ESO DET OUT1 RON");
    assert!(m.has_wcs());
    let wcs = m.wcs.as_ref().unwrap();
    assert!(close(wcs.scale_arcsec_per_px(), 6.688889e-5 * 3600.0, 1e-9));
    assert_eq!(
        wcs.crpix_px,
        [516.0, 487.25],
        "CRPIX 517, 488.25 made 0-based"
    );
    assert_eq!(
        (
            sci.amplifiers[0].image.width,
            sci.amplifiers[0].image.height
        ),
        (1030, 1030)
    );
}

#[test]
fn lco_sinistro_four_amplifiers() {
    let f = read("sinistro-saao/lco_sinistro_fa05_raw_mef_2021SO2.fits.gz");
    assert_eq!(f.amplifiers.len(), 4, "primary has NAXIS1 = NAXIS2 = 0");
    let gains: Vec<f64> = f
        .amplifiers
        .iter()
        .map(|a| a.meta.gain_e_per_adu.unwrap())
        .collect();
    assert_eq!(
        gains,
        vec![6.42, 6.23, 6.27, 6.26],
        "per-amp GAIN wins over primary 0.0"
    );
    for (i, amp) in f.amplifiers.iter().enumerate() {
        assert_eq!(amp.image.hdu, i + 1);
        assert_eq!((amp.image.width, amp.image.height), (544, 522));
        let m = &amp.meta;
        assert_eq!(m.instrument, "sinistro");
        assert_eq!(m.frame_type, FrameType::Science, "OBSTYPE 'EXPOSE'");
        assert_eq!(m.object.as_deref(), Some("2021 SO2"));
        assert_eq!(m.filter.as_deref(), Some("w"));
        assert_eq!(m.exptime_s, Some(94.975));
        assert_eq!(
            m.date_obs_utc.unwrap().to_string(),
            "2021-10-08T01:55:17.144"
        );
        assert_eq!(m.airmass, Some(1.1598302));
        assert_eq!((m.binning.x, m.binning.y), (2, 2), "CCDSUM '2 2'");
        assert_eq!(m.read_noise_e, Some(7.0));
        assert_eq!(m.saturation_adu, Some(40000.0));
        let bias = m.overscan_section.as_ref().unwrap();
        assert_eq!((bias.x.clone(), bias.y.clone()), (519..540, 0..512));
        let data = m.data_section.as_ref().unwrap();
        assert_eq!((data.x.clone(), data.y.clone()), (0..512, 0..512));
        assert!(m.has_wcs(), "TAN WCS of the primary header");
    }
    let detsec = f.amplifiers[0].meta.detector_section.as_ref().unwrap();
    assert_eq!(detsec.to_string(), "[1025:2048,3072:2049]");
    assert!(detsec.y_flipped && !detsec.x_flipped);
}

#[test]
fn saao_date_and_separate_ut() {
    let f = read("sinistro-saao/saao1m_ste3_raw_a8280271.fits");
    let m = f.meta();
    assert_eq!(m.instrument, "saao1m");
    assert_eq!(m.frame_type, FrameType::Science, "IMAGETYP 'object'");
    assert_eq!(m.object.as_deref(), Some("rf0420"));
    assert_eq!(m.filter.as_deref(), Some("48"), "FILTERS wheel code");
    assert_eq!(m.exptime_s, Some(150.04));
    // DATE-OBS '2013-07-13' + UT '00:57:33', mid-exposure + 75.02 s.
    assert_eq!(
        m.date_obs_utc.unwrap().to_string(),
        "2013-07-13T00:57:33.000"
    );
    assert!(close(
        m.mid_exposure_utc.unwrap().mjd(),
        56486.0 + (3453.0 + 75.02) / 86400.0,
        1e-9
    ));
    assert_eq!(m.airmass, Some(1.176), "SECZ");
    assert_eq!(m.gain_e_per_adu, Some(1.9));
    assert_eq!(m.read_noise_e, Some(5.0));
    assert_eq!(
        m.overscan_section.as_ref().unwrap().to_string(),
        "[4:13,1:520]"
    );
    assert_eq!(
        m.data_section.as_ref().unwrap().to_string(),
        "[17:528,1:520]"
    );
    assert!(!m.has_wcs());
}

#[test]
fn neossat_comet_frames() {
    for (file, rows, exptime, start) in [
        (
            "neossat/NEOS_SCI_2021316235345.fits",
            708,
            65.0158,
            "2021-11-12T23:53:45.814",
        ),
        (
            "neossat/NEOS_SCI_2021317005221.fits.gz",
            714,
            65.0157013,
            "2021-11-13T00:52:21.213",
        ),
    ] {
        let f = read(file);
        let amp = &f.amplifiers[0];
        assert_eq!((amp.image.width, amp.image.height), (1078, rows));
        let m = &amp.meta;
        assert_eq!(m.instrument, "neossat");
        assert_eq!(m.frame_type, FrameType::Science);
        assert_eq!(m.object.as_deref(), Some("2021-A1"));
        assert_eq!(m.filter.as_deref(), Some("CLEAR"));
        assert_eq!(m.exptime_s, Some(exptime), "EXPOSURE (no EXPTIME keyword)");
        assert_eq!(m.date_obs_utc.unwrap().to_string(), start);
        assert_eq!(m.gain_e_per_adu, Some(1.10), "GAIN is the string '1.10'");
        assert_eq!(m.read_noise_e, Some(8.0), "RDNOISE is the string '8.00'");
        assert_eq!(m.airmass, None, "in space");
        // BIASSEC [1:16,1:1020] clipped to the 1078 x rows readout.
        let bias = m.overscan_section.as_ref().unwrap();
        assert_eq!((bias.x.clone(), bias.y.clone()), (0..16, 0..rows));
        assert!(m.has_wcs());
        assert!(
            f.problems().all(|p| p.severity == Severity::Warning),
            "usable frame"
        );
    }
}
