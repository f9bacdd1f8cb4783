//! The serving side of the raw store: decodes a `Request::Store` call, checks that the caller
//! may touch the raw store, runs it on the [`Store`] and streams the answers back as
//! `Response::Store` frames. Writes await the group commit without holding a thread; a watch is
//! a stream the call's transport task polls, so an event reaches the network without a task
//! hop, and it ends when the client goes away.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::io::AsyncReadExt;
use tokio::sync::mpsc;

use flotilla_kernel::api::{ApiError, ErrorCode, Response};
use flotilla_store::{KeyRange, Store, StoreError, WatchRequest, Watcher};
use flotilla_transport::{Identity, Responses};
use futures_util::{Stream, StreamExt, future, stream};

use crate::compactor::CompactionRecord;

use super::protocol::{
    SNAPSHOT_CHUNK_BYTES, StoreFailure, StoreRequest, StoreResponse, decode_request,
    encode_response,
};

/// Snapshot chunks one call may queue before the store waits for the network.
const CALL_BUFFER: usize = 64;

/// Serves raw-store calls on one store.
pub struct StoreService {
    store: Store,
    /// What the store's compactor has done, for `store status`.
    compaction: CompactionRecord,
    /// Where snapshots are staged before they are streamed.
    scratch: PathBuf,
    /// Snapshots staged so far, so that each gets its own file.
    snapshots: AtomicU64,
}

impl StoreService {
    /// Serves `store`, staging snapshots in `scratch` (on the store's file system, so a
    /// snapshot costs no copy across devices), and reports the automatic compaction that
    /// `compaction` records.
    pub fn new(store: Store, scratch: PathBuf, compaction: CompactionRecord) -> StoreService {
        StoreService {
            store,
            compaction,
            scratch,
            snapshots: AtomicU64::new(0),
        }
    }

    /// Starts serving one call from `caller`. Reads of one key are answered in place, other
    /// unary calls when their work is done, and watches and snapshots are streamed.
    pub fn call(&self, caller: &Identity, call: &[u8]) -> Responses<Response> {
        let request = authorize(caller).and_then(|()| {
            decode_request(call).map_err(|e| {
                ApiError::new(
                    ErrorCode::BadRequest,
                    format!("undecodable store call: {e}"),
                )
            })
        });
        match request {
            Ok(request) => self.serve(request),
            Err(error) => Responses::one(Response::Error(error)),
        }
    }

    fn serve(&self, request: StoreRequest) -> Responses<Response> {
        let store = self.store.clone();
        match request {
            // One key is answered in place. A longer range may read for milliseconds, which
            // would hold up every other task of the process's one thread (see
            // `flotilla_transport::runtime`), so it is read on the blocking pool.
            StoreRequest::Range(range) if matches!(range.range, KeyRange::Key(_)) => {
                Responses::one(frame(store.range(&range).map(StoreResponse::Range)))
            }
            StoreRequest::Range(range) => later(blocking(move || {
                store.range(&range).map(StoreResponse::Range)
            })),
            StoreRequest::Watch(watch) => watch_stream(&store, watch),
            StoreRequest::Txn(txn) => {
                later(async move { store.txn_async(txn).await.map(StoreResponse::Txn) })
            }
            StoreRequest::Compact { revision } => later(blocking(move || {
                store.compact(revision).map(|()| StoreResponse::Done)
            })),
            StoreRequest::LeaseGrant { ttl } => later(blocking(move || {
                store.grant_lease(ttl).map(StoreResponse::Lease)
            })),
            StoreRequest::LeaseKeepAlive { id } => later(blocking(move || {
                store.keep_alive(id).map(StoreResponse::Lease)
            })),
            StoreRequest::LeaseRevoke { id } => later(blocking(move || {
                store
                    .revoke_lease(id)
                    .map(|revision| StoreResponse::Revoked { revision })
            })),
            StoreRequest::LeaseTimeToLive { id } => later(blocking(move || {
                store.lease_time_to_live(id).map(StoreResponse::LeaseStatus)
            })),
            StoreRequest::Status => {
                later(blocking(move || store.status().map(StoreResponse::Status)))
            }
            StoreRequest::Snapshot => {
                let (reply, responses) = mpsc::channel(CALL_BUFFER);
                tokio::spawn(serve_snapshot(store, self.staging_path(), Sink(reply)));
                Responses::channel(responses)
            }
            StoreRequest::AutoCompaction => Responses::one(frame(Ok(
                StoreResponse::AutoCompaction(self.compaction.get()),
            ))),
            StoreRequest::Defragment => later(blocking(move || defragment(&store))),
        }
    }

    fn staging_path(&self) -> PathBuf {
        let n = self.snapshots.fetch_add(1, Ordering::Relaxed);
        self.scratch
            .join(format!(".snapshot-{}-{n}.tmp", std::process::id()))
    }
}

