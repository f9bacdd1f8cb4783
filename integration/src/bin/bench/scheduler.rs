//! `bench scheduler`: how fast the scheduler's core places pending pods, in process, on
//! simulated nodes: the same `Scheduling` the scheduler actor drives, fed from the same
//! informer caches, with each bind confirmed back to it as the pod watch would.
//!
//! Nodes are scheduler_perf's `node-default` (4 cpu, 32 GiB, 110 pods) in three zones; 30,000
//! pods wait at once. Two shapes, each on 1,000 and 5,000 nodes:
//! - plain: scheduler_perf's `pod-default` (100m cpu, 500 MiB), resource fit only;
//! - spread: the same pods in groups of five, each with required anti-affinity to its group
//!   by hostname and a zone spread constraint (maxSkew 1, DoNotSchedule) on its group.
//!
//! The peer is what Kubernetes' scheduler_perf publishes for the nearest shapes on 5,000
//! nodes: the least throughput its performance CI accepts ([`KUBERNETES`]).

mod report;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};

use flotilla_actors::informer::Cache;
use flotilla_actors::scheduler::framework::Framework;
use flotilla_actors::scheduler::queue::QueueSettings;
use flotilla_actors::scheduler::scheduling::{Decision, Scheduling};
use flotilla_kernel::api::EventType;
use flotilla_kernel::object::{
    Affinity, ConditionStatus, Container, LABEL_HOSTNAME, LABEL_ZONE, LabelSelector, Namespace,
    Node, NodeCondition, Pod, PodAffinity, PodAffinityTerm, Quantity, ResourceRequirements,
    TopologySpreadConstraint, UnsatisfiableConstraintAction,
};

use report::Run;
pub use report::SchedulerReport;

/// Pending pods per run.
const PODS: usize = 30_000;
/// Replicas per group in the spread shape.
const GROUP: usize = 5;
/// The zones the nodes are spread over (scheduler_perf's `moon-1..3`).
const ZONES: [&str; 3] = ["moon-1", "moon-2", "moon-3"];

/// Kubernetes' figures, pods/s: `SchedulingBasic/5000Nodes_50000Pods` (plain) and
/// `TopologySpreading/5000Nodes_5000Pods` (spread; its pods spread by zone without
/// anti-affinity, `SchedulingPodAntiAffinity/5000Nodes_2000Pods` accepts 60), from the
/// `threshold`s of test/integration/scheduler_perf/{misc,topology_spreading}/performance-config.yaml.
pub const KUBERNETES: [(Shape, f64); 2] = [(Shape::Plain, 810.0), (Shape::Spread, 460.0)];

/// What the pending pods ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    Plain,
    Spread,
}

impl Shape {
    pub fn name(self) -> &'static str {
        match self {
            Shape::Plain => "plain",
            Shape::Spread => "spread",
        }
    }
}

pub fn scheduler() -> Result<SchedulerReport> {
    let mut runs = Vec::new();
    for shape in [Shape::Plain, Shape::Spread] {
        for nodes in [1_000, 5_000] {
            runs.push(run(shape, nodes)?);
        }
    }
    Ok(SchedulerReport { runs })
}

