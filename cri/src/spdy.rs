//! The little of SPDY/3.1 that Kubernetes' streaming protocol needs, as a CRI runtime's
//! streaming server speaks it for an attached exec: the client opens one stream per channel
//! (SYN_STREAM with a `streamtype` header), writes standard input and terminal sizes as DATA
//! and ends its input with FIN; the server sends output and the exec's status as DATA. No
//! maintained Rust crate speaks SPDY, and the server needs nothing more than this.
//!
//! Header blocks are zlib streams over the session. Ours are compressed without SPDY's
//! preset dictionary (a zlib stream says whether it uses one, and the server then reads it
//! plainly); theirs, which do use it, are only skipped: the server's replies carry nothing the
//! client needs.

use flate2::{Compress, Compression, FlushCompress};

const VERSION: u32 = 3;
const CONTROL: u32 = 0x8000_0000;
const FLAG_FIN: u8 = 0x01;
const HEADER_LEN: usize = 8;
/// A frame's length is 24 bits.
pub const MAX_DATA: usize = (1 << 24) - 1;

const SYN_STREAM: u32 = 1;
const PING: u32 = 6;
const GOAWAY: u32 = 7;
const WINDOW_UPDATE: u32 = 9;

/// A frame from the server, as far as the client cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    Data {
        stream: u32,
        fin: bool,
        data: Vec<u8>,
    },
    Ping {
        id: u32,
    },
    GoAway,
    /// SYN_REPLY, RST_STREAM (the server resets the streams it closes with the session),
    /// SETTINGS, WINDOW_UPDATE, HEADERS: nothing to do.
    Ignored,
}

