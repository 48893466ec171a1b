//! [`ServerStore`]: the same store on a Qdrant server or cluster, over gRPC with `qdrant-client`.
//!
//! `qdrant-client` is async. The store owns a small multi-thread tokio runtime (2 workers) and
//! every trait method spawns its request there and waits on a channel, so the methods are plain
//! blocking calls that work from any thread, even one that is itself inside a tokio runtime (where
//! `Runtime::block_on` would panic). They do block the calling thread: async callers should use
//! `tokio::task::spawn_blocking`, exactly as for tantivy searches, rather than calling from an async
//! worker.
//!
//! Writes use `wait=true`, so a returned `upsert`/`delete_documents` is applied and in the server's
//! WAL; `flush` therefore has nothing to do. `optimize` waits until the server's own background
//! optimizers report the collection green.

use std::future::Future;
use std::sync::mpsc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use qdrant_client::qdrant::{
    vectors_config, CollectionStatus, Condition, CountPointsBuilder, CreateCollectionBuilder,
    CreateFieldIndexCollectionBuilder, DeleteCollectionBuilder, DeletePointsBuilder, Distance,
    FieldType, Filter, OptimizersConfigDiffBuilder, PayloadIncludeSelector, PointStruct,
    QueryPointsBuilder, Range, ScrollPointsBuilder, UpdateCollectionBuilder, UpsertPointsBuilder,
    Value,
};
use qdrant_client::{Payload, Qdrant, QdrantError};

use super::store::{
    field, point_uuid_string, prepare_points, search_needed, IndexKind,
    VectorError, VectorFilter, VectorHit, VectorPoint, VectorStore, CONFIG_KEY_QDRANT_COLLECTION,
    CONFIG_KEY_QDRANT_URL, DIM, INDEXED_FIELDS,
};

/// Points per upsert request.
const UPSERT_CHUNK: usize = 256;
/// Document ids per delete request.
const DELETE_CHUNK: usize = 512;
/// Points per scroll page.
const SCROLL_PAGE: u32 = 512;
/// Per-request timeout (an upsert of a chunk, a search).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long `optimize` waits for the server's optimizers to finish.
const OPTIMIZE_TIMEOUT: Duration = Duration::from_secs(6 * 3600);
const OPTIMIZE_POLL: Duration = Duration::from_millis(500);

/// How a collection shirabe creates is laid out over a Qdrant cluster. An existing collection
/// keeps its own layout (Qdrant fixes the shard count at creation); a different one is logged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CollectionLayout {
    /// Shards the points are spread over (`vector.qdrant_shards`).
    pub shards: u32,
    /// Copies of each shard on distinct nodes (`vector.qdrant_replication`).
    pub replication: u32,
}

impl Default for CollectionLayout {
    fn default() -> Self {
        CollectionLayout { shards: 1, replication: 1 }
    }
}

/// A vector store on a Qdrant server (see the module docs).
pub struct ServerStore {
    /// One client per node URL given; requests go to `preferred` and fail over in order.
    clients: Vec<(String, Arc<Qdrant>)>,
    preferred: AtomicUsize,
    /// `Some` until `Drop`, which shuts it down without blocking (dropping a runtime normally
    /// blocks, and panics when that happens on an async worker thread).
    runtime: Option<tokio::runtime::Runtime>,
    url: String,
    collection: String,
    server_version: String,
}

impl std::fmt::Debug for ServerStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerStore")
            .field("url", &self.url)
            .field("collection", &self.collection)
            .field("server_version", &self.server_version)
            .finish()
    }
}

const _: fn() = || {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<ServerStore>();
};

