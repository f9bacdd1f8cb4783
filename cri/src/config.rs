//! What the agent asks a CRI runtime for: a pod's sandbox and its containers, from the same
//! facts the native runtime gets (hostname, namespaces shared, limits, [`Security`]), in the
//! CRI's terms. Pure, so every field's mapping is tested without a runtime.

use std::collections::HashMap;
use std::path::PathBuf;

use flotilla_node_os::ResourceLimits;
use flotilla_node_os::sandbox::{FileMount, Security};

use crate::proto::{
    Capability, ContainerConfig, ContainerMetadata, DnsConfig, ImageSpec, Int64Value, KeyValue,
    LinuxContainerConfig, LinuxContainerResources, LinuxContainerSecurityContext,
    LinuxPodSandboxConfig, LinuxSandboxSecurityContext, Mount, NamespaceMode, NamespaceOption,
    PodSandboxConfig, PodSandboxMetadata, PortMapping, Protocol, SecurityProfile,
    security_profile::ProfileType,
};

/// The label, with value [`MANAGED_VALUE`], on every sandbox and container the agent makes:
/// what it lists, so containers others keep in the same runtime cost it nothing.
pub const MANAGED_LABEL: &str = "flotilla.io/managed-by";
pub const MANAGED_VALUE: &str = "flotilla";
/// The label that gives a sandbox's or container's pod uid.
pub const POD_UID_LABEL: &str = "flotilla.io/pod-uid";
/// The label that gives a container's id as the agent knows it.
pub const CONTAINER_ID_LABEL: &str = "flotilla.io/container-id";

/// A pod's sandbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodSandboxRequest {
    pub uid: String,
    pub name: String,
    pub namespace: String,
    pub hostname: String,
    pub host_network: bool,
    pub share_process_namespace: bool,
    /// Some container is privileged (the CRI wants the sandbox privileged too).
    pub privileged: bool,
    /// Where the runtime writes the containers' logs (their `log_path` is relative to it).
    pub log_directory: PathBuf,
    /// The cgroup the pod's containers go under.
    pub cgroup_parent: String,
    /// The runtime handler (RuntimeClass handler) of the CRI runtime; empty for its default.
    pub runtime_handler: String,
    /// The pod's resolv.conf, as its DNS policy makes it.
    pub dns: SandboxDns,
    /// The pod's `hostPort`s.
    pub port_mappings: Vec<SandboxPort>,
}

/// A pod's resolv.conf in the CRI's terms.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SandboxDns {
    pub servers: Vec<String>,
    pub searches: Vec<String>,
    /// `ndots:5`, `edns0`.
    pub options: Vec<String>,
}

/// One `hostPort` of a pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxPort {
    /// `TCP`, `UDP` or `SCTP`.
    pub protocol: String,
    pub container_port: i32,
    pub host_port: i32,
    pub host_ip: String,
}

/// One container of a pod whose sandbox is up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerRequest {
    /// The id the agent knows it by.
    pub id: String,
    pub name: String,
    /// How many times it ran before.
    pub attempt: u32,
    /// As the runtime resolved it when it pulled or found it.
    pub image: String,
    /// Kubernetes' `command` (replaces the image's ENTRYPOINT) and `args` (its CMD).
    pub command: Vec<String>,
    pub args: Vec<String>,
    /// Added to the image's environment.
    pub env: Vec<(String, String)>,
    /// Empty for the image's.
    pub working_dir: String,
    pub limits: ResourceLimits,
    pub security: Security,
    /// The log file, relative to the sandbox's log directory.
    pub log_path: PathBuf,
    pub termination_log: Option<FileMount>,
    pub stdin: bool,
    pub stdin_once: bool,
    pub tty: bool,
}

