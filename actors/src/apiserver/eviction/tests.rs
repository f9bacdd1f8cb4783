//! The eviction decision against Kubernetes' `pods/eviction` rules.

use flotilla_kernel::object::{
    ConditionStatus, IntOrString, ObjectMeta, PodCondition, PodDisruptionBudgetSpec,
    PodDisruptionBudgetStatus, PodStatus,
};

use super::*;

fn now() -> Time {
    Time::from(std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_000))
}

fn pod(phase: PodPhase, ready: bool) -> Pod {
    let status = if ready {
        ConditionStatus::True
    } else {
        ConditionStatus::False
    };
    Pod {
        metadata: ObjectMeta {
            name: "web-1".into(),
            namespace: "prod".into(),
            ..ObjectMeta::default()
        },
        status: PodStatus {
            phase,
            conditions: vec![PodCondition {
                type_: PodCondition::READY.into(),
                status,
                ..PodCondition::default()
            }],
            ..PodStatus::default()
        },
        ..Pod::default()
    }
}

fn budget(allowed: i32, healthy: i32, desired: i32) -> PodDisruptionBudget {
    PodDisruptionBudget {
        metadata: ObjectMeta {
            name: "web".into(),
            generation: 2,
            ..ObjectMeta::default()
        },
        spec: PodDisruptionBudgetSpec {
            min_available: Some(IntOrString::Int(desired)),
            ..PodDisruptionBudgetSpec::default()
        },
        status: PodDisruptionBudgetStatus {
            observed_generation: 2,
            disruptions_allowed: allowed,
            current_healthy: healthy,
            desired_healthy: desired,
            expected_pods: healthy,
            ..PodDisruptionBudgetStatus::default()
        },
        ..PodDisruptionBudget::default()
    }
}

fn consumed(mut pdb: PodDisruptionBudget) -> Verdict {
    pdb.status.disruptions_allowed -= 1;
    pdb.status.disrupted_pods.insert("web-1".into(), now());
    Verdict::Consume(Box::new(pdb))
}

/// A case: its name, the pod, the budgets covering it, and the verdict or refusal wanted.
type Case = (
    &'static str,
    Pod,
    Vec<PodDisruptionBudget>,
    Result<Verdict, ErrorCode>,
);

#[test]
fn evictions_follow_the_budget() {
    let running = pod(PodPhase::Running, true);
    let mut going = running.clone();
    going.metadata.deletion_timestamp = Some(now());
    let unhealthy = pod(PodPhase::Running, false);
    let mut always = budget(0, 1, 2);
    always.spec.unhealthy_pod_eviction_policy = Some(UnhealthyPodEvictionPolicy::AlwaysAllow);
    let mut stale = budget(1, 3, 2);
    stale.metadata.generation = 3;
    let cases: [Case; 11] = [
        ("no budget", running.clone(), vec![], Ok(Verdict::Delete)),
        (
            "a disruption allowed is consumed",
            running.clone(),
            vec![budget(1, 3, 2)],
            Ok(consumed(budget(1, 3, 2))),
        ),
        (
            "none allowed",
            running.clone(),
            vec![budget(0, 2, 2)],
            Err(ErrorCode::TooManyRequests),
        ),
        (
            "a budget the controller has not caught up with",
            running.clone(),
            vec![stale],
            Err(ErrorCode::TooManyRequests),
        ),
        (
            "two budgets",
            running.clone(),
            vec![budget(1, 3, 2), budget(1, 3, 2)],
            Err(ErrorCode::Internal),
        ),
        (
            "a negative allowance",
            running.clone(),
            vec![budget(-1, 3, 2)],
            Err(ErrorCode::Forbidden),
        ),
        (
            "a pending pod",
            pod(PodPhase::Pending, false),
            vec![budget(0, 2, 2)],
            Ok(Verdict::Delete),
        ),
        (
            "a finished pod",
            pod(PodPhase::Succeeded, false),
            vec![budget(0, 2, 2)],
            Ok(Verdict::Delete),
        ),
        (
            "a pod already going",
            going,
            vec![budget(0, 2, 2)],
            Ok(Verdict::Delete),
        ),
        (
            "an unhealthy pod while the budget is healthy",
            unhealthy.clone(),
            vec![budget(0, 2, 2)],
            Ok(Verdict::Delete),
        ),
        (
            "an unhealthy pod, AlwaysAllow, budget broken",
            unhealthy.clone(),
            vec![always],
            Ok(Verdict::Delete),
        ),
    ];
    for (name, pod, budgets, want) in cases {
        let budgets: Vec<&PodDisruptionBudget> = budgets.iter().collect();
        let got = decide(&pod, &budgets, now()).map_err(|e| e.code);
        assert_eq!(got, want, "{name}");
    }
    let refused = decide(&unhealthy, &[&budget(0, 1, 2)], now()).unwrap_err();
    assert_eq!(
        refused.code,
        ErrorCode::TooManyRequests,
        "unhealthy, IfHealthyBudget, broken"
    );
    assert_eq!(
        refused.message,
        "Cannot evict pod as it would violate the pod's disruption budget."
    );
}

#[test]
fn too_many_unconfirmed_evictions_are_refused() {
    let mut pdb = budget(5, 10, 2);
    for i in 0..=MAX_DISRUPTED_PODS {
        pdb.status.disrupted_pods.insert(format!("p{i}"), now());
    }
    let error = decide(&pod(PodPhase::Running, true), &[&pdb], now()).unwrap_err();
    assert_eq!(error.code, ErrorCode::Forbidden);
}
