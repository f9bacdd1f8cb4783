//! The API server in-process, on a real store in a temporary directory: no QUIC, no root.

use std::collections::BTreeMap;

use flotilla_kernel::api::{ApiClient, ClientError, DeleteOptions, ErrorCode, Outcome};
use flotilla_kernel::object::{
    ConditionStatus, ConfigMap, IntOrString, Kind, LabelSelector, Object, ObjectMeta, Pod,
    PodCondition, PodDisruptionBudget, PodPhase, RuntimeClass, Scheduling,
};

use crate::test_api::{TestApi, host_pod_on};

fn config_map(name: String) -> ConfigMap {
    ConfigMap {
        metadata: ObjectMeta {
            name,
            namespace: "default".into(),
            ..ObjectMeta::default()
        },
        data: [("key".to_string(), "value".to_string())].into(),
        ..ConfigMap::default()
    }
}

#[tokio::test]
async fn concurrent_creates_share_the_stores_group_commits() {
    let api = TestApi::start().await;
    let admin = api.client("admin", "admin");
    let before = api.store.status().unwrap().syncs;
    let creates: Vec<_> = (0..64)
        .map(|i| {
            let admin = admin.clone();
            tokio::spawn(async move { admin.create(&config_map(format!("c{i}"))).await })
        })
        .collect();
    for create in creates {
        create.await.unwrap().expect("the create succeeds");
    }
    let syncs = api.store.status().unwrap().syncs - before;
    // Serialized, each create would wait for the fsync of the one before: 64 syncs.
    assert!(
        syncs <= 32,
        "64 concurrent creates took {syncs} synced writes"
    );
    let (listed, _) = admin
        .list::<ConfigMap>(Some("default"), None)
        .await
        .unwrap();
    assert_eq!(listed.len(), 64);
}

#[tokio::test]
async fn a_delete_meeting_a_status_update_starts_again_instead_of_failing() {
    let api = TestApi::start().await;
    let admin = api.client("admin", "admin");
    let agent = api.client("node:n1", "node");
    for i in 0..5 {
        let name = format!("p{i}");
        let mut pod = admin.create(&host_pod_on("n1", &name)).await.unwrap();
        // The node's agent reports status as an operator deletes the pod: the update is sent
        // first, so it lands between the delete's read of the pod and its write.
        pod.status.phase = PodPhase::Running;
        let (updated, deleted) = tokio::join!(
            agent.update_status(&pod),
            admin.delete(Kind::Pod, "default", &name, None)
        );
        updated.expect("the status update succeeds");
        let deleted: Pod = deleted
            .expect("a delete without preconditions does not fail on a concurrent write")
            .decode()
            .unwrap();
        assert!(deleted.metadata.deletion_timestamp.is_some());
        assert_eq!(
            deleted.status.phase,
            PodPhase::Running,
            "the delete kept the update"
        );
    }
}

fn runtime_class(name: &str, handler: &str, node_selector: &[(&str, &str)]) -> RuntimeClass {
    RuntimeClass {
        metadata: ObjectMeta {
            name: name.into(),
            ..ObjectMeta::default()
        },
        handler: handler.into(),
        scheduling: (!node_selector.is_empty()).then(|| Scheduling {
            node_selector: node_selector
                .iter()
                .map(|(key, value)| (key.to_string(), value.to_string()))
                .collect(),
            ..Scheduling::default()
        }),
        ..RuntimeClass::default()
    }
}

/// An unbound pod `name` that asks for the RuntimeClass `class`.
fn pod_with_class(name: &str, class: &str, node_selector: &[(&str, &str)]) -> Pod {
    let mut pod = host_pod_on("", name);
    pod.spec.runtime_class_name = Some(class.into());
    for (key, value) in node_selector {
        pod.spec
            .node_selector
            .insert(key.to_string(), value.to_string());
    }
    pod
}

fn forbidden_message(error: ClientError) -> String {
    let ClientError::Api(error) = error else {
        panic!("not an API error: {error}");
    };
    assert_eq!(error.code, ErrorCode::Forbidden, "{}", error.message);
    error.message
}

