//! The pure core of the proxy, part two: the table as planned, Service by Service, and the
//! difference between two plans as one incremental update.
//!
//! A [`Ruleset`] holds each Service's [`ServiceRules`] by `namespace/name`. Chains and affinity
//! sets belong to one Service (their names say which), but map and set elements may be wanted
//! by several: an endpoint's address is in the hairpin set while any Service sends to it, and
//! two Services may claim one destination for a moment (one deleted, one created with its
//! address, seen out of order). Such elements are kept as claims: an element is in the table
//! while someone claims it, with the value of the first claimant by key, so the table is the
//! same whatever order the Services came in, and never holds two values for one key.
//!
//! [`Ruleset::update`] replaces some Services' rules and returns the [`Changes`] that bring the
//! table from the old plan to the new one, touching only those Services' chains, sets and
//! elements: its cost is that of the Services changed, not of the table. [`Ruleset::table`] is
//! the whole table, for a full resync.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::hash::Hash;
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

use flotilla_node_os::network::service_table::{Chain, Changes, Destination, Rule, Table, Verdict};

use super::plan::ServiceRules;

/// The table as planned.
#[derive(Debug, Default)]
pub struct Ruleset {
    services: HashMap<String, ServiceRules>,
    routes: Claims<Destination, Verdict>,
    cluster_ips: Claims<Ipv4Addr, ()>,
    hairpin: Claims<Ipv4Addr, ()>,
    pod_ranges: Vec<Ipv4Net>,
}

impl Ruleset {
    /// A plan of `services` (by `namespace/name`) with `pod_ranges`.
    pub fn new(
        services: impl IntoIterator<Item = (String, ServiceRules)>,
        pod_ranges: Vec<Ipv4Net>,
    ) -> Ruleset {
        let mut ruleset = Ruleset {
            pod_ranges: normalized(pod_ranges),
            ..Ruleset::default()
        };
        for (key, rules) in services {
            ruleset.claim(&key, &rules);
            ruleset.services.insert(key, rules);
        }
        ruleset
    }

    /// The whole table.
    pub fn table(&self) -> Table {
        let mut table = Table {
            pod_ranges: self.pod_ranges.clone(),
            cluster_ips: self.cluster_ips.keys().copied().collect(),
            hairpin: self.hairpin.keys().copied().collect(),
            routes: self
                .routes
                .effective()
                .map(|(destination, verdict)| (*destination, verdict.clone()))
                .collect(),
            ..Table::default()
        };
        for rules in self.services.values() {
            table.chains.extend(rules.chains.iter().cloned());
            table
                .affinity_sets
                .extend(rules.affinity_sets.iter().cloned());
        }
        table
    }

    /// Replaces the rules of the Services in `services` (`None`: it has none, or is gone) and,
    /// when given, the pod ranges; returns what changes in the table.
    pub fn update(
        &mut self,
        services: impl IntoIterator<Item = (String, Option<ServiceRules>)>,
        pod_ranges: Option<Vec<Ipv4Net>>,
    ) -> Changes {
        let mut changes = Changes::default();
        // Shared elements are compared before and after the whole update, so that one
        // Service's release and another's claim of the same key make one change, or none.
        let mut routes_before = HashMap::new();
        let mut cluster_ips_before = HashMap::new();
        let mut hairpin_before = HashMap::new();
        for (key, new) in services {
            let old = self.services.remove(&key);
            if old == new {
                if let Some(rules) = old {
                    self.services.insert(key, rules);
                }
                continue;
            }
            let (old, new) = (old.unwrap_or_default(), new.unwrap_or_default());
            service_changes(&old, &new, &mut changes);
            remember(
                &mut routes_before,
                &self.routes,
                old.routes.iter().map(|(d, _)| d),
            );
            remember(
                &mut routes_before,
                &self.routes,
                new.routes.iter().map(|(d, _)| d),
            );
            remember(
                &mut cluster_ips_before,
                &self.cluster_ips,
                old.cluster_ip.iter(),
            );
            remember(
                &mut cluster_ips_before,
                &self.cluster_ips,
                new.cluster_ip.iter(),
            );
            remember(&mut hairpin_before, &self.hairpin, old.endpoints.iter());
            remember(&mut hairpin_before, &self.hairpin, new.endpoints.iter());
            self.release(&key, &old);
            self.claim(&key, &new);
            if new != ServiceRules::default() {
                self.services.insert(key, new);
            }
        }
        for (destination, before) in routes_before {
            let after = self.routes.value(&destination).cloned();
            if before != after {
                if let Some(verdict) = before {
                    changes.removed_routes.push((destination, verdict));
                }
                if let Some(verdict) = after {
                    changes.added_routes.push((destination, verdict));
                }
            }
        }
        for (address, before) in cluster_ips_before {
            match (before.is_some(), self.cluster_ips.value(&address).is_some()) {
                (true, false) => changes.removed_cluster_ips.push(address),
                (false, true) => changes.added_cluster_ips.push(address),
                _ => {}
            }
        }
        for (address, before) in hairpin_before {
            match (before.is_some(), self.hairpin.value(&address).is_some()) {
                (true, false) => changes.removed_hairpin.push(address),
                (false, true) => changes.added_hairpin.push(address),
                _ => {}
            }
        }
        if let Some(ranges) = pod_ranges.map(normalized)
            && ranges != self.pod_ranges
        {
            self.pod_ranges = ranges.clone();
            changes.pod_ranges = Some(ranges);
        }
        changes
    }

