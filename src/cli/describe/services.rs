//! `describe service|endpointslice`. A Service shows how it is reached (type, addresses, each
//! port with its target and node port) and, per port, the ready endpoints its EndpointSlices
//! list, as kubectl does; a slice shows its ports and each endpoint.

use flotilla_kernel::object::{EndpointSlice, Service, ServicePort, ServiceType};

use super::super::table::Table;
use super::super::{label_text, wire_word};
use super::layout::Layout;
use super::meta;

/// How many endpoints a port shows before `+ N more...`.
const SHOWN: usize = 3;

pub fn service_view(service: &Service, slices: &[EndpointSlice]) -> String {
    let mut layout = Layout::default();
    let spec = &service.spec;
    meta::identity(&mut layout, &service.metadata, true);
    layout.field(0, "Selector", label_text::labels(&spec.selector));
    layout.field(0, "Type", spec.type_.as_str());
    if let Some(policy) = spec.ip_family_policy {
        layout.field(0, "IP Family Policy", wire_word::of(&policy));
    }
    if !spec.ip_families.is_empty() {
        let families: Vec<String> = spec.ip_families.iter().map(wire_word::of).collect();
        layout.field(0, "IP Families", families.join(","));
    }
    if spec.type_.uses_cluster_ip() {
        layout.field(0, "IP", or_none(&spec.cluster_ip));
        layout.field(0, "IPs", or_none(&spec.cluster_ips.join(",")));
    }
    if !spec.external_ips.is_empty() {
        layout.field(0, "External IPs", spec.external_ips.join(","));
    }
    if spec.type_ == ServiceType::ExternalName {
        layout.field(0, "External Name", spec.external_name.as_str());
    }
    for port in &spec.ports {
        let name = if port.name.is_empty() {
            "<unset>"
        } else {
            &port.name
        };
        let protocol = port.protocol();
        layout.field(0, "Port", format!("{name}  {}/{protocol}", port.port));
        let target = port
            .target_port
            .as_ref()
            .map_or_else(|| port.port.to_string(), ToString::to_string);
        layout.field(0, "TargetPort", format!("{target}/{protocol}"));
        if port.node_port != 0 {
            layout.field(
                0,
                "NodePort",
                format!("{name}  {}/{protocol}", port.node_port),
            );
        }
        if spec.type_ != ServiceType::ExternalName {
            layout.field(0, "Endpoints", endpoints(port, slices));
        }
    }
    layout.field(0, "Session Affinity", wire_word::of(&spec.session_affinity));
    if let Some(policy) = spec.external_traffic_policy {
        layout.field(0, "External Traffic Policy", policy.as_str());
    }
    if let Some(policy) = spec.internal_traffic_policy {
        layout.field(0, "Internal Traffic Policy", policy.as_str());
    }
    layout.render()
}

/// The ready endpoints serving `port` (`10.42.0.5:8080,...`), matched by port name and
/// protocol; `<none>` when there are none.
fn endpoints(port: &ServicePort, slices: &[EndpointSlice]) -> String {
    let mut addresses = Vec::new();
    for slice in slices {
        let served = slice
            .ports
            .iter()
            .find(|served| served.name == port.name && served.protocol == port.protocol());
        let Some(number) = served.and_then(|served| served.port) else {
            continue;
        };
        let ready = slice
            .endpoints
            .iter()
            .filter(|endpoint| endpoint.conditions.is_ready());
        for endpoint in ready {
            if let Some(address) = endpoint.addresses.first() {
                addresses.push(format!("{address}:{number}"));
            }
        }
    }
    match addresses.len() {
        0 => "<none>".to_string(),
        count if count > SHOWN => {
            format!(
                "{} + {} more...",
                addresses[..SHOWN].join(","),
                count - SHOWN
            )
        }
        _ => addresses.join(","),
    }
}

