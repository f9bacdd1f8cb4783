//! The batches as JSON, then, as root in network namespaces the tests make, the table nft
//! reads back and real connections through it.

use std::io::{self, Write};
use std::process::Command;
use std::sync::mpsc;
use std::time::Duration;

use serde_json::{Value, json};

use super::batch::{affinity_set, replace_batch, rule_statements, update_batch};
use super::*;
use crate::network::nft::NFT;

fn address(text: &str) -> Ipv4Addr {
    text.parse().unwrap()
}

fn backend(text: &str, port: u16) -> Backend {
    Backend {
        address: address(text),
        port,
    }
}

fn vip(text: &str, port: u16) -> Destination {
    Destination::ClusterIp {
        address: address(text),
        protocol: Protocol::Tcp,
        port,
    }
}

/// A Service port with two endpoints, the second one sticky.
fn web_chain(chain: &str, affinity: Option<&str>) -> Chain {
    let mut rules = vec![Rule::Masquerade(Masquerade::UnlessFromPods)];
    if let Some(set) = affinity {
        rules.push(Rule::Sticky {
            affinity: set.into(),
            protocol: Protocol::Tcp,
            backend: backend("10.42.1.5", 8080),
        });
    }
    rules.push(Rule::Pick {
        one_in: 2,
        affinity: affinity.map(Into::into),
        protocol: Protocol::Tcp,
        backend: backend("10.42.1.5", 8080),
    });
    rules.push(Rule::Pick {
        one_in: 1,
        affinity: None,
        protocol: Protocol::Tcp,
        backend: backend("10.42.2.7", 8080),
    });
    Chain {
        name: chain.into(),
        rules,
    }
}

fn rule(chain: &str, expr: Value) -> Value {
    json!({"add": {"rule": {
        "family": "ip", "table": "flotilla-proxy", "chain": chain, "expr": expr,
    }}})
}

fn payload(protocol: &str, field: &str) -> Value {
    json!({"payload": {"protocol": protocol, "field": field}})
}

fn dnat(address: &str, port: u16) -> Value {
    json!([
        {"match": {"op": "==", "left": {"meta": {"key": "l4proto"}}, "right": "tcp"}},
        {"dnat": {"addr": address, "port": port}},
    ])
}

fn statements(parts: &[Value]) -> Value {
    let mut all = Vec::new();
    for part in parts {
        match part {
            Value::Array(items) => all.extend(items.iter().cloned()),
            other => all.push(other.clone()),
        }
    }
    Value::Array(all)
}

#[test]
fn an_added_service_is_one_small_batch() {
    let chain = "svc-default/web/tcp/http";
    let changes = Changes {
        added_chains: vec![web_chain(chain, None)],
        added_routes: vec![(vip("10.43.0.10", 80), Verdict::Goto(chain.into()))],
        added_cluster_ips: vec![address("10.43.0.10")],
        added_hairpin: vec![address("10.42.1.5"), address("10.42.2.7")],
        removed_routes: vec![(vip("10.43.0.10", 80), Verdict::Reject)],
        ..Changes::default()
    };
    let batch = serde_json::to_value(update_batch(&changes)).unwrap();
    let element = |set: &str, elem: Value| json!({"family": "ip", "table": "flotilla-proxy", "name": set, "elem": elem});
    let expected = json!({"nftables": [
        {"delete": {"element": element(
            "no-endpoint-services",
            json!([{"concat": ["10.43.0.10", "tcp", 80]}]),
        )}},
        {"add": {"chain": {"family": "ip", "table": "flotilla-proxy", "name": chain}}},
        rule(chain, json!([
            {"match": {"op": "!=", "left": payload("ip", "saddr"), "right": "@pod-ranges"}},
            {"jump": {"target": "mark-for-masquerade"}},
        ])),
        rule(chain, statements(&[
            json!({"match": {
                "op": "==",
                "left": {"numgen": {"mode": "random", "mod": 2}},
                "right": 0,
            }}),
            dnat("10.42.1.5", 8080),
        ])),
        rule(chain, dnat("10.42.2.7", 8080)),
        {"add": {"element": element(
            "service-ips",
            json!([[
                {"concat": ["10.43.0.10", "tcp", 80]},
                {"goto": {"target": chain}},
            ]]),
        )}},
        {"add": {"element": element("cluster-ips", json!(["10.43.0.10"]))}},
        {"add": {"element": element("hairpin", json!([
            {"concat": ["10.42.1.5", "10.42.1.5"]},
            {"concat": ["10.42.2.7", "10.42.2.7"]},
        ]))}},
    ]});
    assert_eq!(batch, expected);
}

