//! The scheduler actor against the real API server and store, in this process.

use std::collections::BTreeMap;
use std::time::Duration;

use ractor::Actor;
use tokio::sync::mpsc;

use flotilla_kernel::api::Watched;
use flotilla_kernel::object::{ConditionStatus, PodCondition};

use super::*;
use crate::scheduler::fixtures::{pod_with, ready_node};
use crate::test_api::TestApi;

const PARKED: usize = 100;
const SELECTOR_MESSAGE: &str =
    "0/1 nodes are available: 1 node(s) didn't match Pod's node affinity/selector.";

/// The pods as a watch reports them, to wait on.
struct Pods {
    events: mpsc::Receiver<Result<Watched<Pod>, ClientError>>,
    cache: Cache<Pod>,
}

impl Pods {
    async fn watch(api: &ApiClient) -> Self {
        Self {
            events: api.watch::<Pod>(None, 0, None).await.unwrap(),
            cache: Cache::new(),
        }
    }

    /// Follows the watch until `done` holds, for at most 30 s.
    async fn until(&mut self, what: &str, done: impl Fn(&Cache<Pod>) -> bool) {
        let follow = async {
            while !done(&self.cache) {
                let event = self.events.recv().await.expect("the watch ended").unwrap();
                self.cache.apply(event.event, event.object);
            }
        };
        if tokio::time::timeout(Duration::from_secs(30), follow)
            .await
            .is_err()
        {
            panic!("waited 30 s for {what}");
        }
    }
}

fn parked(pod: &Pod) -> bool {
    pod.spec.node_name.is_empty()
        && pod.condition(PodCondition::SCHEDULED).is_some_and(|c| {
            c.status == ConditionStatus::False
                && c.reason == "Unschedulable"
                && c.message == SELECTOR_MESSAGE
        })
}

/// A pod the API accepts (a `host` container needs a command).
fn valid(name: &str, requests: &[(&str, &str)]) -> Pod {
    let mut pod = pod_with(requests, &[]);
    pod.metadata.name = name.into();
    pod.spec.containers[0].command = vec!["sleep".into(), "3600".into()];
    pod
}

fn selective(name: &str) -> Pod {
    let mut pod = valid(name, &[]);
    pod.spec.node_selector = BTreeMap::from([("disk".into(), "ssd".into())]);
    pod
}

#[tokio::test]
async fn parked_pods_wait_for_a_node_that_fits_while_new_pods_are_bound() {
    let server = TestApi::start().await;
    let api = server.client("flotilla-controller", "control-plane");

    let wanted = ready_node("a", "2", "4Gi");
    let mut node = api.create(&wanted).await.unwrap();
    node.status = wanted.status;
    api.update_status(&node).await.unwrap();
    let mut pods = Pods::watch(&api).await;
    for i in 0..PARKED {
        api.create(&selective(&format!("bad-{i}"))).await.unwrap();
    }
    let (scheduler, scheduler_done) =
        Actor::spawn(None, Scheduler, SchedulerArgs::new(api.clone()))
            .await
            .unwrap();

    pods.until("every selective pod marked unschedulable", |pods| {
        pods.iter().filter(|p| parked(p)).count() == PARKED
    })
    .await;
    api.create(&valid("new", &[("cpu", "1")])).await.unwrap();
    pods.until("the new pod bound", |pods| {
        pods.get("default", "new")
            .is_some_and(|p| p.spec.node_name == "a")
    })
    .await;
    assert_eq!(pods.cache.iter().filter(|p| parked(p)).count(), PARKED);

    let mut node: Node = api.get("", "a").await.unwrap();
    node.metadata.labels.insert("disk".into(), "ssd".into());
    api.update(&node).await.unwrap();
    pods.until(
        "every selective pod bound once a node has the label",
        |pods| pods.iter().all(|p| p.spec.node_name == "a"),
    )
    .await;

    scheduler.stop(None);
    scheduler_done.await.unwrap();
}
