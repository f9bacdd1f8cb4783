//! `Service` (`v1`): a stable name and virtual address in front of the pods its selector
//! picks. The API server gives each Service that needs them a ClusterIP from the service range
//! and, for `NodePort` Services, a node port per port; the EndpointSlice controller lists the
//! ready pods behind it; the proxy and the DNS server on every node turn both into traffic.
//!
//! The shape and the defaults are Kubernetes' own. flotilla's Services are single-stack IPv4,
//! so `ipFamilies` is `[IPv4]` and `ipFamilyPolicy` `SingleStack` (or `PreferDualStack`, which
//! on a single-stack cluster means the same). `LoadBalancer` and `externalIPs` are kept as
//! written so that validation refuses them by name instead of the API dropping them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::intstr::IntOrString;
use super::meta::ObjectMeta;
use super::omit::{is_false, is_zero_i32};

/// `spec.clusterIP` of a headless Service: no virtual address, DNS answers with the pods.
pub const CLUSTER_IP_NONE: &str = "None";
/// How long `sessionAffinity: ClientIP` keeps a client on one backend when it does not say
/// (three hours, as Kubernetes).
pub const DEFAULT_CLIENT_IP_TIMEOUT_SECONDS: i32 = 10_800;
/// The longest `sessionAffinityConfig.clientIP.timeoutSeconds` may be (one day).
pub const MAX_CLIENT_IP_TIMEOUT_SECONDS: i32 = 86_400;

/// A named, load-balanced set of pods. Namespaced; its name is a DNS-1035 label, since it
/// becomes a DNS name (`web.default.svc.cluster.local`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Service {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub api_version: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub kind: String,
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub spec: ServiceSpec,
    #[serde(default)]
    pub status: ServiceStatus,
}

/// What the Service selects, how it is reached and how traffic is spread.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceSpec {
    #[serde(rename = "type", default)]
    pub type_: ServiceType,
    /// The labels of the pods behind the Service; empty means the endpoints are managed by
    /// hand (no EndpointSlices are made for it).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub selector: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<ServicePort>,
    /// The virtual address: empty asks the API for one, `None` makes the Service headless.
    /// Immutable once set.
    #[serde(
        rename = "clusterIP",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    pub cluster_ip: String,
    /// `clusterIP` as the list of Kubernetes' dual-stack field: at most one value here.
    #[serde(rename = "clusterIPs", default, skip_serializing_if = "Vec::is_empty")]
    pub cluster_ips: Vec<String>,
    /// The DNS name an `ExternalName` Service is an alias (CNAME) of.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub external_name: String,
    /// Refused by validation: see the module documentation.
    #[serde(rename = "externalIPs", default, skip_serializing_if = "Vec::is_empty")]
    pub external_ips: Vec<String>,
    #[serde(default)]
    pub session_affinity: SessionAffinity,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_affinity_config: Option<SessionAffinityConfig>,
    /// List pods in the endpoints before they are ready (for peer discovery).
    #[serde(default, skip_serializing_if = "is_false")]
    pub publish_not_ready_addresses: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ip_families: Vec<IpFamily>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_family_policy: Option<IpFamilyPolicy>,
    /// Whether traffic from inside the cluster may go to any ready endpoint or only to those on
    /// the client's node; defaulted to `Cluster` for every type but `ExternalName`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub internal_traffic_policy: Option<TrafficPolicy>,
    /// The same for traffic arriving on a node port; defaulted to `Cluster` for `NodePort`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_traffic_policy: Option<TrafficPolicy>,
}

/// How a Service is exposed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum ServiceType {
    /// A virtual address inside the cluster.
    #[default]
    #[serde(rename = "ClusterIP")]
    ClusterIp,
    /// A ClusterIP, and a port on every node forwarding to it.
    NodePort,
    /// A NodePort Service behind an external load balancer; refused until flotilla has one.
    LoadBalancer,
    /// A DNS alias (CNAME) of `externalName`, with no address or ports of its own.
    ExternalName,
}

