//! A pod's `/etc/resolv.conf`, as the kubelet writes it from `dnsPolicy` and `dnsConfig`:
//! `ClusterFirst` names the node's cluster DNS server with Kubernetes' search path and
//! `ndots:5`; `Default` is the node's own file; `None` only what `dnsConfig` says; `dnsConfig`
//! adds nameservers and search domains and overrides options by name.

use flotilla_kernel::object::{Pod, PodDnsConfigOption};

/// At most this many nameservers are written (the resolver reads no more).
const MAX_NAMESERVERS: usize = 3;

/// The cluster DNS the node serves its pods.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterDns {
    pub nameserver: String,
    /// `cluster.local`.
    pub domain: String,
}

/// A resolv.conf's settings.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Resolv {
    pub nameservers: Vec<String>,
    pub searches: Vec<String>,
    pub options: Vec<PodDnsConfigOption>,
}

impl Resolv {
    /// The options as resolv.conf writes them (`ndots:5`).
    pub fn option_words(&self) -> Vec<String> {
        self.options
            .iter()
            .map(|o| match &o.value {
                Some(value) => format!("{}:{value}", o.name),
                None => o.name.clone(),
            })
            .collect()
    }

    /// The file's text.
    pub fn render(&self) -> String {
        let mut text = String::new();
        if !self.searches.is_empty() {
            text.push_str(&format!("search {}\n", self.searches.join(" ")));
        }
        for server in &self.nameservers {
            text.push_str(&format!("nameserver {server}\n"));
        }
        if !self.options.is_empty() {
            text.push_str(&format!("options {}\n", self.option_words().join(" ")));
        }
        text
    }
}

/// The resolv.conf of `pod` on a node whose own is `host` (its text), with `cluster` DNS when
/// the node serves one. `ClusterFirst` without cluster DNS falls back to the node's, as the
/// kubelet does without `--cluster-dns`.
pub fn pod_dns(pod: &Pod, cluster: Option<&ClusterDns>, host: &str) -> Resolv {
    let spec = &pod.spec;
    let host = parse(host);
    let cluster_first = match spec.dns_policy.as_str() {
        "ClusterFirstWithHostNet" => true,
        "Default" | "None" => false,
        _ => !spec.host_network,
    };
    let mut resolv = match (
        spec.dns_policy.as_str(),
        cluster_first.then_some(cluster).flatten(),
    ) {
        ("None", _) => Resolv::default(),
        (_, Some(cluster)) => {
            let domain = &cluster.domain;
            let namespace = &pod.metadata.namespace;
            let mut searches = vec![
                format!("{namespace}.svc.{domain}"),
                format!("svc.{domain}"),
                domain.clone(),
            ];
            searches.extend(host.searches);
            Resolv {
                nameservers: vec![cluster.nameserver.clone()],
                searches,
                options: vec![PodDnsConfigOption {
                    name: "ndots".into(),
                    value: Some("5".into()),
                }],
            }
        }
        _ => host,
    };
    if let Some(config) = &spec.dns_config {
        resolv
            .nameservers
            .extend(config.nameservers.iter().cloned());
        resolv.searches.extend(config.searches.iter().cloned());
        for option in &config.options {
            resolv.options.retain(|o| o.name != option.name);
            resolv.options.push(option.clone());
        }
    }
    dedup(&mut resolv.nameservers);
    resolv.nameservers.truncate(MAX_NAMESERVERS);
    dedup(&mut resolv.searches);
    resolv
}

fn dedup(values: &mut Vec<String>) {
    let mut seen = std::collections::HashSet::new();
    values.retain(|value| seen.insert(value.clone()));
}

