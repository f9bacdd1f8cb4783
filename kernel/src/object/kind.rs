//! `Kind`: the object kinds flotilla serves, and every name an operator may use for one
//! (`Deployment`, `deployment`, `deployments`, `deploy`).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// A kind of object the API stores.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Kind {
    Namespace,
    Node,
    Pod,
    ReplicaSet,
    Deployment,
    ConfigMap,
    Secret,
    Lease,
    RuntimeClass,
    Service,
    EndpointSlice,
    NetworkPolicy,
    PriorityClass,
    PodDisruptionBudget,
    Job,
    CronJob,
    DaemonSet,
    StatefulSet,
}

/// A name that is not one of the supported kinds.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("unknown kind {name:?}; supported kinds: {}", supported_kinds())]
pub struct UnknownKind {
    /// The name as given.
    pub name: String,
}

impl Kind {
    /// Every kind, in the order the API lists them.
    pub const ALL: [Kind; 18] = [
        Kind::Namespace,
        Kind::Node,
        Kind::Pod,
        Kind::ReplicaSet,
        Kind::Deployment,
        Kind::ConfigMap,
        Kind::Secret,
        Kind::Lease,
        Kind::RuntimeClass,
        Kind::Service,
        Kind::EndpointSlice,
        Kind::NetworkPolicy,
        Kind::PriorityClass,
        Kind::PodDisruptionBudget,
        Kind::Job,
        Kind::CronJob,
        Kind::DaemonSet,
        Kind::StatefulSet,
    ];

    /// The `kind:` value (`"Pod"`).
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Namespace => "Namespace",
            Kind::Node => "Node",
            Kind::Pod => "Pod",
            Kind::ReplicaSet => "ReplicaSet",
            Kind::Deployment => "Deployment",
            Kind::ConfigMap => "ConfigMap",
            Kind::Secret => "Secret",
            Kind::Lease => "Lease",
            Kind::RuntimeClass => "RuntimeClass",
            Kind::Service => "Service",
            Kind::EndpointSlice => "EndpointSlice",
            Kind::NetworkPolicy => "NetworkPolicy",
            Kind::PriorityClass => "PriorityClass",
            Kind::PodDisruptionBudget => "PodDisruptionBudget",
            Kind::Job => "Job",
            Kind::CronJob => "CronJob",
            Kind::DaemonSet => "DaemonSet",
            Kind::StatefulSet => "StatefulSet",
        }
    }

    /// The resource name in paths and the CLI (`"pods"`).
    pub fn plural(self) -> &'static str {
        match self {
            Kind::Namespace => "namespaces",
            Kind::Node => "nodes",
            Kind::Pod => "pods",
            Kind::ReplicaSet => "replicasets",
            Kind::Deployment => "deployments",
            Kind::ConfigMap => "configmaps",
            Kind::Secret => "secrets",
            Kind::Lease => "leases",
            Kind::RuntimeClass => "runtimeclasses",
            Kind::Service => "services",
            Kind::EndpointSlice => "endpointslices",
            Kind::NetworkPolicy => "networkpolicies",
            Kind::PriorityClass => "priorityclasses",
            Kind::PodDisruptionBudget => "poddisruptionbudgets",
            Kind::Job => "jobs",
            Kind::CronJob => "cronjobs",
            Kind::DaemonSet => "daemonsets",
            Kind::StatefulSet => "statefulsets",
        }
    }

    /// The `apiVersion:` value objects of this kind carry.
    pub fn api_version(self) -> &'static str {
        match self {
            Kind::Namespace
            | Kind::Node
            | Kind::Pod
            | Kind::ConfigMap
            | Kind::Secret
            | Kind::Service => "v1",
            Kind::ReplicaSet | Kind::Deployment => "apps/v1",
            Kind::Lease => "coordination.k8s.io/v1",
            Kind::RuntimeClass => "node.k8s.io/v1",
            Kind::EndpointSlice => "discovery.k8s.io/v1",
            Kind::NetworkPolicy => "networking.k8s.io/v1",
            Kind::PriorityClass => "scheduling.k8s.io/v1",
            Kind::PodDisruptionBudget => "policy/v1",
            Kind::Job | Kind::CronJob => "batch/v1",
            Kind::DaemonSet | Kind::StatefulSet => "apps/v1",
        }
    }

    /// Whether objects of this kind live in a namespace.
    pub fn namespaced(self) -> bool {
        match self {
            Kind::Namespace | Kind::Node | Kind::RuntimeClass | Kind::PriorityClass => false,
            Kind::Pod
            | Kind::ReplicaSet
            | Kind::Deployment
            | Kind::ConfigMap
            | Kind::Secret
            | Kind::Lease
            | Kind::Service
            | Kind::EndpointSlice
            | Kind::NetworkPolicy
            | Kind::PodDisruptionBudget
            | Kind::Job
            | Kind::CronJob
            | Kind::DaemonSet
            | Kind::StatefulSet => true,
        }
    }

    /// The CLI abbreviation (`"po"`); the kind's own name, lower case, for kinds Kubernetes
    /// gives none.
    pub fn short_name(self) -> &'static str {
        match self {
            Kind::Namespace => "ns",
            Kind::Node => "no",
            Kind::Pod => "po",
            Kind::ReplicaSet => "rs",
            Kind::Deployment => "deploy",
            Kind::ConfigMap => "cm",
            Kind::Secret => "secret",
            Kind::Lease => "lease",
            Kind::RuntimeClass => "runtimeclass",
            Kind::Service => "svc",
            Kind::EndpointSlice => "endpointslice",
            Kind::NetworkPolicy => "netpol",
            Kind::PriorityClass => "pc",
            Kind::PodDisruptionBudget => "pdb",
            Kind::Job => "job",
            Kind::CronJob => "cj",
            Kind::DaemonSet => "ds",
            Kind::StatefulSet => "sts",
        }
    }

    /// Accepts the kind, its plural or its short name, in any case.
    pub fn parse(name: &str) -> Result<Kind, UnknownKind> {
        Kind::ALL
            .into_iter()
            .find(|kind| {
                [kind.as_str(), kind.plural(), kind.short_name()]
                    .iter()
                    .any(|candidate| candidate.eq_ignore_ascii_case(name))
            })
            .ok_or_else(|| UnknownKind {
                name: name.to_owned(),
            })
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Kind {
    type Err = UnknownKind;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Kind::parse(name)
    }
}

