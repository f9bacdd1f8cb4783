//! Read-only views of the Kubernetes-shaped JSON that `flotilla get -o json` prints.
//!
//! The tests read only a handful of fields, so they navigate `serde_json::Value` by path instead
//! of depending on flotilla's own types: the tests then check the CLI's output contract as a
//! user's script would see it, and missing fields read as "not there yet" rather than failing.

use std::fmt;

use anyhow::{Result, bail};
use serde_json::Value;

/// Prefix of `status.containerStatuses[].containerID` for flotilla's native runtime.
const CONTAINER_ID_SCHEME: &str = "flotilla://";

/// The id of a running container, which is also its cgroup's directory name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ContainerId(String);

impl ContainerId {
    /// Wraps a bare id (without the `flotilla://` scheme).
    pub fn new(id: impl Into<String>) -> Self {
        Self(id.into())
    }

    /// The bare id.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ContainerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The items of a `{"kind":"List","items":[...]}`.
pub fn items(list: &Value) -> Result<&[Value]> {
    match list
        .get("items")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
    {
        Some(items) => Ok(items),
        None => bail!("expected a List with items, got: {list}"),
    }
}

/// `metadata.name`, or "" when absent.
pub fn name(object: &Value) -> &str {
    str_at(object, "/metadata/name")
}

/// `metadata.uid`, or "" when absent.
pub fn uid(object: &Value) -> &str {
    str_at(object, "/metadata/uid")
}

/// The value of label `key`, if set.
pub fn label<'a>(object: &'a Value, key: &str) -> Option<&'a str> {
    object
        .pointer("/metadata/labels")
        .and_then(|labels| labels.get(key))
        .and_then(Value::as_str)
}

/// Whether deletion has begun (`metadata.deletionTimestamp` is set).
pub fn is_terminating(object: &Value) -> bool {
    object
        .pointer("/metadata/deletionTimestamp")
        .is_some_and(|stamp| !stamp.is_null())
}

/// `status.phase` of a pod, or "" when absent.
pub fn phase(pod: &Value) -> &str {
    str_at(pod, "/status/phase")
}

/// Whether a pod is Running and not being deleted.
pub fn is_running(pod: &Value) -> bool {
    phase(pod) == "Running" && !is_terminating(pod)
}

/// The ids of the pod's containers that have one (`flotilla://` stripped).
pub fn container_ids(pod: &Value) -> Vec<ContainerId> {
    container_statuses(pod)
        .filter_map(|status| status.get("containerID").and_then(Value::as_str))
        .filter(|id| !id.is_empty())
        .map(|id| ContainerId::new(id.strip_prefix(CONTAINER_ID_SCHEME).unwrap_or(id)))
        .collect()
}

/// The sum of the pod's containers' `restartCount`.
pub fn restart_count(pod: &Value) -> u64 {
    container_statuses(pod)
        .filter_map(|status| status.get("restartCount").and_then(Value::as_u64))
        .sum()
}

/// The `state.waiting.reason` of each waiting container (e.g. `CrashLoopBackOff`).
pub fn waiting_reasons(pod: &Value) -> Vec<&str> {
    container_statuses(pod)
        .filter_map(|status| status.pointer("/state/waiting/reason"))
        .filter_map(Value::as_str)
        .collect()
}

/// `spec.replicas` of a Deployment or ReplicaSet, if set.
pub fn spec_replicas(object: &Value) -> Option<u64> {
    object.pointer("/spec/replicas").and_then(Value::as_u64)
}

/// Whether `object` has an owner reference to the `kind` called `name`.
pub fn is_owned_by(object: &Value, kind: &str, name: &str) -> bool {
    object
        .pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .is_some_and(|owners| {
            owners.iter().any(|owner| {
                owner.get("kind").and_then(Value::as_str) == Some(kind)
                    && owner.get("name").and_then(Value::as_str) == Some(name)
            })
        })
}

/// Whether a node has condition Ready with status "True".
pub fn node_is_ready(node: &Value) -> bool {
    node.pointer("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|conditions| {
            conditions.iter().any(|condition| {
                condition.get("type").and_then(Value::as_str) == Some("Ready")
                    && condition.get("status").and_then(Value::as_str) == Some("True")
            })
        })
}

fn container_statuses(pod: &Value) -> impl Iterator<Item = &Value> {
    pod.pointer("/status/containerStatuses")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
}

fn str_at<'a>(object: &'a Value, pointer: &str) -> &'a str {
    object
        .pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod() -> Value {
        json!({
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": "web-7d4b9-x2x4q",
                "uid": "0b7e",
                "labels": {"app": "web", "pod-template-hash": "7d4b9"},
                "ownerReferences": [{"kind": "ReplicaSet", "name": "web-7d4b9", "uid": "1"}]
            },
            "status": {
                "phase": "Running",
                "containerStatuses": [
                    {"name": "main", "containerID": "flotilla://c0ffee", "restartCount": 2,
                     "state": {"running": {"startedAt": "2025-01-01T00:00:00Z"}}},
                    {"name": "side", "restartCount": 1,
                     "state": {"waiting": {"reason": "CrashLoopBackOff"}}}
                ]
            }
        })
    }

    #[test]
    fn reads_pod_fields() {
        let pod = pod();
        assert_eq!(name(&pod), "web-7d4b9-x2x4q");
        assert_eq!(uid(&pod), "0b7e");
        assert_eq!(label(&pod, "pod-template-hash"), Some("7d4b9"));
        assert_eq!(label(&pod, "tier"), None);
        assert!(is_running(&pod));
        assert_eq!(container_ids(&pod), vec![ContainerId::new("c0ffee")]);
        assert_eq!(restart_count(&pod), 3);
        assert_eq!(waiting_reasons(&pod), vec!["CrashLoopBackOff"]);
        assert!(is_owned_by(&pod, "ReplicaSet", "web-7d4b9"));
        assert!(!is_owned_by(&pod, "Deployment", "web-7d4b9"));
    }

    #[test]
    fn terminating_pods_are_not_counted_as_running() {
        let mut pod = pod();
        pod["metadata"]["deletionTimestamp"] = json!("2025-01-01T00:00:05Z");
        assert!(is_terminating(&pod));
        assert!(!is_running(&pod));
    }

    #[test]
    fn absent_fields_read_as_not_there_yet() {
        let bare = json!({"kind": "Pod"});
        assert_eq!(name(&bare), "");
        assert_eq!(phase(&bare), "");
        assert!(container_ids(&bare).is_empty());
        assert_eq!(restart_count(&bare), 0);
        assert!(!is_terminating(&bare));
    }

    #[test]
    fn reads_replicas_of_a_replica_set() {
        let rs = json!({"kind": "ReplicaSet", "spec": {"replicas": 0}});
        assert_eq!(spec_replicas(&rs), Some(0));
        assert_eq!(spec_replicas(&json!({"kind": "ReplicaSet"})), None);
    }

    #[test]
    fn lists_and_nodes() {
        let list = json!({"apiVersion": "v1", "kind": "List", "items": [
            {"metadata": {"name": "n1"}, "status": {"conditions": [
                {"type": "MemoryPressure", "status": "False"},
                {"type": "Ready", "status": "True"}]}},
            {"metadata": {"name": "n2"}, "status": {"conditions": [
                {"type": "Ready", "status": "False"}]}}
        ]});
        let nodes = items(&list).unwrap();
        assert_eq!(nodes.len(), 2);
        assert!(node_is_ready(&nodes[0]));
        assert!(!node_is_ready(&nodes[1]));
        assert!(items(&json!({"kind": "Pod"})).is_err());
    }
}
