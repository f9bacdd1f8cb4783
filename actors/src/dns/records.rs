//! The cluster's DNS records, kept up to date from the Service and EndpointSlice watch events
//! and answering queries: the pure core of the DNS server, with no sockets and no clock.
//!
//! Each event recomputes the records of the one Service it concerns
//! ([`super::service_records`]) and files only the names whose records changed, so an event
//! costs what that Service publishes, not what the cluster does. Queries read a hash map keyed
//! by the lowercased name (names compare case-insensitively) whose entries hold each type's
//! answer ready to send, shared by `Arc`: a hit is one hash lookup and a reference count.
//!
//! Under the cluster domain (`cluster.local`) the store is the authority: a name no record
//! lives at, nor below, is NXDOMAIN — the search-path names pods try with `ndots:5`
//! (`web.default.svc.cluster.local.default.svc.cluster.local`) fail at once — and a name that
//! exists without the asked type is NODATA; both carry the zone's SOA. Beside the Services'
//! records the zone holds the schema's `dns-version` TXT, the SOA at its apex, and computes pod
//! names `10-42-1-7.<ns>.pod` → 10.42.1.7 for any namespace, without checking that such a pod
//! exists (CoreDNS's `pods insecure`, kube-dns's behaviour). The reverse names of ClusterIPs
//! and headless endpoints are answered too; every other name is forwarded upstream.
//!
//! An ExternalName Service is a CNAME: the store follows the alias while the target is its own
//! and hands the rest to the forwarder, so stub resolvers that do not chase CNAMEs (glibc,
//! musl) still get the addresses.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::Ipv4Addr;
use std::sync::Arc;

use hickory_server::proto::ProtoError;
use hickory_server::proto::op::ResponseCode;
use hickory_server::proto::rr::rdata::{A, SOA, TXT};
use hickory_server::proto::rr::{LowerName, Name, RData, Record, RecordType};

use flotilla_kernel::api::EventType;
use flotilla_kernel::object::{EndpointSlice, ObjectMeta, Service};

use super::service_records::{NameRecords, ServiceView, SliceView, TTL, service_records};

/// The version of the Kubernetes DNS schema served at `dns-version.<zone>`.
const SCHEMA_VERSION: &str = "1.1.0";
/// The SOA's own TTL and its negative-caching minimum: a name created just after a miss
/// resolves within seconds (CoreDNS's default; kubeadm's Corefile raises both to 30).
const NEGATIVE_TTL: u32 = 5;
/// How many aliases one answer follows before giving up (a loop of ExternalNames).
const MAX_ALIASES: usize = 8;

/// The cluster domain given is not a DNS name.
#[derive(Debug, thiserror::Error)]
#[error("the cluster domain {domain:?} is not a valid DNS name")]
pub struct InvalidDomain {
    domain: String,
    #[source]
    source: ProtoError,
}

/// Records to answer with: the records of the asked type, and those that help use them (the
/// addresses of SRV targets).
#[derive(Debug, Default, PartialEq)]
pub struct RecordSet {
    pub answers: Vec<Record>,
    pub additionals: Vec<Record>,
}

/// How to answer a query.
#[derive(Debug)]
pub enum Resolution {
    /// The store's own answer, authoritative: `answers` in order (the aliases followed, then
    /// the records), and the zone's SOA for a negative answer.
    Local {
        code: ResponseCode,
        answers: Vec<Arc<RecordSet>>,
        soa: Option<Arc<Record>>,
    },
    /// Not the store's: ask the upstream servers about `name` (the query's name, or the target
    /// of the `aliases` followed to it), and answer with the aliases before what they say.
    Forward {
        name: LowerName,
        aliases: Vec<Arc<RecordSet>>,
    },
}

/// The records of the cluster domain, built from Services and EndpointSlices.
pub struct RecordStore {
    zone: Zone,
    services: HashMap<ObjectKey, ServiceView>,
    slices: HashMap<ObjectKey, SliceView>,
    /// The names of each Service's slices (by the slices' service-name label).
    slices_by_service: HashMap<ObjectKey, BTreeSet<String>>,
    /// What each Service publishes now.
    published: HashMap<ObjectKey, BTreeMap<LowerName, NameRecords>>,
    /// Every name that has records or has names with records below it.
    names: HashMap<LowerName, NameNode>,
}

/// A namespaced object's namespace and name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct ObjectKey {
    namespace: String,
    name: String,
}

