//! The masquerade of pod traffic that leaves the pod network, in nftables.
//!
//! A pod's address is routable only inside the cluster (see [`super::routes`]), so a packet
//! from a pod to anything outside the cluster's pod ranges takes the address of the node it
//! leaves by; a packet from a pod to another pod keeps its source, so that pods see each other
//! as they are. flotilla keeps this in a table of its own, which no other program edits and
//! which is all flotilla ever changes:
//!
//! ```text
//! table ip flotilla-pod-network {
//!     set pod-ranges { type ipv4_addr; flags interval; elements = { 10.244.0.0/16 } }
//!     chain postrouting {
//!         type nat hook postrouting priority srcnat; policy accept;
//!         ip saddr @pod-ranges ip daddr != @pod-ranges masquerade
//!     }
//! }
//! ```
//!
//! A sync is one `nft -j -f -` transaction that rebuilds the table from scratch: `add table`
//! (so that the `delete` that follows cannot fail on a missing table), `delete table`, then
//! the table, the set, the chain and the rule. The kernel applies the batch atomically, so
//! the rule is never seen half-built and a failed sync leaves the previous table in place; and
//! the same ranges give the same table however often it runs. The ranges are merged first
//! ([`Ipv4Net::aggregate`]): an interval set refuses overlapping elements. With no pod ranges
//! there is nothing to masquerade, and the table is removed.
//!
//! The batch is built with the `nftables` crate's typed JSON schema, but `nft` is run here
//! rather than by the crate's `apply_ruleset`, which lets nft's error messages go to the
//! agent's own stderr instead of returning them.

use std::borrow::Cow;
use std::collections::HashSet;

use ipnet::Ipv4Net;

use crate::network::nft::{self, NftError};
use nftables::batch::Batch;
use nftables::expr::{Expression, NamedExpression, Payload, PayloadField, Prefix};
use nftables::schema::{
    Chain, NfListObject, Nftables, Rule, Set, SetFlag, SetType, SetTypeValue, Table,
};
use nftables::stmt::{Match, Operator, Statement};
use nftables::types::{NfChainPolicy, NfChainType, NfFamily, NfHook};

/// flotilla's table, of family `ip`.
pub const TABLE: &str = "flotilla-pod-network";
/// The interval set of the cluster's pod ranges.
const SET: &str = "pod-ranges";
/// The NAT chain at the postrouting hook.
const CHAIN: &str = "postrouting";
/// The priority of source NAT (`srcnat`).
const SRCNAT_PRIORITY: i32 = 100;

/// Makes flotilla's table masquerade the traffic from `pod_ranges` to anything outside them,
/// in one atomic nft transaction. No pod ranges remove the table.
pub fn sync_masquerade(pod_ranges: &[Ipv4Net]) -> Result<(), NftError> {
    nft::apply(TABLE, &batch(pod_ranges))
}

/// Deletes flotilla's table, if it exists.
pub fn remove_masquerade() -> Result<(), NftError> {
    nft::apply(TABLE, &batch(&[]))
}

/// The transaction that rebuilds flotilla's table for `pod_ranges` (removes it if empty).
fn batch(pod_ranges: &[Ipv4Net]) -> Nftables<'static> {
    let ranges = Ipv4Net::aggregate(&pod_ranges.to_vec());
    let mut batch = Batch::new();
    batch.add(table());
    batch.delete(table());
    if ranges.is_empty() {
        return batch.to_nftables();
    }
    batch.add(table());
    batch.add(NfListObject::Set(Box::new(Set {
        family: NfFamily::IP,
        table: TABLE.into(),
        name: SET.into(),
        set_type: SetTypeValue::Single(SetType::Ipv4Addr),
        flags: Some(HashSet::from([SetFlag::Interval])),
        elem: Some(ranges.iter().map(|range| prefix(*range)).collect()),
        ..Set::default()
    })));
    batch.add(NfListObject::Chain(Chain {
        family: NfFamily::IP,
        table: TABLE.into(),
        name: CHAIN.into(),
        _type: Some(NfChainType::NAT),
        hook: Some(NfHook::Postrouting),
        prio: Some(SRCNAT_PRIORITY),
        policy: Some(NfChainPolicy::Accept),
        ..Chain::default()
    }));
    batch.add(NfListObject::Rule(Rule {
        family: NfFamily::IP,
        table: TABLE.into(),
        chain: CHAIN.into(),
        expr: Cow::Owned(masquerade_rule()),
        ..Rule::default()
    }));
    batch.to_nftables()
}

fn table() -> NfListObject<'static> {
    NfListObject::Table(Table {
        family: NfFamily::IP,
        name: TABLE.into(),
        handle: None,
    })
}

/// `ip saddr @pod-ranges ip daddr != @pod-ranges masquerade`
fn masquerade_rule() -> Vec<Statement<'static>> {
    let address_in_pod_ranges = |field: &'static str, op| {
        Statement::Match(Match {
            left: Expression::Named(NamedExpression::Payload(Payload::PayloadField(
                PayloadField {
                    protocol: "ip".into(),
                    field: field.into(),
                },
            ))),
            right: Expression::String(format!("@{SET}").into()),
            op,
        })
    };
    vec![
        address_in_pod_ranges("saddr", Operator::EQ),
        address_in_pod_ranges("daddr", Operator::NEQ),
        Statement::Masquerade(None),
    ]
}

