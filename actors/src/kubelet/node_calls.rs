//! What the API server asks of this node's agent (container logs), answered without the agent
//! actor: everything needed is in the request and the log directory. The same answers serve an
//! in-process API server and a remote one, which calls on the agent's own QUIC connection.

use std::path::PathBuf;
use std::sync::Arc;

use tokio::sync::mpsc;

use flotilla_kernel::api::{NodeCalls, NodeRequest};
use flotilla_transport::Responses;

use super::logs;

/// Answers one call may queue before it waits for the API server to take them.
const CALL_BUFFER: usize = 64;

/// The agent's answers to the API server's calls, reading logs under `log_dir`.
pub fn node_calls(log_dir: PathBuf) -> NodeCalls {
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
    })
}
