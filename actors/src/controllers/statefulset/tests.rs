//! The StatefulSet controller's plan, a table per behaviour, against Kubernetes' documented
//! behaviour, and its routing of events to keys.

use std::time::{Duration, SystemTime};

use flotilla_kernel::object::{
    ConditionStatus, Container, DaemonSetUpdateStrategyType, OwnerReference, Pod, PodCondition,
    PodManagementPolicy, PodPhase, RollingUpdateStatefulSetStrategy, StatefulSet,
    StatefulSetOrdinals, Time,
};

use super::plan::{POD_INDEX_LABEL, POD_NAME_LABEL, Plan, ordinal_of, plan, revision};
use super::*;
use crate::controllers::daemonset::plan::CONTROLLER_REVISION_HASH;

const NOW: Duration = Duration::from_secs(1_800_000_000);

fn now() -> SystemTime {
    SystemTime::UNIX_EPOCH + NOW
}

fn set(replicas: i32, image: &str) -> StatefulSet {
    let mut set = StatefulSet::default();
    set.metadata.namespace = "default".into();
    set.metadata.name = "web".into();
    set.metadata.uid = "sts-uid".into();
    set.metadata.generation = 1;
    set.spec.replicas = Some(replicas);
    set.spec.service_name = "nginx".into();
    set.spec.selector.match_labels = [("app".to_string(), "nginx".to_string())].into();
    set.spec.template.metadata.labels = [("app".to_string(), "nginx".to_string())].into();
    set.spec.template.spec.containers = vec![Container {
        name: "nginx".into(),
        image: image.into(),
        ..Container::default()
    }];
    set
}

fn parallel(mut set: StatefulSet) -> StatefulSet {
    set.spec.pod_management_policy = PodManagementPolicy::Parallel;
    set
}

#[derive(Clone, Copy)]
enum State {
    Pending,
    Ready,
    Failed,
    Terminating,
}
use State::{Failed, Pending, Ready, Terminating};

/// Pod `web-<ordinal>` of template `image`.
fn pod(ordinal: i64, image: &str, state: State) -> Pod {
    let mut pod = Pod::default();
    pod.metadata.namespace = "default".into();
    pod.metadata.name = format!("web-{ordinal}");
    pod.metadata.labels = [
        ("app".to_string(), "nginx".to_string()),
        (
            CONTROLLER_REVISION_HASH.to_string(),
            revision(&set(1, image)),
        ),
    ]
    .into();
    pod.metadata.owner_references = vec![OwnerReference {
        api_version: "apps/v1".into(),
        kind: "StatefulSet".into(),
        name: "web".into(),
        uid: "sts-uid".into(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }];
    match state {
        Pending => {}
        Ready => {
            pod.status.phase = PodPhase::Running;
            pod.status.conditions = vec![PodCondition {
                type_: PodCondition::READY.into(),
                status: ConditionStatus::True,
                last_transition_time: Some(Time::from(now() - Duration::from_secs(60))),
                ..PodCondition::default()
            }];
        }
        Failed => pod.status.phase = PodPhase::Failed,
        Terminating => {
            pod.status.phase = PodPhase::Running;
            pod.metadata.deletion_timestamp = Some(Time::from(now()));
        }
    }
    pod
}

fn run(set: &StatefulSet, pods: &[Pod]) -> Plan {
    let pods: Vec<&Pod> = pods.iter().collect();
    plan(set, &pods, now())
}

fn moves(plan: &Plan) -> (Vec<String>, Vec<String>) {
    let created = plan
        .create
        .iter()
        .map(|p| p.metadata.name.clone())
        .collect();
    (created, plan.delete.clone())
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// A case: its name, the set and its pods, the pods created and the pods deleted.
type Case = (
    &'static str,
    StatefulSet,
    Vec<Pod>,
    &'static [&'static str],
    &'static [&'static str],
);

const V1: &str = "nginx:1";
const V2: &str = "nginx:2";

