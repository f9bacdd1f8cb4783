//! The DNS server end to end on loopback: the real hickory-server sockets fed by a store, a
//! small client built on hickory-proto, and a fake upstream server the test runs itself; then
//! the actor fed by a test API server's watches.

use std::net::{Ipv4Addr, SocketAddr};
use std::str::FromStr;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use hickory_server::proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_server::proto::rr::rdata::A;
use hickory_server::proto::rr::{Name, RData, Record, RecordType};
use ractor::Actor;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::task::JoinHandle;

use flotilla_kernel::api::EventType;
use flotilla_kernel::object::{
    AddressType, CLUSTER_IP_NONE, Endpoint, EndpointConditions, EndpointPort, EndpointSlice,
    ObjectMeta, SERVICE_NAME_LABEL, Service, ServicePort, ServiceSpec, ServiceType,
};

use super::forward::Upstreams;
use super::*;
use crate::test_api::TestApi;

const PATIENCE: Duration = Duration::from_secs(5);

fn meta(name: &str) -> ObjectMeta {
    ObjectMeta {
        name: name.into(),
        namespace: "default".into(),
        ..ObjectMeta::default()
    }
}

fn web_service() -> Service {
    Service {
        metadata: meta("web"),
        spec: ServiceSpec {
            cluster_ip: "10.43.0.10".into(),
            ports: vec![ServicePort {
                name: "http".into(),
                port: 80,
                ..ServicePort::default()
            }],
            ..ServiceSpec::default()
        },
        ..Service::default()
    }
}

fn headless_service() -> Service {
    Service {
        metadata: meta("pg"),
        spec: ServiceSpec {
            cluster_ip: CLUSTER_IP_NONE.into(),
            selector: [("app".to_string(), "pg".to_string())].into(),
            ports: vec![ServicePort {
                name: "postgres".into(),
                port: 5432,
                ..ServicePort::default()
            }],
            ..ServiceSpec::default()
        },
        ..Service::default()
    }
}

fn external_service(target: &str) -> Service {
    Service {
        metadata: meta("search"),
        spec: ServiceSpec {
            type_: ServiceType::ExternalName,
            external_name: target.into(),
            ..ServiceSpec::default()
        },
        ..Service::default()
    }
}

fn pg_slice(endpoints: &[(&str, &str, bool)]) -> EndpointSlice {
    let mut metadata = meta("pg-abcde");
    metadata
        .labels
        .insert(SERVICE_NAME_LABEL.into(), "pg".into());
    EndpointSlice {
        metadata,
        address_type: AddressType::Ipv4,
        endpoints: endpoints
            .iter()
            .map(|(ip, hostname, ready)| Endpoint {
                addresses: vec![(*ip).into()],
                hostname: Some((*hostname).into()),
                conditions: EndpointConditions {
                    ready: Some(*ready),
                    ..EndpointConditions::default()
                },
                ..Endpoint::default()
            })
            .collect(),
        ports: vec![EndpointPort {
            name: "postgres".into(),
            protocol: "TCP".into(),
            port: Some(5432),
            ..EndpointPort::default()
        }],
        ..EndpointSlice::default()
    }
}

/// A fake upstream on loopback, UDP and TCP on one port: `example.org.` A is 192.0.2.1,
/// `big.example.org.` comes back truncated over UDP and whole (192.0.2.2) over TCP, the rest
/// is NXDOMAIN.
struct FakeUpstream {
    address: SocketAddr,
    tasks: [JoinHandle<()>; 2],
}

impl FakeUpstream {
    async fn start() -> FakeUpstream {
        let udp = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let address = udp.local_addr().unwrap();
        let tcp = TcpListener::bind(address).await.unwrap();
        let udp_task = tokio::spawn(async move {
            let mut buffer = vec![0; 4096];
            loop {
                let Ok((length, client)) = udp.recv_from(&mut buffer).await else {
                    return;
                };
                let reply = upstream_answer(&buffer[..length], true);
                let _ = udp.send_to(&reply, client).await;
            }
        });
        let tcp_task = tokio::spawn(async move {
            while let Ok((mut stream, _)) = tcp.accept().await {
                let mut length = [0; 2];
                stream.read_exact(&mut length).await.unwrap();
                let mut query = vec![0; usize::from(u16::from_be_bytes(length))];
                stream.read_exact(&mut query).await.unwrap();
                let reply = upstream_answer(&query, false);
                let length = u16::try_from(reply.len()).unwrap().to_be_bytes();
                stream
                    .write_all(&[&length[..], &reply].concat())
                    .await
                    .unwrap();
            }
        });
        FakeUpstream {
            address,
            tasks: [udp_task, tcp_task],
        }
    }
}

