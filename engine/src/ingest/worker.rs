//! Extraction of one file in a child process, under a memory limit.
//!
//! pdf-extract runs inside the process that calls it, and a hostile PDF can make it allocate
//! without bound; `catch_unwind` contains its panics but not an allocation that takes the
//! machine's memory. So the indexer extracts each file in a child: it re-executes its own binary
//! with the hidden argument [`WORKER_ARG`] and a JSON job. The child
//!
//! - asks the kernel to kill it when the indexer dies (`PR_SET_DEATHSIG`), so `kill -9` of a run
//!   leaves no worker behind, and exits by itself shortly after the per-file time limit;
//! - runs [`extract_capped`] and writes the documents (text capped at
//!   `indexer.max_document_chars`), or the error, as JSON to stdout.
//!
//! The parent watches the resident memory of the child and of the tools it starts (pdftotext,
//! pdftoppm, tesseract) together, and kills the whole group when it passes
//! `indexer.max_file_memory_mib` (see [`super::process`]: an RSS watchdog on `/proc`). The file is
//! then reported as failed with "memory limit", and its previous version stays in the index. The
//! parent also kills the child at the per-file deadline plus a grace period, whatever the child is
//! doing.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::document::{ExtractOptions, Extraction, IngestError};
use super::extract::extract_capped;
use super::process::{self, RunError};

/// The hidden first argument that turns a binary into an extraction worker.
pub const WORKER_ARG: &str = "__shirabe-extract-worker";

/// Time the child gets beyond the per-file limit to report its own timeout before it is killed.
const GRACE: Duration = Duration::from_secs(10);

/// Exit status of a worker stopped by its own watchdog.
const WATCHDOG_EXIT: i32 = 3;

/// Largest JSON a worker may return.
const MAX_OUTPUT_BYTES: usize = 512 * 1024 * 1024;

#[derive(Debug, Serialize, Deserialize)]
struct Job {
    path: PathBuf,
    max_bytes: u64,
    ocr: bool,
    timeout_ms: u64,
    max_ocr_pages: usize,
    ocr_dpi: u32,
    max_memory_mib: u64,
    max_chars: usize,
}

#[derive(Debug, Serialize, Deserialize)]
enum Outcome {
    Documents(Extraction),
    /// The extractor's error, as its message; `memory` when it was the memory limit.
    Failed { message: String, memory: bool },
}

/// Runs the worker when this process was started as one (`argv[1] == WORKER_ARG`) and exits;
/// returns otherwise. Binaries that pass their own path as `RunOptions::worker` call this first
/// thing in `main`.
pub fn run_if_worker() {
    let mut args = std::env::args_os().skip(1);
    if args.next().as_deref() != Some(std::ffi::OsStr::new(WORKER_ARG)) {
        return;
    }
    let code = match args.next().and_then(|a| a.into_string().ok()).and_then(|j| serde_json::from_str::<Job>(&j).ok()) {
        Some(job) => work(job),
        None => {
            eprintln!("{WORKER_ARG}: expected one JSON job argument");
            2
        }
    };
    std::process::exit(code);
}

fn work(job: Job) -> i32 {
    die_with_parent();
    let timeout = Duration::from_millis(job.timeout_ms);
    // A watchdog, in case an extractor ignores its deadline (pdf-extract cannot be stopped).
    let _ = std::thread::Builder::new().stack_size(64 * 1024).spawn(move || {
        std::thread::sleep(timeout.saturating_add(GRACE / 2));
        std::process::exit(WATCHDOG_EXIT);
    });
    let opts = ExtractOptions {
        max_bytes: job.max_bytes,
        ocr: job.ocr,
        timeout,
        max_ocr_pages: job.max_ocr_pages,
        ocr_dpi: job.ocr_dpi,
        max_memory_mib: job.max_memory_mib,
        max_chars: job.max_chars,
    };
    let outcome = match extract_capped(&job.path, &opts) {
        Ok(extraction) => Outcome::Documents(extraction),
        Err(e) => Outcome::Failed { memory: matches!(e, IngestError::MemoryLimit { .. }), message: e.to_string() },
    };
    let stdout = std::io::stdout();
    let mut lock = stdout.lock();
    match serde_json::to_writer(&mut lock, &outcome) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("{WORKER_ARG}: cannot write the result: {e}");
            2
        }
    }
}

