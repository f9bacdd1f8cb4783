//! The QUIC front door of a standalone store (`flotilla store serve`): store calls go to the
//! [`StoreService`]; everything else is refused, naming what this server is.

use std::sync::Arc;

use tokio::sync::mpsc;

use flotilla_kernel::api::{ApiError, ErrorCode, Request, Response};
use flotilla_transport::{Handler, Peer};

use super::StoreService;

pub struct StoreFront(pub Arc<StoreService>);

impl Handler<Request, Response> for StoreFront {
    fn handle(&self, peer: Peer, request: Request) -> mpsc::Receiver<Response> {
        if let Request::Store { call } = &request {
            return self.0.call(&peer.identity, call);
        }
        let (reply, responses) = mpsc::channel(1);
        let error = ApiError::new(
            ErrorCode::BadRequest,
            format!(
                "this is a standalone store: it serves `flotilla store` calls, not {}",
                request.verb()
            ),
        );
        // A fresh channel has room for one response.
        let _ = reply.try_send(Response::Error(error));
        responses
    }
}
