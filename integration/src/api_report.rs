//! The figures of the API benchmark: pods created through the API against raw store puts of the
//! same size, reads with many pods stored, and how the cluster copes with a burst of pods that
//! fit nowhere; as a table or one JSON object.

use std::time::Duration;

use serde_json::{Map, Value, json};

use crate::stats::{micros, ratio, round};
use crate::store_report::{OpFigures, cell, latency};

/// Creates through the API and raw puts at one concurrency.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CreateRun {
    pub clients: usize,
    pub api: OpFigures,
    pub store: OpFigures,
}

/// Reads with `pods` pods stored.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Reads {
    pub pods: usize,
    pub get_clients: usize,
    pub get: OpFigures,
    pub list_clients: usize,
    pub list: OpFigures,
    /// The same gets while `writers` clients create pods.
    pub writers: usize,
    pub get_during_creates: OpFigures,
}

/// A burst of `pods` pods whose nodeSelector matches no node.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Burst {
    pub pods: usize,
    pub clients: usize,
    pub creates: OpFigures,
    /// From creating one schedulable pod until it was seen bound; `None` if it was not bound
    /// within `bind_deadline`.
    pub bind: Option<Duration>,
    pub bind_deadline: Duration,
    /// When the CPU window started, after the last pod of the burst was created.
    pub idle_after: Duration,
    pub idle_window: Duration,
    /// The server's CPU time over the window, in percent of one core.
    pub idle_cpu_percent: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ApiReport {
    /// Size of one stored pod (its JSON), and so of each raw put.
    pub pod_bytes: usize,
    pub creates: Vec<CreateRun>,
    pub reads: Reads,
    pub burst: Burst,
}

/// Goals the issue tracker set (issue 16), printed beside the figures.
const BIND_GOAL_MS: f64 = 100.0;
const IDLE_CPU_GOAL_PERCENT: f64 = 5.0;

impl ApiReport {
    /// One JSON object; rates per second, latencies in milliseconds.
    pub fn to_json(&self) -> Value {
        let mut object = Map::new();
        object.insert("pod_bytes".into(), json!(self.pod_bytes));
        for run in &self.creates {
            let c = run.clients;
            object.insert(
                format!("api_creates_per_s_{c}"),
                json!(round(run.api.ops_per_second)),
            );
            object.insert(
                format!("store_puts_per_s_{c}"),
                json!(round(run.store.ops_per_second)),
            );
            object.insert(
                format!("api_vs_store_ratio_{c}"),
                json!(ratio(run.api.ops_per_second, run.store.ops_per_second)),
            );
            object.insert(format!("api_create_p99_ms_{c}"), json!(ms(run.api.p99)));
            object.insert(format!("store_put_p99_ms_{c}"), json!(ms(run.store.p99)));
        }
        let r = &self.reads;
        object.insert("get_p50_ms".into(), json!(ms(r.get.p50)));
        object.insert("get_p99_ms".into(), json!(ms(r.get.p99)));
        object.insert(format!("list_{}_p50_ms", r.pods), json!(ms(r.list.p50)));
        object.insert(format!("list_{}_p99_ms", r.pods), json!(ms(r.list.p99)));
        object.insert(
            "get_p99_ms_during_creates".into(),
            json!(ms(r.get_during_creates.p99)),
        );
        let b = &self.burst;
        object.insert(
            "unschedulable_creates_per_s".into(),
            json!(round(b.creates.ops_per_second)),
        );
        object.insert(
            format!("bind_ms_with_{}_unschedulable", b.pods),
            json!(b.bind.map(ms)),
        );
        object.insert(
            "idle_cpu_percent_after_burst".into(),
            json!(round(b.idle_cpu_percent)),
        );
        Value::Object(object)
    }

    pub fn to_table(&self) -> String {
        let mut out = format!(
            "{:<34} {:>26} {:>28} {:>14}\n",
            format!("create a pod ({} B stored)", self.pod_bytes),
            "API (pods/s, p50/p99)",
            "raw store (puts/s, p50/p99)",
            "API/store"
        );
        for run in &self.creates {
            let clients = match run.clients {
                1 => "1 client".to_string(),
                n => format!("{n} clients"),
            };
            let ratios = format!(
                "{:.2} / {:.2}",
                ratio(run.api.ops_per_second, run.store.ops_per_second),
                ratio(micros(run.api.p99), micros(run.store.p99))
            );
            out.push_str(&format!(
                "{:<34} {:>26} {:>28} {:>14}\n",
                clients,
                cell(&run.api),
                cell(&run.store),
                ratios
            ));
        }
        out.push_str("(ratio: throughput / p99 latency)\n\n");

        let r = &self.reads;
        out.push_str(&format!(
            "{:<34} {:>26}\n",
            format!("with {} pods stored", r.pods),
            "p50 / p99"
        ));
        let rows = [
            (format!("get 1 pod, {} clients", r.get_clients), r.get),
            (
                format!("list {} pods, {} clients", r.pods, r.list_clients),
                r.list,
            ),
            (
                format!("get, while {} clients create", r.writers),
                r.get_during_creates,
            ),
        ];
        for (label, f) in rows {
            out.push_str(&format!(
                "{label:<34} {:>26}\n",
                format!("{} / {}", latency(f.p50), latency(f.p99))
            ));
        }
        out.push('\n');

        let b = &self.burst;
        let bind = match b.bind {
            Some(bind) if bind >= Duration::from_secs(10) => format!("{:.1} s", bind.as_secs_f64()),
            Some(bind) => format!("{:.1} ms", ms(bind)),
            None => format!("not within {} s", b.bind_deadline.as_secs()),
        };
        let rows = [
            (
                format!("{} unschedulable pods created", b.pods),
                format!("{:.0}/s, {} clients", b.creates.ops_per_second, b.clients),
            ),
            (
                format!(
                    "server CPU {}-{} s after",
                    b.idle_after.as_secs(),
                    (b.idle_after + b.idle_window).as_secs()
                ),
                format!(
                    "{:.1}% (goal < {IDLE_CPU_GOAL_PERCENT}%)",
                    b.idle_cpu_percent
                ),
            ),
            (
                "then a new pod bound in".to_string(),
                format!("{bind} (goal < {BIND_GOAL_MS} ms)"),
            ),
        ];
        for (label, value) in rows {
            out.push_str(&format!("{label:<34} {value:>26}\n"));
        }
        out
    }
}

