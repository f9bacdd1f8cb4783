//! Names and addresses of one run's test hosts, as pure values.
//!
//! Every resource a run creates carries the run's prefix `flt<pid>r<seq>`: the pid of the test
//! process that owns it and a per-process sequence number, so that parallel harnesses in one
//! process never share a name and a later run can tell, from the name alone, that a leftover
//! belongs to a process that is gone. Interfaces live inside the run's own namespaces, so their
//! names only need to be unique there and stay far below the kernel's 15-character limit.

use std::fmt;
use std::net::Ipv4Addr;

use anyhow::{Result, bail};

/// What every resource name of every run starts with.
const PREFIX: &str = "flt";
/// The most hosts one run can have: the usable addresses of its /24.
pub const MAX_HOSTS: usize = 254;
/// The bridge, inside the switch namespace.
pub const BRIDGE: &str = "br0";
/// Each host's end of its veth pair, inside the host's namespace.
pub const HOST_INTERFACE: &str = "eth0";

/// One run of the harness: the owning process and its sequence number in that process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RunId {
    /// The pid of the test process that created the run's resources.
    pub owner: u32,
    /// Distinguishes the runs of one process.
    pub seq: u32,
}

impl RunId {
    /// The run that owns `resource`, if the name is one of ours (`flt<pid>r<seq>` alone or
    /// followed by `-suffix`).
    pub fn owning(resource: &str) -> Option<Self> {
        let rest = resource.strip_prefix(PREFIX)?;
        let id = match rest.split_once('-') {
            Some((_, "")) => return None,
            Some((id, _)) => id,
            None => rest,
        };
        let (owner, seq) = id.split_once('r')?;
        let digits = |text: &str| !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit());
        if !digits(owner) || !digits(seq) {
            return None;
        }
        Some(Self {
            owner: owner.parse().ok()?,
            seq: seq.parse().ok()?,
        })
    }
}

impl fmt::Display for RunId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{PREFIX}{}r{}", self.owner, self.seq)
    }
}

/// One host of a run, numbered from 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct HostId(usize);

impl HostId {
    /// The host's number, as in its name `h<N>`.
    pub fn index(self) -> usize {
        self.0
    }
}

impl fmt::Display for HostId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "h{}", self.0)
    }
}

/// The names and addresses of a run with a fixed number of hosts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    run: RunId,
    hosts: usize,
    subnet: u8,
}

impl Layout {
    /// The layout of run `run` with `hosts` hosts, on the /24 `10.77.<subnet>.0`.
    pub fn new(run: RunId, hosts: usize) -> Result<Self> {
        if hosts == 0 || hosts > MAX_HOSTS {
            bail!("a run has 1 to {MAX_HOSTS} test hosts, not {hosts}");
        }
        Ok(Self {
            run,
            hosts,
            subnet: subnet_for(run),
        })
    }

    /// The run these names belong to.
    pub fn run(&self) -> RunId {
        self.run
    }

    /// Every host, in order.
    pub fn hosts(&self) -> Vec<HostId> {
        (0..self.hosts).map(HostId).collect()
    }

    /// Host number `index`, if the run has it.
    pub fn host(&self, index: usize) -> Result<HostId> {
        if index >= self.hosts {
            bail!(
                "there is no test host {index}: this run has hosts 0 to {}",
                self.hosts - 1
            );
        }
        Ok(HostId(index))
    }

    /// Fails unless `host` is one of this run's hosts.
    pub fn check(&self, host: HostId) -> Result<()> {
        self.host(host.0).map(drop)
    }

    /// The namespace holding the bridge that joins the hosts.
    pub fn switch_namespace(&self) -> String {
        format!("{}-sw", self.run)
    }

    /// The network namespace that is `host`.
    pub fn host_namespace(&self, host: HostId) -> String {
        format!("{}-{host}", self.run)
    }

    /// Every namespace of the run, hosts first: they are removed in this order so that the
    /// switch outlives the hosts plugged into it.
    pub fn namespaces(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .hosts()
            .into_iter()
            .map(|host| self.host_namespace(host))
            .collect();
        names.push(self.switch_namespace());
        names
    }

    /// The bridge port (switch side of the veth pair) of `host`.
    pub fn port(&self, host: HostId) -> String {
        host.to_string()
    }

    /// The nftables table, in the switch namespace, that holds the run's partitions.
    pub fn table(&self) -> String {
        self.run.to_string()
    }

    /// The cgroup root name given to the workloads of `host`.
    pub fn cgroup_root(&self, host: HostId) -> String {
        self.host_namespace(host)
    }

