//! The node agent's pure core: given a pod as the API has it, what the runtime reports for its
//! containers and what the agent remembers (restart counts, back-off), decide what to start,
//! what to clean up, and the pod status to report. No I/O, no clock of its own.
//!
//! Init containers run first, in order, each to completion (restarted on failure unless the
//! pod's policy is Never, which fails the pod); a sidecar (an init container with
//! `restartPolicy: Always`) only has to have started, keeps running beside the containers and
//! is stopped once they have all finished. The containers start when every init container is
//! through, and the pod stays Pending until then.

use std::collections::BTreeMap;
use std::time::{Duration, Instant, SystemTime};

use flotilla_kernel::object::{
    ConditionStatus, Container, ContainerState, ContainerStateRunning, ContainerStateTerminated,
    ContainerStateWaiting, ContainerStatus, Pod, PodCondition, PodIp, PodPhase, PodStatus,
    RestartPolicy, Time,
};
use flotilla_node_os::ContainerState as RuntimeState;

use super::probes::ContainerProbes;

/// Kubernetes' crash-loop back-off: 10 s, doubling, at most 5 min; forgotten after a
/// container has run for 10 min.
const BACKOFF_INITIAL: Duration = Duration::from_secs(10);
const BACKOFF_MAX: Duration = Duration::from_secs(300);
const BACKOFF_RESET_AFTER: Duration = Duration::from_secs(600);
/// How soon a container whose ConfigMap or Secret is missing is tried again.
const CONFIG_RETRY: Duration = Duration::from_secs(2);
/// Kubernetes' image pull back-off: 10 s, doubling, at most 5 min.
const PULL_BACKOFF_INITIAL: Duration = Duration::from_secs(10);
const PULL_BACKOFF_MAX: Duration = Duration::from_secs(300);
/// How long a failed pull reads `ErrImagePull` before its back-off reads `ImagePullBackOff`
/// (the kubelet shows the first until its next sync of the pod).
const PULL_ERROR_SHOWN: Duration = Duration::from_secs(2);

/// The runtime's id of one container of one pod; also its cgroup's name.
pub fn container_id(pod_uid: &str, container: &str) -> String {
    format!("{pod_uid}-{container}")
}

/// The runtime ids of every container and init container of `pod`.
pub fn container_ids(pod: &Pod) -> Vec<String> {
    let uid = &pod.metadata.uid;
    pod.spec
        .all_containers()
        .map(|c| container_id(uid, &c.name))
        .collect()
}

/// What the agent remembers about one container between syncs.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ContainerRecord {
    pub restart_count: i32,
    /// The container has been started at least once (by this agent or, per the API, before).
    pub started: bool,
    pub last_terminated: Option<ContainerStateTerminated>,
    /// Not to be started again before this instant.
    pub next_start: Option<Instant>,
    pub backoff: Duration,
    /// The container ended and its restart policy says it stays ended.
    pub finished: bool,
    /// Why it could not be created at the last attempt (its environment or its image), shown
    /// while it waits to be tried again.
    pub waiting: Option<ContainerStateWaiting>,
    /// The current image pull back-off (zero: none).
    pub pull_backoff: Duration,
    /// When the last pull failed.
    pub pull_failed_at: Option<Instant>,
    /// The start time the API holds for a container this agent took over: kept while the
    /// runtime's own estimate (from /proc, to the second) agrees with it, so an agent restart
    /// does not rewrite it.
    pub reported_start: Option<Time>,
    /// The probes of its current run.
    pub probes: ContainerProbes,
    /// Why the agent is killing it (a failed liveness or startup probe), for its exit.
    pub kill_message: Option<String>,
    /// What its exited run left as termination message, read when the exit was observed, for
    /// that exit.
    pub termination_message: Option<String>,
}

/// How far a re-adopted container's start, as read back from /proc, may be from the reported one.
const START_TOLERANCE: Duration = Duration::from_secs(2);

/// What the agent remembers about one pod.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PodRecord {
    /// By name, init containers and containers alike (their names are unique in a pod).
    pub containers: BTreeMap<String, ContainerRecord>,
    pub start_time: Option<Time>,
    /// Every init container is through: they are not run again.
    pub initialized: bool,
    /// The node's address and the pod's own, once its network is up (the node's for a pod
    /// on the host's network).
    pub host_ip: String,
    pub pod_ips: Vec<String>,
}

impl PodRecord {
    /// A record for a pod first seen by this agent, taking restart counts from its status, so a
    /// restarted agent continues counting where the last one stopped.
    pub fn adopt(pod: &Pod) -> Self {
        let containers = pod
            .status
            .init_container_statuses
            .iter()
            .chain(&pod.status.container_statuses)
            .map(|s| {
                let record = ContainerRecord {
                    restart_count: s.restart_count,
                    started: s.state.running.is_some()
                        || s.state.terminated.is_some()
                        || s.last_state.terminated.is_some(),
                    last_terminated: s.last_state.terminated.clone(),
                    reported_start: s.state.running.as_ref().and_then(|r| r.started_at),
                    ..ContainerRecord::default()
                };
                (s.name.clone(), record)
            })
            .collect();
        let initialized = pod.spec.init_containers.is_empty()
            || pod
                .status
                .conditions
                .iter()
                .any(|c| c.type_ == "Initialized" && c.status == ConditionStatus::True);
        Self {
            containers,
            start_time: pod.status.start_time,
            initialized,
            host_ip: pod.status.host_ip.clone(),
            pod_ips: pod.status.pod_ips.iter().map(|ip| ip.ip.clone()).collect(),
        }
    }
}

