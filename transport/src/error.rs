//! What can go wrong when setting up an endpoint or making a call, phrased for the operator
//! who reads it.
//!
//! QUIC reports a failed TLS handshake as a bare alert number, either raised locally (we rejected
//! the server's certificate) or received from the peer (the server rejected ours).
//! [`TransportError::from_connection`] turns those into variants that say which certificate was
//! wrong and why, so `flotilla` can print one actionable line instead of "aborted by peer:
//! CRYPTO_ERROR(0x130)".

use crate::call_abort::CallAbort;
use crate::codec::FrameError;
use crate::protocol::CLOSE_REVOKED;
use quinn::{ConnectionError, VarInt};
use std::net::SocketAddr;
use std::time::Duration;

/// TLS alert numbers (RFC 8446 section 6) that name a certificate problem.
mod alert {
    pub const BAD_CERTIFICATE: u8 = 42;
    pub const UNSUPPORTED_CERTIFICATE: u8 = 43;
    pub const CERTIFICATE_REVOKED: u8 = 44;
    pub const CERTIFICATE_EXPIRED: u8 = 45;
    pub const UNKNOWN_CA: u8 = 48;
    pub const DECRYPT_ERROR: u8 = 51;
    pub const NO_APPLICATION_PROTOCOL: u8 = 120;
    pub const CERTIFICATE_REQUIRED: u8 = 116;
}

/// QUIC error codes 0x100..=0x1ff carry a TLS alert in their low byte.
const CRYPTO_ERROR_BASE: u64 = 0x100;

