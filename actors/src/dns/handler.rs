//! The server's request handler: checks each query, answers it from the record store or
//! through the forwarder, and hands the answer to hickory-server, which encodes it (truncating
//! a UDP answer to the client's buffer) and sends it. Malformed messages never get here:
//! hickory-server drops those without a header and answers the rest with FORMERR.

use std::iter;
use std::sync::{Arc, PoisonError, RwLock};

use hickory_server::net::runtime::Time;
use hickory_server::proto::op::{Edns, Header, HeaderCounts, Metadata, OpCode, ResponseCode};
use hickory_server::proto::rr::{DNSClass, Record, RecordType};
use hickory_server::server::{Request, RequestHandler, ResponseHandler, ResponseInfo};
use hickory_server::zone_handler::MessageResponseBuilder;

use super::forward::{QueryFlags, Upstreams};
use super::records::{RecordStore, Resolution};

/// The record store as the actor writes it and the handler reads it.
pub type SharedRecords = Arc<RwLock<RecordStore>>;

/// The largest UDP answer sent, whatever a client announces.
const MAX_UDP_PAYLOAD: u16 = 4096;

/// Answers the cluster's queries from the store and forwards the others.
pub struct DnsHandler {
    records: SharedRecords,
    upstreams: Upstreams,
}

impl DnsHandler {
    pub fn new(records: SharedRecords, upstreams: Upstreams) -> Self {
        Self { records, upstreams }
    }
}

#[async_trait::async_trait]
impl RequestHandler for DnsHandler {
    async fn handle_request<R: ResponseHandler, T: Time>(
        &self,
        request: &Request,
        response_handle: R,
    ) -> ResponseInfo {
        let edns = request.edns.as_ref().map(response_edns);
        let reply = Reply {
            request,
            edns: edns.as_ref(),
            response_handle,
        };
        if request.metadata.op_code != OpCode::Query {
            return reply.error(ResponseCode::NotImp).await;
        }
        if request.edns.as_ref().is_some_and(|edns| edns.version() > 0) {
            return reply.error(ResponseCode::BADVERS).await;
        }
        let Ok(info) = request.request_info() else {
            // Not exactly one question.
            return reply.error(ResponseCode::FormErr).await;
        };
        let query_type = info.query.query_type();
        if info.query.query_class() != DNSClass::IN
            || matches!(query_type, RecordType::AXFR | RecordType::IXFR)
        {
            return reply.error(ResponseCode::Refused).await;
        }
        // The guard is dropped here: nothing waits while holding it.
        let resolution = read(&self.records).resolve(info.query.name(), query_type);
        let mut metadata = Metadata::response_from_request(&request.metadata);
        metadata.recursion_available = true;
        match resolution {
            Resolution::Local { code, answers, soa } => {
                metadata.authoritative = true;
                metadata.response_code = code;
                reply
                    .send(
                        metadata,
                        answers.iter().flat_map(|set| &set.answers),
                        soa.iter().map(|soa| &**soa),
                        answers.iter().flat_map(|set| &set.additionals),
                    )
                    .await
            }
            Resolution::Forward { name, aliases } => {
                let flags = QueryFlags {
                    recursion_desired: request.metadata.recursion_desired,
                    checking_disabled: request.metadata.checking_disabled,
                    dnssec_ok: request
                        .edns
                        .as_ref()
                        .is_some_and(|edns| edns.flags().dnssec_ok),
                };
                match self.upstreams.ask(&name, query_type, flags).await {
                    Ok(upstream) => {
                        metadata.response_code = upstream.metadata.response_code;
                        metadata.authentic_data = upstream.metadata.authentic_data;
                        metadata.truncation = upstream.metadata.truncation;
                        reply
                            .send(
                                metadata,
                                aliases
                                    .iter()
                                    .flat_map(|set| &set.answers)
                                    .chain(&upstream.answers),
                                upstream.authorities.iter(),
                                aliases
                                    .iter()
                                    .flat_map(|set| &set.additionals)
                                    .chain(&upstream.additionals),
                            )
                            .await
                    }
                    Err(error) if aliases.is_empty() => {
                        tracing::debug!(%error, %name, "no upstream answered");
                        reply.error(ResponseCode::ServFail).await
                    }
                    Err(error) => {
                        // The alias alone: a resolver may still ask for its target itself.
                        tracing::debug!(%error, %name, "no upstream answered for an alias target");
                        reply
                            .send(
                                metadata,
                                aliases.iter().flat_map(|set| &set.answers),
                                iter::empty(),
                                iter::empty(),
                            )
                            .await
                    }
                }
            }
        }
    }
}

/// What answering one request needs.
struct Reply<'q, R> {
    request: &'q Request,
    edns: Option<&'q Edns>,
    response_handle: R,
}

impl<R: ResponseHandler> Reply<'_, R> {
    async fn send<'a>(
        mut self,
        metadata: Metadata,
        answers: impl Iterator<Item = &'a Record> + Send + 'a,
        authorities: impl Iterator<Item = &'a Record> + Send + 'a,
        additionals: impl Iterator<Item = &'a Record> + Send + 'a,
    ) -> ResponseInfo {
        let response = MessageResponseBuilder::new(&self.request.queries, self.edns).build(
            metadata,
            answers,
            authorities,
            iter::empty(),
            additionals,
        );
        match self.response_handle.send_response(response).await {
            Ok(info) => info,
            Err(error) => {
                tracing::debug!(%error, client = %self.request.src(), "sending a DNS answer failed");
                let mut failed = metadata;
                failed.response_code = ResponseCode::ServFail;
                ResponseInfo::from(Header {
                    metadata: failed,
                    counts: HeaderCounts::default(),
                })
            }
        }
    }

    async fn error(self, code: ResponseCode) -> ResponseInfo {
        let mut metadata = Metadata::response_from_request(&self.request.metadata);
        metadata.response_code = code;
        self.send(metadata, iter::empty(), iter::empty(), iter::empty())
            .await
    }
}

/// The EDNS of an answer to a query that had `request`'s.
fn response_edns(request: &Edns) -> Edns {
    let mut edns = Edns::new();
    edns.set_max_payload(request.max_payload().clamp(512, MAX_UDP_PAYLOAD));
    edns.set_dnssec_ok(request.flags().dnssec_ok);
    edns
}

/// The store for a look. A panic while it was written left whole records in or out: still
/// readable.
fn read(records: &RwLock<RecordStore>) -> std::sync::RwLockReadGuard<'_, RecordStore> {
    records.read().unwrap_or_else(PoisonError::into_inner)
}
