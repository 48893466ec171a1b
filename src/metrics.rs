//! Prometheus metrics of the service: request counts by route and status, latency histograms
//! by route, and the served index (generation, documents, passages, time of the last run).
//! The text format is small enough to write directly; no metrics registry is needed.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::time::Duration;

use parking_lot::Mutex;

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 10] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0];

#[derive(Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

/// Request counters and latency histograms.
#[derive(Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<(String, u16), u64>>,
    latency: Mutex<BTreeMap<String, Histogram>>,
}

impl Metrics {
    /// Records one finished request.
    pub fn observe(&self, route: &str, status: u16, elapsed: Duration) {
        *self.requests.lock().entry((route.to_string(), status)).or_default() += 1;
        let secs = elapsed.as_secs_f64();
        let mut latency = self.latency.lock();
        let h = latency.entry(route.to_string()).or_default();
        for (i, bound) in BUCKETS.iter().enumerate() {
            if secs <= *bound {
                h.counts[i] += 1;
            }
        }
        h.count += 1;
        h.sum += secs;
    }

    /// The Prometheus text exposition, with the index figures appended.
    pub fn render(&self, generation: Option<u64>, documents: usize, passages: u64, last_run_unix: Option<i64>) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "# HELP shirabe_requests_total HTTP requests by route and status.");
        let _ = writeln!(out, "# TYPE shirabe_requests_total counter");
        for ((route, status), n) in self.requests.lock().iter() {
            let _ = writeln!(out, "shirabe_requests_total{{route=\"{route}\",status=\"{status}\"}} {n}");
        }
        let _ = writeln!(out, "# HELP shirabe_request_seconds HTTP request latency by route.");
        let _ = writeln!(out, "# TYPE shirabe_request_seconds histogram");
        for (route, h) in self.latency.lock().iter() {
            for (i, bound) in BUCKETS.iter().enumerate() {
                let _ = writeln!(out, "shirabe_request_seconds_bucket{{route=\"{route}\",le=\"{bound}\"}} {}", h.counts[i]);
            }
            let _ = writeln!(out, "shirabe_request_seconds_bucket{{route=\"{route}\",le=\"+Inf\"}} {}", h.count);
            let _ = writeln!(out, "shirabe_request_seconds_sum{{route=\"{route}\"}} {}", h.sum);
            let _ = writeln!(out, "shirabe_request_seconds_count{{route=\"{route}\"}} {}", h.count);
        }
        let _ = writeln!(out, "# HELP shirabe_index_generation The index generation being served (0 = none).");
        let _ = writeln!(out, "# TYPE shirabe_index_generation gauge");
        let _ = writeln!(out, "shirabe_index_generation {}", generation.unwrap_or(0));
        let _ = writeln!(out, "# TYPE shirabe_index_documents gauge");
        let _ = writeln!(out, "shirabe_index_documents {documents}");
        let _ = writeln!(out, "# TYPE shirabe_index_passages gauge");
        let _ = writeln!(out, "shirabe_index_passages {passages}");
        let _ = writeln!(out, "# HELP shirabe_index_last_run_timestamp_seconds When the served generation's indexer run finished.");
        let _ = writeln!(out, "# TYPE shirabe_index_last_run_timestamp_seconds gauge");
        let _ = writeln!(out, "shirabe_index_last_run_timestamp_seconds {}", last_run_unix.unwrap_or(0));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_cumulative_buckets() {
        let m = Metrics::default();
        m.observe("/api/search", 200, Duration::from_millis(20));
        m.observe("/api/search", 200, Duration::from_millis(200));
        m.observe("/api/search", 400, Duration::from_millis(1));
        let text = m.render(Some(3), 10, 42, Some(1_700_000_000));
        assert!(text.contains("shirabe_requests_total{route=\"/api/search\",status=\"200\"} 2"));
        assert!(text.contains("shirabe_request_seconds_bucket{route=\"/api/search\",le=\"0.025\"} 2"));
        assert!(text.contains("shirabe_request_seconds_bucket{route=\"/api/search\",le=\"+Inf\"} 3"));
        assert!(text.contains("shirabe_index_passages 42"));
        assert!(text.contains("shirabe_index_generation 3"));
    }
}
