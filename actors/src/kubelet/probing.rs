//! The agent's side of probes: each probe of a running container is tried on its own timer
//! (initial delay, then every period) in a task of its own, and its outcome comes back to the
//! agent as a message, which the pure core (`probes`) judges. A run that has ended or been
//! replaced makes its timers' messages stale, and they are dropped.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use ractor::ActorRef;

use flotilla_kernel::object::{Container, Pod};

use flotilla_node_os::{ContainerState, Signal};

use super::hooks::{self, RunRef};
use super::prober::{self, Target};
use super::probes::{ProbeKind, Verdict, schedule};
use super::sync::{ContainerRecord, container_id};
use super::{AgentMsg, AgentState, blocking};

/// One probe of one run of one container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeTick {
    pub pod_uid: String,
    pub container: String,
    pub kind: ProbeKind,
    /// The start of the run it probes.
    pub run: SystemTime,
}

/// Starts the timers of `container`'s probes for its run that started at `run`.
pub fn start(
    myself: &ActorRef<AgentMsg>,
    state: &AgentState,
    pod_uid: &str,
    container: &str,
    run: SystemTime,
) {
    let Some(spec) = state.pods.get(pod_uid).and_then(|entry| {
        entry
            .pod
            .spec
            .containers
            .iter()
            .find(|c| c.name == container)
    }) else {
        return;
    };
    for kind in [
        ProbeKind::Startup,
        ProbeKind::Liveness,
        ProbeKind::Readiness,
    ] {
        if let Some(probe) = kind.of(spec) {
            let (delay, _) = schedule(probe);
            let tick = ProbeTick {
                pod_uid: pod_uid.to_string(),
                container: container.to_string(),
                kind,
                run,
            };
            myself.send_after(delay, move || AgentMsg::Probe(tick));
        }
    }
}

/// A probe's timer fired: try it (in a task of its own) if it runs now, and set the timer
/// again unless it is done for this run.
pub fn tick(myself: &ActorRef<AgentMsg>, state: &AgentState, tick: ProbeTick) {
    let Some(entry) = state.pods.get(&tick.pod_uid) else {
        return;
    };
    if entry.pod.metadata.deletion_timestamp.is_some() {
        return;
    }
    let Some(container) = entry
        .pod
        .spec
        .all_containers()
        .find(|c| c.name == tick.container)
    else {
        return;
    };
    let Some(record) = entry.record.containers.get(&tick.container) else {
        return;
    };
    let Some(probe) = tick.kind.of(container) else {
        return;
    };
    if record.probes.run != Some(tick.run) {
        return;
    }
    if tick.kind == ProbeKind::Startup && record.probes.started(container) {
        return;
    }
    let (_, period) = schedule(probe);
    if !record.probes.runs(container, tick.kind) {
        let again = tick.clone();
        myself.send_after(period, move || AgentMsg::Probe(again));
        return;
    }
    let target = Target {
        runtime: Arc::clone(&state.args.runtime),
        id: container_id(&tick.pod_uid, &tick.container),
        sandbox: tick.pod_uid.clone(),
    };
    let (container, probe, me) = (container.clone(), probe.clone(), myself.clone());
    tokio::spawn(async move {
        let outcome = prober::attempt(&target, &container, &probe).await;
        let _ = me.cast(AgentMsg::ProbeResult(tick, outcome));
    });
}

/// A probe's outcome: judged, the timer set again, and the status reported or the container
/// killed as the verdict says.
pub fn outcome(
    myself: &ActorRef<AgentMsg>,
    state: &mut AgentState,
    tick: ProbeTick,
    outcome: Result<(), String>,
) {
    let Some((pod, container, record)) =
        current_run(state, &tick.pod_uid, &tick.container, tick.run)
    else {
        return;
    };
    if let Err(why) = &outcome {
        tracing::debug!(pod = %pod.metadata.name, container = %tick.container, kind = ?tick.kind, %why, "probe failed");
    }
    let verdict = record.probes.record(container, tick.kind, outcome);
    if let Some(probe) = tick.kind.of(container) {
        let (_, period) = schedule(probe);
        let again = tick.clone();
        myself.send_after(period, move || AgentMsg::Probe(again));
    }
    match verdict {
        Verdict::Continue => {}
        Verdict::Report => {
            let _ = myself.cast(AgentMsg::Sync(tick.pod_uid));
        }
        Verdict::Kill(message) => {
            let run = RunRef {
                pod_uid: tick.pod_uid,
                container: tick.container,
                run: tick.run,
            };
            let _ = myself.cast(AgentMsg::Kill(run, message));
        }
    }
}

/// Kills `run` for `message` (a failed probe or postStart hook), as the kubelet does: its
/// preStop hook, SIGTERM, and SIGKILL after the probe's or the pod's grace period; the exit
/// carries the message.
pub fn kill(myself: &ActorRef<AgentMsg>, state: &mut AgentState, run: RunRef, message: String) {
    let runtime = Arc::clone(&state.args.runtime);
    let Some((pod, container, record)) = current_run(state, &run.pod_uid, &run.container, run.run)
    else {
        return;
    };
    if record.kill_message.is_some() {
        return;
    }
    tracing::info!(pod = %pod.metadata.name, container = %run.container, %message, "killing the container");
    record.kill_message = Some(message);
    let probe_grace = [
        container.liveness_probe.as_ref(),
        container.startup_probe.as_ref(),
    ]
    .into_iter()
    .flatten()
    .find_map(|probe| probe.termination_grace_period_seconds)
    .and_then(|seconds| u64::try_from(seconds).ok())
    .map(Duration::from_secs);
    let grace = probe_grace.unwrap_or_else(|| hooks::grace(pod));
    hooks::pre_stop_then_term(&runtime, pod, container);
    myself.send_after(grace, move || AgentMsg::KillRun(run));
}

/// The pod, spec and record of container `name` of pod `pod_uid`, if its current run is the
/// one that started at `run` (timers and tasks of a run that has ended are stale).
fn current_run<'a>(
    state: &'a mut AgentState,
    pod_uid: &str,
    name: &str,
    run: SystemTime,
) -> Option<(&'a Pod, &'a Container, &'a mut ContainerRecord)> {
    let entry = state.pods.get_mut(pod_uid)?;
    let container = entry.pod.spec.all_containers().find(|c| c.name == name)?;
    let record = entry.record.containers.get_mut(name)?;
    (record.probes.run == Some(run)).then_some((&entry.pod, container, record))
}

/// The grace period of a kill is over: SIGKILL, if the same run still lives.
pub async fn kill_run(state: &AgentState, run: RunRef) {
    let id = container_id(&run.pod_uid, &run.container);
    let same_run = matches!(
        state.args.runtime.state(&id),
        Some(ContainerState::Running { started_at, .. }) if started_at == run.run
    );
    if same_run {
        blocking(&state.args.runtime, move |runtime| {
            let _ = runtime.signal(&id, Signal::Kill);
        })
        .await;
    }
}
