//! Checks for a Service, after defaulting, with Kubernetes' rules and messages: ports (named
//! and unique when there are several, numbers in range, target ports as numbers or IANA
//! service names, node ports only where the type has them), the ClusterIP (an IPv4 address,
//! `None` for headless, absent for `ExternalName`), the external name, session affinity, IP
//! families and traffic policies. What is flotilla's to refuse — `LoadBalancer`,
//! `externalIPs`, IPv6 — is refused by path with the reason.
//!
//! Whether a ClusterIP or node port is inside its range and free is the allocator's to say,
//! when the API server writes the Service; that `clusterIP` never changes is a rule of update.

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr};

use super::labels::validate_label_map;
use super::pod::{check_port_name, check_port_number};
use super::{FieldError, report, unsupported};
use crate::object::intstr::IntOrString;
use crate::object::names::{check_dns1123_label, check_dns1123_subdomain, check_qualified_name};
use crate::object::pod_spec::ContainerPort;
use crate::object::service::{
    IpFamily, IpFamilyPolicy, MAX_CLIENT_IP_TIMEOUT_SECONDS, Service, ServiceSpec, ServiceType,
    SessionAffinity,
};

/// Why flotilla's Services have one IPv4 address.
const SINGLE_STACK: &str = "flotilla's Services are single-stack IPv4";

pub(super) fn validate_service(service: &Service, errors: &mut Vec<FieldError>) {
    let spec = &service.spec;
    if spec.type_ == ServiceType::LoadBalancer {
        report(
            errors,
            "spec.type",
            "not supported yet: flotilla has no load balancer to give the Service an external \
             address; use type NodePort and point your load balancer at the node ports",
        );
    }
    if spec.ports.is_empty() && !spec.is_headless() && spec.type_ != ServiceType::ExternalName {
        report(errors, "spec.ports", "Required value");
    }
    validate_ports(spec, errors);
    validate_label_map(&spec.selector, "spec.selector", errors);
    if spec.type_.uses_cluster_ip() {
        validate_cluster_ip(spec, errors);
        validate_ip_families(spec, errors);
    } else {
        validate_external_name(spec, errors);
    }
    validate_session_affinity(spec, errors);
    if let Some(policy) = spec.external_traffic_policy
        && !spec.type_.uses_node_ports()
    {
        report(
            errors,
            "spec.externalTrafficPolicy",
            format!(
                "Invalid value: {:?}: may only be set for externally-accessible services",
                policy.as_str()
            ),
        );
    }
    if !spec.external_ips.is_empty() {
        report(
            errors,
            "spec.externalIPs",
            "not supported yet: the proxy serves Services on their ClusterIP and node ports \
             only; use type NodePort to reach the Service from outside the cluster",
        );
    }
}

fn validate_ports(spec: &ServiceSpec, errors: &mut Vec<FieldError>) {
    let require_names = spec.ports.len() > 1;
    let mut names = HashSet::new();
    let mut ports = HashSet::new();
    let mut node_ports = HashSet::new();
    for (index, port) in spec.ports.iter().enumerate() {
        let at = format!("spec.ports[{index}]");
        if port.name.is_empty() {
            if require_names {
                report(errors, format!("{at}.name"), "Required value");
            }
        } else if let Err(problem) = check_dns1123_label(&port.name) {
            report(errors, format!("{at}.name"), problem);
        } else if !names.insert(port.name.as_str()) {
            report(
                errors,
                format!("{at}.name"),
                format!("Duplicate value: {:?}", port.name),
            );
        }
        check_port_number(port.port, &format!("{at}.port"), errors);
        let protocol = port.protocol();
        if !ContainerPort::PROTOCOLS.contains(&protocol) {
            report(
                errors,
                format!("{at}.protocol"),
                unsupported(protocol, &ContainerPort::PROTOCOLS),
            );
        }
        match &port.target_port {
            Some(IntOrString::Int(number)) => {
                check_port_number(*number, &format!("{at}.targetPort"), errors);
            }
            Some(IntOrString::String(name)) => {
                if let Err(problem) = check_port_name(name) {
                    report(errors, format!("{at}.targetPort"), problem);
                }
            }
            None => {}
        }
        if let Some(app_protocol) = &port.app_protocol
            && let Err(problem) = check_qualified_name(app_protocol)
        {
            report(errors, format!("{at}.appProtocol"), problem);
        }
        if port.node_port != 0 {
            let at = format!("{at}.nodePort");
            if !spec.type_.uses_node_ports() {
                report(
                    errors,
                    at,
                    format!(
                        "Forbidden: may not be used when `type` is '{}'",
                        spec.type_.as_str()
                    ),
                );
            } else if !node_ports.insert((protocol, port.node_port)) {
                report(errors, at, format!("Duplicate value: {}", port.node_port));
            } else {
                check_port_number(port.node_port, &at, errors);
            }
        }
        if !ports.insert((protocol, port.port)) {
            report(
                errors,
                at,
                format!("Duplicate value: \"{}/{protocol}\"", port.port),
            );
        }
    }
}

