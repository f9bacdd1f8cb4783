//! The records one Service publishes, computed from the Service and its EndpointSlices after
//! the Kubernetes DNS specification (schema 1.1.0), and after CoreDNS's `kubernetes` plug-in
//! where the specification leaves a choice. A plain function of its inputs: the store
//! ([`super::records`]) calls it again whenever one of them changes and files the difference.
//!
//! What a Service `web` in `default` publishes under `cluster.local`:
//! - ClusterIP: `web.default.svc` A → the ClusterIP, its PTR, and per named port
//!   `_http._tcp.web.default.svc` SRV `0 100 <port> web.default.svc` (the A as additional);
//! - headless: `web.default.svc` A → every published endpoint, per named port one SRV per
//!   endpoint whose target is the endpoint's name, and a PTR per endpoint. With no published
//!   endpoint it publishes nothing (the specification asks for NXDOMAIN);
//! - headless: `<endpoint>.web.default.svc` A for each published endpoint, named by its
//!   `hostname` or else by its address (`10-42-1-7`), as CoreDNS does; ClusterIP: the same
//!   for the endpoints with a `hostname` only (pods whose `subdomain` is the Service), so
//!   that the many pods behind ordinary Services cost no names;
//! - ExternalName: `web.default.svc` CNAME → `spec.externalName`.
//!
//! An endpoint is published when it is ready, or always when the Service sets
//! `publishNotReadyAddresses`. The cluster is IPv4-only: IPv6 addresses are ignored.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;

use hickory_server::proto::rr::rdata::{A, CNAME, PTR, SRV};
use hickory_server::proto::rr::{Label, LowerName, Name, RData, Record};

use flotilla_kernel::object::{AddressType, EndpointSlice, Service, ServiceType};

/// The TTL of every record (CoreDNS's default).
pub const TTL: u32 = 5;
/// SRV priority and weight: every target is as good as the others.
const SRV_PRIORITY: u16 = 0;
const SRV_WEIGHT: u16 = 100;

/// What of a Service the DNS reads.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct ServiceView {
    address: Address,
    /// The named ports (unnamed ones have no SRV record).
    ports: Vec<NamedPort>,
    publish_not_ready: bool,
}

#[derive(Debug, Clone, PartialEq)]
enum Address {
    ClusterIp(Ipv4Addr),
    Headless,
    ExternalName(Name),
    /// No address yet (or not an IPv4 one): the Service has no name.
    Unnamed,
}

#[derive(Debug, Clone, PartialEq)]
struct NamedPort {
    /// The port's name, lowercased.
    name: String,
    /// `tcp`, `udp` or `sctp`.
    protocol: String,
    port: u16,
}

/// What of an EndpointSlice the DNS reads.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct SliceView {
    service: Option<String>,
    endpoints: Vec<EndpointView>,
    /// The ports by name and protocol (lowercased), with their numbers on the endpoints.
    ports: Vec<(String, String, Option<u16>)>,
}

#[derive(Debug, Clone, PartialEq)]
struct EndpointView {
    ip: Ipv4Addr,
    hostname: Option<String>,
    ready: bool,
}

/// The records a Service publishes at one name. `additionals` go with the SRV answers: the
/// addresses of their targets.
#[derive(Debug, Clone, PartialEq, Default)]
pub(super) struct NameRecords {
    pub records: Vec<Record>,
    pub additionals: Vec<Record>,
}

impl ServiceView {
    pub(super) fn of(service: &Service) -> Self {
        let spec = &service.spec;
        let address = if spec.type_ == ServiceType::ExternalName {
            absolute_name(&spec.external_name).map_or(Address::Unnamed, Address::ExternalName)
        } else if spec.is_headless() {
            Address::Headless
        } else {
            spec.cluster_ip
                .parse()
                .map_or(Address::Unnamed, Address::ClusterIp)
        };
        let ports = spec
            .ports
            .iter()
            .filter(|port| !port.name.is_empty())
            .filter_map(|port| {
                Some(NamedPort {
                    name: port.name.to_ascii_lowercase(),
                    protocol: port.protocol().to_ascii_lowercase(),
                    port: u16::try_from(port.port).ok().filter(|port| *port != 0)?,
                })
            })
            .collect();
        Self {
            address,
            ports,
            publish_not_ready: spec.publish_not_ready_addresses,
        }
    }
}

impl SliceView {
    pub(super) fn of(slice: &EndpointSlice) -> Self {
        let endpoints = if slice.address_type == AddressType::Ipv4 {
            slice
                .endpoints
                .iter()
                .filter_map(|endpoint| {
                    // Consumers use the first address.
                    let ip = endpoint.addresses.first()?.parse().ok()?;
                    Some(EndpointView {
                        ip,
                        hostname: endpoint
                            .hostname
                            .as_ref()
                            .filter(|hostname| !hostname.is_empty())
                            .map(|hostname| hostname.to_ascii_lowercase()),
                        ready: endpoint.conditions.is_ready(),
                    })
                })
                .collect()
        } else {
            Vec::new()
        };
        let ports = slice
            .ports
            .iter()
            .map(|port| {
                let protocol = if port.protocol.is_empty() {
                    "tcp".to_string()
                } else {
                    port.protocol.to_ascii_lowercase()
                };
                let number = port.port.and_then(|number| u16::try_from(number).ok());
                (port.name.to_ascii_lowercase(), protocol, number)
            })
            .collect();
        Self {
            service: slice.service_name().map(str::to_string),
            endpoints,
            ports,
        }
    }

    /// The Service the slice belongs to.
    pub(super) fn service(&self) -> Option<&str> {
        self.service.as_deref()
    }

