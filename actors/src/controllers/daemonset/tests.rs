//! The DaemonSet controller's plan, a table per behaviour, against Kubernetes' documented
//! behaviour, and its routing of events to keys.

use std::time::{Duration, SystemTime};

use flotilla_kernel::object::{
    ConditionStatus, Container, DaemonSet, DaemonSetStatus, DaemonSetUpdateStrategyType,
    IntOrString, Node, OwnerReference, Pod, PodCondition, PodPhase, RollingUpdateDaemonSet, Taint,
    TaintEffect, Time,
};

use super::plan::{CONTROLLER_REVISION_HASH, Plan, plan};
use super::*;
use crate::controllers::deployment::hash::template_hash;

const NOW: Duration = Duration::from_secs(1_800_000_000);

fn now() -> SystemTime {
    SystemTime::UNIX_EPOCH + NOW
}

fn daemon_set(image: &str) -> DaemonSet {
    let mut set = DaemonSet::default();
    set.metadata.namespace = "kube-system".into();
    set.metadata.name = "agent".into();
    set.metadata.uid = "ds-uid".into();
    set.metadata.generation = 2;
    set.spec.selector.match_labels = [("app".to_string(), "agent".to_string())].into();
    set.spec.template.metadata.labels = [("app".to_string(), "agent".to_string())].into();
    set.spec.template.spec.containers = vec![Container {
        name: "agent".into(),
        image: image.into(),
        ..Container::default()
    }];
    set.spec.update_strategy.rolling_update = Some(RollingUpdateDaemonSet {
        max_unavailable: Some(IntOrString::Int(1)),
        max_surge: Some(IntOrString::Int(0)),
    });
    set
}

fn node(name: &str) -> Node {
    let mut node = Node::default();
    node.metadata.name = name.into();
    node
}

fn labelled(name: &str, key: &str, value: &str) -> Node {
    let mut node = node(name);
    node.metadata.labels.insert(key.into(), value.into());
    node
}

fn tainted(name: &str, effect: TaintEffect) -> Node {
    let mut node = node(name);
    node.spec.taints.push(Taint {
        key: "dedicated".into(),
        value: "db".into(),
        effect,
    });
    node
}

/// How a pod of the set is doing.
#[derive(Clone, Copy)]
enum State {
    Pending,
    Ready,
    Failed,
    Terminating,
}

/// A pod of the set from template `image`, created `age` seconds ago, on `node`.
fn pod(name: &str, node: &str, image: &str, state: State, age: u64) -> Pod {
    let set = daemon_set(image);
    let mut pod = Pod::default();
    pod.metadata.namespace = "kube-system".into();
    pod.metadata.name = name.into();
    pod.metadata.creation_timestamp = Some(Time::from(now() - Duration::from_secs(age)));
    pod.metadata.labels = set.spec.template.metadata.labels.clone();
    pod.metadata.labels.insert(
        CONTROLLER_REVISION_HASH.into(),
        template_hash(&set.spec.template),
    );
    pod.metadata.owner_references = vec![OwnerReference {
        api_version: "apps/v1".into(),
        kind: "DaemonSet".into(),
        name: "agent".into(),
        uid: "ds-uid".into(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }];
    pod.spec.node_name = node.into();
    match state {
        State::Pending => {}
        State::Ready => {
            pod.status.phase = PodPhase::Running;
            pod.status.conditions = vec![PodCondition {
                type_: PodCondition::READY.into(),
                status: ConditionStatus::True,
                last_transition_time: Some(Time::from(now() - Duration::from_secs(age))),
                ..PodCondition::default()
            }];
        }
        State::Failed => pod.status.phase = PodPhase::Failed,
        State::Terminating => pod.metadata.deletion_timestamp = Some(Time::from(now())),
    }
    pod
}

fn run(set: &DaemonSet, nodes: &[Node], pods: &[Pod]) -> Plan {
    let nodes: Vec<&Node> = nodes.iter().collect();
    let pods: Vec<&Pod> = pods.iter().collect();
    plan(set, &nodes, &pods, now())
}

/// The nodes the plan creates pods on, and the pods it deletes.
fn moves(plan: &Plan) -> (Vec<String>, Vec<String>) {
    let created = plan
        .create
        .iter()
        .map(|p| p.spec.node_name.clone())
        .collect();
    (created, plan.delete.clone())
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

use State::{Failed, Pending, Ready, Terminating};

/// A case: its name, the set, nodes and pods, the nodes that get a pod and the pods deleted.
type Case = (
    &'static str,
    DaemonSet,
    Vec<Node>,
    Vec<Pod>,
    &'static [&'static str],
    &'static [&'static str],
);