    fn claim(&mut self, key: &str, rules: &ServiceRules) {
        for (destination, verdict) in &rules.routes {
            self.routes.claim(*destination, key, verdict.clone());
        }
        if let Some(address) = rules.cluster_ip {
            self.cluster_ips.claim(address, key, ());
        }
        for address in &rules.endpoints {
            self.hairpin.claim(*address, key, ());
        }
    }

    fn release(&mut self, key: &str, rules: &ServiceRules) {
        for (destination, _) in &rules.routes {
            self.routes.release(destination, key);
        }
        if let Some(address) = &rules.cluster_ip {
            self.cluster_ips.release(address, key);
        }
        for address in &rules.endpoints {
            self.hairpin.release(address, key);
        }
    }
}

/// The chains and affinity sets that change from `old` to `new` (the rules of one Service).
fn service_changes(old: &ServiceRules, new: &ServiceRules, changes: &mut Changes) {
    let old_sets: HashMap<&str, u32> = old
        .affinity_sets
        .iter()
        .map(|set| (set.name.as_str(), set.timeout_seconds))
        .collect();
    let new_sets: HashMap<&str, u32> = new
        .affinity_sets
        .iter()
        .map(|set| (set.name.as_str(), set.timeout_seconds))
        .collect();
    // A set whose timeout changes is deleted and made again; the rules that use it go first.
    let mut redefined = BTreeSet::new();
    for set in &old.affinity_sets {
        match new_sets.get(set.name.as_str()) {
            Some(timeout) if *timeout == set.timeout_seconds => {}
            Some(_) => {
                redefined.insert(set.name.as_str());
                changes.removed_affinity_sets.push(set.name.clone());
            }
            None => changes.removed_affinity_sets.push(set.name.clone()),
        }
    }
    for set in &new.affinity_sets {
        if old_sets.get(set.name.as_str()) != Some(&set.timeout_seconds) {
            changes.added_affinity_sets.push(set.clone());
        }
    }
    let old_chains: HashMap<&str, &Vec<Rule>> = old
        .chains
        .iter()
        .map(|chain| (chain.name.as_str(), &chain.rules))
        .collect();
    let new_chains: BTreeSet<&str> = new.chains.iter().map(|chain| chain.name.as_str()).collect();
    for chain in &old.chains {
        if !new_chains.contains(chain.name.as_str()) {
            changes.removed_chains.push(chain.name.clone());
        }
    }
    for chain in &new.chains {
        match old_chains.get(chain.name.as_str()) {
            None => changes.added_chains.push(chain.clone()),
            Some(rules) if *rules != &chain.rules || uses_any(chain, &redefined) => {
                changes.rewritten_chains.push(chain.clone());
            }
            Some(_) => {}
        }
    }
}

