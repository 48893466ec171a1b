//! `shirabe-bench vectors`: the vector store alone at a million points, embedded or on a Qdrant
//! server or cluster, through the same [`VectorStore`] interface the service uses.
//!
//! The points are built like `shirabe-bench corpus` builds its passages: the unique passages of an
//! evaluation set are embedded once (through the shared embedding cache) and replicated until
//! there are `--points` of them, every replica perturbed a little and re-normalised. Payloads
//! spread over four document types, three clearance levels and two groups, so the restrictive
//! filter (one type, clearance 2, group g1) keeps about one point in eight. Questions are the
//! evaluation set's queries, embedded as the service embeds them.
//!
//! Reported: upsert throughput, the time until the store's index is built, search latency
//! percentiles with the restrictive and the open filter, recall@10 of the restrictive filter
//! against an exact scan (which regenerates the points chunk by chunk rather than holding them),
//! and the resident memory of this process and of the Qdrant nodes named with `--pid`.
//!
//! Recall is given twice. By point: which ten points the exact scan ranks first. Each passage has
//! hundreds of near-copies at a million points, and which copies come first is decided by the
//! perturbation, so an approximate index scores low here even when it finds the right passages.
//! By passage: the distinct source passages of the exact top ten that the hits also contain
//! (any copy), which is what a search over real documents would notice.

use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashSet};
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, ensure, Context, Result};
use serde_json::json;
use shirabe_engine::config::Config;
use shirabe_engine::index::embed::Embedder;
use shirabe_engine::index::embedding_text;
use shirabe_engine::index::vector::{EmbeddedStore, PassagePayload, VectorFilter, VectorPoint, VectorStore};

use crate::{corpus, util};

const DOC_TYPES: [&str; 4] = ["通知", "告示", "法令", "白書"];
/// Points per upsert call (the server store splits further into its own requests).
const BATCH: usize = 4096;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum StoreKind {
    /// Qdrant's engine in this process (qdrant-edge), in `--dir`.
    Embedded,
    /// A Qdrant server or cluster at `--url` (gRPC).
    Qdrant,
}

#[derive(Debug, Clone, clap::Args)]
pub struct VectorsArgs {
    /// Points to load.
    #[arg(long, default_value_t = 1_000_000)]
    pub points: usize,
    #[arg(long, value_enum, default_value = "embedded")]
    pub store: StoreKind,
    /// gRPC URL of the Qdrant server or cluster node (with `--store qdrant`).
    #[arg(long)]
    pub url: Option<String>,
    /// Collection on the server; an existing one of that name is deleted first.
    #[arg(long, default_value = "shirabe_bench_vectors")]
    pub collection: String,
    /// Shards of the server collection.
    #[arg(long, default_value_t = 3)]
    pub shards: u32,
    /// Replication factor of the server collection.
    #[arg(long, default_value_t = 2)]
    pub replication: u32,
    /// Working directory: the embedded store (replaced on every run) and the embedding cache.
    #[arg(long, default_value = "target/shirabe-bench-vectors")]
    pub dir: PathBuf,
    /// Embedding cache file; default `<dir>/../shirabe-bench-embeddings.bin`.
    #[arg(long)]
    pub embedding_cache: Option<PathBuf>,
    #[arg(long, default_value = "../shared/eval/jsquad/docs.jsonl")]
    pub docs: PathBuf,
    #[arg(long, default_value = "../shared/eval/jsquad/queries.jsonl")]
    pub queries: PathBuf,
    /// Timed searches per filter.
    #[arg(long, default_value_t = 200)]
    pub searches: usize,
    /// Searches whose recall@10 is checked against an exact scan.
    #[arg(long, default_value_t = 30)]
    pub recall_queries: usize,
    /// Standard deviation per component of the replica perturbation.
    #[arg(long, default_value_t = 0.005)]
    pub perturb: f32,
    /// Process ids whose resident memory is reported (the Qdrant nodes).
    #[arg(long = "pid")]
    pub pids: Vec<u32>,
    /// Keep the collection (or the embedded store) after the run.
    #[arg(long)]
    pub keep: bool,
}

