use std::str::FromStr;

use flotilla_kernel::object::{
    AddressType, CLUSTER_IP_NONE, Endpoint, EndpointConditions, EndpointPort, EndpointSlice,
    ObjectMeta, SERVICE_NAME_LABEL, Service, ServicePort, ServiceSpec, ServiceType,
};

use super::*;

fn meta(namespace: &str, name: &str) -> ObjectMeta {
    ObjectMeta {
        name: name.into(),
        namespace: namespace.into(),
        ..ObjectMeta::default()
    }
}

fn ports(named: &[(&str, &str, i32)]) -> Vec<ServicePort> {
    named
        .iter()
        .map(|(name, protocol, port)| ServicePort {
            name: (*name).into(),
            protocol: (*protocol).into(),
            port: *port,
            ..ServicePort::default()
        })
        .collect()
}

fn cluster_ip(namespace: &str, name: &str, ip: &str, named: &[(&str, &str, i32)]) -> Service {
    Service {
        metadata: meta(namespace, name),
        spec: ServiceSpec {
            cluster_ip: ip.into(),
            cluster_ips: vec![ip.into()],
            ports: ports(named),
            ..ServiceSpec::default()
        },
        ..Service::default()
    }
}

fn headless(namespace: &str, name: &str, named: &[(&str, &str, i32)]) -> Service {
    cluster_ip(namespace, name, CLUSTER_IP_NONE, named)
}

fn external(namespace: &str, name: &str, target: &str) -> Service {
    Service {
        metadata: meta(namespace, name),
        spec: ServiceSpec {
            type_: ServiceType::ExternalName,
            external_name: target.into(),
            ..ServiceSpec::default()
        },
        ..Service::default()
    }
}

/// An endpoint: its address, hostname and readiness (`None`: unknown).
type Ep<'a> = (&'a str, Option<&'a str>, Option<bool>);

fn slice(
    namespace: &str,
    name: &str,
    service: &str,
    endpoints: &[Ep],
    named: &[(&str, i32)],
) -> EndpointSlice {
    let mut metadata = meta(namespace, name);
    metadata
        .labels
        .insert(SERVICE_NAME_LABEL.into(), service.into());
    EndpointSlice {
        metadata,
        address_type: AddressType::Ipv4,
        endpoints: endpoints
            .iter()
            .map(|(ip, hostname, ready)| Endpoint {
                addresses: vec![(*ip).into()],
                hostname: hostname.map(str::to_string),
                conditions: EndpointConditions {
                    ready: *ready,
                    ..EndpointConditions::default()
                },
                ..Endpoint::default()
            })
            .collect(),
        ports: named
            .iter()
            .map(|(name, port)| EndpointPort {
                name: (*name).into(),
                protocol: "TCP".into(),
                port: Some(*port),
                ..EndpointPort::default()
            })
            .collect(),
        ..EndpointSlice::default()
    }
}

fn store() -> RecordStore {
    RecordStore::new("cluster.local").unwrap()
}

fn name(text: &str) -> LowerName {
    LowerName::from(Name::from_str(text).unwrap())
}

/// A resolution as text: the response code, the answers, the additionals, and whether the SOA
/// came along; forwarded ones as `FORWARD <name>` and the aliases.
#[derive(Debug, PartialEq)]
enum Said {
    Local {
        code: ResponseCode,
        answers: Vec<String>,
        additionals: Vec<String>,
        soa: bool,
    },
    Forward {
        name: String,
        aliases: Vec<String>,
    },
}

fn ask(store: &RecordStore, query: &str, query_type: RecordType) -> Said {
    let text = |records: &mut dyn Iterator<Item = &Record>| -> Vec<String> {
        records.map(ToString::to_string).collect()
    };
    match store.resolve(&name(query), query_type) {
        Resolution::Local { code, answers, soa } => Said::Local {
            code,
            answers: text(&mut answers.iter().flat_map(|set| &set.answers)),
            additionals: text(&mut answers.iter().flat_map(|set| &set.additionals)),
            soa: soa.is_some(),
        },
        Resolution::Forward { name, aliases } => Said::Forward {
            name: name.to_string(),
            aliases: text(&mut aliases.iter().flat_map(|set| &set.answers)),
        },
    }
}

