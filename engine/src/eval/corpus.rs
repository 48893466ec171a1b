//! `shirabe eval-answers --corpus DIR --questions Q.jsonl`: grounded answers measured on a folder
//! of real documents, through the production pipeline end to end.
//!
//! The folder is indexed by the indexer's own [`crate::index::run`] (extraction workers, passages,
//! both stores) into an index directory that is kept between runs: a second run finds nothing
//! changed and starts asking at once. Every question then goes through [`crate::answer::ask::Asker`], the
//! path `POST /api/answer` takes, with an unrestricted caller and today's date.
//!
//! Question file: one JSON object a line,
//! `{"id", "question", "answerable", "answers": [span…], "source": {"file", "where"}}`, where
//! `file` is relative to the corpus folder (or an absolute path in it) and `where` is
//! `第N条[第K項]` (laws), `p.N` (PDF pages), a heading, or a speech id. Rows written by
//! `shirabe feedback export` also carry `feedback` (an official's verdict on an earlier answer,
//! see [`super::feedback`]) and may leave `answerable` out; they are counted in their own
//! figures (`helpful_kept`, `rejected_repeated`) and in the answerable/unanswerable ones only
//! once a reviewer states `answerable`.
//!
//! Per question it records whether an answer was given, whether an answer span occurs in the
//! joined answer sentences (both sides NFKC with whitespace removed), whether a cited passage
//! comes from the source file (doc hit) and from the right 条/項 or page (place hit), and whether
//! every sentence is verbatim in the passage it cites.

use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::{Deserialize, Serialize};
use unicode_normalization::UnicodeNormalization;

use super::feedback::{matches_judged, Judged, Verdict};
use super::train::{TrainingCandidate, TrainingQuestion};
use crate::answer::ask::{Asked, Asker};
use crate::answer::extract::{Trace, TracedSentence};
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::model::Filter;
use crate::retrieve::search::Mode;

/// One question of the file.
#[derive(Debug, Clone, Deserialize)]
pub struct CorpusQuestion {
    pub id: String,
    pub question: String,
    /// Left out only by rows exported from feedback that nobody has reviewed yet.
    #[serde(default)]
    pub answerable: Option<bool>,
    #[serde(default)]
    pub answers: Vec<String>,
    #[serde(default)]
    pub source: Option<QuestionSource>,
    /// An official's verdict on an earlier answer to this question.
    #[serde(default)]
    pub feedback: Option<Judged>,
}

/// Where a question's answer is.
#[derive(Debug, Clone, Deserialize)]
pub struct QuestionSource {
    pub file: String,
    #[serde(rename = "where", default)]
    pub place: String,
}

/// What happened to one question (`--out` writes one a line).
#[derive(Debug, Clone, Serialize)]
pub struct QuestionRow {
    pub id: String,
    pub answerable: Option<bool>,
    pub answered: bool,
    pub span_hit: bool,
    pub doc_hit: bool,
    pub place_hit: bool,
    pub verbatim_violations: usize,
    pub best_score: f32,
    /// Whether a span was in the passages the answerer read (answered or not): what retrieval
    /// gave the answerer to work with.
    pub span_read: bool,
    /// Whether a read passage came from the source file.
    pub doc_read: bool,
    pub ms: f64,
    pub sentences: Vec<String>,
    /// `file place` of each cited passage.
    pub cited: Vec<String>,
    /// For a question with feedback: the verdict, and whether this answer kept a helpful answer's
    /// place (helpful) or repeated the rejected answer (wrong, insufficient).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verdict: Option<Verdict>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub matches_judged: Option<bool>,
    /// With `trace`: the question's candidates for training, and (an answerable question with
    /// a source) the same question made unanswerable by leaving its source document out.
    #[serde(skip)]
    pub traces: Vec<TrainingQuestion>,
}

