use flotilla_kernel::api::EventType;
use flotilla_kernel::object::{PodPhase, Time};

use super::*;
use crate::informer::bound_node;

const SETTINGS: Settings = Settings {
    grace: Duration::from_secs(10),
    eviction: Duration::from_secs(5),
};

fn at(seconds: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000 + seconds)
}

fn node(name: &str, ready: ConditionStatus) -> Node {
    let mut node = Node::default();
    node.metadata.name = name.into();
    node.status.conditions.push(NodeCondition {
        type_: NodeCondition::READY.into(),
        status: ready,
        ..NodeCondition::default()
    });
    node
}

fn lease(name: &str, version: u64) -> Lease {
    let mut lease = Lease::default();
    lease.metadata.namespace = NODE_LEASE_NAMESPACE.into();
    lease.metadata.name = name.into();
    lease.metadata.resource_version = version.to_string();
    lease
}

fn pod(name: &str, node: &str) -> Pod {
    let mut pod = Pod::default();
    pod.metadata.name = name.into();
    pod.metadata.namespace = "default".into();
    pod.spec.node_name = node.into();
    pod
}

fn cache<T: flotilla_kernel::object::Resource>(mut cache: Cache<T>, objects: &[T]) -> Cache<T> {
    for object in objects {
        cache.apply(EventType::Added, object.clone());
    }
    cache
}

/// One look at these objects, through the caches the controller keeps.
fn observe(
    monitor: &mut Monitor,
    now: SystemTime,
    nodes: &[Node],
    leases: &[Lease],
    pods: &[Pod],
) -> Vec<Action> {
    monitor.observe(
        now,
        SETTINGS,
        &cache(Cache::new(), nodes),
        &cache(Cache::new(), leases),
        &cache(Cache::indexed(bound_node), pods),
    )
}

fn evicted(actions: &[Action]) -> Vec<&str> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Evict { name, .. } => Some(name.as_str()),
            _ => None,
        })
        .collect()
}

#[test]
fn a_silent_node_is_marked_then_its_pods_are_evicted() {
    let mut monitor = Monitor::default();
    let nodes = [
        node("a", ConditionStatus::True),
        node("b", ConditionStatus::True),
    ];
    let pods = [pod("on-a", "a"), pod("on-b", "b")];
    let leases = [lease("a", 1), lease("b", 1)];
    assert!(observe(&mut monitor, at(0), &nodes, &leases, &pods).is_empty());
    // b keeps renewing; a falls silent.
    for t in 1..=10 {
        let leases = [lease("a", 1), lease("b", 1 + t)];
        let actions = observe(&mut monitor, at(t), &nodes, &leases, &pods);
        assert!(
            actions.is_empty(),
            "within the grace period at {t}s: {actions:?}"
        );
    }
    let leases = [lease("a", 1), lease("b", 12)];
    let actions = observe(&mut monitor, at(11), &nodes, &leases, &pods);
    assert_eq!(
        actions,
        [Action::MarkUnreachable {
            node: "a".into(),
            message: "the node agent has not renewed its lease for 11s".into()
        }]
    );
    let marked = [
        node("a", ConditionStatus::Unknown),
        node("b", ConditionStatus::True),
    ];
    let leases = [lease("a", 1), lease("b", 16)];
    let actions = observe(&mut monitor, at(15), &marked, &leases, &pods);
    assert!(
        actions.is_empty(),
        "still within the eviction timeout: {actions:?}"
    );
    let leases = [lease("a", 1), lease("b", 17)];
    let actions = observe(&mut monitor, at(16), &marked, &leases, &pods);
    assert_eq!(evicted(&actions), ["on-a"]);
}

#[test]
fn the_ready_pods_of_a_silent_node_are_marked_not_ready_before_eviction() {
    let mut monitor = Monitor::default();
    let nodes = [node("a", ConditionStatus::Unknown)];
    let mut ready = pod("ready", "a");
    ready
        .status
        .conditions
        .push(flotilla_kernel::object::PodCondition {
            type_: flotilla_kernel::object::PodCondition::READY.into(),
            status: ConditionStatus::True,
            ..Default::default()
        });
    let pods = [ready, pod("unready", "a")];
    observe(&mut monitor, at(0), &nodes, &[lease("a", 1)], &pods);
    let actions = observe(&mut monitor, at(11), &nodes, &[lease("a", 1)], &pods);
    assert_eq!(
        actions,
        [Action::MarkPodNotReady {
            namespace: "default".into(),
            name: "ready".into(),
            node: "a".into(),
        }]
    );
    // Once marked, only the eviction is left to do.
    let mut marked = pods.clone();
    marked[0].status.conditions[0].status = ConditionStatus::False;
    let actions = observe(&mut monitor, at(16), &nodes, &[lease("a", 1)], &marked);
    assert_eq!(evicted(&actions), ["ready", "unready"]);
    assert_eq!(actions.len(), 2, "{actions:?}");
}

#[test]
fn a_node_that_renews_again_is_not_evicted() {
    let mut monitor = Monitor::default();
    let nodes = [node("a", ConditionStatus::Unknown)];
    let pods = [pod("on-a", "a")];
    observe(&mut monitor, at(0), &nodes, &[lease("a", 1)], &pods);
    observe(&mut monitor, at(12), &nodes, &[lease("a", 1)], &pods);
    let actions = observe(&mut monitor, at(13), &nodes, &[lease("a", 2)], &pods);
    assert!(actions.is_empty());
    // Silent again: the eviction clock starts over.
    let actions = observe(&mut monitor, at(24), &nodes, &[lease("a", 2)], &pods);
    assert!(evicted(&actions).is_empty());
    let actions = observe(&mut monitor, at(29), &nodes, &[lease("a", 2)], &pods);
    assert_eq!(evicted(&actions), ["on-a"]);
}

#[test]
fn at_most_one_terminating_and_finished_pods_are_left_alone() {
    let mut monitor = Monitor::default();
    let nodes = [node("a", ConditionStatus::Unknown)];
    let mut single = pod("single", "a");
    single
        .metadata
        .annotations
        .insert(AT_MOST_ONE.into(), "true".into());
    let mut going = pod("going", "a");
    going.metadata.deletion_timestamp = Some(Time::from(at(0)));
    let mut done = pod("done", "a");
    done.status.phase = PodPhase::Succeeded;
    let pods = [single, going, done, pod("web", "a")];
    observe(&mut monitor, at(0), &nodes, &[], &pods);
    observe(&mut monitor, at(11), &nodes, &[], &pods);
    let actions = observe(&mut monitor, at(20), &nodes, &[], &pods);
    assert_eq!(evicted(&actions), ["web"]);
}

#[test]
fn pods_of_a_deleted_node_are_removed_at_once() {
    let mut monitor = Monitor::default();
    let pods = [pod("orphan", "gone"), pod("pending", "")];
    let actions = observe(&mut monitor, at(0), &[], &[], &pods);
    assert_eq!(
        actions,
        [Action::Remove {
            namespace: "default".into(),
            name: "orphan".into(),
            node: "gone".into()
        }]
    );
}

#[test]
fn a_restarted_controller_gives_every_node_a_full_grace_period() {
    let mut monitor = Monitor::default();
    let nodes = [node("a", ConditionStatus::True)];
    // The lease is old, but this monitor has only just started looking.
    let actions = observe(
        &mut monitor,
        at(100),
        &nodes,
        &[lease("a", 1)],
        &[pod("p", "a")],
    );
    assert!(actions.is_empty());
    assert!(observe(&mut monitor, at(110), &nodes, &[lease("a", 1)], &[]).is_empty());
}
