//! Time: UTC instants as written in FITS headers (ISO 8601, FITS standard 4.0 §9.1.1), the
//! scales derived from them (UTC → TAI → TT → TDB), durations such as an ephemeris step, and
//! the Earth's rotation angle and mean sidereal time.
//!
//! MJD on the UTC scale is computed from the proleptic Gregorian calendar with the day-count
//! algorithm of Fliegel & Van Flandern (1968, Comm. ACM 11, 657): JD at 0h of a civil date,
//! MJD = JD − 2400000.5. Leap seconds are ignored within a day (UTC days are taken as
//! 86400 s), which is the convention of MJD-OBS keywords; a time written as 23:59:60 (inside a
//! leap second) is read as 00:00:00 of the next day, 1 s late on the TAI/TT/TDB scales.
//!
//! Scales (IERS Conventions 2010, ch. 10; USNO Circular 179, Kaplan 2005, ch. 2):
//! - TAI = UTC + (TAI − UTC), from the leap-second table below (USNO `tai-utc.dat` /
//!   IERS Bulletin C); UTC is undefined before 1961-01-01.
//! - TT = TAI + 32.184 s (exactly).
//! - TDB = TT + 0.001657 s·sin g + 0.000014 s·sin 2g, g = 357.53° + 0.98560028°·(JD − 2451545.0)
//!   (USNO Circular 179 eq. 2.6; Explanatory Supplement to the Astronomical Almanac 1992,
//!   §2.222). The neglected terms of the full series (Fairhead & Bretagnon 1990) are at most
//!   a few tens of µs, during which the Earth moves less than a metre.
//!
//! Julian Dates are f64. Near JD 2.46e6 an f64 resolves 2⁻³¹ d = 40 µs, an MJD (≈ 6e4)
//! 0.6 µs: use the `mjd_*` forms when sub-µs round trips matter. Either is far finer than
//! anything the photometry needs.

use std::f64::consts::TAU;
use std::fmt;
use thiserror::Error;

use super::JD_J2000;

/// MJD of JD 0 (JD = MJD + 2400000.5).
const MJD_ZERO_JD: f64 = 2_400_000.5;
/// TT − TAI, exactly (IAU 1991 Resolution A4).
const TT_MINUS_TAI_S: f64 = 32.184;
/// Largest |MJD| accepted when building an instant from a number (±27,000 years).
const MAX_ABS_MJD: f64 = 1e7;

#[derive(Debug, Error, PartialEq)]
pub enum TimeError {
    #[error("'{0}' is not an ISO 8601 date (expected YYYY-MM-DD or YYYY-MM-DDThh:mm:ss[.sss])")]
    Malformed(String),
    #[error("'{0}' has a field out of range")]
    OutOfRange(String),
    /// A Julian Date or MJD that is not finite or absurdly far from the present.
    #[error("{0} is not a usable date (not finite, or more than 10⁷ days from MJD 0)")]
    InvalidNumber(f64),
    /// UTC (and with it TAI − UTC) is defined from 1961-01-01 on.
    #[error("{0} UTC is before 1961-01-01, where UTC and TAI − UTC are undefined")]
    BeforeUtc(String),
    #[error(
        "'{text}' is not a duration: {reason} (expected a positive number and a unit s, min, h \
         or d, e.g. '6h', '30 min', '1.5d')"
    )]
    BadDuration { text: String, reason: String },
}

/// An instant on the UTC scale, stored as a Modified Julian Date split into the day number
/// and the seconds of that day (to keep microsecond resolution).
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
pub struct UtcInstant {
    mjd_day: i64,
    seconds_of_day: f64,
}

impl UtcInstant {
    /// Builds an instant from calendar fields (proleptic Gregorian).
    pub fn from_calendar(
        year: i64,
        month: i64,
        day: i64,
        hour: i64,
        minute: i64,
        second: f64,
    ) -> Self {
        let seconds = (hour * 3600 + minute * 60) as f64 + second;
        UtcInstant {
            mjd_day: mjd_of_civil_date(year, month, day),
            seconds_of_day: 0.0,
        }
        .plus_seconds(seconds)
    }

    /// The instant at a Modified Julian Date on the UTC scale.
    pub fn from_mjd(mjd: f64) -> Result<Self, TimeError> {
        if !mjd.is_finite() || mjd.abs() > MAX_ABS_MJD {
            return Err(TimeError::InvalidNumber(mjd));
        }
        let day = mjd.floor();
        Ok(UtcInstant {
            mjd_day: day as i64,
            seconds_of_day: 0.0,
        }
        .plus_seconds((mjd - day) * 86400.0))
    }