#[test]
fn pods_come_and_go_in_order() {
    let cases: [Case; 14] = [
        ("the first pod first", set(3, V1), vec![], &["web-0"], &[]),
        (
            "the next waits for the one below to be ready",
            set(3, V1),
            vec![pod(0, V1, Pending)],
            &[],
            &[],
        ),
        (
            "then comes the next",
            set(3, V1),
            vec![pod(0, V1, Ready)],
            &["web-1"],
            &[],
        ),
        (
            "Parallel creates them all",
            parallel(set(3, V1)),
            vec![pod(0, V1, Pending)],
            &["web-1", "web-2"],
            &[],
        ),
        (
            "a deleted pod comes back under its name",
            set(3, V1),
            vec![pod(1, V1, Ready), pod(2, V1, Ready)],
            &["web-0"],
            &[],
        ),
        (
            "a failed pod is replaced",
            set(2, V1),
            vec![pod(0, V1, Failed), pod(1, V1, Ready)],
            &[],
            &["web-0"],
        ),
        (
            "a pod being deleted holds its name",
            set(2, V1),
            vec![pod(0, V1, Terminating), pod(1, V1, Ready)],
            &[],
            &[],
        ),
        (
            "scale down removes the highest first",
            set(1, V1),
            vec![pod(0, V1, Ready), pod(1, V1, Ready), pod(2, V1, Ready)],
            &[],
            &["web-2"],
        ),
        (
            "and the next once it is gone",
            set(1, V1),
            vec![
                pod(0, V1, Ready),
                pod(1, V1, Ready),
                pod(2, V1, Terminating),
            ],
            &[],
            &[],
        ),
        (
            "scale down waits for the remaining pods to be healthy",
            set(1, V1),
            vec![pod(0, V1, Pending), pod(1, V1, Ready)],
            &[],
            &[],
        ),
        (
            "Parallel removes them all at once",
            parallel(set(1, V1)),
            vec![pod(0, V1, Ready), pod(1, V1, Ready), pod(2, V1, Ready)],
            &[],
            &["web-2", "web-1"],
        ),
        (
            "ordinals.start numbers from there",
            {
                let mut set = set(2, V1);
                set.spec.ordinals = Some(StatefulSetOrdinals { start: 5 });
                set
            },
            vec![pod(5, V1, Ready)],
            &["web-6"],
            &[],
        ),
        (
            "a pod below ordinals.start is condemned",
            {
                let mut set = set(1, V1);
                set.spec.ordinals = Some(StatefulSetOrdinals { start: 1 });
                set
            },
            vec![pod(0, V1, Ready), pod(1, V1, Ready)],
            &[],
            &["web-0"],
        ),
        (
            "a steady set does nothing",
            set(2, V1),
            vec![pod(0, V1, Ready), pod(1, V1, Ready)],
            &[],
            &[],
        ),
    ];
    for (case, set, pods, created, deleted) in cases {
        let plan = run(&set, &pods);
        assert_eq!(moves(&plan), (strings(created), strings(deleted)), "{case}");
    }
}

#[test]
fn pods_get_their_stable_identity() {
    let set = set(1, V1);
    let plan = run(&set, &[]);
    let [pod] = plan.create.as_slice() else {
        panic!("one pod: {plan:?}");
    };
    assert_eq!(pod.metadata.name, "web-0");
    assert_eq!(pod.metadata.namespace, "default");
    assert_eq!(pod.metadata.labels[POD_NAME_LABEL], "web-0");
    assert_eq!(pod.metadata.labels[POD_INDEX_LABEL], "0");
    assert_eq!(pod.metadata.labels["app"], "nginx");
    assert_eq!(
        pod.metadata.labels[CONTROLLER_REVISION_HASH],
        revision(&set)
    );
    assert_eq!(pod.spec.hostname, "web-0");
    assert_eq!(pod.spec.subdomain, "nginx");
    let owner = pod.metadata.controller_ref().expect("a controller");
    assert_eq!(
        (owner.kind.as_str(), owner.uid.as_str()),
        ("StatefulSet", "sts-uid")
    );
}

fn partitioned(partition: i32) -> StatefulSet {
    let mut set = set(3, V2);
    set.spec.update_strategy.rolling_update = Some(RollingUpdateStatefulSetStrategy {
        partition: Some(partition),
    });
    set
}

