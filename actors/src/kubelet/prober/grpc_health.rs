//! The wire side of gRPC probes: the gRPC health checking protocol's request and answer
//! (`grpc.health.v1.HealthCheckRequest` and `HealthCheckResponse`, one field each, so they are
//! encoded by hand rather than with a protobuf compiler and runtime), gRPC's length-prefixed
//! message framing, the status a call ends with, and how the kubelet words each outcome. Pure:
//! [`super::h2c`] moves the bytes.

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

/// The method a health check calls, as the `:path` of its HTTP/2 request.
pub const CHECK_PATH: &str = "/grpc.health.v1.Health/Check";

/// The most of an answer read. A health check's answer is a few bytes; the limit only keeps a
/// server that is something else from filling the node's memory.
pub const MAX_ANSWER: usize = 64 * 1024;

/// A gRPC message's prefix: a compressed flag and the message's length (big-endian).
const PREFIX: usize = 5;
/// Protobuf wire types.
const VARINT: u64 = 0;
const FIXED64: u64 = 1;
const LENGTH_DELIMITED: u64 = 2;
const FIXED32: u64 = 5;
/// The field both messages have: `string service = 1` and `ServingStatus status = 1`.
const FIELD: u64 = 1;

/// Why bytes on the wire are not the message they should be.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// Shorter than its prefix says (or than a prefix).
    #[error("the message is cut short")]
    Truncated,
    /// The flag says compressed, though the request offered no compression.
    #[error("the message is compressed, though no compression was offered")]
    Compressed,
    /// A flag other than 0 (plain) and 1 (compressed).
    #[error("invalid message flag {0}")]
    Flag(u8),
    /// Bytes after the one message a unary call answers with.
    #[error("more than one message in the answer")]
    Trailing,
    /// A varint of more than ten bytes.
    #[error("a varint runs past ten bytes")]
    Varint,
    /// A protobuf wire type that does not exist (3 and 4 are long-gone groups).
    #[error("unsupported protobuf wire type {0}")]
    WireType(u64),
    /// A message longer than the four bytes of its prefix can say.
    #[error("a message of {0} bytes is too long to frame")]
    TooLong(usize),
}

/// A health check's answer: `HealthCheckResponse.ServingStatus`. An open enum, as proto3's
/// are: values this code does not know are kept and shown as numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServingStatus(pub i32);

impl ServingStatus {
    pub const UNKNOWN: Self = Self(0);
    pub const SERVING: Self = Self(1);
    pub const NOT_SERVING: Self = Self(2);
    pub const SERVICE_UNKNOWN: Self = Self(3);
}

/// As Go's generated `String()` names it (the kubelet quotes it in its message).
impl fmt::Display for ServingStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::UNKNOWN => f.write_str("UNKNOWN"),
            Self::SERVING => f.write_str("SERVING"),
            Self::NOT_SERVING => f.write_str("NOT_SERVING"),
            Self::SERVICE_UNKNOWN => f.write_str("SERVICE_UNKNOWN"),
            Self(other) => write!(f, "{other}"),
        }
    }
}

/// The status a gRPC call ended with: a code and a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RpcStatus {
    pub code: u32,
    pub message: String,
}

impl RpcStatus {
    pub const OK: u32 = 0;
    pub const UNKNOWN: u32 = 2;
    pub const DEADLINE_EXCEEDED: u32 = 4;
    pub const PERMISSION_DENIED: u32 = 7;
    pub const RESOURCE_EXHAUSTED: u32 = 8;
    pub const UNIMPLEMENTED: u32 = 12;
    pub const INTERNAL: u32 = 13;
    pub const UNAVAILABLE: u32 = 14;
    pub const UNAUTHENTICATED: u32 = 16;

    /// The codes' names, indexed by code, as grpc-go prints them.
    const NAMES: [&str; 17] = [
        "OK",
        "Canceled",
        "Unknown",
        "InvalidArgument",
        "DeadlineExceeded",
        "NotFound",
        "AlreadyExists",
        "PermissionDenied",
        "ResourceExhausted",
        "FailedPrecondition",
        "Aborted",
        "OutOfRange",
        "Unimplemented",
        "Internal",
        "Unavailable",
        "DataLoss",
        "Unauthenticated",
    ];

