//! `bench transport`: small unary calls and one large stream over flotilla's QUIC+mTLS against
//! the same over TCP with rustls (tokio-rustls), in one process on loopback, with the same
//! certificates, the same frame codec and the runtime the flotilla binary runs on. The TCP peer
//! gives each caller its own connection (one call at a time, as HTTP/1.1 keep-alive would);
//! QUIC multiplexes every caller on one. Last, how soon a client that called a server before it
//! listened gets its answer once it does, with flotilla's initial RTT and with QUIC's default.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow};
use flotilla_integration::{CallFigures, Compared, Reconnect, TransportReport, percentile};
use flotilla_transport::{
    Client, ClientOptions, ClusterPki, Credentials, Handler, Identity, Peer, Responses, Server,
    TransportLimits, read_frame, write_frame,
};
use futures_util::stream;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use serde::{Deserialize, Serialize};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tokio_rustls::{TlsAcceptor, TlsConnector};

/// Payload of a small call, each way.
const SMALL: usize = 32;
/// Calls per caller, per concurrency.
const CALLS: [(usize, usize); 2] = [(1, 5_000), (64, 800)];
const STREAM_BYTES: u64 = 64 << 20;
const CHUNK: usize = 1 << 20;
const VALIDITY: Duration = Duration::from_secs(3600);

