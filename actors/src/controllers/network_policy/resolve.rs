//! The pure core of the network policy controller: a policy and the cluster's pods and
//! namespaces in, the policy's status out — what each peer with selectors stands for (see
//! `flotilla_kernel::object::network_policy` for the shape).
//!
//! A peer with only a `podSelector` picks pods of the policy's namespace; with a
//! `namespaceSelector`, pods of the namespaces it matches (all of their pods without a
//! `podSelector`). Only pods that can be talked to count: those with an address, not yet
//! terminal, and not on the host's network (their address is the node's, and allowing it would
//! allow the whole node). Named ports of egress rules are resolved here, on the peers' pods,
//! since the port a name stands for is the destination's; an egress rule without `to`
//! resolves them on every pod.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{Ipv4Addr, SocketAddrV4};

use flotilla_kernel::object::{
    LabelSelector, NAMESPACE_NAME_LABEL, NetworkPolicy, NetworkPolicyPeer, NetworkPolicyPort,
    NetworkPolicyStatus, PeerPath, Pod, PolicyType, ResolvedNamedPort, ResolvedPeer,
};

type Labels = BTreeMap<String, String>;

/// What the controller needs of a pod that can be a peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodView {
    pub labels: Labels,
    pub address: Ipv4Addr,
    /// Its containers' named ports: (name, protocol, number).
    pub named_ports: Vec<(String, String, u16)>,
}

impl PodView {
    /// The view of `pod`, if it can be a peer.
    pub fn of(pod: &Pod) -> Option<PodView> {
        if pod.is_terminal() || pod.spec.host_network {
            return None;
        }
        let address = pod.status.pod_ip.parse().ok()?;
        let named_ports = pod
            .spec
            .containers
            .iter()
            .flat_map(|container| &container.ports)
            .filter(|port| !port.name.is_empty())
            .filter_map(|port| {
                let number = u16::try_from(port.container_port).ok()?;
                let protocol = if port.protocol.is_empty() {
                    "TCP"
                } else {
                    &port.protocol
                };
                Some((port.name.clone(), protocol.to_owned(), number))
            })
            .collect();
        Some(PodView {
            labels: pod.metadata.labels.clone(),
            address,
            named_ports,
        })
    }
}

/// The cluster as the resolution sees it.
#[derive(Debug, Clone, Copy)]
pub struct Cluster<'a> {
    /// Namespace → pod name → view, for the pods that can be peers.
    pub pods: &'a BTreeMap<String, BTreeMap<String, PodView>>,
    /// Namespace → its labels (as stored; the name label is added here).
    pub namespaces: &'a BTreeMap<String, Labels>,
}

/// The status `policy` should have.
pub fn resolve(policy: &NetworkPolicy, cluster: Cluster<'_>) -> NetworkPolicyStatus {
    let spec = &policy.spec;
    let namespace = policy.metadata.namespace.as_str();
    let mut peers = Vec::new();
    let ingress = spec
        .ingress
        .iter()
        .map(|rule| (PolicyType::Ingress, &rule.from, &rule.ports));
    let egress = spec
        .egress
        .iter()
        .map(|rule| (PolicyType::Egress, &rule.to, &rule.ports));
    let mut indices: BTreeMap<PolicyType, usize> = BTreeMap::new();
    for (direction, rule_peers, ports) in ingress.chain(egress) {
        let index = indices.entry(direction).or_default();
        let rule = *index;
        *index += 1;
        // Ingress named ports are the selected pod's own, resolved by its node.
        let named: Vec<&NetworkPolicyPort> = match direction {
            PolicyType::Ingress => Vec::new(),
            PolicyType::Egress => ports.iter().filter(|port| port.name().is_some()).collect(),
        };
        if rule_peers.is_empty() {
            if !named.is_empty() {
                let everyone = cluster.pods.values().flat_map(BTreeMap::values);
                peers.push(ResolvedPeer {
                    rule: PeerPath {
                        direction,
                        rule,
                        peer: None,
                    }
                    .to_string(),
                    addresses: Vec::new(),
                    named_ports: named_ports(&named, everyone.collect()),
                });
            }
            continue;
        }
        for (index, peer) in rule_peers.iter().enumerate() {
            if !peer.selects_pods() {
                continue;
            }
            let selected = selected_pods(peer, namespace, cluster);
            let addresses: BTreeSet<Ipv4Addr> = selected.iter().map(|pod| pod.address).collect();
            peers.push(ResolvedPeer {
                rule: PeerPath {
                    direction,
                    rule,
                    peer: Some(index),
                }
                .to_string(),
                addresses: addresses.iter().map(ToString::to_string).collect(),
                named_ports: named_ports(&named, selected),
            });
        }
    }
    NetworkPolicyStatus {
        observed_generation: policy.metadata.generation,
        peers,
    }
}

