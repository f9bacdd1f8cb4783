use std::time::Duration;

use flotilla_kernel::object::{ConditionStatus, PodCondition, PodPhase, Time};

use super::*;
use crate::scheduler::fixtures::{pod_with, ready_node};

/// The caches the informers would keep, and the core fed from them.
struct World {
    pods: Cache<Pod>,
    nodes: Cache<Node>,
    namespaces: Cache<Namespace>,
    scheduling: Scheduling,
    t0: Instant,
}

impl World {
    fn new() -> Self {
        Self {
            pods: Cache::new(),
            nodes: Cache::new(),
            namespaces: Cache::new(),
            scheduling: Scheduling::new(
                Framework::with_default_plugins(),
                QueueSettings::default(),
            ),
            t0: Instant::now(),
        }
    }

    fn at(&self, seconds: u64) -> Instant {
        self.t0 + Duration::from_secs(seconds)
    }

    fn pod(&mut self, event: EventType, pod: Pod, seconds: u64) {
        let change = self.pods.apply(event, pod);
        self.scheduling.pod_changed(&change, self.at(seconds));
    }

    fn node(&mut self, event: EventType, node: Node, seconds: u64) {
        let change = self.nodes.apply(event, node);
        self.scheduling.node_changed(&change, self.at(seconds));
    }

    fn next(&mut self, seconds: u64) -> Option<Decision> {
        self.scheduling
            .next(self.at(seconds), &self.pods, &self.nodes, &self.namespaces)
    }

    /// Every decision due at `seconds`.
    fn decide_all(&mut self, seconds: u64) -> Vec<Decision> {
        std::iter::from_fn(|| self.next(seconds)).collect()
    }

    /// What the API and the watch would do after a bind: the pod bound to its node.
    fn confirm(&mut self, decision: &Decision, seconds: u64) {
        let Decision::Bind { pod, node } = decision else {
            panic!("not a bind: {decision:?}");
        };
        self.scheduling.bound(pod);
        let mut bound = (**self.pods.get(&pod.namespace, &pod.name).unwrap()).clone();
        bound.spec.node_name = node.clone();
        self.pod(EventType::Modified, bound, seconds);
    }
}

fn named(name: &str, cpu: &str) -> Pod {
    let mut pod = pod_with(&[("cpu", cpu)], &[]);
    pod.metadata.name = name.into();
    pod
}

fn selective(name: &str) -> Pod {
    let mut pod = named(name, "100m");
    pod.spec.node_selector = [("disk".to_string(), "ssd".to_string())].into();
    pod
}

fn bind(pod: &str, node: &str) -> Decision {
    Decision::Bind {
        pod: ObjectKey::new("default", pod),
        node: node.into(),
    }
}

fn pods_of(decisions: &[Decision]) -> Vec<&str> {
    decisions
        .iter()
        .map(|d| match d {
            Decision::Bind { pod, .. } | Decision::Unschedulable { pod, .. } => pod.name.as_str(),
        })
        .collect()
}

#[test]
fn a_new_pod_is_bound_before_any_parked_pod_is_tried_again() {
    let mut world = World::new();
    world.node(EventType::Added, ready_node("a", "4", "8Gi"), 0);
    let mut running = named("running", "1");
    running.spec.node_name = "a".into();
    world.pod(EventType::Added, running.clone(), 0);
    for i in 0..2000 {
        world.pod(EventType::Added, selective(&format!("bad-{i}")), 0);
    }
    let first = world.decide_all(0);
    assert_eq!(first.len(), 2000);
    assert!(
        first
            .iter()
            .all(|d| matches!(d, Decision::Unschedulable { message, .. }
                if message == "0/1 nodes are available: 1 node(s) didn't match Pod's node affinity/selector.")),
        "{:?}",
        first[0]
    );

    // A minute on, with heartbeats and a pod ending meanwhile: nothing there could help them.
    let mut heartbeat = ready_node("a", "4", "8Gi");
    heartbeat.status.conditions[0].last_heartbeat_time = Some(Time::now());
    world.node(EventType::Modified, heartbeat, 30);
    world.pod(EventType::Deleted, running, 40);
    assert_eq!(world.next(60), None);
    world.pod(EventType::Added, named("new", "1"), 60);
    assert_eq!(world.decide_all(60), [bind("new", "a")]);
    assert_eq!(world.scheduling.counts().unschedulable, 2000);

    // Five minutes after they were parked they are tried again, in their order.
    assert_eq!(world.next(299), None);
    let retried = world.decide_all(300);
    assert_eq!(retried.len(), 2000);
    assert_eq!(pods_of(&retried)[..2], ["bad-0", "bad-1"]);
}

