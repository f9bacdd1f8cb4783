//! HTTP through the pod network: Debian's `wrk` in a client pod's network namespace against the
//! busybox httpd pod on the other node, by pod IP from one client pod and by the Service's
//! ClusterIP from another (see `WORKLOADS` for why two), with the same threads, connections,
//! length and file. busybox httpd forks for each connection and
//! closes it after one answer, so every request is a new connection: through the ClusterIP
//! each one is a new conntrack entry and a DNAT, which is what the proxy costs.
//!
//! On two cores shared by the fleet, wrk and the forking server, one run's figure moves by a
//! fifth from run to run, so the two targets take turns for [`ROUNDS`] runs each and each
//! reports its median run (by requests/s).

use std::net::SocketAddrV4;
use std::time::Duration;

use anyhow::{Context, Result, bail};

use super::pod_netns::PodNetns;
use super::report::HttpFigures;
use super::tool::output_within;

/// Length of each run.
pub const TIME: Duration = Duration::from_secs(5);
/// Runs against each target.
pub const ROUNDS: usize = 3;
/// Open connections, over two threads (the machine's cores).
pub const CONNECTIONS: u32 = 16;
const THREADS: u32 = 2;
/// How long wrk may take beyond its run before it is killed.
const GRACE: Duration = Duration::from_secs(30);

/// The median runs of wrk against `http://<target>/<path>` of the `direct` and the `vip`
/// target, each from its own client pod, taking turns.
pub fn compare(
    direct: (&PodNetns, SocketAddrV4),
    vip: (&PodNetns, SocketAddrV4),
    path: &str,
) -> Result<(HttpFigures, HttpFigures)> {
    let (mut by_ip, mut by_vip) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        by_ip.push(measure(direct.0, direct.1, path)?);
        by_vip.push(measure(vip.0, vip.1, path)?);
    }
    Ok((median(by_ip), median(by_vip)))
}

/// The run with the median requests/s of at least one.
fn median(mut runs: Vec<HttpFigures>) -> HttpFigures {
    runs.sort_by(|a, b| a.requests_per_s.total_cmp(&b.requests_per_s));
    runs[runs.len() / 2]
}

/// wrk against `http://<target>/<path>` from inside `client`.
fn measure(client: &PodNetns, target: SocketAddrV4, path: &str) -> Result<HttpFigures> {
    let url = format!("http://{target}/{path}");
    let out = output_within(
        client.command("wrk").args([
            format!("-t{THREADS}"),
            format!("-c{CONNECTIONS}"),
            format!("-d{}s", TIME.as_secs()),
            "--latency".to_owned(),
            url.clone(),
        ]),
        TIME + GRACE,
    )?;
    parse_wrk(&out).with_context(|| format!("wrk's report on {url}:\n{out}"))
}

/// The figures of wrk's `--latency` report.
fn parse_wrk(out: &str) -> Result<HttpFigures> {
    let mut requests_per_s = None;
    let mut p99 = None;
    let mut errors = 0;
    for line in out.lines().map(str::trim) {
        if let Some(rate) = line.strip_prefix("Requests/sec:") {
            requests_per_s = Some(rate.trim().parse::<f64>().context("Requests/sec")?);
        } else if let Some(latency) = line.strip_prefix("99%") {
            p99 = Some(duration(latency.trim())?);
        } else if let Some(counts) = line.strip_prefix("Socket errors:") {
            // "connect 0, read 12, write 0, timeout 0"
            for count in counts.split(',') {
                let number = count
                    .split_whitespace()
                    .nth(1)
                    .context("a socket error count")?;
                errors += number.parse::<u64>().context("a socket error count")?;
            }
        } else if let Some(count) = line.strip_prefix("Non-2xx or 3xx responses:") {
            errors += count.trim().parse::<u64>().context("non-2xx responses")?;
        }
    }
    Ok(HttpFigures {
        requests_per_s: requests_per_s.context("no Requests/sec line")?,
        p99: p99.context("no 99% line (was --latency given?)")?,
        errors,
    })
}

/// A wrk duration: a number and a unit (`us`, `ms`, `s`, `m`, `h`).
fn duration(text: &str) -> Result<Duration> {
    let split = text
        .find(|c: char| c.is_ascii_alphabetic())
        .with_context(|| format!("no unit in {text:?}"))?;
    let (number, unit) = text.split_at(split);
    let number: f64 = number
        .parse()
        .with_context(|| format!("not a duration: {text:?}"))?;
    let nanos_per_unit = match unit {
        "us" => 1e3,
        "ms" => 1e6,
        "s" => 1e9,
        "m" => 60e9,
        "h" => 3600e9,
        _ => bail!("unknown unit in {text:?}"),
    };
    Ok(Duration::from_nanos(
        (number * nanos_per_unit).round() as u64
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const REPORT: &str = "Running 10s test @ http://10.42.1.2:8080/index.html
  2 threads and 16 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     3.10ms    1.20ms  40.00ms   90.00%
    Req/Sec     2.50k   150.00     2.90k    70.00%
  Latency Distribution
     50%    2.90ms
     75%    3.50ms
     90%    4.20ms
     99%  812.00us
  50000 requests in 10.00s, 9.54MB read
  Socket errors: connect 0, read 12, write 1, timeout 2
  Non-2xx or 3xx responses: 3
Requests/sec:   4999.50
Transfer/sec:    976.12KB
";

    #[test]
    fn reads_rate_p99_and_errors() {
        let figures = parse_wrk(REPORT).unwrap();
        assert_eq!(figures.requests_per_s, 4999.5);
        assert_eq!(figures.p99, Duration::from_micros(812));
        assert_eq!(figures.errors, 18);
    }

    #[test]
    fn a_clean_run_has_no_error_lines() {
        let clean: String = REPORT
            .lines()
            .filter(|line| !line.contains("errors") && !line.contains("Non-2xx"))
            .map(|line| format!("{line}\n"))
            .collect();
        assert_eq!(parse_wrk(&clean).unwrap().errors, 0);
    }

    #[test]
    fn durations_in_every_unit() {
        assert_eq!(duration("1.50s").unwrap(), Duration::from_millis(1500));
        assert_eq!(duration("2.00m").unwrap(), Duration::from_secs(120));
        assert_eq!(duration("12.34ms").unwrap(), Duration::from_micros(12_340));
        assert!(duration("12").is_err());
        assert!(duration("3.0parsecs").is_err());
    }

    #[test]
    fn a_report_without_latencies_is_refused() {
        let error = parse_wrk("Requests/sec: 10\n").unwrap_err();
        assert!(error.to_string().contains("99%"), "{error}");
    }

    #[test]
    fn the_median_run_is_the_middle_one_by_rate() {
        let run = |rate: f64, p99_ms: u64| HttpFigures {
            requests_per_s: rate,
            p99: Duration::from_millis(p99_ms),
            errors: 0,
        };
        let runs = vec![run(3000.0, 9), run(2400.0, 4), run(2800.0, 6)];
        assert_eq!(median(runs), run(2800.0, 6));
        assert_eq!(median(vec![run(10.0, 1)]), run(10.0, 1));
    }
}
