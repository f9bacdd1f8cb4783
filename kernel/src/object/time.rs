//! `Time`: a timestamp as Kubernetes writes it in objects (`2026-11-22T01:55:52Z`).
//!
//! Objects carry times with second precision, so a `Time` is truncated to whole seconds when it
//! is made: a value then survives a JSON round trip unchanged and compares equal afterwards.
//! Times are also clamped to the years 0000..=9999, the range RFC 3339 can spell, so formatting
//! can never fail.

use std::fmt;
use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use thiserror::Error;

/// Seconds from the Unix epoch to 0000-01-01T00:00:00Z.
const MIN_UNIX_SECONDS: i64 = -62_167_219_200;
/// Seconds from the Unix epoch to 9999-12-31T23:59:59Z.
const MAX_UNIX_SECONDS: i64 = 253_402_300_799;
const SECONDS_PER_DAY: i64 = 86_400;

/// A point in time with second precision, serialized as RFC 3339 in UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Time(SystemTime);

/// A timestamp string that is not RFC 3339.
#[derive(Debug, Error)]
#[error("invalid timestamp {text:?}: expected RFC 3339 such as 2026-11-22T01:55:52Z")]
pub struct TimeParseError {
    /// The text that failed to parse.
    pub text: String,
}

impl Time {
    /// The current wall-clock time, truncated to the second.
    pub fn now() -> Self {
        Self::from(SystemTime::now())
    }

    /// The time as a `SystemTime`.
    pub fn system_time(&self) -> SystemTime {
        self.0
    }

    fn from_unix_seconds(seconds: i64) -> Self {
        let seconds = seconds.clamp(MIN_UNIX_SECONDS, MAX_UNIX_SECONDS);
        let magnitude = Duration::from_secs(seconds.unsigned_abs());
        let system_time = if seconds >= 0 {
            UNIX_EPOCH + magnitude
        } else {
            UNIX_EPOCH - magnitude
        };
        Self(system_time)
    }

    fn unix_seconds(&self) -> i64 {
        match self.0.duration_since(UNIX_EPOCH) {
            Ok(after) => i64::try_from(after.as_secs()).unwrap_or(MAX_UNIX_SECONDS),
            Err(before) => {
                let before = before.duration();
                let whole = i64::try_from(before.as_secs()).unwrap_or(i64::MAX);
                let partial = i64::from(before.subsec_nanos() > 0);
                -whole.saturating_add(partial)
            }
        }
    }
}

impl From<SystemTime> for Time {
    /// Truncates to the second (towards the past) and clamps to the years 0000..=9999.
    fn from(system_time: SystemTime) -> Self {
        Self::from_unix_seconds(Time(system_time).unix_seconds())
    }
}

impl fmt::Display for Time {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let seconds = self.unix_seconds();
        let days = seconds.div_euclid(SECONDS_PER_DAY);
        let second_of_day = seconds.rem_euclid(SECONDS_PER_DAY);
        let (year, month, day) = civil_from_days(days);
        write!(
            f,
            "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
            second_of_day / 3600,
            second_of_day / 60 % 60,
            second_of_day % 60
        )
    }
}

impl FromStr for Time {
    type Err = TimeParseError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let parsed = time::OffsetDateTime::parse(
            text.trim(),
            &time::format_description::well_known::Rfc3339,
        )
        .map_err(|_| TimeParseError {
            text: text.to_owned(),
        })?;
        Ok(Self::from_unix_seconds(parsed.unix_timestamp()))
    }
}

impl Serialize for Time {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Time {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// Converts days since 1970-01-01 to a proleptic Gregorian (year, month, day), counting in
/// 400-year eras of 146 097 days so that leap years need no special cases.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let shifted = days + 719_468;
    let era = shifted.div_euclid(146_097);
    let day_of_era = shifted.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_rfc3339_utc_with_seconds() {
        let time = Time::from(UNIX_EPOCH + Duration::new(1_795_312_552, 987_000_000));
        assert_eq!(time.to_string(), "2026-11-22T01:55:52Z");
        assert_eq!(Time::from(UNIX_EPOCH).to_string(), "1970-01-01T00:00:00Z");
        assert_eq!(
            Time::from_unix_seconds(951_782_400).to_string(),
            "2000-02-29T00:00:00Z"
        );
        assert_eq!(
            Time::from_unix_seconds(-1).to_string(),
            "1969-12-31T23:59:59Z"
        );
    }

    #[test]
    fn truncates_sub_second_precision() {
        let time = Time::from(UNIX_EPOCH + Duration::new(10, 999_999_999));
        assert_eq!(time.system_time(), UNIX_EPOCH + Duration::from_secs(10));
        let before = Time::from(UNIX_EPOCH - Duration::from_millis(1500));
        assert_eq!(before.system_time(), UNIX_EPOCH - Duration::from_secs(2));
    }

    #[test]
    fn clamps_to_four_digit_years() {
        let far = Time::from(UNIX_EPOCH + Duration::from_secs(u64::MAX / 2));
        assert_eq!(far.to_string(), "9999-12-31T23:59:59Z");
        let early = Time::from(UNIX_EPOCH - Duration::from_secs(100_000_000_000));
        assert_eq!(early.to_string(), "0000-01-01T00:00:00Z");
    }

    #[test]
    fn parses_offsets_and_fractions() {
        let time: Time = "2026-11-22T03:55:52.5+02:00".parse().unwrap();
        assert_eq!(time.to_string(), "2026-11-22T01:55:52Z");
        assert!("yesterday".parse::<Time>().is_err());
        assert!("2026-11-22".parse::<Time>().is_err());
    }

    #[test]
    fn json_round_trip_is_exact() {
        let now = Time::now();
        let json = serde_json::to_string(&now).unwrap();
        assert_eq!(serde_json::from_str::<Time>(&json).unwrap(), now);
        assert!(serde_json::from_str::<Time>("12").is_err());
    }

    #[test]
    fn orders_chronologically() {
        assert!(Time::from_unix_seconds(5) < Time::from_unix_seconds(6));
    }
}
