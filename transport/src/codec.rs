//! The wire format of every flotilla message: a 4-byte big-endian length followed by a bincode
//! payload.
//!
//! bincode is used here and nowhere else in flotilla, so the encoding can change in one place.
//! Everything read from a peer is untrusted: a frame longer than the limit (at most
//! [`MAX_FRAME_BYTES`], often less: see `TransportLimits`) is refused from its header alone, the
//! payload buffer grows only as bytes actually arrive, and bincode runs with the ceiling as its
//! own limit so a forged length inside the payload cannot trigger a huge allocation either.

use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// The largest payload a frame may carry, in bytes.
pub const MAX_FRAME_BYTES: usize = 16 * 1024 * 1024;

/// Bytes taken by the length prefix of a frame.
const HEADER_BYTES: usize = 4;
/// Most bytes reserved for a payload before it is read.
const PREALLOCATE_BYTES: usize = 1 << 20;

/// bincode's standard configuration, bounded by the frame size.
fn config() -> impl bincode::config::Config {
    bincode::config::standard().with_limit::<MAX_FRAME_BYTES>()
}

/// Why a message could not be turned into bytes or back.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    /// The message could not be serialized.
    #[error("cannot encode the message")]
    Encode {
        #[source]
        source: bincode::error::EncodeError,
    },
    /// The bytes are not a valid encoding of the expected message type.
    #[error("cannot decode the message")]
    Decode {
        #[source]
        source: bincode::error::DecodeError,
    },
    /// A message was decoded but bytes were left over, so the payload is not what the sender meant.
    #[error("message decoded from {used} of {total} bytes; the rest is unexpected")]
    TrailingBytes { used: usize, total: usize },
}

/// Why a frame could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The underlying stream failed.
    #[error("frame I/O failed")]
    Io {
        #[source]
        source: std::io::Error,
    },
    /// The frame's payload is longer than the limit; nothing of it was read or written.
    #[error("frame of {len} bytes exceeds the limit of {max} bytes")]
    TooLarge { len: usize, max: usize },
    /// The stream ended inside a frame.
    #[error("stream ended inside a frame: got {got} of {expected} bytes")]
    Truncated { expected: usize, got: usize },
    /// The payload is not a valid message.
    #[error("invalid frame payload")]
    Codec {
        #[source]
        source: CodecError,
    },
}

/// Encodes one message with bincode's standard configuration.
pub fn encode<T: Serialize>(msg: &T) -> Result<Vec<u8>, CodecError> {
    bincode::serde::encode_to_vec(msg, config()).map_err(|source| CodecError::Encode { source })
}

/// Decodes exactly one message from `bytes`; bytes left over are an error.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, CodecError> {
    let (msg, used) = bincode::serde::decode_from_slice(bytes, config())
        .map_err(|source| CodecError::Decode { source })?;
    if used != bytes.len() {
        return Err(CodecError::TrailingBytes {
            used,
            total: bytes.len(),
        });
    }
    Ok(msg)
}

/// Encodes `msg` as one complete frame: length header and payload.
pub fn encode_frame<T: Serialize>(msg: &T) -> Result<Vec<u8>, FrameError> {
    encode_frame_within(msg, MAX_FRAME_BYTES)
}

/// Encodes `msg` as one frame whose payload may be at most `max` bytes (never more than
/// [`MAX_FRAME_BYTES`]).
pub fn encode_frame_within<T: Serialize>(msg: &T, max: usize) -> Result<Vec<u8>, FrameError> {
    let max = max.min(MAX_FRAME_BYTES);
    // The payload is encoded right after room for its header: one buffer, no copy.
    let mut frame = vec![0; HEADER_BYTES];
    bincode::serde::encode_into_std_write(msg, &mut frame, config()).map_err(|source| {
        FrameError::Codec {
            source: CodecError::Encode { source },
        }
    })?;
    let payload = frame.len() - HEADER_BYTES;
    let len = match u32::try_from(payload) {
        Ok(len) if payload <= max => len,
        _ => return Err(FrameError::TooLarge { len: payload, max }),
    };
    frame[..HEADER_BYTES].copy_from_slice(&len.to_be_bytes());
    Ok(frame)
}

