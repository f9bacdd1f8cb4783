//! The calling side: one QUIC connection to one server, shared by every call and reopened
//! lazily after it is lost.
//!
//! Each call opens its own bidirectional stream, so slow watches never hold up quick calls and
//! a failed call does not take the others down. A streaming call's responses are pumped into a
//! bounded channel by a task that also watches for the receiver being dropped: it then stops
//! the QUIC stream, which tells the server to end the call.

use crate::codec::{read_frame, write_frame};
use crate::error::TransportError;
use crate::pki::Credentials;
use crate::tls;
use quinn::{Connection, Endpoint, RecvStream, VarInt};
use rustls_pki_types::ServerName;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Mutex, mpsc};

/// How long connecting may take before the server counts as unreachable.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How many streamed responses may wait for the caller before the server is slowed down.
const STREAM_BUFFER: usize = 64;
/// Stream stop code: the caller no longer wants the responses.
const STOP_CANCELLED: VarInt = VarInt::from_u32(0);

/// A connection to one server, cheap to clone; clones share the connection.
#[derive(Clone)]
pub struct Client {
    shared: Arc<Shared>,
    connect_timeout: Duration,
}

struct Shared {
    endpoint: Endpoint,
    config: quinn::ClientConfig,
    server: SocketAddr,
    server_name: String,
    connection: Mutex<Option<Connection>>,
}

impl Client {
    /// Prepares a client for `server`, whose certificate must be valid for `server_name` and
    /// signed by `creds.ca_pem`. Nothing is sent until the first call. Must be called inside a
    /// tokio runtime.
    pub fn new(
        server: SocketAddr,
        server_name: &str,
        creds: &Credentials,
    ) -> Result<Client, TransportError> {
        ServerName::try_from(server_name).map_err(|_| TransportError::InvalidServerName {
            name: server_name.to_owned(),
        })?;
        let config = tls::client_config(creds)?;
        let local: SocketAddr = match server {
            SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
            SocketAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
        };
        let endpoint = Endpoint::client(local).map_err(|source| TransportError::Bind {
            addr: local,
            source,
        })?;
        Ok(Client {
            shared: Arc::new(Shared {
                endpoint,
                config,
                server,
                server_name: server_name.to_owned(),
                connection: Mutex::new(None),
            }),
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
        })
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

    /// Makes a unary call: sends `req` and returns the single response.
    pub async fn call<Req: Serialize, Resp: DeserializeOwned>(
        &self,
        req: &Req,
    ) -> Result<Resp, TransportError> {
        let mut recv = self.open_call(req).await?;
        match read_frame(&mut recv).await {
            Ok(Some(response)) => Ok(response),
            Ok(None) => Err(TransportError::NoResponse {
                addr: self.shared.server,
            }),
            Err(err) => Err(self.frame_error(err)),
        }
    }

    /// Makes a server-streaming call. Responses arrive on the receiver until the server ends the
    /// call; a transport failure mid-stream arrives as one `Err` item, then the channel closes.
    /// Dropping the receiver stops the call on the server.
    pub async fn stream<Req, Resp>(
        &self,
        req: &Req,
    ) -> Result<mpsc::Receiver<Result<Resp, TransportError>>, TransportError>
    where
        Req: Serialize,
        Resp: DeserializeOwned + Send + 'static,
    {
        let recv = self.open_call(req).await?;
        let (tx, rx) = mpsc::channel(STREAM_BUFFER);
        tokio::spawn(pump_responses(recv, tx, self.clone()));
        Ok(rx)
    }

    /// Opens a stream on the (possibly new) connection and sends the request on it.
    async fn open_call<Req: Serialize>(&self, req: &Req) -> Result<RecvStream, TransportError> {
        let connection = self.connection().await?;
        let (mut send, recv) = connection
            .open_bi()
            .await
            .map_err(|err| self.connection_error(err))?;
        write_frame(&mut send, req)
            .await
            .map_err(|err| self.frame_error(err))?;
        // finish only fails on a stream already finished or reset, and this one is fresh.
        let _ = send.finish();
        Ok(recv)
    }

    /// The live connection, opening a new one if there is none or the last one was lost.
    async fn connection(&self) -> Result<Connection, TransportError> {
        let mut slot = self.shared.connection.lock().await;
        if let Some(connection) = slot.as_ref().filter(|c| c.close_reason().is_none()) {
            return Ok(connection.clone());
        }
        let addr = self.shared.server;
        let connecting = self
            .shared
            .endpoint
            .connect_with(self.shared.config.clone(), addr, &self.shared.server_name)
            .map_err(|source| TransportError::Connect { addr, source })?;
        let connection = tokio::time::timeout(self.connect_timeout, connecting)
            .await
            .map_err(|_| TransportError::Unreachable {
                addr,
                timeout: self.connect_timeout,
            })?
            .map_err(|err| self.connection_error(err))?;
        *slot = Some(connection.clone());
        Ok(connection)
    }

    fn connection_error(&self, err: quinn::ConnectionError) -> TransportError {
        TransportError::from_connection(self.shared.server, &self.shared.server_name, err)
    }

    fn frame_error(&self, err: crate::codec::FrameError) -> TransportError {
        TransportError::from_frame(self.shared.server, &self.shared.server_name, err)
    }
}

/// What happened while waiting for the next streamed response.
enum Next<Resp> {
    Frame(Result<Option<Resp>, crate::codec::FrameError>),
    CallerGone,
}

/// Forwards a streaming call's responses to `tx` until the server ends the call, the call
/// fails, or the caller drops the receiver.
async fn pump_responses<Resp: DeserializeOwned>(
    mut recv: RecvStream,
    tx: mpsc::Sender<Result<Resp, TransportError>>,
    client: Client,
) {
    loop {
        let next = tokio::select! {
            () = tx.closed() => Next::CallerGone,
            frame = read_frame(&mut recv) => Next::Frame(frame),
        };
        let item = match next {
            Next::CallerGone => break,
            Next::Frame(Ok(None)) => return,
            Next::Frame(Ok(Some(response))) => Ok(response),
            Next::Frame(Err(err)) => Err(client.frame_error(err)),
        };
        let failed = item.is_err();
        if tx.send(item).await.is_err() {
            break;
        }
        if failed {
            return;
        }
    }
    // The caller dropped the receiver: tell the server to stop sending. The stream may
    // already be closed, in which case there is nothing to stop.
    let _ = recv.stop(STOP_CANCELLED);
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
