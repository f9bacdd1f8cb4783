//! Authorization: what a caller, identified by its certificate, may do.
//!
//! - `admin` and `control-plane` may do everything.
//! - `viewer` may read everything except Secrets (as Kubernetes' `view` role).
//! - `node` (certificate name `node:NAME`) may read Nodes and write only its own, keep its
//!   own Lease, see and update the pods bound to it, get only the ConfigMaps and Secrets
//!   those pods reference, read RuntimeClasses (to learn a pod's handler), Services and
//!   EndpointSlices (for its proxy and DNS server) and NetworkPolicies (to enforce them), and
//!   renew its own certificate — so a stolen node certificate exposes that node's workloads
//!   and nothing else (a policy's status lists the addresses its peers resolve to, no more).
//! - Anyone, even without a certificate, may ask to join: the bootstrap token is checked by
//!   the join itself. A caller without a certificate may do nothing else.
//!
//! The decision is a pure function of the caller, the request's [`Scope`] and the [`Facts`]
//! the handler looked up for it (see [`lookup`]).

use std::fmt;

use serde::Deserialize;

use flotilla_kernel::api::{ApiError, ErrorCode, RawObject, Request};
use flotilla_kernel::object::{Kind, NODE_LEASE_NAMESPACE, PodReferences};
use flotilla_transport::Identity;

/// What a request touches, as far as authorization cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    pub verb: &'static str,
    /// `None` for operators' certificates, which are no kind of object.
    pub kind: Option<Kind>,
    /// `None` for cluster-scoped kinds and requests across all namespaces.
    pub namespace: Option<String>,
    /// `None` for requests on a whole collection (list, watch).
    pub name: Option<String>,
    /// A list or watch restricted to the pods bound to this node.
    pub on_node: Option<String>,
}

/// What the authorizer must know about stored state to decide a node's request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// The node the named pod is bound to.
    PodBinding { namespace: String, name: String },
    /// Every pod bound to the node, for the ConfigMaps and Secrets they reference.
    PodsOnNode { node: String },
}

/// The answers to a [`Lookup`].
#[derive(Debug, Clone, Default)]
pub struct Facts {
    /// The node of the pod a request names; `None` when it does not exist or is unbound.
    pub pod_node: Option<String>,
    pub node_pods: Vec<NodePod>,
}

/// What one pod bound to a node references, in its namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodePod {
    pub namespace: String,
    pub references: PodReferences,
}

/// The part of an object body that says what it is.
#[derive(Deserialize)]
struct Head {
    #[serde(default)]
    kind: String,
    #[serde(default)]
    metadata: HeadMeta,
}

#[derive(Deserialize, Default)]
struct HeadMeta {
    #[serde(default)]
    name: String,
    #[serde(default)]
    namespace: String,
}

