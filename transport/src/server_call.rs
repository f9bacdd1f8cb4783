//! One call on the server: read the request, run the handler, relay its responses.
//!
//! A call is one stream: the client sends a [`CallRequest`] frame (its request and deadline) and
//! finishes its side (or sends more frames, the handler's [`Inputs`]); the server answers with response frames and finishes. Unary and
//! server-streaming calls are the same on the wire, a unary handler just sends one item. The call
//! ends early when the client stops reading or its deadline passes; either way the handler's
//! receiver is dropped, so the handler sees its sender closed and can stop.

use crate::call_abort::CallAbort;
use crate::call_inputs::Inputs;
use crate::codec::{FrameError, encode_frame_within, read_frame_within, write_encoded};
use crate::limits::TransportLimits;
use crate::protocol::CallRequest;
use crate::responses::Responses;
use crate::server::{Handler, Peer};
use quinn::{RecvStream, SendStream};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::sync::Arc;
use tokio::time::Instant;

/// How a call ended.
enum Outcome {
    /// The handler dropped its sender: every response was sent.
    Done,
    /// The client stopped reading or the connection went away.
    ClientGone,
    /// A response could not be sent.
    SendFailed(FrameError),
    /// A response could not be encoded within the frame limit.
    Unencodable(FrameError),
    /// The client's deadline passed.
    DeadlineExceeded,
}

/// Serves one call on a freshly accepted stream.
pub(crate) async fn serve_call<Req, Resp, H>(
    mut send: SendStream,
    mut recv: RecvStream,
    peer: Peer,
    handler: Arc<H>,
    limits: TransportLimits,
) where
    Req: DeserializeOwned + Send + 'static,
    Resp: Serialize + Send + 'static,
    H: Handler<Req, Resp>,
{
    let read = read_frame_within::<_, CallRequest<Req>>(&mut recv, limits.max_frame_bytes);
    let request = match tokio::time::timeout(limits.request_timeout, read).await {
        Ok(Ok(Some(request))) => request,
        Ok(Ok(None)) => return abort(&mut send, &peer, CallAbort::NoRequest),
        Ok(Err(FrameError::TooLarge { len, max })) => {
            tracing::warn!(peer = %peer.identity, len, max, "request exceeds the frame limit");
            return abort(&mut send, &peer, CallAbort::RequestTooLarge);
        }
        Ok(Err(err)) => {
            tracing::warn!(peer = %peer.identity, error = %err, "unreadable request");
            return abort(&mut send, &peer, CallAbort::BadRequest);
        }
        Err(_) => return abort(&mut send, &peer, CallAbort::RequestTimeout),
    };
    let deadline = request
        .deadline(Instant::now().into_std())
        .map(Instant::from_std);
    let inputs = Inputs::new(recv, limits.max_frame_bytes);
    let responses = handler.handle_with_inputs(peer.clone(), request.body, inputs);
    let outcome = tokio::select! {
        () = expiry(deadline) => Outcome::DeadlineExceeded,
        outcome = relay(&mut send, responses, limits.max_frame_bytes) => outcome,
    };
    match outcome {
        Outcome::Done => {
            // The stream may already be gone if the client reset it; nothing is left to do.
            let _ = send.finish();
        }
        Outcome::ClientGone => {
            tracing::debug!(peer = %peer.identity, "client stopped reading; ending the call");
        }
        Outcome::SendFailed(err) => {
            tracing::debug!(peer = %peer.identity, error = %err, "call ended while sending");
        }
        Outcome::Unencodable(FrameError::TooLarge { len, max }) => {
            tracing::warn!(peer = %peer.identity, len, max, "a response exceeds the frame limit");
            abort(&mut send, &peer, CallAbort::ResponseTooLarge);
        }
        Outcome::Unencodable(err) => {
            tracing::warn!(peer = %peer.identity, error = %err, "cannot encode a response");
            abort(&mut send, &peer, CallAbort::ResponseUnencodable);
        }
        Outcome::DeadlineExceeded => abort(&mut send, &peer, CallAbort::DeadlineExceeded),
    }
}

/// Sends the handler's responses until it is done or the client stops reading. Owning the
/// responses means that when this future is dropped (deadline), the handler sees it at once.
async fn relay<Resp: Serialize>(
    send: &mut SendStream,
    mut responses: Responses<Resp>,
    max_frame_bytes: usize,
) -> Outcome {
    // One wait for the client to stop reading, kept across responses: making a new one per
    // response would lock the connection once more for every frame of a long watch.
    let stopped = send.stopped();
    tokio::pin!(stopped);
    loop {
        let next = tokio::select! {
            _ = &mut stopped => return Outcome::ClientGone,
            response = responses.next() => response,
        };
        let Some(response) = next else {
            return Outcome::Done;
        };
        let frame = match encode_frame_within(&response, max_frame_bytes) {
            Ok(frame) => frame,
            Err(err) => return Outcome::Unencodable(err),
        };
        drop(response);
        if let Err(err) = write_encoded(send, &frame).await {
            return Outcome::SendFailed(err);
        }
        // Quinn's writes do not count against tokio's cooperative budget: without this, a
        // stream that is always ready would fill the connection's whole send window before
        // yielding, starving the other tasks of this worker (the connection's driver too).
        tokio::task::consume_budget().await;
    }
}

/// Resolves when the deadline passes; never, for calls without one.
async fn expiry(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

/// Ends a call by resetting its stream with `reason`.
fn abort(send: &mut SendStream, peer: &Peer, reason: CallAbort) {
    tracing::debug!(peer = %peer.identity, reason = reason.describe(), "aborting call");
    // A stream the client already closed needs no reset.
    let _ = send.reset(reason.code());
}