impl ServerStore {
    /// Connects to the gRPC endpoint `url` (e.g. `http://127.0.0.1:6334`), or to the first of
    /// several cluster nodes' endpoints separated by commas that answers, checks that the server
    /// answers, and creates `collection` (384-d, Cosine, laid out as `layout`) and its payload
    /// indexes if missing. An existing collection with other vector parameters is an error, never
    /// silently reused.
    pub fn connect(
        url: &str,
        collection: &str,
        api_key: Option<String>,
        layout: CollectionLayout,
    ) -> Result<Self, VectorError> {
        let unreachable = |reason: String| VectorError::Unreachable {
            url: url.to_owned(),
            config_key: CONFIG_KEY_QDRANT_URL,
            reason,
        };
        if layout.shards == 0 || layout.replication == 0 {
            return Err(VectorError::Server {
                url: url.to_owned(),
                collection: collection.to_owned(),
                operation: "connect",
                reason: format!(
                    "shards ({}) and replication ({}) must be at least 1 (config keys \
                     `vector.qdrant_shards`, `vector.qdrant_replication`)",
                    layout.shards, layout.replication
                ),
            });
        }
        if collection.is_empty() {
            return Err(VectorError::Server {
                url: url.to_owned(),
                collection: String::new(),
                operation: "connect",
                reason: format!(
                    "the collection name is empty (config key `{CONFIG_KEY_QDRANT_COLLECTION}`)"
                ),
            });
        }
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("shirabe-qdrant")
            .enable_all()
            .build()
            .map_err(|e| unreachable(format!("cannot start the client runtime: {e}")))?;
        let mut clients = Vec::new();
        for node in url.split(',').map(str::trim).filter(|u| !u.is_empty()) {
            let client = Qdrant::from_url(node)
                .api_key(api_key.clone())
                .timeout(REQUEST_TIMEOUT)
                .connect_timeout(CONNECT_TIMEOUT)
                // The built-in check prints to stdout; we run our own health check below.
                .skip_compatibility_check()
                .build()
                .map_err(|e| unreachable(format!("{node}: {e}")))?;
            clients.push((node.to_owned(), Arc::new(client)));
        }
        if clients.is_empty() {
            return Err(unreachable("no URL given".into()));
        }
        let mut store = ServerStore {
            clients,
            preferred: AtomicUsize::new(0),
            runtime: Some(runtime),
            url: url.to_owned(),
            collection: collection.to_owned(),
            server_version: String::new(),
        };
        let health = store.call("health check", |c, _| async move { c.health_check().await })?;
        store.server_version = health.version;
        store.ensure_collection(layout)?;
        Ok(store)
    }

    /// The server's version, as reported by its health check.
    pub fn server_version(&self) -> &str {
        &self.server_version
    }

    /// The collection this store reads and writes.
    pub fn collection(&self) -> &str {
        &self.collection
    }

    /// Deletes the whole collection (used by tests to clean up; the indexer never calls it).
    pub fn delete_collection(&self) -> Result<(), VectorError> {
        self.call("delete collection", |c, name| async move {
            c.delete_collection(DeleteCollectionBuilder::new(name))
                .await
        })?;
        Ok(())
    }

    fn ensure_collection(&self, layout: CollectionLayout) -> Result<(), VectorError> {
        let exists = self.call("check collection", |c, name| async move {
            c.collection_exists(name).await
        })?;
        if !exists {
            let created = self.call("create collection", |c, name| async move {
                c.create_collection(
                    CreateCollectionBuilder::new(name)
                        .vectors_config(qdrant_client::qdrant::VectorParamsBuilder::new(
                            DIM as u64,
                            Distance::Cosine,
                        ))
                        .shard_number(layout.shards)
                        .replication_factor(layout.replication),
                )
                .await
            });
            // Another process may have created it in the meantime; that is fine if it is compatible.
            if let Err(e) = created {
                let exists_now = self.call("check collection", |c, name| async move {
                    c.collection_exists(name).await
                })?;
                if !exists_now {
                    return Err(e);
                }
            }
        }
        self.check_params(layout)?;
        for (name, kind) in INDEXED_FIELDS {
            let field_type = match kind {
                IndexKind::Keyword => FieldType::Keyword,
                IndexKind::Integer => FieldType::Integer,
            };
            // Idempotent on the server: an existing index of the same type is kept.
            self.call("create payload index", move |c, coll| async move {
                c.create_field_index(
                    CreateFieldIndexCollectionBuilder::new(coll, name, field_type).wait(true),
                )
                .await
            })?;
        }
        Ok(())
    }

