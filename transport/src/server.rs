//! The accepting side: a QUIC endpoint that admits connections within its limits,
//! authenticates each client by its certificate, checks the protocol version and runs one
//! handler call per bidirectional stream.
//!
//! Admission happens before any TLS work (see [`crate::admission`]); a failed handshake is logged
//! once, with the peer's address, and counted in [`ServerStats`]. The calls themselves are served
//! by [`crate::server_call`]. Every task is owned by a `JoinSet`, so shutting the server down
//! leaves nothing running.

use crate::admission::{Denial, Gate, Slot};
use crate::call_inputs::Inputs;
use crate::codec::{FrameError, read_frame_within, write_frame};
use crate::error::TransportError;
use crate::identity::Identity;
use crate::limits::TransportLimits;
use crate::peer_link::{PeerLink, serve_streams};
use crate::pki::{Credentials, certificate_facts_der};
use crate::protocol::{CLOSE_EXPIRED, Hello, PROTOCOL_VERSION, VersionMismatch, check_version};
use crate::responses::Responses;
use crate::revocation::Revocations;
use crate::tls::{self, ClientAuth};
use quinn::{Connection, ConnectionError, Endpoint, Incoming, VarInt};
use rustls_pki_types::CertificateDer;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};
use tokio::task::JoinSet;

/// How long shutdown waits for connections to say goodbye.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);
/// How long a client that failed the version check has to read our answer and hang up.
const MISMATCH_GRACE: Duration = Duration::from_secs(2);
/// A hello is one small integer; anything longer is not a hello.
const HELLO_MAX_BYTES: usize = 16;
/// Connection close code: the server is stopping.
const CLOSE_SHUTDOWN: VarInt = VarInt::from_u32(0);
/// Connection close code: the client certificate carries no identity.
const CLOSE_NO_IDENTITY: VarInt = VarInt::from_u32(1);
/// Connection close code: the protocol hello failed.
const CLOSE_HELLO: VarInt = VarInt::from_u32(2);

/// The authenticated client of a call.
#[derive(Debug, Clone)]
pub struct Peer {
    pub addr: SocketAddr,
    /// From the client certificate, or [`Identity::anonymous`] on a server that allows clients
    /// without one.
    pub identity: Identity,
    /// The client certificate's serial number (big-endian bytes); `None` without a certificate.
    pub serial: Option<Vec<u8>>,
    /// Calls back to the client, on its own connection.
    pub link: PeerLink,
}

/// Serves calls. Unary handlers answer with one response; streaming handlers with a channel or
/// a stream of many. When the client goes away or the call's deadline passes, the
/// [`Responses`] are dropped: a channel's sender sees itself closed (`Sender::closed` lets a
/// handler stop working at once) and a stream is dropped with whatever it holds.
pub trait Handler<Req, Resp>: Send + Sync + 'static {
    fn handle(&self, peer: Peer, req: Req) -> Responses<Resp>;

    /// Serves a call whose caller may send further frames after its request (see
    /// [`Inputs`]); by default there are none to read, and dropping `inputs` says so.
    fn handle_with_inputs(&self, peer: Peer, req: Req, inputs: Inputs<Req>) -> Responses<Resp> {
        drop(inputs);
        self.handle(peer, req)
    }
}

/// How a server admits and authenticates clients. The default requires a certificate from every
/// client and uses the default limits.
#[derive(Clone, Default)]
pub struct ServerOptions {
    pub limits: TransportLimits,
    /// Also accept clients without a certificate (for joining nodes). They reach the handler as
    /// [`Identity::anonymous`], which should be allowed nothing but the join call.
    pub allow_anonymous: bool,
    /// Revoked client certificates: refused at the handshake and at every call, and their live
    /// connections closed as soon as they are revoked.
    pub revocations: Option<Arc<Revocations>>,
}

/// What a server has done with connection attempts since it was bound.
#[derive(Debug, Default)]
pub struct ServerStats {
    accepted: AtomicU64,
    refused: AtomicU64,
    retried: AtomicU64,
    handshake_failures: AtomicU64,
}

impl ServerStats {
    /// Connections whose TLS handshake completed.
    pub fn accepted(&self) -> u64 {
        self.accepted.load(Ordering::Relaxed)
    }

    /// Attempts refused before the handshake by the per-address or handshake limits.
    pub fn refused(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }

    /// Attempts asked to prove their address first (QUIC retry).
    pub fn retried(&self) -> u64 {
        self.retried.load(Ordering::Relaxed)
    }

