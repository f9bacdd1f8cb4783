//! A pod's network: once its sandbox has a network namespace of its own, the node's CNI
//! plug-ins attach it (ADD) and its addresses become the pod's IPs; before the sandbox goes,
//! they detach it (DEL). Pods on the host's network use the node's address.

use std::sync::Arc;

use flotilla_kernel::object::Pod;
use flotilla_node_os::Runtime;
use flotilla_node_os::network::cni::{Attachment, Cni, NetworkList, PortMapping};

/// The interface a pod's network gets, as in Kubernetes.
const POD_INTERFACE: &str = "eth0";

/// How the node wires its pods' networks.
#[derive(Debug, Clone)]
pub struct PodNetwork {
    pub cni: Cni,
    /// The node runs its own pod network (`--network-backend` other than `none`): a pod waits
    /// until the CNI configuration is there. Otherwise a pod without one keeps only loopback.
    pub required: bool,
    /// The cluster domain (`cluster.local`) when the node serves cluster DNS on its pods'
    /// gateway; `ClusterFirst` pods then resolve through it.
    pub cluster_domain: Option<String>,
}

/// Attaches the pod's sandbox, unless done already; returns the pod's addresses (none for a
/// sandbox that is not the node's to wire). `Err` says why the network is not there.
pub async fn attach(
    network: Option<&PodNetwork>,
    runtime: &Arc<dyn Runtime>,
    pod: &Pod,
    host_ip: &str,
) -> Result<Vec<String>, String> {
    if pod.spec.host_network {
        return Ok(vec![host_ip.to_string()]);
    }
    let uid = &pod.metadata.uid;
    let (Some(network), Some(netns)) = (network, runtime.pod_netns(uid)) else {
        return Ok(Vec::new());
    };
    let cni = &network.cni;
    let attached = cni.addresses(uid);
    if !attached.is_empty() {
        return Ok(attached.iter().map(ToString::to_string).collect());
    }
    let configured = NetworkList::find(&cni.conf_dir).map_err(|error| error.to_string())?;
    if configured.is_none() {
        return if network.required {
            Err(format!(
                "network is not ready: no CNI configuration in {} yet (the node may still be \
                 waiting for its podCIDR)",
                cni.conf_dir.display()
            ))
        } else {
            Ok(Vec::new())
        };
    }
    let attachment = Attachment {
        id: uid.clone(),
        netns,
        ifname: POD_INTERFACE.into(),
        pod_namespace: pod.metadata.namespace.clone(),
        pod_name: pod.metadata.name.clone(),
        port_mappings: port_mappings(pod),
    };
    match cni.add(&attachment).await {
        Ok(ips) => {
            let mut ips: Vec<String> = ips.iter().map(ToString::to_string).collect();
            // IPv4 first, as Kubernetes lists a dual-stack pod's.
            ips.sort_by_key(|ip| ip.contains(':'));
            Ok(ips)
        }
        Err(error) => {
            if let Err(undo) = cni.del(uid).await {
                tracing::warn!(pod = %pod.metadata.name, error = %undo, "undoing a failed network setup");
            }
            Err(format!("failed to set up the pod network: {error}"))
        }
    }
}

/// Detaches the pod `uid`'s network, if the node attached it.
pub async fn detach(network: Option<&PodNetwork>, uid: &str) -> Result<(), String> {
    let Some(network) = network else {
        return Ok(());
    };
    network
        .cni
        .del(uid)
        .await
        .map_err(|error| format!("failed to tear down the pod network: {error}"))
}

/// The pod's `hostPort`s, as CNI's `portMappings`.
fn port_mappings(pod: &Pod) -> Vec<PortMapping> {
    pod.spec
        .containers
        .iter()
        .flat_map(|container| &container.ports)
        .filter_map(|port| {
            let host_port = u16::try_from(port.host_port).ok().filter(|p| *p > 0)?;
            let protocol = match port.protocol.as_str() {
                "" => "tcp".to_string(),
                named => named.to_lowercase(),
            };
            Some(PortMapping {
                host_port,
                container_port: u16::try_from(port.container_port).ok()?,
                protocol,
                host_ip: port.host_ip.clone(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use flotilla_kernel::object::parse_manifests;

    #[test]
    fn host_ports_become_port_mappings() {
        let object = parse_manifests(
            "pod.yaml",
            "apiVersion: v1\nkind: Pod\nmetadata: {name: web}\nspec:\n  containers:\n  - name: web\n    image: web\n    ports:\n    - {containerPort: 80, hostPort: 8080}\n    - {containerPort: 53, hostPort: 5353, protocol: UDP, hostIP: 127.0.0.1}\n    - {containerPort: 9090}\n",
        )
        .remove(0)
        .unwrap();
        let pod: Pod = serde_json::from_value(object.to_value()).unwrap();
        let mappings = port_mappings(&pod);
        assert_eq!(
            mappings,
            [
                PortMapping {
                    host_port: 8080,
                    container_port: 80,
                    protocol: "tcp".into(),
                    host_ip: String::new(),
                },
                PortMapping {
                    host_port: 5353,
                    container_port: 53,
                    protocol: "udp".into(),
                    host_ip: "127.0.0.1".into(),
                },
            ]
        );
    }
}
