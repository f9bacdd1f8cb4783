//! `CronSchedule`: a CronJob's `schedule` in its `timeZone`, and the times it fires.
//!
//! The expression is standard five-field cron with the `@yearly`, `@monthly`, `@weekly`,
//! `@daily`/`@midnight` and `@hourly` macros (parsed by `croner`, no seconds or years); the
//! time zone is an IANA name looked up in the tz database `jiff` bundles, so every machine
//! agrees, and UTC when unset. As in Kubernetes, `TZ=` or `CRON_TZ=` inside the schedule is
//! refused in favour of `timeZone`.

use std::time::SystemTime;

use croner::Cron;
use croner::parser::{CronParser, Seconds, Year};
use jiff::tz::TimeZone;
use jiff::{Timestamp, Zoned};
use thiserror::Error;

/// A parsed schedule in its time zone.
#[derive(Debug, Clone)]
pub struct CronSchedule {
    cron: Cron,
    zone: TimeZone,
}

/// Why a schedule or time zone is refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ScheduleError {
    /// The expression is not standard cron.
    #[error("{reason}")]
    Expression { reason: String },
    /// The expression carries its own time zone.
    #[error("cannot use TZ or CRON_TZ in schedule, use timeZone field instead")]
    ZoneInSchedule,
    /// The time zone is not in the tz database.
    #[error("unknown time zone {name}")]
    UnknownZone { name: String },
}

impl CronSchedule {
    /// Parses `schedule`, to be read in `time_zone` (UTC when `None`).
    pub fn parse(schedule: &str, time_zone: Option<&str>) -> Result<Self, ScheduleError> {
        let trimmed = schedule.trim_start();
        if trimmed.starts_with("TZ=") || trimmed.starts_with("CRON_TZ=") {
            return Err(ScheduleError::ZoneInSchedule);
        }
        let zone = parse_zone(time_zone)?;
        // Kubernetes' cron library knows `@midnight`, croner only its twin `@daily`.
        let schedule = if schedule.trim().eq_ignore_ascii_case("@midnight") {
            "@daily"
        } else {
            schedule
        };
        let cron = CronParser::builder()
            .seconds(Seconds::Disallowed)
            .year(Year::Disallowed)
            .build()
            .parse(schedule)
            .map_err(|error| ScheduleError::Expression {
                reason: error.to_string(),
            })?;
        Ok(Self { cron, zone })
    }

    /// The first time the schedule fires strictly after `after`; `None` if it never does.
    pub fn next_after(&self, after: SystemTime) -> Option<SystemTime> {
        let start = self.zoned(after)?;
        let next = self.cron.find_next_occurrence(&start, false).ok()?;
        Some(SystemTime::from(next.timestamp()))
    }

    /// The last time the schedule fired at or before `at`; `None` if it never did.
    pub fn last_at_or_before(&self, at: SystemTime) -> Option<SystemTime> {
        let start = self.zoned(at)?;
        let previous = self.cron.find_previous_occurrence(&start, true).ok()?;
        Some(SystemTime::from(previous.timestamp()))
    }

    /// `time` on the wall clock of the schedule's zone, RFC 3339 with its offset.
    pub fn local_text(&self, time: SystemTime) -> String {
        self.zoned(time).map_or_else(String::new, |zoned| {
            zoned.strftime("%Y-%m-%dT%H:%M:%S%:z").to_string()
        })
    }

    fn zoned(&self, time: SystemTime) -> Option<Zoned> {
        Timestamp::try_from(time)
            .ok()
            .map(|timestamp| timestamp.to_zoned(self.zone.clone()))
    }
}

