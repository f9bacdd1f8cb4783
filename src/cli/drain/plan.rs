//! Which pods a drain may evict now without breaking a Deployment's promise: each workload
//! keeps at least `replicas - maxUnavailable` pods available across the cluster, so its pods
//! on the node leave a few at a time while replacements come up elsewhere.

use std::collections::BTreeMap;

use flotilla_actors::controllers::deployment::rolling::{Fenceposts, max_unavailable};
use flotilla_kernel::object::{Deployment, Pod, ReplicaSet};

/// One look at the node being drained.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Plan {
    /// `(namespace, name)` of the pods to evict now.
    pub evict: Vec<(String, String)>,
    /// Pods still on the node (including those leaving).
    pub remaining: usize,
    /// Why some pods must wait, one line per workload.
    pub waiting: Vec<String>,
    /// Pods no controller would replace; evicted only with `--force`.
    pub unmanaged: Vec<String>,
}

/// The workload a pod belongs to, for the availability budget.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Workload {
    Deployment { namespace: String, name: String },
    ReplicaSet { namespace: String, name: String },
}

pub fn plan(
    node: &str,
    pods: &[Pod],
    sets: &[ReplicaSet],
    deployments: &[Deployment],
    force: bool,
) -> Plan {
    let mut plan = Plan::default();
    let on_node: Vec<&Pod> = pods
        .iter()
        .filter(|p| p.spec.node_name == node && !p.is_terminal())
        .collect();
    plan.remaining = on_node.len();
    let mut candidates: BTreeMap<Workload, Vec<&Pod>> = BTreeMap::new();
    for pod in on_node
        .iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
    {
        match workload_of(pod, sets) {
            Some(workload) => candidates.entry(workload).or_default().push(pod),
            None if force => plan.evict.push(key(pod)),
            None => plan.unmanaged.push(pod.metadata.name.clone()),
        }
    }
    for (workload, mut leaving) in candidates {
        let budget = budget(&workload, pods, sets, deployments);
        let allowed = usize::try_from(budget.max(0)).unwrap_or(0);
        leaving.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
        if leaving.len() > allowed {
            plan.waiting.push(format!(
                "{}: {} pod(s) wait until replacements are available",
                describe(&workload),
                leaving.len() - allowed
            ));
        }
        plan.evict
            .extend(leaving.into_iter().take(allowed).map(key));
    }
    plan
}

fn key(pod: &Pod) -> (String, String) {
    (pod.metadata.namespace.clone(), pod.metadata.name.clone())
}

fn describe(workload: &Workload) -> String {
    match workload {
        Workload::Deployment { namespace, name } => format!("deployment {namespace}/{name}"),
        Workload::ReplicaSet { namespace, name } => format!("replicaset {namespace}/{name}"),
    }
}

/// The Deployment (or, for a bare ReplicaSet, the ReplicaSet) that would replace `pod`.
fn workload_of(pod: &Pod, sets: &[ReplicaSet]) -> Option<Workload> {
    let owner = pod.metadata.controller_ref()?;
    if owner.kind != "ReplicaSet" {
        return None;
    }
    let namespace = pod.metadata.namespace.clone();
    let set = sets
        .iter()
        .find(|s| s.metadata.namespace == namespace && s.metadata.uid == owner.uid);
    match set.and_then(|s| s.metadata.controller_ref()) {
        Some(deployment) if deployment.kind == "Deployment" => Some(Workload::Deployment {
            namespace,
            name: deployment.name.clone(),
        }),
        _ => Some(Workload::ReplicaSet {
            namespace,
            name: owner.name.clone(),
        }),
    }
}

/// How many more of the workload's pods may become unavailable now.
fn budget(
    workload: &Workload,
    pods: &[Pod],
    sets: &[ReplicaSet],
    deployments: &[Deployment],
) -> i64 {
    let available = pods
        .iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none() && p.is_ready())
        .filter(|p| workload_of(p, sets).as_ref() == Some(workload))
        .count();
    let available = i64::try_from(available).unwrap_or(i64::MAX);
    let (desired, allowed) = match workload {
        Workload::Deployment { namespace, name } => {
            let Some(deployment) = deployments
                .iter()
                .find(|d| &d.metadata.namespace == namespace && &d.metadata.name == name)
            else {
                return 0;
            };
            let desired = deployment.spec.replicas.unwrap_or(1);
            let strategy = &deployment.spec.strategy;
            let allowed = Fenceposts::resolve(strategy, desired)
                .map(|fenceposts| max_unavailable(strategy, fenceposts, desired))
                .unwrap_or(0);
            (desired, allowed)
        }
        // A ReplicaSet of its own promises nothing; one at a time keeps the rest serving.
        Workload::ReplicaSet { namespace, name } => {
            let desired = sets
                .iter()
                .find(|s| &s.metadata.namespace == namespace && &s.metadata.name == name)
                .and_then(|s| s.spec.replicas)
                .unwrap_or(1);
            (desired, 1)
        }
    };
    available - (i64::from(desired) - i64::from(allowed))
}

#[cfg(test)]
mod tests;
