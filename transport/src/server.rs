//! The accepting side: a QUIC endpoint that authenticates each client by its certificate and
//! runs one handler call per bidirectional stream.
//!
//! A call is one stream: the client sends one request frame and finishes its side; the server
//! answers with response frames and finishes. Unary and server-streaming calls are the same on
//! the wire, a unary handler just sends one item. When the client stops reading, the stream's
//! `stopped` signal ends the call and drops the handler's receiver, so a handler feeding a watch
//! sees its sender closed and can stop. Every task is owned by a `JoinSet`, so shutting the
//! server down leaves nothing running.

use crate::call_abort::CallAbort;
use crate::codec::{encode_frame, read_frame, write_encoded};
use crate::error::TransportError;
use crate::identity::Identity;
use crate::pki::Credentials;
use crate::tls;
use quinn::{Connection, Endpoint, Incoming, RecvStream, SendStream, VarInt};
use rustls_pki_types::CertificateDer;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::JoinSet;

/// How long a client has to send its request once it opened a call.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// How long shutdown waits for connections to say goodbye.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);
/// Connection close code: the server is stopping.
const CLOSE_SHUTDOWN: VarInt = VarInt::from_u32(0);
/// Connection close code: the client certificate carries no identity.
const CLOSE_NO_IDENTITY: VarInt = VarInt::from_u32(1);

/// The authenticated client of a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peer {
    pub addr: SocketAddr,
    pub identity: Identity,
}

/// Serves calls. Unary handlers send exactly one response; streaming handlers send many, then
/// drop the sender. When the client goes away the receiver is dropped, which a handler sees as
/// its sender being closed.
pub trait Handler<Req, Resp>: Send + Sync + 'static {
    fn handle(&self, peer: Peer, req: Req) -> mpsc::Receiver<Resp>;
}

/// A bound QUIC endpoint waiting to serve.
pub struct Server {
    endpoint: Endpoint,
    local_addr: SocketAddr,
}

impl Server {
    /// Opens a QUIC endpoint on `addr` presenting `creds`, requiring client certificates signed
    /// by `creds.ca_pem`. Must be called inside a tokio runtime.
    pub fn bind(addr: SocketAddr, creds: &Credentials) -> Result<Server, TransportError> {
        let config = tls::server_config(creds)?;
        let endpoint = Endpoint::server(config, addr)
            .map_err(|source| TransportError::Bind { addr, source })?;
        let local_addr = endpoint
            .local_addr()
            .map_err(|source| TransportError::Bind { addr, source })?;
        Ok(Server {
            endpoint,
            local_addr,
        })
    }

    /// The address the endpoint is bound to (with the real port when bound to port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Accepts connections until `shutdown` resolves, then closes every connection and waits
    /// briefly for them to close. Each bidirectional stream is one call to `handler`.
    pub async fn serve<Req, Resp, H>(
        self,
        handler: Arc<H>,
        shutdown: impl Future<Output = ()>,
    ) -> Result<(), TransportError>
    where
        Req: DeserializeOwned + Send + 'static,
        Resp: Serialize + Send + 'static,
        H: Handler<Req, Resp>,
    {
        let mut connections = JoinSet::new();
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                () = &mut shutdown => break,
                incoming = self.endpoint.accept() => match incoming {
                    Some(incoming) => {
                        connections.spawn(serve_connection(incoming, handler.clone()));
                    }
                    None => break,
                },
                Some(done) = connections.join_next(), if !connections.is_empty() => report_panic(done),
            }
        }
        self.endpoint.close(CLOSE_SHUTDOWN, b"server shutting down");
        connections.shutdown().await;
        if tokio::time::timeout(SHUTDOWN_GRACE, self.endpoint.wait_idle())
            .await
            .is_err()
        {
            tracing::debug!(addr = %self.local_addr, "connections did not close within the grace period");
        }
        Ok(())
    }
}

