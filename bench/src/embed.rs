//! `shirabe-bench embed`: embedding throughput of shirabe's embedder (fastembed) against raw ONNX
//! Runtime (the `ort` crate with the `tokenizers` crate) on the same model file, the same
//! passages, the same batch size and the same intra-op thread count, in one run.
//!
//! ONNX Runtime allows one environment per process and fastembed keeps its own, so each engine
//! runs in a child process of this command (`--engine fastembed|ort|ort-sorted`), one after the
//! other, and the parent prints the results and how closely the engines' vectors agree.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{bail, ensure, Context, Result};
use serde::{Deserialize, Serialize};
use serde_json::json;
use shirabe_engine::config::Config;
use shirabe_engine::index::embed::Embedder;

use crate::util::{self, Percentiles};

#[derive(Debug, Clone, clap::Args)]
pub struct EmbedArgs {
    /// Passages to embed come from these documents (chunked as the indexer does).
    #[arg(long, default_value = "../shared/eval/jsquad/docs.jsonl")]
    pub docs: PathBuf,
    /// Number of passages to embed per engine.
    #[arg(long, default_value_t = 256)]
    pub texts: usize,
    /// Passage length in characters (default: indexer.passage_chars of the configuration); about
    /// one E5 token per character of Japanese text.
    #[arg(long)]
    pub passage_chars: Option<usize>,
    /// Skip passages shorter than this many characters (to measure long passages alone).
    #[arg(long, default_value_t = 0)]
    pub min_chars: usize,
    /// Batch size (default: embedding.batch_size of the configuration).
    #[arg(long)]
    pub batch: Option<usize>,
    /// Intra-op threads for both engines (default: embedding.threads, 0 = all cores).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Queries for the single-query latency (what a search pays), JSONL with `text`.
    #[arg(long, default_value = "../shared/eval/jsquad/queries.jsonl")]
    pub queries: PathBuf,
    /// Single-query embeddings timed per engine.
    #[arg(long, default_value_t = 100)]
    pub query_n: usize,
    /// Rounds; engines alternate (fastembed, ort, fastembed, ort, …) to spread machine noise.
    #[arg(long, default_value_t = 1)]
    pub rounds: usize,
    /// Internal: run one engine in this process and write its result to --result.
    #[arg(long, hide = true)]
    pub engine: Option<String>,
    #[arg(long, hide = true)]
    pub result: Option<PathBuf>,
}

/// `fastembed`: shirabe's `Embedder`; `ort`: raw ONNX Runtime on fixed batches in input order
/// (what a straightforward caller does); `ort-sorted`: raw ONNX Runtime on exactly the batches
/// the `Embedder` runs (sorted by length, cut by the token budget), which isolates fastembed's
/// own overhead.
const ENGINES: [&str; 3] = ["fastembed", "ort", "ort-sorted"];

#[derive(Debug, Serialize, Deserialize)]
struct EngineResult {
    engine: String,
    texts: usize,
    /// Mean length of the embedded passages in characters (prefix included).
    mean_chars: f64,
    batch: usize,
    threads: usize,
    seconds: f64,
    passages_per_second: f64,
    query: Percentiles,
    peak_rss_mib: Option<f64>,
    /// Load average when this engine's run ended.
    loadavg: String,
    /// The first vectors, to compare the engines.
    sample: Vec<Vec<f32>>,
}

