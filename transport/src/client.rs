//! The calling side: one QUIC connection to one server, shared by every call and reopened
//! lazily after it is lost.
//!
//! A new connection first exchanges the protocol hello, so a version mismatch is reported before
//! any call. Each call then opens its own bidirectional stream, so slow watches never hold up
//! quick calls and a failed call does not take the others down. Unary calls carry a deadline:
//! the client stops waiting when it passes and tells the server, which stops the handler. A
//! streaming call's responses are read off its QUIC stream as the caller asks for them
//! ([`CallStream`]); dropping it stops the stream, which tells the server to end the call.

use crate::backoff::Backoff;
use crate::call_inputs::CallSender;
use crate::call_stream::{CallEnd, CallStream};
use crate::codec::{
    FrameError, encode_frame_within, read_frame_within, write_encoded, write_frame,
};
use crate::error::TransportError;
use crate::identity::Identity;
use crate::limits::TransportLimits;
use crate::peer_link::{PeerLink, serve_streams};
use crate::pki::{CaPin, Credentials};
use crate::protocol::{CallRequest, Hello, PROTOCOL_VERSION, check_version};
use crate::server::{Handler, Peer};
use crate::tls;
use quinn::{Connection, Endpoint, RecvStream, SendStream, VarInt};
use rustls_pki_types::ServerName;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, PoisonError};
use std::time::Duration;
use tokio::sync::{Mutex, watch};
use tokio::time::Instant;

/// How long connecting may take before the server counts as unreachable.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long [`Client::call`] waits for its response.
pub const DEFAULT_CALL_DEADLINE: Duration = Duration::from_secs(30);
/// Connection close code: the server speaks another protocol version.
const CLOSE_VERSION_MISMATCH: VarInt = VarInt::from_u32(2);
/// Close code of a client that is done.
const CLOSE_DONE: VarInt = VarInt::from_u32(0);
/// How long [`Client::close`] waits for its close to be sent.
const CLOSE_GRACE: Duration = Duration::from_secs(1);
/// How often [`Client::close`] looks whether it has been.
const CLOSE_POLL: Duration = Duration::from_millis(1);
/// A hello is one small integer; anything longer is not a hello.
const HELLO_MAX_BYTES: usize = 16;

/// How a client connects and calls. The defaults suit an operator's CLI and a node agent alike.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientOptions {
    pub limits: TransportLimits,
    /// How long connecting (handshake and hello) may take. Default [`DEFAULT_CONNECT_TIMEOUT`].
    pub connect_timeout: Duration,
    /// The deadline of [`Client::call`]. Default [`DEFAULT_CALL_DEADLINE`].
    pub call_deadline: Duration,
    /// The waits between reconnection attempts of [`Client::resuming_stream`].
    pub backoff: Backoff,
}

impl Default for ClientOptions {
    fn default() -> ClientOptions {
        ClientOptions {
            limits: TransportLimits::default(),
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            call_deadline: DEFAULT_CALL_DEADLINE,
            backoff: Backoff::default(),
        }
    }
}

/// A connection to one server, cheap to clone; clones share the connection.
#[derive(Clone)]
pub struct Client {
    shared: Arc<Shared>,
    connect_timeout: Duration,
    version: u32,
}

struct Shared {
    endpoint: Endpoint,
    /// Replaced when the client's certificate is renewed; read at each new connection.
    config: std::sync::RwLock<quinn::ClientConfig>,
    server: SocketAddr,
    server_name: String,
    options: ClientOptions,
    pin: Option<PinCheck>,
    connection: Mutex<Option<Connection>>,
    /// Serves the calls the server opens on each new connection, once the client serves any.
    incoming: std::sync::Mutex<Option<ServeIncoming>>,
    /// Why the server revoked this client's certificate, once it has.
    revoked: watch::Sender<Option<String>>,
}

/// Starts serving the server's calls on a new connection.
type ServeIncoming = Arc<dyn Fn(Connection) + Send + Sync>;

/// The CA pin of a bootstrap client and where its verifier reports what it saw instead.
struct PinCheck {
    pinned: CaPin,
    mismatch: Arc<std::sync::Mutex<Option<String>>>,
}

