//! Checks for a NetworkPolicy, after defaulting, with Kubernetes' rules and messages: the
//! selectors are well formed (empty ones select everything), each peer is either selectors or
//! an `ipBlock` whose exceptions lie strictly inside it, ports are numbers in range or port
//! names with an `endPort` only after a number, and `policyTypes` names each direction once.
//!
//! IPv6 blocks are accepted, as Kubernetes accepts them (policies often allow `0.0.0.0/0` and
//! `::/0` together): flotilla's pods have IPv4 addresses only, so they never match.

use std::collections::HashSet;

use ipnet::IpNet;

use super::labels::validate_selector_terms;
use super::pod::{check_port_name, check_port_number};
use super::{FieldError, report, unsupported};
use crate::object::intstr::IntOrString;
use crate::object::network_policy::{IpBlock, NetworkPolicy, NetworkPolicyPeer, NetworkPolicyPort};
use crate::object::pod_spec::ContainerPort;

pub(super) fn validate_network_policy(policy: &NetworkPolicy, errors: &mut Vec<FieldError>) {
    let spec = &policy.spec;
    validate_selector_terms(&spec.pod_selector, "spec.podSelector", errors);
    for (index, rule) in spec.ingress.iter().enumerate() {
        let at = format!("spec.ingress[{index}]");
        validate_ports(&rule.ports, &at, errors);
        validate_peers(&rule.from, &format!("{at}.from"), errors);
    }
    for (index, rule) in spec.egress.iter().enumerate() {
        let at = format!("spec.egress[{index}]");
        validate_ports(&rule.ports, &at, errors);
        validate_peers(&rule.to, &format!("{at}.to"), errors);
    }
    let mut seen = HashSet::new();
    for (index, policy_type) in spec.policy_types.iter().enumerate() {
        if !seen.insert(policy_type) {
            report(
                errors,
                format!("spec.policyTypes[{index}]"),
                format!("Duplicate value: {:?}", policy_type.as_str()),
            );
        }
    }
}

fn validate_ports(ports: &[NetworkPolicyPort], rule: &str, errors: &mut Vec<FieldError>) {
    for (index, port) in ports.iter().enumerate() {
        let at = format!("{rule}.ports[{index}]");
        let protocol = port.protocol();
        if !ContainerPort::PROTOCOLS.contains(&protocol) {
            report(
                errors,
                format!("{at}.protocol"),
                unsupported(protocol, &ContainerPort::PROTOCOLS),
            );
        }
        let end_at = format!("{at}.endPort");
        match (&port.port, port.end_port) {
            (Some(IntOrString::Int(number)), end) => {
                check_port_number(*number, &format!("{at}.port"), errors);
                if let Some(end) = end {
                    if end < *number {
                        report(
                            errors,
                            &end_at,
                            format!(
                                "Invalid value: {end}: must be greater than or equal to `port`"
                            ),
                        );
                    }
                    check_port_number(end, &end_at, errors);
                }
            }
            (Some(IntOrString::String(name)), end) => {
                if let Err(problem) = check_port_name(name) {
                    report(errors, format!("{at}.port"), problem);
                }
                if let Some(end) = end {
                    report(
                        errors,
                        end_at,
                        format!(
                            "Invalid value: {end}: may not be specified when `port` is non-numeric"
                        ),
                    );
                }
            }
            (None, Some(end)) => report(
                errors,
                end_at,
                format!("Invalid value: {end}: may not be specified when `port` is not specified"),
            ),
            (None, None) => {}
        }
    }
}

fn validate_peers(peers: &[NetworkPolicyPeer], path: &str, errors: &mut Vec<FieldError>) {
    for (index, peer) in peers.iter().enumerate() {
        let at = format!("{path}[{index}]");
        if let Some(selector) = &peer.pod_selector {
            validate_selector_terms(selector, &format!("{at}.podSelector"), errors);
        }
        if let Some(selector) = &peer.namespace_selector {
            validate_selector_terms(selector, &format!("{at}.namespaceSelector"), errors);
        }
        if let Some(block) = &peer.ip_block {
            validate_ip_block(block, &format!("{at}.ipBlock"), errors);
            if peer.selects_pods() {
                report(
                    errors,
                    &at,
                    "Forbidden: may not specify both ipBlock and another peer",
                );
            }
        } else if !peer.selects_pods() {
            report(errors, at, "Required value: must specify a peer");
        }
    }
}