/// Why an endpoint could not be set up or a call could not be made.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    /// A PEM block in the credentials could not be read.
    #[error("cannot read the {what} in the credentials")]
    CredentialsPem {
        what: &'static str,
        #[source]
        source: rustls_pki_types::pem::Error,
    },
    /// A part of the credentials is empty.
    #[error("the credentials contain no {what}")]
    CredentialsMissing { what: &'static str },
    /// A CA certificate could not be added to the trusted roots.
    #[error("the CA certificate in the credentials is not usable as a trust root")]
    TrustRoot {
        #[source]
        source: rustls::Error,
    },
    /// The certificate, key and settings do not form a TLS configuration (for example the key
    /// does not match the certificate).
    #[error("the credentials do not form a valid TLS configuration")]
    TlsConfig {
        #[source]
        source: rustls::Error,
    },
    /// The client certificate verifier could not be built from the CA.
    #[error("cannot build the client certificate verifier from the CA in the credentials")]
    ClientVerifier {
        #[source]
        source: rustls::server::VerifierBuilderError,
    },
    /// The TLS configuration has no cipher suite QUIC can start with.
    #[error("the TLS configuration has no cipher suite usable by QUIC")]
    QuicCrypto {
        #[source]
        source: quinn::crypto::rustls::NoInitialCipherSuite,
    },
    /// The name to check the server certificate against is not a DNS name or IP address.
    #[error("{name:?} is not a valid server name")]
    InvalidServerName { name: String },
    /// The local UDP socket could not be opened.
    #[error("cannot open a QUIC endpoint on {addr}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    /// The transport limits are not usable.
    #[error("invalid transport limits: {problem}")]
    InvalidLimits { problem: String },
    /// The connection attempt could not even start.
    #[error("cannot start a connection to {addr}")]
    Connect {
        addr: SocketAddr,
        #[source]
        source: quinn::ConnectError,
    },
    /// Nothing answered within the connect timeout.
    #[error("no answer from {addr} within {timeout:?}; is the server running and reachable?")]
    Unreachable { addr: SocketAddr, timeout: Duration },
    /// The server's certificate is not signed by the CA we trust.
    #[error(
        "TLS handshake with {addr} failed: server certificate is not signed by the cluster CA in the config"
    )]
    ServerNotTrusted { addr: SocketAddr },
    /// The server's certificate is outside its validity window.
    #[error(
        "TLS handshake with {addr} failed: server certificate has expired or is not yet valid (check both clocks)"
    )]
    ServerCertExpired { addr: SocketAddr },
    /// The server's certificate is valid but not for the name we dialled, or is malformed.
    #[error(
        "TLS handshake with {addr} failed: server certificate does not fit server name {server_name:?}: {detail}"
    )]
    ServerCertRejected {
        addr: SocketAddr,
        server_name: String,
        detail: String,
    },
    /// The server refused our client certificate.
    #[error(
        "TLS handshake with {addr} failed: the server rejected our client certificate: {reason}"
    )]
    ClientCertRejected {
        addr: SocketAddr,
        reason: &'static str,
    },
    /// The server's CA is not the one the client pinned.
    #[error(
        "TLS handshake with {addr} failed: the server's CA is {presented}, not the pinned {pinned}"
    )]
    CaPinMismatch {
        addr: SocketAddr,
        pinned: String,
        presented: String,
    },
    /// The two ends speak different protocol versions.
    #[error("cannot talk to {addr}: {mismatch}; upgrade the older side")]
    VersionMismatch {
        addr: SocketAddr,
        mismatch: crate::protocol::VersionMismatch,
    },
    /// The server refused the connection before the handshake.
    #[error(
        "server {addr} refused the connection (too many connections from this address or too many handshakes in progress); retry later"
    )]
    Refused { addr: SocketAddr },
    /// The call did not complete within its deadline; the server was told to stop it.
    #[error("call to {addr} did not complete within its deadline of {deadline:?}")]
    DeadlineExceeded {
        addr: SocketAddr,
        deadline: Duration,
    },
    /// A message is larger than the frame limit; nothing of it was sent or kept.
    #[error("{what} of {len} bytes on a call to {addr} exceeds the frame limit of {max} bytes")]
    MessageTooLarge {
        addr: SocketAddr,
        what: &'static str,
        len: usize,
        max: usize,
    },
    /// Another TLS failure.
    #[error("TLS handshake with {addr} failed: {detail}")]
    Handshake { addr: SocketAddr, detail: String },
    /// The server closed the connection on purpose.
    #[error("server {addr} closed the connection: {reason}")]
    ClosedByServer { addr: SocketAddr, reason: String },
    /// The server revoked our client certificate while we were connected, and said why.
    #[error("server {addr} closed the connection: {reason}")]
    Revoked { addr: SocketAddr, reason: String },
    /// The server refused our client certificate at the handshake as revoked.
    #[error(
        "TLS handshake with {addr} failed: the server rejected our client certificate: it has been revoked"
    )]
    ClientCertRevoked { addr: SocketAddr },
    /// The connection broke (timeout, reset, local shutdown).
    #[error("connection to {addr} was lost")]
    ConnectionLost {
        addr: SocketAddr,
        #[source]
        source: ConnectionError,
    },
    /// The server reset the call's stream.
    #[error("server {addr} aborted the call: {reason}")]
    CallAborted { addr: SocketAddr, reason: String },
    /// The server ended a unary call without sending a response.
    #[error("server {addr} ended the call without a response")]
    NoResponse { addr: SocketAddr },
    /// A frame of the call could not be written or read.
    #[error("bad frame on a call to {addr}")]
    Frame {
        addr: SocketAddr,
        #[source]
        source: FrameError,
    },
}

/// Which side raised a TLS alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AlertOrigin {
    /// We raised it: the server's certificate failed our checks.
    Local,
    /// The server raised it: our certificate failed its checks.
    Peer,
}

impl TransportError {
    /// Explains why the connection to `addr`, dialled as `server_name`, failed.
    pub(crate) fn from_connection(
        addr: SocketAddr,
        server_name: &str,
        err: ConnectionError,
    ) -> TransportError {
        match err {
            ConnectionError::TransportError(ref local) => match tls_alert(local.code.into()) {
                Some(alert) => {
                    tls_failure(addr, server_name, AlertOrigin::Local, alert, &local.reason)
                }
                None => TransportError::ConnectionLost { addr, source: err },
            },
            ConnectionError::ConnectionClosed(ref close)
                if close.error_code == quinn::TransportErrorCode::CONNECTION_REFUSED =>
            {
                TransportError::Refused { addr }
            }
            ConnectionError::ConnectionClosed(ref close) => {
                match tls_alert(close.error_code.into()) {
                    Some(alert) => tls_failure(
                        addr,
                        server_name,
                        AlertOrigin::Peer,
                        alert,
                        &printable(&close.reason),
                    ),
                    None => TransportError::ConnectionLost { addr, source: err },
                }
            }
            ConnectionError::ApplicationClosed(close) if close.error_code == CLOSE_REVOKED => {
                TransportError::Revoked {
                    addr,
                    reason: printable(&close.reason),
                }
            }
            ConnectionError::ApplicationClosed(close) => TransportError::ClosedByServer {
                addr,
                reason: printable(&close.reason),
            },
            other => TransportError::ConnectionLost {
                addr,
                source: other,
            },
        }
    }

