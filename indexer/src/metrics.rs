//! The run's figures as a Prometheus textfile, for node_exporter's textfile collector.
//!
//! A nightly job has no endpoint to scrape, so each finished run rewrites one small file
//! (atomically: a temporary file renamed over it, as the collector requires) and an alert can
//! watch `shirabe_indexer_last_success_timestamp_seconds` age. A run that dies with a fatal error
//! leaves the file as it was, so the last success keeps ageing; a run that finishes with failed
//! files updates everything but the last success, which it carries over from the previous file.
//!
//! node_exporter serves the file to anyone who can reach it, without a login, so it holds no
//! figure that counts documents or files: those include classified ones, and a count that moves
//! when a 機密性3 file is added tells that it exists. Counts are in the run report (`--report`),
//! which only the indexer's administrators read; the textfile says only whether files failed.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context, Result};
use shirabe_engine::index::RunReport;

const LAST_SUCCESS: &str = "shirabe_indexer_last_success_timestamp_seconds";

/// The textfile for `report`, finished at Unix time `now`; `previous` is the file the last run
/// wrote (its last success is kept when this run had failures).
pub fn render(report: &RunReport, now: f64, previous: Option<&str>) -> String {
    let last_success = if report.failed.is_empty() { Some(now) } else { previous.and_then(previous_success) };
    let mut out = String::new();
    let mut gauge = |name: &str, help: &str, samples: &[(&str, f64)]| {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
        for (labels, value) in samples {
            let _ = writeln!(out, "{name}{labels} {value}");
        }
    };
    gauge("shirabe_indexer_last_run_timestamp_seconds", "When the last indexer run finished (Unix time).", &[("", now)]);
    if let Some(t) = last_success {
        gauge(LAST_SUCCESS, "When the last indexer run finished without failed files (Unix time).", &[("", t)]);
    }
    let had_failures = if report.failed.is_empty() && report.withheld.is_empty() { 0.0 } else { 1.0 };
    gauge(
        "shirabe_indexer_last_run_had_failures",
        "1 when the last run had files that failed or were withheld (the run report lists them), else 0.",
        &[("", had_failures)],
    );
    gauge("shirabe_indexer_run_duration_seconds", "How long the last run took.", &[("", report.seconds)]);
    if let Some(generation) = report.generation {
        gauge("shirabe_indexer_generation", "The index generation the last run published.", &[("", generation as f64)]);
    }
    out
}

/// The last success a previous textfile records.
fn previous_success(previous: &str) -> Option<f64> {
    previous.lines().find_map(|line| line.strip_prefix(LAST_SUCCESS)?.strip_prefix(' ')?.trim().parse().ok())
}

/// Writes `text` to `path` through a temporary file in the same folder and a rename, so the
/// collector never reads half a file.
pub fn write(path: &Path, text: &str) -> Result<()> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let tmp = tempfile::NamedTempFile::new_in(dir).with_context(|| format!("creating a temporary file in {}", dir.display()))?;
    std::fs::write(tmp.path(), text).with_context(|| format!("writing {}", tmp.path().display()))?;
    tmp.persist(path).with_context(|| format!("renaming the metrics file to {}", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use shirabe_engine::index::{Failure, FileItem};

    fn report(failed: usize) -> RunReport {
        let mut r = RunReport { generation: Some(7), documents: 12, passages: 340, seconds: 4.5, ..RunReport::default() };
        r.added.push(FileItem { path: "a.txt".into() });
        for i in 0..failed {
            r.failed.push(Failure { path: format!("bad-{i}.pdf"), reason: "no text".into() });
        }
        r
    }

    #[test]
    fn a_clean_run_is_a_success_and_a_run_with_failures_keeps_the_last_one() {
        let clean = render(&report(0), 1000.0, None);
        assert!(clean.contains("shirabe_indexer_last_success_timestamp_seconds 1000\n"), "{clean}");
        assert!(clean.contains("shirabe_indexer_last_run_had_failures 0\n"), "{clean}");
        assert!(clean.contains("shirabe_indexer_generation 7\n"), "{clean}");
        // No count that classified documents or files would move.
        for count in ["documents", "passages", "files"] {
            assert!(!clean.contains(&format!("shirabe_indexer_{count}")), "{count}: {clean}");
        }
        // Every metric has HELP and TYPE.
        let names: std::collections::BTreeSet<&str> = clean.lines().filter(|l| !l.starts_with('#')).filter_map(|l| l.split(['{', ' ']).next()).collect();
        for name in names {
            assert!(clean.contains(&format!("# HELP {name} ")) && clean.contains(&format!("# TYPE {name} gauge")), "{name}");
        }

        let failed = render(&report(2), 2000.0, Some(&clean));
        assert!(failed.contains("shirabe_indexer_last_run_timestamp_seconds 2000\n"), "{failed}");
        assert!(failed.contains("shirabe_indexer_last_success_timestamp_seconds 1000\n"), "the last success is kept: {failed}");
        assert!(failed.contains("shirabe_indexer_last_run_had_failures 1\n"), "{failed}");
        // Without an earlier success there is none to report.
        assert!(!render(&report(1), 3000.0, None).contains("last_success"));
    }
}
