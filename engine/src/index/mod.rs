//! Index generations and the indexing pipeline.
//!
//! The index directory holds numbered generations (`gen-000001`, …) and a file `CURRENT` naming
//! the one being served. A run never modifies the served generation: it copies it (tantivy's
//! immutable segment files are hard-linked, the vector store is copied), applies the night's
//! changes to the copy, makes it durable, and only then replaces `CURRENT` by an atomic rename.
//! A crash (even `kill -9`) at any point therefore leaves the previous generation intact and
//! served; the next run deletes the unfinished copy and starts again from the same state, so it
//! converges to what an uninterrupted run would have produced.
//!
//! Each generation also holds `state.json`: the manifest (source path → content hash, access
//! label, document ids) and the documents' metadata. Document ids are derived from the content
//! hash, so a moved file keeps its id and is not re-embedded; a changed file gets a new id and
//! its old passages are deleted from both stores.
//!
//! Labels fail closed here too: extraction reads a private copy of exactly the bytes the scan
//! hashed (never through a symbolic link), a document is indexed at the stricter of its file's
//! label and the marking in its text ([`crate::ingest::marking`]), and a file whose label changed
//! but whose content cannot be read or extracted loses its previous documents rather than keep
//! them under the old label.
//!
//! A run is three steps: scan the sources (hash, access label), [`plan`] against the served
//! generation's manifest (pure, unit-tested in `plan.rs`), and apply the plan to a
//! [`GenerationBuilder`] (`builder.rs`), which the evaluation harness and the benchmark corpus
//! use as well, so every index is built and published the same way.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::text::analysis::Analyzers;
use crate::config::{Config, VectorBackend};
use crate::index::embed::Embedder;
use crate::error::{Error, Result};
use crate::ingest::{self, ExtractOptions, ExtractedDocument};
use crate::index::keyword::{days, KeywordIndex};
use crate::model::{Access, Document, Passage};
use crate::index::vector::{EmbeddedStore, PassagePayload, VectorPoint, VectorStore};

mod builder;
pub mod chunk;
pub mod embed;
pub mod keyword;
mod plan;
pub mod vector;

pub use builder::GenerationBuilder;
pub use plan::{plan, Plan, ScannedFile};

const CURRENT: &str = "CURRENT";
const STATE: &str = "state.json";
const LOCK: &str = "indexer.lock";

/// What a generation knows about one source file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileEntry {
    pub hash: String,
    pub size: u64,
    /// The label the file had (its documents may carry a stricter level, from a marking in
    /// their text).
    pub access: Access,
    pub doc_ids: Vec<String>,
    /// Whether the documents' markings were read when the file was indexed. Generations written
    /// before markings were read lack it, and such a file is extracted again once.
    #[serde(default)]
    pub markings_read: bool,
}

/// The manifest and document metadata of a generation.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct State {
    /// Absolute source path → entry.
    pub files: BTreeMap<String, FileEntry>,
    pub documents: BTreeMap<String, Document>,
    /// When the run that produced this generation finished (RFC 3339).
    pub finished_at: Option<String>,
}

/// The on-disk layout of the index directory.
#[derive(Debug, Clone)]
pub struct IndexDir {
    pub root: PathBuf,
}

impl IndexDir {
    pub fn new(root: impl Into<PathBuf>) -> IndexDir {
        IndexDir { root: root.into() }
    }

    /// The generation `CURRENT` names, if any.
    pub fn current(&self) -> Option<u64> {
        let text = fs::read_to_string(self.root.join(CURRENT)).ok()?;
        text.trim().strip_prefix("gen-")?.parse().ok()
    }

    pub fn generation_dir(&self, id: u64) -> PathBuf {
        self.root.join(format!("gen-{id:06}"))
    }

    fn generations(&self) -> Vec<u64> {
        let mut ids: Vec<u64> = fs::read_dir(&self.root)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| e.file_name().to_str()?.strip_prefix("gen-")?.parse().ok())
            .collect();
        ids.sort_unstable();
        ids
    }

    /// Atomically makes `id` the served generation.
    fn publish(&self, id: u64) -> Result<()> {
        let tmp = self.root.join("CURRENT.tmp");
        let mut f = fs::File::create(&tmp).map_err(|e| Error::io("writing CURRENT.tmp", e))?;
        f.write_all(format!("gen-{id:06}\n").as_bytes()).map_err(|e| Error::io("writing CURRENT.tmp", e))?;
        f.sync_all().map_err(|e| Error::io("syncing CURRENT.tmp", e))?;
        fs::rename(&tmp, self.root.join(CURRENT)).map_err(|e| Error::io("publishing CURRENT", e))?;
        sync_dir(&self.root)
    }
}

