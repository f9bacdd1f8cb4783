//! flotilla's components, one module per actor: the API server (the only client of the store,
//! whose handle it is given), the raw store service beside it, the store's compactor, the
//! scheduler, the controllers and the node agent. Each is a thin ractor driver around a pure
//! core, started by the kernel's supervisor.

pub mod apiserver;
pub mod compactor;
pub mod controllers;
pub mod informer;
pub mod kubelet;
pub mod node_lifecycle;
pub mod scheduler;
pub mod store_service;

#[cfg(test)]
mod test_api;
