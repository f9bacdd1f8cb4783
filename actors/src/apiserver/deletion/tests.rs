//! Deletion against Kubernetes' rules: propagation finalizers, marking, preconditions.

use flotilla_kernel::object::{ConfigMap, ObjectMeta, PodPhase, PodStatus};

use super::*;

fn now() -> Time {
    Time::from(std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_000))
}

fn meta(finalizers: &[&str]) -> ObjectMeta {
    ObjectMeta {
        name: "web".into(),
        namespace: "prod".into(),
        uid: "u1".into(),
        resource_version: "7".into(),
        finalizers: finalizers.iter().map(|f| f.to_string()).collect(),
        ..ObjectMeta::default()
    }
}

fn config(finalizers: &[&str]) -> Object {
    Object::ConfigMap(ConfigMap {
        metadata: meta(finalizers),
        ..ConfigMap::default()
    })
}

fn pod(node: &str, finalizers: &[&str]) -> Pod {
    let mut pod = Pod {
        metadata: meta(finalizers),
        ..Pod::default()
    };
    pod.spec.node_name = node.into();
    pod
}

fn policy(policy: PropagationPolicy) -> DeleteOptions {
    DeleteOptions {
        propagation_policy: Some(policy),
        ..DeleteOptions::default()
    }
}

fn marked(mut object: Object, finalizers: &[&str], grace: i64) -> Deletion {
    let meta = object.meta_mut();
    meta.finalizers = finalizers.iter().map(|f| f.to_string()).collect();
    meta.deletion_timestamp = Some(now());
    meta.deletion_grace_period_seconds = Some(grace);
    Deletion::Mark(Box::new(object))
}

#[test]
fn propagation_policy_and_finalizers_decide_whether_an_object_waits() {
    let cases = [
        (
            "no finalizers: gone at once",
            config(&[]),
            DeleteOptions::default(),
            Deletion::Remove,
        ),
        (
            "background says so explicitly",
            config(&[]),
            policy(PropagationPolicy::Background),
            Deletion::Remove,
        ),
        (
            "foreground waits for dependents",
            config(&[]),
            policy(PropagationPolicy::Foreground),
            marked(config(&[]), &[FOREGROUND_FINALIZER], 0),
        ),
        (
            "orphan waits for its dependents to be released",
            config(&[]),
            policy(PropagationPolicy::Orphan),
            marked(config(&[]), &[ORPHAN_FINALIZER], 0),
        ),
        (
            "a user's finalizer holds the object",
            config(&["example.com/cleanup"]),
            DeleteOptions::default(),
            marked(config(&[]), &["example.com/cleanup"], 0),
        ),
        (
            "orphan replaces foreground",
            config(&[FOREGROUND_FINALIZER]),
            policy(PropagationPolicy::Orphan),
            marked(config(&[]), &[ORPHAN_FINALIZER], 0),
        ),
        (
            "background drops the collector's finalizers",
            config(&[ORPHAN_FINALIZER]),
            policy(PropagationPolicy::Background),
            Deletion::Remove,
        ),
        (
            "no policy keeps the one the object has",
            config(&[ORPHAN_FINALIZER]),
            DeleteOptions::default(),
            marked(config(&[]), &[ORPHAN_FINALIZER], 0),
        ),
    ];
    for (name, object, options, want) in cases {
        assert_eq!(
            plan_deletion(&object, &options, now()).unwrap(),
            want,
            "{name}"
        );
    }
}

#[test]
fn a_second_delete_of_a_marked_object_changes_nothing() {
    let Deletion::Mark(object) = plan_deletion(
        &config(&["example.com/x"]),
        &DeleteOptions::default(),
        now(),
    )
    .unwrap() else {
        panic!("a finalizer marks");
    };
    let object = *object;
    let later = Time::from(std::time::SystemTime::now());
    assert_eq!(
        plan_deletion(&object, &DeleteOptions::default(), later).unwrap(),
        Deletion::Unchanged
    );
}

