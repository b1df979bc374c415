//! Observer sites: the geocentre, a named observatory, geodetic coordinates, or the
//! OBSGEO-X/Y/Z of a frame header; and the observer's geocentric position and velocity in
//! equatorial J2000 at a UTC instant (for the topocentric correction of a comet's geometry).
//!
//! Chain (the classical equinox-based one, IERS Conventions 2010 §5.4.4, without nutation):
//! ITRS (terrestrial, WGS84) → rotated by GMST about z → mean equator and equinox of date →
//! precession (IAU 2006, [`precession_date_to_j2000`]) → mean equator and equinox of J2000.
//!
//! What is left out, and why it does not matter for a topocentric correction (the site's
//! parallax of a body at Δ au is ≤ 8.8″/Δ, ≤ 20″ for Δ ≥ 0.44 au; an error ε in the direction of
//! the site vector changes it by ≤ ε × parallax):
//! - UT1 − UTC (< 0.9 s): ≤ 13.5″ of rotation, ≤ 0.0013″ on a 20″ parallax (see
//!   [`era_rad`](super::time::era_rad)).
//! - Nutation: using GMST (not GAST) with the *mean* equator of date cancels the nutation in
//!   longitude along the equator to first order; what remains is the tilt of the true pole
//!   from the mean pole, ≤ √(6.9² + 9.2²)″ ≈ 11.5″ (Δψ sin ε, Δε), ≤ 0.0011″ on a 20″ parallax.
//! - Polar motion (≤ 0.5″) and the ICRS frame bias (0.02″): smaller still.
//!
//! WGS84 (NIMA TR8350.2): a = 6378137 m, 1/f = 298.257223563.

use nalgebra::Matrix3;
use thiserror::Error;

use super::time::{gmst_rad, TimeError, UtcInstant};
use super::{Frame, StateVector, Vec3, AU_KM, DAY_S, JD_J2000};

/// WGS84 equatorial radius (m).
pub const WGS84_A_M: f64 = 6_378_137.0;
/// WGS84 flattening.
pub const WGS84_F: f64 = 1.0 / 298.257_223_563;
/// Nominal mean angular velocity of the Earth (rad/s), IERS Conventions 2010 Table 1.1.
pub const EARTH_ROTATION_RAD_PER_S: f64 = 7.292_115e-5;
/// Geocentric distances accepted for OBSGEO-X/Y/Z (m): the Earth's surface lies within
/// 6.352e6 (pole, sea level) … 6.385e6 m (equator, 8 km up).
const SURFACE_RANGE_M: std::ops::RangeInclusive<f64> = 6.3e6..=6.4e6;
/// Heights accepted in a LON,LAT,ALT_M spec (m).
const HEIGHT_RANGE_M: std::ops::RangeInclusive<f64> = -1000.0..=10_000.0;
const METRES_PER_AU: f64 = AU_KM * 1000.0;

#[derive(Debug, Error, PartialEq)]
pub enum SiteError {
    #[error(
        "site '{0}' is not 'geocentric', a known MPC code or observatory ({known}), \
         nor 'LON,LAT,ALT_M' (east longitude and latitude in degrees, height in metres)",
        known = known_site_list()
    )]
    Unknown(String),
    #[error("site '{spec}': {reason} (expected 'LON,LAT,ALT_M': east longitude and latitude in degrees, height in metres)")]
    BadCoordinates { spec: String, reason: String },
    #[error(
        "OBSGEO-X/Y/Z = ({x_m}, {y_m}, {z_m}) m is {r_m:.0} m from the geocentre: not on the \
         Earth's surface (6.3e6–6.4e6 m expected)"
    )]
    NotOnEarth {
        x_m: f64,
        y_m: f64,
        z_m: f64,
        r_m: f64,
    },
    #[error(transparent)]
    Time(#[from] TimeError),
}

/// Where the observer is.
#[derive(Debug, Clone, PartialEq)]
pub enum Site {
    /// The centre of the Earth (MPC code 500).
    Geocentric,
    /// WGS84 geodetic coordinates: longitude east positive, latitude, height above the
    /// ellipsoid. `name` is set for the built-in observatories ("Z23 Nordic Optical …").
    Geodetic {
        name: Option<String>,
        lon_deg: f64,
        lat_deg: f64,
        height_m: f64,
    },
    /// Terrestrial (ITRS ≈ WGS84) Cartesian coordinates, as FITS OBSGEO-X/Y/Z.
    Itrs { x_m: f64, y_m: f64, z_m: f64 },
}