pub fn run(config: &Config, args: &VectorsArgs) -> Result<()> {
    ensure!(args.points > 0, "--points must be positive");
    std::fs::create_dir_all(&args.dir).with_context(|| format!("creating {}", args.dir.display()))?;
    let docs = std::fs::canonicalize(&args.docs).with_context(|| format!("source documents {}", args.docs.display()))?;
    let base = corpus::base_documents(&docs, 0, config.indexer.passage_chars)?;
    let texts: Vec<String> = base.iter().flat_map(|(d, ps)| ps.iter().map(move |p| embedding_text(d, p))).collect();
    let cache = args.embedding_cache.clone().unwrap_or_else(|| corpus::default_cache(&args.dir));
    let (unique, _) = corpus::embed_cached(config, &cache, &texts)?;
    let questions = embed_questions(config, args)?;
    let source = Points { unique, perturb: args.perturb };

    let rss_before = util::rss_of(std::process::id()).1;
    let (store, label) = open_store(args)?;
    let started = Instant::now();
    let mut next = 0;
    while next < args.points {
        let end = (next + BATCH).min(args.points);
        store.upsert(&source.range(next, end))?;
        next = end;
        if next % (BATCH * 25) == 0 {
            eprintln!("vectors: {next} / {} points ({:.0} s)", args.points, started.elapsed().as_secs_f64());
        }
    }
    store.flush()?;
    let upsert_seconds = started.elapsed().as_secs_f64();
    eprintln!("vectors: {} points in {upsert_seconds:.0} s; waiting for the index…", args.points);
    let t = Instant::now();
    store.optimize()?;
    let optimize_seconds = t.elapsed().as_secs_f64();
    let count = store.count()?;
    ensure!(count as usize == args.points, "the store holds {count} points, expected {}", args.points);

    let restrictive = restrictive_filter();
    let open = VectorFilter { max_level: 3, groups: vec!["g1".into(), "g2".into()], ..VectorFilter::default() };
    for q in questions.iter().take(10) {
        store.search(q, &restrictive, 10)?;
    }
    let (filtered, filtered_hits) = timed(store.as_ref(), &questions, &restrictive, args.searches)?;
    let (open_lat, _) = timed(store.as_ref(), &questions, &open, args.searches)?;
    let memory = memory_figures(args, rss_before);
    let t = Instant::now();
    let (recall, recall_passages) = recall_at_10(&source, args.points, &questions, &filtered_hits, &restrictive, args.recall_queries);
    let recall_seconds = t.elapsed().as_secs_f64();

    if !args.keep {
        close_store(store, args)?;
    }
    util::emit(&json!({
        "bench": "vectors", "store": label, "points": args.points, "unique_vectors": source.unique.len(),
        "upsert_points_per_second": util::round2(args.points as f64 / upsert_seconds.max(1e-9)),
        "upsert_seconds": util::round2(upsert_seconds), "index_build_seconds": util::round2(optimize_seconds),
        "filtered_search": filtered, "open_search": open_lat,
        "filtered_share": "about 1 in 8 points (通知, clearance 2, group g1 or none)",
        "filtered_recall_at_10_points": util::round2(recall),
        "filtered_recall_at_10_passages": util::round2(recall_passages), "recall_queries": args.recall_queries.min(questions.len()),
        "recall_scan_seconds": util::round2(recall_seconds),
        "memory": memory, "loadavg": util::loadavg(),
    }));
    Ok(())
}

/// The replicated points, generated on demand so a million of them never sit in memory twice.
struct Points {
    unique: Vec<Vec<f32>>,
    perturb: f32,
}