/// The clock readings a sync needs: monotonic for back-off, wall time for the status.
#[derive(Debug, Clone, Copy)]
pub struct Now {
    pub instant: Instant,
    pub wall: SystemTime,
}

/// What to do for a pod.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// Containers to start now (by name).
    pub start: Vec<String>,
    /// Runtime ids of exited containers to clean up (cgroup removed, record dropped).
    pub remove: Vec<String>,
    pub status: PodStatus,
    /// Sync again after this long (a back-off expiring).
    pub requeue_after: Option<Duration>,
    /// Containers seen in a new run, whose probes are to be scheduled from its start.
    pub probe: Vec<(String, SystemTime)>,
    /// Runtime ids of sidecars to stop: the containers they served have all finished.
    pub stop: Vec<String>,
}

/// Decides the next step for a running (not terminating) pod. `observed` maps container name
/// to the runtime's state of its current container, if the runtime has one.
pub fn plan(
    pod: &Pod,
    record: &mut PodRecord,
    observed: &BTreeMap<String, RuntimeState>,
    now: Now,
) -> Plan {
    let mut plan = Plan {
        start: Vec::new(),
        remove: Vec::new(),
        status: pod.status.clone(),
        requeue_after: None,
        probe: Vec::new(),
        stop: Vec::new(),
    };
    let containers_done = record.initialized
        && pod
            .spec
            .containers
            .iter()
            .all(|c| record.containers.get(&c.name).is_some_and(|r| r.finished));
    let init_policy = match pod.spec.restart_policy {
        RestartPolicy::Never => RestartPolicy::Never,
        RestartPolicy::Always | RestartPolicy::OnFailure => RestartPolicy::OnFailure,
    };
    let mut init_statuses = Vec::with_capacity(pod.spec.init_containers.len());
    let mut blocked = false;
    for container in &pod.spec.init_containers {
        let entry = record.containers.entry(container.name.clone()).or_default();
        let state = observed.get(&container.name);
        if blocked || (record.initialized && !container.is_sidecar()) {
            init_statuses.push(settled_status(container, entry, blocked));
            continue;
        }
        let status = if container.is_sidecar() {
            if containers_done && !entry.finished {
                entry.finished = true;
                if matches!(state, Some(RuntimeState::Running { .. })) {
                    plan.stop
                        .push(container_id(&pod.metadata.uid, &container.name));
                }
            }
            let status = sync_container(
                pod,
                container,
                RestartPolicy::Always,
                entry,
                state,
                now,
                &mut plan,
            );
            // Once the pod is initialized a sidecar's restarts hold nothing back.
            blocked = !record.initialized
                && (status.state.running.is_none() || status.started == Some(false));
            status
        } else {
            let status = sync_container(pod, container, init_policy, entry, state, now, &mut plan);
            blocked = status
                .state
                .terminated
                .as_ref()
                .is_none_or(|t| t.exit_code != 0);
            status
        };
        init_statuses.push(status);
    }
    let initialized = record.initialized || !blocked;
    record.initialized = initialized;
    let mut statuses = Vec::with_capacity(pod.spec.containers.len());
    for container in &pod.spec.containers {
        let entry = record.containers.entry(container.name.clone()).or_default();
        let status = if initialized {
            let state = observed.get(&container.name);
            let policy = pod.spec.restart_policy;
            sync_container(pod, container, policy, entry, state, now, &mut plan)
        } else {
            waiting(container, entry, "PodInitializing")
        };
        statuses.push(status);
    }
    if record.start_time.is_none() {
        record.start_time = Some(Time::from(now.wall));
    }
    plan.status = pod_status(pod, record, init_statuses, statuses, now);
    plan
}

/// The status of a container that is not synced now: an init container already through (its
/// last exit), or one whose turn has not come.
fn settled_status(
    container: &Container,
    record: &ContainerRecord,
    not_yet: bool,
) -> ContainerStatus {
    if not_yet {
        return waiting(container, record, "PodInitializing");
    }
    ContainerStatus {
        name: container.name.clone(),
        image: container.image.clone(),
        restart_count: record.restart_count,
        state: ContainerState {
            terminated: record.last_terminated.clone(),
            ..ContainerState::default()
        },
        ..ContainerStatus::default()
    }
}

fn waiting(container: &Container, record: &ContainerRecord, reason: &str) -> ContainerStatus {
    ContainerStatus {
        name: container.name.clone(),
        image: container.image.clone(),
        restart_count: record.restart_count,
        state: ContainerState {
            waiting: Some(ContainerStateWaiting {
                reason: reason.into(),
                message: String::new(),
            }),
            ..ContainerState::default()
        },
        ..ContainerStatus::default()
    }
}

