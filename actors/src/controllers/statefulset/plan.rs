//! The pure reconcile step of the StatefulSet controller, as Kubernetes' stateful set control
//! decides it: from the set and the pods it controls, the pods to create and delete and the
//! status to report.
//!
//! Pod `i` of a set named `web` is `web-<start + i>`, with the labels
//! `statefulset.kubernetes.io/pod-name` and `apps.kubernetes.io/pod-index`, `hostname` its
//! name and `subdomain` the set's `serviceName`, so the cluster DNS gives it a stable name.
//! A deleted or failed pod is recreated under the same name. With `OrderedReady`, pods are
//! created one at a time in ordinal order, each once the ones below are Running and Ready,
//! and removed one at a time from the highest, once all the others are; `Parallel` does both
//! at once. `RollingUpdate` then deletes, from the highest ordinal down to the partition, one
//! pod whose `controller-revision-hash` is not the template's, once the pods above it are
//! healthy; the pod comes back from the new template. `OnDelete` leaves that to the operator.
//!
//! New pods always come from the current template: without stored revisions of old templates,
//! a pod below the partition that is deleted comes back updated.

use std::time::{Duration, SystemTime};

use flotilla_kernel::object::{
    DaemonSetUpdateStrategyType, Kind, ObjectMeta, Pod, PodManagementPolicy, PodPhase, PodSpec,
    StatefulSet, StatefulSetStatus,
};

use crate::controllers::daemonset::plan::CONTROLLER_REVISION_HASH;
use crate::controllers::deployment::hash::template_hash;
use crate::controllers::ownership::{controller_reference, is_terminating};
use crate::controllers::replicaset::readiness::availability;

/// The label naming a set's pod (Kubernetes' name), for a Service per pod.
pub const POD_NAME_LABEL: &str = "statefulset.kubernetes.io/pod-name";
/// The label carrying a set's pod's ordinal (Kubernetes' name).
pub const POD_INDEX_LABEL: &str = "apps.kubernetes.io/pod-index";

/// What one reconcile of a StatefulSet does.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Plan {
    /// New pods, in the order to create them.
    pub create: Vec<Pod>,
    /// Names of pods to delete, in order.
    pub delete: Vec<String>,
    /// The status to write, if it changed.
    pub status: Option<StatefulSetStatus>,
    /// When a ready pod becomes available, so the counts move without another event.
    pub requeue_after: Option<Duration>,
}

