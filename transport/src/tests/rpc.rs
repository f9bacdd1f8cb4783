//! The RPC layer: version hello, deadlines, cancellation and multiplexing.

use crate::client::Client;
use crate::error::TransportError;
use crate::identity::Identity;
use crate::limits::TransportLimits;
use crate::protocol::{PROTOCOL_VERSION, VersionMismatch};
use crate::server::ServerOptions;
use crate::test_support::{
    CHUNK, Cluster, DEADLINE, GATHER, Request, Response, RunningServer, loopback,
};
use std::time::Duration;
use tokio::time::Instant;

#[tokio::test]
async fn a_version_mismatch_names_both_versions_and_the_server_stays_usable() {
    let cluster = Cluster::new();
    let server = RunningServer::start(&cluster.server);
    let newer = Client::new(server.addr, "localhost", &cluster.admin)
        .unwrap()
        .speaking(PROTOCOL_VERSION + 1);
    let err = newer
        .call::<_, Response>(&Request::Echo("hi".into()))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            TransportError::VersionMismatch {
                mismatch: VersionMismatch { client, server: s },
                ..
            } if client == PROTOCOL_VERSION + 1 && s == PROTOCOL_VERSION
        ),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        format!(
            "cannot talk to {}: client speaks flotilla protocol version {}, server speaks version {}; upgrade the older side",
            server.addr,
            PROTOCOL_VERSION + 1,
            PROTOCOL_VERSION
        )
    );
    let current = Client::new(server.addr, "localhost", &cluster.admin).unwrap();
    let ok: Response = current.call(&Request::Echo("hi".into())).await.unwrap();
    assert!(matches!(ok, Response::Echo { .. }));
    server.stop().await;
}

#[tokio::test]
async fn a_call_past_its_deadline_fails_and_the_handler_is_cancelled() {
    let cluster = Cluster::new();
    let mut server = RunningServer::start(&cluster.server);
    let client = Client::new(server.addr, "localhost", &cluster.admin).unwrap();
    let deadline = Duration::from_millis(200);
    let started = Instant::now();
    let err = client
        .call_within::<_, Response>(&Request::Hang, deadline)
        .await
        .unwrap_err();
    assert!(started.elapsed() >= deadline);
    assert!(
        matches!(err, TransportError::DeadlineExceeded { deadline: d, .. } if d == deadline),
        "{err}"
    );
    let cancelled = tokio::time::timeout(DEADLINE, server.hang_ended.recv())
        .await
        .expect("the handler sees the call cancelled")
        .unwrap();
    assert_eq!(cancelled.identity, Identity::new("admin", "admin"));
    server.stop().await;
}

#[tokio::test]
async fn the_server_enforces_the_deadline_the_client_sent() {
    let cluster = Cluster::new();
    let mut server = RunningServer::start(&cluster.server);
    let client = Client::new(server.addr, "localhost", &cluster.admin).unwrap();
    // Ask the server to give up after 150 ms, but keep reading well past it ourselves.
    let expires = Instant::now() + Duration::from_millis(150);
    let mut recv = client
        .open_call(&Request::Hang, Some(expires))
        .await
        .unwrap();
    let read = tokio::time::timeout(DEADLINE, crate::codec::read_frame::<_, Response>(&mut recv))
        .await
        .expect("the server resets the call");
    let err = TransportError::from_frame(server.addr, "localhost", read.unwrap_err());
    assert_eq!(
        err.to_string(),
        format!(
            "server {} aborted the call: the call's deadline passed before it completed",
            server.addr
        )
    );
    tokio::time::timeout(DEADLINE, server.hang_ended.recv())
        .await
        .expect("the handler is cancelled")
        .unwrap();
    server.stop().await;
}

#[tokio::test]
async fn dropping_a_call_cancels_it_on_the_server() {
    let cluster = Cluster::new();
    let mut server = RunningServer::start(&cluster.server);
    let client = Client::new(server.addr, "localhost", &cluster.admin).unwrap();
    let abandoned = tokio::time::timeout(
        Duration::from_millis(300),
        client.call::<_, Response>(&Request::Hang),
    )
    .await;
    assert!(abandoned.is_err(), "the call cannot complete");
    tokio::time::timeout(DEADLINE, server.hang_ended.recv())
        .await
        .expect("the handler sees the caller gone")
        .unwrap();
    server.stop().await;
}

#[tokio::test]
async fn sixty_four_concurrent_calls_share_one_connection() {
    let cluster = Cluster::new();
    // One connection per address: a second connection would be refused.
    let options = ServerOptions {
        limits: TransportLimits {
            max_connections_per_ip: 1,
            ..TransportLimits::default()
        },
        ..ServerOptions::default()
    };
    let server = RunningServer::start_with(loopback(), &cluster.server, options);
    let client = Client::new(server.addr, "localhost", &cluster.admin).unwrap();
    // Each answer waits until all 64 calls are inside the handler at once.
    let calls: Vec<_> = (0..GATHER)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move { client.call::<_, Response>(&Request::Gather).await })
        })
        .collect();
    for call in calls {
        let response = tokio::time::timeout(DEADLINE, call)
            .await
            .expect("all calls are in flight together")
            .unwrap()
            .unwrap();
        assert_eq!(response, Response::Item(0));
    }
    assert_eq!(server.stats.accepted(), 1);
    assert_eq!(server.stats.refused(), 0);
    server.stop().await;
}

#[tokio::test]
async fn a_16_mib_stream_arrives_whole_in_one_mib_frames() {
    let cluster = Cluster::new();
    let server = RunningServer::start(&cluster.server);
    let client = Client::new(server.addr, "localhost", &cluster.admin).unwrap();
    let mut chunks = client
        .stream::<_, Response>(&Request::Chunks(16))
        .await
        .unwrap();
    let received = tokio::time::timeout(Duration::from_secs(60), async {
        let mut total = 0;
        while let Some(item) = chunks.recv().await {
            match item.unwrap() {
                Response::Blob(bytes) => {
                    assert!(bytes.iter().all(|b| *b == 7));
                    total += bytes.len();
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        total
    })
    .await
    .expect("the stream completes");
    assert_eq!(received, 16 * CHUNK);
    server.stop().await;
}
