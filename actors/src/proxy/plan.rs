//! The pure core of the proxy, part one: what one Service, with the EndpointSlices that list its
//! endpoints, asks of this node's table ([`ServiceRules`]), as kube-proxy reads them.
//!
//! - Headless (`clusterIP: None`) and `ExternalName` Services, and Services without a valid
//!   IPv4 ClusterIP, get nothing. A port whose protocol or number is not valid is skipped.
//! - A port's endpoints are those of the slices that carry a port of the same name and protocol,
//!   at that slice port's number (a named `targetPort` may be a different number on each pod).
//!   The ready ones are used; when none is, the serving ones that are terminating, so that a
//!   rolling update does not refuse connections it could still serve.
//! - `internalTrafficPolicy: Local` keeps ClusterIP traffic to endpoints on this node, and
//!   `externalTrafficPolicy: Local` node-port traffic; such traffic is dropped when the Service
//!   has endpoints but none here, and refused at once when it has none at all.
//! - ClusterIP traffic from outside the pod ranges (e.g. the node itself) is masqueraded, so that
//!   an endpoint on another node answers through this one; so is all node-port traffic under the
//!   `Cluster` policy, and, under `Local`, node-port traffic from the node itself. Hairpin
//!   traffic (a pod reaching itself through its Service) is masqueraded by the table's hairpin
//!   set, to which [`ServiceRules::endpoints`] adds.
//! - `sessionAffinity: ClientIP` gives every endpoint a set of recent clients with the
//!   Service's timeout; a client in one goes back to that endpoint.
//!
//! Names derive from the namespace, the Service's name, the protocol and the port's name (its
//! number when it has none), so that they stay the same from one sync to the next.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;

use flotilla_kernel::object::{AddressType, EndpointSlice, Service, ServicePort, TrafficPolicy};
use flotilla_node_os::network::service_table::{
    AffinitySet, Backend, Chain, Destination, Masquerade, Protocol, Rule, Verdict, object_name,
};

/// One Service's share of the table.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServiceRules {
    pub chains: Vec<Chain>,
    pub affinity_sets: Vec<AffinitySet>,
    pub routes: Vec<(Destination, Verdict)>,
    pub cluster_ip: Option<Ipv4Addr>,
    /// The addresses of the endpoints its chains send to (for the hairpin masquerade).
    pub endpoints: BTreeSet<Ipv4Addr>,
}

/// What the Service `service` asks of node `node`'s table, given the slices labelled with its
/// name; `None` when it asks for nothing.
pub fn service_rules(
    node: &str,
    service: &Service,
    slices: &[&EndpointSlice],
) -> Option<ServiceRules> {
    let spec = &service.spec;
    if !spec.type_.uses_cluster_ip() || spec.is_headless() {
        return None;
    }
    let cluster_ip: Ipv4Addr = spec.cluster_ip.parse().ok()?;
    let affinity = spec
        .client_ip_timeout_seconds()
        .map(|seconds| u32::try_from(seconds.max(1)).unwrap_or(1));
    let internal_local = spec.internal_traffic_policy == Some(TrafficPolicy::Local);
    let external_local = spec.external_traffic_policy == Some(TrafficPolicy::Local);
    let mut rules = ServiceRules {
        cluster_ip: Some(cluster_ip),
        ..ServiceRules::default()
    };
    for port in &spec.ports {
        let Some(protocol) = protocol(port.protocol()) else {
            continue;
        };
        let Ok(number) = u16::try_from(port.port) else {
            continue;
        };
        if number == 0 {
            continue;
        }
        let port_id = if port.name.is_empty() {
            number.to_string()
        } else {
            port.name.clone()
        };
        let name = |prefix: &str| {
            object_name(
                prefix,
                &[
                    &service.metadata.namespace,
                    &service.metadata.name,
                    protocol.as_str(),
                    &port_id,
                ],
            )
        };
        let candidates = endpoints_of(port, protocol, slices, node);
        let any = usable(candidates.iter());
        let local = usable(candidates.iter().filter(|(_, state)| state.local));
        let verdict_without = || {
            if any.is_empty() {
                Verdict::Reject
            } else {
                Verdict::Drop
            }
        };
        let port_rules = PortRules {
            protocol,
            affinity,
            affinity_name: |backend: &Backend| {
                object_name(
                    "aff-",
                    &[
                        &service.metadata.namespace,
                        &service.metadata.name,
                        protocol.as_str(),
                        &port_id,
                        &backend.address.to_string(),
                        &backend.port.to_string(),
                    ],
                )
            },
        };

        let internal = if internal_local { &local } else { &any };
        let internal_chain = (!internal.is_empty()).then(|| name("svc-"));
        let destination = Destination::ClusterIp {
            address: cluster_ip,
            protocol,
            port: number,
        };
        match &internal_chain {
            Some(chain) => {
                rules
                    .routes
                    .push((destination, Verdict::Goto(chain.clone())));
                port_rules.dispatch(&mut rules, chain, Masquerade::UnlessFromPods, internal);
            }
            None => rules.routes.push((destination, verdict_without())),
        }

        let node_port = u16::try_from(port.node_port).unwrap_or(0);
        if !spec.type_.uses_node_ports() || node_port == 0 {
            continue;
        }
        let destination = Destination::NodePort {
            protocol,
            port: node_port,
        };
        let (external, masquerade) = if external_local {
            (&local, Masquerade::FromNode)
        } else {
            (&any, Masquerade::All)
        };
        if external.is_empty() {
            rules.routes.push((destination, verdict_without()));
            continue;
        }
        let chain = name("ext-");
        rules
            .routes
            .push((destination, Verdict::Goto(chain.clone())));
        match &internal_chain {
            Some(internal_chain) if external == internal => rules.chains.push(Chain {
                name: chain,
                rules: vec![
                    Rule::Masquerade(masquerade),
                    Rule::Goto(internal_chain.clone()),
                ],
            }),
            _ => port_rules.dispatch(&mut rules, &chain, masquerade, external),
        }
    }
    Some(rules)
}

