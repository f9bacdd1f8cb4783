//! The caller's further frames on a call, after its request: what makes a call two-way (an
//! exec's standard input and terminal size). The caller writes them with a [`CallSender`]
//! instead of finishing its side after the request; the handler reads them from [`Inputs`].
//! Most calls have none: their caller finishes at once, and their handler drops the inputs,
//! which tells a caller that still writes to stop.

use std::marker::PhantomData;
use std::net::SocketAddr;

use quinn::{RecvStream, SendStream};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::codec::{encode_frame_within, read_frame_within, write_encoded};
use crate::error::TransportError;

/// The caller's frames after its request, as the handler reads them.
pub struct Inputs<Req> {
    recv: RecvStream,
    max_frame_bytes: usize,
    ended: bool,
    frames: PhantomData<fn() -> Req>,
}

impl<Req: DeserializeOwned> Inputs<Req> {
    pub(crate) fn new(recv: RecvStream, max_frame_bytes: usize) -> Inputs<Req> {
        Inputs {
            recv,
            max_frame_bytes,
            ended: false,
            frames: PhantomData,
        }
    }

    /// The next frame; `None` once the caller finished its side, reset it, or sent something
    /// unreadable (the handler cannot tell the caller, so it stops listening).
    pub async fn next(&mut self) -> Option<Req> {
        if self.ended {
            return None;
        }
        match read_frame_within(&mut self.recv, self.max_frame_bytes).await {
            Ok(Some(frame)) => Some(frame),
            Ok(None) => {
                self.ended = true;
                None
            }
            Err(error) => {
                tracing::debug!(%error, "a call's input ended");
                self.ended = true;
                None
            }
        }
    }
}

/// The caller's side of a call's inputs. Dropping it ends them, as [`CallSender::finish`] does.
pub struct CallSender<Req> {
    send: SendStream,
    addr: SocketAddr,
    max_frame_bytes: usize,
    frames: PhantomData<fn(Req)>,
}

impl<Req: Serialize> CallSender<Req> {
    pub(crate) fn new(send: SendStream, addr: SocketAddr, max_frame_bytes: usize) -> Self {
        CallSender {
            send,
            addr,
            max_frame_bytes,
            frames: PhantomData,
        }
    }

    /// Sends one more frame; fails once the handler stopped listening or the call is gone.
    pub async fn send(&mut self, frame: &Req) -> Result<(), TransportError> {
        let encoded = encode_frame_within(frame, self.max_frame_bytes)
            .map_err(|err| TransportError::from_call_frame(self.addr, "", "input", err))?;
        write_encoded(&mut self.send, &encoded)
            .await
            .map_err(|err| TransportError::from_call_frame(self.addr, "", "input", err))
    }

    /// Tells the handler there is nothing more.
    pub fn finish(mut self) {
        // Fails only on a stream already finished or reset, when there is nothing to tell.
        let _ = self.send.finish();
    }
}