/// The pods `peer` selects, from the point of view of a policy in `namespace`.
fn selected_pods<'a>(
    peer: &NetworkPolicyPeer,
    namespace: &str,
    cluster: Cluster<'a>,
) -> Vec<&'a PodView> {
    let namespaces: Vec<&str> = match &peer.namespace_selector {
        None => vec![namespace],
        Some(selector) => cluster
            .namespaces
            .iter()
            .filter(|(name, labels)| namespace_matches(selector, name, labels))
            .map(|(name, _)| name.as_str())
            .collect(),
    };
    namespaces
        .into_iter()
        .filter_map(|name| cluster.pods.get(name))
        .flat_map(BTreeMap::values)
        .filter(|pod| {
            peer.pod_selector
                .as_ref()
                .is_none_or(|selector| selector.matches(&pod.labels))
        })
        .collect()
}

/// Whether a namespace's labels, with Kubernetes' name label, match `selector`.
fn namespace_matches(selector: &LabelSelector, name: &str, labels: &Labels) -> bool {
    if labels.contains_key(NAMESPACE_NAME_LABEL) {
        return selector.matches(labels);
    }
    let mut labels = labels.clone();
    labels.insert(NAMESPACE_NAME_LABEL.to_owned(), name.to_owned());
    selector.matches(&labels)
}

