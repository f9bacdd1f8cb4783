//! Lifecycle hooks: `postStart` runs right after a container starts (a failure kills it, to be
//! restarted by its policy), `preStop` before it is sent SIGTERM, within its grace period.
//! Each is an exec, an HTTP GET, a TCP connection (deprecated, but run) or a sleep, made like
//! the probes are, in a task of its own so the agent goes on meanwhile.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use ractor::ActorRef;

use flotilla_kernel::object::{Container, LifecycleHandler, Pod};
use flotilla_node_os::{Runtime, Signal};

use super::AgentMsg;
use super::prober::{self, Target};
use super::sync::container_id;

/// One run of one container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunRef {
    pub pod_uid: String,
    pub container: String,
    /// When the run started.
    pub run: SystemTime,
}

/// Runs `handler` against the container of `target`, giving up after `limit`.
pub async fn run(
    target: &Target,
    container: &Container,
    handler: &LifecycleHandler,
    limit: Duration,
) -> Result<(), String> {
    let work = async {
        if let Some(action) = &handler.exec {
            prober::exec(target, action, limit).await
        } else if let Some(action) = &handler.http_get {
            prober::http(target, container, action, limit).await
        } else if let Some(action) = &handler.tcp_socket {
            prober::tcp(target, container, action, limit).await
        } else if let Some(sleep) = &handler.sleep {
            let seconds = u64::try_from(sleep.seconds).unwrap_or(0);
            tokio::time::sleep(Duration::from_secs(seconds)).await;
            Ok(())
        } else {
            Err("the hook has no handler".to_string())
        }
    };
    tokio::time::timeout(limit, work)
        .await
        .map_err(|_| format!("the hook did not finish within {}s", limit.as_secs()))?
}

/// The pod's grace period: how long a container may take to stop.
pub fn grace(pod: &Pod) -> Duration {
    pod.spec
        .termination_grace_period_seconds
        .and_then(|seconds| u64::try_from(seconds).ok())
        .map_or(Duration::from_secs(30), Duration::from_secs)
}

fn target(runtime: &Arc<dyn Runtime>, pod: &Pod, container: &Container) -> Target {
    Target {
        runtime: Arc::clone(runtime),
        id: container_id(&pod.metadata.uid, &container.name),
        sandbox: pod.metadata.uid.clone(),
    }
}

/// Runs `container`'s postStart hook, if it has one, for the run that started at `run`; a
/// failure comes back to the agent to kill that run.
pub fn post_start(
    myself: &ActorRef<AgentMsg>,
    runtime: &Arc<dyn Runtime>,
    pod: &Pod,
    container: &Container,
    run: SystemTime,
) {
    let Some(handler) = container
        .lifecycle
        .as_ref()
        .and_then(|l| l.post_start.clone())
    else {
        return;
    };
    let (target, container, limit) = (
        target(runtime, pod, container),
        container.clone(),
        grace(pod),
    );
    let me = myself.clone();
    let run = RunRef {
        pod_uid: pod.metadata.uid.clone(),
        container: container.name.clone(),
        run,
    };
    tokio::spawn(async move {
        if let Err(why) = self::run(&target, &container, &handler, limit).await {
            let message = format!("FailedPostStartHook: {why}");
            let _ = me.cast(AgentMsg::Kill(run, message));
        }
    });
}

/// Stops `container`: its preStop hook first (at most `grace`), then SIGTERM. The caller sends
/// SIGKILL once the grace period is over.
pub fn pre_stop_then_term(runtime: &Arc<dyn Runtime>, pod: &Pod, container: &Container) {
    let handler = container
        .lifecycle
        .as_ref()
        .and_then(|l| l.pre_stop.clone());
    let (target, container, limit) = (
        target(runtime, pod, container),
        container.clone(),
        grace(pod),
    );
    tokio::spawn(async move {
        if let Some(handler) = handler
            && let Err(why) = run(&target, &container, &handler, limit).await
        {
            tracing::warn!(container = %target.id, %why, "the preStop hook failed");
        }
        let (runtime, id) = (target.runtime, target.id);
        let _ = tokio::task::spawn_blocking(move || runtime.signal(&id, Signal::Term)).await;
    });
}
