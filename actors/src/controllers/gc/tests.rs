//! The collector's decisions against Kubernetes' garbage-collection rules, one table each.

use std::collections::BTreeSet;

use flotilla_kernel::api::{EventType, FOREGROUND_FINALIZER, ORPHAN_FINALIZER, PropagationPolicy};
use flotilla_kernel::object::{Kind, OwnerReference};

use super::graph::{Graph, Node};
use super::plan::{Effect, Target, plan, unverified_owners};

fn node(kind: Kind, name: &str, owners: &[OwnerReference]) -> Node {
    Node {
        kind,
        namespace: if kind.namespaced() { "prod" } else { "" }.into(),
        name: name.into(),
        uid: format!("{name}-uid"),
        owners: owners.to_vec(),
        deleting: false,
        finalizers: Vec::new(),
    }
}

/// A reference to the `kind` object `name`, blocking its owner's foreground deletion.
fn owned_by(kind: Kind, name: &str) -> OwnerReference {
    OwnerReference {
        api_version: kind.api_version().into(),
        kind: kind.as_str().into(),
        name: name.into(),
        uid: format!("{name}-uid"),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }
}

fn deleting(mut node: Node, finalizer: &str) -> Node {
    node.deleting = true;
    node.finalizers.push(finalizer.into());
    node
}

fn graph(nodes: &[Node]) -> Graph {
    let mut graph = Graph::default();
    for node in nodes {
        graph.apply(EventType::Added, node.clone());
    }
    graph
}

fn target(node: &Node) -> Target {
    Target {
        kind: node.kind,
        namespace: node.namespace.clone(),
        name: node.name.clone(),
        uid: node.uid.clone(),
    }
}

fn delete(node: &Node, propagation: PropagationPolicy) -> Effect {
    Effect::Delete {
        target: target(node),
        propagation,
    }
}

fn absent(uids: &[&str]) -> BTreeSet<String> {
    uids.iter().map(|uid| uid.to_string()).collect()
}

#[test]
fn dependents_of_gone_owners_are_collected() {
    let deploy = node(Kind::Deployment, "web", &[]);
    let rs = node(
        Kind::ReplicaSet,
        "web-1",
        &[owned_by(Kind::Deployment, "web")],
    );
    let pod = node(Kind::Pod, "web-1-a", &[owned_by(Kind::ReplicaSet, "web-1")]);
    let second_owner = OwnerReference {
        controller: None,
        ..owned_by(Kind::ConfigMap, "settings")
    };
    let settings = node(Kind::ConfigMap, "settings", &[]);
    let shared = node(
        Kind::Secret,
        "shared",
        &[owned_by(Kind::Deployment, "gone"), second_owner.clone()],
    );
    let unknown = OwnerReference {
        api_version: "example.com/v1".into(),
        kind: "Widget".into(),
        ..owned_by(Kind::Deployment, "w")
    };
    let foreign = node(Kind::Pod, "widget-pod", std::slice::from_ref(&unknown));
    let widget_and_gone = node(
        Kind::Pod,
        "mixed",
        &[unknown, owned_by(Kind::ReplicaSet, "gone")],
    );
    let cluster_owner = node(Kind::Node, "n1", &[]);
    let lease = node(Kind::Lease, "lease-n1", &[owned_by(Kind::Node, "n1")]);
    let orphan_lease = node(Kind::Lease, "lease-n2", &[owned_by(Kind::Node, "n2")]);
    let cluster_dependent = node(Kind::Namespace, "team", &[owned_by(Kind::Deployment, "x")]);
    let mut moved_owner = node(Kind::Deployment, "moved", &[]);
    moved_owner.namespace = "other".into();
    let cross_namespace = node(Kind::Pod, "cross", &[owned_by(Kind::Deployment, "moved")]);
    let all = [
        deploy,
        rs.clone(),
        pod.clone(),
        settings,
        shared.clone(),
        foreign.clone(),
        widget_and_gone.clone(),
        cluster_owner,
        lease.clone(),
        orphan_lease.clone(),
        cluster_dependent.clone(),
        moved_owner,
        cross_namespace.clone(),
    ];
    let absent = absent(&["gone-uid", "n2-uid", "moved-uid"]);
    let cases: [(&str, &Node, Vec<Effect>); 9] = [
        ("owner alive", &rs, vec![]),
        ("owner alive, pod", &pod, vec![]),
        (
            "one owner gone, one alive: only the reference goes",
            &shared,
            vec![Effect::RemoveOwners {
                target: target(&shared),
                owner_uids: vec!["gone-uid".into()],
            }],
        ),
        ("an owner kind the API does not serve", &foreign, vec![]),
        (
            "an unresolvable owner keeps the object; the gone one is dropped",
            &widget_and_gone,
            vec![Effect::RemoveOwners {
                target: target(&widget_and_gone),
                owner_uids: vec!["gone-uid".into()],
            }],
        ),
        (
            "a cluster-scoped owner of a namespaced dependent",
            &lease,
            vec![],
        ),
        (
            "a gone cluster-scoped owner",
            &orphan_lease,
            vec![delete(&orphan_lease, PropagationPolicy::Background)],
        ),
        (
            "a cluster-scoped dependent naming a namespaced kind is never collected",
            &cluster_dependent,
            vec![],
        ),
        (
            "an owner with that uid in another namespace is not this dependent's",
            &cross_namespace,
            vec![delete(&cross_namespace, PropagationPolicy::Background)],
        ),
    ];
    let graph = graph(&all);
    for (name, dependent, want) in cases {
        assert_eq!(plan(&graph, &dependent.uid, &absent), want, "{name}");
    }
}

