//! `shirabe-bench`: the benchmark suite (issue 8 item 1, issue 5's latency target, issue 4's
//! indexing throughput). Every result is one JSON line on stdout carrying the load average,
//! because the development machine has two cores that other work shares. See docs/benchmarks.md.

mod corpus;
mod embed;
mod http;
mod indexing;
mod query;
mod util;
mod vectors;

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Result;
use clap::{Parser, Subcommand};
use shirabe_engine::config::Config;

/// Benchmarks of shirabe: replicated corpora, query latency (library and HTTP), embedding and
/// indexing throughput, peak memory.
#[derive(Parser)]
#[command(version)]
struct Cli {
    /// Configuration file (TOML); the model, dictionary and ONNX Runtime come from its data
    /// directory (SHIRABE_DATA_DIR, default .data).
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    /// Data directory holding the model, dictionary and ONNX Runtime (overrides the configuration).
    #[arg(long, global = true)]
    data_dir: Option<PathBuf>,
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Build (or load, if present and valid) a replicated corpus in the production index format.
    Corpus(corpus::CorpusArgs),
    /// Library-call latency (Retriever, embedding included) per mode, with a stage breakdown.
    Query(query::QueryArgs),
    /// HTTP latency and throughput of POST /api/search with concurrent clients; service memory.
    Http(http::HttpArgs),
    /// The vector store alone at a million points, embedded or on a Qdrant server/cluster:
    /// upsert throughput, index build, filtered search latency and recall, memory per process.
    Vectors(vectors::VectorsArgs),
    /// Embedding throughput: shirabe's embedder (fastembed) against raw ONNX Runtime.
    Embed(embed::EmbedArgs),
    /// Indexing throughput and memory of shirabe-indexer: a fresh run, then a nothing-changed rerun.
    Index(indexing::IndexArgs),
    /// Summarise an existing shirabe-indexer report (e.g. from a run made by hand).
    IndexReport {
        /// The report JSON (`shirabe-indexer --report FILE`).
        report: PathBuf,
        /// Wall time of that run in seconds, if measured.
        #[arg(long, default_value_t = 0.0)]
        wall: f64,
        /// Label of the run.
        #[arg(long, default_value = "fresh")]
        run: String,
    },
    /// Resident memory of the parts the service loads, in its order: the bare process, the
    /// dictionary (both analysers), the embedding model (ONNX Runtime session and tokenizer), one
    /// question embedded. `--split` instead loads the embedder's two parts alone with the raw
    /// crates (the tokenizer, then the ONNX Runtime session) to show which holds what.
    Memory {
        #[arg(long)]
        split: bool,
    },
    /// The fast variant for CI (< 2 minutes): a 2k-passage corpus, query latency, HTTP with 1 and
    /// 8 clients, and the embedding comparison, all small.
    Quick {
        /// Working directory (the corpus and the embedding cache go here).
        #[arg(long, default_value = "target/shirabe-bench-quick")]
        out: PathBuf,
        #[arg(long, default_value = "../shared/eval/jsquad/docs.jsonl")]
        docs: PathBuf,
        #[arg(long, default_value = "../shared/eval/jsquad/queries.jsonl")]
        queries: PathBuf,
    },
}

fn main() {
    if let Err(err) = real_main() {
        eprintln!("error: {err:#}");
        std::process::exit(1);
    }
}

fn real_main() -> Result<()> {
    let cli = Cli::parse();
    let mut config = Config::load(cli.config.as_deref())?;
    if let Some(dir) = &cli.data_dir {
        config.data_dir = dir.clone();
    }
    // Absolute paths, so that the corpus's symlinks and child processes find the same files.
    if let Ok(abs) = std::fs::canonicalize(&config.data_dir) {
        config.data_dir = abs;
    }
    match cli.command {
        Cmd::Corpus(args) => corpus::run(&config, &args).map(drop),
        Cmd::Query(args) => query::run(&config, &args),
        Cmd::Http(args) => http::run(&args),
        Cmd::Embed(args) => embed::run(&config, &args),
        Cmd::Vectors(args) => vectors::run(&config, &args),
        Cmd::Index(args) => indexing::run(&config, &args),
        Cmd::IndexReport { report, wall, run } => {
            let r: serde_json::Value = serde_json::from_slice(&std::fs::read(&report)?)?;
            util::emit(&indexing::summary(&run, &r, wall, &report));
            Ok(())
        }
        Cmd::Quick { out, docs, queries } => quick(&config, out, docs, queries),
        Cmd::Memory { split } => memory(&config, split),
    }
}

/// One JSON line per loading step with the process's resident memory after it.
fn memory(config: &Config, split: bool) -> Result<()> {
    let step = |name: &str| {
        let (peak, now) = util::rss_of(std::process::id());
        util::emit(&serde_json::json!({"step": name, "rss_mib": now, "peak_rss_mib": peak, "loadavg": util::loadavg()}));
    };
    step("process");
    if split {
        let tokenizer = embed::load_tokenizer(&config.model_dir())?;
        step("tokenizer alone (tokenizers crate)");
        let session = embed::load_session(&config.model_dir(), &config.ort_library(), config.embedding.threads)?;
        step("ONNX Runtime session alone (ort crate)");
        drop((tokenizer, session));
        return Ok(());
    }
    let analyzers = shirabe_engine::text::analysis::Analyzers::load(&config.dict_dir())?;
    step("dictionary");
    let embedder = shirabe_engine::index::embed::Embedder::from_config(config)?;
    step("embedding model");
    embedder.embed_query("住民票の写しの交付手数料はいくらですか", "")?;
    step("one question embedded");
    drop((analyzers, embedder));
    Ok(())
}

fn quick(config: &Config, out: PathBuf, docs: PathBuf, queries: PathBuf) -> Result<()> {
    let started = Instant::now();
    let dir = out.join("corpus-2k");
    corpus::run(
        config,
        &corpus::CorpusArgs {
            passages: 2000,
            out: dir.clone(),
            docs: docs.clone(),
            unique_docs: 60,
            perturb: 0.005,
            embedding_cache: Some(out.join("embeddings.bin")),
            rebuild: false,
        },
    )?;
    query::run(
        config,
        &query::QueryArgs {
            index: dir.clone(),
            queries: queries.clone(),
            n: 60,
            warmup: 5,
            limit: 10,
            modes: "hybrid,keyword,vector,stages".into(),
        },
    )?;
    http::run(&http::HttpArgs {
        index: Some(dir),
        url: None,
        pid: None,
        token: corpus::BENCH_TOKEN.into(),
        shirabe_bin: None,
        clients: "1,8".into(),
        duration: 4.0,
        queries: queries.clone(),
        size: 10,
        warmup: 3,
        busy_backoff_ms: 100,
    })?;
    embed::run(
        config,
        &embed::EmbedArgs {
            docs,
            texts: 16,
            batch: None,
            passage_chars: None,
            min_chars: 0,
            threads: None,
            queries,
            query_n: 20,
            rounds: 1,
            engine: None,
            result: None,
        },
    )?;
    util::emit(&serde_json::json!({ "bench": "quick", "seconds": util::round2(started.elapsed().as_secs_f64()), "loadavg": util::loadavg() }));
    Ok(())
}