impl Site {
    /// Parses a site specification: `geocentric` or `500`; an MPC code or a name from the
    /// built-in table (case, spaces and punctuation ignored: `NOT`, `z23`, `La Silla`,
    /// `mauna kea`); or `LON,LAT,ALT_M` (east longitude and latitude in degrees, height in m).
    pub fn parse(spec: &str) -> Result<Site, SiteError> {
        let trimmed = spec.trim();
        if trimmed.contains(',') {
            return parse_coordinates(trimmed);
        }
        let key = normalise(trimmed);
        if GEOCENTRIC_ALIASES.contains(&key.as_str()) {
            return Ok(Site::Geocentric);
        }
        OBSERVATORIES
            .iter()
            .find(|obs| obs.matches(&key))
            .map(Observatory::site)
            .ok_or_else(|| SiteError::Unknown(trimmed.to_string()))
    }

    /// A site from the OBSGEO-X/Y/Z keywords of a frame (metres), checked to lie on the
    /// Earth's surface (6.3e6 ≤ |r| ≤ 6.4e6 m).
    pub fn from_obsgeo(x_m: f64, y_m: f64, z_m: f64) -> Result<Site, SiteError> {
        let r_m = (x_m * x_m + y_m * y_m + z_m * z_m).sqrt();
        if !SURFACE_RANGE_M.contains(&r_m) {
            return Err(SiteError::NotOnEarth { x_m, y_m, z_m, r_m });
        }
        Ok(Site::Itrs { x_m, y_m, z_m })
    }

    /// Terrestrial Cartesian position (m): zero for the geocentre; for geodetic coordinates
    /// (WGS84) x = (N + h) cos φ cos λ, y = (N + h) cos φ sin λ, z = (N (1 − e²) + h) sin φ with
    /// N = a / √(1 − e² sin² φ), e² = f (2 − f).
    pub fn itrs_m(&self) -> Vec3 {
        match self {
            Site::Geocentric => Vec3::zeros(),
            Site::Geodetic {
                lon_deg,
                lat_deg,
                height_m,
                ..
            } => geodetic_to_itrs_m(*lon_deg, *lat_deg, *height_m),
            Site::Itrs { x_m, y_m, z_m } => Vec3::new(*x_m, *y_m, *z_m),
        }
    }

    /// Geocentric position (au) and velocity (au/day) of the observer in equatorial J2000 at
    /// a UTC instant: the ITRS vector turned by GMST about z (UT1 taken as UTC), then
    /// precessed from the mean equator and equinox of date to J2000; velocity = ω ẑ × r in the
    /// frame of date (ω = 7.292115e-5 rad/s) rotated the same way. See the module notes for
    /// the neglected terms. Fails only where TT is undefined (before 1961).
    pub fn geocentric_state(&self, utc: &UtcInstant) -> Result<StateVector, SiteError> {
        if *self == Site::Geocentric {
            return Ok(StateVector::new(
                Frame::EquatorialJ2000,
                Vec3::zeros(),
                Vec3::zeros(),
            ));
        }
        let jd_tt = utc.jd_tt()?;
        let of_date_m = rotation_z(gmst_rad(utc.jd(), jd_tt)) * self.itrs_m();
        let velocity_of_date_m_s =
            Vec3::new(-of_date_m.y, of_date_m.x, 0.0) * EARTH_ROTATION_RAD_PER_S;
        let precession = precession_date_to_j2000(jd_tt);
        Ok(StateVector::new(
            Frame::EquatorialJ2000,
            precession * of_date_m / METRES_PER_AU,
            precession * velocity_of_date_m_s * (DAY_S / METRES_PER_AU),
        ))
    }

    /// A short human-readable description for logs and output tables.
    pub fn label(&self) -> String {
        match self {
            Site::Geocentric => "geocentric (500)".to_string(),
            Site::Geodetic {
                name: Some(name), ..
            } => name.clone(),
            Site::Geodetic {
                name: None,
                lon_deg,
                lat_deg,
                height_m,
            } => format!("lon {lon_deg:.5}° E, lat {lat_deg:+.5}°, {height_m:.0} m"),
            Site::Itrs { x_m, y_m, z_m } => {
                format!("OBSGEO X {x_m:.1} m, Y {y_m:.1} m, Z {z_m:.1} m")
            }
        }
    }
}

