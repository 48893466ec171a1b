//! `shirabe eval-answers --docs … | --squad …`: answers on a retrieval set with answer spans.
//!
//! Half of the documents are indexed (by a hash of their id), so that the questions about the
//! other half are unanswerable: the SQuAD 2.0 recipe. Every question is answered once through
//! the answerer with threshold 0, and the figures are computed for each threshold asked for;
//! with `trace`, the candidates of every question come back labelled for training
//! ([`super::train`]).

use std::collections::HashMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::train::{TrainingCandidate, TrainingQuestion};
use super::{index_docs, read_jsonl, read_qrels, round4, EvalDoc};
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::model::Filter;
use crate::retrieve::search::Mode;

/// Figures of the answer evaluation at one threshold.
#[derive(Debug, Clone, Serialize)]
pub struct AnswerEvalPoint {
    pub threshold: f32,
    /// Answerable questions whose answer span appears in the returned sentences.
    pub answerable_span_found: f64,
    /// Answerable questions that got an answer at all.
    pub answerable_answered: f64,
    /// Unanswerable questions (source paragraph removed from the index) that were abstained on.
    pub unanswerable_abstained: f64,
    pub answerable: usize,
    pub unanswerable: usize,
}

#[derive(Debug, Deserialize)]
pub struct EvalQueryWithAnswers {
    pub id: String,
    pub text: String,
    #[serde(default)]
    pub answers: Vec<String>,
}

/// A retrieval set whose questions carry answer spans.
pub struct AnswerSet {
    pub docs: Vec<EvalDoc>,
    pub queries: Vec<EvalQueryWithAnswers>,
    pub qrels: HashMap<String, HashMap<String, u32>>,
}

impl AnswerSet {
    /// Reads docs.jsonl, queries.jsonl (with `answers`) and qrels.tsv.
    pub fn read(docs: &Path, queries: &Path, qrels: &Path) -> Result<AnswerSet> {
        Ok(AnswerSet { docs: read_jsonl(docs)?, queries: read_jsonl(queries)?, qrels: read_qrels(qrels)? })
    }

    /// Reads a SQuAD-format file (`{"data": [{"title", "paragraphs": [{"context", "qas": [{"id",
    /// "question", "answers": [{"text"}]}]}]}]}`, as JGLUE ships JSQuAD): one document per
    /// paragraph, named as the `jsquad` set of `../shared/eval` names them (the question id
    /// without its `q<n>` suffix), each question relevant to its own paragraph.
    pub fn read_squad(path: &Path) -> Result<AnswerSet> {
        #[derive(Deserialize)]
        struct File {
            data: Vec<Article>,
        }
        #[derive(Deserialize)]
        struct Article {
            title: String,
            paragraphs: Vec<Paragraph>,
        }
        #[derive(Deserialize)]
        struct Paragraph {
            context: String,
            qas: Vec<Qa>,
        }
        #[derive(Deserialize)]
        struct Qa {
            id: String,
            question: String,
            #[serde(default)]
            answers: Vec<Span>,
            #[serde(default)]
            is_impossible: bool,
        }
        #[derive(Deserialize)]
        struct Span {
            text: String,
        }
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(format!("SQuAD file {}", path.display()), e))?;
        let file: File = serde_json::from_str(&text).map_err(|e| Error::Index(format!("{}: not a SQuAD-format file: {e}", path.display())))?;
        let mut set = AnswerSet { docs: Vec::new(), queries: Vec::new(), qrels: HashMap::new() };
        for article in file.data {
            for (i, p) in article.paragraphs.into_iter().enumerate() {
                let id = p.qas.first().map_or_else(|| format!("{}-{i}", article.title), |q| q.id.rfind('q').map_or(q.id.as_str(), |k| &q.id[..k]).to_string());
                for q in p.qas.into_iter().filter(|q| !q.is_impossible) {
                    let mut answers: Vec<String> = Vec::new();
                    for a in q.answers {
                        if !answers.contains(&a.text) {
                            answers.push(a.text);
                        }
                    }
                    set.qrels.entry(q.id.clone()).or_default().insert(id.clone(), 1);
                    set.queries.push(EvalQueryWithAnswers { id: q.id, text: q.question, answers });
                }
                set.docs.push(EvalDoc { id, title: article.title.clone(), text: p.context });
            }
        }
        Ok(set)
    }
}

