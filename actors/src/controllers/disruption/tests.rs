//! The budget's status against Kubernetes' disruption controller, one table per rule.

use std::time::{Duration, SystemTime};

use flotilla_kernel::object::{
    ConditionStatus, IntOrString, Kind, LabelSelector, ObjectMeta, Pod, PodCondition,
    PodDisruptionBudget, PodDisruptionBudgetSpec, Time,
};

use super::status::{DELETION_TIMEOUT, Scale, Scales, compute, needs_scales};
use crate::controllers::ownership::controller_reference;

fn now() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(2_000_000_000)
}

fn budget(min: Option<IntOrString>, max: Option<IntOrString>) -> PodDisruptionBudget {
    PodDisruptionBudget {
        metadata: ObjectMeta {
            name: "web".into(),
            namespace: "prod".into(),
            generation: 3,
            ..ObjectMeta::default()
        },
        spec: PodDisruptionBudgetSpec {
            min_available: min,
            max_unavailable: max,
            selector: Some(LabelSelector::default()),
            ..PodDisruptionBudgetSpec::default()
        },
        ..PodDisruptionBudget::default()
    }
}

/// A pod of ReplicaSet `owner` (none: unmanaged), ready or not.
fn pod(name: &str, owner: Option<&str>, ready: bool) -> Pod {
    let mut pod = Pod::default();
    pod.metadata.name = name.into();
    pod.metadata.namespace = "prod".into();
    if let Some(owner) = owner {
        let meta = ObjectMeta {
            name: owner.into(),
            uid: format!("{owner}-uid"),
            ..ObjectMeta::default()
        };
        pod.metadata.owner_references = vec![controller_reference(Kind::ReplicaSet, &meta)];
    }
    let status = if ready {
        ConditionStatus::True
    } else {
        ConditionStatus::False
    };
    pod.status.conditions.push(PodCondition {
        type_: PodCondition::READY.into(),
        status,
        ..PodCondition::default()
    });
    pod
}

/// ReplicaSets `rs-a` and `rs-b` both belong to Deployment `web` with 4 replicas; `solo` has 3.
fn scales() -> Scales {
    let web = Scale {
        uid: "web-uid".into(),
        replicas: 4,
    };
    Scales::from([
        ("rs-a-uid".to_string(), web.clone()),
        ("rs-b-uid".to_string(), web),
        (
            "solo-uid".to_string(),
            Scale {
                uid: "solo-uid".into(),
                replicas: 3,
            },
        ),
    ])
}

fn int(n: i32) -> Option<IntOrString> {
    Some(IntOrString::Int(n))
}

fn percent(text: &str) -> Option<IntOrString> {
    Some(IntOrString::String(text.into()))
}

#[test]
fn counts_follow_the_kind_of_bound() {
    let pods = [
        pod("a1", Some("rs-a"), true),
        pod("a2", Some("rs-a"), true),
        pod("b1", Some("rs-b"), true),
        pod("b2", Some("rs-b"), false),
        pod("loose", None, true),
    ];
    let pods: Vec<&Pod> = pods.iter().collect();
    // (name, min, max, expected, desired, healthy, allowed)
    let cases = [
        (
            "integer minAvailable counts the selected pods",
            int(2),
            None,
            5,
            2,
            4,
            2,
        ),
        (
            "a percentage counts the controllers' scales, once each",
            percent("50%"),
            None,
            4,
            2,
            4,
            2,
        ),
        ("percentages round up", percent("30%"), None, 4, 2, 4, 2),
        ("maxUnavailable", None, int(1), 4, 3, 4, 1),
        (
            "maxUnavailable percentage rounds up",
            None,
            percent("10%"),
            4,
            3,
            4,
            1,
        ),
        ("maxUnavailable above the scale", None, int(9), 4, 0, 4, 4),
        (
            "minAvailable above the healthy pods",
            int(5),
            None,
            5,
            5,
            4,
            0,
        ),
        (
            "neither bound: nothing expected, nothing allowed",
            None,
            None,
            0,
            0,
            4,
            0,
        ),
    ];
    for (name, min, max, expected, desired, healthy, allowed) in cases {
        let pdb = budget(min, max);
        let (status, _) = compute(&pdb, &pods, &scales(), now());
        assert_eq!(
            (
                status.expected_pods,
                status.desired_healthy,
                status.current_healthy,
                status.disruptions_allowed
            ),
            (expected, desired, healthy, allowed),
            "{name}"
        );
        assert_eq!(status.observed_generation, 3, "{name}");
        let condition = &status.conditions[0];
        let want = if allowed > 0 {
            (ConditionStatus::True, PodDisruptionBudget::SUFFICIENT_PODS)
        } else {
            (
                ConditionStatus::False,
                PodDisruptionBudget::INSUFFICIENT_PODS,
            )
        };
        assert_eq!(
            (condition.status, condition.reason.as_str()),
            want,
            "{name}"
        );
    }
}

