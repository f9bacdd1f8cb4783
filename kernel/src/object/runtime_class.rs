//! `RuntimeClass` (`node.k8s.io/v1`): a named container runtime configuration. A pod picks one
//! with `spec.runtimeClassName`; the node agent runs the pod's containers with the class's
//! `handler`, and the API server merges the class's `scheduling.nodeSelector` and
//! `scheduling.tolerations` into the pod's when the pod is created, so it lands only on nodes
//! that have that handler (and may land on nodes tainted for it).
//!
//! `overhead` is a Kubernetes field flotilla cannot honour yet (pods have no overhead
//! accounting). It is kept as written so that validation refuses it by name instead of the API
//! silently dropping it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::meta::ObjectMeta;
use super::quantity::Quantity;
use super::toleration::Toleration;

/// A container runtime configuration pods may ask for by name. Cluster-scoped.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RuntimeClass {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub api_version: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub kind: String,
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// The runtime configuration on the node (a DNS-1123 label); immutable.
    #[serde(default)]
    pub handler: String,
    /// Refused by validation: see the module documentation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overhead: Option<Overhead>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheduling: Option<Scheduling>,
}

/// The resources running a pod with the class costs beyond its containers' requests.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Overhead {
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub pod_fixed: BTreeMap<String, Quantity>,
}

/// Where pods of the class may run.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Scheduling {
    /// Labels the nodes that have the handler carry; merged into each pod's `nodeSelector`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub node_selector: BTreeMap<String, String>,
    /// Added to each pod's tolerations.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tolerations: Vec<Toleration>,
}

impl RuntimeClass {
    /// The labels a node must carry to run pods of this class; empty when any node may.
    pub fn node_selector(&self) -> Option<&BTreeMap<String, String>> {
        self.scheduling
            .as_ref()
            .map(|scheduling| &scheduling.node_selector)
            .filter(|selector| !selector.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_with_kubernetes_field_names() {
        let class = RuntimeClass {
            metadata: ObjectMeta {
                name: "gvisor".into(),
                ..ObjectMeta::default()
            },
            handler: "runsc".into(),
            scheduling: Some(Scheduling {
                node_selector: [("runtime".to_string(), "gvisor".to_string())].into(),
                ..Scheduling::default()
            }),
            ..RuntimeClass::default()
        };
        let json = serde_json::to_string(&class).unwrap();
        assert_eq!(
            json,
            r#"{"metadata":{"name":"gvisor"},"handler":"runsc","scheduling":{"nodeSelector":{"runtime":"gvisor"}}}"#
        );
        assert_eq!(serde_json::from_str::<RuntimeClass>(&json).unwrap(), class);
        assert_eq!(class.node_selector().unwrap()["runtime"], "gvisor");
        assert!(RuntimeClass::default().node_selector().is_none());
    }

    #[test]
    fn overhead_and_tolerations_are_kept_as_written() {
        let json = r#"{"handler":"kata","overhead":{"podFixed":{"memory":"120Mi"}},"scheduling":{"tolerations":[{"key":"kata","operator":"Exists"}]}}"#;
        let class: RuntimeClass = serde_json::from_str(json).unwrap();
        assert_eq!(
            class.overhead.as_ref().unwrap().pod_fixed["memory"],
            Quantity::from("120Mi")
        );
        assert_eq!(class.scheduling.as_ref().unwrap().tolerations.len(), 1);
        assert!(class.node_selector().is_none());
        let back = serde_json::to_value(&class).unwrap();
        assert_eq!(back["scheduling"]["tolerations"][0]["operator"], "Exists");
        assert_eq!(serde_json::from_value::<RuntimeClass>(back).unwrap(), class);
    }
}
