//! Crash test of the store: a `flotilla store serve` child process takes concurrent writes and
//! is killed with SIGKILL at random moments, again and again. After every restart each
//! acknowledged write must be there at the revision it was acknowledged with; in the end the
//! revisions of all writes are exactly 1..=N (gap-free, no revision reused), and a watcher that
//! resumed after its last revision at each restart saw every write exactly once, in order.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail, ensure};
use tokio::task::JoinSet;

use flotilla_actors::store_service::StoreClient;
use flotilla_integration::StoreServer;
use flotilla_store::{Expect, KeyRange, RangeRequest, WatchItem, WatchRequest};
use flotilla_transport::ClientOptions;

const CRASHES: usize = 50;
const WRITERS: usize = 8;
const PREFIX: &[u8] = b"crash/";
/// How long writes run before a kill: a random moment in this window (ms).
const LOAD_MS: (u64, u64) = (20, 250);
const CATCH_UP: Duration = Duration::from_secs(30);

/// What the clients observed, shared by their tasks.
#[derive(Default)]
struct Observed {
    /// Acknowledged writes: key → the revision it was committed at.
    acked: BTreeMap<Vec<u8>, u64>,
    /// Revisions the watcher received, in order, across every restart.
    watched: Vec<u64>,
}

#[test]
fn acknowledged_writes_survive_sigkill_and_watchers_resume_exactly_once() -> Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let mut server = StoreServer::start()?;
    let seed = SystemTime::now().duration_since(UNIX_EPOCH)?.as_nanos() as u64 | 1;
    eprintln!("crash test seed {seed}");
    let mut random = XorShift(seed);
    let observed = Arc::new(Mutex::new(Observed::default()));

    for crash in 0..CRASHES {
        let load = Duration::from_millis(random.between(LOAD_MS.0, LOAD_MS.1));
        runtime.block_on(async {
            let client = connect(&server)?;
            let mut tasks = JoinSet::new();
            let from = last_watched(&observed);
            tasks.spawn(watch(client.clone(), from, Arc::clone(&observed)));
            for writer in 0..WRITERS {
                let prefix = format!("crash/{crash:02}/{writer}/");
                tasks.spawn(write(client.clone(), prefix, Arc::clone(&observed)));
            }
            tokio::time::sleep(load).await;
            server.kill()?;
            // Whatever was in flight has an unknown outcome: it may or may not be on disk.
            tasks.abort_all();
            while tasks.join_next().await.is_some() {}
            anyhow::Ok(())
        })?;
        server
            .restart()
            .with_context(|| format!("restart after crash {crash}"))?;
        runtime
            .block_on(check_acked(&server, &observed))
            .with_context(|| format!("after crash {crash} (seed {seed})"))?;
    }
    runtime.block_on(check_history(&server, &observed))
}

fn connect(server: &StoreServer) -> Result<StoreClient> {
    server.client_with(ClientOptions {
        call_deadline: Duration::from_secs(10),
        ..ClientOptions::default()
    })
}

fn last_watched(observed: &Mutex<Observed>) -> u64 {
    lock(observed).watched.last().copied().unwrap_or(0)
}

fn lock(observed: &Mutex<Observed>) -> std::sync::MutexGuard<'_, Observed> {
    observed
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Puts unique keys one after another until the task is aborted or a call fails.
async fn write(client: StoreClient, prefix: String, observed: Arc<Mutex<Observed>>) {
    for n in 0.. {
        let key = format!("{prefix}{n}").into_bytes();
        match client.put(&key, &[b'v'; 256], Expect::Any).await {
            Ok(result) => {
                lock(&observed).acked.insert(key, result.revision);
            }
            Err(_) => return,
        }
    }
}

/// Records the revision of every event after `from` until aborted or the stream fails.
async fn watch(client: StoreClient, from: u64, observed: Arc<Mutex<Observed>>) {
    let request = WatchRequest::new(KeyRange::Prefix(PREFIX.to_vec()), from);
    let Ok(mut items) = client.watch(request).await else {
        return;
    };
    while let Some(Ok(item)) = items.next().await {
        if let WatchItem::Event(event) = item {
            lock(&observed).watched.push(event.kv.mod_revision);
        }
    }
}

/// Every acknowledged write is present, at the revision it was acknowledged with.
async fn check_acked(server: &StoreServer, observed: &Mutex<Observed>) -> Result<()> {
    let client = connect(server)?;
    let stored = client.range(RangeRequest::prefix(PREFIX)).await?;
    client.transport().close().await;
    let present: BTreeMap<_, _> = stored
        .kvs
        .into_iter()
        .map(|kv| (kv.key, kv.mod_revision))
        .collect();
    let observed = lock(observed);
    for (key, revision) in &observed.acked {
        match present.get(key) {
            Some(found) if found == revision => {}
            Some(found) => bail!(
                "{} was acknowledged at revision {revision} but is at {found}",
                String::from_utf8_lossy(key)
            ),
            None => bail!(
                "{} was acknowledged at revision {revision} and is lost",
                String::from_utf8_lossy(key)
            ),
        }
    }
    Ok(())
}

/// Revisions are exactly 1..=N, one per write, and the watcher saw each once, in order.
async fn check_history(server: &StoreServer, observed: &Mutex<Observed>) -> Result<()> {
    let client = connect(server)?;
    let stored = client.range(RangeRequest::prefix(PREFIX)).await?;
    let mut revisions: Vec<u64> = stored.kvs.iter().map(|kv| kv.mod_revision).collect();
    revisions.sort_unstable();
    let expected: Vec<u64> = (1..=stored.revision).collect();
    ensure!(
        revisions == expected,
        "the {} writes do not have the revisions 1..={} one each",
        revisions.len(),
        stored.revision
    );
    ensure!(
        lock(observed).acked.len() > CRASHES * WRITERS,
        "too few writes were acknowledged to mean anything: {}",
        lock(observed).acked.len()
    );

    // Let the watcher catch up with the last revision, then compare.
    let started = Instant::now();
    let from = last_watched(observed);
    let shared = Arc::new(Mutex::new(Observed::default()));
    let watcher = tokio::spawn(watch(client.clone(), from, Arc::clone(&shared)));
    while last_watched(&shared).max(from) < stored.revision {
        ensure!(started.elapsed() < CATCH_UP, "the watcher did not catch up");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    watcher.abort();
    let mut watched = lock(observed).watched.clone();
    watched.extend(lock(&shared).watched.iter().copied());
    let first_wrong = watched
        .iter()
        .zip(&expected)
        .position(|(seen, wanted)| seen != wanted);
    ensure!(
        watched.len() == expected.len() && first_wrong.is_none(),
        "the watcher saw {} events, not revisions 1..={} once each; first difference at event {:?}",
        watched.len(),
        stored.revision,
        first_wrong
    );
    client.transport().close().await;
    Ok(())
}

/// A small deterministic generator; the seed is printed so a failure can be replayed.
struct XorShift(u64);

impl XorShift {
    fn between(&mut self, low: u64, high: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        low + self.0 % (high - low + 1)
    }
}