/// A rolling-update case: as [`Case`], with (maxUnavailable, maxSurge) for the set.
type UpdateCase = (
    &'static str,
    (i32, i32),
    Vec<Pod>,
    &'static [&'static str],
    &'static [&'static str],
);

#[test]
fn every_eligible_node_gets_one_pod() {
    let v1 = "agent:1";
    let cases: [Case; 9] = [
        (
            "a pod on each node",
            daemon_set(v1),
            vec![node("n1"), node("n2"), node("n3")],
            vec![],
            &["n1", "n2", "n3"],
            &[],
        ),
        (
            "a node that joins gets one",
            daemon_set(v1),
            vec![node("n1"), node("n2")],
            vec![pod("a", "n1", v1, Ready, 60)],
            &["n2"],
            &[],
        ),
        (
            "nodeSelector: only matching nodes, a pod elsewhere goes",
            {
                let mut set = daemon_set(v1);
                set.spec.template.spec.node_selector = [("disk".into(), "ssd".into())].into();
                set
            },
            vec![labelled("n1", "disk", "ssd"), labelled("n2", "disk", "hdd")],
            vec![pod("b", "n2", v1, Ready, 60)],
            &["n1"],
            &["b"],
        ),
        (
            "an untolerated NoSchedule taint keeps new pods off, not old ones",
            daemon_set(v1),
            vec![
                tainted("n1", TaintEffect::NoSchedule),
                tainted("n2", TaintEffect::NoSchedule),
            ],
            vec![pod("a", "n1", v1, Ready, 60)],
            &[],
            &[],
        ),
        (
            "an untolerated NoExecute taint evicts",
            daemon_set(v1),
            vec![tainted("n1", TaintEffect::NoExecute)],
            vec![pod("a", "n1", v1, Ready, 60)],
            &[],
            &["a"],
        ),
        (
            "a failed pod is replaced once it is gone; a terminating one holds its node",
            daemon_set(v1),
            vec![node("n1"), node("n2")],
            vec![
                pod("a", "n1", v1, Failed, 60),
                pod("b", "n2", v1, Terminating, 60),
            ],
            &[],
            &["a"],
        ),
        (
            "extra pods go, the oldest stays",
            daemon_set(v1),
            vec![node("n1")],
            vec![
                pod("new", "n1", v1, Ready, 5),
                pod("old", "n1", v1, Ready, 60),
            ],
            &[],
            &["new"],
        ),
        (
            "pods of a node that is gone go",
            daemon_set(v1),
            vec![node("n1")],
            vec![
                pod("a", "n1", v1, Ready, 60),
                pod("lost", "n9", v1, Ready, 60),
            ],
            &[],
            &["lost"],
        ),
        (
            "a steady set does nothing",
            daemon_set(v1),
            vec![node("n1"), node("n2")],
            vec![pod("a", "n1", v1, Ready, 60), pod("b", "n2", v1, Ready, 60)],
            &[],
            &[],
        ),
    ];
    for (case, set, nodes, pods, created, deleted) in cases {
        let plan = run(&set, &nodes, &pods);
        assert_eq!(moves(&plan), (strings(created), strings(deleted)), "{case}");
    }
}