/// Whether a rule of `chain` uses one of `sets`.
fn uses_any(chain: &Chain, sets: &BTreeSet<&str>) -> bool {
    chain.rules.iter().any(|rule| match rule {
        Rule::Sticky { affinity, .. } => sets.contains(affinity.as_str()),
        Rule::Pick { affinity, .. } => affinity.as_deref().is_some_and(|set| sets.contains(set)),
        Rule::Masquerade(_) | Rule::Goto(_) => false,
    })
}

/// Notes the value of each of `keys` in `claims`, unless noted already.
fn remember<'a, K: Hash + Eq + Copy + 'a, V: Clone>(
    before: &mut HashMap<K, Option<V>>,
    claims: &Claims<K, V>,
    keys: impl Iterator<Item = &'a K>,
) {
    for key in keys {
        before
            .entry(*key)
            .or_insert_with(|| claims.value(key).cloned());
    }
}

fn normalized(mut ranges: Vec<Ipv4Net>) -> Vec<Ipv4Net> {
    ranges.sort();
    ranges.dedup();
    ranges
}

/// Elements that Services claim: each key with a value per claimant, in key order.
#[derive(Debug)]
struct Claims<K, V> {
    by_key: HashMap<K, BTreeMap<String, V>>,
}

impl<K, V> Default for Claims<K, V> {
    fn default() -> Self {
        Claims {
            by_key: HashMap::new(),
        }
    }
}

impl<K: Hash + Eq, V> Claims<K, V> {
    /// The value in effect for `key`: its first claimant's.
    fn value(&self, key: &K) -> Option<&V> {
        self.by_key.get(key)?.values().next()
    }

    fn keys(&self) -> impl Iterator<Item = &K> {
        self.by_key.keys()
    }

    fn effective(&self) -> impl Iterator<Item = (&K, &V)> {
        self.by_key
            .iter()
            .filter_map(|(key, claims)| Some((key, claims.values().next()?)))
    }

    fn claim(&mut self, key: K, owner: &str, value: V) {
        self.by_key
            .entry(key)
            .or_default()
            .insert(owner.to_owned(), value);
    }

