//! The nightly run: walk the sources, hash and label each file, [`plan`](super::plan) against the
//! served generation, extract in the worker process, write through a
//! [`GenerationBuilder`](super::GenerationBuilder) and publish, and report what happened
//! ([`RunReport`]). A bad file costs one line of the report; a crash leaves the served
//! generation as it was.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::builder::GenerationBuilder;
use super::generation::{failpoint, read_state, FileEntry, IndexDir, RunLock, State, STATE};
use super::plan::{self, ScannedFile};
use super::write::build_document;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::index::embed::Embedder;
use crate::index::keyword::KeywordIndex;
use crate::ingest::{self, ExtractOptions, ExtractedDocument};
use crate::model::{Access, Document, Passage};
use crate::text::analysis::Analyzers;

/// sha256 of a file, streamed. The file is opened without following a symbolic link.
pub fn hash_file(path: &Path) -> std::io::Result<(String, u64)> {
    hash_copy(&mut open_no_follow(path)?, &mut std::io::sink())
}

/// Opens a regular file for reading without following a symbolic link in its last component
/// (a link swapped in after the walk must not bring another file's text under this file's
/// label), and without blocking on a FIFO swapped in the same way.
fn open_no_follow(path: &Path) -> std::io::Result<fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    let file = fs::OpenOptions::new().read(true).custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK).open(path)?;
    if !file.metadata()?.is_file() {
        return Err(std::io::Error::other("not a regular file"));
    }
    Ok(file)
}

/// Copies `from` to `to` while hashing it: sha256 and size of what was copied.
fn hash_copy(from: &mut impl Read, to: &mut impl Write) -> std::io::Result<(String, u64)> {
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut size = 0u64;
    loop {
        let n = from.read(&mut buf)?;
        if n == 0 {
            break;
        }
        size += n as u64;
        h.update(&buf[..n]);
        to.write_all(&buf[..n])?;
    }
    Ok((hex::encode(h.finalize()), size))
}

/// A private copy of exactly the bytes the scan hashed, named like the source file (so that
/// sniffing by extension and the title fallback see the same name); removed on drop.
struct VerifiedCopy {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

/// Copies a scanned file, opened without following links, into a private temporary folder and
/// checks that the copy has the scan's hash: extraction then reads the copy, so what is indexed
/// under the file's label is what was hashed, whatever happens to the path meanwhile.
fn copy_verified(p: &ScannedFile, max_bytes: u64) -> std::result::Result<VerifiedCopy, ingest::IngestError> {
    let on_share = |source| ingest::IngestError::Io { path: p.path.clone(), source };
    let mut file = open_no_follow(&p.path).map_err(on_share)?;
    let size = file.metadata().map_err(on_share)?.len();
    if size > max_bytes {
        return Err(ingest::IngestError::TooLarge { path: p.path.clone(), size, limit: max_bytes });
    }
    let dir = tempfile::Builder::new().prefix("shirabe-extract-").tempdir().map_err(|source| ingest::IngestError::Io { path: std::env::temp_dir(), source })?;
    let name = p.path.file_name().map_or_else(|| std::ffi::OsString::from("document"), |n| n.to_os_string());
    let path = dir.path().join(name);
    let in_copy = |source| ingest::IngestError::Io { path: path.clone(), source };
    let mut copy = fs::OpenOptions::new().write(true).create_new(true).open(&path).map_err(in_copy)?;
    let (hash, _) = hash_copy(&mut file, &mut copy).map_err(on_share)?;
    if hash != p.hash {
        return Err(ingest::IngestError::Malformed {
            path: p.path.clone(),
            detail: "changed during the run (its bytes no longer match the scan); it is read again on the next run".into(),
        });
    }
    Ok(VerifiedCopy { _dir: dir, path })
}

/// Largest resident memory of one extraction worker with the tools it started, as the memory
/// watchdog sampled it during this process's runs, in MiB; `None` when no worker was watched.
///
/// (`getrusage(RUSAGE_CHILDREN)` cannot give this: Linux carries the parent's resident size at
/// `fork` into the child's `ru_maxrss`, so every worker would appear as large as the indexer.)
pub fn worker_peak_rss_mib() -> Option<f64> {
    let bytes = crate::ingest::process::peak_watched_rss();
    (bytes > 0).then(|| bytes as f64 / (1024.0 * 1024.0))
}

/// Peak resident memory of this process in MiB (Linux `VmHWM`), if known.
pub fn peak_rss_mib() -> Option<f64> {
    let status = fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// One failed file in a run report.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Failure {
    pub path: String,
    pub reason: String,
}

/// One file in a run report.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FileItem {
    pub path: String,
}

