//! Asking a question: the one path from a question to a grounded answer.
//!
//! `POST /api/answer` and `shirabe eval-answers --corpus` both call [`Asker::ask`], so what the
//! harness measures is what officials get: hybrid retrieval under the caller's filter, the rule
//! in force on `as_of` preferred, the extractive answerer with the configured threshold, the
//! optional generator with its support check, and the cited passages with their documents and
//! in-force state. The HTTP handler only adds the audit record and the JSON shape.

use chrono::NaiveDate;

use crate::answer::extract::{Answer, Answerer};
use crate::answer::generate::{Generator, GeneratorReport};
use crate::error::Result;
use crate::govern::validity::InForce;
use crate::index::Generation;
use crate::model::{Document, Filter, Passage};
use crate::retrieve::search::{Mode, Retriever};

/// Passages retrieved for an answer (the answerer reads the best of them).
pub const PASSAGES_RETRIEVED: usize = 10;

/// Top passages whose neighbours are read as well.
const NEIGHBOURS_OF: usize = 3;

/// A question's answer with what its citations need.
pub struct Asked {
    pub answer: Answer,
    pub generator: Option<GeneratorReport>,
    /// The cited passages in citation order, each with its document and whether it is in force.
    pub cited: Vec<(Passage, Option<Document>, InForce)>,
    /// The passages the answerer read, in reading order (for evaluation: was the answer there?).
    pub read: Vec<crate::retrieve::search::PassageHit>,
}

/// The passages the answerer reads: the best [`crate::answer::extract::PASSAGES_READ`], then the
/// passages just before and after each of the best [`NEIGHBOURS_OF`] in their document. The
/// retriever often finds the right 条 but ranks a neighbouring 項 (or the next paragraph of a
/// circular) first; reading the neighbours lets the answer quote the 項 that holds it. A neighbour
/// of a law passage is read only when it belongs to the same 条. Neighbours come from the keyword
/// index under the caller's filter, so they are passages the caller may see.
///
/// Returns the passages (the read ones first, then the rest of the retrieved ones) and how many
/// of them the answerer reads.
fn with_neighbours(gen: &Generation, hits: Vec<crate::retrieve::search::PassageHit>, filter: &Filter) -> Result<(Vec<crate::retrieve::search::PassageHit>, usize)> {
    let read = crate::answer::extract::PASSAGES_READ.min(hits.len());
    let mut wanted: Vec<String> = Vec::new();
    for hit in hits.iter().take(NEIGHBOURS_OF) {
        let p = &hit.passage;
        for ordinal in [p.ordinal.checked_sub(1), p.ordinal.checked_add(1)].into_iter().flatten() {
            let id = Passage::make_id(&p.doc_id, ordinal);
            if !hits[..read].iter().any(|h| h.passage.id == id) && !wanted.contains(&id) {
                wanted.push(id);
            }
        }
    }
    let article = |p: &Passage| p.anchor.as_deref().and_then(|a| crate::retrieve::query::article_refs(a).pop()).map(|r| (r.article, r.branch));
    let mut found = gen.keyword.passages(&wanted, filter)?;
    found.sort_by_key(|p| wanted.iter().position(|w| *w == p.id));
    let mut out: Vec<crate::retrieve::search::PassageHit> = hits[..read].to_vec();
    for p in found {
        let Some(origin) = hits.iter().take(NEIGHBOURS_OF).find(|h| h.passage.doc_id == p.doc_id && h.passage.ordinal.abs_diff(p.ordinal) == 1) else { continue };
        if article(&origin.passage).is_some() && article(&origin.passage) != article(&p) {
            continue;
        }
        out.push(crate::retrieve::search::PassageHit { passage: p, score: origin.score, keyword_rank: None, vector_rank: None, snippet: String::new() });
    }
    let reading = out.len().min(crate::answer::extract::MAX_PASSAGES_READ);
    // The rest of the retrieved passages stay behind, for the generator and the citations.
    out.extend(hits.into_iter().skip(read));
    Ok((out, reading))
}

