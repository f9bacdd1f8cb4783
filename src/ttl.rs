//! Durations as operators type them on the command line.

use std::time::Duration;

/// `250ms`, `30s`, `30m`, `24h`, `7d`: a whole number and a unit.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration like 500ms, 30s, 24h or 7d"))?;
    let millis: u64 = match unit {
        "ms" => 1,
        "s" => 1000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => {
            return Err(format!(
                "{text:?} has no unit; use ms, s, m, h or d (e.g. 24h)"
            ));
        }
    };
    number
        .checked_mul(millis)
        .map(Duration::from_millis)
        .ok_or_else(|| format!("{text:?} is too long"))
}

/// A [`parse_duration`] that must be more than zero (a lifetime).
pub fn parse_ttl(text: &str) -> Result<Duration, String> {
    match parse_duration(text)? {
        Duration::ZERO => Err(format!("{text:?} is zero; it must last a while")),
        ttl => Ok(ttl),
    }
}

/// etcd's `--auto-compaction-retention` in periodic mode: a duration (`30m`, `1h`), or a bare
/// number of hours (`1`); zero turns automatic compaction off.
pub fn parse_retention(text: &str) -> Result<Duration, String> {
    match text.parse::<u64>() {
        Ok(hours) => hours
            .checked_mul(3600)
            .map(Duration::from_secs)
            .ok_or_else(|| format!("{text:?} hours is too long")),
        Err(_) => parse_duration(text),
    }
}

/// A duration as [`parse_duration`] reads it, in the largest unit that keeps it exact
/// (`90m`, `1h`, `1500ms`); sub-millisecond parts are not shown.
pub fn format_duration(duration: Duration) -> String {
    let millis = duration.as_millis();
    let units = [
        (86_400_000, "d"),
        (3_600_000, "h"),
        (60_000, "m"),
        (1000, "s"),
    ];
    match units
        .iter()
        .find(|(size, _)| millis > 0 && millis.is_multiple_of(*size))
    {
        Some((size, unit)) => format!("{}{unit}", millis / size),
        None => format!("{millis}ms"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_units_and_refuse_the_rest() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("0s"), Ok(Duration::ZERO));
        assert_eq!(parse_ttl("30m"), Ok(Duration::from_secs(1800)));
        assert_eq!(parse_ttl("24h"), Ok(Duration::from_secs(86_400)));
        assert_eq!(parse_ttl("7d"), Ok(Duration::from_secs(604_800)));
        for bad in ["", "24", "h", "-1h", "1w", "1.5s", "99999999999999999999d"] {
            assert!(parse_duration(bad).is_err(), "{bad:?}");
        }
        assert!(parse_ttl("0h").is_err());
    }

    #[test]
    fn retentions_read_like_etcds_and_zero_is_off() {
        assert_eq!(parse_retention("0"), Ok(Duration::ZERO));
        assert_eq!(parse_retention("1"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_retention("30m"), Ok(Duration::from_secs(1800)));
        assert_eq!(parse_retention("2s"), Ok(Duration::from_secs(2)));
        for bad in ["", "-1", "1.5", "1w", "99999999999999999999"] {
            assert!(parse_retention(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn durations_print_as_they_are_typed() {
        for text in ["1h", "90m", "7d", "2s", "1500ms", "0ms"] {
            assert_eq!(format_duration(parse_duration(text).unwrap()), text);
        }
        assert_eq!(format_duration(Duration::from_secs(3600 * 48)), "2d");
    }
}
