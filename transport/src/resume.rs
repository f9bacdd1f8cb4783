//! A server-streaming call that survives losing the server: a watch that reconnects with backoff
//! and continues from the last revision it delivered.
//!
//! The caller says how to build the request for "everything after revision R" and how to read
//! the revision off a response. After a retryable failure (server gone, restarting, busy) the
//! call is reopened from the last revision seen, so if the server honours the revision the
//! caller sees every item once, in order, across reconnects. Failures that waiting cannot fix
//! (certificates, protocol version, a refused request) end the stream with that error.

use crate::backoff::random_fraction;
use crate::call_stream::CallStream;
use crate::client::Client;
use crate::error::TransportError;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::mpsc;

/// How many delivered responses may wait for the caller.
const RESUME_BUFFER: usize = 64;

/// How one attempt of the underlying stream ended.
enum Ended {
    /// The server finished the call, or the caller went away: stop for good.
    Finished,
    /// A failure that a later attempt may not hit; the flag says whether anything arrived.
    Retryable { progressed: bool },
}

impl Client {
    /// Starts a server-streaming call that resumes after connection loss. `request(r)` builds
    /// the request for items after revision `r`, starting with `from`; `revision` reads the
    /// revision of a response, if it has one. The first attempt's failure is returned, as from
    /// [`Client::stream`]; once open, the call survives losing the server, with waits between
    /// attempts following `ClientOptions::backoff`. The stream ends when the server ends the
    /// call, when a non-retryable error occurs (delivered as the last item), or when the receiver
    /// is dropped.
    pub async fn resuming_stream<Req, Resp, MakeReq, RevisionOf>(
        &self,
        from: u64,
        request: MakeReq,
        revision: RevisionOf,
    ) -> Result<mpsc::Receiver<Result<Resp, TransportError>>, TransportError>
    where
        Req: Serialize + Send + Sync + 'static,
        Resp: DeserializeOwned + Send + 'static,
        MakeReq: Fn(u64) -> Req + Send + 'static,
        RevisionOf: Fn(&Resp) -> Option<u64> + Send + Sync + 'static,
    {
        let first = self.stream::<Req, Resp>(&request(from)).await?;
        let (tx, rx) = mpsc::channel(RESUME_BUFFER);
        let client = self.clone();
        tokio::spawn(async move {
            let mut last = from;
            let mut attempt: u32 = 0;
            let mut opened: Result<_, TransportError> = Ok(first);
            loop {
                let ended = match opened {
                    Ok(responses) => forward(responses, &tx, &revision, &mut last).await,
                    Err(err) if err.is_retryable() => {
                        tracing::debug!(server = %client.server(), error = %err, "stream not reopened yet");
                        Ended::Retryable { progressed: false }
                    }
                    Err(err) => {
                        let _ = tx.send(Err(err)).await;
                        Ended::Finished
                    }
                };
                match ended {
                    Ended::Finished => return,
                    Ended::Retryable { progressed } => {
                        attempt = if progressed {
                            0
                        } else {
                            attempt.saturating_add(1)
                        };
                    }
                }
                let wait = client.options().backoff.delay(attempt, random_fraction());
                tokio::select! {
                    () = tx.closed() => return,
                    () = tokio::time::sleep(wait) => {}
                }
                opened = client.stream::<Req, Resp>(&request(last)).await;
            }
        });
        Ok(rx)
    }
}

/// Passes one attempt's responses on, keeping `last` at the newest revision delivered.
async fn forward<Resp: DeserializeOwned>(
    mut responses: CallStream<Resp>,
    tx: &mpsc::Sender<Result<Resp, TransportError>>,
    revision: &impl Fn(&Resp) -> Option<u64>,
    last: &mut u64,
) -> Ended {
    let mut progressed = false;
    loop {
        let item = tokio::select! {
            () = tx.closed() => return Ended::Finished,
            item = responses.recv() => item,
        };
        match item {
            None => return Ended::Finished,
            Some(Ok(response)) => {
                let seen = revision(&response);
                if tx.send(Ok(response)).await.is_err() {
                    return Ended::Finished;
                }
                if let Some(seen) = seen {
                    *last = seen;
                }
                progressed = true;
            }
            Some(Err(err)) if err.is_retryable() => {
                tracing::info!(error = %err, resume_after = *last, "stream lost; resuming");
                return Ended::Retryable { progressed };
            }
            Some(Err(err)) => {
                let _ = tx.send(Err(err)).await;
                return Ended::Finished;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::backoff::Backoff;
    use crate::client::{Client, ClientOptions};
    use crate::error::TransportError;
    use crate::pki::ClusterPki;
    use crate::test_support::{Cluster, DAY, DEADLINE, Request, Response, RunningServer};
    use std::time::Duration;
    use time::OffsetDateTime;

    fn revision(response: &Response) -> Option<u64> {
        match response {
            Response::Revision(revision) => Some(*revision),
            _ => None,
        }
    }

    fn quick_options() -> ClientOptions {
        ClientOptions {
            connect_timeout: Duration::from_millis(300),
            backoff: Backoff {
                initial: Duration::from_millis(20),
                max: Duration::from_millis(200),
            },
            ..ClientOptions::default()
        }
    }

    #[tokio::test]
    async fn a_watch_resumes_after_a_server_restart_without_gaps_or_repeats() {
        let cluster = Cluster::new();
        let server = RunningServer::start(&cluster.server);
        let addr = server.addr;
        let client =
            Client::with_options(addr, "localhost", &cluster.admin, quick_options()).unwrap();
        let mut watch = client
            .resuming_stream(0, Request::WatchFrom, revision)
            .await
            .unwrap();
        let mut seen = Vec::new();
        let mut restarted = None;
        let mut server = Some(server);
        tokio::time::timeout(DEADLINE, async {
            while seen.len() < 400 {
                let item = watch.recv().await.expect("the watch keeps going").unwrap();
                seen.push(revision(&item).unwrap());
                if seen.len() == 5
                    && let Some(server) = server.take()
                {
                    server.stop().await;
                    restarted = Some(RunningServer::start_on(addr, &cluster.server));
                }
            }
        })
        .await
        .expect("the watch resumes");
        let expected: Vec<u64> = (1..=400).collect();
        assert_eq!(seen, expected);
        let restarted = restarted.unwrap();
        assert_eq!(
            restarted.stats.accepted(),
            1,
            "the later revisions came from the restarted server"
        );
        restarted.stop().await;
    }

    #[tokio::test]
    async fn a_watch_that_cannot_open_says_why_at_once() {
        let cluster = Cluster::new();
        let impostor = ClusterPki::create(OffsetDateTime::now_utc()).unwrap();
        let server = RunningServer::start(&impostor.issue_server(&[], DAY).unwrap());
        let client =
            Client::with_options(server.addr, "localhost", &cluster.admin, quick_options())
                .unwrap();
        let first = tokio::time::timeout(
            DEADLINE,
            client.resuming_stream(0, Request::WatchFrom, revision),
        )
        .await
        .unwrap();
        assert!(
            matches!(first, Err(TransportError::ServerNotTrusted { .. })),
            "{first:?}"
        );
        server.stop().await;
    }
}