    /// Whether the server revoked our certificate: nothing but a new one will do.
    pub fn is_revoked(&self) -> bool {
        matches!(
            self,
            TransportError::Revoked { .. } | TransportError::ClientCertRevoked { .. }
        )
    }

    /// Explains a failed frame read or write on a call to `addr`.
    pub(crate) fn from_frame(
        addr: SocketAddr,
        server_name: &str,
        err: FrameError,
    ) -> TransportError {
        let stream_error = match &err {
            FrameError::Io { source } => source.get_ref(),
            _ => None,
        };
        if let Some(read) = stream_error.and_then(|e| e.downcast_ref::<quinn::ReadError>()) {
            match read {
                quinn::ReadError::Reset(code) => return TransportError::aborted(addr, *code),
                quinn::ReadError::ConnectionLost(lost) => {
                    return TransportError::from_connection(addr, server_name, lost.clone());
                }
                _ => {}
            }
        }
        if let Some(quinn::WriteError::ConnectionLost(lost)) =
            stream_error.and_then(|e| e.downcast_ref::<quinn::WriteError>())
        {
            return TransportError::from_connection(addr, server_name, lost.clone());
        }
        TransportError::Frame { addr, source: err }
    }

    /// Whether trying again later (on a new connection) may succeed: the server was away,
    /// busy or restarting. Certificate, version and request problems stay until someone acts.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            TransportError::Unreachable { .. }
                | TransportError::ConnectionLost { .. }
                | TransportError::ClosedByServer { .. }
                | TransportError::Refused { .. }
        )
    }

    /// Explains a frame that could not be sent or read on a call to `addr`; `what` names the
    /// message ("request" or "response") for a size error.
    pub(crate) fn from_call_frame(
        addr: SocketAddr,
        server_name: &str,
        what: &'static str,
        err: FrameError,
    ) -> TransportError {
        match err {
            FrameError::TooLarge { len, max } => TransportError::MessageTooLarge {
                addr,
                what,
                len,
                max,
            },
            other => TransportError::from_frame(addr, server_name, other),
        }
    }

    /// The server reset the call's stream with `code`.
    pub(crate) fn aborted(addr: SocketAddr, code: VarInt) -> TransportError {
        let reason = match CallAbort::from_code(code) {
            Some(abort) => abort.describe().to_owned(),
            None => format!("stream reset with code {code}"),
        };
        TransportError::CallAborted { addr, reason }
    }
}

/// The TLS alert carried by a QUIC error code, if it is a crypto error.
fn tls_alert(code: u64) -> Option<u8> {
    code.checked_sub(CRYPTO_ERROR_BASE)
        .and_then(|alert| u8::try_from(alert).ok())
}