#[tokio::test]
async fn a_pod_naming_a_missing_runtime_class_is_refused() {
    let api = TestApi::start().await;
    let admin = api.client("admin", "admin");
    let error = admin
        .create(&pod_with_class("sandboxed", "gvisor", &[]))
        .await
        .unwrap_err();
    assert_eq!(
        forbidden_message(error),
        "pod rejected: RuntimeClass \"gvisor\" not found"
    );
    assert!(
        admin
            .find::<Pod>("default", "sandboxed")
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn a_runtime_class_node_selector_is_merged_into_the_pod() {
    let api = TestApi::start().await;
    let admin = api.client("admin", "admin");
    admin
        .create(&runtime_class("gvisor", "runsc", &[("runtime", "gvisor")]))
        .await
        .unwrap();
    admin
        .create(&runtime_class("plain", "runc", &[]))
        .await
        .unwrap();

    let pod = admin
        .create(&pod_with_class("sandboxed", "gvisor", &[("disk", "ssd")]))
        .await
        .unwrap();
    assert_eq!(pod.spec.runtime_class_name.as_deref(), Some("gvisor"));
    let selector: Vec<(&str, &str)> = pod
        .spec
        .node_selector
        .iter()
        .map(|(key, value)| (key.as_str(), value.as_str()))
        .collect();
    assert_eq!(selector, [("disk", "ssd"), ("runtime", "gvisor")]);

    // The same value the class asks for is no conflict; a class without a selector adds none.
    let agreeing = admin
        .create(&pod_with_class(
            "agreeing",
            "gvisor",
            &[("runtime", "gvisor")],
        ))
        .await
        .unwrap();
    assert_eq!(agreeing.spec.node_selector.len(), 1);
    let plain = admin
        .create(&pod_with_class("plain", "plain", &[]))
        .await
        .unwrap();
    assert!(plain.spec.node_selector.is_empty());

    // Applying the pod's manifest again leaves it as it is: the merged entries are kept.
    let mut manifest = Object::Pod(pod_with_class("sandboxed", "gvisor", &[("disk", "ssd")]));
    manifest.set_type_fields();
    let (_, outcome) = admin.apply(&manifest).await.unwrap();
    assert_eq!(outcome, Outcome::Unchanged);
}

#[tokio::test]
async fn a_pod_node_selector_conflicting_with_its_runtime_class_is_refused() {
    let api = TestApi::start().await;
    let admin = api.client("admin", "admin");
    admin
        .create(&runtime_class("gvisor", "runsc", &[("runtime", "gvisor")]))
        .await
        .unwrap();
    let error = admin
        .create(&pod_with_class(
            "sandboxed",
            "gvisor",
            &[("runtime", "kata")],
        ))
        .await
        .unwrap_err();
    let message = forbidden_message(error);
    assert!(
        message
            .starts_with("pod rejected: RuntimeClass \"gvisor\" conflicts with pod node selector"),
        "{message}"
    );
    assert!(message.contains("runtime=kata"), "{message}");
}

#[tokio::test]
async fn a_runtime_class_handler_cannot_change() {
    let api = TestApi::start().await;
    let admin = api.client("admin", "admin");
    let mut class = admin
        .create(&runtime_class("gvisor", "runsc", &[]))
        .await
        .unwrap();
    class
        .metadata
        .labels
        .insert("tier".into(), "sandbox".into());
    let class = admin.update(&class).await.unwrap();
    let mut changed = class.clone();
    changed.handler = "kata".into();
    let ClientError::Api(error) = admin.update(&changed).await.unwrap_err() else {
        panic!("not an API error");
    };
    assert_eq!(error.code, ErrorCode::Invalid);
    assert_eq!(
        error.message,
        "RuntimeClass \"gvisor\" is invalid: handler: Invalid value: \"kata\": field is immutable"
    );
}

#[tokio::test]
async fn a_node_reads_runtime_classes_and_may_not_write_them() {
    let api = TestApi::start().await;
    let admin = api.client("admin", "admin");
    admin
        .create(&runtime_class("gvisor", "runsc", &[("runtime", "gvisor")]))
        .await
        .unwrap();
    let node = api.client("node:n1", "node");
    let class = node
        .find::<RuntimeClass>("", "gvisor")
        .await
        .unwrap()
        .expect("the class exists");
    assert_eq!(class.handler, "runsc");
    assert!(
        node.find::<RuntimeClass>("", "kata")
            .await
            .unwrap()
            .is_none()
    );
    let (classes, _) = node.list::<RuntimeClass>(None, None).await.unwrap();
    assert_eq!(classes.len(), 1);
    let error = node
        .create(&runtime_class("mine", "runc", &[]))
        .await
        .unwrap_err();
    assert_eq!(error.api_code(), Some(ErrorCode::Forbidden));
}

#[tokio::test]
async fn a_network_policy_is_defaulted_and_refused_by_the_path_of_its_mistake() {
    use flotilla_kernel::object::{
        IpBlock, NetworkPolicy, NetworkPolicyEgressRule, NetworkPolicyIngressRule,
        NetworkPolicyPeer, PolicyType,
    };

    let api = TestApi::start().await;
    let admin = api.client("admin", "admin");
    let mut policy = NetworkPolicy::default();
    policy.metadata.namespace = "default".into();
    policy.metadata.name = "egress".into();
    policy.spec.egress = vec![NetworkPolicyEgressRule::default()];
    let created = admin.create(&policy).await.unwrap();
    assert_eq!(
        created.spec.policy_types,
        [PolicyType::Ingress, PolicyType::Egress]
    );
    assert_eq!(created.metadata.generation, 1);

    policy.metadata.name = "bad".into();
    policy.spec.ingress = vec![NetworkPolicyIngressRule {
        from: vec![NetworkPolicyPeer {
            ip_block: Some(IpBlock {
                cidr: "10.0.0.0/8".into(),
                except: vec!["192.168.0.0/16".into()],
            }),
            ..NetworkPolicyPeer::default()
        }],
        ..NetworkPolicyIngressRule::default()
    }];
    let ClientError::Api(error) = admin.create(&policy).await.unwrap_err() else {
        panic!("not an API error");
    };
    assert_eq!(error.code, ErrorCode::Invalid);
    assert_eq!(
        error.message,
        "NetworkPolicy bad: spec.ingress[0].from[0].ipBlock.except[0]: Invalid value: \
         \"192.168.0.0/16\": must be a strict subset of `cidr`"
    );
}

/// A running, ready pod on n1 with `labels`.
async fn ready_pod(admin: &ApiClient, name: &str, labels: BTreeMap<String, String>) -> Pod {
    let mut pod = host_pod_on("n1", name);
    pod.metadata.labels = labels;
    let mut pod = admin.create(&pod).await.unwrap();
    pod.status.phase = PodPhase::Running;
    pod.status.conditions.push(PodCondition {
        type_: PodCondition::READY.into(),
        status: ConditionStatus::True,
        ..PodCondition::default()
    });
    admin.update_status(&pod).await.unwrap()
}

#[tokio::test]
async fn two_evictions_racing_for_the_last_disruption_cannot_both_pass() {
    let api = TestApi::start().await;
    let admin = api.client("admin", "admin");
    for round in 0..5 {
        let names = [format!("a{round}"), format!("b{round}")];
        let labels: BTreeMap<String, String> = [("round".to_string(), round.to_string())].into();
        for name in &names {
            ready_pod(&admin, name, labels.clone()).await;
        }
        let mut budget = PodDisruptionBudget {
            metadata: ObjectMeta {
                name: format!("web{round}"),
                namespace: "default".into(),
                ..ObjectMeta::default()
            },
            ..PodDisruptionBudget::default()
        };
        budget.spec.min_available = Some(IntOrString::Int(1));
        budget.spec.selector = Some(LabelSelector {
            match_labels: labels,
            ..LabelSelector::default()
        });
        let mut budget = admin.create(&budget).await.unwrap();
        assert_eq!(
            budget.status.disruptions_allowed, 0,
            "a new budget's status is the controller's"
        );
        budget.status.observed_generation = budget.metadata.generation;
        budget.status.disruptions_allowed = 1;
        budget.status.current_healthy = 2;
        budget.status.desired_healthy = 1;
        admin.update_status(&budget).await.unwrap();
        let (first, second) = tokio::join!(
            admin.evict("default", &names[0], DeleteOptions::default()),
            admin.evict("default", &names[1], DeleteOptions::default())
        );
        let refused: Vec<ErrorCode> = [first, second]
            .into_iter()
            .filter_map(|outcome| outcome.err().and_then(|e| e.api_code()))
            .collect();
        assert_eq!(refused, [ErrorCode::TooManyRequests], "round {round}");
        let budget: PodDisruptionBudget =
            admin.get("default", &format!("web{round}")).await.unwrap();
        assert_eq!(budget.status.disruptions_allowed, 0);
        assert_eq!(budget.status.disrupted_pods.len(), 1);
    }
}
