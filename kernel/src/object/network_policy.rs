//! `NetworkPolicy` (`networking.k8s.io/v1`): which traffic the pods a policy selects accept
//! (ingress) and send (egress). A pod selected by no policy of a direction is unaffected in
//! that direction; a selected one allows only what some policy selecting it allows, and the
//! replies of allowed connections. The spec and its defaults are Kubernetes' own.
//!
//! The status is flotilla's: the network policy controller writes there what each peer with a
//! pod or namespace selector stands for — the addresses of the running pods it selects, and for
//! egress rules with named ports the `address:port` each named port is on those pods — because
//! the nodes that enforce the policy may read neither the other nodes' pods nor the
//! Namespaces. It is derived, written only by the controller, sorted so that an unchanged
//! resolution writes nothing, and trusted by the nodes only while `observedGeneration` is the
//! policy's generation:
//!
//! ```yaml
//! status:
//!   observedGeneration: 2
//!   peers:
//!   - rule: ingress[0].from[0]          # a peer of the spec, by its path
//!     addresses: [10.42.0.5, 10.42.1.7]
//!   - rule: egress[0].to[1]
//!     addresses: [10.42.2.3]
//!     namedPorts:                       # the rule's named ports, on those pods
//!     - port: http
//!       protocol: TCP
//!       endpoints: ["10.42.2.3:8080"]
//!   - rule: egress[1].to                # a rule without `to`: named ports on every pod
//!     namedPorts: [...]
//! ```
//!
//! `ipBlock` peers need no resolution and have no entry; nor do ingress named ports, which
//! name ports of the selected pod itself and are looked up by its node.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::intstr::IntOrString;
use super::labels::LabelSelector;
use super::meta::ObjectMeta;
use super::omit::is_zero_i64;

/// The label Kubernetes gives every Namespace, with its name as value, so that a
/// `namespaceSelector` can pick a namespace by name. flotilla's Namespaces do not carry it;
/// selectors see it all the same.
pub const NAMESPACE_NAME_LABEL: &str = "kubernetes.io/metadata.name";

/// Traffic rules for the pods a selector picks in the policy's namespace.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NetworkPolicy {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub api_version: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub kind: String,
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub spec: NetworkPolicySpec,
    #[serde(default)]
    pub status: NetworkPolicyStatus,
}

/// Which pods the policy isolates, in which directions, and what it allows them.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NetworkPolicySpec {
    /// The pods of the namespace the policy applies to; empty selects them all.
    #[serde(default)]
    pub pod_selector: LabelSelector,
    /// What the selected pods accept; each rule allows on its own (their union).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ingress: Vec<NetworkPolicyIngressRule>,
    /// What the selected pods may send.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub egress: Vec<NetworkPolicyEgressRule>,
    /// The directions the policy isolates; defaulted to `Ingress`, and `Egress` too when there
    /// are egress rules.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub policy_types: Vec<PolicyType>,
}

/// A direction of traffic, as seen from the selected pods.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum PolicyType {
    Ingress,
    Egress,
}

/// Traffic the selected pods accept: from any of `from` (anyone when empty) to any of `ports`
/// (any port when empty).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NetworkPolicyIngressRule {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<NetworkPolicyPort>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub from: Vec<NetworkPolicyPeer>,
}

/// Traffic the selected pods may send: to any of `to` (anywhere when empty) on any of `ports`
/// (any port when empty).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NetworkPolicyEgressRule {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<NetworkPolicyPort>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub to: Vec<NetworkPolicyPeer>,
}

/// The other end of the traffic: pods by label (in the policy's namespace, or in the
/// namespaces `namespaceSelector` picks), or a block of addresses. Exactly one of `ipBlock`
/// and the selectors.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NetworkPolicyPeer {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_selector: Option<LabelSelector>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace_selector: Option<LabelSelector>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_block: Option<IpBlock>,
}

/// Addresses in `cidr` but in none of `except`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IpBlock {
    #[serde(default)]
    pub cidr: String,
    /// Ranges inside `cidr` left out of it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub except: Vec<String>,
}

/// A port, or a range of ports, of one protocol.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NetworkPolicyPort {
    /// `TCP` (the default), `UDP` or `SCTP`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub protocol: String,
    /// A number, or the name of a container port of the destination pod; every port of the
    /// protocol when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<IntOrString>,
    /// The last port of the range starting at `port` (a number).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_port: Option<i32>,
}

/// What the network policy controller resolved the policy's peers to (see the module
/// documentation).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NetworkPolicyStatus {
    /// The generation of the spec `peers` were resolved for.
    #[serde(default, skip_serializing_if = "is_zero_i64")]
    pub observed_generation: i64,
    /// One entry per peer with a selector, and per egress rule without `to` but with named
    /// ports, in the order of the spec.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub peers: Vec<ResolvedPeer>,
}