fn supported_kinds() -> String {
    Kind::ALL.map(Kind::as_str).join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_spelling_case_insensitively() {
        let cases = [
            ("Pod", Kind::Pod),
            ("pod", Kind::Pod),
            ("PODS", Kind::Pod),
            ("po", Kind::Pod),
            ("deploy", Kind::Deployment),
            ("Deployments", Kind::Deployment),
            ("rs", Kind::ReplicaSet),
            ("replicaset", Kind::ReplicaSet),
            ("no", Kind::Node),
            ("nodes", Kind::Node),
            ("ns", Kind::Namespace),
            ("Namespace", Kind::Namespace),
            ("runtimeclass", Kind::RuntimeClass),
            ("RuntimeClasses", Kind::RuntimeClass),
            ("svc", Kind::Service),
            ("services", Kind::Service),
            ("Service", Kind::Service),
            ("endpointslices", Kind::EndpointSlice),
            ("EndpointSlice", Kind::EndpointSlice),
            ("netpol", Kind::NetworkPolicy),
            ("networkpolicies", Kind::NetworkPolicy),
            ("NetworkPolicy", Kind::NetworkPolicy),
            ("pdb", Kind::PodDisruptionBudget),
            ("poddisruptionbudgets", Kind::PodDisruptionBudget),
            ("PodDisruptionBudget", Kind::PodDisruptionBudget),
            ("jobs", Kind::Job),
            ("Job", Kind::Job),
            ("cj", Kind::CronJob),
            ("cronjobs", Kind::CronJob),
            ("ds", Kind::DaemonSet),
            ("daemonsets", Kind::DaemonSet),
            ("sts", Kind::StatefulSet),
            ("StatefulSets", Kind::StatefulSet),
        ];
        for (name, kind) in cases {
            assert_eq!(Kind::parse(name), Ok(kind), "{name}");
        }
        for kind in Kind::ALL {
            assert_eq!(kind.as_str().parse::<Kind>(), Ok(kind));
        }
    }

    #[test]
    fn unknown_kind_lists_the_supported_ones() {
        let error = Kind::parse("Ingress").unwrap_err();
        assert_eq!(
            error.to_string(),
            "unknown kind \"Ingress\"; supported kinds: Namespace, Node, Pod, ReplicaSet, Deployment, \
             ConfigMap, Secret, Lease, RuntimeClass, Service, EndpointSlice, NetworkPolicy, \
             PriorityClass, PodDisruptionBudget, Job, CronJob, DaemonSet, StatefulSet"
        );
        assert!(Kind::parse("").is_err());
    }

    #[test]
    fn metadata_per_kind() {
        assert_eq!(Kind::Pod.plural(), "pods");
        assert_eq!(Kind::Pod.api_version(), "v1");
        assert_eq!(Kind::Deployment.api_version(), "apps/v1");
        assert_eq!(Kind::ReplicaSet.api_version(), "apps/v1");
        assert!(Kind::Pod.namespaced());
        assert!(!Kind::Node.namespaced());
        assert!(!Kind::Namespace.namespaced());
        assert!(!Kind::RuntimeClass.namespaced());
        assert_eq!(Kind::RuntimeClass.api_version(), "node.k8s.io/v1");
        assert_eq!(Kind::RuntimeClass.plural(), "runtimeclasses");
        assert!(Kind::Service.namespaced() && Kind::EndpointSlice.namespaced());
        assert_eq!(Kind::Service.api_version(), "v1");
        assert_eq!(Kind::EndpointSlice.api_version(), "discovery.k8s.io/v1");
        assert_eq!(Kind::EndpointSlice.plural(), "endpointslices");
        assert!(Kind::NetworkPolicy.namespaced());
        assert_eq!(Kind::NetworkPolicy.api_version(), "networking.k8s.io/v1");
        assert_eq!(Kind::Deployment.to_string(), "Deployment");
        assert!(Kind::PodDisruptionBudget.namespaced());
        assert_eq!(Kind::PodDisruptionBudget.api_version(), "policy/v1");
        assert!(Kind::Job.namespaced());
        assert_eq!(Kind::Job.api_version(), "batch/v1");
    }
}