#[test]
fn new_pods_are_bound_labelled_owned_and_tolerant() {
    let set = daemon_set("agent:1");
    let plan = run(&set, &[node("n1")], &[]);
    let [pod] = plan.create.as_slice() else {
        panic!("one pod: {plan:?}");
    };
    assert_eq!(pod.metadata.generate_name, "agent-");
    assert_eq!(pod.metadata.namespace, "kube-system");
    assert_eq!(pod.spec.node_name, "n1");
    assert_eq!(pod.metadata.labels["app"], "agent");
    assert_eq!(
        pod.metadata.labels[CONTROLLER_REVISION_HASH],
        template_hash(&set.spec.template)
    );
    let owner = pod.metadata.controller_ref().expect("a controller");
    assert_eq!(
        (owner.kind.as_str(), owner.uid.as_str()),
        ("DaemonSet", "ds-uid")
    );
    let tolerated: Vec<(&str, &str)> = pod
        .spec
        .tolerations
        .iter()
        .map(|t| (t.key.as_str(), t.effect.as_str()))
        .collect();
    assert_eq!(
        tolerated,
        [
            ("node.kubernetes.io/not-ready", "NoExecute"),
            ("node.kubernetes.io/unreachable", "NoExecute"),
            ("node.kubernetes.io/disk-pressure", "NoSchedule"),
            ("node.kubernetes.io/memory-pressure", "NoSchedule"),
            ("node.kubernetes.io/pid-pressure", "NoSchedule"),
            ("node.kubernetes.io/unschedulable", "NoSchedule"),
        ]
    );
}

fn bounds(set: &mut DaemonSet, unavailable: i32, surge: i32) {
    set.spec.update_strategy.rolling_update = Some(RollingUpdateDaemonSet {
        max_unavailable: Some(IntOrString::Int(unavailable)),
        max_surge: Some(IntOrString::Int(surge)),
    });
}

#[test]
fn rolling_update_replaces_within_max_unavailable() {
    let (v1, v2) = ("agent:1", "agent:2");
    let three = || vec![node("n1"), node("n2"), node("n3")];
    let old = |name: &str, node: &str| pod(name, node, v1, Ready, 60);
    let cases: [UpdateCase; 6] = [
        (
            "one node at a time",
            (1, 0),
            vec![old("a", "n1"), old("b", "n2"), old("c", "n3")],
            &[],
            &["a"],
        ),
        (
            "a node waiting for its new pod uses the budget",
            (1, 0),
            vec![old("b", "n2"), old("c", "n3")],
            &["n1"],
            &[],
        ),
        (
            "a new pod not ready yet uses the budget",
            (1, 0),
            vec![
                pod("a2", "n1", v2, Pending, 5),
                old("b", "n2"),
                old("c", "n3"),
            ],
            &[],
            &[],
        ),
        (
            "a bigger budget replaces more at once",
            (2, 0),
            vec![old("a", "n1"), old("b", "n2"), old("c", "n3")],
            &[],
            &["a", "b"],
        ),
        (
            "an unavailable old pod goes at once, and uses the budget",
            (1, 0),
            vec![
                pod("a", "n1", v1, Pending, 60),
                old("b", "n2"),
                old("c", "n3"),
            ],
            &[],
            &["a"],
        ),
        (
            "surge: a new pod beside the old one, the old goes once the new is available",
            (0, 1),
            vec![
                old("a", "n1"),
                pod("a2", "n1", v2, Ready, 5),
                old("b", "n2"),
                old("c", "n3"),
            ],
            &["n2"],
            &["a"],
        ),
    ];
    for (case, (unavailable, surge), pods, created, deleted) in cases {
        let mut set = daemon_set(v2);
        bounds(&mut set, unavailable, surge);
        let plan = run(&set, &three(), &pods);
        assert_eq!(moves(&plan), (strings(created), strings(deleted)), "{case}");
    }
}

