//! The figures of the pod-start benchmark and their two renderings: an aligned table for people
//! and one JSON object for scripts comparing runs. flotilla's import and pod start are set
//! beside what the same image costs with containerd's `ctr` and with plain `runc`.

use std::time::Duration;

use serde_json::{Value, json};

use crate::stats::{millis, ratio};

/// What one run of `bench pod-start` measured.
#[derive(Debug, Clone, PartialEq)]
pub struct PodStartReport {
    /// How many pods, and containers of each other runtime, were started one after another.
    pub pods: usize,
    /// `flotilla image import` of the busybox OCI archive into a fresh data dir (no unpacking:
    /// flotilla unpacks layers when a container first runs).
    pub import: Duration,
    /// `ctr images import` of the same archive into a fresh containerd (unpacks into the
    /// overlayfs snapshotter, ctr's default).
    pub ctr_import: Duration,
    /// Median time from the start of a pod's `flotilla apply` until it was seen Running.
    pub pod_running_p50: Duration,
    /// 99th percentile of the same.
    pub pod_running_p99: Duration,
    /// Median time of `runc run -d` of a prepared bundle.
    pub runc_start_p50: Duration,
    /// 99th percentile of the same.
    pub runc_start_p99: Duration,
    /// Median time of `ctr run -d` of the imported image.
    pub ctr_start_p50: Duration,
}

impl PodStartReport {
    /// `pod_running_p99 / runc_start_p99`, to two decimal places; 0 without runc figures.
    pub fn ratio_p99_vs_runc(&self) -> f64 {
        ratio(millis(self.pod_running_p99), millis(self.runc_start_p99))
    }

    /// One JSON object; durations in milliseconds (0.1 ms resolution).
    pub fn to_json(&self) -> Value {
        json!({
            "import_ms": millis(self.import),
            "ctr_import_ms": millis(self.ctr_import),
            "pod_running_p50_ms": millis(self.pod_running_p50),
            "pod_running_p99_ms": millis(self.pod_running_p99),
            "runc_start_p50_ms": millis(self.runc_start_p50),
            "runc_start_p99_ms": millis(self.runc_start_p99),
            "ctr_start_p50_ms": millis(self.ctr_start_p50),
            "ratio_p99_vs_runc": self.ratio_p99_vs_runc(),
        })
    }

    /// A two-column table, labels left-aligned and values right-aligned.
    pub fn to_table(&self) -> String {
        let ms = |duration: Duration| format!("{:.1} ms", millis(duration));
        let rows = [
            ("image import, flotilla".to_owned(), ms(self.import)),
            (
                "image import, ctr (unpacked)".to_owned(),
                ms(self.ctr_import),
            ),
            (
                format!("pod apply to Running, p50 ({})", self.pods),
                ms(self.pod_running_p50),
            ),
            (
                format!("pod apply to Running, p99 ({})", self.pods),
                ms(self.pod_running_p99),
            ),
            (
                format!("runc run -d, p50 ({})", self.pods),
                ms(self.runc_start_p50),
            ),
            (
                format!("runc run -d, p99 ({})", self.pods),
                ms(self.runc_start_p99),
            ),
            (
                format!("ctr run -d, p50 ({})", self.pods),
                ms(self.ctr_start_p50),
            ),
            (
                "pod p99 / runc p99".to_owned(),
                format!("{:.2}x", self.ratio_p99_vs_runc()),
            ),
        ];
        let label_width = rows.iter().map(|(label, _)| label.len()).max().unwrap_or(0);
        let value_width = rows.iter().map(|(_, value)| value.len()).max().unwrap_or(0);
        rows.iter()
            .map(|(label, value)| format!("{label:<label_width$}  {value:>value_width$}\n"))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report() -> PodStartReport {
        PodStartReport {
            pods: 50,
            import: Duration::from_micros(61_240),
            ctr_import: Duration::from_micros(197_050),
            pod_running_p50: Duration::from_millis(300),
            pod_running_p99: Duration::from_millis(900),
            runc_start_p50: Duration::from_millis(40),
            runc_start_p99: Duration::from_millis(60),
            ctr_start_p50: Duration::from_millis(90),
        }
    }

    #[test]
    fn json_has_exactly_the_issues_keys_in_milliseconds() {
        let json = report().to_json();
        let keys: Vec<&String> = json.as_object().map(|o| o.keys().collect()).unwrap();
        assert_eq!(keys.len(), 8, "{json}");
        assert_eq!(json["import_ms"], 61.2);
        assert_eq!(json["ctr_import_ms"], 197.1);
        assert_eq!(json["pod_running_p50_ms"], 300.0);
        assert_eq!(json["pod_running_p99_ms"], 900.0);
        assert_eq!(json["runc_start_p50_ms"], 40.0);
        assert_eq!(json["runc_start_p99_ms"], 60.0);
        assert_eq!(json["ctr_start_p50_ms"], 90.0);
        assert_eq!(json["ratio_p99_vs_runc"], 15.0);
    }

    #[test]
    fn no_runc_figures_give_a_zero_ratio() {
        let report = PodStartReport {
            runc_start_p99: Duration::ZERO,
            ..report()
        };
        assert_eq!(report.ratio_p99_vs_runc(), 0.0);
    }

    #[test]
    fn table_columns_line_up() {
        let table = report().to_table();
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 8);
        assert!(
            lines.iter().all(|line| line.len() == lines[0].len()),
            "{table}"
        );
        assert!(lines[0].starts_with("image import, flotilla "));
        assert!(lines[0].ends_with("61.2 ms"));
        assert!(lines[2].starts_with("pod apply to Running, p50 (50) "));
        assert!(lines[7].ends_with("15.00x"));
    }
}
