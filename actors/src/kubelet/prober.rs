//! One attempt of a probe or lifecycle handler against a running container: a command run in
//! the container, or a TCP connection or HTTP GET made from inside the pod's network namespace,
//! so they work with and without pod networking. Messages read as the kubelet's do.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use flotilla_kernel::object::{
    Container, ExecAction, HttpGetAction, IntOrString, Probe, TcpSocketAction,
};
use flotilla_node_os::Runtime;
use flotilla_node_os::runtime::exec_sync;

use super::probes;

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

/// GETs `action`'s path; passes on a status from 200 to 399.
pub async fn http(
    target: &Target,
    container: &Container,
    action: &HttpGetAction,
    limit: Duration,
) -> Result<(), String> {
    let address = address(&action.host, &action.port, container)?;
    let url = format!("http://{address}{}", action.path);
    let exchange = async {
        let stream = connect(target, address, limit).await?;
        let mut stream = tokio::net::TcpStream::from_std(stream)
            .map_err(|error| format!("Get {url:?}: {error}"))?;
        stream
            .write_all(request(action, address).as_bytes())
            .await
            .map_err(|error| format!("Get {url:?}: {error}"))?;
        let code = read_status(&mut stream)
            .await
            .map_err(|error| format!("Get {url:?}: {error}"))?;
        if (200..400).contains(&code) {
            Ok(())
        } else {
            Err(format!("HTTP probe failed with statuscode: {code}"))
        }
    };
    tokio::time::timeout(limit, exchange).await.map_err(|_| {
        format!("Get {url:?}: context deadline exceeded (Client.Timeout exceeded while awaiting headers)")
    })?
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
async fn read_status(stream: &mut tokio::net::TcpStream) -> Result<u16, String> {
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
mod tests {
    use flotilla_kernel::object::{ContainerPort, HttpHeader};

    use super::*;

    #[test]
    fn addresses_take_named_ports_and_default_to_the_pod_itself() {
        let container = Container {
            ports: vec![ContainerPort {
                name: "http".into(),
                container_port: 8080,
                ..ContainerPort::default()
            }],
            ..Container::default()
        };
        let named = IntOrString::String("http".into());
        assert_eq!(
            address("", &named, &container).unwrap(),
            "127.0.0.1:8080".parse().unwrap()
        );
        assert_eq!(
            address("10.0.0.5", &IntOrString::Int(80), &container).unwrap(),
            "10.0.0.5:80".parse().unwrap()
        );
        assert!(address("", &IntOrString::String("metrics".into()), &container).is_err());
        assert!(address("example.com", &IntOrString::Int(80), &container).is_err());
    }

    #[test]
    fn requests_carry_the_probe_headers() {
        let action = HttpGetAction {
            path: "/healthz".into(),
            http_headers: vec![
                HttpHeader {
                    name: "Host".into(),
                    value: "app.local".into(),
                },
                HttpHeader {
                    name: "X-Probe".into(),
                    value: "1".into(),
                },
            ],
            ..HttpGetAction::default()
        };
        let text = request(&action, "127.0.0.1:80".parse().unwrap());
        assert!(
            text.starts_with("GET /healthz HTTP/1.1\r\nHost: app.local\r\n"),
            "{text}"
        );
        assert!(text.contains("User-Agent: kube-probe/1.31\r\n"));
        assert!(text.contains("X-Probe: 1\r\n"));
        assert!(text.ends_with("\r\n\r\n"));
    }
}
