//! `shirabe-bench index`: indexing throughput and memory of the real nightly indexer on a source
//! folder (the shared corpus): a fresh run into an empty index directory, then a rerun with
//! nothing changed (what a quiet night costs). The figures come from the indexer's own JSON
//! report (per-stage passages/s, `peak_rss_mib` = the indexer process's `VmHWM`) plus the wall
//! time this command measures around the process.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{bail, ensure, Context, Result};
use serde_json::{json, Value};
use shirabe_engine::config::Config;

use crate::util;

#[derive(Debug, Clone, clap::Args)]
pub struct IndexArgs {
    /// Source folders (e.g. ../shared/corpus; read in place, never copied).
    #[arg(required = true)]
    pub sources: Vec<PathBuf>,
    /// Index directory for the benchmark (emptied first unless --rerun-only).
    #[arg(long)]
    pub index_dir: PathBuf,
    /// Skip the fresh run: only time a rerun against the index already in --index-dir.
    #[arg(long)]
    pub rerun_only: bool,
    /// Number of nothing-changed reruns.
    #[arg(long, default_value_t = 1)]
    pub reruns: usize,
    /// The `shirabe-indexer` binary (default: next to this one).
    #[arg(long)]
    pub indexer_bin: Option<PathBuf>,
}

pub fn run(config: &Config, args: &IndexArgs) -> Result<()> {
    let bin = match &args.indexer_bin {
        Some(b) => b.clone(),
        None => std::env::current_exe()?.with_file_name("shirabe-indexer"),
    };
    let data_dir = std::fs::canonicalize(&config.data_dir).with_context(|| format!("data directory {}", config.data_dir.display()))?;
    let dir = &args.index_dir;
    if !args.rerun_only && dir.exists() {
        let is_index = dir.join("CURRENT").exists() || dir.join("indexer.lock").exists();
        let empty = std::fs::read_dir(dir)?.next().is_none();
        ensure!(is_index || empty, "{} is not an index directory; refusing to empty it", dir.display());
        std::fs::remove_dir_all(dir)?;
    }
    if args.rerun_only {
        ensure!(dir.join("CURRENT").exists(), "{} holds no index to rerun against", dir.display());
    }
    std::fs::create_dir_all(dir)?;
    let dir = std::fs::canonicalize(dir)?;
    let mut runs: Vec<&str> = Vec::new();
    if !args.rerun_only {
        runs.push("fresh");
    }
    runs.extend(std::iter::repeat_n("nothing_changed", args.reruns));
    for kind in runs {
        let report_path = dir.with_extension(format!("{kind}.report.json"));
        let log_path = dir.with_extension(format!("{kind}.log"));
        let t = Instant::now();
        let status = Command::new(&bin)
            .arg("--report")
            .arg(&report_path)
            .args(&args.sources)
            .env("SHIRABE_DATA_DIR", &data_dir)
            .env("SHIRABE_INDEX_DIR", &dir)
            .env_remove("SHIRABE_CONFIG")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log_path)?)
            .status()
            .with_context(|| format!("running {}", bin.display()))?;
        let wall = t.elapsed().as_secs_f64();
        if !status.success() {
            bail!("shirabe-indexer failed ({status}); see {}", log_path.display());
        }
        let report: Value = serde_json::from_slice(&std::fs::read(&report_path)?)?;
        util::emit(&summary(kind, &report, wall, &report_path));
    }
    Ok(())
}

/// The benchmark's view of an indexer report.
pub fn summary(kind: &str, r: &Value, wall: f64, report_path: &Path) -> Value {
    let len = |k: &str| r.get(k).and_then(Value::as_array).map_or(0, Vec::len);
    json!({
        "bench": "index", "run": kind, "wall_seconds": util::round2(wall),
        "files": { "added": len("added"), "updated": len("updated"), "deleted": len("deleted"), "moved": len("moved"), "unchanged": len("unchanged"), "failed": len("failed") },
        "documents": r["documents"], "passages": r["passages"], "passages_written": r["passages_written"],
        "seconds": { "total": r["seconds"], "extract": r["extract_seconds"], "keyword": r["keyword_seconds"], "embedding": r["embedding_seconds"], "vector_upsert": r["vector_seconds"], "optimize": r["optimize_seconds"] },
        "passages_per_second": { "extraction": r["extraction_passages_per_second"], "keyword": r["keyword_passages_per_second"], "embedding": r["embedding_passages_per_second"], "write_phase": r["passages_per_second"] },
        "indexer_peak_rss_mib": r["peak_rss_mib"],
        "report": report_path, "loadavg": util::loadavg(),
    })
}