/// A file whose text was longer than `indexer.max_document_chars`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TruncatedFile {
    pub path: String,
    pub kept_chars: usize,
    pub total_chars: usize,
}

/// A document indexed at a stricter level than its file's label because its text is marked
/// (機密性３, 極秘, 取扱注意 …; see [`crate::ingest::marking`]).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MarkedDocument {
    /// The file, and `#key` for one document of a file that holds several.
    pub path: String,
    /// The level its label (sidecar, folder rule or default) gave.
    pub label_level: u8,
    /// The marking as written in the text.
    pub marking: String,
    /// The level the document was indexed at.
    pub level: u8,
}

/// The JSON report of an indexer run.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RunReport {
    pub dry_run: bool,
    pub generation: Option<u64>,
    pub added: Vec<FileItem>,
    pub updated: Vec<FileItem>,
    pub deleted: Vec<FileItem>,
    pub moved: Vec<FileItem>,
    pub unchanged: Vec<FileItem>,
    pub failed: Vec<Failure>,
    /// Files whose previous documents were removed from the index because what stays must not
    /// outlive a label that changed or cannot be checked (each is also under `failed`, with the
    /// reason): an access label that could not be read, a relabelled file whose new content
    /// could not be read or extracted, a file under a folder that could not be listed. They come
    /// back when the file (or label, or folder) can be read again.
    #[serde(default)]
    pub withheld: Vec<FileItem>,
    /// Documents whose marking in the text is stricter than their label: they were indexed at
    /// the marking's level, and the label disagrees.
    #[serde(default)]
    pub marked: Vec<MarkedDocument>,
    pub documents: usize,
    pub passages: usize,
    pub passages_written: usize,
    pub seconds: f64,
    pub extract_seconds: f64,
    pub write_seconds: f64,
    pub optimize_seconds: f64,
    /// Seconds adding passages to the keyword index (analysis included).
    pub keyword_seconds: f64,
    /// Seconds embedding passages.
    pub embedding_seconds: f64,
    /// Seconds writing vectors to the vector store.
    pub vector_seconds: f64,
    /// Passages written per second of the whole write phase.
    pub passages_per_second: f64,
    pub extraction_passages_per_second: f64,
    pub keyword_passages_per_second: f64,
    pub embedding_passages_per_second: f64,
    /// Files whose text was cut at `indexer.max_document_chars`; their beginning is indexed.
    pub truncated: Vec<TruncatedFile>,
    /// Peak resident memory of the indexer process itself, MiB.
    pub peak_rss_mib: Option<f64>,
    /// Peak resident memory of one extraction worker together with the tools it started, as the
    /// memory watchdog sampled it (the largest of the run), MiB.
    pub worker_peak_rss_mib: Option<f64>,
    /// How `indexer.max_file_memory_mib` was enforced: `rss-watchdog` (each file extracted in
    /// a worker whose process tree's resident memory is watched), `off` (limit 0), or
    /// `in-process` (no worker, no limit).
    pub memory_limit: String,
    /// A stale lock left by a process that no longer runs was taken over.
    pub stale_lock_taken_over: bool,
}

