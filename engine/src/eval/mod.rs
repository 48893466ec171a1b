//! The retrieval evaluation harness behind `shirabe eval`.
//!
//! It builds a throwaway index of a document set with the production pipeline (normalisation,
//! chunking, both analysers, the E5 embedder, the embedded vector store), runs every query in
//! the requested modes and prints one JSON line per mode with Recall@10, MRR@10 and nDCG@10
//! (graded gain 2^grade − 1) plus indexing time and query latency. A document's score is its
//! best passage's score. File formats: `docs.jsonl` (`id`, `title`, `text`), `queries.jsonl`
//! (`id`, `text`), `qrels.tsv` (`query_id<TAB>doc_id<TAB>grade`).
//!
//! Beside it: [`answers`] (answers on a retrieval set with spans), [`corpus`] (answers over a
//! folder, as officials ask), [`feedback`] (officials' verdicts as questions), [`precedents`] (past exchanges for a
//! parliamentary question) and [`train`] (the answer model's offline fit). They use this module's readers and throwaway index; it uses
//! none of them.

pub mod answers;
pub mod corpus;
pub mod feedback;
pub mod precedents;
pub mod train;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::BufRead;
use std::path::Path;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::index::embed::Embedder;
use crate::index::{Generation, GenerationBuilder, IndexDir, State};
use crate::ingest::{ExtractedDocument, Section};
use crate::model::{Access, DocType, Document, Filter, Passage};
use crate::retrieve::search::Mode;
use crate::text::analysis::Analyzers;

/// Cut-off of every metric.
pub const K: usize = 10;

#[derive(Debug, Deserialize)]
pub struct EvalDoc {
    pub id: String,
    #[serde(default)]
    pub title: String,
    pub text: String,
}

#[derive(Debug, Deserialize)]
pub struct EvalQuery {
    pub id: String,
    pub text: String,
}

/// One mode's figures, printed as a JSON line.
#[derive(Debug, Clone, Serialize)]
pub struct EvalResult {
    pub mode: String,
    #[serde(rename = "recall@10")]
    pub recall: f64,
    #[serde(rename = "mrr@10")]
    pub mrr: f64,
    #[serde(rename = "ndcg@10")]
    pub ndcg: f64,
    pub queries: usize,
    pub docs: usize,
    pub passages: usize,
    pub index_seconds: f64,
    pub p50_ms: f64,
    pub p95_ms: f64,
}

/// Where a passage is, as question files name it (`where`) and eval-answers cites it: its 条/項
/// or heading anchor, else `p.N`, else nothing.
pub(crate) fn passage_place(passage: &Passage) -> String {
    passage.anchor.clone().or(passage.page.map(|p| format!("p.{p}"))).unwrap_or_default()
}

pub(crate) fn read_jsonl<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<Vec<T>> {
    let f = std::fs::File::open(path).map_err(|e| Error::io(format!("opening {}", path.display()), e))?;
    let mut out = Vec::new();
    for (i, line) in std::io::BufReader::new(f).lines().enumerate() {
        let line = line.map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
        if line.trim().is_empty() {
            continue;
        }
        out.push(
            serde_json::from_str(&line)
                .map_err(|e| Error::Index(format!("{} line {}: {e}", path.display(), i + 1)))?,
        );
    }
    Ok(out)
}

/// query id → (doc id → grade).
pub fn read_qrels(path: &Path) -> Result<HashMap<String, HashMap<String, u32>>> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
    let mut qrels: HashMap<String, HashMap<String, u32>> = HashMap::new();
    for (i, line) in text.lines().enumerate() {
        let cols: Vec<&str> = line.split('\t').collect();
        if cols.len() < 3 {
            continue;
        }
        let Ok(grade) = cols[2].trim().parse::<u32>() else {
            if i == 0 {
                continue; // header
            }
            return Err(Error::Index(format!("{} line {}: grade is not a number", path.display(), i + 1)));
        };
        if grade > 0 {
            qrels.entry(cols[0].to_string()).or_default().insert(cols[1].to_string(), grade);
        }
    }
    Ok(qrels)
}

