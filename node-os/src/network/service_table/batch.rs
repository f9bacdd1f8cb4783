//! The JSON batches `nft -j -f -` reads: the whole table, or an update, in the `nftables`
//! crate's typed schema (see the parent module for the layout and the order of an update).

use std::borrow::Cow;
use std::collections::{BTreeMap, HashSet};
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;
use nftables::expr::{
    BinaryOperation, Expression, Fib, FibFlag, FibResult, Meta, MetaKey, NamedExpression, NgMode,
    Numgen, Payload, PayloadField, Prefix, Verdict as NftVerdict,
};
use nftables::schema::{Chain as NftChain, NfListObject, Set};
use nftables::schema::{FlushObject, SetFlag, SetType, SetTypeValue, Table as NftTable};
use nftables::stmt::{
    JumpTarget, Mangle, Match, NAT, NATFlag, Operator, Reject, RejectType, Set as SetStatement,
    SetOp, Statement,
};
use nftables::types::{NfChainPolicy, NfChainType, NfFamily, NfHook, RejectCode};

use crate::network::nft::Batch;

use super::{
    AffinitySet, Backend, Chain, Changes, Destination, MASQUERADE_MARK, Masquerade, Protocol, Rule,
    TABLE, Table, Verdict,
};

const POD_RANGES: &str = "pod-ranges";
const CLUSTER_IPS: &str = "cluster-ips";
const HAIRPIN: &str = "hairpin";
const SERVICE_IPS: &str = "service-ips";
const SERVICE_NODE_PORTS: &str = "service-nodeports";
const NO_ENDPOINT_SERVICES: &str = "no-endpoint-services";
const NO_ENDPOINT_NODE_PORTS: &str = "no-endpoint-nodeports";
const SERVICES: &str = "services";
const SERVICE_ENDPOINTS_CHECK: &str = "service-endpoints-check";
const NODE_PORT_ENDPOINTS_CHECK: &str = "nodeport-endpoints-check";
const CLUSTER_IPS_CHECK: &str = "cluster-ips-check";
const REJECT_CHAIN: &str = "reject-chain";
const MARK_FOR_MASQUERADE: &str = "mark-for-masquerade";
const MASQUERADING: &str = "masquerading";
/// The priorities of destination and source NAT (`dstnat`, `srcnat`).
const DSTNAT: i32 = -100;
const SRCNAT: i32 = 100;
/// Node ports are not served on loopback addresses (that would need `route_localnet`).
const LOOPBACK: Ipv4Net = Ipv4Net::new_assert(Ipv4Addr::new(127, 0, 0, 0), 8);

/// The rules of `chain`.
fn add_rules<'a>(batch: &mut Batch<'a>, chain: &'a Chain) {
    for rule in &chain.rules {
        batch.add_rule(chain.name.as_str(), rule_statements(rule));
    }
}

/// Adds (or deletes) `routes`, each in the map its destination and verdict belong to.
fn add_routes<'a>(batch: &mut Batch<'a>, add: bool, routes: &'a [(Destination, Verdict)]) {
    let mut by_map: BTreeMap<&'static str, Vec<Expression<'a>>> = BTreeMap::new();
    for (destination, verdict) in routes {
        let key = destination_key(destination);
        let element = if add {
            Expression::List(vec![key, verdict_expression(verdict)])
        } else {
            key
        };
        by_map
            .entry(map_of(destination, verdict))
            .or_default()
            .push(element);
    }
    for (map, elements) in by_map {
        batch.elements(add, map, elements);
    }
}

/// The transaction that replaces the table by `table`.
pub(super) fn replace_batch(table: &Table) -> Batch<'_> {
    let mut batch = Batch::new(TABLE);
    // `add` first so that the `delete` cannot fail on a missing table.
    batch.add(table_object());
    batch.delete(table_object());
    batch.add(table_object());
    add_fixed_objects(&mut batch);
    batch.elements(true, POD_RANGES, pod_range_elements(&table.pod_ranges));
    batch.elements(true, CLUSTER_IPS, address_elements(&table.cluster_ips));
    batch.elements(true, HAIRPIN, hairpin_elements(&table.hairpin));
    for set in &table.affinity_sets {
        batch.add(affinity_set(set));
    }
    for chain in &table.chains {
        batch.add_chain(&chain.name);
    }
    for chain in &table.chains {
        add_rules(&mut batch, chain);
    }
    add_routes(&mut batch, true, &table.routes);
    batch
}

