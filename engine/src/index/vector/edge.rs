//! [`EmbeddedStore`]: Qdrant's engine in-process (`qdrant-edge` 0.7.2), one shard in one directory.
//!
//! Layout of the directory: qdrant-edge's own files (`edge_config.json`, `segments/`, `wal/`), plus
//! two of ours: `shirabe-vector.lock` (an exclusive OS file lock, so two processes never open the
//! same store) and `shirabe-journal.bin` (the recovery journal).
//!
//! Why a journal of our own: qdrant-edge 0.7.2 writes every update to its WAL but never replays it
//! when a shard is loaded (and never truncates it), so points acknowledged after the last flush
//! would be lost by a crash. Every `upsert`/`delete_documents` therefore first appends the
//! operation to the journal and `fsync`s it, then applies it to the engine. `flush` (and
//! `optimize`, and dropping the store) flush the engine and empty the journal; opening the store
//! replays whatever the journal still holds. Operations are idempotent (deterministic point ids,
//! delete-by-document), so replaying an operation that had already reached the segments is
//! harmless. A torn final record (crash during the append) is detected by its checksum and
//! discarded: that operation was never acknowledged.
//!
//! Writers (`upsert`, `delete_documents`, `flush`, `optimize`) are serialised by one mutex;
//! searches take no lock of ours and run concurrently with each other and with writers.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, Read, Seek, SeekFrom, Write};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};

use qdrant_edge::external::serde_json::{self, Map, Value};
use qdrant_edge::external::{ordered_float::OrderedFloat, uuid::Uuid};
use qdrant_edge::{
    Condition, CountRequest, CreateIndex, Distance, EdgeConfigBuilder, EdgeShard,
    EdgeVectorParamsBuilder, FieldCondition, FieldIndexOperations, Filter, IsEmptyCondition,
    JsonPath, Match, NamedQuery, PayloadFieldSchema, PayloadSchemaType, PointId,
    PointInsertOperations, PointOperations, PointStruct, QueryEnum, Range, ScrollRequest,
    SearchParams, SearchRequest, UpdateOperation, WithPayloadInterface, WithVector, DEFAULT_VECTOR_NAME,
};
use sha2::{Digest, Sha256};

use super::store::{
    field, point_uuid_bytes, prepare_points, search_needed, IndexKind,
    PassagePayload, VectorError, VectorFilter, VectorHit, VectorPoint, VectorStore, DIM,
    INDEXED_FIELDS,
};

const LOCK_FILE: &str = "shirabe-vector.lock";
const JOURNAL_FILE: &str = "shirabe-journal.bin";
/// qdrant-edge's configuration file; its presence marks an existing store.
const EDGE_CONFIG_FILE: &str = "edge_config.json";
/// Points per journal record and per engine update.
const UPSERT_CHUNK: usize = 1024;
/// Document ids per delete operation.
const DELETE_CHUNK: usize = 1024;
/// Points per scroll page in `passage_ids_of`.
const SCROLL_PAGE: usize = 512;
/// Up to this many points a search compares the query with every point the filter admits
/// instead of walking the HNSW graph. The graph is built from every point, hidden ones included,
/// so its approximate answers for one caller would depend on passages that caller may not see,
/// and two builds of one corpus would rank differently. Exact search over an office's corpus
/// costs a few milliseconds (docs/benchmarks.md).
pub const EXACT_SEARCH_MAX_POINTS: u64 = 50_000;
/// When the journal grows past this, a write also checkpoints (flushes the engine, empties the
/// journal), which bounds both its size on disk and the replay time after a crash.
const JOURNAL_CHECKPOINT_BYTES: u64 = 256 << 20;

/// What opening the store had to recover from the journal (all zero after a clean shutdown).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Recovery {
    /// Journal records (operations) re-applied.
    pub replayed_operations: usize,
    /// Points re-upserted by those operations.
    pub replayed_points: usize,
    /// Documents re-deleted by those operations.
    pub replayed_deletes: usize,
    /// Bytes of a torn or damaged journal tail that were discarded (never acknowledged).
    pub discarded_bytes: u64,
}

/// Engine-level numbers, for logs, tests and the benchmark.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmbeddedStats {
    pub points: usize,
    pub segments: usize,
    /// Vectors covered by an HNSW graph (0 until `optimize` has built one).
    pub indexed_vectors: usize,
    /// Payload fields with an index, sorted.
    pub indexed_fields: Vec<String>,
    /// Current size of the recovery journal in bytes.
    pub journal_bytes: u64,
}

