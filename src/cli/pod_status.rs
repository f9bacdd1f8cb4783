//! The READY, STATUS and RESTARTS columns of a pod, derived as kubectl derives them, because
//! operators read "CrashLoopBackOff" or "Terminating" there rather than the bare phase: the
//! first container that waits or has ended gives its reason, a pod being deleted reads
//! "Terminating", a pod still running its init containers reads "Init:1/2" (or the failing
//! init container's reason, "Init:CrashLoopBackOff"), and otherwise the phase shows.

use std::time::SystemTime;

use flotilla_kernel::object::{ConditionStatus, Pod};

use super::{table, wire_word};

/// `ready/total` containers.
pub fn ready(pod: &Pod) -> String {
    let ready = pod
        .status
        .container_statuses
        .iter()
        .filter(|status| status.ready)
        .count();
    format!("{ready}/{}", pod.spec.containers.len())
}

/// The STATUS column.
pub fn status(pod: &Pod) -> String {
    if pod.metadata.deletion_timestamp.is_some() {
        return "Terminating".to_string();
    }
    if let Some(initializing) = init_status(pod) {
        return initializing;
    }
    let mut reason = if pod.status.reason.is_empty() {
        wire_word::of(&pod.status.phase)
    } else {
        pod.status.reason.clone()
    };
    if !pod.spec.scheduling_gates.is_empty() {
        reason = "SchedulingGated".to_string();
    }
    let mut any_running = false;
    // Walk backwards so that the first container with something to say has the last word.
    for container in pod.status.container_statuses.iter().rev() {
        let state = &container.state;
        if let Some(waiting) = state.waiting.as_ref().filter(|w| !w.reason.is_empty()) {
            reason = waiting.reason.clone();
        } else if let Some(terminated) = &state.terminated {
            reason = if !terminated.reason.is_empty() {
                terminated.reason.clone()
            } else if let Some(signal) = terminated.signal.filter(|signal| *signal != 0) {
                format!("Signal:{signal}")
            } else {
                format!("ExitCode:{}", terminated.exit_code)
            };
        } else if container.ready && state.running.is_some() {
            any_running = true;
        }
    }
    if reason == "Completed" && any_running {
        reason = if pod.is_ready() {
            "Running"
        } else {
            "NotReady"
        }
        .to_string();
    }
    reason
}

/// While init containers are not through: where they are, as kubectl shows it.
fn init_status(pod: &Pod) -> Option<String> {
    let initialized = pod
        .status
        .conditions
        .iter()
        .any(|c| c.type_ == "Initialized" && c.status == ConditionStatus::True);
    if initialized || pod.spec.init_containers.is_empty() {
        return None;
    }
    let total = pod.spec.init_containers.len();
    for (index, spec) in pod.spec.init_containers.iter().enumerate() {
        let Some(status) = pod
            .status
            .init_container_statuses
            .iter()
            .find(|s| s.name == spec.name)
        else {
            return Some(format!("Init:{index}/{total}"));
        };
        let state = &status.state;
        if let Some(terminated) = &state.terminated {
            if terminated.exit_code == 0 {
                continue;
            }
            return Some(if !terminated.reason.is_empty() {
                format!("Init:{}", terminated.reason)
            } else if let Some(signal) = terminated.signal.filter(|signal| *signal != 0) {
                format!("Init:Signal:{signal}")
            } else {
                format!("Init:ExitCode:{}", terminated.exit_code)
            });
        }
        if let Some(waiting) = state
            .waiting
            .as_ref()
            .filter(|w| !w.reason.is_empty() && w.reason != "PodInitializing")
        {
            return Some(format!("Init:{}", waiting.reason));
        }
        if spec.is_sidecar() && state.running.is_some() && status.started != Some(false) {
            continue;
        }
        return Some(format!("Init:{index}/{total}"));
    }
    None
}

