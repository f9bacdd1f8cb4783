//! `PodSpec` and `Container`: what a pod should run, where and with which resources.
//!
//! `image` names an image in the node's local store; the reserved image `host` runs `command`
//! on the node's own root filesystem (still in its own cgroup and namespaces).
//!
//! `initContainers` run one after another before the containers start, each to completion,
//! except sidecars (`restartPolicy: Always`), which start in their turn and keep running next
//! to the containers, as in Kubernetes.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::affinity::{Affinity, TopologySpreadConstraint};
use super::probe::{Lifecycle, Probe};
use super::quantity::{Quantity, QuantityError};
use super::security_context::{PodSecurityContext, SecurityContext};
use super::toleration::Toleration;

/// The CPU resource name; amounts are in cores (`"500m"`).
pub const RESOURCE_CPU: &str = "cpu";
/// The memory resource name; amounts are in bytes (`"128Mi"`).
pub const RESOURCE_MEMORY: &str = "memory";
/// The scratch-disk resource name; amounts are in bytes.
pub const RESOURCE_EPHEMERAL_STORAGE: &str = "ephemeral-storage";
/// The process-count resource name; only meaningful as a limit (the cgroup's `pids.max`).
pub const RESOURCE_PIDS: &str = "pids";
/// Every resource name a container may request or be limited on.
pub const KNOWN_RESOURCES: [&str; 4] = [
    RESOURCE_CPU,
    RESOURCE_MEMORY,
    RESOURCE_EPHEMERAL_STORAGE,
    RESOURCE_PIDS,
];

/// The desired state of a pod.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodSpec {
    /// Run in order before `containers`; see the module documentation.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub init_containers: Vec<Container>,
    #[serde(default)]
    pub containers: Vec<Container>,
    #[serde(default)]
    pub restart_policy: RestartPolicy,
    /// The node the scheduler bound the pod to; empty while unscheduled.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub node_name: String,
    /// Labels a node must carry for the pod to be placed on it.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub node_selector: BTreeMap<String, String>,
    /// Node affinity and pod (anti-)affinity: where the pod must or would rather go.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub affinity: Option<Affinity>,
    /// How the pod and its like spread over nodes, zones or other topology domains.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub topology_spread_constraints: Vec<TopologySpreadConstraint>,
    /// The node taints the pod may be placed (and stay) despite.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tolerations: Vec<Toleration>,
    /// While any is listed, the pod is not scheduled; they may only be removed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scheduling_gates: Vec<PodSchedulingGate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub termination_grace_period_seconds: Option<i64>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub hostname: String,
    /// With `hostname`, the pod's name in DNS is `<hostname>.<subdomain>.<namespace>.svc...`
    /// when a headless Service named `subdomain` selects it.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub subdomain: String,
    /// Where the pod's `/etc/resolv.conf` comes from: `ClusterFirst` (the default),
    /// `ClusterFirstWithHostNet`, `Default` (the node's) or `None` (only `dnsConfig`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub dns_policy: String,
    /// Nameservers, search domains and options added to what `dnsPolicy` gives.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns_config: Option<PodDnsConfig>,
    /// Among pending pods the scheduler tries higher priorities first. Kubernetes' field,
    /// which its admission sets from `priorityClassName`; absent means 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<i32>,
    /// The host's network and UTS namespaces instead of the pod's own.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub host_network: bool,
    /// One PID namespace for all the pod's containers instead of one each.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub share_process_namespace: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security_context: Option<PodSecurityContext>,
    /// Secrets of type `kubernetes.io/dockerconfigjson` whose credentials pull the images.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub image_pull_secrets: Vec<LocalObjectReference>,
    /// The `RuntimeClass` whose handler runs the containers; absent means the node's default.
    /// It must exist when the pod is created, and its node selector is merged into the pod's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime_class_name: Option<String>,
}

/// The `dnsConfig` of a pod.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodDnsConfig {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nameservers: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub searches: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<PodDnsConfigOption>,
}

/// One `options` entry of a resolv.conf (`ndots:2`, `edns0`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct PodDnsConfigOption {
    #[serde(default)]
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

