//! Picks a free loopback port for a test server. The port comes from below the kernel's
//! ephemeral range: a server that is killed and started again on the same port (the crash
//! tests) must find it free, and a client socket bound meanwhile could otherwise be given it.
//! The API speaks QUIC (UDP), yet the port is checked free for TCP as well so that a later TCP
//! listener on the same port cannot collide either.

use std::collections::hash_map::RandomState;
use std::fs;
use std::hash::{BuildHasher, Hasher};
use std::io;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, UdpSocket};

use anyhow::{Context, Result, bail};

/// How many random ports are tried before giving up on one free for both protocols.
const ATTEMPTS: usize = 64;
/// The lowest port handed out: above the well-known and most registered services' ports.
const LOWEST: u16 = 10_000;
/// Linux's default start of the ephemeral range, if it cannot be read.
const EPHEMERAL_START: u16 = 32_768;

/// A loopback address whose port is currently free for both UDP and TCP, outside the range the
/// kernel picks client ports from.
pub fn free_loopback_addr() -> Result<SocketAddr> {
    let end = ephemeral_start().max(LOWEST + 1);
    let mut last_error = None;
    for _ in 0..ATTEMPTS {
        let port = LOWEST + (random() % u64::from(end - LOWEST)) as u16;
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let bound = UdpSocket::bind(addr).and_then(|_udp| TcpListener::bind(addr).map(drop));
        match bound {
            Ok(()) => return Ok(addr),
            Err(error) => last_error = Some(error),
        }
    }
    Err(last_error.unwrap_or_else(|| io::Error::other("no attempt made")))
        .with_context(|| format!("found no loopback port in {LOWEST}..{end} free for UDP and TCP"))
}

/// Whether a UDP socket of this network namespace is bound to `addr` (IPv4), as
/// `/proc/net/udp` lists them. Readiness checks read it rather than trying to bind the port
/// themselves, which would take the port from under a server starting that moment.
pub fn udp_bound(addr: SocketAddr) -> Result<bool> {
    let SocketAddr::V4(addr) = addr else {
        bail!("{addr}: only IPv4 addresses are looked up");
    };
    let table = fs::read_to_string("/proc/net/udp").context("could not read /proc/net/udp")?;
    // The kernel prints the address as the hex of its bytes in memory order, then the port.
    let wanted = format!(
        "{:08X}:{:04X}",
        u32::from_ne_bytes(addr.ip().octets()),
        addr.port()
    );
    Ok(table
        .lines()
        .skip(1)
        .any(|line| line.split_whitespace().nth(1) == Some(&wanted)))
}

/// The first port of the kernel's ephemeral range (`net.ipv4.ip_local_port_range`).
fn ephemeral_start() -> u16 {
    fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|range| range.split_whitespace().next()?.parse().ok())
        .unwrap_or(EPHEMERAL_START)
}

/// A random number from the standard library's per-process random hash keys.
fn random() -> u64 {
    RandomState::new().build_hasher().finish()
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
            assert!(addr.port() >= LOWEST && addr.port() < ephemeral_start());
            UdpSocket::bind(addr).is_ok()
        });
        assert!(bound, "no port offered could be bound");
    }

    #[test]
    fn sees_a_bound_udp_port_without_binding_it() {
        let socket = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let addr = socket.local_addr().unwrap();
        assert!(udp_bound(addr).unwrap());
        drop(socket);
        assert!(!udp_bound(addr).unwrap());
    }
}
