//! `flotilla top`: what pods and nodes use, measured now by the nodes' agents. There is no
//! metrics server: the API server groups the pods it stores by the node they are bound to,
//! asks every node's agent at once over the node link (as logs and exec travel), and names
//! the answers after the pods and nodes. A node that cannot be asked costs only its own rows:
//! the report says which node and why, and carries the others.
//!
//! Choosing what to ask and assembling the report are pure functions of the stored objects
//! and the agents' answers; only [`top`] reads the store and [`ask_all`] calls the agents.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use tokio::task::JoinSet;

use flotilla_kernel::api::{
    AgentUsage, ApiError, ContainerMetrics, ErrorCode, NodeLinks, NodeMetrics, NodeRequest,
    PodContainer, PodMetrics, ResourceUsage, Response, TopReport,
};
use flotilla_kernel::object::{Kind, Node, Object, Pod, Quantity, RESOURCE_CPU, RESOURCE_MEMORY};

use super::Context;

/// How long an agent may take to measure (it samples over a fraction of a second).
const AGENT_TIMEOUT: Duration = Duration::from_secs(10);

/// What each node's agent answered, or why it could not.
type Answers = BTreeMap<String, Result<AgentUsage, String>>;

/// Answers a `Request::Top` for `kind` (pods or nodes) in `namespace` (pods; `None`: all),
/// all of them or the one `name`d.
pub(super) async fn top(
    context: &Context,
    kind: Kind,
    namespace: Option<&str>,
    name: Option<&str>,
) -> Result<Response, ApiError> {
    let stored = &context.stored;
    let report = match kind {
        Kind::Pod => {
            let pods: Vec<Pod> = match (namespace, name) {
                (Some(namespace), Some(name)) => {
                    let current = stored.get_existing(Kind::Pod, namespace, name).await?;
                    pods(Some(current.object))
                }
                (None, Some(_)) => {
                    return Err(ApiError::new(
                        ErrorCode::BadRequest,
                        "a pod is named within one namespace",
                    ));
                }
                (_, None) => {
                    let (objects, _) = stored
                        .list_map(Kind::Pod, namespace, |v| Some(v.object))
                        .await?;
                    pods(objects)
                }
            };
            let answers = ask_all(&context.links, pod_asks(&pods)).await;
            pod_report(&pods, &answers, name.is_some())
        }
        Kind::Node => {
            let nodes: Vec<Node> = match name {
                Some(name) => {
                    let current = stored.get_existing(Kind::Node, "", name).await?;
                    nodes(Some(current.object))
                }
                None => {
                    let (objects, _) = stored
                        .list_map(Kind::Node, None, |v| Some(v.object))
                        .await?;
                    nodes(objects)
                }
            };
            let asks = nodes
                .iter()
                .map(|node| (node.metadata.name.clone(), Vec::new()))
                .collect();
            let answers = ask_all(&context.links, asks).await;
            node_report(&nodes, &answers)
        }
        other => {
            return Err(ApiError::new(
                ErrorCode::BadRequest,
                format!(
                    "top shows the usage of pods and nodes, not of {}",
                    other.plural()
                ),
            ));
        }
    };
    Ok(Response::Top(report))
}

fn pods(objects: impl IntoIterator<Item = Object>) -> Vec<Pod> {
    objects
        .into_iter()
        .filter_map(|object| match object {
            Object::Pod(pod) => Some(pod),
            _ => None,
        })
        .collect()
}

fn nodes(objects: impl IntoIterator<Item = Object>) -> Vec<Node> {
    objects
        .into_iter()
        .filter_map(|object| match object {
            Object::Node(node) => Some(node),
            _ => None,
        })
        .collect()
}

/// Why a pod has nothing to measure, or `None` when its node may be running it.
fn not_measurable(pod: &Pod) -> Option<String> {
    if pod.spec.node_name.is_empty() {
        Some("it is not scheduled to a node yet".to_string())
    } else if pod.is_terminal() {
        Some(format!("it has ended ({:?})", pod.status.phase))
    } else {
        None
    }
}

