//! `shirabe-bench corpus`: a replicated benchmark corpus in the production index format.
//!
//! Embedding runs at a few passages per second on the 2-core machine, so a 100k-passage corpus
//! cannot embed 100k texts. Instead the unique passages of an evaluation set (JSQuAD by default)
//! are chunked with the production chunker, embedded once each (cached on disk by the sha256 of
//! the exact embedding text), and replicated as documents with distinct ids
//! (`<id>` for replica 0, `<id>~rNNNN` after that) until the corpus has the requested number of
//! passages. Identical vectors would give the HNSW graph thousands of exact ties, which real data
//! never has, so every replica after the first gets a small deterministic Gaussian perturbation
//! (σ per component, seeded by the passage id) and is re-normalised; the keyword side stores the
//! replicas verbatim (BM25 posting lists grow exactly as with real duplicates).
//!
//! The output directory is a data directory that `shirabe serve --data-dir DIR` serves as is:
//! `index/CURRENT` naming `index/gen-000001` (`keyword/`, `vectors/`, `state.json`), symlinks
//! to the dictionary, model and ONNX Runtime of the source data directory, and a `users.toml`
//! with the benchmark token. `bench-corpus.json` records the parameters; a rerun with the same
//! parameters loads the corpus instead of building it again.

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, ensure, Context, Result};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};
use shirabe_engine::config::Config;
use shirabe_engine::eval::EvalDoc;
use shirabe_engine::index::embed::{Embedder, DIM};
use shirabe_engine::index::{embedding_text, Generation, GenerationBuilder, IndexDir, State};
use shirabe_engine::model::{Document, Passage};
use shirabe_engine::text::analysis::Analyzers;

use rand::SeedableRng;
use rand_distr::Distribution;

use crate::util;

/// The bearer token of the benchmark user (clearance 3, no groups) in `users.toml`.
pub const BENCH_TOKEN: &str = "shirabe-bench-token";
const META: &str = "bench-corpus.json";

#[derive(Debug, Clone, clap::Args)]
pub struct CorpusArgs {
    /// Passages in the corpus.
    #[arg(long, default_value_t = 100_000)]
    pub passages: usize,
    /// Output directory (a data directory `shirabe serve --data-dir` can serve).
    #[arg(long)]
    pub out: PathBuf,
    /// Source documents (docs.jsonl with `id`, `title`, `text`).
    #[arg(long, default_value = "../shared/eval/jsquad/docs.jsonl")]
    pub docs: PathBuf,
    /// Use only the first N source documents as unique texts (0 = all).
    #[arg(long, default_value_t = 0)]
    pub unique_docs: usize,
    /// Standard deviation per component of the replica perturbation (0 = exact copies).
    #[arg(long, default_value_t = 0.005)]
    pub perturb: f32,
    /// Embedding cache file (sha256 of the embedding text → vector); default
    /// `<out>/../shirabe-bench-embeddings.bin`, shared by corpora built side by side.
    #[arg(long)]
    pub embedding_cache: Option<PathBuf>,
    /// Rebuild even if a valid corpus with these parameters exists.
    #[arg(long)]
    pub rebuild: bool,
}

/// What `bench-corpus.json` records.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Meta {
    pub passages: usize,
    pub docs: String,
    pub unique_docs: usize,
    pub perturb: f32,
    pub passage_chars: usize,
    pub unique_passages: usize,
    pub documents: usize,
    pub replication: String,
    pub build: serde_json::Value,
}

