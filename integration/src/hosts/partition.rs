//! Network partitions of test hosts, as a desired state and the commands that reach it.
//!
//! Each host has at most one cut. A link-down cut unplugs the host's bridge port. Drop cuts are
//! nftables rules on the bridge in the switch namespace, outside every host, so nothing running
//! in a host (a node agent programming its own nftables, say) can undo them. The whole table is
//! rendered from the current cuts and replaced in one nft transaction, so a change never depends
//! on what was applied before. ARP is always let through so that a one-way cut stays one-way:
//! without it, the replies needed to resolve a neighbour would be lost too.

use std::collections::BTreeMap;

use anyhow::{Result, bail};

use super::layout::{HostId, Layout};
use super::plan::{self, Step};

/// How a host is cut off.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Partition {
    /// Its bridge port is down: no frame in or out, as if the cable were pulled.
    LinkDown,
    /// The switch drops its IP traffic with `peers` in `direction`.
    Drop {
        /// Which traffic is dropped, seen from the cut host.
        direction: Direction,
        /// The hosts it can no longer talk to.
        peers: Peers,
    },
}

/// Which traffic a drop cut loses, seen from the cut host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Both what it sends and what it would receive.
    Both,
    /// Only what it would receive: it still reaches its peers, they no longer reach it.
    Inbound,
    /// Only what it sends: its peers still reach it, it no longer reaches them.
    Outbound,
}

/// The peers a drop cut separates a host from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Peers {
    /// Every other host.
    All,
    /// Only these hosts.
    Only(Vec<HostId>),
}

/// The cuts in force, one at most per host.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cuts {
    by_host: BTreeMap<HostId, Partition>,
}

impl Cuts {
    /// Replaces `host`'s cut by `cut` (`None` heals it) and returns the commands that make the
    /// network match. Fails, changing nothing, if a host is not in `layout` or a host is listed
    /// as its own peer.
    pub fn set(
        &mut self,
        layout: &Layout,
        host: HostId,
        cut: Option<Partition>,
    ) -> Result<Vec<Step>> {
        layout.check(host)?;
        if let Some(Partition::Drop {
            peers: Peers::Only(peers),
            ..
        }) = &cut
        {
            if peers.is_empty() {
                bail!("a drop cut of test host {host} needs at least one peer");
            }
            for &peer in peers {
                layout.check(peer)?;
                if peer == host {
                    bail!("test host {host} cannot be partitioned from itself");
                }
            }
        }
        let was_down = self.by_host.get(&host) == Some(&Partition::LinkDown);
        let before = self.clone();
        match cut {
            Some(cut) => self.by_host.insert(host, cut),
            None => self.by_host.remove(&host),
        };
        let is_down = self.by_host.get(&host) == Some(&Partition::LinkDown);
        let mut steps = Vec::new();
        if was_down != is_down {
            steps.push(plan::set_port(layout, host, !is_down));
        }
        if self.drop_rules(layout) != before.drop_rules(layout) {
            steps.push(self.ruleset(layout));
        }
        Ok(steps)
    }

    /// Heals every host.
    pub fn clear(&mut self, layout: &Layout) -> Result<Vec<Step>> {
        let mut steps = Vec::new();
        let hosts: Vec<HostId> = self.by_host.keys().copied().collect();
        for host in hosts {
            steps.extend(self.set(layout, host, None)?);
        }
        Ok(steps)
    }

    /// The nft command that replaces the run's table by one holding the current drop rules, or
    /// removes it when there are none. Declaring the table first makes deleting it valid whether
    /// or not it exists, and the single transaction means no packet sees a half-built table.
    fn ruleset(&self, layout: &Layout) -> Step {
        let table = format!("bridge {}", layout.table());
        let rules = self.drop_rules(layout);
        let mut script = format!("table {table}; delete table {table}");
        if !rules.is_empty() {
            script.push_str(&format!(
                "; table {table} {{ chain forward {{ type filter hook forward priority 0; policy accept; {}; }}; }}",
                rules.join("; ")
            ));
        }
        let argv = ["nft".to_owned(), script];
        Step::in_namespace(&layout.switch_namespace(), &argv)
    }

