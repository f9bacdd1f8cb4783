//! flotilla's components, one module per actor: the store actor (sole owner of the store), the
//! API server (the only client of the store actor), the scheduler, the controllers and the node
//! agent. Each is a thin ractor driver around a pure core, started by the kernel's supervisor.

pub mod apiserver;
pub mod controllers;
pub mod informer;
pub mod kubelet;
pub mod node_lifecycle;
pub mod scheduler;
pub mod store;
pub mod store_service;
