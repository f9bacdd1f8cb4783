//! The columns `get` shows for each kind, as kubectl shows them, plus what a bare-metal
//! operator needs at a glance: a node's CPU and memory. `headers` and `cells` are kept side by
//! side, kind by kind, so that a column added to one is added to the other.

use std::collections::BTreeMap;
use std::time::SystemTime;

use flotilla_kernel::object::{
    ConditionStatus, ConfigMap, DEFAULT_REPLICAS, Deployment, Kind, Lease, Namespace, Node,
    NodeDisk, NodeNic, Object, Pod, PodTemplateSpec, PriorityClass, Quantity, RESOURCE_CPU,
    RESOURCE_MEMORY, ReplicaSet, RuntimeClass, Secret,
};

use super::{label_text, pod_status, table, wire_word};

mod cron_jobs;
mod disruption_budgets;
mod jobs;
mod network_policies;
mod services;
mod workload_sets;

use self::cron_jobs::cron_job_cells;
use self::disruption_budgets::disruption_budget_cells;
use self::jobs::job_cells;
use self::network_policies::network_policy_cells;
use self::services::{endpoint_slice_cells, service_cells};
use self::workload_sets::{daemon_set_cells, stateful_set_cells};

/// Shown for a value that is not there.
const NONE: &str = "<none>";
/// Labels that give a node its roles: `node-role.kubernetes.io/<role>`, `kubernetes.io/role`.
const ROLE_LABEL_PREFIX: &str = "node-role.kubernetes.io/";
const ROLE_LABEL: &str = "kubernetes.io/role";

/// The column headers of a kind; `wide` adds the `-o wide` columns.
pub fn headers(kind: Kind, wide: bool) -> Vec<&'static str> {
    let (always, wide_only): (&[&str], &[&str]) = match kind {
        Kind::Pod => (
            &["NAME", "READY", "STATUS", "RESTARTS", "AGE"],
            &["IP", "NODE"],
        ),
        Kind::Deployment => (
            &["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"],
            &["CONTAINERS", "IMAGES", "SELECTOR"],
        ),
        Kind::ReplicaSet => (
            &["NAME", "DESIRED", "CURRENT", "READY", "AGE"],
            &["CONTAINERS", "IMAGES", "SELECTOR"],
        ),
        Kind::Node => (
            &["NAME", "STATUS", "ROLES", "AGE", "VERSION", "CPU", "MEMORY"],
            &[
                "ALLOCATABLE-CPU",
                "ALLOCATABLE-MEMORY",
                "INTERNAL-IP",
                "OS-IMAGE",
                "KERNEL-VERSION",
                "CPU-MODEL",
                "DISKS",
                "NICS",
            ],
        ),
        Kind::Namespace => (&["NAME", "STATUS", "AGE"], &[]),
        Kind::ConfigMap => (&["NAME", "DATA", "AGE"], &[]),
        Kind::Secret => (&["NAME", "TYPE", "DATA", "AGE"], &[]),
        Kind::Lease => (&["NAME", "HOLDER", "AGE"], &["RENEWED"]),
        Kind::RuntimeClass => (&["NAME", "HANDLER", "AGE"], &[]),
        Kind::PriorityClass => (
            &["NAME", "VALUE", "GLOBAL-DEFAULT", "AGE", "PREEMPTIONPOLICY"],
            &[],
        ),
        Kind::Service => (
            &[
                "NAME",
                "TYPE",
                "CLUSTER-IP",
                "EXTERNAL-IP",
                "PORT(S)",
                "AGE",
            ],
            &["SELECTOR"],
        ),
        Kind::EndpointSlice => (&["NAME", "ADDRESSTYPE", "PORTS", "ENDPOINTS", "AGE"], &[]),
        Kind::NetworkPolicy => (&["NAME", "POD-SELECTOR", "AGE"], &[]),
        Kind::PodDisruptionBudget => (
            &[
                "NAME",
                "MIN AVAILABLE",
                "MAX UNAVAILABLE",
                "ALLOWED DISRUPTIONS",
                "AGE",
            ],
            &[],
        ),
        Kind::Job => (&["NAME", "STATUS", "COMPLETIONS", "DURATION", "AGE"], &[]),
        Kind::CronJob => (
            &[
                "NAME",
                "SCHEDULE",
                "TIMEZONE",
                "SUSPEND",
                "ACTIVE",
                "LAST SCHEDULE",
                "AGE",
            ],
            &[],
        ),
        Kind::DaemonSet => (
            &[
                "NAME",
                "DESIRED",
                "CURRENT",
                "READY",
                "UP-TO-DATE",
                "AVAILABLE",
                "NODE SELECTOR",
                "AGE",
            ],
            &["CONTAINERS", "IMAGES", "SELECTOR"],
        ),
        Kind::StatefulSet => (&["NAME", "READY", "AGE"], &["CONTAINERS", "IMAGES"]),
    };
    let mut headers = always.to_vec();
    if wide {
        headers.extend_from_slice(wide_only);
    }
    headers
}

