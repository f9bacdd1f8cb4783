//! `PodSpec` and `Container`: what a pod should run, where and with which resources.
//!
//! `image` names an image in the node's local store; the reserved image `host` runs `command`
//! on the node's own root filesystem (still in its own cgroup and namespaces).

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::quantity::{Quantity, QuantityError};

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
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub termination_grace_period_seconds: Option<i64>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub hostname: String,
    /// Among pending pods the scheduler tries higher priorities first. Kubernetes' field,
    /// which its admission sets from `priorityClassName`; absent means 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<i32>,
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
    /// Refused until pods have a network of their own to forward it into.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub host_port: i32,
    #[serde(default, skip_serializing_if = "String::is_empty")]
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

/// Where an environment variable's value comes from.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EnvVarSource {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_map_key_ref: Option<KeySelector>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_key_ref: Option<KeySelector>,
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
    /// Every ConfigMap and Secret the containers' `env` and `envFrom` name.
    pub fn references(&self) -> PodReferences {
        let mut references = PodReferences::default();
        for container in &self.containers {
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
        references
    }

    /// The pod's summed requests as (CPU millicores, memory bytes), each container counting
    /// its request or, failing that, its limit.
    pub fn requests(&self) -> Result<(u64, u64), QuantityError> {
        let mut cpu_millis = 0u64;
        let mut memory_bytes = 0u64;
        for container in &self.containers {
            let resources = &container.resources;
            if let Some(cpu) = resources.effective_request(RESOURCE_CPU) {
                cpu_millis = cpu_millis.saturating_add(cpu.cpu_millis()?);
            }
            if let Some(memory) = resources.effective_request(RESOURCE_MEMORY) {
                memory_bytes = memory_bytes.saturating_add(memory.bytes()?);
            }
        }
        Ok((cpu_millis, memory_bytes))
    }
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
