//! The pod network's settings: the cluster's address ranges (`flotilla server`, `flotilla up`)
//! and how a node wires its pods (`flotilla node`, `flotilla up`), with k3s' defaults.

use std::path::{Path, PathBuf};

use anyhow::bail;
use ipnet::Ipv4Net;

use flotilla_actors::apiserver::{NodePortRange, ServiceCidr, ServiceRangeError};
use flotilla_actors::controllers::PodRanges;
use flotilla_actors::dns::parse_resolv_conf;
use flotilla_actors::kubelet::PodNetwork;
use flotilla_actors::network_policy::{NetworkPolicyArgs, NetworkPolicyEnforcer};
use flotilla_actors::node_network::{Backend, DnsSettings, NodeNetwork, NodeNetworkArgs};
use flotilla_actors::proxy::{ServiceProxy, ServiceProxyArgs};
use flotilla_kernel::api::ApiClient;
use flotilla_kernel::supervision::ChildSpec;
use flotilla_node_os::network::cni::Cni;

/// The node's own resolvers, where names outside the cluster domain are forwarded.
const HOST_RESOLV_CONF: &str = "/etc/resolv.conf";

/// The cluster's address ranges.
#[derive(Debug, Clone, clap::Args)]
pub struct ClusterNetworkArgs {
    /// The pods' addresses, cut into one range per node.
    #[arg(long, default_value = "10.42.0.0/16", value_parser = parse_ipv4_net)]
    pub cluster_cidr: Ipv4Net,
    /// The Services' virtual addresses (a /12 to a /29).
    #[arg(long, default_value = "10.43.0.0/16", value_parser = parse_ipv4_net)]
    pub service_cidr: Ipv4Net,
    /// The ports NodePort Services' node ports come from.
    #[arg(long, default_value = "30000-32767", value_parser = parse_port_range)]
    pub service_node_port_range: NodePortRange,
    /// The prefix length of each node's pod range.
    #[arg(long, default_value_t = 24)]
    pub node_cidr_mask_size: u8,
}

impl ClusterNetworkArgs {
    /// The pod ranges the IPAM controller gives out; the ranges must not overlap.
    pub fn pod_ranges(&self) -> anyhow::Result<PodRanges> {
        let (pods, services) = (self.cluster_cidr, self.service_cidr);
        if pods.contains(&services.network()) || services.contains(&pods.network()) {
            bail!("--service-cidr {services} overlaps --cluster-cidr {pods}");
        }
        Ok(PodRanges::new(pods, self.node_cidr_mask_size)?)
    }

    /// The range ClusterIPs are allocated from.
    pub fn service_range(&self) -> anyhow::Result<ServiceCidr> {
        self.service_cidr
            .to_string()
            .parse()
            .map_err(|error: ServiceRangeError| anyhow::anyhow!("--service-cidr: {error}"))
    }
}

/// How a node's pods get their network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum NetworkBackend {
    /// The node's own network: a bridge for its pods, routes to the other nodes' pods via
    /// their addresses (nodes on one L2 segment), masquerade of traffic leaving the cluster.
    HostGw,
    /// As host-gw, but the other nodes' pods are reached through a VXLAN overlay (device
    /// `flotilla.1`, VNI 1, UDP port 8472, pods' MTU 1450), for nodes not on one L2 segment.
    Vxlan,
    /// Only what the CNI configuration directory holds; pods without one keep loopback only.
    None,
}

/// How this node wires its pods.
#[derive(Debug, Clone, clap::Args)]
pub struct NodeNetworkFlags {
    /// Where CNI network configurations are read (the first one, by name, is used).
    #[arg(long, default_value = "/etc/cni/net.d")]
    pub cni_conf_dir: PathBuf,
    /// Where CNI plug-in binaries are looked for, in order (colon-separated).
    #[arg(long, default_value = "/opt/cni/bin:/usr/lib/cni")]
    pub cni_bin_dir: String,
    /// The pod network the node runs itself.
    #[arg(long, value_enum, default_value = "host-gw")]
    pub network_backend: NetworkBackend,
    /// The domain of the cluster's DNS names (`web.default.svc.cluster.local`).
    #[arg(long, default_value = "cluster.local")]
    pub cluster_domain: String,
}

impl NodeNetworkFlags {
    /// Whether the node runs its own pod network (and so the proxy and DNS).
    pub fn runs_network(&self) -> bool {
        self.network_backend != NetworkBackend::None
    }