/// The answers of a positive local answer.
fn answers(store: &RecordStore, query: &str, query_type: RecordType) -> Vec<String> {
    match ask(store, query, query_type) {
        Said::Local {
            code: ResponseCode::NoError,
            answers,
            soa: false,
            ..
        } if !answers.is_empty() => answers,
        other => panic!("{query} {query_type}: expected answers, got {other:?}"),
    }
}

fn additionals(store: &RecordStore, query: &str, query_type: RecordType) -> Vec<String> {
    match ask(store, query, query_type) {
        Said::Local { additionals, .. } => additionals,
        other => panic!("{query} {query_type}: expected a local answer, got {other:?}"),
    }
}

fn is_nodata(store: &RecordStore, query: &str, query_type: RecordType) -> bool {
    matches!(
        ask(store, query, query_type),
        Said::Local { code: ResponseCode::NoError, answers, soa: true, .. } if answers.is_empty()
    )
}

fn is_nxdomain(store: &RecordStore, query: &str, query_type: RecordType) -> bool {
    matches!(
        ask(store, query, query_type),
        Said::Local { code: ResponseCode::NXDomain, answers, soa: true, .. } if answers.is_empty()
    )
}

fn a(owner: &str, ip: &str) -> String {
    format!("{owner} 5 IN A {ip}")
}

fn srv(owner: &str, port: u16, target: &str) -> String {
    format!("{owner} 5 IN SRV 0 100 {port} {target}")
}

#[test]
fn a_cluster_ip_service_has_an_address_a_reverse_name_and_srv_for_named_ports() {
    let mut store = store();
    store.apply_service(
        EventType::Added,
        &cluster_ip(
            "default",
            "web",
            "10.43.0.10",
            &[("http", "TCP", 80), ("dns", "UDP", 53), ("", "TCP", 8080)],
        ),
    );
    let web = "web.default.svc.cluster.local.";
    assert_eq!(answers(&store, web, RecordType::A), [a(web, "10.43.0.10")]);
    assert_eq!(
        answers(
            &store,
            "_http._tcp.web.default.svc.cluster.local.",
            RecordType::SRV
        ),
        [srv("_http._tcp.web.default.svc.cluster.local.", 80, web)]
    );
    assert_eq!(
        additionals(
            &store,
            "_http._tcp.web.default.svc.cluster.local.",
            RecordType::SRV
        ),
        [a(web, "10.43.0.10")]
    );
    assert_eq!(
        answers(
            &store,
            "_dns._udp.web.default.svc.cluster.local.",
            RecordType::SRV
        ),
        [srv("_dns._udp.web.default.svc.cluster.local.", 53, web)]
    );
    assert_eq!(
        answers(&store, "10.0.43.10.in-addr.arpa.", RecordType::PTR),
        [format!("10.0.43.10.in-addr.arpa. 5 IN PTR {web}")]
    );
    // IPv4 only: the name exists without an AAAA; an SRV's parents exist empty.
    assert!(is_nodata(&store, web, RecordType::AAAA));
    assert!(is_nodata(&store, web, RecordType::SRV));
    assert!(is_nodata(
        &store,
        "_tcp.web.default.svc.cluster.local.",
        RecordType::SRV
    ));
    assert!(is_nodata(
        &store,
        "default.svc.cluster.local.",
        RecordType::A
    ));
    // The unnamed port has no SRV, and a protocol the port does not use has none either.
    assert!(is_nxdomain(
        &store,
        "_http._udp.web.default.svc.cluster.local.",
        RecordType::SRV
    ));
    assert!(is_nxdomain(
        &store,
        "other.default.svc.cluster.local.",
        RecordType::A
    ));
}