impl Points {
    fn point(&self, k: usize) -> VectorPoint {
        let doc = k / 10;
        let passage_id = format!("v{doc:07}-{}", k % 10);
        let mut vector = self.unique[k % self.unique.len()].clone();
        if k >= self.unique.len() && self.perturb > 0.0 {
            corpus::perturb(&mut vector, &passage_id, self.perturb);
        }
        let groups = match (doc / 12) % 4 {
            2 => vec!["g1".to_string()],
            3 => vec!["g2".to_string()],
            _ => Vec::new(),
        };
        VectorPoint {
            payload: PassagePayload {
                passage_id,
                doc_id: format!("v{doc:07}"),
                doc_type: DOC_TYPES[doc % 4].to_string(),
                issuer: None,
                issued: None,
                level: 1 + ((doc / 4) % 3) as u8,
                groups,
            },
            vector,
        }
    }

    /// The unique passage point `k` is a copy of.
    fn source_of(&self, k: usize) -> usize {
        k % self.unique.len()
    }

    /// The point number of a passage id `vDDDDDDD-P` (inverse of the naming in `point`).
    fn index_of(&self, passage_id: &str) -> Option<usize> {
        let (doc, part) = passage_id.strip_prefix('v')?.split_once('-')?;
        Some(doc.parse::<usize>().ok()? * 10 + part.parse::<usize>().ok()?)
    }

    fn range(&self, from: usize, to: usize) -> Vec<VectorPoint> {
        (from..to).map(|k| self.point(k)).collect()
    }
}

fn restrictive_filter() -> VectorFilter {
    VectorFilter { doc_types: vec!["通知".into()], max_level: 2, groups: vec!["g1".into()], ..VectorFilter::default() }
}

fn allows(f: &VectorFilter, p: &PassagePayload) -> bool {
    (f.doc_types.is_empty() || f.doc_types.contains(&p.doc_type))
        && p.level <= f.max_level
        && (p.groups.is_empty() || p.groups.iter().any(|g| f.groups.contains(g)))
}

fn embed_questions(config: &Config, args: &VectorsArgs) -> Result<Vec<Vec<f32>>> {
    let questions = util::load_queries(&args.queries, args.searches.max(args.recall_queries))?;
    ensure!(!questions.is_empty(), "{} holds no queries", args.queries.display());
    let embedder = Embedder::from_config(config)?;
    let vectors = questions.iter().map(|q| embedder.embed_query(q, "")).collect::<Result<Vec<_>, _>>()?;
    drop(embedder);
    shirabe_engine::index::embed::release_freed_memory();
    Ok(vectors)
}

fn open_store(args: &VectorsArgs) -> Result<(Box<dyn VectorStore>, String)> {
    match args.store {
        StoreKind::Embedded => {
            let dir = args.dir.join("vectors");
            if dir.exists() {
                std::fs::remove_dir_all(&dir).with_context(|| format!("removing {}", dir.display()))?;
            }
            Ok((Box::new(EmbeddedStore::open_or_create(&dir)?), "embedded (qdrant-edge, in process)".into()))
        }
        StoreKind::Qdrant => {
            let Some(url) = &args.url else { bail!("--store qdrant needs --url (the gRPC address of a node)") };
            let layout = layout(args);
            // Start from an empty collection of the asked layout.
            shirabe_engine::index::vector::ServerStore::connect(url, &args.collection, None, layout)?.delete_collection()?;
            let store = shirabe_engine::index::vector::ServerStore::connect(url, &args.collection, None, layout)?;
            let label = format!("Qdrant {} at {url}, {} shards × {} replicas", store.server_version(), args.shards, args.replication);
            Ok((Box::new(store), label))
        }
    }
}

/// The server collection's layout from `--shards` and `--replication`.
fn layout(args: &VectorsArgs) -> shirabe_engine::index::vector::CollectionLayout {
    shirabe_engine::index::vector::CollectionLayout { shards: args.shards, replication: args.replication }
}

fn close_store(store: Box<dyn VectorStore>, args: &VectorsArgs) -> Result<()> {
    drop(store);
    match args.store {
        StoreKind::Embedded => std::fs::remove_dir_all(args.dir.join("vectors")).context("removing the embedded store"),
        StoreKind::Qdrant => {
            let layout = layout(args);
            let url = args.url.as_deref().unwrap_or_default();
            shirabe_engine::index::vector::ServerStore::connect(url, &args.collection, None, layout)?.delete_collection()?;
            Ok(())
        }
    }
}

