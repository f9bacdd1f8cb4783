//! The one error type at the API edge: a stable code and a message an operator can act on.

use serde::{Deserialize, Serialize};

/// Stable error classes, as an operator of Kubernetes would know them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ErrorCode {
    NotFound,
    AlreadyExists,
    /// The object changed since it was read (resourceVersion mismatch).
    Conflict,
    /// The object failed validation; the message names the field paths.
    Invalid,
    BadRequest,
    Forbidden,
    /// The requested history has been compacted away.
    Gone,
    /// A component the request needs is not available (e.g. the pod's node is not connected).
    Unavailable,
    Internal,
    /// The request would break a limit that may lift later (an eviction a disruption budget
    /// does not allow yet); retry.
    TooManyRequests,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::NotFound => "NotFound",
            ErrorCode::AlreadyExists => "AlreadyExists",
            ErrorCode::Conflict => "Conflict",
            ErrorCode::Invalid => "Invalid",
            ErrorCode::BadRequest => "BadRequest",
            ErrorCode::Forbidden => "Forbidden",
            ErrorCode::Gone => "Gone",
            ErrorCode::Unavailable => "ServiceUnavailable",
            ErrorCode::Internal => "InternalError",
            ErrorCode::TooManyRequests => "TooManyRequests",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{message}")]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    pub fn not_found(what: impl std::fmt::Display) -> Self {
        Self::new(ErrorCode::NotFound, format!("{what} not found"))
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Internal, message)
    }
}