pub fn run(config: &Config, args: &EmbedArgs) -> Result<()> {
    let batch = args.batch.unwrap_or(config.embedding.batch_size).max(1);
    let threads = match args.threads.unwrap_or(config.embedding.threads) {
        0 => util::cpus(),
        n => n,
    };
    if let Some(engine) = &args.engine {
        let result = run_engine(config, args, engine, batch, threads)?;
        let path = args.result.as_ref().context("--result is required with --engine")?;
        std::fs::write(path, serde_json::to_vec(&result)?)?;
        return Ok(());
    }
    let tmp = std::env::temp_dir().join(format!("shirabe-bench-embed-{}", std::process::id()));
    std::fs::create_dir_all(&tmp)?;
    let exe = std::env::current_exe()?;
    let mut results: Vec<EngineResult> = Vec::new();
    for round in 0..args.rounds.max(1) {
        for engine in ENGINES {
            let out = tmp.join(format!("{engine}-{round}.json"));
            let mut cmd = Command::new(&exe);
            cmd.arg("embed")
                .args(["--engine", engine, "--texts", &args.texts.to_string(), "--batch", &batch.to_string()])
                .args(["--threads", &threads.to_string(), "--query-n", &args.query_n.to_string()])
                .args(["--passage-chars", &passage_chars(config, args).to_string(), "--min-chars", &args.min_chars.to_string()])
                .arg("--docs")
                .arg(&args.docs)
                .arg("--queries")
                .arg(&args.queries)
                .arg("--result")
                .arg(&out);
            let status = cmd.status().with_context(|| format!("running {}", exe.display()))?;
            ensure!(status.success(), "the {engine} run failed ({status})");
            results.push(serde_json::from_slice(&std::fs::read(&out)?)?);
        }
    }
    let _ = std::fs::remove_dir_all(&tmp);
    let agreement = |a: &EngineResult, b: &EngineResult| {
        a.sample.iter().zip(&b.sample).map(|(x, y)| shirabe_engine::index::embed::cosine(x, y)).fold(f32::INFINITY, f32::min)
    };
    // Dynamic int8 quantisation scales activations per batch, so only engines that run the same
    // batches can agree exactly.
    let min_cos = agreement(&results[0], &results[1]);
    let min_cos_same = agreement(&results[0], &results[2]);
    for r in &results {
        util::emit(&json!({
            "bench": "embed", "engine": r.engine, "texts": r.texts, "passage_chars": passage_chars(config, args), "mean_chars": r.mean_chars, "batch": r.batch, "threads": r.threads,
            "seconds": util::round2(r.seconds), "passages_per_second": util::round2(r.passages_per_second),
            "single_query": r.query, "peak_rss_mib": r.peak_rss_mib, "loadavg": r.loadavg,
        }));
    }
    let mean = |engine: &str| {
        let v: Vec<f64> = results.iter().filter(|r| r.engine == engine).map(|r| r.passages_per_second).collect();
        v.iter().sum::<f64>() / v.len().max(1) as f64
    };
    util::emit(&json!({
        "bench": "embed", "summary": true,
        "fastembed_passages_per_second": util::round2(mean("fastembed")),
        "ort_passages_per_second": util::round2(mean("ort")),
        "ort_sorted_passages_per_second": util::round2(mean("ort-sorted")),
        "fastembed_over_ort": util::round2(mean("fastembed") / mean("ort").max(1e-9)),
        "fastembed_over_ort_sorted": util::round2(mean("fastembed") / mean("ort-sorted").max(1e-9)),
        "min_cosine_between_engines": min_cos,
        "min_cosine_same_batches": min_cos_same,
        "loadavg": util::loadavg(),
    }));
    Ok(())
}

fn passage_chars(config: &Config, args: &EmbedArgs) -> usize {
    args.passage_chars.unwrap_or(config.indexer.passage_chars)
}

/// The benchmark passages: the first `n` passages of the documents, as the indexer would embed them.
fn passages(docs: &Path, n: usize, passage_chars: usize, min_chars: usize) -> Result<Vec<String>> {
    let lines: Vec<shirabe_engine::eval::EvalDoc> = util::read_jsonl(docs)?;
    let mut out = Vec::new();
    for d in &lines {
        let (doc, passages) = shirabe_engine::eval::eval_document(d, passage_chars);
        for p in passages.into_iter().filter(|p| p.text.chars().count() >= min_chars) {
            out.push(shirabe_engine::index::embedding_text(&doc, &p));
            if out.len() >= n {
                return Ok(out);
            }
        }
    }
    Ok(out)
}