/// Options of an indexer run.
pub struct RunOptions<'a> {
    pub sources: &'a [PathBuf],
    pub dry_run: bool,
    /// Called with (files done, files total, current path) for progress display.
    pub progress: &'a (dyn Fn(usize, usize, &str) + Sync),
    /// A binary that runs [`crate::ingest::worker::run_if_worker`] first thing (the indexer
    /// passes its own path): each file is then extracted in a child process under
    /// `indexer.max_file_memory_mib`. `None`: extraction runs in this process, without a memory
    /// limit (tests and tools that index small trusted sets).
    pub worker: Option<&'a Path>,
}

/// Lists the supported files under the sources, sorted for a deterministic run. A folder that
/// cannot be listed goes to `unlistable` instead of stopping the run: the caller withholds what
/// was indexed under it (one folder with wrong permissions must not freeze every night's index).
///
/// Each folder is listed once, and the same listing gives `labels` the folder's access label
/// files (which are never documents, nor is anything named like one).
fn walk(sources: &[PathBuf], unlistable: &mut Vec<(PathBuf, std::io::Error)>, labels: &mut ingest::labels::ShareLabels) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    let mut stack: Vec<PathBuf> = Vec::new();
    for s in sources {
        let abs = fs::canonicalize(s).map_err(|e| Error::io(format!("source folder {}", s.display()), e))?;
        stack.push(abs);
    }
    // A source inside another source is reached twice; its labels are read once.
    let mut listed: HashSet<PathBuf> = HashSet::new();
    while let Some(dir) = stack.pop() {
        if listed.contains(&dir) {
            continue;
        }
        let listing = match ingest::labels::list_folder(&dir) {
            Ok(l) => l,
            // A source given as a single file rather than a folder: its sidecar sits in the
            // parent folder, which is read for labels only (left unread, the file is withheld).
            Err(_) if dir.is_file() => {
                if let Some(parent) = dir.parent().filter(|p| !labels.has_folder(p)) {
                    if let Ok(l) = ingest::labels::list_folder(parent) {
                        labels.add_folder(parent, &l.entries, &l.documents, false);
                    }
                }
                files.push(dir);
                continue;
            }
            Err(e) => {
                unlistable.push((dir, e));
                continue;
            }
        };
        labels.add_folder(&dir, &listing.entries, &listing.documents, true);
        stack.extend(listing.folders);
        files.extend(listing.documents);
        listed.insert(dir);
    }
    files.sort();
    files.dedup();
    Ok(files)
}

/// Reports the sidecars that label no document: a label that reaches nothing is a mistake
/// (usually a name that differs from its document's), and it must not go unnoticed.
fn report_orphan_labels(labels: &ingest::labels::ShareLabels, report: &mut RunReport) {
    for orphan in labels.orphans() {
        let path = orphan.path.to_string_lossy().to_string();
        tracing::error!(path = %path, "{}", orphan.reason);
        report.failed.push(Failure { path, reason: orphan.reason.clone() });
    }
}

/// Finds which source root a file belongs to (for access rule inheritance).
fn root_of<'a>(roots: &'a [PathBuf], file: &'a Path) -> &'a Path {
    roots.iter().filter(|r| file.starts_with(r)).max_by_key(|r| r.as_os_str().len()).map_or(file, |r| r.as_path())
}

/// Runs the indexer: brings the index in line with `sources`.
pub fn run(config: &Config, analyzers: &Analyzers, embedder: Option<&Embedder>, opts: &RunOptions<'_>) -> Result<RunReport> {
    let lock = RunLock::acquire(&config.index_dir())?;
    run_locked(config, analyzers, embedder, opts, lock)
}