/// The cells of one object's row, in the order of `headers`.
pub fn cells(object: &Object, now: SystemTime, wide: bool) -> Vec<String> {
    let (always, wide_only) = match object {
        Object::Pod(pod) => pod_cells(pod, now),
        Object::Deployment(deployment) => deployment_cells(deployment, now),
        Object::ReplicaSet(replica_set) => replica_set_cells(replica_set, now),
        Object::Node(node) => node_cells(node, now),
        Object::Namespace(namespace) => namespace_cells(namespace, now),
        Object::ConfigMap(config_map) => config_map_cells(config_map, now),
        Object::Secret(secret) => secret_cells(secret, now),
        Object::Lease(lease) => lease_cells(lease, now),
        Object::RuntimeClass(class) => runtime_class_cells(class, now),
        Object::PriorityClass(class) => priority_class_cells(class, now),
        Object::Service(service) => service_cells(service, now),
        Object::EndpointSlice(slice) => endpoint_slice_cells(slice, now),
        Object::NetworkPolicy(policy) => network_policy_cells(policy, now),
        Object::PodDisruptionBudget(pdb) => disruption_budget_cells(pdb, now),
        Object::Job(job) => job_cells(job, now),
        Object::CronJob(cron_job) => cron_job_cells(cron_job, now),
        Object::DaemonSet(daemon_set) => daemon_set_cells(daemon_set, now),
        Object::StatefulSet(set) => stateful_set_cells(set, now),
    };
    let mut cells = always;
    if wide {
        cells.extend(wide_only);
    }
    cells
}

type Cells = (Vec<String>, Vec<String>);

fn pod_cells(pod: &Pod, now: SystemTime) -> Cells {
    (
        vec![
            pod.metadata.name.clone(),
            pod_status::ready(pod),
            pod_status::status(pod),
            pod_status::restarts(pod, now),
            age(&pod.metadata, now),
        ],
        vec![or_none(&pod.status.pod_ip), or_none(&pod.spec.node_name)],
    )
}

fn deployment_cells(deployment: &Deployment, now: SystemTime) -> Cells {
    let (spec, status) = (&deployment.spec, &deployment.status);
    let desired = spec.replicas.unwrap_or(DEFAULT_REPLICAS);
    (
        vec![
            deployment.metadata.name.clone(),
            format!("{}/{desired}", status.ready_replicas),
            status.updated_replicas.to_string(),
            status.available_replicas.to_string(),
            age(&deployment.metadata, now),
        ],
        template_cells(&spec.template, label_text::selector(&spec.selector)),
    )
}

fn replica_set_cells(replica_set: &ReplicaSet, now: SystemTime) -> Cells {
    let (spec, status) = (&replica_set.spec, &replica_set.status);
    (
        vec![
            replica_set.metadata.name.clone(),
            spec.replicas.unwrap_or(DEFAULT_REPLICAS).to_string(),
            status.replicas.to_string(),
            status.ready_replicas.to_string(),
            age(&replica_set.metadata, now),
        ],
        template_cells(&spec.template, label_text::selector(&spec.selector)),
    )
}

/// CONTAINERS, IMAGES and SELECTOR of a workload.
fn template_cells(template: &PodTemplateSpec, selector: String) -> Vec<String> {
    let containers = &template.spec.containers;
    let join = |field: fn(&flotilla_kernel::object::Container) -> &str| {
        containers.iter().map(field).collect::<Vec<_>>().join(",")
    };
    vec![
        join(|container| container.name.as_str()),
        join(|container| container.image.as_str()),
        selector,
    ]
}