/// The containers to ask each node about: every container of the pods it may be running.
fn pod_asks(pods: &[Pod]) -> BTreeMap<String, Vec<PodContainer>> {
    let mut asks: BTreeMap<String, Vec<PodContainer>> = BTreeMap::new();
    for pod in pods.iter().filter(|pod| not_measurable(pod).is_none()) {
        let containers = pod.spec.all_containers().map(|c| PodContainer {
            pod_uid: pod.metadata.uid.clone(),
            container: c.name.clone(),
        });
        asks.entry(pod.spec.node_name.clone())
            .or_default()
            .extend(containers);
    }
    asks
}

/// Asks every node at once about its containers; a node that cannot answer in
/// [`AGENT_TIMEOUT`] says so.
async fn ask_all(links: &NodeLinks, asks: BTreeMap<String, Vec<PodContainer>>) -> Answers {
    let mut calls = JoinSet::new();
    for (node, containers) in asks {
        let links = links.clone();
        calls.spawn(async move {
            let answer = tokio::time::timeout(AGENT_TIMEOUT, ask(&links, &node, containers))
                .await
                .unwrap_or_else(|_| {
                    Err(format!(
                        "its agent did not answer within {}s",
                        AGENT_TIMEOUT.as_secs()
                    ))
                });
            (node, answer)
        });
    }
    let mut answers = Answers::new();
    while let Some(done) = calls.join_next().await {
        match done {
            Ok((node, answer)) => {
                answers.insert(node, answer);
            }
            Err(error) => tracing::error!(%error, "asking a node agent for usage failed"),
        }
    }
    answers
}

async fn ask(
    links: &NodeLinks,
    node: &str,
    containers: Vec<PodContainer>,
) -> Result<AgentUsage, String> {
    let request = NodeRequest::Usage { containers };
    let mut answers = links.call(node, request).await.map_err(|e| e.message)?;
    match answers.next().await {
        Some(Response::AgentUsage(usage)) => Ok(usage),
        Some(Response::Error(error)) => Err(error.message),
        Some(other) => Err(format!("its agent answered with {}", other.kind_name())),
        None => Err("its agent ended the call without an answer".to_string()),
    }
}

/// The pods that have measurements, sorted by namespace and name; one message per node that
/// did not answer, and for a pod asked for by name that has no measurement, why.
fn pod_report(pods: &[Pod], answers: &Answers, named: bool) -> TopReport {
    let measured: HashMap<&PodContainer, ResourceUsage> = answers
        .values()
        .filter_map(|answer| answer.as_ref().ok())
        .flat_map(|usage| &usage.containers)
        .map(|c| (&c.container, c.usage))
        .collect();
    let mut report = TopReport::default();
    for (node, answer) in answers {
        if let Err(why) = answer {
            let count = pods
                .iter()
                .filter(|pod| &pod.spec.node_name == node && not_measurable(pod).is_none())
                .count();
            let pods = if count == 1 { "pod" } else { "pods" };
            report.unavailable.push(format!(
                "metrics not available for {count} {pods} on node {node:?}: {why}"
            ));
        }
    }
    for pod in pods {
        let containers: Vec<ContainerMetrics> = pod
            .spec
            .all_containers()
            .filter_map(|c| {
                let key = PodContainer {
                    pod_uid: pod.metadata.uid.clone(),
                    container: c.name.clone(),
                };
                measured.get(&key).map(|usage| ContainerMetrics {
                    name: c.name.clone(),
                    usage: *usage,
                })
            })
            .collect();
        if !containers.is_empty() {
            report.pods.push(PodMetrics {
                namespace: pod.metadata.namespace.clone(),
                name: pod.metadata.name.clone(),
                containers,
            });
            continue;
        }
        let node_failed = matches!(answers.get(&pod.spec.node_name), Some(Err(_)));
        if named && !node_failed {
            let why = not_measurable(pod)
                .unwrap_or_else(|| "none of its containers is running".to_string());
            report.unavailable.push(format!(
                "metrics not available for pod \"{}/{}\": {why}",
                pod.metadata.namespace, pod.metadata.name
            ));
        }
    }
    report
        .pods
        .sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
    report
}