/// The transaction that applies `changes`.
pub(super) fn update_batch(changes: &Changes) -> Batch<'_> {
    let mut batch = Batch::new(TABLE);
    add_routes(&mut batch, false, &changes.removed_routes);
    batch.elements(
        false,
        CLUSTER_IPS,
        address_elements(&changes.removed_cluster_ips),
    );
    batch.elements(false, HAIRPIN, hairpin_elements(&changes.removed_hairpin));
    let flushed = changes
        .rewritten_chains
        .iter()
        .map(|chain| chain.name.as_str())
        .chain(changes.removed_chains.iter().map(String::as_str));
    for name in flushed {
        batch.flush(FlushObject::Chain(NftChain {
            family: NfFamily::IP,
            table: TABLE.into(),
            name: name.into(),
            ..NftChain::default()
        }));
    }
    for name in &changes.removed_chains {
        batch.delete(NfListObject::Chain(NftChain {
            family: NfFamily::IP,
            table: TABLE.into(),
            name: name.into(),
            ..NftChain::default()
        }));
    }
    for name in &changes.removed_affinity_sets {
        batch.delete(NfListObject::Set(Box::new(Set {
            family: NfFamily::IP,
            table: TABLE.into(),
            name: name.into(),
            ..Set::default()
        })));
    }
    if let Some(ranges) = &changes.pod_ranges {
        batch.flush(FlushObject::Set(Box::new(Set {
            family: NfFamily::IP,
            table: TABLE.into(),
            name: POD_RANGES.into(),
            ..Set::default()
        })));
        batch.elements(true, POD_RANGES, pod_range_elements(ranges));
    }
    for set in &changes.added_affinity_sets {
        batch.add(affinity_set(set));
    }
    for chain in &changes.added_chains {
        batch.add_chain(&chain.name);
    }
    for chain in changes.added_chains.iter().chain(&changes.rewritten_chains) {
        add_rules(&mut batch, chain);
    }
    add_routes(&mut batch, true, &changes.added_routes);
    batch.elements(
        true,
        CLUSTER_IPS,
        address_elements(&changes.added_cluster_ips),
    );
    batch.elements(true, HAIRPIN, hairpin_elements(&changes.added_hairpin));
    batch
}

pub(super) fn table_object<'a>() -> NfListObject<'a> {
    NfListObject::Table(NftTable {
        family: NfFamily::IP,
        name: TABLE.into(),
        handle: None,
    })
}

