//! UTC instants as written in FITS headers (ISO 8601, FITS standard 4.0 §9.1.1) and their
//! Modified Julian Dates.
//!
//! MJD on the UTC scale is computed from the proleptic Gregorian calendar with the day-count
//! algorithm of Fliegel & Van Flandern (1968, Comm. ACM 11, 657): JD at 0h of a civil date,
//! MJD = JD − 2400000.5. Leap seconds are ignored within a day (UTC days are taken as
//! 86400 s), which is the convention of MJD-OBS keywords.

use std::fmt;
use thiserror::Error;

#[derive(Debug, Error, PartialEq)]
pub enum TimeError {
    #[error("'{0}' is not an ISO 8601 date (expected YYYY-MM-DD or YYYY-MM-DDThh:mm:ss[.sss])")]
    Malformed(String),
    #[error("'{0}' has a field out of range")]
    OutOfRange(String),
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
        self.mjd() + 2_400_000.5
    }

    /// Calendar fields (year, month, day, hour, minute, second).
    pub fn calendar(&self) -> (i64, i64, i64, i64, i64, f64) {
        let (y, mo, d) = civil_date_of_mjd(self.mjd_day);
        let h = (self.seconds_of_day / 3600.0).floor() as i64;
        let mi = ((self.seconds_of_day - h as f64 * 3600.0) / 60.0).floor() as i64;
        let s = self.seconds_of_day - (h * 3600 + mi * 60) as f64;
        (y, mo, d, h, mi, s)
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
pub fn mjd_of_civil_date(year: i64, month: i64, day: i64) -> i64 {
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
}