#[test]
fn pods_on_a_node_wait_for_their_agent_and_then_for_finalizers() {
    let grace = |seconds| DeleteOptions::grace(Some(seconds));
    let mut done = pod("n1", &[]);
    done.status = PodStatus {
        phase: PodPhase::Succeeded,
        ..PodStatus::default()
    };
    let cases = [
        (
            "unbound pod: gone at once",
            pod("", &[]),
            DeleteOptions::default(),
            Deletion::Remove,
        ),
        (
            "bound pod: stopped by its agent, grace from the pod",
            pod("n1", &[]),
            DeleteOptions::default(),
            marked(Object::Pod(pod("n1", &[])), &[], 30),
        ),
        (
            "the delete's grace period wins",
            pod("n1", &[]),
            grace(5),
            marked(Object::Pod(pod("n1", &[])), &[], 5),
        ),
        (
            "grace period zero: gone at once",
            pod("n1", &[]),
            grace(0),
            Deletion::Remove,
        ),
        (
            "a finished pod: gone at once",
            done,
            DeleteOptions::default(),
            Deletion::Remove,
        ),
        (
            "the agent's final delete leaves a pod with finalizers marked",
            pod("n1", &["example.com/x"]),
            grace(0),
            marked(Object::Pod(pod("n1", &[])), &["example.com/x"], 0),
        ),
    ];
    for (name, pod, options, want) in cases {
        let object = Object::Pod(pod);
        assert_eq!(
            plan_deletion(&object, &options, now()).unwrap(),
            want,
            "{name}"
        );
    }
}

#[test]
fn preconditions_must_hold() {
    let with = |uid: Option<&str>, version: Option<&str>| DeleteOptions {
        preconditions: Some(Preconditions {
            uid: uid.map(str::to_string),
            resource_version: version.map(str::to_string),
        }),
        ..DeleteOptions::default()
    };
    let object = config(&[]);
    assert_eq!(
        plan_deletion(&object, &with(Some("u1"), Some("7")), now()).unwrap(),
        Deletion::Remove
    );
    let error = plan_deletion(&object, &with(Some("u2"), None), now()).unwrap_err();
    assert_eq!(error.code, ErrorCode::Conflict);
    assert_eq!(
        error.message,
        "Precondition failed: UID in precondition: u2, UID in object meta: u1"
    );
    let error = plan_deletion(&object, &with(None, Some("6")), now()).unwrap_err();
    assert_eq!(
        error.message,
        "Precondition failed: ResourceVersion in precondition: 6, ResourceVersion in object \
         meta: 7"
    );
}

#[test]
fn the_last_finalizer_removed_removes_a_marked_object() {
    let Deletion::Mark(marked) =
        plan_deletion(&config(&["a"]), &DeleteOptions::default(), now()).unwrap()
    else {
        panic!("a finalizer marks");
    };
    let marked = *marked;
    let mut released = marked.clone();
    released.meta_mut().finalizers.clear();
    let Deletion::Mark(stopping) = plan_deletion(
        &Object::Pod(pod("n1", &["a"])),
        &DeleteOptions::default(),
        now(),
    )
    .unwrap() else {
        panic!("a bound pod is marked");
    };
    let stopping = *stopping;
    let mut stopping_released = stopping.clone();
    stopping_released.meta_mut().finalizers.clear();
    let cases = [
        ("finalizer left", &marked, false),
        ("last finalizer gone", &released, true),
        ("not being deleted", &config(&[]), false),
        ("a pod its agent still stops", &stopping_released, false),
    ];
    for (name, object, want) in cases {
        assert_eq!(removes_on_update(object), want, "{name}");
    }
}

#[test]
fn no_new_finalizers_on_an_object_being_deleted() {
    let Deletion::Mark(marked) =
        plan_deletion(&config(&["a"]), &DeleteOptions::default(), now()).unwrap()
    else {
        panic!("a finalizer marks");
    };
    let marked = *marked;
    let mut added = marked.clone();
    added.meta_mut().finalizers.push("b".into());
    let error = check_finalizers_update(&marked, &added).unwrap_err();
    assert_eq!(error.code, ErrorCode::Forbidden);
    assert!(
        error
            .message
            .contains("metadata.finalizers: Forbidden: no new finalizers"),
        "{}",
        error.message
    );
    let mut removed = marked.clone();
    removed.meta_mut().finalizers.clear();
    assert!(check_finalizers_update(&marked, &removed).is_ok());
    let mut fresh = config(&[]);
    let before = fresh.clone();
    fresh.meta_mut().finalizers.push("b".into());
    assert!(check_finalizers_update(&before, &fresh).is_ok());
}