#[test]
fn names_are_case_insensitive_and_the_final_dot_is_optional() {
    let mut store = store();
    store.apply_service(
        EventType::Added,
        &cluster_ip("default", "web", "10.43.0.10", &[("http", "TCP", 80)]),
    );
    for query in [
        "web.default.svc.cluster.local.",
        "WEB.Default.SVC.Cluster.Local.",
        "web.default.svc.cluster.local",
    ] {
        assert_eq!(
            answers(&store, query, RecordType::A),
            [a("web.default.svc.cluster.local.", "10.43.0.10")],
            "{query}"
        );
    }
    assert_eq!(
        answers(
            &store,
            "_HTTP._TCP.web.default.svc.cluster.local.",
            RecordType::SRV
        )
        .len(),
        1
    );
    // A store made for `CLUSTER.local.` serves the same names.
    let mut upper = RecordStore::new("CLUSTER.local.").unwrap();
    upper.apply_service(
        EventType::Added,
        &cluster_ip("default", "web", "10.43.0.10", &[]),
    );
    assert_eq!(
        answers(&upper, "web.default.svc.cluster.local.", RecordType::A),
        [a("web.default.svc.cluster.local.", "10.43.0.10")]
    );
}

#[test]
fn a_headless_service_answers_with_its_ready_endpoints_by_service_and_endpoint_name() {
    let mut store = store();
    store.apply_service(
        EventType::Added,
        &headless("db", "pg", &[("postgres", "TCP", 5432)]),
    );
    store.apply_slice(
        EventType::Added,
        &slice(
            "db",
            "pg-abc",
            "pg",
            &[
                ("10.42.1.7", Some("pg-0"), Some(true)),
                ("10.42.2.8", None, None),
                ("10.42.3.9", Some("pg-2"), Some(false)),
            ],
            &[("postgres", 15432)],
        ),
    );
    let pg = "pg.db.svc.cluster.local.";
    assert_eq!(
        answers(&store, pg, RecordType::A),
        [a(pg, "10.42.1.7"), a(pg, "10.42.2.8")]
    );
    // The StatefulSet-style name of a pod with a hostname, and the address-derived name of one
    // without; the not-ready pod has none.
    assert_eq!(
        answers(&store, "pg-0.pg.db.svc.cluster.local.", RecordType::A),
        [a("pg-0.pg.db.svc.cluster.local.", "10.42.1.7")]
    );
    assert_eq!(
        answers(&store, "10-42-2-8.pg.db.svc.cluster.local.", RecordType::A),
        [a("10-42-2-8.pg.db.svc.cluster.local.", "10.42.2.8")]
    );
    assert!(is_nxdomain(
        &store,
        "pg-2.pg.db.svc.cluster.local.",
        RecordType::A
    ));
    // One SRV per ready endpoint, on the endpoints' port, with their addresses as additionals.
    let srv_name = "_postgres._tcp.pg.db.svc.cluster.local.";
    assert_eq!(
        answers(&store, srv_name, RecordType::SRV),
        [
            srv(srv_name, 15432, "10-42-2-8.pg.db.svc.cluster.local."),
            srv(srv_name, 15432, "pg-0.pg.db.svc.cluster.local."),
        ]
    );
    assert_eq!(
        additionals(&store, srv_name, RecordType::SRV),
        [
            a("10-42-2-8.pg.db.svc.cluster.local.", "10.42.2.8"),
            a("pg-0.pg.db.svc.cluster.local.", "10.42.1.7"),
        ]
    );
    assert_eq!(
        answers(&store, "7.1.42.10.in-addr.arpa.", RecordType::PTR),
        ["7.1.42.10.in-addr.arpa. 5 IN PTR pg-0.pg.db.svc.cluster.local."]
    );
    assert!(is_nodata(&store, pg, RecordType::AAAA));
}

