//! The enforcer's plan from pods and policies, case by case.

use flotilla_kernel::object::{
    Container, ContainerPort, LabelSelector, NetworkPolicyEgressRule, NetworkPolicyIngressRule,
    NetworkPolicySpec, PodPhase, ResolvedNamedPort, ResolvedPeer,
};

use super::*;

fn selector(pairs: &[(&str, &str)]) -> LabelSelector {
    LabelSelector {
        match_labels: pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        ..LabelSelector::default()
    }
}

fn pod(namespace: &str, name: &str, ip: &str, app: &str) -> Pod {
    let mut pod = Pod::default();
    pod.metadata.namespace = namespace.into();
    pod.metadata.name = name.into();
    pod.metadata.labels = [("app".to_string(), app.to_string())].into();
    pod.status.pod_ip = ip.into();
    pod.status.phase = PodPhase::Running;
    pod
}

/// A policy of `default` whose status is current and holds `peers` (rule, addresses).
fn policy(name: &str, spec: NetworkPolicySpec, peers: &[(&str, &[&str])]) -> NetworkPolicy {
    let mut policy = NetworkPolicy::default();
    policy.metadata.namespace = "default".into();
    policy.metadata.name = name.into();
    policy.metadata.generation = 1;
    policy.spec = spec;
    if policy.spec.policy_types.is_empty() {
        policy.spec.policy_types.push(PolicyType::Ingress);
        if !policy.spec.egress.is_empty() {
            policy.spec.policy_types.push(PolicyType::Egress);
        }
    }
    policy.status.observed_generation = 1;
    policy.status.peers = peers
        .iter()
        .map(|(rule, addresses)| ResolvedPeer {
            rule: rule.to_string(),
            addresses: addresses.iter().map(|a| a.to_string()).collect(),
            named_ports: vec![],
        })
        .collect();
    policy
}

fn port(protocol: &str, port: Option<IntOrString>) -> NetworkPolicyPort {
    NetworkPolicyPort {
        protocol: protocol.into(),
        port,
        end_port: None,
    }
}

fn pods_peer(pairs: &[(&str, &str)]) -> NetworkPolicyPeer {
    NetworkPolicyPeer {
        pod_selector: Some(selector(pairs)),
        ..NetworkPolicyPeer::default()
    }
}

fn tcp(first: u16, last: u16) -> Option<Ports> {
    Some(Ports {
        protocol: Protocol::Tcp,
        range: Some((first, last)),
    })
}

fn address(text: &str) -> Ipv4Addr {
    text.parse().unwrap()
}

fn nets(texts: &[&str]) -> Vec<Ipv4Net> {
    texts.iter().map(|text| text.parse().unwrap()).collect()
}

#[test]
fn deny_all_ingress_isolates_every_pod_of_the_namespace_and_no_other() {
    let deny = policy("deny", NetworkPolicySpec::default(), &[]);
    let pods = [
        pod("default", "web", "10.42.0.5", "web"),
        pod("default", "db", "10.42.0.6", "db"),
        pod("prod", "web", "10.42.0.7", "web"),
    ];
    let table = plan(&pods, [&deny]);
    assert_eq!(
        table.pods.keys().copied().collect::<Vec<_>>(),
        [address("10.42.0.5"), address("10.42.0.6")]
    );
    let web = &table.pods[&address("10.42.0.5")];
    assert_eq!(web.ingress, Some(vec![]));
    assert_eq!(web.egress, None, "egress is not isolated");
    assert!(table.address_sets.is_empty());
    // No policy, no table entries.
    assert_eq!(plan(&pods, []), Table::default());
}