/// What is known of one endpoint of a port.
#[derive(Debug, Clone, Copy, Default)]
struct EndpointState {
    ready: bool,
    serving_terminating: bool,
    local: bool,
}

/// The endpoints the slices list for `port`, by backend (merged when listed twice).
fn endpoints_of(
    port: &ServicePort,
    protocol: Protocol,
    slices: &[&EndpointSlice],
    node: &str,
) -> BTreeMap<Backend, EndpointState> {
    let mut endpoints: BTreeMap<Backend, EndpointState> = BTreeMap::new();
    for slice in slices {
        if slice.address_type != AddressType::Ipv4 {
            continue;
        }
        let Some(number) = slice
            .ports
            .iter()
            .find(|slice_port| {
                slice_port.name == port.name
                    && self::protocol(if slice_port.protocol.is_empty() {
                        "TCP"
                    } else {
                        &slice_port.protocol
                    }) == Some(protocol)
            })
            .and_then(|slice_port| slice_port.port)
            .and_then(|number| u16::try_from(number).ok())
            .filter(|number| *number != 0)
        else {
            continue;
        };
        for endpoint in &slice.endpoints {
            let Some(address) = endpoint
                .addresses
                .first()
                .and_then(|address| address.parse::<Ipv4Addr>().ok())
            else {
                continue;
            };
            let conditions = &endpoint.conditions;
            let state = endpoints
                .entry(Backend {
                    address,
                    port: number,
                })
                .or_default();
            state.ready |= conditions.is_ready();
            // An unknown `serving` defers to `ready`; an unknown `terminating` is false.
            state.serving_terminating |= conditions.serving.unwrap_or(conditions.is_ready())
                && conditions.terminating.unwrap_or(false);
            state.local |= endpoint.node_name.as_deref() == Some(node);
        }
    }
    endpoints
}

/// The ready endpoints among `candidates`, or the serving terminating ones if none is ready.
fn usable<'a>(
    candidates: impl Iterator<Item = (&'a Backend, &'a EndpointState)> + Clone,
) -> Vec<Backend> {
    let ready: Vec<Backend> = candidates
        .clone()
        .filter(|(_, state)| state.ready)
        .map(|(backend, _)| *backend)
        .collect();
    if !ready.is_empty() {
        return ready;
    }
    candidates
        .filter(|(_, state)| state.serving_terminating)
        .map(|(backend, _)| *backend)
        .collect()
}

/// How the chains of one Service port are written.
struct PortRules<F> {
    protocol: Protocol,
    affinity: Option<u32>,
    affinity_name: F,
}

