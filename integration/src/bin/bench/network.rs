//! `bench network`: what flotilla's pod network, service proxy and cluster DNS cost, each set
//! beside a peer measured in the same run, on a fleet of test hosts (network namespaces on a
//! bridge: nothing touches the machine's own network). It needs root.
//!
//! On a server and two nodes, with a busybox httpd pod on n1 and client pods on n2:
//! - HTTP ([`http`]): wrk from one client pod by pod IP and from the other by the Service's
//!   ClusterIP, in turns;
//! - Services at scale ([`scale`]): 10,000 ClusterIP Services, the 1st, 1,000th and 10,000th
//!   timed from their create call to their ClusterIP answering from the client pod;
//! - DNS ([`dns`]): dnsperf from the client pod against n2's cluster DNS and against dnsmasq
//!   serving the same 1,000 Service names from a hosts file.
//!
//! Then, on a fleet of its own, the proxy's full resync with 10,000 Services and 50,000
//! endpoints ([`resync`]). Every wait is bounded; the fleets, with every process they started
//! (dnsmasq too), are torn down whatever happens, and the load generators are killed if the
//! benchmark stops waiting for them.

mod api;
mod dns;
mod http;
mod pod_netns;
mod quiet;
mod report;
mod resync;
mod scale;
mod tool;

use std::env;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::ops::{Deref, DerefMut};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use nix::unistd::geteuid;

use flotilla_integration::{Fleet, unmount_under};

pub use report::NetworkReport;

use api::{Api, SERVICE_PORT, TARGET_PORT};
use pod_netns::PodNetns;

/// What the benchmark runs besides flotilla.
const PROGRAMS: [&str; 4] = ["wrk", "dnsperf", "dnsmasq", "nsenter"];
/// The label of the web pod, which every Service of the first fleet selects.
const WEB_APP: &str = "web";
/// The small static file wrk asks for.
const PAGE: &str = "index.html";
/// How many Service names dnsperf asks for.
const DNS_NAMES: usize = 1000;
/// How long the pods may take to run, and their Service to answer.
const PODS_LIMIT: Duration = Duration::from_secs(120);

/// The web pod on n1 with its Service, and two client pods on n2: wrk asks the web pod by its
/// IP from `client` and by its ClusterIP from `vip-client`. One client for both would reuse
/// source ports of the other run's connections, which the web pod still holds in TIME_WAIT,
/// and a client's TCP timestamps differ by destination (pod IP or ClusterIP), so those SYNs
/// fail the web pod's PAWS check and wait a second for their retransmission.
const WORKLOADS: &str = r#"apiVersion: v1
kind: Pod
metadata:
  name: web
  labels: {app: web}
spec:
  nodeSelector: {kubernetes.io/hostname: n1}
  containers:
  - name: web
    image: busybox:1.35
    imagePullPolicy: Never
    command: [sh, -c, 'mkdir -p /www && hostname > /www/index.html && exec httpd -f -p 8080 -h /www']
    ports:
    - containerPort: 8080
---
apiVersion: v1
kind: Pod
metadata:
  name: client
spec:
  nodeSelector: {kubernetes.io/hostname: n2}
  containers:
  - name: client
    image: busybox:1.35
    imagePullPolicy: Never
    command: [sleep, '3600']
---
apiVersion: v1
kind: Pod
metadata:
  name: vip-client
spec:
  nodeSelector: {kubernetes.io/hostname: n2}
  containers:
  - name: client
    image: busybox:1.35
    imagePullPolicy: Never
    command: [sleep, '3600']
---
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector: {app: web}
  ports:
  - {port: 80, targetPort: 8080}
"#;

