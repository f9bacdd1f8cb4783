//! Replays the fuzz corpus checked in under `fuzz/corpus` through the decoders on stable Rust,
//! so every seed (and every crash input added there later) keeps being checked by `cargo test`.

use crate::codec::{FrameError, MAX_FRAME_BYTES, decode, decode_frame, read_frame_within};
use crate::protocol::{CallRequest, Hello};
use crate::test_support::Request;
use serde::de::DeserializeOwned;
use std::fmt::Debug;
use std::path::{Path, PathBuf};

fn seeds(target: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|err| panic!("cannot list {}: {err}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .collect();
    files.sort();
    files
}

/// The slice decoder and the streaming decoder must reach the same verdict on the same bytes.
async fn decoders_agree<T: DeserializeOwned + PartialEq + Debug>(bytes: &[u8]) -> bool {
    let from_slice = decode_frame::<T>(bytes, MAX_FRAME_BYTES);
    let mut reader = bytes;
    let from_stream = read_frame_within::<_, T>(&mut reader, MAX_FRAME_BYTES).await;
    match (&from_slice, &from_stream) {
        (Ok((msg, used)), Ok(Some(streamed))) => {
            assert_eq!(msg, streamed);
            assert_eq!(bytes.len() - reader.len(), *used);
            true
        }
        (Err(_), Err(_)) => false,
        (Err(_), Ok(None)) if bytes.is_empty() => false,
        _ => panic!("decoders disagree: {from_slice:?} vs {from_stream:?}"),
    }
}

#[tokio::test]
async fn every_frame_seed_gets_the_same_verdict_from_both_decoders() {
    let files = seeds("frame");
    assert!(files.len() >= 24, "only {} frame seeds", files.len());
    let (mut hellos, mut truncated, mut oversized) = (0, 0, 0);
    for file in &files {
        let bytes = std::fs::read(file).unwrap();
        if decoders_agree::<Hello>(&bytes).await {
            hellos += 1;
        }
        decoders_agree::<CallRequest<Request>>(&bytes).await;
        decoders_agree::<CallRequest<String>>(&bytes).await;
        decoders_agree::<Vec<u8>>(&bytes).await;
        match decode_frame::<Vec<u8>>(&bytes, MAX_FRAME_BYTES) {
            Err(FrameError::Truncated { .. }) => truncated += 1,
            Err(FrameError::TooLarge { .. }) => oversized += 1,
            _ => {}
        }
    }
    // The seeds cover a whole hello, cut-off frames and an oversized header.
    assert!(
        hellos >= 1 && truncated >= 4 && oversized >= 1,
        "{hellos} {truncated} {oversized}"
    );
}

#[test]
fn every_message_seed_decodes_or_fails_cleanly() {
    let files = seeds("message");
    assert!(files.len() >= 24, "only {} message seeds", files.len());
    for file in &files {
        let bytes = std::fs::read(file).unwrap();
        let _ = decode::<Hello>(&bytes);
        let _ = decode::<CallRequest<Request>>(&bytes);
        let _ = decode::<CallRequest<String>>(&bytes);
        let _ = decode::<Vec<u8>>(&bytes);
    }
}
