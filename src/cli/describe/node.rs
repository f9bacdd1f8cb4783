//! `describe node`: the machine as the node agent reported it (capacity, allocatable, system
//! info, addresses), its readiness, and the pods placed on it with what they requested, so an
//! operator sees at once why a pod does or does not fit.

use std::time::SystemTime;

use flotilla_kernel::object::{Node, Pod, RESOURCE_CPU, RESOURCE_MEMORY};

use super::super::table::{self, Table};
use super::super::{columns, wire_word};
use super::conditions;
use super::layout::Layout;
use super::meta;
use super::resources;

/// Shown for requests that are not valid quantities.
const INVALID: &str = "<invalid>";

/// The view of `node` and of the non-terminated `pods` bound to it.
pub fn view(node: &Node, pods: &[Pod], now: SystemTime) -> String {
    let mut layout = Layout::default();
    let (spec, status) = (&node.spec, &node.status);
    meta::identity(&mut layout, &node.metadata, false);
    layout.field(0, "Roles", columns::node_roles(&node.metadata.labels));
    let taints = spec
        .taints
        .iter()
        .map(|taint| match taint.value.as_str() {
            "" => format!("{}:{}", taint.key, wire_word::of(&taint.effect)),
            value => format!("{}={value}:{}", taint.key, wire_word::of(&taint.effect)),
        })
        .collect();
    layout.list(0, "Taints", taints);
    layout.field(0, "Unschedulable", spec.unschedulable.to_string());
    conditions::table(
        &mut layout,
        status.conditions.iter().map(|condition| conditions::Row {
            type_: &condition.type_,
            status: condition.status,
            reason: &condition.reason,
            message: &condition.message,
        }),
    );
    let addresses = status
        .addresses
        .iter()
        .map(|address| (address.type_.as_str(), address.address.as_str()));
    keyed_section(&mut layout, "Addresses", addresses);
    for (key, quantities) in [
        ("Capacity", &status.capacity),
        ("Allocatable", &status.allocatable),
    ] {
        let quantities = quantities
            .iter()
            .map(|(resource, quantity)| (resource.as_str(), quantity.0.as_str()));
        keyed_section(&mut layout, key, quantities);
    }
    let info = &status.node_info;
    layout.section(0, "System Info");
    for (key, value) in [
        ("Machine ID", &info.machine_id),
        ("Boot ID", &info.boot_id),
        ("Kernel Version", &info.kernel_version),
        ("OS Image", &info.os_image),
        ("Operating System", &info.operating_system),
        ("Architecture", &info.architecture),
        ("CPU Model", &info.cpu_model),
        ("Kubelet Version", &info.kubelet_version),
    ] {
        layout.field(1, key, value.as_str());
    }
    let handlers: Vec<&str> = status
        .runtime_handlers
        .iter()
        .map(|handler| handler.name.as_str())
        .filter(|name| !name.is_empty())
        .collect();
    if !handlers.is_empty() {
        layout.field(0, "Runtime Handlers", handlers.join(", "));
    }
    pods_on_node(&mut layout, node, pods, now);
    layout.render()
}

/// `key:` and its entries one level deeper; `key:  <none>` without any.
fn keyed_section<'a>(
    layout: &mut Layout,
    key: &str,
    entries: impl ExactSizeIterator<Item = (&'a str, &'a str)>,
) {
    if entries.len() == 0 {
        layout.field(0, key, "<none>");
        return;
    }
    layout.section(0, key);
    for (entry, value) in entries {
        layout.field(1, entry, value);
    }
}