#[derive(Debug, Serialize, Deserialize)]
enum Request {
    Echo(#[serde(with = "serde_bytes")] Vec<u8>),
    Stream { bytes: u64 },
}

#[derive(Debug, Serialize, Deserialize)]
enum Response {
    Echo(#[serde(with = "serde_bytes")] Vec<u8>),
    Chunk(#[serde(with = "serde_bytes")] Vec<u8>),
}

pub fn transport() -> Result<TransportReport> {
    flotilla_transport::runtime::build()
        .context("starting the async runtime")?
        .block_on(run())
}

async fn run() -> Result<TransportReport> {
    let dir = tempfile::tempdir().context("a temporary PKI directory")?;
    let pki = ClusterPki::load_or_create(dir.path())?;
    let server_creds = pki.issue_server(&[], VALIDITY)?;
    let client_creds = pki.issue_client(&Identity::new("bench", "admin"), VALIDITY)?;

    let quic = Server::bind("127.0.0.1:0".parse()?, &server_creds)?;
    let quic_addr = quic.local_addr();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let quic_task = tokio::spawn(quic.serve(Arc::new(Answer), async {
        let _ = stopped.await;
    }));
    let tcp_addr = serve_tcp(&server_creds).await?;
    let client = Client::new(quic_addr, "localhost", &client_creds)?;
    let connector = tls_connector(&client_creds)?;

    let mut calls = Vec::new();
    for (callers, per_caller) in CALLS {
        eprintln!("bench: {callers} caller(s), {per_caller} calls each");
        let flotilla = quic_calls(&client, callers, per_caller).await?;
        let tcp_tls = tcp_calls(&connector, tcp_addr, callers, per_caller).await?;
        calls.push((callers, Compared { flotilla, tcp_tls }));
    }
    eprintln!("bench: one {} MiB stream each", STREAM_BYTES >> 20);
    let stream = Compared {
        flotilla: quic_stream(&client).await?,
        tcp_tls: tcp_stream(&connector, tcp_addr).await?,
    };
    let _ = stop.send(());
    let _ = quic_task.await;
    eprintln!("bench: {RECONNECTS} reconnects to a server that starts late, per initial RTT");
    let flotilla_rtt = TransportLimits::default().initial_rtt;
    let reconnect = Reconnect {
        flotilla: reconnect(&server_creds, &client_creds, flotilla_rtt).await?,
        quic_default_initial_rtt: reconnect(&server_creds, &client_creds, QUIC_DEFAULT_RTT).await?,
    };
    Ok(TransportReport {
        calls,
        stream_bytes: STREAM_BYTES,
        stream_mib_per_second: stream,
        reconnect,
    })
}

/// How many times a client calls a server that starts listening only later.
const RECONNECTS: usize = 10;
/// How long the server is away while the client already calls.
const SERVER_AWAY: Duration = Duration::from_millis(200);
/// QUIC's default initial RTT (RFC 9002), sized for the Internet.
const QUIC_DEFAULT_RTT: Duration = Duration::from_millis(333);

/// p50, over [`RECONNECTS`] fresh clients with `initial_rtt`, of the time from a server
/// starting to listen to the answer of a call the client made while it was away: what a node
/// waits after a control plane restarts.
async fn reconnect(
    server_creds: &Credentials,
    client_creds: &Credentials,
    initial_rtt: Duration,
) -> Result<Duration> {
    let mut waits = Vec::with_capacity(RECONNECTS);
    for _ in 0..RECONNECTS {
        let addr = std::net::UdpSocket::bind("127.0.0.1:0")?.local_addr()?;
        let options = ClientOptions {
            limits: TransportLimits {
                initial_rtt,
                ..TransportLimits::default()
            },
            ..ClientOptions::default()
        };
        let client = Client::with_options(addr, "localhost", client_creds, options)?;
        let call = tokio::spawn(async move {
            let answer: Result<Response, _> = client.call(&Request::Echo(vec![1; SMALL])).await;
            (answer, Instant::now(), client)
        });
        tokio::time::sleep(SERVER_AWAY).await;
        let server = Server::bind(addr, server_creds)?;
        let listening = Instant::now();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let serving = tokio::spawn(server.serve(Arc::new(Answer), async {
            let _ = stopped.await;
        }));
        let (answer, answered, client) = call.await?;
        answer.context("the call made while the server was away")?;
        waits.push(answered.saturating_duration_since(listening));
        client.close().await;
        let _ = stop.send(());
        let _ = serving.await;
    }
    percentile(&waits, 50).ok_or_else(|| anyhow!("no reconnects measured"))
}

/// Answers echoes and streams for both peers.
struct Answer;

impl Handler<Request, Response> for Answer {
    fn handle(&self, _: Peer, request: Request) -> Responses<Response> {
        // Both answered where the call is served, as the TCP peer does.
        match request {
            Request::Echo(bytes) => Responses::one(Response::Echo(bytes)),
            Request::Stream { bytes } => Responses::stream(stream::iter(
                chunks(bytes).map(|size| Response::Chunk(vec![7; size])),
            )),
        }
    }
}

fn chunks(total: u64) -> impl Iterator<Item = usize> {
    let full = total / CHUNK as u64;
    let rest = (total % CHUNK as u64) as usize;
    (0..full).map(|_| CHUNK).chain((rest > 0).then_some(rest))
}

fn figures(latencies: &[Duration], elapsed: Duration) -> CallFigures {
    CallFigures {
        calls_per_second: latencies.len() as f64 / elapsed.as_secs_f64().max(1e-9),
        p50: percentile(latencies, 50).unwrap_or_default(),
        p99: percentile(latencies, 99).unwrap_or_default(),
    }
}

async fn quic_calls(client: &Client, callers: usize, per_caller: usize) -> Result<CallFigures> {
    // One warm-up call opens the shared connection before the clock starts.
    let _: Response = client.call(&Request::Echo(vec![1; SMALL])).await?;
    let started = Instant::now();
    let mut tasks = JoinSet::new();
    for _ in 0..callers {
        let client = client.clone();
        tasks.spawn(async move {
            let mut latencies = Vec::with_capacity(per_caller);
            for _ in 0..per_caller {
                let call = Instant::now();
                let _: Response = client.call(&Request::Echo(vec![1; SMALL])).await?;
                latencies.push(call.elapsed());
            }
            anyhow::Ok(latencies)
        });
    }
    let latencies = gather(&mut tasks).await?;
    Ok(figures(&latencies, started.elapsed()))
}

async fn quic_stream(client: &Client) -> Result<f64> {
    let started = Instant::now();
    let mut chunks = client
        .stream::<Request, Response>(&Request::Stream {
            bytes: STREAM_BYTES,
        })
        .await?;
    let mut received = 0u64;
    while let Some(response) = chunks.recv().await {
        if let Response::Chunk(bytes) = response? {
            received += bytes.len() as u64;
        }
    }
    check_received(received)?;
    Ok(mib_per_second(received, started.elapsed()))
}

async fn tcp_calls(
    connector: &TlsConnector,
    addr: SocketAddr,
    callers: usize,
    per_caller: usize,
) -> Result<CallFigures> {
    let mut connections = Vec::new();
    for _ in 0..callers {
        connections.push(tls_connect(connector, addr).await?);
    }
    let started = Instant::now();
    let mut tasks = JoinSet::new();
    for mut stream in connections {
        tasks.spawn(async move {
            let mut latencies = Vec::with_capacity(per_caller);
            for _ in 0..per_caller {
                let call = Instant::now();
                write_frame(&mut stream, &Request::Echo(vec![1; SMALL])).await?;
                let _: Response = read_frame(&mut stream)
                    .await?
                    .ok_or_else(|| anyhow!("the TCP peer closed mid-call"))?;
                latencies.push(call.elapsed());
            }
            anyhow::Ok(latencies)
        });
    }
    let latencies = gather(&mut tasks).await?;
    Ok(figures(&latencies, started.elapsed()))
}

async fn tcp_stream(connector: &TlsConnector, addr: SocketAddr) -> Result<f64> {
    let mut stream = tls_connect(connector, addr).await?;
    let started = Instant::now();
    write_frame(
        &mut stream,
        &Request::Stream {
            bytes: STREAM_BYTES,
        },
    )
    .await?;
    let mut received = 0u64;
    while received < STREAM_BYTES {
        match read_frame::<_, Response>(&mut stream).await? {
            Some(Response::Chunk(bytes)) => received += bytes.len() as u64,
            Some(Response::Echo(_)) => {}
            None => break,
        }
    }
    check_received(received)?;
    Ok(mib_per_second(received, started.elapsed()))
}

async fn gather(tasks: &mut JoinSet<Result<Vec<Duration>>>) -> Result<Vec<Duration>> {
    let mut all = Vec::new();
    while let Some(done) = tasks.join_next().await {
        all.extend(done.context("a caller task failed")??);
    }
    Ok(all)
}

fn check_received(received: u64) -> Result<()> {
    if received == STREAM_BYTES {
        Ok(())
    } else {
        Err(anyhow!(
            "the stream ended after {received} of {STREAM_BYTES} bytes"
        ))
    }
}

fn mib_per_second(bytes: u64, elapsed: Duration) -> f64 {
    bytes as f64 / f64::from(1 << 20) / elapsed.as_secs_f64().max(1e-9)
}

/// The TCP+TLS peer: answers frames on each connection in turn.
async fn serve_tcp(creds: &Credentials) -> Result<SocketAddr> {
    let acceptor = TlsAcceptor::from(Arc::new(tls_server_config(creds)?));
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let _ = tcp.set_nodelay(true);
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut stream) = acceptor.accept(tcp).await else {
                    return;
                };
                while let Ok(Some(request)) = read_frame::<_, Request>(&mut stream).await {
                    let written = match request {
                        Request::Echo(bytes) => {
                            write_frame(&mut stream, &Response::Echo(bytes)).await
                        }
                        Request::Stream { bytes } => {
                            let mut outcome = Ok(());
                            for size in chunks(bytes) {
                                outcome =
                                    write_frame(&mut stream, &Response::Chunk(vec![7; size])).await;
                                if outcome.is_err() {
                                    break;
                                }
                            }
                            outcome
                        }
                    };
                    if written.is_err() {
                        return;
                    }
                }
            });
        }
    });
    Ok(addr)
}