fn sync_dir(dir: &Path) -> Result<()> {
    fs::File::open(dir).and_then(|d| d.sync_all()).map_err(|e| Error::io(format!("syncing {}", dir.display()), e))
}

/// One openable generation: keyword index, vector store and state.
pub struct Generation {
    pub id: u64,
    pub dir: PathBuf,
    pub keyword: KeywordIndex,
    pub vectors: Box<dyn VectorStore>,
    pub state: State,
    pub documents: HashMap<String, Document>,
    /// Abolitions and amendments between this generation's documents.
    pub relations: crate::govern::validity::Relations,
}

impl Generation {
    /// Opens generation `id` of `index_dir`.
    pub fn open(index_dir: &IndexDir, id: u64, analyzers: &Analyzers, config: &Config) -> Result<Generation> {
        let dir = index_dir.generation_dir(id);
        let state: State = read_state(&dir.join(STATE))?;
        let keyword = KeywordIndex::open_or_create(&dir.join("keyword"), analyzers)?;
        let vectors: Box<dyn VectorStore> = match config.vector.backend {
            // A published generation always has its store; never create an empty one silently.
            VectorBackend::Embedded => Box::new(EmbeddedStore::open_existing(&dir.join("vectors"))?),
            VectorBackend::Qdrant => open_server(config)?,
        };
        let documents = state.documents.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        let relations = crate::govern::validity::Relations::build(state.documents.values());
        Ok(Generation { id, dir, keyword, vectors, state, documents, relations })
    }

    /// Opens the generation `CURRENT` names, or `None` for an index that was never built.
    pub fn open_current(config: &Config, analyzers: &Analyzers) -> Result<Option<Generation>> {
        let index_dir = IndexDir::new(config.index_dir());
        match index_dir.current() {
            Some(id) => Generation::open(&index_dir, id, analyzers, config).map(Some),
            None => Ok(None),
        }
    }

    /// Whether `doc` is in force on `as_of` for the caller whose rights `filter` carries (only
    /// documents that caller may see count as successors or amendments).
    pub fn status(&self, doc: &Document, as_of: chrono::NaiveDate, filter: &crate::model::Filter) -> crate::govern::validity::Status {
        self.relations.status(&self.documents, doc, as_of, &|d: &Document| filter.allows(&d.access))
    }

    /// Number of passages in the keyword index.
    pub fn num_passages(&self) -> u64 {
        self.keyword.num_passages()
    }
}

fn read_state(path: &Path) -> Result<State> {
    let bytes = fs::read(path).map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
    serde_json::from_slice(&bytes).map_err(|e| Error::Index(format!("{} is damaged: {e}", path.display())))
}

fn open_vectors(gen_dir: &Path, config: &Config) -> Result<Box<dyn VectorStore>> {
    match config.vector.backend {
        VectorBackend::Embedded => Ok(Box::new(EmbeddedStore::open_or_create(&gen_dir.join("vectors"))?)),
        VectorBackend::Qdrant => open_server(config),
    }
}

#[cfg(feature = "qdrant-server")]
fn open_server(config: &Config) -> Result<Box<dyn VectorStore>> {
    let url = config.vector.qdrant_url.as_deref().ok_or_else(|| {
        Error::Index("vector.backend = \"qdrant\" needs vector.qdrant_url (or SHIRABE_VECTOR__QDRANT_URL)".into())
    })?;
    Ok(Box::new(crate::index::vector::ServerStore::connect(
        url,
        &config.vector.qdrant_collection,
        config.vector.qdrant_api_key.clone(),
        crate::index::vector::CollectionLayout {
            shards: config.vector.qdrant_shards,
            replication: config.vector.qdrant_replication,
        },
    )?))
}

#[cfg(not(feature = "qdrant-server"))]
fn open_server(_config: &Config) -> Result<Box<dyn VectorStore>> {
    Err(Error::Index("this build has no Qdrant server support; rebuild with the `qdrant-server` feature".into()))
}

/// Derives a document id from the file's content hash and its key inside the file.
pub fn document_id(content_hash: &str, key: &str) -> String {
    let mut h = Sha256::new();
    h.update(content_hash.as_bytes());
    h.update([0]);
    h.update(key.as_bytes());
    hex::encode(&h.finalize()[..8])
}

