use flotilla_kernel::api::EventType;
use flotilla_kernel::object::{Node, Time};

use super::*;
use crate::scheduler::cache::SchedulerCache;
use crate::scheduler::fixtures::{pod_with, ready_node};

fn pod(name: &str, node: &str, cpu: &str, priority: i32) -> Pod {
    let mut pod = pod_with(&[("cpu", cpu)], &[]);
    pod.metadata.name = name.into();
    pod.spec.node_name = node.into();
    pod.spec.priority = Some(priority);
    pod
}

/// Where preempting would make room for `incoming` with `placed` on `nodes`.
fn preempt(incoming: &Pod, nodes: &[Node], placed: &[Pod]) -> Option<Preemption> {
    let mut cache = SchedulerCache::default();
    for pod in placed {
        cache.pod_changed(EventType::Added, pod);
    }
    let nodes: Vec<&Node> = nodes.iter().collect();
    let cluster = Cluster {
        nodes: &nodes,
        cache: &cache,
        namespace_labels: &|_| None,
    };
    find(&Framework::with_default_plugins(), incoming, &cluster)
}

fn keys(names: &[&str]) -> Vec<ObjectKey> {
    names
        .iter()
        .map(|n| ObjectKey::new("default", *n))
        .collect()
}

#[test]
fn only_as_many_lower_priority_pods_as_needed_go() {
    let nodes = [ready_node("a", "4", "8Gi")];
    let placed = [
        pod("low-1", "a", "1", 1),
        pod("low-2", "a", "1", 2),
        pod("low-3", "a", "1", 3),
        pod("peer", "a", "1", 10),
    ];
    let high = pod("high", "", "2", 10);
    assert_eq!(
        preempt(&high, &nodes, &placed),
        Some(Preemption {
            node: "a".into(),
            victims: keys(&["low-2", "low-1"]),
        }),
        "the most important lower pod (low-3) is given back; equal priority is never a victim"
    );
    let huge = pod("huge", "", "4", 10);
    assert_eq!(
        preempt(&huge, &nodes, &placed),
        None,
        "peer cannot be evicted"
    );
    let mut humble = high.clone();
    humble.spec.preemption_policy = Some("Never".into());
    assert_eq!(preempt(&humble, &nodes, &placed), None);
}

#[test]
fn the_node_whose_victims_matter_least_is_chosen() {
    let nodes = [ready_node("a", "2", "8Gi"), ready_node("b", "2", "8Gi")];
    let placed = [
        pod("a-mid", "a", "2", 5),
        pod("b-low-1", "b", "1", 1),
        pod("b-low-2", "b", "1", 1),
    ];
    let incoming = pod("new", "", "2", 10);
    assert_eq!(
        preempt(&incoming, &nodes, &placed),
        Some(Preemption {
            node: "b".into(),
            victims: keys(&["b-low-1", "b-low-2"]),
        }),
        "two pods of priority 1 matter less than one of priority 5"
    );
}

#[test]
fn pods_already_terminating_make_the_room_without_new_victims() {
    let nodes = [ready_node("a", "2", "8Gi")];
    let mut leaving = pod("leaving", "a", "2", 1);
    leaving.metadata.deletion_timestamp = Some(Time::now());
    let incoming = pod("new", "", "2", 10);
    assert_eq!(
        preempt(&incoming, &nodes, &[leaving]),
        Some(Preemption {
            node: "a".into(),
            victims: Vec::new(),
        })
    );
}
