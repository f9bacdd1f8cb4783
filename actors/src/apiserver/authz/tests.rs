use flotilla_kernel::object::{Container, EnvFromSource, ObjectSelector, Pod, PodSpec};
use serde_json::json;

use super::*;

const IDENTITIES: [(&str, &str); 6] = [
    ("admin", "admin"),
    ("flotilla-controller", "control-plane"),
    ("alice", "viewer"),
    ("node:a", "node"),
    ("mallory", "intruder"),
    ("system:anonymous", ""),
];

/// Pods in the world the requests run against: `web-a` on node a reads ConfigMap
/// `settings-a` and Secret `creds-a`; `web-b` on node b reads `settings-b` and `creds-b`.
fn world() -> Vec<Pod> {
    let pod = |name: &str, node: &str, suffix: &str| {
        let mut pod = Pod::default();
        pod.metadata.name = name.to_string();
        pod.metadata.namespace = "default".to_string();
        pod.spec = PodSpec {
            node_name: node.to_string(),
            containers: vec![Container {
                name: "main".to_string(),
                env_from: vec![
                    EnvFromSource {
                        config_map_ref: Some(ObjectSelector {
                            name: format!("settings-{suffix}"),
                            optional: None,
                        }),
                        ..EnvFromSource::default()
                    },
                    EnvFromSource {
                        secret_ref: Some(ObjectSelector {
                            name: format!("creds-{suffix}"),
                            optional: None,
                        }),
                        ..EnvFromSource::default()
                    },
                ],
                ..Container::default()
            }],
            ..PodSpec::default()
        };
        pod
    };
    vec![
        pod("web-a", "a", "a"),
        pod("web-b", "b", "b"),
        pod("pending", "", "a"),
    ]
}

/// Answers a lookup from [`world`], as the handler does from the store.
fn facts(lookup: Option<Lookup>) -> Facts {
    let pods = world();
    match lookup {
        None => Facts::default(),
        Some(Lookup::PodBinding { namespace, name }) => Facts {
            pod_node: pods
                .iter()
                .find(|p| p.metadata.namespace == namespace && p.metadata.name == name)
                .map(|p| p.spec.node_name.clone())
                .filter(|node| !node.is_empty()),
            ..Facts::default()
        },
        Some(Lookup::PodsOnNode { node }) => Facts {
            node_pods: pods
                .into_iter()
                .filter(|p| p.spec.node_name == node)
                .map(|p| NodePod {
                    namespace: p.metadata.namespace.clone(),
                    references: p.spec.references(),
                })
                .collect(),
            ..Facts::default()
        },
    }
}

fn decide(name: &str, role: &str, request: &Request) -> Result<(), ApiError> {
    let caller = Identity::new(name, role);
    let scope = Scope::of(request)?;
    authorize(&caller, &scope, &facts(lookup(&caller, &scope)))
}

fn get(kind: Kind, namespace: &str, name: &str) -> Request {
    Request::Get {
        kind,
        namespace: namespace.into(),
        name: name.into(),
    }
}

fn delete(kind: Kind, namespace: &str, name: &str) -> Request {
    Request::Delete {
        kind,
        namespace: namespace.into(),
        name: name.into(),
        options: Default::default(),
    }
}

fn list(kind: Kind, node: Option<&str>) -> Request {
    Request::List {
        kind,
        namespace: None,
        selector: None,
        node_name: node.map(str::to_string),
    }
}

fn watch(kind: Kind, node: Option<&str>) -> Request {
    Request::Watch {
        kind,
        namespace: None,
        after_revision: 0,
        node_name: node.map(str::to_string),
    }
}

fn body(kind: &str, namespace: &str, name: &str) -> RawObject {
    let object = json!({"kind": kind, "metadata": {"name": name, "namespace": namespace}});
    RawObject(object.to_string().into_bytes())
}

fn create(kind: &str, namespace: &str, name: &str) -> Request {
    Request::Create {
        object: body(kind, namespace, name),
    }
}

