//! The Node object this agent registers and keeps current: capacity from the hardware
//! inventory, allocatable after the node's reserve, system info, addresses, runtime handlers
//! and the Ready condition with its heartbeat.

use std::collections::BTreeMap;

use flotilla_kernel::object::{
    ConditionStatus, LABEL_HOSTNAME, Node, NodeAddress, NodeCondition, NodeDisk, NodeHardware,
    NodeNic, NodeRuntimeHandler, NodeStatus, NodeSystemInfo, ObjectMeta, Quantity, Time,
};
use flotilla_node_os::Inventory;

use super::RuntimeHandlers;

/// Memory kept back for the node itself (Kubernetes' default hard eviction threshold).
const MEMORY_RESERVE_BYTES: u64 = 100 * 1024 * 1024;
/// Pods a node accepts, as Kubernetes' default.
const MAX_PODS: u64 = 110;

pub const AGENT_VERSION: &str = concat!("flotilla/", env!("CARGO_PKG_VERSION"));

fn resources(cpu_millis: u64, memory_bytes: u64) -> BTreeMap<String, Quantity> {
    let cpu = if cpu_millis.is_multiple_of(1000) {
        (cpu_millis / 1000).to_string()
    } else {
        format!("{cpu_millis}m")
    };
    BTreeMap::from([
        ("cpu".to_string(), Quantity(cpu)),
        (
            "memory".to_string(),
            Quantity(format!("{}Ki", memory_bytes / 1024)),
        ),
        ("pods".to_string(), Quantity(MAX_PODS.to_string())),
    ])
}

/// What the agent reports of its node.
pub struct Reported<'a> {
    pub inventory: &'a Inventory,
    /// The address other machines reach the node at.
    pub address: &'a str,
    pub runtime_handlers: &'a RuntimeHandlers,
}

/// The status part this agent owns, as of `now`.
pub fn node_status(reported: &Reported<'_>, now: Time) -> NodeStatus {
    let Reported {
        inventory, address, ..
    } = *reported;
    NodeStatus {
        capacity: resources(inventory.cpu_millis, inventory.memory_bytes),
        allocatable: resources(
            inventory.cpu_millis,
            inventory.memory_bytes.saturating_sub(MEMORY_RESERVE_BYTES),
        ),
        conditions: vec![NodeCondition {
            type_: "Ready".into(),
            status: ConditionStatus::True,
            reason: "AgentReady".into(),
            message: "the flotilla node agent is posting ready status".into(),
            last_heartbeat_time: Some(now),
            last_transition_time: Some(now),
        }],
        addresses: vec![
            NodeAddress {
                type_: "InternalIP".into(),
                address: address.to_string(),
            },
            NodeAddress {
                type_: "Hostname".into(),
                address: inventory.hostname.clone(),
            },
        ],
        node_info: NodeSystemInfo {
            boot_id: inventory.boot_id.clone(),
            kernel_version: inventory.kernel_version.clone(),
            os_image: inventory.os_image.clone(),
            operating_system: "linux".into(),
            architecture: std::env::consts::ARCH.into(),
            cpu_model: inventory.cpu_model.clone(),
            kubelet_version: AGENT_VERSION.into(),
            ..NodeSystemInfo::default()
        },
        hardware: hardware(inventory),
        // The empty handler names the default runtime, the native one.
        runtime_handlers: std::iter::once(String::new())
            .chain(reported.runtime_handlers.names())
            .map(|name| NodeRuntimeHandler { name })
            .collect(),
    }
}

fn hardware(inventory: &Inventory) -> NodeHardware {
    NodeHardware {
        cpu_cores: inventory.cpu_millis / 1000,
        memory_bytes: inventory.memory_bytes,
        disks: inventory
            .disks
            .iter()
            .map(|disk| NodeDisk {
                name: disk.name.clone(),
                size_bytes: disk.size_bytes,
                rotational: disk.rotational,
            })
            .collect(),
        nics: inventory
            .nics
            .iter()
            .map(|nic| NodeNic {
                name: nic.name.clone(),
                mac: nic.mac.clone(),
                speed_mbps: nic.speed_mbps,
            })
            .collect(),
    }
}