/// The figures of a run, printed as one JSON line.
#[derive(Debug, Clone, Serialize)]
pub struct CorpusAnswerReport {
    pub questions: usize,
    pub answerable: usize,
    pub unanswerable: usize,
    pub threshold: f32,
    /// Shares of the answerable questions.
    pub answered: f64,
    pub span_hit: f64,
    pub doc_hit: f64,
    pub place_hit: f64,
    /// A span, or the source file, among the passages the answerer read (answered or not):
    /// the ceiling that retrieval sets for the answerer.
    pub span_read: f64,
    pub doc_read: f64,
    /// Share of the unanswerable questions abstained on.
    pub abstained_unanswerable: f64,
    /// Answer sentences not found verbatim in the passage they cite (must be 0).
    pub verbatim_violations: usize,
    /// Questions with an official's verdict (`shirabe feedback export`): how many were judged
    /// helpful, and the share of those still answered from a place the official found helpful.
    pub judged_helpful: usize,
    pub helpful_kept: f64,
    /// How many were judged wrong or insufficient, and the share answered again with exactly
    /// the rejected places (lower is better).
    pub judged_rejected: usize,
    pub rejected_repeated: f64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub passages: u64,
}

/// Options of [`evaluate_corpus`].
pub struct CorpusEvalOptions<'a> {
    pub corpus: &'a Path,
    pub questions: &'a Path,
    /// Index directory (kept between runs).
    pub index_dir: PathBuf,
    /// The extraction worker binary (see [`crate::index::RunOptions::worker`]).
    pub worker: Option<&'a Path>,
    /// Trace every candidate sentence with its features into the rows (for training).
    pub trace: bool,
}

/// A question's answer spans as they are compared (empty ones dropped).
fn span_keys(q: &CorpusQuestion) -> Vec<String> {
    q.answers.iter().map(|a| span_key(a)).filter(|a| !a.is_empty()).collect()
}

/// The text a span is compared in: NFKC, no whitespace.
pub fn span_key(s: &str) -> String {
    s.nfkc().filter(|c| !c.is_whitespace()).collect()
}

/// Whether a passage's citation place matches `place` (`第十四条第一項`, `第十四条`, `p.3`, a heading).
fn place_matches(place: &str, page: Option<u32>, anchor: Option<&str>) -> bool {
    let place = place.trim();
    if place.is_empty() {
        return true;
    }
    if let Some(n) = place.strip_prefix("p.").and_then(|n| n.trim().parse::<u32>().ok()) {
        return page == Some(n);
    }
    let Some(anchor) = anchor else { return false };
    let (a, p) = (span_key(anchor), span_key(place));
    // 第十四条 must not match 第十四条の二: what follows the place in the anchor may only be a 項.
    match a.find(&p) {
        Some(i) => !a[i + p.len()..].starts_with('の'),
        None => false,
    }
}

