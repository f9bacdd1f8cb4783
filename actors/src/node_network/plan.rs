//! The pure core of the node's network: from what the Nodes say and the backend, the node's own
//! pod range, how the other nodes' ranges are reached, the set of all ranges (pod-to-pod
//! traffic keeps its source address; the rest is masqueraded) and the pods' MTU.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

use flotilla_kernel::object::{Node, NodeAddress};
use flotilla_node_os::network::routes::PeerRoute;
use flotilla_node_os::network::vxlan::{self, Overlay, Peer};

/// How this node reaches the other nodes' pods (`--network-backend`), as flannel's backends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// A route to each other node's range via that node's address: the nodes share a layer-2
    /// segment.
    HostGw,
    /// A VXLAN overlay: the nodes only need to reach each other's addresses over UDP.
    Vxlan,
}

impl Backend {
    /// The MTU of the pods' interfaces; `None`: the CNI plug-in's default (1500).
    fn pod_mtu(self) -> Option<u32> {
        match self {
            Backend::HostGw => None,
            Backend::Vxlan => Some(vxlan::MTU),
        }
    }
}

/// What the node network needs to know of one Node.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NodeView {
    pub pod_range: Option<Ipv4Net>,
    pub address: Option<Ipv4Addr>,
}

impl NodeView {
    pub fn of(node: &Node) -> NodeView {
        NodeView {
            pod_range: node.spec.pod_cidr.parse().ok(),
            address: node
                .status
                .addresses
                .iter()
                .find(|a| a.type_ == NodeAddress::INTERNAL_IP)
                .and_then(|a| a.address.parse().ok()),
        }
    }
}

/// The node's address on its pods' bridge, their gateway: the first of its range (as the
/// bridge plug-in picks it). The node's cluster DNS server listens there.
pub fn pod_gateway(range: Ipv4Net) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(range.network()).saturating_add(1))
}

/// The node's network as it should be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkPlan {
    /// This node's pods' range; `None` until the IPAM controller gives one.
    pub own_range: Option<Ipv4Net>,
    /// How the other nodes' ranges are reached.
    pub peers: PeerNetwork,
    /// Every node's range.
    pub pod_ranges: Vec<Ipv4Net>,
    /// The MTU of the pods' interfaces; `None`: the CNI plug-in's default.
    pub pod_mtu: Option<u32>,
}

/// How the other nodes' ranges are reached, by backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PeerNetwork {
    /// host-gw: each other node's range, via its address.
    Routes(Vec<PeerRoute>),
    /// vxlan: the overlay; `None` until this node has both its range and its address.
    Overlay(Option<Overlay>),
}

impl PeerNetwork {
    /// How many other nodes are reached.
    pub fn count(&self) -> usize {
        match self {
            PeerNetwork::Routes(routes) => routes.len(),
            PeerNetwork::Overlay(overlay) => overlay.as_ref().map_or(0, |o| o.peers.len()),
        }
    }
}