impl PodSpec {
    /// The `dnsPolicy` values.
    pub const DNS_POLICIES: [&str; 4] =
        ["ClusterFirst", "ClusterFirstWithHostNet", "Default", "None"];
}

/// An object of the same namespace, by name.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LocalObjectReference {
    #[serde(default)]
    pub name: String,
}

/// Something that must happen before the pod may be scheduled, by name.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodSchedulingGate {
    #[serde(default)]
    pub name: String,
}

/// When the node agent restarts a pod's containers after they exit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum RestartPolicy {
    #[default]
    Always,
    OnFailure,
    Never,
}

/// One process (tree) of a pod.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Container {
    #[serde(default)]
    pub name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub image: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub command: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<EnvVar>,
    /// Whole ConfigMaps or Secrets as environment variables; `env` wins over them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env_from: Vec<EnvFromSource>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub working_dir: String,
    /// The ports the container listens on: information for readers and Services, as in
    /// Kubernetes (nothing is opened or forwarded for them).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<ContainerPort>,
    #[serde(default, skip_serializing_if = "ResourceRequirements::is_empty")]
    pub resources: ResourceRequirements,
    /// `Always`, `IfNotPresent` or `Never`; defaulted from the image's tag.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub image_pull_policy: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security_context: Option<SecurityContext>,
    /// Restarts the container when it fails.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub liveness_probe: Option<Probe>,
    /// Whether the container may receive traffic; the pod is ready when all its containers are.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub readiness_probe: Option<Probe>,
    /// Holds the other probes back until it has succeeded once; restarts the container when
    /// it fails.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub startup_probe: Option<Probe>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifecycle: Option<Lifecycle>,
    /// Only `Always`, and only on an init container: it is then a sidecar, started in its
    /// turn among the init containers and kept running (and restarted) next to the containers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart_policy: Option<String>,
    /// A terminal for the container's process.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub tty: bool,
    /// Keeps the container's standard input open for an attached client.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub stdin: bool,
    /// Closes standard input after the first attached client disconnects.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub stdin_once: bool,
    /// The file in the container whose content becomes the termination message; defaults to
    /// `/dev/termination-log`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub termination_message_path: String,
    /// `File` (the default) or `FallbackToLogsOnError`: the tail of the log when the file is
    /// empty and the container failed.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub termination_message_policy: String,
}

/// A port a container listens on.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerPort {
    /// An IANA service name (`http`), unique in the pod, for Services to refer to.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(default)]
    pub container_port: i32,
    /// `TCP` (the default), `UDP` or `SCTP`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub protocol: String,
    /// The node's port forwarded to the container's (through the CNI portmap plug-in).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub host_port: i32,
    /// The node address `hostPort` listens on; all of them when empty.
    #[serde(default, rename = "hostIP", skip_serializing_if = "String::is_empty")]
    pub host_ip: String,
}

fn is_zero(value: &i32) -> bool {
    *value == 0
}

/// An environment variable set in a container: a literal `value`, or one key of a ConfigMap
/// or Secret in the pod's namespace.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EnvVar {
    #[serde(default)]
    pub name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub value: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_from: Option<EnvVarSource>,
}

/// Where an environment variable's value comes from: exactly one of the fields is set.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EnvVarSource {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_map_key_ref: Option<KeySelector>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_key_ref: Option<KeySelector>,
    /// A field of the pod itself (the downward API).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field_ref: Option<ObjectFieldSelector>,
    /// A request or limit of one of the pod's containers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_field_ref: Option<ResourceFieldSelector>,
}

/// A field of the pod, by its path (`metadata.name`, `metadata.labels['app']`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectFieldSelector {
    /// The version `fieldPath` is written in; defaults to `v1`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub api_version: String,
    #[serde(default)]
    pub field_path: String,
}

/// A container's request or limit (`limits.memory`), in units of `divisor`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceFieldSelector {
    /// Empty means the container the variable is set in.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub container_name: String,
    #[serde(default)]
    pub resource: String,
    /// The unit the amount is given in, rounded up; absent (or zero) means 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub divisor: Option<Quantity>,
}

