//! The status of a PodDisruptionBudget, computed as Kubernetes' disruption controller does:
//!
//! - expected pods: with `maxUnavailable`, or a percentage `minAvailable`, the sum of the
//!   scales (`spec.replicas`) of the selected pods' controllers — a ReplicaSet's Deployment
//!   when it has one — each counted once, pods without a controller ignored; with an integer
//!   `minAvailable`, the number of selected pods;
//! - desired healthy: `minAvailable` of the expected pods, or the expected pods less
//!   `maxUnavailable` (percentages rounded up);
//! - current healthy: selected pods that are ready, not being deleted, and not evicted in the
//!   last two minutes (`disruptedPods`, which the Eviction call fills and this empties once
//!   the pod is seen going, or after that timeout);
//! - disruptions allowed: current less desired healthy, never below zero, and zero when no pods
//!   are expected; condition `DisruptionAllowed` says so with reason SufficientPods or
//!   InsufficientPods.
//!
//! When the expected pods cannot be counted (a controller without a scale), the budget allows
//! no disruption and says why (reason SyncFailed), as Kubernetes' fail-safe does.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use flotilla_kernel::object::{
    Condition, ConditionStatus, IntOrString, Pod, PodDisruptionBudget, PodDisruptionBudgetStatus,
    Time,
};

/// How long an evicted pod may take to be marked for deletion before it counts as healthy
/// again (Kubernetes' `DeletionTimeout`).
pub const DELETION_TIMEOUT: Duration = Duration::from_secs(120);

/// The scale of the controller a pod's controller reference leads to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scale {
    /// The controller counted: the pod's own, or the Deployment over its ReplicaSet.
    pub uid: String,
    pub replicas: i32,
}

/// Scales by the uid in the pods' controller references; a reference missing here has no
/// controller with a scale.
pub type Scales = BTreeMap<String, Scale>;

/// Whether the budget counts expected pods by their controllers' scales.
pub fn needs_scales(pdb: &PodDisruptionBudget) -> bool {
    pdb.spec.max_unavailable.is_some()
        || matches!(pdb.spec.min_available, Some(IntOrString::String(_)))
}

/// The budget's status over `pods` (those it selects) at `now`, and when to look again for
/// an eviction that should have been seen through by then.
pub fn compute(
    pdb: &PodDisruptionBudget,
    pods: &[&Pod],
    scales: &Scales,
    now: SystemTime,
) -> (PodDisruptionBudgetStatus, Option<Duration>) {
    let (expected, desired) = match expected_and_desired(pdb, pods, scales) {
        Ok(counts) => counts,
        Err(reason) => return (fail_safe(pdb, reason, now), None),
    };
    let (disrupted_pods, recheck) = still_disrupted(pdb, pods, now);
    let current = pods
        .iter()
        .filter(|pod| pod.metadata.deletion_timestamp.is_none())
        .filter(|pod| !disrupted_pods.contains_key(&pod.metadata.name))
        .filter(|pod| pod.is_ready())
        .count();
    let current = i32::try_from(current).unwrap_or(i32::MAX);
    let allowed = if expected <= 0 {
        0
    } else {
        current.saturating_sub(desired).max(0)
    };
    let (status, reason) = if allowed > 0 {
        (ConditionStatus::True, PodDisruptionBudget::SUFFICIENT_PODS)
    } else {
        (
            ConditionStatus::False,
            PodDisruptionBudget::INSUFFICIENT_PODS,
        )
    };
    let generation = pdb.metadata.generation;
    let next = PodDisruptionBudgetStatus {
        observed_generation: generation,
        disrupted_pods,
        disruptions_allowed: allowed,
        current_healthy: current,
        desired_healthy: desired,
        expected_pods: expected,
        conditions: with_condition(pdb, status, reason, "", generation, now),
    };
    (next, recheck)
}

