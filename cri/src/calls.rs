//! The gRPC calls the runtime and its poller share, each bounded in time, with failures named
//! for the container or sandbox they were about.

use std::collections::HashMap;
use std::future::Future;
use std::time::Duration;

use tonic::{Code, Status};

use flotilla_node_os::{ContainerState, RuntimeError};

use crate::client::CriClient;
use crate::config::managed;
use crate::proto::{
    ContainerFilter, ContainerStatusRequest, ListContainersRequest, RemoveContainerRequest,
};
use crate::watch;

/// How long one call may take (the kubelet's default `--runtime-request-timeout`).
pub(crate) const CALL_TIMEOUT: Duration = Duration::from_secs(120);

/// One call's answer, or its status; running out of time is `DeadlineExceeded`.
pub(crate) async fn answer<T>(
    limit: Duration,
    work: impl Future<Output = Result<tonic::Response<T>, Status>>,
) -> Result<T, Status> {
    match tokio::time::timeout(limit, work).await {
        Ok(answered) => answered.map(tonic::Response::into_inner),
        Err(_) => Err(Status::deadline_exceeded(
            "the runtime did not answer in time",
        )),
    }
}

/// One call's answer, or its failure as the runtime error about `id`.
pub(crate) async fn grpc<T>(
    id: String,
    call: &'static str,
    limit: Duration,
    work: impl Future<Output = Result<tonic::Response<T>, Status>>,
) -> Result<T, RuntimeError> {
    answer(limit, work)
        .await
        .map_err(|status| cri_error(&id, call, status.message()))
}

/// A removal (or stop), for which the runtime not knowing the thing any more means done.
pub(crate) async fn removal<T>(
    id: String,
    call: &'static str,
    work: impl Future<Output = Result<tonic::Response<T>, Status>>,
) -> Result<(), RuntimeError> {
    match answer(CALL_TIMEOUT, work).await {
        Ok(_) => Ok(()),
        Err(status) if status.code() == Code::NotFound => Ok(()),
        Err(status) => Err(cri_error(&id, call, status.message())),
    }
}

/// Removes the container `cri_id` (the agent's `id`).
pub(crate) fn remove_container(
    client: &CriClient,
    id: &str,
    cri_id: String,
) -> impl Future<Output = Result<(), RuntimeError>> + Send + 'static {
    let mut runtime = client.runtime.clone();
    let id = id.to_string();
    async move {
        let request = RemoveContainerRequest {
            container_id: cri_id,
        };
        removal(id, "RemoveContainer", runtime.remove_container(request)).await
    }
}

/// Lists the containers the agent made.
pub(crate) fn managed_containers() -> ListContainersRequest {
    ListContainersRequest {
        filter: Some(ContainerFilter {
            label_selector: managed(),
            ..ContainerFilter::default()
        }),
    }
}

/// The state of the container `cri_id` and its main pid (0 when the runtime does not say).
pub(crate) async fn container_state(
    client: &CriClient,
    cri_id: String,
) -> Result<(ContainerState, u32), Status> {
    let mut runtime = client.runtime.clone();
    let request = ContainerStatusRequest {
        container_id: cri_id,
        verbose: true,
    };
    let answer = answer(CALL_TIMEOUT, runtime.container_status(request)).await?;
    let pid = info_pid(&answer.info).unwrap_or(0);
    let mut state = answer
        .status
        .as_ref()
        .map(watch::state_of)
        .ok_or_else(|| Status::internal("no status in the answer"))?;
    if let ContainerState::Running { pid: known, .. } = &mut state {
        *known = pid;
    }
    Ok((state, pid))
}

pub(crate) fn cri_error(id: &str, call: &'static str, message: &str) -> RuntimeError {
    RuntimeError::Cri {
        id: id.to_string(),
        call,
        message: message.to_string(),
    }
}

/// The pid in a verbose status's `info`: containerd's JSON has it as `pid`.
pub(crate) fn info_pid(info: &HashMap<String, String>) -> Option<u32> {
    let json: serde_json::Value = serde_json::from_str(info.get("info")?).ok()?;
    json.get("pid")?
        .as_u64()
        .and_then(|pid| u32::try_from(pid).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pid_comes_from_verbose_info() {
        let info = HashMap::from([(
            "info".to_string(),
            r#"{"sandboxID":"abc","pid":4242,"runtimeSpec":{}}"#.to_string(),
        )]);
        assert_eq!(info_pid(&info), Some(4242));
        assert_eq!(info_pid(&HashMap::new()), None);
        let broken = HashMap::from([("info".to_string(), "{".to_string())]);
        assert_eq!(info_pid(&broken), None);
    }

    #[tokio::test]
    async fn a_removal_of_what_is_gone_is_done() {
        let gone = async { Err::<tonic::Response<()>, _>(Status::not_found("no such container")) };
        assert!(
            removal("c".to_string(), "RemoveContainer", gone)
                .await
                .is_ok()
        );
        let refused = async { Err::<tonic::Response<()>, _>(Status::internal("disk full")) };
        let error = removal("c".to_string(), "RemoveContainer", refused)
            .await
            .unwrap_err();
        assert_eq!(error.to_string(), "c: RemoveContainer: disk full");
    }
}
