//! The pure core of the enforcer: this node's pods and the cluster's NetworkPolicies in, the
//! node's policy table out — for each pod a policy selects, what it accepts and what it may
//! send, with Kubernetes' semantics:
//!
//! - A pod is isolated in a direction when a policy of its namespace selects it and has that
//!   direction in `policyTypes`; it then allows the union of the rules of every such policy,
//!   and nothing else. A pod no policy selects is unaffected.
//! - A rule allows traffic from (to) any of its peers — everyone when it has none — on any of
//!   its ports — every port and protocol when it has none. Peers with selectors stand for the
//!   addresses the controller wrote in the policy's status, and only while that status is for
//!   the policy's current generation (until then they allow nothing); `ipBlock`s stand for
//!   their range less the exceptions (IPv6 ones for nothing: pods are IPv4).
//! - An ingress rule's named port is the selected pod's own container port of that name and
//!   protocol; an egress rule's is the destination's, as resolved in the status.
//!
//! Every policy rule whose peers a pod uses gets one address set, shared by all the pods the
//! policy selects; a pod's rules are sorted and deduplicated so that the table does not depend
//! on the order policies arrive in.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddrV4};

use ipnet::{IpNet, Ipv4Net};

use flotilla_kernel::object::{
    IntOrString, IpBlock, NetworkPolicy, NetworkPolicyPeer, NetworkPolicyPort, PeerPath, Pod,
    PolicyType,
};
use flotilla_node_os::network::policy_table::{Endpoint, PodRules, Ports, Protocol, Rule, Table};
use flotilla_node_os::network::service_table::object_name;

/// The table for `pods` (this node's) under `policies` (all of them).
pub fn plan<'a>(
    pods: impl IntoIterator<Item = &'a Pod>,
    policies: impl IntoIterator<Item = &'a NetworkPolicy>,
) -> Table {
    let mut by_namespace: BTreeMap<&str, Vec<&NetworkPolicy>> = BTreeMap::new();
    for policy in policies {
        by_namespace
            .entry(policy.metadata.namespace.as_str())
            .or_default()
            .push(policy);
    }
    let mut table = Table::default();
    for pod in pods {
        let Some(address) = enforced_address(pod) else {
            continue;
        };
        let selecting: Vec<&NetworkPolicy> = by_namespace
            .get(pod.metadata.namespace.as_str())
            .into_iter()
            .flatten()
            .copied()
            .filter(|policy| policy.spec.pod_selector.matches(&pod.metadata.labels))
            .collect();
        let rules = PodRules {
            ingress: pod_rules(&mut table, pod, &selecting, PolicyType::Ingress),
            egress: pod_rules(&mut table, pod, &selecting, PolicyType::Egress),
        };
        if rules.ingress.is_some() || rules.egress.is_some() {
            table.pods.insert(address, rules);
        }
    }
    table
}

/// The address a pod's traffic is filtered by: a live pod's own, not the host's.
fn enforced_address(pod: &Pod) -> Option<Ipv4Addr> {
    if pod.is_terminal() || pod.spec.host_network {
        return None;
    }
    pod.status.pod_ip.parse().ok()
}

/// What `pod` allows in `direction` under the policies selecting it; `None` when none of them
/// isolates it in that direction. The sets the rules use are added to `table`.
fn pod_rules(
    table: &mut Table,
    pod: &Pod,
    selecting: &[&NetworkPolicy],
    direction: PolicyType,
) -> Option<Vec<Rule>> {
    let mut isolated = false;
    let mut rules = Vec::new();
    for policy in selecting {
        if !policy.spec.isolates(direction) {
            continue;
        }
        isolated = true;
        for (index, (peers, ports)) in rules_of(policy, direction).into_iter().enumerate() {
            let numbered: Vec<Ports> = ports
                .iter()
                .flat_map(|port| numbered_ports(pod, direction, port))
                .collect();
            // The peers' set only for rules that use it (not those of named ports alone).
            let uses_peers = !peers.is_empty() && (ports.is_empty() || !numbered.is_empty());
            let set = uses_peers.then(|| peer_set(table, policy, direction, index, peers));
            if ports.is_empty() {
                rules.push(Rule::Allow {
                    peers: set.clone(),
                    ports: None,
                });
            }
            for ports in numbered {
                rules.push(Rule::Allow {
                    peers: set.clone(),
                    ports: Some(ports),
                });
            }
            if direction == PolicyType::Egress && ports.iter().any(|port| port.name().is_some()) {
                let set = endpoint_set(table, policy, index, peers);
                rules.push(Rule::AllowEndpoints(set));
            }
        }
    }
    if !isolated {
        return None;
    }
    rules.sort();
    rules.dedup();
    Some(rules)
}