fn update(kind: &str, namespace: &str, name: &str) -> Request {
    Request::Update {
        object: body(kind, namespace, name),
    }
}

fn update_status(kind: &str, namespace: &str, name: &str) -> Request {
    Request::UpdateStatus {
        object: body(kind, namespace, name),
    }
}

const LEASES: &str = NODE_LEASE_NAMESPACE;

/// Every operation with the expected verdict per identity, in the order of [`IDENTITIES`]:
/// `y` allowed, `n` denied. "own" is node a's, "foreign" node b's. Joining is open to all: the
/// token it carries is checked by the join itself.
fn matrix() -> Vec<(&'static str, Request, &'static str)> {
    vec![
        ("get own node", get(Kind::Node, "", "a"), "yyyynn"),
        ("get foreign node", get(Kind::Node, "", "b"), "yyyynn"),
        ("list nodes", list(Kind::Node, None), "yyyynn"),
        ("watch nodes", watch(Kind::Node, None), "yyyynn"),
        ("create own node", create("Node", "", "a"), "yynynn"),
        ("create foreign node", create("Node", "", "b"), "yynnnn"),
        ("update own node", update("Node", "", "a"), "yynynn"),
        (
            "update own node status",
            update_status("Node", "", "a"),
            "yynynn",
        ),
        (
            "update foreign node status",
            update_status("Node", "", "b"),
            "yynnnn",
        ),
        ("delete own node", delete(Kind::Node, "", "a"), "yynnnn"),
        ("get own lease", get(Kind::Lease, LEASES, "a"), "yyyynn"),
        ("create own lease", create("Lease", LEASES, "a"), "yynynn"),
        ("update own lease", update("Lease", LEASES, "a"), "yynynn"),
        ("get foreign lease", get(Kind::Lease, LEASES, "b"), "yyynnn"),
        (
            "update foreign lease",
            update("Lease", LEASES, "b"),
            "yynnnn",
        ),
        (
            "update own lease elsewhere",
            update("Lease", "default", "a"),
            "yynnnn",
        ),
        (
            "delete own lease",
            delete(Kind::Lease, LEASES, "a"),
            "yynnnn",
        ),
        ("get own pod", get(Kind::Pod, "default", "web-a"), "yyyynn"),
        (
            "get foreign pod",
            get(Kind::Pod, "default", "web-b"),
            "yyynnn",
        ),
        (
            "get unbound pod",
            get(Kind::Pod, "default", "pending"),
            "yyynnn",
        ),
        (
            "get missing pod",
            get(Kind::Pod, "default", "ghost"),
            "yyynnn",
        ),
        ("list own pods", list(Kind::Pod, Some("a")), "yyyynn"),
        ("list foreign pods", list(Kind::Pod, Some("b")), "yyynnn"),
        ("list all pods", list(Kind::Pod, None), "yyynnn"),
        ("watch own pods", watch(Kind::Pod, Some("a")), "yyyynn"),
        ("watch all pods", watch(Kind::Pod, None), "yyynnn"),
        (
            "update own pod status",
            update_status("Pod", "default", "web-a"),
            "yynynn",
        ),
        (
            "update foreign pod status",
            update_status("Pod", "default", "web-b"),
            "yynnnn",
        ),
        (
            "update own pod",
            update("Pod", "default", "web-a"),
            "yynnnn",
        ),
        (
            "delete own pod",
            delete(Kind::Pod, "default", "web-a"),
            "yynynn",
        ),
        (
            "delete foreign pod",
            delete(Kind::Pod, "default", "web-b"),
            "yynnnn",
        ),
        ("create a pod", create("Pod", "default", "new"), "yynnnn"),
        (
            "bind a pod to itself",
            Request::Bind {
                namespace: "default".into(),
                name: "pending".into(),
                node: "a".into(),
            },
            "yynnnn",
        ),
        (
            "read own pod's logs",
            Request::Logs {
                namespace: "default".into(),
                pod: "web-a".into(),
                container: None,
                follow: false,
                tail_lines: None,
            },
            "yyynnn",
        ),
        (
            "top pods",
            Request::Top {
                kind: Kind::Pod,
                namespace: Some("default".into()),
                name: None,
            },
            "yyynnn",
        ),
        (
            "top own pod",
            Request::Top {
                kind: Kind::Pod,
                namespace: Some("default".into()),
                name: Some("web-a".into()),
            },
            "yyynnn",
        ),
        (
            "top own node",
            Request::Top {
                kind: Kind::Node,
                namespace: None,
                name: Some("a".into()),
            },
            "yyynnn",
        ),
        (
            "exec into own pod with a terminal",
            Request::ExecAttached {
                namespace: "default".into(),
                pod: "web-a".into(),
                container: None,
                command: vec!["sh".into()],
                stdin: true,
                tty: None,
            },
            "yynnnn",
        ),
        (
            "import images into own node",
            Request::ImportImages {
                node: "a".into(),
                base_name: None,
            },
            "yynnnn",
        ),
        (
            "get own configmap",
            get(Kind::ConfigMap, "default", "settings-a"),
            "yyyynn",
        ),
        (
            "get foreign configmap",
            get(Kind::ConfigMap, "default", "settings-b"),
            "yyynnn",
        ),
        (
            "get own configmap name elsewhere",
            get(Kind::ConfigMap, "prod", "settings-a"),
            "yyynnn",
        ),
        ("list configmaps", list(Kind::ConfigMap, None), "yyynnn"),
        (
            "update own configmap",
            update("ConfigMap", "default", "settings-a"),
            "yynnnn",
        ),
        (
            "get own secret",
            get(Kind::Secret, "default", "creds-a"),
            "yynynn",
        ),
        (
            "get foreign secret",
            get(Kind::Secret, "default", "creds-b"),
            "yynnnn",
        ),
        ("list secrets", list(Kind::Secret, None), "yynnnn"),
        ("watch secrets", watch(Kind::Secret, None), "yynnnn"),
        (
            "update own secret",
            update("Secret", "default", "creds-a"),
            "yynnnn",
        ),
        (
            "create a secret",
            create("Secret", "default", "new"),
            "yynnnn",
        ),
        (
            "get a deployment",
            get(Kind::Deployment, "default", "web"),
            "yyynnn",
        ),
        (
            "apply a deployment",
            Request::Apply {
                object: body("Deployment", "default", "web"),
            },
            "yynnnn",
        ),
        (
            "delete a replicaset",
            delete(Kind::ReplicaSet, "default", "web-1"),
            "yynnnn",
        ),
        (
            "get a namespace",
            get(Kind::Namespace, "", "default"),
            "yyynnn",
        ),
        (
            "create a namespace",
            create("Namespace", "", "prod"),
            "yynnnn",
        ),
        (
            "get a runtimeclass",
            get(Kind::RuntimeClass, "", "gvisor"),
            "yyyynn",
        ),
        (
            "list runtimeclasses",
            list(Kind::RuntimeClass, None),
            "yyyynn",
        ),
        (
            "watch runtimeclasses",
            watch(Kind::RuntimeClass, None),
            "yyyynn",
        ),
        (
            "create a runtimeclass",
            create("RuntimeClass", "", "gvisor"),
            "yynnnn",
        ),
        (
            "update a runtimeclass",
            update("RuntimeClass", "", "gvisor"),
            "yynnnn",
        ),
        (
            "delete a runtimeclass",
            delete(Kind::RuntimeClass, "", "gvisor"),
            "yynnnn",
        ),
        (
            "get a service",
            get(Kind::Service, "default", "web"),
            "yyyynn",
        ),
        ("list services", list(Kind::Service, None), "yyyynn"),
        ("watch services", watch(Kind::Service, None), "yyyynn"),
        (
            "create a service",
            create("Service", "default", "web"),
            "yynnnn",
        ),
        (
            "update a service",
            update("Service", "default", "web"),
            "yynnnn",
        ),
        (
            "update the status of a service",
            update_status("Service", "default", "web"),
            "yynnnn",
        ),
        (
            "delete a service",
            delete(Kind::Service, "default", "web"),
            "yynnnn",
        ),
        (
            "get an endpointslice",
            get(Kind::EndpointSlice, "default", "web-abcde"),
            "yyyynn",
        ),
        (
            "list endpointslices",
            list(Kind::EndpointSlice, None),
            "yyyynn",
        ),
        (
            "watch endpointslices",
            watch(Kind::EndpointSlice, None),
            "yyyynn",
        ),
        (
            "create an endpointslice",
            create("EndpointSlice", "default", "web-abcde"),
            "yynnnn",
        ),
        (
            "update an endpointslice",
            update("EndpointSlice", "default", "web-abcde"),
            "yynnnn",
        ),
        (
            "delete an endpointslice",
            delete(Kind::EndpointSlice, "default", "web-abcde"),
            "yynnnn",
        ),
        (
            "get a networkpolicy",
            get(Kind::NetworkPolicy, "default", "deny"),
            "yyyynn",
        ),
        (
            "list networkpolicies",
            list(Kind::NetworkPolicy, None),
            "yyyynn",
        ),
        (
            "watch networkpolicies",
            watch(Kind::NetworkPolicy, None),
            "yyyynn",
        ),
        (
            "create a networkpolicy",
            create("NetworkPolicy", "default", "deny"),
            "yynnnn",
        ),
        (
            "update a networkpolicy",
            update("NetworkPolicy", "default", "deny"),
            "yynnnn",
        ),
        (
            "update the status of a networkpolicy",
            update_status("NetworkPolicy", "default", "deny"),
            "yynnnn",
        ),
        (
            "delete a networkpolicy",
            delete(Kind::NetworkPolicy, "default", "deny"),
            "yynnnn",
        ),
    ]
}

