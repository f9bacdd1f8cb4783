//! Builders of nodes and pods shared by the scheduler's tests.

use std::collections::BTreeMap;

use flotilla_kernel::api::EventType;
use flotilla_kernel::object::{
    ConditionStatus, Container, LABEL_HOSTNAME, Node, NodeCondition, Pod, Quantity,
    ResourceRequirements,
};

use super::cache::SchedulerCache;
use super::fit_error::FitError;
use super::framework::{Cluster, CycleState, Framework};
use super::node_info::NodeInfo;

pub fn quantities(pairs: &[(&str, &str)]) -> BTreeMap<String, Quantity> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), Quantity(v.to_string())))
        .collect()
}

/// A ready node offering `cpu` and `memory`.
pub fn ready_node(name: &str, cpu: &str, memory: &str) -> Node {
    let mut node = Node::default();
    node.metadata.name = name.into();
    node.status.allocatable = quantities(&[("cpu", cpu), ("memory", memory)]);
    node.status.capacity = node.status.allocatable.clone();
    node.status.conditions = vec![NodeCondition {
        type_: NodeCondition::READY.into(),
        status: ConditionStatus::True,
        ..NodeCondition::default()
    }];
    node
}

/// A pod of one container with these requests and limits.
pub fn pod_with(requests: &[(&str, &str)], limits: &[(&str, &str)]) -> Pod {
    let mut pod = Pod::default();
    pod.metadata.namespace = "default".into();
    pod.metadata.name = "p".into();
    pod.spec.containers = vec![Container {
        name: "c".into(),
        image: "host".into(),
        resources: ResourceRequirements {
            requests: quantities(requests),
            limits: quantities(limits),
        },
        ..Container::default()
    }];
    pod
}

/// The scheduler's cache with `pods` counted where they are bound.
pub fn cache_of(pods: &[Pod]) -> SchedulerCache {
    let mut cache = SchedulerCache::default();
    for (i, pod) in pods.iter().enumerate() {
        // Fixture pods often share a name; each one counts.
        let mut pod = pod.clone();
        pod.metadata.name = format!("{}-{i}", pod.metadata.name);
        cache.pod_changed(EventType::Added, &pod);
    }
    cache
}

/// The nodes with `pods` counted where they are bound, as the scheduler's cache sees them.
pub fn node_infos<'a>(nodes: &'a [Node], pods: &[Pod]) -> Vec<NodeInfo<'a>> {
    cache_of(pods).node_infos(nodes.iter())
}

/// Schedules `pod` with `framework` over `nodes` with `pods` placed; namespaces have no labels.
pub fn schedule(
    framework: &mut Framework,
    pod: &Pod,
    nodes: &[Node],
    pods: &[Pod],
) -> Result<String, FitError> {
    let cache = cache_of(pods);
    let infos = cache.node_infos(nodes.iter());
    let cluster = Cluster {
        nodes: &infos,
        pods: cache.index(),
        namespace_labels: &|_| None,
    };
    framework.schedule(pod, &cluster)
}

/// What the plug-ins compute about `pod` before filtering, with `pods` placed on `nodes`.
pub fn cycle_state(pod: &Pod, nodes: &[Node], pods: &[Pod]) -> CycleState {
    let cache = cache_of(pods);
    let infos = cache.node_infos(nodes.iter());
    let cluster = Cluster {
        nodes: &infos,
        pods: cache.index(),
        namespace_labels: &|_| None,
    };
    CycleState::compute(pod, &cluster)
}

/// `pod` with these labels and name.
pub fn labelled(mut pod: Pod, name: &str, labels: &[(&str, &str)]) -> Pod {
    pod.metadata.name = name.into();
    pod.metadata.labels = labels
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    pod
}

/// A ready node with these labels (and its hostname label).
pub fn node_in(name: &str, labels: &[(&str, &str)]) -> Node {
    let mut node = ready_node(name, "8", "16Gi");
    node.metadata.labels = labels
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    node.metadata
        .labels
        .insert(LABEL_HOSTNAME.into(), name.into());
    node
}