impl Client {
    /// Prepares a client for `server`, whose certificate must be valid for `server_name` and
    /// signed by `creds.ca_pem`, with the default options. Nothing is sent until the first call.
    /// Must be called inside a tokio runtime.
    pub fn new(
        server: SocketAddr,
        server_name: &str,
        creds: &Credentials,
    ) -> Result<Client, TransportError> {
        Client::with_options(server, server_name, creds, ClientOptions::default())
    }

    /// Like [`Client::new`], with the given options.
    pub fn with_options(
        server: SocketAddr,
        server_name: &str,
        creds: &Credentials,
        options: ClientOptions,
    ) -> Result<Client, TransportError> {
        check_server_name(server_name)?;
        let config = tls::client_config(creds, &options.limits)?;
        Client::build(server, server_name, config, options, None)
    }

    /// A client without a certificate, for a node that has not joined yet: it trusts the server
    /// only if the server's CA certificate hashes to `ca_pin` (see [`crate::pki::ca_pin`]). The
    /// server must allow anonymous clients, and will let them make only the join call.
    pub fn bootstrap(
        server: SocketAddr,
        server_name: &str,
        ca_pin: CaPin,
        options: ClientOptions,
    ) -> Result<Client, TransportError> {
        check_server_name(server_name)?;
        let mismatch = Arc::default();
        let config = tls::pinned_client_config(ca_pin, &options.limits, Arc::clone(&mismatch))?;
        let pin = PinCheck {
            pinned: ca_pin,
            mismatch,
        };
        Client::build(server, server_name, config, options, Some(pin))
    }

    fn build(
        server: SocketAddr,
        server_name: &str,
        config: quinn::ClientConfig,
        options: ClientOptions,
        pin: Option<PinCheck>,
    ) -> Result<Client, TransportError> {
        let local: SocketAddr = match server {
            SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
            SocketAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
        };
        let endpoint = Endpoint::client(local).map_err(|source| TransportError::Bind {
            addr: local,
            source,
        })?;
        Ok(Client {
            connect_timeout: options.connect_timeout,
            version: PROTOCOL_VERSION,
            shared: Arc::new(Shared {
                endpoint,
                config: std::sync::RwLock::new(config),
                server,
                server_name: server_name.to_owned(),
                options,
                pin,
                connection: Mutex::new(None),
                incoming: std::sync::Mutex::new(None),
                revoked: watch::Sender::new(None),
            }),
        })
    }

    /// Switches to new credentials (a renewed certificate): calls from now on go over a new
    /// connection that presents them, while streams already open on the old connection run to
    /// their end. Clones of this client switch too.
    pub async fn set_credentials(&self, creds: &Credentials) -> Result<(), TransportError> {
        let config = tls::client_config(creds, &self.shared.options.limits)?;
        match self.shared.config.write() {
            Ok(mut slot) => *slot = config,
            Err(poisoned) => *poisoned.into_inner() = config,
        }
        // Forget the old connection without closing it: its open streams keep it alive.
        self.shared.connection.lock().await.take();
        Ok(())
    }

    /// Closes the connection and waits (briefly) until the close is on the wire, so a
    /// short-lived client such as one CLI command does not leave the server holding a connection
    /// until its idle timeout — which would count against the connections allowed from this
    /// address. It does not wait out QUIC's draining period (three probe timeouts, about 80 ms
    /// even on loopback), which only serves to answer a peer that missed the close.
    pub async fn close(&self) {
        let connection = self.shared.connection.lock().await.take();
        if let Some(connection) = connection.filter(|c| c.close_reason().is_none()) {
            let sent = connection.stats().udp_tx.datagrams;
            connection.close(CLOSE_DONE, b"done");
            // Quinn says nothing when the close leaves, but it is the next datagram sent.
            let close_sent = async {
                while connection.stats().udp_tx.datagrams == sent {
                    tokio::time::sleep(CLOSE_POLL).await;
                }
            };
            let _ = tokio::time::timeout(CLOSE_GRACE, close_sent).await;
        }
        self.shared.endpoint.close(CLOSE_DONE, b"done");
    }