fn expected_and_desired(
    pdb: &PodDisruptionBudget,
    pods: &[&Pod],
    scales: &Scales,
) -> Result<(i32, i32), String> {
    let spec = &pdb.spec;
    let scaled =
        |bound: &IntOrString, total| bound.scaled_value(total, true).map_err(|e| e.to_string());
    if let Some(max) = &spec.max_unavailable {
        let expected = expected_scale(pods, scales)?;
        let desired = expected.saturating_sub(scaled(max, expected)?).max(0);
        return Ok((expected, desired));
    }
    match &spec.min_available {
        Some(IntOrString::Int(min)) => Ok((i32::try_from(pods.len()).unwrap_or(i32::MAX), *min)),
        Some(min) => {
            let expected = expected_scale(pods, scales)?;
            Ok((expected, scaled(min, expected)?))
        }
        None => Ok((0, 0)),
    }
}

/// The sum of the scales of the pods' controllers, each counted once.
fn expected_scale(pods: &[&Pod], scales: &Scales) -> Result<i32, String> {
    let mut counted: BTreeMap<&str, i32> = BTreeMap::new();
    for pod in pods {
        let Some(reference) = pod.metadata.controller_ref() else {
            continue;
        };
        let scale = scales
            .get(&reference.uid)
            .ok_or_else(|| format!("found no controllers for pod {:?}", pod.metadata.name))?;
        counted.insert(&scale.uid, scale.replicas);
    }
    Ok(counted.values().fold(0, |sum, n| sum.saturating_add(*n)))
}

/// The evictions not yet seen through: pods still selected and not yet marked for deletion,
/// within the timeout. Returns them and the time until the first times out.
fn still_disrupted(
    pdb: &PodDisruptionBudget,
    pods: &[&Pod],
    now: SystemTime,
) -> (BTreeMap<String, Time>, Option<Duration>) {
    let mut kept = BTreeMap::new();
    let mut recheck: Option<Duration> = None;
    for (name, evicted) in &pdb.status.disrupted_pods {
        let pending = pods
            .iter()
            .any(|p| p.metadata.name == *name && p.metadata.deletion_timestamp.is_none());
        let due = evicted.system_time() + DELETION_TIMEOUT;
        let Ok(left) = due.duration_since(now) else {
            continue;
        };
        if pending {
            recheck = Some(recheck.map_or(left, |r| r.min(left)));
            kept.insert(name.clone(), *evicted);
        }
    }
    (kept, recheck)
}

/// The status that allows nothing, saying why the budget could not be computed.
fn fail_safe(
    pdb: &PodDisruptionBudget,
    reason: String,
    now: SystemTime,
) -> PodDisruptionBudgetStatus {
    let mut status = pdb.status.clone();
    status.disruptions_allowed = 0;
    status.conditions = with_condition(
        pdb,
        ConditionStatus::False,
        PodDisruptionBudget::SYNC_FAILED,
        &reason,
        status.observed_generation,
        now,
    );
    status
}

/// The budget's conditions with `DisruptionAllowed` set; its transition time moves only when
/// its status does.
fn with_condition(
    pdb: &PodDisruptionBudget,
    status: ConditionStatus,
    reason: &str,
    message: &str,
    observed_generation: i64,
    now: SystemTime,
) -> Vec<Condition> {
    let mut conditions = pdb.status.conditions.clone();
    let since = conditions
        .iter()
        .find(|c| c.type_ == PodDisruptionBudget::DISRUPTION_ALLOWED && c.status == status)
        .and_then(|c| c.last_transition_time)
        .unwrap_or_else(|| Time::from(now));
    conditions.retain(|c| c.type_ != PodDisruptionBudget::DISRUPTION_ALLOWED);
    conditions.push(Condition {
        type_: PodDisruptionBudget::DISRUPTION_ALLOWED.into(),
        status,
        observed_generation,
        last_transition_time: Some(since),
        reason: reason.into(),
        message: message.into(),
    });
    conditions
}
