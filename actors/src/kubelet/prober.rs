//! One attempt of a probe or lifecycle handler against a running container: a command run in
//! the container, or a TCP connection, HTTP(S) GET or gRPC health check made from inside the
//! pod's network namespace, so they work with and without pod networking. Messages read as the
//! kubelet's do.

mod grpc_health;
mod h2c;
mod tls;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use flotilla_kernel::object::{
    Container, ExecAction, GrpcAction, HttpGetAction, IntOrString, Probe, TcpSocketAction,
};
use flotilla_node_os::Runtime;
use flotilla_node_os::runtime::exec_sync;

use super::probes;
use grpc_health::RpcStatus;

/// The most of an HTTP response head read before it counts as malformed.
const MAX_HEAD: usize = 64 * 1024;
/// How the kubelet's HTTP probes introduce themselves.
const USER_AGENT: &str = "kube-probe/1.31";

/// The container a probe is made against.
#[derive(Clone)]
pub struct Target {
    pub runtime: Arc<dyn Runtime>,
    /// The runtime's id of the container.
    pub id: String,
    /// The pod sandbox whose network the connections are made from.
    pub sandbox: String,
}

/// One attempt of `probe`: `Ok` when it passes, else why not.
pub async fn attempt(target: &Target, container: &Container, probe: &Probe) -> Result<(), String> {
    let limit = probes::timeout(probe);
    if let Some(action) = &probe.exec {
        exec(target, action, limit).await
    } else if let Some(action) = &probe.tcp_socket {
        tcp(target, container, action, limit).await
    } else if let Some(action) = &probe.http_get {
        http(target, container, action, limit).await
    } else if let Some(action) = &probe.grpc {
        grpc(target, container, action, limit).await
    } else {
        Err("the probe has no handler this node runs".into())
    }
}

/// Runs `action`'s command in the container; passes when it exits 0.
pub async fn exec(target: &Target, action: &ExecAction, limit: Duration) -> Result<(), String> {
    let output = exec_sync(
        Arc::clone(&target.runtime),
        &target.id,
        action.command.clone(),
        limit,
    )
    .await
    .map_err(|error| error.to_string())?;
    if output.exit_code == 0 {
        return Ok(());
    }
    let mut said = String::from_utf8_lossy(&output.stdout).into_owned();
    said.push_str(&String::from_utf8_lossy(&output.stderr));
    let said = said.trim();
    Err(if said.is_empty() {
        format!(
            "command {:?} exited with {}",
            action.command, output.exit_code
        )
    } else {
        said.to_string()
    })
}

/// Opens a TCP connection to `action`'s port; passes when it connects.
pub async fn tcp(
    target: &Target,
    container: &Container,
    action: &TcpSocketAction,
    limit: Duration,
) -> Result<(), String> {
    let address = address(&action.host, &action.port, container)?;
    connect(target, address, limit).await.map(drop)
}

/// GETs `action`'s path, over TLS when its scheme is HTTPS; passes on a status from 200 to 399.
pub async fn http(
    target: &Target,
    container: &Container,
    action: &HttpGetAction,
    limit: Duration,
) -> Result<(), String> {
    let address = address(&action.host, &action.port, container)?;
    let secure = action.scheme == HttpGetAction::SCHEME_HTTPS;
    let url = format!(
        "{}://{address}{}",
        if secure { "https" } else { "http" },
        action.path
    );
    let request = request(action, address);
    let exchange = async {
        let stream = connect(target, address, limit).await?;
        let mut stream =
            tokio::net::TcpStream::from_std(stream).map_err(|error| error.to_string())?;
        if secure {
            let mut stream = tls::connect(stream, address.ip()).await?;
            get(&mut stream, &request).await
        } else {
            get(&mut stream, &request).await
        }
    };
    let code = tokio::time::timeout(limit, exchange)
        .await
        .map_err(|_| {
            format!(
                "Get {url:?}: context deadline exceeded (Client.Timeout exceeded while awaiting \
                 headers)"
            )
        })?
        .map_err(|error| format!("Get {url:?}: {error}"))?;
    if (200..400).contains(&code) {
        Ok(())
    } else {
        Err(format!("HTTP probe failed with statuscode: {code}"))
    }
}

/// Sends `request` on `stream`; the status code of the answer.
async fn get<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    request: &str,
) -> Result<u16, String> {
    stream
        .write_all(request.as_bytes())
        .await
        .map_err(|error| error.to_string())?;
    // TLS holds written bytes back until flushed.
    stream.flush().await.map_err(|error| error.to_string())?;
    read_status(stream).await
}

