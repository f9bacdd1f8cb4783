//! The figures of the failover benchmark: for each setting, per run, the time from killing a
//! node until the control plane marked it NotReady and until every replica ran elsewhere;
//! rendered as a table of medians and maxima, or one JSON object.

use std::time::Duration;

use crate::stats::millis;

use serde_json::{Value, json};

/// One kill and its aftermath.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FailoverRun {
    /// Until the node's Ready condition stopped being True.
    pub not_ready: Duration,
    /// Until every replica was Running on the other nodes.
    pub replaced: Duration,
}

/// The runs of one setting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailoverSeries {
    /// e.g. `default` or `fast`, with the flags it stands for.
    pub label: String,
    pub flags: String,
    pub runs: Vec<FailoverRun>,
    /// Times a node that was not killed was seen not Ready: should be zero.
    pub false_not_ready: usize,
}

/// The whole benchmark.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailoverReport {
    pub replicas: usize,
    pub series: Vec<FailoverSeries>,
}

impl FailoverSeries {
    fn figures(&self, pick: fn(&FailoverRun) -> Duration) -> (Duration, Duration) {
        let mut values: Vec<Duration> = self.runs.iter().map(pick).collect();
        values.sort();
        let median = values.get(values.len() / 2).copied().unwrap_or_default();
        let max = values.last().copied().unwrap_or_default();
        (median, max)
    }
}

impl FailoverReport {
    pub fn to_json(&self) -> Value {
        let series: Vec<Value> = self
            .series
            .iter()
            .map(|s| {
                let (nr_median, nr_max) = s.figures(|r| r.not_ready);
                let (rep_median, rep_max) = s.figures(|r| r.replaced);
                json!({
                    "label": s.label,
                    "flags": s.flags,
                    "runs": s.runs.len(),
                    "not_ready_median_ms": millis(nr_median),
                    "not_ready_max_ms": millis(nr_max),
                    "replaced_median_ms": millis(rep_median),
                    "replaced_max_ms": millis(rep_max),
                    "false_not_ready": s.false_not_ready,
                })
            })
            .collect();
        json!({ "replicas": self.replicas, "series": series })
    }

    pub fn to_table(&self) -> String {
        let mut out = format!(
            "{:<10} {:>5} {:>14} {:>14} {:>16} {:>16} {:>10}\n",
            "settings",
            "runs",
            "NotReady p50",
            "NotReady max",
            "replaced p50",
            "replaced max",
            "false NR"
        );
        for s in &self.series {
            let (nr_median, nr_max) = s.figures(|r| r.not_ready);
            let (rep_median, rep_max) = s.figures(|r| r.replaced);
            out.push_str(&format!(
                "{:<10} {:>5} {:>14} {:>14} {:>16} {:>16} {:>10}\n",
                s.label,
                s.runs.len(),
                seconds(nr_median),
                seconds(nr_max),
                seconds(rep_median),
                seconds(rep_max),
                s.false_not_ready
            ));
        }
        for s in &self.series {
            out.push_str(&format!("{}: {}\n", s.label, s.flags));
        }
        out
    }
}

fn seconds(duration: Duration) -> String {
    format!("{:.2} s", duration.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(not_ready_ms: u64, replaced_ms: u64) -> FailoverRun {
        FailoverRun {
            not_ready: Duration::from_millis(not_ready_ms),
            replaced: Duration::from_millis(replaced_ms),
        }
    }

    fn report() -> FailoverReport {
        FailoverReport {
            replicas: 6,
            series: vec![FailoverSeries {
                label: "fast".into(),
                flags: "--node-grace-period 1s".into(),
                runs: vec![run(1200, 3000), run(1100, 2500), run(1500, 4100)],
                false_not_ready: 0,
            }],
        }
    }

    #[test]
    fn medians_and_maxima() {
        let json = report().to_json();
        let series = &json["series"][0];
        assert_eq!(series["not_ready_median_ms"], 1200.0);
        assert_eq!(series["not_ready_max_ms"], 1500.0);
        assert_eq!(series["replaced_median_ms"], 3000.0);
        assert_eq!(series["replaced_max_ms"], 4100.0);
        assert_eq!(json["replicas"], 6);
    }

    #[test]
    fn the_table_has_a_row_per_setting_and_its_flags() {
        let table = report().to_table();
        let lines: Vec<&str> = table.lines().collect();
        assert!(lines[0].starts_with("settings"));
        assert!(lines[1].starts_with("fast"));
        assert!(
            lines[1].contains("1.20 s") && lines[1].contains("4.10 s"),
            "{table}"
        );
        assert_eq!(lines[2], "fast: --node-grace-period 1s");
    }
}
