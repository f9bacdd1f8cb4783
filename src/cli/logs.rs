//! `flotilla logs`: a container's log, streamed to standard output as the node agent sends it
//! (and, with `-f`, for as long as it keeps writing). The container may be left out when the
//! pod has only one; otherwise the error lists the pod's containers to choose from.

use std::process::ExitCode;

use flotilla_kernel::api::{ApiClient, ClientError, Request, Response};
use flotilla_kernel::object::{Kind, Pod};

use super::{lookup, namespace, resource_arg, terminal};

#[derive(Debug, clap::Args)]
pub struct LogsArgs {
    /// The pod: NAME or pod/NAME.
    #[arg(value_name = "POD")]
    pod: String,
    /// The container (default: the pod's only container).
    #[arg(short, long)]
    container: Option<String>,
    /// Keep streaming as the container writes.
    #[arg(short, long)]
    follow: bool,
    /// Only the last N lines; negative: all of them.
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    tail: Option<i64>,
    /// The pod's namespace (default: "default").
    #[arg(short, long)]
    namespace: Option<String>,
}

/// The pod or container named has no log to show.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LogsError {
    #[error("logs are kept for pods only; {kind} \"{name}\" is not a pod")]
    NotAPod { kind: String, name: String },
    #[error("pod \"{pod}\" has no containers")]
    NoContainers { pod: String },
    #[error("a container name must be specified for pod {pod}, choose one of: [{}]", choices.join(" "))]
    ContainerNeeded { pod: String, choices: Vec<String> },
    #[error("container {container} is not valid for pod {pod}, choose one of: [{}]", choices.join(" "))]
    NoSuchContainer {
        pod: String,
        container: String,
        choices: Vec<String>,
    },
}

/// A container of a pod, as `logs` and `exec` name it.
pub(super) struct Target {
    pub(super) namespace: String,
    pub(super) pod: String,
    pub(super) container: String,
}

impl Target {
    /// The pod `pod` (NAME or pod/NAME) in `namespace` (else the chosen one), and its
    /// container `container` (else its only one), which the pod must have.
    pub(super) async fn find(
        api: &ApiClient,
        pod: &str,
        namespace: Option<&str>,
        container: Option<&str>,
    ) -> anyhow::Result<Target> {
        let name = pod_name(pod)?;
        let namespace = namespace::chosen(namespace).to_string();
        let found: Pod = api
            .get(&namespace, &name)
            .await
            .map_err(|error| lookup::worded(error, Kind::Pod, &name))?;
        Ok(Target {
            container: choose_container(&found, container)?,
            namespace,
            pod: name,
        })
    }
}

pub async fn run(args: LogsArgs, api: &ApiClient) -> anyhow::Result<ExitCode> {
    let target = Target::find(
        api,
        &args.pod,
        args.namespace.as_deref(),
        args.container.as_deref(),
    )
    .await?;
    let request = Request::Logs {
        namespace: target.namespace,
        pod: target.pod,
        container: Some(target.container),
        follow: args.follow,
        tail_lines: args.tail.and_then(|lines| u64::try_from(lines).ok()),
    };
    let mut responses = api.stream(request).await?;
    while let Some(response) = responses.recv().await {
        match response? {
            Response::Log(bytes) => terminal::print_bytes(&bytes)?,
            Response::Error(error) => return Err(ClientError::Api(error).into()),
            other => {
                let got = other.kind_name();
                return Err(ClientError::Unexpected { call: "logs", got }.into());
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The pod's name from `NAME` or `pod/NAME`.
fn pod_name(arg: &str) -> anyhow::Result<String> {
    if !arg.contains('/') {
        return Ok(arg.to_string());
    }
    match resource_arg::parse_kind_name(arg)? {
        (Kind::Pod, name) => Ok(name),
        (kind, name) => Err(LogsError::NotAPod {
            kind: resource_arg::resource_name(kind),
            name,
        }
        .into()),
    }
}

/// Whether the pod has a container or init container called `name`.
fn pod_spec_has(spec: &flotilla_kernel::object::PodSpec, name: &str) -> bool {
    spec.all_containers().any(|c| c.name == name)
}

/// The container asked for, which must be the pod's (an init container's name will do), or
/// the pod's only container.
fn choose_container(pod: &Pod, requested: Option<&str>) -> Result<String, LogsError> {
    let pod_spec = &pod.spec;
    let choices: Vec<String> = pod
        .spec
        .containers
        .iter()
        .map(|container| container.name.clone())
        .collect();
    let pod = pod.metadata.name.clone();
    match (requested, choices.as_slice()) {
        (Some(container), _) if pod_spec_has(pod_spec, container) => Ok(container.to_string()),
        (Some(container), _) => Err(LogsError::NoSuchContainer {
            pod,
            container: container.to_string(),
            choices,
        }),
        (None, [only]) => Ok(only.clone()),
        (None, []) => Err(LogsError::NoContainers { pod }),
        (None, _) => Err(LogsError::ContainerNeeded { pod, choices }),
    }
}

#[cfg(test)]
mod tests {
    use flotilla_kernel::object::Container;

    use super::*;

    fn pod(containers: &[&str]) -> Pod {
        let mut pod = Pod::default();
        pod.metadata.name = "web-1".to_string();
        pod.spec.containers = containers
            .iter()
            .map(|name| Container {
                name: name.to_string(),
                ..Container::default()
            })
            .collect();
        pod
    }

    #[test]
    fn the_only_container_is_the_default() {
        assert_eq!(
            choose_container(&pod(&["web"]), None),
            Ok("web".to_string())
        );
    }

    #[test]
    fn several_containers_need_a_choice() {
        let error = choose_container(&pod(&["web", "sidecar"]), None).unwrap_err();
        assert_eq!(
            error.to_string(),
            "a container name must be specified for pod web-1, choose one of: [web sidecar]"
        );
        assert_eq!(
            choose_container(&pod(&["web", "sidecar"]), Some("sidecar")),
            Ok("sidecar".to_string())
        );
    }

    #[test]
    fn an_unknown_container_is_refused_with_the_choices() {
        let error = choose_container(&pod(&["web"]), Some("db")).unwrap_err();
        assert_eq!(
            error.to_string(),
            "container db is not valid for pod web-1, choose one of: [web]"
        );
        assert_eq!(
            choose_container(&pod(&[]), None),
            Err(LogsError::NoContainers {
                pod: "web-1".to_string()
            })
        );
    }

    #[test]
    fn the_pod_may_be_named_with_its_kind() {
        assert_eq!(pod_name("web-1").unwrap(), "web-1");
        assert_eq!(pod_name("po/web-1").unwrap(), "web-1");
        let error = pod_name("deploy/web").unwrap_err();
        assert_eq!(
            error.to_string(),
            "logs are kept for pods only; deployments.apps \"web\" is not a pod"
        );
    }
}