/// One key of a named ConfigMap or Secret.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KeySelector {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub key: String,
    /// When true, a missing object or key leaves the variable unset instead of failing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub optional: Option<bool>,
}

/// Every key of a ConfigMap or Secret as environment variables, optionally prefixed.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EnvFromSource {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub prefix: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_map_ref: Option<ObjectSelector>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<ObjectSelector>,
}

/// A named ConfigMap or Secret.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectSelector {
    #[serde(default)]
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub optional: Option<bool>,
}

/// The ConfigMaps and Secrets a pod reads, by name: what its node may fetch.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PodReferences {
    pub config_maps: BTreeSet<String>,
    pub secrets: BTreeSet<String>,
}

/// Resource amounts a container is guaranteed (`requests`) and capped at (`limits`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceRequirements {
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub limits: BTreeMap<String, Quantity>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub requests: BTreeMap<String, Quantity>,
}

impl Container {
    /// The reserved image that runs `command` on the host's root filesystem.
    pub const HOST_IMAGE: &str = "host";
    pub const PULL_ALWAYS: &str = "Always";
    pub const PULL_IF_NOT_PRESENT: &str = "IfNotPresent";
    pub const PULL_NEVER: &str = "Never";
    pub const PULL_POLICIES: [&str; 3] = [
        Self::PULL_ALWAYS,
        Self::PULL_IF_NOT_PRESENT,
        Self::PULL_NEVER,
    ];

    /// Kubernetes' default pull policy for `image`: `Always` when it has no tag or the tag
    /// `latest` (it may change under that name), else `IfNotPresent`; an image pinned by
    /// digest alone never changes.
    pub fn default_pull_policy(image: &str) -> &'static str {
        let (name, digest) = match image.split_once('@') {
            Some((name, _)) => (name, true),
            None => (image, false),
        };
        let last = name.rsplit('/').next().unwrap_or(name);
        match last.split_once(':') {
            Some((_, "latest")) => Self::PULL_ALWAYS,
            Some(_) => Self::PULL_IF_NOT_PRESENT,
            None if digest => Self::PULL_IF_NOT_PRESENT,
            None => Self::PULL_ALWAYS,
        }
    }
}

impl Container {
    /// The only `restartPolicy` a container may have: an init container with it is a sidecar.
    pub const RESTART_ALWAYS: &str = "Always";
    pub const DEFAULT_TERMINATION_MESSAGE_PATH: &str = "/dev/termination-log";
    pub const TERMINATION_MESSAGE_FILE: &str = "File";
    pub const TERMINATION_MESSAGE_FALLBACK_TO_LOGS: &str = "FallbackToLogsOnError";
    pub const TERMINATION_MESSAGE_POLICIES: [&str; 2] = [
        Self::TERMINATION_MESSAGE_FALLBACK_TO_LOGS,
        Self::TERMINATION_MESSAGE_FILE,
    ];

    /// Whether this container, listed among the init containers, is a sidecar: started in
    /// its turn and then kept running next to the containers.
    pub fn is_sidecar(&self) -> bool {
        self.restart_policy.as_deref() == Some(Self::RESTART_ALWAYS)
    }
}

impl ObjectFieldSelector {
    pub const DEFAULT_API_VERSION: &str = "v1";
    /// The pod fields an environment variable may take, besides one label or annotation
    /// (`metadata.labels['<key>']`, `metadata.annotations['<key>']`).
    pub const ENV_FIELD_PATHS: [&str; 9] = [
        "metadata.name",
        "metadata.namespace",
        "metadata.uid",
        "spec.nodeName",
        "spec.serviceAccountName",
        "status.hostIP",
        "status.hostIPs",
        "status.podIP",
        "status.podIPs",
    ];

    /// `(metadata.labels, key)` for `metadata.labels['key']`, as Kubernetes splits a path
    /// with a subscript; `None` for a path without one.
    pub fn subscript(&self) -> Option<(&str, &str)> {
        let inner = self.field_path.strip_suffix("']")?;
        let (path, key) = inner.split_once("['")?;
        (!path.is_empty()).then_some((path, key))
    }
}

