//! Requests, responses and watch events. These cross QUIC as bincode frames, so they use only
//! plain serde shapes; objects inside them are JSON bytes.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use flotilla_transport::Identity;

use super::delete_options::DeleteOptions;
use super::error::{ApiError, ErrorCode};
use super::usage::{AgentUsage, TopReport};
use crate::object::{Kind, Time};

/// Name under which the API server actor registers itself in the process.
pub const APISERVER: &str = "apiserver";

/// An object as JSON bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RawObject(#[serde(with = "serde_bytes")] pub Vec<u8>);

impl RawObject {
    pub fn encode<T: Serialize>(object: &T) -> Result<Self, ApiError> {
        serde_json::to_vec(object)
            .map(RawObject)
            .map_err(|e| ApiError::internal(format!("encoding object: {e}")))
    }

    pub fn decode<T: DeserializeOwned>(&self) -> Result<T, ApiError> {
        serde_json::from_slice(&self.0)
            .map_err(|e| ApiError::new(ErrorCode::BadRequest, format!("decoding object: {e}")))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Request {
    Get {
        kind: Kind,
        namespace: String,
        name: String,
    },
    /// `namespace: None` lists across all namespaces; `selector` uses the `-l` syntax;
    /// `node_name` keeps only pods bound to that node.
    List {
        kind: Kind,
        namespace: Option<String>,
        selector: Option<String>,
        node_name: Option<String>,
    },
    Create {
        object: RawObject,
    },
    /// Create, or replace labels, annotations and spec of an existing object (`kubectl apply`).
    Apply {
        object: RawObject,
    },
    /// Replace metadata and spec; fails with Conflict if `metadata.resourceVersion` is set and stale.
    Update {
        object: RawObject,
    },
    /// Replace only the status; same conflict rule as Update.
    UpdateStatus {
        object: RawObject,
    },
    /// Assign a pending pod to a node (the scheduler's decision), once.
    Bind {
        namespace: String,
        name: String,
        node: String,
    },
    /// Graceful for pods running on a node unless `options.grace_period_seconds` is
    /// `Some(0)`. An object with finalizers (or deleted in the foreground, or orphaning its
    /// dependents) is only marked with a deletionTimestamp and goes when they are all removed.
    Delete {
        kind: Kind,
        namespace: String,
        name: String,
        options: DeleteOptions,
    },
    /// Changes after `after_revision` (0: the current state as Added events first).
    /// `node_name` keeps only pods bound to that node.
    Watch {
        kind: Kind,
        namespace: Option<String>,
        after_revision: u64,
        node_name: Option<String>,
    },
    Logs {
        namespace: String,
        pod: String,
        container: Option<String>,
        follow: bool,
        tail_lines: Option<u64>,
    },
    /// A machine without a certificate asks to join as node `node_name` with a bootstrap token
    /// (the only call a caller without a certificate may make). Only the CSR travels: the
    /// private key never leaves the node. Answered with [`Response::Certificate`].
    Join {
        token: String,
        node_name: String,
        csr_pem: String,
    },
    /// A node renews its certificate before it expires, for the key of `csr_pem`.
    RenewCertificate {
        csr_pem: String,
    },
    /// Makes every certificate issued to the node fail its next handshake.
    RevokeNode {
        node_name: String,
    },
    /// A call on the raw store (`flotilla store`), encoded by the store service, which the
    /// kernel only carries. Answered with [`Response::Store`] frames.
    Store {
        #[serde(with = "serde_bytes")]
        call: Vec<u8>,
    },
    /// A node agent serves the API server's calls on this connection for as long as this call
    /// is open (it is never answered). (New variants go last: variants are tagged on the wire
    /// by position.)
    AgentLink,
    /// An admin asks for a certificate for the operator `name` with `role`, valid for
    /// `validity_seconds`, for the key of `csr_pem` (`flotilla user add`). Answered with
    /// [`Response::Certificate`].
    IssueUser {
        name: String,
        role: String,
        validity_seconds: u64,
        csr_pem: String,
    },
    /// Revokes every certificate of the operator `name` (`flotilla user revoke`).
    RevokeUser {
        name: String,
    },
    /// Operators' certificates that have not expired (`flotilla user list`).
    ListUsers,
    /// Runs `command` in a container of a pod, through its node's agent (`flotilla exec`).
    /// Answered with [`Response::ExecOutput`] frames as it writes, then one
    /// [`Response::ExecExit`].
    Exec {
        namespace: String,
        pod: String,
        container: Option<String>,
        command: Vec<String>,
    },
    /// What pods (`Kind::Pod`: in `namespace`, or all of them for `None`) or nodes
    /// (`Kind::Node`) use, measured now by their nodes' agents (`flotilla top`); `name` picks
    /// one. Answered with [`Response::Top`].
    Top {
        kind: Kind,
        namespace: Option<String>,
        name: Option<String>,
    },
    /// [`Request::Exec`] with streams attached (`flotilla exec -i`/`-t`): with `stdin`, the
    /// caller sends [`Request::Input`] frames after this request on the same call; with
    /// `tty`, the command runs on a terminal of that size, whose output comes as standard
    /// output.
    ExecAttached {
        namespace: String,
        pod: String,
        container: Option<String>,
        command: Vec<String>,
        stdin: bool,
        tty: Option<TerminalSize>,
    },
    /// What a two-way call's caller sends after its request (an attached exec's input, an
    /// uploaded archive); refused as a call of its own.
    Input(Input),
    /// Imports the images of an OCI or Docker archive into `node`'s image store (`flotilla
    /// image import --node`): the archive follows as [`Request::Input`] data, then its end.
    /// Answered with one [`Response::ImagesImported`].
    ImportImages {
        node: String,
        base_name: Option<String>,
    },
    /// Deletes a pod if its disruption budget allows (Kubernetes' `pods/eviction`): refused
    /// with TooManyRequests while it does not, to be retried.
    Evict {
        namespace: String,
        name: String,
        options: DeleteOptions,
    },
}

/// The input frames one hop of a two-way call holds before it stops reading the caller's: few,
/// as an upload's frames are large (the QUIC stream's window holds the rest back).
pub const INPUT_BUFFER: usize = 8;

/// What the caller of a two-way call sends after its request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Input {
    /// The next bytes: an exec's standard input, an archive being uploaded.
    Data(#[serde(with = "serde_bytes")] Vec<u8>),
    /// There are no more bytes: an exec's command reads end of file, an upload is whole.
    End,
    /// The caller's terminal changed size.
    Resize(TerminalSize),
}

/// A terminal's size in characters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TerminalSize {
    pub cols: u16,
    pub rows: u16,
}

impl Request {
    /// A short name of the verb, for errors and authorization messages.
    pub fn verb(&self) -> &'static str {
        match self {
            Request::Get { .. } => "get",
            Request::List { .. } => "list",
            Request::Create { .. } => "create",
            Request::Apply { .. } => "apply",
            Request::Update { .. } => "update",
            Request::UpdateStatus { .. } => "update status of",
            Request::Bind { .. } => "bind",
            Request::Delete { .. } => "delete",
            Request::Watch { .. } => "watch",
            Request::Logs { .. } => "read logs of",
            Request::Join { .. } => "join as",
            Request::RenewCertificate { .. } => "renew the certificate of",
            Request::RevokeNode { .. } => "revoke",
            Request::Store { .. } => "use the raw store",
            Request::AgentLink => "serve the calls of",
            Request::IssueUser { .. } => "issue a certificate for",
            Request::RevokeUser { .. } => "revoke",
            Request::ListUsers => "list",
            Request::Exec { .. } | Request::ExecAttached { .. } => "exec into",
            Request::Input(_) => "send input to",
            Request::ImportImages { .. } => "import images into",
            Request::Top { .. } => "read usage of",
            Request::Evict { .. } => "evict",
        }
    }
}