    /// Serves the calls the server opens on this client's connection with `handler`, on the
    /// current connection and on every later one (see [`crate::PeerLink`]). The caller is the
    /// server; its identity is the name the client dialled, with the role `server`.
    pub async fn serve_incoming<Req, Resp, H>(&self, handler: Arc<H>)
    where
        Req: DeserializeOwned + Send + 'static,
        Resp: Serialize + Send + 'static,
        H: Handler<Req, Resp>,
    {
        let limits = self.shared.options.limits.clone();
        let server = Identity::new(self.shared.server_name.clone(), "server");
        let serve: ServeIncoming = Arc::new(move |connection: Connection| {
            let peer = Peer {
                addr: connection.remote_address(),
                identity: server.clone(),
                serial: None,
                link: PeerLink::new(connection.clone(), limits.clone()),
            };
            let (handler, limits) = (Arc::clone(&handler), limits.clone());
            // The task ends with the connection, which the client closes when it is done.
            tokio::spawn(async move {
                serve_streams(&connection, peer, handler, limits, None).await;
            });
        });
        let slot = self.shared.connection.lock().await;
        if let Some(connection) = slot.as_ref().filter(|c| c.close_reason().is_none()) {
            serve(connection.clone());
        }
        *self
            .shared
            .incoming
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(serve);
    }

    /// Resolves once the server has revoked this client's certificate (it closed the
    /// connection saying so, or refused the handshake), with the reason: nothing this client
    /// does will work again until it has a new certificate.
    pub async fn revoked(&self) -> String {
        let mut revoked = self.shared.revoked.subscribe();
        match revoked.wait_for(Option::is_some).await {
            Ok(reason) => reason.clone().unwrap_or_default(),
            // The sender lives as long as this client: unreachable, but never a false alarm.
            Err(_) => std::future::pending().await,
        }
    }

    /// Sets how long connecting may take before the server counts as unreachable.
    pub fn with_connect_timeout(mut self, timeout: Duration) -> Client {
        self.connect_timeout = timeout;
        self
    }

    /// The server this client talks to.
    pub fn server(&self) -> SocketAddr {
        self.shared.server
    }

    /// The options this client was made with.
    pub fn options(&self) -> &ClientOptions {
        &self.shared.options
    }

    /// Makes a unary call with the default deadline (`ClientOptions::call_deadline`).
    pub async fn call<Req: Serialize, Resp: DeserializeOwned>(
        &self,
        req: &Req,
    ) -> Result<Resp, TransportError> {
        self.call_within(req, self.shared.options.call_deadline)
            .await
    }

    /// Makes a unary call that gives up after `deadline`: the server learns the deadline with the
    /// request and stops the handler when it passes. Dropping the returned future cancels the
    /// call on the server too.
    pub async fn call_within<Req: Serialize, Resp: DeserializeOwned>(
        &self,
        req: &Req,
        deadline: Duration,
    ) -> Result<Resp, TransportError> {
        let expires = Instant::now().checked_add(deadline);
        let attempt = async {
            let mut recv = self.open_call(req, expires).await?;
            match read_frame_within(&mut recv, self.shared.options.limits.max_frame_bytes).await {
                Ok(Some(response)) => Ok(response),
                Ok(None) => Err(TransportError::NoResponse {
                    addr: self.shared.server,
                }),
                Err(err) => Err(self.call_frame_error("response", err)),
            }
        };
        match expires {
            Some(expires) => tokio::time::timeout_at(expires, attempt)
                .await
                .unwrap_or(Err(TransportError::DeadlineExceeded {
                    addr: self.shared.server,
                    deadline,
                })),
            None => attempt.await,
        }
    }

    /// Makes a server-streaming call. Responses arrive from [`CallStream::recv`] until the
    /// server ends the call; a transport failure mid-stream arrives as one `Err` item. Dropping
    /// the stream stops the call on the server.
    pub async fn stream<Req, Resp>(&self, req: &Req) -> Result<CallStream<Resp>, TransportError>
    where
        Req: Serialize,
        Resp: DeserializeOwned,
    {
        let recv = self.open_call(req, None).await?;
        let max_frame_bytes = self.shared.options.limits.max_frame_bytes;
        Ok(CallStream::new(
            recv,
            CallEnd::Server(self.clone()),
            max_frame_bytes,
        ))
    }

