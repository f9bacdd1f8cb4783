//! The exact `ip` commands that build, change and tear down a run's network, as pure values.
//!
//! Keeping them data makes the whole topology reviewable and unit-tested without root; the
//! executor only runs them in order. The design keeps the machine's own network untouched: the
//! bridge lives in a switch namespace of its own, and each veth pair is created there with its
//! host end moved straight into the host's namespace, so nothing of the run ever appears in the
//! root namespace and removing the namespaces removes every link, address and nftables table.

use std::fmt;

use super::layout::{BRIDGE, HOST_INTERFACE, HostId, Layout};

/// Where `ip netns` keeps the handles of the named network namespaces.
pub const NETNS_DIR: &str = "/var/run/netns";

/// One command line: a program and its arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// The program, looked up on PATH.
    pub program: &'static str,
    /// Its arguments.
    pub args: Vec<String>,
}

impl Step {
    fn ip(args: &[&str]) -> Self {
        Self {
            program: "ip",
            args: args.iter().map(|arg| (*arg).to_owned()).collect(),
        }
    }

    /// `argv` run with its network in namespace `namespace`. nsenter execs it in place, so the
    /// child's pid is the program's own. Unlike `ip netns exec`, which mounts a fresh /sys, it
    /// keeps the test's mounts, so the program still sees the machine's cgroup filesystem, as a
    /// node agent on a real host would.
    pub fn in_namespace(namespace: &str, argv: &[String]) -> Self {
        let mut args = vec![format!("--net={NETNS_DIR}/{namespace}"), "--".to_owned()];
        args.extend(argv.iter().cloned());
        Self {
            program: "nsenter",
            args,
        }
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.program)?;
        for arg in &self.args {
            write!(f, " {arg}")?;
        }
        Ok(())
    }
}

/// Everything that builds the run: the switch with its bridge, then each host with loopback
/// up, its veth plugged into the bridge and its address on `eth0`.
pub fn network(layout: &Layout) -> Vec<Step> {
    let switch = layout.switch_namespace();
    let sw = switch.as_str();
    let mut steps = vec![
        Step::ip(&["netns", "add", sw]),
        Step::ip(&["-n", sw, "link", "set", "lo", "up"]),
        Step::ip(&["-n", sw, "link", "add", BRIDGE, "type", "bridge"]),
        Step::ip(&["-n", sw, "link", "set", BRIDGE, "up"]),
    ];
    for host in layout.hosts() {
        let namespace = layout.host_namespace(host);
        let ns = namespace.as_str();
        let port = layout.port(host);
        let address = format!("{}/{}", layout.address(host), layout.prefix_len());
        steps.extend([
            Step::ip(&["netns", "add", ns]),
            Step::ip(&["-n", ns, "link", "set", "lo", "up"]),
            Step::ip(&[
                "-n",
                sw,
                "link",
                "add",
                &port,
                "type",
                "veth",
                "peer",
                "name",
                HOST_INTERFACE,
                "netns",
                ns,
            ]),
            Step::ip(&["-n", sw, "link", "set", &port, "master", BRIDGE]),
            Step::ip(&["-n", sw, "link", "set", &port, "up"]),
            Step::ip(&["-n", ns, "addr", "add", &address, "dev", HOST_INTERFACE]),
            Step::ip(&["-n", ns, "link", "set", HOST_INTERFACE, "up"]),
        ]);
    }
    steps
}

/// Takes `host`'s bridge port down (the host is cut off both ways, as if unplugged) or up.
pub fn set_port(layout: &Layout, host: HostId, up: bool) -> Step {
    let state = if up { "up" } else { "down" };
    Step::ip(&[
        "-n",
        &layout.switch_namespace(),
        "link",
        "set",
        &layout.port(host),
        state,
    ])
}

/// Lists the machine's named network namespaces.
pub fn list_namespaces() -> Step {
    Step::ip(&["netns", "list"])
}

