//! The controller's routing, and the controller against the real API server and store in this
//! process.

use std::time::Duration;

use ractor::Actor;

use flotilla_kernel::api::{ErrorCode, EventType};
use flotilla_kernel::object::{
    LabelSelector, NetworkPolicyIngressRule, NetworkPolicyPeer, PodIp, PodPhase,
};

use super::*;
use crate::controllers::driver::{ControllerActor, ControllerArgs, Timing};
use crate::test_api::{TestApi, host_pod_on};

fn watched<T>(event: EventType, object: T, revision: u64) -> Watched<T> {
    Watched {
        event,
        object,
        revision,
    }
}

fn selector(key: &str, value: &str) -> LabelSelector {
    LabelSelector {
        match_labels: [(key.to_string(), value.to_string())].into(),
        ..LabelSelector::default()
    }
}

/// `db` in `default`, accepting web pods of its namespace and every pod of `env=prod`
/// namespaces.
fn policy() -> NetworkPolicy {
    let mut policy = NetworkPolicy::default();
    policy.metadata.namespace = "default".into();
    policy.metadata.name = "db".into();
    policy.spec.pod_selector = selector("app", "db");
    policy.spec.ingress = vec![NetworkPolicyIngressRule {
        from: vec![
            NetworkPolicyPeer {
                pod_selector: Some(selector("app", "web")),
                ..NetworkPolicyPeer::default()
            },
            NetworkPolicyPeer {
                namespace_selector: Some(selector("env", "prod")),
                ..NetworkPolicyPeer::default()
            },
        ],
        ..NetworkPolicyIngressRule::default()
    }];
    policy
}

fn web_pod(namespace: &str, name: &str, ip: &str) -> Pod {
    let mut pod = host_pod_on("n1", name);
    pod.metadata.namespace = namespace.into();
    pod.metadata.labels = [("app".to_string(), "web".to_string())].into();
    pod.status.pod_ip = ip.into();
    pod
}

#[test]
fn policies_are_queued_by_their_events_and_by_peer_changes() {
    let mut controller = NetworkPolicyController::default();
    let key = || ObjectKey::new("default", "db");
    let added = NetworkPolicyEvent::Policy(watched(EventType::Added, policy(), 1));
    assert_eq!(controller.route(added), [key()]);
    // A pod getting an address wakes every policy; its next status update does not.
    let pod = |revision| {
        NetworkPolicyEvent::Pod(Box::new(watched(
            EventType::Modified,
            web_pod("default", "web-1", "10.42.0.5"),
            revision,
        )))
    };
    assert_eq!(controller.route(pod(2)), [key()]);
    assert!(controller.route(pod(3)).is_empty());
    let mut namespace = Namespace::default();
    namespace.metadata.name = "prod".into();
    let namespace_event = |namespace: &Namespace, revision| {
        NetworkPolicyEvent::Namespace(watched(EventType::Added, namespace.clone(), revision))
    };
    assert_eq!(controller.route(namespace_event(&namespace, 4)), [key()]);
    assert!(controller.route(namespace_event(&namespace, 5)).is_empty());
    // A deleted policy is queued once more (to find it gone) and no longer woken.
    let deleted = NetworkPolicyEvent::Policy(watched(EventType::Deleted, policy(), 6));
    assert_eq!(controller.route(deleted), [key()]);
    namespace.metadata.labels = [("env".to_string(), "prod".to_string())].into();
    assert!(controller.route(namespace_event(&namespace, 7)).is_empty());
}

/// Follows the policy's watch until `done` holds of it, for at most 30 s.
async fn until(
    events: &mut tokio::sync::mpsc::Receiver<Result<Watched<NetworkPolicy>, ClientError>>,
    latest: &mut NetworkPolicy,
    what: &str,
    done: impl Fn(&NetworkPolicy) -> bool,
) {
    let follow = async {
        while !done(latest) {
            let event = events.recv().await.expect("the watch ended").unwrap();
            *latest = event.object;
        }
    };
    if tokio::time::timeout(Duration::from_secs(30), follow)
        .await
        .is_err()
    {
        panic!("waited 30 s for {what}; the policy: {latest:?}");
    }
}