/// Parsed payload keys and the prebuilt "groups is empty" condition.
struct Keys {
    passage_id: JsonPath,
    doc_id: JsonPath,
    doc_type: JsonPath,
    issuer: JsonPath,
    issued: JsonPath,
    level: JsonPath,
    groups: JsonPath,
    groups_empty: Condition,
}

/// The embedded vector store (see the module docs).
pub struct EmbeddedStore {
    dir: PathBuf,
    /// `Some` for the whole life of the store; taken only in `Drop`.
    shard: Option<EdgeShard>,
    writer: Mutex<Journal>,
    keys: Keys,
    recovery: Recovery,
    /// Holds the exclusive lock until the store is dropped.
    _lock: File,
}

// The trait requires it; fail the build here rather than at a distant use site.
const _: fn() = || {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<EmbeddedStore>();
};

impl std::fmt::Debug for EmbeddedStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddedStore")
            .field("dir", &self.dir)
            .field("recovery", &self.recovery)
            .finish()
    }
}

impl EmbeddedStore {
    /// Opens the store in `dir`, creating the directory and an empty store if there is none yet
    /// (the indexer's entry point). Replays the journal left by a crash, if any.
    pub fn open_or_create(dir: &Path) -> Result<Self, VectorError> {
        Self::open(dir, true)
    }

    /// Opens an existing store and fails if `dir` holds none (the search server's entry point, so a
    /// wrong path is reported instead of silently serving an empty index).
    pub fn open_existing(dir: &Path) -> Result<Self, VectorError> {
        Self::open(dir, false)
    }

    fn open(dir: &Path, create: bool) -> Result<Self, VectorError> {
        let path = dir.display().to_string();
        let open_err = |reason: String| VectorError::Open {
            path: path.clone(),
            reason,
        };
        if !create && !dir.join(EDGE_CONFIG_FILE).is_file() {
            let reason = if dir.is_dir() {
                format!("the directory holds no vector store ({EDGE_CONFIG_FILE} is missing)")
            } else {
                "the directory does not exist".to_owned()
            };
            return Err(open_err(reason));
        }
        if create {
            fs::create_dir_all(dir)
                .map_err(|e| open_err(format!("cannot create the directory: {e}")))?;
        }
        let lock = lock_dir(dir)?;
        // Decided under the lock, so two processes never both create.
        let exists = dir.join(EDGE_CONFIG_FILE).is_file();
        let shard = if exists {
            let shard = catch_engine(|| EdgeShard::load(dir, None)).map_err(open_err)?;
            check_config(&shard, &path)?;
            shard
        } else {
            let foreign = foreign_entries(dir)
                .map_err(|e| open_err(format!("cannot list the directory: {e}")))?;
            if !foreign.is_empty() {
                return Err(open_err(format!(
                    "the directory is not empty ({}) but holds no vector store; refusing to create one among other files",
                    foreign.join(", ")
                )));
            }
            let config = EdgeConfigBuilder::new()
                .vector(
                    DEFAULT_VECTOR_NAME,
                    EdgeVectorParamsBuilder::new(DIM, Distance::Cosine).build(),
                )
                .build();
            catch_engine(|| EdgeShard::new(dir, config)).map_err(open_err)?
        };
        let keys = Keys::new().map_err(|reason| VectorError::Engine {
            path: path.clone(),
            operation: "open",
            reason,
        })?;
        let journal = Journal::open(&dir.join(JOURNAL_FILE))?;
        let mut store = EmbeddedStore {
            dir: dir.to_path_buf(),
            shard: Some(shard),
            writer: Mutex::new(journal),
            keys,
            recovery: Recovery::default(),
            _lock: lock,
        };
        store.ensure_payload_indexes()?;
        store.recover()?;
        Ok(store)
    }

    /// The directory this store lives in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// What opening had to recover from the journal.
    pub fn recovery(&self) -> &Recovery {
        &self.recovery
    }

    /// Engine statistics.
    pub fn stats(&self) -> Result<EmbeddedStats, VectorError> {
        let shard = self.shard()?;
        let info = catch_engine(|| Ok::<_, String>(shard.info()))
            .map_err(|r| self.engine_err("stats", r))?;
        let mut indexed_fields: Vec<String> =
            info.payload_schema.keys().map(|k| k.to_string()).collect();
        indexed_fields.sort();
        let journal_bytes = self.writer().len;
        Ok(EmbeddedStats {
            points: info.points_count,
            segments: info.segments_count,
            indexed_vectors: info.indexed_vectors_count,
            indexed_fields,
            journal_bytes,
        })
    }