/// Milliseconds to two decimal places.
fn ms(duration: Duration) -> f64 {
    (micros(duration) / 10.0).round() / 100.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn figures(rate: f64, p50_us: u64, p99_us: u64) -> OpFigures {
        OpFigures {
            ops_per_second: rate,
            p50: Duration::from_micros(p50_us),
            p99: Duration::from_micros(p99_us),
        }
    }

    fn report(bind: Option<Duration>) -> ApiReport {
        ApiReport {
            pod_bytes: 640,
            creates: vec![CreateRun {
                clients: 256,
                api: figures(3_000.0, 60_000, 150_000),
                store: figures(12_000.0, 20_000, 40_000),
            }],
            reads: Reads {
                pods: 10_000,
                get_clients: 16,
                get: figures(9_000.0, 1_500, 4_321),
                list_clients: 2,
                list: figures(4.0, 400_000, 612_345),
                writers: 256,
                get_during_creates: figures(500.0, 20_000, 90_000),
            },
            burst: Burst {
                pods: 5_000,
                clients: 256,
                creates: figures(800.0, 100_000, 300_000),
                bind,
                bind_deadline: Duration::from_secs(600),
                idle_after: Duration::from_secs(10),
                idle_window: Duration::from_secs(10),
                idle_cpu_percent: 97.26,
            },
        }
    }

    #[test]
    fn json_has_the_issue_keys_and_ratios() {
        let json = report(Some(Duration::from_micros(62_012_345))).to_json();
        assert_eq!(json["api_creates_per_s_256"], 3000.0);
        assert_eq!(json["store_puts_per_s_256"], 12000.0);
        assert_eq!(json["api_vs_store_ratio_256"], 0.25);
        assert_eq!(json["api_create_p99_ms_256"], 150.0);
        assert_eq!(json["store_put_p99_ms_256"], 40.0);
        assert_eq!(json["pod_bytes"], 640);
        assert_eq!(json["get_p99_ms"], 4.32);
        assert_eq!(json["list_10000_p99_ms"], 612.35);
        assert_eq!(json["get_p99_ms_during_creates"], 90.0);
        assert_eq!(json["unschedulable_creates_per_s"], 800.0);
        assert_eq!(json["bind_ms_with_5000_unschedulable"], 62012.35);
        assert_eq!(json["idle_cpu_percent_after_burst"], 97.3);
    }

    #[test]
    fn a_pod_never_bound_is_null_in_json_and_said_in_the_table() {
        let report = report(None);
        assert!(report.to_json()["bind_ms_with_5000_unschedulable"].is_null());
        let table = report.to_table();
        let row = table
            .lines()
            .find(|l| l.starts_with("then a new pod bound in"))
            .unwrap();
        assert!(row.ends_with("not within 600 s (goal < 100 ms)"), "{table}");
    }

    #[test]
    fn table_rows_show_figures_ratios_and_goals() {
        let table = report(Some(Duration::from_millis(62_012))).to_table();
        let row = |start: &str| {
            table
                .lines()
                .find(|l| l.starts_with(start))
                .unwrap_or_else(|| panic!("no row {start:?} in\n{table}"))
                .to_string()
        };
        assert!(table.starts_with("create a pod (640 B stored)"), "{table}");
        let creates = row("256 clients");
        assert!(creates.contains("3000, 60.0 ms / 150.0 ms"), "{table}");
        assert!(creates.contains("12000, 20.0 ms / 40.0 ms"), "{table}");
        assert!(creates.ends_with("0.25 / 3.75"), "{table}");
        assert!(row("get 1 pod, 16 clients").ends_with("1500 µs / 4321 µs"));
        assert!(row("list 10000 pods, 2 clients").ends_with("400.0 ms / 612.3 ms"));
        assert!(row("get, while 256 clients create").ends_with("20.0 ms / 90.0 ms"));
        assert!(row("5000 unschedulable pods created").ends_with("800/s, 256 clients"));
        assert!(row("server CPU 10-20 s after").ends_with("97.3% (goal < 5%)"));
        assert!(row("then a new pod bound in").ends_with("62.0 s (goal < 100 ms)"));
        let table = report(Some(Duration::from_micros(81_260))).to_table();
        assert!(table.contains("81.3 ms (goal < 100 ms)"), "{table}");
    }
}
