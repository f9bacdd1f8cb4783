//! Calls the other way: the server calling a client on the connection the client opened.

use crate::client::Client;
use crate::peer_link::PeerLink;
use crate::responses::Responses;
use crate::server::{Handler, Peer, Server, ServerOptions};
use crate::test_support::{Cluster, DEADLINE, Request, Response, TestHandler, loopback};
use std::sync::Arc;
use tokio::sync::mpsc;

/// Answers every call at once and hands the caller's link to the test.
struct Registrar(mpsc::UnboundedSender<PeerLink>);

impl Handler<Request, Response> for Registrar {
    fn handle(&self, peer: Peer, _: Request) -> Responses<Response> {
        let _ = self.0.send(peer.link);
        Responses::one(Response::Item(0))
    }
}

#[tokio::test]
async fn the_server_calls_a_client_back_on_its_connection_across_reconnects() {
    let cluster = Cluster::new();
    let server = Server::bind_with(loopback(), &cluster.server, ServerOptions::default()).unwrap();
    let addr = server.local_addr();
    let (links, mut registered) = mpsc::unbounded_channel();
    let serving =
        tokio::spawn(server.serve(Arc::new(Registrar(links)), std::future::pending::<()>()));
    let client = Client::new(addr, "localhost", &cluster.admin).unwrap();
    client
        .serve_incoming(Arc::new(TestHandler::detached()))
        .await;

    let _: Response = client
        .call(&Request::Echo("register".into()))
        .await
        .unwrap();
    let link = registered.recv().await.unwrap();
    let mut answers = link
        .stream::<_, Response>(&Request::Count(3))
        .await
        .unwrap();
    let mut items = Vec::new();
    while let Some(item) = tokio::time::timeout(DEADLINE, answers.recv())
        .await
        .unwrap()
    {
        items.push(item.unwrap());
    }
    assert_eq!(items, (0..3).map(Response::Item).collect::<Vec<_>>());

    // A new connection (after the old one is closed) serves the server's calls as well.
    client.close().await;
    let client = Client::new(addr, "localhost", &cluster.admin).unwrap();
    client
        .serve_incoming(Arc::new(TestHandler::detached()))
        .await;
    let _: Response = client.call(&Request::Echo("again".into())).await.unwrap();
    let link = registered.recv().await.unwrap();
    let mut answers = link
        .stream::<_, Response>(&Request::Echo("back".into()))
        .await
        .unwrap();
    let answer = tokio::time::timeout(DEADLINE, answers.recv())
        .await
        .unwrap();
    assert!(
        matches!(answer, Some(Ok(Response::Echo { ref text, .. })) if text == "back"),
        "{answer:?}"
    );
    serving.abort();
}
