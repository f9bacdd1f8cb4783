//! The prober's pure parts, and real probes against servers on loopback: an HTTPS server with a
//! fresh self-signed certificate and a gRPC health server, reached through the fake runtime's
//! `connect` (which dials from the host, as for a pod on the host network). Every probe is
//! bounded by its one-second timeout.

use std::sync::Mutex;

use bytes::Bytes;
use flotilla_kernel::object::{ContainerPort, HttpHeader};
use flotilla_node_os::{FakeCgroups, FakeRuntime};
use http::{HeaderMap, HeaderValue, Response};
use tokio::net::TcpListener;

use super::grpc_health::{CHECK_PATH, ServingStatus, frame};
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

#[tokio::test]
async fn https_probes_accept_a_self_signed_certificate_and_judge_the_status() {
    let (address, heads) = https_server(vec![200, 503]).await;
    let probe = Probe {
        http_get: Some(http_get(address.port(), HttpGetAction::SCHEME_HTTPS)),
        ..one_second()
    };
    let container = Container::default();
    assert_eq!(attempt(&target(), &container, &probe).await, Ok(()));
    assert_eq!(
        attempt(&target(), &container, &probe).await,
        Err("HTTP probe failed with statuscode: 503".to_string())
    );
    let heads = heads.lock().unwrap();
    let expected = format!("GET /healthz HTTP/1.1\r\nHost: {address}\r\n");
    assert!(heads[0].starts_with(&expected), "{}", heads[0]);
    assert!(heads[0].contains("X-Probe: 1\r\n"), "{}", heads[0]);
}

#[tokio::test]
async fn an_https_probe_of_a_plain_http_server_fails_its_handshake() {
    let address = plain_http_server(2).await;
    let container = Container::default();
    let https = Probe {
        http_get: Some(http_get(address.port(), HttpGetAction::SCHEME_HTTPS)),
        ..one_second()
    };
    let failed = attempt(&target(), &container, &https).await.unwrap_err();
    let expected = format!("Get \"https://{address}/healthz\": tls: ");
    assert!(failed.starts_with(&expected), "{failed}");
    let http = Probe {
        http_get: Some(http_get(address.port(), HttpGetAction::SCHEME_HTTP)),
        ..one_second()
    };
    assert_eq!(attempt(&target(), &container, &http).await, Ok(()));
}

#[tokio::test]
async fn grpc_probes_ask_the_health_service_and_pass_only_while_it_is_serving() {
    let server = health_server(true).await;
    let container = Container::default();
    let check = |service: &str| Probe {
        grpc: Some(GrpcAction {
            port: i32::from(server.address.port()),
            service: service.into(),
        }),
        ..one_second()
    };
    assert_eq!(attempt(&target(), &container, &check("")).await, Ok(()));
    assert_eq!(
        attempt(&target(), &container, &check("ready")).await,
        Ok(())
    );
    *server.status.lock().unwrap() = ServingStatus::NOT_SERVING;
    assert_eq!(
        attempt(&target(), &container, &check("")).await,
        Err(r#"service unhealthy (responded with "NOT_SERVING")"#.to_string())
    );
    assert_eq!(
        attempt(&target(), &container, &check("other")).await,
        Err(
            "error: health rpc probe failed: rpc error: code = NotFound desc = unknown service"
                .to_string()
        )
    );
    let requests = server.requests.lock().unwrap();
    let (services, headers): (Vec<_>, Vec<_>) = requests.iter().cloned().unzip();
    assert_eq!(services, ["", "ready", "", "other"]);
    let first = &headers[0];
    assert_eq!(first["content-type"], "application/grpc");
    assert_eq!(first["te"], "trailers");
    assert_eq!(first["user-agent"], USER_AGENT);
    let timeout = first["grpc-timeout"].to_str().unwrap();
    assert!(timeout.ends_with('m'), "{timeout}");
}

#[tokio::test]
async fn grpc_probes_time_out_and_report_what_they_could_not_connect_to() {
    let silent = health_server(false).await;
    let container = Container::default();
    let check = |port: u16| Probe {
        grpc: Some(GrpcAction {
            port: i32::from(port),
            service: String::new(),
        }),
        ..one_second()
    };
    assert_eq!(
        attempt(&target(), &container, &check(silent.address.port())).await,
        Err("timeout: health rpc did not complete within 1s".to_string())
    );
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let failed = attempt(&target(), &container, &check(port))
        .await
        .unwrap_err();
    let expected = format!("error: failed to connect service at \"127.0.0.1:{port}\": dial tcp");
    assert!(failed.starts_with(&expected), "{failed}");
}

fn target() -> Target {
    Target {
        runtime: Arc::new(FakeRuntime::new(Arc::new(FakeCgroups::new()))),
        id: "app".into(),
        sandbox: "pod".into(),
    }
}

fn one_second() -> Probe {
    Probe {
        timeout_seconds: 1,
        ..Probe::default()
    }
}

fn http_get(port: u16, scheme: &str) -> HttpGetAction {
    HttpGetAction {
        path: "/healthz".into(),
        port: IntOrString::Int(port.into()),
        scheme: scheme.into(),
        http_headers: vec![HttpHeader {
            name: "X-Probe".into(),
            value: "1".into(),
        }],
        ..HttpGetAction::default()
    }
}

/// An HTTPS server with a self-signed certificate, answering its connections, one request
/// each, with `statuses` in turn; it keeps the request heads it read.
async fn https_server(statuses: Vec<u16>) -> (SocketAddr, Arc<Mutex<Vec<String>>>) {
    let certified = rcgen::generate_simple_self_signed(vec!["app.local".to_string()]).unwrap();
    let key = rustls::pki_types::PrivatePkcs8KeyDer::from(certified.signing_key.serialize_der());
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![certified.cert.der().clone()], key.into())
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let heads = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&heads);
    tokio::spawn(async move {
        for status in statuses {
            let (socket, _) = listener.accept().await.unwrap();
            let mut stream = acceptor.accept(socket).await.unwrap();
            let head = read_head(&mut stream).await;
            seen.lock().unwrap().push(head);
            let answer = format!("HTTP/1.1 {status} Status\r\nContent-Length: 0\r\n\r\n");
            stream.write_all(answer.as_bytes()).await.unwrap();
            stream.shutdown().await.unwrap();
        }
    });
    (address, heads)
}

