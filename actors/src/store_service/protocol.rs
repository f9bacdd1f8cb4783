//! What `flotilla store` and other raw-store clients send and receive. A call travels inside the
//! API's `Request::Store` as bytes encoded by the transport's codec, so the kernel's message
//! types need not know the store's, and one QUIC endpoint serves both.

use serde::{Deserialize, Serialize};
use std::time::Duration;

use flotilla_store::{
    Lease, LeaseId, LeaseStatus, RangeRequest, RangeResult, SnapshotInfo, StoreError, StoreStatus,
    Txn, TxnResult, WatchError, WatchItem, WatchRequest,
};
use flotilla_transport::{CodecError, decode, encode};

use crate::compactor::AutoCompaction;
use crate::controllers::driver::chain;

/// Bytes of snapshot per streamed chunk: well under the frame limit.
pub const SNAPSHOT_CHUNK_BYTES: usize = 256 * 1024;

/// One call on the raw store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum StoreRequest {
    /// Answered with [`StoreResponse::Range`].
    Range(RangeRequest),
    /// Answered with [`StoreResponse::Txn`].
    Txn(Txn),
    /// Streams [`StoreResponse::Watch`] items until the client stops or the watcher ends.
    Watch(WatchRequest),
    /// Drops history through `revision`; answered with [`StoreResponse::Done`].
    Compact {
        revision: u64,
    },
    LeaseGrant {
        ttl: Duration,
    },
    LeaseKeepAlive {
        id: LeaseId,
    },
    LeaseRevoke {
        id: LeaseId,
    },
    LeaseTimeToLive {
        id: LeaseId,
    },
    /// Streams the snapshot file in [`StoreResponse::SnapshotChunk`]s, then
    /// [`StoreResponse::SnapshotDone`].
    Snapshot,
    Status,
    // Variants are encoded by position: new ones go last so older peers still understand the
    // rest.
    /// Answered with [`StoreResponse::AutoCompaction`].
    AutoCompaction,
    /// Rewrites the store's files to give compacted space back; answered with
    /// [`StoreResponse::Defragmented`].
    Defragment,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum StoreResponse {
    Range(RangeResult),
    Txn(TxnResult),
    Watch(WatchItem),
    Done,
    Lease(Lease),
    /// The revision after a lease revocation.
    Revoked {
        revision: u64,
    },
    LeaseStatus(LeaseStatus),
    SnapshotChunk(#[serde(with = "serde_bytes")] Vec<u8>),
    SnapshotDone(SnapshotInfo),
    Status(StoreStatus),
    Failed(StoreFailure),
    // New variants go last (see `StoreRequest`).
    AutoCompaction(AutoCompaction),
    /// Bytes the data directory took before and after a defragment.
    Defragmented {
        before_bytes: u64,
        after_bytes: u64,
    },
}

impl StoreResponse {
    /// What kind of answer this is, for error messages.
    pub fn name(&self) -> &'static str {
        match self {
            StoreResponse::Range(_) => "range",
            StoreResponse::Txn(_) => "txn",
            StoreResponse::Watch(_) => "watch",
            StoreResponse::Done => "done",
            StoreResponse::Lease(_) => "lease",
            StoreResponse::Revoked { .. } => "revoked",
            StoreResponse::LeaseStatus(_) => "lease status",
            StoreResponse::SnapshotChunk(_) => "snapshot chunk",
            StoreResponse::SnapshotDone(_) => "snapshot done",
            StoreResponse::Status(_) => "status",
            StoreResponse::Failed(_) => "failure",
            StoreResponse::AutoCompaction(_) => "auto compaction",
            StoreResponse::Defragmented { .. } => "defragmented",
        }
    }
}