/// The id of a document read from a labelled file: the content, the key inside the file and the
/// access label. Identical bytes under two labels (a public circular copied into a 機密性3 folder)
/// are two documents, each with its own label: were they one, the copy would share the public
/// document's label, and that document would stay public after the public file was deleted.
pub fn labelled_document_id(content_hash: &str, key: &str, access: &Access) -> String {
    let label = format!("{}\u{1f}{}", access.level, access.groups.join("\u{1f}"));
    document_id(&format!("{content_hash}\u{1e}{label}"), key)
}

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

/// The text given to the embedder for a passage: title and anchor give E5 the context that a
/// passage cut out of a long document lacks.
pub fn embedding_text(doc: &Document, passage: &Passage) -> String {
    match &passage.anchor {
        Some(anchor) => format!("{} {}\n{}", doc.title, anchor, passage.text),
        None => format!("{}\n{}", doc.title, passage.text),
    }
}

/// The vector payload of a passage.
pub fn payload(doc: &Document, passage: &Passage) -> PassagePayload {
    PassagePayload {
        passage_id: passage.id.clone(),
        doc_id: doc.id.clone(),
        doc_type: doc.doc_type.as_str().to_string(),
        issuer: doc.issuer.clone(),
        issued: doc.issued.map(days),
        level: doc.access.level,
        groups: doc.access.groups.clone(),
    }
}

/// Turns an extracted document into a [`Document`] and its passages.
pub fn build_document(
    extracted: &ExtractedDocument,
    content_hash: &str,
    source_path: &str,
    access: &Access,
    passage_chars: usize,
) -> (Document, Vec<Passage>) {
    build_document_with_id(labelled_document_id(content_hash, &extracted.key, access), extracted, content_hash, source_path, access, passage_chars)
}

/// [`build_document`] for a document whose id is given rather than derived from its content
/// (evaluation sets and benchmark corpora carry their own ids).
pub fn build_document_with_id(
    id: String,
    extracted: &ExtractedDocument,
    content_hash: &str,
    source_path: &str,
    access: &Access,
    passage_chars: usize,
) -> (Document, Vec<Passage>) {
    let life = crate::govern::validity::read(extracted.doc_type, &extracted.sections, extracted.issued);
    let document = Document {
        id: id.clone(),
        title: extracted.title.clone(),
        doc_type: extracted.doc_type,
        issuer: extracted.issuer.clone(),
        issued: extracted.issued,
        number: extracted.number.clone(),
        source_path: source_path.to_string(),
        content_hash: content_hash.to_string(),
        access: access.clone(),
        effective: life.effective,
        references: life.references,
        amended_by_laws: life.amended_by_laws,
    };
    let passages = crate::index::chunk::chunk(&id, extracted, passage_chars);
    (document, passages)
}

/// Seconds spent in each store while writing documents.
#[derive(Debug, Clone, Copy, Default)]
pub struct WriteTimes {
    pub keyword: f64,
    pub embedding: f64,
    pub vector_upsert: f64,
}

/// Adds documents to both stores: keyword passages and embedded vectors. Returns the number of
/// passages written.
pub fn write_documents(
    keyword: &mut crate::index::keyword::KeywordWriter,
    vectors: &dyn VectorStore,
    embedder: &Embedder,
    docs: &[(Document, Vec<Passage>)],
) -> Result<usize> {
    write_documents_timed(keyword, vectors, embedder, docs, &mut WriteTimes::default())
}

/// [`write_documents`], adding the time spent in each store to `times`.
pub fn write_documents_timed(
    keyword: &mut crate::index::keyword::KeywordWriter,
    vectors: &dyn VectorStore,
    embedder: &Embedder,
    docs: &[(Document, Vec<Passage>)],
    times: &mut WriteTimes,
) -> Result<usize> {
    let t = Instant::now();
    for (doc, passages) in docs {
        keyword.add(doc, passages)?;
    }
    times.keyword += t.elapsed().as_secs_f64();
    // Passages of several documents share an embedding batch (a file of minutes holds hundreds of
    // short documents), and a text that occurs twice in a batch is embedded once. Batches stay
    // bounded: the texts and vectors of a long document are never all in memory at once.
    let all: Vec<(&Document, &Passage)> = docs.iter().flat_map(|(doc, passages)| passages.iter().map(move |p| (doc, p))).collect();
    for batch in all.chunks(WRITE_BATCH_PASSAGES) {
        let t = Instant::now();
        let mut unique: Vec<String> = Vec::new();
        let mut slot_of: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
        let slots: Vec<usize> = batch
            .iter()
            .map(|(doc, p)| {
                let text = embedding_text(doc, p);
                *slot_of.entry(text.clone()).or_insert_with(|| {
                    unique.push(text);
                    unique.len() - 1
                })
            })
            .collect();
        let vecs = embedder.embed_passages(&unique)?;
        if vecs.len() != unique.len() {
            return Err(Error::Embedding(format!("{} vectors for {} texts", vecs.len(), unique.len())));
        }
        times.embedding += t.elapsed().as_secs_f64();
        let t = Instant::now();
        let points: Vec<VectorPoint> = batch
            .iter()
            .zip(&slots)
            .map(|((doc, p), &slot)| VectorPoint { payload: payload(doc, p), vector: vecs[slot].clone() })
            .collect();
        vectors.upsert(&points)?;
        times.vector_upsert += t.elapsed().as_secs_f64();
    }
    Ok(all.len())
}

