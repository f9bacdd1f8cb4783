//! The calling side of the raw store, for `flotilla store`, benchmarks and tests: typed calls
//! over any flotilla QUIC connection whose server serves the store.

use std::path::Path;

use tokio::io::AsyncWriteExt;

use flotilla_kernel::api::{ApiError, Request, Response};
use flotilla_store::{
    Expect, KeyRange, Lease, LeaseId, LeaseStatus, Op, RangeRequest, RangeResult, SnapshotInfo,
    StoreStatus, Txn, TxnResult, WatchItem, WatchRequest,
};
use flotilla_transport::{CallStream, Client, CodecError, TransportError};

use crate::compactor::AutoCompaction;

use super::protocol::{StoreFailure, StoreRequest, StoreResponse, decode_response, encode_request};

/// Why a raw-store call failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreCallError {
    #[error(transparent)]
    Transport(#[from] TransportError),
    /// The server refused the call (authorization, a server without a store).
    #[error("{}", .0.message)]
    Api(ApiError),
    /// The store refused the call.
    #[error(transparent)]
    Store(#[from] StoreFailure),
    #[error("undecodable store message: {0}")]
    Codec(#[from] CodecError),
    #[error("the server answered a {call} call with {answer}")]
    Unexpected {
        call: &'static str,
        answer: &'static str,
    },
    #[error("the server ended the {0} call without an answer")]
    NoAnswer(&'static str),
    #[error("writing {path}: {source}")]
    File {
        path: String,
        source: std::io::Error,
    },
}

/// A raw-store client; cheap to clone, clones share the connection.
#[derive(Clone)]
pub struct StoreClient {
    transport: Client,
}

impl StoreClient {
    pub fn new(transport: Client) -> StoreClient {
        StoreClient { transport }
    }

    pub fn transport(&self) -> &Client {
        &self.transport
    }

    /// One unary call.
    pub async fn call(&self, request: &StoreRequest) -> Result<StoreResponse, StoreCallError> {
        let response: Response = self.transport.call(&wrap(request)?).await?;
        unwrap(response)
    }

    pub async fn range(&self, request: RangeRequest) -> Result<RangeResult, StoreCallError> {
        match self.call(&StoreRequest::Range(request)).await? {
            StoreResponse::Range(result) => Ok(result),
            other => Err(unexpected("range", &other)),
        }
    }

    pub async fn txn(&self, txn: Txn) -> Result<TxnResult, StoreCallError> {
        match self.call(&StoreRequest::Txn(txn)).await? {
            StoreResponse::Txn(result) => Ok(result),
            other => Err(unexpected("txn", &other)),
        }
    }

    /// Puts `value` at `key` if `expect` holds; returns whether it did, and the revision.
    pub async fn put(
        &self,
        key: &[u8],
        value: &[u8],
        expect: Expect,
    ) -> Result<TxnResult, StoreCallError> {
        self.put_leased(key, value, expect, None).await
    }

    /// Like [`StoreClient::put`], attaching the key to `lease` (deleted when it ends).
    pub async fn put_leased(
        &self,
        key: &[u8],
        value: &[u8],
        expect: Expect,
        lease: Option<LeaseId>,
    ) -> Result<TxnResult, StoreCallError> {
        let put = Op::Put {
            key: key.to_vec(),
            value: value.to_vec(),
            lease,
        };
        self.txn(Txn {
            compares: expect.compares(key),
            success: vec![put],
            failure: Vec::new(),
        })
        .await
    }

    /// Deletes every key of `range`.
    pub async fn delete_range(&self, range: KeyRange) -> Result<TxnResult, StoreCallError> {
        self.txn(Txn {
            compares: Vec::new(),
            success: vec![Op::Delete { range }],
            failure: Vec::new(),
        })
        .await
    }

    pub async fn compact(&self, revision: u64) -> Result<(), StoreCallError> {
        match self.call(&StoreRequest::Compact { revision }).await? {
            StoreResponse::Done => Ok(()),
            other => Err(unexpected("compact", &other)),
        }
    }

    pub async fn grant_lease(&self, ttl: std::time::Duration) -> Result<Lease, StoreCallError> {
        match self.call(&StoreRequest::LeaseGrant { ttl }).await? {
            StoreResponse::Lease(lease) => Ok(lease),
            other => Err(unexpected("lease grant", &other)),
        }
    }

    /// Renews a lease to its full TTL from now.
    pub async fn keep_alive(&self, id: LeaseId) -> Result<Lease, StoreCallError> {
        match self.call(&StoreRequest::LeaseKeepAlive { id }).await? {
            StoreResponse::Lease(lease) => Ok(lease),
            other => Err(unexpected("lease keep-alive", &other)),
        }
    }

    /// Ends a lease and deletes its keys; returns the revision afterwards.
    pub async fn revoke_lease(&self, id: LeaseId) -> Result<u64, StoreCallError> {
        match self.call(&StoreRequest::LeaseRevoke { id }).await? {
            StoreResponse::Revoked { revision } => Ok(revision),
            other => Err(unexpected("lease revoke", &other)),
        }
    }

    pub async fn lease_time_to_live(&self, id: LeaseId) -> Result<LeaseStatus, StoreCallError> {
        match self.call(&StoreRequest::LeaseTimeToLive { id }).await? {
            StoreResponse::LeaseStatus(status) => Ok(status),
            other => Err(unexpected("lease time-to-live", &other)),
        }
    }

    pub async fn status(&self) -> Result<StoreStatus, StoreCallError> {
        match self.call(&StoreRequest::Status).await? {
            StoreResponse::Status(status) => Ok(status),
            other => Err(unexpected("status", &other)),
        }
    }

    /// The automatic compaction's retention and last run.
    pub async fn auto_compaction(&self) -> Result<AutoCompaction, StoreCallError> {
        match self.call(&StoreRequest::AutoCompaction).await? {
            StoreResponse::AutoCompaction(auto) => Ok(auto),
            other => Err(unexpected("auto compaction", &other)),
        }
    }

    /// Rewrites the store's files; returns the bytes its data directory took before and after.
    pub async fn defragment(&self) -> Result<(u64, u64), StoreCallError> {
        match self.call(&StoreRequest::Defragment).await? {
            StoreResponse::Defragmented {
                before_bytes,
                after_bytes,
            } => Ok((before_bytes, after_bytes)),
            other => Err(unexpected("defragment", &other)),
        }
    }

    /// Watches: items arrive from [`StoreWatch::next`] until the server ends the watch or fails
    /// it. Dropping the watch cancels it on the server.
    pub async fn watch(&self, request: WatchRequest) -> Result<StoreWatch, StoreCallError> {
        let frames = self
            .transport
            .stream::<Request, Response>(&wrap(&StoreRequest::Watch(request))?)
            .await?;
        Ok(StoreWatch { frames })
    }

    /// Streams a snapshot of the live store into `file` (written whole or not at all).
    pub async fn snapshot(&self, file: &Path) -> Result<SnapshotInfo, StoreCallError> {
        let mut frames = self
            .transport
            .stream::<Request, Response>(&wrap(&StoreRequest::Snapshot)?)
            .await?;
        let mut partial = file.as_os_str().to_owned();
        partial.push(".part");
        let partial = std::path::PathBuf::from(partial);
        let io = |source| StoreCallError::File {
            path: partial.display().to_string(),
            source,
        };
        let mut out = tokio::fs::File::create(&partial).await.map_err(io)?;
        let outcome = async {
            while let Some(frame) = frames.recv().await {
                match unwrap(frame?)? {
                    StoreResponse::SnapshotChunk(bytes) => {
                        out.write_all(&bytes).await.map_err(io)?
                    }
                    StoreResponse::SnapshotDone(info) => return Ok(info),
                    other => return Err(unexpected("snapshot", &other)),
                }
            }
            Err(StoreCallError::NoAnswer("snapshot"))
        }
        .await;
        let finished = match outcome {
            Ok(info) => out.sync_all().await.map_err(io).map(|()| info),
            Err(error) => Err(error),
        };
        match finished {
            Ok(info) => {
                tokio::fs::rename(&partial, file)
                    .await
                    .map_err(|source| StoreCallError::File {
                        path: file.display().to_string(),
                        source,
                    })?;
                Ok(info)
            }
            Err(error) => {
                let _ = tokio::fs::remove_file(&partial).await;
                Err(error)
            }
        }
    }
}

/// A watch in progress; it decodes each item as the caller asks for it, so an event costs no
/// extra task hop between the connection and the caller.
pub struct StoreWatch {
    frames: CallStream<Response>,
}

impl StoreWatch {
    /// The next item; `None` once the server ended the watch. After an `Err` the watch is over.
    pub async fn next(&mut self) -> Option<Result<WatchItem, StoreCallError>> {
        let frame = self.frames.recv().await?;
        Some(
            frame
                .map_err(StoreCallError::from)
                .and_then(unwrap)
                .and_then(|response| match response {
                    StoreResponse::Watch(item) => Ok(item),
                    other => Err(unexpected("watch", &other)),
                }),
        )
    }
}

fn wrap(request: &StoreRequest) -> Result<Request, StoreCallError> {
    Ok(Request::Store {
        call: encode_request(request)?,
    })
}

fn unwrap(response: Response) -> Result<StoreResponse, StoreCallError> {
    match response {
        Response::Store(bytes) => match decode_response(&bytes)? {
            StoreResponse::Failed(failure) => Err(StoreCallError::Store(failure)),
            response => Ok(response),
        },
        Response::Error(error) => Err(StoreCallError::Api(error)),
        other => Err(StoreCallError::Unexpected {
            call: "store",
            answer: other.kind_name(),
        }),
    }
}

fn unexpected(call: &'static str, answer: &StoreResponse) -> StoreCallError {
    StoreCallError::Unexpected {
        call,
        answer: answer.name(),
    }
}
