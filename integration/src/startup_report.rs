//! The figures of the startup benchmark and their two renderings: an aligned table for people
//! and one JSON object for scripts comparing runs.

use std::time::Duration;

use crate::stats::millis;

use serde_json::{Value, json};

/// What one run of `bench startup` measured.
#[derive(Debug, Clone, PartialEq)]
pub struct StartupReport {
    /// Size of the flotilla binary on disk.
    pub binary_bytes: u64,
    /// From launching `flotilla up` until its node was seen Ready.
    pub time_to_ready: Duration,
    /// Resident memory of the idle `flotilla up` process, 10 s after Ready.
    pub idle_rss_kib: u64,
    /// How many pods were applied at once.
    pub pods: usize,
    /// Median time from the start of `apply` until a pod was first seen Running.
    pub pod_running_p50: Duration,
    /// 99th percentile of the same.
    pub pod_running_p99: Duration,
    /// From the start of `apply` until the last pod was seen Running.
    pub all_pods_running: Duration,
}

impl StartupReport {
    /// One JSON object; durations in milliseconds (0.1 ms resolution), sizes in bytes and KiB.
    pub fn to_json(&self) -> Value {
        json!({
            "binary_size_bytes": self.binary_bytes,
            "time_to_ready_ms": millis(self.time_to_ready),
            "idle_rss_kib": self.idle_rss_kib,
            "pods": self.pods,
            "pod_running_p50_ms": millis(self.pod_running_p50),
            "pod_running_p99_ms": millis(self.pod_running_p99),
            "all_pods_running_ms": millis(self.all_pods_running),
        })
    }

    /// A two-column table, labels left-aligned and values right-aligned.
    pub fn to_table(&self) -> String {
        let rows = [
            ("binary size", mebibytes(self.binary_bytes)),
            (
                "time to Ready node",
                format!("{:.1} ms", millis(self.time_to_ready)),
            ),
            (
                "idle RSS (10 s after Ready)",
                mebibytes(self.idle_rss_kib * 1024),
            ),
            ("pods applied at once", self.pods.to_string()),
            (
                "pod Running, p50",
                format!("{:.1} ms", millis(self.pod_running_p50)),
            ),
            (
                "pod Running, p99",
                format!("{:.1} ms", millis(self.pod_running_p99)),
            ),
            (
                "all pods Running",
                format!("{:.1} ms", millis(self.all_pods_running)),
            ),
        ];
        let label_width = rows.iter().map(|(label, _)| label.len()).max().unwrap_or(0);
        let value_width = rows.iter().map(|(_, value)| value.len()).max().unwrap_or(0);
        rows.iter()
            .map(|(label, value)| format!("{label:<label_width$}  {value:>value_width$}\n"))
            .collect()
    }
}

fn mebibytes(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report() -> StartupReport {
        StartupReport {
            binary_bytes: 15 * 1024 * 1024,
            time_to_ready: Duration::from_micros(412_345),
            idle_rss_kib: 20_480,
            pods: 50,
            pod_running_p50: Duration::from_millis(800),
            pod_running_p99: Duration::from_millis(1_430),
            all_pods_running: Duration::from_millis(1_502),
        }
    }

    #[test]
    fn json_has_every_figure_in_milliseconds() {
        let json = report().to_json();
        assert_eq!(json["binary_size_bytes"], 15 * 1024 * 1024);
        assert_eq!(json["time_to_ready_ms"], 412.3);
        assert_eq!(json["idle_rss_kib"], 20_480);
        assert_eq!(json["pods"], 50);
        assert_eq!(json["pod_running_p50_ms"], 800.0);
        assert_eq!(json["pod_running_p99_ms"], 1430.0);
        assert_eq!(json["all_pods_running_ms"], 1502.0);
    }

    #[test]
    fn table_columns_line_up() {
        let table = report().to_table();
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 7);
        assert!(
            lines.iter().all(|line| line.len() == lines[0].len()),
            "{table}"
        );
        assert!(lines[0].starts_with("binary size "));
        assert!(lines[0].ends_with("15.0 MiB"));
        assert!(lines[1].ends_with("412.3 ms"));
        assert!(lines[2].ends_with("20.0 MiB"));
    }
}