#[test]
fn rolling_update_goes_from_the_highest_ordinal_down_to_the_partition() {
    let cases: [(&str, StatefulSet, Vec<Pod>, &[&str]); 6] = [
        (
            "the highest first",
            partitioned(0),
            vec![pod(0, V1, Ready), pod(1, V1, Ready), pod(2, V1, Ready)],
            &["web-2"],
        ),
        (
            "the next waits for the updated pod to be ready",
            partitioned(0),
            vec![pod(0, V1, Ready), pod(1, V1, Ready), pod(2, V2, Pending)],
            &[],
        ),
        (
            "then the next",
            partitioned(0),
            vec![pod(0, V1, Ready), pod(1, V1, Ready), pod(2, V2, Ready)],
            &["web-1"],
        ),
        (
            "nothing below the partition",
            partitioned(2),
            vec![pod(0, V1, Ready), pod(1, V1, Ready), pod(2, V2, Ready)],
            &[],
        ),
        (
            "no update while a pod is missing (it is created first)",
            partitioned(0),
            vec![pod(0, V1, Ready), pod(1, V1, Ready)],
            &[],
        ),
        (
            "OnDelete leaves old pods alone",
            {
                let mut set = set(3, V2);
                set.spec.update_strategy.type_ = DaemonSetUpdateStrategyType::OnDelete;
                set
            },
            vec![pod(0, V1, Ready), pod(1, V1, Ready), pod(2, V1, Ready)],
            &[],
        ),
    ];
    for (case, set, pods, deleted) in cases {
        assert_eq!(run(&set, &pods).delete, strings(deleted), "{case}");
    }
}

#[test]
fn status_counts_revisions_as_kubernetes_does() {
    let mut web = set(3, V2);
    web.status.current_revision = revision(&set(1, V1));
    let pods = [pod(0, V1, Ready), pod(1, V1, Pending), pod(2, V2, Ready)];
    let status = run(&web, &pods).status.expect("a status");
    assert_eq!(status.replicas, 3);
    assert_eq!(status.ready_replicas, 2);
    assert_eq!(status.available_replicas, 2);
    assert_eq!(status.current_replicas, 2);
    assert_eq!(status.updated_replicas, 1);
    assert_eq!(status.current_revision, revision(&set(1, V1)));
    assert_eq!(status.update_revision, revision(&web));
    assert_eq!(status.observed_generation, 1);

    // Once every pod is updated and ready, the update revision becomes the current one.
    let pods = [pod(0, V2, Ready), pod(1, V2, Ready), pod(2, V2, Ready)];
    let status = run(&web, &pods).status.expect("a status");
    assert_eq!(status.current_revision, revision(&web));
    assert_eq!(status.current_replicas, 3);
    web.status = status;
    assert_eq!(
        run(&web, &pods).status,
        None,
        "an unchanged status is not written"
    );
}

#[test]
fn ordinals_are_read_from_names() {
    let cases = [
        ("web-0", Some(0)),
        ("web-12", Some(12)),
        ("web-", None),
        ("web-a", None),
        ("web-1-2", None),
        ("webs-1", None),
        ("web", None),
        ("web--1", None),
    ];
    for (name, expected) in cases {
        assert_eq!(ordinal_of("web", name), expected, "{name}");
    }
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
    let mut controller = StatefulSetController::default();
    let key = ObjectKey::new("default", "web");
    let added = StatefulSetEvent::StatefulSet(Box::new(watched(EventType::Added, set(1, V1))));
    assert_eq!(controller.route(added), std::slice::from_ref(&key));
    let owned = pod(0, V1, Ready);
    let event = StatefulSetEvent::Pod(Box::new(watched(EventType::Modified, owned.clone())));
    assert_eq!(controller.route(event), [key]);
    let mut foreign = owned;
    foreign.metadata.owner_references[0].kind = "DaemonSet".into();
    let event = StatefulSetEvent::Pod(Box::new(watched(EventType::Modified, foreign)));
    assert!(controller.route(event).is_empty());
    assert!(controller.pods.objects().is_empty());
}