fn validate_ip_block(block: &IpBlock, at: &str, errors: &mut Vec<FieldError>) {
    let parse = |text: &str, path: String, errors: &mut Vec<FieldError>| {
        let parsed = text.parse::<IpNet>().ok();
        if parsed.is_none() {
            report(
                errors,
                path,
                format!("Invalid value: {text:?}: must be a valid CIDR, such as 10.9.8.0/24"),
            );
        }
        parsed
    };
    let cidr = if block.cidr.is_empty() {
        report(errors, format!("{at}.cidr"), "Required value");
        None
    } else {
        parse(&block.cidr, format!("{at}.cidr"), errors)
    };
    for (index, except) in block.except.iter().enumerate() {
        let path = format!("{at}.except[{index}]");
        let Some(except_net) = parse(except, path.clone(), errors) else {
            continue;
        };
        let strictly_inside = cidr.is_some_and(|cidr| {
            cidr.contains(&except_net) && except_net.prefix_len() > cidr.prefix_len()
        });
        if cidr.is_some() && !strictly_inside {
            report(
                errors,
                path,
                format!("Invalid value: {except:?}: must be a strict subset of `cidr`"),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::object::defaults::apply_defaults;
    use crate::object::labels::{LabelSelector, LabelSelectorOperator, LabelSelectorRequirement};
    use crate::object::network_policy::{
        NetworkPolicyEgressRule, NetworkPolicyIngressRule, NetworkPolicySpec, PolicyType,
    };
    use crate::object::resource::{Object, Resource};

    /// The errors of `spec` once defaulted, as `path: message`.
    fn check(spec: NetworkPolicySpec) -> Vec<String> {
        let mut object = NetworkPolicy {
            spec,
            ..NetworkPolicy::default()
        }
        .into_object();
        apply_defaults(&mut object);
        let Object::NetworkPolicy(policy) = object else {
            unreachable!("defaulting keeps the kind")
        };
        let mut errors = Vec::new();
        validate_network_policy(&policy, &mut errors);
        errors
            .into_iter()
            .map(|e| format!("{}: {}", e.path, e.message))
            .collect()
    }

    fn selector(key: &str, value: &str) -> LabelSelector {
        LabelSelector {
            match_labels: [(key.to_string(), value.to_string())].into(),
            ..LabelSelector::default()
        }
    }

    fn pods(key: &str, value: &str) -> NetworkPolicyPeer {
        NetworkPolicyPeer {
            pod_selector: Some(selector(key, value)),
            ..NetworkPolicyPeer::default()
        }
    }

    fn block(cidr: &str, except: &[&str]) -> NetworkPolicyPeer {
        NetworkPolicyPeer {
            ip_block: Some(IpBlock {
                cidr: cidr.into(),
                except: except.iter().map(|e| e.to_string()).collect(),
            }),
            ..NetworkPolicyPeer::default()
        }
    }

    fn port(protocol: &str, port: Option<IntOrString>, end_port: Option<i32>) -> NetworkPolicyPort {
        NetworkPolicyPort {
            protocol: protocol.into(),
            port,
            end_port,
        }
    }

    fn ingress(from: Vec<NetworkPolicyPeer>, ports: Vec<NetworkPolicyPort>) -> NetworkPolicySpec {
        NetworkPolicySpec {
            ingress: vec![NetworkPolicyIngressRule { ports, from }],
            ..NetworkPolicySpec::default()
        }
    }

    #[test]
    fn the_kubernetes_documentations_shapes_pass() {
        let mut spec = ingress(
            vec![
                block("172.17.0.0/16", &["172.17.1.0/24"]),
                NetworkPolicyPeer {
                    namespace_selector: Some(selector("project", "myproject")),
                    ..NetworkPolicyPeer::default()
                },
                pods("role", "frontend"),
            ],
            vec![port("TCP", Some(IntOrString::Int(6379)), None)],
        );
        spec.pod_selector = selector("role", "db");
        spec.egress = vec![NetworkPolicyEgressRule {
            to: vec![block("10.0.0.0/24", &[])],
            ports: vec![port("TCP", Some(IntOrString::Int(32000)), Some(32768))],
        }];
        assert_eq!(check(spec), Vec::<String>::new());
        // Deny all, allow all, both selectors in one peer, named ports, IPv6 blocks.
        assert_eq!(check(NetworkPolicySpec::default()), Vec::<String>::new());
        assert_eq!(
            check(ingress(vec![], vec![])),
            Vec::<String>::new(),
            "ingress: [{{}}]"
        );
        let both = NetworkPolicyPeer {
            namespace_selector: Some(LabelSelector::default()),
            pod_selector: Some(selector("app", "web")),
            ..NetworkPolicyPeer::default()
        };
        let named = port("", Some(IntOrString::String("http".into())), None);
        assert_eq!(
            check(ingress(vec![both], vec![named])),
            Vec::<String>::new()
        );
        assert_eq!(
            check(ingress(vec![block("::/0", &["fd00::/8"])], vec![])),
            Vec::<String>::new()
        );
    }

    #[test]
    fn ports_follow_kubernetes_rules() {
        let spec = ingress(
            vec![],
            vec![
                port("ICMP", Some(IntOrString::Int(0)), None),
                port("UDP", Some(IntOrString::Int(53)), Some(52)),
                port("", Some(IntOrString::String("not_a_name".into())), Some(90)),
                port("SCTP", None, Some(90)),
                port("TCP", Some(IntOrString::Int(80)), Some(70000)),
            ],
        );
        assert_eq!(
            check(spec),
            [
                "spec.ingress[0].ports[0].protocol: Unsupported value: \"ICMP\": supported \
                 values: \"SCTP\", \"TCP\", \"UDP\"",
                "spec.ingress[0].ports[0].port: Invalid value: 0: must be between 1 and 65535, \
                 inclusive",
                "spec.ingress[0].ports[1].endPort: Invalid value: 52: must be greater than or \
                 equal to `port`",
                "spec.ingress[0].ports[2].port: Invalid value: \"not_a_name\": must be no more \
                 than 15 characters, contain only lowercase letters, digits and '-', at least one \
                 letter, and no '-' at either end or next to another",
                "spec.ingress[0].ports[2].endPort: Invalid value: 90: may not be specified when \
                 `port` is non-numeric",
                "spec.ingress[0].ports[3].endPort: Invalid value: 90: may not be specified when \
                 `port` is not specified",
                "spec.ingress[0].ports[4].endPort: Invalid value: 70000: must be between 1 and \
                 65535, inclusive",
            ]
        );
    }

    #[test]
    fn a_peer_is_selectors_or_an_ip_block() {
        let mixed = NetworkPolicyPeer {
            pod_selector: Some(selector("app", "web")),
            ..block("10.0.0.0/8", &[])
        };
        let mut spec = ingress(vec![NetworkPolicyPeer::default(), mixed], vec![]);
        spec.egress = vec![NetworkPolicyEgressRule {
            to: vec![NetworkPolicyPeer::default()],
            ..NetworkPolicyEgressRule::default()
        }];
        assert_eq!(
            check(spec),
            [
                "spec.ingress[0].from[0]: Required value: must specify a peer",
                "spec.ingress[0].from[1]: Forbidden: may not specify both ipBlock and another \
                 peer",
                "spec.egress[0].to[0]: Required value: must specify a peer",
            ]
        );
    }

    #[test]
    fn ip_blocks_are_cidrs_with_exceptions_strictly_inside() {
        let spec = ingress(
            vec![
                block("", &[]),
                block("10.0.0.0/33", &["10.0.0.0/24"]),
                block(
                    "10.0.0.0/16",
                    &[
                        "10.0.0.0/16",
                        "10.1.0.0/24",
                        "fd00::/64",
                        "nonsense",
                        "10.0.3.0/24",
                    ],
                ),
            ],
            vec![],
        );
        assert_eq!(
            check(spec),
            [
                "spec.ingress[0].from[0].ipBlock.cidr: Required value",
                "spec.ingress[0].from[1].ipBlock.cidr: Invalid value: \"10.0.0.0/33\": must be a \
                 valid CIDR, such as 10.9.8.0/24",
                "spec.ingress[0].from[2].ipBlock.except[0]: Invalid value: \"10.0.0.0/16\": must \
                 be a strict subset of `cidr`",
                "spec.ingress[0].from[2].ipBlock.except[1]: Invalid value: \"10.1.0.0/24\": must \
                 be a strict subset of `cidr`",
                "spec.ingress[0].from[2].ipBlock.except[2]: Invalid value: \"fd00::/64\": must be \
                 a strict subset of `cidr`",
                "spec.ingress[0].from[2].ipBlock.except[3]: Invalid value: \"nonsense\": must be \
                 a valid CIDR, such as 10.9.8.0/24",
            ]
        );
    }

    #[test]
    fn selectors_may_be_empty_but_not_malformed_and_types_appear_once() {
        let bad = LabelSelector {
            match_expressions: vec![LabelSelectorRequirement {
                key: "env".into(),
                operator: LabelSelectorOperator::In,
                values: vec![],
            }],
            ..LabelSelector::default()
        };
        let mut spec = ingress(
            vec![NetworkPolicyPeer {
                namespace_selector: Some(bad.clone()),
                ..NetworkPolicyPeer::default()
            }],
            vec![],
        );
        spec.pod_selector = bad;
        spec.policy_types = vec![PolicyType::Ingress, PolicyType::Ingress];
        assert_eq!(
            check(spec),
            [
                "spec.podSelector.matchExpressions[0].values: required for operator In",
                "spec.ingress[0].from[0].namespaceSelector.matchExpressions[0].values: required \
                 for operator In",
                "spec.policyTypes[1]: Duplicate value: \"Ingress\"",
            ]
        );
    }
}
