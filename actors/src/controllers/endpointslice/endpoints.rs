//! The endpoints a Service should have: one per selected pod with an IPv4 address, with its
//! conditions and the ports it serves the Service's ports on, as Kubernetes'
//! `podToEndpoint` and `getEndpointPorts` make them.
//!
//! A named `targetPort` resolves per pod (two pods may serve `http` on different ports), so
//! the endpoints come in groups, one per distinct list of resolved ports; each group gets
//! slices of its own.

use std::borrow::Borrow;
use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use flotilla_kernel::object::{
    Endpoint, EndpointConditions, EndpointPort, IntOrString, ObjectReference, Pod, Service,
    ServicePort, ServiceType,
};

/// Endpoints that serve the Service's ports on the same pod ports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub ports: Vec<EndpointPort>,
    /// In the order of the pods' names.
    pub endpoints: Vec<Endpoint>,
}

/// Whether the controller keeps slices for `service`: it has a selector and is not an alias.
pub fn wants_slices(service: &Service) -> bool {
    !service.spec.selector.is_empty() && service.spec.type_ != ServiceType::ExternalName
}

/// The desired endpoints of `service`, grouped by their ports, from the pods of its namespace
/// (pods of other namespaces and pods the selector does not pick are ignored).
pub fn desired_groups<P: Borrow<Pod>>(service: &Service, pods: &[P]) -> Vec<Group> {
    let mut pods: Vec<&Pod> = pods
        .iter()
        .map(Borrow::borrow)
        .filter(|pod| pod.metadata.namespace == service.metadata.namespace)
        .filter(|pod| selects(&service.spec.selector, &pod.metadata.labels))
        .filter(|pod| !pod.is_terminal())
        .collect();
    pods.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
    let mut groups: Vec<Group> = Vec::new();
    for pod in pods {
        let Some(address) = pod_ipv4(pod) else {
            continue;
        };
        let Some(ports) = endpoint_ports(service, pod) else {
            continue;
        };
        let endpoint = endpoint(service, pod, address);
        match groups.iter_mut().find(|group| group.ports == ports) {
            Some(group) => group.endpoints.push(endpoint),
            None => groups.push(Group {
                ports,
                endpoints: vec![endpoint],
            }),
        }
    }
    groups
}

/// Whether a Service's `selector` picks an object with `labels` (an empty one picks nothing:
/// such Services have no managed endpoints).
pub fn selects(selector: &BTreeMap<String, String>, labels: &BTreeMap<String, String>) -> bool {
    !selector.is_empty()
        && selector
            .iter()
            .all(|(key, value)| labels.get(key) == Some(value))
}

/// The pod's IPv4 address: the first of `podIPs` that is one, else `podIP` if it is one.
fn pod_ipv4(pod: &Pod) -> Option<String> {
    let status = &pod.status;
    status
        .pod_ips
        .iter()
        .map(|ip| ip.ip.as_str())
        .chain(std::iter::once(status.pod_ip.as_str()))
        .find(|ip| ip.parse::<Ipv4Addr>().is_ok())
        .map(str::to_string)
}

/// The endpoint of `pod` at `address`. Serving is the pod's readiness; ready also needs the
/// pod not to be terminating, unless the Service publishes not-ready addresses.
fn endpoint(service: &Service, pod: &Pod, address: String) -> Endpoint {
    let serving = pod.is_ready();
    let terminating = pod.metadata.deletion_timestamp.is_some();
    let ready = service.spec.publish_not_ready_addresses || (serving && !terminating);
    let hostname = (!pod.spec.hostname.is_empty() && pod.spec.subdomain == service.metadata.name)
        .then(|| pod.spec.hostname.clone());
    Endpoint {
        addresses: vec![address],
        conditions: EndpointConditions {
            ready: Some(ready),
            serving: Some(serving),
            terminating: Some(terminating),
        },
        hostname,
        node_name: (!pod.spec.node_name.is_empty()).then(|| pod.spec.node_name.clone()),
        target_ref: Some(ObjectReference {
            kind: "Pod".into(),
            namespace: pod.metadata.namespace.clone(),
            name: pod.metadata.name.clone(),
            uid: pod.metadata.uid.clone(),
        }),
    }
}