/// The addresses resolved for each peer, as `rule: a,b`, when the status is current.
fn resolved(policy: &NetworkPolicy) -> Option<Vec<String>> {
    (policy.status.observed_generation == policy.metadata.generation).then(|| {
        policy
            .status
            .peers
            .iter()
            .map(|peer| format!("{}: {}", peer.rule, peer.addresses.join(",")))
            .collect()
    })
}

async fn set_status(api: &ApiClient, namespace: &str, name: &str, phase: PodPhase, ip: &str) {
    let mut pod: Pod = api.get(namespace, name).await.unwrap();
    pod.status.phase = phase;
    pod.status.pod_ip = ip.into();
    pod.status.pod_ips = vec![PodIp { ip: ip.into() }];
    api.update_status(&pod).await.unwrap();
}

#[tokio::test]
async fn peers_are_resolved_to_the_addresses_of_the_pods_they_select() {
    let server = TestApi::start().await;
    let api = server.client("flotilla-controller", "control-plane");
    let mut events = api
        .watch::<NetworkPolicy>(Some("default"), 0, None)
        .await
        .unwrap();
    // A pod that exists before the controller starts is in its first resolution.
    api.create(&web_pod("default", "web-1", "")).await.unwrap();
    set_status(&api, "default", "web-1", PodPhase::Running, "10.42.0.5").await;
    let (controller, handle) = Actor::spawn(
        None,
        ControllerActor::<NetworkPolicyController>::new(),
        ControllerArgs {
            api: api.clone(),
            controller: NetworkPolicyController::default(),
            timing: Timing::default(),
        },
    )
    .await
    .unwrap();

    let mut latest = api.create(&policy()).await.unwrap();
    let web_only = ["ingress[0].from[0]: 10.42.0.5", "ingress[0].from[1]: "];
    until(&mut events, &mut latest, "web-1 resolved", |p| {
        resolved(p).is_some_and(|r| r == web_only)
    })
    .await;

    let mut prod = Namespace::default();
    prod.metadata.name = "prod".into();
    prod.metadata.labels = [("env".to_string(), "prod".to_string())].into();
    api.create(&prod).await.unwrap();
    api.create(&web_pod("prod", "api", "")).await.unwrap();
    set_status(&api, "prod", "api", PodPhase::Running, "10.42.1.5").await;
    let with_prod = [
        "ingress[0].from[0]: 10.42.0.5",
        "ingress[0].from[1]: 10.42.1.5",
    ];
    until(&mut events, &mut latest, "the prod pod resolved", |p| {
        resolved(p).is_some_and(|r| r == with_prod)
    })
    .await;

    // A finished pod is no peer; a spec edit is resolved for its new generation.
    set_status(&api, "default", "web-1", PodPhase::Succeeded, "10.42.0.5").await;
    // The controller writes the status meanwhile: edit the latest version.
    let edited = loop {
        let mut edited: NetworkPolicy = api.get("default", "db").await.unwrap();
        edited.spec.ingress[0].from.swap(0, 1);
        match api.update(&edited).await {
            Ok(edited) => break edited,
            Err(error) if error.api_code() == Some(ErrorCode::Conflict) => continue,
            Err(error) => panic!("updating the policy: {error}"),
        }
    };
    assert_eq!(edited.metadata.generation, 2);
    let swapped = ["ingress[0].from[0]: 10.42.1.5", "ingress[0].from[1]: "];
    until(&mut events, &mut latest, "the edited spec resolved", |p| {
        p.metadata.generation == 2 && resolved(p).is_some_and(|r| r == swapped)
    })
    .await;

    // Nodes read policies and their status, and write neither.
    let node = server.client("node:n1", "node");
    let (policies, _) = node.list::<NetworkPolicy>(None, None).await.unwrap();
    assert_eq!(policies[0].status, latest.status);
    let error = node.update_status(&latest).await.unwrap_err();
    assert_eq!(error.api_code(), Some(ErrorCode::Forbidden));

    controller.stop(None);
    handle.await.unwrap();
}
