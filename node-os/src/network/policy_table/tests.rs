//! The batches as JSON, then, as root in network namespaces the tests make, the table nft
//! reads back and real connections through it between pods on a bridge and a routed one.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::Command;
use std::sync::mpsc;
use std::time::Duration;

use serde_json::{Value, json};

use super::batch::{replace_batch, update_batch};
use super::*;
use crate::network::nft::NFT;

fn address(text: &str) -> Ipv4Addr {
    text.parse().unwrap()
}

fn net(text: &str) -> Ipv4Net {
    text.parse().unwrap()
}

fn tcp(first: u16, last: u16) -> Option<Ports> {
    Some(Ports {
        protocol: Protocol::Tcp,
        range: Some((first, last)),
    })
}

fn from(set: &str, ports: Option<Ports>) -> Rule {
    Rule::Allow {
        peers: Some(set.into()),
        ports,
    }
}

/// Pod 10.42.0.2 accepts port 80 from the `front` set and anything UDP from anyone; pod
/// 10.42.0.3 sends only to the `dns` endpoints.
fn small_table() -> Table {
    Table {
        address_sets: [(
            "peers-front".to_string(),
            vec![
                net("10.42.0.3/32"),
                net("10.42.1.0/24"),
                net("10.42.1.128/25"),
            ],
        )]
        .into(),
        endpoint_sets: [(
            "endpoints-dns".to_string(),
            vec![Endpoint {
                address: address("10.42.1.2"),
                protocol: Protocol::Udp,
                port: 5353,
            }],
        )]
        .into(),
        pods: [
            (
                address("10.42.0.2"),
                PodRules {
                    ingress: Some(vec![
                        from("peers-front", tcp(80, 80)),
                        Rule::Allow {
                            peers: None,
                            ports: Some(Ports {
                                protocol: Protocol::Udp,
                                range: None,
                            }),
                        },
                    ]),
                    egress: None,
                },
            ),
            (
                address("10.42.0.3"),
                PodRules {
                    ingress: None,
                    egress: Some(vec![Rule::AllowEndpoints("endpoints-dns".into())]),
                },
            ),
        ]
        .into(),
    }
}

fn payload(protocol: &str, field: &str) -> Value {
    json!({"payload": {"protocol": protocol, "field": field}})
}

fn rule(chain: &str, expr: Value) -> Value {
    json!({"add": {"rule": {
        "family": "ip", "table": "flotilla-policy", "chain": chain, "expr": expr,
    }}})
}

