//! The figures of the store benchmark: each workload run against flotilla's store and against
//! etcd, side by side with their ratio, as a table or one JSON object.

use std::time::Duration;

use serde_json::{Map, Value, json};

use crate::stats::{micros, percentile, ratio, round};

/// What one peer achieved on one workload.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OpFigures {
    pub ops_per_second: f64,
    pub p50: Duration,
    pub p99: Duration,
}

impl OpFigures {
    /// Figures of `latencies` measured over `elapsed`; zero when nothing was measured.
    pub fn of(latencies: &[Duration], elapsed: Duration) -> OpFigures {
        let seconds = elapsed.as_secs_f64();
        OpFigures {
            ops_per_second: if seconds > 0.0 {
                latencies.len() as f64 / seconds
            } else {
                0.0
            },
            p50: percentile(latencies, 50).unwrap_or_default(),
            p99: percentile(latencies, 99).unwrap_or_default(),
        }
    }
}

/// One workload on both peers.
#[derive(Debug, Clone, PartialEq)]
pub struct StoreWorkload {
    /// A short key for JSON (`put_16`), and a label for the table.
    pub key: String,
    pub label: String,
    pub flotilla: OpFigures,
    pub etcd: OpFigures,
}

#[derive(Debug, Clone, PartialEq)]
pub struct StoreReport {
    pub workloads: Vec<StoreWorkload>,
}

impl StoreReport {
    pub fn to_json(&self) -> Value {
        let mut object = Map::new();
        for w in &self.workloads {
            for (peer, f) in [("flotilla", &w.flotilla), ("etcd", &w.etcd)] {
                object.insert(
                    format!("{peer}_{}_ops_per_s", w.key),
                    json!(round(f.ops_per_second)),
                );
                object.insert(
                    format!("{peer}_{}_p50_us", w.key),
                    json!(round(micros(f.p50))),
                );
                object.insert(
                    format!("{peer}_{}_p99_us", w.key),
                    json!(round(micros(f.p99))),
                );
            }
            object.insert(
                format!("ratio_{}_ops_per_s", w.key),
                json!(ratio(w.flotilla.ops_per_second, w.etcd.ops_per_second)),
            );
            object.insert(
                format!("ratio_{}_p99", w.key),
                json!(ratio(micros(w.flotilla.p99), micros(w.etcd.p99))),
            );
        }
        Value::Object(object)
    }

    pub fn to_table(&self) -> String {
        let mut out = format!(
            "{:<30} {:>26} {:>26} {:>16}\n",
            "", "flotilla (ops/s, p50/p99)", "etcd (ops/s, p50/p99)", "flotilla/etcd"
        );
        for w in &self.workloads {
            let ratios = format!(
                "{:.2} / {:.2}",
                ratio(w.flotilla.ops_per_second, w.etcd.ops_per_second),
                ratio(micros(w.flotilla.p99), micros(w.etcd.p99))
            );
            out.push_str(&format!(
                "{:<30} {:>26} {:>26} {:>16}\n",
                w.label,
                cell(&w.flotilla),
                cell(&w.etcd),
                ratios
            ));
        }
        out.push_str("(ratio: throughput / p99 latency)\n");
        out
    }
}

/// Throughput and p50 / p99 latency, as the reports' tables show them.
pub(crate) fn cell(f: &OpFigures) -> String {
    format!(
        "{:.0}, {} / {}",
        f.ops_per_second,
        latency(f.p50),
        latency(f.p99)
    )
}

/// A latency in µs below 10 ms, in ms from there.
pub(crate) fn latency(duration: Duration) -> String {
    let us = micros(duration);
    if us >= 10_000.0 {
        format!("{:.1} ms", us / 1000.0)
    } else {
        format!("{us:.0} µs")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report() -> StoreReport {
        let figures = |rate: f64, p50: u64, p99: u64| OpFigures {
            ops_per_second: rate,
            p50: Duration::from_micros(p50),
            p99: Duration::from_micros(p99),
        };
        StoreReport {
            workloads: vec![StoreWorkload {
                key: "put_16".into(),
                label: "put 256 B, 16 clients".into(),
                flotilla: figures(20_000.0, 700, 1500),
                etcd: figures(8_000.0, 1800, 30_000),
            }],
        }
    }

    #[test]
    fn json_has_both_peers_and_ratios() {
        let json = report().to_json();
        assert_eq!(json["flotilla_put_16_ops_per_s"], 20000.0);
        assert_eq!(json["etcd_put_16_p99_us"], 30000.0);
        assert_eq!(json["ratio_put_16_ops_per_s"], 2.5);
        assert_eq!(json["ratio_put_16_p99"], 0.05);
    }

    #[test]
    fn table_rows_show_figures_and_ratios() {
        let table = report().to_table();
        let row = table
            .lines()
            .find(|l| l.starts_with("put 256 B, 16 clients"))
            .unwrap();
        assert!(row.contains("20000, 700 µs / 1500 µs"), "{table}");
        assert!(row.contains("8000, 1800 µs / 30.0 ms"), "{table}");
        assert!(row.ends_with("2.50 / 0.05"), "{table}");
    }

    #[test]
    fn figures_of_samples() {
        let samples: Vec<_> = (1..=100).map(Duration::from_micros).collect();
        let f = OpFigures::of(&samples, Duration::from_secs(2));
        assert_eq!(f.ops_per_second, 50.0);
        assert_eq!(f.p50, Duration::from_micros(50));
        assert_eq!(f.p99, Duration::from_micros(99));
        assert_eq!(OpFigures::of(&[], Duration::ZERO).ops_per_second, 0.0);
    }
}