/// The pods one peer stands for.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResolvedPeer {
    /// The peer's path in the spec (`ingress[0].from[1]`, `egress[1].to`): see [`PeerPath`].
    #[serde(default)]
    pub rule: String,
    /// The selected pods' addresses, in numeric order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub addresses: Vec<String>,
    /// For egress rules, each named port of the rule on the selected pods.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub named_ports: Vec<ResolvedNamedPort>,
}

/// Where a named port of an egress rule is on the pods of one peer.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResolvedNamedPort {
    /// The port's name, as the rule gives it.
    #[serde(default)]
    pub port: String,
    #[serde(default)]
    pub protocol: String,
    /// `address:port` of every selected pod with a container port of that name and protocol,
    /// in numeric order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub endpoints: Vec<String>,
}

/// A peer's place in a policy's spec, as [`ResolvedPeer::rule`] spells it: `ingress[0].from[1]`,
/// `egress[2].to[0]`, or `egress[1].to` for the whole (empty) `to` of an egress rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PeerPath {
    pub direction: PolicyType,
    pub rule: usize,
    /// The peer's index; `None` for a rule without peers.
    pub peer: Option<usize>,
}

impl PolicyType {
    /// The `policyTypes` value (`"Ingress"`).
    pub fn as_str(self) -> &'static str {
        match self {
            PolicyType::Ingress => "Ingress",
            PolicyType::Egress => "Egress",
        }
    }
}

impl NetworkPolicySpec {
    /// The directions the policy isolates, from `policyTypes` or, when it is empty (not yet
    /// defaulted), as defaulting would set it.
    pub fn isolates(&self, direction: PolicyType) -> bool {
        if self.policy_types.is_empty() {
            return direction == PolicyType::Ingress || !self.egress.is_empty();
        }
        self.policy_types.contains(&direction)
    }
}

impl NetworkPolicyPort {
    /// The protocol, `TCP` when unset.
    pub fn protocol(&self) -> &str {
        if self.protocol.is_empty() {
            "TCP"
        } else {
            &self.protocol
        }
    }

    /// The port's name, when it is a named port.
    pub fn name(&self) -> Option<&str> {
        match &self.port {
            Some(IntOrString::String(name)) => Some(name),
            _ => None,
        }
    }
}

impl NetworkPolicyPeer {
    /// Whether the peer selects pods (rather than being an `ipBlock`).
    pub fn selects_pods(&self) -> bool {
        self.pod_selector.is_some() || self.namespace_selector.is_some()
    }
}

impl NetworkPolicy {
    /// The resolution of the peer at `path`, if the status is for the current spec and has
    /// one.
    pub fn resolved(&self, path: PeerPath) -> Option<&ResolvedPeer> {
        if self.status.observed_generation != self.metadata.generation {
            return None;
        }
        let rule = path.to_string();
        self.status.peers.iter().find(|peer| peer.rule == rule)
    }
}

