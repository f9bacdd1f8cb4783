//! What writing a Service claims and gives back: its ClusterIP and node ports, each a
//! [`Claim`] — one key in the store that at most one Service holds — and, for the values the
//! Service leaves to the API server, which ones to try. Pure: the driver in `mod.rs` reads
//! and writes the store and feeds back what it learns (a claim someone else took).

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;

use thiserror::Error;

use flotilla_kernel::object::Service;

use super::ranges::{NodePortRange, Pool, ServiceCidr};

/// Where claims live in the store: beside the objects, under no kind's prefix.
const CLUSTER_IP_PREFIX: &str = "/registry/ranges/serviceips/";
const NODE_PORT_PREFIX: &str = "/registry/ranges/servicenodeports/";

/// A value at most one Service may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Claim {
    ClusterIp(Ipv4Addr),
    NodePort(u16),
}

/// The ranges a Service's values are allocated from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Ranges {
    pub cluster_ips: ServiceCidr,
    pub node_ports: NodePortRange,
}

/// What the API server learned about claims other Services hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Taken {
    pub claims: BTreeSet<Claim>,
    /// Whether `claims` is every claim of the store (read in full), rather than those a
    /// failed write ran into: then a pick that finds nothing free means the range is full.
    pub complete: bool,
}

/// The claims one write of a Service takes and gives back.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// New claims, each with whether the Service asked for it (rather than the API picking).
    pub claim: BTreeMap<Claim, Origin>,
    /// Claims the Service held before and holds no more.
    pub release: BTreeSet<Claim>,
}

/// Who chose a claimed value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// The Service's manifest; `port` is the index of the port, for node ports.
    Requested { port: Option<usize> },
    /// The API server, which may pick again when it is taken.
    Picked,
}

/// Why a Service cannot have the values it asks for. Display is Kubernetes' message, after
/// `Service "name" is invalid: ` (or `Internal error occurred: ` for a full range).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AllocationError {
    /// A requested ClusterIP outside the service range.
    #[error(
        "spec.clusterIPs: Invalid value: {listed}: failed to allocate IP {ip}: the provided IP \
         ({ip}) is not in the valid range. The range of valid IPs is {range}"
    )]
    IpNotInRange {
        listed: String,
        ip: Ipv4Addr,
        range: ServiceCidr,
    },
    /// The first address of the range, kept for the `kubernetes` Service.
    #[error(
        "spec.clusterIPs: Invalid value: {listed}: failed to allocate IP {ip}: the address is \
         reserved for the \"kubernetes\" Service in the \"default\" namespace"
    )]
    IpReserved { listed: String, ip: Ipv4Addr },
    /// A requested ClusterIP another Service holds.
    #[error(
        "spec.clusterIPs: Invalid value: {listed}: failed to allocate IP {ip}: provided IP is \
         already allocated"
    )]
    IpAllocated { listed: String, ip: Ipv4Addr },
    /// No ClusterIP left to pick.
    #[error("failed to allocate a serviceIP: range is full")]
    IpRangeFull,
    /// A requested node port outside the node port range.
    #[error(
        "spec.ports[{index}].nodePort: Invalid value: {port}: provided port is not in the valid \
         range. The range of valid ports is {range}"
    )]
    PortNotInRange {
        index: usize,
        port: i32,
        range: NodePortRange,
    },
    /// A requested node port another Service holds.
    #[error(
        "spec.ports[{index}].nodePort: Invalid value: {port}: provided port is already allocated"
    )]
    PortAllocated { index: usize, port: i32 },
    /// No node port left to pick.
    #[error("failed to allocate a nodePort: range is full")]
    PortRangeFull,
}

impl Claim {
    /// The claim's key in the store.
    pub fn key(&self) -> Vec<u8> {
        match self {
            Claim::ClusterIp(ip) => format!("{CLUSTER_IP_PREFIX}{ip}").into_bytes(),
            Claim::NodePort(port) => format!("{NODE_PORT_PREFIX}{port}").into_bytes(),
        }
    }

    /// The claim a store key stands for; `None` for other keys.
    pub fn from_key(key: &[u8]) -> Option<Claim> {
        let key = std::str::from_utf8(key).ok()?;
        if let Some(ip) = key.strip_prefix(CLUSTER_IP_PREFIX) {
            return ip.parse().ok().map(Claim::ClusterIp);
        }
        key.strip_prefix(NODE_PORT_PREFIX)?
            .parse()
            .ok()
            .map(Claim::NodePort)
    }