/// Builds the corpus, or loads it when `out` already holds one with the same parameters.
/// Returns the metadata.
pub fn run(config: &Config, args: &CorpusArgs) -> Result<Meta> {
    let docs_abs = fs::canonicalize(&args.docs).with_context(|| format!("source documents {}", args.docs.display()))?;
    if !args.rebuild {
        if let Some(meta) = existing(args, &docs_abs, config.indexer.passage_chars) {
            let t = Instant::now();
            let analyzers = Analyzers::load(&config.dict_dir())?;
            let gen = open(&args.out, &analyzers)?;
            let (kw, vec) = (gen.num_passages(), gen.vectors.count()?);
            ensure!(kw as usize == meta.passages && vec as usize == meta.passages, "{} is damaged: keyword {kw} / vector {vec} passages, expected {}; rerun with --rebuild", args.out.display(), meta.passages);
            util::emit(&json!({
                "bench": "corpus", "action": "loaded", "dir": args.out, "passages": meta.passages,
                "documents": meta.documents, "unique_passages": meta.unique_passages,
                "replication": meta.replication, "open_seconds": util::round2(t.elapsed().as_secs_f64()),
                "peak_rss_mib": util::peak_rss_mib(), "loadavg": util::loadavg(), "build": meta.build,
            }));
            return Ok(meta);
        }
    }
    build(config, args, &docs_abs)
}

fn existing(args: &CorpusArgs, docs_abs: &Path, passage_chars: usize) -> Option<Meta> {
    let meta: Meta = serde_json::from_slice(&fs::read(args.out.join(META)).ok()?).ok()?;
    let same = meta.passages == args.passages
        && meta.docs == docs_abs.display().to_string()
        && meta.unique_docs == args.unique_docs
        && meta.perturb == args.perturb
        && meta.passage_chars == passage_chars;
    (same && args.out.join("index").join("CURRENT").is_file()).then_some(meta)
}

/// Opens the corpus the way the service does.
pub fn open(dir: &Path, analyzers: &Analyzers) -> Result<Generation> {
    // A benchmark corpus holds its index in `index/`; an index directory itself (the one
    // `shirabe eval-precedents` keeps) has its CURRENT pointer at the top.
    let index_dir = dir.join("CURRENT").exists().then(|| dir.to_path_buf());
    let config = Config { data_dir: dir.to_path_buf(), index_dir, ..Config::default() };
    Generation::open_current(&config, analyzers)?.with_context(|| format!("{} holds no index generation", dir.display()))
}