    fn release(&mut self, key: &K, owner: &str) {
        if let Some(claims) = self.by_key.get_mut(key) {
            claims.remove(owner);
            if claims.is_empty() {
                self.by_key.remove(key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proxy::plan::service_rules;
    use flotilla_kernel::object::{
        Endpoint, EndpointConditions, EndpointPort, EndpointSlice, ObjectMeta, SERVICE_NAME_LABEL,
        Service, ServicePort, ServiceSpec,
    };
    use flotilla_node_os::network::service_table::{AffinitySet, Protocol};

    /// The rules of Service `name` at `cluster_ip`, port 80 to 8080 on `endpoints`.
    fn rules(name: &str, cluster_ip: &str, endpoints: &[&str]) -> ServiceRules {
        let service = Service {
            metadata: ObjectMeta {
                name: name.into(),
                namespace: "default".into(),
                ..ObjectMeta::default()
            },
            spec: ServiceSpec {
                cluster_ip: cluster_ip.into(),
                ports: vec![ServicePort {
                    port: 80,
                    ..ServicePort::default()
                }],
                ..ServiceSpec::default()
            },
            ..Service::default()
        };
        let slice = EndpointSlice {
            metadata: ObjectMeta {
                name: format!("{name}-1"),
                namespace: "default".into(),
                labels: [(SERVICE_NAME_LABEL.to_string(), name.to_string())].into(),
                ..ObjectMeta::default()
            },
            endpoints: endpoints
                .iter()
                .map(|address| Endpoint {
                    addresses: vec![(*address).into()],
                    conditions: EndpointConditions::default(),
                    ..Endpoint::default()
                })
                .collect(),
            ports: vec![EndpointPort {
                port: Some(8080),
                ..EndpointPort::default()
            }],
            ..EndpointSlice::default()
        };
        service_rules("n1", &service, &[&slice]).unwrap()
    }

    /// `rules` (of Service web, one endpoint) with `sessionAffinity: ClientIP`.
    fn with_affinity(mut rules: ServiceRules, timeout_seconds: u32) -> ServiceRules {
        rules.affinity_sets = vec![AffinitySet {
            name: "aff-default/web/tcp/80/10.42.1.5/8080".into(),
            timeout_seconds,
        }];
        if let Rule::Pick { affinity, .. } = &mut rules.chains[0].rules[1] {
            *affinity = Some("aff-default/web/tcp/80/10.42.1.5/8080".into());
        }
        rules
    }

    fn address(text: &str) -> Ipv4Addr {
        text.parse().unwrap()
    }

    fn vip(text: &str) -> Destination {
        Destination::ClusterIp {
            address: address(text),
            protocol: Protocol::Tcp,
            port: 80,
        }
    }

    /// A plan of Services `web0`…`web{n-1}`, each with two endpoints.
    fn many(n: u8) -> Ruleset {
        Ruleset::new(
            (0..n).map(|i| {
                (
                    format!("default/web{i}"),
                    rules(
                        &format!("web{i}"),
                        &format!("10.43.0.{i}"),
                        &[&format!("10.42.{i}.1"), &format!("10.42.{i}.2")],
                    ),
                )
            }),
            vec!["10.42.0.0/16".parse().unwrap()],
        )
    }

    #[test]
    fn a_changed_service_is_all_the_update_holds() {
        let mut ruleset = many(50);
        let changed = rules("web7", "10.43.0.7", &["10.42.7.1", "10.42.7.3"]);
        let changes = ruleset.update([("default/web7".to_string(), Some(changed.clone()))], None);
        assert_eq!(
            changes,
            Changes {
                rewritten_chains: changed.chains.clone(),
                removed_hairpin: vec![address("10.42.7.2")],
                added_hairpin: vec![address("10.42.7.3")],
                ..Changes::default()
            }
        );
        // The same again changes nothing.
        let changes = ruleset.update([("default/web7".to_string(), Some(changed))], None);
        assert!(changes.is_empty(), "{changes:?}");
        let changes = ruleset.update([], Some(vec!["10.42.0.0/16".parse().unwrap()]));
        assert!(changes.is_empty(), "{changes:?}");
    }

    #[test]
    fn a_removed_service_takes_its_chains_and_elements() {
        let mut ruleset = many(3);
        let changes = ruleset.update([("default/web1".to_string(), None)], None);
        let mut hairpin = changes.removed_hairpin.clone();
        hairpin.sort();
        assert_eq!(hairpin, [address("10.42.1.1"), address("10.42.1.2")]);
        assert_eq!(changes.removed_chains, ["svc-default/web1/tcp/80"]);
        assert_eq!(
            changes.removed_routes,
            [(
                vip("10.43.0.1"),
                Verdict::Goto("svc-default/web1/tcp/80".into())
            )]
        );
        assert_eq!(changes.removed_cluster_ips, [address("10.43.0.1")]);
        assert!(changes.added_chains.is_empty() && changes.added_routes.is_empty());
        assert_eq!(ruleset.table().chains.len(), 2);
    }

    #[test]
    fn losing_every_endpoint_turns_the_route_into_a_reject() {
        let mut ruleset = many(2);
        let changes = ruleset.update(
            [(
                "default/web0".to_string(),
                Some(rules("web0", "10.43.0.0", &[])),
            )],
            None,
        );
        let chain = "svc-default/web0/tcp/80";
        assert_eq!(changes.removed_chains, [chain]);
        assert_eq!(
            changes.removed_routes,
            [(vip("10.43.0.0"), Verdict::Goto(chain.into()))]
        );
        assert_eq!(changes.added_routes, [(vip("10.43.0.0"), Verdict::Reject)]);
        assert!(changes.removed_cluster_ips.is_empty());
    }

    #[test]
    fn a_new_affinity_timeout_makes_the_set_again_and_rewrites_its_users() {
        let web = with_affinity(rules("web", "10.43.0.1", &["10.42.1.5"]), 60);
        let mut ruleset = Ruleset::new([("default/web".to_string(), web.clone())], vec![]);
        assert_eq!(ruleset.table().affinity_sets, web.affinity_sets);
        let longer = with_affinity(rules("web", "10.43.0.1", &["10.42.1.5"]), 120);
        let changes = ruleset.update([("default/web".to_string(), Some(longer.clone()))], None);
        assert_eq!(
            changes,
            Changes {
                removed_affinity_sets: vec!["aff-default/web/tcp/80/10.42.1.5/8080".into()],
                added_affinity_sets: longer.affinity_sets.clone(),
                rewritten_chains: longer.chains.clone(),
                ..Changes::default()
            }
        );
        let changes = ruleset.update(
            [(
                "default/web".to_string(),
                Some(rules("web", "10.43.0.1", &["10.42.1.5"])),
            )],
            None,
        );
        assert_eq!(
            changes.removed_affinity_sets,
            ["aff-default/web/tcp/80/10.42.1.5/8080"]
        );
        assert!(changes.added_affinity_sets.is_empty());
        assert_eq!(changes.rewritten_chains.len(), 1);
    }

    #[test]
    fn shared_elements_stay_while_anyone_claims_them() {
        // Two Services send to one pod; a third claims web's address for a moment.
        let mut ruleset = Ruleset::new(
            [
                (
                    "default/a".to_string(),
                    rules("a", "10.43.0.1", &["10.42.1.5"]),
                ),
                (
                    "default/b".to_string(),
                    rules("b", "10.43.0.2", &["10.42.1.5"]),
                ),
            ],
            vec![],
        );
        assert_eq!(ruleset.table().hairpin, [address("10.42.1.5")]);
        let changes = ruleset.update([("default/a".to_string(), None)], None);
        assert!(changes.removed_hairpin.is_empty(), "{changes:?}");
        let changes = ruleset.update([("default/b".to_string(), None)], None);
        assert_eq!(changes.removed_hairpin, [address("10.42.1.5")]);

        // c takes 10.43.0.9 while z still holds it: the first by key wins, then c has it.
        let z = rules("z", "10.43.0.9", &["10.42.9.9"]);
        let c = rules("c", "10.43.0.9", &["10.42.3.3"]);
        ruleset.update([("default/z".to_string(), Some(z))], None);
        let changes = ruleset.update([("default/c".to_string(), Some(c))], None);
        let c_chain = Verdict::Goto("svc-default/c/tcp/80".into());
        let z_chain = Verdict::Goto("svc-default/z/tcp/80".into());
        assert_eq!(changes.removed_routes, [(vip("10.43.0.9"), z_chain)]);
        assert_eq!(changes.added_routes, [(vip("10.43.0.9"), c_chain.clone())]);
        let changes = ruleset.update([("default/z".to_string(), None)], None);
        assert!(changes.removed_routes.is_empty() && changes.added_routes.is_empty());
        assert!(changes.removed_cluster_ips.is_empty());
        assert_eq!(ruleset.table().routes, [(vip("10.43.0.9"), c_chain)]);
    }

    #[test]
    fn a_release_and_a_claim_in_one_update_make_no_change() {
        let mut ruleset = Ruleset::new(
            [(
                "default/old".to_string(),
                rules("old", "10.43.0.1", &["10.42.1.5"]),
            )],
            vec![],
        );
        let changes = ruleset.update(
            [
                (
                    "default/new".to_string(),
                    Some(rules("new", "10.43.0.1", &["10.42.1.5"])),
                ),
                ("default/old".to_string(), None),
            ],
            None,
        );
        assert!(changes.removed_cluster_ips.is_empty() && changes.added_cluster_ips.is_empty());
        assert!(changes.removed_hairpin.is_empty() && changes.added_hairpin.is_empty());
        // The address moves from old's chain to new's: one removal, one addition.
        assert_eq!(changes.removed_routes.len(), 1);
        assert_eq!(
            changes.added_routes,
            [(
                vip("10.43.0.1"),
                Verdict::Goto("svc-default/new/tcp/80".into())
            )]
        );
        assert_eq!(changes.removed_chains, ["svc-default/old/tcp/80"]);
        assert_eq!(changes.added_chains.len(), 1);
    }

    #[test]
    fn pod_ranges_change_when_the_set_does() {
        let mut ruleset = many(1);
        let changes = ruleset.update(
            [],
            Some(vec![
                "10.44.0.0/16".parse().unwrap(),
                "10.42.0.0/16".parse().unwrap(),
            ]),
        );
        assert_eq!(
            changes.pod_ranges,
            Some(vec![
                "10.42.0.0/16".parse().unwrap(),
                "10.44.0.0/16".parse().unwrap()
            ])
        );
        assert_eq!(ruleset.table().pod_ranges.len(), 2);
    }
}
