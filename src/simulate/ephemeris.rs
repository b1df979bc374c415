//! Placing the simulated comet where a real one would be: its sky position, rate of motion and
//! antisolar direction from the geometry module at the first science frame, with the telescope
//! pointed at it. Frames simulated this way test that photometry finds the comet from its
//! ephemeris alone.

use super::{CometPosition, NightConfig};
use crate::ephem::ephemeris::{EphemerisError, GeometrySource};
use crate::ephem::geometry::Observation;
use crate::ephem::site::Site;
use crate::ephem::time::UtcInstant;

/// Errors of [`place_comet`].
#[derive(Debug, thiserror::Error)]
pub enum PlacementError {
    #[error("science_start_utc: {0}")]
    Time(#[from] crate::ephem::time::TimeError),
    #[error(transparent)]
    Ephemeris(#[from] EphemerisError),
}

/// Mid-exposure time of the first science frame of `config`.
pub fn first_science_mid_exposure(config: &NightConfig) -> Result<UtcInstant, PlacementError> {
    Ok(UtcInstant::parse_iso(&config.science_start_utc)?
        .plus_seconds(0.5 * config.science_exptime_s))
}

/// Puts the comet of `config` at its position seen from `site` at the first science frame
/// (pointing the telescope `offset` arcsec east and north of it), moving at its ephemeris
/// rate, with the antisolar position angle set to PsAng. Returns the geometry used.
pub fn place_comet(
    config: &mut NightConfig,
    source: &GeometrySource,
    site: &Site,
    pointing_offset_arcsec: (f64, f64),
) -> Result<Observation, PlacementError> {
    let t = first_science_mid_exposure(config)?;
    let obs = source.observe(site, t)?;
    let rate_arcsec_per_hour = obs.rate_arcsec_per_min * 60.0;
    let (sin_pa, cos_pa) = obs.rate_pa_deg.to_radians().sin_cos();
    config.comet.enabled = true;
    config.comet.position = CometPosition::Sky {
        ra_deg: obs.ra_deg,
        dec_deg: obs.dec_deg,
    };
    config.comet.rate_ra_arcsec_per_hour = rate_arcsec_per_hour * sin_pa;
    config.comet.rate_dec_arcsec_per_hour = rate_arcsec_per_hour * cos_pa;
    config.comet.antisolar_position_angle_deg = obs.sun_pa_deg;
    let (east, north) = pointing_offset_arcsec;
    let dec_rad = obs.dec_deg.to_radians();
    config.pointing_dec_deg = obs.dec_deg + north / 3600.0;
    config.pointing_ra_deg = (obs.ra_deg + east / 3600.0 / dec_rad.cos()).rem_euclid(360.0);
    Ok(obs)
}
