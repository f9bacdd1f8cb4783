//! How the API server reaches a node agent for what only the node has (container logs, exec,
//! resource usage).
//!
//! An agent in the API server's own process registers its calls directly. A remote agent has
//! no listening port: it serves the calls on the QUIC connection it opened to the API, and
//! keeps an [`Request::AgentLink`](super::Request::AgentLink) call open there for as long as it
//! serves — the API reaches it through that connection while the call is open, and the agent
//! opens it again after every reconnect.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use flotilla_transport::{CallStream, PeerLink, Responses};

use super::client::send_inputs;
use super::error::{ApiError, ErrorCode};
use super::message::{Input, Response, TerminalSize};
use super::usage::PodContainer;

/// A call the API server makes to a node agent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum NodeRequest {
    Logs {
        pod_uid: String,
        namespace: String,
        pod: String,
        container: String,
        follow: bool,
        tail_lines: Option<u64>,
    },
    /// Runs `command` in a running container, answering as [`super::Request::Exec`] is.
    Exec {
        pod_uid: String,
        container: String,
        command: Vec<String>,
    },
    /// Measures the node and those of `containers` that are running (`flotilla top`),
    /// answering with one [`Response::AgentUsage`]. (New variants go last.)
    Usage { containers: Vec<PodContainer> },
    /// [`NodeRequest::Exec`] with streams attached, as [`super::Request::ExecAttached`]: its
    /// input comes as [`NodeRequest::Input`] frames on the same call.
    ExecAttached {
        pod_uid: String,
        container: String,
        command: Vec<String>,
        stdin: bool,
        tty: Option<TerminalSize>,
    },
    /// What the caller sends after an `ExecAttached` or `ImportImages` request.
    Input(Input),
    /// Imports the archive that follows as [`NodeRequest::Input`] data into the node's image
    /// store, answering as [`super::Request::ImportImages`] is.
    ImportImages { base_name: Option<String> },
}

impl NodeRequest {
    /// Whether the call reads input frames after the request.
    pub fn takes_inputs(&self) -> bool {
        matches!(
            self,
            NodeRequest::ExecAttached { .. } | NodeRequest::ImportImages { .. }
        )
    }
}

/// How an agent answers the API server's calls: the request, and for a call that takes them
/// ([`NodeRequest::takes_inputs`]) its inputs.
pub type NodeCalls =
    Arc<dyn Fn(NodeRequest, Option<mpsc::Receiver<Input>>) -> Responses<Response> + Send + Sync>;

/// Where a node's agent is served.
enum Link {
    /// In this process.
    Local(NodeCalls),
    /// On the agent's connection, while its `AgentLink` call (whose responses go to `open`)
    /// is open.
    Remote {
        link: PeerLink,
        open: mpsc::Sender<Response>,
    },
}

impl Link {
    fn is_up(&self) -> bool {
        match self {
            Link::Local(_) => true,
            Link::Remote { link, open } => !open.is_closed() && !link.is_closed(),
        }
    }
}

/// Node name → where its agent serves calls. Cheap to clone; clones share the table.
#[derive(Clone, Default)]
pub struct NodeLinks(Arc<Mutex<HashMap<String, Link>>>);

impl std::fmt::Debug for NodeLinks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let links = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        f.debug_set().entries(links.keys()).finish()
    }
}

impl NodeLinks {
    /// An agent in this process serves `node`'s calls.
    pub fn register_local(&self, node: &str, calls: NodeCalls) {
        self.insert(node, Link::Local(calls));
    }

    /// A remote agent serves `node`'s calls on `link` while `open` is open; it replaces any
    /// earlier connection of the same node.
    pub fn register_remote(&self, node: &str, link: PeerLink, open: mpsc::Sender<Response>) {
        self.insert(node, Link::Remote { link, open });
    }

    fn insert(&self, node: &str, link: Link) {
        let mut links = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        links.retain(|_, link| link.is_up());
        links.insert(node.to_string(), link);
    }

    /// Sends `request` to `node`'s agent and returns its answers.
    pub async fn call(&self, node: &str, request: NodeRequest) -> Result<NodeAnswers, ApiError> {
        self.call_with_inputs(node, request, None).await
    }

    /// [`NodeLinks::call`], passing `inputs` on to the agent as the call's input frames.
    pub async fn call_with_inputs(
        &self,
        node: &str,
        request: NodeRequest,
        inputs: Option<mpsc::Receiver<Input>>,
    ) -> Result<NodeAnswers, ApiError> {
        let not_connected = || {
            ApiError::new(
                ErrorCode::Unavailable,
                format!("the agent of node {node:?} is not connected"),
            )
        };
        let remote = {
            let links = self.0.lock().unwrap_or_else(PoisonError::into_inner);
            match links.get(node).filter(|link| link.is_up()) {
                None => return Err(not_connected()),
                Some(Link::Local(calls)) => {
                    return Ok(NodeAnswers::Local(calls(request, inputs)));
                }
                Some(Link::Remote { link, .. }) => link.clone(),
            }
        };
        let unreachable = |error| {
            ApiError::new(
                ErrorCode::Unavailable,
                format!("calling the agent of node {node:?}: {error}"),
            )
        };
        let answers = match inputs {
            None => remote.stream(&request).await.map_err(unreachable)?,
            Some(inputs) => {
                let (sender, answers) = remote
                    .stream_with_inputs(&request)
                    .await
                    .map_err(unreachable)?;
                tokio::spawn(send_inputs(inputs, sender, NodeRequest::Input));
                answers
            }
        };
        Ok(NodeAnswers::Remote {
            node: node.to_string(),
            answers,
        })
    }
}

/// An agent's answers to one call.
pub enum NodeAnswers {
    Local(Responses<Response>),
    Remote {
        node: String,
        answers: CallStream<Response>,
    },
}

impl NodeAnswers {
    /// The next answer; a lost agent is one last `Response::Error`. Cancel-safe.
    pub async fn next(&mut self) -> Option<Response> {
        match self {
            NodeAnswers::Local(answers) => answers.next().await,
            NodeAnswers::Remote { node, answers } => match answers.recv().await? {
                Ok(answer) => Some(answer),
                Err(error) => Some(Response::Error(ApiError::new(
                    ErrorCode::Unavailable,
                    format!("the agent of node {node:?} went away: {error}"),
                ))),
            },
        }
    }
}
