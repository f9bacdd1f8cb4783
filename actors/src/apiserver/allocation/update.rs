//! What an update of a Service keeps of the stored one, as Kubernetes' Service registry does:
//! a manifest applied again, or an object edited without its allocated values, leaves the
//! ClusterIP and node ports where they are; a change of type drops the values the new type
//! has no use for, when the update left them as they were; and a ClusterIP, once given, never
//! changes.

use flotilla_kernel::object::{Service, ServiceSpec};

/// Carries the stored ClusterIP and node ports into `next` where it leaves them out, and
/// drops the ones its type does not use where it kept them unchanged. Runs before defaulting
/// and validation.
pub fn carry_allocations(current: &Service, next: &mut Service) {
    let (was, spec) = (&current.spec, &mut next.spec);
    if was.type_.uses_cluster_ip() && spec.type_.uses_cluster_ip() {
        if spec.cluster_ip.is_empty() {
            spec.cluster_ip = was.cluster_ip.clone();
        }
        if spec.cluster_ips.is_empty() && spec.cluster_ip == was.cluster_ip {
            spec.cluster_ips = was.cluster_ips.clone();
        }
    }
    if was.type_.uses_cluster_ip() && !spec.type_.uses_cluster_ip() {
        drop_address(was, spec);
    }
    if was.type_.uses_node_ports() && spec.type_.uses_node_ports() {
        // By port name, and never a node port another port of `next` already has.
        let used: Vec<i32> = spec.ports.iter().map(|port| port.node_port).collect();
        for port in spec.ports.iter_mut().filter(|port| port.node_port == 0) {
            let stored = was
                .ports
                .iter()
                .find(|stored| stored.name == port.name)
                .map(|stored| stored.node_port);
            if let Some(node_port) = stored.filter(|node_port| !used.contains(node_port)) {
                port.node_port = node_port;
            }
        }
    }
    if was.type_.uses_node_ports() && !spec.type_.uses_node_ports() {
        for port in &mut spec.ports {
            let unchanged = was
                .ports
                .iter()
                .any(|stored| stored.name == port.name && stored.node_port == port.node_port);
            if unchanged {
                port.node_port = 0;
            }
        }
        if spec.external_traffic_policy == was.external_traffic_policy {
            spec.external_traffic_policy = None;
        }
    }
}

/// A Service becoming an `ExternalName` alias loses the address fields it kept as they were.
fn drop_address(was: &ServiceSpec, spec: &mut ServiceSpec) {
    if spec.cluster_ip == was.cluster_ip {
        spec.cluster_ip.clear();
        if spec.cluster_ips == was.cluster_ips {
            spec.cluster_ips.clear();
        }
    }
    if spec.ip_families == was.ip_families {
        spec.ip_families.clear();
    }
    if spec.ip_family_policy == was.ip_family_policy {
        spec.ip_family_policy = None;
    }
    if spec.internal_traffic_policy == was.internal_traffic_policy {
        spec.internal_traffic_policy = None;
    }
}