    /// The number the endpoints serve the named Service port on.
    fn port_number(&self, port: &NamedPort) -> Option<u16> {
        self.ports
            .iter()
            .find(|(name, protocol, _)| *name == port.name && *protocol == port.protocol)
            .and_then(|(_, _, number)| *number)
    }
}

/// The records Service `namespace/name` publishes, by name, given its EndpointSlices.
pub(super) fn service_records<'a>(
    zone: &Name,
    namespace: &str,
    name: &str,
    service: &ServiceView,
    slices: impl Iterator<Item = &'a SliceView>,
) -> BTreeMap<LowerName, NameRecords> {
    let mut names = Names::default();
    let Some(base) = child(zone, "svc")
        .and_then(|svc| child(&svc, namespace))
        .and_then(|namespace| child(&namespace, name))
    else {
        return BTreeMap::new();
    };
    let headless = match &service.address {
        Address::Unnamed => return BTreeMap::new(),
        Address::ExternalName(target) => {
            names.add(&base, Data::Cname(target.clone()));
            return names.into_records();
        }
        Address::ClusterIp(ip) => {
            names.add(&base, Data::A(*ip));
            names.add(&Name::from(*ip), Data::Ptr(base.clone()));
            for port in &service.ports {
                if let Some(srv) = srv_name(&base, port) {
                    names.add_srv(&srv, port.port, &base, *ip);
                }
            }
            false
        }
        Address::Headless => true,
    };
    let mut published = false;
    for slice in slices {
        let endpoints = slice
            .endpoints
            .iter()
            .filter(|endpoint| endpoint.ready || service.publish_not_ready);
        for endpoint in endpoints {
            let label = match &endpoint.hostname {
                Some(hostname) => hostname.clone(),
                None if headless => dashed(endpoint.ip),
                None => continue,
            };
            let Some(endpoint_name) = child(&base, &label) else {
                continue;
            };
            published = true;
            names.add(&endpoint_name, Data::A(endpoint.ip));
            if !headless {
                continue;
            }
            names.add(&base, Data::A(endpoint.ip));
            names.add(&Name::from(endpoint.ip), Data::Ptr(endpoint_name.clone()));
            for port in &service.ports {
                let number = slice.port_number(port).unwrap_or(port.port);
                if let Some(srv) = srv_name(&base, port) {
                    names.add_srv(&srv, number, &endpoint_name, endpoint.ip);
                }
            }
        }
    }
    if headless && !published {
        return BTreeMap::new();
    }
    names.into_records()
}

/// `10-42-1-7`: the name of an endpoint without a hostname.
fn dashed(ip: Ipv4Addr) -> String {
    let [a, b, c, d] = ip.octets();
    format!("{a}-{b}-{c}-{d}")
}

/// `label.parent`, if `label` is a DNS label (letters, digits, `-`, `_`; at most 63).
fn child(parent: &Name, label: &str) -> Option<Name> {
    let valid = !label.is_empty()
        && label
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_');
    if !valid {
        return None;
    }
    let label = Label::from_ascii(&label.to_ascii_lowercase()).ok()?;
    parent.prepend_label(label).ok()
}

/// `_<port>._<proto>.<service>`.
fn srv_name(service: &Name, port: &NamedPort) -> Option<Name> {
    let protocol = child(service, &format!("_{}", port.protocol))?;
    child(&protocol, &format!("_{}", port.name))
}

/// An ExternalName as an absolute name (`example.com` means `example.com.`).
fn absolute_name(text: &str) -> Option<Name> {
    if text.is_empty() {
        return None;
    }
    let mut name = Name::from_ascii(text).ok()?;
    name.set_fqdn(true);
    Some(name)
}

/// The records being gathered, by name, ordered and without duplicates.
#[derive(Default)]
struct Names(BTreeMap<LowerName, Gathered>);

#[derive(Default)]
struct Gathered {
    owner: Name,
    data: BTreeSet<Data>,
    additionals: BTreeSet<(Name, Ipv4Addr)>,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Data {
    A(Ipv4Addr),
    Cname(Name),
    Ptr(Name),
    Srv { port: u16, target: Name },
}

impl Names {
    fn at(&mut self, name: &Name) -> &mut Gathered {
        self.0
            .entry(LowerName::new(name))
            .or_insert_with(|| Gathered {
                owner: name.clone(),
                ..Gathered::default()
            })
    }

    fn add(&mut self, name: &Name, data: Data) {
        self.at(name).data.insert(data);
    }

    fn add_srv(&mut self, name: &Name, port: u16, target: &Name, target_ip: Ipv4Addr) {
        let gathered = self.at(name);
        gathered.data.insert(Data::Srv {
            port,
            target: target.clone(),
        });
        gathered.additionals.insert((target.clone(), target_ip));
    }

    fn into_records(self) -> BTreeMap<LowerName, NameRecords> {
        self.0
            .into_iter()
            .map(|(name, gathered)| {
                let records = gathered
                    .data
                    .into_iter()
                    .map(|data| {
                        let rdata = match data {
                            Data::A(ip) => RData::A(A(ip)),
                            Data::Cname(target) => RData::CNAME(CNAME(target)),
                            Data::Ptr(target) => RData::PTR(PTR(target)),
                            Data::Srv { port, target } => {
                                RData::SRV(SRV::new(SRV_PRIORITY, SRV_WEIGHT, port, target))
                            }
                        };
                        Record::from_rdata(gathered.owner.clone(), TTL, rdata)
                    })
                    .collect();
                let additionals = gathered
                    .additionals
                    .into_iter()
                    .map(|(owner, ip)| Record::from_rdata(owner, TTL, RData::A(A(ip))))
                    .collect();
                (
                    name,
                    NameRecords {
                        records,
                        additionals,
                    },
                )
            })
            .collect()
    }
}