/// Recall, reciprocal rank and nDCG at [`K`] of one ranking.
pub fn metrics(ranking: &[String], relevant: &HashMap<String, u32>) -> (f64, f64, f64) {
    let top = &ranking[..ranking.len().min(K)];
    let found = top.iter().filter(|d| relevant.contains_key(*d)).count();
    let recall = if relevant.is_empty() { 0.0 } else { found as f64 / relevant.len() as f64 };
    let rr = top.iter().position(|d| relevant.contains_key(d)).map_or(0.0, |i| 1.0 / (i + 1) as f64);
    let gain = |g: u32| 2f64.powi(g as i32) - 1.0;
    let dcg: f64 = top
        .iter()
        .enumerate()
        .map(|(i, d)| relevant.get(d).map_or(0.0, |g| gain(*g)) / ((i + 2) as f64).log2())
        .sum();
    let mut grades: Vec<u32> = relevant.values().copied().collect();
    grades.sort_unstable_by(|a, b| b.cmp(a));
    let idcg: f64 = grades.iter().take(K).enumerate().map(|(i, g)| gain(*g) / ((i + 2) as f64).log2()).sum();
    let ndcg = if idcg > 0.0 { dcg / idcg } else { 0.0 };
    (recall, rr, ndcg)
}

pub(crate) fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

/// Options of an evaluation run.
pub struct EvalOptions<'a> {
    pub docs: &'a Path,
    pub queries: &'a Path,
    pub qrels: &'a Path,
    pub modes: Vec<Mode>,
    pub passage_chars: usize,
    /// Evaluate at most this many queries (0 = all), taken in file order.
    pub max_queries: usize,
    /// Rank as the service does for this date: documents not in force (abolished by another
    /// document of the set, or not yet effective) go below their successors.
    pub as_of: Option<chrono::NaiveDate>,
    /// Write each query's keyword and vector rankings (passage, document, score) here as JSON
    /// lines, to study fusion functions offline.
    pub dump_runs: Option<&'a Path>,
}

/// Builds the throwaway index and evaluates each mode.
pub fn evaluate(engine: &Engine, opts: &EvalOptions<'_>) -> Result<Vec<EvalResult>> {
    let docs: Vec<EvalDoc> = read_jsonl(opts.docs)?;
    let mut queries: Vec<EvalQuery> = read_jsonl(opts.queries)?;
    let qrels = read_qrels(opts.qrels)?;
    queries.retain(|q| qrels.contains_key(&q.id));
    if opts.max_queries > 0 {
        queries.truncate(opts.max_queries);
    }

    let started = Instant::now();
    let index = index_docs(&engine.analyzers, &engine.embedder, docs.iter(), opts.passage_chars)?;
    let (gen, passages) = (&index.gen, index.passages);
    let index_seconds = started.elapsed().as_secs_f64();

    let retriever = engine.retriever("");
    let filter = Filter::unrestricted();
    if let Some(path) = opts.dump_runs {
        let mut out = String::new();
        for q in &queries {
            let prepared = retriever.prepare(&q.text);
            let (keyword, vector) = retriever.sides(&gen, &prepared, &filter, Mode::Hybrid, engine.config.search.candidates)?;
            let row = serde_json::json!({
                "id": q.id,
                "keyword": keyword.iter().map(|h| (&h.passage_id, &h.doc_id, h.score)).collect::<Vec<_>>(),
                "vector": vector.iter().map(|h| (&h.passage_id, &h.doc_id, h.score)).collect::<Vec<_>>(),
            });
            out.push_str(&row.to_string());
            out.push('\n');
        }
        std::fs::write(path, out).map_err(|e| Error::io(format!("writing {}", path.display()), e))?;
    }
    let mut results = Vec::new();
    for &mode in &opts.modes {
        // Each mode's latency is measured with cold query vectors, not those the previous mode
        // left in the embedder's cache.
        engine.embedder.clear_cache();
        let (mut r, mut rr, mut n) = (0.0, 0.0, 0.0);
        let mut latencies = Vec::with_capacity(queries.len());
        for q in &queries {
            let t = Instant::now();
            let hits = retriever.passages(&gen, &q.text, &filter, mode, engine.config.search.candidates)?;
            let mut seen = HashSet::new();
            let mut ranked: Vec<(String, f32)> =
                hits.into_iter().map(|h| (h.passage.doc_id, h.score)).filter(|(d, _)| seen.insert(d.clone())).collect();
            if let Some(as_of) = opts.as_of {
                let status = |id: &str| gen.documents.get(id).map(|d| gen.relations.status(&gen.documents, d, as_of, &|_| true));
                crate::govern::validity::prefer_in_force(&mut ranked, &status);
            }
            latencies.push(t.elapsed().as_secs_f64() * 1000.0);
            let ranking: Vec<String> = ranked.into_iter().map(|(d, _)| d).take(K).collect();
            let (a, b, c) = metrics(&ranking, &qrels[&q.id]);
            r += a;
            rr += b;
            n += c;
        }
        latencies.sort_by(f64::total_cmp);
        let count = queries.len().max(1) as f64;
        results.push(EvalResult {
            mode: mode.as_str().to_string(),
            recall: round4(r / count),
            mrr: round4(rr / count),
            ndcg: round4(n / count),
            queries: queries.len(),
            docs: docs.len(),
            passages,
            index_seconds: round4(index_seconds),
            p50_ms: round4(percentile(&latencies, 0.5)),
            p95_ms: round4(percentile(&latencies, 0.95)),
        });
    }
    Ok(results)
}

