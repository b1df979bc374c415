//! Every FITS pixel type is read as f32 with BSCALE/BZERO applied. The files are built here
//! byte by byte (FITS standard 4.0 §3–5: 2880-byte blocks, 80-character cards, big-endian
//! data), independently of cometphot's writer.

use cometphot::frame::read::FitsSource;

fn card(text: &str) -> String {
    format!("{text:<80}")
}

/// A single-HDU FITS file of `width` × 2 pixels with the given BITPIX, scaling and raw
/// big-endian values.
fn fits_bytes(bitpix: i32, width: usize, scaling: Option<(f64, f64)>, data: &[u8]) -> Vec<u8> {
    let mut cards = vec![
        card("SIMPLE  =                    T"),
        card(&format!("BITPIX  = {bitpix:>20}")),
        card("NAXIS   =                    2"),
        card(&format!("NAXIS1  = {width:>20}")),
        card("NAXIS2  =                    2"),
    ];
    if let Some((bscale, bzero)) = scaling {
        cards.push(card(&format!("BSCALE  = {bscale:>20.1}")));
        cards.push(card(&format!("BZERO   = {bzero:>20.1}")));
    }
    cards.push(card("END"));
    let mut bytes = cards.concat().into_bytes();
    bytes.resize(bytes.len().div_ceil(2880) * 2880, b' ');
    bytes.extend_from_slice(data);
    bytes.resize(bytes.len().div_ceil(2880) * 2880, 0);
    bytes
}

fn read_back(bytes: &[u8]) -> Vec<f32> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.fits");
    std::fs::write(&path, bytes).unwrap();
    let mut src = FitsSource::open(&path).unwrap();
    let image = src.image_hdus().remove(0).unwrap();
    assert_eq!((image.width, image.height), (3, 2));
    src.read_pixels(&image).unwrap()
}

#[test]
fn unsigned_bytes() {
    let raw = [0u8, 1, 2, 127, 200, 255];
    assert_eq!(
        read_back(&fits_bytes(8, 3, None, &raw)),
        [0., 1., 2., 127., 200., 255.]
    );
}

#[test]
fn signed_and_unsigned_16_bit() {
    let values: [i16; 6] = [-32768, -1, 0, 1, 1000, 32767];
    let raw: Vec<u8> = values.iter().flat_map(|v| v.to_be_bytes()).collect();
    assert_eq!(
        read_back(&fits_bytes(16, 3, None, &raw)),
        [-32768., -1., 0., 1., 1000., 32767.]
    );
    // BZERO 32768: unsigned 16-bit, as most CCD cameras write.
    assert_eq!(
        read_back(&fits_bytes(16, 3, Some((1.0, 32768.0)), &raw)),
        [0., 32767., 32768., 32769., 33768., 65535.]
    );
}

#[test]
fn scaled_32_bit() {
    let values: [i32; 6] = [-2, -1, 0, 1, 2, 100_000];
    let raw: Vec<u8> = values.iter().flat_map(|v| v.to_be_bytes()).collect();
    assert_eq!(
        read_back(&fits_bytes(32, 3, Some((0.5, 10.0)), &raw)),
        [9., 9.5, 10., 10.5, 11., 50010.]
    );
}

#[test]
fn floats_32_and_64_bit() {
    let values = [-1.5f32, 0.0, 3.25, f32::NAN, 1e30, -7.0];
    let raw: Vec<u8> = values.iter().flat_map(|v| v.to_be_bytes()).collect();
    let got = read_back(&fits_bytes(-32, 3, None, &raw));
    assert!(got[3].is_nan());
    assert_eq!(
        [got[0], got[1], got[2], got[4], got[5]],
        [-1.5, 0.0, 3.25, 1e30, -7.0]
    );

    let values = [-1.5f64, 0.0, 3.25, 123456.75, 1e-3, -7.0];
    let raw: Vec<u8> = values.iter().flat_map(|v| v.to_be_bytes()).collect();
    assert_eq!(
        read_back(&fits_bytes(-64, 3, None, &raw)),
        [-1.5, 0.0, 3.25, 123456.75, 1e-3, -7.0]
    );
}

#[test]
fn unsupported_bitpix_is_an_error_naming_the_file() {
    let raw = [0u8; 6];
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("odd.fits");
    std::fs::write(&path, fits_bytes(12, 3, None, &raw)).unwrap();
    let err = match FitsSource::open(&path) {
        Err(e) => e.to_string(),
        Ok(mut src) => match src.image_hdus().remove(0) {
            Err(e) => e.to_string(),
            Ok(image) => src.read_pixels(&image).unwrap_err().to_string(),
        },
    };
    assert!(err.contains("odd.fits"), "{err}");
}
