//! Joining a cluster: the agent generates its key, sends only a certificate signing request
//! with a bootstrap token, and checks the server by the CA pin the operator passed (so a man in
//! the middle cannot pose as the cluster).

use std::net::{SocketAddr, ToSocketAddrs};

use anyhow::{Context, anyhow};

use flotilla_kernel::api::{ApiClient, Request};
use flotilla_transport::{CaPin, Client, ClientOptions, new_csr};

use super::NodeArgs;
use crate::config::ClientConfig;

/// Joins with the token: the key is made here and never sent.
pub async fn join(args: &NodeArgs, node_name: &str) -> anyhow::Result<ClientConfig> {
    let missing = |flag: &str| {
        anyhow!(
            "{} holds no certificate yet: pass --server, --token and --ca-hash to join",
            args.data_dir.display()
        )
        .context(format!("{flag} is missing"))
    };
    let server = args.server.as_deref().ok_or_else(|| missing("--server"))?;
    let token = args.token.clone().ok_or_else(|| missing("--token"))?;
    let pin: CaPin = args
        .ca_hash
        .as_deref()
        .ok_or_else(|| missing("--ca-hash"))?
        .parse()?;
    let (addr, host) = resolve(server)?;
    let client = Client::bootstrap(addr, &host, pin, ClientOptions::default())?;
    let (key_pem, csr_pem) = new_csr(node_name)?;
    let bootstrap = ApiClient::remote(client);
    let issued = bootstrap
        .certificate(Request::Join {
            token,
            node_name: node_name.to_string(),
            csr_pem,
        })
        .await;
    bootstrap.close().await;
    let (cert_pem, ca_pem) = issued.with_context(|| format!("joining the cluster at {server}"))?;
    let credentials = flotilla_transport::Credentials {
        cert_pem,
        key_pem,
        ca_pem,
    };
    Ok(ClientConfig::new(addr, &host, credentials))
}

/// `HOST:PORT` → the address to dial and the name the server's certificate must carry.
fn resolve(server: &str) -> anyhow::Result<(SocketAddr, String)> {
    let (host, _) = server
        .rsplit_once(':')
        .ok_or_else(|| anyhow!("--server {server:?} is not HOST:PORT"))?;
    let host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let addr = server
        .to_socket_addrs()
        .with_context(|| format!("resolving --server {server:?}"))?
        .next()
        .ok_or_else(|| anyhow!("--server {server:?} resolves to no address"))?;
    Ok((addr, host))
}

/// This machine's address on the route to `server`: what the Node reports. Connecting a UDP
/// socket only picks the route; nothing is sent.
pub fn local_address_towards(server: SocketAddr) -> anyhow::Result<String> {
    let any: SocketAddr = match server {
        SocketAddr::V4(_) => (std::net::Ipv4Addr::UNSPECIFIED, 0).into(),
        SocketAddr::V6(_) => (std::net::Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let socket = std::net::UdpSocket::bind(any).context("finding this machine's address")?;
    socket
        .connect(server)
        .with_context(|| format!("finding the route to {server}"))?;
    Ok(socket.local_addr()?.ip().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn servers_resolve_with_their_host_as_the_certificate_name() {
        let (addr, host) = resolve("127.0.0.1:7443").unwrap();
        assert_eq!(addr, "127.0.0.1:7443".parse().unwrap());
        assert_eq!(host, "127.0.0.1");
        let (_, host) = resolve("[::1]:7443").unwrap();
        assert_eq!(host, "::1");
        assert!(resolve("no-port").is_err());
    }
}