/// The sandbox config of `pod`; containers are created with it too.
pub fn sandbox_config(pod: &PodSandboxRequest) -> PodSandboxConfig {
    PodSandboxConfig {
        metadata: Some(PodSandboxMetadata {
            name: pod.name.clone(),
            uid: pod.uid.clone(),
            namespace: pod.namespace.clone(),
            attempt: 0,
        }),
        // A pod on the host's network has the host's name.
        hostname: if pod.host_network {
            String::new()
        } else {
            pod.hostname.clone()
        },
        log_directory: pod.log_directory.to_string_lossy().into_owned(),
        dns_config: Some(DnsConfig {
            servers: pod.dns.servers.clone(),
            searches: pod.dns.searches.clone(),
            options: pod.dns.options.clone(),
        }),
        port_mappings: pod
            .port_mappings
            .iter()
            .map(|port| PortMapping {
                protocol: match port.protocol.as_str() {
                    "UDP" => Protocol::Udp,
                    "SCTP" => Protocol::Sctp,
                    _ => Protocol::Tcp,
                }
                .into(),
                container_port: port.container_port,
                host_port: port.host_port,
                host_ip: port.host_ip.clone(),
            })
            .collect(),
        labels: HashMap::from([
            (MANAGED_LABEL.to_string(), MANAGED_VALUE.to_string()),
            (POD_UID_LABEL.to_string(), pod.uid.clone()),
        ]),
        linux: Some(LinuxPodSandboxConfig {
            cgroup_parent: pod.cgroup_parent.clone(),
            security_context: Some(LinuxSandboxSecurityContext {
                namespace_options: Some(namespaces(pod)),
                privileged: pod.privileged,
            }),
        }),
    }
}

/// The config of `container`, in the sandbox of `pod`.
pub fn container_config(pod: &PodSandboxRequest, container: &ContainerRequest) -> ContainerConfig {
    let security = &container.security;
    let capabilities = (!security.privileged).then(|| Capability {
        // The runtime's defaults go, so the container has exactly the set we decided.
        drop_capabilities: vec!["ALL".to_string()],
        add_capabilities: security
            .capabilities
            .iter()
            .map(|name| name.strip_prefix("CAP_").unwrap_or(name).to_string())
            .collect(),
    });
    let seccomp = SecurityProfile {
        profile_type: if security.seccomp {
            ProfileType::RuntimeDefault
        } else {
            ProfileType::Unconfined
        }
        .into(),
        localhost_ref: String::new(),
    };
    let limits = &container.limits;
    let resources = LinuxContainerResources {
        cpu_period: limits
            .cpu_quota_micros
            .map_or(0, |_| i64::try_from(limits.cpu_period_micros).unwrap_or(0)),
        cpu_quota: limits.cpu_quota_micros.unwrap_or(0),
        cpu_shares: limits
            .cpu_shares
            .map_or(0, |shares| i64::try_from(shares).unwrap_or(i64::MAX)),
        memory_limit_in_bytes: limits
            .memory_bytes
            .map_or(0, |bytes| i64::try_from(bytes).unwrap_or(i64::MAX)),
    };
    ContainerConfig {
        metadata: Some(ContainerMetadata {
            name: container.name.clone(),
            attempt: container.attempt,
        }),
        image: Some(ImageSpec {
            image: container.image.clone(),
        }),
        command: container.command.clone(),
        args: container.args.clone(),
        working_dir: container.working_dir.clone(),
        envs: container
            .env
            .iter()
            .map(|(key, value)| KeyValue {
                key: key.clone(),
                value: value.clone(),
            })
            .collect(),
        mounts: container
            .termination_log
            .iter()
            .map(|file| Mount {
                container_path: file.target.to_string_lossy().into_owned(),
                host_path: file.source.to_string_lossy().into_owned(),
                readonly: false,
            })
            .collect(),
        labels: HashMap::from([
            (MANAGED_LABEL.to_string(), MANAGED_VALUE.to_string()),
            (POD_UID_LABEL.to_string(), pod.uid.clone()),
            (CONTAINER_ID_LABEL.to_string(), container.id.clone()),
        ]),
        log_path: container.log_path.to_string_lossy().into_owned(),
        stdin: container.stdin,
        stdin_once: container.stdin_once,
        tty: container.tty,
        linux: Some(LinuxContainerConfig {
            resources: Some(resources),
            security_context: Some(LinuxContainerSecurityContext {
                capabilities,
                privileged: security.privileged,
                namespace_options: Some(namespaces(pod)),
                run_as_user: security.run_as_user.map(|uid| Int64Value {
                    value: i64::from(uid),
                }),
                run_as_group: security.run_as_group.map(|gid| Int64Value {
                    value: i64::from(gid),
                }),
                readonly_rootfs: security.read_only_root,
                supplemental_groups: security
                    .supplemental_groups
                    .iter()
                    .map(|gid| i64::from(*gid))
                    .collect(),
                no_new_privs: security.no_new_privs,
                seccomp: Some(seccomp),
            }),
        }),
    }
}

