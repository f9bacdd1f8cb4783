//! What the API server asks of this node's agent (container logs, exec, resource usage),
//! answered without the agent actor: everything needed is in the request, the log directory,
//! the runtime and procfs. The same answers serve an in-process API server and a remote one,
//! which calls on the agent's own QUIC connection.

mod usage;

use std::path::PathBuf;
use std::sync::Arc;

use tokio::sync::mpsc;

use flotilla_kernel::api::{ApiError, ErrorCode, NodeCalls, NodeRequest, Response};
use flotilla_node_os::Runtime;
use flotilla_transport::Responses;

use super::exec::{self, Streams};
use super::sync::container_id;
use super::{image_import, logs};

/// Answers one call may queue before it waits for the API server to take them.
const CALL_BUFFER: usize = 64;

/// Where the node's own usage is read: the host's procfs, as the agent's inventory reads it.
const PROC_ROOT: &str = "/proc";

/// The agent's answers to the API server's calls, reading logs under `log_dir`, importing
/// images into the store at `image_dir`, running execs through `runtime` and measuring usage
/// from its cgroups and [`PROC_ROOT`].
pub fn node_calls(log_dir: PathBuf, image_dir: PathBuf, runtime: Arc<dyn Runtime>) -> NodeCalls {
    let proc_root = PathBuf::from(PROC_ROOT);
    Arc::new(move |request, inputs| match request {
        NodeRequest::Logs {
            pod_uid,
            namespace,
            pod,
            container,
            follow,
            tail_lines,
        } => {
            let path = logs::log_path(&log_dir, &namespace, &pod, &pod_uid, &container);
            let (reply, answers) = mpsc::channel(CALL_BUFFER);
            // Ends when the log is sent, or when the caller goes away and `reply` closes.
            tokio::spawn(logs::serve(path, follow, tail_lines, reply));
            Responses::channel(answers)
        }
        NodeRequest::Exec {
            pod_uid,
            container,
            command,
        } => exec(&runtime, &pod_uid, &container, command, Streams::default()),
        NodeRequest::ExecAttached {
            pod_uid,
            container,
            command,
            stdin,
            tty,
        } => {
            let streams = Streams {
                tty,
                inputs: inputs.filter(|_| stdin),
            };
            exec(&runtime, &pod_uid, &container, command, streams)
        }
        NodeRequest::Usage { containers } => {
            let (reply, answers) = mpsc::channel(1);
            // Ends once it has measured, within a second.
            let runtime = Arc::clone(&runtime);
            tokio::spawn(usage::serve(runtime, proc_root.clone(), containers, reply));
            Responses::channel(answers)
        }
        NodeRequest::ImportImages { base_name } => {
            let Some(inputs) = inputs else {
                return refused_input();
            };
            let (reply, answers) = mpsc::channel(1);
            // Ends once the archive is imported, or when the upload stops short.
            tokio::spawn(image_import::serve(
                image_dir.clone(),
                base_name,
                inputs,
                reply,
            ));
            Responses::channel(answers)
        }
        NodeRequest::Input(_) => refused_input(),
    })
}

/// A call's input frame sent as a call of its own.
fn refused_input() -> Responses<Response> {
    Responses::one(Response::Error(ApiError::new(
        ErrorCode::BadRequest,
        "input belongs on the call of an attached exec or an image import",
    )))
}

/// Starts an exec into the pod's container; it ends when the command does, or when the caller
/// goes away.
fn exec(
    runtime: &Arc<dyn Runtime>,
    pod_uid: &str,
    container: &str,
    command: Vec<String>,
    streams: Streams,
) -> Responses<Response> {
    let (reply, answers) = mpsc::channel(CALL_BUFFER);
    let id = container_id(pod_uid, container);
    tokio::spawn(exec::serve(
        Arc::clone(runtime),
        id,
        command,
        streams,
        reply,
    ));
    Responses::channel(answers)
}

#[cfg(test)]
mod tests;
