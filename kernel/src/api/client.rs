//! [`ApiClient`]: one way to reach the API server wherever it runs. In-process components hold
//! a [`LocalApi`] handle rather than the API server actor itself: the actor fills it in each
//! time it starts, so a restarted API server is found again without anyone noticing.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use serde::de::DeserializeOwned;
use tokio::sync::mpsc;

use flotilla_transport::{
    CallSender, Client as QuicClient, Handler, Identity, Inputs, Peer, Responses, TransportError,
};

use super::delete_options::DeleteOptions;
use super::error::ApiError;
use super::local::LocalApi;
use super::message::{
    ApiCall, CertificateRecord, EventType, INPUT_BUFFER, Input, Outcome, RawObject, Request,
    Response, WatchEvent,
};
use super::node_link::{NodeCalls, NodeRequest};
use crate::object::{Kind, Object, Pod, Resource};

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The API server refused or failed the request.
    #[error(transparent)]
    Api(#[from] ApiError),
    #[error(transparent)]
    Transport(#[from] TransportError),
    #[error("the API server is not running in this process (it may be restarting)")]
    NoLocalApiServer,
    #[error("the API server ended the call without an answer")]
    NoAnswer,
    #[error("the API server answered {call} with an unexpected {got} response")]
    Unexpected {
        call: &'static str,
        got: &'static str,
    },
}

impl ClientError {
    /// The API error code, if the server answered with one.
    pub fn api_code(&self) -> Option<super::ErrorCode> {
        match self {
            ClientError::Api(e) => Some(e.code),
            _ => None,
        }
    }
}

/// A typed watch event.
#[derive(Debug, Clone)]
pub struct Watched<T> {
    pub event: EventType,
    pub object: T,
    pub revision: u64,
}

/// An object as JSON with its apiVersion and kind filled in, so callers may build objects
/// from `Default` without repeating them.
fn decode_all<T: Resource>(
    items: Vec<RawObject>,
    revision: u64,
) -> Result<(Vec<T>, u64), ClientError> {
    let items = items
        .iter()
        .map(RawObject::decode)
        .collect::<Result<Vec<T>, _>>()?;
    Ok((items, revision))
}

/// An object of any kind from the server's answer to `call`.
fn decode_object(call: &str, raw: &RawObject) -> Result<Object, ClientError> {
    Object::from_json(&raw.0).map_err(|e| {
        ClientError::Api(ApiError::internal(format!(
            "decoding the {call} answer: {e}"
        )))
    })
}

fn typed<T: Resource>(object: &T) -> RawObject {
    let mut object = object.clone().into_object();
    object.set_type_fields();
    RawObject(object.to_json())
}

#[derive(Clone)]
enum Backend {
    /// The API server actor in this process, calling as `Identity`.
    Local(Identity, LocalApi),
    /// A QUIC connection; the identity is in the client certificate.
    Remote(QuicClient),
}

/// Handle to the API server. Cheap to clone.
#[derive(Clone)]
pub struct ApiClient {
    backend: Backend,
}

/// How many responses may queue on one call before the server waits for the caller.
const CALL_BUFFER: usize = 256;

impl ApiClient {
    /// A client of the API server actor in this process, calling as `identity`.
    pub fn local(identity: Identity, api: LocalApi) -> Self {
        Self {
            backend: Backend::Local(identity, api),
        }
    }

    pub fn remote(client: QuicClient) -> Self {
        Self {
            backend: Backend::Remote(client),
        }
    }

    /// Ends a remote client's connection politely (see `flotilla_transport::Client::close`);
    /// a local client has nothing to close.
    pub async fn close(&self) {
        if let Backend::Remote(client) = &self.backend {
            client.close().await;
        }
    }

    /// Serves the API server's calls to node `node` (logs, for one) with `calls`, until the
    /// returned link is lost: in-process by registering them with the API server, over QUIC on
    /// this client's own connection, registered again after every reconnect.
    pub async fn serve_node(&self, node: &str, calls: NodeCalls) -> Result<AgentLink, ClientError> {
        match &self.backend {
            Backend::Local(_, api) => {
                api.links().register_local(node, calls);
                Ok(AgentLink(None))
            }
            Backend::Remote(quic) => {
                quic.serve_incoming(Arc::new(ServeNodeCalls(calls))).await;
                let open = quic
                    .resuming_stream(0, |_| Request::AgentLink, |_: &Response| None)
                    .await?;
                Ok(AgentLink(Some(open)))
            }
        }
    }

    /// Sends a request and returns the stream of its responses.
    pub async fn stream(
        &self,
        request: Request,
    ) -> Result<mpsc::Receiver<Result<Response, ClientError>>, ClientError> {
        self.stream_inner(request, None).await
    }

    /// Sends a request whose call also takes `inputs` (an attached exec's standard input and
    /// terminal size) until they end, and returns the stream of its responses.
    pub async fn stream_with_inputs(
        &self,
        request: Request,
        inputs: mpsc::Receiver<Input>,
    ) -> Result<mpsc::Receiver<Result<Response, ClientError>>, ClientError> {
        self.stream_inner(request, Some(inputs)).await
    }

    async fn stream_inner(
        &self,
        request: Request,
        inputs: Option<mpsc::Receiver<Input>>,
    ) -> Result<mpsc::Receiver<Result<Response, ClientError>>, ClientError> {
        match &self.backend {
            Backend::Local(identity, api) => {
                let (reply, mut answers) = mpsc::channel(CALL_BUFFER);
                let call = ApiCall {
                    caller: identity.clone(),
                    serial: None,
                    request,
                    reply,
                    inputs,
                };
                if !api.send(call) {
                    return Err(ClientError::NoLocalApiServer);
                }
                let (tx, rx) = mpsc::channel(CALL_BUFFER);
                tokio::spawn(async move {
                    while let Some(answer) = answers.recv().await {
                        if tx.send(Ok(answer)).await.is_err() {
                            break;
                        }
                    }
                });
                Ok(rx)
            }
            Backend::Remote(quic) => {
                let mut frames = match inputs {
                    None => quic.stream::<Request, Response>(&request).await?,
                    Some(inputs) => {
                        let (sender, frames) = quic.stream_with_inputs(&request).await?;
                        tokio::spawn(send_inputs(inputs, sender, Request::Input));
                        frames
                    }
                };
                let (tx, rx) = mpsc::channel(CALL_BUFFER);
                tokio::spawn(async move {
                    while let Some(frame) = frames.recv().await {
                        if tx.send(frame.map_err(ClientError::from)).await.is_err() {
                            break;
                        }
                    }
                });
                Ok(rx)
            }
        }
    }

    /// Sends a unary request; an error response becomes `ClientError::Api`.
    pub async fn call(&self, request: Request) -> Result<Response, ClientError> {
        let answer = match &self.backend {
            Backend::Remote(quic) => quic.call::<Request, Response>(&request).await?,
            Backend::Local(..) => self
                .stream(request)
                .await?
                .recv()
                .await
                .ok_or(ClientError::NoAnswer)??,
        };
        match answer {
            Response::Error(error) => Err(ClientError::Api(error)),
            answer => Ok(answer),
        }
    }

    async fn object<T: Resource>(
        &self,
        call: &'static str,
        request: Request,
    ) -> Result<T, ClientError> {
        match self.call(request).await? {
            Response::Object(raw) | Response::Applied { object: raw, .. } => Ok(raw.decode()?),
            other => Err(ClientError::Unexpected {
                call,
                got: other.kind_name(),
            }),
        }
    }

    pub async fn get<T: Resource>(&self, namespace: &str, name: &str) -> Result<T, ClientError> {
        let request = Request::Get {
            kind: T::KIND,
            namespace: namespace.to_string(),
            name: name.to_string(),
        };
        self.object("get", request).await
    }

    /// Like `get`, but a missing object is `Ok(None)`.
    pub async fn find<T: Resource>(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<Option<T>, ClientError> {
        match self.get(namespace, name).await {
            Ok(object) => Ok(Some(object)),
            Err(e) if e.api_code() == Some(super::ErrorCode::NotFound) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Lists objects of a kind (`namespace: None` = all namespaces) and the revision read at.
    pub async fn list<T: Resource>(
        &self,
        namespace: Option<&str>,
        selector: Option<&str>,
    ) -> Result<(Vec<T>, u64), ClientError> {
        let (items, revision) = self.list_raw(T::KIND, namespace, selector).await?;
        decode_all(items, revision)
    }

    /// The pods bound to `node`, in every namespace: all a node agent may list.
    pub async fn pods_on_node(&self, node: &str) -> Result<(Vec<Pod>, u64), ClientError> {
        let (items, revision) = self
            .list_request(Request::List {
                kind: Kind::Pod,
                namespace: None,
                selector: None,
                node_name: Some(node.to_string()),
            })
            .await?;
        decode_all(items, revision)
    }

    pub async fn list_raw(
        &self,
        kind: Kind,
        namespace: Option<&str>,
        selector: Option<&str>,
    ) -> Result<(Vec<RawObject>, u64), ClientError> {
        self.list_request(Request::List {
            kind,
            namespace: namespace.map(str::to_string),
            selector: selector.map(str::to_string),
            node_name: None,
        })
        .await
    }

    async fn list_request(&self, request: Request) -> Result<(Vec<RawObject>, u64), ClientError> {
        match self.call(request).await? {
            Response::List { items, revision } => Ok((items, revision)),
            other => Err(ClientError::Unexpected {
                call: "list",
                got: other.kind_name(),
            }),
        }
    }

    /// Sends a certificate request (`Join` or `RenewCertificate`); returns (cert, CA) in PEM.
    pub async fn certificate(&self, request: Request) -> Result<(String, String), ClientError> {
        match self.call(request).await? {
            Response::Certificate { cert_pem, ca_pem } => Ok((cert_pem, ca_pem)),
            other => Err(ClientError::Unexpected {
                call: "certificate",
                got: other.kind_name(),
            }),
        }
    }

    /// Revokes every certificate issued to `node`; returns how many there were.
    pub async fn revoke_node(&self, node: &str) -> Result<usize, ClientError> {
        let request = Request::RevokeNode {
            node_name: node.to_string(),
        };
        match self.call(request).await? {
            Response::Revoked { certificates } => Ok(certificates),
            other => Err(ClientError::Unexpected {
                call: "revoke",
                got: other.kind_name(),
            }),
        }
    }

    /// Revokes every certificate of the operator `name`; returns how many there were.
    pub async fn revoke_user(&self, name: &str) -> Result<usize, ClientError> {
        let request = Request::RevokeUser {
            name: name.to_string(),
        };
        match self.call(request).await? {
            Response::Revoked { certificates } => Ok(certificates),
            other => Err(ClientError::Unexpected {
                call: "revoke user",
                got: other.kind_name(),
            }),
        }
    }

    /// Operators' certificates that have not expired.
    pub async fn list_users(&self) -> Result<Vec<CertificateRecord>, ClientError> {
        match self.call(Request::ListUsers).await? {
            Response::Certificates(records) => Ok(records),
            other => Err(ClientError::Unexpected {
                call: "list users",
                got: other.kind_name(),
            }),
        }
    }

    pub async fn create<T: Resource>(&self, object: &T) -> Result<T, ClientError> {
        let request = Request::Create {
            object: typed(object),
        };
        self.object("create", request).await
    }

    pub async fn update<T: Resource>(&self, object: &T) -> Result<T, ClientError> {
        let request = Request::Update {
            object: typed(object),
        };
        self.object("update", request).await
    }

    pub async fn update_status<T: Resource>(&self, object: &T) -> Result<T, ClientError> {
        let request = Request::UpdateStatus {
            object: typed(object),
        };
        self.object("update status", request).await
    }

    /// [`ApiClient::get`] for a kind known only at run time.
    pub async fn get_object(
        &self,
        kind: Kind,
        namespace: &str,
        name: &str,
    ) -> Result<Object, ClientError> {
        let request = Request::Get {
            kind,
            namespace: namespace.to_string(),
            name: name.to_string(),
        };
        self.any_object("get", request).await
    }

    /// [`ApiClient::update`] for a kind known only at run time.
    pub async fn update_object(&self, object: &Object) -> Result<Object, ClientError> {
        let request = Request::Update {
            object: RawObject(object.to_json()),
        };
        self.any_object("update", request).await
    }

    async fn any_object(
        &self,
        call: &'static str,
        request: Request,
    ) -> Result<Object, ClientError> {
        match self.call(request).await? {
            Response::Object(raw) => decode_object(call, &raw),
            other => Err(ClientError::Unexpected {
                call,
                got: other.kind_name(),
            }),
        }
    }

    /// Creates the object or replaces its labels, annotations and spec.
    pub async fn apply(&self, object: &Object) -> Result<(Object, Outcome), ClientError> {
        let request = Request::Apply {
            object: RawObject(object.to_json()),
        };
        match self.call(request).await? {
            Response::Applied { object, outcome } => Ok((
                Object::from_json(&object.0)
                    .map_err(|e| ApiError::internal(format!("decoding applied object: {e}")))?,
                outcome,
            )),
            other => Err(ClientError::Unexpected {
                call: "apply",
                got: other.kind_name(),
            }),
        }
    }

    pub async fn bind(&self, namespace: &str, name: &str, node: &str) -> Result<(), ClientError> {
        let request = Request::Bind {
            namespace: namespace.to_string(),
            name: name.to_string(),
            node: node.to_string(),
        };
        self.call(request).await.map(drop)
    }

    /// Deletes an object and returns it as it was (pods on a node: marked for graceful deletion).
    pub async fn delete(
        &self,
        kind: Kind,
        namespace: &str,
        name: &str,
        grace_period_seconds: Option<i64>,
    ) -> Result<RawObject, ClientError> {
        let options = DeleteOptions::grace(grace_period_seconds);
        self.delete_with(kind, namespace, name, options).await
    }

    /// [`ApiClient::delete`] with every option: propagation to dependents, preconditions.
    /// Returns the object as it was, or as marked when it waits for finalizers.
    pub async fn delete_with(
        &self,
        kind: Kind,
        namespace: &str,
        name: &str,
        options: DeleteOptions,
    ) -> Result<RawObject, ClientError> {
        let request = Request::Delete {
            kind,
            namespace: namespace.to_string(),
            name: name.to_string(),
            options,
        };
        match self.call(request).await? {
            Response::Object(raw) => Ok(raw),
            other => Err(ClientError::Unexpected {
                call: "delete",
                got: other.kind_name(),
            }),
        }
    }

    /// Evicts a pod: deletes it if its disruption budget allows, else fails with
    /// TooManyRequests, which the caller retries later.
    pub async fn evict(
        &self,
        namespace: &str,
        name: &str,
        options: DeleteOptions,
    ) -> Result<(), ClientError> {
        let request = Request::Evict {
            namespace: namespace.to_string(),
            name: name.to_string(),
            options,
        };
        self.call(request).await.map(drop)
    }

    /// Watches a kind from `after_revision` (0: the current objects first, as `Added`). Over
    /// QUIC, a lost connection is reopened with backoff and the watch resumes after the last
    /// change it delivered, so each change arrives once (a break during that first listing
    /// lists again). The receiver ends when the server ends the watch, or after an error
    /// nothing can retry.
    pub async fn watch<T: Resource + DeserializeOwned>(
        &self,
        namespace: Option<&str>,
        after_revision: u64,
        node_name: Option<&str>,
    ) -> Result<mpsc::Receiver<Result<Watched<T>, ClientError>>, ClientError> {
        let frames = self
            .watch_frames(T::KIND, namespace, after_revision, node_name)
            .await?;
        Ok(forward_events(frames, |event| {
            let object = event.object.decode()?;
            Ok(Watched {
                event: event.event,
                object,
                revision: event.revision,
            })
        }))
    }

    /// [`ApiClient::list`] for a kind known only at run time.
    pub async fn list_objects(
        &self,
        kind: Kind,
        namespace: Option<&str>,
    ) -> Result<(Vec<Object>, u64), ClientError> {
        let (items, revision) = self.list_raw(kind, namespace, None).await?;
        let objects = items
            .iter()
            .map(|raw| decode_object("list", raw))
            .collect::<Result<Vec<_>, _>>()?;
        Ok((objects, revision))
    }

    /// [`ApiClient::watch`] for a kind known only at run time.
    pub async fn watch_objects(
        &self,
        kind: Kind,
        namespace: Option<&str>,
        after_revision: u64,
    ) -> Result<mpsc::Receiver<Result<Watched<Object>, ClientError>>, ClientError> {
        let frames = self
            .watch_frames(kind, namespace, after_revision, None)
            .await?;
        Ok(forward_events(frames, |event| {
            Ok(Watched {
                object: decode_object("watch", &event.object)?,
                event: event.event,
                revision: event.revision,
            })
        }))
    }

    /// Like [`ApiClient::watch`], with each object as the server's JSON.
    pub async fn watch_raw(
        &self,
        kind: Kind,
        namespace: Option<&str>,
        after_revision: u64,
    ) -> Result<mpsc::Receiver<Result<WatchEvent, ClientError>>, ClientError> {
        let frames = self
            .watch_frames(kind, namespace, after_revision, None)
            .await?;
        Ok(forward_events(frames, Ok))
    }

    async fn watch_frames(
        &self,
        kind: Kind,
        namespace: Option<&str>,
        after_revision: u64,
        node_name: Option<&str>,
    ) -> Result<WatchFrames, ClientError> {
        let (namespace, node_name) = (namespace.map(str::to_string), node_name.map(str::to_string));
        let request = move |after_revision| Request::Watch {
            kind,
            namespace: namespace.clone(),
            after_revision,
            node_name: node_name.clone(),
        };
        match &self.backend {
            Backend::Local(..) => Ok(WatchFrames::Local(
                self.stream(request(after_revision)).await?,
            )),
            Backend::Remote(quic) => {
                // The listing's items carry their own, older revisions: resuming from one could
                // skip objects not listed yet. Only the bookmark that ends the listing, and the
                // changes after it, move the point a broken watch resumes from.
                let listed = AtomicBool::new(after_revision != 0);
                let resume_point = move |response: &Response| match response {
                    Response::Bookmark { revision } => {
                        listed.store(true, Ordering::Relaxed);
                        Some(*revision)
                    }
                    Response::Event(event) if listed.load(Ordering::Relaxed) => {
                        Some(event.revision)
                    }
                    _ => None,
                };
                let frames = quic
                    .resuming_stream(after_revision, request, resume_point)
                    .await?;
                Ok(WatchFrames::Resuming(frames))
            }
        }
    }
}

/// A node agent's link to the API server, from [`ApiClient::serve_node`].
pub struct AgentLink(Option<mpsc::Receiver<Result<Response, TransportError>>>);

impl AgentLink {
    /// Resolves when the link is lost for good, with why; in-process, never.
    pub async fn lost(&mut self) -> ClientError {
        let Some(open) = &mut self.0 else {
            return std::future::pending().await;
        };
        loop {
            match open.recv().await {
                Some(Ok(Response::Error(error))) => return ClientError::Api(error),
                // The server answers nothing else on this call.
                Some(Ok(_)) => continue,
                Some(Err(error)) => return error.into(),
                None => return ClientError::NoAnswer,
            }
        }
    }
}

/// Serves the API server's calls on an agent's connection.
struct ServeNodeCalls(NodeCalls);

impl Handler<NodeRequest, Response> for ServeNodeCalls {
    fn handle(&self, _: Peer, request: NodeRequest) -> Responses<Response> {
        (self.0)(request, None)
    }

    fn handle_with_inputs(
        &self,
        peer: Peer,
        request: NodeRequest,
        inputs: Inputs<NodeRequest>,
    ) -> Responses<Response> {
        if !request.takes_inputs() {
            return self.handle(peer, request);
        }
        let (tx, rx) = mpsc::channel(INPUT_BUFFER);
        tokio::spawn(receive_inputs(inputs, tx, |frame| match frame {
            NodeRequest::Input(input) => Some(input),
            _ => None,
        }));
        (self.0)(request, Some(rx))
    }
}

/// Sends `inputs` on a call as the frames `frame` makes of them, then ends them; stops early
/// when the other end stops listening.
pub(crate) async fn send_inputs<Req: serde::Serialize>(
    mut inputs: mpsc::Receiver<Input>,
    mut sender: CallSender<Req>,
    frame: fn(Input) -> Req,
) {
    while let Some(input) = inputs.recv().await {
        if let Err(error) = sender.send(&frame(input)).await {
            tracing::debug!(%error, "the exec's input ended");
            return;
        }
    }
    sender.finish();
}

/// Hands a call's input frames over as the exec inputs `input` reads in them, until they end or
/// nobody takes them; a frame that is no exec input ends them.
pub async fn receive_inputs<Req: serde::de::DeserializeOwned>(
    mut frames: Inputs<Req>,
    inputs: mpsc::Sender<Input>,
    input: fn(Req) -> Option<Input>,
) {
    while let Some(frame) = frames.next().await {
        let Some(next) = input(frame) else {
            tracing::debug!("a call's input frame is no exec input; ending its input");
            return;
        };
        if inputs.send(next).await.is_err() {
            return;
        }
    }
}

/// A watch's responses, from either backend.
enum WatchFrames {
    Local(mpsc::Receiver<Result<Response, ClientError>>),
    Resuming(mpsc::Receiver<Result<Response, TransportError>>),
}

impl WatchFrames {
    /// The next change, passing over bookmarks; an error is the watch's last item.
    async fn next_event(&mut self) -> Option<Result<WatchEvent, ClientError>> {
        loop {
            let response = match self {
                WatchFrames::Local(frames) => frames.recv().await?,
                WatchFrames::Resuming(frames) => frames.recv().await?.map_err(ClientError::from),
            };
            return Some(match response {
                Ok(Response::Event(event)) => Ok(event),
                Ok(Response::Bookmark { .. }) => continue,
                Ok(Response::Error(error)) => Err(ClientError::Api(error)),
                Ok(other) => Err(ClientError::Unexpected {
                    call: "watch",
                    got: other.kind_name(),
                }),
                Err(error) => Err(error),
            });
        }
    }
}

/// Hands each change to the caller as `convert` makes it, until the watch or the caller ends;
/// the first error is the last item.
fn forward_events<T: Send + 'static>(
    mut frames: WatchFrames,
    convert: impl Fn(WatchEvent) -> Result<T, ClientError> + Send + 'static,
) -> mpsc::Receiver<Result<T, ClientError>> {
    let (tx, rx) = mpsc::channel(CALL_BUFFER);
    tokio::spawn(async move {
        while let Some(event) = frames.next_event().await {
            let item = event.and_then(&convert);
            let failed = item.is_err();
            if tx.send(item).await.is_err() || failed {
                break;
            }
        }
    });
    rx
}
