//! The on-disk binary format of everything the store writes to RocksDB.
//!
//! A small explicit format instead of a serialization framework, so that the bytes on disk are
//! defined here and nowhere else and can be read back by any later version. Every record starts
//! with a format-version byte; integers are big-endian u64s; byte strings are a u64 length
//! followed by the bytes. Decoding never trusts the input: a truncated, over-long or otherwise
//! corrupt record yields a [`RecordError`] saying which field is wrong, never a panic.
//!
//! Records:
//! - key record (column family `kv`, RocksDB key = the user key):
//!   `version, create_revision, mod_revision, key_version, lease (0 = none), value`
//! - revision log record (column family `log`, RocksDB key = [`revision_key`]):
//!   `version, commit_time_ms, event_count, events...` where an event is
//!   `kind (1 put, 2 delete), key, state, has_prev (0 or 1), [prev state]` and a state is
//!   `value, create_revision, mod_revision, key_version, lease`
//! - lease record (column family `lease`, RocksDB key = the id as 8 big-endian bytes):
//!   `version, ttl_ms, expires_at_ms`
//! - meta counter (column family `meta`): `version, u64`

use crate::event::{Event, EventKind};
use crate::kv::KeyValue;
use crate::lease::{LeaseId, LeaseRecord};

/// The record format this build writes and reads.
pub(crate) const RECORD_VERSION: u8 = 2;

const EVENT_PUT: u8 = 1;
const EVENT_DELETE: u8 = 2;
const PREV_ABSENT: u8 = 0;
const PREV_PRESENT: u8 = 1;

/// Why a stored record could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    /// The record has no bytes at all, not even the format-version byte.
    #[error("record is empty")]
    Empty,
    /// The record was written in a format this build does not know.
    #[error("record format version {found} is not supported (expected {RECORD_VERSION})")]
    UnsupportedVersion { found: u8 },
    /// The record ends before `field` is complete.
    #[error("record truncated in field `{field}`: needs {needed} bytes, {remaining} left")]
    Truncated {
        field: &'static str,
        needed: u64,
        remaining: usize,
    },
    /// A tag byte has a value no writer produces.
    #[error("field `{field}` has invalid tag {found}")]
    InvalidTag { field: &'static str, found: u8 },
    /// Bytes are left over after the last field.
    #[error("record has {count} unexpected trailing bytes")]
    TrailingBytes { count: usize },
    /// A revision-log key is not an 8-byte big-endian revision.
    #[error("revision key has {len} bytes instead of 8")]
    BadRevisionKey { len: usize },
}

/// The stored state of one live key; the key itself is the RocksDB key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct KeyRecord {
    pub value: Vec<u8>,
    pub create_revision: u64,
    pub mod_revision: u64,
    pub version: u64,
    pub lease: Option<LeaseId>,
}

impl KeyRecord {
    pub(crate) fn from_kv(kv: &KeyValue) -> KeyRecord {
        KeyRecord {
            value: kv.value.clone(),
            create_revision: kv.create_revision,
            mod_revision: kv.mod_revision,
            version: kv.version,
            lease: kv.lease,
        }
    }

    pub(crate) fn into_kv(self, key: Vec<u8>) -> KeyValue {
        KeyValue {
            key,
            value: self.value,
            create_revision: self.create_revision,
            mod_revision: self.mod_revision,
            version: self.version,
            lease: self.lease,
        }
    }
}

/// The RocksDB key of a revision-log entry (and of a lease record, by id): the revision as 8 big-endian bytes, so that
/// RocksDB's byte order is revision order.
pub(crate) fn revision_key(revision: u64) -> [u8; 8] {
    revision.to_be_bytes()
}

/// Reads a revision back from a revision-log key.
pub(crate) fn decode_revision_key(bytes: &[u8]) -> Result<u64, RecordError> {
    let array: [u8; 8] = bytes
        .try_into()
        .map_err(|_| RecordError::BadRevisionKey { len: bytes.len() })?;
    Ok(u64::from_be_bytes(array))
}

pub(crate) fn encode_key_record(record: &KeyRecord) -> Vec<u8> {
    let mut out = Writer::new();
    out.u64(record.create_revision);
    out.u64(record.mod_revision);
    out.u64(record.version);
    out.u64(encode_lease(record.lease));
    out.bytes(&record.value);
    out.finish()
}

