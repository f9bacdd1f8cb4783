//! `bench store`: flotilla's store against Debian's etcd 3.4, both on loopback with per-write
//! fsync and mutual TLS, driven from this one process with the same workloads: puts of 256-byte
//! values from 1, 16 and 256 concurrent clients, reads of 1 key and of 1000 keys, and the
//! delivery latency of writes to 1000 watchers of one prefix.
//!
//! Both peers get the same connections: one per 128 concurrent clients (etcd's HTTP/2 server
//! allows 250 streams per connection, flotilla 256 calls), so neither multiplexes past its limit.

use std::collections::VecDeque;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use etcd_client::{
    Certificate, ConnectOptions, GetOptions, Identity as EtcdIdentity, TlsOptions, WatchOptions,
};
use tokio::task::JoinSet;

use flotilla_actors::store_service::{StoreClient, StoreWatch};
use flotilla_integration::{EtcdServer, OpFigures, StoreReport, StoreServer, StoreWorkload};
use flotilla_store::{Expect, KeyRange, RangeRequest, WatchItem, WatchRequest};

use crate::closed_loop::{CLIENTS_PER_CONNECTION, measure, pick};

const VALUE_BYTES: usize = 256;
const PUT_CLIENTS: [usize; 3] = [1, 16, 256];
const PUT_TIME: Duration = Duration::from_secs(4);
const READ_CLIENTS: usize = 16;
const READ_TIME: Duration = Duration::from_secs(3);
const RANGE_KEYS: usize = 1000;
const WATCHERS: usize = 1000;
const WATCHED_WRITES: usize = 200;
/// 100 puts/s, the put rate of etcd's own watch-latency benchmark: 100 000 deliveries/s.
const WATCH_GAP: Duration = Duration::from_millis(10);
const SETTLE: Duration = Duration::from_millis(500);
const CATCH_UP: Duration = Duration::from_secs(30);

pub fn store() -> Result<StoreReport> {
    flotilla_transport::runtime::build()
        .context("starting the async runtime")?
        .block_on(run())
}

/// One of the two stores, behind the operations the workloads need.
#[derive(Clone)]
enum Peer {
    Flotilla(Vec<StoreClient>),
    Etcd(Vec<etcd_client::Client>),
}

async fn run() -> Result<StoreReport> {
    let flotilla_server = StoreServer::start()?;
    let etcd_server = EtcdServer::start()?;
    let connections = (WATCHERS.max(256)).div_ceil(CLIENTS_PER_CONNECTION);
    let mut flotilla = Vec::new();
    let mut etcd = Vec::new();
    for _ in 0..connections {
        flotilla.push(flotilla_server.client()?);
        etcd.push(connect_etcd(&etcd_server).await?);
    }
    let peers = [Peer::Flotilla(flotilla), Peer::Etcd(etcd)];

    let mut workloads = Vec::new();
    for clients in PUT_CLIENTS {
        let [f, e] = each(&peers, |peer| async move {
            measure(clients, PUT_TIME, move |client, n| {
                let peer = peer.clone();
                async move {
                    let key = format!("bench/put/{client}/{n}");
                    peer.put(client, key.into_bytes(), vec![b'v'; VALUE_BYTES])
                        .await
                }
            })
            .await
        })
        .await?;
        workloads.push(workload(
            format!("put_{clients}"),
            format!("put 256 B, {clients} client(s)"),
            f,
            e,
        ));
    }

    for peer in &peers {
        for i in 0..RANGE_KEYS {
            let key = format!("bench/range/{i:04}");
            peer.put(0, key.into_bytes(), vec![b'r'; VALUE_BYTES])
                .await?;
        }
    }
    for (key, label, prefix, expect) in [
        ("range_1", "read 1 key", "bench/range/0042", 1),
        ("range_1000", "read 1000 keys", "bench/range/", RANGE_KEYS),
    ] {
        let [f, e] = each(&peers, |peer| async move {
            measure(READ_CLIENTS, READ_TIME, move |client, _| {
                let peer = peer.clone();
                async move {
                    let found = peer.range(client, prefix.as_bytes().to_vec()).await?;
                    if found != expect {
                        bail!("read {found} keys under {prefix}, expected {expect}");
                    }
                    Ok(())
                }
            })
            .await
        })
        .await?;
        workloads.push(workload(
            key.into(),
            format!("{label}, {READ_CLIENTS} clients"),
            f,
            e,
        ));
    }

    let [f, e] = each(&peers, |peer| async move { watch_latency(&peer).await }).await?;
    workloads.push(workload(
        "watch_1000".into(),
        format!("watch delivery, {WATCHERS} watchers"),
        f,
        e,
    ));
    drop(peers);
    drop(etcd_server);
    drop(flotilla_server);
    Ok(StoreReport { workloads })
}

fn workload(key: String, label: String, flotilla: OpFigures, etcd: OpFigures) -> StoreWorkload {
    StoreWorkload {
        key,
        label,
        flotilla,
        etcd,
    }
}

/// Runs `work` on each peer in turn (never both at once: they share two cores).
async fn each<F, Fut>(peers: &[Peer; 2], work: F) -> Result<[OpFigures; 2]>
where
    F: Fn(Peer) -> Fut,
    Fut: Future<Output = Result<OpFigures>>,
{
    let flotilla = work(peers[0].clone()).await.context("flotilla")?;
    let etcd = work(peers[1].clone()).await.context("etcd")?;
    Ok([flotilla, etcd])
}

