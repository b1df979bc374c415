//! Sites and time scales against the headers of the real ALFOSC frames in data/real/alfosc/
//! (NOT, 2017-02-17; see PROVENANCE.md there): OBSGEO-X/Y/Z vs the NOT's geodetic
//! coordinates, and the TCS sidereal time (ST) vs GMST + longitude.

use std::f64::consts::TAU;
use std::path::Path;

use cometphot::ephem::site::Site;
use cometphot::ephem::time::{gmst_rad, UtcInstant};
use cometphot::ephem::DAY_S;
use cometphot::frame::header::Header;
use cometphot::frame::read::FitsSource;

fn primary_header(name: &str) -> Header {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("data/real/alfosc")
        .join(name);
    FitsSource::open(&path)
        .expect("readable ALFOSC frame")
        .primary_header()
        .clone()
}

fn number(header: &Header, key: &str) -> f64 {
    header
        .number(key)
        .unwrap_or_else(|| panic!("{key} in the header"))
}

fn obsgeo_site(header: &Header) -> Site {
    Site::from_obsgeo(
        number(header, "OBSGEO-X"),
        number(header, "OBSGEO-Y"),
        number(header, "OBSGEO-Z"),
    )
    .expect("OBSGEO on the Earth's surface")
}

#[test]
fn not_coordinates_reproduce_the_header_obsgeo() {
    for name in ["ALAb170110.fits", "ALAb170109.fits.gz"] {
        let header = primary_header(name);
        let from_header = obsgeo_site(&header).itrs_m();
        let difference_m = (Site::parse("NOT").unwrap().itrs_m() - from_header).norm();
        // 0.41 m: the header holds the same WGS84 point (28.75728° N, 17.88508° W, 2382 m).
        assert!(difference_m < 1.0, "{name}: {difference_m} m");
    }
}

#[test]
fn obsgeo_and_named_site_give_the_same_geocentric_state() {
    let header = primary_header("ALAb170110.fits");
    let mid = UtcInstant::parse_iso(&header.text("DATE-AVG").unwrap()).unwrap();
    let a = obsgeo_site(&header).geocentric_state(&mid).unwrap();
    let b = Site::parse("Z23").unwrap().geocentric_state(&mid).unwrap();
    let au_m = cometphot::ephem::AU_KM * 1000.0;
    assert!((a.position_au - b.position_au).norm() * au_m < 1.0);
    // 0.4 m apart: 0.4 m × ω = 3e-5 m/s.
    let dv_m_s = (a.velocity_au_per_day - b.velocity_au_per_day).norm() * au_m / DAY_S;
    assert!(dv_m_s < 1e-4, "{dv_m_s} m/s");
}

/// Local mean sidereal time (hours) at a UTC instant and east longitude, UT1 taken as UTC.
fn lmst_hours(utc: &UtcInstant, lon_deg: f64) -> f64 {
    let gmst = gmst_rad(utc.jd(), utc.jd_tt().unwrap());
    (gmst + lon_deg.to_radians()).rem_euclid(TAU) * 24.0 / TAU
}

#[test]
fn tcs_sidereal_time_is_the_local_sidereal_time() {
    // UT is the "TCS UTC at start" in decimal hours; ST the "Sidereal time at start", whole
    // seconds in the comment (05:12:05 and 05:11:46). Our LMST at those UT is 2.90 s and
    // 2.95 s earlier. Apparent sidereal time and UT1 do not explain it: GAST − GMST ≈ −0.4 s
    // then (Δψ ≈ −6.6″) and UT1 − UTC was roughly +0.5 s, nearly cancelling; the ~3 s left
    // is the TCS's own (clock, or the moment ST is sampled). 3 s of time is 45″ of rotation:
    // irrelevant to a topocentric correction (≤ 0.005″ on a 20″ parallax), but too coarse
    // for the header's ST to serve as a 0.1″ reference.
    for name in ["ALAb170110.fits", "ALAb170109.fits.gz"] {
        let header = primary_header(name);
        let date = &header.text("DATE-OBS").unwrap()[..10];
        let ut_s = number(&header, "UT") * 3600.0;
        let start = UtcInstant::parse_iso(date).unwrap().plus_seconds(ut_s);
        let st_h = number(&header, "ST");
        let difference_s = (st_h - lmst_hours(&start, -17.885_08)) * 3600.0;
        assert!(
            (2.0..4.0).contains(&difference_s),
            "{name}: TCS ST − LMST = {difference_s} s"
        );
    }
}