    pub fn new(code: u32, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    /// The status in a `grpc-status` header (or trailer) and its `grpc-message`, which is
    /// percent-encoded.
    pub fn from_headers(status: &[u8], message: Option<&[u8]>) -> Self {
        let code = std::str::from_utf8(status)
            .ok()
            .and_then(|status| status.parse().ok());
        match code {
            Some(code) => Self::new(code, message.map(percent_decode).unwrap_or_default()),
            None => Self::new(
                Self::INTERNAL,
                format!(
                    "transport: malformed grpc-status: {:?}",
                    String::from_utf8_lossy(status)
                ),
            ),
        }
    }

    /// The status of an answer whose HTTP status is not 200, by gRPC's mapping
    /// (`doc/http-grpc-status-mapping.md`).
    pub fn from_http(status: u16) -> Self {
        let code = match status {
            400 => Self::INTERNAL,
            401 => Self::UNAUTHENTICATED,
            403 => Self::PERMISSION_DENIED,
            404 => Self::UNIMPLEMENTED,
            429 | 502..=504 => Self::UNAVAILABLE,
            _ => Self::UNKNOWN,
        };
        Self::new(
            code,
            format!("unexpected HTTP status code received from server: {status}"),
        )
    }

    fn name(&self) -> String {
        usize::try_from(self.code)
            .ok()
            .and_then(|code| Self::NAMES.get(code))
            .map_or_else(|| format!("Code({})", self.code), |name| (*name).to_owned())
    }
}

/// As grpc-go prints a status error (the kubelet puts it in its message).
impl fmt::Display for RpcStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "rpc error: code = {} desc = {}",
            self.name(),
            self.message
        )
    }
}

/// The request of a health check of `service`, framed as one gRPC message.
pub fn encode_request(service: &str) -> Result<Vec<u8>, WireError> {
    let mut message = Vec::with_capacity(service.len() + 11);
    // proto3 leaves out a field that has its default value, the empty string here.
    if !service.is_empty() {
        put_varint(&mut message, FIELD << 3 | LENGTH_DELIMITED);
        put_varint(&mut message, service.len() as u64);
        message.extend_from_slice(service.as_bytes());
    }
    frame(&message)
}

/// `message` with gRPC's prefix: not compressed, and its length.
pub fn frame(message: &[u8]) -> Result<Vec<u8>, WireError> {
    let length = u32::try_from(message.len()).map_err(|_| WireError::TooLong(message.len()))?;
    let mut framed = Vec::with_capacity(PREFIX + message.len());
    framed.push(0);
    framed.extend_from_slice(&length.to_be_bytes());
    framed.extend_from_slice(message);
    Ok(framed)
}

/// What a call that ended with `status` answered, `body` being the data it sent: the serving
/// status when the call succeeded, else why not (as the status grpc-go would report).
pub fn answer(status: RpcStatus, body: &[u8]) -> Result<ServingStatus, RpcStatus> {
    if status.code != RpcStatus::OK {
        return Err(status);
    }
    if body.is_empty() {
        return Err(RpcStatus::new(
            RpcStatus::INTERNAL,
            "cardinality violation: expected a response message, received none",
        ));
    }
    decode_response(body).map_err(|error| {
        RpcStatus::new(
            RpcStatus::INTERNAL,
            format!("grpc: failed to unmarshal the received message: {error}"),
        )
    })
}

/// The serving status in `body`, one framed `HealthCheckResponse`. Fields other than the
/// status are skipped, as protobuf readers do; an absent status is `UNKNOWN` (its default).
pub fn decode_response(body: &[u8]) -> Result<ServingStatus, WireError> {
    let mut message = unframe(body)?;
    let mut status = ServingStatus::UNKNOWN;
    while !message.is_empty() {
        let key = take_varint(&mut message)?;
        match key & 7 {
            VARINT => {
                let value = take_varint(&mut message)?;
                if key >> 3 == FIELD {
                    // An enum is an int32: negative values are sign-extended to ten bytes.
                    status = ServingStatus(value as i32);
                }
            }
            FIXED64 => skip(&mut message, 8)?,
            LENGTH_DELIMITED => {
                let length = take_varint(&mut message)?;
                skip(&mut message, usize::try_from(length).unwrap_or(usize::MAX))?;
            }
            FIXED32 => skip(&mut message, 4)?,
            other => return Err(WireError::WireType(other)),
        }
    }
    Ok(status)
}