/// The ports `pod` serves the Service's ports on. A port whose `targetPort` names no
/// container port of the pod is left out, as Kubernetes does; a pod that serves none of the
/// Service's ports is left out altogether (`None`), since a slice without ports would mean
/// "every port".
fn endpoint_ports(service: &Service, pod: &Pod) -> Option<Vec<EndpointPort>> {
    let ports: Vec<EndpointPort> = service
        .spec
        .ports
        .iter()
        .filter_map(|port| {
            Some(EndpointPort {
                name: port.name.clone(),
                protocol: port.protocol().to_string(),
                port: Some(target_port(port, pod)?),
                app_protocol: port.app_protocol.clone(),
            })
        })
        .collect();
    (service.spec.ports.is_empty() || !ports.is_empty()).then_some(ports)
}

/// The pod port behind `port`: its `targetPort` number, the container port its `targetPort`
/// names (with the same protocol, in a container or a sidecar), or `port` itself.
fn target_port(port: &ServicePort, pod: &Pod) -> Option<i32> {
    match &port.target_port {
        None => Some(port.port),
        Some(IntOrString::Int(number)) => Some(*number),
        Some(IntOrString::String(name)) => pod
            .spec
            .containers
            .iter()
            .chain(
                pod.spec
                    .init_containers
                    .iter()
                    .filter(|c| c.restart_policy.as_deref() == Some("Always")),
            )
            .flat_map(|container| &container.ports)
            .find(|p| p.name == *name && protocol_or_tcp(&p.protocol) == port.protocol())
            .map(|p| p.container_port),
    }
}

fn protocol_or_tcp(protocol: &str) -> &str {
    if protocol.is_empty() { "TCP" } else { protocol }
}

#[cfg(test)]
mod tests {
    use flotilla_kernel::object::{
        ConditionStatus, Container, ContainerPort, PodCondition, PodIp, PodPhase, Time,
    };

    use super::*;

    fn service() -> Service {
        let mut service = Service::default();
        service.metadata.namespace = "default".into();
        service.metadata.name = "web".into();
        service.spec.selector = [("app".to_string(), "web".to_string())].into();
        service.spec.ports = vec![ServicePort {
            port: 80,
            target_port: Some(IntOrString::Int(8080)),
            ..ServicePort::default()
        }];
        service
    }

    fn pod(name: &str, ip: &str, ready: bool) -> Pod {
        let mut pod = Pod::default();
        pod.metadata.namespace = "default".into();
        pod.metadata.name = name.into();
        pod.metadata.uid = format!("uid-{name}");
        pod.metadata.labels = [("app".to_string(), "web".to_string())].into();
        pod.spec.node_name = "n1".into();
        pod.status.phase = PodPhase::Running;
        pod.status.pod_ip = ip.into();
        pod.status.pod_ips = vec![PodIp { ip: ip.into() }];
        let status = if ready {
            ConditionStatus::True
        } else {
            ConditionStatus::False
        };
        pod.status.conditions = vec![PodCondition {
            type_: PodCondition::READY.into(),
            status,
            ..PodCondition::default()
        }];
        pod
    }

    fn conditions(group: &Group) -> Vec<(Option<bool>, Option<bool>, Option<bool>)> {
        group
            .endpoints
            .iter()
            .map(|e| {
                (
                    e.conditions.ready,
                    e.conditions.serving,
                    e.conditions.terminating,
                )
            })
            .collect()
    }