#[test]
fn scales_are_read_only_when_the_budget_counts_by_them() {
    let cases = [
        (int(1), None, false),
        (percent("50%"), None, true),
        (None, int(1), true),
        (None, None, false),
    ];
    for (min, max, want) in cases {
        assert_eq!(
            needs_scales(&budget(min.clone(), max.clone())),
            want,
            "{min:?} {max:?}"
        );
    }
}

#[test]
fn a_controller_without_a_scale_allows_nothing() {
    let pods = [pod("j1", Some("job"), true), pod("j2", Some("job"), true)];
    let pods: Vec<&Pod> = pods.iter().collect();
    let mut pdb = budget(None, int(1));
    pdb.status.disruptions_allowed = 1;
    pdb.status.observed_generation = 2;
    let (status, _) = compute(&pdb, &pods, &scales(), now());
    assert_eq!(status.disruptions_allowed, 0);
    assert_eq!(
        status.observed_generation, 2,
        "the fail-safe observes nothing"
    );
    let condition = &status.conditions[0];
    assert_eq!(condition.reason, PodDisruptionBudget::SYNC_FAILED);
    assert_eq!(condition.message, "found no controllers for pod \"j1\"");
}

#[test]
fn evicted_pods_count_as_gone_until_seen_going_or_timed_out() {
    let mut going = pod("a3", Some("rs-a"), true);
    going.metadata.deletion_timestamp = Some(Time::from(now()));
    let pods = [
        pod("a1", Some("rs-a"), true),
        pod("a2", Some("rs-a"), true),
        going,
        pod("a4", Some("rs-a"), true),
    ];
    let pods: Vec<&Pod> = pods.iter().collect();
    let mut pdb = budget(int(1), None);
    let recent = now() - Duration::from_secs(30);
    let old = now() - DELETION_TIMEOUT - Duration::from_secs(1);
    pdb.status.disrupted_pods = [
        ("a1".to_string(), Time::from(recent)),
        ("a2".to_string(), Time::from(old)),
        ("a3".to_string(), Time::from(recent)),
        ("gone".to_string(), Time::from(recent)),
    ]
    .into();
    let (status, recheck) = compute(&pdb, &pods, &scales(), now());
    assert_eq!(
        status.disrupted_pods.keys().collect::<Vec<_>>(),
        ["a1"],
        "timed out, seen going and gone pods leave the map"
    );
    assert_eq!(
        status.current_healthy, 2,
        "a2 and a4: a1 was just evicted, a3 is going"
    );
    assert_eq!(status.disruptions_allowed, 1);
    assert_eq!(recheck, Some(DELETION_TIMEOUT - Duration::from_secs(30)));
}

#[test]
fn the_condition_keeps_its_transition_time_while_its_status_holds() {
    let pods = [pod("a1", Some("rs-a"), true), pod("a2", Some("rs-a"), true)];
    let pods: Vec<&Pod> = pods.iter().collect();
    let mut pdb = budget(int(1), None);
    let (first, _) = compute(&pdb, &pods, &scales(), now());
    pdb.status = first.clone();
    let later = now() + Duration::from_secs(60);
    let (second, _) = compute(&pdb, &pods, &scales(), later);
    assert_eq!(second, first, "nothing changed, nothing to write");
    pdb.spec.min_available = int(2);
    let (third, _) = compute(&pdb, &pods, &scales(), later);
    assert_eq!(third.conditions.len(), 1);
    assert_eq!(
        third.conditions[0].last_transition_time,
        Some(Time::from(later))
    );
}