fn parse(text: &str) -> Resolv {
    let mut resolv = Resolv::default();
    for line in text.lines() {
        let mut words = line.split_whitespace();
        match words.next() {
            Some("nameserver") => resolv.nameservers.extend(words.next().map(str::to_string)),
            // The last search line wins, as in the resolver.
            Some("search" | "domain") => resolv.searches = words.map(str::to_string).collect(),
            Some("options") => {
                for word in words {
                    let (name, value) = match word.split_once(':') {
                        Some((name, value)) => (name, Some(value.to_string())),
                        None => (word, None),
                    };
                    resolv.options.retain(|o| o.name != name);
                    resolv.options.push(PodDnsConfigOption {
                        name: name.to_string(),
                        value,
                    });
                }
            }
            _ => {}
        }
    }
    resolv
}

#[cfg(test)]
mod tests {
    use super::*;
    use flotilla_kernel::object::PodDnsConfig;

    fn resolv_conf(pod: &Pod, cluster: Option<&ClusterDns>, host: &str) -> String {
        pod_dns(pod, cluster, host).render()
    }

    const HOST: &str = "# from DHCP\nsearch corp.example\nnameserver 192.0.2.53\nnameserver 192.0.2.54\noptions edns0 ndots:1\n";

    fn pod(policy: &str, host_network: bool) -> Pod {
        let mut pod = Pod::default();
        pod.metadata.namespace = "shop".into();
        pod.spec.dns_policy = policy.into();
        pod.spec.host_network = host_network;
        pod
    }

    fn cluster() -> ClusterDns {
        ClusterDns {
            nameserver: "10.42.1.1".into(),
            domain: "cluster.local".into(),
        }
    }

    #[test]
    fn cluster_first_names_the_cluster_dns_with_kubernetes_search_path() {
        assert_eq!(
            resolv_conf(&pod("ClusterFirst", false), Some(&cluster()), HOST),
            "search shop.svc.cluster.local svc.cluster.local cluster.local corp.example\n\
             nameserver 10.42.1.1\n\
             options ndots:5\n"
        );
    }

    #[test]
    fn host_network_pods_and_default_use_the_nodes_file() {
        let node = "search corp.example\nnameserver 192.0.2.53\nnameserver 192.0.2.54\noptions edns0 ndots:1\n";
        assert_eq!(
            resolv_conf(&pod("ClusterFirst", true), Some(&cluster()), HOST),
            node
        );
        assert_eq!(
            resolv_conf(&pod("Default", false), Some(&cluster()), HOST),
            node
        );
        // Without cluster DNS, ClusterFirst falls back to the node's.
        assert_eq!(resolv_conf(&pod("ClusterFirst", false), None, HOST), node);
        assert!(
            resolv_conf(
                &pod("ClusterFirstWithHostNet", true),
                Some(&cluster()),
                HOST
            )
            .contains("nameserver 10.42.1.1\n")
        );
    }

    #[test]
    fn dns_config_adds_and_overrides_and_none_uses_only_it() {
        let mut custom = pod("None", false);
        custom.spec.dns_config = Some(PodDnsConfig {
            nameservers: vec!["192.0.2.1".into()],
            searches: vec![
                "ns1.svc.cluster-domain.example".into(),
                "my.dns.search.suffix".into(),
            ],
            options: vec![
                PodDnsConfigOption {
                    name: "ndots".into(),
                    value: Some("2".into()),
                },
                PodDnsConfigOption {
                    name: "edns0".into(),
                    value: None,
                },
            ],
        });
        assert_eq!(
            resolv_conf(&custom, Some(&cluster()), HOST),
            "search ns1.svc.cluster-domain.example my.dns.search.suffix\n\
             nameserver 192.0.2.1\n\
             options ndots:2 edns0\n"
        );
        custom.spec.dns_policy = "ClusterFirst".into();
        let merged = resolv_conf(&custom, Some(&cluster()), HOST);
        assert!(
            merged.contains("nameserver 10.42.1.1\nnameserver 192.0.2.1\n"),
            "{merged}"
        );
        assert!(merged.ends_with("options ndots:2 edns0\n"), "{merged}");
    }
}