/// Asks Linux to SIGKILL this process when its parent exits.
fn die_with_parent() {
    #[cfg(target_os = "linux")]
    // SAFETY: prctl(PR_SET_PDEATHSIG) takes a signal number and touches no memory of ours.
    unsafe {
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong, 0, 0, 0);
    }
}

/// Whether a dead worker's stderr shows that an allocation was refused.
fn ran_out_of_memory(stderr: &str) -> bool {
    let s = stderr.to_ascii_lowercase();
    ["memory allocation of", "out of memory", "cannot allocate memory", "bad_alloc"].iter().any(|m| s.contains(m))
}

/// Extracts `path` in a worker process started from `worker` (a binary that calls
/// [`run_if_worker`]), with the limits of `opts`.
pub fn extract_isolated(path: &Path, opts: &ExtractOptions, worker: &Path) -> Result<Extraction, IngestError> {
    let job = Job {
        path: path.to_path_buf(),
        max_bytes: opts.max_bytes,
        ocr: opts.ocr,
        timeout_ms: u64::try_from(opts.timeout.as_millis()).unwrap_or(u64::MAX),
        max_ocr_pages: opts.max_ocr_pages,
        ocr_dpi: opts.ocr_dpi,
        max_memory_mib: opts.max_memory_mib,
        max_chars: opts.max_chars,
    };
    let job = serde_json::to_string(&job).map_err(|e| IngestError::Malformed { path: path.to_path_buf(), detail: format!("extraction job: {e}") })?;
    let mut cmd = Command::new(worker);
    // Few malloc arenas: freed memory is reused rather than spread over per-thread arenas.
    cmd.arg(WORKER_ARG).arg(job).env("MALLOC_ARENA_MAX", "2");
    let max_rss = (opts.max_memory_mib > 0).then(|| opts.max_memory_mib.saturating_mul(1024 * 1024));
    let started = Instant::now();
    let deadline = started
        .checked_add(opts.timeout.saturating_add(GRACE))
        .unwrap_or_else(|| started + Duration::from_secs(86_400 * 365));
    let failed = |detail: String| IngestError::ToolFailed { path: path.to_path_buf(), tool: "the extraction worker", detail };
    let memory_limit = || IngestError::MemoryLimit { path: path.to_path_buf(), limit_mib: opts.max_memory_mib };
    let out = match process::run_limited(&mut cmd, deadline, MAX_OUTPUT_BYTES, max_rss) {
        Ok(out) => out,
        Err(RunError::Memory) => return Err(memory_limit()),
        Err(RunError::Timeout) => return Err(IngestError::Timeout { path: path.to_path_buf(), tool: "extraction", timeout: opts.timeout }),
        Err(RunError::Missing) => return Err(failed(format!("{} not found", worker.display()))),
        Err(RunError::Io(e)) => return Err(failed(e.to_string())),
    };
    if out.status.success() {
        return match serde_json::from_slice::<Outcome>(&out.stdout) {
            Ok(Outcome::Documents(docs)) => Ok(docs),
            Ok(Outcome::Failed { memory: true, .. }) => Err(memory_limit()),
            Ok(Outcome::Failed { message, .. }) => Err(IngestError::Reported { message }),
            Err(e) => Err(failed(format!("unreadable result: {e}"))),
        };
    }
    if ran_out_of_memory(&out.stderr) {
        return Err(memory_limit());
    }
    if out.status.code() == Some(WATCHDOG_EXIT) {
        return Err(IngestError::Timeout { path: path.to_path_buf(), tool: "extraction", timeout: opts.timeout });
    }
    let last: Vec<&str> = out.stderr.lines().rev().take(3).collect();
    Err(failed(format!("{} ({})", out.status, last.into_iter().rev().collect::<Vec<_>>().join(" / "))))
}
