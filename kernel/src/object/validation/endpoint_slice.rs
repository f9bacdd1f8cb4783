//! Checks for an EndpointSlice, with Kubernetes' limits and messages: IPv4 addresses a proxy
//! may send traffic to (not unspecified, loopback or link-local), DNS hostnames and node
//! names, named and unique ports. That `addressType` never changes is a rule of update.

use std::collections::HashSet;
use std::net::Ipv4Addr;

use super::pod::check_port_number;
use super::{FieldError, report, unsupported};
use crate::object::endpoint_slice::{AddressType, Endpoint, EndpointSlice};
use crate::object::names::{check_dns1123_label, check_dns1123_subdomain, check_qualified_name};
use crate::object::pod_spec::ContainerPort;

const MAX_ENDPOINTS: usize = 1000;
const MAX_ADDRESSES: usize = 100;
const MAX_PORTS: usize = 20_000;

pub(super) fn validate_endpoint_slice(slice: &EndpointSlice, errors: &mut Vec<FieldError>) {
    match slice.address_type {
        AddressType::Ipv4 => {}
        AddressType::Ipv6 | AddressType::Fqdn => report(
            errors,
            "addressType",
            "not supported yet: flotilla's pod network and proxy are IPv4; use IPv4",
        ),
    }
    too_many(slice.endpoints.len(), MAX_ENDPOINTS, "endpoints", errors);
    for (index, endpoint) in slice.endpoints.iter().enumerate() {
        validate_endpoint(endpoint, &format!("endpoints[{index}]"), errors);
    }
    too_many(slice.ports.len(), MAX_PORTS, "ports", errors);
    let mut names = HashSet::new();
    for (index, port) in slice.ports.iter().enumerate() {
        let at = format!("ports[{index}]");
        if !port.name.is_empty() {
            if let Err(problem) = check_dns1123_label(&port.name) {
                report(errors, format!("{at}.name"), problem);
            } else if !names.insert(port.name.as_str()) {
                report(
                    errors,
                    format!("{at}.name"),
                    format!("Duplicate value: {:?}", port.name),
                );
            }
        }
        if !port.protocol.is_empty() && !ContainerPort::PROTOCOLS.contains(&port.protocol.as_str())
        {
            report(
                errors,
                format!("{at}.protocol"),
                unsupported(&port.protocol, &ContainerPort::PROTOCOLS),
            );
        }
        if let Some(number) = port.port {
            check_port_number(number, &format!("{at}.port"), errors);
        }
        if let Some(app_protocol) = &port.app_protocol
            && let Err(problem) = check_qualified_name(app_protocol)
        {
            report(errors, format!("{at}.appProtocol"), problem);
        }
    }
}

fn validate_endpoint(endpoint: &Endpoint, at: &str, errors: &mut Vec<FieldError>) {
    if endpoint.addresses.is_empty() {
        report(
            errors,
            format!("{at}.addresses"),
            "Required value: must contain at least 1 address",
        );
    }
    too_many(
        endpoint.addresses.len(),
        MAX_ADDRESSES,
        &format!("{at}.addresses"),
        errors,
    );
    for (index, address) in endpoint.addresses.iter().enumerate() {
        if let Err(problem) = check_endpoint_address(address) {
            report(
                errors,
                format!("{at}.addresses[{index}]"),
                format!("Invalid value: {address:?}: {problem}"),
            );
        }
    }
    if let Some(hostname) = &endpoint.hostname
        && let Err(problem) = check_dns1123_label(hostname)
    {
        report(errors, format!("{at}.hostname"), problem);
    }
    if let Some(node) = &endpoint.node_name
        && let Err(problem) = check_dns1123_subdomain(node)
    {
        report(errors, format!("{at}.nodeName"), problem);
    }
}

/// An IPv4 address traffic may be sent to, as Kubernetes' `ValidateEndpointIP` has it.
fn check_endpoint_address(address: &str) -> Result<(), &'static str> {
    let ip: Ipv4Addr = address
        .parse()
        .map_err(|_| "must be a valid IPv4 address")?;
    if ip.is_unspecified() {
        Err("may not be unspecified (0.0.0.0)")
    } else if ip.is_loopback() {
        Err("may not be in the loopback range (127.0.0.0/8)")
    } else if ip.is_link_local() {
        Err("may not be in the link-local range (169.254.0.0/16)")
    } else if ip.is_multicast() {
        Err("may not be in the multicast range (224.0.0.0/4)")
    } else {
        Ok(())
    }
}