impl Scope {
    /// The scope of `request`; object bodies are read only as far as kind and name.
    pub fn of(request: &Request) -> Result<Scope, ApiError> {
        let verb = request.verb();
        let scope = match request {
            Request::Get {
                kind,
                namespace,
                name,
            }
            | Request::Delete {
                kind,
                namespace,
                name,
                ..
            } => Scope::one(verb, *kind, namespace, name),
            Request::List {
                kind,
                namespace,
                node_name,
                ..
            }
            | Request::Watch {
                kind,
                namespace,
                node_name,
                ..
            } => Scope {
                verb,
                kind: Some(*kind),
                namespace: namespace.clone().filter(|_| kind.namespaced()),
                name: None,
                on_node: node_name.clone(),
            },
            Request::Create { object }
            | Request::Apply { object }
            | Request::Update { object }
            | Request::UpdateStatus { object } => {
                let head = head(object)?;
                let kind = Kind::parse(&head.kind)
                    .map_err(|e| ApiError::new(ErrorCode::BadRequest, e.to_string()))?;
                Scope::one(verb, kind, &head.metadata.namespace, &head.metadata.name)
            }
            Request::Bind {
                namespace, name, ..
            }
            | Request::Logs {
                namespace,
                pod: name,
                ..
            }
            | Request::Exec {
                namespace,
                pod: name,
                ..
            }
            | Request::ExecAttached {
                namespace,
                pod: name,
                ..
            }
            | Request::Evict {
                namespace, name, ..
            } => Scope::one(verb, Kind::Pod, namespace, name),
            Request::Input(_) => {
                return Err(ApiError::new(
                    ErrorCode::BadRequest,
                    "input belongs on the call of an attached exec or an image import",
                ));
            }
            Request::Join { node_name, .. }
            | Request::RevokeNode { node_name }
            | Request::ImportImages {
                node: node_name, ..
            } => Scope::one(verb, Kind::Node, "", node_name),
            Request::Store { .. } => {
                return Err(ApiError::new(
                    ErrorCode::Unavailable,
                    "this API server does not serve the raw store",
                ));
            }
            Request::IssueUser { name, .. } | Request::RevokeUser { name } => Scope {
                verb,
                kind: None,
                namespace: None,
                name: Some(name.clone()),
                on_node: None,
            },
            Request::ListUsers => Scope {
                verb,
                kind: None,
                namespace: None,
                name: None,
                on_node: None,
            },
            Request::Top {
                kind,
                namespace,
                name,
            } => Scope {
                verb,
                kind: Some(*kind),
                namespace: namespace.clone().filter(|_| kind.namespaced()),
                name: name.clone(),
                on_node: None,
            },
            Request::RenewCertificate { .. } | Request::AgentLink => Scope {
                verb,
                kind: Some(Kind::Node),
                namespace: None,
                name: None,
                on_node: None,
            },
        };
        Ok(scope)
    }

    fn one(verb: &'static str, kind: Kind, namespace: &str, name: &str) -> Scope {
        Scope {
            verb,
            kind: Some(kind),
            namespace: Some(namespace.to_string()).filter(|_| kind.namespaced()),
            name: Some(name.to_string()),
            on_node: None,
        }
    }

    fn reads(&self) -> bool {
        matches!(
            self.verb,
            "get" | "list" | "watch" | "read logs of" | "read usage of"
        )
    }
}

fn head(object: &RawObject) -> Result<Head, ApiError> {
    serde_json::from_slice(&object.0)
        .map_err(|e| ApiError::new(ErrorCode::BadRequest, format!("decoding object: {e}")))
}

/// The stored state `caller`'s request needs looked up before [`authorize`] can decide.
pub fn lookup(caller: &Identity, scope: &Scope) -> Option<Lookup> {
    let node = node_name(caller)?;
    match (scope.kind?, &scope.namespace, &scope.name) {
        (Kind::Pod, Some(namespace), Some(name)) => Some(Lookup::PodBinding {
            namespace: namespace.clone(),
            name: name.clone(),
        }),
        (Kind::ConfigMap | Kind::Secret, _, Some(_)) if scope.verb == "get" => {
            Some(Lookup::PodsOnNode {
                node: node.to_string(),
            })
        }
        _ => None,
    }
}

/// Allows or denies; a denial names the identity, the action and why.
pub fn authorize(caller: &Identity, scope: &Scope, facts: &Facts) -> Result<(), ApiError> {
    let verdict = match caller.role.as_str() {
        // Joining needs no certificate (the token is the credential) and gives nothing else.
        _ if scope.verb == "join as" => Ok(()),
        _ if caller.is_anonymous() => Err("a caller without a certificate may only join".into()),
        "admin" | "control-plane" => Ok(()),
        "viewer" if scope.kind.is_none() => {
            Err("only admins manage operators' certificates".into())
        }
        "viewer" if scope.kind == Some(Kind::Secret) => {
            Err("viewers may not read secrets".to_string())
        }
        "viewer" if scope.reads() => Ok(()),
        "viewer" => Err("viewers may only read".to_string()),
        "node" => match node_name(caller) {
            Some(node) => node_may(node, scope, facts),
            None => Err("a node identity must be named node:NAME".to_string()),
        },
        role => Err(format!("role {role:?} has no permissions")),
    };
    verdict.map_err(|why| {
        ApiError::new(
            ErrorCode::Forbidden,
            format!(
                "{} (role {}) may not {} {}: {why}",
                caller.name,
                caller.role,
                scope.verb,
                Target(scope)
            ),
        )
    })
}