/// The rules of update that compare with the stored Service: a given ClusterIP is immutable
/// (for every type that has one). Returns Kubernetes' field error.
pub fn check_update(current: &Service, next: &Service) -> Result<(), String> {
    let (was, spec) = (&current.spec, &next.spec);
    let keeps_address = was.type_.uses_cluster_ip() && spec.type_.uses_cluster_ip();
    if keeps_address && !was.cluster_ip.is_empty() && spec.cluster_ip != was.cluster_ip {
        return Err(format!(
            "spec.clusterIP: Invalid value: {:?}: field is immutable",
            spec.cluster_ip
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use flotilla_kernel::object::{
        IpFamily, IpFamilyPolicy, ServicePort, ServiceType, TrafficPolicy,
    };

    use super::*;

    fn stored(type_: ServiceType) -> Service {
        let mut service = Service::default();
        let spec = &mut service.spec;
        spec.type_ = type_;
        spec.cluster_ip = "10.43.7.7".into();
        spec.cluster_ips = vec!["10.43.7.7".into()];
        spec.ip_families = vec![IpFamily::Ipv4];
        spec.ip_family_policy = Some(IpFamilyPolicy::SingleStack);
        spec.internal_traffic_policy = Some(TrafficPolicy::Cluster);
        if type_.uses_node_ports() {
            spec.external_traffic_policy = Some(TrafficPolicy::Cluster);
        }
        spec.ports = ["http", "https"]
            .iter()
            .zip([(80, 30080), (443, 30443)])
            .map(|(name, (port, node_port))| ServicePort {
                name: name.to_string(),
                port,
                node_port: if type_.uses_node_ports() {
                    node_port
                } else {
                    0
                },
                ..ServicePort::default()
            })
            .collect();
        service
    }

    /// `current`'s manifest as an operator wrote it: no allocated values.
    fn manifest(current: &Service, type_: ServiceType) -> Service {
        let mut next = Service::default();
        next.spec.type_ = type_;
        next.spec.ports = current.spec.ports.clone();
        for port in &mut next.spec.ports {
            port.node_port = 0;
        }
        next
    }

    #[test]
    fn applying_the_manifest_again_keeps_the_address_and_node_ports() {
        let current = stored(ServiceType::NodePort);
        let mut next = manifest(&current, ServiceType::NodePort);
        next.spec.ports.swap(0, 1);
        carry_allocations(&current, &mut next);
        assert_eq!(next.spec.cluster_ip, "10.43.7.7");
        assert_eq!(next.spec.cluster_ips, ["10.43.7.7"]);
        let ports: Vec<(&str, i32)> = next
            .spec
            .ports
            .iter()
            .map(|port| (port.name.as_str(), port.node_port))
            .collect();
        assert_eq!(ports, [("https", 30443), ("http", 30080)]);
        assert_eq!(check_update(&current, &next), Ok(()));
    }

    #[test]
    fn a_node_port_another_port_now_asks_for_is_not_carried() {
        let current = stored(ServiceType::NodePort);
        let mut next = manifest(&current, ServiceType::NodePort);
        next.spec.ports[1].node_port = 30080;
        carry_allocations(&current, &mut next);
        assert_eq!(next.spec.ports[0].node_port, 0, "left for the allocator");
        assert_eq!(next.spec.ports[1].node_port, 30080);
    }

    #[test]
    fn a_cluster_ip_service_becoming_a_node_port_one_keeps_its_address() {
        let current = stored(ServiceType::ClusterIp);
        let mut next = manifest(&current, ServiceType::NodePort);
        carry_allocations(&current, &mut next);
        assert_eq!(next.spec.cluster_ip, "10.43.7.7");
        assert!(next.spec.ports.iter().all(|port| port.node_port == 0));
    }

    #[test]
    fn going_back_to_cluster_ip_drops_the_unchanged_node_ports_and_external_policy() {
        let current = stored(ServiceType::NodePort);
        let mut edited = current.clone();
        edited.spec.type_ = ServiceType::ClusterIp;
        carry_allocations(&current, &mut edited);
        assert!(edited.spec.ports.iter().all(|port| port.node_port == 0));
        assert_eq!(edited.spec.external_traffic_policy, None);
        assert_eq!(edited.spec.cluster_ip, "10.43.7.7");
        // A node port the edit changed is the operator's, and validation's to refuse.
        let mut changed = current.clone();
        changed.spec.type_ = ServiceType::ClusterIp;
        changed.spec.ports[0].node_port = 31000;
        carry_allocations(&current, &mut changed);
        assert_eq!(changed.spec.ports[0].node_port, 31000);
    }

    #[test]
    fn becoming_an_alias_drops_the_unchanged_address_fields() {
        let current = stored(ServiceType::ClusterIp);
        let mut edited = current.clone();
        edited.spec.type_ = ServiceType::ExternalName;
        edited.spec.external_name = "db.example.com".into();
        carry_allocations(&current, &mut edited);
        let spec = &edited.spec;
        assert!(spec.cluster_ip.is_empty() && spec.cluster_ips.is_empty());
        assert!(spec.ip_families.is_empty());
        assert_eq!(spec.ip_family_policy, None);
        assert_eq!(spec.internal_traffic_policy, None);
        assert_eq!(check_update(&current, &edited), Ok(()));
        // And back: a new address is the allocator's to give.
        let mut again = manifest(&current, ServiceType::ClusterIp);
        carry_allocations(&edited, &mut again);
        assert!(again.spec.cluster_ip.is_empty());
    }

    #[test]
    fn a_given_cluster_ip_is_immutable() {
        let current = stored(ServiceType::ClusterIp);
        let mut next = current.clone();
        next.spec.cluster_ip = "10.43.7.8".into();
        next.spec.cluster_ips = vec!["10.43.7.8".into()];
        assert_eq!(
            check_update(&current, &next),
            Err("spec.clusterIP: Invalid value: \"10.43.7.8\": field is immutable".into())
        );
        next.spec.cluster_ip = "None".into();
        assert!(check_update(&current, &next).is_err());
        let mut headless = current.clone();
        headless.spec.cluster_ip = "None".into();
        let mut next = headless.clone();
        next.spec.cluster_ip = "10.43.7.8".into();
        assert!(check_update(&headless, &next).is_err());
    }
}