/// Completes the handshake, identifies the client and serves its calls until the connection
/// ends.
async fn serve_connection<Req, Resp, H>(incoming: Incoming, handler: Arc<H>)
where
    Req: DeserializeOwned + Send + 'static,
    Resp: Serialize + Send + 'static,
    H: Handler<Req, Resp>,
{
    let remote = incoming.remote_address();
    let connection = match incoming.await {
        Ok(connection) => connection,
        Err(err) => {
            tracing::info!(%remote, error = %err, "QUIC handshake failed");
            return;
        }
    };
    let peer = match peer_of(&connection) {
        Ok(peer) => peer,
        Err(reason) => {
            tracing::warn!(%remote, reason, "refusing client");
            connection.close(CLOSE_NO_IDENTITY, reason.as_bytes());
            return;
        }
    };
    tracing::debug!(%remote, identity = %peer.identity, "client connected");
    let mut calls = JoinSet::new();
    loop {
        tokio::select! {
            stream = connection.accept_bi() => match stream {
                Ok((send, recv)) => {
                    calls.spawn(serve_call(send, recv, peer.clone(), handler.clone()));
                }
                Err(err) => {
                    tracing::debug!(%remote, error = %err, "connection ended");
                    break;
                }
            },
            Some(done) = calls.join_next(), if !calls.is_empty() => report_panic(done),
        }
    }
}

/// The identity in the client's verified certificate, or why there is none.
fn peer_of(connection: &Connection) -> Result<Peer, &'static str> {
    let certs = connection
        .peer_identity()
        .and_then(|any| any.downcast::<Vec<CertificateDer<'static>>>().ok())
        .ok_or("the client presented no certificate")?;
    let leaf = certs.first().ok_or("the client presented no certificate")?;
    let identity = Identity::from_cert_der(leaf)
        .map_err(|_| "the client certificate carries no flotilla identity (CN and O)")?;
    Ok(Peer {
        addr: connection.remote_address(),
        identity,
    })
}

/// What happened while a call was waiting for its next response.
enum Next<Resp> {
    Response(Resp),
    HandlerDone,
    ClientGone,
}

/// Reads the request, runs the handler and streams its responses until it is done or the
/// client stops reading.
async fn serve_call<Req, Resp, H>(
    mut send: SendStream,
    mut recv: RecvStream,
    peer: Peer,
    handler: Arc<H>,
) where
    Req: DeserializeOwned + Send + 'static,
    Resp: Serialize + Send + 'static,
    H: Handler<Req, Resp>,
{
    let request = match tokio::time::timeout(REQUEST_TIMEOUT, read_frame::<_, Req>(&mut recv)).await
    {
        Ok(Ok(Some(request))) => request,
        Ok(Ok(None)) => return abort(&mut send, &peer, CallAbort::NoRequest),
        Ok(Err(err)) => {
            tracing::warn!(peer = %peer.identity, error = %err, "unreadable request");
            return abort(&mut send, &peer, CallAbort::BadRequest);
        }
        Err(_) => return abort(&mut send, &peer, CallAbort::RequestTimeout),
    };
    drop(recv);
    let mut responses = handler.handle(peer.clone(), request);
    loop {
        let next = tokio::select! {
            _ = send.stopped() => Next::ClientGone,
            response = responses.recv() => match response {
                Some(response) => Next::Response(response),
                None => Next::HandlerDone,
            },
        };
        match next {
            Next::Response(response) => {
                let frame = match encode_frame(&response) {
                    Ok(frame) => frame,
                    Err(err) => {
                        tracing::warn!(peer = %peer.identity, error = %err, "cannot encode a response");
                        return abort(&mut send, &peer, CallAbort::ResponseUnencodable);
                    }
                };
                drop(response);
                if let Err(err) = write_encoded(&mut send, &frame).await {
                    tracing::debug!(peer = %peer.identity, error = %err, "call ended while sending");
                    return;
                }
            }
            Next::HandlerDone => {
                // The stream may already be gone if the client reset it; nothing is left to do.
                let _ = send.finish();
                return;
            }
            Next::ClientGone => {
                tracing::debug!(peer = %peer.identity, "client stopped reading; ending the call");
                return;
            }
        }
    }
}

/// Logs a connection or call task that panicked (a bug in a handler); the others carry on.
fn report_panic(done: Result<(), tokio::task::JoinError>) {
    if let Err(err) = done
        && err.is_panic()
    {
        tracing::error!(error = %err, "a connection or call task panicked");
    }
}