    /// What the node agent wires pods with; its records live under `state_dir`.
    pub fn pod_network(&self, state_dir: &Path) -> PodNetwork {
        PodNetwork {
            cni: Cni {
                conf_dir: self.cni_conf_dir.clone(),
                bin_dirs: std::env::split_paths(&self.cni_bin_dir).collect(),
                cache_dir: state_dir.join("cni").join("attachments"),
            },
            required: self.runs_network(),
            cluster_domain: self.runs_network().then(|| self.cluster_domain.clone()),
        }
    }

    /// The node's network actors — its share of the pod network, the service proxy and the
    /// network policy enforcer — unless the backend is `none`, with which the node runs none.
    pub fn actors(&self, node_name: &str, api: &ApiClient, state_dir: &Path) -> Vec<ChildSpec> {
        let backend = match self.network_backend {
            NetworkBackend::HostGw => Backend::HostGw,
            NetworkBackend::Vxlan => Backend::Vxlan,
            NetworkBackend::None => return Vec::new(),
        };
        let host_resolvers = std::fs::read_to_string(HOST_RESOLV_CONF).unwrap_or_default();
        let network = NodeNetworkArgs {
            node_name: node_name.to_string(),
            api: api.clone(),
            backend,
            cni_conf_dir: self.cni_conf_dir.clone(),
            ipam_dir: state_dir.join("cni").join("ipam"),
            dns: Some(DnsSettings {
                cluster_domain: self.cluster_domain.clone(),
                upstreams: parse_resolv_conf(&host_resolvers),
            }),
        };
        let proxy = ServiceProxyArgs {
            node_name: node_name.to_string(),
            api: api.clone(),
        };
        let policy = NetworkPolicyArgs {
            node_name: node_name.to_string(),
            api: api.clone(),
        };
        vec![
            ChildSpec::actor("node-network", move || (NodeNetwork, network.clone())),
            ChildSpec::actor("service-proxy", move || (ServiceProxy, proxy.clone())),
            ChildSpec::actor("network-policy", move || {
                (NetworkPolicyEnforcer, policy.clone())
            }),
        ]
    }
}

fn parse_port_range(text: &str) -> Result<NodePortRange, String> {
    text.parse()
        .map_err(|error: ServiceRangeError| error.to_string())
}

fn parse_ipv4_net(text: &str) -> Result<Ipv4Net, String> {
    let net: Ipv4Net = text
        .parse()
        .map_err(|_| format!("{text:?} is not an IPv4 CIDR such as 10.42.0.0/16"))?;
    if net.trunc() != net {
        return Err(format!(
            "{text:?} has host bits set; did you mean {}?",
            net.trunc()
        ));
    }
    Ok(net)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cluster(pods: &str, services: &str, mask: u8) -> ClusterNetworkArgs {
        ClusterNetworkArgs {
            cluster_cidr: parse_ipv4_net(pods).unwrap(),
            service_cidr: parse_ipv4_net(services).unwrap(),
            service_node_port_range: NodePortRange::default(),
            node_cidr_mask_size: mask,
        }
    }

    #[test]
    fn cidr_flags_say_what_is_wrong() {
        assert_eq!(
            parse_ipv4_net("10.42.0.0").unwrap_err(),
            "\"10.42.0.0\" is not an IPv4 CIDR such as 10.42.0.0/16"
        );
        assert_eq!(
            parse_ipv4_net("10.42.1.0/16").unwrap_err(),
            "\"10.42.1.0/16\" has host bits set; did you mean 10.42.0.0/16?"
        );
        let overlap = cluster("10.42.0.0/16", "10.42.128.0/17", 24);
        assert_eq!(
            overlap.pod_ranges().unwrap_err().to_string(),
            "--service-cidr 10.42.128.0/17 overlaps --cluster-cidr 10.42.0.0/16"
        );
        assert!(
            cluster("10.42.0.0/16", "10.43.0.0/16", 12)
                .pod_ranges()
                .is_err()
        );
        assert!(
            cluster("10.42.0.0/16", "10.43.0.0/16", 24)
                .pod_ranges()
                .is_ok()
        );
        let huge = cluster("10.42.0.0/16", "10.0.0.0/8", 24);
        assert!(
            huge.service_range()
                .unwrap_err()
                .to_string()
                .starts_with("--service-cidr: ")
        );
        assert!(parse_port_range("32767-30000").is_err());
    }
}
