//! Why a server abandoned one call, sent as the QUIC error code of the reset stream.
//!
//! A call that goes wrong at the transport level (its request cannot be decoded, a response
//! cannot be encoded, its deadline passes) is ended by resetting its stream, not by closing the connection, so the
//! other calls multiplexed on that connection carry on. Client and server share this table so the
//! client can tell the operator what happened.

use quinn::VarInt;

/// The reasons a server resets a call's stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallAbort {
    /// The request frame was malformed or not the type the server expects.
    BadRequest,
    /// The client finished its side of the stream without sending a request.
    NoRequest,
    /// The request did not arrive in time.
    RequestTimeout,
    /// A response could not be encoded into a frame.
    ResponseUnencodable,
    /// The request frame is larger than the server's frame limit.
    RequestTooLarge,
    /// A response is larger than the server's frame limit.
    ResponseTooLarge,
    /// The client's deadline passed before the call completed.
    DeadlineExceeded,
}

impl CallAbort {
    const ALL: [CallAbort; 7] = [
        CallAbort::BadRequest,
        CallAbort::NoRequest,
        CallAbort::RequestTimeout,
        CallAbort::ResponseUnencodable,
        CallAbort::RequestTooLarge,
        CallAbort::ResponseTooLarge,
        CallAbort::DeadlineExceeded,
    ];

    /// The QUIC application error code carrying this reason.
    pub fn code(self) -> VarInt {
        VarInt::from_u32(match self {
            CallAbort::BadRequest => 1,
            CallAbort::NoRequest => 2,
            CallAbort::RequestTimeout => 3,
            CallAbort::ResponseUnencodable => 4,
            CallAbort::RequestTooLarge => 5,
            CallAbort::ResponseTooLarge => 6,
            CallAbort::DeadlineExceeded => 7,
        })
    }

    /// The reason a received code stands for, if it is one of ours.
    pub fn from_code(code: VarInt) -> Option<CallAbort> {
        CallAbort::ALL
            .into_iter()
            .find(|abort| abort.code() == code)
    }

    /// What the reason means, for an operator.
    pub fn describe(self) -> &'static str {
        match self {
            CallAbort::BadRequest => "the server could not decode the request",
            CallAbort::NoRequest => "the server received no request",
            CallAbort::RequestTimeout => "the request did not reach the server in time",
            CallAbort::ResponseUnencodable => "the server could not encode a response",
            CallAbort::RequestTooLarge => "the request exceeds the server's frame size limit",
            CallAbort::ResponseTooLarge => "a response exceeds the server's frame size limit",
            CallAbort::DeadlineExceeded => "the call's deadline passed before it completed",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_are_distinct() {
        for abort in CallAbort::ALL {
            assert_eq!(CallAbort::from_code(abort.code()), Some(abort));
        }
        assert_eq!(CallAbort::from_code(VarInt::from_u32(0)), None);
        assert_eq!(CallAbort::from_code(VarInt::from_u32(999)), None);
    }
}
