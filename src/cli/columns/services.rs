//! The columns of Services and EndpointSlices, as kubectl shows them: a Service's type,
//! addresses and `port:nodePort/protocol` list; a slice's ports and first addresses.

use std::time::SystemTime;

use flotilla_kernel::object::{EndpointSlice, Service, ServiceType};

use super::super::{label_text, wire_word};
use super::{Cells, NONE, age};

/// How many ports or addresses of a slice are shown before `+ N more...`.
const SHOWN: usize = 3;

/// NAME TYPE CLUSTER-IP EXTERNAL-IP PORT(S) AGE, and SELECTOR when wide.
pub(super) fn service_cells(service: &Service, now: SystemTime) -> Cells {
    let spec = &service.spec;
    let cluster_ip = spec.cluster_ips.first().unwrap_or(&spec.cluster_ip).clone();
    (
        vec![
            service.metadata.name.clone(),
            spec.type_.as_str().to_string(),
            if cluster_ip.is_empty() {
                NONE.to_string()
            } else {
                cluster_ip
            },
            external_ip(service),
            ports(service),
            age(&service.metadata, now),
        ],
        vec![label_text::labels(&spec.selector)],
    )
}

/// The external name of an alias; the load balancer's addresses (`<pending>` until it has
/// them); otherwise the external IPs, or `<none>`.
fn external_ip(service: &Service) -> String {
    let spec = &service.spec;
    let listed = |addresses: Vec<&str>, otherwise: &str| {
        if addresses.is_empty() {
            otherwise.to_string()
        } else {
            addresses.join(",")
        }
    };
    let external_ips = spec.external_ips.iter().map(String::as_str).collect();
    match spec.type_ {
        ServiceType::ExternalName => spec.external_name.clone(),
        ServiceType::LoadBalancer => {
            let ingress = &service.status.load_balancer.ingress;
            let addresses = ingress
                .iter()
                .map(|ingress| {
                    if ingress.ip.is_empty() {
                        ingress.hostname.as_str()
                    } else {
                        ingress.ip.as_str()
                    }
                })
                .chain(spec.external_ips.iter().map(String::as_str))
                .collect();
            listed(addresses, "<pending>")
        }
        ServiceType::ClusterIp | ServiceType::NodePort => listed(external_ips, NONE),
    }
}

/// `80/TCP,443:30443/TCP`; `<none>` without ports.
fn ports(service: &Service) -> String {
    let ports: Vec<String> = service
        .spec
        .ports
        .iter()
        .map(|port| match port.node_port {
            0 => format!("{}/{}", port.port, port.protocol()),
            node_port => format!("{}:{node_port}/{}", port.port, port.protocol()),
        })
        .collect();
    if ports.is_empty() {
        NONE.to_string()
    } else {
        ports.join(",")
    }
}

/// NAME ADDRESSTYPE PORTS ENDPOINTS AGE.
pub(super) fn endpoint_slice_cells(slice: &EndpointSlice, now: SystemTime) -> Cells {
    let ports = slice.ports.iter().map(|port| match port.port {
        Some(number) => number.to_string(),
        None if !port.name.is_empty() => port.name.clone(),
        None => "*".to_string(),
    });
    let addresses = slice
        .endpoints
        .iter()
        .flat_map(|endpoint| endpoint.addresses.iter().cloned());
    (
        vec![
            slice.metadata.name.clone(),
            wire_word::of(&slice.address_type),
            first_few(ports),
            first_few(addresses),
            age(&slice.metadata, now),
        ],
        vec![],
    )
}