#[test]
fn a_removed_service_goes_in_order() {
    let changes = Changes {
        removed_routes: vec![
            (vip("10.43.0.10", 80), Verdict::Goto("svc-a".into())),
            (
                Destination::NodePort {
                    protocol: Protocol::Udp,
                    port: 30053,
                },
                Verdict::Drop,
            ),
        ],
        removed_chains: vec!["svc-a".into()],
        removed_affinity_sets: vec!["aff-a".into()],
        rewritten_chains: vec![Chain {
            name: "ext-a".into(),
            rules: vec![Rule::Goto("svc-b".into())],
        }],
        ..Changes::default()
    };
    let batch = serde_json::to_value(update_batch(&changes)).unwrap();
    let commands: Vec<String> = batch["nftables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|command| {
            let (verb, object) = command.as_object().unwrap().iter().next().unwrap();
            let (kind, body) = object.as_object().unwrap().iter().next().unwrap();
            let name = body.get("name").or(body.get("chain")).unwrap();
            format!("{verb} {kind} {}", name.as_str().unwrap())
        })
        .collect();
    assert_eq!(
        commands,
        [
            "delete element no-endpoint-nodeports",
            "delete element service-ips",
            "flush chain ext-a",
            "flush chain svc-a",
            "delete chain svc-a",
            "delete set aff-a",
            "add rule ext-a",
        ]
    );
    assert_eq!(
        batch["nftables"][0]["delete"]["element"]["elem"],
        json!([{"concat": ["udp", 30053]}])
    );
}

#[test]
fn sticky_rules_remember_the_client() {
    let chain = web_chain("svc-x", Some("aff-x"));
    let sticky = serde_json::to_value(rule_statements(&chain.rules[1])).unwrap();
    let remember = json!({"set": {
        "op": "update",
        "elem": payload("ip", "saddr"),
        "set": "@aff-x",
    }});
    assert_eq!(
        sticky,
        statements(&[
            json!({"match": {"op": "==", "left": payload("ip", "saddr"), "right": "@aff-x"}}),
            remember.clone(),
            dnat("10.42.1.5", 8080),
        ])
    );
    let pick = serde_json::to_value(rule_statements(&chain.rules[2])).unwrap();
    assert_eq!(pick[1], remember);
    let set = serde_json::to_value(affinity_set(&AffinitySet {
        name: "aff-x".into(),
        timeout_seconds: 60,
    }))
    .unwrap();
    assert_eq!(set["set"]["timeout"], 60);
    assert_eq!(set["set"]["type"], "ipv4_addr");
}

#[test]
fn a_replacement_starts_by_deleting_the_table_and_declares_verdict_maps() {
    let table = Table {
        pod_ranges: vec![
            "10.42.1.0/24".parse().unwrap(),
            "10.42.0.0/16".parse().unwrap(),
        ],
        ..Table::default()
    };
    let batch = serde_json::to_value(replace_batch(&table)).unwrap();
    let commands = batch["nftables"].as_array().unwrap();
    let table = json!({"family": "ip", "name": "flotilla-proxy"});
    assert_eq!(commands[0], json!({"add": {"table": table}}));
    assert_eq!(commands[1], json!({"delete": {"table": table}}));
    assert!(commands.contains(&json!({"add": {"map": {
        "family": "ip", "table": "flotilla-proxy", "name": "service-ips",
        "type": ["ipv4_addr", "inet_proto", "inet_service"], "map": "verdict",
    }}})));
    assert!(commands.contains(&json!({"add": {"element": {
        "family": "ip", "table": "flotilla-proxy", "name": "pod-ranges",
        "elem": [{"prefix": {"addr": "10.42.0.0", "len": 16}}],
    }}})));
    // No empty element lists: nft refuses them.
    assert!(
        !commands
            .iter()
            .any(|command| command["add"]["element"]["elem"] == json!([]))
    );
}