/// Why a call failed, with what a client needs to act on it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{message}")]
pub struct StoreFailure {
    pub code: FailureCode,
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum FailureCode {
    /// The requested revision is compacted; history is kept after `compact_revision`.
    Compacted {
        compact_revision: u64,
    },
    /// A watcher fell behind and was cancelled; watch again after `last_delivered`.
    Lagged {
        last_delivered: u64,
    },
    FutureRevision,
    NoSpace,
    RequestTooLarge,
    /// A lease that does not exist, or a lease id already in use.
    Lease,
    BadRequest,
    /// The store cannot serve (closed, failed write, I/O error); retry or reopen.
    Unavailable,
}

impl StoreFailure {
    pub fn new(code: FailureCode, message: impl Into<String>) -> StoreFailure {
        StoreFailure {
            code,
            message: message.into(),
        }
    }
}

impl From<&StoreError> for StoreFailure {
    fn from(error: &StoreError) -> StoreFailure {
        let code = match error {
            StoreError::Compacted {
                compact_revision, ..
            } => FailureCode::Compacted {
                compact_revision: *compact_revision,
            },
            StoreError::FutureRevision { .. } => FailureCode::FutureRevision,
            StoreError::NoSpace { .. } => FailureCode::NoSpace,
            StoreError::RequestTooLarge { .. } => FailureCode::RequestTooLarge,
            StoreError::Lease { .. } => FailureCode::Lease,
            StoreError::Txn { .. } | StoreError::BadSnapshot { .. } => FailureCode::BadRequest,
            _ => FailureCode::Unavailable,
        };
        StoreFailure::new(code, chain(error))
    }
}

impl From<&WatchError> for StoreFailure {
    fn from(error: &WatchError) -> StoreFailure {
        let WatchError::Lagged { last_delivered, .. } = error;
        StoreFailure::new(
            FailureCode::Lagged {
                last_delivered: *last_delivered,
            },
            error.to_string(),
        )
    }
}

pub fn encode_request(request: &StoreRequest) -> Result<Vec<u8>, CodecError> {
    encode(request)
}

pub fn decode_request(bytes: &[u8]) -> Result<StoreRequest, CodecError> {
    decode(bytes)
}

pub fn encode_response(response: &StoreResponse) -> Result<Vec<u8>, CodecError> {
    encode(response)
}

pub fn decode_response(bytes: &[u8]) -> Result<StoreResponse, CodecError> {
    decode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use flotilla_store::{KeyRange, Op};

    #[test]
    fn requests_and_responses_survive_the_codec() {
        let requests = [
            StoreRequest::Range(RangeRequest::prefix(b"/registry/")),
            StoreRequest::Txn(Txn {
                compares: Vec::new(),
                success: vec![Op::put(b"k", b"v")],
                failure: Vec::new(),
            }),
            StoreRequest::Watch(WatchRequest::new(KeyRange::Key(b"k".to_vec()), 7)),
            StoreRequest::Compact { revision: 3 },
            StoreRequest::Snapshot,
        ];
        for request in requests {
            let bytes = encode_request(&request).unwrap();
            assert_eq!(decode_request(&bytes).unwrap(), request);
        }
        let failure = StoreResponse::Failed(StoreFailure::new(
            FailureCode::Compacted {
                compact_revision: 9,
            },
            "compacted",
        ));
        let bytes = encode_response(&failure).unwrap();
        assert_eq!(decode_response(&bytes).unwrap(), failure);
    }

    #[test]
    fn variants_keep_their_wire_tags() {
        // bincode tags a variant by its position: appending must not renumber the old ones.
        let tag = |bytes: Vec<u8>| bytes[0];
        assert_eq!(tag(encode_request(&StoreRequest::Status).unwrap()), 9);
        assert_eq!(
            tag(encode_request(&StoreRequest::AutoCompaction).unwrap()),
            10
        );
        assert_eq!(tag(encode_request(&StoreRequest::Defragment).unwrap()), 11);
        let failed = StoreResponse::Failed(StoreFailure::new(FailureCode::NoSpace, "full"));
        assert_eq!(tag(encode_response(&failed).unwrap()), 10);
        let auto = StoreResponse::AutoCompaction(AutoCompaction {
            retention: Duration::from_secs(3600),
            last: None,
        });
        let bytes = encode_response(&auto).unwrap();
        assert_eq!(tag(bytes.clone()), 11);
        assert_eq!(decode_response(&bytes).unwrap(), auto);
        let defragmented = StoreResponse::Defragmented {
            before_bytes: 2,
            after_bytes: 1,
        };
        assert_eq!(tag(encode_response(&defragmented).unwrap()), 12);
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(decode_request(&[0xff, 0xff, 0xff, 0xff]).is_err());
        assert!(decode_response(&[]).is_err());
    }

    #[test]
    fn store_errors_keep_what_a_client_acts_on() {
        let compacted = StoreError::Compacted {
            requested: 2,
            compact_revision: 5,
        };
        assert_eq!(
            StoreFailure::from(&compacted).code,
            FailureCode::Compacted {
                compact_revision: 5
            }
        );
        let lagged = WatchError::Lagged {
            last_delivered: 11,
            buffer: 4,
        };
        let failure = StoreFailure::from(&lagged);
        assert_eq!(failure.code, FailureCode::Lagged { last_delivered: 11 });
        assert!(failure.message.contains("resume after revision 11"));
    }
}