/// [`run`] with the lock already held: the indexer takes it before it loads any model, so that
/// a second run is refused at once instead of after seconds of loading.
///
/// The run scans the sources, [`plan`]s against the served generation's manifest, and (unless
/// it is a dry run) builds and publishes the next generation with a [`GenerationBuilder`].
pub fn run_locked(config: &Config, analyzers: &Analyzers, embedder: Option<&Embedder>, opts: &RunOptions<'_>, lock: RunLock) -> Result<RunReport> {
    let started = Instant::now();
    let index_dir = IndexDir::new(config.index_dir());
    let mut report = RunReport { dry_run: opts.dry_run, stale_lock_taken_over: lock.stale, ..Default::default() };
    let mut state = match index_dir.current() {
        Some(id) => read_state(&index_dir.generation_dir(id).join(STATE))?,
        None => State::default(),
    };
    let roots: Vec<PathBuf> = opts
        .sources
        .iter()
        .map(|s| fs::canonicalize(s).map_err(|e| Error::io(format!("source folder {}", s.display()), e)))
        .collect::<Result<_>>()?;
    let mut unlistable = Vec::new();
    let mut labels = ingest::labels::ShareLabels::default();
    let files = walk(&roots, &mut unlistable, &mut labels)?;
    report_orphan_labels(&labels, &mut report);
    let (found, unreadable) = scan(config, &roots, &files, &labels, &mut report);
    let unlistable = report_unlistable(unlistable, &mut report);
    let plan = plan::plan(&state, &found, &unreadable, &unlistable);
    let items = |keys: &[String]| keys.iter().map(|k| FileItem { path: k.clone() }).collect::<Vec<_>>();
    report.unchanged = items(&plan.unchanged);
    report.updated = items(&plan.updated);
    report.added = items(&plan.added);
    report.deleted = items(&plan.deleted);
    report.moved = plan.moved.iter().map(|(old, new)| FileItem { path: format!("{old} -> {new}") }).collect();
    for path in &plan.withheld {
        if unlistable.iter().any(|dir| Path::new(path).starts_with(dir)) {
            // The folder's entry under `failed` says why.
            report.withheld.push(FileItem { path: path.clone() });
        } else {
            tracing::error!(path = %path, "unreadable after its label changed: its previous documents are withheld");
            note_withheld(&mut report, path, "its label changed, so its previous documents are withheld until it can be read");
        }
    }
    if opts.dry_run {
        report.documents = state.documents.len();
        report.seconds = started.elapsed().as_secs_f64();
        return Ok(report);
    }
    let embedder = embedder.ok_or_else(|| Error::Index("an embedder is needed to write the index".into()))?;

    plan::apply_moves(&mut state, &plan.moved);
    let mut builder = GenerationBuilder::begin(&index_dir, config, analyzers)?;
    // Documents of vanished or changed files leave, unless another file still holds them.
    let mut removed_docs: Vec<String> = plan.deleted.iter().chain(&plan.withheld).filter_map(|path| state.files.remove(path)).flat_map(|e| e.doc_ids).collect();
    let (extract_seconds, write_seconds) = index_files(config, opts, embedder, &plan.extract, &mut builder, &mut state, &mut removed_docs, &mut report)?;
    // A file that failed was neither added nor updated: its previous version (if any) stays.
    let failed: HashSet<&str> = report.failed.iter().map(|f| f.path.as_str()).collect();
    report.added.retain(|f| !failed.contains(f.path.as_str()));
    report.updated.retain(|f| !failed.contains(f.path.as_str()));
    removed_docs.sort();
    removed_docs.dedup();
    let still_held = |state: &State, id: &str| state.files.values().any(|e| e.doc_ids.iter().any(|d| d == id));
    let removed: Vec<String> = removed_docs.into_iter().filter(|id| !still_held(&state, id)).collect();
    builder.remove(&removed)?;
    for id in &removed {
        state.documents.remove(id);
    }
    rehome_documents(&mut state);
    report.optimize_seconds = builder.commit()?;
    failpoint("after-commit");
    state.finished_at = Some(chrono::Utc::now().to_rfc3339());
    let times = builder.times;
    let next = builder.publish(&state, config.indexer.keep_generations)?;

    report.generation = Some(next);
    report.documents = state.documents.len();
    report.passages = keyword_count(&index_dir, next, analyzers)?;
    report.extract_seconds = extract_seconds;
    report.write_seconds = write_seconds;
    report.seconds = started.elapsed().as_secs_f64();
    let rate = |secs: f64| if secs > 0.0 { report.passages_written as f64 / secs } else { 0.0 };
    report.passages_per_second = rate(write_seconds);
    report.extraction_passages_per_second = rate(extract_seconds);
    report.keyword_passages_per_second = rate(times.keyword);
    report.embedding_passages_per_second = rate(times.embedding);
    report.keyword_seconds = times.keyword;
    report.embedding_seconds = times.embedding;
    report.vector_seconds = times.vector_upsert;
    report.peak_rss_mib = peak_rss_mib();
    report.worker_peak_rss_mib = worker_peak_rss_mib();
    drop(lock);
    Ok(report)
}

