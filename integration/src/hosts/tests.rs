//! Root-only tests of the harness against the real kernel: reachability between hosts under
//! each kind of partition, the life of a process in a host, a host crash, and that nothing is
//! left behind by a dropped harness or by a run that died.
//!
//! They take one lock so that they run one at a time: each builds namespaces and processes of
//! its own, and one of them creates the leftovers of a dead run that every build would sweep.

use std::collections::BTreeSet;
use std::fs;
use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{self, Child, Command, ExitStatus, Stdio};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use super::exec;
use super::layout::{Layout, RunId};
use super::namespaces;
use super::partition::Cuts;
use super::plan::{self, NETNS_DIR, Step};
use super::proc_state::parse_state;
use super::*;
use crate::cgroup_tree::{CGROUP_FS, ensure_gone, procs_in};
use crate::running_as_root_or_skip;
use crate::wait::{Observation, wait_until};

/// Serialises the root tests.
static ROOT_TESTS: Mutex<()> = Mutex::new(());
/// How long one probe round waits for datagrams.
const PROBE_ROUND: Duration = Duration::from_millis(500);
/// How long a receiver waits once the round is over, for datagrams already queued.
const DRAIN: Duration = Duration::from_millis(1);
/// How long a change of the network or of a process may take to show.
const SETTLE: Duration = Duration::from_secs(20);
/// Socket timeouts of one request.
const REQUEST_LIMIT: Duration = Duration::from_secs(5);
/// How long a paused server is given to (wrongly) answer.
const QUIET: Duration = Duration::from_millis(500);
/// The port the test web server listens on in its host.
const WEB_PORT: u16 = 8080;

/// (sender, receiver) pairs of host indexes.
type Pairs = BTreeSet<(usize, usize)>;

fn exclusive() -> MutexGuard<'static, ()> {
    ROOT_TESTS.lock().unwrap_or_else(PoisonError::into_inner)
}

#[test]
fn hosts_reach_each_other_until_partitioned_and_again_once_healed() {
    if !running_as_root_or_skip("hosts_reach_each_other_until_partitioned_and_again_once_healed") {
        return;
    }
    let _serial = exclusive();
    let mut hosts = Hosts::build(3).unwrap();
    let [h0, h1, h2] = [0, 1, 2].map(|index| hosts.host(index).unwrap());
    for host in hosts.hosts() {
        hosts.in_host(host, loopback_works).unwrap();
        let shown = hosts
            .run_in(host, &["ip", "-o", "-4", "addr", "show"], REQUEST_LIMIT)
            .unwrap();
        let shown = String::from_utf8_lossy(&shown.stdout);
        let own = format!("inet {}/24", hosts.address(host).unwrap());
        assert!(shown.contains(&own), "{host} lacks {own}: {shown}");
        assert_eq!(shown.matches("inet ").count(), 2, "{host}: {shown}");
    }
    let full = all_pairs(3);
    expect_reachability(&hosts, &full, "every host reaching every other");

    hosts.partition(h0, Partition::LinkDown).unwrap();
    expect_reachability(
        &hosts,
        &without(&full, |a, b| a == 0 || b == 0),
        "h0 unplugged",
    );
    hosts.heal(h0).unwrap();
    expect_reachability(&hosts, &full, "h0 plugged back in");

    let both = Partition::Drop {
        direction: Direction::Both,
        peers: Peers::All,
    };
    hosts.partition(h1, both).unwrap();
    expect_reachability(
        &hosts,
        &without(&full, |a, b| a == 1 || b == 1),
        "h1 cut both ways",
    );
    hosts.heal(h1).unwrap();
    expect_reachability(&hosts, &full, "h1 healed");

    let inbound_from_h0 = Partition::Drop {
        direction: Direction::Inbound,
        peers: Peers::Only(vec![h0]),
    };
    hosts.partition(h2, inbound_from_h0).unwrap();
    expect_reachability(
        &hosts,
        &without(&full, |a, b| (a, b) == (0, 2)),
        "h2 deaf to h0",
    );

    let outbound = Partition::Drop {
        direction: Direction::Outbound,
        peers: Peers::All,
    };
    hosts.partition(h2, outbound).unwrap();
    let h2_mute = without(&full, |a, _| a == 2);
    expect_reachability(&hosts, &h2_mute, "h2 mute");

    let h0_from_h1 = Partition::Drop {
        direction: Direction::Both,
        peers: Peers::Only(vec![h1]),
    };
    hosts.partition(h0, h0_from_h1).unwrap();
    let expected = without(&h2_mute, |a, b| [(0, 1), (1, 0)].contains(&(a, b)));
    expect_reachability(&hosts, &expected, "h2 mute and h0 apart from h1");

    hosts.heal_all().unwrap();
    expect_reachability(&hosts, &full, "every cut healed");
}

