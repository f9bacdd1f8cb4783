//! How the API server reaches a node agent for what only the node has (container logs).
//! Agents register a channel under their node name; a remote agent will register a QUIC
//! stream's sender the same way.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::mpsc;

use super::message::Response;

#[derive(Debug, Clone)]
pub enum NodeRequest {
    Logs {
        pod_uid: String,
        namespace: String,
        pod: String,
        container: String,
        follow: bool,
        tail_lines: Option<u64>,
    },
}

#[derive(Debug)]
pub struct NodeCall {
    pub request: NodeRequest,
    pub reply: mpsc::Sender<Response>,
}

/// Node name → the channel its agent serves calls on.
#[derive(Debug, Clone, Default)]
pub struct NodeLinks(Arc<Mutex<HashMap<String, mpsc::Sender<NodeCall>>>>);

impl NodeLinks {
    pub fn register(&self, node: &str, link: mpsc::Sender<NodeCall>) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(node.to_string(), link);
    }

    /// The node's link, if its agent is connected.
    pub fn get(&self, node: &str) -> Option<mpsc::Sender<NodeCall>> {
        let links = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        links.get(node).filter(|link| !link.is_closed()).cloned()
    }
}