/// The sets, maps and chains that do not depend on the Services, with their rules.
pub(super) fn add_fixed_objects<'a>(batch: &mut Batch<'a>) {
    let set = |name: &'static str, key: SetTypeValue<'a>, flags: Option<SetFlag>| {
        NfListObject::Set(Box::new(Set {
            family: NfFamily::IP,
            table: TABLE.into(),
            name: name.into(),
            set_type: key,
            flags: flags.map(|flag| HashSet::from([flag])),
            ..Set::default()
        }))
    };
    batch.add(set(
        POD_RANGES,
        SetTypeValue::Single(SetType::Ipv4Addr),
        Some(SetFlag::Interval),
    ));
    batch.add(set(
        CLUSTER_IPS,
        SetTypeValue::Single(SetType::Ipv4Addr),
        None,
    ));
    batch.add(set(
        HAIRPIN,
        SetTypeValue::Concatenated(Cow::Borrowed(&[SetType::Ipv4Addr, SetType::Ipv4Addr])),
        None,
    ));
    const SERVICE_KEY: &[SetType] = &[SetType::Ipv4Addr, SetType::InetProto, SetType::InetService];
    const NODE_PORT_KEY: &[SetType] = &[SetType::InetProto, SetType::InetService];
    for (map, key) in [
        (SERVICE_IPS, SERVICE_KEY),
        (SERVICE_NODE_PORTS, NODE_PORT_KEY),
        (NO_ENDPOINT_SERVICES, SERVICE_KEY),
        (NO_ENDPOINT_NODE_PORTS, NODE_PORT_KEY),
    ] {
        batch.add_verdict_map(map, SetTypeValue::Concatenated(Cow::Borrowed(key)));
    }

    for name in [
        SERVICES,
        SERVICE_ENDPOINTS_CHECK,
        NODE_PORT_ENDPOINTS_CHECK,
        CLUSTER_IPS_CHECK,
        REJECT_CHAIN,
        MARK_FOR_MASQUERADE,
        MASQUERADING,
    ] {
        batch.add_chain(name);
    }
    let base_chains: [(&str, NfChainType, NfHook, i32, &[&str]); 7] = [
        (
            "nat-prerouting",
            NfChainType::NAT,
            NfHook::Prerouting,
            DSTNAT,
            &[SERVICES],
        ),
        (
            "nat-output",
            NfChainType::NAT,
            NfHook::Output,
            DSTNAT,
            &[SERVICES],
        ),
        (
            "nat-postrouting",
            NfChainType::NAT,
            NfHook::Postrouting,
            SRCNAT,
            &[MASQUERADING],
        ),
        // The filters see the destination before it is translated.
        (
            "filter-input",
            NfChainType::Filter,
            NfHook::Input,
            DSTNAT - 10,
            &[NODE_PORT_ENDPOINTS_CHECK, SERVICE_ENDPOINTS_CHECK],
        ),
        (
            "filter-forward",
            NfChainType::Filter,
            NfHook::Forward,
            DSTNAT - 10,
            &[SERVICE_ENDPOINTS_CHECK, CLUSTER_IPS_CHECK],
        ),
        (
            "filter-output",
            NfChainType::Filter,
            NfHook::Output,
            DSTNAT - 10,
            &[SERVICE_ENDPOINTS_CHECK],
        ),
        // A ClusterIP still there after DNAT is one on a port the Service does not serve.
        (
            "filter-output-post-dnat",
            NfChainType::Filter,
            NfHook::Output,
            DSTNAT + 10,
            &[CLUSTER_IPS_CHECK],
        ),
    ];
    for (name, type_, hook, prio, targets) in base_chains {
        batch.add(NfListObject::Chain(NftChain {
            family: NfFamily::IP,
            table: TABLE.into(),
            name: name.into(),
            _type: Some(type_),
            hook: Some(hook),
            prio: Some(prio),
            policy: Some(NfChainPolicy::Accept),
            ..NftChain::default()
        }));
        for target in targets {
            let mut rule = Vec::new();
            if type_ == NfChainType::Filter {
                rule.push(matches(ct("state"), Operator::IN, text("new")));
            }
            rule.push(jump(target));
            batch.add_rule(name, rule);
        }
    }

    let service_key = || concat(vec![ip("daddr"), meta(MetaKey::L4proto), th_dport()]);
    let node_port_key = || concat(vec![meta(MetaKey::L4proto), th_dport()]);
    let local_destination = || {
        vec![
            matches(fib(FibFlag::Daddr), Operator::EQ, text("local")),
            matches(ip("daddr"), Operator::NEQ, prefix(LOOPBACK)),
        ]
    };
    batch.add_rule(SERVICES, vec![vmap(service_key(), SERVICE_IPS)]);
    let mut node_ports = local_destination();
    node_ports.push(vmap(node_port_key(), SERVICE_NODE_PORTS));
    batch.add_rule(SERVICES, node_ports);
    batch.add_rule(
        SERVICE_ENDPOINTS_CHECK,
        vec![vmap(service_key(), NO_ENDPOINT_SERVICES)],
    );
    let mut node_ports = local_destination();
    node_ports.push(vmap(node_port_key(), NO_ENDPOINT_NODE_PORTS));
    batch.add_rule(NODE_PORT_ENDPOINTS_CHECK, node_ports);
    batch.add_rule(
        CLUSTER_IPS_CHECK,
        vec![
            matches(ip("daddr"), Operator::EQ, set_reference(CLUSTER_IPS)),
            goto(REJECT_CHAIN),
        ],
    );
    batch.add_rule(
        REJECT_CHAIN,
        vec![
            matches(meta(MetaKey::L4proto), Operator::EQ, text("tcp")),
            Statement::Reject(Some(Reject::new(Some(RejectType::TCPReset), None))),
        ],
    );
    batch.add_rule(
        REJECT_CHAIN,
        vec![Statement::Reject(Some(Reject::new(
            Some(RejectType::ICMP),
            Some(RejectCode::PortUnreach),
        )))],
    );
    let mark = || meta(MetaKey::Mark);
    batch.add_rule(
        MARK_FOR_MASQUERADE,
        vec![mangle_mark(BinaryOperation::OR(vec![
            mark(),
            Expression::Number(MASQUERADE_MARK),
        ]))],
    );
    batch.add_rule(
        MASQUERADING,
        vec![
            matches(ct("status"), Operator::IN, text("dnat")),
            matches(
                concat(vec![ip("saddr"), ip("daddr")]),
                Operator::EQ,
                set_reference(HAIRPIN),
            ),
            masquerade(),
        ],
    );
    batch.add_rule(
        MASQUERADING,
        vec![
            matches(
                Expression::BinaryOperation(Box::new(BinaryOperation::AND(
                    mark(),
                    Expression::Number(MASQUERADE_MARK),
                ))),
                Operator::EQ,
                Expression::Number(0),
            ),
            Statement::Return(None),
        ],
    );
    batch.add_rule(
        MASQUERADING,
        vec![mangle_mark(BinaryOperation::XOR(
            mark(),
            Expression::Number(MASQUERADE_MARK),
        ))],
    );
    batch.add_rule(MASQUERADING, vec![masquerade()]);
}