/// Restarts summed over containers, with how long ago the last one ended: `3 (2m ago)`.
pub fn restarts(pod: &Pod, now: SystemTime) -> String {
    let statuses = &pod.status.container_statuses;
    let total: i64 = statuses
        .iter()
        .map(|status| i64::from(status.restart_count))
        .sum();
    let last_ended = statuses
        .iter()
        .filter_map(|status| status.last_state.terminated.as_ref())
        .filter_map(|terminated| terminated.finished_at.as_ref())
        .map(|time| time.system_time())
        .max();
    match last_ended {
        Some(ended) if total > 0 => format!("{total} ({} ago)", table::age(now, Some(ended))),
        _ => total.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use flotilla_kernel::object::{
        ConditionStatus, Container, ContainerState, ContainerStateRunning,
        ContainerStateTerminated, ContainerStateWaiting, ContainerStatus, PodPhase, Time,
    };

    use super::*;

    fn pod(phase: PodPhase, statuses: Vec<ContainerStatus>) -> Pod {
        let mut pod = Pod::default();
        pod.spec.containers = statuses
            .iter()
            .map(|status| Container {
                name: status.name.clone(),
                ..Container::default()
            })
            .collect();
        pod.status.phase = phase;
        pod.status.container_statuses = statuses;
        pod
    }

    fn running(name: &str, ready: bool) -> ContainerStatus {
        ContainerStatus {
            name: name.to_string(),
            ready,
            state: ContainerState {
                running: Some(ContainerStateRunning::default()),
                ..ContainerState::default()
            },
            ..ContainerStatus::default()
        }
    }

    fn waiting(name: &str, reason: &str) -> ContainerStatus {
        ContainerStatus {
            name: name.to_string(),
            state: ContainerState {
                waiting: Some(ContainerStateWaiting {
                    reason: reason.to_string(),
                    ..ContainerStateWaiting::default()
                }),
                ..ContainerState::default()
            },
            ..ContainerStatus::default()
        }
    }

    fn terminated(
        name: &str,
        reason: &str,
        exit_code: i32,
        signal: Option<i32>,
    ) -> ContainerStatus {
        ContainerStatus {
            name: name.to_string(),
            state: ContainerState {
                terminated: Some(ContainerStateTerminated {
                    reason: reason.to_string(),
                    exit_code,
                    signal,
                    ..ContainerStateTerminated::default()
                }),
                ..ContainerState::default()
            },
            ..ContainerStatus::default()
        }
    }

    #[test]
    fn a_gated_pod_says_so() {
        let mut gated = pod(PodPhase::Pending, vec![]);
        gated.spec.scheduling_gates = vec![flotilla_kernel::object::PodSchedulingGate {
            name: "quota".into(),
        }];
        assert_eq!(status(&gated), "SchedulingGated");
    }

    #[test]
    fn the_phase_shows_when_nothing_else_does() {
        assert_eq!(status(&pod(PodPhase::Pending, vec![])), "Pending");
        assert_eq!(
            status(&pod(PodPhase::Running, vec![running("a", true)])),
            "Running"
        );
    }

    #[test]
    fn a_waiting_reason_wins_over_the_phase() {
        let crashing = pod(
            PodPhase::Running,
            vec![running("a", true), waiting("b", "CrashLoopBackOff")],
        );
        assert_eq!(status(&crashing), "CrashLoopBackOff");
        let creating = pod(PodPhase::Pending, vec![waiting("a", "ContainerCreating")]);
        assert_eq!(status(&creating), "ContainerCreating");
    }

    #[test]
    fn the_first_container_has_the_last_word() {
        let both = pod(
            PodPhase::Pending,
            vec![
                waiting("a", "ImagePullBackOff"),
                waiting("b", "ContainerCreating"),
            ],
        );
        assert_eq!(status(&both), "ImagePullBackOff");
    }

    #[test]
    fn terminated_containers_give_reason_signal_or_exit_code() {
        let reasoned = pod(PodPhase::Failed, vec![terminated("a", "Error", 1, None)]);
        assert_eq!(status(&reasoned), "Error");
        let signalled = pod(PodPhase::Failed, vec![terminated("a", "", 137, Some(9))]);
        assert_eq!(status(&signalled), "Signal:9");
        let exited = pod(PodPhase::Failed, vec![terminated("a", "", 3, None)]);
        assert_eq!(status(&exited), "ExitCode:3");
    }

    #[test]
    fn completed_beside_a_running_container_reads_by_readiness() {
        let mut mixed = pod(
            PodPhase::Running,
            vec![terminated("a", "Completed", 0, None), running("b", true)],
        );
        assert_eq!(status(&mixed), "NotReady");
        mixed
            .status
            .conditions
            .push(flotilla_kernel::object::PodCondition {
                type_: "Ready".to_string(),
                status: ConditionStatus::True,
                ..Default::default()
            });
        assert_eq!(status(&mixed), "Running");
    }

    #[test]
    fn a_pod_being_deleted_is_terminating() {
        let mut deleting = pod(PodPhase::Running, vec![running("a", true)]);
        deleting.metadata.deletion_timestamp = Some(Time::now());
        assert_eq!(status(&deleting), "Terminating");
    }

    #[test]
    fn ready_counts_ready_containers_of_all_declared() {
        let mut half = pod(
            PodPhase::Running,
            vec![running("a", true), running("b", false)],
        );
        assert_eq!(ready(&half), "1/2");
        half.status.container_statuses.clear();
        assert_eq!(ready(&half), "0/2");
    }

    #[test]
    fn restarts_say_when_the_last_one_ended() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let mut restarted = pod(
            PodPhase::Running,
            vec![running("a", true), running("b", true)],
        );
        assert_eq!(restarts(&restarted, now), "0");
        restarted.status.container_statuses[0].restart_count = 2;
        restarted.status.container_statuses[1].restart_count = 1;
        assert_eq!(restarts(&restarted, now), "3");
        restarted.status.container_statuses[1].last_state.terminated =
            Some(ContainerStateTerminated {
                finished_at: Some(Time::from(now - Duration::from_secs(150))),
                ..ContainerStateTerminated::default()
            });
        assert_eq!(restarts(&restarted, now), "3 (2m30s ago)");
    }

    #[test]
    fn pods_in_their_init_containers_show_where_they_are() {
        let mut p = pod(PodPhase::Pending, vec![waiting("app", "PodInitializing")]);
        p.spec.init_containers = ["migrate", "seed"]
            .iter()
            .map(|name| Container {
                name: name.to_string(),
                ..Container::default()
            })
            .collect();
        p.status.init_container_statuses = vec![
            terminated("migrate", "Completed", 0, None),
            running("seed", false),
        ];
        assert_eq!(status(&p), "Init:1/2");
        p.status.init_container_statuses[1] = waiting("seed", "CrashLoopBackOff");
        assert_eq!(status(&p), "Init:CrashLoopBackOff");
        p.status.init_container_statuses[1] = terminated("seed", "", 3, None);
        assert_eq!(status(&p), "Init:ExitCode:3");
        p.status
            .conditions
            .push(flotilla_kernel::object::PodCondition {
                type_: "Initialized".into(),
                status: ConditionStatus::True,
                ..Default::default()
            });
        assert_eq!(status(&p), "PodInitializing");
    }
}