    fn shard(&self) -> Result<&EdgeShard, VectorError> {
        self.shard
            .as_ref()
            .ok_or_else(|| self.engine_err("access", "the store is closed".into()))
    }

    fn writer(&self) -> MutexGuard<'_, Journal> {
        // A panic while holding the lock leaves the journal consistent (every append is either
        // completed or rolled back before the guard is released), so poisoning is ignored.
        self.writer.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn engine_err(&self, operation: &'static str, reason: String) -> VectorError {
        VectorError::Engine {
            path: self.dir.display().to_string(),
            operation,
            reason,
        }
    }

    /// Creates the payload index of every filtered field (a no-op for indexes that exist). Run at
    /// open and after optimize, because segments created by the engine do not always inherit them.
    fn ensure_payload_indexes(&self) -> Result<(), VectorError> {
        let shard = self.shard()?;
        let _guard = self.writer();
        for (name, kind) in INDEXED_FIELDS {
            let field_name =
                parse_key(name).map_err(|r| self.engine_err("create payload index", r))?;
            let schema = match kind {
                IndexKind::Keyword => PayloadSchemaType::Keyword,
                IndexKind::Integer => PayloadSchemaType::Integer,
            };
            let op = UpdateOperation::FieldIndexOperation(FieldIndexOperations::CreateIndex(
                CreateIndex {
                    field_name,
                    field_schema: Some(PayloadFieldSchema::FieldType(schema)),
                },
            ));
            catch_engine(|| shard.update(op))
                .map_err(|r| self.engine_err("create payload index", r))?;
        }
        Ok(())
    }

    /// Replays the journal into the engine, then checkpoints.
    fn recover(&mut self) -> Result<(), VectorError> {
        let shard = self.shard()?;
        let mut recovery = Recovery::default();
        let mut journal = self.writer();
        let path = self.dir.display().to_string();
        recovery.discarded_bytes = journal.replay(|op| {
            recovery.replayed_operations += 1;
            match op {
                JournalOp::Upsert(points) => {
                    recovery.replayed_points += points.len();
                    let refs: Vec<&VectorPoint> = points.iter().collect();
                    apply_upsert(shard, &refs)
                }
                JournalOp::Delete(doc_ids) => {
                    recovery.replayed_deletes += doc_ids.len();
                    apply_delete(shard, &self.keys, &doc_ids)
                }
            }
            .map_err(|reason| VectorError::Engine {
                path: path.clone(),
                operation: "journal replay",
                reason,
            })
        })?;
        if recovery.replayed_operations > 0 || recovery.discarded_bytes > 0 {
            checkpoint(shard, &mut journal)
                .map_err(|r| self.engine_err("flush after journal replay", r))?;
        }
        drop(journal);
        self.recovery = recovery;
        Ok(())
    }

    fn filter(&self, f: &VectorFilter) -> Filter {
        let k = &self.keys;
        let mut must = vec![Condition::Field(FieldCondition::new_range(
            k.level.clone(),
            Range {
                lte: Some(OrderedFloat(f64::from(f.max_level))),
                ..Range::default()
            },
        ))];
        if f.groups.is_empty() {
            must.push(k.groups_empty.clone());
        } else {
            let intersects = Condition::Field(FieldCondition::new_match(
                k.groups.clone(),
                Match::from(f.groups.clone()),
            ));
            must.push(Condition::Filter(Filter {
                should: Some(vec![intersects, k.groups_empty.clone()]),
                ..Filter::new()
            }));
        }
        if !f.doc_types.is_empty() {
            must.push(Condition::Field(FieldCondition::new_match(
                k.doc_type.clone(),
                Match::from(f.doc_types.clone()),
            )));
        }
        if !f.issuers.is_empty() {
            must.push(Condition::Field(FieldCondition::new_match(
                k.issuer.clone(),
                Match::from(f.issuers.clone()),
            )));
        }
        if f.issued_from.is_some() || f.issued_to.is_some() {
            // Days since the epoch are far below 2^53, so the f64 range is exact.
            must.push(Condition::Field(FieldCondition::new_range(
                k.issued.clone(),
                Range {
                    gte: f.issued_from.map(|d| OrderedFloat(d as f64)),
                    lte: f.issued_to.map(|d| OrderedFloat(d as f64)),
                    ..Range::default()
                },
            )));
        }
        if let Some(doc_ids) = &f.doc_ids {
            must.push(Condition::Field(FieldCondition::new_match(
                k.doc_id.clone(),
                Match::from(doc_ids.clone()),
            )));
        }
        Filter {
            must: Some(must),
            ..Filter::new()
        }
    }
}