#[test]
fn a_node_change_that_could_help_wakes_the_parked_pods() {
    let mut world = World::new();
    world.node(EventType::Added, ready_node("a", "4", "8Gi"), 0);
    world.pod(EventType::Added, selective("s"), 0);
    world.pod(EventType::Added, named("big", "8"), 0);
    assert_eq!(world.decide_all(0).len(), 2);

    let mut labelled = ready_node("a", "4", "8Gi");
    labelled.metadata.labels.insert("disk".into(), "ssd".into());
    world.node(EventType::Modified, labelled, 20);
    assert_eq!(world.decide_all(20), [bind("s", "a")]);

    world.node(EventType::Added, ready_node("b", "16", "8Gi"), 30);
    assert_eq!(world.decide_all(30), [bind("big", "b")]);
}

#[test]
fn a_freed_node_wakes_the_pods_that_did_not_fit() {
    let mut world = World::new();
    world.node(EventType::Added, ready_node("a", "2", "8Gi"), 0);
    let first = named("first", "2");
    world.pod(EventType::Added, first, 0);
    let decision = world.next(0).unwrap();
    world.confirm(&decision, 0);
    world.pod(EventType::Added, named("second", "2"), 1);
    assert!(matches!(
        world.next(1),
        Some(Decision::Unschedulable { message, .. }) if message == "0/1 nodes are available: 1 Insufficient cpu."
    ));
    let mut done = (**world.pods.get("default", "first").unwrap()).clone();
    done.status.phase = PodPhase::Succeeded;
    world.pod(EventType::Modified, done, 30);
    assert_eq!(world.decide_all(30), [bind("second", "a")]);
}

#[test]
fn the_next_decision_counts_the_pod_just_bound() {
    let mut world = World::new();
    world.node(EventType::Added, ready_node("a", "2", "8Gi"), 0);
    world.pod(EventType::Added, named("one", "1500m"), 0);
    world.pod(EventType::Added, named("two", "1500m"), 0);
    let decisions = world.decide_all(0);
    assert_eq!(decisions[0], bind("one", "a"));
    assert!(
        matches!(&decisions[1], Decision::Unschedulable { pod, .. } if pod.name == "two"),
        "before the watch reports the binding: {decisions:?}"
    );
}

#[test]
fn a_failed_bind_frees_the_node_and_is_retried_after_its_backoff() {
    let mut world = World::new();
    world.node(EventType::Added, ready_node("a", "2", "8Gi"), 0);
    world.pod(EventType::Added, named("p", "2"), 0);
    assert_eq!(world.next(0), Some(bind("p", "a")));
    world
        .scheduling
        .bind_failed(&ObjectKey::new("default", "p"), world.at(0));
    assert_eq!(world.next(0), None);
    assert_eq!(world.scheduling.next_deadline(), Some(world.at(1)));
    assert_eq!(
        world.next(1),
        Some(bind("p", "a")),
        "the failed bind no longer counts"
    );
}

#[test]
fn its_own_condition_does_not_requeue_a_parked_pod_but_a_new_spec_does() {
    let mut world = World::new();
    world.node(EventType::Added, ready_node("a", "4", "8Gi"), 0);
    world.pod(EventType::Added, selective("s"), 0);
    assert_eq!(world.decide_all(0).len(), 1);

    let mut marked = selective("s");
    marked.set_condition(
        PodCondition {
            type_: PodCondition::SCHEDULED.into(),
            status: ConditionStatus::False,
            reason: "Unschedulable".into(),
            ..PodCondition::default()
        },
        Time::now(),
    );
    world.pod(EventType::Modified, marked.clone(), 20);
    assert_eq!(world.next(20), None);

    marked.spec.node_selector.clear();
    world.pod(EventType::Modified, marked, 21);
    assert_eq!(world.decide_all(21), [bind("s", "a")]);
}

#[test]
fn pods_that_stop_pending_leave_the_queue() {
    let mut world = World::new();
    world.pod(EventType::Added, named("deleted", "1"), 0);
    world.pod(EventType::Added, named("terminating", "1"), 0);
    world.pod(EventType::Added, named("kept", "1"), 0);
    world.pod(EventType::Deleted, named("deleted", "1"), 0);
    let mut terminating = named("terminating", "1");
    terminating.metadata.deletion_timestamp = Some(Time::now());
    world.pod(EventType::Modified, terminating, 0);
    assert!(matches!(
        world.decide_all(0).as_slice(),
        [Decision::Unschedulable { pod, message }]
            if pod.name == "kept" && message == "no nodes available to schedule pods"
    ));
    world.node(EventType::Added, ready_node("a", "4", "8Gi"), 10);
    assert_eq!(world.decide_all(10), [bind("kept", "a")]);
}