fn node_cells(node: &Node, now: SystemTime) -> Cells {
    let status = &node.status;
    let info = &status.node_info;
    let internal_ip = status
        .addresses
        .iter()
        .find(|address| address.type_ == "InternalIP")
        .map_or(NONE.to_string(), |address| address.address.clone());
    (
        vec![
            node.metadata.name.clone(),
            node_status(node),
            node_roles(&node.metadata.labels),
            age(&node.metadata, now),
            or_none(&info.kubelet_version),
            quantity(&status.capacity, RESOURCE_CPU),
            quantity(&status.capacity, RESOURCE_MEMORY),
        ],
        vec![
            quantity(&status.allocatable, RESOURCE_CPU),
            quantity(&status.allocatable, RESOURCE_MEMORY),
            internal_ip,
            or_unknown(&info.os_image),
            or_unknown(&info.kernel_version),
            or_unknown(&info.cpu_model),
            disks(&status.hardware.disks),
            nics(&status.hardware.nics),
        ],
    )
}

/// `vda:20Gi,sdb:4Ti(hdd)`.
fn disks(disks: &[NodeDisk]) -> String {
    let list: Vec<String> = disks
        .iter()
        .map(|disk| {
            let kind = if disk.rotational { "(hdd)" } else { "" };
            format!("{}:{}{kind}", disk.name, binary_size(disk.size_bytes))
        })
        .collect();
    if list.is_empty() {
        NONE.to_string()
    } else {
        list.join(",")
    }
}

/// `eth0:10G,eth1` (no speed while the link is down).
fn nics(nics: &[NodeNic]) -> String {
    let list: Vec<String> = nics
        .iter()
        .map(|nic| match nic.speed_mbps {
            Some(speed) if speed >= 1000 && speed % 1000 == 0 => {
                format!("{}:{}G", nic.name, speed / 1000)
            }
            Some(speed) => format!("{}:{speed}M", nic.name),
            None => nic.name.clone(),
        })
        .collect();
    if list.is_empty() {
        NONE.to_string()
    } else {
        list.join(",")
    }
}

/// Bytes in the largest binary unit below them, rounded down (`20Gi`).
fn binary_size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["Ki", "Mi", "Gi", "Ti", "Pi"];
    let mut value = bytes;
    let mut unit = "";
    for next in UNITS {
        if value < 1024 {
            break;
        }
        value /= 1024;
        unit = next;
    }
    format!("{value}{unit}")
}

fn namespace_cells(namespace: &Namespace, now: SystemTime) -> Cells {
    (
        vec![
            namespace.metadata.name.clone(),
            namespace_phase(namespace),
            age(&namespace.metadata, now),
        ],
        vec![],
    )
}

fn config_map_cells(config_map: &ConfigMap, now: SystemTime) -> Cells {
    (
        vec![
            config_map.metadata.name.clone(),
            config_map.data.len().to_string(),
            age(&config_map.metadata, now),
        ],
        vec![],
    )
}

fn secret_cells(secret: &Secret, now: SystemTime) -> Cells {
    (
        vec![
            secret.metadata.name.clone(),
            secret.secret_type.clone(),
            secret.data.len().to_string(),
            age(&secret.metadata, now),
        ],
        vec![],
    )
}

fn lease_cells(lease: &Lease, now: SystemTime) -> Cells {
    let renewed = lease
        .spec
        .renew_time
        .as_ref()
        .map(|time| time.system_time());
    (
        vec![
            lease.metadata.name.clone(),
            or_none(&lease.spec.holder_identity),
            age(&lease.metadata, now),
        ],
        vec![renewed.map_or(NONE.to_string(), |renewed| {
            format!("{} ago", table::age(now, Some(renewed)))
        })],
    )
}

fn priority_class_cells(class: &PriorityClass, now: SystemTime) -> Cells {
    (
        vec![
            class.metadata.name.clone(),
            class.value.to_string(),
            class.global_default.to_string(),
            age(&class.metadata, now),
            class.preemption_policy().to_string(),
        ],
        Vec::new(),
    )
}

fn runtime_class_cells(class: &RuntimeClass, now: SystemTime) -> Cells {
    (
        vec![
            class.metadata.name.clone(),
            class.handler.clone(),
            age(&class.metadata, now),
        ],
        vec![],
    )
}

/// A namespace's phase: Active, or Terminating once it is being deleted.
pub fn namespace_phase(namespace: &Namespace) -> String {
    wire_word::of(&namespace.status.phase)
}

/// `Ready`, `NotReady` or `Unknown` (never reported), then `,SchedulingDisabled` if cordoned.
pub fn node_status(node: &Node) -> String {
    let ready = node
        .status
        .conditions
        .iter()
        .find(|condition| condition.type_ == "Ready");
    let mut status = match ready {
        Some(condition) if condition.status == ConditionStatus::True => "Ready",
        Some(_) => "NotReady",
        None => "Unknown",
    }
    .to_string();
    if node.spec.unschedulable {
        status.push_str(",SchedulingDisabled");
    }
    status
}