impl VectorStore for EmbeddedStore {
    fn upsert(&self, points: &[VectorPoint]) -> Result<(), VectorError> {
        let points = prepare_points(points)?;
        let shard = self.shard()?;
        let mut journal = self.writer();
        for chunk in points.chunks(UPSERT_CHUNK) {
            let start = journal.append(&encode_upsert(chunk))?;
            if let Err(reason) = apply_upsert(shard, chunk) {
                // Not acknowledged: make sure a later replay does not retry (and fail on) it.
                journal.rollback(start)?;
                return Err(self.engine_err("upsert", reason));
            }
        }
        if journal.len > JOURNAL_CHECKPOINT_BYTES {
            checkpoint(shard, &mut journal).map_err(|r| self.engine_err("flush", r))?;
        }
        Ok(())
    }

    fn delete_documents(&self, doc_ids: &[String]) -> Result<(), VectorError> {
        if doc_ids.is_empty() {
            return Ok(());
        }
        let shard = self.shard()?;
        let mut journal = self.writer();
        for chunk in doc_ids.chunks(DELETE_CHUNK) {
            let start = journal.append(&encode_delete(chunk))?;
            if let Err(reason) = apply_delete(shard, &self.keys, chunk) {
                journal.rollback(start)?;
                return Err(self.engine_err("delete documents", reason));
            }
        }
        Ok(())
    }

    fn search(
        &self,
        query: &[f32],
        filter: &VectorFilter,
        limit: usize,
    ) -> Result<Vec<VectorHit>, VectorError> {
        if !search_needed(query, filter, limit)? {
            return Ok(Vec::new());
        }
        let shard = self.shard()?;
        let points = catch_engine(|| shard.count(CountRequest { filter: None, exact: false }))
            .map_err(|r| self.engine_err("count", r))?;
        let exact = points as u64 <= EXACT_SEARCH_MAX_POINTS;
        let request = SearchRequest {
            query: QueryEnum::Nearest(NamedQuery::default_dense(query.to_vec())),
            filter: Some(self.filter(filter)),
            params: exact.then(|| SearchParams { exact: true, ..SearchParams::default() }),
            limit,
            offset: 0,
            with_payload: Some(WithPayloadInterface::Fields(vec![
                self.keys.passage_id.clone(),
                self.keys.doc_id.clone(),
            ])),
            with_vector: None,
            score_threshold: None,
        };
        let points =
            catch_engine(|| shard.search(request)).map_err(|r| self.engine_err("search", r))?;
        let mut hits = points
            .into_iter()
            .map(|p| {
                let payload = p.payload.map(|p| p.0).unwrap_or_default();
                Ok(VectorHit {
                    passage_id: payload_str(&payload, field::PASSAGE_ID)
                        .map_err(|r| self.engine_err("search", r))?,
                    doc_id: payload_str(&payload, field::DOC_ID)
                        .map_err(|r| self.engine_err("search", r))?,
                    score: p.score,
                })
            })
            .collect::<Result<Vec<_>, VectorError>>()?;
        // Equal scores in passage-id order, not in the order points sit in the store.
        hits.sort_by(|a, b| b.score.total_cmp(&a.score).then_with(|| a.passage_id.cmp(&b.passage_id)));
        Ok(hits)
    }

    fn count(&self) -> Result<u64, VectorError> {
        let shard = self.shard()?;
        let n = catch_engine(|| {
            shard.count(CountRequest {
                filter: None,
                exact: true,
            })
        })
        .map_err(|r| self.engine_err("count", r))?;
        Ok(n as u64)
    }

    fn passage_ids_of(&self, doc_id: &str) -> Result<Vec<String>, VectorError> {
        let shard = self.shard()?;
        let filter = Filter::new_must(Condition::Field(FieldCondition::new_match(
            self.keys.doc_id.clone(),
            Match::from(vec![doc_id.to_owned()]),
        )));
        let mut ids = Vec::new();
        let mut offset: Option<PointId> = None;
        loop {
            let request = ScrollRequest {
                offset,
                limit: Some(SCROLL_PAGE),
                filter: Some(filter.clone()),
                with_payload: Some(WithPayloadInterface::Fields(vec![self
                    .keys
                    .passage_id
                    .clone()])),
                with_vector: WithVector::Bool(false),
                order_by: None,
            };
            let (records, next) =
                catch_engine(|| shard.scroll(request)).map_err(|r| self.engine_err("scroll", r))?;
            for record in records {
                let payload = record.payload.map(|p| p.0).unwrap_or_default();
                ids.push(
                    payload_str(&payload, field::PASSAGE_ID)
                        .map_err(|r| self.engine_err("scroll", r))?,
                );
            }
            match next {
                Some(next) => offset = Some(next),
                None => break,
            }
        }
        Ok(ids)
    }

