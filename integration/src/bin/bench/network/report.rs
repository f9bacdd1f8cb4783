//! The figures of `bench network` and their two renderings: an aligned table for people and one
//! JSON object for scripts comparing runs. Each figure of flotilla's is set beside its peer
//! measured in the same run: HTTP through a ClusterIP beside the same requests by pod IP, and
//! flotilla's DNS beside dnsmasq serving the same names.

use std::time::Duration;

use serde_json::{Map, Value, json};

/// What wrk measured against one address.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HttpFigures {
    pub requests_per_s: f64,
    pub p99: Duration,
    /// Connect, read, write and timeout errors together, and non-2xx/3xx answers.
    pub errors: u64,
}

/// What dnsperf measured against one server.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DnsFigures {
    pub queries_per_s: f64,
    /// dnsperf 2.10 reports the mean and standard deviation of latency, not percentiles.
    pub average_latency: Duration,
    pub latency_stddev: Duration,
    pub lost: u64,
}

/// The proxy's full resync after its agent restarted.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Resync {
    /// As the proxy counted them in its log line.
    pub services: u64,
    pub endpoints: u64,
    /// Planning and writing the whole table, as the proxy measured it.
    pub elapsed: Duration,
    /// From the agent's restart until its log said the table was written: start, connect,
    /// list and watch, plan and write.
    pub after_restart: Duration,
}

/// What one run of `bench network` measured.
#[derive(Debug, Clone, PartialEq)]
pub struct NetworkReport {
    /// Length of each wrk run, runs per target, and wrk's connections.
    pub http_time: Duration,
    pub http_rounds: usize,
    pub http_connections: u32,
    pub direct: HttpFigures,
    pub vip: HttpFigures,
    /// (n, time from creating the n-th Service to its ClusterIP answering).
    pub service_ready: Vec<(usize, Duration)>,
    /// Services created per second through the API by the batches between the timed ones.
    pub service_creates_per_s: f64,
    /// (n, time from the first create of the last batch, n Services, until they answered and
    /// the fleet's processes went quiet; `None`: they did not within the bench's bound).
    pub last_batch_settled: (usize, Option<Duration>),
    pub resync: Resync,
    /// dnsperf's length of each run and how many distinct names it asked for.
    pub dns_time: Duration,
    pub dns_names: usize,
    pub dns: DnsFigures,
    pub dnsmasq: DnsFigures,
}

impl NetworkReport {
    /// Requests per second through the ClusterIP over those by pod IP.
    pub fn vip_ratio(&self) -> f64 {
        ratio(self.vip.requests_per_s, self.direct.requests_per_s)
    }

    /// flotilla's DNS queries per second over dnsmasq's.
    pub fn dns_ratio(&self) -> f64 {
        ratio(self.dns.queries_per_s, self.dnsmasq.queries_per_s)
    }

    /// One JSON object; rates per second, durations in milliseconds.
    pub fn to_json(&self) -> Value {
        let mut object = Map::new();
        let mut put = |key: &str, value: Value| {
            object.insert(key.to_owned(), value);
        };
        put("direct_rps", json!(round(self.direct.requests_per_s)));
        put("vip_rps", json!(round(self.vip.requests_per_s)));
        put("vip_ratio", json!(self.vip_ratio()));
        put("direct_p99_ms", json!(millis(self.direct.p99)));
        put("vip_p99_ms", json!(millis(self.vip.p99)));
        put("http_errors", json!(self.direct.errors + self.vip.errors));
        for (n, ready) in &self.service_ready {
            put(&format!("service_ready_ms_at_{n}"), json!(millis(*ready)));
        }
        put(
            "service_creates_per_s",
            json!(round(self.service_creates_per_s)),
        );
        let (batch, settled) = self.last_batch_settled;
        put(
            &format!("batch_{batch}_services_settled_s"),
            json!(settled.map(|settled| round(settled.as_secs_f64()))),
        );
        put(
            "resync_ms_10000_services",
            json!(millis(self.resync.elapsed)),
        );
        put("resync_services", json!(self.resync.services));
        put("resync_endpoints", json!(self.resync.endpoints));
        put(
            "resync_after_restart_ms",
            json!(millis(self.resync.after_restart)),
        );
        put("dns_qps", json!(round(self.dns.queries_per_s)));
        put("dnsmasq_qps", json!(round(self.dnsmasq.queries_per_s)));
        put("dns_ratio", json!(self.dns_ratio()));
        put(
            "dns_avg_latency_ms",
            json!(millis3(self.dns.average_latency)),
        );
        put(
            "dnsmasq_avg_latency_ms",
            json!(millis3(self.dnsmasq.average_latency)),
        );
        put("dns_lost", json!(self.dns.lost));
        put("dnsmasq_lost", json!(self.dnsmasq.lost));
        Value::Object(object)
    }

