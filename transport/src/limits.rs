//! Every bound the transport enforces, in one struct, so what one peer may cost the other is
//! visible and tunable in one place.
//!
//! The defaults suit a control plane serving a few hundred nodes and operators on a LAN: enough
//! concurrent calls for a busy node agent, receive windows large enough to keep a 64 MiB stream
//! moving, and per-address and handshake caps that stop one misbehaving host from exhausting
//! the server. Both ends read the QUIC-level fields; the `server`-marked ones only matter where
//! connections are accepted.

use crate::codec::MAX_FRAME_BYTES;
use crate::error::TransportError;
use quinn::{IdleTimeout, TransportConfig, VarInt};
use std::time::Duration;

/// The limits of one endpoint. Start from [`TransportLimits::default`] and change what you need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransportLimits {
    /// Calls (bidirectional streams) the peer may have open at once on one connection; further
    /// calls wait until one ends. Default 256.
    pub max_concurrent_calls: u32,
    /// Bytes the peer may send on one call ahead of our reading them. Default 4 MiB.
    pub stream_receive_window: u32,
    /// Bytes the peer may send on all calls of a connection ahead of our reading them.
    /// Default 16 MiB.
    pub connection_receive_window: u32,
    /// Largest frame payload we send or accept, at most [`MAX_FRAME_BYTES`]. Default 16 MiB.
    pub max_frame_bytes: usize,
    /// A connection that hears nothing for this long is closed (the smaller of both ends' values
    /// applies). Default 30 s.
    pub idle_timeout: Duration,
    /// How often a quiet connection is pinged so it outlives `idle_timeout`; `None` lets idle
    /// connections close. Default 10 s.
    pub keep_alive: Option<Duration>,
    /// Server: how long a client has to send the protocol hello, and each call its request.
    /// Default 30 s.
    pub request_timeout: Duration,
    /// Server: connections one client IP address may hold, handshakes included; more are
    /// refused. Default 64.
    pub max_connections_per_ip: usize,
    /// Server: once this many handshakes are in progress, a new client must first prove it owns
    /// its address (QUIC retry), which costs spoofed floods their effect. Default 16.
    pub retry_above_handshakes: usize,
    /// Server: handshakes in progress beyond which new connection attempts are refused.
    /// Default 512.
    pub max_handshakes: usize,
    /// The round-trip time assumed before one is measured. It sets how soon an unanswered
    /// first packet is sent again (about three times this), so it decides how fast a client
    /// connects to a server that was not listening yet, such as a restarting control plane.
    /// QUIC's default, 333 ms, is sized for the Internet and makes that wait a second; a
    /// datacenter's round trips are under a millisecond. Default 10 ms.
    pub initial_rtt: Duration,
}

impl Default for TransportLimits {
    fn default() -> TransportLimits {
        TransportLimits {
            max_concurrent_calls: 256,
            stream_receive_window: 4 * 1024 * 1024,
            connection_receive_window: 16 * 1024 * 1024,
            max_frame_bytes: MAX_FRAME_BYTES,
            idle_timeout: Duration::from_secs(30),
            keep_alive: Some(Duration::from_secs(10)),
            request_timeout: Duration::from_secs(30),
            max_connections_per_ip: 64,
            retry_above_handshakes: 16,
            max_handshakes: 512,
            initial_rtt: Duration::from_millis(10),
        }
    }
}

impl TransportLimits {
    /// Checks that the limits are finite, non-zero and consistent.
    pub fn validate(&self) -> Result<(), TransportError> {
        let invalid = |problem: String| Err(TransportError::InvalidLimits { problem });
        if self.max_concurrent_calls == 0 {
            return invalid("max_concurrent_calls must be at least 1".into());
        }
        if self.stream_receive_window == 0 || self.connection_receive_window == 0 {
            return invalid("receive windows must be at least 1 byte".into());
        }
        if self.max_frame_bytes == 0 || self.max_frame_bytes > MAX_FRAME_BYTES {
            return invalid(format!(
                "max_frame_bytes is {}, it must be between 1 and {MAX_FRAME_BYTES}",
                self.max_frame_bytes
            ));
        }
        if self.idle_timeout.is_zero() || IdleTimeout::try_from(self.idle_timeout).is_err() {
            return invalid(format!(
                "idle_timeout {:?} must be positive and below 2^62 ms",
                self.idle_timeout
            ));
        }
        if let Some(keep_alive) = self.keep_alive
            && (keep_alive.is_zero() || keep_alive >= self.idle_timeout)
        {
            return invalid(format!(
                "keep_alive {keep_alive:?} must be positive and shorter than idle_timeout {:?}",
                self.idle_timeout
            ));
        }
        if self.request_timeout.is_zero() {
            return invalid("request_timeout must be positive".into());
        }
        if self.initial_rtt.is_zero() {
            return invalid("initial_rtt must be positive".into());
        }
        if self.max_connections_per_ip == 0 || self.max_handshakes == 0 {
            return invalid("max_connections_per_ip and max_handshakes must be at least 1".into());
        }
        Ok(())
    }

    /// The QUIC transport parameters these limits stand for. Call [`TransportLimits::validate`]
    /// first: an out-of-range idle timeout falls back to the default.
    pub(crate) fn quic(&self) -> TransportConfig {
        let idle = IdleTimeout::try_from(self.idle_timeout)
            .unwrap_or_else(|_| IdleTimeout::from(VarInt::from_u32(30_000)));
        let mut transport = TransportConfig::default();
        transport
            .max_concurrent_bidi_streams(VarInt::from_u32(self.max_concurrent_calls))
            .max_concurrent_uni_streams(VarInt::from_u32(0))
            .stream_receive_window(VarInt::from_u32(self.stream_receive_window))
            .receive_window(VarInt::from_u32(self.connection_receive_window))
            .send_window(u64::from(self.connection_receive_window))
            .max_idle_timeout(Some(idle))
            .keep_alive_interval(self.keep_alive)
            .initial_rtt(self.initial_rtt);
        transport
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        TransportLimits::default().validate().unwrap();
    }

    #[test]
    fn inconsistent_limits_are_refused_with_the_reason() {
        let cases = [
            (
                TransportLimits {
                    max_frame_bytes: MAX_FRAME_BYTES + 1,
                    ..TransportLimits::default()
                },
                "max_frame_bytes",
            ),
            (
                TransportLimits {
                    keep_alive: Some(Duration::from_secs(60)),
                    ..TransportLimits::default()
                },
                "keep_alive",
            ),
            (
                TransportLimits {
                    max_concurrent_calls: 0,
                    ..TransportLimits::default()
                },
                "max_concurrent_calls",
            ),
            (
                TransportLimits {
                    idle_timeout: Duration::ZERO,
                    ..TransportLimits::default()
                },
                "idle_timeout",
            ),
            (
                TransportLimits {
                    max_connections_per_ip: 0,
                    ..TransportLimits::default()
                },
                "max_connections_per_ip",
            ),
            (
                TransportLimits {
                    initial_rtt: Duration::ZERO,
                    ..TransportLimits::default()
                },
                "initial_rtt",
            ),
        ];
        for (limits, field) in cases {
            let err = limits.validate().unwrap_err();
            assert!(err.to_string().contains(field), "{err}");
        }
    }
}