/// One port the Service serves, and where its traffic goes on the pods.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServicePort {
    /// A DNS label, unique in the Service; required when there is more than one port.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// `TCP` (the default), `UDP` or `SCTP`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub protocol: String,
    /// The application protocol (`http`, `kubernetes.io/h2c`), a hint for proxies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_protocol: Option<String>,
    /// The port of the ClusterIP.
    #[serde(default)]
    pub port: i32,
    /// The pods' port: a number, or the name of a container port; defaults to `port`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_port: Option<IntOrString>,
    /// The port on every node (`NodePort` Services); the API picks one when it is 0.
    #[serde(default, skip_serializing_if = "is_zero_i32")]
    pub node_port: i32,
}

/// Whether a client's connections stick to one backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum SessionAffinity {
    #[default]
    None,
    #[serde(rename = "ClientIP")]
    ClientIp,
}

/// The settings of the session affinity.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionAffinityConfig {
    #[serde(rename = "clientIP", default, skip_serializing_if = "Option::is_none")]
    pub client_ip: Option<ClientIpConfig>,
}

/// How long a client stays with its backend after its last connection.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClientIpConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_seconds: Option<i32>,
}

/// An IP family a Service's addresses belong to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum IpFamily {
    #[serde(rename = "IPv4")]
    Ipv4,
    #[serde(rename = "IPv6")]
    Ipv6,
}

/// How many IP families a Service asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum IpFamilyPolicy {
    SingleStack,
    PreferDualStack,
    RequireDualStack,
}

/// Which endpoints traffic may go to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TrafficPolicy {
    /// Any ready endpoint in the cluster.
    Cluster,
    /// Only endpoints on the node the traffic arrived at (or came from).
    Local,
}

/// What the cluster has observed of the Service.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceStatus {
    #[serde(default)]
    pub load_balancer: LoadBalancerStatus,
}

/// The addresses an external load balancer serves the Service on.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LoadBalancerStatus {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ingress: Vec<LoadBalancerIngress>,
}

/// One address of a load balancer.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LoadBalancerIngress {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub ip: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub hostname: String,
}

impl ServiceType {
    /// The `type:` value (`"ClusterIP"`).
    pub fn as_str(self) -> &'static str {
        match self {
            ServiceType::ClusterIp => "ClusterIP",
            ServiceType::NodePort => "NodePort",
            ServiceType::LoadBalancer => "LoadBalancer",
            ServiceType::ExternalName => "ExternalName",
        }
    }

    /// Whether Services of this type have a ClusterIP (or are headless): all but
    /// `ExternalName`.
    pub fn uses_cluster_ip(self) -> bool {
        self != ServiceType::ExternalName
    }

    /// Whether Services of this type have node ports: `NodePort` and `LoadBalancer`.
    pub fn uses_node_ports(self) -> bool {
        matches!(self, ServiceType::NodePort | ServiceType::LoadBalancer)
    }
}

impl ServiceSpec {
    /// Whether the Service is headless (`clusterIP: None`).
    pub fn is_headless(&self) -> bool {
        self.cluster_ip == CLUSTER_IP_NONE
    }

    /// `clusterIPs` as Kubernetes' messages show the list: `[]string{"10.43.0.10"}`.
    pub fn cluster_ips_text(&self) -> String {
        let quoted: Vec<String> = self
            .cluster_ips
            .iter()
            .map(|ip| format!("{ip:?}"))
            .collect();
        format!("[]string{{{}}}", quoted.join(", "))
    }

    /// How long `ClientIP` affinity lasts, as defaulted; `None` without affinity.
    pub fn client_ip_timeout_seconds(&self) -> Option<i32> {
        if self.session_affinity != SessionAffinity::ClientIp {
            return None;
        }
        let configured = self
            .session_affinity_config
            .as_ref()
            .and_then(|config| config.client_ip.as_ref())
            .and_then(|client_ip| client_ip.timeout_seconds);
        Some(configured.unwrap_or(DEFAULT_CLIENT_IP_TIMEOUT_SECONDS))
    }
}

impl TrafficPolicy {
    /// The policy's value (`"Local"`).
    pub fn as_str(self) -> &'static str {
        match self {
            TrafficPolicy::Cluster => "Cluster",
            TrafficPolicy::Local => "Local",
        }
    }
}