async fn tls_connect(
    connector: &TlsConnector,
    addr: SocketAddr,
) -> Result<tokio_rustls::client::TlsStream<TcpStream>> {
    let tcp = TcpStream::connect(addr).await?;
    tcp.set_nodelay(true)?;
    let name = ServerName::try_from("localhost")?;
    Ok(connector.connect(name, tcp).await?)
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn roots(creds: &Credentials) -> Result<Arc<rustls::RootCertStore>> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(CertificateDer::from_pem_slice(creds.ca_pem.as_bytes())?)?;
    Ok(Arc::new(roots))
}

fn chain_and_key(
    creds: &Credentials,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)> {
    let chain =
        CertificateDer::pem_slice_iter(creds.cert_pem.as_bytes()).collect::<Result<Vec<_>, _>>()?;
    let key = PrivateKeyDer::from_pem_slice(creds.key_pem.as_bytes())?;
    Ok((chain, key))
}

fn tls_server_config(creds: &Credentials) -> Result<rustls::ServerConfig> {
    let verifier =
        rustls::server::WebPkiClientVerifier::builder_with_provider(roots(creds)?, provider())
            .build()?;
    let (chain, key) = chain_and_key(creds)?;
    Ok(rustls::ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)?)
}

fn tls_connector(creds: &Credentials) -> Result<TlsConnector> {
    let (chain, key) = chain_and_key(creds)?;
    let config = rustls::ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_root_certificates(roots(creds)?)
        .with_client_auth_cert(chain, key)?;
    Ok(TlsConnector::from(Arc::new(config)))
}