    /// The key prefixes of every claim, to read them all.
    pub fn prefixes() -> [&'static [u8]; 2] {
        [CLUSTER_IP_PREFIX.as_bytes(), NODE_PORT_PREFIX.as_bytes()]
    }
}

impl AllocationError {
    /// Whether the error is a full range rather than a refused value.
    pub fn is_range_full(&self) -> bool {
        matches!(
            self,
            AllocationError::IpRangeFull | AllocationError::PortRangeFull
        )
    }

    /// The error for `claim`, which the Service asked for and another Service holds.
    pub fn already_allocated(service: &Service, claim: Claim, origin: Origin) -> Option<Self> {
        match (claim, origin) {
            (Claim::ClusterIp(ip), Origin::Requested { .. }) => {
                Some(AllocationError::IpAllocated {
                    listed: service.spec.cluster_ips_text(),
                    ip,
                })
            }
            (Claim::NodePort(port), Origin::Requested { port: Some(index) }) => {
                Some(AllocationError::PortAllocated {
                    index,
                    port: i32::from(port),
                })
            }
            _ => None,
        }
    }
}

/// The claims `service` holds: its ClusterIP (not for headless or `ExternalName` Services) and
/// its node ports (for the types that have them). Values outside today's ranges count too:
/// a Service keeps what it was given under an earlier configuration.
pub fn held(service: &Service) -> BTreeSet<Claim> {
    let spec = &service.spec;
    let mut claims: BTreeSet<Claim> = address(service).map(Claim::ClusterIp).into_iter().collect();
    if spec.type_.uses_node_ports() {
        for port in &spec.ports {
            if let Ok(port) = u16::try_from(port.node_port)
                && port != 0
            {
                claims.insert(Claim::NodePort(port));
            }
        }
    }
    claims
}

/// The ClusterIP of `service`, if its type has one and it is not headless.
fn address(service: &Service) -> Option<Ipv4Addr> {
    let spec = &service.spec;
    if spec.type_.uses_cluster_ip() {
        spec.cluster_ip.parse().ok()
    } else {
        None
    }
}

/// Fills in the ClusterIP and node ports `next` leaves to the API server and says what the
/// write claims and releases, replacing `current` (`None` for a create). Picks avoid what
/// `taken` lists; `random` spreads concurrent picks over the range. Requested values must lie
/// in their range (unless `current` already holds them), and the range's first address is
/// for `default/kubernetes` only.
pub fn plan(
    ranges: &Ranges,
    current: Option<&Service>,
    next: &mut Service,
    taken: &Taken,
    random: u64,
) -> Result<Plan, AllocationError> {
    let old = current.map(held).unwrap_or_default();
    let mut seeds = Seeds(random);
    let mut origins = BTreeMap::new();
    let spec = &next.spec;
    if spec.type_.uses_cluster_ip() && spec.cluster_ip.is_empty() {
        let ip = pick_ip(ranges.cluster_ips, taken, seeds.next())?;
        next.spec.cluster_ip = ip.to_string();
        next.spec.cluster_ips = vec![ip.to_string()];
        origins.insert(Claim::ClusterIp(ip), Origin::Picked);
    } else if let Some(ip) = address(next)
        && !old.contains(&Claim::ClusterIp(ip))
    {
        check_requested_ip(ranges.cluster_ips, next, ip)?;
        origins.insert(Claim::ClusterIp(ip), Origin::Requested { port: None });
    }
    if next.spec.type_.uses_node_ports() {
        plan_node_ports(
            ranges.node_ports,
            &old,
            next,
            taken,
            &mut seeds,
            &mut origins,
        )?;
    }
    let new = held(next);
    Ok(Plan {
        claim: origins
            .into_iter()
            .filter(|(claim, _)| new.contains(claim))
            .collect(),
        release: old.difference(&new).copied().collect(),
    })
}

fn check_requested_ip(
    range: ServiceCidr,
    service: &Service,
    ip: Ipv4Addr,
) -> Result<(), AllocationError> {
    let listed = || service.spec.cluster_ips_text();
    if range.offset_of(ip).is_none() {
        return Err(AllocationError::IpNotInRange {
            listed: listed(),
            ip,
            range,
        });
    }
    let meta = &service.metadata;
    let kubernetes = meta.namespace == "default" && meta.name == "kubernetes";
    if ip == range.kubernetes_service_ip() && !kubernetes {
        return Err(AllocationError::IpReserved {
            listed: listed(),
            ip,
        });
    }
    Ok(())
}