fn sync_container(
    pod: &Pod,
    container: &Container,
    restart: RestartPolicy,
    record: &mut ContainerRecord,
    state: Option<&RuntimeState>,
    now: Now,
    plan: &mut Plan,
) -> ContainerStatus {
    let id = container_id(&pod.metadata.uid, &container.name);
    let mut status = ContainerStatus {
        name: container.name.clone(),
        image: container.image.clone(),
        restart_count: record.restart_count,
        ..ContainerStatus::default()
    };
    match state {
        Some(RuntimeState::Running { started_at, .. }) => {
            record.started = true;
            if record.probes.run != Some(*started_at) {
                record.probes = ContainerProbes::for_run(*started_at);
                record.kill_message = None;
                plan.probe.push((container.name.clone(), *started_at));
            }
            status.last_state.terminated = record.last_terminated.clone();
            status.container_id = format!("flotilla://{id}");
            status.ready = record.probes.ready(container);
            status.started = Some(record.probes.started(container));
            let reported = record.reported_start.filter(|reported| {
                let (a, b) = (reported.system_time(), *started_at);
                a.duration_since(b)
                    .or_else(|_| b.duration_since(a))
                    .unwrap_or_default()
                    <= START_TOLERANCE
            });
            status.state.running = Some(ContainerStateRunning {
                started_at: Some(reported.unwrap_or(Time::from(*started_at))),
            });
            return status;
        }
        Some(RuntimeState::Exited {
            exit_code,
            signal,
            oom_killed,
            started_at,
            finished_at,
        }) => {
            record.reported_start = None;
            let ran_for = finished_at.duration_since(*started_at).unwrap_or_default();
            // The agent's reason first, then the container's own words, as the kubelet joins
            // the runtime's message and the termination message.
            let message = [
                record.kill_message.take(),
                record.termination_message.take(),
            ]
            .into_iter()
            .flatten()
            .filter(|message| !message.is_empty())
            .collect::<Vec<_>>()
            .join(": ");
            record_exit(
                restart,
                record,
                ContainerStateTerminated {
                    exit_code: *exit_code,
                    signal: *signal,
                    reason: if *oom_killed {
                        "OOMKilled".to_string()
                    } else {
                        termination_reason(*exit_code, *signal)
                    },
                    message,
                    started_at: Some(Time::from(*started_at)),
                    finished_at: Some(Time::from(*finished_at)),
                },
                ran_for,
                now,
            );
            plan.remove.push(id.clone());
        }
        None if record.started && !record.finished && record.next_start.is_none() => {
            // Started before but gone without an exit seen: the node or the agent restarted.
            let lost = ContainerStateTerminated {
                exit_code: 137,
                signal: Some(9),
                reason: "ContainerLost".into(),
                message: "the container was not running when the node agent started".into(),
                started_at: None,
                finished_at: Some(Time::from(now.wall)),
            };
            record_exit(restart, record, lost, Duration::ZERO, now);
        }
        None => {}
    }
    status.last_state.terminated = record.last_terminated.clone();
    if record.finished {
        status.state.terminated = record.last_terminated.clone();
        status.last_state = ContainerState::default();
        return status;
    }
    match record.next_start {
        Some(at) if at > now.instant => {
            status.state.waiting = Some(match &record.waiting {
                Some(waiting) => {
                    let (shown, change) = shown_waiting(container, record, waiting, now);
                    if let Some(change) = change {
                        plan.requeue_after =
                            Some(plan.requeue_after.map_or(change, |w| w.min(change)));
                    }
                    shown
                }
                None => ContainerStateWaiting {
                    reason: "CrashLoopBackOff".into(),
                    message: format!(
                        "back-off {}s restarting failed container={} pod={}",
                        record.backoff.as_secs(),
                        container.name,
                        pod.metadata.name
                    ),
                },
            });
            let wait = at - now.instant;
            plan.requeue_after = Some(plan.requeue_after.map_or(wait, |w| w.min(wait)));
        }
        _ => {
            if record.started {
                record.restart_count += 1;
                status.restart_count = record.restart_count;
            }
            record.next_start = None;
            record.waiting = None;
            plan.start.push(container.name.clone());
            status.state.waiting = Some(ContainerStateWaiting {
                reason: "ContainerCreating".into(),
                message: String::new(),
            });
        }
    }
    status
}

/// The runtime could not start `container`: it counts as an exit with the error as message,
/// so the restart policy and back-off apply as to a crash.
pub fn start_failed(pod: &Pod, record: &mut PodRecord, container: &str, message: String, now: Now) {
    let restart = restart_policy_of(pod, container);
    let entry = record.containers.entry(container.to_string()).or_default();
    let failed = ContainerStateTerminated {
        exit_code: 128,
        signal: None,
        reason: "StartError".into(),
        message,
        started_at: None,
        finished_at: Some(Time::from(now.wall)),
    };
    record_exit(restart, entry, failed, Duration::ZERO, now);
}

/// The restart policy `container` of `pod` lives by: the pod's, Always for a sidecar, and for
/// another init container OnFailure (Never under Never).
fn restart_policy_of(pod: &Pod, container: &str) -> RestartPolicy {
    match pod
        .spec
        .init_containers
        .iter()
        .find(|c| c.name == container)
    {
        None => pod.spec.restart_policy,
        Some(sidecar) if sidecar.is_sidecar() => RestartPolicy::Always,
        Some(_) if pod.spec.restart_policy == RestartPolicy::Never => RestartPolicy::Never,
        Some(_) => RestartPolicy::OnFailure,
    }
}

/// `container`'s environment could not be built (a ConfigMap or Secret is missing): it waits
/// with the reason and is tried again soon. Not a crash, so it takes back the restart the
/// plan counted and leaves the back-off alone.
pub fn config_failed(record: &mut PodRecord, container: &str, message: String, now: Now) {
    let entry = not_created(record, container);
    entry.waiting = Some(ContainerStateWaiting {
        reason: "CreateContainerConfigError".into(),
        message,
    });
    entry.next_start = Some(now.instant + CONFIG_RETRY);
}