/// The roles named by a node's role labels, comma-separated; `<none>` without any.
pub fn node_roles(labels: &BTreeMap<String, String>) -> String {
    let mut roles: Vec<&str> = labels
        .iter()
        .filter_map(|(key, value)| match key.strip_prefix(ROLE_LABEL_PREFIX) {
            Some(role) => Some(role),
            None if key == ROLE_LABEL => Some(value.as_str()),
            None => None,
        })
        .filter(|role| !role.is_empty())
        .collect();
    roles.sort_unstable();
    roles.dedup();
    if roles.is_empty() {
        NONE.to_string()
    } else {
        roles.join(",")
    }
}

fn age(meta: &flotilla_kernel::object::ObjectMeta, now: SystemTime) -> String {
    table::age(
        now,
        meta.creation_timestamp
            .as_ref()
            .map(|time| time.system_time()),
    )
}

fn quantity(quantities: &BTreeMap<String, Quantity>, resource: &str) -> String {
    quantities
        .get(resource)
        .map_or(NONE.to_string(), |quantity| quantity.0.clone())
}

fn or_none(text: &str) -> String {
    if text.is_empty() { NONE } else { text }.to_string()
}

fn or_unknown(text: &str) -> String {
    if text.is_empty() { "<unknown>" } else { text }.to_string()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use flotilla_kernel::object::{
        Container, EndpointSlice, LabelSelector, NetworkPolicy, NodeAddress, NodeCondition,
        ObjectMeta, Service, Time,
    };

    use super::*;

    fn now() -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(2_000_000_000)
    }

    fn meta(name: &str, age_seconds: u64) -> ObjectMeta {
        ObjectMeta {
            name: name.to_string(),
            namespace: "default".to_string(),
            creation_timestamp: Some(Time::from(now() - Duration::from_secs(age_seconds))),
            ..ObjectMeta::default()
        }
    }

    fn every_kind() -> Vec<Object> {
        vec![
            Object::Pod(Pod {
                metadata: meta("web-1", 45),
                ..Pod::default()
            }),
            Object::Deployment(Deployment {
                metadata: meta("web", 45),
                ..Deployment::default()
            }),
            Object::ReplicaSet(ReplicaSet {
                metadata: meta("web-abc", 45),
                ..ReplicaSet::default()
            }),
            Object::Node(Node {
                metadata: meta("n1", 45),
                ..Node::default()
            }),
            Object::Namespace(Namespace {
                metadata: meta("prod", 45),
                ..Namespace::default()
            }),
            Object::ConfigMap(ConfigMap {
                metadata: meta("settings", 45),
                ..ConfigMap::default()
            }),
            Object::Secret(Secret {
                metadata: meta("db", 45),
                ..Secret::default()
            }),
            Object::Lease(Lease {
                metadata: meta("n1", 45),
                ..Lease::default()
            }),
            Object::RuntimeClass(RuntimeClass {
                metadata: meta("gvisor", 45),
                ..RuntimeClass::default()
            }),
            Object::Service(Service {
                metadata: meta("web", 45),
                ..Service::default()
            }),
            Object::EndpointSlice(EndpointSlice {
                metadata: meta("web-abc12", 45),
                ..EndpointSlice::default()
            }),
            Object::NetworkPolicy(NetworkPolicy {
                metadata: meta("deny", 45),
                ..NetworkPolicy::default()
            }),
        ]
    }

    #[test]
    fn every_kind_has_as_many_cells_as_headers() {
        for object in every_kind() {
            for wide in [false, true] {
                assert_eq!(
                    cells(&object, now(), wide).len(),
                    headers(object.kind(), wide).len(),
                    "{:?} wide={wide}",
                    object.kind()
                );
            }
        }
    }

    #[test]
    fn a_pod_row() {
        let mut pod = Pod {
            metadata: meta("web-1", 192),
            ..Pod::default()
        };
        pod.spec.containers.push(Container::default());
        pod.spec.node_name = "n1".to_string();
        assert_eq!(
            cells(&Object::Pod(pod), now(), true),
            ["web-1", "0/1", "Pending", "0", "3m12s", "<none>", "n1"]
        );
    }

    #[test]
    fn a_deployment_row_with_its_template() {
        let mut deployment = Deployment {
            metadata: meta("web", 7200),
            ..Deployment::default()
        };
        deployment.spec.replicas = Some(3);
        deployment.spec.selector = LabelSelector {
            match_labels: [("app".to_string(), "web".to_string())].into(),
            ..LabelSelector::default()
        };
        deployment.spec.template.spec.containers = vec![
            Container {
                name: "web".to_string(),
                image: "nginx".to_string(),
                ..Container::default()
            },
            Container {
                name: "log".to_string(),
                image: "host".to_string(),
                ..Container::default()
            },
        ];
        deployment.status.ready_replicas = 2;
        deployment.status.updated_replicas = 3;
        deployment.status.available_replicas = 2;
        assert_eq!(
            cells(&Object::Deployment(deployment), now(), true),
            [
                "web",
                "2/3",
                "3",
                "2",
                "120m",
                "web,log",
                "nginx,host",
                "app=web"
            ]
        );
    }

    #[test]
    fn a_node_row_shows_readiness_roles_and_resources() {
        let mut node = Node {
            metadata: meta("n1", 3 * 86400),
            ..Node::default()
        };
        node.metadata.labels = [
            (
                "node-role.kubernetes.io/control-plane".to_string(),
                String::new(),
            ),
            ("kubernetes.io/role".to_string(), "edge".to_string()),
        ]
        .into();
        node.spec.unschedulable = true;
        node.status.conditions.push(NodeCondition {
            type_: "Ready".to_string(),
            status: ConditionStatus::True,
            ..NodeCondition::default()
        });
        node.status.capacity = [
            ("cpu".to_string(), Quantity("4".to_string())),
            ("memory".to_string(), Quantity("16Gi".to_string())),
        ]
        .into();
        node.status.addresses.push(NodeAddress {
            type_: "InternalIP".to_string(),
            address: "10.0.0.7".to_string(),
        });
        node.status.node_info.kubelet_version = "v0.1.0".to_string();
        node.status.node_info.kernel_version = "6.12.0".to_string();
        node.status.hardware.disks = vec![
            NodeDisk {
                name: "nvme0n1".to_string(),
                size_bytes: 512 << 30,
                rotational: false,
            },
            NodeDisk {
                name: "sda".to_string(),
                size_bytes: 4 << 40,
                rotational: true,
            },
        ];
        node.status.hardware.nics = vec![
            NodeNic {
                name: "eth0".to_string(),
                speed_mbps: Some(25_000),
                ..NodeNic::default()
            },
            NodeNic {
                name: "eth1".to_string(),
                ..NodeNic::default()
            },
        ];
        assert_eq!(
            cells(&Object::Node(node), now(), true),
            [
                "n1",
                "Ready,SchedulingDisabled",
                "control-plane,edge",
                "3d",
                "v0.1.0",
                "4",
                "16Gi",
                "<none>",
                "<none>",
                "10.0.0.7",
                "<unknown>",
                "6.12.0",
                "<unknown>",
                "nvme0n1:512Gi,sda:4Ti(hdd)",
                "eth0:25G,eth1",
            ]
        );
    }

    #[test]
    fn a_node_never_heard_from_is_unknown() {
        let mut node = Node::default();
        assert_eq!(node_status(&node), "Unknown");
        node.status.conditions.push(NodeCondition {
            type_: "Ready".to_string(),
            status: ConditionStatus::False,
            ..NodeCondition::default()
        });
        assert_eq!(node_status(&node), "NotReady");
        assert_eq!(node_roles(&BTreeMap::new()), "<none>");
    }

    #[test]
    fn a_namespace_row() {
        let namespace = Namespace {
            metadata: meta("prod", 45),
            ..Namespace::default()
        };
        assert_eq!(
            cells(&Object::Namespace(namespace), now(), false),
            ["prod", "Active", "45s"]
        );
    }

    #[test]
    fn a_runtime_class_row() {
        let class = RuntimeClass {
            metadata: ObjectMeta {
                name: "myclass".to_string(),
                creation_timestamp: Some(Time::from(now() - Duration::from_secs(90))),
                ..ObjectMeta::default()
            },
            handler: "myconfiguration".to_string(),
            ..RuntimeClass::default()
        };
        assert_eq!(
            headers(Kind::RuntimeClass, true),
            ["NAME", "HANDLER", "AGE"]
        );
        assert_eq!(
            cells(&Object::RuntimeClass(class), now(), true),
            ["myclass", "myconfiguration", "90s"]
        );
    }
}