/// From the start of a put to its event at each of the watchers, over a series of puts.
async fn watch_latency(peer: &Peer) -> Result<OpFigures> {
    let origin = Instant::now();
    let samples = Arc::new(Mutex::new(Vec::new()));
    let mut watchers = JoinSet::new();
    for watcher in 0..WATCHERS {
        let mut events = peer.watch(watcher, b"bench/watch/".to_vec()).await?;
        let samples = Arc::clone(&samples);
        watchers.spawn(async move {
            let mut seen = 0;
            while seen < WATCHED_WRITES {
                let Some(sent) = events.next().await? else {
                    return Err(anyhow!("watcher {watcher} ended after {seen} events"));
                };
                let delay = origin.elapsed().saturating_sub(Duration::from_nanos(sent));
                samples
                    .lock()
                    .map_err(|_| anyhow!("samples lock poisoned"))?
                    .push(delay);
                seen += 1;
            }
            Ok(())
        });
    }
    tokio::time::sleep(SETTLE).await;
    let started = Instant::now();
    for i in 0..WATCHED_WRITES {
        let sent = u64::try_from(origin.elapsed().as_nanos())?;
        let key = format!("bench/watch/{i}");
        peer.put(i, key.into_bytes(), sent.to_string().into_bytes())
            .await?;
        tokio::time::sleep(WATCH_GAP).await;
    }
    let deadline = tokio::time::sleep(CATCH_UP);
    tokio::pin!(deadline);
    loop {
        tokio::select! {
            () = &mut deadline => bail!("watchers did not receive every write within {CATCH_UP:?}"),
            joined = watchers.join_next() => match joined {
                Some(joined) => joined??,
                None => break,
            },
        }
    }
    let elapsed = started.elapsed();
    let samples = samples
        .lock()
        .map_err(|_| anyhow!("samples lock poisoned"))?
        .clone();
    Ok(OpFigures::of(&samples, elapsed))
}

impl Peer {
    async fn put(&self, client: usize, key: Vec<u8>, value: Vec<u8>) -> Result<()> {
        match self {
            Peer::Flotilla(clients) => {
                pick(clients, client)?
                    .put(&key, &value, Expect::Any)
                    .await?;
            }
            Peer::Etcd(clients) => {
                pick(clients, client)?.clone().put(key, value, None).await?;
            }
        }
        Ok(())
    }

    /// Reads every key under `prefix` (or the one key); returns how many it got.
    async fn range(&self, client: usize, prefix: Vec<u8>) -> Result<usize> {
        Ok(match self {
            Peer::Flotilla(clients) => {
                let request = RangeRequest::prefix(&prefix);
                pick(clients, client)?.range(request).await?.kvs.len()
            }
            Peer::Etcd(clients) => {
                let options = GetOptions::new().with_prefix();
                let response = pick(clients, client)?
                    .clone()
                    .get(prefix, Some(options))
                    .await?;
                response.kvs().len()
            }
        })
    }

    /// Watches `prefix` from now.
    async fn watch(&self, watcher: usize, prefix: Vec<u8>) -> Result<Events> {
        Ok(match self {
            Peer::Flotilla(clients) => {
                let client = pick(clients, watcher)?;
                let mut now = RangeRequest::prefix(&prefix);
                now.count_only = true;
                let from = client.range(now).await?.revision;
                let request = WatchRequest::new(KeyRange::Prefix(prefix), from);
                Events::Flotilla(client.watch(request).await?)
            }
            Peer::Etcd(clients) => {
                let options = WatchOptions::new().with_prefix();
                let mut client = pick(clients, watcher)?.clone();
                let stream = client.watch(prefix, Some(options)).await?;
                Events::Etcd(Box::new(stream), VecDeque::new())
            }
        })
    }
}

/// A watcher's events, read where they arrive (no task in between, for either peer).
enum Events {
    Flotilla(StoreWatch),
    Etcd(Box<etcd_client::WatchStream>, VecDeque<u64>),
}

impl Events {
    /// The send time (ns) carried by the next event's value; `None` once the watch ended.
    async fn next(&mut self) -> Result<Option<u64>> {
        match self {
            Events::Flotilla(watch) => loop {
                match watch.next().await.transpose()? {
                    None => return Ok(None),
                    Some(WatchItem::Event(event)) => {
                        if let Some(at) = parse_time(&event.kv.value) {
                            return Ok(Some(at));
                        }
                    }
                    Some(WatchItem::Progress { .. }) => {}
                }
            },
            Events::Etcd(stream, pending) => loop {
                if let Some(at) = pending.pop_front() {
                    return Ok(Some(at));
                }
                let Some(response) = stream.message().await? else {
                    return Ok(None);
                };
                pending.extend(
                    response
                        .events()
                        .iter()
                        .filter_map(|event| event.kv().and_then(|kv| parse_time(kv.value()))),
                );
            },
        }
    }
}

fn parse_time(value: &[u8]) -> Option<u64> {
    std::str::from_utf8(value).ok()?.parse().ok()
}

async fn connect_etcd(server: &EtcdServer) -> Result<etcd_client::Client> {
    let credentials = server.client_credentials();
    let tls = TlsOptions::new()
        .ca_certificate(Certificate::from_pem(credentials.ca_pem.clone()))
        .identity(EtcdIdentity::from_pem(
            credentials.cert_pem.clone(),
            credentials.key_pem.clone(),
        ))
        .domain_name("localhost");
    let options = ConnectOptions::new().with_tls(tls);
    etcd_client::Client::connect([server.endpoint()], Some(options))
        .await
        .context("connecting to etcd")
}
