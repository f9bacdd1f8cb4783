//! `EndpointSlice` (`discovery.k8s.io/v1`): some of the endpoints behind a Service — the
//! addresses of its pods, whether each is ready, and the ports they serve on. The
//! EndpointSlice controller writes them for Services with a selector and labels each with
//! [`SERVICE_NAME_LABEL`]; the proxy and the DNS server read them.

use serde::{Deserialize, Serialize};

use super::meta::ObjectMeta;

/// The label naming the Service an EndpointSlice belongs to.
pub const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";

/// A set of endpoints of one address type. Namespaced, in the namespace of its Service.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EndpointSlice {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub api_version: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub kind: String,
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// The kind of every address in the slice; immutable.
    #[serde(default)]
    pub address_type: AddressType,
    #[serde(default)]
    pub endpoints: Vec<Endpoint>,
    /// The ports every endpoint serves; a port without a number means all of them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<EndpointPort>,
}

/// The kind of address an EndpointSlice holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum AddressType {
    #[default]
    #[serde(rename = "IPv4")]
    Ipv4,
    /// Refused by validation: flotilla's pod network is IPv4.
    #[serde(rename = "IPv6")]
    Ipv6,
    /// Refused by validation (deprecated in Kubernetes).
    #[serde(rename = "FQDN")]
    Fqdn,
}

/// One backend: a pod's address, its readiness and where it runs.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Endpoint {
    /// The pod's addresses; consumers use the first.
    #[serde(default)]
    pub addresses: Vec<String>,
    #[serde(default)]
    pub conditions: EndpointConditions,
    /// The pod's DNS label under a headless Service (`hostname.subdomain`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_name: Option<String>,
    /// The pod behind the endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_ref: Option<ObjectReference>,
}

/// The state of an endpoint. An unset condition means unknown, which consumers read as
/// `true` for `ready` and `serving`, as Kubernetes does.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EndpointConditions {
    /// Ready for new connections: serving and not terminating.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready: Option<bool>,
    /// Passing its readiness probe, terminating or not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serving: Option<bool>,
    /// Being deleted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub terminating: Option<bool>,
}

/// An object an endpoint stands for (a pod), by kind, namespace, name and uid.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectReference {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub namespace: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub uid: String,
}

/// A port the endpoints serve on, named after the Service port it carries.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EndpointPort {
    /// The Service port's name (empty for a Service's only, unnamed port).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// `TCP` (the default), `UDP` or `SCTP`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub protocol: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_protocol: Option<String>,
}

impl EndpointSlice {
    /// The Service the slice belongs to, from its [`SERVICE_NAME_LABEL`].
    pub fn service_name(&self) -> Option<&str> {
        self.metadata
            .labels
            .get(SERVICE_NAME_LABEL)
            .map(String::as_str)
    }
}

impl EndpointConditions {
    /// Whether the endpoint takes new connections (unknown counts as ready).
    pub fn is_ready(&self) -> bool {
        self.ready.unwrap_or(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_with_kubernetes_field_names() {
        let json = serde_json::json!({
            "metadata": {
                "name": "web-abc12",
                "namespace": "default",
                "labels": {"kubernetes.io/service-name": "web"},
            },
            "addressType": "IPv4",
            "endpoints": [{
                "addresses": ["10.42.1.5"],
                "conditions": {"ready": true, "serving": true, "terminating": false},
                "nodeName": "n1",
                "targetRef": {"kind": "Pod", "namespace": "default", "name": "web-1", "uid": "u1"},
            }],
            "ports": [{"name": "http", "protocol": "TCP", "port": 8080}],
        });
        let slice: EndpointSlice = serde_json::from_value(json.clone()).unwrap();
        assert_eq!(slice.service_name(), Some("web"));
        assert_eq!(slice.address_type, AddressType::Ipv4);
        let endpoint = &slice.endpoints[0];
        assert!(endpoint.conditions.is_ready());
        assert_eq!(endpoint.target_ref.as_ref().unwrap().name, "web-1");
        assert_eq!(slice.ports[0].port, Some(8080));
        assert_eq!(serde_json::to_value(&slice).unwrap(), json);
    }

    #[test]
    fn an_endpoint_of_unknown_readiness_is_ready_and_an_empty_slice_lists_no_endpoints() {
        assert!(EndpointConditions::default().is_ready());
        let not_ready = EndpointConditions {
            ready: Some(false),
            ..EndpointConditions::default()
        };
        assert!(!not_ready.is_ready());
        let empty = EndpointSlice::default();
        assert_eq!(
            serde_json::to_value(&empty).unwrap(),
            serde_json::json!({"metadata": {}, "addressType": "IPv4", "endpoints": []})
        );
        assert_eq!(empty.service_name(), None);
    }
}
