//! The pure reconcile step of the DaemonSet controller, as Kubernetes' daemon controller
//! decides it: from the DaemonSet, the nodes and the set's own pods, the pods to create and
//! delete and the status to report.
//!
//! Per node, [`placement`] says whether a pod belongs there. A node that should run one and
//! has none gets one, bound to it (`spec.nodeName`: the scheduler has no node affinity to
//! place it by); a node that should not keep one loses its pods; failed pods are replaced;
//! extra pods go, oldest kept. With `RollingUpdate`, pods whose `controller-revision-hash`
//! is not the template's are replaced node by node within `maxUnavailable` (delete, then
//! create) or `maxSurge` (create, then delete once the new pod is available). `OnDelete`
//! replaces a pod only when someone else deletes it. Terminating pods still occupy their node,
//! so a node gets its new pod once the old one is gone.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use flotilla_kernel::object::{
    DaemonSet, DaemonSetStatus, DaemonSetUpdateStrategyType, IntOrString, Kind, Node, ObjectMeta,
    Pod, PodPhase, PodSpec,
};

use super::placement::{Placement, daemon_pod_spec, placement};
use crate::controllers::deployment::hash::template_hash;
use crate::controllers::ownership::{controller_reference, is_terminating};
use crate::controllers::replicaset::readiness::availability;

/// The label carrying the hash of the template a pod was made from (Kubernetes' name).
pub const CONTROLLER_REVISION_HASH: &str = "controller-revision-hash";

/// What one reconcile of a DaemonSet does.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Plan {
    /// New pods, each bound to its node.
    pub create: Vec<Pod>,
    /// Names of pods to delete.
    pub delete: Vec<String>,
    /// The status to write, if it changed.
    pub status: Option<DaemonSetStatus>,
    /// When a ready pod becomes available, so the counts move without another event.
    pub requeue_after: Option<Duration>,
}

/// One node and the set's pods on it.
struct NodePods<'a> {
    node: &'a Node,
    placement: Placement,
    /// Every pod of the set on the node, terminating ones too.
    all: Vec<&'a Pod>,
    /// The live ones (not terminating, not failed), oldest first.
    running: Vec<&'a Pod>,
}

/// Plans one step for `daemon_set` over every node and the pods it controls.
pub fn plan(daemon_set: &DaemonSet, nodes: &[&Node], pods: &[&Pod], now: SystemTime) -> Plan {
    let spec = daemon_pod_spec(&daemon_set.spec.template.spec);
    let hash = template_hash(&daemon_set.spec.template);
    let min_ready = daemon_set.spec.min_ready_seconds;
    let available = |pod: &Pod| availability(pod, min_ready, now).available;

    let mut by_node: BTreeMap<&str, Vec<&Pod>> = BTreeMap::new();
    for pod in pods {
        by_node.entry(&pod.spec.node_name).or_default().push(pod);
    }
    let mut plan = Plan::default();
    let mut nodes_pods = Vec::new();
    for node in nodes {
        let all = by_node
            .remove(node.metadata.name.as_str())
            .unwrap_or_default();
        let mut running: Vec<&Pod> = Vec::new();
        for pod in &all {
            if is_terminating(&pod.metadata) {
                continue;
            }
            if pod.status.phase == PodPhase::Failed {
                plan.delete.push(pod.metadata.name.clone());
            } else {
                running.push(pod);
            }
        }
        running.sort_by_key(|pod| age_key(pod));
        nodes_pods.push(NodePods {
            node,
            placement: placement(&spec, node),
            all,
            running,
        });
    }
    // Pods of nodes that are gone, or that were never bound, have nowhere to run.
    plan.delete.extend(
        by_node
            .into_values()
            .flatten()
            .filter(|pod| !is_terminating(&pod.metadata))
            .map(|pod| pod.metadata.name.clone()),
    );

    let surge = allows_surge(daemon_set);
    // Nodes that should run a pod and lack one, or run more than they should, until fixed.
    let mut unavailable = 0;
    let mut settled = Vec::new();
    for entry in &nodes_pods {
        let name = &entry.node.metadata.name;
        if entry.placement.should_run && entry.all.is_empty() {
            plan.create.push(new_pod(daemon_set, &spec, &hash, name));
            unavailable += 1;
        } else if !entry.placement.should_continue_running {
            plan.delete
                .extend(entry.running.iter().map(|pod| pod.metadata.name.clone()));
        } else if entry.running.is_empty() {
            // Its pods are going: it gets a new one once they are gone.
            unavailable += i32::from(entry.placement.should_run);
        } else if let Some(extra) = extra_pods(&entry.running, &hash, surge, &available) {
            plan.delete.extend(extra);
            unavailable += 1;
        } else {
            settled.push(entry);
        }
    }
    if daemon_set.spec.update_strategy.type_ == DaemonSetUpdateStrategyType::RollingUpdate {
        let desired = count(nodes_pods.iter().filter(|e| e.placement.should_run));
        let (max_surge, max_unavailable) = fenceposts(daemon_set, desired);
        let mut update = RollingUpdate {
            hash: &hash,
            available: &available,
            unavailable,
            plan: &mut plan,
        };
        if max_surge > 0 {
            update.surge(&settled, max_surge, daemon_set, &spec);
        } else {
            update.unavailable_first(&settled, max_unavailable);
        }
    }
    let status = status(daemon_set, &nodes_pods, &hash, &available);
    if status != daemon_set.status {
        plan.status = Some(status);
    }
    plan.requeue_after = pods
        .iter()
        .filter(|pod| !is_terminating(&pod.metadata))
        .filter_map(|pod| availability(pod, min_ready, now).available_at)
        .filter_map(|at| at.duration_since(now).ok())
        .min();
    plan
}