#[test]
fn only_owners_missing_from_the_graph_need_a_live_read() {
    let rs = node(Kind::ReplicaSet, "web-1", &[]);
    let pod = node(
        Kind::Pod,
        "web-1-a",
        &[
            owned_by(Kind::ReplicaSet, "web-1"),
            owned_by(Kind::ReplicaSet, "unseen"),
        ],
    );
    let graph = graph(&[rs, pod.clone()]);
    let unverified: Vec<String> = unverified_owners(&graph, &pod.uid)
        .into_iter()
        .map(|o| o.reference.name)
        .collect();
    assert_eq!(unverified, ["unseen"]);
    assert!(
        plan(&graph, &pod.uid, &absent(&[])).is_empty(),
        "an owner a live read found is solid"
    );
}

#[test]
fn a_dependent_keeps_the_deletion_policy_its_finalizers_ask_for() {
    let cases = [
        (None, PropagationPolicy::Background),
        (Some(ORPHAN_FINALIZER), PropagationPolicy::Orphan),
        (Some(FOREGROUND_FINALIZER), PropagationPolicy::Foreground),
    ];
    for (finalizer, want) in cases {
        let mut rs = node(
            Kind::ReplicaSet,
            "web-1",
            &[owned_by(Kind::Deployment, "web")],
        );
        rs.finalizers.extend(finalizer.map(str::to_string));
        let graph = graph(std::slice::from_ref(&rs));
        assert_eq!(
            plan(&graph, &rs.uid, &absent(&["web-uid"])),
            [delete(&rs, want)],
            "{finalizer:?}"
        );
    }
}

#[test]
fn foreground_deletion_deletes_dependents_then_releases_the_owner() {
    let deploy = deleting(node(Kind::Deployment, "web", &[]), FOREGROUND_FINALIZER);
    let rs = node(
        Kind::ReplicaSet,
        "web-1",
        &[owned_by(Kind::Deployment, "web")],
    );
    let pod = node(Kind::Pod, "web-1-a", &[owned_by(Kind::ReplicaSet, "web-1")]);
    let rs_leaving = deleting(rs.clone(), FOREGROUND_FINALIZER);
    let childless = node(
        Kind::ReplicaSet,
        "web-0",
        &[owned_by(Kind::Deployment, "web")],
    );
    let mut going = node(Kind::Pod, "web-1-b", &[owned_by(Kind::ReplicaSet, "web-1")]);
    going.deleting = true;
    let non_blocking = OwnerReference {
        block_owner_deletion: None,
        ..owned_by(Kind::Deployment, "web")
    };
    let loose = node(Kind::ConfigMap, "loose", &[non_blocking]);
    let none = absent(&[]);
    let cases: [(&str, Vec<Node>, &Node, Vec<Effect>); 6] = [
        (
            "a dependent with dependents of its own goes in the foreground too",
            vec![deploy.clone(), rs.clone(), pod.clone()],
            &rs,
            vec![delete(&rs, PropagationPolicy::Foreground)],
        ),
        (
            "a dependent without dependents goes in the background",
            vec![deploy.clone(), childless.clone()],
            &childless,
            vec![delete(&childless, PropagationPolicy::Background)],
        ),
        (
            "the owner waits while a blocking dependent remains",
            vec![deploy.clone(), rs_leaving.clone(), pod.clone()],
            &deploy,
            vec![],
        ),
        (
            "a dependent not blocking is deleted but not waited for",
            vec![deploy.clone(), loose.clone()],
            &deploy,
            vec![Effect::RemoveFinalizer {
                target: target(&deploy),
                finalizer: FOREGROUND_FINALIZER,
            }],
        ),
        (
            "a non-blocking dependent is still collected",
            vec![deploy.clone(), loose.clone()],
            &loose,
            vec![delete(&loose, PropagationPolicy::Background)],
        ),
        (
            "a dependent already being deleted is left to finish",
            vec![deploy.clone(), rs_leaving.clone(), going.clone()],
            &going,
            vec![],
        ),
    ];
    for (name, nodes, subject, want) in cases {
        let graph = graph(&nodes);
        assert_eq!(plan(&graph, &subject.uid, &none), want, "{name}");
    }
    let graph = graph(std::slice::from_ref(&deploy));
    assert_eq!(
        plan(&graph, &deploy.uid, &none),
        [Effect::RemoveFinalizer {
            target: target(&deploy),
            finalizer: FOREGROUND_FINALIZER,
        }],
        "no dependents left: the owner goes"
    );
}