/// Empty (the API allocates one), `None` (headless, not for node ports) or an IPv4 address,
/// and `clusterIPs` the same single value.
fn validate_cluster_ip(spec: &ServiceSpec, errors: &mut Vec<FieldError>) {
    let ip = spec.cluster_ip.as_str();
    if spec.is_headless() {
        if spec.type_.uses_node_ports() {
            report(
                errors,
                "spec.clusterIP",
                format!(
                    "Invalid value: \"None\": may not be set to 'None' for {} services",
                    spec.type_.as_str()
                ),
            );
        }
    } else if !ip.is_empty() && ip.parse::<Ipv4Addr>().is_err() {
        let problem = if ip.parse::<IpAddr>().is_ok() {
            format!("must be an IPv4 address: {SINGLE_STACK}")
        } else {
            "must be empty, 'None', or a valid IP address".to_string()
        };
        report(
            errors,
            "spec.clusterIP",
            format!("Invalid value: {ip:?}: {problem}"),
        );
    }
    let listed = spec.cluster_ips_text();
    match spec.cluster_ips.first() {
        Some(_) if ip.is_empty() => report(
            errors,
            "spec.clusterIPs",
            format!("Invalid value: {listed}: must be empty when `clusterIP` is not specified"),
        ),
        Some(first) if first != ip => report(
            errors,
            "spec.clusterIPs",
            format!("Invalid value: {listed}: first value must match `clusterIP`"),
        ),
        _ => {}
    }
    if spec.cluster_ips.len() > 1 {
        report(
            errors,
            "spec.clusterIPs",
            format!("Invalid value: {listed}: may hold only one value: {SINGLE_STACK}"),
        );
    }
}

/// `[IPv4]` and a single-stack policy; `PreferDualStack` is single-stack on this cluster.
fn validate_ip_families(spec: &ServiceSpec, errors: &mut Vec<FieldError>) {
    for (index, family) in spec.ip_families.iter().enumerate() {
        if *family == IpFamily::Ipv6 || index > 0 {
            let word = match family {
                IpFamily::Ipv4 => "IPv4",
                IpFamily::Ipv6 => "IPv6",
            };
            report(
                errors,
                format!("spec.ipFamilies[{index}]"),
                format!("Invalid value: {word:?}: not configured on this cluster: {SINGLE_STACK}"),
            );
        }
    }
    if spec.ip_family_policy == Some(IpFamilyPolicy::RequireDualStack) {
        report(
            errors,
            "spec.ipFamilyPolicy",
            "Invalid value: \"RequireDualStack\": this cluster is not configured for dual-stack \
             services",
        );
    }
}

/// An `ExternalName` Service is a CNAME: it names a DNS subdomain (a trailing dot allowed)
/// and has no address or IP families of its own.
fn validate_external_name(spec: &ServiceSpec, errors: &mut Vec<FieldError>) {
    let name = spec
        .external_name
        .strip_suffix('.')
        .unwrap_or(&spec.external_name);
    if name.is_empty() {
        report(errors, "spec.externalName", "Required value");
    } else if let Err(problem) = check_dns1123_subdomain(name) {
        report(errors, "spec.externalName", problem);
    }
    let forbidden = [
        ("spec.clusterIP", !spec.cluster_ip.is_empty()),
        (
            "spec.clusterIPs",
            spec.cluster_ip.is_empty() && !spec.cluster_ips.is_empty(),
        ),
        ("spec.ipFamilies", !spec.ip_families.is_empty()),
        ("spec.ipFamilyPolicy", spec.ip_family_policy.is_some()),
    ];
    for (path, set) in forbidden {
        if set {
            report(
                errors,
                path,
                "Forbidden: may not be set for ExternalName services",
            );
        }
    }
}

