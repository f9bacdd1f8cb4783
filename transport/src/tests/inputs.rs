//! Two-way calls: the caller keeps sending frames after its request, and a handler that reads
//! them answers each; a handler that does not read them still answers its request.

use crate::call_inputs::Inputs;
use crate::client::Client;
use crate::responses::Responses;
use crate::server::{Handler, Peer, Server, ServerOptions};
use crate::test_support::{Cluster, DEADLINE, Request, Response, loopback};
use std::sync::Arc;
use tokio::sync::mpsc;

/// Echoes each further frame, then counts them once the caller finishes; `Count` calls are
/// answered without reading anything further.
struct Echoes;

impl Handler<Request, Response> for Echoes {
    fn handle(&self, _: Peer, _: Request) -> Responses<Response> {
        Responses::one(Response::Item(7))
    }

    fn handle_with_inputs(
        &self,
        peer: Peer,
        request: Request,
        mut inputs: Inputs<Request>,
    ) -> Responses<Response> {
        if matches!(request, Request::Count(_)) {
            return self.handle(peer, request);
        }
        let (reply, answers) = mpsc::channel(4);
        tokio::spawn(async move {
            let mut seen = 0;
            while let Some(input) = inputs.next().await {
                seen += 1;
                if let Request::Echo(text) = input {
                    let from = peer.identity.clone();
                    let _ = reply.send(Response::Echo { text, from }).await;
                }
            }
            let _ = reply.send(Response::Item(seen)).await;
        });
        Responses::channel(answers)
    }
}

#[tokio::test]
async fn a_handler_reads_the_callers_frames_after_the_request() {
    let cluster = Cluster::new();
    let server = Server::bind_with(loopback(), &cluster.server, ServerOptions::default()).unwrap();
    let addr = server.local_addr();
    let serving = tokio::spawn(server.serve(Arc::new(Echoes), std::future::pending::<()>()));
    let client = Client::new(addr, "localhost", &cluster.admin).unwrap();

    let (mut inputs, mut answers) = client
        .stream_with_inputs::<_, Response>(&Request::Watch)
        .await
        .unwrap();
    for text in ["a", "b"] {
        inputs.send(&Request::Echo(text.into())).await.unwrap();
        let answer = tokio::time::timeout(DEADLINE, answers.recv())
            .await
            .unwrap();
        assert!(
            matches!(answer, Some(Ok(Response::Echo { text: ref got, .. })) if got == text),
            "{answer:?}"
        );
    }
    inputs.send(&Request::Silent).await.unwrap();
    inputs.finish();
    let last = tokio::time::timeout(DEADLINE, answers.recv())
        .await
        .unwrap();
    assert!(matches!(last, Some(Ok(Response::Item(3)))), "{last:?}");

    // A handler that reads nothing further answers all the same.
    let (_inputs, mut answers) = client
        .stream_with_inputs::<_, Response>(&Request::Count(1))
        .await
        .unwrap();
    let answer = tokio::time::timeout(DEADLINE, answers.recv())
        .await
        .unwrap();
    assert!(matches!(answer, Some(Ok(Response::Item(7)))), "{answer:?}");
    serving.abort();
}