    /// Handshakes that failed (certificate, CA, revocation, name or protocol problems).
    pub fn handshake_failures(&self) -> u64 {
        self.handshake_failures.load(Ordering::Relaxed)
    }
}

fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

/// What every connection task of one server shares.
struct Shared {
    limits: TransportLimits,
    allow_anonymous: bool,
    revocations: Option<Arc<Revocations>>,
    stats: Arc<ServerStats>,
    gate: Arc<Gate>,
}

/// A bound QUIC endpoint waiting to serve.
pub struct Server {
    endpoint: Endpoint,
    local_addr: SocketAddr,
    shared: Arc<Shared>,
}

impl Server {
    /// Opens a QUIC endpoint on `addr` presenting `creds`, requiring client certificates signed
    /// by `creds.ca_pem`, with the default options. Must be called inside a tokio runtime.
    pub fn bind(addr: SocketAddr, creds: &Credentials) -> Result<Server, TransportError> {
        Server::bind_with(addr, creds, ServerOptions::default())
    }

    /// Like [`Server::bind`], with the given limits and client authentication options.
    pub fn bind_with(
        addr: SocketAddr,
        creds: &Credentials,
        options: ServerOptions,
    ) -> Result<Server, TransportError> {
        let auth = ClientAuth {
            allow_anonymous: options.allow_anonymous,
            revoked: options.revocations.clone(),
        };
        let config = tls::server_config(creds, auth, &options.limits)?;
        let endpoint = Endpoint::server(config, addr)
            .map_err(|source| TransportError::Bind { addr, source })?;
        let local_addr = endpoint
            .local_addr()
            .map_err(|source| TransportError::Bind { addr, source })?;
        Ok(Server {
            endpoint,
            local_addr,
            shared: Arc::new(Shared {
                limits: options.limits,
                allow_anonymous: options.allow_anonymous,
                revocations: options.revocations,
                stats: Arc::default(),
                gate: Arc::default(),
            }),
        })
    }

