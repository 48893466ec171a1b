//! Precedent search measured: `shirabe eval-precedents`.
//!
//! A folder of minutes is indexed with the production pipeline (kept between runs, like the
//! corpus harness), then every dev question is asked in each retrieval mode. Exchanges are
//! judged by the link of their question (`Exchange::url`, or `date house meeting order` where
//! the minutes give none), graded 2 (the same question answered) or 1 (a related answer).
//! Printed: nDCG@10, Recall@10 and MRR@10 per mode; for the outline (hybrid), the share of its
//! sentences quoted from graded exchanges, how often it answers a question that has a precedent
//! and abstains on one that has none, at the configured threshold and over a range of thresholds;
//! and latency.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::model::{Document, Filter};
use crate::precedent::outline::NO_PRECEDENT_BELOW;
use crate::precedent::rank::PrecedentQuery;
use crate::retrieve::search::Mode;

/// One dev question: a new question and its graded precedents.
#[derive(Debug, Clone, Deserialize)]
pub struct PrecedentQuestion {
    pub id: String,
    pub question: String,
    /// Question link (or reference) of a past exchange → grade (2 same question, 1 related).
    #[serde(default)]
    pub relevant: HashMap<String, u32>,
}

/// How an exchange is named in a dev set: its question's link, else its meeting and order.
pub fn exchange_ref(doc: &Document) -> Option<String> {
    let e = doc.exchange.as_ref()?;
    Some(match &e.url {
        Some(url) => url.clone(),
        None => format!("{} {} {} {}", doc.issued.map(|d| d.to_string()).unwrap_or_default(), e.house, e.meeting, e.order),
    })
}

pub struct PrecedentEvalOptions<'a> {
    /// Folder of minutes to index.
    pub minutes: &'a Path,
    pub questions: &'a Path,
    pub index_dir: PathBuf,
    pub worker: Option<&'a Path>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ModeFigures {
    pub mode: String,
    pub queries: usize,
    #[serde(rename = "ndcg@10")]
    pub ndcg: f64,
    #[serde(rename = "recall@10")]
    pub recall: f64,
    #[serde(rename = "mrr@10")]
    pub mrr: f64,
    pub p50_ms: f64,
    pub p95_ms: f64,
}

