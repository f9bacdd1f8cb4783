//! Closed-loop load shared by the benchmarks: each client sends its next request as soon as the
//! previous one answered, so throughput and latency are those of the server under that many
//! outstanding requests, with no queue building up in the client.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Result, anyhow};
use tokio::task::JoinSet;

use flotilla_integration::OpFigures;

/// How many clients share one connection: flotilla serves 256 calls at once on one connection
/// and etcd 250 streams, so no server is asked to multiplex past its limit.
pub const CLIENTS_PER_CONNECTION: usize = 128;

/// `clients` concurrent loops of `op` for `time`; each op's latency is one sample. `op` gets
/// the client's number and how many ops that client did before.
pub async fn measure<F, Fut>(clients: usize, time: Duration, op: F) -> Result<OpFigures>
where
    F: Fn(usize, usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<()>> + Send,
{
    let op = Arc::new(op);
    let started = Instant::now();
    let mut tasks = JoinSet::new();
    for client in 0..clients {
        let op = Arc::clone(&op);
        tasks.spawn(async move {
            let mut samples = Vec::new();
            let mut n = 0;
            while started.elapsed() < time {
                let at = Instant::now();
                op(client, n).await?;
                samples.push(at.elapsed());
                n += 1;
            }
            anyhow::Ok(samples)
        });
    }
    gather(tasks, started).await
}

/// `clients` concurrent loops that together run `op` exactly `total` times, op `i` with
/// argument `(client, i)`, `i` in `0..total`.
pub async fn run_count<F, Fut>(clients: usize, total: usize, op: F) -> Result<OpFigures>
where
    F: Fn(usize, usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<()>> + Send,
{
    let op = Arc::new(op);
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = JoinSet::new();
    for client in 0..clients {
        let op = Arc::clone(&op);
        let next = Arc::clone(&next);
        tasks.spawn(async move {
            let mut samples = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= total {
                    break;
                }
                let at = Instant::now();
                op(client, i).await?;
                samples.push(at.elapsed());
            }
            anyhow::Ok(samples)
        });
    }
    gather(tasks, started).await
}

async fn gather(mut tasks: JoinSet<Result<Vec<Duration>>>, started: Instant) -> Result<OpFigures> {
    let mut samples = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        samples.extend(joined??);
    }
    Ok(OpFigures::of(&samples, started.elapsed()))
}

/// The connection of client number `client`: clients share connections, 128 each.
pub fn pick<T>(connections: &[T], client: usize) -> Result<&T> {
    connections
        .get(client / CLIENTS_PER_CONNECTION % connections.len().max(1))
        .ok_or_else(|| anyhow!("no connection"))
}
