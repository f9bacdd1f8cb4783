//! What a handler answers a call with: one response, a channel its own task fills, or a stream
//! the call's task polls itself.
//!
//! A stream costs no task hop per response, which matters for watches with many subscribers:
//! each event is produced and sent from the one task that serves the call. The call drops its
//! `Responses` as soon as the client goes away or the deadline passes, so a channel's sender sees
//! itself closed and a stream is dropped at once.

use futures_core::Stream;
use std::fmt;
use std::pin::Pin;
use tokio::sync::mpsc;

/// The responses to one call, in order; the call ends after the last.
pub struct Responses<Resp>(Source<Resp>);

enum Source<Resp> {
    One(Option<Resp>),
    Channel(mpsc::Receiver<Resp>),
    Stream(Pin<Box<dyn Stream<Item = Resp> + Send>>),
}

impl<Resp> Responses<Resp> {
    /// A single response: the whole answer of a unary call.
    pub fn one(response: Resp) -> Responses<Resp> {
        Responses(Source::One(Some(response)))
    }

    /// Whatever is sent on the channel until every sender is dropped.
    pub fn channel(receiver: mpsc::Receiver<Resp>) -> Responses<Resp> {
        Responses(Source::Channel(receiver))
    }

    /// Each item of `stream`, produced on the call's own task as the client takes them.
    pub fn stream(stream: impl Stream<Item = Resp> + Send + 'static) -> Responses<Resp> {
        Responses(Source::Stream(Box::pin(stream)))
    }

    /// The next response, or `None` when there are no more. Cancel-safe.
    pub async fn next(&mut self) -> Option<Resp> {
        match &mut self.0 {
            Source::One(response) => response.take(),
            Source::Channel(receiver) => receiver.recv().await,
            Source::Stream(stream) => {
                std::future::poll_fn(|cx| stream.as_mut().poll_next(cx)).await
            }
        }
    }
}

impl<Resp> fmt::Debug for Responses<Resp> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let source = match &self.0 {
            Source::One(_) => "one",
            Source::Channel(_) => "channel",
            Source::Stream(_) => "stream",
        };
        f.debug_tuple("Responses").field(&source).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Countdown(u32);

    impl Stream for Countdown {
        type Item = u32;

        fn poll_next(
            mut self: Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Option<u32>> {
            let next = self.0.checked_sub(1);
            if let Some(n) = next {
                self.0 = n;
            }
            std::task::Poll::Ready(next)
        }
    }

    async fn collect(mut responses: Responses<u32>) -> Vec<u32> {
        let mut all = Vec::new();
        while let Some(response) = responses.next().await {
            all.push(response);
        }
        all
    }

    #[tokio::test]
    async fn each_source_yields_its_responses_then_ends() {
        assert_eq!(collect(Responses::one(7)).await, [7]);
        let (sender, receiver) = mpsc::channel(4);
        for n in [1, 2, 3] {
            sender.try_send(n).unwrap();
        }
        drop(sender);
        assert_eq!(collect(Responses::channel(receiver)).await, [1, 2, 3]);
        assert_eq!(collect(Responses::stream(Countdown(3))).await, [2, 1, 0]);
    }
}