/// Each of the rule's named ports on `pods`: the `address:port` of every pod with a container
/// port of that name and protocol, in numeric order.
fn named_ports(ports: &[&NetworkPolicyPort], pods: Vec<&PodView>) -> Vec<ResolvedNamedPort> {
    ports
        .iter()
        .filter_map(|port| {
            let name = port.name()?;
            let protocol = port.protocol();
            let endpoints: BTreeSet<SocketAddrV4> = pods
                .iter()
                .flat_map(|pod| {
                    pod.named_ports
                        .iter()
                        .filter(|(named, by, _)| named == name && by == protocol)
                        .map(|(_, _, number)| SocketAddrV4::new(pod.address, *number))
                })
                .collect();
            Some(ResolvedNamedPort {
                port: name.to_owned(),
                protocol: protocol.to_owned(),
                endpoints: endpoints.iter().map(ToString::to_string).collect(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use flotilla_kernel::object::{
        Container, ContainerPort, IntOrString, IpBlock, NetworkPolicyEgressRule,
        NetworkPolicyIngressRule, PodPhase,
    };

    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn selector(pairs: &[(&str, &str)]) -> LabelSelector {
        LabelSelector {
            match_labels: labels(pairs),
            ..LabelSelector::default()
        }
    }

    fn view(address: &str, pairs: &[(&str, &str)], ports: &[(&str, &str, u16)]) -> PodView {
        PodView {
            labels: labels(pairs),
            address: address.parse().unwrap(),
            named_ports: ports
                .iter()
                .map(|(name, protocol, number)| (name.to_string(), protocol.to_string(), *number))
                .collect(),
        }
    }

    /// default: web (10.42.0.5, 10.42.0.10), db (10.42.0.6); prod: web (10.42.1.5) and a
    /// metrics pod; kube-system: dns (10.42.2.2, named port dns/UDP 53).
    fn world() -> (
        BTreeMap<String, BTreeMap<String, PodView>>,
        BTreeMap<String, Labels>,
    ) {
        let pods = BTreeMap::from([
            (
                "default".to_string(),
                BTreeMap::from([
                    (
                        "web-1".to_string(),
                        view("10.42.0.5", &[("app", "web")], &[("http", "TCP", 8080)]),
                    ),
                    (
                        "web-2".to_string(),
                        view("10.42.0.10", &[("app", "web")], &[("http", "TCP", 8081)]),
                    ),
                    ("db".to_string(), view("10.42.0.6", &[("app", "db")], &[])),
                ]),
            ),
            (
                "prod".to_string(),
                BTreeMap::from([
                    (
                        "web".to_string(),
                        view("10.42.1.5", &[("app", "web")], &[("http", "UDP", 9000)]),
                    ),
                    (
                        "metrics".to_string(),
                        view("10.42.1.6", &[("app", "metrics")], &[]),
                    ),
                ]),
            ),
            (
                "kube-system".to_string(),
                BTreeMap::from([(
                    "dns".to_string(),
                    view(
                        "10.42.2.2",
                        &[("k8s-app", "kube-dns")],
                        &[("dns", "UDP", 53)],
                    ),
                )]),
            ),
        ]);
        let namespaces = BTreeMap::from([
            ("default".to_string(), labels(&[])),
            ("prod".to_string(), labels(&[("env", "prod")])),
            ("kube-system".to_string(), labels(&[])),
        ]);
        (pods, namespaces)
    }

    fn pods_peer(
        pod: Option<&[(&str, &str)]>,
        namespace: Option<&[(&str, &str)]>,
    ) -> NetworkPolicyPeer {
        NetworkPolicyPeer {
            pod_selector: pod.map(selector),
            namespace_selector: namespace.map(selector),
            ..NetworkPolicyPeer::default()
        }
    }

    fn policy(
        ingress: Vec<NetworkPolicyIngressRule>,
        egress: Vec<NetworkPolicyEgressRule>,
    ) -> NetworkPolicy {
        let mut policy = NetworkPolicy::default();
        policy.metadata.namespace = "default".into();
        policy.metadata.generation = 4;
        policy.spec.ingress = ingress;
        policy.spec.egress = egress;
        policy
    }

    /// `rule: addresses` of each resolved peer.
    fn resolved(policy: &NetworkPolicy) -> Vec<String> {
        let (pods, namespaces) = world();
        let status = resolve(
            policy,
            Cluster {
                pods: &pods,
                namespaces: &namespaces,
            },
        );
        assert_eq!(status.observed_generation, 4);
        status
            .peers
            .iter()
            .map(|peer| format!("{}: {}", peer.rule, peer.addresses.join(",")))
            .collect()
    }

    #[test]
    fn selectors_pick_pods_of_the_policy_s_namespace_or_the_selected_ones() {
        let policy = policy(
            vec![NetworkPolicyIngressRule {
                from: vec![
                    pods_peer(Some(&[("app", "web")]), None),
                    pods_peer(None, Some(&[("env", "prod")])),
                    pods_peer(Some(&[("app", "web")]), Some(&[])),
                    NetworkPolicyPeer {
                        ip_block: Some(IpBlock {
                            cidr: "10.0.0.0/8".into(),
                            except: vec![],
                        }),
                        ..NetworkPolicyPeer::default()
                    },
                    pods_peer(None, Some(&[(NAMESPACE_NAME_LABEL, "kube-system")])),
                    pods_peer(Some(&[("app", "nothing")]), None),
                ],
                ..NetworkPolicyIngressRule::default()
            }],
            vec![NetworkPolicyEgressRule {
                to: vec![pods_peer(Some(&[]), None)],
                ..NetworkPolicyEgressRule::default()
            }],
        );
        assert_eq!(
            resolved(&policy),
            [
                // Numeric order, not text order.
                "ingress[0].from[0]: 10.42.0.5,10.42.0.10",
                "ingress[0].from[1]: 10.42.1.5,10.42.1.6",
                "ingress[0].from[2]: 10.42.0.5,10.42.0.10,10.42.1.5",
                "ingress[0].from[4]: 10.42.2.2",
                "ingress[0].from[5]: ",
                "egress[0].to[0]: 10.42.0.5,10.42.0.6,10.42.0.10",
            ]
        );
    }

    #[test]
    fn pods_without_an_address_terminal_or_on_the_host_network_are_not_peers() {
        let mut pod = Pod::default();
        assert_eq!(PodView::of(&pod), None, "no address yet");
        pod.status.pod_ip = "10.42.0.7".into();
        pod.spec.containers = vec![Container {
            ports: vec![
                ContainerPort {
                    name: "http".into(),
                    container_port: 8080,
                    ..ContainerPort::default()
                },
                ContainerPort {
                    container_port: 9090,
                    ..ContainerPort::default()
                },
            ],
            ..Container::default()
        }];
        let seen = PodView::of(&pod).expect("a pending pod with an address is a peer");
        assert_eq!(
            seen.named_ports,
            [("http".to_string(), "TCP".to_string(), 8080)]
        );
        pod.status.phase = PodPhase::Succeeded;
        assert_eq!(PodView::of(&pod), None, "terminal");
        pod.status.phase = PodPhase::Running;
        pod.spec.host_network = true;
        assert_eq!(PodView::of(&pod), None, "on the host's network");
    }

    #[test]
    fn egress_named_ports_are_resolved_on_the_peers_and_on_everyone_without_to() {
        let http = NetworkPolicyPort {
            protocol: "TCP".into(),
            port: Some(IntOrString::String("http".into())),
            end_port: None,
        };
        let dns = NetworkPolicyPort {
            protocol: "UDP".into(),
            port: Some(IntOrString::String("dns".into())),
            end_port: None,
        };
        let numbered = NetworkPolicyPort {
            protocol: "TCP".into(),
            port: Some(IntOrString::Int(443)),
            end_port: None,
        };
        let policy = policy(
            vec![NetworkPolicyIngressRule {
                ports: vec![http.clone()],
                from: vec![pods_peer(Some(&[("app", "web")]), None)],
            }],
            vec![
                NetworkPolicyEgressRule {
                    ports: vec![http.clone(), numbered.clone()],
                    to: vec![pods_peer(Some(&[("app", "web")]), Some(&[]))],
                },
                NetworkPolicyEgressRule {
                    ports: vec![dns],
                    to: vec![],
                },
                NetworkPolicyEgressRule {
                    ports: vec![numbered],
                    to: vec![],
                },
            ],
        );
        let (pods, namespaces) = world();
        let status = resolve(
            &policy,
            Cluster {
                pods: &pods,
                namespaces: &namespaces,
            },
        );
        let rules: Vec<&str> = status.peers.iter().map(|p| p.rule.as_str()).collect();
        assert_eq!(
            rules,
            ["ingress[0].from[0]", "egress[0].to[0]", "egress[1].to"]
        );
        // Ingress named ports are the node's to resolve.
        assert!(status.peers[0].named_ports.is_empty());
        // The UDP port named http in prod is another port.
        assert_eq!(
            status.peers[1].named_ports,
            [ResolvedNamedPort {
                port: "http".into(),
                protocol: "TCP".into(),
                endpoints: vec!["10.42.0.5:8080".into(), "10.42.0.10:8081".into()],
            }]
        );
        assert!(status.peers[2].addresses.is_empty());
        assert_eq!(status.peers[2].named_ports[0].endpoints, ["10.42.2.2:53"]);
    }
}