/// A document whose source file is gone but which another file still holds (an identical copy)
/// takes that file as its source, so that its original can still be downloaded.
fn rehome_documents(state: &mut State) {
    let mut holder: HashMap<&str, &str> = HashMap::new();
    for (path, entry) in &state.files {
        for id in &entry.doc_ids {
            holder.entry(id.as_str()).or_insert(path.as_str());
        }
    }
    for doc in state.documents.values_mut() {
        if !state.files.contains_key(&doc.source_path) {
            if let Some(path) = holder.get(doc.id.as_str()) {
                doc.source_path = (*path).to_string();
            }
        }
    }
}

/// Reports the folders the walk could not list (each one is a failure of the run) and returns
/// them: the plan withholds what was indexed under them, and the rest of the run goes on.
fn report_unlistable(unlistable: Vec<(PathBuf, std::io::Error)>, report: &mut RunReport) -> Vec<PathBuf> {
    unlistable
        .into_iter()
        .map(|(dir, e)| {
            let path = dir.to_string_lossy().to_string();
            tracing::error!(path = %path, error = %e, "cannot list the folder: the documents indexed under it are withheld");
            report.failed.push(Failure { path, reason: format!("cannot list the folder: {e}; the documents indexed under it are withheld until it can be read") });
            dir
        })
        .collect()
}

/// Lists `path` under `withheld` and says why in its entry under `failed` (adding one when the
/// file has none yet).
fn note_withheld(report: &mut RunReport, path: &str, why: &str) {
    report.withheld.push(FileItem { path: path.to_string() });
    match report.failed.iter_mut().find(|f| f.path == path) {
        Some(f) => {
            f.reason.push_str("; ");
            f.reason.push_str(why);
        }
        None => report.failed.push(Failure { path: path.to_string(), reason: why.to_string() }),
    }
}

/// Hashes every file and reads its access label. A file whose label cannot be read is left out
/// (fail closed: an unreadable label, often a typo made while tightening one, must not leave the
/// previous, possibly looser label in force; its documents leave the index until it is fixed);
/// a file that cannot be read is returned among the unreadable ones with its label (its previous
/// version stays only under the same label, see [`plan`]). Both are reported as failed.
fn scan(config: &Config, roots: &[PathBuf], files: &[PathBuf], labels: &ingest::labels::ShareLabels, report: &mut RunReport) -> (Vec<ScannedFile>, HashMap<String, Access>) {
    let mut found = Vec::new();
    let mut unreadable = HashMap::new();
    for path in files {
        let key = path.to_string_lossy().to_string();
        let access = match labels.resolve(root_of(roots, path), path, &config.indexer.default_access) {
            Ok(a) => a,
            Err(e) => {
                tracing::error!(path = %key, error = %e, "access label unreadable: the document is withheld from search until it is fixed");
                report.failed.push(Failure { path: key.clone(), reason: format!("{e}; the document is withheld from search until the label is fixed") });
                report.withheld.push(FileItem { path: key });
                continue;
            }
        };
        match hash_file(path) {
            Ok((hash, size)) => found.push(ScannedFile { path: path.clone(), key, hash, size, access }),
            Err(e) => {
                report.failed.push(Failure { path: key.clone(), reason: format!("cannot read: {e}") });
                // With its label: a previous version indexed under another label is withheld.
                unreadable.insert(key, access);
            }
        }
    }
    (found, unreadable)
}

