//! `flotilla exec POD [-c CONTAINER] -- COMMAND...`: runs a command in a running container,
//! wherever its node is, printing what it writes to standard output and standard error as it
//! comes and ending with its exit code, as `kubectl exec` does.

use std::io::Write;
use std::process::ExitCode;

use flotilla_kernel::api::{ApiClient, ClientError, Request, Response};
use flotilla_kernel::object::{Kind, Pod};

use super::logs::{choose_container, pod_name};
use super::{lookup, namespace, terminal};

#[derive(Debug, clap::Args)]
pub struct ExecArgs {
    /// The pod: NAME or pod/NAME.
    #[arg(value_name = "POD")]
    pod: String,
    /// The container (default: the pod's only container).
    #[arg(short, long)]
    container: Option<String>,
    /// The pod's namespace (default: "default").
    #[arg(short, long)]
    namespace: Option<String>,
    /// The command and its arguments, after `--`.
    #[arg(last = true, required = true, value_name = "COMMAND")]
    command: Vec<String>,
}

pub async fn run(args: ExecArgs, api: &ApiClient) -> anyhow::Result<ExitCode> {
    let name = pod_name(&args.pod)?;
    let namespace = namespace::chosen(args.namespace.as_deref()).to_string();
    let pod: Pod = api
        .get(&namespace, &name)
        .await
        .map_err(|error| lookup::worded(error, Kind::Pod, &name))?;
    let container = choose_container(&pod, args.container.as_deref())?;
    let request = Request::Exec {
        namespace,
        pod: name,
        container: Some(container),
        command: args.command,
    };
    let mut responses = api.stream(request).await?;
    while let Some(response) = responses.recv().await {
        match response? {
            Response::ExecOutput {
                stderr: false,
                data,
            } => terminal::print_bytes(&data)?,
            Response::ExecOutput { stderr: true, data } => {
                let mut stderr = std::io::stderr().lock();
                stderr.write_all(&data).and_then(|()| stderr.flush())?;
            }
            Response::ExecExit { code } => {
                return Ok(ExitCode::from(u8::try_from(code).unwrap_or(u8::MAX)));
            }
            Response::Error(error) => return Err(ClientError::Api(error).into()),
            other => {
                let got = other.kind_name();
                return Err(ClientError::Unexpected { call: "exec", got }.into());
            }
        }
    }
    Err(anyhow::anyhow!(
        "the node agent ended the exec without its exit code"
    ))
}