    /// Opens a streaming call whose handler also reads further frames from the caller (see
    /// [`CallSender`]): an exec's standard input.
    pub async fn stream_with_inputs<Req, Resp>(
        &self,
        req: &Req,
    ) -> Result<(CallSender<Req>, CallStream<Resp>), TransportError>
    where
        Req: Serialize,
        Resp: DeserializeOwned,
    {
        let (send, recv) = self.send_request(req, None).await?;
        let max_frame_bytes = self.shared.options.limits.max_frame_bytes;
        Ok((
            CallSender::new(send, self.shared.server, max_frame_bytes),
            CallStream::new(recv, CallEnd::Server(self.clone()), max_frame_bytes),
        ))
    }

    /// Opens a stream on the (possibly new) connection and sends the request on it, with the
    /// time left until `expires`.
    pub(crate) async fn open_call<Req: Serialize>(
        &self,
        req: &Req,
        expires: Option<Instant>,
    ) -> Result<RecvStream, TransportError> {
        let (mut send, recv) = self.send_request(req, expires).await?;
        // finish only fails on a stream already finished or reset, and this one is fresh.
        let _ = send.finish();
        Ok(recv)
    }

    /// Opens a stream and sends the request on it, leaving the stream's sending side open.
    async fn send_request<Req: Serialize>(
        &self,
        req: &Req,
        expires: Option<Instant>,
    ) -> Result<(SendStream, RecvStream), TransportError> {
        let connection = self.connection().await?;
        let remaining = expires.map(|at| at.saturating_duration_since(Instant::now()));
        let frame = encode_frame_within(
            &CallRequest::new(req, remaining),
            self.shared.options.limits.max_frame_bytes,
        )
        .map_err(|err| self.call_frame_error("request", err))?;
        let (mut send, recv) = connection
            .open_bi()
            .await
            .map_err(|err| self.connection_error(err))?;
        write_encoded(&mut send, &frame)
            .await
            .map_err(|err| self.call_frame_error("request", err))?;
        Ok((send, recv))
    }

    /// The live connection, opening a new one if there is none or the last one was lost.
    async fn connection(&self) -> Result<Connection, TransportError> {
        let mut slot = self.shared.connection.lock().await;
        if let Some(connection) = slot.as_ref().filter(|c| c.close_reason().is_none()) {
            return Ok(connection.clone());
        }
        let addr = self.shared.server;
        let connection = tokio::time::timeout(self.connect_timeout, self.connect())
            .await
            .map_err(|_| TransportError::Unreachable {
                addr,
                timeout: self.connect_timeout,
            })??;
        let serve = self
            .shared
            .incoming
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        if let Some(serve) = serve {
            serve(connection.clone());
        }
        *slot = Some(connection.clone());
        Ok(connection)
    }

    /// Opens a connection and exchanges the protocol hello on it.
    async fn connect(&self) -> Result<Connection, TransportError> {
        let addr = self.shared.server;
        let config = match self.shared.config.read() {
            Ok(config) => config.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        };
        let connection = self
            .shared
            .endpoint
            .connect_with(config, addr, &self.shared.server_name)
            .map_err(|source| TransportError::Connect { addr, source })?
            .await
            .map_err(|err| self.handshake_error(err))?;
        let (mut send, mut recv) = connection
            .open_bi()
            .await
            .map_err(|err| self.connection_error(err))?;
        write_frame(
            &mut send,
            &Hello {
                version: self.version,
            },
        )
        .await
        .map_err(|err| self.frame_error(err))?;
        // finish only fails on a stream already finished or reset, and this one is fresh.
        let _ = send.finish();
        let reply: Hello = read_frame_within(&mut recv, HELLO_MAX_BYTES)
            .await
            .map_err(|err| self.frame_error(err))?
            .ok_or(TransportError::NoResponse { addr })?;
        if let Err(mismatch) = check_version(self.version, reply.version) {
            connection.close(CLOSE_VERSION_MISMATCH, b"protocol version mismatch");
            return Err(TransportError::VersionMismatch { addr, mismatch });
        }
        Ok(connection)
    }