    /// The instant at a Julian Date on the UTC scale.
    pub fn from_jd_utc(jd: f64) -> Result<Self, TimeError> {
        if !jd.is_finite() {
            return Err(TimeError::InvalidNumber(jd));
        }
        UtcInstant::from_mjd(jd - MJD_ZERO_JD)
    }

    /// The UTC instant at a Julian Date on the TDB scale (inverse of [`UtcInstant::jd_tdb`]).
    pub fn from_jd_tdb(jd_tdb: f64) -> Result<Self, TimeError> {
        if !jd_tdb.is_finite() {
            return Err(TimeError::InvalidNumber(jd_tdb));
        }
        UtcInstant::from_mjd_tdb(jd_tdb - MJD_ZERO_JD)
    }

    /// The UTC instant at an MJD on the TDB scale (inverse of [`UtcInstant::mjd_tdb`]).
    ///
    /// UTC = TDB − (TDB − UTC)(UTC), solved by fixed-point iteration from UTC₀ = TDB. TDB − UTC
    /// changes by at most 2.6 ms per day (the 1966–1971 drift rate), so each pass shrinks the
    /// error by a factor ≥ 3·10⁴: three passes reach the f64 floor. Inside a leap second (which
    /// has no `UtcInstant`) the result is within 1 s of the truth.
    pub fn from_mjd_tdb(mjd_tdb: f64) -> Result<Self, TimeError> {
        let tdb = UtcInstant::from_mjd(mjd_tdb)?;
        let mut utc = tdb;
        for _ in 0..3 {
            utc = tdb.plus_seconds(-utc.tdb_minus_utc_s()?);
        }
        Ok(utc)
    }

    /// Parses `YYYY-MM-DD`, `YYYY-MM-DDThh:mm:ss[.s…]` (a space may replace the `T`, and a
    /// trailing `Z` is accepted).
    pub fn parse_iso(text: &str) -> Result<Self, TimeError> {
        let t = text.trim().trim_end_matches('Z');
        let malformed = || TimeError::Malformed(text.trim().to_string());
        let (date, time) = match t.find(['T', ' ']) {
            Some(i) => (&t[..i], Some(t[i + 1..].trim())),
            None => (t, None),
        };
        let d: Vec<&str> = date.split('-').collect();
        if d.len() != 3 || d[0].len() != 4 {
            return Err(malformed());
        }
        let year: i64 = d[0].parse().map_err(|_| malformed())?;
        let month: i64 = d[1].parse().map_err(|_| malformed())?;
        let day: i64 = d[2].parse().map_err(|_| malformed())?;
        let (hour, minute, second) = match time {
            Some(time) if !time.is_empty() => parse_time_of_day(time).ok_or_else(malformed)?,
            _ => (0, 0, 0.0),
        };
        if !(1..=12).contains(&month)
            || !(1..=31).contains(&day)
            || !(0..=23).contains(&hour)
            || !(0..=59).contains(&minute)
            || !(0.0..61.0).contains(&second)
        {
            return Err(TimeError::OutOfRange(text.trim().to_string()));
        }
        Ok(UtcInstant::from_calendar(
            year, month, day, hour, minute, second,
        ))
    }

    /// Combines a date-only value (`YYYY-MM-DD`) with a separate time-of-day value
    /// (`hh:mm:ss[.s]`, as SAAO's `UT` or LCO's `UTSTART`).
    pub fn parse_date_and_time(date: &str, time: &str) -> Result<Self, TimeError> {
        let day = UtcInstant::parse_iso(date)?;
        let (h, m, s) = parse_time_of_day(time.trim())
            .ok_or_else(|| TimeError::Malformed(time.trim().to_string()))?;
        Ok(day.plus_seconds((h * 3600 + m * 60) as f64 + s))
    }

    pub fn plus_seconds(self, seconds: f64) -> Self {
        let total = self.seconds_of_day + seconds;
        let days = (total / 86400.0).floor();
        UtcInstant {
            mjd_day: self.mjd_day + days as i64,
            seconds_of_day: total - days * 86400.0,
        }
    }

    /// Modified Julian Date (UTC).
    pub fn mjd(&self) -> f64 {
        self.mjd_day as f64 + self.seconds_of_day / 86400.0
    }

    /// Julian Date (UTC).
    pub fn jd(&self) -> f64 {
        self.mjd() + MJD_ZERO_JD
    }

