//! flotilla-transport: how flotilla's components talk to each other across machines.
//!
//! QUIC (quinn) with mutual TLS (rustls, *ring* provider) carries every message; the cluster
//! PKI (rcgen) issues the certificates, and the client certificate's subject is the caller's
//! [`Identity`]. On top sits a small RPC layer: a new connection first exchanges the protocol
//! version ([`protocol`]), then each call is one bidirectional QUIC stream on that shared
//! connection, carrying one request frame (with the caller's deadline) and one (unary) or many
//! (streaming) response frames, encoded by [`codec`]. Every bound one peer can push on the other
//! is in [`TransportLimits`]. The crate is generic over serde types and knows nothing about
//! flotilla's object kinds, so it can be tested and reasoned about on its own.

mod admission;
pub mod backoff;
pub mod call_abort;
mod call_inputs;
mod call_stream;
pub mod client;
pub mod codec;
pub mod error;
pub mod identity;
pub mod limits;
mod peer_link;
pub mod pki;
pub mod protocol;
mod responses;
mod resume;
mod revocation;
pub mod runtime;
pub mod server;
mod server_call;
pub mod tls;
mod verify;

#[cfg(test)]
mod test_support;
#[cfg(test)]
mod tests;

pub use backoff::Backoff;
pub use call_abort::CallAbort;
pub use call_inputs::{CallSender, Inputs};
pub use call_stream::CallStream;
pub use client::{Client, ClientOptions, DEFAULT_CALL_DEADLINE, DEFAULT_CONNECT_TIMEOUT};
pub use codec::{
    CodecError, FrameError, MAX_FRAME_BYTES, decode, decode_frame, encode, encode_frame,
    encode_frame_within, read_frame, read_frame_within, write_encoded, write_frame,
};
pub use error::TransportError;
pub use identity::{Identity, IdentityError};
pub use limits::TransportLimits;
pub use peer_link::PeerLink;
pub use pki::{
    CA_CERT_FILE, CA_KEY_FILE, CaPin, CertificateFacts, ClusterPki, Credentials, PkiError, ca_pin,
    certificate_facts, new_csr,
};
pub use protocol::{PROTOCOL_VERSION, VersionMismatch};
pub use responses::Responses;
pub use revocation::Revocations;
pub use server::{Handler, Peer, Server, ServerOptions, ServerStats};
pub use tls::ALPN_NAME;