#[test]
fn a_process_in_a_host_is_killed_restarted_paused_and_resumed() {
    if !running_as_root_or_skip("a_process_in_a_host_is_killed_restarted_paused_and_resumed") {
        return;
    }
    let _serial = exclusive();
    let mut hosts = Hosts::build(2).unwrap();
    let (client, server) = (hosts.host(0).unwrap(), hosts.host(1).unwrap());
    let site = tempfile::tempdir().unwrap();
    fs::write(site.path().join("index.html"), "hello from h1\n").unwrap();
    let script = format!(
        "echo serving $GREETING; exec busybox httpd -f -p {WEB_PORT} -h {}",
        site.path().display()
    );
    let spec = ProcessSpec::new("web", &["busybox", "sh", "-c", &script]).env("GREETING", "hi");
    let web = hosts.spawn(server, spec.clone()).unwrap();
    let error = hosts.spawn(server, spec).unwrap_err();
    assert!(
        error
            .to_string()
            .contains("already has a process named web"),
        "{error}"
    );
    let address = SocketAddr::new(IpAddr::V4(hosts.address(server).unwrap()), WEB_PORT);
    wait_serving(&hosts, client, address);
    let first = hosts.pid(web).unwrap().expect("web runs");

    hosts.pause(web).unwrap();
    assert_eq!(state(first), Some('T'));
    let mut stream = hosts
        .in_host(client, || {
            Ok(TcpStream::connect_timeout(&address, REQUEST_LIMIT)?)
        })
        .unwrap();
    stream
        .write_all(b"GET /index.html HTTP/1.0\r\n\r\n")
        .unwrap();
    stream.set_read_timeout(Some(QUIET)).unwrap();
    let answered = stream.read(&mut [0; 1]);
    assert!(
        answered.as_ref().is_err_and(is_timeout),
        "a paused server answered: {answered:?}"
    );
    hosts.resume(web).unwrap();
    stream.set_read_timeout(Some(REQUEST_LIMIT)).unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    assert!(response.contains("hello from h1"), "{response}");

    hosts.kill(web).unwrap();
    assert_eq!(hosts.pid(web).unwrap(), None);
    let status = hosts.exit_status(web).unwrap().expect("web has exited");
    assert_eq!(status.signal(), Some(9), "{status}");
    assert!(!live(first));
    assert!(fetch(&hosts, client, address).is_err());
    assert!(hosts.pause(web).is_err());

    hosts.start(web).unwrap();
    wait_serving(&hosts, client, address);
    let second = hosts.pid(web).unwrap().expect("web runs again");
    assert_ne!(second, first);
    let error = hosts.start(web).unwrap_err();
    assert!(error.to_string().contains("already running"), "{error}");

    hosts.restart(web).unwrap();
    wait_serving(&hosts, client, address);
    let third = hosts.pid(web).unwrap().expect("web runs after the restart");
    assert!(third != second && !live(second));
    assert_eq!(hosts.exit_status(web).unwrap(), None);

    let log = hosts.log(web).unwrap();
    assert_eq!(log.matches("serving hi").count(), 3, "{log}");
    assert!(log.contains("==== web on h1, launch 3 ===="), "{log}");
}

