//! `shirabe-bench query`: latency of the library call (the Retriever, query embedding included)
//! on a benchmark corpus, per mode, plus a per-stage breakdown of the hybrid search.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Result};
use serde_json::json;
use shirabe_engine::config::Config;
use shirabe_engine::engine::Engine;
use shirabe_engine::index::embed::Embedder;
use shirabe_engine::model::Filter;
use shirabe_engine::retrieve::query::QueryExpander;
use shirabe_engine::retrieve::search::{vector_filter, Mode, Retriever};

use crate::util::{self, Percentiles};

#[derive(Debug, Clone, clap::Args)]
pub struct QueryArgs {
    /// Corpus directory written by `shirabe-bench corpus` (or any data directory with an index).
    #[arg(long)]
    pub index: PathBuf,
    /// Queries (JSONL with `text`).
    #[arg(long, default_value = "../shared/eval/jsquad/queries.jsonl")]
    pub queries: PathBuf,
    /// Measured queries per mode (the file is cycled if it has fewer).
    #[arg(long, default_value_t = 500)]
    pub n: usize,
    /// Unmeasured queries first (page cache, allocator, ONNX Runtime warm-up).
    #[arg(long, default_value_t = 20)]
    pub warmup: usize,
    /// Passages returned per search.
    #[arg(long, default_value_t = 10)]
    pub limit: usize,
    /// Comma-separated: hybrid, keyword, vector, documents (the /api/search work: hybrid,
    /// 100 candidates, grouped per document with snippets), stages (hybrid broken into stages),
    /// precedents (the /api/precedents work: exchanges ranked, grouped and outlined; needs an
    /// index of minutes, e.g. the one `shirabe eval-precedents` keeps).
    #[arg(long, default_value = "hybrid,keyword,vector,documents,stages")]
    pub modes: String,
}

pub fn run(config: &Config, args: &QueryArgs) -> Result<()> {
    let mut engine = Engine::load(config.clone())?;
    engine.expander = QueryExpander::builtin();
    let embedder = &*engine.embedder;
    let t = Instant::now();
    let gen = crate::corpus::open(&args.index, &engine.analyzers)?;
    let open_seconds = t.elapsed().as_secs_f64();
    let passages = gen.num_passages();
    let retriever = engine.retriever("");
    let filter = Filter::unrestricted();
    let queries = util::load_queries(&args.queries, args.n + args.warmup)?;
    let (warm, measured) = queries.split_at(args.warmup.min(queries.len()));
    let meta = std::fs::read_to_string(args.index.join("bench-corpus.json"))
        .ok()
        .and_then(|s| serde_json::from_str::<serde_json::Value>(&s).ok())
        .and_then(|m| m.get("replication").cloned());
    let threads = if config.embedding.threads == 0 { util::cpus() } else { config.embedding.threads };
    eprintln!("query: {passages} passages, opened in {open_seconds:.1} s; {} queries per mode", measured.len());

    for mode in args.modes.split(',').map(str::trim).filter(|m| !m.is_empty()) {
        // Every mode measures cold queries: the embedder's query cache would otherwise serve
        // the vectors the previous mode computed for the same questions.
        embedder.clear_cache();
        type SearchFn<'a> = Box<dyn Fn(&str) -> Result<()> + 'a>;
        let (label, run): (&str, SearchFn<'_>) = match mode {
            "hybrid" | "keyword" | "vector" => {
                let m = match mode {
                    "hybrid" => Mode::Hybrid,
                    "keyword" => Mode::Keyword,
                    _ => Mode::Vector,
                };
                let (gen, retriever, filter) = (&gen, &retriever, &filter);
                (mode, Box::new(move |q: &str| retriever.passages(gen, q, filter, m, args.limit).map(drop).map_err(Into::into)))
            }
            "documents" => {
                let (gen, engine, filter) = (&gen, &engine, &filter);
                ("hybrid_documents", Box::new(move |q: &str| engine.search(gen, q, filter, Mode::Hybrid, None, "").map(drop).map_err(Into::into)))
            }
            "precedents" => {
                let (gen, engine, filter) = (&gen, &engine, &filter);
                let limit = args.limit;
                ("precedents", Box::new(move |q: &str| {
                    let query = shirabe_engine::precedent::rank::PrecedentQuery { question: q, filter: filter.clone(), positions: Vec::new(), mode: Mode::Hybrid, limit };
                    engine.precedents(gen, &query, "").map(drop).map_err(Into::into)
                }))
            }
            "stages" => {
                stages(&gen, &retriever, embedder, config, warm, measured, args.limit)?;
                continue;
            }
            other => bail!("unknown mode {other:?}"),
        };
        for q in warm {
            run(q)?;
        }
        let mut ms = Vec::with_capacity(measured.len());
        let mut cpu = Vec::with_capacity(measured.len());
        let started = Instant::now();
        for q in measured {
            let c = util::thread_cpu_ms();
            let t = Instant::now();
            run(q)?;
            ms.push(t.elapsed().as_secs_f64() * 1000.0);
            cpu.push(util::thread_cpu_ms() - c);
        }
        let qps = measured.len() as f64 / started.elapsed().as_secs_f64();
        util::emit(&json!({
            "bench": "query", "mode": label, "passages": passages, "limit": args.limit,
            "latency": Percentiles::of(ms), "calling_thread_cpu": Percentiles::of(cpu), "queries_per_second": util::round2(qps),
            "target": if label == "hybrid" { json!({"p50_ms": 30, "p95_ms": 80}) } else { json!(null) },
            "embedding_threads": threads, "peak_rss_mib": util::peak_rss_mib(), "loadavg": util::loadavg(),
            "replication": meta,
        }));
    }
    Ok(())
}