/// Takes the first whole frame off the front of `buffer`; `None` until one has arrived.
pub fn parse(buffer: &mut Vec<u8>) -> Result<Option<Frame>, String> {
    if buffer.len() < HEADER_LEN {
        return Ok(None);
    }
    let word = |at: usize| {
        u32::from_be_bytes([buffer[at], buffer[at + 1], buffer[at + 2], buffer[at + 3]])
    };
    let first = word(0);
    let flags = buffer[4];
    let length = usize::try_from(word(4) & 0x00ff_ffff).unwrap_or(usize::MAX);
    if buffer.len() < HEADER_LEN + length {
        return Ok(None);
    }
    let payload: Vec<u8> = buffer
        .drain(..HEADER_LEN + length)
        .skip(HEADER_LEN)
        .collect();
    let payload_word = |at: usize| -> Result<u32, String> {
        payload
            .get(at..at + 4)
            .map(|bytes| u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
            .ok_or_else(|| format!("a SPDY control frame too short ({} bytes)", payload.len()))
    };
    if first & CONTROL == 0 {
        return Ok(Some(Frame::Data {
            stream: first,
            fin: flags & FLAG_FIN != 0,
            data: payload,
        }));
    }
    let version = (first >> 16) & 0x7fff;
    if version != VERSION {
        return Err(format!("the server speaks SPDY version {version}, not 3"));
    }
    Ok(Some(match first & 0xffff {
        PING => Frame::Ping {
            id: payload_word(0)?,
        },
        GOAWAY => Frame::GoAway,
        _ => Frame::Ignored,
    }))
}

/// A DATA frame on `stream`; `fin` ends the client's side of it.
pub fn data(stream: u32, fin: bool, payload: &[u8]) -> Vec<u8> {
    frame(stream & !CONTROL, if fin { FLAG_FIN } else { 0 }, payload)
}

/// A reply to the server's PING.
pub fn ping(id: u32) -> Vec<u8> {
    control(PING, 0, &id.to_be_bytes())
}

/// Lets the server send `delta` more bytes on `stream`.
pub fn window_update(stream: u32, delta: u32) -> Vec<u8> {
    let mut payload = Vec::with_capacity(8);
    payload.extend_from_slice(&(stream & !CONTROL).to_be_bytes());
    payload.extend_from_slice(&delta.to_be_bytes());
    control(WINDOW_UPDATE, 0, &payload)
}

/// Opens the client's streams: it numbers them (odd, increasing) and compresses their header
/// blocks on the session's one zlib stream.
pub struct StreamOpener {
    next: u32,
    headers: Compress,
}

impl Default for StreamOpener {
    fn default() -> Self {
        Self {
            next: 1,
            headers: Compress::new(Compression::default(), true),
        }
    }
}

impl StreamOpener {
    /// A SYN_STREAM with `headers`, and the new stream's id.
    pub fn open(&mut self, headers: &[(&str, &str)]) -> Result<(u32, Vec<u8>), String> {
        let stream = self.next;
        self.next += 2;
        let mut payload = Vec::new();
        payload.extend_from_slice(&stream.to_be_bytes());
        // Associated stream 0, priority 0, slot 0.
        payload.extend_from_slice(&[0; 6]);
        payload.extend_from_slice(&self.compress(&header_block(headers))?);
        Ok((stream, control(SYN_STREAM, 0, &payload)))
    }

    fn compress(&mut self, block: &[u8]) -> Result<Vec<u8>, String> {
        let mut compressed = Vec::with_capacity(block.len() + 64);
        let mut input = block;
        loop {
            compressed.reserve(block.len() + 64);
            let before = self.headers.total_in();
            self.headers
                .compress_vec(input, &mut compressed, FlushCompress::Sync)
                .map_err(|error| format!("compressing SPDY headers: {error}"))?;
            let used = usize::try_from(self.headers.total_in() - before).unwrap_or(input.len());
            input = &input[used.min(input.len())..];
            // A sync flush is complete when the output did not fill up.
            if input.is_empty() && compressed.len() < compressed.capacity() {
                return Ok(compressed);
            }
        }
    }
}

/// SPDY/3's name/value block: a count, then each name and value after its length.
fn header_block(headers: &[(&str, &str)]) -> Vec<u8> {
    let mut block = Vec::new();
    let length = |text: &str| u32::try_from(text.len()).unwrap_or(u32::MAX).to_be_bytes();
    block.extend_from_slice(&u32::try_from(headers.len()).unwrap_or(0).to_be_bytes());
    for (name, value) in headers {
        block.extend_from_slice(&length(name));
        block.extend_from_slice(name.to_ascii_lowercase().as_bytes());
        block.extend_from_slice(&length(value));
        block.extend_from_slice(value.as_bytes());
    }
    block
}

fn control(kind: u32, flags: u8, payload: &[u8]) -> Vec<u8> {
    frame(CONTROL | (VERSION << 16) | kind, flags, payload)
}

fn frame(first: u32, flags: u8, payload: &[u8]) -> Vec<u8> {
    let length = u32::try_from(payload.len().min(MAX_DATA)).unwrap_or(0);
    let mut frame = Vec::with_capacity(HEADER_LEN + payload.len());
    frame.extend_from_slice(&first.to_be_bytes());
    frame.extend_from_slice(&((u32::from(flags) << 24) | length).to_be_bytes());
    frame.extend_from_slice(payload);
    frame
}

#[cfg(test)]
mod tests {
    use flate2::{Decompress, FlushDecompress};

    use super::*;

    const SYN_REPLY: u32 = 2;
    const RST_STREAM: u32 = 3;

    #[test]
    fn data_frames_round_trip_and_wait_for_their_whole_payload() {
        let frame = data(5, true, b"hello");
        let mut buffer = frame[..10].to_vec();
        assert_eq!(parse(&mut buffer).unwrap(), None);
        buffer.extend_from_slice(&frame[10..]);
        buffer.extend_from_slice(&ping(7));
        assert_eq!(
            parse(&mut buffer).unwrap(),
            Some(Frame::Data {
                stream: 5,
                fin: true,
                data: b"hello".to_vec()
            })
        );
        assert_eq!(parse(&mut buffer).unwrap(), Some(Frame::Ping { id: 7 }));
        assert!(buffer.is_empty());
    }

    #[test]
    fn control_frames_are_read_for_what_matters() {
        let mut reset = control(RST_STREAM, 0, &[0, 0, 0, 3, 0, 0, 0, 5]);
        assert_eq!(parse(&mut reset).unwrap(), Some(Frame::Ignored));
        let mut reply = control(SYN_REPLY, 0, &[0, 0, 0, 1, 0x78, 0x9c]);
        assert_eq!(parse(&mut reply).unwrap(), Some(Frame::Ignored));
        let mut away = control(GOAWAY, 0, &[0; 8]);
        assert_eq!(parse(&mut away).unwrap(), Some(Frame::GoAway));
        let mut update = window_update(3, 100);
        assert_eq!(parse(&mut update).unwrap(), Some(Frame::Ignored));
        let mut short = control(PING, 0, &[0, 1]);
        assert!(parse(&mut short).unwrap_err().contains("too short"));
        let mut spdy2 = (CONTROL | (2 << 16) | PING).to_be_bytes().to_vec();
        spdy2.extend_from_slice(&[0, 0, 0, 4, 0, 0, 0, 1]);
        assert!(parse(&mut spdy2).unwrap_err().contains("version 2"));
    }

    #[test]
    fn streams_are_odd_and_their_headers_one_zlib_stream() {
        let mut opener = StreamOpener::default();
        let (first, syn) = opener.open(&[("streamType", "error")]).unwrap();
        let (second, next) = opener.open(&[("streamType", "stdout")]).unwrap();
        assert_eq!((first, second), (1, 3));

        let mut inflate = Decompress::new(true);
        for (syn, expected) in [(syn, "error"), (next, "stdout")] {
            assert_eq!(&syn[..4], &(CONTROL | (3 << 16) | SYN_STREAM).to_be_bytes());
            let compressed = &syn[HEADER_LEN + 10..];
            let mut block = Vec::with_capacity(256);
            inflate
                .decompress_vec(compressed, &mut block, FlushDecompress::Sync)
                .unwrap();
            let mut expected_block = Vec::new();
            expected_block.extend_from_slice(&1u32.to_be_bytes());
            expected_block.extend_from_slice(&10u32.to_be_bytes());
            expected_block.extend_from_slice(b"streamtype");
            expected_block.extend_from_slice(&u32::try_from(expected.len()).unwrap().to_be_bytes());
            expected_block.extend_from_slice(expected.as_bytes());
            assert_eq!(block, expected_block);
        }
    }
}