pub fn endpoint_slice_view(slice: &EndpointSlice) -> String {
    let mut layout = Layout::default();
    meta::identity(&mut layout, &slice.metadata, true);
    layout.field(0, "AddressType", wire_word::of(&slice.address_type));
    if slice.ports.is_empty() {
        layout.field(0, "Ports", "<unset>");
    } else {
        layout.section(0, "Ports");
        let mut table = Table::new(["NAME", "PORT", "PROTOCOL"]);
        for port in &slice.ports {
            table.push(vec![
                unset(&port.name),
                port.port
                    .map_or("<unset>".to_string(), |number| number.to_string()),
                unset(&port.protocol),
            ]);
        }
        layout.table(1, &table);
    }
    if slice.endpoints.is_empty() {
        layout.field(0, "Endpoints", "<none>");
    } else {
        layout.section(0, "Endpoints");
    }
    for endpoint in &slice.endpoints {
        layout.field(1, "- Addresses", endpoint.addresses.join(","));
        layout.section(2, "Conditions");
        let conditions = &endpoint.conditions;
        for (key, value) in [
            ("Ready", conditions.ready),
            ("Serving", conditions.serving),
            ("Terminating", conditions.terminating),
        ] {
            layout.field(
                3,
                key,
                value.map_or("<unset>".to_string(), |v| v.to_string()),
            );
        }
        layout.field(
            2,
            "Hostname",
            unset(endpoint.hostname.as_deref().unwrap_or("")),
        );
        let target = endpoint
            .target_ref
            .as_ref()
            .map_or("<unset>".to_string(), |target| {
                format!("{}/{}", target.kind, target.name)
            });
        layout.field(2, "TargetRef", target);
        layout.field(
            2,
            "NodeName",
            unset(endpoint.node_name.as_deref().unwrap_or("")),
        );
    }
    layout.render()
}

fn or_none(text: &str) -> String {
    if text.is_empty() { "<none>" } else { text }.to_string()
}

fn unset(text: &str) -> String {
    if text.is_empty() { "<unset>" } else { text }.to_string()
}

#[cfg(test)]
mod tests {
    use flotilla_kernel::object::{
        Endpoint, EndpointConditions, EndpointPort, IntOrString, IpFamily, IpFamilyPolicy,
        ObjectReference, SERVICE_NAME_LABEL, ServiceSpec, SessionAffinity, TrafficPolicy,
    };

    use super::*;

    fn node_port_service() -> Service {
        let mut service = Service::default();
        service.metadata.name = "my-service".to_string();
        service.metadata.namespace = "default".to_string();
        service.spec = ServiceSpec {
            type_: ServiceType::NodePort,
            selector: [("app.kubernetes.io/name".to_string(), "MyApp".to_string())].into(),
            cluster_ip: "10.43.80.12".to_string(),
            cluster_ips: vec!["10.43.80.12".to_string()],
            ip_families: vec![IpFamily::Ipv4],
            ip_family_policy: Some(IpFamilyPolicy::SingleStack),
            internal_traffic_policy: Some(TrafficPolicy::Cluster),
            external_traffic_policy: Some(TrafficPolicy::Cluster),
            ports: vec![
                ServicePort {
                    protocol: "TCP".to_string(),
                    port: 80,
                    target_port: Some(IntOrString::Int(9376)),
                    node_port: 30007,
                    ..ServicePort::default()
                },
                ServicePort {
                    name: "metrics".to_string(),
                    protocol: "TCP".to_string(),
                    port: 9090,
                    target_port: Some(IntOrString::String("metrics".to_string())),
                    node_port: 30090,
                    ..ServicePort::default()
                },
            ],
            ..ServiceSpec::default()
        };
        service
    }

    fn slice(addresses: &[(&str, bool)], ports: &[(&str, i32)]) -> EndpointSlice {
        let mut slice = EndpointSlice::default();
        slice.metadata.name = "my-service-abc12".to_string();
        slice.metadata.namespace = "default".to_string();
        slice
            .metadata
            .labels
            .insert(SERVICE_NAME_LABEL.to_string(), "my-service".to_string());
        slice.endpoints = addresses
            .iter()
            .map(|(address, ready)| Endpoint {
                addresses: vec![address.to_string()],
                conditions: EndpointConditions {
                    ready: Some(*ready),
                    ..EndpointConditions::default()
                },
                ..Endpoint::default()
            })
            .collect();
        slice.ports = ports
            .iter()
            .map(|(name, port)| EndpointPort {
                name: name.to_string(),
                protocol: "TCP".to_string(),
                port: Some(*port),
                ..EndpointPort::default()
            })
            .collect();
        slice
    }