pub(crate) fn decode_key_record(bytes: &[u8]) -> Result<KeyRecord, RecordError> {
    let mut input = Reader::new(bytes)?;
    let create_revision = input.u64("create_revision")?;
    let mod_revision = input.u64("mod_revision")?;
    let version = input.u64("version")?;
    let lease = decode_lease(input.u64("lease")?);
    let value = input.bytes("value")?;
    input.finish()?;
    Ok(KeyRecord {
        value,
        create_revision,
        mod_revision,
        version,
        lease,
    })
}

/// Encodes the log entry of one revision, committed at `commit_time_ms` (Unix epoch).
pub(crate) fn encode_log(commit_time_ms: u64, events: &[Event]) -> Vec<u8> {
    let mut out = Writer::new();
    out.u64(commit_time_ms);
    out.u64(events.len() as u64);
    for event in events {
        out.u8(match event.kind {
            EventKind::Put => EVENT_PUT,
            EventKind::Delete => EVENT_DELETE,
        });
        out.bytes(&event.kv.key);
        write_state(&mut out, &event.kv);
        match &event.prev {
            None => out.u8(PREV_ABSENT),
            Some(prev) => {
                out.u8(PREV_PRESENT);
                write_state(&mut out, prev);
            }
        }
    }
    out.finish()
}

/// Reads only the commit time of a log entry, for retention-based compaction.
pub(crate) fn decode_log_time(bytes: &[u8]) -> Result<u64, RecordError> {
    Reader::new(bytes)?.u64("commit_time_ms")
}

/// Decodes a log entry into its commit time and events.
pub(crate) fn decode_log(bytes: &[u8]) -> Result<(u64, Vec<Event>), RecordError> {
    let mut input = Reader::new(bytes)?;
    let commit_time_ms = input.u64("commit_time_ms")?;
    let count = input.u64("event_count")?;
    let mut events = Vec::new();
    for _ in 0..count {
        let kind = match input.u8("event_kind")? {
            EVENT_PUT => EventKind::Put,
            EVENT_DELETE => EventKind::Delete,
            found => {
                return Err(RecordError::InvalidTag {
                    field: "event_kind",
                    found,
                });
            }
        };
        let key = input.bytes("event_key")?;
        let kv = read_state(&mut input, key.clone())?;
        let prev = match input.u8("has_prev")? {
            PREV_ABSENT => None,
            PREV_PRESENT => Some(read_state(&mut input, key)?),
            found => {
                return Err(RecordError::InvalidTag {
                    field: "has_prev",
                    found,
                });
            }
        };
        events.push(Event { kind, kv, prev });
    }
    input.finish()?;
    Ok((commit_time_ms, events))
}

pub(crate) fn encode_lease_record(record: &LeaseRecord) -> Vec<u8> {
    let mut out = Writer::new();
    out.u64(record.ttl_ms);
    out.u64(record.expires_at_ms);
    out.finish()
}

pub(crate) fn decode_lease_record(bytes: &[u8]) -> Result<LeaseRecord, RecordError> {
    let mut input = Reader::new(bytes)?;
    let ttl_ms = input.u64("ttl_ms")?;
    let expires_at_ms = input.u64("expires_at_ms")?;
    input.finish()?;
    Ok(LeaseRecord {
        ttl_ms,
        expires_at_ms,
    })
}

pub(crate) fn encode_counter(value: u64) -> Vec<u8> {
    let mut out = Writer::new();
    out.u64(value);
    out.finish()
}

pub(crate) fn decode_counter(bytes: &[u8]) -> Result<u64, RecordError> {
    let mut input = Reader::new(bytes)?;
    let value = input.u64("counter")?;
    input.finish()?;
    Ok(value)
}

fn encode_lease(lease: Option<LeaseId>) -> u64 {
    lease.map_or(0, |id| id.0)
}

fn decode_lease(raw: u64) -> Option<LeaseId> {
    (raw != 0).then_some(LeaseId(raw))
}