/// Node ports asked for are checked; the ports without one get the node port of a port of
/// the same number (another protocol), as Kubernetes shares them, or a picked one.
fn plan_node_ports(
    range: NodePortRange,
    old: &BTreeSet<Claim>,
    next: &mut Service,
    taken: &Taken,
    seeds: &mut Seeds,
    origins: &mut BTreeMap<Claim, Origin>,
) -> Result<(), AllocationError> {
    let mut by_port: BTreeMap<i32, i32> = BTreeMap::new();
    for (index, port) in next.spec.ports.iter().enumerate() {
        if port.node_port == 0 {
            continue;
        }
        by_port.entry(port.port).or_insert(port.node_port);
        let claim = u16::try_from(port.node_port).ok().map(Claim::NodePort);
        if claim.is_some_and(|claim| old.contains(&claim) || origins.contains_key(&claim)) {
            continue;
        }
        let Some(claim) = claim.filter(|_| range.offset_of(port.node_port).is_some()) else {
            return Err(AllocationError::PortNotInRange {
                index,
                port: port.node_port,
                range,
            });
        };
        origins.insert(claim, Origin::Requested { port: Some(index) });
    }
    for index in 0..next.spec.ports.len() {
        let port = &mut next.spec.ports[index];
        if port.node_port != 0 {
            continue;
        }
        if let Some(shared) = by_port.get(&port.port) {
            port.node_port = *shared;
            continue;
        }
        let held_here = |offset: u32| {
            let claim = Claim::NodePort(range.port(offset));
            old.contains(&claim) || origins.contains_key(&claim)
        };
        let picked = pick(range.pool(), taken, seeds.next(), &held_here, |offset| {
            Claim::NodePort(range.port(offset))
        })
        .ok_or(AllocationError::PortRangeFull)?;
        let node_port = range.port(picked);
        port.node_port = i32::from(node_port);
        by_port.insert(port.port, port.node_port);
        origins.insert(Claim::NodePort(node_port), Origin::Picked);
    }
    Ok(())
}

fn pick_ip(range: ServiceCidr, taken: &Taken, random: u64) -> Result<Ipv4Addr, AllocationError> {
    let kubernetes = |offset: u32| offset == 0;
    pick(range.pool(), taken, random, &kubernetes, |offset| {
        Claim::ClusterIp(range.address(offset))
    })
    .map(|offset| range.address(offset))
    .ok_or(AllocationError::IpRangeFull)
}

/// An offset of `pool` that is neither `unavailable` nor known to be taken: a random guess
/// while what is taken is only partly known, the first free one once it is known in full.
fn pick(
    pool: Pool,
    taken: &Taken,
    random: u64,
    unavailable: &dyn Fn(u32) -> bool,
    claim: impl Fn(u32) -> Claim,
) -> Option<u32> {
    let free = |offset: u32| !unavailable(offset) && !taken.claims.contains(&claim(offset));
    if !taken.complete {
        let guess = pool.guess(random);
        if free(guess) {
            return Some(guess);
        }
    }
    pool.first_free(random, free)
}

/// Successive pseudo-random values from one seed (splitmix64), one per pick of a plan.
struct Seeds(u64);

impl Seeds {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

#[cfg(test)]
mod tests {
    use flotilla_kernel::object::{ObjectMeta, ServicePort, ServiceSpec, ServiceType};

    use super::*;

    fn service(type_: ServiceType, cluster_ip: &str, node_ports: &[i32]) -> Service {
        Service {
            metadata: ObjectMeta {
                name: "web".into(),
                namespace: "default".into(),
                ..ObjectMeta::default()
            },
            spec: ServiceSpec {
                type_,
                cluster_ip: cluster_ip.into(),
                cluster_ips: if cluster_ip.is_empty() {
                    vec![]
                } else {
                    vec![cluster_ip.into()]
                },
                ports: node_ports
                    .iter()
                    .enumerate()
                    .map(|(index, node_port)| ServicePort {
                        name: format!("p{index}"),
                        protocol: "TCP".into(),
                        port: 80 + index as i32,
                        node_port: *node_port,
                        ..ServicePort::default()
                    })
                    .collect(),
                ..ServiceSpec::default()
            },
            ..Service::default()
        }
    }

    fn ip(text: &str) -> Ipv4Addr {
        text.parse().unwrap()
    }

    fn small_ranges() -> Ranges {
        Ranges {
            cluster_ips: "10.43.0.0/29".parse().unwrap(),
            node_ports: "30000-30003".parse().unwrap(),
        }
    }

