//! The embedder: multilingual E5-small (384 dimensions) run by fastembed on ONNX Runtime.
//!
//! Setup builds the model files (`model.onnx`, int8 per-channel, plus the tokenizer files) under
//! the data directory and takes `libonnxruntime.so.1.24.x` from the PyPI wheel; nothing is
//! downloaded at run time. E5 needs a role prefix on every input: `query: ` for questions and
//! `passage: ` for indexed text; [`Embedder`] adds them so callers cannot forget.
//!
//! Memory: the model's 250,002-piece multilingual vocabulary, held by the `tokenizers` crate as a
//! byte trie, took more memory than the network itself (about 320 of 460 MiB). The service reads
//! Japanese documents, so [`Vocabulary::Japanese`] (the default) keeps the pieces written in the
//! scripts such documents use and renames the rest to placeholders that no input can contain;
//! ids and scores stay, so any text in the kept scripts gets exactly the tokens, and therefore
//! the vectors, of the full vocabulary (`tests/embedding.rs` checks this on the fixtures). Loading
//! also hands the memory that ONNX Runtime's graph optimisation freed back to the kernel.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
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

/// Which vocabulary pieces the tokenizer keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Vocabulary {
    /// Every piece of the model's vocabulary.
    Full,
    /// Pieces written in Latin, Greek, Japanese and CJK scripts, digits and symbols (138k of
    /// 250k); pieces of other scripts (Cyrillic, Arabic, Hangul, Indic …) become placeholders.
    /// Text in those scripts is then read a character at a time, as unknown characters.
    Japanese,
}

/// Whether a vocabulary piece made of `c` is kept by [`Vocabulary::Japanese`].
fn kept_script(c: char) -> bool {
    matches!(c as u32,
        0x0000..=0x02AF     // Latin, Latin-1, Latin Extended A/B, IPA
        | 0x0370..=0x03FF   // Greek (α, β in technical text)
        | 0x2000..=0x2BFF   // punctuation, currency, number forms (Ⅲ), arrows, maths, ①, ■, ▁
        | 0x2E80..=0x2FDF   // CJK and Kangxi radicals
        | 0x3000..=0x33FF   // CJK punctuation, kana, 〒, ㈱, ㍻, ㎡
        | 0x3400..=0x4DBF   // CJK extension A
        | 0x4E00..=0x9FFF   // CJK unified ideographs
        | 0xF900..=0xFAFF   // CJK compatibility ideographs (旧字体 forms)
        | 0xFE30..=0xFE4F   // CJK compatibility forms (vertical brackets)
        | 0xFF00..=0xFFEF   // half- and full-width forms
        | 0x20000..=0x2FFFF // CJK extensions B and later
    )
}

/// A noncharacter that starts every placeholder piece; [`Embedder`] removes it from inputs, so
/// no placeholder can ever match.
const PLACEHOLDER: char = '\u{FDD0}';

/// Rewrites a `tokenizer.json` (Unigram model) for [`Vocabulary::Japanese`]: each piece with a
/// character outside the kept scripts becomes `PLACEHOLDER` + its id, with its score unchanged
/// (the lowest score sets the unknown-character penalty, so scores must not move).
pub fn trim_vocabulary(tokenizer_json: &[u8]) -> std::result::Result<Vec<u8>, String> {
    let mut json: serde_json::Value = serde_json::from_slice(tokenizer_json).map_err(|e| e.to_string())?;
    let model = json.get_mut("model").ok_or("no \"model\"")?;
    if model.get("type").and_then(|t| t.as_str()) != Some("Unigram") {
        return Err("the tokenizer is not a Unigram model".into());
    }
    let vocab = model.get_mut("vocab").and_then(|v| v.as_array_mut()).ok_or("no \"vocab\" list")?;
    for (id, entry) in vocab.iter_mut().enumerate() {
        let Some(piece) = entry.get_mut(0) else { return Err(format!("vocabulary entry {id} is empty")) };
        if piece.as_str().is_some_and(|p| !p.chars().all(kept_script)) {
            *piece = serde_json::Value::String(format!("{PLACEHOLDER}{id}"));
        }
    }
    serde_json::to_vec(&json).map_err(|e| e.to_string())
}

