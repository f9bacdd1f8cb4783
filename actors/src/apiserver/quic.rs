//! The API's QUIC front door: each call on a verified connection becomes an [`ApiCall`] to
//! the API server actor, with the identity taken from the peer's client certificate.

use ractor::ActorRef;
use tokio::sync::mpsc;

use flotilla_kernel::api::{APISERVER, ApiCall, ApiError, ErrorCode, Request, Response};
use flotilla_transport::{Handler, Peer};

/// Responses one call may queue before the API server waits for the network.
const CALL_BUFFER: usize = 256;

pub struct QuicFront;

impl Handler<Request, Response> for QuicFront {
    fn handle(&self, peer: Peer, request: Request) -> mpsc::Receiver<Response> {
        let (reply, responses) = mpsc::channel(CALL_BUFFER);
        let call = ApiCall {
            caller: peer.identity,
            request,
            reply: reply.clone(),
        };
        let delivered =
            ActorRef::<ApiCall>::where_is(APISERVER).is_some_and(|api| api.cast(call).is_ok());
        if !delivered {
            let error = ApiError::new(
                ErrorCode::Unavailable,
                "the API server is restarting; retry",
            );
            // A fresh channel with room for one response cannot be full.
            let _ = reply.try_send(Response::Error(error));
        }
        responses
    }
}