    #[test]
    fn a_node_port_service_with_its_endpoints() {
        let slices = [slice(
            &[
                ("10.42.0.5", true),
                ("10.42.1.6", false),
                ("10.42.2.7", true),
            ],
            &[("", 9376), ("metrics", 9100)],
        )];
        let text = service_view(&node_port_service(), &slices);
        let expected = "Selector:                 app.kubernetes.io/name=MyApp
Type:                     NodePort
IP Family Policy:         SingleStack
IP Families:              IPv4
IP:                       10.43.80.12
IPs:                      10.43.80.12
Port:                     <unset>  80/TCP
TargetPort:               9376/TCP
NodePort:                 <unset>  30007/TCP
Endpoints:                10.42.0.5:9376,10.42.2.7:9376
Port:                     metrics  9090/TCP
TargetPort:               metrics/TCP
NodePort:                 metrics  30090/TCP
Endpoints:                10.42.0.5:9100,10.42.2.7:9100
Session Affinity:         None
External Traffic Policy:  Cluster
Internal Traffic Policy:  Cluster
";
        assert!(text.ends_with(expected), "{text}");
        assert!(
            text.starts_with("Name:                     my-service\n"),
            "{text}"
        );
    }

    #[test]
    fn endpoints_beyond_three_are_counted_and_none_say_so() {
        let mut service = node_port_service();
        service.spec.ports.truncate(1);
        let many = [slice(
            &[
                ("10.42.0.1", true),
                ("10.42.0.2", true),
                ("10.42.0.3", true),
                ("10.42.0.4", true),
            ],
            &[("", 9376)],
        )];
        let text = service_view(&service, &many);
        assert!(
            text.contains("Endpoints:                10.42.0.1:9376,10.42.0.2:9376,10.42.0.3:9376 + 1 more...\n"),
            "{text}"
        );
        let text = service_view(&service, &[]);
        assert!(
            text.contains("Endpoints:                <none>\n"),
            "{text}"
        );
    }

    #[test]
    fn an_external_name_service_and_client_ip_affinity() {
        let mut service = Service::default();
        service.metadata.name = "my-service".to_string();
        service.spec.type_ = ServiceType::ExternalName;
        service.spec.external_name = "my.database.example.com".to_string();
        let text = service_view(&service, &[]);
        assert!(
            text.contains("External Name:      my.database.example.com\n"),
            "{text}"
        );
        assert!(!text.contains("IP:"), "{text}");
        assert!(!text.contains("Endpoints"), "{text}");

        let mut sticky = node_port_service();
        sticky.spec.session_affinity = SessionAffinity::ClientIp;
        let text = service_view(&sticky, &[]);
        assert!(
            text.contains("Session Affinity:         ClientIP\n"),
            "{text}"
        );
    }

    #[test]
    fn an_endpoint_slice() {
        let mut slice = slice(&[("10.42.0.5", true)], &[("http", 8080)]);
        slice.endpoints[0].node_name = Some("n1".to_string());
        slice.endpoints[0].target_ref = Some(ObjectReference {
            kind: "Pod".to_string(),
            name: "web-1".to_string(),
            ..ObjectReference::default()
        });
        let text = endpoint_slice_view(&slice);
        let expected = "AddressType:        IPv4
Ports:
  NAME   PORT   PROTOCOL
  http   8080   TCP
Endpoints:
  - Addresses:  10.42.0.5
    Conditions:
      Ready:        true
      Serving:      <unset>
      Terminating:  <unset>
    Hostname:       <unset>
    TargetRef:      Pod/web-1
    NodeName:       n1
";
        assert!(text.ends_with(expected), "{text}");
        assert!(
            text.contains("Labels:             kubernetes.io/service-name=my-service\n"),
            "{text}"
        );
        let empty = endpoint_slice_view(&EndpointSlice::default());
        assert!(
            empty.ends_with("Ports:              <unset>\nEndpoints:          <none>\n"),
            "{empty}"
        );
    }
}
