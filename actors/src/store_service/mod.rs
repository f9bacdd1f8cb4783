//! The raw store as a network service: etcd's role for tools and benchmarks. `flotilla server`
//! and `flotilla up` serve it on the API's own QUIC endpoint (admins only), and
//! `flotilla store serve` runs a store alone.

mod client;
mod front;
mod protocol;
mod service;

pub use client::{StoreCallError, StoreClient, StoreWatch};
pub use front::StoreFront;
pub use protocol::{FailureCode, StoreFailure, StoreRequest, StoreResponse};
pub use service::StoreService;