/// Hands freed heap pages back to the kernel. ONNX Runtime's graph optimisation allocates and
/// frees some 300 MiB while a session is built, and glibc keeps such memory in the process.
pub fn release_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks glibc's own free lists; it touches no live allocation.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// A loaded embedding model. Inference is serialised by a mutex: ONNX Runtime already uses
/// `threads` cores per call, and concurrent calls on two cores only add contention.
pub struct Embedder {
    model: Mutex<TextEmbedding>,
    batch_size: usize,
    /// Vectors of recent questions and answer sentences, by cache scope and full model input.
    /// Officials ask the same questions, and answers read the sentences of the same popular
    /// passages, again and again; each is embedded alone ([`Embedder::run_each`]), so a cached
    /// vector is the vector.
    /// The service scopes entries by caller: with one shared cache, a caller could tell from the
    /// response time whether someone else had asked a question. Bulk passage embedding by the
    /// indexer bypasses the cache.
    cache: Mutex<lru::LruCache<(String, String), Vec<f32>>>,
    hits: AtomicU64,
    misses: AtomicU64,
}

/// Vectors kept in the cache: 16,384 × 384 floats ≈ 25 MiB.
const CACHE_ENTRIES: usize = 16_384;

impl Embedder {
    /// Loads the model in `model_dir` with ONNX Runtime from `ort_library`.
    /// `threads` = 0 lets ONNX Runtime use every core.
    pub fn load(model_dir: &Path, ort_library: &Path, threads: usize, batch_size: usize) -> Result<Embedder> {
        Embedder::load_with(model_dir, ort_library, threads, batch_size, Vocabulary::Japanese)
    }

    /// The model setup built, with the configuration's `embedding.threads` and
    /// `embedding.batch_size`.
    pub fn from_config(config: &crate::config::Config) -> Result<Embedder> {
        Embedder::load(&config.model_dir(), &config.ort_library(), config.embedding.threads, config.embedding.batch_size)
    }

