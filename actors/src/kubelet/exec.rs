//! Serving `flotilla exec` on the node: the command runs in the container through the runtime,
//! and what it writes goes back to the caller as it comes, then its exit code. An attached
//! exec also takes the caller's standard input, and on a terminal its size. A caller that goes
//! away kills the command.

use std::fs::File;
use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;

use flotilla_kernel::api::{ApiError, ErrorCode, Input, Response, TerminalSize};
use flotilla_node_os::runtime::{ExecRequest, exit_code, resize_terminal};
use flotilla_node_os::{Runtime, RuntimeError};

/// How much output one frame carries.
const CHUNK: usize = 16 * 1024;

/// What an exec attaches: standard input (with the caller's inputs) and a terminal.
#[derive(Debug, Default)]
pub struct Streams {
    /// The terminal's size, when the command runs on one.
    pub tty: Option<TerminalSize>,
    /// The caller's input when it attached standard input.
    pub inputs: Option<mpsc::Receiver<Input>>,
}

/// Runs `command` in container `id` and answers on `reply` until it ends.
pub async fn serve(
    runtime: Arc<dyn Runtime>,
    id: String,
    command: Vec<String>,
    streams: Streams,
    reply: mpsc::Sender<Response>,
) {
    let request = ExecRequest {
        command,
        stdin: streams.inputs.is_some(),
        tty: streams.tty.map(node_size),
        live: true,
    };
    let started = {
        let id = id.clone();
        tokio::task::spawn_blocking(move || runtime.exec(&id, &request)).await
    };
    let mut process = match started {
        Ok(Ok(process)) => process,
        Ok(Err(error)) => {
            let _ = reply.send(Response::Error(refused(&error))).await;
            return;
        }
        Err(error) => {
            let message = format!("the exec into {id} did not start: {error}");
            let _ = reply
                .send(Response::Error(ApiError::internal(message)))
                .await;
            return;
        }
    };
    let copied = match process.terminal.take() {
        Some(terminal) => on_terminal(terminal, streams.inputs, &reply).await,
        None => {
            let stdin = process.child.stdin.take();
            let stdout = process.child.stdout.take();
            let stderr = process.child.stderr.take();
            let outputs = async {
                let (out, err) = tokio::join!(
                    forward(stdout, false, &reply),
                    forward(stderr, true, &reply)
                );
                out.and(err)
            };
            let input = async {
                feed(stdin, streams.inputs).await;
                std::future::pending().await
            };
            // The command's output ending ends the exec, whether or not its input has.
            tokio::select! {
                copied = outputs => copied,
                () = input => Ok(()),
            }
        }
    };
    if copied.is_err() {
        // The caller is gone: dropping the process kills the command.
        return;
    }
    let answer = match process.child.wait().await {
        Ok(status) => Response::ExecExit {
            code: exit_code(status),
        },
        Err(error) => Response::Error(ApiError::internal(format!(
            "waiting for the exec into {id}: {error}"
        ))),
    };
    let _ = reply.send(answer).await;
}

/// Relays a command on a terminal: what it shows goes out as standard output, the caller's
/// input and sizes go in, until the command's side of the terminal closes.
async fn on_terminal(
    terminal: File,
    inputs: Option<mpsc::Receiver<Input>>,
    reply: &mpsc::Sender<Response>,
) -> Result<(), ()> {
    let (writer, sizer) = match (terminal.try_clone(), terminal.try_clone()) {
        (Ok(writer), Ok(sizer)) => (writer, sizer),
        _ => return Ok(()),
    };
    let output = forward(Some(tokio::fs::File::from_std(terminal)), false, reply);
    let input = async {
        let Some(mut inputs) = inputs else {
            return std::future::pending().await;
        };
        let mut writer = tokio::fs::File::from_std(writer);
        while let Some(input) = inputs.recv().await {
            match input {
                Input::Data(data) => {
                    if writer.write_all(&data).await.is_err() || writer.flush().await.is_err() {
                        break;
                    }
                }
                Input::Resize(size) => {
                    if let Err(error) = resize_terminal(&sizer, node_size(size)) {
                        tracing::debug!(%error, "cannot resize an exec's terminal");
                    }
                }
                // A terminal has no end of input of its own; the command ends it (exit, ^D).
                Input::End => {}
            }
        }
        std::future::pending().await
    };
    // The output ends when the command's side closes; the input never ends first.
    tokio::select! {
        sent = output => sent,
        () = input => Ok(()),
    }
}

/// Writes the caller's standard input to the command until it ends, then closes it.
async fn feed(stdin: Option<impl AsyncWrite + Unpin>, inputs: Option<mpsc::Receiver<Input>>) {
    let (Some(mut stdin), Some(mut inputs)) = (stdin, inputs) else {
        return;
    };
    while let Some(input) = inputs.recv().await {
        match input {
            Input::Data(data) => {
                if stdin.write_all(&data).await.is_err() || stdin.flush().await.is_err() {
                    return;
                }
            }
            Input::End => return,
            Input::Resize(_) => {}
        }
    }
}

/// Sends what `stream` yields until it ends; an error once nobody listens. A terminal whose
/// command side closed reads as an error (EIO): that is its end.
async fn forward(
    stream: Option<impl AsyncRead + Unpin>,
    stderr: bool,
    reply: &mpsc::Sender<Response>,
) -> Result<(), ()> {
    let Some(mut stream) = stream else {
        return Ok(());
    };
    let mut buffer = vec![0; CHUNK];
    loop {
        match stream.read(&mut buffer).await {
            Ok(0) | Err(_) => return Ok(()),
            Ok(read) => {
                let data = buffer[..read].to_vec();
                reply
                    .send(Response::ExecOutput { stderr, data })
                    .await
                    .map_err(|_| ())?;
            }
        }
    }
}

fn node_size(size: TerminalSize) -> flotilla_node_os::runtime::TerminalSize {
    flotilla_node_os::runtime::TerminalSize {
        cols: size.cols,
        rows: size.rows,
    }
}

/// How a runtime's refusal reads to the caller.
fn refused(error: &RuntimeError) -> ApiError {
    let code = match error {
        RuntimeError::NotFound { .. } | RuntimeError::NotRunning { .. } => ErrorCode::BadRequest,
        RuntimeError::Sandbox { .. } => ErrorCode::BadRequest,
        _ => ErrorCode::Internal,
    };
    ApiError::new(code, error.to_string())
}