    /// One nft rule per (direction, peer) of every drop cut, in host order.
    fn drop_rules(&self, layout: &Layout) -> Vec<String> {
        let mut rules = Vec::new();
        for (&host, cut) in &self.by_host {
            let Partition::Drop { direction, peers } = cut else {
                continue;
            };
            let port = layout.port(host);
            let peer_ports: Vec<Option<String>> = match peers {
                Peers::All => vec![None],
                Peers::Only(peers) => peers.iter().map(|&peer| Some(layout.port(peer))).collect(),
            };
            let (outbound, inbound) = match direction {
                Direction::Both => (true, true),
                Direction::Inbound => (false, true),
                Direction::Outbound => (true, false),
            };
            for peer in &peer_ports {
                if outbound {
                    rules.push(rule(&port, peer.as_deref()));
                }
                if inbound {
                    rules.push(match peer {
                        Some(peer) => rule(peer, Some(&port)),
                        None => format!("oifname \"{port}\" ether type != arp drop"),
                    });
                }
            }
        }
        rules
    }
}

/// Drops what enters the bridge from port `from`, bound for port `to` or anywhere.
fn rule(from: &str, to: Option<&str>) -> String {
    match to {
        Some(to) => format!("iifname \"{from}\" oifname \"{to}\" ether type != arp drop"),
        None => format!("iifname \"{from}\" ether type != arp drop"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hosts::layout::RunId;

    fn layout() -> Layout {
        Layout::new(RunId { owner: 9, seq: 1 }, 3).unwrap()
    }

    fn drop_cut(direction: Direction, peers: Peers) -> Option<Partition> {
        Some(Partition::Drop { direction, peers })
    }

    fn lines(steps: &[Step]) -> Vec<String> {
        steps.iter().map(Step::to_string).collect()
    }

    const RESET: &str = "nsenter --net=/var/run/netns/flt9r1-sw -- nft table bridge flt9r1; delete table bridge flt9r1";

    fn table_with(rules: &str) -> String {
        format!(
            "{RESET}; table bridge flt9r1 {{ chain forward {{ type filter hook forward priority 0; policy accept; {rules}; }}; }}"
        )
    }

    #[test]
    fn link_down_unplugs_the_port_and_healing_plugs_it_back() {
        let layout = layout();
        let h1 = layout.host(1).unwrap();
        let mut cuts = Cuts::default();
        let steps = cuts.set(&layout, h1, Some(Partition::LinkDown)).unwrap();
        assert_eq!(lines(&steps), ["ip -n flt9r1-sw link set h1 down"]);
        assert_ne!(cuts, Cuts::default());
        let steps = cuts.set(&layout, h1, None).unwrap();
        assert_eq!(lines(&steps), ["ip -n flt9r1-sw link set h1 up"]);
        assert_eq!(cuts, Cuts::default());
    }

    #[test]
    fn both_ways_from_everyone_drops_all_ip_in_and_out_of_the_port() {
        let layout = layout();
        let mut cuts = Cuts::default();
        let steps = cuts
            .set(
                &layout,
                layout.host(0).unwrap(),
                drop_cut(Direction::Both, Peers::All),
            )
            .unwrap();
        assert_eq!(
            lines(&steps),
            [table_with(
                "iifname \"h0\" ether type != arp drop; oifname \"h0\" ether type != arp drop"
            )]
        );
    }

    #[test]
    fn one_way_cuts_drop_only_their_direction() {
        let layout = layout();
        let h0 = layout.host(0).unwrap();
        let h2 = layout.host(2).unwrap();
        let mut cuts = Cuts::default();
        let inbound = cuts
            .set(
                &layout,
                h0,
                drop_cut(Direction::Inbound, Peers::Only(vec![h2])),
            )
            .unwrap();
        assert_eq!(
            lines(&inbound),
            [table_with(
                "iifname \"h2\" oifname \"h0\" ether type != arp drop"
            )]
        );
        let outbound = cuts
            .set(&layout, h0, drop_cut(Direction::Outbound, Peers::All))
            .unwrap();
        assert_eq!(
            lines(&outbound),
            [table_with("iifname \"h0\" ether type != arp drop")]
        );
    }

    #[test]
    fn the_table_holds_every_hosts_cut_and_goes_away_with_the_last() {
        let layout = layout();
        let h0 = layout.host(0).unwrap();
        let h1 = layout.host(1).unwrap();
        let mut cuts = Cuts::default();
        cuts.set(
            &layout,
            h1,
            drop_cut(Direction::Outbound, Peers::Only(vec![h0])),
        )
        .unwrap();
        let steps = cuts
            .set(&layout, h0, drop_cut(Direction::Outbound, Peers::All))
            .unwrap();
        assert_eq!(
            lines(&steps),
            [table_with(
                "iifname \"h0\" ether type != arp drop; iifname \"h1\" oifname \"h0\" ether type != arp drop"
            )]
        );
        let steps = cuts.set(&layout, h0, None).unwrap();
        assert_eq!(
            lines(&steps),
            [table_with(
                "iifname \"h1\" oifname \"h0\" ether type != arp drop"
            )]
        );
        let steps = cuts.clear(&layout).unwrap();
        assert_eq!(lines(&steps), [RESET]);
        assert_eq!(cuts, Cuts::default());
    }

    #[test]
    fn switching_from_link_down_to_a_drop_plugs_the_port_back_in() {
        let layout = layout();
        let h2 = layout.host(2).unwrap();
        let mut cuts = Cuts::default();
        cuts.set(&layout, h2, Some(Partition::LinkDown)).unwrap();
        let steps = cuts
            .set(&layout, h2, drop_cut(Direction::Inbound, Peers::All))
            .unwrap();
        assert_eq!(
            lines(&steps),
            [
                "ip -n flt9r1-sw link set h2 up".to_owned(),
                table_with("oifname \"h2\" ether type != arp drop")
            ]
        );
    }

    #[test]
    fn healing_an_uncut_host_or_repeating_a_cut_changes_nothing() {
        let layout = layout();
        let h1 = layout.host(1).unwrap();
        let mut cuts = Cuts::default();
        assert!(cuts.set(&layout, h1, None).unwrap().is_empty());
        cuts.set(&layout, h1, Some(Partition::LinkDown)).unwrap();
        assert!(
            cuts.set(&layout, h1, Some(Partition::LinkDown))
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn bad_cuts_are_refused_without_changing_anything() {
        let layout = layout();
        let h0 = layout.host(0).unwrap();
        let foreign = Layout::new(RunId { owner: 9, seq: 2 }, 5)
            .unwrap()
            .host(4)
            .unwrap();
        let mut cuts = Cuts::default();
        let error = cuts
            .set(
                &layout,
                h0,
                drop_cut(Direction::Both, Peers::Only(vec![h0])),
            )
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            "test host h0 cannot be partitioned from itself"
        );
        let error = cuts
            .set(&layout, h0, drop_cut(Direction::Both, Peers::Only(vec![])))
            .unwrap_err();
        assert!(
            error.to_string().contains("needs at least one peer"),
            "{error}"
        );
        assert!(
            cuts.set(
                &layout,
                h0,
                drop_cut(Direction::Both, Peers::Only(vec![foreign]))
            )
            .is_err()
        );
        assert!(
            cuts.set(&layout, foreign, Some(Partition::LinkDown))
                .is_err()
        );
        assert_eq!(cuts, Cuts::default());
    }
}