/// Every node, sorted by name, with what it uses when its agent answered; one message per
/// node that did not.
fn node_report(nodes: &[Node], answers: &Answers) -> TopReport {
    let mut report = TopReport::default();
    for node in nodes {
        let name = node.metadata.name.clone();
        let usage = match answers.get(&name) {
            Some(Ok(measured)) => Some(measured.node),
            Some(Err(why)) => {
                let message = format!("metrics not available for node {name:?}: {why}");
                report.unavailable.push(message);
                None
            }
            None => None,
        };
        report.nodes.push(NodeMetrics {
            name,
            usage,
            allocatable: allocatable(node),
        });
    }
    report.nodes.sort_by(|a, b| a.name.cmp(&b.name));
    report
}

/// The node's allocatable CPU and memory, each from its capacity when it reports none.
fn allocatable(node: &Node) -> ResourceUsage {
    let status = &node.status;
    let amount = |resource: &str| -> Option<&Quantity> {
        status
            .allocatable
            .get(resource)
            .or_else(|| status.capacity.get(resource))
    };
    ResourceUsage {
        cpu_millis: amount(RESOURCE_CPU)
            .and_then(|q| q.cpu_millis().ok())
            .unwrap_or(0),
        memory_bytes: amount(RESOURCE_MEMORY)
            .and_then(|q| q.bytes().ok())
            .unwrap_or(0),
    }
}

#[cfg(test)]
mod tests {
    use flotilla_kernel::api::ContainerUsage;
    use flotilla_kernel::object::{Container, ObjectMeta, PodPhase, PodSpec};

    use super::*;

    fn pod(namespace: &str, name: &str, node: &str, containers: &[&str]) -> Pod {
        Pod {
            metadata: ObjectMeta {
                name: name.into(),
                namespace: namespace.into(),
                uid: format!("uid-{name}"),
                ..ObjectMeta::default()
            },
            spec: PodSpec {
                node_name: node.into(),
                containers: containers
                    .iter()
                    .map(|c| Container {
                        name: c.to_string(),
                        ..Container::default()
                    })
                    .collect(),
                ..PodSpec::default()
            },
            ..Pod::default()
        }
    }

    fn usage(cpu_millis: u64, memory_mib: u64) -> ResourceUsage {
        ResourceUsage {
            cpu_millis,
            memory_bytes: memory_mib << 20,
        }
    }

    fn measured(pod: &str, container: &str, cpu_millis: u64, memory_mib: u64) -> ContainerUsage {
        ContainerUsage {
            container: PodContainer {
                pod_uid: format!("uid-{pod}"),
                container: container.into(),
            },
            usage: usage(cpu_millis, memory_mib),
        }
    }

    #[test]
    fn each_node_is_asked_about_the_pods_it_may_run() {
        let mut ended = pod("default", "ended", "n1", &["main"]);
        ended.status.phase = PodPhase::Succeeded;
        let pods = [
            pod("default", "web", "n1", &["app", "proxy"]),
            pod("prod", "db", "n2", &["main"]),
            pod("default", "pending", "", &["main"]),
            ended,
        ];
        let asks = pod_asks(&pods);
        let asked = |node: &str| -> Vec<String> {
            asks[node]
                .iter()
                .map(|c| format!("{}/{}", c.pod_uid, c.container))
                .collect()
        };
        assert_eq!(asks.len(), 2);
        assert_eq!(asked("n1"), ["uid-web/app", "uid-web/proxy"]);
        assert_eq!(asked("n2"), ["uid-db/main"]);
    }