/// Places [`PODS`] pods of `shape` on `node_count` nodes; every pod must be bound.
fn run(shape: Shape, node_count: usize) -> Result<Run> {
    let mut scheduling =
        Scheduling::new(Framework::with_default_plugins(), QueueSettings::default());
    let (mut pods, mut nodes) = (Cache::<Pod>::new(), Cache::<Node>::new());
    let namespaces = Cache::<Namespace>::new();
    let now = Instant::now();
    for index in 0..node_count {
        let change = nodes.apply(EventType::Added, node(index));
        scheduling.node_changed(&change, now);
    }
    for index in 0..PODS {
        let change = pods.apply(EventType::Added, pod(shape, index));
        scheduling.pod_changed(&change, now);
    }
    let mut per_pod = Vec::with_capacity(PODS);
    let started = Instant::now();
    loop {
        let decided = Instant::now();
        match scheduling.next(decided, &pods, &nodes, &namespaces) {
            None => break,
            Some(Decision::Unschedulable { pod, message }) => {
                bail!(
                    "{} pods on {node_count} nodes: {pod} did not fit: {message}",
                    shape.name()
                )
            }
            Some(Decision::Bind { pod, node }) => {
                scheduling.bound(&pod);
                let Some(pending) = pods.get(&pod.namespace, &pod.name) else {
                    bail!("pod {pod} left the cache");
                };
                let mut bound = (**pending).clone();
                bound.spec.node_name = node;
                let change = pods.apply(EventType::Modified, bound);
                scheduling.pod_changed(&change, Instant::now());
                per_pod.push(decided.elapsed());
            }
        }
    }
    let elapsed = started.elapsed();
    if per_pod.len() != PODS {
        bail!(
            "{} of {PODS} {} pods were bound",
            per_pod.len(),
            shape.name()
        );
    }
    Ok(Run::new(shape, node_count, elapsed, per_pod))
}

fn quantities(pairs: &[(&str, &str)]) -> BTreeMap<String, Quantity> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), Quantity(v.to_string())))
        .collect()
}

/// scheduler_perf's `node-default`, in zone `index % 3`.
fn node(index: usize) -> Node {
    let mut node = Node::default();
    let name = format!("node-{index:05}");
    node.metadata.labels = [
        (LABEL_HOSTNAME.to_string(), name.clone()),
        (
            LABEL_ZONE.to_string(),
            ZONES[index % ZONES.len()].to_string(),
        ),
    ]
    .into();
    node.metadata.name = name;
    node.status.capacity = quantities(&[("cpu", "4"), ("memory", "32Gi"), ("pods", "110")]);
    node.status.allocatable = node.status.capacity.clone();
    node.status.conditions = vec![NodeCondition {
        type_: NodeCondition::READY.into(),
        status: ConditionStatus::True,
        ..NodeCondition::default()
    }];
    node
}

/// scheduler_perf's `pod-default`, and for [`Shape::Spread`] its group's rules.
fn pod(shape: Shape, index: usize) -> Pod {
    let mut pod = Pod::default();
    pod.metadata.namespace = "default".into();
    pod.metadata.name = format!("pod-{index:05}");
    pod.spec.containers = vec![Container {
        name: "pause".into(),
        image: "pause".into(),
        resources: ResourceRequirements {
            requests: quantities(&[("cpu", "100m"), ("memory", "500Mi")]),
            limits: BTreeMap::new(),
        },
        ..Container::default()
    }];
    if shape == Shape::Spread {
        let group = format!("group-{}", index / GROUP);
        pod.metadata.labels = [("group".to_string(), group.clone())].into();
        let selector = LabelSelector {
            match_labels: [("group".to_string(), group)].into(),
            match_expressions: Vec::new(),
        };
        pod.spec.affinity = Some(Affinity {
            pod_anti_affinity: Some(PodAffinity {
                required_during_scheduling_ignored_during_execution: vec![PodAffinityTerm {
                    label_selector: Some(selector.clone()),
                    topology_key: LABEL_HOSTNAME.into(),
                    ..PodAffinityTerm::default()
                }],
                ..PodAffinity::default()
            }),
            ..Affinity::default()
        });
        pod.spec.topology_spread_constraints = vec![TopologySpreadConstraint {
            max_skew: 1,
            topology_key: LABEL_ZONE.into(),
            when_unsatisfiable: UnsatisfiableConstraintAction::DoNotSchedule,
            label_selector: Some(selector),
            ..TopologySpreadConstraint::default()
        }];
    }
    pod
}

/// The 99th percentile of the per-pod times.
pub fn p99(samples: &[Duration]) -> Duration {
    flotilla_integration::percentile(samples, 99).unwrap_or_default()
}