fn build(config: &Config, args: &CorpusArgs, docs_abs: &Path) -> Result<Meta> {
    ensure!(args.passages > 0, "--passages must be positive");
    let out = &args.out;
    if out.exists() {
        let marker = out.join(META).exists() || out.join(".bench-building").exists();
        let empty = fs::read_dir(out)?.next().is_none();
        if !marker && !empty {
            bail!("{} exists and is not a benchmark corpus; refusing to overwrite it", out.display());
        }
        for sub in ["index", "audit", META] {
            let p = out.join(sub);
            if p.is_dir() {
                fs::remove_dir_all(&p)?;
            } else if p.exists() {
                fs::remove_file(&p)?;
            }
        }
    }
    fs::create_dir_all(out)?;
    fs::write(out.join(".bench-building"), b"")?;
    let started = Instant::now();
    let analyzers = Analyzers::load(&config.dict_dir())?;
    let passage_chars = config.indexer.passage_chars;

    let base = base_documents(docs_abs, args.unique_docs, passage_chars)?;
    let unique_passages: usize = base.iter().map(|(_, p)| p.len()).sum();

    // Embeddings of the unique passages, through the cache.
    let t = Instant::now();
    let cache_path = args.embedding_cache.clone().unwrap_or_else(|| default_cache(out));
    let texts: Vec<String> = base.iter().flat_map(|(d, ps)| ps.iter().map(move |p| embedding_text(d, p))).collect();
    let (vectors, embedded_now) = embed_cached(config, &cache_path, &texts)?;
    let embed_seconds = t.elapsed().as_secs_f64();

    // Replicate into the generation, through the indexer's own generation builder.
    let mut gen_config = config.clone();
    gen_config.index_dir = Some(out.join("index"));
    gen_config.vector.backend = shirabe_engine::config::VectorBackend::Embedded;
    let index_dir = IndexDir::new(out.join("index"));
    let mut builder = GenerationBuilder::begin(&index_dir, &gen_config, &analyzers)?;
    let mut documents: BTreeMap<String, Document> = BTreeMap::new();
    let mut batch: Vec<(Document, Vec<Passage>)> = Vec::new();
    let mut batch_vectors: Vec<Vec<f32>> = Vec::with_capacity(4096);
    let mut total = 0usize;
    let mut replica = 0usize;
    'outer: loop {
        let mut vi = 0usize;
        for (doc, passages) in &base {
            let id = if replica == 0 { doc.id.clone() } else { format!("{}~r{replica:04}", doc.id) };
            let mut d = doc.clone();
            d.id = id.clone();
            if replica > 0 {
                d.source_path = format!("bench/{}~r{replica:04}", doc.id);
            }
            let take = passages.len().min(args.passages - total);
            let ps: Vec<Passage> = passages[..take]
                .iter()
                .map(|p| {
                    let mut p = p.clone();
                    p.id = format!("{id}{}", &p.id[doc.id.len()..]);
                    p.doc_id = id.clone();
                    p
                })
                .collect();
            for (k, p) in ps.iter().enumerate() {
                let mut v = vectors[vi + k].clone();
                if replica > 0 && args.perturb > 0.0 {
                    perturb(&mut v, &p.id, args.perturb);
                }
                batch_vectors.push(v);
            }
            vi += passages.len();
            documents.insert(id, d.clone());
            batch.push((d, ps));
            if batch_vectors.len() >= 4096 {
                builder.add_embedded(&std::mem::take(&mut batch), std::mem::take(&mut batch_vectors))?;
            }
            total += take;
            if total >= args.passages {
                break 'outer;
            }
        }
        replica += 1;
        if replica.is_multiple_of(10) {
            eprintln!("corpus: {total} / {} passages written ({:.0} s)", args.passages, started.elapsed().as_secs_f64());
        }
    }
    builder.add_embedded(&batch, batch_vectors)?;
    eprintln!("corpus: building the HNSW index of {total} vectors (minutes at 100k)…");
    let optimize_seconds = builder.commit()?;
    let (keyword_seconds, upsert_seconds) = (builder.times.keyword, builder.times.vector_upsert);
    let state = State { files: BTreeMap::new(), documents, finished_at: Some(chrono::Utc::now().to_rfc3339()) };
    let n_docs = state.documents.len();
    builder.publish(&state, 1)?;
    drop(state);
    link_setup(config, out)?;
    fs::write(
        out.join("users.toml"),
        format!(
            "# Benchmark user (token {BENCH_TOKEN:?}); written by shirabe-bench corpus.\n[[user]]\nname = \"bench\"\ntoken_sha256 = \"{}\"\nclearance = 3\ngroups = []\n",
            shirabe_engine::govern::access::token_hash(BENCH_TOKEN)
        ),
    )?;
    let build_seconds = started.elapsed().as_secs_f64();
    let build_peak = util::peak_rss_mib();

    // Open it as the service would, and check the counts.
    let t = Instant::now();
    let gen = open(out, &analyzers)?;
    let (kw, vec) = (gen.num_passages() as usize, gen.vectors.count()? as usize);
    let open_seconds = t.elapsed().as_secs_f64();
    drop(gen);
    ensure!(kw == total && vec == total, "built corpus has keyword {kw} / vector {vec} passages, expected {total}");

    let replication = format!(
        "{unique_passages} unique JSQuAD-style passages ({} documents of {}) replicated to {total} passages with distinct ids; replica vectors perturbed (sigma {} per component) and re-normalised",
        base.len(),
        docs_abs.display(),
        args.perturb
    );
    let build_fig = json!({
        "seconds": util::round2(build_seconds),
        "embed_seconds": util::round2(embed_seconds), "embedded_now": embedded_now, "embedded_from_cache": texts.len() - embedded_now,
        "keyword_seconds": util::round2(keyword_seconds),
        "keyword_passages_per_second": util::round2(total as f64 / keyword_seconds.max(1e-9)),
        "vector_upsert_seconds": util::round2(upsert_seconds),
        "hnsw_optimize_seconds": util::round2(optimize_seconds),
        "open_seconds": util::round2(open_seconds),
        "peak_rss_mib": build_peak,
        "disk_mib": util::round2(dir_size(&out.join("index")) as f64 / 1048576.0),
        "loadavg": util::loadavg(),
        "finished_at": chrono::Utc::now().to_rfc3339(),
    });
    let meta = Meta {
        passages: total,
        docs: docs_abs.display().to_string(),
        unique_docs: args.unique_docs,
        perturb: args.perturb,
        passage_chars,
        unique_passages,
        documents: n_docs,
        replication: replication.clone(),
        build: build_fig.clone(),
    };
    fs::write(out.join(META), serde_json::to_vec_pretty(&meta)?)?;
    let _ = fs::remove_file(out.join(".bench-building"));
    util::emit(&json!({
        "bench": "corpus", "action": "built", "dir": out, "passages": total, "documents": n_docs,
        "unique_passages": unique_passages, "replication": replication, "build": build_fig,
    }));
    Ok(meta)
}

