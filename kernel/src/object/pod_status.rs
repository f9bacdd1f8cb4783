//! `PodStatus`: what the node agent observed about a pod — its phase, conditions and the
//! state of each container.

use serde::{Deserialize, Serialize};

use super::condition::ConditionStatus;
use super::time::Time;

/// The observed state of a pod.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodStatus {
    #[serde(default)]
    pub phase: PodPhase,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<PodCondition>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reason: String,
    #[serde(default, rename = "hostIP", skip_serializing_if = "String::is_empty")]
    pub host_ip: String,
    /// The node's addresses, as `hostIPs` lists them.
    #[serde(default, rename = "hostIPs", skip_serializing_if = "Vec::is_empty")]
    pub host_ips: Vec<PodIp>,
    /// The pod's first address, from its network (the node's for `hostNetwork` pods).
    #[serde(default, rename = "podIP", skip_serializing_if = "String::is_empty")]
    pub pod_ip: String,
    /// Every address of the pod, IPv4 first.
    #[serde(default, rename = "podIPs", skip_serializing_if = "Vec::is_empty")]
    pub pod_ips: Vec<PodIp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<Time>,
    /// The node the scheduler made room on by preempting lower-priority pods, while the pod
    /// waits for them to go.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub nominated_node_name: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub init_container_statuses: Vec<ContainerStatus>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub container_statuses: Vec<ContainerStatus>,
}

/// One address of a pod or its node (`{"ip": "10.42.1.7"}`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct PodIp {
    #[serde(default)]
    pub ip: String,
}

/// Where a pod is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum PodPhase {
    /// Accepted, but not all containers have started (includes waiting for a node).
    #[default]
    Pending,
    /// Bound to a node, and at least one container is running or restarting.
    Running,
    /// All containers exited successfully and will not be restarted.
    Succeeded,
    /// All containers exited, at least one in failure, and none will be restarted.
    Failed,
    /// The node agent cannot be reached.
    Unknown,
}

/// One aspect of a pod's state (`PodScheduled`, `Ready`, ...).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodCondition {
    #[serde(default, rename = "type")]
    pub type_: String,
    #[serde(default)]
    pub status: ConditionStatus,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reason: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<Time>,
}

impl PodCondition {
    /// The scheduler bound the pod to a node (or says why it could not).
    pub const SCHEDULED: &str = "PodScheduled";
    /// The pod's sandbox and volumes are set up.
    pub const INITIALIZED: &str = "Initialized";
    /// Every container is ready.
    pub const CONTAINERS_READY: &str = "ContainersReady";
    /// The pod can serve; it counts as available to its controller.
    pub const READY: &str = "Ready";
}

/// The observed state of one container.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerStatus {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub state: ContainerState,
    /// The state of the previous run, kept across a restart.
    #[serde(default, skip_serializing_if = "ContainerState::is_empty")]
    pub last_state: ContainerState,
    #[serde(default)]
    pub ready: bool,
    /// Whether the startup probe has passed (true without one); set while it runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started: Option<bool>,
    #[serde(default)]
    pub restart_count: i32,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub image: String,
    #[serde(
        default,
        rename = "containerID",
        skip_serializing_if = "String::is_empty"
    )]
    pub container_id: String,
}

/// At most one of the three is set.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerState {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waiting: Option<ContainerStateWaiting>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub running: Option<ContainerStateRunning>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub terminated: Option<ContainerStateTerminated>,
}

/// Not yet running: pulling, backing off before a restart, ...
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerStateWaiting {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reason: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
}

/// Running since `started_at`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerStateRunning {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<Time>,
}

/// Exited with `exit_code`, or was killed by `signal`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerStateTerminated {
    #[serde(default)]
    pub exit_code: i32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal: Option<i32>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reason: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<Time>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<Time>,
}

impl ContainerState {
    /// Whether no state is recorded.
    pub fn is_empty(&self) -> bool {
        self.waiting.is_none() && self.running.is_none() && self.terminated.is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubernetes_spells_ip_and_id_fields_in_capitals() {
        let status = PodStatus {
            host_ip: "10.0.0.1".into(),
            pod_ip: "10.1.0.5".into(),
            container_statuses: vec![ContainerStatus {
                name: "web".into(),
                container_id: "flotilla://abc".into(),
                ..ContainerStatus::default()
            }],
            ..PodStatus::default()
        };
        let json = serde_json::to_string(&status).unwrap();
        assert!(json.contains(r#""hostIP":"10.0.0.1""#), "{json}");
        assert!(json.contains(r#""podIP":"10.1.0.5""#), "{json}");
        assert!(json.contains(r#""containerID":"flotilla://abc""#), "{json}");
        assert!(json.contains(r#""restartCount":0"#), "{json}");
        assert_eq!(serde_json::from_str::<PodStatus>(&json).unwrap(), status);
    }

    #[test]
    fn phase_defaults_to_pending() {
        let status: PodStatus = serde_json::from_str("{}").unwrap();
        assert_eq!(status.phase, PodPhase::Pending);
    }

    #[test]
    fn container_state_round_trips() {
        let state = ContainerState {
            terminated: Some(ContainerStateTerminated {
                exit_code: 137,
                signal: Some(9),
                reason: "OOMKilled".into(),
                ..ContainerStateTerminated::default()
            }),
            ..ContainerState::default()
        };
        assert!(!state.is_empty());
        let json = serde_json::to_string(&state).unwrap();
        assert_eq!(
            json,
            r#"{"terminated":{"exitCode":137,"signal":9,"reason":"OOMKilled"}}"#
        );
        assert_eq!(
            serde_json::from_str::<ContainerState>(&json).unwrap(),
            state
        );
    }
}