/// What `Apply` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Outcome {
    Created,
    Configured,
    Unchanged,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Created => "created",
            Outcome::Configured => "configured",
            Outcome::Unchanged => "unchanged",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum EventType {
    Added,
    Modified,
    Deleted,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WatchEvent {
    pub event: EventType,
    /// For Deleted, the object as it was last.
    pub object: RawObject,
    pub revision: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Response {
    Object(RawObject),
    Applied {
        object: RawObject,
        outcome: Outcome,
    },
    List {
        items: Vec<RawObject>,
        revision: u64,
    },
    Event(WatchEvent),
    Log(#[serde(with = "serde_bytes")] Vec<u8>),
    /// A signed client certificate and the CA that signed it, both PEM.
    Certificate {
        cert_pem: String,
        ca_pem: String,
    },
    /// How many certificates a `RevokeNode` revoked.
    Revoked {
        certificates: usize,
    },
    /// An answer of the raw store, encoded by the store service.
    Store(#[serde(with = "serde_bytes")] Vec<u8>),
    Error(ApiError),
    /// In a watch from revision 0: every current object has been sent as `Added`, and the watch
    /// goes on from `revision` (the listing's). Items of the listing carry their own, older
    /// revisions, so this is the first point a broken watch can resume from. (Last because
    /// variants are tagged on the wire by position.)
    Bookmark {
        revision: u64,
    },
    /// Operators' certificates, from a `ListUsers`.
    Certificates(Vec<CertificateRecord>),
    /// What an exec's command wrote, to standard error or standard output.
    ExecOutput {
        stderr: bool,
        #[serde(with = "serde_bytes")]
        data: Vec<u8>,
    },
    /// How an exec's command ended: its exit code, or 128+N for signal N.
    ExecExit {
        code: i32,
    },
    /// A node agent's measurements, answering a `NodeRequest::Usage`.
    AgentUsage(AgentUsage),
    /// What pods or nodes use, answering a [`Request::Top`].
    Top(TopReport),
    /// The images an archive held, now in a node's store, answering an `ImportImages`.
    ImagesImported(Vec<ImportedImage>),
}

/// An image a node imported: its name, the digest of its manifest and its size in bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportedImage {
    pub name: String,
    pub digest: String,
    pub size: u64,
}

/// One operator's certificate, as `flotilla user list` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertificateRecord {
    pub name: String,
    pub role: String,
    /// The serial number, in hex.
    pub serial: String,
    pub expires: Time,
    pub revoked: bool,
}

impl Response {
    pub fn kind_name(&self) -> &'static str {
        match self {
            Response::Object(_) => "object",
            Response::Applied { .. } => "applied",
            Response::List { .. } => "list",
            Response::Event(_) => "event",
            Response::Log(_) => "log",
            Response::Certificate { .. } => "certificate",
            Response::Revoked { .. } => "revoked",
            Response::Store(_) => "store",
            Response::Error(_) => "error",
            Response::Bookmark { .. } => "bookmark",
            Response::Certificates(_) => "certificates",
            Response::ExecOutput { .. } => "exec output",
            Response::ExecExit { .. } => "exec exit",
            Response::AgentUsage(_) => "agent usage",
            Response::Top(_) => "top",
            Response::ImagesImported(_) => "images imported",
        }
    }
}

/// One request to the in-process API server actor. Responses go to `reply`: one for unary
/// requests, many for watches and followed logs; the stream ends when `reply` is dropped.
#[derive(Debug)]
pub struct ApiCall {
    pub caller: Identity,
    /// The serial number of the client certificate the call came with; `None` in-process.
    pub serial: Option<Vec<u8>>,
    pub request: Request,
    pub reply: mpsc::Sender<Response>,
    /// What the caller sends after its request: an attached exec's input.
    pub inputs: Option<mpsc::Receiver<Input>>,
}
