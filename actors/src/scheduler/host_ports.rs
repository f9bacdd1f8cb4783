//! The node ports a pod's containers claim (`hostPort`), and when two claims clash: the same
//! protocol and port on the same address, or on any address when either listens on all of
//! them — as Kubernetes' NodePorts plug-in decides.

use flotilla_kernel::object::Pod;

/// One `hostPort` claim, normalised: `0.0.0.0` for all addresses, `TCP` by default.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPort {
    ip: String,
    protocol: String,
    port: i32,
}

const ANY_ADDRESS: &str = "0.0.0.0";

impl HostPort {
    /// The claims of `pod`'s containers and init containers.
    pub fn of(pod: &Pod) -> Vec<HostPort> {
        let spec = &pod.spec;
        spec.init_containers
            .iter()
            .chain(&spec.containers)
            .flat_map(|container| &container.ports)
            .filter(|port| port.host_port > 0)
            .map(|port| HostPort {
                ip: match port.host_ip.as_str() {
                    "" => ANY_ADDRESS.to_string(),
                    ip => ip.to_string(),
                },
                protocol: match port.protocol.as_str() {
                    "" => "TCP".to_string(),
                    protocol => protocol.to_string(),
                },
                port: port.host_port,
            })
            .collect()
    }

    /// Whether `self` and `other` cannot both be bound on one node.
    pub fn clashes_with(&self, other: &HostPort) -> bool {
        self.port == other.port
            && self.protocol == other.protocol
            && (self.ip == other.ip || self.ip == ANY_ADDRESS || other.ip == ANY_ADDRESS)
    }
}

#[cfg(test)]
mod tests {
    use flotilla_kernel::object::{Container, ContainerPort};

    use super::*;

    fn claiming(ports: &[(&str, &str, i32)]) -> Pod {
        let mut pod = Pod::default();
        pod.spec.containers = vec![Container {
            name: "c".into(),
            ports: ports
                .iter()
                .map(|(ip, protocol, port)| ContainerPort {
                    container_port: 80,
                    host_ip: ip.to_string(),
                    protocol: protocol.to_string(),
                    host_port: *port,
                    ..ContainerPort::default()
                })
                .collect(),
            ..Container::default()
        }];
        pod
    }

    fn clash(a: (&str, &str, i32), b: (&str, &str, i32)) -> bool {
        let (a, b) = (HostPort::of(&claiming(&[a])), HostPort::of(&claiming(&[b])));
        a[0].clashes_with(&b[0])
    }

    #[test]
    fn claims_clash_on_protocol_port_and_overlapping_addresses() {
        assert!(clash(("", "", 8080), ("", "TCP", 8080)));
        assert!(clash(("10.0.0.1", "TCP", 8080), ("", "TCP", 8080)));
        assert!(clash(("10.0.0.1", "UDP", 53), ("10.0.0.1", "UDP", 53)));
        assert!(!clash(("10.0.0.1", "TCP", 8080), ("10.0.0.2", "TCP", 8080)));
        assert!(!clash(("", "TCP", 53), ("", "UDP", 53)));
        assert!(!clash(("", "TCP", 8080), ("", "TCP", 8081)));
    }

    #[test]
    fn only_ports_with_a_host_port_are_claims() {
        let pod = claiming(&[("", "", 0), ("", "", 30080)]);
        assert_eq!(HostPort::of(&pod).len(), 1);
    }
}
