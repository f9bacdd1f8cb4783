//! The node agent in-process, against an in-process API server and a fake runtime.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ractor::Actor;

use flotilla_kernel::object::{Kind, Namespace, Pod};
use flotilla_node_os::{ContainerState, FakeCgroups, FakeRuntime, Runtime};

use super::{NodeAgent, NodeAgentArgs};
use crate::test_api::{TestApi, host_pod_on};

/// The longest any wait here lasts.
const DEADLINE: Duration = Duration::from_secs(20);

/// The arguments of node `n1`'s agent on `runtime`, with its logs and images under `dir`.
pub(super) fn agent_args(api: &TestApi, runtime: Arc<dyn Runtime>, dir: &Path) -> NodeAgentArgs {
    NodeAgentArgs {
        node_name: "n1".into(),
        address: "127.0.0.1".into(),
        api: api.client("node:n1", "node"),
        runtime,
        proc_root: PathBuf::from("/proc"),
        log_dir: dir.to_path_buf(),
        image_dir: dir.join("images"),
        registries: super::Registries::default(),
        runtime_handlers: super::RuntimeHandlers::default(),
        cri: None,
        image_gc: flotilla_images::ImageGcPolicy::default(),
        network: None,
        heartbeat: Duration::from_secs(10),
        lease_renew: Duration::from_secs(1),
    }
}

fn pod_on(node: &str, grace_seconds: i64) -> Pod {
    let mut pod = host_pod_on(node, "stubborn");
    pod.spec.termination_grace_period_seconds = Some(grace_seconds);
    pod
}

async fn until<T>(what: &str, mut check: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + DEADLINE;
    loop {
        if let Some(found) = check().await {
            return found;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn the_api_keeps_answering_while_the_agent_kills_a_container_that_ignores_sigterm() {
    let api = TestApi::start().await;
    let admin = api.client("admin", "admin");
    // The container's processes take seconds to go once killed: removing its cgroup waits.
    let linger = Duration::from_secs(3);
    let cgroups = Arc::new(FakeCgroups::with_linger(linger));
    let runtime = Arc::new(FakeRuntime::new(cgroups.clone()));
    let logs = tempfile::tempdir().unwrap();
    let args = agent_args(&api, runtime.clone(), logs.path());
    let (agent, _) = Actor::spawn(None, NodeAgent, args).await.unwrap();

    admin.create(&pod_on("n1", 1)).await.unwrap();
    let id = until("the container to run", async || {
        runtime
            .list()
            .into_iter()
            .find_map(|(id, state)| matches!(state, ContainerState::Running { .. }).then_some(id))
    })
    .await;
    cgroups.add_pid(&id, 4242).unwrap();

    // The fake container ignores SIGTERM: after the grace period the agent kills it and
    // removes its cgroup, which takes `linger`.
    admin
        .delete(Kind::Pod, "default", "stubborn", None)
        .await
        .unwrap();
    let mut slowest = Duration::ZERO;
    until("the pod to be gone", async || {
        let asked = Instant::now();
        admin.get::<Namespace>("", "default").await.unwrap();
        slowest = slowest.max(asked.elapsed());
        let pod = admin.find::<Pod>("default", "stubborn").await.unwrap();
        pod.is_none().then_some(())
    })
    .await;
    eprintln!("slowest API answer while the container was killed: {slowest:?}");
    assert!(
        runtime.list().is_empty(),
        "the container is removed: {:?}",
        runtime.list()
    );
    assert!(
        slowest < linger / 3,
        "the API stalled for {slowest:?} while the agent removed a cgroup"
    );
    agent.stop(None);
}
