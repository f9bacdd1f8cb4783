//! `flotilla top` through the in-process API server to a node agent on a fake runtime: the
//! server asks the agent of each node, the agent reads the containers' cgroups, and a node
//! without an agent costs only its own rows.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use ractor::Actor;

use flotilla_kernel::api::{ApiClient, Request, Response, TopReport};
use flotilla_kernel::object::{Kind, Node, ObjectMeta};
use flotilla_node_os::{CgroupUsage, ContainerState, FakeCgroups, FakeRuntime, Runtime};

use crate::kubelet::NodeAgent;
use crate::kubelet::tests::agent_args;
use crate::test_api::{TestApi, host_pod_on};

/// The longest any wait here lasts.
const DEADLINE: Duration = Duration::from_secs(20);

async fn top(admin: &ApiClient, kind: Kind, name: Option<&str>) -> TopReport {
    let namespace = (kind == Kind::Pod).then(|| "default".to_string());
    let request = Request::Top {
        kind,
        namespace,
        name: name.map(str::to_string),
    };
    match admin.call(request).await.expect("top is answered") {
        Response::Top(report) => report,
        other => panic!("top answered with {}", other.kind_name()),
    }
}

#[tokio::test]
async fn top_asks_each_nodes_agent_and_reports_the_nodes_that_cannot_answer() {
    let api = TestApi::start().await;
    let admin = api.client("admin", "admin");
    let cgroups = Arc::new(FakeCgroups::new());
    let runtime = Arc::new(FakeRuntime::new(cgroups.clone()));
    let logs = tempfile::tempdir().unwrap();
    let args = agent_args(&api, runtime.clone(), logs.path());
    let (agent, _) = Actor::spawn(None, NodeAgent, args).await.unwrap();
    // n2 has a Node and a pod, but no agent.
    let n2 = Node {
        metadata: ObjectMeta {
            name: "n2".into(),
            ..ObjectMeta::default()
        },
        ..Node::default()
    };
    admin.create(&n2).await.unwrap();
    admin.create(&host_pod_on("n2", "far")).await.unwrap();
    admin.create(&host_pod_on("n1", "near")).await.unwrap();

    let deadline = Instant::now() + DEADLINE;
    let id = loop {
        let running = runtime
            .list()
            .into_iter()
            .find_map(|(id, state)| matches!(state, ContainerState::Running { .. }).then_some(id));
        if let Some(id) = running {
            break id;
        }
        assert!(Instant::now() < deadline, "the container never ran");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    // The fake container uses 34Mi and about 5 ms of CPU every 10 ms, until the test ends.
    let spinning = Arc::new(AtomicBool::new(true));
    let spinner = {
        let (cgroups, id, spinning) = (cgroups.clone(), id.clone(), spinning.clone());
        std::thread::spawn(move || {
            let mut usage = CgroupUsage {
                cpu_usage_nanos: 0,
                memory_bytes: 34 << 20,
            };
            while spinning.load(Ordering::Relaxed) {
                if cgroups.set_usage(&id, usage).is_err() {
                    return;
                }
                usage.cpu_usage_nanos += 5_000_000;
                std::thread::sleep(Duration::from_millis(10));
            }
        })
    };

    let report = top(&admin, Kind::Pod, None).await;
    assert_eq!(report.pods.len(), 1, "{report:?}");
    let near = &report.pods[0];
    assert_eq!(
        (near.namespace.as_str(), near.name.as_str()),
        ("default", "near")
    );
    assert_eq!(near.containers.len(), 1);
    assert_eq!(near.containers[0].name, "main");
    let usage = near.containers[0].usage;
    assert_eq!(usage.memory_bytes, 34 << 20);
    assert!(
        (1..=600).contains(&usage.cpu_millis),
        "about 500m at most: {usage:?}"
    );
    assert_eq!(
        report.unavailable,
        [
            "metrics not available for 1 pod on node \"n2\": the agent of node \"n2\" is not \
          connected"
        ]
    );

    let report = top(&admin, Kind::Pod, Some("near")).await;
    assert_eq!(report.pods.len(), 1);
    assert!(report.unavailable.is_empty(), "{report:?}");

    let report = top(&admin, Kind::Node, None).await;
    let names: Vec<&str> = report.nodes.iter().map(|n| n.name.as_str()).collect();
    assert_eq!(names, ["n1", "n2"]);
    let n1 = &report.nodes[0];
    let used = n1.usage.expect("n1's agent answers");
    assert!(used.memory_bytes > 0, "{n1:?}");
    assert!(n1.allocatable.cpu_millis > 0 && n1.allocatable.memory_bytes > 0);
    assert_eq!(report.nodes[1].usage, None);
    assert_eq!(report.unavailable.len(), 1, "{report:?}");
    assert!(report.unavailable[0].contains("node \"n2\""));

    // Viewers may look; nodes may not.
    let viewer = api.client("alice", "viewer");
    assert!(!top(&viewer, Kind::Node, Some("n1")).await.nodes.is_empty());
    let node = api.client("node:n1", "node");
    let denied = node
        .call(Request::Top {
            kind: Kind::Node,
            namespace: None,
            name: None,
        })
        .await
        .unwrap_err();
    assert!(
        denied.to_string().contains("may not read usage of nodes"),
        "{denied}"
    );

    spinning.store(false, Ordering::Relaxed);
    spinner.join().unwrap();
    agent.stop(None);
}
