//! The figures of `bench scheduler`: a table for people, one JSON object for scripts.

use std::time::Duration;

use serde_json::{Map, Value, json};

use flotilla_integration::{micros, ratio, round};

use super::{KUBERNETES, PODS, Shape, p99};

/// One shape on one cluster size.
#[derive(Debug, Clone)]
pub struct Run {
    pub shape: Shape,
    pub nodes: usize,
    pub pods_per_s: f64,
    pub p99: Duration,
}

impl Run {
    pub fn new(shape: Shape, nodes: usize, elapsed: Duration, per_pod: Vec<Duration>) -> Self {
        Self {
            shape,
            nodes,
            pods_per_s: PODS as f64 / elapsed.as_secs_f64().max(f64::EPSILON),
            p99: p99(&per_pod),
        }
    }

    /// Kubernetes' figure for this shape on 5,000 nodes.
    fn kubernetes(&self) -> Option<f64> {
        (self.nodes == 5_000)
            .then(|| KUBERNETES.iter().find(|(shape, _)| *shape == self.shape))
            .flatten()
            .map(|(_, figure)| *figure)
    }

    fn p99_ms(&self) -> f64 {
        (micros(self.p99)).round() / 1000.0
    }

    fn key(&self, what: &str) -> String {
        format!("{what}_{}_nodes_{}", self.nodes, self.shape.name())
    }
}

/// Every run of one `bench scheduler`.
#[derive(Debug, Clone)]
pub struct SchedulerReport {
    pub runs: Vec<Run>,
}

impl SchedulerReport {
    /// `pods_per_s_<nodes>_nodes_<shape>`, `p99_ms_<nodes>_nodes_<shape>`, the ratio to
    /// Kubernetes for each 5,000-node shape, and `p99_ms`: the worst p99 of all runs.
    pub fn to_json(&self) -> Value {
        let mut object = Map::new();
        for run in &self.runs {
            object.insert(run.key("pods_per_s"), json!(round(run.pods_per_s)));
            object.insert(run.key("p99_ms"), json!(run.p99_ms()));
            if let Some(figure) = run.kubernetes() {
                object.insert(run.key("kubernetes_pods_per_s"), json!(figure));
                object.insert(run.key("ratio"), json!(ratio(run.pods_per_s, figure)));
            }
        }
        let worst = self.runs.iter().map(Run::p99_ms).fold(0.0, f64::max);
        object.insert("p99_ms".into(), json!(worst));
        object.insert("pending_pods".into(), json!(PODS));
        Value::Object(object)
    }

    pub fn to_table(&self) -> String {
        let mut out = format!(
            "{PODS} pending pods, placed by the scheduler's core in process\n{:<8} {:>6} {:>10} {:>10} {:>12} {:>7}\n",
            "shape", "nodes", "pods/s", "p99", "Kubernetes", "ratio"
        );
        for run in &self.runs {
            let (peer, ratio_text) = match run.kubernetes() {
                Some(figure) => (
                    format!("{figure:.0}"),
                    format!("{:.2}", ratio(run.pods_per_s, figure)),
                ),
                None => ("-".into(), "-".into()),
            };
            out.push_str(&format!(
                "{:<8} {:>6} {:>10.0} {:>7.3} ms {:>12} {:>7}\n",
                run.shape.name(),
                run.nodes,
                run.pods_per_s,
                run.p99_ms(),
                peer,
                ratio_text
            ));
        }
        out
    }
}
