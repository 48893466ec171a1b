//! Generations on disk: the index directory with its numbered generations and `CURRENT`, the
//! manifest (`state.json`) a generation carries, opening a generation's two stores for reading,
//! the run lock, and the file-system steps publishing rests on (copying a generation, syncing a
//! directory). Everything here is about where an index lives and how it is switched, not about
//! what goes into it.

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::config::{Config, VectorBackend};
use crate::error::{Error, Result};
use crate::index::keyword::KeywordIndex;
use crate::index::vector::{EmbeddedStore, VectorStore};
use crate::model::{Access, Document};
use crate::text::analysis::Analyzers;

const CURRENT: &str = "CURRENT";
pub(super) const STATE: &str = "state.json";
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

    /// The manifest and keyword index of the generation `CURRENT` names, without its vector
    /// store (which a running service holds locked): for tools that only read documents and
    /// passages, such as `shirabe feedback export`.
    pub fn open_current_keyword(&self, analyzers: &Analyzers) -> Result<Option<(State, KeywordIndex)>> {
        let Some(id) = self.current() else { return Ok(None) };
        let dir = self.generation_dir(id);
        let state = read_state(&dir.join(STATE))?;
        let keyword = KeywordIndex::open_or_create(&dir.join("keyword"), analyzers)?;
        Ok(Some((state, keyword)))
    }

    pub(super) fn generations(&self) -> Vec<u64> {
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
    pub(super) fn publish(&self, id: u64) -> Result<()> {
        let tmp = self.root.join("CURRENT.tmp");
        let mut f = fs::File::create(&tmp).map_err(|e| Error::io("writing CURRENT.tmp", e))?;
        f.write_all(format!("gen-{id:06}\n").as_bytes()).map_err(|e| Error::io("writing CURRENT.tmp", e))?;
        f.sync_all().map_err(|e| Error::io("syncing CURRENT.tmp", e))?;
        fs::rename(&tmp, self.root.join(CURRENT)).map_err(|e| Error::io("publishing CURRENT", e))?;
        sync_dir(&self.root)
    }
}

pub(super) fn sync_dir(dir: &Path) -> Result<()> {
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

pub(super) fn read_state(path: &Path) -> Result<State> {
    let bytes = fs::read(path).map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
    serde_json::from_slice(&bytes).map_err(|e| Error::Index(format!("{} is damaged: {e}", path.display())))
}

pub(super) fn open_vectors(gen_dir: &Path, config: &Config) -> Result<Box<dyn VectorStore>> {
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

/// Crash points for the crash tests: when `SHIRABE_FAILPOINT` names this point, the process
/// kills itself with SIGKILL right here, as `kill -9` would, with no cleanup. The points are
/// `after-extraction` (the first file extracted, nothing written), `mid-write` (the first
/// document written to both stores, not committed), `after-commit` (stores committed, no
/// `state.json`) and `before-publish` (the generation complete, `CURRENT` not yet switched).
pub(super) fn failpoint(name: &str) {
    if std::env::var("SHIRABE_FAILPOINT").is_ok_and(|v| v == name) {
        eprintln!("failpoint {name}: killing this process (SHIRABE_FAILPOINT)");
        // SAFETY: raise() sends a signal to this process; it touches no memory of ours.
        unsafe {
            libc::raise(libc::SIGKILL);
        }
    }
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
pub(super) fn copy_tree(from: &Path, to: &Path, link: bool) -> Result<()> {
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