/// Whether a call that answered `answer` passes, and the kubelet's words when not
/// (`pkg/probe/grpc`). `limit` is the probe's timeout.
pub fn judge(answer: Result<ServingStatus, RpcStatus>, limit: Duration) -> Result<(), String> {
    match answer {
        Ok(ServingStatus::SERVING) => Ok(()),
        Ok(status) => Err(format!(
            "service unhealthy (responded with {:?})",
            status.to_string()
        )),
        Err(status) if status.code == RpcStatus::UNIMPLEMENTED => Err(format!(
            "error: this server does not implement the grpc health protocol \
             (grpc.health.v1.Health): {}",
            status.message
        )),
        Err(status) if status.code == RpcStatus::DEADLINE_EXCEEDED => Err(format!(
            "timeout: health rpc did not complete within {}",
            go_duration(limit)
        )),
        Err(status) => Err(format!("error: health rpc probe failed: {status}")),
    }
}

/// The kubelet's words for a connection to `address` that failed with `error`.
pub fn connect_failed(address: SocketAddr, error: &str) -> String {
    format!(
        "error: failed to connect service at {:?}: {error}",
        address.to_string()
    )
}

/// The kubelet's words for a connection to `address` that did not open within `limit`.
pub fn connect_timed_out(address: SocketAddr, limit: Duration) -> String {
    format!(
        "timeout: failed to connect service {:?} within {}: context deadline exceeded",
        address.to_string(),
        go_duration(limit)
    )
}

/// The `grpc-timeout` header for `remaining`: at most eight digits and a unit, rounded up so
/// the server never gives up before the probe does.
pub fn timeout_header(remaining: Duration) -> String {
    const MAX: u128 = 99_999_999;
    let millis = remaining.as_nanos().div_ceil(1_000_000);
    [(1, 'm'), (1_000, 'S'), (60_000, 'M')]
        .into_iter()
        .map(|(per, unit)| (millis.div_ceil(per), unit))
        .find(|(value, _)| *value <= MAX)
        .map_or_else(
            || format!("{}H", millis.div_ceil(3_600_000).min(MAX)),
            |(value, unit)| format!("{value}{unit}"),
        )
}

/// A duration as Go prints one, for the whole seconds probe timeouts are: `1s`, `1m30s`.
fn go_duration(duration: Duration) -> String {
    let seconds = duration.as_secs();
    let (hours, minutes, seconds) = (seconds / 3600, seconds / 60 % 60, seconds % 60);
    if hours > 0 {
        format!("{hours}h{minutes}m{seconds}s")
    } else if minutes > 0 {
        format!("{minutes}m{seconds}s")
    } else {
        format!("{seconds}s")
    }
}

/// The one message in `body`, without its prefix.
fn unframe(body: &[u8]) -> Result<&[u8], WireError> {
    let (prefix, rest) = body
        .split_first_chunk::<PREFIX>()
        .ok_or(WireError::Truncated)?;
    let [flag, length @ ..] = *prefix;
    match flag {
        0 => {}
        1 => return Err(WireError::Compressed),
        other => return Err(WireError::Flag(other)),
    }
    let length = usize::try_from(u32::from_be_bytes(length)).map_err(|_| WireError::Truncated)?;
    match rest.len().cmp(&length) {
        std::cmp::Ordering::Less => Err(WireError::Truncated),
        std::cmp::Ordering::Greater => Err(WireError::Trailing),
        std::cmp::Ordering::Equal => Ok(rest),
    }
}

fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

fn take_varint(input: &mut &[u8]) -> Result<u64, WireError> {
    let mut value = 0u64;
    for index in 0..10 {
        let (&byte, rest) = input.split_first().ok_or(WireError::Truncated)?;
        *input = rest;
        value |= u64::from(byte & 0x7f) << (7 * index);
        if byte < 0x80 {
            return Ok(value);
        }
    }
    Err(WireError::Varint)
}

fn skip(input: &mut &[u8], count: usize) -> Result<(), WireError> {
    *input = input.get(count..).ok_or(WireError::Truncated)?;
    Ok(())
}