/// The hybrid search's stages timed one by one on the same queries: query expansion and
/// analysis, BM25 top-k, query embedding, HNSW top-k, and fetching the passages with snippets.
fn stages(
    gen: &shirabe_engine::index::Generation,
    retriever: &Retriever<'_>,
    embedder: &Embedder,
    config: &Config,
    warm: &[String],
    measured: &[String],
    limit: usize,
) -> Result<()> {
    let filter = Filter::unrestricted();
    let vfilter = vector_filter(&filter);
    let k = config.search.candidates.max(limit);
    let mut times: [Vec<f64>; 5] = Default::default();
    for (i, q) in warm.iter().chain(measured).enumerate() {
        let t = Instant::now();
        let prepared = retriever.prepare(q);
        let t_prepare = t.elapsed();
        let t = Instant::now();
        let kw = gen.keyword.search(&prepared, &filter, k)?;
        let t_keyword = t.elapsed();
        let t = Instant::now();
        let v = embedder.embed_query(&prepared.text, "")?;
        let t_embed = t.elapsed();
        let t = Instant::now();
        let vh = gen.vectors.search(&v, &vfilter, k)?;
        let t_vector = t.elapsed();
        let t = Instant::now();
        let mut ids: Vec<String> = kw.iter().take(limit / 2 + 1).map(|h| h.passage_id.clone()).collect();
        ids.extend(vh.iter().take(limit).map(|h| h.passage_id.clone()));
        ids.dedup();
        ids.truncate(limit);
        let ps = gen.keyword.passages(&ids, &filter)?;
        for p in &ps {
            std::hint::black_box(shirabe_engine::retrieve::search::snippet(&p.text, &prepared.ja_tokens, 160));
        }
        let t_fetch = t.elapsed();
        if i >= warm.len() {
            for (slot, d) in times.iter_mut().zip([t_prepare, t_keyword, t_embed, t_vector, t_fetch]) {
                slot.push(d.as_secs_f64() * 1000.0);
            }
        }
    }
    let names = ["prepare (expansion + analysis)", "keyword top-k (tantivy BM25)", "query embedding (E5, fastembed)", "vector top-k (qdrant-edge HNSW)", "fetch passages + snippets"];
    let mut stages = serde_json::Map::new();
    for (name, ms) in names.iter().zip(times) {
        stages.insert(name.to_string(), serde_json::to_value(Percentiles::of(ms))?);
    }
    util::emit(&json!({
        "bench": "query", "mode": "hybrid_stages", "passages": gen.num_passages(), "candidates": k,
        "stages": stages, "peak_rss_mib": util::peak_rss_mib(), "loadavg": util::loadavg(),
    }));
    Ok(())
}