    /// A two-column table, labels left-aligned and values right-aligned.
    pub fn to_table(&self) -> String {
        let ms = |duration: Duration| format!("{:.1} ms", millis(duration));
        let http = |figures: &HttpFigures| {
            format!(
                "{:.0} req/s, p99 {}",
                figures.requests_per_s,
                ms(figures.p99)
            )
        };
        let dns = |figures: &DnsFigures| {
            format!(
                "{:.0} q/s, avg {:.3} ms ± {:.3}",
                figures.queries_per_s,
                millis3(figures.average_latency),
                millis3(figures.latency_stddev)
            )
        };
        let wrk = format!(
            "wrk, median of {} runs of {} s, {} conn",
            self.http_rounds,
            self.http_time.as_secs(),
            self.http_connections
        );
        let mut rows = vec![
            (format!("HTTP by pod IP ({wrk})"), http(&self.direct)),
            (format!("HTTP by ClusterIP ({wrk})"), http(&self.vip)),
            (
                "ClusterIP / pod IP".to_owned(),
                format!("{:.2}x", self.vip_ratio()),
            ),
        ];
        for (n, ready) in &self.service_ready {
            rows.push((format!("Service #{n} created to VIP answering"), ms(*ready)));
        }
        rows.push((
            "Services created through the API".to_owned(),
            format!("{:.0}/s", self.service_creates_per_s),
        ));
        let (batch, settled) = self.last_batch_settled;
        rows.push((
            format!("batch of {batch} Services: first create to fleet quiet"),
            settled.map_or("not quiet in time".to_owned(), |settled| {
                format!("{:.1} s", settled.as_secs_f64())
            }),
        ));
        rows.push((
            format!(
                "proxy full resync ({} Services, {} endpoints)",
                self.resync.services, self.resync.endpoints
            ),
            ms(self.resync.elapsed),
        ));
        rows.push((
            "agent restart to table written".to_owned(),
            ms(self.resync.after_restart),
        ));
        let dnsperf = format!(
            "dnsperf {} s, {} names",
            self.dns_time.as_secs(),
            self.dns_names
        );
        rows.push((format!("DNS, flotilla ({dnsperf})"), dns(&self.dns)));
        rows.push((format!("DNS, dnsmasq ({dnsperf})"), dns(&self.dnsmasq)));
        rows.push((
            "flotilla / dnsmasq".to_owned(),
            format!("{:.2}x", self.dns_ratio()),
        ));
        let label_width = rows.iter().map(|(label, _)| label.len()).max().unwrap_or(0);
        let value_width = rows
            .iter()
            .map(|(_, value)| value.chars().count())
            .max()
            .unwrap_or(0);
        rows.iter()
            .map(|(label, value)| format!("{label:<label_width$}  {value:>value_width$}\n"))
            .collect()
    }
}

/// A duration in milliseconds to one decimal place.
fn millis(duration: Duration) -> f64 {
    round(duration.as_secs_f64() * 1000.0)
}

/// A duration in milliseconds to three decimal places (DNS answers take microseconds).
fn millis3(duration: Duration) -> f64 {
    (duration.as_secs_f64() * 1e6).round() / 1000.0
}

/// One decimal place.
fn round(value: f64) -> f64 {
    (value * 10.0).round() / 10.0
}

/// `a / b` to two decimal places; 0 when `b` is 0 (nothing to compare with).
fn ratio(a: f64, b: f64) -> f64 {
    if b == 0.0 {
        0.0
    } else {
        (a / b * 100.0).round() / 100.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report() -> NetworkReport {
        let dns = DnsFigures {
            queries_per_s: 30_000.0,
            average_latency: Duration::from_micros(1_234),
            latency_stddev: Duration::from_micros(500),
            lost: 0,
        };
        NetworkReport {
            http_time: Duration::from_secs(5),
            http_rounds: 3,
            http_connections: 16,
            direct: HttpFigures {
                requests_per_s: 4_000.0,
                p99: Duration::from_micros(8_250),
                errors: 0,
            },
            vip: HttpFigures {
                requests_per_s: 3_800.0,
                p99: Duration::from_millis(9),
                errors: 2,
            },
            service_ready: vec![
                (1, Duration::from_millis(12)),
                (1000, Duration::from_millis(40)),
                (10_000, Duration::from_millis(95)),
            ],
            service_creates_per_s: 2_000.0,
            last_batch_settled: (8999, Some(Duration::from_millis(61_250))),
            resync: Resync {
                services: 10_001,
                endpoints: 50_000,
                elapsed: Duration::from_millis(700),
                after_restart: Duration::from_secs(3),
            },
            dns_time: Duration::from_secs(10),
            dns_names: 1000,
            dns,
            dnsmasq: DnsFigures {
                queries_per_s: 40_000.0,
                ..dns
            },
        }
    }

    #[test]
    fn json_has_the_issues_keys() {
        let json = report().to_json();
        for key in [
            "direct_rps",
            "vip_rps",
            "vip_ratio",
            "service_ready_ms_at_10000",
            "resync_ms_10000_services",
            "dns_qps",
            "dnsmasq_qps",
            "dns_ratio",
        ] {
            assert!(json.get(key).is_some(), "{key} missing from {json}");
        }
        assert_eq!(json["vip_ratio"], 0.95);
        assert_eq!(json["dns_ratio"], 0.75);
        assert_eq!(json["direct_p99_ms"], 8.3);
        assert_eq!(json["service_ready_ms_at_1"], 12.0);
        assert_eq!(json["service_ready_ms_at_1000"], 40.0);
        assert_eq!(json["resync_ms_10000_services"], 700.0);
        assert_eq!(json["dns_avg_latency_ms"], 1.234);
        assert_eq!(json["http_errors"], 2);
        assert_eq!(json["batch_8999_services_settled_s"], 61.3);
    }

    #[test]
    fn no_peer_figures_give_a_zero_ratio() {
        let mut report = report();
        report.direct.requests_per_s = 0.0;
        assert_eq!(report.vip_ratio(), 0.0);
    }

    #[test]
    fn table_columns_line_up() {
        let table = report().to_table();
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 13, "{table}");
        let width = lines[0].chars().count();
        assert!(
            lines.iter().all(|line| line.chars().count() == width),
            "{table}"
        );
        assert!(lines[0].starts_with("HTTP by pod IP (wrk, median of 3 runs of 5 s, 16 conn) "));
        assert!(lines[0].ends_with("4000 req/s, p99 8.3 ms"), "{table}");
        assert!(lines[2].ends_with("0.95x"));
        assert!(lines[5].starts_with("Service #10000 created"));
        assert!(lines[12].ends_with("0.75x"));
    }
}
