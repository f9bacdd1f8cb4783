//! The QUIC front door of a standalone store (`flotilla store serve`): store calls go to the
//! [`StoreService`]; everything else is refused, naming what this server is.

use std::sync::Arc;

use flotilla_kernel::api::{ApiError, ErrorCode, Request, Response};
use flotilla_transport::{Handler, Peer, Responses};

use super::StoreService;

pub struct StoreFront(pub Arc<StoreService>);

impl Handler<Request, Response> for StoreFront {
    fn handle(&self, peer: Peer, request: Request) -> Responses<Response> {
        if let Request::Store { call } = &request {
            return self.0.call(&peer.identity, call);
        }
        Responses::one(Response::Error(ApiError::new(
            ErrorCode::BadRequest,
            format!(
                "this is a standalone store: it serves `flotilla store` calls, not {}",
                request.verb()
            ),
        )))
    }
}