/// `grpc-message` is percent-encoded; a malformed escape is kept as it is.
fn percent_decode(text: &[u8]) -> String {
    let mut bytes = Vec::with_capacity(text.len());
    let mut rest = text;
    while let Some((&byte, after)) = rest.split_first() {
        let hex = after
            .get(..2)
            .and_then(|hex| std::str::from_utf8(hex).ok())
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match hex {
            Some(decoded) if byte == b'%' => {
                bytes.push(decoded);
                rest = &after[2..];
            }
            _ => {
                bytes.push(byte);
                rest = after;
            }
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A framed `HealthCheckResponse` with `fields` as its bytes.
    fn framed(fields: &[u8]) -> Vec<u8> {
        frame(fields).unwrap()
    }

    #[test]
    fn requests_are_framed_and_carry_the_service_as_field_one() {
        assert_eq!(encode_request("").unwrap(), [0, 0, 0, 0, 0]);
        assert_eq!(
            encode_request("ready").unwrap(),
            [0, 0, 0, 0, 7, 0x0a, 5, b'r', b'e', b'a', b'd', b'y']
        );
        // A name of 200 bytes needs a two-byte length.
        let long = "s".repeat(200);
        let request = encode_request(&long).unwrap();
        assert_eq!(request[..8], [0, 0, 0, 0, 203, 0x0a, 0xc8, 0x01]);
        assert_eq!(request.len(), 5 + 203);
    }

    #[test]
    fn responses_decode_to_their_serving_status() {
        assert_eq!(
            decode_response(&framed(&[0x08, 1])),
            Ok(ServingStatus::SERVING)
        );
        assert_eq!(
            decode_response(&framed(&[0x08, 2])),
            Ok(ServingStatus::NOT_SERVING)
        );
        // proto3 leaves a default out: an empty message says UNKNOWN.
        assert_eq!(decode_response(&framed(&[])), Ok(ServingStatus::UNKNOWN));
        // Unknown fields of every wire type are skipped; the last status wins.
        let fields = [
            0x08, 2, // status NOT_SERVING
            0x10, 0x96, 0x01, // field 2, varint 150
            0x19, 1, 2, 3, 4, 5, 6, 7, 8, // field 3, fixed64
            0x22, 2, b'h', b'i', // field 4, two bytes
            0x2d, 1, 2, 3, 4, // field 5, fixed32
            0x08, 1, // status SERVING
        ];
        assert_eq!(
            decode_response(&framed(&fields)),
            Ok(ServingStatus::SERVING)
        );
        // A negative enum value is sign-extended to ten bytes.
        let negative = [
            0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
        ];
        assert_eq!(decode_response(&framed(&negative)), Ok(ServingStatus(-1)));
    }

    #[test]
    fn malformed_responses_are_errors_not_panics() {
        assert_eq!(decode_response(&[0, 0, 0]), Err(WireError::Truncated));
        assert_eq!(
            decode_response(&[0, 0, 0, 0, 3, 0x08]),
            Err(WireError::Truncated)
        );
        assert_eq!(
            decode_response(&[0, 0, 0, 0, 0, 0]),
            Err(WireError::Trailing)
        );
        assert_eq!(
            decode_response(&[1, 0, 0, 0, 2, 0x08, 1]),
            Err(WireError::Compressed)
        );
        assert_eq!(decode_response(&[7, 0, 0, 0, 0]), Err(WireError::Flag(7)));
        assert_eq!(decode_response(&framed(&[0x08])), Err(WireError::Truncated));
        assert_eq!(
            decode_response(&framed(&[0x0b])),
            Err(WireError::WireType(3))
        );
        assert_eq!(
            decode_response(&framed(&[
                0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01
            ])),
            Err(WireError::Varint)
        );
        // A length past the end, even one past usize.
        assert_eq!(
            decode_response(&framed(&[0x12, 9, 1])),
            Err(WireError::Truncated)
        );
        let huge = [
            0x12, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
        ];
        assert_eq!(decode_response(&framed(&huge)), Err(WireError::Truncated));
    }

    #[test]
    fn statuses_come_from_headers_or_the_http_status() {
        assert_eq!(
            RpcStatus::from_headers(b"5", Some(b"unknown%20service %zz")),
            RpcStatus::new(5, "unknown service %zz")
        );
        assert_eq!(RpcStatus::from_headers(b"0", None), RpcStatus::new(0, ""));
        assert_eq!(
            RpcStatus::from_headers(b"x", None).code,
            RpcStatus::INTERNAL
        );
        assert_eq!(RpcStatus::from_http(404).code, RpcStatus::UNIMPLEMENTED);
        assert_eq!(RpcStatus::from_http(503).code, RpcStatus::UNAVAILABLE);
        assert_eq!(RpcStatus::from_http(500).code, RpcStatus::UNKNOWN);
        assert_eq!(
            RpcStatus::new(5, "unknown service").to_string(),
            "rpc error: code = NotFound desc = unknown service"
        );
        assert_eq!(
            RpcStatus::new(42, "?").to_string(),
            "rpc error: code = Code(42) desc = ?"
        );
    }

    #[test]
    fn an_answer_needs_an_ok_status_and_one_message() {
        let ok = || RpcStatus::new(RpcStatus::OK, "");
        assert_eq!(
            answer(ok(), &framed(&[0x08, 1])),
            Ok(ServingStatus::SERVING)
        );
        assert_eq!(answer(ok(), &[]).unwrap_err().code, RpcStatus::INTERNAL);
        let garbled = answer(ok(), &[9, 9]).unwrap_err();
        assert_eq!(
            garbled.message,
            "grpc: failed to unmarshal the received message: the message is cut short"
        );
        let failed = RpcStatus::new(5, "unknown service");
        assert_eq!(answer(failed.clone(), &[]), Err(failed));
    }

    #[test]
    fn outcomes_are_worded_as_the_kubelet_words_them() {
        let second = Duration::from_secs(1);
        assert_eq!(judge(Ok(ServingStatus::SERVING), second), Ok(()));
        assert_eq!(
            judge(Ok(ServingStatus::NOT_SERVING), second).unwrap_err(),
            r#"service unhealthy (responded with "NOT_SERVING")"#
        );
        assert_eq!(
            judge(Ok(ServingStatus(9)), second).unwrap_err(),
            r#"service unhealthy (responded with "9")"#
        );
        assert_eq!(
            judge(
                Err(RpcStatus::new(
                    RpcStatus::UNIMPLEMENTED,
                    "unknown service grpc.health.v1.Health"
                )),
                second
            )
            .unwrap_err(),
            "error: this server does not implement the grpc health protocol \
             (grpc.health.v1.Health): unknown service grpc.health.v1.Health"
        );
        assert_eq!(
            judge(
                Err(RpcStatus::new(RpcStatus::DEADLINE_EXCEEDED, "")),
                Duration::from_secs(90)
            )
            .unwrap_err(),
            "timeout: health rpc did not complete within 1m30s"
        );
        assert_eq!(
            judge(Err(RpcStatus::new(5, "unknown service")), second).unwrap_err(),
            "error: health rpc probe failed: rpc error: code = NotFound desc = unknown service"
        );
        let address = "10.0.0.1:9000".parse().unwrap();
        assert_eq!(
            connect_timed_out(address, second),
            r#"timeout: failed to connect service "10.0.0.1:9000" within 1s: context deadline exceeded"#
        );
        assert_eq!(
            connect_failed(
                address,
                "dial tcp 10.0.0.1:9000: connect: connection refused"
            ),
            r#"error: failed to connect service at "10.0.0.1:9000": dial tcp 10.0.0.1:9000: connect: connection refused"#
        );
    }

    #[test]
    fn timeouts_fit_eight_digits_and_round_up() {
        assert_eq!(timeout_header(Duration::from_micros(999_500)), "1000m");
        assert_eq!(timeout_header(Duration::from_secs(1)), "1000m");
        assert_eq!(timeout_header(Duration::from_secs(100_000)), "100000S");
        assert_eq!(timeout_header(Duration::from_secs(100_000_000)), "1666667M");
        assert_eq!(timeout_header(Duration::from_secs(u64::MAX)), "99999999H");
        assert_eq!(go_duration(Duration::from_secs(1)), "1s");
        assert_eq!(go_duration(Duration::from_secs(3600)), "1h0m0s");
    }
}
