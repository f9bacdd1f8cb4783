//! How in-process components reach the API server actor: a handle the actor fills in when it
//! starts, and again after every restart, with the table of node agents the API server calls.
//! Passing it around, rather than looking the actor up by a process-wide name, lets two
//! clusters (or two tests) live in one process.

use std::sync::{Arc, PoisonError, RwLock};

use ractor::ActorRef;

use super::message::ApiCall;
use super::node_link::NodeLinks;

/// The in-process API server, once it runs. Cheap to clone; clones share the slot.
#[derive(Debug, Clone, Default)]
pub struct LocalApi {
    server: Arc<RwLock<Option<ActorRef<ApiCall>>>>,
    links: NodeLinks,
}

impl LocalApi {
    /// The node agents the API server can call.
    pub fn links(&self) -> &NodeLinks {
        &self.links
    }

    /// Called by the API server actor as it starts: calls go to `actor` from now on.
    pub fn serve(&self, actor: ActorRef<ApiCall>) {
        *self.server.write().unwrap_or_else(PoisonError::into_inner) = Some(actor);
    }

    /// Called by the API server actor as it stops: calls fail until it serves again. A newer
    /// actor that already took over is left in place.
    pub fn stop_serving(&self, actor: &ActorRef<ApiCall>) {
        let mut slot = self.server.write().unwrap_or_else(PoisonError::into_inner);
        if slot
            .as_ref()
            .is_some_and(|serving| serving.get_id() == actor.get_id())
        {
            *slot = None;
        }
    }

    /// Hands `call` to the API server; false if none is serving (the call is dropped, and
    /// with it its reply channel).
    pub fn send(&self, call: ApiCall) -> bool {
        let slot = self.server.read().unwrap_or_else(PoisonError::into_inner);
        slot.as_ref().is_some_and(|actor| actor.cast(call).is_ok())
    }
}
