//! Each limit of `TransportLimits` that can be observed on loopback.

use crate::call_stream::CallStream;
use crate::client::{Client, ClientOptions};
use crate::error::TransportError;
use crate::limits::TransportLimits;
use crate::server::ServerOptions;
use crate::test_support::{Cluster, DEADLINE, Request, Response, RunningServer, loopback};
use std::time::Duration;

fn server_with(cluster: &Cluster, limits: TransportLimits) -> RunningServer {
    let options = ServerOptions {
        limits,
        ..ServerOptions::default()
    };
    RunningServer::start_with(loopback(), &cluster.server, options)
}

fn client_with(server: &RunningServer, cluster: &Cluster, limits: TransportLimits) -> Client {
    let options = ClientOptions {
        limits,
        ..ClientOptions::default()
    };
    Client::with_options(server.addr, "localhost", &cluster.admin, options).unwrap()
}

async fn first_item(rx: &mut CallStream<Response>) {
    let item = tokio::time::timeout(DEADLINE, rx.recv()).await.unwrap();
    assert!(matches!(item, Some(Ok(_))), "{item:?}");
}

#[tokio::test]
async fn calls_beyond_the_concurrency_limit_wait_for_a_free_stream() {
    let cluster = Cluster::new();
    let limits = TransportLimits {
        max_concurrent_calls: 2,
        ..TransportLimits::default()
    };
    let server = server_with(&cluster, limits);
    let client = Client::new(server.addr, "localhost", &cluster.admin).unwrap();
    let mut first = client.stream::<_, Response>(&Request::Watch).await.unwrap();
    let mut second = client.stream::<_, Response>(&Request::Watch).await.unwrap();
    first_item(&mut first).await;
    first_item(&mut second).await;
    let err = client
        .call_within::<_, Response>(&Request::Echo("third".into()), Duration::from_millis(300))
        .await
        .unwrap_err();
    assert!(
        matches!(err, TransportError::DeadlineExceeded { .. }),
        "{err}"
    );
    drop(first);
    let ok = client
        .call_within::<_, Response>(&Request::Echo("third".into()), DEADLINE)
        .await
        .unwrap();
    assert!(matches!(ok, Response::Echo { .. }));
    drop(second);
    server.stop().await;
}

#[tokio::test]
async fn the_server_refuses_requests_and_responses_over_its_frame_limit() {
    let cluster = Cluster::new();
    let limits = TransportLimits {
        max_frame_bytes: 1024,
        ..TransportLimits::default()
    };
    let server = server_with(&cluster, limits);
    let client = Client::new(server.addr, "localhost", &cluster.admin).unwrap();
    let err = client
        .call::<_, Response>(&Request::Echo("x".repeat(2000)))
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "server {} aborted the call: the request exceeds the server's frame size limit",
            server.addr
        )
    );
    let err = client
        .call::<_, Response>(&Request::Blob(2000))
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "server {} aborted the call: a response exceeds the server's frame size limit",
            server.addr
        )
    );
    let ok: Response = client.call(&Request::Blob(500)).await.unwrap();
    assert_eq!(ok, Response::Blob(vec![7; 500]));
    server.stop().await;
}

#[tokio::test]
async fn the_client_refuses_requests_and_responses_over_its_frame_limit() {
    let cluster = Cluster::new();
    let server = RunningServer::start(&cluster.server);
    let limits = TransportLimits {
        max_frame_bytes: 1024,
        ..TransportLimits::default()
    };
    let client = client_with(&server, &cluster, limits);
    let err = client
        .call::<_, Response>(&Request::Echo("x".repeat(2000)))
        .await
        .unwrap_err();
    assert!(
        matches!(err, TransportError::MessageTooLarge { what: "request", max: 1024, len, .. } if len > 2000),
        "{err}"
    );
    let err = client
        .call::<_, Response>(&Request::Blob(2000))
        .await
        .unwrap_err();
    assert!(
        matches!(err, TransportError::MessageTooLarge { what: "response", max: 1024, len, .. } if len > 2000),
        "{err}"
    );
    server.stop().await;
}