#[test]
fn every_identity_against_every_operation() {
    let mut wrong = Vec::new();
    for (operation, request, expected) in matrix() {
        assert_eq!(expected.len(), IDENTITIES.len(), "row {operation:?}");
        for ((name, role), cell) in IDENTITIES.iter().zip(expected.chars()) {
            let allowed = decide(name, role, &request).is_ok();
            if allowed != (cell == 'y') {
                wrong.push(format!("{name} ({role}) {operation}: allowed={allowed}"));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "unexpected verdicts:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn a_denial_names_the_identity_the_action_and_why() {
    let error = decide(
        "alice",
        "viewer",
        &delete(Kind::Deployment, "default", "web"),
    )
    .unwrap_err();
    assert_eq!(error.code, ErrorCode::Forbidden);
    assert_eq!(
        error.message,
        "alice (role viewer) may not delete deployments \"web\" in namespace \"default\": \
         viewers may only read"
    );
    let error = decide("node:a", "node", &get(Kind::Secret, "default", "creds-b")).unwrap_err();
    assert!(
        error.message.starts_with(
            "node:a (role node) may not get secrets \"creds-b\" in namespace \"default\": "
        ),
        "{}",
        error.message
    );
}

#[test]
fn a_node_identity_without_a_node_name_may_do_nothing() {
    for name in ["a", "node:", "admin"] {
        let error = decide(name, "node", &get(Kind::Node, "", "a")).unwrap_err();
        assert!(
            error
                .message
                .ends_with("a node identity must be named node:NAME")
        );
    }
}

#[test]
fn a_body_that_is_not_an_object_is_a_bad_request() {
    let request = Request::Create {
        object: RawObject(b"[1,2]".to_vec()),
    };
    assert_eq!(Scope::of(&request).unwrap_err().code, ErrorCode::BadRequest);
    let request = Request::Create {
        object: body("Gadget", "default", "x"),
    };
    let error = Scope::of(&request).unwrap_err();
    assert!(error.message.contains("Gadget"), "{}", error.message);
}
