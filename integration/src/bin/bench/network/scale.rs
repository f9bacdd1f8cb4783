//! Services at scale: 10,000 ClusterIP Services in front of the same web pod, and how long the
//! 1st, the 1,000th and the 10,000th take from their create call to their ClusterIP answering
//! a TCP connect from the client pod on the other node (the Service allocated, its
//! EndpointSlice written by the controller, the client node's proxy programmed).
//!
//! The Services in between are created in batches, many at a time through the API. Before
//! each timed Service, a sample of the batch (every 100th and the last) must answer, and then
//! the fleet should go quiet ([`wait_quiet`], within a bound), so that the timed one meets
//! controllers and proxies that have finished with the batch rather than their backlog: it is
//! the cost of one more Service with that many in place. Whether and when the batch settled is
//! reported too.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use super::api::{Api, SERVICE_PORT, cluster_ip, selecting_service};
use super::pod_netns::PodNetns;
use super::quiet::wait_quiet;

/// The Services timed, by their rank of creation; the last is how many are created.
pub const TIMED: [usize; 3] = [1, 1000, 10_000];
/// How long one timed Service may take to answer.
const ANSWER_LIMIT: Duration = Duration::from_secs(300);
/// How long a batch may take to answer once created.
const BATCH_LIMIT: Duration = Duration::from_secs(900);
/// How long the fleet may stay busy after a batch answers before the next timed Service is
/// created all the same.
const QUIET_LIMIT: Duration = Duration::from_secs(180);
/// Every how many Services of a batch one is checked before the next timed one.
const SAMPLE_EVERY: usize = 100;

/// What the Services part measured, and the name and ClusterIP of every Service made.
pub struct Scale {
    /// (rank, time from its create call to its ClusterIP answering).
    pub ready: Vec<(usize, Duration)>,
    /// Services created per second by the batches.
    pub creates_per_s: f64,
    /// (size of the last batch, time from its first create until the fleet was quiet; `None`
    /// if it was not within the limit).
    pub last_batch_settled: (usize, Option<Duration>),
    pub services: Vec<(String, Ipv4Addr)>,
}

/// Name of the `rank`-th Service (from 1).
pub fn service_name(rank: usize) -> String {
    format!("svc-{rank:05}")
}

/// Creates the Services, all selecting the pods labelled `app: <app>`, and times those of
/// [`TIMED`] from inside `client`; the fleet's processes are those naming `fleet_dir`.
pub fn services_at_scale(
    api: &Api,
    client: &PodNetns,
    app: &str,
    fleet_dir: &Path,
) -> Result<Scale> {
    let mut scale = Scale {
        ready: Vec::new(),
        creates_per_s: 0.0,
        last_batch_settled: (0, None),
        services: Vec::new(),
    };
    let (mut batch_count, mut batch_time) = (0, Duration::ZERO);
    for rank in TIMED {
        let first = scale.services.len() + 1;
        if first < rank {
            eprintln!("bench: creating Services {first} to {}", rank - 1);
            let started = Instant::now();
            let batch = (first..rank)
                .map(|n| selecting_service(&service_name(n), app))
                .collect::<Result<Vec<_>>>()?;
            let created = api.create_all(batch)?;
            let creating = started.elapsed();
            batch_time += creating;
            batch_count += created.len();
            for service in &created {
                scale
                    .services
                    .push((service.metadata.name.clone(), cluster_ip(service)?));
            }
            let sample: Vec<SocketAddrV4> = scale.services[first - 1..]
                .iter()
                .enumerate()
                .filter(|(i, _)| (i + 1) % SAMPLE_EVERY == 0 || i + first + 1 == rank)
                .map(|(_, (_, ip))| SocketAddrV4::new(*ip, SERVICE_PORT))
                .collect();
            let answered = client
                .wait_answers(&sample, started, Instant::now() + BATCH_LIMIT)
                .with_context(|| format!("Services {first} to {} answering", rank - 1))?;
            let settled = wait_quiet(fleet_dir, QUIET_LIMIT)?.map(|_| started.elapsed());
            let quiet = settled.map_or("not".to_owned(), |at| format!("after {at:?}"));
            eprintln!(
                "bench: {} Services created in {creating:?}, answering after {answered:?}, \
                 the fleet quiet {quiet}",
                created.len()
            );
            scale.last_batch_settled = (created.len(), settled);
        }
        let name = service_name(rank);
        let started = Instant::now();
        let ip = cluster_ip(&api.create(&selecting_service(&name, app)?)?)?;
        let ready = client
            .wait_answers(
                &[SocketAddrV4::new(ip, SERVICE_PORT)],
                started,
                started + ANSWER_LIMIT,
            )
            .with_context(|| format!("Service #{rank} answering"))?;
        eprintln!("bench: Service #{rank} answered {ready:?} after its create call");
        scale.ready.push((rank, ready));
        scale.services.push((name, ip));
    }
    if !batch_time.is_zero() {
        scale.creates_per_s = batch_count as f64 / batch_time.as_secs_f64();
    }
    Ok(scale)
}