#[test]
fn a_crashed_host_takes_its_cgroup_workloads_along_and_restarts() {
    if !running_as_root_or_skip("a_crashed_host_takes_its_cgroup_workloads_along_and_restarts") {
        return;
    }
    let _serial = exclusive();
    let mut hosts = Hosts::build(1).unwrap();
    let host = hosts.host(0).unwrap();
    let namespace = hosts.namespace(host).unwrap();
    let agent = hosts
        .spawn(
            host,
            ProcessSpec::new(
                "agent",
                &[
                    "busybox",
                    "sh",
                    "-c",
                    "busybox sleep 1001 & exec busybox sleep 1000",
                ],
            ),
        )
        .unwrap();
    let cgroup = hosts.cgroup_root(host).unwrap();
    let mut pod = start_in_cgroup(&cgroup_dir(&cgroup));
    wait_until(SETTLE, "the agent and its child in the host", || {
        Ok(namespaces::pids(&namespace)?.len() == 2)
    });
    let mut frozen = namespaces::pids(&namespace).unwrap();
    frozen.push(pod.id());

    hosts.pause_host(host).unwrap();
    for &pid in &frozen {
        assert_eq!(state(pid), Some('T'), "pid {pid}");
    }
    hosts.resume_host(host).unwrap();
    for &pid in &frozen {
        assert!(state(pid).is_some_and(|state| state != 'T'), "pid {pid}");
    }

    hosts.crash(host).unwrap();
    assert_eq!(wait_exit(&mut pod).signal(), Some(9));
    for &pid in &frozen {
        assert!(!live(pid), "pid {pid} survived the crash");
    }
    ensure_gone(Path::new(CGROUP_FS), Path::new(&cgroup)).unwrap();
    assert_eq!(hosts.pid(agent).unwrap(), None);

    let mut other = Hosts::build(1).unwrap();
    let error = other.kill(agent).unwrap_err();
    assert!(
        error.to_string().contains("is not one of test run"),
        "{error}"
    );
    drop(other);

    hosts.restart_host(host).unwrap();
    let restarted = hosts.pid(agent).unwrap().expect("the agent runs again");
    assert!(!frozen.contains(&restarted));
    // nsenter joins the namespace just after it starts, so the new pid shows up there shortly.
    wait_until(SETTLE, "the restarted agent in the host", || {
        Ok(namespaces::pids(&namespace)?.contains(&restarted))
    });
}

#[test]
fn dropping_the_harness_leaves_nothing_behind() {
    if !running_as_root_or_skip("dropping_the_harness_leaves_nothing_behind") {
        return;
    }
    let _serial = exclusive();
    let mut hosts = Hosts::build(2).unwrap();
    let (h0, h1) = (hosts.host(0).unwrap(), hosts.host(1).unwrap());
    let run = hosts.run_prefix();
    hosts
        .spawn(
            h0,
            ProcessSpec::new(
                "agent",
                &[
                    "busybox",
                    "sh",
                    "-c",
                    "busybox sleep 1001 & exec busybox sleep 1000",
                ],
            ),
        )
        .unwrap();
    let cgroup = hosts.cgroup_root(h1).unwrap();
    let mut pod = start_in_cgroup(&cgroup_dir(&cgroup));
    hosts
        .partition(
            h1,
            Partition::Drop {
                direction: Direction::Both,
                peers: Peers::All,
            },
        )
        .unwrap();
    let switch = format!("{run}-sw");
    let tables = run_step(&Step::in_namespace(
        &switch,
        &["nft".to_owned(), "list".to_owned(), "tables".to_owned()],
    ));
    assert!(tables.contains(&format!("table bridge {run}")), "{tables}");
    let ours = namespaces_of(&run);
    assert_eq!(ours.len(), 3, "{ours:?}");
    wait_until(SETTLE, "the agent and its child in h0", || {
        Ok(namespaces::pids(&format!("{run}-h0"))?.len() == 2)
    });
    let mut pids = namespaces::pids(&format!("{run}-h0")).unwrap();
    pids.push(pod.id());

    drop(hosts);

    assert_eq!(namespaces_of(&run), Vec::<String>::new());
    for namespace in &ours {
        assert!(
            !Path::new(NETNS_DIR).join(namespace).exists(),
            "{namespace}"
        );
    }
    assert_eq!(wait_exit(&mut pod).signal(), Some(9));
    for &pid in &pids {
        assert!(!live(pid), "pid {pid} survived the harness");
    }
    ensure_gone(Path::new(CGROUP_FS), Path::new(&cgroup)).unwrap();
}