/// Checks a time zone name alone (for validation).
pub fn parse_zone(name: Option<&str>) -> Result<TimeZone, ScheduleError> {
    match name {
        None => Ok(TimeZone::UTC),
        Some(name) => jiff::tz::db()
            .get(name)
            .map_err(|_| ScheduleError::UnknownZone {
                name: name.to_owned(),
            }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(text: &str) -> SystemTime {
        SystemTime::from(text.parse::<Timestamp>().unwrap())
    }

    fn text(time: SystemTime) -> String {
        Timestamp::try_from(time).unwrap().to_string()
    }

    #[test]
    fn next_times_follow_standard_cron() {
        let cases = [
            (
                "*/1 * * * *",
                None,
                "2026-12-07T10:00:30Z",
                "2026-12-07T10:01:00Z",
            ),
            (
                "*/15 * * * *",
                None,
                "2026-12-07T10:15:00Z",
                "2026-12-07T10:30:00Z",
            ),
            (
                "@hourly",
                None,
                "2026-12-07T10:00:00Z",
                "2026-12-07T11:00:00Z",
            ),
            (
                "@daily",
                None,
                "2026-12-07T10:00:00Z",
                "2026-12-08T00:00:00Z",
            ),
            (
                "@midnight",
                None,
                "2026-12-07T10:00:00Z",
                "2026-12-08T00:00:00Z",
            ),
            (
                "@weekly",
                None,
                "2026-12-07T10:00:00Z",
                "2026-12-13T00:00:00Z",
            ),
            (
                "@monthly",
                None,
                "2026-12-07T10:00:00Z",
                "2027-01-01T00:00:00Z",
            ),
            (
                "@yearly",
                None,
                "2026-12-07T10:00:00Z",
                "2027-01-01T00:00:00Z",
            ),
            (
                "0 9 * * MON-FRI",
                None,
                "2026-12-05T10:00:00Z",
                "2026-12-07T09:00:00Z",
            ),
            (
                "30 2 1 JAN *",
                None,
                "2026-12-07T10:00:00Z",
                "2027-01-01T02:30:00Z",
            ),
            // Day of month OR day of week when both are restricted, as in cron.
            (
                "0 0 13 * 5",
                None,
                "2026-12-07T00:00:00Z",
                "2026-12-11T00:00:00Z",
            ),
            // Nine in the morning in Berlin is eight in UTC in winter, seven in summer.
            (
                "0 9 * * *",
                Some("Europe/Berlin"),
                "2026-12-07T10:00:00Z",
                "2026-12-08T08:00:00Z",
            ),
            (
                "0 9 * * *",
                Some("Europe/Berlin"),
                "2026-07-07T10:00:00Z",
                "2026-07-08T07:00:00Z",
            ),
            (
                "0 0 * * *",
                Some("America/New_York"),
                "2026-12-07T10:00:00Z",
                "2026-12-08T05:00:00Z",
            ),
        ];
        for (schedule, zone, after, want) in cases {
            let parsed = CronSchedule::parse(schedule, zone).unwrap();
            let next = parsed.next_after(utc(after)).unwrap();
            assert_eq!(text(next), want, "{schedule} in {zone:?} after {after}");
        }
    }

    #[test]
    fn the_last_time_at_or_before_includes_the_instant_itself() {
        let schedule = CronSchedule::parse("*/5 * * * *", None).unwrap();
        let at = |t| text(schedule.last_at_or_before(utc(t)).unwrap());
        assert_eq!(at("2026-12-07T10:05:00Z"), "2026-12-07T10:05:00Z");
        assert_eq!(at("2026-12-07T10:09:59Z"), "2026-12-07T10:05:00Z");
    }

    #[test]
    fn bad_schedules_and_zones_are_refused() {
        for schedule in [
            "",
            "* * * *",
            "61 * * * *",
            "* * * * * *",
            "@every-day",
            "x y z a b",
        ] {
            assert!(
                matches!(
                    CronSchedule::parse(schedule, None),
                    Err(ScheduleError::Expression { .. })
                ),
                "{schedule:?}"
            );
        }
        assert_eq!(
            CronSchedule::parse("TZ=UTC 0 * * * *", None).unwrap_err(),
            ScheduleError::ZoneInSchedule
        );
        assert_eq!(
            CronSchedule::parse("0 * * * *", Some("Mars/Olympus"))
                .unwrap_err()
                .to_string(),
            "unknown time zone Mars/Olympus"
        );
    }

    #[test]
    fn local_text_shows_the_zone_offset() {
        let schedule = CronSchedule::parse("0 9 * * *", Some("Europe/Berlin")).unwrap();
        assert_eq!(
            schedule.local_text(utc("2026-12-08T08:00:00Z")),
            "2026-12-08T09:00:00+01:00"
        );
    }
}
