use flotilla_kernel::object::{PodPhase, Time};

use super::*;

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
    assert!(
        monitor
            .observe(at(0), SETTINGS, &nodes, &leases, &pods)
            .is_empty()
    );
    // b keeps renewing; a falls silent.
    for t in 1..=10 {
        let leases = [lease("a", 1), lease("b", 1 + t)];
        let actions = monitor.observe(at(t), SETTINGS, &nodes, &leases, &pods);
        assert!(
            actions.is_empty(),
            "within the grace period at {t}s: {actions:?}"
        );
    }
    let leases = [lease("a", 1), lease("b", 12)];
    let actions = monitor.observe(at(11), SETTINGS, &nodes, &leases, &pods);
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
    let actions = monitor.observe(at(15), SETTINGS, &marked, &leases, &pods);
    assert!(
        actions.is_empty(),
        "still within the eviction timeout: {actions:?}"
    );
    let leases = [lease("a", 1), lease("b", 17)];
    let actions = monitor.observe(at(16), SETTINGS, &marked, &leases, &pods);
    assert_eq!(evicted(&actions), ["on-a"]);
}

#[test]
fn a_node_that_renews_again_is_not_evicted() {
    let mut monitor = Monitor::default();
    let nodes = [node("a", ConditionStatus::Unknown)];
    let pods = [pod("on-a", "a")];
    monitor.observe(at(0), SETTINGS, &nodes, &[lease("a", 1)], &pods);
    monitor.observe(at(12), SETTINGS, &nodes, &[lease("a", 1)], &pods);
    let actions = monitor.observe(at(13), SETTINGS, &nodes, &[lease("a", 2)], &pods);
    assert!(actions.is_empty());
    // Silent again: the eviction clock starts over.
    let actions = monitor.observe(at(24), SETTINGS, &nodes, &[lease("a", 2)], &pods);
    assert!(evicted(&actions).is_empty());
    let actions = monitor.observe(at(29), SETTINGS, &nodes, &[lease("a", 2)], &pods);
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
    monitor.observe(at(0), SETTINGS, &nodes, &[], &pods);
    monitor.observe(at(11), SETTINGS, &nodes, &[], &pods);
    let actions = monitor.observe(at(20), SETTINGS, &nodes, &[], &pods);
    assert_eq!(evicted(&actions), ["web"]);
}

#[test]
fn pods_of_a_deleted_node_are_removed_at_once() {
    let mut monitor = Monitor::default();
    let pods = [pod("orphan", "gone"), pod("pending", "")];
    let actions = monitor.observe(at(0), SETTINGS, &[], &[], &pods);
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
    let actions = monitor.observe(
        at(100),
        SETTINGS,
        &nodes,
        &[lease("a", 1)],
        &[pod("p", "a")],
    );
    assert!(actions.is_empty());
    assert!(
        monitor
            .observe(at(110), SETTINGS, &nodes, &[lease("a", 1)], &[])
            .is_empty()
    );
}