#[test]
fn an_owner_with_a_solid_co_owner_only_loses_the_waiting_reference() {
    let deploy = deleting(node(Kind::Deployment, "web", &[]), FOREGROUND_FINALIZER);
    let keeper = node(Kind::ConfigMap, "keeper", &[]);
    let shared = node(
        Kind::Secret,
        "shared",
        &[
            owned_by(Kind::Deployment, "web"),
            owned_by(Kind::ConfigMap, "keeper"),
        ],
    );
    let graph = graph(&[deploy, keeper, shared.clone()]);
    assert_eq!(
        plan(&graph, &shared.uid, &absent(&[])),
        [Effect::RemoveOwners {
            target: target(&shared),
            owner_uids: vec!["web-uid".into()],
        }]
    );
}

#[test]
fn orphaning_removes_the_owner_from_its_dependents_then_its_finalizer() {
    let deploy = deleting(node(Kind::Deployment, "web", &[]), ORPHAN_FINALIZER);
    let rs = node(
        Kind::ReplicaSet,
        "web-1",
        &[owned_by(Kind::Deployment, "web")],
    );
    let graph = graph(&[deploy.clone(), rs.clone()]);
    assert_eq!(
        plan(&graph, &deploy.uid, &absent(&[])),
        [
            Effect::RemoveOwners {
                target: target(&rs),
                owner_uids: vec!["web-uid".into()],
            },
            Effect::RemoveFinalizer {
                target: target(&deploy),
                finalizer: ORPHAN_FINALIZER,
            },
        ]
    );
    assert!(
        plan(&graph, &rs.uid, &absent(&[])).is_empty(),
        "an orphaning owner is solid to its dependents"
    );
}

#[test]
fn events_queue_the_objects_they_concern() {
    let deploy = node(Kind::Deployment, "web", &[]);
    let rs = node(
        Kind::ReplicaSet,
        "web-1",
        &[owned_by(Kind::Deployment, "web")],
    );
    let lease = node(Kind::Lease, "n1", &[]);
    let mut graph = Graph::default();
    assert!(
        graph.apply(EventType::Added, deploy.clone()).is_empty(),
        "no owners"
    );
    assert_eq!(graph.apply(EventType::Added, rs.clone()), ["web-1-uid"]);
    assert!(graph.apply(EventType::Modified, lease).is_empty());
    assert_eq!(
        graph.apply(
            EventType::Modified,
            deleting(deploy.clone(), FOREGROUND_FINALIZER)
        ),
        ["web-1-uid", "web-uid"],
        "a foreground deletion queues its dependents and itself"
    );
    assert_eq!(
        graph.apply(EventType::Deleted, rs.clone()),
        ["web-uid"],
        "a gone dependent queues its owner"
    );
    assert_eq!(graph.apply(EventType::Added, rs), ["web-1-uid"]);
    assert_eq!(
        graph.apply(EventType::Deleted, deploy),
        ["web-1-uid"],
        "a gone owner queues its dependents"
    );
    assert_eq!(graph.keys().collect::<Vec<_>>(), ["web-1-uid"]);
    assert_eq!(graph.len(), 2);
}