#[test]
fn names_are_kept_when_safe_and_short_and_hashed_otherwise() {
    assert_eq!(
        object_name("svc-", &["default", "web", "tcp", "http"]),
        "svc-default/web/tcp/http"
    );
    let long = "n".repeat(300);
    let hashed = object_name("svc-", &["default", &long]);
    assert_eq!(hashed.len(), MAX_NAME_LEN);
    assert!(hashed.starts_with("svc-default/nnn"));
    assert_ne!(hashed, object_name("svc-", &["default", &long, "x"]));
    let odd = object_name("svc-", &["a b", "c"]);
    assert!(odd.starts_with("svc-a_b/c-"), "{odd}");
    assert_ne!(odd, object_name("svc-", &["a_b", "c"]));
}

/// `nft -j list table ip flotilla-proxy`, or `None` without the table.
fn listed() -> Option<Value> {
    let output = Command::new(NFT)
        .args(["-j", "list", "table", "ip", TABLE])
        .output()
        .unwrap();
    if !output.status.success() {
        return None;
    }
    let listing: Value = serde_json::from_slice(&output.stdout).unwrap();
    Some(listing["nftables"].clone())
}

/// The objects of `kind` (`chain`, `rule`, `map`, `set`) in a listing.
fn objects<'a>(listing: &'a Value, kind: &str) -> Vec<&'a Value> {
    listing
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|object| object.get(kind))
        .collect()
}

fn chain_names(listing: &Value) -> Vec<String> {
    let mut names: Vec<String> = objects(listing, "chain")
        .iter()
        .map(|chain| chain["name"].as_str().unwrap().to_owned())
        .collect();
    names.sort();
    names
}

fn rules_of(listing: &Value, chain: &str) -> usize {
    objects(listing, "rule")
        .iter()
        .filter(|rule| rule["chain"] == chain)
        .count()
}

/// The elements of a set or map, in the order of their JSON text.
fn elements_of(listing: &Value, name: &str) -> Vec<Value> {
    let mut elements = objects(listing, "map")
        .into_iter()
        .chain(objects(listing, "set"))
        .find(|set| set["name"] == name)
        .unwrap()
        .get("elem")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    elements.sort_by_key(Value::to_string);
    elements
}

const FIXED_CHAINS: [&str; 14] = [
    "cluster-ips-check",
    "filter-forward",
    "filter-input",
    "filter-output",
    "filter-output-post-dnat",
    "mark-for-masquerade",
    "masquerading",
    "nat-output",
    "nat-postrouting",
    "nat-prerouting",
    "nodeport-endpoints-check",
    "reject-chain",
    "service-endpoints-check",
    "services",
];

fn with_fixed(chains: &[&str]) -> Vec<String> {
    let mut all: Vec<String> = FIXED_CHAINS
        .iter()
        .chain(chains)
        .map(|name| name.to_string())
        .collect();
    all.sort();
    all
}

/// Runs `test` on a thread of its own in a new network namespace, which dies with it.
fn in_network_namespace(test: impl FnOnce() + Send + 'static) {
    std::thread::spawn(move || {
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
        test();
    })
    .join()
    .unwrap();
}