#[test]
fn the_leftovers_of_a_dead_run_are_swept_and_a_live_runs_are_not() {
    if !running_as_root_or_skip("the_leftovers_of_a_dead_run_are_swept_and_a_live_runs_are_not") {
        return;
    }
    let _serial = exclusive();
    let dead = Layout::new(
        RunId {
            owner: dead_pid(),
            seq: 0,
        },
        2,
    )
    .unwrap();
    let (h0, h1) = (dead.host(0).unwrap(), dead.host(1).unwrap());
    exec::run_all(&plan::network(&dead)).unwrap();
    let cut = Some(Partition::LinkDown);
    exec::run_all(&Cuts::default().set(&dead, h1, cut).unwrap()).unwrap();
    let sleeper = Step::in_namespace(
        &dead.host_namespace(h0),
        &["busybox".to_owned(), "sleep".to_owned(), "1000".to_owned()],
    );
    let mut agent = Command::new(sleeper.program)
        .args(&sleeper.args)
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let cgroup = dead.cgroup_root(h0);
    let mut pod = start_in_cgroup(&cgroup_dir(&cgroup));
    let live_run = Layout::new(
        RunId {
            owner: process::id(),
            seq: u32::MAX,
        },
        1,
    )
    .unwrap();
    let live_namespace = live_run.host_namespace(live_run.host(0).unwrap());
    run_step(&Step {
        program: "ip",
        args: vec!["netns".to_owned(), "add".to_owned(), live_namespace.clone()],
    });

    let swept = sweep_stale().unwrap();

    for namespace in dead.namespaces() {
        assert!(
            swept.namespaces.contains(&namespace),
            "{namespace} not in {swept:?}"
        );
    }
    assert!(swept.cgroups.contains(&cgroup), "{swept:?}");
    assert_eq!(namespaces_of(&dead.run().to_string()), Vec::<String>::new());
    assert_eq!(wait_exit(&mut agent).signal(), Some(9));
    assert_eq!(wait_exit(&mut pod).signal(), Some(9));
    ensure_gone(Path::new(CGROUP_FS), Path::new(&cgroup)).unwrap();
    assert!(!swept.namespaces.contains(&live_namespace));
    assert_eq!(
        namespaces_of(&live_run.run().to_string()),
        std::slice::from_ref(&live_namespace)
    );
    namespaces::remove(&live_namespace).unwrap();
}

/// Proves loopback is up in the calling thread's network namespace.
fn loopback_works() -> Result<()> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).context("bind on loopback")?;
    TcpStream::connect_timeout(&listener.local_addr()?, REQUEST_LIMIT)
        .context("connect over loopback")?;
    Ok(())
}

fn all_pairs(hosts: usize) -> Pairs {
    (0..hosts)
        .flat_map(|from| (0..hosts).map(move |to| (from, to)))
        .filter(|(from, to)| from != to)
        .collect()
}

fn without(pairs: &Pairs, cut: impl Fn(usize, usize) -> bool) -> Pairs {
    pairs.iter().copied().filter(|&(a, b)| !cut(a, b)).collect()
}

/// Waits until exactly the `expected` pairs get a datagram through in one round.
fn expect_reachability(hosts: &Hosts, expected: &Pairs, what: &str) {
    wait_until(SETTLE, what, || {
        let seen = probe_round(hosts)?;
        Ok(if &seen == expected {
            Observation::Done
        } else {
            Observation::Waiting(format!("got through: {seen:?}; expected: {expected:?}"))
        })
    });
}

