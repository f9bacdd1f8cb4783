//! The API vocabulary every component speaks, and the client through which it speaks it.
//!
//! Only the API server touches the store; everything else (CLI, scheduler, controllers, node
//! agents) is a client. [`ApiClient`] hides where the API server is: in the same process the
//! request is a ractor message to the actor a [`LocalApi`] handle points to; elsewhere it is a QUIC
//! call. Objects travel as JSON ([`RawObject`]) inside the binary frames, so they stay readable
//! across versions that add fields.

mod client;
mod delete_options;
mod error;
mod local;
mod message;
mod node_link;
mod usage;

pub use client::{AgentLink, ApiClient, ClientError, Watched, receive_inputs};
pub use delete_options::{
    DeleteOptions, FOREGROUND_FINALIZER, ORPHAN_FINALIZER, Preconditions, PropagationPolicy,
};
pub use error::{ApiError, ErrorCode};
pub use local::LocalApi;
pub use message::{
    APISERVER, ApiCall, CertificateRecord, EventType, INPUT_BUFFER, ImportedImage, Input, Outcome,
    RawObject, Request, Response, TerminalSize, WatchEvent,
};
pub use node_link::{NodeAnswers, NodeCalls, NodeLinks, NodeRequest};
pub use usage::{
    AgentUsage, ContainerMetrics, ContainerUsage, NodeMetrics, PodContainer, PodMetrics,
    ResourceUsage, TopReport,
};