fn too_many(count: usize, max: usize, path: &str, errors: &mut Vec<FieldError>) {
    if count > max {
        report(
            errors,
            path,
            format!("Too many: {count}: must have at most {max} items"),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::object::endpoint_slice::EndpointPort;

    fn check(slice: &EndpointSlice) -> Vec<String> {
        let mut errors = Vec::new();
        validate_endpoint_slice(slice, &mut errors);
        errors
            .into_iter()
            .map(|e| format!("{}: {}", e.path, e.message))
            .collect()
    }

    fn endpoint(addresses: &[&str]) -> Endpoint {
        Endpoint {
            addresses: addresses.iter().map(|a| a.to_string()).collect(),
            ..Endpoint::default()
        }
    }

    fn port(name: &str, number: i32) -> EndpointPort {
        EndpointPort {
            name: name.into(),
            protocol: "TCP".into(),
            port: Some(number),
            ..EndpointPort::default()
        }
    }

    #[test]
    fn a_controllers_slice_passes() {
        let mut ready = endpoint(&["10.42.1.5"]);
        ready.hostname = Some("web-0".into());
        ready.node_name = Some("node-1.example".into());
        let slice = EndpointSlice {
            endpoints: vec![ready, endpoint(&["10.42.2.9"])],
            ports: vec![port("http", 8080), port("", 9090)],
            ..EndpointSlice::default()
        };
        assert_eq!(check(&slice), Vec::<String>::new());
        assert_eq!(check(&EndpointSlice::default()), Vec::<String>::new());
    }

    #[test]
    fn addresses_are_ipv4_a_proxy_may_send_to() {
        let mut named = endpoint(&["10.42.1.5"]);
        named.hostname = Some("Web_0".into());
        let slice = EndpointSlice {
            endpoints: vec![
                endpoint(&[]),
                endpoint(&[
                    "10.42.1.300",
                    "127.0.0.1",
                    "0.0.0.0",
                    "169.254.1.1",
                    "fd00::1",
                ]),
                named,
            ],
            ..EndpointSlice::default()
        };
        let errors = check(&slice);
        assert_eq!(
            errors[..6],
            [
                "endpoints[0].addresses: Required value: must contain at least 1 address",
                "endpoints[1].addresses[0]: Invalid value: \"10.42.1.300\": must be a valid IPv4 \
                 address",
                "endpoints[1].addresses[1]: Invalid value: \"127.0.0.1\": may not be in the \
                 loopback range (127.0.0.0/8)",
                "endpoints[1].addresses[2]: Invalid value: \"0.0.0.0\": may not be unspecified \
                 (0.0.0.0)",
                "endpoints[1].addresses[3]: Invalid value: \"169.254.1.1\": may not be in the \
                 link-local range (169.254.0.0/16)",
                "endpoints[1].addresses[4]: Invalid value: \"fd00::1\": must be a valid IPv4 \
                 address",
            ]
        );
        assert!(
            errors[6].starts_with("endpoints[2].hostname: \"Web_0\""),
            "{errors:?}"
        );
        assert_eq!(errors.len(), 7);
        let crowded = EndpointSlice {
            endpoints: vec![endpoint(&["10.42.0.1"]); 1001],
            ..EndpointSlice::default()
        };
        assert_eq!(
            check(&crowded),
            ["endpoints: Too many: 1001: must have at most 1000 items"]
        );
    }

    #[test]
    fn ports_are_named_unique_and_in_range_and_only_ipv4_is_served() {
        let mut bad_protocol = port("dns", 53);
        bad_protocol.protocol = "ICMP".into();
        let slice = EndpointSlice {
            address_type: AddressType::Ipv6,
            ports: vec![
                port("http", 0),
                port("http", 80),
                port("Web", 81),
                bad_protocol,
            ],
            ..EndpointSlice::default()
        };
        assert_eq!(
            check(&slice),
            [
                "addressType: not supported yet: flotilla's pod network and proxy are IPv4; use \
                 IPv4",
                "ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive",
                "ports[1].name: Duplicate value: \"http\"",
                "ports[2].name: \"Web\" must consist of lower case alphanumeric characters or \
                 '-', and must start and end with an alphanumeric character",
                "ports[3].protocol: Unsupported value: \"ICMP\": supported values: \"SCTP\", \
                 \"TCP\", \"UDP\"",
            ]
        );
    }
}