fn write_state(out: &mut Writer, kv: &KeyValue) {
    out.bytes(&kv.value);
    out.u64(kv.create_revision);
    out.u64(kv.mod_revision);
    out.u64(kv.version);
    out.u64(encode_lease(kv.lease));
}

fn read_state(input: &mut Reader<'_>, key: Vec<u8>) -> Result<KeyValue, RecordError> {
    let value = input.bytes("value")?;
    let create_revision = input.u64("create_revision")?;
    let mod_revision = input.u64("mod_revision")?;
    let version = input.u64("version")?;
    let lease = decode_lease(input.u64("lease")?);
    Ok(KeyValue {
        key,
        value,
        create_revision,
        mod_revision,
        version,
        lease,
    })
}

/// Appends fields to a record that already starts with the format-version byte.
struct Writer {
    buf: Vec<u8>,
}

impl Writer {
    fn new() -> Writer {
        Writer {
            buf: vec![RECORD_VERSION],
        }
    }

    fn u8(&mut self, value: u8) {
        self.buf.push(value);
    }

    fn u64(&mut self, value: u64) {
        self.buf.extend_from_slice(&value.to_be_bytes());
    }

    fn bytes(&mut self, value: &[u8]) {
        self.u64(value.len() as u64);
        self.buf.extend_from_slice(value);
    }

    fn finish(self) -> Vec<u8> {
        self.buf
    }
}

