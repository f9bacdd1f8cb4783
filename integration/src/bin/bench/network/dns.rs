//! DNS: Debian's `dnsperf` in the client pod's network namespace against flotilla's cluster
//! DNS on the node's pod gateway (port 53), and in the same run against `dnsmasq` answering
//! the same names with the same addresses from a hosts file, on the same gateway address at
//! another port, started in the same test host: same query file (A records of existing
//! Services), same length, same clients and queries in flight.
//!
//! Before each timed run the whole query file is sent once and every name must come back
//! NOERROR, which also waits for dnsmasq to be listening.

use std::fmt::Write as _;
use std::fs;
use std::net::Ipv4Addr;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result, bail};

use flotilla_integration::{Fleet, Observation, ProcessSpec, poll_until};

use super::api::NAMESPACE;
use super::pod_netns::PodNetns;
use super::report::DnsFigures;
use super::tool::output_within;

/// Length of each timed run.
pub const TIME: Duration = Duration::from_secs(10);
/// dnsperf's clients (sockets) and queries in flight, for both servers.
const CLIENTS: u32 = 2;
const IN_FLIGHT: u32 = 100;
/// flotilla's DNS port (`actors/src/node_network`) and dnsmasq's beside it.
const CLUSTER_DNS_PORT: u16 = 53;
const DNSMASQ_PORT: u16 = 5353;
/// How long a query may go unanswered before dnsperf counts it lost.
const QUERY_TIMEOUT_S: &str = "2";
/// How long both servers get to answer every name once.
const READY_LIMIT: Duration = Duration::from_secs(60);
/// How long dnsperf may take beyond its run before it is killed.
const GRACE: Duration = Duration::from_secs(30);

/// Both servers' figures for the A records of `services` (name, ClusterIP), asked from inside
/// `client`, a pod on node `nN`.
pub fn measure(
    fleet: &mut Fleet,
    node: usize,
    client: &PodNetns,
    services: &[(String, Ipv4Addr)],
) -> Result<(DnsFigures, DnsFigures)> {
    let gateway = pod_gateway(fleet, node)?;
    let dir = tempfile::Builder::new()
        .prefix("flotilla-bench-dns-")
        .tempdir()
        .context("a directory for the DNS files")?;
    let queries = dir.path().join("queries");
    let hosts = dir.path().join("hosts");
    let (query_text, hosts_text) = files(services);
    fs::write(&queries, query_text).context("writing the query file")?;
    fs::write(&hosts, hosts_text).context("writing the hosts file")?;

    let host = fleet.node_host(node)?;
    let dnsmasq = fleet.hosts.spawn(
        host,
        ProcessSpec::new(
            "dnsmasq",
            &[
                "dnsmasq",
                "--no-daemon",
                "--log-facility=-",
                "--no-resolv",
                "--no-hosts",
                &format!("--addn-hosts={}", hosts.display()),
                &format!("--listen-address={gateway}"),
                "--bind-interfaces",
                &format!("--port={DNSMASQ_PORT}"),
            ],
        ),
    )?;
    let run = |port: u16, what: &str| -> Result<DnsFigures> {
        answers_all(client, gateway, port, &queries, services.len())
            .with_context(|| format!("{what} answering every name"))?;
        eprintln!("bench: dnsperf against {what} for {TIME:?}");
        let out = dnsperf(
            client,
            gateway,
            port,
            &queries,
            &["-l", &TIME.as_secs().to_string()],
        )?;
        parse_dnsperf(&out).with_context(|| format!("dnsperf's report on {what}:\n{out}"))
    };
    let figures = run(CLUSTER_DNS_PORT, "flotilla's DNS").and_then(|flotilla| {
        let dnsmasq = run(DNSMASQ_PORT, "dnsmasq")?;
        Ok((flotilla, dnsmasq))
    });
    if figures.is_err() {
        eprintln!(
            "---- dnsmasq's log ----\n{}\n----",
            fleet.hosts.log(dnsmasq)?
        );
    }
    fleet.hosts.kill(dnsmasq)?;
    figures
}

/// The first address of node `nN`'s pod range, where its DNS server listens.
fn pod_gateway(fleet: &Fleet, node: usize) -> Result<Ipv4Addr> {
    let json: serde_json::Value =
        serde_json::from_str(&fleet.cli(&["get", "node", &format!("n{node}"), "-o", "json"])?)?;
    let range: ipnet::Ipv4Net = json["spec"]["podCIDR"]
        .as_str()
        .context("node without a podCIDR")?
        .parse()
        .context("a podCIDR that is not an IPv4 range")?;
    range.hosts().next().context("an empty pod range")
}