pub(super) fn affinity_set(set: &AffinitySet) -> NfListObject<'_> {
    NfListObject::Set(Box::new(Set {
        family: NfFamily::IP,
        table: TABLE.into(),
        name: set.name.as_str().into(),
        set_type: SetTypeValue::Single(SetType::Ipv4Addr),
        // nft 1.0.6 takes no `dynamic` in JSON; `update` statements make the set dynamic.
        flags: Some(HashSet::from([SetFlag::Timeout])),
        timeout: Some(set.timeout_seconds),
        ..Set::default()
    }))
}

/// The statements of one rule of a Service port's chain.
pub(super) fn rule_statements(rule: &Rule) -> Vec<Statement<'_>> {
    let dnat = |protocol: Protocol, backend: &Backend| {
        [
            matches(
                meta(MetaKey::L4proto),
                Operator::EQ,
                text(protocol.as_str()),
            ),
            Statement::DNAT(Some(NAT {
                addr: Some(text(backend.address.to_string())),
                family: None,
                port: Some(Expression::Number(u32::from(backend.port))),
                flags: None,
            })),
        ]
    };
    let remember = |set: &str| {
        Statement::Set(SetStatement {
            op: SetOp::Update,
            elem: ip("saddr"),
            set: format!("@{set}").into(),
        })
    };
    match rule {
        Rule::Masquerade(when) => {
            let mut statements = match when {
                Masquerade::All => vec![],
                Masquerade::UnlessFromPods => vec![matches(
                    ip("saddr"),
                    Operator::NEQ,
                    set_reference(POD_RANGES),
                )],
                Masquerade::FromNode => {
                    vec![matches(fib(FibFlag::Saddr), Operator::EQ, text("local"))]
                }
            };
            statements.push(jump(MARK_FOR_MASQUERADE));
            statements
        }
        Rule::Sticky {
            affinity,
            protocol,
            backend,
        } => {
            let mut statements = vec![
                matches(ip("saddr"), Operator::EQ, set_reference(affinity)),
                remember(affinity),
            ];
            statements.extend(dnat(*protocol, backend));
            statements
        }
        Rule::Pick {
            one_in,
            affinity,
            protocol,
            backend,
        } => {
            let mut statements = Vec::new();
            if *one_in > 1 {
                statements.push(matches(
                    Expression::Named(NamedExpression::Numgen(Numgen {
                        mode: NgMode::Random,
                        ng_mod: *one_in,
                        offset: None,
                    })),
                    Operator::EQ,
                    Expression::Number(0),
                ));
            }
            if let Some(set) = affinity {
                statements.push(remember(set));
            }
            statements.extend(dnat(*protocol, backend));
            statements
        }
        Rule::Goto(chain) => vec![goto(chain)],
    }
}

/// The map a route belongs to.
pub(super) fn map_of(destination: &Destination, verdict: &Verdict) -> &'static str {
    match (destination, verdict) {
        (Destination::ClusterIp { .. }, Verdict::Goto(_)) => SERVICE_IPS,
        (Destination::ClusterIp { .. }, Verdict::Reject | Verdict::Drop) => NO_ENDPOINT_SERVICES,
        (Destination::NodePort { .. }, Verdict::Goto(_)) => SERVICE_NODE_PORTS,
        (Destination::NodePort { .. }, Verdict::Reject | Verdict::Drop) => NO_ENDPOINT_NODE_PORTS,
    }
}

pub(super) fn destination_key<'a>(destination: &Destination) -> Expression<'a> {
    match destination {
        Destination::ClusterIp {
            address,
            protocol,
            port,
        } => concat(vec![
            text(address.to_string()),
            text(protocol.as_str()),
            Expression::Number(u32::from(*port)),
        ]),
        Destination::NodePort { protocol, port } => concat(vec![
            text(protocol.as_str()),
            Expression::Number(u32::from(*port)),
        ]),
    }
}