/// Calibrates and measures abstention. The documents are split in two by a hash of their id:
/// only the first half is indexed, so questions about the second half are unanswerable (their
/// source paragraph is removed: the SQuAD 2.0 recipe) while questions about the first half are
/// answerable. Every question is answered once; the figures are then computed for each
/// threshold (a probability) in `thresholds`. With `trace`, every question's candidate sentences
/// are returned for training (`shirabe train-answerer`).
pub fn evaluate_answers(
    engine: &Engine,
    set: &AnswerSet,
    passage_chars: usize,
    max_queries: usize,
    thresholds: &[f32],
    trace: bool,
) -> Result<(Vec<AnswerEvalPoint>, Vec<TrainingQuestion>)> {
    use sha2::{Digest, Sha256};
    let kept = |id: &str| Sha256::digest(id.as_bytes())[0] % 2 == 0;
    let index = index_docs(&engine.analyzers, &engine.embedder, set.docs.iter().filter(|d| kept(&d.id)), passage_chars)?;
    let gen = &index.gen;
    let retriever = engine.retriever("");
    // Answer with threshold 0 and keep each question's probability and sentences; a threshold t
    // abstains exactly when the probability is below t, and otherwise answers with the same
    // sentences (the threshold decides whether to answer, not which sentences).
    let answerer = engine.answerer(0.0, "");
    let title_of = |doc_id: &str| gen.documents.get(doc_id).map(|d| d.title.clone());
    let mut outcomes: Vec<(bool, f32, Vec<String>, Vec<String>)> = Vec::new();
    let mut traces = Vec::new();
    let (mut n_ans, mut n_unans) = (0, 0);
    let limit = if max_queries == 0 { usize::MAX } else { max_queries };
    for q in &set.queries {
        let Some(rel) = set.qrels.get(&q.id) else { continue };
        let answerable = rel.keys().any(|d| kept(d));
        let unanswerable = rel.keys().all(|d| !kept(d));
        if !(answerable || unanswerable) || q.answers.is_empty() {
            continue;
        }
        if answerable && n_ans >= limit / 2 || unanswerable && n_unans >= limit / 2 {
            continue;
        }
        if answerable {
            n_ans += 1;
        } else {
            n_unans += 1;
        }
        let hits = retriever.passages(gen, &q.text, &Filter::unrestricted(), Mode::Hybrid, 10)?;
        let read = &hits[..hits.len().min(crate::answer::extract::PASSAGES_READ)];
        let answer = answerer.answer_titled(&q.text, read, &title_of)?;
        // The answer as one text (a span may run from a 柱書 into its 号), compared as eval-answers
        // --corpus compares it.
        let joined: String = answer.sentences.iter().map(|s| format!("{}{}", s.table_header.as_deref().unwrap_or(""), s.text)).collect();
        let sentences = vec![super::corpus::span_key(&joined)];
        let answers: Vec<String> = q.answers.iter().map(|a| super::corpus::span_key(&crate::text::normalize::normalize(a))).filter(|a| !a.is_empty()).collect();
        if trace {
            let traced = answerer.trace(&q.text, read, &title_of)?;
            let candidates = traced
                .sentences
                .into_iter()
                .map(|sentence| {
                    let key = super::corpus::span_key(&format!("{}{}", sentence.table_header.as_deref().unwrap_or(""), sentence.text));
                    let unit = sentence.unit.as_deref().map(super::corpus::span_key).unwrap_or_default();
                    let unit_has_span = !unit.is_empty() && answers.iter().any(|a| unit.contains(a.as_str()));
                    TrainingCandidate { has_span: answers.iter().any(|a| key.contains(a.as_str())), unit_has_span, sentence }
                })
                .collect();
            // The SQuAD 2.0 recipe: an unanswerable question here is one whose paragraph was left out.
            traces.push(TrainingQuestion { id: q.id.clone(), answerable, made_unanswerable: !answerable, asks_type: traced.asks_type, uncovered: traced.uncovered, question_words: traced.question_words, candidates });
        }
        outcomes.push((answerable, answer.best_score, sentences, answers));
    }
    let mut points = Vec::new();
    for &t in thresholds {
        let (mut found, mut answered, mut abstained) = (0usize, 0usize, 0usize);
        for (answerable, best, sentences, answers) in &outcomes {
            let abstains = *best < t;
            if *answerable {
                if !abstains {
                    answered += 1;
                    if answers.iter().any(|a| sentences.iter().any(|s| s.contains(a.as_str()))) {
                        found += 1;
                    }
                }
            } else if abstains {
                abstained += 1;
            }
        }
        let a = n_ans.max(1) as f64;
        let u = n_unans.max(1) as f64;
        points.push(AnswerEvalPoint {
            threshold: t,
            answerable_span_found: round4(found as f64 / a),
            answerable_answered: round4(answered as f64 / a),
            unanswerable_abstained: round4(abstained as f64 / u),
            answerable: n_ans,
            unanswerable: n_unans,
        });
    }
    Ok((points, traces))
}