/// The unique documents of `docs` (the first `unique_docs`, 0 = all) and their passages, with
/// the production normalisation and chunker.
pub fn base_documents(docs: &Path, unique_docs: usize, passage_chars: usize) -> Result<Vec<(Document, Vec<Passage>)>> {
    let mut lines: Vec<EvalDoc> = util::read_jsonl(docs)?;
    if unique_docs > 0 {
        lines.truncate(unique_docs);
    }
    let mut base: Vec<(Document, Vec<Passage>)> = Vec::new();
    for d in &lines {
        if shirabe_engine::text::normalize::normalize(&d.text).trim().is_empty() {
            continue;
        }
        let (mut doc, passages) = shirabe_engine::eval::eval_document(d, passage_chars);
        doc.source_path = format!("bench/{}", d.id);
        if !passages.is_empty() {
            base.push((doc, passages));
        }
    }
    ensure!(!base.is_empty(), "{} yields no passages", docs.display());
    Ok(base)
}

/// The embedding cache beside the output directory `out`, shared by benchmarks run side by side.
pub fn default_cache(out: &Path) -> PathBuf {
    let abs = fs::canonicalize(out).unwrap_or_else(|_| out.to_path_buf());
    abs.parent().map_or_else(|| PathBuf::from("shirabe-bench-embeddings.bin"), |p| p.join("shirabe-bench-embeddings.bin"))
}

/// Adds σ·N(0,1) to each component (seeded by the passage id) and re-normalises.
pub fn perturb(v: &mut [f32], passage_id: &str, sigma: f32) {
    let seed = u64::from_le_bytes(Sha256::digest(passage_id.as_bytes())[..8].try_into().unwrap_or([0; 8]));
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    for x in v.iter_mut() {
        let noise: f32 = rand_distr::StandardNormal.sample(&mut rng);
        *x += sigma * noise;
    }
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
    v.iter_mut().for_each(|x| *x /= norm);
}

