//! Which connection attempts the server lets in, before spending a TLS handshake on them.
//!
//! The decision is a pure function of the limits and a few counts, so it is tested without
//! sockets; [`Gate`] only keeps those counts up to date as connections come and go. Each admitted
//! connection holds a [`Slot`] that gives its counts back when dropped, so a task that ends in any
//! way (error, panic, shutdown) cannot leak capacity.

use crate::limits::TransportLimits;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};

/// What to do with a connection attempt that is not accepted straight away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Denial {
    /// Ask the client to prove its address first (QUIC retry).
    Retry,
    /// Refuse, for the reason given.
    Refuse(Refusal),
}

/// Why a connection attempt was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// The client's address already holds `max_connections_per_ip` connections.
    TooManyFromAddress,
    /// `max_handshakes` handshakes are already in progress.
    TooManyHandshakes,
}

impl Refusal {
    pub(crate) fn describe(self) -> &'static str {
        match self {
            Refusal::TooManyFromAddress => "too many connections from this address",
            Refusal::TooManyHandshakes => "too many handshakes in progress",
        }
    }
}

/// Decides on one attempt from the address's open connections and the handshakes in progress;
/// `Ok` starts the handshake.
pub(crate) fn decide(
    limits: &TransportLimits,
    from_address: usize,
    handshakes: usize,
    address_validated: bool,
) -> Result<(), Denial> {
    if from_address >= limits.max_connections_per_ip {
        Err(Denial::Refuse(Refusal::TooManyFromAddress))
    } else if handshakes >= limits.max_handshakes {
        Err(Denial::Refuse(Refusal::TooManyHandshakes))
    } else if handshakes >= limits.retry_above_handshakes && !address_validated {
        Err(Denial::Retry)
    } else {
        Ok(())
    }
}

/// The counts [`decide`] needs, shared by the accept loop and the connection tasks.
#[derive(Debug, Default)]
pub(crate) struct Gate {
    counts: Mutex<Counts>,
}

#[derive(Debug, Default)]
struct Counts {
    per_address: HashMap<IpAddr, usize>,
    handshakes: usize,
}

impl Gate {
    /// Decides on an attempt from `ip`; when accepted, counts it and returns its slot.
    pub(crate) fn admit(
        self: &Arc<Gate>,
        limits: &TransportLimits,
        ip: IpAddr,
        address_validated: bool,
    ) -> Result<Slot, Denial> {
        let mut counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        let from_address = counts.per_address.get(&ip).copied().unwrap_or(0);
        decide(limits, from_address, counts.handshakes, address_validated)?;
        *counts.per_address.entry(ip).or_insert(0) += 1;
        counts.handshakes += 1;
        Ok(Slot {
            gate: self.clone(),
            ip,
            handshaking: true,
        })
    }
}

/// One admitted connection's share of the counts.
#[derive(Debug)]
pub(crate) struct Slot {
    gate: Arc<Gate>,
    ip: IpAddr,
    handshaking: bool,
}

impl Slot {
    /// The handshake ended; the connection still counts against its address.
    pub(crate) fn handshake_done(&mut self) {
        if std::mem::take(&mut self.handshaking) {
            let mut counts = self
                .gate
                .counts
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            counts.handshakes = counts.handshakes.saturating_sub(1);
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.handshake_done();
        let mut counts = self
            .gate
            .counts
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(open) = counts.per_address.get_mut(&self.ip) {
            *open = open.saturating_sub(1);
            if *open == 0 {
                counts.per_address.remove(&self.ip);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> TransportLimits {
        TransportLimits {
            max_connections_per_ip: 2,
            retry_above_handshakes: 3,
            max_handshakes: 5,
            ..TransportLimits::default()
        }
    }

    #[test]
    fn decisions_follow_the_limits_in_order() {
        let l = limits();
        assert_eq!(decide(&l, 0, 0, false), Ok(()));
        assert_eq!(decide(&l, 1, 2, false), Ok(()));
        assert_eq!(decide(&l, 1, 3, false), Err(Denial::Retry));
        assert_eq!(decide(&l, 1, 3, true), Ok(()));
        assert_eq!(
            decide(&l, 1, 5, true),
            Err(Denial::Refuse(Refusal::TooManyHandshakes))
        );
        assert_eq!(
            decide(&l, 2, 0, true),
            Err(Denial::Refuse(Refusal::TooManyFromAddress))
        );
    }

    #[test]
    fn slots_count_per_address_and_give_back_on_drop() {
        let gate = Arc::new(Gate::default());
        let l = limits();
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let mut first = gate.admit(&l, a, true).unwrap();
        let second = gate.admit(&l, a, true).unwrap();
        assert_eq!(
            gate.admit(&l, a, true).unwrap_err(),
            Denial::Refuse(Refusal::TooManyFromAddress)
        );
        let other = gate.admit(&l, b, false).unwrap();
        assert_eq!(
            gate.admit(&l, b, false).unwrap_err(),
            Denial::Retry,
            "three handshakes are in progress"
        );
        first.handshake_done();
        drop(second);
        drop(other);
        assert!(gate.admit(&l, a, false).is_ok());
        let counts = gate.counts.lock().unwrap();
        assert_eq!(counts.per_address.get(&a), Some(&1));
        assert_eq!(counts.handshakes, 0);
    }
}