/// The raw store holds every object of every namespace, Secrets included: only admins.
fn authorize(caller: &Identity) -> Result<(), ApiError> {
    if caller.role == "admin" {
        return Ok(());
    }
    Err(ApiError::new(
        ErrorCode::Forbidden,
        format!(
            "{} (role {}) may not use the raw store: only admins may, since it holds every object and Secret",
            caller.name, caller.role
        ),
    ))
}

/// One response, once `work` is done; dropping it (the client went away) drops the wait, not
/// the work.
fn later(
    work: impl Future<Output = Result<StoreResponse, StoreError>> + Send + 'static,
) -> Responses<Response> {
    Responses::stream(stream::once(async move { frame(work.await) }))
}

/// The watch's events as the call's transport takes them; a lagged watcher's last response is
/// the failure it can resume from. Dropping the stream (the client went away) ends the watch.
fn watch_stream(store: &Store, request: WatchRequest) -> Responses<Response> {
    let store = store.clone();
    // Catching up reads the watch's history from disk, so the watcher is made on the blocking
    // pool rather than on the process's one thread.
    let started = stream::once(blocking(move || store.watch(request)));
    Responses::stream(started.flat_map(|started| match started {
        Ok(watcher) => events(watcher).left_stream(),
        Err(error) => stream::once(future::ready(frame(Err(error)))).right_stream(),
    }))
}

fn events(watcher: Watcher) -> impl Stream<Item = Response> + Send {
    stream::unfold(Some(watcher), |watcher| async move {
        let mut watcher = watcher?;
        let (response, open) = match watcher.next_item().await {
            Ok(Some(item)) => (StoreResponse::Watch(item), true),
            Ok(None) => return None,
            Err(lagged) => (StoreResponse::Failed(StoreFailure::from(&lagged)), false),
        };
        Some((frame(Ok(response)), open.then_some(watcher)))
    })
}

/// Rewrites the store's files, measuring the data directory before and after.
fn defragment(store: &Store) -> Result<StoreResponse, StoreError> {
    let before_bytes = store.status()?.disk_bytes;
    store.defragment()?;
    let after_bytes = store.status()?.disk_bytes;
    Ok(StoreResponse::Defragmented {
        before_bytes,
        after_bytes,
    })
}

/// Writes a consistent snapshot to a staging file, streams it and removes it.
async fn serve_snapshot(store: Store, staged: PathBuf, sink: Sink) {
    let file = staged.clone();
    let info = match blocking(move || store.snapshot(&file)).await {
        Ok(info) => info,
        Err(error) => return sink.answer(Err(error)).await,
    };
    let streamed = stream_file(&staged, &sink).await;
    if let Err(error) = tokio::fs::remove_file(&staged).await {
        tracing::warn!(path = %staged.display(), %error, "could not remove a staged snapshot");
    }
    match streamed {
        Ok(true) => {
            sink.send(StoreResponse::SnapshotDone(info)).await;
        }
        Ok(false) => {}
        Err(error) => sink.answer(Err(error)).await,
    }
}

/// Sends the file in chunks; `Ok(false)` if the client went away.
async fn stream_file(path: &Path, sink: &Sink) -> Result<bool, StoreError> {
    let io = |source| StoreError::Io {
        action: "streaming the snapshot",
        path: path.to_path_buf(),
        source,
    };
    let mut file = tokio::fs::File::open(path).await.map_err(io)?;
    let mut chunk = vec![0; SNAPSHOT_CHUNK_BYTES];
    loop {
        let read = file.read(&mut chunk).await.map_err(io)?;
        if read == 0 {
            return Ok(true);
        }
        let response = StoreResponse::SnapshotChunk(chunk[..read].to_vec());
        if !sink.send(response).await {
            return Ok(false);
        }
    }
}

/// Runs blocking store work (fsync, directory walks) off the async workers.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    match tokio::task::spawn_blocking(work).await {
        Ok(result) => result,
        Err(join) => Err(StoreError::Io {
            action: "running a store task for",
            path: PathBuf::from("the raw store service"),
            source: std::io::Error::other(join.to_string()),
        }),
    }
}

/// A store result as the API response that carries it: encoded, failures included.
fn frame(result: Result<StoreResponse, StoreError>) -> Response {
    let response = result.unwrap_or_else(|error| StoreResponse::Failed(StoreFailure::from(&error)));
    match encode_response(&response) {
        Ok(bytes) => Response::Store(bytes),
        Err(error) => Response::Error(ApiError::internal(format!(
            "encoding a store response: {error}"
        ))),
    }
}

/// Where a snapshot's responses go.
struct Sink(mpsc::Sender<Response>);

impl Sink {
    async fn answer(&self, result: Result<StoreResponse, StoreError>) {
        self.0.send(frame(result)).await.ok();
    }

    /// Sends one response; `false` once the client is gone.
    async fn send(&self, response: StoreResponse) -> bool {
        self.0.send(frame(Ok(response))).await.is_ok()
    }
}

#[cfg(test)]
mod tests;