    #[test]
    fn a_ready_pod_is_a_ready_endpoint_with_its_node_and_pod() {
        let groups = desired_groups(&service(), &[pod("web-1", "10.42.0.5", true)]);
        assert_eq!(groups.len(), 1);
        let endpoint = &groups[0].endpoints[0];
        assert_eq!(endpoint.addresses, ["10.42.0.5"]);
        assert_eq!(
            conditions(&groups[0]),
            [(Some(true), Some(true), Some(false))]
        );
        assert_eq!(endpoint.node_name.as_deref(), Some("n1"));
        let target = endpoint.target_ref.as_ref().unwrap();
        assert_eq!(
            (
                target.kind.as_str(),
                target.name.as_str(),
                target.uid.as_str()
            ),
            ("Pod", "web-1", "uid-web-1")
        );
        assert_eq!(endpoint.hostname, None);
        assert_eq!(
            groups[0].ports,
            [EndpointPort {
                protocol: "TCP".into(),
                port: Some(8080),
                ..EndpointPort::default()
            }]
        );
    }

    #[test]
    fn terminating_pods_serve_but_are_not_ready_unless_not_ready_addresses_are_published() {
        let mut terminating = pod("web-1", "10.42.0.5", true);
        terminating.metadata.deletion_timestamp =
            Some(Time::from(std::time::SystemTime::UNIX_EPOCH));
        let unready = pod("web-2", "10.42.0.6", false);
        let pods = [terminating, unready];
        let groups = desired_groups(&service(), &pods);
        assert_eq!(
            conditions(&groups[0]),
            [
                (Some(false), Some(true), Some(true)),
                (Some(false), Some(false), Some(false))
            ]
        );
        let mut publishing = service();
        publishing.spec.publish_not_ready_addresses = true;
        let groups = desired_groups(&publishing, &pods);
        assert_eq!(
            conditions(&groups[0]),
            [
                (Some(true), Some(true), Some(true)),
                (Some(true), Some(false), Some(false))
            ]
        );
    }

    #[test]
    fn finished_unaddressed_unselected_and_foreign_pods_are_left_out() {
        let mut finished = pod("a", "10.42.0.1", true);
        finished.status.phase = PodPhase::Succeeded;
        let mut failed = pod("b", "10.42.0.2", true);
        failed.status.phase = PodPhase::Failed;
        let no_ip = pod("c", "", true);
        let v6_only = pod("d", "fd00::1", true);
        let mut other_app = pod("e", "10.42.0.5", true);
        other_app.metadata.labels.insert("app".into(), "db".into());
        let mut elsewhere = pod("f", "10.42.0.6", true);
        elsewhere.metadata.namespace = "prod".into();
        let pods = [finished, failed, no_ip, v6_only, other_app, elsewhere];
        assert!(desired_groups(&service(), &pods).is_empty());
    }

    #[test]
    fn the_first_ipv4_address_is_used() {
        let mut dual = pod("a", "fd00::1", true);
        dual.status.pod_ips = vec![
            PodIp {
                ip: "fd00::1".into(),
            },
            PodIp {
                ip: "10.42.0.9".into(),
            },
        ];
        let groups = desired_groups(&service(), &[dual]);
        assert_eq!(groups[0].endpoints[0].addresses, ["10.42.0.9"]);
    }

    #[test]
    fn hostnames_are_published_only_under_the_pods_subdomain() {
        let mut named = pod("web-0", "10.42.0.5", true);
        named.spec.hostname = "web-0".into();
        named.spec.subdomain = "web".into();
        let mut elsewhere = pod("web-1", "10.42.0.6", true);
        elsewhere.spec.hostname = "web-1".into();
        elsewhere.spec.subdomain = "other".into();
        let groups = desired_groups(&service(), &[named, elsewhere]);
        let hostnames: Vec<_> = groups[0]
            .endpoints
            .iter()
            .map(|e| e.hostname.clone())
            .collect();
        assert_eq!(hostnames, [Some("web-0".to_string()), None]);
    }

    fn serving_http_on(name: &str, ip: &str, port: i32) -> Pod {
        let mut pod = pod(name, ip, true);
        pod.spec.containers = vec![Container {
            name: "main".into(),
            ports: vec![ContainerPort {
                name: "http".into(),
                container_port: port,
                ..ContainerPort::default()
            }],
            ..Container::default()
        }];
        pod
    }