/// The pod's sandbox could not be made for `container` (its RuntimeClass is missing, or names a
/// handler this node lacks): it waits in `ContainerCreating` with the reason, as under the
/// kubelet, and is tried again like a configuration error.
pub fn sandbox_failed(record: &mut PodRecord, container: &str, message: String, now: Now) {
    let entry = not_created(record, container);
    entry.waiting = Some(ContainerStateWaiting {
        reason: "ContainerCreating".into(),
        message: format!("Failed to create pod sandbox: {message}"),
    });
    entry.next_start = Some(now.instant + CONFIG_RETRY);
}

/// `container`'s image could not be had: it waits with `reason` (`ErrImagePull`,
/// `ErrImageNeverPull`, `InvalidImageName`) and the message, and is tried again after the
/// image back-off. Like a configuration error, not a crash.
pub fn image_failed(
    record: &mut PodRecord,
    container: &str,
    reason: &str,
    message: String,
    now: Now,
) {
    let entry = not_created(record, container);
    entry.pull_backoff = if entry.pull_backoff.is_zero() {
        PULL_BACKOFF_INITIAL
    } else {
        (entry.pull_backoff * 2).min(PULL_BACKOFF_MAX)
    };
    entry.waiting = Some(ContainerStateWaiting {
        reason: reason.into(),
        message,
    });
    entry.pull_failed_at = Some(now.instant);
    entry.next_start = Some(now.instant + entry.pull_backoff);
}

/// `container`'s image is there: its pull back-off starts over.
pub fn image_ready(record: &mut PodRecord, container: &str) {
    if let Some(entry) = record.containers.get_mut(container) {
        entry.pull_backoff = Duration::ZERO;
    }
}

/// The record of a container whose creation failed before it ran: takes back the restart the
/// plan counted for it.
fn not_created<'a>(record: &'a mut PodRecord, container: &str) -> &'a mut ContainerRecord {
    let entry = record.containers.entry(container.to_string()).or_default();
    if entry.started {
        entry.restart_count -= 1;
    }
    entry
}

/// What a waiting container shows: a failed pull reads `ErrImagePull` for a moment, then
/// `ImagePullBackOff` until the next attempt, as in Kubernetes; also when the status should
/// change next.
fn shown_waiting(
    container: &Container,
    record: &ContainerRecord,
    waiting: &ContainerStateWaiting,
    now: Now,
) -> (ContainerStateWaiting, Option<Duration>) {
    let shown_until = record
        .pull_failed_at
        .map(|failed| failed + PULL_ERROR_SHOWN)
        .filter(|_| waiting.reason == "ErrImagePull");
    match shown_until {
        Some(until) if now.instant >= until => (
            ContainerStateWaiting {
                reason: "ImagePullBackOff".into(),
                message: format!(
                    "Back-off pulling image {:?}: {}",
                    container.image, waiting.message
                ),
            },
            None,
        ),
        Some(until) => (waiting.clone(), Some(until - now.instant)),
        None => (waiting.clone(), None),
    }
}

/// Remembers an exit and decides, by restart policy, whether and when the container runs again.
fn record_exit(
    restart: RestartPolicy,
    record: &mut ContainerRecord,
    terminated: ContainerStateTerminated,
    ran_for: Duration,
    now: Now,
) {
    let restart = match restart {
        RestartPolicy::Always => true,
        RestartPolicy::OnFailure => terminated.exit_code != 0,
        RestartPolicy::Never => false,
    };
    record.last_terminated = Some(terminated);
    record.started = true;
    if !restart {
        record.finished = true;
        return;
    }
    if ran_for >= BACKOFF_RESET_AFTER {
        record.backoff = Duration::ZERO;
    }
    record.next_start = Some(now.instant + record.backoff);
    record.backoff = if record.backoff.is_zero() {
        BACKOFF_INITIAL
    } else {
        (record.backoff * 2).min(BACKOFF_MAX)
    };
}

fn termination_reason(exit_code: i32, signal: Option<i32>) -> String {
    match (exit_code, signal) {
        (0, _) => "Completed",
        (_, Some(9)) => "Killed",
        _ => "Error",
    }
    .to_string()
}

/// Addresses in the `{ip: ...}` list form, leaving out unknown ones.
fn listed(ips: &[String]) -> Vec<PodIp> {
    ips.iter()
        .filter(|ip| !ip.is_empty())
        .map(|ip| PodIp { ip: ip.clone() })
        .collect()
}

