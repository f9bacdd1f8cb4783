//! What the API server asks of this node's agent (container logs, exec), answered without the
//! agent actor: everything needed is in the request, the log directory and the runtime. The same answers serve an
//! in-process API server and a remote one, which calls on the agent's own QUIC connection.

use std::path::PathBuf;
use std::sync::Arc;

use tokio::sync::mpsc;

use flotilla_kernel::api::{NodeCalls, NodeRequest};
use flotilla_node_os::Runtime;
use flotilla_transport::Responses;

use super::sync::container_id;
use super::{exec, logs};

/// Answers one call may queue before it waits for the API server to take them.
const CALL_BUFFER: usize = 64;

/// The agent's answers to the API server's calls, reading logs under `log_dir` and running
/// execs through `runtime`.
pub fn node_calls(log_dir: PathBuf, runtime: Arc<dyn Runtime>) -> NodeCalls {
    Arc::new(move |request| match request {
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
        } => {
            let (reply, answers) = mpsc::channel(CALL_BUFFER);
            let id = container_id(&pod_uid, &container);
            // Ends when the command does, or when the caller goes away.
            tokio::spawn(exec::serve(Arc::clone(&runtime), id, command, reply));
            Responses::channel(answers)
        }
    })
}