    /// Calendar fields (year, month, day, hour, minute, second).
    pub fn calendar(&self) -> (i64, i64, i64, i64, i64, f64) {
        let (y, mo, d) = civil_date_of_mjd(self.mjd_day);
        let h = (self.seconds_of_day / 3600.0).floor() as i64;
        let mi = ((self.seconds_of_day - h as f64 * 3600.0) / 60.0).floor() as i64;
        let s = self.seconds_of_day - (h * 3600 + mi * 60) as f64;
        (y, mo, d, h, mi, s)
    }

    /// TAI − UTC in seconds at this instant: the step table from 1972 on, the drift formulas
    /// of 1961–1971 before (`LEAP_SECONDS`, `DRIFT_1961_1971`, from USNO `tai-utc.dat`).
    pub fn tai_minus_utc_s(&self) -> Result<f64, TimeError> {
        if let Some(step) = LEAP_SECONDS
            .iter()
            .rev()
            .find(|step| self.mjd_day >= step.start_mjd)
        {
            return Ok(step.tai_minus_utc_s);
        }
        DRIFT_1961_1971
            .iter()
            .rev()
            .find(|drift| self.mjd_day >= drift.start_mjd)
            .map(|drift| drift.tai_minus_utc_s(self.mjd()))
            .ok_or_else(|| TimeError::BeforeUtc(self.to_string()))
    }

    /// TT − UTC in seconds (= TAI − UTC + 32.184 s; 69.184 s since 2017).
    pub fn tt_minus_utc_s(&self) -> Result<f64, TimeError> {
        Ok(self.tai_minus_utc_s()? + TT_MINUS_TAI_S)
    }

    /// TDB − UTC in seconds (TT − UTC plus the periodic [`tdb_minus_tt_s`]).
    pub fn tdb_minus_utc_s(&self) -> Result<f64, TimeError> {
        let tt_minus_utc = self.tt_minus_utc_s()?;
        let jd_tt = self.plus_seconds(tt_minus_utc).jd();
        Ok(tt_minus_utc + tdb_minus_tt_s(jd_tt))
    }

    /// Julian Date on the TT scale.
    pub fn jd_tt(&self) -> Result<f64, TimeError> {
        Ok(self.plus_seconds(self.tt_minus_utc_s()?).jd())
    }

    /// Julian Date on the TDB scale (the argument of the ephemerides).
    pub fn jd_tdb(&self) -> Result<f64, TimeError> {
        Ok(self.plus_seconds(self.tdb_minus_utc_s()?).jd())
    }

    /// Modified Julian Date on the TDB scale (0.6 µs resolution instead of the JD's 40 µs).
    pub fn mjd_tdb(&self) -> Result<f64, TimeError> {
        Ok(self.plus_seconds(self.tdb_minus_utc_s()?).mjd())
    }

    /// Seconds from `earlier` to `self` (both UTC, 86400 s per day).
    pub fn seconds_since(&self, earlier: &UtcInstant) -> f64 {
        (self.mjd_day - earlier.mjd_day) as f64 * 86400.0
            + (self.seconds_of_day - earlier.seconds_of_day)
    }
}

impl fmt::Display for UtcInstant {
    /// ISO 8601 with milliseconds, as FITS writes DATE-OBS.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let rounded = UtcInstant {
            mjd_day: self.mjd_day,
            seconds_of_day: (self.seconds_of_day * 1000.0).round() / 1000.0,
        }
        .plus_seconds(0.0);
        let (y, mo, d, h, mi, s) = rounded.calendar();
        write!(f, "{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:06.3}")
    }
}

fn parse_time_of_day(time: &str) -> Option<(i64, i64, f64)> {
    let parts: Vec<&str> = time.split(':').collect();
    if parts.len() < 2 || parts.len() > 3 {
        return None;
    }
    let hour = parts[0].trim().parse().ok()?;
    let minute = parts[1].trim().parse().ok()?;
    let second = match parts.get(2) {
        Some(s) => s.trim().parse().ok()?,
        None => 0.0,
    };
    Some((hour, minute, second))
}

/// MJD at 0h UTC of a proleptic Gregorian date (Fliegel & Van Flandern 1968).
pub const fn mjd_of_civil_date(year: i64, month: i64, day: i64) -> i64 {
    let a = (month - 14) / 12;
    let jdn = (1461 * (year + 4800 + a)) / 4 + (367 * (month - 2 - 12 * a)) / 12
        - (3 * ((year + 4900 + a) / 100)) / 4
        + day
        - 32075;
    jdn - 2_400_001
}