#[test]
fn publish_not_ready_addresses_lists_every_endpoint() {
    let mut store = store();
    let mut service = headless("db", "pg", &[]);
    service.spec.publish_not_ready_addresses = true;
    store.apply_service(EventType::Added, &service);
    store.apply_slice(
        EventType::Added,
        &slice(
            "db",
            "pg-abc",
            "pg",
            &[
                ("10.42.1.7", None, Some(true)),
                ("10.42.3.9", Some("pg-2"), Some(false)),
            ],
            &[],
        ),
    );
    let pg = "pg.db.svc.cluster.local.";
    assert_eq!(
        answers(&store, pg, RecordType::A),
        [a(pg, "10.42.1.7"), a(pg, "10.42.3.9")]
    );
    assert_eq!(
        answers(&store, "pg-2.pg.db.svc.cluster.local.", RecordType::A),
        [a("pg-2.pg.db.svc.cluster.local.", "10.42.3.9")]
    );
}

#[test]
fn a_headless_service_without_ready_endpoints_does_not_exist() {
    let mut store = store();
    store.apply_service(
        EventType::Added,
        &headless("db", "pg", &[("pg", "TCP", 5432)]),
    );
    assert!(is_nxdomain(
        &store,
        "pg.db.svc.cluster.local.",
        RecordType::A
    ));
    let not_ready = [("10.42.1.7", Some("pg-0"), Some(false))];
    store.apply_slice(
        EventType::Added,
        &slice("db", "pg-abc", "pg", &not_ready, &[]),
    );
    assert!(is_nxdomain(
        &store,
        "pg.db.svc.cluster.local.",
        RecordType::A
    ));
    assert!(is_nxdomain(
        &store,
        "_pg._tcp.pg.db.svc.cluster.local.",
        RecordType::SRV
    ));
    // Nor does its namespace, with nothing else in it.
    assert!(is_nxdomain(&store, "db.svc.cluster.local.", RecordType::A));
}

#[test]
fn answers_follow_endpoint_slice_events() {
    let mut store = store();
    let pg = "pg.db.svc.cluster.local.";
    store.apply_service(EventType::Added, &headless("db", "pg", &[]));
    let both = [
        ("10.42.1.7", None, Some(true)),
        ("10.42.2.8", None, Some(true)),
    ];
    store.apply_slice(EventType::Added, &slice("db", "a", "pg", &both, &[]));
    assert_eq!(answers(&store, pg, RecordType::A).len(), 2);

    // One endpoint turns not ready: it leaves the answers and its own name goes.
    let one = [
        ("10.42.1.7", None, Some(true)),
        ("10.42.2.8", None, Some(false)),
    ];
    store.apply_slice(EventType::Modified, &slice("db", "a", "pg", &one, &[]));
    assert_eq!(answers(&store, pg, RecordType::A), [a(pg, "10.42.1.7")]);
    assert!(is_nxdomain(
        &store,
        "10-42-2-8.pg.db.svc.cluster.local.",
        RecordType::A
    ));
    assert!(matches!(
        ask(&store, "8.2.42.10.in-addr.arpa.", RecordType::PTR),
        Said::Forward { .. }
    ));

    // A second slice adds to the first; the same address twice is answered once.
    let more = [
        ("10.42.1.7", None, Some(true)),
        ("10.42.3.9", None, Some(true)),
    ];
    store.apply_slice(EventType::Added, &slice("db", "b", "pg", &more, &[]));
    assert_eq!(
        answers(&store, pg, RecordType::A),
        [a(pg, "10.42.1.7"), a(pg, "10.42.3.9")]
    );

    // Deleting the first leaves the second's; deleting both removes the name.
    store.apply_slice(EventType::Deleted, &slice("db", "a", "pg", &one, &[]));
    assert_eq!(
        answers(&store, pg, RecordType::A),
        [a(pg, "10.42.1.7"), a(pg, "10.42.3.9")]
    );
    store.apply_slice(EventType::Deleted, &slice("db", "b", "pg", &more, &[]));
    assert!(is_nxdomain(&store, pg, RecordType::A));
    assert!(is_nxdomain(&store, "db.svc.cluster.local.", RecordType::A));
    assert!(
        store.names.is_empty(),
        "{:?}",
        store.names.keys().collect::<Vec<_>>()
    );
}