pub(super) fn verdict_expression(verdict: &Verdict) -> Expression<'_> {
    Expression::Verdict(match verdict {
        Verdict::Goto(chain) => NftVerdict::Goto(JumpTarget {
            target: chain.as_str().into(),
        }),
        Verdict::Reject => NftVerdict::Goto(JumpTarget {
            target: REJECT_CHAIN.into(),
        }),
        Verdict::Drop => NftVerdict::Drop,
    })
}

pub(super) fn pod_range_elements<'a>(ranges: &[Ipv4Net]) -> Vec<Expression<'a>> {
    // An interval set refuses overlapping elements.
    Ipv4Net::aggregate(&ranges.to_vec())
        .into_iter()
        .map(prefix)
        .collect()
}

pub(super) fn address_elements<'a>(addresses: &[Ipv4Addr]) -> Vec<Expression<'a>> {
    addresses
        .iter()
        .map(|address| text(address.to_string()))
        .collect()
}

pub(super) fn hairpin_elements<'a>(addresses: &[Ipv4Addr]) -> Vec<Expression<'a>> {
    addresses
        .iter()
        .map(|address| concat(vec![text(address.to_string()), text(address.to_string())]))
        .collect()
}

pub(super) fn text<'a>(value: impl Into<Cow<'a, str>>) -> Expression<'a> {
    Expression::String(value.into())
}

pub(super) fn set_reference<'a>(name: &str) -> Expression<'a> {
    text(format!("@{name}"))
}

pub(super) fn ip<'a>(field: &'static str) -> Expression<'a> {
    Expression::Named(NamedExpression::Payload(Payload::PayloadField(
        PayloadField {
            protocol: "ip".into(),
            field: field.into(),
        },
    )))
}

pub(super) fn th_dport<'a>() -> Expression<'a> {
    Expression::Named(NamedExpression::Payload(Payload::PayloadField(
        PayloadField {
            protocol: "th".into(),
            field: "dport".into(),
        },
    )))
}

pub(super) fn meta<'a>(key: MetaKey) -> Expression<'a> {
    Expression::Named(NamedExpression::Meta(Meta { key }))
}

pub(super) fn ct<'a>(key: &'static str) -> Expression<'a> {
    Expression::Named(NamedExpression::CT(nftables::expr::CT {
        key: key.into(),
        family: None,
        dir: None,
    }))
}

pub(super) fn fib<'a>(flag: FibFlag) -> Expression<'a> {
    Expression::Named(NamedExpression::Fib(Fib {
        result: FibResult::Type,
        flags: HashSet::from([flag]),
    }))
}

pub(super) fn concat(parts: Vec<Expression<'_>>) -> Expression<'_> {
    Expression::Named(NamedExpression::Concat(parts))
}

pub(super) fn prefix<'a>(range: Ipv4Net) -> Expression<'a> {
    Expression::Named(NamedExpression::Prefix(Prefix {
        addr: Box::new(text(range.network().to_string())),
        len: u32::from(range.prefix_len()),
    }))
}

pub(super) fn matches<'a>(
    left: Expression<'a>,
    op: Operator,
    right: Expression<'a>,
) -> Statement<'a> {
    Statement::Match(Match { left, right, op })
}

pub(super) fn jump(target: &str) -> Statement<'_> {
    Statement::Jump(JumpTarget {
        target: target.into(),
    })
}

pub(super) fn goto(target: &str) -> Statement<'_> {
    Statement::Goto(JumpTarget {
        target: target.into(),
    })
}

pub(super) fn vmap<'a>(key: Expression<'a>, map: &str) -> Statement<'a> {
    Statement::VerdictMap(nftables::stmt::VerdictMap {
        key,
        data: set_reference(map),
    })
}

pub(super) fn mangle_mark(value: BinaryOperation<'_>) -> Statement<'_> {
    Statement::Mangle(Mangle {
        key: meta(MetaKey::Mark),
        value: Expression::BinaryOperation(Box::new(value)),
    })
}

pub(super) fn masquerade<'a>() -> Statement<'a> {
    Statement::Masquerade(Some(NAT {
        addr: None,
        family: None,
        port: None,
        flags: Some(HashSet::from([NATFlag::FullyRandom])),
    }))
}
