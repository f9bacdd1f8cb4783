//! The figures of the transport benchmark: the same workloads over flotilla's QUIC+mTLS and
//! over TCP+TLS, side by side with their ratio, as a table or one JSON object.

use std::time::Duration;

use serde_json::{Map, Value, json};

use crate::stats::{micros, millis, ratio, round};

/// What one peer achieved on one workload of small calls.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CallFigures {
    pub calls_per_second: f64,
    pub p50: Duration,
    pub p99: Duration,
}

/// Both peers on one workload.
#[derive(Debug, Clone, PartialEq)]
pub struct Compared<T> {
    pub flotilla: T,
    pub tcp_tls: T,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TransportReport {
    /// Per number of concurrent callers.
    pub calls: Vec<(usize, Compared<CallFigures>)>,
    /// Bytes of the one large stream, and the throughput of each peer in MiB/s.
    pub stream_bytes: u64,
    pub stream_mib_per_second: Compared<f64>,
    /// From a server starting to listen to the first answer of a client that was already
    /// calling it (p50), with flotilla's initial RTT and with QUIC's default.
    pub reconnect: Reconnect,
}

/// How fast a client that was calling a server that was not listening yet gets its answer once
/// it listens, as after a control-plane restart.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Reconnect {
    pub flotilla: Duration,
    pub quic_default_initial_rtt: Duration,
}

impl TransportReport {
    pub fn to_json(&self) -> Value {
        let mut object = Map::new();
        for (callers, figures) in &self.calls {
            for (peer, f) in [
                ("flotilla", &figures.flotilla),
                ("tcp_tls", &figures.tcp_tls),
            ] {
                object.insert(
                    format!("{peer}_calls_per_s_{callers}"),
                    json!(round(f.calls_per_second)),
                );
                object.insert(format!("{peer}_p50_us_{callers}"), json!(micros(f.p50)));
                object.insert(format!("{peer}_p99_us_{callers}"), json!(micros(f.p99)));
            }
            object.insert(
                format!("ratio_calls_per_s_{callers}"),
                json!(ratio(
                    figures.flotilla.calls_per_second,
                    figures.tcp_tls.calls_per_second
                )),
            );
            object.insert(
                format!("ratio_p99_{callers}"),
                json!(ratio(
                    micros(figures.flotilla.p99),
                    micros(figures.tcp_tls.p99)
                )),
            );
        }
        object.insert("stream_bytes".into(), json!(self.stream_bytes));
        let stream = &self.stream_mib_per_second;
        object.insert(
            "flotilla_stream_mib_per_s".into(),
            json!(round(stream.flotilla)),
        );
        object.insert(
            "tcp_tls_stream_mib_per_s".into(),
            json!(round(stream.tcp_tls)),
        );
        object.insert(
            "ratio_stream".into(),
            json!(ratio(stream.flotilla, stream.tcp_tls)),
        );
        let reconnect = &self.reconnect;
        object.insert("reconnect_ms".into(), json!(millis(reconnect.flotilla)));
        object.insert(
            "reconnect_ms_quic_default_initial_rtt".into(),
            json!(millis(reconnect.quic_default_initial_rtt)),
        );
        Value::Object(object)
    }

    pub fn to_table(&self) -> String {
        let mut rows: Vec<(String, String, String, String)> = Vec::new();
        for (callers, f) in &self.calls {
            let (a, b) = (&f.flotilla, &f.tcp_tls);
            rows.push((
                format!("calls/s, {callers} caller(s)"),
                format!("{:.0}", a.calls_per_second),
                format!("{:.0}", b.calls_per_second),
                format!("{:.2}", ratio(a.calls_per_second, b.calls_per_second)),
            ));
            for (label, x, y) in [("p50", a.p50, b.p50), ("p99", a.p99, b.p99)] {
                rows.push((
                    format!("{label} latency, {callers} caller(s)"),
                    format!("{:.0} µs", micros(x)),
                    format!("{:.0} µs", micros(y)),
                    format!("{:.2}", ratio(micros(x), micros(y))),
                ));
            }
        }
        let s = &self.stream_mib_per_second;
        rows.push((
            format!("{} MiB stream", self.stream_bytes >> 20),
            format!("{:.0} MiB/s", s.flotilla),
            format!("{:.0} MiB/s", s.tcp_tls),
            format!("{:.2}", ratio(s.flotilla, s.tcp_tls)),
        ));
        let mut out = format!(
            "{:<28} {:>14} {:>14} {:>16}\n",
            "", "flotilla QUIC", "TCP+TLS", "flotilla/TCP"
        );
        for (label, a, b, r) in rows {
            out.push_str(&format!("{label:<28} {a:>14} {b:>14} {r:>16}\n"));
        }
        let r = &self.reconnect;
        out.push_str(&format!(
            "\nfirst answer after the server starts listening, p50: {:.0} ms \
             (initial RTT 10 ms); {:.0} ms with QUIC's default initial RTT (333 ms)\n",
            millis(r.flotilla),
            millis(r.quic_default_initial_rtt)
        ));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report() -> TransportReport {
        let figures = |rate: f64, p50: u64, p99: u64| CallFigures {
            calls_per_second: rate,
            p50: Duration::from_micros(p50),
            p99: Duration::from_micros(p99),
        };
        TransportReport {
            calls: vec![(
                64,
                Compared {
                    flotilla: figures(60_000.0, 900, 3000),
                    tcp_tls: figures(40_000.0, 1200, 2000),
                },
            )],
            stream_bytes: 64 << 20,
            stream_mib_per_second: Compared {
                flotilla: 500.0,
                tcp_tls: 1000.0,
            },
            reconnect: Reconnect {
                flotilla: Duration::from_millis(40),
                quic_default_initial_rtt: Duration::from_millis(1000),
            },
        }
    }

    #[test]
    fn json_has_both_peers_and_ratios() {
        let json = report().to_json();
        assert_eq!(json["flotilla_calls_per_s_64"], 60000.0);
        assert_eq!(json["tcp_tls_p99_us_64"], 2000.0);
        assert_eq!(json["ratio_calls_per_s_64"], 1.5);
        assert_eq!(json["ratio_p99_64"], 1.5);
        assert_eq!(json["ratio_stream"], 0.5);
        assert_eq!(json["reconnect_ms"], 40.0);
        assert_eq!(json["reconnect_ms_quic_default_initial_rtt"], 1000.0);
    }

    #[test]
    fn table_rows() {
        let table = report().to_table();
        assert!(table.contains("calls/s, 64 caller(s)"), "{table}");
        assert!(table.contains("64 MiB stream"), "{table}");
        assert!(
            table
                .lines()
                .any(|l| l.starts_with("p99 latency, 64") && l.ends_with("1.50")),
            "{table}"
        );
    }
}