/// Indexes `opts.corpus` (incrementally) and asks every question.
pub fn evaluate_corpus(engine: &Engine, opts: &CorpusEvalOptions<'_>) -> Result<(CorpusAnswerReport, Vec<QuestionRow>)> {
    let questions: Vec<CorpusQuestion> = super::read_jsonl(opts.questions)?;
    if let Some(q) = questions.iter().find(|q| q.answerable.is_none() && q.feedback.is_none()) {
        return Err(Error::Index(format!("{}: question {} does not say whether it is answerable (\"answerable\": true or false); only rows exported from feedback may leave it out", opts.questions.display(), q.id)));
    }
    let corpus = std::fs::canonicalize(opts.corpus).map_err(|e| Error::io(format!("corpus folder {}", opts.corpus.display()), e))?;
    let (analyzers, embedder) = (&engine.analyzers, &*engine.embedder);
    let mut config = engine.config.clone();
    config.index_dir = Some(opts.index_dir.clone());
    let sources = [corpus.clone()];
    let run_opts = crate::index::RunOptions { sources: &sources, dry_run: false, progress: &|_, _, _| {}, worker: opts.worker };
    let report = crate::index::run(&config, analyzers, Some(embedder), &run_opts)?;
    if !report.failed.is_empty() {
        tracing::warn!(failed = report.failed.len(), "some corpus files could not be indexed");
    }
    let gen = crate::index::Generation::open_current(&config, analyzers)?.ok_or_else(|| Error::Index("the corpus index has no generation".into()))?;
    // Extractive answers only: the harness measures retrieval and the answerer, not a generator.
    let asker = Asker { generator: None, ..engine.asker("") };
    let filter = Filter::unrestricted();
    let today = chrono::Local::now().date_naive();
    let mut rows = Vec::new();
    for q in &questions {
        let t = Instant::now();
        let asked = asker.ask(&gen, &q.question, &filter, today, false)?;
        let ms = t.elapsed().as_secs_f64() * 1000.0;
        let mut row = judge(q, &asked, &gen, &corpus, ms);
        if opts.trace {
            row.traces = trace(&asker, &gen, q, &asked, &corpus, &filter)?;
        }
        rows.push(row);
    }
    let answerable: Vec<&QuestionRow> = rows.iter().filter(|r| r.answerable == Some(true)).collect();
    let unanswerable: Vec<&QuestionRow> = rows.iter().filter(|r| r.answerable == Some(false)).collect();
    let helpful: Vec<&QuestionRow> = rows.iter().filter(|r| r.verdict == Some(Verdict::Helpful)).collect();
    let rejected: Vec<&QuestionRow> = rows.iter().filter(|r| matches!(r.verdict, Some(Verdict::Wrong | Verdict::Insufficient))).collect();
    let share = |rows: &[&QuestionRow], f: &dyn Fn(&QuestionRow) -> bool| {
        if rows.is_empty() {
            0.0
        } else {
            super::round4(rows.iter().filter(|r| f(r)).count() as f64 / rows.len() as f64)
        }
    };
    let mut ms: Vec<f64> = rows.iter().map(|r| r.ms).collect();
    ms.sort_by(f64::total_cmp);
    let figures = CorpusAnswerReport {
        questions: rows.len(),
        answerable: answerable.len(),
        unanswerable: unanswerable.len(),
        threshold: engine.answer_threshold(),
        answered: share(&answerable, &|r| r.answered),
        span_hit: share(&answerable, &|r| r.span_hit),
        doc_hit: share(&answerable, &|r| r.doc_hit),
        place_hit: share(&answerable, &|r| r.place_hit),
        span_read: share(&answerable, &|r| r.span_read),
        doc_read: share(&answerable, &|r| r.doc_read),
        abstained_unanswerable: share(&unanswerable, &|r| !r.answered),
        verbatim_violations: rows.iter().map(|r| r.verbatim_violations).sum(),
        judged_helpful: helpful.len(),
        helpful_kept: share(&helpful, &|r| r.matches_judged == Some(true)),
        judged_rejected: rejected.len(),
        rejected_repeated: share(&rejected, &|r| r.matches_judged == Some(true)),
        p50_ms: super::round4(super::percentile(&ms, 0.50)),
        p95_ms: super::round4(super::percentile(&ms, 0.95)),
        passages: gen.num_passages(),
    };
    Ok((figures, rows))
}

/// The training questions of `q`: its candidates as the answerer read them, and, for an
/// answerable question with a source, the question made unanswerable (the SQuAD 2.0 recipe):
/// retrieved again with its source document and every passage holding a span left out, so the
/// answerer reads the next best passages, where the answer is not.
fn trace(asker: &Asker<'_>, gen: &crate::index::Generation, q: &CorpusQuestion, asked: &Asked, corpus: &Path, filter: &Filter) -> Result<Vec<TrainingQuestion>> {
    let title_of = |doc_id: &str| gen.documents.get(doc_id).map(|d| d.title.clone());
    let spans = span_keys(q);
    let holds = |text: &str| {
        let key = span_key(text);
        spans.iter().any(|a| key.contains(a))
    };
    let has_span = |s: &TracedSentence| holds(&format!("{}{}", s.table_header.as_deref().unwrap_or(""), s.text));
    let unit_has_span = |s: &TracedSentence| s.unit.as_deref().is_some_and(holds);
    let training = |id: String, answerable: bool, traced: Trace| TrainingQuestion {
        id,
        answerable,
        made_unanswerable: false,
        asks_type: traced.asks_type,
        uncovered: traced.uncovered,
        question_words: traced.question_words,
        candidates: traced.sentences.into_iter().map(|sentence| TrainingCandidate { has_span: has_span(&sentence), unit_has_span: unit_has_span(&sentence), sentence }).collect(),
    };
    // An exported verdict nobody has reviewed says nothing about the right answer: no label.
    let Some(answerable) = q.answerable else { return Ok(Vec::new()) };
    let mut out = vec![training(q.id.clone(), answerable, asker.answerer.trace(&q.question, &asked.read, &title_of)?)];
    if let (true, Some(src)) = (answerable, &q.source) {
        let from_source = |doc_id: &str| {
            gen.documents.get(doc_id).is_some_and(|d| {
                let rel = Path::new(&d.source_path).strip_prefix(corpus).map(|p| p.to_string_lossy().to_string()).unwrap_or_default();
                rel == src.file || d.source_path == src.file
            })
        };
        let hits = asker.retriever.passages(gen, &q.question, filter, Mode::Hybrid, 3 * crate::answer::ask::PASSAGES_RETRIEVED)?;
        let rest: Vec<_> = hits
            .into_iter()
            .filter(|h| !from_source(&h.passage.doc_id) && !spans.iter().any(|a| span_key(&h.passage.text).contains(a)))
            .take(crate::answer::extract::PASSAGES_READ)
            .collect();
        let made = training(format!("{}-removed", q.id), false, asker.answerer.trace(&q.question, &rest, &title_of)?);
        out.push(TrainingQuestion { made_unanswerable: true, ..made });
    }
    Ok(out)
}