impl fmt::Display for PeerPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (rules, peers) = match self.direction {
            PolicyType::Ingress => ("ingress", "from"),
            PolicyType::Egress => ("egress", "to"),
        };
        write!(f, "{rules}[{}].{peers}", self.rule)?;
        if let Some(peer) = self.peer {
            write!(f, "[{peer}]")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn selector(key: &str, value: &str) -> LabelSelector {
        LabelSelector {
            match_labels: [(key.to_string(), value.to_string())].into(),
            ..LabelSelector::default()
        }
    }

    #[test]
    fn round_trips_with_kubernetes_field_names() {
        let policy = NetworkPolicy {
            metadata: ObjectMeta {
                name: "db".into(),
                namespace: "default".into(),
                generation: 2,
                ..ObjectMeta::default()
            },
            spec: NetworkPolicySpec {
                pod_selector: selector("role", "db"),
                ingress: vec![NetworkPolicyIngressRule {
                    from: vec![
                        NetworkPolicyPeer {
                            ip_block: Some(IpBlock {
                                cidr: "172.17.0.0/16".into(),
                                except: vec!["172.17.1.0/24".into()],
                            }),
                            ..NetworkPolicyPeer::default()
                        },
                        NetworkPolicyPeer {
                            namespace_selector: Some(selector("project", "myproject")),
                            pod_selector: Some(LabelSelector::default()),
                            ..NetworkPolicyPeer::default()
                        },
                    ],
                    ports: vec![NetworkPolicyPort {
                        protocol: "TCP".into(),
                        port: Some(IntOrString::Int(32000)),
                        end_port: Some(32768),
                    }],
                }],
                egress: vec![NetworkPolicyEgressRule::default()],
                policy_types: vec![PolicyType::Ingress, PolicyType::Egress],
            },
            status: NetworkPolicyStatus {
                observed_generation: 2,
                peers: vec![ResolvedPeer {
                    rule: "ingress[0].from[1]".into(),
                    addresses: vec!["10.42.0.5".into()],
                    named_ports: vec![ResolvedNamedPort {
                        port: "http".into(),
                        protocol: "TCP".into(),
                        endpoints: vec!["10.42.0.5:8080".into()],
                    }],
                }],
            },
            ..NetworkPolicy::default()
        };
        let value = serde_json::to_value(&policy).unwrap();
        assert_eq!(
            value,
            serde_json::json!({
                "metadata": {"name": "db", "namespace": "default", "generation": 2},
                "spec": {
                    "podSelector": {"matchLabels": {"role": "db"}},
                    "ingress": [{
                        "ports": [{"protocol": "TCP", "port": 32000, "endPort": 32768}],
                        "from": [
                            {"ipBlock": {"cidr": "172.17.0.0/16", "except": ["172.17.1.0/24"]}},
                            {
                                "podSelector": {},
                                "namespaceSelector": {"matchLabels": {"project": "myproject"}},
                            },
                        ],
                    }],
                    "egress": [{}],
                    "policyTypes": ["Ingress", "Egress"],
                },
                "status": {
                    "observedGeneration": 2,
                    "peers": [{
                        "rule": "ingress[0].from[1]",
                        "addresses": ["10.42.0.5"],
                        "namedPorts": [{
                            "port": "http", "protocol": "TCP", "endpoints": ["10.42.0.5:8080"],
                        }],
                    }],
                },
            })
        );
        assert_eq!(
            serde_json::from_value::<NetworkPolicy>(value).unwrap(),
            policy
        );
    }

    #[test]
    fn an_empty_policy_selects_every_pod_and_isolates_ingress() {
        let policy: NetworkPolicy = serde_json::from_str("{}").unwrap();
        assert!(policy.spec.pod_selector.is_empty());
        assert!(policy.spec.isolates(PolicyType::Ingress));
        assert!(!policy.spec.isolates(PolicyType::Egress));
        let mut spec = NetworkPolicySpec {
            egress: vec![NetworkPolicyEgressRule::default()],
            ..NetworkPolicySpec::default()
        };
        assert!(spec.isolates(PolicyType::Egress));
        spec.policy_types = vec![PolicyType::Egress];
        assert!(!spec.isolates(PolicyType::Ingress));
    }

    #[test]
    fn ports_and_peers_say_what_they_are() {
        let named = NetworkPolicyPort {
            port: Some(IntOrString::String("http".into())),
            ..NetworkPolicyPort::default()
        };
        assert_eq!(named.protocol(), "TCP");
        assert_eq!(named.name(), Some("http"));
        let numbered = NetworkPolicyPort {
            protocol: "UDP".into(),
            port: Some(IntOrString::Int(53)),
            ..NetworkPolicyPort::default()
        };
        assert_eq!((numbered.protocol(), numbered.name()), ("UDP", None));
        assert!(!NetworkPolicyPeer::default().selects_pods());
        let namespaces = NetworkPolicyPeer {
            namespace_selector: Some(LabelSelector::default()),
            ..NetworkPolicyPeer::default()
        };
        assert!(namespaces.selects_pods());
        assert_eq!(PolicyType::Egress.as_str(), "Egress");
        assert_eq!(
            serde_json::to_value(PolicyType::Ingress).unwrap(),
            "Ingress"
        );
    }

    #[test]
    fn peer_paths_name_the_peer_and_the_status_is_read_only_when_current() {
        let path = |direction, rule, peer| PeerPath {
            direction,
            rule,
            peer,
        };
        assert_eq!(
            path(PolicyType::Ingress, 0, Some(1)).to_string(),
            "ingress[0].from[1]"
        );
        assert_eq!(
            path(PolicyType::Egress, 2, Some(0)).to_string(),
            "egress[2].to[0]"
        );
        assert_eq!(
            path(PolicyType::Egress, 1, None).to_string(),
            "egress[1].to"
        );

        let mut policy = NetworkPolicy::default();
        policy.metadata.generation = 3;
        policy.status.observed_generation = 2;
        policy.status.peers = vec![ResolvedPeer {
            rule: "ingress[0].from[1]".into(),
            ..ResolvedPeer::default()
        }];
        let wanted = path(PolicyType::Ingress, 0, Some(1));
        assert_eq!(policy.resolved(wanted), None);
        policy.status.observed_generation = 3;
        assert_eq!(policy.resolved(wanted), Some(&policy.status.peers[0]));
        assert_eq!(policy.resolved(path(PolicyType::Ingress, 0, Some(0))), None);
    }
}