/// The node a `node:NAME` identity with the role `node` is.
pub(super) fn node_name(caller: &Identity) -> Option<&str> {
    (caller.role == "node")
        .then(|| caller.name.strip_prefix("node:"))
        .flatten()
        .filter(|name| !name.is_empty())
}

fn node_may(node: &str, scope: &Scope, facts: &Facts) -> Result<(), String> {
    let named = scope.name.as_deref();
    let Some(kind) = scope.kind else {
        return Err("only admins manage operators' certificates".into());
    };
    let allowed = match kind {
        Kind::Node => match scope.verb {
            "get" | "list" | "watch" | "renew the certificate of" => true,
            "create" | "update" | "update status of" => named == Some(node),
            _ => false,
        },
        Kind::Lease => {
            matches!(scope.verb, "get" | "create" | "update")
                && scope.namespace.as_deref() == Some(NODE_LEASE_NAMESPACE)
                && named == Some(node)
        }
        Kind::Pod => match scope.verb {
            "list" | "watch" => scope.on_node.as_deref() == Some(node),
            "get" | "update status of" | "delete" => facts.pod_node.as_deref() == Some(node),
            _ => false,
        },
        Kind::ConfigMap | Kind::Secret => scope.verb == "get" && referenced(scope, facts),
        // Cluster-wide configuration, nothing confidential: as Kubernetes' node authorizer.
        Kind::RuntimeClass => matches!(scope.verb, "get" | "list" | "watch"),
        // The node's proxy and DNS server serve every Service, as kube-proxy reads them all.
        Kind::Service | Kind::EndpointSlice => matches!(scope.verb, "get" | "list" | "watch"),
        // The node enforces every policy selecting its pods; their peers come resolved to
        // addresses in the status, so it needs no other node's pods or the Namespaces.
        Kind::NetworkPolicy => matches!(scope.verb, "get" | "list" | "watch"),
        Kind::Namespace | Kind::ReplicaSet | Kind::Deployment | Kind::PriorityClass => false,
        Kind::PodDisruptionBudget | Kind::Job | Kind::CronJob => false,
        Kind::DaemonSet | Kind::StatefulSet => false,
    };
    if allowed {
        Ok(())
    } else {
        Err(format!(
            "nodes may only touch their own Node and Lease, the pods bound to them and what \
             those pods reference, and this is not node {node:?}'s"
        ))
    }
}

/// Whether a pod bound to the node names this ConfigMap or Secret in its own namespace.
fn referenced(scope: &Scope, facts: &Facts) -> bool {
    let (Some(namespace), Some(name)) = (&scope.namespace, &scope.name) else {
        return false;
    };
    facts
        .node_pods
        .iter()
        .filter(|pod| &pod.namespace == namespace)
        .any(|pod| match scope.kind {
            Some(Kind::ConfigMap) => pod.references.config_maps.contains(name),
            _ => pod.references.secrets.contains(name),
        })
}

/// `pods "web" in namespace "default"`, `nodes`, ...
struct Target<'a>(&'a Scope);

impl fmt::Display for Target<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scope = self.0;
        f.write_str(scope.kind.map_or("users", Kind::plural))?;
        if let Some(name) = &scope.name {
            write!(f, " {name:?}")?;
        }
        if let Some(namespace) = &scope.namespace {
            write!(f, " in namespace {namespace:?}")?;
        }
        if let Some(node) = &scope.on_node {
            write!(f, " on node {node:?}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