impl Drop for FakeUpstream {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

fn upstream_answer(query: &[u8], over_udp: bool) -> Vec<u8> {
    let query = Message::from_vec(query).unwrap();
    let question = query.queries[0].clone();
    let mut reply = Message::response(query.metadata.id, OpCode::Query);
    reply.metadata.recursion_available = true;
    let address = match question.name().to_ascii().as_str() {
        "example.org." => Some(Ipv4Addr::new(192, 0, 2, 1)),
        "big.example.org." if over_udp => {
            reply.metadata.truncation = true;
            None
        }
        "big.example.org." => Some(Ipv4Addr::new(192, 0, 2, 2)),
        _ => {
            reply.metadata.response_code = ResponseCode::NXDomain;
            None
        }
    };
    if let Some(address) = address.filter(|_| question.query_type() == RecordType::A) {
        reply.add_answer(Record::from_rdata(
            question.name().clone(),
            300,
            RData::A(A(address)),
        ));
    }
    reply.add_query(question);
    reply.to_vec().unwrap()
}

/// A query with recursion desired, as a stub resolver sends it.
fn query_bytes(name: &str, query_type: RecordType) -> (u16, Vec<u8>) {
    let mut message = Message::query();
    message.metadata.recursion_desired = true;
    message.add_query(Query::query(Name::from_str(name).unwrap(), query_type));
    (message.metadata.id, message.to_vec().unwrap())
}

async fn ask_udp(server: SocketAddr, name: &str, query_type: RecordType) -> Message {
    let (id, bytes) = query_bytes(name, query_type);
    let answer = exchange_udp(server, &bytes).await;
    assert_eq!(answer.metadata.id, id);
    assert_eq!(answer.metadata.message_type, MessageType::Response);
    answer
}

async fn exchange_udp(server: SocketAddr, bytes: &[u8]) -> Message {
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    socket.send_to(bytes, server).await.unwrap();
    let mut buffer = vec![0; 4096];
    let (length, _) = tokio::time::timeout(PATIENCE, socket.recv_from(&mut buffer))
        .await
        .expect("the DNS server answers within the patience")
        .unwrap();
    Message::from_vec(&buffer[..length]).unwrap()
}

async fn ask_tcp(server: SocketAddr, name: &str, query_type: RecordType) -> Message {
    let (id, bytes) = query_bytes(name, query_type);
    let mut stream = TcpStream::connect(server).await.unwrap();
    let length = u16::try_from(bytes.len()).unwrap().to_be_bytes();
    stream
        .write_all(&[&length[..], &bytes].concat())
        .await
        .unwrap();
    let mut length = [0; 2];
    stream.read_exact(&mut length).await.unwrap();
    let mut answer = vec![0; usize::from(u16::from_be_bytes(length))];
    stream.read_exact(&mut answer).await.unwrap();
    let answer = Message::from_vec(&answer).unwrap();
    assert_eq!(answer.metadata.id, id);
    answer
}

fn texts(records: &[Record]) -> Vec<String> {
    records.iter().map(ToString::to_string).collect()
}

/// A server on loopback answering from `records`, forwarding to `upstreams`.
fn start_server(
    records: SharedRecords,
    upstreams: Vec<SocketAddr>,
) -> (SocketAddr, JoinHandle<()>) {
    let upstreams = Upstreams::new(upstreams, Duration::from_millis(300));
    let (mut server, address) =
        server::serve("127.0.0.1:0".parse().unwrap(), records, upstreams).unwrap();
    let task = tokio::spawn(async move {
        server.block_until_done().await.unwrap();
    });
    (address, task)
}

#[tokio::test]
async fn the_server_answers_from_the_store_and_forwards_the_rest() {
    let mut store = RecordStore::new("cluster.local").unwrap();
    store.apply_service(EventType::Added, &web_service());
    store.apply_service(EventType::Added, &headless_service());
    store.apply_slice(
        EventType::Added,
        &pg_slice(&[("10.42.1.7", "pg-0", true), ("10.42.2.8", "pg-1", false)]),
    );
    store.apply_service(EventType::Added, &external_service("example.org"));
    let records = Arc::new(RwLock::new(store));
    let upstream = FakeUpstream::start().await;
    // The first upstream never answers: the forwarder moves on to the second.
    let silent = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let (server, task) = start_server(
        records.clone(),
        vec![silent.local_addr().unwrap(), upstream.address],
    );

    let answer = ask_udp(server, "web.default.svc.cluster.local.", RecordType::A).await;
    assert_eq!(answer.metadata.response_code, ResponseCode::NoError);
    assert!(answer.metadata.authoritative && answer.metadata.recursion_available);
    assert_eq!(
        texts(&answer.answers),
        ["web.default.svc.cluster.local. 5 IN A 10.43.0.10"]
    );

    let answer = ask_udp(
        server,
        "_postgres._tcp.pg.default.svc.cluster.local.",
        RecordType::SRV,
    )
    .await;
    assert_eq!(
        texts(&answer.answers),
        [
            "_postgres._tcp.pg.default.svc.cluster.local. 5 IN SRV 0 100 5432 pg-0.pg.default.svc.cluster.local."
        ]
    );
    assert_eq!(
        texts(&answer.additionals),
        ["pg-0.pg.default.svc.cluster.local. 5 IN A 10.42.1.7"]
    );

    // The ExternalName's CNAME, and the address its target has upstream.
    let answer = ask_udp(server, "search.default.svc.cluster.local.", RecordType::A).await;
    assert_eq!(answer.metadata.response_code, ResponseCode::NoError);
    assert_eq!(
        texts(&answer.answers),
        [
            "search.default.svc.cluster.local. 5 IN CNAME example.org.",
            "example.org. 300 IN A 192.0.2.1",
        ]
    );

    // A search-path name: NXDOMAIN with the SOA.
    let answer = ask_udp(
        server,
        "web.default.svc.cluster.local.default.svc.cluster.local.",
        RecordType::A,
    )
    .await;
    assert_eq!(answer.metadata.response_code, ResponseCode::NXDomain);
    assert!(answer.answers.is_empty());
    assert_eq!(answer.authorities.len(), 1);
    assert_eq!(answer.authorities[0].record_type(), RecordType::SOA);

    // NODATA: the name exists, the type does not.
    let answer = ask_udp(server, "web.default.svc.cluster.local.", RecordType::AAAA).await;
    assert_eq!(answer.metadata.response_code, ResponseCode::NoError);
    assert!(answer.answers.is_empty());
    assert_eq!(answer.authorities[0].record_type(), RecordType::SOA);

    // Forwarded: an answer, and an upstream NXDOMAIN passed on.
    let answer = ask_udp(server, "example.org.", RecordType::A).await;
    assert!(!answer.metadata.authoritative);
    assert_eq!(texts(&answer.answers), ["example.org. 300 IN A 192.0.2.1"]);
    let answer = ask_udp(server, "nothing.example.org.", RecordType::A).await;
    assert_eq!(answer.metadata.response_code, ResponseCode::NXDomain);

    // Truncated upstream over UDP: asked again over TCP.
    let answer = ask_udp(server, "big.example.org.", RecordType::A).await;
    assert!(!answer.metadata.truncation);
    assert_eq!(
        texts(&answer.answers),
        ["big.example.org. 300 IN A 192.0.2.2"]
    );

    // TCP works as UDP does.
    let answer = ask_tcp(server, "WEB.default.svc.cluster.local.", RecordType::A).await;
    assert_eq!(
        texts(&answer.answers),
        ["web.default.svc.cluster.local. 5 IN A 10.43.0.10"]
    );

    // The answers follow the store.
    records
        .write()
        .unwrap()
        .apply_service(EventType::Deleted, &web_service());
    let answer = ask_udp(server, "web.default.svc.cluster.local.", RecordType::A).await;
    assert_eq!(answer.metadata.response_code, ResponseCode::NXDomain);

    task.abort();
}

#[tokio::test]
async fn malformed_and_unsupported_queries_get_errors_and_the_server_goes_on() {
    let records = Arc::new(RwLock::new(RecordStore::new("cluster.local").unwrap()));
    let (server, task) = start_server(records, Vec::new());

    // A header announcing a question that is not there.
    let (_, mut bytes) = query_bytes("example.org.", RecordType::A);
    bytes.truncate(14);
    let answer = exchange_udp(server, &bytes).await;
    assert_eq!(answer.metadata.response_code, ResponseCode::FormErr);

    // Two questions in one query.
    let mut message = Message::query();
    message.add_query(Query::query(
        Name::from_str("a.cluster.local.").unwrap(),
        RecordType::A,
    ));
    message.add_query(Query::query(
        Name::from_str("b.cluster.local.").unwrap(),
        RecordType::A,
    ));
    let answer = exchange_udp(server, &message.to_vec().unwrap()).await;
    assert_eq!(answer.metadata.response_code, ResponseCode::FormErr);

    // Not a query, and a zone transfer.
    let mut message = Message::query();
    message.metadata.op_code = OpCode::Status;
    message.add_query(Query::query(
        Name::from_str("cluster.local.").unwrap(),
        RecordType::A,
    ));
    let answer = exchange_udp(server, &message.to_vec().unwrap()).await;
    assert_eq!(answer.metadata.response_code, ResponseCode::NotImp);
    let answer = ask_udp(server, "cluster.local.", RecordType::AXFR).await;
    assert_eq!(answer.metadata.response_code, ResponseCode::Refused);

    // Garbage shorter than a header gets no answer; the server still answers the next query.
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    socket.send_to(&[1, 2, 3], server).await.unwrap();
    let answer = ask_udp(server, "cluster.local.", RecordType::SOA).await;
    assert_eq!(answer.answers[0].record_type(), RecordType::SOA);

    // With no upstream, a name elsewhere fails with SERVFAIL.
    let answer = ask_udp(server, "example.org.", RecordType::A).await;
    assert_eq!(answer.metadata.response_code, ResponseCode::ServFail);

    task.abort();
}

#[tokio::test]
async fn the_actor_serves_the_services_of_the_api_and_follows_their_changes() {
    let api_server = TestApi::start().await;
    let admin = api_server.client("admin", "admin");
    admin.create(&web_service()).await.unwrap();
    admin.create(&headless_service()).await.unwrap();
    admin
        .create(&pg_slice(&[("10.42.1.7", "pg-0", true)]))
        .await
        .unwrap();
    let upstream = FakeUpstream::start().await;
    // A free port on loopback, for UDP and TCP alike.
    let listen = UdpSocket::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap();
    let (dns, handle) = Actor::spawn(
        None,
        ClusterDns,
        ClusterDnsArgs {
            api: api_server.client("node:n1", "node"),
            listen,
            cluster_domain: "cluster.local".into(),
            upstreams: vec![upstream.address],
        },
    )
    .await
    .unwrap();

    // Listed before serving: the first query already has the answer.
    let answer = ask_udp(listen, "web.default.svc.cluster.local.", RecordType::A).await;
    let cluster_ip = admin
        .get::<Service>("default", "web")
        .await
        .unwrap()
        .spec
        .cluster_ip;
    assert_eq!(
        texts(&answer.answers),
        [format!(
            "web.default.svc.cluster.local. 5 IN A {cluster_ip}"
        )]
    );
    let answer = ask_udp(listen, "example.org.", RecordType::A).await;
    assert_eq!(texts(&answer.answers), ["example.org. 300 IN A 192.0.2.1"]);

    // A second endpoint turns up through the watch.
    let mut slice = admin
        .get::<EndpointSlice>("default", "pg-abcde")
        .await
        .unwrap();
    slice.endpoints =
        pg_slice(&[("10.42.1.7", "pg-0", true), ("10.42.2.8", "pg-1", true)]).endpoints;
    admin.update(&slice).await.unwrap();
    let deadline = Instant::now() + PATIENCE;
    loop {
        let answer = ask_udp(listen, "pg.default.svc.cluster.local.", RecordType::A).await;
        if answer.answers.len() == 2 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the new endpoint never showed up"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    dns.stop(None);
    handle.await.unwrap();
}