/// One name of the store.
#[derive(Debug, Default)]
struct NameNode {
    /// The Services publishing records here (almost always one).
    sources: BTreeSet<ObjectKey>,
    /// Their records merged, by type.
    sets: Vec<(RecordType, Arc<RecordSet>)>,
    /// Where the name's CNAME points.
    alias: Option<Name>,
    /// How many names with records are below this one: a name with only those is an empty
    /// non-terminal (NODATA, not NXDOMAIN).
    below: usize,
}

/// Step one of a resolution: what the store says about one name.
#[derive(Debug)]
enum Lookup {
    Found(Arc<RecordSet>),
    Alias(Arc<RecordSet>, Name),
    NoData,
    NxDomain,
    NotOurs,
}

/// The cluster domain and what it always holds.
struct Zone {
    apex: LowerName,
    apex_name: Name,
    svc: LowerName,
    pod: LowerName,
    version: LowerName,
    soa: Arc<Record>,
    soa_answer: Arc<RecordSet>,
    version_answer: Arc<RecordSet>,
}

impl ObjectKey {
    fn of(meta: &ObjectMeta) -> Self {
        Self {
            namespace: meta.namespace.clone(),
            name: meta.name.clone(),
        }
    }
}

impl RecordStore {
    /// An empty store for `cluster_domain` (`cluster.local`, with or without the final dot).
    pub fn new(cluster_domain: &str) -> Result<Self, InvalidDomain> {
        Ok(Self {
            zone: Zone::new(cluster_domain)?,
            services: HashMap::new(),
            slices: HashMap::new(),
            slices_by_service: HashMap::new(),
            published: HashMap::new(),
            names: HashMap::new(),
        })
    }

    /// Files a Service watch event.
    pub fn apply_service(&mut self, event: EventType, service: &Service) {
        let key = ObjectKey::of(&service.metadata);
        let view = (event != EventType::Deleted).then(|| ServiceView::of(service));
        if self.services.get(&key) == view.as_ref() {
            return;
        }
        match view {
            Some(view) => self.services.insert(key.clone(), view),
            None => self.services.remove(&key),
        };
        self.republish(&key);
    }

    /// Files an EndpointSlice watch event.
    pub fn apply_slice(&mut self, event: EventType, slice: &EndpointSlice) {
        let key = ObjectKey::of(&slice.metadata);
        let view = (event != EventType::Deleted).then(|| SliceView::of(slice));
        let old = self.slices.get(&key);
        if old == view.as_ref() {
            return;
        }
        let service_of = |view: &SliceView| {
            view.service().map(|name| ObjectKey {
                namespace: key.namespace.clone(),
                name: name.to_string(),
            })
        };
        let old_service = old.and_then(service_of);
        let new_service = view.as_ref().and_then(service_of);
        match view {
            Some(view) => self.slices.insert(key.clone(), view),
            None => self.slices.remove(&key),
        };
        if let Some(service) = &old_service
            && let Some(names) = self.slices_by_service.get_mut(service)
        {
            names.remove(&key.name);
            if names.is_empty() {
                self.slices_by_service.remove(service);
            }
        }
        if let Some(service) = &new_service {
            self.slices_by_service
                .entry(service.clone())
                .or_default()
                .insert(key.name.clone());
        }
        if let Some(service) = old_service.filter(|old| Some(old) != new_service.as_ref()) {
            self.republish(&service);
        }
        if let Some(service) = new_service {
            self.republish(&service);
        }
    }

    /// How to answer a query for `name` (case-insensitive, with or without the final dot) of
    /// type `query_type`, following aliases.
    pub fn resolve(&self, name: &LowerName, query_type: RecordType) -> Resolution {
        if !name.is_fqdn() {
            let mut absolute = name.clone();
            absolute.set_fqdn(true);
            return self.resolve(&absolute, query_type);
        }
        let mut aliases = Vec::new();
        let mut step = self.lookup(name, query_type);
        let mut target = None;
        loop {
            let (code, soa) = match step {
                Lookup::Found(set) => {
                    aliases.push(set);
                    (ResponseCode::NoError, None)
                }
                Lookup::NoData => (ResponseCode::NoError, Some(self.zone.soa.clone())),
                Lookup::NxDomain => (ResponseCode::NXDomain, Some(self.zone.soa.clone())),
                Lookup::NotOurs => {
                    return Resolution::Forward {
                        name: target.unwrap_or_else(|| name.clone()),
                        aliases,
                    };
                }
                Lookup::Alias(cname, next) => {
                    aliases.push(cname);
                    if aliases.len() > MAX_ALIASES {
                        (ResponseCode::ServFail, None)
                    } else {
                        let next = LowerName::new(&next);
                        step = self.lookup(&next, query_type);
                        target = Some(next);
                        continue;
                    }
                }
            };
            return Resolution::Local {
                code,
                answers: aliases,
                soa,
            };
        }
    }

