//! `Node`, a machine that runs pods: its schedulability and taints (spec) and what its agent
//! reports about it — capacity, health conditions, addresses and system facts (status).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::condition::ConditionStatus;
use super::meta::ObjectMeta;
use super::omit::is_false;
use super::quantity::Quantity;
use super::time::Time;

/// A machine of the fleet.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Node {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub api_version: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub kind: String,
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub spec: NodeSpec,
    #[serde(default)]
    pub status: NodeStatus,
}

/// Operator intent for a node.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeSpec {
    /// Cordoned: no new pods are placed on the node.
    #[serde(default, skip_serializing_if = "is_false")]
    pub unschedulable: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub taints: Vec<Taint>,
    /// The range the node's pods take their IPs from, given by the control plane's IPAM
    /// controller; set once.
    #[serde(default, rename = "podCIDR", skip_serializing_if = "String::is_empty")]
    pub pod_cidr: String,
    /// The same range, as the list Kubernetes' dual-stack field holds.
    #[serde(default, rename = "podCIDRs", skip_serializing_if = "Vec::is_empty")]
    pub pod_cidrs: Vec<String>,
}

/// Repels pods from a node.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Taint {
    #[serde(default)]
    pub key: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub value: String,
    #[serde(default)]
    pub effect: TaintEffect,
}

/// What a taint does to pods.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum TaintEffect {
    /// New pods are not placed on the node.
    #[default]
    NoSchedule,
    /// The scheduler avoids the node when it can.
    PreferNoSchedule,
    /// Running pods are evicted as well.
    NoExecute,
}

/// What the node agent observed.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeStatus {
    /// Total resources of the machine.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub capacity: BTreeMap<String, Quantity>,
    /// Resources left for pods after system reservations.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub allocatable: BTreeMap<String, Quantity>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<NodeCondition>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub addresses: Vec<NodeAddress>,
    #[serde(default)]
    pub node_info: NodeSystemInfo,
    /// What the machine is made of, as its agent found it.
    #[serde(default, skip_serializing_if = "NodeHardware::is_empty")]
    pub hardware: NodeHardware,
    /// The runtime handlers a RuntimeClass may name on this node (`""` is the default one).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub runtime_handlers: Vec<NodeRuntimeHandler>,
}

/// A runtime handler of a node, as Kubernetes' `status.runtimeHandlers` lists them.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct NodeRuntimeHandler {
    #[serde(default)]
    pub name: String,
}

/// The machine's hardware, from procfs and sysfs.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeHardware {
    #[serde(default)]
    pub cpu_cores: u64,
    #[serde(default)]
    pub memory_bytes: u64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub disks: Vec<NodeDisk>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nics: Vec<NodeNic>,
}

impl NodeHardware {
    pub fn is_empty(&self) -> bool {
        *self == NodeHardware::default()
    }
}

/// A disk of the node.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeDisk {
    pub name: String,
    pub size_bytes: u64,
    #[serde(default)]
    pub rotational: bool,
}

/// A network interface of the node.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeNic {
    pub name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub mac: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub speed_mbps: Option<u64>,
}

/// One aspect of node health (`Ready`, `MemoryPressure`, ...).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeCondition {
    #[serde(default, rename = "type")]
    pub type_: String,
    #[serde(default)]
    pub status: ConditionStatus,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reason: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_heartbeat_time: Option<Time>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<Time>,
}

impl NodeCondition {
    /// The agent is healthy and can run pods.
    pub const READY: &str = "Ready";
    pub const MEMORY_PRESSURE: &str = "MemoryPressure";
    pub const DISK_PRESSURE: &str = "DiskPressure";
    pub const PID_PRESSURE: &str = "PIDPressure";
    pub const NETWORK_UNAVAILABLE: &str = "NetworkUnavailable";
}

/// An address the node is reachable at.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeAddress {
    #[serde(default, rename = "type")]
    pub type_: String,
    #[serde(default)]
    pub address: String,
}

impl NodeAddress {
    pub const INTERNAL_IP: &str = "InternalIP";
    pub const EXTERNAL_IP: &str = "ExternalIP";
    pub const HOSTNAME: &str = "Hostname";
}

/// Facts about the machine and its software.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeSystemInfo {
    #[serde(
        default,
        rename = "machineID",
        skip_serializing_if = "String::is_empty"
    )]
    pub machine_id: String,
    #[serde(default, rename = "bootID", skip_serializing_if = "String::is_empty")]
    pub boot_id: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub kernel_version: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub os_image: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub operating_system: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub architecture: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub cpu_model: String,
    /// The flotilla version of the node agent.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub kubelet_version: String,
}

impl Node {
    /// The condition of the given type (`NodeCondition::READY`, ...), if reported.
    pub fn condition(&self, type_: &str) -> Option<&NodeCondition> {
        self.status.conditions.iter().find(|c| c.type_ == type_)
    }

    /// Whether the `Ready` condition is `True`.
    pub fn is_ready(&self) -> bool {
        self.condition(NodeCondition::READY)
            .is_some_and(|c| c.status == ConditionStatus::True)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_ready(status: ConditionStatus) -> Node {
        let mut node = Node::default();
        node.status.conditions.push(NodeCondition {
            type_: NodeCondition::MEMORY_PRESSURE.into(),
            status: ConditionStatus::True,
            ..NodeCondition::default()
        });
        node.status.conditions.push(NodeCondition {
            type_: NodeCondition::READY.into(),
            status,
            ..NodeCondition::default()
        });
        node
    }

    #[test]
    fn ready_only_when_the_ready_condition_is_true() {
        assert!(!Node::default().is_ready());
        assert!(with_ready(ConditionStatus::True).is_ready());
        assert!(!with_ready(ConditionStatus::False).is_ready());
        assert!(!with_ready(ConditionStatus::Unknown).is_ready());
    }

    #[test]
    fn serializes_kubernetes_field_names() {
        let mut node = with_ready(ConditionStatus::True);
        node.spec.taints.push(Taint {
            key: "dedicated".into(),
            value: "db".into(),
            effect: TaintEffect::NoExecute,
        });
        node.status.node_info.machine_id = "m1".into();
        node.status.node_info.boot_id = "b1".into();
        node.status.addresses.push(NodeAddress {
            type_: NodeAddress::INTERNAL_IP.into(),
            address: "10.0.0.2".into(),
        });
        let json = serde_json::to_string(&node).unwrap();
        assert!(json.contains(r#""effect":"NoExecute""#), "{json}");
        assert!(json.contains(r#""machineID":"m1","bootID":"b1""#), "{json}");
        assert!(json.contains(r#""type":"InternalIP""#), "{json}");
        assert!(!json.contains("unschedulable"), "{json}");
        assert_eq!(serde_json::from_str::<Node>(&json).unwrap(), node);
    }
}
