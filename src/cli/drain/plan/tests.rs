use flotilla_kernel::object::{
    ConditionStatus, DeploymentStrategy, IntOrString, ObjectMeta, OwnerReference, PodCondition,
    RollingUpdateDeployment, StrategyType, Time,
};

use super::*;

fn owner(kind: &str, name: &str, uid: &str) -> OwnerReference {
    OwnerReference {
        kind: kind.into(),
        name: name.into(),
        uid: uid.into(),
        controller: Some(true),
        ..OwnerReference::default()
    }
}

fn meta(name: &str, uid: &str, owner: Option<OwnerReference>) -> ObjectMeta {
    ObjectMeta {
        name: name.into(),
        namespace: "default".into(),
        uid: uid.into(),
        owner_references: owner.into_iter().collect(),
        ..ObjectMeta::default()
    }
}

fn deployment(name: &str, replicas: i32, max_unavailable: i32) -> Deployment {
    let mut deployment = Deployment {
        metadata: meta(name, &format!("{name}-uid"), None),
        ..Deployment::default()
    };
    deployment.spec.replicas = Some(replicas);
    deployment.spec.strategy = DeploymentStrategy {
        type_: StrategyType::RollingUpdate,
        rolling_update: Some(RollingUpdateDeployment {
            max_unavailable: Some(IntOrString::Int(max_unavailable)),
            max_surge: Some(IntOrString::Int(1)),
        }),
    };
    deployment
}

fn set(name: &str, deployment: Option<&str>) -> ReplicaSet {
    let owner = deployment.map(|d| owner("Deployment", d, &format!("{d}-uid")));
    let mut set = ReplicaSet {
        metadata: meta(name, &format!("{name}-uid"), owner),
        ..ReplicaSet::default()
    };
    set.spec.replicas = Some(2);
    set
}

fn pod(name: &str, node: &str, set: Option<&str>, ready: bool) -> Pod {
    let owner = set.map(|s| owner("ReplicaSet", s, &format!("{s}-uid")));
    let mut pod = Pod {
        metadata: meta(name, &format!("{name}-uid"), owner),
        ..Pod::default()
    };
    pod.spec.node_name = node.into();
    pod.status.phase = flotilla_kernel::object::PodPhase::Running;
    if ready {
        pod.status.conditions.push(PodCondition {
            type_: "Ready".into(),
            status: ConditionStatus::True,
            ..PodCondition::default()
        });
    }
    pod
}

fn names(plan: &Plan) -> Vec<&str> {
    plan.evict.iter().map(|(_, name)| name.as_str()).collect()
}

#[test]
fn a_deployment_loses_at_most_max_unavailable_pods_at_once() {
    let deployments = [deployment("web", 4, 1)];
    let sets = [set("web-1", Some("web"))];
    let pods = [
        pod("a", "n2", Some("web-1"), true),
        pod("b", "n2", Some("web-1"), true),
        pod("c", "n1", Some("web-1"), true),
        pod("d", "n1", Some("web-1"), true),
    ];
    let plan = plan("n2", &pods, &sets, &deployments, false);
    assert_eq!(names(&plan), ["a"]);
    assert_eq!(plan.remaining, 2);
    assert_eq!(
        plan.waiting,
        ["deployment default/web: 1 pod(s) wait until replacements are available"]
    );
}

#[test]
fn evicting_waits_while_the_deployment_is_short() {
    let deployments = [deployment("web", 4, 1)];
    let sets = [set("web-1", Some("web"))];
    let mut leaving = pod("a", "n2", Some("web-1"), true);
    leaving.metadata.deletion_timestamp = Some(Time::now());
    let pods = [
        leaving,
        pod("b", "n2", Some("web-1"), true),
        pod("c", "n1", Some("web-1"), true),
        pod("new", "n1", Some("web-1"), false),
    ];
    let plan = plan("n2", &pods, &sets, &deployments, false);
    assert!(plan.evict.is_empty(), "{plan:?}");
    assert_eq!(plan.remaining, 2);
    // The replacement is Ready, but three available is all maxUnavailable 1 allows of 4.
    let mut pods = pods.to_vec();
    pods[3] = pod("new", "n1", Some("web-1"), true);
    assert!(
        super::plan("n2", &pods, &sets, &deployments, false)
            .evict
            .is_empty()
    );
    // The ReplicaSet's fourth pod is Ready too: b may go.
    pods.push(pod("new-2", "n1", Some("web-1"), true));
    assert_eq!(
        names(&super::plan("n2", &pods, &sets, &deployments, false)),
        ["b"]
    );
}

#[test]
fn unmanaged_pods_need_force_and_finished_pods_are_ignored() {
    let mut done = pod("done", "n2", None, false);
    done.status.phase = flotilla_kernel::object::PodPhase::Succeeded;
    let pods = [
        pod("bare", "n2", None, true),
        done,
        pod("elsewhere", "n1", None, true),
    ];
    let plan = plan("n2", &pods, &[], &[], false);
    assert!(plan.evict.is_empty());
    assert_eq!(plan.unmanaged, ["bare"]);
    assert_eq!(plan.remaining, 1);
    assert_eq!(names(&super::plan("n2", &pods, &[], &[], true)), ["bare"]);
}

#[test]
fn a_bare_replica_set_loses_one_pod_at_a_time() {
    let sets = [set("batch", None)];
    let pods = [
        pod("x", "n2", Some("batch"), true),
        pod("y", "n2", Some("batch"), true),
    ];
    assert_eq!(names(&plan("n2", &pods, &sets, &[], false)), ["x"]);
}