fn pod_status(
    pod: &Pod,
    record: &PodRecord,
    init_containers: Vec<ContainerStatus>,
    containers: Vec<ContainerStatus>,
    now: Now,
) -> PodStatus {
    let mut status = pod.status.clone();
    let succeeded = |c: &ContainerStatus| {
        c.state
            .terminated
            .as_ref()
            .is_some_and(|t| t.exit_code == 0)
    };
    let init_failed =
        pod.spec
            .init_containers
            .iter()
            .zip(&init_containers)
            .any(|(spec, status)| {
                !spec.is_sidecar()
                    && record
                        .containers
                        .get(&spec.name)
                        .is_some_and(|r| r.finished)
                    && !succeeded(status)
            });
    let all_finished = containers.iter().all(|c| c.state.terminated.is_some());
    let any_running = containers.iter().any(|c| c.state.running.is_some());
    let ever_started = pod
        .spec
        .containers
        .iter()
        .any(|c| record.containers.get(&c.name).is_some_and(|r| r.started));
    status.phase = if init_failed {
        PodPhase::Failed
    } else if !record.initialized {
        PodPhase::Pending
    } else if all_finished && !containers.is_empty() {
        if containers.iter().all(succeeded) {
            PodPhase::Succeeded
        } else {
            PodPhase::Failed
        }
    } else if any_running || ever_started {
        PodPhase::Running
    } else {
        PodPhase::Pending
    };
    let sidecars_ready = pod
        .spec
        .init_containers
        .iter()
        .zip(&init_containers)
        .all(|(spec, status)| !spec.is_sidecar() || status.ready || all_finished);
    let ready = record.initialized && sidecars_ready && containers.iter().all(|c| c.ready);
    let incomplete: Vec<&str> = pod
        .spec
        .init_containers
        .iter()
        .zip(&init_containers)
        .filter(|(spec, status)| {
            if spec.is_sidecar() {
                status.state.running.is_none()
            } else {
                !succeeded(status)
            }
        })
        .map(|(spec, _)| spec.name.as_str())
        .collect();
    status.start_time = record.start_time;
    status.host_ip.clone_from(&record.host_ip);
    status.host_ips = listed(std::slice::from_ref(&record.host_ip));
    status.pod_ip = record.pod_ips.first().cloned().unwrap_or_default();
    status.pod_ips = listed(&record.pod_ips);
    status.init_container_statuses = init_containers;
    status.container_statuses = containers;
    let time = Time::from(now.wall);
    let condition = |type_: &str, true_: bool, reason: &str, message: String| PodCondition {
        type_: type_.into(),
        status: if true_ {
            ConditionStatus::True
        } else {
            ConditionStatus::False
        },
        reason: if true_ { String::new() } else { reason.into() },
        message: if true_ { String::new() } else { message },
        ..PodCondition::default()
    };
    let not_ready: Vec<&str> = status
        .container_statuses
        .iter()
        .filter(|c| !c.ready)
        .map(|c| c.name.as_str())
        .collect();
    let unready = format!("containers with unready status: [{}]", not_ready.join(" "));
    let mut with_conditions = Pod {
        status,
        ..pod.clone()
    };
    with_conditions.set_condition(
        condition(
            "Initialized",
            record.initialized,
            "ContainersNotInitialized",
            format!(
                "containers with incomplete status: [{}]",
                incomplete.join(" ")
            ),
        ),
        time,
    );
    with_conditions.set_condition(
        condition(
            "ContainersReady",
            ready,
            "ContainersNotReady",
            unready.clone(),
        ),
        time,
    );
    with_conditions.set_condition(
        condition("Ready", ready, "ContainersNotReady", unready),
        time,
    );
    with_conditions.status
}

#[cfg(test)]
mod tests {
    use super::*;
    use flotilla_kernel::object::{Object, parse_manifests};

    fn pod(restart_policy: &str, image: &str) -> Pod {
        let yaml = format!(
            "apiVersion: v1
kind: Pod
metadata: {{name: p, namespace: default, uid: u1}}
spec:
  restartPolicy: {restart_policy}
  nodeName: n1
  containers: [{{name: c, image: {image}, command: [/bin/true]}}]
"
        );
        let Ok(Object::Pod(pod)) = parse_manifests("p.yaml", &yaml).remove(0) else {
            panic!("fixture does not parse")
        };
        pod
    }