    fn check_params(&self, layout: CollectionLayout) -> Result<(), VectorError> {
        let info = self.call("read collection info", |c, name| async move {
            c.collection_info(name).await
        })?;
        let params = info.result.and_then(|i| i.config).and_then(|c| c.params);
        if let Some(p) = &params {
            let found = CollectionLayout {
                shards: p.shard_number,
                replication: p.replication_factor.unwrap_or(1),
            };
            if found != layout {
                tracing::warn!(
                    collection = %self.collection,
                    shards = found.shards,
                    replication = found.replication,
                    configured_shards = layout.shards,
                    configured_replication = layout.replication,
                    "the existing collection keeps its own layout; the configured one applies only when shirabe creates it"
                );
            }
        }
        let params = params.and_then(|p| p.vectors_config).and_then(|v| v.config);
        let incompatible = |reason: String| {
            VectorError::Incompatible {
            location: format!("collection `{}` at {}", self.collection, self.url),
            reason: format!(
                "{reason}; choose another collection name (config key `{CONFIG_KEY_QDRANT_COLLECTION}`) \
                 or delete this collection and re-run shirabe-indexer"
            ),
        }
        };
        match params {
            Some(vectors_config::Config::Params(p)) => {
                if p.size != DIM as u64 || p.distance != Distance::Cosine as i32 {
                    let distance = Distance::try_from(p.distance)
                        .map(|d| d.as_str_name())
                        .unwrap_or("unknown");
                    return Err(incompatible(format!(
                        "it stores {}-d vectors compared by {distance}, expected {DIM}-d Cosine",
                        p.size
                    )));
                }
                Ok(())
            }
            Some(vectors_config::Config::ParamsMap(_)) => Err(incompatible(
                "it uses named vectors, expected one unnamed dense vector".into(),
            )),
            None => Err(incompatible(
                "its vector parameters could not be read".into(),
            )),
        }
    }