    /// Explains a failed handshake, naming the CA a pinned client saw instead of its pin.
    fn handshake_error(&self, err: quinn::ConnectionError) -> TransportError {
        if let Some(pin) = &self.shared.pin {
            let presented = pin
                .mismatch
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take();
            if let Some(presented) = presented {
                return TransportError::CaPinMismatch {
                    addr: self.shared.server,
                    pinned: pin.pinned.to_string(),
                    presented,
                };
            }
        }
        self.connection_error(err)
    }

    fn connection_error(&self, err: quinn::ConnectionError) -> TransportError {
        self.noted(TransportError::from_connection(
            self.shared.server,
            &self.shared.server_name,
            err,
        ))
    }

    fn frame_error(&self, err: FrameError) -> TransportError {
        self.noted(TransportError::from_frame(
            self.shared.server,
            &self.shared.server_name,
            err,
        ))
    }

    pub(crate) fn call_frame_error(&self, what: &'static str, err: FrameError) -> TransportError {
        self.noted(TransportError::from_call_frame(
            self.shared.server,
            &self.shared.server_name,
            what,
            err,
        ))
    }

    /// Remembers a revocation for [`Client::revoked`]; every error of a call passes here.
    fn noted(&self, err: TransportError) -> TransportError {
        if err.is_revoked() {
            let reason = match &err {
                TransportError::Revoked { reason, .. } => reason.clone(),
                _ => "the certificate was refused as revoked".to_owned(),
            };
            self.shared.revoked.send_if_modified(|revoked| {
                let first = revoked.is_none();
                revoked.get_or_insert(reason);
                first
            });
        }
        err
    }

    /// Speaks another protocol version, to test how both ends handle a mismatch.
    #[cfg(test)]
    pub(crate) fn speaking(mut self, version: u32) -> Client {
        self.version = version;
        self
    }
}