/// Decodes the frame at the start of `bytes`, whose payload may be at most `max` bytes; returns
/// the message and how many bytes the frame took.
pub fn decode_frame<T: DeserializeOwned>(
    bytes: &[u8],
    max: usize,
) -> Result<(T, usize), FrameError> {
    let Some((header, payload)) = bytes.split_first_chunk::<HEADER_BYTES>() else {
        return Err(FrameError::Truncated {
            expected: HEADER_BYTES,
            got: bytes.len(),
        });
    };
    let len = payload_len(*header, max)?;
    let payload = payload.get(..len).ok_or(FrameError::Truncated {
        expected: len,
        got: payload.len(),
    })?;
    let msg = decode(payload).map_err(|source| FrameError::Codec { source })?;
    Ok((msg, HEADER_BYTES + len))
}

/// Writes `msg` as one frame and flushes it. Nothing is written if it cannot be encoded.
pub async fn write_frame<W: AsyncWrite + Unpin, T: Serialize>(
    w: &mut W,
    msg: &T,
) -> Result<(), FrameError> {
    let frame = encode_frame(msg)?;
    write_encoded(w, &frame).await
}

/// Writes a frame made by [`encode_frame`] and flushes it.
pub async fn write_encoded<W: AsyncWrite + Unpin>(
    w: &mut W,
    frame: &[u8],
) -> Result<(), FrameError> {
    w.write_all(frame)
        .await
        .map_err(|source| FrameError::Io { source })?;
    w.flush().await.map_err(|source| FrameError::Io { source })
}

/// Reads one frame of at most [`MAX_FRAME_BYTES`] and decodes it. See [`read_frame_within`].
pub async fn read_frame<R: AsyncRead + Unpin, T: DeserializeOwned>(
    r: &mut R,
) -> Result<Option<T>, FrameError> {
    read_frame_within(r, MAX_FRAME_BYTES).await
}

/// Reads one frame whose payload may be at most `max` bytes and decodes it.
///
/// Returns `Ok(None)` when the stream ends cleanly before a frame starts. A frame over the limit
/// is refused before its payload is read; a stream that ends inside a frame gives
/// [`FrameError::Truncated`].
pub async fn read_frame_within<R: AsyncRead + Unpin, T: DeserializeOwned>(
    r: &mut R,
    max: usize,
) -> Result<Option<T>, FrameError> {
    let mut header = [0u8; HEADER_BYTES];
    let got = read_up_to(r, &mut header).await?;
    if got == 0 {
        return Ok(None);
    }
    if got < HEADER_BYTES {
        return Err(FrameError::Truncated {
            expected: HEADER_BYTES,
            got,
        });
    }
    let len = payload_len(header, max)?;
    // Room for the whole payload up front, but no more than a bounded amount before the bytes
    // arrive: a peer's header alone cannot make us allocate the frame limit.
    let mut payload = Vec::with_capacity(len.min(PREALLOCATE_BYTES));
    (&mut *r)
        .take(len as u64)
        .read_to_end(&mut payload)
        .await
        .map_err(|source| FrameError::Io { source })?;
    if payload.len() < len {
        return Err(FrameError::Truncated {
            expected: len,
            got: payload.len(),
        });
    }
    decode(&payload)
        .map(Some)
        .map_err(|source| FrameError::Codec { source })
}

/// The payload length a header announces, refused when over `max` (capped at the ceiling).
fn payload_len(header: [u8; HEADER_BYTES], max: usize) -> Result<usize, FrameError> {
    let max = max.min(MAX_FRAME_BYTES);
    let len = u32::from_be_bytes(header) as usize;
    if len > max {
        return Err(FrameError::TooLarge { len, max });
    }
    Ok(len)
}