/// Adds to an answer quoting a law what lives in another article of it ([`crate::answer::referral`]):
/// the article a quoted 準用 points to, the definition of a term the question asks about, the 罰則
/// naming a quoted article. The law's passages are
/// read under the caller's filter; each added sentence cites its passage, which joins the hits so
/// that the citation carries its document.
fn add_referrals(gen: &Generation, question: &str, answer: &mut Answer, hits: &mut Vec<crate::retrieve::search::PassageHit>, filter: &Filter) -> Result<()> {
    let is_law = |doc_id: &str| gen.documents.get(doc_id).is_some_and(|d| d.doc_type == crate::model::DocType::Law);
    let mut laws: Vec<String> = Vec::new();
    for s in &answer.sentences {
        if let Some(h) = hits.iter().find(|h| h.passage.id == s.passage_id) {
            if is_law(&h.passage.doc_id) && !laws.contains(&h.passage.doc_id) {
                laws.push(h.passage.doc_id.clone());
            }
        }
    }
    for doc_id in laws {
        let law = gen.keyword.document_passages(&doc_id, filter)?;
        let quoted: Vec<(&str, &Passage)> = answer
            .sentences
            .iter()
            .filter_map(|s| hits.iter().find(|h| h.passage.id == s.passage_id && h.passage.doc_id == doc_id).map(|h| (s.text.as_str(), &h.passage)))
            .collect();
        let referrals = crate::answer::referral::referred(question, &quoted, &law);
        for r in referrals {
            let n = match answer.cited_passages.iter().position(|id| *id == r.passage.id) {
                Some(i) => i + 1,
                None => {
                    answer.cited_passages.push(r.passage.id.clone());
                    answer.cited_passages.len()
                }
            };
            answer.sentences.push(crate::answer::extract::AnswerSentence {
                text: r.text,
                citations: vec![n],
                passage_id: r.passage.id.clone(),
                start: r.start,
                end: r.end,
                score: 0.0,
                generated: false,
                table_header: None,
                item: crate::answer::extract::item_citation(&r.passage.text, r.start),
            });
            if !hits.iter().any(|h| h.passage.id == r.passage.id) {
                hits.push(crate::retrieve::search::PassageHit { passage: r.passage, score: 0.0, keyword_rank: None, vector_rank: None, snippet: String::new() });
            }
        }
    }
    Ok(())
}

/// The parts an answer is made with.
pub struct Asker<'a> {
    pub retriever: Retriever<'a>,
    pub answerer: Answerer<'a>,
    pub generator: Option<&'a Generator>,
}

impl Asker<'_> {
    /// Answers `question` from `gen` for a caller whose rights `filter` carries.
    pub fn ask(&self, gen: &Generation, question: &str, filter: &Filter, as_of: NaiveDate, all_versions: bool) -> Result<Asked> {
        let mut hits = self.retriever.passages(gen, question, filter, Mode::Hybrid, PASSAGES_RETRIEVED)?;
        if !all_versions {
            hits = crate::retrieve::search::passages_in_force(gen, hits, as_of, filter);
        }
        let title_of = |doc_id: &str| gen.documents.get(doc_id).map(|d| d.title.clone());
        let (mut hits, reading) = with_neighbours(gen, hits, filter)?;
        let mut answer = self.answerer.answer_titled(question, &hits[..reading], &title_of)?;
        if answer.answerable {
            add_referrals(gen, question, &mut answer, &mut hits, filter)?;
        }
        let (answer, generator) = match self.generator {
            Some(g) => g.rephrase(question, &hits, &title_of, answer),
            None => (answer, None),
        };
        let cited = answer
            .cited_passages
            .iter()
            .filter_map(|id| hits.iter().find(|h| &h.passage.id == id))
            .map(|h| {
                let doc = gen.documents.get(&h.passage.doc_id).cloned();
                let state = doc.as_ref().map_or(InForce::InForce, |d| gen.status(d, as_of, filter).state);
                (h.passage.clone(), doc, state)
            })
            .collect();
        let read = hits[..reading].to_vec();
        Ok(Asked { answer, generator, cited, read })
    }
}
