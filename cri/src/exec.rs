//! Exec through the CRI: the agent's runtimes hand back a local process for an exec, so for a
//! CRI container that process is a helper, `flotilla cri-exec`, whose output and exit code
//! are the command's. A probe's or hook's command, whose output counts once it has ended, is
//! the runtime's `ExecSync`; a user's is the runtime's `Exec`, streamed from its streaming server
//! ([`crate::stream`]) with the helper's standard streams attached — on a terminal, a
//! terminal the agent holds the other side of. Killing the helper (a probe's timeout, a
//! caller gone) cancels the call, and the runtime ends the command.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use flotilla_node_os::RuntimeError;
use flotilla_node_os::runtime::{ExecProcess, ExecRequest, exec_stdio};

use crate::client::CriClient;
use crate::proto::{ExecSyncRequest, ExecSyncResponse};
use crate::stream::{self, Attached};

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
    stdin: bool,
    tty: bool,
    /// Stream the output as it comes.
    live: bool,
}

/// Starts the helper that runs `request` in the CRI container `cri_id` (the agent's `id`).
pub(crate) fn spawn(
    helper: &Path,
    socket: &Path,
    id: &str,
    cri_id: &str,
    request: &ExecRequest,
) -> Result<ExecProcess, RuntimeError> {
    let failed = |source: std::io::Error| RuntimeError::Spawn {
        id: id.to_string(),
        program: helper.to_path_buf(),
        source,
    };
    let call = ExecCall {
        socket: socket.to_path_buf(),
        container: cri_id.to_string(),
        command: request.command.clone(),
        stdin: request.stdin,
        tty: request.tty.is_some(),
        live: request.live,
    };
    let call = serde_json::to_string(&call).map_err(|error| failed(error.into()))?;
    let mut command = tokio::process::Command::new(helper);
    command.arg(SUBCOMMAND).arg(call).kill_on_drop(true);
    let terminal = exec_stdio(&mut command, request).map_err(failed)?;
    let child = command.spawn().map_err(failed)?;
    Ok(ExecProcess { child, terminal })
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
    if call.tty
        && let Err(error) = raw_terminal()
    {
        eprintln!("cri-exec: cannot pass the terminal through: {error}");
        return CANNOT_RUN;
    }
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
    let ended = runtime.block_on(exec(&call));
    // A read of standard input may still be pending on the blocking pool: do not wait for it.
    runtime.shutdown_background();
    match ended {
        Ok(code) => code,
        Err(message) => {
            eprintln!("{message}");
            CANNOT_RUN
        }
    }
}

async fn exec(call: &ExecCall) -> Result<i32, String> {
    let (mut client, _) = CriClient::connect(&call.socket)
        .await
        .map_err(|error| error.to_string())?;
    if !call.live && !call.stdin && !call.tty {
        let request = ExecSyncRequest {
            container_id: call.container.clone(),
            cmd: call.command.clone(),
            timeout: 0,
        };
        let answer: ExecSyncResponse = client
            .runtime
            .exec_sync(request)
            .await
            .map_err(|status| status.message().to_string())?
            .into_inner();
        let _ = std::io::stdout().write_all(&answer.stdout);
        let _ = std::io::stderr().write_all(&answer.stderr);
        return Ok(answer.exit_code);
    }
    let request = crate::proto::ExecRequest {
        container_id: call.container.clone(),
        cmd: call.command.clone(),
        tty: call.tty,
        stdin: call.stdin,
        stdout: true,
        stderr: !call.tty,
    };
    let url = client
        .runtime
        .exec(request)
        .await
        .map_err(|status| status.message().to_string())?
        .into_inner()
        .url;
    let attached = Attached {
        stdin: call.stdin,
        tty: call.tty,
    };
    stream::run(&url, attached).await
}

/// Makes the helper's terminal pass every byte through unchanged: the container's terminal
/// does the echoing and line editing.
fn raw_terminal() -> std::io::Result<()> {
    use rustix::termios::{OptionalActions, tcgetattr, tcsetattr};
    let stdin = std::io::stdin();
    let mut settings = tcgetattr(&stdin)?;
    settings.make_raw();
    tcsetattr(&stdin, OptionalActions::Now, &settings)?;
    Ok(())
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
            stdin: true,
            tty: false,
            live: true,
        };
        let argument = serde_json::to_string(&call).unwrap();
        assert_eq!(serde_json::from_str::<ExecCall>(&argument).unwrap(), call);
    }

    #[test]
    fn a_garbled_call_is_refused() {
        assert_eq!(run("{not json"), CANNOT_RUN);
    }
}
