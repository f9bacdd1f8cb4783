//! Exec through the CRI: the agent's runtimes hand back a local process for an exec, so for a
//! CRI container that process is a helper, `flotilla cri-exec`, which makes the runtime's
//! `ExecSync` call and writes the command's output and exit code as its own. Killing the
//! helper (a probe's timeout, a caller gone) cancels the call, and the runtime kills the
//! command.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use serde::{Deserialize, Serialize};

use flotilla_node_os::RuntimeError;
use flotilla_node_os::runtime::{ExecProcess, ExecRequest};

use crate::client::CriClient;
use crate::proto::ExecSyncRequest;

/// The hidden first argument that makes this binary the helper; the second is the call.
pub const SUBCOMMAND: &str = "cri-exec";

/// The helper's exit code when the runtime could not run the command at all.
const CANNOT_RUN: i32 = 126;

/// What the helper is asked to run.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
struct ExecCall {
    socket: PathBuf,
    /// The runtime's id of the container.
    container: String,
    command: Vec<String>,
}

/// Starts the helper that runs `request` in the CRI container `cri_id` (the agent's `id`).
pub(crate) fn spawn(
    helper: &Path,
    socket: &Path,
    id: &str,
    cri_id: &str,
    request: &ExecRequest,
) -> Result<ExecProcess, RuntimeError> {
    if request.stdin || request.tty.is_some() {
        return Err(RuntimeError::Cri {
            id: id.to_string(),
            call: "Exec",
            message: "an attached exec (-i, -t) into a container of the CRI runtime is not \
                      supported; run the command without -i and -t"
                .to_string(),
        });
    }
    let call = ExecCall {
        socket: socket.to_path_buf(),
        container: cri_id.to_string(),
        command: request.command.clone(),
    };
    let call = serde_json::to_string(&call).map_err(|error| RuntimeError::Cri {
        id: id.to_string(),
        call: "ExecSync",
        message: error.to_string(),
    })?;
    let child = tokio::process::Command::new(helper)
        .arg(SUBCOMMAND)
        .arg(call)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|source| RuntimeError::Spawn {
            id: id.to_string(),
            program: helper.to_path_buf(),
            source,
        })?;
    Ok(ExecProcess {
        child,
        terminal: None,
    })
}

/// The helper: runs the call in `argument` and exits as the command did.
pub fn run(argument: &str) -> i32 {
    let call: ExecCall = match serde_json::from_str(argument) {
        Ok(call) => call,
        Err(error) => {
            eprintln!("cri-exec: invalid call: {error}");
            return CANNOT_RUN;
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("cri-exec: {error}");
            return CANNOT_RUN;
        }
    };
    match runtime.block_on(exec_sync(&call)) {
        Ok(answer) => {
            let _ = std::io::stdout().write_all(&answer.stdout);
            let _ = std::io::stderr().write_all(&answer.stderr);
            answer.exit_code
        }
        Err(message) => {
            eprintln!("{message}");
            CANNOT_RUN
        }
    }
}

async fn exec_sync(call: &ExecCall) -> Result<crate::proto::ExecSyncResponse, String> {
    let (mut client, _) = CriClient::connect(&call.socket)
        .await
        .map_err(|error| error.to_string())?;
    let request = ExecSyncRequest {
        container_id: call.container.clone(),
        cmd: call.command.clone(),
        timeout: 0,
    };
    client
        .runtime
        .exec_sync(request)
        .await
        .map(tonic::Response::into_inner)
        .map_err(|status| status.message().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_call_survives_its_trip_through_the_command_line() {
        let call = ExecCall {
            socket: PathBuf::from("/run/containerd/containerd.sock"),
            container: "4f2a".to_string(),
            command: vec!["sh".to_string(), "-c".to_string(), "echo 'a b'".to_string()],
        };
        let argument = serde_json::to_string(&call).unwrap();
        assert_eq!(serde_json::from_str::<ExecCall>(&argument).unwrap(), call);
    }

    #[test]
    fn a_garbled_call_is_refused() {
        assert_eq!(run("{not json"), CANNOT_RUN);
    }
}