    /// What the store holds at `name` (absolute), without following aliases.
    fn lookup(&self, name: &LowerName, query_type: RecordType) -> Lookup {
        if let Some(node) = self.names.get(name) {
            if let Some(target) = &node.alias
                && query_type != RecordType::CNAME
                && let Some(cname) = node.set(RecordType::CNAME)
            {
                return Lookup::Alias(cname, target.clone());
            }
            if let Some(set) = node.set(query_type) {
                return Lookup::Found(set);
            }
            if query_type == RecordType::ANY && !node.sets.is_empty() {
                return Lookup::Found(Arc::new(merged(node.sets.iter().map(|(_, set)| set))));
            }
            // A reverse name of ours asked for another type is the upstream's business.
            return if self.zone.apex.zone_of(name) {
                Lookup::NoData
            } else {
                Lookup::NotOurs
            };
        }
        if !self.zone.apex.zone_of(name) {
            return Lookup::NotOurs;
        }
        self.zone.lookup(name, query_type)
    }

    /// Recomputes what Service `key` publishes and files the names that changed.
    fn republish(&mut self, key: &ObjectKey) {
        let new = match self.services.get(key) {
            Some(service) => {
                let slices = self
                    .slices_by_service
                    .get(key)
                    .into_iter()
                    .flatten()
                    .filter_map(|name| {
                        self.slices.get(&ObjectKey {
                            namespace: key.namespace.clone(),
                            name: name.clone(),
                        })
                    });
                service_records(
                    &self.zone.apex_name,
                    &key.namespace,
                    &key.name,
                    service,
                    slices,
                )
            }
            None => BTreeMap::new(),
        };
        let old = self.published.remove(key).unwrap_or_default();
        let changed: Vec<LowerName> = old
            .iter()
            .filter(|(name, records)| new.get(*name) != Some(*records))
            .map(|(name, _)| name.clone())
            .chain(new.keys().filter(|name| !old.contains_key(*name)).cloned())
            .collect();
        if !new.is_empty() {
            self.published.insert(key.clone(), new);
        }
        for name in changed {
            self.refile(&name, key);
        }
    }

    /// Brings `name` up to date with what Service `key` publishes there now.
    fn refile(&mut self, name: &LowerName, key: &ObjectKey) {
        let publishes = self
            .published
            .get(key)
            .is_some_and(|names| names.contains_key(name));
        let node = self.names.entry(name.clone()).or_default();
        let had_records = !node.sources.is_empty();
        if publishes {
            node.sources.insert(key.clone());
        } else {
            node.sources.remove(key);
        }
        let has_records = !node.sources.is_empty();
        let sources: Vec<&NameRecords> = node
            .sources
            .iter()
            .filter_map(|source| self.published.get(source)?.get(name))
            .collect();
        node.compile(&sources);
        let unused = !has_records && node.below == 0;
        if unused {
            self.names.remove(name);
        }
        if had_records != has_records {
            self.count_below(name, has_records);
        }
    }

    /// Counts a name that gained (or lost) its records in the names above it, up to the zone's
    /// apex; reverse names have none.
    fn count_below(&mut self, name: &LowerName, gained: bool) {
        if !self.zone.apex.zone_of(name) {
            return;
        }
        let mut above = name.base_name();
        while above.num_labels() > self.zone.apex.num_labels() {
            let node = self.names.entry(above.clone()).or_default();
            if gained {
                node.below += 1;
            } else {
                node.below = node.below.saturating_sub(1);
                if node.below == 0 && node.sources.is_empty() {
                    self.names.remove(&above);
                }
            }
            above = above.base_name();
        }
    }
}

impl NameNode {
    fn set(&self, query_type: RecordType) -> Option<Arc<RecordSet>> {
        self.sets
            .iter()
            .find(|(record_type, _)| *record_type == query_type)
            .map(|(_, set)| set.clone())
    }

    /// Merges the records the sources publish here into one answer per type.
    fn compile(&mut self, sources: &[&NameRecords]) {
        let mut sets: Vec<(RecordType, RecordSet)> = Vec::new();
        for source in sources {
            for record in &source.records {
                let record_type = record.record_type();
                let index = match sets.iter().position(|(kind, _)| *kind == record_type) {
                    Some(index) => index,
                    None => {
                        sets.push((record_type, RecordSet::default()));
                        sets.len() - 1
                    }
                };
                let set = &mut sets[index].1;
                if !set.answers.contains(record) {
                    set.answers.push(record.clone());
                }
                if record_type == RecordType::SRV {
                    for additional in &source.additionals {
                        if !set.additionals.contains(additional) {
                            set.additionals.push(additional.clone());
                        }
                    }
                }
            }
        }
        self.alias = sets
            .iter()
            .flat_map(|(_, set)| &set.answers)
            .find_map(|record| match &record.data {
                RData::CNAME(target) => Some(target.0.clone()),
                _ => None,
            });
        self.sets = sets
            .into_iter()
            .map(|(record_type, set)| (record_type, Arc::new(set)))
            .collect();
    }
}

