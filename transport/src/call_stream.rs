//! The caller's end of a streaming call. Responses are read off the QUIC stream when the
//! caller asks for the next one, with no task or channel in between: a watch with thousands of
//! watchers then costs one wake-up per event instead of two. QUIC's stream window is the buffer
//! that lets the server run ahead of the caller.

use std::marker::PhantomData;

use std::net::SocketAddr;

use quinn::{RecvStream, VarInt};
use serde::de::DeserializeOwned;

use crate::client::Client;
use crate::codec::{FrameError, decode_frame};
use crate::error::TransportError;

/// Stream stop code: the caller no longer wants the responses.
const STOP_CANCELLED: VarInt = VarInt::from_u32(0);
/// Most bytes taken off the stream at once.
const READ_CHUNK: usize = 64 * 1024;
/// Most bytes reserved ahead for the rest of a frame.
const RESERVE_BYTES: usize = 1 << 20;

/// The other end of a call, for phrasing its errors.
#[derive(Clone)]
pub(crate) enum CallEnd {
    /// The server a client called.
    Server(Client),
    /// A client the server called back on its connection.
    Peer { addr: SocketAddr },
}

impl CallEnd {
    pub(crate) fn frame_error(&self, what: &'static str, err: FrameError) -> TransportError {
        match self {
            CallEnd::Server(client) => client.call_frame_error(what, err),
            CallEnd::Peer { addr } => TransportError::from_call_frame(*addr, "", what, err),
        }
    }
}

/// The responses of one streaming call. Dropping it stops the call at the other end.
pub struct CallStream<Resp> {
    recv: RecvStream,
    end: CallEnd,
    max_frame_bytes: usize,
    /// Bytes read but not yet a whole frame.
    pending: Vec<u8>,
    ended: bool,
    responses: PhantomData<fn() -> Resp>,
}

impl<Resp: DeserializeOwned> CallStream<Resp> {
    pub(crate) fn new(recv: RecvStream, end: CallEnd, max_frame_bytes: usize) -> CallStream<Resp> {
        CallStream {
            max_frame_bytes,
            recv,
            end,
            pending: Vec::new(),
            ended: false,
            responses: PhantomData,
        }
    }

    /// The next response; `None` once the server ended the call. A failure arrives as one
    /// `Err`, after which the stream is over. Cancel-safe: bytes already read stay buffered.
    pub async fn recv(&mut self) -> Option<Result<Resp, TransportError>> {
        if self.ended {
            return None;
        }
        let next = self.next_frame().await;
        if !matches!(next, Some(Ok(_))) {
            self.ended = true;
        }
        next
    }

    async fn next_frame(&mut self) -> Option<Result<Resp, TransportError>> {
        loop {
            if !self.pending.is_empty() {
                match decode_frame::<Resp>(&self.pending, self.max_frame_bytes) {
                    Ok((response, used)) => {
                        self.pending.drain(..used);
                        return Some(Ok(response));
                    }
                    // Not all of the frame is here yet: make room for the rest of it at once
                    // (bounded, so a header alone cannot make us allocate the frame limit).
                    Err(FrameError::Truncated { expected, got }) => {
                        self.pending
                            .reserve(expected.saturating_sub(got).min(RESERVE_BYTES));
                    }
                    Err(err) => return Some(Err(self.end.frame_error("response", err))),
                }
            }
            match self.recv.read_chunk(READ_CHUNK, true).await {
                Ok(Some(chunk)) => self.pending.extend_from_slice(&chunk.bytes),
                Ok(None) if self.pending.is_empty() => return None,
                Ok(None) => {
                    let cut = decode_frame::<Resp>(&self.pending, self.max_frame_bytes)
                        .err()
                        .unwrap_or(FrameError::Truncated {
                            expected: self.pending.len() + 1,
                            got: self.pending.len(),
                        });
                    return Some(Err(self.end.frame_error("response", cut)));
                }
                Err(err) => {
                    let source = std::io::Error::from(err);
                    let err = FrameError::Io { source };
                    return Some(Err(self.end.frame_error("response", err)));
                }
            }
        }
    }
}

impl<Resp> Drop for CallStream<Resp> {
    fn drop(&mut self) {
        if !self.ended {
            // The stream may already be closed, in which case there is nothing to stop.
            let _ = self.recv.stop(STOP_CANCELLED);
        }
    }
}
