//! The API's QUIC front door: each call on a verified connection becomes an [`ApiCall`] to
//! the API server actor, with the identity taken from the peer's client certificate. Raw store
//! calls (`flotilla store`) go straight to the store service instead, so they never queue
//! behind object requests in the actor's mailbox.

use std::sync::Arc;

use ractor::ActorRef;
use tokio::sync::mpsc;

use flotilla_kernel::api::{APISERVER, ApiCall, ApiError, ErrorCode, Request, Response};
use flotilla_transport::{Handler, Peer, Responses};

use crate::store_service::StoreService;

/// Responses one call may queue before the API server waits for the network.
const CALL_BUFFER: usize = 256;

pub struct QuicFront {
    pub store: Option<Arc<StoreService>>,
}

impl Handler<Request, Response> for QuicFront {
    fn handle(&self, peer: Peer, request: Request) -> Responses<Response> {
        if let (Request::Store { call }, Some(store)) = (&request, &self.store) {
            return store.call(&peer.identity, call);
        }
        let (reply, responses) = mpsc::channel(CALL_BUFFER);
        let call = ApiCall {
            caller: peer.identity,
            request,
            reply: reply.clone(),
        };
        let delivered =
            ActorRef::<ApiCall>::where_is(APISERVER).is_some_and(|api| api.cast(call).is_ok());
        if !delivered {
            return Responses::one(Response::Error(ApiError::new(
                ErrorCode::Unavailable,
                "the API server is restarting; retry",
            )));
        }
        Responses::channel(responses)
    }
}