/// Inverse of [`mjd_of_civil_date`] (Fliegel & Van Flandern 1968).
pub fn civil_date_of_mjd(mjd_day: i64) -> (i64, i64, i64) {
    let mut l = mjd_day + 2_400_001 + 68569;
    let n = (4 * l) / 146097;
    l -= (146097 * n + 3) / 4;
    let i = (4000 * (l + 1)) / 1461001;
    l = l - (1461 * i) / 4 + 31;
    let j = (80 * l) / 2447;
    let day = l - (2447 * j) / 80;
    l = j / 11;
    let month = j + 2 - 12 * l;
    let year = 100 * (n - 49) + i + l;
    (year, month, day)
}

// ---------------------------------------------------------------------------------------------
// TAI − UTC
// ---------------------------------------------------------------------------------------------

/// From a date on (0h UTC), TAI − UTC is a whole number of seconds.
struct LeapStep {
    start_mjd: i64,
    tai_minus_utc_s: f64,
}

const fn step(year: i64, month: i64, tai_minus_utc_s: f64) -> LeapStep {
    LeapStep {
        start_mjd: mjd_of_civil_date(year, month, 1),
        tai_minus_utc_s,
    }
}

/// TAI − UTC since 1972 (integer steps). Source: USNO `tai-utc.dat`
/// (maia.usno.navy.mil/ser7/tai-utc.dat), which tabulates the IERS Bulletin C announcements;
/// each line here is a line of that file (effective date, TAI − UTC).
///
/// LAST ENTRY: 2017-01-01, 37 s (leap second 2016-12-31 23:59:60, IERS Bulletin C 52). No leap
/// second has been announced since; Bulletin C (January and July) announces each one six
/// months ahead. When a new one is announced, append its date and the new value here (and a
/// test date after it).
const LEAP_SECONDS: [LeapStep; 28] = [
    step(1972, 1, 10.0),
    step(1972, 7, 11.0),
    step(1973, 1, 12.0),
    step(1974, 1, 13.0),
    step(1975, 1, 14.0),
    step(1976, 1, 15.0),
    step(1977, 1, 16.0),
    step(1978, 1, 17.0),
    step(1979, 1, 18.0),
    step(1980, 1, 19.0),
    step(1981, 7, 20.0),
    step(1982, 7, 21.0),
    step(1983, 7, 22.0),
    step(1985, 7, 23.0),
    step(1988, 1, 24.0),
    step(1990, 1, 25.0),
    step(1991, 1, 26.0),
    step(1992, 7, 27.0),
    step(1993, 7, 28.0),
    step(1994, 7, 29.0),
    step(1996, 1, 30.0),
    step(1997, 7, 31.0),
    step(1999, 1, 32.0),
    step(2006, 1, 33.0),
    step(2009, 1, 34.0),
    step(2012, 7, 35.0),
    step(2015, 7, 36.0),
    step(2017, 1, 37.0),
];

/// From a date on, TAI − UTC = a + (MJD − b)·c seconds (UTC with a rate offset, 1961–1971).
struct UtcDrift {
    start_mjd: i64,
    a_s: f64,
    b_mjd: f64,
    c_s_per_day: f64,
}

const fn drift(year: i64, month: i64, a_s: f64, b_mjd: f64, c_s_per_day: f64) -> UtcDrift {
    UtcDrift {
        start_mjd: mjd_of_civil_date(year, month, 1),
        a_s,
        b_mjd,
        c_s_per_day,
    }
}

impl UtcDrift {
    fn tai_minus_utc_s(&self, mjd_utc: f64) -> f64 {
        self.a_s + (mjd_utc - self.b_mjd) * self.c_s_per_day
    }
}

/// TAI − UTC = a + (MJD − b)·c for 1961-01-01 … 1971-12-31, the first 13 lines of USNO
/// `tai-utc.dat` (same source as [`LEAP_SECONDS`]).
const DRIFT_1961_1971: [UtcDrift; 13] = [
    drift(1961, 1, 1.422_818_0, 37300.0, 0.001_296),
    drift(1961, 8, 1.372_818_0, 37300.0, 0.001_296),
    drift(1962, 1, 1.845_858_0, 37665.0, 0.001_123_2),
    drift(1963, 11, 1.945_858_0, 37665.0, 0.001_123_2),
    drift(1964, 1, 3.240_130_0, 38761.0, 0.001_296),
    drift(1964, 4, 3.340_130_0, 38761.0, 0.001_296),
    drift(1964, 9, 3.440_130_0, 38761.0, 0.001_296),
    drift(1965, 1, 3.540_130_0, 38761.0, 0.001_296),
    drift(1965, 3, 3.640_130_0, 38761.0, 0.001_296),
    drift(1965, 7, 3.740_130_0, 38761.0, 0.001_296),
    drift(1965, 9, 3.840_130_0, 38761.0, 0.001_296),
    drift(1966, 1, 4.313_170_0, 39126.0, 0.002_592),
    drift(1968, 2, 4.213_170_0, 39126.0, 0.002_592),
];