#[test]
fn a_slice_may_come_before_its_service_and_move_to_another() {
    let mut store = store();
    let ready = [("10.42.1.7", None, Some(true))];
    store.apply_slice(EventType::Added, &slice("db", "s", "pg", &ready, &[]));
    assert!(is_nxdomain(
        &store,
        "pg.db.svc.cluster.local.",
        RecordType::A
    ));
    store.apply_service(EventType::Added, &headless("db", "pg", &[]));
    store.apply_service(EventType::Added, &headless("db", "other", &[]));
    assert_eq!(
        answers(&store, "pg.db.svc.cluster.local.", RecordType::A).len(),
        1
    );
    assert!(is_nxdomain(
        &store,
        "other.db.svc.cluster.local.",
        RecordType::A
    ));

    store.apply_slice(EventType::Modified, &slice("db", "s", "other", &ready, &[]));
    assert!(is_nxdomain(
        &store,
        "pg.db.svc.cluster.local.",
        RecordType::A
    ));
    assert_eq!(
        answers(&store, "other.db.svc.cluster.local.", RecordType::A).len(),
        1
    );
    // A slice of the same name in another namespace belongs to another Service.
    store.apply_slice(EventType::Added, &slice("web", "s", "other", &ready, &[]));
    assert!(is_nxdomain(
        &store,
        "other.web.svc.cluster.local.",
        RecordType::A
    ));
}

#[test]
fn answers_follow_service_events() {
    let mut store = store();
    let web = "web.default.svc.cluster.local.";
    let service = cluster_ip("default", "web", "10.43.0.10", &[("http", "TCP", 80)]);
    store.apply_service(EventType::Added, &service);
    store.apply_slice(
        EventType::Added,
        &slice(
            "default",
            "w",
            "web",
            &[("10.42.1.7", Some("w-0"), None)],
            &[("http", 8080)],
        ),
    );

    // A new port gets its SRV, a removed one loses it.
    let renamed = cluster_ip("default", "web", "10.43.0.10", &[("https", "TCP", 443)]);
    store.apply_service(EventType::Modified, &renamed);
    assert!(is_nxdomain(
        &store,
        "_http._tcp.web.default.svc.cluster.local.",
        RecordType::SRV
    ));
    assert_eq!(
        answers(
            &store,
            "_https._tcp.web.default.svc.cluster.local.",
            RecordType::SRV
        ),
        [srv("_https._tcp.web.default.svc.cluster.local.", 443, web)]
    );
    // Under a ClusterIP Service, endpoints with a hostname have a name; the others do not.
    assert_eq!(
        answers(&store, "w-0.web.default.svc.cluster.local.", RecordType::A),
        [a("w-0.web.default.svc.cluster.local.", "10.42.1.7")]
    );
    store.apply_slice(
        EventType::Modified,
        &slice(
            "default",
            "w",
            "web",
            &[("10.42.1.7", None, None)],
            &[("http", 8080)],
        ),
    );
    assert!(is_nxdomain(
        &store,
        "w-0.web.default.svc.cluster.local.",
        RecordType::A
    ));
    assert!(is_nxdomain(
        &store,
        "10-42-1-7.web.default.svc.cluster.local.",
        RecordType::A
    ));
    assert_eq!(answers(&store, web, RecordType::A), [a(web, "10.43.0.10")]);

    // Made headless (delete and create again): the endpoints answer for the name.
    store.apply_service(EventType::Deleted, &renamed);
    assert!(is_nxdomain(&store, web, RecordType::A));
    assert!(matches!(
        ask(&store, "10.0.43.10.in-addr.arpa.", RecordType::PTR),
        Said::Forward { .. }
    ));
    store.apply_service(EventType::Added, &headless("default", "web", &[]));
    assert_eq!(answers(&store, web, RecordType::A), [a(web, "10.42.1.7")]);

    // Gone: nothing is left of it.
    store.apply_service(EventType::Deleted, &headless("default", "web", &[]));
    store.apply_slice(EventType::Deleted, &slice("default", "w", "web", &[], &[]));
    assert!(is_nxdomain(&store, web, RecordType::A));
    assert!(store.names.is_empty());
    assert!(store.published.is_empty() && store.slices_by_service.is_empty());
}

