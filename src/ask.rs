//! Asking a question: the one path from a question to a grounded answer.
//!
//! `POST /api/answer` and `shirabe eval-answers --corpus` both call [`Asker::ask`], so what the
//! harness measures is what officials get: hybrid retrieval under the caller's filter, the rule
//! in force on `as_of` preferred, the extractive answerer with the configured threshold, the
//! optional generator with its support check, and the cited passages with their documents and
//! in-force state. The HTTP handler only adds the audit record and the JSON shape.

use chrono::NaiveDate;

use crate::answer::{Answer, Answerer};
use crate::error::Result;
use crate::generate::{Generator, GeneratorReport};
use crate::index::Generation;
use crate::model::{Document, Filter, Passage};
use crate::search::{Mode, Retriever};
use crate::validity::InForce;

/// Passages retrieved for an answer (the answerer reads the best of them).
pub const PASSAGES_RETRIEVED: usize = 10;

/// A question's answer with what its citations need.
pub struct Asked {
    pub answer: Answer,
    pub generator: Option<GeneratorReport>,
    /// The cited passages in citation order, each with its document and whether it is in force.
    pub cited: Vec<(Passage, Option<Document>, InForce)>,
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
            hits = crate::search::passages_in_force(gen, hits, as_of, filter);
        }
        let title_of = |doc_id: &str| gen.documents.get(doc_id).map(|d| d.title.clone());
        let answer = self.answerer.answer_titled(question, &hits, &title_of)?;
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
        Ok(Asked { answer, generator, cited })
    }
}