/// TDB − TT in seconds at a Julian Date (TT or TDB: the difference is immaterial here):
/// 0.001657 s·sin g + 0.000014 s·sin 2g, g = 357.53° + 0.98560028°·(JD − 2451545.0) the Earth's
/// mean anomaly (USNO Circular 179 eq. 2.6; Explanatory Supplement 1992 §2.222). |TDB − TT| ≤
/// 1.671 ms.
pub fn tdb_minus_tt_s(jd: f64) -> f64 {
    let g = (357.53 + 0.985_600_28 * (jd - JD_J2000)).to_radians();
    0.001_657 * g.sin() + 0.000_014 * (2.0 * g).sin()
}

// ---------------------------------------------------------------------------------------------
// Durations
// ---------------------------------------------------------------------------------------------

/// Parses a duration such as `6h`, `30 min`, `1.5d`, `90s` into seconds. The unit is required
/// (s, sec, second(s); min, minute(s); h, hr, hour(s); d, day(s); any case) and the number must
/// be positive and finite.
pub fn parse_duration_s(text: &str) -> Result<f64, TimeError> {
    let trimmed = text.trim();
    let bad = |reason: &str| TimeError::BadDuration {
        text: trimmed.to_string(),
        reason: reason.to_string(),
    };
    let unit_start = trimmed
        .char_indices()
        .rev()
        .take_while(|(_, c)| c.is_ascii_alphabetic())
        .last()
        .map_or(trimmed.len(), |(i, _)| i);
    let (number, unit) = trimmed.split_at(unit_start);
    let number = number.trim();
    if number.is_empty() {
        return Err(bad("no number"));
    }
    let seconds_per_unit = match unit.to_ascii_lowercase().as_str() {
        "" => return Err(bad("no unit")),
        "s" | "sec" | "secs" | "second" | "seconds" => 1.0,
        "min" | "mins" | "minute" | "minutes" => 60.0,
        "h" | "hr" | "hrs" | "hour" | "hours" => 3600.0,
        "d" | "day" | "days" => 86400.0,
        _ => return Err(bad(&format!("unknown unit '{unit}'"))),
    };
    let value: f64 = number
        .parse()
        .map_err(|_| bad(&format!("'{number}' is not a number")))?;
    let seconds = value * seconds_per_unit;
    if !seconds.is_finite() || seconds <= 0.0 {
        return Err(bad("it must be positive and finite"));
    }
    Ok(seconds)
}

// ---------------------------------------------------------------------------------------------
// Earth rotation
// ---------------------------------------------------------------------------------------------

/// Earth rotation angle in radians, [0, 2π): ERA = 2π(0.7790572732640 + 1.00273781191135448·Du),
/// Du = JD(UT1) − 2451545.0 (IERS Conventions 2010 eq. 5.15). Computed as
/// 2π·frac(frac(Du) + 0.7790572732640 + 0.00273781191135448·Du) to keep the precision of Du.
///
/// UT1 is not tabulated here: pass JD(UTC). |UT1 − UTC| < 0.9 s (the purpose of leap seconds)
/// turns the Earth by at most 0.9 s × 15.04″/s ≈ 13.5″ (6.5e-5 rad), moving a site by ≤ 420 m
/// along its parallel. On a topocentric correction (≤ 8.8″/Δ[au], so ≤ 20″ beyond Δ ≈ 0.44 au)
/// that is ≤ 6.5e-5 × 20″ = 0.0013″: negligible.
pub fn era_rad(jd_ut1: f64) -> f64 {
    let du = jd_ut1 - JD_J2000;
    let turns = du.rem_euclid(1.0) + 0.779_057_273_264_0 + 0.002_737_811_911_354_48 * du;
    TAU * turns.rem_euclid(1.0)
}

