//! Forwarding: a question about a name outside the cluster goes to the node's upstream
//! servers in order, over UDP, each given a timeout; an answer that came back truncated is
//! asked again over TCP.
//!
//! Built on hickory-proto's message types and plain tokio sockets rather than on
//! hickory-resolver: relaying one question needs none of the resolver's cache, connection pools
//! or its own reading of the system configuration, and the forwarder stays a page long. Each
//! question gets a fresh socket (a random source port) and a random ID, and only a response
//! with that ID and the same question is taken.

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use hickory_server::proto::ProtoError;
use hickory_server::proto::op::{DEFAULT_MAX_PAYLOAD_LEN, Edns, Message, MessageType, Query};
use hickory_server::proto::rr::{Name, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

/// The largest UDP answer accepted from upstream.
const UDP_BUFFER: usize = 4096;

/// The node's upstream DNS servers.
#[derive(Debug, Clone)]
pub struct Upstreams {
    servers: Vec<SocketAddr>,
    timeout: Duration,
}

/// The flags of a client's query that carry over to the upstream's.
#[derive(Debug, Clone, Copy, Default)]
pub struct QueryFlags {
    pub recursion_desired: bool,
    pub checking_disabled: bool,
    pub dnssec_ok: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum ForwardError {
    #[error("no upstream DNS server is configured")]
    NoUpstreams,
    /// The question could not be put on the wire (a name too long for it, say).
    #[error("encoding the question about {name}")]
    Encode {
        name: Name,
        #[source]
        source: ProtoError,
    },
    #[error("asking {upstream} over {transport}")]
    Io {
        upstream: SocketAddr,
        transport: &'static str,
        #[source]
        source: io::Error,
    },
    #[error("{upstream} did not answer over {transport} within {timeout:?}")]
    Timeout {
        upstream: SocketAddr,
        transport: &'static str,
        timeout: Duration,
    },
    /// A TCP answer that does not parse or answers something else (over UDP such answers
    /// are ignored as possibly spoofed, and the wait goes on).
    #[error("{upstream} answered over TCP with {problem}")]
    BadAnswer {
        upstream: SocketAddr,
        problem: String,
    },
}

impl Upstreams {
    /// `servers` asked in order, each for at most `timeout` per transport.
    pub fn new(servers: Vec<SocketAddr>, timeout: Duration) -> Self {
        Self { servers, timeout }
    }

    /// The first answer an upstream gives to `name`/`query_type`; the last failure when none
    /// answers.
    pub async fn ask(
        &self,
        name: &Name,
        query_type: RecordType,
        flags: QueryFlags,
    ) -> Result<Message, ForwardError> {
        let question = question(name, query_type, flags);
        let bytes = question.to_vec().map_err(|source| ForwardError::Encode {
            name: name.clone(),
            source,
        })?;
        let mut failure = ForwardError::NoUpstreams;
        for &upstream in &self.servers {
            match self.ask_one(upstream, &question, &bytes).await {
                Ok(answer) => return Ok(answer),
                Err(error) => {
                    tracing::debug!(%error, %name, "an upstream DNS server failed");
                    failure = error;
                }
            }
        }
        Err(failure)
    }

    async fn ask_one(
        &self,
        upstream: SocketAddr,
        question: &Message,
        bytes: &[u8],
    ) -> Result<Message, ForwardError> {
        let answer = self
            .within(upstream, "UDP", ask_udp(upstream, question, bytes))
            .await?;
        if !answer.metadata.truncation {
            return Ok(answer);
        }
        match self
            .within(upstream, "TCP", ask_tcp(upstream, question, bytes))
            .await
        {
            Ok(full) => Ok(full),
            Err(error) => {
                // The client sees the truncation and may try us over TCP in turn.
                tracing::debug!(%error, "no full answer over TCP; relaying the truncated one");
                Ok(answer)
            }
        }
    }

    async fn within(
        &self,
        upstream: SocketAddr,
        transport: &'static str,
        exchange: impl Future<Output = Result<Message, ForwardError>>,
    ) -> Result<Message, ForwardError> {
        tokio::time::timeout(self.timeout, exchange)
            .await
            .map_err(|_| ForwardError::Timeout {
                upstream,
                transport,
                timeout: self.timeout,
            })?
    }
}

/// The question sent upstream: the client's, with a random ID and our EDNS buffer size.
fn question(name: &Name, query_type: RecordType, flags: QueryFlags) -> Message {
    let mut message = Message::query();
    message.metadata.recursion_desired = flags.recursion_desired;
    message.metadata.checking_disabled = flags.checking_disabled;
    message.add_query(Query::query(name.clone(), query_type));
    let mut edns = Edns::new();
    edns.set_max_payload(DEFAULT_MAX_PAYLOAD_LEN);
    edns.set_dnssec_ok(flags.dnssec_ok);
    message.set_edns(edns);
    message
}

async fn ask_udp(
    upstream: SocketAddr,
    question: &Message,
    bytes: &[u8],
) -> Result<Message, ForwardError> {
    let io = |source| ForwardError::Io {
        upstream,
        transport: "UDP",
        source,
    };
    let local: SocketAddr = if upstream.is_ipv4() {
        (Ipv4Addr::UNSPECIFIED, 0).into()
    } else {
        (Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let socket = UdpSocket::bind(local).await.map_err(io)?;
    socket.connect(upstream).await.map_err(io)?;
    socket.send(bytes).await.map_err(io)?;
    let mut buffer = vec![0; UDP_BUFFER];
    loop {
        let length = socket.recv(&mut buffer).await.map_err(io)?;
        match Message::from_vec(&buffer[..length]) {
            Ok(answer) if answers(question, &answer) => return Ok(answer),
            Ok(_) => tracing::debug!(%upstream, "ignoring an answer to another question"),
            Err(error) => tracing::debug!(%upstream, %error, "ignoring a malformed answer"),
        }
    }
}

async fn ask_tcp(
    upstream: SocketAddr,
    question: &Message,
    bytes: &[u8],
) -> Result<Message, ForwardError> {
    let io = |source| ForwardError::Io {
        upstream,
        transport: "TCP",
        source,
    };
    let bad = |problem: String| ForwardError::BadAnswer { upstream, problem };
    let length = u16::try_from(bytes.len()).map_err(|_| bad("a question too long".into()))?;
    let mut stream = TcpStream::connect(upstream).await.map_err(io)?;
    let mut framed = Vec::with_capacity(bytes.len() + 2);
    framed.extend_from_slice(&length.to_be_bytes());
    framed.extend_from_slice(bytes);
    stream.write_all(&framed).await.map_err(io)?;
    let mut length = [0; 2];
    stream.read_exact(&mut length).await.map_err(io)?;
    let mut buffer = vec![0; usize::from(u16::from_be_bytes(length))];
    stream.read_exact(&mut buffer).await.map_err(io)?;
    let answer =
        Message::from_vec(&buffer).map_err(|error| bad(format!("a malformed message: {error}")))?;
    if answers(question, &answer) {
        Ok(answer)
    } else {
        Err(bad("an answer to another question".into()))
    }
}

/// Whether `answer` is the response to `question`: same ID, same question.
fn answers(question: &Message, answer: &Message) -> bool {
    answer.metadata.message_type == MessageType::Response
        && answer.metadata.id == question.metadata.id
        && match (question.queries.first(), answer.queries.first()) {
            (Some(asked), Some(answered)) => {
                asked.name() == answered.name()
                    && asked.query_type() == answered.query_type()
                    && asked.query_class() == answered.query_class()
            }
            _ => false,
        }
}