/// Lists the pids of the processes in network namespace `namespace`.
pub fn namespace_pids(namespace: &str) -> Step {
    Step::ip(&["netns", "pids", namespace])
}

/// Removes network namespace `namespace`, with every link and nftables table in it.
pub fn delete_namespace(namespace: &str) -> Step {
    Step::ip(&["netns", "delete", namespace])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hosts::layout::RunId;

    fn layout(hosts: usize) -> Layout {
        Layout::new(RunId { owner: 51, seq: 0 }, hosts).unwrap()
    }

    fn lines(steps: &[Step]) -> Vec<String> {
        steps.iter().map(Step::to_string).collect()
    }

    #[test]
    fn builds_a_switch_and_plugs_each_host_into_it() {
        let layout = layout(2);
        let subnet = layout.address(layout.host(0).unwrap()).octets()[2];
        let address = |last: u8| format!("10.77.{subnet}.{last}/24");
        let expected = vec![
            "ip netns add flt51r0-sw".to_owned(),
            "ip -n flt51r0-sw link set lo up".to_owned(),
            "ip -n flt51r0-sw link add br0 type bridge".to_owned(),
            "ip -n flt51r0-sw link set br0 up".to_owned(),
            "ip netns add flt51r0-h0".to_owned(),
            "ip -n flt51r0-h0 link set lo up".to_owned(),
            "ip -n flt51r0-sw link add h0 type veth peer name eth0 netns flt51r0-h0".to_owned(),
            "ip -n flt51r0-sw link set h0 master br0".to_owned(),
            "ip -n flt51r0-sw link set h0 up".to_owned(),
            format!("ip -n flt51r0-h0 addr add {} dev eth0", address(1)),
            "ip -n flt51r0-h0 link set eth0 up".to_owned(),
            "ip netns add flt51r0-h1".to_owned(),
            "ip -n flt51r0-h1 link set lo up".to_owned(),
            "ip -n flt51r0-sw link add h1 type veth peer name eth0 netns flt51r0-h1".to_owned(),
            "ip -n flt51r0-sw link set h1 master br0".to_owned(),
            "ip -n flt51r0-sw link set h1 up".to_owned(),
            format!("ip -n flt51r0-h1 addr add {} dev eth0", address(2)),
            "ip -n flt51r0-h1 link set eth0 up".to_owned(),
        ];
        assert_eq!(lines(&network(&layout)), expected);
    }

    #[test]
    fn no_step_touches_the_root_namespace_except_creating_ours() {
        let layout = layout(3);
        for step in network(&layout) {
            let args = &step.args;
            let in_our_namespace = args[0] == "-n" && RunId::owning(&args[1]).is_some();
            let creates_ours = args[..2] == ["netns", "add"] && RunId::owning(&args[2]).is_some();
            assert!(in_our_namespace || creates_ours, "{step}");
        }
    }

    #[test]
    fn ports_go_down_and_up_on_the_switch() {
        let layout = layout(2);
        let host = layout.host(1).unwrap();
        assert_eq!(
            set_port(&layout, host, false).to_string(),
            "ip -n flt51r0-sw link set h1 down"
        );
        assert_eq!(
            set_port(&layout, host, true).to_string(),
            "ip -n flt51r0-sw link set h1 up"
        );
    }

    #[test]
    fn programs_enter_only_the_network_namespace() {
        let argv = ["busybox".to_owned(), "httpd".to_owned(), "-f".to_owned()];
        assert_eq!(
            Step::in_namespace("flt51r0-h0", &argv).to_string(),
            "nsenter --net=/var/run/netns/flt51r0-h0 -- busybox httpd -f"
        );
        assert_eq!(namespace_pids("n").to_string(), "ip netns pids n");
        assert_eq!(delete_namespace("n").to_string(), "ip netns delete n");
        assert_eq!(list_namespaces().to_string(), "ip netns list");
    }
}
