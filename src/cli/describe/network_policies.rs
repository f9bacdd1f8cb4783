//! `describe networkpolicy`, as kubectl shows one: the pods it selects, then for each
//! direction it isolates the ports and peers of every rule, and the policy types. Beside each
//! peer with selectors, flotilla adds the addresses the controller resolved it to.

use flotilla_kernel::object::{
    NetworkPolicy, NetworkPolicyPeer, NetworkPolicyPort, PeerPath, PolicyType,
};

use super::super::label_text;
use super::layout::Layout;
use super::meta;

/// How many addresses of a peer are shown before `+ N more...`.
const SHOWN: usize = 3;

pub fn view(policy: &NetworkPolicy) -> String {
    let mut layout = Layout::default();
    let spec = &policy.spec;
    meta::identity(&mut layout, &policy.metadata, true);
    layout.section(0, "Spec");
    let selected = if spec.pod_selector.is_empty() {
        "<none> (Allowing the specific traffic to all pods in this namespace)".to_string()
    } else {
        label_text::selector(&spec.pod_selector)
    };
    layout.field(1, "PodSelector", selected);
    let ingress: Vec<(&[NetworkPolicyPort], &[NetworkPolicyPeer])> = spec
        .ingress
        .iter()
        .map(|rule| (rule.ports.as_slice(), rule.from.as_slice()))
        .collect();
    let egress: Vec<(&[NetworkPolicyPort], &[NetworkPolicyPeer])> = spec
        .egress
        .iter()
        .map(|rule| (rule.ports.as_slice(), rule.to.as_slice()))
        .collect();
    for (direction, rules) in [(PolicyType::Ingress, ingress), (PolicyType::Egress, egress)] {
        let word = direction.as_str().to_ascii_lowercase();
        if spec.isolates(direction) {
            layout.section(1, &format!("Allowing {word} traffic"));
            rules_view(&mut layout, policy, direction, &rules);
        } else {
            layout.text(1, format!("Not affecting {word} traffic"));
        }
    }
    let types: Vec<&str> = spec.policy_types.iter().map(|t| t.as_str()).collect();
    layout.field(1, "Policy Types", types.join(", "));
    layout.render()
}

/// The rules of one direction, kubectl's way: ports first, then peers, a line between rules.
fn rules_view(
    layout: &mut Layout,
    policy: &NetworkPolicy,
    direction: PolicyType,
    rules: &[(&[NetworkPolicyPort], &[NetworkPolicyPeer])],
) {
    let (peer_word, any_peer) = match direction {
        PolicyType::Ingress => ("From", "<any> (traffic not restricted by source)"),
        PolicyType::Egress => ("To", "<any> (traffic not restricted by destination)"),
    };
    if rules.is_empty() {
        let word = direction.as_str().to_ascii_lowercase();
        layout.text(
            2,
            format!("<none> (Selected pods are isolated for {word} connectivity)"),
        );
        return;
    }
    for (index, (ports, peers)) in rules.iter().enumerate() {
        if index > 0 {
            layout.text(2, "----------");
        }
        if ports.is_empty() {
            layout.field(2, "To Port", "<any> (traffic allowed to all ports)");
        }
        for port in *ports {
            layout.field(2, "To Port", port_text(port));
        }
        if peers.is_empty() {
            layout.field(2, peer_word, any_peer);
        }
        for (peer_index, peer) in peers.iter().enumerate() {
            layout.section(2, peer_word);
            let path = PeerPath {
                direction,
                rule: index,
                peer: Some(peer_index),
            };
            peer_view(layout, policy, path, peer);
        }
    }
}

fn peer_view(
    layout: &mut Layout,
    policy: &NetworkPolicy,
    path: PeerPath,
    peer: &NetworkPolicyPeer,
) {
    if let Some(selector) = &peer.namespace_selector {
        layout.field(3, "NamespaceSelector", label_text::selector(selector));
    }
    if let Some(selector) = &peer.pod_selector {
        layout.field(3, "PodSelector", label_text::selector(selector));
    }
    if let Some(block) = &peer.ip_block {
        layout.section(3, "IPBlock");
        layout.field(4, "CIDR", block.cidr.as_str());
        layout.field(4, "Except", block.except.join(", "));
    }
    if peer.selects_pods() {
        let addresses = match policy.resolved(path) {
            Some(resolved) => first_few(&resolved.addresses),
            None if policy.status.observed_generation == policy.metadata.generation => {
                "<none>".to_string()
            }
            None => "<not resolved yet>".to_string(),
        };
        layout.field(3, "Addresses", addresses);
    }
}

/// `6379/TCP`, `32000-32768/TCP`, `http/TCP`, `<any>/UDP`.
fn port_text(port: &NetworkPolicyPort) -> String {
    let number = match (&port.port, port.end_port) {
        (Some(port), Some(end)) => format!("{port}-{end}"),
        (Some(port), None) => port.to_string(),
        (None, _) => "<any>".to_string(),
    };
    format!("{number}/{}", port.protocol())
}

/// The first three addresses and how many more there are; `<none>` for none.
fn first_few(addresses: &[String]) -> String {
    match addresses.len() {
        0 => "<none>".to_string(),
        count if count > SHOWN => format!(
            "{} + {} more...",
            addresses[..SHOWN].join(","),
            count - SHOWN
        ),
        _ => addresses.join(","),
    }
}

#[cfg(test)]
mod tests {
    use flotilla_kernel::object::{
        IntOrString, IpBlock, LabelSelector, NetworkPolicyEgressRule, NetworkPolicyIngressRule,
        ResolvedPeer,
    };

