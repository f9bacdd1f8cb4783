//! Seeing containers end. The CRI has no exit events every runtime implements, so the agent
//! lists its containers every [`POLL`], as the kubelet's PLEG relists: a container it knows
//! running that the runtime lists exited (or no longer lists) has ended, and its status says
//! how. (The listing itself is `crate::poller`'s.)

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use flotilla_node_os::{ContainerState, ExitEvent};

use crate::proto::{self, ContainerStatus};

/// How often the runtime's containers are listed.
pub const POLL: Duration = Duration::from_millis(250);

/// The reason containerd and CRI-O give a container the OOM killer ended.
const OOM_KILLED: &str = "OOMKilled";

/// Whether the container `cri_id`, believed running, has ended by `listed` (CRI id to state):
/// the runtime shows it exited or no longer shows it. A state the runtime cannot tell
/// (`UNKNOWN`, a shim in trouble) is not an exit: it is asked again at the next listing.
pub fn ended(cri_id: &str, listed: &HashMap<String, proto::ContainerState>) -> bool {
    matches!(
        listed.get(cri_id),
        None | Some(proto::ContainerState::ContainerExited)
    )
}

/// The state `status` reports, as the agent's runtimes report theirs: exited, or else still
/// running. An exit code above 128 is taken as death by signal code-128, as the shell and the
/// runtimes encode it.
pub fn state_of(status: &ContainerStatus) -> ContainerState {
    let started_at = time_of(status.started_at);
    if status.state() == proto::ContainerState::ContainerExited {
        ContainerState::Exited {
            exit_code: status.exit_code,
            signal: signal_of(status.exit_code),
            oom_killed: status.reason == OOM_KILLED,
            started_at,
            finished_at: time_of(status.finished_at),
        }
    } else {
        ContainerState::Running { pid: 0, started_at }
    }
}

/// The exit event of container `id` that ended as `state` says; `None` while it runs.
pub fn exit_event(id: &str, state: &ContainerState) -> Option<ExitEvent> {
    match state {
        ContainerState::Running { .. } => None,
        ContainerState::Exited {
            exit_code,
            signal,
            finished_at,
            ..
        } => Some(ExitEvent {
            id: id.to_string(),
            exit_code: *exit_code,
            signal: *signal,
            finished_at: *finished_at,
        }),
    }
}

fn signal_of(exit_code: i32) -> Option<i32> {
    (129..=128 + 64)
        .contains(&exit_code)
        .then(|| exit_code - 128)
}

/// A CRI timestamp (nanoseconds since the epoch) as a time.
fn time_of(nanos: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_nanos(u64::try_from(nanos).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn containers_listed_exited_or_missing_have_ended() {
        let listed = HashMap::from([
            ("a".to_string(), proto::ContainerState::ContainerRunning),
            ("b".to_string(), proto::ContainerState::ContainerExited),
            ("c".to_string(), proto::ContainerState::ContainerCreated),
            ("e".to_string(), proto::ContainerState::ContainerUnknown),
        ]);
        let ended: Vec<_> = ["a", "b", "c", "d", "e"]
            .into_iter()
            .filter(|id| ended(id, &listed))
            .collect();
        assert_eq!(ended, ["b", "d"]);
    }

    #[test]
    fn statuses_become_states_and_exits() {
        let mut status = ContainerStatus {
            id: "a".to_string(),
            started_at: 1_000_000_000,
            finished_at: 3_000_000_000,
            exit_code: 137,
            reason: OOM_KILLED.to_string(),
            ..ContainerStatus::default()
        };
        status.set_state(proto::ContainerState::ContainerExited);
        let state = state_of(&status);
        assert_eq!(
            state,
            ContainerState::Exited {
                exit_code: 137,
                signal: Some(9),
                oom_killed: true,
                started_at: UNIX_EPOCH + Duration::from_secs(1),
                finished_at: UNIX_EPOCH + Duration::from_secs(3),
            }
        );
        let exit = exit_event("pod-a", &state).unwrap();
        assert_eq!((exit.exit_code, exit.signal), (137, Some(9)));

        status.exit_code = 1;
        status.reason = "Error".to_string();
        assert!(matches!(
            state_of(&status),
            ContainerState::Exited {
                signal: None,
                oom_killed: false,
                ..
            }
        ));
        status.set_state(proto::ContainerState::ContainerRunning);
        assert!(exit_event("pod-a", &state_of(&status)).is_none());
    }
}
