//! What the fuzz targets share: the real message types flotilla sends over QUIC, and checks
//! that decoding them from arbitrary bytes never panics and is self-consistent.
//!
//! Every check decodes untrusted bytes and, when that succeeds, re-encodes the result and
//! decodes it again: a decoder that accepts bytes it cannot reproduce would let two peers
//! disagree about what was said.

use flotilla_kernel::api::{Request, Response};
use flotilla_transport::protocol::{CallRequest, Hello};
use flotilla_transport::{MAX_FRAME_BYTES, decode, decode_frame, encode, read_frame_within};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::fmt::Debug;
use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

/// Decodes `bytes` as every message type a peer can send, checking each success round-trips.
pub fn check_messages(bytes: &[u8]) {
    round_trips::<Hello>(bytes);
    round_trips::<CallRequest<Request>>(bytes);
    round_trips::<Request>(bytes);
    round_trips::<Response>(bytes);
}

/// Decodes `bytes` as a frame stream of requests (what a server reads) and of responses (what
/// a client reads), with the slice and the async decoder, which must agree.
pub fn check_frames(bytes: &[u8]) {
    frames_agree::<CallRequest<Request>>(bytes);
    frames_agree::<Response>(bytes);
    frames_agree::<Hello>(bytes);
}

fn round_trips<T: Serialize + DeserializeOwned + PartialEq + Debug>(bytes: &[u8]) {
    if let Ok(msg) = decode::<T>(bytes) {
        let again = encode(&msg).expect("a decoded message encodes");
        let back: T = decode(&again).expect("a re-encoded message decodes");
        assert_eq!(back, msg);
    }
}

fn frames_agree<T: Serialize + DeserializeOwned + PartialEq + Debug>(bytes: &[u8]) {
    let from_slice = decode_frame::<T>(bytes, MAX_FRAME_BYTES);
    let mut reader = bytes;
    let from_stream = ready(read_frame_within::<_, T>(&mut reader, MAX_FRAME_BYTES));
    match (from_slice, from_stream) {
        (Ok((msg, used)), Ok(Some(streamed))) => {
            assert_eq!(msg, streamed);
            assert_eq!(bytes.len() - reader.len(), used);
        }
        (Err(_), Err(_)) => {}
        (Err(_), Ok(None)) => assert!(bytes.is_empty()),
        (slice, stream) => panic!("decoders disagree: {slice:?} vs {stream:?}"),
    }
}

/// Runs a future that cannot wait (it reads from a slice) to completion.
fn ready<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    match future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(output) => output,
        Poll::Pending => panic!("reading from a slice never waits"),
    }
}