#[test]
fn a_service_without_an_address_yet_has_no_name() {
    let mut store = store();
    store.apply_service(EventType::Added, &cluster_ip("default", "web", "", &[]));
    assert!(is_nxdomain(
        &store,
        "web.default.svc.cluster.local.",
        RecordType::A
    ));
    store.apply_service(
        EventType::Modified,
        &cluster_ip("default", "web", "10.43.0.10", &[]),
    );
    assert_eq!(
        answers(&store, "web.default.svc.cluster.local.", RecordType::A).len(),
        1
    );
}

#[test]
fn an_external_name_service_is_an_alias_followed_inside_the_cluster_and_forwarded_outside() {
    let mut store = store();
    store.apply_service(
        EventType::Added,
        &external("default", "search", "www.Example.com"),
    );
    let search = "search.default.svc.cluster.local.";
    let cname = format!("{search} 5 IN CNAME www.Example.com.");
    assert_eq!(answers(&store, search, RecordType::CNAME), [cname.as_str()]);
    assert_eq!(
        ask(&store, search, RecordType::A),
        Said::Forward {
            name: "www.example.com.".into(),
            aliases: vec![cname.clone()],
        }
    );

    // An alias of a name of the cluster is answered here, both records.
    store.apply_service(
        EventType::Added,
        &cluster_ip("default", "web", "10.43.0.10", &[]),
    );
    store.apply_service(
        EventType::Added,
        &external("default", "alias", "web.default.svc.cluster.local"),
    );
    let alias = "alias.default.svc.cluster.local.";
    assert_eq!(
        answers(&store, alias, RecordType::A),
        [
            format!("{alias} 5 IN CNAME web.default.svc.cluster.local."),
            a("web.default.svc.cluster.local.", "10.43.0.10"),
        ]
    );
    // ...and so is its target's NODATA or NXDOMAIN, after the alias.
    assert!(matches!(
        ask(&store, alias, RecordType::AAAA),
        Said::Local { code: ResponseCode::NoError, answers, soa: true, .. } if answers.len() == 1
    ));
    store.apply_service(
        EventType::Added,
        &external("default", "dangling", "nothing.default.svc.cluster.local"),
    );
    assert!(matches!(
        ask(&store, "dangling.default.svc.cluster.local.", RecordType::A),
        Said::Local { code: ResponseCode::NXDomain, answers, soa: true, .. } if answers.len() == 1
    ));
}

#[test]
fn a_loop_of_aliases_fails_instead_of_spinning() {
    let mut store = store();
    store.apply_service(
        EventType::Added,
        &external("default", "a", "b.default.svc.cluster.local"),
    );
    store.apply_service(
        EventType::Added,
        &external("default", "b", "a.default.svc.cluster.local"),
    );
    assert!(matches!(
        ask(&store, "a.default.svc.cluster.local.", RecordType::A),
        Said::Local {
            code: ResponseCode::ServFail,
            ..
        }
    ));
}

#[test]
fn the_zone_says_nxdomain_for_missing_names_and_nodata_for_missing_types() {
    let mut store = store();
    store.apply_service(
        EventType::Added,
        &cluster_ip("default", "web", "10.43.0.10", &[]),
    );
    // The apex has its SOA; the zone's structure exists empty.
    assert_eq!(
        answers(&store, "cluster.local.", RecordType::SOA),
        [
            "cluster.local. 5 IN SOA ns.dns.cluster.local. hostmaster.cluster.local. 1 7200 1800 86400 5"
        ]
    );
    assert!(is_nodata(&store, "cluster.local.", RecordType::NS));
    assert!(is_nodata(&store, "svc.cluster.local.", RecordType::A));
    assert!(is_nodata(&store, "pod.cluster.local.", RecordType::A));
    assert!(is_nodata(
        &store,
        "default.svc.cluster.local.",
        RecordType::A
    ));
    assert_eq!(
        answers(&store, "dns-version.cluster.local.", RecordType::TXT),
        ["dns-version.cluster.local. 5 IN TXT 1.1.0"]
    );
    // What pods ask while walking their search path (ndots:5) is answered at once.
    for missing in [
        "web.default.svc.cluster.local.default.svc.cluster.local.",
        "web.default.svc.cluster.local.svc.cluster.local.",
        "web.default.svc.cluster.local.cluster.local.",
        "google.com.default.svc.cluster.local.",
        "web.other.svc.cluster.local.",
        "nothing.cluster.local.",
    ] {
        assert!(is_nxdomain(&store, missing, RecordType::A), "{missing}");
        assert!(is_nxdomain(&store, missing, RecordType::AAAA), "{missing}");
    }
}

