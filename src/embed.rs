//! The embedder: multilingual E5-small (384 dimensions) run by fastembed on ONNX Runtime.
//!
//! Setup builds the model files (`model.onnx`, int8 per-channel, plus the tokenizer files) under
//! the data directory and takes `libonnxruntime.so.1.24.x` from the PyPI wheel; nothing is
//! downloaded at run time. E5 needs a role prefix on every input: `query: ` for questions and
//! `passage: ` for indexed text; [`Embedder`] adds them so callers cannot forget.

use std::path::Path;
use std::sync::OnceLock;

use fastembed::{InitOptionsUserDefined, Pooling, TextEmbedding, TokenizerFiles, UserDefinedEmbeddingModel};
use parking_lot::Mutex;

use crate::error::{Error, Result};

/// Embedding dimension of multilingual E5-small.
pub const DIM: usize = 384;

/// Files of the model directory, as setup writes them.
pub const MODEL_FILES: [&str; 5] =
    ["model.onnx", "tokenizer.json", "config.json", "special_tokens_map.json", "tokenizer_config.json"];

static ORT_LOADED: OnceLock<std::result::Result<(), String>> = OnceLock::new();

/// Loads ONNX Runtime from `library` once per process.
fn load_ort(library: &Path) -> Result<()> {
    let outcome = ORT_LOADED.get_or_init(|| {
        if !library.exists() {
            return Err(format!("{} does not exist", library.display()));
        }
        ort::init_from(library).map(drop).map_err(|e| e.to_string())
    });
    outcome.clone().map_err(|reason| Error::Setup {
        what: "ONNX Runtime (libonnxruntime.so.1.24)",
        path: library.to_path_buf(),
        reason,
    })
}

/// A loaded embedding model. Inference is serialised by a mutex: ONNX Runtime already uses
/// `threads` cores per call, and concurrent calls on two cores only add contention.
pub struct Embedder {
    model: Mutex<TextEmbedding>,
    batch_size: usize,
    /// Vectors of recent questions and answer sentences, by their full model input. Officials
    /// ask the same questions, and answers read the sentences of the same popular passages,
    /// again and again; the model is deterministic, so a cached vector is the vector. Bulk
    /// passage embedding by the indexer bypasses the cache.
    cache: Mutex<lru::LruCache<String, Vec<f32>>>,
}

/// Vectors kept in the cache: 16,384 × 384 floats ≈ 25 MiB.
const CACHE_ENTRIES: usize = 16_384;

impl Embedder {
    /// Loads the model in `model_dir` with ONNX Runtime from `ort_library`.
    /// `threads` = 0 lets ONNX Runtime use every core.
    pub fn load(model_dir: &Path, ort_library: &Path, threads: usize, batch_size: usize) -> Result<Embedder> {
        load_ort(ort_library)?;
        let read = |name: &str| {
            std::fs::read(model_dir.join(name)).map_err(|e| Error::Setup {
                what: "the E5 embedding model",
                path: model_dir.join(name),
                reason: e.to_string(),
            })
        };
        let tokenizer_files = TokenizerFiles {
            tokenizer_file: read("tokenizer.json")?,
            config_file: read("config.json")?,
            special_tokens_map_file: read("special_tokens_map.json")?,
            tokenizer_config_file: read("tokenizer_config.json")?,
        };
        let model = UserDefinedEmbeddingModel::new(read("model.onnx")?, tokenizer_files).with_pooling(Pooling::Mean);
        let mut options = InitOptionsUserDefined::new().with_max_length(512);
        if threads > 0 {
            options = options.with_intra_threads(threads);
        }
        let model = TextEmbedding::try_new_from_user_defined(model, options).map_err(|e| Error::Setup {
            what: "the E5 embedding model",
            path: model_dir.to_path_buf(),
            reason: e.to_string(),
        })?;
        let cache = lru::LruCache::new(std::num::NonZeroUsize::new(CACHE_ENTRIES).unwrap_or(std::num::NonZeroUsize::MIN));
        Ok(Embedder { model: Mutex::new(model), batch_size: batch_size.max(1), cache: Mutex::new(cache) })
    }

    /// Embeds a question (adds `query: `); cached.
    pub fn embed_query(&self, query: &str) -> Result<Vec<f32>> {
        let mut out = self.run_cached(vec![format!("query: {query}")])?;
        out.pop().ok_or_else(|| Error::Embedding("the model returned no vector".into()))
    }

    /// Embeds answer candidate sentences (adds `passage: `); cached.
    pub fn embed_sentences<S: AsRef<str>>(&self, sentences: &[S]) -> Result<Vec<Vec<f32>>> {
        self.run_cached(sentences.iter().map(|p| format!("passage: {}", p.as_ref())).collect())
    }

    /// Forgets every cached vector (benchmarks measure cold queries with it).
    pub fn clear_cache(&self) {
        self.cache.lock().clear();
    }

    fn run_cached(&self, inputs: Vec<String>) -> Result<Vec<Vec<f32>>> {
        let mut out: Vec<Option<Vec<f32>>> = {
            let mut cache = self.cache.lock();
            inputs.iter().map(|i| cache.get(i).cloned()).collect()
        };
        let missing: Vec<String> = inputs.iter().zip(&out).filter(|(_, v)| v.is_none()).map(|(i, _)| i.clone()).collect();
        if !missing.is_empty() {
            let fresh = self.run(missing.clone())?;
            let mut cache = self.cache.lock();
            let mut fresh_iter = missing.into_iter().zip(fresh);
            for slot in out.iter_mut().filter(|v| v.is_none()) {
                let (input, v) = fresh_iter.next().ok_or_else(|| Error::Embedding("the model returned too few vectors".into()))?;
                cache.put(input, v.clone());
                *slot = Some(v);
            }
        }
        out.into_iter().map(|v| v.ok_or_else(|| Error::Embedding("the model returned too few vectors".into()))).collect()
    }

    /// Embeds passages (adds `passage: `), in batches of the configured size.
    pub fn embed_passages<S: AsRef<str>>(&self, passages: &[S]) -> Result<Vec<Vec<f32>>> {
        let inputs: Vec<String> = passages.iter().map(|p| format!("passage: {}", p.as_ref())).collect();
        self.run(inputs)
    }

    /// Embeds texts exactly as given (the caller adds the prefix); used by verification tests.
    pub fn embed_raw(&self, texts: Vec<String>) -> Result<Vec<Vec<f32>>> {
        self.run(texts)
    }

    fn run(&self, inputs: Vec<String>) -> Result<Vec<Vec<f32>>> {
        if inputs.is_empty() {
            return Ok(Vec::new());
        }
        let mut model = self.model.lock();
        model.embed(inputs, Some(self.batch_size)).map_err(|e| Error::Embedding(e.to_string()))
    }
}

/// Cosine similarity of two vectors.
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na: f32 = a.iter().map(|x| x * x).sum::<f32>().sqrt();
    let nb: f32 = b.iter().map(|x| x * x).sum::<f32>().sqrt();
    if na == 0.0 || nb == 0.0 {
        0.0
    } else {
        dot / (na * nb)
    }
}
