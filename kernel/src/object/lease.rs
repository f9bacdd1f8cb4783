//! `Lease`: a named, renewable claim. Each node agent keeps one (`<node>` in the
//! `flotilla-node-lease` namespace) and renews it as its heartbeat.

use serde::{Deserialize, Serialize};

use super::meta::ObjectMeta;
use super::time::Time;

/// The namespace that holds one heartbeat lease per node, named after the node.
pub const NODE_LEASE_NAMESPACE: &str = "flotilla-node-lease";

/// A claim held by `spec.holderIdentity` until `renewTime + leaseDurationSeconds`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Lease {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub api_version: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub kind: String,
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub spec: LeaseSpec,
}

impl Lease {
    /// The heartbeat lease of `node` as its agent first writes it at `now`, held for
    /// `duration_seconds`.
    pub fn for_node(node: &str, duration_seconds: i64, now: Time) -> Lease {
        Lease {
            metadata: ObjectMeta {
                name: node.to_string(),
                namespace: NODE_LEASE_NAMESPACE.to_string(),
                ..ObjectMeta::default()
            },
            spec: LeaseSpec {
                holder_identity: node.to_string(),
                lease_duration_seconds: Some(duration_seconds),
                acquire_time: Some(now),
                renew_time: Some(now),
            },
            ..Lease::default()
        }
    }
}

/// Who holds the lease and until when.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LeaseSpec {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub holder_identity: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease_duration_seconds: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acquire_time: Option<Time>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub renew_time: Option<Time>,
}