#[test]
fn a_pod_selector_on_port_80_allows_the_resolved_addresses() {
    let spec = NetworkPolicySpec {
        pod_selector: selector(&[("app", "db")]),
        ingress: vec![NetworkPolicyIngressRule {
            from: vec![pods_peer(&[("app", "web")])],
            ports: vec![port("TCP", Some(IntOrString::Int(80)))],
        }],
        ..NetworkPolicySpec::default()
    };
    let mut allow = policy(
        "db",
        spec,
        &[("ingress[0].from[0]", &["10.42.1.9", "10.42.0.5"])],
    );
    let pods = [
        pod("default", "web", "10.42.0.5", "web"),
        pod("default", "db", "10.42.0.6", "db"),
    ];
    let table = plan(&pods, [&allow]);
    let set = "peers-default/db/ingress/0";
    assert_eq!(
        table.pods[&address("10.42.0.6")].ingress,
        Some(vec![Rule::Allow {
            peers: Some(set.into()),
            ports: tcp(80, 80),
        }])
    );
    assert!(
        !table.pods.contains_key(&address("10.42.0.5")),
        "web is not selected"
    );
    assert_eq!(
        table.address_sets[set],
        nets(&["10.42.0.5/32", "10.42.1.9/32"])
    );

    // A status for an older spec is not trusted: the selector allows nothing meanwhile.
    allow.metadata.generation = 2;
    let table = plan(&pods, [&allow]);
    assert!(table.address_sets[set].is_empty());
}

#[test]
fn ingress_named_ports_are_the_pod_s_own_and_egress_ones_the_destinations() {
    let spec = NetworkPolicySpec {
        ingress: vec![NetworkPolicyIngressRule {
            ports: vec![
                port("TCP", Some(IntOrString::String("http".into()))),
                port("UDP", Some(IntOrString::String("http".into()))),
                port("TCP", Some(IntOrString::String("absent".into()))),
            ],
            ..NetworkPolicyIngressRule::default()
        }],
        egress: vec![NetworkPolicyEgressRule {
            to: vec![pods_peer(&[("app", "api")])],
            ports: vec![port("TCP", Some(IntOrString::String("http".into())))],
        }],
        ..NetworkPolicySpec::default()
    };
    let mut named = policy("named", spec, &[("egress[0].to[0]", &["10.42.1.4"])]);
    named.status.peers[0].named_ports = vec![ResolvedNamedPort {
        port: "http".into(),
        protocol: "TCP".into(),
        endpoints: vec!["10.42.1.4:9000".into()],
    }];
    let mut web = pod("default", "web", "10.42.0.5", "web");
    web.spec.containers = vec![Container {
        ports: vec![ContainerPort {
            name: "http".into(),
            container_port: 8080,
            ..ContainerPort::default()
        }],
        ..Container::default()
    }];
    let table = plan([&web], [&named]);
    let rules = &table.pods[&address("10.42.0.5")];
    // Only TCP "http" exists on the pod; "absent" allows nothing.
    assert_eq!(
        rules.ingress,
        Some(vec![Rule::Allow {
            peers: None,
            ports: tcp(8080, 8080),
        }])
    );
    let set = "endpoints-default/named/egress/0";
    assert_eq!(rules.egress, Some(vec![Rule::AllowEndpoints(set.into())]));
    // The peers of a rule of named ports alone need no address set.
    assert!(table.address_sets.is_empty(), "{:?}", table.address_sets);
    assert_eq!(
        table.endpoint_sets[set],
        [Endpoint {
            address: address("10.42.1.4"),
            protocol: Protocol::Tcp,
            port: 9000,
        }]
    );
}