fn run_engine(config: &Config, args: &EmbedArgs, engine: &str, batch: usize, threads: usize) -> Result<EngineResult> {
    let texts = passages(&args.docs, args.texts, passage_chars(config, args), args.min_chars)?;
    let queries: Vec<String> = util::load_queries(&args.queries, args.query_n)?.into_iter().map(|q| shirabe_engine::text::normalize::normalize(&q)).collect();
    // Both engines see exactly these strings (the prefixes E5 needs, as shirabe adds them).
    let prefixed: Vec<String> = texts.iter().map(|t| format!("passage: {t}")).collect();
    let prefixed_queries: Vec<String> = queries.iter().map(|q| format!("query: {q}")).collect();
    type EmbedFn = Box<dyn FnMut(&[String]) -> Result<Vec<Vec<f32>>>>;
    let mut embed: EmbedFn = match engine {
        "fastembed" => {
            let e = Embedder::load(&config.model_dir(), &config.ort_library(), threads, batch)?;
            Box::new(move |t: &[String]| Ok(e.embed_raw(t.to_vec())?))
        }
        "ort" => {
            let mut raw = RawOrt::load(&config.model_dir(), &config.ort_library(), threads)?;
            Box::new(move |t: &[String]| {
                let mut out = Vec::with_capacity(t.len());
                for chunk in t.chunks(batch) {
                    out.extend(raw.embed(chunk)?);
                }
                Ok(out)
            })
        }
        "ort-sorted" => {
            let mut raw = RawOrt::load(&config.model_dir(), &config.ort_library(), threads)?;
            Box::new(move |t: &[String]| {
                let mut out: Vec<Vec<f32>> = vec![Vec::new(); t.len()];
                for plan in shirabe_engine::index::embed::batch_plan(t, batch) {
                    let texts: Vec<String> = plan.iter().map(|&i| t[i].clone()).collect();
                    for (i, v) in plan.into_iter().zip(raw.embed(&texts)?) {
                        out[i] = v;
                    }
                }
                Ok(out)
            })
        }
        other => bail!("unknown engine {other:?}"),
    };
    // Warm-up: one batch.
    embed(&prefixed[..batch.min(prefixed.len())])?;
    let t = Instant::now();
    let vectors = embed(&prefixed)?;
    let seconds = t.elapsed().as_secs_f64();
    ensure!(vectors.len() == prefixed.len(), "{engine} returned {} vectors for {} texts", vectors.len(), prefixed.len());
    let mut qms = Vec::new();
    for q in &prefixed_queries {
        let t = Instant::now();
        embed(std::slice::from_ref(q))?;
        qms.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    Ok(EngineResult {
        engine: engine.to_string(),
        texts: prefixed.len(),
        mean_chars: util::round2(prefixed.iter().map(|t| t.chars().count()).sum::<usize>() as f64 / prefixed.len().max(1) as f64),
        batch,
        threads,
        seconds,
        passages_per_second: prefixed.len() as f64 / seconds,
        query: Percentiles::of(qms),
        peak_rss_mib: util::peak_rss_mib(),
        loadavg: util::loadavg(),
        sample: vectors.into_iter().take(8).collect(),
    })
}

/// E5 on ONNX Runtime without fastembed: tokenizer.json through `tokenizers` (pad to the longest
/// in the batch, truncate at 512, as fastembed does), the session with graph optimisation level 3
/// and `threads` intra-op threads (fastembed's settings), mean pooling over the attention mask and
/// L2 normalisation.
struct RawOrt {
    _env: ort::environment::Environment,
    session: ort::session::Session,
    tokenizer: tokenizers::Tokenizer,
    token_type_ids: bool,
    output: String,
}

/// The ONNX Runtime session as fastembed builds it (graph optimisation level 3, `threads`
/// intra-op threads), with its environment.
pub fn load_session(model_dir: &Path, library: &Path, threads: usize) -> Result<(ort::environment::Environment, ort::session::Session)> {
    let env = ort::init_from(library).map_err(|e| anyhow::anyhow!("loading {}: {e}", library.display()))?.build()?;
    let model = std::fs::read(model_dir.join("model.onnx"))?;
    let session = ort::session::Session::builder(&env)?
        .with_optimization_level(ort::session::builder::GraphOptimizationLevel::Level3)
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .with_intra_threads(threads)
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .commit_from_memory(&model)?;
    Ok((env, session))
}

/// The model's `tokenizer.json`, loaded by the `tokenizers` crate.
pub fn load_tokenizer(model_dir: &Path) -> Result<tokenizers::Tokenizer> {
    tokenizers::Tokenizer::from_file(model_dir.join("tokenizer.json")).map_err(|e| anyhow::anyhow!("tokenizer.json: {e}"))
}

impl RawOrt {
    fn load(model_dir: &Path, library: &Path, threads: usize) -> Result<RawOrt> {
        let (env, session) = load_session(model_dir, library, threads)?;
        let config: serde_json::Value = serde_json::from_slice(&std::fs::read(model_dir.join("config.json"))?)?;
        let tok_config: serde_json::Value = serde_json::from_slice(&std::fs::read(model_dir.join("tokenizer_config.json"))?)?;
        let mut tokenizer = load_tokenizer(model_dir)?;
        let pad_token = tok_config["pad_token"].as_str().or_else(|| tok_config["pad_token"]["content"].as_str()).unwrap_or("<pad>").to_string();
        let pad_id = config["pad_token_id"].as_u64().map(|v| v as u32).or_else(|| tokenizer.token_to_id(&pad_token)).unwrap_or(0);
        let max_length = tok_config["model_max_length"].as_f64().map_or(512, |m| (m as usize).min(512));
        tokenizer
            .with_padding(Some(tokenizers::PaddingParams { strategy: tokenizers::PaddingStrategy::BatchLongest, pad_id, pad_token, ..Default::default() }))
            .with_truncation(Some(tokenizers::TruncationParams { max_length, ..Default::default() }))
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let token_type_ids = session.inputs().iter().any(|i| i.name() == "token_type_ids");
        let outputs: Vec<String> = session.outputs().iter().map(|o| o.name().to_string()).collect();
        let output = if outputs.len() == 1 || !outputs.iter().any(|o| o == "last_hidden_state") {
            outputs.first().cloned().context("the model has no outputs")?
        } else {
            "last_hidden_state".to_string()
        };
        Ok(RawOrt { _env: env, session, tokenizer, token_type_ids, output })
    }

    fn embed(&mut self, texts: &[String]) -> Result<Vec<Vec<f32>>> {
        let enc = self.tokenizer.encode_batch(texts.to_vec(), true).map_err(|e| anyhow::anyhow!("{e}"))?;
        let (b, len) = (enc.len(), enc.first().map_or(0, |e| e.get_ids().len()));
        let mut ids = Vec::with_capacity(b * len);
        let mut mask = Vec::with_capacity(b * len);
        let mut types = Vec::with_capacity(b * len);
        for e in &enc {
            ids.extend(e.get_ids().iter().map(|&x| i64::from(x)));
            mask.extend(e.get_attention_mask().iter().map(|&x| i64::from(x)));
            types.extend(e.get_type_ids().iter().map(|&x| i64::from(x)));
        }
        let shape = [b as i64, len as i64];
        let mut inputs: Vec<(String, ort::value::DynValue)> = vec![
            ("input_ids".into(), ort::value::Tensor::from_array((shape, ids))?.into_dyn()),
            ("attention_mask".into(), ort::value::Tensor::from_array((shape, mask.clone()))?.into_dyn()),
        ];
        if self.token_type_ids {
            inputs.push(("token_type_ids".into(), ort::value::Tensor::from_array((shape, types))?.into_dyn()));
        }
        let outputs = self.session.run(inputs)?;
        let (out_shape, data) = outputs[self.output.as_str()].try_extract_tensor::<f32>()?;
        let dims: Vec<usize> = out_shape.iter().map(|&d| d as usize).collect();
        let mut result = Vec::with_capacity(b);
        match dims.as_slice() {
            [_, seq, hidden] => {
                for i in 0..b {
                    let mut v = vec![0f32; *hidden];
                    let mut count = 0f32;
                    for t in 0..*seq {
                        if mask[i * len + t] == 0 {
                            continue;
                        }
                        count += 1.0;
                        let row = &data[(i * seq + t) * hidden..(i * seq + t + 1) * hidden];
                        v.iter_mut().zip(row).for_each(|(a, x)| *a += x);
                    }
                    v.iter_mut().for_each(|a| *a /= count.max(1e-9));
                    result.push(normalise(v));
                }
            }
            [_, hidden] => {
                for i in 0..b {
                    result.push(normalise(data[i * hidden..(i + 1) * hidden].to_vec()));
                }
            }
            other => bail!("unexpected output shape {other:?}"),
        }
        Ok(result)
    }
}

fn normalise(v: Vec<f32>) -> Vec<f32> {
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    v.into_iter().map(|x| x / (n + 1e-12)).collect()
}