/// The built-in observatories as "CODE (first alias)" strings, for help texts and errors.
pub fn known_site_list() -> String {
    OBSERVATORIES
        .iter()
        .map(|obs| match obs.aliases.first() {
            Some(alias) => format!("{} {}", obs.code, alias),
            None => obs.code.to_string(),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// WGS84 geodetic → terrestrial Cartesian (m); see [`Site::itrs_m`].
pub fn geodetic_to_itrs_m(lon_deg: f64, lat_deg: f64, height_m: f64) -> Vec3 {
    let e2 = WGS84_F * (2.0 - WGS84_F);
    let (sin_lat, cos_lat) = lat_deg.to_radians().sin_cos();
    let (sin_lon, cos_lon) = lon_deg.to_radians().sin_cos();
    let n = WGS84_A_M / (1.0 - e2 * sin_lat * sin_lat).sqrt();
    Vec3::new(
        (n + height_m) * cos_lat * cos_lon,
        (n + height_m) * cos_lat * sin_lon,
        (n * (1.0 - e2) + height_m) * sin_lat,
    )
}

/// Terrestrial Cartesian (m) → WGS84 (east longitude °, latitude °, height m), by fixed-point
/// iteration on the latitude with h = p cos φ + z sin φ − a √(1 − e² sin² φ) (stable at all
/// latitudes; converges to < 1 µm in a few passes for points near the surface).
pub fn itrs_to_geodetic(itrs_m: &Vec3) -> (f64, f64, f64) {
    let e2 = WGS84_F * (2.0 - WGS84_F);
    let p = itrs_m.x.hypot(itrs_m.y);
    let z = itrs_m.z;
    let mut lat = z.atan2(p * (1.0 - e2));
    let mut height = 0.0;
    for _ in 0..8 {
        let (sin_lat, cos_lat) = lat.sin_cos();
        let w = (1.0 - e2 * sin_lat * sin_lat).sqrt();
        height = p * cos_lat + z * sin_lat - WGS84_A_M * w;
        let n = WGS84_A_M / w;
        lat = z.atan2(p * (1.0 - e2 * n / (n + height)));
    }
    (
        itrs_m.y.atan2(itrs_m.x).to_degrees(),
        lat.to_degrees(),
        height,
    )
}

/// Rotation taking a vector from the mean equator and equinox of date (TT Julian Date) to the
/// mean equator and equinox of J2000: Pᵀ with P = R₃(−z_A) · R₂(θ_A) · R₃(−ζ_A), IAU 2006
/// precession angles (Capitaine, Wallace & Chapront 2003, A&A 412, 567; IERS Conventions 2010
/// eq. 5.40), t = (JD(TT) − 2451545.0)/36525:
/// ζ_A = 2.650545″ + 2306.083227″ t + 0.2988499″ t² + 0.01801828″ t³ − 0.000005971″ t⁴ − 0.0000003173″ t⁵,
/// z_A = −2.650545″ + 2306.077181″ t + 1.0927348″ t² + 0.01826837″ t³ − 0.000028596″ t⁴ − 0.0000002904″ t⁵,
/// θ_A = 2004.191903″ t − 0.4294934″ t² − 0.04182264″ t³ − 0.000007089″ t⁴ − 0.0000001274″ t⁵.
/// (R_i are rotations of the coordinate axes, as in SOFA.) The frame bias to the ICRS (≈ 0.02″)
/// is not applied.
pub fn precession_date_to_j2000(jd_tt: f64) -> Matrix3<f64> {
    let t = (jd_tt - JD_J2000) / 36525.0;
    let arcsec = |c: [f64; 6]| {
        let value = c[0] + t * (c[1] + t * (c[2] + t * (c[3] + t * (c[4] + t * c[5]))));
        (value / 3600.0).to_radians()
    };
    let zeta = arcsec([
        2.650_545,
        2_306.083_227,
        0.298_849_9,
        0.018_018_28,
        -0.000_005_971,
        -0.000_000_317_3,
    ]);
    let z = arcsec([
        -2.650_545,
        2_306.077_181,
        1.092_734_8,
        0.018_268_37,
        -0.000_028_596,
        -0.000_000_290_4,
    ]);
    let theta = arcsec([
        0.0,
        2_004.191_903,
        -0.429_493_4,
        -0.041_822_64,
        -0.000_007_089,
        -0.000_000_127_4,
    ]);
    let j2000_to_date = axes_rotation_z(-z) * axes_rotation_y(theta) * axes_rotation_z(-zeta);
    j2000_to_date.transpose()
}

/// Active rotation of a vector by `angle` about z (counter-clockwise seen from +z).
fn rotation_z(angle: f64) -> Matrix3<f64> {
    axes_rotation_z(-angle)
}

/// R₃(φ): rotation of the coordinate axes by φ about z (SOFA `iauRz`).
fn axes_rotation_z(phi: f64) -> Matrix3<f64> {
    let (s, c) = phi.sin_cos();
    Matrix3::new(c, s, 0.0, -s, c, 0.0, 0.0, 0.0, 1.0)
}

/// R₂(θ): rotation of the coordinate axes by θ about y (SOFA `iauRy`).
fn axes_rotation_y(theta: f64) -> Matrix3<f64> {
    let (s, c) = theta.sin_cos();
    Matrix3::new(c, 0.0, -s, 0.0, 1.0, 0.0, s, 0.0, c)
}

fn parse_coordinates(spec: &str) -> Result<Site, SiteError> {
    let bad = |reason: String| SiteError::BadCoordinates {
        spec: spec.to_string(),
        reason,
    };
    let fields: Vec<&str> = spec.split(',').map(str::trim).collect();
    let [lon, lat, height] = fields.as_slice() else {
        return Err(bad(format!(
            "{} comma-separated fields instead of 3",
            fields.len()
        )));
    };
    let number = |text: &str, what: &str| {
        text.parse::<f64>()
            .ok()
            .filter(|v| v.is_finite())
            .ok_or_else(|| bad(format!("{what} '{text}' is not a number")))
    };
    let lon_deg = number(lon, "longitude")?;
    let lat_deg = number(lat, "latitude")?;
    let height_m = number(height, "height")?;
    if !(-180.0..=360.0).contains(&lon_deg) {
        return Err(bad(format!("longitude {lon_deg}° is outside −180…360°")));
    }
    if !(-90.0..=90.0).contains(&lat_deg) {
        return Err(bad(format!("latitude {lat_deg}° is outside −90…90°")));
    }
    if !HEIGHT_RANGE_M.contains(&height_m) {
        return Err(bad(format!("height {height_m} m is outside −1000…10000 m")));
    }
    Ok(Site::Geodetic {
        name: None,
        lon_deg: wrap_longitude_deg(lon_deg),
        lat_deg,
        height_m,
    })
}

/// Longitude in (−180°, 180°].
fn wrap_longitude_deg(lon_deg: f64) -> f64 {
    let wrapped = lon_deg.rem_euclid(360.0);
    if wrapped > 180.0 {
        wrapped - 360.0
    } else {
        wrapped
    }
}

/// Lower-case letters and digits only, so that "Mauna Kea", "maunakea" and "MAUNA-KEA" match.
fn normalise(text: &str) -> String {
    text.chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

const GEOCENTRIC_ALIASES: [&str; 4] = ["geocentric", "geocenter", "geocentre", "500"];

/// How a built-in observatory's position is given.
enum Location {
    /// WGS84 geodetic: east longitude (°), latitude (°), height (m).
    Geodetic(f64, f64, f64),
    /// MPC parallax constants: east longitude (°), ρ cos φ′, ρ sin φ′ (ρ in Earth equatorial
    /// radii, φ′ the geocentric latitude).
    Mpc(f64, f64, f64),
}

struct Observatory {
    code: &'static str,
    /// Names matched after [`normalise`]; the first is shown in lists.
    aliases: &'static [&'static str],
    /// The MPC's name for the code.
    mpc_name: &'static str,
    location: Location,
}

impl Observatory {
    fn matches(&self, key: &str) -> bool {
        normalise(self.code) == key || self.aliases.iter().any(|alias| normalise(alias) == key)
    }

    fn site(&self) -> Site {
        let (lon_deg, lat_deg, height_m) = match self.location {
            Location::Geodetic(lon, lat, height) => (lon, lat, height),
            Location::Mpc(lon, rho_cos, rho_sin) => {
                let (sin_lon, cos_lon) = lon.to_radians().sin_cos();
                let itrs = Vec3::new(rho_cos * cos_lon, rho_cos * sin_lon, rho_sin) * WGS84_A_M;
                itrs_to_geodetic(&itrs)
            }
        };
        Site::Geodetic {
            name: Some(format!("{} {}", self.code, self.mpc_name)),
            lon_deg: wrap_longitude_deg(lon_deg),
            lat_deg,
            height_m,
        }
    }
}

/// Built-in observatories. Codes, names and parallax constants are those of the Minor Planet
/// Center's list of observatory codes (https://minorplanetcenter.net/iau/lists/ObsCodes.html;
/// read from a copy of that list embedded in COIAS-program/COIAS_program_github,
/// src1_preprocess/make_default_parameter_files.py). The constants have 5–6 decimals: ±3–30 m.
/// ρ is taken in units of the WGS84 equatorial radius (any of the usual radii changes the
/// position by ≤ 3 m).
///
/// The NOT uses its own coordinates (DESIGN §5: 28.75728° N, 17.88508° W, 2382 m, which the
/// ALFOSC OBSGEO-X/Y/Z reproduce to 0.4 m). The MPC's Z23 line (342.11492, 0.877679,
/// +0.478433) is the same place 43 m higher (h = 2425 m on WGS84), as if 2382 m were a height
/// above the geoid rather than the ellipsoid; it changes no parallax by more than 7e-6 of itself.
const OBSERVATORIES: [Observatory; 10] = [
    Observatory {
        code: "Z23",
        aliases: &["NOT", "Nordic Optical Telescope"],
        mpc_name: "Nordic Optical Telescope, La Palma",
        location: Location::Geodetic(-17.885_08, 28.757_28, 2382.0),
    },
    Observatory {
        code: "950",
        aliases: &["La Palma", "Roque de los Muchachos", "ORM"],
        mpc_name: "La Palma",
        location: Location::Mpc(342.1176, 0.87764, 0.47847),
    },
    Observatory {
        code: "809",
        aliases: &["La Silla", "ESO La Silla"],
        mpc_name: "European Southern Observatory, La Silla",
        location: Location::Mpc(289.266_26, 0.873_440, -0.486_052),
    },
    Observatory {
        code: "309",
        aliases: &["Paranal", "Cerro Paranal", "ESO Paranal", "VLT"],
        mpc_name: "Cerro Paranal",
        location: Location::Mpc(289.595_69, 0.909_943, -0.414_336),
    },
    Observatory {
        code: "568",
        aliases: &["Mauna Kea", "Maunakea"],
        mpc_name: "Maunakea",
        location: Location::Mpc(204.5278, 0.94171, 0.33725),
    },
    Observatory {
        code: "695",
        aliases: &["Kitt Peak", "KPNO"],
        mpc_name: "Kitt Peak",
        location: Location::Mpc(248.405_33, 0.849_504, 0.526_425),
    },
    Observatory {
        code: "807",
        aliases: &["Cerro Tololo", "CTIO", "Tololo"],
        mpc_name: "Cerro Tololo Observatory, La Serena",
        location: Location::Mpc(289.1941, 0.86560, -0.49980),
    },
    Observatory {
        code: "675",
        aliases: &["Palomar", "Palomar Mountain"],
        mpc_name: "Palomar Mountain",
        location: Location::Mpc(243.137_46, 0.836_357, 0.546_831),
    },
    Observatory {
        code: "M28",
        aliases: &["SAAO", "Sutherland", "SAAO Sutherland", "Lesedi"],
        mpc_name: "Lesedi Telescope-SAAO Observatory, Sutherland",
        location: Location::Mpc(20.810_64, 0.845_568, -0.532_607),
    },
    Observatory {
        code: "F65",
        aliases: &["Haleakala", "FTN", "Faulkes Telescope North"],
        mpc_name: "Haleakala-Faulkes Telescope North",
        location: Location::Mpc(203.742_50, 0.936_239, 0.351_538),
    },
];

#[cfg(test)]
mod tests {
    use std::f64::consts::TAU;

    use super::*;

    /// OBSGEO-X/Y/Z of the real ALFOSC frames data/real/alfosc/ALAb170110.fits and
    /// ALAb170109.fits.gz (primary header, 2017-02-17).
    const ALFOSC_OBSGEO_M: [f64; 3] = [5_327_395.963_8, -1_719_170.487_6, 3_051_490.766];

    fn not() -> Site {
        Site::parse("NOT").unwrap()
    }

    fn utc(text: &str) -> UtcInstant {
        UtcInstant::parse_iso(text).unwrap()
    }

    fn right_ascension_rad(v: &Vec3) -> f64 {
        v.y.atan2(v.x).rem_euclid(TAU)
    }

    fn mpc_itrs_m(lon_deg: f64, rho_cos: f64, rho_sin: f64) -> Vec3 {
        let (s, c) = lon_deg.to_radians().sin_cos();
        Vec3::new(rho_cos * c, rho_cos * s, rho_sin) * WGS84_A_M
    }

    #[test]
    fn not_geodetic_matches_the_alfosc_obsgeo() {
        let [x, y, z] = ALFOSC_OBSGEO_M;
        let difference_m = (not().itrs_m() - Vec3::new(x, y, z)).norm();
        // Found: 0.41 m (0.35 m in y, 0.22 m in z): the header was computed from the same
        // coordinates, rounded.
        assert!(difference_m < 1.0, "{difference_m} m");
        let (lon, lat, height) = itrs_to_geodetic(&Vec3::new(x, y, z));
        assert!((lon - -17.885_08).abs() < 1e-5 && (lat - 28.757_28).abs() < 1e-5);
        assert!((height - 2382.0).abs() < 0.1, "{height}");
    }

    #[test]
    fn not_agrees_with_the_mpc_z23_line() {
        // ObsCodes: "Z23 342.114920.877679+0.478433Nordic Optical Telescope, La Palma".
        let mpc = mpc_itrs_m(342.114_92, 0.877_679, 0.478_433);
        let difference = not().itrs_m() - mpc;
        // 43 m, almost all vertical: the MPC line puts the NOT at h = 2425 m.
        assert!(difference.norm() < 50.0, "{}", difference.norm());
        let up = mpc.normalize();
        assert!((difference.dot(&up) + difference.norm()).abs() < 2.0);
    }

    #[test]
    fn every_table_entry_parses_by_code_and_by_alias() {
        for obs in &OBSERVATORIES {
            let by_code = Site::parse(obs.code).unwrap();
            assert_eq!(by_code, Site::parse(&obs.code.to_lowercase()).unwrap());
            for alias in obs.aliases {
                assert_eq!(Site::parse(alias).unwrap(), by_code, "{alias}");
                assert_eq!(Site::parse(&alias.to_uppercase()).unwrap(), by_code);
            }
            let Site::Geodetic {
                name: Some(name),
                lon_deg,
                lat_deg,
                height_m,
            } = &by_code
            else {
                panic!("{} is not a named geodetic site", obs.code);
            };
            assert!(name.starts_with(obs.code) && by_code.label() == *name);
            // All are mountain-top observatories between 1.6 and 4.3 km.
            assert!((1600.0..4300.0).contains(height_m), "{name}: {height_m}");
            assert!(lon_deg.abs() <= 180.0 && lat_deg.abs() < 35.0, "{name}");
            // Geodetic → ITRS reproduces the MPC parallax constants (to their last digit).
            if let Location::Mpc(lon, rho_cos, rho_sin) = obs.location {
                let back = by_code.itrs_m() - mpc_itrs_m(lon, rho_cos, rho_sin);
                assert!(back.norm() < 1e-6, "{name}: {}", back.norm());
            }
        }
    }

    #[test]
    fn table_entries_are_where_the_published_coordinates_say() {
        // Spot checks against independent published coordinates: geodetic values derived
        // from the MPC constants vs the observatories' commonly quoted ones.
        let cases = [
            // code, lon, lat, tolerance (°); height, tolerance (m)
            ("309", -70.404, -24.627, 0.01, 2635.0, 20.0), // Paranal
            ("568", -155.472, 19.826, 0.01, 4212.0, 60.0), // Maunakea
            // F65: JPL Horizons via SLALIB code: 20°42′25.5″ N, 156°15′27.4″ W, 3055 m.
            ("F65", -156.257_61, 20.707_08, 2e-4, 3055.0, 15.0),
        ];
        for (code, lon, lat, tol_deg, height, tol_m) in cases {
            let Site::Geodetic {
                lon_deg,
                lat_deg,
                height_m,
                ..
            } = Site::parse(code).unwrap()
            else {
                panic!("{code}");
            };
            assert!((lon_deg - lon).abs() < tol_deg, "{code} lon {lon_deg}");
            assert!((lat_deg - lat).abs() < tol_deg, "{code} lat {lat_deg}");
            assert!((height_m - height).abs() < tol_m, "{code} h {height_m}");
        }
    }

    #[test]
    fn geocentric_and_coordinates() {
        for spec in ["geocentric", "500", " Geocentre ", "GEOCENTER"] {
            assert_eq!(Site::parse(spec).unwrap(), Site::Geocentric, "{spec}");
        }
        assert_eq!(Site::Geocentric.label(), "geocentric (500)");
        let site = Site::parse("10.5,-30.2,1500").unwrap();
        assert_eq!(
            site,
            Site::Geodetic {
                name: None,
                lon_deg: 10.5,
                lat_deg: -30.2,
                height_m: 1500.0
            }
        );
        assert_eq!(site.label(), "lon 10.50000° E, lat -30.20000°, 1500 m");
        let Site::Geodetic { lon_deg, .. } = Site::parse(" 342.11492 , 28.75728 , 2382 ").unwrap()
        else {
            panic!("geodetic");
        };
        assert!((lon_deg - -17.885_08).abs() < 1e-9, "0…360 longitudes wrap");
    }

    #[test]
    fn bad_specs_are_named_in_the_error() {
        let cases = [
            ("XYZ", "not 'geocentric', a known MPC code"),
            ("", "not 'geocentric'"),
            ("a,b,c", "longitude 'a' is not a number"),
            ("10,north,5", "latitude 'north' is not a number"),
            ("10,20,high", "height 'high' is not a number"),
            ("10,95.5,0", "latitude 95.5° is outside"),
            ("10,-90.1,0", "latitude -90.1° is outside"),
            ("400,10,0", "longitude 400° is outside"),
            ("10,20", "2 comma-separated fields instead of 3"),
            ("10,20,30,40", "4 comma-separated fields"),
            ("10,20,1e6", "height 1000000 m is outside"),
            ("10,NaN,0", "latitude 'NaN' is not a number"),
        ];
        for (spec, why) in cases {
            let message = Site::parse(spec).unwrap_err().to_string();
            assert!(message.contains(&format!("'{spec}'")), "{message}");
            assert!(message.contains(why), "{spec}: {message}");
        }
        // The unknown-site message lists what is known.
        let message = Site::parse("Z99").unwrap_err().to_string();
        assert!(message.contains("Z23 NOT") && message.contains("F65 Haleakala"));
    }

    #[test]
    fn obsgeo_sanity() {
        let [x, y, z] = ALFOSC_OBSGEO_M;
        let site = Site::from_obsgeo(x, y, z).unwrap();
        assert_eq!(site.itrs_m(), Vec3::new(x, y, z));
        assert_eq!(
            site.label(),
            "OBSGEO X 5327396.0 m, Y -1719170.5 m, Z 3051490.8 m"
        );
        for (x, y, z) in [
            (0.0, 0.0, 0.0),
            (5327.4, -1719.2, 3051.5), // km instead of m
            (6.5e6, 0.0, 0.0),
            (f64::NAN, 0.0, 0.0),
        ] {
            let err = Site::from_obsgeo(x, y, z).unwrap_err();
            assert!(matches!(err, SiteError::NotOnEarth { .. }), "{err}");
        }
    }

    #[test]
    fn geodetic_round_trip() {
        for (lon, lat, h) in [
            (-17.885_08, 28.757_28, 2382.0),
            (120.0, -89.9, 10.0),
            (0.0, 0.0, -50.0),
            (179.9, 60.0, 8000.0),
        ] {
            let (lon2, lat2, h2) = itrs_to_geodetic(&geodetic_to_itrs_m(lon, lat, h));
            assert!((lon2 - lon).abs() < 1e-10 && (lat2 - lat).abs() < 1e-10);
            assert!((h2 - h).abs() < 1e-6, "{h2}");
        }
    }

    #[test]
    fn precession_matches_sofa_pmat06() {
        // SOFA/ERFA test of iauPmat06(2400000.5, 50123.9999) (bias-precession matrix,
        // GCRS → mean of date). Ours omits the frame bias (≈ 0.02″ ≈ 1e-7 rad).
        let sofa = Matrix3::new(
            0.999_999_550_517_600_7,
            0.869_540_461_734_820_8e-3,
            0.377_973_520_186_558_9e-3,
            -0.869_540_472_377_203_1e-3,
            0.999_999_621_949_602_7,
            -0.136_175_249_708_027e-6,
            -0.377_973_495_703_408_9e-3,
            -0.192_488_084_789_445_7e-6,
            0.999_999_928_567_997_2,
        );
        let ours = precession_date_to_j2000(2_400_000.5 + 50_123.999_9).transpose();
        let worst = (ours - sofa).abs().max();
        assert!(worst < 1.5e-7, "{worst}");
        // No precession at J2000.0.
        let identity = precession_date_to_j2000(JD_J2000);
        assert!((identity - Matrix3::identity()).abs().max() < 1e-15);
    }

    #[test]
    fn geocentric_state_size_and_speed() {
        let t = utc("2025-08-01T21:30:00");
        let state = not().geocentric_state(&t).unwrap();
        assert_eq!(state.frame, Frame::EquatorialJ2000);
        let r_m = state.position_au.norm() * METRES_PER_AU;
        assert!(
            (r_m - not().itrs_m().norm()).abs() < 1e-6,
            "rotations keep the length"
        );
        assert!((6.370e6..6.376e6).contains(&r_m), "{r_m}");
        // |v| = ω × distance from the axis = 7.292115e-5 rad/s × 5.598e6 m = 408 m/s.
        let v_m_s = state.velocity_au_per_day.norm() * METRES_PER_AU / DAY_S;
        let axis_distance_m = not().itrs_m().xy().norm();
        assert!((v_m_s - EARTH_ROTATION_RAD_PER_S * axis_distance_m).abs() < 1e-6);
        assert!((v_m_s - 408.2).abs() < 0.1, "{v_m_s}");
        // Eastward: perpendicular to r, and r × v points north (prograde rotation).
        assert!(state.position_au.dot(&state.velocity_au_per_day).abs() < 1e-15);
        assert!(state.position_au.cross(&state.velocity_au_per_day).z > 0.0);
        // The geocentre is the origin; before 1961 there is no UTC.
        let zero = Site::Geocentric.geocentric_state(&t).unwrap();
        assert_eq!(zero.position_au, Vec3::zeros());
        let early = not().geocentric_state(&utc("1960-06-01"));
        assert!(matches!(
            early,
            Err(SiteError::Time(TimeError::BeforeUtc(_)))
        ));
    }

    #[test]
    fn site_right_ascension_of_date_is_the_local_sidereal_time() {
        let t = utc("2025-08-01T21:30:00");
        let state = not().geocentric_state(&t).unwrap();
        let jd_tt = t.jd_tt().unwrap();
        let of_date = precession_date_to_j2000(jd_tt).transpose() * state.position_au;
        let lst = (gmst_rad(t.jd(), jd_tt) + (-17.885_08f64).to_radians()).rem_euclid(TAU);
        let ra = right_ascension_rad(&of_date);
        assert!((ra - lst).abs() < 1e-12, "{ra} vs {lst}");
        // Declination of date = geocentric latitude φ′ = atan(z / p) of the ITRS vector.
        let itrs = not().itrs_m();
        let dec = (of_date.z / of_date.norm()).asin();
        assert!((dec - itrs.z.atan2(itrs.xy().norm())).abs() < 1e-12);
        // φ′ is 0.162° below the geodetic latitude at 28.76° and 2382 m.
        assert!((28.757_28 - dec.to_degrees() - 0.162).abs() < 0.001);
    }

    #[test]
    fn direction_at_j2000_by_hand() {
        // At TT = J2000.0 exactly, UTC = 11:58:55.816 (TT − UTC = 32 + 32.184 s) and the
        // precession is the identity. By hand: ERA = 280.46061837504° − 64.184 s ×
        // 1.00273781191135448 × 360°/86400 s = 280.19318…°, GMST = ERA + 0.014506″, so the
        // NOT's RA = GMST − 17.88508° and its declination is φ′ = atan(z/p).
        let t = utc("2000-01-01T11:58:55.816");
        assert!((t.jd_tt().unwrap() - JD_J2000).abs() < 1e-9);
        let era_deg: f64 = 280.460_618_375_04 - 64.184 * 1.002_737_811_911_354_6 * 360.0 / 86_400.0;
        let ra = (era_deg + 0.014_506 / 3600.0 - 17.885_08).to_radians();
        let itrs = not().itrs_m();
        let dec = itrs.z.atan2(itrs.xy().norm());
        let expected = Vec3::new(dec.cos() * ra.cos(), dec.cos() * ra.sin(), dec.sin());
        let state = not().geocentric_state(&t).unwrap();
        let angle = state.position_au.normalize().cross(&expected).norm();
        // 1e-9 rad = 0.2 mas (JD rounding).
        assert!(angle < 1e-9, "{angle} rad");
        // The velocity points to RA + 90°, declination 0.
        let east = Vec3::new(-ra.sin(), ra.cos(), 0.0);
        assert!(state.velocity_au_per_day.normalize().cross(&east).norm() < 1e-9);
    }
}
