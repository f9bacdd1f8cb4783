//! Probes and lifecycle hooks of a container: how the node agent checks that a container has
//! started, is alive and is ready for traffic (`Probe`), and what it runs right after a
//! container starts and before it is stopped (`Lifecycle`).
//!
//! Field names, meanings and defaults are Kubernetes'. Both kinds of check share the action
//! types (run a command, GET a URL, open a TCP connection); a probe may also make a gRPC
//! health check, a hook may also just sleep.

use serde::{Deserialize, Serialize};

use super::intstr::IntOrString;

/// A periodic check of a container. Exactly one of `exec`, `httpGet`, `tcpSocket` and `grpc`
/// is set. A zero count or period means Kubernetes' default, which defaulting fills in.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Probe {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exec: Option<ExecAction>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_get: Option<HttpGetAction>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tcp_socket: Option<TcpSocketAction>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grpc: Option<GrpcAction>,
    /// Seconds after the container started before the first check.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub initial_delay_seconds: i32,
    /// Seconds a check may take before it counts as failed.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub timeout_seconds: i32,
    /// Seconds between checks.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub period_seconds: i32,
    /// Consecutive successes after a failure for the probe to succeed again; must be 1 for
    /// liveness and startup probes.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub success_threshold: i32,
    /// Consecutive failures for the probe to fail.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub failure_threshold: i32,
    /// The grace period of a container a failed liveness or startup probe kills, instead of
    /// the pod's `terminationGracePeriodSeconds`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub termination_grace_period_seconds: Option<i64>,
}

/// Runs a command in the container; exit status 0 is success.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExecAction {
    /// The program and its arguments, run without a shell.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub command: Vec<String>,
}

/// An HTTP GET; a status from 200 to 399 is success. Kubernetes' `HTTPGetAction`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpGetAction {
    /// Defaults to `/`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub path: String,
    /// A number, or the name of one of the container's ports.
    #[serde(default)]
    pub port: IntOrString,
    /// Defaults to the pod's IP.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub host: String,
    /// `HTTP` (the default) or `HTTPS`, whose certificate is not verified.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub scheme: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub http_headers: Vec<HttpHeader>,
}

/// A header sent with an HTTP GET.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpHeader {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub value: String,
}

/// A TCP connection; success when it opens.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TcpSocketAction {
    /// A number, or the name of one of the container's ports.
    #[serde(default)]
    pub port: IntOrString,
    /// Defaults to the pod's IP.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub host: String,
}

/// A gRPC health check (`grpc.health.v1.Health/Check`) over cleartext HTTP/2; `SERVING` is
/// success.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GrpcAction {
    #[serde(default)]
    pub port: i32,
    /// The service name put in the request; empty asks about the server as a whole. Always
    /// written: Kubernetes defaults an absent one to `""`, so stored objects carry it.
    #[serde(default)]
    pub service: String,
}

/// Hooks the node agent runs when a container has started and before it is stopped.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Lifecycle {
    /// Runs right after the container is created; if it fails the container is restarted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub post_start: Option<LifecycleHandler>,
    /// Runs before the container is sent SIGTERM, within the grace period.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pre_stop: Option<LifecycleHandler>,
}

/// One hook: exactly one of `exec`, `httpGet`, `tcpSocket` (kept by Kubernetes only for
/// compatibility) and `sleep`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LifecycleHandler {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exec: Option<ExecAction>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_get: Option<HttpGetAction>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tcp_socket: Option<TcpSocketAction>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sleep: Option<SleepAction>,
}

/// Waits before the hook completes.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SleepAction {
    #[serde(default)]
    pub seconds: i64,
}

fn is_zero(value: &i32) -> bool {
    *value == 0
}

impl Probe {
    pub const DEFAULT_TIMEOUT_SECONDS: i32 = 1;
    pub const DEFAULT_PERIOD_SECONDS: i32 = 10;
    pub const DEFAULT_SUCCESS_THRESHOLD: i32 = 1;
    pub const DEFAULT_FAILURE_THRESHOLD: i32 = 3;
}

impl HttpGetAction {
    pub const SCHEME_HTTP: &str = "HTTP";
    pub const SCHEME_HTTPS: &str = "HTTPS";
    pub const SCHEMES: [&str; 2] = [Self::SCHEME_HTTP, Self::SCHEME_HTTPS];
    pub const DEFAULT_PATH: &str = "/";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_names_are_kubernetes_and_empty_fields_are_omitted() {
        let probe = Probe {
            http_get: Some(HttpGetAction {
                port: IntOrString::String("http".into()),
                http_headers: vec![HttpHeader {
                    name: "X-Probe".into(),
                    value: "1".into(),
                }],
                ..HttpGetAction::default()
            }),
            initial_delay_seconds: 5,
            termination_grace_period_seconds: Some(3),
            ..Probe::default()
        };
        assert_eq!(
            serde_json::to_string(&probe).unwrap(),
            r#"{"httpGet":{"port":"http","httpHeaders":[{"name":"X-Probe","value":"1"}]},"initialDelaySeconds":5,"terminationGracePeriodSeconds":3}"#
        );
        let hook = Lifecycle {
            pre_stop: Some(LifecycleHandler {
                sleep: Some(SleepAction { seconds: 0 }),
                ..LifecycleHandler::default()
            }),
            ..Lifecycle::default()
        };
        assert_eq!(
            serde_json::to_string(&hook).unwrap(),
            r#"{"preStop":{"sleep":{"seconds":0}}}"#
        );
    }

    #[test]
    fn a_grpc_action_reads_without_a_service_and_writes_it_as_kubernetes_stores_it() {
        let probe: Probe = serde_json::from_str(r#"{"grpc":{"port":2379}}"#).unwrap();
        assert_eq!(
            probe.grpc,
            Some(GrpcAction {
                port: 2379,
                service: String::new(),
            })
        );
        assert_eq!(
            serde_json::to_string(&probe).unwrap(),
            r#"{"grpc":{"port":2379,"service":""}}"#
        );
    }
}