    fn optimize(&self) -> Result<(), VectorError> {
        let shard = self.shard()?;
        {
            let mut journal = self.writer();
            catch_engine(|| shard.optimize()).map_err(|r| self.engine_err("optimize", r))?;
            checkpoint(shard, &mut journal)
                .map_err(|r| self.engine_err("flush after optimize", r))?;
        }
        self.ensure_payload_indexes()?;
        let mut journal = self.writer();
        checkpoint(shard, &mut journal).map_err(|r| self.engine_err("flush after optimize", r))
    }

    fn flush(&self) -> Result<(), VectorError> {
        let shard = self.shard()?;
        let mut journal = self.writer();
        checkpoint(shard, &mut journal).map_err(|r| self.engine_err("flush", r))
    }
}

impl Drop for EmbeddedStore {
    fn drop(&mut self) {
        if let Some(shard) = self.shard.take() {
            let journal = self
                .writer
                .get_mut()
                .unwrap_or_else(PoisonError::into_inner);
            // Best effort: on failure the journal stays and is replayed at the next open.
            let _ = checkpoint(&shard, journal);
            // qdrant-edge flushes again in its own Drop and panics if that fails; never let that
            // escape a destructor.
            let _ = catch_unwind(AssertUnwindSafe(move || drop(shard)));
        }
    }
}

impl Keys {
    fn new() -> Result<Self, String> {
        let groups_empty: IsEmptyCondition =
            serde_json::from_value(serde_json::json!({ "is_empty": { "key": field::GROUPS } }))
                .map_err(|e| format!("cannot build the is_empty condition: {e}"))?;
        Ok(Keys {
            passage_id: parse_key(field::PASSAGE_ID)?,
            doc_id: parse_key(field::DOC_ID)?,
            doc_type: parse_key(field::DOC_TYPE)?,
            issuer: parse_key(field::ISSUER)?,
            issued: parse_key(field::ISSUED)?,
            level: parse_key(field::LEVEL)?,
            groups: parse_key(field::GROUPS)?,
            groups_empty: Condition::IsEmpty(groups_empty),
        })
    }
}

fn parse_key(name: &str) -> Result<JsonPath, String> {
    name.parse::<JsonPath>()
        .map_err(|_| format!("invalid payload key {name:?}"))
}

fn payload_str(payload: &Map<String, Value>, key: &str) -> Result<String, String> {
    match payload.get(key) {
        Some(Value::String(s)) => Ok(s.clone()),
        other => Err(format!(
            "stored point has no string {key:?} in its payload (found {other:?})"
        )),
    }
}

/// Runs an engine call, turning both its errors and its panics (qdrant-edge `expect`s on I/O in a
/// few places, e.g. flush) into an error message.
fn catch_engine<T, E: std::fmt::Display>(f: impl FnOnce() -> Result<T, E>) -> Result<T, String> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(e.to_string()),
        Err(panic) => {
            let msg = panic
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| panic.downcast_ref::<&str>().copied())
                .unwrap_or("unknown panic");
            Err(format!("the engine panicked: {msg}"))
        }
    }
}

fn check_config(shard: &EdgeShard, path: &str) -> Result<(), VectorError> {
    let config = shard.config();
    let incompatible = |reason: String| VectorError::Incompatible {
        location: format!("at {path}"),
        reason,
    };
    match config.vectors.get(DEFAULT_VECTOR_NAME) {
        Some(v) if v.size == DIM && v.distance == Distance::Cosine => Ok(()),
        Some(v) => Err(incompatible(format!(
            "it stores {}-d {:?} vectors, but this build embeds {DIM}-d vectors compared by Cosine; \
             rebuild it with shirabe-indexer into an empty directory",
            v.size, v.distance
        ))),
        None => Err(incompatible("it has no default dense vector".into())),
    }
}