#[test]
fn the_table_is_replaced_then_updated_in_a_network_namespace() {
    if !flotilla_test_policy::root_or_skip(
        "the_table_is_replaced_then_updated_in_a_network_namespace",
    ) {
        return;
    }
    in_network_namespace(|| {
        remove().unwrap();
        assert_eq!(listed(), None);
        let (a, b) = ("svc-default/a/tcp/80", "svc-default/b/tcp/http");
        let affinity = "aff-default/b/tcp/http/10.42.1.5/8080";
        let table = Table {
            pod_ranges: vec!["10.42.0.0/16".parse().unwrap()],
            cluster_ips: vec![address("10.43.0.10"), address("10.43.0.11")],
            hairpin: vec![address("10.42.1.5"), address("10.42.2.7")],
            affinity_sets: vec![AffinitySet {
                name: affinity.into(),
                timeout_seconds: 60,
            }],
            chains: vec![web_chain(a, None), web_chain(b, Some(affinity))],
            routes: vec![
                (vip("10.43.0.10", 80), Verdict::Goto(a.into())),
                (vip("10.43.0.11", 80), Verdict::Goto(b.into())),
                (
                    Destination::NodePort {
                        protocol: Protocol::Tcp,
                        port: 30080,
                    },
                    Verdict::Goto(b.into()),
                ),
                (vip("10.43.0.12", 53), Verdict::Reject),
            ],
        };
        replace(&table).unwrap();
        // A second replacement removes what the first left.
        replace(&table).unwrap();
        let listing = listed().unwrap();
        assert_eq!(chain_names(&listing), with_fixed(&[a, b]));
        assert_eq!(rules_of(&listing, a), 3);
        assert_eq!(rules_of(&listing, b), 4);
        assert_eq!(elements_of(&listing, "service-ips").len(), 2);
        assert_eq!(elements_of(&listing, "service-nodeports").len(), 1);
        assert_eq!(
            elements_of(&listing, "no-endpoint-services"),
            [json!([
                {"concat": ["10.43.0.12", "tcp", 53]},
                {"goto": {"target": "reject-chain"}},
            ])]
        );
        assert_eq!(elements_of(&listing, "hairpin").len(), 2);

        // b loses its affinity and an endpoint, a goes, c comes.
        let c = "svc-default/c/udp/dns";
        let changes = Changes {
            removed_routes: vec![
                (vip("10.43.0.10", 80), Verdict::Goto(a.into())),
                (vip("10.43.0.12", 53), Verdict::Reject),
            ],
            removed_cluster_ips: vec![address("10.43.0.10")],
            removed_hairpin: vec![address("10.42.2.7")],
            rewritten_chains: vec![Chain {
                name: b.into(),
                rules: vec![Rule::Pick {
                    one_in: 1,
                    affinity: None,
                    protocol: Protocol::Tcp,
                    backend: backend("10.42.1.5", 8080),
                }],
            }],
            removed_chains: vec![a.into()],
            removed_affinity_sets: vec![affinity.into()],
            added_chains: vec![Chain {
                name: c.into(),
                rules: vec![Rule::Pick {
                    one_in: 1,
                    affinity: None,
                    protocol: Protocol::Udp,
                    backend: backend("10.42.3.9", 5353),
                }],
            }],
            added_routes: vec![(
                Destination::ClusterIp {
                    address: address("10.43.0.12"),
                    protocol: Protocol::Udp,
                    port: 53,
                },
                Verdict::Goto(c.into()),
            )],
            added_hairpin: vec![address("10.42.3.9")],
            pod_ranges: Some(vec![
                "10.42.0.0/16".parse().unwrap(),
                "10.44.0.0/16".parse().unwrap(),
            ]),
            ..Changes::default()
        };
        update(&changes).unwrap();
        let listing = listed().unwrap();
        assert_eq!(chain_names(&listing), with_fixed(&[b, c]));
        assert_eq!(rules_of(&listing, b), 1);
        assert!(
            !objects(&listing, "set")
                .iter()
                .any(|set| set["name"] == affinity)
        );
        assert_eq!(
            elements_of(&listing, "service-ips"),
            [
                json!([{"concat": ["10.43.0.11", "tcp", 80]}, {"goto": {"target": b}}]),
                json!([{"concat": ["10.43.0.12", "udp", 53]}, {"goto": {"target": c}}]),
            ]
        );
        assert!(elements_of(&listing, "no-endpoint-services").is_empty());
        assert_eq!(elements_of(&listing, "cluster-ips"), [json!("10.43.0.11")]);
        assert_eq!(elements_of(&listing, "pod-ranges").len(), 2);

        // The same update again fails as a whole, and says why.
        let error = update(&changes).unwrap_err().to_string();
        assert!(
            error.starts_with("`nft -j -f -` failed for table ip flotilla-proxy (exit"),
            "{error}"
        );
        assert_eq!(chain_names(&listed().unwrap()), with_fixed(&[b, c]));

        remove().unwrap();
        remove().unwrap();
        assert_eq!(listed(), None);
    });
}

