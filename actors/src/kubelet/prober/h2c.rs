//! gRPC probes' transport: one `grpc.health.v1.Health/Check` call over cleartext HTTP/2
//! with prior knowledge (the kubelet dials with insecure credentials), on a connection opened
//! from inside the pod's network. The connection is driven in the same future as the call, so
//! nothing outlives an attempt. The bytes are [`super::grpc_health`]'s.

use std::net::SocketAddr;

use bytes::Bytes;
use h2::RecvStream;
use h2::client::{Connection, SendRequest};
use http::{HeaderMap, Request, StatusCode};
use tokio::net::TcpStream;
use tokio::time::Instant;

use super::USER_AGENT;
use super::grpc_health::{self, CHECK_PATH, MAX_ANSWER, RpcStatus, ServingStatus};

/// An HTTP/2 connection to the server, its preface sent.
pub struct Channel {
    client: SendRequest<Bytes>,
    connection: Connection<TcpStream, Bytes>,
}

/// Starts HTTP/2 on `stream`.
pub async fn handshake(stream: TcpStream) -> Result<Channel, h2::Error> {
    let (client, connection) = h2::client::handshake(stream).await?;
    Ok(Channel { client, connection })
}

/// Asks the server at `authority` about `service` (empty for the server as a whole), telling it
/// the call ends at `deadline`: the serving status it answers, or the status the call failed
/// with.
pub async fn check(
    channel: Channel,
    authority: SocketAddr,
    service: &str,
    deadline: Instant,
) -> Result<ServingStatus, RpcStatus> {
    let Channel { client, connection } = channel;
    let call = call(client, authority, service, deadline);
    tokio::pin!(call, connection);
    tokio::select! {
        answer = &mut call => answer,
        // The connection ended (a reset or GOAWAY): the call has what arrived before, or fails
        // with the connection's error.
        _ = &mut connection => call.await,
    }
}

async fn call(
    client: SendRequest<Bytes>,
    authority: SocketAddr,
    service: &str,
    deadline: Instant,
) -> Result<ServingStatus, RpcStatus> {
    let remaining = deadline.saturating_duration_since(Instant::now());
    let request = Request::post(format!("http://{authority}{CHECK_PATH}"))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .header("user-agent", USER_AGENT)
        .header("grpc-timeout", grpc_health::timeout_header(remaining))
        .body(())
        .map_err(|error| RpcStatus::new(RpcStatus::INTERNAL, error.to_string()))?;
    let message = grpc_health::encode_request(service)
        .map_err(|error| RpcStatus::new(RpcStatus::INTERNAL, error.to_string()))?;
    let mut client = client.ready().await.map_err(unavailable)?;
    let (response, mut send) = client.send_request(request, false).map_err(unavailable)?;
    send.send_data(Bytes::from(message), true)
        .map_err(unavailable)?;
    let (head, mut body) = response.await.map_err(unavailable)?.into_parts();
    if head.status != StatusCode::OK {
        return Err(RpcStatus::from_http(head.status.as_u16()));
    }
    // A call that fails before answering sends its status in the headers alone.
    if let Some(status) = status_in(&head.headers) {
        return grpc_health::answer(status, &[]);
    }
    let answer = read_body(&mut body).await?;
    let status = body
        .trailers()
        .await
        .map_err(unavailable)?
        .and_then(|trailers| status_in(&trailers))
        .unwrap_or_else(|| {
            RpcStatus::new(
                RpcStatus::INTERNAL,
                "server closed the stream without sending trailers",
            )
        });
    grpc_health::answer(status, &answer)
}

/// The data of the answer, up to [`MAX_ANSWER`] bytes.
async fn read_body(body: &mut RecvStream) -> Result<Vec<u8>, RpcStatus> {
    let mut answer = Vec::new();
    while let Some(chunk) = body.data().await {
        let chunk = chunk.map_err(unavailable)?;
        body.flow_control()
            .release_capacity(chunk.len())
            .map_err(unavailable)?;
        if answer.len() + chunk.len() > MAX_ANSWER {
            return Err(RpcStatus::new(
                RpcStatus::RESOURCE_EXHAUSTED,
                format!("grpc: received message larger than max ({MAX_ANSWER} bytes)"),
            ));
        }
        answer.extend_from_slice(&chunk);
    }
    Ok(answer)
}

/// The status in `grpc-status` and `grpc-message`, if there is one.
fn status_in(headers: &HeaderMap) -> Option<RpcStatus> {
    let status = headers.get("grpc-status")?;
    let message = headers.get("grpc-message").map(|value| value.as_bytes());
    Some(RpcStatus::from_headers(status.as_bytes(), message))
}

/// A transport failure, as grpc-go reports one.
fn unavailable(error: h2::Error) -> RpcStatus {
    RpcStatus::new(RpcStatus::UNAVAILABLE, error.to_string())
}