fn judge(q: &CorpusQuestion, asked: &Asked, gen: &crate::index::Generation, corpus: &Path, ms: f64) -> QuestionRow {
    let answered = asked.answer.answerable;
    let sentences: Vec<String> = asked.answer.sentences.iter().map(|s| s.text.clone()).collect();
    let mut joined = String::new();
    for s in &asked.answer.sentences {
        if let Some(h) = &s.table_header {
            joined.push_str(h);
        }
        joined.push_str(&s.text);
    }
    let joined = span_key(&joined);
    let spans = span_keys(q);
    let span_hit = answered && spans.iter().any(|a| joined.contains(a));
    let file_of = |source_path: &str| Path::new(source_path).strip_prefix(corpus).map(|p| p.to_string_lossy().to_string()).unwrap_or_else(|_| source_path.to_string());
    // A source file is named relative to the corpus folder, or (rows exported from feedback) by
    // its absolute path.
    let is_source = |src: &QuestionSource, source_path: &str| file_of(source_path) == src.file || source_path == src.file;
    let mut doc_hit = false;
    let mut place_hit = false;
    let mut cited = Vec::new();
    let mut cited_paths = Vec::new();
    for (passage, doc, _) in &asked.cited {
        let source_path = doc.as_ref().map(|d| d.source_path.as_str()).unwrap_or_default();
        let file = file_of(source_path);
        let place = super::passage_place(passage);
        cited.push(format!("{file} {place}"));
        cited_paths.push(format!("{source_path} {place}"));
        if let Some(src) = &q.source {
            if is_source(src, source_path) {
                doc_hit = true;
                place_hit |= place_matches(&src.place, passage.page, passage.anchor.as_deref());
            }
        }
    }
    let span_read = asked.read.iter().any(|h| {
        let text = span_key(&h.passage.text);
        spans.iter().any(|a| text.contains(a))
    });
    let doc_read = q.source.as_ref().is_some_and(|src| {
        asked.read.iter().any(|h| gen.documents.get(&h.passage.doc_id).is_some_and(|d| is_source(src, &d.source_path)))
    });
    // Every extractive sentence must be a verbatim part of the passage it cites.
    let verbatim_violations = asked
        .answer
        .sentences
        .iter()
        .filter(|s| !s.generated)
        .filter(|s| !asked.cited.iter().any(|(p, _, _)| p.id == s.passage_id && p.text.contains(&s.text)))
        .count();
    QuestionRow {
        id: q.id.clone(),
        answerable: q.answerable,
        answered,
        span_hit,
        doc_hit: answered && doc_hit,
        place_hit: answered && place_hit,
        verbatim_violations,
        best_score: asked.answer.best_score,
        span_read,
        doc_read,
        ms,
        sentences,
        cited,
        verdict: q.feedback.as_ref().map(|f| f.verdict),
        matches_judged: q.feedback.as_ref().map(|f| matches_judged(f, answered, &cited_paths)),
        traces: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn places_match_articles_pages_and_not_neighbours() {
        assert!(place_matches("第十四条", None, Some("第十四条第一項")));
        assert!(place_matches("第十四条第一項", None, Some("第二章 申請に対する処分 第十四条第一項")));
        assert!(!place_matches("第十四条第一項", None, Some("第十四条第二項")));
        assert!(!place_matches("第十四条", None, Some("第十四条の二第一項")));
        assert!(!place_matches("第十四条", None, Some("第四条")));
        assert!(place_matches("p.3", Some(3), None));
        assert!(!place_matches("p.3", Some(4), None));
        assert!(!place_matches("第一条", None, None));
    }

    #[test]
    fn spans_compare_in_nfkc_without_spaces() {
        assert_eq!(span_key("３０日 以内"), "30日以内");
        assert_eq!(span_key("ＡＢＣ　１"), "ABC1");
    }
}