/// Runs `ip` with `args` in the calling thread's network namespace.
fn ip_command(args: &str) {
    let status = Command::new("ip")
        .args(args.split_whitespace())
        .status()
        .unwrap();
    assert!(status.success(), "ip {args}: {status}");
}

/// Connects to `to` and returns what the endpoint answers: its own address.
fn exchange(to: &str) -> io::Result<String> {
    use std::io::Read;
    let mut stream =
        std::net::TcpStream::connect_timeout(&to.parse().unwrap(), Duration::from_secs(5))?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer)?;
    Ok(answer)
}

/// Listeners on port 8080 of some addresses in a network namespace of their own, at the
/// end of a veth pair from the calling thread's namespace (`fl-client`, 10.42.1.1/24, with
/// a route to the service range). They go when this is dropped.
struct Endpoints {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Endpoints {
    fn start(addresses: &'static [&'static str]) -> Endpoints {
        let (tid_sender, tid) = mpsc::channel();
        let (moved, wait_for_move) = mpsc::channel::<()>();
        let (listening, wait_for_listeners) = mpsc::channel::<()>();
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = std::thread::spawn(move || {
            nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
            tid_sender.send(nix::unistd::gettid()).unwrap();
            wait_for_move.recv().unwrap();
            ip_command("link set lo up");
            for address in addresses {
                ip_command(&format!("addr add {address}/24 dev fl-endpoint"));
            }
            ip_command("link set fl-endpoint up");
            let listeners: Vec<std::net::TcpListener> = addresses
                .iter()
                .map(|address| std::net::TcpListener::bind(format!("{address}:8080")).unwrap())
                .collect();
            listening.send(()).unwrap();
            answer(&listeners, &stopped);
        });
        let tid = tid.recv().unwrap();
        ip_command("link add fl-client type veth peer name fl-endpoint");
        ip_command(&format!("link set fl-endpoint netns {tid}"));
        ip_command("link set lo up");
        ip_command("addr add 10.42.1.1/24 dev fl-client");
        ip_command("link set fl-client up");
        ip_command("route add 10.43.0.0/16 dev fl-client");
        moved.send(()).unwrap();
        wait_for_listeners.recv().unwrap();
        Endpoints {
            stop: Some(stop),
            thread: Some(thread),
        }
    }
}

impl Drop for Endpoints {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take()
            && !std::thread::panicking()
        {
            thread.join().unwrap();
        }
    }
}