/// Takes the exclusive lock on the store directory.
fn lock_dir(dir: &Path) -> Result<File, VectorError> {
    let path = dir.join(LOCK_FILE);
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(&path)
        .map_err(|source| VectorError::Io {
            path: path.display().to_string(),
            operation: "open lock file",
            source,
        })?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(fs::TryLockError::WouldBlock) => Err(VectorError::Locked {
            path: dir.display().to_string(),
            reason: format!("{} is locked", path.display()),
        }),
        Err(fs::TryLockError::Error(source)) => Err(VectorError::Io {
            path: path.display().to_string(),
            operation: "lock",
            source,
        }),
    }
}

/// Directory entries that are neither our lock nor our journal.
fn foreign_entries(dir: &Path) -> io::Result<Vec<String>> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir)? {
        let name = entry?.file_name().to_string_lossy().into_owned();
        if name != LOCK_FILE && name != JOURNAL_FILE {
            out.push(name);
        }
    }
    out.sort();
    Ok(out)
}

fn apply_upsert(shard: &EdgeShard, points: &[&VectorPoint]) -> Result<(), String> {
    let mut structs = Vec::with_capacity(points.len());
    for p in points {
        let payload = match serde_json::to_value(&p.payload) {
            Ok(Value::Object(map)) => Value::Object(map),
            Ok(other) => return Err(format!("payload serialised to a non-object: {other}")),
            Err(e) => return Err(format!("cannot serialise payload: {e}")),
        };
        let id = PointId::Uuid(Uuid::from_bytes(point_uuid_bytes(&p.payload.passage_id)));
        structs.push(PointStruct::new(id, p.vector.clone(), payload).into());
    }
    let op = UpdateOperation::PointOperation(PointOperations::UpsertPoints(
        PointInsertOperations::PointsList(structs),
    ));
    catch_engine(|| shard.update(op))
}

fn apply_delete(shard: &EdgeShard, keys: &Keys, doc_ids: &[String]) -> Result<(), String> {
    let filter = Filter::new_must(Condition::Field(FieldCondition::new_match(
        keys.doc_id.clone(),
        Match::from(doc_ids.to_vec()),
    )));
    let op = UpdateOperation::PointOperation(PointOperations::DeletePointsByFilter(filter));
    catch_engine(|| shard.update(op))
}

/// Flushes the engine, then empties the journal (in that order: a crash in between only causes a
/// redundant, idempotent replay).
fn checkpoint(shard: &EdgeShard, journal: &mut Journal) -> Result<(), String> {
    catch_engine(|| {
        shard.flush();
        Ok::<(), String>(())
    })?;
    journal.clear().map_err(|e| e.to_string())
}

// ---------------------------------------------------------------------------------------------
// Journal
// ---------------------------------------------------------------------------------------------

/// Record header: magic, body length (u32 LE), first 8 bytes of SHA-256(body).
const MAGIC: [u8; 4] = *b"SVJ1";
const HEADER_LEN: usize = 16;
const OP_UPSERT: u8 = 1;
const OP_DELETE: u8 = 2;

enum JournalOp {
    Upsert(Vec<VectorPoint>),
    Delete(Vec<String>),
}

/// Append-only file of operations not yet flushed into the engine's segments.
struct Journal {
    path: PathBuf,
    file: File,
    /// Length of the valid prefix, which is where the next record goes.
    len: u64,
}

impl Journal {
    fn open(path: &Path) -> Result<Self, VectorError> {
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(path)
            .map_err(|source| VectorError::Io {
                path: path.display().to_string(),
                operation: "open journal",
                source,
            })?;
        let len = file
            .metadata()
            .map_err(|source| VectorError::Io {
                path: path.display().to_string(),
                operation: "stat journal",
                source,
            })?
            .len();
        Ok(Journal {
            path: path.to_path_buf(),
            file,
            len,
        })
    }