    /// Runs one request on the store's runtime and waits for it, from any thread. When the node
    /// in use does not answer ([`is_transport`]: refused, broken, timed out), the same request
    /// goes to the next node given, which becomes the one in use: in a cluster with replicated
    /// shards any node answers for all of them, and every request here is idempotent (upserts by
    /// point id, deletions by filter), so a repeated write changes nothing.
    fn call<T, F, Fut>(&self, operation: &'static str, make: F) -> Result<T, VectorError>
    where
        T: Send + 'static,
        F: Fn(Arc<Qdrant>, String) -> Fut,
        Fut: Future<Output = Result<T, QdrantError>> + Send + 'static,
    {
        let first = self.preferred.load(Ordering::Relaxed);
        let mut unreachable = None;
        for i in 0..self.clients.len() {
            let k = (first + i) % self.clients.len();
            match self.call_on(k, operation, &make) {
                Ok(v) => {
                    if k != first {
                        self.preferred.store(k, Ordering::Relaxed);
                        tracing::warn!(from = %self.clients[first].0, to = %self.clients[k].0, operation, "Qdrant node did not answer; using the next one");
                    }
                    return Ok(v);
                }
                Err(e @ VectorError::Unreachable { .. }) => unreachable = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(unreachable.unwrap_or_else(|| self.server_err(operation, "no node to ask".into())))
    }

    fn call_on<T, F, Fut>(&self, k: usize, operation: &'static str, make: &F) -> Result<T, VectorError>
    where
        T: Send + 'static,
        F: Fn(Arc<Qdrant>, String) -> Fut,
        Fut: Future<Output = Result<T, QdrantError>> + Send + 'static,
    {
        let Some(runtime) = &self.runtime else {
            return Err(self.server_err(operation, "the client runtime is shut down".into()));
        };
        let (url, client) = &self.clients[k];
        let fut = make(Arc::clone(client), self.collection.clone());
        let (tx, rx) = mpsc::sync_channel(1);
        runtime.spawn(async move {
            // The receiver only goes away if the caller is gone; nothing to report then.
            let _ = tx.send(fut.await);
        });
        match rx.recv() {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(self.map_err(url, operation, e)),
            Err(_) => Err(self.server_err(
                operation,
                "the request task was dropped (runtime shutting down)".into(),
            )),
        }
    }

    fn server_err(&self, operation: &'static str, reason: String) -> VectorError {
        VectorError::Server {
            url: self.url.clone(),
            collection: self.collection.clone(),
            operation,
            reason,
        }
    }

    fn map_err(&self, url: &str, operation: &'static str, e: QdrantError) -> VectorError {
        if is_transport(&e) {
            VectorError::Unreachable {
                url: url.to_owned(),
                config_key: CONFIG_KEY_QDRANT_URL,
                reason: format!("{operation}: {e}"),
            }
        } else {
            self.server_err(operation, e.to_string())
        }
    }
}

impl Drop for ServerStore {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// Whether the node did not answer (so the request may go to another node), as opposed to an
/// answer that is an error.
fn is_transport(e: &QdrantError) -> bool {
    match e {
        // gRPC codes 4 (DeadlineExceeded) and 14 (Unavailable): the server did not answer.
        // qdrant-client reports a refused connection as code 13 (Internal) with this message,
        // and a connection that broke under a request in flight (the node was killed) as
        // code 2 (Unknown), "transport error".
        QdrantError::ResponseError { status } => {
            matches!(status.code() as i32, 4 | 14)
                || (status.code() as i32 == 13 && status.message().starts_with("Failed to connect to"))
                || (status.code() as i32 == 2 && status.message().contains("transport error"))
        }
        QdrantError::Io(_) => true,
        _ => false,
    }
}

/// The [`VectorFilter`] as a Qdrant filter; same semantics as the embedded backend.
fn build_filter(f: &VectorFilter) -> Filter {
    let mut must = vec![Condition::range(
        field::LEVEL,
        Range {
            lte: Some(f64::from(f.max_level)),
            ..Range::default()
        },
    )];
    if f.groups.is_empty() {
        must.push(Condition::is_empty(field::GROUPS));
    } else {
        must.push(
            Filter::should([
                Condition::matches(field::GROUPS, f.groups.clone()),
                Condition::is_empty(field::GROUPS),
            ])
            .into(),
        );
    }
    if !f.doc_types.is_empty() {
        must.push(Condition::matches(field::DOC_TYPE, f.doc_types.clone()));
    }
    if !f.issuers.is_empty() {
        must.push(Condition::matches(field::ISSUER, f.issuers.clone()));
    }
    if f.issued_from.is_some() || f.issued_to.is_some() {
        must.push(Condition::range(
            field::ISSUED,
            Range {
                gte: f.issued_from.map(|d| d as f64),
                lte: f.issued_to.map(|d| d as f64),
                ..Range::default()
            },
        ));
    }
    if let Some(doc_ids) = &f.doc_ids {
        must.push(Condition::matches(field::DOC_ID, doc_ids.clone()));
    }
    Filter::must(must)
}

fn payload_string(
    payload: &std::collections::HashMap<String, Value>,
    key: &str,
) -> Result<String, String> {
    payload
        .get(key)
        .and_then(Value::as_str)
        .cloned()
        .ok_or_else(|| format!("stored point has no string {key:?} in its payload"))
}

impl VectorStore for ServerStore {
    fn upsert(&self, points: &[VectorPoint]) -> Result<(), VectorError> {
        let points = prepare_points(points)?;
        for chunk in points.chunks(UPSERT_CHUNK) {
            let mut structs = Vec::with_capacity(chunk.len());
            for p in chunk {
                let payload = serde_json::to_value(&p.payload)
                    .map_err(|e| e.to_string())
                    .and_then(|v| Payload::try_from(v).map_err(|e| e.to_string()))
                    .map_err(|r| {
                        self.server_err("upsert", format!("cannot convert payload: {r}"))
                    })?;
                structs.push(PointStruct::new(
                    point_uuid_string(&p.payload.passage_id),
                    p.vector.clone(),
                    payload,
                ));
            }
            self.call("upsert", |c, name| {
                let structs = structs.clone();
                async move {
                    c.upsert_points(UpsertPointsBuilder::new(name, structs).wait(true))
                        .await
                }
            })?;
        }
        Ok(())
    }

    fn delete_documents(&self, doc_ids: &[String]) -> Result<(), VectorError> {
        for chunk in doc_ids.chunks(DELETE_CHUNK) {
            let filter = Filter::must([Condition::matches(field::DOC_ID, chunk.to_vec())]);
            self.call("delete documents", |c, name| {
                let filter = filter.clone();
                async move {
                    c.delete_points(DeletePointsBuilder::new(name).points(filter).wait(true))
                        .await
                }
            })?;
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
        let request = QueryPointsBuilder::new(self.collection.clone())
            .query(query.to_vec())
            .filter(build_filter(filter))
            .limit(limit as u64)
            .with_payload(PayloadIncludeSelector::new(vec![
                field::PASSAGE_ID.to_owned(),
                field::DOC_ID.to_owned(),
            ]));
        let response = self.call("search", |c, _| {
            let request = request.clone();
            async move { c.query(request).await }
        })?;
        response
            .result
            .into_iter()
            .map(|p| {
                Ok(VectorHit {
                    passage_id: payload_string(&p.payload, field::PASSAGE_ID)
                        .map_err(|r| self.server_err("search", r))?,
                    doc_id: payload_string(&p.payload, field::DOC_ID)
                        .map_err(|r| self.server_err("search", r))?,
                    score: p.score,
                })
            })
            .collect()
    }

    fn count(&self) -> Result<u64, VectorError> {
        let response = self.call("count", |c, name| async move {
            c.count(CountPointsBuilder::new(name).exact(true)).await
        })?;
        Ok(response.result.map(|r| r.count).unwrap_or(0))
    }

    fn passage_ids_of(&self, doc_id: &str) -> Result<Vec<String>, VectorError> {
        let filter = Filter::must([Condition::matches(field::DOC_ID, vec![doc_id.to_owned()])]);
        let mut ids = Vec::new();
        let mut offset: Option<qdrant_client::qdrant::PointId> = None;
        loop {
            let mut request = ScrollPointsBuilder::new(self.collection.clone())
                .filter(filter.clone())
                .limit(SCROLL_PAGE)
                .with_payload(PayloadIncludeSelector::new(vec![
                    field::PASSAGE_ID.to_owned()
                ]));
            if let Some(o) = offset.take() {
                request = request.offset(o);
            }
            let page = self.call("scroll", |c, _| {
                let request = request.clone();
                async move { c.scroll(request).await }
            })?;
            for point in &page.result {
                ids.push(
                    payload_string(&point.payload, field::PASSAGE_ID)
                        .map_err(|r| self.server_err("scroll", r))?,
                );
            }
            match page.next_page_offset {
                Some(next) if next.point_id_options.is_some() => offset = Some(next),
                _ => break,
            }
        }
        Ok(ids)
    }

    fn optimize(&self) -> Result<(), VectorError> {
        let deadline = Instant::now() + OPTIMIZE_TIMEOUT;
        let mut nudged = false;
        loop {
            let info = self.call("read collection info", |c, name| async move {
                c.collection_info(name).await
            })?;
            let info = info
                .result
                .ok_or_else(|| self.server_err("optimize", "no collection info returned".into()))?;
            if let Some(status) = &info.optimizer_status {
                if !status.ok {
                    return Err(self.server_err(
                        "optimize",
                        format!("the server's optimizer failed: {}", status.error),
                    ));
                }
            }
            match CollectionStatus::try_from(info.status) {
                Ok(CollectionStatus::Green) => return Ok(()),
                Ok(CollectionStatus::Red) => {
                    return Err(self.server_err("optimize", "the collection status is red".into()));
                }
                Ok(CollectionStatus::Grey) if !nudged => {
                    // Grey: optimizations are pending but not triggered (e.g. after a restart); an
                    // empty optimizer config update triggers them.
                    nudged = true;
                    self.call("trigger optimizers", |c, name| async move {
                        c.update_collection(
                            UpdateCollectionBuilder::new(name)
                                .optimizers_config(OptimizersConfigDiffBuilder::default()),
                        )
                        .await
                    })?;
                }
                _ => {}
            }
            if Instant::now() > deadline {
                return Err(self.server_err(
                    "optimize",
                    format!(
                        "the collection was not green after {} s",
                        OPTIMIZE_TIMEOUT.as_secs()
                    ),
                ));
            }
            std::thread::sleep(OPTIMIZE_POLL);
        }
    }

    fn flush(&self) -> Result<(), VectorError> {
        // Writes use wait=true: once acknowledged they are applied and in the server's WAL.
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_has_one_condition_per_constraint() {
        let f = VectorFilter {
            doc_types: vec!["通知".into()],
            issuers: vec!["総務省".into()],
            issued_from: Some(10),
            issued_to: None,
            max_level: 2,
            groups: vec!["g1".into()],
            doc_ids: Some(vec!["d1".into()]),
        };
        assert_eq!(build_filter(&f).must.len(), 6);
        let open = VectorFilter {
            max_level: 3,
            ..VectorFilter::default()
        };
        assert_eq!(
            build_filter(&open).must.len(),
            2,
            "level and public-groups conditions always apply"
        );
    }

    #[test]
    fn a_refused_or_broken_connection_is_not_an_answer() {
        let status = |s: tonic::Status| QdrantError::ResponseError { status: s };
        assert!(is_transport(&status(tonic::Status::unavailable("down"))));
        assert!(is_transport(&status(tonic::Status::deadline_exceeded("slow"))));
        assert!(is_transport(&status(tonic::Status::internal("Failed to connect to http://x/: refused"))));
        assert!(is_transport(&status(tonic::Status::unknown("transport error"))));
        assert!(!is_transport(&status(tonic::Status::internal("wrong input: vector dimension"))));
        assert!(!is_transport(&status(tonic::Status::not_found("Collection `c` doesn't exist!"))));
        assert!(!is_transport(&status(tonic::Status::invalid_argument("bad filter"))));
    }

    /// Nothing listens on these loopback ports (discard and an unassigned one), so the
    /// connection is refused at once.
    const DEAD: &str = "http://127.0.0.1:9, http://127.0.0.1:19";

    #[test]
    fn no_answering_node_is_an_unreachable_error_naming_the_key() {
        let err = ServerStore::connect(DEAD, "c", None, CollectionLayout::default())
            .expect_err("nothing listens there");
        assert!(matches!(err, VectorError::Unreachable { .. }), "{err:?}");
        let text = err.to_string();
        assert!(text.contains(CONFIG_KEY_QDRANT_URL), "{text}");
        assert!(text.contains("127.0.0.1:19"), "the last node tried is named: {text}");
    }

    #[test]
    fn a_layout_without_shards_or_copies_is_refused() {
        let layout = CollectionLayout { shards: 0, replication: 1 };
        let err = ServerStore::connect("http://127.0.0.1:9", "c", None, layout).expect_err("zero shards");
        assert!(err.to_string().contains("vector.qdrant_shards"), "{err}");
    }

    /// A dead node listed first: every request fails over to the live one (`QDRANT_URL`).
    #[test]
    fn requests_fail_over_to_the_next_node() {
        let Ok(url) = std::env::var("QDRANT_URL") else {
            eprintln!("SKIPPED: QDRANT_URL not set — Qdrant failover not run");
            return;
        };
        let collection = format!("shirabe_failover_{}", std::process::id());
        let store = ServerStore::connect(&format!("{DEAD},{url}"), &collection, None, CollectionLayout::default())
            .expect("the live node answers");
        let point = VectorPoint {
            payload: super::super::store::PassagePayload {
                passage_id: "d1-0".into(),
                doc_id: "d1".into(),
                doc_type: "通知".into(),
                issuer: None,
                issued: None,
                level: 1,
                groups: vec![],
            },
            vector: (0..DIM).map(|i| if i == 0 { 1.0 } else { 0.0 }).collect(),
        };
        store.upsert(std::slice::from_ref(&point)).expect("upsert");
        assert_eq!(store.count().expect("count"), 1);
        let filter = VectorFilter { max_level: 3, ..VectorFilter::default() };
        let hits = store.search(&point.vector, &filter, 5).expect("search");
        store.delete_collection().expect("cleanup");
        assert_eq!(hits.len(), 1);
        assert_eq!(hits[0].passage_id, "d1-0");
    }
}
