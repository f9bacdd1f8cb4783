//! Which pods a ReplicaSet deletes first when it has too many, ranked as Kubernetes ranks them
//! (`ActivePods`): the pods whose loss hurts least go first — unassigned before assigned,
//! Pending before Unknown before Running, not ready before ready, ready for a shorter time
//! before a longer one, more restarts before fewer, newer before older.

use std::cmp::Ordering;
use std::time::SystemTime;

use flotilla_kernel::object::{Pod, PodPhase};

use super::readiness::ready_since;

/// `Less` when `a` should be deleted before `b`.
pub fn deletion_order(a: &Pod, b: &Pod) -> Ordering {
    let assigned = |p: &Pod| !p.spec.node_name.is_empty();
    assigned(a)
        .cmp(&assigned(b))
        .then_with(|| phase_rank(&a.status.phase).cmp(&phase_rank(&b.status.phase)))
        .then_with(|| ready_since(a).is_some().cmp(&ready_since(b).is_some()))
        .then_with(|| newer_first(ready_since(a).flatten(), ready_since(b).flatten()))
        .then_with(|| restarts(b).cmp(&restarts(a)))
        .then_with(|| newer_first(created(a), created(b)))
        .then_with(|| a.metadata.name.cmp(&b.metadata.name))
}

/// The `count` pods to delete first.
pub fn pods_to_delete(mut pods: Vec<&Pod>, count: usize) -> Vec<&Pod> {
    pods.sort_by(|a, b| deletion_order(a, b));
    pods.truncate(count);
    pods
}

fn phase_rank(phase: &PodPhase) -> u8 {
    match phase {
        PodPhase::Unknown => 1,
        PodPhase::Running => 2,
        PodPhase::Pending | PodPhase::Succeeded | PodPhase::Failed => 0,
    }
}

/// Later instants first; an unknown instant counts as the newest, as Kubernetes' zero time.
fn newer_first(a: Option<SystemTime>, b: Option<SystemTime>) -> Ordering {
    match (a, b) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Less,
        (Some(_), None) => Ordering::Greater,
        (Some(a), Some(b)) => b.cmp(&a),
    }
}

fn restarts(pod: &Pod) -> i32 {
    pod.status
        .container_statuses
        .iter()
        .map(|c| c.restart_count)
        .max()
        .unwrap_or(0)
}

fn created(pod: &Pod) -> Option<SystemTime> {
    pod.metadata
        .creation_timestamp
        .as_ref()
        .map(|t| t.system_time())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use flotilla_kernel::object::{ConditionStatus, ContainerStatus, PodCondition, Time};

    use super::*;

    fn ready(status: ConditionStatus, since: u64) -> PodCondition {
        PodCondition {
            type_: PodCondition::READY.into(),
            status,
            last_transition_time: Some(at(since)),
            ..PodCondition::default()
        }
    }

    fn at(s: u64) -> Time {
        Time::from(SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000 + s))
    }

    /// A running, ready, assigned pod created at `created`, ready since `ready`.
    fn pod(name: &str, created: u64, since: u64) -> Pod {
        let mut pod = Pod::default();
        pod.metadata.name = name.into();
        pod.metadata.creation_timestamp = Some(at(created));
        pod.spec.node_name = "n1".into();
        pod.status.phase = PodPhase::Running;
        pod.set_condition(ready(ConditionStatus::True, since), at(since));
        pod
    }

    fn order(pods: &[Pod]) -> Vec<String> {
        pods_to_delete(pods.iter().collect(), pods.len())
            .into_iter()
            .map(|p| p.metadata.name.clone())
            .collect()
    }

    #[test]
    fn pods_are_ranked_like_kubernetes() {
        let mut unassigned = pod("unassigned", 0, 0);
        unassigned.spec.node_name.clear();
        unassigned.status.phase = PodPhase::Pending;
        unassigned.status.conditions.clear();
        let mut pending = pod("pending", 0, 0);
        pending.status.phase = PodPhase::Pending;
        pending.status.conditions.clear();
        let mut unknown = pod("unknown", 0, 0);
        unknown.status.phase = PodPhase::Unknown;
        let mut not_ready = pod("not-ready", 0, 0);
        not_ready.set_condition(ready(ConditionStatus::False, 5), at(5));
        let ready_recently = pod("ready-recently", 0, 50);
        let mut restarted = pod("restarted", 0, 10);
        restarted.status.container_statuses = vec![ContainerStatus {
            restart_count: 3,
            ..ContainerStatus::default()
        }];
        let newer = pod("newer", 5, 10);
        let older = pod("older", 1, 10);
        let pods = [
            older.clone(),
            newer.clone(),
            restarted.clone(),
            ready_recently.clone(),
            not_ready.clone(),
            unknown.clone(),
            pending.clone(),
            unassigned.clone(),
        ];
        assert_eq!(
            order(&pods),
            [
                "unassigned",
                "pending",
                "unknown",
                "not-ready",
                "ready-recently",
                "restarted",
                "newer",
                "older"
            ]
        );
    }

    #[test]
    fn only_the_requested_number_is_chosen() {
        let pods = [pod("a", 1, 1), pod("b", 2, 2), pod("c", 3, 3)];
        let chosen = pods_to_delete(pods.iter().collect(), 2);
        let names: Vec<_> = chosen.iter().map(|p| p.metadata.name.as_str()).collect();
        assert_eq!(names, ["c", "b"]);
    }
}
