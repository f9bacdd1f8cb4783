//! A Deployment's status, computed from its ReplicaSets as Kubernetes computes it: counts
//! summed over the sets, and the `Available` and `Progressing` conditions (whose timestamps
//! move only when they change, so an unchanged status compares equal and is not written).

use flotilla_kernel::object::{
    ConditionStatus, Deployment, DeploymentCondition, DeploymentStatus, ReplicaSet, Time,
};

use super::replica_sets::{replicas, total_available, total_replicas};

/// How the rollout stands, for the `Progressing` condition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// The new ReplicaSet was created in this step.
    Created,
    /// The rollout is under way.
    Updating,
    /// The Deployment is paused.
    Paused,
}

/// The status of `deployment` whose ReplicaSets are `new` and `old` (with the replica counts
/// this step decided), at `now`.
pub fn calculate(
    deployment: &Deployment,
    new: Option<&ReplicaSet>,
    old: &[ReplicaSet],
    max_unavailable: i32,
    progress: Progress,
    now: &Time,
) -> DeploymentStatus {
    let all = || new.into_iter().chain(old);
    let desired = deployment.spec.replicas.unwrap_or(1);
    let available = total_available(all());
    let mut status = DeploymentStatus {
        observed_generation: deployment.metadata.generation,
        replicas: all().map(|rs| rs.status.replicas).sum(),
        updated_replicas: new.map_or(0, |rs| rs.status.replicas),
        ready_replicas: all().map(|rs| rs.status.ready_replicas).sum(),
        available_replicas: available,
        unavailable_replicas: (total_replicas(all()) - available).max(0),
        conditions: deployment.status.conditions.clone(),
    };
    let (status_value, reason, message) = if available >= desired - max_unavailable {
        (
            ConditionStatus::True,
            "MinimumReplicasAvailable",
            "Deployment has minimum availability.".to_string(),
        )
    } else {
        (
            ConditionStatus::False,
            "MinimumReplicasUnavailable",
            "Deployment does not have minimum availability.".to_string(),
        )
    };
    set_condition(
        &mut status.conditions,
        DeploymentCondition::AVAILABLE,
        status_value,
        reason,
        message,
        now,
    );
    let new_name = new.map_or("", |rs| rs.metadata.name.as_str());
    let (status_value, reason, message) = match progress {
        Progress::Paused => (
            ConditionStatus::Unknown,
            "DeploymentPaused",
            "Deployment is paused".to_string(),
        ),
        _ if is_complete(deployment, &status, new) => (
            ConditionStatus::True,
            "NewReplicaSetAvailable",
            format!("ReplicaSet {new_name:?} has successfully progressed."),
        ),
        Progress::Created => (
            ConditionStatus::True,
            "NewReplicaSetCreated",
            format!("Created new replica set {new_name:?}"),
        ),
        Progress::Updating => (
            ConditionStatus::True,
            "ReplicaSetUpdated",
            format!("ReplicaSet {new_name:?} is progressing."),
        ),
    };
    set_condition(
        &mut status.conditions,
        DeploymentCondition::PROGRESSING,
        status_value,
        reason,
        message,
        now,
    );
    status
}

/// Whether every desired replica runs the current template and is available.
pub fn is_complete(
    deployment: &Deployment,
    status: &DeploymentStatus,
    new: Option<&ReplicaSet>,
) -> bool {
    let desired = deployment.spec.replicas.unwrap_or(1);
    new.is_some_and(|rs| replicas(rs) == desired)
        && status.updated_replicas == desired
        && status.replicas == desired
        && status.available_replicas == desired
        && status.observed_generation >= deployment.metadata.generation
}