    /// [`Embedder::load`] with a choice of vocabulary.
    pub fn load_with(model_dir: &Path, ort_library: &Path, threads: usize, batch_size: usize, vocabulary: Vocabulary) -> Result<Embedder> {
        load_ort(ort_library)?;
        let read = |name: &str| {
            std::fs::read(model_dir.join(name)).map_err(|e| Error::Setup {
                what: "the E5 embedding model",
                path: model_dir.join(name),
                reason: e.to_string(),
            })
        };
        let mut tokenizer_file = read("tokenizer.json")?;
        if vocabulary == Vocabulary::Japanese {
            tokenizer_file = trim_vocabulary(&tokenizer_file).map_err(|reason| Error::Setup {
                what: "the E5 tokenizer",
                path: model_dir.join("tokenizer.json"),
                reason,
            })?;
        }
        let tokenizer_files = TokenizerFiles {
            tokenizer_file,
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
        release_freed_memory();
        let cache = lru::LruCache::new(std::num::NonZeroUsize::new(CACHE_ENTRIES).unwrap_or(std::num::NonZeroUsize::MIN));
        Ok(Embedder { model: Mutex::new(model), batch_size: batch_size.max(1), cache: Mutex::new(cache), hits: AtomicU64::new(0), misses: AtomicU64::new(0) })
    }

    /// Embeds a question (adds `query: `); cached under `scope` (the caller's name in the
    /// service, `""` in tools).
    pub fn embed_query(&self, query: &str, scope: &str) -> Result<Vec<f32>> {
        let mut out = self.run_cached(vec![format!("query: {query}")], scope)?;
        out.pop().ok_or_else(|| Error::Embedding("the model returned no vector".into()))
    }

    /// Embeds answer candidate sentences (adds `passage: `); cached under `scope`.
    pub fn embed_sentences<S: AsRef<str>>(&self, sentences: &[S], scope: &str) -> Result<Vec<Vec<f32>>> {
        self.run_cached(sentences.iter().map(|p| format!("passage: {}", p.as_ref())).collect(), scope)
    }

    /// Cache lookups that found their vector, and those that had to run the model.
    pub fn cache_stats(&self) -> (u64, u64) {
        (self.hits.load(Ordering::Relaxed), self.misses.load(Ordering::Relaxed))
    }

    /// Forgets every cached vector (benchmarks measure cold queries with it).
    pub fn clear_cache(&self) {
        self.cache.lock().clear();
    }

    fn run_cached(&self, inputs: Vec<String>, scope: &str) -> Result<Vec<Vec<f32>>> {
        let mut out: Vec<Option<Vec<f32>>> = {
            let mut cache = self.cache.lock();
            inputs.iter().map(|i| cache.get(&(scope.to_string(), i.clone())).cloned()).collect()
        };
        let missing: Vec<String> = inputs.iter().zip(&out).filter(|(_, v)| v.is_none()).map(|(i, _)| i.clone()).collect();
        self.hits.fetch_add((inputs.len() - missing.len()) as u64, Ordering::Relaxed);
        self.misses.fetch_add(missing.len() as u64, Ordering::Relaxed);
        if !missing.is_empty() {
            let fresh = self.run_each(missing.clone())?;
            let mut cache = self.cache.lock();
            let mut fresh_iter = missing.into_iter().zip(fresh);
            for slot in out.iter_mut().filter(|v| v.is_none()) {
                let (input, v) = fresh_iter.next().ok_or_else(|| Error::Embedding("the model returned too few vectors".into()))?;
                cache.put((scope.to_string(), input), v.clone());
                *slot = Some(v);
            }
        }
        out.into_iter().map(|v| v.ok_or_else(|| Error::Embedding("the model returned too few vectors".into()))).collect()
    }

    /// Runs the model over each input alone. The int8 model quantises its activations per
    /// tensor, over the whole batch (padding included), so the same text embedded beside other
    /// texts comes out slightly different (cosine about 0.999). An answer's similarities, and
    /// what the cache keeps, must be a function of the text alone: otherwise an answer would
    /// depend on which other sentences were embedded with it, or before it, and a training
    /// trace (which embeds every candidate) would see other similarities than the answerer.
    /// It is also faster for an answer's few short sentences, which a batch pads to its
    /// longest (README, "Grounded answers", version 4).
    fn run_each(&self, inputs: Vec<String>) -> Result<Vec<Vec<f32>>> {
        let mut out = Vec::with_capacity(inputs.len());
        for input in inputs {
            out.extend(self.run(vec![input])?);
        }
        Ok(out)
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

    /// Runs the model over `inputs` in batches built for it: inputs sorted by length, so that a
    /// batch is padded only to its own longest input, and cut at `batch_size` inputs or
    /// [`TOKEN_BUDGET`] padded tokens, whichever comes first. The budget bounds ONNX Runtime's
    /// working memory (which grows with batch × length and stays allocated in its arena): a
    /// batch of 32 passages of 500 tokens would take gigabytes.
    fn run(&self, inputs: Vec<String>) -> Result<Vec<Vec<f32>>> {
        if inputs.is_empty() {
            return Ok(Vec::new());
        }
        let mut inputs = inputs;
        for input in inputs.iter_mut().filter(|i| i.contains(PLACEHOLDER)) {
            *input = input.replace(PLACEHOLDER, " ");
        }
        let mut out: Vec<Option<Vec<f32>>> = vec![None; inputs.len()];
        let plan = batch_plan(&inputs, self.batch_size);
        let mut model = self.model.lock();
        for batch in &plan {
            let texts: Vec<String> = batch.iter().map(|&i| std::mem::take(&mut inputs[i])).collect();
            let vectors = model.embed(texts, Some(batch.len())).map_err(|e| Error::Embedding(e.to_string()))?;
            if vectors.len() != batch.len() {
                return Err(Error::Embedding("the model returned too few vectors".into()));
            }
            for (&i, v) in batch.iter().zip(vectors) {
                out[i] = Some(v);
            }
        }
        out.into_iter().map(|v| v.ok_or_else(|| Error::Embedding("the model returned too few vectors".into()))).collect()
    }
}

/// The inference batches for `inputs`, as indices: sorted by estimated length and cut by
/// `max_batch` and [`TOKEN_BUDGET`] (public so that the benchmark's raw ONNX Runtime baseline can
/// run the very same batches).
pub fn batch_plan<S: AsRef<str>>(inputs: &[S], max_batch: usize) -> Vec<Vec<usize>> {
    let tokens: Vec<usize> = inputs.iter().map(|t| estimated_tokens(t.as_ref())).collect();
    let mut order: Vec<usize> = (0..inputs.len()).collect();
    order.sort_by_key(|&i| tokens[i]);
    budget_batches(&order, |i| tokens[i], max_batch).into_iter().map(<[usize]>::to_vec).collect()
}

/// Most padded tokens (batch size × longest input) in one inference batch.
pub const TOKEN_BUDGET: usize = 4096;

/// An upper estimate of an input's E5 tokens: about one per character for Japanese text (Latin
/// words take fewer), plus the two special tokens, capped at the model's window.
fn estimated_tokens(text: &str) -> usize {
    (text.chars().count() + 2).min(512)
}

/// Cuts `order` (sorted by ascending length) into batches of at most `max_batch` items whose
/// size × longest length stays within [`TOKEN_BUDGET`] (one item at least).
fn budget_batches(order: &[usize], tokens: impl Fn(usize) -> usize, max_batch: usize) -> Vec<&[usize]> {
    let mut batches = Vec::new();
    let mut start = 0;
    while start < order.len() {
        let mut end = start + 1;
        // Sorted ascending: the item being added is the batch's longest.
        while end < order.len() && end - start < max_batch.max(1) && (end - start + 1) * tokens(order[end]) <= TOKEN_BUDGET {
            end += 1;
        }
        batches.push(&order[start..end]);
        start = end;
    }
    batches
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_respect_the_count_and_the_token_budget() {
        // 10 short inputs (100 tokens) and 10 long ones (500 tokens), sorted ascending.
        let lengths: Vec<usize> = [vec![100; 10], vec![500; 10]].concat();
        let order: Vec<usize> = (0..lengths.len()).collect();
        let sizes = |max_batch| budget_batches(&order, |i| lengths[i], max_batch).iter().map(|b| b.len()).collect::<Vec<_>>();
        // The budget cuts the long ones at 8 (8 × 500 ≤ 4096 < 9 × 500); the count cuts at 4.
        assert_eq!(sizes(32), [10, 8, 2]);
        assert_eq!(sizes(4), [4, 4, 4, 4, 4]);
        let batches = budget_batches(&order, |i| lengths[i], 32);
        for b in &batches {
            let longest = b.iter().map(|&i| lengths[i]).max().unwrap_or(0);
            assert!(b.len() <= 32);
            assert!(b.len() == 1 || b.len() * longest <= TOKEN_BUDGET, "{b:?}");
        }
        let flat: Vec<usize> = batches.concat();
        assert_eq!(flat, order, "every item once, in order");
        // One input longer than the whole budget still gets a batch of its own.
        let huge = [5000usize];
        assert_eq!(budget_batches(&[0], |i| huge[i], 32), vec![&[0usize][..]]);
    }
}