/// `ClientIP` affinity lasts between a second and a day; `None` takes no settings.
fn validate_session_affinity(spec: &ServiceSpec, errors: &mut Vec<FieldError>) {
    match spec.session_affinity {
        SessionAffinity::None => {
            if spec.session_affinity_config.is_some() {
                report(
                    errors,
                    "spec.sessionAffinityConfig",
                    "Forbidden: must not be set when session affinity is None",
                );
            }
        }
        SessionAffinity::ClientIp => {
            if let Some(seconds) = spec.client_ip_timeout_seconds()
                && !(1..=MAX_CLIENT_IP_TIMEOUT_SECONDS).contains(&seconds)
            {
                report(
                    errors,
                    "spec.sessionAffinityConfig.clientIP.timeoutSeconds",
                    format!(
                        "Invalid value: {seconds}: must be greater than 0 and less than \
                         {MAX_CLIENT_IP_TIMEOUT_SECONDS}"
                    ),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::object::defaults::apply_defaults;
    use crate::object::resource::Object;
    use crate::object::service::{
        ClientIpConfig, IpFamily, ServicePort, SessionAffinityConfig, TrafficPolicy,
    };

    /// The errors of `spec` once defaulted, as `path: message`.
    fn check(spec: ServiceSpec) -> Vec<String> {
        let mut object = Object::Service(Service {
            spec,
            ..Service::default()
        });
        apply_defaults(&mut object);
        let Object::Service(service) = object else {
            unreachable!("defaulting keeps the kind")
        };
        let mut errors = Vec::new();
        validate_service(&service, &mut errors);
        errors
            .into_iter()
            .map(|e| format!("{}: {}", e.path, e.message))
            .collect()
    }

    fn port(name: &str, number: i32) -> ServicePort {
        ServicePort {
            name: name.into(),
            port: number,
            ..ServicePort::default()
        }
    }

    fn cluster_ip(ports: Vec<ServicePort>) -> ServiceSpec {
        ServiceSpec {
            selector: [("app".to_string(), "web".to_string())].into(),
            ports,
            ..ServiceSpec::default()
        }
    }

    #[test]
    fn the_kubernetes_documentations_shapes_pass() {
        let mut plain = cluster_ip(vec![port("", 80)]);
        plain.ports[0].target_port = Some(IntOrString::Int(9376));
        assert_eq!(check(plain), Vec::<String>::new());
        let mut named = cluster_ip(vec![port("http", 80), port("https", 443)]);
        named.ports[1].target_port = Some(IntOrString::String("https-web".into()));
        assert_eq!(check(named), Vec::<String>::new());
        let mut node_port = cluster_ip(vec![port("", 80)]);
        node_port.type_ = ServiceType::NodePort;
        node_port.ports[0].node_port = 30007;
        assert_eq!(check(node_port), Vec::<String>::new());
        let mut headless = cluster_ip(vec![]);
        headless.cluster_ip = "None".into();
        assert_eq!(check(headless), Vec::<String>::new());
        let external = ServiceSpec {
            type_: ServiceType::ExternalName,
            external_name: "my.database.example.com.".into(),
            ..ServiceSpec::default()
        };
        assert_eq!(check(external), Vec::<String>::new());
        let mut requested = cluster_ip(vec![port("", 53)]);
        requested.cluster_ip = "10.43.0.10".into();
        assert_eq!(check(requested), Vec::<String>::new());
    }

    #[test]
    fn ports_follow_kubernetes_rules() {
        let mut spec = cluster_ip(vec![
            port("", 0),
            port("Web", 80),
            port("dns", 53),
            port("dns", 70000),
            port("metrics", 80),
        ]);
        spec.ports[2].protocol = "ICMP".into();
        spec.ports[2].target_port = Some(IntOrString::String("not_a_name".into()));
        spec.ports[4].target_port = Some(IntOrString::Int(65536));
        assert_eq!(
            check(spec),
            [
                "spec.ports[0].name: Required value",
                "spec.ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive",
                "spec.ports[0].targetPort: Invalid value: 0: must be between 1 and 65535, \
                 inclusive",
                "spec.ports[1].name: \"Web\" must consist of lower case alphanumeric characters \
                 or '-', and must start and end with an alphanumeric character",
                "spec.ports[2].protocol: Unsupported value: \"ICMP\": supported values: \"SCTP\", \
                 \"TCP\", \"UDP\"",
                "spec.ports[2].targetPort: Invalid value: \"not_a_name\": must be no more than 15 \
                 characters, contain only lowercase letters, digits and '-', at least one \
                 letter, and no '-' at either end or next to another",
                "spec.ports[3].name: Duplicate value: \"dns\"",
                "spec.ports[3].port: Invalid value: 70000: must be between 1 and 65535, inclusive",
                "spec.ports[3].targetPort: Invalid value: 70000: must be between 1 and 65535, \
                 inclusive",
                "spec.ports[4].targetPort: Invalid value: 65536: must be between 1 and 65535, \
                 inclusive",
                "spec.ports[4]: Duplicate value: \"80/TCP\"",
            ]
        );
        // The same number over another protocol is another port.
        let mut spec = cluster_ip(vec![port("dns", 53), port("dns-tcp", 53)]);
        spec.ports[0].protocol = "UDP".into();
        assert_eq!(check(spec), Vec::<String>::new());
        // A ClusterIP Service needs a port; a headless or ExternalName one does not.
        assert_eq!(check(cluster_ip(vec![])), ["spec.ports: Required value"]);
    }

    #[test]
    fn node_ports_belong_to_node_port_services() {
        let mut spec = cluster_ip(vec![port("", 80)]);
        spec.ports[0].node_port = 30080;
        assert_eq!(
            check(spec.clone()),
            ["spec.ports[0].nodePort: Forbidden: may not be used when `type` is 'ClusterIP'"]
        );
        spec.type_ = ServiceType::NodePort;
        spec.ports = vec![port("a", 80), port("b", 81), port("c", 82)];
        spec.ports[0].node_port = 30080;
        spec.ports[1].node_port = 30080;
        spec.ports[2].node_port = 70000;
        assert_eq!(
            check(spec.clone()),
            [
                "spec.ports[1].nodePort: Duplicate value: 30080",
                "spec.ports[2].nodePort: Invalid value: 70000: must be between 1 and 65535, \
                 inclusive",
            ]
        );
        spec.ports.truncate(1);
        spec.cluster_ip = "None".into();
        assert_eq!(
            check(spec),
            [
                "spec.clusterIP: Invalid value: \"None\": may not be set to 'None' for NodePort \
                 services"
            ]
        );
    }

    #[test]
    fn a_cluster_ip_is_one_ipv4_address() {
        let mut spec = cluster_ip(vec![port("", 80)]);
        spec.cluster_ip = "10.43.0.300".into();
        assert_eq!(
            check(spec.clone()),
            [
                "spec.clusterIP: Invalid value: \"10.43.0.300\": must be empty, 'None', or a \
                 valid IP address"
            ]
        );
        spec.cluster_ip = "fd00::10".into();
        assert_eq!(
            check(spec.clone()),
            [
                "spec.clusterIP: Invalid value: \"fd00::10\": must be an IPv4 address: \
                 flotilla's Services are single-stack IPv4"
            ]
        );
        spec.cluster_ip = "10.43.0.10".into();
        spec.cluster_ips = vec!["10.43.0.11".into(), "fd00::10".into()];
        assert_eq!(
            check(spec.clone()),
            [
                "spec.clusterIPs: Invalid value: []string{\"10.43.0.11\", \"fd00::10\"}: first \
                 value must match `clusterIP`",
                "spec.clusterIPs: Invalid value: []string{\"10.43.0.11\", \"fd00::10\"}: may \
                 hold only one value: flotilla's Services are single-stack IPv4",
            ]
        );
        // clusterIPs alone fills in clusterIP.
        spec.cluster_ip.clear();
        spec.cluster_ips = vec!["10.43.0.12".into()];
        assert_eq!(check(spec), Vec::<String>::new());
    }

    #[test]
    fn ipv6_and_dual_stack_are_refused() {
        let mut spec = cluster_ip(vec![port("", 80)]);
        spec.ip_families = vec![IpFamily::Ipv6];
        spec.ip_family_policy = Some(IpFamilyPolicy::RequireDualStack);
        assert_eq!(
            check(spec.clone()),
            [
                "spec.ipFamilies[0]: Invalid value: \"IPv6\": not configured on this cluster: \
                 flotilla's Services are single-stack IPv4",
                "spec.ipFamilyPolicy: Invalid value: \"RequireDualStack\": this cluster is not \
                 configured for dual-stack services",
            ]
        );
        spec.ip_families = vec![IpFamily::Ipv4, IpFamily::Ipv4];
        spec.ip_family_policy = Some(IpFamilyPolicy::PreferDualStack);
        assert_eq!(
            check(spec),
            [
                "spec.ipFamilies[1]: Invalid value: \"IPv4\": not configured on this cluster: \
                 flotilla's Services are single-stack IPv4"
            ]
        );
    }

    #[test]
    fn an_external_name_service_is_a_cname_and_nothing_else() {
        let mut spec = ServiceSpec {
            type_: ServiceType::ExternalName,
            ..ServiceSpec::default()
        };
        assert_eq!(check(spec.clone()), ["spec.externalName: Required value"]);
        spec.external_name = "My_DB".into();
        spec.cluster_ip = "10.43.0.10".into();
        spec.ip_families = vec![IpFamily::Ipv4];
        let errors = check(spec);
        let paths: Vec<&str> = errors
            .iter()
            .map(|e| e.split(':').next().unwrap_or_default())
            .collect();
        assert_eq!(
            paths,
            ["spec.externalName", "spec.clusterIP", "spec.ipFamilies"]
        );
        assert_eq!(
            errors[1],
            "spec.clusterIP: Forbidden: may not be set for ExternalName services"
        );
    }

    #[test]
    fn session_affinity_and_traffic_policies() {
        let mut spec = cluster_ip(vec![port("", 80)]);
        spec.session_affinity_config = Some(SessionAffinityConfig::default());
        spec.external_traffic_policy = Some(TrafficPolicy::Local);
        assert_eq!(
            check(spec.clone()),
            [
                "spec.sessionAffinityConfig: Forbidden: must not be set when session affinity \
                 is None",
                "spec.externalTrafficPolicy: Invalid value: \"Local\": may only be set for \
                 externally-accessible services",
            ]
        );
        spec.external_traffic_policy = None;
        spec.session_affinity = SessionAffinity::ClientIp;
        spec.session_affinity_config = Some(SessionAffinityConfig {
            client_ip: Some(ClientIpConfig {
                timeout_seconds: Some(86_401),
            }),
        });
        assert_eq!(
            check(spec.clone()),
            [
                "spec.sessionAffinityConfig.clientIP.timeoutSeconds: Invalid value: 86401: must \
                 be greater than 0 and less than 86400"
            ]
        );
        spec.session_affinity_config = None;
        assert_eq!(check(spec.clone()), Vec::<String>::new());
        spec.type_ = ServiceType::NodePort;
        spec.external_traffic_policy = Some(TrafficPolicy::Local);
        spec.internal_traffic_policy = Some(TrafficPolicy::Local);
        assert_eq!(check(spec), Vec::<String>::new());
    }

    #[test]
    fn load_balancers_and_external_ips_are_refused_by_path() {
        let mut spec = cluster_ip(vec![port("", 80)]);
        spec.type_ = ServiceType::LoadBalancer;
        spec.external_ips = vec!["198.51.100.32".into()];
        let errors = check(spec);
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert!(
            errors[0].starts_with("spec.type: not supported yet: "),
            "{errors:?}"
        );
        assert!(
            errors[1].starts_with("spec.externalIPs: not supported yet: "),
            "{errors:?}"
        );
    }
}