/// A Node object for first registration.
pub fn new_node(name: &str, reported: &Reported<'_>, now: Time) -> Node {
    let labels = BTreeMap::from([
        (LABEL_HOSTNAME.to_string(), name.to_string()),
        ("kubernetes.io/os".to_string(), "linux".to_string()),
        (
            "kubernetes.io/arch".to_string(),
            std::env::consts::ARCH.to_string(),
        ),
    ]);
    Node {
        metadata: ObjectMeta {
            name: name.to_string(),
            labels,
            ..ObjectMeta::default()
        },
        status: node_status(reported, now),
        ..Node::default()
    }
}

/// Refreshes `node`'s status, keeping the Ready condition's transition time when it was
/// already Ready.
pub fn refresh(node: &mut Node, reported: &Reported<'_>, now: Time) {
    let previous = node
        .status
        .conditions
        .iter()
        .find(|c| c.type_ == "Ready" && c.status == ConditionStatus::True)
        .and_then(|c| c.last_transition_time);
    node.status = node_status(reported, now);
    if let (Some(since), Some(ready)) = (previous, node.status.conditions.first_mut()) {
        ready.last_transition_time = Some(since);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inventory() -> Inventory {
        Inventory {
            hostname: "box".into(),
            cpu_millis: 2000,
            memory_bytes: 4 * 1024 * 1024 * 1024,
            cpu_model: "Test CPU".into(),
            kernel_version: "6.1.0".into(),
            os_image: "Debian GNU/Linux 12 (bookworm)".into(),
            boot_id: "b".into(),
            disks: vec![flotilla_node_os::Disk {
                name: "sda".into(),
                size_bytes: 1 << 40,
                rotational: true,
            }],
            nics: vec![],
        }
    }

    fn reported<'a>(inventory: &'a Inventory, handlers: &'a RuntimeHandlers) -> Reported<'a> {
        Reported {
            inventory,
            address: "127.0.0.1",
            runtime_handlers: handlers,
        }
    }

    #[test]
    fn capacity_and_allocatable() {
        let (inventory, handlers) = (inventory(), RuntimeHandlers::default());
        let node = new_node("n1", &reported(&inventory, &handlers), Time::now());
        assert_eq!(node.status.capacity["cpu"], Quantity("2".into()));
        assert_eq!(node.status.capacity["memory"], Quantity("4194304Ki".into()));
        assert_eq!(
            node.status.allocatable["memory"],
            Quantity("4091904Ki".into())
        );
        assert!(node.is_ready());
        assert_eq!(node.metadata.labels["kubernetes.io/hostname"], "n1");
        let hardware = &node.status.hardware;
        assert_eq!((hardware.cpu_cores, hardware.memory_bytes), (2, 4 << 30));
        assert_eq!(hardware.disks[0].name, "sda");
        assert!(hardware.disks[0].rotational);
        let handlers: Vec<&str> = node
            .status
            .runtime_handlers
            .iter()
            .map(|handler| handler.name.as_str())
            .collect();
        assert_eq!(handlers, ["", "native"]);
    }

    #[test]
    fn refresh_keeps_the_ready_transition_time() {
        let t0 = Time::from(std::time::UNIX_EPOCH + std::time::Duration::from_secs(1000));
        let t1 = Time::from(std::time::UNIX_EPOCH + std::time::Duration::from_secs(2000));
        let (inventory, handlers) = (inventory(), RuntimeHandlers::default());
        let reported = reported(&inventory, &handlers);
        let mut node = new_node("n1", &reported, t0);
        refresh(&mut node, &reported, t1);
        let ready = &node.status.conditions[0];
        assert_eq!(ready.last_transition_time, Some(t0));
        assert_eq!(ready.last_heartbeat_time, Some(t1));
    }
}