#[test]
fn a_replacement_declares_everything_then_fills_the_maps() {
    let table = small_table();
    let batch = serde_json::to_value(replace_batch(&table)).unwrap();
    let commands = batch["nftables"].as_array().unwrap();
    let table_json = json!({"family": "ip", "name": "flotilla-policy"});
    assert_eq!(commands[0], json!({"add": {"table": table_json}}));
    assert_eq!(commands[1], json!({"delete": {"table": table_json}}));
    let expected = [
        json!({"add": {"map": {
            "family": "ip", "table": "flotilla-policy", "name": "ingress-pods",
            "type": "ipv4_addr", "map": "verdict",
        }}}),
        json!({"add": {"chain": {
            "family": "ip", "table": "flotilla-policy", "name": "forward",
            "type": "filter", "hook": "forward", "prio": 0, "policy": "accept",
        }}}),
        rule(
            "forward",
            json!([
                {"match": {
                    "op": "in",
                    "left": {"ct": {"key": "state"}},
                    "right": ["established", "related"],
                }},
                {"accept": null},
            ]),
        ),
        rule(
            "forward",
            json!([{"vmap": {"key": payload("ip", "daddr"), "data": "@ingress-pods"}}]),
        ),
        rule(
            "forward",
            json!([{"vmap": {"key": payload("ip", "saddr"), "data": "@egress-pods"}}]),
        ),
        // Ranges merged, single addresses bare.
        json!({"add": {"element": {
            "family": "ip", "table": "flotilla-policy", "name": "peers-front",
            "elem": ["10.42.0.3", {"prefix": {"addr": "10.42.1.0", "len": 24}}],
        }}}),
        json!({"add": {"set": {
            "family": "ip", "table": "flotilla-policy", "name": "endpoints-dns",
            "type": ["ipv4_addr", "inet_proto", "inet_service"],
        }}}),
        rule(
            "ingress-10.42.0.2",
            json!([
                {"match": {"op": "==", "left": payload("ip", "saddr"), "right": "10.42.0.2"}},
                {"return": null},
            ]),
        ),
        rule(
            "ingress-10.42.0.2",
            json!([
                {"match": {"op": "==", "left": payload("ip", "saddr"), "right": "@peers-front"}},
                {"match": {"op": "==", "left": {"meta": {"key": "l4proto"}}, "right": "tcp"}},
                {"match": {"op": "==", "left": payload("th", "dport"), "right": 80}},
                {"return": null},
            ]),
        ),
        rule(
            "ingress-10.42.0.2",
            json!([
                {"match": {"op": "==", "left": {"meta": {"key": "l4proto"}}, "right": "udp"}},
                {"return": null},
            ]),
        ),
        rule("ingress-10.42.0.2", json!([{"drop": null}])),
        rule(
            "egress-10.42.0.3",
            json!([
                {"match": {
                    "op": "==",
                    "left": {"concat": [payload("ip", "daddr"), {"meta": {"key": "l4proto"}}, payload("th", "dport")]},
                    "right": "@endpoints-dns",
                }},
                {"return": null},
            ]),
        ),
        json!({"add": {"element": {
            "family": "ip", "table": "flotilla-policy", "name": "endpoints-dns",
            "elem": [{"concat": ["10.42.1.2", "udp", 5353]}],
        }}}),
        json!({"add": {"element": {
            "family": "ip", "table": "flotilla-policy", "name": "egress-pods",
            "elem": [["10.42.0.3", {"jump": {"target": "egress-10.42.0.3"}}]],
        }}}),
    ];
    for command in expected {
        assert!(
            commands.contains(&command),
            "{command} missing from {batch:#}"
        );
    }
    // The map elements come last, once the chains they jump to are filled.
    assert_eq!(
        commands.last().unwrap()["add"]["element"]["name"],
        "egress-pods"
    );
}

#[test]
fn port_ranges_are_ranges() {
    let table = Table {
        pods: [(
            address("10.42.0.2"),
            PodRules {
                ingress: Some(vec![Rule::Allow {
                    peers: None,
                    ports: tcp(32000, 32768),
                }]),
                egress: None,
            },
        )]
        .into(),
        ..Table::default()
    };
    let batch = serde_json::to_value(replace_batch(&table)).unwrap();
    let expected = rule(
        "ingress-10.42.0.2",
        json!([
            {"match": {"op": "==", "left": {"meta": {"key": "l4proto"}}, "right": "tcp"}},
            {"match": {"op": "==", "left": payload("th", "dport"), "right": {"range": [32000, 32768]}}},
            {"return": null},
        ]),
    );
    assert!(
        batch["nftables"].as_array().unwrap().contains(&expected),
        "{batch:#}"
    );
}

/// `verb kind name` of each command of a batch.
fn command_names(batch: &Value) -> Vec<String> {
    batch["nftables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|command| {
            let (verb, object) = command.as_object().unwrap().iter().next().unwrap();
            let (kind, body) = object.as_object().unwrap().iter().next().unwrap();
            let name = body.get("name").or(body.get("chain")).unwrap();
            format!("{verb} {kind} {}", name.as_str().unwrap())
        })
        .collect()
}

#[test]
fn an_update_touches_only_what_changed_in_order() {
    let current = small_table();
    let mut next = small_table();
    // 10.42.0.3 is no longer isolated; the front set changes; 10.42.0.2's rules use a new set;
    // a new pod is isolated for ingress.
    next.pods.remove(&address("10.42.0.3"));
    next.endpoint_sets.clear();
    next.address_sets
        .insert("peers-front".into(), vec![net("10.42.0.4/32")]);
    next.address_sets
        .insert("peers-db".into(), vec![net("10.42.2.0/24")]);
    let pod = next.pods.get_mut(&address("10.42.0.2")).unwrap();
    pod.ingress = Some(vec![from("peers-db", tcp(5432, 5432))]);
    next.pods.insert(
        address("10.42.0.9"),
        PodRules {
            ingress: Some(vec![]),
            egress: None,
        },
    );
    let batch = serde_json::to_value(update_batch(&current, &next)).unwrap();
    assert_eq!(
        command_names(&batch),
        [
            "delete element egress-pods",
            "flush chain ingress-10.42.0.2",
            "flush chain egress-10.42.0.3",
            "delete chain egress-10.42.0.3",
            "add set peers-db",
            "add element peers-db",
            "flush set peers-front",
            "add element peers-front",
            "delete set endpoints-dns",
            "add chain ingress-10.42.0.9",
            "add rule ingress-10.42.0.2",
            "add rule ingress-10.42.0.2",
            "add rule ingress-10.42.0.2",
            "add rule ingress-10.42.0.9",
            "add rule ingress-10.42.0.9",
            "add element ingress-pods",
        ]
    );
    assert_eq!(
        batch["nftables"][0]["delete"]["element"]["elem"],
        json!(["10.42.0.3"])
    );
    // Nothing changed, nothing to do.
    let batch = serde_json::to_value(update_batch(&next, &next)).unwrap();
    assert_eq!(batch, json!({"nftables": []}));
}