/// Embeds `texts` as passages, taking vectors from the cache file where present and appending
/// new ones to it. Returns the vectors in order and how many were embedded now.
pub fn embed_cached(config: &Config, cache_path: &Path, texts: &[String]) -> Result<(Vec<Vec<f32>>, usize)> {
    let key = |t: &str| -> [u8; 32] { Sha256::digest(format!("passage: {t}").as_bytes()).into() };
    let mut cache: HashMap<[u8; 32], Vec<f32>> = HashMap::new();
    if let Ok(mut f) = fs::File::open(cache_path) {
        let mut bytes = Vec::new();
        f.read_to_end(&mut bytes)?;
        let rec = 32 + DIM * 4;
        for chunk in bytes.chunks_exact(rec) {
            let k: [u8; 32] = chunk[..32].try_into()?;
            let v: Vec<f32> = chunk[32..].chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
            cache.insert(k, v);
        }
    }
    let missing: Vec<usize> = {
        let mut seen = std::collections::HashSet::new();
        (0..texts.len()).filter(|&i| !cache.contains_key(&key(&texts[i])) && seen.insert(key(&texts[i]))).collect()
    };
    if !missing.is_empty() {
        eprintln!("corpus: embedding {} unique passages ({} cached in {})…", missing.len(), texts.len() - missing.len(), cache_path.display());
        let embedder = Embedder::from_config(config)?;
        if let Some(parent) = cache_path.parent() {
            fs::create_dir_all(parent)?;
        }
        let mut file = fs::OpenOptions::new().create(true).append(true).open(cache_path).with_context(|| format!("opening {}", cache_path.display()))?;
        let t = Instant::now();
        let mut done = 0;
        for group in missing.chunks(64) {
            let batch: Vec<&str> = group.iter().map(|&i| texts[i].as_str()).collect();
            let vecs = embedder.embed_passages(&batch)?;
            let mut buf = Vec::with_capacity(group.len() * (32 + DIM * 4));
            for (&i, v) in group.iter().zip(vecs) {
                ensure!(v.len() == DIM, "the embedder returned {} dimensions", v.len());
                let k = key(&texts[i]);
                buf.extend_from_slice(&k);
                v.iter().for_each(|x| buf.extend_from_slice(&x.to_le_bytes()));
                cache.insert(k, v);
            }
            file.write_all(&buf)?;
            done += group.len();
            eprintln!("corpus: embedded {done} / {} ({:.1} passages/s)", missing.len(), done as f64 / t.elapsed().as_secs_f64());
        }
        file.sync_all()?;
    }
    let vectors = texts.iter().map(|t| cache[&key(t)].clone()).collect();
    Ok((vectors, missing.len()))
}

/// Symlinks the dictionary, model and ONNX Runtime of the source data directory into `out`, so
/// that `shirabe serve --data-dir OUT` finds them at their default places.
fn link_setup(config: &Config, out: &Path) -> Result<()> {
    let links = [
        (config.dict_dir(), out.join("dict").join("ipadic")),
        (config.model_dir(), out.join("models").join("multilingual-e5-small")),
        (config.ort_library(), out.join("ort").join("libonnxruntime.so")),
    ];
    for (target, link) in links {
        let target = fs::canonicalize(&target).with_context(|| format!("{} (run make setup)", target.display()))?;
        if link.symlink_metadata().is_ok() {
            fs::remove_file(&link)?;
        }
        if let Some(parent) = link.parent() {
            fs::create_dir_all(parent)?;
        }
        std::os::unix::fs::symlink(&target, &link).with_context(|| format!("linking {}", link.display()))?;
    }
    Ok(())
}

fn dir_size(dir: &Path) -> u64 {
    let mut total = 0;
    if let Ok(entries) = fs::read_dir(dir) {
        for e in entries.flatten() {
            match e.metadata() {
                Ok(m) if m.is_dir() => total += dir_size(&e.path()),
                Ok(m) => total += m.len(),
                Err(_) => {}
            }
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn perturbation_is_small_deterministic_and_normalised() {
        let mut base = vec![0f32; DIM];
        base[0] = 1.0;
        let (mut a, mut b, mut c) = (base.clone(), base.clone(), base.clone());
        perturb(&mut a, "doc~r0001#0", 0.005);
        perturb(&mut b, "doc~r0001#0", 0.005);
        perturb(&mut c, "doc~r0002#0", 0.005);
        assert_eq!(a, b);
        assert_ne!(a, c);
        let norm = a.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-5);
        let cos = shirabe_engine::index::embed::cosine(&a, &base);
        assert!(cos > 0.99 && cos < 0.9999, "cosine {cos}");
    }
}