impl ServicePort {
    /// The protocol, `TCP` when unset.
    pub fn protocol(&self) -> &str {
        if self.protocol.is_empty() {
            "TCP"
        } else {
            &self.protocol
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_with_kubernetes_field_names() {
        let service = Service {
            metadata: ObjectMeta {
                name: "web".into(),
                namespace: "default".into(),
                ..ObjectMeta::default()
            },
            spec: ServiceSpec {
                type_: ServiceType::NodePort,
                selector: [("app".to_string(), "web".to_string())].into(),
                ports: vec![ServicePort {
                    name: "http".into(),
                    protocol: "TCP".into(),
                    port: 80,
                    target_port: Some(IntOrString::String("http-web".into())),
                    node_port: 30080,
                    ..ServicePort::default()
                }],
                cluster_ip: "10.43.0.10".into(),
                cluster_ips: vec!["10.43.0.10".into()],
                session_affinity: SessionAffinity::ClientIp,
                session_affinity_config: Some(SessionAffinityConfig {
                    client_ip: Some(ClientIpConfig {
                        timeout_seconds: Some(60),
                    }),
                }),
                ip_families: vec![IpFamily::Ipv4],
                ip_family_policy: Some(IpFamilyPolicy::SingleStack),
                internal_traffic_policy: Some(TrafficPolicy::Cluster),
                external_traffic_policy: Some(TrafficPolicy::Local),
                ..ServiceSpec::default()
            },
            ..Service::default()
        };
        let value = serde_json::to_value(&service).unwrap();
        assert_eq!(
            value,
            serde_json::json!({
                "metadata": {"name": "web", "namespace": "default"},
                "spec": {
                    "type": "NodePort",
                    "selector": {"app": "web"},
                    "ports": [{
                        "name": "http", "protocol": "TCP", "port": 80,
                        "targetPort": "http-web", "nodePort": 30080,
                    }],
                    "clusterIP": "10.43.0.10",
                    "clusterIPs": ["10.43.0.10"],
                    "sessionAffinity": "ClientIP",
                    "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 60}},
                    "ipFamilies": ["IPv4"],
                    "ipFamilyPolicy": "SingleStack",
                    "internalTrafficPolicy": "Cluster",
                    "externalTrafficPolicy": "Local",
                },
                "status": {"loadBalancer": {}},
            })
        );
        assert_eq!(serde_json::from_value::<Service>(value).unwrap(), service);
    }

    #[test]
    fn an_empty_service_is_a_cluster_ip_service_without_affinity() {
        let service: Service = serde_json::from_str("{}").unwrap();
        assert_eq!(service.spec.type_, ServiceType::ClusterIp);
        assert_eq!(service.spec.session_affinity, SessionAffinity::None);
        assert!(service.spec.type_.uses_cluster_ip());
        assert!(!service.spec.type_.uses_node_ports());
        assert!(!service.spec.is_headless());
        assert_eq!(service.spec.client_ip_timeout_seconds(), None);
        assert_eq!(ServicePort::default().protocol(), "TCP");
    }

    #[test]
    fn client_ip_affinity_lasts_three_hours_unless_configured() {
        let mut spec = ServiceSpec {
            session_affinity: SessionAffinity::ClientIp,
            ..ServiceSpec::default()
        };
        assert_eq!(spec.client_ip_timeout_seconds(), Some(10_800));
        spec.session_affinity_config = Some(SessionAffinityConfig {
            client_ip: Some(ClientIpConfig {
                timeout_seconds: Some(30),
            }),
        });
        assert_eq!(spec.client_ip_timeout_seconds(), Some(30));
    }

    #[test]
    fn words_are_the_wire_words() {
        for type_ in [
            ServiceType::ClusterIp,
            ServiceType::NodePort,
            ServiceType::LoadBalancer,
            ServiceType::ExternalName,
        ] {
            assert_eq!(serde_json::to_value(type_).unwrap(), type_.as_str());
        }
        for policy in [TrafficPolicy::Cluster, TrafficPolicy::Local] {
            assert_eq!(serde_json::to_value(policy).unwrap(), policy.as_str());
        }
        let mut spec = ServiceSpec::default();
        assert_eq!(spec.cluster_ips_text(), "[]string{}");
        spec.cluster_ips = vec!["10.43.0.10".into()];
        assert_eq!(spec.cluster_ips_text(), r#"[]string{"10.43.0.10"}"#);
    }

    #[test]
    fn types_say_what_they_use() {
        assert!(ServiceType::NodePort.uses_node_ports());
        assert!(ServiceType::LoadBalancer.uses_node_ports());
        assert!(!ServiceType::ExternalName.uses_cluster_ip());
        assert!(ServiceType::NodePort.uses_cluster_ip());
    }
}