#[test]
fn any_returns_every_record_of_a_name() {
    let mut store = store();
    store.apply_service(
        EventType::Added,
        &cluster_ip("default", "web", "10.43.0.10", &[]),
    );
    assert_eq!(
        answers(&store, "web.default.svc.cluster.local.", RecordType::ANY),
        [a("web.default.svc.cluster.local.", "10.43.0.10")]
    );
}

#[test]
fn pod_names_are_their_dashed_addresses() {
    let store = store();
    assert_eq!(
        answers(
            &store,
            "10-42-1-7.default.pod.cluster.local.",
            RecordType::A
        ),
        [a("10-42-1-7.default.pod.cluster.local.", "10.42.1.7")]
    );
    assert!(is_nodata(
        &store,
        "10-42-1-7.default.pod.cluster.local.",
        RecordType::AAAA
    ));
    assert!(is_nodata(
        &store,
        "default.pod.cluster.local.",
        RecordType::A
    ));
    for missing in [
        "web.default.pod.cluster.local.",
        "10-42-1.default.pod.cluster.local.",
        "10-42-1-7-8.default.pod.cluster.local.",
        "10-42-1-300.default.pod.cluster.local.",
        "10-42--7.default.pod.cluster.local.",
        "10-42-1a-7.default.pod.cluster.local.",
        "x.10-42-1-7.default.pod.cluster.local.",
    ] {
        assert!(is_nxdomain(&store, missing, RecordType::A), "{missing}");
    }
}

#[test]
fn names_outside_the_zone_are_forwarded() {
    let mut store = store();
    store.apply_service(
        EventType::Added,
        &cluster_ip("default", "web", "10.43.0.10", &[]),
    );
    for (query, query_type) in [
        ("example.com.", RecordType::A),
        ("local.", RecordType::A),
        ("cluster.local.example.com.", RecordType::A),
        ("1.0.43.10.in-addr.arpa.", RecordType::PTR),
        // A reverse name of ours, asked for something else.
        ("10.0.43.10.in-addr.arpa.", RecordType::TXT),
    ] {
        assert_eq!(
            ask(&store, query, query_type),
            Said::Forward {
                name: query.to_ascii_lowercase(),
                aliases: Vec::new(),
            },
            "{query}"
        );
    }
}

#[test]
fn services_of_the_same_name_in_two_namespaces_are_two_names() {
    let mut store = store();
    store.apply_service(EventType::Added, &cluster_ip("a", "web", "10.43.0.10", &[]));
    store.apply_service(EventType::Added, &cluster_ip("b", "web", "10.43.0.11", &[]));
    store.apply_service(
        EventType::Deleted,
        &cluster_ip("a", "web", "10.43.0.10", &[]),
    );
    assert!(is_nxdomain(
        &store,
        "web.a.svc.cluster.local.",
        RecordType::A
    ));
    assert_eq!(
        answers(&store, "web.b.svc.cluster.local.", RecordType::A),
        [a("web.b.svc.cluster.local.", "10.43.0.11")]
    );
}

#[test]
fn a_domain_that_is_not_a_name_is_refused() {
    for domain in ["", ".", "cluster..local"] {
        let error = RecordStore::new(domain).err().expect(domain);
        assert!(
            error.to_string().contains("is not a valid DNS name"),
            "{error}"
        );
    }
}