/// The outline at one threshold.
#[derive(Debug, Clone, Serialize)]
pub struct OutlineAt {
    pub threshold: f32,
    /// Share of questions with a precedent that get an outline.
    pub answered_with_precedent: f64,
    /// Share of questions without one that get 「前例は見つかりませんでした」.
    pub abstained_without_precedent: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct PrecedentReport {
    pub exchanges: usize,
    pub passages: u64,
    pub with_precedent: usize,
    pub without_precedent: usize,
    pub modes: Vec<ModeFigures>,
    /// Share of outline sentences quoted from a graded exchange (questions with a precedent,
    /// outlines given).
    pub outline_sentences_relevant: f64,
    pub outline_sentences: usize,
    /// Share of outline law citations resolved to an indexed article.
    pub laws_cited: usize,
    pub laws_resolved: f64,
    pub at_threshold: OutlineAt,
    pub thresholds: Vec<OutlineAt>,
    pub p95_ms_with_outline: f64,
}

fn round(x: f64) -> f64 {
    super::round4(x)
}

/// Indexes `opts.minutes` and measures every mode and the outline.
pub fn evaluate_precedents(engine: &Engine, opts: &PrecedentEvalOptions<'_>) -> Result<PrecedentReport> {
    let questions: Vec<PrecedentQuestion> = super::read_jsonl(opts.questions)?;
    let folder = std::fs::canonicalize(opts.minutes).map_err(|e| Error::io(format!("minutes folder {}", opts.minutes.display()), e))?;
    let mut config = engine.config.clone();
    config.index_dir = Some(opts.index_dir.clone());
    let sources = [folder];
    let run_opts = crate::index::RunOptions { sources: &sources, dry_run: false, progress: &|_, _, _| {}, worker: opts.worker };
    let report = crate::index::run(&config, &engine.analyzers, Some(&*engine.embedder), &run_opts)?;
    if !report.failed.is_empty() {
        tracing::warn!(failed = report.failed.len(), "some minutes files could not be indexed");
    }
    let gen = crate::index::Generation::open_current(&config, &engine.analyzers)?.ok_or_else(|| Error::Index("the minutes index has no generation".into()))?;
    let exchanges = gen.documents.values().filter(|d| d.exchange.is_some()).count();
    let refs: HashMap<&str, String> = gen.documents.values().filter_map(|d| Some((d.id.as_str(), exchange_ref(d)?))).collect();
    let filter = Filter::unrestricted();
    fn query<'q>(q: &'q PrecedentQuestion, filter: &Filter, mode: Mode) -> PrecedentQuery<'q> {
        PrecedentQuery { question: &q.question, filter: filter.clone(), positions: Vec::new(), mode, limit: super::K }
    }

    let with: Vec<&PrecedentQuestion> = questions.iter().filter(|q| !q.relevant.is_empty()).collect();
    let without: Vec<&PrecedentQuestion> = questions.iter().filter(|q| q.relevant.is_empty()).collect();
    let mut modes = Vec::new();
    for mode in [Mode::Keyword, Mode::Vector, Mode::Hybrid] {
        let retriever = engine.retriever("");
        let (mut sums, mut ms) = ((0.0, 0.0, 0.0), Vec::new());
        for q in &with {
            let t = Instant::now();
            let hits = crate::precedent::rank::rank(&retriever, &gen, &query(q, &filter, mode))?;
            ms.push(t.elapsed().as_secs_f64() * 1000.0);
            let ranking: Vec<String> = hits.iter().filter_map(|h| refs.get(h.document.id.as_str()).cloned()).collect();
            let (r, rr, n) = super::metrics(&ranking, &q.relevant);
            sums = (sums.0 + r, sums.1 + rr, sums.2 + n);
        }
        ms.sort_by(f64::total_cmp);
        let n = with.len().max(1) as f64;
        modes.push(ModeFigures {
            mode: mode.as_str().to_string(),
            queries: with.len(),
            ndcg: round(sums.2 / n),
            recall: round(sums.0 / n),
            mrr: round(sums.1 / n),
            p50_ms: round(super::percentile(&ms, 0.5)),
            p95_ms: round(super::percentile(&ms, 0.95)),
        });
    }

    // The outline, through the engine's own path, at the built-in threshold; the closeness each
    // question reached gives the figures at other thresholds.
    let (mut relevant_sentences, mut sentences, mut laws, mut resolved) = (0usize, 0usize, 0usize, 0usize);
    let mut closeness: Vec<(bool, Option<f32>)> = Vec::new();
    let mut ms = Vec::new();
    for q in questions.iter() {
        let t = Instant::now();
        let found = engine.precedents(&gen, &query(q, &filter, Mode::Hybrid), "")?;
        ms.push(t.elapsed().as_secs_f64() * 1000.0);
        let has = !q.relevant.is_empty();
        closeness.push((has, found.outline.closeness));
        if has && !found.outline.abstained {
            for s in &found.outline.sentences {
                sentences += 1;
                if refs.get(s.doc_id.as_str()).is_some_and(|r| q.relevant.contains_key(r)) {
                    relevant_sentences += 1;
                }
            }
            laws += found.outline.laws.len();
            resolved += found.outline.laws.iter().filter(|l| l.passage_id.is_some()).count();
        }
    }
    ms.sort_by(f64::total_cmp);
    let at = |threshold: f32| {
        let share = |want: bool, f: &dyn Fn(Option<f32>) -> bool| {
            let rows: Vec<_> = closeness.iter().filter(|(has, _)| *has == want).collect();
            if rows.is_empty() { 0.0 } else { round(rows.iter().filter(|(_, c)| f(*c)).count() as f64 / rows.len() as f64) }
        };
        OutlineAt {
            threshold,
            answered_with_precedent: share(true, &|c| c.is_some_and(|c| c >= threshold)),
            abstained_without_precedent: share(false, &|c| c.is_none_or(|c| c < threshold)),
        }
    };
    let thresholds = (0..=16).map(|i| 0.78 + 0.01 * i as f32).map(|t| at((t * 100.0).round() / 100.0)).collect();
    let ratio = |a: usize, b: usize| if b == 0 { 0.0 } else { round(a as f64 / b as f64) };
    Ok(PrecedentReport {
        exchanges,
        passages: gen.num_passages(),
        with_precedent: with.len(),
        without_precedent: without.len(),
        modes,
        outline_sentences_relevant: ratio(relevant_sentences, sentences),
        outline_sentences: sentences,
        laws_cited: laws,
        laws_resolved: ratio(resolved, laws),
        at_threshold: at(NO_PRECEDENT_BELOW),
        thresholds,
        p95_ms_with_outline: round(super::percentile(&ms, 0.95)),
    })
}
