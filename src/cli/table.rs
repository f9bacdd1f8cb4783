//! Plain-text tables like kubectl's: no borders, upper-case headers, columns three spaces
//! apart, the last column unpadded; and the AGE column's compact durations (`45s`, `3m12s`,
//! `5h`, `2d`), which follow kubectl's rules so that the same age reads the same everywhere.

use std::time::SystemTime;

/// Spaces between two columns.
const COLUMN_GAP: usize = 3;

/// Rows of text cells under a header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    headers: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new<S: Into<String>>(headers: impl IntoIterator<Item = S>) -> Self {
        Self {
            headers: headers.into_iter().map(Into::into).collect(),
            rows: Vec::new(),
        }
    }

    pub fn push(&mut self, row: Vec<String>) {
        self.rows.push(row);
    }

    /// The table as lines of text, each ending in a newline.
    pub fn render(&self) -> String {
        let lines: Vec<&[String]> = std::iter::once(self.headers.as_slice())
            .chain(self.rows.iter().map(Vec::as_slice))
            .collect();
        let columns = lines.iter().map(|cells| cells.len()).max().unwrap_or(0);
        let widths: Vec<usize> = (0..columns)
            .map(|column| {
                lines
                    .iter()
                    .filter_map(|cells| cells.get(column))
                    .map(|cell| cell.chars().count())
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let mut out = String::new();
        for cells in lines {
            let mut line = String::new();
            for (column, cell) in cells.iter().enumerate() {
                line.push_str(cell);
                if column + 1 < cells.len() {
                    let padding = widths[column] - cell.chars().count() + COLUMN_GAP;
                    line.extend(std::iter::repeat_n(' ', padding));
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }
}

/// How long ago `then` was, as the AGE column shows it; `<unknown>` when it is not known.
pub fn age(now: SystemTime, then: Option<SystemTime>) -> String {
    let Some(then) = then else {
        return "<unknown>".to_string();
    };
    let seconds = match now.duration_since(then) {
        Ok(elapsed) => i64::try_from(elapsed.as_secs()).unwrap_or(i64::MAX),
        Err(ahead) => -i64::try_from(ahead.duration().as_secs()).unwrap_or(i64::MAX),
    };
    human_duration(seconds)
}

/// When `expires` comes, from `now`: `in 23h`, or `expired 5m ago`.
pub fn expiry(now: SystemTime, expires: SystemTime) -> String {
    match expires.duration_since(now) {
        Ok(left) => format!("in {}", span(left)),
        Err(_) => format!("expired {} ago", age(now, Some(expires))),
    }
}

/// A duration as [`human_duration`] shows it.
pub fn span(duration: std::time::Duration) -> String {
    human_duration(i64::try_from(duration.as_secs()).unwrap_or(i64::MAX))
}

/// A duration in kubectl's compact form: precise while short, coarser as it grows.
/// A clock a second ahead still reads "0s"; further ahead is `<invalid>`.
pub fn human_duration(seconds: i64) -> String {
    const MINUTE: i64 = 60;
    const HOUR: i64 = 60 * MINUTE;
    const DAY: i64 = 24 * HOUR;
    const YEAR: i64 = 365 * DAY;
    if seconds < -1 {
        return "<invalid>".to_string();
    }
    let seconds = seconds.max(0);
    let (minutes, hours, days) = (seconds / MINUTE, seconds / HOUR, seconds / DAY);
    let with_rest = |big: i64, big_unit: &str, small: i64, small_unit: &str| {
        if small == 0 {
            format!("{big}{big_unit}")
        } else {
            format!("{big}{big_unit}{small}{small_unit}")
        }
    };
    if seconds < 2 * MINUTE {
        format!("{seconds}s")
    } else if minutes < 10 {
        with_rest(minutes, "m", seconds % MINUTE, "s")
    } else if minutes < 3 * 60 {
        format!("{minutes}m")
    } else if hours < 8 {
        with_rest(hours, "h", minutes % 60, "m")
    } else if hours < 48 {
        format!("{hours}h")
    } else if hours < 8 * 24 {
        with_rest(days, "d", hours % 24, "h")
    } else if days < 2 * 365 {
        format!("{days}d")
    } else if days < 8 * 365 {
        with_rest(seconds / YEAR, "y", days % 365, "d")
    } else {
        format!("{}y", seconds / YEAR)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn row(cells: &[&str]) -> Vec<String> {
        cells.iter().map(|cell| cell.to_string()).collect()
    }

    #[test]
    fn columns_are_padded_three_spaces_apart() {
        let mut table = Table::new(["NAME", "READY", "STATUS"]);
        table.push(row(&["web-7d4b9c-x2x8q", "1/1", "Running"]));
        table.push(row(&["db-0", "0/1", "CrashLoopBackOff"]));
        assert_eq!(
            table.render(),
            "NAME               READY   STATUS\n\
             web-7d4b9c-x2x8q   1/1     Running\n\
             db-0               0/1     CrashLoopBackOff\n"
        );
    }

    #[test]
    fn an_empty_last_cell_leaves_no_trailing_space() {
        let mut table = Table::new(["NAME", "ROLES"]);
        table.push(row(&["n1", ""]));
        assert_eq!(table.render(), "NAME   ROLES\nn1\n");
    }

    #[test]
    fn wide_characters_count_once() {
        let mut table = Table::new(["A", "B"]);
        table.push(row(&["été", "x"]));
        assert_eq!(table.render(), "A     B\nété   x\n");
    }

    #[test]
    fn durations_read_like_kubectl() {
        for (seconds, text) in [
            (-5, "<invalid>"),
            (-1, "0s"),
            (0, "0s"),
            (45, "45s"),
            (119, "119s"),
            (120, "2m"),
            (192, "3m12s"),
            (599, "9m59s"),
            (600, "10m"),
            (179 * 60 + 59, "179m"),
            (3 * 3600, "3h"),
            (5 * 3600 + 7 * 60, "5h7m"),
            (8 * 3600 + 7 * 60, "8h"),
            (47 * 3600, "47h"),
            (2 * 86400, "2d"),
            (2 * 86400 + 5 * 3600, "2d5h"),
            (8 * 86400 + 5 * 3600, "8d"),
            (729 * 86400, "729d"),
            (730 * 86400, "2y"),
            (3 * 365 * 86400 + 10 * 86400, "3y10d"),
            (9 * 365 * 86400 + 10 * 86400, "9y"),
        ] {
            assert_eq!(human_duration(seconds), text, "{seconds}s");
        }
    }

    #[test]
    fn age_is_measured_from_now() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        assert_eq!(age(now, Some(now - Duration::from_secs(192))), "3m12s");
        assert_eq!(age(now, Some(now + Duration::from_secs(30))), "<invalid>");
        assert_eq!(age(now, None), "<unknown>");
    }
}