/// Extracts each planned file and writes its documents into the generation being built,
/// recording the file in `state`. A file that fails keeps its previous version (if any) only when
/// its label did not change.
/// Returns the seconds spent extracting and writing.
#[allow(clippy::too_many_arguments)]
fn index_files(
    config: &Config,
    opts: &RunOptions<'_>,
    embedder: &Embedder,
    files: &[ScannedFile],
    builder: &mut GenerationBuilder,
    state: &mut State,
    removed_docs: &mut Vec<String>,
    report: &mut RunReport,
) -> Result<(f64, f64)> {
    let extract_opts = ExtractOptions {
        max_bytes: config.indexer.max_file_bytes,
        ocr: config.indexer.ocr,
        timeout: Duration::from_secs(config.indexer.file_timeout_secs),
        max_memory_mib: config.indexer.max_file_memory_mib,
        max_chars: config.indexer.max_document_chars,
        ..ExtractOptions::default()
    };
    report.memory_limit = match opts.worker {
        Some(_) if config.indexer.max_file_memory_mib > 0 => "rss-watchdog",
        Some(_) => "off",
        None => "in-process",
    }
    .to_string();
    if opts.worker.is_none() && config.indexer.max_file_memory_mib > 0 && !files.is_empty() {
        tracing::debug!("extracting in-process: indexer.max_file_memory_mib is not enforced");
    }
    let (mut extract_seconds, mut write_seconds) = (0.0, 0.0);
    // One file after the other. Extracting the next file while the current one is embedded was
    // measured on the whole shared corpus (2026-12-04): no faster on two cores (235 s against
    // 221 and 237 s), because ONNX Runtime already keeps both cores busy while it embeds.
    for (i, p) in files.iter().enumerate() {
        (opts.progress)(i, files.len(), &p.key);
        let t = Instant::now();
        let extracted = extract_verified(p, &extract_opts, opts.worker);
        extract_seconds += t.elapsed().as_secs_f64();
        if i == 0 {
            failpoint("after-extraction");
        }
        let Some(documents) = usable_documents(&p.key, extracted, report) else {
            withhold_if_relabelled(p, state, removed_docs, report);
            continue;
        };
        let t = Instant::now();
        write_file(config, embedder, p, &documents, builder, state, removed_docs, report)?;
        write_seconds += t.elapsed().as_secs_f64();
    }
    (opts.progress)(files.len(), files.len(), "");
    Ok((extract_seconds, write_seconds))
}

/// Extracts the bytes the scan hashed (see [`copy_verified`]), in a worker when there is one.
/// Errors name the file on the share, not the private copy.
fn extract_verified(p: &ScannedFile, opts: &ExtractOptions, worker: Option<&Path>) -> std::result::Result<ingest::Extraction, ingest::IngestError> {
    let copy = copy_verified(p, opts.max_bytes)?;
    let extracted = match worker {
        Some(worker) => ingest::extract_isolated(&copy.path, opts, worker),
        None => ingest::extract_capped(&copy.path, opts),
    };
    extracted.map_err(|e| ingest::IngestError::Reported { message: e.to_string().replace(&copy.path.to_string_lossy().to_string(), &p.key) })
}

/// A file that failed keeps its previous version only under the label that version was indexed
/// with: after a relabel, the old text must not stay searchable under the old label (the
/// new label usually tightens it), so its documents leave until the file can be read.
fn withhold_if_relabelled(p: &ScannedFile, state: &mut State, removed_docs: &mut Vec<String>, report: &mut RunReport) {
    if !state.files.get(&p.key).is_some_and(|old| old.access != p.access) {
        return;
    }
    if let Some(old) = state.files.remove(&p.key) {
        removed_docs.extend(old.doc_ids);
    }
    tracing::error!(path = %p.key, "failed after its label changed: its previous documents are withheld");
    note_withheld(report, &p.key, "its label changed, so its previous documents are withheld until it can be read");
}