/// Lists only what the agent made.
pub fn managed() -> HashMap<String, String> {
    HashMap::from([(MANAGED_LABEL.to_string(), MANAGED_VALUE.to_string())])
}

/// The pod's namespaces: its own network (the host's on the host network) and IPC, and one
/// PID namespace per container unless the pod shares one.
fn namespaces(pod: &PodSandboxRequest) -> NamespaceOption {
    NamespaceOption {
        network: if pod.host_network {
            NamespaceMode::Node
        } else {
            NamespaceMode::Pod
        }
        .into(),
        pid: if pod.share_process_namespace {
            NamespaceMode::Pod
        } else {
            NamespaceMode::Container
        }
        .into(),
        ipc: NamespaceMode::Pod.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod() -> PodSandboxRequest {
        PodSandboxRequest {
            uid: "0f1e".to_string(),
            name: "web".to_string(),
            namespace: "default".to_string(),
            hostname: "web".to_string(),
            host_network: false,
            share_process_namespace: false,
            privileged: false,
            log_directory: PathBuf::from("/var/log/flotilla/default_web_0f1e"),
            cgroup_parent: "/flotilla/cri".to_string(),
            runtime_handler: String::new(),
            dns: SandboxDns {
                servers: vec!["10.42.0.1".to_string()],
                searches: vec!["default.svc.cluster.local".to_string()],
                options: vec!["ndots:5".to_string()],
            },
            port_mappings: vec![SandboxPort {
                protocol: "UDP".to_string(),
                container_port: 53,
                host_port: 5353,
                host_ip: String::new(),
            }],
        }
    }

    fn container() -> ContainerRequest {
        ContainerRequest {
            id: "0f1e-app".to_string(),
            name: "app".to_string(),
            attempt: 2,
            image: "docker.io/library/busybox:1.35".to_string(),
            command: vec!["sh".to_string()],
            args: vec!["-c".to_string(), "sleep 1".to_string()],
            env: vec![("MODE".to_string(), "test".to_string())],
            working_dir: String::new(),
            limits: ResourceLimits {
                memory_bytes: Some(64 << 20),
                cpu_quota_micros: Some(50_000),
                cpu_period_micros: 100_000,
                pids_max: None,
                cpu_shares: Some(512),
            },
            security: Security::default(),
            log_path: PathBuf::from("app.cri.log"),
            termination_log: Some(FileMount {
                target: PathBuf::from("/dev/termination-log"),
                source: PathBuf::from("/var/log/flotilla/default_web_0f1e/app.termination"),
            }),
            stdin: false,
            stdin_once: false,
            tty: false,
        }
    }

    #[test]
    fn a_sandbox_has_its_pod_namespaces_and_labels() {
        let config = sandbox_config(&pod());
        let metadata = config.metadata.unwrap();
        assert_eq!(
            (metadata.name.as_str(), metadata.uid.as_str()),
            ("web", "0f1e")
        );
        assert_eq!(config.hostname, "web");
        assert_eq!(config.labels[POD_UID_LABEL], "0f1e");
        assert_eq!(config.labels[MANAGED_LABEL], MANAGED_VALUE);
        let linux = config.linux.unwrap();
        assert_eq!(linux.cgroup_parent, "/flotilla/cri");
        let namespaces = linux.security_context.unwrap().namespace_options.unwrap();
        assert_eq!(namespaces.network(), NamespaceMode::Pod);
        assert_eq!(namespaces.pid(), NamespaceMode::Container);
        assert_eq!(namespaces.ipc(), NamespaceMode::Pod);

        let shared = sandbox_config(&PodSandboxRequest {
            host_network: true,
            share_process_namespace: true,
            ..pod()
        });
        assert_eq!(shared.hostname, "");
        let namespaces = shared.linux.unwrap().security_context.unwrap();
        let namespaces = namespaces.namespace_options.unwrap();
        assert_eq!(namespaces.network(), NamespaceMode::Node);
        assert_eq!(namespaces.pid(), NamespaceMode::Pod);
    }

    #[test]
    fn a_sandbox_carries_the_pods_dns_and_host_ports() {
        let config = sandbox_config(&pod());
        let dns = config.dns_config.unwrap();
        assert_eq!(dns.servers, ["10.42.0.1"]);
        assert_eq!(dns.searches, ["default.svc.cluster.local"]);
        assert_eq!(dns.options, ["ndots:5"]);
        let [port] = config.port_mappings.as_slice() else {
            panic!("one port mapping: {:?}", config.port_mappings);
        };
        assert_eq!(port.protocol(), Protocol::Udp);
        assert_eq!((port.container_port, port.host_port), (53, 5353));
    }

    #[test]
    fn a_container_gets_exactly_the_decided_restrictions() {
        let config = container_config(&pod(), &container());
        assert_eq!(config.command, ["sh"]);
        assert_eq!(config.args, ["-c", "sleep 1"]);
        assert_eq!(config.envs[0].key, "MODE");
        assert_eq!(config.labels[CONTAINER_ID_LABEL], "0f1e-app");
        assert_eq!(config.labels[MANAGED_LABEL], MANAGED_VALUE);
        assert_eq!(config.log_path, "app.cri.log");
        assert_eq!(config.mounts[0].container_path, "/dev/termination-log");
        assert_eq!(config.metadata.unwrap().attempt, 2);
        let linux = config.linux.unwrap();
        let resources = linux.resources.unwrap();
        assert_eq!(
            (
                resources.cpu_quota,
                resources.cpu_period,
                resources.cpu_shares
            ),
            (50_000, 100_000, 512)
        );
        assert_eq!(resources.memory_limit_in_bytes, 64 << 20);
        let security = linux.security_context.unwrap();
        let capabilities = security.capabilities.unwrap();
        assert_eq!(capabilities.drop_capabilities, ["ALL"]);
        assert!(capabilities.add_capabilities.contains(&"CHOWN".to_string()));
        assert!(
            !capabilities
                .add_capabilities
                .contains(&"SYS_ADMIN".to_string())
        );
        assert!(security.no_new_privs);
        assert_eq!(
            security.seccomp.unwrap().profile_type(),
            ProfileType::RuntimeDefault
        );
        assert_eq!(security.run_as_user, None);
    }

    #[test]
    fn unlimited_and_privileged_containers_say_so() {
        let privileged = ContainerRequest {
            limits: ResourceLimits::default(),
            security: Security {
                privileged: true,
                seccomp: false,
                no_new_privs: false,
                run_as_user: Some(1000),
                ..Security::default()
            },
            ..container()
        };
        let config = container_config(&pod(), &privileged);
        let linux = config.linux.unwrap();
        let resources = linux.resources.unwrap();
        assert_eq!(
            (
                resources.cpu_quota,
                resources.cpu_period,
                resources.memory_limit_in_bytes
            ),
            (0, 0, 0)
        );
        let security = linux.security_context.unwrap();
        assert!(security.privileged && security.capabilities.is_none());
        assert_eq!(
            security.seccomp.unwrap().profile_type(),
            ProfileType::Unconfined
        );
        assert_eq!(security.run_as_user.unwrap().value, 1000);
    }
}
