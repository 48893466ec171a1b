//! `shirabe-indexer`: the nightly run that brings the index in line with the shared folders.
//!
//! Exit status: 0 when the run finished and every file was read; 2 when it finished and some
//! files failed (they are in the report, their previous versions stay searchable, and the new
//! index is published all the same), so that a timer's `OnFailure=` or cron's mail can alert;
//! 1 for fatal errors (configuration, lock held by another run, index unwritable), after which
//! the service keeps the previous index.
//!
//! The run lock is taken first, before the dictionary and the model are loaded, so a second run
//! started while one is going is refused at once.

use std::io::IsTerminal;
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Parser;
use indicatif::{ProgressBar, ProgressStyle};
use shirabe_engine::config::Config;
use shirabe_engine::index::embed::Embedder;
use shirabe_engine::index::{run_locked, RunLock, RunOptions, RunReport};
use shirabe_engine::text::analysis::Analyzers;

mod metrics;

/// Index PDFs, circulars (HTML/Markdown/text), e-Gov law XML and minutes (JSONL) into the
/// hybrid index. Unchanged files are skipped, deleted files removed, moved files not re-embedded.
/// The service picks up the new index when the run finishes.
#[derive(Parser)]
#[command(version)]
struct Cli {
    /// Configuration file (TOML); see `shirabe --help`.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Data directory (overrides the configuration).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Write the JSON run report here (it is also printed to stdout).
    #[arg(long)]
    report: Option<PathBuf>,
    /// Write the run's figures here as a Prometheus textfile (for node_exporter's textfile
    /// collector), replacing the file atomically; a fatal run leaves it untouched.
    #[arg(long)]
    metrics_file: Option<PathBuf>,
    /// Only report what would change.
    #[arg(long)]
    dry_run: bool,
    /// Folders to index.
    #[arg(required = true)]
    sources: Vec<PathBuf>,
}

fn main() {
    // Re-executed as a per-file extraction worker (see shirabe_engine::ingest::worker)?
    shirabe_engine::ingest::worker::run_if_worker();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info,ort=warn,tantivy=warn,qdrant_edge=error".into());
    let json_logs = !std::io::stderr().is_terminal();
    if json_logs {
        tracing_subscriber::fmt().json().with_env_filter(filter).with_writer(std::io::stderr).init();
    } else {
        tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
    }
    match main_inner() {
        Ok(report) if !report.failed.is_empty() => {
            eprintln!("warning: {} file(s) failed; see \"failed\" in the report (exit status 2)", report.failed.len());
            std::process::exit(2);
        }
        Ok(_) => {}
        Err(err) => {
            eprintln!("error: {err:#}");
            std::process::exit(1);
        }
    }
}

fn main_inner() -> Result<RunReport> {
    let cli = Cli::parse();
    let mut config = Config::load(cli.config.as_deref())?;
    if let Some(dir) = cli.data_dir {
        config.data_dir = dir;
    }
    let lock = RunLock::acquire(&config.index_dir())?;
    let analyzers = Analyzers::load(&config.dict_dir())?;
    let embedder = if cli.dry_run {
        None
    } else {
        Some(Embedder::from_config(&config)?)
    };
    let bar = if std::io::stderr().is_terminal() {
        let bar = ProgressBar::new(0);
        bar.set_style(ProgressStyle::with_template("{bar:40} {pos}/{len} {wide_msg}").unwrap_or_else(|_| ProgressStyle::default_bar()));
        Some(bar)
    } else {
        None
    };
    let progress = |done: usize, total: usize, path: &str| match &bar {
        Some(bar) => {
            bar.set_length(total as u64);
            bar.set_position(done as u64);
            bar.set_message(path.to_string());
        }
        None if !path.is_empty() => tracing::info!(done, total, path, "extracting"),
        None => {}
    };
    let worker = std::env::current_exe().context("locating the indexer binary for its extraction workers")?;
    let opts = RunOptions { sources: &cli.sources, dry_run: cli.dry_run, progress: &progress, worker: Some(&worker) };
    let report = run_locked(&config, &analyzers, embedder.as_ref(), &opts, lock)?;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let json = serde_json::to_string_pretty(&report)?;
    if let Some(path) = &cli.report {
        std::fs::write(path, &json).with_context(|| format!("writing the report to {}", path.display()))?;
    }
    println!("{json}");
    if let (Some(path), false) = (&cli.metrics_file, cli.dry_run) {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or_default();
        let previous = std::fs::read_to_string(path).ok();
        metrics::write(path, &metrics::render(&report, now.round(), previous.as_deref()))?;
    }
    tracing::info!(
        added = report.added.len(),
        updated = report.updated.len(),
        deleted = report.deleted.len(),
        moved = report.moved.len(),
        unchanged = report.unchanged.len(),
        failed = report.failed.len(),
        passages = report.passages,
        seconds = report.seconds,
        "indexer run finished"
    );
    Ok(report)
}