/// A server that answers 200 in plain HTTP as soon as a connection opens, `connections` times.
async fn plain_http_server(connections: usize) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        for _ in 0..connections {
            let (mut socket, _) = listener.accept().await.unwrap();
            let answer = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
            socket.write_all(answer.as_bytes()).await.unwrap();
            // Closing with unread bytes would reset the connection under the client's read.
            let _ = tokio::io::copy(&mut socket, &mut tokio::io::sink()).await;
        }
    });
    address
}

async fn read_head<S: AsyncRead + Unpin>(stream: &mut S) -> String {
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8];
        if stream.read(&mut byte).await.unwrap() == 0 {
            break;
        }
        head.push(byte[0]);
    }
    String::from_utf8(head).unwrap()
}

/// An in-process gRPC health server.
struct HealthServer {
    address: SocketAddr,
    /// What it answers for the server as a whole and for the service "ready".
    status: Arc<Mutex<ServingStatus>>,
    /// The service each request asked about, and the request's headers.
    requests: Arc<Mutex<Vec<(String, HeaderMap)>>>,
}

/// Serves `grpc.health.v1.Health/Check` over h2c; a server that does not `answer` takes
/// requests and never responds.
async fn health_server(answer: bool) -> HealthServer {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let server = HealthServer {
        address: listener.local_addr().unwrap(),
        status: Arc::new(Mutex::new(ServingStatus::SERVING)),
        requests: Arc::new(Mutex::new(Vec::new())),
    };
    let (status, requests) = (Arc::clone(&server.status), Arc::clone(&server.requests));
    tokio::spawn(async move {
        loop {
            let (socket, _) = listener.accept().await.unwrap();
            let (status, requests) = (Arc::clone(&status), Arc::clone(&requests));
            tokio::spawn(async move {
                let mut connection = h2::server::handshake(socket).await.unwrap();
                // Each request in a task of its own: this loop drives the connection.
                while let Some(Ok((request, respond))) = connection.accept().await {
                    let (status, requests) = (Arc::clone(&status), Arc::clone(&requests));
                    tokio::spawn(async move {
                        let service = read_check(request, &requests).await;
                        if answer {
                            let serving = *status.lock().unwrap();
                            respond_health(respond, &service, serving);
                        } else {
                            let _held = respond;
                            std::future::pending::<()>().await;
                        }
                    });
                }
            });
        }
    });
    server
}

/// Reads a health check's request, records it, and returns the service it asks about.
async fn read_check(
    request: http::Request<h2::RecvStream>,
    requests: &Mutex<Vec<(String, HeaderMap)>>,
) -> String {
    let (head, mut body) = request.into_parts();
    assert_eq!(head.uri.path(), CHECK_PATH);
    let mut message = Vec::new();
    while let Some(chunk) = body.data().await {
        let chunk = chunk.unwrap();
        let _ = body.flow_control().release_capacity(chunk.len());
        message.extend_from_slice(&chunk);
    }
    // The prefix, then field 1's key and a one-byte length when a service is named.
    let service = String::from_utf8(message.get(7..).unwrap_or_default().to_vec()).unwrap();
    requests
        .lock()
        .unwrap()
        .push((service.clone(), head.headers));
    service
}

/// `serving` for "" and "ready"; NOT_FOUND, in the headers alone, for other services.
fn respond_health(
    mut respond: h2::server::SendResponse<Bytes>,
    service: &str,
    serving: ServingStatus,
) {
    let head = |end: bool| {
        let mut response = Response::builder()
            .status(200)
            .header("content-type", "application/grpc");
        if end {
            response = response
                .header("grpc-status", "5")
                .header("grpc-message", "unknown%20service");
        }
        response.body(()).unwrap()
    };
    if !["", "ready"].contains(&service) {
        respond.send_response(head(true), true).unwrap();
        return;
    }
    let mut send = respond.send_response(head(false), false).unwrap();
    let message = frame(&[0x08, u8::try_from(serving.0).unwrap()]).unwrap();
    send.send_data(Bytes::from(message), false).unwrap();
    let mut trailers = HeaderMap::new();
    trailers.insert("grpc-status", HeaderValue::from_static("0"));
    send.send_trailers(trailers).unwrap();
}