#[tokio::test]
async fn small_receive_windows_still_carry_large_messages() {
    let cluster = Cluster::new();
    let limits = TransportLimits {
        stream_receive_window: 16 * 1024,
        connection_receive_window: 32 * 1024,
        ..TransportLimits::default()
    };
    let server = server_with(&cluster, limits.clone());
    let client = client_with(&server, &cluster, limits);
    let big: Response = client.call(&Request::Blob(1024 * 1024)).await.unwrap();
    assert_eq!(big, Response::Blob(vec![7; 1024 * 1024]));
    server.stop().await;
}

#[tokio::test]
async fn an_idle_connection_closes_unless_kept_alive() {
    let cluster = Cluster::new();
    let idle = TransportLimits {
        idle_timeout: Duration::from_millis(300),
        keep_alive: None,
        ..TransportLimits::default()
    };
    let kept = TransportLimits {
        keep_alive: Some(Duration::from_millis(100)),
        ..idle.clone()
    };
    for (limits, connections) in [(idle, 2), (kept, 1)] {
        let server = server_with(&cluster, limits.clone());
        let client = client_with(&server, &cluster, limits);
        let _: Response = client.call(&Request::Echo("one".into())).await.unwrap();
        tokio::time::sleep(Duration::from_millis(900)).await;
        let _: Response = client.call(&Request::Echo("two".into())).await.unwrap();
        assert_eq!(server.stats.accepted(), connections);
        server.stop().await;
    }
}

#[tokio::test]
async fn connections_beyond_the_per_address_limit_are_refused() {
    let cluster = Cluster::new();
    let limits = TransportLimits {
        max_connections_per_ip: 1,
        ..TransportLimits::default()
    };
    let server = server_with(&cluster, limits);
    let first = Client::new(server.addr, "localhost", &cluster.admin).unwrap();
    let _: Response = first.call(&Request::Echo("in".into())).await.unwrap();
    let second = Client::new(server.addr, "localhost", &cluster.admin).unwrap();
    let err = second
        .call::<_, Response>(&Request::Echo("me too".into()))
        .await
        .unwrap_err();
    assert!(matches!(err, TransportError::Refused { .. }), "{err}");
    assert!(err.is_retryable());
    assert_eq!(server.stats.refused(), 1);
    drop(first);
    let admitted = tokio::time::timeout(DEADLINE, async {
        loop {
            match second
                .call::<_, Response>(&Request::Echo("now?".into()))
                .await
            {
                Ok(response) => return response,
                Err(err) if err.is_retryable() => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(err) => panic!("unexpected error: {err}"),
            }
        }
    })
    .await
    .expect("the slot is freed once the first client is gone");
    assert!(matches!(admitted, Response::Echo { .. }));
    server.stop().await;
}

#[tokio::test]
async fn closed_clients_free_their_slot_at_once() {
    let cluster = Cluster::new();
    let limits = TransportLimits {
        max_connections_per_ip: 2,
        ..TransportLimits::default()
    };
    let server = server_with(&cluster, limits);
    // One short-lived client after another, like CLI commands run in a loop: without a
    // polite close each would hold its slot until the idle timeout.
    for round in 0..10 {
        let client = Client::new(server.addr, "localhost", &cluster.admin).unwrap();
        let answer = client
            .call::<_, Response>(&Request::Echo("hi".into()))
            .await;
        assert!(answer.is_ok(), "round {round}: {answer:?}");
        client.close().await;
    }
    assert_eq!(server.stats.refused(), 0);
    server.stop().await;
}

#[tokio::test]
async fn busy_servers_make_clients_prove_their_address_first() {
    let cluster = Cluster::new();
    let limits = TransportLimits {
        retry_above_handshakes: 0,
        ..TransportLimits::default()
    };
    let server = server_with(&cluster, limits);
    let client = Client::new(server.addr, "localhost", &cluster.admin).unwrap();
    let ok: Response = client.call(&Request::Echo("retried".into())).await.unwrap();
    assert!(matches!(ok, Response::Echo { .. }));
    assert_eq!(server.stats.retried(), 1);
    assert_eq!(server.stats.accepted(), 1);
    server.stop().await;
}