impl Zone {
    fn new(domain: &str) -> Result<Self, InvalidDomain> {
        let invalid = |source| InvalidDomain {
            domain: domain.to_string(),
            source,
        };
        let mut apex_name = Name::from_ascii(domain).map_err(invalid)?;
        apex_name.set_fqdn(true);
        if apex_name.is_root() {
            return Err(invalid(ProtoError::from(
                "the root is not a cluster domain",
            )));
        }
        let apex_name = apex_name.to_lowercase();
        let under = |label: &str| {
            Name::from_ascii(label)
                .and_then(|name| name.append_domain(&apex_name))
                .map_err(invalid)
        };
        let soa = Record::from_rdata(
            apex_name.clone(),
            NEGATIVE_TTL,
            RData::SOA(SOA::new(
                under("ns.dns")?,
                under("hostmaster")?,
                // Nothing transfers the zone, so nothing compares serials.
                1,
                7200,
                1800,
                86400,
                NEGATIVE_TTL,
            )),
        );
        let version_name = under("dns-version")?;
        let version = Record::from_rdata(
            version_name.clone(),
            TTL,
            RData::TXT(TXT::new(vec![SCHEMA_VERSION.to_string()])),
        );
        Ok(Self {
            apex: LowerName::new(&apex_name),
            svc: LowerName::new(&under("svc")?),
            pod: LowerName::new(&under("pod")?),
            version: LowerName::new(&version_name),
            soa_answer: Arc::new(RecordSet {
                answers: vec![soa.clone()],
                additionals: Vec::new(),
            }),
            soa: Arc::new(soa),
            version_answer: Arc::new(RecordSet {
                answers: vec![version],
                additionals: Vec::new(),
            }),
            apex_name,
        })
    }

    /// The zone's own names, for a `name` under the apex that no Service publishes.
    fn lookup(&self, name: &LowerName, query_type: RecordType) -> Lookup {
        let wants = |record_type| query_type == record_type || query_type == RecordType::ANY;
        if *name == self.apex {
            return if wants(RecordType::SOA) {
                Lookup::Found(self.soa_answer.clone())
            } else {
                Lookup::NoData
            };
        }
        if *name == self.version {
            return if wants(RecordType::TXT) {
                Lookup::Found(self.version_answer.clone())
            } else {
                Lookup::NoData
            };
        }
        if *name == self.svc || *name == self.pod {
            return Lookup::NoData;
        }
        if self.pod.zone_of(name) {
            match name.num_labels().saturating_sub(self.pod.num_labels()) {
                // `<ns>.pod.<zone>`: any namespace may have pods.
                1 => return Lookup::NoData,
                2 => {
                    if let Some(ip) = name.iter().next().and_then(undashed) {
                        return if wants(RecordType::A) {
                            let record = Record::from_rdata((**name).clone(), TTL, RData::A(A(ip)));
                            Lookup::Found(Arc::new(RecordSet {
                                answers: vec![record],
                                additionals: Vec::new(),
                            }))
                        } else {
                            Lookup::NoData
                        };
                    }
                }
                _ => {}
            }
        }
        Lookup::NxDomain
    }
}

/// `10-42-1-7` → 10.42.1.7.
fn undashed(label: &[u8]) -> Option<Ipv4Addr> {
    let text = std::str::from_utf8(label).ok()?;
    let mut octets = [0u8; 4];
    let mut parts = text.split('-');
    for octet in &mut octets {
        let part = parts.next()?;
        if part.is_empty() || !part.bytes().all(|byte| byte.is_ascii_digit()) {
            return None;
        }
        *octet = part.parse().ok()?;
    }
    parts.next().is_none().then_some(Ipv4Addr::from(octets))
}

/// Every record of `sets` in one answer (a query for ANY).
fn merged<'a>(sets: impl Iterator<Item = &'a Arc<RecordSet>>) -> RecordSet {
    let mut all = RecordSet::default();
    for set in sets {
        all.answers.extend(set.answers.iter().cloned());
        all.additionals.extend(set.additionals.iter().cloned());
    }
    all
}

#[cfg(test)]
mod tests;