/// The pods to delete when a node runs more than one: without surge, all but the oldest;
/// with surge, all but the oldest of the current and the oldest of an old template, and
/// that old one too once it is not ready or the new one is available. `None` when the node
/// runs at most one, or exactly the pair a surge allows.
fn extra_pods(
    running: &[&Pod],
    hash: &str,
    surge: bool,
    available: &dyn Fn(&Pod) -> bool,
) -> Option<Vec<String>> {
    if running.len() <= 1 {
        return None;
    }
    let names = |pods: &[&Pod]| -> Vec<String> {
        pods.iter().map(|pod| pod.metadata.name.clone()).collect()
    };
    if !surge {
        return Some(names(&running[1..]));
    }
    let mut oldest_new = None;
    let mut oldest_old = None;
    let mut extra = Vec::new();
    for pod in running {
        let slot = if is_updated(pod, hash) {
            &mut oldest_new
        } else {
            &mut oldest_old
        };
        if slot.is_none() {
            *slot = Some(*pod);
        } else {
            extra.push(*pod);
        }
    }
    if let (Some(new), Some(old)) = (oldest_new, oldest_old)
        && (!old.is_ready() || available(new))
    {
        extra.push(old);
    }
    (!extra.is_empty()).then(|| names(&extra))
}

/// The rolling replacement of old pods on nodes that run exactly what they should.
struct RollingUpdate<'p, 'a> {
    hash: &'a str,
    available: &'a dyn Fn(&Pod) -> bool,
    /// Nodes that should run a pod and have no available one of the current template.
    unavailable: i32,
    plan: &'p mut Plan,
}