    fn io_err(&self, operation: &'static str) -> impl FnOnce(io::Error) -> VectorError + '_ {
        move |source| VectorError::Io {
            path: self.path.display().to_string(),
            operation,
            source,
        }
    }

    /// Appends one record and makes it durable. Returns the offset it starts at, for `rollback`.
    fn append(&mut self, body: &[u8]) -> Result<u64, VectorError> {
        let start = self.len;
        let body_len = u32::try_from(body.len()).map_err(|_| VectorError::Journal {
            path: self.path.display().to_string(),
            reason: format!("record of {} bytes is too large", body.len()),
        })?;
        let mut record = Vec::with_capacity(HEADER_LEN + body.len());
        record.extend_from_slice(&MAGIC);
        record.extend_from_slice(&body_len.to_le_bytes());
        record.extend_from_slice(&Sha256::digest(body)[..8]);
        record.extend_from_slice(body);
        let written = (|| {
            self.file.seek(SeekFrom::Start(start))?;
            self.file.write_all(&record)?;
            self.file.sync_data()
        })();
        if let Err(source) = written {
            // Best effort: drop a partial record now; replay would discard it anyway.
            let _ = self.file.set_len(start);
            return Err(VectorError::Io {
                path: self.path.display().to_string(),
                operation: "append to journal",
                source,
            });
        }
        self.len = start + record.len() as u64;
        Ok(start)
    }

    fn rollback(&mut self, to: u64) -> Result<(), VectorError> {
        self.file
            .set_len(to)
            .map_err(self.io_err("roll back journal"))?;
        self.file
            .sync_data()
            .map_err(self.io_err("roll back journal"))?;
        self.len = to;
        Ok(())
    }

    fn clear(&mut self) -> io::Result<()> {
        if self.len == 0 {
            return Ok(());
        }
        self.file.set_len(0)?;
        self.file.sync_data()?;
        self.len = 0;
        Ok(())
    }

    /// Feeds every intact record to `apply`, in order, then cuts off a torn or damaged tail.
    /// Returns the number of bytes discarded.
    fn replay(
        &mut self,
        mut apply: impl FnMut(JournalOp) -> Result<(), VectorError>,
    ) -> Result<u64, VectorError> {
        let total = self.len;
        if total == 0 {
            return Ok(0);
        }
        self.file
            .seek(SeekFrom::Start(0))
            .map_err(self.io_err("read journal"))?;
        let mut reader = BufReader::new(&self.file);
        let mut good: u64 = 0;
        loop {
            let mut header = [0u8; HEADER_LEN];
            match read_full(&mut reader, &mut header) {
                Ok(true) => {}
                Ok(false) => break,
                Err(source) => {
                    return Err(VectorError::Io {
                        path: self.path.display().to_string(),
                        operation: "read journal",
                        source,
                    })
                }
            }
            let body_len = u32::from_le_bytes([header[4], header[5], header[6], header[7]]) as u64;
            if header[..4] != MAGIC || good + HEADER_LEN as u64 + body_len > total {
                break;
            }
            let mut body = vec![0u8; body_len as usize];
            match read_full(&mut reader, &mut body) {
                Ok(true) => {}
                Ok(false) => break,
                Err(source) => {
                    return Err(VectorError::Io {
                        path: self.path.display().to_string(),
                        operation: "read journal",
                        source,
                    })
                }
            }
            if Sha256::digest(&body)[..8] != header[8..16] {
                break;
            }
            let op = decode(&body).map_err(|reason| VectorError::Journal {
                path: self.path.display().to_string(),
                reason: format!("record at byte {good}: {reason}"),
            })?;
            apply(op)?;
            good += HEADER_LEN as u64 + body_len;
        }
        drop(reader);
        let discarded = total - good;
        if discarded > 0 {
            self.rollback(good)?;
        }
        Ok(discarded)
    }
}

/// Fills `buf` completely; `Ok(false)` if the input ends first (a torn record or a clean end).
fn read_full(reader: &mut impl Read, buf: &mut [u8]) -> io::Result<bool> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => return Ok(false),
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(true)
}

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
    out.extend_from_slice(bytes);
}

/// Body: op byte, point count (u32), then per point: payload JSON (u32 length + bytes), DIM × f32.
fn encode_upsert(points: &[&VectorPoint]) -> Vec<u8> {
    let mut out = Vec::with_capacity(5 + points.len() * (DIM * 4 + 256));
    out.push(OP_UPSERT);
    out.extend_from_slice(&(points.len() as u32).to_le_bytes());
    for p in points {
        // Serialising a plain struct of strings and integers cannot fail.
        let json = serde_json::to_vec(&p.payload).unwrap_or_default();
        put_bytes(&mut out, &json);
        for x in &p.vector {
            out.extend_from_slice(&x.to_le_bytes());
        }
    }
    out
}

/// Body: op byte, id count (u32), then per document id: u32 length + UTF-8 bytes.
fn encode_delete(doc_ids: &[String]) -> Vec<u8> {
    let mut out = Vec::with_capacity(5 + doc_ids.iter().map(|d| d.len() + 4).sum::<usize>());
    out.push(OP_DELETE);
    out.extend_from_slice(&(doc_ids.len() as u32).to_le_bytes());
    for id in doc_ids {
        put_bytes(&mut out, id.as_bytes());
    }
    out
}

