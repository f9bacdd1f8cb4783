//! Preemption, after Kubernetes' DefaultPreemption: a pod that fits no node may make room by
//! evicting pods of lower priority. On every node, remove all lower-priority pods; if the pod
//! then passes the filters, give back as many of them as still leave it room, highest priority
//! first — the rest are that node's victims. The node whose victims matter least wins: the
//! lowest highest victim priority, then the lowest sum of priorities, then the fewest, then
//! the first by name. Pods already terminating count as gone and are never victims, so a pod
//! waiting for its victims to leave does not evict more.
//!
//! Inter-pod affinity and spreading are judged as computed for the whole cluster, before any
//! victim leaves: preemption only makes room in resources, pod slots and host ports.

use flotilla_kernel::object::{PREEMPT_NEVER, Pod};

use super::cache::Resident;
use super::framework::{Cluster, CycleState, Framework, PodInfo};
use super::node_info::NodeInfo;
use super::scheduling::priority;
use crate::controllers::key::ObjectKey;

/// Where room can be made for a pod, and which pods must go for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Preemption {
    pub node: String,
    /// Empty when pods already terminating there make the room.
    pub victims: Vec<ObjectKey>,
}

/// How much a node's victims matter, lowest first.
type Cost = (i32, i64, usize);

/// The best node to make room on for `pod`, if preempting lower-priority pods can.
pub fn find(framework: &Framework, pod: &Pod, cluster: &Cluster<'_>) -> Option<Preemption> {
    if pod.spec.preemption_policy.as_deref() == Some(PREEMPT_NEVER) {
        return None;
    }
    let state = CycleState::compute(pod, cluster);
    let info = PodInfo::with_state(pod, &state);
    let own = priority(pod);
    let mut best: Option<(Cost, Preemption)> = None;
    for node in cluster.nodes {
        let node = cluster.info(node);
        let residents: Vec<Resident<'_>> = cluster.cache.residents(node.name()).collect();
        let Some((cost, victims)) = victims_on(framework, &info, &node, own, residents) else {
            continue;
        };
        if best.as_ref().is_none_or(|(top, _)| cost < *top) {
            let node = node.name().to_string();
            best = Some((cost, Preemption { node, victims }));
        }
    }
    best.map(|(_, preemption)| preemption)
}

/// The fewest lower-priority pods on `node` whose going lets the pod pass the filters, with
/// their cost; `None` if even all of them going would not.
fn victims_on(
    framework: &Framework,
    pod: &PodInfo<'_>,
    node: &NodeInfo<'_>,
    priority: i32,
    residents: Vec<Resident<'_>>,
) -> Option<(Cost, Vec<ObjectKey>)> {
    let mut trial = node.clone();
    let mut lower: Vec<Resident<'_>> = Vec::new();
    for resident in residents {
        if resident.terminating {
            trial.remove_pod(&resident.requests, resident.host_ports);
        } else if resident.priority < priority {
            trial.remove_pod(&resident.requests, resident.host_ports);
            lower.push(resident);
        }
    }
    if !framework.passes(pod, &trial) {
        return None;
    }
    // Give back the most important first; whoever does not fit back is a victim.
    lower.sort_by(|a, b| b.priority.cmp(&a.priority).then_with(|| a.key.cmp(b.key)));
    let mut victims = Vec::new();
    for resident in lower {
        trial.add_pod(&resident.requests, resident.host_ports);
        if !framework.passes(pod, &trial) {
            trial.remove_pod(&resident.requests, resident.host_ports);
            victims.push(resident);
        }
    }
    let cost = (
        victims.iter().map(|v| v.priority).max().unwrap_or(i32::MIN),
        victims.iter().map(|v| i64::from(v.priority)).sum(),
        victims.len(),
    );
    Some((cost, victims.into_iter().map(|v| v.key.clone()).collect()))
}

#[cfg(test)]
mod tests;