impl ResourceFieldSelector {
    /// The resources an environment variable may take, as Kubernetes lists them.
    pub const RESOURCES: [&str; 6] = [
        "limits.cpu",
        "limits.ephemeral-storage",
        "limits.memory",
        "requests.cpu",
        "requests.ephemeral-storage",
        "requests.memory",
    ];
}

impl ContainerPort {
    pub const PROTOCOLS: [&str; 3] = ["SCTP", "TCP", "UDP"];
    pub const DEFAULT_PROTOCOL: &str = "TCP";
}

impl ResourceRequirements {
    /// Whether neither requests nor limits are set.
    pub fn is_empty(&self) -> bool {
        self.limits.is_empty() && self.requests.is_empty()
    }

    /// The request for `resource`, falling back to its limit (Kubernetes defaults a missing
    /// request to the limit).
    pub fn effective_request(&self, resource: &str) -> Option<&Quantity> {
        self.requests
            .get(resource)
            .or_else(|| self.limits.get(resource))
    }
}

impl PodSpec {
    /// The init containers, then the containers.
    pub fn all_containers(&self) -> impl Iterator<Item = &Container> {
        self.init_containers.iter().chain(&self.containers)
    }

    /// The init containers, then the containers, to change.
    pub fn all_containers_mut(&mut self) -> impl Iterator<Item = &mut Container> {
        self.init_containers.iter_mut().chain(&mut self.containers)
    }

    /// Every ConfigMap and Secret the `env` and `envFrom` of the containers and init
    /// containers name, and the image pull secrets.
    pub fn references(&self) -> PodReferences {
        let mut references = PodReferences::default();
        for container in self.all_containers() {
            for source in container
                .env
                .iter()
                .filter_map(|var| var.value_from.as_ref())
            {
                if let Some(selector) = &source.config_map_key_ref {
                    references.config_maps.insert(selector.name.clone());
                }
                if let Some(selector) = &source.secret_key_ref {
                    references.secrets.insert(selector.name.clone());
                }
            }
            for source in &container.env_from {
                if let Some(selector) = &source.config_map_ref {
                    references.config_maps.insert(selector.name.clone());
                }
                if let Some(selector) = &source.secret_ref {
                    references.secrets.insert(selector.name.clone());
                }
            }
        }
        for secret in &self.image_pull_secrets {
            references.secrets.insert(secret.name.clone());
        }
        references
    }

    /// The pod's requests as (CPU millicores, memory bytes), each container counting its
    /// request or, failing that, its limit. As in Kubernetes, init containers count by their
    /// peak: the pod needs the sum of its containers and sidecars, or, if more, what one init
    /// container needs next to the sidecars started before it.
    pub fn requests(&self) -> Result<(u64, u64), QuantityError> {
        let mut running = (0u64, 0u64);
        for container in &self.containers {
            running = add(running, container_requests(container)?);
        }
        let mut sidecars = (0u64, 0u64);
        let mut init_peak = (0u64, 0u64);
        for container in &self.init_containers {
            let own = container_requests(container)?;
            let during = if container.is_sidecar() {
                sidecars = add(sidecars, own);
                running = add(running, own);
                sidecars
            } else {
                add(sidecars, own)
            };
            init_peak = (init_peak.0.max(during.0), init_peak.1.max(during.1));
        }
        Ok((running.0.max(init_peak.0), running.1.max(init_peak.1)))
    }
}

/// One container's (CPU millicores, memory bytes): its requests, falling back to its limits.
fn container_requests(container: &Container) -> Result<(u64, u64), QuantityError> {
    let resources = &container.resources;
    let cpu = match resources.effective_request(RESOURCE_CPU) {
        Some(cpu) => cpu.cpu_millis()?,
        None => 0,
    };
    let memory = match resources.effective_request(RESOURCE_MEMORY) {
        Some(memory) => memory.bytes()?,
        None => 0,
    };
    Ok((cpu, memory))
}