struct Cursor<'a> {
    buf: &'a [u8],
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        if self.buf.len() < n {
            return Err("record ends early".into());
        }
        let (head, rest) = self.buf.split_at(n);
        self.buf = rest;
        Ok(head)
    }
    fn u32(&mut self) -> Result<u32, String> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn bytes(&mut self) -> Result<&'a [u8], String> {
        let n = self.u32()? as usize;
        self.take(n)
    }
}

fn decode(body: &[u8]) -> Result<JournalOp, String> {
    let mut c = Cursor { buf: body };
    let op = c.take(1)?[0];
    let count = c.u32()? as usize;
    match op {
        OP_UPSERT => {
            let mut points = Vec::with_capacity(count.min(UPSERT_CHUNK));
            for _ in 0..count {
                let payload: PassagePayload = serde_json::from_slice(c.bytes()?)
                    .map_err(|e| format!("bad payload JSON: {e}"))?;
                let raw = c.take(DIM * 4)?;
                let vector = raw
                    .chunks_exact(4)
                    .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                    .collect();
                points.push(VectorPoint { payload, vector });
            }
            Ok(JournalOp::Upsert(points))
        }
        OP_DELETE => {
            let mut ids = Vec::with_capacity(count.min(DELETE_CHUNK));
            for _ in 0..count {
                let id =
                    std::str::from_utf8(c.bytes()?).map_err(|e| format!("bad document id: {e}"))?;
                ids.push(id.to_owned());
            }
            Ok(JournalOp::Delete(ids))
        }
        other => Err(format!("unknown operation {other}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(id: &str, seed: f32) -> VectorPoint {
        VectorPoint {
            payload: PassagePayload {
                passage_id: id.into(),
                doc_id: "doc".into(),
                doc_type: "通知".into(),
                issuer: Some("総務省".into()),
                issued: Some(19_000),
                level: 2,
                groups: vec!["g1".into()],
            },
            vector: (0..DIM).map(|i| seed + i as f32).collect(),
        }
    }

    #[test]
    fn journal_records_round_trip_and_torn_tails_are_cut() {
        let dir = super::super::conformance::TempDir::new("journal");
        fs::create_dir_all(dir.path()).unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join(JOURNAL_FILE);
        let (a, b) = (point("p1", 0.5), point("p2", 1.5));
        {
            let mut j = Journal::open(&path).unwrap_or_else(|e| panic!("{e}"));
            j.append(&encode_upsert(&[&a, &b]))
                .unwrap_or_else(|e| panic!("{e}"));
            j.append(&encode_delete(&["doc".into(), "文書".into()]))
                .unwrap_or_else(|e| panic!("{e}"));
        }
        // Simulate a crash in the middle of a third append.
        let full = fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        {
            let mut f = OpenOptions::new()
                .append(true)
                .open(&path)
                .unwrap_or_else(|e| panic!("{e}"));
            f.write_all(&MAGIC)
                .and_then(|()| f.write_all(&[200, 0, 0, 0, 1, 2]))
                .unwrap_or_else(|e| panic!("{e}"));
        }
        let mut j = Journal::open(&path).unwrap_or_else(|e| panic!("{e}"));
        let mut ops = Vec::new();
        let discarded = j
            .replay(|op| {
                ops.push(op);
                Ok(())
            })
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(discarded, 10);
        assert_eq!(j.len, full);
        assert_eq!(ops.len(), 2);
        match &ops[0] {
            JournalOp::Upsert(p) => {
                assert_eq!(p.len(), 2);
                assert_eq!(p[1].payload, b.payload);
                assert_eq!(p[1].vector, b.vector);
            }
            JournalOp::Delete(_) => panic!("expected an upsert first"),
        }
        match &ops[1] {
            JournalOp::Delete(ids) => assert_eq!(ids, &vec!["doc".to_string(), "文書".to_string()]),
            JournalOp::Upsert(_) => panic!("expected a delete second"),
        }
        // A flipped bit in the last record's body is detected by the checksum.
        let mut bytes = fs::read(&path).unwrap_or_default();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        fs::write(&path, &bytes).unwrap_or_else(|e| panic!("{e}"));
        let mut j = Journal::open(&path).unwrap_or_else(|e| panic!("{e}"));
        let mut n = 0;
        j.replay(|_| {
            n += 1;
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(n, 1);
    }
}