fn check_server_name(server_name: &str) -> Result<(), TransportError> {
    ServerName::try_from(server_name)
        .map(drop)
        .map_err(|_| TransportError::InvalidServerName {
            name: server_name.to_owned(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::Identity;
    use crate::pki::ClusterPki;
    use crate::test_support::{Cluster, DAY, DEADLINE, Request, Response, RunningServer};
    use time::OffsetDateTime;

    #[tokio::test]
    async fn many_unary_and_streaming_calls_run_concurrently_on_one_client() {
        let cluster = Cluster::new();
        let server = RunningServer::start(&cluster.server);
        let client = Client::new(server.addr, "api.flotilla.test", &cluster.admin).unwrap();

        let unary = (0..40).map(|i| {
            let client = client.clone();
            tokio::spawn(async move {
                let response: Response = client.call(&Request::Echo(format!("msg {i}"))).await?;
                Ok::<_, TransportError>((i, response))
            })
        });
        let streams = (0..10u32).map(|i| {
            let client = client.clone();
            tokio::spawn(async move {
                let mut rx = client
                    .stream::<_, Response>(&Request::Count(100 + i))
                    .await?;
                let mut items = Vec::new();
                while let Some(item) = rx.recv().await {
                    items.push(item?);
                }
                Ok::<_, TransportError>((i, items))
            })
        });
        let unary: Vec<_> = unary.collect();
        let streams: Vec<_> = streams.collect();

        for task in unary {
            let (i, response) = tokio::time::timeout(DEADLINE, task)
                .await
                .unwrap()
                .unwrap()
                .unwrap();
            assert_eq!(
                response,
                Response::Echo {
                    text: format!("msg {i}"),
                    from: Identity::new("admin", "admin")
                }
            );
        }
        for task in streams {
            let (i, items) = tokio::time::timeout(DEADLINE, task)
                .await
                .unwrap()
                .unwrap()
                .unwrap();
            let expected: Vec<Response> = (0..100 + i).map(Response::Item).collect();
            assert_eq!(items, expected);
        }
        server.stop().await;
    }

    #[tokio::test]
    async fn server_signed_by_another_ca_gives_a_clear_error() {
        let cluster = Cluster::new();
        let impostor = ClusterPki::create(OffsetDateTime::now_utc()).unwrap();
        let server = RunningServer::start(&impostor.issue_server(&[], DAY).unwrap());
        let client = Client::new(server.addr, "localhost", &cluster.admin).unwrap();
        let err = client
            .call::<_, Response>(&Request::Echo("hi".into()))
            .await
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "TLS handshake with {} failed: server certificate is not signed by the cluster CA in the config",
                server.addr
            )
        );
        server.stop().await;
    }

    #[tokio::test]
    async fn server_certificate_for_another_name_is_refused() {
        let cluster = Cluster::new();
        let server = RunningServer::start(&cluster.server);
        let client = Client::new(server.addr, "elsewhere.example", &cluster.admin).unwrap();
        let err = client
            .call::<_, Response>(&Request::Echo("hi".into()))
            .await
            .unwrap_err();
        assert!(
            matches!(&err, TransportError::ServerCertRejected { server_name, .. } if server_name == "elsewhere.example"),
            "{err}"
        );
        server.stop().await;
    }

    #[tokio::test]
    async fn expired_server_certificate_is_refused() {
        let cluster = Cluster::new();
        let long_ago = OffsetDateTime::now_utc() - time::Duration::days(3);
        let expired = cluster.pki.issue_server_at(&[], long_ago, DAY).unwrap();
        let server = RunningServer::start(&expired);
        let client = Client::new(server.addr, "localhost", &cluster.admin).unwrap();
        let err = client
            .call::<_, Response>(&Request::Echo("hi".into()))
            .await
            .unwrap_err();
        assert!(
            matches!(err, TransportError::ServerCertExpired { .. }),
            "{err}"
        );
        server.stop().await;
    }

    #[tokio::test]
    async fn silent_server_is_unreachable_after_the_connect_timeout() {
        let cluster = Cluster::new();
        let black_hole = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = black_hole.local_addr().unwrap();
        let timeout = Duration::from_millis(300);
        let client = Client::new(addr, "localhost", &cluster.admin)
            .unwrap()
            .with_connect_timeout(timeout);
        let err = client
            .call::<_, Response>(&Request::Echo("anyone?".into()))
            .await
            .unwrap_err();
        assert!(
            matches!(err, TransportError::Unreachable { addr: a, timeout: t } if a == addr && t == timeout),
            "{err}"
        );
    }

    #[tokio::test]
    async fn unary_call_without_a_response_is_an_error() {
        let cluster = Cluster::new();
        let server = RunningServer::start(&cluster.server);
        let client = Client::new(server.addr, "localhost", &cluster.admin).unwrap();
        let err = client
            .call::<_, Response>(&Request::Silent)
            .await
            .unwrap_err();
        assert!(matches!(err, TransportError::NoResponse { .. }), "{err}");
        server.stop().await;
    }

    #[tokio::test]
    async fn client_reconnects_after_the_server_restarts() {
        let cluster = Cluster::new();
        let server = RunningServer::start(&cluster.server);
        let addr = server.addr;
        let client = Client::new(addr, "localhost", &cluster.admin).unwrap();
        let _: Response = client.call(&Request::Echo("before".into())).await.unwrap();
        server.stop().await;

        let server = RunningServer::start_on(addr, &cluster.server);
        let recovered = tokio::time::timeout(DEADLINE, async {
            loop {
                match client
                    .call::<_, Response>(&Request::Echo("after".into()))
                    .await
                {
                    Ok(response) => return response,
                    Err(
                        TransportError::ClosedByServer { .. }
                        | TransportError::ConnectionLost { .. },
                    ) => continue,
                    Err(other) => panic!("unexpected error while reconnecting: {other}"),
                }
            }
        })
        .await
        .expect("the client reconnects");
        assert!(matches!(recovered, Response::Echo { .. }));
        server.stop().await;
    }

    #[test]
    fn invalid_server_name_is_refused_up_front() {
        let cluster = Cluster::new();
        let err = Client::new(
            "127.0.0.1:1".parse().unwrap(),
            "not a name!",
            &cluster.admin,
        )
        .err()
        .unwrap();
        assert!(matches!(err, TransportError::InvalidServerName { .. }));
    }
}