    #[test]
    fn claims_have_keys_of_their_own() {
        let claims = [Claim::ClusterIp(ip("10.43.0.10")), Claim::NodePort(30080)];
        assert_eq!(claims[0].key(), b"/registry/ranges/serviceips/10.43.0.10");
        assert_eq!(claims[1].key(), b"/registry/ranges/servicenodeports/30080");
        for claim in claims {
            assert_eq!(Claim::from_key(&claim.key()), Some(claim));
        }
        assert_eq!(Claim::from_key(b"/registry/services/default/web"), None);
        assert_eq!(
            Claim::from_key(b"/registry/ranges/serviceips/nonsense"),
            None
        );
    }

    #[test]
    fn a_service_holds_its_address_and_node_ports_by_type() {
        let node_port = service(ServiceType::NodePort, "10.43.0.10", &[30080, 30081]);
        assert_eq!(
            held(&node_port).into_iter().collect::<Vec<_>>(),
            [
                Claim::ClusterIp(ip("10.43.0.10")),
                Claim::NodePort(30080),
                Claim::NodePort(30081)
            ]
        );
        assert!(held(&service(ServiceType::ClusterIp, "None", &[0])).is_empty());
        assert!(held(&service(ServiceType::ExternalName, "", &[])).is_empty());
    }

    #[test]
    fn a_new_service_gets_an_address_above_the_static_band_and_node_ports() {
        let ranges = Ranges::default();
        let mut next = service(ServiceType::NodePort, "", &[0, 30007, 0]);
        let plan = plan(&ranges, None, &mut next, &Taken::default(), 42).unwrap();
        let address: Ipv4Addr = next.spec.cluster_ip.parse().unwrap();
        let offset = ranges.cluster_ips.offset_of(address).unwrap();
        assert!(offset >= 256, "{address} is in the static band");
        assert_eq!(next.spec.cluster_ips, [address.to_string()]);
        let ports: Vec<i32> = next.spec.ports.iter().map(|p| p.node_port).collect();
        assert_eq!(ports[1], 30007);
        for picked in [ports[0], ports[2]] {
            assert!((30086..=32767).contains(&picked), "{ports:?}");
        }
        assert_ne!(ports[0], ports[2]);
        assert_eq!(plan.claim.len(), 4);
        assert_eq!(
            plan.claim[&Claim::NodePort(30007)],
            Origin::Requested { port: Some(1) }
        );
        assert_eq!(plan.claim[&Claim::ClusterIp(address)], Origin::Picked);
        assert!(plan.release.is_empty());
    }

    #[test]
    fn requested_values_must_be_in_range_and_the_first_address_is_the_kubernetes_services() {
        let ranges = Ranges::default();
        let mut next = service(ServiceType::ClusterIp, "10.44.0.10", &[0]);
        let error = plan(&ranges, None, &mut next, &Taken::default(), 1).unwrap_err();
        assert_eq!(
            error.to_string(),
            "spec.clusterIPs: Invalid value: []string{\"10.44.0.10\"}: failed to allocate IP \
             10.44.0.10: the provided IP (10.44.0.10) is not in the valid range. The range of \
             valid IPs is 10.43.0.0/16"
        );
        let mut next = service(ServiceType::ClusterIp, "10.43.0.1", &[0]);
        let error = plan(&ranges, None, &mut next, &Taken::default(), 1).unwrap_err();
        assert!(
            matches!(error, AllocationError::IpReserved { .. }),
            "{error}"
        );
        next.metadata.name = "kubernetes".into();
        assert!(plan(&ranges, None, &mut next, &Taken::default(), 1).is_ok());

        let mut next = service(ServiceType::NodePort, "", &[30080, 32768]);
        let error = plan(&ranges, None, &mut next, &Taken::default(), 1).unwrap_err();
        assert_eq!(
            error.to_string(),
            "spec.ports[1].nodePort: Invalid value: 32768: provided port is not in the valid \
             range. The range of valid ports is 30000-32767"
        );
    }