/// Runs the benchmark once.
pub fn network() -> Result<NetworkReport> {
    if !geteuid().is_root() {
        bail!("bench network needs root: test hosts are network namespaces; run it as root");
    }
    let missing = missing_programs(&PROGRAMS);
    if !missing.is_empty() {
        bail!(
            "bench network needs {}, not found on PATH: `cargo xtask bench network` installs \
             them (Debian packages wrk, dnsperf and dnsmasq-base)",
            missing.join(", ")
        );
    }
    eprintln!("bench: a server and two nodes on test hosts, with the busybox test image");
    let mut fleet = FleetGuard::start(2)?;
    fleet.import_busybox()?;
    fleet.apply(WORKLOADS)?;
    let web = SocketAddrV4::new(fleet.running_pod_ip("web", PODS_LIMIT)?, TARGET_PORT);
    fleet.running_pod_ip("client", PODS_LIMIT)?;
    fleet.running_pod_ip("vip-client", PODS_LIMIT)?;
    let client = PodNetns::of(&fleet, 2, "client")?;
    let vip_client = PodNetns::of(&fleet, 2, "vip-client")?;
    let vip = SocketAddrV4::new(service_ip(&fleet, "web")?, SERVICE_PORT);
    let now = Instant::now();
    client
        .wait_answers(&[web, vip], now, now + PODS_LIMIT)
        .context("the web pod answering from the client pod")?;
    vip_client
        .wait_answers(&[vip], now, now + PODS_LIMIT)
        .context("the web pod answering from the VIP client pod")?;

    eprintln!(
        "bench: wrk by pod IP {web} and by ClusterIP {vip}, {} runs each",
        http::ROUNDS
    );
    let (direct, through_vip) = http::compare((&client, web), (&vip_client, vip), PAGE)?;
    eprintln!("bench: by pod IP {direct:?}, by ClusterIP {through_vip:?}");

    let fleet_dir = fleet.dir()?;
    let scale = scale::services_at_scale(&Api::connect(&fleet)?, &client, WEB_APP, &fleet_dir)?;
    let names = scale
        .services
        .get(..DNS_NAMES)
        .context("fewer Services than DNS names")?;
    let (dns, dnsmasq) = dns::measure(&mut fleet, 2, &client, names)?;
    eprintln!("bench: flotilla's DNS {dns:?}, dnsmasq {dnsmasq:?}");
    drop(fleet);

    let resync = resync::resync()?;
    eprintln!("bench: {resync:?}");
    Ok(NetworkReport {
        http_time: http::TIME,
        http_rounds: http::ROUNDS,
        http_connections: http::CONNECTIONS,
        direct,
        vip: through_vip,
        service_ready: scale.ready,
        service_creates_per_s: scale.creates_per_s,
        last_batch_settled: scale.last_batch_settled,
        resync,
        dns_time: dns::TIME,
        dns_names: names.len(),
        dns,
        dnsmasq,
    })
}

/// A fleet whose leftover mounts (the pods' namespace files under its nodes' data dirs) are
/// detached before it is torn down, so that its directory is removed whatever happened.
pub struct FleetGuard(Fleet);

impl FleetGuard {
    /// A server and `nodes` nodes, every one Ready.
    pub fn start(nodes: usize) -> Result<Self> {
        Ok(Self(Fleet::start(nodes, &[], &[])?))
    }

    /// The fleet's directory, which holds the server's and the nodes' data dirs.
    pub fn dir(&self) -> Result<PathBuf> {
        let node = self.0.node_dir(1);
        let dir = node.parent().context("the fleet's directory")?;
        Ok(dir.to_path_buf())
    }
}

impl Deref for FleetGuard {
    type Target = Fleet;
    fn deref(&self) -> &Fleet {
        &self.0
    }
}

impl DerefMut for FleetGuard {
    fn deref_mut(&mut self) -> &mut Fleet {
        &mut self.0
    }
}

impl Drop for FleetGuard {
    fn drop(&mut self) {
        if let Ok(dir) = self.dir() {
            unmount_under(&dir);
        }
    }
}

/// The ClusterIP of Service `name`.
fn service_ip(fleet: &Fleet, name: &str) -> Result<Ipv4Addr> {
    let service = fleet.json(&["get", "service", name])?;
    let ip = service["spec"]["clusterIP"].as_str().unwrap_or_default();
    ip.parse()
        .with_context(|| format!("Service {name}'s ClusterIP {ip:?}"))
}

/// Those of `programs` found in no directory of `PATH`.
fn missing_programs<'a>(programs: &[&'a str]) -> Vec<&'a str> {
    let path = env::var_os("PATH").unwrap_or_default();
    programs
        .iter()
        .copied()
        .filter(|program| !env::split_paths(&path).any(|dir| dir.join(program).is_file()))
        .collect()
}