/// Calls `grpc.health.v1.Health/Check` on `action`'s port of the pod itself; passes when the
/// answer is SERVING. The limit covers connecting and the call, as the kubelet's context does.
/// Where the kubelet redials until the limit, a refused connection fails at once: the next
/// period tries again.
async fn grpc(
    target: &Target,
    container: &Container,
    action: &GrpcAction,
    limit: Duration,
) -> Result<(), String> {
    let address = address("", &IntOrString::Int(action.port), container)?;
    let deadline = tokio::time::Instant::now() + limit;
    let dial = async {
        let stream = connect(target, address, limit).await?;
        let stream = tokio::net::TcpStream::from_std(stream).map_err(|error| error.to_string())?;
        h2c::handshake(stream)
            .await
            .map_err(|error| error.to_string())
    };
    let channel = match tokio::time::timeout_at(deadline, dial).await {
        Ok(Ok(channel)) => channel,
        Ok(Err(error)) => return Err(grpc_health::connect_failed(address, &error)),
        Err(_) => return Err(grpc_health::connect_timed_out(address, limit)),
    };
    let call = h2c::check(channel, address, &action.service, deadline);
    let answer = tokio::time::timeout_at(deadline, call)
        .await
        .unwrap_or_else(|_| {
            Err(RpcStatus::new(
                RpcStatus::DEADLINE_EXCEEDED,
                "context deadline exceeded",
            ))
        });
    grpc_health::judge(answer, limit)
}

/// The request line and headers of an HTTP probe.
fn request(action: &HttpGetAction, address: SocketAddr) -> String {
    let mut headers = String::new();
    let mut host = address.to_string();
    let mut agent = USER_AGENT.to_string();
    for header in &action.http_headers {
        match header.name.to_ascii_lowercase().as_str() {
            "host" => host = header.value.clone(),
            "user-agent" => agent = header.value.clone(),
            _ => headers.push_str(&format!("{}: {}\r\n", header.name, header.value)),
        }
    }
    format!(
        "GET {} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: {agent}\r\nAccept: */*\r\n{headers}Connection: close\r\n\r\n",
        action.path
    )
}

/// Reads a response head; its status code.
async fn read_status<S: AsyncRead + Unpin>(stream: &mut S) -> Result<u16, String> {
    let mut head = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let read = stream
            .read(&mut chunk)
            .await
            .map_err(|error| error.to_string())?;
        if read == 0 {
            return Err("the server closed the connection before a full response head".into());
        }
        head.extend_from_slice(&chunk[..read]);
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut response = httparse::Response::new(&mut headers);
        match response.parse(&head) {
            Ok(httparse::Status::Complete(_)) => {
                return response.code.ok_or_else(|| "no status code".to_string());
            }
            Ok(httparse::Status::Partial) if head.len() < MAX_HEAD => {}
            Ok(httparse::Status::Partial) => return Err("the response head is too long".into()),
            Err(error) => return Err(format!("malformed HTTP response: {error}")),
        }
    }
}

/// Connects from inside the pod's network (on the blocking pool: it may enter a namespace).
async fn connect(
    target: &Target,
    address: SocketAddr,
    limit: Duration,
) -> Result<std::net::TcpStream, String> {
    let runtime = Arc::clone(&target.runtime);
    let sandbox = target.sandbox.clone();
    let connected = tokio::task::spawn_blocking(move || runtime.connect(&sandbox, address, limit))
        .await
        .map_err(|error| format!("dial tcp {address}: {error}"))?;
    let stream = connected.map_err(|error| format!("dial tcp {address}: connect: {error}"))?;
    stream
        .set_nonblocking(true)
        .map_err(|error| format!("dial tcp {address}: {error}"))?;
    Ok(stream)
}

/// Where a probe connects: `host` (the pod itself when empty) and the port, by number or by
/// the name of one of the container's ports.
fn address(host: &str, port: &IntOrString, container: &Container) -> Result<SocketAddr, String> {
    let ip = if host.is_empty() {
        IpAddr::V4(Ipv4Addr::LOCALHOST)
    } else {
        host.parse()
            .map_err(|_| format!("probe host {host:?} is not an IP address"))?
    };
    let number = match port {
        IntOrString::Int(number) => *number,
        IntOrString::String(name) => container
            .ports
            .iter()
            .find(|p| p.name == *name)
            .map(|p| p.container_port)
            .or_else(|| name.parse().ok())
            .ok_or_else(|| format!("the container has no port named {name:?}"))?,
    };
    let port = u16::try_from(number).map_err(|_| format!("invalid port {number}"))?;
    Ok(SocketAddr::new(ip, port))
}

#[cfg(test)]
mod tests;