    use super::*;

    fn selector(key: &str, value: &str) -> LabelSelector {
        LabelSelector {
            match_labels: [(key.to_string(), value.to_string())].into(),
            ..LabelSelector::default()
        }
    }

    /// The documentation's `test-network-policy`, resolved.
    fn documented() -> NetworkPolicy {
        let mut policy = NetworkPolicy::default();
        policy.metadata.name = "test-network-policy".to_string();
        policy.metadata.namespace = "default".to_string();
        policy.metadata.generation = 1;
        policy.spec.pod_selector = selector("role", "db");
        policy.spec.policy_types = vec![PolicyType::Ingress, PolicyType::Egress];
        policy.spec.ingress = vec![NetworkPolicyIngressRule {
            from: vec![
                NetworkPolicyPeer {
                    ip_block: Some(IpBlock {
                        cidr: "172.17.0.0/16".to_string(),
                        except: vec!["172.17.1.0/24".to_string()],
                    }),
                    ..NetworkPolicyPeer::default()
                },
                NetworkPolicyPeer {
                    namespace_selector: Some(selector("project", "myproject")),
                    ..NetworkPolicyPeer::default()
                },
                NetworkPolicyPeer {
                    pod_selector: Some(selector("role", "frontend")),
                    ..NetworkPolicyPeer::default()
                },
            ],
            ports: vec![NetworkPolicyPort {
                protocol: "TCP".to_string(),
                port: Some(IntOrString::Int(6379)),
                end_port: None,
            }],
        }];
        policy.spec.egress = vec![NetworkPolicyEgressRule {
            to: vec![NetworkPolicyPeer {
                ip_block: Some(IpBlock {
                    cidr: "10.0.0.0/24".to_string(),
                    except: vec![],
                }),
                ..NetworkPolicyPeer::default()
            }],
            ports: vec![NetworkPolicyPort {
                protocol: "TCP".to_string(),
                port: Some(IntOrString::Int(5978)),
                end_port: Some(5980),
            }],
        }];
        policy.status.observed_generation = 1;
        policy.status.peers = vec![
            ResolvedPeer {
                rule: "ingress[0].from[1]".to_string(),
                ..ResolvedPeer::default()
            },
            ResolvedPeer {
                rule: "ingress[0].from[2]".to_string(),
                addresses: ["10.42.0.5", "10.42.0.6", "10.42.1.2", "10.42.1.9"]
                    .map(String::from)
                    .to_vec(),
                ..ResolvedPeer::default()
            },
        ];
        policy
    }

    #[test]
    fn a_policy_reads_as_kubectl_shows_it() {
        let text = view(&documented());
        let spec = text
            .split_once("Spec:\n")
            .map(|(_, spec)| spec)
            .expect("a Spec section");
        assert_eq!(
            spec,
            "  PodSelector:  role=db\n\
             \x20 Allowing ingress traffic:\n\
             \x20   To Port:  6379/TCP\n\
             \x20   From:\n\
             \x20     IPBlock:\n\
             \x20       CIDR:    172.17.0.0/16\n\
             \x20       Except:  172.17.1.0/24\n\
             \x20   From:\n\
             \x20     NamespaceSelector:  project=myproject\n\
             \x20     Addresses:          <none>\n\
             \x20   From:\n\
             \x20     PodSelector:  role=frontend\n\
             \x20     Addresses:    10.42.0.5,10.42.0.6,10.42.1.2 + 1 more...\n\
             \x20 Allowing egress traffic:\n\
             \x20   To Port:  5978-5980/TCP\n\
             \x20   To:\n\
             \x20     IPBlock:\n\
             \x20       CIDR:    10.0.0.0/24\n\
             \x20       Except:\n\
             \x20 Policy Types:  Ingress, Egress\n"
        );
        assert!(text.starts_with("Name:"), "{text}");
        assert!(text.contains("Namespace:"), "{text}");
    }

    #[test]
    fn deny_all_allow_all_and_unresolved_peers() {
        let mut policy = NetworkPolicy::default();
        policy.metadata.generation = 2;
        policy.spec.policy_types = vec![PolicyType::Ingress];
        let text = view(&policy);
        assert!(
            text.contains(
                "PodSelector:  <none> (Allowing the specific traffic to all pods in this \
                 namespace)\n  Allowing ingress traffic:\n    <none> (Selected pods are \
                 isolated for ingress connectivity)\n  Not affecting egress traffic\n"
            ),
            "{text}"
        );

        policy.spec.policy_types = vec![PolicyType::Egress];
        policy.spec.egress = vec![
            NetworkPolicyEgressRule::default(),
            NetworkPolicyEgressRule {
                to: vec![NetworkPolicyPeer {
                    pod_selector: Some(LabelSelector::default()),
                    ..NetworkPolicyPeer::default()
                }],
                ports: vec![NetworkPolicyPort {
                    protocol: "UDP".to_string(),
                    ..NetworkPolicyPort::default()
                }],
            },
        ];
        let text = view(&policy);
        assert!(
            text.contains(
                "  Not affecting ingress traffic\n  Allowing egress traffic:\n    To Port:  <any> \
                 (traffic allowed to all ports)\n    To:       <any> (traffic not restricted by \
                 destination)\n    ----------\n    To Port:  <any>/UDP\n    To:\n      \
                 PodSelector:  <none>\n      Addresses:    <not resolved yet>\n"
            ),
            "{text}"
        );
    }
}