/// Ends a call by resetting its stream with `reason`.
fn abort(send: &mut SendStream, peer: &Peer, reason: CallAbort) {
    tracing::debug!(peer = %peer.identity, reason = reason.describe(), "aborting call");
    // A stream the client already closed needs no reset.
    let _ = send.reset(reason.code());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::Client;
    use crate::pki::ClusterPki;
    use crate::test_support::{Cluster, DAY, DEADLINE, Request, Response, RunningServer};
    use time::OffsetDateTime;

    fn localhost_client(server: &RunningServer, creds: &Credentials) -> Client {
        Client::new(server.addr, "localhost", creds).unwrap()
    }

    #[tokio::test]
    async fn handler_sees_the_identity_from_the_client_certificate() {
        let cluster = Cluster::new();
        let server = RunningServer::start(&cluster.server);
        let node = Identity::new("node:rack1-07", "node");
        let creds = cluster.pki.issue_client(&node, DAY).unwrap();
        let response: Response = localhost_client(&server, &creds)
            .call(&Request::Echo("hello".into()))
            .await
            .unwrap();
        assert_eq!(
            response,
            Response::Echo {
                text: "hello".into(),
                from: node
            }
        );
        server.stop().await;
    }

    #[tokio::test]
    async fn client_with_a_certificate_from_another_ca_is_rejected() {
        let cluster = Cluster::new();
        let server = RunningServer::start(&cluster.server);
        let stranger = ClusterPki::create(OffsetDateTime::now_utc()).unwrap();
        let foreign = stranger
            .issue_client(&Identity::new("admin", "admin"), DAY)
            .unwrap();
        let creds = Credentials {
            ca_pem: cluster.pki.ca_pem().to_owned(),
            ..foreign
        };
        let err = localhost_client(&server, &creds)
            .call::<_, Response>(&Request::Echo("let me in".into()))
            .await
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "TLS handshake with {} failed: the server rejected our client certificate: \
                 it is not signed by the server's cluster CA",
                server.addr
            )
        );
        server.stop().await;
    }

    #[tokio::test]
    async fn expired_client_certificate_is_rejected() {
        let cluster = Cluster::new();
        let server = RunningServer::start(&cluster.server);
        let long_ago = OffsetDateTime::now_utc() - time::Duration::days(3);
        let creds = cluster
            .pki
            .issue_client_at(&Identity::new("admin", "admin"), long_ago, DAY)
            .unwrap();
        let err = localhost_client(&server, &creds)
            .call::<_, Response>(&Request::Echo("hi".into()))
            .await
            .unwrap_err();
        assert!(
            matches!(&err, TransportError::ClientCertRejected { reason, .. } if reason.contains("expired")),
            "{err}"
        );
        server.stop().await;
    }

    #[tokio::test]
    async fn dropping_the_stream_receiver_stops_the_server_side_sender() {
        let cluster = Cluster::new();
        let mut server = RunningServer::start(&cluster.server);
        let client = localhost_client(&server, &cluster.admin);
        let mut watch = client.stream::<_, Response>(&Request::Watch).await.unwrap();
        for expected in 0..3 {
            let item = tokio::time::timeout(DEADLINE, watch.recv())
                .await
                .unwrap()
                .unwrap()
                .unwrap();
            assert_eq!(item, Response::Item(expected));
        }
        drop(watch);
        let ended = tokio::time::timeout(DEADLINE, server.watch_ended.recv())
            .await
            .expect("the watch ends once the client drops its receiver")
            .unwrap();
        assert_eq!(ended.identity, Identity::new("admin", "admin"));
        let still_serving: Response = client.call(&Request::Echo("after".into())).await.unwrap();
        assert!(matches!(still_serving, Response::Echo { .. }));
        server.stop().await;
    }

    #[tokio::test]
    async fn undecodable_request_aborts_only_that_call() {
        let cluster = Cluster::new();
        let server = RunningServer::start(&cluster.server);
        let client = localhost_client(&server, &cluster.admin);
        let err = client.call::<_, Response>(&u64::MAX).await.unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "server {} aborted the call: the server could not decode the request",
                server.addr
            )
        );
        let ok: Response = client
            .call(&Request::Echo("still here".into()))
            .await
            .unwrap();
        assert!(matches!(ok, Response::Echo { .. }));
        server.stop().await;
    }

    #[tokio::test]
    async fn shutdown_closes_open_calls() {
        let cluster = Cluster::new();
        let server = RunningServer::start(&cluster.server);
        let client = localhost_client(&server, &cluster.admin);
        let mut watch = client.stream::<_, Response>(&Request::Watch).await.unwrap();
        assert!(watch.recv().await.unwrap().is_ok());
        server.stop().await;
        let ended = tokio::time::timeout(DEADLINE, async {
            while let Some(item) = watch.recv().await {
                if let Err(err) = item {
                    return Some(err);
                }
            }
            None
        })
        .await
        .expect("the stream ends after shutdown");
        assert!(
            matches!(ended, Some(TransportError::ClosedByServer { ref reason, .. }) if reason == "server shutting down"),
            "{ended:?}"
        );
    }
}
