//! What flows on a connection besides the caller's own messages: the version hello and the
//! envelope around each request.
//!
//! Right after the TLS handshake the client opens the connection's first stream and sends a
//! [`Hello`] with its protocol version; the server answers with its own and both compare. Doing it
//! in a frame rather than only in ALPN lets the side that refuses say which two versions met, so
//! the operator knows which one to upgrade. `Hello` must keep its shape in every future version.
//!
//! Each call's first frame is a [`CallRequest`]: the request plus how long the client will wait,
//! so the server can stop work nobody will read.

use quinn::VarInt;
use serde::{Deserialize, Serialize};
use std::time::{Duration, Instant};

/// The protocol version this build speaks.
pub const PROTOCOL_VERSION: u32 = 1;

/// Connection close code: the client's certificate was revoked; the reason says why.
pub(crate) const CLOSE_REVOKED: VarInt = VarInt::from_u32(3);
/// Connection close code: the client's certificate expired while connected.
pub(crate) const CLOSE_EXPIRED: VarInt = VarInt::from_u32(4);

/// The first frame each way on a new connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hello {
    pub version: u32,
}

/// Two ends that speak different protocol versions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("client speaks flotilla protocol version {client}, server speaks version {server}")]
pub struct VersionMismatch {
    pub client: u32,
    pub server: u32,
}

/// Compares the versions of both ends.
pub fn check_version(client: u32, server: u32) -> Result<(), VersionMismatch> {
    if client == server {
        Ok(())
    } else {
        Err(VersionMismatch { client, server })
    }
}

/// The first frame of a call: the request and the client's deadline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallRequest<Req> {
    /// Milliseconds the client still waits for the response, counted from when it sent the
    /// request; `None` for calls without a deadline (watches).
    pub deadline_ms: Option<u64>,
    pub body: Req,
}

impl<Req> CallRequest<Req> {
    /// A request whose client waits `remaining` more (rounded up to whole milliseconds).
    pub fn new(body: Req, remaining: Option<Duration>) -> CallRequest<Req> {
        let deadline_ms = remaining.map(|d| {
            let ms = d.as_micros().div_ceil(1000);
            u64::try_from(ms).unwrap_or(u64::MAX)
        });
        CallRequest { deadline_ms, body }
    }

    /// The instant, measured from `received`, after which nobody waits for the response.
    pub fn deadline(&self, received: Instant) -> Option<Instant> {
        self.deadline_ms
            .and_then(|ms| received.checked_add(Duration::from_millis(ms)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::{decode, encode};

    #[test]
    fn equal_versions_agree_and_unequal_ones_name_both() {
        assert!(check_version(3, 3).is_ok());
        let err = check_version(2, 1).unwrap_err();
        assert_eq!(
            err.to_string(),
            "client speaks flotilla protocol version 2, server speaks version 1"
        );
    }

    #[test]
    fn hello_has_a_stable_encoding() {
        // A varint: changing Hello's shape would break every older peer's error message.
        assert_eq!(encode(&Hello { version: 1 }).unwrap(), vec![1]);
        assert_eq!(decode::<Hello>(&[7]).unwrap(), Hello { version: 7 });
    }

    #[test]
    fn deadlines_round_up_and_survive_the_wire() {
        let request = CallRequest::new("x".to_owned(), Some(Duration::from_micros(1500)));
        assert_eq!(request.deadline_ms, Some(2));
        let back: CallRequest<String> = decode(&encode(&request).unwrap()).unwrap();
        let now = Instant::now();
        assert_eq!(back.deadline(now), Some(now + Duration::from_millis(2)));
        let watch = CallRequest::new(0u8, None);
        assert_eq!(watch.deadline(now), None);
    }

    #[test]
    fn an_absurd_deadline_does_not_overflow() {
        let request = CallRequest::new(0u8, Some(Duration::MAX));
        assert_eq!(request.deadline_ms, Some(u64::MAX));
        let now = Instant::now();
        let far = request.deadline(now);
        assert!(far.is_none_or(|d| d > now + Duration::from_secs(1 << 40)));
    }
}