/// Latency percentiles of `n` searches (cycling through the questions) and the hits of each.
fn timed(store: &dyn VectorStore, questions: &[Vec<f32>], filter: &VectorFilter, n: usize) -> Result<(util::Percentiles, Vec<Vec<String>>)> {
    let mut ms = Vec::with_capacity(n);
    let mut hits = Vec::with_capacity(n);
    for i in 0..n {
        let q = &questions[i % questions.len()];
        let t = Instant::now();
        let found = store.search(q, filter, 10)?;
        ms.push(t.elapsed().as_secs_f64() * 1000.0);
        hits.push(found.into_iter().map(|h| h.passage_id).collect());
    }
    Ok((util::Percentiles::of(ms), hits))
}

#[derive(PartialEq)]
struct Scored(f32, usize);
impl Eq for Scored {}
impl PartialOrd for Scored {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Scored {
    // Reversed, so the binary heap's top is the worst of the kept ten.
    fn cmp(&self, other: &Self) -> Ordering {
        other.0.total_cmp(&self.0)
    }
}

/// Recall@10 of the stores' filtered hits for the first `n` questions against an exact scan: by
/// point and by source passage (see the module docs).
fn recall_at_10(source: &Points, points: usize, questions: &[Vec<f32>], hits: &[Vec<String>], filter: &VectorFilter, n: usize) -> (f64, f64) {
    let n = n.min(questions.len()).min(hits.len());
    if n == 0 {
        return (0.0, 0.0);
    }
    let mut heaps: Vec<BinaryHeap<Scored>> = (0..n).map(|_| BinaryHeap::new()).collect();
    let mut from = 0;
    while from < points {
        let to = (from + BATCH).min(points);
        for (k, p) in (from..to).zip(source.range(from, to)) {
            if !allows(filter, &p.payload) {
                continue;
            }
            for (q, heap) in questions.iter().zip(heaps.iter_mut()) {
                let s: f32 = q.iter().zip(&p.vector).map(|(a, b)| a * b).sum();
                if heap.len() < 10 {
                    heap.push(Scored(s, k));
                } else if heap.peek().is_some_and(|w| s > w.0) {
                    heap.pop();
                    heap.push(Scored(s, k));
                }
            }
        }
        from = to;
    }
    let (mut by_point, mut by_passage) = (0.0, 0.0);
    for (heap, found) in heaps.into_iter().zip(hits) {
        let exact: Vec<usize> = heap.into_iter().map(|s| s.1).collect();
        let exact_ids: HashSet<String> = exact.iter().map(|&k| source.point(k).payload.passage_id).collect();
        by_point += found.iter().filter(|id| exact_ids.contains(*id)).count() as f64 / exact_ids.len().max(1) as f64;
        let exact_sources: HashSet<usize> = exact.iter().map(|&k| source.source_of(k)).collect();
        let found_sources: HashSet<usize> = found.iter().filter_map(|id| source.index_of(id)).map(|k| source.source_of(k)).collect();
        by_passage += exact_sources.intersection(&found_sources).count() as f64 / exact_sources.len().max(1) as f64;
    }
    (by_point / n as f64, by_passage / n as f64)
}

fn memory_figures(args: &VectorsArgs, rss_before: Option<f64>) -> serde_json::Value {
    let (peak, now) = util::rss_of(std::process::id());
    let nodes: Vec<serde_json::Value> = args
        .pids
        .iter()
        .map(|&pid| {
            let (peak, now) = util::rss_of(pid);
            json!({"pid": pid, "rss_mib": now, "peak_rss_mib": peak})
        })
        .collect();
    json!({
        "this_process": {"rss_mib": now, "peak_rss_mib": peak, "rss_before_store_mib": rss_before},
        "qdrant_nodes": nodes,
    })
}
