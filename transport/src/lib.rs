//! flotilla-transport: how flotilla's components talk to each other across machines.
//!
//! QUIC (quinn) with mutual TLS (rustls, *ring* provider) carries every message; the cluster
//! PKI (rcgen) issues the certificates, and the client certificate's subject is the caller's
//! [`Identity`]. On top sits a small RPC layer: each call is one bidirectional QUIC stream on a
//! shared connection, carrying one request frame and one (unary) or many (streaming) response
//! frames, encoded by [`codec`]. The crate is generic over serde types and knows nothing about
//! flotilla's object kinds, so it can be tested and reasoned about on its own.

pub mod call_abort;
pub mod client;
pub mod codec;
pub mod error;
pub mod identity;
pub mod pki;
pub mod server;
pub mod tls;

#[cfg(test)]
mod test_support;

pub use call_abort::CallAbort;
pub use client::{Client, DEFAULT_CONNECT_TIMEOUT};
pub use codec::{
    CodecError, FrameError, MAX_FRAME_BYTES, decode, encode, encode_frame, read_frame,
    write_encoded, write_frame,
};
pub use error::TransportError;
pub use identity::{Identity, IdentityError};
pub use pki::{CA_CERT_FILE, CA_KEY_FILE, ClusterPki, Credentials, PkiError};
pub use server::{Handler, Peer, Server};
pub use tls::ALPN_NAME;