    #[test]
    fn measurements_are_named_after_their_pods_and_sorted() {
        let pods = [
            pod("prod", "db", "n2", &["main"]),
            pod("default", "web", "n1", &["app", "proxy"]),
            pod("default", "quiet", "n1", &["main"]),
        ];
        let answers = Answers::from([
            (
                "n1".to_string(),
                Ok(AgentUsage {
                    node: usage(900, 2048),
                    containers: vec![
                        measured("web", "proxy", 2, 10),
                        measured("web", "app", 250, 64),
                    ],
                }),
            ),
            (
                "n2".to_string(),
                Ok(AgentUsage {
                    node: usage(100, 1024),
                    containers: vec![measured("db", "main", 12, 34)],
                }),
            ),
        ]);
        let report = pod_report(&pods, &answers, false);
        let rows: Vec<(String, Vec<&str>)> = report
            .pods
            .iter()
            .map(|p| {
                let containers = p.containers.iter().map(|c| c.name.as_str()).collect();
                (format!("{}/{}", p.namespace, p.name), containers)
            })
            .collect();
        // `quiet` runs nothing, so it has no row; containers keep the spec's order.
        assert_eq!(
            rows,
            [
                ("default/web".to_string(), vec!["app", "proxy"]),
                ("prod/db".to_string(), vec!["main"]),
            ]
        );
        assert_eq!(report.pods[0].total(), usage(252, 74));
        assert!(report.unavailable.is_empty());
    }

    #[test]
    fn a_node_that_cannot_answer_costs_only_its_own_pods() {
        let pods = [
            pod("default", "a", "n1", &["main"]),
            pod("default", "b", "n2", &["main"]),
            pod("default", "c", "n2", &["main"]),
        ];
        let answers = Answers::from([
            (
                "n1".to_string(),
                Ok(AgentUsage {
                    node: usage(0, 0),
                    containers: vec![measured("a", "main", 5, 1)],
                }),
            ),
            (
                "n2".to_string(),
                Err("the agent of node \"n2\" is not connected".to_string()),
            ),
        ]);
        let report = pod_report(&pods, &answers, false);
        assert_eq!(report.pods.len(), 1);
        assert_eq!(
            report.unavailable,
            [
                "metrics not available for 2 pods on node \"n2\": the agent of node \"n2\" \
                 is not connected"
            ]
        );
    }

    #[test]
    fn a_named_pod_without_measurements_says_why() {
        let pending = pod("default", "pending", "", &["main"]);
        let report = pod_report(&[pending], &Answers::new(), true);
        assert_eq!(
            report.unavailable,
            [
                "metrics not available for pod \"default/pending\": it is not scheduled to a node yet"
            ]
        );
        let starting = pod("default", "starting", "n1", &["main"]);
        let answers = Answers::from([("n1".to_string(), Ok(AgentUsage::default()))]);
        let report = pod_report(&[starting], &answers, true);
        assert_eq!(
            report.unavailable,
            [
                "metrics not available for pod \"default/starting\": none of its containers is running"
            ]
        );
    }

    #[test]
    fn nodes_show_usage_beside_what_they_offer() {
        let node = |name: &str, allocatable: &[(&str, &str)], capacity: &[(&str, &str)]| {
            let mut node = Node::default();
            node.metadata.name = name.into();
            let quantities = |pairs: &[(&str, &str)]| {
                pairs
                    .iter()
                    .map(|(k, v)| (k.to_string(), Quantity::from(*v)))
                    .collect()
            };
            node.status.allocatable = quantities(allocatable);
            node.status.capacity = quantities(capacity);
            node
        };
        let nodes = [
            node("n2", &[], &[("cpu", "2"), ("memory", "1Gi")]),
            node(
                "n1",
                &[("cpu", "3500m"), ("memory", "7Gi")],
                &[("cpu", "4")],
            ),
        ];
        let answers = Answers::from([
            (
                "n1".to_string(),
                Ok(AgentUsage {
                    node: usage(1750, 1024),
                    containers: Vec::new(),
                }),
            ),
            ("n2".to_string(), Err("gone".to_string())),
        ]);
        let report = node_report(&nodes, &answers);
        assert_eq!(
            report.nodes,
            [
                NodeMetrics {
                    name: "n1".into(),
                    usage: Some(usage(1750, 1024)),
                    allocatable: usage(3500, 7 * 1024),
                },
                NodeMetrics {
                    name: "n2".into(),
                    usage: None,
                    allocatable: usage(2000, 1024),
                },
            ]
        );
        assert_eq!(
            report.unavailable,
            ["metrics not available for node \"n2\": gone"]
        );
    }
}