    #[test]
    fn picks_avoid_what_is_known_taken_and_a_full_range_says_so() {
        let ranges = small_ranges();
        let all_but_last: BTreeSet<Claim> = (1..5)
            .map(|host| Claim::ClusterIp(Ipv4Addr::new(10, 43, 0, host + 1)))
            .collect();
        let taken = Taken {
            claims: all_but_last.clone(),
            complete: true,
        };
        for random in 0..20 {
            let mut next = service(ServiceType::ClusterIp, "", &[0]);
            plan(&ranges, None, &mut next, &taken, random).unwrap();
            // .1 is the kubernetes Service's, .2-.5 are taken.
            assert_eq!(next.spec.cluster_ip, "10.43.0.6", "{random}");
        }
        let mut full = taken.clone();
        full.claims.insert(Claim::ClusterIp(ip("10.43.0.6")));
        let mut next = service(ServiceType::ClusterIp, "", &[0]);
        let error = plan(&ranges, None, &mut next, &full, 7).unwrap_err();
        assert_eq!(error, AllocationError::IpRangeFull);
        assert!(error.is_range_full());
        assert_eq!(
            error.to_string(),
            "failed to allocate a serviceIP: range is full"
        );

        let ports = Taken {
            claims: (30000..30003).map(Claim::NodePort).collect(),
            complete: true,
        };
        let mut next = service(ServiceType::NodePort, "10.43.0.6", &[0]);
        plan(&ranges, None, &mut next, &ports, 3).unwrap();
        assert_eq!(next.spec.ports[0].node_port, 30003);
        let mut next = service(ServiceType::NodePort, "10.43.0.6", &[0, 0]);
        let error = plan(&ranges, None, &mut next, &ports, 3).unwrap_err();
        assert_eq!(
            error.to_string(),
            "failed to allocate a nodePort: range is full"
        );
    }

    #[test]
    fn a_port_number_over_two_protocols_shares_its_node_port() {
        let mut next = service(ServiceType::NodePort, "10.43.0.10", &[0, 0]);
        next.spec.ports[1].port = 80;
        next.spec.ports[1].protocol = "UDP".into();
        let plan = plan(&Ranges::default(), None, &mut next, &Taken::default(), 9).unwrap();
        assert_eq!(next.spec.ports[0].node_port, next.spec.ports[1].node_port);
        assert_eq!(plan.claim.len(), 2, "{plan:?}");
    }

    #[test]
    fn an_update_claims_what_is_new_and_releases_what_is_gone() {
        let ranges = Ranges::default();
        let current = service(ServiceType::NodePort, "10.43.0.10", &[30080, 30081]);
        // Unchanged: nothing to claim or release, even outside today's ranges.
        let mut same = current.clone();
        assert_eq!(
            plan(&ranges, Some(&current), &mut same, &Taken::default(), 1).unwrap(),
            Plan::default()
        );
        let mut moved = current.clone();
        moved.spec.ports[1].node_port = 30082;
        let plan_moved = plan(&ranges, Some(&current), &mut moved, &Taken::default(), 1).unwrap();
        assert_eq!(
            plan_moved.claim.into_iter().collect::<Vec<_>>(),
            [(Claim::NodePort(30082), Origin::Requested { port: Some(1) })]
        );
        assert_eq!(
            plan_moved.release.into_iter().collect::<Vec<_>>(),
            [Claim::NodePort(30081)]
        );
        // Back to ClusterIP: the node ports go, the address stays.
        let mut cluster_ip = current.clone();
        cluster_ip.spec.type_ = ServiceType::ClusterIp;
        for port in &mut cluster_ip.spec.ports {
            port.node_port = 0;
        }
        let back = plan(
            &ranges,
            Some(&current),
            &mut cluster_ip,
            &Taken::default(),
            1,
        )
        .unwrap();
        assert!(back.claim.is_empty());
        assert_eq!(
            back.release.into_iter().collect::<Vec<_>>(),
            [Claim::NodePort(30080), Claim::NodePort(30081)]
        );
        // An alias: everything goes.
        let mut alias = service(ServiceType::ExternalName, "", &[]);
        let gone = plan(&ranges, Some(&current), &mut alias, &Taken::default(), 1).unwrap();
        assert_eq!(gone.release.len(), 3);
    }

    #[test]
    fn a_requested_value_someone_holds_is_an_error_a_picked_one_is_not() {
        let service = service(ServiceType::NodePort, "10.43.0.10", &[30080]);
        let requested = Origin::Requested { port: None };
        let error = AllocationError::already_allocated(
            &service,
            Claim::ClusterIp(ip("10.43.0.10")),
            requested,
        );
        assert_eq!(
            error.unwrap().to_string(),
            "spec.clusterIPs: Invalid value: []string{\"10.43.0.10\"}: failed to allocate IP \
             10.43.0.10: provided IP is already allocated"
        );
        let error = AllocationError::already_allocated(
            &service,
            Claim::NodePort(30080),
            Origin::Requested { port: Some(0) },
        );
        assert_eq!(
            error.unwrap().to_string(),
            "spec.ports[0].nodePort: Invalid value: 30080: provided port is already allocated"
        );
        assert_eq!(
            AllocationError::already_allocated(&service, Claim::NodePort(30080), Origin::Picked),
            None
        );
    }
}
