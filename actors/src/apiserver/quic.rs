//! The API's QUIC front door: each call on a verified connection is served like an in-process
//! [`ApiCall`], with the identity taken from the peer's client certificate, in a task of its
//! own (no actor mailbox in between). Raw store calls (`flotilla store`) go straight to the
//! store service instead, and a node agent's `AgentLink` registers its connection for the API
//! server's calls to it.

use std::sync::Arc;

use tokio::sync::mpsc;

use flotilla_kernel::api::{
    ApiCall, ApiError, ErrorCode, INPUT_BUFFER, Input, NodeLinks, Request, Response, receive_inputs,
};
use flotilla_transport::{Handler, Inputs, Peer, Responses};

use super::authz::node_name;
use super::handler::{self, Context};
use crate::store_service::StoreService;

/// Responses one call may queue before the API server waits for the network.
const CALL_BUFFER: usize = 256;

pub struct QuicFront {
    pub context: Arc<Context>,
    pub store: Option<Arc<StoreService>>,
}

impl Handler<Request, Response> for QuicFront {
    fn handle(&self, peer: Peer, request: Request) -> Responses<Response> {
        self.serve(peer, request, None)
    }

    /// An attached exec reads its standard input and terminal sizes from the call, an image
    /// import its archive; every other call has none.
    fn handle_with_inputs(
        &self,
        peer: Peer,
        request: Request,
        frames: Inputs<Request>,
    ) -> Responses<Response> {
        if !matches!(
            request,
            Request::ExecAttached { .. } | Request::ImportImages { .. }
        ) {
            return self.handle(peer, request);
        }
        let (inputs, received) = mpsc::channel(INPUT_BUFFER);
        tokio::spawn(receive_inputs(frames, inputs, |frame| match frame {
            Request::Input(input) => Some(input),
            _ => None,
        }));
        self.serve(peer, request, Some(received))
    }
}

impl QuicFront {
    fn serve(
        &self,
        peer: Peer,
        request: Request,
        inputs: Option<mpsc::Receiver<Input>>,
    ) -> Responses<Response> {
        if let (Request::Store { call }, Some(store)) = (&request, &self.store) {
            return store.call(&peer.identity, call);
        }
        if matches!(request, Request::AgentLink) {
            return link_agent(&self.context.links, peer);
        }
        let (reply, responses) = mpsc::channel(CALL_BUFFER);
        let call = ApiCall {
            caller: peer.identity,
            serial: peer.serial,
            request,
            reply,
            inputs,
        };
        tokio::spawn(handler::serve(call, Arc::clone(&self.context)));
        Responses::channel(responses)
    }
}

/// Registers a node agent's connection for the API server's calls, for as long as the call
/// stays open: it is never answered, and a later link of the same node replaces it.
fn link_agent(links: &NodeLinks, peer: Peer) -> Responses<Response> {
    let Some(node) = node_name(&peer.identity) else {
        return Responses::one(Response::Error(ApiError::new(
            ErrorCode::Forbidden,
            format!(
                "{} (role {}) is not a node agent and serves no calls",
                peer.identity.name, peer.identity.role
            ),
        )));
    };
    let (open, call) = mpsc::channel(1);
    tracing::info!(node, addr = %peer.addr, "node agent linked");
    links.register_remote(node, peer.link, open);
    Responses::channel(call)
}
