//! End-to-end tests over real QUIC connections on loopback, grouped by what they prove.

mod corpus;
mod inputs;
mod limits;
mod reverse;
mod rpc;
mod trust;