    /// The address the endpoint is bound to (with the real port when bound to port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The server's counters, live; keep the handle to read them while it serves.
    pub fn stats(&self) -> Arc<ServerStats> {
        self.shared.stats.clone()
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
                    Some(incoming) => match self.admit(&incoming) {
                        Ok(slot) => {
                            connections.spawn(serve_connection(
                                incoming,
                                slot,
                                self.shared.clone(),
                                handler.clone(),
                            ));
                        }
                        Err(denial) => self.turn_away(incoming, denial),
                    },
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

    /// A slot for the attempt when the limits allow it now.
    fn admit(&self, incoming: &Incoming) -> Result<Slot, Denial> {
        self.shared.gate.admit(
            &self.shared.limits,
            incoming.remote_address().ip(),
            incoming.remote_address_validated(),
        )
    }

    /// Asks an attempt the limits did not allow to prove its address, or refuses it.
    fn turn_away(&self, incoming: Incoming, denial: Denial) {
        let remote = incoming.remote_address();
        match denial {
            Denial::Retry => {
                bump(&self.shared.stats.retried);
                if let Err(err) = incoming.retry() {
                    tracing::debug!(%remote, "cannot ask for a retry; refusing");
                    bump(&self.shared.stats.refused);
                    err.into_incoming().refuse();
                }
            }
            Denial::Refuse(reason) => {
                bump(&self.shared.stats.refused);
                tracing::warn!(%remote, reason = reason.describe(), "refusing connection");
                incoming.refuse();
            }
        }
    }
}

/// Completes the handshake, identifies the client, checks its protocol version and serves its
/// calls until the connection ends. The slot is held for the connection's whole life.
async fn serve_connection<Req, Resp, H>(
    incoming: Incoming,
    mut slot: Slot,
    shared: Arc<Shared>,
    handler: Arc<H>,
) where
    Req: DeserializeOwned + Send + 'static,
    Resp: Serialize + Send + 'static,
    H: Handler<Req, Resp>,
{
    let remote = incoming.remote_address();
    let handshake = incoming.await;
    slot.handshake_done();
    let connection = match handshake {
        Ok(connection) => connection,
        Err(err) => {
            bump(&shared.stats.handshake_failures);
            tracing::warn!(%remote, error = %err, "handshake failed");
            return;
        }
    };
    bump(&shared.stats.accepted);
    let (peer, expires) = match peer_of(&connection, shared.allow_anonymous, &shared.limits) {
        Ok(peer) => peer,
        Err(reason) => {
            tracing::warn!(%remote, reason, "refusing client");
            connection.close(CLOSE_NO_IDENTITY, reason.as_bytes());
            return;
        }
    };
    if let Err(failure) = server_hello(&connection, shared.limits.request_timeout).await {
        tracing::warn!(%remote, identity = %peer.identity, error = %failure, "protocol hello failed");
        if matches!(failure, HelloFailure::Version(_)) {
            // Our answer is on its way; closing now could discard it before the client reads it.
            let _ = tokio::time::timeout(MISMATCH_GRACE, connection.closed()).await;
        }
        connection.close(CLOSE_HELLO, failure.to_string().as_bytes());
        return;
    }
    tracing::debug!(%remote, identity = %peer.identity, "client connected");
    let limits = shared.limits.clone();
    let revocations = shared.revocations.clone();
    let serial = peer.serial.clone();
    let ended = tokio::select! {
        ended = serve_streams(&connection, peer, handler, limits, revocations.zip(serial)) => ended,
        () = expiry(expires) => Some((CLOSE_EXPIRED, "certificate expired".to_owned())),
    };
    if let Some((code, reason)) = ended {
        tracing::info!(%remote, %reason, "closing the connection");
        connection.close(code, reason.as_bytes());
    }
}

/// Resolves when the client's certificate expires: a connection must not outlive it.
async fn expiry(at: Option<SystemTime>) {
    let Some(at) = at else {
        return std::future::pending().await;
    };
    let left = at.duration_since(SystemTime::now()).unwrap_or_default();
    tokio::time::sleep(left).await;
}

/// Why the protocol hello did not complete.
#[derive(Debug, thiserror::Error)]
enum HelloFailure {
    #[error("no hello within {0:?}")]
    Timeout(Duration),
    #[error("the connection ended before the hello: {0}")]
    Connection(ConnectionError),
    #[error("unreadable hello: {0}")]
    Frame(FrameError),
    #[error("the client ended its hello stream without a hello")]
    Missing,
    #[error(transparent)]
    Version(VersionMismatch),
}

/// Reads the client's hello on the connection's first stream, answers with ours, and compares.
async fn server_hello(connection: &Connection, timeout: Duration) -> Result<(), HelloFailure> {
    let exchange = async {
        let (mut send, mut recv) = connection
            .accept_bi()
            .await
            .map_err(HelloFailure::Connection)?;
        let hello: Hello = read_frame_within(&mut recv, HELLO_MAX_BYTES)
            .await
            .map_err(HelloFailure::Frame)?
            .ok_or(HelloFailure::Missing)?;
        let ours = Hello {
            version: PROTOCOL_VERSION,
        };
        write_frame(&mut send, &ours)
            .await
            .map_err(HelloFailure::Frame)?;
        // Finishing only fails on a stream the client already reset; the check below decides.
        let _ = send.finish();
        check_version(hello.version, PROTOCOL_VERSION).map_err(HelloFailure::Version)
    };
    tokio::time::timeout(timeout, exchange)
        .await
        .map_err(|_| HelloFailure::Timeout(timeout))?
}

/// The identity in the client's verified certificate (or the anonymous identity for a client
/// without one, when allowed) and when that certificate expires; or why the client cannot be
/// served.
fn peer_of(
    connection: &Connection,
    allow_anonymous: bool,
    limits: &TransportLimits,
) -> Result<(Peer, Option<SystemTime>), &'static str> {
    let certs = connection
        .peer_identity()
        .and_then(|any| any.downcast::<Vec<CertificateDer<'static>>>().ok());
    let (identity, facts) = match certs.as_deref().and_then(|certs| certs.first()) {
        Some(leaf) => {
            let identity = Identity::from_cert_der(leaf)
                .map_err(|_| "the client certificate carries no flotilla identity (CN and O)")?;
            let facts = certificate_facts_der(leaf)
                .map_err(|_| "the client certificate cannot be parsed")?;
            (identity, Some(facts))
        }
        None if allow_anonymous => (Identity::anonymous(), None),
        None => return Err("the client presented no certificate"),
    };
    let expires = facts.as_ref().map(|facts| facts.not_after);
    let peer = Peer {
        addr: connection.remote_address(),
        identity,
        serial: facts.map(|facts| facts.serial),
        link: PeerLink::new(connection.clone(), limits.clone()),
    };
    Ok((peer, expires))
}

/// Logs a connection or call task that panicked (a bug in a handler); the others carry on.
pub(crate) fn report_panic(done: Result<(), tokio::task::JoinError>) {
    if let Err(err) = done
        && err.is_panic()
    {
        tracing::error!(error = %err, "a connection or call task panicked");
    }
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
    async fn dropping_the_call_stream_drops_the_server_side_stream() {
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
            .expect("the watch ends once the client drops its call stream")
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