/// The peers and ports of each of the policy's rules of `direction`.
fn rules_of(
    policy: &NetworkPolicy,
    direction: PolicyType,
) -> Vec<(&[NetworkPolicyPeer], &[NetworkPolicyPort])> {
    match direction {
        PolicyType::Ingress => policy
            .spec
            .ingress
            .iter()
            .map(|rule| (rule.from.as_slice(), rule.ports.as_slice()))
            .collect(),
        PolicyType::Egress => policy
            .spec
            .egress
            .iter()
            .map(|rule| (rule.to.as_slice(), rule.ports.as_slice()))
            .collect(),
    }
}

/// The ports a port entry stands for as numbers: itself, or for an ingress named port the
/// pod's own ports of that name and protocol (none if it has none). An egress named port is
/// the destination's, in the endpoint set instead.
fn numbered_ports(pod: &Pod, direction: PolicyType, port: &NetworkPolicyPort) -> Vec<Ports> {
    let Some(protocol) = protocol(port.protocol()) else {
        return Vec::new();
    };
    match &port.port {
        None => vec![Ports {
            protocol,
            range: None,
        }],
        Some(IntOrString::Int(number)) => {
            let first = u16::try_from(*number).ok();
            let last = port.end_port.map_or(first, |end| u16::try_from(end).ok());
            match (first, last) {
                (Some(first), Some(last)) if first <= last => vec![Ports {
                    protocol,
                    range: Some((first, last)),
                }],
                _ => Vec::new(),
            }
        }
        Some(IntOrString::String(name)) if direction == PolicyType::Ingress => pod
            .spec
            .containers
            .iter()
            .flat_map(|container| &container.ports)
            .filter(|own| own.name == *name && own_protocol(&own.protocol) == port.protocol())
            .filter_map(|own| u16::try_from(own.container_port).ok())
            .map(|number| Ports {
                protocol,
                range: Some((number, number)),
            })
            .collect(),
        Some(IntOrString::String(_)) => Vec::new(),
    }
}

/// A container port's protocol, `TCP` when unset.
fn own_protocol(protocol: &str) -> &str {
    if protocol.is_empty() { "TCP" } else { protocol }
}

fn protocol(name: &str) -> Option<Protocol> {
    match name {
        "TCP" => Some(Protocol::Tcp),
        "UDP" => Some(Protocol::Udp),
        "SCTP" => Some(Protocol::Sctp),
        _ => None,
    }
}

/// The name of the set of the rule's peers, which is added to `table` with them.
fn peer_set(
    table: &mut Table,
    policy: &NetworkPolicy,
    direction: PolicyType,
    rule: usize,
    peers: &[NetworkPolicyPeer],
) -> String {
    let name = set_name("peers-", policy, direction, rule);
    if !table.address_sets.contains_key(&name) {
        let mut ranges = Vec::new();
        for (index, peer) in peers.iter().enumerate() {
            if let Some(block) = &peer.ip_block {
                ranges.extend(block_ranges(block));
            }
            let path = PeerPath {
                direction,
                rule,
                peer: Some(index),
            };
            let resolved = policy.resolved(path).filter(|_| peer.selects_pods());
            let addresses = resolved.into_iter().flat_map(|peer| &peer.addresses);
            ranges.extend(
                addresses
                    .filter_map(|address| address.parse::<Ipv4Addr>().ok())
                    .map(Ipv4Net::from),
            );
        }
        ranges.sort();
        ranges.dedup();
        table.address_sets.insert(name.clone(), ranges);
    }
    name
}