/// Plans one step for `set` from the pods it controls.
pub fn plan(set: &StatefulSet, pods: &[&Pod], now: SystemTime) -> Plan {
    let update_revision = revision(set);
    let replicas = usize::try_from(set.spec.replicas.unwrap_or(1)).unwrap_or(0);
    let start = i64::from(set.first_ordinal());
    let min_ready = set.spec.min_ready_seconds;

    // Pods in range by index, and the condemned (out of range) ones, highest ordinal first.
    let mut slots: Vec<Option<&Pod>> = vec![None; replicas];
    let mut condemned: Vec<(i64, &Pod)> = Vec::new();
    for pod in pods {
        let Some(ordinal) = ordinal_of(&set.metadata.name, &pod.metadata.name) else {
            continue;
        };
        let index = usize::try_from(ordinal - start)
            .ok()
            .filter(|i| *i < replicas);
        match index {
            Some(index) => slots[index] = Some(pod),
            None => condemned.push((ordinal, pod)),
        }
    }
    condemned.sort_by_key(|(ordinal, _)| std::cmp::Reverse(*ordinal));

    let mut plan = Plan::default();
    let ordered = set.spec.pod_management_policy == PodManagementPolicy::OrderedReady;
    let complete = step(
        set,
        &slots,
        &condemned,
        ordered,
        &update_revision,
        &mut plan,
    );
    if complete && set.spec.update_strategy.type_ == DaemonSetUpdateStrategyType::RollingUpdate {
        roll(set, &slots, &update_revision, &mut plan);
    }

    let status = status(set, pods, &update_revision, now);
    if status != set.status {
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

/// Creates missing pods, replaces finished ones and removes condemned ones; returns whether
/// every pod in range exists and is healthy with nothing removed, so an update may proceed.
fn step(
    set: &StatefulSet,
    slots: &[Option<&Pod>],
    condemned: &[(i64, &Pod)],
    ordered: bool,
    update_revision: &str,
    plan: &mut Plan,
) -> bool {
    let start = i64::from(set.first_ordinal());
    let mut complete = true;
    for (index, slot) in slots.iter().enumerate() {
        let ordinal = start + i64::try_from(index).unwrap_or(i64::MAX);
        let waits = match slot {
            None => {
                plan.create.push(new_pod(set, ordinal, update_revision));
                true
            }
            Some(pod) if finished(pod) && !is_terminating(&pod.metadata) => {
                plan.delete.push(pod.metadata.name.clone());
                true
            }
            Some(pod) => !healthy(pod),
        };
        if waits {
            complete = false;
            if ordered {
                return false;
            }
        }
    }
    for (_, pod) in condemned {
        complete = false;
        if is_terminating(&pod.metadata) {
            if ordered {
                return false;
            }
            continue;
        }
        plan.delete.push(pod.metadata.name.clone());
        if ordered {
            return false;
        }
    }
    complete
}

/// Deletes, from the highest index down to the partition, the first pod not of the update
/// revision, once the pods above it are healthy.
fn roll(set: &StatefulSet, slots: &[Option<&Pod>], update_revision: &str, plan: &mut Plan) {
    let partition = set
        .spec
        .update_strategy
        .rolling_update
        .as_ref()
        .and_then(|r| r.partition)
        .unwrap_or(0);
    let partition = usize::try_from(partition).unwrap_or(0);
    for pod in slots.iter().skip(partition).rev().flatten() {
        if !is_revision(pod, update_revision) && !is_terminating(&pod.metadata) {
            plan.delete.push(pod.metadata.name.clone());
            return;
        }
        if !healthy(pod) {
            return;
        }
    }
}

/// Kubernetes' StatefulSet status: every pod counts towards `replicas`, live ones towards the
/// revision counts; once a rolling update has made every pod ready and of the update
/// revision, that revision becomes the current one.
fn status(
    set: &StatefulSet,
    pods: &[&Pod],
    update_revision: &str,
    now: SystemTime,
) -> StatefulSetStatus {
    let mut current_revision = set.status.current_revision.clone();
    if current_revision.is_empty() {
        current_revision = update_revision.to_string();
    }
    let mut status = StatefulSetStatus {
        observed_generation: set.metadata.generation,
        update_revision: update_revision.to_string(),
        ..StatefulSetStatus::default()
    };
    for pod in pods {
        status.replicas += 1;
        if running_and_ready(pod) {
            status.ready_replicas += 1;
            if availability(pod, set.spec.min_ready_seconds, now).available {
                status.available_replicas += 1;
            }
        }
        if !is_terminating(&pod.metadata) {
            status.current_replicas += i32::from(is_revision(pod, &current_revision));
            status.updated_replicas += i32::from(is_revision(pod, update_revision));
        }
    }
    let rolling = set.spec.update_strategy.type_ == DaemonSetUpdateStrategyType::RollingUpdate;
    if rolling
        && status.updated_replicas == status.replicas
        && status.ready_replicas == status.replicas
    {
        current_revision = update_revision.to_string();
        status.current_replicas = status.updated_replicas;
    }
    status.current_revision = current_revision;
    status
}

/// Pod `ordinal` of the set, from its current template.
fn new_pod(set: &StatefulSet, ordinal: i64, update_revision: &str) -> Pod {
    let template = &set.spec.template;
    let name = format!("{}-{ordinal}", set.metadata.name);
    let mut labels = template.metadata.labels.clone();
    labels.insert(POD_NAME_LABEL.into(), name.clone());
    labels.insert(POD_INDEX_LABEL.into(), ordinal.to_string());
    labels.insert(CONTROLLER_REVISION_HASH.into(), update_revision.into());
    Pod {
        metadata: ObjectMeta {
            name: name.clone(),
            namespace: set.metadata.namespace.clone(),
            labels,
            annotations: template.metadata.annotations.clone(),
            owner_references: vec![controller_reference(Kind::StatefulSet, &set.metadata)],
            ..ObjectMeta::default()
        },
        spec: PodSpec {
            hostname: name,
            subdomain: set.spec.service_name.clone(),
            ..template.spec.clone()
        },
        ..Pod::default()
    }
}

/// The revision of the set's template: `<set>-<template hash>`, as Kubernetes names the
/// revisions of a set.
pub fn revision(set: &StatefulSet) -> String {
    format!(
        "{}-{}",
        set.metadata.name,
        template_hash(&set.spec.template)
    )
}

/// The ordinal in a pod's name, if it is `<set>-<ordinal>`.
pub fn ordinal_of(set: &str, pod: &str) -> Option<i64> {
    let digits = pod.strip_prefix(set)?.strip_prefix('-')?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

fn is_revision(pod: &Pod, revision: &str) -> bool {
    pod.metadata
        .labels
        .get(CONTROLLER_REVISION_HASH)
        .map(String::as_str)
        == Some(revision)
}

fn finished(pod: &Pod) -> bool {
    matches!(pod.status.phase, PodPhase::Failed | PodPhase::Succeeded)
}

fn running_and_ready(pod: &Pod) -> bool {
    pod.status.phase == PodPhase::Running && pod.is_ready()
}

fn healthy(pod: &Pod) -> bool {
    running_and_ready(pod) && !is_terminating(&pod.metadata)
}