/// Answers each connection to one of `listeners` with its local address, until `stop`
/// says so or is dropped.
fn answer(listeners: &[std::net::TcpListener], stop: &mpsc::Receiver<()>) {
    for listener in listeners {
        listener.set_nonblocking(true).unwrap();
    }
    while let Err(mpsc::TryRecvError::Empty) = stop.try_recv() {
        let mut idle = true;
        for listener in listeners {
            match listener.accept() {
                Ok((mut stream, _)) => {
                    idle = false;
                    let local = stream.local_addr().unwrap().ip().to_string();
                    stream.write_all(local.as_bytes()).unwrap();
                }
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => {}
                Err(error) => panic!("accept: {error}"),
            }
        }
        if idle {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

#[test]
fn a_virtual_address_reaches_its_endpoint_and_is_refused_without_one() {
    if !flotilla_test_policy::root_or_skip(
        "a_virtual_address_reaches_its_endpoint_and_is_refused_without_one",
    ) {
        return;
    }
    in_network_namespace(|| {
        let _endpoints = Endpoints::start(&["10.42.1.5"]);
        let (svc, ext) = ("svc-default/web/tcp/80", "ext-default/web/tcp/80");
        let node_port = Destination::NodePort {
            protocol: Protocol::Tcp,
            port: 30080,
        };
        replace(&Table {
            pod_ranges: vec!["10.42.0.0/16".parse().unwrap()],
            cluster_ips: vec![address("10.43.0.10")],
            hairpin: vec![address("10.42.1.5")],
            chains: vec![
                Chain {
                    name: svc.into(),
                    rules: vec![
                        Rule::Masquerade(Masquerade::UnlessFromPods),
                        Rule::Pick {
                            one_in: 1,
                            affinity: None,
                            protocol: Protocol::Tcp,
                            backend: backend("10.42.1.5", 8080),
                        },
                    ],
                },
                Chain {
                    name: ext.into(),
                    rules: vec![Rule::Masquerade(Masquerade::All), Rule::Goto(svc.into())],
                },
            ],
            routes: vec![
                (vip("10.43.0.10", 80), Verdict::Goto(svc.into())),
                (node_port, Verdict::Goto(ext.into())),
            ],
            ..Table::default()
        })
        .unwrap();
        assert_eq!(exchange("10.43.0.10:80").unwrap(), "10.42.1.5");
        assert_eq!(exchange("10.42.1.1:30080").unwrap(), "10.42.1.5");
        // A port the Service does not serve is refused too.
        let error = exchange("10.43.0.10:81").unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::ConnectionRefused, "{error}");

        update(&Changes {
            removed_routes: vec![
                (vip("10.43.0.10", 80), Verdict::Goto(svc.into())),
                (node_port, Verdict::Goto(ext.into())),
            ],
            removed_chains: vec![ext.into(), svc.into()],
            removed_hairpin: vec![address("10.42.1.5")],
            added_routes: vec![
                (vip("10.43.0.10", 80), Verdict::Reject),
                (node_port, Verdict::Reject),
            ],
            ..Changes::default()
        })
        .unwrap();
        let started = std::time::Instant::now();
        let error = exchange("10.43.0.10:80").unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::ConnectionRefused, "{error}");
        assert!(started.elapsed() < Duration::from_secs(1));
        let error = exchange("10.42.1.1:30080").unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::ConnectionRefused, "{error}");
    });
}

#[test]
fn connections_spread_over_the_endpoints_unless_the_client_sticks_to_one() {
    if !flotilla_test_policy::root_or_skip(
        "connections_spread_over_the_endpoints_unless_the_client_sticks_to_one",
    ) {
        return;
    }
    in_network_namespace(|| {
        let _endpoints = Endpoints::start(&["10.42.1.5", "10.42.1.6", "10.42.1.7"]);
        let chain = "svc-default/web/tcp/80";
        let backends = ["10.42.1.5", "10.42.1.6", "10.42.1.7"];
        let affinity = |address: &str| format!("aff-default/web/tcp/80/{address}/8080");
        let table = |sticky: bool| {
            let mut rules = vec![Rule::Masquerade(Masquerade::UnlessFromPods)];
            if sticky {
                rules.extend(backends.iter().map(|address| Rule::Sticky {
                    affinity: affinity(address),
                    protocol: Protocol::Tcp,
                    backend: backend(address, 8080),
                }));
            }
            rules.extend(
                backends
                    .iter()
                    .enumerate()
                    .map(|(index, address)| Rule::Pick {
                        one_in: u32::try_from(backends.len() - index).unwrap(),
                        affinity: sticky.then(|| affinity(address)),
                        protocol: Protocol::Tcp,
                        backend: backend(address, 8080),
                    }),
            );
            Table {
                pod_ranges: vec!["10.42.0.0/16".parse().unwrap()],
                cluster_ips: vec![address("10.43.0.10")],
                affinity_sets: if sticky {
                    backends
                        .iter()
                        .map(|address| AffinitySet {
                            name: affinity(address),
                            timeout_seconds: 60,
                        })
                        .collect()
                } else {
                    vec![]
                },
                chains: vec![Chain {
                    name: chain.into(),
                    rules,
                }],
                routes: vec![(vip("10.43.0.10", 80), Verdict::Goto(chain.into()))],
                ..Table::default()
            }
        };
        let answers = || -> std::collections::BTreeMap<String, usize> {
            let mut seen = std::collections::BTreeMap::new();
            for _ in 0..30 {
                *seen.entry(exchange("10.43.0.10:80").unwrap()).or_default() += 1;
            }
            seen
        };
        // Each endpoint has a 1/3 chance a connection, so all three answer (a test that
        // fails by chance once in 60,000 runs).
        replace(&table(false)).unwrap();
        let seen = answers();
        assert_eq!(seen.len(), 3, "{seen:?}");
        replace(&table(true)).unwrap();
        let seen = answers();
        assert_eq!(seen.len(), 1, "{seen:?}");
    });
}