/// dnsperf's query file (`name A` lines) and dnsmasq's hosts file for `services`.
fn files(services: &[(String, Ipv4Addr)]) -> (String, String) {
    let (mut queries, mut hosts) = (String::new(), String::new());
    for (name, ip) in services {
        let fqdn = format!("{name}.{NAMESPACE}.svc.cluster.local");
        let _ = writeln!(queries, "{fqdn} A");
        let _ = writeln!(hosts, "{ip} {fqdn}");
    }
    (queries, hosts)
}

/// Waits until one pass over the query file comes back complete and all NOERROR.
fn answers_all(
    client: &PodNetns,
    server: Ipv4Addr,
    port: u16,
    queries: &Path,
    names: usize,
) -> Result<()> {
    let expected = format!("NOERROR {names} (100.00%)");
    poll_until(READY_LIMIT, Duration::from_millis(200), || {
        let out = dnsperf(client, server, port, queries, &["-n", "1"])?;
        Ok(
            match out
                .lines()
                .find_map(|line| line.trim().strip_prefix("Response codes:"))
            {
                Some(codes) if codes.trim() == expected => Observation::Done,
                codes => Observation::Waiting(format!("response codes {codes:?}")),
            },
        )
    })
}

/// One dnsperf run from inside `client` with `extra` arguments (its length).
fn dnsperf(
    client: &PodNetns,
    server: Ipv4Addr,
    port: u16,
    queries: &Path,
    extra: &[&str],
) -> Result<String> {
    output_within(
        client
            .command("dnsperf")
            .args(["-s", &server.to_string(), "-p", &port.to_string()])
            .arg("-d")
            .arg(queries)
            .args(["-c", &CLIENTS.to_string(), "-q", &IN_FLIGHT.to_string()])
            .args(["-t", QUERY_TIMEOUT_S])
            .args(extra),
        TIME + GRACE,
    )
}

/// The figures of dnsperf's statistics.
fn parse_dnsperf(out: &str) -> Result<DnsFigures> {
    let value = |key: &str| -> Result<f64> {
        let rest = out
            .lines()
            .find_map(|line| line.trim().strip_prefix(key))
            .with_context(|| format!("no {key:?} line"))?;
        let number = rest
            .split_whitespace()
            .next()
            .with_context(|| format!("nothing after {key:?}"))?;
        number
            .parse()
            .with_context(|| format!("{key:?} {number:?}"))
    };
    let queries_per_s = value("Queries per second:")?;
    if queries_per_s <= 0.0 {
        bail!("no query was answered");
    }
    Ok(DnsFigures {
        queries_per_s,
        average_latency: seconds(value("Average Latency (s):")?),
        latency_stddev: seconds(value("Latency StdDev (s):")?),
        lost: value("Queries lost:")? as u64,
    })
}

/// `value` seconds, to the nanosecond.
fn seconds(value: f64) -> Duration {
    Duration::from_nanos((value * 1e9).round() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    const REPORT: &str = "DNS Performance Testing Tool
Version 2.10.0

[Status] Command line: dnsperf -s 10.42.1.1 -p 53 -d queries -c 2 -q 100 -t 2 -l 10
[Status] Sending queries (to 10.42.1.1:53)
[Status] Testing complete (time limit)

Statistics:

  Queries sent:         200000
  Queries completed:    199990 (99.99%)
  Queries lost:         10 (0.01%)

  Response codes:       NOERROR 199990 (100.00%)
  Average packet size:  request 53, response 69
  Run time (s):         10.000123
  Queries per second:   19998.756

  Average Latency (s):  0.004950 (min 0.000031, max 0.030917)
  Latency StdDev (s):   0.001210

";

    #[test]
    fn reads_rate_latency_and_losses() {
        let figures = parse_dnsperf(REPORT).unwrap();
        assert_eq!(figures.queries_per_s, 19998.756);
        assert_eq!(figures.average_latency, Duration::from_micros(4950));
        assert_eq!(figures.latency_stddev, Duration::from_micros(1210));
        assert_eq!(figures.lost, 10);
    }

    #[test]
    fn a_run_that_got_nothing_is_refused() {
        let none = REPORT.replace("19998.756", "0.000000");
        assert!(parse_dnsperf(&none).is_err());
        assert!(parse_dnsperf("Statistics:\n").is_err());
    }

    #[test]
    fn query_and_hosts_files_name_the_same_records() {
        let services = [
            ("svc-00001".to_owned(), Ipv4Addr::new(10, 43, 0, 10)),
            ("svc-00002".to_owned(), Ipv4Addr::new(10, 43, 7, 1)),
        ];
        let (queries, hosts) = files(&services);
        assert_eq!(
            queries,
            "svc-00001.default.svc.cluster.local A\nsvc-00002.default.svc.cluster.local A\n"
        );
        assert_eq!(
            hosts,
            "10.43.0.10 svc-00001.default.svc.cluster.local\n10.43.7.1 svc-00002.default.svc.cluster.local\n"
        );
    }
}