/// Greenwich mean sidereal time (IAU 2006) in radians, [0, 2π): GMST = ERA(UT1) + 0.014506″ +
/// 4612.156534″ t + 1.3915817″ t² − 0.00000044″ t³ − 0.000029956″ t⁴ − 0.0000000368″ t⁵,
/// t = (JD(TT) − 2451545.0)/36525 (Capitaine, Wallace & Chapront 2003, A&A 412, 567; IERS
/// Conventions 2010 eq. 5.32). It is the hour angle of the mean equinox of date, consistent
/// with the IAU 2006 precession. See [`era_rad`] on passing UTC for UT1.
pub fn gmst_rad(jd_ut1: f64, jd_tt: f64) -> f64 {
    let t = (jd_tt - JD_J2000) / 36525.0;
    let poly_arcsec = 0.014_506
        + t * (4_612.156_534
            + t * (1.391_581_7 + t * (-0.000_000_44 + t * (-0.000_029_956 - 0.000_000_036_8 * t))));
    (era_rad(jd_ut1) + (poly_arcsec / 3600.0).to_radians()).rem_euclid(TAU)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_mjds() {
        // MJD 51544.5 is J2000.0 (2000-01-01T12:00 TT; here the same calendar instant in UTC).
        let t = UtcInstant::parse_iso("2000-01-01T12:00:00").unwrap();
        assert_eq!(t.mjd(), 51544.5);
        // EFOSC2 header: MJD-OBS = 59607.20444839 / MJD start (2022-01-28T04:54:24.341)
        // (DATE-OBS says .340: the header's own 1 ms rounding). 8 decimals: ±5e-9 d.
        let t = UtcInstant::parse_iso("2022-01-28T04:54:24.341").unwrap();
        assert!((t.mjd() - 59607.20444839).abs() <= 5e-9);
        // The Unix epoch is MJD 40587. (The real LCO header is no check: its MJD-OBS
        // 59495.0800082 is 4.4 s before its own DATE-OBS/UTSTART 01:55:17.144.)
        let t = UtcInstant::parse_iso("1970-01-01T00:00:00Z").unwrap();
        assert_eq!(t.mjd(), 40587.0);
    }

    #[test]
    fn date_only_and_separate_time() {
        let d = UtcInstant::parse_iso("2013-07-13").unwrap();
        assert_eq!(d.mjd(), 56486.0); // SAAO header MJD-OBS
        let t = UtcInstant::parse_date_and_time("2013-07-13", "00:57:33").unwrap();
        assert!((t.mjd() - (56486.0 + 3453.0 / 86400.0)).abs() < 1e-12);
    }

    #[test]
    fn rejects_malformed_and_out_of_range() {
        assert!(matches!(
            UtcInstant::parse_iso("17/02/17"),
            Err(TimeError::Malformed(_))
        ));
        assert!(matches!(
            UtcInstant::parse_iso("2017-13-01T00:00:00"),
            Err(TimeError::OutOfRange(_))
        ));
        assert!(UtcInstant::parse_iso("2017-02-17T20:xx:00").is_err());
    }

    #[test]
    fn adding_seconds_crosses_midnight_and_formats() {
        let t = UtcInstant::parse_iso("2025-07-31T23:59:00.000")
            .unwrap()
            .plus_seconds(120.0);
        assert_eq!(t.to_string(), "2025-08-01T00:01:00.000");
        for mjd in [0i64, 51544, 60887, -678000] {
            let (y, m, d) = civil_date_of_mjd(mjd);
            assert_eq!(mjd_of_civil_date(y, m, d), mjd);
        }
    }

    fn utc(text: &str) -> UtcInstant {
        UtcInstant::parse_iso(text).unwrap()
    }

    #[test]
    fn leap_second_table_dates_are_the_julian_dates_of_tai_utc_dat() {
        // JD column of tai-utc.dat for the first and last lines of each table.
        assert_eq!(DRIFT_1961_1971[0].start_mjd as f64 + MJD_ZERO_JD, 2437300.5);
        assert_eq!(
            DRIFT_1961_1971[12].start_mjd as f64 + MJD_ZERO_JD,
            2439887.5
        );
        assert_eq!(LEAP_SECONDS[0].start_mjd as f64 + MJD_ZERO_JD, 2441317.5);
        assert_eq!(LEAP_SECONDS[10].start_mjd as f64 + MJD_ZERO_JD, 2444786.5); // 1981 JUL 1
        assert_eq!(LEAP_SECONDS[27].start_mjd as f64 + MJD_ZERO_JD, 2457754.5);
        // Each step is one second, in date order.
        for pair in LEAP_SECONDS.windows(2) {
            assert!(pair[1].start_mjd > pair[0].start_mjd);
            assert_eq!(pair[1].tai_minus_utc_s - pair[0].tai_minus_utc_s, 1.0);
        }
    }

    #[test]
    fn tai_minus_utc_at_known_dates() {
        let cases = [
            ("1972-01-01T00:00:00", 10.0),
            ("1972-06-30T23:59:59", 10.0),
            ("1972-07-01T00:00:00", 11.0),
            ("1998-12-31T23:59:59.999", 31.0),
            ("1999-01-01T00:00:00", 32.0),
            ("2016-12-31T23:59:59", 36.0),
            ("2017-01-01T00:00:00", 37.0),
            ("2017-02-17T20:31:31.940", 37.0), // the ALFOSC frames
            ("2025-08-01T00:00:00", 37.0),
        ];
        for (date, expected) in cases {
            assert_eq!(utc(date).tai_minus_utc_s().unwrap(), expected, "{date}");
        }
        // 1965-01-01 0h (MJD 38761): 3.5401300 s + (38761 − 38761)·0.001296 s.
        let t = utc("1965-01-01");
        assert!((t.tai_minus_utc_s().unwrap() - 3.540_130).abs() < 1e-12);
        // 1970-01-01 0h (MJD 40587): 4.2131700 + (40587 − 39126)·0.002592 = 8.0000820 s.
        let t = utc("1970-01-01");
        assert!((t.tai_minus_utc_s().unwrap() - 8.000_082).abs() < 1e-9);
        // 1961-01-01 0h is the first instant of UTC: 1.4228180 s.
        let t = utc("1961-01-01");
        assert!((t.tai_minus_utc_s().unwrap() - 1.422_818).abs() < 1e-12);
    }

    #[test]
    fn before_1961_there_is_no_utc() {
        let t = utc("1960-12-31T23:59:59.999");
        assert!(matches!(t.tai_minus_utc_s(), Err(TimeError::BeforeUtc(_))));
        assert!(matches!(t.jd_tt(), Err(TimeError::BeforeUtc(_))));
        assert!(matches!(t.jd_tdb(), Err(TimeError::BeforeUtc(_))));
        let message = t.jd_tt().unwrap_err().to_string();
        assert!(message.contains("1960-12-31T23:59:59.999"), "{message}");
        // A TDB instant whose UTC would precede 1961 (TDB − UTC ≈ 33.6 s then).
        assert!(matches!(
            UtcInstant::from_jd_tdb(2437300.5 + 10.0 / 86400.0),
            Err(TimeError::BeforeUtc(_))
        ));
    }

    #[test]
    fn tt_minus_utc_is_69_184_s_in_2025() {
        let t = utc("2025-08-01T21:30:00");
        assert_eq!(t.tt_minus_utc_s().unwrap(), 69.184);
        let dt_s = (t.jd_tt().unwrap() - t.jd()) * 86400.0;
        assert!((dt_s - 69.184).abs() < 1e-4, "{dt_s}"); // JD resolution 40 µs
    }

    #[test]
    fn tdb_minus_tt_amplitude_and_phase() {
        // Over a year the periodic term spans ±(1.657 + 0.014) ms at most.
        let max = (0..3660)
            .map(|i| tdb_minus_tt_s(JD_J2000 + i as f64 * 0.1).abs())
            .fold(0.0, f64::max);
        assert!(max <= 1.7e-3 && max > 1.6e-3, "{max}");
        // Zero crossings near perihelion (g ≈ 0, early January) and largest in early April
        // (g ≈ 90°): g = 90° at JD 2451545 + (90 + 2.47)/0.98560028.
        assert!(tdb_minus_tt_s(JD_J2000 + 2.47 / 0.985_600_28).abs() < 1e-8);
        let april = tdb_minus_tt_s(JD_J2000 + 92.47 / 0.985_600_28);
        assert!((april - 0.001_657).abs() < 1e-8, "{april}");
    }

    #[test]
    fn jd_tdb_round_trips() {
        for text in [
            "1961-03-01T00:00:00",
            "1969-07-20T20:17:40",
            "2017-02-17T20:41:31.940",
            "2025-08-01T21:30:00.123456",
            "2016-12-31T23:58:00",
        ] {
            let t = utc(text);
            // Through the MJD (0.6 µs resolution): < 1 µs.
            let back = UtcInstant::from_mjd_tdb(t.mjd_tdb().unwrap()).unwrap();
            let error_s = back.seconds_since(&t).abs();
            assert!(error_s < 1e-6, "{text}: {error_s} s");
            // Through the JD: the f64 JD itself is quantised to 2⁻³¹ d = 40 µs.
            let jd = t.jd_tdb().unwrap();
            let back = UtcInstant::from_jd_tdb(jd).unwrap();
            assert!(back.seconds_since(&t).abs() <= 2.5e-5, "{text}");
            // And a JD comes back to itself within one unit of its last place.
            let again = back.jd_tdb().unwrap();
            assert!((again - jd).abs() <= 2f64.powi(-31), "{text}");
        }
    }

    #[test]
    fn tdb_is_utc_plus_about_69_18_s_in_2025() {
        let t = utc("2025-04-03T00:00:00"); // g ≈ 90°: TDB − TT ≈ +1.66 ms
        let dt_s = t.tdb_minus_utc_s().unwrap();
        assert!((dt_s - 69.184 - 0.001_66).abs() < 2e-5, "{dt_s}");
    }

    #[test]
    fn from_numbers() {
        let t = UtcInstant::from_mjd(60888.25).unwrap();
        assert_eq!(t.to_string(), "2025-08-01T06:00:00.000");
        let t = UtcInstant::from_jd_utc(2451545.0).unwrap();
        assert_eq!(t.to_string(), "2000-01-01T12:00:00.000");
        let t = UtcInstant::from_mjd(-0.5).unwrap();
        assert_eq!(t.to_string(), "1858-11-16T12:00:00.000");
        for bad in [f64::NAN, f64::INFINITY, 1e12] {
            assert!(matches!(
                UtcInstant::from_mjd(bad),
                Err(TimeError::InvalidNumber(_))
            ));
        }
        assert!(UtcInstant::from_jd_utc(f64::NAN).is_err());
        assert!(UtcInstant::from_jd_tdb(f64::NEG_INFINITY).is_err());
    }

    #[test]
    fn durations() {
        let cases = [
            ("6h", 21600.0),
            ("30 min", 1800.0),
            ("1.5d", 129600.0),
            ("90s", 90.0),
            (" 2 hours ", 7200.0),
            ("1e3 s", 1000.0),
            ("0.5 Day", 43200.0),
            ("10MIN", 600.0),
            ("3 sec", 3.0),
            ("1 hr", 3600.0),
        ];
        for (text, expected) in cases {
            assert_eq!(parse_duration_s(text), Ok(expected), "{text}");
        }
    }

    #[test]
    fn bad_durations_say_why() {
        let cases = [
            ("", "no number"),
            ("h", "no number"),
            ("3600", "no unit"),
            ("6 weeks", "unknown unit 'weeks'"),
            ("6m", "unknown unit 'm'"),
            ("six h", "'six' is not a number"),
            ("6.x h", "'6.x' is not a number"),
            ("-6h", "positive"),
            ("0 s", "positive"),
            ("1e400 s", "finite"),
        ];
        for (text, why) in cases {
            let err = parse_duration_s(text).unwrap_err();
            let message = err.to_string();
            assert!(message.contains(why), "{text}: {message}");
            assert!(message.contains(&format!("'{}'", text.trim())), "{message}");
        }
    }

    #[test]
    fn earth_rotation_angle_at_published_epochs() {
        // ERA at J2000.0 (JD 2451545.0 UT1) is 2π·0.7790572732640 = 280.46061837504°.
        assert!((era_rad(JD_J2000).to_degrees() - 280.460_618_375_04).abs() < 1e-9);
        // SOFA/ERFA test value: iauEra00(2400000.5, 54388.0) = 0.4022837240028158102 rad.
        assert!((era_rad(2_454_388.5) - 0.402_283_724_002_815_8).abs() < 1e-11);
    }

    #[test]
    fn gmst_at_published_epochs() {
        // 2000-01-01 12:00 UT1 (TT taken equal): GMST = ERA + 0.014506″ = 280.46062240°
        // = 18h41m50.5494s. The IAU 1982 expression (Aoki et al. 1982) gives 18h41m50.54841s
        // there; the IAU 2006 one differs by its constant 0.014506″ = 0.97 ms.
        let gmst_deg = gmst_rad(JD_J2000, JD_J2000).to_degrees();
        assert!((gmst_deg - (280.460_618_375_04 + 0.014_506 / 3600.0)).abs() < 1e-9);
        let gmst_s = (gmst_deg / 15.0 - 18.0) * 3600.0 - 41.0 * 60.0;
        assert!((gmst_s - 50.548_41).abs() < 1.5e-3, "{gmst_s}");
        // SOFA/ERFA test value: iauGmst06(2400000.5, 53736.0, 2400000.5, 53736.0)
        // = 1.754174971870091203 rad (2006-01-01 0h, UT1 = TT). f64 JD: ~1e-10 rad.
        let g = gmst_rad(2_453_736.5, 2_453_736.5);
        assert!((g - 1.754_174_971_870_091).abs() < 1e-9, "{g}");
    }
}