/// Consumes fields from a record after checking its format-version byte.
struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    fn new(bytes: &'a [u8]) -> Result<Reader<'a>, RecordError> {
        let (&version, rest) = bytes.split_first().ok_or(RecordError::Empty)?;
        if version != RECORD_VERSION {
            return Err(RecordError::UnsupportedVersion { found: version });
        }
        Ok(Reader { rest })
    }

    fn take(&mut self, field: &'static str, len: u64) -> Result<&'a [u8], RecordError> {
        let truncated = RecordError::Truncated {
            field,
            needed: len,
            remaining: self.rest.len(),
        };
        let len = usize::try_from(len).map_err(|_| truncated.clone())?;
        if len > self.rest.len() {
            return Err(truncated);
        }
        let (taken, rest) = self.rest.split_at(len);
        self.rest = rest;
        Ok(taken)
    }

    fn array<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], RecordError> {
        let taken = self.take(field, N as u64)?;
        taken.try_into().map_err(|_| RecordError::Truncated {
            field,
            needed: N as u64,
            remaining: taken.len(),
        })
    }

    fn u8(&mut self, field: &'static str) -> Result<u8, RecordError> {
        let [byte] = self.array::<1>(field)?;
        Ok(byte)
    }

    fn u64(&mut self, field: &'static str) -> Result<u64, RecordError> {
        Ok(u64::from_be_bytes(self.array::<8>(field)?))
    }

    fn bytes(&mut self, field: &'static str) -> Result<Vec<u8>, RecordError> {
        let len = self.u64(field)?;
        Ok(self.take(field, len)?.to_vec())
    }

    fn finish(self) -> Result<(), RecordError> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(RecordError::TrailingBytes {
                count: self.rest.len(),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kv(key: &[u8], value: &[u8], create: u64, modr: u64, version: u64) -> KeyValue {
        KeyValue {
            key: key.to_vec(),
            value: value.to_vec(),
            create_revision: create,
            mod_revision: modr,
            version,
            lease: (create == 3).then_some(LeaseId(9)),
        }
    }

    fn sample_events() -> Vec<Event> {
        vec![
            Event {
                kind: EventKind::Put,
                kv: kv(b"a", b"one", 3, 7, 2),
                prev: Some(kv(b"a", b"zero", 3, 3, 1)),
            },
            Event {
                kind: EventKind::Delete,
                kv: kv(b"b", b"", 0, 7, 0),
                prev: Some(kv(b"b", b"x", 5, 5, 1)),
            },
            Event {
                kind: EventKind::Put,
                kv: kv(b"c", b"", 7, 7, 1),
                prev: None,
            },
        ]
    }

    #[test]
    fn key_record_round_trips() {
        let record = KeyRecord {
            value: b"hello".to_vec(),
            create_revision: 1,
            mod_revision: u64::MAX,
            version: 42,
            lease: Some(LeaseId(3)),
        };
        let bytes = encode_key_record(&record);
        assert_eq!(bytes[0], RECORD_VERSION);
        assert_eq!(decode_key_record(&bytes), Ok(record));
    }

    #[test]
    fn events_round_trip() {
        let events = sample_events();
        let bytes = encode_log(1234, &events);
        assert_eq!(decode_log_time(&bytes), Ok(1234));
        assert_eq!(decode_log(&bytes), Ok((1234, events)));
        assert_eq!(decode_log(&encode_log(0, &[])), Ok((0, vec![])));
    }

    #[test]
    fn lease_record_round_trips() {
        let record = LeaseRecord {
            ttl_ms: 10_000,
            expires_at_ms: 1_700_000_000_000,
        };
        assert_eq!(
            decode_lease_record(&encode_lease_record(&record)),
            Ok(record)
        );
    }

    #[test]
    fn counter_and_revision_key_round_trip() {
        assert_eq!(decode_counter(&encode_counter(99)), Ok(99));
        assert_eq!(decode_revision_key(&revision_key(12345)), Ok(12345));
        assert!(revision_key(255) < revision_key(256));
        assert_eq!(
            decode_revision_key(b"short"),
            Err(RecordError::BadRevisionKey { len: 5 })
        );
    }

    #[test]
    fn empty_and_unknown_version_are_rejected() {
        assert_eq!(decode_key_record(&[]), Err(RecordError::Empty));
        assert_eq!(
            decode_counter(&[9, 0, 0, 0, 0, 0, 0, 0, 1]),
            Err(RecordError::UnsupportedVersion { found: 9 })
        );
    }

    #[test]
    fn every_truncation_is_an_error_not_a_panic() {
        let bytes = encode_log(5, &sample_events());
        for len in 0..bytes.len() {
            assert!(decode_log(&bytes[..len]).is_err(), "prefix of {len} bytes");
        }
        let bytes = encode_key_record(&KeyRecord {
            value: b"v".to_vec(),
            create_revision: 1,
            mod_revision: 1,
            version: 1,
            lease: None,
        });
        for len in 0..bytes.len() {
            assert!(decode_key_record(&bytes[..len]).is_err());
        }
        let bytes = encode_lease_record(&LeaseRecord {
            ttl_ms: 1,
            expires_at_ms: 2,
        });
        for len in 0..bytes.len() {
            assert!(decode_lease_record(&bytes[..len]).is_err());
        }
    }

    #[test]
    fn huge_length_prefix_is_reported_as_truncation() {
        let mut bytes = vec![RECORD_VERSION];
        for _ in 0..4 {
            bytes.extend_from_slice(&1u64.to_be_bytes());
        }
        bytes.extend_from_slice(&u64::MAX.to_be_bytes());
        assert_eq!(
            decode_key_record(&bytes),
            Err(RecordError::Truncated {
                field: "value",
                needed: u64::MAX,
                remaining: 0
            })
        );
    }

    #[test]
    fn bad_tags_and_trailing_bytes_are_rejected() {
        let mut bytes = encode_log(0, &sample_events()[2..]);
        bytes[17] = 7;
        assert_eq!(
            decode_log(&bytes),
            Err(RecordError::InvalidTag {
                field: "event_kind",
                found: 7
            })
        );
        let mut bytes = encode_log(0, &sample_events()[2..]);
        let last = bytes.len() - 1;
        bytes[last] = 3;
        assert_eq!(
            decode_log(&bytes),
            Err(RecordError::InvalidTag {
                field: "has_prev",
                found: 3
            })
        );
        let mut bytes = encode_counter(5);
        bytes.push(0);
        assert_eq!(
            decode_counter(&bytes),
            Err(RecordError::TrailingBytes { count: 1 })
        );
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        for _ in 0..2000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let len = (state % 64) as usize;
            let mut bytes: Vec<u8> = (0..len)
                .map(|i| (state.rotate_left(i as u32) & 0xff) as u8)
                .collect();
            if let Some(first) = bytes.first_mut() {
                *first = RECORD_VERSION;
            }
            let _ = decode_log(&bytes);
            let _ = decode_lease_record(&bytes);
            let _ = decode_key_record(&bytes);
            let _ = decode_counter(&bytes);
        }
    }
}