/// `n` Services of `endpoints` endpoints each, as the proxy would plan them.
fn many_services(n: u32, endpoints: u32) -> Table {
    let mut table = Table {
        pod_ranges: vec!["10.42.0.0/16".parse().unwrap()],
        ..Table::default()
    };
    let mut endpoint = 0_u32;
    for service in 0..n {
        let cluster_ip = Ipv4Addr::from(u32::from(Ipv4Addr::new(10, 43, 0, 0)) + service + 1);
        let chain = object_name(
            "svc-",
            &[
                &format!("ns{}", service % 100),
                &format!("web{service}"),
                "tcp",
                "http",
            ],
        );
        let mut rules = vec![Rule::Masquerade(Masquerade::UnlessFromPods)];
        for index in 0..endpoints {
            endpoint += 1;
            let address = Ipv4Addr::from(u32::from(Ipv4Addr::new(10, 42, 0, 0)) + endpoint);
            table.hairpin.push(address);
            rules.push(Rule::Pick {
                one_in: endpoints - index,
                affinity: None,
                protocol: Protocol::Tcp,
                backend: Backend {
                    address,
                    port: 8080,
                },
            });
        }
        table.cluster_ips.push(cluster_ip);
        table.routes.push((
            Destination::ClusterIp {
                address: cluster_ip,
                protocol: Protocol::Tcp,
                port: 80,
            },
            Verdict::Goto(chain.clone()),
        ));
        table.chains.push(Chain { name: chain, rules });
    }
    table
}

/// Not a test: how long a full resync of 10,000 Services with 50,000 endpoints takes, and
/// one Service added beside them. `cargo test -p flotilla-node-os --lib -- --ignored
/// --nocapture service_table_at_scale`, as root.
#[test]
#[ignore = "a measurement, run by hand"]
fn service_table_at_scale() {
    if !flotilla_test_policy::root_or_skip("service_table_at_scale") {
        return;
    }
    in_network_namespace(|| {
        let table = many_services(10_000, 5);
        let started = std::time::Instant::now();
        let json = serde_json::to_vec(&replace_batch(&table)).unwrap();
        println!(
            "full batch: {} bytes, encoded in {:?}",
            json.len(),
            started.elapsed()
        );
        for attempt in ["first", "second"] {
            let started = std::time::Instant::now();
            replace(&table).unwrap();
            println!("{attempt} full resync: {:?}", started.elapsed());
        }
        let mut one = many_services(10_001, 1);
        let (route, chain) = (one.routes.pop().unwrap(), one.chains.pop().unwrap());
        let changes = Changes {
            added_chains: vec![chain],
            added_routes: vec![route],
            added_cluster_ips: vec![address("10.43.39.18")],
            ..Changes::default()
        };
        let started = std::time::Instant::now();
        update(&changes).unwrap();
        println!("one Service added: {:?}", started.elapsed());
    });
}
