//! Picks a free loopback port for a test cluster's API. The API speaks QUIC (UDP), yet the
//! port is checked free for TCP as well so that a later TCP listener on the same port cannot
//! collide either.

use std::io;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, UdpSocket};

use anyhow::{Context, Result};

/// How many ports the kernel offers before giving up on one free for both protocols.
const ATTEMPTS: usize = 32;

/// A loopback address whose port is currently free for both UDP and TCP.
pub fn free_loopback_addr() -> Result<SocketAddr> {
    let mut last_error = None;
    for _ in 0..ATTEMPTS {
        let udp = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))
            .context("could not bind a UDP socket on 127.0.0.1")?;
        let addr = udp
            .local_addr()
            .context("could not read the bound UDP port")?;
        match TcpListener::bind(addr) {
            Ok(_) => return Ok(addr),
            Err(error) => last_error = Some(error),
        }
    }
    Err(last_error.unwrap_or_else(|| io::Error::other("no attempt made")))
        .context("found no loopback port free for both UDP and TCP")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gives_a_loopback_port_that_can_be_bound() {
        // Tests running alongside bind ephemeral ports too and may take one between the check
        // and the bind below; that race is the caller's, so a few tries are allowed.
        let bound = (0..5).any(|_| {
            let addr = free_loopback_addr().unwrap();
            assert!(addr.ip().is_loopback());
            assert_ne!(addr.port(), 0);
            UdpSocket::bind(addr).is_ok()
        });
        assert!(bound, "no port offered could be bound");
    }
}