impl RollingUpdate<'_, '_> {
    /// `maxSurge` 0: an old pod is deleted (its node gets a new one next) while fewer than
    /// `max_unavailable` nodes lack an available pod; unavailable old pods go at once.
    fn unavailable_first(&mut self, settled: &[&NodePods<'_>], max_unavailable: i32) {
        let mut candidates = Vec::new();
        for entry in settled {
            let Some(pod) = entry.running.first() else {
                continue;
            };
            if is_updated(pod, self.hash) {
                if !(self.available)(pod) {
                    self.unavailable += 1;
                }
            } else if !(self.available)(pod) {
                self.unavailable += 1;
                self.plan.delete.push(pod.metadata.name.clone());
            } else {
                candidates.push(pod.metadata.name.clone());
            }
        }
        let room = usize::try_from(max_unavailable - self.unavailable).unwrap_or(0);
        self.plan.delete.extend(candidates.into_iter().take(room));
    }

    /// `maxSurge` above 0: a node with an available old pod gets a new pod beside it while
    /// fewer than `max_surge` nodes run two; a node whose old pod is unavailable gets one at
    /// once. The old pod goes once the new one is available (see [`extra_pods`]).
    fn surge(
        &mut self,
        settled: &[&NodePods<'_>],
        max_surge: i32,
        daemon_set: &DaemonSet,
        spec: &PodSpec,
    ) {
        let surging = count(settled.iter().filter(|e| e.running.len() == 2));
        let mut room = usize::try_from(max_surge - surging).unwrap_or(0);
        for entry in settled {
            let [pod] = entry.running.as_slice() else {
                continue;
            };
            if is_updated(pod, self.hash) {
                continue;
            }
            let replace_now = !(self.available)(pod);
            if replace_now || room > 0 {
                if !replace_now {
                    room -= 1;
                }
                let node = &entry.node.metadata.name;
                self.plan
                    .create
                    .push(new_pod(daemon_set, spec, self.hash, node));
            }
        }
    }
}

/// The counts of Kubernetes' DaemonSet status, from the nodes and pods as observed.
fn status(
    daemon_set: &DaemonSet,
    nodes_pods: &[NodePods<'_>],
    hash: &str,
    available: &dyn Fn(&Pod) -> bool,
) -> DaemonSetStatus {
    let mut status = DaemonSetStatus {
        observed_generation: daemon_set.metadata.generation,
        ..DaemonSetStatus::default()
    };
    for entry in nodes_pods {
        let scheduled = !entry.running.is_empty();
        if !entry.placement.should_run {
            if scheduled {
                status.number_misscheduled += 1;
            }
            continue;
        }
        status.desired_number_scheduled += 1;
        let Some(pod) = entry.running.first() else {
            continue;
        };
        status.current_number_scheduled += 1;
        if pod.is_ready() {
            status.number_ready += 1;
        }
        if available(pod) {
            status.number_available += 1;
        }
        if entry.running.iter().any(|pod| is_updated(pod, hash)) {
            status.updated_number_scheduled += 1;
        }
    }
    status.number_unavailable = status.desired_number_scheduled - status.number_available;
    status
}

/// A pod of the current template for `node`, named by the API server from the set's name.
fn new_pod(daemon_set: &DaemonSet, spec: &PodSpec, hash: &str, node: &str) -> Pod {
    let template = &daemon_set.spec.template;
    let mut labels = template.metadata.labels.clone();
    labels.insert(CONTROLLER_REVISION_HASH.into(), hash.into());
    Pod {
        metadata: ObjectMeta {
            generate_name: format!("{}-", daemon_set.metadata.name),
            namespace: daemon_set.metadata.namespace.clone(),
            labels,
            annotations: template.metadata.annotations.clone(),
            owner_references: vec![controller_reference(Kind::DaemonSet, &daemon_set.metadata)],
            ..ObjectMeta::default()
        },
        spec: PodSpec {
            node_name: node.into(),
            ..spec.clone()
        },
        ..Pod::default()
    }
}

fn is_updated(pod: &Pod, hash: &str) -> bool {
    pod.metadata
        .labels
        .get(CONTROLLER_REVISION_HASH)
        .map(String::as_str)
        == Some(hash)
}

/// Oldest first, by creation time then name.
fn age_key(pod: &Pod) -> (Option<SystemTime>, String) {
    (
        pod.metadata.creation_timestamp.map(|t| t.system_time()),
        pod.metadata.name.clone(),
    )
}

/// Whether a rolling update may run two pods on a node (any `maxSurge` above 0 allows one).
fn allows_surge(daemon_set: &DaemonSet) -> bool {
    daemon_set.spec.update_strategy.type_ == DaemonSetUpdateStrategyType::RollingUpdate
        && fenceposts(daemon_set, 1).0 > 0
}

/// `maxSurge` and `maxUnavailable` resolved against `desired` nodes, both rounded up as
/// Kubernetes does for DaemonSets; both 0 (a bound that rounds to nothing) allows one node
/// unavailable.
fn fenceposts(daemon_set: &DaemonSet, desired: i32) -> (i32, i32) {
    let rolling = daemon_set.spec.update_strategy.rolling_update.as_ref();
    let scaled = |bound: Option<&IntOrString>, default: i32| {
        bound
            .and_then(|b| b.scaled_value(desired, true).ok())
            .unwrap_or(default)
            .max(0)
    };
    let max_surge = scaled(rolling.and_then(|r| r.max_surge.as_ref()), 0);
    let max_unavailable = scaled(rolling.and_then(|r| r.max_unavailable.as_ref()), 1);
    if max_surge == 0 && max_unavailable == 0 {
        (0, 1)
    } else {
        (max_surge, max_unavailable)
    }
}

fn count<T>(items: impl Iterator<Item = T>) -> i32 {
    i32::try_from(items.count()).unwrap_or(i32::MAX)
}