/// One document of an evaluation set through the production pipeline (normalisation,
/// metadata guesses, life-cycle phrases, chunking), under the set's own id. The date and number
/// are guessed as the indexer would, so that `--as-of` can resolve abolitions within the set.
pub fn eval_document(d: &EvalDoc, passage_chars: usize) -> (Document, Vec<crate::model::Passage>) {
    let text = crate::text::normalize::normalize(&d.text);
    let meta = crate::ingest::guess_meta(&text, None);
    let extracted = ExtractedDocument {
        key: String::new(),
        title: crate::text::normalize::normalize(&d.title),
        doc_type: DocType::Other,
        issuer: None,
        issued: meta.issued,
        number: meta.number,
        sections: vec![Section { text, page: None, anchor: None, heading: None }],
        exchange: None,
    };
    crate::index::build_document_with_id(d.id.clone(), &extracted, "", "", &Access::default(), passage_chars)
}

/// A throwaway index. Fields drop in order: the generation (whose vector store flushes on drop)
/// before the temporary directory that holds it.
struct EvalIndex {
    gen: Generation,
    passages: usize,
    _tmp: tempfile::TempDir,
}

/// Indexes evaluation documents with the production pipeline (normalisation, chunking, both
/// analysers, embedding) into a throwaway generation. Returns it with its passage count and the
/// temporary directory that must outlive it.
fn index_docs<'a>(
    analyzers: &Analyzers,
    embedder: &Embedder,
    docs: impl Iterator<Item = &'a EvalDoc>,
    passage_chars: usize,
) -> Result<EvalIndex> {
    let tmp = tempfile::tempdir().map_err(|e| Error::io("creating a temporary directory", e))?;
    let mut built = Vec::new();
    let mut documents = BTreeMap::new();
    for d in docs {
        let (document, passages) = eval_document(d, passage_chars);
        documents.insert(d.id.clone(), document.clone());
        built.push((document, passages));
    }
    // The indexer's own generation builder, in a throwaway index directory with the embedded
    // vector store.
    let mut config = Config::default();
    config.index_dir = Some(tmp.path().join("index"));
    config.vector.backend = crate::config::VectorBackend::Embedded;
    let mut builder = GenerationBuilder::begin(&IndexDir::new(config.index_dir()), &config, analyzers)?;
    let passages = builder.add(embedder, &built)?;
    builder.publish(&State { documents, ..State::default() }, 1)?;
    let gen = Generation::open_current(&config, analyzers)?.ok_or_else(|| Error::Index("the evaluation index was not published".into()))?;
    Ok(EvalIndex { gen, passages, _tmp: tmp })
}

pub(crate) fn round4(x: f64) -> f64 {
    (x * 10_000.0).round() / 10_000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_match_hand_computed_values() {
        let rel: HashMap<String, u32> = [("a".to_string(), 2), ("b".to_string(), 1)].into();
        let ranking: Vec<String> = ["x", "a", "y", "b"].iter().map(|s| s.to_string()).collect();
        let (recall, rr, ndcg) = metrics(&ranking, &rel);
        assert_eq!(recall, 1.0);
        assert_eq!(rr, 0.5);
        let dcg = 3.0 / 3f64.log2() + 1.0 / 5f64.log2();
        let idcg = 3.0 + 1.0 / 3f64.log2();
        assert!((ndcg - dcg / idcg).abs() < 1e-12);
        assert_eq!(metrics(&[], &rel), (0.0, 0.0, 0.0));
    }
}