/// Names the certificate problem behind a TLS alert.
fn tls_failure(
    addr: SocketAddr,
    server_name: &str,
    origin: AlertOrigin,
    alert: u8,
    reason: &str,
) -> TransportError {
    match (origin, alert) {
        (AlertOrigin::Local, alert::UNKNOWN_CA | alert::DECRYPT_ERROR) => {
            TransportError::ServerNotTrusted { addr }
        }
        (AlertOrigin::Local, alert::CERTIFICATE_EXPIRED) => {
            TransportError::ServerCertExpired { addr }
        }
        (AlertOrigin::Local, alert::BAD_CERTIFICATE) => TransportError::ServerCertRejected {
            addr,
            server_name: server_name.to_owned(),
            detail: reason.to_owned(),
        },
        (AlertOrigin::Peer, alert::UNKNOWN_CA) => TransportError::ClientCertRejected {
            addr,
            reason: "it is not signed by the server's cluster CA",
        },
        (AlertOrigin::Peer, alert::DECRYPT_ERROR) => TransportError::ClientCertRejected {
            addr,
            reason: "its signature does not verify against the server's cluster CA",
        },
        (AlertOrigin::Peer, alert::CERTIFICATE_EXPIRED) => TransportError::ClientCertRejected {
            addr,
            reason: "it has expired or is not yet valid (check both clocks)",
        },
        (AlertOrigin::Peer, alert::CERTIFICATE_REQUIRED) => TransportError::ClientCertRejected {
            addr,
            reason: "none was sent",
        },
        (AlertOrigin::Peer, alert::UNSUPPORTED_CERTIFICATE) => TransportError::ClientCertRejected {
            addr,
            reason: "it is not valid for client authentication",
        },
        (AlertOrigin::Peer, alert::CERTIFICATE_REVOKED) => {
            TransportError::ClientCertRevoked { addr }
        }
        (AlertOrigin::Peer, alert::BAD_CERTIFICATE) => TransportError::ClientCertRejected {
            addr,
            reason: "it is malformed",
        },
        (_, alert::NO_APPLICATION_PROTOCOL) => TransportError::Handshake {
            addr,
            detail: format!(
                "the two sides share no protocol ({})",
                crate::tls::ALPN_NAME
            ),
        },
        (AlertOrigin::Local, alert) => TransportError::Handshake {
            addr,
            detail: format!("TLS alert {alert}: {reason}"),
        },
        (AlertOrigin::Peer, alert) => TransportError::Handshake {
            addr,
            detail: format!("the server sent TLS alert {alert}: {reason}"),
        },
    }
}