/// Fills `buf` from `r` until it is full or the stream ends; returns how many bytes were read.
async fn read_up_to<R: AsyncRead + Unpin>(r: &mut R, buf: &mut [u8]) -> Result<usize, FrameError> {
    let mut filled = 0;
    while filled < buf.len() {
        let n = r
            .read(&mut buf[filled..])
            .await
            .map_err(|source| FrameError::Io { source })?;
        if n == 0 {
            break;
        }
        filled += n;
    }
    Ok(filled)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;
    use std::collections::BTreeMap;

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    enum Kind {
        Pod,
        Node { cpus: u32 },
    }

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    struct Message {
        name: String,
        revision: u64,
        labels: BTreeMap<String, String>,
        kind: Kind,
        data: Vec<u8>,
        parent: Option<Box<Message>>,
    }

    fn sample() -> Message {
        Message {
            name: "web-1".into(),
            revision: 42,
            labels: BTreeMap::from([("app".into(), "web".into())]),
            kind: Kind::Node { cpus: 8 },
            data: vec![0, 1, 2, 255],
            parent: Some(Box::new(Message {
                name: "web".into(),
                revision: 7,
                labels: BTreeMap::new(),
                kind: Kind::Pod,
                data: Vec::new(),
                parent: None,
            })),
        }
    }

    #[test]
    fn byte_fields_encode_as_a_sequence_of_u8_does() {
        // flotilla marks its byte fields `serde_bytes` so they are copied at once instead of
        // element by element; the bytes on the wire (and in stored records) must stay the same.
        let payload: Vec<u8> = (0..=255).collect();
        let as_bytes = encode(&serde_bytes::Bytes::new(&payload)).unwrap();
        assert_eq!(as_bytes, encode(&payload).unwrap());
        let read: serde_bytes::ByteBuf = decode(&encode(&payload).unwrap()).unwrap();
        assert_eq!(read.into_vec(), payload);
    }

    #[test]
    fn encode_then_decode_round_trips() {
        let bytes = encode(&sample()).unwrap();
        assert_eq!(decode::<Message>(&bytes).unwrap(), sample());
    }

    #[test]
    fn decode_refuses_trailing_bytes() {
        let mut bytes = encode(&sample()).unwrap();
        bytes.push(0);
        let err = decode::<Message>(&bytes).unwrap_err();
        assert!(matches!(err, CodecError::TrailingBytes { used, total } if used + 1 == total));
    }

    #[test]
    fn decode_of_garbage_is_an_error() {
        let garbage = [0xff_u8; 64];
        assert!(matches!(
            decode::<Message>(&garbage),
            Err(CodecError::Decode { .. })
        ));
    }

    #[test]
    fn decode_refuses_a_forged_huge_length_without_allocating_it() {
        // A Vec<u8> whose varint length claims u64::MAX bytes.
        let forged = [0xfd_u8, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff];
        assert!(matches!(
            decode::<Vec<u8>>(&forged),
            Err(CodecError::Decode { .. })
        ));
    }

    #[tokio::test]
    async fn frames_round_trip_in_sequence() {
        let mut wire = Vec::new();
        write_frame(&mut wire, &sample()).await.unwrap();
        write_frame(&mut wire, &"second".to_string()).await.unwrap();
        let mut reader = wire.as_slice();
        let first: Option<Message> = read_frame(&mut reader).await.unwrap();
        let second: Option<String> = read_frame(&mut reader).await.unwrap();
        let end: Option<String> = read_frame(&mut reader).await.unwrap();
        assert_eq!(first, Some(sample()));
        assert_eq!(second.as_deref(), Some("second"));
        assert_eq!(end, None);
    }

    #[tokio::test]
    async fn frame_header_is_big_endian_length() {
        let mut wire = Vec::new();
        write_frame(&mut wire, &7u8).await.unwrap();
        assert_eq!(wire, vec![0, 0, 0, 1, 7]);
    }

    #[tokio::test]
    async fn truncated_header_is_an_error() {
        let mut reader: &[u8] = &[0, 0];
        let err = read_frame::<_, u8>(&mut reader).await.unwrap_err();
        assert!(matches!(
            err,
            FrameError::Truncated {
                expected: 4,
                got: 2
            }
        ));
    }

    #[tokio::test]
    async fn truncated_payload_is_an_error() {
        let mut wire = Vec::new();
        write_frame(&mut wire, &sample()).await.unwrap();
        wire.truncate(wire.len() - 3);
        let err = read_frame::<_, Message>(&mut wire.as_slice())
            .await
            .unwrap_err();
        assert!(matches!(err, FrameError::Truncated { .. }));
    }

    #[tokio::test]
    async fn oversized_frame_is_refused_from_its_header() {
        let claimed = (MAX_FRAME_BYTES + 1) as u32;
        let mut reader: &[u8] = &claimed.to_be_bytes();
        let err = read_frame::<_, Vec<u8>>(&mut reader).await.unwrap_err();
        assert!(matches!(
            err,
            FrameError::TooLarge { len, max } if len == MAX_FRAME_BYTES + 1 && max == MAX_FRAME_BYTES
        ));
    }

    #[tokio::test]
    async fn a_header_claiming_the_maximum_with_no_payload_is_truncated() {
        let claimed = MAX_FRAME_BYTES as u32;
        let mut reader: &[u8] = &claimed.to_be_bytes();
        let err = read_frame::<_, Vec<u8>>(&mut reader).await.unwrap_err();
        assert!(matches!(err, FrameError::Truncated { got: 0, .. }));
    }

    #[tokio::test]
    async fn oversized_message_is_not_written() {
        let big = vec![0u8; MAX_FRAME_BYTES + 1];
        let mut wire = Vec::new();
        let err = write_frame(&mut wire, &big).await.unwrap_err();
        assert!(matches!(err, FrameError::TooLarge { .. }));
        assert!(wire.is_empty());
    }

    #[tokio::test]
    async fn a_lower_limit_refuses_frames_the_ceiling_would_allow() {
        let frame = encode_frame(&vec![7u8; 100]).unwrap();
        let err = read_frame_within::<_, Vec<u8>>(&mut frame.as_slice(), 64)
            .await
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "frame of 101 bytes exceeds the limit of 64 bytes"
        );
        let err = encode_frame_within(&vec![7u8; 100], 64).unwrap_err();
        assert!(matches!(err, FrameError::TooLarge { len: 101, max: 64 }));
    }

    #[test]
    fn a_limit_above_the_ceiling_is_capped() {
        let claimed = (MAX_FRAME_BYTES + 1) as u32;
        let err = decode_frame::<u8>(&claimed.to_be_bytes(), usize::MAX).unwrap_err();
        assert!(matches!(
            err,
            FrameError::TooLarge {
                max: MAX_FRAME_BYTES,
                ..
            }
        ));
    }

    #[test]
    fn decode_frame_reads_one_frame_and_reports_its_length() {
        let mut wire = encode_frame(&sample()).unwrap();
        let first_len = wire.len();
        wire.extend(encode_frame(&1u8).unwrap());
        let (msg, used) = decode_frame::<Message>(&wire, MAX_FRAME_BYTES).unwrap();
        assert_eq!((msg, used), (sample(), first_len));
        let (second, _) = decode_frame::<u8>(&wire[used..], MAX_FRAME_BYTES).unwrap();
        assert_eq!(second, 1);
    }

    #[test]
    fn decode_frame_refuses_every_truncation() {
        let wire = encode_frame(&sample()).unwrap();
        for cut in 0..wire.len() {
            let err = decode_frame::<Message>(&wire[..cut], MAX_FRAME_BYTES).unwrap_err();
            assert!(
                matches!(err, FrameError::Truncated { .. }),
                "cut at {cut}: {err}"
            );
        }
    }

    #[tokio::test]
    async fn garbage_payload_is_a_codec_error() {
        let mut wire = vec![0, 0, 0, 8];
        wire.extend_from_slice(&[0xff; 8]);
        let err = read_frame::<_, Message>(&mut wire.as_slice())
            .await
            .unwrap_err();
        assert!(matches!(err, FrameError::Codec { .. }));
    }
}
