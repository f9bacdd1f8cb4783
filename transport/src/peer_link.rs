//! The calls of one connection, in both directions.
//!
//! A connection's calls are served the same way on either end ([`serve_streams`]): each
//! bidirectional stream the other side opens is one call to a handler. Clients open calls to
//! the server; the server may also open calls to a client that serves them
//! ([`crate::Client::serve_incoming`]), through the client's [`PeerLink`]. That is how the API
//! reaches a node agent: on the connection the agent opened, so the agent needs no listening
//! port and no certificate of its own as a server, and whatever reaches the server (NAT,
//! firewalls) reaches it back.

use std::net::SocketAddr;
use std::sync::Arc;

use quinn::{Connection, SendStream, VarInt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::call_inputs::CallSender;
use crate::call_stream::{CallEnd, CallStream};
use crate::codec::{encode_frame_within, write_encoded};
use crate::error::TransportError;
use crate::limits::TransportLimits;
use crate::protocol::{CLOSE_REVOKED, CallRequest};
use crate::revocation::Revocations;
use crate::server::{Handler, Peer, report_panic};
use crate::server_call::serve_call;

/// The server's handle on one client's connection, to call the client on it.
#[derive(Debug, Clone)]
pub struct PeerLink {
    connection: Connection,
    limits: TransportLimits,
}

impl PeerLink {
    pub(crate) fn new(connection: Connection, limits: TransportLimits) -> PeerLink {
        PeerLink { connection, limits }
    }

    /// The client's address.
    pub fn addr(&self) -> SocketAddr {
        self.connection.remote_address()
    }

    /// Whether the connection is gone; calls on it fail.
    pub fn is_closed(&self) -> bool {
        self.connection.close_reason().is_some()
    }

    /// Opens a streaming call to the client; its responses arrive as from
    /// [`crate::Client::stream`]. Fails if the connection is gone; a client that serves no
    /// calls leaves the call unanswered.
    pub async fn stream<Req: Serialize, Resp: DeserializeOwned>(
        &self,
        request: &Req,
    ) -> Result<CallStream<Resp>, TransportError> {
        let (mut send, answers) = self.open(request).await?;
        // finish only fails on a stream already finished or reset, and this one is fresh.
        let _ = send.finish();
        Ok(answers)
    }

    /// Opens a streaming call to the client whose handler also reads further frames (see
    /// [`CallSender`]).
    pub async fn stream_with_inputs<Req: Serialize, Resp: DeserializeOwned>(
        &self,
        request: &Req,
    ) -> Result<(CallSender<Req>, CallStream<Resp>), TransportError> {
        let (send, answers) = self.open(request).await?;
        Ok((
            CallSender::new(send, self.addr(), self.limits.max_frame_bytes),
            answers,
        ))
    }

    async fn open<Req: Serialize, Resp: DeserializeOwned>(
        &self,
        request: &Req,
    ) -> Result<(SendStream, CallStream<Resp>), TransportError> {
        let end = CallEnd::Peer { addr: self.addr() };
        let frame = encode_frame_within(
            &CallRequest::new(request, None),
            self.limits.max_frame_bytes,
        )
        .map_err(|err| end.frame_error("request", err))?;
        let (mut send, recv) = self
            .connection
            .open_bi()
            .await
            .map_err(|err| TransportError::from_connection(self.addr(), "", err))?;
        write_encoded(&mut send, &frame)
            .await
            .map_err(|err| end.frame_error("request", err))?;
        Ok((
            send,
            CallStream::new(recv, end, self.limits.max_frame_bytes),
        ))
    }
}

/// A certificate whose revocation ends the connection it is used on.
pub(crate) type RevocationGuard = (Arc<Revocations>, Vec<u8>);

/// Serves every call the other side opens on `connection` until the connection ends (`None`),
/// or until `guard`'s certificate is revoked: then no further call is served and the reason to
/// close the connection with is returned. Calls in flight end with it.
pub(crate) async fn serve_streams<Req, Resp, H>(
    connection: &Connection,
    peer: Peer,
    handler: Arc<H>,
    limits: TransportLimits,
    guard: Option<RevocationGuard>,
) -> Option<(VarInt, String)>
where
    Req: DeserializeOwned + Send + 'static,
    Resp: Serialize + Send + 'static,
    H: Handler<Req, Resp>,
{
    let revoked = || {
        let (revocations, serial) = guard.as_ref()?;
        let reason = revocations.reason(serial)?;
        Some((CLOSE_REVOKED, format!("certificate revoked: {reason}")))
    };
    let mut changes = guard
        .as_ref()
        .map(|(revocations, _)| revocations.subscribe());
    let mut calls = JoinSet::new();
    loop {
        tokio::select! {
            stream = connection.accept_bi() => match stream {
                Ok((send, recv)) => {
                    if let Some(close) = revoked() {
                        return Some(close);
                    }
                    calls.spawn(serve_call(send, recv, peer.clone(), handler.clone(), limits.clone()));
                }
                Err(err) => {
                    tracing::debug!(peer = %peer.identity, error = %err, "connection ended");
                    return None;
                }
            },
            () = changed(&mut changes) => {
                if let Some(close) = revoked() {
                    return Some(close);
                }
            }
            Some(done) = calls.join_next(), if !calls.is_empty() => report_panic(done),
        }
    }
}

/// Resolves at the next change of the revocations; never without them.
async fn changed(changes: &mut Option<watch::Receiver<u64>>) {
    match changes {
        Some(receiver) => {
            if receiver.changed().await.is_err() {
                // The revocations are gone (the server is stopping): nothing will change.
                std::future::pending::<()>().await;
            }
        }
        None => std::future::pending().await,
    }
}