/// The first three items and how many more there are (`a,b,c + 2 more...`); `<unset>` for
/// none.
fn first_few(items: impl Iterator<Item = String>) -> String {
    let items: Vec<String> = items.collect();
    if items.is_empty() {
        return "<unset>".to_string();
    }
    let shown = items[..items.len().min(SHOWN)].join(",");
    match items.len().checked_sub(SHOWN) {
        Some(more) if more > 0 => format!("{shown} + {more} more..."),
        _ => shown,
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use flotilla_kernel::object::{
        Endpoint, EndpointPort, LoadBalancerIngress, ObjectMeta, ServicePort, ServiceSpec, Time,
    };

    use super::*;

    fn now() -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(2_000_000_000)
    }

    fn meta(name: &str) -> ObjectMeta {
        ObjectMeta {
            name: name.to_string(),
            namespace: "default".to_string(),
            creation_timestamp: Some(Time::from(now() - Duration::from_secs(300))),
            ..ObjectMeta::default()
        }
    }

    fn port(port: i32, node_port: i32, protocol: &str) -> ServicePort {
        ServicePort {
            port,
            node_port,
            protocol: protocol.to_string(),
            ..ServicePort::default()
        }
    }

    fn row(service: &Service) -> Vec<String> {
        let (mut always, wide) = service_cells(service, now());
        always.extend(wide);
        always
    }

    #[test]
    fn services_show_their_type_addresses_and_ports_as_kubectl_does() {
        let mut web = Service {
            metadata: meta("web"),
            spec: ServiceSpec {
                selector: [("app".to_string(), "web".to_string())].into(),
                cluster_ip: "10.43.12.5".to_string(),
                cluster_ips: vec!["10.43.12.5".to_string()],
                ports: vec![port(80, 0, "TCP"), port(53, 0, "UDP")],
                ..ServiceSpec::default()
            },
            ..Service::default()
        };
        assert_eq!(
            row(&web),
            [
                "web",
                "ClusterIP",
                "10.43.12.5",
                "<none>",
                "80/TCP,53/UDP",
                "5m",
                "app=web"
            ]
        );

        web.spec.type_ = ServiceType::NodePort;
        web.spec.ports = vec![port(80, 30080, "TCP")];
        assert_eq!(
            row(&web)[1..5],
            ["NodePort", "10.43.12.5", "<none>", "80:30080/TCP"]
        );

        let mut headless = web.clone();
        headless.spec.type_ = ServiceType::ClusterIp;
        headless.spec.cluster_ip = "None".to_string();
        headless.spec.cluster_ips = vec!["None".to_string()];
        headless.spec.selector.clear();
        headless.spec.ports.clear();
        assert_eq!(
            row(&headless)[1..],
            ["ClusterIP", "None", "<none>", "<none>", "5m", "<none>"]
        );

        let alias = Service {
            metadata: meta("db"),
            spec: ServiceSpec {
                type_: ServiceType::ExternalName,
                external_name: "my.database.example.com".to_string(),
                ..ServiceSpec::default()
            },
            ..Service::default()
        };
        assert_eq!(
            row(&alias)[1..5],
            [
                "ExternalName",
                "<none>",
                "my.database.example.com",
                "<none>"
            ]
        );

        let mut balanced = web.clone();
        balanced.spec.type_ = ServiceType::LoadBalancer;
        assert_eq!(row(&balanced)[3], "<pending>");
        balanced.status.load_balancer.ingress = vec![LoadBalancerIngress {
            ip: "192.0.2.127".to_string(),
            ..LoadBalancerIngress::default()
        }];
        assert_eq!(row(&balanced)[3], "192.0.2.127");
    }

    #[test]
    fn endpoint_slices_show_three_ports_and_addresses_and_how_many_more() {
        let endpoint = |address: &str| Endpoint {
            addresses: vec![address.to_string()],
            ..Endpoint::default()
        };
        let mut slice = EndpointSlice {
            metadata: meta("web-abc12"),
            endpoints: [
                "10.42.0.5",
                "10.42.1.7",
                "10.42.2.9",
                "10.42.3.1",
                "10.42.4.4",
            ]
            .into_iter()
            .map(endpoint)
            .collect(),
            ports: vec![
                EndpointPort {
                    port: Some(8080),
                    ..EndpointPort::default()
                },
                EndpointPort {
                    name: "metrics".to_string(),
                    ..EndpointPort::default()
                },
            ],
            ..EndpointSlice::default()
        };
        let (cells, wide) = endpoint_slice_cells(&slice, now());
        assert!(wide.is_empty());
        assert_eq!(
            cells,
            [
                "web-abc12",
                "IPv4",
                "8080,metrics",
                "10.42.0.5,10.42.1.7,10.42.2.9 + 2 more...",
                "5m"
            ]
        );
        slice.endpoints.truncate(3);
        slice.ports.clear();
        let (cells, _) = endpoint_slice_cells(&slice, now());
        assert_eq!(cells[2..4], ["<unset>", "10.42.0.5,10.42.1.7,10.42.2.9"]);
        slice.endpoints.clear();
        let (cells, _) = endpoint_slice_cells(&slice, now());
        assert_eq!(cells[3], "<unset>");
    }
}