impl<F: Fn(&Backend) -> String> PortRules<F> {
    /// Adds a chain `name` that masquerades as `masquerade` says and spreads connections over
    /// `backends`, with their affinity sets when the Service has affinity.
    fn dispatch(
        &self,
        rules: &mut ServiceRules,
        name: &str,
        masquerade: Masquerade,
        backends: &[Backend],
    ) {
        let mut chain = vec![Rule::Masquerade(masquerade)];
        let sets: Vec<Option<String>> = backends
            .iter()
            .map(|backend| self.affinity.map(|_| (self.affinity_name)(backend)))
            .collect();
        for (backend, set) in backends.iter().zip(&sets) {
            let Some(set) = set else { continue };
            chain.push(Rule::Sticky {
                affinity: set.clone(),
                protocol: self.protocol,
                backend: *backend,
            });
        }
        let count = backends.len();
        for (index, (backend, set)) in backends.iter().zip(&sets).enumerate() {
            chain.push(Rule::Pick {
                one_in: u32::try_from(count - index).unwrap_or(u32::MAX),
                affinity: set.clone(),
                protocol: self.protocol,
                backend: *backend,
            });
        }
        if let Some(timeout_seconds) = self.affinity {
            for set in sets.into_iter().flatten() {
                if !rules.affinity_sets.iter().any(|known| known.name == set) {
                    rules.affinity_sets.push(AffinitySet {
                        name: set,
                        timeout_seconds,
                    });
                }
            }
        }
        rules
            .endpoints
            .extend(backends.iter().map(|backend| backend.address));
        rules.chains.push(Chain {
            name: name.to_owned(),
            rules: chain,
        });
    }
}