    /// The address of `host`.
    pub fn address(&self, host: HostId) -> Ipv4Addr {
        let last = u8::try_from(host.0 + 1).unwrap_or(u8::MAX);
        Ipv4Addr::new(10, 77, self.subnet, last)
    }

    /// The prefix length of the hosts' network.
    pub fn prefix_len(&self) -> u8 {
        24
    }
}

/// The third octet of a run's /24, spread over pid and sequence so that runs running at the same
/// time usually differ. The switch namespace isolates each run anyway, so a collision would only
/// make addresses in two runs' logs look alike; it could not join their networks.
fn subnet_for(run: RunId) -> u8 {
    let spread = (u64::from(run.owner) * 31 + u64::from(run.seq)) % 254;
    u8::try_from(spread + 1).unwrap_or(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The kernel's limit on interface names (IFNAMSIZ minus the terminating NUL).
    const MAX_INTERFACE_NAME: usize = 15;

    const RUN: RunId = RunId {
        owner: 4242,
        seq: 3,
    };

    #[test]
    fn names_carry_the_run_prefix() {
        let layout = Layout::new(RUN, 3).unwrap();
        assert_eq!(layout.switch_namespace(), "flt4242r3-sw");
        assert_eq!(layout.host_namespace(HostId(2)), "flt4242r3-h2");
        assert_eq!(layout.table(), "flt4242r3");
        assert_eq!(layout.cgroup_root(HostId(0)), "flt4242r3-h0");
        assert_eq!(
            layout.namespaces(),
            [
                "flt4242r3-h0",
                "flt4242r3-h1",
                "flt4242r3-h2",
                "flt4242r3-sw"
            ]
        );
    }

    #[test]
    fn every_resource_name_leads_back_to_its_run() {
        let layout = Layout::new(RUN, 2).unwrap();
        for name in layout.namespaces() {
            assert_eq!(RunId::owning(&name), Some(RUN), "{name}");
        }
        assert_eq!(RunId::owning(&layout.table()), Some(RUN));
    }

    #[test]
    fn foreign_names_are_not_ours() {
        for name in [
            "flotilla-it-12-0",
            "flt",
            "fltr1-h0",
            "flt12r-h0",
            "flt12x3-h0",
            "flt12r3-",
            "flt-12r3",
            "cni-1234",
            "flt99999999999r0-h0",
        ] {
            assert_eq!(RunId::owning(name), None, "{name}");
        }
    }

    #[test]
    fn interface_names_fit_the_kernel_limit_for_the_largest_run() {
        let layout = Layout::new(RUN, MAX_HOSTS).unwrap();
        for host in layout.hosts() {
            assert!(layout.port(host).len() <= MAX_INTERFACE_NAME);
        }
        assert!(BRIDGE.len() <= MAX_INTERFACE_NAME && HOST_INTERFACE.len() <= MAX_INTERFACE_NAME);
    }

    #[test]
    fn hosts_get_distinct_addresses_in_one_private_slash_24() {
        let layout = Layout::new(RUN, MAX_HOSTS).unwrap();
        let addresses: Vec<Ipv4Addr> = layout
            .hosts()
            .into_iter()
            .map(|h| layout.address(h))
            .collect();
        let mut distinct = addresses.clone();
        distinct.dedup();
        assert_eq!(distinct.len(), MAX_HOSTS);
        let network = addresses[0].octets();
        assert_eq!(&network[..2], &[10, 77]);
        for address in &addresses {
            let octets = address.octets();
            assert_eq!(octets[..3], network[..3]);
            assert!((1..=254).contains(&octets[3]), "{address}");
        }
        assert_eq!(layout.prefix_len(), 24);
    }

    #[test]
    fn runs_of_one_process_get_different_subnets() {
        let first = Layout::new(RunId { owner: 7, seq: 0 }, 1).unwrap();
        let second = Layout::new(RunId { owner: 7, seq: 1 }, 1).unwrap();
        assert_ne!(first.address(HostId(0)), second.address(HostId(0)));
    }

    #[test]
    fn host_counts_and_indexes_are_checked() {
        assert!(Layout::new(RUN, 0).is_err());
        let error = Layout::new(RUN, MAX_HOSTS + 1).unwrap_err();
        assert!(error.to_string().contains("1 to 254"), "{error}");
        let layout = Layout::new(RUN, 2).unwrap();
        assert_eq!(layout.host(1).unwrap(), HostId(1));
        let error = layout.host(2).unwrap_err();
        assert_eq!(
            error.to_string(),
            "there is no test host 2: this run has hosts 0 to 1"
        );
        assert!(layout.check(HostId(5)).is_err());
    }
}
