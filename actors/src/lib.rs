//! flotilla's components, one module per actor: the API server (the only client of the store,
//! whose handle it is given), the raw store service beside it, the store's compactor, the
//! scheduler, the controllers, the node agent and the node's share of the pod network. Each is a thin ractor driver around a pure
//! core, started by the kernel's supervisor.

pub mod apiserver;
pub mod compactor;
pub mod controllers;
pub mod dns;
pub mod informer;
pub mod kubelet;
pub mod network_policy;
pub mod node_lifecycle;
pub mod node_network;
pub mod proxy;
pub mod scheduler;
pub mod store_service;

#[cfg(test)]
mod test_api;