fn prefix(range: Ipv4Net) -> Expression<'static> {
    Expression::Named(NamedExpression::Prefix(Prefix {
        addr: Box::new(Expression::String(range.network().to_string().into())),
        len: u32::from(range.prefix_len()),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn net(text: &str) -> Ipv4Net {
        text.parse().unwrap()
    }

    fn table_json() -> serde_json::Value {
        json!({"family": "ip", "name": "flotilla-pod-network"})
    }

    #[test]
    fn the_batch_rebuilds_the_table_with_merged_ranges() {
        let ranges = [
            net("10.244.1.0/24"),
            net("10.244.0.0/16"),
            net("10.250.0.7/32"),
            net("10.250.0.6/32"),
        ];
        let batch = serde_json::to_value(batch(&ranges)).unwrap();
        let expected = json!({"nftables": [
            {"add": {"table": table_json()}},
            {"delete": {"table": table_json()}},
            {"add": {"table": table_json()}},
            {"add": {"set": {
                "family": "ip",
                "table": "flotilla-pod-network",
                "name": "pod-ranges",
                "type": "ipv4_addr",
                "flags": ["interval"],
                "elem": [
                    {"prefix": {"addr": "10.244.0.0", "len": 16}},
                    {"prefix": {"addr": "10.250.0.6", "len": 31}},
                ],
            }}},
            {"add": {"chain": {
                "family": "ip",
                "table": "flotilla-pod-network",
                "name": "postrouting",
                "type": "nat",
                "hook": "postrouting",
                "prio": 100,
                "policy": "accept",
            }}},
            {"add": {"rule": {
                "family": "ip",
                "table": "flotilla-pod-network",
                "chain": "postrouting",
                "expr": [
                    {"match": {
                        "op": "==",
                        "left": {"payload": {"protocol": "ip", "field": "saddr"}},
                        "right": "@pod-ranges",
                    }},
                    {"match": {
                        "op": "!=",
                        "left": {"payload": {"protocol": "ip", "field": "daddr"}},
                        "right": "@pod-ranges",
                    }},
                    {"masquerade": null},
                ],
            }}},
        ]});
        assert_eq!(batch, expected);
    }

    #[test]
    fn no_pod_ranges_remove_the_table() {
        let batch = serde_json::to_value(batch(&[])).unwrap();
        let expected = json!({"nftables": [
            {"add": {"table": table_json()}},
            {"delete": {"table": table_json()}},
        ]});
        assert_eq!(batch, expected);
    }

    /// The set's elements and the rule's statements of flotilla's table, as nft lists them;
    /// `None` when there is no such table.
    fn listed() -> Option<(Vec<Expression<'static>>, Vec<Statement<'static>>)> {
        let ruleset = nftables::helper::get_current_ruleset().unwrap();
        let mut elements = None;
        let mut rules = Vec::new();
        let mut found = false;
        for object in ruleset.objects.iter() {
            let nftables::schema::NfObject::ListObject(object) = object else {
                continue;
            };
            match object {
                NfListObject::Table(table) if table.name == TABLE => found = true,
                NfListObject::Set(set) if set.table == TABLE && set.name == SET => {
                    elements = Some(set.elem.clone().unwrap_or_default().into_owned());
                }
                NfListObject::Rule(rule) if rule.table == TABLE && rule.chain == CHAIN => {
                    rules.push(rule.expr.clone().into_owned());
                }
                _ => {}
            }
        }
        if !found {
            return None;
        }
        assert_eq!(rules.len(), 1, "{rules:?}");
        Some((elements.unwrap_or_default(), rules.remove(0)))
    }

    #[test]
    fn the_masquerade_is_synced_in_a_network_namespace() {
        if !flotilla_test_policy::root_or_skip("the_masquerade_is_synced_in_a_network_namespace") {
            return;
        }
        std::thread::spawn(|| {
            nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
            // nft lists a /32 as a bare address.
            let address = |text: &str| Expression::String(text.to_owned().into());

            remove_masquerade().unwrap();
            assert_eq!(listed(), None);

            sync_masquerade(&[net("10.244.0.0/16"), net("10.96.0.1/32")]).unwrap();
            sync_masquerade(&[net("10.244.0.0/16"), net("10.96.0.1/32")]).unwrap();
            let (elements, rule) = listed().unwrap();
            assert_eq!(
                elements,
                [address("10.96.0.1"), prefix(net("10.244.0.0/16"))]
            );
            assert_eq!(rule, masquerade_rule());

            sync_masquerade(&[net("10.245.0.0/16"), net("10.245.3.0/24")]).unwrap();
            let (elements, rule) = listed().unwrap();
            assert_eq!(elements, [prefix(net("10.245.0.0/16"))]);
            assert_eq!(rule, masquerade_rule());

            sync_masquerade(&[]).unwrap();
            assert_eq!(listed(), None);
            sync_masquerade(&[net("10.244.0.0/16")]).unwrap();
            remove_masquerade().unwrap();
            remove_masquerade().unwrap();
            assert_eq!(listed(), None);
        })
        .join()
        .unwrap();
    }

    #[test]
    fn a_rejected_batch_reports_nfts_message() {
        if !flotilla_test_policy::root_or_skip("a_rejected_batch_reports_nfts_message") {
            return;
        }
        std::thread::spawn(|| {
            nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
            let mut batch = Batch::new();
            batch.delete(table());
            let error = nft::apply(TABLE, &batch.to_nftables()).unwrap_err();
            let text = error.to_string();
            assert!(
                text.starts_with("`nft -j -f -` failed for table ip flotilla-pod-network (exit"),
                "{text}"
            );
            assert!(text.contains("No such file or directory"), "{text}");
        })
        .join()
        .unwrap();
    }
}