    fn at(start: Instant, secs: u64) -> Now {
        Now {
            instant: start + Duration::from_secs(secs),
            wall: SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000 + secs),
        }
    }

    fn running(now: Now) -> BTreeMap<String, RuntimeState> {
        BTreeMap::from([(
            "c".to_string(),
            RuntimeState::Running {
                pid: 42,
                started_at: now.wall,
            },
        )])
    }

    fn exited(code: i32, now: Now) -> BTreeMap<String, RuntimeState> {
        BTreeMap::from([(
            "c".to_string(),
            RuntimeState::Exited {
                exit_code: code,
                signal: None,
                oom_killed: false,
                started_at: now.wall,
                finished_at: now.wall,
            },
        )])
    }

    #[test]
    fn a_new_pod_starts_its_containers_and_then_runs() {
        let start = Instant::now();
        let pod = pod("Always", "host");
        let mut record = PodRecord::default();
        let first = plan(&pod, &mut record, &BTreeMap::new(), at(start, 0));
        assert_eq!(first.start, vec!["c"]);
        assert_eq!(first.status.phase, PodPhase::Pending);
        let second = plan(&pod, &mut record, &running(at(start, 1)), at(start, 1));
        assert!(second.start.is_empty());
        assert_eq!(second.status.phase, PodPhase::Running);
        let c = &second.status.container_statuses[0];
        assert!(c.ready);
        assert_eq!(c.container_id, "flotilla://u1-c");
        let ready = second.status.conditions.iter().find(|c| c.type_ == "Ready");
        assert!(ready.is_some_and(|c| c.status == ConditionStatus::True));
    }

    #[test]
    fn a_missing_config_waits_without_counting_restarts_then_starts() {
        let start = Instant::now();
        let pod = pod("Never", "host");
        let mut record = PodRecord::default();
        let first = plan(&pod, &mut record, &BTreeMap::new(), at(start, 0));
        assert_eq!(first.start, vec!["c"]);
        config_failed(
            &mut record,
            "c",
            "configmap \"x\" not found".into(),
            at(start, 0),
        );

        let waiting = plan(&pod, &mut record, &BTreeMap::new(), at(start, 1));
        assert!(waiting.start.is_empty());
        assert_eq!(waiting.requeue_after, Some(Duration::from_secs(1)));
        let c = &waiting.status.container_statuses[0];
        let reason = c.state.waiting.as_ref().map(|w| w.reason.as_str());
        assert_eq!(reason, Some("CreateContainerConfigError"));
        assert_eq!(c.restart_count, 0);
        assert_eq!(waiting.status.phase, PodPhase::Pending);

        let retry = plan(&pod, &mut record, &BTreeMap::new(), at(start, 2));
        assert_eq!(
            retry.start,
            vec!["c"],
            "retried even with restartPolicy Never"
        );
        assert_eq!(retry.status.container_statuses[0].restart_count, 0);
        assert_eq!(record.containers["c"].waiting, None);
    }

    #[test]
    fn crash_loops_back_off_exponentially() {
        let start = Instant::now();
        let pod = pod("Always", "host");
        let mut record = PodRecord::default();
        plan(&pod, &mut record, &BTreeMap::new(), at(start, 0));
        // First crash: restarted at once.
        let p = plan(&pod, &mut record, &exited(1, at(start, 1)), at(start, 1));
        assert_eq!(p.remove, vec!["u1-c"]);
        assert_eq!(p.start, vec!["c"]);
        assert_eq!(p.status.container_statuses[0].restart_count, 1);
        // Second crash: 10 s back-off.
        let p = plan(&pod, &mut record, &exited(1, at(start, 2)), at(start, 2));
        assert!(p.start.is_empty());
        assert_eq!(p.requeue_after, Some(Duration::from_secs(10)));
        let waiting = p.status.container_statuses[0]
            .state
            .waiting
            .clone()
            .unwrap();
        assert_eq!(waiting.reason, "CrashLoopBackOff");
        assert_eq!(
            p.status.container_statuses[0]
                .last_state
                .terminated
                .as_ref()
                .unwrap()
                .exit_code,
            1
        );
        // After the back-off it starts again, and the next back-off doubles.
        let p = plan(&pod, &mut record, &BTreeMap::new(), at(start, 12));
        assert_eq!(p.start, vec!["c"]);
        assert_eq!(p.status.container_statuses[0].restart_count, 2);
        let p = plan(&pod, &mut record, &exited(1, at(start, 13)), at(start, 13));
        assert_eq!(p.requeue_after, Some(Duration::from_secs(20)));
    }

    #[test]
    fn never_and_on_failure_policies_end_the_pod() {
        let start = Instant::now();
        let pod_never = pod("Never", "host");
        let mut record = PodRecord::default();
        plan(&pod_never, &mut record, &BTreeMap::new(), at(start, 0));
        let p = plan(
            &pod_never,
            &mut record,
            &exited(0, at(start, 1)),
            at(start, 1),
        );
        assert!(p.start.is_empty());
        assert_eq!(p.status.phase, PodPhase::Succeeded);
        let p = plan(&pod_never, &mut record, &BTreeMap::new(), at(start, 2));
        assert_eq!(p.status.phase, PodPhase::Succeeded);
        assert!(p.start.is_empty());

        let pod_on_failure = pod("OnFailure", "host");
        let mut record = PodRecord::default();
        plan(&pod_on_failure, &mut record, &BTreeMap::new(), at(start, 0));
        let p = plan(
            &pod_on_failure,
            &mut record,
            &exited(3, at(start, 1)),
            at(start, 1),
        );
        assert_eq!(p.start, vec!["c"]);
        let p = plan(
            &pod_on_failure,
            &mut record,
            &exited(0, at(start, 2)),
            at(start, 2),
        );
        assert!(p.start.is_empty());
        assert_eq!(p.status.phase, PodPhase::Succeeded);
    }

    #[test]
    fn a_failed_pull_waits_with_err_image_pull_then_image_pull_back_off() {
        let start = Instant::now();
        let mut pod = pod("Always", "nginx:1.25");
        let mut record = PodRecord::default();
        let p = plan(&pod, &mut record, &BTreeMap::new(), at(start, 0));
        assert_eq!(p.start, vec!["c"]);
        image_failed(
            &mut record,
            "c",
            "ErrImagePull",
            "no such image".into(),
            at(start, 0),
        );
        let p = plan(&pod, &mut record, &BTreeMap::new(), at(start, 1));
        assert!(p.start.is_empty());
        assert_eq!(p.status.phase, PodPhase::Pending);
        assert_eq!(
            p.requeue_after,
            Some(Duration::from_secs(1)),
            "until it reads as a back-off"
        );
        let waiting = p.status.container_statuses[0]
            .state
            .waiting
            .clone()
            .unwrap();
        assert_eq!(
            (waiting.reason.as_str(), waiting.message.as_str()),
            ("ErrImagePull", "no such image")
        );

        // A moment later the same wait reads as a back-off.
        pod.status = p.status;
        let p = plan(&pod, &mut record, &BTreeMap::new(), at(start, 2));
        let waiting = p.status.container_statuses[0]
            .state
            .waiting
            .clone()
            .unwrap();
        assert_eq!(waiting.reason, "ImagePullBackOff");
        assert!(
            waiting.message.contains("nginx:1.25"),
            "{}",
            waiting.message
        );

        // The back-off doubles on each failure and is no crash: no restart counted.
        let p = plan(&pod, &mut record, &BTreeMap::new(), at(start, 10));
        assert_eq!(p.start, vec!["c"]);
        image_failed(
            &mut record,
            "c",
            "ErrImagePull",
            "again".into(),
            at(start, 10),
        );
        assert_eq!(record.containers["c"].pull_backoff, Duration::from_secs(20));
        assert_eq!(record.containers["c"].restart_count, 0);
        image_ready(&mut record, "c");
        assert_eq!(record.containers["c"].pull_backoff, Duration::ZERO);
    }

    #[test]
    fn an_adopted_pod_whose_container_vanished_is_restarted_and_counted() {
        let start = Instant::now();
        let mut pod = pod("Always", "host");
        pod.status.container_statuses = vec![ContainerStatus {
            name: "c".into(),
            restart_count: 4,
            state: ContainerState {
                running: Some(ContainerStateRunning { started_at: None }),
                ..ContainerState::default()
            },
            ..ContainerStatus::default()
        }];
        let mut record = PodRecord::adopt(&pod);
        let p = plan(&pod, &mut record, &BTreeMap::new(), at(start, 0));
        assert_eq!(p.start, vec!["c"]);
        assert_eq!(p.status.container_statuses[0].restart_count, 5);
        assert_eq!(
            p.status.container_statuses[0]
                .last_state
                .terminated
                .as_ref()
                .unwrap()
                .reason,
            "ContainerLost"
        );
    }

    #[test]
    fn an_adopted_running_container_is_left_alone() {
        let start = Instant::now();
        let pod = pod("Always", "host");
        let mut record = PodRecord::adopt(&pod);
        let p = plan(&pod, &mut record, &running(at(start, 0)), at(start, 0));
        assert!(p.start.is_empty());
        assert!(p.remove.is_empty());
    }

    #[test]
    fn an_adopted_container_keeps_its_reported_start_time() {
        let start = Instant::now();
        let mut pod = pod("Always", "host");
        let reported = Time::from(at(start, 0).wall);
        pod.status.container_statuses = vec![ContainerStatus {
            name: "c".into(),
            state: ContainerState {
                running: Some(ContainerStateRunning {
                    started_at: Some(reported),
                }),
                ..ContainerState::default()
            },
            ..ContainerStatus::default()
        }];
        let started = |status: &PodStatus| {
            status.container_statuses[0]
                .state
                .running
                .as_ref()
                .and_then(|r| r.started_at)
        };
        // Read back from /proc a second off: the reported time stands.
        let mut record = PodRecord::adopt(&pod);
        let p = plan(&pod, &mut record, &running(at(start, 1)), at(start, 1));
        assert_eq!(started(&p.status), Some(reported));
        // A container started long after is a new one: its own time.
        let mut record = PodRecord::adopt(&pod);
        let p = plan(&pod, &mut record, &running(at(start, 60)), at(start, 60));
        assert_eq!(started(&p.status), Some(Time::from(at(start, 60).wall)));
    }

    fn pod_with_init(restart_policy: &str, sidecar: bool) -> Pod {
        let policy = if sidecar {
            ", restartPolicy: Always"
        } else {
            ""
        };
        let yaml = format!(
            "apiVersion: v1
kind: Pod
metadata: {{name: p, namespace: default, uid: u1}}
spec:
  restartPolicy: {restart_policy}
  nodeName: n1
  initContainers:
  - {{name: first, image: host, command: [/bin/true]{policy}}}
  - {{name: second, image: host, command: [/bin/true]}}
  containers: [{{name: c, image: host, command: [/bin/true]}}]
"
        );
        let Ok(Object::Pod(pod)) = parse_manifests("p.yaml", &yaml).remove(0) else {
            panic!("fixture does not parse")
        };
        pod
    }

    fn states(entries: &[(&str, RuntimeState)]) -> BTreeMap<String, RuntimeState> {
        entries
            .iter()
            .map(|(name, state)| (name.to_string(), state.clone()))
            .collect()
    }

    fn exit(code: i32, now: Now) -> RuntimeState {
        RuntimeState::Exited {
            exit_code: code,
            signal: None,
            oom_killed: false,
            started_at: now.wall,
            finished_at: now.wall,
        }
    }

    fn live(now: Now) -> RuntimeState {
        RuntimeState::Running {
            pid: 7,
            started_at: now.wall,
        }
    }

    fn condition(status: &PodStatus, type_: &str) -> ConditionStatus {
        status
            .conditions
            .iter()
            .find(|c| c.type_ == type_)
            .map(|c| c.status)
            .unwrap_or_default()
    }

    #[test]
    fn init_containers_run_in_order_each_to_completion_before_the_containers() {
        let start = Instant::now();
        let pod = pod_with_init("Always", false);
        let mut record = PodRecord::default();
        let p = plan(&pod, &mut record, &BTreeMap::new(), at(start, 0));
        assert_eq!(p.start, ["first"]);
        assert_eq!(p.status.phase, PodPhase::Pending);
        assert_eq!(condition(&p.status, "Initialized"), ConditionStatus::False);
        let waiting = |s: &PodStatus, i: usize| {
            s.container_statuses[i]
                .state
                .waiting
                .clone()
                .map(|w| w.reason)
        };
        assert_eq!(waiting(&p.status, 0).as_deref(), Some("PodInitializing"));
        assert_eq!(p.status.init_container_statuses.len(), 2);

        let p = plan(
            &pod,
            &mut record,
            &states(&[("first", live(at(start, 1)))]),
            at(start, 1),
        );
        assert!(p.start.is_empty(), "the second waits for the first");

        // A failing init container is restarted (OnFailure) with back-off.
        let p = plan(
            &pod,
            &mut record,
            &states(&[("first", exit(1, at(start, 2)))]),
            at(start, 2),
        );
        assert_eq!(p.start, ["first"]);
        let p = plan(
            &pod,
            &mut record,
            &states(&[("first", exit(0, at(start, 3)))]),
            at(start, 13),
        );
        assert_eq!(p.start, ["second"]);
        let p = plan(
            &pod,
            &mut record,
            &states(&[("second", exit(0, at(start, 14)))]),
            at(start, 14),
        );
        assert_eq!(p.start, ["c"]);
        assert!(record.initialized);
        assert_eq!(condition(&p.status, "Initialized"), ConditionStatus::True);

        // Once through, they are not run again.
        let p = plan(
            &pod,
            &mut record,
            &states(&[("c", live(at(start, 15)))]),
            at(start, 15),
        );
        assert!(p.start.is_empty());
        assert_eq!(p.status.phase, PodPhase::Running);
        assert_eq!(
            p.status.init_container_statuses[1]
                .state
                .terminated
                .as_ref()
                .map(|t| t.exit_code),
            Some(0)
        );
    }

    #[test]
    fn a_failed_init_container_fails_a_pod_that_never_restarts() {
        let start = Instant::now();
        let pod = pod_with_init("Never", false);
        let mut record = PodRecord::default();
        plan(&pod, &mut record, &BTreeMap::new(), at(start, 0));
        let p = plan(
            &pod,
            &mut record,
            &states(&[("first", exit(2, at(start, 1)))]),
            at(start, 1),
        );
        assert!(p.start.is_empty());
        assert_eq!(p.status.phase, PodPhase::Failed);
    }

    #[test]
    fn a_sidecar_only_has_to_start_and_is_stopped_when_the_containers_are_done() {
        let start = Instant::now();
        let pod = pod_with_init("Never", true);
        let mut record = PodRecord::default();
        let p = plan(&pod, &mut record, &BTreeMap::new(), at(start, 0));
        assert_eq!(p.start, ["first"]);
        let p = plan(
            &pod,
            &mut record,
            &states(&[("first", live(at(start, 1)))]),
            at(start, 1),
        );
        assert_eq!(
            p.start,
            ["second"],
            "a started sidecar lets the next one go"
        );
        let sidecar = live(at(start, 1));
        let p = plan(
            &pod,
            &mut record,
            &states(&[
                ("first", sidecar.clone()),
                ("second", exit(0, at(start, 2))),
            ]),
            at(start, 2),
        );
        assert_eq!(p.start, ["c"]);
        let p = plan(
            &pod,
            &mut record,
            &states(&[("first", sidecar.clone()), ("c", exit(0, at(start, 3)))]),
            at(start, 3),
        );
        assert!(p.stop.is_empty(), "seen finished only now");
        let p = plan(
            &pod,
            &mut record,
            &states(&[("first", sidecar)]),
            at(start, 4),
        );
        assert_eq!(p.stop, ["u1-first"]);
        let p = plan(
            &pod,
            &mut record,
            &states(&[("first", exit(143, at(start, 5)))]),
            at(start, 5),
        );
        assert!(p.start.is_empty(), "a stopped sidecar stays stopped");
        assert_eq!(p.status.phase, PodPhase::Succeeded);
    }

    #[test]
    fn the_termination_message_goes_to_the_exit_and_then_the_last_state() {
        let start = Instant::now();
        let pod = pod("Always", "nginx:1.25");
        let mut record = PodRecord::default();
        plan(&pod, &mut record, &BTreeMap::new(), at(start, 0));
        let c = record.containers.get_mut("c").unwrap();
        c.kill_message = Some("Container c failed liveness probe".into());
        c.termination_message = Some("bye".into());
        let p = plan(&pod, &mut record, &exited(1, at(start, 1)), at(start, 1));
        let message = |state: &ContainerState| state.terminated.as_ref().unwrap().message.clone();
        assert_eq!(p.start, ["c"], "restarted at once the first time");
        let status = &p.status.container_statuses[0];
        assert_eq!(
            message(&status.last_state),
            "Container c failed liveness probe: bye"
        );
        let c = &record.containers["c"];
        assert_eq!((&c.kill_message, &c.termination_message), (&None, &None));
        let restarted = at(start, 2);
        let p = plan(&pod, &mut record, &running(restarted), restarted);
        let status = &p.status.container_statuses[0];
        assert!(status.state.running.is_some());
        assert_eq!(
            message(&status.last_state),
            "Container c failed liveness probe: bye"
        );

        let pod = self::pod("Never", "nginx:1.25");
        let mut record = PodRecord::default();
        plan(&pod, &mut record, &BTreeMap::new(), at(start, 0));
        record.containers.get_mut("c").unwrap().termination_message = Some("done".into());
        let p = plan(&pod, &mut record, &exited(0, at(start, 1)), at(start, 1));
        assert_eq!(message(&p.status.container_statuses[0].state), "done");
    }

    #[test]
    fn an_oom_kill_is_reported_as_oom_killed() {
        let start = Instant::now();
        let pod = pod("Never", "host");
        let mut record = PodRecord::default();
        plan(&pod, &mut record, &BTreeMap::new(), at(start, 0));
        let killed = BTreeMap::from([(
            "c".to_string(),
            RuntimeState::Exited {
                exit_code: 137,
                signal: Some(9),
                oom_killed: true,
                started_at: at(start, 0).wall,
                finished_at: at(start, 1).wall,
            },
        )]);
        let p = plan(&pod, &mut record, &killed, at(start, 1));
        let terminated = p.status.container_statuses[0]
            .state
            .terminated
            .clone()
            .unwrap();
        assert_eq!(
            (terminated.reason.as_str(), terminated.exit_code),
            ("OOMKilled", 137)
        );
    }
}