/// The name of the set of where the egress rule's named ports are on its peers (on every pod
/// when it has none), which is added to `table` with them.
fn endpoint_set(
    table: &mut Table,
    policy: &NetworkPolicy,
    rule: usize,
    peers: &[NetworkPolicyPeer],
) -> String {
    let name = set_name("endpoints-", policy, PolicyType::Egress, rule);
    if table.endpoint_sets.contains_key(&name) {
        return name;
    }
    let paths: Vec<PeerPath> = if peers.is_empty() {
        vec![PeerPath {
            direction: PolicyType::Egress,
            rule,
            peer: None,
        }]
    } else {
        (0..peers.len())
            .map(|index| PeerPath {
                direction: PolicyType::Egress,
                rule,
                peer: Some(index),
            })
            .collect()
    };
    let mut endpoints: Vec<Endpoint> = paths
        .into_iter()
        .filter_map(|path| policy.resolved(path))
        .flat_map(|resolved| &resolved.named_ports)
        .filter_map(|named| Some((protocol(&named.protocol)?, &named.endpoints)))
        .flat_map(|(protocol, endpoints)| {
            endpoints.iter().filter_map(move |endpoint| {
                let endpoint: SocketAddrV4 = endpoint.parse().ok()?;
                Some(Endpoint {
                    address: *endpoint.ip(),
                    protocol,
                    port: endpoint.port(),
                })
            })
        })
        .collect();
    endpoints.sort();
    endpoints.dedup();
    table.endpoint_sets.insert(name.clone(), endpoints);
    name
}

/// `peers-default/db/ingress/0`, hashed when too long for nftables.
fn set_name(prefix: &str, policy: &NetworkPolicy, direction: PolicyType, rule: usize) -> String {
    let meta = &policy.metadata;
    let word = match direction {
        PolicyType::Ingress => "ingress",
        PolicyType::Egress => "egress",
    };
    object_name(
        prefix,
        &[&meta.namespace, &meta.name, word, &rule.to_string()],
    )
}

/// The IPv4 ranges of a block: its CIDR (host bits ignored) less its exceptions; nothing for
/// an IPv6 block or one that does not parse.
fn block_ranges(block: &IpBlock) -> Vec<Ipv4Net> {
    let Ok(IpNet::V4(cidr)) = block.cidr.parse::<IpNet>() else {
        return Vec::new();
    };
    let except: Vec<Ipv4Net> = block
        .except
        .iter()
        .filter_map(|text| match text.parse::<IpNet>() {
            Ok(IpNet::V4(net)) => Some(net.trunc()),
            _ => None,
        })
        .collect();
    let mut ranges = Vec::new();
    exclude(cidr.trunc(), &except, &mut ranges);
    ranges
}

/// Adds to `out` the parts of `range` in none of `except`, as few prefixes as halving gives.
fn exclude(range: Ipv4Net, except: &[Ipv4Net], out: &mut Vec<Ipv4Net>) {
    let overlapping: Vec<Ipv4Net> = except
        .iter()
        .copied()
        .filter(|hole| hole.contains(&range.network()) || range.contains(&hole.network()))
        .collect();
    if overlapping.is_empty() {
        out.push(range);
        return;
    }
    if overlapping.iter().any(|hole| hole.contains(&range)) {
        return;
    }
    // Some hole lies strictly inside: look at both halves.
    let Ok(halves) = range.subnets(range.prefix_len() + 1) else {
        return;
    };
    for half in halves {
        exclude(half, &overlapping, out);
    }
}

#[cfg(test)]
mod tests;
