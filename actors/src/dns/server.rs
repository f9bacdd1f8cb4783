//! The DNS server's sockets: UDP and TCP on one address, bound with `IP_FREEBIND` so that the
//! server starts before its address exists. It listens on the node's pod bridge gateway,
//! which appears only when the first pod starts; until then the sockets wait, bound.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use hickory_server::Server;
use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::{TcpListener, UdpSocket};

use super::forward::Upstreams;
use super::handler::{DnsHandler, SharedRecords};

/// How long a TCP client may stay silent before its connection is closed.
const TCP_IDLE: Duration = Duration::from_secs(10);
/// How many answers may queue on one TCP connection.
const TCP_RESPONSE_BUFFER: usize = 32;
/// The UDP receive buffer asked for, so that a burst of queries waits rather than drops (the
/// kernel caps it at `net.core.rmem_max`).
const UDP_RECEIVE_BUFFER: usize = 4 << 20;
/// Pending TCP connections.
const TCP_BACKLOG: i32 = 1024;

/// The server's sockets could not be set up.
#[derive(Debug, thiserror::Error)]
#[error("binding the DNS server's {transport} socket to {address}")]
pub struct BindError {
    address: SocketAddr,
    transport: &'static str,
    #[source]
    source: io::Error,
}

/// A DNS server answering on `listen` (UDP and TCP, on the same port; port 0 picks a free
/// one) from `records`, forwarding to `upstreams`; and the address it listens on. Its work
/// runs in tasks owned by the returned `Server`, which ends them when dropped.
pub fn serve(
    listen: SocketAddr,
    records: SharedRecords,
    upstreams: Upstreams,
) -> Result<(Server<DnsHandler>, SocketAddr), BindError> {
    let udp = bind_udp(listen).map_err(|source| BindError {
        address: listen,
        transport: "UDP",
        source,
    })?;
    let address = udp.local_addr().map_err(|source| BindError {
        address: listen,
        transport: "UDP",
        source,
    })?;
    let tcp = bind_tcp(address).map_err(|source| BindError {
        address,
        transport: "TCP",
        source,
    })?;
    let mut server = Server::new(DnsHandler::new(records, upstreams));
    server.register_socket(udp);
    server.register_listener(tcp, TCP_IDLE, TCP_RESPONSE_BUFFER);
    Ok((server, address))
}

fn socket(address: SocketAddr, kind: Type, protocol: Protocol) -> io::Result<Socket> {
    let socket = Socket::new(Domain::for_address(address), kind, Some(protocol))?;
    if address.is_ipv4() {
        socket.set_freebind_v4(true)?;
    } else {
        socket.set_freebind_v6(true)?;
    }
    socket.set_nonblocking(true)?;
    Ok(socket)
}

fn bind_udp(address: SocketAddr) -> io::Result<UdpSocket> {
    let socket = socket(address, Type::DGRAM, Protocol::UDP)?;
    if let Err(error) = socket.set_recv_buffer_size(UDP_RECEIVE_BUFFER) {
        tracing::debug!(%error, "keeping the default UDP receive buffer");
    }
    socket.bind(&address.into())?;
    UdpSocket::from_std(socket.into())
}

fn bind_tcp(address: SocketAddr) -> io::Result<TcpListener> {
    let socket = socket(address, Type::STREAM, Protocol::TCP)?;
    // A restarted server binds again while its old connections linger in TIME_WAIT.
    socket.set_reuse_address(true)?;
    socket.bind(&address.into())?;
    socket.listen(TCP_BACKLOG)?;
    TcpListener::from_std(socket.into())
}