/// A peer-supplied reason as one printable line.
fn printable(reason: &[u8]) -> String {
    const MAX_CHARS: usize = 200;
    String::from_utf8_lossy(reason)
        .chars()
        .take(MAX_CHARS)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use quinn::TransportErrorCode;

    fn addr() -> SocketAddr {
        "127.0.0.1:7443".parse().unwrap()
    }

    fn local_alert(alert: u8) -> ConnectionError {
        ConnectionError::TransportError(TransportErrorCode::crypto(alert).into())
    }

    fn peer_alert(alert: u8, reason: &str) -> ConnectionError {
        ConnectionError::ConnectionClosed(quinn::ConnectionClose {
            error_code: TransportErrorCode::crypto(alert),
            frame_type: None,
            reason: reason.as_bytes().to_vec().into(),
        })
    }

    #[test]
    fn unknown_server_ca_reads_as_one_clear_line() {
        let err = TransportError::from_connection(addr(), "localhost", local_alert(48));
        assert_eq!(
            err.to_string(),
            "TLS handshake with 127.0.0.1:7443 failed: server certificate is not signed by the cluster CA in the config"
        );
    }

    #[test]
    fn local_alerts_name_the_server_certificate_problem() {
        assert!(matches!(
            TransportError::from_connection(addr(), "api", local_alert(51)),
            TransportError::ServerNotTrusted { .. }
        ));
        assert!(matches!(
            TransportError::from_connection(addr(), "api", local_alert(45)),
            TransportError::ServerCertExpired { .. }
        ));
        assert!(matches!(
            TransportError::from_connection(addr(), "api", local_alert(42)),
            TransportError::ServerCertRejected { server_name, .. } if server_name == "api"
        ));
    }

    #[test]
    fn peer_alerts_name_the_client_certificate_problem() {
        for (alert, expected) in [
            (48, "cluster CA"),
            (45, "expired"),
            (116, "none was sent"),
            (43, "client authentication"),
            (51, "signature does not verify"),
        ] {
            let err = TransportError::from_connection(addr(), "api", peer_alert(alert, "x"));
            assert!(
                matches!(&err, TransportError::ClientCertRejected { reason, .. } if reason.contains(expected)),
                "alert {alert} gave {err}"
            );
        }
    }

    #[test]
    fn revocation_reads_as_such_at_the_handshake_and_on_a_live_connection() {
        let refused = TransportError::from_connection(addr(), "api", peer_alert(44, "x"));
        assert!(refused.is_revoked(), "{refused}");
        assert!(refused.to_string().ends_with("it has been revoked"));
        let closed = TransportError::from_connection(
            addr(),
            "api",
            ConnectionError::ApplicationClosed(quinn::ApplicationClose {
                error_code: CLOSE_REVOKED,
                reason: b"certificate revoked: node n1 was deleted"[..].into(),
            }),
        );
        assert!(closed.is_revoked() && !closed.is_retryable(), "{closed}");
        assert_eq!(
            closed.to_string(),
            "server 127.0.0.1:7443 closed the connection: certificate revoked: node n1 was deleted"
        );
    }

    #[test]
    fn unnamed_alerts_keep_the_number_and_a_sanitised_reason() {
        let err = TransportError::from_connection(addr(), "api", peer_alert(80, "bad\nthing"));
        assert_eq!(
            err.to_string(),
            "TLS handshake with 127.0.0.1:7443 failed: the server sent TLS alert 80: bad thing"
        );
    }

    #[test]
    fn non_tls_failures_are_connection_losses() {
        assert!(matches!(
            TransportError::from_connection(addr(), "api", ConnectionError::TimedOut),
            TransportError::ConnectionLost { .. }
        ));
        let protocol =
            ConnectionError::TransportError(TransportErrorCode::PROTOCOL_VIOLATION.into());
        assert!(matches!(
            TransportError::from_connection(addr(), "api", protocol),
            TransportError::ConnectionLost { .. }
        ));
    }

    #[test]
    fn a_refused_connection_is_retryable_and_says_why() {
        let refused = ConnectionError::ConnectionClosed(quinn::ConnectionClose {
            error_code: TransportErrorCode::CONNECTION_REFUSED,
            frame_type: None,
            reason: Vec::new().into(),
        });
        let err = TransportError::from_connection(addr(), "api", refused);
        assert!(matches!(err, TransportError::Refused { .. }), "{err}");
        assert!(err.is_retryable());
        assert!(!TransportError::from_connection(addr(), "api", local_alert(48)).is_retryable());
    }

    #[test]
    fn oversized_messages_name_the_size_and_the_limit() {
        let err = TransportError::from_call_frame(
            addr(),
            "api",
            "request",
            FrameError::TooLarge {
                len: 2048,
                max: 1024,
            },
        );
        assert_eq!(
            err.to_string(),
            "request of 2048 bytes on a call to 127.0.0.1:7443 exceeds the frame limit of 1024 bytes"
        );
    }

    #[test]
    fn application_close_shows_the_server_reason() {
        let err = TransportError::from_connection(
            addr(),
            "api",
            ConnectionError::ApplicationClosed(quinn::ApplicationClose {
                error_code: VarInt::from_u32(1),
                reason: b"shutting down".to_vec().into(),
            }),
        );
        assert_eq!(
            err.to_string(),
            "server 127.0.0.1:7443 closed the connection: shutting down"
        );
    }

    #[test]
    fn stream_resets_are_explained() {
        let err = TransportError::aborted(addr(), CallAbort::BadRequest.code());
        assert_eq!(
            err.to_string(),
            "server 127.0.0.1:7443 aborted the call: the server could not decode the request"
        );
        let err = TransportError::aborted(addr(), VarInt::from_u32(77));
        assert!(err.to_string().ends_with("stream reset with code 77"));
    }

    #[test]
    fn frame_errors_wrapping_a_lost_connection_are_classified() {
        let io: std::io::Error = quinn::ReadError::ConnectionLost(local_alert(48)).into();
        let err = TransportError::from_frame(addr(), "api", FrameError::Io { source: io });
        assert!(matches!(err, TransportError::ServerNotTrusted { .. }));
        let io: std::io::Error = quinn::ReadError::Reset(CallAbort::NoRequest.code()).into();
        let err = TransportError::from_frame(addr(), "api", FrameError::Io { source: io });
        assert!(matches!(err, TransportError::CallAborted { .. }));
    }
}