/// The pods table and the sums of their requests against what the node can allocate.
fn pods_on_node(layout: &mut Layout, node: &Node, pods: &[Pod], now: SystemTime) {
    let allocatable = &node.status.allocatable;
    let cpu_whole = allocatable
        .get(RESOURCE_CPU)
        .and_then(|quantity| quantity.cpu_millis().ok());
    let memory_whole = allocatable
        .get(RESOURCE_MEMORY)
        .and_then(|quantity| quantity.bytes().ok());
    layout.field(
        0,
        "Non-terminated Pods",
        format!("({} in total)", pods.len()),
    );
    let headers = [
        "Namespace",
        "Name",
        "CPU Requests",
        "Memory Requests",
        "Age",
    ];
    let mut pods_table = Table::new(headers);
    pods_table.push(
        headers
            .iter()
            .map(|header| "-".repeat(header.len()))
            .collect(),
    );
    let (mut cpu_sum, mut memory_sum) = (0_u64, 0_u64);
    for pod in pods {
        let (cpu, memory) = match pod.requests() {
            Ok((cpu, memory)) => {
                cpu_sum = cpu_sum.saturating_add(cpu);
                memory_sum = memory_sum.saturating_add(memory);
                (
                    resources::with_share(resources::cpu(cpu), cpu, cpu_whole),
                    resources::with_share(resources::memory(memory), memory, memory_whole),
                )
            }
            Err(_) => (INVALID.to_string(), INVALID.to_string()),
        };
        pods_table.push(vec![
            pod.metadata.namespace.clone(),
            pod.metadata.name.clone(),
            cpu,
            memory,
            table::age(
                now,
                pod.metadata
                    .creation_timestamp
                    .as_ref()
                    .map(|time| time.system_time()),
            ),
        ]);
    }
    if !pods.is_empty() {
        layout.table(1, &pods_table);
    }
    layout.section(0, "Allocated resources");
    let mut allocated = Table::new(["Resource", "Requests"]);
    allocated.push(vec!["--------".to_string(), "--------".to_string()]);
    allocated.push(vec![
        "cpu".to_string(),
        resources::with_share(resources::cpu(cpu_sum), cpu_sum, cpu_whole),
    ]);
    allocated.push(vec![
        "memory".to_string(),
        resources::with_share(resources::memory(memory_sum), memory_sum, memory_whole),
    ]);
    layout.table(1, &allocated);
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use flotilla_kernel::object::{Container, Quantity, Time};

    use super::*;

    fn pod(name: &str, cpu: &str, memory: &str, now: SystemTime) -> Pod {
        let mut pod = Pod::default();
        pod.metadata.name = name.to_string();
        pod.metadata.namespace = "default".to_string();
        pod.metadata.creation_timestamp = Some(Time::from(now - Duration::from_secs(60)));
        let mut container = Container::default();
        container
            .resources
            .requests
            .insert("cpu".to_string(), Quantity(cpu.to_string()));
        container
            .resources
            .requests
            .insert("memory".to_string(), Quantity(memory.to_string()));
        pod.spec.containers.push(container);
        pod
    }

    #[test]
    fn pods_and_their_share_of_the_node() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(2_000_000_000);
        let mut node = Node::default();
        node.metadata.name = "n1".to_string();
        node.status.allocatable = [
            ("cpu".to_string(), Quantity("4".to_string())),
            ("memory".to_string(), Quantity("8Gi".to_string())),
        ]
        .into();
        node.status.node_info.kernel_version = "6.12.0".to_string();
        let pods = [
            pod("web-1", "500m", "1Gi", now),
            pod("db-0", "100m", "1Gi", now),
        ];
        let text = view(&node, &pods, now);
        for part in [
            "Roles:              <none>\n",
            "Taints:             <none>\n",
            "Unschedulable:      false\n",
            "Allocatable:\n  cpu:     4\n  memory:  8Gi\n",
            "  Kernel Version:     6.12.0\n",
            "Non-terminated Pods:  (2 in total)\n",
            "  default     web-1   500m (12%)     1Gi (12%)         60s\n",
            "  cpu        600m (15%)\n  memory     2Gi (25%)\n",
        ] {
            assert!(text.contains(part), "{part:?} missing from:\n{text}");
        }
    }
}
