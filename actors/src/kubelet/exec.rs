//! Serving `flotilla exec` on the node: the command runs in the container through the runtime,
//! and what it writes goes back to the caller as it comes, then its exit code. A caller that
//! goes away kills the command.

use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::sync::mpsc;

use flotilla_kernel::api::{ApiError, ErrorCode, Response};
use flotilla_node_os::runtime::{ExecRequest, exit_code};
use flotilla_node_os::{Runtime, RuntimeError};

/// How much output one frame carries.
const CHUNK: usize = 16 * 1024;

/// Runs `command` in container `id` and answers on `reply` until it ends.
pub async fn serve(
    runtime: Arc<dyn Runtime>,
    id: String,
    command: Vec<String>,
    reply: mpsc::Sender<Response>,
) {
    let request = ExecRequest {
        command,
        stdin: false,
        tty: false,
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
    let stdout = process.child.stdout.take();
    let stderr = process.child.stderr.take();
    let copied = tokio::join!(
        forward(stdout, false, &reply),
        forward(stderr, true, &reply)
    );
    if copied.0.is_err() || copied.1.is_err() {
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

/// Sends what `stream` yields until it ends; an error once nobody listens.
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

/// How a runtime's refusal reads to the caller.
fn refused(error: &RuntimeError) -> ApiError {
    let code = match error {
        RuntimeError::NotFound { .. } | RuntimeError::NotRunning { .. } => ErrorCode::BadRequest,
        RuntimeError::Sandbox { .. } => ErrorCode::BadRequest,
        _ => ErrorCode::Internal,
    };
    ApiError::new(code, error.to_string())
}