#[test]
fn surge_waits_for_the_new_pod_and_respects_its_budget() {
    let (v1, v2) = ("agent:1", "agent:2");
    let mut set = daemon_set(v2);
    bounds(&mut set, 0, 1);
    let pods = [
        pod("a", "n1", v1, Ready, 60),
        pod("a2", "n1", v2, Pending, 5),
        pod("b", "n2", v1, Ready, 60),
    ];
    let plan = run(&set, &[node("n1"), node("n2")], &pods);
    assert_eq!(moves(&plan), (vec![], vec![]));
    // An old pod that is not ready gives way at once.
    let pods = [
        pod("a", "n1", v1, Pending, 60),
        pod("a2", "n1", v2, Pending, 5),
    ];
    let plan = run(&set, &[node("n1")], &pods);
    assert_eq!(moves(&plan), (vec![], strings(&["a"])));
}

#[test]
fn on_delete_replaces_only_what_someone_deleted() {
    let (v1, v2) = ("agent:1", "agent:2");
    let mut set = daemon_set(v2);
    set.spec.update_strategy.type_ = DaemonSetUpdateStrategyType::OnDelete;
    set.spec.update_strategy.rolling_update = None;
    let pods = [pod("a", "n1", v1, Ready, 60)];
    let plan = run(&set, &[node("n1"), node("n2")], &pods);
    assert_eq!(moves(&plan), (strings(&["n2"]), vec![]));
    assert_eq!(
        plan.create[0].metadata.labels[CONTROLLER_REVISION_HASH],
        template_hash(&set.spec.template)
    );
}

#[test]
fn status_counts_nodes_as_kubernetes_does() {
    let (v1, v2) = ("agent:1", "agent:2");
    let mut set = daemon_set(v2);
    set.spec.min_ready_seconds = 30;
    set.spec.template.spec.node_selector = [("agent".into(), "yes".into())].into();
    let nodes = [
        labelled("n1", "agent", "yes"),
        labelled("n2", "agent", "yes"),
        labelled("n3", "agent", "yes"),
        labelled("n4", "agent", "yes"),
        node("n5"),
    ];
    let mut pods = [
        pod("a", "n1", v2, Ready, 60),
        pod("b", "n2", v2, Ready, 10),
        pod("c", "n3", v1, Pending, 60),
        pod("e", "n5", v2, Ready, 60),
    ];
    for updated in [0, 1, 3] {
        pods[updated].metadata.labels.insert(
            CONTROLLER_REVISION_HASH.into(),
            template_hash(&set.spec.template),
        );
    }
    let plan = run(&set, &nodes, &pods);
    assert_eq!(
        plan.status,
        Some(DaemonSetStatus {
            current_number_scheduled: 3,
            number_misscheduled: 1,
            desired_number_scheduled: 4,
            number_ready: 2,
            observed_generation: 2,
            updated_number_scheduled: 2,
            number_available: 1,
            number_unavailable: 3,
        })
    );
    // Pod b becomes available 20 s from now.
    assert_eq!(plan.requeue_after, Some(Duration::from_secs(20)));
    let mut current = set.clone();
    current.status = plan.status.clone().unwrap_or_default();
    assert_eq!(run(&current, &nodes, &pods).status, None);
}

fn watched<T>(event: EventType, object: T) -> Watched<T> {
    Watched {
        event,
        object,
        revision: 1,
    }
}

#[test]
fn events_queue_the_sets_they_concern() {
    let mut controller = DaemonSetController::default();
    let key = ObjectKey::new("kube-system", "agent");
    let set = DaemonSetEvent::DaemonSet(Box::new(watched(EventType::Added, daemon_set("a:1"))));
    assert_eq!(controller.route(set), std::slice::from_ref(&key));
    let joined = DaemonSetEvent::Node(Box::new(watched(EventType::Added, node("n4"))));
    assert_eq!(controller.route(joined), std::slice::from_ref(&key));
    let owned = pod("a", "n1", "a:1", Ready, 1);
    let event = DaemonSetEvent::Pod(Box::new(watched(EventType::Deleted, owned.clone())));
    assert_eq!(controller.route(event), [key]);
    let mut foreign = owned;
    foreign.metadata.owner_references[0].kind = "ReplicaSet".into();
    let event = DaemonSetEvent::Pod(Box::new(watched(EventType::Added, foreign)));
    assert!(controller.route(event).is_empty());
    assert!(controller.pods.objects().is_empty());
}