    #[test]
    fn named_target_ports_resolve_per_pod_into_groups() {
        let mut service = service();
        service.spec.ports = vec![
            ServicePort {
                name: "http".into(),
                port: 80,
                target_port: Some(IntOrString::String("http".into())),
                app_protocol: Some("http".into()),
                ..ServicePort::default()
            },
            ServicePort {
                name: "admin".into(),
                protocol: "TCP".into(),
                port: 9000,
                ..ServicePort::default()
            },
        ];
        let pods = [
            serving_http_on("a", "10.42.0.1", 8080),
            serving_http_on("b", "10.42.0.2", 8081),
            serving_http_on("c", "10.42.0.3", 8080),
            pod("d", "10.42.0.4", true),
        ];
        let groups = desired_groups(&service, &pods);
        let summary: Vec<(Vec<Option<i32>>, Vec<String>)> = groups
            .iter()
            .map(|g| {
                (
                    g.ports.iter().map(|p| p.port).collect(),
                    g.endpoints
                        .iter()
                        .map(|e| e.target_ref.as_ref().unwrap().name.clone())
                        .collect(),
                )
            })
            .collect();
        assert_eq!(
            summary,
            [
                (vec![Some(8080), Some(9000)], vec!["a".into(), "c".into()]),
                (vec![Some(8081), Some(9000)], vec!["b".into()]),
                // "d" has no port named http: it serves only the admin port.
                (vec![Some(9000)], vec!["d".into()]),
            ]
        );
        assert_eq!(groups[0].ports[0].name, "http");
        assert_eq!(groups[0].ports[0].app_protocol.as_deref(), Some("http"));
    }

    #[test]
    fn a_pod_serving_none_of_the_ports_is_left_out() {
        let mut service = service();
        service.spec.ports[0].target_port = Some(IntOrString::String("http".into()));
        let mut udp = serving_http_on("b", "10.42.0.2", 8080);
        udp.spec.containers[0].ports[0].protocol = "UDP".into();
        let groups = desired_groups(
            &service,
            &[
                pod("a", "10.42.0.1", true),
                udp,
                serving_http_on("c", "10.42.0.3", 8080),
            ],
        );
        assert_eq!(groups.len(), 1);
        assert_eq!(groups[0].endpoints.len(), 1);
        assert_eq!(groups[0].ports[0].port, Some(8080));
    }

    #[test]
    fn sidecars_ports_can_be_named_and_unset_target_ports_are_the_port() {
        let mut service = service();
        service.spec.ports = vec![
            ServicePort {
                name: "proxy".into(),
                port: 15001,
                target_port: Some(IntOrString::String("proxy".into())),
                ..ServicePort::default()
            },
            ServicePort {
                name: "web".into(),
                port: 80,
                ..ServicePort::default()
            },
        ];
        let mut with_sidecar = pod("a", "10.42.0.1", true);
        with_sidecar.spec.init_containers = vec![Container {
            name: "proxy".into(),
            restart_policy: Some("Always".into()),
            ports: vec![ContainerPort {
                name: "proxy".into(),
                container_port: 15006,
                ..ContainerPort::default()
            }],
            ..Container::default()
        }];
        let groups = desired_groups(&service, &[with_sidecar]);
        let ports: Vec<_> = groups[0].ports.iter().map(|p| p.port).collect();
        assert_eq!(ports, [Some(15006), Some(80)]);
    }

    #[test]
    fn headless_services_without_ports_list_their_pods_without_ports() {
        let mut service = service();
        service.spec.ports.clear();
        let groups = desired_groups(&service, &[pod("a", "10.42.0.1", true)]);
        assert_eq!(groups.len(), 1);
        assert!(groups[0].ports.is_empty());
    }

    #[test]
    fn only_services_with_a_selector_that_are_no_alias_want_slices() {
        let mut service = service();
        assert!(wants_slices(&service));
        service.spec.type_ = ServiceType::ExternalName;
        assert!(!wants_slices(&service));
        service.spec.type_ = ServiceType::ClusterIp;
        service.spec.selector.clear();
        assert!(!wants_slices(&service));
        assert!(!selects(&service.spec.selector, &BTreeMap::new()));
    }
}