/// Sends one UDP datagram from every host to every other, each from a fresh socket bound to
/// the sender's address, and returns the pairs whose datagram arrived within [`PROBE_ROUND`].
/// UDP rather than TCP because one-way cuts must show as one-way.
fn probe_round(hosts: &Hosts) -> Result<Pairs> {
    let mut sockets = Vec::new();
    let mut addresses = Vec::new();
    for host in hosts.hosts() {
        let address = hosts.address(host)?;
        let socket = hosts.in_host(host, || {
            UdpSocket::bind((address, 0)).with_context(|| format!("bind to {address}"))
        })?;
        addresses.push(socket.local_addr()?);
        sockets.push(socket);
    }
    for (from, socket) in sockets.iter().enumerate() {
        for (to, target) in addresses.iter().enumerate() {
            // A send refused outright (no route on a cut link) is a datagram that did not arrive.
            if from != to {
                let _ = socket.send_to(b"probe", target);
            }
        }
    }
    let deadline = Instant::now() + PROBE_ROUND;
    let mut reached = Pairs::new();
    for (to, socket) in sockets.iter().enumerate() {
        loop {
            // Past the deadline, still take what has already arrived.
            let left = deadline.saturating_duration_since(Instant::now());
            socket.set_read_timeout(Some(left.max(DRAIN)))?;
            match socket.recv_from(&mut [0; 16]) {
                Ok((_, source)) => {
                    let Some(from) = addresses.iter().position(|a| a.ip() == source.ip()) else {
                        bail!("host {to} got a datagram from {source}, which is no test host");
                    };
                    reached.insert((from, to));
                }
                Err(error) if is_timeout(&error) => break,
                Err(error) => return Err(error).context("receive a probe"),
            }
        }
    }
    Ok(reached)
}

fn is_timeout(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// GETs the test page from `server`, connecting from `client`.
fn fetch(hosts: &Hosts, client: HostId, server: SocketAddr) -> Result<String> {
    let mut stream = hosts.in_host(client, || {
        Ok(TcpStream::connect_timeout(&server, REQUEST_LIMIT)?)
    })?;
    stream.set_read_timeout(Some(REQUEST_LIMIT))?;
    stream.set_write_timeout(Some(REQUEST_LIMIT))?;
    stream.write_all(b"GET /index.html HTTP/1.0\r\n\r\n")?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    Ok(response)
}

fn wait_serving(hosts: &Hosts, client: HostId, server: SocketAddr) {
    wait_until(SETTLE, "the web server in h1 to answer h0", || {
        Ok(fetch(hosts, client, server)?.contains("hello from h1"))
    });
}

/// The state letter of `pid`, `None` once it has gone.
fn state(pid: u32) -> Option<char> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_state(&stat)
}

/// Whether `pid` still runs (a zombie waiting to be reaped does not).
fn live(pid: u32) -> bool {
    state(pid).is_some_and(|state| state != 'Z')
}

/// The directory of cgroup `root` in the pids hierarchy (v1) or the unified one (v2).
fn cgroup_dir(root: &str) -> PathBuf {
    let fs_root = Path::new(CGROUP_FS);
    if fs_root.join("cgroup.controllers").exists() {
        fs_root.join(root)
    } else {
        fs_root.join("pids").join(root)
    }
}

/// Starts a sleeper in the root network namespace that moves itself into cgroup `dir`, as a
/// node agent's workload would be, and waits until it is there.
fn start_in_cgroup(dir: &Path) -> Child {
    fs::create_dir_all(dir).unwrap();
    let script = format!(
        "echo $$ > {}/cgroup.procs && exec busybox sleep 1000",
        dir.display()
    );
    let child = Command::new("busybox")
        .args(["sh", "-c", &script])
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id();
    wait_until(SETTLE, "the workload in its cgroup", || {
        Ok(procs_in(dir)?.contains(&pid))
    });
    child
}

/// Reaps `child`, which must exit within [`SETTLE`].
fn wait_exit(child: &mut Child) -> ExitStatus {
    let mut status = None;
    wait_until(SETTLE, "a killed process to exit", || {
        status = child.try_wait()?;
        Ok(status.is_some())
    });
    status.expect("wait_until returned, so the child has exited")
}

/// A pid that no process has: that of a child that has exited and been reaped.
fn dead_pid() -> u32 {
    let mut child = Command::new("true").spawn().unwrap();
    child.wait().unwrap();
    child.id()
}

/// The machine's network namespaces whose names start with `run`'s prefix.
fn namespaces_of(run: &str) -> Vec<String> {
    let prefix = format!("{run}-");
    namespaces::list()
        .unwrap()
        .into_iter()
        .filter(|name| name.starts_with(&prefix))
        .collect()
}

fn run_step(step: &Step) -> String {
    exec::run(step).unwrap()
}