/// The plan for node `own` among `nodes` (by name) with `backend`. A peer without a range or an
/// address yet is not reached until it has both.
pub fn plan(own: &str, nodes: &BTreeMap<String, NodeView>, backend: Backend) -> NetworkPlan {
    let own_view = nodes.get(own);
    let own_range = own_view.and_then(|view| view.pod_range);
    let peers = nodes
        .iter()
        .filter(|(name, _)| name.as_str() != own)
        .filter_map(|(_, view)| {
            Some(Peer {
                range: view.pod_range?,
                node: view.address?,
            })
        });
    let peers = match backend {
        Backend::HostGw => PeerNetwork::Routes(
            peers
                .map(|peer| PeerRoute {
                    range: peer.range,
                    via: peer.node,
                })
                .collect(),
        ),
        Backend::Vxlan => PeerNetwork::Overlay(own_view.and_then(|view| {
            Some(Overlay {
                local: view.address?,
                range: view.pod_range?,
                peers: peers.collect(),
            })
        })),
    };
    let mut pod_ranges: Vec<Ipv4Net> = nodes.values().filter_map(|view| view.pod_range).collect();
    pod_ranges.sort();
    pod_ranges.dedup();
    NetworkPlan {
        own_range,
        peers,
        pod_ranges,
        pod_mtu: backend.pod_mtu(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(range: Option<&str>, address: Option<&str>) -> NodeView {
        NodeView {
            pod_range: range.map(|r| r.parse().unwrap()),
            address: address.map(|a| a.parse().unwrap()),
        }
    }

    #[test]
    fn peers_are_routed_via_their_addresses_once_they_have_both() {
        let nodes = BTreeMap::from([
            (
                "a".to_string(),
                view(Some("10.42.0.0/24"), Some("192.0.2.1")),
            ),
            (
                "b".to_string(),
                view(Some("10.42.1.0/24"), Some("192.0.2.2")),
            ),
            ("c".to_string(), view(None, Some("192.0.2.3"))),
            ("d".to_string(), view(Some("10.42.3.0/24"), None)),
        ]);
        let plan = plan("a", &nodes, Backend::HostGw);
        assert_eq!(plan.own_range, Some("10.42.0.0/24".parse().unwrap()));
        assert_eq!(
            plan.peers,
            PeerNetwork::Routes(vec![PeerRoute {
                range: "10.42.1.0/24".parse().unwrap(),
                via: "192.0.2.2".parse().unwrap(),
            }])
        );
        assert_eq!(plan.peers.count(), 1);
        let ranges: Vec<String> = plan.pod_ranges.iter().map(ToString::to_string).collect();
        assert_eq!(ranges, ["10.42.0.0/24", "10.42.1.0/24", "10.42.3.0/24"]);
        assert_eq!(plan.pod_mtu, None);
    }

    #[test]
    fn the_overlay_reaches_the_same_peers_from_the_nodes_own_address() {
        let nodes = BTreeMap::from([
            (
                "a".to_string(),
                view(Some("10.42.0.0/24"), Some("192.0.2.1")),
            ),
            (
                "b".to_string(),
                view(Some("10.42.1.0/24"), Some("192.0.2.2")),
            ),
            ("c".to_string(), view(None, Some("192.0.2.3"))),
        ]);
        let plan = plan("a", &nodes, Backend::Vxlan);
        assert_eq!(
            plan.peers,
            PeerNetwork::Overlay(Some(Overlay {
                local: "192.0.2.1".parse().unwrap(),
                range: "10.42.0.0/24".parse().unwrap(),
                peers: vec![Peer {
                    range: "10.42.1.0/24".parse().unwrap(),
                    node: "192.0.2.2".parse().unwrap(),
                }],
            }))
        );
        assert_eq!(plan.pod_mtu, Some(1450));
        assert_eq!(plan.pod_ranges.len(), 2);
    }

    #[test]
    fn the_overlay_waits_for_the_nodes_range_and_address() {
        for own in [
            view(None, Some("192.0.2.1")),
            view(Some("10.42.0.0/24"), None),
        ] {
            let nodes = BTreeMap::from([
                ("a".to_string(), own),
                (
                    "b".to_string(),
                    view(Some("10.42.1.0/24"), Some("192.0.2.2")),
                ),
            ]);
            let plan = plan("a", &nodes, Backend::Vxlan);
            assert_eq!(plan.peers, PeerNetwork::Overlay(None));
            assert_eq!(plan.peers.count(), 0);
        }
    }

    #[test]
    fn the_gateway_is_the_first_address_of_the_range() {
        let range: Ipv4Net = "10.42.3.0/24".parse().unwrap();
        assert_eq!(pod_gateway(range), Ipv4Addr::new(10, 42, 3, 1));
    }

    #[test]
    fn a_node_without_a_range_waits() {
        let nothing = NetworkPlan {
            own_range: None,
            peers: PeerNetwork::Routes(Vec::new()),
            pod_ranges: Vec::new(),
            pod_mtu: None,
        };
        let nodes = BTreeMap::from([("a".to_string(), view(None, Some("192.0.2.1")))]);
        assert_eq!(plan("a", &nodes, Backend::HostGw), nothing);
        assert_eq!(plan("unknown", &BTreeMap::new(), Backend::HostGw), nothing);
    }

    #[test]
    fn node_views_read_the_range_and_internal_address() {
        let mut node = Node::default();
        node.spec.pod_cidr = "10.42.5.0/24".into();
        node.status.addresses = vec![
            NodeAddress {
                type_: NodeAddress::HOSTNAME.into(),
                address: "n1".into(),
            },
            NodeAddress {
                type_: NodeAddress::INTERNAL_IP.into(),
                address: "192.0.2.9".into(),
            },
        ];
        assert_eq!(
            NodeView::of(&node),
            view(Some("10.42.5.0/24"), Some("192.0.2.9"))
        );
    }
}