/// `nft -j list table ip flotilla-policy`, or `None` without the table.
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

/// The elements of a set or map, in the order of their JSON text; `None` without the set.
fn elements_of(listing: &Value, name: &str) -> Option<Vec<Value>> {
    let set = objects(listing, "map")
        .into_iter()
        .chain(objects(listing, "set"))
        .find(|set| set["name"] == name)?;
    let mut elements = set
        .get("elem")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    elements.sort_by_key(Value::to_string);
    Some(elements)
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
        let mut table = small_table();
        // Everything but a /8 and one address of it: the whole range splits into prefixes.
        table.address_sets.insert(
            "peers-world".into(),
            vec![net("0.0.0.0/1"), net("128.0.0.0/1")],
        );
        replace(&table).unwrap();
        // A second replacement removes what the first left.
        replace(&table).unwrap();
        let listing = listed().unwrap();
        assert_eq!(
            chain_names(&listing),
            ["egress-10.42.0.3", "forward", "ingress-10.42.0.2"]
        );
        assert_eq!(rules_of(&listing, "forward"), 3);
        assert_eq!(rules_of(&listing, "ingress-10.42.0.2"), 4);
        assert_eq!(rules_of(&listing, "egress-10.42.0.3"), 3);
        assert_eq!(
            elements_of(&listing, "peers-front").unwrap(),
            [
                json!("10.42.0.3"),
                json!({"prefix": {"addr": "10.42.1.0", "len": 24}})
            ]
        );
        assert_eq!(
            elements_of(&listing, "peers-world").unwrap(),
            [json!({"prefix": {"addr": "0.0.0.0", "len": 0}})]
        );
        assert_eq!(
            elements_of(&listing, "endpoints-dns").unwrap(),
            [json!({"concat": ["10.42.1.2", "udp", 5353]})]
        );
        assert_eq!(
            elements_of(&listing, "ingress-pods").unwrap(),
            [json!([
                "10.42.0.2",
                {"jump": {"target": "ingress-10.42.0.2"}}
            ])]
        );

        let mut next = table.clone();
        next.pods.remove(&address("10.42.0.3"));
        next.endpoint_sets.clear();
        next.address_sets
            .insert("peers-front".into(), vec![net("10.42.0.4/32")]);
        next.pods.insert(
            address("10.42.0.9"),
            PodRules {
                ingress: Some(vec![]),
                egress: Some(vec![from("peers-world", None)]),
            },
        );
        update(&table, &next).unwrap();
        let listing = listed().unwrap();
        assert_eq!(
            chain_names(&listing),
            [
                "egress-10.42.0.9",
                "forward",
                "ingress-10.42.0.2",
                "ingress-10.42.0.9"
            ]
        );
        assert_eq!(rules_of(&listing, "ingress-10.42.0.9"), 2);
        assert_eq!(
            elements_of(&listing, "peers-front").unwrap(),
            [json!("10.42.0.4")]
        );
        assert_eq!(elements_of(&listing, "endpoints-dns"), None);
        assert_eq!(
            elements_of(&listing, "egress-pods").unwrap(),
            [json!([
                "10.42.0.9",
                {"jump": {"target": "egress-10.42.0.9"}}
            ])]
        );

        // An update from a table that is not the one in force fails whole, and says why.
        let error = update(&table, &next).unwrap_err().to_string();
        assert!(
            error.starts_with("`nft -j -f -` failed for table ip flotilla-policy (exit"),
            "{error}"
        );
        assert_eq!(rules_of(&listed().unwrap(), "ingress-10.42.0.9"), 2);

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

/// What a pod's thread is asked to do.
enum Ask {
    /// Connect to the address and return what the server answers: its own address.
    Exchange(SocketAddr, mpsc::Sender<io::Result<String>>),
}

/// A "pod": a network namespace of its own, at the end of a veth pair from the calling
/// thread's namespace (the "node"), with listeners on ports 80 and 8080 answering their
/// address, and a thread that connects where it is asked from inside. It goes when dropped.
struct Pod {
    asks: Option<mpsc::Sender<Ask>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Pod {
    /// A pod with `address/len` on the far end of veth `link`, routed via `gateway`; the
    /// node's end is set up by `node_side` (enslaved to a bridge, or addressed).
    fn start(
        link: &'static str,
        address: &'static str,
        gateway: &'static str,
        node_side: impl FnOnce(&str),
    ) -> Pod {
        let (tid_sender, tid) = mpsc::channel();
        let (moved, wait_for_move) = mpsc::channel::<()>();
        let (listening, wait_for_listeners) = mpsc::channel::<()>();
        let (asks, asked) = mpsc::channel::<Ask>();
        let thread = std::thread::spawn(move || {
            nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
            tid_sender.send(nix::unistd::gettid()).unwrap();
            wait_for_move.recv().unwrap();
            ip_command("link set lo up");
            ip_command(&format!("addr add {address} dev eth0"));
            ip_command("link set eth0 up");
            ip_command(&format!("route add default via {gateway}"));
            let own = address.split('/').next().unwrap_or_default();
            let listeners: Vec<TcpListener> = [80, 8080]
                .iter()
                .map(|port| TcpListener::bind(format!("{own}:{port}")).unwrap())
                .collect();
            listening.send(()).unwrap();
            serve(&listeners, &asked);
        });
        let tid = tid.recv().unwrap();
        let node_end = format!("{link}-n");
        ip_command(&format!(
            "link add {node_end} type veth peer name eth0 netns {tid}"
        ));
        node_side(&node_end);
        ip_command(&format!("link set {node_end} up"));
        moved.send(()).unwrap();
        wait_for_listeners.recv().unwrap();
        Pod {
            asks: Some(asks),
            thread: Some(thread),
        }
    }

    /// Connects from this pod to `to` (`address:port`).
    fn exchange(&self, to: &str) -> io::Result<String> {
        let (reply, answer) = mpsc::channel();
        let asks = self.asks.as_ref().expect("the pod is running");
        asks.send(Ask::Exchange(to.parse().unwrap(), reply))
            .expect("the pod's thread is alive");
        answer.recv().expect("the pod's thread answers")
    }
}

impl Drop for Pod {
    fn drop(&mut self) {
        drop(self.asks.take());
        if let Some(thread) = self.thread.take()
            && !std::thread::panicking()
        {
            thread.join().unwrap();
        }
    }
}

/// Answers each connection to one of `listeners` with its local address, and does what is
/// asked, until the asking side goes.
fn serve(listeners: &[TcpListener], asked: &mpsc::Receiver<Ask>) {
    for listener in listeners {
        listener.set_nonblocking(true).unwrap();
    }
    loop {
        for listener in listeners {
            match listener.accept() {
                Ok((mut stream, _)) => {
                    let local = stream.local_addr().unwrap().ip().to_string();
                    // The client may have given up already.
                    let _ = stream.write_all(local.as_bytes());
                }
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => {}
                Err(error) => panic!("accept: {error}"),
            }
        }
        match asked.recv_timeout(Duration::from_millis(5)) {
            Ok(Ask::Exchange(to, reply)) => {
                // The reply channel outlives this send: the asker waits on it.
                let _ = reply.send(exchange(to));
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => return,
        }
    }
}

/// How long a connection may take before it counts as dropped.
const CONNECT_TIMEOUT: Duration = Duration::from_millis(700);

/// Connects to `to` and returns what the server answers.
fn exchange(to: SocketAddr) -> io::Result<String> {
    let mut stream = TcpStream::connect_timeout(&to, CONNECT_TIMEOUT)?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer)?;
    Ok(answer)
}

/// Whether `result` is a connection that was dropped on the way (it timed out).
fn dropped(result: io::Result<String>) -> bool {
    matches!(result, Err(error) if error.kind() == io::ErrorKind::TimedOut)
}

/// Writes `1` to a sysctl of the calling thread's network namespace.
fn switch_on(sysctl: &str) {
    std::fs::write(sysctl, "1").unwrap();
}

#[test]
fn pods_accept_and_send_only_what_their_rules_allow() {
    if !flotilla_test_policy::root_or_skip("pods_accept_and_send_only_what_their_rules_allow") {
        return;
    }
    in_network_namespace(|| {
        switch_on("/proc/sys/net/ipv4/ip_forward");
        // Pods on one bridge reach each other through the forward hook only with this.
        switch_on("/proc/sys/net/bridge/bridge-nf-call-iptables");
        ip_command("link add fl-br0 type bridge");
        ip_command("addr add 10.42.0.1/24 dev fl-br0");
        ip_command("link set fl-br0 up");
        let on_bridge = |end: &str| ip_command(&format!("link set {end} master fl-br0"));
        // a and b share the bridge; c is routed, like a pod of another node.
        let a = Pod::start("fl-a", "10.42.0.2/24", "10.42.0.1", on_bridge);
        let b = Pod::start("fl-b", "10.42.0.3/24", "10.42.0.1", on_bridge);
        let c = Pod::start("fl-c", "10.42.1.2/24", "10.42.1.1", |end| {
            ip_command(&format!("addr add 10.42.1.1/24 dev {end}"));
        });
        // Before any policy, everything passes.
        assert_eq!(b.exchange("10.42.0.2:8080").unwrap(), "10.42.0.2");
        assert_eq!(c.exchange("10.42.0.2:80").unwrap(), "10.42.0.2");

        // a accepts port 80 from b only; b sends only to c's 8080 (and a's 80, below).
        let mut table = Table {
            address_sets: [
                ("peers-b".to_string(), vec![net("10.42.0.3/32")]),
                ("peers-c".to_string(), vec![net("10.42.1.0/24")]),
            ]
            .into(),
            endpoint_sets: [(
                "endpoints-c".to_string(),
                vec![Endpoint {
                    address: address("10.42.1.2"),
                    protocol: Protocol::Tcp,
                    port: 8080,
                }],
            )]
            .into(),
            pods: [
                (
                    address("10.42.0.2"),
                    PodRules {
                        ingress: Some(vec![from("peers-b", tcp(80, 80))]),
                        egress: None,
                    },
                ),
                (
                    address("10.42.0.3"),
                    PodRules {
                        ingress: None,
                        egress: Some(vec![Rule::AllowEndpoints("endpoints-c".into())]),
                    },
                ),
            ]
            .into(),
        };
        replace(&table).unwrap();
        // c may not reach a; b may not reach a's 8080, nor a's 80 (its own egress forbids it).
        assert!(dropped(c.exchange("10.42.0.2:80")));
        assert!(dropped(b.exchange("10.42.0.2:8080")));
        assert!(dropped(b.exchange("10.42.0.2:80")));
        // b reaches c's 8080, not its 80; the answers (replies) come back.
        assert_eq!(b.exchange("10.42.1.2:8080").unwrap(), "10.42.1.2");
        assert!(dropped(b.exchange("10.42.1.2:80")));
        // The node reaches every pod; a, unrestricted outward, reaches c.
        assert_eq!(
            exchange("10.42.0.2:8080".parse().unwrap()).unwrap(),
            "10.42.0.2"
        );
        assert_eq!(a.exchange("10.42.1.2:80").unwrap(), "10.42.1.2");

        // b may now send to a's 80 too (an incremental update): both ends allow it.
        let mut next = table.clone();
        if let Some(egress) = &mut next.pods.get_mut(&address("10.42.0.3")).unwrap().egress {
            egress.push(Rule::Allow {
                peers: None,
                ports: tcp(80, 80),
            });
        }
        update(&table, &next).unwrap();
        table = next;
        assert_eq!(b.exchange("10.42.0.2:80").unwrap(), "10.42.0.2");
        assert!(dropped(b.exchange("10.42.0.2:8080")));
        // a accepts anything from c's range.
        let mut next = table.clone();
        if let Some(ingress) = &mut next.pods.get_mut(&address("10.42.0.2")).unwrap().ingress {
            ingress.push(from("peers-c", None));
        }
        update(&table, &next).unwrap();
        assert_eq!(c.exchange("10.42.0.2:8080").unwrap(), "10.42.0.2");

        // No policies, no isolation.
        update(&next, &Table::default()).unwrap();
        assert_eq!(b.exchange("10.42.0.2:8080").unwrap(), "10.42.0.2");
        assert_eq!(b.exchange("10.42.1.2:80").unwrap(), "10.42.1.2");
        remove().unwrap();
        drop((a, b, c));
    });
}

/// A Service's address on port 80 in front of pod a's 8080, as the proxy writes it.
fn service_in_front_of_a() -> crate::network::service_table::Table {
    use crate::network::service_table::{
        Backend, Chain, Destination, Masquerade, Rule as ServiceRule, Table as ServiceTable,
        Verdict,
    };
    let chain = "svc-default/a/tcp/80";
    ServiceTable {
        pod_ranges: vec![net("10.42.0.0/16")],
        cluster_ips: vec![address("10.43.0.10")],
        hairpin: vec![address("10.42.0.2")],
        chains: vec![Chain {
            name: chain.into(),
            rules: vec![
                ServiceRule::Masquerade(Masquerade::UnlessFromPods),
                ServiceRule::Pick {
                    one_in: 1,
                    affinity: None,
                    protocol: Protocol::Tcp,
                    backend: Backend {
                        address: address("10.42.0.2"),
                        port: 8080,
                    },
                },
            ],
        }],
        routes: vec![(
            Destination::ClusterIp {
                address: address("10.43.0.10"),
                protocol: Protocol::Tcp,
                port: 80,
            },
            Verdict::Goto(chain.into()),
        )],
        ..ServiceTable::default()
    }
}

#[test]
fn policies_see_the_pod_and_port_behind_a_service_address() {
    if !flotilla_test_policy::root_or_skip("policies_see_the_pod_and_port_behind_a_service_address")
    {
        return;
    }
    in_network_namespace(|| {
        switch_on("/proc/sys/net/ipv4/ip_forward");
        switch_on("/proc/sys/net/bridge/bridge-nf-call-iptables");
        ip_command("link add fl-br0 type bridge");
        ip_command("addr add 10.42.0.1/24 dev fl-br0");
        ip_command("link set fl-br0 up");
        let on_bridge = |end: &str| ip_command(&format!("link set {end} master fl-br0"));
        let a = Pod::start("fl-a", "10.42.0.2/24", "10.42.0.1", on_bridge);
        let b = Pod::start("fl-b", "10.42.0.3/24", "10.42.0.1", on_bridge);
        crate::network::service_table::replace(&service_in_front_of_a()).unwrap();
        assert_eq!(b.exchange("10.43.0.10:80").unwrap(), "10.42.0.2");

        // a accepts b on its own port 8080, the one behind the Service's 80.
        let ingress = |ports| Table {
            address_sets: [("peers-b".to_string(), vec![net("10.42.0.3/32")])].into(),
            pods: [(
                address("10.42.0.2"),
                PodRules {
                    ingress: Some(vec![from("peers-b", ports)]),
                    egress: None,
                },
            )]
            .into(),
            ..Table::default()
        };
        replace(&ingress(tcp(8080, 8080))).unwrap();
        assert_eq!(b.exchange("10.43.0.10:80").unwrap(), "10.42.0.2");
        // Allowing the Service's port instead allows nothing: the rules see the real one.
        replace(&ingress(tcp(80, 80))).unwrap();
        assert!(dropped(b.exchange("10.43.0.10:80")));

        // b may send only to a's 8080: the Service's address leads there, so it may use it.
        let egress = Table {
            endpoint_sets: [(
                "endpoints-a".to_string(),
                vec![Endpoint {
                    address: address("10.42.0.2"),
                    protocol: Protocol::Tcp,
                    port: 8080,
                }],
            )]
            .into(),
            pods: [(
                address("10.42.0.3"),
                PodRules {
                    ingress: None,
                    egress: Some(vec![Rule::AllowEndpoints("endpoints-a".into())]),
                },
            )]
            .into(),
            ..Table::default()
        };
        replace(&egress).unwrap();
        assert_eq!(b.exchange("10.43.0.10:80").unwrap(), "10.42.0.2");
        assert!(dropped(b.exchange("10.42.0.2:80")));
        remove().unwrap();
        crate::network::service_table::remove().unwrap();
        drop((a, b));
    });
}