fn add(a: (u64, u64), b: (u64, u64)) -> (u64, u64) {
    (a.0.saturating_add(b.0), a.1.saturating_add(b.1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn container(requests: &[(&str, &str)], limits: &[(&str, &str)]) -> Container {
        let amounts = |pairs: &[(&str, &str)]| {
            pairs
                .iter()
                .map(|(name, amount)| (name.to_string(), Quantity::from(*amount)))
                .collect()
        };
        Container {
            name: "c".into(),
            image: "app".into(),
            resources: ResourceRequirements {
                requests: amounts(requests),
                limits: amounts(limits),
            },
            ..Container::default()
        }
    }

    #[test]
    fn requests_sum_and_fall_back_to_limits() {
        let spec = PodSpec {
            containers: vec![
                container(&[("cpu", "250m"), ("memory", "64Mi")], &[("cpu", "1")]),
                container(&[], &[("cpu", "500m"), ("memory", "1Gi")]),
                container(&[], &[]),
            ],
            ..PodSpec::default()
        };
        assert_eq!(spec.requests().unwrap(), (750, (64 << 20) + (1 << 30)));
    }

    #[test]
    fn init_containers_count_by_their_peak_next_to_earlier_sidecars() {
        let mut sidecar = container(&[("cpu", "100m"), ("memory", "10Mi")], &[]);
        sidecar.restart_policy = Some(Container::RESTART_ALWAYS.into());
        let mut spec = PodSpec {
            init_containers: vec![
                container(&[("cpu", "2")], &[]),
                sidecar,
                container(&[("memory", "1Gi")], &[]),
            ],
            containers: vec![container(&[("cpu", "500m"), ("memory", "64Mi")], &[])],
            ..PodSpec::default()
        };
        // CPU: the first init container alone (2000m) beats containers and sidecar (600m);
        // memory: the last init container next to the sidecar beats 64Mi + 10Mi.
        assert_eq!(spec.requests().unwrap(), (2000, (1 << 30) + (10 << 20)));
        spec.init_containers.truncate(2);
        spec.init_containers[0] = container(&[("cpu", "100m")], &[]);
        assert_eq!(spec.requests().unwrap(), (600, 74 << 20));
    }

    #[test]
    fn references_include_init_containers() {
        let from = |name: &str| EnvFromSource {
            config_map_ref: Some(ObjectSelector {
                name: name.into(),
                optional: None,
            }),
            ..EnvFromSource::default()
        };
        let mut init = container(&[], &[]);
        init.env_from = vec![from("setup")];
        let mut main = container(&[], &[]);
        main.env_from = vec![from("settings")];
        let spec = PodSpec {
            init_containers: vec![init],
            containers: vec![main],
            ..PodSpec::default()
        };
        let references = spec.references();
        let names: Vec<&str> = references.config_maps.iter().map(String::as_str).collect();
        assert_eq!(names, ["settings", "setup"]);
    }

    #[test]
    fn field_paths_split_like_kubernetes() {
        let selector = |path: &str| ObjectFieldSelector {
            field_path: path.into(),
            ..ObjectFieldSelector::default()
        };
        assert_eq!(
            selector("metadata.labels['app']").subscript(),
            Some(("metadata.labels", "app"))
        );
        assert_eq!(
            selector("metadata.annotations['a/b']").subscript(),
            Some(("metadata.annotations", "a/b"))
        );
        assert_eq!(selector("metadata.name").subscript(), None);
        assert_eq!(selector("['app']").subscript(), None);
        assert_eq!(selector("metadata.labels[app]").subscript(), None);
    }

    #[test]
    fn requests_report_bad_quantities() {
        let spec = PodSpec {
            containers: vec![container(&[("cpu", "lots")], &[])],
            ..PodSpec::default()
        };
        assert!(spec.requests().is_err());
    }

    #[test]
    fn restart_policy_defaults_to_always() {
        let spec: PodSpec = serde_json::from_str(r#"{"containers":[]}"#).unwrap();
        assert_eq!(spec.restart_policy, RestartPolicy::Always);
        let never: PodSpec = serde_json::from_str(r#"{"restartPolicy":"Never"}"#).unwrap();
        assert_eq!(never.restart_policy, RestartPolicy::Never);
    }

    #[test]
    fn empty_container_fields_are_omitted() {
        let json = serde_json::to_string(&container(&[], &[])).unwrap();
        assert_eq!(json, r#"{"name":"c","image":"app"}"#);
    }
}
