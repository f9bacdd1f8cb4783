//! The proxy's full resync with 10,000 Services and 50,000 endpoints: on a fleet of its own
//! (a server and one node), 10,000 selector-less Services with an EndpointSlice of 5 endpoints
//! each, made by hand (addresses in the pod range that nothing answers on: only the rules are
//! measured); once the fleet has gone quiet (or after a bound), the node agent is killed and
//! started again. Its proxy lists everything and
//! writes the whole table in one transaction, and logs how long planning and writing took; the
//! benchmark reads that line from the agent's log, and times the whole restart besides.

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use flotilla_integration::{Observation, poll_until};

use super::FleetGuard;
use super::api::{Api, endpoint_slice, selectorless_service};
use super::quiet::wait_quiet;
use super::report::Resync;

pub const SERVICES: usize = 10_000;
const ENDPOINTS_PER_SERVICE: usize = 5;
/// The endpoints' addresses follow each other from here: inside the cluster range
/// (10.42.0.0/16) but above the first nodes' /24s, 50,000 of them up to 10.42.234.95.
const FIRST_ENDPOINT: Ipv4Addr = Ipv4Addr::new(10, 42, 39, 16);
/// What the proxy logs when it has written its whole table (`actors/src/proxy/mod.rs`).
const RESYNC_LINE: &str = "the service proxy resynced its table";
/// How long the fleet may stay busy after the creates before the agent is restarted anyway.
const QUIET_LIMIT: Duration = Duration::from_secs(180);
/// How long the restarted agent may take to write its table.
const RESYNC_LIMIT: Duration = Duration::from_secs(300);
const POLL: Duration = Duration::from_millis(20);

/// Creates the Services and slices on a fresh fleet, restarts its node agent and reads the
/// resync off its log.
pub fn resync() -> Result<Resync> {
    eprintln!("bench: a server and one node for the resync");
    let mut fleet = FleetGuard::start(1)?;
    {
        let api = Api::connect(&fleet)?;
        eprintln!("bench: creating {SERVICES} selector-less Services and their EndpointSlices");
        let started = Instant::now();
        let services = (1..=SERVICES)
            .map(|n| selectorless_service(&name(n)))
            .collect::<Result<Vec<_>>>()?;
        api.create_all(services)?;
        let slices = (1..=SERVICES)
            .map(|n| endpoint_slice(&name(n), &addresses(n)?))
            .collect::<Result<Vec<_>>>()?;
        api.create_all(slices)?;
        eprintln!("bench: created in {:?}", started.elapsed());
    }
    // The restart should meet a server that has finished with the creates, not its backlog.
    let quiet = wait_quiet(&fleet.dir()?, QUIET_LIMIT)?;
    if let Some(quiet) = quiet {
        eprintln!("bench: the fleet quiet after {quiet:?}");
    }
    let agent = fleet.agent(1)?;
    let logged_before = fleet.hosts.log(agent)?.len();
    eprintln!("bench: restarting the node agent");
    let restarted = Instant::now();
    fleet.hosts.restart(agent)?;
    let mut found = None;
    poll_until(RESYNC_LIMIT, POLL, || {
        let log = fleet.hosts.log(agent)?;
        let after = log.get(logged_before..).unwrap_or_default();
        found = after
            .lines()
            .filter_map(resync_figures)
            .find(|figures| figures.services >= SERVICES as u64);
        Ok(match found {
            Some(_) => Observation::Done,
            None => {
                Observation::Waiting(format!("no {RESYNC_LINE:?} line with {SERVICES} Services"))
            }
        })
    })
    .context("the restarted proxy's full resync")?;
    let after_restart = restarted.elapsed();
    let figures = found.context("the resync line")?;
    if figures.endpoints < (SERVICES * ENDPOINTS_PER_SERVICE) as u64 {
        bail!(
            "the proxy resynced {} endpoints, not the {} made",
            figures.endpoints,
            SERVICES * ENDPOINTS_PER_SERVICE
        );
    }
    Ok(Resync {
        after_restart,
        ..figures
    })
}

fn name(n: usize) -> String {
    format!("rs-{n:05}")
}

/// The endpoint addresses of the `n`-th Service (from 1).
fn addresses(n: usize) -> Result<Vec<Ipv4Addr>> {
    (0..ENDPOINTS_PER_SERVICE)
        .map(|i| {
            let offset = u32::try_from((n - 1) * ENDPOINTS_PER_SERVICE + i)?;
            Ok(Ipv4Addr::from(u32::from(FIRST_ENDPOINT) + offset))
        })
        .collect()
}

/// The figures of a resync log line (`... the service proxy resynced its table services=10001
/// endpoints=50000 elapsed_ms=812`, possibly with terminal colours); `after_restart` is left
/// zero.
fn resync_figures(line: &str) -> Option<Resync> {
    let line = strip_ansi(line);
    if !line.contains(RESYNC_LINE) {
        return None;
    }
    let field = |key: &str| {
        line.split_whitespace()
            .find_map(|word| word.strip_prefix(key)?.strip_prefix('='))
            .and_then(|value| value.parse::<u64>().ok())
    };
    Some(Resync {
        services: field("services")?,
        endpoints: field("endpoints")?,
        elapsed: Duration::from_millis(field("elapsed_ms")?),
        after_restart: Duration::ZERO,
    })
}

/// `text` without ANSI escape sequences (`ESC [ ... letter`).
fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // Skip the sequence through its final letter.
            for next in chars.by_ref() {
                if next.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_resync_line_plain_and_coloured() {
        let plain = "2026-12-07T13:29:00.123Z  INFO the service proxy resynced its table \
                     services=10001 endpoints=50000 elapsed_ms=812";
        let figures = resync_figures(plain).unwrap();
        assert_eq!(figures.services, 10_001);
        assert_eq!(figures.endpoints, 50_000);
        assert_eq!(figures.elapsed, Duration::from_millis(812));
        let coloured = "\u{1b}[2m2026-12-07T13:29:00.123Z\u{1b}[0m \u{1b}[32m INFO\u{1b}[0m \
                        the service proxy resynced its table \u{1b}[3mservices\u{1b}[0m\
                        \u{1b}[2m=\u{1b}[0m3 \u{1b}[3mendpoints\u{1b}[0m\u{1b}[2m=\u{1b}[0m0 \
                        \u{1b}[3melapsed_ms\u{1b}[0m\u{1b}[2m=\u{1b}[0m5";
        let figures = resync_figures(coloured).unwrap();
        assert_eq!((figures.services, figures.endpoints), (3, 0));
        assert_eq!(figures.elapsed, Duration::from_millis(5));
        assert!(resync_figures("INFO the service proxy updated its table services=1").is_none());
    }

    #[test]
    fn endpoint_addresses_stay_in_the_cluster_range() {
        assert_eq!(addresses(1).unwrap()[0], FIRST_ENDPOINT);
        let last = addresses(SERVICES).unwrap()[ENDPOINTS_PER_SERVICE - 1];
        assert_eq!(last, Ipv4Addr::new(10, 42, 234, 95));
    }
}