/// Sets a condition; its transition time moves only when its status changes, its update time
/// when anything about it changes.
fn set_condition(
    conditions: &mut Vec<DeploymentCondition>,
    type_: &str,
    status: ConditionStatus,
    reason: &str,
    message: String,
    now: &Time,
) {
    let Some(current) = conditions.iter_mut().find(|c| c.type_ == type_) else {
        conditions.push(DeploymentCondition {
            type_: type_.to_string(),
            status,
            reason: reason.to_string(),
            message,
            last_update_time: Some(*now),
            last_transition_time: Some(*now),
        });
        return;
    };
    if current.status == status && current.reason == reason && current.message == message {
        return;
    }
    if current.status != status {
        current.last_transition_time = Some(*now);
    }
    current.status = status;
    current.reason = reason.to_string();
    current.message = message;
    current.last_update_time = Some(*now);
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime};

    use super::*;

    fn at(s: u64) -> Time {
        Time::from(SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000 + s))
    }

    fn deployment(replicas: i32) -> Deployment {
        let mut d = Deployment::default();
        d.spec.replicas = Some(replicas);
        d.metadata.generation = 3;
        d
    }

    fn rs(name: &str, replicas: i32, ready: i32, available: i32) -> ReplicaSet {
        let mut rs = ReplicaSet::default();
        rs.metadata.name = name.into();
        rs.spec.replicas = Some(replicas);
        rs.status.replicas = replicas;
        rs.status.ready_replicas = ready;
        rs.status.available_replicas = available;
        rs
    }

    fn condition<'a>(status: &'a DeploymentStatus, type_: &str) -> &'a DeploymentCondition {
        status
            .conditions
            .iter()
            .find(|c| c.type_ == type_)
            .unwrap_or_else(|| panic!("no {type_} condition in {status:?}"))
    }

    #[test]
    fn counts_are_summed_over_the_sets() {
        let d = deployment(4);
        let new = rs("web-new", 2, 2, 1);
        let old = [rs("web-old", 3, 3, 3)];
        let s = calculate(&d, Some(&new), &old, 1, Progress::Updating, &at(0));
        assert_eq!(s.observed_generation, 3);
        assert_eq!(s.replicas, 5);
        assert_eq!(s.updated_replicas, 2);
        assert_eq!(s.ready_replicas, 5);
        assert_eq!(s.available_replicas, 4);
        assert_eq!(s.unavailable_replicas, 1);
        assert_eq!(
            condition(&s, DeploymentCondition::AVAILABLE).status,
            ConditionStatus::True
        );
        let progressing = condition(&s, DeploymentCondition::PROGRESSING);
        assert_eq!(progressing.reason, "ReplicaSetUpdated");
        assert_eq!(
            progressing.message,
            "ReplicaSet \"web-new\" is progressing."
        );
    }

    #[test]
    fn a_complete_rollout_says_so_and_times_move_only_on_change() {
        let mut d = deployment(2);
        let new = rs("web-new", 2, 2, 2);
        let first = calculate(&d, Some(&new), &[], 0, Progress::Updating, &at(0));
        let progressing = condition(&first, DeploymentCondition::PROGRESSING);
        assert_eq!(progressing.reason, "NewReplicaSetAvailable");
        assert_eq!(progressing.last_transition_time, Some(at(0)));
        d.status = first.clone();
        let again = calculate(&d, Some(&new), &[], 0, Progress::Updating, &at(60));
        assert_eq!(again, first, "nothing changed, so the status is equal");
        let short = rs("web-new", 2, 1, 1);
        let degraded = calculate(&d, Some(&short), &[], 0, Progress::Updating, &at(90));
        let available = condition(&degraded, DeploymentCondition::AVAILABLE);
        assert_eq!(available.status, ConditionStatus::False);
        assert_eq!(available.reason, "MinimumReplicasUnavailable");
        assert_eq!(available.last_transition_time, Some(at(90)));
        let progressing = condition(&degraded, DeploymentCondition::PROGRESSING);
        assert_eq!(progressing.last_transition_time, Some(at(0)));
        assert_eq!(progressing.last_update_time, Some(at(90)));
    }

    #[test]
    fn paused_and_created_are_reported() {
        let d = deployment(2);
        let new = rs("web-new", 1, 0, 0);
        let paused = calculate(&d, Some(&new), &[], 0, Progress::Paused, &at(0));
        assert_eq!(
            condition(&paused, DeploymentCondition::PROGRESSING).status,
            ConditionStatus::Unknown
        );
        let created = calculate(&d, Some(&new), &[], 0, Progress::Created, &at(0));
        assert_eq!(
            condition(&created, DeploymentCondition::PROGRESSING).message,
            "Created new replica set \"web-new\""
        );
    }
}