/// The label of one of a file's documents: the file's label, raised to the level of a stricter
/// marking in the document's text (reported, since the label then disagrees with the text).
fn marked_access(p: &ScannedFile, doc: &ExtractedDocument, report: &mut RunReport) -> Access {
    let mut access = p.access.clone();
    let Some(marking) = ingest::marking::of_document(doc) else { return access };
    if marking.level <= access.level {
        return access;
    }
    let path = if doc.key.is_empty() { p.key.clone() } else { format!("{}#{}", p.key, doc.key) };
    tracing::warn!(path = %path, label_level = access.level, marking = %marking.text, "the text is marked stricter than its label: indexed at the marking's level");
    report.marked.push(MarkedDocument { path, label_level: access.level, marking: marking.text, level: marking.level });
    access.level = marking.level;
    access
}

/// Writes one extracted file's documents into the generation and records the file in `state`.
/// Its previous documents join `removed_docs` (removed at the end unless another file still holds
/// them); a document whose identical content another path already indexed is not written again.
#[allow(clippy::too_many_arguments)]
fn write_file(
    config: &Config,
    embedder: &Embedder,
    p: &ScannedFile,
    documents: &[ExtractedDocument],
    builder: &mut GenerationBuilder,
    state: &mut State,
    removed_docs: &mut Vec<String>,
    report: &mut RunReport,
) -> Result<()> {
    let built: Vec<(Document, Vec<Passage>)> = documents
        .iter()
        .map(|d| build_document(d, &p.hash, &p.key, &marked_access(p, d, report), config.indexer.passage_chars))
        .filter(|(_, passages)| !passages.is_empty())
        .collect();
    if let Some(old) = state.files.remove(&p.key) {
        removed_docs.extend(old.doc_ids);
    }
    // Every document of the file is the file's, also one whose identical content (same bytes,
    // same label) another path already indexed: otherwise deleting that other path would take
    // the document away while this file still holds it.
    let ids: Vec<String> = built.iter().map(|(d, _)| d.id.clone()).collect();
    let mut fresh = Vec::new();
    for (doc, passages) in built {
        if state.documents.contains_key(&doc.id) && !removed_docs.contains(&doc.id) {
            continue; // identical content already indexed from another path
        }
        removed_docs.retain(|d| d != &doc.id);
        fresh.push((doc, passages));
    }
    report.passages_written += builder.add(embedder, &fresh)?;
    if report.passages_written > 0 {
        failpoint("mid-write");
    }
    for (doc, _) in fresh {
        state.documents.insert(doc.id.clone(), doc);
    }
    state.files.insert(p.key.clone(), FileEntry { hash: p.hash.clone(), size: p.size, access: p.access.clone(), doc_ids: ids, markings_read: true });
    Ok(())
}

/// The documents of an extraction that found text; otherwise the failure goes to the report
/// (and the file's previous version, if any, stays). A cut at `indexer.max_document_chars` is
/// reported too.
fn usable_documents(key: &str, extracted: std::result::Result<ingest::Extraction, ingest::IngestError>, report: &mut RunReport) -> Option<Vec<ExtractedDocument>> {
    match extracted {
        Ok(x) if x.documents.iter().any(|d| d.sections.iter().any(|s| !s.text.trim().is_empty())) => {
            if let Some(cut) = x.truncated {
                tracing::warn!(path = %key, kept_chars = cut.kept_chars, total_chars = cut.total_chars, "text cut at indexer.max_document_chars");
                report.truncated.push(TruncatedFile { path: key.to_string(), kept_chars: cut.kept_chars, total_chars: cut.total_chars });
            }
            Some(x.documents)
        }
        Ok(_) => {
            report.failed.push(Failure { path: key.to_string(), reason: "no text found in the file".into() });
            None
        }
        Err(e) => {
            report.failed.push(Failure { path: key.to_string(), reason: e.to_string() });
            None
        }
    }
}

fn keyword_count(index_dir: &IndexDir, id: u64, analyzers: &Analyzers) -> Result<usize> {
    let k = KeywordIndex::open_or_create(&index_dir.generation_dir(id).join("keyword"), analyzers)?;
    Ok(k.num_passages() as usize)
}