#[test]
fn ip_blocks_allow_their_range_less_the_exceptions() {
    let block = |cidr: &str, except: &[&str]| NetworkPolicyPeer {
        ip_block: Some(IpBlock {
            cidr: cidr.into(),
            except: except.iter().map(|e| e.to_string()).collect(),
        }),
        ..NetworkPolicyPeer::default()
    };
    let spec = NetworkPolicySpec {
        ingress: vec![NetworkPolicyIngressRule {
            from: vec![
                block("172.17.0.0/16", &["172.17.1.0/24"]),
                block("10.0.0.1/30", &[]),
                block("fd00::/8", &[]),
            ],
            ..NetworkPolicyIngressRule::default()
        }],
        ..NetworkPolicySpec::default()
    };
    let blocks = policy("blocks", spec, &[]);
    let table = plan([&pod("default", "web", "10.42.0.5", "web")], [&blocks]);
    assert_eq!(
        table.address_sets["peers-default/blocks/ingress/0"],
        nets(&[
            "10.0.0.0/30",
            "172.17.0.0/24",
            "172.17.2.0/23",
            "172.17.4.0/22",
            "172.17.8.0/21",
            "172.17.16.0/20",
            "172.17.32.0/19",
            "172.17.64.0/18",
            "172.17.128.0/17",
        ])
    );
    // Everything but a /1 and a /16 of the other half: one prefix per halving, disjoint,
    // outside the exceptions, covering the rest.
    let holes = nets(&["0.0.0.0/1", "192.168.0.0/16"]);
    let mut rest = Vec::new();
    exclude("0.0.0.0/0".parse().unwrap(), &holes, &mut rest);
    assert_eq!(rest.len(), 15, "{rest:?}");
    assert_eq!(Ipv4Net::aggregate(&rest).len(), 15);
    for net in &rest {
        assert!(
            holes
                .iter()
                .all(|hole| !hole.contains(&net.network()) && !net.contains(&hole.network())),
            "{net} overlaps an exception"
        );
    }
    let covered: u64 = rest.iter().map(|net| 1u64 << (32 - net.prefix_len())).sum();
    assert_eq!(covered, (1u64 << 31) - (1u64 << 16));
}

#[test]
fn egress_with_a_dns_allowance_and_policies_combine_by_union() {
    let dns = NetworkPolicySpec {
        policy_types: vec![PolicyType::Egress],
        egress: vec![NetworkPolicyEgressRule {
            ports: vec![
                port("UDP", Some(IntOrString::Int(53))),
                port("TCP", Some(IntOrString::Int(53))),
            ],
            ..NetworkPolicyEgressRule::default()
        }],
        ..NetworkPolicySpec::default()
    };
    let dns = policy("dns", dns, &[]);
    let to_db = NetworkPolicySpec {
        pod_selector: selector(&[("app", "web")]),
        policy_types: vec![PolicyType::Egress],
        egress: vec![NetworkPolicyEgressRule {
            to: vec![pods_peer(&[("app", "db")])],
            ports: vec![NetworkPolicyPort {
                end_port: Some(5433),
                ..port("TCP", Some(IntOrString::Int(5432)))
            }],
        }],
        ..NetworkPolicySpec::default()
    };
    let to_db = policy("to-db", to_db, &[("egress[0].to[0]", &["10.42.0.6"])]);
    let pods = [
        pod("default", "web", "10.42.0.5", "web"),
        pod("default", "db", "10.42.0.6", "db"),
    ];
    let table = plan(&pods, [&to_db, &dns]);
    let udp_53 = Rule::Allow {
        peers: None,
        ports: Some(Ports {
            protocol: Protocol::Udp,
            range: Some((53, 53)),
        }),
    };
    let tcp_53 = Rule::Allow {
        peers: None,
        ports: tcp(53, 53),
    };
    let web = &table.pods[&address("10.42.0.5")];
    assert_eq!(
        web.ingress, None,
        "egress-only policies leave ingress alone"
    );
    assert_eq!(
        web.egress,
        Some(vec![
            tcp_53.clone(),
            udp_53.clone(),
            Rule::Allow {
                peers: Some("peers-default/to-db/egress/0".into()),
                ports: tcp(5432, 5433),
            },
        ])
    );
    // The same union whatever order the policies come in.
    assert_eq!(plan(&pods, [&dns, &to_db]), table);
    let db = &table.pods[&address("10.42.0.6")];
    assert_eq!(db.egress, Some(vec![tcp_53, udp_53]));
}

#[test]
fn pods_without_an_address_finished_or_on_the_host_network_are_left_alone() {
    let deny = policy("deny", NetworkPolicySpec::default(), &[]);
    let pending = pod("default", "pending", "", "web");
    let mut done = pod("default", "done", "10.42.0.8", "web");
    done.status.phase = PodPhase::Failed;
    let mut host = pod("default", "host", "192.0.2.1", "web");
    host.spec.host_network = true;
    assert_eq!(plan([&pending, &done, &host], [&deny]), Table::default());
}
