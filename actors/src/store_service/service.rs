//! The serving side of the raw store: decodes a `Request::Store` call, checks that the caller
//! may touch the raw store, runs it on the [`Store`] and streams the answers back as
//! `Response::Store` frames. Writes await the group commit without holding a thread; watches
//! end when the client goes away.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::io::AsyncReadExt;
use tokio::sync::mpsc;

use flotilla_kernel::api::{ApiError, ErrorCode, Response};
use flotilla_store::{Store, StoreError};
use flotilla_transport::Identity;

use super::protocol::{
    SNAPSHOT_CHUNK_BYTES, StoreFailure, StoreRequest, StoreResponse, decode_request,
    encode_response,
};

/// Responses one call may queue before the store waits for the network.
const CALL_BUFFER: usize = 64;

/// Serves raw-store calls on one store.
pub struct StoreService {
    store: Store,
    staging: Staging,
}

/// Where snapshots are staged before they are streamed: a directory and a counter, shared by
/// every call so that each snapshot gets its own file. Cheap to clone into a call; the name is
/// made only for a snapshot.
#[derive(Clone)]
struct Staging {
    dir: Arc<Path>,
    snapshots: Arc<AtomicU64>,
}

impl Staging {
    fn next_path(&self) -> PathBuf {
        let n = self.snapshots.fetch_add(1, Ordering::Relaxed);
        self.dir
            .join(format!(".snapshot-{}-{n}.tmp", std::process::id()))
    }
}

impl StoreService {
    /// Serves `store`, staging snapshots in `scratch` (on the store's file system, so a
    /// snapshot costs no copy across devices).
    pub fn new(store: Store, scratch: PathBuf) -> StoreService {
        StoreService {
            store,
            staging: Staging {
                dir: scratch.into(),
                snapshots: Arc::default(),
            },
        }
    }

    /// Starts serving one call from `caller`; its responses arrive on the receiver.
    pub fn call(&self, caller: &Identity, call: &[u8]) -> mpsc::Receiver<Response> {
        let (reply, responses) = mpsc::channel(CALL_BUFFER);
        let request = authorize(caller).and_then(|()| {
            decode_request(call).map_err(|e| {
                ApiError::new(
                    ErrorCode::BadRequest,
                    format!("undecodable store call: {e}"),
                )
            })
        });
        match request {
            Ok(request) => {
                let (store, staging) = (self.store.clone(), self.staging.clone());
                tokio::spawn(serve(store, staging, request, reply));
            }
            Err(error) => {
                // A fresh channel has room for one response.
                let _ = reply.try_send(Response::Error(error));
            }
        }
        responses
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

async fn serve(
    store: Store,
    staging: Staging,
    request: StoreRequest,
    reply: mpsc::Sender<Response>,
) {
    let sink = Sink(reply);
    match request {
        StoreRequest::Range(range) => {
            sink.answer(store.range(&range).map(StoreResponse::Range))
                .await
        }
        StoreRequest::Txn(txn) => {
            sink.answer(store.txn_async(txn).await.map(StoreResponse::Txn))
                .await
        }
        StoreRequest::Watch(watch) => serve_watch(&store, watch, &sink).await,
        StoreRequest::Compact { revision } => {
            let done = blocking(move || store.compact(revision)).await;
            sink.answer(done.map(|()| StoreResponse::Done)).await;
        }
        StoreRequest::LeaseGrant { ttl } => {
            let lease = blocking(move || store.grant_lease(ttl)).await;
            sink.answer(lease.map(StoreResponse::Lease)).await;
        }
        StoreRequest::LeaseKeepAlive { id } => {
            let lease = blocking(move || store.keep_alive(id)).await;
            sink.answer(lease.map(StoreResponse::Lease)).await;
        }
        StoreRequest::LeaseRevoke { id } => {
            let revision = blocking(move || store.revoke_lease(id)).await;
            sink.answer(revision.map(|revision| StoreResponse::Revoked { revision }))
                .await;
        }
        StoreRequest::LeaseTimeToLive { id } => {
            let status = blocking(move || store.lease_time_to_live(id)).await;
            sink.answer(status.map(StoreResponse::LeaseStatus)).await;
        }
        StoreRequest::Status => {
            let status = blocking(move || store.status()).await;
            sink.answer(status.map(StoreResponse::Status)).await;
        }
        StoreRequest::Snapshot => serve_snapshot(store, staging.next_path(), &sink).await,
    }
}

async fn serve_watch(store: &Store, request: flotilla_store::WatchRequest, sink: &Sink) {
    let mut watcher = match store.watch(request) {
        Ok(watcher) => watcher,
        Err(error) => return sink.answer(Err(error)).await,
    };
    loop {
        let item = tokio::select! {
            () = sink.0.closed() => return,
            item = watcher.next_item() => item,
        };
        let response = match item {
            Ok(Some(item)) => StoreResponse::Watch(item),
            Ok(None) => return,
            Err(lagged) => StoreResponse::Failed(StoreFailure::from(&lagged)),
        };
        let last = matches!(response, StoreResponse::Failed(_));
        if !sink.send(&response).await || last {
            return;
        }
    }
}

/// Writes a consistent snapshot to a staging file, streams it and removes it.
async fn serve_snapshot(store: Store, staged: PathBuf, sink: &Sink) {
    let file = staged.clone();
    let info = match blocking(move || store.snapshot(&file)).await {
        Ok(info) => info,
        Err(error) => return sink.answer(Err(error)).await,
    };
    let streamed = stream_file(&staged, sink).await;
    if let Err(error) = tokio::fs::remove_file(&staged).await {
        tracing::warn!(path = %staged.display(), %error, "could not remove a staged snapshot");
    }
    match streamed {
        Ok(true) => {
            sink.send(&StoreResponse::SnapshotDone(info)).await;
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
        if !sink.send(&response).await {
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

/// Where a call's responses go, encoded.
struct Sink(mpsc::Sender<Response>);

impl Sink {
    async fn answer(&self, result: Result<StoreResponse, StoreError>) {
        let response =
            result.unwrap_or_else(|error| StoreResponse::Failed(StoreFailure::from(&error)));
        self.send(&response).await;
    }

    /// Sends one response; `false` once the client is gone.
    async fn send(&self, response: &StoreResponse) -> bool {
        let frame = match encode_response(response) {
            Ok(bytes) => Response::Store(bytes),
            Err(error) => Response::Error(ApiError::internal(format!(
                "encoding a store response: {error}"
            ))),
        };
        self.0.send(frame).await.is_ok()
    }
}

#[cfg(test)]
mod tests;