/// Passages embedded and written to both stores at a time.
const WRITE_BATCH_PASSAGES: usize = 256;

/// Largest resident memory of one extraction worker with the tools it started, as the memory
/// watchdog sampled it during this process's runs, in MiB; `None` when no worker was watched.
///
/// (`getrusage(RUSAGE_CHILDREN)` cannot give this: Linux carries the parent's resident size at
/// `fork` into the child's `ru_maxrss`, so every worker would appear as large as the indexer.)
pub fn worker_peak_rss_mib() -> Option<f64> {
    let bytes = crate::ingest::process::peak_watched_rss();
    (bytes > 0).then(|| bytes as f64 / (1024.0 * 1024.0))
}

/// Crash points for the crash tests: when `SHIRABE_FAILPOINT` names this point, the process
/// kills itself with SIGKILL right here, as `kill -9` would, with no cleanup. The points are
/// `after-extraction` (the first file extracted, nothing written), `mid-write` (the first
/// document written to both stores, not committed), `after-commit` (stores committed, no
/// `state.json`) and `before-publish` (the generation complete, `CURRENT` not yet switched).
fn failpoint(name: &str) {
    if std::env::var("SHIRABE_FAILPOINT").is_ok_and(|v| v == name) {
        eprintln!("failpoint {name}: killing this process (SHIRABE_FAILPOINT)");
        // SAFETY: raise() sends a signal to this process; it touches no memory of ours.
        unsafe {
            libc::raise(libc::SIGKILL);
        }
    }
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

/// Holds the indexer lock for the duration of a run.
pub struct RunLock {
    file: fs::File,
    pub stale: bool,
}

impl RunLock {
    /// Takes the lock in `root`, or explains who holds it. The lock is an OS file lock, so it is
    /// released when its holder dies; a lock file whose recorded process is gone is "stale".
    pub fn acquire(root: &Path) -> Result<RunLock> {
        use fs2::FileExt;
        fs::create_dir_all(root).map_err(|e| Error::io(format!("creating {}", root.display()), e))?;
        let path = root.join(LOCK);
        let mut file = fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| Error::io(format!("opening {}", path.display()), e))?;
        let mut previous = String::new();
        let _ = file.read_to_string(&mut previous);
        if file.try_lock_exclusive().is_err() {
            return Err(Error::Index(format!(
                "another indexer run holds {} (pid {}); wait for it to finish",
                path.display(),
                previous.trim()
            )));
        }
        let stale = !previous.trim().is_empty();
        file.set_len(0).map_err(|e| Error::io("truncating the lock file", e))?;
        file.write_all(std::process::id().to_string().as_bytes()).map_err(|e| Error::io("writing the lock file", e))?;
        file.sync_all().map_err(|e| Error::io("syncing the lock file", e))?;
        Ok(RunLock { file, stale })
    }
}

impl Drop for RunLock {
    fn drop(&mut self) {
        // An empty lock file marks a clean exit; a pid left behind marks a crash.
        let _ = self.file.set_len(0);
    }
}

/// Copies a directory tree; with `link`, files are hard-linked (tantivy files are immutable).
fn copy_tree(from: &Path, to: &Path, link: bool) -> Result<()> {
    fs::create_dir_all(to).map_err(|e| Error::io(format!("creating {}", to.display()), e))?;
    for entry in fs::read_dir(from).map_err(|e| Error::io(format!("reading {}", from.display()), e))? {
        let entry = entry.map_err(|e| Error::io("reading a directory entry", e))?;
        let src = entry.path();
        let dst = to.join(entry.file_name());
        let ty = entry.file_type().map_err(|e| Error::io("reading a file type", e))?;
        if ty.is_dir() {
            copy_tree(&src, &dst, link)?;
        } else if link && fs::hard_link(&src, &dst).is_ok() {
        } else {
            fs::copy(&src, &dst).map_err(|e| Error::io(format!("copying {}", src.display()), e))?;
        }
    }
    Ok(())
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
