//! Prometheus metrics of the service: the build, request counts by route and status code,
//! latency histograms by route, and the served index (generation, documents, passages, time of
//! the last run).
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

    /// The Prometheus text exposition (names, units and labels as the ecosystem writes them;
    /// HELP and TYPE on every metric), with the index figures appended.
    pub fn render(&self, generation: Option<u64>, documents: usize, passages: u64, last_run_unix: Option<i64>) -> String {
        let mut out = String::new();
        let head = |out: &mut String, name: &str, kind: &str, help: &str| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        };
        head(&mut out, "shirabe_build_info", "gauge", "The running build: always 1, with the version as a label.");
        let _ = writeln!(out, "shirabe_build_info{{version=\"{}\"}} 1", env!("CARGO_PKG_VERSION"));
        head(&mut out, "shirabe_http_requests_total", "counter", "HTTP requests by route and status code.");
        for ((route, code), n) in self.requests.lock().iter() {
            let _ = writeln!(out, "shirabe_http_requests_total{{route=\"{route}\",code=\"{code}\"}} {n}");
        }
        head(&mut out, "shirabe_http_request_duration_seconds", "histogram", "HTTP request latency by route.");
        for (route, h) in self.latency.lock().iter() {
            for (i, bound) in BUCKETS.iter().enumerate() {
                let _ = writeln!(out, "shirabe_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"{bound}\"}} {}", h.counts[i]);
            }
            let _ = writeln!(out, "shirabe_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"+Inf\"}} {}", h.count);
            let _ = writeln!(out, "shirabe_http_request_duration_seconds_sum{{route=\"{route}\"}} {}", h.sum);
            let _ = writeln!(out, "shirabe_http_request_duration_seconds_count{{route=\"{route}\"}} {}", h.count);
        }
        let gauges = [
            ("shirabe_index_generation", "The index generation being served (0 = none).", generation.unwrap_or(0).to_string()),
            ("shirabe_index_documents", "Documents in the served index that the scraping user may see.", documents.to_string()),
            ("shirabe_index_passages", "Passages in the served index that the scraping user may see.", passages.to_string()),
            ("shirabe_index_last_run_timestamp_seconds", "When the served generation's indexer run finished (Unix time; 0 = unknown).", last_run_unix.unwrap_or(0).to_string()),
        ];
        for (name, help, value) in gauges {
            head(&mut out, name, "gauge", help);
            let _ = writeln!(out, "{name} {value}");
        }
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
        assert!(text.contains("shirabe_http_requests_total{route=\"/api/search\",code=\"200\"} 2"), "{text}");
        assert!(text.contains("shirabe_http_request_duration_seconds_bucket{route=\"/api/search\",le=\"0.025\"} 2"), "{text}");
        assert!(text.contains("shirabe_http_request_duration_seconds_bucket{route=\"/api/search\",le=\"+Inf\"} 3"), "{text}");
        assert!(text.contains("shirabe_index_passages 42"));
        assert!(text.contains("shirabe_index_generation 3"));
        assert!(text.contains(&format!("shirabe_build_info{{version=\"{}\"}} 1", env!("CARGO_PKG_VERSION"))));
        // Every sample's metric family has HELP and TYPE.
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let name = line.split(['{', ' ']).next().unwrap_or_default();
            let family = ["_bucket", "_sum", "_count"].iter().find_map(|s| name.strip_suffix(s)).filter(|f| text.contains(&format!("# TYPE {f} histogram"))).unwrap_or(name);
            assert!(text.contains(&format!("# HELP {family} ")) && text.contains(&format!("# TYPE {family} ")), "{family}");
        }
    }
}
