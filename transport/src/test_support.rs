//! Fixtures for the end-to-end tests: a small request/response protocol, a handler that
//! echoes, counts and watches, and a server running on 127.0.0.1:0.

use crate::identity::Identity;
use crate::pki::{ClusterPki, Credentials};
use crate::responses::Responses;
use crate::server::{Handler, Peer, Server, ServerOptions, ServerStats};
use futures_core::Stream;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::sync::{Barrier, mpsc, oneshot};
use tokio::task::JoinHandle;

pub const DAY: Duration = Duration::from_secs(24 * 60 * 60);
/// The longest any test waits for something that should happen promptly.
pub const DEADLINE: Duration = Duration::from_secs(10);
/// The size of each `Chunks` item.
pub const CHUNK: usize = 1024 * 1024;
/// How many `Gather` calls must be in flight together before any is answered.
pub const GATHER: usize = 64;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Request {
    /// Unary: answers with the text and the caller's identity.
    Echo(String),
    /// Streaming: sends 0..n, then ends.
    Count(u32),
    /// Streaming (from a stream the call polls): sends 0, 1, 2, ... until the caller goes away.
    Watch,
    /// Unary: the handler sends nothing.
    Silent,
    /// Unary: never answers; reports on `hang_ended` once the call is cancelled.
    Hang,
    /// Unary: answers only once [`GATHER`] such calls are in flight at the same time.
    Gather,
    /// Streaming: sends the revisions after the given one, until the caller goes away.
    WatchFrom(u64),
    /// Unary: answers with this many bytes.
    Blob(u32),
    /// Streaming: sends this many chunks of [`CHUNK`] bytes.
    Chunks(u32),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Response {
    Echo { text: String, from: Identity },
    Item(u32),
    Revision(u64),
    Blob(Vec<u8>),
}

/// Serves [`Request`]s; reports on `watch_ended` when a watch's stream is dropped.
pub struct TestHandler {
    pub watch_ended: mpsc::UnboundedSender<Peer>,
    pub hang_ended: mpsc::UnboundedSender<Peer>,
    pub gather: Arc<Barrier>,
}

impl TestHandler {
    /// A handler whose reports nobody reads.
    pub fn detached() -> TestHandler {
        let (watch_ended, _) = mpsc::unbounded_channel();
        let (hang_ended, _) = mpsc::unbounded_channel();
        TestHandler {
            watch_ended,
            hang_ended,
            gather: Arc::new(Barrier::new(GATHER)),
        }
    }
}

impl Handler<Request, Response> for TestHandler {
    fn handle(&self, peer: Peer, req: Request) -> Responses<Response> {
        let (tx, rx) = mpsc::channel(4);
        match req {
            Request::Echo(text) => {
                return Responses::one(Response::Echo {
                    text,
                    from: peer.identity,
                });
            }
            Request::Count(n) => {
                tokio::spawn(async move {
                    for i in 0..n {
                        if tx.send(Response::Item(i)).await.is_err() {
                            return;
                        }
                    }
                });
            }
            Request::Watch => {
                return Responses::stream(Endless {
                    next: 0,
                    peer: Some(peer),
                    ended: self.watch_ended.clone(),
                });
            }
            Request::Silent => {}
            Request::Hang => {
                let ended = self.hang_ended.clone();
                tokio::spawn(async move {
                    tx.closed().await;
                    let _ = ended.send(peer);
                });
            }
            Request::Gather => {
                let gather = self.gather.clone();
                tokio::spawn(async move {
                    gather.wait().await;
                    let _ = tx.send(Response::Item(0)).await;
                });
            }
            Request::WatchFrom(after) => {
                tokio::spawn(async move {
                    let mut revision = after + 1;
                    while tx.send(Response::Revision(revision)).await.is_ok() {
                        revision += 1;
                    }
                });
            }
            Request::Chunks(n) => {
                tokio::spawn(async move {
                    for _ in 0..n {
                        if tx.send(Response::Blob(vec![7; CHUNK])).await.is_err() {
                            return;
                        }
                    }
                });
            }
            Request::Blob(len) => return Responses::one(Response::Blob(vec![7; len as usize])),
        }
        Responses::channel(rx)
    }
}

/// A watch that never ends on its own: numbered items, then its peer reported on `ended` when
/// the call drops it.
struct Endless {
    next: u32,
    peer: Option<Peer>,
    ended: mpsc::UnboundedSender<Peer>,
}

impl Stream for Endless {
    type Item = Response;

    fn poll_next(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Response>> {
        let item = self.next;
        self.next += 1;
        Poll::Ready(Some(Response::Item(item)))
    }
}

impl Drop for Endless {
    fn drop(&mut self) {
        if let Some(peer) = self.peer.take() {
            let _ = self.ended.send(peer);
        }
    }
}

/// A running server and the handles to observe and stop it.
pub struct RunningServer {
    pub addr: SocketAddr,
    pub watch_ended: mpsc::UnboundedReceiver<Peer>,
    pub hang_ended: mpsc::UnboundedReceiver<Peer>,
    pub stats: Arc<ServerStats>,
    shutdown: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl RunningServer {
    /// Starts a server presenting `creds` on 127.0.0.1:0.
    pub fn start(creds: &Credentials) -> RunningServer {
        RunningServer::start_on(loopback(), creds)
    }

    pub fn start_on(addr: SocketAddr, creds: &Credentials) -> RunningServer {
        RunningServer::start_with(addr, creds, ServerOptions::default())
    }

    pub fn start_with(
        addr: SocketAddr,
        creds: &Credentials,
        options: ServerOptions,
    ) -> RunningServer {
        let server = Server::bind_with(addr, creds, options).expect("server binds");
        let addr = server.local_addr();
        let stats = server.stats();
        let (ended_tx, watch_ended) = mpsc::unbounded_channel();
        let (hang_tx, hang_ended) = mpsc::unbounded_channel();
        let (shutdown, shutdown_rx) = oneshot::channel::<()>();
        let handler = Arc::new(TestHandler {
            watch_ended: ended_tx,
            hang_ended: hang_tx,
            gather: Arc::new(Barrier::new(GATHER)),
        });
        let task = tokio::spawn(async move {
            server
                .serve(handler, async {
                    let _ = shutdown_rx.await;
                })
                .await
                .expect("server runs");
        });
        RunningServer {
            addr,
            watch_ended,
            hang_ended,
            stats,
            shutdown: Some(shutdown),
            task,
        }
    }

    /// Stops the server and waits for it to finish.
    pub async fn stop(mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        tokio::time::timeout(DEADLINE, &mut self.task)
            .await
            .expect("server stops in time")
            .expect("server task does not panic");
    }
}

/// Waits until `check` holds, failing the test with `what` if it does not within [`DEADLINE`].
pub async fn eventually(what: &str, check: impl Fn() -> bool) {
    let waited = tokio::time::timeout(DEADLINE, async {
        while !check() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    assert!(waited.is_ok(), "timed out waiting until {what}");
}

/// Binds to any free port on loopback.
pub fn loopback() -> SocketAddr {
    "127.0.0.1:0".parse().expect("valid address")
}

/// A cluster CA with server credentials for 127.0.0.1 and an admin client.
pub struct Cluster {
    pub pki: ClusterPki,
    pub server: Credentials,
    pub admin: Credentials,
}

impl Cluster {
    pub fn new() -> Cluster {
        let pki = ClusterPki::create(time::OffsetDateTime::now_utc()).expect("CA is created");
        let server = pki
            .issue_server(&["api.flotilla.test".to_owned()], DAY)
            .expect("server cert is issued");
        let admin = pki
            .issue_client(&Identity::new("admin", "admin"), DAY)
            .expect("client cert is issued");
        Cluster { pki, server, admin }
    }
}