/// The protocol of a Service or slice port (`TCP`, `UDP`, `SCTP`).
fn protocol(text: &str) -> Option<Protocol> {
    match text {
        "TCP" => Some(Protocol::Tcp),
        "UDP" => Some(Protocol::Udp),
        "SCTP" => Some(Protocol::Sctp),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flotilla_kernel::object::{
        CLUSTER_IP_NONE, ClientIpConfig, Endpoint, EndpointConditions, EndpointPort, ObjectMeta,
        SERVICE_NAME_LABEL, ServiceSpec, ServiceType, SessionAffinity, SessionAffinityConfig,
    };

    fn service(name: &str, cluster_ip: &str, ports: &[(&str, &str, i32)]) -> Service {
        Service {
            metadata: ObjectMeta {
                name: name.into(),
                namespace: "default".into(),
                ..ObjectMeta::default()
            },
            spec: ServiceSpec {
                cluster_ip: cluster_ip.into(),
                ports: ports
                    .iter()
                    .map(|(name, protocol, port)| ServicePort {
                        name: (*name).into(),
                        protocol: (*protocol).into(),
                        port: *port,
                        ..ServicePort::default()
                    })
                    .collect(),
                ..ServiceSpec::default()
            },
            ..Service::default()
        }
    }

    /// An endpoint on `node`, ready or not (`None`: terminating but serving).
    fn endpoint(address: &str, node: &str, ready: Option<bool>) -> Endpoint {
        Endpoint {
            addresses: vec![address.into()],
            conditions: match ready {
                Some(ready) => EndpointConditions {
                    ready: Some(ready),
                    ..EndpointConditions::default()
                },
                None => EndpointConditions {
                    ready: Some(false),
                    serving: Some(true),
                    terminating: Some(true),
                },
            },
            node_name: Some(node.into()),
            ..Endpoint::default()
        }
    }

    fn slice(
        service: &str,
        ports: &[(&str, &str, i32)],
        endpoints: Vec<Endpoint>,
    ) -> EndpointSlice {
        EndpointSlice {
            metadata: ObjectMeta {
                name: format!("{service}-abcde"),
                namespace: "default".into(),
                labels: [(SERVICE_NAME_LABEL.to_string(), service.to_string())].into(),
                ..ObjectMeta::default()
            },
            endpoints,
            ports: ports
                .iter()
                .map(|(name, protocol, port)| EndpointPort {
                    name: (*name).into(),
                    protocol: (*protocol).into(),
                    port: Some(*port),
                    ..EndpointPort::default()
                })
                .collect(),
            ..EndpointSlice::default()
        }
    }

    fn backend(address: &str, port: u16) -> Backend {
        Backend {
            address: address.parse().unwrap(),
            port,
        }
    }

    fn pick(one_in: u32, address: &str, port: u16) -> Rule {
        Rule::Pick {
            one_in,
            affinity: None,
            protocol: Protocol::Tcp,
            backend: backend(address, port),
        }
    }

    fn vip(port: u16) -> Destination {
        Destination::ClusterIp {
            address: "10.43.0.10".parse().unwrap(),
            protocol: Protocol::Tcp,
            port,
        }
    }

    fn node_port(port: u16) -> Destination {
        Destination::NodePort {
            protocol: Protocol::Tcp,
            port,
        }
    }

    #[test]
    fn a_cluster_ip_spreads_over_the_ready_endpoints() {
        let web = service("web", "10.43.0.10", &[("http", "TCP", 80)]);
        let endpoints = slice(
            "web",
            &[("http", "TCP", 8080)],
            vec![
                endpoint("10.42.2.7", "n2", Some(true)),
                endpoint("10.42.1.5", "n1", Some(true)),
                endpoint("10.42.1.6", "n1", Some(false)),
            ],
        );
        let rules = service_rules("n1", &web, &[&endpoints]).unwrap();
        let chain = "svc-default/web/tcp/http";
        assert_eq!(
            rules,
            ServiceRules {
                chains: vec![Chain {
                    name: chain.into(),
                    rules: vec![
                        Rule::Masquerade(Masquerade::UnlessFromPods),
                        pick(2, "10.42.1.5", 8080),
                        pick(1, "10.42.2.7", 8080),
                    ],
                }],
                affinity_sets: vec![],
                routes: vec![(vip(80), Verdict::Goto(chain.into()))],
                cluster_ip: Some("10.43.0.10".parse().unwrap()),
                endpoints: ["10.42.1.5".parse().unwrap(), "10.42.2.7".parse().unwrap()].into(),
            }
        );
    }

    #[test]
    fn terminating_endpoints_serve_only_when_none_is_ready_and_none_at_all_is_refused() {
        let web = service("web", "10.43.0.10", &[("", "", 80)]);
        let terminating = slice(
            "web",
            &[("", "", 8080)],
            vec![
                endpoint("10.42.1.5", "n1", None),
                endpoint("10.42.1.6", "n1", Some(false)),
            ],
        );
        let rules = service_rules("n1", &web, &[&terminating]).unwrap();
        assert_eq!(rules.chains[0].name, "svc-default/web/tcp/80");
        assert_eq!(rules.chains[0].rules[1], pick(1, "10.42.1.5", 8080));

        let rules = service_rules("n1", &web, &[]).unwrap();
        assert!(rules.chains.is_empty() && rules.endpoints.is_empty());
        assert_eq!(rules.routes, [(vip(80), Verdict::Reject)]);
        assert_eq!(rules.cluster_ip, Some("10.43.0.10".parse().unwrap()));
    }

    #[test]
    fn headless_and_external_name_services_get_nothing() {
        let headless = service("db", CLUSTER_IP_NONE, &[("", "TCP", 5432)]);
        assert_eq!(service_rules("n1", &headless, &[]), None);
        let mut external = service("ext", "", &[]);
        external.spec.type_ = ServiceType::ExternalName;
        external.spec.external_name = "example.com".into();
        assert_eq!(service_rules("n1", &external, &[]), None);
        let pending = service("web", "", &[("", "TCP", 80)]);
        assert_eq!(service_rules("n1", &pending, &[]), None);
    }

    #[test]
    fn a_node_port_under_the_cluster_policy_masquerades_then_shares_the_chain() {
        let mut web = service("web", "10.43.0.10", &[("http", "TCP", 80)]);
        web.spec.type_ = ServiceType::NodePort;
        web.spec.ports[0].node_port = 30080;
        let endpoints = slice(
            "web",
            &[("http", "TCP", 8080)],
            vec![endpoint("10.42.2.7", "n2", Some(true))],
        );
        let rules = service_rules("n1", &web, &[&endpoints]).unwrap();
        let (svc, ext) = ("svc-default/web/tcp/http", "ext-default/web/tcp/http");
        assert_eq!(
            rules.routes,
            [
                (vip(80), Verdict::Goto(svc.into())),
                (node_port(30080), Verdict::Goto(ext.into())),
            ]
        );
        assert_eq!(
            rules.chains[1],
            Chain {
                name: ext.into(),
                rules: vec![Rule::Masquerade(Masquerade::All), Rule::Goto(svc.into())],
            }
        );
    }

    #[test]
    fn local_policies_keep_traffic_on_the_node_or_drop_it() {
        let mut web = service("web", "10.43.0.10", &[("http", "TCP", 80)]);
        web.spec.type_ = ServiceType::NodePort;
        web.spec.ports[0].node_port = 30080;
        web.spec.external_traffic_policy = Some(TrafficPolicy::Local);
        let endpoints = slice(
            "web",
            &[("http", "TCP", 8080)],
            vec![
                endpoint("10.42.1.5", "n1", Some(true)),
                endpoint("10.42.2.7", "n2", Some(true)),
            ],
        );
        let rules = service_rules("n1", &web, &[&endpoints]).unwrap();
        assert_eq!(
            rules.chains[1],
            Chain {
                name: "ext-default/web/tcp/http".into(),
                rules: vec![
                    Rule::Masquerade(Masquerade::FromNode),
                    pick(1, "10.42.1.5", 8080),
                ],
            }
        );
        // No endpoint here: node-port traffic is dropped, not refused.
        let rules = service_rules("n3", &web, &[&endpoints]).unwrap();
        assert_eq!(rules.routes[1], (node_port(30080), Verdict::Drop));
        assert_eq!(rules.chains.len(), 1);

        web.spec.internal_traffic_policy = Some(TrafficPolicy::Local);
        let rules = service_rules("n3", &web, &[&endpoints]).unwrap();
        assert_eq!(rules.routes[0], (vip(80), Verdict::Drop));
        assert!(rules.chains.is_empty());
    }

    #[test]
    fn client_ip_affinity_gives_each_endpoint_a_set() {
        let mut web = service("web", "10.43.0.10", &[("http", "TCP", 80)]);
        web.spec.session_affinity = SessionAffinity::ClientIp;
        web.spec.session_affinity_config = Some(SessionAffinityConfig {
            client_ip: Some(ClientIpConfig {
                timeout_seconds: Some(60),
            }),
        });
        let endpoints = slice(
            "web",
            &[("http", "TCP", 8080)],
            vec![
                endpoint("10.42.1.5", "n1", Some(true)),
                endpoint("10.42.2.7", "n2", Some(true)),
            ],
        );
        let rules = service_rules("n1", &web, &[&endpoints]).unwrap();
        let set = |address: &str| format!("aff-default/web/tcp/http/{address}/8080");
        assert_eq!(
            rules.affinity_sets,
            [
                AffinitySet {
                    name: set("10.42.1.5"),
                    timeout_seconds: 60,
                },
                AffinitySet {
                    name: set("10.42.2.7"),
                    timeout_seconds: 60,
                },
            ]
        );
        let sticky = |address: &str| Rule::Sticky {
            affinity: set(address),
            protocol: Protocol::Tcp,
            backend: backend(address, 8080),
        };
        let picked = |one_in, address: &str| Rule::Pick {
            one_in,
            affinity: Some(set(address)),
            protocol: Protocol::Tcp,
            backend: backend(address, 8080),
        };
        assert_eq!(
            rules.chains[0].rules,
            [
                Rule::Masquerade(Masquerade::UnlessFromPods),
                sticky("10.42.1.5"),
                sticky("10.42.2.7"),
                picked(2, "10.42.1.5"),
                picked(1, "10.42.2.7"),
            ]
        );
    }

    #[test]
    fn each_port_finds_its_numbers_by_name_and_protocol_in_each_slice() {
        let dns = service(
            "dns",
            "10.43.0.10",
            &[
                ("dns", "UDP", 53),
                ("dns-tcp", "TCP", 53),
                ("odd", "ICMP", 7),
            ],
        );
        // A named targetPort: the two slices' pods serve it on different numbers.
        let old = slice(
            "dns",
            &[("dns", "UDP", 5353), ("dns-tcp", "TCP", 5353)],
            vec![endpoint("10.42.1.5", "n1", Some(true))],
        );
        let new = slice(
            "dns",
            &[("dns", "UDP", 53)],
            vec![
                endpoint("10.42.2.7", "n2", Some(true)),
                endpoint("not-an-address", "n2", Some(true)),
            ],
        );
        let rules = service_rules("n1", &dns, &[&old, &new]).unwrap();
        let names: Vec<&str> = rules
            .chains
            .iter()
            .map(|chain| chain.name.as_str())
            .collect();
        assert_eq!(
            names,
            ["svc-default/dns/udp/dns", "svc-default/dns/tcp/dns-tcp"]
        );
        let udp = |one_in, address: &str, port| Rule::Pick {
            one_in,
            affinity: None,
            protocol: Protocol::Udp,
            backend: backend(address, port),
        };
        assert_eq!(
            rules.chains[0].rules[1..],
            [udp(2, "10.42.1.5", 5353), udp(1, "10.42.2.7", 53)]
        );
        assert_eq!(rules.chains[1].rules.len(), 2);
    }
}
