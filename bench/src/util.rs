//! Small helpers shared by the benchmarks: percentiles, memory, load average, JSONL input.

use std::io::BufRead;
use std::path::Path;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

/// Latency percentiles in milliseconds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Percentiles {
    pub n: usize,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub mean_ms: f64,
    pub max_ms: f64,
}

impl Percentiles {
    pub fn of(mut ms: Vec<f64>) -> Percentiles {
        ms.sort_by(f64::total_cmp);
        let pick = |p: f64| {
            if ms.is_empty() {
                0.0
            } else {
                // Nearest rank.
                let rank = ((p * ms.len() as f64).ceil() as usize).clamp(1, ms.len());
                ms[rank - 1]
            }
        };
        let mean = if ms.is_empty() { 0.0 } else { ms.iter().sum::<f64>() / ms.len() as f64 };
        Percentiles {
            n: ms.len(),
            p50_ms: round2(pick(0.50)),
            p95_ms: round2(pick(0.95)),
            p99_ms: round2(pick(0.99)),
            mean_ms: round2(mean),
            max_ms: round2(ms.last().copied().unwrap_or(0.0)),
        }
    }
}

pub fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// The 1, 5 and 15 minute load averages (`/proc/loadavg`), printed with every result because
/// the machine is shared and timings depend on it.
pub fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|| "unknown".into())
}

/// Number of CPUs this process may use.
pub fn cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Peak resident memory of this process, MiB.
pub fn peak_rss_mib() -> Option<f64> {
    shirabe_engine::index::peak_rss_mib().map(round2)
}

/// `VmHWM` (peak) and `VmRSS` (current) of another process, MiB.
pub fn rss_of(pid: u32) -> (Option<f64>, Option<f64>) {
    let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
        return (None, None);
    };
    let field = |name: &str| {
        let line = status.lines().find(|l| l.starts_with(name))?;
        let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(round2(kib / 1024.0))
    };
    (field("VmHWM:"), field("VmRSS:"))
}

/// Reads a JSONL file (blank lines skipped).
pub fn read_jsonl<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<Vec<T>> {
    let f = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut out = Vec::new();
    for (i, line) in std::io::BufReader::new(f).lines().enumerate() {
        let line = line.with_context(|| format!("reading {}", path.display()))?;
        if line.trim().is_empty() {
            continue;
        }
        out.push(serde_json::from_str(&line).with_context(|| format!("{} line {}", path.display(), i + 1))?);
    }
    Ok(out)
}

/// A query of an evaluation set (only `text` is used; `question` in the precedent dev set).
#[derive(Debug, Clone, Deserialize)]
pub struct QueryLine {
    #[serde(alias = "question")]
    pub text: String,
}

/// Loads `n` query texts, cycling through the file if it has fewer.
pub fn load_queries(path: &Path, n: usize) -> Result<Vec<String>> {
    let all: Vec<QueryLine> = read_jsonl(path)?;
    anyhow::ensure!(!all.is_empty(), "{} holds no queries", path.display());
    Ok(all.iter().cycle().take(n.max(1)).map(|q| q.text.clone()).collect())
}

/// Prints one result as a JSON line on stdout (and flushes, so piping shows progress).
pub fn emit(value: &serde_json::Value) {
    use std::io::Write;
    println!("{value}");
    let _ = std::io::stdout().flush();
}

/// CPU time consumed by the calling thread so far, in milliseconds (`CLOCK_THREAD_CPUTIME_ID`).
/// With one embedding thread, ONNX Runtime runs on the caller's thread, so the difference
/// around a search is the work the search needs, whatever else runs on the machine: a lower
/// bound of its latency on an idle machine.
pub fn thread_cpu_ms() -> f64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes into the timespec we own.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as f64 * 1000.0 + ts.tv_nsec as f64 / 1e6
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let p = Percentiles::of((1..=100).map(f64::from).rev().collect());
        assert_eq!((p.n, p.p50_ms, p.p95_ms, p.p99_ms, p.max_ms), (100, 50.0, 95.0, 99.0, 100.0));
        assert_eq!(Percentiles::of(Vec::new()).p99_ms, 0.0);
    }
}
